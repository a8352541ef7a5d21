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
//! the native backend has it, and `emu::install` calls it too. Code that calls the raw thunks
//! in [`crate::call::thunk`] calls [`install`] itself first. [`install`] is thread-safe and
//! cheap when the crate's handler is already in place (two `sigaction` queries).
//!
//! A program may install its own SIGILL or SIGSEGV handler after the crate's. [`is_installed`]
//! then says `false` (it reads the current dispositions, it does not remember), and the next
//! [`install`] (the next `Native::new`, `Host::native`, `Guest::native`) puts the crate's
//! back in front, chaining to the program's. Without that, a TDX instruction under a program
//! handler that returns would fault again forever.
//!
//! # Layers above
//!
//! This is the base layer: it names no feature-gated module. A layer above it that answers
//! faults itself (the emulator's per-thread model, `emu::install`; the software module's
//! CPUID trap) registers a hook with `register_fault_hook` before it installs the handler;
//! the handler offers every fault the kernel raised to the registered hooks, in registration
//! order, before it applies the exception table.
//!
//! # Chaining
//!
//! The dispositions the crate's handler replaces are kept. A signal that is not a #UD or #GP
//! at one of the crate's instruction sites goes to the disposition replaced last, as the
//! kernel would have delivered it: `sa_sigaction` with the same arguments, or `sa_handler`,
//! running with its own `sa_mask` blocked and, under its SA_NODEFER, the signal itself
//! unblocked. Its SA_RESETHAND is not replayed (the crate's handler stays installed for the
//! crate's own sites).
//!
//! - **Default action** (SIG_DFL): the handler restores the default disposition and returns.
//!   A fault re-executes and takes the default action (a core dump); a signal sent by a
//!   process (`si_code <= 0`) is raised again, to the same effect: as if tdxcall had never
//!   been there.
//! - **Ignore** (SIG_IGN): a signal sent by a process (`kill`, `tgkill`, `sigqueue`) is
//!   ignored. A fault cannot be: when a fault's signal is ignored or blocked the kernel forces
//!   the default action, so the handler does what SIG_DFL does.
//! - **Chains back.** Each re-install records what it replaced as a new *generation*. A
//!   program handler that was installed after the crate's and chains to what *it* replaced
//!   (the crate's) calls the crate's handler again, with the same `siginfo` and context:
//!   the handler recognizes that call (same context, a frame deeper on the stack than the
//!   one that called the program's handler) and goes on to the next older generation,
//!   ending with the disposition that was there before the crate's first install. So
//!   crate → program → crate → default action, never round again. A fresh signal (a
//!   different context, or the same context at the same depth after the program's handler
//!   left by `longjmp`) starts again from the newest generation.
//!
//! At most [`MAX_GENERATIONS`] dispositions are recorded per signal (records are never
//! overwritten, so the handler can read them without a lock); [`install`] panics when one
//! more would be needed.
//!
//! # Installing with one `sigaction` call
//!
//! [`install`] swaps the crate's handler in and gets the replaced disposition in the same
//! `sigaction` call, so a handler another thread installs at the same moment is either
//! replaced and recorded, or installed after the crate's (and then [`is_installed`] says
//! so); it is never lost. The replaced disposition reaches memory only after the kernel has
//! installed the crate's handler (the C library copies it out after the system call), so
//! for a moment the handler may run without it. Per signal, [`install`] marks that window
//! (with its thread id) before the call and closes it once the record is published. In the
//! window:
//!
//! - a fault at a crate site is handled as always (it needs no previous disposition);
//! - any other fault on another thread returns: the instruction faults again, and is
//!   chained normally once the record is published (on the installing thread itself, which
//!   cannot wait for itself, it takes the default action);
//! - a signal sent by a process is recorded (the receiving thread's id) and returned from;
//!   [`install`] sends it again to that thread with `tgkill` right after publishing. The
//!   signal the previous disposition then sees comes from this process with `SI_TKILL`,
//!   not from the original sender (and a `sigqueue` value is lost). If more threads than
//!   there are slots get one in the window, the rest are sent once to the process.
//!
//! # Async-signal safety
//!
//! The handler reads the signal context, the read-only exception table and the published
//! records, and calls only `sigaction`, `raise`, `gettid`, `pthread_sigmask` and the
//! chained handler. It takes no lock and allocates nothing; its per-thread state is a
//! constant-initialized thread-local without a destructor.

use core::cell::{Cell, UnsafeCell};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// How many replaced dispositions [`install`] records per signal.
pub const MAX_GENERATIONS: usize = 32;

