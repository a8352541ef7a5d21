//! Trap-and-emulate: the real thunks, trapping on this machine, answered by models.
#![cfg(all(feature = "emulator", target_os = "linux", target_arch = "x86_64"))]

use std::arch::asm;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Barrier;
use tdxcall::call::{thunk, Backend, CallKind, Native};
use tdxcall::emu::{self, Answer, Call, FaultInjector, Outcome, Recorder, Registers, STATUS_FLAGS};
use tdxcall::fixup::SiteKind;
use tdxcall::{Regs, Status};

type RawThunk = unsafe extern "C" fn(u64, *mut Regs) -> u64;

// The assembly entry points themselves, so a test can call them with chosen RBP and RFLAGS.
extern "C" {
    fn tdxcall_seamcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_seamcall_scrub(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdvmcall(leaf: u64, regs: *mut Regs) -> u64;
}

const THUNKS: [(CallKind, RawThunk); 4] = [
    (CallKind::Seamcall, tdxcall_seamcall),
    (CallKind::SeamcallScrub, tdxcall_seamcall_scrub),
    (CallKind::Tdcall, tdxcall_tdcall),
    (CallKind::Tdvmcall, tdxcall_tdvmcall),
];

fn native_call(kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
    // SAFETY: on this machine every TDX instruction traps; a model or the fixup answers it.
    unsafe { Native::new().call(kind, leaf, regs) }
}

/// Distinct, recognizable values for every register of a call.
fn pattern(seed: u64) -> Regs {
    let value = |index: u64| seed << 32 | 0x1111_0000 | index;
    Regs {
        rcx: value(1),
        rdx: value(2),
        r8: value(8),
        r9: value(9),
        r10: value(10),
        r11: value(11),
        r12: value(12),
        r13: value(13),
        r14: value(14),
        r15: value(15),
        rbx: value(3),
        rdi: value(7),
        rsi: value(6),
    }
}

/// Calls `thunk` with RBP = `rbp` and RFLAGS = `rflags` at entry; returns RAX and the RBP
/// and RFLAGS the caller has after the thunk returns.
///
/// # Safety
///
/// `thunk` is one of the crate's thunks and its instruction is answered (a model or fixup).
unsafe fn call_with_rbp_and_flags(
    thunk: RawThunk,
    leaf: u64,
    regs: &mut Regs,
    rbp: u64,
    rflags: u64,
) -> (u64, u64, u64) {
    let (rax, rbp_after, rflags_after): (u64, u64, u64);
    // SAFETY: RBP is saved and restored around the call and the stack is balanced; the
    // stack is 16-byte aligned at `call` (aligned at entry without `nostack`, then three
    // 8-byte pushes and one pop). The thunk follows the System V ABI (clobber_abi).
    unsafe {
        asm!(
            "push rbp",
            "push {rflags}",
            "mov rbp, {rbp}",
            "popfq",
            "lea rsp, [rsp - 8]", // LEA, not SUB: the flags just set must reach the thunk
            "call {thunk}",
            "pushfq",
            "pop rdx",
            "mov rcx, rbp",
            "add rsp, 8",
            "pop rbp",
            thunk = in(reg) thunk,
            rbp = in(reg) rbp,
            rflags = in(reg) rflags,
            out("rdx") rflags_after,
            out("rcx") rbp_after,
            in("rdi") leaf,
            in("rsi") regs as *mut Regs,
            out("rax") rax,
            clobber_abi("C"),
        );
    }
    (rax, rbp_after, rflags_after)
}

const RFLAGS_RESERVED_ONE: u64 = 1 << 1;
const CF: u64 = 1 << 0;
const PF: u64 = 1 << 2;
const AF: u64 = 1 << 4;
const ZF: u64 = 1 << 6;
const SF: u64 = 1 << 7;
const OF: u64 = 1 << 11;

#[test]
fn every_thunk_round_trips_every_register_through_a_model() {
    for (index, (kind, thunk)) in THUNKS.into_iter().enumerate() {
        let seed = index as u64 + 1;
        let leaf = 0x0002_0000_0000_0040 | seed;
        let input = pattern(seed);
        let rbp_in = 0x0BB0_0000_0000_0000 | seed;
        let rflags_in = RFLAGS_RESERVED_ONE | CF | PF | ZF | SF | OF;
        // Every output distinct from every input; CF clear so SEAMCALL reports success.
        let mut answer = Registers {
            rax: 0x0000_0C0B_0000_0000 | seed,
            rbp: 0x0EE0_0000_0000_0000 | seed,
            rflags: AF | PF | SF,
            ..Registers::default()
        };
        answer.set_regs(&pattern(seed + 0x100));
        let expected_regs = pattern(seed + 0x100);

        let installed = emu::install(Recorder::new(move |_call: &mut Call<'_>| {
            Outcome::Return(answer)
        }));
        let mut regs = input;
        // SAFETY: the instruction traps and the recorder answers.
        let (rax, rbp_after, rflags_after) =
            unsafe { call_with_rbp_and_flags(thunk, leaf, &mut regs, rbp_in, rflags_in) };
        let recorder = installed.into_inner();

        let [record] = recorder.records() else {
            panic!("{kind:?}: expected one call, got {:?}", recorder.records());
        };
        assert_eq!(record.kind, kind);
        assert_eq!(record.site.kind == SiteKind::Tdcall, kind.is_tdcall());
        assert_eq!(record.vector, 6, "#UD on this machine");
        let seen = record.registers;
        assert_eq!(seen.rax, leaf, "{kind:?}: RAX in");
        assert_eq!(seen.regs(), input, "{kind:?}: the 13 registers in");
        assert_eq!(seen.rbp, rbp_in, "{kind:?}: RBP in");
        assert_eq!(
            seen.rflags & STATUS_FLAGS,
            rflags_in & STATUS_FLAGS,
            "{kind:?}: RFLAGS in"
        );

        assert_eq!(rax, answer.rax, "{kind:?}: RAX out");
        assert_eq!(regs, expected_regs, "{kind:?}: the 13 registers out");
        assert_eq!(
            rbp_after, rbp_in,
            "{kind:?}: the thunk restores the caller's RBP"
        );
        if matches!(kind, CallKind::Seamcall | CallKind::Tdcall) {
            // Nothing after the instruction in these thunks touches the flags, so the
            // model's status flags reach the caller.
            assert_eq!(
                rflags_after & STATUS_FLAGS,
                answer.rflags,
                "{kind:?}: RFLAGS out"
            );
        }
    }
}

