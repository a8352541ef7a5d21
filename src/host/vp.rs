//! vCPU management and entry: TDH.VP.* leaves.

use super::Host;
use crate::abi::check::check_reserved;
use crate::abi::FieldId;
use crate::abi::MetadataRead;
use crate::abi::{TdcxPage, TdrPage, TdvprPage};
use crate::call::Backend;
use crate::error::{Error, Result};
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::{ExitReason, Status, StatusCode};

bitflags::bitflags! {
    /// The flag bits of TDH.VP.ENTER's RCX (besides the TDVPR address). Every other bit of
    /// RCX must be zero: [`Host::vp_enter`] rejects a value made with `from_bits_retain`
    /// that holds any.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct VpEnterFlags: u64 {
        /// Bit 52: HOST_RECOVERABILITY_HINT, allowed only if the last TD exit was an async
        /// trap; the module copies it into bit 60 of the guest's pending TDCALL status.
        const HOST_RECOVERABILITY_HINT = 1 << 52;
        /// Bit 53: RESUME_L1, resume the L1 VMM when the vCPU was in an L2 VM.
        const RESUME_L1 = 1 << 53;
    }
}

/// How a TDH.VP.ENTER came back: the vCPU ran and exited.
///
/// Borrowed and decoded lazily: the variant is chosen from RAX alone, and every other
/// value is read from the caller's [`Regs`] (which the thunk already filled) only when an
/// accessor asks for it. The common VMM loop (match on the variant, read two or three
/// registers, answer in the same `Regs`) pays for nothing else: no copy of the register
/// file, no field it does not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TdExit<'a> {
    /// The guest called TDG.VP.VMCALL (exit reason 77): a synchronous exit that hands the
    /// VMM the registers the guest exposed.
    Tdvmcall(TdvmcallExit<'a>),
    /// Any other TD exit (external interrupt, EPT violation, fatal error, ...).
    Async(AsyncExit<'a>),
}

impl<'a> TdExit<'a> {
    /// RAX: the exit status.
    #[inline]
    pub const fn status(&self) -> Status {
        match self {
            TdExit::Tdvmcall(exit) => exit.status,
            TdExit::Async(exit) => exit.status,
        }
    }

    /// The registers as the module returned them (the caller's struct).
    #[inline]
    pub const fn regs(&self) -> &'a Regs {
        match self {
            TdExit::Tdvmcall(exit) => exit.regs,
            TdExit::Async(exit) => exit.regs,
        }
    }
}

/// A TD exit for TDG.VP.VMCALL.
///
/// The guest chose which registers to expose with GPR_SELECT (RCX bits 15:0 of its
/// TDCALL); the module passes their values and zeroes every other register. To answer,
/// the VMM writes its values into the same registers of the [`Regs`] it passes to the next
/// [`Host::vp_enter`]: the module copies exactly the selected ones back to the guest.
///
/// RBP: the thunks keep the host's RBP, so an exposed RBP (GPR_SELECT bit 5, only
/// without NO_RBP_MOD) can be neither read nor answered through this API; GHCI never
/// exposes RBP.
///
/// # RBP across module versions
///
/// | exit | 1.5.01 / 1.5.05 | 2.0.18 |
/// |---|---|---|
/// | TDG.VP.VMCALL | with CONFIG_FLAGS.NO_RBP_MOD, GPR_SELECT bit 5 must be 0 and RBP is not touched | same |
/// | asynchronous TD exit | the module zeroes RBP | the module zeroes RBP only when NO_RBP_MOD is clear (`td_exit.c`, `async_tdexit_internal`, `intel/tdx-module` e69a4391) |
///
/// Either way the thunks save the host's RBP before SEAMCALL and restore it after, so the
/// caller sees its own RBP whatever the module did with the register (older modules zero
/// it, 2.0.18 with NO_RBP_MOD keeps it): the crate's behaviour does not depend on the
/// module version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TdvmcallExit<'a> {
    /// RAX: 77 in bits 15:0, bit 26 set when a bus lock was preempted.
    pub status: Status,
    /// The registers as the module returned them (the caller's struct, borrowed): the
    /// exposed ones hold the guest's values, the rest are 0.
    pub regs: &'a Regs,
}

