//! Fault injection: VMfailInvalid, #UD, #GP and one status of every class, injected into
//! every call path, must come back to the caller as exactly the right error.
//!
//! A call path is a [`Case`]: what it issues (a [`Target`]: a leaf at a version, a GHCI
//! sub-function, a vendor TDG.VP.VMCALL, or a bare thunk) and a closure that makes the call
//! through the real thunks (`Host::native()`, `Guest::native()`) and reports what the
//! caller saw ([`Seen`]). The emulator answers at the instruction site; every trapped call
//! is also checked against the case's target, so a case cannot claim a leaf it does not
//! issue.
//!
//! Coverage is enforced, not listed: [`cases_cover_every_leaf_version_subfunction_and_wrapper`]
//! fails when a leaf version of [`Leaf::ALL`], a [`Subfunction::ALL`] entry, or a public
//! method of `Host`/`Guest` found in the sources has no case.
//!
//! Every `unsafe` block below calls a wrapper whose instruction traps into the emulator's
//! model: no TDX module or VMM runs, and the addresses passed are only register values that
//! nothing dereferences. The vector-state preservation of the migration wrappers saves and
//! restores this thread's own registers on the stack.
#![cfg(all(feature = "emulator", target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::undocumented_unsafe_blocks)]

use std::collections::BTreeSet;
use std::num::NonZeroU64;
use tdxcall::abi::mig::{GpaListInfo, Mbmd, MigCommand, MigStreamIndex, PageListInfo, ServtdAttr};
use tdxcall::abi::seamldr::{SeamldrInfo, SeamldrParams};
use tdxcall::abi::{
    Context, FieldId, GuestPhysAddr, Hkid, HostPhysAddr, PageLevel, TdcxPage, TdrPage, TdvprPage,
};
use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::emu::{self, Answer, Call, FaultInjector, Model, Outcome, Registers};
use tdxcall::guest::tdvmcall::{
    CacheFlush, IoSize, MmioSize, Subfunction, VmcallError, VmcallRegs,
};
use tdxcall::guest::{self, Guest, L2Vm};
use tdxcall::host::export::MemBundle;
use tdxcall::host::scan::ScanRegs;
use tdxcall::host::servtd::ServtdSlot;
use tdxcall::host::vp::VpEnterFlags;
use tdxcall::host::Host;
use tdxcall::leaf::{Leaf, SeamldrLeaf};
use tdxcall::status::{Operand, StatusCode, TdvmcallCode, TdvmcallStatus};
use tdxcall::xstate::Preserve;
use tdxcall::{Error, Regs, Status};

/// RAX of the bare-thunk cases (any value: nothing decodes it).
const THUNK_RAX: u64 = 3;

/// What a call path issues at the instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// A bare thunk of this kind behind the [`Backend`] seam, RAX = [`THUNK_RAX`].
    Thunk(CallKind),
    /// A TDCALL or SEAMCALL leaf at a version.
    Leaf(Leaf, u8),
    /// TDG.VP.VMCALL, a standard GHCI call: R10 = 0, R11 = the sub-function.
    Ghci(Subfunction),
    /// TDG.VP.VMCALL, a vendor call: R10 ≠ 0.
    Vendor,
    /// A P-SEAMLDR call (SEAMCALL, RAX bit 63).
    Seamldr(SeamldrLeaf),
}

impl Target {
    /// The thunk the path ends in (decides which software code a fault gives).
    fn kind(self) -> CallKind {
        match self {
            Target::Thunk(kind) => kind,
            Target::Seamldr(_) => CallKind::Seamcall,
            Target::Leaf(leaf, _) => leaf.call_kind(),
            Target::Ghci(_) | Target::Vendor => Leaf::TdgVpVmcall.call_kind(),
        }
    }

    /// The leaf and version this target issues (TDG.VP.VMCALL is leaf 0, version 0).
    fn leaf(self) -> Option<(Leaf, u8)> {
        match self {
            Target::Thunk(_) | Target::Seamldr(_) => None,
            Target::Leaf(leaf, version) => Some((leaf, version)),
            Target::Ghci(_) | Target::Vendor => Some((Leaf::TdgVpVmcall, 0)),
        }
    }

    /// Whether one trapped call is what this target issues.
    fn check(self, kind: CallKind, registers: &Registers) -> Result<(), String> {
        if kind != self.kind() {
            return Err(format!("issued through {kind:?}, not {:?}", self.kind()));
        }
        let rax = match self.leaf() {
            None if matches!(self, Target::Seamldr(_)) => match self {
                Target::Seamldr(leaf) => leaf.rax(),
                _ => unreachable!(),
            },
            None => THUNK_RAX,
            Some((leaf, version)) => leaf
                .rax_versioned(version)
                .ok_or_else(|| format!("{leaf} has no version {version}"))?,
        };
        if registers.rax != rax {
            return Err(format!("RAX {:#x}, expected {rax:#x}", registers.rax));
        }
        match self {
            Target::Ghci(sub) if (registers.r10, registers.r11) != (0, sub.number()) => {
                Err(format!(
                    "R10/R11 {:#x}/{:#x}, expected 0/{:#x}",
                    registers.r10,
                    registers.r11,
                    sub.number()
                ))
            }
            Target::Vendor if registers.r10 == 0 => Err("a vendor call with R10 = 0".into()),
            _ => Ok(()),
        }
    }
}

/// What the caller of a path saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    /// The call succeeded (a warning status, where the wrapper has one, is part of the `Ok`
    /// value; the injected statuses are all errors, so `Ok` is always wrong here).
    Ok,
    /// The instruction's status, as an error: [`Error::Status`], the status of a
    /// `DetailedError`, or [`VmcallError::Call`] for a failing TDG.VP.VMCALL.
    Failed(Status),
    /// The VMM's GHCI status from R10 ([`VmcallError::Vmm`]).
    Vmm(TdvmcallStatus),
}

/// A wrapper returning [`tdxcall::Result`], or a `DetailedResult` (host) /
/// `DetailedError` (guest), which convert into [`Error`] keeping the status. An argument
/// error means the case was written with bad arguments: a bug in the case.
fn seen<T, E: Into<Error>>(result: Result<T, E>) -> Seen {
    match result.map_err(Into::into) {
        Ok(_) => Seen::Ok,
        Err(Error::Status(status)) => Seen::Failed(status),
        Err(other) => panic!("the case passed arguments the wrapper refused: {other:?}"),
    }
}

