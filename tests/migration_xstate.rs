//! Vector state around the AES-GCM migration leaves, against the software module.
//!
//! The model resets SSE, AVX and AVX-512 to INIT in the signal frame's extended state on
//! each of the twelve AES-GCM leaves (as the module may on hardware); the kernel restores
//! the registers from that frame, so the loss is real. Each case loads patterns into
//! XMM/YMM0-15 (ZMM0-31 and k0-7 where XCR0 has AVX-512) in one assembly block that also
//! calls a wrapper through an `extern "C"` shim and stores the registers back:
//!
//! - with `Preserve::skip()` the patterns are gone after a leaf the model answered;
//! - with `Preserve::on_stack()` and `Preserve::in_area()` every register keeps its
//!   pattern, on success, on an error status and on a fault (a thread with no model: the
//!   SEAMCALL raises #UD and the crate's handler turns it into a status).
//!
//! The shim is compiled Rust between the assembly and the wrapper's save; the skip case is
//! paired with a preserving run of the same path, which shows the patterns reach the save.
//! Nothing assumes a size: areas come from `VectorState::current()` (CPUID and XGETBV).
#![cfg(all(
    feature = "software-module",
    target_arch = "x86_64",
    target_os = "linux"
))]

#[path = "../examples/migrate.rs"]
#[allow(unused)]
mod migrate;

use migrate::{Setup, StateKind, Td, DATA_GPA};
use std::arch::asm;
use std::panic::AssertUnwindSafe;
use tdxcall::abi::mig::{GpaListInfo, Mbmd, MigCommand, MigStreamIndex, PageListInfo};
use tdxcall::abi::{TdrPage, TdvprPage};
use tdxcall::host::export::MemBundle;
use tdxcall::host::Host;
use tdxcall::xstate::{Preserve, VectorState, XsaveBuffer};
use tdxcall::Error;

/// ZMM0-31 (64 bytes each) then k0-7.
const IMAGE: usize = 32 * 64 + 8 * 8;
type Image = [u8; IMAGE];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Skip,
    OnStack,
    InArea,
}

/// The twelve AES-GCM wrappers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wrapper {
    ExportAbort,
    ExportMem,
    ExportTrack,
    ExportImmutable,
    ExportTd,
    ExportVp,
    ImportAbort,
    ImportMem,
    ImportTrack,
    ImportImmutable,
    ImportTd,
    ImportVp,
}

const ALL: [Wrapper; 12] = [
    Wrapper::ExportAbort,
    Wrapper::ExportMem,
    Wrapper::ExportTrack,
    Wrapper::ExportImmutable,
    Wrapper::ExportTd,
    Wrapper::ExportVp,
    Wrapper::ImportAbort,
    Wrapper::ImportMem,
    Wrapper::ImportTrack,
    Wrapper::ImportImmutable,
    Wrapper::ImportTd,
    Wrapper::ImportVp,
];

/// What the shim calls.
struct Spec {
    wrapper: Wrapper,
    mode: Mode,
    tdr: TdrPage,
    tdvpr: TdvprPage,
    gpa_list: GpaListInfo,
    bundle: MemBundle,
    pages: PageListInfo,
    area: Option<*mut XsaveBuffer>,
    state: VectorState,
    host: *mut Host,
    outcome: Outcome,
}

extern "C" fn shim(spec: &mut Spec) {
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| call(spec)));
    if caught.is_err() {
        spec.outcome = Outcome::Panicked;
    }
}

fn same(error: &Error) -> &Error {
    error
}

fn detailed<D>(error: &tdxcall::host::DetailedError<D>) -> &Error {
    &error.error
}

/// What the wrapper returned, kept as integers: nothing after the wrapper's restore may
/// touch a vector register (formatting or moving a large value could).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    NotRun,
    Ok,
    Status(u64),
    OtherError,
    Panicked,
}

fn status_of<T, E>(result: &Result<T, E>, error: for<'a> fn(&'a E) -> &'a Error) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(e) => match error(e) {
            Error::Status(status) => Outcome::Status(status.raw()),
            _ => Outcome::OtherError,
        },
    }
}

