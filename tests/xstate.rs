//! Vector-state preservation around a migration leaf, end to end on the real instruction.
//!
//! On this machine SEAMCALL raises #UD. This test's own SIGILL handler (not the crate's)
//! plays the TDX module at the instruction: in the signal frame's XSAVE image it resets
//! everything the ABI lets a migration leaf reset (XMM0-15 zeroed, MXCSR to 0x1F80, the AVX
//! and AVX-512 components to INIT), then completes the call with a success or an error
//! status, or routes it through the crate's fault fixup. The kernel restores the registers
//! from that image on return from the handler, so the clobber is real.
//!
//! Each case loads distinct patterns into XMM/YMM0-15 (ZMM0-31 and k0-k7 where XCR0 has
//! AVX-512) and MXCSR's control bits in one inline-assembly block that also calls the
//! preserved path and reads the registers back. With preservation the patterns survive;
//! with [`Preserve::skip`] the clobber must show, so the test can fail.
//!
//! The path from the assembly block to the save (an `extern "C"` shim and the crate's
//! prologue) is compiled Rust that, under the System V ABI, could use XMM registers. The
//! handler records what the registers held at the instruction, and every case checks that
//! the patterns were still live there; the premise of the test is checked, not assumed.
//!
//! Nothing here assumes a machine: every XSAVE area is sized from CPUID
//! ([`VectorState::area_bytes`]) and every frame offset is read from CPUID leaf 0xD, so the
//! suite holds on XCR0 0x7, on AVX-512 machines (0xE7) and with AMX (0x602E7), where it also
//! runs the ZMM0-31/k0-7 paths. The shim and the handler run across `extern "C"` frames,
//! which a panic cannot unwind through (it would abort the whole binary): they record what
//! went wrong and the case fails with that message.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::arch::asm;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use tdxcall::abi::mig::{Mbmd, MigCommand};
use tdxcall::abi::{HostPhysAddr, TdrPage};
use tdxcall::call::{thunk, Backend, CallKind};
use tdxcall::error::{InvalidArgument, InvalidReason};
use tdxcall::host::Host;
use tdxcall::xstate::{
    call_preserving, call_restoring_host_xstate, Components, HostXstate, HostXstateAccess,
    HostXstateGuard, Preserve, Rewritten, SaveInstruction, VectorState, XsaveBuffer,
    STACK_AREA_BYTES,
};
use tdxcall::{Error, Regs, Status};

// ---------------------------------------------------------------------------------------
// The module stand-in: a SIGILL handler.
// ---------------------------------------------------------------------------------------

/// TDH.EXPORT.MEM: one of the AES-GCM leaves.
const LEAF: u64 = 68;
/// What the "module" returns in the error case (TDX_NOT_EXPORTED).
const ERROR_STATUS: u64 = 0xC000_0E04_0000_0000;
const MXCSR_DEFAULT: u32 = 0x1F80;
/// Round toward zero (RC = 11) and flush-to-zero, every exception masked.
const MXCSR_PATTERN: u32 = 0xFF80;
/// The control bits of MXCSR (everything but the six exception flags).
const MXCSR_CONTROL: u32 = 0xFFC0;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Outcome {
    Success = 0,
    Error = 1,
    Fault = 2,
}

static OUTCOME: AtomicU8 = AtomicU8::new(0);
/// How many times the handler played the module.
static MODULE_CALLS: AtomicU64 = AtomicU64::new(0);
/// MXCSR at the instruction.
static SEEN_MXCSR: AtomicU64 = AtomicU64::new(0);
/// XMM0-15 (two little-endian words each) in the frame, as the instruction found them.
static SEEN_XMM: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];
/// Words of the other vector components at the instruction (0 when the component is at
/// INIT or not in XCR0), each the last word its register holds, or the first for ZMM16:
/// bytes 24..32 of YMM15, 56..64 of ZMM15, 0..8 of ZMM16, 56..64 of ZMM31, and k7.
static SEEN_YMM15_TOP: AtomicU64 = AtomicU64::new(0);
static SEEN_ZMM15_TOP: AtomicU64 = AtomicU64::new(0);
static SEEN_ZMM16_LOW: AtomicU64 = AtomicU64::new(0);
static SEEN_ZMM31_TOP: AtomicU64 = AtomicU64::new(0);
static SEEN_K7: AtomicU64 = AtomicU64::new(0);
/// What went wrong in the handler ([`HandlerFailure`] as `u8`, 0 for nothing): it cannot
/// panic (a panic cannot unwind out of a signal handler, and would abort the whole test
/// binary), so it records the failure, completes the call, and the case reports it.
static HANDLER_FAILURE: AtomicU8 = AtomicU8::new(0);

/// Why the handler could not play the module.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum HandlerFailure {
    /// The frame has no XSAVE image (no `fpregs`, Linux's magic1 missing, or a size out of
    /// bounds).
    NoXsaveImage = 1,
    /// A component the layout names lies outside the image.
    ComponentOutsideImage = 2,
    /// The crate's fixup did not take the fault.
    FixupDeclined = 3,
}

impl HandlerFailure {
    fn from_code(code: u8) -> Option<HandlerFailure> {
        [
            HandlerFailure::NoXsaveImage,
            HandlerFailure::ComponentOutsideImage,
            HandlerFailure::FixupDeclined,
        ]
        .into_iter()
        .find(|failure| *failure as u8 == code)
    }
}

/// XSAVE component numbers.
const AVX: u32 = 2;
const OPMASK: u32 = 5;
const ZMM_HI256: u32 = 6;
const HI16_ZMM: u32 = 7;

/// Where the signal frame's (standard-format) XSAVE image keeps each component, from CPUID.
#[derive(Debug)]
struct FrameLayout {
    xcr0: u64,
    /// (component bit, offset, size) for AVX, opmask, ZMM_Hi256 and Hi16_ZMM when enabled.
    extended: Vec<(u32, usize, usize)>,
}

impl FrameLayout {
    /// The layout for `xcr0`, with `leaf_d(i)` = CPUID.(EAX=0DH,ECX=i) as (EAX size, EBX
    /// standard-format offset). Only the vector components the module stand-in resets are
    /// kept; whatever else XCR0 enables (PKRU, AMX tiles) is left alone.
    fn new(xcr0: u64, leaf_d: impl Fn(u32) -> (u32, u32)) -> FrameLayout {
        let extended = [AVX, OPMASK, ZMM_HI256, HI16_ZMM]
            .into_iter()
            .filter(|bit| xcr0 & (1 << bit) != 0)
            .map(|bit| {
                let (size, offset) = leaf_d(bit);
                (bit, offset as usize, size as usize)
            })
            .collect();
        FrameLayout { xcr0, extended }
    }

    /// `(offset, size)` of `bit` in the image, if XCR0 has it.
    fn component(&self, bit: u32) -> Option<(usize, usize)> {
        self.extended
            .iter()
            .find(|&&(b, _, _)| b == bit)
            .map(|&(_, offset, size)| (offset, size))
    }
}

static LAYOUT: OnceLock<FrameLayout> = OnceLock::new();

fn cpuid(leaf: u32, subleaf: u32) -> std::arch::x86_64::CpuidResult {
    // SAFETY: CPUID exists on every x86-64 CPU (a safe function on newer Rust).
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::__cpuid_count(leaf, subleaf)
    }
}

fn xcr0() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: Linux enables XSAVE on every CPU this test runs on (checked in `setup`).
    unsafe { asm!("xgetbv", in("ecx") 0, out("eax") low, out("edx") high) };
    (high as u64) << 32 | low as u64
}