/// A TDG.VP.VMCALL wrapper: a failing TDCALL (RAX ≠ 0) is [`VmcallError::Call`], the VMM's
/// R10 is [`VmcallError::Vmm`]. Anything else (a MapGPA protocol error) is wrong here.
fn seen_vmcall<T>(result: Result<T, VmcallError>) -> Seen {
    match result {
        Err(VmcallError::Call(error)) => seen::<T, _>(Err(error)),
        Err(VmcallError::Vmm(status)) => Seen::Vmm(status),
        Ok(_) => Seen::Ok,
        Err(other) => panic!("unexpected TDG.VP.VMCALL error: {other:?}"),
    }
}

/// A raw status returned as a value (the thunk, `Guest::call_raw`).
fn seen_status(status: Status) -> Seen {
    if status == Status::SUCCESS {
        Seen::Ok
    } else {
        Seen::Failed(status)
    }
}

/// `Guest::call_raw`: the status, whatever it is, or an argument error (a bug in the case).
fn seen_call_raw(result: tdxcall::Result<Status>) -> Seen {
    match result {
        Ok(status) => seen_status(status),
        Err(error) => seen::<(), _>(Err(error)),
    }
}

/// `Guest::tdvmcall_raw`: the TDCALL's failure, or R10 as the GHCI status.
fn seen_raw_vmcall(result: Result<TdvmcallStatus, Error>) -> Seen {
    match result {
        Ok(status) if status == TdvmcallStatus::SUCCESS => Seen::Ok,
        Ok(status) => Seen::Vmm(status),
        Err(error) => seen::<(), _>(Err(error)),
    }
}

/// One path to a TDX instruction.
struct Case {
    /// The wrapper method (or thunk) the path calls; shown when the case fails.
    name: &'static str,
    /// What the path issues.
    target: Target,
    /// Makes the call with valid arguments and reports what the caller saw.
    call: Box<dyn FnMut() -> Seen>,
}

/// The cases being built.
#[derive(Default)]
struct Cases(Vec<Case>);

impl Cases {
    fn thunk(&mut self, name: &'static str, kind: CallKind) {
        self.0.push(Case {
            name,
            target: Target::Thunk(kind),
            call: Box::new(move || {
                let mut regs = Regs {
                    rcx: 0x1000,
                    rdx: 2,
                    ..Regs::ZERO
                };
                seen_status(unsafe { Native::new().call(kind, THUNK_RAX, &mut regs) })
            }),
        });
    }

    fn host(
        &mut self,
        name: &'static str,
        leaf: Leaf,
        version: u8,
        mut call: impl FnMut(&mut Host) -> Seen + 'static,
    ) {
        self.0.push(Case {
            name,
            target: Target::Leaf(leaf, version),
            call: Box::new(move || call(&mut Host::native())),
        });
    }

    fn host_target(
        &mut self,
        name: &'static str,
        target: Target,
        mut call: impl FnMut(&mut Host) -> Seen + 'static,
    ) {
        self.0.push(Case {
            name,
            target,
            call: Box::new(move || call(&mut Host::native())),
        });
    }

    fn guest_target(
        &mut self,
        name: &'static str,
        target: Target,
        mut call: impl FnMut(&mut Guest) -> Seen + 'static,
    ) {
        self.0.push(Case {
            name,
            target,
            call: Box::new(move || call(&mut Guest::native())),
        });
    }

    fn guest(
        &mut self,
        name: &'static str,
        leaf: Leaf,
        version: u8,
        call: impl FnMut(&mut Guest) -> Seen + 'static,
    ) {
        self.guest_target(name, Target::Leaf(leaf, version), call);
    }

    fn ghci(
        &mut self,
        name: &'static str,
        sub: Subfunction,
        call: impl FnMut(&mut Guest) -> Seen + 'static,
    ) {
        self.guest_target(name, Target::Ghci(sub), call);
    }
}

// Valid arguments, shared by the cases.
fn tdr() -> TdrPage {
    TdrPage::from_raw(0x1000).unwrap()
}
fn tdvpr() -> TdvprPage {
    TdvprPage::from_raw(0x2000).unwrap()
}
fn tdcx() -> TdcxPage {
    TdcxPage::from_raw(0x3000).unwrap()
}
fn hpa() -> HostPhysAddr {
    HostPhysAddr::new(0x4000).unwrap()
}
fn gpa() -> GuestPhysAddr {
    GuestPhysAddr::new(0x20_0000).unwrap()
}
/// TD ATTRIBUTES, a TD-scope field.
fn field() -> FieldId {
    FieldId::from_raw(0x1110_0003_0000_0000)
}
fn platform_field() -> FieldId {
    field().with_context(Context::Platform)
}
fn mbmd() -> Mbmd {
    Mbmd::new(hpa(), 0x80).unwrap()
}
fn gpa_list() -> GpaListInfo {
    GpaListInfo::new(hpa(), 0, 0).unwrap()
}
fn page_list() -> PageListInfo {
    PageListInfo::new(hpa(), 0).unwrap()
}
fn bundle() -> MemBundle {
    MemBundle {
        mbmd: mbmd(),
        buffer_list: hpa(),
        mac_lists: [hpa(), hpa()],
        stream: MigStreamIndex(0),
        command: MigCommand::New,
    }
}
fn servtd_slot() -> ServtdSlot {
    ServtdSlot {
        slot: 0,
        servtd_type: 0,
    }
}
fn servtd_attr() -> ServtdAttr {
    ServtdAttr::new(0).unwrap()
}
fn preserve() -> Preserve<'static> {
    Preserve::on_stack().unwrap()
}
fn guest_page() -> GuestPhysAddr {
    GuestPhysAddr::page(0x1000).unwrap()
}
fn guest_aligned(addr: u64, align: u64) -> GuestPhysAddr {
    GuestPhysAddr::aligned(addr, align).unwrap()
}