#[test]
fn without_a_model_the_fixup_path_answers_as_before() {
    for (kind, _) in THUNKS {
        assert!(!emu::is_installed());
        let mut regs = pattern(7);
        let status = native_call(kind, 5, &mut regs);
        assert_eq!(status, Status::for_fault(kind.is_tdcall(), 6), "{kind:?}");
        assert_eq!(regs, pattern(7), "{kind:?}: inputs written back unchanged");
    }
}

#[test]
fn answers_come_back_in_order_and_then_the_script_runs_out() {
    let outputs = pattern(0x55);
    let mut installed = emu::install(Recorder::scripted([
        Answer::Outputs {
            status: Status::from_raw(0x0000_0B0A_0000_0002),
            regs: outputs,
        },
        Answer::VmFailInvalid,
        Answer::Gp,
    ]));
    let mut regs = pattern(1);
    assert_eq!(
        native_call(CallKind::Seamcall, 9, &mut regs),
        Status::from_raw(0x0000_0B0A_0000_0002)
    );
    assert_eq!(regs, outputs);
    let mut regs = pattern(2);
    assert_eq!(
        native_call(CallKind::Seamcall, 9, &mut regs),
        Status::SEAMCALL_VMFAILINVALID
    );
    assert_eq!(regs, pattern(2), "VMfailInvalid changes no register");
    assert_eq!(
        native_call(CallKind::Tdcall, 9, &mut regs),
        Status::TDCALL_GP
    );
    // The fourth call finds the script empty: the model panics, the call gets #UD.
    assert_eq!(
        native_call(CallKind::Tdvmcall, 0, &mut regs),
        Status::TDCALL_UD
    );
    let message = installed
        .take_panic()
        .expect("the exhausted script panicked");
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        message.contains("script exhausted after 3 calls"),
        "{message}"
    );
    installed.with(|recorder| {
        let kinds: Vec<_> = recorder
            .records()
            .iter()
            .map(|record| record.kind)
            .collect();
        assert_eq!(
            kinds,
            [CallKind::Seamcall, CallKind::Seamcall, CallKind::Tdcall]
        );
    });
}

