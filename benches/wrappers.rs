//! Typed-wrapper overhead: each representative leaf through its wrapper over the loopback
//! backend (`Host::new(Loopback)`, `Guest::new(Loopback)`) against the raw loopback thunk the
//! wrapper uses (the narrow variant of the leaf's register set where it has one), called with
//! the same registers and the same leaf.
//!
//! The raw side is what a caller writes by hand without the crate's types: build the
//! register struct from plain integers, call the thunk, read the status and the output
//! registers. The wrapper side adds exactly what the crate adds: argument checks, RAX and the
//! thunk kind from the leaf table, status checking and decoding of the outputs. Before any
//! timing, the binary records the registers each wrapper passes (through a `FnBackend`) and
//! asserts that they equal the raw side's, so both sides do the same call.
//!
//! The loopback thunk returns RAX unchanged, i.e. the leaf number, as the status. For the
//! leaves here that is a non-error status (bit 63 clear), and each wrapper takes the path it
//! takes on success:
//!
//! - TDH.SYS.RD (34), TDH.MEM.PAGE.ADD (2), TDG.VM.RD (7), TDG.VP.INFO (1): `Status::check`
//!   passes a non-error status, so the `Ok` path runs (SYS.RD keeps the status in its
//!   `MetadataRead`);
//! - TDG.VP.VMCALL (0): RAX = 0, and R10 (the VMM's status) comes back as the 0 sent in:
//!   GHCI success;
//! - TDH.VP.ENTER (0): TDX_SUCCESS with exit reason 0 decodes as an asynchronous TD exit. The
//!   common exit on a VMM's hot path is the guest's TDG.VP.VMCALL (exit reason 77), which the
//!   loopback cannot produce; `vp_enter_tdvmcall_exit` uses a backend that calls the same
//!   loopback thunk and then answers RAX = 77, and its raw side does the same.
//!
//! Most pairs build a fresh front per call, so the compiler sees that it knows no module
//! and the version-aware refusal check folds away. The `*_kept_front` pairs use one
//! long-lived front whose contents the compiler cannot see (made through `black_box`; the
//! check runs: one bit test and a branch), the `*_known_module` pairs one told about module
//! 2.0.18 (the same bit test, in the table computed when the module was set).
//!
//! TDH.VP.ENTER has two kinds of pair. `tdh_vp_enter_vmm_loop_*` is the issue's "common VMM
//! loop": each side enters, tells the exit apart and reads the registers that exit needs
//! (R11 and R12 of a TDVMCALL, RCX of another exit), the raw side by hand from RAX, the
//! wrapper side by matching the `TdExit`. `tdh_vp_enter_async_exit` and
//! `tdh_vp_enter_tdvmcall_exit` are informative: the raw side hands on RAX only, the wrapper
//! side its whole `Result<TdExit>` through an opaque sink (stores a caller that matches the
//! exit never makes).
//!
//! After criterion, the binary prints a paired figure per pair: batches of raw and wrapper
//! calls interleaved (order alternating per round), the per-call difference of each round,
//! and the median over rounds; that measurement runs in several child processes (each with
//! its own address-space layout, which moves these few-nanosecond figures by up to 2x; see
//! `benches/lib.rs`), and the figure printed is a trimmed mean over them (the middle 80%),
//! with their range. The target: at most +0.5 ns over the raw thunk (issue 17), and for the
//! TDH.VP.ENTER loop at most +1 ns.
//!
//! `cargo bench -p tdxcall-benches --bench wrappers`

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::Instant;
use tdxcall::abi::{FieldId, GuestPhysAddr, HostPhysAddr, MetadataRead, TdrPage, TdvprPage};
use tdxcall::call::loopback::{self, Loopback};
use tdxcall::call::{Backend, CallKind};
use tdxcall::guest::tdvmcall::{MmioSize, Subfunction};
use tdxcall::guest::Guest;
use tdxcall::host::vp::{TdExit, VpEnterFlags};
use tdxcall::host::Host;
use tdxcall::leaf::Leaf;
use tdxcall::regs::RegSet;
use tdxcall::version::ModuleVersion;
use tdxcall::{Regs, Status};
use tdxcall_benches::{in_processes, is_child, record, Records, PROCESSES};

