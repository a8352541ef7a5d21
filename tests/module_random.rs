//! A randomized, multi-threaded run of the software TDX module (issue 12): several host
//! threads (each an installed `LogicalProcessor`) and guest threads (each a `VirtualCpu` at a
//! time) drive long sequences of SEAMCALLs and TDCALLs with valid and invalid arguments
//! (HPAs inside and outside the CMR and owned by anyone, levels, GPAs, field IDs, fuzzed
//! TD_PARAMS and TDMR_INFO, any order). It fails on any panic (a model panic surfaces as a
//! #UD software status and through the panic hook), any hang (a watchdog with a deadline),
//! and any status whose code is not in the crate's status table.
//!
//! Environment: `TDXCALL_RANDOM_SEED` (the seed; printed on failure), `TDXCALL_RANDOM_SECS`
//! (default 3) and `TDXCALL_RANDOM_CALLS` (default 200 000): the run stops at whichever
//! comes first. Each *sequence* is a fresh module taken from power-on through a random
//! phase to a full teardown.
//!
//! Long run (`TDXCALL_RANDOM_SECS=300 TDXCALL_RANDOM_SEED=20261204`, debug build, 3 host and
//! 3 guest threads): 609 sequences, 5 966 248 calls (1 057 292 successful), 639 distinct
//! (side, leaf, status code) outcomes, no failure. Against the model before issue 12 the
//! default 3 s run fails in its first sequence: a fuzzed TDMR_INFO whose reserved-area
//! offset + size wraps panics the model (SYS.CONFIG answered with #UD).
#![cfg(all(
    feature = "software-module",
    target_os = "linux",
    target_arch = "x86_64"
))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock, RwLock};
use std::thread;
use std::time::{Duration, Instant};
use tdxcall::abi::sysinfo::TdmrInfo;
use tdxcall::abi::td_params::TdParams;
use tdxcall::abi::{Attributes, HostPhysAddr, Xfam};
use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::emu;
use tdxcall::leaf::{Leaf, Side};
use tdxcall::module::{Config, SoftwareModule};
use tdxcall::status::StatusCode;
use tdxcall::{Regs, Status};

const HOSTS: u32 = 3;
const GUESTS: usize = 3;
/// Host calls per sequence before its teardown.
const CALLS_PER_SEQUENCE: u64 = 6_000;

// ---------------------------------------------------------------- settings and PRNG

struct Settings {
    seed: u64,
    secs: f64,
    calls: u64,
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl Settings {
    fn from_env() -> Settings {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Settings {
            seed: env("TDXCALL_RANDOM_SEED").unwrap_or(clock),
            secs: env("TDXCALL_RANDOM_SECS").unwrap_or(3.0),
            calls: env("TDXCALL_RANDOM_CALLS").unwrap_or(200_000),
        }
    }
}

/// SplitMix64: small, fast, deterministic for a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            Some(items[self.below(items.len() as u64) as usize])
        }
    }
}

// ---------------------------------------------------------------- failures and panics

/// Every panic in the process (model panics included, which the emulator catches).
fn panics() -> &'static Mutex<Vec<String>> {
    static PANICS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    PANICS.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = thread::current().name().unwrap_or("?").to_owned();
            if let Some(list) = PANICS.get() {
                list.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{thread}: {info}"));
            }
            previous(info);
        }));
        Mutex::new(Vec::new())
    })
}

/// Which side of the machine a thread is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Host,
    Guest,
}

// ---------------------------------------------------------------- the world of one sequence

#[derive(Default)]
struct Registry {
    /// Every page handed out by `alloc_page`.
    pages: Vec<u64>,
    tdrs: Vec<u64>,
    /// vCPUs by TDVPR: whether a guest thread was ever bound to the vCPU there now.
    vcpus: HashMap<u64, bool>,
    /// Field IDs seen (the module's "next" IDs) and a few fixed ones.
    fields: Vec<u64>,
}

struct World {
    module: SoftwareModule,
    /// Written by the host calls that make or unmake a vCPU (VP.CREATE, PAGE.RECLAIM) and
    /// by guest binding; read across TDH.VP.ENTER, so a host only enters a vCPU whose guest
    /// thread exists or existed (else the model rightly waits for it for ever).
    lifecycle: RwLock<()>,
    registry: Mutex<Registry>,
    stop: AtomicBool,
    calls: AtomicU64,
    failures: Mutex<Vec<String>>,
    /// TD_PARAMS pages: valid ones and fuzzed ones.
    params: Vec<u64>,
    /// Host pages with data, for PAGE.ADD sources.
    sources: Vec<u64>,
    /// Statuses seen, by (side, leaf number) and status code: the run's coverage.
    seen: Mutex<HashMap<(bool, u16, u32), u64>>,
}