/// Every SEAMCALL wrapper of `Host`, one case per public method.
fn host_cases(c: &mut Cases) {
    use Leaf::*;
    const L2: PageLevel = PageLevel::Size2M;
    const L4K: PageLevel = PageLevel::Size4K;

    c.host("vp_enter", TdhVpEnter, 0, |h| {
        seen(unsafe { h.vp_enter(tdvpr(), VpEnterFlags::empty(), &mut Regs::default()) })
    });
    c.host("mng_addcx", TdhMngAddcx, 0, |h| {
        seen(unsafe { h.mng_addcx(tdcx(), tdr()) })
    });
    c.host("mem_page_add", TdhMemPageAdd, 0, |h| {
        seen(unsafe { h.mem_page_add(gpa(), tdr(), hpa(), hpa()) })
    });
    c.host("mem_sept_add", TdhMemSeptAdd, 0, |h| {
        seen(unsafe { h.mem_sept_add(gpa(), L2, tdr(), hpa()) })
    });
    c.host("mem_sept_add_v1", TdhMemSeptAdd, 1, |h| {
        seen(unsafe { h.mem_sept_add_v1(gpa(), L2, tdr(), false, Some(hpa()), [None; 3]) })
    });
    c.host("vp_addcx", TdhVpAddcx, 0, |h| {
        seen(unsafe { h.vp_addcx(tdcx(), tdvpr()) })
    });
    c.host("mem_page_relocate", TdhMemPageRelocate, 0, |h| {
        seen(unsafe { h.mem_page_relocate(gpa(), tdr(), hpa()) })
    });
    c.host("mem_page_aug", TdhMemPageAug, 0, |h| {
        seen(unsafe { h.mem_page_aug(gpa(), L4K, tdr(), hpa()) })
    });
    c.host("mem_range_block", TdhMemRangeBlock, 0, |h| {
        seen(h.mem_range_block(gpa(), L2, tdr()))
    });
    c.host("mng_key_config", TdhMngKeyConfig, 0, |h| {
        seen(h.mng_key_config(tdr()))
    });
    c.host("mng_create", TdhMngCreate, 0, |h| {
        seen(unsafe { h.mng_create(tdr(), Hkid::new(1)) })
    });
    c.host("vp_create", TdhVpCreate, 0, |h| {
        seen(unsafe { h.vp_create(tdvpr(), tdr()) })
    });
    c.host("mng_rd", TdhMngRd, 0, |h| seen(h.mng_rd(tdr(), field())));
    c.host("mng_rd_next", TdhMngRd, 1, |h| {
        seen(h.mng_rd_next(tdr(), field()))
    });
    c.host("mng_fields", TdhMngRd, 1, |h| {
        seen(h.mng_fields(tdr()).map(drop))
    });
    c.host("mem_rd", TdhMemRd, 0, |h| seen(h.mem_rd(gpa(), tdr())));
    c.host("mng_wr", TdhMngWr, 0, |h| {
        seen(h.mng_wr(tdr(), field(), 0, 0))
    });
    c.host("mem_wr", TdhMemWr, 0, |h| seen(h.mem_wr(gpa(), tdr(), 0)));
    c.host("mem_page_demote", TdhMemPageDemote, 0, |h| {
        seen(unsafe { h.mem_page_demote(gpa(), L2, tdr(), false, hpa(), [None; 3]) })
    });
    c.host("mr_extend", TdhMrExtend, 0, |h| {
        seen(h.mr_extend(gpa(), tdr()))
    });
    c.host("mr_finalize", TdhMrFinalize, 0, |h| {
        seen(h.mr_finalize(tdr()))
    });
    c.host("vp_flush", TdhVpFlush, 0, |h| seen(h.vp_flush(tdvpr())));
    c.host("mng_vpflushdone", TdhMngVpflushdone, 0, |h| {
        seen(h.mng_vpflushdone(tdr()))
    });
    c.host("mng_key_freeid", TdhMngKeyFreeid, 0, |h| {
        seen(h.mng_key_freeid(tdr()))
    });
    c.host("mng_init", TdhMngInit, 0, |h| {
        seen(h.mng_init(tdr(), HostPhysAddr::new(0x400).unwrap()))
    });
    c.host("vp_init", TdhVpInit, 0, |h| seen(h.vp_init(tdvpr(), 0)));
    c.host("vp_init_x2apic", TdhVpInit, 1, |h| {
        seen(h.vp_init_x2apic(tdvpr(), 0, 1))
    });
    c.host("mem_page_promote", TdhMemPagePromote, 0, |h| {
        seen(unsafe { h.mem_page_promote(gpa(), L2, tdr()) })
    });
    c.host("mem_page_promote_v1", TdhMemPagePromote, 1, |h| {
        seen(unsafe { h.mem_page_promote_v1(gpa(), L2, tdr()) })
    });
    c.host("phymem_page_rdmd", TdhPhymemPageRdmd, 0, |h| {
        seen(h.phymem_page_rdmd(hpa()))
    });
    c.host("mem_sept_rd", TdhMemSeptRd, 0, |h| {
        seen(h.mem_sept_rd(gpa(), L2, tdr(), false))
    });
    c.host("vp_rd", TdhVpRd, 0, |h| seen(h.vp_rd(tdvpr(), field())));
    c.host("vp_rd_next", TdhVpRd, 1, |h| {
        seen(h.vp_rd_next(tdvpr(), field()))
    });
    c.host("vp_fields", TdhVpRd, 1, |h| {
        seen(h.vp_fields(tdvpr()).map(drop))
    });
    c.host("mng_key_reclaimid", TdhMngKeyReclaimid, 0, |h| {
        seen(h.mng_key_reclaimid(tdr()))
    });
    c.host("phymem_page_reclaim", TdhPhymemPageReclaim, 0, |h| {
        seen(unsafe { h.phymem_page_reclaim(hpa()) })
    });
    c.host("mem_page_remove", TdhMemPageRemove, 0, |h| {
        seen(unsafe { h.mem_page_remove(gpa(), L2, tdr()) })
    });
    c.host("mem_sept_remove", TdhMemSeptRemove, 0, |h| {
        seen(unsafe { h.mem_sept_remove(gpa(), L2, tdr()) })
    });
    c.host("mem_sept_remove_v1", TdhMemSeptRemove, 1, |h| {
        seen(unsafe { h.mem_sept_remove_v1(gpa(), L2, tdr()) })
    });
    c.host("sys_key_config", TdhSysKeyConfig, 0, |h| {
        seen(h.sys_key_config())
    });
    c.host("sys_info", TdhSysInfo, 0, |h| {
        seen(unsafe {
            h.sys_info(
                HostPhysAddr::new(0x400).unwrap(),
                HostPhysAddr::new(0x200).unwrap(),
            )
        })
    });
    c.host("sys_init", TdhSysInit, 0, |h| seen(h.sys_init()));
    c.host("sys_rd", TdhSysRd, 0, |h| seen(h.sys_rd(platform_field())));
    c.host("sys_fields", TdhSysRd, 0, |h| {
        seen(h.sys_fields().map(drop))
    });
    c.host("module_info", TdhSysRd, 0, |h| seen(h.module_info()));
    c.host("tdx_features0", TdhSysRd, 0, |h| seen(h.tdx_features0()));
    c.host("attributes_fixed", TdhSysRd, 0, |h| {
        seen(h.attributes_fixed())
    });
    c.host("xfam_fixed", TdhSysRd, 0, |h| seen(h.xfam_fixed()));
    c.host("control_struct_sizes", TdhSysRd, 0, |h| {
        seen(h.control_struct_sizes())
    });
    c.host("cpuid_configs", TdhSysRd, 0, |h| {
        seen(h.cpuid_configs().map(drop))
    });
    c.host("sys_lp_init", TdhSysLpInit, 0, |h| seen(h.sys_lp_init()));
    c.host("sys_tdmr_init", TdhSysTdmrInit, 0, |h| {
        seen(h.sys_tdmr_init(HostPhysAddr::new(1 << 30).unwrap(), 1 << 30))
    });
    c.host("sys_rdall", TdhSysRdall, 0, |h| {
        seen(unsafe { h.sys_rdall(hpa(), FieldId::null(Context::Platform)) })
    });
    c.host("mem_track", TdhMemTrack, 0, |h| seen(h.mem_track(tdr())));
    c.host("mem_range_unblock", TdhMemRangeUnblock, 0, |h| {
        seen(h.mem_range_unblock(gpa(), L2, tdr()))
    });
    c.host("phymem_cache_wb", TdhPhymemCacheWb, 0, |h| {
        seen(h.phymem_cache_wb())
    });
    c.host("phymem_cache_wb_resume", TdhPhymemCacheWb, 0, |h| {
        seen(h.phymem_cache_wb_resume())
    });
    c.host("phymem_page_wbinvd", TdhPhymemPageWbinvd, 0, |h| {
        seen(h.phymem_page_wbinvd(hpa()))
    });
    c.host("phymem_page_wbinvd_tdr", TdhPhymemPageWbinvd, 0, |h| {
        seen(h.phymem_page_wbinvd_tdr(tdr(), 46, 1))
    });
    c.host("vp_wr", TdhVpWr, 0, |h| {
        seen(h.vp_wr(tdvpr(), field(), 0, 0))
    });
    c.host("sys_lp_shutdown", TdhSysLpShutdown, 0, |h| {
        seen(h.sys_lp_shutdown())
    });
    c.host("sys_config", TdhSysConfig, 0, |h| {
        seen(h.sys_config(HostPhysAddr::new(0x200).unwrap(), 1, Hkid::new(1)))
    });
    c.host("servtd_bind", TdhServtdBind, 0, |h| {
        let servtd = TdrPage::from_raw(0x5000).unwrap();
        seen(h.servtd_bind(tdr(), servtd, servtd_slot(), servtd_attr()))
    });
    c.host("servtd_prebind", TdhServtdPrebind, 0, |h| {
        seen(h.servtd_prebind(tdr(), hpa(), servtd_slot(), servtd_attr()))
    });
    c.host("servtd_rebind", TdhServtdRebind, 0, |h| {
        seen(unsafe { h.servtd_rebind(&mut Regs::default()) })
    });
    c.host("sys_shutdown", TdhSysShutdown, 0, |h| {
        seen(h.sys_shutdown(0))
    });
    c.host("sys_update", TdhSysUpdate, 0, |h| seen(h.sys_update()));
    c.host("export_abort", TdhExportAbort, 0, |h| {
        seen(unsafe { h.export_abort(tdr(), mbmd(), preserve()) })
    });
    c.host("export_blockw", TdhExportBlockw, 0, |h| {
        seen(unsafe { h.export_blockw(gpa_list(), tdr()) })
    });
    c.host("export_restore", TdhExportRestore, 0, |h| {
        seen(unsafe { h.export_restore(gpa_list(), tdr()) })
    });
    c.host("export_mem", TdhExportMem, 0, |h| {
        seen(unsafe { h.export_mem(gpa_list(), tdr(), &bundle(), preserve()) })
    });
    c.host("export_pause", TdhExportPause, 0, |h| {
        seen(h.export_pause(tdr()))
    });
    c.host("export_track", TdhExportTrack, 0, |h| {
        seen(unsafe { h.export_track(tdr(), mbmd(), MigCommand::New, preserve()) })
    });
    c.host("export_state_immutable", TdhExportStateImmutable, 0, |h| {
        seen(unsafe {
            h.export_state_immutable(
                tdr(),
                mbmd(),
                page_list(),
                MigStreamIndex(0),
                MigCommand::New,
                preserve(),
            )
        })
    });
    c.host("export_state_td", TdhExportStateTd, 0, |h| {
        seen(unsafe {
            h.export_state_td(
                tdr(),
                mbmd(),
                page_list(),
                MigStreamIndex(0),
                MigCommand::New,
                preserve(),
            )
        })
    });
    c.host("export_state_vp", TdhExportStateVp, 0, |h| {
        seen(unsafe {
            h.export_state_vp(
                tdvpr(),
                mbmd(),
                page_list(),
                MigStreamIndex(0),
                MigCommand::New,
                preserve(),
            )
        })
    });
    c.host("export_unblockw", TdhExportUnblockw, 0, |h| {
        seen(h.export_unblockw(gpa(), L2, tdr()))
    });
    c.host("import_abort", TdhImportAbort, 0, |h| {
        seen(h.import_abort(tdr(), mbmd(), preserve()))
    });
    c.host("import_end", TdhImportEnd, 0, |h| seen(h.import_end(tdr())));
    c.host("import_commit", TdhImportCommit, 0, |h| {
        seen(h.import_commit(tdr()))
    });
    c.host("import_mem", TdhImportMem, 0, |h| {
        seen(unsafe { h.import_mem(gpa_list(), tdr(), &bundle(), None, preserve()) })
    });
    c.host("import_track", TdhImportTrack, 0, |h| {
        seen(h.import_track(
            tdr(),
            mbmd(),
            MigStreamIndex(0),
            MigCommand::New,
            preserve(),
        ))
    });
    c.host("import_state_immutable", TdhImportStateImmutable, 0, |h| {
        seen(h.import_state_immutable(
            tdr(),
            mbmd(),
            page_list(),
            MigStreamIndex(0),
            MigCommand::New,
            preserve(),
        ))
    });
    c.host("import_state_td", TdhImportStateTd, 0, |h| {
        seen(h.import_state_td(
            tdr(),
            mbmd(),
            page_list(),
            MigStreamIndex(0),
            MigCommand::New,
            preserve(),
        ))
    });
    c.host("import_state_vp", TdhImportStateVp, 0, |h| {
        seen(h.import_state_vp(
            tdvpr(),
            mbmd(),
            page_list(),
            MigStreamIndex(0),
            MigCommand::New,
            preserve(),
        ))
    });
    c.host("mig_stream_create", TdhMigStreamCreate, 0, |h| {
        seen(unsafe { h.mig_stream_create(hpa(), tdr()) })
    });

    // Leaves of modules after 1.5.05.
    let range = || HostPhysAddr::new(0x20_0000).unwrap();
    c.host("phymem_pamt_add", TdhPhymemPamtAdd, 0, move |h| {
        seen(unsafe { h.phymem_pamt_add(range(), hpa(), hpa()) })
    });
    c.host("phymem_pamt_remove", TdhPhymemPamtRemove, 0, move |h| {
        seen(unsafe { h.phymem_pamt_remove(range()) })
    });
    c.host("mem_scan_range", TdhMemScanRange, 0, |h| {
        seen(unsafe { h.mem_scan_range(ScanRegs::default()) })
    });
    c.host("mem_scan_comp", TdhMemScanComp, 0, |h| {
        seen(unsafe { h.mem_scan_comp(ScanRegs::default()) })
    });
    c.host("mem_scan_config", TdhMemScanConfig, 0, |h| {
        seen(unsafe { h.mem_scan_config(ScanRegs::default()) })
    });
    c.host("mem_scan_reset", TdhMemScanReset, 0, |h| {
        seen(unsafe { h.mem_scan_reset(1) })
    });
    for version in 0..=1 {
        c.host(
            "mem_shared_sept_wr",
            TdhMemSharedSeptWr,
            version,
            move |h| {
                seen(unsafe {
                    h.mem_shared_sept_wr(version, gpa(), PageLevel::Size4K, tdr(), [0; 4])
                })
            },
        );
    }
    c.host("learn_module", TdhSysRd, 0, |h| seen(h.learn_module()));
    c.host("mng_init_with_event_filter", TdhMngInit, 0, |h| {
        seen(h.mng_init_with_event_filter(tdr(), HostPhysAddr::new(0x400).unwrap(), hpa(), 2))
    });
    c.host("sys_init_v1", TdhSysInit, 1, |h| seen(h.sys_init_v1()));
    c.host("sys_config_v1", TdhSysConfig, 1, |h| {
        let options = tdxcall::host::versions::SysConfigOptions { dynamic_pamt: true };
        seen(h.sys_config_v1(
            HostPhysAddr::new(0x200).unwrap(),
            1,
            Hkid::new(1),
            options,
            0,
            0,
        ))
    });
    c.host("sys_update_v1", TdhSysUpdate, 1, |h| {
        seen(h.sys_update_v1(0, 0))
    });
    c.host("export_blockw_v1", TdhExportBlockw, 1, |h| {
        seen(unsafe { h.export_blockw_v1(gpa_list(), tdr()) })
    });
    c.host("export_restore_v1", TdhExportRestore, 1, |h| {
        seen(unsafe { h.export_restore_v1(gpa_list(), tdr()) })
    });
    c.host("export_mem_v1", TdhExportMem, 1, |h| {
        seen(unsafe { h.export_mem_v1(gpa_list(), tdr(), &bundle(), preserve()) })
    });
    c.host("import_mem_v1", TdhImportMem, 1, |h| {
        seen(unsafe { h.import_mem_v1(gpa_list(), tdr(), &bundle(), None, preserve()) })
    });
    c.host_target("seamldr_info", Target::Seamldr(SeamldrLeaf::Info), |h| {
        let mut info = Box::new(SeamldrInfo::ZERO);
        seen(unsafe { h.seamldr_info(HostPhysAddr::new(0x1_0000).unwrap(), &mut info) })
    });
    c.host_target(
        "seamldr_install",
        Target::Seamldr(SeamldrLeaf::Install),
        |h| {
            let params = Box::new(SeamldrParams::update(hpa(), &[hpa()]).unwrap());
            seen(unsafe { h.seamldr_install(HostPhysAddr::new(0x1_0000).unwrap(), &params) })
        },
    );
}