// RAX of each leaf, from the leaf table at compile time: the same constants a hand-written
// call would use.
const SYS_RD: u64 = Leaf::TdhSysRd.rax();
const MEM_PAGE_ADD: u64 = Leaf::TdhMemPageAdd.rax();
const VP_ENTER: u64 = Leaf::TdhVpEnter.rax();
const VM_RD: u64 = Leaf::TdgVmRd.rax();
const VP_VMCALL: u64 = Leaf::TdgVpVmcall.rax();
const VP_INFO: u64 = Leaf::TdgVpInfo.rax();

/// The module the `*_known_module` pairs' fronts are told about: it has every leaf measured.
const KNOWN_MODULE: ModuleVersion = ModuleVersion::V2_0_18;

/// TD-exit status TDX_SUCCESS with exit reason 77 (TDCALL): a guest's TDG.VP.VMCALL.
const EXIT_TDVMCALL: u64 = 77;
/// GHCI #VE.RequestMMIO exposes R10-R15 (RCX bits 10-15).
const MMIO_WRITE_GPR_SELECT: u64 = 0xFC00;
const MMIO_WRITE: u64 = 1;

/// The inputs, made once and reused by every iteration.
struct Inputs {
    field: FieldId,
    gpa: GuestPhysAddr,
    tdr: TdrPage,
    target: HostPhysAddr,
    source: HostPhysAddr,
    tdvpr: TdvprPage,
    mmio_gpa: GuestPhysAddr,
    mmio_value: u64,
}

impl Inputs {
    fn new() -> Inputs {
        Inputs {
            // A platform-scope, single-element, 64-bit field ID (MAX_VCPUS_PER_TD's shape).
            field: FieldId::from_raw(0x9900_0001_0000_0008),
            gpa: GuestPhysAddr::page(0x4000_0000).unwrap(),
            tdr: TdrPage::from_raw(0x1_0000_0000).unwrap(),
            target: HostPhysAddr::page(0x1_0000_1000).unwrap(),
            source: HostPhysAddr::page(0x2_0000_0000).unwrap(),
            tdvpr: TdvprPage::from_raw(0x1_0000_2000).unwrap(),
            mmio_gpa: GuestPhysAddr::new(0x8_FEC0_0010).unwrap(),
            mmio_value: 0xDEAD_BEEF,
        }
    }
}

/// A backend over the loopback thunks that answers a fixed RAX: what a module would return,
/// given to the wrapper and the raw side alike. The answer is a constant on both sides (the
/// raw side's is folded into its store), so neither pays for loading it.
struct Answering<const RAX: u64>;

impl<const RAX: u64> Backend for Answering<RAX> {
    #[inline]
    unsafe fn call(&mut self, kind: CallKind, leaf: u64, regs: &mut Regs) -> Status {
        // SAFETY: the loopback backend executes no TDX instruction.
        unsafe { Loopback.call(kind, leaf, regs) };
        Status::from_raw(RAX)
    }

    #[inline]
    unsafe fn call_set(
        &mut self,
        kind: CallKind,
        set: RegSet,
        leaf: u64,
        regs: &mut Regs,
    ) -> Status {
        // SAFETY: the loopback backend executes no TDX instruction.
        unsafe { Loopback.call_set(kind, set, leaf, regs) };
        Status::from_raw(RAX)
    }
}

// The raw sides: plain integers into the struct, the thunk, the outputs out.

#[inline(always)]
fn raw_sys_rd(field: u64) -> (Status, u64, u64) {
    let mut regs = Regs {
        rdx: field,
        ..Regs::ZERO
    };
    // SAFETY: loopback thunks execute no TDX instruction.
    let status = unsafe { loopback::seamcall_args(SYS_RD, &mut regs) };
    (status, regs.r8, regs.rdx)
}