fn call(spec: &mut Spec) {
    let preserve = match spec.mode {
        Mode::Skip => Preserve::skip(),
        Mode::OnStack => match Preserve::on_stack() {
            Ok(preserve) => preserve,
            Err(_) => return,
        },
        Mode::InArea => {
            let Some(area) = spec.area else { return };
            // SAFETY: the area outlives the call (the test owns it).
            match Preserve::in_area(spec.state, unsafe { &mut *area }) {
                Ok(preserve) => preserve,
                Err(_) => return,
            }
        }
    };
    // SAFETY: the host was made before the assembly block and outlives the call.
    let host = unsafe { &mut *spec.host };
    let mbmd = spec.bundle.mbmd;
    let (stream, new) = (MigStreamIndex(0), MigCommand::New);
    // SAFETY: every buffer is model memory the test lent.
    spec.outcome = unsafe {
        match spec.wrapper {
            Wrapper::ExportAbort => status_of(&host.export_abort(spec.tdr, mbmd, preserve), same),
            Wrapper::ExportMem => status_of(
                &host.export_mem(spec.gpa_list, spec.tdr, &spec.bundle, preserve),
                detailed,
            ),
            Wrapper::ExportTrack => {
                status_of(&host.export_track(spec.tdr, mbmd, new, preserve), same)
            }
            Wrapper::ExportImmutable => status_of(
                &host.export_state_immutable(spec.tdr, mbmd, spec.pages, stream, new, preserve),
                same,
            ),
            Wrapper::ExportTd => status_of(
                &host.export_state_td(spec.tdr, mbmd, spec.pages, stream, new, preserve),
                same,
            ),
            Wrapper::ExportVp => status_of(
                &host.export_state_vp(spec.tdvpr, mbmd, spec.pages, stream, new, preserve),
                same,
            ),
            Wrapper::ImportAbort => status_of(&host.import_abort(spec.tdr, mbmd, preserve), same),
            Wrapper::ImportMem => status_of(
                &host.import_mem(spec.gpa_list, spec.tdr, &spec.bundle, None, preserve),
                detailed,
            ),
            Wrapper::ImportTrack => status_of(
                &host.import_track(spec.tdr, mbmd, stream, new, preserve),
                same,
            ),
            Wrapper::ImportImmutable => status_of(
                &host.import_state_immutable(spec.tdr, mbmd, spec.pages, stream, new, preserve),
                detailed,
            ),
            Wrapper::ImportTd => status_of(
                &host.import_state_td(spec.tdr, mbmd, spec.pages, stream, new, preserve),
                detailed,
            ),
            Wrapper::ImportVp => status_of(
                &host.import_state_vp(spec.tdvpr, mbmd, spec.pages, stream, new, preserve),
                detailed,
            ),
        }
    };
}

