//! The whole life of a TD on the software TDX module, host and guest in one process.
//!
//! ```text
//! cargo run --example lifecycle --features software-module
//! ```
//!
//! The host (this thread, logical processor 0) brings the platform up, builds a TD with one
//! vCPU and two pages (one measured), finalizes its measurement and runs a VMM loop over
//! TDH.VP.ENTER. The guest (another thread, the vCPU) reads its TD info, accepts a page the
//! host adds on demand, asks the module for a TDREPORT, reports the MRTD it carries through
//! the ucall mailbox, and halts. The host prints every TD exit, tears the TD down, reclaims
//! every page and prints the MRTD, which [`MrtdBuilder`] computed before the TD existed.
#![allow(dead_code)] // `run` is also driven by tests/module_lifecycle.rs.

use std::sync::mpsc;
use std::thread;
use tdxcall::abi::report::ReportData;
use tdxcall::abi::{fields, GuestPhysAddr, Hkid, PageLevel};
use tdxcall::emu;
use tdxcall::guest::mem::AcceptOutcome;
use tdxcall::guest::tdvmcall::VmcallError;
use tdxcall::guest::Guest;
use tdxcall::host::builder::{TdBuilder, TdParamsBuilder};
use tdxcall::host::vmcall::{Answer, Request};
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::module::{Measurement, MrtdBuilder, SoftwareModule};
use tdxcall::status::{ExitReason, TdvmcallCode};
use tdxcall::ucall::{Command, GuestMailbox, Handled, VmmMailbox};
use tdxcall::{Error, Regs, Status};

/// The TD's memory map (GPAs; GPAW is 48, so the shared bit is bit 47).
const CODE_GPA: u64 = 0x0000;
const DATA_GPA: u64 = 0x1000;
const REPORT_DATA_GPA: u64 = DATA_GPA;
const REPORT_GPA: u64 = DATA_GPA + 0x400;
const LAZY_GPA: u64 = 0x2000;
const MAILBOX: GuestPhysAddr = GuestPhysAddr::new_const(1 << 47 | 0xFEB0_0000);

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
    /// The mailbox calls the guest made: (command number, first argument).
    pub ucalls: Vec<(u64, u64)>,
    /// The MRTD the guest read from its TDREPORT.
    pub guest_mrtd: Measurement,
    /// Pages the teardown reclaimed.
    pub reclaimed: usize,
    /// The status the guest's last (blocked) TDVMCALL returned after the teardown.
    pub guest_release: Option<Status>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The guest program: runs on the vCPU's thread.
fn guest(
    memory: tdxcall::module::GuestMemory,
    say: mpsc::Sender<String>,
) -> (Measurement, Option<Status>) {
    let mut guest = Guest::native();
    let info = guest.vp_info().expect("TDG.VP.INFO");
    let _ = say.send(format!(
        "guest: TDG.VP.INFO: GPAW {}, vCPU {} of {}, attributes {:?}",
        info.gpaw, info.vcpu_index, info.max_vcpus, info.attributes
    ));
    let lazy = GuestPhysAddr::new_const(LAZY_GPA);
    // SAFETY: nothing in this program uses the page at LAZY_GPA yet.
    let accepted = unsafe { guest.mem_page_accept(lazy, PageLevel::Size4K) };
    let _ = say.send(format!(
        "guest: TDG.MEM.PAGE.ACCEPT {LAZY_GPA:#x}: {accepted:?}"
    ));
    assert_eq!(accepted, Ok(AcceptOutcome::Accepted));
    memory
        .write(lazy, b"accepted and writable")
        .expect("accepted page");

    let mut report_data = ReportData([0; 64]);
    report_data.0[..8].copy_from_slice(b"lifecycl");
    let data_gpa = GuestPhysAddr::new_const(REPORT_DATA_GPA);
    memory.write(data_gpa, &report_data.0).expect("data page");
    let report_gpa = GuestPhysAddr::new_const(REPORT_GPA);
    // SAFETY: REPORT_GPA is a private page of the TD that nothing else uses.
    unsafe { guest.mr_report(report_gpa, data_gpa) }.expect("TDG.MR.REPORT");
    let mrtd = memory
        .read_report(report_gpa)
        .expect("report page")
        .td_info
        .mr_td;

    let mailbox = GuestMailbox::new(MAILBOX).expect("aligned");
    let head = u64::from_le_bytes(mrtd[..8].try_into().expect("8 bytes"));
    mailbox.sync(&mut guest, head).expect("ucall");
    mailbox.done(&mut guest).expect("ucall");
    // The VMM never resumes this HLT: the teardown releases it.
    let release = match guest.tdvmcall_hlt(false) {
        Err(VmcallError::Call(Error::Status(status))) => Some(status),
        _ => None,
    };
    (mrtd, release)
}