#[inline(always)]
fn raw_mem_page_add(gpa: u64, tdr: u64, target: u64, source: u64) -> (Status, u64, u64) {
    let mut regs = Regs {
        rcx: gpa,
        rdx: tdr,
        r8: target,
        r9: source,
        ..Regs::ZERO
    };
    // SAFETY: loopback thunks execute no TDX instruction.
    let status = unsafe { loopback::seamcall_args(MEM_PAGE_ADD, &mut regs) };
    (status, regs.rcx, regs.rdx)
}

/// The raw VP.ENTER: `answer` replaces RAX as [`Answering`] does (None: the loopback's own).
#[inline(always)]
fn raw_vp_enter(tdvpr: u64, regs: &mut Regs, answer: Option<u64>) -> Status {
    regs.rcx = tdvpr;
    // SAFETY: loopback thunks execute no TDX instruction.
    let status = unsafe { loopback::seamcall_scrub(VP_ENTER, regs) };
    answer.map_or(status, Status::from_raw)
}

#[inline(always)]
fn raw_vm_rd(field: u64) -> (Status, u64) {
    let mut regs = Regs {
        rdx: field,
        ..Regs::ZERO
    };
    // SAFETY: loopback thunks execute no TDX instruction.
    let status = unsafe { loopback::tdcall_args(VM_RD, &mut regs) };
    (status, regs.r8)
}

#[inline(always)]
fn raw_vp_info() -> (Status, [u64; 6]) {
    let mut regs = Regs::ZERO;
    // SAFETY: loopback thunks execute no TDX instruction.
    let status = unsafe { loopback::tdcall_args(VP_INFO, &mut regs) };
    (
        status,
        [regs.rcx, regs.rdx, regs.r8, regs.r9, regs.r10, regs.r11],
    )
}

#[inline(always)]
fn raw_mmio_write(gpa: u64, size: u64, value: u64) -> (Status, u64) {
    let mut regs = Regs {
        rcx: MMIO_WRITE_GPR_SELECT,
        r10: 0,
        r11: Subfunction::RequestMmio as u64,
        r12: size,
        r13: MMIO_WRITE,
        r14: gpa,
        r15: value,
        ..Regs::ZERO
    };
    // SAFETY: loopback thunks execute no TDX instruction.
    let status = unsafe { loopback::tdvmcall_ghci(VP_VMCALL, &mut regs) };
    (status, regs.r10)
}

// The wrapper sides.

#[inline(always)]
fn wrapper_sys_rd(host: &mut Host<Loopback>, field: FieldId) -> tdxcall::Result<MetadataRead> {
    host.sys_rd(field)
}

#[inline(always)]
fn wrapper_mem_page_add<B: Backend>(host: &mut Host<B>, inputs: &Inputs) -> bool {
    // SAFETY: the backend is a loopback; no page changes owner.
    unsafe {
        host.mem_page_add(
            black_box(inputs.gpa),
            black_box(inputs.tdr),
            black_box(inputs.target),
            black_box(inputs.source),
        )
    }
    .is_ok()
}

#[inline(always)]
fn wrapper_vp_enter<'r, B: Backend>(
    host: &mut Host<B>,
    tdvpr: TdvprPage,
    regs: &'r mut Regs,
) -> tdxcall::Result<TdExit<'r>> {
    // SAFETY: the backend is a loopback; no vCPU is entered.
    unsafe { host.vp_enter(tdvpr, VpEnterFlags::empty(), regs) }
}

#[inline(always)]
fn wrapper_mmio_write<B: Backend>(guest: &mut Guest<B>, inputs: &Inputs, size: MmioSize) -> bool {
    guest
        .tdvmcall_mmio_write(
            black_box(inputs.mmio_gpa),
            size,
            black_box(inputs.mmio_value),
        )
        .is_ok()
}

/// Records the one call a wrapper makes: (kind, register set, RAX, registers). The set is
/// `None` for the full-struct `Backend::call`.
struct Recording(Option<(CallKind, Option<RegSet>, u64, Regs)>);