/// Every TDCALL wrapper of `Guest`, one case per public method.
fn guest_cases(c: &mut Cases) {
    use guest::{mem, servtd, vp};
    use Leaf::*;

    c.guest("call_raw", TdgVmRd, 1, |g| {
        let mut regs = Regs {
            rdx: field().raw(),
            ..Regs::ZERO
        };
        seen_call_raw(unsafe { g.call_raw(TdgVmRd, 1, &mut regs) })
    });
    c.guest("vp_info", TdgVpInfo, 0, |g| seen(g.vp_info()));
    c.guest("mr_rtmr_extend", TdgMrRtmrExtend, 0, |g| {
        seen(g.mr_rtmr_extend(guest_aligned(0x40, 64), 2))
    });
    c.guest("vp_veinfo_get", TdgVpVeinfoGet, 0, |g| {
        seen(g.vp_veinfo_get())
    });
    c.guest("mr_report", TdgMrReport, 0, |g| {
        seen(unsafe { g.mr_report(guest_aligned(0x400, 1024), guest_aligned(0x40, 64)) })
    });
    c.guest("vp_cpuidve_set", TdgVpCpuidveSet, 0, |g| {
        seen(g.vp_cpuidve_set(vp::CpuidVe::default()))
    });
    c.guest("mem_page_accept", TdgMemPageAccept, 0, |g| {
        seen(unsafe { g.mem_page_accept(guest_page(), PageLevel::Size4K) })
    });
    c.guest("vm_rd", TdgVmRd, 0, |g| seen(g.vm_rd(field())));
    c.guest("vm_rd_next", TdgVmRd, 1, |g| seen(g.vm_rd_next(field())));
    c.guest("vm_wr", TdgVmWr, 0, |g| {
        seen(unsafe { g.vm_wr(field(), 0, 0) })
    });
    c.guest("vp_rd", TdgVpRd, 0, |g| seen(g.vp_rd(field())));
    c.guest("vp_wr", TdgVpWr, 0, |g| {
        seen(unsafe { g.vp_wr(field(), 0, 0) })
    });
    c.guest("sys_rd", TdgSysRd, 0, |g| seen(g.sys_rd(platform_field())));
    c.guest("sys_rd_each", TdgSysRd, 0, |g| {
        seen(g.sys_rd_each(|_, _| ()))
    });
    c.guest("sys_rdall", TdgSysRdall, 0, |g| {
        seen(unsafe { g.sys_rdall(guest_page(), FieldId::null(Context::Platform)) })
    });
    c.guest("servtd_rd", TdgServtdRd, 0, |g| {
        seen(g.servtd_rd(servtd::BindingHandle(0), field(), servtd::TdUuid::default()))
    });
    c.guest("servtd_wr", TdgServtdWr, 0, |g| {
        seen(unsafe {
            g.servtd_wr(
                servtd::BindingHandle(0),
                field(),
                0,
                0,
                servtd::TdUuid::default(),
            )
        })
    });
    c.guest("mr_verifyreport", TdgMrVerifyreport, 0, |g| {
        seen(g.mr_verifyreport(guest_aligned(0x100, 256)))
    });
    c.guest("mem_page_attr_rd", TdgMemPageAttrRd, 0, |g| {
        seen(g.mem_page_attr_rd(guest_page()))
    });
    c.guest("mem_page_attr_wr", TdgMemPageAttrWr, 0, |g| {
        seen(unsafe {
            g.mem_page_attr_wr(
                guest_page(),
                PageLevel::Size4K,
                mem::L2Attributes::default(),
                mem::L2AttrWriteMask::default(),
            )
        })
    });
    c.guest("vp_enter", TdgVpEnter, 0, |g| {
        seen(unsafe { g.vp_enter(L2Vm::VM1, vp::InveptType::None, guest_aligned(0x100, 256)) })
    });
    c.guest("vp_invept", TdgVpInvept, 0, |g| {
        seen(g.vp_invept(vp::L2VmSet::VM1))
    });
    c.guest("vp_invvpid", TdgVpInvvpid, 0, |g| {
        seen(g.vp_invvpid(L2Vm::VM1, vp::GlaRange::new(0x1000, 0).unwrap()))
    });
    c.guest("vp_invvpid_list", TdgVpInvvpid, 0, |g| {
        seen(g.vp_invvpid_list(L2Vm::VM1, vp::GlaListInfo::new(guest_page(), 0, 1).unwrap()))
    });
    c.guest("vp_veinfo_get_v1", TdgVpVeinfoGet, 1, |g| {
        seen(g.vp_veinfo_get_v1())
    });
    c.guest("mr_key_get", TdgMrKeyGet, 0, |g| {
        seen(unsafe { g.mr_key_get(guest_page(), guest_aligned(0x2000, 32), 0) })
    });
    c.guest("servtd_rebind_approve", TdgServtdRebindApprove, 0, |g| {
        seen(unsafe { g.servtd_rebind_approve(&mut Regs::default()) })
    });
    c.guest("learn_module", TdgSysRd, 0, |g| seen(g.learn_module()));
}

