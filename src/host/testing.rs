//! Test seam for the host wrappers: a scripted backend that checks every call's kind, RAX
//! and full register file, then answers with the scripted outputs and status.

use super::Host;
use crate::call::{CallKind, FnBackend};
use crate::regs::Regs;
use crate::status::Status;
use core::cell::Cell;

/// One expected call and the module's answer.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub kind: CallKind,
    pub rax: u64,
    pub input: Regs,
    pub output: Regs,
    pub status: u64,
}

/// A SEAMCALL (non-scrubbing) that expects `input` and answers `output`, `status`.
pub const fn seamcall(rax: u64, input: Regs, output: Regs, status: u64) -> Call {
    Call {
        kind: CallKind::Seamcall,
        rax,
        input,
        output,
        status,
    }
}

/// Distinct values in every register, so a wrapper that reads the wrong register for an
/// output gets a value the test does not expect.
pub const JUNK: Regs = Regs {
    rcx: 0x0C0C_0000_0000_0001,
    rdx: 0x0D0D_0000_0000_0002,
    r8: 0x0808_0000_0000_0008,
    r9: 0x0909_0000_0000_0009,
    r10: 0x1010_0000_0000_000A,
    r11: 0x1111_0000_0000_000B,
    r12: 0x1212_0000_0000_000C,
    r13: 0x1313_0000_0000_000D,
    r14: 0x1414_0000_0000_000E,
    r15: 0x1515_0000_0000_000F,
    rbx: 0x0B0B_0000_0000_0003,
    rdi: 0x0D1D_0000_0000_0007,
    rsi: 0x0515_0000_0000_0006,
};

/// `Regs` with the named fields set and every other field zero:
/// `regs!(rcx: 1, rdx: 2)`; `regs!(JUNK; r8: 3)` starts from another value.
macro_rules! regs {
    ($base:expr; $($field:ident : $value:expr),* $(,)?) => {
        $crate::regs::Regs { $($field: $value,)* ..$base }
    };
    ($($field:ident : $value:expr),* $(,)?) => {
        $crate::regs::Regs { $($field: $value,)* ..$crate::regs::Regs::ZERO }
    };
}
pub(crate) use regs;

/// The scripted backend type.
pub type Scripted<'a> = FnBackend<&'a mut dyn FnMut(CallKind, u64, &mut Regs) -> Status>;

/// Runs `f` with a host whose backend expects exactly `calls`, in order, and checks after
/// `f` that every scripted call happened.
pub fn with_script<R>(calls: &[Call], f: impl FnOnce(&mut Host<Scripted<'_>>) -> R) -> R {
    let made = Cell::new(0usize);
    let mut closure = |kind: CallKind, rax: u64, regs: &mut Regs| {
        let index = made.get();
        let call = calls
            .get(index)
            .unwrap_or_else(|| panic!("unexpected call #{index}: rax {rax:#x}"));
        assert_eq!(kind, call.kind, "call #{index}: kind");
        assert_eq!(rax, call.rax, "call #{index}: RAX");
        assert_eq!(*regs, call.input, "call #{index}: input registers");
        *regs = call.output;
        made.set(index + 1);
        Status::from_raw(call.status)
    };
    let mut host = Host::new(FnBackend(
        &mut closure as &mut dyn FnMut(CallKind, u64, &mut Regs) -> Status,
    ));
    let result = f(&mut host);
    assert_eq!(made.get(), calls.len(), "scripted calls not made");
    result
}

/// Runs `f` with a host whose backend fails the test if called: for argument rejections.
pub fn without_call<R>(f: impl FnOnce(&mut Host<Scripted<'_>>) -> R) -> R {
    with_script(&[], f)
}

/// The `InvalidReason` of a rejected call.
pub fn rejection<T: core::fmt::Debug>(
    result: core::result::Result<T, impl Into<crate::Error>>,
) -> crate::error::InvalidReason {
    match result.map_err(Into::into) {
        Err(crate::Error::InvalidArgument(invalid)) => invalid.reason,
        other => panic!("expected an argument rejection, got {other:?}"),
    }
}
