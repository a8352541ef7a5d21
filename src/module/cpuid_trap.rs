//! The guest's real CPUID instruction (Linux x86-64 only): CPUID faulting with `arch_prctl`,
//! the SIGSEGV hook that answers a faulting `cpuid` on a guest thread from
//! [`SoftwareModule::guest_cpuid`](super::SoftwareModule::guest_cpuid), and the #VE frame a
//! guest handler gets. The answers themselves (`super::cpuid`) build on every target.

use super::cpuid::CPUID_INSTRUCTION_LEN;
use crate::cpuid;

/// `arch_prctl` codes (Linux, x86-64).
const ARCH_GET_CPUID: libc::c_int = 0x1011;
const ARCH_SET_CPUID: libc::c_int = 0x1012;
/// The x86 CPUID instruction.
const CPUID_OPCODE: [u8; 2] = [0x0F, 0xA2];
/// Legacy-area offsets of the XSAVE software bytes in a signal frame's fpstate.
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const SW_MAGIC1: usize = 464;
const SW_XSTATE_SIZE: usize = 480;
/// The x86-64 ABI's red zone below RSP that interrupted code may use.
const RED_ZONE: u64 = 128;
/// A handler frame this close below the interrupted RSP runs on the interrupted stack.
const SAME_STACK_SPAN: u64 = 1 << 20;
/// Room left for the handler's own deeper frames (`ve_enter` and the copies it calls).
const HANDLER_DEPTH: u64 = 16 << 10;

/// The interrupted context a guest #VE handler gets (and may change) for a CPUID #VE: the
/// general registers, RIP (still at the `cpuid` instruction: advance it by
/// [`VeFrame::CPUID_LEN`] after emulating), RSP and RFLAGS. When the handler returns, the
/// thread resumes with exactly these values (and its vector state as it was at the `cpuid`).
#[repr(C)]
#[derive(Debug)]
pub struct VeFrame {
    /// RAX (the leaf on entry; EAX of the answer on return).
    pub rax: u64,
    /// RBX.
    pub rbx: u64,
    /// RCX (the subleaf on entry).
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
    /// RSI.
    pub rsi: u64,
    /// RDI.
    pub rdi: u64,
    /// RBP.
    pub rbp: u64,
    /// R8-R15.
    pub r: [u64; 8],
    /// RIP of the `cpuid` instruction.
    pub rip: u64,
    /// RSP.
    pub rsp: u64,
    /// RFLAGS.
    pub rflags: u64,
    /// Bytes of saved vector state that follow this struct (0 if none).
    xstate_len: u64,
}

impl VeFrame {
    /// The length of the `cpuid` instruction.
    pub const CPUID_LEN: u64 = CPUID_INSTRUCTION_LEN;
}

/// A guest's #VE handler: runs on the guest thread, at the point of the `cpuid`, as a
/// plain function call (it may issue TDCALLs and TDVMCALLs).
pub type VeHandler = extern "C" fn(&mut VeFrame);

/// Why CPUID faulting could not be turned on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuidFaultingUnavailable {
    /// The `errno` of `arch_prctl(ARCH_SET_CPUID, 0)` (ENODEV: the CPU or kernel lacks CPUID
    /// faulting).
    pub errno: i32,
}

impl core::fmt::Display for CpuidFaultingUnavailable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "CPUID faulting is unavailable here (arch_prctl(ARCH_SET_CPUID) errno {}); \
             use SoftwareModule::guest_cpuid for the same answers",
            self.errno
        )
    }
}

struct Trap {
    module: super::SoftwareModule,
    tdvpr: crate::abi::TdvprPage,
    handler: Option<VeHandler>,
    /// The #VE TDG.VP.VEINFO.GET reports, until read.
    pending_ve: bool,
    /// The TD's state after TDH.MNG.INIT, once known.
    cache: Option<cpuid::TdCpuid>,
}

std::thread_local! {
    static TRAP: core::cell::RefCell<Option<Trap>> = const { core::cell::RefCell::new(None) };
    /// Whether `TRAP` is set. Constant-initialized, no destructor: safe to read from the
    /// signal handler on any thread (unlike `TRAP`, whose first use registers a destructor).
    static TRAPPING: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// CPUID faulting on for this thread; dropping it turns it off.
#[derive(Debug)]
pub struct CpuidTrap {
    _not_send: core::marker::PhantomData<*const ()>,
}

impl Drop for CpuidTrap {
    fn drop(&mut self) {
        // SAFETY: arch_prctl only changes this thread's CPUID-faulting flag.
        unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 1) };
        TRAPPING.with(|on| on.set(false));
        let _ = TRAP.try_with(|t| t.borrow_mut().take());
    }
}

