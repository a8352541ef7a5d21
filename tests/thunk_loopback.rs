//! The loopback thunks: the production macro with the TDX instruction replaced by a no-op of
//! the same length. Every field goes into its register and comes back into the same field,
//! the status is the leaf, the callee-saved registers survive, and the scrub variants clear
//! the scratch registers while the struct keeps the values.
#![cfg(target_arch = "x86_64")]

mod common;

use common::{
    assert_callee_saved, assert_scratch_zero, call_watched, pattern, LOOPBACK, RAX, SENTINELS,
};
use tdxcall::call::loopback::Loopback;
use tdxcall::call::{Backend, CallKind};
use tdxcall::regs::RegSet;
use tdxcall::{Regs, Status};

/// Whether the scratch registers of the thunk's set still hold the struct's values after a
/// non-scrub loopback call (all but RSI, which the thunk reuses for the struct pointer):
/// what the scrub variants must clear is really there.
fn scratch_left_as_loaded(thunk: &common::Thunk, snapshot: &common::Snapshot, regs: &Regs) -> bool {
    common::fields_by_register(regs)
        .iter()
        .filter(|(hw, _)| common::SCRATCH.contains(hw) && *hw != common::RSI && thunk.moves(*hw))
        .all(|&(hw, value)| snapshot.after[hw] == value)
}

#[test]
fn every_field_round_trips_and_the_status_is_the_leaf() {
    for (index, thunk) in LOOPBACK.iter().enumerate() {
        for salt in 0..64u32 {
            let input = pattern(0x4C00 + index as u16, salt);
            let leaf = 0x0002_0000_0000_0000 | (u64::from(salt) << 8) | index as u64;

            let mut regs = input;
            // SAFETY: the loopback thunks execute no TDX instruction.
            let status = unsafe { (thunk.wrapper)(leaf, &mut regs) };
            assert_eq!(
                status,
                Status::from_raw(leaf),
                "{}: wrapper status",
                thunk.name
            );
            assert_eq!(regs, input, "{}: wrapper struct", thunk.name);

            let mut regs = input;
            // SAFETY: as above; the thunk follows the System V ABI.
            let snapshot = unsafe { call_watched(thunk.raw, leaf, &mut regs, &SENTINELS) };
            assert_eq!(snapshot.after[RAX], leaf, "{}: status", thunk.name);
            assert_eq!(regs, input, "{}: struct", thunk.name);
            assert_callee_saved(thunk.name, &snapshot);
            if thunk.scrub {
                assert_scratch_zero(thunk, &snapshot);
            } else {
                assert!(
                    scratch_left_as_loaded(thunk, &snapshot, &input),
                    "{}: {snapshot:x?}",
                    thunk.name
                );
            }
        }
    }
}

#[test]
fn the_loopback_backend_routes_every_kind() {
    let kinds = [
        CallKind::Seamcall,
        CallKind::SeamcallScrub,
        CallKind::Tdcall,
        CallKind::Tdvmcall,
    ];
    for (index, kind) in kinds.into_iter().enumerate() {
        let input = pattern(0x4B00 + index as u16, 3);
        let leaf = 0x0003_0000_0000_0000 | index as u64;
        let mut regs = input;
        // SAFETY: the loopback backend executes no TDX instruction.
        let status = unsafe { Loopback.call(kind, leaf, &mut regs) };
        assert_eq!(status, Status::from_raw(leaf), "{kind:?}");
        assert_eq!(regs, input, "{kind:?}");
        for set in RegSet::ALL {
            let mut regs = input;
            // SAFETY: as above.
            let status = unsafe { Loopback.call_set(kind, set, leaf, &mut regs) };
            assert_eq!(status, Status::from_raw(leaf), "{kind:?} {set:?}");
            assert_eq!(regs, input, "{kind:?} {set:?}");
        }
    }
}

#[test]
fn a_narrow_loopback_thunk_neither_reads_nor_writes_fields_outside_its_set() {
    for thunk in LOOPBACK.iter().filter(|thunk| thunk.set != RegSet::Full) {
        let input = pattern(0x4A00, 9);
        let mut regs = input;
        // SAFETY: the loopback thunks execute no TDX instruction.
        let snapshot = unsafe { call_watched(thunk.raw, 5, &mut regs, &SENTINELS) };
        assert_eq!(regs, input, "{}", thunk.name);
        for (hw, value) in common::fields_by_register(&input) {
            if thunk.moves(hw) {
                if !thunk.scrub || !common::SCRATCH.contains(&hw) {
                    let expected = if common::CALLEE_SAVED.contains(&hw) {
                        // Restored from the stack: the caller's sentinel.
                        snapshot.after[hw]
                    } else {
                        value
                    };
                    assert_eq!(
                        snapshot.after[hw],
                        expected,
                        "{}: {}",
                        thunk.name,
                        common::NAMES[hw]
                    );
                }
            } else if hw == common::RSI {
                // The struct pointer, kept in RSI across the instruction.
                assert_eq!(
                    snapshot.after[hw], &mut regs as *mut Regs as u64,
                    "{}",
                    thunk.name
                );
            } else {
                assert_ne!(
                    snapshot.after[hw],
                    value,
                    "{}: {} was loaded",
                    thunk.name,
                    common::NAMES[hw]
                );
            }
        }
        assert_callee_saved(thunk.name, &snapshot);
    }
}