fn layout() -> &'static FrameLayout {
    LAYOUT.get_or_init(|| {
        assert!(cpuid(1, 0).ecx & (1 << 27) != 0, "OSXSAVE is off");
        FrameLayout::new(xcr0(), |bit| {
            let leaf = cpuid(0xD, bit);
            (leaf.eax, leaf.ebx)
        })
    })
}

fn has_avx512() -> bool {
    layout().xcr0 & Components::AVX512.bits() == Components::AVX512.bits()
        && std::is_x86_feature_detected!("avx512f")
}

/// The fxsave part of the frame: XMM registers at 160, MXCSR at 24, software bytes at 464
/// (Linux's magic1, then at 480 the size of the XSAVE image).
const FRAME_XMM: usize = 160;
const FRAME_MXCSR: usize = 24;
const FRAME_SW_MAGIC: usize = 464;
const FRAME_SW_XSTATE_SIZE: usize = 480;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FRAME_XSTATE_BV: usize = 512;
/// The legacy region and the XSAVE header.
const FRAME_HEADER_END: usize = 576;

fn word(image: &[u8], offset: usize) -> Option<u64> {
    let bytes = image.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// The XSAVE image of a signal frame, bounded by the size Linux records in it.
///
/// # Safety
///
/// `fpregs` is null or the `fpregs` pointer of a signal context on Linux x86-64, not
/// otherwise referenced while the slice lives.
unsafe fn frame_image<'a>(fpregs: *mut u8) -> Option<&'a mut [u8]> {
    if fpregs.is_null() {
        return None;
    }
    // SAFETY: the legacy (FXSAVE) region, 512 bytes, is always there.
    let legacy = unsafe { core::slice::from_raw_parts(fpregs, 512) };
    let magic = u32::from_le_bytes(legacy[FRAME_SW_MAGIC..FRAME_SW_MAGIC + 4].try_into().ok()?);
    let size = u32::from_le_bytes(
        legacy[FRAME_SW_XSTATE_SIZE..FRAME_SW_XSTATE_SIZE + 4]
            .try_into()
            .ok()?,
    ) as usize;
    if magic != FP_XSTATE_MAGIC1 || !(FRAME_HEADER_END..=1 << 20).contains(&size) {
        return None;
    }
    // SAFETY: with magic1 set, Linux wrote an XSAVE image of `size` bytes there.
    Some(unsafe { core::slice::from_raw_parts_mut(fpregs, size) })
}

/// Plays the module on a standard-format XSAVE image laid out as `layout` says: records
/// what the registers held at the instruction, then resets what a migration leaf may reset
/// (XMM0-15 zeroed, MXCSR to 0x1F80, AVX and AVX-512 to INIT: bytes zeroed and XSTATE_BV
/// bits cleared, so the kernel's XRSTOR initialises them). Every access is bounds-checked
/// and nothing panics: it runs in a signal handler.
fn play_module_on(image: &mut [u8], layout: &FrameLayout) -> Result<(), HandlerFailure> {
    let outside = HandlerFailure::ComponentOutsideImage;
    let bv = word(image, FRAME_XSTATE_BV).ok_or(HandlerFailure::NoXsaveImage)?;
    for (index, seen) in SEEN_XMM.iter().enumerate() {
        seen.store(
            word(image, FRAME_XMM + index * 8).ok_or(outside)?,
            Ordering::Relaxed,
        );
    }
    let mxcsr = word(image, FRAME_MXCSR).ok_or(outside)? as u32;
    SEEN_MXCSR.store(mxcsr as u64, Ordering::Relaxed);
    // A word of component `bit` at `at`: 0 when the component is at INIT or absent.
    let in_component = |bit: u32, at: usize| -> Result<u64, HandlerFailure> {
        match layout.component(bit) {
            Some((offset, size)) if bv & (1 << bit) != 0 => {
                if at + 8 > size {
                    return Err(outside);
                }
                word(image, offset + at).ok_or(outside)
            }
            _ => Ok(0),
        }
    };
    for (seen, bit, at) in [
        (&SEEN_YMM15_TOP, AVX, 15 * 16 + 8),
        (&SEEN_ZMM15_TOP, ZMM_HI256, 15 * 32 + 24),
        (&SEEN_ZMM16_LOW, HI16_ZMM, 0),
        (&SEEN_ZMM31_TOP, HI16_ZMM, 15 * 64 + 56),
        (&SEEN_K7, OPMASK, 7 * 8),
    ] {
        seen.store(in_component(bit, at)?, Ordering::Relaxed);
    }
    // The module's clear_xmms(): PXOR of XMM0-15.
    image
        .get_mut(FRAME_XMM..FRAME_XMM + 16 * 16)
        .ok_or(outside)?
        .fill(0);
    image
        .get_mut(FRAME_MXCSR..FRAME_MXCSR + 4)
        .ok_or(outside)?
        .copy_from_slice(&MXCSR_DEFAULT.to_le_bytes());
    let mut bv = bv;
    for &(bit, offset, size) in &layout.extended {
        image.get_mut(offset..offset + size).ok_or(outside)?.fill(0);
        bv &= !(1u64 << bit);
    }
    image
        .get_mut(FRAME_XSTATE_BV..FRAME_XSTATE_BV + 8)
        .ok_or(outside)?
        .copy_from_slice(&bv.to_le_bytes());
    Ok(())
}

extern "C" fn play_module(
    _signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid ucontext to an SA_SIGINFO handler.
    let context = unsafe { &mut *(ctx as *mut libc::ucontext_t) };
    let gregs = &mut context.uc_mcontext.gregs;
    let mut rip = gregs[libc::REG_RIP as usize] as u64;
    if tdxcall::fixup::site_at(rip).is_none() {
        // A real SIGILL elsewhere: not ours to hide.
        // SAFETY: abort is async-signal-safe.
        unsafe { libc::abort() };
    }
    let failure = match LAYOUT.get() {
        // SAFETY: the frame of a signal on Linux x86-64; nothing else refers to it while the
        // handler runs.
        Some(layout) => match unsafe { frame_image(context.uc_mcontext.fpregs.cast()) } {
            Some(image) => play_module_on(image, layout).err(),
            None => Some(HandlerFailure::NoXsaveImage),
        },
        None => Some(HandlerFailure::NoXsaveImage),
    };
    if let Some(failure) = failure {
        HANDLER_FAILURE.store(failure as u8, Ordering::Relaxed);
    }
    MODULE_CALLS.fetch_add(1, Ordering::Relaxed);
    let mut rax = gregs[libc::REG_RAX as usize] as u64;
    let outcome = OUTCOME.load(Ordering::Relaxed);
    let routed = outcome == Outcome::Fault as u8 && {
        let vector = gregs[libc::REG_TRAPNO as usize] as u64;
        tdxcall::fixup::fixup_exception(vector, &mut rip, &mut rax)
    };
    if !routed {
        if outcome == Outcome::Fault as u8 {
            HANDLER_FAILURE.store(HandlerFailure::FixupDeclined as u8, Ordering::Relaxed);
        }
        // Complete the call past the 4-byte instruction. VMsucceed: CF = 0, or the thunk
        // reports VMfailInvalid.
        rip += 4;
        rax = if outcome == Outcome::Success as u8 {
            0
        } else {
            ERROR_STATUS
        };
        gregs[libc::REG_EFL as usize] &= !1;
    }
    gregs[libc::REG_RIP as usize] = rip as i64;
    gregs[libc::REG_RAX as usize] = rax as i64;
}

static INSTALL: Once = Once::new();
static SERIAL: Mutex<()> = Mutex::new(());

/// Serializes the cases (one handler mode, one set of statics) and installs the handler.
fn setup() -> MutexGuard<'static, ()> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    layout();
    INSTALL.call_once(|| {
        // SAFETY: a zeroed sigaction is valid; the handler is an SA_SIGINFO handler.
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = play_module as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            assert_eq!(
                libc::sigaction(libc::SIGILL, &action, core::ptr::null_mut()),
                0
            );
        }
    });
    guard
}

