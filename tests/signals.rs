//! The crate's SIGILL/SIGSEGV handler in the arrangements a program can have: signals the
//! program ignores, handlers the program installs after the crate's (and that chain back to
//! it), a handler installed by another thread while the crate installs its own, and models
//! kept in thread-locals or alongside the program's own alternate signal stack.
//!
//! Every case runs in a child process of its own (this binary, `--exact <name>`), so the
//! process-wide dispositions of one case never reach another, and a case may end its process.
//!
//! This binary interposes `sigaction` (see [`interpose`]): transparent unless a case arms it,
//! it lets a case act at an exact point inside the crate's installation, which is how a
//! race with another thread is reproduced deterministically.
#![cfg(all(feature = "std", target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::child::{self, is_child, no_core_dump, test_name};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::Status;

/// The exit code of the program's handlers below: only they produce it.
const PROGRAM_HANDLER_RAN: i32 = 42;
/// Printed by a child once the part of the case that must survive has run.
const SURVIVED: &str = "child: survived";
/// Written to stderr by the chaining handler each time it runs.
const CHAINING_HANDLER_LINE: &str = "program handler: chaining\n";

extern "C" fn exit_program_handler_ran(_signal: libc::c_int) {
    // SAFETY: _exit is async-signal-safe and ends the process at once.
    unsafe { libc::_exit(PROGRAM_HANDLER_RAN) }
}

/// Sets the disposition of `signal` to `handler` (SIG_DFL, SIG_IGN or a one-argument
/// handler) and returns the one it replaced.
fn set_disposition(signal: libc::c_int, handler: usize) -> libc::sigaction {
    // SAFETY: a zeroed sigaction is valid; the handler takes one argument (no SA_SIGINFO).
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = handler;
        libc::sigemptyset(&mut action.sa_mask);
        let mut old: libc::sigaction = core::mem::zeroed();
        assert_eq!(libc::sigaction(signal, &action, &mut old), 0);
        old
    }
}

/// A #UD at an address that is no thunk's.
fn ud2_outside_the_crate() {
    // SAFETY: ud2 raises #UD; the handler under test ends the process, never resuming here.
    unsafe { core::arch::asm!("ud2") }
}

/// A real SEAMCALL through the native backend: it faults on this machine and must come back
/// as the crate's software status.
fn seamcall_comes_back() {
    let status = seamcall();
    assert!(
        [Status::SEAMCALL_UD, Status::SEAMCALL_GP].contains(&status),
        "{status:?}"
    );
}

/// A real SEAMCALL through the native backend (leaf 0, zeroed registers).
fn seamcall() -> Status {
    let mut regs = tdxcall::Regs::ZERO;
    // SAFETY: from user space the instruction faults before doing anything; a model or the
    // fixup answers it.
    unsafe { Native::new().call(CallKind::Seamcall, 0, &mut regs) }
}

/// Sends `signal` to this process, as `kill -ILL <pid>` does.
fn kill_self(signal: libc::c_int) {
    // SAFETY: kill and getpid are plain system calls.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signal) }, 0);
}

#[test]
fn sigill_sent_to_a_process_that_ignores_it_stays_ignored() {
    let name = test_name(sigill_sent_to_a_process_that_ignores_it_stays_ignored);
    if is_child(name) {
        no_core_dump();
        set_disposition(libc::SIGILL, libc::SIG_IGN);
        set_disposition(libc::SIGSEGV, libc::SIG_IGN);
        tdxcall::signal::install();
        assert!(tdxcall::signal::is_installed());
        kill_self(libc::SIGILL);
        kill_self(libc::SIGSEGV);
        // SAFETY: raise is always safe to call (a thread-directed signal, SI_TKILL).
        unsafe { libc::raise(libc::SIGILL) };
        seamcall_comes_back();
        println!("{SURVIVED}");
        std::process::exit(0);
    }
    let output = child::run(name);
    assert_eq!(output.status.code(), Some(0), "{:?}", output.status);
    assert!(String::from_utf8_lossy(&output.stdout).contains(SURVIVED));
}

#[test]
fn a_real_fault_in_a_process_that_ignores_sigill_still_kills_it() {
    let name = test_name(a_real_fault_in_a_process_that_ignores_sigill_still_kills_it);
    if is_child(name) {
        no_core_dump();
        set_disposition(libc::SIGILL, libc::SIG_IGN);
        tdxcall::signal::install();
        seamcall_comes_back();
        println!("{SURVIVED}");
        ud2_outside_the_crate();
        std::process::exit(1);
    }
    let output = child::run(name);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGILL),
        "{:?}",
        output.status
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(SURVIVED));
}

