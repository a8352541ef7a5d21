//! THE metadata field identifiers: every field the crate names, declared once with its raw
//! 64-bit ID (module 1.5.01 field tables, tdx-module-abi 8.2), one module per context.
//!
//! The host's typed reads (`Host::module_info` and friends) and the software TDX module's
//! field tables both take their IDs from here.
//!
//! Each row says which read module versions' field tables were checked to have it
//! (`MODULES`): the platform table holds every field of 2.0.18's
//! `include/auto_gen_2_0/global_sys_fields_lookup.h` (`intel/tdx-module` e69a4391, 75
//! fields, transcribed in `tests/data/fields-sys-2.0.18.txt`), the TD table every field of
//! 2.0.18's `tdr_tdcs_fields_lookup.h` (112, `tests/data/fields-td-2.0.18.txt`), both
//! checked by `tests/versions.rs`; the other rows are the ones transcribed from 1.5.01.
//! 2.0.18 numbers CONFIG_FLAGS and TD_CTLS with bit 63 set where 1.5.01 has it clear: both
//! IDs are rows (`CONFIG_FLAGS`, `CONFIG_FLAGS_V2018`). Other versions' tables, and the
//! vCPU table of 2.0.18, were not read field by field: those versions are not claimed
//! (**UNVERIFIED**).

use super::field_id::FieldId;
use crate::version::{ModuleSet, ModuleVersion};

