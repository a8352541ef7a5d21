//! Thunk overhead: the loopback expansions of the production macro (everything but the TDX
//! instruction) against a plain call/ret and a hand-minimal 13-register load/store thunk.
//!
//! `cargo bench --features loopback --bench thunks`

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tdxcall::call::loopback;
use tdxcall::Regs;

// The two baselines, written here and not in the crate: an empty function, and the least a
// thunk that passes 13 registers both ways must do (save the 5 callee-saved registers it
// loads, keep the struct pointer on the stack, 13 loads, 13 stores).
std::arch::global_asm!(
    ".text",
    ".globl bench_empty_call",
    ".globl bench_minimal_thunk",
    ".p2align 4",
    "bench_empty_call:",
    "    mov rax, rdi",
    "    ret",
    ".p2align 4",
    "bench_minimal_thunk:",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    push rsi",
    "    mov rax, rdi",
    "    mov rcx, [rsi + 0]",
    "    mov rdx, [rsi + 8]",
    "    mov r8, [rsi + 16]",
    "    mov r9, [rsi + 24]",
    "    mov r10, [rsi + 32]",
    "    mov r11, [rsi + 40]",
    "    mov r12, [rsi + 48]",
    "    mov r13, [rsi + 56]",
    "    mov r14, [rsi + 64]",
    "    mov r15, [rsi + 72]",
    "    mov rbx, [rsi + 80]",
    "    mov rdi, [rsi + 88]",
    "    mov rsi, [rsi + 96]",
    "    push rsi",
    "    mov rsi, [rsp + 8]",
    "    mov [rsi + 0], rcx",
    "    mov [rsi + 8], rdx",
    "    mov [rsi + 16], r8",
    "    mov [rsi + 24], r9",
    "    mov [rsi + 32], r10",
    "    mov [rsi + 40], r11",
    "    mov [rsi + 48], r12",
    "    mov [rsi + 56], r13",
    "    mov [rsi + 64], r14",
    "    mov [rsi + 72], r15",
    "    mov [rsi + 80], rbx",
    "    mov [rsi + 88], rdi",
    "    pop qword ptr [rsi + 96]",
    "    add rsp, 8",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    ret",
);

extern "C" {
    fn bench_empty_call(leaf: u64, regs: *mut Regs) -> u64;
    fn bench_minimal_thunk(leaf: u64, regs: *mut Regs) -> u64;
}

fn thunks(c: &mut Criterion) {
    let mut group = c.benchmark_group("thunk");
    let mut regs = Regs {
        rcx: 1,
        rdx: 2,
        r8: 3,
        rsi: 13,
        ..Regs::ZERO
    };
    group.bench_function("call_ret", |b| {
        // SAFETY: `bench_empty_call` reads nothing and only returns its first argument.
        b.iter(|| unsafe { bench_empty_call(black_box(7), black_box(&mut regs)) })
    });
    group.bench_function("minimal_13_register_reference", |b| {
        // SAFETY: the reference thunk reads and writes the 13 fields of `regs` and restores
        // every callee-saved register it uses.
        b.iter(|| unsafe { bench_minimal_thunk(black_box(7), black_box(&mut regs)) })
    });
    type Thunk = unsafe fn(u64, &mut Regs) -> tdxcall::Status;
    let variants: [(&str, Thunk); 4] = [
        ("loopback_seamcall", loopback::seamcall),
        ("loopback_seamcall_scrub", loopback::seamcall_scrub),
        ("loopback_tdcall", loopback::tdcall),
        ("loopback_tdvmcall", loopback::tdvmcall),
    ];
    for (name, thunk) in variants {
        group.bench_function(name, |b| {
            // SAFETY: loopback thunks execute no TDX instruction.
            b.iter(|| unsafe { thunk(black_box(7), black_box(&mut regs)) })
        });
    }
    group.finish();
}

criterion_group!(benches, thunks);
criterion_main!(benches);
