//! The software module's CPUID: the selected version's table and rules from
//! [`crate::cpuid`] over the model's own native CPUID, [`crate::cpuid::SYNTHETIC_PLATFORM`]
//! (a synthetic Intel platform that describes no real part).
//!
//! - TDH.SYS.RD: NUM_CPUID_CONFIG, CPUID_CONFIG_LEAVES and CPUID_CONFIG_VALUES of the
//!   version (12 / 18 / 28 / 28 entries for 1.5.01 / 1.5.05 / 1.5.32 / 2.0.18), in 32
//!   fields: leaves past
//!   the table read all ones, values 0.
//! - TDH.MNG.INIT: [`crate::cpuid::mng_init`], with its status and RCX.
//! - TDH.MNG.RD of TDCS.CPUID_VALUES (class 20): any lookup entry whose leaf and subleaf the
//!   field code can address. The metadata walk (the "next field" of version-1 reads and
//!   TDH.MNG.RDALL) does not enumerate CPUID_VALUES: not modelled.

use crate::abi::fields;
use crate::abi::td_params::{CpuidLeaf, CpuidValues, TdParams};
use crate::abi::{Attributes, Xfam};
use crate::cpuid::{self, CpuidTable, InitError, Platform, NO_SUBLEAF, SYNTHETIC_PLATFORM};
use crate::status::{Status, StatusCode};

/// The number of CPUID_CONFIG_LEAVES / CPUID_CONFIG_VALUES fields the module's metadata has.
pub(super) const CONFIG_FIELDS: u32 = 32;

/// NUM_CPUID_CONFIG.
pub(super) fn num_config(table: &CpuidTable) -> u64 {
    table.configurable.len() as u64
}

/// CPUID_CONFIG_LEAVES field `i`.
pub(super) fn config_leaf(table: &CpuidTable, i: u32) -> u64 {
    table
        .configurable
        .get(i as usize)
        .map_or(u64::MAX, |c| c.leaf.to_u64())
}

/// CPUID_CONFIG_VALUES element `i` (field i / 2; even: EBX:EAX, odd: EDX:ECX).
pub(super) fn config_values(table: &CpuidTable, i: u32) -> u64 {
    cpuid::config_value(table, &SYNTHETIC_PLATFORM, (i / 2) as usize).map_or(0, |v| half(v, i % 2))
}

fn half(v: CpuidValues, which: u32) -> u64 {
    if which == 0 {
        u64::from(v.eax) | u64::from(v.ebx) << 32
    } else {
        u64::from(v.ecx) | u64::from(v.edx) << 32
    }
}

/// TDH.MNG.INIT's CPUID part over the 1024 TD_PARAMS bytes: TDCS.CPUID_VALUES in lookup
/// order, or the module's status and RCX.
pub(super) fn mng_init(
    table: &'static CpuidTable,
    bytes: &[u8; 1024],
) -> Result<std::vec::Vec<CpuidValues>, (Status, u64)> {
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8"));
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4"));
    let mut params = TdParams {
        attributes: Attributes::from_bits_retain(u64_at(0)),
        xfam: Xfam::from_bits_retain(u64_at(8)),
        tsc_frequency: u16::from_le_bytes([bytes[40], bytes[41]]),
        ..TdParams::default()
    };
    for (i, slot) in params.cpuid_config.iter_mut().enumerate() {
        let at = 256 + 16 * i;
        *slot = CpuidValues {
            eax: u32_at(at),
            ebx: u32_at(at + 4),
            ecx: u32_at(at + 8),
            edx: u32_at(at + 12),
        };
    }
    cpuid::mng_init(table, &SYNTHETIC_PLATFORM, &Platform::default(), &params)
        .map(|td| td.values().to_vec())
        .map_err(|InitError { status, rcx, .. }| (status, rcx))
}

