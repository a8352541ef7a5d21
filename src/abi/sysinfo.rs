//! Platform-configuration structures: TDSYSINFO_STRUCT and CMR_INFO (outputs of
//! TDH.SYS.INFO) and TDMR_INFO (input of TDH.SYS.CONFIG).
//!
//! Layouts from TDX module 1.5.01 (`td_sys_info_t`, `cmr_info_entry_t`,
//! `tdmr_info_entry_t`), checked at compile time below.

use super::td_params::CpuidConfig;
use super::HostPhysAddr;
use static_assertions::{assert_eq_size, const_assert_eq};

/// The number of CPUID_CONFIG entries TDSYSINFO_STRUCT has room for (892 bytes / 24).
pub const TDSYSINFO_MAX_CPUID_CONFIG: usize = 37;

/// TDSYSINFO_STRUCT: the module's enumeration, written by TDH.SYS.INFO (1024 bytes,
/// 1024-byte aligned). Superseded by the global metadata fields (TDH.SYS.RD) in 1.5.
#[repr(C, align(1024))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdSysInfo {
    /// Offset 0: bit 31 = debug module.
    pub attributes: u32,
    /// Offset 4: 0x8086.
    pub vendor_id: u32,
    /// Offset 8: build date, BCD yyyymmdd.
    pub build_date: u32,
    /// Offset 12: build number.
    pub build_num: u16,
    /// Offset 14: minor version.
    pub minor_version: u16,
    /// Offset 16: major version.
    pub major_version: u16,
    /// Offset 18: nonzero when TDH.SYS.RD is available.
    pub sys_rd: u8,
    /// Offset 19: reserved.
    pub reserved0: [u8; 13],
    /// Offset 32: the maximum number of TDMRs.
    pub max_tdmrs: u16,
    /// Offset 34: the maximum number of reserved areas per TDMR.
    pub max_reserved_per_tdmr: u16,
    /// Offset 36: PAMT bytes per 4 KiB page, summed over the three levels.
    pub pamt_entry_size: u16,
    /// Offset 38: reserved.
    pub reserved1: [u8; 10],
    /// Offset 48: base TDCS size in bytes.
    pub tdcs_base_size: u16,
    /// Offset 50: reserved.
    pub reserved2: [u8; 2],
    /// Offset 52: base TDVPS size in bytes.
    pub tdvps_base_size: u16,
    /// Offset 54: nonzero when the TDVPS size also depends on the TD's XFAM.
    pub tdvps_xfam_dependent_size: u8,
    /// Offset 55: reserved.
    pub reserved3: [u8; 9],
    /// Offset 64: ATTRIBUTES_FIXED0 (bits that may be 1).
    pub attributes_fixed0: u64,
    /// Offset 72: ATTRIBUTES_FIXED1 (bits that must be 1).
    pub attributes_fixed1: u64,
    /// Offset 80: XFAM_FIXED0.
    pub xfam_fixed0: u64,
    /// Offset 88: XFAM_FIXED1.
    pub xfam_fixed1: u64,
    /// Offset 96: reserved.
    pub reserved4: [u8; 32],
    /// Offset 128: the number of valid entries in `cpuid_config`.
    pub num_cpuid_config: u32,
    /// Offset 132: the configurable CPUID leaves and bits.
    pub cpuid_config: [CpuidConfig; TDSYSINFO_MAX_CPUID_CONFIG],
    /// Offset 1020: reserved.
    pub reserved5: [u8; 4],
}

impl TdSysInfo {
    /// The size in bytes (RDX input of TDH.SYS.INFO must be at least this).
    pub const SIZE: usize = 1024;

    /// The valid CPUID_CONFIG entries (at most the array's length).
    pub fn cpuid_configs(&self) -> &[CpuidConfig] {
        let n = (self.num_cpuid_config as usize).min(TDSYSINFO_MAX_CPUID_CONFIG);
        &self.cpuid_config[..n]
    }
}

