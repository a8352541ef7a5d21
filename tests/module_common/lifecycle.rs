//! The whole life of a TD, the steps of `examples/lifecycle.rs`, written once over a
//! [`Machine`] so it runs through the trapped path and the direct backend alike
//! (`tests/module_direct.rs` compares the two call by call).
//!
//! Platform init on two LPs; TD build (MNG.CREATE, KEY.CONFIG, TDCS pages, MNG.INIT, a vCPU
//! with its TDVPS, Secure EPT, a measured page and a data page, MR.FINALIZE, the MRTD read
//! back); a guest thread (TDG.VP.INFO, a lazy accept answered by PAGE.AUG, TDG.MR.REPORT,
//! two MMIO-write ucalls, HLT) against a VMM loop over TDH.VP.ENTER; teardown and the
//! reclaim of every page.

use super::Machine;
use std::thread;
use tdxcall::abi::report::ReportData;
use tdxcall::abi::{FieldId, GuestPhysAddr, Hkid, PageLevel, TdcxPage, TdrPage};
use tdxcall::abi::{TdvprPage, Xfam};
use tdxcall::guest::mem::AcceptOutcome;
use tdxcall::guest::tdvmcall::{MmioSize, Subfunction, VmcallError};
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::module::{Measurement, MrtdBuilder};
use tdxcall::status::{ExitReason, TdvmcallCode};
use tdxcall::{Error, Regs, Status};

const CODE_GPA: u64 = 0x0000;
const DATA_GPA: u64 = 0x1000;
const REPORT_GPA: u64 = DATA_GPA + 0x400;
const LAZY_GPA: u64 = 0x2000;
const UCALL_MMIO_GPA: u64 = 1 << 47 | 0xFEB0_0000;
const UCALL_DONE: u64 = 0xD0E;
const TD_HKID: u16 = 33;

fn guest_image() -> [u8; 4096] {
    let mut page = [0u8; 4096];
    for (i, byte) in page.iter_mut().enumerate() {
        *byte = (i * 7 + 3) as u8;
    }
    page
}

/// The MRTD the TD will have: PAGE.ADD + 16 MR.EXTENDs of the image, PAGE.ADD of the data
/// page.
pub fn expected_mrtd() -> Measurement {
    let mut builder = MrtdBuilder::new();
    builder.add_measured_page(CODE_GPA, &guest_image());
    builder.page_add(DATA_GPA);
    builder.finish()
}

/// What one run observed.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    /// MRTD as TDH.MNG.RD reads it after TDH.MR.FINALIZE.
    pub mrtd: Measurement,
    /// The TD exits the VMM saw: (exit reason, GHCI sub-function or GPA).
    pub exits: Vec<(u32, u64)>,
    /// The values the guest reported through the ucall port.
    pub ucalls: Vec<u64>,
    /// The MRTD in the guest's TDREPORT.
    pub guest_mrtd: Measurement,
    /// Pages reclaimed in the teardown.
    pub reclaimed: usize,
    /// What the guest's last (blocked) TDVMCALL returned after the teardown.
    pub guest_release: Option<Status>,
}

