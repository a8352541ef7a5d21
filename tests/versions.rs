//! The version columns of the crate's tables against transcriptions of the module source
//! (`tests/data/*.txt`, each with its repository, commit and path): statuses, operand IDs,
//! leaves and leaf versions, TDX_FEATURES0 bits and metadata fields, per module version.

use std::collections::BTreeMap;

use tdxcall::leaf::{Leaf, ModuleVersion, Side};
use tdxcall::status::{Operand, Release, StatusCode};

const STATUS_FULL: &str = include_str!("data/status-2.0.18.txt");
const STATUS_DERIVED: &str = include_str!("data/status-codes.txt");
const OPERANDS: &str = include_str!("data/operands-2.0.18.txt");

fn data_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Name -> bits 63:32, per version label, from the status transcription.
fn transcribed_statuses() -> BTreeMap<String, BTreeMap<String, u32>> {
    let full: BTreeMap<String, u32> = data_lines(STATUS_FULL)
        .map(|line| {
            let (value, name) = line.split_once(' ').expect(line);
            (
                name.to_string(),
                u32::from_str_radix(value, 16).expect(line),
            )
        })
        .collect();
    let mut sets = BTreeMap::new();
    let mut current = String::new();
    for line in data_lines(STATUS_DERIVED) {
        if let Some(header) = line.strip_prefix('[') {
            let (label, rest) = header.split_once("] ").expect(line);
            current = label.to_string();
            let set = match rest.split_once(' ') {
                Some(("full", _)) => full.clone(),
                Some(("from", base)) => sets.get(base).cloned().expect(line),
                _ => panic!("bad header {line:?}"),
            };
            sets.insert(current.clone(), set);
            continue;
        }
        let set = sets.get_mut(&current).expect(line);
        if line == "- class 0F" {
            set.retain(|_, code| (*code >> 8) & 0xFF != 0x0F);
        } else if let Some(name) = line.strip_prefix("- ") {
            assert!(
                set.remove(name).is_some(),
                "{current}: {name} not in its base"
            );
        } else if let Some(rest) = line.strip_prefix("+ ") {
            let (value, name) = rest.split_once(' ').expect(line);
            set.insert(
                name.to_string(),
                u32::from_str_radix(value, 16).expect(line),
            );
        } else {
            panic!("bad line {line:?}");
        }
    }
    sets
}

fn table_statuses(release: Release) -> BTreeMap<String, u32> {
    StatusCode::ALL
        .iter()
        .filter(|code| code.in_release(release))
        .map(|code| (code.name().to_string(), code.code()))
        .collect()
}

#[test]
fn every_newer_release_of_the_status_table_is_its_header() {
    let sets = transcribed_statuses();
    for release in [
        Release::V1_5_06,
        Release::V1_5_28,
        Release::V1_5_32,
        Release::V2_0_08,
        Release::V2_0_18,
    ] {
        let label = release.to_string();
        let expected = sets.get(&label).unwrap_or_else(|| panic!("no {label}"));
        assert_eq!(&table_statuses(release), expected, "{label}");
    }
}

#[test]
fn status_counts_per_version() {
    let counts: Vec<(String, usize)> = Release::NEWEST_FIRST
        .iter()
        .rev()
        .map(|release| (release.to_string(), table_statuses(*release).len()))
        .collect();
    let expected = [
        ("1.0.03", 92),
        ("1.5.01", 165),
        ("1.5.05", 166),
        ("1.5.06", 167),
        ("1.5.28", 183),
        ("1.5.32", 202),
        ("2.0.08", 265),
        ("2.0.18", 289),
    ];
    let expected: Vec<(String, usize)> = expected
        .iter()
        .map(|(label, count)| (label.to_string(), *count))
        .collect();
    assert_eq!(counts, expected);
}

#[test]
fn codes_that_mean_something_else_per_version() {
    // 0xC0000F01: 2.0.08 calls it IOMMU_IQ_QUEUE_FULL; 2.0.18 has IOMMU_IQ_FULL at 0x80000F01.
    let queue_full = 0xC000_0F01;
    assert_eq!(
        StatusCode::from_code_in(queue_full, Release::V2_0_08).map(StatusCode::name),
        Some("TDX_IOMMU_IQ_QUEUE_FULL")
    );
    assert_eq!(StatusCode::from_code_in(queue_full, Release::V2_0_18), None);
    assert_eq!(
        StatusCode::from_code_in(0x8000_0F01, Release::V2_0_18).map(StatusCode::name),
        Some("TDX_IOMMU_IQ_FULL")
    );
    // The memory-scan codes exist in 1.5.32 and 2.0.18, not in 2.0.08.
    let scan = StatusCode::MemScanSuccess.code();
    assert!(StatusCode::from_code_in(scan, Release::V1_5_32).is_some());
    assert!(StatusCode::from_code_in(scan, Release::V2_0_08).is_none());
    assert!(StatusCode::from_code_in(scan, Release::V1_5_05).is_none());
}