macro_rules! field_table {
    ($($context:ident, $context_doc:literal {
        $($(#[$doc:meta])* $name:ident = $raw:literal, in $modules:ident;)*
    })*) => {$(
        #[doc = concat!("Fields of the ", $context_doc, ".")]
        pub mod $context {
            use super::{FieldId, ModuleSet};
            #[allow(unused_imports)]
            use super::{V1501, V1501_2018, V2018};
            $($(#[$doc])* pub const $name: FieldId = FieldId::from_raw($raw);)*
            /// Every field of this table, with its name.
            pub const ALL: &[(&str, FieldId)] = &[$((stringify!($name), $name)),*];
            /// Every field of this table, with its name and the read module versions whose
            /// field table was checked to have it.
            pub const MODULES: &[(&str, FieldId, ModuleSet)] =
                &[$((stringify!($name), $name, $modules)),*];
        }
    )*};
}

/// Fields transcribed from 1.5.01 only.
const V1501: ModuleSet = ModuleSet::of(&[ModuleVersion::V1_5]);
/// Fields of 1.5.01 that 2.0.18's table has with the same ID.
const V1501_2018: ModuleSet = ModuleSet::of(&[ModuleVersion::V1_5, ModuleVersion::V2_0_18]);
/// Fields read in 2.0.18's table only.
const V2018: ModuleSet = ModuleSet::of(&[ModuleVersion::V2_0_18]);

field_table! {
    sys, "platform (SYS) context" {
        /// NUM_PKGS.
        NUM_PKGS = 0x0000_0002_0000_0000, in V1501_2018;
        /// PKG_FMS (2.0.18).
        PKG_FMS = 0x0000_0002_0000_0001, in V2018;
        /// VENDOR_ID (4 bytes, 0x8086).
        VENDOR_ID = 0x0800_0002_0000_0000, in V1501_2018;
        /// BUILD_DATE (4 bytes, BCD yyyymmdd).
        BUILD_DATE = 0x8800_0002_0000_0001, in V1501_2018;
        /// BUILD_NUM (2 bytes).
        BUILD_NUM = 0x8800_0001_0000_0002, in V1501_2018;
        /// MINOR_VERSION (2 bytes).
        MINOR_VERSION = 0x0800_0001_0000_0003, in V1501_2018;
        /// MAJOR_VERSION (2 bytes).
        MAJOR_VERSION = 0x0800_0001_0000_0004, in V1501_2018;
        /// UPDATE_VERSION (2 bytes).
        UPDATE_VERSION = 0x0800_0001_0000_0005, in V1501_2018;
        /// INTERNAL_VERSION (2.0.18).
        INTERNAL_VERSION = 0x0800_0001_0000_0006, in V2018;
        /// MODULE_HV (2.0.18).
        MODULE_HV = 0x8900_0001_0000_0000, in V2018;
        /// MIN_UPDATE_HV (2.0.18).
        MIN_UPDATE_HV = 0x8900_0001_0000_0001, in V2018;
        /// NO_DOWNGRADE (2.0.18).
        NO_DOWNGRADE = 0x8900_0000_0000_0002, in V2018;
        /// NUM_HANDOFF_PAGES (2.0.18).
        NUM_HANDOFF_PAGES = 0x8900_0001_0000_0003, in V2018;
        /// HANDOFF_DATA_VALID (2.0.18).
        HANDOFF_DATA_VALID = 0x8900_0000_0000_0004, in V2018;
        /// HANDOFF_DATA_HV (2.0.18).
        HANDOFF_DATA_HV = 0x8900_0001_0000_0005, in V2018;
        /// HANDOFF_DATA_SIZE (2.0.18).
        HANDOFF_DATA_SIZE = 0x8900_0002_0000_0006, in V2018;
        /// SYS_ATTRIBUTES.
        SYS_ATTRIBUTES = 0x0A00_0002_0000_0000, in V1501_2018;
        /// NUM_TDX_FEATURES.
        NUM_TDX_FEATURES = 0x0A00_0000_0000_0001, in V1501_2018;
        /// TDX_FEATURES0 (8 bytes).
        TDX_FEATURES0 = 0x0A00_0003_0000_0008, in V1501_2018;
        /// NUM_CMRS.
        NUM_CMRS = 0x9000_0001_0000_0000, in V1501_2018;
        /// CMR_BASE.
        CMR_BASE = 0x9000_0003_0000_0080, in V1501_2018;
        /// CMR_SIZE.
        CMR_SIZE = 0x9000_0003_0000_0100, in V1501_2018;
        /// MAX_TDMRS.
        MAX_TDMRS = 0x9100_0001_0000_0008, in V1501_2018;
        /// MAX_RESERVED_PER_TDMR.
        MAX_RESERVED_PER_TDMR = 0x9100_0001_0000_0009, in V1501_2018;
        /// PAMT_4K_ENTRY_SIZE.
        PAMT_4K_ENTRY_SIZE = 0x9100_0001_0000_0010, in V1501_2018;
        /// PAMT_2M_ENTRY_SIZE.
        PAMT_2M_ENTRY_SIZE = 0x9100_0001_0000_0011, in V1501_2018;
        /// PAMT_1G_ENTRY_SIZE.
        PAMT_1G_ENTRY_SIZE = 0x9100_0001_0000_0012, in V1501_2018;
        /// PAMT_PAGE_BITMAP_ENTRY_BITS (2.0.18).
        PAMT_PAGE_BITMAP_ENTRY_BITS = 0x9100_0000_0000_0013, in V2018;
        /// MIN_DYNAMIC_PAMT_NUM_HKID_BITS (2.0.18).
        MIN_DYNAMIC_PAMT_NUM_HKID_BITS = 0x9100_0000_0000_0014, in V2018;
        /// TDR_BASE_SIZE (2 bytes).
        TDR_BASE_SIZE = 0x9800_0001_0000_0000, in V1501_2018;
        /// TDCS_BASE_SIZE (2 bytes).
        TDCS_BASE_SIZE = 0x9800_0001_0000_0100, in V1501_2018;
        /// TDCS_SIZE_PER_L2_VM (2.0.18).
        TDCS_SIZE_PER_L2_VM = 0x9800_0001_0000_0101, in V2018;
        /// TDVPS_BASE_SIZE (2 bytes).
        TDVPS_BASE_SIZE = 0x9800_0001_0000_0200, in V1501_2018;
        /// TDVPS_SIZE_PER_L2_VM (2.0.18).
        TDVPS_SIZE_PER_L2_VM = 0x9800_0001_0000_0201, in V2018;
        /// ATTRIBUTES_FIXED0 (8 bytes).
        ATTRIBUTES_FIXED0 = 0x1900_0003_0000_0000, in V1501_2018;
        /// ATTRIBUTES_FIXED1 (8 bytes).
        ATTRIBUTES_FIXED1 = 0x1900_0003_0000_0001, in V1501_2018;
        /// XFAM_FIXED0 (8 bytes).
        XFAM_FIXED0 = 0x1900_0003_0000_0002, in V1501_2018;
        /// XFAM_FIXED1 (8 bytes).
        XFAM_FIXED1 = 0x1900_0003_0000_0003, in V1501_2018;
        /// NUM_CPUID_CONFIG (2 bytes).
        NUM_CPUID_CONFIG = 0x9900_0001_0000_0004, in V1501_2018;
        /// CONFIG_FLAGS_FIXED0.
        CONFIG_FLAGS_FIXED0 = 0x9900_0003_0000_0006, in V1501_2018;
        /// CONFIG_FLAGS_FIXED1.
        CONFIG_FLAGS_FIXED1 = 0x9900_0003_0000_0007, in V1501_2018;
        /// MAX_VCPUS_PER_TD (2.0.18).
        MAX_VCPUS_PER_TD = 0x9900_0001_0000_0008, in V2018;
        /// MIN_VIRT_MAXPA (2.0.18).
        MIN_VIRT_MAXPA = 0x9900_0000_0000_0009, in V2018;
        /// MAX_EVENT_FILTERS (2.0.18).
        MAX_EVENT_FILTERS = 0x9900_0001_0000_000A, in V2018;
        /// CPUID_CONFIG_LEAVES (8 bytes per element: leaf, subleaf).
        CPUID_CONFIG_LEAVES = 0x9900_0003_0000_0400, in V1501_2018;
        /// CPUID_CONFIG_VALUES (two 8-byte elements per leaf: EBX:EAX, EDX:ECX).
        CPUID_CONFIG_VALUES = 0x9900_0003_0000_0500, in V1501_2018;
        /// IA32_ARCH_CAPABILITIES_CONFIG_MASK (2.0.18).
        IA32_ARCH_CAPABILITIES_CONFIG_MASK = 0x9900_0003_0000_0600, in V2018;
        /// NUM_ALLOWED_FMS (2.0.18).
        NUM_ALLOWED_FMS = 0x9900_0001_0000_0800, in V2018;
        /// NUM_DISALLOWED_FMS (2.0.18).
        NUM_DISALLOWED_FMS = 0x9900_0001_0000_0801, in V2018;
        /// ALLOWED_FMS (2.0.18).
        ALLOWED_FMS = 0x9900_0003_0000_0810, in V2018;
        /// DISALLOWED_FMS (2.0.18).
        DISALLOWED_FMS = 0x9900_0003_0000_0850, in V2018;
        /// GUEST_GPA_ATTR_MASK (2.0.18).
        GUEST_GPA_ATTR_MASK = 0x9A00_0003_0000_0000, in V2018;
        /// MIG_ATTRIBUTES (2.0.18).
        MIG_ATTRIBUTES = 0xA000_0003_0000_0000, in V2018;
        /// MIN_EXPORT_VERSION (2.0.18).
        MIN_EXPORT_VERSION = 0x2000_0001_0000_0001, in V2018;
        /// MAX_EXPORT_VERSION (2.0.18).
        MAX_EXPORT_VERSION = 0x2000_0001_0000_0002, in V2018;
        /// MIN_IMPORT_VERSION (2.0.18).
        MIN_IMPORT_VERSION = 0x2000_0001_0000_0003, in V2018;
        /// MAX_IMPORT_VERSION (2.0.18).
        MAX_IMPORT_VERSION = 0x2000_0001_0000_0004, in V2018;
        /// MAX_MIGS (2.0.18).
        MAX_MIGS = 0xA000_0001_0000_0010, in V2018;
        /// NUM_IMMUTABLE_STATE_PAGES (2.0.18).
        NUM_IMMUTABLE_STATE_PAGES = 0xA000_0000_0000_0020, in V2018;
        /// NUM_TD_STATE_PAGES (2.0.18).
        NUM_TD_STATE_PAGES = 0xA000_0000_0000_0021, in V2018;
        /// NUM_VP_STATE_PAGES (2.0.18).
        NUM_VP_STATE_PAGES = 0xA000_0000_0000_0022, in V2018;
        /// NUM_MEM_SCAN_CONTROL_PAGES (2.0.18).
        NUM_MEM_SCAN_CONTROL_PAGES = 0xA000_0000_0000_0030, in V2018;
        /// MAX_MEM_SCAN_RANGES (2.0.18).
        MAX_MEM_SCAN_RANGES = 0xA000_0001_0000_0031, in V2018;
        /// NUM_MEM_SCAN_CONTEXTS (2.0.18).
        NUM_MEM_SCAN_CONTEXTS = 0xA000_0001_0000_0032, in V2018;
        /// MAX_SERV_TDS.
        MAX_SERV_TDS = 0xA100_0001_0000_0000, in V1501_2018;
        /// SERVTD_ATTR_FIXED0 (2.0.18).
        SERVTD_ATTR_FIXED0 = 0xA100_0003_0000_0001, in V2018;
        /// SERVTD_ATTR_FIXED1 (2.0.18).
        SERVTD_ATTR_FIXED1 = 0xA100_0003_0000_0002, in V2018;
        /// GUEST_L2_GPA_ATTR_MASK (2.0.18).
        GUEST_L2_GPA_ATTR_MASK = 0xA200_0001_0000_0000, in V2018;
        /// VM_CTLS_FIXED0 (2.0.18).
        VM_CTLS_FIXED0 = 0xA200_0003_0000_0001, in V2018;
        /// VM_CTLS_FIXED1 (2.0.18).
        VM_CTLS_FIXED1 = 0xA200_0003_0000_0002, in V2018;
        /// VPCU_L2_CTLS_FIXED0 (2.0.18).
        VPCU_L2_CTLS_FIXED0 = 0xA200_0003_0000_0003, in V2018;
        /// VCPU_L2_CTLS_FIXED1 (2.0.18).
        VCPU_L2_CTLS_FIXED1 = 0xA200_0003_0000_0004, in V2018;
        /// VPCU_L2_DEBUG_CTLS_FIXED0 (2.0.18).
        VPCU_L2_DEBUG_CTLS_FIXED0 = 0xA200_0003_0000_0005, in V2018;
        /// VCPU_L2_DEBUG_CTLS_FIXED1 (2.0.18).
        VCPU_L2_DEBUG_CTLS_FIXED1 = 0xA200_0003_0000_0006, in V2018;
        /// TDX_CONNECT_FEATURES (2.0.18).
        TDX_CONNECT_FEATURES = 0x3000_0003_0000_0000, in V2018;
    }
    td, "TD context (TDR and TDCS)" {
        /// FATAL (2.0.18).
        FATAL = 0x8010_0000_0000_0001, in V2018;
        /// NUM_TDCX.
        NUM_TDCX = 0x8010_0002_0000_0002, in V1501_2018;
        /// CHLDCNT.
        CHLDCNT = 0x8010_0003_0000_0004, in V1501_2018;
        /// LIFECYCLE_STATE.
        LIFECYCLE_STATE = 0x8010_0002_0000_0005, in V1501_2018;
        /// TDCX_PA (2.0.18).
        TDCX_PA = 0x8010_0003_0000_0010, in V2018;
        /// TD_UUID.
        TD_UUID = 0x8010_0003_0000_0020, in V1501_2018;
        /// HKID.
        HKID = 0x8110_0001_0000_0001, in V1501_2018;
        /// PKG_CONFIG_BITMAP (2.0.18).
        PKG_CONFIG_BITMAP = 0x8110_0003_0000_0002, in V2018;
        /// HANDOFF_VERSION (2.0.18).
        HANDOFF_VERSION = 0x8210_0001_0000_0000, in V2018;
        /// SEAMDB_INDEX (2.0.18).
        SEAMDB_INDEX = 0x8210_0003_0000_0001, in V2018;
        /// RND_HPA_OFFSET_6B (2.0.18).
        RND_HPA_OFFSET_6B = 0x8310_0003_0000_0000, in V2018;
        /// TDI_REF_CNT (2.0.18).
        TDI_REF_CNT = 0x8310_0003_0000_0001, in V2018;
        /// NUM_VCPUS.
        NUM_VCPUS = 0x9010_0002_0000_0001, in V1501_2018;
        /// NUM_ASSOC_VCPUS.
        NUM_ASSOC_VCPUS = 0x9010_0002_0000_0002, in V1501_2018;
        /// OP_STATE.
        OP_STATE = 0x9010_0002_0000_0004, in V1501_2018;
        /// NUM_L2_VMS.
        NUM_L2_VMS = 0x9010_0001_0000_0005, in V1501_2018;
        /// ATTRIBUTES.
        ATTRIBUTES = 0x1110_0003_0000_0000, in V1501_2018;
        /// XFAM.
        XFAM = 0x1110_0003_0000_0001, in V1501_2018;
        /// MAX_VCPUS.
        MAX_VCPUS = 0x1110_0002_0000_0002, in V1501_2018;
        /// GPAW.
        GPAW = 0x1110_0000_0000_0003, in V1501_2018;
        /// EPTP.
        EPTP = 0x1110_0003_0000_0004, in V1501_2018;
        /// TSC_OFFSET (2.0.18).
        TSC_OFFSET = 0x1110_0003_0000_000A, in V2018;
        /// TSC_MULTIPLIER (2.0.18).
        TSC_MULTIPLIER = 0x1110_0003_0000_000B, in V2018;
        /// TSC_FREQUENCY.
        TSC_FREQUENCY = 0x1110_0001_0000_000C, in V1501_2018;
        /// VIRTUAL_TSC (2.0.18).
        VIRTUAL_TSC = 0x1110_0003_0000_000D, in V2018;
        /// NUM_CPUID_VALUES (2.0.18).
        NUM_CPUID_VALUES = 0x9110_0001_0000_000E, in V2018;
        /// XBUFF_SIZE (2.0.18).
        XBUFF_SIZE = 0x9110_0002_0000_000F, in V2018;
        /// NOTIFY_ENABLES (2.0.18).
        NOTIFY_ENABLES = 0x9110_0003_0000_0010, in V2018;
        /// HP_LOCK_TIMEOUT.
        HP_LOCK_TIMEOUT = 0x9110_0003_0000_0011, in V1501_2018;
        /// VM_CTLS (2.0.18).
        VM_CTLS = 0x9110_0003_0000_0012, in V2018;
        /// CONFIG_FLAGS.
        CONFIG_FLAGS = 0x1110_0003_0000_0016, in V1501;
        /// CONFIG_FLAGS as 2.0.18 numbers it: bit 63 set, where 1.5.01 has it clear (which ID
        /// 2.0.18 accepts for the 1.5.01 one is **UNVERIFIED**).
        CONFIG_FLAGS_V2018 = 0x9110_0003_0000_0016, in V2018;
        /// TD_CTLS.
        TD_CTLS = 0x1110_0003_0000_0017, in V1501;
        /// TD_CTLS as 2.0.18 numbers it: bit 63 set, where 1.5.01 has it clear (which ID
        /// 2.0.18 accepts for the 1.5.01 one is **UNVERIFIED**).
        TD_CTLS_V2018 = 0x9110_0003_0000_0017, in V2018;
        /// VIRT_MAXPA (2.0.18).
        VIRT_MAXPA = 0x9110_0000_0000_0018, in V2018;
        /// TOPOLOGY_ENUM_CONFIGURED (2.0.18).
        TOPOLOGY_ENUM_CONFIGURED = 0x9110_0000_0000_0019, in V2018;
        /// VE_REDUCTION_VALID (2.0.18).
        VE_REDUCTION_VALID = 0x9110_0000_0000_001A, in V2018;
        /// CPUID_FIXED0_BITMAP (2.0.18).
        CPUID_FIXED0_BITMAP = 0x9110_0003_0000_0021, in V2018;
        /// FEATURE_PARAVIRT_CTLS (2.0.18).
        FEATURE_PARAVIRT_CTLS = 0x9110_0003_0000_0022, in V2018;
        /// FILTERED_EVENTS_COUNT (2.0.18).
        FILTERED_EVENTS_COUNT = 0x9110_0003_0000_0023, in V2018;
        /// FIELD_SUPPORT_AT_INIT (2.0.18).
        FIELD_SUPPORT_AT_INIT = 0x9110_0002_0000_0028, in V2018;
        /// BLOCKED_COUNT (2.0.18).
        BLOCKED_COUNT = 0x9110_0003_0000_0029, in V2018;
        /// PENDING_BLOCKED_COUNT (2.0.18).
        PENDING_BLOCKED_COUNT = 0x9110_0003_0000_002A, in V2018;
        /// MEM_COUNT (2.0.18).
        MEM_COUNT = 0x9110_0003_0000_002B, in V2018;
        /// CPUID_VALID (2.0.18).
        CPUID_VALID = 0x9110_0000_0000_0080, in V2018;
        /// CPUID4_NATIVE_VALUES (2.0.18).
        CPUID4_NATIVE_VALUES = 0x9110_0002_0000_0200, in V2018;
        /// XBUFF_OFFSETS (2.0.18).
        XBUFF_OFFSETS = 0x9110_0002_0000_0800, in V2018;
        /// TD_EPOCH.
        TD_EPOCH = 0x9210_0003_0000_0000, in V1501_2018;
        /// REFCOUNT (2.0.18).
        REFCOUNT = 0x9210_0001_0000_0001, in V2018;
        /// MRTD.
        MRTD = 0x1310_0003_0000_0000, in V1501_2018;
        /// MRCONFIGID.
        MRCONFIGID = 0x1310_0003_0000_0010, in V1501_2018;
        /// MROWNER.
        MROWNER = 0x1310_0003_0000_0018, in V1501_2018;
        /// MROWNERCONFIG.
        MROWNERCONFIG = 0x1310_0003_0000_0020, in V1501_2018;
        /// RTMR.
        RTMR = 0x1310_0003_0000_0040, in V1501_2018;
        /// CPUID_VALUES (class 20): the TD's virtualized CPUID; the field code encodes leaf, subleaf and register pair (tdx-module-abi 8.1).
        CPUID_VALUES = 0x9410_0003_0000_0000, in V1501_2018;
        /// VIRTUAL_IA32_ARCH_CAPABILITIES (2.0.18).
        VIRTUAL_IA32_ARCH_CAPABILITIES = 0x9610_0003_0000_010A, in V2018;
        /// VIRTUAL_IA32_VMX_BASIC (2.0.18).
        VIRTUAL_IA32_VMX_BASIC = 0x9610_0003_0000_0480, in V2018;
        /// VIRTUAL_IA32_VMX_MISC (2.0.18).
        VIRTUAL_IA32_VMX_MISC = 0x9610_0003_0000_0485, in V2018;
        /// VIRTUAL_IA32_VMX_CR0_FIXED0 (2.0.18).
        VIRTUAL_IA32_VMX_CR0_FIXED0 = 0x9610_0003_0000_0486, in V2018;
        /// VIRTUAL_IA32_VMX_CR0_FIXED1 (2.0.18).
        VIRTUAL_IA32_VMX_CR0_FIXED1 = 0x9610_0003_0000_0487, in V2018;
        /// VIRTUAL_IA32_VMX_CR4_FIXED0 (2.0.18).
        VIRTUAL_IA32_VMX_CR4_FIXED0 = 0x9610_0003_0000_0488, in V2018;
        /// VIRTUAL_IA32_VMX_CR4_FIXED1 (2.0.18).
        VIRTUAL_IA32_VMX_CR4_FIXED1 = 0x9610_0003_0000_0489, in V2018;
        /// VIRTUAL_IA32_VMX_PROCBASED_CTLS2 (2.0.18).
        VIRTUAL_IA32_VMX_PROCBASED_CTLS2 = 0x9610_0003_0000_048B, in V2018;
        /// VIRTUAL_IA32_VMX_EPT_VPID_CAP (2.0.18).
        VIRTUAL_IA32_VMX_EPT_VPID_CAP = 0x9610_0003_0000_048C, in V2018;
        /// VIRTUAL_IA32_VMX_TRUE_PINBASED_CTLS (2.0.18).
        VIRTUAL_IA32_VMX_TRUE_PINBASED_CTLS = 0x9610_0003_0000_048D, in V2018;
        /// VIRTUAL_IA32_VMX_TRUE_PROCBASED_CTLS (2.0.18).
        VIRTUAL_IA32_VMX_TRUE_PROCBASED_CTLS = 0x9610_0003_0000_048E, in V2018;
        /// VIRTUAL_IA32_VMX_TRUE_EXIT_CTLS (2.0.18).
        VIRTUAL_IA32_VMX_TRUE_EXIT_CTLS = 0x9610_0003_0000_048F, in V2018;
        /// VIRTUAL_IA32_VMX_TRUE_ENTRY_CTLS (2.0.18).
        VIRTUAL_IA32_VMX_TRUE_ENTRY_CTLS = 0x9610_0003_0000_0490, in V2018;
        /// VIRTUAL_IA32_VMX_VMFUNC (2.0.18).
        VIRTUAL_IA32_VMX_VMFUNC = 0x9610_0003_0000_0491, in V2018;
        /// VIRTUAL_IA32_VMX_PROCBASED_CTLS3 (2.0.18).
        VIRTUAL_IA32_VMX_PROCBASED_CTLS3 = 0x9610_0003_0000_0492, in V2018;
        /// VIRTUAL_IA32_VMX_EXIT_CTLS2 (2.0.18).
        VIRTUAL_IA32_VMX_EXIT_CTLS2 = 0x9610_0003_0000_0493, in V2018;
        /// MIG_DEC_KEY_SET (2.0.18).
        MIG_DEC_KEY_SET = 0x9810_0000_0000_0001, in V2018;
        /// EXPORT_COUNT (2.0.18).
        EXPORT_COUNT = 0x9810_0002_0000_0002, in V2018;
        /// IMPORT_COUNT (2.0.18).
        IMPORT_COUNT = 0x9810_0002_0000_0003, in V2018;
        /// MIG_EPOCH (2.0.18).
        MIG_EPOCH = 0x9810_0002_0000_0004, in V2018;
        /// BW_EPOCH (2.0.18).
        BW_EPOCH = 0x9810_0003_0000_0005, in V2018;
        /// TOTAL_MB_COUNT (2.0.18).
        TOTAL_MB_COUNT = 0x9810_0003_0000_0006, in V2018;
        /// MIG_DEC_KEY (2.0.18).
        MIG_DEC_KEY = 0x9810_0003_0000_0010, in V2018;
        /// MIG_DEC_WORKING_KEY (2.0.18).
        MIG_DEC_WORKING_KEY = 0x9810_0003_0000_0014, in V2018;
        /// MIG_ENC_KEY (2.0.18).
        MIG_ENC_KEY = 0x9810_0003_0000_0018, in V2018;
        /// MIG_ENC_WORKING_KEY (2.0.18).
        MIG_ENC_WORKING_KEY = 0x9810_0003_0000_001C, in V2018;
        /// MIG_VERSION (2.0.18).
        MIG_VERSION = 0x9810_0001_0000_0020, in V2018;
        /// MIG_WORKING_VERSION (2.0.18).
        MIG_WORKING_VERSION = 0x9810_0001_0000_0021, in V2018;
        /// DIRTY_COUNT (2.0.18).
        DIRTY_COUNT = 0x9810_0003_0000_0030, in V2018;
        /// MIG_COUNT (2.0.18).
        MIG_COUNT = 0x9810_0003_0000_0031, in V2018;
        /// NUM_MIGS (2.0.18).
        NUM_MIGS = 0x9810_0001_0000_0032, in V2018;
        /// NUM_MIGRATED_VCPUS (2.0.18).
        NUM_MIGRATED_VCPUS = 0x9810_0002_0000_0034, in V2018;
        /// NUM_MEM_SCAN_RANGES (2.0.18).
        NUM_MEM_SCAN_RANGES = 0x1810_0000_0000_0037, in V2018;
        /// NUM_MEM_SCAN_RANGES_COMPLETED (2.0.18).
        NUM_MEM_SCAN_RANGES_COMPLETED = 0x1810_0000_0000_0038, in V2018;
        /// MEM_SCAN_OPERATION (2.0.18).
        MEM_SCAN_OPERATION = 0x1810_0000_0000_0039, in V2018;
        /// MEM_SCAN_QUALIFIER (2.0.18).
        MEM_SCAN_QUALIFIER = 0x1810_0000_0000_003A, in V2018;
        /// MEM_SCAN_STATE (2.0.18).
        MEM_SCAN_STATE = 0x1810_0000_0000_003B, in V2018;
        /// PRE_IMPORT_UUID (2.0.18).
        PRE_IMPORT_UUID = 0x9810_0003_0000_0040, in V2018;
        /// SERVTD_HASH (2.0.18).
        SERVTD_HASH = 0x9910_0003_0000_0000, in V2018;
        /// SERVTD_NUM (2.0.18).
        SERVTD_NUM = 0x9910_0001_0000_0006, in V2018;
        /// SERVTD_BINDINGS_TABLE (2.0.18).
        SERVTD_BINDINGS_TABLE = 0x9910_0003_0000_0080, in V2018;
        /// MIGSC_LINKS (2.0.18).
        MIGSC_LINKS = 0x9A10_0003_0000_0000, in V2018;
        /// CURR_IOTLB_CNT (2.0.18).
        CURR_IOTLB_CNT = 0x9B10_0003_0000_0000, in V2018;
        /// PREV_IOTLB_CNT (2.0.18).
        PREV_IOTLB_CNT = 0x9B10_0003_0000_0001, in V2018;
        /// REQ_ACTIVE (2.0.18).
        REQ_ACTIVE = 0x9B10_0000_0000_0002, in V2018;
        /// REQ_NUM (2.0.18).
        REQ_NUM = 0x9B10_0000_0000_0003, in V2018;
        /// REQ_IOMMU_BM (2.0.18).
        REQ_IOMMU_BM = 0x9B10_0003_0000_0004, in V2018;
        /// STATUS_COMPLETE_WR (2.0.18).
        STATUS_COMPLETE_WR = 0x9B10_0000_0000_0006, in V2018;
        /// STATUS_COMPLETE_GPA (2.0.18).
        STATUS_COMPLETE_GPA = 0x9B10_0003_0000_0007, in V2018;
        /// STATUS_COMPLETE_DATA (2.0.18).
        STATUS_COMPLETE_DATA = 0x9B10_0002_0000_0008, in V2018;
        /// IOTLB_TRACK_ARRAY (2.0.18).
        IOTLB_TRACK_ARRAY = 0x9B10_0003_0000_0200, in V2018;
        /// IOTLB_COMMITTED (2.0.18).
        IOTLB_COMMITTED = 0x9B10_0000_0000_0400, in V2018;
        /// IOTLB_COMPLETE (2.0.18).
        IOTLB_COMPLETE = 0x9B10_0000_0000_0600, in V2018;
        /// X2APIC_IDS (2.0.18).
        X2APIC_IDS = 0x9C10_0002_0000_0000, in V2018;
        /// MSR_BITMAPS (2.0.18).
        MSR_BITMAPS = 0x2010_0003_0000_0000, in V2018;
        /// SEPT_ROOT (2.0.18).
        SEPT_ROOT = 0x2110_0003_0000_0000, in V2018;
        /// L2_SEPT_ROOT_1 (2.0.18).
        L2_SEPT_ROOT_1 = 0x2510_0003_0000_0000, in V2018;
        /// L2_SEPT_ROOT_2 (2.0.18).
        L2_SEPT_ROOT_2 = 0x2910_0003_0000_0000, in V2018;
        /// L2_SEPT_ROOT_3 (2.0.18).
        L2_SEPT_ROOT_3 = 0x2D10_0003_0000_0000, in V2018;
    }
    vp, "vCPU context (TDVPS and TD VMCS)" {
        /// Guest RAX, the first of the 16 GPR fields (RAX..R15 at consecutive field codes).
        GPRS = 0x1020_0003_0000_0000, in V1501;
        /// VCPU_STATE.
        VCPU_STATE = 0xA020_0000_0000_0000, in V1501;
        /// VCPU_INDEX.
        VCPU_INDEX = 0xA020_0002_0000_0002, in V1501;
        /// NUM_TDVPS_PAGES.
        NUM_TDVPS_PAGES = 0xA020_0000_0000_0003, in V1501;
        /// ASSOC_LPID.
        ASSOC_LPID = 0xA020_0002_0000_0004, in V1501;
        /// CPUID_SUPERVISOR_VE.
        CPUID_SUPERVISOR_VE = 0xA020_0000_0000_0007, in V1501;
        /// CPUID_USER_VE.
        CPUID_USER_VE = 0xA020_0000_0000_0008, in V1501;
        /// PEND_NMI.
        PEND_NMI = 0x2020_0000_0000_000B, in V1501;
        /// XFAM.
        XFAM = 0x2020_0003_0000_000C, in V1501;
        /// TDVPS_PAGE_PA.
        TDVPS_PAGE_PA = 0xA020_0003_0000_0010, in V1501;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_well_formed_and_in_their_context() {
        use crate::abi::field_id::Context;
        for (table, context) in [
            (sys::ALL, Context::Platform),
            (td::ALL, Context::Td),
            (vp::ALL, Context::Vcpu),
        ] {
            for (i, (name, id)) in table.iter().enumerate() {
                assert!(id.check_single_element().is_ok(), "{name}");
                assert_eq!(id.context(), Some(context), "{name}");
                for (other, other_id) in &table[i + 1..] {
                    assert_ne!(id, other_id, "{name} and {other}");
                }
            }
        }
    }
}
