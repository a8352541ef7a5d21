//! CPUID virtualization from data: what a TD's CPUID will be, per TDX module version.
//!
//! The TDX module decides a TD's CPUID from a per-version table (the [`CpuidTable`]s in
//! [`TABLES`], transcribed from Intel's module source) plus rules that are code in the
//! module: leaf-specific fix-ups at TDH.MNG.INIT, the decision order at guest CPUID time and
//! the #VE-reduction bits. This module holds both, so a host can answer, before building a
//! TD:
//!
//! - which class any bit of any leaf has ([`classify`]: fixed 0, fixed 1, configurable,
//!   native-or-0, native, XFAM bit n, ATTRIBUTES bit n, calculated, dynamic, #VE-reduction);
//! - whether a TD_PARAMS.CPUID_CONFIG is valid, with exactly the status and RCX the module
//!   would return, and what TDCS.CPUID_VALUES the module then holds ([`mng_init`], the values
//!   KVM_TDX_GET_CPUID reports);
//! - what the guest sees for a leaf given its run-time controls ([`TdCpuid::guest_view`]): a
//!   value with its dynamic bits named, or a virtualization exception (#VE).
//!
//! Native CPUID comes from a [`NativeCpuid`]: the live instruction (`LiveCpuid`, x86-64), a
//! recorded dump ([`RecordedCpuid`], e.g. [`SYNTHETIC_PLATFORM`]), or any closure.
//!
//! `no_std`, no `alloc`: every result is a fixed-size value.
//!
//! ```
//! use tdxcall::abi::td_params::TdParams;
//! use tdxcall::abi::{Attributes, Xfam};
//! use tdxcall::cpuid::{self, GuestControls, GuestCpuid, Platform, SYNTHETIC_PLATFORM};
//!
//! let table = cpuid::table(cpuid::V1_5_05).expect("a modelled version");
//! let mut params = TdParams::default();
//! params.attributes = Attributes::SEPT_VE_DISABLE;
//! params.xfam = Xfam::from_bits_retain(0xE7);
//! params.tsc_frequency = 100;
//! let td = cpuid::mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &params)
//!     .expect("the module accepts an all-zero CPUID_CONFIG");
//! // The maximum base leaf is fixed at 0x23.
//! assert_eq!(td.values_of(0, 0).unwrap().eax, 0x23);
//! // Leaf 6 is a "faulting" leaf in 1.5: the guest gets a #VE.
//! assert_eq!(td.guest_view(6, 0, &GuestControls::default()), GuestCpuid::Ve);
//! ```
//!
//! What is modelled and what is not, with the source of each rule, is documented on each
//! function. Rules that no primary source read for this crate confirms are marked
//! UNVERIFIED.

mod guest;
mod init;
mod tables;

pub use guest::{
    ve_reduction_value, GuestControls, GuestCpuid, ParavirtBit, TdCtls, VePolarity, VeReductionBit,
    VE_REDUCTION_BITS,
};
pub use init::{config_value, mng_init, sys_init_check, InitError, Platform, TdCpuid};

pub use crate::abi::td_params::{CpuidLeaf, CpuidValues};
use crate::leaf::ModuleVersion;

/// The subleaf value of a leaf without subleaves.
pub const NO_SUBLEAF: u32 = CpuidLeaf::NO_SUBLEAF;

/// The most lookup entries any modelled table has (2.0.18: 79), rounded up.
pub const MAX_LOOKUP: usize = 80;

/// TDX module 1.5.01.
pub const V1_5_01: ModuleVersion = ModuleVersion {
    major: 1,
    minor: 5,
    update: 1,
};
/// TDX module 1.5.05.
pub const V1_5_05: ModuleVersion = ModuleVersion {
    major: 1,
    minor: 5,
    update: 5,
};
/// TDX module 1.5.28: the first with #VE reduction and the 2.0-style table (not tabled here).
pub const V1_5_28: ModuleVersion = ModuleVersion {
    major: 1,
    minor: 5,
    update: 28,
};
/// TDX module 1.5.32.
pub const V1_5_32: ModuleVersion = ModuleVersion {
    major: 1,
    minor: 5,
    update: 32,
};
/// TDX module 2.0.18.
pub const V2_0_18: ModuleVersion = ModuleVersion {
    major: 2,
    minor: 0,
    update: 18,
};

/// One of the four CPUID output registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reg {
    /// EAX.
    Eax,
    /// EBX.
    Ebx,
    /// ECX.
    Ecx,
    /// EDX.
    Edx,
}

impl Reg {
    /// The four registers in output order.
    pub const ALL: [Reg; 4] = [Reg::Eax, Reg::Ebx, Reg::Ecx, Reg::Edx];