// The load-call-store sequences are whole functions in assembly, called like any other
// function: the patterns are loaded after the Rust caller is done, and nothing of the
// caller's frame (its red zone) lies below the stack pointer when the shim is called.
std::arch::global_asm!(
    ".globl tdxcall_migx_run_avx",
    "tdxcall_migx_run_avx:",
    "push r12",
    "push r13",
    "push rbx",
    "mov r12, rsi",
    "mov rbx, rdx",
    "vmovdqu ymm0, [rdi + 0]",
    "vmovdqu ymm1, [rdi + 64]",
    "vmovdqu ymm2, [rdi + 128]",
    "vmovdqu ymm3, [rdi + 192]",
    "vmovdqu ymm4, [rdi + 256]",
    "vmovdqu ymm5, [rdi + 320]",
    "vmovdqu ymm6, [rdi + 384]",
    "vmovdqu ymm7, [rdi + 448]",
    "vmovdqu ymm8, [rdi + 512]",
    "vmovdqu ymm9, [rdi + 576]",
    "vmovdqu ymm10, [rdi + 640]",
    "vmovdqu ymm11, [rdi + 704]",
    "vmovdqu ymm12, [rdi + 768]",
    "vmovdqu ymm13, [rdi + 832]",
    "vmovdqu ymm14, [rdi + 896]",
    "vmovdqu ymm15, [rdi + 960]",
    "mov rdi, rbx",
    "call {shim}",
    "vmovdqu [r12 + 0], ymm0",
    "vmovdqu [r12 + 64], ymm1",
    "vmovdqu [r12 + 128], ymm2",
    "vmovdqu [r12 + 192], ymm3",
    "vmovdqu [r12 + 256], ymm4",
    "vmovdqu [r12 + 320], ymm5",
    "vmovdqu [r12 + 384], ymm6",
    "vmovdqu [r12 + 448], ymm7",
    "vmovdqu [r12 + 512], ymm8",
    "vmovdqu [r12 + 576], ymm9",
    "vmovdqu [r12 + 640], ymm10",
    "vmovdqu [r12 + 704], ymm11",
    "vmovdqu [r12 + 768], ymm12",
    "vmovdqu [r12 + 832], ymm13",
    "vmovdqu [r12 + 896], ymm14",
    "vmovdqu [r12 + 960], ymm15",
    "vzeroupper",
    "pop rbx",
    "pop r13",
    "pop r12",
    "ret",
    ".globl tdxcall_migx_run_avx512",
    "tdxcall_migx_run_avx512:",
    "push r12",
    "push r13",
    "push rbx",
    "mov r12, rsi",
    "mov rbx, rdx",
    "vmovdqu64 zmm0, [rdi + 0]",
    "vmovdqu64 zmm1, [rdi + 64]",
    "vmovdqu64 zmm2, [rdi + 128]",
    "vmovdqu64 zmm3, [rdi + 192]",
    "vmovdqu64 zmm4, [rdi + 256]",
    "vmovdqu64 zmm5, [rdi + 320]",
    "vmovdqu64 zmm6, [rdi + 384]",
    "vmovdqu64 zmm7, [rdi + 448]",
    "vmovdqu64 zmm8, [rdi + 512]",
    "vmovdqu64 zmm9, [rdi + 576]",
    "vmovdqu64 zmm10, [rdi + 640]",
    "vmovdqu64 zmm11, [rdi + 704]",
    "vmovdqu64 zmm12, [rdi + 768]",
    "vmovdqu64 zmm13, [rdi + 832]",
    "vmovdqu64 zmm14, [rdi + 896]",
    "vmovdqu64 zmm15, [rdi + 960]",
    "vmovdqu64 zmm16, [rdi + 1024]",
    "vmovdqu64 zmm17, [rdi + 1088]",
    "vmovdqu64 zmm18, [rdi + 1152]",
    "vmovdqu64 zmm19, [rdi + 1216]",
    "vmovdqu64 zmm20, [rdi + 1280]",
    "vmovdqu64 zmm21, [rdi + 1344]",
    "vmovdqu64 zmm22, [rdi + 1408]",
    "vmovdqu64 zmm23, [rdi + 1472]",
    "vmovdqu64 zmm24, [rdi + 1536]",
    "vmovdqu64 zmm25, [rdi + 1600]",
    "vmovdqu64 zmm26, [rdi + 1664]",
    "vmovdqu64 zmm27, [rdi + 1728]",
    "vmovdqu64 zmm28, [rdi + 1792]",
    "vmovdqu64 zmm29, [rdi + 1856]",
    "vmovdqu64 zmm30, [rdi + 1920]",
    "vmovdqu64 zmm31, [rdi + 1984]",
    "kmovq k0, [rdi + 2048]",
    "kmovq k1, [rdi + 2056]",
    "kmovq k2, [rdi + 2064]",
    "kmovq k3, [rdi + 2072]",
    "kmovq k4, [rdi + 2080]",
    "kmovq k5, [rdi + 2088]",
    "kmovq k6, [rdi + 2096]",
    "kmovq k7, [rdi + 2104]",
    "mov rdi, rbx",
    "call {shim}",
    "vmovdqu64 [r12 + 0], zmm0",
    "vmovdqu64 [r12 + 64], zmm1",
    "vmovdqu64 [r12 + 128], zmm2",
    "vmovdqu64 [r12 + 192], zmm3",
    "vmovdqu64 [r12 + 256], zmm4",
    "vmovdqu64 [r12 + 320], zmm5",
    "vmovdqu64 [r12 + 384], zmm6",
    "vmovdqu64 [r12 + 448], zmm7",
    "vmovdqu64 [r12 + 512], zmm8",
    "vmovdqu64 [r12 + 576], zmm9",
    "vmovdqu64 [r12 + 640], zmm10",
    "vmovdqu64 [r12 + 704], zmm11",
    "vmovdqu64 [r12 + 768], zmm12",
    "vmovdqu64 [r12 + 832], zmm13",
    "vmovdqu64 [r12 + 896], zmm14",
    "vmovdqu64 [r12 + 960], zmm15",
    "vmovdqu64 [r12 + 1024], zmm16",
    "vmovdqu64 [r12 + 1088], zmm17",
    "vmovdqu64 [r12 + 1152], zmm18",
    "vmovdqu64 [r12 + 1216], zmm19",
    "vmovdqu64 [r12 + 1280], zmm20",
    "vmovdqu64 [r12 + 1344], zmm21",
    "vmovdqu64 [r12 + 1408], zmm22",
    "vmovdqu64 [r12 + 1472], zmm23",
    "vmovdqu64 [r12 + 1536], zmm24",
    "vmovdqu64 [r12 + 1600], zmm25",
    "vmovdqu64 [r12 + 1664], zmm26",
    "vmovdqu64 [r12 + 1728], zmm27",
    "vmovdqu64 [r12 + 1792], zmm28",
    "vmovdqu64 [r12 + 1856], zmm29",
    "vmovdqu64 [r12 + 1920], zmm30",
    "vmovdqu64 [r12 + 1984], zmm31",
    "kmovq [r12 + 2048], k0",
    "kmovq [r12 + 2056], k1",
    "kmovq [r12 + 2064], k2",
    "kmovq [r12 + 2072], k3",
    "kmovq [r12 + 2080], k4",
    "kmovq [r12 + 2088], k5",
    "kmovq [r12 + 2096], k6",
    "kmovq [r12 + 2104], k7",
    "vzeroupper",
    "pop rbx",
    "pop r13",
    "pop r12",
    "ret",
    shim = sym shim,
);

