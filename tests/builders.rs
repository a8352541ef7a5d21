//! The host builders on the software module: platform bring-up, TD_PARAMS from the
//! module's masks, a TD with vCPUs, pages and Secure EPT, and a teardown that gives every
//! page back.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

use std::collections::HashSet;
use tdxcall::abi::td_params::{CpuidLeaf, CpuidValues};
use tdxcall::abi::{fields, Attributes, GuestPhysAddr, Hkid, HostPhysAddr, Xfam};
use tdxcall::emu;
use tdxcall::error::InvalidReason;
use tdxcall::host::builder::{
    EptpControls, PageSource, PlatformBuilder, TdBuilder, TdParamsBuilder,
};
use tdxcall::host::Host;
use tdxcall::module::SoftwareModule;
use tdxcall::Error;

/// A page source that remembers which pages are out.
struct Counting {
    module: SoftwareModule,
    out: HashSet<u64>,
    allocated: usize,
}

impl PageSource for Counting {
    fn alloc_page(&mut self) -> Option<HostPhysAddr> {
        let page = self.module.alloc_page()?;
        self.out.insert(page.raw());
        self.allocated += 1;
        Some(page)
    }
    fn free_page(&mut self, page: HostPhysAddr) {
        assert!(self.out.remove(&page.raw()), "{page} was not given out");
        assert!(self.module.free_page(page), "{page} is the host's again");
    }
    fn write(&mut self, hpa: HostPhysAddr, bytes: &[u8]) -> tdxcall::Result<()> {
        PageSource::write(&mut self.module, hpa, bytes)
    }
}

fn ready() -> (
    Counting,
    emu::Installed<tdxcall::module::LogicalProcessor>,
    Host,
) {
    let module = SoftwareModule::default();
    let (lp0, host) = module.platform().unwrap();
    let pages = Counting {
        module,
        out: HashSet::new(),
        allocated: 0,
    };
    (pages, lp0, host)
}

fn invalid(result: Result<impl std::fmt::Debug, Error>) -> InvalidReason {
    match result {
        Err(Error::InvalidArgument(a)) => a.reason,
        other => panic!("expected a rejected argument, got {other:?}"),
    }
}

#[test]
fn eptp_controls_encode_type_and_walk_length() {
    assert_eq!(EptpControls::WB_4_LEVEL.raw(), 6 | 3 << 3);
    assert_eq!(EptpControls::WB_5_LEVEL.raw(), 6 | 4 << 3);
}

#[test]
fn platform_builder_needs_a_tdmr_before_anything_runs() {
    let module = SoftwareModule::default();
    let _lp0 = emu::install(module.logical_processor(0));
    let mut host = Host::native();
    let mut pages = module.clone();
    let mut lps = 0;
    let reason = invalid(PlatformBuilder::new(Hkid::new(32)).init(
        &mut host,
        &mut pages,
        || {
            lps += 1;
            Ok(())
        },
        || Ok(()),
    ));
    assert!(matches!(reason, InvalidReason::OutOfRange { value: 0, .. }));
    assert_eq!(lps, 0);
    // TDH.SYS.INIT did not run: it still succeeds now.
    host.sys_init().expect("the module is still uninitialized");
}