impl TdvmcallExit<'_> {
    /// RCX bits 15:0: GPR_SELECT, one bit per register by hardware index.
    #[inline]
    pub const fn gpr_select(&self) -> u16 {
        self.regs.rcx as u16
    }

    /// RCX bits 31:16: XMM_SELECT, bit `i` = XMMi.
    #[inline]
    pub const fn xmm_select(&self) -> u16 {
        (self.regs.rcx >> 16) as u16
    }

    /// RCX bits 33:32: the VM index (0 = L1).
    #[inline]
    pub const fn vm(&self) -> u8 {
        ((self.regs.rcx >> 32) & 3) as u8
    }

    /// Whether the guest exposed the register with hardware index `index` (0 RAX, 1 RCX,
    /// 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI, 8-15 R8-R15).
    #[inline]
    pub const fn is_exposed(&self, index: u8) -> bool {
        index < 16 && self.gpr_select() & (1 << index) != 0
    }

    /// The guest's value of the register with hardware index `index`, if the guest
    /// exposed it (`None` for RAX, RSP, RBP, which the module never passes here, and for
    /// unexposed registers).
    #[inline]
    pub fn exposed(&self, index: u8) -> Option<u64> {
        if self.is_exposed(index) {
            self.regs.by_hw_index(index)
        } else {
            None
        }
    }

    /// Whether the guest's TDCALL preempted a bus lock (RAX bit 26).
    #[inline]
    pub const fn bus_lock_preempted(&self) -> bool {
        ExitReason::from_raw(self.status.details_l2()).bus_lock_preempted()
    }
}

/// An asynchronous TD exit: RAX, and the exit information in the caller's registers, read
/// when asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AsyncExit<'a> {
    /// RAX: the status class (TDX_SUCCESS, TDX_NON_RECOVERABLE_*, TDX_CROSS_TD_*,
    /// TDX_HOST_PRIORITY_BUSY_TIMEOUT, TDX_TD_EXIT_ON_L2_*) with the exit reason in bits
    /// 31:0.
    pub status: Status,
    /// The registers as the module returned them (the caller's struct, borrowed).
    pub regs: &'a Regs,
}

impl AsyncExit<'_> {
    /// The 32-bit VM-exit reason (RAX bits 31:0).
    #[inline]
    pub const fn exit_reason(&self) -> ExitReason {
        ExitReason::from_raw(self.status.details_l2())
    }

    /// The basic exit reason (RAX bits 15:0).
    #[inline]
    pub const fn basic_reason(&self) -> u16 {
        self.exit_reason().basic()
    }

    /// Whether the status says the vCPU or TD can no longer run (bit 62).
    #[inline]
    pub const fn is_non_recoverable(&self) -> bool {
        self.status.is_non_recoverable()
    }

    /// RCX: the exit qualification with bits 33:32 (the VM index) cleared.
    #[inline]
    pub const fn qualification(&self) -> u64 {
        self.regs.rcx & !(3 << 32)
    }

    /// RCX bits 33:32: the VM index (0 = L1).
    #[inline]
    pub const fn vm(&self) -> u8 {
        ((self.regs.rcx >> 32) & 3) as u8
    }

    /// RDX: the extended exit qualification.
    #[inline]
    pub const fn ext_qualification(&self) -> u64 {
        self.regs.rdx
    }

    /// R8: the guest-physical address (EPT violations and misconfigurations).
    #[inline]
    pub const fn gpa(&self) -> u64 {
        self.regs.r8
    }

    /// R9: the VM-exit interruption information.
    #[inline]
    pub const fn interruption_info(&self) -> u64 {
        self.regs.r9
    }
}

/// The statuses with which TDH.VP.ENTER reports a TD exit (and its registers) rather than
/// a failure to enter (module 1.5.01 `td_exit.c`; 1.0.3 gave some of them other flag bits).
/// Not TDX_INTERRUPTED_* or TDX_INVALID_RESUMPTION: those mean the vCPU was not entered.
const TD_EXIT_STATUSES: &[StatusCode] = &[
    StatusCode::Success,
    StatusCode::NonRecoverableVcpu,
    StatusCode::NonRecoverableTd,
    StatusCode::NonRecoverableTdNonAccessible,
    StatusCode::NonRecoverableTdWrongApicMode,
    StatusCode::CrossTdFault,
    StatusCode::CrossTdTrap,
    StatusCode::NonRecoverableTdCorruptedMd,
    StatusCode::HostPriorityBusyTimeout,
    StatusCode::TdExitBeforeL2Entry,
    StatusCode::TdExitOnL2VmExit,
    StatusCode::TdExitOnL2ToL1,
];

