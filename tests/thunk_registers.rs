//! The register mapping of every production thunk, read from the hardware registers at the
//! instruction itself.
//!
//! This binary does NOT install the crate's handler. It installs its own SIGILL/SIGSEGV
//! handler, which plays "the other side": at the faulting SEAMCALL/TDCALL it records every
//! general register from the signal context, then either writes a new value into every
//! register and resumes after the instruction (as if the call had completed, optionally with
//! CF set), or routes the fault through `tdxcall::fixup::fixup_exception` as a #GP. Signal
//! dispositions are process-wide, so every test takes `SERIAL` first.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use common::{
    assert_callee_saved, assert_scratch_zero, call_watched, fields_by_register, pattern,
    production_bytes, regs_from_registers, Thunk, NAMES, PRODUCTION, RAX, RBP, RSP, SENTINELS,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, Once};
use tdxcall::fixup::SiteKind;
use tdxcall::{Regs, Status};

/// What the handler does at a fault.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Reply {
    /// Write `REPLY` into the registers, clear CF, resume after the instruction.
    Complete = 0,
    /// The same, with CF set (SEAMCALL's VMfailInvalid).
    CompleteWithCarry = 1,
    /// Hand the fault to `fixup_exception` as vector 13, changing nothing else.
    RouteAsGp = 2,
}

/// The signal context's `gregs` index of each hardware register, by hardware number.
const GREG: [libc::c_int; 16] = [
    libc::REG_RAX,
    libc::REG_RCX,
    libc::REG_RDX,
    libc::REG_RBX,
    libc::REG_RSP,
    libc::REG_RBP,
    libc::REG_RSI,
    libc::REG_RDI,
    libc::REG_R8,
    libc::REG_R9,
    libc::REG_R10,
    libc::REG_R11,
    libc::REG_R12,
    libc::REG_R13,
    libc::REG_R14,
    libc::REG_R15,
];

const CARRY: i64 = 1;

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);

static MODE: AtomicU8 = AtomicU8::new(Reply::Complete as u8);
/// The registers the handler writes besides RAX, as a mask over hardware numbers: the
/// thunk's set, as the module writes only a leaf's outputs (never outside its set).
static REPLY_MASK: AtomicU32 = AtomicU32::new(0xFFFF);
/// The values the handler writes, by hardware number (RSP excluded).
static REPLY: [AtomicU64; 16] = [ZERO; 16];
/// The registers at the fault, by hardware number.
static SEEN: [AtomicU64; 16] = [ZERO; 16];
static SEEN_RIP: AtomicU64 = AtomicU64::new(0);
static SEEN_BYTES: AtomicU32 = AtomicU32::new(0);
static FAULTS: AtomicU32 = AtomicU32::new(0);
static STRAY: AtomicBool = AtomicBool::new(false);

/// The handler. It records and checks nothing it would have to report by panicking (a panic
/// cannot unwind out of a signal handler); the tests assert on what it recorded.
extern "C" fn other_side(
    signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid ucontext to an SA_SIGINFO handler, ours until we
    // return.
    let gregs = unsafe { &mut (*(context as *mut libc::ucontext_t)).uc_mcontext.gregs };
    FAULTS.fetch_add(1, SeqCst);
    for (hw, &greg) in GREG.iter().enumerate() {
        SEEN[hw].store(gregs[greg as usize] as u64, SeqCst);
    }
    let rip = gregs[libc::REG_RIP as usize] as u64;
    SEEN_RIP.store(rip, SeqCst);
    let Some(site) = tdxcall::fixup::site_at(rip) else {
        // Not a thunk's instruction: a real crash. Let it happen with the default action.
        STRAY.store(true, SeqCst);
        // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask; returning re-executes
        // the faulting instruction, which then takes the default action.
        unsafe {
            let default: libc::sigaction = core::mem::zeroed();
            libc::sigaction(signal, &default, core::ptr::null_mut());
        }
        return;
    };
    // SAFETY: `rip` is the address of an instruction site in this binary's text.
    let bytes = unsafe { core::ptr::read_unaligned(rip as *const [u8; 4]) };
    SEEN_BYTES.store(u32::from_le_bytes(bytes), SeqCst);
    let mode = MODE.load(SeqCst);
    if mode == Reply::RouteAsGp as u8 {
        let mut rip = rip;
        let mut rax = gregs[libc::REG_RAX as usize] as u64;
        if tdxcall::fixup::fixup_exception(13, &mut rip, &mut rax) {
            gregs[libc::REG_RIP as usize] = rip as i64;
            gregs[libc::REG_RAX as usize] = rax as i64;
        }
        return;
    }
    let mask = REPLY_MASK.load(SeqCst) | 1;
    for (hw, &greg) in GREG.iter().enumerate() {
        if hw != RSP && mask & (1 << hw) != 0 {
            gregs[greg as usize] = REPLY[hw].load(SeqCst) as i64;
        }
    }
    let flags = &mut gregs[libc::REG_EFL as usize];
    if mode == Reply::CompleteWithCarry as u8 {
        *flags |= CARRY;
    } else {
        *flags &= !CARRY;
    }
    gregs[libc::REG_RIP as usize] =
        (site.instruction + tdxcall::fixup::Site::INSTRUCTION_LEN) as i64;
}

