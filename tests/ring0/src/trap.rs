//! The IDT and the exception path, where the crate's ring-0 fixup runs.
//!
//! Vectors 0-31 each get an entry stub that pushes a uniform frame (a zero error code where
//! the CPU pushes none, then the vector) and jumps to one common entry, which saves every
//! general register and the whole XSAVE state, calls [`ring0_exception`], and restores and
//! returns with IRETQ to the (possibly changed) RIP with the (possibly changed) registers.
//!
//! [`ring0_exception`] does what a kernel's #UD and #GP handlers do with the crate: it asks
//! `tdxcall::fixup::fixup_exception` first. When the crate declines, the fault is either one
//! a check armed with [`arm_foreign_fault`] (recorded, then skipped) or a real, unhandled
//! fault: reported over serial, and the run ends with [`Verdict::UnhandledFault`].
//!
//! A check can also arm a one-shot [`SeamcallHook`] ([`arm_seamcall_hook`]): at the next #UD
//! on one of the crate's SEAMCALL sites, before the crate's fixup runs, the hook plays the
//! TDX module's side effects on the interrupted context: on the control registers directly,
//! and on its vector registers through the saved XSAVE area, which the exit path loads back.

use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::cpu::XSAVE_AREA_BYTES;
use crate::protocol::{Verdict, UNHANDLED_PREFIX};

/// #UD.
pub const VECTOR_UD: u64 = 6;
/// #GP.
pub const VECTOR_GP: u64 = 13;

/// The 64-bit code segment the boot code loaded.
const CODE_SELECTOR: u64 = 0x08;
/// Present, DPL 0, 64-bit interrupt gate (interrupts stay off in the handler).
const INTERRUPT_GATE: u64 = 0x8e;
/// Vectors with an entry stub.
const VECTORS: usize = 32;