/// SEAMCALL through the production thunk, without the crate's handler.
struct RawSeamcall;

impl Backend for RawSeamcall {
    unsafe fn call(&mut self, _kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
        // SAFETY: on this machine SEAMCALL raises #UD, which the test handler completes.
        unsafe { thunk::seamcall(leaf, regs) }
    }
}

// ---------------------------------------------------------------------------------------
// Loading patterns, calling, reading back: one assembly block.
// ---------------------------------------------------------------------------------------

/// Register image: ZMM0-31 (AVX-only machines use bytes 0..32 of the first 16), k0-7,
/// MXCSR.
#[repr(C, align(64))]
#[derive(Clone, PartialEq, Eq)]
struct Image {
    zmm: [[u8; 64]; 32],
    k: [u64; 8],
    mxcsr: u32,
}

const K_OFFSET: usize = core::mem::offset_of!(Image, k);
const MXCSR_OFFSET: usize = core::mem::offset_of!(Image, mxcsr);

impl Image {
    fn zeroed() -> Box<Image> {
        Box::new(Image {
            zmm: [[0; 64]; 32],
            k: [0; 8],
            mxcsr: 0,
        })
    }

    /// Every byte distinct per register and position, never 0.
    fn pattern() -> Box<Image> {
        let mut image = Image::zeroed();
        for (register, bytes) in image.zmm.iter_mut().enumerate() {
            for (index, byte) in bytes.iter_mut().enumerate() {
                *byte = ((register * 7 + index * 13) % 251 + 1) as u8;
            }
        }
        for (index, k) in image.k.iter_mut().enumerate() {
            *k = 0x0123_4567_89AB_CDEF_u64.rotate_left(index as u32 * 8) | 1;
        }
        image.mxcsr = MXCSR_PATTERN;
        image
    }
}

/// One 64-byte line: the unit of [`Area`]'s allocation, which makes it 64-byte aligned.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u8; 64]);

/// Test-owned memory for an XSAVE area, on the heap, 64-byte aligned, of exactly the length
/// asked for: sized from the CPU ([`VectorState::area_bytes`], CPUID leaf 0xD), never from a
/// constant, so that every case holds on XCR0 0x7, 0xE7 and with AMX alike.
struct Area {
    lines: Vec<Line>,
    len: usize,
}

impl Area {
    /// `len` bytes, each `fill`.
    fn new(len: usize, fill: u8) -> Area {
        Area {
            lines: vec![Line([fill; 64]); len.div_ceil(64)],
            len,
        }
    }

    /// Exactly the bytes `state` needs.
    fn for_state(state: VectorState) -> Area {
        Area::new(state.area_bytes(), 0)
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the lines hold at least `len` initialised bytes, and `Line` is plain bytes.
        unsafe { core::slice::from_raw_parts(self.lines.as_ptr().cast::<u8>(), self.len) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, borrowed mutably through `self`.
        unsafe { core::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<u8>(), self.len) }
    }

    /// The whole area as an XSAVE buffer, for [`Mode::InArea`].
    fn buffer(&mut self) -> *mut XsaveBuffer {
        XsaveBuffer::from_bytes(self.bytes_mut()).expect("64-byte aligned by `Line`")
    }
}

/// How the shim preserves: the parts of a [`Preserve`], all `Copy`.
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
    /// Why the shim made no call, or why the call ended other than with a status. The shim
    /// is `extern "C"`: a panic cannot unwind out of it (the runtime would abort the whole
    /// test binary), so it records the failure and [`run_through`] reports it once the
    /// assembly block is done.
    failure: Option<String>,
}

/// The preserved call, reached from the assembly block with the patterns live. Never
/// panics: a panic inside is caught and recorded in [`CallSpec::failure`].
extern "C" fn preserved_call(spec: &mut CallSpec) {
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| preserved_call_inner(spec)));
    if let Err(payload) = caught {
        let message = payload
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        spec.failure = Some(format!("panicked: {message}"));
    }
}

/// The body of [`preserved_call`].
///
/// Only integer work may happen before the save: the [`Preserve`] is built here from `Copy`
/// parts (it is two words, moved in general registers), not moved in from memory, which
/// unoptimised code does with an XMM register.
fn preserved_call_inner(spec: &mut CallSpec) {
    let preserve = match spec.mode {
        Mode::Skip => Preserve::skip(),
        Mode::OnStack => match Preserve::on_stack() {
            Ok(preserve) => preserve,
            Err(error) => {
                spec.failure = Some(format!("Preserve::on_stack: {error}"));
                return;
            }
        },
        // SAFETY: the buffer outlives the call (it belongs to the caller of `run`).
        Mode::InArea(state, buffer) => match Preserve::in_area(state, unsafe { &mut *buffer }) {
            Ok(preserve) => preserve,
            Err(error) => {
                spec.failure = Some(format!("Preserve::in_area: {error}"));
                return;
            }
        },
    };
    let status = match spec.wrapper {
        // SAFETY: the backend's SEAMCALL is completed by the test handler.
        None => unsafe {
            call_preserving(
                &mut RawSeamcall,
                CallKind::Seamcall,
                LEAF,
                &mut spec.regs,
                preserve,
            )
        },
        // SAFETY: as above; the MBMD is never written (the handler plays the module).
        Some((tdr, mbmd)) => match unsafe {
            Host::new(RawSeamcall).export_track(tdr, mbmd, MigCommand::New, preserve)
        } {
            Ok(()) => Status::SUCCESS,
            Err(Error::Status(status)) => status,
            Err(other) => {
                spec.failure = Some(format!("Host::export_track: {other}"));
                return;
            }
        },
    };
    spec.status = status.raw();
}

macro_rules! loads {
    ($insn:literal: $($reg:literal @ $offset:literal),* $(,)?) => {
        concat!($($insn, " ", $reg, ", [{input} + ", $offset, "]\n"),*)
    };
}
macro_rules! stores {
    ($insn:literal: $($reg:literal @ $offset:literal),* $(,)?) => {
        concat!($($insn, " [r12 + ", $offset, "], ", $reg, "\n"),*)
    };
}

/// YMM0-15 and MXCSR around the call.
///
/// # Safety
///
/// The CPU has AVX; `spec` is valid for the shim.
#[target_feature(enable = "avx")]
unsafe fn run_avx(input: &Image, output: &mut Image, spec: &mut CallSpec) {
    // SAFETY: loads and stores stay inside the two images; the call follows the C ABI
    // (clobber_abi), r12 and r13 are callee-saved so they survive it; MXCSR and the upper
    // YMM halves are put back to their defaults before the block ends.
    unsafe {
        asm!(
            loads!("vmovdqu":
                "ymm0" @ 0, "ymm1" @ 64, "ymm2" @ 128, "ymm3" @ 192, "ymm4" @ 256,
                "ymm5" @ 320, "ymm6" @ 384, "ymm7" @ 448, "ymm8" @ 512, "ymm9" @ 576,
                "ymm10" @ 640, "ymm11" @ 704, "ymm12" @ 768, "ymm13" @ 832, "ymm14" @ 896,
                "ymm15" @ 960),
            "ldmxcsr [{input} + {mxcsr}]",
            "call {entry}",
            stores!("vmovdqu":
                "ymm0" @ 0, "ymm1" @ 64, "ymm2" @ 128, "ymm3" @ 192, "ymm4" @ 256,
                "ymm5" @ 320, "ymm6" @ 384, "ymm7" @ 448, "ymm8" @ 512, "ymm9" @ 576,
                "ymm10" @ 640, "ymm11" @ 704, "ymm12" @ 768, "ymm13" @ 832, "ymm14" @ 896,
                "ymm15" @ 960),
            "stmxcsr [r12 + {mxcsr}]",
            "ldmxcsr [r13]",
            "vzeroupper",
            input = in(reg) input,
            mxcsr = const MXCSR_OFFSET,
            entry = sym preserved_call,
            in("rdi") spec,
            in("r12") output,
            in("r13") &MXCSR_DEFAULT,
            clobber_abi("C"),
        );
    }
}