/// Bits 47:32 (class and details L1) of each of [`TD_EXIT_STATUSES`], computed at compile
/// time so that [`is_td_exit`] compares integers instead of looking codes up.
const TD_EXIT_CLASS_AND_L1: [u16; TD_EXIT_STATUSES.len()] = {
    let mut keys = [0; TD_EXIT_STATUSES.len()];
    let mut index = 0;
    while index < keys.len() {
        keys[index] = class_and_l1(TD_EXIT_STATUSES[index].status());
        index += 1;
    }
    keys
};

/// Bits 47:32 of a status: the class (47:40) and details L1 (39:32).
#[inline]
const fn class_and_l1(status: Status) -> u16 {
    (status.class() as u16) << 8 | status.details_l1() as u16
}

/// Whether a TDH.VP.ENTER status reports a TD exit. Matched on class and details L1 (bits
/// 47:32): the flag bits 63:60 vary (the fatal bit was added in 1.5, the
/// host-recoverability hint comes and goes) while the code within its class does not.
#[inline]
fn is_td_exit(status: Status) -> bool {
    // The common case first: TDX_SUCCESS with no flag bits (bits 63:32 all zero), an
    // ordinary exit; only the rarer statuses pay for the table.
    status.raw() >> 32 == 0
        || (!status.is_software() && TD_EXIT_CLASS_AND_L1.contains(&class_and_l1(status)))
}

/// [`Host::vp_enter`]'s decoding of a status with any of bits 63:32 set: an error (the vCPU
/// was not entered), or a TD exit whose status carries a class or flag bits (an L2 exit, a
/// fatal TD state); such an exit is asynchronous, since a TDG.VP.VMCALL exit is TDX_SUCCESS.
/// Out of line and cold, so the common exits stay a compare and a move.
#[cold]
#[inline(never)]
fn exit_with_flags(status: Status, regs: &Regs) -> Result<TdExit<'_>> {
    if !is_td_exit(status) {
        return Err(Error::from(status));
    }
    Ok(TdExit::Async(AsyncExit { status, regs }))
}

