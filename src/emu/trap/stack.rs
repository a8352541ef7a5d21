//! Where a model runs: on a stack with room for it, with the interrupted code's signal mask.
//!
//! Rust gives every thread a small alternate signal stack (a few KiB, for its stack-overflow
//! message), and the crate's handler is installed with `SA_ONSTACK`, so by default the
//! handler, the signal frame and its XSAVE area would all share those few KiB with the
//! model. Two mechanisms keep that from mattering:
//!
//! 1. [`AltStack`]: while a model is installed, the thread's alternate signal stack is a
//!    [`MODEL_STACK_SIZE`] mapping of the crate's own, with a guard page below it; the
//!    previous one comes back when the guard is dropped, if the crate's is still the
//!    current one and the previous one is still mapped (see `AltStack`'s `Drop`). The handler, and the model it calls,
//!    run there directly. A signal delivered while the model runs (the model's own nested
//!    fault included) finds the thread already on its alternate stack and is pushed below
//!    the model's frames, as the kernel does for nested signals.
//! 2. If the handler finds itself on some other alternate stack (the program replaced the
//!    crate's after installing the model), it moves to the interrupted thread's own stack,
//!    below the thunk's frame, and switches the alternate stack off while the model runs, so
//!    a signal delivered then is pushed below the model instead of at the top of the
//!    alternate stack, where it would overwrite the frame the handler returns through. The
//!    alternate stack comes back, with every signal blocked, before the handler returns to
//!    it; `sigreturn` then restores the mask.
//!
//! In both cases the model runs with the signal mask the interrupted code had (saved by the
//! kernel in the signal context), so a TDX instruction inside a model raises its SIGILL
//! normally and takes the fixup path (the busy flag keeps the model from being re-entered).

use super::{run_job, Job};
use core::cell::Cell;

/// Size of the alternate signal stack a thread gets while it has a model installed. Only the
/// pages the model touches are committed.
pub const MODEL_STACK_SIZE: usize = 1 << 20;

std::thread_local! {
    /// Base (`ss_sp`) of the alternate stack `AltStack` gave this thread, or 0.
    static OWN_ALT_STACK: Cell<usize> = const { Cell::new(0) };
}

/// The crate's alternate signal stack for one thread, installed for the life of the value.
pub(super) struct AltStack {
    mapping: *mut libc::c_void,
    mapping_len: usize,
    /// `ss_sp` of the crate's stack, inside `mapping` above the guard page.
    stack: *mut libc::c_void,
    previous: libc::stack_t,
}

impl AltStack {
    /// Maps a [`MODEL_STACK_SIZE`] stack with a guard page and makes it the calling thread's
    /// alternate signal stack. `None` if that fails (out of memory, or called on the
    /// alternate stack itself); the handler then falls back to mechanism 2.
    pub(super) fn install() -> Option<AltStack> {
        let page = page_size();
        let mapping_len = MODEL_STACK_SIZE + page;
        // SAFETY: a fresh anonymous private mapping; nothing else refers to it.
        let mapping = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                mapping_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if mapping == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: the mapping is ours; the guard page and the stack are inside it. The
        // previous alternate stack is read in the same call that replaces it.
        unsafe {
            let guarded = libc::mprotect(mapping, page, libc::PROT_NONE) == 0;
            let stack = libc::stack_t {
                ss_sp: mapping.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: MODEL_STACK_SIZE,
            };
            let mut previous: libc::stack_t = core::mem::zeroed();
            if !guarded || libc::sigaltstack(&stack, &mut previous) != 0 {
                libc::munmap(mapping, mapping_len);
                return None;
            }
            OWN_ALT_STACK.with(|own| own.set(stack.ss_sp as usize));
            Some(AltStack {
                mapping,
                mapping_len,
                stack: stack.ss_sp,
                previous,
            })
        }
    }
}

