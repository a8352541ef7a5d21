//! vCPU leaves: TDG.VP.INFO, TDG.VP.VEINFO.GET, TDG.VP.CPUIDVE.SET, TDG.VP.RD, TDG.VP.WR,
//! and the TD-partitioning leaves TDG.VP.ENTER, TDG.VP.INVEPT and TDG.VP.INVVPID.

use super::{check_range, check_reserved};
use super::{Guest, L2Vm};
use crate::abi::check::check_address;
use crate::abi::PAGE_SIZE;
use crate::abi::{Attributes, GuestPhysAddr};
use crate::abi::{FieldId, MetadataRead};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::{ExitReason, Status, StatusCode};

/// The output of TDG.VP.INFO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct VpInfo {
    /// RCX bits 5:0: the guest-physical address width, 48 or 52. The shared bit is bit
    /// `gpaw - 1`.
    pub gpaw: u8,
    /// RDX: the TD's ATTRIBUTES, every bit kept (unknown bits retained).
    pub attributes: Attributes,
    /// R8 bits 31:0: vCPUs initialized so far.
    pub num_vcpus: u32,
    /// R8 bits 63:32: the TD's maximum vCPU count.
    pub max_vcpus: u32,
    /// R9 bits 31:0: this vCPU's index.
    pub vcpu_index: u32,
    /// R10 bit 0: TDG.SYS.RD is available.
    pub sys_rd_available: bool,
    /// R10 as returned (bits other than 0 reserved).
    pub r10: u64,
}

impl VpInfo {
    /// The shared bit of a GPA for this TD, `1 << (gpaw - 1)`.
    #[inline]
    pub const fn shared_bit(&self) -> u64 {
        1 << (self.gpaw - 1)
    }
}

/// The output of TDG.VP.VEINFO.GET: the last #VE's information.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VeInfo {
    /// RCX bits 31:0: the exit reason.
    pub exit_reason: ExitReason,
    /// RDX: the exit qualification.
    pub exit_qualification: u64,
    /// R8: the guest linear address.
    pub gla: u64,
    /// R9: the guest-physical address.
    pub gpa: u64,
    /// R10 bits 31:0: the instruction length.
    pub instruction_length: u32,
    /// R10 bits 63:32: the instruction information.
    pub instruction_info: u32,
}

/// The input of TDG.VP.CPUIDVE.SET: whether CPUID raises #VE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CpuidVe {
    /// RCX bit 0: CPUID in supervisor mode raises #VE.
    pub supervisor: bool,
    /// RCX bit 1: CPUID in user mode raises #VE.
    pub user: bool,
}

/// TDG.VP.ENTER's EPT invalidation before entry (RCX bits 1:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum InveptType {
    /// No invalidation.
    None = 0,
    /// Type-1 (single-context) invalidation of the VM's EPT.
    SingleContext = 1,
    /// Type-1 invalidation without flushing the EPxE cache.
    SingleContextNoEpxeFlush = 2,
    /// Type-3 invalidation.
    Type3 = 3,
}

/// The set of L2 VMs TDG.VP.INVEPT invalidates (RCX: bit *n* = VM *n*; bit 0, the L1 VMM,
/// must be zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct L2VmSet(u64);

impl L2VmSet {
    /// L2 VM 1.
    pub const VM1: L2VmSet = L2VmSet(1 << 1);
    /// L2 VM 2.
    pub const VM2: L2VmSet = L2VmSet(1 << 2);
    /// L2 VM 3.
    pub const VM3: L2VmSet = L2VmSet(1 << 3);

    /// From the raw bitmap; bits other than 3:1 are rejected.
    pub fn from_raw(raw: u64) -> Result<L2VmSet> {
        check_reserved("L2 VM bitmap", raw, !0b1110)?;
        Ok(L2VmSet(raw))
    }

    /// The raw bitmap.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The union of two sets.
    #[inline]
    pub const fn union(self, other: L2VmSet) -> L2VmSet {
        L2VmSet(self.0 | other.0)
    }
}

/// A single TDG.VP.INVVPID entry: 4 KiB pages starting at a guest linear address (bits
/// 63:12), the last page's index in bits 11:0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlaRange(u64);

