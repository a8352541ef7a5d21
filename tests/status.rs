//! The status-code table, the decoder, the text parser and the `decode` example.

use std::collections::HashSet;

use tdxcall::abi::{Context, ElementSize, FieldId};
use tdxcall::leaf::{ModuleVersion, Side};
use tdxcall::status::{
    class_name, classes, parse_hex_u64, parse_status_text, DetailsKind, LoggedLeaf, Operand,
    OperandGroup, Origin, ParseStatusError, Release, Status, StatusCode, StatusKind, TdvmcallCode,
    TdvmcallStatus,
};
use tdxcall::{Error, Regs};

const RELEASES: [Release; 8] = [
    Release::V1_0_3,
    Release::V1_5_01,
    Release::V1_5_05,
    Release::V1_5_06,
    Release::V1_5_28,
    Release::V1_5_32,
    Release::V2_0_08,
    Release::V2_0_18,
];

fn module_codes(release: Release) -> impl Iterator<Item = StatusCode> {
    StatusCode::ALL
        .iter()
        .copied()
        .filter(move |code| code.in_release(release))
}

/// Tiny deterministic generator so the "unknown values" sweep covers more than hand picks.
fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state
}

#[test]
fn each_release_has_exactly_the_codes_of_its_header() {
    // Counts of TDX_* / TD_* codes in each module's tdx_error_codes_defs.h.
    assert_eq!(module_codes(Release::V1_0_3).count(), 92);
    assert_eq!(module_codes(Release::V1_5_01).count(), 165);
    assert_eq!(module_codes(Release::V1_5_05).count(), 166);
    let software: Vec<_> = StatusCode::ALL
        .iter()
        .filter(|c| c.is_software())
        .map(|c| c.name())
        .collect();
    assert_eq!(
        software,
        [
            "TDX_SEAMCALL_VMFAILINVALID",
            "TDX_SEAMCALL_UD",
            "TDX_SEAMCALL_GP",
            "TDX_TDCALL_UD",
            "TDX_TDCALL_GP"
        ]
    );
}

