//! The trap glue of the emulator (Linux x86-64 only): the per-thread model slot, [`install`]
//! and its guard, and the signal-handler hook that reads the interrupted thread's registers
//! and extended state out of the `ucontext_t`, runs the model (on the stack `stack` picks)
//! and writes its answer back. Everything else in `emu` (the data types a model sees and
//! answers with, the ready models) builds on any std target.

mod stack;

pub use self::stack::MODEL_STACK_SIZE;

use super::xstate::{self, ExtendedState};
use super::{
    BusyGuard, Call, Fault, Guarded, Model, Outcome, Registers, BUSY, FLAG_CF, STATUS_FLAGS,
};
use crate::fixup::{Site, SiteKind, VECTOR_GP, VECTOR_UD};
use crate::regs::RegSet;
use core::any::Any;
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::boxed::Box;

/// The type-erased model the thread-local slot points to.
trait Dispatch {
    fn dispatch(&mut self, call: &mut Call<'_>) -> Outcome;
}

impl<M: Model> Dispatch for Guarded<M> {
    fn dispatch(&mut self, call: &mut Call<'_>) -> Outcome {
        self.call(call)
    }
}

std::thread_local! {
    /// The model installed on this thread. Constant-initialized, no destructor: safe to read
    /// from the signal handler at any time.
    static CURRENT: Cell<Option<NonNull<dyn Dispatch>>> = const { Cell::new(None) };
}

/// Installs `model` on the calling thread and returns the guard that owns it.
///
/// Also installs the crate's fault handler (`signal::install`), so the raw thunks reach
/// the model without further set-up, and gives the thread a [`MODEL_STACK_SIZE`] alternate
/// signal stack for the model to run on. When the guard is dropped the previous one comes
/// back if the crate's is still the thread's alternate stack and the previous one is still
/// mapped; an alternate stack the program set in between stays. A guard may be kept in a
/// `thread_local!`: at thread exit std has already switched the alternate stack off and
/// unmapped its own, and it stays off.
///
/// # Panics
///
/// If the thread already has a model installed, or if called from inside a model.
pub fn install<M: Model + 'static>(model: M) -> Installed<M> {
    crate::signal::register_fault_hook(on_fault);
    crate::signal::install();
    xstate::warm_up();
    assert!(
        !BUSY.with(Cell::get),
        "emu::install called from inside a model"
    );
    assert!(
        CURRENT.with(Cell::get).is_none(),
        "emu::install: this thread already has a model installed"
    );
    let slot = NonNull::from(Box::leak(Box::new(Guarded::new(model))));
    let erased: NonNull<dyn Dispatch> = slot;
    CURRENT.with(|current| current.set(Some(erased)));
    Installed {
        slot,
        alt_stack: stack::AltStack::install(),
        _thread_bound: PhantomData,
    }
}

/// Whether the calling thread has a model installed.
pub fn is_installed() -> bool {
    CURRENT.with(Cell::get).is_some()
}

/// The guard of an installed model: owns it, and takes it off the thread when dropped.
///
/// Dropping the guard re-raises a panic the model raised and nobody took with
/// [`Installed::take_panic`] (unless the thread is already panicking).
#[must_use = "the model is uninstalled when the guard is dropped"]
pub struct Installed<M: Model + 'static> {
    slot: NonNull<Guarded<M>>,
    /// The thread's alternate signal stack while the model is installed (`None` if it could
    /// not be set up; the handler then uses the thread's stack).
    alt_stack: Option<stack::AltStack>,
    /// Not `Send`/`Sync`: the guard must uninstall on the thread it installed on.
    _thread_bound: PhantomData<*mut M>,
}

