//! The guest's CPUID at run time: the decision order, the whole-leaf #VE conditions and the
//! #VE-reduction truth table.
//!
//! Sources: 2.0 rules from the CPUID reference sections 2.4 and 2.5 (module 2.0.18 / 1.5.28
//! `td_cpuid.c` and `helpers.c`); 1.5.01 / 1.5.05 rules from the same reference (M2: faulting
//! entries and leaves outside the table always get #VE; no REDUCE_VE path).

use super::{zip, CpuidValues, Reg, TdCpuid, NO_SUBLEAF, ZERO};

/// TD_CTLS bits (TDCS field 0x9110000300000017), written by the guest with TDG.VM.WR.
pub struct TdCtls;

impl TdCtls {
    /// Bit 0: PENDING_VE_DISABLE.
    pub const PENDING_VE_DISABLE: u64 = 1 << 0;
    /// Bit 1: ENUM_TOPOLOGY: leaves 0xB and 0x1F answer instead of #VE (1.5.28+, 2.0).
    pub const ENUM_TOPOLOGY: u64 = 1 << 1;
    /// Bit 2: VIRT_CPUID2: leaf 2 answers instead of #VE (1.5.28+, 2.0).
    pub const VIRT_CPUID2: u64 = 1 << 2;
    /// Bit 3: REDUCE_VE (2.0, TDX_FEATURES0.VE_REDUCTION).
    pub const REDUCE_VE: u64 = 1 << 3;
    /// Bit 63: LOCK.
    pub const LOCK: u64 = 1 << 63;
    /// The bits a guest may write (2.0.18).
    pub const WRITABLE: u64 = 0xF;
}

/// FEATURE_PARAVIRT_CTLS bits (TDCS field 0x9110000300000022, 2.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ParavirtBit {
    /// Bit 0: IA32_CORE_CAPABILITIES.
    CoreCapabilities = 0,
    /// Bit 1: DCA.
    Dca = 1,
    /// Bit 2: EST.
    Est = 2,
    /// Bit 3: MCA (also drives MCE).
    Mca = 3,
    /// Bit 4: MTRR.
    Mtrr = 4,
    /// Bit 5: PCONFIG.
    Pconfig = 5,
    /// Bit 6: RDT_A.
    RdtA = 6,
    /// Bit 7: RDT_M.
    RdtM = 7,
    /// Bit 8: ACPI.
    Acpi = 8,
    /// Bit 9: TM2.
    Tm2 = 9,
    /// Bit 10: TME.
    Tme = 10,
    /// Bit 11: TSC_DEADLINE.
    TscDeadline = 11,
}

impl ParavirtBit {
    /// The bit's mask in FEATURE_PARAVIRT_CTLS.
    pub const fn mask(self) -> u64 {
        1 << self as u8
    }
}

/// How a #VE-reduction bit's guest value is formed from H (the value after TDH.MNG.INIT),
/// R (TD_CTLS.REDUCE_VE) and P (its FEATURE_PARAVIRT_CTLS bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VePolarity {
    /// `H && (!R || P)`: the host's value unless the guest reduces #VE without taking over.
    Positive,
    /// `!R || (P && H)`: 1 whatever the host configured unless the guest sets REDUCE_VE.
    Negative,
}

/// One #VE-reduction bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VeReductionBit {
    /// Leaf.
    pub leaf: u32,
    /// Subleaf ([`NO_SUBLEAF`] for leaf 1).
    pub subleaf: u32,
    /// Register.
    pub reg: Reg,
    /// Bit number.
    pub bit: u32,
    /// Its FEATURE_PARAVIRT_CTLS bit.
    pub paravirt: ParavirtBit,
    /// How its value is formed.
    pub polarity: VePolarity,
}

impl VeReductionBit {
    pub(crate) fn subleaf_matches(&self, subleaf: u32) -> bool {
        self.subleaf == NO_SUBLEAF || self.subleaf == subleaf
    }
}

const fn ve(
    leaf: u32,
    subleaf: u32,
    reg: Reg,
    bit: u32,
    paravirt: ParavirtBit,
    polarity: VePolarity,
) -> VeReductionBit {
    VeReductionBit {
        leaf,
        subleaf,
        reg,
        bit,
        paravirt,
        polarity,
    }
}

