//! `tdxcall::xstate` at CPL 0, where its instructions are legal: the host XCR0 / IA32_XSS /
//! PKRU guard for TDH.VP.ENTER (XSETBV and WRMSR are CPL-0 only) and the vector-state
//! preservation of the migration leaves, each against the TDX module's side effects.
//!
//! SEAMCALL raises #UD here. A one-shot hook on the image's #UD path
//! ([`trap::arm_seamcall_hook`]) plays the module at the instruction, before the crate's
//! fixup turns the fault into [`Status::SEAMCALL_UD`]:
//!
//! - [`play_vp_enter`]: what a TD exit leaves behind. XCR0 at the TD's XFAM (here the host's
//!   minus AVX), PKRU at INIT (0), and IA32_XSS at a different value where the CPU model has
//!   the MSR and a supervisor component to toggle.
//! - [`play_aes_gcm_leaf`]: what a migration leaf's AES-GCM leaves behind. XMM0-15 zeroed,
//!   MXCSR at its default and the AVX component (YMM upper halves) at INIT, written into the
//!   XSAVE area the exception entry saved, which its exit path loads back.
//!
//! Each behaviour has a negative control that runs the same armed fault without the crate's
//! protection and must see the side effect: the checks can fail.
//!
//! Only the direct entry points are exercised: `Host::export_mem` does not go through
//! `call_preserving` yet (`Host::call_clobbering_vectors` forwards straight to the backend).
//! Once it does, a check through that wrapper belongs here too.

use core::arch::asm;
use core::arch::x86_64::__cpuid_count;
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use tdxcall::abi::mig::{Mbmd, MigCommand};
use tdxcall::abi::{HostPhysAddr, TdrPage};
use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::host::Host;
use tdxcall::leaf::Leaf;
use tdxcall::xstate::{
    call_preserving, call_restoring_host_xstate, Components, HostXstate, HostXstateAccess,
    Preserve, Rewritten, Ring0HostXstate, VectorState, XsaveArea, XsaveBuffer, STACK_AREA_BYTES,
};
use tdxcall::{Error, Regs, Status};

use super::{Check, Failed};
use crate::trap::{self, SavedXstate};

/// The section's checks.
pub const CHECKS: &[Check] = &[
    Check {
        name: "xstate_vp_enter_guard_restores",
        run: vp_enter_guard_restores,
    },
    Check {
        name: "xstate_vp_enter_guard_writes_nothing_unchanged",
        run: vp_enter_guard_writes_nothing_unchanged,
    },
    Check {
        name: "xstate_vp_enter_unguarded_control",
        run: vp_enter_unguarded_control,
    },
    Check {
        name: "xstate_migration_vectors_preserved",
        run: migration_vectors_preserved,
    },
    Check {
        name: "xstate_migration_wrapper_preserves",
        run: migration_wrapper_preserves,
    },
    Check {
        name: "xstate_migration_skip_control",
        run: migration_skip_control,
    },
];

const XCR0_SSE: u64 = 1 << 1;
const XCR0_AVX: u64 = 1 << 2;
const XCR0_PKRU: u64 = 1 << 9;

/// Offsets in the standard-format XSAVE area: the legacy region's MXCSR and XMM0-15, and
/// the header's XSTATE_BV. The AVX component's offset comes from CPUID.(0DH,2).EBX.
const AREA_MXCSR: usize = 24;
const AREA_XMM: usize = 160;
const AREA_XSTATE_BV: usize = 512;

/// A host PKRU other than INIT (every key but 0 access-disabled). PKRU governs user-mode
/// pages only, and the image maps none, so any value is harmless here.
const HOST_PKRU: u32 = 0x5555_5554;

/// CPUID.(0DH,1):EAX bit 3: XSAVES and IA32_XSS.
const CPUID_D1_EAX_XSAVES: u32 = 1 << 3;
const MSR_IA32_XSS: u32 = 0xDA0;

/// How many times a hook played the module.
static HOOK_RUNS: AtomicU64 = AtomicU64::new(0);