impl World {
    fn fail(&self, message: String) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // The first ones tell the story; a dead LP repeats itself.
        if failures.len() < 10 {
            failures.push(message);
        }
        drop(failures);
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Checks a status: known to the crate's table, or an expected software #UD.
    fn check(&self, who: Who, kind: CallKind, rax: u64, status: Status) {
        let leaf = Leaf::split_rax(rax).map_or(u16::MAX, |(number, _)| number);
        let tdcall = matches!(kind, CallKind::Tdcall | CallKind::Tdvmcall);
        *self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((tdcall, leaf, status.code()))
            .or_default() += 1;
        if status.is_software() {
            let expected = match (who, tdcall) {
                // TDCALL outside a TD, SEAMCALL inside one: #UD by design.
                (Who::Host, true) => status == Status::TDCALL_UD,
                (Who::Guest, false) => status == Status::SEAMCALL_UD,
                // A guest whose vCPU is gone (torn down, reclaimed) or never bound.
                (Who::Guest, true) => status == Status::TDCALL_UD,
                // The module never answers a SEAMCALL with #UD: a model panic.
                (Who::Host, false) => false,
            };
            if !expected {
                self.fail(format!(
                    "{who:?} {kind:?} RAX {rax:#x}: software status {status:?} (a model panic?)"
                ));
            }
        } else if StatusCode::from_status(status).is_none() {
            self.fail(format!(
                "{who:?} {kind:?} RAX {rax:#x}: status {:#x} is not in the status table",
                status.raw()
            ));
        }
    }

    fn call(&self, who: Who, kind: CallKind, rax: u64, regs: &mut Regs) -> Status {
        // SAFETY: the software module answers every call on these threads; no process
        // memory is read or written by it.
        let status = unsafe { Native::new().call(kind, rax, regs) };
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.check(who, kind, rax, status);
        status
    }

    fn fresh_page(&self, rng: &mut Rng) -> u64 {
        let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        match self.module.alloc_page() {
            Some(page) if !rng.chance(10) => {
                registry.pages.push(page.raw());
                page.raw()
            }
            other => {
                if let Some(page) = other {
                    registry.pages.push(page.raw());
                }
                rng.pick(&registry.pages).unwrap_or(0)
            }
        }
    }
}

// ---------------------------------------------------------------- operands

const GPAS: [u64; 12] = [
    0,
    0x1000,
    0x2000,
    0x3000,
    0x4000,
    0x20_0000,
    0x20_1000,
    0x4000_0000,
    1 << 39,
    1 << 47,
    1 << 47 | 0x1000,
    1 << 52,
];

/// An interesting 64-bit value: edges, near-wraps, addresses outside the CMR.
fn wild(rng: &mut Rng) -> u64 {
    match rng.below(8) {
        0 => u64::MAX - rng.below(0x2000),
        1 => 0u64.wrapping_sub((rng.below(4) + 1) << 30),
        2 => rng.below(16),
        3 => 1 << rng.below(64),
        4 => rng.below(1 << 40) & !0xFFF,
        5 => (1u64 << 32) + (rng.below(1 << 18) << 12), // inside the CMR
        6 => rng.next() & 0x000F_FFFF_FFFF_F000,
        _ => rng.next(),
    }
}

fn gpa(rng: &mut Rng) -> u64 {
    if rng.chance(90) {
        rng.pick(&GPAS).unwrap_or(0)
    } else {
        wild(rng)
    }
}

/// A page_info operand: a GPA aligned to a level, the level in bits 2:0.
fn page_info(rng: &mut Rng, level: Option<u64>) -> u64 {
    let level = level.unwrap_or_else(|| rng.below(5));
    let gpa = gpa(rng);
    if rng.chance(90) {
        (gpa & !((4096u64 << (9 * level.min(4))) - 1)) | level
    } else {
        gpa | rng.below(0x1000)
    }
}

fn tdr(world: &World, rng: &mut Rng) -> u64 {
    let registry = world.registry.lock().unwrap_or_else(|e| e.into_inner());
    match rng.pick(&registry.tdrs) {
        Some(tdr) if rng.chance(92) => tdr,
        _ => rng.pick(&registry.pages).unwrap_or(0),
    }
}

fn tdvpr(world: &World, rng: &mut Rng) -> u64 {
    let registry = world.registry.lock().unwrap_or_else(|e| e.into_inner());
    let vcpus: Vec<u64> = registry.vcpus.keys().copied().collect();
    match rng.pick(&vcpus) {
        Some(tdvpr) if rng.chance(92) => tdvpr,
        _ => rng.pick(&registry.pages).unwrap_or(0),
    }
}