impl GlaRange {
    /// Pages `base_gla`, `base_gla + 4 KiB`, …, `base_gla + last_index * 4 KiB`;
    /// `base_gla` must be 4 KiB aligned and `last_index` at most 4095.
    pub fn new(base_gla: u64, last_index: u16) -> Result<GlaRange> {
        check_address("GLA", base_gla, 64, PAGE_SIZE)?;
        check_range("GLA last index", last_index as u64, 0, 0xFFF)?;
        Ok(GlaRange(base_gla | last_index as u64))
    }

    /// The raw entry.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }
}

/// GLA_LIST_INFO for TDG.VP.INVVPID in list mode: bits 8:0 first entry, 51:12 GPA of the
/// private list page, 61:52 number of entries (at most 512).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlaListInfo(u64);

impl GlaListInfo {
    /// A list at `list_page` (4 KiB aligned) of `count` entries (at most 512), processed
    /// from entry `first` (at most 511).
    pub fn new(list_page: GuestPhysAddr, first: u16, count: u16) -> Result<GlaListInfo> {
        check_address("GLA list page", list_page.raw(), 52, PAGE_SIZE)?;
        check_range("GLA list first entry", first as u64, 0, 511)?;
        check_range("GLA list entry count", count as u64, 0, 512)?;
        Ok(GlaListInfo(
            list_page.raw() | first as u64 | (count as u64) << 52,
        ))
    }

    /// The raw operand.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The index of the next entry to process.
    #[inline]
    pub const fn first_entry(self) -> u16 {
        (self.0 & 0x1FF) as u16
    }

    /// The number of entries left.
    #[inline]
    pub const fn count(self) -> u16 {
        ((self.0 >> 52) & 0x3FF) as u16
    }
}

/// Segment details as TDG.VP.ENTER returns them in RSI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SegmentDetails {
    /// Bits 15:0: selector.
    pub selector: u16,
    /// Bits 31:16: access rights.
    pub access_rights: u16,
    /// Bits 63:32: limit.
    pub limit: u32,
}

/// How an L2 exit came back to L1 (the status of TDG.VP.ENTER, bits 63:32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L2ExitKind {
    /// `TDX_SUCCESS`: an L2 exit handled by L1.
    Exit,
    /// `TDX_L2_EXIT_HOST_ROUTED_ASYNC`: the exit went to the host VMM first.
    HostRoutedAsync,
    /// `TDX_L2_EXIT_HOST_ROUTED_TDVMCALL`: an L2 TDVMCALL went to the host VMM first.
    HostRoutedTdvmcall,
    /// `TDX_L2_EXIT_PENDING_INTERRUPT`: exit because an interrupt is pending for L1.
    PendingInterrupt,
    /// Another non-error status.
    Other(u32),
}

/// An L2-to-L1 exit returned by TDG.VP.ENTER. The L2 GPRs, RFLAGS, RIP, SSP and
/// interrupt status are in the L2_ENTER_GUEST_STATE buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct L2Exit {
    /// The status, every bit kept.
    pub status: Status,
    /// Status class of the exit.
    pub kind: L2ExitKind,
    /// RAX bits 31:0: the L2 VM-exit reason.
    pub exit_reason: ExitReason,
    /// RCX: exit qualification.
    pub exit_qualification: u64,
    /// RDX: guest linear address.
    pub gla: u64,
    /// RSI: CS selector, access rights and limit.
    pub cs: SegmentDetails,
    /// RDI: CS base.
    pub cs_base: u64,
    /// R8: guest-physical address.
    pub gpa: u64,
    /// R9 bits 31:0: VM-exit interruption information.
    pub interruption_info: u32,
    /// R9 bits 63:32: VM-exit interruption error code.
    pub interruption_error_code: u32,
    /// R10 bits 31:0: IDT-vectoring information.
    pub idt_vectoring_info: u32,
    /// R10 bits 63:32: IDT-vectoring error code.
    pub idt_vectoring_error_code: u32,
    /// R11 bits 31:0: VM-exit instruction information.
    pub instruction_info: u32,
    /// R11 bits 63:32: VM-exit instruction length.
    pub instruction_length: u32,
    /// R12 bits 1:0: the L2 CPL.
    pub cpl: u8,
    /// R13: extended exit qualification.
    pub extended_exit_qualification: u64,
}

