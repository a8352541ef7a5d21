//! Cost of an emulated call against the signal round trip it is built on.
//!
//! - `bare_signal_round_trip`: the TDCALL thunk with a test-only SIGILL handler that only
//!   moves RIP past the instruction (the floor: #UD, kernel signal delivery, `sigreturn`);
//! - `emulated_round_trip`: the same thunk answered by a model (`FaultInjector` returning
//!   success) through the crate's handler: site lookup, register file, extended-state view,
//!   stack switch, signal-mask and alternate-stack bookkeeping, the model, write-back;
//! - `fixup_round_trip`: the crate's handler with no model installed (the #UD fixup path).
//!
//! After criterion, the binary prints a paired figure: bare and emulated single calls
//! interleaved one to one (the SIGILL handler swapped between them) and compared by their
//! medians, so that load from other processes, which drifts over the seconds between two
//! criterion benchmarks, hits both sides alike.
//!
//! `cargo bench -p tdxcall-benches --bench emulator` (target: emulated at most 1.2x bare).

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tdxcall::call::thunk;
use tdxcall::emu::{self, Answer, FaultInjector};
use tdxcall::{Regs, Status};

const LEAF: u64 = 1;

/// The baseline handler: skip the 4-byte instruction, nothing else.
extern "C" fn skip_instruction(
    _signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes the interrupted context to an SA_SIGINFO handler; only RIP
    // in its register array is touched.
    unsafe {
        let gregs = &mut (*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs;
        gregs[libc::REG_RIP as usize] += 4;
    }
}

/// Replaces the SIGILL disposition with `action` (same flags as the crate's handler) and
/// returns the previous one.
fn set_sigill(handler: usize) -> libc::sigaction {
    // SAFETY: a zeroed sigaction is valid; both pointers are to locals.
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = core::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGILL, &action, &mut previous), 0);
        previous
    }
}

fn restore_sigill(previous: &libc::sigaction) {
    // SAFETY: `previous` is a disposition `sigaction` returned.
    assert_eq!(
        unsafe { libc::sigaction(libc::SIGILL, previous, core::ptr::null_mut()) },
        0
    );
}

fn tdcall(regs: &mut Regs) -> Status {
    // SAFETY: on this machine TDCALL traps; a handler (the model's or the baseline's)
    // answers and no TDX module is reached.
    unsafe { thunk::tdcall(black_box(LEAF), black_box(regs)) }
}

fn emulator(c: &mut Criterion) {
    let mut group = c.benchmark_group("emulator");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.sample_size(40);
    let mut regs = Regs {
        rcx: 1,
        rdx: 2,
        r8: 3,
        rsi: 13,
        ..Regs::ZERO
    };

    tdxcall::signal::install();
    assert_eq!(
        tdcall(&mut regs),
        Status::TDCALL_UD,
        "no model: the fixup path"
    );
    group.bench_function("fixup_round_trip", |b| b.iter(|| tdcall(&mut regs)));

    let mut installed = emu::install(FaultInjector::new(Answer::Status(Status::SUCCESS)));
    assert_eq!(tdcall(&mut regs), Status::SUCCESS, "the model answers");
    group.bench_function("emulated_round_trip", |b| b.iter(|| tdcall(&mut regs)));
    assert!(installed.with(|injector| injector.calls()) > 1);
    drop(installed);

    let crate_handler = set_sigill(skip_instruction as *const () as usize);
    assert_eq!(
        tdcall(&mut regs),
        Status::from_raw(LEAF),
        "the bare handler skips only"
    );
    group.bench_function("bare_signal_round_trip", |b| b.iter(|| tdcall(&mut regs)));
    restore_sigill(&crate_handler);
    group.finish();
}

/// Median of single-call times, bare and emulated interleaved; see the module docs.
fn paired(rounds: usize) -> (Duration, Duration) {
    let mut regs = Regs::ZERO;
    let installed = emu::install(FaultInjector::new(Answer::Status(Status::SUCCESS)));
    let crate_handler = set_sigill(skip_instruction as *const () as usize);
    let (mut bare, mut emulated) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let start = Instant::now();
        black_box(tdcall(&mut regs));
        bare.push(start.elapsed());
        restore_sigill(&crate_handler);
        let start = Instant::now();
        black_box(tdcall(&mut regs));
        emulated.push(start.elapsed());
        set_sigill(skip_instruction as *const () as usize);
    }
    restore_sigill(&crate_handler);
    assert_eq!(installed.into_inner().calls(), rounds as u64);
    let median = |samples: &mut Vec<Duration>| {
        samples.sort_unstable();
        samples[samples.len() / 2]
    };
    (median(&mut bare), median(&mut emulated))
}

criterion_group!(benches, emulator);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let rounds = if test_mode { 50 } else { 20_000 };
    let (bare, emulated) = paired(rounds);
    println!(
        "emulator/paired ({rounds} interleaved single calls, medians): bare {bare:.2?}, \
         emulated {emulated:.2?}, ratio {:.3}",
        emulated.as_secs_f64() / bare.as_secs_f64()
    );
}
