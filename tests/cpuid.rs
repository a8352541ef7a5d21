//! `tdxcall::cpuid`: table invariants per module version, the TDH.MNG.INIT rules and error
//! paths (exact status and RCX), the 0x1F → 0xB derivation, the #VE-reduction truth table,
//! QEMU's hard-coded fixed-1 bits, and the guest's view.

use tdxcall::abi::td_params::{CpuidLeaf, CpuidValues, TdParams};
use tdxcall::abi::{Attributes, Xfam};
use tdxcall::cpuid::{
    self, classify, config_value, mng_init, sys_init_check, BitClass, CpuidTable, GuestControls,
    GuestCpuid, NativeCpuid, ParavirtBit, Platform, Recorded, RecordedCpuid, Reg, TdCpuid, TdCtls,
    NO_SUBLEAF, SYNTHETIC_PLATFORM, TABLES, VE_REDUCTION_BITS,
};

const CPUID_CONFIG_ERROR: u64 = 0xC000_0100_0000_0045;

fn vals(eax: u32, ebx: u32, ecx: u32, edx: u32) -> CpuidValues {
    CpuidValues { eax, ebx, ecx, edx }
}

fn t(version: tdxcall::leaf::ModuleVersion) -> &'static CpuidTable {
    cpuid::table(version).expect("modelled version")
}

fn params(xfam: u64, attributes: u64) -> TdParams {
    TdParams {
        xfam: Xfam::from_bits_retain(xfam),
        attributes: Attributes::from_bits_retain(attributes),
        tsc_frequency: 100,
        ..TdParams::default()
    }
}

fn config_slot(table: &CpuidTable, leaf: u32, subleaf: u32) -> usize {
    table
        .configurable
        .iter()
        .position(|c| c.leaf == CpuidLeaf { leaf, subleaf })
        .expect("configurable leaf")
}

fn init(table: &'static CpuidTable, p: &TdParams) -> TdCpuid {
    mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), p).expect("MNG.INIT succeeds")
}

fn and(a: CpuidValues, b: CpuidValues) -> CpuidValues {
    vals(a.eax & b.eax, a.ebx & b.ebx, a.ecx & b.ecx, a.edx & b.edx)
}

// ---- (a) tables ----

#[test]
fn entry_counts_match_the_reference_per_version() {
    let expected = [
        (cpuid::V1_5_01, 64, 12),
        (cpuid::V1_5_05, 68, 18),
        (cpuid::V1_5_32, 79, 28),
        (cpuid::V2_0_18, 79, 28),
    ];
    for (version, lookup, configurable) in expected {
        let table = t(version);
        assert_eq!(table.lookup.len(), lookup, "{version} lookup entries");
        assert_eq!(
            table.configurable.len(),
            configurable,
            "{version} NUM_CPUID_CONFIG"
        );
        assert!(table.lookup.len() <= cpuid::MAX_LOOKUP);
    }
    assert_eq!(TABLES.len(), 4);
}

#[test]
fn table_invariants_hold_for_every_version() {
    for table in TABLES {
        let v = table.version;
        for (i, e) in table.lookup.iter().enumerate() {
            assert_eq!(
                and(e.fixed0_or_dynamic, e.fixed1),
                CpuidValues::default(),
                "{v} entry {i}: fixed0 and fixed1 overlap"
            );
            assert_eq!(
                and(e.verify_mask, e.verify_value),
                e.verify_value,
                "{v} entry {i}: verify_value outside verify_mask"
            );
            for (j, other) in table.lookup.iter().enumerate().skip(i + 1) {
                assert_ne!(e.leaf, other.leaf, "{v}: entries {i} and {j} share a leaf");
            }
            if let Some(c) = e.config_index {
                let cfg = &table.configurable[c as usize];
                assert_eq!(cfg.leaf, e.leaf, "{v} entry {i}: config index leaf");
                assert_eq!(cfg.lookup_index as usize, i, "{v} entry {i}: back index");
            }
        }
        for (i, cfg) in table.configurable.iter().enumerate() {
            assert_eq!(
                and(cfg.config_direct, cfg.allow_direct),
                CpuidValues::default(),
                "{v} config {i}: CONFIG_DIRECT and ALLOW_DIRECT overlap"
            );
            let entry = &table.lookup[cfg.lookup_index as usize];
            assert_eq!(entry.leaf, cfg.leaf, "{v} config {i}: lookup leaf");
            // Configurable order = CPUID_CONFIG_LEAVES order = the entry's config index.
            assert_eq!(entry.config_index, Some(i as u8), "{v} config {i}: order");
            // Configurable bits are never forced by the table.
            let free = vals(
                cfg.config_direct.eax | cfg.allow_direct.eax,
                cfg.config_direct.ebx | cfg.allow_direct.ebx,
                cfg.config_direct.ecx | cfg.allow_direct.ecx,
                cfg.config_direct.edx | cfg.allow_direct.edx,
            );
            assert_eq!(
                and(free, entry.fixed1),
                CpuidValues::default(),
                "{v} config {i}"
            );
        }
        // Every lookup entry with a config index is in the configurable table exactly once.
        let with_index = table
            .lookup
            .iter()
            .filter(|e| e.config_index.is_some())
            .count();
        assert_eq!(with_index, table.configurable.len(), "{v}");
    }
}

