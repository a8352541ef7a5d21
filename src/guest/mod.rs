//! Typed wrappers for every TDCALL leaf (guest to TDX module) and the GHCI TDG.VP.VMCALL
//! sub-functions (guest to VMM).
//!
//! [`Guest`] holds a [`Backend`]; every wrapper builds a [`Regs`], derives RAX and the
//! [`CallKind`](crate::call::CallKind) from the [leaf table](crate::leaf), and goes through
//! the one private `call` method. The wrappers are grouped by the ABI's chapters:
//!
//! | module | leaves |
//! |---|---|
//! | [`vp`] | TDG.VP.INFO, TDG.VP.VEINFO.GET, TDG.VP.CPUIDVE.SET, TDG.VP.RD, TDG.VP.WR, and the TD-partitioning leaves TDG.VP.ENTER, TDG.VP.INVEPT, TDG.VP.INVVPID |
//! | [`vm`] | TDG.VM.RD (versions 0 and 1), TDG.VM.WR |
//! | [`mem`] | TDG.MEM.PAGE.ACCEPT, TDG.MEM.PAGE.ATTR.RD, TDG.MEM.PAGE.ATTR.WR |
//! | [`mr`] | TDG.MR.RTMR.EXTEND, TDG.MR.REPORT, TDG.MR.VERIFYREPORT |
//! | [`sys`] | TDG.SYS.RD, TDG.SYS.RDALL |
//! | [`servtd`] | TDG.SERVTD.RD, TDG.SERVTD.WR |
//! | [`tdvmcall`] | TDG.VP.VMCALL: the GHCI sub-functions, vendor calls, and a raw call |
//!
//! # Results and errors
//!
//! - Bad input is rejected with [`Error::InvalidArgument`] before any instruction runs.
//! - A status with bit 63 set becomes [`Error::Status`] with all 64 bits, including the
//!   crate's software codes for #UD/#GP on TDCALL. A failing TDCALL is never a panic.
//! - Non-error statuses other than `TDX_SUCCESS` that the ABI defines for a leaf are part of
//!   the typed result (for example [`mem::AcceptOutcome::AlreadyAccepted`] and
//!   [`FieldRead::status`]).
//! - Where the module writes outputs on a failure path (TDG.SERVTD.RD/WR: the target TD's
//!   current UUID; TDG.MEM.PAGE.ATTR.WR: the attributes), the wrapper returns
//!   [`DetailedError`], which carries the status plus those outputs and converts into
//!   [`Error`] with `?`.
//! - [`Guest::call_raw`] is the escape hatch: any guest leaf with any registers, returning
//!   the status and every output register.
//!
//! # Safety choices
//!
//! A wrapper is `unsafe fn` when memory safety depends on the caller: TDG.MEM.PAGE.ACCEPT
//! (the module zeroes and maps a page), TDG.MR.REPORT and TDG.SYS.RDALL (the module writes
//! caller memory named by a GPA), TDG.MEM.PAGE.ATTR.WR (changes L2 mappings), TDG.VP.ENTER
//! (runs an L2 vCPU over memory it can write), TDG.VM.WR, TDG.VP.WR and TDG.SERVTD.WR
//! (metadata writes, some of which govern memory: L2 VMCS and TD controls; the field ID is
//! not restricted to harmless fields), and the TDVMCALLs that change the private/shared
//! mapping or hand buffers to the VMM (MapGPA, GetQuote, Service, vendor and raw calls).
//! Leaves that only read caller memory into a measurement (TDG.MR.RTMR.EXTEND,
//! TDG.MR.VERIFYREPORT), only read or flush translations, or only return values are safe.

pub mod mem;
pub mod mr;
pub mod servtd;
pub mod sys;
pub mod tdvmcall;
pub mod vm;
pub mod vp;