static SERIAL: Mutex<()> = Mutex::new(());
static INSTALL: Once = Once::new();

/// Serializes the tests and installs `other_side` for SIGILL (#UD) and SIGSEGV (#GP, on
/// machines where the instruction raises that instead).
fn take_the_other_side() -> MutexGuard<'static, ()> {
    let guard = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    INSTALL.call_once(|| {
        for signal in [libc::SIGILL, libc::SIGSEGV] {
            // SAFETY: a zeroed sigaction is valid; we fill in a three-argument handler with
            // SA_SIGINFO, as its signature requires.
            unsafe {
                let mut action: libc::sigaction = core::mem::zeroed();
                action.sa_sigaction = other_side as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO;
                libc::sigemptyset(&mut action.sa_mask);
                assert_eq!(libc::sigaction(signal, &action, core::ptr::null_mut()), 0);
            }
        }
    });
    #[cfg(feature = "std")]
    assert!(
        !tdxcall::signal::is_installed(),
        "this binary must not use the crate's handler"
    );
    guard
}

/// One faulting call of `thunk` with the handler in `mode`, replying with `reply` (by
/// hardware number). Returns the snapshot after the call.
fn call_against_other_side(
    thunk: &Thunk,
    mode: Reply,
    leaf: u64,
    regs: &mut Regs,
    reply: &[u64; 16],
) -> common::Snapshot {
    MODE.store(mode as u8, SeqCst);
    REPLY_MASK.store(u32::from(thunk.set.mask()), SeqCst);
    for (slot, value) in REPLY.iter().zip(reply) {
        slot.store(*value, SeqCst);
    }
    let faults = FAULTS.load(SeqCst);
    // SAFETY: the instruction faults from user space and `other_side` handles the fault;
    // the thunk follows the System V ABI.
    let snapshot = unsafe { call_watched(thunk.raw, leaf, regs, &SENTINELS) };
    assert!(
        !STRAY.load(SeqCst),
        "{}: a fault outside the thunk",
        thunk.name
    );
    assert_eq!(
        FAULTS.load(SeqCst),
        faults + 1,
        "{}: exactly one fault per call",
        thunk.name
    );
    let site = thunk.site();
    assert_eq!(
        SEEN_RIP.load(SeqCst),
        site.instruction,
        "{}: faulting RIP",
        thunk.name
    );
    assert_eq!(
        SEEN_BYTES.load(SeqCst).to_le_bytes(),
        production_bytes(thunk.kind),
        "{}: the bytes at the faulting RIP",
        thunk.name
    );
    snapshot
}

/// Input values: one per register, all distinct, the leaf included.
fn inputs(case: u16) -> (u64, Regs) {
    let regs = pattern(0x1100 + case, 0xA);
    let leaf = 0x0000_0C0D_E000_0000 | u64::from(case);
    let mut all: Vec<u64> = fields_by_register(&regs).iter().map(|&(_, v)| v).collect();
    all.push(leaf);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 14, "inputs must be distinct");
    (leaf, regs)
}

/// Reply values, by hardware number: distinct from each other and from every input, RBP
/// zeroed as the module does on an asynchronous TD exit.
fn reply(case: u16) -> [u64; 16] {
    let mut values = [0u64; 16];
    for (hw, value) in values.iter_mut().enumerate() {
        *value = 0x2200_0000_0000_0000 | (u64::from(case) << 16) | ((hw as u64 + 1) << 4);
    }
    values[RBP] = 0;
    values[RSP] = 0;
    values
}

/// What the struct holds after a completed call: the reply in the fields of the thunk's set,
/// the inputs elsewhere.
fn expected_outputs(thunk: &Thunk, input: &Regs, reply: &[u64; 16]) -> Regs {
    thunk.set.merge(input, &regs_from_registers(reply))
}