impl Backend for Recording {
    unsafe fn call(&mut self, kind: CallKind, rax: u64, regs: &mut Regs) -> Status {
        assert!(self.0.is_none(), "one call per wrapper");
        self.0 = Some((kind, None, rax, *regs));
        Status::from_raw(rax)
    }

    unsafe fn call_set(
        &mut self,
        kind: CallKind,
        set: RegSet,
        rax: u64,
        regs: &mut Regs,
    ) -> Status {
        assert!(self.0.is_none(), "one call per wrapper");
        self.0 = Some((kind, Some(set), rax, *regs));
        Status::from_raw(rax)
    }
}

/// The one call a wrapper makes: (kind, register set, RAX, registers).
fn record_host(
    run: impl FnOnce(&mut Host<&mut dyn Backend>),
) -> (CallKind, Option<RegSet>, u64, Regs) {
    let mut backend = Recording(None);
    run(&mut Host::new(&mut backend as &mut dyn Backend));
    backend.0.expect("the wrapper made its call")
}

fn record_guest(
    run: impl FnOnce(&mut Guest<&mut dyn Backend>),
) -> (CallKind, Option<RegSet>, u64, Regs) {
    let mut backend = Recording(None);
    run(&mut Guest::new(&mut backend as &mut dyn Backend));
    backend.0.expect("the wrapper made its call")
}

/// Asserts, before anything is timed, that each wrapper issues the raw side's call and
/// takes its success path on the loopback.
fn check_same_calls(inputs: &Inputs) {
    let field = inputs.field.raw();
    assert_eq!(
        record_host(|h| {
            let _ = h.sys_rd(inputs.field);
        }),
        (
            CallKind::Seamcall,
            Some(RegSet::Args),
            SYS_RD,
            Regs {
                rdx: field,
                ..Regs::ZERO
            }
        )
    );
    assert_eq!(
        record_host(|h| {
            h.set_module(KNOWN_MODULE, None);
            let _ = h.sys_rd(inputs.field);
        }),
        record_host(|h| {
            let _ = h.sys_rd(inputs.field);
        }),
        "a front that knows a module with the leaf makes the same call"
    );
    let read = Host::new(Loopback).sys_rd(inputs.field).unwrap();
    assert_eq!(read.status, Status::from_raw(SYS_RD));
    assert_eq!(raw_sys_rd(field), (read.status, 0, field));

    let page_add_regs = Regs {
        rcx: inputs.gpa.raw(),
        rdx: inputs.tdr.raw(),
        r8: inputs.target.raw(),
        r9: inputs.source.raw(),
        ..Regs::ZERO
    };
    assert_eq!(
        record_host(|h| {
            let _ = wrapper_mem_page_add(h, inputs);
        }),
        (
            CallKind::Seamcall,
            Some(RegSet::Args),
            MEM_PAGE_ADD,
            page_add_regs
        )
    );
    assert!(wrapper_mem_page_add(&mut Host::new(Loopback), inputs));

    let mut regs = Regs::ZERO;
    assert_eq!(
        record_host(|h| {
            let _ = wrapper_vp_enter(h, inputs.tdvpr, &mut regs);
        }),
        (
            CallKind::SeamcallScrub,
            Some(RegSet::Full),
            VP_ENTER,
            Regs {
                rcx: inputs.tdvpr.raw(),
                ..Regs::ZERO
            }
        )
    );
    let exit = wrapper_vp_enter(&mut Host::new(Loopback), inputs.tdvpr, &mut regs).unwrap();
    assert!(matches!(exit, TdExit::Async(_)), "{exit:?}");
    let mut host = Host::new(Answering::<EXIT_TDVMCALL>);
    let exit = wrapper_vp_enter(&mut host, inputs.tdvpr, &mut regs).unwrap();
    assert!(matches!(exit, TdExit::Tdvmcall(_)), "{exit:?}");

    assert_eq!(
        record_guest(|g| {
            let _ = g.vm_rd(inputs.field);
        }),
        (
            CallKind::Tdcall,
            Some(RegSet::Args),
            VM_RD,
            Regs {
                rdx: field,
                ..Regs::ZERO
            }
        )
    );
    assert_eq!(
        record_guest(|g| {
            g.set_module(KNOWN_MODULE, None);
            let _ = g.vm_rd(inputs.field);
        }),
        record_guest(|g| {
            let _ = g.vm_rd(inputs.field);
        }),
        "a front that knows a module with the leaf makes the same call"
    );
    assert_eq!(Guest::new(Loopback).vm_rd(inputs.field), Ok(0));

    assert_eq!(
        record_guest(|g| {
            let _ = g.vp_info();
        }),
        (CallKind::Tdcall, Some(RegSet::Args), VP_INFO, Regs::ZERO)
    );
    assert_eq!(raw_vp_info(), (Status::from_raw(VP_INFO), [0; 6]));

    assert_eq!(
        record_guest(|g| {
            let _ = wrapper_mmio_write(g, inputs, MmioSize::B4);
        }),
        (
            CallKind::Tdvmcall,
            Some(RegSet::Ghci),
            VP_VMCALL,
            Regs {
                rcx: MMIO_WRITE_GPR_SELECT,
                r11: Subfunction::RequestMmio as u64,
                r12: MmioSize::B4 as u64,
                r13: MMIO_WRITE,
                r14: inputs.mmio_gpa.raw(),
                r15: inputs.mmio_value,
                ..Regs::ZERO
            }
        )
    );
    assert!(wrapper_mmio_write(
        &mut Guest::new(Loopback),
        inputs,
        MmioSize::B4
    ));
    assert_eq!(
        raw_mmio_write(inputs.mmio_gpa.raw(), 4, inputs.mmio_value),
        (Status::SUCCESS, 0)
    );
}

