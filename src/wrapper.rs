//! What [`Host`](crate::host::Host) and [`Guest`](crate::guest::Guest) have in common,
//! written once: a struct that owns the [`Backend`](crate::call::Backend) every call goes
//! through, its constructors and accessors, and the RAX of a leaf version from the leaf
//! table.

/// Declares a wrapper front (`Host` or `Guest`) for the leaves of one [`Side`]:
///
/// - the struct, generic over the backend (defaulting to
///   [`Native`](crate::call::Native) on x86_64, where the instruction exists);
/// - `native()` (x86_64), `new`, `backend_mut` and `into_backend`;
/// - the private `rax(leaf, version)`: RAX from the leaf table, checked in debug builds to
///   be a leaf of this side with that version (wrappers only pass valid ones).
///
/// [`Side`]: crate::leaf::Side
macro_rules! wrapper_front {
    (
        $(#[$doc:meta])*
        pub struct $Name:ident for $side:ident, $instruction:literal;
    ) => {
        $(#[$doc])*
        ///
        /// `B` is the seam every call goes through: [`Native`](crate::call::Native) (the
        /// default) for the real instruction, a [`FnBackend`](crate::call::FnBackend) or any
        /// other [`Backend`](crate::call::Backend) in tests.
        #[cfg(target_arch = "x86_64")]
        #[derive(Debug)]
        pub struct $Name<B: $crate::call::Backend = $crate::call::Native> {
            backend: B,
            gate: $crate::wrapper::ModuleGate,
        }

        $(#[$doc])*
        ///
        /// `B` is the seam every call goes through (on this architecture there is no native
        /// backend; use a [`FnBackend`](crate::call::FnBackend) or another
        /// [`Backend`](crate::call::Backend)).
        #[cfg(not(target_arch = "x86_64"))]
        #[derive(Debug)]
        pub struct $Name<B: $crate::call::Backend> {
            backend: B,
            gate: $crate::wrapper::ModuleGate,
        }

        #[cfg(target_arch = "x86_64")]
        impl $Name<$crate::call::Native> {
            #[doc = concat!(
                "Over the real ", $instruction, " instruction (under `std` this installs the ",
                "fault handler, see [`Native::new`](crate::call::Native::new))."
            )]
            #[inline]
            pub fn native() -> $Name<$crate::call::Native> {
                $Name::new($crate::call::Native::new())
            }
        }

        impl<B: $crate::call::Backend> $Name<B> {
            /// Over `backend`.
            #[inline]
            pub const fn new(backend: B) -> $Name<B> {
                $Name {
                    backend,
                    gate: $crate::wrapper::ModuleGate::NONE,
                }
            }

            /// Tells this front which TDX module it talks to. From then on every leaf, and
            /// every leaf version, that module does not have by the leaf table
            /// ([`Leaf::check_module`](crate::leaf::Leaf::check_module)) is refused before
            /// any instruction runs, with
            /// [`InvalidReason::NotInModule`](crate::error::InvalidReason::NotInModule). With
            /// `features0`, leaves that need a TDX_FEATURES0 bit the module does not report
            /// are refused too. A front that was told nothing calls every leaf, as before.
            #[inline]
            pub fn set_module(
                &mut self,
                version: $crate::version::ModuleVersion,
                features0: Option<$crate::abi::TdxFeatures0>,
            ) {
                self.gate = $crate::wrapper::ModuleGate::new(
                    $crate::leaf::KnownModule { version, features0 },
                );
            }

            /// Forgets the module: every leaf is called again.
            #[inline]
            pub fn forget_module(&mut self) {
                self.gate = $crate::wrapper::ModuleGate::NONE;
            }

            /// The module this front was told about, if any.
            #[inline]
            pub fn module(&self) -> Option<$crate::leaf::KnownModule> {
                self.gate.known
            }

            /// The refusal status for `version` of `leaf` when the known module does not
            /// have it; `None` when it does, or when no module is known.
            ///
            /// Inline, with the leaf a constant: nothing at all for a leaf version every
            /// module has ([`Leaf::in_every_module`](crate::leaf::Leaf::in_every_module):
            /// the leaves of module 1.0 such as TDG.VM.RD and TDH.MEM.PAGE.ADD fold the check
            /// away); otherwise one bit test in the table
            /// [`ModuleGate`](crate::wrapper::ModuleGate) computed when the module was set
            /// (all ones when no module is known), a branch not taken on the common path. Only a leaf the bit refuses calls out of line
            /// ([`refusal_by`](crate::wrapper::refusal_by)) to build its status.
            #[inline(always)]
            fn refusal(&self, leaf: $crate::leaf::Leaf, version: u8) -> Option<$crate::status::Status> {
                if leaf.in_every_module(version) || self.gate.has(leaf, version) {
                    None
                } else {
                    $crate::wrapper::refusal_by(self.gate.known.as_ref(), leaf, version)
                }
            }

            /// The backend.
            #[inline]
            pub fn backend_mut(&mut self) -> &mut B {
                &mut self.backend
            }

            /// Gives the backend back.
            #[inline]
            pub fn into_backend(self) -> B {
                self.backend
            }

            /// RAX for `version` of `leaf`, from the leaf table. Wrappers pass only leaves of
            /// this side and versions the leaf has; debug builds check both.
            #[inline]
            fn rax(leaf: $crate::leaf::Leaf, version: u8) -> u64 {
                debug_assert_eq!(leaf.side(), $crate::leaf::Side::$side);
                let rax = leaf.rax_versioned(version);
                debug_assert!(rax.is_some(), "{leaf} has no version {version}");
                rax.unwrap_or(leaf.rax())
            }
        }
    };
}

pub(crate) use wrapper_front;

/// The known module, if any, and, computed once from the leaf table when it is set, the leaf
/// versions it has: the refusal check of every call is one bit test instead of a walk of the
/// module sets (measured at +14.6 ns per TDH.SYS.RD and +20.3 ns per TDG.VM.RD, issue 17).
/// With no module every bit is set, so a front that was told nothing runs the same single
/// test (until 2026-12-04 it first compared an `Option` with `None`: a second load and
/// branch on every call of a long-lived front).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ModuleGate {
    /// What the front was told.
    pub(crate) known: Option<crate::leaf::KnownModule>,
    /// Word `version`, bit `leaf as u32`: [`Leaf::check_module`](crate::leaf::Leaf::check_module)
    /// accepts that version of that leaf (every bit when no module is known). A version
    /// with no word is looked up each time.
    has: [u128; crate::leaf::LEAF_VERSIONS],
}