impl Default for TdSysInfo {
    fn default() -> TdSysInfo {
        TdSysInfo {
            attributes: 0,
            vendor_id: 0,
            build_date: 0,
            build_num: 0,
            minor_version: 0,
            major_version: 0,
            sys_rd: 0,
            reserved0: [0; 13],
            max_tdmrs: 0,
            max_reserved_per_tdmr: 0,
            pamt_entry_size: 0,
            reserved1: [0; 10],
            tdcs_base_size: 0,
            reserved2: [0; 2],
            tdvps_base_size: 0,
            tdvps_xfam_dependent_size: 0,
            reserved3: [0; 9],
            attributes_fixed0: 0,
            attributes_fixed1: 0,
            xfam_fixed0: 0,
            xfam_fixed1: 0,
            reserved4: [0; 32],
            num_cpuid_config: 0,
            cpuid_config: [CpuidConfig::default(); TDSYSINFO_MAX_CPUID_CONFIG],
            reserved5: [0; 4],
        }
    }
}

assert_eq_size!(TdSysInfo, [u8; 1024]);
const_assert_eq!(core::mem::align_of::<TdSysInfo>(), 1024);
const_assert_eq!(core::mem::offset_of!(TdSysInfo, max_tdmrs), 32);
const_assert_eq!(core::mem::offset_of!(TdSysInfo, tdcs_base_size), 48);
const_assert_eq!(core::mem::offset_of!(TdSysInfo, tdvps_base_size), 52);
const_assert_eq!(core::mem::offset_of!(TdSysInfo, attributes_fixed0), 64);
const_assert_eq!(core::mem::offset_of!(TdSysInfo, xfam_fixed1), 88);
const_assert_eq!(core::mem::offset_of!(TdSysInfo, num_cpuid_config), 128);
const_assert_eq!(core::mem::offset_of!(TdSysInfo, cpuid_config), 132);

/// One Convertible Memory Range (CMR_INFO entry, 16 bytes). A size of 0 is a null entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CmrInfo {
    /// Base address, 4 KiB aligned.
    pub base: u64,
    /// Size in bytes, 4 KiB aligned; 0 = null entry.
    pub size: u64,
}

/// The number of CMR_INFO entries TDH.SYS.INFO writes (512 bytes).
pub const MAX_CMRS: usize = 32;
/// The alignment of the CMR_INFO array.
pub const CMR_INFO_ALIGN: u64 = 512;

assert_eq_size!(CmrInfo, [u8; 16]);
assert_eq_size!([CmrInfo; MAX_CMRS], [u8; 512]);

/// One reserved area of a TDMR (16 bytes); a size of 0 is a null entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TdmrReservedArea {
    /// Offset within the TDMR, 4 KiB aligned.
    pub offset: u64,
    /// Size, 4 KiB aligned; 0 = null entry.
    pub size: u64,
}

/// The number of reserved areas a TDMR_INFO entry has room for.
pub const TDMR_MAX_RESERVED_AREAS: usize = 16;
/// The maximum number of TDMRs TDH.SYS.CONFIG takes.
pub const MAX_TDMRS: usize = 64;
/// The alignment of each TDMR_INFO entry and of the pointer array TDH.SYS.CONFIG takes.
pub const TDMR_INFO_ALIGN: u64 = 512;

/// TDMR_INFO: one Trust Domain Memory Region and its PAMT, input of TDH.SYS.CONFIG (via
/// an array of pointers to these). 320 bytes; TDH.SYS.CONFIG wants each entry 512-byte
/// aligned, which the type guarantees.
#[repr(C, align(512))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TdmrInfo {
    /// Offset 0: TDMR base, 1 GiB aligned.
    pub tdmr_base: HostPhysAddr,
    /// Offset 8: TDMR size, 1 GiB aligned.
    pub tdmr_size: u64,
    /// Offset 16: PAMT_1G base, 4 KiB aligned.
    pub pamt_1g_base: HostPhysAddr,
    /// Offset 24: PAMT_1G size.
    pub pamt_1g_size: u64,
    /// Offset 32: PAMT_2M base.
    pub pamt_2m_base: HostPhysAddr,
    /// Offset 40: PAMT_2M size.
    pub pamt_2m_size: u64,
    /// Offset 48: PAMT_4K base.
    pub pamt_4k_base: HostPhysAddr,
    /// Offset 56: PAMT_4K size.
    pub pamt_4k_size: u64,
    /// Offset 64: reserved areas, sorted by offset, not overlapping.
    pub reserved_areas: [TdmrReservedArea; TDMR_MAX_RESERVED_AREAS],
}

