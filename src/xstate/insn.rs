//! The instructions: CPUID leaf 0xD, XGETBV, and the save/restore bracket (x86-64 only).

use super::state::{ComponentInfo, SaveInstruction, VectorState};
use crate::call::{Backend, CallKind};
use crate::regs::Regs;
use crate::status::Status;
use core::arch::asm;
use core::arch::x86_64::CpuidResult;

/// CPUID.1:ECX bit 27: the OS has set CR4.OSXSAVE, so XGETBV and the XSAVE family work.
const CPUID1_ECX_OSXSAVE: u32 = 1 << 27;

#[inline]
pub(super) fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    // SAFETY: CPUID exists on every x86-64 CPU and only writes the four result registers.
    // (The intrinsic is a safe function from Rust 1.87 on and unsafe before.)
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::__cpuid_count(leaf, subleaf)
    }
}

/// XGETBV: reads extended control register `index` (0 = XCR0; 1 = XCR0 & XINUSE).
///
/// # Safety
///
/// CR4.OSXSAVE must be set, and for `index` 1 the CPU must have XGETBV1
/// (CPUID.(0DH,1):EAX bit 2); otherwise #UD.
#[inline]
pub(super) unsafe fn xgetbv(index: u32) -> u64 {
    let low: u32;
    let high: u32;
    // SAFETY: the caller guarantees the instruction is enabled; it only writes EDX:EAX.
    unsafe {
        asm!(
            "xgetbv",
            in("ecx") index,
            out("eax") low,
            out("edx") high,
            options(nomem, nostack, preserves_flags),
        );
    }
    (high as u64) << 32 | low as u64
}

/// CPUID.(EAX=0DH,ECX=index) for one state component.
pub(super) fn component_info(index: u32) -> ComponentInfo {
    let leaf = cpuid(0xD, index);
    ComponentInfo {
        size: leaf.eax,
        offset: leaf.ebx,
        align64: leaf.ecx & 0b10 != 0,
    }
}

pub(super) fn detect() -> VectorState {
    if cpuid(1, 0).ecx & CPUID1_ECX_OSXSAVE == 0 {
        return VectorState::NONE;
    }
    // SAFETY: CR4.OSXSAVE is set (checked above), so XGETBV with ECX=0 is defined.
    let xcr0 = unsafe { xgetbv(0) };
    // CPUID.(0DH,1):EAX bits 0-2 are XSAVEOPT, XSAVEC and XGETBV1, in the order of
    // `features`.
    let available = (cpuid(0xD, 1).eax & 0b111) as u8;
    VectorState::from_cpu(xcr0, available, component_info)
}

/// One save instruction over `$area` with component mask `$mask` (a `u32`: every vector
/// component is below bit 32, so EDX is 0), optionally skipped when nothing is in use.
/// Evaluates to whether a restore is needed.
macro_rules! save {
    // Skip the work when every preserved component is at INIT, choosing the cheaper test by
    // what the previous save through this area found (its XSTATE_BV is still in the header):
    //
    // - It found state in use: save at once (XGETBV would cost as much again as the rest of
    //   the check, and dirty state tends to stay dirty), then skip the restore if the save
    //   recorded nothing in use after all.
    // - It found nothing in use (or the area is fresh and its header happens to be 0): ask
    //   XGETBV with ECX=1 first, and skip both save and restore when nothing is in use.
    //
    // The header is only a hint: a fresh area's bytes are arbitrary, and either path is
    // correct whatever it says.
    ($insn:literal, $area:expr, $mask:expr, check_init) => {{
        let in_use: u32;
        asm!(
            "test dword ptr [{area} + 512], {mask:e}",
            "jnz 2f",
            // EDX:EAX = XCR0 & XINUSE: which components hold non-INIT values. SSE at INIT
            // means XMM0-15 zero *and* MXCSR = 0x1F80: XSAVEC and XSAVES record SSE from
            // XINUSE[1], and the compacted XRSTOR(S) sets MXCSR to 0x1F80 when that bit is
            // clear, so a CPU whose XINUSE[1] ignored MXCSR would lose it on every context
            // switch. The MXCSR-only test checks this on the machine it runs on.
            "mov ecx, 1",
            "xgetbv",
            "and eax, {mask:e}",
            // Nothing in use: EAX is 0, no save, no restore.
            "jz 3f",
            "2:",
            // XRSTOR faults unless header bytes 63:16 are 0, and XSAVE/XSAVEOPT write only
            // the XSTATE_BV bits of the mask: zero all 64 bytes with integer stores (no
            // vector register may be touched before the save).
            "xor ecx, ecx",
            "mov qword ptr [{area} + 512], rcx",
            "mov qword ptr [{area} + 520], rcx",
            "mov qword ptr [{area} + 528], rcx",
            "mov qword ptr [{area} + 536], rcx",
            "mov qword ptr [{area} + 544], rcx",
            "mov qword ptr [{area} + 552], rcx",
            "mov qword ptr [{area} + 560], rcx",
            "mov qword ptr [{area} + 568], rcx",
            "mov eax, {mask:e}",
            "xor edx, edx",
            concat!($insn, " [{area}]"),
            // XSTATE_BV = XINUSE & mask as the save saw it: 0 means every component was at
            // INIT, and the module can only reset to INIT, so there is nothing to restore.
            "mov eax, dword ptr [{area} + 512]",
            "and eax, {mask:e}",
            "3:",
            area = in(reg) $area,
            mask = in(reg) $mask,
            out("eax") in_use,
            out("ecx") _,
            out("edx") _,
            options(nostack),
        );
        in_use != 0
    }};
    // Always save (no XGETBV1 on this CPU, or the state asked for it).
    ($insn:literal, $area:expr, $mask:expr, always) => {{
        asm!(
            "xor ecx, ecx",
            "mov qword ptr [{area} + 512], rcx",
            "mov qword ptr [{area} + 520], rcx",
            "mov qword ptr [{area} + 528], rcx",
            "mov qword ptr [{area} + 536], rcx",
            "mov qword ptr [{area} + 544], rcx",
            "mov qword ptr [{area} + 552], rcx",
            "mov qword ptr [{area} + 560], rcx",
            "mov qword ptr [{area} + 568], rcx",
            concat!($insn, " [{area}]"),
            area = in(reg) $area,
            in("eax") $mask,
            in("edx") 0u32,
            out("ecx") _,
            options(nostack, preserves_flags),
        );
        true
    }};
}

