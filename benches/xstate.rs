//! Cost of vector-state preservation around a migration leaf, through the loopback thunk.
//!
//! `cargo bench -p tdxcall-benches --bench xstate`
//!
//! Compared in the same run, each with the vector state dirty and clean:
//!
//! - `raw_xsavec_xrstor`: XSAVEC then XRSTOR of the same components into a fixed area, with
//!   nothing around them: the floor for any save/restore.
//! - `plain_loopback`: a non-migration wrapper, `Host::export_pause`, over the loopback
//!   backend.
//! - `preserved_loopback_area` / `preserved_loopback_stack`: a migration wrapper,
//!   `Host::export_track` (TDH.EXPORT.TRACK, an AES-GCM leaf), over the loopback backend,
//!   preserving with a caller's area / the stack convenience;
//!   `preserved_loopback_area_no_init_check` always saves (no XGETBV/MXCSR check), which
//!   isolates the cost of that check.
//!
//! Before the criterion runs, the bench prints an interleaved minimum of every pair (see
//! `interleaved_minimum`): the ratios that matter, robust to a shared machine's drift.
//!
//! "Dirty": YMM0 and YMM15 are written right before each iteration (AVX and SSE in use).
//! "Clean": right before each iteration, an XRSTOR of every preserved component (RFBM = the
//! vector mask) from a standard-format area whose XSTATE_BV is 0 and whose MXCSR is 0x1F80,
//! which puts SSE, AVX and, where XCR0 has them, the opmask, ZMM_Hi256 and Hi16_ZMM
//! components at INIT (their XINUSE bits clear), so the preserved path skips the save: the
//! state of a task that has not used vector registers since its last context switch. The
//! set-up checks this with XGETBV(1) where the CPU has it. VZEROALL and LDMXCSR, which an
//! earlier version used, reach INIT only without AVX-512: they leave ZMM16-31 and k0-7
//! alone, and glibc's AVX-512 string functions put values there at start-up, so on an
//! AVX-512 machine that "clean" state still had Hi16_ZMM (and the opmask) in use and the
//! clean path never ran. `avx_clean` (after VZEROUPPER: AVX at INIT, SSE in use) is the
//! in-between case: a save of SSE alone (and of AVX-512 components in use, if any).

use criterion::{criterion_group, criterion_main, Criterion};
use std::arch::asm;
use std::hint::black_box;
use std::time::Instant;
use tdxcall::abi::mig::{Mbmd, MigCommand};
use tdxcall::abi::{HostPhysAddr, TdrPage};
use tdxcall::call::loopback::Loopback;
use tdxcall::host::Host;
use tdxcall::xstate::{Preserve, SaveInstruction, VectorState, XsaveBuffer};

/// The state before each iteration.
#[derive(Clone, Copy)]
enum Before {
    /// YMM0 and YMM15 written: AVX and SSE in use.
    Dirty,
    /// VZEROUPPER: AVX at INIT, SSE in use.
    AvxClean,
    /// XRSTOR of the vector mask from an area with XSTATE_BV = 0: every preserved component
    /// at INIT.
    Clean,
}

impl Before {
    const ALL: [(Before, &'static str); 3] = [
        (Before::Dirty, "dirty"),
        (Before::AvxClean, "avx_clean"),
        (Before::Clean, "clean"),
    ];

    /// Sets the state; `init` is an [`InitArea`] for the preserved mask.
    #[inline(always)]
    fn apply(self, init: &InitArea) {
        // SAFETY: the CPU has AVX (checked in `xstate`); each block only writes the vector
        // registers it declares, and `init_vector_state` gets a valid INIT image.
        unsafe {
            match self {
                Before::Dirty => asm!(
                    "vpcmpeqd ymm0, ymm0, ymm0",
                    "vpcmpeqd ymm15, ymm15, ymm15",
                    out("xmm0") _,
                    out("xmm15") _,
                    options(nomem, nostack, preserves_flags),
                ),
                Before::AvxClean => asm!("vzeroupper", options(nomem, nostack, preserves_flags)),
                Before::Clean => init_vector_state(init.area.ptr(), init.mask),
            }
        }
    }
}

/// Memory for an XSAVE area, 64-byte aligned, sized from the CPU.
struct Area {
    lines: Vec<Line>,
}

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u8; 64]);

