//! Every GHCI request end to end: the guest wrapper's registers go through the software
//! module to the VMM, decode as the typed `host::vmcall::Request`, the VMM's typed `Answer`
//! goes back, and the guest wrapper returns it as its typed result.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

mod module_common;

use module_common::Machine;
use std::num::NonZeroU64;
use std::thread;
use tdxcall::abi::gpr_select::Gpr;
use tdxcall::abi::GuestPhysAddr;
use tdxcall::emu;
use tdxcall::guest::tdvmcall::{
    CacheFlush, CpuidResult, IoSize, MmioSize, Subfunction, VendorResult, VmcallError, VmcallRegs,
};
use tdxcall::guest::Guest;
use tdxcall::host::vmcall::{Answer, FatalError, Request};
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::status::{TdvmcallCode, TdvmcallStatus};
use tdxcall::{Error, Regs};

const SHARED: u64 = 1 << 47;

fn gpa(raw: u64) -> GuestPhysAddr {
    GuestPhysAddr::new(raw).unwrap()
}

/// What the VMM expects, in order, and how it answers.
fn script() -> Vec<(Request, Answer)> {
    let mut message = [0u8; 64];
    message[..17].copy_from_slice(b"guest gave up: 42");
    let mut steps = vec![
        (
            Request::Cpuid {
                leaf: 7,
                subleaf: 1,
            },
            Answer::Cpuid(CpuidResult::new(1, 2, 3, 0xFFFF_FFFF)),
        ),
        (
            Request::Hlt {
                interrupts_blocked: true,
            },
            Answer::Success,
        ),
        (
            Request::IoRead {
                port: 0x3F8,
                size: IoSize::B2,
            },
            Answer::Value(0xABCD),
        ),
        (
            Request::IoWrite {
                port: 0x80,
                size: IoSize::B4,
                value: 0xDEAD_BEEF,
            },
            Answer::Success,
        ),
        (Request::Rdmsr { index: 0x1B }, Answer::Value(0xFEE0_0900)),
        (
            Request::Wrmsr {
                index: 0x6E0,
                value: 0x1234_5678_9ABC,
            },
            Answer::Success,
        ),
        (
            Request::MmioRead {
                gpa: gpa(SHARED | 0xFED0_0008),
                size: MmioSize::B8,
            },
            Answer::Value(0x0102_0304_0506_0708),
        ),
        (
            Request::MmioWrite {
                gpa: gpa(SHARED | 0xFED0_0002),
                size: MmioSize::B2,
                value: 0xBEEF,
            },
            Answer::Success,
        ),
        (
            Request::Wbinvd {
                operation: CacheFlush::WriteBackNoInvalidate,
            },
            Answer::Success,
        ),
        (
            Request::Pconfig {
                leaf: 1,
                rbx: 2,
                rcx: 3,
                rdx: 4,
            },
            Answer::Value(5),
        ),
        (
            Request::GetTdVmCallInfo { leaf: 1 },
            Answer::TdVmCallInfo([11, 12, 13, 14]),
        ),
        (
            Request::MapGpa {
                start: gpa(SHARED | 0x10_0000),
                size: 0x4000,
            },
            Answer::Retry {
                resume: SHARED | 0x10_2000,
            },
        ),
        (
            Request::MapGpa {
                start: gpa(SHARED | 0x10_2000),
                size: 0x2000,
            },
            Answer::Success,
        ),
        (
            Request::GetQuote {
                buffer: gpa(SHARED | 0x20_0000),
                size: 0x2000,
            },
            Answer::Success,
        ),
        (
            Request::ReportFatalError(FatalError::new(0x42, Some(SHARED | 0x30_0000), message)),
            Answer::Success,
        ),
        (
            Request::SetupEventNotifyInterrupt { vector: 0xEC },
            Answer::Success,
        ),
        (
            Request::Service {
                command: gpa(SHARED | 0x40_0000),
                response: gpa(SHARED | 0x41_0000),
                vector: 0,
                timeout: 1000,
            },
            Answer::Success,
        ),
        (
            Request::Vendor {
                r10: 0x12,
                args: [1, 2, 3, 4],
            },
            Answer::Vendor { r10: 0, r11: 99 },
        ),
    ];
    // An unknown sub-function, answered "unsupported".
    steps.push((
        Request::Unknown {
            subfunction: 0x7777,
            exposed: Gpr::R10.select() | Gpr::R11.select() | Gpr::R12.select(),
            regs: Regs {
                r11: 0x7777,
                r12: 5,
                ..Regs::ZERO
            },
        },
        Answer::Error(TdvmcallCode::SubfuncUnsupported),
    ));
    // Every GHCI status but success reaches the guest as VmcallError::Vmm.
    for code in TdvmcallCode::ALL {
        if *code != TdvmcallCode::Success {
            steps.push((Request::Rdmsr { index: 0x10 }, Answer::Error(*code)));
        }
    }
    steps
}

