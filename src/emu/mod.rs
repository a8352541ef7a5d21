//! Trap-and-emulate (feature `emulator`, Linux x86-64): the crate's own SEAMCALL and TDCALL
//! instruction sites answered by a Rust model in user space.
//!
//! On a machine without TDX both instructions raise #UD (or #GP), which Linux delivers as
//! SIGILL (or SIGSEGV). The crate's signal handler (`signal`) already catches those faults at
//! its own instruction sites. With this feature, before the exception table is applied, the
//! handler hands the faulting thread's full register file and the signal frame's extended
//! state to the [`Model`] installed on that thread. The model plays the TDX module (or, for
//! TDG.VP.VMCALL, the VMM) and answers with an [`Outcome`]:
//!
//! | outcome | what the interrupted thunk sees |
//! |---|---|
//! | [`Outcome::Return`] | every general register (RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8-R15) and the status flags of RFLAGS as the model wrote them; RIP moves past the 4-byte instruction |
//! | [`Outcome::VmFailInvalid`] | at a SEAMCALL site: CF=1, every register unchanged, RIP past the instruction, as the CPU does for VMfailInvalid; the thunk returns [`Status::SEAMCALL_VMFAILINVALID`](crate::Status::SEAMCALL_VMFAILINVALID). TDCALL has no VMfailInvalid: at a TDCALL site it is delivered as #UD |
//! | [`Outcome::Fault`] | a #UD or #GP on the instruction: the normal fixup path runs and the thunk returns the software code for that fault |
//!
//! Any outcome may come with edits to the extended state ([`ExtendedState`]: MXCSR, XMM0-15,
//! and every XSAVE component the frame holds), which the kernel loads into the registers
//! when the handler returns, as the real module does when it clears XMM registers or resets
//! state on a TD exit.
//!
//! So every thunk, every wrapper and every fault path runs for real; only the other side of
//! the instruction is replaced.
//!
//! # Installing a model
//!
//! [`install`] puts a model on the calling thread and returns an [`Installed`] guard that
//! owns it and takes it off when dropped. Models are per thread, so tests running in
//! parallel never see each other's calls. With no model installed (or on another thread) a
//! fault takes the fixup path as before. One model per thread at a time: [`install`] panics
//! if the thread already has one. The guard gives the model back with
//! [`Installed::with`] (to read what a [`Recorder`] saw, say) and [`Installed::into_inner`].
//!
//! Ready models: [`Recorder`] records every call and answers from a script of [`Answer`]s
//! or from a closure; [`FaultInjector`] answers every call with one chosen [`Answer`]. Any
//! `FnMut(&mut Call<'_>) -> Outcome + 'static` closure is a model too.
//!
//! # Why running Rust code in this signal handler is sound
//!
//! A signal handler may normally call only async-signal-safe functions, because it can
//! interrupt any instruction: the middle of `malloc`, a held lock, a half-updated data
//! structure. None of that applies here:
//!
//! - The signal is synchronous: the model runs only for a #UD or #GP that the kernel reports
//!   (`si_code > 0`) at one of the crate's own instruction sites (looked up in the exception
//!   table), on the thread that executed it. Another process's `kill` or another thread's
//!   fault never reaches a model.
//! - At that instruction the interrupted code is the crate's thunk, a leaf assembly function
//!   that holds no lock, owns no heap data and is in the middle of nothing but loading
//!   registers. Everything above it on the stack made an ordinary function call into the
//!   thunk. Running the model there is, for every lock, allocation and data structure, the
//!   same as if the thunk had called the model as a plain function: what would be sound in
//!   such a call is sound here.
//! - The thread-local state the handler reads (the installed model, a busy flag) is
//!   constant-initialized and has no destructor, so reading it never allocates or registers
//!   anything, whatever the thread's state.
//! - Before the model runs the handler restores the signal mask the interrupted code had
//!   (the kernel saved it in the signal context), so the model runs with the signals the
//!   caller of the thunk would have seen; `sigreturn` puts back whatever the handler had.
//! - Stack: on Rust threads the handler runs on the alternate signal stack, which std makes a
//!   few KiB large. While a model is installed the thread's alternate stack is instead a
//!   1 MiB mapping of the crate's (with a guard page; the previous one is put back when the
//!   guard is dropped, unless the program set its own meanwhile or the previous one is gone,
//!   as std's is when a guard kept in a thread-local is dropped at thread exit), so the
//!   model has room, and a signal delivered while it runs is
//!   pushed below it on the same stack. If the program replaces that alternate stack, the
//!   handler moves to the interrupted thread's own stack for the model instead and switches
//!   the alternate stack off meanwhile (details in `stack.rs`).
//! - A panic must not unwind out of an `extern "C"` signal handler. The handler catches a
//!   model's panic, answers the call with #UD, keeps the payload, and answers every later
//!   call on that model with #UD without calling it. The guard re-raises the panic when it is
//!   dropped (or hands it over with [`Installed::take_panic`]), so a failed assertion inside
//!   a model still fails the test. With `panic = "abort"` a model panic aborts.
//! - The guard owns the model in a heap allocation; the thread-local slot holds a pointer
//!   to it. Leaking the guard leaks the model, so the pointer never dangles; models are
//!   `'static`, so a leaked model holds no dangling borrow either. The guard is neither
//!   `Send` nor `Sync`: it always uninstalls on the thread it installed on.
//! - While the model runs, and while [`Installed::with`] lends it out, the thread is marked
//!   busy; a TDX instruction executed then (by the model itself, or inside `with`) does not
//!   reach the model again but takes the fixup path and returns the #UD or #GP software
//!   code, so the model is never entered twice.
//!
//! # What a model must not do
//!
//! - Take a lock, or a `RefCell` borrow, that the thunk's caller holds: the model runs in
//!   the middle of that caller, exactly as a function it called would. This includes the
//!   allocator's lock when a global allocator itself issues TDX calls (a guest allocator that
//!   accepts pages, say): such a model must not allocate. A model shared by several threads
//!   (a software TDX module, with host and guest threads) keeps its state behind its own
//!   `Mutex`; that is fine as long as no thread calls a thunk while holding that mutex.
//! - Leave the handler by any way other than returning: no `longjmp`, no unwinding (caught,
//!   see above), no `exit` from the middle of a call a test still expects to finish.
//! - Expect its TDX instructions to be emulated: they take the fixup path (see above).
//! - Install or uninstall models ([`install`] panics while a model runs).
//! - Use more than 1 MiB of stack, or replace the thread's alternate signal stack while a
//!   model is installed (that works, but costs three more system calls per call). A stack
//!   overflow in a model kills the process with SIGSEGV, without Rust's stack-overflow
//!   message.
//! - Put extended state the CPU rejects into the frame (an AMX tile configuration the CPU
//!   refuses, say): the kernel then fails the `sigreturn` and kills the process with SIGSEGV.
//!   [`ExtendedState`] checks what it can (MXCSR reserved bits, component bounds); raw
//!   component bytes are the model's responsibility.
//!
//! # Example
//!
//! ```
//! use tdxcall::call::{thunk, CallKind};
//! use tdxcall::emu::{self, Answer, Recorder};
//! use tdxcall::{Regs, Status};
//!
//! let mut installed = emu::install(Recorder::scripted([Answer::Status(Status::SUCCESS)]));
//! let mut regs = Regs { rcx: 0x1000, ..Regs::ZERO };
//! // SAFETY: the model answers; no TDX module is reached.
//! let status = unsafe { thunk::tdcall(6, &mut regs) };
//! assert_eq!(status, Status::SUCCESS);
//! installed.with(|recorder| {
//!     let call = &recorder.records()[0];
//!     assert_eq!(call.kind, CallKind::Tdcall);
//!     assert_eq!((call.registers.rax, call.registers.rcx), (6, 0x1000));
//! });
//! ```