#[test]
fn is_installed_says_false_once_the_program_replaces_the_handler() {
    let name = test_name(is_installed_says_false_once_the_program_replaces_the_handler);
    if is_child(name) {
        tdxcall::signal::install();
        assert!(tdxcall::signal::is_installed());
        set_disposition(
            libc::SIGSEGV,
            exit_program_handler_ran as *const () as usize,
        );
        assert!(
            !tdxcall::signal::is_installed(),
            "SIGSEGV is no longer ours"
        );
        tdxcall::signal::install();
        assert!(tdxcall::signal::is_installed());
        println!("{SURVIVED}");
        std::process::exit(0);
    }
    let output = child::run(name);
    assert_eq!(output.status.code(), Some(0), "{:?}", output.status);
    assert!(String::from_utf8_lossy(&output.stdout).contains(SURVIVED));
}

#[test]
fn native_new_puts_the_crates_handler_back_and_chains_to_the_programs() {
    let name = test_name(native_new_puts_the_crates_handler_back_and_chains_to_the_programs);
    if is_child(name) {
        tdxcall::signal::install();
        // The program's own handler, installed after the crate's and not chaining to it.
        set_disposition(libc::SIGILL, exit_program_handler_ran as *const () as usize);
        assert!(!tdxcall::signal::is_installed());
        // Constructing the native backend (as Host::native does) restores the crate's.
        seamcall_comes_back();
        assert!(tdxcall::signal::is_installed());
        println!("{SURVIVED}");
        // A fault that is not the crate's reaches the program's handler.
        ud2_outside_the_crate();
        std::process::exit(1);
    }
    let output = child::run(name);
    assert_eq!(
        output.status.code(),
        Some(PROGRAM_HANDLER_RAN),
        "{:?}",
        output.status
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(SURVIVED));
}

/// The disposition the chaining handler replaced (the crate's): its address.
static CHAINED_TO: AtomicUsize = AtomicUsize::new(0);

/// A program handler that chains to the disposition it replaced, as well-behaved libraries
/// do: with SA_SIGINFO, passing its arguments on.
extern "C" fn chain_to_replaced(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    let line = CHAINING_HANDLER_LINE.as_bytes();
    // SAFETY: write is async-signal-safe; the stored address is the crate's SA_SIGINFO
    // handler (checked by the case before any signal).
    unsafe {
        libc::write(2, line.as_ptr().cast(), line.len());
        let replaced: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            core::mem::transmute(CHAINED_TO.load(Ordering::SeqCst));
        replaced(signal, info, context);
    }
}

/// Installs [`chain_to_replaced`] for `signal`, recording what it replaces.
fn install_chaining_handler(signal: libc::c_int) {
    // SAFETY: a zeroed sigaction is valid; the handler takes three arguments (SA_SIGINFO).
    unsafe {
        let mut action: libc::sigaction = core::mem::zeroed();
        action.sa_sigaction = chain_to_replaced as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        let mut old: libc::sigaction = core::mem::zeroed();
        assert_eq!(libc::sigaction(signal, &action, &mut old), 0);
        assert_ne!(
            old.sa_flags & libc::SA_SIGINFO,
            0,
            "the replaced one is the crate's"
        );
        CHAINED_TO.store(old.sa_sigaction, Ordering::SeqCst);
    }
}

#[test]
fn a_program_handler_that_chains_back_to_the_crate_does_not_loop() {
    let name = test_name(a_program_handler_that_chains_back_to_the_crate_does_not_loop);
    if is_child(name) {
        no_core_dump();
        set_disposition(libc::SIGILL, libc::SIG_DFL);
        tdxcall::signal::install();
        install_chaining_handler(libc::SIGILL);
        // The crate's handler goes back in front of the program's: crate -> program -> crate
        // -> default action, never round again.
        let _native = Native::new();
        assert!(tdxcall::signal::is_installed());
        seamcall_comes_back();
        println!("{SURVIVED}");
        ud2_outside_the_crate();
        std::process::exit(1);
    }
    let output = child::run(name);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGILL),
        "{:?}",
        output.status
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(SURVIVED));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches(CHAINING_HANDLER_LINE).count(),
        1,
        "the program's handler runs once, for the foreign fault only"
    );
}