/// Hands what a call returned to the optimizer as an opaque reference: the value is written
/// to memory once, in its own layout, and nothing reads it back. Both sides of every pair
/// use it. (Until 2026-12-04 the wrapper sides passed their `Result` by value to
/// `black_box` and then called `.ok()` on what came back: that copied the 32- to 48-byte
/// `Result` a second time through the stack, a cost of the harness, not of the wrapper,
/// measured at about +1 ns on the TDH.VP.ENTER pairs.)
#[inline(always)]
fn sink<T>(value: T) {
    black_box(&value);
}

/// What a VMM loop does with a TD exit, written by hand over the raw thunk: RAX alone tells
/// an error or a flagged exit (bits 63:32 set; a real VMM decodes those out of line) from a
/// guest's TDG.VP.VMCALL (exit reason 77) from any other exit; then it reads the registers
/// that exit needs: the sub-function and first argument (R11, R12) of a TDVMCALL, the exit
/// qualification (RCX) of another exit.
#[inline(always)]
fn raw_vmm_dispatch(status: Status, regs: &Regs) {
    let raw = status.raw();
    if raw >> 32 != 0 {
        sink(raw);
    } else if raw & 0xFFFF == EXIT_TDVMCALL {
        sink((regs.r11, regs.r12));
    } else {
        sink((raw, regs.rcx));
    }
}

/// The same VMM loop over [`Host::vp_enter`]: a match on the exit, the same registers read.
#[inline(always)]
fn wrapper_vmm_dispatch(result: tdxcall::Result<TdExit<'_>>) {
    match result {
        Ok(TdExit::Tdvmcall(exit)) => sink((exit.regs.r11, exit.regs.r12)),
        Ok(TdExit::Async(exit)) => sink((exit.status.raw(), exit.regs.rcx)),
        Err(error) => sink(error),
    }
}

/// One subject of the benchmark: a name and its raw and wrapper calls.
struct Pair<'a> {
    name: &'static str,
    raw: Box<dyn FnMut() + 'a>,
    wrapper: Box<dyn FnMut() + 'a>,
}