/// The result of TDG.VP.ENTER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VpEnterOutcome {
    /// L2 ran and exited to L1.
    Exited(L2Exit),
    /// `TDX_PENDING_INTERRUPT`: an interrupt is pending for L1, L2 was not entered.
    PendingInterrupt(Status),
}

/// Whether `status` is `TDX_NO_VALID_VE_INFO`, the status of [`Guest::vp_veinfo_get`] with
/// no #VE pending.
#[inline]
pub fn is_no_valid_ve_info(status: Status) -> bool {
    status.is(StatusCode::NoValidVeInfo)
}

#[inline]
const fn lo(value: u64) -> u32 {
    value as u32
}

#[inline]
const fn hi(value: u64) -> u32 {
    (value >> 32) as u32
}

impl<B: Backend> Guest<B> {
    /// Reads the TD execution environment.
    ///
    /// Leaf 1. Inputs: none. Outputs: RCX GPAW, RDX ATTRIBUTES, R8 vCPU counts, R9 vCPU
    /// index, R10 available leaves (R11 is zeroed). Since module 1.0.
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status) on failure (for example #UD outside a TD).
    #[inline]
    #[doc(alias = "TDG.VP.INFO")]
    pub fn vp_info(&mut self) -> Result<VpInfo> {
        let mut regs = Regs::ZERO;
        // SAFETY: TDG.VP.INFO only writes registers.
        Status::check(unsafe { self.call(Leaf::TdgVpInfo, 0, &mut regs) })?;
        Ok(VpInfo {
            gpaw: (regs.rcx & 0x3F) as u8,
            attributes: Attributes::from_bits_retain(regs.rdx),
            num_vcpus: lo(regs.r8),
            max_vcpus: hi(regs.r8),
            vcpu_index: lo(regs.r9),
            sys_rd_available: regs.r10 & 1 != 0,
            r10: regs.r10,
        })
    }

    /// Reads the information of the last virtualization exception (#VE).
    ///
    /// Leaf 3. Inputs: none. Outputs: RCX exit reason, RDX exit qualification, R8 GLA, R9
    /// GPA, R10 instruction length and information. Since module 1.0.
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status); `TDX_NO_VALID_VE_INFO` when no #VE
    /// information is pending.
    #[inline]
    #[doc(alias = "TDG.VP.VEINFO.GET")]
    pub fn vp_veinfo_get(&mut self) -> Result<VeInfo> {
        self.vp_veinfo_get_version(0).map(|(info, _)| info)
    }

    /// TDG.VP.VEINFO.GET version 1 (1.5.28, 1.5.32, 2.0.08, 2.0.18: their TD dispatchers
    /// let version 1 through): RCX, RDX, R8, R9 and R10 decoded as version 0, and every
    /// output register raw, since what version 1 adds (newer-abi.md names a "#VE info
    /// interrupt state", TDX_FEATURES0 bit 46) was not read in the handler: **UNVERIFIED**.
    ///
    /// # Errors
    ///
    /// As [`Guest::vp_veinfo_get`]; TDX_OPERAND_INVALID(RAX) from a module that has no
    /// version 1.
    #[inline]
    #[doc(alias = "TDG.VP.VEINFO.GET")]
    pub fn vp_veinfo_get_v1(&mut self) -> Result<(VeInfo, Regs)> {
        self.vp_veinfo_get_version(1)
    }

    fn vp_veinfo_get_version(&mut self, version: u8) -> Result<(VeInfo, Regs)> {
        let mut regs = Regs::ZERO;
        // SAFETY: TDG.VP.VEINFO.GET only writes registers.
        Status::check(unsafe { self.call(Leaf::TdgVpVeinfoGet, version, &mut regs) })?;
        let info = VeInfo {
            exit_reason: ExitReason::from_raw(lo(regs.rcx)),
            exit_qualification: regs.rdx,
            gla: regs.r8,
            gpa: regs.r9,
            instruction_length: lo(regs.r10),
            instruction_info: hi(regs.r10),
        };
        Ok((info, regs))
    }

    /// Chooses whether CPUID raises #VE in supervisor and in user mode.
    ///
    /// Leaf 5. Inputs: RCX bit 0 supervisor, bit 1 user. Outputs: none. Since module 1.0.
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDG.VP.CPUIDVE.SET")]
    pub fn vp_cpuidve_set(&mut self, setting: CpuidVe) -> Result<()> {
        let mut regs = Regs {
            rcx: setting.supervisor as u64 | (setting.user as u64) << 1,
            ..Regs::ZERO
        };
        // SAFETY: only changes #VE delivery for CPUID.
        Status::check(unsafe { self.call(Leaf::TdgVpCpuidveSet, 0, &mut regs) })?;
        Ok(())
    }

    /// Reads a vCPU-scope metadata field of this vCPU.
    ///
    /// Leaf 9. Inputs: RCX 0, RDX field ID ([`FieldId::null`] returns the first
    /// field). Outputs: R8 value, RDX next field ID. Since module 1.5.
    ///
    /// # Errors
    ///
    /// Malformed field ID ([`InvalidReason::MalformedFieldId`](crate::error::InvalidReason::MalformedFieldId)); [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDG.VP.RD")]
    pub fn vp_rd(&mut self, field: FieldId) -> Result<MetadataRead> {
        let mut regs = Regs {
            rdx: field.check_read()?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: a metadata read only writes registers.
        let status = Status::check(unsafe { self.call(Leaf::TdgVpRd, 0, &mut regs) })?;
        Ok(MetadataRead::from_regs(status, regs.r8, regs.rdx))
    }

    /// Writes a vCPU-scope metadata field of this vCPU under a mask; returns the old value.
    ///
    /// Leaf 10. Inputs: RCX 0, RDX field ID, R8 value, R9 write mask. Outputs: R8 old
    /// value. Since module 1.5.
    ///
    /// # Errors
    ///
    /// Malformed field ID, or a write mask wider than the field ID's element size
    /// ([`FieldId::check_write_mask`](crate::abi::FieldId::check_write_mask)); [`Error::Status`](crate::Error::Status).
    ///
    /// # Safety
    ///
    /// vCPU-scope fields include L2 VMCS fields (EPT pointers, MSR and I/O bitmaps, VAPIC
    /// page addresses) and controls that decide what an L2 VM can reach. The caller ensures
    /// the write keeps every mapping and guest-state invariant the program relies on.
    #[inline]
    #[doc(alias = "TDG.VP.WR")]
    pub unsafe fn vp_wr(&mut self, field: FieldId, value: u64, mask: u64) -> Result<u64> {
        let mut regs = Regs {
            rdx: field.check_single_element()?.raw(),
            r8: value,
            r9: field.check_write_mask(mask)?,
            ..Regs::ZERO
        };
        // SAFETY: the caller vouches for the field write.
        Status::check(unsafe { self.call(Leaf::TdgVpWr, 0, &mut regs) })?;
        Ok(regs.r8)
    }

    /// Enters L2 VM `vm` with the registers of the L2_ENTER_GUEST_STATE at `state`, and
    /// returns when L2 exits to L1.
    ///
    /// Leaf 25. Inputs: RCX bits 1:0 INVEPT type, bits 53:52 VM; RDX GPA of
    /// [`L2EnterGuestState`](crate::abi::l2::L2EnterGuestState) (256-aligned, private).
    /// Outputs: see [`L2Exit`]; the L2 registers are written back to the buffer. Since
    /// module 1.5 (TD partitioning).
    ///
    /// # Errors
    ///
    /// `state` not 256-aligned; [`Error::Status`](crate::Error::Status).
    ///
    /// # Safety
    ///
    /// The L2 VM runs with the mappings L1 gave it and may write any memory those allow;
    /// `state` must be a private GPA of a buffer the module may read and overwrite, not
    /// aliased by live Rust references, until the call returns.
    #[inline]
    #[doc(alias = "TDG.VP.ENTER")]
    pub unsafe fn vp_enter(
        &mut self,
        vm: L2Vm,
        invept: InveptType,
        state: GuestPhysAddr,
    ) -> Result<VpEnterOutcome> {
        let state = check_address("L2_ENTER_GUEST_STATE GPA", state.raw(), 52, 256)?;
        let mut regs = Regs {
            rcx: invept as u64 | vm.rcx_bits(),
            rdx: state,
            ..Regs::ZERO
        };
        // SAFETY: the caller upholds the L2 entry contract above.
        let status = Status::check(unsafe { self.call(Leaf::TdgVpEnter, 0, &mut regs) })?;
        if status.is(StatusCode::PendingInterrupt) {
            return Ok(VpEnterOutcome::PendingInterrupt(status));
        }
        let kind = if status.is_success() {
            L2ExitKind::Exit
        } else if status.is(StatusCode::L2ExitHostRoutedAsync) {
            L2ExitKind::HostRoutedAsync
        } else if status.is(StatusCode::L2ExitHostRoutedTdvmcall) {
            L2ExitKind::HostRoutedTdvmcall
        } else if status.is(StatusCode::L2ExitPendingInterrupt) {
            L2ExitKind::PendingInterrupt
        } else {
            L2ExitKind::Other(status.code())
        };
        Ok(VpEnterOutcome::Exited(L2Exit {
            status,
            kind,
            exit_reason: ExitReason::from_raw(status.details_l2()),
            exit_qualification: regs.rcx,
            gla: regs.rdx,
            cs: SegmentDetails {
                selector: regs.rsi as u16,
                access_rights: (regs.rsi >> 16) as u16,
                limit: hi(regs.rsi),
            },
            cs_base: regs.rdi,
            gpa: regs.r8,
            interruption_info: lo(regs.r9),
            interruption_error_code: hi(regs.r9),
            idt_vectoring_info: lo(regs.r10),
            idt_vectoring_error_code: hi(regs.r10),
            instruction_info: lo(regs.r11),
            instruction_length: hi(regs.r11),
            cpl: (regs.r12 & 3) as u8,
            extended_exit_qualification: regs.r13,
        }))
    }

    /// Invalidates cached EPT translations of the L2 VMs in `vms`.
    ///
    /// Leaf 26. Inputs: RCX VM bitmap (bit 0 zero). Outputs: none. Since module 1.5 (TD
    /// partitioning). Safe: invalidation only drops cached translations.
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status) (for example a VM that does not exist).
    #[inline]
    #[doc(alias = "TDG.VP.INVEPT")]
    pub fn vp_invept(&mut self, vms: L2VmSet) -> Result<()> {
        let mut regs = Regs {
            rcx: vms.raw(),
            ..Regs::ZERO
        };
        // SAFETY: invalidating translations cannot make memory reachable.
        Status::check(unsafe { self.call(Leaf::TdgVpInvept, 0, &mut regs) })?;
        Ok(())
    }

    /// Invalidates cached linear translations of one GLA range of L2 VM `vm`.
    ///
    /// Leaf 27. Inputs: RCX bit 0 = 0 (single entry), bits 53:52 VM; RDX the GLA entry.
    /// Outputs: none. Since module 1.5 (TD partitioning).
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status); `TDX_GLA_NOT_CANONICAL`.
    #[inline]
    #[doc(alias = "TDG.VP.INVVPID")]
    pub fn vp_invvpid(&mut self, vm: L2Vm, range: GlaRange) -> Result<()> {
        let mut regs = Regs {
            rcx: vm.rcx_bits(),
            rdx: range.raw(),
            ..Regs::ZERO
        };
        // SAFETY: invalidating translations cannot make memory reachable.
        Status::check(unsafe { self.call(Leaf::TdgVpInvvpid, 0, &mut regs) })?;
        Ok(())
    }

    /// Invalidates cached linear translations of L2 VM `vm` for every entry of a GLA list
    /// page; returns the updated GLA_LIST_INFO (RDX).
    ///
    /// Leaf 27, list mode. Inputs: RCX bit 0 = 1, bits 53:52 VM; RDX GLA_LIST_INFO.
    /// Outputs: RDX updated GLA_LIST_INFO. The module reads the list page only. Since
    /// module 1.5 (TD partitioning).
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDG.VP.INVVPID")]
    pub fn vp_invvpid_list(&mut self, vm: L2Vm, list: GlaListInfo) -> Result<GlaListInfo> {
        let mut regs = Regs {
            rcx: 1 | vm.rcx_bits(),
            rdx: list.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the module only reads the list page and drops cached translations.
        Status::check(unsafe { self.call(Leaf::TdgVpInvvpid, 0, &mut regs) })?;
        Ok(GlaListInfo(regs.rdx))
    }
}

