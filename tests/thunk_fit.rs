//! The register set of every leaf against the ABI reference: each leaf's inputs and outputs
//! (tests/data/abi-registers.txt, from tdx-module-abi sections 3 and 5) lie in the set the
//! leaf table declares, so the narrow thunk a wrapper uses is exact; and every typed
//! TDG.VP.VMCALL wrapper goes through the narrowest thunk that holds the registers it
//! exposes.

use std::collections::BTreeSet;
use tdxcall::abi::GuestPhysAddr;
use tdxcall::call::{Backend, CallKind};
use tdxcall::guest::tdvmcall::{CacheFlush, IoSize, MmioSize};
use tdxcall::guest::Guest;
use tdxcall::leaf::{Leaf, Side};
use tdxcall::regs::RegSet;
use tdxcall::{Regs, Status};

/// Hardware register number of a register name of the data file.
fn hw(name: &str) -> u8 {
    match name {
        "rcx" => 1,
        "rdx" => 2,
        "rbx" => 3,
        "rsi" => 6,
        "rdi" => 7,
        "r8" => 8,
        "r9" => 9,
        "r10" => 10,
        "r11" => 11,
        "r12" => 12,
        "r13" => 13,
        "r14" => 14,
        "r15" => 15,
        other => panic!("unknown register {other}"),
    }
}

/// One line of the data file: the leaf, and the mask of its inputs and outputs (`None` for
/// "all").
struct AbiLeaf {
    side: Side,
    number: u16,
    name: String,
    registers: Option<u16>,
}

fn abi_leaves() -> Vec<AbiLeaf> {
    let text = include_str!("data/abi-registers.txt");
    let mut leaves = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(fields.len(), 3, "{line}");
        let head: Vec<&str> = fields[0].split_whitespace().collect();
        let side = match head[0] {
            "host" => Side::Host,
            "guest" => Side::Guest,
            other => panic!("side {other}"),
        };
        let mut registers = Some(0u16);
        for (part, prefix) in [(fields[1], "in"), (fields[2], "out")] {
            let mut words = part.split_whitespace();
            assert_eq!(words.next(), Some(prefix), "{line}");
            for word in words {
                match word {
                    "-" => {}
                    "all" => registers = None,
                    name => registers = registers.map(|mask| mask | 1 << hw(name)),
                }
            }
        }
        leaves.push(AbiLeaf {
            side,
            number: head[1].parse().unwrap(),
            name: head[2].to_string(),
            registers,
        });
    }
    leaves
}

#[test]
fn the_data_file_lists_every_leaf_of_the_table_once() {
    let leaves = abi_leaves();
    let listed: BTreeSet<(bool, u16)> = leaves
        .iter()
        .map(|l| (l.side == Side::Host, l.number))
        .collect();
    assert_eq!(listed.len(), leaves.len(), "a leaf listed twice");
    assert_eq!(leaves.len(), Leaf::ALL.len());
    for abi in &leaves {
        let leaf = Leaf::from_number(abi.side, abi.number)
            .unwrap_or_else(|| panic!("{} is not in the leaf table", abi.name));
        assert_eq!(leaf.spec_name(), abi.name);
    }
}

#[test]
fn every_leaf_inputs_and_outputs_fit_its_register_set() {
    for abi in abi_leaves() {
        let leaf = Leaf::from_number(abi.side, abi.number).unwrap();
        match abi.registers {
            None => assert_eq!(leaf.reg_set(), RegSet::Full, "{leaf}: any register"),
            Some(mask) => assert!(
                leaf.reg_set().holds(mask),
                "{leaf}: registers {mask:#06x} do not fit {:?} ({:#06x})",
                leaf.reg_set(),
                leaf.reg_set().mask()
            ),
        }
    }
}

#[test]
fn every_leaf_that_fits_the_narrow_set_uses_it() {
    for abi in abi_leaves() {
        let leaf = Leaf::from_number(abi.side, abi.number).unwrap();
        if let Some(mask) = abi.registers {
            if RegSet::Args.holds(mask) {
                assert_eq!(
                    leaf.reg_set(),
                    RegSet::Args,
                    "{leaf} pays for the full thunk"
                );
            }
        }
    }
    // The full ones, for the record: the two VP.ENTERs, TDG.VP.VMCALL (chosen per call),
    // the leaves with operands in R12 and up, and the memory-scan leaves (whose handlers,
    // not read, may write any register: tests/data/abi-registers.txt), and the rebind leaves
    // (dispatched by no module read; registers passed raw).
    let full: Vec<&str> = Leaf::ALL
        .iter()
        .filter(|leaf| leaf.reg_set() == RegSet::Full)
        .map(|leaf| leaf.spec_name())
        .collect();
    assert_eq!(
        full,
        [
            "TDH.VP.ENTER",
            "TDH.SERVTD.BIND",
            "TDH.EXPORT.MEM",
            "TDH.IMPORT.MEM",
            "TDH.MEM.SCAN.RANGE",
            "TDH.MEM.SCAN.COMP",
            "TDH.MEM.SCAN.CONFIG",
            "TDH.MEM.SCAN.RESET",
            "TDH.SERVTD.REBIND",
            "TDG.VP.VMCALL",
            "TDG.SERVTD.RD",
            "TDG.SERVTD.WR",
            "TDG.VP.ENTER",
            "TDG.SERVTD.REBIND.APPROVE",
        ]
    );
}

