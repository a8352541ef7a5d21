//! The host/guest bridge of the software TDX module: TDG.VP.VMCALL on the guest thread is a
//! TD exit of TDH.VP.ENTER on the host thread with exactly the registers the guest exposed
//! (the rest zero), and the host's values of exactly those registers go back to the guest.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

mod module_common;

use module_common::Machine;
use std::thread;
use tdxcall::abi::{TdrPage, TdvprPage};
use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::emu;
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::leaf::Leaf;
use tdxcall::module::SoftwareModule;
use tdxcall::status::{Operand, StatusCode};
use tdxcall::{Regs, Status};

/// Distinct values for every register: `tag` in the top bits, the hardware index below.
fn pattern(tag: u64) -> Regs {
    let mut regs = Regs::ZERO;
    for index in [1u8, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
        *regs.by_hw_index_mut(index).unwrap() = tag << 48 | 0x1000 | u64::from(index);
    }
    regs
}

const HW_INDICES: [u8; 13] = [1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn tdvmcall(regs: &mut Regs) -> Status {
    // SAFETY: the software module answers.
    unsafe { Native::new().call(CallKind::Tdvmcall, Leaf::TdgVpVmcall.rax(), regs) }
}

fn vp_enter(tdvpr: TdvprPage, regs: &mut Regs) -> Status {
    regs.rcx = tdvpr.raw();
    // SAFETY: the software module answers.
    unsafe { Native::new().call(CallKind::SeamcallScrub, Leaf::TdhVpEnter.rax(), regs) }
}

/// A finalized TD with one vCPU, on a ready platform.
fn running_td(m: &mut Machine) -> (TdrPage, TdvprPage) {
    let (tdr, tdvpr, _) = m.built_td(40);
    m.host.mr_finalize(tdr).unwrap();
    (tdr, tdvpr)
}

fn spawn_guest<R: Send + 'static>(
    module: &SoftwareModule,
    tdvpr: TdvprPage,
    guest: impl FnOnce() -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let vcpu = module.virtual_cpu(tdvpr);
    thread::spawn(move || {
        let _vcpu = emu::install(vcpu);
        guest()
    })
}

#[test]
fn tdvmcall_passes_exactly_the_exposed_registers_both_ways() {
    let mut m = Machine::new();
    let (tdr, tdvpr) = running_td(&mut m);
    // RDX, RBX, RSI, R8, R11, R13, R15.
    let select: u16 = 1 << 2 | 1 << 3 | 1 << 6 | 1 << 8 | 1 << 11 | 1 << 13 | 1 << 15;
    let guest_regs = Regs {
        rcx: u64::from(select),
        ..pattern(0x6E)
    };
    let guest = spawn_guest(&m.module, tdvpr, move || {
        // A mask naming RAX, RCX or RSP never leaves the TD.
        for forbidden in [1u64 << 0, 1 << 1, 1 << 4, 1 << 32] {
            let mut regs = Regs {
                rcx: forbidden | 1 << 10,
                ..Regs::ZERO
            };
            assert_eq!(
                tdvmcall(&mut regs),
                StatusCode::OperandInvalid.with_operand(Operand::RCX),
                "mask {forbidden:#x}"
            );
        }
        let mut first = guest_regs;
        let status = tdvmcall(&mut first);
        // A second exit, so the host's second entry returns; the teardown releases it.
        let mut second = Regs {
            rcx: 1 << 10,
            r10: 0x5EC0,
            ..Regs::ZERO
        };
        let released = tdvmcall(&mut second);
        (status, first, released)
    });

    // The host's own registers going in must not leak into what it sees.
    let mut regs = pattern(0xA5);
    let status = vp_enter(tdvpr, &mut regs);
    assert_eq!(
        status,
        StatusCode::Success.with_details(77),
        "exit reason 77"
    );
    assert_eq!(
        regs.rcx,
        u64::from(select),
        "RCX = GPR_SELECT, no XMM, VM 0"
    );
    for index in HW_INDICES.into_iter().filter(|&i| i != 1) {
        let expected = if select & 1 << index != 0 {
            guest_regs.by_hw_index(index).unwrap()
        } else {
            0
        };
        assert_eq!(regs.by_hw_index(index), Some(expected), "register {index}");
    }

    // The VMM's answer: every register has a value; only the selected ones reach the guest.
    let mut answer = pattern(0x77);
    let answer_copy = answer;
    let status = vp_enter(tdvpr, &mut answer);
    assert_eq!(status, StatusCode::Success.with_details(77));
    assert_eq!((answer.rcx, answer.r10), (1 << 10, 0x5EC0));

    // Tearing the TD down releases the guest's pending TDVMCALL with #UD.
    m.host.vp_flush(tdvpr).unwrap();
    m.host.mng_vpflushdone(tdr).unwrap();
    let (status, seen, released) = guest.join().unwrap();
    assert_eq!(status, Status::SUCCESS, "RAX = 0 for the guest");
    assert_eq!(
        seen.rcx,
        u64::from(select),
        "RCX = the guest's control value"
    );
    for index in HW_INDICES.into_iter().filter(|&i| i != 1) {
        let expected = if select & 1 << index != 0 {
            answer_copy.by_hw_index(index).unwrap()
        } else {
            guest_regs.by_hw_index(index).unwrap()
        };
        assert_eq!(
            seen.by_hw_index(index),
            Some(expected),
            "guest register {index}"
        );
    }
    assert_eq!(released, Status::TDCALL_UD);
}

#[test]
fn guest_calls_wait_for_entry_and_a_departed_guest_is_a_dead_vcpu() {
    let mut m = Machine::new();
    let (_, tdvpr) = running_td(&mut m);
    // The guest starts first: its TDG.VP.INFO waits for the host's TDH.VP.ENTER.
    let guest = spawn_guest(&m.module, tdvpr, || {
        let mut guest = tdxcall::guest::Guest::native();
        let info = guest.vp_info().unwrap();
        (info.vcpu_index, info.max_vcpus, info.gpaw)
    });
    let mut regs = Regs::ZERO;
    // The guest program ends without a TD exit: the vCPU can never run again.
    // SAFETY: the software module answers.
    let exit = unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }.unwrap();
    let TdExit::Async(exit) = exit else {
        panic!("{exit:?}")
    };
    assert_eq!(
        exit.status,
        StatusCode::NonRecoverableVcpu.with_details(2),
        "triple fault"
    );
    assert_eq!(guest.join().unwrap(), (0, 1, 48));
    let mut regs = Regs::ZERO;
    // SAFETY: the software module answers.
    let again = unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) };
    assert_eq!(
        again.unwrap_err(),
        tdxcall::Error::Status(StatusCode::VcpuStateIncorrect.status())
    );
}