impl Area {
    /// `bytes` zeroed bytes (rounded up to whole lines).
    fn new(bytes: usize) -> Area {
        Area {
            lines: vec![Line([0; 64]); bytes.div_ceil(64)],
        }
    }

    fn len(&self) -> usize {
        self.lines.len() * 64
    }

    fn ptr(&self) -> *mut u8 {
        self.lines.as_ptr().cast::<u8>().cast_mut()
    }

    fn buffer(&mut self) -> &mut XsaveBuffer {
        let len = self.len();
        // SAFETY: the lines are `len` initialised bytes, borrowed mutably through `self`.
        let bytes =
            unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<u8>(), len) };
        XsaveBuffer::from_bytes(bytes).expect("64-byte aligned by `Line`")
    }
}

/// A standard-format XSAVE image with every component at INIT: XSTATE_BV = 0, XCOMP_BV = 0,
/// MXCSR = 0x1F80 (which the standard-format XRSTOR loads whenever RFBM has SSE or AVX).
struct InitArea {
    area: Area,
    mask: u32,
}

impl InitArea {
    fn new(state: VectorState) -> InitArea {
        let standard = state
            .with_instruction(SaveInstruction::Xsave)
            .map_or(0, |xsave| xsave.area_bytes());
        let area = Area::new(standard.max(576));
        // SAFETY: the area is at least 576 bytes; MXCSR is bytes 24..28 of it.
        unsafe { area.ptr().add(24).cast::<u32>().write(0x1F80) };
        InitArea {
            area,
            mask: state.components().bits() as u32,
        }
    }
}