    /// The register's value in `values`.
    #[inline]
    pub const fn get(self, values: &CpuidValues) -> u32 {
        match self {
            Reg::Eax => values.eax,
            Reg::Ebx => values.ebx,
            Reg::Ecx => values.ecx,
            Reg::Edx => values.edx,
        }
    }

    /// Sets the register's value in `values`.
    #[inline]
    pub fn set(self, values: &mut CpuidValues, value: u32) {
        match self {
            Reg::Eax => values.eax = value,
            Reg::Ebx => values.ebx = value,
            Reg::Ecx => values.ecx = value,
            Reg::Edx => values.edx = value,
        }
    }

    /// The lower-case name (`"eax"`).
    pub const fn name(self) -> &'static str {
        match self {
            Reg::Eax => "eax",
            Reg::Ebx => "ebx",
            Reg::Ecx => "ecx",
            Reg::Edx => "edx",
        }
    }
}

/// Register-wise `f(a, b)`.
#[inline]
pub(crate) fn zip(a: CpuidValues, b: CpuidValues, f: impl Fn(u32, u32) -> u32) -> CpuidValues {
    CpuidValues {
        eax: f(a.eax, b.eax),
        ebx: f(a.ebx, b.ebx),
        ecx: f(a.ecx, b.ecx),
        edx: f(a.edx, b.edx),
    }
}

/// All four registers zero.
pub const ZERO: CpuidValues = CpuidValues {
    eax: 0,
    ebx: 0,
    ecx: 0,
    edx: 0,
};

/// One lookup entry of the module's table (`cpuid_lookup`): a leaf/subleaf the module
/// samples at TDH.SYS.INIT and virtualizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LookupEntry {
    /// Leaf and subleaf ([`NO_SUBLEAF`] when the leaf has none).
    pub leaf: CpuidLeaf,
    /// 1.5.x: the guest's CPUID of this leaf always gets a #VE (CPUID_VALID is false).
    pub faulting: bool,
    /// Native bits checked at TDH.SYS.INIT: `native & verify_mask == verify_value`.
    pub verify_mask: CpuidValues,
    /// The values those bits must have.
    pub verify_value: CpuidValues,
    /// Bits that must be equal on every logical processor (TDH.SYS.LP.INIT).
    pub verify_same: CpuidValues,
    /// Bits forced to 0 at sampling: truly fixed 0, or filled in later (dynamic, calculated).
    pub fixed0_or_dynamic: CpuidValues,
    /// Bits forced to 1.
    pub fixed1: CpuidValues,
    /// Index into the configurable table, if the host configures this entry.
    pub config_index: Option<u8>,
}

/// One configurable entry (`cpuid_configurable`), in CPUID_CONFIG_LEAVES order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigurableEntry {
    /// Leaf and subleaf.
    pub leaf: CpuidLeaf,
    /// Bits the host sets to any value (CONFIG_DIRECT), whatever the CPU has.
    pub config_direct: CpuidValues,
    /// Bits the host may keep native or clear (ALLOW_DIRECT).
    pub allow_direct: CpuidValues,
    /// Index of the lookup entry with the same leaf/subleaf.
    pub lookup_index: u8,
}

/// The leaves that have XFAM mask tables, in [`CpuidTable::xfam_masks`] order.
pub const XFAM_MASK_LEAVES: [CpuidLeaf; 5] = [
    CpuidLeaf {
        leaf: 1,
        subleaf: NO_SUBLEAF,
    },
    CpuidLeaf {
        leaf: 7,
        subleaf: 0,
    },
    CpuidLeaf {
        leaf: 7,
        subleaf: 1,
    },
    CpuidLeaf {
        leaf: 0xD,
        subleaf: 0,
    },
    CpuidLeaf {
        leaf: 0xD,
        subleaf: 1,
    },
];

/// The highest XFAM bit the module's mask tables cover (XCR0_MAX_VALID_BIT).
pub const XFAM_MAX_BIT: u32 = 18;

/// One module version's CPUID table.
#[derive(Debug)]
pub struct CpuidTable {
    /// The module version.
    pub version: ModuleVersion,
    /// The lookup entries, in the module's index order (TDCS.CPUID_VALUES order).
    pub lookup: &'static [LookupEntry],
    /// The configurable entries, in CPUID_CONFIG_LEAVES / TD_PARAMS.CPUID_CONFIG order.
    pub configurable: &'static [ConfigurableEntry],
    xfam: &'static [[[u32; 4]; 19]; 5],
    /// The fixed-0 leaf bitmap, where the version has one (2.0: CPUID_FIXED0_BITMAP).
    pub fixed0_bitmap: Option<u64>,
    /// `intel/tdx-module` commit the numbers were read at.
    pub commit: &'static str,
    /// Path of the generated file in that commit.
    pub path: &'static str,
}

