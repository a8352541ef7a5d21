//! The thunks on this machine, for real: SEAMCALL and TDCALL raise #UD here (no SEAM, not a
//! TD), the crate's SIGILL handler routes the fault to the exception table, and each thunk
//! returns its software code with the struct unchanged, the callee-saved registers intact
//! and the process alive. (On other machines the fault may be a #GP, routed through SIGSEGV:
//! see `Thunk::native_fault_statuses`.)
#![cfg(all(feature = "std", target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{assert_callee_saved, call_watched, pattern, Thunk, PRODUCTION, SENTINELS};
use tdxcall::{Regs, Status};

/// Calls `thunk` through its public wrapper and returns the status.
fn call_wrapper(thunk: &Thunk, leaf: u64, regs: &mut Regs) -> Status {
    // SAFETY: from user space the instruction faults before doing anything (SEAMCALL and
    // TDCALL are CPL-0 only), and the callers install the fault handler first.
    unsafe { (thunk.wrapper)(leaf, regs) }
}

#[test]
fn each_thunk_returns_its_fault_code_and_preserves_callee_saved_registers() {
    tdxcall::signal::install();
    assert!(tdxcall::signal::is_installed());
    for (index, thunk) in PRODUCTION.iter().enumerate() {
        let leaf = 0x0001_0000_0000_0000 | index as u64;

        // Through the public wrapper.
        let input = pattern(0xA000 + index as u16, 1);
        let mut regs = input;
        let status = call_wrapper(thunk, leaf, &mut regs);
        let expected = thunk.native_fault_statuses();
        assert!(
            expected.contains(&status),
            "{}: wrapper status {status:?}",
            thunk.name
        );
        assert_eq!(
            regs, input,
            "{}: wrapper struct (a fault runs nothing)",
            thunk.name
        );

        // Straight into the assembly, with sentinels in every callee-saved register.
        let input = pattern(0xB000 + index as u16, 2);
        let mut regs = input;
        // SAFETY: the instruction faults here and the handler turns the fault into a
        // software status; the thunk follows the System V ABI.
        let snapshot = unsafe { call_watched(thunk.raw, leaf, &mut regs, &SENTINELS) };
        let status = Status::from_raw(snapshot.after[common::RAX]);
        assert!(
            expected.contains(&status),
            "{}: status {status:?}",
            thunk.name
        );
        assert_eq!(regs, input, "{}: struct (a fault runs nothing)", thunk.name);
        assert_callee_saved(thunk.name, &snapshot);
        if thunk.scrub {
            common::assert_scratch_zero(thunk, &snapshot);
        }
    }
    // Still here: the process lives.
}

#[test]
fn eight_threads_of_faulting_calls_all_come_back_intact() {
    const THREADS: u16 = 8;
    const CALLS: u32 = 10_000;
    tdxcall::signal::install();
    let expected: Vec<Vec<Status>> = PRODUCTION
        .iter()
        .map(Thunk::native_fault_statuses)
        .collect();
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let expected = expected.clone();
            std::thread::spawn(move || {
                for call in 0..CALLS {
                    let which = (call as usize + thread as usize) % PRODUCTION.len();
                    let thunk = &PRODUCTION[which];
                    let input = pattern(0x7000 | thread, call);
                    let leaf = (u64::from(thread) << 32) | u64::from(call);
                    let mut regs = input;
                    let status = call_wrapper(thunk, leaf, &mut regs);
                    assert!(
                        expected[which].contains(&status),
                        "thread {thread}, call {call}, {}: {status:?}",
                        thunk.name
                    );
                    assert_eq!(regs, input, "thread {thread}, call {call}, {}", thunk.name);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker thread failed");
    }
}