#[cfg(test)]
mod tests {
    // Every unsafe block in these tests calls a wrapper over the recording backend of
    // `guest::testing`: no instruction executes, no memory is touched.
    #![allow(clippy::undocumented_unsafe_blocks)]

    use super::*;
    use crate::abi::MetadataRead;
    use crate::error::{Error, InvalidReason};
    use crate::guest::testing::*;

    const ERR: u64 = 0xC000_0100_0000_0002;

    #[test]
    fn vp_info_encoding() {
        let out = |r: &mut Regs| {
            poison(r);
            r.rcx = 52;
            r.rdx = 1 << 28 | 1 << 40;
            r.r8 = 8 << 32 | 3;
            r.r9 = 2;
            r.r10 = 1;
        };
        let (info, log) = run(&[(0, &out)], |g| g.vp_info());
        let info = info.unwrap();
        assert_eq!(log.only().rax, 1);
        assert_eq!(log.only().regs, Regs::ZERO);
        assert_eq!(info.gpaw, 52);
        assert_eq!(info.shared_bit(), 1 << 51);
        assert_eq!(info.attributes.bits(), 1 << 28 | 1 << 40);
        assert!(info.attributes.contains(Attributes::SEPT_VE_DISABLE));
        assert_eq!((info.num_vcpus, info.max_vcpus, info.vcpu_index), (3, 8, 2));
        assert!(info.sys_rd_available);
        let (err, _) = run(&[(Status::TDCALL_UD.raw(), &nothing)], |g| g.vp_info());
        assert_eq!(err, Err(Error::Status(Status::TDCALL_UD)));
    }