impl ModuleGate {
    /// No module known: every leaf version passes.
    pub(crate) const NONE: ModuleGate = ModuleGate {
        known: None,
        has: [u128::MAX; crate::leaf::LEAF_VERSIONS],
    };

    /// The gate for `known`: every leaf of the table at every leaf version, looked up once.
    pub(crate) fn new(known: crate::leaf::KnownModule) -> ModuleGate {
        let mut has = [0u128; crate::leaf::LEAF_VERSIONS];
        for &leaf in crate::leaf::Leaf::ALL {
            for (version, word) in (0u8..).zip(has.iter_mut()) {
                if leaf
                    .check_module(version, known.version, known.features0)
                    .is_ok()
                {
                    *word |= 1 << (leaf as u32);
                }
            }
        }
        ModuleGate {
            known: Some(known),
            has,
        }
    }

    /// Whether the module has `version` of `leaf` (`false` also for a version the gate has
    /// no word for: the caller then asks [`refusal_by`], which decides).
    #[inline(always)]
    pub(crate) fn has(&self, leaf: crate::leaf::Leaf, version: u8) -> bool {
        match self.has.get(usize::from(version)) {
            Some(word) => word >> (leaf as u32) & 1 != 0,
            None => false,
        }
    }
}

/// The refusal status for `version` of `leaf` from `known`, by the leaf table
/// ([`Leaf::check_module`](crate::leaf::Leaf::check_module)); `None` when the module has it
/// or no module is known.
///
/// Out of line, cold and not generic: every front and every wrapper shares this one copy,
/// and only a leaf version the gate does not list reaches it.
#[cold]
#[inline(never)]
pub(crate) fn refusal_by(
    known: Option<&crate::leaf::KnownModule>,
    leaf: crate::leaf::Leaf,
    version: u8,
) -> Option<crate::status::Status> {
    let known = known?;
    leaf.check_module(version, known.version, known.features0)
        .err()
        .map(crate::status::Status::not_in_module)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::TdxFeatures0;
    use crate::leaf::{KnownModule, Leaf};
    use crate::version::ModuleVersion;

    /// The gate's bit answers as the leaf table does, for every read module (and versions
    /// between them), with and without TDX_FEATURES0, every leaf at versions 0 to 2.
    #[test]
    fn gate_agrees_with_the_leaf_table() {
        let between = [ModuleVersion::new(1, 5, 7), ModuleVersion::new(3, 0, 0)];
        for version in ModuleVersion::READ.into_iter().chain(between) {
            for features0 in [None, Some(TdxFeatures0::empty()), Some(TdxFeatures0::all())] {
                let known = KnownModule { version, features0 };
                let gate = ModuleGate::new(known);
                for &leaf in Leaf::ALL {
                    for leaf_version in 0..=2 {
                        let table = leaf.check_module(leaf_version, version, features0);
                        // Refused by the gate: `refusal_by` decides, as the table does.
                        let decided = gate.has(leaf, leaf_version)
                            || refusal_by(Some(&known), leaf, leaf_version).is_none();
                        assert_eq!(
                            decided,
                            table.is_ok(),
                            "{leaf} v{leaf_version} on {version}"
                        );
                        if table.is_ok() && leaf_version < 2 {
                            assert!(gate.has(leaf, leaf_version), "{leaf} v{leaf_version}");
                        }
                        if table.is_err() {
                            assert!(!gate.has(leaf, leaf_version), "{leaf} v{leaf_version}");
                        }
                    }
                }
            }
        }
    }

    /// A leaf version the wrappers skip the check for is one that every module accepts:
    /// every read module (and versions between them), with TDX_FEATURES0 unknown, empty or
    /// full, and the gate of every such module has its bit.
    #[test]
    fn leaves_in_every_module_are_never_refused() {
        let between = [
            ModuleVersion::new(0, 9, 0),
            ModuleVersion::new(1, 5, 7),
            ModuleVersion::new(3, 0, 0),
        ];
        let mut skipped = 0;
        for &leaf in Leaf::ALL {
            for leaf_version in 0..=2 {
                if !leaf.in_every_module(leaf_version) {
                    continue;
                }
                skipped += 1;
                for version in ModuleVersion::READ.into_iter().chain(between) {
                    for features0 in [None, Some(TdxFeatures0::empty()), Some(TdxFeatures0::all())]
                    {
                        assert_eq!(
                            leaf.check_module(leaf_version, version, features0),
                            Ok(()),
                            "{leaf} v{leaf_version} on {version}"
                        );
                        let gate = ModuleGate::new(KnownModule { version, features0 });
                        assert!(gate.has(leaf, leaf_version), "{leaf} v{leaf_version}");
                    }
                }
            }
        }
        // The leaves of 1.0 are among them; a leaf or leaf version new in 1.5 is not.
        assert!(Leaf::TdgVmRd.in_every_module(0) && Leaf::TdhMemPageAdd.in_every_module(0));
        assert!(!Leaf::TdhSysRd.in_every_module(0) && !Leaf::TdgVmRd.in_every_module(1));
        assert!(skipped > 40, "{skipped}");
    }

    /// A front told nothing passes every leaf version of the table through the one bit
    /// test, and the out-of-line check refuses nothing either.
    #[test]
    fn no_module_passes_every_leaf() {
        let gate = ModuleGate::NONE;
        for &leaf in Leaf::ALL {
            for version in 0..=leaf.max_version() {
                assert!(gate.has(leaf, version), "{leaf} v{version}");
            }
            assert_eq!(refusal_by(None, leaf, 2), None, "{leaf}");
        }
    }
}
