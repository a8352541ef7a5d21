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
            module: Option<$crate::leaf::KnownModule>,
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
            module: Option<$crate::leaf::KnownModule>,
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
                    module: None,
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
                self.module = Some($crate::leaf::KnownModule { version, features0 });
            }

            /// Forgets the module: every leaf is called again.
            #[inline]
            pub fn forget_module(&mut self) {
                self.module = None;
            }

            /// The module this front was told about, if any.
            #[inline]
            pub fn module(&self) -> Option<$crate::leaf::KnownModule> {
                self.module
            }

            /// The refusal status for `version` of `leaf` when the known module does not
            /// have it; `None` when it does, or when no module is known.
            #[inline]
            fn refusal(&self, leaf: $crate::leaf::Leaf, version: u8) -> Option<$crate::status::Status> {
                let known = self.module?;
                leaf.check_module(version, known.version, known.features0)
                    .err()
                    .map($crate::status::Status::not_in_module)
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
