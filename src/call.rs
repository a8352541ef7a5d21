//! The instruction seam: the thunks, and the one trait every wrapper calls through.
//!
//! Every typed wrapper reaches SEAMCALL, TDCALL or TDG.VP.VMCALL through
//! [`Backend::call_set`] with the register set of its leaf (the leaf table's
//! [`Leaf::reg_set`](crate::leaf::Leaf::reg_set)); raw calls with caller-built registers go
//! through [`Backend::call`], which moves all 13. [`Native`] executes the real instruction
//! through the assembly thunks, the narrow variant of a set where the macro expands one; a
//! test can stand in any other implementation (a recorder, a fault injector) and see exactly
//! the registers a wrapper passes (a backend that does not override `call_set` gets every
//! call as a full `call`).

use crate::regs::{RegSet, Regs};
use crate::status::Status;

pub use crate::version::CallKind;

/// The seam between the typed wrappers and the instruction.
///
/// Implementations execute one TDX call: RAX = `leaf`, the other registers from `regs`,
/// and write every output register back into `regs`.
pub trait Backend {
    /// Executes one call and returns RAX.
    ///
    /// # Safety
    ///
    /// With a backend that reaches a real TDX module, the call does whatever the leaf does:
    /// it may hand pages to the module or take them back, change mappings, let the module
    /// write memory named by physical addresses in `regs`, or enter a vCPU. The caller must
    /// uphold the memory-safety requirements of the leaf it names, as documented on the
    /// typed wrapper of that leaf.
    unsafe fn call(&mut self, kind: CallKind, leaf: u64, regs: &mut Regs) -> Status;

    /// Executes one call that needs only the registers of `set`: the path of the typed
    /// wrappers, which take `set` from the leaf table ([`Leaf::reg_set`](crate::leaf::Leaf::reg_set)).
    ///
    /// The fields of `set` go in and come back as with [`Backend::call`]. The other fields
    /// are not part of the call: the other side sees unspecified values in those registers,
    /// and afterwards each such field holds either its input value (the narrow thunks of
    /// [`Native`] and `Loopback` do not touch it) or what the other side left in the
    /// register (a backend may move more registers than asked: the default method is
    /// [`Backend::call`], so a [`FnBackend`], a recorder or the emulator keep working
    /// unchanged).
    ///
    /// # Safety
    ///
    /// As [`Backend::call`], and: the call must write no register outside `set` (for a leaf,
    /// its ABI outputs lie in `set`, which tests/thunk_fit.rs proves for the leaf table's
    /// sets; for TDG.VP.VMCALL, RCX's GPR_SELECT lies in `set`). A narrow thunk neither
    /// saves nor stores the registers outside its set, so a write there would reach the
    /// caller's registers.
    #[inline]
    unsafe fn call_set(
        &mut self,
        kind: CallKind,
        set: RegSet,
        leaf: u64,
        regs: &mut Regs,
    ) -> Status {
        let _ = set;
        // SAFETY: the full call moves a superset of `set`; the caller upholds its contract.
        unsafe { self.call(kind, leaf, regs) }
    }
}

impl<B: Backend + ?Sized> Backend for &mut B {
    #[inline]
    unsafe fn call(&mut self, kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
        // SAFETY: forwarded unchanged; the caller upholds the contract of `Backend::call`.
        unsafe { (**self).call(kind, leaf, regs) }
    }

    #[inline(always)]
    unsafe fn call_set(
        &mut self,
        kind: CallKind,
        set: RegSet,
        leaf: u64,
        regs: &mut Regs,
    ) -> Status {
        // SAFETY: forwarded unchanged; the caller upholds the contract of `call_set`.
        unsafe { (**self).call_set(kind, set, leaf, regs) }
    }
}

#[cfg(target_arch = "x86_64")]
pub use self::native::*;