/// ZMM0-31, k0-7 and MXCSR around the call.
///
/// # Safety
///
/// The CPU has AVX-512F and AVX-512BW (64-bit opmask moves); `spec` is valid for the shim.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn run_avx512(input: &Image, output: &mut Image, spec: &mut CallSpec) {
    // SAFETY: as in `run_avx`; the opmask and ZMM16-31 registers are caller-saved under
    // the C ABI, so clobber_abi covers them.
    unsafe {
        asm!(
            loads!("vmovdqu64":
                "zmm0" @ 0, "zmm1" @ 64, "zmm2" @ 128, "zmm3" @ 192, "zmm4" @ 256,
                "zmm5" @ 320, "zmm6" @ 384, "zmm7" @ 448, "zmm8" @ 512, "zmm9" @ 576,
                "zmm10" @ 640, "zmm11" @ 704, "zmm12" @ 768, "zmm13" @ 832, "zmm14" @ 896,
                "zmm15" @ 960, "zmm16" @ 1024, "zmm17" @ 1088, "zmm18" @ 1152,
                "zmm19" @ 1216, "zmm20" @ 1280, "zmm21" @ 1344, "zmm22" @ 1408,
                "zmm23" @ 1472, "zmm24" @ 1536, "zmm25" @ 1600, "zmm26" @ 1664,
                "zmm27" @ 1728, "zmm28" @ 1792, "zmm29" @ 1856, "zmm30" @ 1920,
                "zmm31" @ 1984),
            loads!("kmovq":
                "k0" @ 2048, "k1" @ 2056, "k2" @ 2064, "k3" @ 2072, "k4" @ 2080,
                "k5" @ 2088, "k6" @ 2096, "k7" @ 2104),
            "ldmxcsr [{input} + {mxcsr}]",
            "call {entry}",
            stores!("vmovdqu64":
                "zmm0" @ 0, "zmm1" @ 64, "zmm2" @ 128, "zmm3" @ 192, "zmm4" @ 256,
                "zmm5" @ 320, "zmm6" @ 384, "zmm7" @ 448, "zmm8" @ 512, "zmm9" @ 576,
                "zmm10" @ 640, "zmm11" @ 704, "zmm12" @ 768, "zmm13" @ 832, "zmm14" @ 896,
                "zmm15" @ 960, "zmm16" @ 1024, "zmm17" @ 1088, "zmm18" @ 1152,
                "zmm19" @ 1216, "zmm20" @ 1280, "zmm21" @ 1344, "zmm22" @ 1408,
                "zmm23" @ 1472, "zmm24" @ 1536, "zmm25" @ 1600, "zmm26" @ 1664,
                "zmm27" @ 1728, "zmm28" @ 1792, "zmm29" @ 1856, "zmm30" @ 1920,
                "zmm31" @ 1984),
            stores!("kmovq":
                "k0" @ 2048, "k1" @ 2056, "k2" @ 2064, "k3" @ 2072, "k4" @ 2080,
                "k5" @ 2088, "k6" @ 2096, "k7" @ 2104),
            "stmxcsr [r12 + {mxcsr}]",
            "ldmxcsr [r13]",
            "vzeroupper",
            input = in(reg) input,
            mxcsr = const MXCSR_OFFSET,
            entry = sym preserved_call,
            in("rdi") spec,
            in("r12") output,
            in("r13") &MXCSR_DEFAULT,
            clobber_abi("C"),
        );
    }
}

const _: () = assert!(K_OFFSET == 2048 && MXCSR_OFFSET == 2112);

/// The registers the run covers on this CPU.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Width {
    Avx,
    Avx512,
}

fn width() -> Width {
    assert!(std::is_x86_feature_detected!("avx"), "the test needs AVX");
    if has_avx512() && std::is_x86_feature_detected!("avx512bw") {
        Width::Avx512
    } else {
        Width::Avx
    }
}

struct Run {
    after: Box<Image>,
    status: Status,
}

/// Loads `input`, calls the preserved path as `mode` says, and returns what came back.
fn run(input: &Image, mode: Mode, outcome: Outcome) -> Run {
    run_through(input, mode, outcome, None)
}

/// [`run`], optionally through the typed wrapper `Host::export_track`.
fn run_through(
    input: &Image,
    mode: Mode,
    outcome: Outcome,
    wrapper: Option<(TdrPage, Mbmd)>,
) -> Run {
    OUTCOME.store(outcome as u8, Ordering::Relaxed);
    HANDLER_FAILURE.store(0, Ordering::Relaxed);
    let calls = MODULE_CALLS.load(Ordering::Relaxed);
    let mut after = Image::zeroed();
    let mut spec = CallSpec {
        mode,
        wrapper,
        regs: Regs::ZERO,
        status: u64::MAX,
        failure: None,
    };
    // SAFETY: `width` checked the CPU features each variant needs.
    unsafe {
        match width() {
            Width::Avx => run_avx(input, &mut after, &mut spec),
            Width::Avx512 => run_avx512(input, &mut after, &mut spec),
        }
    }
    // What the shim and the handler could not report themselves, reported here, outside
    // any `extern "C"` frame: an ordinary failure of the case.
    if let Some(failure) = spec.failure.take() {
        panic!("the preserved call failed in the shim: {failure}");
    }
    let failure = HANDLER_FAILURE.swap(0, Ordering::Relaxed);
    if failure != 0 {
        panic!(
            "the module stand-in failed: {:?}",
            HandlerFailure::from_code(failure)
        );
    }
    assert_eq!(
        MODULE_CALLS.load(Ordering::Relaxed),
        calls + 1,
        "the instruction ran once"
    );
    Run {
        after,
        status: Status::from_raw(spec.status),
    }
}

/// Checks that the patterns were live at the instruction (the premise of every case): XMM0,
/// XMM15, MXCSR and the top of YMM15, and where the run loads them, the top of ZMM15, ZMM16,
/// ZMM31 and k7 (read from the frame at the offsets CPUID gives).
fn assert_live_at_instruction(input: &Image) {
    let low = |register: usize, at: usize| {
        u64::from_le_bytes(input.zmm[register][at..at + 8].try_into().unwrap())
    };
    let xmm0 = seen_xmm(0);
    let xmm15 = seen_xmm(15);
    assert_eq!(xmm0[..8], input.zmm[0][..8], "XMM0 at the instruction");
    assert_eq!(xmm15[8..], input.zmm[15][8..16], "XMM15 at the instruction");
    assert_eq!(
        SEEN_MXCSR.load(Ordering::Relaxed) as u32 & MXCSR_CONTROL,
        input.mxcsr
    );
    assert_eq!(
        SEEN_YMM15_TOP.load(Ordering::Relaxed),
        low(15, 24),
        "YMM15 bits 255:192 at the instruction"
    );
    if width() == Width::Avx512 {
        for (seen, expected, what) in [
            (&SEEN_ZMM15_TOP, low(15, 56), "ZMM15 bits 511:448"),
            (&SEEN_ZMM16_LOW, low(16, 0), "ZMM16 bits 63:0"),
            (&SEEN_ZMM31_TOP, low(31, 56), "ZMM31 bits 511:448"),
            (&SEEN_K7, input.k[7], "k7"),
        ] {
            assert_eq!(
                seen.load(Ordering::Relaxed),
                expected,
                "{what} at the instruction"
            );
        }
    }
}

