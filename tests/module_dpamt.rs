//! The software module as TDX module 2.0.18 with Dynamic PAMT: a TD whose pages need their
//! 2 MiB ranges' PAMT page pairs first, PAMT.REMOVE refused while pages are in use and
//! handing the pair back after teardown; the version-aware Host allowing PAMT.ADD on 2.0.18
//! and refusing it on 1.5.05 before any instruction runs.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

mod module_common;

use module_common::{status, Machine, GLOBAL_HKID};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use tdxcall::abi::{
    fields, Context, FieldId, GuestPhysAddr, Hkid, HostPhysAddr, TdrPage, TdxFeatures0,
};
use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::emu::{self, Call, Model};
use tdxcall::error::InvalidReason;
use tdxcall::host::phymem::PageType;
use tdxcall::host::versions::SysConfigOptions;
use tdxcall::host::Host;
use tdxcall::leaf::{Leaf, ModuleVersion};
use tdxcall::module::{Config, MemoryError, SoftwareModule};
use tdxcall::status::{Operand, StatusCode};
use tdxcall::{Error, Regs};

const RANGE: u64 = 2 << 20;

fn range_of(page: HostPhysAddr) -> HostPhysAddr {
    HostPhysAddr::new(page.raw() & !(RANGE - 1)).unwrap()
}

/// A 2.0.18 machine after SYS.INIT and LP.INIT on both LPs, before SYS.CONFIG.
fn machine_2018() -> Machine {
    let mut m = Machine::with_config(Config::for_version(ModuleVersion::V2_0_18));
    m.host.sys_init().unwrap();
    m.host.sys_lp_init().unwrap();
    m.on_lp1(|host| host.sys_lp_init().unwrap());
    m
}

/// SYS.CONFIG version 1 (`dynamic_pamt` as given), KEY.CONFIG, TDMR.INIT.
fn configure(m: &mut Machine, dynamic_pamt: bool) {
    let pointers = m.tdmr_pointers();
    m.host
        .sys_config_v1(
            pointers,
            1,
            Hkid::new(GLOBAL_HKID),
            SysConfigOptions { dynamic_pamt },
            0,
            0,
        )
        .unwrap();
    m.host.sys_key_config().unwrap();
    let tdmr = m.module.tdmr();
    m.host
        .sys_tdmr_init(tdmr.tdmr_base, tdmr.tdmr_size)
        .unwrap();
}

/// PAMT.ADD for the range of `page` with two fresh pages; returns them.
fn pamt_add(m: &mut Machine, range: HostPhysAddr) -> [HostPhysAddr; 2] {
    let pair = [m.page(), m.page()];
    // SAFETY: model memory; the pages go to the model.
    unsafe { m.host.phymem_pamt_add(range, pair[0], pair[1]) }.unwrap();
    pair
}

/// TDH.PHYMEM.PAGE.RECLAIM through the raw thunk: the status and R9 (the removal hint).
fn reclaim_raw(page: HostPhysAddr) -> (tdxcall::Status, u64) {
    let mut regs = Regs {
        rcx: page.raw(),
        ..Regs::ZERO
    };
    // SAFETY: model memory; the page comes back to the host.
    let status = unsafe {
        Native::new().call(
            CallKind::Seamcall,
            Leaf::TdhPhymemPageReclaim.rax(),
            &mut regs,
        )
    };
    (status, regs.r9)
}