#[test]
fn configurable_lists_match_the_reference() {
    let list = |table: &CpuidTable| -> Vec<(u32, u32)> {
        table
            .configurable
            .iter()
            .map(|c| (c.leaf.leaf, c.leaf.subleaf))
            .collect()
    };
    let base: Vec<(u32, u32)> = vec![
        (1, NO_SUBLEAF),
        (4, 0),
        (4, 1),
        (4, 2),
        (4, 3),
        (7, 0),
        (7, 1),
        (0xA, NO_SUBLEAF),
        (0x1C, NO_SUBLEAF),
        (0x8000_0008, NO_SUBLEAF),
        (7, 2),
        (0x23, 0),
    ];
    assert_eq!(list(t(cpuid::V1_5_01)), base);
    let mut v1505 = base.clone();
    v1505.extend((0..6).map(|s| (0x1F, s)));
    assert_eq!(list(t(cpuid::V1_5_05)), v1505);
    let mut v2018 = v1505.clone();
    v2018.push((0x19, NO_SUBLEAF));
    v2018.extend((0..9).map(|s| (0x18, s)));
    assert_eq!(list(t(cpuid::V1_5_32)), v2018);
    assert_eq!(list(t(cpuid::V2_0_18)), v2018);
}

#[test]
fn fixed0_bitmap_decodes_to_the_reference_leaves() {
    let table = t(cpuid::V2_0_18);
    assert_eq!(table.fixed0_bitmap, Some(0x0380_0005_08CF_D308));
    let leaves: Vec<u32> = (0..52)
        .chain(0x8000_0000..0x8000_000C)
        .filter(|&l| table.in_fixed0_bitmap(l))
        .collect();
    assert_eq!(
        leaves,
        [
            0x3,
            0x8,
            0x9,
            0xC,
            0xE,
            0xF,
            0x10,
            0x11,
            0x12,
            0x13,
            0x16,
            0x17,
            0x1B,
            0x20,
            0x22,
            0x8000_0003,
            0x8000_0004,
            0x8000_0005
        ]
    );
    assert!(!t(cpuid::V1_5_05).in_fixed0_bitmap(0x3));
}

#[test]
fn version_differences_reproduce_the_reference_diff_list() {
    let a = t(cpuid::V1_5_01);
    let b = t(cpuid::V1_5_05);
    let entry = |t: &CpuidTable, leaf, subleaf| {
        t.lookup[t.find_exact(CpuidLeaf { leaf, subleaf }).unwrap()]
    };
    let cfg = |t: &CpuidTable, leaf, subleaf| t.configurable[config_slot(t, leaf, subleaf)];
    assert_eq!(cfg(a, 7, 1).allow_direct.eax, 0x1D30);
    assert_eq!(cfg(b, 7, 1).allow_direct.eax, 0x0400_1D30);
    assert_eq!(cfg(b, 7, 1).allow_direct.edx, 0x430);
    assert_eq!(entry(a, 0xA, NO_SUBLEAF).verify_mask.ecx, 0xFFFF_FF80);
    assert_eq!(entry(b, 0xA, NO_SUBLEAF).verify_mask.ecx, 0xFFFF_FFF0);
    assert!(a
        .find_exact(CpuidLeaf {
            leaf: 0xB,
            subleaf: 0
        })
        .is_none());
    assert!(b
        .find_exact(CpuidLeaf {
            leaf: 0x1A,
            subleaf: NO_SUBLEAF
        })
        .is_some());
    assert!(entry(a, 0x1F, 0).faulting && !entry(b, 0x1F, 0).faulting);
    // 2.0.18: leaf 1 EDX ALLOW_DIRECT gains MCE, MTRR, MCA; 7.0 EDX gains CORE_CAPABILITIES.
    let c = t(cpuid::V2_0_18);
    assert_eq!(cfg(b, 1, NO_SUBLEAF).allow_direct.edx, 0xB844_0000);
    assert_eq!(cfg(c, 1, NO_SUBLEAF).allow_direct.edx, 0xB844_5080);
    assert_eq!(cfg(c, 7, 0).allow_direct.edx, 0x4005_411C);
    assert_eq!(cfg(c, 7, 1).allow_direct.eax, 0x04A8_1DBF);
    assert_eq!(cfg(c, 0x8000_0008, NO_SUBLEAF).config_direct.eax, 0xFF);
    assert_eq!(cfg(c, 0x18, 0).config_direct.edx, 0x03FF_C000);
    assert!(!entry(c, 6, NO_SUBLEAF).faulting && entry(b, 6, NO_SUBLEAF).faulting);
    // 1.5.32 equals 2.0.18 except leaf 7.1.
    let d = t(cpuid::V1_5_32);
    let l71 = CpuidLeaf {
        leaf: 7,
        subleaf: 1,
    };
    for (i, (x, y)) in d.lookup.iter().zip(c.lookup).enumerate() {
        if x.leaf == l71 {
            let f0 = (x.fixed0_or_dynamic.eax, y.fixed0_or_dynamic.eax);
            assert_eq!(f0, (0xFB77_E20F, 0xFB57_E200));
        } else {
            assert_eq!(x, y, "lookup entry {i}");
        }
    }
    for (x, y) in d.configurable.iter().zip(c.configurable) {
        if x.leaf == l71 {
            assert_eq!(
                (x.allow_direct.eax, y.allow_direct.eax),
                (0x0488_1DB0, 0x04A8_1DBF)
            );
        } else {
            assert_eq!(x, y);
        }
    }
    let amx = |t: &CpuidTable| t.xfam_masks(l71).unwrap()[17].eax;
    assert_eq!((amx(d), amx(c)), (0, 0x20_0000));
}

