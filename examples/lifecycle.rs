//! The whole life of a TD on the software TDX module, host and guest in one process.
//!
//! ```text
//! cargo run --example lifecycle --features software-module
//! ```
//!
//! The host (this thread, logical processor 0; a second thread is LP 1) initializes the
//! module, builds a TD with one vCPU and two measured pages, finalizes its measurement and
//! runs a VMM loop over TDH.VP.ENTER. The guest (another thread, the vCPU) reads its TD
//! info, accepts a page the host adds on demand, asks the module for a TDREPORT, reports the
//! MRTD it carries to its VMM with an MMIO-write TDVMCALL (a "ucall"), and halts. The host
//! prints every TD exit, tears the TD down, reclaims every page and prints the MRTD, which
//! [`MrtdBuilder`] computed before the TD existed.
#![allow(dead_code)] // `run` is also driven by tests/module_lifecycle.rs.

use std::sync::mpsc;
use std::thread;
use tdxcall::abi::report::ReportData;
use tdxcall::abi::td_params::TdParams;
use tdxcall::abi::{
    Attributes, FieldId, GuestPhysAddr, Hkid, HostPhysAddr, PageLevel, TdcxPage, TdrPage,
    TdvprPage, Xfam,
};
use tdxcall::emu;
use tdxcall::guest::mem::AcceptOutcome;
use tdxcall::guest::tdvmcall::VmcallError;
use tdxcall::guest::tdvmcall::{MmioSize, Subfunction};
use tdxcall::guest::Guest;
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::host::Host;
use tdxcall::module::{Config, Measurement, MrtdBuilder, SoftwareModule};
use tdxcall::status::{ExitReason, TdvmcallCode};
use tdxcall::{Error, Regs, Status};

/// The TD's memory map (GPAs; GPAW is 48, so the shared bit is bit 47).
const CODE_GPA: u64 = 0x0000;
const DATA_GPA: u64 = 0x1000;
const REPORT_DATA_GPA: u64 = DATA_GPA;
const REPORT_GPA: u64 = DATA_GPA + 0x400;
const LAZY_GPA: u64 = 0x2000;
const UCALL_MMIO_GPA: u64 = 1 << 47 | 0xFEB0_0000;
/// The value the guest writes to the ucall port when it is done.
const UCALL_DONE: u64 = 0xD0E;

/// The TD's private HKID and the module's global HKID.
const GLOBAL_HKID: u16 = 32;
const TD_HKID: u16 = 33;

/// The guest "image": what the host loads at CODE_GPA and measures.
fn guest_image() -> [u8; 4096] {
    let mut page = [0u8; 4096];
    let text = b"tdxcall lifecycle example: this page stands for the guest's boot code";
    page[..text.len()].copy_from_slice(text);
    for (i, byte) in page[2048..].iter_mut().enumerate() {
        *byte = i as u8;
    }
    page
}

/// The MRTD the TD will have, computed before it exists: PAGE.ADD + 16 MR.EXTENDs of the
/// image, then PAGE.ADD of the (unmeasured-contents) data page.
pub fn expected_mrtd() -> Measurement {
    let mut builder = MrtdBuilder::new();
    builder.add_measured_page(CODE_GPA, &guest_image());
    builder.page_add(DATA_GPA);
    builder.finish()
}

/// What one run observed.
#[derive(Debug)]
pub struct Run {
    /// MRTD as TDH.MNG.RD reads it after TDH.MR.FINALIZE.
    pub mrtd: Measurement,
    /// The TD exits the VMM loop saw, in order: (exit reason, GHCI sub-function or GPA).
    pub exits: Vec<(u32, u64)>,
    /// The values the guest reported through the ucall port.
    pub ucalls: Vec<u64>,
    /// The MRTD the guest read from its TDREPORT.
    pub guest_mrtd: Measurement,
    /// Pages the teardown reclaimed.
    pub reclaimed: usize,
    /// The status the guest's last (blocked) TDVMCALL returned after the teardown.
    pub guest_release: Option<Status>,
}