fn field(world: &World, rng: &mut Rng) -> u64 {
    let registry = world.registry.lock().unwrap_or_else(|e| e.into_inner());
    let id = rng.pick(&registry.fields).unwrap_or(0);
    match rng.below(10) {
        0 => id ^ 1 << rng.below(64),
        1 => wild(rng),
        2 => 0,
        _ => id,
    }
}

fn any_page(world: &World, rng: &mut Rng) -> u64 {
    if rng.chance(90) {
        rng.pick(
            &world
                .registry
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pages,
        )
        .unwrap_or(0)
    } else {
        wild(rng)
    }
}

// ---------------------------------------------------------------- host threads

fn host_call(world: &World, rng: &mut Rng) {
    use Leaf::*;
    let leaves = [
        TdhMngCreate,
        TdhMngKeyConfig,
        TdhMngAddcx,
        TdhMngInit,
        TdhVpCreate,
        TdhVpAddcx,
        TdhVpInit,
        TdhMemSeptAdd,
        TdhMemPageAdd,
        TdhMrExtend,
        TdhMrFinalize,
        TdhMemPageAug,
        TdhMemRangeBlock,
        TdhMemRangeUnblock,
        TdhMemTrack,
        TdhMemPageRemove,
        TdhMemSeptRd,
        TdhVpEnter,
        TdhVpEnter,
        TdhVpEnter,
        TdhVpFlush,
        TdhMngVpflushdone,
        TdhPhymemCacheWb,
        TdhMngKeyFreeid,
        TdhPhymemPageReclaim,
        TdhPhymemPageRdmd,
        TdhMngRd,
        TdhMngWr,
        TdhVpRd,
        TdhVpWr,
        TdhSysRd,
        TdhSysRdall,
        TdhSysInit,
        TdhSysLpInit,
        TdhSysConfig,
        TdhSysTdmrInit,
        TdhSysKeyConfig,
    ];
    let mut regs = Regs::ZERO;
    // One call in 30 is any leaf number with wild registers; one in 60 a TDCALL.
    if rng.chance(3) {
        let rax = rng.below(128) | rng.below(3) << 16 | if rng.chance(5) { wild(rng) } else { 0 };
        for index in [1u8, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
            let value = if rng.chance(50) {
                any_page(world, rng)
            } else {
                wild(rng)
            };
            *regs.by_hw_index_mut(index).unwrap() = value;
        }
        if rax & 0xFFFF == 0 {
            return; // VP.ENTER only with a guest behind it (below).
        }
        seamcall_and_record(world, rax, &mut regs);
        return;
    }
    if rng.chance(4) {
        build_td(world, rng);
        return;
    }
    if rng.chance(2) {
        let leaf = rng.below(28);
        world.call(Who::Host, CallKind::Tdcall, leaf, &mut regs);
        return;
    }
    let leaf = rng.pick(&leaves).unwrap();
    let mut version = 0;
    match leaf {
        TdhMngCreate => {
            regs.rcx = world.fresh_page(rng);
            regs.rdx = 30 + rng.below(40);
        }
        TdhMngKeyConfig | TdhMrFinalize | TdhMemTrack | TdhMngVpflushdone | TdhMngKeyFreeid => {
            regs.rcx = tdr(world, rng)
        }
        TdhMngAddcx | TdhVpCreate => {
            regs.rcx = world.fresh_page(rng);
            regs.rdx = tdr(world, rng);
        }
        TdhMngInit => {
            regs.rcx = tdr(world, rng);
            regs.rdx = if rng.chance(95) {
                rng.pick(&world.params).unwrap_or(0)
            } else {
                any_page(world, rng)
            };
        }
        TdhVpAddcx => {
            regs.rcx = world.fresh_page(rng);
            regs.rdx = tdvpr(world, rng);
        }
        TdhVpInit => {
            version = rng.below(2);
            regs.rcx = tdvpr(world, rng);
            regs.rdx = rng.next();
            regs.r8 = if rng.chance(80) {
                rng.below(8)
            } else {
                wild(rng)
            };
        }
        TdhMemSeptAdd => {
            version = rng.below(2);
            let level = 1 + rng.below(3);
            regs.rcx = page_info(rng, Some(level));
            regs.rdx = tdr(world, rng) | rng.below(2);
            regs.r8 = world.fresh_page(rng);
            if rng.chance(20) {
                regs.r9 = wild(rng);
                regs.r10 = u64::MAX;
                regs.r11 = u64::MAX;
            } else {
                regs.r9 = u64::MAX;
                regs.r10 = u64::MAX;
                regs.r11 = u64::MAX;
            }
        }
        TdhMemPageAdd | TdhMemPageAug => {
            regs.rcx = page_info(rng, Some(0));
            regs.rdx = tdr(world, rng);
            regs.r8 = world.fresh_page(rng);
            regs.r9 = rng.pick(&world.sources).unwrap_or(0);
        }
        TdhMrExtend => {
            regs.rcx = page_info(rng, Some(0)) & !0xFFF | rng.below(16) << 8;
            regs.rdx = tdr(world, rng);
        }
        TdhMemRangeBlock | TdhMemRangeUnblock | TdhMemPageRemove | TdhMemSeptRd => {
            regs.rcx = page_info(rng, None);
            regs.rdx = tdr(world, rng);
        }
        TdhVpFlush => regs.rcx = tdvpr(world, rng),
        TdhPhymemCacheWb => regs.rcx = rng.below(3),
        TdhPhymemPageReclaim | TdhPhymemPageRdmd => regs.rcx = any_page(world, rng),
        TdhMngRd | TdhMngWr => {
            version = u64::from(leaf == TdhMngRd) * rng.below(2);
            regs.rcx = tdr(world, rng);
            regs.rdx = field(world, rng);
            regs.r8 = rng.next();
            regs.r9 = if rng.chance(50) { u64::MAX } else { rng.next() };
        }
        TdhVpRd | TdhVpWr => {
            version = u64::from(leaf == TdhVpRd) * rng.below(2);
            regs.rcx = tdvpr(world, rng);
            regs.rdx = field(world, rng);
            regs.r8 = rng.next();
            regs.r9 = if rng.chance(50) { u64::MAX } else { rng.next() };
        }
        TdhSysRd => regs.rdx = field(world, rng),
        TdhSysRdall => {
            regs.rdx = world.fresh_page(rng);
            regs.r8 = field(world, rng);
        }
        TdhSysConfig => {
            regs.rcx = any_page(world, rng);
            regs.rdx = rng.below(3);
            regs.r8 = 32;
        }
        TdhSysTdmrInit => regs.rcx = 1 << 32,
        TdhVpEnter => return vp_enter(world, rng),
        _ => {}
    }
    seamcall_and_record(world, leaf.rax() | version << 16, &mut regs);
}