#[test]
fn the_synthetic_platform_passes_every_versions_sys_init_check() {
    for table in TABLES {
        assert_eq!(
            sys_init_check(table, &SYNTHETIC_PLATFORM),
            Ok(()),
            "{}",
            table.version
        );
    }
}

#[test]
fn sys_init_check_reports_the_first_failing_entry_with_mask_and_value() {
    let bad = |leaf: u32, subleaf: u32| -> CpuidValues {
        let mut v = SYNTHETIC_PLATFORM.cpuid(leaf, subleaf);
        if leaf == 7 && subleaf == 2 {
            v.edx = 0; // 7.2.EDX bits 0-2 and 4 must be 1
        }
        v
    };
    let err = sys_init_check(t(cpuid::V1_5_05), &bad).unwrap_err();
    assert_eq!(err.status.raw(), 0xC000_0900_0000_0000);
    assert_eq!(err.rcx, 7 | 2 << 32);
    assert_eq!(err.extra, [0, 0x17 << 32, 0, 0x17 << 32]);
}

// ---- (b) MNG.INIT ----

#[test]
fn all_zero_config_succeeds_and_fixed_values_appear() {
    for table in TABLES {
        let td = init(table, &params(0x3, 0));
        assert_eq!(td.values_of(0, 0).unwrap().eax, 0x23, "{}", table.version);
        assert_eq!(td.values_of(0x8000_0000, 0).unwrap().eax, 0x8000_0008);
        // Hypervisor bit fixed 1; family/model/stepping 0 means native.
        let l1 = td.values_of(1, 0).unwrap();
        assert_eq!(l1.ecx >> 31, 1);
        assert_eq!(l1.eax, 0x0008_06F8);
        // Every ALLOW_DIRECT bit configured 0 is cleared: 7.0 AVX2 and friends are off.
        assert_eq!(td.values_of(7, 0).unwrap().ebx & 0x20, 0);
        // TSC frequency, XSAVE size for x87|SSE.
        assert_eq!(td.values_of(0x15, 0).unwrap().ebx, 100);
        assert_eq!(td.values_of(0xD, 0).unwrap().ecx, 576);
    }
}

#[test]
fn bit_outside_config_direct_and_allow_direct_fails_with_exact_status_and_rcx() {
    for table in TABLES {
        for (slot, cfg) in table.configurable.iter().enumerate() {
            let (reg, bit) = Reg::ALL
                .iter()
                .find_map(|&reg| {
                    let free = reg.get(&cfg.config_direct) | reg.get(&cfg.allow_direct);
                    (free != u32::MAX).then(|| (reg, 1u32 << (!free).trailing_zeros()))
                })
                .expect("some bit is not configurable");
            let mut p = params(0x3, 0);
            reg.set(&mut p.cpuid_config[slot], bit);
            let err = mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &p).unwrap_err();
            assert_eq!(
                err.status.raw(),
                CPUID_CONFIG_ERROR,
                "{} {:?}",
                table.version,
                cfg.leaf
            );
            assert_eq!(
                err.rcx,
                (cfg.leaf.subleaf as u64) << 32 | cfg.leaf.leaf as u64
            );
        }
    }
}

#[test]
fn the_first_bad_entry_in_lookup_order_is_reported() {
    // 0x23.0 is configurable slot 11 but lookup index 59; 7.2 is slot 10, lookup 14; leaf
    // 0x80000008 is slot 9, lookup 9. Errors in 0x23.0 and 0x80000008: the module reports
    // 0x80000008 (lower lookup index) although its slot number is lower too; errors in
    // 0x23.0 and 7.2 report 7.2.
    let table = t(cpuid::V1_5_05);
    let mut p = params(0x3, 0);
    p.cpuid_config[config_slot(table, 0x23, 0)].ebx = 1;
    p.cpuid_config[config_slot(table, 7, 2)].eax = 1;
    let err = mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &p).unwrap_err();
    assert_eq!(err.rcx, 7 | 2 << 32);
}