#[test]
fn a_chaining_program_handler_sees_a_sent_signal_once_then_the_default_action() {
    let name =
        test_name(a_chaining_program_handler_sees_a_sent_signal_once_then_the_default_action);
    if is_child(name) {
        no_core_dump();
        set_disposition(libc::SIGSEGV, libc::SIG_DFL);
        tdxcall::signal::install();
        install_chaining_handler(libc::SIGSEGV);
        tdxcall::signal::install();
        println!("{SURVIVED}");
        kill_self(libc::SIGSEGV);
        // SAFETY: sleeping until the signal ends the process.
        unsafe { libc::sleep(30) };
        std::process::exit(1);
    }
    let output = child::run(name);
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSEGV),
        "{:?}",
        output.status
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches(CHAINING_HANDLER_LINE).count(), 1);
}

/// `sigaction` of this binary: forwards to the C library's, and when a case arms it, acts
/// right after the crate's first SIGILL `sigaction` call returns.
mod interpose {
    use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

    type Sigaction = unsafe extern "C" fn(
        libc::c_int,
        *const libc::sigaction,
        *mut libc::sigaction,
    ) -> libc::c_int;

    /// The C library's `sigaction`, resolved on the first call (at start-up, not in a
    /// signal handler).
    static REAL: AtomicUsize = AtomicUsize::new(0);

    /// Nothing armed.
    pub const OFF: u8 = 0;
    /// After the next SIGILL call: install the program's handler, as another thread would.
    pub const INSTALL_PROGRAM_HANDLER: u8 = 1;
    /// After the next SIGILL call that sets a disposition: send this thread SIGILL, so it
    /// arrives before the caller has seen the old disposition.
    pub const SIGNAL_AFTER_SET: u8 = 2;

    /// What the next SIGILL call triggers.
    pub static ARMED: AtomicU8 = AtomicU8::new(OFF);
    /// The handler [`INSTALL_PROGRAM_HANDLER`] installs.
    pub static PROGRAM_HANDLER: AtomicUsize = AtomicUsize::new(0);

    fn real() -> Sigaction {
        let mut address = REAL.load(Ordering::Acquire);
        if address == 0 {
            // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name.
            address = unsafe { libc::dlsym(libc::RTLD_NEXT, c"sigaction".as_ptr()) } as usize;
            assert_ne!(address, 0, "the C library's sigaction");
            REAL.store(address, Ordering::Release);
        }
        // SAFETY: the address is the C library's sigaction, of this type.
        unsafe { core::mem::transmute::<usize, Sigaction>(address) }
    }

    /// The interposed `sigaction`.
    ///
    /// # Safety
    ///
    /// As the C library's.
    #[no_mangle]
    pub unsafe extern "C" fn sigaction(
        signal: libc::c_int,
        action: *const libc::sigaction,
        old: *mut libc::sigaction,
    ) -> libc::c_int {
        let real = real();
        // SAFETY: the caller's arguments, passed on.
        let rc = unsafe { real(signal, action, old) };
        if signal != libc::SIGILL {
            return rc;
        }
        let armed = ARMED.load(Ordering::SeqCst);
        if armed == INSTALL_PROGRAM_HANDLER {
            ARMED.store(OFF, Ordering::SeqCst);
            // SAFETY: a zeroed sigaction is valid; the handler takes one argument.
            unsafe {
                let mut program: libc::sigaction = core::mem::zeroed();
                program.sa_sigaction = PROGRAM_HANDLER.load(Ordering::SeqCst);
                libc::sigemptyset(&mut program.sa_mask);
                assert_eq!(real(signal, &program, core::ptr::null_mut()), 0);
            }
        } else if armed == SIGNAL_AFTER_SET && !action.is_null() {
            ARMED.store(OFF, Ordering::SeqCst);
            // SAFETY: raise is always safe to call.
            unsafe { libc::raise(libc::SIGILL) };
        }
        rc
    }
}

#[test]
fn a_handler_another_thread_installs_during_install_is_not_lost() {
    let name = test_name(a_handler_another_thread_installs_during_install_is_not_lost);
    if is_child(name) {
        no_core_dump();
        set_disposition(libc::SIGILL, libc::SIG_DFL);
        interpose::PROGRAM_HANDLER.store(
            exit_program_handler_ran as *const () as usize,
            Ordering::SeqCst,
        );
        interpose::ARMED.store(interpose::INSTALL_PROGRAM_HANDLER, Ordering::SeqCst);
        tdxcall::signal::install();
        assert_eq!(interpose::ARMED.load(Ordering::SeqCst), interpose::OFF);
        println!("{SURVIVED}");
        // The program's handler went in while the crate installed its own: a foreign fault
        // must reach it, not the default action that was there before.
        ud2_outside_the_crate();
        std::process::exit(1);
    }
    let output = child::run(name);
    assert_eq!(
        output.status.code(),
        Some(PROGRAM_HANDLER_RAN),
        "{:?}",
        output.status
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(SURVIVED));
}