impl CpuidTable {
    /// The lookup index of `leaf`/`subleaf` as the guest's CPUID finds it: an entry without
    /// subleaves matches any subleaf.
    pub fn find(&self, leaf: u32, subleaf: u32) -> Option<usize> {
        self.lookup.iter().position(|entry| {
            entry.leaf.leaf == leaf
                && (entry.leaf.subleaf == subleaf || entry.leaf.subleaf == NO_SUBLEAF)
        })
    }

    /// The lookup index of exactly `leaf`/`subleaf` (as in the tables and CPUID_VALUES).
    pub fn find_exact(&self, leaf: CpuidLeaf) -> Option<usize> {
        self.lookup.iter().position(|entry| entry.leaf == leaf)
    }

    /// The configurable entry for a lookup entry, if any.
    pub fn configurable_of(&self, entry: &LookupEntry) -> Option<&'static ConfigurableEntry> {
        entry
            .config_index
            .and_then(|i| self.configurable.get(i as usize))
    }

    /// The XFAM mask table of `leaf` (bits that XFAM bit n clears when it is 0), for the five
    /// leaves of [`XFAM_MASK_LEAVES`].
    pub fn xfam_masks(&self, leaf: CpuidLeaf) -> Option<[CpuidValues; 19]> {
        let which = XFAM_MASK_LEAVES.iter().position(|l| *l == leaf)?;
        let mut out = [ZERO; 19];
        for (o, r) in out.iter_mut().zip(self.xfam[which].iter()) {
            *o = CpuidValues {
                eax: r[0],
                ebx: r[1],
                ecx: r[2],
                edx: r[3],
            };
        }
        Some(out)
    }

    /// Whether the version's fixed-0 bitmap lists `leaf` (never, for versions without one).
    pub fn in_fixed0_bitmap(&self, leaf: u32) -> bool {
        let Some(bitmap) = self.fixed0_bitmap else {
            return false;
        };
        let bit = if leaf < 52 {
            leaf
        } else if (0x8000_0000..0x8000_0000 + 12).contains(&leaf) {
            52 + (leaf - 0x8000_0000)
        } else {
            return false;
        };
        bitmap & (1 << bit) != 0
    }

    /// The rule set of this version.
    pub(crate) fn rules(&self) -> Rules {
        Rules::of(self.version)
    }
}

/// The version differences that are code in the module, as named switches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rules {
    /// 1.5.05+: HLE != RTM reports RCX = leaf 7; 1.5.01 leaves RCX 0.
    pub hle_rtm_rcx: bool,
    /// 1.5.05+: 7.1.EAX.LASS := ATTRIBUTES.LASS; 0x1A zero for migratable TDs; 0x23 zero
    /// unless PERFMON and `7.1.EAX[8]`; 0x1F check and 0xB derivation.
    pub v1_5_05: bool,
    /// 1.5.28+ and 2.0: #VE reduction (TD_CTLS.REDUCE_VE, FEATURE_PARAVIRT_CTLS), leaves
    /// 0x2/0x6 and the fixed-0 bitmap at guest time, 0x40000000 range always #VE, 0x23.n
    /// gated by 0x23.0, virtual MAXPA in 0x80000008 (CPUID reference 2.4/2.5: the 1.5.28
    /// and 2.0.08 guest-time logic is identical).
    pub v1_5_28: bool,
}

impl Rules {
    fn of(version: ModuleVersion) -> Rules {
        Rules {
            hle_rtm_rcx: version >= V1_5_05,
            v1_5_05: version >= V1_5_05,
            v1_5_28: version >= V1_5_28,
        }
    }
}

/// 1.5.01 (`intel/tdx-module` branch `tdx_1.5`).
pub static TABLE_1_5_01: CpuidTable = CpuidTable {
    version: V1_5_01,
    lookup: &tables::V1_5_01_LOOKUP,
    configurable: &tables::V1_5_01_CONFIGURABLE,
    xfam: &tables::V1_5_01_XFAM,
    fixed0_bitmap: None,
    commit: "72d8cffb214b74ae94d75afce36423020f74b47c",
    path: "include/auto_gen/cpuid_configurations.c",
};

/// 1.5.05.
pub static TABLE_1_5_05: CpuidTable = CpuidTable {
    version: V1_5_05,
    lookup: &tables::V1_5_05_LOOKUP,
    configurable: &tables::V1_5_05_CONFIGURABLE,
    xfam: &tables::V1_5_05_XFAM,
    fixed0_bitmap: None,
    commit: "e98d9639138dd59d020ca4d14e9fc14c8df045bb",
    path: "include/auto_gen/cpuid_configurations.c",
};

