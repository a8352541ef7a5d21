//! The direct backend (`tdxcall::module::Direct`) against the trapped path: the lifecycle
//! and the misuse suite run through both, and every call (status and all 13 output
//! registers, per thread, in order) must be the same. Then what only the direct backend
//! has: the in-memory vector state, panics, re-entry.
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

mod module_common;

use module_common::{calls_of, lifecycle, misuse, Machine, Via};
use tdxcall::abi::{FieldId, TdvprPage};
use tdxcall::call::{Backend, CallKind};
use tdxcall::emu::{self, Answer, Recorder};
use tdxcall::guest::Guest;
use tdxcall::host::Host;
use tdxcall::leaf::Leaf;
use tdxcall::module::{Config, Direct, SoftwareModule};
use tdxcall::status::StatusCode;
use tdxcall::{Regs, Status};

/// Asserts that two runs made the same calls on every thread, and returns how many.
fn assert_same_calls(what: &str, trapped: &Machine, direct: &Machine) -> usize {
    let mut total = 0;
    for who in ["lp0", "lp1", "guest"] {
        let (t, d) = (calls_of(&trapped.log, who), calls_of(&direct.log, who));
        for (index, (t, d)) in t.iter().zip(&d).enumerate() {
            assert_eq!(t, d, "{what}: call {index} of {who} differs");
        }
        assert_eq!(t.len(), d.len(), "{what}: number of calls of {who}");
        total += t.len();
    }
    total
}

#[test]
fn lifecycle_is_the_same_through_both_backends() {
    let mut trapped = Machine::with(Via::Trapped);
    let mut direct = Machine::with(Via::Direct);
    let t = lifecycle::run(&mut trapped);
    let d = lifecycle::run(&mut direct);
    assert_eq!(t, d, "the two runs observed different things");
    // What the run must be, on either path.
    assert_eq!(d.mrtd, lifecycle::expected_mrtd());
    assert_eq!(d.guest_mrtd, d.mrtd);
    assert_eq!(d.exits, vec![(48, 0x2000), (77, 48), (77, 48), (77, 12)]);
    assert_eq!(d.ucalls[1], 0xD0E);
    assert_eq!(d.reclaimed, 19);
    assert_eq!(d.guest_release, Some(StatusCode::TdcallUd.status()));
    let calls = assert_same_calls("lifecycle", &trapped, &direct);
    // Every thread took part: LP 1's LP.INIT, the guest's TDCALLs, the host's VP.ENTERs.
    let guest = calls_of(&direct.log, "guest");
    assert!(guest.len() >= 6, "guest calls: {guest:#?}");
    assert_eq!(calls_of(&direct.log, "lp1").len(), 1);
    let enters = calls_of(&direct.log, "lp0")
        .into_iter()
        .filter(|call| call.kind == CallKind::SeamcallScrub)
        .count();
    assert_eq!(enters, 4);
    assert!(calls > 60, "{calls} calls compared");
}

#[test]
fn misuse_suite_is_the_same_through_both_backends() {
    for (name, scenario) in misuse::SCENARIOS {
        let mut trapped = Machine::with(Via::Trapped);
        let mut direct = Machine::with(Via::Direct);
        scenario(&mut trapped);
        scenario(&mut direct);
        let calls = assert_same_calls(name, &trapped, &direct);
        let log = calls_of(&direct.log, "lp0");
        let errors = log.iter().filter(|call| call.status.is_error()).count();
        assert!(
            calls > 10 && errors >= 10,
            "{name}: {calls} calls, {errors} errors"
        );
    }
}

#[test]
fn direct_faults_are_the_thunks_software_codes() {
    let module = SoftwareModule::new(Config::default());
    // TDCALL on a logical processor: #UD, registers as they went in.
    let mut host = module.direct_host(0);
    let input = Regs {
        rcx: 0x1234,
        r15: 7,
        ..Regs::ZERO
    };
    let mut regs = input;
    // SAFETY: the model answers.
    let status = unsafe { host.call(CallKind::Tdcall, Leaf::TdgVpInfo.rax(), &mut regs) };
    assert_eq!(status, Status::TDCALL_UD);
    assert_eq!(regs, input);
    // SEAMCALL on a vCPU's guest: #UD at a SEAMCALL.
    let mut guest = module.direct_guest(TdvprPage::new(module.alloc_page().unwrap()).unwrap());
    // SAFETY: the model answers.
    let status = unsafe { guest.call(CallKind::Seamcall, Leaf::TdhSysInit.rax(), &mut regs) };
    assert_eq!(status, Status::SEAMCALL_UD);
    assert_eq!(regs, input);
    // A guest whose TDVPR holds no vCPU: #UD on every TDCALL.
    let mut guest = Guest::new(guest);
    assert_eq!(
        guest.vp_info().map(|_| ()),
        Err(tdxcall::Error::Status(Status::TDCALL_UD))
    );
    // VMfailInvalid and #GP from a model: the thunk's codes, registers unchanged.
    for (answer, kind, expected) in [
        (
            Answer::VmFailInvalid,
            CallKind::Seamcall,
            Status::SEAMCALL_VMFAILINVALID,
        ),
        (Answer::VmFailInvalid, CallKind::Tdcall, Status::TDCALL_UD),
        (Answer::Gp, CallKind::Seamcall, Status::SEAMCALL_GP),
        (Answer::Gp, CallKind::Tdvmcall, Status::TDCALL_GP),
    ] {
        let mut direct = Direct::new(Recorder::scripted([answer]));
        let mut regs = input;
        // SAFETY: the recorder answers.
        let status = unsafe { direct.call(kind, 1, &mut regs) };
        assert_eq!((status, regs), (expected, input), "{answer:?} at {kind:?}");
    }
}

