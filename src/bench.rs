//! A `no_std` cycle-count harness for timing TDX calls where they really run: at CPL 0 on
//! TDX hardware (a kernel module, a unikernel, TD firmware).
//!
//! No allocation: the caller supplies the sample buffer. Each sample is one call bracketed by
//! serialized TSC reads, `LFENCE; RDTSC` before and `RDTSCP; LFENCE` after. CPUID is never
//! used for serialization: inside a TD it exits to the TDX module (and may raise #VE), which
//! would swamp what is being measured.
//!
//! `compare` (feature `loopback`) measures a leaf and the loopback expansion of the same thunk (the production
//! thunk but for the TDX instruction) in the same run, so the thunk's own cost can be
//! subtracted: [`Comparison::net_median`] is the cost of the instruction and the module.
//!
//! # Recipe (kernel module or unikernel on TDX hardware)
//!
//! 1. Build the crate with `default-features = false, features = ["loopback"]`.
//! 2. Route #UD/#GP to [`crate::fixup::fixup_exception`] (so a missing module is a status,
//!    not an oops), pin the thread to one CPU, disable preemption and interrupts around the
//!    run if the environment allows it.
//! 3. Call `compare` with the leaf (for example `Leaf::TdhSysRd` with a field ID in RDX on
//!    the host, or `Leaf::TdgVpInfo` in a guest), a few thousand warm-up calls and a buffer
//!    of 10,000 to 100,000 `u64` samples.
//! 4. Record with the figures: CPU model and stepping, microcode revision, TDX module version
//!    (TDH.SYS.RD MAJOR/MINOR/UPDATE_VERSION and BUILD_NUM), the TSC frequency, and whether
//!    the run was inside a TD or on the host.

#[cfg(target_arch = "x86_64")]
use crate::call::{Backend, CallKind};
#[cfg(target_arch = "x86_64")]
use crate::regs::{RegSet, Regs};
use crate::status::Status;

/// Reads the TSC after every earlier instruction has completed (`LFENCE; RDTSC`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn tsc_begin() -> u64 {
    let low: u32;
    let high: u32;
    // SAFETY: LFENCE and RDTSC only read the time-stamp counter into EDX:EAX; RDTSC is
    // allowed at every CPL unless CR4.TSD is set, in which case the caller runs at CPL 0.
    unsafe {
        core::arch::asm!("lfence", "rdtsc", out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
    }
    (high as u64) << 32 | low as u64
}

/// Reads the TSC after the measured code has completed, and keeps later instructions from
/// starting before the read (`RDTSCP; LFENCE`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn tsc_end() -> u64 {
    let low: u32;
    let high: u32;
    // SAFETY: RDTSCP reads the TSC into EDX:EAX and IA32_TSC_AUX into ECX (discarded);
    // LFENCE orders what follows. No memory is touched.
    unsafe {
        core::arch::asm!("rdtscp", "lfence", out("eax") low, out("edx") high, out("ecx") _, options(nomem, nostack, preserves_flags));
    }
    (high as u64) << 32 | low as u64
}

/// Order statistics of one measurement, in TSC ticks per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Summary {
    /// Number of samples.
    pub samples: usize,
    /// Fastest call.
    pub min: u64,
    /// Median call.
    pub median: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest call.
    pub max: u64,
}

impl Summary {
    /// Summarizes `samples`, sorting them in place. An empty slice gives all zeros.
    pub fn from_samples(samples: &mut [u64]) -> Summary {
        if samples.is_empty() {
            return Summary::default();
        }
        samples.sort_unstable();
        let last = samples.len() - 1;
        let at = |permille: usize| samples[last * permille / 1000];
        Summary {
            samples: samples.len(),
            min: samples[0],
            median: at(500),
            p99: at(990),
            max: samples[last],
        }
    }
}

/// Times `operation` once per element of `samples` after `warm_up` untimed runs, and
/// summarizes. The samples stay in the buffer (sorted) for the caller to export.
#[cfg(target_arch = "x86_64")]
pub fn measure(warm_up: usize, samples: &mut [u64], mut operation: impl FnMut()) -> Summary {
    for _ in 0..warm_up {
        operation();
    }
    for sample in samples.iter_mut() {
        let start = tsc_begin();
        operation();
        let end = tsc_end();
        *sample = end.wrapping_sub(start);
    }
    Summary::from_samples(samples)
}

/// Times one TDX call through `backend`, restoring the input registers before every call so
/// each sample does the same work. Returns the summary and the last status.
///
/// # Safety
///
/// Executes `leaf` with `inputs` once per warm-up and sample: see [`Backend::call`]. Only
/// time leaves whose repetition is harmless (reads such as TDH.SYS.RD, TDG.VP.INFO,
/// TDG.VM.RD).
#[cfg(target_arch = "x86_64")]
pub unsafe fn measure_call<B: Backend>(
    backend: &mut B,
    kind: CallKind,
    leaf: u64,
    inputs: &Regs,
    warm_up: usize,
    samples: &mut [u64],
) -> (Summary, Status) {
    // SAFETY: forwarded; the full set is the `Backend::call` contract.
    unsafe { measure_call_set(backend, kind, RegSet::Full, leaf, inputs, warm_up, samples) }
}

