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
//!   [`MetadataRead::status`](crate::abi::MetadataRead::status)).
//! - Metadata field IDs are typed ([`FieldId`](crate::abi::FieldId)) and checked by it
//!   ([`FieldId::check_read`](crate::abi::FieldId::check_read) for reads, which accept the
//!   null ID, [`FieldId::check_single_element`](crate::abi::FieldId::check_single_element)
//!   for writes), the same rules as the host wrappers.
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
//!
//! # Examples
//!
//! Wrappers over any [`Backend`]: here a closure stands in for the TDX module, as a test
//! would; [`Guest::native`] issues the real TDCALL.
//!
//! ```
//! use tdxcall::call::{CallKind, FnBackend};
//! use tdxcall::guest::Guest;
//! use tdxcall::{Regs, Status};
//!
//! let module = FnBackend(|_kind: CallKind, _rax: u64, regs: &mut Regs| {
//!     regs.rcx = 48; // TDG.VP.INFO: GPAW 48
//!     regs.r8 = 1 << 32 | 1; // 1 vCPU of 1
//!     Status::SUCCESS
//! });
//! let mut guest = Guest::new(module);
//! let info = guest.vp_info()?;
//! assert_eq!((info.gpaw, info.max_vcpus), (48, 1));
//! assert_eq!(info.shared_bit(), 1 << 47);
//! # Ok::<(), tdxcall::Error>(())
//! ```

pub mod key;
pub mod mem;
pub mod mr;
pub mod servtd;
pub mod sys;
pub mod tdvmcall;
pub mod ve;
pub mod vm;
pub mod vp;

use crate::abi::check::invalid;
pub(crate) use crate::abi::check::{check_range, check_reserved};
use crate::call::Backend;
use crate::error::{Error, InvalidReason, Result};
use crate::leaf::{Leaf, Side};
use crate::regs::Regs;
use crate::status::Status;

crate::wrapper::wrapper_front! {
    /// The guest side of TDX: TDCALL leaves and TDG.VP.VMCALL.
    pub struct Guest for Guest, "TDCALL";
}

impl<B: Backend> Guest<B> {
    /// The one path to the instruction: RAX and the thunk come from the leaf table.
    ///
    /// # Safety
    ///
    /// The caller upholds the memory-safety contract of `leaf` with these registers (see the
    /// typed wrapper of that leaf).
    // Always inlined: with the leaf a constant, the table lookups (kind, set, RAX) and
    // the thunk dispatch fold away; out of line they are three table loads and a jump.
    #[inline(always)]
    unsafe fn call(&mut self, leaf: Leaf, version: u8, regs: &mut Regs) -> Status {
        if let Some(refusal) = self.refusal(leaf, version) {
            return refusal;
        }
        // SAFETY: forwarded; the caller upholds the leaf's contract. The leaf writes no
        // register outside its table set (tests/thunk_fit.rs).
        unsafe {
            self.backend.call_set(
                leaf.call_kind(),
                leaf.reg_set(),
                Self::rax(leaf, version),
                regs,
            )
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
            return Err(Error::from(invalid(
                "leaf",
                InvalidReason::OutOfRange {
                    value: leaf.number() as u64,
                    min: 0,
                    max: 0,
                },
            )));
        }
        if version > leaf.max_version() {
            return Err(Error::from(invalid(
                "leaf version",
                InvalidReason::OutOfRange {
                    value: version as u64,
                    min: 0,
                    max: leaf.max_version() as u64,
                },
            )));
        }
        // SAFETY: the caller upholds the leaf's contract. Caller-built registers may use
        // any register, so this is the full-struct call, never a narrow variant.
        Ok(unsafe {
            self.backend
                .call(leaf.call_kind(), Self::rax(leaf, version), regs)
        })
    }
}

