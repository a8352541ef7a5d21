//! CPUID virtualization from data (`tdxcall::cpuid`): what answering a guest CPUID costs.
//!
//! - `guest_view/leaf_7_0`: one leaf from a TD's state after TDH.MNG.INIT (lookup, the
//!   #VE-reduction bits, the dynamic mask), 2.0.18 with REDUCE_VE set;
//! - `guest_view/not_in_table`: a leaf outside the table (the whole lookup is scanned);
//! - `classify/bit`: one bit's class;
//! - `mng_init/2.0.18`: TDH.MNG.INIT's whole CPUID composition (79 entries) over the
//!   synthetic platform.
//!
//! The second figure, a trapped guest `cpuid` instruction against a bare SIGSEGV
//! round trip, needs the CPUID-faulting path, which is not built yet.
//!
//! `cargo bench --bench cpuid`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tdxcall::abi::td_params::TdParams;
use tdxcall::abi::Xfam;
use tdxcall::cpuid::{self, GuestControls, GuestCpuid, Platform, Reg, TdCtls, SYNTHETIC_PLATFORM};

fn cpuid_bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("cpuid");
    let table = cpuid::table(cpuid::V2_0_18).expect("modelled");
    let params = TdParams {
        xfam: Xfam::from_bits_retain(0xE7),
        tsc_frequency: 100,
        ..TdParams::default()
    };
    let td = cpuid::mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &params)
        .expect("MNG.INIT");
    let controls = GuestControls {
        td_ctls: TdCtls::REDUCE_VE,
        ..GuestControls::default()
    };
    assert!(matches!(
        td.guest_view(7, 0, &controls),
        GuestCpuid::Value { .. }
    ));
    group.bench_function("guest_view/leaf_7_0", |b| {
        b.iter(|| td.guest_view(black_box(7), black_box(0), black_box(&controls)))
    });
    group.bench_function("guest_view/not_in_table", |b| {
        b.iter(|| td.guest_view(black_box(0x18), black_box(20), black_box(&controls)))
    });
    group.bench_function("classify/bit", |b| {
        b.iter(|| cpuid::classify(table, black_box(7), black_box(0), Reg::Ebx, black_box(16)))
    });
    group.bench_function("mng_init/2.0.18", |b| {
        b.iter(|| {
            cpuid::mng_init(
                table,
                &SYNTHETIC_PLATFORM,
                &Platform::default(),
                black_box(&params),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, cpuid_bench);
criterion_main!(benches);