/// Every TDG.VP.VMCALL wrapper: the GHCI sub-functions, the vendor call and the raw call.
fn tdvmcall_cases(c: &mut Cases) {
    use Subfunction::*;
    let shared = || GuestPhysAddr::page(0x8_0000_0000_0000 | 0x10_0000).unwrap();

    c.ghci("tdvmcall_raw", Hlt, |g| {
        let mut call = VmcallRegs::standard(Hlt);
        seen_raw_vmcall(unsafe { g.tdvmcall_raw(&mut call) })
    });
    c.ghci("tdvmcall_cpuid", Cpuid, |g| {
        seen_vmcall(g.tdvmcall_cpuid(7, 0))
    });
    c.ghci("tdvmcall_hlt", Hlt, |g| seen_vmcall(g.tdvmcall_hlt(false)));
    c.ghci("tdvmcall_io_read", Io, |g| {
        seen_vmcall(g.tdvmcall_io_read(0x80, IoSize::B1))
    });
    c.ghci("tdvmcall_io_write", Io, |g| {
        seen_vmcall(g.tdvmcall_io_write(0x80, IoSize::B1, 0x55))
    });
    c.ghci("tdvmcall_rdmsr", Rdmsr, |g| {
        seen_vmcall(g.tdvmcall_rdmsr(0x1B))
    });
    c.ghci("tdvmcall_wrmsr", Wrmsr, |g| {
        seen_vmcall(g.tdvmcall_wrmsr(0x1B, 0))
    });
    c.ghci("tdvmcall_mmio_read", RequestMmio, move |g| {
        seen_vmcall(g.tdvmcall_mmio_read(shared(), MmioSize::B4))
    });
    c.ghci("tdvmcall_mmio_write", RequestMmio, move |g| {
        seen_vmcall(g.tdvmcall_mmio_write(shared(), MmioSize::B4, 1))
    });
    c.ghci("tdvmcall_wbinvd", Wbinvd, |g| {
        seen_vmcall(g.tdvmcall_wbinvd(CacheFlush::WriteBackInvalidate))
    });
    c.ghci("tdvmcall_pconfig", Pconfig, |g| {
        seen_vmcall(g.tdvmcall_pconfig(0, 0, 0, 0))
    });
    c.ghci("tdvmcall_get_td_vm_call_info", GetTdVmCallInfo, |g| {
        seen_vmcall(g.tdvmcall_get_td_vm_call_info(0))
    });
    c.ghci("tdvmcall_map_gpa", MapGpa, move |g| {
        seen_vmcall(unsafe { g.tdvmcall_map_gpa(shared(), 0x1000) })
    });
    c.ghci("tdvmcall_get_quote", GetQuote, move |g| {
        seen_vmcall(unsafe { g.tdvmcall_get_quote(shared(), 0x1000) })
    });
    c.ghci("tdvmcall_report_fatal_error", ReportFatalError, |g| {
        seen_vmcall(g.tdvmcall_report_fatal_error(1, None, b"injected"))
    });
    c.ghci(
        "tdvmcall_setup_event_notify_interrupt",
        SetupEventNotifyInterrupt,
        |g| seen_vmcall(g.tdvmcall_setup_event_notify_interrupt(0x40)),
    );
    c.ghci("tdvmcall_service", Service, move |g| {
        seen_vmcall(unsafe { g.tdvmcall_service(shared(), shared(), 0, 0) })
    });
    c.guest_target("tdvmcall_vendor", Target::Vendor, |g| {
        let kvm_hc_vapic_poll_irq = NonZeroU64::new(1).unwrap();
        seen(unsafe { g.tdvmcall_vendor(kvm_hc_vapic_poll_irq, [0; 4]) })
    });
}