pub use crate::error::{DetailedError, DetailedResult};

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
    use crate::abi::{Context, FieldId};
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

    /// A field ID from its raw value.
    pub fn id(raw: u64) -> FieldId {
        FieldId::from_raw(raw)
    }

    /// The null field ID (platform context), as the tests send it.
    pub const NULL: FieldId = FieldId::null(Context::Platform);

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
    use crate::abi::{Context, FieldId, GuestPhysAddr, PageLevel};
    use crate::call::CallKind;

    /// Calls the typed wrapper of `leaf` once against a backend that answers success with
    /// all-zero outputs (and, for the structure-returning leaves, plausible ones), and
    /// returns what went out. Adding a guest leaf to the table without a wrapper here makes
    /// the coverage test fail.
    fn call_wrapper_of(leaf: Leaf) -> Recorded {
        let page = GuestPhysAddr::page(0x1000).unwrap();
        let field = FieldId::from_raw(0x1110_0003_0000_0000); // TD ATTRIBUTES
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
                Leaf::TdgMrKeyGet => {
                    unsafe { g.mr_key_get(page, GuestPhysAddr::page(0x2000).unwrap(), 0) }
                        .map(drop)
                        .map_err(drop)
                }
                Leaf::TdgServtdRebindApprove => {
                    unsafe { g.servtd_rebind_approve(&mut Regs::default()) }
                        .map(drop)
                        .map_err(drop)
                }
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
        assert_eq!(count, 23);
    }

    #[cfg(feature = "std")]
    #[test]
    fn coverage_document_lists_every_guest_leaf_with_its_number() {
        let doc = include_str!("../../README.md");
        for leaf in Leaf::ALL.iter().filter(|l| l.side() == Side::Guest) {
            let row = doc
                .lines()
                .find(|line| line.starts_with(&std::format!("| {} |", leaf.spec_name())));
            let row =
                row.unwrap_or_else(|| panic!("{leaf} missing from the README coverage table"));
            let cells: std::vec::Vec<&str> = row.split('|').map(str::trim).collect();
            assert_eq!(
                cells[2],
                std::format!("{}", leaf.number()),
                "{leaf}: number"
            );
            assert_eq!(
                cells[4],
                crate::leaf::coverage::since_cell(*leaf),
                "{leaf}: minimum version"
            );
            assert_eq!(
                cells[5..9].join(" | "),
                crate::leaf::coverage::family_cells(*leaf),
                "{leaf}: per-family leaf versions"
            );
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn coverage_document_lists_every_subfunction() {
        let doc = include_str!("../../README.md");
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
    fn field_ids_are_checked_by_field_id_before_any_call() {
        let td_attributes = FieldId::from_raw(0x1110_0003_0000_0000);
        let ok: &[Reply<'_>] = &[(0, &nothing)];
        let (read, log) = run(ok, |g| g.vm_rd_next(td_attributes));
        assert!(read.is_ok());
        assert_eq!(log.only().regs.rdx, td_attributes.raw());
        for bad in [1u64 << 24, 1 << 34, 1 << 46, 1 << 47, 1 << 55, 1 << 62] {
            let malformed = FieldId::from_raw(td_attributes.raw() | bad);
            let expected = Err(Error::InvalidArgument(crate::error::InvalidArgument {
                argument: "field ID",
                reason: InvalidReason::MalformedFieldId {
                    value: td_attributes.raw() | bad,
                },
            }));
            let (read, log) = run(&[], |g| g.vm_rd_next(malformed));
            assert_eq!(read.map(drop), expected);
            assert_eq!(log.len(), 0);
            let (read, log) = run(&[], |g| g.vm_rd(malformed));
            assert_eq!(read.map(drop), expected);
            assert_eq!(log.len(), 0);
        }
        // The null ID: rejected where only a single element makes sense (writes, TDG.VM.RD
        // version 0), accepted by reads that return the first field when its context is
        // defined.
        let null = FieldId::null(Context::Platform);
        let (write, log) = run(&[], |g| unsafe { g.vm_wr(null, 0, 0) });
        assert!(write.is_err());
        assert_eq!(log.len(), 0);
        let (read, log) = run(ok, |g| g.vm_rd_next(null));
        assert!(read.is_ok());
        assert_eq!(log.only().regs.rdx, null.raw());
        // MD_FIELD_ID_NA (all ones, reserved context 7) is the "no next field" output, not
        // an input: refused before the call.
        let (read, log) = run(&[], |g| g.vm_rd_next(FieldId::NA));
        assert_eq!(
            read.map(drop),
            Err(Error::InvalidArgument(crate::error::InvalidArgument {
                argument: "field ID",
                reason: InvalidReason::MalformedFieldId { value: u64::MAX },
            }))
        );
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn l2_vm_range() {
        assert!(L2Vm::new(0).is_err());
        assert!(L2Vm::new(4).is_err());
        assert_eq!(L2Vm::new(3).unwrap().rcx_bits(), 3 << 52);
    }
}