    #[test]
    fn veinfo_encoding() {
        let out = |r: &mut Regs| {
            poison(r);
            r.rcx = 48;
            r.rdx = 0x83;
            r.r8 = 0x7000;
            r.r9 = 0x8000;
            r.r10 = 0x55 << 32 | 3;
        };
        let (info, log) = run(&[(0, &out)], |g| g.vp_veinfo_get());
        assert_eq!(log.only().rax, 3);
        assert_eq!(
            info.unwrap(),
            VeInfo {
                exit_reason: ExitReason::from_raw(48),
                exit_qualification: 0x83,
                gla: 0x7000,
                gpa: 0x8000,
                instruction_length: 3,
                instruction_info: 0x55
            }
        );
        let (err, _) = run(&[(0xC000_0704_0000_0000, &nothing)], |g| g.vp_veinfo_get());
        let Err(Error::Status(status)) = err else {
            panic!()
        };
        assert!(is_no_valid_ve_info(status));
    }

    #[test]
    fn cpuidve_encoding() {
        for (sup, user, rcx) in [
            (false, false, 0),
            (true, false, 1),
            (false, true, 2),
            (true, true, 3),
        ] {
            let (r, log) = run(&[(0, &nothing)], |g| {
                g.vp_cpuidve_set(CpuidVe {
                    supervisor: sup,
                    user,
                })
            });
            assert_eq!(r, Ok(()));
            assert_eq!(log.only().rax, 5);
            assert_eq!(log.only().regs, Regs { rcx, ..Regs::ZERO });
        }
    }