/// Every call path: the four thunks behind the `Backend` seam, then every typed wrapper.
fn cases() -> Vec<Case> {
    let mut cases = Cases::default();
    cases.thunk("Native Seamcall", CallKind::Seamcall);
    cases.thunk("Native SeamcallScrub", CallKind::SeamcallScrub);
    cases.thunk("Native Tdcall", CallKind::Tdcall);
    cases.thunk("Native Tdvmcall", CallKind::Tdvmcall);
    host_cases(&mut cases);
    guest_cases(&mut cases);
    tdvmcall_cases(&mut cases);
    cases.0
}

/// One error status from every class the module uses (tdx-module-abi.md §6.2, module
/// 1.5.01), from the status table, some with operand details in bits 31:0 to show those
/// survive.
///
/// The representatives are chosen so that no retry loop runs long and no wrapper reads the
/// status as a success:
///
/// - class 0x00 is TDX_INVALID_RESUMPTION: TDX_INTERRUPTED_RESUMABLE (or _RESTARTABLE)
///   would send the six resuming wrappers (`phymem_cache_wb`, `phymem_cache_wb_resume`,
///   `mem_sept_add_v1`, `mem_page_demote`, `mem_page_promote`, `mem_page_promote_v1`) round
///   their loops `RESUME_LIMIT` (10 000) times each: 60 000 emulated calls, which multiplies
///   this test's run time by about 15 and proves nothing the unit tests of those bounds do
///   not. The TD-exit statuses of the class (TDX_CROSS_TD_FAULT, ...) are how TDH.VP.ENTER
///   *succeeds*, so they are no error to inject;
/// - class 0x02 is TDX_OPERAND_BUSY, which only TDG.MEM.PAGE.ACCEPT retries
///   (`ACCEPT_BUSY_ATTEMPTS` = 8 calls); TDX_RND_NO_ENTROPY would be retried 10 times by
///   six leaves, which is cheap too but adds nothing;
/// - class 0x08 is TDX_KEY_GENERATION_FAILED, which the two KEY.CONFIG leaves retry
///   `RND_NO_ENTROPY_ATTEMPTS` (10) times: the bounded retry is exercised and must still end
///   in the injected status.
const ONE_STATUS_PER_CLASS: [Status; 18] = [
    StatusCode::InvalidResumption.status(),
    StatusCode::OperandInvalid.with_operand(Operand::RCX),
    StatusCode::OperandBusy.with_operand(Operand::TDR),
    StatusCode::PageMetadataIncorrect.status(),
    StatusCode::TdAssociatedPagesExist.status(),
    StatusCode::SysNotReady.status(),
    StatusCode::OpStateIncorrect.status(),
    StatusCode::VcpuStateIncorrect.status(),
    StatusCode::KeyGenerationFailed.status(),
    StatusCode::IncorrectCpuidValue.status(),
    StatusCode::InvalidTdmr.status(),
    StatusCode::EptWalkFailed.with_details(2),
    StatusCode::MetadataFieldIdIncorrect.status(),
    StatusCode::ServtdNotBound.status(),
    StatusCode::InvalidMbmd.status(),
    StatusCode::IommuInvalidState.status(),
    StatusCode::InvalidCpusvn.status(),
    StatusCode::GlaNotCanonical.status(),
];