#[allow(improper_ctypes)] // `Spec` only passes through the assembly to the Rust shim
extern "C" {
    /// Loads YMM0-15 from `input`, calls the shim with `spec`, stores YMM0-15 to `output`.
    fn tdxcall_migx_run_avx(input: *const u8, output: *mut u8, spec: *mut Spec);
    /// As above with ZMM0-31 and k0-7 (AVX-512F and AVX-512BW, enabled in XCR0).
    fn tdxcall_migx_run_avx512(input: *const u8, output: *mut u8, spec: *mut Spec);
}

/// The registers this CPU and XCR0 let the test cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Width {
    Avx,
    Avx512,
}

fn xcr0() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: XGETBV with ECX = 0 reads XCR0; the OS enabled XSAVE (checked by the caller
    // through is_x86_feature_detected!("avx")).
    unsafe { asm!("xgetbv", in("ecx") 0, out("eax") low, out("edx") high) };
    u64::from(high) << 32 | u64::from(low)
}

fn width() -> Width {
    assert!(std::is_x86_feature_detected!("avx"), "the test needs AVX");
    if xcr0() & 0xE0 == 0xE0 && std::is_x86_feature_detected!("avx512bw") {
        Width::Avx512
    } else {
        Width::Avx
    }
}

/// The bytes of `image` the run covers: XMM/YMM (32 bytes of each of the first 16
/// registers), or everything with AVX-512.
#[allow(dead_code)]
fn covered(image: &Image, width: Width) -> Vec<u8> {
    match width {
        Width::Avx => (0..16)
            .flat_map(|r| image[64 * r..64 * r + 32].to_vec())
            .collect(),
        Width::Avx512 => image.to_vec(),
    }
}

fn pattern() -> Box<Image> {
    let mut image = Box::new([0u8; IMAGE]);
    for (i, byte) in image.iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(7).wrapping_add(0x35) | 1;
    }
    image
}

/// A 64-byte aligned piece of an XSAVE area.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Runs `spec` with the patterns loaded (on this thread's model, or none); returns the
/// registers after and the outcome.
fn run(spec: &mut Spec) -> (Box<Image>, Outcome) {
    let mut host = Box::new(Host::native());
    spec.host = &mut *host;
    let input = pattern();
    let mut output = Box::new([0u8; IMAGE]);
    let bytes = VectorState::current().area_bytes();
    let mut lines = vec![Line([0; 64]); bytes.div_ceil(64)];
    // SAFETY: the lines are contiguous, 64-byte aligned and initialized.
    let raw = unsafe { core::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<u8>(), bytes) };
    spec.area = Some(XsaveBuffer::from_bytes(raw).expect("64-byte aligned"));
    // SAFETY: the CPU has what each path needs (width()); the images and spec outlive the
    // block.
    unsafe {
        match width() {
            Width::Avx => tdxcall_migx_run_avx(input.as_ptr(), output.as_mut_ptr(), spec),
            Width::Avx512 => tdxcall_migx_run_avx512(input.as_ptr(), output.as_mut_ptr(), spec),
        }
    }
    drop(lines);
    (output, spec.outcome)
}