/// The valid build of a TD, step by step, stopping at the first failure (other threads
/// interleave anything): MNG.CREATE, KEY.CONFIG, the TDCS pages, MNG.INIT, a vCPU with its
/// TDVPS pages and VP.INIT (which associates it with this LP), Secure-EPT pages around GPA
/// 0, PAGE.ADD and MR.EXTEND there, MR.FINALIZE. So the run reaches running TDs, entries,
/// exits and teardowns, not only argument errors.
fn build_td(world: &World, rng: &mut Rng) {
    let ok = |status: Status| status == Status::SUCCESS;
    let call = |leaf: Leaf, rcx: u64, rdx: u64, r8: u64, r9: u64| {
        let mut regs = Regs {
            rcx,
            rdx,
            r8,
            r9,
            ..Regs::ZERO
        };
        seamcall_and_record(world, leaf.rax(), &mut regs)
    };
    let tdr = world.fresh_page(rng);
    if !ok(call(Leaf::TdhMngCreate, tdr, 33 + rng.below(31), 0, 0))
        || !ok(call(Leaf::TdhMngKeyConfig, tdr, 0, 0, 0))
    {
        return;
    }
    for _ in 0..6 {
        let page = world.fresh_page(rng);
        if !ok(call(Leaf::TdhMngAddcx, page, tdr, 0, 0)) {
            return;
        }
    }
    // The first TD_PARAMS pages are valid (see `sequence`).
    let params = world.params[rng.below(2) as usize];
    if !ok(call(Leaf::TdhMngInit, tdr, params, 0, 0)) {
        return;
    }
    for _ in 0..1 + rng.below(2) {
        let tdvpr = world.fresh_page(rng);
        if !ok(call(Leaf::TdhVpCreate, tdvpr, tdr, 0, 0)) {
            break;
        }
        for _ in 0..5 {
            let page = world.fresh_page(rng);
            call(Leaf::TdhVpAddcx, page, tdvpr, 0, 0);
        }
        call(Leaf::TdhVpInit, tdvpr, 0, 0, 0);
    }
    for level in [3u64, 2, 1] {
        let page = world.fresh_page(rng);
        call(Leaf::TdhMemSeptAdd, level, tdr, page, 0);
    }
    let (target, source) = (world.fresh_page(rng), world.sources[0]);
    call(Leaf::TdhMemPageAdd, 0, tdr, target, source);
    call(Leaf::TdhMrExtend, 0, tdr, 0, 0);
    call(Leaf::TdhMrFinalize, tdr, 0, 0, 0);
}