#[test]
fn operand_ids_of_2_0_18_are_named_as_its_header() {
    for line in data_lines(OPERANDS) {
        let (id, name) = line.split_once(' ').expect(line);
        let operand = Operand::from_id(id.parse().expect(line));
        assert_eq!(operand.name(), Some(name), "operand {id}");
    }
    // Every named operand but 1.0.3's TDVPX (131) and the reserved RSP (4) is in the list.
    let listed = data_lines(OPERANDS).count();
    assert_eq!(Operand::ALL.len(), listed + 2);
}

const LEAVES: &str = include_str!("data/leaves.txt");
const ABI_LEAVES: &str = include_str!("data/abi-leaves.txt");

fn parse_leaf_list(words: &mut dyn Iterator<Item = &str>) -> Vec<(Side, u16)> {
    let mut side = None;
    let mut leaves = Vec::new();
    for word in words {
        match word {
            "base" => leaves.extend(data_lines(ABI_LEAVES).map(|line| {
                let mut fields = line.split_whitespace();
                let side = if fields.next() == Some("host") {
                    Side::Host
                } else {
                    Side::Guest
                };
                (side, fields.next().unwrap().parse().unwrap())
            })),
            "host" => side = Some(Side::Host),
            "guest" => side = Some(Side::Guest),
            number => leaves.push((side.expect(number), number.parse().expect(number))),
        }
    }
    leaves.sort();
    leaves
}

fn table_leaves(version: ModuleVersion, leaf_version: u8) -> Vec<(Side, u16)> {
    let mut leaves: Vec<(Side, u16)> = Leaf::ALL
        .iter()
        .filter(|leaf| leaf.modules_with_version(leaf_version).contains(version))
        .map(|leaf| (leaf.side(), leaf.number()))
        .collect();
    leaves.sort();
    leaves
}

#[test]
fn leaf_table_per_version_is_the_dispatchers() {
    let mut checked = 0;
    for line in data_lines(LEAVES) {
        let (head, rest) = line.split_once(": ").expect(line);
        let (leaf_version, label) = match head.strip_prefix("v1 ") {
            Some(label) => (1, label),
            None => (0, head),
        };
        let version = ModuleVersion::parse(label).expect(line);
        let expected = parse_leaf_list(&mut rest.split_whitespace());
        assert_eq!(
            table_leaves(version, leaf_version),
            expected,
            "{version} v{leaf_version}"
        );
        checked += 1;
    }
    assert_eq!(checked, 10);
}

#[test]
fn leaf_counts_per_version() {
    let count = |version, side| {
        table_leaves(version, 0)
            .iter()
            .filter(|(s, _)| *s == side)
            .count()
    };
    let counts: Vec<(String, usize, usize)> = ModuleVersion::READ
        .iter()
        .map(|&v| (v.to_string(), count(v, Side::Host), count(v, Side::Guest)))
        .collect();
    let expected = [
        ("1.0.03", 43, 9),
        ("1.5.01", 68, 21),
        ("1.5.05", 68, 21),
        ("1.5.06", 68, 21),
        ("1.5.28", 70, 21),
        ("1.5.32", 74, 22),
        ("2.0.08", 71, 21),
        ("2.0.18", 75, 22),
    ];
    let expected: Vec<(String, usize, usize)> = expected
        .iter()
        .map(|(v, h, g)| (v.to_string(), *h, *g))
        .collect();
    assert_eq!(counts, expected);
}

// ---------------------------------------------------------------------------------------
// Recording tests: every new wrapper and leaf version, RAX and every register in and out.

use std::cell::RefCell;
use tdxcall::abi::mig::{GpaListInfo, Mbmd, MigCommand, MigStreamIndex};
use tdxcall::abi::seamldr::{SeamldrInfo, SeamldrParams};
use tdxcall::abi::{GuestPhysAddr, Hkid, HostPhysAddr, PageLevel, TdrPage, TdxFeatures0};
use tdxcall::call::{CallKind, FnBackend};
use tdxcall::error::InvalidReason;
use tdxcall::guest::Guest;
use tdxcall::host::export::MemBundle;
use tdxcall::host::scan::ScanRegs;
use tdxcall::host::versions::SysConfigOptions;
use tdxcall::host::Host;
use tdxcall::leaf::SeamldrLeaf;
use tdxcall::xstate::Preserve;
use tdxcall::{Error, Regs, Status};

/// Distinct output values, so a wrapper reading the wrong register is caught.
const OUT: Regs = Regs {
    rcx: 0x0C0C_0000_0000_1000,
    rdx: 0x0000_0000_0040_1000,
    r8: 0x0000_0000_0080_2000,
    r9: 0x0909_0000_0000_0100,
    r10: 0x1010_0000_0000_000A,
    r11: 0x1111_0000_0000_000B,
    r12: 0x1212_0000_0000_000C,
    r13: 0x1313_0000_0000_000D,
    r14: 0x1414_0000_0000_000E,
    r15: 0x1515_0000_0000_000F,
    rbx: 0x0B0B_0000_0000_0003,
    rdi: 0x0D1D_0000_0000_0007,
    rsi: 0x0515_0000_0000_0006,
};

type Log = RefCell<Vec<(CallKind, u64, Regs)>>;
/// The recording backend's closure type.
type Recorder<'a> = Box<dyn FnMut(CallKind, u64, &mut Regs) -> Status + 'a>;