#[test]
fn family_model_stepping_rules() {
    let table = t(cpuid::V1_5_05);
    let slot = config_slot(table, 1, NO_SUBLEAF);
    let mut p = params(0x3, 0);
    p.cpuid_config[slot].eax = 0x0008_06F7; // lower stepping: only for migratable TDs
    let err = mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &p).unwrap_err();
    assert_eq!(
        (err.status.raw(), err.rcx),
        (CPUID_CONFIG_ERROR, 0xFFFF_FFFF_0000_0001)
    );
    let mut m = params(0x3, Attributes::MIGRATABLE.bits());
    m.cpuid_config[slot].eax = 0x0008_06F7;
    let td = init(table, &m);
    assert_eq!(td.values_of(1, 0).unwrap().eax, 0x0008_06F7);
    m.cpuid_config[slot].eax = 0x0008_06F9; // above the platform's stepping
    assert!(mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &m).is_err());
}

#[test]
fn hle_without_rtm_is_refused_and_rcx_depends_on_the_version() {
    for (version, rcx) in [
        (cpuid::V1_5_01, 0),
        (cpuid::V1_5_05, 7),
        (cpuid::V2_0_18, 7),
    ] {
        let table = t(version);
        let mut p = params(0x3, 0);
        p.cpuid_config[config_slot(table, 7, 0)].ebx = 1 << 4; // HLE
        let err = mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &p).unwrap_err();
        assert_eq!(
            (err.status.raw(), err.rcx),
            (CPUID_CONFIG_ERROR, rcx),
            "{version}"
        );
    }
}

#[test]
fn tsx_without_tsx_ctrl_is_an_msr_error() {
    let table = t(cpuid::V1_5_05);
    let mut p = params(0x3, 0);
    p.cpuid_config[config_slot(table, 7, 0)].ebx = 1 << 4 | 1 << 11;
    let no_ctrl = Platform {
        has_tsx_ctrl: false,
    };
    let err = mng_init(table, &SYNTHETIC_PLATFORM, &no_ctrl, &p).unwrap_err();
    assert_eq!((err.status.raw(), err.rcx), (0xC000_0921_0000_010A, 0));
    let td = mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &p).unwrap();
    assert_eq!(
        td.values_of(7, 0).unwrap().ebx & (1 << 4 | 1 << 11),
        1 << 4 | 1 << 11
    );
}

#[test]
fn nonzero_cpuid_config_past_the_table_is_an_rdx_error() {
    for table in TABLES {
        let mut p = params(0x3, 0);
        p.cpuid_config[table.configurable.len()].edx = 1;
        let err = mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &p).unwrap_err();
        assert_eq!((err.status.raw(), err.rcx), (0xC000_0100_0000_0002, 0));
    }
}

#[test]
fn virtual_maxpa_is_checked_in_2_0_only() {
    let table = t(cpuid::V2_0_18);
    let slot = config_slot(table, 0x8000_0008, NO_SUBLEAF);
    let mut p = params(0x3, 0);
    p.cpuid_config[slot].eax = 53; // native PA is 52
    let err = mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &p).unwrap_err();
    assert_eq!(
        (err.status.raw(), err.rcx),
        (CPUID_CONFIG_ERROR, 0xFFFF_FFFF_8000_0008)
    );
    p.cpuid_config[slot].eax = 48;
    // LA bits 48: the all-zero 7.0 configuration cleared LA57.
    assert_eq!(
        init(table, &p).values_of(0x8000_0008, 0).unwrap().eax,
        0x3030
    );
    p.cpuid_config[config_slot(table, 7, 0)].ecx = 1 << 16;
    assert_eq!(
        init(table, &p).values_of(0x8000_0008, 0).unwrap().eax,
        0x3930
    );
    // 1.5.05: no CONFIG_DIRECT bits in 0x80000008.EAX.
    let old = t(cpuid::V1_5_05);
    let mut q = params(0x3, 0);
    q.cpuid_config[config_slot(old, 0x8000_0008, NO_SUBLEAF)].eax = 48;
    assert_eq!(
        mng_init(old, &SYNTHETIC_PLATFORM, &Platform::default(), &q)
            .unwrap_err()
            .status
            .raw(),
        CPUID_CONFIG_ERROR
    );
}

