//! Coverage: every host leaf of the table has a wrapper, reached through the seam with the
//! leaf's RAX; and the README coverage rows (between the README's host-coverage markers) match the table.

use super::export::MemBundle;
use super::vp::VpEnterFlags;
use super::Host;
use crate::abi::mig::{GpaListInfo, Mbmd, MigCommand, MigStreamIndex, PageListInfo, ServtdAttr};
use crate::abi::*;
use crate::abi::{Context, FieldId};
use crate::call::{CallKind, FnBackend};
use crate::leaf::{Leaf, Side};
use crate::regs::Regs;
use crate::status::Status;
use crate::xstate::Preserve;

/// Safe or unsafe wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Safety {
    Safe,
    Unsafe,
}

/// Calls the wrapper(s) of `leaf` on `host` and names them. The match is exhaustive: a
/// leaf added to the table without a host wrapper fails to compile here.
fn call_wrapper<B: crate::call::Backend>(
    host: &mut Host<B>,
    leaf: Leaf,
) -> Option<(&'static str, Safety)> {
    use Safety::*;
    let tdr = TdrPage::from_raw(0x1000).unwrap();
    let tdvpr = TdvprPage::from_raw(0x2000).unwrap();
    let tdcx = TdcxPage::from_raw(0x3000).unwrap();
    let page = HostPhysAddr::new(0x4000).unwrap();
    let gpa = GuestPhysAddr::new(0x20_0000).unwrap();
    let field = FieldId::from_raw(0x1110_0003_0000_0000);
    let mbmd = Mbmd::new(page, 0x80).unwrap();
    let list = GpaListInfo::new(page, 0, 0).unwrap();
    let pages = PageListInfo::new(page, 0).unwrap();
    let bundle = MemBundle {
        mbmd,
        buffer_list: page,
        mac_lists: [page, page],
        stream: MigStreamIndex(0),
        command: MigCommand::New,
    };
    let slot = super::servtd::ServtdSlot {
        slot: 0,
        servtd_type: 0,
    };
    let attr = ServtdAttr::new(0).unwrap();
    let l2 = PageLevel::Size2M;
    // SAFETY: the host's backend is a recording closure; no instruction executes.
    let named = unsafe {
        match leaf {
            Leaf::TdhVpEnter => (
                host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut Regs::default())
                    .is_ok(),
                "vp_enter",
                Unsafe,
            ),
            Leaf::TdhMngAddcx => (host.mng_addcx(tdcx, tdr).is_ok(), "mng_addcx", Unsafe),
            Leaf::TdhMemPageAdd => (
                host.mem_page_add(gpa, tdr, page, page).is_ok(),
                "mem_page_add",
                Unsafe,
            ),
            Leaf::TdhMemSeptAdd => (
                host.mem_sept_add(gpa, l2, tdr, page).is_ok()
                    && host
                        .mem_sept_add_v1(gpa, l2, tdr, false, Some(page), [None; 3])
                        .is_ok(),
                "mem_sept_add, mem_sept_add_v1",
                Unsafe,
            ),
            Leaf::TdhVpAddcx => (host.vp_addcx(tdcx, tdvpr).is_ok(), "vp_addcx", Unsafe),
            Leaf::TdhMemPageRelocate => (
                host.mem_page_relocate(gpa, tdr, page).is_ok(),
                "mem_page_relocate",
                Unsafe,
            ),
            Leaf::TdhMemPageAug => (
                host.mem_page_aug(gpa, PageLevel::Size4K, tdr, page).is_ok(),
                "mem_page_aug",
                Unsafe,
            ),
            Leaf::TdhMemRangeBlock => (
                host.mem_range_block(gpa, l2, tdr).is_ok(),
                "mem_range_block",
                Safe,
            ),
            Leaf::TdhMngKeyConfig => (host.mng_key_config(tdr).is_ok(), "mng_key_config", Safe),
            Leaf::TdhMngCreate => (
                host.mng_create(tdr, Hkid::new(1)).is_ok(),
                "mng_create",
                Unsafe,
            ),
            Leaf::TdhVpCreate => (host.vp_create(tdvpr, tdr).is_ok(), "vp_create", Unsafe),
            Leaf::TdhMngRd => (
                host.mng_rd(tdr, field).is_ok() && host.mng_rd_next(tdr, field).is_ok(),
                "mng_rd, mng_rd_next",
                Safe,
            ),
            Leaf::TdhMemRd => (host.mem_rd(gpa, tdr).is_ok(), "mem_rd", Safe),
            Leaf::TdhMngWr => (host.mng_wr(tdr, field, 0, 0).is_ok(), "mng_wr", Safe),
            Leaf::TdhMemWr => (host.mem_wr(gpa, tdr, 0).is_ok(), "mem_wr", Safe),
            Leaf::TdhMemPageDemote => (
                host.mem_page_demote(gpa, l2, tdr, false, page, [None; 3])
                    .is_ok(),
                "mem_page_demote",
                Unsafe,
            ),
            Leaf::TdhMrExtend => (host.mr_extend(gpa, tdr).is_ok(), "mr_extend", Safe),
            Leaf::TdhMrFinalize => (host.mr_finalize(tdr).is_ok(), "mr_finalize", Safe),
            Leaf::TdhVpFlush => (host.vp_flush(tdvpr).is_ok(), "vp_flush", Safe),
            Leaf::TdhMngVpflushdone => (host.mng_vpflushdone(tdr).is_ok(), "mng_vpflushdone", Safe),
            Leaf::TdhMngKeyFreeid => (host.mng_key_freeid(tdr).is_ok(), "mng_key_freeid", Safe),
            Leaf::TdhMngInit => (
                host.mng_init(tdr, HostPhysAddr::new(0x400).unwrap())
                    .is_ok(),
                "mng_init",
                Safe,
            ),
            Leaf::TdhVpInit => (
                host.vp_init(tdvpr, 0).is_ok() && host.vp_init_x2apic(tdvpr, 0, 1).is_ok(),
                "vp_init, vp_init_x2apic",
                Safe,
            ),
            Leaf::TdhMemPagePromote => (
                host.mem_page_promote(gpa, l2, tdr).is_ok()
                    && host.mem_page_promote_v1(gpa, l2, tdr).is_ok(),
                "mem_page_promote, mem_page_promote_v1",
                Unsafe,
            ),
            Leaf::TdhPhymemPageRdmd => (
                host.phymem_page_rdmd(page).is_ok(),
                "phymem_page_rdmd",
                Safe,
            ),
            Leaf::TdhMemSeptRd => (
                host.mem_sept_rd(gpa, l2, tdr, false).is_ok(),
                "mem_sept_rd",
                Safe,
            ),
            Leaf::TdhVpRd => (
                host.vp_rd(tdvpr, field).is_ok() && host.vp_rd_next(tdvpr, field).is_ok(),
                "vp_rd, vp_rd_next",
                Safe,
            ),
            Leaf::TdhMngKeyReclaimid => (
                host.mng_key_reclaimid(tdr).is_ok(),
                "mng_key_reclaimid",
                Safe,
            ),
            Leaf::TdhPhymemPageReclaim => (
                host.phymem_page_reclaim(page).is_ok(),
                "phymem_page_reclaim",
                Unsafe,
            ),
            Leaf::TdhMemPageRemove => (
                host.mem_page_remove(gpa, l2, tdr).is_ok(),
                "mem_page_remove",
                Unsafe,
            ),
            Leaf::TdhMemSeptRemove => (
                host.mem_sept_remove(gpa, l2, tdr).is_ok()
                    && host.mem_sept_remove_v1(gpa, l2, tdr).is_ok(),
                "mem_sept_remove, mem_sept_remove_v1",
                Unsafe,
            ),
            Leaf::TdhSysKeyConfig => (host.sys_key_config().is_ok(), "sys_key_config", Safe),
            Leaf::TdhSysInfo => (
                host.sys_info(
                    HostPhysAddr::new(0x400).unwrap(),
                    HostPhysAddr::new(0x200).unwrap(),
                )
                .is_ok(),
                "sys_info",
                Unsafe,
            ),
            Leaf::TdhSysInit => (host.sys_init().is_ok(), "sys_init", Safe),
            Leaf::TdhSysRd => (
                host.sys_rd(field.with_context(Context::Platform)).is_ok(),
                "sys_rd (sys_fields, module_info, tdx_features0, ...)",
                Safe,
            ),
            Leaf::TdhSysLpInit => (host.sys_lp_init().is_ok(), "sys_lp_init", Safe),
            Leaf::TdhSysTdmrInit => (
                host.sys_tdmr_init(HostPhysAddr::new(0).unwrap(), 1 << 30)
                    .is_ok(),
                "sys_tdmr_init",
                Safe,
            ),
            Leaf::TdhSysRdall => (
                host.sys_rdall(page, FieldId::null(Context::Platform))
                    .is_ok(),
                "sys_rdall",
                Unsafe,
            ),
            Leaf::TdhMemTrack => (host.mem_track(tdr).is_ok(), "mem_track", Safe),
            Leaf::TdhMemRangeUnblock => (
                host.mem_range_unblock(gpa, l2, tdr).is_ok(),
                "mem_range_unblock",
                Safe,
            ),
            Leaf::TdhPhymemCacheWb => (
                host.phymem_cache_wb().is_ok() && host.phymem_cache_wb_resume().is_ok(),
                "phymem_cache_wb, phymem_cache_wb_resume",
                Safe,
            ),
            Leaf::TdhPhymemPageWbinvd => (
                host.phymem_page_wbinvd(page).is_ok(),
                "phymem_page_wbinvd",
                Safe,
            ),
            Leaf::TdhVpWr => (host.vp_wr(tdvpr, field, 0, 0).is_ok(), "vp_wr", Safe),
            Leaf::TdhSysLpShutdown => (host.sys_lp_shutdown().is_ok(), "sys_lp_shutdown", Safe),
            Leaf::TdhSysConfig => (
                host.sys_config(HostPhysAddr::new(0x200).unwrap(), 1, Hkid::new(1))
                    .is_ok(),
                "sys_config",
                Safe,
            ),
            Leaf::TdhServtdBind => (
                host.servtd_bind(tdr, TdrPage::from_raw(0x5000).unwrap(), slot, attr)
                    .is_ok(),
                "servtd_bind",
                Safe,
            ),
            Leaf::TdhServtdPrebind => (
                host.servtd_prebind(tdr, page, slot, attr).is_ok(),
                "servtd_prebind",
                Safe,
            ),
            Leaf::TdhSysShutdown => (host.sys_shutdown(0).is_ok(), "sys_shutdown", Safe),
            Leaf::TdhSysUpdate => (host.sys_update().is_ok(), "sys_update", Safe),
            Leaf::TdhExportAbort => (
                host.export_abort(tdr, mbmd, Preserve::on_stack().unwrap())
                    .is_ok(),
                "export_abort",
                Unsafe,
            ),
            Leaf::TdhExportBlockw => (
                host.export_blockw(list, tdr).is_ok(),
                "export_blockw",
                Unsafe,
            ),
            Leaf::TdhExportRestore => (
                host.export_restore(list, tdr).is_ok(),
                "export_restore",
                Unsafe,
            ),
            Leaf::TdhExportMem => (
                host.export_mem(list, tdr, &bundle, Preserve::on_stack().unwrap())
                    .is_ok(),
                "export_mem",
                Unsafe,
            ),
            Leaf::TdhExportPause => (host.export_pause(tdr).is_ok(), "export_pause", Safe),
            Leaf::TdhExportTrack => (
                host.export_track(tdr, mbmd, MigCommand::New, Preserve::on_stack().unwrap())
                    .is_ok(),
                "export_track",
                Unsafe,
            ),
            Leaf::TdhExportStateImmutable => (
                host.export_state_immutable(
                    tdr,
                    mbmd,
                    pages,
                    MigStreamIndex(0),
                    MigCommand::New,
                    Preserve::on_stack().unwrap(),
                )
                .is_ok(),
                "export_state_immutable",
                Unsafe,
            ),
            Leaf::TdhExportStateTd => (
                host.export_state_td(
                    tdr,
                    mbmd,
                    pages,
                    MigStreamIndex(0),
                    MigCommand::New,
                    Preserve::on_stack().unwrap(),
                )
                .is_ok(),
                "export_state_td",
                Unsafe,
            ),
            Leaf::TdhExportStateVp => (
                host.export_state_vp(
                    tdvpr,
                    mbmd,
                    pages,
                    MigStreamIndex(0),
                    MigCommand::New,
                    Preserve::on_stack().unwrap(),
                )
                .is_ok(),
                "export_state_vp",
                Unsafe,
            ),
            Leaf::TdhExportUnblockw => (
                host.export_unblockw(gpa, l2, tdr).is_ok(),
                "export_unblockw",
                Safe,
            ),
            Leaf::TdhImportAbort => (
                host.import_abort(tdr, mbmd, Preserve::on_stack().unwrap())
                    .is_ok(),
                "import_abort",
                Safe,
            ),
            Leaf::TdhImportEnd => (host.import_end(tdr).is_ok(), "import_end", Safe),
            Leaf::TdhImportCommit => (host.import_commit(tdr).is_ok(), "import_commit", Safe),
            Leaf::TdhImportMem => (
                host.import_mem(list, tdr, &bundle, None, Preserve::on_stack().unwrap())
                    .is_ok(),
                "import_mem",
                Unsafe,
            ),
            Leaf::TdhImportTrack => (
                host.import_track(
                    tdr,
                    mbmd,
                    MigStreamIndex(0),
                    MigCommand::New,
                    Preserve::on_stack().unwrap(),
                )
                .is_ok(),
                "import_track",
                Safe,
            ),
            Leaf::TdhImportStateImmutable => (
                host.import_state_immutable(
                    tdr,
                    mbmd,
                    pages,
                    MigStreamIndex(0),
                    MigCommand::New,
                    Preserve::on_stack().unwrap(),
                )
                .is_ok(),
                "import_state_immutable",
                Safe,
            ),
            Leaf::TdhImportStateTd => (
                host.import_state_td(
                    tdr,
                    mbmd,
                    pages,
                    MigStreamIndex(0),
                    MigCommand::New,
                    Preserve::on_stack().unwrap(),
                )
                .is_ok(),
                "import_state_td",
                Safe,
            ),
            Leaf::TdhImportStateVp => (
                host.import_state_vp(
                    tdvpr,
                    mbmd,
                    pages,
                    MigStreamIndex(0),
                    MigCommand::New,
                    Preserve::on_stack().unwrap(),
                )
                .is_ok(),
                "import_state_vp",
                Safe,
            ),
            Leaf::TdhMigStreamCreate => (
                host.mig_stream_create(page, tdr).is_ok(),
                "mig_stream_create",
                Unsafe,
            ),
            Leaf::TdhPhymemPamtAdd => (
                host.phymem_pamt_add(HostPhysAddr::new(0x20_0000).unwrap(), page, page)
                    .is_ok(),
                "phymem_pamt_add",
                Unsafe,
            ),
            Leaf::TdhPhymemPamtRemove => (
                host.phymem_pamt_remove(HostPhysAddr::new(0x20_0000).unwrap())
                    .is_ok(),
                "phymem_pamt_remove",
                Unsafe,
            ),
            Leaf::TdhMemScanRange => (
                host.mem_scan_range(super::scan::ScanRegs::default())
                    .is_ok(),
                "mem_scan_range",
                Unsafe,
            ),
            Leaf::TdhMemScanComp => (
                host.mem_scan_comp(super::scan::ScanRegs::default()).is_ok(),
                "mem_scan_comp",
                Unsafe,
            ),
            Leaf::TdhMemScanConfig => (
                host.mem_scan_config(super::scan::ScanRegs::default())
                    .is_ok(),
                "mem_scan_config",
                Unsafe,
            ),
            Leaf::TdhMemScanReset => (host.mem_scan_reset(0).is_ok(), "mem_scan_reset", Unsafe),
            Leaf::TdhServtdRebind => (
                host.servtd_rebind(&mut Regs::default()).is_ok(),
                "servtd_rebind",
                Unsafe,
            ),
            Leaf::TdhMemSharedSeptWr => (
                host.mem_shared_sept_wr(0, gpa, PageLevel::Size4K, tdr, [0; 4])
                    .is_ok()
                    && host
                        .mem_shared_sept_wr(1, gpa, PageLevel::Size4K, tdr, [0; 4])
                        .is_ok(),
                "mem_shared_sept_wr",
                Unsafe,
            ),
            Leaf::TdgMrKeyGet
            | Leaf::TdgServtdRebindApprove
            | Leaf::TdgVpVmcall
            | Leaf::TdgVpInfo
            | Leaf::TdgMrRtmrExtend
            | Leaf::TdgVpVeinfoGet
            | Leaf::TdgMrReport
            | Leaf::TdgVpCpuidveSet
            | Leaf::TdgMemPageAccept
            | Leaf::TdgVmRd
            | Leaf::TdgVmWr
            | Leaf::TdgVpRd
            | Leaf::TdgVpWr
            | Leaf::TdgSysRd
            | Leaf::TdgSysRdall
            | Leaf::TdgServtdRd
            | Leaf::TdgServtdWr
            | Leaf::TdgMrVerifyreport
            | Leaf::TdgMemPageAttrRd
            | Leaf::TdgMemPageAttrWr
            | Leaf::TdgVpEnter
            | Leaf::TdgVpInvept
            | Leaf::TdgVpInvvpid => return None,
        }
    };
    assert!(
        named.0,
        "{leaf}: the wrapper failed against a succeeding backend"
    );
    Some((named.1, named.2))
}