    #[test]
    fn vp_rd_wr_encoding() {
        let field = 0xA020_0002_0000_0002;
        let out = |r: &mut Regs| {
            r.r8 = 0x42;
            r.rdx = 0xA020_0002_0000_0003;
        };
        let (read, log) = run(&[(0, &out)], |g| g.vp_rd(id(field)));
        assert_eq!(log.only().rax, 9);
        assert_eq!(
            log.only().regs,
            Regs {
                rdx: field,
                ..Regs::ZERO
            }
        );
        assert_eq!(
            read,
            Ok(MetadataRead {
                value: 0x42,
                next: Some(id(0xA020_0002_0000_0003)),
                status: Status::SUCCESS
            })
        );
        // Failure: the module set RDX to -1 and R8 to 0 before failing; the status comes back whole.
        let fail = |r: &mut Regs| {
            r.rdx = u64::MAX;
            r.r8 = 0;
        };
        let (read, _) = run(&[(ERR, &fail)], |g| g.vp_rd(id(field)));
        assert_eq!(read, Err(Error::Status(Status::from_raw(ERR))));
        // The null field ID returns the first field with a non-error status.
        let first = |r: &mut Regs| {
            r.rdx = 0x1020_0003_0000_0000;
            r.r8 = 0;
        };
        let (read, log) = run(&[(0x0000_0C0B_0000_0000, &first)], |g| g.vp_rd(NULL));
        assert_eq!(log.only().regs.rdx, NULL.raw());
        let read = read.unwrap();
        assert!(read.is_first_field_id());
        assert_eq!(read.next, Some(id(0x1020_0003_0000_0000)));
        // End of context.
        let end = |r: &mut Regs| r.rdx = u64::MAX;
        let (read, _) = run(&[(0, &end)], |g| g.vp_rd(id(field)));
        assert_eq!(read.unwrap().next, None);
        // Malformed ID: nothing runs.
        let (read, log) = run(&[], |g| g.vp_rd(id(field | 1 << 30)));
        assert!(
            matches!(read, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::MalformedFieldId { .. }))
        );
        assert_eq!(log.len(), 0);