/// 1.5.32 (differs from 2.0.18 only in 7.1: fixed0 EAX, ALLOW_DIRECT EAX, no AMX XFAM masks).
pub static TABLE_1_5_32: CpuidTable = CpuidTable {
    version: V1_5_32,
    lookup: &tables::V1_5_32_LOOKUP,
    configurable: &tables::V1_5_32_CONFIGURABLE,
    xfam: &tables::V1_5_32_XFAM,
    fixed0_bitmap: Some(tables::V2_0_18_FIXED0_BITMAP),
    commit: "9fd3c8b1d52ba3092f7d99d9eb036644f9765a79",
    path: "include/auto_gen_1_5/cpuid_configurations.c",
};

/// 2.0.18.
pub static TABLE_2_0_18: CpuidTable = CpuidTable {
    version: V2_0_18,
    lookup: &tables::V2_0_18_LOOKUP,
    configurable: &tables::V2_0_18_CONFIGURABLE,
    xfam: &tables::V2_0_18_XFAM,
    fixed0_bitmap: Some(tables::V2_0_18_FIXED0_BITMAP),
    commit: "e69a4391305e993a7c646eb5eee15f2c47a649c4",
    path: "include/auto_gen_2_0/cpuid_configurations.c",
};

/// Every modelled version's table, oldest first.
pub static TABLES: [&CpuidTable; 4] = [&TABLE_1_5_01, &TABLE_1_5_05, &TABLE_1_5_32, &TABLE_2_0_18];

/// The table of `version`, if it is modelled (exact match).
pub fn table(version: ModuleVersion) -> Option<&'static CpuidTable> {
    TABLES.iter().copied().find(|t| t.version == version)
}

/// The newest modelled table.
pub fn newest() -> &'static CpuidTable {
    TABLES[TABLES.len() - 1]
}

/// Parses `"1.5.05"` (or `"1.5.5"`) into a version.
pub fn parse_version(text: &str) -> Option<ModuleVersion> {
    let mut parts = text.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let update = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(ModuleVersion {
        major,
        minor,
        update,
    })
}

/// Where native CPUID values come from.
pub trait NativeCpuid {
    /// CPUID with EAX = `leaf`, ECX = `subleaf`.
    fn cpuid(&self, leaf: u32, subleaf: u32) -> CpuidValues;
}

impl<F: Fn(u32, u32) -> CpuidValues> NativeCpuid for F {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> CpuidValues {
        self(leaf, subleaf)
    }
}

/// The `cpuid` instruction of the CPU this code runs on.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, Default)]
pub struct LiveCpuid;

#[cfg(target_arch = "x86_64")]
impl NativeCpuid for LiveCpuid {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> CpuidValues {
        // SAFETY: CPUID exists on every x86-64 CPU and only writes the four output
        // registers; it has no memory effects. (Newer toolchains declare the intrinsic safe.)
        #[allow(unused_unsafe)]
        let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, subleaf) };
        CpuidValues {
            eax: r.eax,
            ebx: r.ebx,
            ecx: r.ecx,
            edx: r.edx,
        }
    }
}

/// One recorded CPUID result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Leaf and subleaf ([`NO_SUBLEAF`]: the result for any subleaf).
    pub leaf: CpuidLeaf,
    /// The output registers.
    pub values: CpuidValues,
}

/// A recorded CPUID dump: exact leaf/subleaf first, then a [`NO_SUBLEAF`] record of the
/// leaf, else all zero (as a CPU answers a leaf it does not implement within range).
#[derive(Clone, Copy, Debug)]
pub struct RecordedCpuid<'a> {
    /// The records.
    pub records: &'a [Recorded],
}

impl NativeCpuid for RecordedCpuid<'_> {
    fn cpuid(&self, leaf: u32, subleaf: u32) -> CpuidValues {
        self.records
            .iter()
            .find(|r| r.leaf.leaf == leaf && r.leaf.subleaf == subleaf)
            .or_else(|| {
                self.records
                    .iter()
                    .find(|r| r.leaf.leaf == leaf && r.leaf.subleaf == NO_SUBLEAF)
            })
            .map_or(ZERO, |r| r.values)
    }
}

const fn rec(leaf: u32, subleaf: u32, eax: u32, ebx: u32, ecx: u32, edx: u32) -> Recorded {
    Recorded {
        leaf: CpuidLeaf { leaf, subleaf },
        values: CpuidValues { eax, ebx, ecx, edx },
    }
}

