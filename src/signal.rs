//! The user-space fault handler (feature `std`, Linux x86-64).
//!
//! On a machine without TDX, SEAMCALL and TDCALL raise #UD (or #GP), which Linux delivers as
//! SIGILL (or SIGSEGV) with the trap number in the signal context. [`install`] sets up a
//! handler for both signals that applies the crate's exception table
//! ([`crate::fixup::fixup_exception`]) to the saved RIP and RAX, so the thunk returns a
//! software status and the process goes on.
//!
//! # When it is installed
//!
//! [`Native::new`](crate::call::Native::new) calls [`install`], so every wrapper built on
//! the native backend has it. Code that calls the raw thunks in [`crate::call::thunk`] calls
//! [`install`] itself first. Installing is idempotent and thread-safe (a `std::sync::Once`).
//!
//! # Chaining
//!
//! The handlers in place before [`install`] are kept. A signal that is not a #UD or #GP at
//! one of the crate's instruction sites goes to the previous handler as the kernel would
//! have delivered it: `sa_sigaction` with the same arguments, or `sa_handler`, running with
//! its own `sa_mask` blocked and, under its SA_NODEFER, the signal itself unblocked. Its
//! SA_RESETHAND is not replayed (the crate's handler stays installed for the crate's own
//! sites). When
//! the previous disposition was the default action (or ignore, which the kernel overrides
//! for a fault), the handler restores the default disposition and returns: the faulting
//! instruction runs again and the default action (a core dump) happens as if tdxcall had
//! never been there. A handler installed *after* [`install`] replaces the crate's; install
//! the crate's last, or chain to it.
//!
//! # Async-signal safety
//!
//! The handler reads the signal context and the read-only exception table, and calls only
//! `sigaction` and `raise` (both async-signal-safe). It takes no lock and allocates nothing.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use std::sync::Once;

static INSTALL: Once = Once::new();

/// The dispositions that were in place before ours: index 0 SIGILL, 1 SIGSEGV.
struct Previous(UnsafeCell<[MaybeUninit<libc::sigaction>; 2]>);

// SAFETY: written only inside `INSTALL.call_once`, before the handler that reads it is
// installed; read-only afterwards.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(UnsafeCell::new([MaybeUninit::uninit(); 2]));

const SIGNALS: [libc::c_int; 2] = [libc::SIGILL, libc::SIGSEGV];

/// Installs the crate's SIGILL and SIGSEGV handler, once per process.
///
/// # Panics
///
/// Panics if `sigaction` fails, which it does only for invalid arguments.
pub fn install() {
    INSTALL.call_once(|| {
        for (index, &signal) in SIGNALS.iter().enumerate() {
            // SAFETY: a zeroed `sigaction` is a valid value (empty mask, no flags). The
            // previous disposition is read into our static by a call of its own, which has
            // returned before our handler, which reads it, is installed. (Passing `oldact` to
            // the installing call would not do: the kernel installs the new action first and
            // the C library copies the old one out after, so a fault on another thread could
            // run our handler while the static is still unwritten.)
            unsafe {
                let previous = (*PREVIOUS.0.get())[index].as_mut_ptr();
                let rc = libc::sigaction(signal, core::ptr::null(), previous);
                assert_eq!(rc, 0, "sigaction({signal}) failed");
                let mut action: libc::sigaction = core::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let rc = libc::sigaction(signal, &action, core::ptr::null_mut());
                assert_eq!(rc, 0, "sigaction({signal}) failed");
            }
        }
    });
}

/// Whether [`install`] has run in this process.
pub fn is_installed() -> bool {
    INSTALL.is_completed()
}

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext for an SA_SIGINFO handler; they
    // are ours for the duration of the handler.
    unsafe {
        let from_kernel = (*info).si_code > 0;
        // The thread's model, if any, answers first; it may also pick the fault the
        // exception table then applies (see crate::emu).
        // A guest thread's trapped `cpuid` (software module, CPUID faulting).
        #[cfg(feature = "software-module")]
        if from_kernel && crate::module::on_cpuid_fault(context.cast()) {
            return;
        }
        #[cfg(feature = "emulator")]
        if from_kernel && crate::emu::on_fault(context.cast()) {
            return;
        }
        // Only the general-register array is borrowed: glibc's `ucontext_t` is larger than
        // the kernel's, so a reference to the whole struct would overlap the siginfo and
        // the XSAVE area the kernel placed after it.
        let gregs =
            &mut *core::ptr::addr_of_mut!((*context.cast::<libc::ucontext_t>()).uc_mcontext.gregs);
        if from_kernel && handle_fault(gregs) {
            return;
        }
        chain(signal, info, context);
    }
}

/// Applies the exception table to a fault's saved general registers. Returns whether the
/// fault was the crate's.
fn handle_fault(gregs: &mut [libc::greg_t; 23]) -> bool {
    let vector = gregs[libc::REG_TRAPNO as usize] as u64;
    let mut rip = gregs[libc::REG_RIP as usize] as u64;
    let mut rax = gregs[libc::REG_RAX as usize] as u64;
    if crate::fixup::fixup_exception(vector, &mut rip, &mut rax) {
        gregs[libc::REG_RIP as usize] = rip as i64;
        gregs[libc::REG_RAX as usize] = rax as i64;
        true
    } else {
        false
    }
}

/// Delivers a signal that is not the crate's to the disposition that was there before.
///
/// # Safety
///
/// Called only from `handler` with the kernel's arguments, after `install` stored the
/// previous dispositions.
unsafe fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let index = if signal == libc::SIGILL { 0 } else { 1 };
    // SAFETY: written by `install` before this handler could run; never written again.
    let previous = unsafe { (*PREVIOUS.0.get())[index].assume_init_ref() };
    let action = previous.sa_sigaction;
    if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // SAFETY: restoring the default disposition with a zeroed (valid) sigaction; raise
        // is async-signal-safe. A fault re-executes and takes the default action; a signal
        // sent by a process (si_code <= 0) is raised again, to the same effect.
        unsafe {
            let mut default: libc::sigaction = core::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &default, core::ptr::null_mut());
            if (*info).si_code <= 0 {
                libc::raise(signal);
            }
        }
        return;
    }
    // Run the previous handler under the mask the kernel would have given it: its own
    // `sa_mask` added, and the signal itself unblocked if it asked for SA_NODEFER (ours is
    // installed without it). `sigreturn` restores the interrupted mask either way.
    // SAFETY: pthread_sigmask, sigemptyset and sigaddset are async-signal-safe and work on
    // valid sets.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &previous.sa_mask, core::ptr::null_mut());
        if previous.sa_flags & libc::SA_NODEFER != 0 {
            let mut this_signal: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut this_signal);
            libc::sigaddset(&mut this_signal, signal);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &this_signal, core::ptr::null_mut());
        }
    }
    if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: with SA_SIGINFO the stored address is a three-argument handler.
        let previous_handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { core::mem::transmute(action) };
        previous_handler(signal, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the stored address is a one-argument handler.
        let previous_handler: extern "C" fn(libc::c_int) = unsafe { core::mem::transmute(action) };
        previous_handler(signal);
    }
}
