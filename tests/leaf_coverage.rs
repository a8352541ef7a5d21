//! The leaf table against the leaf lists transcribed from the ABI reference (tdx-module-abi
//! sections 2.1 and 2.2, `tests/data/abi-leaves.txt`) and, for the leaves added after
//! 1.5.05, from the module source (`tests/data/newer-leaves.txt`): every listed leaf must be
//! in the table with the same number and side, and the table must hold nothing else.

use tdxcall::leaf::{Leaf, Side};

const LISTED: &str = include_str!("data/abi-leaves.txt");
const NEWER: &str = include_str!("data/newer-leaves.txt");

fn listed() -> impl Iterator<Item = (Side, u16, &'static str)> {
    LISTED
        .lines()
        .chain(NEWER.lines())
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut words = line.split_whitespace();
            let side = match words.next() {
                Some("host") => Side::Host,
                Some("guest") => Side::Guest,
                other => panic!("bad side {other:?} in {line:?}"),
            };
            let number = words.next().and_then(|n| n.parse().ok()).expect(line);
            let name = words.next().expect(line);
            assert_eq!(words.next(), None, "trailing words in {line:?}");
            (side, number, name)
        })
}

#[test]
fn every_listed_leaf_is_in_the_table() {
    for (side, number, name) in listed() {
        let leaf =
            Leaf::from_spec_name(name).unwrap_or_else(|| panic!("{name} has no table entry"));
        assert_eq!(leaf.side(), side, "{name}");
        assert_eq!(leaf.number(), number, "{name}");
    }
}

#[test]
fn the_table_has_nothing_unlisted() {
    let listed: Vec<_> = listed().collect();
    for leaf in Leaf::ALL {
        assert!(
            listed
                .iter()
                .any(|&(side, number, name)| side == leaf.side()
                    && number == leaf.number()
                    && name == leaf.spec_name()),
            "{leaf} is not in tests/data/abi-leaves.txt"
        );
    }
    // 68 + 21 of 1.5, then 7 host leaves and 1 guest leaf of 1.5.28 to 2.0.18, and the two
    // rebind leaves no read version dispatches.
    assert_eq!(listed.iter().filter(|l| l.0 == Side::Host).count(), 76);
    assert_eq!(listed.iter().filter(|l| l.0 == Side::Guest).count(), 23);
}