        let old = |r: &mut Regs| r.r8 = 0x99;
        let (old_value, log) = run(&[(0, &old)], |g| unsafe { g.vp_wr(id(field), 0x11, 0xFF) });
        assert_eq!(old_value, Ok(0x99));
        assert_eq!(log.only().rax, 10);
        assert_eq!(
            log.only().regs,
            Regs {
                rdx: field,
                r8: 0x11,
                r9: 0xFF,
                ..Regs::ZERO
            }
        );
        let (r, log) = run(&[], |g| unsafe { g.vp_wr(NULL, 0, 0) });
        assert!(r.is_err());
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn vp_enter_encoding() {
        let state = GuestPhysAddr::aligned(0x5500, 256).unwrap();
        let out = |r: &mut Regs| {
            poison(r);
            r.rcx = 0x181;
            r.rdx = 0x7FFF_0000;
            r.rsi = 0xFFFF_FFFF << 32 | 0xA09B << 16 | 0x10;
            r.rdi = 0x1234;
            r.r8 = 0x9000;
            r.r9 = 0xE << 32 | 0x8000_0B0E;
            r.r10 = 0x3 << 32 | 0x8000_0306;
            r.r11 = 2 << 32 | 0x77;
            r.r12 = 0xFFFF_FFFF_FFFF_FFF3;
            r.r13 = 0x31;
        };
        let status = 0x0000_1101_0000_004D;
        let (outcome, log) = run(&[(status, &out)], |g| unsafe {
            g.vp_enter(L2Vm::VM2, InveptType::SingleContextNoEpxeFlush, state)
        });
        assert_eq!(log.only().rax, 25);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 2 << 52 | 2,
                rdx: 0x5500,
                ..Regs::ZERO
            }
        );
        let VpEnterOutcome::Exited(exit) = outcome.unwrap() else {
            panic!()
        };
        assert_eq!(exit.status.raw(), status);
        assert_eq!(exit.kind, L2ExitKind::HostRoutedTdvmcall);
        assert_eq!(exit.exit_reason.raw(), 0x4D);
        assert_eq!(exit.exit_qualification, 0x181);
        assert_eq!(exit.gla, 0x7FFF_0000);
        assert_eq!(
            exit.cs,
            SegmentDetails {
                selector: 0x10,
                access_rights: 0xA09B,
                limit: 0xFFFF_FFFF
            }
        );
        assert_eq!(exit.cs_base, 0x1234);
        assert_eq!(exit.gpa, 0x9000);
        assert_eq!(
            (exit.interruption_info, exit.interruption_error_code),
            (0x8000_0B0E, 0xE)
        );
        assert_eq!(
            (exit.idt_vectoring_info, exit.idt_vectoring_error_code),
            (0x8000_0306, 3)
        );
        assert_eq!((exit.instruction_info, exit.instruction_length), (0x77, 2));
        assert_eq!(exit.cpl, 3);
        assert_eq!(exit.extended_exit_qualification, 0x31);

        let kinds = [
            (0u64, L2ExitKind::Exit),
            (0x0000_1100_0000_0000, L2ExitKind::HostRoutedAsync),
            (0x0000_1102_0000_0000, L2ExitKind::PendingInterrupt),
        ];
        for (st, kind) in kinds {
            let (o, _) = run(&[(st | 12, &nothing)], |g| unsafe {
                g.vp_enter(L2Vm::VM1, InveptType::None, state)
            });
            let VpEnterOutcome::Exited(exit) = o.unwrap() else {
                panic!()
            };
            assert_eq!((exit.kind, exit.exit_reason.raw()), (kind, 12));
        }
        let (o, _) = run(&[(0x0000_1120_0000_0000, &nothing)], |g| unsafe {
            g.vp_enter(L2Vm::VM1, InveptType::Type3, state)
        });
        assert_eq!(
            o,
            Ok(VpEnterOutcome::PendingInterrupt(Status::from_raw(
                0x0000_1120_0000_0000
            )))
        );
        let (o, _) = run(&[(ERR, &nothing)], |g| unsafe {
            g.vp_enter(L2Vm::VM1, InveptType::None, state)
        });
        assert_eq!(o, Err(Error::Status(Status::from_raw(ERR))));
        let misaligned = GuestPhysAddr::new(0x5580).unwrap();
        let (o, log) = run(&[], |g| unsafe {
            g.vp_enter(L2Vm::VM1, InveptType::None, misaligned)
        });
        assert!(
            matches!(o, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::Misaligned { required: 256, .. }))
        );
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn invept_and_invvpid_encoding() {
        let (r, log) = run(&[(0, &nothing)], |g| {
            g.vp_invept(L2VmSet::VM1.union(L2VmSet::VM3))
        });
        assert_eq!(r, Ok(()));
        assert_eq!(log.only().rax, 26);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 0b1010,
                ..Regs::ZERO
            }
        );
        assert!(L2VmSet::from_raw(1).is_err());
        assert!(L2VmSet::from_raw(1 << 4).is_err());
        assert_eq!(L2VmSet::from_raw(0b110).unwrap().raw(), 0b110);

        let range = GlaRange::new(0xFFFF_8000_0000_0000, 15).unwrap();
        let (r, log) = run(&[(0, &nothing)], |g| g.vp_invvpid(L2Vm::VM3, range));
        assert_eq!(r, Ok(()));
        assert_eq!(log.only().rax, 27);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 3 << 52,
                rdx: 0xFFFF_8000_0000_000F,
                ..Regs::ZERO
            }
        );
        assert!(GlaRange::new(0x1001, 0).is_err());
        assert!(GlaRange::new(0x1000, 0x1000).is_err());

        let page = GuestPhysAddr::page(0x3000).unwrap();
        let list = GlaListInfo::new(page, 5, 512).unwrap();
        assert_eq!(list.raw(), 512 << 52 | 0x3000 | 5);
        let out = |r: &mut Regs| r.rdx = 0x3000 | 7 | 10 << 52;
        let (r, log) = run(&[(0, &out)], |g| g.vp_invvpid_list(L2Vm::VM1, list));
        let updated = r.unwrap();
        assert_eq!((updated.first_entry(), updated.count()), (7, 10));
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 1 << 52 | 1,
                rdx: list.raw(),
                ..Regs::ZERO
            }
        );
        assert!(GlaListInfo::new(page, 512, 1).is_err());
        assert!(GlaListInfo::new(page, 0, 513).is_err());
        assert!(GlaListInfo::new(GuestPhysAddr::new(0x3008).unwrap(), 0, 1).is_err());
        let (r, _) = run(&[(0xC000_1160_0000_0000, &nothing)], |g| {
            g.vp_invvpid(L2Vm::VM1, range)
        });
        assert_eq!(
            r,
            Err(Error::Status(Status::from_raw(0xC000_1160_0000_0000)))
        );
    }
}