/// Vectors for which the CPU pushes an error code: #DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP,
/// #VC, #SX.
const ERROR_CODE_VECTORS: [u32; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

const fn error_code_mask() -> u32 {
    let mut mask = 0;
    let mut index = 0;
    while index < ERROR_CODE_VECTORS.len() {
        mask |= 1 << ERROR_CODE_VECTORS[index];
        index += 1;
    }
    mask
}

/// Names of the architectural exception vectors, for reports.
const VECTOR_NAMES: [&str; VECTORS] = [
    "#DE",
    "#DB",
    "NMI",
    "#BP",
    "#OF",
    "#BR",
    "#UD",
    "#NM",
    "#DF",
    "vector 9",
    "#TS",
    "#NP",
    "#SS",
    "#GP",
    "#PF",
    "vector 15",
    "#MF",
    "#AC",
    "#MC",
    "#XM",
    "#VE",
    "#CP",
    "vector 22",
    "vector 23",
    "vector 24",
    "vector 25",
    "vector 26",
    "vector 27",
    "#HV",
    "#VC",
    "#SX",
    "vector 31",
];

/// The interrupted context as the entry path leaves it on the stack, lowest address first:
/// the general registers the common entry pushed, the vector and error code the stub pushed,
/// and the frame the CPU pushed.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

global_asm!(
    // One stub per vector: make the frame uniform, then the common entry.
    ".macro RING0_ISR vector",
    ".p2align 4",
    "ring0_isr_\\vector:",
    ".if (({error_code_mask} >> \\vector) & 1) == 0",
    "    push $0",
    ".endif",
    "    push $\\vector",
    "    jmp ring0_isr_common",
    ".endm",
    ".pushsection .text.ring0_isr, \"ax\"",
    ".irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "RING0_ISR \\vector",
    ".endr",
    ".p2align 4",
    "ring0_isr_common:",
    // Push order makes the layout of `TrapFrame`.
    "    push %rax",
    "    push %rcx",
    "    push %rdx",
    "    push %rbx",
    "    push %rbp",
    "    push %rsi",
    "    push %rdi",
    "    push %r8",
    "    push %r9",
    "    push %r10",
    "    push %r11",
    "    push %r12",
    "    push %r13",
    "    push %r14",
    "    push %r15",
    // RBX (callee-saved, already in the frame) keeps the frame address across the call.
    "    mov %rsp, %rbx",
    // Save the extended state below the frame, 64-byte aligned as XSAVE requires: the Rust
    // handler may use vector registers, and the interrupted code's must come back intact.
    // XRSTOR of the standard format faults unless XCOMP_BV and the reserved header bytes
    // (offsets 520-575) are zero and XSTATE_BV (offset 512) has no bit outside XCR0, and
    // XSAVE writes neither the former nor the latter's bits outside XCR0: on a stack that
    // held other data, clear the whole header first.
    "    sub ${xsave_area_bytes}, %rsp",
    "    and $-64, %rsp",
    "    xor %eax, %eax",
    "    mov %rax, 512(%rsp)",
    "    mov %rax, 520(%rsp)",
    "    mov %rax, 528(%rsp)",
    "    mov %rax, 536(%rsp)",
    "    mov %rax, 544(%rsp)",
    "    mov %rax, 552(%rsp)",
    "    mov %rax, 560(%rsp)",
    "    mov %rax, 568(%rsp)",
    // EDX:EAX all ones: every component XCR0 enables.
    "    mov $-1, %eax",
    "    mov $-1, %edx",
    "    xsave64 (%rsp)",
    // System V: DF clear at a call. The interrupted RFLAGS, DF included, come back with IRETQ.
    "    cld",
    "    mov %rbx, %rdi",
    // Second argument: the saved extended state, which a SEAMCALL hook may rewrite.
    "    mov %rsp, %rsi",
    "    call {dispatch}",
    "    mov $-1, %eax",
    "    mov $-1, %edx",
    "    xrstor64 (%rsp)",
    "    mov %rbx, %rsp",
    "    pop %r15",
    "    pop %r14",
    "    pop %r13",
    "    pop %r12",
    "    pop %r11",
    "    pop %r10",
    "    pop %r9",
    "    pop %r8",
    "    pop %rdi",
    "    pop %rsi",
    "    pop %rbp",
    "    pop %rbx",
    "    pop %rdx",
    "    pop %rcx",
    "    pop %rax",
    // Drop the vector and the error code.
    "    add $16, %rsp",
    "    iretq",
    ".popsection",
    // The stubs' addresses, in vector order, for `init`.
    ".pushsection .rodata.ring0_isr_table, \"a\"",
    ".balign 8",
    ".globl ring0_isr_table",
    "ring0_isr_table:",
    ".irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    ".quad ring0_isr_\\vector",
    ".endr",
    ".popsection",
    error_code_mask = const error_code_mask(),
    xsave_area_bytes = const XSAVE_AREA_BYTES,
    dispatch = sym ring0_exception,
    options(att_syntax)
);

extern "C" {
    /// The entry stubs' addresses, by vector.
    static ring0_isr_table: [u64; VECTORS];
}

/// The IDT: two quadwords per gate.
#[repr(C, align(16))]
struct Idt(UnsafeCell<[u64; 2 * VECTORS]>);

// SAFETY: written once by `init`, on the only CPU, before any exception can use it.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([0; 2 * VECTORS]));

/// The operand of LIDT.
#[repr(C, packed)]
struct IdtPointer {
    limit: u16,
    base: u64,
}

/// Fills the IDT with the entry stubs and loads it.
pub fn init() {
    // SAFETY: the table is read-only data the assembly above emits, 32 addresses long.
    let stubs = unsafe { ring0_isr_table };
    let mut gates = [0u64; 2 * VECTORS];
    for (vector, &stub) in stubs.iter().enumerate() {
        gates[2 * vector] = (stub & 0xffff)
            | CODE_SELECTOR << 16
            | INTERRUPT_GATE << 40
            | ((stub >> 16) & 0xffff) << 48;
        gates[2 * vector + 1] = stub >> 32;
    }
    // SAFETY: nothing reads the IDT before the LIDT below, and there is one CPU.
    unsafe { IDT.0.get().write(gates) };
    let pointer = IdtPointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: IDT.0.get() as u64,
    };
    // SAFETY: the IDT is static, fully written, and every gate points at a stub above.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) };
}

/// The last fault the crate's fixup claimed, as the exception path saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixup {
    /// The exception vector.
    pub vector: u64,
    /// RIP of the faulting instruction.
    pub fault_rip: u64,
    /// RIP the crate told the handler to resume at.
    pub resume_rip: u64,
    /// RAX the crate told the handler to resume with.
    pub rax: u64,
}