use crate::call::Backend;
#[cfg(target_arch = "x86_64")]
use crate::call::Native;
use crate::error::{Error, InvalidArgument, InvalidReason, Result};
use crate::leaf::{Leaf, Side};
use crate::regs::Regs;
use crate::status::Status;

#[cfg(target_arch = "x86_64")]
/// The guest side of TDX: TDCALL leaves and TDG.VP.VMCALL, over a [`Backend`] (by default
/// the real instruction, [`Native`]).
#[derive(Debug)]
pub struct Guest<B: Backend = Native> {
    backend: B,
}

#[cfg(not(target_arch = "x86_64"))]
/// The guest side of TDX: TDCALL leaves and TDG.VP.VMCALL, over a [`Backend`].
#[derive(Debug)]
pub struct Guest<B: Backend> {
    backend: B,
}

#[cfg(target_arch = "x86_64")]
impl Guest<Native> {
    /// A guest over the real TDCALL instruction ([`Native::new`], which installs the fault
    /// handler in user space).
    #[inline]
    pub fn native() -> Guest<Native> {
        Guest::new(Native::new())
    }
}

impl<B: Backend> Guest<B> {
    /// A guest over `backend`.
    #[inline]
    pub const fn new(backend: B) -> Guest<B> {
        Guest { backend }
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

    /// The one path to the instruction: RAX and the thunk come from the leaf table.
    ///
    /// # Safety
    ///
    /// The caller upholds the memory-safety contract of `leaf` with these registers (see the
    /// typed wrapper of that leaf).
    #[inline]
    unsafe fn call(&mut self, leaf: Leaf, version: u8, regs: &mut Regs) -> Status {
        debug_assert_eq!(leaf.side(), Side::Guest);
        let rax = leaf.rax_versioned(version);
        debug_assert!(rax.is_some(), "{leaf} has no version {version}");
        // SAFETY: forwarded; the caller upholds the leaf's contract.
        unsafe {
            self.backend
                .call(leaf.call_kind(), rax.unwrap_or(leaf.rax()), regs)
        }
    }

    /// Any guest leaf with caller-built registers: the raw form behind every typed wrapper.
    ///
    /// Returns the status whatever it is (error or not); `regs` holds every output register
    /// the module (or, for TDG.VP.VMCALL, the VMM) wrote.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `leaf` is a host leaf or does not accept `version`;
    /// nothing executes then.
    ///
    /// # Safety
    ///
    /// The registers are passed unchecked: the caller upholds the memory-safety contract of
    /// the leaf, as documented on its typed wrapper (pages the module writes or maps, L2
    /// entry, VMM access to shared buffers).
    #[inline]
    pub unsafe fn call_raw(&mut self, leaf: Leaf, version: u8, regs: &mut Regs) -> Result<Status> {
        if leaf.side() != Side::Guest {
            return Err(invalid(
                "leaf",
                InvalidReason::OutOfRange {
                    value: leaf.number() as u64,
                    min: 0,
                    max: 0,
                },
            ));
        }
        if version > leaf.max_version() {
            return Err(invalid(
                "leaf version",
                InvalidReason::OutOfRange {
                    value: version as u64,
                    min: 0,
                    max: leaf.max_version() as u64,
                },
            ));
        }
        // SAFETY: the caller upholds the leaf's contract.
        Ok(unsafe { self.call(leaf, version, regs) })
    }
}

/// `Err(Error::Status)` when bit 63 is set, else the (possibly non-zero) status.
#[inline]
pub(crate) fn check(status: Status) -> Result<Status> {
    if status.is_error() {
        Err(Error::Status(status))
    } else {
        Ok(status)
    }
}

#[inline]
pub(crate) fn invalid(argument: &'static str, reason: InvalidReason) -> Error {
    Error::InvalidArgument(InvalidArgument { argument, reason })
}

/// Rejects `value` when any bit of `reserved` is set.
#[inline]
pub(crate) fn check_reserved(argument: &'static str, value: u64, reserved: u64) -> Result<u64> {
    if value & reserved != 0 {
        return Err(invalid(
            argument,
            InvalidReason::ReservedBitsSet {
                value,
                bits: value & reserved,
            },
        ));
    }
    Ok(value)
}

/// Rejects `value` outside `min..=max`.
#[inline]
pub(crate) fn check_range(argument: &'static str, value: u64, min: u64, max: u64) -> Result<u64> {
    if value < min || value > max {
        return Err(invalid(
            argument,
            InvalidReason::OutOfRange { value, min, max },
        ));
    }
    Ok(value)
}

/// Status codes (bits 63:32) the guest wrappers tell apart. Values from the module's
/// `tdx_error_codes_defs.h` (1.5.01).
pub(crate) mod code {
    pub const OPERAND_BUSY: u64 = 0x8000_0200_0000_0000;
    pub const PAGE_ALREADY_ACCEPTED: u64 = 0x0000_0B0A_0000_0000;
    pub const PAGE_SIZE_MISMATCH: u64 = 0xC000_0B0B_0000_0000;
    pub const METADATA_FIRST_FIELD_ID_IN_CONTEXT: u64 = 0x0000_0C0B_0000_0000;
    pub const TARGET_UUID_UPDATED: u64 = 0xC000_0D08_0000_0000;
    pub const NO_VALID_VE_INFO: u64 = 0xC000_0704_0000_0000;
    pub const PENDING_INTERRUPT: u64 = 0x0000_1120_0000_0000;
    pub const L2_EXIT_HOST_ROUTED_ASYNC: u64 = 0x0000_1100_0000_0000;
    pub const L2_EXIT_HOST_ROUTED_TDVMCALL: u64 = 0x0000_1101_0000_0000;
    pub const L2_EXIT_PENDING_INTERRUPT: u64 = 0x0000_1102_0000_0000;