/// Checks the registers at the instruction. `watched`: the call came from `call_watched`,
/// whose registers outside the set are known not to hold the fields' values (sentinels,
/// the leaf, the pointer), so a load of them would show.
fn assert_arrived(thunk: &Thunk, leaf: u64, input: &Regs, watched: bool) {
    assert_eq!(
        SEEN[RAX].load(SeqCst),
        leaf,
        "{}: the leaf arrives in rax",
        thunk.name
    );
    for (hw, value) in fields_by_register(input) {
        if !thunk.moves(hw) {
            if !watched {
                continue;
            }
            // Not loaded: the register holds whatever the caller had, never the field.
            assert_ne!(
                SEEN[hw].load(SeqCst),
                value,
                "{}: {} is outside the set but was loaded",
                thunk.name,
                NAMES[hw]
            );
            continue;
        }
        assert_eq!(
            SEEN[hw].load(SeqCst),
            value,
            "{}: the {} field arrives in {}",
            thunk.name,
            NAMES[hw],
            NAMES[hw]
        );
    }
}

#[test]
fn every_field_travels_in_its_own_register_both_ways() {
    let _serial = take_the_other_side();
    for (case, thunk) in PRODUCTION.iter().enumerate() {
        let case = case as u16;
        let (leaf, input) = inputs(case);
        let reply = reply(case);

        // Through the assembly entry point, every register watched.
        let mut regs = input;
        let snapshot = call_against_other_side(thunk, Reply::Complete, leaf, &mut regs, &reply);
        assert_arrived(thunk, leaf, &input, true);
        assert_eq!(
            snapshot.after[RAX], reply[RAX],
            "{}: RAX is the status",
            thunk.name
        );
        assert_eq!(
            regs,
            expected_outputs(thunk, &input, &reply),
            "{}: outputs land in their fields",
            thunk.name
        );
        // The other side changed RBX, RBP and R12-R15; the caller gets its own back.
        assert_callee_saved(thunk.name, &snapshot);
        if thunk.scrub {
            assert_scratch_zero(thunk, &snapshot);
        }

        // Through the crate's wrapper.
        let mut regs = input;
        MODE.store(Reply::Complete as u8, SeqCst);
        REPLY_MASK.store(u32::from(thunk.set.mask()), SeqCst);
        // SAFETY: the instruction faults and `other_side` completes it.
        let status = unsafe { (thunk.wrapper)(leaf, &mut regs) };
        assert_arrived(thunk, leaf, &input, false);
        assert_eq!(
            status,
            Status::from_raw(reply[RAX]),
            "{}: wrapper status",
            thunk.name
        );
        assert_eq!(
            regs,
            expected_outputs(thunk, &input, &reply),
            "{}: wrapper outputs",
            thunk.name
        );
    }
}

#[test]
fn carry_is_vmfailinvalid_for_seamcall_and_ignored_by_tdcall() {
    let _serial = take_the_other_side();
    for (case, thunk) in PRODUCTION.iter().enumerate() {
        let case = 0x10 + case as u16;
        let (leaf, input) = inputs(case);
        let reply = reply(case);
        let mut regs = input;
        let snapshot =
            call_against_other_side(thunk, Reply::CompleteWithCarry, leaf, &mut regs, &reply);
        assert_arrived(thunk, leaf, &input, true);
        let expected = match thunk.kind {
            SiteKind::Seamcall => Status::SEAMCALL_VMFAILINVALID,
            SiteKind::Tdcall => Status::from_raw(reply[RAX]),
        };
        assert_eq!(
            Status::from_raw(snapshot.after[RAX]),
            expected,
            "{}: status",
            thunk.name
        );
        // The registers after the instruction reach the struct whatever the status.
        assert_eq!(
            regs,
            expected_outputs(thunk, &input, &reply),
            "{}: outputs",
            thunk.name
        );
        assert_callee_saved(thunk.name, &snapshot);
        if thunk.scrub {
            assert_scratch_zero(thunk, &snapshot);
        }
    }
}

#[test]
fn a_fault_routed_as_gp_returns_the_gp_code_with_the_inputs_untouched() {
    let _serial = take_the_other_side();
    for (case, thunk) in PRODUCTION.iter().enumerate() {
        let case = 0x20 + case as u16;
        let (leaf, input) = inputs(case);
        let mut regs = input;
        let snapshot =
            call_against_other_side(thunk, Reply::RouteAsGp, leaf, &mut regs, &reply(case));
        assert_arrived(thunk, leaf, &input, true);
        assert_eq!(
            Status::from_raw(snapshot.after[RAX]),
            thunk.fault_status(13),
            "{}: status",
            thunk.name
        );
        assert_eq!(regs, input, "{}: nothing ran", thunk.name);
        assert_callee_saved(thunk.name, &snapshot);
        if thunk.scrub {
            assert_scratch_zero(thunk, &snapshot);
        }
    }
}
