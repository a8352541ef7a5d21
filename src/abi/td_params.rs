//! TD_PARAMS, the 1024-byte input of TDH.MNG.INIT, and the CPUID_CONFIG entries.
//!
//! Layout from TDX module 1.5.01 (`td_params_t`, 1024 bytes, 1024-byte aligned in host
//! memory); checked field by field at compile time below.

use super::flags::{Attributes, ConfigFlags, Xfam};
use static_assertions::{assert_eq_size, const_assert_eq};

/// A CPUID leaf and subleaf, as in CPUID_CONFIG_LEAVES and TDSYSINFO_STRUCT: bits 31:0 leaf,
/// bits 63:32 subleaf (all ones when the leaf has no subleaves).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuidLeaf {
    /// The leaf (EAX input).
    pub leaf: u32,
    /// The subleaf (ECX input), or [`CpuidLeaf::NO_SUBLEAF`].
    pub subleaf: u32,
}

impl CpuidLeaf {
    /// The subleaf value of a leaf without subleaves.
    pub const NO_SUBLEAF: u32 = u32::MAX;

    /// Decodes the 64-bit metadata encoding (CPUID_CONFIG_LEAVES elements).
    #[inline]
    pub const fn from_u64(raw: u64) -> CpuidLeaf {
        CpuidLeaf {
            leaf: raw as u32,
            subleaf: (raw >> 32) as u32,
        }
    }

    /// The 64-bit metadata encoding.
    #[inline]
    pub const fn to_u64(self) -> u64 {
        self.leaf as u64 | (self.subleaf as u64) << 32
    }
}

/// The four CPUID output registers of a configurable leaf: which bits are configurable (in
/// TDSYSINFO / CPUID_CONFIG_VALUES) or their chosen values (in TD_PARAMS).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuidValues {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

impl CpuidValues {
    /// Decodes the two 64-bit metadata elements of CPUID_CONFIG_VALUES: `low` = EBX:EAX,
    /// `high` = EDX:ECX.
    #[inline]
    pub const fn from_u64_pair(low: u64, high: u64) -> CpuidValues {
        CpuidValues {
            eax: low as u32,
            ebx: (low >> 32) as u32,
            ecx: high as u32,
            edx: (high >> 32) as u32,
        }
    }
}

/// One CPUID_CONFIG entry of TDSYSINFO_STRUCT: a leaf/subleaf and its configurable bits
/// (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuidConfig {
    /// The leaf and subleaf.
    pub leaf: CpuidLeaf,
    /// The configurable bits.
    pub values: CpuidValues,
}

/// The number of CPUID_CONFIG value entries TD_PARAMS has room for (768 bytes / 16).
pub const TD_PARAMS_MAX_CPUID_CONFIG: usize = 48;

/// TD_PARAMS: the TD's configuration, input of TDH.MNG.INIT (RDX = its HPA).
///
/// 1024 bytes, 1024-byte aligned. The CPUID_CONFIG values must come in the number and
/// order of the configurable leaves the module enumerates (NUM_CPUID_CONFIG,
/// CPUID_CONFIG_LEAVES). Reserved bytes must be zero; [`TdParams::default`] is all zero.
#[repr(C, align(1024))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdParams {
    /// Offset 0: ATTRIBUTES.
    pub attributes: Attributes,
    /// Offset 8: XFAM.
    pub xfam: Xfam,
    /// Offset 16: MAX_VCPUS.
    pub max_vcpus: u16,
    /// Offset 18: NUM_L2_VMS (TD partitioning, 0-3).
    pub num_l2_vms: u8,
    /// Offset 19: MSR_CONFIG_CTLS; bit 0 = IA32_ARCH_CAPABILITIES_CONFIG is valid.
    pub msr_config_ctls: u8,
    /// Offset 20: reserved, zero.
    pub reserved0: [u8; 4],
    /// Offset 24: EPTP_CONTROLS: bits 2:0 memory type, bits 5:3 page-walk length minus 1.
    pub eptp_controls: u64,
    /// Offset 32: CONFIG_FLAGS (EXEC_CONTROLS).
    pub config_flags: ConfigFlags,
    /// Offset 40: TSC_FREQUENCY, in units of 25 MHz.
    pub tsc_frequency: u16,
    /// Offset 42: reserved, zero.
    pub reserved1: [u8; 38],
    /// Offset 80: MRCONFIGID (SHA-384 sized, software defined).
    pub mr_config_id: [u8; 48],
    /// Offset 128: MROWNER.
    pub mr_owner: [u8; 48],
    /// Offset 176: MROWNERCONFIG.
    pub mr_owner_config: [u8; 48],
    /// Offset 224: IA32_ARCH_CAPABILITIES_CONFIG.
    pub ia32_arch_capabilities_config: u64,
    /// Offset 232: reserved, zero.
    pub reserved2: [u8; 24],
    /// Offset 256: CPUID_CONFIG values, in the module's leaf order.
    pub cpuid_config: [CpuidValues; TD_PARAMS_MAX_CPUID_CONFIG],
}

impl Default for TdParams {
    fn default() -> TdParams {
        TdParams {
            attributes: Attributes::empty(),
            xfam: Xfam::empty(),
            max_vcpus: 0,
            num_l2_vms: 0,
            msr_config_ctls: 0,
            reserved0: [0; 4],
            eptp_controls: 0,
            config_flags: ConfigFlags::empty(),
            tsc_frequency: 0,
            reserved1: [0; 38],
            mr_config_id: [0; 48],
            mr_owner: [0; 48],
            mr_owner_config: [0; 48],
            ia32_arch_capabilities_config: 0,
            reserved2: [0; 24],
            cpuid_config: [CpuidValues::default(); TD_PARAMS_MAX_CPUID_CONFIG],
        }
    }
}

impl TdParams {
    /// The size in bytes.
    pub const SIZE: usize = 1024;
    /// The alignment the module requires.
    pub const ALIGN: u64 = 1024;
}

assert_eq_size!(TdParams, [u8; 1024]);
const_assert_eq!(core::mem::align_of::<TdParams>(), 1024);
assert_eq_size!(CpuidConfig, [u8; 24]);
assert_eq_size!(CpuidValues, [u8; 16]);
const_assert_eq!(core::mem::offset_of!(TdParams, xfam), 8);
const_assert_eq!(core::mem::offset_of!(TdParams, max_vcpus), 16);
const_assert_eq!(core::mem::offset_of!(TdParams, num_l2_vms), 18);
const_assert_eq!(core::mem::offset_of!(TdParams, msr_config_ctls), 19);
const_assert_eq!(core::mem::offset_of!(TdParams, eptp_controls), 24);
const_assert_eq!(core::mem::offset_of!(TdParams, config_flags), 32);
const_assert_eq!(core::mem::offset_of!(TdParams, tsc_frequency), 40);
const_assert_eq!(core::mem::offset_of!(TdParams, mr_config_id), 80);
const_assert_eq!(core::mem::offset_of!(TdParams, mr_owner), 128);
const_assert_eq!(core::mem::offset_of!(TdParams, mr_owner_config), 176);
const_assert_eq!(
    core::mem::offset_of!(TdParams, ia32_arch_capabilities_config),
    224
);
const_assert_eq!(core::mem::offset_of!(TdParams, cpuid_config), 256);
