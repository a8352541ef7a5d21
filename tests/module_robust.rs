//! The software module never panics on malformed input, never leaves a thread blocked after
//! a model panic, and a `VirtualCpu` belongs to one vCPU of one TD for life (issue 12).
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

mod module_common;

use module_common::{status, Machine, GLOBAL_HKID};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;
use tdxcall::abi::sysinfo::TdmrInfo;
use tdxcall::abi::{FieldId, Hkid, HostPhysAddr, TdrPage, TdvprPage};
use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::emu;
use tdxcall::leaf::Leaf;
use tdxcall::module::SoftwareModule;
use tdxcall::status::StatusCode;
use tdxcall::{Regs, Status};

/// How long a test waits for a thread that must not be blocked.
const PATIENCE: Duration = Duration::from_secs(20);

fn seamcall(leaf: Leaf, regs: &mut Regs) -> Status {
    let kind = if leaf == Leaf::TdhVpEnter {
        CallKind::SeamcallScrub
    } else {
        CallKind::Seamcall
    };
    // SAFETY: the software module answers; no process memory is involved.
    unsafe { Native::new().call(kind, leaf.rax(), regs) }
}

fn tdcall(leaf: Leaf, regs: &mut Regs) -> Status {
    let kind = if leaf == Leaf::TdgVpVmcall {
        CallKind::Tdvmcall
    } else {
        CallKind::Tdcall
    };
    // SAFETY: the software module answers; no process memory is involved.
    unsafe { Native::new().call(kind, leaf.rax(), regs) }
}

fn vp_enter(tdvpr: TdvprPage) -> (Status, Regs) {
    let mut regs = Regs {
        rcx: tdvpr.raw(),
        ..Regs::ZERO
    };
    (seamcall(Leaf::TdhVpEnter, &mut regs), regs)
}

/// A TDG.VP.VMCALL exposing R10 (the guest's marker) and R11.
fn vmcall(marker: u64) -> Status {
    let mut regs = Regs {
        rcx: 1 << 10 | 1 << 11,
        r10: marker,
        ..Regs::ZERO
    };
    tdcall(Leaf::TdgVpVmcall, &mut regs)
}

fn exit_77() -> Status {
    StatusCode::Success.with_details(77)
}

fn triple_fault() -> Status {
    StatusCode::NonRecoverableVcpu.with_details(2)
}

// ---------------------------------------------------------------- TDMR_INFO arithmetic

/// SYS.INIT and LP.INIT on both LPs: SYS.CONFIG is pending.
fn config_pending() -> Machine {
    let mut m = Machine::new();
    m.host.sys_init().unwrap();
    m.host.sys_lp_init().unwrap();
    m.on_lp1(|host| host.sys_lp_init().unwrap());
    m
}

fn sys_config(m: &mut Machine, tdmr: &TdmrInfo) -> Result<(), tdxcall::Error> {
    let (info, pointers) = (m.page(), m.page());
    m.module.write_tdmr_info(info, tdmr).unwrap();
    m.module.write_u64s(pointers, &[info.raw()]).unwrap();
    m.host.sys_config(pointers, 1, Hkid::new(GLOBAL_HKID))
}

