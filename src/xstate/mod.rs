//! Vector-state preservation around the live-migration SEAMCALLs, and the ring-0 guard that
//! restores host XCR0, IA32_XSS and PKRU after TDH.VP.ENTER.
//!
//! # Why
//!
//! The TDX module does not save the host's extended state (tdx-module-abi.md §7):
//!
//! - The 12 migration leaves that run AES-GCM
//!   ([`Leaf::clobbers_vector_state`](crate::leaf::Leaf::clobbers_vector_state)) zero XMM0–15 before
//!   they return, and the ABI allows them to reset AVX, AVX2 and AVX-512 state to INIT.
//!   A kernel that issues one while a user task's vector registers are live (it has not
//!   saved them, because kernel code does not touch vector registers) would corrupt that
//!   task. [`call_preserving`] brackets the call with an XSAVE and an XRSTOR of every
//!   vector component XCR0 enables: SSE (XMM0–15 and MXCSR), AVX (the upper YMM halves),
//!   and the AVX-512 opmask, ZMM_Hi256 and Hi16_ZMM components.
//! - TDH.VP.ENTER resets every component in the TD's XFAM and returns with XCR0 and
//!   IA32_XSS at the TD's values (PKRU at INIT when XFAM has it). A kernel's vCPU loop
//!   handles the vector registers themselves (the task's state is saved before entry);
//!   [`HostXstateGuard`] puts XCR0, IA32_XSS and PKRU back, writing only what changed.
//!
//! Every other leaf leaves host vector state and XCR0/XSS alone and goes straight to
//! [`Backend::call`]: nothing here is on its path.
//!
//! # The preserved call
//!
//! ```text
//! call_preserving(backend, kind, leaf, regs, preserve)
//!   Preserve::skip()          -> backend.call(...)            (the caller saved the state)
//!   Preserve::on_stack()?     -> an uninitialised area on this stack, state detected once
//!   Preserve::in_area(s, a)?  -> the caller's 64-byte-aligned area `a`, sized for `s`
//!
//!   previous save through this area found state in use (XSTATE_BV in its header)?
//!     no:  XGETBV(1) & mask == 0 ?                (components at INIT)
//!            yes: backend.call(...)               (nothing to save: the module can only
//!                                                  reset to INIT)
//!   zero the XSAVE header; XSAVEC (or XSAVE) the mask
//!   backend.call(...)                             (success, error or fault status)
//!   XRSTOR the mask, unless XSTATE_BV & mask == 0 (also on unwind, from a drop guard)
//! ```
//!
//! The hint from the previous save spares the XGETBV (about as costly as the rest of the
//! bracket) while state stays dirty; see BENCHMARKS.md.
//!
//! The mask is XCR0 & [`Components::VECTOR`]: a component absent from XCR0 (AVX-512 on
//! a CPU without it) is neither saved nor restored, and [`VectorState::restrict`] narrows
//! it further. See [`VectorState`] for the choice of instruction and [`XsaveArea`] /
//! [`XsaveBuffer`] for the areas.
//!
//! # What is and is not preserved
//!
//! The bracket protects state the compiler does not know about: a user task's registers
//! under a kernel, or values an assembly block keeps across the call. Rust code between
//! the caller and the save (argument set-up) and inside the bracket (the backend) follows
//! the System V ABI, in which every vector register is caller-saved, and may use XMM
//! registers in user space; kernel code is built without them. On the clean path the
//! backend's own register use is not undone, which no compiled caller can observe.

mod area;
mod host;
#[cfg(target_arch = "x86_64")]
mod insn;
mod state;

pub use self::area::{XsaveArea, XsaveBuffer, STACK_AREA_BYTES};
#[cfg(target_arch = "x86_64")]
pub use self::host::Ring0HostXstate;
pub use self::host::{
    call_restoring_host_xstate, HostXstate, HostXstateAccess, HostXstateGuard, Rewritten,
};
pub use self::state::{SaveInstruction, VectorState};

use crate::call::{Backend, CallKind};
use crate::error::{Error, InvalidArgument, InvalidReason, Result};
use crate::regs::Regs;
use crate::status::Status;
use core::marker::PhantomData;

bitflags::bitflags! {
    /// XSAVE state components, by their bit in XCR0 / XSTATE_BV.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Components: u64 {
        /// Component 0: x87 FPU and MMX. Not vector state; never preserved here.
        const X87 = 1 << 0;
        /// Component 1: XMM0–15 and MXCSR.
        const SSE = 1 << 1;
        /// Component 2: bits 255:128 of YMM0–15.
        const AVX = 1 << 2;
        /// Component 5: the AVX-512 opmask registers k0–k7.
        const OPMASK = 1 << 5;
        /// Component 6: bits 511:256 of ZMM0–15.
        const ZMM_HI256 = 1 << 6;
        /// Component 7: ZMM16–31.
        const HI16_ZMM = 1 << 7;
        /// The three AVX-512 components.
        const AVX512 = Self::OPMASK.bits() | Self::ZMM_HI256.bits() | Self::HI16_ZMM.bits();
        /// Everything the migration leaves may reset: SSE, AVX and AVX-512 (0xE6).
        const VECTOR = Self::SSE.bits() | Self::AVX.bits() | Self::AVX512.bits();
    }
}

/// How [`call_preserving`] treats vector state for one call: the per-call choice a
/// migration wrapper takes from its caller.
///
/// Two words, passed in registers and copied with integer moves (nothing on the way to the
/// save may touch a vector register): the [`VectorState`] and the area's address (null for
/// [`on_stack`](Preserve::on_stack) and [`skip`](Preserve::skip)).
#[derive(Debug)]
#[must_use]
pub struct Preserve<'a> {
    state: VectorState,
    area: *mut u8,
    _area: PhantomData<&'a mut XsaveBuffer>,
}