/// Every injection: the three faults, then one status per class.
fn injections() -> Vec<(String, Answer)> {
    let mut injections = vec![
        ("VMfailInvalid".to_string(), Answer::VmFailInvalid),
        ("#UD".to_string(), Answer::Ud),
        ("#GP".to_string(), Answer::Gp),
    ];
    for status in ONE_STATUS_PER_CLASS {
        let code = StatusCode::from_status(status).expect("a status of the table");
        assert!(status.is_error() && !status.is_software(), "{code}");
        injections.push((
            format!("{code} ({:#x})", status.raw()),
            Answer::Status(status),
        ));
    }
    injections
}

/// The model of the injection loop: the [`FaultInjector`] answers every call, and every
/// call's kind and registers are kept to check against the case's [`Target`].
struct Witness {
    injector: FaultInjector,
    calls: Vec<(CallKind, Registers)>,
}

impl Witness {
    fn new(answer: Answer) -> Witness {
        Witness {
            injector: FaultInjector::new(answer),
            calls: Vec::new(),
        }
    }
}

impl Model for Witness {
    fn call(&mut self, call: &mut Call<'_>) -> Outcome {
        self.calls.push((call.kind(), *call.registers()));
        self.injector.call(call)
    }
}

/// Runs `case` once under `answer`; returns what the caller saw and what was issued, or why
/// the issued calls do not match the case's target.
fn run(case: &mut Case, answer: Answer) -> (Seen, Result<usize, String>) {
    let installed = emu::install(Witness::new(answer));
    let seen = (case.call)();
    let witness = installed.into_inner();
    let issued = if witness.calls.is_empty() {
        Err("the instruction was never reached".to_string())
    } else if witness.injector.calls() != witness.calls.len() as u64 {
        Err("the injector and the witness disagree".to_string())
    } else {
        witness
            .calls
            .iter()
            .try_for_each(|(kind, registers)| case.target.check(*kind, registers))
            .map(|()| witness.calls.len())
    };
    (seen, issued)
}