/// Which parts of the image the run is expected to have kept.
#[derive(Clone, Copy, Debug)]
struct Kept {
    xmm_and_mxcsr: bool,
    ymm_upper: bool,
    avx512: bool,
}

impl Kept {
    const ALL: Kept = Kept {
        xmm_and_mxcsr: true,
        ymm_upper: true,
        avx512: true,
    };
    const NOTHING: Kept = Kept {
        xmm_and_mxcsr: false,
        ymm_upper: false,
        avx512: false,
    };

    fn for_components(components: Components) -> Kept {
        Kept {
            xmm_and_mxcsr: components.contains(Components::SSE),
            ymm_upper: components.contains(Components::AVX),
            avx512: components.contains(Components::AVX512),
        }
    }
}

/// Each part either equals the pattern or is at INIT (what the module left), never
/// anything else.
fn assert_image(input: &Image, after: &Image, kept: Kept) {
    let expect = |keep: bool, pattern: &[u8]| -> Vec<u8> {
        if keep {
            pattern.to_vec()
        } else {
            vec![0; pattern.len()]
        }
    };
    for register in 0..16 {
        assert_eq!(
            after.zmm[register][0..16],
            expect(kept.xmm_and_mxcsr, &input.zmm[register][0..16])[..],
            "XMM{register}"
        );
        assert_eq!(
            after.zmm[register][16..32],
            expect(kept.ymm_upper, &input.zmm[register][16..32])[..],
            "YMM{register} bits 255:128"
        );
    }
    let mxcsr = if kept.xmm_and_mxcsr {
        input.mxcsr
    } else {
        MXCSR_DEFAULT
    };
    assert_eq!(after.mxcsr & MXCSR_CONTROL, mxcsr, "MXCSR control bits");
    if width() == Width::Avx512 {
        for register in 0..16 {
            assert_eq!(
                after.zmm[register][32..64],
                expect(kept.avx512, &input.zmm[register][32..64])[..],
                "ZMM{register} bits 511:256"
            );
        }
        for register in 16..32 {
            assert_eq!(
                after.zmm[register],
                expect(kept.avx512, &input.zmm[register])[..]
            );
        }
        for (index, (&after, &before)) in after.k.iter().zip(input.k.iter()).enumerate() {
            assert_eq!(after, if kept.avx512 { before } else { 0 }, "k{index}");
        }
    }
}

fn current() -> VectorState {
    let state = VectorState::current();
    assert!(!state.is_empty());
    state
}

// ---------------------------------------------------------------------------------------
// The cases.
// ---------------------------------------------------------------------------------------

#[test]
fn patterns_survive_a_migration_leaf_on_success_error_and_fault() {
    let _serial = setup();
    let input = Image::pattern();
    for (outcome, status) in [
        (Outcome::Success, Status::SUCCESS),
        (Outcome::Error, Status::from_raw(ERROR_STATUS)),
        (Outcome::Fault, Status::SEAMCALL_UD),
    ] {
        let mut area = Area::for_state(current());
        let preserve = Mode::InArea(current(), area.buffer());
        let run = run(&input, preserve, outcome);
        assert_live_at_instruction(&input);
        assert_eq!(run.status, status, "{outcome:?}");
        assert_image(&input, &run.after, Kept::ALL);
    }
}

/// XMM`register` as the instruction found it.
fn seen_xmm(register: usize) -> [u8; 16] {
    seen_bytes(&SEEN_XMM, register)
}

fn seen_bytes(words: &[AtomicU64; 32], register: usize) -> [u8; 16] {
    let low = words[2 * register].load(Ordering::Relaxed);
    let high = words[2 * register + 1].load(Ordering::Relaxed);
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&low.to_le_bytes());
    bytes[8..].copy_from_slice(&high.to_le_bytes());
    bytes
}

/// Through the typed wrapper `Host::export_track`, with the caller's own area: the area must
/// hold the XMM registers and MXCSR exactly as the instruction found them, so the wrapper
/// saved them right before the instruction (its only path to the instruction is
/// `call_preserving`, whose restore the other cases prove). The caller's registers
/// themselves are not compared here: in user space the wrapper's own compiled code before
/// the save and after the restore may use vector registers (SysV makes them caller-saved;
/// in debug builds it zeroes its register struct with SSE stores and reaches glibc's
/// memcpy, which ends with VZEROUPPER). Kernel builds have no SSE. Most XMM registers must
/// still hold the pattern at the instruction, so the case cannot pass vacuously.
#[test]
fn the_typed_migration_wrapper_saves_the_state_the_instruction_finds() {
    let _serial = setup();
    let input = Image::pattern();
    let arguments = (
        TdrPage::from_raw(0x7_0000_1000).unwrap(),
        Mbmd::new(HostPhysAddr::page(0x7_0000_2000).unwrap(), 256).unwrap(),
    );
    for outcome in [Outcome::Success, Outcome::Error, Outcome::Fault] {
        let mut area = Area::new(current().area_bytes(), 0xA5);
        let run = run_through(
            &input,
            Mode::InArea(current(), area.buffer()),
            outcome,
            Some(arguments),
        );
        let expected = match outcome {
            Outcome::Success => Status::SUCCESS,
            Outcome::Error => Status::from_raw(ERROR_STATUS),
            Outcome::Fault => Status::SEAMCALL_UD,
        };
        assert_eq!(run.status, expected);
        let live = (0..16)
            .filter(|&r| seen_xmm(r)[..] == input.zmm[r][..16])
            .count();
        assert!(
            live >= 12,
            "only {live} XMM patterns live at the instruction"
        );
        let saved = area.bytes();
        for register in 0..16 {
            let offset = FRAME_XMM + register * 16;
            assert_eq!(
                saved[offset..offset + 16],
                seen_xmm(register),
                "XMM{register} {outcome:?}"
            );
        }
        let mxcsr = u32::from_le_bytes(saved[FRAME_MXCSR..FRAME_MXCSR + 4].try_into().unwrap());
        assert_eq!(mxcsr & MXCSR_CONTROL, input.mxcsr);
    }
}

#[test]
fn skipping_preservation_shows_the_clobber() {
    let _serial = setup();
    let input = Image::pattern();
    for outcome in [Outcome::Success, Outcome::Error, Outcome::Fault] {
        let run = run(&input, Mode::Skip, outcome);
        assert_live_at_instruction(&input);
        assert_image(&input, &run.after, Kept::NOTHING);
        assert_ne!(run.after.zmm[3][..32], input.zmm[3][..32]);
    }
}

#[test]
fn stack_area_convenience_preserves() {
    let _serial = setup();
    let input = Image::pattern();
    let run = run(&input, Mode::OnStack, Outcome::Success);
    assert_live_at_instruction(&input);
    assert_image(&input, &run.after, Kept::ALL);
}

#[test]
fn every_save_instruction_preserves() {
    let _serial = setup();
    let input = Image::pattern();
    let base = current();
    let mut states = vec![base, base.always_save()];
    for instruction in [SaveInstruction::Xsave, SaveInstruction::Xsavec] {
        if let Some(state) = base.with_instruction(instruction) {
            states.push(state);
            states.push(state.always_save());
        }
    }
    for state in states {
        let mut area = Area::for_state(state);
        let run = run(&input, Mode::InArea(state, area.buffer()), Outcome::Success);
        assert_live_at_instruction(&input);
        assert_image(&input, &run.after, Kept::ALL);
    }
}

