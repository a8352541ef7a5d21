//! `tdxcall::cpuid` tables: each later version's table is a named list of differences from
//! an earlier one; these tests pin those differences entry by entry, so that a change to one
//! version's data that does not belong in the others shows up here.

use tdxcall::abi::td_params::{CpuidLeaf, CpuidValues};
use tdxcall::cpuid::{self, CpuidTable, XFAM_MASK_LEAVES};

fn t(version: tdxcall::leaf::ModuleVersion) -> &'static CpuidTable {
    cpuid::table(version).expect("modelled version")
}

const LEAF_7_1: CpuidLeaf = CpuidLeaf {
    leaf: 7,
    subleaf: 1,
};

#[test]
fn v1_5_32_is_2_0_18_except_leaf_7_1() {
    let old = t(cpuid::V1_5_32);
    let new = t(cpuid::V2_0_18);
    assert_eq!(old.lookup.len(), new.lookup.len());
    assert_eq!(old.configurable.len(), new.configurable.len());
    assert_eq!(old.fixed0_bitmap, new.fixed0_bitmap);
    for (a, b) in old.lookup.iter().zip(new.lookup) {
        if a.leaf == LEAF_7_1 {
            assert_eq!(a.fixed0_or_dynamic.eax, 0xFB77_E20F);
            assert_eq!(b.fixed0_or_dynamic.eax, 0xFB57_E200);
            let mut patched = *b;
            patched.fixed0_or_dynamic.eax = a.fixed0_or_dynamic.eax;
            assert_eq!(*a, patched, "7.1 differs only in fixed0 EAX");
        } else {
            assert_eq!(a, b);
        }
    }
    for (a, b) in old.configurable.iter().zip(new.configurable) {
        if a.leaf == LEAF_7_1 {
            assert_eq!(a.allow_direct.eax, 0x0488_1DB0);
            assert_eq!(b.allow_direct.eax, 0x04A8_1DBF);
            let mut patched = *b;
            patched.allow_direct.eax = a.allow_direct.eax;
            assert_eq!(*a, patched, "7.1 differs only in ALLOW_DIRECT EAX");
        } else {
            assert_eq!(a, b);
        }
    }
    for leaf in XFAM_MASK_LEAVES {
        let a = old.xfam_masks(leaf).expect("mask leaf");
        let b = new.xfam_masks(leaf).expect("mask leaf");
        for bit in 0..a.len() {
            if leaf == LEAF_7_1 && (bit == 17 || bit == 18) {
                assert_eq!(a[bit], CpuidValues::default(), "1.5.32 has no AMX mask");
                let amx = CpuidValues {
                    eax: 0x0020_0000,
                    ..CpuidValues::default()
                };
                assert_eq!(b[bit], amx, "2.0.18's XFAM[{bit}] mask on 7.1");
            } else {
                assert_eq!(a[bit], b[bit], "{leaf:?} XFAM[{bit}]");
            }
        }
    }
}

#[test]
fn v1_5_05_is_1_5_01_with_0x1f_configured_0xb_0x1a_added_and_7_1_0xa_changed() {
    let old = t(cpuid::V1_5_01);
    let new = t(cpuid::V1_5_05);
    assert_eq!(old.fixed0_bitmap, None);
    assert_eq!(new.fixed0_bitmap, None);
    let added: Vec<(u32, u32)> = new.lookup[old.lookup.len()..]
        .iter()
        .map(|e| (e.leaf.leaf, e.leaf.subleaf))
        .collect();
    assert_eq!(
        added,
        [(0xB, 0), (0xB, 1), (0xB, 2), (0x1A, cpuid::NO_SUBLEAF)]
    );
    let mut topology = 0;
    for (a, b) in old.lookup.iter().zip(new.lookup) {
        let mut expect = *a;
        match (a.leaf.leaf, a.leaf.subleaf) {
            (7, 1) => {
                expect.fixed0_or_dynamic.eax = 0xFBFF_E28F;
                expect.fixed0_or_dynamic.edx = 0xFFFF_FBCF;
            }
            (0xA, _) => expect.verify_mask.ecx = 0xFFFF_FFF0,
            (0x1F, n) => {
                assert!(a.faulting && a.config_index.is_none());
                expect.faulting = false;
                expect.fixed0_or_dynamic = CpuidValues {
                    eax: 0xFFFF_FFE0,
                    ebx: 0xFFFF_0000,
                    ecx: 0xFFFF_0000,
                    edx: 0xFFFF_FFFF,
                };
                expect.config_index = Some(12 + u8::try_from(n).expect("small subleaf"));
                topology += 1;
            }
            _ => {}
        }
        assert_eq!(*b, expect, "{:?}", a.leaf);
    }
    assert_eq!(topology, 6, "0x1F.0-5");
    assert_eq!(new.configurable.len(), old.configurable.len() + 6);
    for (a, b) in old.configurable.iter().zip(new.configurable) {
        let mut expect = *a;
        if a.leaf == LEAF_7_1 {
            expect.allow_direct.eax = 0x0400_1D30;
            expect.allow_direct.edx = 0x430;
        }
        assert_eq!(*b, expect, "{:?}", a.leaf);
    }
    for (n, c) in new.configurable[old.configurable.len()..]
        .iter()
        .enumerate()
    {
        assert_eq!(
            c.leaf,
            CpuidLeaf {
                leaf: 0x1F,
                subleaf: n as u32
            }
        );
        assert_eq!(new.lookup[usize::from(c.lookup_index)].leaf, c.leaf);
        assert_eq!(c.allow_direct, CpuidValues::default());
    }
    for leaf in XFAM_MASK_LEAVES {
        let a = old.xfam_masks(leaf).expect("mask leaf");
        let b = new.xfam_masks(leaf).expect("mask leaf");
        for bit in 0..a.len() {
            let changed = leaf == LEAF_7_1 && matches!(bit, 2 | 5 | 6 | 7);
            assert_eq!(a[bit] != b[bit], changed, "{leaf:?} XFAM[{bit}]");
        }
    }
}