impl Preserve<'static> {
    /// No preservation: for a kernel that has already saved the task's vector state itself
    /// (as around any other kernel use of vector registers). The call costs nothing extra.
    #[inline]
    pub const fn skip() -> Preserve<'static> {
        Preserve {
            state: VectorState::NONE,
            area: core::ptr::null_mut(),
            _area: PhantomData,
        }
    }

    /// Preserve [`VectorState::current`] in an uninitialised [`STACK_AREA_BYTES`]-byte area
    /// on the stack of [`call_preserving`]: no allocation, nothing to keep.
    ///
    /// # Errors
    ///
    /// `InvalidArgument { argument: "xsave_area", reason: OutOfRange }` if this CPU lays the
    /// components out in more than [`STACK_AREA_BYTES`] bytes (no known CPU does); use
    /// [`Preserve::in_area`] with a larger area then.
    #[inline]
    pub fn on_stack() -> Result<Preserve<'static>> {
        let state = VectorState::current();
        check_size(state, STACK_AREA_BYTES)?;
        Ok(Preserve {
            state,
            area: core::ptr::null_mut(),
            _area: PhantomData,
        })
    }
}

impl<'a> Preserve<'a> {
    /// Preserve the components of `state` in the caller's `area`.
    ///
    /// `area` is borrowed for the call only; its contents afterwards mean nothing to the
    /// caller. It is 64-byte aligned by construction ([`XsaveBuffer`]).
    ///
    /// # Errors
    ///
    /// `InvalidArgument { argument: "xsave_area", reason: OutOfRange }` when
    /// `area.len() < state.area_bytes()`.
    #[inline]
    pub fn in_area(state: VectorState, area: &'a mut XsaveBuffer) -> Result<Preserve<'a>> {
        check_size(state, area.len())?;
        Ok(Preserve {
            state,
            area: area.as_mut_ptr(),
            _area: PhantomData,
        })
    }

    /// The vector state this call saves (empty for [`Preserve::skip`]).
    #[inline]
    pub const fn state(&self) -> VectorState {
        self.state
    }

    /// The same preservation for one more call, borrowing this one's area: for wrappers
    /// that issue a leaf more than once (retries).
    #[inline]
    pub fn reborrow(&mut self) -> Preserve<'_> {
        Preserve {
            state: self.state,
            area: self.area,
            _area: PhantomData,
        }
    }
}

fn check_size(state: VectorState, len: usize) -> Result<()> {
    let needed = state.area_bytes();
    if len < needed {
        return Err(Error::InvalidArgument(InvalidArgument {
            argument: "xsave_area",
            reason: InvalidReason::OutOfRange {
                value: len as u64,
                min: needed as u64,
                max: u32::MAX as u64,
            },
        }));
    }
    Ok(())
}

/// Executes one call through `backend` with the caller's vector state preserved as
/// `preserve` says: the entry point of the wrappers of the migration leaves that run AES-GCM
/// ([`Leaf::clobbers_vector_state`](crate::leaf::Leaf::clobbers_vector_state)).
///
/// The state is saved right before [`Backend::call`] and restored right after it, whatever
/// the status (success, error, or a fault turned into a software status) and also if the
/// backend unwinds. When every preserved component is at INIT (XGETBV with ECX=1, where the
/// CPU has it; SSE at INIT includes MXCSR = 0x1F80), nothing is saved or restored: the module
/// can only reset components to INIT.
///
/// # Safety
///
/// That of [`Backend::call`] for `leaf`.
#[inline]
pub unsafe fn call_preserving<B: Backend + ?Sized>(
    backend: &mut B,
    kind: CallKind,
    leaf: u64,
    regs: &mut Regs,
    preserve: Preserve<'_>,
) -> Status {
    let state = preserve.state;
    if state.is_empty() {
        // SAFETY: the caller upholds the contract of `Backend::call`.
        return unsafe { backend.call(kind, leaf, regs) };
    }
    #[cfg(target_arch = "x86_64")]
    {
        if preserve.area.is_null() {
            // Left uninitialised: nothing is written here (in particular no copy, which a
            // compiler may do with vector registers before the save).
            let mut area = core::mem::MaybeUninit::<XsaveArea<STACK_AREA_BYTES>>::uninit();
            let area = area.as_mut_ptr().cast::<u8>();
            // SAFETY: `on_stack` checked that `state` fits in STACK_AREA_BYTES; the area is
            // 64-byte aligned by its type and exclusively ours for the call.
            unsafe { insn::bracket(backend, kind, leaf, regs, state, area) }
        } else {
            // SAFETY: `in_area` checked the size; the buffer is 64-byte aligned by type and
            // mutably borrowed for `'a`, which outlives this call.
            unsafe { insn::bracket(backend, kind, leaf, regs, state, preserve.area) }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // No vector state is ever detected off x86-64, so `state` is empty above; this path
        // exists only so the function has a body on every target.
        let _ = preserve.area;
        // SAFETY: the caller upholds the contract of `Backend::call`.
        unsafe { backend.call(kind, leaf, regs) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_mask_is_0xe6() {
        assert_eq!(Components::VECTOR.bits(), 0xE6);
        assert!(!Components::VECTOR.contains(Components::X87));
    }

    #[test]
    fn skip_carries_no_state() {
        let skip = Preserve::skip();
        assert!(skip.state().is_empty());
        assert!(skip.area.is_null());
    }
}