impl<M: Model + 'static> Installed<M> {
    /// Lends the model to `f`, to read what it recorded or change its script. While `f`
    /// runs the thread is busy: a TDX call made inside `f` does not reach the model but takes
    /// the fixup path.
    ///
    /// # Panics
    ///
    /// If called from inside a model.
    pub fn with<R>(&mut self, f: impl FnOnce(&mut M) -> R) -> R {
        let _busy = BusyGuard::enter().expect("Installed::with called from inside a model");
        // SAFETY: the slot is alive while the guard is; `&mut self` excludes other `with`
        // calls, and the busy flag keeps the signal handler from using the model until
        // `_busy` is dropped, after `f` returns or unwinds.
        f(unsafe { &mut (*self.slot.as_ptr()).model })
    }

    /// Takes the panic the model raised during a call, if any. The model is answered with
    /// #UD for every call after a panic; taking the panic resumes calling it.
    pub fn take_panic(&mut self) -> Option<Box<dyn Any + Send>> {
        let _busy = BusyGuard::enter().expect("Installed::take_panic called from inside a model");
        // SAFETY: as in `with`.
        unsafe { (*self.slot.as_ptr()).take_panic() }
    }

    /// Uninstalls the model and returns it. Re-raises a panic the model raised (see the type
    /// docs).
    pub fn into_inner(self) -> M {
        let mut this = core::mem::ManuallyDrop::new(self);
        let slot = this.uninstall();
        drop(this.alt_stack.take());
        (*slot).into_model()
    }

    fn uninstall(&self) -> Box<Guarded<M>> {
        CURRENT.with(|current| {
            let installed = current.get().map(|model| model.as_ptr() as *mut ());
            assert_eq!(
                installed,
                Some(self.slot.as_ptr() as *mut ()),
                "emu: uninstalling a model that is not the thread's current one"
            );
            current.set(None);
        });
        // SAFETY: the slot came from `Box::leak` in `install` and is freed only here, once:
        // the caller forgets or drops the guard right after.
        unsafe { Box::from_raw(self.slot.as_ptr()) }
    }
}

impl<M: Model + 'static> Drop for Installed<M> {
    fn drop(&mut self) {
        self.uninstall().reraise();
    }
}

impl<M: Model + 'static> core::fmt::Debug for Installed<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Installed")
            .field("model", &core::any::type_name::<M>())
            .finish()
    }
}

/// The signal-handler hook, called by `signal::handler` for a fault the kernel raised,
/// before the exception table is applied.
///
/// Returns `true` when the model completed the instruction (registers and RIP updated in the
/// context): the handler just returns. Returns `false` otherwise, possibly with the trap
/// number in the context changed to the fault the model chose; the exception table then
/// applies as usual.
///
/// # Safety
///
/// `context` is the `ucontext_t` the kernel passed to an `SA_SIGINFO` handler for a signal
/// it raised itself, on this thread, and is not otherwise referenced during the call.
pub(crate) unsafe fn on_fault(context: *mut libc::ucontext_t) -> bool {
    let Some(model) = CURRENT.with(Cell::get) else {
        return false;
    };
    // SAFETY: `context` is valid and unaliased (the contract). The register array lies in
    // the kernel's part of the ucontext, apart from the fpstate and signal-mask bytes read
    // below through their own pointers.
    let gregs = unsafe { &mut *core::ptr::addr_of_mut!((*context).uc_mcontext.gregs) };
    let vector = gregs[libc::REG_TRAPNO as usize] as u64;
    if vector != u64::from(VECTOR_UD) && vector != u64::from(VECTOR_GP) {
        return false;
    }
    let Some(site) = crate::fixup::site_at(gregs[libc::REG_RIP as usize] as u64) else {
        return false;
    };
    // The exception-table entry names the thunk (SEAMCALL or TDCALL, scrubbing or not)
    // and the registers it moves.
    let kind = site.thunk;
    let Some(_busy) = BusyGuard::enter() else {
        // A TDX instruction inside a model, or inside `Installed::with`: not emulated.
        return false;
    };

    let registers = read_registers(gregs);
    // SAFETY: the kernel points `fpregs` at the fpstate of this signal frame, which lives
    // until the handler returns; nothing else references it during the call.
    let extended =
        unsafe { ExtendedState::from_signal_frame((*context).uc_mcontext.fpregs.cast::<u8>()) };
    let mut job = Job {
        model,
        call: Call {
            site,
            kind,
            vector: vector as u8,
            rsp: gregs[libc::REG_RSP as usize] as u64,
            registers,
            extended,
        },
        // SAFETY: `context` is valid; `uc_stack` and the first 8 bytes of `uc_sigmask` are
        // in the kernel's ucontext.
        interrupted_mask: unsafe { interrupted_mask(context) },
        // SAFETY: as above.
        alternate_stack: unsafe { (*context).uc_stack },
        outcome: Outcome::Fault(Fault::Ud),
    };
    let interrupted_rsp = job.call.rsp;
    // SAFETY: `job` lives on this frame for the whole call; the RSP is the interrupted
    // thread's, inside the thunk, with nothing live below it.
    unsafe { stack::run(&mut job, interrupted_rsp) };

    match job.outcome {
        Outcome::Return(answer) => {
            write_registers(gregs, &answer, site.regs);
            gregs[libc::REG_RIP as usize] = (site.instruction + Site::INSTRUCTION_LEN) as i64;
            true
        }
        Outcome::VmFailInvalid if site.kind == SiteKind::Seamcall => {
            gregs[libc::REG_EFL as usize] |= FLAG_CF as i64;
            gregs[libc::REG_RIP as usize] = (site.instruction + Site::INSTRUCTION_LEN) as i64;
            true
        }
        Outcome::VmFailInvalid => {
            gregs[libc::REG_TRAPNO as usize] = i64::from(VECTOR_UD);
            false
        }
        Outcome::Fault(fault) => {
            gregs[libc::REG_TRAPNO as usize] = i64::from(fault.vector());
            false
        }
    }
}