#[test]
fn tdmr_info_sums_that_wrap_past_2_64_get_the_module_status() {
    let mut m = config_pending();
    let good = m.module.tdmr();
    const PAGE: u64 = 4096;
    const GIB: u64 = 1 << 30;

    // Reserved area 1: offset + size wraps past 2^64.
    let mut tdmr = good;
    tdmr.reserved_areas[1].offset = 0u64.wrapping_sub(PAGE);
    tdmr.reserved_areas[1].size = 2 * PAGE;
    assert_eq!(
        status(sys_config(&mut m, &tdmr)),
        StatusCode::InvalidReservedInTdmr.with_details(1 << 8),
        "offset + size of area 1 wraps"
    );

    // Reserved area 1: offset + size fits, TDMR base + offset wraps.
    let mut tdmr = good;
    tdmr.reserved_areas[1].offset = 0u64.wrapping_sub(good.tdmr_base.raw());
    tdmr.reserved_areas[1].size = PAGE;
    assert_eq!(
        status(sys_config(&mut m, &tdmr)),
        StatusCode::InvalidReservedInTdmr.with_details(1 << 8),
        "base + offset of area 1 wraps"
    );

    // Reserved area 1: base + offset fits, base + offset + size wraps.
    let mut tdmr = good;
    tdmr.reserved_areas[1].offset = 0u64.wrapping_sub(good.tdmr_base.raw() + 2 * PAGE);
    tdmr.reserved_areas[1].size = 4 * PAGE;
    assert_eq!(
        status(sys_config(&mut m, &tdmr)),
        StatusCode::InvalidReservedInTdmr.with_details(1 << 8),
        "base + offset + size of area 1 wraps"
    );

    // TDMR base + size wraps (both 1 GiB aligned).
    let mut tdmr = good;
    tdmr.tdmr_base = HostPhysAddr::from_raw_unchecked(0u64.wrapping_sub(GIB));
    tdmr.tdmr_size = 2 * GIB;
    assert_eq!(
        status(sys_config(&mut m, &tdmr)),
        StatusCode::InvalidTdmr.with_details(0),
        "TDMR base + size wraps"
    );

    // TDMR base + size exactly 2^64: wraps to 0.
    let mut tdmr = good;
    tdmr.tdmr_base = HostPhysAddr::from_raw_unchecked(0u64.wrapping_sub(GIB));
    tdmr.tdmr_size = GIB;
    assert_eq!(
        status(sys_config(&mut m, &tdmr)),
        StatusCode::InvalidTdmr.with_details(0)
    );

    // PAMT_1G base + size wraps: TDX_INVALID_PAMT for TDMR 0, PAMT level 2 (1G).
    let mut tdmr = good;
    tdmr.pamt_1g_base = HostPhysAddr::from_raw_unchecked(0u64.wrapping_sub(PAGE));
    tdmr.pamt_1g_size = 2 * PAGE;
    assert_eq!(
        status(sys_config(&mut m, &tdmr)),
        StatusCode::InvalidPamt.with_details(2 << 8)
    );

    // A null area followed by a real one: area 2 (null, before area 3) is out of order.
    let mut tdmr = good;
    tdmr.reserved_areas[3].offset = 0x1000_0000;
    tdmr.reserved_areas[3].size = PAGE;
    assert_eq!(
        status(sys_config(&mut m, &tdmr)),
        StatusCode::NonOrderedReservedInTdmr.with_details(2 << 8)
    );

    // None of that configured anything: the good TDMR_INFO still goes in.
    sys_config(&mut m, &good).unwrap();
    m.host.sys_key_config().unwrap();
}

// ---------------------------------------------------------------- VirtualCpu lifetime

/// A finalized TD with one vCPU at `tdvpr` (or a new page), on a ready platform.
fn running_td(m: &mut Machine, hkid: u16, tdvpr: Option<TdvprPage>) -> (TdrPage, TdvprPage) {
    let tdr = m.create_td(hkid);
    m.init_td(tdr, &Machine::params()).unwrap();
    let tdvpr = match tdvpr {
        None => m.create_vcpu(tdr, 5),
        Some(page) => {
            // SAFETY: model memory.
            unsafe { m.host.vp_create(page, tdr) }.unwrap();
            for _ in 0..5 {
                let tdcx = tdxcall::abi::TdcxPage::new(m.page()).unwrap();
                // SAFETY: model memory.
                unsafe { m.host.vp_addcx(tdcx, page) }.unwrap();
            }
            page
        }
    };
    m.host.vp_init(tdvpr, 0).unwrap();
    m.sept(tdr, 0);
    m.add_page(tdr, 0);
    m.host.mr_finalize(tdr).unwrap();
    (tdr, tdvpr)
}

