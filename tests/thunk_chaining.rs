//! A fault that is not the crate's still reaches whatever handled it before
//! `tdxcall::signal::install`, and the default action still happens when nothing did.
//!
//! Each test re-runs this binary as a child process on itself alone (`--exact <name>`), with
//! `common::child::CHILD_ENV` naming the test: the child sets up the dispositions, installs the crate's
//! handler, faults, and the parent checks how the child ended. A fresh process per case
//! keeps the process-wide signal dispositions of one case away from the others.
#![cfg(all(feature = "std", target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::child::{is_child, no_core_dump, run as run_child, test_name};
use std::os::unix::process::ExitStatusExt;

/// The exit code of the previous handlers below: only they can produce it.
const PREVIOUS_HANDLER_RAN: i32 = 42;
/// What the SIGILL handler with SA_SIGINFO exits with if its arguments are not the kernel's.
const PREVIOUS_HANDLER_GOT_WRONG_ARGUMENTS: i32 = 43;
/// Printed by the child that makes a thunk call, after checking its status.
const THUNK_MARKER: &str = "child: thunk returned its fault code";

/// Runs `test` as a child and asserts the previous handler ended it, as it should.
fn assert_previous_handler_ran(test: &str) {
    let output = run_child(test);
    assert_eq!(
        output.status.code(),
        Some(PREVIOUS_HANDLER_RAN),
        "{:?}",
        output.status
    );
}

extern "C" fn exit_previous_handler_ran(_signal: libc::c_int) {
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { libc::_exit(PREVIOUS_HANDLER_RAN) }
}

/// A SIGILL handler with SA_SIGINFO that checks it got the kernel's arguments for a `ud2`.
extern "C" fn exit_if_sigill_arguments_are_the_kernels(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel (through the crate's chaining) passes a valid siginfo and ucontext;
    // the faulting address is the ud2 in this binary's text, readable.
    let right = unsafe {
        let address = (*info).si_addr() as u64;
        let rip = (*(context as *mut libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize];
        signal == libc::SIGILL
            && (*info).si_signo == libc::SIGILL
            && address == rip as u64
            && core::ptr::read(address as *const [u8; 2]) == [0x0F, 0x0B]
    };
    let code = if right {
        PREVIOUS_HANDLER_RAN
    } else {
        PREVIOUS_HANDLER_GOT_WRONG_ARGUMENTS
    };
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { libc::_exit(code) }
}

/// A SIGILL handler that exits with PREVIOUS_HANDLER_RAN only when the mask it runs under is
/// the one the kernel would have given it: SIGUSR1 (its `sa_mask`) blocked and, under its
/// SA_NODEFER, SIGILL not blocked.
extern "C" fn exit_if_mask_is_the_kernels(_signal: libc::c_int) {
    // SAFETY: pthread_sigmask with a null new set only reads the current mask; _exit is
    // async-signal-safe.
    unsafe {
        let mut mask: libc::sigset_t = core::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, core::ptr::null(), &mut mask);
        let right = libc::sigismember(&mask, libc::SIGUSR1) == 1
            && libc::sigismember(&mask, libc::SIGILL) == 0;
        libc::_exit(if right {
            PREVIOUS_HANDLER_RAN
        } else {
            PREVIOUS_HANDLER_GOT_WRONG_ARGUMENTS
        })
    }
}

/// Sets the disposition of `signal` to `handler` (`SIG_DFL` for the default), with
/// SA_SIGINFO when `siginfo`.
fn set_disposition(signal: libc::c_int, handler: usize, siginfo: bool) {
    // SAFETY: a zeroed sigaction is valid; the handler's signature matches the flags.
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags = if siginfo { libc::SA_SIGINFO } else { 0 };
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(signal, &action, core::ptr::null_mut()), 0);
    }
}