/// XRSTOR of `mask` from `area`, an INIT image: the components of `mask` go to INIT.
///
/// Not inlined, for the reason the crate's own restore is not: XRSTOR writes every vector
/// register of the mask (ZMM16-31 and k0-7 with AVX-512), which only a function call lets
/// change under the System V ABI.
///
/// # Safety
///
/// `area` is an [`InitArea`]'s, and `mask` holds only components XCR0 enables.
#[inline(never)]
unsafe fn init_vector_state(area: *const u8, mask: u32) {
    // SAFETY: the caller's contract: a valid standard-format image (header all zero, MXCSR
    // 0x1F80), 64-byte aligned; the registers XRSTOR loads are declared clobbered, or (ZMM16-31,
    // k0-7) caller-saved at this function's call.
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

/// XCR0 & XINUSE (XGETBV with ECX=1) right after `set` in the same function, or `None`
/// where the CPU has no XGETBV1 (CPUID.(0DH,1):EAX bit 2).
#[inline(never)]
fn xinuse_after(set: impl FnOnce()) -> Option<u64> {
    // SAFETY: CPUID is always available (a safe function on newer Rust).
    #[allow(unused_unsafe)]
    let has_xgetbv1 = unsafe { std::arch::x86_64::__cpuid_count(0xD, 1) }.eax & (1 << 2) != 0;
    if !has_xgetbv1 {
        return None;
    }
    set();
    let (low, high): (u32, u32);
    // SAFETY: XGETBV1 exists (checked above) and the OS set CR4.OSXSAVE (XSAVEC was detected).
    unsafe {
        asm!("xgetbv", in("ecx") 1, out("eax") low, out("edx") high,
             options(nomem, nostack, preserves_flags))
    };
    Some(u64::from(high) << 32 | u64::from(low))
}

/// What the earlier "clean" state left in use: VZEROALL and LDMXCSR 0x1F80, for the
/// record (printed, not used by the bench).
fn vzeroall_ldmxcsr() {
    // SAFETY: AVX is present (checked in `xstate`); the block writes only XMM/YMM0-15 and
    // MXCSR (to its default).
    unsafe {
        asm!(
            "vzeroall",
            "push 0x1F80",
            "ldmxcsr [rsp]",
            "add rsp, 8",
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(preserves_flags),
        )
    }
}

/// XSAVEC and XRSTOR of `mask` through `area`, nothing else.
///
/// # Safety
///
/// The CPU has XSAVEC; `area` is 64-byte aligned, large enough for `mask` in the compacted
/// format, and its header bytes 63:16 are zero.
#[inline(always)]
unsafe fn raw_xsavec_xrstor(area: *mut u8, mask: u32) {
    // SAFETY: the caller's contract; XRSTOR loads back what XSAVEC just stored.
    unsafe {
        asm!(
            "xsavec64 [{area}]",
            "xrstor64 [{area}]",
            area = in(reg) area,
            in("eax") mask,
            in("edx") 0u32,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
            out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
            out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
            options(nostack, preserves_flags),
        );
    }
}

/// What one iteration measures.
#[derive(Clone, Copy)]
enum Subject {
    /// XSAVEC + XRSTOR of the same components, nothing else.
    Raw,
    /// A non-migration call: the loopback backend, no preservation.
    Plain,
    /// The migration path with the caller's area.
    PreservedArea,
    /// The same, always saving (no XGETBV check).
    PreservedAreaNoInitCheck,
    /// The migration path with the stack convenience.
    PreservedStack,
}

impl Subject {
    const ALL: [(Subject, &'static str); 5] = [
        (Subject::Raw, "raw_xsavec_xrstor"),
        (Subject::Plain, "plain_loopback"),
        (Subject::PreservedArea, "preserved_loopback_area"),
        (
            Subject::PreservedAreaNoInitCheck,
            "preserved_loopback_area_no_init_check",
        ),
        (Subject::PreservedStack, "preserved_loopback_stack"),
    ];
}

struct Fixture {
    state: VectorState,
    mask: u32,
    /// For the raw pair: the compacted size of the mask (zeroed, so its header is).
    raw_area: Area,
    /// For the preserved calls: `state.area_bytes()`.
    area: Area,
    init: InitArea,
    host: Host<Loopback>,
    tdr: TdrPage,
    mbmd: Mbmd,
}

impl Fixture {
    fn new() -> Fixture {
        let state = VectorState::current();
        // The raw pair's area is zeroed once; XSAVEC never writes bytes 63:16 of its header.
        let compacted = state
            .with_instruction(SaveInstruction::Xsavec)
            .expect("XSAVEC (checked in `xstate`)");
        Fixture {
            state,
            mask: state.components().bits() as u32,
            raw_area: Area::new(compacted.area_bytes()),
            area: Area::new(state.area_bytes()),
            init: InitArea::new(state),
            host: Host::new(Loopback),
            tdr: TdrPage::from_raw(0x7_0000_1000).unwrap(),
            mbmd: Mbmd::new(HostPhysAddr::page(0x7_0000_2000).unwrap(), 256).unwrap(),
        }
    }

    #[inline(always)]
    fn run(&mut self, subject: Subject, before: Before) {
        before.apply(&self.init);
        let preserve = match subject {
            Subject::Raw => {
                let raw = self.raw_area.ptr();
                // SAFETY: XSAVEC was detected; the area is aligned, large and prepared.
                unsafe { raw_xsavec_xrstor(black_box(raw), self.mask) };
                return;
            }
            Subject::Plain => {
                let _ = black_box(self.host.export_pause(black_box(self.tdr)));
                return;
            }
            Subject::PreservedArea => Preserve::in_area(self.state, self.area.buffer()),
            Subject::PreservedAreaNoInitCheck => {
                Preserve::in_area(self.state.always_save(), self.area.buffer())
            }
            Subject::PreservedStack => Preserve::on_stack(),
        };
        // SAFETY: the loopback backend executes no TDX instruction, so no MBMD is written.
        let _ = black_box(unsafe {
            self.host.export_track(
                black_box(self.tdr),
                black_box(self.mbmd),
                MigCommand::New,
                preserve.unwrap(),
            )
        });
    }
}

/// Interleaved minimum: every subject and state, in short batches taken in turn, keeping
/// each one's fastest batch. On a shared machine, where criterion's one-after-the-other
/// estimates drift with the load, this keeps the ratios between subjects honest.
fn interleaved_minimum(fixture: &mut Fixture) {
    const ROUNDS: usize = 300;
    const BATCH: u32 = 200;
    // Rows: each `Before`, then calls alternating dirty and clean (the worst case for the
    // preserved path's guess from the previous save).
    let rows: [&str; 4] = ["dirty", "avx_clean", "clean", "alternating"];
    let mut best = [[f64::INFINITY; 5]; 4];
    for _ in 0..ROUNDS {
        for (row, best_row) in best.iter_mut().enumerate() {
            for (column, &(subject, _)) in Subject::ALL.iter().enumerate() {
                let start = Instant::now();
                for call in 0..BATCH {
                    let before = match row {
                        3 if call % 2 == 0 => Before::Dirty,
                        3 => Before::Clean,
                        _ => Before::ALL[row].0,
                    };
                    fixture.run(subject, before);
                }
                let per_call = start.elapsed().as_secs_f64() * 1e9 / BATCH as f64;
                best_row[column] = best_row[column].min(per_call);
            }
        }
    }
    eprintln!("interleaved minimum, ns per call ({ROUNDS} rounds of {BATCH}):");
    for (row, name) in rows.iter().enumerate() {
        let [raw, plain, area, no_check, stack] = best[row];
        eprintln!(
            "  {name:>11}: raw {raw:6.1}  plain {plain:5.1}  area {area:6.1}  \
             area_no_check {no_check:6.1}  stack {stack:6.1}  | \
             area-plain {:6.1} ({:.2}x raw)  no_check-plain {:6.1} ({:.2}x raw)",
            area - plain,
            (area - plain) / raw,
            no_check - plain,
            (no_check - plain) / raw,
        );
    }
}

fn xstate(c: &mut Criterion) {
    if !std::is_x86_feature_detected!("avx") || !std::is_x86_feature_detected!("xsavec") {
        eprintln!("xstate bench: needs AVX and XSAVEC; skipped");
        return;
    }
    let mut fixture = Fixture::new();
    eprintln!("xstate bench: {:?}", fixture.state);
    // The clean state must be INIT for every preserved component, or the clean path is not
    // what is measured.
    let init = &fixture.init;
    let mask = u64::from(fixture.mask);
    match xinuse_after(|| Before::Clean.apply(init)) {
        Some(in_use) => {
            assert_eq!(
                in_use & mask,
                0,
                "XINUSE {in_use:#x} after the clean set-up: components of the mask {mask:#x} \
                 still in use"
            );
            let old = xinuse_after(vzeroall_ldmxcsr).unwrap_or(0);
            eprintln!(
                "xstate bench: clean = XRSTOR to INIT; XINUSE & mask after it {:#x}; after \
                 VZEROALL+LDMXCSR (the earlier clean state) it would be {:#x}",
                in_use & mask,
                old & mask
            );
        }
        None => eprintln!(
            "xstate bench: no XGETBV1 on this CPU: the clean state (XRSTOR to INIT) is not \
             checked, and the preserved path always saves"
        ),
    }
    if !std::env::args().any(|arg| arg == "--test") {
        interleaved_minimum(&mut fixture);
    }
    let mut group = c.benchmark_group("xstate");
    for (before, state) in Before::ALL {
        for (subject, name) in Subject::ALL {
            group.bench_function(format!("{name}/{state}"), |b| {
                b.iter(|| fixture.run(subject, before))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, xstate);
criterion_main!(benches);