/// XSAVEOPT with a dedicated area (a static only this test uses), twice in a row so that
/// the second save can take the modified optimization.
#[test]
fn xsaveopt_with_a_dedicated_area_preserves() {
    static DEDICATED: OnceLock<Mutex<Area>> = OnceLock::new();
    let _serial = setup();
    // SAFETY: the only area used with this state is DEDICATED, which lives for the whole
    // process and which nothing but preserved calls writes.
    let Some(state) = (unsafe { current().with_xsaveopt() }) else {
        eprintln!("no XSAVEOPT on this CPU; nothing to check");
        return;
    };
    assert_eq!(state.instruction(), SaveInstruction::Xsaveopt);
    let input = Image::pattern();
    let mut area = DEDICATED
        .get_or_init(|| Mutex::new(Area::for_state(state)))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..3 {
        let run = run(&input, Mode::InArea(state, area.buffer()), Outcome::Success);
        assert_live_at_instruction(&input);
        assert_image(&input, &run.after, Kept::ALL);
    }
}

/// A narrower mask preserves exactly its components: on a CPU without AVX-512 the same
/// code path runs with those components absent, and here SSE|AVX is forced even where
/// AVX-512 exists.
#[test]
fn restricted_masks_preserve_only_their_components() {
    let _serial = setup();
    let input = Image::pattern();
    let base = current();
    for keep in [
        Components::SSE | Components::AVX,
        Components::SSE,
        Components::SSE | Components::AVX512,
    ] {
        let state = base.restrict(keep);
        assert_eq!(state.components(), base.components() & keep);
        let mut area = Area::for_state(state);
        let run = run(&input, Mode::InArea(state, area.buffer()), Outcome::Success);
        assert_live_at_instruction(&input);
        assert_image(&input, &run.after, Kept::for_components(state.components()));
    }
}

/// MXCSR with non-default control bits and every vector register zero: the INIT check must
/// still save, which relies on SSE's INIT state including MXCSR = 0x1F80 (XINUSE bit 1 set
/// by a non-default MXCSR alone) on the CPU the test runs on.
#[test]
fn mxcsr_alone_is_preserved() {
    let _serial = setup();
    let mut input = Image::zeroed();
    input.mxcsr = MXCSR_PATTERN;
    let mut area = Area::for_state(current());
    let kept = run(
        &input,
        Mode::InArea(current(), area.buffer()),
        Outcome::Success,
    );
    assert_eq!(
        SEEN_MXCSR.load(Ordering::Relaxed) as u32 & MXCSR_CONTROL,
        MXCSR_PATTERN
    );
    assert_eq!(kept.after.mxcsr & MXCSR_CONTROL, MXCSR_PATTERN);
    let lost = run(&input, Mode::Skip, Outcome::Success);
    assert_eq!(lost.after.mxcsr & MXCSR_CONTROL, MXCSR_DEFAULT);
}

/// The previous save's XSTATE_BV, left in the area's header, decides whether XGETBV runs
/// first or the save does; it is only a hint, so whatever it says (a fresh area's bytes are
/// arbitrary) every register must come back, for dirty, MXCSR-only and INIT state alike,
/// and through a sequence that flips between them on one area. Every area has exactly the
/// size this CPU needs (2432 bytes on AVX-512 machines, 832 without AVX-512).
#[test]
fn header_hint_never_changes_the_outcome() {
    let _serial = setup();
    let dirty = Image::pattern();
    let mut mxcsr_only = Image::zeroed();
    mxcsr_only.mxcsr = MXCSR_PATTERN;
    let mut init = Image::zeroed();
    init.mxcsr = MXCSR_DEFAULT;
    for hint in [0x00u8, 0xFF] {
        for input in [&dirty, &mxcsr_only, &init] {
            let mut area = Area::for_state(current());
            let bytes = area.bytes_mut();
            bytes[512..576].fill(0);
            bytes[512..520].fill(hint);
            let run = run(
                input,
                Mode::InArea(current(), area.buffer()),
                Outcome::Success,
            );
            assert_live_at_instruction(input);
            assert_image(input, &run.after, Kept::ALL);
        }
    }
    let mut area = Area::for_state(current());
    for input in [
        &dirty,
        &init,
        &init,
        &dirty,
        &dirty,
        &mxcsr_only,
        &init,
        &dirty,
    ] {
        let run = run(
            input,
            Mode::InArea(current(), area.buffer()),
            Outcome::Success,
        );
        assert_image(input, &run.after, Kept::ALL);
    }
}

/// The save writes inside `area_bytes()` and nowhere beyond: fill a buffer of the computed
/// size plus a slack (larger than any component past Hi16_ZMM but AMX tile data) with a
/// canary and check the slack after a dirty save with every instruction.
#[test]
fn save_stays_within_the_computed_size() {
    const SLACK: usize = 4096;
    let _serial = setup();
    let input = Image::pattern();
    let base = current();
    let mut states = vec![base];
    states.extend(base.with_instruction(SaveInstruction::Xsave));
    for state in states {
        let used = state.area_bytes();
        let mut area = Area::new(used + SLACK, 0xCC);
        run(&input, Mode::InArea(state, area.buffer()), Outcome::Success);
        let after = area.bytes();
        assert_eq!(after.len(), used + SLACK);
        assert!(
            after[used..].iter().all(|&byte| byte == 0xCC),
            "{state:?} wrote past {used}"
        );
        // The last component was written (the state was dirty), so the size is not padded.
        assert!(
            after[used - 64..used].iter().any(|&byte| byte != 0xCC),
            "{state:?}"
        );
    }
}

#[test]
fn area_sizes_match_cpuid() {
    let state = current();
    let layout = layout();
    assert_eq!(
        state.components().bits(),
        layout.xcr0 & Components::VECTOR.bits()
    );
    // Compacted: 576 bytes, then each component (none of the vector ones is 64-byte
    // aligned on known CPUs; CPUID says so in ECX bit 1).
    let compacted = layout
        .extended
        .iter()
        .fold(576usize, |end, &(bit, _, size)| {
            let aligned = cpuid(0xD, bit).ecx & 2 != 0;
            (if aligned {
                end.next_multiple_of(64)
            } else {
                end
            }) + size
        });
    let standard = layout
        .extended
        .iter()
        .map(|&(_, offset, size)| offset + size)
        .max()
        .unwrap_or(576);
    match state.instruction() {
        SaveInstruction::Xsavec => assert_eq!(state.area_bytes(), compacted),
        _ => assert_eq!(state.area_bytes(), standard),
    }
    if let Some(xsave) = state.with_instruction(SaveInstruction::Xsave) {
        assert_eq!(xsave.area_bytes(), standard);
        // CPUID.(0DH,0):EBX sizes every XCR0 component; equal when XCR0 has only x87 and
        // vector components.
        if layout.xcr0 & !(Components::VECTOR | Components::X87).bits() == 0 {
            assert_eq!(xsave.area_bytes(), cpuid(0xD, 0).ebx as usize);
        }
    }
    assert!(state.area_bytes() <= STACK_AREA_BYTES);
}

#[test]
fn undersized_area_is_rejected_before_any_instruction() {
    let state = current();
    let mut area = Area::for_state(state);
    let short = &mut area.bytes_mut()[..state.area_bytes() - 64];
    let error = Preserve::in_area(state, XsaveBuffer::from_bytes(short).unwrap()).unwrap_err();
    assert_eq!(
        error,
        Error::InvalidArgument(InvalidArgument {
            argument: "xsave_area",
            reason: InvalidReason::OutOfRange {
                value: state.area_bytes() as u64 - 64,
                min: state.area_bytes() as u64,
                max: u32::MAX as u64,
            },
        })
    );
}

