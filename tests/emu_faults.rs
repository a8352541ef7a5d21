//! Fault injection: every fault and one status of every class, injected into every call path,
//! must come back to the caller as exactly the right status.
//!
//! A call path is a [`Case`]: the instruction kind it reaches and a closure that makes the
//! call and reports the status the caller got. Today the cases are the four thunks behind
//! the [`Backend`] seam; each typed wrapper adds one case (see [`cases`]).
#![cfg(all(feature = "emulator", target_os = "linux", target_arch = "x86_64"))]

use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::emu::{self, Answer, FaultInjector};
use tdxcall::{Error, Regs, Status};

/// One path to a TDX instruction.
struct Case {
    /// Shown when the case fails.
    name: &'static str,
    /// The thunk the path ends in (decides which software code a fault gives).
    kind: CallKind,
    /// Makes the call with valid arguments and returns the status the caller sees.
    call: Box<dyn FnMut() -> Status>,
}

/// The status a typed wrapper reported: the error's status, or success. An argument error
/// means the case was written with bad arguments, which is a bug in the case.
#[allow(dead_code)] // Used by the wrapper cases.
fn status_of<T: std::fmt::Debug>(result: tdxcall::Result<T>) -> Status {
    match result {
        Ok(_) => Status::SUCCESS,
        Err(Error::Status(status)) => status,
        Err(other) => panic!("the case passed arguments the wrapper refused: {other:?}"),
    }
}

/// Every call path. Wrappers go here as they are written, one case each, e.g.
///
/// ```ignore
/// Case { name: "tdh_sys_rd", kind: CallKind::Seamcall,
///        call: Box::new(|| status_of(host::sys::rd(&mut Native::new(), FIELD))) },
/// ```
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (name, kind) in [
        ("Native Seamcall", CallKind::Seamcall),
        ("Native SeamcallScrub", CallKind::SeamcallScrub),
        ("Native Tdcall", CallKind::Tdcall),
        ("Native Tdvmcall", CallKind::Tdvmcall),
    ] {
        cases.push(Case {
            name,
            kind,
            call: Box::new(move || {
                let mut regs = Regs {
                    rcx: 0x1000,
                    rdx: 2,
                    ..Regs::ZERO
                };
                // SAFETY: the instruction traps; the injector answers.
                unsafe { Native::new().call(kind, 3, &mut regs) }
            }),
        });
    }
    cases
}

/// One error status from every class the module uses (tdx-module-abi.md §6.2, module 1.5.01),
/// some with operand details in bits 31:0 to show those survive. 1.5.01 defines no code in
/// class 0x0F.
const ONE_STATUS_PER_CLASS: [(u8, &str, u64); 17] = [
    (0x00, "TDX_INTERRUPTED_RESUMABLE", 0x8000_0003_0000_0000),
    (0x01, "TDX_OPERAND_INVALID (RCX)", 0xC000_0100_0000_0001),
    (0x02, "TDX_OPERAND_BUSY (TDR)", 0x8000_0200_0000_0080),
    (0x03, "TDX_PAGE_METADATA_INCORRECT", 0xC000_0300_0000_0000),
    (0x04, "TDX_TD_ASSOCIATED_PAGES_EXIST", 0xC000_0400_0000_0000),
    (0x05, "TDX_SYS_NOT_READY", 0xC000_0505_0000_0000),
    (0x06, "TDX_OP_STATE_INCORRECT", 0xC000_0608_0000_0000),
    (0x07, "TDX_VCPU_STATE_INCORRECT", 0xC000_0700_0000_0000),
    (0x08, "TDX_KEY_GENERATION_FAILED", 0x8000_0800_0000_0000),
    (0x09, "TDX_INCORRECT_CPUID_VALUE", 0xC000_0900_0000_0000),
    (0x0A, "TDX_INVALID_TDMR", 0xC000_0A00_0000_0000),
    (0x0B, "TDX_EPT_WALK_FAILED (level 2)", 0xC000_0B00_0000_0002),
    (
        0x0C,
        "TDX_METADATA_FIELD_ID_INCORRECT",
        0xC000_0C00_0000_0000,
    ),
    (0x0D, "TDX_SERVTD_NOT_BOUND", 0xC000_0D05_0000_0000),
    (0x0E, "TDX_INVALID_MBMD", 0xC000_0E00_0000_0000),
    (0x10, "TDX_INVALID_CPUSVN", 0xC000_1000_0000_0000),
    (0x11, "TDX_GLA_NOT_CANONICAL", 0xC000_1160_0000_0000),
];

fn injections() -> Vec<(String, Answer)> {
    let mut injections = vec![
        ("VMfailInvalid".to_string(), Answer::VmFailInvalid),
        ("#UD".to_string(), Answer::Ud),
        ("#GP".to_string(), Answer::Gp),
    ];
    for (class, name, raw) in ONE_STATUS_PER_CLASS {
        let status = Status::from_raw(raw);
        assert_eq!(status.class(), class, "{name}: the table's class");
        assert!(status.is_error(), "{name}");
        injections.push((name.to_string(), Answer::Status(status)));
    }
    injections
}

#[test]
fn the_status_table_covers_every_class() {
    let classes: Vec<u8> = ONE_STATUS_PER_CLASS
        .iter()
        .map(|&(class, _, _)| class)
        .collect();
    let expected: Vec<u8> = (0x00..=0x11).filter(|&class| class != 0x0F).collect();
    assert_eq!(classes, expected);
}

#[test]
fn every_injected_fault_and_status_comes_back_from_every_call_path() {
    let mut cases = cases();
    let injections = injections();
    for case in &mut cases {
        for (injected, answer) in &injections {
            let installed = emu::install(FaultInjector::new(*answer));
            let status = (case.call)();
            let injector = installed.into_inner();
            assert!(
                injector.calls() >= 1,
                "{}: {injected} was never asked",
                case.name
            );
            assert_eq!(
                status,
                answer.expected_status(case.kind),
                "{}: injected {injected}",
                case.name
            );
        }
    }
}

#[test]
fn expected_statuses_follow_the_instruction() {
    // The mapping the loop above relies on, spelled out once.
    assert_eq!(
        Answer::VmFailInvalid.expected_status(CallKind::Seamcall),
        Status::SEAMCALL_VMFAILINVALID
    );
    assert_eq!(
        Answer::VmFailInvalid.expected_status(CallKind::SeamcallScrub),
        Status::SEAMCALL_VMFAILINVALID
    );
    assert_eq!(
        Answer::VmFailInvalid.expected_status(CallKind::Tdcall),
        Status::TDCALL_UD
    );
    assert_eq!(
        Answer::Ud.expected_status(CallKind::Seamcall),
        Status::SEAMCALL_UD
    );
    assert_eq!(
        Answer::Gp.expected_status(CallKind::SeamcallScrub),
        Status::SEAMCALL_GP
    );
    assert_eq!(
        Answer::Ud.expected_status(CallKind::Tdvmcall),
        Status::TDCALL_UD
    );
    assert_eq!(
        Answer::Gp.expected_status(CallKind::Tdcall),
        Status::TDCALL_GP
    );
}
