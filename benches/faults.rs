//! The user-space fault path: a TDCALL that faults (#UD here) and comes back through the
//! crate's SIGILL handler and exception table, against a bare signal round trip (a handler
//! that only moves RIP past the same 4-byte instruction), in the same run.
//!
//! After criterion, the binary prints a paired figure: single bare and crate round trips
//! interleaved one to one (the SIGILL disposition swapped between them, untimed) and compared
//! by their medians, so that load from other processes hits both sides alike.
//!
//! `cargo bench -p tdxcall-benches --bench faults` (target: the crate's round trip at most 1.05x the bare one).

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tdxcall::Regs;

// The baseline's faulting instruction: the same TDCALL bytes as the crate's thunk, in a
// function of its own so the bare handler can recognise it.
std::arch::global_asm!(
    ".globl bench_bare_tdcall",
    ".globl bench_bare_tdcall_site",
    ".p2align 4",
    "bench_bare_tdcall:",
    "    mov rax, rdi",
    "bench_bare_tdcall_site:",
    "    .byte 0x66, 0x0f, 0x01, 0xcc",
    "    ret",
);

extern "C" {
    fn bench_bare_tdcall(leaf: u64) -> u64;
    static bench_bare_tdcall_site: u8;
}

extern "C" fn bare_handler(
    _signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid ucontext to an SA_SIGINFO handler.
    let gregs = unsafe { &mut (*(context as *mut libc::ucontext_t)).uc_mcontext.gregs };
    let rip = gregs[libc::REG_RIP as usize] as u64;
    // Only the address of the linker-resolved label is taken.
    let site = core::ptr::addr_of!(bench_bare_tdcall_site) as u64;
    if rip == site {
        gregs[libc::REG_RIP as usize] += 4;
    } else {
        // Not our instruction: nothing sensible to do in a benchmark but stop.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(99) };
    }
}

/// Makes `bare_handler` the SIGILL handler; returns the previous disposition.
fn install_bare_handler() -> libc::sigaction {
    // SAFETY: a zeroed sigaction is valid; the handler only edits the signal context.
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = bare_handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
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

fn crate_round_trip(regs: &mut Regs) -> tdxcall::Status {
    // SAFETY: TDG.VP.INFO (leaf 1) only returns values in registers; here it faults and the
    // crate's handler turns the fault into a status.
    unsafe { tdxcall::call::thunk::tdcall(black_box(1), black_box(regs)) }
}

fn bare_round_trip() -> u64 {
    // SAFETY: the faulting instruction is skipped by `bare_handler`.
    unsafe { bench_bare_tdcall(black_box(1)) }
}

fn faults(c: &mut Criterion) {
    let mut group = c.benchmark_group("user_fault");
    group.sample_size(20);

    // Bare round trip first: a temporary SIGILL handler, removed before the crate's is
    // installed, so each measurement sees only its own handler.
    let previous = install_bare_handler();
    group.bench_function("bare_signal_round_trip", |b| b.iter(bare_round_trip));
    restore_sigill(&previous);

    tdxcall::signal::install();
    let mut regs = Regs {
        rcx: 1,
        rdx: 2,
        ..Regs::ZERO
    };
    assert_eq!(crate_round_trip(&mut regs), tdxcall::Status::TDCALL_UD);
    group.bench_function("crate_fixup_round_trip", |b| {
        b.iter(|| crate_round_trip(&mut regs))
    });
    group.finish();
}

/// Median single-call times, bare and crate interleaved; see the module docs. Needs the
/// crate's handler installed (criterion's part does that).
fn paired(rounds: usize) -> (Duration, Duration) {
    let mut regs = Regs::ZERO;
    tdxcall::signal::install();
    let (mut bare, mut fixup) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for _ in 0..rounds {
        let crate_handler = install_bare_handler();
        let start = Instant::now();
        black_box(bare_round_trip());
        bare.push(start.elapsed());
        restore_sigill(&crate_handler);
        let start = Instant::now();
        black_box(crate_round_trip(&mut regs));
        fixup.push(start.elapsed());
    }
    let median = |samples: &mut Vec<Duration>| {
        samples.sort_unstable();
        samples[samples.len() / 2]
    };
    (median(&mut bare), median(&mut fixup))
}

criterion_group!(benches, faults);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let rounds = if test_mode { 50 } else { 20_000 };
    let (bare, fixup) = paired(rounds);
    println!(
        "user_fault/paired ({rounds} interleaved single calls, medians): bare {bare:.2?}, \
         crate fixup {fixup:.2?}, ratio {:.3}",
        fixup.as_secs_f64() / bare.as_secs_f64()
    );
}
