//! The user-space fault path: a TDCALL that faults (#UD here) and comes back through the
//! crate's SIGILL handler and exception table, against a bare signal round trip (a handler
//! that only moves RIP past the same 4-byte instruction), in the same run.
//!
//! `cargo bench --bench faults`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
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

fn faults(c: &mut Criterion) {
    let mut group = c.benchmark_group("user_fault");
    group.sample_size(20);

    // Bare round trip first: a temporary SIGILL handler, removed before the crate's is
    // installed, so each measurement sees only its own handler.
    // SAFETY: a zeroed sigaction is valid; the handler only edits the signal context.
    let previous = unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = bare_handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        let mut previous: libc::sigaction = core::mem::zeroed();
        assert_eq!(libc::sigaction(libc::SIGILL, &action, &mut previous), 0);
        previous
    };
    group.bench_function("bare_signal_round_trip", |b| {
        // SAFETY: the faulting instruction is skipped by `bare_handler`.
        b.iter(|| unsafe { bench_bare_tdcall(black_box(1)) })
    });
    // SAFETY: restores the disposition saved above.
    unsafe {
        assert_eq!(
            libc::sigaction(libc::SIGILL, &previous, core::ptr::null_mut()),
            0
        )
    };

    tdxcall::signal::install();
    let mut regs = Regs {
        rcx: 1,
        rdx: 2,
        ..Regs::ZERO
    };
    group.bench_function("crate_fixup_round_trip", |b| {
        // SAFETY: TDG.VP.INFO (leaf 1) only returns values in registers; here it faults and
        // the crate's handler turns the fault into a status.
        b.iter(|| unsafe { tdxcall::call::thunk::tdcall(black_box(1), black_box(&mut regs)) })
    });
    group.finish();
}

criterion_group!(benches, faults);
criterion_main!(benches);