/// Saves `state` into `area` unless it is at INIT; returns whether it must be restored.
///
/// # Safety
///
/// `area` is 64-byte aligned, writable for `state.area_bytes()` bytes and not otherwise
/// accessed until the matching [`restore`]; `state` came from this CPU (its components are
/// enabled in XCR0 and its instruction exists).
#[inline(always)]
unsafe fn save(state: VectorState, area: *mut u8) -> bool {
    let mask = state.mask() as u32;
    // SAFETY: the caller guarantees the area and the state; the asm writes only the area
    // and EAX/ECX/EDX (declared), and reads the vector registers without changing them.
    unsafe {
        match (state.instruction(), state.skips_init_state()) {
            (SaveInstruction::Xsavec, true) => save!("xsavec64", area, mask, check_init),
            (SaveInstruction::Xsavec, false) => save!("xsavec64", area, mask, always),
            (SaveInstruction::Xsaveopt, true) => save!("xsaveopt64", area, mask, check_init),
            (SaveInstruction::Xsaveopt, false) => save!("xsaveopt64", area, mask, always),
            (SaveInstruction::Xsave, true) => save!("xsave64", area, mask, check_init),
            (SaveInstruction::Xsave, false) => save!("xsave64", area, mask, always),
        }
    }
}

/// XRSTOR of `mask` from `area`.
///
/// Never inlined: XRSTOR writes vector registers, and a function call is where the System V
/// ABI lets every one of them (XMM/YMM/ZMM0-31, k0-7) change. Inlined into a caller built
/// with AVX-512, the block would need clobbers this function cannot name without that
/// target feature.
///
/// # Safety
///
/// `area` holds what [`save`] wrote for `mask` (and [`save`] asked for the restore), and
/// nothing has written it since.
#[inline(never)]
unsafe fn restore(area: *const u8, mask: u32) {
    // SAFETY: the area holds a valid XSAVE image for `mask` (the caller's contract), so
    // XRSTOR does not fault; the registers it loads are declared clobbered.
    unsafe {
        asm!(
            "xrstor64 [{area}]",
            area = in(reg) area,
            in("eax") mask,
            in("edx") 0u32,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack, preserves_flags, readonly),
        );
    }
}

/// Restores on drop: on the normal return and if the backend unwinds.
struct RestoreOnDrop {
    area: *const u8,
    mask: u32,
}

impl Drop for RestoreOnDrop {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: made only right after a successful `save` into `area`, which stays ours
        // until this guard is gone.
        unsafe { restore(self.area, self.mask) }
    }
}

/// Save, call, restore.
///
/// # Safety
///
/// As [`save`] for `state` and `area`, and as [`Backend::call`] for the call.
#[inline(always)]
pub(super) unsafe fn bracket<B: Backend + ?Sized>(
    backend: &mut B,
    kind: CallKind,
    leaf: u64,
    regs: &mut Regs,
    state: VectorState,
    area: *mut u8,
) -> Status {
    // SAFETY: the caller's contract.
    if !unsafe { save(state, area) } {
        // SAFETY: the caller upholds the contract of `Backend::call`.
        return unsafe { backend.call(kind, leaf, regs) };
    }
    let _restore = RestoreOnDrop {
        area,
        mask: state.mask() as u32,
    };
    // SAFETY: the caller upholds the contract of `Backend::call`.
    unsafe { backend.call(kind, leaf, regs) }
}
