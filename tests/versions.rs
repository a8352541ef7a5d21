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
            (name.to_string(), u32::from_str_radix(value, 16).expect(line))
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
            assert!(set.remove(name).is_some(), "{current}: {name} not in its base");
        } else if let Some(rest) = line.strip_prefix("+ ") {
            let (value, name) = rest.split_once(' ').expect(line);
            set.insert(name.to_string(), u32::from_str_radix(value, 16).expect(line));
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