#[test]
fn a_signal_sent_while_the_previous_disposition_is_unknown_reaches_it() {
    let name = test_name(a_signal_sent_while_the_previous_disposition_is_unknown_reaches_it);
    if is_child(name) {
        set_disposition(libc::SIGILL, exit_program_handler_ran as *const () as usize);
        interpose::ARMED.store(interpose::SIGNAL_AFTER_SET, Ordering::SeqCst);
        // SIGILL arrives right after the crate's handler replaced the program's, before
        // `install` has the replaced disposition: it must still end up there.
        tdxcall::signal::install();
        // SAFETY: sleeping until the re-sent signal ends the process.
        unsafe { libc::sleep(30) };
        std::process::exit(1);
    }
    let output = child::run(name);
    assert_eq!(
        output.status.code(),
        Some(PROGRAM_HANDLER_RAN),
        "{:?}",
        output.status
    );
}

/// Maps 64 KiB and makes it this thread's alternate signal stack, as a program would.
#[cfg(feature = "emulator")]
fn set_program_alt_stack() -> libc::stack_t {
    let size = 64 * 1024;
    // SAFETY: a fresh anonymous mapping of our own; sigaltstack reads a valid stack_t.
    unsafe {
        let memory = libc::mmap(
            core::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(memory, libc::MAP_FAILED);
        let stack = libc::stack_t {
            ss_sp: memory,
            ss_flags: 0,
            ss_size: size,
        };
        assert_eq!(libc::sigaltstack(&stack, core::ptr::null_mut()), 0);
        stack
    }
}

/// The alternate signal stack of the calling thread.
#[cfg(feature = "emulator")]
fn current_alt_stack() -> libc::stack_t {
    // SAFETY: sigaltstack with a null new stack only reads the current one.
    unsafe {
        let mut current: libc::stack_t = core::mem::zeroed();
        assert_eq!(libc::sigaltstack(core::ptr::null(), &mut current), 0);
        current
    }
}

#[cfg(feature = "emulator")]
#[test]
fn a_guard_kept_in_a_thread_local_leaves_no_dead_alternate_stack_at_thread_exit() {
    use std::cell::RefCell;
    use tdxcall::emu::{self, Answer, FaultInjector, Installed};

    /// Makes a SEAMCALL from its destructor, which runs after the guard's (thread-local
    /// destructors run in the reverse order of first use).
    struct CallOnExit;
    impl Drop for CallOnExit {
        fn drop(&mut self) {
            let alt = current_alt_stack();
            if alt.ss_flags & libc::SS_DISABLE == 0 {
                // SAFETY: msync only checks that the range is mapped (MS_ASYNC writes
                // nothing back for anonymous memory).
                let mapped = unsafe {
                    let page = 4096usize;
                    let start = alt.ss_sp as usize & !(page - 1);
                    let end = alt.ss_sp as usize + alt.ss_size;
                    libc::msync(start as *mut _, end - start, libc::MS_ASYNC) == 0
                };
                eprintln!("at thread exit: alternate stack {alt:?}, mapped: {mapped}");
            }
            // The crate's handler runs on the alternate stack (SA_ONSTACK).
            seamcall_comes_back();
            println!("child: call at thread exit came back");
        }
    }

    std::thread_local! {
        static CALL_ON_EXIT: CallOnExit = const { CallOnExit };
        static GUARD: RefCell<Option<Installed<FaultInjector>>> = const { RefCell::new(None) };
    }

    let name =
        test_name(a_guard_kept_in_a_thread_local_leaves_no_dead_alternate_stack_at_thread_exit);
    if is_child(name) {
        no_core_dump();
        std::thread::spawn(|| {
            CALL_ON_EXIT.with(|_| ());
            let installed = emu::install(FaultInjector::new(Answer::Status(Status::SUCCESS)));
            GUARD.with(|guard| *guard.borrow_mut() = Some(installed));
            assert_eq!(seamcall(), Status::SUCCESS, "the model answers");
        })
        .join()
        .expect("the thread");
        println!("{SURVIVED}");
        std::process::exit(0);
    }
    let output = child::run(name);
    assert_eq!(output.status.code(), Some(0), "{:?}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("child: call at thread exit came back"));
    assert!(stdout.contains(SURVIVED));
}

#[cfg(feature = "emulator")]
#[test]
fn an_alternate_stack_the_program_sets_after_install_survives_the_guard() {
    use tdxcall::emu::{self, Answer, FaultInjector};

    let name = test_name(an_alternate_stack_the_program_sets_after_install_survives_the_guard);
    if is_child(name) {
        let before = current_alt_stack();
        let installed = emu::install(FaultInjector::new(Answer::Status(Status::SUCCESS)));
        let crates = current_alt_stack();
        assert_ne!(crates.ss_sp, before.ss_sp, "the crate set its own");
        // The program's own alternate stack, set while the model is installed.
        // A fresh mapping, never unmapped (the process ends).
        let programs = set_program_alt_stack();
        assert_eq!(seamcall(), Status::SUCCESS, "the model answers");
        drop(installed);
        let after = current_alt_stack();
        assert_eq!(
            after.ss_sp, programs.ss_sp,
            "the program's stack is still set"
        );
        assert_eq!(after.ss_size, programs.ss_size);
        assert_eq!(after.ss_flags & libc::SS_DISABLE, 0);
        // And a guard dropped with its own stack still current puts the previous one back.
        let installed = emu::install(FaultInjector::new(Answer::Status(Status::SUCCESS)));
        assert_ne!(current_alt_stack().ss_sp, programs.ss_sp);
        drop(installed);
        assert_eq!(current_alt_stack().ss_sp, programs.ss_sp);
        println!("{SURVIVED}");
        std::process::exit(0);
    }
    let output = child::run(name);
    assert_eq!(output.status.code(), Some(0), "{:?}", output.status);
    assert!(String::from_utf8_lossy(&output.stdout).contains(SURVIVED));
}

#[cfg(feature = "emulator")]
#[test]
fn a_previous_alternate_stack_unmapped_meanwhile_is_not_put_back() {
    use tdxcall::emu::{self, Answer, FaultInjector};

    let name = test_name(a_previous_alternate_stack_unmapped_meanwhile_is_not_put_back);
    if is_child(name) {
        no_core_dump();
        // Unmapped below while the crate's stack is the current one (so the kernel never
        // delivers onto it).
        let programs = set_program_alt_stack();
        let installed = emu::install(FaultInjector::new(Answer::Status(Status::SUCCESS)));
        assert_ne!(current_alt_stack().ss_sp, programs.ss_sp);
        // SAFETY: the program's stack is not the current alternate stack any more.
        assert_eq!(unsafe { libc::munmap(programs.ss_sp, programs.ss_size) }, 0);
        drop(installed);
        let after = current_alt_stack();
        assert!(
            after.ss_flags & libc::SS_DISABLE != 0,
            "an unmapped alternate stack was put back: {after:?}"
        );
        // A signal handled now runs on the thread's stack, not on unmapped memory.
        seamcall_comes_back();
        println!("{SURVIVED}");
        std::process::exit(0);
    }
    let output = child::run(name);
    assert_eq!(output.status.code(), Some(0), "{:?}", output.status);
    assert!(String::from_utf8_lossy(&output.stdout).contains(SURVIVED));
}

#[test]
fn install_says_plainly_when_it_cannot_record_another_replaced_handler() {
    let name = test_name(install_says_plainly_when_it_cannot_record_another_replaced_handler);
    if is_child(name) {
        let program = exit_program_handler_ran as *const () as usize;
        for _ in 0..tdxcall::signal::MAX_GENERATIONS {
            set_disposition(libc::SIGILL, program);
            tdxcall::signal::install();
            assert!(tdxcall::signal::is_installed());
        }
        set_disposition(libc::SIGILL, program);
        let result = std::panic::catch_unwind(tdxcall::signal::install);
        let message = result.expect_err("one generation too many");
        let message = message
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(message.contains("re-installed more than"), "{message}");
        // Nothing was changed: the program's handler is still the disposition.
        assert!(!tdxcall::signal::is_installed());
        println!("{SURVIVED}");
        ud2_outside_the_crate();
        std::process::exit(1);
    }
    let output = child::run(name);
    assert_eq!(
        output.status.code(),
        Some(PROGRAM_HANDLER_RAN),
        "{:?}",
        output.status
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains(SURVIVED));
}