/// Threads a signal sent during an installation window can be recorded for, per signal.
const DEFERRED_SLOTS: usize = 8;

const SIGNALS: [libc::c_int; 2] = [libc::SIGILL, libc::SIGSEGV];

/// Serializes installers; the handler never takes it.
static INSTALL: Mutex<()> = Mutex::new(());

/// What the handler knows about one signal.
struct SignalState {
    /// Replaced dispositions, oldest first. Slot `i` is written once, before `count`
    /// becomes greater than `i`, and never again.
    generations: [UnsafeCell<MaybeUninit<libc::sigaction>>; MAX_GENERATIONS],
    /// Published generations (Release by `install`, Acquire by the handler).
    count: AtomicUsize,
    /// The installing thread's id while its `sigaction` call may have replaced a
    /// disposition that is not yet published; 0 otherwise.
    window: AtomicI32,
    /// Threads that got a sent signal in the window (0: free slot).
    deferred: [AtomicI32; DEFERRED_SLOTS],
    /// A sent signal in the window found no free slot: send it to the process.
    deferred_overflow: AtomicBool,
}

// SAFETY: `generations` slots are written only under `INSTALL`, each before the Release store
// of `count` that makes it readable, and never after; everything else is atomic.
unsafe impl Sync for SignalState {}

impl SignalState {
    const fn new() -> SignalState {
        SignalState {
            generations: [const { UnsafeCell::new(MaybeUninit::uninit()) }; MAX_GENERATIONS],
            count: AtomicUsize::new(0),
            window: AtomicI32::new(0),
            deferred: [const { AtomicI32::new(0) }; DEFERRED_SLOTS],
            deferred_overflow: AtomicBool::new(false),
        }
    }

    /// Generation `index`, which must be below a `count` loaded with Acquire.
    fn generation(&self, index: usize) -> libc::sigaction {
        // SAFETY: published slots are initialized and never written again (see the field).
        unsafe { (*self.generations[index].get()).assume_init() }
    }
}

static STATE: [SignalState; 2] = [SignalState::new(), SignalState::new()];

fn state_of(signal: libc::c_int) -> &'static SignalState {
    &STATE[if signal == libc::SIGILL { 0 } else { 1 }]
}

/// The crate's disposition.
fn our_action() -> libc::sigaction {
    // SAFETY: a zeroed `sigaction` is a valid value (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { core::mem::zeroed() };
    action.sa_sigaction = handler as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: initializes a set we own.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    action
}

fn is_ours(action: &libc::sigaction) -> bool {
    action.sa_sigaction == handler as *const () as usize && action.sa_flags & libc::SA_SIGINFO != 0
}

/// The current disposition of `signal`.
fn current(signal: libc::c_int) -> libc::sigaction {
    // SAFETY: a query (no new action) writes only into our zeroed (valid) sigaction.
    unsafe {
        let mut current: libc::sigaction = core::mem::zeroed();
        let rc = libc::sigaction(signal, core::ptr::null(), &mut current);
        assert_eq!(rc, 0, "sigaction({signal}) failed");
        current
    }
}

fn gettid() -> libc::pid_t {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as libc::pid_t }
}

/// Makes the crate's handler the SIGILL and SIGSEGV disposition, wherever it is not.
///
/// The first call records the dispositions in place as the ones to chain to; a later call
/// finds the crate's handler still there and changes nothing, or finds a handler the program
/// installed since, puts the crate's back in front of it and chains to it from then on (see
/// the module docs).
///
/// # Panics
///
/// If `sigaction` fails, which it does only for invalid arguments, or if the crate's handler
/// has been replaced and put back more than [`MAX_GENERATIONS`] times for one signal.
pub fn install() {
    if is_installed() {
        return;
    }
    let _installing = INSTALL.lock().unwrap_or_else(PoisonError::into_inner);
    for signal in SIGNALS {
        install_one(signal);
    }
}