    /// Whether `status` has the code (bits 63:32) of `code`.
    #[inline]
    pub fn is(status: crate::status::Status, code: u64) -> bool {
        status.code() == (code >> 32) as u32
    }
}

/// The "no field" metadata field ID (−1): no next field.
pub const FIELD_ID_NONE: u64 = u64::MAX;

/// The null field ID of a read: all ones except the context code (bits 54:52). Reading it
/// returns the first field ID of the context, with status
/// `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT`.
pub const NULL_FIELD_ID: u64 = !(0b111 << 52);

/// Field-ID bits that must be zero for a single-element access: reserved_0 (31:24),
/// LAST_ELEMENT (37:34), LAST_FIELD (46:38), reserved_1 (49:47), reserved_2 (55) and
/// reserved_3 (62). Element size, INC_SIZE, WRITE_MASK_VALID and the context code are
/// ignored by the module.
const FIELD_ID_MUST_BE_ZERO: u64 = 0xFF << 24 | 0xFFFF << 34 | 1 << 55 | 1 << 62;

/// Checks a metadata field ID for a single-element access; `allow_null` accepts
/// [`NULL_FIELD_ID`] (reads that can return the first field of a context).
///
/// The typed `FieldId` of the metadata module replaces this check once merged.
pub(crate) fn check_field_id(value: u64, allow_null: bool) -> Result<u64> {
    if allow_null && value | 0b111 << 52 == u64::MAX {
        return Ok(value);
    }
    if value & FIELD_ID_MUST_BE_ZERO != 0 {
        return Err(invalid(
            "metadata field ID",
            InvalidReason::MalformedFieldId { value },
        ));
    }
    Ok(value)
}

/// Decodes a next-field-ID output: −1 means none.
#[inline]
pub(crate) const fn next_field(raw: u64) -> Option<u64> {
    if raw == FIELD_ID_NONE {
        None
    } else {
        Some(raw)
    }
}

/// The result of a metadata read (TDG.VM.RD, TDG.VP.RD, TDG.SYS.RD, TDG.SERVTD.RD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldRead {
    /// The field's value (R8); 0 when the read named the null field ID.
    pub value: u64,
    /// The next field ID in the context (RDX), `None` at the end (−1) or where the leaf
    /// version returns none (TDG.VM.RD version 0). After a read of [`NULL_FIELD_ID`], the
    /// first field ID of the context.
    pub next: Option<u64>,
    /// The completion status: `TDX_SUCCESS`, or the non-error
    /// `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT` after a read of the null field ID.
    pub status: Status,
}