#[test]
fn vmfailinvalid_at_a_tdcall_site_is_delivered_as_ud() {
    let _installed = emu::install(FaultInjector::new(Answer::VmFailInvalid));
    let mut regs = Regs::ZERO;
    assert_eq!(
        native_call(CallKind::Tdcall, 1, &mut regs),
        Status::TDCALL_UD
    );
    assert_eq!(
        native_call(CallKind::SeamcallScrub, 2, &mut regs),
        Status::SEAMCALL_VMFAILINVALID
    );
}

#[test]
fn models_on_eight_threads_see_only_their_own_calls() {
    const THREADS: u64 = 8;
    const CALLS: u64 = 200;
    let barrier = Barrier::new(THREADS as usize);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let barrier = &barrier;
            scope.spawn(move || {
                let kind = THUNKS[thread as usize % THUNKS.len()].0;
                let mut installed = emu::install(Recorder::new(move |call: &mut Call<'_>| {
                    // Each thread's model answers with its own tag.
                    call.complete(Status::from_raw(thread << 16 | call.registers().rcx))
                }));
                barrier.wait();
                for index in 0..CALLS {
                    let mut regs = Regs {
                        rcx: index,
                        rdx: thread,
                        ..Regs::ZERO
                    };
                    let status = native_call(kind, 0x100 + thread, &mut regs);
                    assert_eq!(
                        status.raw(),
                        thread << 16 | index,
                        "thread {thread} call {index}"
                    );
                }
                installed.with(|recorder| {
                    assert_eq!(recorder.records().len() as u64, CALLS, "thread {thread}");
                    for (index, record) in recorder.records().iter().enumerate() {
                        assert_eq!(record.kind, kind);
                        assert_eq!(record.registers.rax, 0x100 + thread, "thread {thread}");
                        assert_eq!(record.registers.rdx, thread, "thread {thread}");
                        assert_eq!(record.registers.rcx, index as u64, "thread {thread}: order");
                    }
                });
            });
        }
    });
}

#[test]
fn a_model_panic_becomes_ud_and_is_handed_back() {
    let mut installed = emu::install(|call: &mut Call<'_>| -> Outcome {
        assert_ne!(call.leaf(), 13, "leaf 13 is refused");
        call.complete(Status::SUCCESS)
    });
    let mut regs = Regs::ZERO;
    assert_eq!(
        native_call(CallKind::Seamcall, 13, &mut regs),
        Status::SEAMCALL_UD
    );
    assert_eq!(
        native_call(CallKind::Seamcall, 1, &mut regs),
        Status::SEAMCALL_UD,
        "poisoned"
    );
    let payload = installed.take_panic().expect("the model panicked");
    assert!(payload
        .downcast_ref::<String>()
        .unwrap()
        .contains("leaf 13 is refused"));
    assert_eq!(
        native_call(CallKind::Seamcall, 1, &mut regs),
        Status::SUCCESS,
        "resumed"
    );
}

#[test]
#[should_panic(expected = "raised inside the model")]
fn dropping_the_guard_re_raises_a_model_panic() {
    let _installed =
        emu::install(|_: &mut Call<'_>| -> Outcome { panic!("raised inside the model") });
    let mut regs = Regs::ZERO;
    assert_eq!(
        native_call(CallKind::Tdcall, 1, &mut regs),
        Status::TDCALL_UD
    );
}

#[test]
#[should_panic(expected = "already has a model installed")]
fn one_model_per_thread() {
    let _first = emu::install(FaultInjector::new(Answer::Ud));
    let _second = emu::install(FaultInjector::new(Answer::Gp));
}

#[test]
fn a_tdx_instruction_inside_a_model_takes_the_fixup_path() {
    let inner = Rc::new(Cell::new(None));
    let seen = Rc::clone(&inner);
    let _installed = emu::install(move |call: &mut Call<'_>| -> Outcome {
        let mut regs = Regs::ZERO;
        // SAFETY: traps; the busy model is not re-entered and the fixup answers.
        let status = unsafe { thunk::seamcall(2, &mut regs) };
        seen.set(Some(status));
        call.complete(status)
    });
    let mut regs = Regs::ZERO;
    assert_eq!(
        native_call(CallKind::Tdcall, 1, &mut regs),
        Status::SEAMCALL_UD
    );
    assert_eq!(inner.get(), Some(Status::SEAMCALL_UD));
}

