//! The thunks at CPL 0: SEAMCALL, TDCALL and TDG.VP.VMCALL raise #UD here (under TCG, as on
//! hardware without TDX), the IDT's #UD handler asks the crate's fixup, and each thunk
//! returns its #UD software code.
//!
//! Each thunk is called from assembly with sentinel values in RBX, RBP and R12-R15, which
//! must come back, as must RSP; the scrubbing thunks must also hand back every scratch
//! register zeroed. The register struct must hold the inputs (nothing ran on the other side)
//! and the exception path must have resumed at the fixup of that thunk's own site.

use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::mem::offset_of;

use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::fixup::{sites, Site, SiteKind};
use tdxcall::regs::RegSet;
use tdxcall::{Regs, Status};

use super::{Check, Failed};
use crate::trap::{self, VECTOR_UD};

/// The section's checks.
pub const CHECKS: &[Check] = &[
    Check {
        name: "thunk_seamcall",
        run: || run_case(&SEAMCALL),
    },
    Check {
        name: "thunk_seamcall_scrub",
        run: || run_case(&SEAMCALL_SCRUB),
    },
    Check {
        name: "thunk_tdcall",
        run: || run_case(&TDCALL),
    },
    Check {
        name: "thunk_tdvmcall",
        run: || run_case(&TDVMCALL),
    },
    Check {
        name: "thunk_seamcall_args",
        run: || run_case(&SEAMCALL_ARGS),
    },
    Check {
        name: "thunk_tdcall_args",
        run: || run_case(&TDCALL_ARGS),
    },
    Check {
        name: "thunk_tdvmcall_ghci",
        run: || run_case(&TDVMCALL_GHCI),
    },
    Check {
        name: "native_backend",
        run: native_backend,
    },
];

/// A thunk as the assembly exports it (System V).
type ThunkFn = unsafe extern "C" fn(leaf: u64, regs: *mut Regs) -> u64;