#[test]
fn the_2_0_18_model_reports_its_version_features_and_fields() {
    let mut m = machine_2018();
    let known = m.host.learn_module().unwrap();
    assert_eq!(known.version, ModuleVersion::V2_0_18);
    let features = known.features0.unwrap();
    assert!(features.contains(TdxFeatures0::DYNAMIC_PAMT));
    assert!(features.contains(TdxFeatures0::NO_RBP_MOD));
    assert_eq!(
        features,
        TdxFeatures0::DYNAMIC_PAMT | TdxFeatures0::NO_RBP_MOD,
        "only what the model implements"
    );
    let bits = m
        .host
        .sys_rd(fields::sys::PAMT_PAGE_BITMAP_ENTRY_BITS)
        .unwrap();
    assert_eq!(bits.value, 1, "one bitmap bit per 4 KiB page");

    // The same field does not exist in the 1.5.05 model, whose version reads as before.
    let module = SoftwareModule::new(Config::default());
    let found = std::thread::spawn(move || {
        let _lp = emu::install(module.logical_processor(0));
        let mut host = Host::native();
        host.sys_init().unwrap();
        host.sys_lp_init().unwrap();
        let version = host.module_info().unwrap().version;
        let field = host.sys_rd(fields::sys::PAMT_PAGE_BITMAP_ENTRY_BITS);
        (version, host.tdx_features0().unwrap(), field.map(drop))
    })
    .join()
    .unwrap();
    assert_eq!(found.0, ModuleVersion::V1_5_05);
    assert_eq!(found.1, TdxFeatures0::NO_RBP_MOD);
    assert_eq!(
        status(found.2),
        StatusCode::MetadataFieldIdIncorrect.status()
    );
}