impl Drop for AltStack {
    /// Puts the previous alternate stack back, but only if the thread's current one is still
    /// the crate's and the previous one is still mapped:
    ///
    /// - If the program set an alternate stack of its own after the install, that one stays.
    /// - At thread exit (a guard kept in a `thread_local!`), std has already switched the
    ///   alternate stack off and unmapped the one it gave the thread (its per-thread
    ///   stack-overflow handler is dropped when the thread's main function returns, before
    ///   thread-local destructors run). The current one is then not the crate's, so nothing
    ///   is put back: a signal later in the thread's exit runs on the thread's stack instead
    ///   of faulting on unmapped memory.
    /// - A previous stack that is no longer mapped (checked with `msync`, which fails with
    ///   ENOMEM on unmapped pages) is not put back; the alternate stack is switched off. A
    ///   previous stack whose memory was unmapped and then mapped again for something else
    ///   cannot be told apart from a live one.
    ///
    /// The crate's mapping is unmapped once it is no longer the thread's alternate stack;
    /// if it still is and cannot be switched off (the guard is dropped by a signal handler
    /// running on it), it is leaked rather than freed under the kernel's feet.
    fn drop(&mut self) {
        OWN_ALT_STACK.with(|own| own.set(0));
        // SAFETY: sigaltstack with a null new stack only reads the current one.
        let current = unsafe {
            let mut current: libc::stack_t = core::mem::zeroed();
            if libc::sigaltstack(core::ptr::null(), &mut current) != 0 {
                return; // Cannot tell: leak the mapping.
            }
            current
        };
        let still_ours = current.ss_flags & libc::SS_DISABLE == 0
            && current.ss_sp == self.stack
            && current.ss_size == MODEL_STACK_SIZE;
        if still_ours {
            if current.ss_flags & libc::SS_ONSTACK != 0 {
                return; // Running on it: leak the mapping.
            }
            let mut restore = self.previous;
            restore.ss_flags &= !libc::SS_ONSTACK;
            if restore.ss_flags & libc::SS_DISABLE == 0 && !is_mapped(&restore) {
                restore.ss_flags = libc::SS_DISABLE;
            }
            // SAFETY: a valid stack_t: the previous settings, checked above, or "off".
            if unsafe { libc::sigaltstack(&restore, core::ptr::null_mut()) } != 0 {
                return; // Still ours: leak the mapping.
            }
        }
        // SAFETY: the mapping is no longer the thread's alternate stack, so the kernel does
        // not deliver onto it, and nothing else refers to it.
        unsafe { libc::munmap(self.mapping, self.mapping_len) };
    }
}

/// Whether every page of `stack` is mapped.
fn is_mapped(stack: &libc::stack_t) -> bool {
    let page = page_size();
    let start = stack.ss_sp as usize & !(page - 1);
    let Some(end) = (stack.ss_sp as usize).checked_add(stack.ss_size) else {
        return false;
    };
    if end <= start {
        return false;
    }
    // SAFETY: msync with MS_ASYNC only checks the range (it writes nothing back for
    // anonymous memory, and schedules at most a writeback for a file mapping); `start` is
    // page-aligned. It fails with ENOMEM when part of the range is not mapped.
    unsafe { libc::msync(start as *mut libc::c_void, end - start, libc::MS_ASYNC) == 0 }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        size if size > 0 => size as usize,
        _ => 4096,
    }
}

/// Bytes left alone below the interrupted RSP: the System V red zone. The thunk does not use
/// it, but nothing is lost by respecting it.
const RED_ZONE: u64 = 128;