#[test]
fn a_tdx_call_inside_with_does_not_reach_the_model() {
    let mut installed = emu::install(FaultInjector::new(Answer::Status(Status::SUCCESS)));
    let mut regs = Regs::ZERO;
    let status = installed.with(|_| native_call(CallKind::Tdcall, 1, &mut regs));
    assert_eq!(status, Status::TDCALL_UD);
    assert_eq!(installed.with(|injector| injector.calls()), 0);
}

fn current_alt_stack() -> libc::stack_t {
    // SAFETY: a query only; `current` is a valid out-pointer.
    unsafe {
        let mut current: libc::stack_t = std::mem::zeroed();
        assert_eq!(libc::sigaltstack(std::ptr::null(), &mut current), 0);
        current
    }
}

/// Runs `f` with a small alternate signal stack of the test's own in place of whatever the
/// thread had (the crate's, while a model is installed), then puts the previous one back.
fn with_foreign_alt_stack(f: impl FnOnce()) {
    let mut memory = vec![0u8; 32 * 1024];
    let previous = current_alt_stack();
    let foreign = libc::stack_t {
        ss_sp: memory.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: memory.len(),
    };
    // SAFETY: `memory` outlives its use as the alternate stack (restored below).
    assert_eq!(
        unsafe { libc::sigaltstack(&foreign, std::ptr::null_mut()) },
        0
    );
    f();
    let mut restore = previous;
    restore.ss_flags &= !libc::SS_ONSTACK;
    // SAFETY: the settings the kernel reported before.
    assert_eq!(
        unsafe { libc::sigaltstack(&restore, std::ptr::null_mut()) },
        0
    );
}

#[test]
fn installing_a_model_lends_the_thread_a_large_alternate_stack() {
    let before = current_alt_stack();
    let installed = emu::install(FaultInjector::new(Answer::Ud));
    let during = current_alt_stack();
    assert_eq!(during.ss_size, emu::MODEL_STACK_SIZE);
    assert_eq!(during.ss_flags & libc::SS_DISABLE, 0);
    drop(installed);
    let after = current_alt_stack();
    assert_eq!(
        (after.ss_sp, after.ss_size, after.ss_flags),
        (before.ss_sp, before.ss_size, before.ss_flags),
        "the thread's own alternate stack is back"
    );
}

/// A model that needs far more stack than the alternate signal stack Rust gives its threads
/// (a few KiB) or the test's foreign one (32 KiB).
fn deep_stack_model(call: &mut Call<'_>) -> Outcome {
    const DEPTH: usize = 256 * 1024;
    let mut buffer = [0u8; DEPTH];
    buffer[call.leaf() as usize % DEPTH] = 1;
    let sum: u64 = std::hint::black_box(&buffer)
        .iter()
        .map(|&byte| u64::from(byte))
        .sum();
    call.complete(Status::from_raw(sum))
}

#[test]
fn a_model_has_room_on_the_crates_alternate_stack() {
    let _installed = emu::install(deep_stack_model);
    let mut regs = Regs::ZERO;
    assert_eq!(
        native_call(CallKind::Seamcall, 77, &mut regs),
        Status::from_raw(1)
    );
}

#[test]
fn a_model_has_room_when_the_program_replaced_the_alternate_stack() {
    let _installed = emu::install(deep_stack_model);
    with_foreign_alt_stack(|| {
        let mut regs = Regs::ZERO;
        assert_eq!(
            native_call(CallKind::Tdcall, 78, &mut regs),
            Status::from_raw(1)
        );
    });
}