/// A SEAMCALL (not TDH.VP.ENTER) and the bookkeeping it needs: TDs made, vCPUs made and
/// reclaimed (under the write lock, see [`World::lifecycle`]), field IDs learnt.
fn seamcall_and_record(world: &World, rax: u64, regs: &mut Regs) -> Status {
    let number = Leaf::split_rax(rax).map(|(number, _)| number);
    let leaf = number.and_then(|number| Leaf::from_number(Side::Host, number));
    let lifecycle = matches!(leaf, Some(Leaf::TdhVpCreate | Leaf::TdhPhymemPageReclaim));
    let _write = lifecycle.then(|| world.lifecycle.write().unwrap_or_else(|e| e.into_inner()));
    let operand = regs.rcx;
    let status = world.call(Who::Host, CallKind::Seamcall, rax, regs);
    let first = status.is(StatusCode::MetadataFirstFieldIdInContext);
    if status != Status::SUCCESS && !first {
        return status;
    }
    let mut registry = world.registry.lock().unwrap_or_else(|e| e.into_inner());
    match leaf {
        Some(Leaf::TdhMngCreate) => registry.tdrs.push(operand),
        Some(Leaf::TdhVpCreate) => {
            registry.vcpus.insert(operand, false);
        }
        // RCX = the type the page had (6: TDVPR, 4: TDR).
        Some(Leaf::TdhPhymemPageReclaim) => match regs.rcx {
            6 => {
                registry.vcpus.remove(&operand);
            }
            4 => registry.tdrs.retain(|&tdr| tdr != operand),
            _ => {}
        },
        Some(Leaf::TdhMngRd | Leaf::TdhVpRd | Leaf::TdhSysRd)
            if regs.rdx != u64::MAX && regs.rdx != 0 && !registry.fields.contains(&regs.rdx) =>
        {
            registry.fields.push(regs.rdx);
        }
        _ => {}
    }
    status
}

/// TDH.VP.ENTER of a vCPU that has (or had) a guest thread: that thread exits or ends, so
/// the entry returns.
fn vp_enter(world: &World, rng: &mut Rng) {
    let _read = world.lifecycle.read().unwrap_or_else(|e| e.into_inner());
    let target = {
        let registry = world.registry.lock().unwrap_or_else(|e| e.into_inner());
        let ready: Vec<u64> = registry
            .vcpus
            .iter()
            .filter(|(_, &guest)| guest)
            .map(|(&page, _)| page)
            .collect();
        rng.pick(&ready)
    };
    let Some(target) = target else { return };
    let mut regs = Regs::ZERO;
    for index in [2u8, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
        *regs.by_hw_index_mut(index).unwrap() = rng.next();
    }
    regs.rcx = target
        | if rng.chance(5) {
            1 << (52 + rng.below(2))
        } else {
            0
        };
    world.call(
        Who::Host,
        CallKind::SeamcallScrub,
        Leaf::TdhVpEnter.rax(),
        &mut regs,
    );
}

fn seam(world: &World, leaf: Leaf, regs: &mut Regs) -> Status {
    world.call(Who::Host, CallKind::Seamcall, leaf.rax(), regs)
}

/// LP 0's platform bring-up: fuzzed SYS.CONFIG attempts, then the real one.
fn configure(world: &World, rng: &mut Rng) {
    let good = world.module.tdmr();
    let (info, pointers) = (world.fresh_page(rng), world.fresh_page(rng));
    for _ in 0..200 {
        let mut tdmr: TdmrInfo = good;
        for _ in 0..1 + rng.below(3) {
            let area = rng.below(16) as usize;
            let choice = rng.below(8);
            let mut value = || match rng.below(3) {
                0 => wild(rng),
                1 => rng.below(1 << 34) & !0xFFF,
                // Near 2^64, page or GiB aligned: sums with it wrap.
                _ => 0u64.wrapping_sub((1 + rng.below(8)) << (12 + 18 * rng.below(2))),
            };
            match choice {
                0 => (tdmr.tdmr_base, tdmr.tdmr_size) = (hpa(value()), value()),
                1 => tdmr.tdmr_size = value(),
                2 => (tdmr.pamt_4k_base, tdmr.pamt_4k_size) = (hpa(value()), value()),
                3 => (tdmr.pamt_2m_base, tdmr.pamt_1g_size) = (hpa(value()), value()),
                4 => tdmr.pamt_1g_base = hpa(value()),
                5 => tdmr.reserved_areas[area].offset = value(),
                6 => tdmr.reserved_areas[area].size = value(),
                _ => {
                    tdmr.reserved_areas[area].offset = value();
                    tdmr.reserved_areas[area].size = value();
                }
            }
        }
        let hpa = |raw| HostPhysAddr::new(raw).unwrap();
        world.module.write_tdmr_info(hpa(info), &tdmr).unwrap();
        world.module.write_u64s(hpa(pointers), &[info]).unwrap();
        let mut regs = Regs {
            rcx: pointers,
            rdx: 1,
            r8: 32,
            ..Regs::ZERO
        };
        if seam(world, Leaf::TdhSysConfig, &mut regs) == Status::SUCCESS {
            break;
        }
    }
    let hpa = |raw| HostPhysAddr::new(raw).unwrap();
    world.module.write_tdmr_info(hpa(info), &good).unwrap();
    let mut regs = Regs {
        rcx: pointers,
        rdx: 1,
        r8: 32,
        ..Regs::ZERO
    };
    seam(world, Leaf::TdhSysConfig, &mut regs); // fails if a fuzzed one went in
    seam(world, Leaf::TdhSysKeyConfig, &mut Regs::default());
    for _ in 0..8 {
        let mut regs = Regs {
            rcx: good.tdmr_base.raw(),
            ..Regs::ZERO
        };
        seam(world, Leaf::TdhSysTdmrInit, &mut regs);
    }
}

