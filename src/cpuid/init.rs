//! TDH.SYS.INIT's CPUID checks and TDH.MNG.INIT's CPUID composition.
//!
//! Sources: `tdh_mng_init.c` `read_and_set_cpuid_configurations` of 1.5.01 (`72d8cffb`) and
//! 1.5.05 (`e98d9639`), read for this crate; the 2.0.18 differences and the TDH.SYS.INIT
//! checks from the CPUID reference (sections 2.2, 2.3). The module walks the lookup table in
//! index order and stops at the first error, so the error reported for a CPUID_CONFIG with
//! several faults is the one of the lowest lookup index.

use super::{
    zip, CpuidLeaf, CpuidTable, CpuidValues, NativeCpuid, Reg, MAX_LOOKUP, NO_SUBLEAF, ZERO,
};
use crate::abi::td_params::TdParams;
use crate::status::{Operand, Status, StatusCode};

/// Platform facts beyond native CPUID that TDH.MNG.INIT consults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Platform {
    /// IA32_ARCH_CAPABILITIES.TSX_CTRL: the CPU has IA32_TSX_CTRL (needed for virtual TSX).
    pub has_tsx_ctrl: bool,
}

impl Default for Platform {
    fn default() -> Platform {
        Platform { has_tsx_ctrl: true }
    }
}

/// A TDX module error from a CPUID check: the status and RCX exactly as the module returns
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitError {
    /// The status (RAX).
    pub status: Status,
    /// RCX: leaf in bits 31:0 and subleaf in bits 63:32 for CPUID_CONFIG errors, else 0.
    pub rcx: u64,
    /// RDX, R8, R9, R10 where the module reports them (TDX_INCORRECT_CPUID_VALUE: mask
    /// low/high, expected low/high), else 0.
    pub extra: [u64; 4],
}

impl InitError {
    fn cpuid_config(leaf: CpuidLeaf) -> InitError {
        InitError {
            status: StatusCode::OperandInvalid.with_operand(Operand::CPUID_CONFIG),
            rcx: leaf.to_u64(),
            extra: [0; 4],
        }
    }
    fn plain(status: Status) -> InitError {
        InitError {
            status,
            rcx: 0,
            extra: [0; 4],
        }
    }
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "error: 0x{:016X} leaf={:#x} subleaf={:#x}",
            self.status.raw(),
            self.rcx as u32,
            (self.rcx >> 32) as u32
        )
    }
}

/// The TD's CPUID state after TDH.MNG.INIT: TDCS.CPUID_VALUES and CPUID_VALID per lookup
/// entry (the values KVM_TDX_GET_CPUID reports), plus the native samples the guest-time
/// rules use.
#[derive(Clone, Debug)]
pub struct TdCpuid {
    pub(crate) table: &'static CpuidTable,
    pub(crate) values: [CpuidValues; MAX_LOOKUP],
    pub(crate) valid: [bool; MAX_LOOKUP],
    pub(crate) native: [CpuidValues; MAX_LOOKUP],
}

impl TdCpuid {
    /// The table (and so the module version) this state was computed for.
    pub fn table(&self) -> &'static CpuidTable {
        self.table
    }

    /// TDCS.CPUID_VALUES, in lookup order.
    pub fn values(&self) -> &[CpuidValues] {
        &self.values[..self.table.lookup.len()]
    }

    /// TDCS.CPUID_VALID, in lookup order.
    pub fn valid(&self) -> &[bool] {
        &self.valid[..self.table.lookup.len()]
    }

    /// The state TDH.MNG.INIT left, rebuilt from TDCS.CPUID_VALUES (`values`, in lookup
    /// order) and the platform's native CPUID: CPUID_VALID is `!faulting` per entry, the
    /// native samples are re-read. `None` if `values` does not have one value per entry.
    pub fn restore(
        table: &'static CpuidTable,
        values: &[CpuidValues],
        native: &impl NativeCpuid,
    ) -> Option<TdCpuid> {
        if values.len() != table.lookup.len() {
            return None;
        }
        let mut td = TdCpuid {
            table,
            values: [ZERO; MAX_LOOKUP],
            valid: [false; MAX_LOOKUP],
            native: [ZERO; MAX_LOOKUP],
        };
        for (i, entry) in table.lookup.iter().enumerate() {
            td.values[i] = values[i];
            td.valid[i] = !entry.faulting;
            td.native[i] = native_of(native, entry.leaf);
        }
        Some(td)
    }

    /// CPUID_VALUES of the entry the guest's CPUID(`leaf`, `subleaf`) finds, if any.
    pub fn values_of(&self, leaf: u32, subleaf: u32) -> Option<CpuidValues> {
        self.table.find(leaf, subleaf).map(|i| self.values[i])
    }
}