/// The #VE-reduction bits (2.0.18, `update_mutable_cpuid_flags`; CPUID reference 2.5).
pub const VE_REDUCTION_BITS: [VeReductionBit; 13] = [
    ve(
        1,
        NO_SUBLEAF,
        Reg::Ecx,
        18,
        ParavirtBit::Dca,
        VePolarity::Positive,
    ),
    ve(
        1,
        NO_SUBLEAF,
        Reg::Ecx,
        24,
        ParavirtBit::TscDeadline,
        VePolarity::Positive,
    ),
    ve(
        1,
        NO_SUBLEAF,
        Reg::Ecx,
        7,
        ParavirtBit::Est,
        VePolarity::Positive,
    ),
    ve(
        1,
        NO_SUBLEAF,
        Reg::Ecx,
        8,
        ParavirtBit::Tm2,
        VePolarity::Positive,
    ),
    ve(
        1,
        NO_SUBLEAF,
        Reg::Edx,
        22,
        ParavirtBit::Acpi,
        VePolarity::Positive,
    ),
    ve(7, 0, Reg::Ebx, 15, ParavirtBit::RdtA, VePolarity::Positive),
    ve(7, 0, Reg::Ebx, 12, ParavirtBit::RdtM, VePolarity::Positive),
    ve(7, 0, Reg::Ecx, 13, ParavirtBit::Tme, VePolarity::Positive),
    ve(
        7,
        0,
        Reg::Edx,
        18,
        ParavirtBit::Pconfig,
        VePolarity::Positive,
    ),
    ve(
        1,
        NO_SUBLEAF,
        Reg::Edx,
        7,
        ParavirtBit::Mca,
        VePolarity::Negative,
    ),
    ve(
        1,
        NO_SUBLEAF,
        Reg::Edx,
        14,
        ParavirtBit::Mca,
        VePolarity::Negative,
    ),
    ve(
        1,
        NO_SUBLEAF,
        Reg::Edx,
        12,
        ParavirtBit::Mtrr,
        VePolarity::Negative,
    ),
    ve(
        7,
        0,
        Reg::Edx,
        30,
        ParavirtBit::CoreCapabilities,
        VePolarity::Negative,
    ),
];

/// The #VE-reduction truth table: the guest value of a bit from H, R and P.
pub const fn ve_reduction_value(polarity: VePolarity, h: bool, reduce_ve: bool, p: bool) -> bool {
    match polarity {
        VePolarity::Positive => h && (!reduce_ve || p),
        VePolarity::Negative => !reduce_ve || (p && h),
    }
}

/// The guest's run-time controls that change what its CPUID returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuestControls {
    /// TD_CTLS ([`TdCtls`] bits).
    pub td_ctls: u64,
    /// FEATURE_PARAVIRT_CTLS ([`ParavirtBit`] masks).
    pub paravirt: u64,
    /// The vCPU's CPUID #VE control for the current CPL (TDG.VP.CPUIDVE.SET): every CPUID
    /// raises #VE.
    pub ve_all: bool,
}

impl GuestControls {
    fn reduce_ve(&self) -> bool {
        self.td_ctls & TdCtls::REDUCE_VE != 0
    }
    fn pv(&self, bit: ParavirtBit) -> bool {
        self.paravirt & bit.mask() != 0
    }
}

/// What the guest's CPUID returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestCpuid {
    /// A virtualization exception (#VE, exit reason CPUID): the guest's #VE handler asks the
    /// VMM, typically with TDG.VP.VMCALL Instruction.CPUID.
    Ve,
    /// A value from the module.
    Value {
        /// The registers. Dynamic bits read 0 here.
        values: CpuidValues,
        /// The bits filled in per vCPU at run time (APIC IDs, OSXSAVE, XSAVE sizes, ...).
        dynamic: CpuidValues,
    },
}

/// 2.0 per-leaf #VE conditions (CPUID reference 2.3 and 2.4 step 6).
fn leaf_ve_2_0(leaf: u32, c: &GuestControls) -> bool {
    let r = c.reduce_ve();
    match leaf {
        0x2 => c.td_ctls & TdCtls::VIRT_CPUID2 == 0,
        0xB | 0x1F => c.td_ctls & TdCtls::ENUM_TOPOLOGY == 0,
        0x9 => !r || c.pv(ParavirtBit::Dca),
        0xF => !r || c.pv(ParavirtBit::RdtM),
        0x10 => !r || c.pv(ParavirtBit::RdtA),
        0x1B => !r || c.pv(ParavirtBit::Pconfig),
        0x6 | 0xC | 0x16 | 0x17 | 0x8000_0002..=0x8000_0005 => !r,
        _ => false,
    }
}