impl super::VirtualCpu {
    /// Makes the calling (guest) thread's `cpuid` instructions fault, so that the model
    /// answers each at its real site: the TD's value
    /// ([`SoftwareModule::guest_cpuid`](super::SoftwareModule::guest_cpuid)), or a #VE
    /// delivered to `ve_handler` the way hardware does (TDG.VP.VEINFO.GET then reports exit
    /// reason CPUID). Without a handler, a #VE leaf leaves the fault unhandled (the
    /// process's previous SIGSEGV disposition applies), as a #VE without a guest handler
    /// would be fatal. Needs the crate's signal handler (installed by `emu::install`).
    ///
    /// # Errors
    ///
    /// [`CpuidFaultingUnavailable`] where the CPU or kernel has no CPUID faulting; the same
    /// answers are then available through `SoftwareModule::guest_cpuid`.
    pub fn trap_cpuid(
        &self,
        ve_handler: Option<VeHandler>,
    ) -> Result<CpuidTrap, CpuidFaultingUnavailable> {
        crate::signal::register_fault_hook(on_fault);
        crate::signal::install();
        TRAP.with(|t| {
            *t.borrow_mut() = Some(Trap {
                module: super::SoftwareModule {
                    shared: self.shared.clone(),
                },
                tdvpr: crate::abi::TdvprPage::new(
                    crate::abi::HostPhysAddr::new(self.tdvpr).expect("TDVPR"),
                )
                .expect("TDVPR"),
                handler: ve_handler,
                pending_ve: false,
                cache: None,
            })
        });
        TRAPPING.with(|on| on.set(true));
        // SAFETY: arch_prctl only changes this thread's CPUID-faulting flag.
        let rc = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 0) };
        if rc != 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            TRAPPING.with(|on| on.set(false));
            TRAP.with(|t| t.borrow_mut().take());
            return Err(CpuidFaultingUnavailable { errno });
        }
        Ok(CpuidTrap {
            _not_send: core::marker::PhantomData,
        })
    }
}

/// Whether CPUID faulting is on for the calling thread.
pub fn cpuid_faulting_enabled() -> bool {
    // SAFETY: arch_prctl(ARCH_GET_CPUID) only reads this thread's flag.
    unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_GET_CPUID, 0) == 0 }
}

core::arch::global_asm!(
    ".pushsection .text.tdxcall_module_ve_return,\"ax\",@progbits",
    ".globl tdxcall_module_ve_return",
    ".type tdxcall_module_ve_return,@function",
    "tdxcall_module_ve_return:",
    "ud2",
    ".size tdxcall_module_ve_return, . - tdxcall_module_ve_return",
    ".popsection",
);

extern "C" {
    /// Where a guest #VE handler returns to: a `ud2` the signal hook recognizes.
    fn tdxcall_module_ve_return();
}

/// Takes the CPUID #VE pending on the calling guest thread (TDG.VP.VEINFO.GET reports it
/// once).
pub(super) fn take_pending_ve() -> bool {
    TRAPPING.with(core::cell::Cell::get)
        && TRAP
            .try_with(|t| {
                t.try_borrow_mut().is_ok_and(|mut t| {
                    t.as_mut()
                        .is_some_and(|trap| core::mem::take(&mut trap.pending_ve))
                })
            })
            .unwrap_or(false)
}