#[cfg(target_arch = "x86_64")]
mod native {
    use super::{Backend, CallKind};
    use crate::regs::{RegSet, Regs};
    use crate::status::Status;

    extern "C" {
        fn tdxcall_seamcall(leaf: u64, regs: *mut Regs) -> u64;
        fn tdxcall_seamcall_args(leaf: u64, regs: *mut Regs) -> u64;
        fn tdxcall_seamcall_scrub(leaf: u64, regs: *mut Regs) -> u64;
        fn tdxcall_tdcall(leaf: u64, regs: *mut Regs) -> u64;
        fn tdxcall_tdcall_args(leaf: u64, regs: *mut Regs) -> u64;
        fn tdxcall_tdvmcall(leaf: u64, regs: *mut Regs) -> u64;
        fn tdxcall_tdvmcall_ghci(leaf: u64, regs: *mut Regs) -> u64;
    }

    macro_rules! thunk_fns {
        ($($(#[$doc:meta])* $name:ident => $symbol:ident, Full;)*) => {$(
            $(#[$doc])*
            ///
            /// Loads every field of `regs` into its register and RAX = `leaf`, executes the
            /// instruction, and stores every register back into `regs`, whatever the status.
            /// Faults come back as software codes ([`Status::SEAMCALL_UD`] and friends) only
            /// where the fault is routed to [`crate::fixup::fixup_exception`]: in user space
            /// install the handler first (`signal::install`, or use [`Native`]).
            ///
            /// # Safety
            ///
            /// Executes the leaf as given: see [`Backend::call`]. In user space without the
            /// fault handler installed, a fault kills the process.
            #[inline]
            pub unsafe fn $name(leaf: u64, regs: &mut Regs) -> Status {
                // SAFETY: the thunk follows the System V ABI, reads and writes exactly the
                // 13 fields of `*regs` (a valid, exclusive reference) and preserves every
                // callee-saved register; what the leaf does is the caller's contract.
                Status::from_raw(unsafe { $symbol(leaf, regs) })
            }
        )*};
        ($($(#[$doc:meta])* $name:ident => $symbol:ident, $set:ident;)*) => {$(
            $(#[$doc])*
            ///
            #[doc = concat!(
                "A narrow variant: it loads and stores only the fields of [`RegSet::",
                stringify!($set), "`] (RAX = `leaf`), and leaves every other field, and ",
                "every other register, as it was. Faults as for the full thunks."
            )]
            ///
            /// # Safety
            ///
            /// Executes the leaf as given: see [`Backend::call`]. The call must write no
            /// register outside the set ([`Backend::call_set`]): the thunk does not save
            /// them. In user space without the fault handler installed, a fault kills the
            /// process.
            #[inline]
            pub unsafe fn $name(leaf: u64, regs: &mut Regs) -> Status {
                // SAFETY: the thunk follows the System V ABI for every register it touches,
                // reads and writes only fields of `*regs` (a valid, exclusive reference);
                // the registers it leaves alone are the caller's contract (no write there).
                Status::from_raw(unsafe { $symbol(leaf, regs) })
            }
        )*};
    }

    /// The thunk of `kind` for `set`: the narrow variant where the macro expands one for
    /// that pair, else the full thunk of `kind` (a superset).
    macro_rules! dispatch {
        ($module:ident, $kind:expr, $set:expr, $leaf:expr, $regs:expr) => {
            match ($kind, $set) {
                (CallKind::Seamcall, RegSet::Args) => $module::seamcall_args($leaf, $regs),
                (CallKind::Tdcall, RegSet::Args) => $module::tdcall_args($leaf, $regs),
                (CallKind::Tdvmcall, RegSet::Ghci) => $module::tdvmcall_ghci($leaf, $regs),
                (CallKind::Seamcall, _) => $module::seamcall($leaf, $regs),
                (CallKind::SeamcallScrub, _) => $module::seamcall_scrub($leaf, $regs),
                (CallKind::Tdcall, _) => $module::tdcall($leaf, $regs),
                (CallKind::Tdvmcall, _) => $module::tdvmcall($leaf, $regs),
            }
        };
    }

    /// The raw thunks, without fault-handler set-up.
    pub mod thunk {
        use super::*;
        thunk_fns! {
            /// SEAMCALL through the production thunk.
            seamcall => tdxcall_seamcall, Full;
            /// SEAMCALL through the thunk that clears every scratch register afterwards (for
            /// TDH.VP.ENTER).
            seamcall_scrub => tdxcall_seamcall_scrub, Full;
            /// TDCALL through the production thunk.
            tdcall => tdxcall_tdcall, Full;
            /// TDG.VP.VMCALL (TDCALL, `leaf` 0) through the thunk that clears every scratch
            /// register afterwards.
            tdvmcall => tdxcall_tdvmcall, Full;
        }
        thunk_fns! {
            /// SEAMCALL moving RCX, RDX and R8-R11.
            seamcall_args => tdxcall_seamcall_args, Args;
            /// TDCALL moving RCX, RDX and R8-R11.
            tdcall_args => tdxcall_tdcall_args, Args;
            /// TDG.VP.VMCALL (TDCALL, `leaf` 0) moving RCX and R10-R15, clearing RCX, R10
            /// and R11 afterwards (R12-R15 get the caller's values back). RCX's GPR_SELECT
            /// must name no register outside R10-R15.
            tdvmcall_ghci => tdxcall_tdvmcall_ghci, Ghci;
        }
    }

    /// The loopback thunks: the production macro expanded with the TDX instruction replaced
    /// by a no-op of the same length. Nothing leaves the thunk, so every field comes back
    /// unchanged and the status is the leaf value passed in.
    #[cfg(feature = "loopback")]
    #[cfg_attr(docsrs, doc(cfg(feature = "loopback")))]
    pub mod loopback {
        use super::*;

        extern "C" {
            fn tdxcall_loopback_seamcall(leaf: u64, regs: *mut Regs) -> u64;
            fn tdxcall_loopback_seamcall_args(leaf: u64, regs: *mut Regs) -> u64;
            fn tdxcall_loopback_seamcall_scrub(leaf: u64, regs: *mut Regs) -> u64;
            fn tdxcall_loopback_tdcall(leaf: u64, regs: *mut Regs) -> u64;
            fn tdxcall_loopback_tdcall_args(leaf: u64, regs: *mut Regs) -> u64;
            fn tdxcall_loopback_tdvmcall(leaf: u64, regs: *mut Regs) -> u64;
            fn tdxcall_loopback_tdvmcall_ghci(leaf: u64, regs: *mut Regs) -> u64;
        }

        thunk_fns! {
            /// Loopback expansion of the SEAMCALL thunk.
            seamcall => tdxcall_loopback_seamcall, Full;
            /// Loopback expansion of the scrubbing SEAMCALL thunk.
            seamcall_scrub => tdxcall_loopback_seamcall_scrub, Full;
            /// Loopback expansion of the TDCALL thunk.
            tdcall => tdxcall_loopback_tdcall, Full;
            /// Loopback expansion of the TDG.VP.VMCALL thunk.
            tdvmcall => tdxcall_loopback_tdvmcall, Full;
        }
        thunk_fns! {
            /// Loopback expansion of the narrow SEAMCALL thunk.
            seamcall_args => tdxcall_loopback_seamcall_args, Args;
            /// Loopback expansion of the narrow TDCALL thunk.
            tdcall_args => tdxcall_loopback_tdcall_args, Args;
            /// Loopback expansion of the narrow TDG.VP.VMCALL thunk.
            tdvmcall_ghci => tdxcall_loopback_tdvmcall_ghci, Ghci;
        }

        /// A backend over the loopback thunks: every call returns the leaf as its status and
        /// leaves the registers as they were.
        #[derive(Clone, Copy, Debug, Default)]
        pub struct Loopback;

        impl Backend for Loopback {
            #[inline]
            unsafe fn call(&mut self, kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
                // SAFETY: the loopback thunks execute no TDX instruction; they only move
                // registers through `regs`.
                unsafe {
                    match kind {
                        CallKind::Seamcall => seamcall(leaf, regs),
                        CallKind::SeamcallScrub => seamcall_scrub(leaf, regs),
                        CallKind::Tdcall => tdcall(leaf, regs),
                        CallKind::Tdvmcall => tdvmcall(leaf, regs),
                    }
                }
            }

            #[inline(always)]
            unsafe fn call_set(
                &mut self,
                kind: CallKind,
                set: RegSet,
                leaf: u64,
                regs: &mut Regs,
            ) -> Status {
                // SAFETY: the loopback thunks execute no TDX instruction; they only move
                // registers through `regs`.
                unsafe { dispatch!(loopback, kind, set, leaf, regs) }
            }
        }
    }

    /// The backend that executes the real instructions.
    ///
    /// In user space (feature `std`), [`Native::new`] makes the crate's SIGILL/SIGSEGV
    /// handler the current disposition, so that a fault on a machine without TDX comes back
    /// as a software status instead of killing the process. In ring 0 the kernel's #UD and #GP
    /// handlers must call [`crate::fixup::fixup_exception`].
    #[derive(Clone, Copy, Debug)]
    pub struct Native {
        _private: (),
    }

    impl Native {
        /// The native backend. With `std` on Linux this installs the fault handler first
        /// (thread-safe; see `signal::install`): if the program installed a SIGILL or
        /// SIGSEGV handler of its own over the crate's, the crate's goes back in front and
        /// chains to it, so a TDX instruction's fault never reaches a handler that would
        /// return to it and fault again forever.
        ///
        /// # Panics
        ///
        /// With `std` on Linux, if the crate's handler has been replaced and put back more
        /// than `signal::MAX_GENERATIONS` times.
        #[inline]
        pub fn new() -> Native {
            #[cfg(all(feature = "std", target_os = "linux"))]
            crate::signal::install();
            Native { _private: () }
        }
    }

    impl Default for Native {
        fn default() -> Native {
            Native::new()
        }
    }

    impl Backend for Native {
        #[inline]
        unsafe fn call(&mut self, kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
            // SAFETY: the caller upholds the contract of `Backend::call`, which is the
            // contract of the thunk.
            unsafe {
                match kind {
                    CallKind::Seamcall => thunk::seamcall(leaf, regs),
                    CallKind::SeamcallScrub => thunk::seamcall_scrub(leaf, regs),
                    CallKind::Tdcall => thunk::tdcall(leaf, regs),
                    CallKind::Tdvmcall => thunk::tdvmcall(leaf, regs),
                }
            }
        }

        #[inline(always)]
        unsafe fn call_set(
            &mut self,
            kind: CallKind,
            set: RegSet,
            leaf: u64,
            regs: &mut Regs,
        ) -> Status {
            // SAFETY: the caller upholds the contract of `Backend::call_set`, which is the
            // contract of the narrow thunk (and the full one covers any set).
            unsafe { dispatch!(thunk, kind, set, leaf, regs) }
        }
    }
}

/// A backend made from a closure: the closure receives the call kind, RAX and the register
/// struct, edits the struct as the other side would, and returns RAX.
///
/// This is the test seam for wrappers: a closure can record what a wrapper passes and
/// answer with any status and output registers, without any instruction executing.
#[derive(Clone, Copy, Debug, Default)]
pub struct FnBackend<F>(pub F);

impl<F: FnMut(CallKind, u64, &mut Regs) -> Status> Backend for FnBackend<F> {
    #[inline]
    unsafe fn call(&mut self, kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
        (self.0)(kind, leaf, regs)
    }
}