#[test]
fn every_host_leaf_has_a_wrapper_that_issues_it() {
    let mut wrapped = 0;
    for &leaf in Leaf::ALL {
        let mut seen: [Option<(CallKind, u64)>; 4] = [None; 4];
        let mut calls = 0usize;
        let mut backend = |kind: CallKind, rax: u64, regs: &mut Regs| {
            seen[calls.min(3)] = Some((kind, rax));
            calls += 1;
            // Answer as a module would for a successful last step (TDMR.INIT done, no
            // next metadata field).
            regs.rdx = u64::MAX;
            regs.r8 = u64::MAX;
            Status::SUCCESS
        };
        let named = call_wrapper(&mut Host::new(FnBackend(&mut backend)), leaf);
        match named {
            None => assert_eq!(leaf.side(), Side::Guest, "{leaf}"),
            Some(_) => {
                wrapped += 1;
                assert!(calls >= 1, "{leaf}: no call");
                for (kind, rax) in seen.iter().flatten() {
                    assert_eq!(rax & 0xFFFF, leaf.number() as u64, "{leaf}");
                    assert!(rax >> 16 <= leaf.max_version() as u64, "{leaf}");
                    assert_eq!(
                        *kind,
                        if leaf == Leaf::TdhVpEnter {
                            CallKind::SeamcallScrub
                        } else {
                            CallKind::Seamcall
                        }
                    );
                }
            }
        }
    }
    assert_eq!(wrapped, 76);
}