/// The native value of a lookup entry as TDH.SYS.INIT samples it: a leaf above the CPU's
/// maximum base (or extended) leaf reads 0.
fn native_of(native: &impl NativeCpuid, leaf: CpuidLeaf) -> CpuidValues {
    let max = if leaf.leaf >= 0x8000_0000 {
        native.cpuid(0x8000_0000, 0).eax
    } else {
        native.cpuid(0, 0).eax
    };
    if leaf.leaf > max {
        return ZERO;
    }
    let subleaf = if leaf.subleaf == NO_SUBLEAF {
        0
    } else {
        leaf.subleaf
    };
    native.cpuid(leaf.leaf, subleaf)
}

/// TDH.SYS.INIT's table check: every lookup entry's `native & verify_mask == verify_value`.
/// The first failing entry gives TDX_INCORRECT_CPUID_VALUE with RCX = leaf/subleaf, RDX/R8
/// = the mask (EBX:EAX, EDX:ECX) and R9/R10 = the expected value. The other SYS.INIT checks
/// (IA32_MISC_ENABLE, 0xA version, 0x15.EBX, 0x1F order, LA bits) are not modelled.
pub fn sys_init_check(table: &CpuidTable, native: &impl NativeCpuid) -> Result<(), InitError> {
    for entry in table.lookup {
        let value = native_of(native, entry.leaf);
        let got = zip(value, entry.verify_mask, |v, m| v & m);
        if got != entry.verify_value {
            let pair = |v: CpuidValues| {
                (
                    v.eax as u64 | (v.ebx as u64) << 32,
                    v.ecx as u64 | (v.edx as u64) << 32,
                )
            };
            let (ml, mh) = pair(entry.verify_mask);
            let (vl, vh) = pair(entry.verify_value);
            return Err(InitError {
                status: StatusCode::IncorrectCpuidValue.status(),
                rcx: entry.leaf.to_u64(),
                extra: [ml, mh, vl, vh],
            });
        }
    }
    Ok(())
}

/// CPUID_CONFIG_VALUES entry `index` as TDH.SYS.RD reports it: CONFIG_DIRECT ∪
/// (ALLOW_DIRECT ∩ the native sample). `None` past the table (the module reads 0 there).
pub fn config_value(
    table: &CpuidTable,
    native: &impl NativeCpuid,
    index: usize,
) -> Option<CpuidValues> {
    let cfg = table.configurable.get(index)?;
    let sampled = native_of(native, cfg.leaf);
    let ad = zip(cfg.allow_direct, sampled, |a, n| a & n);
    Some(zip(cfg.config_direct, ad, |c, a| c | a))
}

/// IA32_ARCH_CAPABILITIES, the MSR TDX_INCORRECT_MSR_VALUE names for virtual TSX.
const IA32_ARCH_CAPABILITIES: u32 = 0x10A;