/// The signal hook: a faulting `cpuid` on a trapping guest thread, or the return of its
/// #VE handler. Returns whether the signal was handled (the context is then updated).
///
/// # Safety
///
/// `context` is the `ucontext_t` the kernel passed for a signal it raised on this thread,
/// not otherwise referenced during the call.
pub(crate) unsafe fn on_fault(context: *mut libc::ucontext_t) -> bool {
    // SAFETY: the contract; only the register array and the fpstate it points to are used.
    let gregs = unsafe { &mut *core::ptr::addr_of_mut!((*context).uc_mcontext.gregs) };
    // SAFETY: as above.
    let fpregs = unsafe { (*context).uc_mcontext.fpregs }.cast::<u8>();
    let rip = gregs[libc::REG_RIP as usize] as u64;
    let trapno = gregs[libc::REG_TRAPNO as usize];
    if trapno == 6 && rip == tdxcall_module_ve_return as *const () as usize as u64 {
        // SAFETY: RSP points at the VeFrame the handler was entered with (the handler
        // returned, popping the return address), which lies on this thread's stack.
        return unsafe { ve_return(gregs, fpregs) };
    }
    if trapno != 13 {
        return false;
    }
    if !TRAPPING.with(core::cell::Cell::get) {
        return false;
    }
    // SAFETY: RIP is where this thread just executed an instruction: mapped and readable.
    let opcode = unsafe { core::ptr::read_unaligned(rip as *const [u8; 2]) };
    if opcode != CPUID_OPCODE {
        return false;
    }
    let leaf = gregs[libc::REG_RAX as usize] as u32;
    let subleaf = gregs[libc::REG_RCX as usize] as u32;
    if crate::emu::in_model() {
        // The module's own code (a model call on this thread, which may hold the module's
        // lock) runs natively, as in SEAM: CPUID faulting off for the one instruction.
        // SAFETY: arch_prctl only changes this thread's flag; CPUID has no memory effects.
        let native = unsafe {
            libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 1);
            #[allow(unused_unsafe)]
            // SAFETY: CPUID exists on every x86-64 CPU and only writes registers.
            let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, subleaf) };
            libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 0);
            r
        };
        gregs[libc::REG_RAX as usize] = i64::from(native.eax);
        gregs[libc::REG_RBX as usize] = i64::from(native.ebx);
        gregs[libc::REG_RCX as usize] = i64::from(native.ecx);
        gregs[libc::REG_RDX as usize] = i64::from(native.edx);
        gregs[libc::REG_RIP as usize] = (rip + VeFrame::CPUID_LEN) as i64;
        return true;
    }
    let Some(answer) = TRAP
        .try_with(|t| {
            let mut t = t.try_borrow_mut().ok()?;
            let trap = t.as_mut()?;
            let answer = trap
                .module
                .guest_cpuid_cached(trap.tdvpr, leaf, subleaf, &mut trap.cache);
            Some((answer, trap.handler))
        })
        .ok()
        .flatten()
    else {
        return false;
    };
    match answer {
        (Some(cpuid::GuestCpuid::Value { values, .. }), _) => {
            gregs[libc::REG_RAX as usize] = i64::from(values.eax);
            gregs[libc::REG_RBX as usize] = i64::from(values.ebx);
            gregs[libc::REG_RCX as usize] = i64::from(values.ecx);
            gregs[libc::REG_RDX as usize] = i64::from(values.edx);
            gregs[libc::REG_RIP as usize] = (rip + VeFrame::CPUID_LEN) as i64;
            true
        }
        (Some(cpuid::GuestCpuid::Ve), Some(handler)) => {
            let _ = TRAP.try_with(|t| {
                if let Ok(mut t) = t.try_borrow_mut() {
                    if let Some(trap) = t.as_mut() {
                        trap.pending_ve = true;
                    }
                }
            });
            // SAFETY: the frame is built below the interrupted RSP's red zone on this
            // thread's own stack; `fpregs` is this signal frame's fpstate.
            unsafe { ve_enter(gregs, fpregs, handler) };
            true
        }
        _ => false,
    }
}

/// The saved vector-state length of a signal frame's fpstate (XSAVE area without magic2,
/// or the 512-byte FXSAVE area).
///
/// # Safety
///
/// `fpregs` is null or a signal frame's fpstate.
unsafe fn xstate_len(fpregs: *const u8) -> usize {
    if fpregs.is_null() {
        return 0;
    }
    // SAFETY: the legacy area is at least 512 bytes.
    let magic = unsafe { core::ptr::read_unaligned(fpregs.add(SW_MAGIC1).cast::<u32>()) };
    if magic == FP_XSTATE_MAGIC1 {
        // SAFETY: as above.
        unsafe { core::ptr::read_unaligned(fpregs.add(SW_XSTATE_SIZE).cast::<u32>()) as usize }
    } else {
        512
    }
}