impl<B: Backend> Host<B> {
    /// TDH.VP.ENTER (leaf 0): run the vCPU until it exits.
    ///
    /// Inputs: RCX = TDVPR | `flags` (the wrapper sets `regs.rcx`); after a TDG.VP.VMCALL
    /// exit, the registers the guest exposed are inputs too: pass the same `regs` back with
    /// the VMM's answers written into them. Outputs: every register (see [`TdExit`]);
    /// `regs` holds them afterwards. Goes through the scrubbing thunk
    /// ([`CallKind::SeamcallScrub`](crate::call::CallKind::SeamcallScrub)). Never retried.
    ///
    /// Module 1.0+.
    ///
    /// The module resets every extended-state component in the TD's XFAM and leaves XCR0
    /// and IA32_XSS at the TD's values; the caller restores the host's XCR0/XSS/PKRU and
    /// any vector state it needs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `flags` holds bits other than 52 and 53 (made with
    /// `from_bits_retain`; another bit would change the TDVPR address or a reserved bit),
    /// before anything runs.
    /// [`Error::Status`] when the vCPU was not entered (TDX_OPERAND_BUSY, TDX_VCPU_*,
    /// TDX_INVALID_RESUMPTION, a software code, ...).
    ///
    /// # Safety
    ///
    /// The vCPU must be initialized and associated with this logical processor only (no
    /// concurrent TDH.VP.ENTER/FLUSH on it); interrupts and NMIs must be handled as the
    /// host kernel requires around a VM entry; the caller must restore the host's XCR0,
    /// IA32_XSS and the extended state the module resets before using them.
    // Always inlined: out of line it was a call with three saved registers around the
    // thunk's (issue 17); the rarer statuses go to `exit_with_flags`.
    #[inline(always)]
    #[doc(alias = "TDH.VP.ENTER")]
    pub unsafe fn vp_enter<'r>(
        &mut self,
        tdvpr: TdvprPage,
        flags: VpEnterFlags,
        regs: &'r mut Regs,
    ) -> Result<TdExit<'r>> {
        let flags = check_reserved(
            "TDH.VP.ENTER flags",
            flags.bits(),
            !VpEnterFlags::all().bits(),
        )?;
        regs.rcx = tdvpr.raw() | flags;
        // SAFETY: the caller upholds the vCPU-entry contract above.
        let status = unsafe { self.call(Leaf::TdhVpEnter, 0, regs) };
        // Only RAX is looked at here; the rest is read from `regs` when asked.
        let regs: &'r Regs = regs;
        // The VMM loop's exits, with one compare: TDX_SUCCESS without flag bits (63:32 zero)
        // is always a TD exit; its basic exit reason (bits 15:0; bits 31:16 hold exit flags
        // such as the preempted bus lock) tells a guest's TDG.VP.VMCALL (TDCALL) from the
        // rest. Every other status (an error, or a TD exit with flag or class bits) is
        // decoded out of line.
        if status.raw() >> 32 != 0 {
            return exit_with_flags(status, regs);
        }
        Ok(if status.raw() & 0xFFFF == ExitReason::TDCALL as u64 {
            TdExit::Tdvmcall(TdvmcallExit { status, regs })
        } else {
            TdExit::Async(AsyncExit { status, regs })
        })
    }

    /// TDH.VP.ADDCX (leaf 4): add a TDVPS page to a vCPU.
    ///
    /// RCX = the TDCX page, RDX = TDVPR. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    ///
    /// # Safety
    ///
    /// On success the page becomes private to the TD; the host must not access it until
    /// it is reclaimed.
    #[inline]
    #[doc(alias = "TDH.VP.ADDCX")]
    pub unsafe fn vp_addcx(&mut self, tdcx: TdcxPage, tdvpr: TdvprPage) -> Result<()> {
        let mut regs = Regs {
            rcx: tdcx.raw(),
            rdx: tdvpr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller gives the page up as documented.
        Status::check(unsafe { self.call(Leaf::TdhVpAddcx, 0, &mut regs) }).map(drop)
    }

    /// TDH.VP.CREATE (leaf 10): create a vCPU of the TD from a TDVPR page.
    ///
    /// RCX = TDVPR, RDX = TDR. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], e.g. TDX_MAX_VCPUS_EXCEEDED.
    ///
    /// # Safety
    ///
    /// On success the TDVPR page belongs to the module until reclaimed.
    #[inline]
    #[doc(alias = "TDH.VP.CREATE")]
    pub unsafe fn vp_create(&mut self, tdvpr: TdvprPage, tdr: TdrPage) -> Result<()> {
        let mut regs = Regs {
            rcx: tdvpr.raw(),
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller gives the page up as documented.
        Status::check(unsafe { self.call(Leaf::TdhVpCreate, 0, &mut regs) }).map(drop)
    }

    /// TDH.VP.FLUSH (leaf 18): flush the vCPU's state cached on this logical processor.
    ///
    /// RCX = TDVPR. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], e.g. TDX_VCPU_NOT_ASSOCIATED (a warning-class error: bit 63 set).
    #[inline]
    #[doc(alias = "TDH.VP.FLUSH")]
    pub fn vp_flush(&mut self, tdvpr: TdvprPage) -> Result<()> {
        let mut regs = Regs {
            rcx: tdvpr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: flushes module-owned state only.
        Status::check(unsafe { self.call(Leaf::TdhVpFlush, 0, &mut regs) }).map(drop)
    }

    /// TDH.VP.INIT v0 (leaf 22): initialize a vCPU; `initial_rcx` is the guest's RCX at
    /// its first instruction.
    ///
    /// RCX = TDVPR, RDX = initial RCX. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.VP.INIT")]
    pub fn vp_init(&mut self, tdvpr: TdvprPage, initial_rcx: u64) -> Result<()> {
        let mut regs = Regs {
            rcx: tdvpr.raw(),
            rdx: initial_rcx,
            ..Regs::ZERO
        };
        // SAFETY: initializes module-owned state only.
        Status::check(unsafe { self.call(Leaf::TdhVpInit, 0, &mut regs) }).map(drop)
    }

    /// TDH.VP.INIT v1 (leaf 22, version 1): initialize a vCPU with its x2APIC ID.
    ///
    /// RCX = TDVPR, RDX = initial RCX, R8 = x2APIC ID (upper 32 bits 0, unique in the TD).
    /// Module 1.5.05+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], e.g. TDX_X2APIC_ID_NOT_UNIQUE with the clashing ID in bits 31:0.
    #[inline]
    #[doc(alias = "TDH.VP.INIT")]
    pub fn vp_init_x2apic(
        &mut self,
        tdvpr: TdvprPage,
        initial_rcx: u64,
        x2apic_id: u32,
    ) -> Result<()> {
        let mut regs = Regs {
            rcx: tdvpr.raw(),
            rdx: initial_rcx,
            r8: x2apic_id.into(),
            ..Regs::ZERO
        };
        // SAFETY: initializes module-owned state only.
        Status::check(unsafe { self.call(Leaf::TdhVpInit, 1, &mut regs) }).map(drop)
    }
}

impl<B: Backend> Host<B> {
    /// TDH.VP.RD v0 (leaf 26): read a vCPU-scope metadata field.
    ///
    /// RCX = TDVPR, RDX = field ID. R8 = value. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a malformed field ID; [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.VP.RD")]
    pub fn vp_rd(&mut self, tdvpr: TdvprPage, field: FieldId) -> Result<u64> {
        let mut regs = Regs {
            rcx: tdvpr.raw(),
            rdx: field.check_single_element()?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: a read into registers.
        Status::check(unsafe { self.call(Leaf::TdhVpRd, 0, &mut regs) })?;
        Ok(regs.r8)
    }

    /// TDH.VP.RD v1 (leaf 26, version 1): read a vCPU-scope field and the next field's ID
    /// (RDX). A null field ID returns the first field ID.
    ///
    /// Module 1.5+.
    ///
    /// # Errors
    ///
    /// As [`Host::vp_rd`].
    #[inline]
    #[doc(alias = "TDH.VP.RD")]
    pub fn vp_rd_next(&mut self, tdvpr: TdvprPage, field: FieldId) -> Result<MetadataRead> {
        let mut regs = Regs {
            rcx: tdvpr.raw(),
            rdx: field.check_read()?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: a read into registers.
        let status = Status::check(unsafe { self.call(Leaf::TdhVpRd, 1, &mut regs) })?;
        Ok(MetadataRead::from_regs(status, regs.r8, regs.rdx))
    }

    /// TDH.VP.WR (leaf 43): write the bits `mask` selects of a vCPU-scope field; returns
    /// the old value.
    ///
    /// RCX = TDVPR, RDX = field ID, R8 = value, R9 = mask. R8 = old value (0 on error).
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::vp_rd`]; [`Error::InvalidArgument`] also
    /// for a write mask wider than the field ID's element size
    /// ([`FieldId::check_write_mask`]).
    #[inline]
    #[doc(alias = "TDH.VP.WR")]
    pub fn vp_wr(
        &mut self,
        tdvpr: TdvprPage,
        field: FieldId,
        value: u64,
        mask: u64,
    ) -> Result<u64> {
        let mut regs = Regs {
            rcx: tdvpr.raw(),
            rdx: field.check_single_element()?.raw(),
            r8: value,
            r9: field.check_write_mask(mask)?,
            ..Regs::ZERO
        };
        // SAFETY: writes vCPU metadata only.
        Status::check(unsafe { self.call(Leaf::TdhVpWr, 0, &mut regs) })?;
        Ok(regs.r8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{CallKind, FnBackend};
    use crate::host::testing::*;

    const TDVPR: u64 = 0x8_0000_2000;
    fn tdvpr() -> TdvprPage {
        TdvprPage::from_raw(TDVPR).unwrap()
    }

    fn enter(input: Regs, output: Regs, status: u64) -> Call {
        Call {
            kind: CallKind::SeamcallScrub,
            rax: 0,
            input,
            output,
            status,
        }
    }

    #[test]
    fn tdvmcall_exit_and_answer_round_trip() {
        // The guest exposed RDX, R10-R13 (GPR_SELECT 0x3C04) and XMM0, in VM 0.
        let exit_regs =
            regs!(rcx: 0x1_3C04, rdx: 0xD, r10: 0, r11: 0x10001, r12: 0x1000, r13: 0x2000);
        let first = enter(regs!(rcx: TDVPR), exit_regs, 77 | 1 << 26);
        // The VMM answers R10 = 0, R11 = 0x5555; RCX carries TDVPR | RESUME_L1 next time.
        let answer = regs!(exit_regs; rcx: TDVPR | 1 << 53, r10: 0, r11: 0x5555);
        let async_out = regs!(JUNK; rcx: 0x2_0000_0183, rdx: 0xEE, r8: 0x7000, r9: 0x8000_0020);
        let second = enter(answer, async_out, 0x0000_0000_0000_0030);
        with_script(&[first, second], |h| {
            let mut regs = Regs::ZERO;
            // SAFETY: scripted backend; no instruction executes.
            let exit = unsafe { h.vp_enter(tdvpr(), VpEnterFlags::empty(), &mut regs) }.unwrap();
            let TdExit::Tdvmcall(call) = exit else {
                panic!("{exit:?}")
            };
            assert_eq!(
                (call.gpr_select(), call.xmm_select(), call.vm()),
                (0x3C04, 1, 0)
            );
            // Borrowed, not copied: the exit reads the caller's struct.
            assert!(core::ptr::eq(call.regs, exit.regs()));
            assert!(call.bus_lock_preempted());
            assert_eq!(call.exposed(11), Some(0x10001));
            assert_eq!(call.exposed(12), Some(0x1000));
            assert_eq!(call.exposed(2), Some(0xD));
            assert_eq!(call.exposed(3), None);
            assert_eq!(call.exposed(0), None);
            assert!(!call.is_exposed(8));
            regs.r11 = 0x5555;
            regs.r10 = 0;
            // SAFETY: scripted backend; no instruction executes.
            let exit = unsafe { h.vp_enter(tdvpr(), VpEnterFlags::RESUME_L1, &mut regs) }.unwrap();
            let TdExit::Async(exit) = exit else {
                panic!("{exit:?}")
            };
            assert_eq!(exit.status, Status::from_raw(0x30));
            assert_eq!(
                (
                    exit.qualification(),
                    exit.vm(),
                    exit.ext_qualification(),
                    exit.gpa(),
                    exit.interruption_info()
                ),
                (0x183, 2, 0xEE, 0x7000, 0x8000_0020)
            );
            assert_eq!(exit.basic_reason(), 48);
        });
    }

    #[test]
    fn enter_failures_and_fatal_exits() {
        let busy = 0x8000_0200_0000_0082;
        let input = regs!(rcx: TDVPR | 1 << 52, r10: 0x99);
        let calls = [enter(input, input, busy)];
        let r = with_script(&calls, |h| {
            let mut regs = regs!(r10: 0x99);
            // SAFETY: scripted backend; no instruction executes.
            unsafe { h.vp_enter(tdvpr(), VpEnterFlags::HOST_RECOVERABILITY_HINT, &mut regs) }
                .map(|exit| exit.status())
        });
        // Inputs other than RCX come from the caller's regs; a failed entry is an error.
        assert_eq!(r, Err(Error::Status(Status::from_raw(busy))));
        let fatal = 0x6000_0002_0000_0002u64; // NON_RECOVERABLE_TD, triple fault
        let calls = [enter(regs!(rcx: TDVPR), regs!(rcx: 5), fatal)];
        let (non_recoverable, reasons) = with_script(&calls, |h| {
            let mut regs = Regs::ZERO;
            // SAFETY: scripted backend; no instruction executes.
            let exit = unsafe { h.vp_enter(tdvpr(), VpEnterFlags::empty(), &mut regs) }.unwrap();
            let TdExit::Async(exit) = exit else { panic!() };
            (
                exit.is_non_recoverable(),
                (exit.exit_reason().raw(), exit.basic_reason()),
            )
        });
        assert!(non_recoverable);
        assert_eq!(reasons, (2, 2));
        for (status, is_exit) in [
            (0x8000_0008_0000_0000u64, true),
            (0x9000_0205_0000_0001, true),
            (0x0000_1141_0000_0001, true),
            (0xC000_0006_0000_0000, false),
            (0x8000_FF00_0000_0006, false),
            (0x8000_0003_0000_0000, false),
            // 1.0.3's flag bits, the host-recoverability hint, the L2 codes at the edges.
            (0x4000_0002_0000_0002, true),
            (0xC000_0007_0000_0000, true),
            (0x7000_0002_0000_0002, true),
            (0x0000_1140_0000_0000, true),
            (0x0000_1143_0000_0000, false),
            (0x8000_0004_0000_0000, false),
            (0x0000_1100_0000_0000, false),
        ] {
            assert_eq!(is_td_exit(Status::from_raw(status)), is_exit, "{status:#x}");
        }
        assert!(without_call(|_| TdvprPage::from_raw(TDVPR + 8)).is_err());
    }

    /// The inline fast path (bits 63:32 zero) and the out-of-line `exit_with_flags` sort
    /// every kind of status as the TD-exit rules say, and hand back the caller's registers.
    #[test]
    fn vp_enter_sorts_fast_and_flagged_statuses() {
        #[derive(Debug, PartialEq)]
        enum Sort {
            Tdvmcall,
            Async,
            Error,
        }
        for (status, expected) in [
            (77u64, Sort::Tdvmcall),
            (0x0001_004D, Sort::Tdvmcall), // exit flags in bits 31:16
            (0x8000_004D, Sort::Tdvmcall),
            (0, Sort::Async),
            (0x30, Sort::Async),
            (0x004D_0000, Sort::Async), // 77 in the flags, basic reason 0
            (0x0001_004C, Sort::Async),
            (0x4000_0000_0000_004D, Sort::Async), // TDX_SUCCESS with a flag bit
            (0x6000_0002_0000_0002, Sort::Async),
            (0x0000_1141_0000_004D, Sort::Async), // L2 VM exit, reason TDCALL
            (0x8000_0200_0000_0082, Sort::Error),
            (0x8000_FF00_0000_0006, Sort::Error),
            (0xC000_0006_0000_004D, Sort::Error),
        ] {
            let mut host = Host::new(FnBackend(|_: CallKind, _: u64, regs: &mut Regs| {
                regs.r11 = 0x5A;
                Status::from_raw(status)
            }));
            let mut regs = Regs::ZERO;
            let address = core::ptr::addr_of!(regs);
            // SAFETY: the backend is a closure; no instruction executes.
            let result = unsafe { host.vp_enter(tdvpr(), VpEnterFlags::empty(), &mut regs) };
            let sort = match &result {
                Ok(TdExit::Tdvmcall(_)) => Sort::Tdvmcall,
                Ok(TdExit::Async(_)) => Sort::Async,
                Err(error) => {
                    assert_eq!(*error, Error::from(Status::from_raw(status)));
                    Sort::Error
                }
            };
            assert_eq!(sort, expected, "{status:#x}");
            if let Ok(exit) = result {
                assert_eq!(exit.status(), Status::from_raw(status));
                assert!(core::ptr::eq(exit.regs(), address));
                assert_eq!(exit.regs().r11, 0x5A);
            }
        }
    }

    #[test]
    fn addcx_create_flush_init() {
        let input = regs!(rcx: 0x3000, rdx: TDVPR);
        let calls = [seamcall(4, input, regs!(JUNK;), 0)];
        // SAFETY: scripted backend; no instruction executes.
        with_script(&calls, |h| unsafe {
            h.vp_addcx(TdcxPage::from_raw(0x3000).unwrap(), tdvpr())
        })
        .unwrap();
        let input = regs!(rcx: TDVPR, rdx: 0x7000);
        let err = 0xC000_0705_0000_0000;
        let calls = [seamcall(10, input, input, err)];
        let r = with_script(&calls, |h| {
            // SAFETY: scripted backend; no instruction executes.
            unsafe { h.vp_create(tdvpr(), TdrPage::from_raw(0x7000).unwrap()) }
        });
        assert_eq!(r, Err(Error::Status(Status::from_raw(err))));
        let calls = [seamcall(18, regs!(rcx: TDVPR), regs!(JUNK;), 0)];
        with_script(&calls, |h| h.vp_flush(tdvpr())).unwrap();
        let calls = [seamcall(22, regs!(rcx: TDVPR, rdx: 0xABC), regs!(JUNK;), 0)];
        with_script(&calls, |h| h.vp_init(tdvpr(), 0xABC)).unwrap();
        let input = regs!(rcx: TDVPR, rdx: 0xABC, r8: 0xFFFF_FFFF);
        let clash = 0xC000_0621_FFFF_FFFF;
        let calls = [seamcall(0x1_0016, input, input, clash)];
        let r = with_script(&calls, |h| h.vp_init_x2apic(tdvpr(), 0xABC, 0xFFFF_FFFF));
        assert_eq!(r, Err(Error::Status(Status::from_raw(clash))));
    }
}