/// TDH.MNG.INIT's CPUID part: validates `params`' ATTRIBUTES/XFAM-dependent CPUID rules and
/// CPUID_CONFIG against `table`, and computes TDCS.CPUID_VALUES.
///
/// Per lookup entry, in index order: the native sample with fixed0_or_dynamic cleared and
/// fixed1 set (what TDH.SYS.INIT stores); for a configurable entry, any CPUID_CONFIG 1-bit
/// outside CONFIG_DIRECT ∪ ALLOW_DIRECT fails with TDX_OPERAND_INVALID(CPUID_CONFIG)
/// `0xC000010000000045` and RCX = subleaf << 32 | leaf, CONFIG_DIRECT bits take the input,
/// ALLOW_DIRECT bits whose input is 0 are cleared; then the per-leaf rules:
///
/// - 1: EAX (family/model/stepping) 0 means native; a non-migratable TD must give the native
///   value, a migratable one the native family/model with a stepping not above the native
///   one (the module's ALLOWED_FMS list of older CPUs is not modelled: UNVERIFIED beyond
///   this); ECX loses the `XFAM[2]` (AVX) mask bits when `XFAM[2]` is 0.
/// - 5: zero unless the virtual 1.ECX.MONITOR is 1.
/// - 7.0: XFAM masks; HLE must equal RTM (RCX = leaf 7 from 1.5.05, 0 in 1.5.01); HLE = RTM
///   = 1 needs IA32_TSX_CTRL (TDX_INCORRECT_MSR_VALUE, MSR 0x10A, RCX 0); ECX.PKS :=
///   ATTRIBUTES.PKS; ECX.KL := 0.
/// - 7.1: XFAM masks; from 1.5.05 EAX.LASS := ATTRIBUTES.LASS.
/// - 0xA: zero unless ATTRIBUTES.PERFMON.
/// - 0xD.0: XFAM masks, ECX = the maximum XSAVE size for XFAM (standard format over XFAM's
///   XCR0 components, from native 0xD.n); 0xD.1: XFAM masks, `EAX[4]` (XFD) only if a XFAM
///   component supports XFD; 0xD.2-0xD.18: zero unless `XFAM[n]`.
/// - 0x14: zero unless `XFAM[8]`; 0x1C: zero unless `XFAM[15]`; 0x1D: zero unless `XFAM[17]`
///   and `XFAM[18]`.
/// - 0x15: EBX = TSC_FREQUENCY; 0x19: zero.
/// - From 1.5.05: 0x1A zero for a MIGRATABLE TD; 0x23 zero unless PERFMON and the virtual
///   `7.1.EAX[8]`.
/// - 2.0: 0x23.n (n ≥ 1) zero unless bit n of the virtual 0x23.0.EAX (UNVERIFIED detail).
/// - 0x80000008: `EAX[15:8]` = 57 with the virtual LA57, else 48. 2.0: `EAX[7:0]` is
///   CONFIG_DIRECT (virtual MAXPA): 0 means native, a value above the native one fails with
///   OPERAND_INVALID(CPUID_CONFIG) (UNVERIFIED: the MIN_VIRT_MAXPA bound and
///   CONFIG_FLAGS.MAXPA_VIRT are not modelled).
///
/// Then, from 1.5.05, the 0x1F check and the derivation of 0xB (see `check_1f`), failing
/// with TDX_CPUID_LEAF_1F_FORMAT_UNRECOGNIZED (RCX 0); then CPUID_CONFIG entries beyond the
/// table (TD_PARAMS reserved bytes) must be zero, else TDX_OPERAND_INVALID(RDX) (RCX 0).
pub fn mng_init(
    table: &'static CpuidTable,
    native: &impl NativeCpuid,
    platform: &Platform,
    params: &TdParams,
) -> Result<TdCpuid, InitError> {
    let rules = table.rules();
    let attributes = params.attributes.bits();
    let xfam = params.xfam.bits();
    let perfmon = attributes & (1 << 63) != 0;
    let migratable = attributes & (1 << 29) != 0;
    let platform_fms = native.cpuid(1, 0).eax;
    let mut td = TdCpuid {
        table,
        values: [ZERO; MAX_LOOKUP],
        valid: [false; MAX_LOOKUP],
        native: [ZERO; MAX_LOOKUP],
    };
    // Flags the module keeps from earlier entries.
    let mut monitor = false;
    let mut la57 = false;
    let mut perfmon_ext = false;
    let mut v0x23_eax = 0u32;

    for (index, entry) in table.lookup.iter().enumerate() {
        let sampled = native_of(native, entry.leaf);
        td.native[index] = sampled;
        let mut v = zip(sampled, entry.fixed0_or_dynamic, |v, f0| v & !f0);
        v = zip(v, entry.fixed1, |v, f1| v | f1);
        if let Some(cfg) = table.configurable_of(entry) {
            let input = params.cpuid_config[entry.config_index.unwrap_or(0) as usize];
            for reg in Reg::ALL {
                let allowed = reg.get(&cfg.config_direct) | reg.get(&cfg.allow_direct);
                if reg.get(&input) & !allowed != 0 {
                    return Err(InitError::cpuid_config(entry.leaf));
                }
                let cd = reg.get(&cfg.config_direct);
                let ad = reg.get(&cfg.allow_direct);
                let mut x = reg.get(&v);
                x = (x & !cd) | (reg.get(&input) & cd);
                x &= reg.get(&input) | !ad;
                reg.set(&mut v, x);
            }
        }
        let (leaf, subleaf) = (entry.leaf.leaf, entry.leaf.subleaf);
        let xfam_bit = |n: u32| xfam & (1 << n) != 0;
        let apply_xfam = |v: &mut CpuidValues| {
            if let Some(masks) = table.xfam_masks(entry.leaf) {
                for (n, m) in masks.iter().enumerate() {
                    if !xfam_bit(n as u32) {
                        *v = zip(*v, *m, |a, b| a & !b);
                    }
                }
            }
        };
        let mut zero = false;
        match (leaf, subleaf) {
            (1, _) => {
                if v.eax == 0 {
                    v.eax = platform_fms;
                }
                let ok = if migratable {
                    (v.eax & !0xF) == (platform_fms & !0xF) && (v.eax & 0xF) <= (platform_fms & 0xF)
                } else {
                    v.eax == platform_fms
                };
                if !ok {
                    return Err(InitError::cpuid_config(entry.leaf));
                }
                if !xfam_bit(2) {
                    if let Some(masks) = table.xfam_masks(entry.leaf) {
                        v.ecx &= !masks[2].ecx;
                    }
                }
                monitor = v.ecx & (1 << 3) != 0;
            }
            (5, _) => zero = !monitor,
            (7, 0) => {
                apply_xfam(&mut v);
                let hle = v.ebx & (1 << 4) != 0;
                let rtm = v.ebx & (1 << 11) != 0;
                if hle != rtm {
                    let mut e = InitError::cpuid_config(entry.leaf);
                    if !rules.hle_rtm_rcx {
                        e.rcx = 0;
                    }
                    return Err(e);
                }
                if hle && !platform.has_tsx_ctrl {
                    return Err(InitError::plain(
                        StatusCode::IncorrectMsrValue.with_details(IA32_ARCH_CAPABILITIES),
                    ));
                }
                let pks = attributes & (1 << 30) != 0;
                v.ecx = (v.ecx & !(1 << 31)) | if pks { 1 << 31 } else { 0 };
                v.ecx &= !(1 << 23);
                la57 = v.ecx & (1 << 16) != 0;
            }
            (7, 1) => {
                apply_xfam(&mut v);
                perfmon_ext = v.eax & (1 << 8) != 0;
                if rules.v1_5_05 {
                    let lass = attributes & (1 << 27) != 0;
                    v.eax = (v.eax & !(1 << 6)) | if lass { 1 << 6 } else { 0 };
                }
            }
            (0xA, _) => zero = !perfmon,
            (0xD, 0) => {
                apply_xfam(&mut v);
                v.ecx = xsave_max_size(native, xfam);
            }
            (0xD, 1) => {
                apply_xfam(&mut v);
                if xfd_mask(native) & xfam == 0 {
                    v.eax &= !(1 << 4);
                }
            }
            (0xD, n) if n <= super::XFAM_MAX_BIT => zero = !xfam_bit(n),
            (0x14, _) => zero = !xfam_bit(8),
            (0x15, _) => v.ebx = params.tsc_frequency as u32,
            (0x19, _) => zero = true,
            (0x1C, _) => zero = !xfam_bit(15),
            (0x1D, _) => zero = !(xfam_bit(17) && xfam_bit(18)),
            (0x1A, _) if rules.v1_5_05 => zero = migratable,
            (0x23, n) if rules.v1_5_05 => {
                if !perfmon || !perfmon_ext {
                    v = ZERO;
                }
                if n == 0 {
                    v0x23_eax = v.eax;
                } else if rules.v1_5_28 && n < 32 && v0x23_eax & (1 << n) == 0 {
                    v = ZERO;
                }
            }
            (0x8000_0008, _) => {
                if rules.v1_5_28 {
                    let native_pa = sampled.eax & 0xFF;
                    let pa = v.eax & 0xFF;
                    if pa == 0 {
                        v.eax |= native_pa;
                    } else if pa > native_pa {
                        return Err(InitError::cpuid_config(entry.leaf));
                    }
                }
                let la = if la57 { 57 } else { 48 };
                v.eax = (v.eax & !0xFF00) | (la << 8);
            }
            _ => {}
        }
        if zero {
            v = ZERO;
        }
        td.values[index] = v;
        td.valid[index] = !entry.faulting;
    }

    if rules.v1_5_05 {
        check_1f(&mut td, params)?;
    }

    if params.cpuid_config[table.configurable.len()..]
        .iter()
        .any(|v| *v != ZERO)
    {
        return Err(InitError::plain(
            StatusCode::OperandInvalid.with_operand(Operand::RDX),
        ));
    }
    Ok(td)
}