#[test]
fn direct_and_trapped_mix_on_one_module() {
    // LP 0 trapped on this thread, LP 1 direct on another: one platform.
    let mut m = Machine::with(Via::Trapped);
    m.host.sys_init().unwrap();
    m.host.sys_lp_init().unwrap();
    let module = m.module.clone();
    std::thread::spawn(move || Host::new(module.direct_host(1)).sys_lp_init().unwrap())
        .join()
        .unwrap();
    let mut lp1 = Host::new(m.module.direct_host(1));
    assert_eq!(
        lp1.sys_lp_init().map(|_| ()).map_err(|e| e.status()),
        Err(Some(StatusCode::SysLpInitDone.status())),
        "LP 1 was initialized by the other direct handle"
    );
    let pointers = m.tdmr_pointers();
    m.host
        .sys_config(
            pointers,
            1,
            tdxcall::abi::Hkid::new(module_common::GLOBAL_HKID),
        )
        .unwrap();
    // Read back through the direct LP: the same module.
    let version = lp1.sys_rd(FieldId::from_raw(0x0800_0001_0000_0003));
    assert!(version.is_ok(), "{version:?}");
}

#[test]
fn vector_state_crosses_a_tdvmcall_through_the_images() {
    let mut m = Machine::with(Via::Direct);
    let (tdr, tdvpr, _page) = m.built_td(40);
    m.host.mr_finalize(tdr).unwrap();
    let module = m.module.clone();
    let guest = std::thread::spawn(move || {
        let mut guest = module.direct_guest(tdvpr);
        let mut image = guest.vector_state().unwrap();
        image.set_xmm(3, 0xAAAA_0003).unwrap();
        image.set_xmm(4, 0xBBBB_0004).unwrap();
        // TDG.VP.VMCALL exposing R12 and XMM3 (not XMM4).
        let mut regs = Regs {
            rcx: 1 << 12 | 1 << (16 + 3),
            r12: 0x12,
            ..Regs::ZERO
        };
        // SAFETY: the model answers.
        let status = unsafe { guest.call(CallKind::Tdvmcall, 0, &mut regs) };
        let image = guest.vector_state().unwrap();
        (
            status,
            regs.r12,
            image.xmm(3).unwrap(),
            image.xmm(4).unwrap(),
        )
        // Dropping the guest backend here: the vCPU's guest is gone.
    });
    // Another handle of LP 0, whose image this test reads.
    let mut host = m.module.direct_host(0);
    host.vector_state().unwrap().set_xmm(3, 0x5555).unwrap();
    let mut regs = Regs {
        rcx: tdvpr.raw(),
        ..Regs::ZERO
    };
    // SAFETY: the model answers.
    let exit = unsafe { host.call(CallKind::SeamcallScrub, Leaf::TdhVpEnter.rax(), &mut regs) };
    assert_eq!(exit, StatusCode::Success.with_details(77), "{exit}");
    assert_eq!((regs.rcx, regs.r12), (1 << 12 | 1 << (16 + 3), 0x12));
    let image = host.vector_state().unwrap();
    assert_eq!(
        (image.xmm(3).unwrap(), image.xmm(4).unwrap()),
        (0xAAAA_0003, 0),
        "the guest's selected XMM, every other one zero"
    );
    // Resume with the host's R12 and XMM3; the guest thread then ends.
    host.vector_state().unwrap().set_xmm(3, 0x3333).unwrap();
    let mut regs = Regs {
        rcx: tdvpr.raw(),
        r12: 0x99,
        ..Regs::ZERO
    };
    // SAFETY: the model answers.
    let last = unsafe { host.call(CallKind::SeamcallScrub, Leaf::TdhVpEnter.rax(), &mut regs) };
    let (status, r12, xmm3, xmm4) = guest.join().unwrap();
    assert_eq!(status, Status::SUCCESS);
    assert_eq!(r12, 0x99, "the VMM's R12");
    assert_eq!(xmm3, 0x3333, "the VMM's XMM3");
    assert_eq!(xmm4, 0xBBBB_0004, "an unselected XMM stays the guest's own");
    assert_eq!(
        last,
        StatusCode::NonRecoverableVcpu.with_details(2),
        "the guest backend was dropped: triple fault"
    );
}

#[test]
fn a_model_panic_answers_ud_until_taken() {
    let module = SoftwareModule::new(Config::default());
    let mut host = Host::new(module.direct_host(0));
    module.inject_panic(Leaf::TdhSysInit);
    assert_eq!(
        host.sys_init().map_err(|e| e.status()),
        Err(Some(Status::SEAMCALL_UD))
    );
    // Later calls: #UD without calling the model.
    assert_eq!(
        host.sys_lp_init().map_err(|e| e.status()),
        Err(Some(Status::SEAMCALL_UD))
    );
    let payload = host.backend_mut().take_panic().expect("the panic is kept");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("injected"), "{message}");
    // The model is called again.
    assert_eq!(host.sys_init(), Ok(()));
}

#[test]
fn a_direct_call_from_inside_a_model_is_not_run() {
    let module = SoftwareModule::new(Config::default());
    let mut installed = emu::install(Recorder::scripted([]));
    let status = installed.with(|_| {
        let mut direct = module.direct_host(0);
        let mut regs = Regs::ZERO;
        // SAFETY: nothing runs.
        unsafe { direct.call(CallKind::Seamcall, Leaf::TdhSysInit.rax(), &mut regs) }
    });
    assert_eq!(status, Status::SEAMCALL_UD);
    // Outside, the same call runs: SYS.INIT was not done above.
    assert_eq!(Host::new(module.direct_host(0)).sys_init(), Ok(()));
}