#[test]
fn a_virtual_cpu_outliving_its_vcpu_never_runs_or_disables_the_next_one_at_that_page() {
    let mut m = Machine::new();
    m.init_platform();
    let (tdr_a, tdvpr) = running_td(&mut m, 40, None);

    // TD A's guest: one TD exit, then it keeps its VirtualCpu installed until told to call
    // again.
    let (go, wait_go) = mpsc::channel::<()>();
    let (report, reports) = mpsc::channel::<Status>();
    let old_vcpu = m.module.virtual_cpu(tdvpr);
    let old_guest = thread::spawn(move || {
        let _vcpu = emu::install(old_vcpu);
        report.send(vmcall(0xA)).unwrap();
        wait_go.recv().unwrap();
        let mut regs = Regs::ZERO;
        report.send(tdcall(Leaf::TdgVpInfo, &mut regs)).unwrap();
        // The VirtualCpu is dropped here, while TD B's vCPU lives at the same page.
    });
    let (exit, regs) = vp_enter(tdvpr);
    assert_eq!((exit, regs.r10), (exit_77(), 0xA));

    // Tear TD A down; its guest's pending TDVMCALL ends with #UD.
    m.host.vp_flush(tdvpr).unwrap();
    m.host.mng_vpflushdone(tdr_a).unwrap();
    assert_eq!(reports.recv_timeout(PATIENCE), Ok(Status::TDCALL_UD));
    m.host.phymem_cache_wb().unwrap();
    m.host.mng_key_freeid(tdr_a).unwrap();
    // SAFETY: model memory; the page goes back to the host.
    unsafe { m.host.phymem_page_reclaim(tdvpr.hpa()) }.unwrap();

    // TD B's vCPU at the same TDVPR page, and its own guest, which starts after the old
    // guest's thread has ended (its VirtualCpu dropped).
    let (_tdr_b, same) = running_td(&mut m, 41, Some(tdvpr));
    assert_eq!(same, tdvpr);
    let (old_done, wait_old_done) = mpsc::channel::<()>();
    let new_vcpu = m.module.virtual_cpu(tdvpr);
    let new_guest = thread::spawn(move || {
        wait_old_done.recv().unwrap();
        let _vcpu = emu::install(new_vcpu);
        let first = vmcall(0xB);
        let second = vmcall(0xB2);
        (first, second)
    });
    go.send(()).unwrap();
    // The old guest's TDCALL is #UD at once: it is not TD B's vCPU, entered or not.
    let stale = reports.recv_timeout(PATIENCE);
    assert_eq!(
        stale,
        Ok(Status::TDCALL_UD),
        "the stale VirtualCpu got served"
    );
    old_guest.join().unwrap();
    old_done.send(()).unwrap();

    // Dropping the old VirtualCpu did not disable TD B's vCPU: both exits of its own guest
    // come through.
    let (exit, regs) = vp_enter(tdvpr);
    assert_eq!(
        (exit, regs.r10),
        (exit_77(), 0xB),
        "TD B's vCPU was disabled"
    );
    let (exit, regs) = vp_enter(tdvpr);
    assert_eq!((exit, regs.r10), (exit_77(), 0xB2));
    // Release TD B's guest from its second TDVMCALL: the resume, then it ends.
    let (exit, _) = vp_enter(tdvpr);
    assert_eq!(exit, triple_fault(), "the guest program ended");
    assert_eq!(
        new_guest.join().unwrap(),
        (Status::SUCCESS, Status::SUCCESS)
    );
}

#[test]
fn a_virtual_cpu_made_before_its_vcpu_belongs_to_none() {
    let mut m = Machine::new();
    m.init_platform();
    let tdr = m.create_td(40);
    m.init_td(tdr, &Machine::params()).unwrap();
    let page = TdvprPage::new(m.page()).unwrap();
    let early = m.module.virtual_cpu(page);
    // SAFETY: model memory.
    unsafe { m.host.vp_create(page, tdr) }.unwrap();
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        let _vcpu = emu::install(early);
        let mut regs = Regs::ZERO;
        send.send(tdcall(Leaf::TdgVpInfo, &mut regs)).unwrap();
    });
    // Not a wait for an entry of the vCPU made later: #UD at once.
    assert_eq!(receive.recv_timeout(PATIENCE), Ok(Status::TDCALL_UD));
    // Its drop did not touch the vCPU made after it.
    let read = m.host.vp_rd(page, FieldId::from_raw(0xA020_0000_0000_0000));
    assert_ne!(
        read,
        Err(tdxcall::Error::Status(
            StatusCode::VcpuStateIncorrect.status()
        ))
    );
}

// ---------------------------------------------------------------- model panics