fn host_thread(world: Arc<World>, lp: u32, seed: u64, barrier: Arc<Barrier>) {
    let mut rng = Rng::new(seed);
    let _lp = emu::install(world.module.logical_processor(lp));
    if lp == 0 {
        seam(&world, Leaf::TdhSysInit, &mut Regs::default());
    }
    barrier.wait();
    seam(&world, Leaf::TdhSysLpInit, &mut Regs::default());
    barrier.wait();
    if lp == 0 {
        configure(&world, &mut rng);
    }
    barrier.wait();
    while !world.stop.load(Ordering::SeqCst) {
        host_call(&world, &mut rng);
    }
    // Teardown: every LP flushes what it runs, then LP 0 tears every TD down, which
    // releases every guest still waiting.
    barrier.wait();
    let (tdvprs, tdrs, pages) = {
        let registry = world.registry.lock().unwrap_or_else(|e| e.into_inner());
        let tdvprs: Vec<u64> = registry.vcpus.keys().copied().collect();
        (tdvprs, registry.tdrs.clone(), registry.pages.clone())
    };
    for &tdvpr in &tdvprs {
        seam(
            &world,
            Leaf::TdhVpFlush,
            &mut Regs {
                rcx: tdvpr,
                ..Regs::ZERO
            },
        );
    }
    barrier.wait();
    if lp == 0 {
        for &tdr in &tdrs {
            let status = seam(
                &world,
                Leaf::TdhMngVpflushdone,
                &mut Regs {
                    rcx: tdr,
                    ..Regs::ZERO
                },
            );
            if status.is_error()
                && !status.is(StatusCode::LifecycleStateIncorrect)
                && !status.is(StatusCode::OperandAddrRangeError)
            {
                world.fail(format!("teardown: VPFLUSHDONE of {tdr:#x}: {status}"));
            }
        }
        seam(&world, Leaf::TdhPhymemCacheWb, &mut Regs::default());
        for &tdr in &tdrs {
            seam(
                &world,
                Leaf::TdhMngKeyFreeid,
                &mut Regs {
                    rcx: tdr,
                    ..Regs::ZERO
                },
            );
        }
        for _ in 0..2 {
            for &page in &pages {
                let mut regs = Regs {
                    rcx: page,
                    ..Regs::ZERO
                };
                seamcall_and_record(&world, Leaf::TdhPhymemPageReclaim.rax(), &mut regs);
            }
        }
    }
}

// ---------------------------------------------------------------- guest threads

fn guest_call(world: &World, rng: &mut Rng, tdvpr: u64) {
    let mut regs = Regs::ZERO;
    let (kind, rax) = match rng.below(20) {
        0..=4 => {
            // TDG.VP.VMCALL: mostly valid masks.
            regs.rcx = if rng.chance(85) {
                (rng.next() & 0xFFEC) | (rng.next() & 0xFFFF) << 16
            } else {
                wild(rng)
            };
            for index in [2u8, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
                *regs.by_hw_index_mut(index).unwrap() = rng.next();
            }
            (CallKind::Tdvmcall, 0)
        }
        5 => {
            // TDG.MEM.PAGE.ACCEPT (may exit to the host as an EPT violation).
            let level = rng.below(3);
            regs.rcx = page_info(rng, Some(level));
            (CallKind::Tdcall, 6)
        }
        6 => {
            regs.rcx = gpa(rng) | (rng.below(2) * rng.below(1 << 12));
            regs.rdx = rng.below(6);
            (CallKind::Tdcall, 2)
        }
        7 => {
            regs.rcx = gpa(rng) & !0x3FF;
            regs.rdx = gpa(rng).wrapping_add(64 * rng.below(3));
            regs.r8 = u64::from(rng.chance(10));
            (CallKind::Tdcall, 4)
        }
        8..=10 => {
            regs.rdx = field(world, rng);
            let leaf = rng.pick(&[7u64, 11, 9]).unwrap();
            (CallKind::Tdcall, leaf | rng.below(2) << 16)
        }
        11 => {
            // A SEAMCALL inside a TD: #UD.
            (CallKind::Seamcall, rng.below(60))
        }
        12 => {
            for index in [1u8, 2, 3, 8, 9, 10, 11] {
                *regs.by_hw_index_mut(index).unwrap() = wild(rng);
            }
            (CallKind::Tdcall, rng.below(40) | rng.below(3) << 16)
        }
        _ => (CallKind::Tdcall, 1),
    };
    let _ = tdvpr;
    let status = world.call(Who::Guest, kind, rax, &mut regs);
    if status == Status::SUCCESS && rax & 0xFFFF != 0 && regs.rdx != u64::MAX && regs.rdx != 0 {
        let mut registry = world.registry.lock().unwrap_or_else(|e| e.into_inner());
        if (rax & 0xFFFF == 7 || rax & 0xFFFF == 11) && !registry.fields.contains(&regs.rdx) {
            registry.fields.push(regs.rdx);
        }
    }
}