/// Runs the lifecycle on `m` (at power-on).
pub fn run(m: &mut Machine) -> Run {
    // ---- Platform.
    m.init_platform();
    m.host.module_info().expect("TDH.SYS.RD");
    m.host.tdx_features0().expect("TDH.SYS.RD");

    // ---- Build the TD.
    let tdr = TdrPage::new(m.page()).unwrap();
    // SAFETY: model memory, handed to the module until reclaimed.
    unsafe { m.host.mng_create(tdr, Hkid::new(TD_HKID)) }.expect("MNG.CREATE");
    m.host.mng_key_config(tdr).expect("MNG.KEY.CONFIG");
    let mut td_pages = vec![tdr.hpa()];
    let sizes = m.host.control_struct_sizes().expect("sizes");
    for _ in 0..sizes.tdcs / 4096 {
        let tdcx = m.page();
        // SAFETY: as above.
        unsafe { m.host.mng_addcx(TdcxPage::new(tdcx).unwrap(), tdr) }.expect("ADDCX");
        td_pages.push(tdcx);
    }
    let mut params = Machine::params();
    params.xfam = Xfam::X87 | Xfam::SSE;
    for (index, config) in m.host.cpuid_configs().expect("CPUID config").enumerate() {
        config.expect("CPUID_CONFIG entry");
        params.cpuid_config[index] = Default::default();
    }
    m.init_td(tdr, &params).expect("MNG.INIT");
    let tdvpr = TdvprPage::new(m.page()).unwrap();
    // SAFETY: as above.
    unsafe { m.host.vp_create(tdvpr, tdr) }.expect("VP.CREATE");
    td_pages.push(tdvpr.hpa());
    for _ in 1..sizes.tdvps / 4096 {
        let tdcx = m.page();
        // SAFETY: as above.
        unsafe { m.host.vp_addcx(TdcxPage::new(tdcx).unwrap(), tdvpr) }.expect("VP.ADDCX");
        td_pages.push(tdcx);
    }
    m.host.vp_init(tdvpr, 0).expect("VP.INIT");
    for level in [PageLevel::Size512G, PageLevel::Size1G, PageLevel::Size2M] {
        let sept = m.page();
        // SAFETY: as above.
        unsafe {
            m.host
                .mem_sept_add(GuestPhysAddr::new(0).unwrap(), level, tdr, sept)
        }
        .expect("SEPT.ADD");
        td_pages.push(sept);
    }
    let source = m.page();
    m.module.write(source, &guest_image()).unwrap();
    for (gpa, measure) in [(CODE_GPA, true), (DATA_GPA, false)] {
        let target = m.page();
        if !measure {
            m.module.write(source, &[0; 4096]).unwrap();
        }
        let gpa = GuestPhysAddr::page(gpa).unwrap();
        // SAFETY: as above; `source` is only read.
        unsafe { m.host.mem_page_add(gpa, tdr, target, source) }.expect("PAGE.ADD");
        td_pages.push(target);
        if measure {
            for chunk in (0..4096).step_by(256) {
                let chunk = GuestPhysAddr::new(gpa.raw() + chunk).unwrap();
                m.host.mr_extend(chunk, tdr).expect("MR.EXTEND");
            }
        }
    }
    m.host.mr_finalize(tdr).expect("MR.FINALIZE");
    let mrtd_field = FieldId::from_raw(0x1310_0003_0000_0000);
    let mut mrtd = [0u8; 48];
    for (index, chunk) in mrtd.chunks_exact_mut(8).enumerate() {
        let field = mrtd_field.element(index as u32).unwrap();
        chunk.copy_from_slice(&m.host.mng_rd(tdr, field).expect("MNG.RD").to_le_bytes());
    }

    // ---- The guest.
    let side = m.guest_side();
    let guest = thread::spawn(move || -> (Measurement, Option<Status>) {
        let memory = side.module.guest_memory(tdr);
        let mut guest = side.guest(tdvpr);
        let info = guest.vp_info().expect("TDG.VP.INFO");
        assert_eq!((info.gpaw, info.vcpu_index, info.max_vcpus), (48, 0, 1));
        let lazy = GuestPhysAddr::page(LAZY_GPA).unwrap();
        // SAFETY: nothing uses the page at LAZY_GPA.
        let accepted = unsafe { guest.mem_page_accept(lazy, PageLevel::Size4K) };
        assert_eq!(accepted, Ok(AcceptOutcome::Accepted));
        memory.write(lazy, b"accepted").expect("accepted page");
        let mut report_data = ReportData([0; 64]);
        report_data.0[..8].copy_from_slice(b"lifecycl");
        let data_gpa = GuestPhysAddr::new(DATA_GPA).unwrap();
        memory.write(data_gpa, &report_data.0).expect("data page");
        let report_gpa = GuestPhysAddr::new(REPORT_GPA).unwrap();
        // SAFETY: REPORT_GPA is a private page nothing else uses.
        unsafe { guest.mr_report(report_gpa, data_gpa) }.expect("TDG.MR.REPORT");
        let report = memory.read_report(report_gpa).expect("report page");
        let guest_mrtd = report.td_info.mr_td;
        let ucall = GuestPhysAddr::new(UCALL_MMIO_GPA).unwrap();
        let first = u64::from_le_bytes(guest_mrtd[..8].try_into().unwrap());
        guest
            .tdvmcall_mmio_write(ucall, MmioSize::B8, first)
            .expect("ucall");
        guest
            .tdvmcall_mmio_write(ucall, MmioSize::B8, UCALL_DONE)
            .expect("ucall");
        let release = match guest.tdvmcall_hlt(false) {
            Err(VmcallError::Call(Error::Status(status))) => Some(status),
            _ => None,
        };
        (guest_mrtd, release)
    });

    // ---- The VMM loop.
    let mut exits = Vec::new();
    let mut ucalls = Vec::new();
    let mut regs = Regs::ZERO;
    loop {
        // SAFETY: the vCPU is initialized; only this LP enters it.
        let exit = unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }
            .expect("TDH.VP.ENTER");
        match exit {
            TdExit::Tdvmcall(call) => {
                let subfunction = call.regs.r11;
                exits.push((u32::from(ExitReason::TDCALL), subfunction));
                if subfunction == Subfunction::RequestMmio.number() {
                    ucalls.push(call.regs.r15);
                    regs.r10 = 0;
                } else if subfunction == Subfunction::Hlt.number() {
                    break;
                } else {
                    regs.r10 = TdvmcallCode::SubfuncUnsupported.status().raw();
                }
            }
            TdExit::Async(exit) => {
                exits.push((exit.exit_reason().raw(), exit.gpa()));
                assert_eq!(exit.basic_reason(), 48, "only EPT violations are expected");
                let aug = m.page();
                let gpa = GuestPhysAddr::page(exit.gpa()).unwrap();
                // SAFETY: the page becomes private TD memory until reclaimed.
                unsafe { m.host.mem_page_aug(gpa, PageLevel::Size4K, tdr, aug) }.expect("PAGE.AUG");
                td_pages.push(aug);
                regs = Regs::ZERO;
            }
        }
    }

    // ---- Teardown.
    m.host.vp_flush(tdvpr).expect("VP.FLUSH");
    m.host.mng_vpflushdone(tdr).expect("VPFLUSHDONE");
    let (guest_mrtd, guest_release) = guest.join().expect("guest thread");
    m.host.phymem_cache_wb().expect("CACHE.WB");
    m.host.mng_key_freeid(tdr).expect("KEY.FREEID");
    let mut reclaimed = 0;
    for &hpa in td_pages.iter().skip(1).chain(td_pages.first()) {
        // SAFETY: the TD is torn down.
        unsafe { m.host.phymem_page_reclaim(hpa) }.expect("PAGE.RECLAIM");
        assert!(m.module.free_page(hpa));
        reclaimed += 1;
    }
    let tdr_type = m.host.phymem_page_rdmd(tdr.hpa()).expect("RDMD").page_type;
    assert_eq!(tdr_type, tdxcall::host::phymem::PageType::Nda);
    Run {
        mrtd,
        exits,
        ucalls,
        guest_mrtd,
        reclaimed,
        guest_release,
    }
}