#[test]
fn dynamic_pamt_lifecycle_on_the_2_0_18_model() {
    let mut m = machine_2018();
    configure(&mut m, true);

    // A TDR in a range without its PAMT page pair: TDX_MISSING_PAMT_PAGE_PAIR(RCX).
    let tdr_page = m.page();
    // SAFETY: model memory.
    let missing = unsafe {
        m.host
            .mng_create(TdrPage::new(tdr_page).unwrap(), Hkid::new(33))
    };
    assert_eq!(
        status(missing),
        StatusCode::MissingPamtPagePair.with_operand(Operand::RCX)
    );
    // PAMT.REMOVE of that range: it has no pair.
    let first = range_of(tdr_page);
    // SAFETY: model memory.
    let none = unsafe { m.host.phymem_pamt_remove(first) };
    assert_eq!(
        status(none),
        StatusCode::NoPamtPagePair.with_operand(Operand::RCX)
    );

    // Pairs for this range and the next two: everything the TD takes comes from them.
    let mut ranges = BTreeSet::new();
    let mut pairs = Vec::new();
    for i in 0..3 {
        let range = HostPhysAddr::new(first.raw() + i * RANGE).unwrap();
        pairs.push((range, pamt_add(&mut m, range)));
        ranges.insert(range.raw());
    }
    // A range has one pair; a PAMT page is the module's, and not free for another range.
    let (spare, spare2) = (m.page(), m.page());
    // SAFETY: model memory.
    let again = unsafe { m.host.phymem_pamt_add(first, spare, spare2) };
    assert_eq!(
        status(again),
        StatusCode::HpaRangeNotFree.with_operand(Operand::RCX)
    );
    let far = HostPhysAddr::new(first.raw() + 8 * RANGE).unwrap();
    // SAFETY: model memory; refused.
    let reused = unsafe { m.host.phymem_pamt_add(far, spare, pairs[0].1[1]) };
    assert_eq!(
        status(reused),
        StatusCode::PageNotFree.with_operand(Operand::R8)
    );
    assert_eq!(
        m.module.write(pairs[0].1[0], &[1]),
        Err(MemoryError::NotHostOwned {
            page: pairs[0].1[0].raw()
        })
    );
    // A PAMT page is no free page for a TD either.
    // SAFETY: model memory; refused.
    let as_tdr = unsafe {
        m.host
            .mng_create(TdrPage::new(pairs[1].1[0]).unwrap(), Hkid::new(33))
    };
    assert_eq!(
        status(as_tdr),
        StatusCode::PageMetadataIncorrect.with_operand(Operand::RCX)
    );

    // Now the TD builds: TDR, TDCS, vCPU, Secure EPT, a page.
    // SAFETY: model memory.
    unsafe {
        m.host
            .mng_create(TdrPage::new(tdr_page).unwrap(), Hkid::new(33))
    }
    .unwrap();
    let tdr = TdrPage::new(tdr_page).unwrap();
    m.host.mng_key_config(tdr).unwrap();
    for _ in 0..6 {
        let tdcx = tdxcall::abi::TdcxPage::new(m.page()).unwrap();
        // SAFETY: model memory.
        unsafe { m.host.mng_addcx(tdcx, tdr) }.unwrap();
    }
    m.init_td(tdr, &Machine::params()).unwrap();
    let tdvpr = m.create_vcpu(tdr, 5);
    m.host.vp_init(tdvpr, 0).unwrap();
    m.sept(tdr, 0);
    m.add_page(tdr, 0);

    // PAGE.ADD of a target page in a range without a pair: missing, then added, then fine.
    let target = loop {
        let page = m.page();
        if !ranges.contains(&range_of(page).raw()) {
            break page;
        }
    };
    let source = m.page();
    let gpa = GuestPhysAddr::page(0x1000).unwrap();
    // SAFETY: model memory.
    let missing = unsafe { m.host.mem_page_add(gpa, tdr, target, source) };
    assert_eq!(
        status(missing),
        StatusCode::MissingPamtPagePair.with_operand(Operand::R8)
    );
    let range = range_of(target);
    pairs.push((range, pamt_add(&mut m, range)));
    ranges.insert(range.raw());
    // SAFETY: model memory.
    unsafe { m.host.mem_page_add(gpa, tdr, target, source) }.unwrap();

    // PAMT.REMOVE while the range holds the TD's pages: refused, naming the PAMT page.
    // SAFETY: model memory; refused.
    let busy = unsafe { m.host.phymem_pamt_remove(first) };
    let busy = status(busy);
    assert!(busy.is(StatusCode::PamtPageNotEmpty), "{busy}");
    assert!(busy.details_l2() <= 1, "the index of the PAMT page: {busy}");

    // Teardown, then every page of the TD back.
    m.host.vp_flush(tdvpr).unwrap();
    m.host.mng_vpflushdone(tdr).unwrap();
    m.host.phymem_cache_wb().unwrap();
    m.host.mng_key_freeid(tdr).unwrap();
    let mut owned = Vec::new();
    for &range in &ranges {
        for page in (range..range + RANGE).step_by(4096) {
            let page = HostPhysAddr::new(page).unwrap();
            let meta = m.host.phymem_page_rdmd(page).unwrap();
            if !matches!(
                meta.page_type,
                PageType::Nda | PageType::Reserved | PageType::Tdr
            ) {
                owned.push(page);
            }
        }
    }
    owned.push(tdr.hpa());
    // 1 TDR + 6 TDCS + 6 TDVPS + 3 Secure EPT + 2 added pages.
    assert_eq!(owned.len(), 18);
    let mut hints = BTreeSet::new();
    for (i, &page) in owned.iter().enumerate() {
        let (status, r9) = reclaim_raw(page);
        assert!(status.is_success(), "reclaim {page:?}: {status}");
        // The hint comes with the last page of its range (the TDR is last of all).
        let rest_in_range = owned[i + 1..]
            .iter()
            .any(|other| range_of(*other) == range_of(page));
        assert_eq!(r9 >> 62 & 1 == 1, !rest_in_range, "hint for {page:?}");
        if r9 >> 62 & 1 == 1 {
            hints.insert(range_of(page).raw());
        }
    }

    // Each range the TD used gave the hint once, with its last page.
    let used: BTreeSet<u64> = owned.iter().map(|page| range_of(*page).raw()).collect();
    assert_eq!(hints, used);

    // Every pair comes back, as PAMT.ADD took it; the pages are the host's again.
    for (range, pair) in &pairs {
        // SAFETY: model memory; the pages come back.
        let back = unsafe { m.host.phymem_pamt_remove(*range) }.unwrap();
        assert_eq!([back.first, back.second], *pair);
        assert!(m.module.write(pair[0], &[1]).is_ok());
        assert!(m.module.free_page(pair[1]));
    }
    // SAFETY: model memory.
    let none = unsafe { m.host.phymem_pamt_remove(first) };
    assert_eq!(
        status(none),
        StatusCode::NoPamtPagePair.with_operand(Operand::RCX)
    );
}