/// Every fault the crate's fixup has claimed so far: how many, and the last one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixupLog {
    /// Faults claimed since boot.
    pub count: u64,
    /// The most recent one (all zero before the first).
    pub last: Fixup,
}

static FIXUP_COUNT: AtomicU64 = AtomicU64::new(0);
static FIXUP_VECTOR: AtomicU64 = AtomicU64::new(0);
static FIXUP_FAULT_RIP: AtomicU64 = AtomicU64::new(0);
static FIXUP_RESUME_RIP: AtomicU64 = AtomicU64::new(0);
static FIXUP_RAX: AtomicU64 = AtomicU64::new(0);

/// The faults the crate's fixup has claimed so far.
pub fn fixups() -> FixupLog {
    FixupLog {
        count: FIXUP_COUNT.load(Relaxed),
        last: Fixup {
            vector: FIXUP_VECTOR.load(Relaxed),
            fault_rip: FIXUP_FAULT_RIP.load(Relaxed),
            resume_rip: FIXUP_RESUME_RIP.load(Relaxed),
            rax: FIXUP_RAX.load(Relaxed),
        },
    }
}

/// A fault a check is about to cause on purpose, at an address that is not the crate's.
#[derive(Clone, Copy, Debug)]
pub struct ForeignFault {
    /// The vector it raises.
    pub vector: u64,
    /// RIP of the faulting instruction.
    pub rip: u64,
    /// Where the handler resumes once the crate has declined it.
    pub resume: u64,
}

/// What the exception path saw when the crate declined an armed foreign fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declined {
    /// The vector.
    pub vector: u64,
    /// RIP of the faulting instruction.
    pub rip: u64,
    /// The error code the CPU pushed (zero for vectors without one).
    pub error_code: u64,
    /// Whether `fixup_exception` left RIP and RAX as they were when it said `false`.
    pub frame_untouched: bool,
}

static ARMED: AtomicBool = AtomicBool::new(false);
static ARMED_VECTOR: AtomicU64 = AtomicU64::new(0);
static ARMED_RIP: AtomicU64 = AtomicU64::new(0);
static ARMED_RESUME: AtomicU64 = AtomicU64::new(0);
static DECLINED: AtomicBool = AtomicBool::new(false);
static DECLINED_VECTOR: AtomicU64 = AtomicU64::new(0);
static DECLINED_RIP: AtomicU64 = AtomicU64::new(0);
static DECLINED_ERROR_CODE: AtomicU64 = AtomicU64::new(0);
static DECLINED_UNTOUCHED: AtomicBool = AtomicBool::new(false);

/// Tells the exception path that `fault` is coming. If the crate declines it, the handler
/// records it (see [`take_declined`]) and resumes at `fault.resume`; if the crate claimed
/// it, the handler resumes where the crate says, and nothing is recorded.
pub fn arm_foreign_fault(fault: ForeignFault) {
    ARMED_VECTOR.store(fault.vector, Relaxed);
    ARMED_RIP.store(fault.rip, Relaxed);
    ARMED_RESUME.store(fault.resume, Relaxed);
    DECLINED.store(false, Relaxed);
    ARMED.store(true, Relaxed);
}

/// Disarms, and returns what the exception path recorded for the armed fault, if it came
/// and the crate declined it.
pub fn take_declined() -> Option<Declined> {
    ARMED.store(false, Relaxed);
    DECLINED.swap(false, Relaxed).then(|| Declined {
        vector: DECLINED_VECTOR.load(Relaxed),
        rip: DECLINED_RIP.load(Relaxed),
        error_code: DECLINED_ERROR_CODE.load(Relaxed),
        frame_untouched: DECLINED_UNTOUCHED.load(Relaxed),
    })
}

/// The interrupted context's extended state as the exception entry saved it: a
/// standard-format (non-compacted) XSAVE area of every XCR0 component, which the exit path
/// loads back with XRSTOR under the XCR0 in force at that point.
pub type SavedXstate = [u8; XSAVE_AREA_BYTES];

/// Plays a module's side effects at a SEAMCALL: see [`arm_seamcall_hook`].
pub type SeamcallHook = fn(&mut SavedXstate);

/// The armed hook, if any.
struct HookCell(UnsafeCell<Option<SeamcallHook>>);

// SAFETY: one CPU with interrupts off. Checks write the cell only outside the exception
// path, and the exception path, which takes it, runs only while the check's code is
// stopped at the faulting instruction.
unsafe impl Sync for HookCell {}