/// Runs the model of `job` (see the module docs for where).
///
/// # Safety
///
/// `job` stays valid for the call; `interrupted_rsp` is the RSP the kernel saved for the
/// fault, on this thread's stack, with nothing live below it.
pub(super) unsafe fn run(job: &mut Job<'_>, interrupted_rsp: u64) {
    let here = core::ptr::addr_of!(*job) as u64;
    let alt = &job.alternate_stack;
    let alt_base = alt.ss_sp as u64;
    let on_alternate_stack = alt.ss_flags & libc::SS_DISABLE == 0
        && (alt_base..alt_base + alt.ss_size as u64).contains(&here);
    // The interrupted code itself on the alternate stack (a TDX call from a signal handler):
    // the thunk's stack is this one, so there is nothing to switch to.
    let interrupted_on_it = alt.ss_flags & libc::SS_ONSTACK != 0;
    let own = alt_base as usize == OWN_ALT_STACK.with(Cell::get);
    if !on_alternate_stack || interrupted_on_it || own {
        // SAFETY: restoring a signal mask is async-signal-safe; a nested signal is pushed
        // below this frame on the stack in use.
        unsafe {
            libc::pthread_sigmask(
                libc::SIG_SETMASK,
                &job.interrupted_mask,
                core::ptr::null_mut(),
            )
        };
        run_job(job);
        return;
    }
    let top = (interrupted_rsp - RED_ZONE) & !15;
    // SAFETY: `top` is 16-byte aligned, on this thread's own stack below everything live
    // (the contract); the trampoline calls `run_on_thread_stack` there with `job` and
    // switches back before returning. No unwinding crosses it (the model's panics are
    // caught inside `run_job`).
    unsafe { tdxcall_emu_call_on_stack(top, (job as *mut Job<'_>).cast(), run_on_thread_stack) };
}

/// Mechanism 2, on the interrupted thread's stack: alternate stack off, interrupted mask,
/// model, every signal blocked, alternate stack back on.
extern "C" fn run_on_thread_stack(job: *mut core::ffi::c_void) {
    // SAFETY: `run` passes its exclusive `&mut Job`.
    let job = unsafe { &mut *job.cast::<Job<'_>>() };
    // SAFETY: plain syscall wrappers on valid arguments, all async-signal-safe. Switching
    // the alternate stack off is allowed: this code no longer runs on it.
    let disabled = unsafe {
        let mut off: libc::stack_t = core::mem::zeroed();
        off.ss_flags = libc::SS_DISABLE;
        libc::sigaltstack(&off, core::ptr::null_mut()) == 0
    };
    if disabled {
        // SAFETY: as above.
        unsafe {
            libc::pthread_sigmask(
                libc::SIG_SETMASK,
                &job.interrupted_mask,
                core::ptr::null_mut(),
            )
        };
    }
    // If switching off failed, the mask stays as the kernel set it for the handler.
    run_job(job);
    if disabled {
        // SAFETY: as above; every signal is blocked before the alternate stack is back, and
        // `sigreturn` restores the interrupted mask.
        unsafe {
            let mut all: libc::sigset_t = core::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, core::ptr::null_mut());
            let mut restore = job.alternate_stack;
            restore.ss_flags &= !libc::SS_ONSTACK;
            libc::sigaltstack(&restore, core::ptr::null_mut());
        }
    }
}

// The stack switch. It keeps the caller's RSP in RBP, with CFI describing that, so a
// backtrace taken inside the model (a panic message) walks back through it correctly.
core::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl tdxcall_emu_call_on_stack",
    ".hidden tdxcall_emu_call_on_stack",
    ".type tdxcall_emu_call_on_stack, @function",
    // rdi: new stack top (16-byte aligned), rsi: argument, rdx: function.
    "tdxcall_emu_call_on_stack:",
    ".cfi_startproc",
    "    push %rbp",
    ".cfi_def_cfa_offset 16",
    ".cfi_offset %rbp, -16",
    "    mov %rsp, %rbp",
    ".cfi_def_cfa_register %rbp",
    "    mov %rdi, %rsp",
    "    mov %rsi, %rdi",
    "    call *%rdx",
    "    mov %rbp, %rsp",
    ".cfi_def_cfa_register %rsp",
    "    pop %rbp",
    ".cfi_def_cfa_offset 8",
    "    ret",
    ".cfi_endproc",
    ".size tdxcall_emu_call_on_stack, . - tdxcall_emu_call_on_stack",
    options(att_syntax)
);

extern "C" {
    fn tdxcall_emu_call_on_stack(
        top: u64,
        argument: *mut core::ffi::c_void,
        function: extern "C" fn(*mut core::ffi::c_void),
    );
}