/// A failure inside the `extern "C"` shim (here an area one line short, which
/// `Preserve::in_area` rejects) fails the case with the reason, and no instruction runs: it
/// does not abort the test binary, as an `unwrap` there did on AVX-512 machines when a test
/// area was smaller than the CPU's.
#[test]
fn a_failure_in_the_shim_fails_the_case_instead_of_aborting() {
    let _serial = setup();
    let input = Image::pattern();
    let state = current();
    let mut area = Area::new(state.area_bytes() - 64, 0);
    let calls = MODULE_CALLS.load(Ordering::Relaxed);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        run(&input, Mode::InArea(state, area.buffer()), Outcome::Success)
    }));
    let payload = outcome.err().expect("an undersized area fails the case");
    let message = payload
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(
        message.contains("Preserve::in_area") && message.contains("xsave_area"),
        "{message}"
    );
    assert_eq!(
        MODULE_CALLS.load(Ordering::Relaxed),
        calls,
        "no instruction ran"
    );
}

/// CPUID.(0DH,i) as (size, standard-format offset) of an Intel CPU with AVX-512 and AMX
/// (the offsets Linux documents for Sapphire Rapids; the AVX-512 ones are every Intel
/// AVX-512 CPU's).
fn intel_leaf_d(bit: u32) -> (u32, u32) {
    match bit {
        2 => (256, 576),
        5 => (64, 1088),
        6 => (512, 1152),
        7 => (1024, 1664),
        9 => (8, 2688),
        17 => (64, 2752),
        18 => (8192, 2816),
        _ => (0, 0),
    }
}

/// The same for AMD Zen 4/5 (no MPX hole: AVX-512 right after AVX).
fn amd_leaf_d(bit: u32) -> (u32, u32) {
    match bit {
        2 => (256, 576),
        5 => (64, 832),
        6 => (512, 896),
        7 => (1024, 1408),
        9 => (8, 2432),
        _ => (0, 0),
    }
}

/// The standard-format XSAVE image XSAVE would write for `registers` under `xcr0` with the
/// CPUID layout `leaf_d`, every component in use; bytes no component covers are 0xAA.
fn synthetic_frame(xcr0: u64, leaf_d: fn(u32) -> (u32, u32), registers: &Image) -> Vec<u8> {
    let end = (2..64)
        .filter(|bit| xcr0 & (1 << bit) != 0)
        .map(|bit| {
            let (size, offset) = leaf_d(bit);
            (offset + size) as usize
        })
        .max()
        .unwrap_or(FRAME_HEADER_END)
        .max(FRAME_HEADER_END);
    let mut image = vec![0xAA; end];
    image[FRAME_MXCSR..FRAME_MXCSR + 4].copy_from_slice(&registers.mxcsr.to_le_bytes());
    image[FRAME_XSTATE_BV..FRAME_HEADER_END].fill(0);
    image[FRAME_XSTATE_BV..FRAME_XSTATE_BV + 8].copy_from_slice(&xcr0.to_le_bytes());
    let mut put = |bit: u32, at: usize, bytes: &[u8]| {
        if xcr0 & (1 << bit) != 0 {
            let offset = leaf_d(bit).1 as usize + at;
            image[offset..offset + bytes.len()].copy_from_slice(bytes);
        }
    };
    for register in 0..16 {
        let zmm = &registers.zmm[register];
        put(1, FRAME_XMM + 16 * register, &zmm[..16]);
        put(AVX, 16 * register, &zmm[16..32]);
        put(ZMM_HI256, 32 * register, &zmm[32..64]);
        put(HI16_ZMM, 64 * register, &registers.zmm[16 + register]);
    }
    for (index, k) in registers.k.iter().enumerate() {
        put(OPMASK, 8 * index, &k.to_le_bytes());
    }
    image
}

/// The frame layout and the module stand-in, on synthetic frames of the machines the suite
/// must pass on (XCR0 0x7; 0xE7 with Intel's and AMD's offsets; 0x602E7 with AMX, an image
/// of 11008 bytes): what the handler reads at the instruction is each register's pattern, it
/// resets exactly SSE's XMM/MXCSR and the AVX and AVX-512 components, and it leaves PKRU and
/// the AMX components alone. The AVX-512 paths cannot run on a CPU without AVX-512; this
/// checks their offsets there too.
#[test]
fn the_module_stand_in_holds_for_every_xcr0() {
    let _serial = setup();
    let registers = Image::pattern();
    let word_at =
        |bytes: &[u8], at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
    type LeafD = fn(u32) -> (u32, u32);
    let cases: [(u64, LeafD, usize); 4] = [
        // (XCR0, CPUID leaf 0xD, end of Hi16_ZMM or of AVX)
        (0x7, intel_leaf_d, 832),
        (0xE7, intel_leaf_d, 2688),
        (0xE7, amd_leaf_d, 2432),
        (0x6_02E7, intel_leaf_d, 2688),
    ];
    for (xcr0, leaf_d, vector_end) in cases {
        let layout = FrameLayout::new(xcr0, leaf_d);
        let last = layout.extended.last().expect("AVX at least");
        assert_eq!(last.1 + last.2, vector_end, "XCR0 {xcr0:#x}");
        let mut image = synthetic_frame(xcr0, leaf_d, &registers);
        let untouched_after = image.clone();
        assert_eq!(
            play_module_on(&mut image, &layout),
            Ok(()),
            "XCR0 {xcr0:#x}"
        );

        // What the instruction found: the patterns (0 for what XCR0 lacks).
        let avx512 = xcr0 & 0xE0 == 0xE0;
        let pattern = |register: usize, at: usize| word_at(&registers.zmm[register], at);
        let or_zero = |value: u64| if avx512 { value } else { 0 };
        for register in 0..16 {
            assert_eq!(seen_xmm(register), registers.zmm[register][..16]);
        }
        assert_eq!(SEEN_MXCSR.load(Ordering::Relaxed) as u32, registers.mxcsr);
        assert_eq!(SEEN_YMM15_TOP.load(Ordering::Relaxed), pattern(15, 24));
        assert_eq!(
            SEEN_ZMM15_TOP.load(Ordering::Relaxed),
            or_zero(pattern(15, 56))
        );
        assert_eq!(
            SEEN_ZMM16_LOW.load(Ordering::Relaxed),
            or_zero(pattern(16, 0))
        );
        assert_eq!(
            SEEN_ZMM31_TOP.load(Ordering::Relaxed),
            or_zero(pattern(31, 56))
        );
        assert_eq!(SEEN_K7.load(Ordering::Relaxed), or_zero(registers.k[7]));

        // What it left: XMM zero, MXCSR default, AVX and AVX-512 at INIT, the rest as it was.
        assert!(image[FRAME_XMM..FRAME_XMM + 256].iter().all(|&b| b == 0));
        assert_eq!(word_at(&image, FRAME_MXCSR) as u32, MXCSR_DEFAULT);
        let vector_bits = xcr0 & Components::VECTOR.bits() & !Components::SSE.bits();
        assert_eq!(word_at(&image, FRAME_XSTATE_BV), xcr0 & !vector_bits);
        for &(bit, offset, size) in &layout.extended {
            assert!(
                image[offset..offset + size].iter().all(|&b| b == 0),
                "component {bit} of XCR0 {xcr0:#x} reset"
            );
        }
        assert_eq!(
            image[vector_end..],
            untouched_after[vector_end..],
            "PKRU and AMX untouched"
        );

        // An image that ends before the last component: reported, not a panic.
        let mut short = synthetic_frame(xcr0, leaf_d, &registers);
        short.truncate(vector_end - 64);
        assert_eq!(
            play_module_on(&mut short, &layout),
            Err(HandlerFailure::ComponentOutsideImage)
        );
    }
}