/// Runs `f` over a host whose backend records every call and answers `status` with [`OUT`].
fn record_host<R>(
    status: u64,
    f: impl FnOnce(&mut Host<FnBackend<Recorder<'_>>>) -> R,
    log: &Log,
) -> R {
    let backend = move |kind: CallKind, rax: u64, regs: &mut Regs| {
        log.borrow_mut().push((kind, rax, *regs));
        *regs = OUT;
        Status::from_raw(status)
    };
    let boxed: Recorder<'_> = Box::new(backend);
    f(&mut Host::new(FnBackend(boxed)))
}

fn record_guest<R>(
    status: u64,
    f: impl FnOnce(&mut Guest<FnBackend<Recorder<'_>>>) -> R,
    log: &Log,
) -> R {
    let backend = move |kind: CallKind, rax: u64, regs: &mut Regs| {
        log.borrow_mut().push((kind, rax, *regs));
        *regs = OUT;
        Status::from_raw(status)
    };
    let boxed: Recorder<'_> = Box::new(backend);
    f(&mut Guest::new(FnBackend(boxed)))
}

fn only(log: &Log) -> (CallKind, u64, Regs) {
    let calls = log.borrow();
    assert_eq!(calls.len(), 1, "{calls:?}");
    calls[0]
}

fn hpa(raw: u64) -> HostPhysAddr {
    HostPhysAddr::new(raw).unwrap()
}

#[test]
fn pamt_add_and_remove_registers() {
    let log = Log::default();
    let status = record_host(
        0,
        |h| unsafe { h.phymem_pamt_add(hpa(0x4020_0000), hpa(0x1000), hpa(0x2000)) },
        &log,
    );
    assert_eq!(status, Ok(Status::SUCCESS));
    let (kind, rax, regs) = only(&log);
    assert_eq!((kind, rax), (CallKind::Seamcall, 58));
    assert_eq!(
        regs,
        Regs {
            rcx: 0x4020_0001,
            rdx: 0x1000,
            r8: 0x2000,
            ..Regs::ZERO
        }
    );

    let log = Log::default();
    let pair = record_host(
        0,
        |h| unsafe { h.phymem_pamt_remove(hpa(0x4020_0000)) },
        &log,
    )
    .unwrap();
    let (_, rax, regs) = only(&log);
    assert_eq!(rax, 59);
    assert_eq!(
        regs,
        Regs {
            rcx: 0x4020_0001,
            ..Regs::ZERO
        }
    );
    assert_eq!((pair.first.raw(), pair.second.raw()), (OUT.rdx, OUT.r8));
}

#[test]
fn pamt_arguments_are_checked_before_any_call() {
    let log = Log::default();
    let misaligned = record_host(
        0,
        |h| unsafe { h.phymem_pamt_add(hpa(0x4000_1000), hpa(0x1000), hpa(0x2000)) },
        &log,
    );
    assert!(
        matches!(misaligned, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::Misaligned { required: 0x20_0000, .. }))
    );
    let page = record_host(
        0,
        |h| unsafe { h.phymem_pamt_add(hpa(0x4020_0000), hpa(0x1008), hpa(0x2000)) },
        &log,
    );
    assert!(matches!(page, Err(Error::InvalidArgument(_))));
    let remove = record_host(0, |h| unsafe { h.phymem_pamt_remove(hpa(0x10_0000)) }, &log);
    assert!(matches!(remove, Err(Error::InvalidArgument(_))));
    assert!(log.borrow().is_empty(), "no instruction may run");
}

#[test]
fn scan_leaves_pass_exactly_the_dispatchers_registers() {
    let inputs = ScanRegs {
        rcx: 1,
        rdx: 2,
        r8: 3,
        r9: 4,
        r10: 5,
        r11: 6,
    };
    let all = Regs {
        rcx: 1,
        rdx: 2,
        r8: 3,
        r9: 4,
        r10: 5,
        r11: 6,
        ..Regs::ZERO
    };
    let mem_scan_success = StatusCode::MemScanSuccess.status().raw();
    for (leaf, expected) in [
        (92u64, all),
        (
            93,
            Regs {
                r9: 0,
                r10: 0,
                ..all
            },
        ),
        (94, all),
        (
            95,
            Regs {
                rdx: 2,
                ..Regs::ZERO
            },
        ),
    ] {
        let log = Log::default();
        let out = record_host(
            mem_scan_success,
            |h| unsafe {
                match leaf {
                    92 => h.mem_scan_range(inputs),
                    93 => h.mem_scan_comp(inputs),
                    94 => h.mem_scan_config(inputs),
                    _ => h.mem_scan_reset(inputs.rdx),
                }
            },
            &log,
        )
        .unwrap();
        let (kind, rax, regs) = only(&log);
        assert_eq!((kind, rax), (CallKind::Seamcall, leaf));
        assert_eq!(regs, expected, "leaf {leaf}");
        assert_eq!(out.status.raw(), mem_scan_success);
        assert_eq!(out.regs, OUT);
    }
}

#[test]
fn shared_sept_wr_both_versions() {
    let gpa = GuestPhysAddr::new(0x20_0000).unwrap();
    let tdr = TdrPage::from_raw(0x7000).unwrap();
    for version in 0..=1u8 {
        let log = Log::default();
        let (status, out) = record_host(
            0,
            |h| unsafe {
                h.mem_shared_sept_wr(version, gpa, PageLevel::Size2M, tdr, [11, 12, 13, 14])
            },
            &log,
        )
        .unwrap();
        let (_, rax, regs) = only(&log);
        assert_eq!(rax, 163 | u64::from(version) << 16);
        assert_eq!(
            regs,
            Regs {
                rcx: 0x20_0001,
                rdx: 0x7000,
                r8: 11,
                r9: 12,
                r10: 13,
                r11: 14,
                ..Regs::ZERO
            }
        );
        assert_eq!((status, out), (Status::SUCCESS, OUT));
    }
    let log = Log::default();
    let bad = record_host(
        0,
        |h| unsafe { h.mem_shared_sept_wr(2, gpa, PageLevel::Size4K, tdr, [0; 4]) },
        &log,
    );
    assert!(matches!(bad, Err(Error::InvalidArgument(_))));
    assert!(log.borrow().is_empty());
}

#[test]
fn version_one_of_sys_leaves() {
    let log = Log::default();
    record_host(0, |h| h.sys_init_v1(), &log).unwrap();
    assert_eq!(only(&log).1, 0x1_0021);
    assert_eq!(only(&log).2, Regs::ZERO);

    let log = Log::default();
    let options = SysConfigOptions { dynamic_pamt: true };
    record_host(
        0,
        |h| h.sys_config_v1(hpa(0x200), 3, Hkid::new(5), options, 0x99, 0xAA),
        &log,
    )
    .unwrap();
    let (_, rax, regs) = only(&log);
    assert_eq!(rax, 0x1_002D);
    assert_eq!(
        regs,
        Regs {
            rcx: 0x200,
            rdx: 3,
            r8: 5 | 1 << 16,
            r9: 0x99,
            r10: 0xAA,
            ..Regs::ZERO
        }
    );

    let log = Log::default();
    record_host(0, |h| h.sys_update_v1(7, 8), &log).unwrap();
    let (_, rax, regs) = only(&log);
    assert_eq!(rax, 0x1_0035);
    assert_eq!(
        regs,
        Regs {
            r9: 7,
            r10: 8,
            ..Regs::ZERO
        }
    );
}

#[test]
fn version_one_of_migration_leaves() {
    let list = GpaListInfo::new(hpa(0x3000), 0, 0).unwrap();
    let tdr = TdrPage::from_raw(0x7000).unwrap();
    let bundle = MemBundle {
        mbmd: Mbmd::new(hpa(0x8000), 0x80).unwrap(),
        buffer_list: hpa(0x9000),
        mac_lists: [hpa(0xA000), hpa(0xB000)],
        stream: MigStreamIndex(2),
        command: MigCommand::New,
    };
    let log = Log::default();
    record_host(
        0,
        |h| {
            unsafe { h.export_blockw_v1(list, tdr) }
                .map(drop)
                .map_err(Error::from)
        },
        &log,
    )
    .unwrap();
    assert_eq!(only(&log).1, 0x1_0041);
    assert_eq!(
        only(&log).2,
        Regs {
            rcx: list.raw(),
            rdx: 0x7000,
            ..Regs::ZERO
        }
    );
    let log = Log::default();
    record_host(
        0,
        |h| {
            unsafe { h.export_restore_v1(list, tdr) }
                .map(drop)
                .map_err(Error::from)
        },
        &log,
    )
    .unwrap();
    assert_eq!(only(&log).1, 0x1_0042);
    let log = Log::default();
    let exported = record_host(
        0,
        |h| {
            unsafe { h.export_mem_v1(list, tdr, &bundle, Preserve::on_stack().unwrap()) }
                .map_err(Error::from)
        },
        &log,
    )
    .unwrap();
    let (_, rax, regs) = only(&log);
    assert_eq!(rax, 0x1_0044);
    assert_eq!(
        regs,
        Regs {
            rcx: list.raw(),
            rdx: 0x7000,
            r8: bundle.mbmd.raw(),
            r9: 0x9000,
            r10: 2,
            r11: 0xA000,
            r12: 0xB000,
            ..Regs::ZERO
        }
    );
    assert_eq!(exported.processed, OUT.rdx);
    let log = Log::default();
    record_host(
        0,
        |h| {
            unsafe {
                h.import_mem_v1(
                    list,
                    tdr,
                    &bundle,
                    Some(hpa(0xC000)),
                    Preserve::on_stack().unwrap(),
                )
            }
            .map(drop)
            .map_err(Error::from)
        },
        &log,
    )
    .unwrap();
    let (_, rax, regs) = only(&log);
    assert_eq!(rax, 0x1_0053);
    assert_eq!(regs.r13, 0xC000);
}

#[test]
fn seamldr_calls_set_rax_bit_63() {
    let log = Log::default();
    let mut info = Box::new(SeamldrInfo::ZERO);
    record_host(
        0,
        |h| unsafe { h.seamldr_info(hpa(0x1_0000), &mut info) },
        &log,
    )
    .unwrap();
    let (kind, rax, regs) = only(&log);
    assert_eq!((kind, rax), (CallKind::Seamcall, SeamldrLeaf::Info.rax()));
    assert_eq!(rax, 0x8000_0000_0000_0000);
    assert_eq!(
        regs,
        Regs {
            rcx: 0x1_0000,
            ..Regs::ZERO
        }
    );

    let log = Log::default();
    let params = Box::new(SeamldrParams::update(hpa(0x2000), &[hpa(0x3000)]).unwrap());
    record_host(
        0,
        |h| unsafe { h.seamldr_install(hpa(0x4000), &params) },
        &log,
    )
    .unwrap();
    assert_eq!(only(&log).1, 0x8000_0000_0000_0001);
    assert_eq!(only(&log).2.rcx, 0x4000);

    let log = Log::default();
    let misaligned = record_host(
        0,
        |h| unsafe { h.seamldr_info(hpa(0x1_0040), &mut info) },
        &log,
    );
    assert!(matches!(misaligned, Err(Error::InvalidArgument(_))));
    assert!(log.borrow().is_empty());
}

#[test]
fn key_get_and_veinfo_v1_registers() {
    let log = Log::default();
    let key = record_guest(
        0,
        |g| unsafe {
            g.mr_key_get(
                GuestPhysAddr::new(0x1000).unwrap(),
                GuestPhysAddr::new(0x2000).unwrap(),
                1,
            )
        },
        &log,
    )
    .unwrap();
    let (kind, rax, regs) = only(&log);
    assert_eq!((kind, rax), (CallKind::Tdcall, 29));
    assert_eq!(
        regs,
        Regs {
            rcx: 0x1000,
            rdx: 0x2000,
            r8: 1,
            ..Regs::ZERO
        }
    );
    assert_eq!(key.key_bits, OUT.r9);

    let log = Log::default();
    let (info, raw) = record_guest(0, |g| g.vp_veinfo_get_v1(), &log).unwrap();
    assert_eq!(only(&log).1, 0x1_0003);
    assert_eq!(info.gpa, OUT.r9);
    assert_eq!(raw, OUT);
}

// ---------------------------------------------------------------------------------------
// A Host/Guest that knows its module refuses, before any instruction, what it lacks.

fn refusal(result: Result<impl std::fmt::Debug, Error>) -> tdxcall::leaf::NotInModule {
    match result {
        Err(Error::InvalidArgument(invalid)) => match invalid.reason {
            InvalidReason::NotInModule(refusal) => {
                assert_eq!(invalid.argument, "leaf");
                refusal
            }
            other => panic!("expected NotInModule, got {other:?}"),
        },
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_host_told_its_module_refuses_before_any_instruction() {
    let log = Log::default();
    let refused = record_host(
        0,
        |h| {
            h.set_module(ModuleVersion::V1_5_05, None);
            unsafe { h.phymem_pamt_remove(hpa(0x20_0000)) }
        },
        &log,
    );
    let refused = refusal(refused);
    assert_eq!(refused.leaf, Leaf::TdhPhymemPamtRemove);
    assert_eq!(refused.version, 0);
    assert_eq!(refused.module, ModuleVersion::V1_5_05);
    assert_eq!(refused.needs, Some(ModuleVersion::V1_5_28));
    // A leaf version the module lacks: SYS.CONFIG v1 on 2.0.08.
    let v1 = record_host(
        0,
        |h| {
            h.set_module(ModuleVersion::V2_0_08, None);
            h.sys_config_v1(
                hpa(0x200),
                1,
                Hkid::new(1),
                SysConfigOptions::default(),
                0,
                0,
            )
        },
        &log,
    );
    let v1 = refusal(v1);
    assert_eq!(
        (v1.leaf, v1.version, v1.needs),
        (Leaf::TdhSysConfig, 1, Some(ModuleVersion::V1_5_28))
    );
    // A migration leaf through the vector-state path.
    let mig = record_host(
        0,
        |h| {
            h.set_module(ModuleVersion::V1_0, None);
            h.export_pause(TdrPage::from_raw(0x7000).unwrap())
        },
        &log,
    );
    assert_eq!(refusal(mig).leaf, Leaf::TdhExportPause);
    // A TDX_FEATURES0 bit the module does not report.
    let no_dpamt = record_host(
        0,
        |h| {
            h.set_module(ModuleVersion::V2_0_18, Some(TdxFeatures0::NO_RBP_MOD));
            unsafe { h.phymem_pamt_add(hpa(0x20_0000), hpa(0x1000), hpa(0x2000)) }
        },
        &log,
    );
    assert_eq!(
        refusal(no_dpamt).missing_feature0,
        Some(TdxFeatures0::DYNAMIC_PAMT)
    );
    assert!(
        log.borrow().is_empty(),
        "no instruction may run: {:?}",
        log.borrow()
    );
    // The message names the leaf, its version and what it needs.
    let text = Error::InvalidArgument(tdxcall::error::InvalidArgument {
        argument: "leaf",
        reason: InvalidReason::NotInModule(refused),
    })
    .to_string();
    assert!(text.contains("TDH.PHYMEM.PAMT.REMOVE version 0"), "{text}");
    assert!(text.contains("1.5.05") && text.contains("1.5.28"), "{text}");
}

#[test]
fn a_host_that_knows_the_leaf_calls_it_and_one_told_nothing_behaves_as_before() {
    let log = Log::default();
    record_host(
        0,
        |h| {
            h.set_module(ModuleVersion::V2_0_18, Some(TdxFeatures0::DYNAMIC_PAMT));
            unsafe { h.phymem_pamt_remove(hpa(0x20_0000)) }
        },
        &log,
    )
    .unwrap();
    assert_eq!(log.borrow().len(), 1);
    // An unread version between two read ones is looked up as the nearest older read one.
    let log = Log::default();
    record_host(
        0,
        |h| {
            h.set_module(ModuleVersion::new(2, 0, 12), None);
            unsafe { h.phymem_pamt_remove(hpa(0x20_0000)) }
        },
        &log,
    )
    .unwrap();
    assert_eq!(log.borrow().len(), 1);
    // Told nothing: every leaf goes out, even one no known module has at that version.
    let log = Log::default();
    record_host(
        0,
        |h| {
            assert_eq!(h.module(), None);
            h.sys_update_v1(0, 0)
        },
        &log,
    )
    .unwrap();
    assert_eq!(only(&log).1, 0x1_0035);
    // Forgetting restores that.
    let log = Log::default();
    record_host(
        0,
        |h| {
            h.set_module(ModuleVersion::V1_5_05, None);
            h.forget_module();
            h.sys_update_v1(0, 0)
        },
        &log,
    )
    .unwrap();
    assert_eq!(log.borrow().len(), 1);
}

#[test]
fn learn_module_reads_version_and_features_then_refuses() {
    // TDH.SYS.RD answers: MAJOR 1, MINOR 5, UPDATE 6 (no Dynamic PAMT), TDX_FEATURES0.
    let log = Log::default();
    let backend = |_: CallKind, _: u64, regs: &mut Regs| {
        let value = match regs.rdx {
            0x0800_0001_0000_0004 => 1,
            0x0800_0001_0000_0003 => 5,
            0x0800_0001_0000_0005 => 6,
            0x0A00_0003_0000_0008 => TdxFeatures0::NO_RBP_MOD.bits(),
            _ => 0,
        };
        log.borrow_mut().push((CallKind::Seamcall, 34, *regs));
        *regs = Regs {
            r8: value,
            rdx: u64::MAX,
            ..Regs::ZERO
        };
        Status::SUCCESS
    };
    let mut host = Host::new(FnBackend(backend));
    let known = host.learn_module().unwrap();
    assert_eq!(known.version, ModuleVersion::V1_5_06);
    assert_eq!(known.features0, Some(TdxFeatures0::NO_RBP_MOD));
    let calls = log.borrow().len();
    let refused = unsafe { host.phymem_pamt_remove(hpa(0x20_0000)) };
    assert_eq!(refusal(refused).needs, Some(ModuleVersion::V1_5_28));
    assert_eq!(log.borrow().len(), calls, "the refusal ran nothing");
}

#[test]
fn a_guest_told_its_module_refuses_before_any_instruction() {
    let log = Log::default();
    let refused = record_guest(
        0,
        |g| {
            g.set_module(ModuleVersion::V2_0_08, None);
            unsafe {
                g.mr_key_get(
                    GuestPhysAddr::new(0x1000).unwrap(),
                    GuestPhysAddr::new(0x2000).unwrap(),
                    0,
                )
            }
        },
        &log,
    );
    let refused = refusal(refused);
    assert_eq!(
        (refused.leaf, refused.needs),
        (Leaf::TdgMrKeyGet, Some(ModuleVersion::V1_5_32))
    );
    let v1 = record_guest(
        0,
        |g| {
            g.set_module(ModuleVersion::V1_5_05, None);
            g.vp_veinfo_get_v1()
        },
        &log,
    );
    assert_eq!(refusal(v1).version, 1);
    assert!(log.borrow().is_empty());
    // Told nothing: the call goes out.
    let log = Log::default();
    record_guest(0, |g| g.vp_veinfo_get_v1(), &log).unwrap();
    assert_eq!(log.borrow().len(), 1);
}

#[test]
fn the_refusal_status_round_trips() {
    let refused = Leaf::TdhMemSharedSeptWr
        .check_module(1, ModuleVersion::V1_5_32, None)
        .unwrap_err();
    let status = Status::not_in_module(refused);
    assert!(status.is_error() && status.is_software());
    let back = status.as_not_in_module().unwrap();
    assert_eq!(
        (back.leaf, back.version, back.module),
        (Leaf::TdhMemSharedSeptWr, 1, ModuleVersion::V1_5_32)
    );
    assert_eq!(back.needs, Some(ModuleVersion::V2_0_08));
    assert_eq!(Status::SEAMCALL_UD.as_not_in_module(), None);
}

// ---------------------------------------------------------------------------------------
// Metadata fields.

const FIELDS_SYS_2018: &str = include_str!("data/fields-sys-2.0.18.txt");
const FIELDS_TD_2018: &str = include_str!("data/fields-td-2.0.18.txt");

type FieldRows = [(
    &'static str,
    tdxcall::abi::FieldId,
    tdxcall::leaf::ModuleSet,
)];

fn fields_of_2_0_18(data: &str, table: &FieldRows) {
    let expected: Vec<(String, u64)> = data_lines(data)
        .map(|line| {
            let (id, name) = line.split_once(' ').expect(line);
            (
                name.to_string(),
                u64::from_str_radix(id.trim_start_matches("0x"), 16).expect(line),
            )
        })
        .collect();
    let table: Vec<(String, u64)> = table
        .iter()
        .filter(|(_, _, modules)| modules.contains(ModuleVersion::V2_0_18))
        .map(|(name, id, _)| (name.trim_end_matches("_V2018").to_string(), id.raw()))
        .collect();
    assert_eq!(table, expected);
}

#[test]
fn global_and_td_fields_of_2_0_18_are_its_lookup_tables() {
    use tdxcall::abi::fields::{sys, td};
    fields_of_2_0_18(FIELDS_SYS_2018, sys::MODULES);
    fields_of_2_0_18(FIELDS_TD_2018, td::MODULES);
    // The IDs 2.0.18 renumbered.
    assert_eq!(
        td::CONFIG_FLAGS.raw() ^ td::CONFIG_FLAGS_V2018.raw(),
        1 << 63
    );
    assert_eq!(td::TD_CTLS.raw() ^ td::TD_CTLS_V2018.raw(), 1 << 63);
}

#[test]
fn field_counts_per_version() {
    use tdxcall::abi::fields::{sys, td, vp};
    let count = |table: &[(&str, tdxcall::abi::FieldId, tdxcall::leaf::ModuleSet)], v| {
        table.iter().filter(|(_, _, m)| m.contains(v)).count()
    };
    let v15 = ModuleVersion::V1_5;
    let v2018 = ModuleVersion::V2_0_18;
    // Named by the crate from 1.5.01's tables; every field of 2.0.18's global table.
    assert_eq!(
        (count(sys::MODULES, v15), count(sys::MODULES, v2018)),
        (31, 75)
    );
    assert_eq!((count(td::MODULES, v15), count(vp::MODULES, v15)), (25, 10));
    assert_eq!(count(td::MODULES, v2018), 112);
    // Not read field by field: not claimed.
    for version in [
        ModuleVersion::V1_5_05,
        ModuleVersion::V1_5_32,
        ModuleVersion::V2_0_08,
    ] {
        assert_eq!(count(sys::MODULES, version), 0, "{version}");
    }
}

#[test]
fn mng_init_event_filter_registers_and_feature_check() {
    let tdr = TdrPage::from_raw(0x7000).unwrap();
    let log = Log::default();
    record_host(
        0,
        |h| {
            h.mng_init_with_event_filter(tdr, hpa(0x400), hpa(0x5000), 3)
                .map_err(Error::from)
        },
        &log,
    )
    .unwrap();
    let (_, rax, regs) = only(&log);
    assert_eq!(rax, 21);
    assert_eq!(
        regs,
        Regs {
            rcx: 0x7001,
            rdx: 0x400,
            r8: 0x5003,
            ..Regs::ZERO
        }
    );
    // The old form is unchanged: RCX bit 0 clear, R8 zero.
    let log = Log::default();
    record_host(
        0,
        |h| h.mng_init(tdr, hpa(0x400)).map_err(Error::from),
        &log,
    )
    .unwrap();
    assert_eq!(
        only(&log).2,
        Regs {
            rcx: 0x7000,
            rdx: 0x400,
            ..Regs::ZERO
        }
    );
    // Too many entries, and a known module without EVENT_FILTERING: nothing runs.
    let log = Log::default();
    let many = record_host(
        0,
        |h| {
            h.mng_init_with_event_filter(tdr, hpa(0x400), hpa(0x5000), 0x1000)
                .map_err(Error::from)
        },
        &log,
    );
    assert!(matches!(many, Err(Error::InvalidArgument(_))));
    let refused = record_host(
        0,
        |h| {
            h.set_module(ModuleVersion::V2_0_18, Some(TdxFeatures0::NO_RBP_MOD));
            h.mng_init_with_event_filter(tdr, hpa(0x400), hpa(0x5000), 1)
                .map_err(Error::from)
        },
        &log,
    );
    assert_eq!(
        refusal(refused).missing_feature0,
        Some(TdxFeatures0::EVENT_FILTERING)
    );
    assert!(log.borrow().is_empty());
}

/// The README's per-version counts, generated from the tables.
fn counts_table() -> String {
    use tdxcall::abi::fields::{sys, td, vp};
    let mut out = String::from(
        "| Module | SEAMCALL leaves | TDCALL leaves | Versioned leaves (v1) | Status codes | Global fields | TD fields | vCPU fields |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (version, release) in ModuleVersion::READ
        .iter()
        .zip(Release::NEWEST_FIRST.iter().rev())
    {
        let leaves = |side| {
            Leaf::ALL
                .iter()
                .filter(|l| l.side() == side && l.modules().contains(*version))
                .count()
        };
        let v1 = Leaf::ALL
            .iter()
            .filter(|l| l.v1_modules().contains(*version))
            .count();
        let fields = |table: &FieldRows| {
            let n = table
                .iter()
                .filter(|(_, _, m)| m.contains(*version))
                .count();
            if n == 0 {
                "not read".to_string()
            } else if *version == ModuleVersion::V1_5 {
                // 1.5.01's tables were read for the fields the crate names, not in full.
                format!("{n} named")
            } else {
                n.to_string()
            }
        };
        out.push_str(&format!(
            "| {version} | {} | {} | {v1} | {} | {} | {} | {} |\n",
            leaves(Side::Host),
            leaves(Side::Guest),
            table_statuses(*release).len(),
            fields(sys::MODULES),
            fields(td::MODULES),
            fields(vp::MODULES),
        ));
    }
    out
}

#[test]
fn readme_counts_match_the_tables() {
    const BEGIN: &str = "<!-- version-counts:begin -->\n";
    const END: &str = "<!-- version-counts:end -->";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let start = readme.find(BEGIN).expect("README version-counts markers") + BEGIN.len();
    let end = readme[start..].find(END).expect("end marker") + start;
    let expected = counts_table();
    if std::env::var_os("TDXCALL_BLESS").is_some() {
        std::fs::write(
            path,
            format!("{}{}{}", &readme[..start], expected, &readme[end..]),
        )
        .unwrap();
    }
    assert_eq!(
        &readme[start..end],
        expected,
        "stale: rerun with TDXCALL_BLESS=1"
    );
}

#[test]
fn a_guest_learns_its_module_from_tdg_sys_rd_then_refuses() {
    // TDG.SYS.RD answers 2.0.8 (no TDG.MR.KEY.GET in 2.0.08) and TDX_FEATURES0.
    let calls = RefCell::new(0);
    let backend = |kind: CallKind, rax: u64, regs: &mut Regs| {
        assert_eq!((kind, rax), (CallKind::Tdcall, 11));
        *calls.borrow_mut() += 1;
        let value = match regs.rdx {
            0x0800_0001_0000_0004 => 2,
            0x0800_0001_0000_0003 => 0,
            0x0800_0001_0000_0005 => 8,
            0x0A00_0003_0000_0008 => TdxFeatures0::DYNAMIC_PAMT.bits(),
            _ => 0,
        };
        *regs = Regs {
            r8: value,
            rdx: u64::MAX,
            ..Regs::ZERO
        };
        Status::SUCCESS
    };
    let mut guest = Guest::new(FnBackend(backend));
    let known = guest.learn_module().unwrap();
    assert_eq!(known.version, ModuleVersion::V2_0_08);
    assert_eq!(known.features0, Some(TdxFeatures0::DYNAMIC_PAMT));
    let before = *calls.borrow();
    let refused = unsafe {
        guest.mr_key_get(
            GuestPhysAddr::new(0x1000).unwrap(),
            GuestPhysAddr::new(0x2000).unwrap(),
            0,
        )
    };
    assert_eq!(refusal(refused).needs, Some(ModuleVersion::V1_5_32));
    assert_eq!(*calls.borrow(), before, "the refusal ran nothing");
}

#[test]
fn rebind_leaves_are_refused_for_every_read_version_and_sent_raw_when_told_nothing() {
    let log = Log::default();
    for version in ModuleVersion::READ {
        let host = record_host(
            0,
            |h| {
                h.set_module(version, Some(TdxFeatures0::all()));
                unsafe { h.servtd_rebind(&mut Regs::default()) }
            },
            &log,
        );
        let host = refusal(host);
        assert_eq!(
            (host.leaf, host.module, host.needs),
            (Leaf::TdhServtdRebind, version, None)
        );
        let guest = record_guest(
            0,
            |g| {
                g.set_module(version, Some(TdxFeatures0::all()));
                unsafe { g.servtd_rebind_approve(&mut Regs::default()) }
            },
            &log,
        );
        let guest = refusal(guest);
        assert_eq!(
            (guest.leaf, guest.needs),
            (Leaf::TdgServtdRebindApprove, None)
        );
    }
    assert!(log.borrow().is_empty(), "no refusal ran an instruction");
    // Told nothing: RAX is the leaf, every register goes out as given, the module's come back.
    let input = Regs {
        rcx: 1,
        rdx: 2,
        r8: 3,
        r15: 4,
        ..Regs::ZERO
    };
    let mut regs = input;
    record_host(0, |h| unsafe { h.servtd_rebind(&mut regs) }, &log).unwrap();
    assert_eq!(only(&log), (CallKind::Seamcall, 97, input));
    assert_eq!(regs, OUT);
    let log = Log::default();
    let mut regs = input;
    let status = record_guest(
        0xC000_0100_0000_0000,
        |g| unsafe { g.servtd_rebind_approve(&mut regs) },
        &log,
    );
    assert_eq!(only(&log), (CallKind::Tdcall, 33, input));
    assert_eq!(
        status,
        Err(Error::Status(Status::from_raw(0xC000_0100_0000_0000)))
    );
}