static USR1_DELIVERED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn count_usr1(_: libc::c_int) {
    USR1_DELIVERED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// Installs a counting SIGUSR1 handler, with SA_ONSTACK so it uses the alternate stack
/// whenever the kernel allows, and a model that raises SIGUSR1 in the middle of each call.
fn install_signal_raising_model(answer: Regs) -> emu::Installed<impl emu::Model> {
    // SAFETY: a plain counting handler for SIGUSR1.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_usr1 as *const () as usize;
        action.sa_flags = libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
            0
        );
    }
    emu::install(move |call: &mut Call<'_>| -> Outcome {
        let before = USR1_DELIVERED.load(std::sync::atomic::Ordering::SeqCst);
        // SAFETY: raising a signal at ourselves; delivered before `raise` returns.
        unsafe { libc::raise(libc::SIGUSR1) };
        assert!(USR1_DELIVERED.load(std::sync::atomic::Ordering::SeqCst) > before);
        Answer::Outputs {
            status: Status::from_raw(0x42),
            regs: answer,
        }
        .outcome(call)
    })
}

fn calls_survive_a_nested_signal(answer: Regs) {
    for _ in 0..20 {
        let mut regs = pattern(1);
        assert_eq!(
            native_call(CallKind::Tdvmcall, 0, &mut regs),
            Status::from_raw(0x42)
        );
        assert_eq!(regs, answer);
    }
}

#[test]
fn a_signal_delivered_while_the_model_runs_leaves_the_call_intact() {
    let mut installed = install_signal_raising_model(pattern(0x77));
    calls_survive_a_nested_signal(pattern(0x77));
    assert!(installed.take_panic().is_none());
}

#[test]
fn a_nested_signal_is_safe_on_a_replaced_alternate_stack_too() {
    let mut installed = install_signal_raising_model(pattern(0x78));
    with_foreign_alt_stack(|| calls_survive_a_nested_signal(pattern(0x78)));
    assert!(installed.take_panic().is_none());
}

/// Loads XMM0-15 from `input`, calls `thunk`, stores XMM0-15 to `output` and MXCSR to
/// `mxcsr`; restores the caller's MXCSR.
///
/// # Safety
///
/// As [`call_with_rbp_and_flags`].
unsafe fn call_with_xmm(
    thunk: RawThunk,
    leaf: u64,
    input: &[u128; 16],
    output: &mut [u128; 16],
    mxcsr: &mut u32,
) -> u64 {
    let rax: u64;
    let mut saved_mxcsr = 0u32;
    let mut scratch = Regs::ZERO;
    // SAFETY: pointers to valid buffers in callee-saved registers (the thunk preserves
    // them); vector registers are caller-saved (clobber_abi); MXCSR is restored.
    unsafe {
        asm!(
            "stmxcsr [r15]",
            "movdqu xmm0, [r12 + 0x00]", "movdqu xmm1, [r12 + 0x10]",
            "movdqu xmm2, [r12 + 0x20]", "movdqu xmm3, [r12 + 0x30]",
            "movdqu xmm4, [r12 + 0x40]", "movdqu xmm5, [r12 + 0x50]",
            "movdqu xmm6, [r12 + 0x60]", "movdqu xmm7, [r12 + 0x70]",
            "movdqu xmm8, [r12 + 0x80]", "movdqu xmm9, [r12 + 0x90]",
            "movdqu xmm10, [r12 + 0xa0]", "movdqu xmm11, [r12 + 0xb0]",
            "movdqu xmm12, [r12 + 0xc0]", "movdqu xmm13, [r12 + 0xd0]",
            "movdqu xmm14, [r12 + 0xe0]", "movdqu xmm15, [r12 + 0xf0]",
            "call {thunk}",
            "movdqu [r13 + 0x00], xmm0", "movdqu [r13 + 0x10], xmm1",
            "movdqu [r13 + 0x20], xmm2", "movdqu [r13 + 0x30], xmm3",
            "movdqu [r13 + 0x40], xmm4", "movdqu [r13 + 0x50], xmm5",
            "movdqu [r13 + 0x60], xmm6", "movdqu [r13 + 0x70], xmm7",
            "movdqu [r13 + 0x80], xmm8", "movdqu [r13 + 0x90], xmm9",
            "movdqu [r13 + 0xa0], xmm10", "movdqu [r13 + 0xb0], xmm11",
            "movdqu [r13 + 0xc0], xmm12", "movdqu [r13 + 0xd0], xmm13",
            "movdqu [r13 + 0xe0], xmm14", "movdqu [r13 + 0xf0], xmm15",
            "stmxcsr [r14]",
            "ldmxcsr [r15]",
            thunk = in(reg) thunk,
            in("rdi") leaf,
            in("rsi") &mut scratch as *mut Regs,
            in("r12") input.as_ptr(),
            in("r13") output.as_mut_ptr(),
            in("r14") mxcsr as *mut u32,
            in("r15") &mut saved_mxcsr as *mut u32,
            out("rax") rax,
            clobber_abi("C"),
        );
    }
    rax
}