/// TDH.MNG.RD of a TDCS.CPUID_VALUES field: `None` when `id` is not one (the metadata table
/// answers), else the element or TDX_METADATA_FIELD_ID_INCORRECT for a leaf/subleaf the
/// table does not have. Bit 63 of the ID is ignored, as the module does.
pub(super) fn read_values(
    table: &CpuidTable,
    values: &[CpuidValues],
    id: u64,
) -> Option<Result<u64, Status>> {
    let base = fields::td::CPUID_VALUES.raw() & !(1 << 63);
    if id & !(1 << 63) & !0x1_FFFF != base {
        return None;
    }
    let which = (id & 1) as u32;
    let subleaf = if id >> 8 & 1 != 0 {
        NO_SUBLEAF
    } else {
        (id >> 1 & 0x7F) as u32
    };
    let leaf = (id >> 9 & 0x7F) as u32 | ((id >> 16 & 1) as u32) << 31;
    let Some(index) = table.find_exact(CpuidLeaf { leaf, subleaf }) else {
        return Some(Err(StatusCode::MetadataFieldIdIncorrect.status()));
    };
    Some(Ok(values.get(index).map_or(0, |v| half(*v, which))))
}

/// The TDCS.CPUID_VALUES field ID of a lookup entry (element 0), where the field code can
/// address it (leaf bits 30:7 clear, subleaf below 128).
pub fn values_field_id(leaf: CpuidLeaf) -> Option<u64> {
    if leaf.leaf & 0x7FFF_FF80 != 0 || (leaf.subleaf != NO_SUBLEAF && leaf.subleaf >= 128) {
        return None;
    }
    let sub = if leaf.subleaf == NO_SUBLEAF {
        1 << 8
    } else {
        (leaf.subleaf as u64) << 1
    };
    Some(
        fields::td::CPUID_VALUES.raw()
            | sub
            | (leaf.leaf as u64 & 0x7F) << 9
            | (leaf.leaf as u64 >> 31) << 16,
    )
}

/// TD_CTLS (class/field of 0x1110000300000017; bit 63 of the ID is ignored).
const TD_CTLS_ID: u64 = 0x1110_0003_0000_0017;
/// FEATURE_PARAVIRT_CTLS.
const PARAVIRT_ID: u64 = 0x9110_0003_0000_0022;

/// TDG.VM.WR (version 0): RDX = field ID, R8 = value, R9 = write mask; R8 returns the old
/// value. TD-scope fields through the metadata table's guest write masks, except TD_CTLS,
/// whose guest-writable bits follow the CPUID version: bit 0 (PENDING_VE_DISABLE) in 1.5,
/// bits 3:0 (with ENUM_TOPOLOGY, VIRT_CPUID2, REDUCE_VE) from 1.5.28 (1.5.32, 2.0.18 here). The written TD_CTLS and
/// FEATURE_PARAVIRT_CTLS take effect on the TD's next guest CPUID
/// ([`super::SoftwareModule::guest_cpuid`]).
pub(super) fn vm_wr(
    state: &mut super::state::State,
    tdr: u64,
    regs: &mut crate::emu::Registers,
) -> Result<Status, Status> {
    use super::metadata::{self, element_key, Accessor};
    let (id, value, mask) = (regs.rdx, regs.r8, regs.r9);
    regs.r8 = 0;
    if regs.rcx != 0 {
        return Err(StatusCode::OperandInvalid.with_operand(crate::status::Operand::RCX));
    }
    let v2 = state.cpuid.version >= cpuid::V1_5_28;
    let td = state.tds.get_mut(&tdr).expect("the vCPU's TD");
    if v2 && id & !(1 << 63) == TD_CTLS_ID {
        if mask & !cpuid::TdCtls::WRITABLE != 0 {
            return Err(StatusCode::MetadataWrMaskNotValid.status());
        }
        let key = element_key(TD_CTLS_ID);
        let old = td.stored(key, 0);
        td.stored.insert(key, old & !mask | value & mask);
        regs.r8 = old;
        return Ok(StatusCode::Success.status());
    }
    let (key, new, old) = metadata::write(
        metadata::TD_FIELDS,
        id,
        Accessor::Guest,
        value,
        mask,
        |get, i| get(td, i),
    )?;
    td.stored.insert(key, new);
    regs.r8 = old;
    Ok(StatusCode::Success.status())
}