#[test]
fn values_match_the_ones_linux_and_kvm_use() {
    // linux-conventions.md 3.2 and 3.3: values the kernel defines independently.
    for (name, value) in [
        ("TDX_SUCCESS", 0),
        ("TDX_RND_NO_ENTROPY", 0x8000_0203_0000_0000),
        ("TDX_NON_RECOVERABLE_VCPU", 0x4000_0001_0000_0000),
        (
            "TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE",
            0x6000_0005_0000_0000,
        ),
        ("TDX_INTERRUPTED_RESUMABLE", 0x8000_0003_0000_0000),
        ("TDX_OPERAND_INVALID", 0xC000_0100_0000_0000),
        ("TDX_OPERAND_BUSY", 0x8000_0200_0000_0000),
        ("TDX_PREVIOUS_TLB_EPOCH_BUSY", 0x8000_0201_0000_0000),
        ("TDX_SYS_BUSY", 0x8000_0202_0000_0000),
        ("TDX_PAGE_METADATA_INCORRECT", 0xC000_0300_0000_0000),
        ("TDX_VCPU_NOT_ASSOCIATED", 0x8000_0702_0000_0000),
        ("TDX_KEY_GENERATION_FAILED", 0x8000_0800_0000_0000),
        ("TDX_KEY_STATE_INCORRECT", 0xC000_0811_0000_0000),
        ("TDX_KEY_CONFIGURED", 0x0000_0815_0000_0000),
        ("TDX_NO_HKID_READY_TO_WBCACHE", 0x0000_0821_0000_0000),
        ("TDX_FLUSHVP_NOT_DONE", 0x8000_0824_0000_0000),
        ("TDX_EPT_WALK_FAILED", 0xC000_0B00_0000_0000),
        ("TDX_EPT_ENTRY_STATE_INCORRECT", 0xC000_0B0D_0000_0000),
        ("TDX_METADATA_FIELD_NOT_READABLE", 0xC000_0C02_0000_0000),
        ("TDX_SEAMCALL_VMFAILINVALID", 0x8000_FF00_FFFF_0000),
        ("TDX_SEAMCALL_GP", 0x8000_FF00_0000_000D),
        ("TDX_SEAMCALL_UD", 0x8000_FF00_0000_0006),
        // tdx-module-abi.md 1.4, 6.2: the 1.5.05 addition and a class-0x11 code.
        ("TDX_SYS_SHUTDOWN", 0xC000_0506_0000_0000),
        ("TDX_SYS_NOT_READY", 0xC000_0505_0000_0000),
        ("TDX_X2APIC_ID_NOT_UNIQUE", 0xC000_0621_0000_0000),
        ("TDX_TD_EXIT_ON_L2_TO_L1", 0x0000_1142_0000_0000),
    ] {
        let code = StatusCode::from_name(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(code.value(), value, "{name}");
    }
    // The 1.0.3 values of the codes 1.5 changed (tdx-module-abi.md 6.2).
    for (name, value) in [
        ("TDX_NON_RECOVERABLE_TD", 0x4000_0002_0000_0000),
        (
            "TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE",
            0xC000_0007_0000_0000,
        ),
        ("TDX_TD_FATAL", 0xC000_0604_0000_0000),
        ("TDX_BOOT_NT4_SET", 0xC000_0901_0000_0000),
    ] {
        let code = StatusCode::from_name_in(name, Release::V1_0_3).unwrap();
        assert_eq!(code.value(), value, "{name}");
    }
    // linux-conventions.md 3.4.
    for (name, value) in [
        ("TDVMCALL_STATUS_SUCCESS", 0),
        ("TDVMCALL_STATUS_RETRY", 1),
        ("TDVMCALL_STATUS_INVALID_OPERAND", 0x8000_0000_0000_0000),
        ("TDVMCALL_STATUS_GPA_INUSE", 0x8000_0000_0000_0001),
        ("TDVMCALL_STATUS_ALIGN_ERROR", 0x8000_0000_0000_0002),
        ("TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED", 0x8000_0000_0000_0003),
    ] {
        assert_eq!(
            TdvmcallCode::from_name(name).map(|c| c.value()),
            Some(value),
            "{name}"
        );
    }
}

#[test]
fn every_entry_round_trips_value_name_value() {
    for &code in StatusCode::ALL {
        match code.origin() {
            Origin::Software => {
                assert_eq!(StatusCode::from_status(code.status()), Some(code));
                assert_eq!(StatusCode::from_name(code.name()), Some(code));
                assert_eq!(code.status().named(), Some(code));
            }
            Origin::Module(_) => {
                assert_eq!(
                    code.value() as u32,
                    0,
                    "{code}: bits 31:0 of a code are zero"
                );
                for release in RELEASES.into_iter().filter(|&r| code.in_release(r)) {
                    let by_value = StatusCode::from_code_in(code.code(), release).unwrap();
                    assert_eq!(by_value, code, "{code} in {release}");
                    let by_name = StatusCode::from_name_in(by_value.name(), release).unwrap();
                    assert_eq!(by_name.value(), code.value(), "{code} in {release}");
                }
            }
        }
        // With any details the code is still found; the status keeps the details.
        let with = code.with_details(0x1234_5678);
        if !code.is_software() {
            assert_eq!(with.named(), StatusCode::from_code(code.code()));
            assert_eq!(with.details_l2(), 0x1234_5678);
        }
    }
}

#[test]
fn display_reads_back_as_the_same_status() {
    for code in StatusCode::ALL {
        for details in [0, 1, 0x30, 0xFFFF_0007, u32::MAX] {
            let status = code.with_details(details);
            let text = status.to_string();
            assert_eq!(
                parse_status_text(&text).map(|p| p.status),
                Ok(status),
                "{text}"
            );
        }
    }
}

#[test]
fn newest_release_wins_without_a_version() {
    let shared = 0xC000_0901_0000_0000;
    assert_eq!(
        Status::from_raw(shared).named(),
        Some(StatusCode::LimitCpuidMaxvalSet)
    );
    let v1_0 = ModuleVersion::V1_0;
    assert_eq!(
        Status::from_raw(shared).named_for_version(v1_0),
        Some(StatusCode::BootNt4SetV103)
    );
    // A 1.0.3 value no 1.5 code uses still has a name.
    assert_eq!(
        Status::from_raw(0x4000_0002_0000_0000).named(),
        Some(StatusCode::NonRecoverableTdV103)
    );
    assert_eq!(
        StatusCode::from_name("TDX_TD_FATAL"),
        Some(StatusCode::TdFatal)
    );
    assert_eq!(
        StatusCode::from_name_in("TDX_TD_FATAL", Release::V1_0_3),
        Some(StatusCode::TdFatalV103)
    );
    // 1.5.05's addition is unknown to 1.5.01.
    let x2apic = StatusCode::X2apicIdNotUnique.code();
    assert_eq!(StatusCode::from_code_in(x2apic, Release::V1_5_01), None);
    assert_eq!(
        StatusCode::from_code_for_version(x2apic, ModuleVersion::V1_5),
        None
    );
    assert_eq!(
        StatusCode::from_code_for_version(x2apic, ModuleVersion::V1_5_05),
        Some(StatusCode::X2apicIdNotUnique)
    );
    assert_eq!(
        StatusCode::from_code_in(StatusCode::RndNoEntropy.code(), Release::V1_0_3),
        None
    );
}

#[test]
fn release_for_version() {
    let v = |major, minor, update| ModuleVersion {
        major,
        minor,
        update,
    };
    assert_eq!(Release::for_version(v(1, 0, 3)), Release::V1_0_3);
    assert_eq!(Release::for_version(v(1, 0, 1)), Release::V1_0_3);
    assert_eq!(Release::for_version(v(1, 5, 1)), Release::V1_5_01);
    assert_eq!(Release::for_version(v(1, 5, 4)), Release::V1_5_01);
    assert_eq!(Release::for_version(v(1, 5, 5)), Release::V1_5_05);
    assert_eq!(Release::for_version(v(1, 5, 16)), Release::V1_5_06);
    assert_eq!(Release::for_version(v(1, 5, 30)), Release::V1_5_28);
    assert_eq!(Release::for_version(v(1, 5, 40)), Release::V1_5_32);
    assert_eq!(Release::for_version(v(2, 0, 8)), Release::V2_0_08);
    assert_eq!(Release::for_version(v(2, 0, 12)), Release::V2_0_08);
    assert_eq!(Release::for_version(v(2, 0, 18)), Release::V2_0_18);
    assert_eq!(Release::exact(v(2, 0, 12)), None);
    assert_eq!(Release::exact(v(1, 5, 28)), Some(Release::V1_5_28));
}

#[test]
fn no_duplicate_names_or_values_within_a_release() {
    for release in RELEASES {
        let mut names = HashSet::new();
        let mut values = HashSet::new();
        for code in module_codes(release) {
            assert!(names.insert(code.name()), "{release}: name {code} twice");
            assert!(
                values.insert(code.code()),
                "{release}: value of {code} twice"
            );
        }
    }
    let mut software = HashSet::new();
    for code in StatusCode::ALL.iter().filter(|c| c.is_software()) {
        assert!(software.insert(code.value()), "{code} twice");
        assert!(code.status().is_software());
    }
    // Names repeat only for the three codes 1.0.3 gave other values, and the one TDX
    // Connect code 2.0.08 gave another value than 2.0.18.
    let mut seen = HashSet::new();
    let repeated: Vec<_> = StatusCode::ALL
        .iter()
        .filter(|c| !seen.insert(c.name()))
        .map(|c| c.name())
        .collect();
    assert_eq!(
        repeated,
        [
            "TDX_IOMMU_IOTLB_TRACKING_NOT_REQUIRED",
            "TDX_NON_RECOVERABLE_TD",
            "TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE",
            "TDX_TD_FATAL"
        ]
    );
}

#[test]
fn variant_names_spell_the_spec_names() {
    for code in StatusCode::ALL {
        let variant = format!("{code:?}");
        let variant = variant.strip_suffix("V103").unwrap_or(&variant);
        let variant = variant.strip_suffix("V2008").unwrap_or(variant);
        let spec = code.name();
        let spec = spec.strip_prefix("TDX_").unwrap_or(spec).replace('_', "");
        assert!(
            variant.eq_ignore_ascii_case(&spec),
            "{variant} vs {}",
            code.name()
        );
        assert_eq!(
            code.in_release(Release::V1_0_3) && !code.in_release(Release::V1_5_01),
            format!("{code:?}").ends_with("V103")
        );
    }
}

#[test]
fn every_class_decodes() {
    let named: HashSet<u8> = classes().collect();
    for code in StatusCode::ALL {
        assert!(named.contains(&code.class()), "{code} has an unnamed class");
    }
    for class in classes() {
        assert!(
            StatusCode::ALL.iter().any(|c| c.class() == class),
            "class {class:#x} has no code"
        );
    }
    for class in 0..=255u8 {
        // Details L1 0xEE is unused in every class.
        let raw = 0xC000_0000_0000_0000 | (class as u64) << 40 | 0xEE << 32 | 0x42;
        let status = Status::from_raw(raw);
        assert_eq!(status.class(), class);
        assert_eq!(status.named(), None);
        let text = status.to_string();
        assert!(text.starts_with(&format!("{raw:#018X} ")), "{text}");
        assert!(text.contains(&format!("class {class:#04x}")), "{text}");
        match class_name(class) {
            Some(name) => assert!(text.contains(name), "{text}"),
            None => assert!(text.contains("unknown"), "{text}"),
        }
        let debug = format!("{status:?}");
        assert!(debug.contains(&format!("{raw:#018x}")), "{debug}");
    }
}

#[test]
fn unknown_codes_keep_all_64_bits() {
    let mut state = 0x5EED;
    let mut unknown = vec![
        0xC000_0B99_0000_0000,
        0x0000_0099_0000_0001,
        0xFFFF_FFFF_FFFF_FFFF,
        0xC001_0100_0000_0001, // reserved bit 48 set on OPERAND_INVALID
        0x8000_FF00_0000_0007, // software class, unknown vector
    ];
    while unknown.len() < 2000 {
        unknown.push(lcg(&mut state));
    }
    for raw in unknown {
        let status = Status::from_raw(raw);
        assert_eq!(status.raw(), raw);
        assert_eq!(u64::from(status), raw);
        let text = status.to_string();
        let first = text.split(' ').next().unwrap();
        assert_eq!(parse_hex_u64(first), Ok(raw), "{text}");
        assert_eq!(
            parse_status_text(&text).map(|p| p.status.raw()),
            Ok(raw),
            "{text}"
        );
        if status.named().is_none() {
            assert!(text.contains(&format!("{:#010X}", status.code())), "{text}");
            if status.details_l2() != 0 {
                assert!(
                    text.contains(&format!("{:#010x}", status.details_l2())),
                    "{text}"
                );
            }
            assert_eq!(status.details().raw(), raw as u32);
            assert_eq!(status.details().kind(), DetailsKind::None);
        }
        let error = Error::from(status);
        assert_eq!(error.status(), Some(status));
    }
}

#[test]
fn operand_ranges_name_what_they_should() {
    let gprs = [
        "RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI", "R8", "R9", "R10", "R11", "R12",
        "R13", "R14", "R15",
    ];
    let regs = Regs {
        rcx: 1,
        rdx: 2,
        rbx: 3,
        rsi: 6,
        rdi: 7,
        r8: 8,
        r9: 9,
        r10: 10,
        r11: 11,
        r12: 12,
        r13: 13,
        r14: 14,
        r15: 15,
    };
    for (index, name) in gprs.iter().enumerate() {
        let operand = Operand::from_id(index as u32);
        assert_eq!(operand.name(), Some(*name));
        assert_eq!(operand.group(), Some(OperandGroup::Gpr));
        assert_eq!(operand.gpr_index(), Some(index as u8));
        // The hardware index picks the same register out of Regs.
        if let Some(value) = regs.by_hw_index(index as u8) {
            assert_eq!(value, index as u64, "{name}");
        }
    }
    let td_params = [
        "ATTRIBUTES",
        "XFAM",
        "EXEC_CONTROLS",
        "EPTP_CONTROLS",
        "MAX_VCPUS",
        "CPUID_CONFIG",
        "TSC_FREQUENCY",
        "NUM_L2_VMS",
        "IA32_ARCH_CAPABILITIES_CONFIG",
    ];
    for (offset, name) in td_params.iter().enumerate() {
        let operand = Operand::from_id(64 + offset as u32);
        assert_eq!(operand.name(), Some(*name));
        assert_eq!(operand.group(), Some(OperandGroup::TdParams));
        assert_eq!(operand.to_string(), format!("TD_PARAMS.{name}"));
    }
    for (id, name) in [
        (95, "PAGE"),
        (96, "TDMR_INFO_PA"),
        (97, "GPA_LIST_ENTRY"),
        (98, "MIG_BUFF_LIST_ENTRY"),
        (99, "NEW_PAGE_LIST_ENTRY"),
    ] {
        assert_eq!(Operand::from_id(id).name(), Some(name));
        assert_eq!(Operand::from_id(id).group(), Some(OperandGroup::PageOrList));
    }
    for (id, name) in [
        (128, "TDR"),
        (129, "TDCX"),
        (130, "TDVPR"),
        (131, "TDVPX"),
        (132, "REG_PAGE"),
        (144, "TDCS"),
        (145, "TDVPS"),
        (146, "SEPT_TREE"),
        (147, "SEPT_ENTRY"),
        (168, "RTMR"),
        (169, "TD_EPOCH"),
        (170, "L2_VAPIC_GPA"),
        (171, "MIGSC"),
        (172, "OP_STATE"),
        (173, "MIG"),
        (174, "SERVTD_BINDINGS"),
        (176, "METADATA_FIELD"),
    ] {
        assert_eq!(Operand::from_id(id).name(), Some(name));
        assert_eq!(
            Operand::from_id(id).group(),
            Some(OperandGroup::ControlStructure)
        );
    }
    for (id, name) in [
        (184, "SYS"),
        (185, "TDMR"),
        (186, "KOT"),
        (187, "KET"),
        (188, "WBCACHE"),
    ] {
        assert_eq!(Operand::from_id(id).name(), Some(name));
        assert_eq!(Operand::from_id(id).group(), Some(OperandGroup::Global));
    }
    for unnamed in [16, 63, 73, 94, 101, 127, 133, 179, 183, 189, 0xFFFF_FFFF] {
        let operand = Operand::from_id(unnamed);
        assert_eq!(operand.name(), None);
        assert_eq!(operand.to_string(), format!("{unnamed:#x}"));
    }
    // 1.5 and 1.0.3's TDVPX, then what 1.5.28 to 2.0.18 add (tests/versions.rs checks them).
    assert_eq!(Operand::ALL.len(), 16 + 9 + 5 + 17 + 5 + 13);
    // "R8 + vm_id" in TDH.MEM.SEPT.ADD v1 and TDH.MEM.PAGE.DEMOTE.
    for vm in 1..=3u8 {
        let operand = Operand::for_l2_vm(vm);
        assert_eq!(operand.l2_vm_id(), Some(vm));
        assert_eq!(operand.gpr_index(), Some(8 + vm));
    }
    assert_eq!(Operand::R8.l2_vm_id(), None);
    assert_eq!(Operand::R12.l2_vm_id(), None);
    let status = StatusCode::L2SeptPageNotProvided.with_operand(Operand::for_l2_vm(2));
    assert_eq!(status.operand(), Some(Operand::R10));
}

#[test]
fn non_error_codes_are_not_errors() {
    let warnings = [
        "TDX_PAGE_ALREADY_FREE",
        "TDX_KEY_CONFIGURED",
        "TDX_NO_HKID_READY_TO_WBCACHE",
        "TDX_TDMR_ALREADY_INITIALIZED",
        "TDX_GPA_RANGE_ALREADY_BLOCKED",
        "TDX_PAGE_ALREADY_ACCEPTED",
        "TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT",
        "TDX_METADATA_FIELD_SKIP",
        "TDX_ALREADY_WRITE_BLOCKED",
        "TDX_L2_EXIT_HOST_ROUTED_ASYNC",
        "TDX_L2_EXIT_HOST_ROUTED_TDVMCALL",
        "TDX_L2_EXIT_PENDING_INTERRUPT",
        "TDX_PENDING_INTERRUPT",
        "TDX_TD_EXIT_BEFORE_L2_ENTRY",
        "TDX_TD_EXIT_ON_L2_VM_EXIT",
        "TDX_TD_EXIT_ON_L2_TO_L1",
        "TDX_MEM_RANGE_SCAN_SUCCESS",
        "TDX_MEM_SCAN_SUCCESS",
        "TDX_DEVIF_ALREADY_VALID",
        "TDX_MMIO_PAGE_ALREADY_ACCEPTED",
        "TDX_IOMMU_IOTLB_TRACKING_NOT_REQUIRED",
        "TDX_GUEST_INV_NOT_REQUIRED",
        "TDX_IOTLB_INV_REQUEST",
    ];
    let non_recoverable = [
        "TDX_NON_RECOVERABLE_VCPU",
        "TDX_NON_RECOVERABLE_TD",
        "TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE",
        "TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE",
        "TDX_NON_RECOVERABLE_TD_CORRUPTED_MD",
        "TDX_NON_RECOVERABLE_TD_FATAL",
    ];
    for code in StatusCode::ALL {
        let status = code.with_details(1);
        let expected = if code.name() == "TDX_SUCCESS" {
            StatusKind::Success
        } else if warnings.contains(&code.name()) && !code.is_error() {
            StatusKind::Warning
        } else if non_recoverable.contains(&code.name()) && !code.is_error() {
            StatusKind::NonRecoverable
        } else {
            StatusKind::Error
        };
        assert_eq!(status.kind(), expected, "{code}");
        assert_eq!(status.is_error(), expected == StatusKind::Error, "{code}");
        assert_eq!(
            status.check().is_ok(),
            expected != StatusKind::Error,
            "{code}"
        );
        assert_eq!(
            status.is_warning(),
            expected == StatusKind::Warning,
            "{code}"
        );
    }
    // Success with data in bits 31:0 is still success.
    let exit = Status::from_raw(48);
    assert!(exit.is_success());
    assert_eq!(
        exit.exit_reason().map(|r| r.name()),
        Some(Some("EPT_VIOLATION"))
    );
    assert_eq!(
        Status::SEAMCALL_UD.check(),
        Err(Error::Status(Status::SEAMCALL_UD))
    );
}

#[test]
fn display_reads_like_the_spec() {
    let status = Status::from_raw(0xC000_0100_0000_0001);
    assert_eq!(
        status.to_string(),
        format!(
            "0xC000010000000001 TDX_OPERAND_INVALID (operand RCX): {}",
            StatusCode::OperandInvalid.description()
        )
    );
    assert_eq!(
        Status::SUCCESS.to_string(),
        format!(
            "0x0000000000000000 TDX_SUCCESS: {}",
            StatusCode::Success.description()
        )
    );
    assert_eq!(
        Status::SEAMCALL_VMFAILINVALID.to_string(),
        format!(
            "0x8000FF00FFFF0000 TDX_SEAMCALL_VMFAILINVALID: {}",
            StatusCode::SeamcallVmfailinvalid.description()
        )
    );
    for (raw, details) in [
        (0x0000_0B0A_0000_0001, "SEPT level 1, 2M"),
        (0xC000_0920_0000_010A, "MSR 0x10a"),
        (0x4000_0001_0000_0030, "exit reason 48 EPT_VIOLATION"),
        (
            0x4000_0001_8000_0021,
            "exit reason 33 ENTRY_FAIL_GUEST_STATE (flags 0x80000000, VM-entry failure)",
        ),
        (0xC000_0B0F_0002_0001, "L2 VM 2, SEPT level 1, 2M"),
        (0xC000_0A12_0002_0103, "TDMR 3, 2M PAMT, other TDMR 2"),
        (0xC000_0C00_FFFF_0007, "metadata list element 7"),
        (0x8000_0200_0000_0092, "operand SEPT_TREE"),
        (0xC000_0100_0000_0040, "operand TD_PARAMS.ATTRIBUTES"),
        (0xC000_0100_0000_1234, "operand 0x1234"),
        (0xC000_0600_0000_0005, "details 0x00000005"),
    ] {
        let text = Status::from_raw(raw).to_string();
        assert!(text.contains(&format!(" ({details}): ")), "{text}");
    }
    let debug = format!("{:?}", Status::from_raw(0xC000_0100_0000_0001));
    for field in [
        "raw: 0xc000010000000001",
        "name: Some(\"TDX_OPERAND_INVALID\")",
        "kind: Error",
        "error: true",
        "non_recoverable: true",
        "fatal: false",
        "host_recoverability_hint: false",
        "reserved: 0x0",
        "class: 0x01 (operand)",
        "details_l1: 0x00",
        "details_l2: 0x00000001",
        "details: operand RCX",
    ] {
        assert!(debug.contains(field), "{field} missing from {debug}");
    }
}

#[test]
fn tdvmcall_table() {
    let mut values = HashSet::new();
    let mut names = HashSet::new();
    for &code in TdvmcallCode::ALL {
        assert!(values.insert(code.value()));
        assert!(names.insert(code.name()));
        assert_eq!(TdvmcallCode::from_value(code.value()), Some(code));
        assert_eq!(TdvmcallCode::from_name(code.name()), Some(code));
        assert_eq!(code.status().named(), Some(code));
        assert_eq!(code.status().is_error(), code.value() >> 63 == 1);
    }
    assert_eq!(TdvmcallCode::ALL.len(), 6);
    assert!(TdvmcallCode::GpaInuse.description().contains("QEMU"));
    assert_eq!(
        TdvmcallCode::SubfuncUnsupported.value(),
        0x8000_0000_0000_0003
    );
    assert!(TdvmcallStatus::RETRY.is_retry() && TdvmcallStatus::RETRY.check().is_ok());
    let refused = TdvmcallStatus::from_raw(0x8000_0000_0000_0000);
    assert_eq!(refused.check(), Err(Error::Tdvmcall(refused)));
    assert_eq!(
        refused.to_string(),
        format!(
            "0x8000000000000000 TDVMCALL_STATUS_INVALID_OPERAND: {}",
            TdvmcallCode::InvalidOperand.description()
        )
    );
    let odd = TdvmcallStatus::from_raw(0x8000_0000_0000_0042);
    assert!(odd.to_string().starts_with("0x8000000000000042 unknown"));
}

#[test]
fn the_error_type() {
    fn assert_error<E: core::error::Error>(_: &E) {}
    let error = Error::from(StatusCode::OperandBusy.with_operand(Operand::TDR));
    assert_error(&error);
    assert!(
        error.to_string().contains("TDX_OPERAND_BUSY (operand TDR)"),
        "{error}"
    );
    let error = Error::from(TdvmcallStatus::from_raw(0x8000_0000_0000_0002));
    assert_eq!(
        error.tdvmcall_status().map(|s| s.raw()),
        Some(0x8000_0000_0000_0002)
    );
    assert!(
        error.to_string().contains("TDVMCALL_STATUS_ALIGN_ERROR"),
        "{error}"
    );
    let result: tdxcall::Result<()> = Err(error);
    assert!(result.is_err());
}

#[test]
fn text_forms() {
    let expect = 0xC000_0100_0000_0001;
    for text in [
        "0xC000010000000001",
        "0xc000010000000001",
        "0XC000010000000001",
        "C000010000000001",
        "c000010000000001",
        "0xc000_0100_0000_0001",
        "c000_0100_0000_0001",
        "  0xC000010000000001\n",
        "status 0xC000010000000001",
    ] {
        let parsed = parse_status_text(text).unwrap();
        assert_eq!(parsed.status.raw(), expect, "{text:?}");
        assert_eq!(parsed.call, None, "{text:?}");
    }
    let linux = parse_status_text(
        "[   12.345678] virt/tdx: SEAMCALL (0x0000000000000015) failed: 0xc000010000000000",
    )
    .unwrap();
    assert_eq!(linux.status.raw(), 0xC000_0100_0000_0000);
    let call = linux.call.unwrap();
    assert_eq!(call.side, Side::Host);
    assert_eq!(call.leaf, LoggedLeaf::Rax(0x15));

    let kvm = parse_status_text(
        "kvm_intel: SEAMCALL TDH_MEM_PAGE_ADD failed: 0xc0000b0d00000001, rcx 0x0",
    )
    .unwrap();
    assert_eq!(kvm.status.raw(), 0xC000_0B0D_0000_0001);
    assert_eq!(kvm.call.unwrap().leaf, LoggedLeaf::Name("TDH_MEM_PAGE_ADD"));

    let guest = parse_status_text("TDCALL 0x10006 failed: 0x00000B0A00000001").unwrap();
    assert_eq!(guest.call.unwrap().side, Side::Guest);
    assert_eq!(guest.call.unwrap().leaf, LoggedLeaf::Rax(0x1_0006));
    assert_eq!(guest.status.named(), Some(StatusCode::PageAlreadyAccepted));

    let by_name = parse_status_text("TDX_PAGE_ALREADY_ACCEPTED").unwrap();
    assert_eq!(by_name.status, StatusCode::PageAlreadyAccepted.status());

    for (text, error) in [
        ("", ParseStatusError::Empty),
        ("   ", ParseStatusError::Empty),
        ("0x", ParseStatusError::NoDigits),
        ("0x__", ParseStatusError::NoDigits),
        ("0xZZ", ParseStatusError::InvalidDigit { ch: 'Z', index: 2 }),
        ("12g4", ParseStatusError::InvalidDigit { ch: 'g', index: 2 }),
        ("0x1_0000_0000_0000_0000", ParseStatusError::TooLarge),
        ("SEAMCALL (0x15) failed:", ParseStatusError::NoStatus),
        (
            "SEAMCALL (0x15) failed: oops",
            ParseStatusError::InvalidDigit { ch: 'o', index: 0 },
        ),
        ("nothing to see here", ParseStatusError::NoStatus),
        (
            "RCX 0x1 RDX 0x2",
            ParseStatusError::Ambiguous { candidates: 2 },
        ),
    ] {
        assert_eq!(parse_status_text(text), Err(error), "{text:?}");
    }
    // Leading zeros are not overflow.
    assert_eq!(parse_hex_u64("0x0000_0000_0000_0000_0001"), Ok(1));
    assert_eq!(parse_hex_u64("ffffffffffffffff"), Ok(u64::MAX));
}

#[test]
fn field_ids_parse_and_decode() {
    let id: FieldId = "0x9100_0001_0000_0008".parse().unwrap();
    assert_eq!(id.context(), Some(Context::Platform));
    assert_eq!(id.class_code(), 17);
    assert_eq!(id.element_size(), ElementSize::Bytes2);
    assert_eq!(
        id.to_string(),
        "0x9100000100000008 (SYS class 17, field 0x000008, 2-byte elements, non-architectural)"
    );
    assert!(FieldId::parse("0xnope").is_err());
    assert_eq!(
        FieldId::null(Context::Td).to_string(),
        "0xFF9FFFFFFFFFFFFF (null ID of the TD context)"
    );
    let bad = FieldId::from_raw(0x1110_0003_0100_0000);
    assert!(matches!(
        bad.check_single_element(),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(bad.single_element_violations(), 0x0100_0000);
}

#[cfg(feature = "std")]
mod decode_example {
    use std::path::PathBuf;
    use std::process::{Command, Output};
    use std::sync::Once;

    /// The example binary, built (or found up to date) once per test run with the same
    /// cargo, profile and target directory as this test.
    fn binary() -> PathBuf {
        static BUILT: Once = Once::new();
        let test_exe = std::env::current_exe().unwrap();
        let profile_dir = test_exe.parent().unwrap().parent().unwrap().to_path_buf();
        BUILT.call_once(|| {
            // The same features as this test build, so nothing is rebuilt needlessly.
            let features = if cfg!(feature = "loopback") {
                "std loopback"
            } else {
                "std"
            };
            let mut build = Command::new(env!("CARGO"));
            build
                .args([
                    "build",
                    "--quiet",
                    "--example",
                    "decode",
                    "--features",
                    features,
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if profile_dir.ends_with("release") {
                build.arg("--release");
            }
            assert!(
                build.status().unwrap().success(),
                "building the decode example"
            );
        });
        profile_dir
            .join("examples")
            .join(format!("decode{}", std::env::consts::EXE_SUFFIX))
    }

    fn decode(args: &[&str]) -> Output {
        Command::new(binary()).args(args).output().unwrap()
    }

    fn stdout(output: &Output) -> String {
        String::from_utf8(output.stdout.clone()).unwrap()
    }

    #[test]
    fn decodes_values_names_and_log_lines() {
        let output = decode(&[
            "0xC000010000000001",
            "c000_0b0d_0000_0001",
            "TDX_KEY_CONFIGURED",
        ]);
        assert!(output.status.success(), "{output:?}");
        let text = stdout(&output);
        assert!(
            text.contains("0xC000010000000001 TDX_OPERAND_INVALID (operand RCX): "),
            "{text}"
        );
        assert!(
            text.contains("TDX_EPT_ENTRY_STATE_INCORRECT (operand RCX)"),
            "{text}"
        );
        assert!(
            text.contains("0x0000081500000000 TDX_KEY_CONFIGURED"),
            "{text}"
        );
        assert!(text.contains("warning"), "{text}");

        let output = decode(&["SEAMCALL (0x0000000000000015) failed: 0xc000010000000000"]);
        assert!(output.status.success(), "{output:?}");
        let text = stdout(&output);
        assert!(text.contains("TDX_OPERAND_INVALID (operand RAX)"), "{text}");
        assert!(
            text.contains("SEAMCALL leaf 21 TDH.MNG.INIT, version 0"),
            "{text}"
        );

        // The same line unquoted, as a shell splits it.
        let output = decode(&[
            "SEAMCALL",
            "TDH_MEM_PAGE_ADD",
            "failed:",
            "0xC0000B0D00000001",
        ]);
        assert!(output.status.success(), "{output:?}");
        assert!(stdout(&output).contains("SEAMCALL TDH.MEM.PAGE.ADD (leaf 2)"));
    }

    #[test]
    fn decodes_field_ids_tdvmcall_and_releases() {
        let output = decode(&["--field", "0x9100000100000008"]);
        assert!(output.status.success(), "{output:?}");
        assert!(stdout(&output).contains("single element: valid"));

        let output = decode(&["--tdvmcall", "0x8000000000000001"]);
        assert!(stdout(&output).contains("TDVMCALL_STATUS_GPA_INUSE"));

        let output = decode(&["--module", "1.0.3", "0xC000090100000000"]);
        assert!(stdout(&output).contains("TDX_BOOT_NT4_SET"), "{output:?}");
        let output = decode(&["0xC000090100000000"]);
        assert!(
            stdout(&output).contains("TDX_LIMIT_CPUID_MAXVAL_SET"),
            "{output:?}"
        );
        // What a code means in each read module, when that differs.
        assert!(
            stdout(&output)
                .contains("by module: 1.0.03 TDX_BOOT_NT4_SET | 1.5.01 TDX_LIMIT_CPUID_MAXVAL_SET"),
            "{output:?}"
        );
        let output = decode(&["--module", "2.0.08", "0xC0000F0100000000"]);
        let text = stdout(&output);
        assert!(text.contains("TDX_IOMMU_IQ_QUEUE_FULL"), "{text}");
        assert!(text.contains("2.0.18 —"), "{text}");
        let output = decode(&["--module", "1.5.05", "0x00000E1800000000"]);
        let text = stdout(&output);
        assert!(text.contains("not defined in module 1.5.05"), "{text}");
        assert!(text.contains("TDX_MEM_SCAN_SUCCESS"), "{text}");
        let output = decode(&["--module", "2.0.12", "0xC000010000000000"]);
        assert!(
            stdout(&output)
                .contains("module 2.0.12 was not read; decoded with the codes of 2.0.08"),
            "{output:?}"
        );
    }

    #[test]
    fn bad_input_is_a_clear_message_and_a_non_zero_exit() {
        for (args, message, code) in [
            (&["0xZZ"][..], "'Z' at offset 2 is not a hex digit", 1),
            (
                &["0x1_0000_0000_0000_0000"][..],
                "does not fit in 64 bits",
                1,
            ),
            (&["--field", "0xnope"][..], "is not a hex digit", 1),
            (&["RCX 0x1 RDX 0x2"][..], "no \"failed:\"", 1),
            (&[][..], "nothing to decode", 2),
            (&["--bogus"][..], "unknown option --bogus", 2),
            (&["--module"][..], "--module needs a version", 2),
            (&["--module", "one", "0"][..], "is not a version", 2),
        ] {
            let output = decode(args);
            assert_eq!(output.status.code(), Some(code), "{args:?}: {output:?}");
            let stderr = String::from_utf8(output.stderr).unwrap();
            assert!(stderr.contains(message), "{args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        }
        // One bad input does not stop the good ones.
        let output = decode(&["0xZZ", "0x0"]);
        assert_eq!(output.status.code(), Some(1));
        assert!(stdout(&output).contains("TDX_SUCCESS"));
    }
}