fn spec_for(setup: &Setup, td: Td, wrapper: Wrapper, mode: Mode) -> Spec {
    let m = &setup.a;
    let bundle = MemBundle {
        mbmd: Mbmd::new(m.pages.mbmd, 128).unwrap(),
        buffer_list: m.pages.buffer_list,
        mac_lists: m.pages.mac_lists,
        stream: MigStreamIndex(0),
        command: MigCommand::New,
    };
    Spec {
        wrapper,
        mode,
        tdr: td.tdr,
        tdvpr: td.tdvpr,
        gpa_list: GpaListInfo::new(m.pages.gpa_list, 0, 0).unwrap(),
        bundle,
        pages: PageListInfo::new(m.pages.state_list, 3).unwrap(),
        area: None,
        state: VectorState::current(),
        host: core::ptr::null_mut(),
        outcome: Outcome::NotRun,
    }
}

/// The register slots compared: the low 128 bits of each vector register (XMM0-15, and
/// ZMM16-31's with AVX-512) and, with AVX-512, each opmask register. The upper halves are
/// left out: in this harness something on the debug-build path outside the save/restore
/// bracket already zeroes them (the same on a run where nothing resets anything), so they
/// cannot tell a reset from that; `tests/xstate.rs` covers them at the instruction.
fn slots(image: &Image, width: Width) -> Vec<Vec<u8>> {
    let vectors = if width == Width::Avx512 { 32 } else { 16 };
    let mut out: Vec<Vec<u8>> = (0..vectors)
        .map(|r| image[64 * r..64 * r + 16].to_vec())
        .collect();
    if width == Width::Avx512 {
        out.extend((0..8).map(|k| image[2048 + 8 * k..2056 + 8 * k].to_vec()));
    }
    out
}

/// Which slots of `after` still hold the pattern.
fn kept(after: &Image) -> Vec<bool> {
    let w = width();
    slots(after, w)
        .iter()
        .zip(slots(&pattern(), w))
        .map(|(a, p)| *a == p)
        .collect()
}

/// Runs `spec` on a thread with no model: the SEAMCALL raises #UD, the crate's handler
/// makes it a status, and nothing resets any register. The slots that keep their pattern
/// here are the ones the compiled path lets reach the save: the ones the other runs check.
fn baseline(setup: &Setup, td: Td, wrapper: Wrapper, mode: Mode) -> (Vec<bool>, Outcome) {
    let mut spec = spec_for(setup, td, wrapper, mode);
    let spec_ptr = &mut spec as *mut Spec as usize;
    let (after, outcome) = std::thread::spawn(move || {
        // SAFETY: the test joins this thread before `spec` goes away.
        run(unsafe { &mut *(spec_ptr as *mut Spec) })
    })
    .join()
    .unwrap();
    (kept(&after), outcome)
}

/// Runs `wrapper` on machine A's LP thread (the model answers) in `mode`.
fn on_a(setup: &Setup, td: Td, wrapper: Wrapper, mode: Mode) -> (Vec<bool>, Outcome) {
    let mut spec = spec_for(setup, td, wrapper, mode);
    let spec_ptr = &mut spec as *mut Spec as usize;
    let (after, outcome) = setup.a.run(move |_, _| {
        // SAFETY: the caller waits for this job; `spec` outlives it.
        run(unsafe { &mut *(spec_ptr as *mut Spec) })
    });
    (kept(&after), outcome)
}

/// The live slots of the baseline (at least half of them, or the test could not fail).
fn live(setup: &Setup, td: Td, wrapper: Wrapper, mode: Mode) -> Vec<usize> {
    let (kept, outcome) = baseline(setup, td, wrapper, mode);
    assert_eq!(
        outcome,
        Outcome::Status(SEAMCALL_UD),
        "{wrapper:?}: no module on that thread"
    );
    let live: Vec<usize> = (0..kept.len()).filter(|&i| kept[i]).collect();
    assert!(
        live.len() * 2 >= kept.len(),
        "{wrapper:?} {mode:?}: too few registers reach the call: {live:?}"
    );
    live
}