/// A synthetic Intel platform's native CPUID: the software module's own, and the default
/// for examples and tests.
///
/// **It describes no real part.** The values are chosen to pass the TDH.SYS.INIT checks
/// (verify masks) of every modelled table, with a Sapphire-Rapids-like family/model
/// (0x806F8), AVX-512, PKU, CET, LBR and AMX, 52 physical address bits, LA57, 2 threads per
/// core and 48 cores per package. A test checks it against every table.
pub static SYNTHETIC_PLATFORM: RecordedCpuid<'static> = RecordedCpuid {
    records: &SYNTHETIC_RECORDS,
};

static SYNTHETIC_RECORDS: [Recorded; 60] = [
    rec(0, NO_SUBLEAF, 0x23, 0x756E_6547, 0x6C65_746E, 0x4965_6E69),
    rec(
        1,
        NO_SUBLEAF,
        0x0008_06F8,
        0x0080_0800,
        0x77FE_EF9F,
        0xBFED_FBFF,
    ),
    rec(2, NO_SUBLEAF, 0x00FE_FF01, 0x0000_00F0, 0, 0),
    rec(4, 0, 0x1C00_4121, 0x02C0_003F, 0x0000_003F, 0),
    rec(4, 1, 0x1C00_4122, 0x01C0_003F, 0x0000_003F, 0),
    rec(4, 2, 0x1C00_4143, 0x03C0_003F, 0x0000_07FF, 0),
    rec(4, 3, 0x1C03_C163, 0x0380_003F, 0x0001_FFFF, 0x4),
    rec(5, NO_SUBLEAF, 0x40, 0x40, 0x3, 0x2020),
    rec(6, NO_SUBLEAF, 0x4, 0, 0x9, 0),
    rec(7, 0, 0x2, 0xF3BF_FFFF, 0x9B41_5F6E, 0xFC0C_0412),
    rec(7, 1, 0x0000_1C30, 0, 0, 0x0000_0000),
    rec(7, 2, 0, 0, 0, 0x3F),
    rec(0xA, NO_SUBLEAF, 0x0830_0805, 0, 0xF, 0x8603),
    rec(0xB, 0, 1, 2, 0x100, 0),
    rec(0xB, 1, 7, 0x60, 0x201, 0),
    rec(0xB, 2, 0, 0, 2, 0),
    rec(0xD, 0, 0x0006_02E7, 0xA88, 0x2B00, 0),
    rec(0xD, 1, 0x1F, 0x990, 0x9900, 0),
    rec(0xD, 2, 256, 576, 0, 0),
    rec(0xD, 5, 64, 1088, 0, 0),
    rec(0xD, 6, 512, 1152, 0, 0),
    rec(0xD, 7, 1024, 1664, 0, 0),
    rec(0xD, 8, 128, 0, 1, 0),
    rec(0xD, 9, 8, 2688, 0, 0),
    rec(0xD, 11, 16, 0, 1, 0),
    rec(0xD, 12, 24, 0, 1, 0),
    rec(0xD, 14, 48, 0, 1, 0),
    rec(0xD, 15, 808, 0, 1, 0),
    rec(0xD, 17, 64, 2752, 2, 0),
    rec(0xD, 18, 8192, 2816, 6, 0),
    rec(0x14, 0, 1, 0x1BF, 0x8000_000F, 0),
    rec(0x14, 1, 0x0249_0002, 0x003F_FFFF, 0, 0),
    rec(0x15, NO_SUBLEAF, 2, 0xBC, 0x017D_7840, 0),
    rec(0x16, NO_SUBLEAF, 0x7D0, 0xF3C, 0x64, 0),
    rec(0x19, NO_SUBLEAF, 0x7, 0x14, 0x3, 0),
    rec(0x1A, NO_SUBLEAF, 0x4000_0001, 0, 0, 0),
    rec(0x1C, NO_SUBLEAF, 0x4000_000F, 0x7, 0x7, 0),
    rec(0x1D, 0, 1, 0, 0, 0),
    rec(0x1D, 1, 0x0400_2000, 0x0008_0040, 0x10, 0),
    rec(0x1E, NO_SUBLEAF, 0, 0x4010, 0, 0),
    rec(0x1F, 0, 1, 2, 0x100, 0),
    rec(0x1F, 1, 7, 0x60, 0x201, 0),
    rec(0x1F, 2, 0, 0, 2, 0),
    rec(0x1F, 3, 0, 0, 3, 0),
    rec(0x1F, 4, 0, 0, 4, 0),
    rec(0x1F, 5, 0, 0, 5, 0),
    rec(0x20, NO_SUBLEAF, 0, 0, 0, 0),
    rec(0x23, 0, 0x3, 0, 0, 0),
    rec(0x23, 1, 0xFF, 0x3, 0, 0),
    rec(0x23, 2, 0x0000_00FF, 0, 0, 0),
    rec(0x23, 3, 0x0000_0007, 0, 0, 0),
    rec(0x8000_0000, NO_SUBLEAF, 0x8000_0008, 0, 0, 0),
    rec(0x8000_0001, NO_SUBLEAF, 0, 0, 0x121, 0x2C10_0800),
    rec(
        0x8000_0002,
        NO_SUBLEAF,
        0x6574_6E49,
        0x2952_286C,
        0x6F65_5820,
        0x2952_286E,
    ),
    rec(
        0x8000_0003,
        NO_SUBLEAF,
        0x7369_6854,
        0x2073_6920,
        0x6E79_7320,
        0x6974_6568,
    ),
    rec(0x8000_0004, NO_SUBLEAF, 0x0000_6369, 0, 0, 0),
    rec(0x8000_0006, NO_SUBLEAF, 0, 0, 0x0800_7040, 0),
    rec(0x8000_0007, NO_SUBLEAF, 0, 0, 0, 0x100),
    rec(0x8000_0008, NO_SUBLEAF, 0x0000_3934, 0x0000_0200, 0, 0),
    rec(0x1B, NO_SUBLEAF, 0, 0, 0, 0),
];