/// Standard-format XSAVE size for XFAM's XCR0 components, from native 0xD.n (at least the
/// 576-byte legacy area and header).
fn xsave_max_size(native: &impl NativeCpuid, xfam: u64) -> u32 {
    let mut size = 576;
    for n in 2..=super::XFAM_MAX_BIT {
        if xfam & (1 << n) == 0 {
            continue;
        }
        let c = native.cpuid(0xD, n);
        if c.ecx & 1 == 0 && c.eax != 0 {
            size = size.max(c.ebx + c.eax);
        }
    }
    size
}

/// The XFAM components that support XFD (native 0xD.n `ECX[2]`).
fn xfd_mask(native: &impl NativeCpuid) -> u64 {
    (2..=super::XFAM_MAX_BIT)
        .filter(|&n| native.cpuid(0xD, n).ecx & (1 << 2) != 0)
        .fold(0, |m, n| m | 1 << n)
}

/// Level types of leaf 0x1F / 0xB (`ECX[15:8]`).
const LEVEL_INVALID: u32 = 0;
const LEVEL_SMT: u32 = 1;
const LEVEL_CORE: u32 = 2;
const LEVEL_MAX: u32 = 6;

/// 1.5.05+: checks the 0x1F topology configuration and derives 0xB from it.
///
/// An all-zero configuration of every 0x1F subleaf means the hardware values. The checks
/// (CPUID reference 2.3): `ECX[7:0]` equals the subleaf for valid levels; level types ascend
/// strictly; SMT only at subleaf 0; a CORE level is required; after the first invalid level
/// all are invalid. 0xB.0 is the SMT level (or, without one, a one-thread SMT level:
/// UNVERIFIED), 0xB.1 a CORE level with the shift and count of the last valid 0x1F level,
/// 0xB.2 the invalid terminator; each then masked by the table's fixed0_or_dynamic.
fn check_1f(td: &mut TdCpuid, params: &TdParams) -> Result<(), InitError> {
    let table = td.table;
    let format = || InitError::plain(StatusCode::CpuidLeaf1fFormatUnrecognized.status());
    let mut idx = [0usize; 6];
    for (n, slot) in idx.iter_mut().enumerate() {
        *slot = match table.find_exact(CpuidLeaf {
            leaf: 0x1F,
            subleaf: n as u32,
        }) {
            Some(i) => i,
            None => return Ok(()),
        };
    }
    let all_zero = idx.iter().all(|&i| {
        table.lookup[i]
            .config_index
            .is_none_or(|c| params.cpuid_config[c as usize] == ZERO)
    });
    if all_zero {
        for &i in &idx {
            let e = &table.lookup[i];
            let v = zip(td.native[i], e.fixed0_or_dynamic, |v, f0| v & !f0);
            td.values[i] = zip(v, e.fixed1, |v, f1| v | f1);
        }
    }
    let mut last_type = LEVEL_INVALID;
    let mut ended = false;
    let mut has_core = false;
    let mut last_valid: Option<CpuidValues> = None;
    for (n, &i) in idx.iter().enumerate() {
        let v = td.values[i];
        let level_type = (v.ecx >> 8) & 0xFF;
        if level_type == LEVEL_INVALID {
            ended = true;
            continue;
        }
        if ended
            || v.ecx & 0xFF != n as u32
            || level_type <= last_type
            || level_type > LEVEL_MAX
            || (level_type == LEVEL_SMT && n != 0)
        {
            return Err(format());
        }
        has_core |= level_type == LEVEL_CORE;
        last_type = level_type;
        last_valid = Some(v);
    }
    let Some(last) = last_valid else {
        return Err(format());
    };
    if !has_core {
        return Err(format());
    }
    let first = td.values[idx[0]];
    let smt = if (first.ecx >> 8) & 0xFF == LEVEL_SMT {
        CpuidValues {
            eax: first.eax & 0x1F,
            ebx: first.ebx & 0xFFFF,
            ecx: LEVEL_SMT << 8,
            edx: 0,
        }
    } else {
        CpuidValues {
            eax: 0,
            ebx: 1,
            ecx: LEVEL_SMT << 8,
            edx: 0,
        }
    };
    let core = CpuidValues {
        eax: last.eax & 0x1F,
        ebx: last.ebx & 0xFFFF,
        ecx: 1 | LEVEL_CORE << 8,
        edx: 0,
    };
    let end = CpuidValues {
        eax: 0,
        ebx: 0,
        ecx: 2,
        edx: 0,
    };
    for (n, derived) in [smt, core, end].into_iter().enumerate() {
        if let Some(i) = table.find_exact(CpuidLeaf {
            leaf: 0xB,
            subleaf: n as u32,
        }) {
            let e = &table.lookup[i];
            let v = zip(derived, e.fixed0_or_dynamic, |v, f0| v & !f0);
            td.values[i] = zip(v, e.fixed1, |v, f1| v | f1);
        }
    }
    Ok(())
}