/// TDX_SEAMCALL_UD (the software status of #UD on SEAMCALL).
const SEAMCALL_UD: u64 = 0x8000_FF00_0000_0006;

/// Checks one model run against the baseline's live slots.
fn check(setup: &Setup, td: Td, wrapper: Wrapper, mode: Mode, expect: Outcome) {
    let live = live(setup, td, wrapper, mode);
    let (kept, outcome) = on_a(setup, td, wrapper, mode);
    match expect {
        Outcome::Ok => assert_eq!(outcome, Outcome::Ok, "{wrapper:?} {mode:?} succeeds"),
        _ => assert!(
            matches!(outcome, Outcome::Status(s) if s != SEAMCALL_UD),
            "{wrapper:?} {mode:?} fails in the module: {outcome:?}"
        ),
    }
    let lost: Vec<usize> = live.iter().copied().filter(|&i| !kept[i]).collect();
    if mode == Mode::Skip {
        assert_eq!(
            lost, live,
            "{wrapper:?}: Preserve::skip shows the model's reset of every live register"
        );
    } else {
        assert!(
            lost.is_empty(),
            "{wrapper:?} {mode:?}: registers {lost:?} lost"
        );
    }
}

/// A session in LIVE_EXPORT on A with page DATA_GPA write-blocked and in the GPA list.
fn live_session() -> Setup {
    let setup = Setup::new(None);
    setup
        .a
        .export_state(StateKind::Immutable, setup.source)
        .expect("session");
    setup
}

fn block_for_export(setup: &Setup, op: tdxcall::abi::mig::GpaListOp) {
    setup
        .a
        .blockw(setup.source.tdr, &[DATA_GPA])
        .expect("BLOCKW");
    setup
        .a
        .module
        .write_u64s(setup.a.pages.gpa_list, &[migrate::entry(DATA_GPA, op)])
        .unwrap();
}

fn unblock(setup: &Setup) {
    let tdr = setup.source.tdr;
    setup
        .a
        .run(move |host, _| {
            host.export_unblockw(
                tdxcall::abi::GuestPhysAddr::new(DATA_GPA).unwrap(),
                tdxcall::abi::PageLevel::Size4K,
                tdr,
            )
            .map(drop)
            .map_err(|e| e.error)
        })
        .expect("UNBLOCKW");
}

#[test]
fn every_aes_gcm_wrapper_keeps_vector_state_on_error() {
    let setup = Setup::new(None);
    // A host page as TDR and TDVPR: every leaf fails its first operand check.
    let page = setup.a.pages.mbmd;
    let bogus = Td {
        tdr: TdrPage::new(page).unwrap(),
        tdvpr: TdvprPage::new(page).unwrap(),
    };
    for wrapper in ALL {
        for mode in [Mode::OnStack, Mode::InArea, Mode::Skip] {
            check(&setup, bogus, wrapper, mode, Outcome::NotRun);
        }
    }
}

#[test]
fn export_mem_and_track_keep_vector_state_on_success() {
    use tdxcall::abi::mig::GpaListOp;
    let setup = live_session();
    let mut op = GpaListOp::Migrate;
    for mode in [Mode::OnStack, Mode::InArea, Mode::Skip] {
        // The baseline runs on a thread without a model: it changes nothing, so the state
        // set up for the model run holds for both.
        block_for_export(&setup, op);
        check(&setup, setup.source, Wrapper::ExportMem, mode, Outcome::Ok);
        check(
            &setup,
            setup.source,
            Wrapper::ExportTrack,
            mode,
            Outcome::Ok,
        );
        unblock(&setup);
        op = GpaListOp::Remigrate;
    }
}

#[test]
fn every_aes_gcm_wrapper_keeps_vector_state_on_a_fault() {
    // A thread with no model: nothing resets, and every preserving mode keeps what it
    // saved; the live set is the same whatever the mode.
    let setup = Setup::new(None);
    for wrapper in ALL {
        let on_stack = live(&setup, setup.source, wrapper, Mode::OnStack);
        assert_eq!(
            live(&setup, setup.source, wrapper, Mode::InArea),
            on_stack,
            "{wrapper:?}"
        );
        assert_eq!(
            live(&setup, setup.source, wrapper, Mode::Skip),
            on_stack,
            "{wrapper:?}"
        );
    }
}