/// The class of one CPUID bit in a module version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitClass {
    /// Always 0.
    Fixed0,
    /// Always 1.
    Fixed1,
    /// The host sets it freely in TD_PARAMS.CPUID_CONFIG (CONFIG_DIRECT).
    Configurable,
    /// The host keeps the native value or clears it (ALLOW_DIRECT).
    NativeOr0,
    /// The native value (often verified at TDH.SYS.INIT).
    Native,
    /// Native (or host-allowed) value, cleared when XFAM bit n is 0.
    Xfam(u8),
    /// Decided by ATTRIBUTES bit n (a copy of it, or native only when it is set / clear).
    Attributes(u8),
    /// Computed by the module at TDH.MNG.INIT (XSAVE size, leaf 0xB, TSC, LA bits).
    Calculated,
    /// Filled in at guest CPUID time (APIC IDs, OSXSAVE, OSPKE, 0xD EBX, SYSCALL).
    Dynamic,
    /// A #VE-reduction bit: its final value depends on TD_CTLS.REDUCE_VE and this
    /// FEATURE_PARAVIRT_CTLS bit (see [`VE_REDUCTION_BITS`]).
    VeReduction(ParavirtBit),
    /// The whole leaf always raises #VE at guest time (1.5 faulting leaves, leaves outside
    /// the table and its fixed-0 bitmap, 2.0's 0x40000000-0x4FFFFFFF).
    Ve,
}

impl core::fmt::Display for BitClass {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BitClass::Fixed0 => f.write_str("fixed 0"),
            BitClass::Fixed1 => f.write_str("fixed 1"),
            BitClass::Configurable => f.write_str("configurable"),
            BitClass::NativeOr0 => f.write_str("native or 0"),
            BitClass::Native => f.write_str("native"),
            BitClass::Xfam(n) => write!(f, "XFAM[{n}]"),
            BitClass::Attributes(n) => write!(f, "ATTRIBUTES[{n}]"),
            BitClass::Calculated => f.write_str("calculated"),
            BitClass::Dynamic => f.write_str("dynamic"),
            BitClass::VeReduction(bit) => write!(f, "#VE reduction ({bit:?})"),
            BitClass::Ve => f.write_str("#VE"),
        }
    }
}

/// Bits filled in at guest CPUID time, per leaf/subleaf (subleaf [`NO_SUBLEAF`] = any).
/// M3 `td_cpuid.c` (1.5.28, 2.0.08) and the CPUID reference, section 2.3.
pub const DYNAMIC_BITS: [(CpuidLeaf, CpuidValues); 7] = [
    // 1.EBX[31:24] initial APIC ID, 1.ECX[27] OSXSAVE.
    (leaf_any(1), vals(0, 0xFF00_0000, 1 << 27, 0)),
    // 7.0.ECX[4] OSPKE.
    (leaf_sub(7, 0), vals(0, 0, 1 << 4, 0)),
    // 0xB and 0x1F EDX: x2APIC ID.
    (leaf_any(0xB), vals(0, 0, 0, 0xFFFF_FFFF)),
    (leaf_any(0x1F), vals(0, 0, 0, 0xFFFF_FFFF)),
    // 0xD.0 / 0xD.1 EBX: XSAVE size for the current XCR0 (| IA32_XSS).
    (leaf_sub(0xD, 0), vals(0, 0xFFFF_FFFF, 0, 0)),
    (leaf_sub(0xD, 1), vals(0, 0xFFFF_FFFF, 0, 0)),
    // 0x80000001.EDX[11] SYSCALL: 1 only in 64-bit mode.
    (leaf_any(0x8000_0001), vals(0, 0, 0, 1 << 11)),
];

