//! Trap-and-emulate (feature `emulator`; the trap itself on Linux x86-64 only): the crate's
//! own SEAMCALL and TDCALL instruction sites answered by a Rust model in user space.
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
//! # What needs Linux and x86-64
//!
//! The trap: [`install`], [`Installed`], [`is_installed`], [`MODEL_STACK_SIZE`], the
//! signal-handler hook with its `ucontext_t` and alternate stack (`emu/trap.rs`), and
//! `ExtendedState::from_signal_frame` with the XSAVE layout from CPUID and the
//! [`FP_XSTATE_MAGIC1`]/[`FP_XSTATE_MAGIC2`] markers (`emu/xstate/frame.rs`). The rest
//! builds on every std target: [`Model`], [`Call`] (with [`Call::new`], to drive a model
//! without a trap), [`Outcome`], [`Registers`], [`Fault`], [`ExtendedState`] over an
//! in-memory FXSAVE image ([`ExtendedState::from_legacy_image`]), and the ready models
//! [`Recorder`] and [`FaultInjector`]. That is what the software module's in-process backend
//! (`module::Direct`) needs; CI checks it with `cargo check --target
//! aarch64-unknown-linux-gnu`.
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
//! # #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
//! # fn main() {
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
//! # }
//! # #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
//! # fn main() {}
//! ```

mod models;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod trap;
mod xstate;

pub use self::models::{Answer, FaultInjector, Record, Recorder};
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub use self::trap::{install, is_installed, Installed, MODEL_STACK_SIZE};
pub use self::xstate::{ExtendedState, XStateError};
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub use self::xstate::{FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2};

use crate::call::CallKind;
use crate::fixup::{Site, VECTOR_GP, VECTOR_UD};
use crate::regs::Regs;
use core::cell::Cell;

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

std::thread_local! {
    /// Set while the model runs or is lent out by `Installed::with`. Constant-initialized,
    /// no destructor: safe to read from the signal handler at any time.
    static BUSY: Cell<bool> = const { Cell::new(false) };
}

/// Whether a model is running (or lent out) on this thread: the code running now is the
/// model's, not the program's. Safe in a signal handler.
#[cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]
pub(crate) fn in_model() -> bool {
    BUSY.with(Cell::get)
}

/// Runs `f` as a model call made without a signal (the software module's direct backend):
/// the thread is marked busy meanwhile, exactly as while the signal handler runs a model, so
/// the module's own code is told apart from the program's (`in_model`) and a TDX
/// instruction executed inside `f` takes the fixup path. `None`, without running `f`, if the
/// thread is already busy (inside a model, or inside `Installed::with`).
#[cfg(feature = "software-module")]
pub(crate) fn run_unsignalled<R>(f: impl FnOnce() -> R) -> Option<R> {
    let _busy = BusyGuard::enter()?;
    Some(f())
}

/// A model and the panic it raised, if any: what a panicking model means, decided once for
/// the trap ([`Installed`](crate::emu::Installed), Linux x86-64) and the software module's
/// in-process backend (`module::Direct`). A panic is caught and kept; that call and every
/// later one answer #UD without calling the model, so a half-updated model is never
/// observed, until the owner takes the panic. The owner re-raises a panic nobody took when it
/// gives the model back ([`Guarded::into_model`]) or is dropped ([`Guarded::reraise`]).
#[cfg_attr(
    not(any(
        feature = "software-module",
        all(target_os = "linux", target_arch = "x86_64")
    )),
    allow(dead_code)
)]
pub(crate) struct Guarded<M> {
    /// The model.
    pub(crate) model: M,
    panic: Option<std::boxed::Box<dyn core::any::Any + Send>>,
}

#[cfg_attr(
    not(any(
        feature = "software-module",
        all(target_os = "linux", target_arch = "x86_64")
    )),
    allow(dead_code)
)]
impl<M: Model> Guarded<M> {
    /// `model`, not panicked.
    pub(crate) const fn new(model: M) -> Guarded<M> {
        Guarded { model, panic: None }
    }

    /// One call: the model's outcome, or #UD when it panics now or has panicked before.
    pub(crate) fn call(&mut self, call: &mut Call<'_>) -> Outcome {
        if self.panic.is_some() {
            return Outcome::Fault(Fault::Ud);
        }
        let model = &mut self.model;
        // The model is not used again after a panic (see above), so a half-updated model
        // is never observed: asserting unwind safety is right.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.call(call))) {
            Ok(outcome) => outcome,
            Err(payload) => {
                self.panic = Some(payload);
                Outcome::Fault(Fault::Ud)
            }
        }
    }

    /// Whether a panic is kept.
    pub(crate) fn panicked(&self) -> bool {
        self.panic.is_some()
    }

    /// The kept panic, if any; the model is called again from the next call on.
    pub(crate) fn take_panic(&mut self) -> Option<std::boxed::Box<dyn core::any::Any + Send>> {
        self.panic.take()
    }

    /// The model; re-raises a kept panic instead.
    pub(crate) fn into_model(self) -> M {
        if let Some(payload) = self.panic {
            std::panic::resume_unwind(payload);
        }
        self.model
    }

    /// For the owner's `Drop`: re-raises a kept panic, unless the thread is already panicking.
    pub(crate) fn reraise(&mut self) {
        if let Some(payload) = self.panic.take() {
            if !std::thread::panicking() {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

/// Marks the thread busy for its lifetime; `None` if it already was. Used by the trap glue
/// (Linux x86-64) and the direct backend (feature `software-module`); with neither (feature
/// `emulator` alone on another target) nothing marks the thread busy.
#[cfg_attr(
    not(any(
        feature = "software-module",
        all(target_os = "linux", target_arch = "x86_64")
    )),
    allow(dead_code)
)]
struct BusyGuard;

#[cfg_attr(
    not(any(
        feature = "software-module",
        all(target_os = "linux", target_arch = "x86_64")
    )),
    allow(dead_code)
)]
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