/// The (leaf, subleaf, what) of every shared entry that differs between two tables.
fn changed(old: &CpuidTable, new: &CpuidTable) -> Vec<(u32, u32, &'static str)> {
    let mut out = Vec::new();
    for (a, b) in old.lookup.iter().zip(new.lookup) {
        assert_eq!(a.leaf, b.leaf, "shared entries keep their order");
        let fields: [(&str, bool); 7] = [
            ("faulting", a.faulting != b.faulting),
            ("verify_mask", a.verify_mask != b.verify_mask),
            ("verify_value", a.verify_value != b.verify_value),
            ("verify_same", a.verify_same != b.verify_same),
            ("fixed0", a.fixed0_or_dynamic != b.fixed0_or_dynamic),
            ("fixed1", a.fixed1 != b.fixed1),
            ("config_index", a.config_index != b.config_index),
        ];
        for (name, differs) in fields {
            if differs {
                out.push((a.leaf.leaf, a.leaf.subleaf, name));
            }
        }
    }
    for (a, b) in old.configurable.iter().zip(new.configurable) {
        assert_eq!(a.leaf, b.leaf, "shared entries keep their order");
        if a.config_direct != b.config_direct {
            out.push((a.leaf.leaf, a.leaf.subleaf, "config_direct"));
        }
        if a.allow_direct != b.allow_direct {
            out.push((a.leaf.leaf, a.leaf.subleaf, "allow_direct"));
        }
        assert_eq!(a.lookup_index, b.lookup_index);
    }
    out
}

#[test]
fn v2_0_18_is_1_5_05_with_appended_entries_and_named_changes() {
    let old = t(cpuid::V1_5_05);
    let new = t(cpuid::V2_0_18);
    assert_eq!(new.lookup.len(), old.lookup.len() + 11);
    assert_eq!(new.configurable.len(), old.configurable.len() + 10);
    const NS: u32 = cpuid::NO_SUBLEAF;
    let expect: Vec<(u32, u32, &str)> = vec![
        (4, 0, "fixed0"),
        (4, 1, "fixed0"),
        (4, 2, "fixed0"),
        (7, 0, "verify_same"),
        (7, 1, "fixed0"),
        (0xA, NS, "verify_mask"),
        (0x8000_0008, NS, "verify_mask"),
        (0x8000_0008, NS, "verify_value"),
        (0x8000_0008, NS, "fixed0"),
        (6, NS, "faulting"),
        (6, NS, "fixed0"),
        (6, NS, "fixed1"),
        (0x19, NS, "fixed0"),
        (0x19, NS, "config_index"),
        (0x8000_0006, NS, "faulting"),
        (0x8000_0006, NS, "fixed0"),
        (0x8000_0006, NS, "fixed1"),
        (0x23, 1, "verify_mask"),
        (0xB, 2, "fixed0"),
        (1, NS, "allow_direct"),
        (4, 0, "config_direct"),
        (4, 1, "config_direct"),
        (4, 2, "config_direct"),
        (7, 0, "allow_direct"),
        (7, 1, "allow_direct"),
        (0x8000_0008, NS, "config_direct"),
    ];
    assert_eq!(changed(old, new), expect);
    for leaf in XFAM_MASK_LEAVES {
        let a = old.xfam_masks(leaf).expect("mask leaf");
        let b = new.xfam_masks(leaf).expect("mask leaf");
        for bit in 0..a.len() {
            let differs = leaf == LEAF_7_1 && matches!(bit, 2 | 17 | 18);
            assert_eq!(a[bit] != b[bit], differs, "{leaf:?} XFAM[{bit}]");
        }
    }
}