fn install_one(signal: libc::c_int) {
    if is_ours(&current(signal)) {
        return;
    }
    let state = state_of(signal);
    // Only installers write `count`, and they hold `INSTALL`.
    let count = state.count.load(Ordering::Relaxed);
    assert!(
        count < MAX_GENERATIONS,
        "tdxcall: the handler of signal {signal} was replaced and re-installed more than \
         {MAX_GENERATIONS} times"
    );
    let ours = our_action();
    state.window.store(gettid(), Ordering::SeqCst);
    // SAFETY: a zeroed sigaction is valid; one call swaps ours in and reads what it
    // replaced (see the module docs for the window until that is published).
    let (rc, replaced) = unsafe {
        let mut replaced: libc::sigaction = core::mem::zeroed();
        let rc = libc::sigaction(signal, &ours, &mut replaced);
        (rc, replaced)
    };
    if rc == 0 && !is_ours(&replaced) {
        // SAFETY: slot `count` is not published yet, so the handler does not read it, and
        // only this installer (holding `INSTALL`) writes it.
        unsafe { (*state.generations[count].get()).write(replaced) };
        state.count.store(count + 1, Ordering::Release);
    }
    state.window.store(0, Ordering::SeqCst);
    resend_deferred(signal, state);
    assert_eq!(rc, 0, "sigaction({signal}) failed");
}

/// Sends the signals deferred during the window again: to their threads, and once to the
/// process for those that found no slot.
fn resend_deferred(signal: libc::c_int, state: &SignalState) {
    // SAFETY: getpid, tgkill and kill are plain system calls.
    unsafe {
        let pid = libc::getpid();
        for slot in &state.deferred {
            let tid = slot.swap(0, Ordering::SeqCst);
            if tid != 0 {
                libc::syscall(libc::SYS_tgkill, pid, tid, signal);
            }
        }
        if state.deferred_overflow.swap(false, Ordering::SeqCst) {
            libc::kill(pid, signal);
        }
    }
}

/// Whether the crate's handler is the current SIGILL and SIGSEGV disposition.
///
/// Reads the dispositions, so it turns `false` when the program installs a handler of its
/// own over the crate's; [`install`] puts the crate's back.
pub fn is_installed() -> bool {
    SIGNALS.iter().all(|&signal| is_ours(&current(signal)))
}

/// A fault hook: a layer above this one (the emulator, the software module's CPUID trap)
/// that may answer a fault the kernel raised before the exception table is applied.
///
/// It returns `true` when it completed the faulting instruction in `context` (the handler
/// then just returns), `false` to let the handler go on (it may have changed the trap number
/// in `context` to the fault it chose).
///
/// # Safety
///
/// The handler calls a hook only with the `ucontext_t` the kernel passed for a signal it
/// raised on this thread, not otherwise referenced during the call; the hook must be
/// async-signal-safe.
pub(crate) type FaultHook = unsafe fn(*mut libc::ucontext_t) -> bool;

/// How many hooks can be registered: one per layer that has one.
const FAULT_HOOK_SLOTS: usize = 4;

/// The registered hooks, as addresses (0 = empty), called in registration order. Slots are
/// only ever filled, never emptied: a hook decides per thread whether it has anything to do.
static FAULT_HOOKS: [AtomicUsize; FAULT_HOOK_SLOTS] =
    [const { AtomicUsize::new(0) }; FAULT_HOOK_SLOTS];

/// Registers `hook` with the fault handler, once (registering it again does nothing). The
/// layers above this one call it, so this base layer names none of them.
///
/// # Panics
///
/// If more than [`FAULT_HOOK_SLOTS`] distinct hooks are registered (the crate has two).
// Without `emulator` no layer above registers one; the registry stays so this layer does
// not depend on which features are on.
#[cfg_attr(not(feature = "emulator"), allow(dead_code))]
pub(crate) fn register_fault_hook(hook: FaultHook) {
    let address = hook as usize;
    for slot in &FAULT_HOOKS {
        match slot.compare_exchange(0, address, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(current) if current == address => return,
            Err(_) => {}
        }
    }
    panic!("tdxcall: more than {FAULT_HOOK_SLOTS} fault hooks registered");
}