#[test]
fn attributes_and_xfam_rules() {
    for table in TABLES {
        let plain = init(table, &params(0x3, 0));
        let rich = init(
            table,
            &params(
                0x602E7,
                Attributes::PKS.bits() | Attributes::PERFMON.bits() | 1 << 27,
            ),
        );
        // PKS follows ATTRIBUTES.PKS.
        assert_eq!(plain.values_of(7, 0).unwrap().ecx >> 31, 0);
        assert_eq!(rich.values_of(7, 0).unwrap().ecx >> 31, 1);
        // 0xA is native only with PERFMON.
        assert_eq!(plain.values_of(0xA, 0).unwrap(), CpuidValues::default());
        assert_eq!(rich.values_of(0xA, 0).unwrap().eax, 0x0830_0805);
        // 0xD.n follows XFAM[n]; 0x1D needs both AMX bits; XSAVE size covers AMX.
        assert_eq!(plain.values_of(0xD, 2).unwrap(), CpuidValues::default());
        assert_eq!(rich.values_of(0xD, 2).unwrap().eax, 256);
        assert_eq!(rich.values_of(0x1D, 1).unwrap().eax, 0x0400_2000);
        assert_eq!(rich.values_of(0xD, 0).unwrap().ecx, 2816 + 8192);
        // LASS (ATTRIBUTES bit 27) from 1.5.05 on.
        let lass = rich.values_of(7, 1).unwrap().eax >> 6 & 1;
        assert_eq!(
            lass,
            u32::from(table.version >= cpuid::V1_5_05),
            "{}",
            table.version
        );
    }
}

#[test]
fn leaf_0b_is_derived_from_the_0x1f_configuration() {
    let table = t(cpuid::V1_5_05);
    let mut p = params(0x3, 0);
    let s = |n| config_slot(table, 0x1F, n);
    // SMT: 1 bit, 2 threads; CORE: 4 bits; DIE: 6 bits, 64 threads; then invalid.
    p.cpuid_config[s(0)] = vals(1, 2, 0x100, 0);
    p.cpuid_config[s(1)] = vals(4, 16, 0x201, 0);
    p.cpuid_config[s(2)] = vals(6, 64, 0x502, 0);
    let td = init(table, &p);
    assert_eq!(td.values_of(0xB, 0).unwrap(), vals(1, 2, 0x100, 0));
    assert_eq!(td.values_of(0xB, 1).unwrap(), vals(6, 64, 0x201, 0));
    assert_eq!(td.values_of(0xB, 2).unwrap(), vals(0, 0, 0, 0));
    // 2.0.18 keeps ECX[7:0] = 2 in the terminator.
    let td2 = init(t(cpuid::V2_0_18), &p);
    assert_eq!(td2.values_of(0xB, 2).unwrap(), vals(0, 0, 2, 0));
    // All-zero configuration: the hardware's 2 threads x 48 cores.
    let hw = init(table, &params(0x3, 0));
    assert_eq!(hw.values_of(0xB, 1).unwrap(), vals(7, 0x60, 0x201, 0));
}

#[test]
fn bad_0x1f_configurations_fail_with_the_format_status() {
    let table = t(cpuid::V1_5_05);
    let s = |n| config_slot(table, 0x1F, n);
    let cases: [&[(u32, CpuidValues)]; 4] = [
        // No CORE level.
        &[(0, vals(1, 2, 0x100, 0)), (1, vals(6, 64, 0x501, 0))],
        // SMT not at subleaf 0.
        &[(0, vals(4, 16, 0x200, 0)), (1, vals(5, 32, 0x101, 0))],
        // ECX[7:0] not the subleaf.
        &[(0, vals(1, 2, 0x100, 0)), (1, vals(4, 16, 0x200, 0))],
        // A valid level after an invalid one.
        &[
            (0, vals(1, 2, 0x100, 0)),
            (1, vals(4, 16, 0x201, 0)),
            (3, vals(6, 64, 0x503, 0)),
        ],
    ];
    for case in cases {
        let mut p = params(0x3, 0);
        for &(n, v) in case {
            p.cpuid_config[s(n)] = v;
        }
        let err = mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &p).unwrap_err();
        assert_eq!(
            (err.status.raw(), err.rcx),
            (0xC000_0904_0000_0000, 0),
            "{case:?}"
        );
    }
}

#[test]
fn config_values_are_config_direct_or_allowed_native() {
    for table in TABLES {
        for (i, cfg) in table.configurable.iter().enumerate() {
            let v = config_value(table, &SYNTHETIC_PLATFORM, i).unwrap();
            let native = SYNTHETIC_PLATFORM.cpuid(cfg.leaf.leaf, cfg.leaf.subleaf & 0xFF);
            for reg in Reg::ALL {
                let expected =
                    reg.get(&cfg.config_direct) | (reg.get(&cfg.allow_direct) & reg.get(&native));
                assert_eq!(
                    reg.get(&v),
                    expected,
                    "{} {:?} {reg:?}",
                    table.version,
                    cfg.leaf
                );
            }
        }
        assert_eq!(
            config_value(table, &SYNTHETIC_PLATFORM, table.configurable.len()),
            None
        );
    }
}