/// [`measure_call`] through the thunk of register set `set`
/// ([`Backend::call_set`]), as the typed wrappers call the leaf ([`Leaf::reg_set`]).
///
/// # Safety
///
/// As [`measure_call`], and the leaf writes no register outside `set`.
///
/// [`Leaf::reg_set`]: crate::leaf::Leaf::reg_set
#[cfg(target_arch = "x86_64")]
pub unsafe fn measure_call_set<B: Backend>(
    backend: &mut B,
    kind: CallKind,
    set: RegSet,
    leaf: u64,
    inputs: &Regs,
    warm_up: usize,
    samples: &mut [u64],
) -> (Summary, Status) {
    let mut status = Status::SUCCESS;
    let summary = measure(warm_up, samples, || {
        let mut regs = *inputs;
        // SAFETY: the caller upholds the contract for this leaf, these inputs and `set`.
        status = unsafe { backend.call_set(kind, set, leaf, &mut regs) };
    });
    (summary, status)
}

/// A leaf measured against the loopback expansion of the same thunk in the same run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// The real call.
    pub call: Summary,
    /// The loopback thunk: the same code but for the TDX instruction.
    pub loopback: Summary,
    /// Status of the last real call (check it: a fault code means the instruction never ran).
    pub status: Status,
}

impl Comparison {
    /// Median cost of the instruction and the module alone: real median minus loopback
    /// median, in TSC ticks.
    pub fn net_median(&self) -> u64 {
        self.call.median.saturating_sub(self.loopback.median)
    }
}

/// Measures `leaf` through `backend` and then through the loopback thunk of the same kind,
/// each `samples.len()` times after `warm_up` runs, in one run.
///
/// # Safety
///
/// As for [`measure_call`].
#[cfg(all(target_arch = "x86_64", feature = "loopback"))]
#[cfg_attr(docsrs, doc(cfg(feature = "loopback")))]
pub unsafe fn compare<B: Backend>(
    backend: &mut B,
    kind: CallKind,
    leaf: u64,
    inputs: &Regs,
    warm_up: usize,
    samples: &mut [u64],
) -> Comparison {
    // SAFETY: forwarded; the full set is the `Backend::call` contract.
    unsafe { compare_set(backend, kind, RegSet::Full, leaf, inputs, warm_up, samples) }
}

/// [`compare`] through the thunks of register set `set`: the real call and the loopback
/// expansion of the same (narrow) thunk.
///
/// # Safety
///
/// As for [`measure_call_set`].
#[cfg(all(target_arch = "x86_64", feature = "loopback"))]
pub unsafe fn compare_set<B: Backend>(
    backend: &mut B,
    kind: CallKind,
    set: RegSet,
    leaf: u64,
    inputs: &Regs,
    warm_up: usize,
    samples: &mut [u64],
) -> Comparison {
    // SAFETY: forwarded; the caller upholds the contract.
    let (call, status) =
        unsafe { measure_call_set(backend, kind, set, leaf, inputs, warm_up, samples) };
    let mut loopback_backend = crate::call::loopback::Loopback;
    // SAFETY: the loopback thunks execute no TDX instruction.
    let (loopback, _) = unsafe {
        measure_call_set(
            &mut loopback_backend,
            kind,
            set,
            leaf,
            inputs,
            warm_up,
            samples,
        )
    };
    Comparison {
        call,
        loopback,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_order_statistics() {
        let mut samples: [u64; 101] = core::array::from_fn(|i| (100 - i) as u64);
        let summary = Summary::from_samples(&mut samples);
        assert_eq!(
            summary,
            Summary {
                samples: 101,
                min: 0,
                median: 50,
                p99: 99,
                max: 100
            }
        );
        assert_eq!(Summary::from_samples(&mut []), Summary::default());
    }

    #[cfg(all(target_arch = "x86_64", feature = "loopback"))]
    #[test]
    fn compare_times_both_thunks() {
        let mut calls = 0u32;
        let mut backend = crate::call::FnBackend(|_, leaf, regs: &mut Regs| {
            calls += 1;
            regs.rcx = 0xdead;
            Status::from_raw(leaf)
        });
        let inputs = Regs {
            rcx: 1,
            ..Regs::ZERO
        };
        let mut samples = [0u64; 64];
        // SAFETY: neither backend executes a TDX instruction.
        let comparison =
            unsafe { compare(&mut backend, CallKind::Tdcall, 9, &inputs, 8, &mut samples) };
        assert_eq!(calls, 72, "8 warm-up + 64 timed calls");
        assert_eq!(comparison.status, Status::from_raw(9));
        assert_eq!(comparison.call.samples, 64);
        assert!(
            comparison.loopback.min > 0,
            "TSC must advance across a thunk call"
        );
        assert!(
            comparison.call.min <= comparison.call.median
                && comparison.call.median <= comparison.call.max
        );
    }

    #[cfg(all(target_arch = "x86_64", feature = "loopback"))]
    #[test]
    fn compare_set_passes_the_set_to_the_backend() {
        struct Sets(std::vec::Vec<RegSet>);
        impl Backend for Sets {
            unsafe fn call(&mut self, _: CallKind, leaf: u64, _: &mut Regs) -> Status {
                Status::from_raw(leaf)
            }
            unsafe fn call_set(
                &mut self,
                _: CallKind,
                set: RegSet,
                leaf: u64,
                _: &mut Regs,
            ) -> Status {
                self.0.push(set);
                Status::from_raw(leaf)
            }
        }
        let mut backend = Sets(std::vec::Vec::new());
        let mut samples = [0u64; 4];
        // SAFETY: neither backend executes a TDX instruction.
        let comparison = unsafe {
            compare_set(
                &mut backend,
                CallKind::Tdcall,
                RegSet::Args,
                7,
                &Regs::ZERO,
                1,
                &mut samples,
            )
        };
        assert_eq!(comparison.status, Status::from_raw(7));
        assert_eq!(backend.0, [RegSet::Args; 5]);
    }
}
