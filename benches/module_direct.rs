//! The software module's direct backend against its trapped path, side by side, same leaf,
//! same module, same typed wrapper:
//!
//! - `host_sys_rd/{trapped,direct}`: `Host::sys_rd` of MAJOR_VERSION on logical processor 0
//!   (the trapped side: the SEAMCALL thunk, #UD, SIGILL, the crate's handler, the model;
//!   the direct side: `module.direct_host(0)`, the model called in-process);
//! - `guest_vm_rd/{trapped,direct}`: `Guest::vm_rd` of the TD's ATTRIBUTES on a vCPU that
//!   another thread keeps entered with TDH.VP.ENTER.
//!
//! After criterion the binary prints paired figures: batches of calls through the two paths
//! interleaved one to one, compared by their medians, so that load drifting over the seconds
//! between two criterion benchmarks hits both sides alike.
//!
//! `cargo bench -p tdxcall-benches --bench module_direct` (target: direct at least
//! 50x the trapped path's calls per second).

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tdxcall::abi::{FieldId, TdvprPage};
use tdxcall::emu;
use tdxcall::guest::Guest;
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::host::Host;
use tdxcall::module::SoftwareModule;
use tdxcall::status::StatusCode;
use tdxcall::Regs;

#[path = "../tests/module_common/mod.rs"]
mod module_common;

use module_common::{Machine, Via};

/// TDH.SYS.RD field: MAJOR_VERSION.
const MAJOR_VERSION: u64 = 0x0800_0001_0000_0003;
/// TDG.VM.RD field: ATTRIBUTES.
const ATTRIBUTES: u64 = 0x1110_0003_0000_0000;

/// A ready platform and a finalized TD whose vCPU a background thread keeps entered (the
/// thread returns when the vCPU's guests are gone).
fn running_td() -> (SoftwareModule, TdvprPage, std::thread::JoinHandle<()>) {
    let mut m = Machine::with(Via::Direct);
    let (tdr, tdvpr, _) = m.built_td(40);
    m.host.mr_finalize(tdr).expect("MR.FINALIZE");
    let module = m.module.clone();
    drop(m);
    let lp = module.clone();
    let vmm = std::thread::spawn(move || {
        let mut host = Host::new(lp.direct_host(0)); // the LP the vCPU is associated with
        let mut regs = Regs::ZERO;
        // SAFETY: the model answers. Returns once the guest backends are dropped
        // (TDX_NON_RECOVERABLE_VCPU); the bench's guests make no TDVMCALL.
        let exit = unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), &mut regs) };
        let gone = StatusCode::NonRecoverableVcpu.with_details(2);
        if !matches!(&exit, Ok(TdExit::Async(exit)) if exit.status == gone) {
            // The guests would wait for an entry forever: stop here instead.
            eprintln!("module_direct: TDH.VP.ENTER returned {exit:?}");
            std::process::abort();
        }
    });
    (module, tdvpr, vmm)
}

/// Median nanoseconds per call of `a` and `b`, batches of `batch` calls interleaved.
fn paired(samples: usize, batch: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let mut times = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    for _ in 0..samples {
        let start = Instant::now();
        for _ in 0..batch {
            a();
        }
        times
            .0
            .push(start.elapsed().as_nanos() as f64 / batch as f64);
        let start = Instant::now();
        for _ in 0..batch {
            b();
        }
        times
            .1
            .push(start.elapsed().as_nanos() as f64 / batch as f64);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    (median(&mut times.0), median(&mut times.1))
}

fn report(name: &str, (trapped, direct): (f64, f64)) {
    println!(
        "paired {name}: trapped {trapped:.0} ns/call, direct {direct:.0} ns/call: direct makes \
         {:.1}x the trapped path's calls per second (target >= 50x)",
        trapped / direct
    );
}

fn quick() -> bool {
    std::env::args().any(|arg| arg == "--test")
}

fn module_direct(c: &mut Criterion) {
    let mut group = c.benchmark_group("module_direct");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(30);
    let (samples, batch) = if quick() { (3, 4) } else { (301, 32) };

    // ---- Host: TDH.SYS.RD on LP 0 of a ready platform.
    let field = FieldId::from_raw(MAJOR_VERSION);
    let mut m = Machine::with(Via::Direct);
    m.init_platform();
    let mut direct = Host::new(m.module.direct_host(0));
    let lp0 = emu::install(m.module.logical_processor(0));
    let mut trapped = Host::native();
    assert_eq!(trapped.sys_rd(field), direct.sys_rd(field));
    assert!(direct.sys_rd(field).is_ok());
    group.bench_function("host_sys_rd/trapped", |b| {
        b.iter(|| trapped.sys_rd(black_box(field)))
    });
    group.bench_function("host_sys_rd/direct", |b| {
        b.iter(|| direct.sys_rd(black_box(field)))
    });
    let host_pair = paired(
        samples,
        batch,
        || {
            let _ = black_box(trapped.sys_rd(black_box(field)));
        },
        || {
            let _ = black_box(direct.sys_rd(black_box(field)));
        },
    );
    drop(lp0);

    // ---- Guest: TDG.VM.RD on an entered vCPU.
    let (module, tdvpr, vmm) = running_td();
    let attributes = FieldId::from_raw(ATTRIBUTES);
    let mut direct = Guest::new(module.direct_guest(tdvpr));
    let vcpu = emu::install(module.virtual_cpu(tdvpr));
    let mut trapped = Guest::native();
    assert_eq!(trapped.vm_rd(attributes), direct.vm_rd(attributes));
    assert!(direct.vm_rd(attributes).is_ok());
    group.bench_function("guest_vm_rd/trapped", |b| {
        b.iter(|| trapped.vm_rd(black_box(attributes)))
    });
    group.bench_function("guest_vm_rd/direct", |b| {
        b.iter(|| direct.vm_rd(black_box(attributes)))
    });
    let guest_pair = paired(
        samples,
        batch,
        || {
            let _ = black_box(trapped.vm_rd(black_box(attributes)));
        },
        || {
            let _ = black_box(direct.vm_rd(black_box(attributes)));
        },
    );
    group.finish();
    // The vCPU's guests leave: the VMM's TDH.VP.ENTER returns.
    drop(vcpu);
    drop(direct);
    vmm.join().expect("VMM thread");

    report("TDH.SYS.RD", host_pair);
    report("TDG.VM.RD", guest_pair);
}

criterion_group!(benches, module_direct);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