/// Bits the module computes at TDH.MNG.INIT, per leaf/subleaf ([`NO_SUBLEAF`] = any).
pub const CALCULATED_BITS: [(CpuidLeaf, CpuidValues); 4] = [
    // 0xD.0 ECX: maximum XSAVE size for XFAM.
    (leaf_sub(0xD, 0), vals(0, 0, 0xFFFF_FFFF, 0)),
    // 0xB.n: derived from the 0x1F configuration.
    (leaf_any(0xB), vals(0x1F, 0xFFFF, 0xFFFF, 0)),
    // 0x15.EBX: TD_PARAMS.TSC_FREQUENCY.
    (leaf_any(0x15), vals(0, 0xFFFF_FFFF, 0, 0)),
    // 0x80000008.EAX[15:8]: linear-address bits from LA57.
    (leaf_any(0x8000_0008), vals(0xFF00, 0, 0, 0)),
];

const fn leaf_any(leaf: u32) -> CpuidLeaf {
    CpuidLeaf {
        leaf,
        subleaf: NO_SUBLEAF,
    }
}

const fn leaf_sub(leaf: u32, subleaf: u32) -> CpuidLeaf {
    CpuidLeaf { leaf, subleaf }
}

const fn vals(eax: u32, ebx: u32, ecx: u32, edx: u32) -> CpuidValues {
    CpuidValues { eax, ebx, ecx, edx }
}

fn mask_of(list: &[(CpuidLeaf, CpuidValues)], leaf: u32, subleaf: u32) -> CpuidValues {
    list.iter()
        .filter(|(l, _)| l.leaf == leaf && (l.subleaf == subleaf || l.subleaf == NO_SUBLEAF))
        .fold(ZERO, |acc, (_, m)| zip(acc, *m, |a, b| a | b))
}

/// The dynamic bits of `leaf`/`subleaf`.
pub fn dynamic_mask(leaf: u32, subleaf: u32) -> CpuidValues {
    mask_of(&DYNAMIC_BITS, leaf, subleaf)
}

/// The calculated bits of `leaf`/`subleaf` (in `table`'s version: 0xB only from 1.5.05).
pub fn calculated_mask(table: &CpuidTable, leaf: u32, subleaf: u32) -> CpuidValues {
    if leaf == 0xB && !table.rules().v1_5_05 {
        return ZERO;
    }
    mask_of(&CALCULATED_BITS, leaf, subleaf)
}

/// ATTRIBUTES-controlled CPUID bits: (leaf, subleaf, register, bit, ATTRIBUTES bit, first
/// version). Module source `tdh_mng_init.c` (1.5.01, 1.5.05).
const ATTRIBUTE_BITS: [(u32, u32, Reg, u32, u8, ModuleVersion); 2] = [
    // 7.0.ECX[31] PKS := ATTRIBUTES.PKS (bit 30).
    (7, 0, Reg::Ecx, 31, 30, V1_5_01),
    // 7.1.EAX[6] LASS := ATTRIBUTES.LASS (bit 27).
    (7, 1, Reg::Eax, 6, 27, V1_5_05),
];

/// Whole leaves gated by XFAM: (leaf, first subleaf, last subleaf, XFAM bit; `None` = the
/// subleaf number is the bit).
const XFAM_LEAVES: [(u32, u32, u32, Option<u8>); 4] = [
    (0xD, 2, 18, None),
    (0x14, 0, 1, Some(8)),
    (0x1C, NO_SUBLEAF, NO_SUBLEAF, Some(15)),
    (0x1D, 0, 1, Some(17)),
];

/// Whole leaves gated by ATTRIBUTES: (leaf, ATTRIBUTES bit, first version).
const ATTRIBUTE_LEAVES: [(u32, u8, ModuleVersion); 3] = [
    // 0xA: native only with PERFMON (bit 63).
    (0xA, 63, V1_5_01),
    // 0x23: native only with PERFMON (and 7.1.EAX[8]).
    (0x23, 63, V1_5_05),
    // 0x1A: zero for a MIGRATABLE (bit 29) TD.
    (0x1A, 29, V1_5_05),
];