#[test]
fn without_dynamic_pamt_the_leaves_answer_as_a_module_without_it() {
    let mut m = machine_2018();
    configure(&mut m, false);
    let (page, a, b) = (m.page(), m.page(), m.page());
    // SAFETY: model memory; refused.
    let add = unsafe { m.host.phymem_pamt_add(range_of(page), a, b) };
    assert_eq!(
        status(add),
        StatusCode::OperandInvalid.with_operand(Operand::RAX)
    );
    // SAFETY: refused.
    let remove = unsafe { m.host.phymem_pamt_remove(range_of(page)) };
    assert_eq!(
        status(remove),
        StatusCode::OperandInvalid.with_operand(Operand::RAX)
    );
    // The static PAMT covers every page: a TD builds without PAMT.ADD.
    let tdr = m.create_td(33);
    assert_eq!(
        m.host.phymem_page_rdmd(tdr.hpa()).unwrap().page_type,
        PageType::Tdr
    );
}

#[test]
fn pamt_add_checks_its_operands_in_the_module_order() {
    let mut m = machine_2018();
    configure(&mut m, true);
    let page = m.page();
    let range = range_of(page).raw();
    let raw = |rcx: u64, rdx: u64, r8: u64| {
        let mut regs = Regs {
            rcx,
            rdx,
            r8,
            ..Regs::ZERO
        };
        // SAFETY: model memory.
        unsafe { Native::new().call(CallKind::Seamcall, Leaf::TdhPhymemPamtAdd.rax(), &mut regs) }
    };
    let (a, b) = (m.page().raw(), m.page().raw());
    // Level 0, misaligned range, reserved bits: RCX.
    for rcx in [
        range,
        range + 4096 + 1,
        range | 1 | 1 << 3,
        range | 1 | 1 << 60,
    ] {
        assert_eq!(
            raw(rcx, a, b),
            StatusCode::OperandInvalid.with_operand(Operand::RCX),
            "{rcx:#x}"
        );
    }
    // A misaligned first page: RDX, before the second page's check.
    assert_eq!(
        raw(range | 1, a + 8, 1 << 60),
        StatusCode::OperandInvalid.with_operand(Operand::RDX)
    );
    // A page outside every TDMR: OPERAND_ADDR_RANGE_ERROR.
    assert_eq!(
        raw(range | 1, a, 0x1000),
        StatusCode::OperandAddrRangeError.with_operand(Operand::R8)
    );
    // The same page twice.
    assert_eq!(
        raw(range | 1, a, a),
        StatusCode::PageNotFree.with_operand(Operand::R8)
    );
    // A reserved page (the PAMT area at the start of memory).
    let reserved = Config::default().memory_base;
    assert_eq!(
        raw(range | 1, reserved, b),
        StatusCode::PageNotFree.with_operand(Operand::RDX)
    );
    assert!(raw(range | 1, a, b).is_success());
    // The RDMD of a PAMT page: NDA (its bitmap bit, not its type, says it is taken).
    assert_eq!(
        m.host
            .phymem_page_rdmd(HostPhysAddr::new(a).unwrap())
            .unwrap()
            .page_type,
        PageType::Nda
    );
}

/// A logical processor that counts the calls that reach the module.
struct Counting {
    lp: tdxcall::module::LogicalProcessor,
    calls: Rc<Cell<usize>>,
}

impl Model for Counting {
    fn call(&mut self, call: &mut Call<'_>) -> emu::Outcome {
        self.calls.set(self.calls.get() + 1);
        self.lp.call(call)
    }
}

