//! L2_ENTER_GUEST_STATE: the L2 vCPU register list TDG.VP.ENTER reads on entry and writes on
//! exit (TD partitioning).
//!
//! Layout from the TDX module 1.5.01 source (`l2_enter_guest_state_t`): sixteen GPRs in
//! hardware-index order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15), then RFLAGS, RIP,
//! SSP and the 16-bit guest interrupt status; 154 meaningful bytes. TDG.VP.ENTER requires
//! the buffer to be 256-byte aligned, so the type is `align(256)` (size 256).

use core::mem::{align_of, offset_of, size_of};

/// The L2 register list of TDG.VP.ENTER.
#[repr(C, align(256))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct L2EnterGuestState {
    /// The sixteen general registers by hardware index: 0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP,
    /// 5 RBP, 6 RSI, 7 RDI, 8-15 R8-R15.
    pub gprs: [u64; 16],
    /// RFLAGS (offset 128).
    pub rflags: u64,
    /// RIP (offset 136).
    pub rip: u64,
    /// Shadow-stack pointer (offset 144).
    pub ssp: u64,
    /// Guest interrupt status, RVI in bits 7:0 and SVI in bits 15:8 (offset 152).
    pub interrupt_status: u16,
}

impl L2EnterGuestState {
    /// Index of RAX in [`L2EnterGuestState::gprs`].
    pub const RAX: usize = 0;
    /// Index of RSP in [`L2EnterGuestState::gprs`].
    pub const RSP: usize = 4;
    /// Number of bytes the module reads and writes.
    pub const ABI_SIZE: usize = 154;
}

const _: () = {
    assert!(offset_of!(L2EnterGuestState, gprs) == 0);
    assert!(offset_of!(L2EnterGuestState, rflags) == 128);
    assert!(offset_of!(L2EnterGuestState, rip) == 136);
    assert!(offset_of!(L2EnterGuestState, ssp) == 144);
    assert!(offset_of!(L2EnterGuestState, interrupt_status) == 152);
    assert!(offset_of!(L2EnterGuestState, interrupt_status) + 2 == L2EnterGuestState::ABI_SIZE);
    assert!(size_of::<L2EnterGuestState>() == 256);
    assert!(align_of::<L2EnterGuestState>() == 256);
};
