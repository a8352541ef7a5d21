//! The misuse suite: out-of-order and misuse calls against the software TDX module, each
//! with the status the TDX module returns and the operand ID it names. Written once over a
//! [`Machine`], so it runs through the trapped path (`tests/module_misuse.rs`) and through
//! both paths compared call by call (`tests/module_direct.rs`).

use super::{status, Machine, GLOBAL_HKID};
use tdxcall::abi::{FieldId, GuestPhysAddr, Hkid, HostPhysAddr, PageLevel, TdrPage};
use tdxcall::call::CallKind;
use tdxcall::host::mem::RangeBlock;
use tdxcall::host::phymem::PageType;
use tdxcall::host::sys::TdmrInit;
use tdxcall::host::vp::VpEnterFlags;
use tdxcall::leaf::Leaf;
use tdxcall::status::{Operand, StatusCode};
use tdxcall::{Regs, Status};

fn gpa(raw: u64) -> GuestPhysAddr {
    GuestPhysAddr::new(raw).unwrap()
}

/// A raw SEAMCALL of `leaf` (version 0) with `regs`, for leaves and statuses the typed
/// wrappers turn into something else.
fn raw_seamcall(m: &mut Machine, leaf: Leaf, regs: &mut Regs) -> Status {
    m.raw(CallKind::Seamcall, leaf.rax(), regs)
}