impl Default for TdmrInfo {
    /// Every field zero: no TDMR.
    fn default() -> TdmrInfo {
        let zero = HostPhysAddr::from_raw_unchecked(0);
        TdmrInfo {
            tdmr_base: zero,
            tdmr_size: 0,
            pamt_1g_base: zero,
            pamt_1g_size: 0,
            pamt_2m_base: zero,
            pamt_2m_size: 0,
            pamt_4k_base: zero,
            pamt_4k_size: 0,
            reserved_areas: [TdmrReservedArea::default(); TDMR_MAX_RESERVED_AREAS],
        }
    }
}

/// The number of 64-bit words of a TDMR_INFO entry (320 bytes).
pub const TDMR_INFO_WORDS: usize = 8 + 2 * TDMR_MAX_RESERVED_AREAS;

impl TdmrInfo {
    /// The entry as the module reads it: 40 little-endian 64-bit words, in field order
    /// (base, size, the three PAMT bases and sizes, then each reserved area's offset and
    /// size). For writing an entry into memory the caller does not hold as this type.
    pub fn to_words(&self) -> [u64; TDMR_INFO_WORDS] {
        let mut words = [0u64; TDMR_INFO_WORDS];
        words[..8].copy_from_slice(&[
            self.tdmr_base.raw(),
            self.tdmr_size,
            self.pamt_1g_base.raw(),
            self.pamt_1g_size,
            self.pamt_2m_base.raw(),
            self.pamt_2m_size,
            self.pamt_4k_base.raw(),
            self.pamt_4k_size,
        ]);
        for (pair, area) in words[8..].chunks_exact_mut(2).zip(&self.reserved_areas) {
            pair.copy_from_slice(&[area.offset, area.size]);
        }
        words
    }
}

const_assert_eq!(core::mem::offset_of!(TdmrInfo, pamt_4k_size), 56);
const_assert_eq!(core::mem::offset_of!(TdmrInfo, reserved_areas), 64);
const_assert_eq!(
    core::mem::offset_of!(TdmrInfo, reserved_areas) + 16 * TDMR_MAX_RESERVED_AREAS,
    320
);
const_assert_eq!(core::mem::align_of::<TdmrInfo>(), 512);

#[cfg(test)]
mod tests {
    use super::*;

    /// `to_words` is the struct's own memory image (repr(C), no padding in 320 bytes).
    #[test]
    fn tdmr_info_words_are_its_memory_layout() {
        let mut tdmr = TdmrInfo {
            tdmr_base: HostPhysAddr::from_raw_unchecked(0x1_0000_0000),
            tdmr_size: 0x4000_0000,
            pamt_1g_base: HostPhysAddr::from_raw_unchecked(0x1_0000_1000),
            pamt_1g_size: 0x1000,
            pamt_2m_base: HostPhysAddr::from_raw_unchecked(0x1_0000_2000),
            pamt_2m_size: 0x2000,
            pamt_4k_base: HostPhysAddr::from_raw_unchecked(0x1_0000_4000),
            pamt_4k_size: 0x4000,
            ..TdmrInfo::default()
        };
        for (index, area) in tdmr.reserved_areas.iter_mut().enumerate() {
            area.offset = 0x10_0000 * (index as u64 + 1);
            area.size = 0x1000 * (index as u64 + 1);
        }
        // SAFETY: the first 320 bytes of the repr(C) struct are its 40 u64 fields.
        let image: [u64; TDMR_INFO_WORDS] =
            unsafe { core::ptr::read((&tdmr as *const TdmrInfo).cast()) };
        assert_eq!(tdmr.to_words(), image);
        assert_eq!(tdmr.to_words()[9], 0x1000);
    }
}