mod models;
mod stack;
mod xstate;

pub use self::models::{Answer, FaultInjector, Record, Recorder};
pub use self::stack::MODEL_STACK_SIZE;
pub use self::xstate::{ExtendedState, XStateError, FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2};

use crate::call::CallKind;
use crate::fixup::{Site, SiteKind, VECTOR_GP, VECTOR_UD};
use crate::regs::{RegSet, Regs};
use core::any::Any;
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use std::boxed::Box;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// RFLAGS bits a model's answer sets: CF, PF, AF, ZF, SF and OF. The other bits (TF, DF,
/// IF, AC, ...) keep the interrupted code's values: the TDX module only reports through the
/// status flags, and the kernel would refuse or mask most of the others anyway.
pub const STATUS_FLAGS: u64 = 0x8D5;
/// RFLAGS carry flag: set by SEAMCALL for VMfailInvalid.
pub const FLAG_CF: u64 = 1 << 0;

/// The register file at the instruction, as the model sees it and answers it.
///
/// RAX holds the leaf on the way in and the completion status on the way out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Registers {
    /// RAX: leaf and version in, status out.
    pub rax: u64,
    /// RBX.
    pub rbx: u64,
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
    /// RSI.
    pub rsi: u64,
    /// RDI.
    pub rdi: u64,
    /// RBP. The thunks save and restore it around the instruction, so a model may change it
    /// (the module zeroes it on some TD exits) without the caller noticing.
    pub rbp: u64,
    /// R8.
    pub r8: u64,
    /// R9.
    pub r9: u64,
    /// R10.
    pub r10: u64,
    /// R11.
    pub r11: u64,
    /// R12.
    pub r12: u64,
    /// R13.
    pub r13: u64,
    /// R14.
    pub r14: u64,
    /// R15.
    pub r15: u64,
    /// RFLAGS. On the way out only [`STATUS_FLAGS`] are taken from the model.
    pub rflags: u64,
}