/// Runs `scenario` on a fresh thread (the LP 0 of its own machine) and returns what it sent
/// before ending, and the panic its end re-raised, if any.
fn on_own_machine<T: Send + 'static>(
    scenario: impl FnOnce(mpsc::Sender<T>) + Send + 'static,
) -> (Vec<T>, Option<String>) {
    let (send, receive) = mpsc::channel();
    let handle = thread::spawn(move || scenario(send));
    let mut sent = Vec::new();
    loop {
        match receive.recv_timeout(PATIENCE) {
            Ok(value) => sent.push(value),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("a thread stayed blocked"),
        }
    }
    let panic = handle.join().err().map(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "a non-string panic".into())
    });
    (sent, panic)
}

#[test]
fn an_lp_model_panic_releases_the_guest_waiting_on_that_lp() {
    let (sent, panic) = on_own_machine(|send: mpsc::Sender<(&'static str, Status)>| {
        let mut m = Machine::new();
        m.init_platform();
        let (_, tdvpr) = running_td(&mut m, 40, None);
        let vcpu = m.module.virtual_cpu(tdvpr);
        let guest_send = send.clone();
        let guest = thread::spawn(move || {
            let _vcpu = emu::install(vcpu);
            // Exits to the host, then waits for the next entry, which never comes from
            // the LP that panics.
            guest_send.send(("guest vmcall", vmcall(1))).unwrap();
            let mut regs = Regs::ZERO;
            guest_send
                .send(("guest later", tdcall(Leaf::TdgVpInfo, &mut regs)))
                .unwrap();
        });
        let (exit, _) = vp_enter(tdvpr);
        send.send(("enter", exit)).unwrap();
        m.module.inject_panic(Leaf::TdhVpRd);
        let mut regs = Regs {
            rcx: tdvpr.raw(),
            rdx: 0xA020_0000_0000_0000,
            ..Regs::ZERO
        };
        send.send(("panicking call", seamcall(Leaf::TdhVpRd, &mut regs)))
            .unwrap();
        guest.join().unwrap();
        // Another LP is not blocked either: the vCPU can no longer run.
        let module: SoftwareModule = m.module.clone();
        let other = thread::spawn(move || {
            let _lp1 = emu::install(module.logical_processor(1));
            vp_enter(tdvpr).0
        })
        .join()
        .unwrap();
        send.send(("other LP", other)).unwrap();
        // Dropping the machine re-raises the model's panic on this thread.
    });
    // The guest may be released before the panicking call returns: compare by label.
    let mut sent = sent;
    sent.sort();
    let mut expected = [
        ("enter", exit_77()),
        ("panicking call", Status::SEAMCALL_UD),
        ("guest vmcall", Status::TDCALL_UD),
        ("guest later", Status::TDCALL_UD),
        ("other LP", StatusCode::VcpuStateIncorrect.status()),
    ];
    expected.sort();
    assert_eq!(sent, expected);
    assert!(
        panic.as_deref().is_some_and(|p| p.contains("injected")),
        "{panic:?}"
    );
}

#[test]
fn a_vcpu_model_panic_releases_the_host_in_vp_enter() {
    let (sent, panic) = on_own_machine(|send: mpsc::Sender<(&'static str, Status)>| {
        let mut m = Machine::new();
        m.init_platform();
        let (_, tdvpr) = running_td(&mut m, 40, None);
        m.module.inject_panic(Leaf::TdgVpInfo);
        let vcpu = m.module.virtual_cpu(tdvpr);
        let (end, ended) = mpsc::channel::<()>();
        let guest_send = send.clone();
        let guest = thread::spawn(move || {
            let _vcpu = emu::install(vcpu);
            let mut regs = Regs::ZERO;
            guest_send
                .send(("guest", tdcall(Leaf::TdgVpInfo, &mut regs)))
                .unwrap();
            // The guest program goes on (its VirtualCpu stays installed) until told.
            let _ = ended.recv_timeout(PATIENCE);
        });
        let (exit, _) = vp_enter(tdvpr);
        send.send(("enter", exit)).unwrap();
        drop(end);
        let guest_panic = guest.join().err().and_then(|p| p.downcast::<String>().ok());
        assert!(guest_panic.is_some_and(|p| p.contains("injected")));
    });
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent.contains(&("guest", Status::TDCALL_UD)), "{sent:?}");
    assert!(sent.contains(&("enter", triple_fault())), "{sent:?}");
    assert_eq!(panic, None);
}