extern "C" {
    // The crate's thunks, called directly so that the register checks see the assembly's
    // own promises (the Rust wrappers are covered by `native_backend`).
    fn tdxcall_seamcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_seamcall_scrub(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdvmcall(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_seamcall_args(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdcall_args(leaf: u64, regs: *mut Regs) -> u64;
    fn tdxcall_tdvmcall_ghci(leaf: u64, regs: *mut Regs) -> u64;

    /// Calls `thunk(leaf, regs)` with the sentinels in the callee-saved registers and records
    /// them, RSP and the scratch registers right after it returns (in [`RECORD`]).
    fn ring0_call_with_sentinels(thunk: ThunkFn, leaf: u64, regs: *mut Regs) -> u64;
}

struct Case {
    thunk: ThunkFn,
    leaf: u64,
    status: Status,
    site: SiteKind,
    /// The scratch registers the thunk clears, as indexes into [`SCRATCH_NAMES`]: every one
    /// for the full scrubbing thunks, those of its set for the GHCI one, none otherwise.
    scrubs: &'static [usize],
}

const ALL_SCRATCH: &[usize] = &[0, 1, 2, 3, 4, 5, 6, 7];

const SEAMCALL: Case = Case {
    thunk: tdxcall_seamcall,
    leaf: 0x20,
    status: Status::SEAMCALL_UD,
    site: SiteKind::Seamcall,
    scrubs: &[],
};
const SEAMCALL_SCRUB: Case = Case {
    thunk: tdxcall_seamcall_scrub,
    leaf: 0x0002_0002,
    status: Status::SEAMCALL_UD,
    site: SiteKind::Seamcall,
    scrubs: ALL_SCRATCH,
};
const TDCALL: Case = Case {
    thunk: tdxcall_tdcall,
    leaf: 0x1,
    status: Status::TDCALL_UD,
    site: SiteKind::Tdcall,
    scrubs: &[],
};
const TDVMCALL: Case = Case {
    thunk: tdxcall_tdvmcall,
    leaf: 0,
    status: Status::TDCALL_UD,
    site: SiteKind::Tdcall,
    scrubs: ALL_SCRATCH,
};
const SEAMCALL_ARGS: Case = Case {
    thunk: tdxcall_seamcall_args,
    leaf: 0x22,
    status: Status::SEAMCALL_UD,
    site: SiteKind::Seamcall,
    scrubs: &[],
};
const TDCALL_ARGS: Case = Case {
    thunk: tdxcall_tdcall_args,
    leaf: 0x7,
    status: Status::TDCALL_UD,
    site: SiteKind::Tdcall,
    scrubs: &[],
};
const TDVMCALL_GHCI: Case = Case {
    thunk: tdxcall_tdvmcall_ghci,
    leaf: 0,
    status: Status::TDCALL_UD,
    site: SiteKind::Tdcall,
    // RCX, R10, R11: its set's scratch registers (R12-R15 are restored from the stack).
    scrubs: &[0, 6, 7],
};

/// Values no thunk would produce by accident, for RBX, RBP, R12, R13, R14, R15.
const SENTINELS: [u64; 6] = [
    0x5e47_1e11_b0b0_0003,
    0x5e47_1e11_b0b0_0005,
    0x5e47_1e11_b0b0_000c,
    0x5e47_1e11_b0b0_000d,
    0x5e47_1e11_b0b0_000e,
    0x5e47_1e11_b0b0_000f,
];
const CALLEE_SAVED_NAMES: [&str; 6] = ["rbx", "rbp", "r12", "r13", "r14", "r15"];
const SCRATCH_NAMES: [&str; 8] = ["rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11"];

/// What `ring0_call_with_sentinels` saw around the call.
#[repr(C)]
#[derive(Clone, Copy)]
struct Record {
    rsp_before: u64,
    rsp_after: u64,
    /// In the order of [`CALLEE_SAVED_NAMES`].
    callee_saved: [u64; 6],
    /// In the order of [`SCRATCH_NAMES`].
    scratch: [u64; 8],
}

struct RecordCell(UnsafeCell<Record>);

// SAFETY: one CPU; only `ring0_call_with_sentinels` writes it, and only `run_case` reads it,
// after that call has returned.
unsafe impl Sync for RecordCell {}

static RECORD: RecordCell = RecordCell(UnsafeCell::new(Record {
    rsp_before: 0,
    rsp_after: 0,
    callee_saved: [0; 6],
    scratch: [0; 8],
}));

global_asm!(
    ".pushsection .text.ring0_call_with_sentinels, \"ax\"",
    ".globl ring0_call_with_sentinels",
    ".p2align 4",
    // RDI = thunk, RSI = leaf, RDX = regs.
    "ring0_call_with_sentinels:",
    // Our own callee-saved registers, which the sentinels overwrite.
    "    push %rbp",
    "    push %rbx",
    "    push %r12",
    "    push %r13",
    "    push %r14",
    "    push %r15",
    // Six pushes and the return address: 8 more bytes make RSP 16-byte aligned at the call.
    "    sub $8, %rsp",
    "    mov %rsp, {record}+{rsp_before}(%rip)",
    "    mov %rdi, %rax",
    "    mov %rsi, %rdi",
    "    mov %rdx, %rsi",
    "    movabs ${s0}, %rbx",
    "    movabs ${s1}, %rbp",
    "    movabs ${s2}, %r12",
    "    movabs ${s3}, %r13",
    "    movabs ${s4}, %r14",
    "    movabs ${s5}, %r15",
    "    call *%rax",
    // Record before anything else runs.
    "    mov %rsp, {record}+{rsp_after}(%rip)",
    "    mov %rbx, {record}+{callee}+0(%rip)",
    "    mov %rbp, {record}+{callee}+8(%rip)",
    "    mov %r12, {record}+{callee}+16(%rip)",
    "    mov %r13, {record}+{callee}+24(%rip)",
    "    mov %r14, {record}+{callee}+32(%rip)",
    "    mov %r15, {record}+{callee}+40(%rip)",
    "    mov %rcx, {record}+{scratch}+0(%rip)",
    "    mov %rdx, {record}+{scratch}+8(%rip)",
    "    mov %rsi, {record}+{scratch}+16(%rip)",
    "    mov %rdi, {record}+{scratch}+24(%rip)",
    "    mov %r8, {record}+{scratch}+32(%rip)",
    "    mov %r9, {record}+{scratch}+40(%rip)",
    "    mov %r10, {record}+{scratch}+48(%rip)",
    "    mov %r11, {record}+{scratch}+56(%rip)",
    // Our own copy of RSP, so a thunk that lost it fails the check instead of the image.
    "    mov {record}+{rsp_before}(%rip), %rsp",
    "    add $8, %rsp",
    "    pop %r15",
    "    pop %r14",
    "    pop %r13",
    "    pop %r12",
    "    pop %rbx",
    "    pop %rbp",
    "    ret",
    ".popsection",
    record = sym RECORD,
    rsp_before = const offset_of!(Record, rsp_before),
    rsp_after = const offset_of!(Record, rsp_after),
    callee = const offset_of!(Record, callee_saved),
    scratch = const offset_of!(Record, scratch),
    s0 = const SENTINELS[0],
    s1 = const SENTINELS[1],
    s2 = const SENTINELS[2],
    s3 = const SENTINELS[3],
    s4 = const SENTINELS[4],
    s5 = const SENTINELS[5],
    options(att_syntax)
);

/// A struct whose every field is distinct, and distinct from the sentinels.
fn distinct_inputs(seed: u64) -> Regs {
    let field = |index: u64| 0x1e00_0000_0000_0000 | seed << 16 | index;
    Regs {
        rcx: field(1),
        rdx: field(2),
        r8: field(8),
        r9: field(9),
        r10: field(10),
        r11: field(11),
        r12: field(12),
        r13: field(13),
        r14: field(14),
        r15: field(15),
        rbx: field(3),
        rdi: field(7),
        rsi: field(6),
    }
}

/// The exception-table site of the thunk at `entry`: each thunk has exactly one, the first
/// after its entry point.
fn site_of(entry: u64) -> Option<Site> {
    sites()
        .filter(|site| site.instruction >= entry)
        .min_by_key(|site| site.instruction)
}

fn run_case(case: &Case) -> Result<(), Failed> {
    let entry = case.thunk as usize as u64;
    let Some(site) = site_of(entry) else {
        crate::println!("    no exception-table site at or after the thunk at {entry:#x}");
        return Err(Failed);
    };
    ensure!(
        site.kind == case.site,
        "the thunk's site is {:?}, expected {:?}",
        site.kind,
        case.site
    );

    let input = distinct_inputs(case.leaf);
    let mut regs = input;
    let before = trap::fixups();
    // SAFETY: the instruction raises #UD at CPL 0 outside SEAM and outside a TD, which the
    // IDT's handler hands to the crate's fixup; the thunk touches only `regs`. The helper
    // restores every callee-saved register it overwrote.
    let raw = unsafe { ring0_call_with_sentinels(case.thunk, case.leaf, &mut regs) };
    // SAFETY: the helper has returned; nothing else writes the record.
    let record = unsafe { RECORD.0.get().read_volatile() };
    let after = trap::fixups();

    let status = Status::from_raw(raw);
    ensure!(
        status == case.status,
        "status {status:?}, expected {:?}",
        case.status
    );
    ensure!(
        regs == input,
        "the struct changed: {regs:x?}, expected the inputs {input:x?}"
    );
    for ((name, value), sentinel) in CALLEE_SAVED_NAMES
        .iter()
        .zip(record.callee_saved)
        .zip(SENTINELS)
    {
        ensure!(
            value == sentinel,
            "{name} came back {value:#x}, expected {sentinel:#x}"
        );
    }
    ensure!(
        record.rsp_after == record.rsp_before,
        "rsp came back {:#x}, expected {:#x}",
        record.rsp_after,
        record.rsp_before
    );
    for &index in case.scrubs {
        let (name, value) = (SCRATCH_NAMES[index], record.scratch[index]);
        ensure!(
            value == 0,
            "{name} came back {value:#x}, but this thunk clears it"
        );
    }
    ensure!(
        after.count == before.count + 1,
        "the crate's fixup count went from {} to {} during the call, expected one more",
        before.count,
        after.count
    );
    let expected = trap::Fixup {
        vector: VECTOR_UD,
        fault_rip: site.instruction,
        resume_rip: site.fixup,
        rax: case.status.raw(),
    };
    ensure!(
        after.last == expected,
        "fixup {:x?}, expected {expected:x?}",
        after.last
    );
    Ok(())
}

/// The public path: `Native` (which installs nothing without `std`) through `Backend::call`,
/// for every call kind.
fn native_backend() -> Result<(), Failed> {
    let mut native = Native::new();
    let kinds = [
        CallKind::Seamcall,
        CallKind::SeamcallScrub,
        CallKind::Tdcall,
        CallKind::Tdvmcall,
    ];
    for (seed, kind) in (0x100..).zip(kinds) {
        let expected = if kind.is_tdcall() {
            Status::TDCALL_UD
        } else {
            Status::SEAMCALL_UD
        };
        let input = distinct_inputs(seed);
        let mut regs = input;
        let before = trap::fixups().count;
        // SAFETY: as in `run_case`: the instruction faults and the crate's fixup resumes it.
        let status = unsafe { native.call(kind, seed, &mut regs) };
        let after = trap::fixups().count;
        ensure!(
            status == expected,
            "{kind:?}: status {status:?}, expected {expected:?}"
        );
        ensure!(regs == input, "{kind:?}: the struct changed: {regs:x?}");
        ensure!(
            after == before + 1,
            "{kind:?}: the crate's fixup count went from {before} to {after}, expected one more"
        );
        // The narrow path too: every set, through the thunk `Native` picks for it.
        for set in RegSet::ALL {
            let mut regs = input;
            let before = trap::fixups();
            // SAFETY: as above.
            let status = unsafe { native.call_set(kind, set, seed, &mut regs) };
            let after = trap::fixups();
            ensure!(
                status == expected,
                "{kind:?} {set:?}: status {status:?}, expected {expected:?}"
            );
            ensure!(regs == input, "{kind:?} {set:?}: the struct changed");
            ensure!(
                after.count == before.count + 1,
                "{kind:?} {set:?}: expected one fixup"
            );
            let site = tdxcall::fixup::site_at(after.last.fault_rip);
            let thunk_set = site.map(|site| site.regs);
            let narrow = matches!(
                (kind, set),
                (CallKind::Seamcall, RegSet::Args)
                    | (CallKind::Tdcall, RegSet::Args)
                    | (CallKind::Tdvmcall, RegSet::Ghci)
            );
            let want = if narrow { set } else { RegSet::Full };
            ensure!(
                thunk_set == Some(want),
                "{kind:?} {set:?}: went through a {thunk_set:?} thunk, expected {want:?}"
            );
        }
    }
    Ok(())
}