/// Runs the whole lifecycle; `say` gets one line per step.
pub fn run(say: &mut dyn FnMut(String)) -> Run {
    let mut module = SoftwareModule::default();
    let (_lp0, mut host) = module.platform().expect("platform bring-up");
    let tdmr = module.tdmr();
    say(format!(
        "module ready: TDX {} (build {:#x}), TDX_FEATURES0 {:?}, TDMR {:#x}+{:#x}",
        host.module_info().expect("TDH.SYS.RD").version,
        host.module_info().expect("TDH.SYS.RD").build_num,
        host.tdx_features0().expect("TDH.SYS.RD"),
        tdmr.tdmr_base.raw(),
        tdmr.tdmr_size
    ));

    // ---- Build the TD: one vCPU, the measured image, the data page.
    let params = TdParamsBuilder::new().max_vcpus(1);
    let mut td = TdBuilder::new(Hkid::new(33), params)
        .build(&mut host, &mut module)
        .expect("TD created and initialized");
    let tdvpr = td.add_vcpu(&mut host, &mut module, 0, None).expect("vCPU");
    let gpa = GuestPhysAddr::new_const;
    td.add_page(&mut host, &mut module, gpa(CODE_GPA), &guest_image(), true)
        .expect("code page");
    td.add_page(&mut host, &mut module, gpa(DATA_GPA), &[0; 4096], false)
        .expect("data page");
    td.finalize(&mut host).expect("TDH.MR.FINALIZE");
    let mut mrtd = [0u8; 48];
    for (index, chunk) in mrtd.chunks_exact_mut(8).enumerate() {
        let field = fields::td::MRTD.element(index as u32).expect("element");
        chunk.copy_from_slice(
            &host
                .mng_rd(td.tdr, field)
                .expect("TDH.MNG.RD")
                .to_le_bytes(),
        );
    }
    say(format!(
        "TD built: TDR {:#x}, {} pages owned by the module, MRTD {}...",
        td.tdr.raw(),
        td.page_count(),
        &hex(&mrtd)[..16]
    ));

    // ---- The guest: one thread, the vCPU.
    let (memory, vcpu) = (module.guest_memory(td.tdr), module.virtual_cpu(tdvpr));
    let (guest_say, guest_lines) = mpsc::channel::<String>();
    let guest = thread::spawn(move || {
        let _vcpu = emu::install(vcpu);
        guest(memory, guest_say)
    });

    // ---- The VMM loop.
    let (mut exits, mut ucalls) = (Vec::new(), Vec::new());
    let mut mailbox = VmmMailbox::new(MAILBOX).expect("aligned");
    let mut regs = Regs::ZERO;
    loop {
        // SAFETY: the vCPU is initialized and only this LP enters it.
        let exit = unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }
            .expect("TDH.VP.ENTER");
        guest_lines.try_iter().for_each(&mut *say);
        let call = match exit {
            TdExit::Tdvmcall(call) => call,
            TdExit::Async(exit) => {
                exits.push((exit.exit_reason().raw(), exit.gpa()));
                say(format!(
                    "exit {} (EPT violation) at GPA {:#x}: TDH.MEM.PAGE.AUG a page there",
                    exit.basic_reason(),
                    exit.gpa()
                ));
                assert_eq!(exit.basic_reason(), 48, "only EPT violations are expected");
                td.aug_page(&mut host, &mut module, gpa(exit.gpa()))
                    .expect("TDH.MEM.PAGE.AUG");
                regs = Regs::ZERO;
                continue;
            }
        };
        let request = call.request();
        exits.push((u32::from(ExitReason::TDCALL), call.regs.r11));
        let answer = match mailbox.handle(&request) {
            Handled::Pending(answer) => answer,
            Handled::Call(ucall, answer) => {
                say(format!(
                    "exit 77 ucall {:?} {:x?}",
                    ucall.command,
                    ucall.args()
                ));
                ucalls.push((ucall.command.number(), ucall.arg(0)));
                answer
            }
            Handled::NotMailbox if matches!(request, Request::Hlt { .. }) => {
                say("exit 77 TDVMCALL Instruction.HLT: the guest is done".to_string());
                break;
            }
            Handled::NotMailbox => {
                say(format!("exit 77 TDVMCALL {request:?}: unsupported"));
                Answer::Error(TdvmcallCode::SubfuncUnsupported)
            }
        };
        call.answer(answer)
            .expect("exposed registers")
            .write(&mut regs);
    }

    // ---- Teardown: flush, VPFLUSHDONE (which releases the guest's HLT), reclaim.
    let tdr = td.tdr;
    let reclaimed = td.teardown(&mut host, &mut module).expect("teardown");
    let (guest_mrtd, guest_release) = guest.join().expect("guest thread");
    guest_lines.try_iter().for_each(&mut *say);
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
    assert!(ucalls
        .iter()
        .any(|(command, _)| *command == Command::Done.number()));
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
