//! A KVM-selftest-style program on the software TDX module: the guest reports progress
//! through the ucall mailbox and asks the VMM for CPUID; the VMM loop answers.
//! Run: `cargo run --example selftest --features software-module`
use std::thread;
use tdxcall::abi::{GuestPhysAddr, Hkid};
use tdxcall::guest::{tdvmcall::CpuidResult, Guest};
use tdxcall::host::builder::{TdBuilder, TdParamsBuilder};
use tdxcall::host::vmcall::{Answer, Request};
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::module::SoftwareModule;
use tdxcall::status::TdvmcallCode;
use tdxcall::ucall::{Command, GuestMailbox, Handled, VmmMailbox};
use tdxcall::{emu, Regs};

const MAILBOX: GuestPhysAddr = GuestPhysAddr::new_const(1 << 47 | 0xFEB0_0000);
const VENDOR: CpuidResult = CpuidResult::new(0xD, 0x756E_6547, 0x6C65_746E, 0x4965_6E69);

/// The test's guest code.
fn guest_main() {
    let (mut guest, mailbox) = (Guest::native(), GuestMailbox::new(MAILBOX).unwrap());
    mailbox.sync(&mut guest, 1).unwrap();
    let cpuid = guest.tdvmcall_cpuid(0, 0).unwrap();
    let name: Vec<u8> = [cpuid.ebx, cpuid.edx, cpuid.ecx]
        .map(u32::to_le_bytes)
        .concat();
    mailbox
        .print(&mut guest, std::str::from_utf8(&name).unwrap())
        .unwrap();
    mailbox.sync(&mut guest, 2).unwrap();
    mailbox.done(&mut guest).unwrap();
}

pub fn main() -> Result<(), tdxcall::Error> {
    let mut module = SoftwareModule::default();
    let (_lp0, mut host) = module.platform()?;
    let builder = TdBuilder::new(Hkid::new(33), TdParamsBuilder::new());
    let mut td = builder.build(&mut host, &mut module)?;
    let tdvpr = td.add_vcpu(&mut host, &mut module, 0, None)?;
    td.finalize(&mut host)?;
    let vcpu = module.virtual_cpu(tdvpr);
    let guest = thread::spawn(move || {
        let _vcpu = emu::install(vcpu);
        guest_main()
    });

    let (mut mailbox, mut regs) = (VmmMailbox::new(MAILBOX)?, Regs::ZERO);
    loop {
        // SAFETY: the vCPU is initialized and entered only from this thread.
        let exit = unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs)? };
        let TdExit::Tdvmcall(call) = exit else {
            break; // the guest's thread ended: its vCPU exits for good
        };
        let request = call.request();
        let answer = match (mailbox.handle(&request), request) {
            (Handled::Pending(answer), _) => answer,
            (Handled::Call(ucall, answer), _) => {
                match ucall.command {
                    Command::Sync => println!("guest reached stage {}", ucall.arg(0)),
                    Command::Print => println!("guest: {}", ucall.text().as_str().unwrap()),
                    Command::Done => println!("guest done"),
                    other => panic!("guest failed: {other:?} {:x?}", ucall.args()),
                }
                answer
            }
            (Handled::NotMailbox, Request::Cpuid { leaf: 0, .. }) => Answer::Cpuid(VENDOR),
            (Handled::NotMailbox, _) => Answer::Error(TdvmcallCode::SubfuncUnsupported),
        };
        call.answer(answer)?.write(&mut regs);
    }
    guest.join().expect("the guest's checks passed");
    println!(
        "selftest passed; {} pages reclaimed",
        td.teardown(&mut host, &mut module)?
    );
    Ok(())
}