fn guest_thread(world: Arc<World>, seed: u64) {
    let mut rng = Rng::new(seed);
    while !world.stop.load(Ordering::SeqCst) {
        // Bind to a vCPU that never had a guest.
        let bound = {
            let _read = world.lifecycle.read().unwrap_or_else(|e| e.into_inner());
            let mut registry = world.registry.lock().unwrap_or_else(|e| e.into_inner());
            let free: Vec<u64> = registry
                .vcpus
                .iter()
                .filter(|(_, &guest)| !guest)
                .map(|(&page, _)| page)
                .collect();
            rng.pick(&free).map(|page| {
                registry.vcpus.insert(page, true);
                let vcpu = world.module.virtual_cpu(
                    tdxcall::abi::TdvprPage::new(HostPhysAddr::new(page).unwrap()).unwrap(),
                );
                (page, vcpu)
            })
        };
        let Some((page, vcpu)) = bound else {
            thread::sleep(Duration::from_micros(200));
            continue;
        };
        let _installed = emu::install(vcpu);
        for _ in 0..1 + rng.below(24) {
            if world.stop.load(Ordering::SeqCst) {
                break;
            }
            guest_call(&world, &mut rng, page);
        }
        // The guest program ends: the VirtualCpu is dropped.
    }
}

// ---------------------------------------------------------------- a sequence

/// What a sequence did.
struct Outcome {
    calls: u64,
    failures: Vec<String>,
    coverage: HashMap<(bool, u16, u32), u64>,
}