fn page(module: &SoftwareModule) -> HostPhysAddr {
    module.alloc_page().expect("the model has memory left")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the whole lifecycle; `say` gets one line per step.
pub fn run(say: &mut dyn FnMut(String)) -> Run {
    let module = SoftwareModule::new(Config::default());
    let _lp0 = emu::install(module.logical_processor(0));
    let mut host = Host::native();

    // ---- Platform.
    host.sys_init().expect("TDH.SYS.INIT");
    host.sys_lp_init().expect("TDH.SYS.LP.INIT on LP 0");
    let lp1 = module.clone();
    thread::spawn(move || {
        let _lp1 = emu::install(lp1.logical_processor(1));
        Host::native()
            .sys_lp_init()
            .expect("TDH.SYS.LP.INIT on LP 1");
    })
    .join()
    .expect("LP 1");
    let tdmr = module.tdmr();
    let (tdmr_info, pointers) = (page(&module), page(&module));
    module.write_tdmr_info(tdmr_info, &tdmr).expect("host page");
    module
        .write_u64s(pointers, &[tdmr_info.raw()])
        .expect("host page");
    host.sys_config(pointers, 1, Hkid::new(GLOBAL_HKID))
        .expect("TDH.SYS.CONFIG");
    host.sys_key_config().expect("TDH.SYS.KEY.CONFIG");
    let tdmr_base = tdmr.tdmr_base;
    host.sys_tdmr_init(tdmr_base, tdmr.tdmr_size)
        .expect("TDH.SYS.TDMR.INIT");
    let version = host.module_info().expect("TDH.SYS.RD");
    say(format!(
        "module ready: TDX {} (build {:#x}), TDX_FEATURES0 {:?}, TDMR {:#x}+{:#x}",
        version.version,
        version.build_num,
        host.tdx_features0().expect("TDH.SYS.RD"),
        tdmr.tdmr_base.raw(),
        tdmr.tdmr_size
    ));

    // ---- Build the TD.
    let tdr = TdrPage::new(page(&module)).expect("page");
    // SAFETY: the TDR page is the model's memory, handed to the module for good.
    unsafe { host.mng_create(tdr, Hkid::new(TD_HKID)) }.expect("TDH.MNG.CREATE");
    host.mng_key_config(tdr).expect("TDH.MNG.KEY.CONFIG");
    let mut td_pages = vec![tdr.hpa()];
    let tdcs_pages = host.control_struct_sizes().expect("sizes").tdcs / 4096;
    for _ in 0..tdcs_pages {
        let tdcx = page(&module);
        // SAFETY: the page goes to the module until it is reclaimed below.
        unsafe { host.mng_addcx(TdcxPage::new(tdcx).expect("page"), tdr) }.expect("ADDCX");
        td_pages.push(tdcx);
    }
    let mut params = TdParams {
        attributes: Attributes::SEPT_VE_DISABLE,
        xfam: Xfam::X87 | Xfam::SSE,
        max_vcpus: 1,
        eptp_controls: 6 | 3 << 3, // write-back, 4-level Secure EPT
        tsc_frequency: 100,        // 2.5 GHz
        ..TdParams::default()
    };
    for (index, config) in host.cpuid_configs().expect("CPUID config").enumerate() {
        let config = config.expect("CPUID_CONFIG entry");
        say(format!(
            "  configurable CPUID leaf {:#x}/{:#x}: bits {:08x?}",
            config.leaf.leaf,
            config.leaf.subleaf,
            [
                config.values.eax,
                config.values.ebx,
                config.values.ecx,
                config.values.edx
            ]
        ));
        params.cpuid_config[index] = Default::default(); // keep the native values
    }
    let params_page = page(&module);
    module
        .write_td_params(params_page, &params)
        .expect("host page");
    host.mng_init(tdr, params_page).expect("TDH.MNG.INIT");

    let tdvpr = TdvprPage::new(page(&module)).expect("page");
    // SAFETY: the page goes to the module until it is reclaimed.
    unsafe { host.vp_create(tdvpr, tdr) }.expect("TDH.VP.CREATE");
    td_pages.push(tdvpr.hpa());
    let tdvps_pages = host.control_struct_sizes().expect("sizes").tdvps / 4096;
    for _ in 1..tdvps_pages {
        let tdcx = page(&module);
        // SAFETY: as above.
        unsafe { host.vp_addcx(TdcxPage::new(tdcx).expect("page"), tdvpr) }.expect("VP.ADDCX");
        td_pages.push(tdcx);
    }
    host.vp_init(tdvpr, 0).expect("TDH.VP.INIT");

    // Secure-EPT pages for GPAs 0..2 MiB, then the measured image and the data page.
    for level in [PageLevel::Size512G, PageLevel::Size1G, PageLevel::Size2M] {
        let sept = page(&module);
        let gpa = GuestPhysAddr::new(0).expect("GPA");
        // SAFETY: the page becomes a Secure-EPT page of the TD until reclaimed.
        unsafe { host.mem_sept_add(gpa, level, tdr, sept) }.expect("TDH.MEM.SEPT.ADD");
        td_pages.push(sept);
    }
    let source = page(&module);
    module.write(source, &guest_image()).expect("host page");
    for (gpa, measure) in [(CODE_GPA, true), (DATA_GPA, false)] {
        let target = page(&module);
        let gpa = GuestPhysAddr::page(gpa).expect("GPA");
        if !measure {
            module.write(source, &[0; 4096]).expect("host page");
        }
        // SAFETY: `target` becomes a private TD page until reclaimed; `source` is read.
        unsafe { host.mem_page_add(gpa, tdr, target, source) }.expect("TDH.MEM.PAGE.ADD");
        td_pages.push(target);
        if measure {
            for chunk in (0..4096).step_by(256) {
                let chunk = GuestPhysAddr::new(gpa.raw() + chunk).expect("GPA");
                host.mr_extend(chunk, tdr).expect("TDH.MR.EXTEND");
            }
        }
    }
    host.mr_finalize(tdr).expect("TDH.MR.FINALIZE");
    let mrtd_field = FieldId::from_raw(0x1310_0003_0000_0000); // MRTD, 6 elements
    let mut mrtd = [0u8; 48];
    for (index, chunk) in mrtd.chunks_exact_mut(8).enumerate() {
        let field = mrtd_field.element(index as u32).expect("element");
        chunk.copy_from_slice(&host.mng_rd(tdr, field).expect("TDH.MNG.RD").to_le_bytes());
    }
    say(format!(
        "TD built: TDR {:#x}, {} pages owned by the module, MRTD {}...",
        tdr.raw(),
        td_pages.len(),
        &hex(&mrtd)[..16]
    ));

    // ---- The guest: one thread, the vCPU.
    let guest_module = module.clone();
    let (guest_say, guest_lines) = mpsc::channel::<String>();
    let guest = thread::spawn(move || -> (Measurement, Option<Status>) {
        let memory = guest_module.guest_memory(tdr);
        let _vcpu = emu::install(guest_module.virtual_cpu(tdvpr));
        let mut guest = Guest::native();
        let info = guest.vp_info().expect("TDG.VP.INFO");
        let _ = guest_say.send(format!(
            "guest: TDG.VP.INFO: GPAW {}, vCPU {} of {}, attributes {:?}",
            info.gpaw, info.vcpu_index, info.max_vcpus, info.attributes
        ));
        let lazy = GuestPhysAddr::page(LAZY_GPA).expect("GPA");
        // SAFETY: nothing in this program uses the page at LAZY_GPA yet.
        let accepted = unsafe { guest.mem_page_accept(lazy, PageLevel::Size4K) };
        let _ = guest_say.send(format!(
            "guest: TDG.MEM.PAGE.ACCEPT {LAZY_GPA:#x}: {accepted:?}"
        ));
        assert_eq!(accepted, Ok(AcceptOutcome::Accepted));
        memory
            .write(lazy, b"accepted and writable")
            .expect("accepted page");

        let mut report_data = ReportData([0; 64]);
        report_data.0[..8].copy_from_slice(b"lifecycl");
        memory
            .write(
                GuestPhysAddr::new(REPORT_DATA_GPA).expect("GPA"),
                &report_data.0,
            )
            .expect("data page");
        let report_gpa = GuestPhysAddr::new(REPORT_GPA).expect("GPA");
        // SAFETY: REPORT_GPA is a private page of the TD that nothing else uses.
        unsafe {
            guest.mr_report(
                report_gpa,
                GuestPhysAddr::new(REPORT_DATA_GPA).expect("GPA"),
            )
        }
        .expect("TDG.MR.REPORT");
        let report = memory.read_report(report_gpa).expect("report page");
        let guest_mrtd = report.td_info.mr_td;
        let ucall = GuestPhysAddr::new(UCALL_MMIO_GPA).expect("GPA");
        let first = u64::from_le_bytes(guest_mrtd[..8].try_into().expect("8 bytes"));
        guest
            .tdvmcall_mmio_write(ucall, MmioSize::B8, first)
            .expect("ucall");
        guest
            .tdvmcall_mmio_write(ucall, MmioSize::B8, UCALL_DONE)
            .expect("ucall");
        // The VMM never resumes this HLT: the teardown releases it.
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
        // SAFETY: the vCPU is initialized and only this LP enters it.
        let exit = unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }
            .expect("TDH.VP.ENTER");
        for line in guest_lines.try_iter() {
            say(line);
        }
        match exit {
            TdExit::Tdvmcall(call) => {
                let subfunction = call.regs.r11;
                exits.push((u32::from(ExitReason::TDCALL), subfunction));
                if subfunction == Subfunction::RequestMmio.number() {
                    let (gpa, value) = (call.regs.r14, call.regs.r15);
                    say(format!(
                        "exit 77 TDVMCALL #VE.RequestMMIO write {value:#x} to {gpa:#x} (ucall)"
                    ));
                    ucalls.push(value);
                    regs.r10 = 0; // GHCI success
                } else if subfunction == Subfunction::Hlt.number() {
                    say("exit 77 TDVMCALL Instruction.HLT: the guest is done".to_string());
                    break;
                } else {
                    say(format!(
                        "exit 77 TDVMCALL sub-function {subfunction:#x}: unsupported"
                    ));
                    regs.r10 = TdvmcallCode::SubfuncUnsupported.status().raw();
                }
            }
            TdExit::Async(exit) => {
                exits.push((exit.exit_reason().raw(), exit.gpa));
                say(format!(
                    "exit {} (EPT violation) at GPA {:#x}: TDH.MEM.PAGE.AUG a page there",
                    exit.basic_reason(),
                    exit.gpa
                ));
                assert_eq!(exit.basic_reason(), 48, "only EPT violations are expected");
                let aug = page(&module);
                let gpa = GuestPhysAddr::page(exit.gpa).expect("GPA");
                // SAFETY: the page becomes private TD memory until reclaimed.
                unsafe { host.mem_page_aug(gpa, PageLevel::Size4K, tdr, aug) }
                    .expect("TDH.MEM.PAGE.AUG");
                td_pages.push(aug);
                regs = Regs::ZERO;
            }
        }
    }

    // ---- Teardown.
    host.vp_flush(tdvpr).expect("TDH.VP.FLUSH");
    host.mng_vpflushdone(tdr).expect("TDH.MNG.VPFLUSHDONE");
    let (guest_mrtd, guest_release) = guest.join().expect("guest thread");
    for line in guest_lines.try_iter() {
        say(line);
    }
    host.phymem_cache_wb().expect("TDH.PHYMEM.CACHE.WB");
    host.mng_key_freeid(tdr).expect("TDH.MNG.KEY.FREEID");
    // Every page but the TDR first; the TDR last, when nothing refers to it.
    let mut reclaimed = 0;
    for &hpa in td_pages.iter().skip(1).chain(td_pages.first()) {
        // SAFETY: the TD is torn down; the page goes back to the host allocator.
        unsafe { host.phymem_page_reclaim(hpa) }.expect("TDH.PHYMEM.PAGE.RECLAIM");
        assert!(
            module.free_page(hpa),
            "reclaimed pages are the host's again"
        );
        reclaimed += 1;
    }
    let tdr_type = host
        .phymem_page_rdmd(tdr.hpa())
        .expect("TDH.PHYMEM.PAGE.RDMD")
        .page_type;
    say(format!(
        "teardown: {reclaimed} pages reclaimed, the TDR page is {tdr_type:?} again; \
         the guest's pending HLT returned {}",
        guest_release
            .and_then(|s| s.named())
            .map_or("nothing", |code| code.name())
    ));
    Run {
        mrtd,
        exits,
        ucalls,
        guest_mrtd,
        reclaimed,
        guest_release,
    }
}

fn main() {
    let expected = expected_mrtd();
    println!("MRTD computed ahead of time: {}", hex(&expected));
    let run = run(&mut |line| println!("{line}"));
    println!("MRTD of the TD:              {}", hex(&run.mrtd));
    println!("MRTD in the guest's report:  {}", hex(&run.guest_mrtd));
    assert_eq!(run.mrtd, expected);
    assert_eq!(run.guest_mrtd, expected);
    println!("all three agree.");
}