#[test]
fn a_model_edits_the_callers_xmm_registers_and_mxcsr() {
    let input: [u128; 16] =
        std::array::from_fn(|index| 0xA0A0_0000_0000_0000_0000_0000_0000_0000 | index as u128);
    let new_xmm3 = 0x3333_3333_3333_3333_3333_3333_3333_3333u128;
    let new_xmm15 = 0xF15F_15F1_5F15_F15F_15F1_5F15_F15F_15F1u128;
    const ROUND_TOWARD_ZERO: u32 = 0x6000;
    let installed = emu::install(Recorder::new(move |call: &mut Call<'_>| {
        let state = call.extended_state().expect("the frame has extended state");
        for (index, &value) in input.iter().enumerate() {
            assert_eq!(
                state.xmm(index),
                Ok(value),
                "XMM{index} as the caller loaded it"
            );
        }
        state.set_xmm(3, new_xmm3).unwrap();
        state.set_xmm(15, new_xmm15).unwrap();
        let mxcsr = state.mxcsr();
        state.set_mxcsr(mxcsr | ROUND_TOWARD_ZERO).unwrap();
        call.complete(Status::SUCCESS)
    }));
    for (kind, thunk) in THUNKS {
        let mut output = [0u128; 16];
        let mut mxcsr = 0;
        // SAFETY: traps; the model answers.
        let rax = unsafe { call_with_xmm(thunk, 1, &input, &mut output, &mut mxcsr) };
        assert_eq!(rax, 0, "{kind:?}");
        for (index, &value) in output.iter().enumerate() {
            let expected = match index {
                3 => new_xmm3,
                15 => new_xmm15,
                _ => input[index],
            };
            assert_eq!(value, expected, "{kind:?}: XMM{index} after the call");
        }
        assert_eq!(
            mxcsr & ROUND_TOWARD_ZERO,
            ROUND_TOWARD_ZERO,
            "{kind:?}: MXCSR after the call"
        );
    }
    assert_eq!(installed.into_inner().records().len(), THUNKS.len());
}