#[test]
fn a_host_that_learned_the_module_allows_pamt_add_on_2_0_18_only() {
    for version in Config::MODULE_VERSIONS {
        let module = SoftwareModule::new(Config::for_version(version));
        let calls = Rc::new(Cell::new(0));
        let _lp = emu::install(Counting {
            lp: module.logical_processor(0),
            calls: calls.clone(),
        });
        let mut host = Host::native();
        host.sys_init().unwrap();
        host.sys_lp_init().unwrap();
        let known = host.learn_module().unwrap();
        assert_eq!(known.version, version);
        let page = module.alloc_page().unwrap();
        let pair = [module.alloc_page().unwrap(), module.alloc_page().unwrap()];
        let before = calls.get();
        // SAFETY: model memory.
        let add = unsafe { host.phymem_pamt_add(range_of(page), pair[0], pair[1]) };
        if version == ModuleVersion::V2_0_18 {
            // Allowed: the module answers (SYS.CONFIG has not run).
            assert_eq!(calls.get(), before + 1);
            assert_eq!(status(add), StatusCode::SysNotReady.status());
        } else {
            match add {
                Err(Error::InvalidArgument(invalid)) => {
                    assert!(matches!(invalid.reason, InvalidReason::NotInModule(_)));
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
            assert_eq!(calls.get(), before, "the refusal ran no instruction");
            // The same call from a host told nothing reaches the module, which answers as
            // a module without the leaf.
            host.forget_module();
            // SAFETY: model memory.
            let raw = unsafe { host.phymem_pamt_add(range_of(page), pair[0], pair[1]) };
            assert_eq!(calls.get(), before + 1);
            assert_eq!(
                status(raw),
                StatusCode::OperandInvalid.with_operand(Operand::RAX)
            );
        }
    }
}

#[test]
fn sys_config_version_1_is_refused_by_the_1_5_05_model() {
    let mut m = Machine::new();
    m.host.sys_init().unwrap();
    m.host.sys_lp_init().unwrap();
    m.on_lp1(|host| host.sys_lp_init().unwrap());
    let pointers = m.tdmr_pointers();
    let v1 = m.host.sys_config_v1(
        pointers,
        1,
        Hkid::new(GLOBAL_HKID),
        SysConfigOptions { dynamic_pamt: true },
        0,
        0,
    );
    assert_eq!(
        status(v1),
        StatusCode::OperandInvalid.with_operand(Operand::RAX)
    );
    // Version 0 with bit 16 of R8: a reserved bit there.
    let mut regs = Regs {
        rcx: pointers.raw(),
        rdx: 1,
        r8: u64::from(GLOBAL_HKID) | 1 << 16,
        ..Regs::ZERO
    };
    // SAFETY: the model reads the TDMR_INFO array.
    let v0 = unsafe { Native::new().call(CallKind::Seamcall, Leaf::TdhSysConfig.rax(), &mut regs) };
    assert_eq!(v0, StatusCode::OperandInvalid.with_operand(Operand::R8));
}

#[test]
fn td_fields_carry_each_version_s_ids() {
    for version in Config::MODULE_VERSIONS {
        let mut m = Machine::with_config(Config::for_version(version));
        m.init_platform();
        let tdr = m.create_td(33);
        m.init_td(tdr, &Machine::params()).unwrap();
        // Walk the TD context from the null ID, as a host dumping it would.
        let mut ids = Vec::new();
        let mut next = m
            .host
            .mng_rd_next(tdr, FieldId::null(Context::Td))
            .unwrap()
            .next;
        while let Some(id) = next {
            ids.push(id.raw());
            assert!(ids.len() < 1000, "the walk ends");
            next = m.host.mng_rd_next(tdr, id).unwrap().next;
        }
        let (present, absent) = if version == ModuleVersion::V2_0_18 {
            (fields::td::CONFIG_FLAGS_V2018, fields::td::CONFIG_FLAGS)
        } else {
            (fields::td::CONFIG_FLAGS, fields::td::CONFIG_FLAGS_V2018)
        };
        assert!(ids.contains(&present.raw()), "{version}: {ids:#x?}");
        assert!(!ids.contains(&absent.raw()), "{version}");
        // Either ID reads the field.
        let a = m.host.mng_rd(tdr, fields::td::CONFIG_FLAGS).unwrap();
        let b = m.host.mng_rd(tdr, fields::td::CONFIG_FLAGS_V2018).unwrap();
        assert_eq!(a, b);
    }
}