// ---- classification ----

/// QEMU's `tdx_fixed1_bits` (target/i386/kvm/tdx.c), as bit numbers: (leaf, subleaf, reg,
/// bits).
const QEMU_FIXED1: [(u32, u32, Reg, &[u32]); 11] = [
    (
        1,
        0,
        Reg::Ecx,
        &[
            0, 1, 2, 4, 9, 13, 15, 17, 19, 20, 21, 22, 23, 25, 26, 30, 31,
        ],
    ),
    (
        1,
        0,
        Reg::Edx,
        &[
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 19, 21, 23, 24, 25, 26,
        ],
    ),
    (6, 0, Reg::Eax, &[2]),
    (7, 0, Reg::Ebx, &[0, 6, 7, 10, 13, 18, 20, 23, 24, 29]),
    (7, 0, Reg::Ecx, &[24, 27, 28]),
    (7, 0, Reg::Edx, &[10, 26, 27, 28, 29, 30, 31]),
    (7, 2, Reg::Edx, &[0, 1, 2, 4]),
    (0xD, 0, Reg::Eax, &[0, 1]),
    (0xD, 1, Reg::Eax, &[0, 1, 2, 3]),
    (0x8000_0001, 0, Reg::Ecx, &[0, 5, 8]),
    (0x8000_0001, 0, Reg::Edx, &[11, 20, 26, 27, 29]),
];

#[test]
fn qemu_fixed1_bits_are_fixed1_verified_native_1_or_ve_reduction_bits() {
    for table in TABLES {
        let mut exceptions = Vec::new();
        for (leaf, subleaf, reg, bits) in QEMU_FIXED1 {
            let entry = &table.lookup[table.find(leaf, subleaf).unwrap()];
            for &bit in bits {
                let m = 1u32 << bit;
                let fixed1 = reg.get(&entry.fixed1) & m != 0;
                let verified = reg.get(&entry.verify_mask) & reg.get(&entry.verify_value) & m != 0;
                let class = classify(table, leaf, subleaf, reg, bit);
                let ve_reduction = matches!(class, BitClass::VeReduction(_));
                if !(fixed1 || verified || ve_reduction) {
                    exceptions.push((leaf, reg, bit, class));
                }
            }
        }
        // The only exception: before 1.5.28 leaf 6 is a faulting leaf (the VMM answers it
        // through #VE), so ARAT is no module bit there. (SYSCALL, dynamic at run time, is
        // verified 1.)
        let expected = if table.version < cpuid::V1_5_28 {
            vec![(6, Reg::Eax, 2, BitClass::Ve)]
        } else {
            vec![]
        };
        assert_eq!(exceptions, expected, "{}", table.version);
    }
}

#[test]
fn classify_names_every_kind_of_bit() {
    let t2 = t(cpuid::V2_0_18);
    let t15 = t(cpuid::V1_5_05);
    assert_eq!(classify(t2, 1, 0, Reg::Ecx, 31), BitClass::Fixed1);
    assert_eq!(classify(t2, 1, 0, Reg::Ecx, 5), BitClass::Fixed0); // VMX
    assert_eq!(classify(t2, 1, 0, Reg::Eax, 4), BitClass::Configurable);
    assert_eq!(classify(t2, 1, 0, Reg::Ecx, 3), BitClass::NativeOr0); // MONITOR
    assert_eq!(classify(t2, 1, 0, Reg::Ecx, 0), BitClass::Native); // SSE3
    assert_eq!(classify(t2, 1, 0, Reg::Ecx, 28), BitClass::Xfam(2)); // AVX
    assert_eq!(classify(t2, 7, 0, Reg::Ecx, 31), BitClass::Attributes(30)); // PKS
    assert_eq!(classify(t2, 0xD, 0, Reg::Ecx, 9), BitClass::Calculated);
    assert_eq!(classify(t2, 1, 0, Reg::Ebx, 30), BitClass::Dynamic);
    assert_eq!(
        classify(t2, 7, 0, Reg::Edx, 30),
        BitClass::VeReduction(ParavirtBit::CoreCapabilities)
    );
    assert_eq!(classify(t15, 7, 0, Reg::Edx, 30), BitClass::Native); // verified 1 in 1.5
    assert_eq!(classify(t2, 0x4000_0000, 0, Reg::Eax, 0), BitClass::Ve);
    assert_eq!(classify(t2, 0x3, 0, Reg::Eax, 0), BitClass::Fixed0);
    // 0x9 is in 2.0's fixed-0 bitmap (0 once the guest sets REDUCE_VE; #VE before).
    assert_eq!(classify(t2, 0x9, 0, Reg::Eax, 0), BitClass::Fixed0);
    assert_eq!(classify(t2, 6, 0, Reg::Eax, 2), BitClass::Fixed1); // ARAT, with REDUCE_VE
    assert_eq!(classify(t2, 0x1F, 1, Reg::Ebx, 3), BitClass::Configurable);
    assert_eq!(classify(t15, 0x9, 0, Reg::Eax, 0), BitClass::Ve);
    assert_eq!(classify(t15, 6, 0, Reg::Eax, 2), BitClass::Ve);
    assert_eq!(classify(t2, 0xD, 5, Reg::Eax, 0), BitClass::Xfam(5));
    assert_eq!(classify(t2, 0xA, 0, Reg::Eax, 0), BitClass::Attributes(63));
    assert_eq!(classify(t15, 7, 1, Reg::Eax, 6), BitClass::Attributes(27));
    assert_eq!(
        classify(t(cpuid::V1_5_01), 7, 1, Reg::Eax, 6),
        BitClass::Fixed0
    );
}