/// Loads YMM0-15 from `input`, calls `thunk`, stores YMM0-15 to `output`.
///
/// # Safety
///
/// As [`call_with_rbp_and_flags`]; the CPU and OS support AVX.
unsafe fn call_with_ymm(thunk: RawThunk, input: &[[u128; 2]; 16], output: &mut [[u128; 2]; 16]) {
    let mut scratch = Regs::ZERO;
    // SAFETY: as in `call_with_xmm`; AVX is enabled (the caller checked).
    unsafe {
        asm!(
            "vmovdqu ymm0, [r12 + 0x000]", "vmovdqu ymm1, [r12 + 0x020]",
            "vmovdqu ymm2, [r12 + 0x040]", "vmovdqu ymm3, [r12 + 0x060]",
            "vmovdqu ymm4, [r12 + 0x080]", "vmovdqu ymm5, [r12 + 0x0a0]",
            "vmovdqu ymm6, [r12 + 0x0c0]", "vmovdqu ymm7, [r12 + 0x0e0]",
            "vmovdqu ymm8, [r12 + 0x100]", "vmovdqu ymm9, [r12 + 0x120]",
            "vmovdqu ymm10, [r12 + 0x140]", "vmovdqu ymm11, [r12 + 0x160]",
            "vmovdqu ymm12, [r12 + 0x180]", "vmovdqu ymm13, [r12 + 0x1a0]",
            "vmovdqu ymm14, [r12 + 0x1c0]", "vmovdqu ymm15, [r12 + 0x1e0]",
            "call {thunk}",
            "vmovdqu [r13 + 0x000], ymm0", "vmovdqu [r13 + 0x020], ymm1",
            "vmovdqu [r13 + 0x040], ymm2", "vmovdqu [r13 + 0x060], ymm3",
            "vmovdqu [r13 + 0x080], ymm4", "vmovdqu [r13 + 0x0a0], ymm5",
            "vmovdqu [r13 + 0x0c0], ymm6", "vmovdqu [r13 + 0x0e0], ymm7",
            "vmovdqu [r13 + 0x100], ymm8", "vmovdqu [r13 + 0x120], ymm9",
            "vmovdqu [r13 + 0x140], ymm10", "vmovdqu [r13 + 0x160], ymm11",
            "vmovdqu [r13 + 0x180], ymm12", "vmovdqu [r13 + 0x1a0], ymm13",
            "vmovdqu [r13 + 0x1c0], ymm14", "vmovdqu [r13 + 0x1e0], ymm15",
            "vzeroupper",
            thunk = in(reg) thunk,
            in("rdi") 1u64,
            in("rsi") &mut scratch as *mut Regs,
            in("r12") input.as_ptr(),
            in("r13") output.as_mut_ptr(),
            out("rax") _,
            clobber_abi("C"),
        );
    }
}

/// XSAVE component 2: the upper 128 bits of YMM0-15, 16 bytes each.
const AVX_COMPONENT: u32 = 2;

#[test]
fn a_model_edits_ymm_upper_halves_through_the_avx_component() {
    if !std::is_x86_feature_detected!("avx") {
        eprintln!("skipped: no AVX on this machine");
        return;
    }
    let input: [[u128; 2]; 16] =
        std::array::from_fn(|index| [0x10 + index as u128, 0x70 << 64 | index as u128]);
    let new_upper7 = 0x7777_0000_7777_0000_7777_0000_7777_0000u128;
    let installed = emu::install(Recorder::new(move |call: &mut Call<'_>| {
        let state = call.extended_state().expect("extended state");
        let upper = state
            .component(AVX_COMPONENT)
            .expect("AVX in the frame")
            .expect("in use");
        for (index, halves) in input.iter().enumerate() {
            let bytes: [u8; 16] = upper[16 * index..16 * index + 16].try_into().unwrap();
            assert_eq!(
                u128::from_le_bytes(bytes),
                halves[1],
                "YMM{index} upper half in"
            );
        }
        let upper = state.component_mut(AVX_COMPONENT).unwrap();
        upper[16 * 7..16 * 8].copy_from_slice(&new_upper7.to_le_bytes());
        call.complete(Status::SUCCESS)
    }));
    for (kind, thunk) in THUNKS {
        let mut output = [[0u128; 2]; 16];
        // SAFETY: AVX is available; the instruction traps and the model answers.
        unsafe { call_with_ymm(thunk, &input, &mut output) };
        for (index, halves) in output.iter().enumerate() {
            let expected = if index == 7 {
                [input[7][0], new_upper7]
            } else {
                input[index]
            };
            assert_eq!(*halves, expected, "{kind:?}: YMM{index} after the call");
        }
    }
    assert_eq!(installed.into_inner().records().len(), THUNKS.len());
}

#[test]
fn registers_convert_to_and_from_regs() {
    let mut registers = Registers {
        rax: 1,
        rbp: 2,
        rflags: 0x8D7,
        ..Registers::default()
    };
    registers.set_regs(&pattern(3));
    assert_eq!(registers.regs(), pattern(3));
    assert_eq!((registers.rax, registers.rbp), (1, 2));
    let done = registers.with_status(Status::from_raw(9));
    assert_eq!((done.rax, done.rflags), (9, 0x8D7 & !STATUS_FLAGS));
}