/// Calls the registered hooks in order until one completes the instruction.
///
/// # Safety
///
/// That of [`FaultHook`].
unsafe fn run_fault_hooks(context: *mut libc::ucontext_t) -> bool {
    for slot in &FAULT_HOOKS {
        let address = slot.load(Ordering::Acquire);
        if address == 0 {
            break;
        }
        // SAFETY: only `register_fault_hook` stores non-zero values, each the address of a
        // `FaultHook`; the caller passes the context a hook expects.
        let hook = unsafe { core::mem::transmute::<usize, FaultHook>(address) };
        // SAFETY: as above.
        if unsafe { hook(context) } {
            return true;
        }
    }
    false
}

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext for an SA_SIGINFO handler; they
    // are ours for the duration of the handler.
    unsafe {
        let from_kernel = (*info).si_code > 0;
        // The layers above this one that registered a hook (the emulator's model, the
        // software module's CPUID trap) answer first; a hook may also pick the fault the
        // exception table then applies (see crate::emu).
        if from_kernel && run_fault_hooks(context.cast()) {
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

/// The chained call a thread is in: the crate's handler called the disposition of
/// `generation` for the delivery with `context`, from a frame at `frame`.
#[derive(Clone, Copy)]
struct ActiveChain {
    signal: libc::c_int,
    context: usize,
    frame: usize,
    generation: usize,
}

impl ActiveChain {
    const NONE: ActiveChain = ActiveChain {
        signal: 0,
        context: 0,
        frame: 0,
        generation: 0,
    };
}

std::thread_local! {
    /// The chained call this thread is in, if any (`signal` 0: none). Constant-initialized,
    /// no destructor: safe to use from the signal handler at any time.
    static ACTIVE: Cell<ActiveChain> = const { Cell::new(ActiveChain::NONE) };
}

/// Delivers a signal that is not the crate's to the disposition the crate's handler replaced
/// (see the module docs for generations and the installation window).
///
/// # Safety
///
/// Called only from `handler` with the kernel's arguments (or those a chained handler passed
/// back to it).
unsafe fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let state = state_of(signal);
    // SAFETY: the kernel's siginfo.
    let sent = unsafe { (*info).si_code } <= 0;
    let marker = 0u8;
    let frame = core::ptr::addr_of!(marker) as usize;
    let active = ACTIVE.with(Cell::get);
    // A call back from the disposition this handler chained to for the same delivery: it
    // passes the same context, from deeper on the stack.
    let nested =
        active.signal == signal && active.context == context as usize && frame < active.frame;
    let mut next = if nested {
        active.generation.checked_sub(1)
    } else {
        let window = state.window.load(Ordering::SeqCst);
        if window != 0 {
            if !sent {
                if window != gettid() {
                    // Faults again once the replaced disposition is published.
                    return;
                }
                // SAFETY: as this function's.
                unsafe { default_action(signal, info) };
                return;
            }
            if defer(state) {
                return;
            }
        }
        state.count.load(Ordering::Acquire).checked_sub(1)
    };
    // A record of the crate's own handler (installed by the program without SA_SIGINFO)
    // would only lead back here: skip it.
    let (generation, previous) = loop {
        let Some(generation) = next else {
            // Older than the oldest: what the kernel does with no handler.
            // SAFETY: as this function's.
            unsafe { default_action(signal, info) };
            return;
        };
        let previous = state.generation(generation);
        if previous.sa_sigaction == handler as *const () as usize {
            next = generation.checked_sub(1);
            continue;
        }
        break (generation, previous);
    };
    let action = previous.sa_sigaction;
    if action == libc::SIG_DFL || (action == libc::SIG_IGN && !sent) {
        // SAFETY: as this function's.
        unsafe { default_action(signal, info) };
        return;
    }
    if action == libc::SIG_IGN {
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
    ACTIVE.with(|slot| {
        slot.set(ActiveChain {
            signal,
            context: context as usize,
            frame,
            generation,
        })
    });
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
    ACTIVE.with(|slot| slot.set(active));
}

/// Takes the default action for `signal`: restores the default disposition and returns; a
/// fault re-executes into it, a sent signal is raised again (and delivered when the handler
/// returns and unblocks it).
///
/// # Safety
///
/// `info` is the kernel's siginfo for this delivery.
unsafe fn default_action(signal: libc::c_int, info: *mut libc::siginfo_t) {
    // SAFETY: restoring the default disposition with a zeroed (valid) sigaction; raise is
    // async-signal-safe.
    unsafe {
        let mut default: libc::sigaction = core::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(signal, &default, core::ptr::null_mut());
        if (*info).si_code <= 0 {
            libc::raise(signal);
        }
    }
}

/// Records a signal sent to this thread during an installation window, for `install` to
/// send again. Returns `false` if the window closed meanwhile and the signal is this
/// handler's to chain after all.
fn defer(state: &SignalState) -> bool {
    let tid = gettid();
    let slot = state.deferred.iter().find(|slot| {
        slot.compare_exchange(0, tid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    });
    if slot.is_none() {
        state.deferred_overflow.store(true, Ordering::SeqCst);
    }
    // The installer closes the window before it collects the records (both SeqCst), so if
    // the window is still open here, the installer will see this record.
    if state.window.load(Ordering::SeqCst) != 0 {
        return true;
    }
    // Closed meanwhile: take the record back, unless the installer already took it (then
    // it sends the signal again).
    match slot {
        Some(slot) => slot
            .compare_exchange(tid, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_err(),
        None => !state.deferred_overflow.swap(false, Ordering::SeqCst),
    }
}