// ---- guest view ----

#[test]
fn ve_reduction_truth_table() {
    use cpuid::{ve_reduction_value, VePolarity};
    let truth = |negative: bool, h, r, p| {
        let polarity = if negative {
            VePolarity::Negative
        } else {
            VePolarity::Positive
        };
        ve_reduction_value(polarity, h, r, p)
    };
    let table = [
        // (polarity negative?, H, R, P) -> value
        (false, false, false, false, false),
        (false, false, false, true, false),
        (false, false, true, false, false),
        (false, false, true, true, false),
        (false, true, false, false, true),
        (false, true, false, true, true),
        (false, true, true, false, false),
        (false, true, true, true, true),
        (true, false, false, false, true),
        (true, false, false, true, true),
        (true, false, true, false, false),
        (true, false, true, true, false),
        (true, true, false, false, true),
        (true, true, false, true, true),
        (true, true, true, false, false),
        (true, true, true, true, true),
    ];
    for (negative, h, r, p, expected) in table {
        assert_eq!(
            truth(negative, h, r, p),
            expected,
            "neg={negative} H={h} R={r} P={p}"
        );
    }
}

fn value(g: GuestCpuid) -> CpuidValues {
    match g {
        GuestCpuid::Value { values, .. } => values,
        GuestCpuid::Ve => panic!("expected a value, got #VE"),
    }
}

#[test]
fn ve_reduction_bits_in_the_guest_view() {
    let table = t(cpuid::V2_0_18);
    // Host leaves MCA (AD) off and DCA (AD) on.
    let mut p = params(0x3, 0);
    p.cpuid_config[config_slot(table, 1, NO_SUBLEAF)].ecx = 1 << 18;
    let td = init(table, &p);
    assert_eq!(td.values_of(1, 0).unwrap().edx & (1 << 14), 0, "H(MCA) = 0");
    let none = GuestControls::default();
    let reduce = GuestControls {
        td_ctls: TdCtls::REDUCE_VE,
        ..none
    };
    let reduce_pv = GuestControls {
        td_ctls: TdCtls::REDUCE_VE,
        paravirt: ParavirtBit::Mca.mask() | ParavirtBit::Dca.mask(),
        ..none
    };
    // MCA and MCE: 1 without REDUCE_VE whatever the host set; 0 with it.
    assert_eq!(
        value(td.guest_view(1, 0, &none)).edx & (1 << 14 | 1 << 7),
        1 << 14 | 1 << 7
    );
    assert_eq!(
        value(td.guest_view(1, 0, &reduce)).edx & (1 << 14 | 1 << 7),
        0
    );
    assert_eq!(
        value(td.guest_view(1, 0, &reduce_pv)).edx & (1 << 14),
        0,
        "P && H, H = 0"
    );
    // DCA: host 1 -> 1, REDUCE_VE alone -> 0, REDUCE_VE + PV -> 1.
    assert_eq!(value(td.guest_view(1, 0, &none)).ecx >> 18 & 1, 1);
    assert_eq!(value(td.guest_view(1, 0, &reduce)).ecx >> 18 & 1, 0);
    assert_eq!(value(td.guest_view(1, 0, &reduce_pv)).ecx >> 18 & 1, 1);
    assert_eq!(VE_REDUCTION_BITS.len(), 13);
    // 1.5.05: no REDUCE_VE path; MCA is just the native, verified value.
    let old = init(t(cpuid::V1_5_05), &params(0x3, 0));
    assert_eq!(value(old.guest_view(1, 0, &reduce)).edx >> 14 & 1, 1);
}