fn pairs(inputs: &Inputs) -> Vec<Pair<'_>> {
    // Every backend here is a zero-sized loopback: each closure owns its own front.
    let host = || Host::new(Loopback);
    let guest = || Guest::new(Loopback);
    let mut tdvmcall_host = Host::new(Answering::<EXIT_TDVMCALL>);
    let mut raw_regs = Regs::ZERO;
    let mut wrapper_regs = Regs::ZERO;
    let mut raw_exit_regs = Regs::ZERO;
    let mut wrapper_exit_regs = Regs::ZERO;
    let mut loop_tdvmcall_host = Host::new(Answering::<EXIT_TDVMCALL>);
    let mut loop_raw_regs = Regs::ZERO;
    let mut loop_wrapper_regs = Regs::ZERO;
    let mut loop_raw_exit_regs = Regs::ZERO;
    let mut loop_wrapper_exit_regs = Regs::ZERO;
    // Fronts that live across calls, each passed through `black_box` once when made: the
    // compiler cannot see what their gate holds (no module, or which module), so the
    // refusal check runs on every call, a load from the closure's own state as from a
    // VMM's long-lived `Host` or a guest kernel's `Guest`. (Until 2026-12-04 every call
    // reached the front through `black_box(&mut front)`, which added a store and reload of
    // the pointer to the wrapper side only.) The other pairs build a fresh front per call,
    // where that check folds away.
    let mut kept_host = black_box(Host::new(Loopback));
    let mut known_host = Host::new(Loopback);
    known_host.set_module(KNOWN_MODULE, None);
    let mut known_host = black_box(known_host);
    let mut kept_guest = black_box(Guest::new(Loopback));
    let mut known_guest = Guest::new(Loopback);
    known_guest.set_module(KNOWN_MODULE, None);
    let mut known_guest = black_box(known_guest);
    vec![
        Pair {
            name: "tdh_sys_rd",
            raw: Box::new(move || {
                sink(raw_sys_rd(black_box(inputs.field.raw())));
            }),
            wrapper: Box::new(move || {
                sink(wrapper_sys_rd(&mut host(), black_box(inputs.field)));
            }),
        },
        Pair {
            name: "tdh_sys_rd_kept_front",
            raw: Box::new(move || {
                sink(raw_sys_rd(black_box(inputs.field.raw())));
            }),
            wrapper: Box::new(move || {
                let host = &mut kept_host;
                sink(wrapper_sys_rd(host, black_box(inputs.field)));
            }),
        },
        Pair {
            name: "tdh_sys_rd_known_module",
            raw: Box::new(move || {
                sink(raw_sys_rd(black_box(inputs.field.raw())));
            }),
            wrapper: Box::new(move || {
                let host = &mut known_host;
                sink(wrapper_sys_rd(host, black_box(inputs.field)));
            }),
        },
        Pair {
            name: "tdh_mem_page_add",
            raw: Box::new(move || {
                sink(raw_mem_page_add(
                    black_box(inputs.gpa.raw()),
                    black_box(inputs.tdr.raw()),
                    black_box(inputs.target.raw()),
                    black_box(inputs.source.raw()),
                ));
            }),
            wrapper: Box::new(move || {
                sink(wrapper_mem_page_add(&mut host(), inputs));
            }),
        },
        Pair {
            name: "tdh_vp_enter_async_exit",
            raw: Box::new(move || {
                let tdvpr = black_box(inputs.tdvpr.raw());
                sink(raw_vp_enter(tdvpr, black_box(&mut raw_regs), None));
            }),
            wrapper: Box::new(move || {
                let tdvpr = black_box(inputs.tdvpr);
                let regs = black_box(&mut wrapper_regs);
                sink(wrapper_vp_enter(&mut host(), tdvpr, regs));
            }),
        },
        Pair {
            name: "tdh_vp_enter_tdvmcall_exit",
            raw: Box::new(move || {
                let tdvpr = black_box(inputs.tdvpr.raw());
                let answer = Some(EXIT_TDVMCALL);
                sink(raw_vp_enter(tdvpr, black_box(&mut raw_exit_regs), answer));
            }),
            wrapper: Box::new(move || {
                let tdvpr = black_box(inputs.tdvpr);
                let regs = black_box(&mut wrapper_exit_regs);
                sink(wrapper_vp_enter(&mut tdvmcall_host, tdvpr, regs));
            }),
        },
        Pair {
            name: "tdh_vp_enter_vmm_loop_async",
            raw: Box::new(move || {
                let tdvpr = black_box(inputs.tdvpr.raw());
                let regs = black_box(&mut loop_raw_regs);
                let status = raw_vp_enter(tdvpr, regs, None);
                raw_vmm_dispatch(status, regs);
            }),
            wrapper: Box::new(move || {
                let tdvpr = black_box(inputs.tdvpr);
                let regs = black_box(&mut loop_wrapper_regs);
                wrapper_vmm_dispatch(wrapper_vp_enter(&mut host(), tdvpr, regs));
            }),
        },
        Pair {
            name: "tdh_vp_enter_vmm_loop_tdvmcall",
            raw: Box::new(move || {
                let tdvpr = black_box(inputs.tdvpr.raw());
                let regs = black_box(&mut loop_raw_exit_regs);
                let status = raw_vp_enter(tdvpr, regs, Some(EXIT_TDVMCALL));
                raw_vmm_dispatch(status, regs);
            }),
            wrapper: Box::new(move || {
                let tdvpr = black_box(inputs.tdvpr);
                let regs = black_box(&mut loop_wrapper_exit_regs);
                wrapper_vmm_dispatch(wrapper_vp_enter(&mut loop_tdvmcall_host, tdvpr, regs));
            }),
        },
        Pair {
            name: "tdg_vm_rd",
            raw: Box::new(move || {
                sink(raw_vm_rd(black_box(inputs.field.raw())));
            }),
            wrapper: Box::new(move || {
                sink(guest().vm_rd(black_box(inputs.field)));
            }),
        },
        Pair {
            name: "tdg_vm_rd_kept_front",
            raw: Box::new(move || {
                sink(raw_vm_rd(black_box(inputs.field.raw())));
            }),
            wrapper: Box::new(move || {
                let guest = &mut kept_guest;
                sink(guest.vm_rd(black_box(inputs.field)));
            }),
        },
        Pair {
            name: "tdg_vm_rd_known_module",
            raw: Box::new(move || {
                sink(raw_vm_rd(black_box(inputs.field.raw())));
            }),
            wrapper: Box::new(move || {
                let guest = &mut known_guest;
                sink(guest.vm_rd(black_box(inputs.field)));
            }),
        },
        Pair {
            name: "tdg_vp_info",
            raw: Box::new(move || {
                sink(raw_vp_info());
            }),
            wrapper: Box::new(move || {
                sink(guest().vp_info());
            }),
        },
        // The access size as a driver's 4-byte MMIO write has it, a constant (the peer
        // crates' MMIO writes take it from a type parameter): the wrapper's alignment and
        // width checks fold to tests against constants. (Until 2026-12-04 this pair passed
        // the size through `black_box`; that case is the next pair.)
        Pair {
            name: "tdg_vp_vmcall_mmio_write",
            raw: Box::new(move || {
                sink(raw_mmio_write(
                    black_box(inputs.mmio_gpa.raw()),
                    MmioSize::B4 as u64,
                    black_box(inputs.mmio_value),
                ));
            }),
            wrapper: Box::new(move || {
                sink(wrapper_mmio_write(&mut guest(), inputs, MmioSize::B4));
            }),
        },
        // The size known only at run time, as in a #VE handler that decodes the faulting
        // instruction: the wrapper checks alignment and width against it, which the raw
        // side does not do at all.
        Pair {
            name: "tdg_vp_vmcall_mmio_write_dynamic_size",
            raw: Box::new(move || {
                sink(raw_mmio_write(
                    black_box(inputs.mmio_gpa.raw()),
                    black_box(MmioSize::B4 as u64),
                    black_box(inputs.mmio_value),
                ));
            }),
            wrapper: Box::new(move || {
                sink(wrapper_mmio_write(
                    &mut guest(),
                    inputs,
                    black_box(MmioSize::B4),
                ));
            }),
        },
    ]
}

