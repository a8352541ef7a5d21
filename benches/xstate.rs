//! Cost of vector-state preservation around a migration leaf, through the loopback thunk.
//!
//! `cargo bench --features loopback --bench xstate`
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
//! "Clean": VZEROALL and LDMXCSR 0x1F80 right before each iteration, so XMM/YMM0-15 are zero
//! and MXCSR is at its default (no sticky exception flags either): SSE and AVX at INIT
//! (XINUSE bits 1 and 2 clear), and the preserved path skips the save. VZEROUPPER alone would leave SSE in use (compiled code uses XMM
//! registers), so "clean" here means INIT for every preserved component, as a task that has
//! not used vector registers since its last context switch would be. `avx_clean` (after
//! VZEROUPPER: AVX at INIT, SSE in use) is the in-between case: a save of SSE alone.

use criterion::{criterion_group, criterion_main, Criterion};
use std::arch::asm;
use std::hint::black_box;
use std::time::Instant;
use tdxcall::abi::mig::{Mbmd, MigCommand};
use tdxcall::abi::{HostPhysAddr, TdrPage};
use tdxcall::call::loopback::Loopback;
use tdxcall::host::Host;
use tdxcall::xstate::{Preserve, VectorState, XsaveArea, XsaveBuffer, STACK_AREA_BYTES};

/// The state before each iteration.
#[derive(Clone, Copy)]
enum Before {
    /// YMM0 and YMM15 written: AVX and SSE in use.
    Dirty,
    /// VZEROUPPER: AVX at INIT, SSE in use.
    AvxClean,
    /// VZEROALL and MXCSR = 0x1F80 (no sticky exception flags): SSE and AVX at INIT.
    Clean,
}

impl Before {
    const ALL: [(Before, &'static str); 3] = [
        (Before::Dirty, "dirty"),
        (Before::AvxClean, "avx_clean"),
        (Before::Clean, "clean"),
    ];

    #[inline(always)]
    fn apply(self) {
        // SAFETY: the CPU has AVX (checked in `xstate`); each block only writes the vector
        // registers it declares.
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
                Before::Clean => asm!(
                    "vzeroall",
                    // Criterion's own floating-point work leaves exception flags in MXCSR,
                    // and a non-default MXCSR is state to preserve.
                    "push 0x1F80",
                    "ldmxcsr [rsp]",
                    "add rsp, 8",
                    out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _,
                    out("xmm4") _, out("xmm5") _, out("xmm6") _, out("xmm7") _,
                    out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
                    out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
                    options(preserves_flags),
                ),
            }
        }
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
    raw_area: Box<XsaveArea<STACK_AREA_BYTES>>,
    area: Box<XsaveArea<STACK_AREA_BYTES>>,
    host: Host<Loopback>,
    tdr: TdrPage,
    mbmd: Mbmd,
}

impl Fixture {
    fn new() -> Fixture {
        let state = VectorState::current();
        let mut raw_area = Box::new(XsaveArea::<STACK_AREA_BYTES>::new());
        // The raw pair gets a zeroed header once; XSAVEC never writes bytes 63:16 of it.
        let raw = raw_area.buffer() as *mut XsaveBuffer as *mut u8;
        // SAFETY: the area is STACK_AREA_BYTES long; bytes 512..576 are its header.
        unsafe { raw.add(512).write_bytes(0, 64) };
        Fixture {
            state,
            mask: state.components().bits() as u32,
            raw_area,
            area: Box::new(XsaveArea::new()),
            host: Host::new(Loopback),
            tdr: TdrPage::from_raw(0x7_0000_1000).unwrap(),
            mbmd: Mbmd::new(HostPhysAddr::page(0x7_0000_2000).unwrap(), 256).unwrap(),
        }
    }

    #[inline(always)]
    fn run(&mut self, subject: Subject, before: Before) {
        before.apply();
        let preserve = match subject {
            Subject::Raw => {
                let raw = self.raw_area.buffer() as *mut XsaveBuffer as *mut u8;
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