#[test]
fn guest_decision_order() {
    let t2 = t(cpuid::V2_0_18);
    let td = init(t2, &params(0x3, 0));
    let none = GuestControls::default();
    let reduce = GuestControls {
        td_ctls: TdCtls::REDUCE_VE,
        ..none
    };
    // Hypervisor range: always #VE.
    assert_eq!(td.guest_view(0x4000_0000, 0, &reduce), GuestCpuid::Ve);
    // Whole-vCPU control first.
    assert_eq!(
        td.guest_view(
            0,
            0,
            &GuestControls {
                ve_all: true,
                ..none
            }
        ),
        GuestCpuid::Ve
    );
    // Fixed-0 bitmap leaves: #VE unless REDUCE_VE (0x9) or plain 0 (0x3).
    assert_eq!(td.guest_view(0x9, 0, &none), GuestCpuid::Ve);
    assert_eq!(
        value(td.guest_view(0x9, 0, &reduce)),
        CpuidValues::default()
    );
    assert_eq!(value(td.guest_view(0x3, 0, &none)), CpuidValues::default());
    // 0x9 with the DCA paravirt bit: #VE again.
    let dca = GuestControls {
        paravirt: ParavirtBit::Dca.mask(),
        ..reduce
    };
    assert_eq!(td.guest_view(0x9, 0, &dca), GuestCpuid::Ve);
    // Leaf 2 needs VIRT_CPUID2; 0x1F needs ENUM_TOPOLOGY.
    assert_eq!(td.guest_view(2, 0, &none), GuestCpuid::Ve);
    let cpuid2 = GuestControls {
        td_ctls: TdCtls::VIRT_CPUID2,
        ..none
    };
    assert_eq!(value(td.guest_view(2, 0, &cpuid2)).eax, 0x00FE_FF01);
    assert_eq!(td.guest_view(0x1F, 0, &none), GuestCpuid::Ve);
    let topo = GuestControls {
        td_ctls: TdCtls::ENUM_TOPOLOGY,
        ..none
    };
    match td.guest_view(0x1F, 1, &topo) {
        GuestCpuid::Value { values, dynamic } => {
            assert_eq!(values.ecx, 0x201);
            assert_eq!(dynamic.edx, u32::MAX, "x2APIC ID is dynamic");
        }
        GuestCpuid::Ve => panic!("ENUM_TOPOLOGY set"),
    }
    // Not in the table and not in the bitmap: #VE, or 0 with REDUCE_VE.
    assert_eq!(td.guest_view(0x18, 9, &none), GuestCpuid::Ve);
    assert_eq!(
        value(td.guest_view(0x18, 9, &reduce)),
        CpuidValues::default()
    );
    // Above the maximum base leaf: treated as 0x23.
    assert_eq!(td.clamp(0x30), 0x23);
    assert_eq!(td.clamp(0x8000_0010), 0x23);
    // Leaf 4 under REDUCE_VE: native values, EAX[31:14] host's.
    let l4 = value(td.guest_view(4, 0, &reduce));
    let native = SYNTHETIC_PLATFORM.cpuid(4, 0);
    assert_eq!(l4.ebx, native.ebx);
    assert_eq!(l4.eax & 0x3FFF, native.eax & 0x3FFF);
    assert_eq!(l4.eax & !0x3FFF, td.values_of(4, 0).unwrap().eax & !0x3FFF);

    // 1.5.05: faulting entries and unknown leaves always #VE, with or without REDUCE_VE.
    let old = init(t(cpuid::V1_5_05), &params(0x3, 0));
    assert_eq!(old.guest_view(0x8000_0006, 0, &reduce), GuestCpuid::Ve);
    assert_eq!(old.guest_view(0x9, 0, &reduce), GuestCpuid::Ve);
    assert_eq!(value(old.guest_view(0x1F, 0, &none)).ecx, 0x100);
    // Dynamic bits read 0 and are named.
    match old.guest_view(1, 0, &none) {
        GuestCpuid::Value { values, dynamic } => {
            assert_eq!(dynamic.ebx, 0xFF00_0000);
            assert_eq!(values.ebx & 0xFF00_0000, 0);
        }
        GuestCpuid::Ve => panic!("leaf 1 answers"),
    }
}

#[test]
fn recorded_cpuid_falls_back_to_the_no_subleaf_record_then_zero() {
    let records = [Recorded {
        leaf: CpuidLeaf {
            leaf: 5,
            subleaf: NO_SUBLEAF,
        },
        values: vals(1, 2, 3, 4),
    }];
    let dump = RecordedCpuid { records: &records };
    assert_eq!(dump.cpuid(5, 7), vals(1, 2, 3, 4));
    assert_eq!(dump.cpuid(6, 0), CpuidValues::default());
}

#[test]
fn version_parsing() {
    assert_eq!(cpuid::parse_version("1.5.05"), Some(cpuid::V1_5_05));
    assert_eq!(cpuid::parse_version("2.0.18"), Some(cpuid::V2_0_18));
    assert_eq!(cpuid::parse_version("1.5"), None);
    assert_eq!(cpuid::parse_version("1.5.32"), Some(cpuid::V1_5_32));
    assert!(cpuid::table(cpuid::parse_version("1.5.28").unwrap()).is_none());
    assert_eq!(cpuid::newest().version, cpuid::V2_0_18);
}