impl TdCpuid {
    /// What the guest sees for CPUID(`leaf`, `subleaf`) given its run-time controls.
    ///
    /// Decision order (1.5.28+ and 2.0): the hypervisor range 0x40000000-0x4FFFFFFF → #VE; the vCPU's
    /// CPUID #VE control → #VE; a leaf above the maximum base leaf (below 0x80000000) or
    /// above the maximum extended leaf is treated as the maximum base leaf; the per-leaf #VE
    /// conditions; a leaf outside the table reads 0 when it is in the fixed-0 bitmap or the
    /// guest set REDUCE_VE (then for 0xB/0x1F `ECX[7:0]` = subleaf), else #VE; a table leaf
    /// reads TDCS.CPUID_VALUES, with leaf 4 native under REDUCE_VE (`EAX[31:14]` stay the
    /// host's) and the #VE-reduction bits applied. 1.5.x: the vCPU control, the clamp, then
    /// #VE for faulting entries and leaves outside the table, else CPUID_VALUES.
    ///
    /// Per-leaf CPUID #VE controls (2.0 TDG.VP.CPUIDVE.SET per leaf) and the virtual
    /// IA32_TSX_CTRL hiding HLE/RTM are not modelled.
    ///
    /// ```
    /// use tdxcall::abi::td_params::TdParams;
    /// use tdxcall::cpuid::{self, GuestControls, GuestCpuid, Platform, TdCtls, SYNTHETIC_PLATFORM};
    /// let t = cpuid::table(cpuid::V2_0_18).unwrap();
    /// let mut p = TdParams::default();
    /// p.xfam = tdxcall::abi::Xfam::from_bits_retain(0x3);
    /// let td = cpuid::mng_init(t, &SYNTHETIC_PLATFORM, &Platform::default(), &p).unwrap();
    /// // Leaf 6 is #VE until the guest sets REDUCE_VE, then ARAT alone.
    /// assert_eq!(td.guest_view(6, 0, &GuestControls::default()), GuestCpuid::Ve);
    /// let reduce = GuestControls { td_ctls: TdCtls::REDUCE_VE, ..Default::default() };
    /// match td.guest_view(6, 0, &reduce) {
    ///     GuestCpuid::Value { values, .. } => assert_eq!(values.eax, 0x4),
    ///     GuestCpuid::Ve => unreachable!(),
    /// }
    /// ```
    pub fn guest_view(&self, leaf: u32, subleaf: u32, controls: &GuestControls) -> GuestCpuid {
        let table = self.table;
        let rules = table.rules();
        if rules.v1_5_28 && (0x4000_0000..=0x4FFF_FFFF).contains(&leaf) {
            return GuestCpuid::Ve;
        }
        if controls.ve_all {
            return GuestCpuid::Ve;
        }
        let leaf = self.clamp(leaf);
        let reduce = controls.reduce_ve();
        if rules.v1_5_28 && leaf_ve_2_0(leaf, controls) {
            return GuestCpuid::Ve;
        }
        let dynamic = super::dynamic_mask(leaf, subleaf);
        let Some(index) = table.find(leaf, subleaf) else {
            if rules.v1_5_28 && (table.in_fixed0_bitmap(leaf) || reduce) {
                let mut values = ZERO;
                if leaf == 0xB || leaf == 0x1F {
                    values.ecx = subleaf & 0xFF;
                }
                return GuestCpuid::Value { values, dynamic };
            }
            return GuestCpuid::Ve;
        };
        if !(self.valid[index] || rules.v1_5_28 && reduce) {
            return GuestCpuid::Ve;
        }
        let mut values = self.values[index];
        if rules.v1_5_28 && reduce && leaf == 4 {
            let native = self.native[index];
            values = CpuidValues {
                eax: (values.eax & 0xFFFF_C000) | (native.eax & 0x3FFF),
                ..native
            };
        }
        if rules.v1_5_28 {
            for row in VE_REDUCTION_BITS.iter() {
                if row.leaf == leaf && row.subleaf_matches(subleaf) {
                    let m = 1u32 << row.bit;
                    let h = row.reg.get(&values) & m != 0;
                    let bit =
                        ve_reduction_value(row.polarity, h, reduce, controls.pv(row.paravirt));
                    let old = row.reg.get(&values);
                    row.reg
                        .set(&mut values, if bit { old | m } else { old & !m });
                }
            }
        }
        let values = zip(values, dynamic, |v, d| v & !d);
        GuestCpuid::Value { values, dynamic }
    }

    /// The leaf number the module answers for `leaf` (out-of-range leaves read as the
    /// maximum base leaf).
    pub fn clamp(&self, leaf: u32) -> u32 {
        let max_base = self.values_of(0, 0).map_or(0, |v| v.eax);
        let max_ext = self.values_of(0x8000_0000, 0).map_or(0, |v| v.eax);
        if (leaf < 0x8000_0000 && leaf > max_base) || (leaf >= 0x8000_0000 && leaf > max_ext) {
            max_base
        } else {
            leaf
        }
    }
}