impl Registers {
    /// The 13 registers of [`Regs`] (everything but RAX, RBP and RFLAGS).
    pub fn regs(&self) -> Regs {
        Regs {
            rcx: self.rcx,
            rdx: self.rdx,
            r8: self.r8,
            r9: self.r9,
            r10: self.r10,
            r11: self.r11,
            r12: self.r12,
            r13: self.r13,
            r14: self.r14,
            r15: self.r15,
            rbx: self.rbx,
            rdi: self.rdi,
            rsi: self.rsi,
        }
    }

    /// Sets the 13 registers of [`Regs`], leaving RAX, RBP and RFLAGS alone.
    pub fn set_regs(&mut self, regs: &Regs) {
        self.rcx = regs.rcx;
        self.rdx = regs.rdx;
        self.r8 = regs.r8;
        self.r9 = regs.r9;
        self.r10 = regs.r10;
        self.r11 = regs.r11;
        self.r12 = regs.r12;
        self.r13 = regs.r13;
        self.r14 = regs.r14;
        self.r15 = regs.r15;
        self.rbx = regs.rbx;
        self.rdi = regs.rdi;
        self.rsi = regs.rsi;
    }

    /// These registers with RAX = `status` and the status flags cleared (the way SEAMCALL's
    /// VMsucceed and a completed TDCALL leave them): the answer of a module that wrote no
    /// output register.
    pub fn with_status(mut self, status: crate::Status) -> Registers {
        self.rax = status.raw();
        self.rflags &= !STATUS_FLAGS;
        self
    }
}

/// A fault the model raises instead of completing the instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// #UD, invalid opcode.
    Ud,
    /// #GP, general protection.
    Gp,
}

impl Fault {
    /// The exception vector (6 or 13).
    pub const fn vector(self) -> u8 {
        match self {
            Fault::Ud => VECTOR_UD,
            Fault::Gp => VECTOR_GP,
        }
    }
}

/// How a model answers one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The instruction completes with these registers (only [`STATUS_FLAGS`] of `rflags`
    /// are used); execution resumes after it.
    Return(Registers),
    /// SEAMCALL VMfailInvalid: CF=1, registers unchanged. Delivered as #UD at a TDCALL site,
    /// which has no such outcome.
    VmFailInvalid,
    /// The instruction faults; the crate's fixup path runs.
    Fault(Fault),
}

/// One trapped call, as the model sees it.
#[derive(Debug)]
pub struct Call<'a> {
    site: Site,
    kind: CallKind,
    vector: u8,
    rsp: u64,
    registers: Registers,
    extended: Option<ExtendedState<'a>>,
}

impl<'a> Call<'a> {
    /// A call that did not come from a fault, for driving a model directly (a unit test of
    /// the model itself, or a backend that calls models without a signal). `extended` is the
    /// extended state to expose, if any.
    pub fn new(
        site: Site,
        kind: CallKind,
        registers: Registers,
        extended: Option<ExtendedState<'a>>,
    ) -> Call<'a> {
        Call {
            site,
            kind,
            vector: VECTOR_UD,
            rsp: 0,
            registers,
            extended,
        }
    }

    /// The instruction site that trapped.
    pub fn site(&self) -> Site {
        self.site
    }

    /// The thunk the site belongs to, so the model knows SEAMCALL from the scrubbing
    /// SEAMCALL (TDH.VP.ENTER) and TDCALL from TDG.VP.VMCALL.
    pub fn kind(&self) -> CallKind {
        self.kind
    }

    /// The leaf and version (RAX on input).
    pub fn leaf(&self) -> u64 {
        self.registers.rax
    }

    /// The exception the CPU raised (6, #UD, on machines without TDX; 13, #GP, elsewhere).
    pub fn vector(&self) -> u8 {
        self.vector
    }

    /// RSP at the instruction (read only: the thunk's stack).
    pub fn rsp(&self) -> u64 {
        self.rsp
    }

    /// The registers at the instruction.
    pub fn registers(&self) -> &Registers {
        &self.registers
    }

    /// The extended (x87/SSE/AVX/...) state the kernel saved in the signal frame; edits are
    /// loaded into the registers when execution resumes. `None` only if the frame has none.
    pub fn extended_state(&mut self) -> Option<&mut ExtendedState<'a>> {
        self.extended.as_mut()
    }

    /// [`Outcome::Return`] with the input registers, RAX = `status` and the status flags
    /// cleared: the answer of a module that wrote no output register.
    pub fn complete(&self, status: crate::Status) -> Outcome {
        Outcome::Return(self.registers.with_status(status))
    }
}