static SEAMCALL_HOOK: HookCell = HookCell(UnsafeCell::new(None));

/// Arms `hook` for the next #UD on one of the crate's SEAMCALL sites: the exception path
/// calls it with the interrupted context's saved extended state, then disarms it and lets
/// the crate's fixup run as usual.
pub fn arm_seamcall_hook(hook: SeamcallHook) {
    // SAFETY: see `HookCell`: no exception is in progress while a check runs.
    unsafe { *SEAMCALL_HOOK.0.get() = Some(hook) };
}

/// Disarms the hook; returns whether it was still armed (it never ran).
pub fn disarm_seamcall_hook() -> bool {
    // SAFETY: as in `arm_seamcall_hook`.
    unsafe { (*SEAMCALL_HOOK.0.get()).take().is_some() }
}

/// Runs and disarms the armed hook if the #UD at `rip` is on a crate SEAMCALL site.
fn run_seamcall_hook(rip: u64, saved: &mut SavedXstate) {
    let on_seamcall = tdxcall::fixup::site_at(rip)
        .is_some_and(|site| site.kind == tdxcall::fixup::SiteKind::Seamcall);
    if !on_seamcall {
        return;
    }
    // SAFETY: the exception path; the interrupted check does not touch the cell until
    // this handler returns (see `HookCell`).
    let hook = unsafe { (*SEAMCALL_HOOK.0.get()).take() };
    if let Some(hook) = hook {
        hook(saved);
    }
}

/// The Rust half of every exception: see the module documentation.
extern "C" fn ring0_exception(frame: *mut TrapFrame, saved: *mut SavedXstate) {
    // SAFETY: the common entry passes the address of the frame it just built on this stack;
    // nothing else refers to it until this function returns.
    let frame = unsafe { &mut *frame };
    if frame.vector == VECTOR_UD || frame.vector == VECTOR_GP {
        let (rip, rax) = (frame.rip, frame.rax);
        if frame.vector == VECTOR_UD {
            // SAFETY: the common entry passes the 64-byte-aligned area it reserved below the
            // frame, XSAVE_AREA_BYTES long and written by its XSAVE; nothing else refers to
            // it until this function returns.
            run_seamcall_hook(rip, unsafe { &mut *saved });
        }
        // What a kernel's #UD / #GP handler does first.
        if tdxcall::fixup::fixup_exception(frame.vector, &mut frame.rip, &mut frame.rax) {
            FIXUP_VECTOR.store(frame.vector, Relaxed);
            FIXUP_FAULT_RIP.store(rip, Relaxed);
            FIXUP_RESUME_RIP.store(frame.rip, Relaxed);
            FIXUP_RAX.store(frame.rax, Relaxed);
            FIXUP_COUNT.fetch_add(1, Relaxed);
            return;
        }
        let untouched = frame.rip == rip && frame.rax == rax;
        if ARMED.load(Relaxed)
            && ARMED_VECTOR.load(Relaxed) == frame.vector
            && ARMED_RIP.load(Relaxed) == rip
        {
            ARMED.store(false, Relaxed);
            DECLINED_VECTOR.store(frame.vector, Relaxed);
            DECLINED_RIP.store(rip, Relaxed);
            DECLINED_ERROR_CODE.store(frame.error_code, Relaxed);
            DECLINED_UNTOUCHED.store(untouched, Relaxed);
            DECLINED.store(true, Relaxed);
            frame.rip = ARMED_RESUME.load(Relaxed);
            return;
        }
    }
    unhandled(frame)
}

/// Reports a fault nobody claimed and ends the run.
fn unhandled(frame: &TrapFrame) -> ! {
    let name = VECTOR_NAMES
        .get(frame.vector as usize)
        .copied()
        .unwrap_or("vector ?");
    crate::print!(
        "{UNHANDLED_PREFIX}{name} at rip={:#x} error={:#x} rax={:#x} rsp={:#x}",
        frame.rip,
        frame.error_code,
        frame.rax,
        frame.rsp
    );
    if frame.vector == 14 {
        let cr2: u64;
        // SAFETY: reading CR2 at CPL 0 has no side effect.
        unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack, preserves_flags)) };
        crate::print!(" cr2={cr2:#x}");
    }
    crate::println!();
    crate::exit(Verdict::UnhandledFault)
}