/// A write to a page mapped with no access: a page fault (vector 14), not the crate's.
fn write_to_inaccessible_page() {
    // SAFETY: a fresh anonymous mapping; the write to it faults by design and is never
    // resumed (the handler under test ends the process).
    unsafe {
        let page = libc::mmap(
            core::ptr::null_mut(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(page, libc::MAP_FAILED);
        core::ptr::write_volatile(page as *mut u64, 1);
    }
}

/// Whether the crate's handler (or any handler) is now the disposition of `signal`.
fn has_handler(signal: libc::c_int) -> bool {
    // SAFETY: querying a disposition writes only into our zeroed sigaction.
    unsafe {
        let mut current: libc::sigaction = core::mem::zeroed();
        assert_eq!(libc::sigaction(signal, core::ptr::null(), &mut current), 0);
        current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN
    }
}

/// A #UD at an address that is no thunk's.
fn ud2_outside_the_crate() {
    // SAFETY: ud2 raises #UD; the handler under test ends the process, never resuming here.
    unsafe { core::arch::asm!("ud2") }
}

#[test]
fn foreign_sigsegv_reaches_the_previous_plain_handler() {
    let name = test_name(foreign_sigsegv_reaches_the_previous_plain_handler);
    if is_child(name) {
        set_disposition(
            libc::SIGSEGV,
            exit_previous_handler_ran as *const () as usize,
            false,
        );
        tdxcall::signal::install();
        write_to_inaccessible_page();
        std::process::exit(1);
    }
    assert_previous_handler_ran(name);
}

#[test]
fn foreign_sigill_reaches_the_previous_siginfo_handler_with_the_kernels_arguments() {
    let name =
        test_name(foreign_sigill_reaches_the_previous_siginfo_handler_with_the_kernels_arguments);
    if is_child(name) {
        let handler = exit_if_sigill_arguments_are_the_kernels as *const () as usize;
        set_disposition(libc::SIGILL, handler, true);
        tdxcall::signal::install();
        ud2_outside_the_crate();
        std::process::exit(1);
    }
    assert_previous_handler_ran(name);
}

#[test]
fn the_previous_handler_runs_under_its_own_mask_and_nodefer() {
    let name = test_name(the_previous_handler_runs_under_its_own_mask_and_nodefer);
    if is_child(name) {
        // SAFETY: a zeroed sigaction is valid; the handler takes one argument (no SA_SIGINFO).
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = exit_if_mask_is_the_kernels as *const () as usize;
            action.sa_flags = libc::SA_NODEFER;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaddset(&mut action.sa_mask, libc::SIGUSR1);
            assert_eq!(
                libc::sigaction(libc::SIGILL, &action, core::ptr::null_mut()),
                0
            );
        }
        tdxcall::signal::install();
        ud2_outside_the_crate();
        std::process::exit(1);
    }
    assert_previous_handler_ran(name);
}

#[test]
fn foreign_sigill_with_no_previous_handler_kills_the_process() {
    let name = test_name(foreign_sigill_with_no_previous_handler_kills_the_process);
    if is_child(name) {
        no_core_dump();
        set_disposition(libc::SIGILL, libc::SIG_DFL, false);
        tdxcall::signal::install();
        // The crate's handler is on the path: the default action must come from it.
        assert!(has_handler(libc::SIGILL));
        ud2_outside_the_crate();
        std::process::exit(1);
    }
    let output = run_child(name);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGILL),
        "{:?}",
        output.status
    );
}

#[test]
fn sigill_sent_by_a_process_with_no_previous_handler_still_kills() {
    let name = test_name(sigill_sent_by_a_process_with_no_previous_handler_still_kills);
    if is_child(name) {
        no_core_dump();
        set_disposition(libc::SIGILL, libc::SIG_DFL, false);
        tdxcall::signal::install();
        // The crate's handler is on the path: the default action must come from it.
        assert!(has_handler(libc::SIGILL));
        // SAFETY: raise is always safe to call.
        unsafe { libc::raise(libc::SIGILL) };
        std::process::exit(1);
    }
    let output = run_child(name);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGILL),
        "{:?}",
        output.status
    );
}

#[test]
fn thunk_fault_is_handled_by_the_crate_not_chained() {
    let name = test_name(thunk_fault_is_handled_by_the_crate_not_chained);
    if is_child(name) {
        // Previous handlers that would end the process with 42 if the crate chained its own
        // fault to them.
        let previous = exit_previous_handler_ran as *const () as usize;
        set_disposition(libc::SIGILL, previous, false);
        set_disposition(libc::SIGSEGV, previous, false);
        tdxcall::signal::install();
        for thunk in &common::PRODUCTION {
            let mut regs = common::pattern(0xD000, 7);
            let input = regs;
            // SAFETY: from user space the instruction faults before doing anything, and the
            // crate's handler is installed.
            let status = unsafe { (thunk.wrapper)(0x51, &mut regs) };
            assert!(
                thunk.native_fault_statuses().contains(&status),
                "{}: {status:?}",
                thunk.name
            );
            assert_eq!(regs, input, "{}", thunk.name);
        }
        println!("{THUNK_MARKER}");
        std::process::exit(0);
    }
    let output = run_child(name);
    assert_eq!(output.status.code(), Some(0), "{:?}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(THUNK_MARKER), "the child made its calls");
}