/// The class of bit `bit` of register `reg` of `leaf`/`subleaf` in `table`'s version.
///
/// A leaf whose #VE depends on the guest's run-time opt-ins (2.0: 0x2 without VIRT_CPUID2,
/// 0xB/0x1F without ENUM_TOPOLOGY, 0x6, 0x9, 0xC, ... without REDUCE_VE) reports the class
/// its bits have once the guest opted in; [`TdCpuid::guest_view`] decides the #VE.
///
/// Precedence: always-#VE leaves (1.5 faulting entries, leaves outside the table and its
/// fixed-0 bitmap, 2.0's 0x40000000-0x4FFFFFFF), then #VE-reduction, dynamic, calculated,
/// ATTRIBUTES-controlled bits and leaves, the forced-0 Key Locker bits, fixed 1, fixed 0,
/// XFAM masks, configurable, native-or-0, native. A bit that is both ALLOW_DIRECT and
/// XFAM-masked reports the XFAM bit (it is native-or-0 *and* cleared without that XFAM bit).
///
/// ```
/// use tdxcall::cpuid::{self, BitClass, ParavirtBit, Reg};
/// let t = cpuid::table(cpuid::V2_0_18).unwrap();
/// // CPUID(1)`.ECX[31]`: the hypervisor bit is fixed 1.
/// assert_eq!(cpuid::classify(t, 1, 0, Reg::Ecx, 31), BitClass::Fixed1);
/// // CPUID(1)`.EDX[14]` MCA is a #VE-reduction bit in 2.0.18.
/// assert_eq!(cpuid::classify(t, 1, 0, Reg::Edx, 14), BitClass::VeReduction(ParavirtBit::Mca));
/// // CPUID(7,0)`.EBX[16]` AVX512F needs XFAM bits 5-7.
/// assert!(matches!(cpuid::classify(t, 7, 0, Reg::Ebx, 16), BitClass::Xfam(5..=7)));
/// ```
pub fn classify(table: &CpuidTable, leaf: u32, subleaf: u32, reg: Reg, bit: u32) -> BitClass {
    let rules = table.rules();
    let m = 1u32 << (bit & 31);
    if rules.v1_5_28 && (0x4000_0000..=0x4FFF_FFFF).contains(&leaf) {
        return BitClass::Ve;
    }
    let Some(index) = table.find(leaf, subleaf) else {
        if table.in_fixed0_bitmap(leaf) {
            return BitClass::Fixed0;
        }
        return BitClass::Ve;
    };
    let entry = &table.lookup[index];
    if entry.faulting {
        return BitClass::Ve;
    }
    if rules.v1_5_28 {
        if let Some(row) = VE_REDUCTION_BITS
            .iter()
            .find(|r| r.leaf == leaf && r.subleaf_matches(subleaf) && r.reg == reg && r.bit == bit)
        {
            return BitClass::VeReduction(row.paravirt);
        }
    }
    if reg.get(&dynamic_mask(leaf, subleaf)) & m != 0 {
        return BitClass::Dynamic;
    }
    if reg.get(&calculated_mask(table, leaf, subleaf)) & m != 0 {
        return BitClass::Calculated;
    }
    for (l, s, r, b, attr, since) in ATTRIBUTE_BITS {
        if l == leaf && s == subleaf && r == reg && b == bit && table.version >= since {
            return BitClass::Attributes(attr);
        }
    }
    // 7.0.ECX[23] Key Locker and the whole of leaf 0x19 are forced to 0.
    if (leaf == 7 && subleaf == 0 && reg == Reg::Ecx && bit == 23) || leaf == 0x19 {
        return BitClass::Fixed0;
    }
    if reg.get(&entry.fixed1) & m != 0 {
        return BitClass::Fixed1;
    }
    if reg.get(&entry.fixed0_or_dynamic) & m != 0 {
        return BitClass::Fixed0;
    }
    for (l, attr, since) in ATTRIBUTE_LEAVES {
        if l == leaf && table.version >= since {
            return BitClass::Attributes(attr);
        }
    }
    for (l, first, last, xbit) in XFAM_LEAVES {
        let in_range = if first == NO_SUBLEAF {
            true
        } else {
            (first..=last).contains(&subleaf)
        };
        if l == leaf && in_range {
            return BitClass::Xfam(xbit.unwrap_or(subleaf as u8));
        }
    }
    if let Some(masks) = table.xfam_masks(entry.leaf) {
        if let Some(n) = masks.iter().position(|x| reg.get(x) & m != 0) {
            return BitClass::Xfam(n as u8);
        }
    }
    if let Some(cfg) = table.configurable_of(entry) {
        if reg.get(&cfg.config_direct) & m != 0 {
            return BitClass::Configurable;
        }
        if reg.get(&cfg.allow_direct) & m != 0 {
            return BitClass::NativeOr0;
        }
    }
    BitClass::Native
}
