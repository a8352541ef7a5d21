//! The narrow thunks under the emulator: the typed wrappers over `Native` reach the narrow
//! instruction sites (whose exception-table entries name their set), and a model cannot
//! write a register a narrow thunk neither stores nor saves.
#![cfg(all(target_os = "linux", target_arch = "x86_64", feature = "emulator"))]

mod common;

use common::{call_watched, pattern, SENTINELS};
use std::cell::RefCell;
use std::rc::Rc;
use tdxcall::call::CallKind;
use tdxcall::emu::{self, Call, Outcome};
use tdxcall::guest::Guest;
use tdxcall::host::Host;
use tdxcall::leaf::Leaf;
use tdxcall::regs::RegSet;
use tdxcall::{Regs, Status};

#[test]
fn typed_wrappers_over_native_reach_the_sites_of_their_sets() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::clone(&seen);
    let _installed = emu::install(move |call: &mut Call<'_>| -> Outcome {
        log.borrow_mut()
            .push((call.kind(), call.site().thunk, call.site().regs));
        call.complete(Status::SUCCESS)
    });
    let mut guest = Guest::native();
    let mut host = Host::native();
    let _ = guest.vp_info();
    let _ = guest.tdvmcall_hlt(false);
    let _ = host.sys_lp_init();
    let mut regs = Regs::ZERO;
    // SAFETY: answered by the model; nothing runs.
    let _ = unsafe { guest.call_raw(Leaf::TdgVpInfo, 0, &mut regs) };
    assert_eq!(
        *seen.borrow(),
        [
            (CallKind::Tdcall, CallKind::Tdcall, RegSet::Args),
            (CallKind::Tdvmcall, CallKind::Tdvmcall, RegSet::Ghci),
            (CallKind::Seamcall, CallKind::Seamcall, RegSet::Args),
            (CallKind::Tdcall, CallKind::Tdcall, RegSet::Full),
        ]
    );
}

#[test]
fn a_model_answer_outside_a_narrow_set_never_reaches_the_caller() {
    for thunk in common::PRODUCTION.iter().filter(|t| t.set != RegSet::Full) {
        // The model writes a new value into every register, RBP and the callee-saved ones
        // included.
        let _installed = emu::install(|call: &mut Call<'_>| -> Outcome {
            let mut answer = *call.registers();
            for (index, slot) in [
                &mut answer.rbx,
                &mut answer.rcx,
                &mut answer.rdx,
                &mut answer.rsi,
                &mut answer.rdi,
                &mut answer.rbp,
                &mut answer.r8,
                &mut answer.r9,
                &mut answer.r10,
                &mut answer.r11,
                &mut answer.r12,
                &mut answer.r13,
                &mut answer.r14,
                &mut answer.r15,
            ]
            .into_iter()
            .enumerate()
            {
                *slot = 0x0DD0_0000_0000_0000 | index as u64;
            }
            Outcome::Return(answer.with_status(Status::SUCCESS))
        });
        let input = pattern(0x7700, 1);
        let mut regs = input;
        // SAFETY: the site traps and the model answers; the thunk follows the System V ABI.
        let snapshot = unsafe { call_watched(thunk.raw, 0, &mut regs, &SENTINELS) };
        assert_eq!(snapshot.after[common::RAX], 0, "{}", thunk.name);
        common::assert_callee_saved(thunk.name, &snapshot);
        for (hw, value) in common::fields_by_register(&input) {
            let after = common::fields_by_register(&regs)
                .into_iter()
                .find(|&(h, _)| h == hw)
                .unwrap()
                .1;
            if thunk.moves(hw) {
                assert_eq!(after >> 48, 0x0DD0, "{}: {}", thunk.name, common::NAMES[hw]);
            } else {
                assert_eq!(
                    after,
                    value,
                    "{}: {} untouched",
                    thunk.name,
                    common::NAMES[hw]
                );
            }
        }
    }
}