// ---------------------------------------------------------------------------------------
// The ring-0 host guard, through a model of the registers.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Xcr0(u64),
    Xss(u64),
    Pkru(u32),
}

/// XCR0, IA32_XSS and PKRU as plain values, recording every write. Shared (cells) so that
/// the guard's accessor and the backend standing in for TDH.VP.ENTER can both reach it.
#[derive(Debug)]
struct Model {
    now: Cell<HostXstate>,
    writes: RefCell<Vec<Write>>,
}

/// The host's values in the model.
const HOST: HostXstate = HostXstate {
    xcr0: 0x2E7,
    xss: Some(0x1800),
    pkru: Some(0x5555_5554),
};

impl Model {
    fn new(xss: bool, pkru: bool) -> Model {
        let host = HostXstate {
            xss: HOST.xss.filter(|_| xss),
            pkru: HOST.pkru.filter(|_| pkru),
            ..HOST
        };
        Model {
            now: Cell::new(host),
            writes: RefCell::new(Vec::new()),
        }
    }

    /// A TD exit: XCR0/XSS from the TD's XFAM and PKRU at INIT, each only when given (and
    /// only for registers the CPU has).
    fn td_exit(&self, change: Change) {
        let mut now = self.now.get();
        if let Some(xcr0) = change.xcr0 {
            now.xcr0 = xcr0;
        }
        now.xss = now.xss.and(change.xss).or(now.xss);
        now.pkru = now.pkru.and(change.pkru).or(now.pkru);
        self.now.set(now);
    }
}

/// The guard's view of the model.
struct ModelAccess<'a>(&'a Model);

// SAFETY: the model touches no hardware.
unsafe impl HostXstateAccess for ModelAccess<'_> {
    fn has_xss(&self) -> bool {
        self.0.now.get().xss.is_some()
    }
    fn has_pkru(&self) -> bool {
        self.0.now.get().pkru.is_some()
    }
    fn read_xcr0(&mut self) -> u64 {
        self.0.now.get().xcr0
    }
    fn read_xss(&mut self) -> u64 {
        self.0.now.get().xss.expect("read only when present")
    }
    fn read_pkru(&mut self) -> u32 {
        self.0.now.get().pkru.expect("read only when present")
    }
    unsafe fn write_xcr0(&mut self, value: u64) {
        let mut now = self.0.now.get();
        now.xcr0 = value;
        self.0.now.set(now);
        self.0.writes.borrow_mut().push(Write::Xcr0(value));
    }
    unsafe fn write_xss(&mut self, value: u64) {
        let mut now = self.0.now.get();
        assert!(now.xss.is_some(), "IA32_XSS written on a CPU without it");
        now.xss = Some(value);
        self.0.now.set(now);
        self.0.writes.borrow_mut().push(Write::Xss(value));
    }
    unsafe fn write_pkru(&mut self, value: u32) {
        let mut now = self.0.now.get();
        assert!(now.pkru.is_some(), "PKRU written with CR4.PKE clear");
        now.pkru = Some(value);
        self.0.now.set(now);
        self.0.writes.borrow_mut().push(Write::Pkru(value));
    }
}

/// What a TD exit changes.
#[derive(Clone, Copy, Debug, Default)]
struct Change {
    xcr0: Option<u64>,
    xss: Option<u64>,
    pkru: Option<u32>,
}

/// TDH.VP.ENTER as a TD exit on the model.
struct TdExit<'a> {
    model: &'a Model,
    change: Change,
}

impl Backend for TdExit<'_> {
    unsafe fn call(&mut self, kind: CallKind, _leaf: u64, _regs: &mut Regs) -> Status {
        assert_eq!(kind, CallKind::SeamcallScrub);
        self.model.td_exit(self.change);
        Status::SUCCESS
    }
}

fn enter(model: &Model, change: Change) -> Rewritten {
    let mut backend = TdExit { model, change };
    let mut regs = Regs::ZERO;
    // SAFETY: the backend only changes the model.
    let (status, rewritten) = unsafe {
        call_restoring_host_xstate(
            &mut backend,
            CallKind::SeamcallScrub,
            0,
            &mut regs,
            &mut ModelAccess(model),
        )
    };
    assert_eq!(status, Status::SUCCESS);
    rewritten
}

#[test]
fn host_guard_writes_only_what_changed() {
    let none = Rewritten::default();
    let cases = [
        (Change::default(), none),
        // The TD's values equal the host's: nothing to write.
        (
            Change {
                xcr0: HOST.xcr0.into(),
                xss: HOST.xss,
                pkru: HOST.pkru,
            },
            none,
        ),
        (
            Change {
                xcr0: Some(0x7),
                ..Change::default()
            },
            Rewritten { xcr0: true, ..none },
        ),
        (
            Change {
                xss: Some(0),
                ..Change::default()
            },
            Rewritten { xss: true, ..none },
        ),
        (
            Change {
                pkru: Some(0),
                ..Change::default()
            },
            Rewritten { pkru: true, ..none },
        ),
        (
            Change {
                xcr0: Some(0x6_02E7),
                xss: Some(0x1900),
                pkru: Some(0),
            },
            Rewritten {
                xcr0: true,
                xss: true,
                pkru: true,
            },
        ),
    ];
    for (change, expected) in cases {
        let model = Model::new(true, true);
        let rewritten = enter(&model, change);
        assert_eq!(rewritten, expected, "{change:?}");
        assert_eq!(model.now.get(), HOST, "every register is back");
        let expected_writes: Vec<Write> = [
            expected.xcr0.then_some(Write::Xcr0(HOST.xcr0)),
            expected.xss.then_some(Write::Xss(HOST.xss.unwrap())),
            expected.pkru.then_some(Write::Pkru(HOST.pkru.unwrap())),
        ]
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(
            *model.writes.borrow(),
            expected_writes,
            "XCR0, XSS, PKRU, once each"
        );
    }
}

#[test]
fn host_guard_skips_registers_the_cpu_lacks() {
    let model = Model::new(false, false);
    let change = Change {
        xcr0: Some(0x7),
        xss: Some(1),
        pkru: Some(1),
    };
    assert_eq!(
        enter(&model, change),
        Rewritten {
            xcr0: true,
            xss: false,
            pkru: false
        }
    );
    assert_eq!(*model.writes.borrow(), [Write::Xcr0(HOST.xcr0)]);
    assert_eq!(
        model.now.get(),
        HostXstate {
            xss: None,
            pkru: None,
            ..HOST
        }
    );
}

#[test]
fn host_guard_restores_on_drop() {
    let model = Model::new(true, true);
    {
        let mut access = ModelAccess(&model);
        let guard = HostXstateGuard::save(&mut access);
        assert_eq!(guard.saved(), HOST);
        model.td_exit(Change {
            xcr0: Some(0x7),
            pkru: Some(0),
            ..Change::default()
        });
        // Dropped without `restore`, as on an unwinding backend.
    }
    assert_eq!(
        *model.writes.borrow(),
        [Write::Xcr0(HOST.xcr0), Write::Pkru(HOST.pkru.unwrap())]
    );
    assert_eq!(model.now.get(), HOST);
    // The decision on its own.
    let after_exit = HostXstate {
        xcr0: 0x7,
        xss: Some(0x1800),
        pkru: Some(0),
    };
    assert_eq!(
        HOST.rewrites(&after_exit),
        Rewritten {
            xcr0: true,
            xss: false,
            pkru: true
        }
    );
    assert!(!HOST.rewrites(&HOST).any());
}