impl FieldRead {
    /// Whether this read named the null field ID and `next` is the first field of the
    /// context (status `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT`).
    #[inline]
    pub fn is_first_field_id(&self) -> bool {
        code::is(self.status, code::METADATA_FIRST_FIELD_ID_IN_CONTEXT)
    }
}

/// The failure of a leaf whose failure path carries outputs: the status (all 64 bits) plus
/// the registers the module wrote, decoded as `D`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DetailedError<D> {
    /// Rejected before any instruction ran.
    InvalidArgument(InvalidArgument),
    /// The leaf returned an error status.
    Status {
        /// The status, every bit kept.
        status: Status,
        /// The outputs the module wrote on this failure path.
        details: D,
    },
}

impl<D> DetailedError<D> {
    /// The status, when the leaf ran and failed.
    #[inline]
    pub fn status(&self) -> Option<Status> {
        match self {
            DetailedError::Status { status, .. } => Some(*status),
            DetailedError::InvalidArgument(_) => None,
        }
    }
}

impl<D> From<DetailedError<D>> for Error {
    fn from(error: DetailedError<D>) -> Error {
        match error {
            DetailedError::InvalidArgument(invalid) => Error::InvalidArgument(invalid),
            DetailedError::Status { status, .. } => Error::Status(status),
        }
    }
}

impl<D> DetailedError<D> {
    /// Converts an argument error (the only kind produced before a call).
    pub(crate) fn from_invalid(error: Error) -> DetailedError<D> {
        match error {
            Error::InvalidArgument(invalid) => DetailedError::InvalidArgument(invalid),
            _ => unreachable!("only argument checks run before the call"),
        }
    }
}

/// An L2 VM index (1 to 3) of TD partitioning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct L2Vm(u8);

impl L2Vm {
    /// L2 VM 1.
    pub const VM1: L2Vm = L2Vm(1);
    /// L2 VM 2.
    pub const VM2: L2Vm = L2Vm(2);
    /// L2 VM 3.
    pub const VM3: L2Vm = L2Vm(3);

    /// L2 VM `index`, which must be 1, 2 or 3.
    pub fn new(index: u8) -> Result<L2Vm> {
        check_range("L2 VM index", index as u64, 1, 3)?;
        Ok(L2Vm(index))
    }

    /// The index, 1 to 3.
    #[inline]
    pub const fn index(self) -> u8 {
        self.0
    }

    /// The index placed in bits 53:52, where TDG.VP.ENTER and TDG.VP.INVVPID take it.
    #[inline]
    pub(crate) const fn rcx_bits(self) -> u64 {
        (self.0 as u64) << 52
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A recording backend for the wrapper tests.

    use super::Guest;
    use crate::call::{Backend, CallKind, FnBackend};
    use crate::regs::Regs;
    use crate::status::Status;

    /// One call a wrapper made.
    #[derive(Clone, Copy, Debug)]
    pub struct Recorded {
        pub kind: CallKind,
        pub rax: u64,
        pub regs: Regs,
    }

    /// What the other side answers: a status and the edits to the registers.
    pub type Reply<'a> = (u64, &'a dyn Fn(&mut Regs));

    /// Up to 16 calls.
    #[derive(Debug)]
    pub struct Log {
        calls: [Option<Recorded>; 16],
        len: usize,
    }