/// The guest's calls, in the script's order, each result checked against what the VMM
/// answered. Returns how many calls it made.
fn guest_program() -> usize {
    let mut g = Guest::native();
    let mut calls = 0;
    let mut count = |n| calls += n;
    assert_eq!(
        g.tdvmcall_cpuid(7, 1),
        Ok(CpuidResult::new(1, 2, 3, 0xFFFF_FFFF))
    );
    assert_eq!(g.tdvmcall_hlt(true), Ok(()));
    assert_eq!(g.tdvmcall_io_read(0x3F8, IoSize::B2), Ok(0xABCD));
    assert_eq!(g.tdvmcall_io_write(0x80, IoSize::B4, 0xDEAD_BEEF), Ok(()));
    assert_eq!(g.tdvmcall_rdmsr(0x1B), Ok(0xFEE0_0900));
    assert_eq!(g.tdvmcall_wrmsr(0x6E0, 0x1234_5678_9ABC), Ok(()));
    assert_eq!(
        g.tdvmcall_mmio_read(gpa(SHARED | 0xFED0_0008), MmioSize::B8),
        Ok(0x0102_0304_0506_0708)
    );
    assert_eq!(
        g.tdvmcall_mmio_write(gpa(SHARED | 0xFED0_0002), MmioSize::B2, 0xBEEF),
        Ok(())
    );
    assert_eq!(g.tdvmcall_wbinvd(CacheFlush::WriteBackNoInvalidate), Ok(()));
    assert_eq!(g.tdvmcall_pconfig(1, 2, 3, 4), Ok(5));
    assert_eq!(g.tdvmcall_get_td_vm_call_info(1), Ok([11, 12, 13, 14]));
    count(11);
    // SAFETY: the software module only passes the registers to the VMM; no memory changes.
    let mapped = unsafe { g.tdvmcall_map_gpa(gpa(SHARED | 0x10_0000), 0x4000) };
    assert_eq!(mapped, Ok(()));
    count(2);
    // SAFETY: as above; the VMM of this test never writes the buffer.
    let quote = unsafe { g.tdvmcall_get_quote(gpa(SHARED | 0x20_0000), 0x2000) };
    assert_eq!(quote, Ok(()));
    assert_eq!(
        g.tdvmcall_report_fatal_error(0x42, Some(gpa(SHARED | 0x30_0000)), b"guest gave up: 42"),
        Ok(())
    );
    assert_eq!(g.tdvmcall_setup_event_notify_interrupt(0xEC), Ok(()));
    // SAFETY: as above.
    let service =
        unsafe { g.tdvmcall_service(gpa(SHARED | 0x40_0000), gpa(SHARED | 0x41_0000), 0, 1000) };
    assert_eq!(service, Ok(()));
    // SAFETY: as above; vendor call 0x12 means nothing to this VMM but the test.
    let vendor = unsafe { g.tdvmcall_vendor(NonZeroU64::new(0x12).unwrap(), [1, 2, 3, 4]) };
    assert_eq!(vendor, Ok(VendorResult { r10: 0, r11: 99 }));
    count(5);
    let mut raw = VmcallRegs::new(0, 0x7777).input(Gpr::R12, 5);
    // SAFETY: an unknown sub-function the VMM refuses.
    let status = unsafe { g.tdvmcall_raw(&mut raw) };
    assert_eq!(status, Ok(TdvmcallCode::SubfuncUnsupported.status()));
    count(1);
    for code in TdvmcallCode::ALL {
        if *code != TdvmcallCode::Success {
            let result = g.tdvmcall_rdmsr(0x10);
            assert_eq!(result, Err(VmcallError::Vmm(code.status())));
            // And `?` carries it into the crate's Error.
            let error: Error = result.unwrap_err().into();
            assert_eq!(
                error,
                Error::Tdvmcall(TdvmcallStatus::from_raw(code.value()))
            );
            count(1);
        }
    }
    calls
}

#[test]
fn every_ghci_request_decodes_and_every_answer_reaches_the_guest() {
    let mut m = Machine::new();
    let (tdr, tdvpr, _) = m.built_td(40);
    m.host.mr_finalize(tdr).unwrap();
    let vcpu = m.module.virtual_cpu(tdvpr);
    let guest = thread::spawn(move || {
        let _vcpu = emu::install(vcpu);
        guest_program()
    });
    let script = script();
    let covered: std::collections::HashSet<_> =
        script.iter().filter_map(|(r, _)| r.subfunction()).collect();
    for sub in Subfunction::ALL {
        assert!(covered.contains(sub), "{sub:?} is not in the script");
    }
    let mut regs = Regs::ZERO;
    for (step, (expected, answer)) in script.iter().enumerate() {
        // SAFETY: the software module's vCPU, entered only from this thread.
        let exit = unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }.unwrap();
        let TdExit::Tdvmcall(call) = exit else {
            panic!("step {step}: expected a TDVMCALL, got {exit:?} (the guest failed)");
        };
        assert_eq!(call.request(), *expected, "step {step}");
        call.answer(*answer).unwrap().write(&mut regs);
    }
    // Let the guest see the last answer and end.
    // SAFETY: as above.
    let last = unsafe { m.host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) }.unwrap();
    assert!(matches!(last, TdExit::Async(_)), "{last:?}");
    assert_eq!(guest.join().expect("guest assertions"), script.len());
}

#[test]
fn subfunction_numbers_round_trip() {
    for sub in Subfunction::ALL {
        assert_eq!(Subfunction::from_number(sub.number()), Some(*sub));
        assert_eq!(Subfunction::try_from(sub.number()), Ok(*sub));
    }
    assert_eq!(Subfunction::try_from(0x7777), Err(0x7777));
    assert_eq!(Subfunction::from_number(0), None);
}