#[test]
fn the_status_table_covers_every_class() {
    let injected: Vec<u8> = ONE_STATUS_PER_CLASS
        .iter()
        .map(|status| status.class())
        .collect();
    // Every class in which the module itself defines a code, in class order.
    let module_classes: Vec<u8> = tdxcall::status::classes()
        .filter(|&class| {
            StatusCode::ALL
                .iter()
                .any(|code| code.class() == class && !code.is_software())
        })
        .collect();
    assert_eq!(injected, module_classes);
}

#[test]
fn every_injected_fault_and_status_comes_back_from_every_call_path() {
    let injections = injections();
    let mut cases = cases();
    let mut failures = Vec::new();
    let mut calls = 0;
    for case in &mut cases {
        for (injected, answer) in &injections {
            let (seen, issued) = run(case, *answer);
            let expected = Seen::Failed(answer.expected_status(case.target.kind()));
            match issued {
                Ok(count) => calls += count,
                Err(why) => failures.push(format!("{}: injected {injected}: {why}", case.name)),
            }
            if seen != expected {
                failures.push(format!(
                    "{}: injected {injected}: saw {seen:?}, expected {expected:?}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Sanity: every case ran every injection at least once.
    assert!(calls >= cases.len() * injections.len());
}

#[test]
fn every_ghci_wrapper_reports_the_vmm_status_from_r10() {
    // The TDCALL succeeds (RAX = 0) and the VMM refuses in R10: the other error of a
    // TDG.VP.VMCALL wrapper, which must not be confused with a failing TDCALL.
    let refused = TdvmcallCode::InvalidOperand.status();
    let answer = Answer::Outputs {
        status: Status::SUCCESS,
        regs: Regs {
            r10: refused.raw(),
            ..Regs::ZERO
        },
    };
    let mut ghci = 0;
    for case in cases()
        .iter_mut()
        .filter(|c| matches!(c.target, Target::Ghci(_)))
    {
        let (seen, issued) = run(case, answer);
        issued.unwrap_or_else(|why| panic!("{}: {why}", case.name));
        assert_eq!(seen, Seen::Vmm(refused), "{}", case.name);
        ghci += 1;
    }
    assert!(ghci > Subfunction::ALL.len());
}

/// The public methods of `ty` (`Host` or `Guest`) declared in `src/<dir>/*.rs`: every `pub
/// fn` directly inside an `impl<B: Backend> <ty><B> {` block.
fn public_methods(dir: &str, ty: &str) -> BTreeSet<String> {
    let header = format!("impl<B: Backend> {ty}<B> {{");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(dir);
    let mut methods = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let mut inside = false;
        for line in source.lines() {
            if line == header {
                inside = true;
            } else if line == "}" {
                inside = false;
            } else if inside {
                let declared = ["    pub fn ", "    pub unsafe fn ", "    pub const fn "]
                    .iter()
                    .find_map(|prefix| line.strip_prefix(prefix));
                if let Some(rest) = declared {
                    let name = rest.split(['(', '<']).next().unwrap();
                    methods.insert(name.to_string());
                }
            }
        }
    }
    methods
}

#[test]
fn cases_cover_every_leaf_version_subfunction_and_wrapper() {
    let cases = cases();

    // Every version of every leaf in the table.
    let issued: BTreeSet<(Leaf, u8)> = cases.iter().filter_map(|c| c.target.leaf()).collect();
    for &leaf in Leaf::ALL {
        for version in 0..=leaf.max_version() {
            assert!(
                issued.contains(&(leaf, version)),
                "{leaf} version {version} has no case"
            );
        }
    }

    // Every GHCI sub-function with a wrapper, and the vendor call.
    for &sub in Subfunction::ALL {
        assert!(
            cases.iter().any(|c| c.target == Target::Ghci(sub)),
            "{} has no case",
            sub.spec_name()
        );
    }
    assert!(cases.iter().any(|c| c.target == Target::Vendor));

    // Every public method of Host and Guest, and no case naming a method that does not
    // exist. The scan must find at least one method per leaf of each side.
    let host = public_methods("host", "Host");
    let guest = public_methods("guest", "Guest");
    let side_leaves = |side| Leaf::ALL.iter().filter(|l| l.side() == side).count();
    assert!(
        host.len() >= side_leaves(tdxcall::leaf::Side::Host),
        "{host:?}"
    );
    assert!(
        guest.len() >= side_leaves(tdxcall::leaf::Side::Guest),
        "{guest:?}"
    );
    let named = |name: &str, kinds: &[CallKind]| {
        cases
            .iter()
            .any(|c| c.name == name && kinds.contains(&c.target.kind()))
    };
    for method in &host {
        assert!(
            named(method, &[CallKind::Seamcall, CallKind::SeamcallScrub]),
            "Host::{method} has no case"
        );
    }
    for method in &guest {
        assert!(
            named(method, &[CallKind::Tdcall, CallKind::Tdvmcall]),
            "Guest::{method} has no case"
        );
    }
    for case in &cases {
        if let Target::Thunk(_) = case.target {
            continue;
        }
        let methods = if case.target.kind().is_tdcall() {
            &guest
        } else {
            &host
        };
        assert!(
            methods.contains(case.name),
            "case {} names no public method",
            case.name
        );
    }
}

#[test]
fn expected_statuses_follow_the_instruction() {
    // The mapping the loop above relies on, spelled out once.
    assert_eq!(
        Answer::VmFailInvalid.expected_status(CallKind::Seamcall),
        Status::SEAMCALL_VMFAILINVALID
    );
    assert_eq!(
        Answer::VmFailInvalid.expected_status(CallKind::SeamcallScrub),
        Status::SEAMCALL_VMFAILINVALID
    );
    assert_eq!(
        Answer::VmFailInvalid.expected_status(CallKind::Tdcall),
        Status::TDCALL_UD
    );
    assert_eq!(
        Answer::Ud.expected_status(CallKind::Seamcall),
        Status::SEAMCALL_UD
    );
    assert_eq!(
        Answer::Gp.expected_status(CallKind::SeamcallScrub),
        Status::SEAMCALL_GP
    );
    assert_eq!(
        Answer::Ud.expected_status(CallKind::Tdvmcall),
        Status::TDCALL_UD
    );
    assert_eq!(
        Answer::Gp.expected_status(CallKind::Tdcall),
        Status::TDCALL_GP
    );
}