/// A backend that records the thunk kind, register set and RCX of every call and answers
/// success (RAX = 0, R10 = 0).
#[derive(Default)]
struct SetRecorder {
    calls: Vec<(CallKind, Option<RegSet>, u64)>,
}

impl Backend for SetRecorder {
    unsafe fn call(&mut self, kind: CallKind, _leaf: u64, regs: &mut Regs) -> Status {
        self.calls.push((kind, None, regs.rcx));
        regs.r10 = 0;
        Status::SUCCESS
    }

    unsafe fn call_set(&mut self, kind: CallKind, set: RegSet, _: u64, regs: &mut Regs) -> Status {
        self.calls.push((kind, Some(set), regs.rcx));
        regs.r10 = 0;
        Status::SUCCESS
    }
}

#[test]
fn each_typed_tdvmcall_goes_through_the_narrowest_thunk_holding_its_exposed_registers() {
    let mut guest = Guest::new(SetRecorder::default());
    let gpa = GuestPhysAddr::new(0x8000_0000_1000).unwrap();
    // Every safe typed wrapper; the names are for messages.
    let mut names = Vec::new();
    macro_rules! run {
        ($($name:literal => $call:expr;)*) => {$(
            names.push($name);
            let _ = $call;
        )*};
    }
    run! {
        "cpuid" => guest.tdvmcall_cpuid(1, 0);
        "hlt" => guest.tdvmcall_hlt(false);
        "io_read" => guest.tdvmcall_io_read(0x80, IoSize::B1);
        "io_write" => guest.tdvmcall_io_write(0x80, IoSize::B1, 1);
        "rdmsr" => guest.tdvmcall_rdmsr(0x10);
        "wrmsr" => guest.tdvmcall_wrmsr(0x10, 1);
        "mmio_read" => guest.tdvmcall_mmio_read(gpa, MmioSize::B4);
        "mmio_write" => guest.tdvmcall_mmio_write(gpa, MmioSize::B4, 1);
        "wbinvd" => guest.tdvmcall_wbinvd(CacheFlush::WriteBackInvalidate);
        "pconfig" => guest.tdvmcall_pconfig(0, 1, 2, 3);
        "get_td_vm_call_info" => guest.tdvmcall_get_td_vm_call_info(0);
        "setup_event_notify_interrupt" => guest.tdvmcall_setup_event_notify_interrupt(32);
        "report_fatal_error" => guest.tdvmcall_report_fatal_error(1, Some(gpa), b"message");
    }
    let calls = guest.into_backend().calls;
    assert_eq!(calls.len(), names.len());
    for (name, (kind, set, rcx)) in names.iter().zip(calls) {
        assert_eq!(kind, CallKind::Tdvmcall, "{name}");
        let set = set.unwrap_or_else(|| panic!("{name}: the full-struct Backend::call"));
        let exposed = rcx as u16;
        assert!(
            set.holds(exposed | 2),
            "{name}: {exposed:#06x} outside {set:?}"
        );
        let expected = if *name == "report_fatal_error" {
            RegSet::Full
        } else {
            RegSet::Ghci
        };
        assert_eq!(set, expected, "{name}: exposes {exposed:#06x}");
    }
}

#[test]
fn typed_leaf_wrappers_use_the_table_set_and_call_raw_the_full_struct() {
    let mut guest = Guest::new(SetRecorder::default());
    let _ = guest.vp_info();
    let mut regs = Regs::ZERO;
    // SAFETY: the recording backend executes nothing.
    let _ = unsafe { guest.call_raw(Leaf::TdgVpInfo, 0, &mut regs) };
    let calls = guest.into_backend().calls;
    assert_eq!(calls[0].0, CallKind::Tdcall);
    assert_eq!(calls[0].1, Some(Leaf::TdgVpInfo.reg_set()));
    assert_eq!(calls[0].1, Some(RegSet::Args));
    assert_eq!(calls[1].1, None, "call_raw keeps the full-struct contract");
}