/// The README coverage rows for the host leaves, generated from the leaf table and the
/// wrapper names above.
fn coverage_table() -> std::string::String {
    use std::fmt::Write;
    let mut out = std::string::String::from(
        "| Leaf | Number | Wrapper (`Host::…`) | Minimum module version | 1.0 | 1.5.0x | 1.5.2x/3x | 2.0 | Safety |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for &leaf in Leaf::ALL.iter().filter(|l| l.side() == Side::Host) {
        let mut backend = |_: CallKind, _: u64, regs: &mut Regs| {
            regs.rdx = u64::MAX;
            regs.r8 = u64::MAX;
            Status::SUCCESS
        };
        let mut host = Host::new(FnBackend(&mut backend));
        let (name, safety) = call_wrapper(&mut host, leaf).unwrap();
        let since = crate::leaf::coverage::since_cell(leaf);
        let version = match leaf.v1_since() {
            Some(v1) => std::format!("{since} (v1: {v1})"),
            None => since,
        };
        let safety = if safety == Safety::Safe {
            "safe"
        } else {
            "unsafe"
        };
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            leaf.spec_name(),
            leaf.number(),
            name,
            version,
            crate::leaf::coverage::family_cells(leaf),
            safety
        )
        .unwrap();
    }
    out
}

#[test]
fn coverage_doc_matches_the_table() {
    const BEGIN: &str = "<!-- host-coverage:begin -->\n";
    const END: &str = "<!-- host-coverage:end -->";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let start = readme.find(BEGIN).expect("README host-coverage markers") + BEGIN.len();
    let end = readme[start..]
        .find(END)
        .expect("README host-coverage end marker")
        + start;
    let expected = coverage_table();
    if std::env::var_os("TDXCALL_BLESS").is_some() {
        let blessed = std::format!("{}{}{}", &readme[..start], expected, &readme[end..]);
        std::fs::write(path, blessed).unwrap();
    }
    let actual = &readme[start..end];
    assert_eq!(
        actual, expected,
        "the README's host coverage table is stale: rerun with TDXCALL_BLESS=1"
    );
    for &leaf in Leaf::ALL.iter().filter(|l| l.side() == Side::Host) {
        let row = std::format!("| {} | {} |", leaf.spec_name(), leaf.number());
        assert!(actual.contains(&row), "{leaf} missing from the README");
    }
}

#[test]
fn detailed_error_converts_and_displays() {
    let e: super::DetailedError<u8> = crate::Error::Status(Status::from_raw(1 << 63)).into();
    assert_eq!(e.details, None);
    let back: crate::Error = super::DetailedError {
        error: crate::Error::Status(Status::from_raw(1 << 63)),
        details: Some(7u8),
    }
    .into();
    assert_eq!(back, crate::Error::Status(Status::from_raw(1 << 63)));
}