/// A model of whatever is on the other side of the instruction: the TDX module for SEAMCALL
/// and TDCALL, the VMM for TDG.VP.VMCALL.
///
/// See the [module docs](self) for what a model must not do.
pub trait Model {
    /// Answers one trapped call.
    fn call(&mut self, call: &mut Call<'_>) -> Outcome;
}

impl<F: FnMut(&mut Call<'_>) -> Outcome> Model for F {
    fn call(&mut self, call: &mut Call<'_>) -> Outcome {
        self(call)
    }
}

/// The type-erased model the thread-local slot points to.
trait Dispatch {
    fn dispatch(&mut self, call: &mut Call<'_>) -> Outcome;
}

/// What the guard owns: the model and the panic it raised, if any.
struct Slot<M> {
    model: M,
    panic: Option<Box<dyn Any + Send>>,
}

impl<M: Model> Dispatch for Slot<M> {
    fn dispatch(&mut self, call: &mut Call<'_>) -> Outcome {
        if self.panic.is_some() {
            return Outcome::Fault(Fault::Ud);
        }
        let model = &mut self.model;
        // The model is not used again after a panic (see above), so a half-updated model
        // is never observed: asserting unwind safety is right.
        match catch_unwind(AssertUnwindSafe(|| model.call(call))) {
            Ok(outcome) => outcome,
            Err(payload) => {
                self.panic = Some(payload);
                Outcome::Fault(Fault::Ud)
            }
        }
    }
}

std::thread_local! {
    /// The model installed on this thread. Constant-initialized, no destructor: safe to read
    /// from the signal handler at any time.
    static CURRENT: Cell<Option<NonNull<dyn Dispatch>>> = const { Cell::new(None) };
    /// Set while the model runs or is lent out by `Installed::with`.
    static BUSY: Cell<bool> = const { Cell::new(false) };
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
    let slot = NonNull::from(Box::leak(Box::new(Slot { model, panic: None })));
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
    slot: NonNull<Slot<M>>,
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
        unsafe { (*self.slot.as_ptr()).panic.take() }
    }

    /// Uninstalls the model and returns it. Re-raises a panic the model raised (see the type
    /// docs).
    pub fn into_inner(self) -> M {
        let mut this = core::mem::ManuallyDrop::new(self);
        let slot = this.uninstall();
        drop(this.alt_stack.take());
        if let Some(payload) = slot.panic {
            resume_unwind(payload);
        }
        slot.model
    }

    fn uninstall(&self) -> Box<Slot<M>> {
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
        let slot = self.uninstall();
        if let Some(payload) = slot.panic {
            if !std::thread::panicking() {
                resume_unwind(payload);
            }
        }
    }
}

impl<M: Model + 'static> core::fmt::Debug for Installed<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Installed")
            .field("model", &core::any::type_name::<M>())
            .finish()
    }
}

/// Whether a model is running (or lent out) on this thread: the code running now is the
/// model's, not the program's. Safe in a signal handler.
#[cfg(feature = "software-module")]
pub(crate) fn in_model() -> bool {
    BUSY.with(Cell::get)
}

/// Runs `f` as a model call made without a signal (the software module's direct backend):
/// the thread is marked busy meanwhile, exactly as while the signal handler runs a model, so
/// the module's own code is told apart from the program's ([`in_model`]) and a TDX
/// instruction executed inside `f` takes the fixup path. `None`, without running `f`, if the
/// thread is already busy (inside a model, or inside [`Installed::with`]).
#[cfg(feature = "software-module")]
pub(crate) fn run_unsignalled<R>(f: impl FnOnce() -> R) -> Option<R> {
    let _busy = BusyGuard::enter()?;
    Some(f())
}

/// Marks the thread busy for its lifetime; `None` if it already was.
struct BusyGuard;

impl BusyGuard {
    fn enter() -> Option<BusyGuard> {
        BUSY.with(|busy| {
            if busy.replace(true) {
                None
            } else {
                Some(BusyGuard)
            }
        })
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        BUSY.with(|busy| busy.set(false));
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
