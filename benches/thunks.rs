//! Thunk overhead: the loopback expansions of the production macro (everything but the TDX
//! instruction) against a plain call/ret and, per register set, a hand-minimal thunk that
//! moves the same registers and owes its caller the same: 13 registers with the RBP save for
//! the plain full variants (and a 13-register thunk without it, for comparison), the same
//! plus the clearing of the scratch registers for the two that scrub, RCX, RDX, R8-R11 for
//! the ARGS ones (for SEAMCALL with the VMfailInvalid test), RCX and R10-R15 for the GHCI
//! one. Every reference executes the same 4-byte
//! no-op where the instruction would be, as the loopback thunks do.
//!
//! After criterion, the binary prints an interleaved figure: batches of each subject timed
//! in turn (the order rotating every round), and per loopback variant the median over rounds
//! of its time divided by its reference's in the same round, so that load from other
//! processes hits every subject alike. Every subject is called through the same loop, one
//! indirect call per call, on 16 register structs in turn (see `STRUCTS`), and starts a
//! 64-byte line. That measurement runs in several child processes (each with its own
//! address-space layout, which moves these few-nanosecond figures by up to 2x; see
//! `benches/lib.rs`), and the figure printed is a trimmed mean over them (the middle 80%),
//! with their range.
//! A control, a byte-for-byte copy of the ARGS reference at another address, shows how far
//! placement alone moves a figure of that size.
//!
//! `cargo bench -p tdxcall-benches --bench thunks` (target: every variant, full or narrow,
//! at most 1.05x the hand-minimal reference of its set).

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::Instant;
use tdxcall::Regs;
use tdxcall_benches::{in_processes, is_child, record, Records, PROCESSES};