/// Rewrites the interrupted context so that the thread calls `handler(&mut VeFrame)` and
/// then returns to `tdxcall_module_ve_return`.
///
/// # Safety
///
/// `gregs`/`fpregs` are this signal frame's; the interrupted RSP is this thread's stack,
/// with room for the frame below its red zone (and below this signal frame and 16 KiB of
/// handler frames when the handler runs on that stack).
unsafe fn ve_enter(gregs: &mut [libc::greg_t; 23], fpregs: *const u8, handler: VeHandler) {
    let g = |r: libc::c_int| gregs[r as usize] as u64;
    // SAFETY: the contract.
    let xlen = unsafe { xstate_len(fpregs) };
    let size = core::mem::size_of::<VeFrame>() + xlen;
    // Below the interrupted red zone, and, when this handler runs on the interrupted stack
    // (no alternate signal stack), below this signal frame and the handler's own frames.
    let here = core::ptr::addr_of!(xlen) as u64;
    let mut limit = g(libc::REG_RSP) - RED_ZONE;
    if here < limit && limit - here < SAME_STACK_SPAN {
        limit = here - HANDLER_DEPTH;
    }
    let base = (limit - size as u64) & !63;
    let frame = VeFrame {
        rax: g(libc::REG_RAX),
        rbx: g(libc::REG_RBX),
        rcx: g(libc::REG_RCX),
        rdx: g(libc::REG_RDX),
        rsi: g(libc::REG_RSI),
        rdi: g(libc::REG_RDI),
        rbp: g(libc::REG_RBP),
        r: [
            g(libc::REG_R8),
            g(libc::REG_R9),
            g(libc::REG_R10),
            g(libc::REG_R11),
            g(libc::REG_R12),
            g(libc::REG_R13),
            g(libc::REG_R14),
            g(libc::REG_R15),
        ],
        rip: g(libc::REG_RIP),
        rsp: g(libc::REG_RSP),
        rflags: g(libc::REG_EFL),
        xstate_len: xlen as u64,
    };
    // SAFETY: `base` is 64-byte aligned, below the red zone, on this thread's stack, and
    // `size` bytes long; the fpstate is `xlen` readable bytes.
    unsafe {
        core::ptr::write(base as *mut VeFrame, frame);
        if xlen > 0 {
            core::ptr::copy_nonoverlapping(
                fpregs,
                (base as *mut u8).add(core::mem::size_of::<VeFrame>()),
                xlen,
            );
        }
        // A call's entry state: RSP = 16n - 8 holding the return address.
        let rsp = base - 8;
        core::ptr::write(
            rsp as *mut u64,
            tdxcall_module_ve_return as *const () as usize as u64,
        );
        gregs[libc::REG_RSP as usize] = rsp as i64;
    }
    gregs[libc::REG_RDI as usize] = base as i64;
    gregs[libc::REG_RIP as usize] = handler as usize as i64;
    // The ABI wants DF clear at a call.
    gregs[libc::REG_EFL as usize] &= !0x400;
}

/// Restores the context saved by [`ve_enter`], with the handler's changes.
///
/// # Safety
///
/// RSP in `gregs` points at that VeFrame; `fpregs` is this signal frame's fpstate.
unsafe fn ve_return(gregs: &mut [libc::greg_t; 23], fpregs: *mut u8) -> bool {
    let base = gregs[libc::REG_RSP as usize] as u64;
    // SAFETY: the contract.
    let frame = unsafe { core::ptr::read(base as *const VeFrame) };
    // SAFETY: as above.
    let xlen = unsafe { xstate_len(fpregs) };
    if xlen == frame.xstate_len as usize && xlen > 0 {
        // SAFETY: both areas are `xlen` bytes: the saved copy after the VeFrame and this
        // signal frame's fpstate (same thread, same layout).
        unsafe {
            core::ptr::copy_nonoverlapping(
                (base as *const u8).add(core::mem::size_of::<VeFrame>()),
                fpregs,
                xlen,
            )
        };
    }
    let mut set = |r: libc::c_int, v: u64| gregs[r as usize] = v as i64;
    set(libc::REG_RAX, frame.rax);
    set(libc::REG_RBX, frame.rbx);
    set(libc::REG_RCX, frame.rcx);
    set(libc::REG_RDX, frame.rdx);
    set(libc::REG_RSI, frame.rsi);
    set(libc::REG_RDI, frame.rdi);
    set(libc::REG_RBP, frame.rbp);
    for (i, reg) in [
        libc::REG_R8,
        libc::REG_R9,
        libc::REG_R10,
        libc::REG_R11,
        libc::REG_R12,
        libc::REG_R13,
        libc::REG_R14,
        libc::REG_R15,
    ]
    .into_iter()
    .enumerate()
    {
        set(reg, frame.r[i]);
    }
    set(libc::REG_RIP, frame.rip);
    set(libc::REG_RSP, frame.rsp);
    set(libc::REG_EFL, frame.rflags);
    true
}