    impl Log {
        pub fn calls(&self) -> impl Iterator<Item = &Recorded> {
            self.calls[..self.len].iter().flatten()
        }
        pub fn len(&self) -> usize {
            self.len
        }
        /// The single call; panics unless exactly one call was made.
        pub fn only(&self) -> Recorded {
            assert_eq!(self.len, 1, "expected exactly one call");
            self.calls[0].unwrap()
        }
        pub fn get(&self, i: usize) -> Recorded {
            self.calls[i].unwrap()
        }
    }

    /// Runs `body` against a backend that records each call and answers with `replies` in
    /// order; a call beyond the replies panics (so rejection tests prove nothing ran).
    pub fn run<R>(
        replies: &[Reply<'_>],
        body: impl FnOnce(&mut Guest<&mut dyn Backend>) -> R,
    ) -> (R, Log) {
        let mut log = Log {
            calls: [None; 16],
            len: 0,
        };
        let result = {
            let mut backend = FnBackend(|kind: CallKind, rax: u64, regs: &mut Regs| {
                let n = log.len;
                assert!(
                    n < replies.len(),
                    "unexpected call #{n}: rax {rax:#x} {regs:x?}"
                );
                log.calls[n] = Some(Recorded {
                    kind,
                    rax,
                    regs: *regs,
                });
                log.len += 1;
                let (status, edit) = replies[n];
                edit(regs);
                Status::from_raw(status)
            });
            let mut guest: Guest<&mut dyn Backend> = Guest::new(&mut backend);
            body(&mut guest)
        };
        (result, log)
    }

    /// A reply that writes nothing.
    pub fn nothing(_: &mut Regs) {}

    /// A register set with a distinct, recognisable value in every field, so a wrapper that
    /// reads the wrong output register gets a wrong value.
    pub fn poison(regs: &mut Regs) {
        *regs = Regs {
            rcx: 0xC1C1_0000_0000_00C1,
            rdx: 0xD1D1_0000_0000_00D1,
            r8: 0x0808_0000_0000_0008,
            r9: 0x0909_0000_0000_0009,
            r10: 0x1010_0000_0000_0010,
            r11: 0x1111_0000_0000_0011,
            r12: 0x1212_0000_0000_0012,
            r13: 0x1313_0000_0000_0013,
            r14: 0x1414_0000_0000_0014,
            r15: 0x1515_0000_0000_0015,
            rbx: 0xB1B1_0000_0000_00B1,
            rdi: 0xD7D7_0000_0000_00D7,
            rsi: 0x5151_0000_0000_0051,
        };
    }
}

#[cfg(test)]
mod tests {
    // Every unsafe block in these tests calls a wrapper over the recording backend of
    // `guest::testing`: no instruction executes, no memory is touched.
    #![allow(clippy::undocumented_unsafe_blocks)]

    use super::testing::*;
    use super::*;
    use crate::abi::{GuestPhysAddr, PageLevel};
    use crate::call::CallKind;