// The baselines, written here and not in the crate: an empty function, and per register set
// the least a thunk that passes those registers both ways must do. 13 registers: save the 5
// callee-saved registers it loads, keep the struct pointer on the stack, 13 loads, 13
// stores. RCX, RDX, R8-R11: 6 loads and 6 stores through RSI, which the other side leaves
// alone (as Linux's __seamcall_ret / __tdcall_ret). RCX, R10-R15: save R12-R15, 7 loads,
// 7 stores, and the clearing of RCX, R10 and R11 that a TDVMCALL thunk owes its caller.
// 13 registers with RBP (the reference of the plain full variants `seamcall` and `tdcall`,
// since 2026-12-04): the 13-register reference plus the RBP save that every full thunk owes
// its caller (the module zeroes RBP on an asynchronous TD exit; a VMM may write an exposed
// RBP), which issue 17 says must stay.
// 13 registers, scrubbing (the reference of `seamcall_scrub` and `tdvmcall`, the thunks of
// TDH.VP.ENTER and of the full TDG.VP.VMCALL): the 13-register reference, plus the RBP save
// and the clearing of the 8 scratch registers the other side wrote, which those thunks owe
// their callers.
// Every reference executes, where the instruction would be, the same 4-byte no-op (NOPL
// 0(%rax)) that stands in for TDCALL in the loopback thunks (since 2026-12-04: before, the
// references had no instruction at all, a thunk that calls nothing). The loopback SEAMCALL
// stand-in is CLC plus a 3-byte NOP, and its thunks add the not-taken JC of the
// VMfailInvalid test; the SEAMCALL ARGS reference (since 2026-12-04) does the same, as any
// SEAMCALL thunk must (Linux's __seamcall_ret included), and is `seamcall_args`'s reference.
std::arch::global_asm!(
    ".text",
    ".globl bench_empty_call",
    ".globl bench_minimal_thunk",
    ".globl bench_minimal_args",
    ".globl bench_minimal_ghci",
    ".globl bench_minimal_scrub",
    ".globl bench_minimal_rbp",
    ".globl bench_minimal_args_copy",
    ".globl bench_minimal_args_seamcall",
    ".p2align 6",
    "bench_minimal_args:",
    "    mov rax, rdi",
    "    mov rcx, [rsi + 0]",
    "    mov rdx, [rsi + 8]",
    "    mov r8, [rsi + 16]",
    "    mov r9, [rsi + 24]",
    "    mov r10, [rsi + 32]",
    "    mov r11, [rsi + 40]",
    "    .byte 0x0f, 0x1f, 0x40, 0x00",
    "    mov [rsi + 0], rcx",
    "    mov [rsi + 8], rdx",
    "    mov [rsi + 16], r8",
    "    mov [rsi + 24], r9",
    "    mov [rsi + 32], r10",
    "    mov [rsi + 40], r11",
    "    ret",
    ".p2align 6",
    "bench_minimal_args_seamcall:",
    "    mov rax, rdi",
    "    mov rcx, [rsi + 0]",
    "    mov rdx, [rsi + 8]",
    "    mov r8, [rsi + 16]",
    "    mov r9, [rsi + 24]",
    "    mov r10, [rsi + 32]",
    "    mov r11, [rsi + 40]",
    // SEAMCALL's stand-in as in the loopback thunks (CLC, 3-byte NOP), and the
    // VMfailInvalid test every SEAMCALL thunk needs (CF=1: RAX still holds the leaf).
    "    .byte 0xf8, 0x0f, 0x1f, 0x00",
    "    jc 2f",
    "1:",
    "    mov [rsi + 0], rcx",
    "    mov [rsi + 8], rdx",
    "    mov [rsi + 16], r8",
    "    mov [rsi + 24], r9",
    "    mov [rsi + 32], r10",
    "    mov [rsi + 40], r11",
    "    ret",
    "2:",
    "    movabs rax, 0x8000FF00FFFF0000",
    "    jmp 1b",
    ".p2align 6",
    "bench_minimal_args_copy:",
    "    mov rax, rdi",
    "    mov rcx, [rsi + 0]",
    "    mov rdx, [rsi + 8]",
    "    mov r8, [rsi + 16]",
    "    mov r9, [rsi + 24]",
    "    mov r10, [rsi + 32]",
    "    mov r11, [rsi + 40]",
    "    .byte 0x0f, 0x1f, 0x40, 0x00",
    "    mov [rsi + 0], rcx",
    "    mov [rsi + 8], rdx",
    "    mov [rsi + 16], r8",
    "    mov [rsi + 24], r9",
    "    mov [rsi + 32], r10",
    "    mov [rsi + 40], r11",
    "    ret",
    ".p2align 6",
    "bench_minimal_ghci:",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    mov rax, rdi",
    "    mov rcx, [rsi + 0]",
    "    mov r10, [rsi + 32]",
    "    mov r11, [rsi + 40]",
    "    mov r12, [rsi + 48]",
    "    mov r13, [rsi + 56]",
    "    mov r14, [rsi + 64]",
    "    mov r15, [rsi + 72]",
    "    .byte 0x0f, 0x1f, 0x40, 0x00",
    "    mov [rsi + 0], rcx",
    "    mov [rsi + 32], r10",
    "    mov [rsi + 40], r11",
    "    mov [rsi + 48], r12",
    "    mov [rsi + 56], r13",
    "    mov [rsi + 64], r14",
    "    mov [rsi + 72], r15",
    // A TDVMCALL thunk must clear what the VMM could have written and System V lets the
    // caller see: RCX, R10, R11 (R12-R15 come back from the stack).
    "    xor ecx, ecx",
    "    xor r10d, r10d",
    "    xor r11d, r11d",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    ret",
    ".p2align 6",
    "bench_empty_call:",
    "    mov rax, rdi",
    "    ret",
    ".p2align 6",
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
    "    .byte 0x0f, 0x1f, 0x40, 0x00",
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
    ".p2align 6",
    "bench_minimal_rbp:",
    "    push rbp",
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
    "    .byte 0x0f, 0x1f, 0x40, 0x00",
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
    "    pop rbp",
    "    ret",
    ".p2align 6",
    "bench_minimal_scrub:",
    "    push rbp",
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
    "    .byte 0x0f, 0x1f, 0x40, 0x00",
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
    // What a TD-exit or TDVMCALL thunk owes its caller on top: the other side's values
    // are in the struct; clear the scratch registers it wrote (RCX, RDX, RSI, RDI, R8-R11).
    "    xor ecx, ecx",
    "    xor edx, edx",
    "    xor esi, esi",
    "    xor edi, edi",
    "    xor r8d, r8d",
    "    xor r9d, r9d",
    "    xor r10d, r10d",
    "    xor r11d, r11d",
    "    pop rbx",
    "    pop rbp",
    "    ret",
);