#[cfg(test)]
mod tests {
    //! The #VE delivery mechanics without CPUID faulting: a `hlt` (#GP in user mode, so
    //! SIGSEGV) stands in for the faulting `cpuid`, and a test SIGSEGV handler enters the
    //! guest handler through [`ve_enter`] as the CPUID hook would; the return goes through
    //! the crate's real SIGILL path and [`ve_return`].
    use super::*;

    core::arch::global_asm!(
        ".pushsection .text.tdxcall_test_ve,\"ax\",@progbits",
        ".globl tdxcall_test_ve_site",
        ".globl tdxcall_test_ve_hlt",
        "tdxcall_test_ve_site:",
        "    movq xmm7, rdi",
        "    mov rax, 0x1111",
        "tdxcall_test_ve_hlt:",
        "    hlt",
        "    movq rdx, xmm7",
        "    ret",
        ".popsection",
    );

    #[repr(C)]
    struct Pair(u64, u64);

    extern "C" {
        /// Puts `marker` in XMM7, faults at `hlt`, returns (RAX, XMM7).
        fn tdxcall_test_ve_site(marker: u64) -> Pair;
        static tdxcall_test_ve_hlt: u8;
    }

    static mut PREVIOUS: core::mem::MaybeUninit<libc::sigaction> = core::mem::MaybeUninit::zeroed();

    extern "C" fn guest_handler(frame: &mut VeFrame) {
        assert_eq!(frame.rax, 0x1111, "the interrupted RAX");
        frame.rax = 0xFEED;
        frame.rip += 1; // past the 1-byte hlt
                        // Clobber the vector register the interrupted code keeps live.
                        // SAFETY: XMM7 is caller-saved; nothing here depends on it.
        unsafe { core::arch::asm!("pxor xmm7, xmm7", out("xmm7") _) };
    }

    extern "C" fn test_segv(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        let context = context.cast::<libc::ucontext_t>();
        // SAFETY: the kernel's ucontext for an SA_SIGINFO handler.
        let gregs = unsafe { &mut *core::ptr::addr_of_mut!((*context).uc_mcontext.gregs) };
        // Only the address of the label is taken.
        let site = core::ptr::addr_of!(tdxcall_test_ve_hlt) as u64;
        if gregs[libc::REG_RIP as usize] as u64 == site {
            // SAFETY: this signal frame's registers and fpstate; the interrupted stack is
            // this thread's.
            unsafe { ve_enter(gregs, (*context).uc_mcontext.fpregs.cast(), guest_handler) };
            return;
        }
        // Not ours: the disposition that was there before (the crate's handler).
        // SAFETY: PREVIOUS was written before this handler was installed.
        let previous = unsafe { (*core::ptr::addr_of!(PREVIOUS)).assume_init() };
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            // SAFETY: the previous disposition is the crate's SA_SIGINFO handler.
            unsafe { core::mem::transmute(previous.sa_sigaction) };
        f(signal, info, context.cast());
    }

    #[test]
    fn a_ve_handler_runs_at_the_fault_and_the_thread_resumes_with_its_changes() {
        crate::signal::register_fault_hook(on_fault);
        crate::signal::install();
        // SAFETY: swaps SIGSEGV's disposition for the test's handler (which chains to the
        // crate's for anything else), and back.
        let pair = unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = test_segv as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            let previous = (*core::ptr::addr_of_mut!(PREVIOUS)).as_mut_ptr();
            assert_eq!(
                libc::sigaction(libc::SIGSEGV, core::ptr::null(), previous),
                0
            );
            assert_eq!(
                libc::sigaction(libc::SIGSEGV, &action, core::ptr::null_mut()),
                0
            );
            let pair = tdxcall_test_ve_site(0x0123_4567_89AB_CDEF);
            assert_eq!(
                libc::sigaction(libc::SIGSEGV, previous, core::ptr::null_mut()),
                0
            );
            pair
        };
        assert_eq!(pair.0, 0xFEED, "the handler's RAX");
        assert_eq!(pair.1, 0x0123_4567_89AB_CDEF, "XMM7 as before the #VE");
    }
}