/// `Box<dyn FnMut>` keeps both sides behind the same indirect call, so the harness adds the
/// same cost to each and the difference is the wrapper's.
fn wrappers(c: &mut Criterion) {
    let inputs = Inputs::new();
    check_same_calls(&inputs);
    for mut pair in pairs(&inputs) {
        let mut group = c.benchmark_group(pair.name);
        group.bench_function("raw_thunk", |b| b.iter(&mut pair.raw));
        group.bench_function("wrapper", |b| b.iter(&mut pair.wrapper));
        group.finish();
    }
}

/// Nanoseconds per call of `batch` calls to `f`.
fn time_batch(f: &mut dyn FnMut(), batch: u32) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        f();
    }
    start.elapsed().as_secs_f64() * 1e9 / batch as f64
}

fn median(values: &mut [f64]) -> f64 {
    quantile(values, 0.5)
}

/// The `q` quantile (0 to 1) of `values`, nearest rank.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * q) as usize]
}

/// Raw and wrapper batches interleaved, order alternating per round; records, per pair, the
/// median per-call time of each side, the median of the per-round differences and the
/// quiet-round difference (run in each child process of [`in_processes`]).
fn paired(rounds: u32, batch: u32) {
    let inputs = Inputs::new();
    for mut pair in pairs(&inputs) {
        let (mut raw, mut wrapper, mut delta) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (r, w) = if round % 2 == 0 {
                let r = time_batch(&mut pair.raw, batch);
                (r, time_batch(&mut pair.wrapper, batch))
            } else {
                let w = time_batch(&mut pair.wrapper, batch);
                (time_batch(&mut pair.raw, batch), w)
            };
            raw.push(r);
            wrapper.push(w);
            delta.push(w - r);
        }
        let difference = median(&mut delta);
        // The quiet-round figure: each side's 10th-percentile batch (the rounds least hit by
        // other processes on a shared machine), then the difference.
        let quiet = quantile(&mut wrapper, 0.1) - quantile(&mut raw, 0.1);
        record(
            pair.name,
            &[median(&mut raw), median(&mut wrapper), difference, quiet],
        );
    }
}