fn xgetbv0() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: `cpu::init` set CR4.OSXSAVE before any check runs; XGETBV writes EDX:EAX.
    unsafe {
        asm!("xgetbv", in("ecx") 0u32, out("eax") low, out("edx") high,
             options(nomem, nostack, preserves_flags))
    };
    u64::from(high) << 32 | u64::from(low)
}

/// XSETBV of XCR0.
///
/// # Safety
///
/// CPL 0 with CR4.OSXSAVE; `value` is a valid XCR0 for this CPU, and no code that runs
/// until it is put back uses a component it drops.
unsafe fn xsetbv0(value: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        asm!("xsetbv", in("ecx") 0u32, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nostack, preserves_flags))
    };
}

/// WRMSR of IA32_XSS.
///
/// # Safety
///
/// CPL 0, the MSR exists, and `value` holds only supported supervisor components.
unsafe fn write_xss(value: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        asm!("wrmsr", in("ecx") MSR_IA32_XSS, in("eax") value as u32,
             in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    };
}

fn read_u64(area: &SavedXstate, offset: usize) -> u64 {
    u64::from_le_bytes(area[offset..offset + 8].try_into().unwrap())
}

fn write_u64(area: &mut SavedXstate, offset: usize, value: u64) {
    area[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
}

// ---------------------------------------------------------------------------------------
// TDH.VP.ENTER: host XCR0, IA32_XSS and PKRU.
// ---------------------------------------------------------------------------------------

/// Whether [`play_vp_enter`] writes IA32_XSS, and the value it writes.
static VP_ENTER_WRITES_XSS: AtomicBool = AtomicBool::new(false);
static VP_ENTER_XSS: AtomicU64 = AtomicU64::new(0);

/// What a TD exit leaves in the host's control registers (tdx-module-abi.md §7, item 3):
/// XCR0 at the TD's XFAM, PKRU at INIT, IA32_XSS at the TD's value.
fn play_vp_enter(saved: &mut SavedXstate) {
    let td_xcr0 = xgetbv0() & !XCR0_AVX;
    // SAFETY: the exception path at CPL 0; x87 and SSE stay, AVX goes, which no code in the
    // image uses (it is built for baseline x86-64) until the guard or the check restores it.
    unsafe { xsetbv0(td_xcr0) };
    // The exit path's XRSTOR runs under the TD's XCR0, and faults on a component in
    // XSTATE_BV that XCR0 lacks; the module leaves those at INIT anyway. Clearing PKRU's bit
    // makes that XRSTOR load PKRU's INIT value, 0: a WRPKRU here would be undone by it.
    let bv = read_u64(saved, AREA_XSTATE_BV) & td_xcr0 & !XCR0_PKRU;
    write_u64(saved, AREA_XSTATE_BV, bv);
    if VP_ENTER_WRITES_XSS.load(Relaxed) {
        // SAFETY: the check stored a value with only supported supervisor components, and
        // only when the MSR exists.
        unsafe { write_xss(VP_ENTER_XSS.load(Relaxed)) };
    }
    HOOK_RUNS.fetch_add(1, Relaxed);
}

/// What this CPU model lets [`play_vp_enter`] change.
struct VpEnterPlan {
    access: Ring0HostXstate,
    /// The IA32_XSS value the "TD" leaves, when the MSR can take a different one.
    td_xss: Option<u64>,
}

/// Detects the plan; prints it when `report` (once per run is enough).
fn plan(report: bool) -> VpEnterPlan {
    // SAFETY: CPL 0 with CR4.OSXSAVE set by `cpu::init`, and CR4.PKE never changes after it.
    let mut access = unsafe { Ring0HostXstate::new() };
    let leaf = __cpuid_count(0xD, 1);
    let supported_xss = u64::from(leaf.ecx) | u64::from(leaf.edx) << 32;
    let (td_xss, xss_note) = if leaf.eax & CPUID_D1_EAX_XSAVES == 0 {
        (
            None,
            "absent (CPUID.(0xD,1):EAX bit 3 clear), not exercised",
        )
    } else if supported_xss == 0 {
        (
            None,
            "present, but no supervisor component is supported, so only 0 is writable: \
             not exercised",
        )
    } else {
        // Toggle the lowest supported supervisor component.
        let lowest = supported_xss & supported_xss.wrapping_neg();
        (Some(access.read_xss() ^ lowest), "exercised")
    };
    VP_ENTER_WRITES_XSS.store(td_xss.is_some(), Relaxed);
    VP_ENTER_XSS.store(td_xss.unwrap_or(0), Relaxed);
    if report {
        crate::println!(
            "    host xstate: xcr0={:#x}, PKRU {}, IA32_XSS {xss_note}",
            xgetbv0(),
            if access.has_pkru() {
                "exercised"
            } else {
                "absent (CR4.PKE clear), not exercised"
            },
        );
    }
    VpEnterPlan { access, td_xss }
}

/// Puts `state` back by hand, whatever a failed check left.
fn put_back(access: &mut Ring0HostXstate, state: HostXstate) {
    // SAFETY: every value was read from the same register through the same accessor.
    unsafe {
        access.write_xcr0(state.xcr0);
        if let Some(xss) = state.xss {
            access.write_xss(xss);
        }
        if let Some(pkru) = state.pkru {
            access.write_pkru(pkru);
        }
    }
}

fn set_pkru(access: &mut Ring0HostXstate, value: u32) {
    if access.has_pkru() {
        // SAFETY: PKRU covers user pages only and the image maps none.
        unsafe { access.write_pkru(value) };
    }
}

/// One TDH.VP.ENTER through `call_restoring_host_xstate`, with the module played when
/// `armed`, and the host PKRU at `host_pkru` beforehand.
fn guarded_vp_enter(
    plan: &mut VpEnterPlan,
    host_pkru: u32,
    armed: bool,
) -> Result<Rewritten, Failed> {
    let boot = plan.access.read();
    set_pkru(&mut plan.access, host_pkru);
    let before = plan.access.read();
    let runs = HOOK_RUNS.load(Relaxed);
    if armed {
        trap::arm_seamcall_hook(play_vp_enter);
    }
    let mut regs = Regs::ZERO;
    // SAFETY: SEAMCALL raises #UD at CPL 0 here; the image's #UD handler (after the armed
    // hook, if any) hands it to the crate's fixup, so nothing runs on another side.
    let (status, rewritten) = unsafe {
        call_restoring_host_xstate(
            &mut Native::new(),
            CallKind::SeamcallScrub,
            Leaf::TdhVpEnter.rax(),
            &mut regs,
            &mut plan.access,
        )
    };
    let still_armed = trap::disarm_seamcall_hook();
    let ran = HOOK_RUNS.load(Relaxed) - runs;
    let after = plan.access.read();
    put_back(&mut plan.access, boot);

    ensure!(
        !still_armed && ran == u64::from(armed),
        "the module was played {ran} times (armed: {armed})"
    );
    ensure!(
        status == Status::SEAMCALL_UD,
        "status {status:?}, expected {:?}",
        Status::SEAMCALL_UD
    );
    ensure!(
        after == before,
        "host state after the call {after:x?}, expected {before:x?} (host PKRU {host_pkru:#x})"
    );
    Ok(rewritten)
}

/// TDH.VP.ENTER changes XCR0, PKRU and (where it can) IA32_XSS; the guard puts each back and
/// reports exactly those it wrote. Twice: with the host PKRU away from INIT (the module's
/// reset changes it) and at INIT (the reset changes nothing, so PKRU is not written).
fn vp_enter_guard_restores() -> Result<(), Failed> {
    let mut plan = plan(true);
    ensure!(
        xgetbv0() & (XCR0_SSE | XCR0_AVX) == XCR0_SSE | XCR0_AVX,
        "XCR0 lacks SSE or AVX: the CPU model cannot play the module's XCR0 change"
    );
    let has_pkru = plan.access.has_pkru();
    for host_pkru in [HOST_PKRU, 0] {
        let rewritten = guarded_vp_enter(&mut plan, host_pkru, true)?;
        let expected = Rewritten {
            xcr0: true,
            xss: plan.td_xss.is_some(),
            pkru: has_pkru && host_pkru != 0,
        };
        ensure!(
            rewritten == expected,
            "host PKRU {host_pkru:#x}: rewritten {rewritten:?}, expected {expected:?}"
        );
    }
    Ok(())
}

/// When TDH.VP.ENTER changes nothing (it failed before entering the TD), nothing is written.
fn vp_enter_guard_writes_nothing_unchanged() -> Result<(), Failed> {
    let mut plan = plan(false);
    let rewritten = guarded_vp_enter(&mut plan, HOST_PKRU, false)?;
    ensure!(
        rewritten == Rewritten::default(),
        "rewritten {rewritten:?} though the call changed nothing"
    );
    Ok(())
}

/// The same armed fault through a plain `Native` call, without the guard: the TD's values
/// stay (so the guard check can fail). Restored by hand afterwards.
fn vp_enter_unguarded_control() -> Result<(), Failed> {
    let mut plan = plan(false);
    let boot = plan.access.read();
    set_pkru(&mut plan.access, HOST_PKRU);
    let before = plan.access.read();
    trap::arm_seamcall_hook(play_vp_enter);
    let mut regs = Regs::ZERO;
    // SAFETY: as in `guarded_vp_enter`.
    let status =
        unsafe { Native::new().call(CallKind::SeamcallScrub, Leaf::TdhVpEnter.rax(), &mut regs) };
    let still_armed = trap::disarm_seamcall_hook();
    let after = plan.access.read();
    put_back(&mut plan.access, boot);
    let restored = plan.access.read();

    ensure!(!still_armed, "the module was not played");
    ensure!(status == Status::SEAMCALL_UD, "status {status:?}");
    let expected = HostXstate {
        xcr0: before.xcr0 & !XCR0_AVX,
        xss: plan.td_xss.or(before.xss),
        pkru: before.pkru.map(|_| 0),
    };
    ensure!(
        after == expected,
        "without the guard the host state is {after:x?}, expected the TD's {expected:x?}"
    );
    ensure!(
        restored == boot,
        "restoring by hand left {restored:x?}, expected {boot:x?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Migration leaves: XMM0-15, the YMM upper halves and MXCSR.
// ---------------------------------------------------------------------------------------

const MXCSR_DEFAULT: u32 = 0x1F80;
/// Round toward zero (RC = 11) and flush-to-zero, every exception masked.
const MXCSR_PATTERN: u32 = 0xFF80;
/// MXCSR's control bits (all but the six exception flags).
const MXCSR_CONTROL: u32 = 0xFFC0;

/// What the interrupted code held at the instruction, as the exception entry saved it:
/// bytes 0..8 of XMM0, 8..16 of XMM15, 24..32 of YMM15, and MXCSR.
static SEEN_XMM0: AtomicU64 = AtomicU64::new(0);
/// Bytes 8..16 of XMM0 at the instruction.
static SEEN_XMM0_HIGH: AtomicU64 = AtomicU64::new(0);
static SEEN_XMM15_HIGH: AtomicU64 = AtomicU64::new(0);
static SEEN_YMM15_TOP: AtomicU64 = AtomicU64::new(0);
static SEEN_MXCSR: AtomicU64 = AtomicU64::new(0);

/// Where the AVX component (YMM0-15 bits 255:128) lives in the standard format.
fn avx_offset() -> usize {
    __cpuid_count(0xD, 2).ebx as usize
}

/// What a migration leaf's AES-GCM leaves behind (tdx-module-abi.md §7, item 1): XMM0-15
/// zeroed, MXCSR at its default, AVX at INIT.
fn play_aes_gcm_leaf(saved: &mut SavedXstate) {
    let avx = avx_offset();
    let bv = read_u64(saved, AREA_XSTATE_BV);
    SEEN_XMM0.store(read_u64(saved, AREA_XMM), Relaxed);
    SEEN_XMM0_HIGH.store(read_u64(saved, AREA_XMM + 8), Relaxed);
    SEEN_XMM15_HIGH.store(read_u64(saved, AREA_XMM + 15 * 16 + 8), Relaxed);
    // A component whose XSTATE_BV bit is clear is at INIT: zero, whatever the bytes say.
    let ymm15_top = if bv & XCR0_AVX != 0 {
        read_u64(saved, avx + 15 * 16 + 8)
    } else {
        0
    };
    SEEN_YMM15_TOP.store(ymm15_top, Relaxed);
    SEEN_MXCSR.store(
        u64::from(u32::from_le_bytes(
            saved[AREA_MXCSR..AREA_MXCSR + 4].try_into().unwrap(),
        )),
        Relaxed,
    );
    saved[AREA_XMM..AREA_XMM + 16 * 16].fill(0);
    saved[AREA_MXCSR..AREA_MXCSR + 4].copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
    saved[avx..avx + 16 * 16].fill(0);
    write_u64(saved, AREA_XSTATE_BV, bv & !XCR0_AVX);
    HOOK_RUNS.fetch_add(1, Relaxed);
}

/// YMM0-15 and MXCSR, in the layout the assembly loads and stores.
#[repr(C, align(32))]
#[derive(Clone, Copy, PartialEq, Eq)]
struct VectorImage {
    ymm: [[u8; 32]; 16],
    mxcsr: u32,
}

const IMAGE_MXCSR: usize = offset_of!(VectorImage, mxcsr);
const _: () = assert!(IMAGE_MXCSR == 512);

impl VectorImage {
    const ZERO: VectorImage = VectorImage {
        ymm: [[0; 32]; 16],
        mxcsr: 0,
    };

    /// Every byte distinct per register and position, never 0.
    fn pattern() -> VectorImage {
        let mut image = VectorImage::ZERO;
        for (register, bytes) in image.ymm.iter_mut().enumerate() {
            for (index, byte) in bytes.iter_mut().enumerate() {
                *byte = ((register * 37 + index * 11) % 251 + 1) as u8;
            }
        }
        image.mxcsr = MXCSR_PATTERN;
        image
    }

    fn xmm_low(&self, register: usize) -> u64 {
        u64::from_le_bytes(self.ymm[register][0..8].try_into().unwrap())
    }

    fn xmm_high(&self, register: usize) -> u64 {
        u64::from_le_bytes(self.ymm[register][8..16].try_into().unwrap())
    }

    fn ymm_top(&self, register: usize) -> u64 {
        u64::from_le_bytes(self.ymm[register][24..32].try_into().unwrap())
    }
}

/// How the shim preserves: the `Copy` parts of a [`Preserve`].
#[derive(Clone, Copy)]
enum Mode {
    Skip,
    OnStack,
    InArea(VectorState, *mut XsaveBuffer),
}

/// What the shim works with, made before the assembly block.
struct CallSpec {
    mode: Mode,
    /// Go through the typed migration wrapper `Host::export_track` (arguments made before
    /// the assembly block) instead of `call_preserving` directly.
    wrapper: Option<(TdrPage, Mbmd)>,
    regs: Regs,
    status: u64,
}

/// Left in [`CallSpec::status`] when the shim could not build its `Preserve`.
const NOT_CALLED: u64 = u64::MAX;

/// The preserved call, reached from the assembly block with the patterns live. The
/// [`Preserve`] is built here from `Copy` parts in general registers, not moved in from
/// memory (which compiled code may do through an XMM register).
extern "C" fn preserved_call(spec: &mut CallSpec) {
    let preserve = match spec.mode {
        Mode::Skip => Ok(Preserve::skip()),
        Mode::OnStack => Preserve::on_stack(),
        // SAFETY: the buffer belongs to the caller of `run`, which outlives the call.
        Mode::InArea(state, buffer) => Preserve::in_area(state, unsafe { &mut *buffer }),
    };
    let Ok(preserve) = preserve else {
        spec.status = NOT_CALLED;
        return;
    };
    let status = match spec.wrapper {
        // SAFETY: SEAMCALL raises #UD here; the armed hook plays the module and the crate's
        // fixup completes the call, so nothing runs on another side.
        None => unsafe {
            call_preserving(
                &mut Native::new(),
                CallKind::Seamcall,
                Leaf::TdhExportMem.rax(),
                &mut spec.regs,
                preserve,
            )
        },
        // SAFETY: as above; the MBMD is never written, the hook plays the module.
        Some((tdr, mbmd)) => match unsafe {
            Host::new(Native::new()).export_track(tdr, mbmd, MigCommand::New, preserve)
        } {
            Ok(()) => Status::SUCCESS,
            Err(Error::Status(status)) => status,
            Err(_) => Status::from_raw(NOT_CALLED),
        },
    };
    spec.status = status.raw();
}

/// One instruction per register, `$insn $reg, [{input} + 32 * n]` or the store form.
macro_rules! each_ymm {
    (load $insn:literal) => {
        concat!(
            $insn,
            " ymm0, [{input}]\n",
            $insn,
            " ymm1, [{input} + 32]\n",
            $insn,
            " ymm2, [{input} + 64]\n",
            $insn,
            " ymm3, [{input} + 96]\n",
            $insn,
            " ymm4, [{input} + 128]\n",
            $insn,
            " ymm5, [{input} + 160]\n",
            $insn,
            " ymm6, [{input} + 192]\n",
            $insn,
            " ymm7, [{input} + 224]\n",
            $insn,
            " ymm8, [{input} + 256]\n",
            $insn,
            " ymm9, [{input} + 288]\n",
            $insn,
            " ymm10, [{input} + 320]\n",
            $insn,
            " ymm11, [{input} + 352]\n",
            $insn,
            " ymm12, [{input} + 384]\n",
            $insn,
            " ymm13, [{input} + 416]\n",
            $insn,
            " ymm14, [{input} + 448]\n",
            $insn,
            " ymm15, [{input} + 480]\n",
        )
    };
    (store $insn:literal) => {
        concat!(
            $insn,
            " [r12], ymm0\n",
            $insn,
            " [r12 + 32], ymm1\n",
            $insn,
            " [r12 + 64], ymm2\n",
            $insn,
            " [r12 + 96], ymm3\n",
            $insn,
            " [r12 + 128], ymm4\n",
            $insn,
            " [r12 + 160], ymm5\n",
            $insn,
            " [r12 + 192], ymm6\n",
            $insn,
            " [r12 + 224], ymm7\n",
            $insn,
            " [r12 + 256], ymm8\n",
            $insn,
            " [r12 + 288], ymm9\n",
            $insn,
            " [r12 + 320], ymm10\n",
            $insn,
            " [r12 + 352], ymm11\n",
            $insn,
            " [r12 + 384], ymm12\n",
            $insn,
            " [r12 + 416], ymm13\n",
            $insn,
            " [r12 + 448], ymm14\n",
            $insn,
            " [r12 + 480], ymm15\n",
        )
    };
}

/// Loads `input` into YMM0-15 and MXCSR, calls [`preserved_call`], and stores what came
/// back into `output`, all in one assembly block: no compiled code runs between the loads
/// and the call or between the call and the stores.
///
/// # Safety
///
/// XCR0 enables AVX; `spec` is valid for the shim.
#[target_feature(enable = "avx")]
unsafe fn load_call_store(input: &VectorImage, output: &mut VectorImage, spec: &mut CallSpec) {
    // SAFETY: the loads and stores stay inside the two images; the call follows the C ABI
    // (clobber_abi), and R12/R13 are callee-saved so they survive it; MXCSR and the upper
    // YMM halves are put back to their defaults before the block ends.
    unsafe {
        asm!(
            each_ymm!(load "vmovdqu"),
            "ldmxcsr [{input} + {mxcsr}]",
            "call {entry}",
            each_ymm!(store "vmovdqu"),
            "stmxcsr [r12 + {mxcsr}]",
            "ldmxcsr [r13]",
            "vzeroupper",
            input = in(reg) input,
            mxcsr = const IMAGE_MXCSR,
            entry = sym preserved_call,
            in("rdi") spec,
            in("r12") output,
            in("r13") &MXCSR_DEFAULT,
            clobber_abi("C"),
        );
    }
}

/// What one armed migration call saw and returned.
struct Run {
    after: VectorImage,
    status: Status,
}

/// Loads the patterns, makes one armed TDH.EXPORT.MEM through `call_preserving` as `mode`
/// says, and checks the premise: the module was played once and the patterns were live at
/// the instruction (compiled code on the way did not use those registers).
fn run(input: &VectorImage, mode: Mode, label: &str) -> Result<Run, Failed> {
    run_through(input, mode, None, label)
}

/// [`run`], optionally through the typed wrapper `Host::export_track`.
fn run_through(
    input: &VectorImage,
    mode: Mode,
    wrapper: Option<(TdrPage, Mbmd)>,
    label: &str,
) -> Result<Run, Failed> {
    let mut after = VectorImage::ZERO;
    let mut spec = CallSpec {
        mode,
        wrapper,
        regs: Regs::ZERO,
        status: NOT_CALLED,
    };
    let runs = HOOK_RUNS.load(Relaxed);
    let fixups = trap::fixups().count;
    trap::arm_seamcall_hook(play_aes_gcm_leaf);
    // SAFETY: `avx_in_xcr0` holds (checked by the callers); `spec` lives across the call.
    unsafe { load_call_store(input, &mut after, &mut spec) };
    let still_armed = trap::disarm_seamcall_hook();
    let ran = HOOK_RUNS.load(Relaxed) - runs;
    let fixed = trap::fixups().count - fixups;

    ensure!(
        spec.status != NOT_CALLED,
        "{label}: the shim could not build its Preserve"
    );
    ensure!(
        !still_armed && ran == 1 && fixed == 1,
        "{label}: the module was played {ran} times and the crate's fixup ran {fixed} times, \
         expected once each"
    );
    let seen = (
        SEEN_XMM0.load(Relaxed),
        SEEN_XMM15_HIGH.load(Relaxed),
        SEEN_YMM15_TOP.load(Relaxed),
        SEEN_MXCSR.load(Relaxed) as u32 & MXCSR_CONTROL,
    );
    // Through the wrapper, its own compiled code (SSE-enabled target) may use XMM0 before the
    // save, e.g. to zero its register struct; what was in XMM0 at the save is then what must
    // come back, and the check compares against that.
    let xmm0_loaded = if wrapper.is_some() {
        seen.0
    } else {
        input.xmm_low(0)
    };
    let loaded = (
        xmm0_loaded,
        input.xmm_high(15),
        input.ymm_top(15),
        input.mxcsr,
    );
    ensure!(
        seen == loaded,
        "{label}: at the instruction XMM0/XMM15/YMM15/MXCSR held {seen:x?}, expected the \
         patterns {loaded:x?}: something between the assembly and SEAMCALL used them"
    );
    Ok(Run {
        after,
        status: Status::from_raw(spec.status),
    })
}

fn avx_in_xcr0() -> Result<VectorState, Failed> {
    ensure!(
        xgetbv0() & (XCR0_SSE | XCR0_AVX) == XCR0_SSE | XCR0_AVX,
        "XCR0 {:#x} lacks SSE or AVX: use a CPU model with AVX",
        xgetbv0()
    );
    // Also warms the cache, so that `Preserve::on_stack` in the shim is an atomic load.
    let state = VectorState::current();
    ensure!(
        state
            .components()
            .contains(Components::SSE | Components::AVX),
        "VectorState::current() preserves {:?}, expected SSE and AVX",
        state.components()
    );
    Ok(state)
}

/// With `Preserve::on_stack()` and with the caller's area, YMM0-15 and MXCSR come back as
/// loaded although the module zeroed them, and the status is the fault's.
fn migration_vectors_preserved() -> Result<(), Failed> {
    let state = avx_in_xcr0()?;
    let input = VectorImage::pattern();
    let mut area = XsaveArea::<STACK_AREA_BYTES>::new();
    for (mode, label) in [
        (Mode::OnStack, "on_stack"),
        (Mode::InArea(state, area.buffer()), "in_area"),
    ] {
        let run = run(&input, mode, label)?;
        ensure!(
            run.status == Status::SEAMCALL_UD,
            "{label}: status {:?}, expected {:?}",
            run.status,
            Status::SEAMCALL_UD
        );
        for register in 0..16 {
            ensure!(
                run.after.ymm[register] == input.ymm[register],
                "{label}: YMM{register} came back {:x?}, expected {:x?}",
                run.after.ymm[register],
                input.ymm[register]
            );
        }
        ensure!(
            run.after.mxcsr & MXCSR_CONTROL == input.mxcsr,
            "{label}: MXCSR came back {:#x}, expected control bits {:#x}",
            run.after.mxcsr,
            input.mxcsr
        );
    }
    Ok(())
}

/// Through the typed migration wrapper `Host::export_track` at CPL 0: YMM0-15 and MXCSR come
/// back as they were at the save with `Preserve::on_stack()` (the loaded patterns, but for
/// XMM0, which the wrapper's own SSE code may use first on this SSE-enabled target; a kernel
/// built without SSE never does), and the module's clobber shows with `Preserve::skip()` (so
/// the check can fail).
fn migration_wrapper_preserves() -> Result<(), Failed> {
    avx_in_xcr0()?;
    let input = VectorImage::pattern();
    let arguments = (
        TdrPage::from_raw(0x7_0000_1000).map_err(|_| Failed)?,
        Mbmd::new(HostPhysAddr::page(0x7_0000_2000).map_err(|_| Failed)?, 256)
            .map_err(|_| Failed)?,
    );
    for (mode, kept, label) in [
        (Mode::OnStack, true, "wrapper on_stack"),
        (Mode::Skip, false, "wrapper skip"),
    ] {
        let run = run_through(&input, mode, Some(arguments), label)?;
        ensure!(
            run.status == Status::SEAMCALL_UD,
            "{label}: status {:?}, expected {:?}",
            run.status,
            Status::SEAMCALL_UD
        );
        for register in 0..16 {
            let mut expected = if kept { input.ymm[register] } else { [0; 32] };
            if kept && register == 0 {
                // The low half of XMM0 as the save found it (see `run_through`).
                expected[..8].copy_from_slice(&SEEN_XMM0.load(Relaxed).to_le_bytes());
                expected[8..16].copy_from_slice(&SEEN_XMM0_HIGH.load(Relaxed).to_le_bytes());
            }
            ensure!(
                run.after.ymm[register] == expected,
                "{label}: YMM{register} came back {:x?}, expected {:x?}",
                run.after.ymm[register],
                expected
            );
        }
        let mxcsr = if kept { input.mxcsr } else { MXCSR_DEFAULT };
        ensure!(
            run.after.mxcsr & MXCSR_CONTROL == mxcsr,
            "{label}: MXCSR came back {:#x}, expected control bits {mxcsr:#x}",
            run.after.mxcsr
        );
    }
    Ok(())
}

/// The same armed call with `Preserve::skip()`: the module's clobber shows in every
/// register (so the preservation check can fail).
fn migration_skip_control() -> Result<(), Failed> {
    avx_in_xcr0()?;
    let input = VectorImage::pattern();
    let run = run(&input, Mode::Skip, "skip")?;
    ensure!(run.status == Status::SEAMCALL_UD, "status {:?}", run.status);
    for register in 0..16 {
        ensure!(
            run.after.ymm[register] == [0; 32],
            "YMM{register} came back {:x?}, expected the module's zeroes",
            run.after.ymm[register]
        );
    }
    ensure!(
        run.after.mxcsr & MXCSR_CONTROL == MXCSR_DEFAULT,
        "MXCSR came back {:#x}, expected the default {MXCSR_DEFAULT:#x}",
        run.after.mxcsr
    );
    Ok(())
}