fn sequence(seed: u64, deadline: Instant, call_budget: u64) -> Outcome {
    let mut rng = Rng::new(seed);
    let module = SoftwareModule::new(Config::default().with_logical_processors(HOSTS));
    let mut params = Vec::new();
    let mut sources = Vec::new();
    for index in 0..12 {
        let page = module.alloc_page().unwrap();
        let mut td_params = TdParams {
            attributes: Attributes::SEPT_VE_DISABLE,
            xfam: Xfam::X87 | Xfam::SSE,
            max_vcpus: 1 + rng.below(4) as u16,
            eptp_controls: 6 | 3 << 3,
            tsc_frequency: 100,
            ..TdParams::default()
        };
        if index % 3 == 2 {
            td_params.attributes = Attributes::from_bits_retain(rng.next() & 0x7000_0000_0000_0001);
        }
        module.write_td_params(page, &td_params).unwrap();
        if index >= 6 {
            // Fuzzed: a few random bytes and quadwords anywhere in the 1024.
            for _ in 0..1 + rng.below(4) {
                let offset = rng.below(1024 - 8) & !7;
                let value = if rng.chance(50) {
                    wild(&mut rng)
                } else {
                    rng.next() & 0xFF
                };
                module
                    .write(
                        HostPhysAddr::new(page.raw() + offset).unwrap(),
                        &value.to_le_bytes(),
                    )
                    .unwrap();
            }
        }
        params.push(page.raw());
        let source = module.alloc_page().unwrap();
        module.write(source, &rng.next().to_le_bytes()).unwrap();
        sources.push(source.raw());
    }
    let registry = Registry {
        fields: vec![
            0,
            0x1310_0003_0000_0000,
            0x0800_0001_0000_0003,
            0x9110_0003_0000_0011,
            0x1110_0003_0000_0017,
            0xA020_0000_0000_0007,
            0x2020_0000_0000_000B,
        ],
        ..Registry::default()
    };
    let world = Arc::new(World {
        module,
        lifecycle: RwLock::new(()),
        registry: Mutex::new(registry),
        stop: AtomicBool::new(false),
        calls: AtomicU64::new(0),
        failures: Mutex::new(Vec::new()),
        params,
        sources,
        seen: Mutex::new(HashMap::new()),
    });
    let barrier = Arc::new(Barrier::new(HOSTS as usize));
    let (done, finished) = std::sync::mpsc::channel::<String>();
    /// Reports a thread's end, panicking or not.
    struct Done(std::sync::mpsc::Sender<String>, String);
    impl Drop for Done {
        fn drop(&mut self) {
            let _ = self.0.send(self.1.clone());
        }
    }
    let mut handles = Vec::new();
    for lp in 0..HOSTS {
        let (world, barrier, done) = (world.clone(), barrier.clone(), done.clone());
        let seed = rng.next();
        let name = format!("host LP {lp}");
        handles.push(
            thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    let _done = Done(done, name);
                    host_thread(world, lp, seed, barrier)
                })
                .unwrap(),
        );
    }
    for index in 0..GUESTS {
        let (world, done) = (world.clone(), done.clone());
        let seed = rng.next();
        let name = format!("guest {index}");
        handles.push(
            thread::Builder::new()
                .name(name.clone())
                .spawn(move || {
                    let _done = Done(done, name);
                    guest_thread(world, seed)
                })
                .unwrap(),
        );
    }
    drop(done);
    // The run phase ends at the deadline or the call budget; then the teardown must finish
    // within the watchdog's grace.
    while Instant::now() < deadline
        && world.calls.load(Ordering::Relaxed) < call_budget
        && !world.stop.load(Ordering::SeqCst)
    {
        thread::sleep(Duration::from_millis(5));
    }
    world.stop.store(true, Ordering::SeqCst);
    let grace = Instant::now() + Duration::from_secs(30);
    let mut running: Vec<String> = (0..HOSTS)
        .map(|lp| format!("host LP {lp}"))
        .chain((0..GUESTS).map(|i| format!("guest {i}")))
        .collect();
    while !running.is_empty() {
        let left = grace.saturating_duration_since(Instant::now());
        match finished.recv_timeout(left) {
            Ok(name) => running.retain(|n| *n != name),
            Err(_) => {
                world.fail(format!(
                    "hang: {running:?} still running 30 s after the stop"
                ));
                break;
            }
        }
    }
    if running.is_empty() {
        for handle in handles {
            if let Err(payload) = handle.join() {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                world.fail(format!("a thread panicked: {message}"));
            }
        }
    }
    let failures = world
        .failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let coverage = world.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Outcome {
        calls: world.calls.load(Ordering::Relaxed),
        failures,
        coverage,
    }
}

#[test]
fn random_host_and_guest_calls_never_panic_hang_or_return_unknown_statuses() {
    let settings = Settings::from_env();
    let panics = panics();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(settings.secs);
    let mut rng = Rng::new(settings.seed);
    let (mut sequences, mut calls) = (0u64, 0u64);
    let mut coverage: HashMap<(bool, u16, u32), u64> = HashMap::new();
    let mut failures = Vec::new();
    loop {
        let budget = CALLS_PER_SEQUENCE.min(settings.calls.saturating_sub(calls));
        let outcome = sequence(rng.next(), end, budget.max(1));
        sequences += 1;
        calls += outcome.calls;
        for (key, count) in outcome.coverage {
            *coverage.entry(key).or_default() += count;
        }
        failures.extend(outcome.failures);
        if !failures.is_empty() || Instant::now() >= end || calls >= settings.calls {
            break;
        }
    }
    let panicked = panics.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let successes: u64 = coverage
        .iter()
        .filter(|((_, _, code), _)| *code == 0)
        .map(|(_, n)| n)
        .sum();
    let distinct = coverage.len();
    println!(
        "seed {}: {sequences} sequences, {calls} calls ({successes} successful), {distinct} \
         distinct (side, leaf, status code) outcomes, {} failures, {} panics, {:.1} s",
        settings.seed,
        failures.len(),
        panicked.len(),
        start.elapsed().as_secs_f64()
    );
    if std::env::var_os("TDXCALL_RANDOM_VERBOSE").is_some() {
        let mut rows: Vec<_> = coverage.iter().collect();
        rows.sort();
        for ((tdcall, leaf, code), count) in rows {
            let side = if *tdcall { "TDCALL" } else { "SEAMCALL" };
            println!("{side} {leaf:3} -> {code:#010x}: {count}");
        }
    }
    assert!(
        failures.is_empty() && panicked.is_empty(),
        "TDXCALL_RANDOM_SEED={}: failures {failures:#?}, panics {panicked:#?}",
        settings.seed
    );
    // The run reached deep states, not only argument errors.
    assert!(
        successes > 0,
        "TDXCALL_RANDOM_SEED={}: no call succeeded",
        settings.seed
    );
}

/// A fuzzed TDMR_INFO address, any 64-bit value (the module must refuse the bad ones).
fn hpa(raw: u64) -> HostPhysAddr {
    HostPhysAddr::from_raw_unchecked(raw)
}