    /// Calls the typed wrapper of `leaf` once against a backend that answers success with
    /// all-zero outputs (and, for the structure-returning leaves, plausible ones), and
    /// returns what went out. Adding a guest leaf to the table without a wrapper here makes
    /// the coverage test fail.
    fn call_wrapper_of(leaf: Leaf) -> Recorded {
        let page = GuestPhysAddr::page(0x1000).unwrap();
        let field = 0x1110_0003_0000_0000; // TD ATTRIBUTES
        let ok: &[Reply<'_>] = &[(0, &nothing)];
        let (_, log) = run(ok, |g| {
            // SAFETY (all unsafe wrappers below): the backend is a recorder; nothing runs.
            match leaf {
                Leaf::TdgVpVmcall => g.tdvmcall_hlt(false).map(drop).map_err(drop),
                Leaf::TdgVpInfo => g.vp_info().map(drop).map_err(drop),
                Leaf::TdgMrRtmrExtend => g
                    .mr_rtmr_extend(GuestPhysAddr::aligned(0x40, 64).unwrap(), 2)
                    .map_err(drop),
                Leaf::TdgVpVeinfoGet => g.vp_veinfo_get().map(drop).map_err(drop),
                Leaf::TdgMrReport => unsafe {
                    g.mr_report(
                        GuestPhysAddr::aligned(0x400, 1024).unwrap(),
                        GuestPhysAddr::aligned(0x40, 64).unwrap(),
                    )
                }
                .map_err(drop),
                Leaf::TdgVpCpuidveSet => g.vp_cpuidve_set(vp::CpuidVe::default()).map_err(drop),
                Leaf::TdgMemPageAccept => unsafe { g.mem_page_accept(page, PageLevel::Size4K) }
                    .map(drop)
                    .map_err(drop),
                Leaf::TdgVmRd => g.vm_rd_next(field).map(drop).map_err(drop),
                Leaf::TdgVmWr => unsafe { g.vm_wr(field, 0, 0) }.map(drop).map_err(drop),
                Leaf::TdgVpRd => g.vp_rd(field).map(drop).map_err(drop),
                Leaf::TdgVpWr => unsafe { g.vp_wr(field, 0, 0) }.map(drop).map_err(drop),
                Leaf::TdgSysRd => g.sys_rd(field).map(drop).map_err(drop),
                Leaf::TdgSysRdall => unsafe { g.sys_rdall(page, field) }.map(drop).map_err(drop),
                Leaf::TdgServtdRd => g
                    .servtd_rd(servtd::BindingHandle(0), field, servtd::TdUuid::default())
                    .map(drop)
                    .map_err(drop),
                Leaf::TdgServtdWr => unsafe {
                    g.servtd_wr(
                        servtd::BindingHandle(0),
                        field,
                        0,
                        0,
                        servtd::TdUuid::default(),
                    )
                }
                .map(drop)
                .map_err(drop),
                Leaf::TdgMrVerifyreport => g
                    .mr_verifyreport(GuestPhysAddr::aligned(0x100, 256).unwrap())
                    .map_err(drop),
                Leaf::TdgMemPageAttrRd => g.mem_page_attr_rd(page).map(drop).map_err(drop),
                Leaf::TdgMemPageAttrWr => unsafe {
                    g.mem_page_attr_wr(
                        page,
                        PageLevel::Size4K,
                        mem::L2Attributes::default(),
                        mem::L2AttrWriteMask::default(),
                    )
                }
                .map(drop)
                .map_err(drop),
                Leaf::TdgVpEnter => unsafe {
                    g.vp_enter(
                        L2Vm::VM1,
                        vp::InveptType::None,
                        GuestPhysAddr::aligned(0x100, 256).unwrap(),
                    )
                }
                .map(drop)
                .map_err(drop),
                Leaf::TdgVpInvept => g.vp_invept(vp::L2VmSet::VM1).map_err(drop),
                Leaf::TdgVpInvvpid => g
                    .vp_invvpid(L2Vm::VM1, vp::GlaRange::new(0x1000, 0).unwrap())
                    .map_err(drop),
                other => panic!("guest leaf {other} has no wrapper"),
            }
        });
        log.only()
    }

    #[test]
    fn every_guest_leaf_has_a_wrapper_with_the_right_rax_and_thunk() {
        let mut count = 0;
        for &leaf in Leaf::ALL.iter().filter(|l| l.side() == Side::Guest) {
            let call = call_wrapper_of(leaf);
            let expected_rax = if leaf == Leaf::TdgVmRd {
                leaf.rax_versioned(1).unwrap()
            } else {
                leaf.rax()
            };
            assert_eq!(call.rax, expected_rax, "{leaf}");
            assert_eq!(call.kind, leaf.call_kind(), "{leaf}");
            let expected_kind = if leaf == Leaf::TdgVpVmcall {
                CallKind::Tdvmcall
            } else {
                CallKind::Tdcall
            };
            assert_eq!(call.kind, expected_kind, "{leaf}");
            count += 1;
        }
        assert_eq!(count, 21);
    }

    #[cfg(feature = "std")]
    #[test]
    fn coverage_document_lists_every_guest_leaf_with_its_number() {
        let doc = include_str!("../../docs/coverage-guest.md");
        for leaf in Leaf::ALL.iter().filter(|l| l.side() == Side::Guest) {
            let row = doc
                .lines()
                .find(|line| line.starts_with(&std::format!("| {} |", leaf.spec_name())));
            let row = row.unwrap_or_else(|| panic!("{leaf} missing from docs/coverage-guest.md"));
            let cells: std::vec::Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(
                cells[2],
                std::format!("{}", leaf.number()),
                "{leaf}: number"
            );
            assert_eq!(
                cells[4],
                std::format!("{}", leaf.since()),
                "{leaf}: minimum version"
            );
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn coverage_document_lists_every_subfunction() {
        let doc = include_str!("../../docs/coverage-guest.md");
        for sub in tdvmcall::Subfunction::ALL {
            let number = if sub.number() >= 0x10000 {
                std::format!("{:#x}", sub.number())
            } else {
                std::format!("{}", sub.number())
            };
            let row = std::format!("| {} | {} |", sub.spec_name(), number);
            assert!(
                doc.lines().any(|line| line.starts_with(&row)),
                "{row} missing"
            );
        }
    }

    #[test]
    fn call_raw_checks_side_and_version_and_passes_everything() {
        let mut regs = Regs::ZERO;
        let (result, log) = run(&[], |g| unsafe {
            g.call_raw(Leaf::TdhVpEnter, 0, &mut regs)
        });
        assert!(matches!(result, Err(Error::InvalidArgument(_))));
        assert_eq!(log.len(), 0);
        let (result, log) = run(&[], |g| unsafe {
            g.call_raw(Leaf::TdgVpInfo, 1, &mut regs)
        });
        assert!(matches!(result, Err(Error::InvalidArgument(_))));
        assert_eq!(log.len(), 0);

        let mut regs = Regs::ZERO;
        poison(&mut regs);
        let input = regs;
        let (result, log) = run(
            &[(0xC000_0100_0000_0001, &|r: &mut Regs| r.r8 = 7)],
            |g| unsafe { g.call_raw(Leaf::TdgVmRd, 1, &mut regs) },
        );
        assert_eq!(result, Ok(Status::from_raw(0xC000_0100_0000_0001)));
        assert_eq!(regs.r8, 7);
        let call = log.only();
        assert_eq!(call.rax, 0x1_0007);
        assert_eq!(call.regs, input);
    }

    #[test]
    fn field_id_checks() {
        assert_eq!(
            check_field_id(0x1110_0003_0000_0000, false),
            Ok(0x1110_0003_0000_0000)
        );
        for bad in [1u64 << 24, 1 << 34, 1 << 46, 1 << 47, 1 << 55, 1 << 62] {
            assert_eq!(
                check_field_id(0x1110_0003_0000_0000 | bad, false),
                Err(invalid(
                    "metadata field ID",
                    InvalidReason::MalformedFieldId {
                        value: 0x1110_0003_0000_0000 | bad
                    }
                ))
            );
        }
        assert!(check_field_id(NULL_FIELD_ID, false).is_err());
        assert_eq!(check_field_id(NULL_FIELD_ID, true), Ok(NULL_FIELD_ID));
        assert_eq!(check_field_id(u64::MAX, true), Ok(u64::MAX));
    }

    #[test]
    fn l2_vm_range() {
        assert!(L2Vm::new(0).is_err());
        assert!(L2Vm::new(4).is_err());
        assert_eq!(L2Vm::new(3).unwrap().rcx_bits(), 3 << 52);
    }
}
