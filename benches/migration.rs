//! Migration against the software module, through the trapped path (the real thunk, #UD,
//! the crate's handler, the model):
//!
//! - `export_mem/pages`: TDH.EXPORT.MEM of 8 pages per call (re-export: UNBLOCKW and
//!   BLOCKW between calls, not timed); criterion reports pages per second;
//! - `preserve/<leaf>/<mode>`: one AES-GCM leaf (TDH.EXPORT.TRACK, TDH.EXPORT.MEM of one
//!   page) with `Preserve::skip()`, `Preserve::on_stack()` and `Preserve::in_area()`: the
//!   cost of keeping the caller's vector state against the leaf's own emulated cost.
//!
//! Every timed call runs on machine A's host thread (its LP), in one job per sample.
//!
//! `cargo bench -p tdxcall-benches --bench migration`

#[path = "../examples/migrate.rs"]
#[allow(unused)]
mod migrate;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use migrate::{entry, Setup, StateKind, DATA_GPA, DATA_PAGES};
use std::time::{Duration, Instant};
use tdxcall::abi::mig::{GpaListInfo, GpaListOp, Mbmd, MigCommand, MigStreamIndex};
use tdxcall::abi::{GuestPhysAddr, PageLevel};
use tdxcall::host::export::MemBundle;
use tdxcall::xstate::{Preserve, VectorState, XsaveBuffer};

fn data_gpas() -> Vec<u64> {
    (0..DATA_PAGES).map(|i| DATA_GPA + 0x1000 * i).collect()
}

/// A live export session on machine A with every data page exported once.
fn session() -> Setup {
    let setup = Setup::new(None);
    setup
        .a
        .export_state(StateKind::Immutable, setup.source)
        .expect("EXPORT.STATE.IMMUTABLE");
    setup
        .a
        .blockw(setup.source.tdr, &data_gpas())
        .expect("BLOCKW");
    let list: Vec<_> = data_gpas()
        .into_iter()
        .map(|g| (g, GpaListOp::Migrate))
        .collect();
    setup
        .a
        .export_mem(setup.source.tdr, &list)
        .expect("EXPORT.MEM");
    setup
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Skip,
    OnStack,
    InArea,
}

/// Runs `iters` EXPORT.MEM calls of `pages` data pages on A's host thread; returns the time
/// spent in the calls only.
fn export_mem(setup: &Setup, pages: usize, mode: Mode, iters: u64) -> Duration {
    let (tdr, p) = (setup.source.tdr, setup.a.pages);
    let gpas: Vec<u64> = data_gpas().into_iter().take(pages).collect();
    let entries: Vec<u64> = gpas
        .iter()
        .map(|&g| entry(g, GpaListOp::Remigrate))
        .collect();
    let blockw: Vec<u64> = gpas.iter().map(|&g| entry(g, GpaListOp::Migrate)).collect();
    setup.a.run(move |host, module| {
        let list = GpaListInfo::new(p.gpa_list, 0, pages as u16 - 1).unwrap();
        let bundle = MemBundle {
            mbmd: Mbmd::new(p.mbmd, 128).unwrap(),
            buffer_list: p.buffer_list,
            mac_lists: p.mac_lists,
            stream: MigStreamIndex(0),
            command: MigCommand::New,
        };
        let state = VectorState::current();
        let mut area = vec![Line([0; 64]); state.area_bytes().div_ceil(64)];
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            for &g in &gpas {
                host.export_unblockw(GuestPhysAddr::new(g).unwrap(), PageLevel::Size4K, tdr)
                    .expect("UNBLOCKW");
            }
            module.write_u64s(p.gpa_list, &blockw).unwrap();
            // SAFETY: the machine's own list page.
            unsafe { host.export_blockw(list, tdr) }.expect("BLOCKW");
            module.write_u64s(p.gpa_list, &entries).unwrap();
            // SAFETY: the area is 64-byte aligned lines, initialized, of the size CPUID gives.
            let raw = unsafe {
                core::slice::from_raw_parts_mut(area.as_mut_ptr().cast::<u8>(), state.area_bytes())
            };
            let preserve = match mode {
                Mode::Skip => Preserve::skip(),
                Mode::OnStack => Preserve::on_stack().unwrap(),
                Mode::InArea => {
                    Preserve::in_area(state, XsaveBuffer::from_bytes(raw).unwrap()).unwrap()
                }
            };
            let start = Instant::now();
            // SAFETY: the machine's own migration pages.
            let done = unsafe { host.export_mem(list, tdr, &bundle, preserve) };
            total += start.elapsed();
            done.expect("EXPORT.MEM");
        }
        total
    })
}

/// Runs `iters` EXPORT.TRACK calls on A's host thread.
fn export_track(setup: &Setup, mode: Mode, iters: u64) -> Duration {
    let (tdr, p) = (setup.source.tdr, setup.a.pages);
    setup.a.run(move |host, _| {
        let mbmd = Mbmd::new(p.mbmd, 128).unwrap();
        let state = VectorState::current();
        let mut area = vec![Line([0; 64]); state.area_bytes().div_ceil(64)];
        let start = Instant::now();
        for _ in 0..iters {
            // SAFETY: as in `export_mem`.
            let raw = unsafe {
                core::slice::from_raw_parts_mut(area.as_mut_ptr().cast::<u8>(), state.area_bytes())
            };
            let preserve = match mode {
                Mode::Skip => Preserve::skip(),
                Mode::OnStack => Preserve::on_stack().unwrap(),
                Mode::InArea => {
                    Preserve::in_area(state, XsaveBuffer::from_bytes(raw).unwrap()).unwrap()
                }
            };
            // SAFETY: the machine's own MBMD page.
            unsafe { host.export_track(tdr, mbmd, MigCommand::New, preserve) }
                .expect("EXPORT.TRACK");
        }
        start.elapsed()
    })
}

/// A 64-byte aligned piece of an XSAVE area.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

fn benches(c: &mut Criterion) {
    let setup = session();
    let mut group = c.benchmark_group("export_mem");
    group.throughput(Throughput::Elements(DATA_PAGES));
    group.bench_function("pages", |b| {
        b.iter_custom(|iters| export_mem(&setup, DATA_PAGES as usize, Mode::OnStack, iters))
    });
    group.finish();

    let mut group = c.benchmark_group("preserve");
    for mode in [Mode::Skip, Mode::OnStack, Mode::InArea] {
        let name = format!("{mode:?}").to_lowercase();
        group.bench_function(format!("export_track/{name}"), |b| {
            b.iter_custom(|iters| export_track(&setup, mode, iters))
        });
        group.bench_function(format!("export_mem_1_page/{name}"), |b| {
            b.iter_custom(|iters| export_mem(&setup, 1, mode, iters))
        });
    }
    group.finish();
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(group);