fn read_registers(gregs: &[libc::greg_t; 23]) -> Registers {
    let get = |index: libc::c_int| gregs[index as usize] as u64;
    Registers {
        rax: get(libc::REG_RAX),
        rbx: get(libc::REG_RBX),
        rcx: get(libc::REG_RCX),
        rdx: get(libc::REG_RDX),
        rsi: get(libc::REG_RSI),
        rdi: get(libc::REG_RDI),
        rbp: get(libc::REG_RBP),
        r8: get(libc::REG_R8),
        r9: get(libc::REG_R9),
        r10: get(libc::REG_R10),
        r11: get(libc::REG_R11),
        r12: get(libc::REG_R12),
        r13: get(libc::REG_R13),
        r14: get(libc::REG_R14),
        r15: get(libc::REG_R15),
        rflags: get(libc::REG_EFL),
    }
}

/// Writes the answer into the frame: RAX, the status flags, and only the registers of the
/// site's set. A narrow thunk neither stores nor saves the others (the module never writes
/// them for the leaves that use it), so a model's value there would reach the caller's
/// registers, callee-saved ones included; it is dropped instead.
fn write_registers(gregs: &mut [libc::greg_t; 23], answer: &Registers, regs: RegSet) {
    gregs[libc::REG_RAX as usize] = answer.rax as i64;
    let mut set = |hw: u8, index: libc::c_int, value: u64| {
        if regs.holds_index(hw) {
            gregs[index as usize] = value as i64;
        }
    };
    set(3, libc::REG_RBX, answer.rbx);
    set(1, libc::REG_RCX, answer.rcx);
    set(2, libc::REG_RDX, answer.rdx);
    set(6, libc::REG_RSI, answer.rsi);
    set(7, libc::REG_RDI, answer.rdi);
    set(5, libc::REG_RBP, answer.rbp);
    set(8, libc::REG_R8, answer.r8);
    set(9, libc::REG_R9, answer.r9);
    set(10, libc::REG_R10, answer.r10);
    set(11, libc::REG_R11, answer.r11);
    set(12, libc::REG_R12, answer.r12);
    set(13, libc::REG_R13, answer.r13);
    set(14, libc::REG_R14, answer.r14);
    set(15, libc::REG_R15, answer.r15);
    let flags = gregs[libc::REG_EFL as usize] as u64;
    gregs[libc::REG_EFL as usize] =
        ((flags & !STATUS_FLAGS) | (answer.rflags & STATUS_FLAGS)) as i64;
}

/// The signal mask of the interrupted code, as the kernel saved it. The kernel stores only
/// the first 64 signals (8 bytes); glibc's `sigset_t` is longer, so only those bytes are
/// copied into a fresh set.
///
/// # Safety
///
/// `context` is a kernel-provided ucontext.
unsafe fn interrupted_mask(context: *mut libc::ucontext_t) -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is the empty set.
    let mut mask: libc::sigset_t = unsafe { core::mem::zeroed() };
    // SAFETY: both sets are at least 8 bytes; the source is the kernel's saved mask.
    unsafe {
        core::ptr::copy_nonoverlapping(
            core::ptr::addr_of!((*context).uc_sigmask).cast::<u8>(),
            core::ptr::addr_of_mut!(mask).cast::<u8>(),
            8,
        );
    }
    mask
}

/// Everything the model run needs, passed through the stack switch as one pointer.
struct Job<'a> {
    model: NonNull<dyn Dispatch>,
    call: Call<'a>,
    interrupted_mask: libc::sigset_t,
    /// The alternate-stack settings at delivery (`uc_stack`).
    alternate_stack: libc::stack_t,
    outcome: Outcome,
}

/// Runs the model of `job` and stores its outcome. Called on a stack with room for it (see
/// `stack`).
fn run_job(job: &mut Job<'_>) {
    // SAFETY: the slot outlives the call (its guard cannot be dropped while this thread is
    // inside the handler), and the busy flag set by `on_fault` makes this the only use.
    let model = unsafe { &mut *job.model.as_ptr() };
    job.outcome = model.dispatch(&mut job.call);
}
