//! The `no_std` cycle-count harness (`tdxcall::bench`) at CPL 0: times each thunk's real
//! instruction (which raises #UD here, so the sample is the fault, the IDT round trip and the
//! crate's fixup) against the loopback expansion of the same thunk, in one run, as a kernel
//! on TDX hardware would time a real leaf. The figures are printed, never asserted: they
//! depend on the host and QEMU. The check asserts what must hold whatever the timing: every
//! call came back with its software status, and the order statistics are ordered.

use tdxcall::bench::{compare, Summary};
use tdxcall::call::{CallKind, Native};
use tdxcall::status::Status;
use tdxcall::Regs;

use super::{Check, Failed};

/// The section's checks.
pub const CHECKS: &[Check] = &[Check {
    name: "bench_harness",
    run: bench_harness,
}];

const WARM_UP: usize = 64;
const SAMPLES: usize = 512;

fn ordered(summary: &Summary) -> bool {
    summary.samples == SAMPLES
        && summary.min <= summary.median
        && summary.median <= summary.p99
        && summary.p99 <= summary.max
}

fn bench_harness() -> Result<(), Failed> {
    let kinds = [
        (CallKind::Seamcall, "seamcall", Status::SEAMCALL_UD),
        (
            CallKind::SeamcallScrub,
            "seamcall_scrub",
            Status::SEAMCALL_UD,
        ),
        (CallKind::Tdcall, "tdcall", Status::TDCALL_UD),
        (CallKind::Tdvmcall, "tdvmcall", Status::TDCALL_UD),
    ];
    let inputs = Regs {
        rcx: 1,
        rdx: 2,
        ..Regs::ZERO
    };
    let mut samples = [0u64; SAMPLES];
    let mut native = Native::new();
    for (kind, name, expected) in kinds {
        // SAFETY: leaf 1 with these inputs; on this CPU the instruction raises #UD and the
        // image's handler routes it to the crate's fixup, so nothing runs on another side.
        let comparison = unsafe { compare(&mut native, kind, 1, &inputs, WARM_UP, &mut samples) };
        ensure!(
            comparison.status == expected,
            "{name}: status {} (expected {expected})",
            comparison.status
        );
        ensure!(
            ordered(&comparison.call) && ordered(&comparison.loopback),
            "{name}: order statistics out of order"
        );
        crate::println!(
            "    bench {name}: call min/median/p99 {}/{}/{} ticks, loopback {}/{}/{}, net median {}",
            comparison.call.min,
            comparison.call.median,
            comparison.call.p99,
            comparison.loopback.min,
            comparison.loopback.median,
            comparison.loopback.p99,
            comparison.net_median()
        );
    }
    Ok(())
}