extern "C" {
    fn bench_empty_call(leaf: u64, regs: *mut Regs) -> u64;
    fn bench_minimal_thunk(leaf: u64, regs: *mut Regs) -> u64;
    fn bench_minimal_args(leaf: u64, regs: *mut Regs) -> u64;
    fn bench_minimal_ghci(leaf: u64, regs: *mut Regs) -> u64;
    fn bench_minimal_scrub(leaf: u64, regs: *mut Regs) -> u64;
    fn bench_minimal_rbp(leaf: u64, regs: *mut Regs) -> u64;
    fn bench_minimal_args_copy(leaf: u64, regs: *mut Regs) -> u64;
    fn bench_minimal_args_seamcall(leaf: u64, regs: *mut Regs) -> u64;

    // The loopback thunks themselves (hidden, but resolvable within this link): the bench
    // calls them exactly as it calls the references, with nothing compiled by rustc in
    // between (`call::loopback::*` adds a Rust function around each, which LLVM may or may
    // not inline through the function-pointer table below, and that would be measured).
    fn tdxcall_loopback_seamcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_seamcall_args(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_seamcall_scrub(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_tdcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_tdcall_args(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_tdvmcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_loopback_tdvmcall_ghci(leaf: u64, regs: *mut Regs) -> u64;
}

type Thunk = unsafe extern "C" fn(u64, *mut Regs) -> u64;
type Reference = Thunk;

/// The hand-minimal references, one per register set, in the order `VARIANTS` indexes them.
const REFERENCES: [(&str, Reference); 6] = [
    ("minimal_13_register_reference", bench_minimal_thunk),
    ("minimal_args_reference", bench_minimal_args),
    ("minimal_ghci_reference", bench_minimal_ghci),
    ("minimal_13_register_scrub_reference", bench_minimal_scrub),
    ("minimal_13_register_rbp_reference", bench_minimal_rbp),
    (
        "minimal_args_seamcall_reference",
        bench_minimal_args_seamcall,
    ),
];

/// Every loopback variant, with the index of its reference in `REFERENCES`.
///
/// The last entry is a control, not a variant: a byte-for-byte copy of the ARGS reference at
/// another address (64-byte aligned, as every subject). Identical code, so its ratio shows
/// how far placement alone moves a figure of this size on the machine measured.
const VARIANTS: [(&str, Thunk, usize); 8] = [
    ("loopback_seamcall", tdxcall_loopback_seamcall, 4),
    ("loopback_seamcall_args", tdxcall_loopback_seamcall_args, 5),
    (
        "loopback_seamcall_scrub",
        tdxcall_loopback_seamcall_scrub,
        3,
    ),
    ("loopback_tdcall", tdxcall_loopback_tdcall, 4),
    ("loopback_tdcall_args", tdxcall_loopback_tdcall_args, 1),
    ("loopback_tdvmcall", tdxcall_loopback_tdvmcall, 3),
    ("loopback_tdvmcall_ghci", tdxcall_loopback_tdvmcall_ghci, 2),
    ("control_args_reference_copy", bench_minimal_args_copy, 1),
];

/// The target of the issue: each variant at most this many times its reference.
const TARGET_RATIO: f64 = 1.05;

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
    for (name, reference) in REFERENCES {
        group.bench_function(name, |b| {
            // SAFETY: a reference thunk reads and writes fields of `regs` only and restores
            // every callee-saved register it uses.
            b.iter(|| unsafe { reference(black_box(7), black_box(&mut regs)) })
        });
    }
    for (name, thunk, _) in VARIANTS {
        group.bench_function(name, |b| {
            // SAFETY: loopback thunks execute no TDX instruction.
            b.iter(|| unsafe { thunk(black_box(7), black_box(&mut regs)) })
        });
    }
    group.finish();
}

/// How many register structs the interleaved figure's calls take in turn.
///
/// With one struct, each call loaded what the previous call had just stored to the same
/// addresses: the batch became one chain through store-to-load forwarding, whose latency on
/// the measured CPU changed with the layout (per-call times of 3.0, 4.0 or 5.0 ns for the
/// same ARGS thunk from one process to the next, 2026-12-04). A thunk's caller builds its
/// struct from its arguments, not from the previous call's outputs; taking 16 structs in
/// turn puts 16 calls between a store and the load that reads it back, off the critical
/// path, at the cost of one index per call on every side alike.
const STRUCTS: usize = 16;

/// Nanoseconds per call of `batch` calls of `thunk`, call `i` on struct `i % STRUCTS`.
/// Every subject is called through this one loop and one indirect call (until 2026-12-04,
/// two: a boxed closure, then the function pointer it held).
fn time_batch(thunk: Thunk, regs: &mut [Regs; STRUCTS], batch: u32) -> f64 {
    let start = Instant::now();
    for call in 0..batch as usize {
        // SAFETY: every subject is a reference thunk (it moves registers through the
        // struct and restores what it saves) or a loopback thunk (no TDX instruction).
        black_box(unsafe { thunk(7, black_box(&mut regs[call % STRUCTS])) });
    }
    start.elapsed().as_secs_f64() * 1e9 / batch as f64
}

/// The interleaved figure; see the module docs.
fn interleaved(rounds: usize, batch: u32) {
    let subjects: Vec<(&str, Thunk)> = REFERENCES
        .iter()
        .copied()
        .chain(VARIANTS.iter().map(|&(name, thunk, _)| (name, thunk)))
        .collect();
    let mut regs = [Regs::ZERO; STRUCTS];
    let mut times = vec![Vec::with_capacity(rounds); subjects.len()];
    for round in 0..rounds {
        for turn in 0..subjects.len() {
            let index = (round + turn) % subjects.len();
            times[index].push(time_batch(subjects[index].1, &mut regs, batch));
        }
    }
    let median = |mut values: Vec<f64>| {
        values.sort_unstable_by(f64::total_cmp);
        values[values.len() / 2]
    };
    for (index, (name, _)) in REFERENCES.iter().enumerate() {
        record(name, &[median(times[index].clone())]);
    }
    for (offset, (name, _, reference)) in VARIANTS.iter().enumerate() {
        let index = REFERENCES.len() + offset;
        let ratio_to = |reference: usize| {
            median(
                times[index]
                    .iter()
                    .zip(&times[reference])
                    .map(|(time, reference)| time / reference)
                    .collect(),
            )
        };
        // The full variants, also against the plain 13-register reference (their
        // reference before 2026-12-04), for comparison with earlier runs.
        record(
            name,
            &[
                median(times[index].clone()),
                ratio_to(*reference),
                ratio_to(0),
            ],
        );
    }
}

/// Prints, per subject, the trimmed mean over the child processes of its figures, and for each
/// variant the range of its ratio over them.
fn report(records: &Records, rounds: usize, batch: u32) {
    let processes = records.processes;
    for (name, _) in REFERENCES {
        let (time, low, high) = records.summary(name, 0);
        println!("thunk/interleaved {name:<30} {time:6.2} ns (processes {low:.2}..{high:.2})");
    }
    for (name, _, reference) in VARIANTS {
        let (time, _, _) = records.summary(name, 0);
        let (ratio, low, high) = records.summary(name, 1);
        let plain = if reference == 3 || reference == 4 {
            let (plain, _, _) = records.summary(name, 2);
            format!(" (to {}: {plain:.3})", REFERENCES[0].0)
        } else {
            String::new()
        };
        println!(
            "thunk/interleaved {name:<30} {time:6.2} ns, ratio to {} {ratio:.3} (target <= \
             {TARGET_RATIO}: {}; processes {low:.3}..{high:.3}){plain} (trimmed mean over \
             {processes} processes of the median of {rounds} rounds of {batch} calls)",
            REFERENCES[reference].0,
            if name.starts_with("control") {
                "control: identical code, no target"
            } else if ratio <= TARGET_RATIO {
                "met"
            } else {
                "NOT met"
            },
        );
    }
}

criterion_group!(benches, thunks);

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let (rounds, batch, processes) = if test_mode {
        (4, 10, 2)
    } else {
        (1_000, 300, PROCESSES)
    };
    if is_child() {
        interleaved(rounds, batch);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if test_mode {
        println!("(--test: a handful of rounds in 2 processes; the figures below mean nothing)");
    }
    report(&in_processes(processes), rounds, batch);
}