/// The target of a pair, in nanoseconds over the raw side; `None` for the informative
/// pairs.
fn target(name: &str) -> Option<f64> {
    if name.starts_with("tdh_vp_enter_vmm_loop") {
        Some(1.0)
    } else if name.starts_with("tdh_vp_enter") {
        None
    } else {
        Some(0.5)
    }
}

/// Prints, per pair, the trimmed mean over the child processes of each figure, with the range of
/// the difference over them.
fn report(records: &Records, rounds: u32, batch: u32) {
    let inputs = Inputs::new();
    for pair in pairs(&inputs) {
        let (raw, _, _) = records.summary(pair.name, 0);
        let (wrapper, _, _) = records.summary(pair.name, 1);
        let (difference, low, high) = records.summary(pair.name, 2);
        let (quiet, _, _) = records.summary(pair.name, 3);
        let verdict = |value: f64| match target(pair.name) {
            Some(target) if value <= target => format!("met, target <= +{target} ns"),
            Some(target) => format!("NOT met, target <= +{target} ns"),
            None => "informative, no target".to_owned(),
        };
        println!(
            "wrappers/paired {:<32} raw {:6.2} ns, wrapper {:6.2} ns, wrapper - raw {:+.2} ns \
             ({}; processes {:+.2}..{:+.2}), quiet rounds {:+.2} ns (trimmed mean over {} \
             processes of the median of {rounds} rounds of {batch} calls each)",
            pair.name,
            raw,
            wrapper,
            difference,
            verdict(difference),
            low,
            high,
            quiet,
            records.processes,
        );
    }
}

criterion_group!(benches, wrappers);

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let (rounds, batch, processes) = if test_mode {
        (4, 10, 2)
    } else {
        (600, 500, PROCESSES)
    };
    if is_child() {
        paired(rounds, batch);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
    if test_mode {
        println!("(--test: a handful of rounds in 2 processes; the figures below mean nothing)");
    }
    report(&in_processes(processes), rounds, batch);
}