#[test]
fn td_params_get_the_fixed1_bits_and_refuse_what_fixed0_forbids() {
    let (mut pages, _lp0, mut host) = ready();
    let xfam_fixed = host.xfam_fixed().unwrap();
    let attributes_fixed = host.attributes_fixed().unwrap();
    // XFAM empty: the module's fixed-1 bits are added.
    let params = TdParamsBuilder::new()
        .xfam(Xfam::empty())
        .build(&mut host)
        .unwrap();
    assert_eq!(params.xfam, xfam_fixed.fixed1);
    assert_eq!(params.eptp_controls, EptpControls::WB_4_LEVEL.raw());
    // A bit outside ATTRIBUTES_FIXED0, and a CPUID leaf the module does not list: refused
    // before TDH.MNG.CREATE (no page was taken).
    let forbidden = !attributes_fixed.fixed0.bits() & (1 << 62 | 1 << 40 | 1 << 20);
    assert_ne!(forbidden, 0);
    let bad = TdParamsBuilder::new().attributes(Attributes::from_bits_retain(forbidden));
    let reason = invalid(TdBuilder::new(Hkid::new(33), bad).build(&mut host, &mut pages));
    assert!(matches!(reason, InvalidReason::ReservedBitsSet { bits, .. } if bits == forbidden));
    let leaf = CpuidLeaf {
        leaf: 0x4000_0000,
        subleaf: CpuidLeaf::NO_SUBLEAF,
    };
    let unlisted = TdParamsBuilder::new().cpuid(leaf, CpuidValues::default());
    invalid(TdBuilder::new(Hkid::new(33), unlisted).build(&mut host, &mut pages));
    // A configurable leaf with a bit that is not configurable.
    let config = host.cpuid_configs().unwrap().next().unwrap().unwrap();
    let mut values = config.values;
    values.eax = !config.values.eax;
    if values.eax != 0 {
        let wrong = TdParamsBuilder::new().cpuid(config.leaf, values);
        invalid(TdBuilder::new(Hkid::new(33), wrong).build(&mut host, &mut pages));
    }
    assert_eq!(pages.allocated, 0);
    // The same HKID still works: nothing was created.
    let td = TdBuilder::new(Hkid::new(33), TdParamsBuilder::new())
        .build(&mut host, &mut pages)
        .unwrap();
    let xfam = host.mng_rd(td.tdr, fields::td::XFAM).unwrap();
    assert_eq!(xfam & xfam_fixed.fixed1.bits(), xfam_fixed.fixed1.bits());
    td.teardown(&mut host, &mut pages).unwrap();
    assert!(pages.out.is_empty());
}

#[test]
fn a_td_with_two_vcpus_and_scattered_pages_is_built_and_torn_down() {
    let (mut pages, _lp0, mut host) = ready();
    let sizes = host.control_struct_sizes().unwrap();
    let mut td = TdBuilder::new(Hkid::new(34), TdParamsBuilder::new().max_vcpus(2))
        .build(&mut host, &mut pages)
        .unwrap();
    let tdcs = sizes.tdcs.div_ceil(4096) as usize;
    assert_eq!(td.page_count(), 1 + tdcs);
    td.add_vcpu(&mut host, &mut pages, 0x1000, Some(0)).unwrap();
    td.add_vcpu(&mut host, &mut pages, 0x1000, Some(1)).unwrap();
    assert_eq!(td.vcpus().len(), 2);
    let tdvps = sizes.tdvps.div_ceil(4096) as usize;
    assert_eq!(td.page_count(), 1 + tdcs + 2 * tdvps);
    // Two pages in one 2 MiB region, one in another 1 GiB region: 3 + 2 SEPT pages.
    for (gpa, measure) in [(0x0, true), (0x1000, false), (0x4000_0000, false)] {
        let gpa = GuestPhysAddr::new(gpa).unwrap();
        td.add_page(&mut host, &mut pages, gpa, &[0xA5; 4096], measure)
            .unwrap();
    }
    assert_eq!(td.page_count(), 1 + tdcs + 2 * tdvps + 5 + 3);
    let misaligned = GuestPhysAddr::new(0x2800).unwrap();
    let before = pages.allocated;
    invalid(td.add_page(&mut host, &mut pages, misaligned, &[0; 4096], false));
    assert_eq!(pages.allocated, before, "nothing ran");
    td.finalize(&mut host).unwrap();
    assert_ne!(pages.module.mrtd(td.tdr), Some([0; 48]));
    let expected = td.page_count();
    assert_eq!(td.teardown(&mut host, &mut pages).unwrap(), expected);
    assert!(pages.out.is_empty(), "every page went back to the source");
}

#[test]
fn a_td_whose_init_fails_is_kept_for_the_teardown() {
    let (mut pages, _lp0, mut host) = ready();
    let mut td = None;
    let failed = TdBuilder::new(Hkid::new(35), TdParamsBuilder::new().max_vcpus(0))
        .build_into(&mut host, &mut pages, &mut td);
    assert!(matches!(failed, Err(Error::Status(_))), "{failed:?}");
    let td = td.expect("created before MNG.INIT failed");
    let expected = td.page_count();
    assert_eq!(td.teardown(&mut host, &mut pages).unwrap(), expected);
    assert!(pages.out.is_empty(), "every page went back to the source");
}