/// One part of the suite: its name and its code.
pub type Scenario = (&'static str, fn(&mut Machine));

/// The three parts of the suite, in order.
pub const SCENARIOS: [Scenario; 3] = [
    ("platform_calls_out_of_order", platform_calls_out_of_order),
    ("td_build_misuse", td_build_misuse),
    ("running_td_misuse", running_td_misuse),
];

pub fn platform_calls_out_of_order(m: &mut Machine) {
    // 1. A TD leaf before the module is ready.
    let tdr = TdrPage::new(m.page()).unwrap();
    // SAFETY: model memory.
    let create = unsafe { m.host.mng_create(tdr, Hkid::new(40)) };
    assert_eq!(status(create), StatusCode::SysNotReady.status());
    // 2. LP.INIT before SYS.INIT.
    assert_eq!(
        status(m.host.sys_lp_init()),
        StatusCode::SysLpInitNotPending.status()
    );
    // 3. SYS.KEY.CONFIG before SYS.CONFIG.
    assert_eq!(
        status(m.host.sys_key_config()),
        StatusCode::SysKeyConfigNotPending.status()
    );
    m.host.sys_init().unwrap();
    // 4. SYS.INIT twice.
    assert_eq!(
        status(m.host.sys_init()),
        StatusCode::SysInitNotPending.status()
    );
    m.host.sys_lp_init().unwrap();
    // 5. LP.INIT twice on the same LP.
    assert_eq!(
        status(m.host.sys_lp_init()),
        StatusCode::SysLpInitDone.status()
    );
    // 6. SYS.RD on an LP that has not run LP.INIT.
    let rd = m.on_lp1(|host| host.sys_rd(FieldId::from_raw(0x0800_0001_0000_0003)));
    assert_eq!(status(rd), StatusCode::SysLpInitNotDone.status());
    // 7. SYS.CONFIG while an LP is not initialized.
    let pointers = m.tdmr_pointers();
    assert_eq!(
        status(m.host.sys_config(pointers, 1, Hkid::new(GLOBAL_HKID))),
        StatusCode::SysConfigNotPending.status()
    );
    m.on_lp1(|host| host.sys_lp_init().unwrap());
    // 8. SYS.CONFIG with a global HKID outside the private range.
    assert_eq!(
        status(m.host.sys_config(pointers, 1, Hkid::new(5))),
        StatusCode::OperandInvalid.with_operand(Operand::R8)
    );
    m.host
        .sys_config(pointers, 1, Hkid::new(GLOBAL_HKID))
        .unwrap();
    m.host.sys_key_config().unwrap();
    // 9. TDMR.INIT of an address that is no TDMR's base.
    let tdmr = m.module.tdmr();
    let elsewhere = HostPhysAddr::new(tdmr.tdmr_base.raw() + (1 << 30)).unwrap();
    assert_eq!(
        status(m.host.sys_tdmr_init(elsewhere, 1 << 30)),
        StatusCode::OperandInvalid.with_operand(Operand::RCX)
    );
    // 10. A page in a TDMR whose PAMT is not initialized yet.
    let tdr = TdrPage::new(m.page()).unwrap();
    // SAFETY: model memory.
    let create = unsafe { m.host.mng_create(tdr, Hkid::new(40)) };
    assert_eq!(
        status(create),
        StatusCode::OperandAddrRangeError.with_operand(Operand::RCX)
    );
    let base = tdmr.tdmr_base;
    assert_eq!(
        m.host.sys_tdmr_init(base, tdmr.tdmr_size),
        Ok(TdmrInit::Initialized)
    );
    // 11. TDMR.INIT once it is done: the warning, not an error.
    let mut regs = Regs {
        rcx: tdmr.tdmr_base.raw(),
        ..Regs::ZERO
    };
    assert_eq!(
        raw_seamcall(m, Leaf::TdhSysTdmrInit, &mut regs),
        StatusCode::TdmrAlreadyInitialized.status()
    );
    // 12. An unmodelled (here: debug memory access) leaf, and a version a leaf does not have.
    let mut regs = Regs::ZERO;
    assert_eq!(
        raw_seamcall(m, Leaf::TdhMemRd, &mut regs),
        StatusCode::OperandInvalid.with_operand(Operand::RAX)
    );
    let mut regs = Regs::ZERO;
    let versioned = m.raw(
        CallKind::Seamcall,
        Leaf::TdhMngCreate.rax() | 1 << 16,
        &mut regs,
    );
    assert_eq!(
        versioned,
        StatusCode::OperandInvalid.with_operand(Operand::RAX)
    );
}

pub fn td_build_misuse(m: &mut Machine) {
    m.init_platform();
    // 13. An HKID outside the private range.
    let tdr = TdrPage::new(m.page()).unwrap();
    // SAFETY: model memory.
    let create = unsafe { m.host.mng_create(tdr, Hkid::new(GLOBAL_HKID - 1)) };
    assert_eq!(
        status(create),
        StatusCode::OperandInvalid.with_operand(Operand::RDX)
    );
    // 14. The module's own global HKID is not free.
    // SAFETY: model memory.
    let create = unsafe { m.host.mng_create(tdr, Hkid::new(GLOBAL_HKID)) };
    assert_eq!(status(create), StatusCode::HkidNotFree.status());
    // SAFETY: model memory.
    unsafe { m.host.mng_create(tdr, Hkid::new(40)) }.unwrap();
    // 15. A second MNG.CREATE with a used HKID.
    let other = TdrPage::new(m.page()).unwrap();
    // SAFETY: model memory.
    let create = unsafe { m.host.mng_create(other, Hkid::new(40)) };
    assert_eq!(status(create), StatusCode::HkidNotFree.status());
    // 16. MNG.CREATE on a page that already is a TDR.
    // SAFETY: model memory.
    let create = unsafe { m.host.mng_create(tdr, Hkid::new(41)) };
    assert_eq!(
        status(create),
        StatusCode::PageMetadataIncorrect.with_operand(Operand::RCX)
    );
    // 17. ADDCX before the TD's key is configured.
    let tdcx = tdxcall::abi::TdcxPage::new(m.page()).unwrap();
    // SAFETY: model memory.
    let addcx = unsafe { m.host.mng_addcx(tdcx, tdr) };
    assert_eq!(status(addcx), StatusCode::TdKeysNotConfigured.status());
    m.host.mng_key_config(tdr).unwrap();
    // 18. KEY.CONFIG twice.
    assert_eq!(
        status(m.host.mng_key_config(tdr)),
        StatusCode::LifecycleStateIncorrect.status()
    );
    // 19. MNG.INIT before the TDCS pages are all there.
    let params = Machine::params();
    assert_eq!(
        status(m.init_td(tdr, &params)),
        StatusCode::TdcsNotAllocated.status()
    );
    for _ in 0..6 {
        let tdcx = tdxcall::abi::TdcxPage::new(m.page()).unwrap();
        // SAFETY: model memory.
        unsafe { m.host.mng_addcx(tdcx, tdr) }.unwrap();
    }
    // 20. TD_PARAMS: ATTRIBUTES outside ATTRIBUTES_FIXED0, MAX_VCPUS 0, a non-configurable
    // CPUID bit (with the leaf in RCX), EPTP_CONTROLS with the wrong walk length.
    let mut bad = params;
    bad.attributes = tdxcall::abi::Attributes::from_bits_retain(1 << 40); // not in FIXED0
    assert_eq!(
        status(m.init_td(tdr, &bad)),
        StatusCode::OperandInvalid.with_operand(Operand::ATTRIBUTES)
    );
    let mut bad = params;
    bad.max_vcpus = 0;
    assert_eq!(
        status(m.init_td(tdr, &bad)),
        StatusCode::OperandInvalid.with_operand(Operand::MAX_VCPUS)
    );
    let mut bad = params;
    bad.eptp_controls = 6 | 4 << 3;
    assert_eq!(
        status(m.init_td(tdr, &bad)),
        StatusCode::OperandInvalid.with_operand(Operand::EPTP_CONTROLS)
    );
    let mut bad = params;
    bad.cpuid_config[5].ebx = 1; // leaf 7/0 (slot 5) EBX bit 0 is not configurable
    let error = m.init_td(tdr, &bad).unwrap_err();
    assert_eq!(
        error.status(),
        Some(StatusCode::OperandInvalid.with_operand(Operand::CPUID_CONFIG))
    );
    let leaf = error.details.expect("the offending leaf in RCX");
    assert_eq!((leaf.leaf, leaf.subleaf), (7, 0));
    m.init_td(tdr, &params).unwrap();
    // 21. MNG.INIT twice.
    assert_eq!(
        status(m.init_td(tdr, &params)),
        StatusCode::OpStateIncorrect.status()
    );
    // 22. VP.INIT before the TDVPS pages are all there.
    let tdvpr = m.create_vcpu(tdr, 2);
    assert_eq!(
        status(m.host.vp_init(tdvpr, 0)),
        StatusCode::TdcxNumIncorrect.status()
    );
    // 23. PAGE.ADD where no Secure-EPT page exists: the walk stops at the root level (3),
    // whose entry is FREE (SUPPRESS_VE only).
    let (target, source) = (m.page(), m.page());
    // SAFETY: model memory.
    let add = unsafe { m.host.mem_page_add(gpa(0x5000), tdr, target, source) };
    let error = add.unwrap_err();
    assert_eq!(
        error.status(),
        Some(StatusCode::EptWalkFailed.with_operand(Operand::RCX))
    );
    let details = error.details.expect("SEPT details");
    assert_eq!(
        (details.level, details.state, details.entry),
        (3, 0, 1 << 63)
    );
    // 24. MR.FINALIZE with no vCPU initialized.
    assert_eq!(
        status(m.host.mr_finalize(tdr)),
        StatusCode::NoVcpus.status()
    );
    m.sept(tdr, 0);
    // 25. PAGE.ADD whose target page is already the TD's (its TDR).
    // SAFETY: model memory.
    let add = unsafe { m.host.mem_page_add(gpa(0x5000), tdr, tdr.hpa(), source) };
    assert_eq!(
        status(add),
        StatusCode::PageMetadataIncorrect.with_operand(Operand::R8)
    );
    m.add_page(tdr, 0x5000);
    // 26. PAGE.ADD to a GPA that is already mapped: the entry's state is MAPPED (4).
    // SAFETY: model memory.
    let add = unsafe { m.host.mem_page_add(gpa(0x5000), tdr, target, source) };
    let error = add.unwrap_err();
    assert_eq!(
        error.status(),
        Some(StatusCode::EptEntryStateIncorrect.with_operand(Operand::RCX))
    );
    assert_eq!(error.details.map(|d| (d.level, d.state)), Some((0, 4)));
    // 27. MR.EXTEND of a GPA with no page: where the Secure EPT reaches the leaf level
    // the module reports the FREE leaf without an operand; where the walk stops above it,
    // with operand RCX.
    assert_eq!(
        status(m.host.mr_extend(gpa(0x9000), tdr)),
        StatusCode::EptEntryNotPresent.status()
    );
    assert_eq!(
        status(m.host.mr_extend(gpa(0x20_0000), tdr)),
        StatusCode::EptEntryNotPresent.with_operand(Operand::RCX)
    );
    // 28. SEPT.ADD of an existing SEPT page without ALLOW_EXISTING.
    let sept = m.page();
    // SAFETY: model memory.
    let add = unsafe { m.host.mem_sept_add(gpa(0), PageLevel::Size2M, tdr, sept) };
    assert_eq!(
        status(add),
        StatusCode::EptEntryStateIncorrect.with_operand(Operand::RCX)
    );
    // 29. A source page that is not page aligned never reaches the module; a TDR that is
    // not a TDR does: a host page as TDR.
    let not_tdr = TdrPage::new(m.page()).unwrap();
    assert_eq!(
        status(m.host.mr_extend(gpa(0x5000), not_tdr)),
        StatusCode::PageMetadataIncorrect.with_operand(Operand::RDX)
    );
    // 30. Metadata: a field that does not exist, a read-only field, a vCPU whose TDVPS is
    // incomplete.
    assert_eq!(
        status(m.host.mng_rd(tdr, FieldId::from_raw(0x1110_0003_0000_0077))),
        StatusCode::MetadataFieldIdIncorrect.status()
    );
    let attributes = FieldId::from_raw(0x1110_0003_0000_0000);
    assert_eq!(
        status(m.host.mng_wr(tdr, attributes, 1, 1)),
        StatusCode::MetadataFieldNotWritable.status()
    );
    let pend_nmi = FieldId::from_raw(0x2020_0000_0000_000B);
    assert_eq!(
        status(m.host.vp_wr(tdvpr, pend_nmi, 1, 1)),
        StatusCode::TdcxNumIncorrect.status(),
        "VP.WR needs the whole TDVPS"
    );
}

pub fn running_td_misuse(m: &mut Machine) {
    let (tdr, tdvpr, page) = m.built_td(40);
    // 31. VP.ENTER before MR.FINALIZE.
    let mut regs = Regs::ZERO;
    // SAFETY: the model answers.
    let enter = unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) };
    assert_eq!(status(enter), StatusCode::OpStateIncorrect.status());
    // 32. PAGE.AUG before MR.FINALIZE.
    let aug_page = m.page();
    // SAFETY: model memory.
    let aug = unsafe {
        m.host
            .mem_page_aug(gpa(0x3000), PageLevel::Size4K, tdr, aug_page)
    };
    assert_eq!(status(aug), StatusCode::OpStateIncorrect.status());
    m.host.mr_finalize(tdr).unwrap();
    // 33. PAGE.ADD after MR.FINALIZE.
    let (target, source) = (m.page(), m.page());
    // SAFETY: model memory.
    let add = unsafe { m.host.mem_page_add(gpa(0x7000), tdr, target, source) };
    assert_eq!(status(add), StatusCode::OpStateIncorrect.status());
    // 34. MR.EXTEND after MR.FINALIZE.
    assert_eq!(
        status(m.host.mr_extend(gpa(0), tdr)),
        StatusCode::OpStateIncorrect.status()
    );
    // 35. VP.ENTER on another LP while the vCPU is associated with LP 0.
    let enter_elsewhere = m.on_lp1(move |host| {
        let mut regs = Regs::ZERO;
        // SAFETY: the model answers.
        status(unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) })
    });
    assert_eq!(enter_elsewhere, StatusCode::VcpuAssociated.status());
    // 36. VP.ENTER with reserved bits in RCX.
    let mut regs = Regs {
        rcx: tdvpr.raw() | 1 << 60,
        ..Regs::ZERO
    };
    let raw = m.raw(CallKind::SeamcallScrub, Leaf::TdhVpEnter.rax(), &mut regs);
    assert_eq!(raw, StatusCode::OperandInvalid.with_operand(Operand::RCX));
    // 37. PAGE.REMOVE of a mapped page of a running TD that is not blocked.
    // SAFETY: model memory.
    let remove = unsafe { m.host.mem_page_remove(gpa(0), PageLevel::Size4K, tdr) };
    let error = remove.unwrap_err();
    assert_eq!(
        error.status(),
        Some(StatusCode::GpaRangeNotBlocked.with_operand(Operand::RCX))
    );
    // 38. ... blocked but not tracked.
    assert_eq!(
        m.host.mem_range_block(gpa(0), PageLevel::Size4K, tdr),
        Ok(RangeBlock::Blocked)
    );
    // SAFETY: model memory.
    let remove = unsafe { m.host.mem_page_remove(gpa(0), PageLevel::Size4K, tdr) };
    assert_eq!(
        status(remove),
        StatusCode::TlbTrackingNotDone.with_operand(Operand::RCX)
    );
    // 39. Blocking twice: the warning, with the SEPT entry (BLOCKED, 1) in RCX/RDX.
    let mut regs = Regs {
        rcx: 0,
        rdx: tdr.raw(),
        ..Regs::ZERO
    };
    assert_eq!(
        raw_seamcall(m, Leaf::TdhMemRangeBlock, &mut regs),
        StatusCode::GpaRangeAlreadyBlocked.with_operand(Operand::RCX)
    );
    assert_eq!(regs.rdx, 1 << 8);
    assert_eq!(regs.rcx & 0x000F_FFFF_FFFF_F000, page.raw());
    m.host.mem_track(tdr).unwrap();
    // SAFETY: model memory.
    let removed = unsafe { m.host.mem_page_remove(gpa(0), PageLevel::Size4K, tdr) }.unwrap();
    assert_eq!(removed, page);
    // 40. Reclaiming a page a TD still owns (a TDCS page) while the TD lives, and a page
    // nobody owns.
    let tdcs_page = HostPhysAddr::new(tdr.raw() + 4096).unwrap();
    let tdcs_type = m.host.phymem_page_rdmd(tdcs_page).unwrap().page_type;
    assert_eq!(tdcs_type, PageType::Tdcx);
    // SAFETY: the model refuses.
    let reclaim = unsafe { m.host.phymem_page_reclaim(tdcs_page) };
    assert_eq!(
        status(reclaim),
        StatusCode::LifecycleStateIncorrect.status()
    );
    // SAFETY: `removed` is a host page again.
    let reclaim = unsafe { m.host.phymem_page_reclaim(removed) };
    assert_eq!(
        status(reclaim),
        StatusCode::PageMetadataIncorrect.with_operand(Operand::RCX)
    );
    // 41. Teardown out of order: KEY.FREEID before VPFLUSHDONE, VPFLUSHDONE while the vCPU
    // is associated, VP.FLUSH from an LP it is not associated with, FREEID before CACHE.WB,
    // and the TDR reclaimed while it has children.
    assert_eq!(
        status(m.host.mng_key_freeid(tdr)),
        StatusCode::LifecycleStateIncorrect.status()
    );
    assert_eq!(
        status(m.host.mng_vpflushdone(tdr)),
        StatusCode::FlushvpNotDone.status()
    );
    let flush_elsewhere = m.on_lp1(move |host| status(host.vp_flush(tdvpr)));
    assert_eq!(flush_elsewhere, StatusCode::VcpuNotAssociated.status());
    m.host.vp_flush(tdvpr).unwrap();
    m.host.mng_vpflushdone(tdr).unwrap();
    assert_eq!(
        status(m.host.mng_key_freeid(tdr)),
        StatusCode::WbcacheNotComplete.status()
    );
    m.host.phymem_cache_wb().unwrap();
    m.host.mng_key_freeid(tdr).unwrap();
    // SAFETY: torn down; the model refuses while children exist.
    let reclaim = unsafe { m.host.phymem_page_reclaim(tdr.hpa()) };
    assert_eq!(status(reclaim), StatusCode::TdAssociatedPagesExist.status());
    // 42. VP.ENTER of a reclaimed vCPU: its page is a host page again.
    // SAFETY: torn down.
    unsafe { m.host.phymem_page_reclaim(tdvpr.hpa()) }.unwrap();
    let mut regs = Regs::ZERO;
    // SAFETY: the model answers.
    let enter = unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) };
    assert_eq!(
        status(enter),
        StatusCode::PageMetadataIncorrect.with_operand(Operand::RCX)
    );
}
