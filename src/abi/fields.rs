//! THE metadata field identifiers: every field the crate names, declared once with its raw
//! 64-bit ID (module 1.5.01 field tables, tdx-module-abi 8.2), one module per context.
//!
//! The host's typed reads (`Host::module_info` and friends) and the software TDX module's
//! field tables both take their IDs from here.

use super::field_id::FieldId;

macro_rules! field_table {
    ($($context:ident, $context_doc:literal {
        $($(#[$doc:meta])* $name:ident = $raw:literal;)*
    })*) => {$(
        #[doc = concat!("Fields of the ", $context_doc, ".")]
        pub mod $context {
            use super::FieldId;
            $($(#[$doc])* pub const $name: FieldId = FieldId::from_raw($raw);)*
            /// Every field of this table, with its name.
            pub const ALL: &[(&str, FieldId)] = &[$((stringify!($name), $name)),*];
        }
    )*};
}

field_table! {
    sys, "platform (SYS) context" {
        /// NUM_PKGS.
        NUM_PKGS = 0x0000_0002_0000_0000;
        /// VENDOR_ID (4 bytes, 0x8086).
        VENDOR_ID = 0x0800_0002_0000_0000;
        /// BUILD_DATE (4 bytes, BCD yyyymmdd).
        BUILD_DATE = 0x8800_0002_0000_0001;
        /// BUILD_NUM (2 bytes).
        BUILD_NUM = 0x8800_0001_0000_0002;
        /// MINOR_VERSION (2 bytes).
        MINOR_VERSION = 0x0800_0001_0000_0003;
        /// MAJOR_VERSION (2 bytes).
        MAJOR_VERSION = 0x0800_0001_0000_0004;
        /// UPDATE_VERSION (2 bytes).
        UPDATE_VERSION = 0x0800_0001_0000_0005;
        /// SYS_ATTRIBUTES.
        SYS_ATTRIBUTES = 0x0A00_0002_0000_0000;
        /// NUM_TDX_FEATURES.
        NUM_TDX_FEATURES = 0x0A00_0000_0000_0001;
        /// TDX_FEATURES0 (8 bytes).
        TDX_FEATURES0 = 0x0A00_0003_0000_0008;
        /// NUM_CMRS.
        NUM_CMRS = 0x9000_0001_0000_0000;
        /// CMR_BASE.
        CMR_BASE = 0x9000_0003_0000_0080;
        /// CMR_SIZE.
        CMR_SIZE = 0x9000_0003_0000_0100;
        /// MAX_TDMRS.
        MAX_TDMRS = 0x9100_0001_0000_0008;
        /// MAX_RESERVED_PER_TDMR.
        MAX_RESERVED_PER_TDMR = 0x9100_0001_0000_0009;
        /// PAMT_4K_ENTRY_SIZE.
        PAMT_4K_ENTRY_SIZE = 0x9100_0001_0000_0010;
        /// PAMT_2M_ENTRY_SIZE.
        PAMT_2M_ENTRY_SIZE = 0x9100_0001_0000_0011;
        /// PAMT_1G_ENTRY_SIZE.
        PAMT_1G_ENTRY_SIZE = 0x9100_0001_0000_0012;
        /// TDR_BASE_SIZE (2 bytes).
        TDR_BASE_SIZE = 0x9800_0001_0000_0000;
        /// TDCS_BASE_SIZE (2 bytes).
        TDCS_BASE_SIZE = 0x9800_0001_0000_0100;
        /// TDVPS_BASE_SIZE (2 bytes).
        TDVPS_BASE_SIZE = 0x9800_0001_0000_0200;
        /// ATTRIBUTES_FIXED0 (8 bytes).
        ATTRIBUTES_FIXED0 = 0x1900_0003_0000_0000;
        /// ATTRIBUTES_FIXED1 (8 bytes).
        ATTRIBUTES_FIXED1 = 0x1900_0003_0000_0001;
        /// XFAM_FIXED0 (8 bytes).
        XFAM_FIXED0 = 0x1900_0003_0000_0002;
        /// XFAM_FIXED1 (8 bytes).
        XFAM_FIXED1 = 0x1900_0003_0000_0003;
        /// NUM_CPUID_CONFIG (2 bytes).
        NUM_CPUID_CONFIG = 0x9900_0001_0000_0004;
        /// CONFIG_FLAGS_FIXED0.
        CONFIG_FLAGS_FIXED0 = 0x9900_0003_0000_0006;
        /// CONFIG_FLAGS_FIXED1.
        CONFIG_FLAGS_FIXED1 = 0x9900_0003_0000_0007;
        /// CPUID_CONFIG_LEAVES (8 bytes per element: leaf, subleaf).
        CPUID_CONFIG_LEAVES = 0x9900_0003_0000_0400;
        /// CPUID_CONFIG_VALUES (two 8-byte elements per leaf: EBX:EAX, EDX:ECX).
        CPUID_CONFIG_VALUES = 0x9900_0003_0000_0500;
        /// MAX_SERV_TDS.
        MAX_SERV_TDS = 0xA100_0001_0000_0000;
    }
    td, "TD context (TDR and TDCS)" {
        /// NUM_TDCX.
        NUM_TDCX = 0x8010_0002_0000_0002;
        /// CHLDCNT.
        CHLDCNT = 0x8010_0003_0000_0004;
        /// LIFECYCLE_STATE.
        LIFECYCLE_STATE = 0x8010_0002_0000_0005;
        /// TD_UUID.
        TD_UUID = 0x8010_0003_0000_0020;
        /// HKID.
        HKID = 0x8110_0001_0000_0001;
        /// NUM_VCPUS.
        NUM_VCPUS = 0x9010_0002_0000_0001;
        /// NUM_ASSOC_VCPUS.
        NUM_ASSOC_VCPUS = 0x9010_0002_0000_0002;
        /// OP_STATE.
        OP_STATE = 0x9010_0002_0000_0004;
        /// NUM_L2_VMS.
        NUM_L2_VMS = 0x9010_0001_0000_0005;
        /// ATTRIBUTES.
        ATTRIBUTES = 0x1110_0003_0000_0000;
        /// XFAM.
        XFAM = 0x1110_0003_0000_0001;
        /// MAX_VCPUS.
        MAX_VCPUS = 0x1110_0002_0000_0002;
        /// GPAW.
        GPAW = 0x1110_0000_0000_0003;
        /// EPTP.
        EPTP = 0x1110_0003_0000_0004;
        /// TSC_FREQUENCY.
        TSC_FREQUENCY = 0x1110_0001_0000_000C;
        /// HP_LOCK_TIMEOUT.
        HP_LOCK_TIMEOUT = 0x9110_0003_0000_0011;
        /// CONFIG_FLAGS.
        CONFIG_FLAGS = 0x1110_0003_0000_0016;
        /// TD_CTLS.
        TD_CTLS = 0x1110_0003_0000_0017;
        /// TD_EPOCH.
        TD_EPOCH = 0x9210_0003_0000_0000;
        /// MRTD.
        MRTD = 0x1310_0003_0000_0000;
        /// MRCONFIGID.
        MRCONFIGID = 0x1310_0003_0000_0010;
        /// MROWNER.
        MROWNER = 0x1310_0003_0000_0018;
        /// MROWNERCONFIG.
        MROWNERCONFIG = 0x1310_0003_0000_0020;
        /// RTMR.
        RTMR = 0x1310_0003_0000_0040;
        /// CPUID_VALUES (class 20): the TD's virtualized CPUID; the field code encodes leaf, subleaf and register pair (tdx-module-abi 8.1).
        CPUID_VALUES = 0x9410_0003_0000_0000;
    }
    vp, "vCPU context (TDVPS and TD VMCS)" {
        /// Guest RAX, the first of the 16 GPR fields (RAX..R15 at consecutive field codes).
        GPRS = 0x1020_0003_0000_0000;
        /// VCPU_STATE.
        VCPU_STATE = 0xA020_0000_0000_0000;
        /// VCPU_INDEX.
        VCPU_INDEX = 0xA020_0002_0000_0002;
        /// NUM_TDVPS_PAGES.
        NUM_TDVPS_PAGES = 0xA020_0000_0000_0003;
        /// ASSOC_LPID.
        ASSOC_LPID = 0xA020_0002_0000_0004;
        /// CPUID_SUPERVISOR_VE.
        CPUID_SUPERVISOR_VE = 0xA020_0000_0000_0007;
        /// CPUID_USER_VE.
        CPUID_USER_VE = 0xA020_0000_0000_0008;
        /// PEND_NMI.
        PEND_NMI = 0x2020_0000_0000_000B;
        /// XFAM.
        XFAM = 0x2020_0003_0000_000C;
        /// TDVPS_PAGE_PA.
        TDVPS_PAGE_PA = 0xA020_0003_0000_0010;
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