impl super::SoftwareModule {
    /// What the guest's CPUID(`leaf`, `subleaf`) returns on the vCPU at `tdvpr`, given the
    /// TD's TD_CTLS and FEATURE_PARAVIRT_CTLS (as the guest wrote them with TDG.VM.WR) and
    /// the vCPU's CPUID #VE controls (TDG.VP.CPUIDVE.SET; supervisor mode assumed): a value
    /// or `GuestCpuid::Ve`. `None` if there is no such vCPU or its TD is not initialized.
    ///
    /// This is the explicit call for the guest's CPUID; `VirtualCpu::trap_cpuid` (Linux x86-64) answers
    /// the guest thread's real `cpuid` instructions the same way.
    pub fn guest_cpuid(
        &self,
        tdvpr: crate::abi::TdvprPage,
        leaf: u32,
        subleaf: u32,
    ) -> Option<cpuid::GuestCpuid> {
        let mut cache = None;
        self.guest_cpuid_cached(tdvpr, leaf, subleaf, &mut cache)
    }

    /// [`Self::guest_cpuid`] with the TD's post-MNG.INIT state kept in `cache` (it never
    /// changes once TDH.MNG.INIT succeeded); the controls are read on every call.
    pub(super) fn guest_cpuid_cached(
        &self,
        tdvpr: crate::abi::TdvprPage,
        leaf: u32,
        subleaf: u32,
        cache: &mut Option<cpuid::TdCpuid>,
    ) -> Option<cpuid::GuestCpuid> {
        use super::metadata::element_key;
        let state = self.lock();
        let vcpu = state.vcpus.get(&tdvpr.raw())?;
        let td = state.tds.get(&vcpu.tdr)?;
        let controls = cpuid::GuestControls {
            td_ctls: td.stored(element_key(TD_CTLS_ID), 0),
            paravirt: td.stored(element_key(PARAVIRT_ID), 0),
            ve_all: vcpu.stored(element_key(0xA020_0000_0000_0007), 0) & 1 != 0,
        };
        if cache.is_none() {
            *cache = cpuid::TdCpuid::restore(state.cpuid, &td.config.cpuid, &SYNTHETIC_PLATFORM);
        }
        drop(state);
        Some(cache.as_ref()?.guest_view(leaf, subleaf, &controls))
    }
}

/// Exit reason of a CPUID #VE (TDG.VP.VEINFO.GET RCX).
const EXIT_REASON_CPUID: u64 = 10;
/// The length of the x86 `cpuid` instruction (`0F A2`), reported with a CPUID #VE.
pub(super) const CPUID_INSTRUCTION_LEN: u64 = 2;

/// TDG.VP.VEINFO.GET on the calling guest thread: the pending CPUID #VE, once. Only the
/// CPUID trap (`cpuid_trap`, Linux x86-64) delivers a CPUID #VE; elsewhere none is ever
/// pending and the leaf answers TDX_NO_VALID_VE_INFO.
pub(super) fn veinfo_get(regs: &mut crate::emu::Registers) -> Result<Status, Status> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    let pending = super::cpuid_trap::take_pending_ve();
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    let pending = false;
    if !pending {
        return Err(StatusCode::NoValidVeInfo.status());
    }
    regs.rcx = EXIT_REASON_CPUID;
    regs.rdx = 0;
    regs.r8 = 0;
    regs.r9 = 0;
    regs.r10 = CPUID_INSTRUCTION_LEN;
    Ok(StatusCode::Success.status())
}
