//! What the software module says about itself: version, features, TD configurability.
//!
//! These are the model's values (a TDX 1.5.05 or 2.0.18 module, [`super::Config::module_version`],
//! on a one-package machine), served through the global metadata fields (TDH.SYS.RD/RDALL,
//! TDG.SYS.RD). They are plausible for a real platform but describe no particular CPU. The
//! version fields report the configured version; BUILD_NUM and BUILD_DATE are the model's
//! for both.

use crate::abi::{Attributes, ConfigFlags, TdxFeatures0, Xfam};

/// MAJOR_VERSION of the default (1.5.05) model; a 2.0.18 model reports 2.
pub const MAJOR_VERSION: u16 = 1;
/// MINOR_VERSION of the default (1.5.05) model; a 2.0.18 model reports 0.
pub const MINOR_VERSION: u16 = 5;
/// UPDATE_VERSION of the default (1.5.05) model; a 2.0.18 model reports 18.
pub const UPDATE_VERSION: u16 = 5;
/// BUILD_NUM.
pub const BUILD_NUM: u16 = 0x0300;
/// BUILD_DATE (yyyymmdd).
pub const BUILD_DATE: u32 = 2024_0222;
/// VENDOR_ID (Intel).
pub const VENDOR_ID: u32 = 0x8086;

/// TDX_FEATURES0 of the 1.5.05 model: it honours CONFIG_FLAGS.NO_RBP_MOD on TDVMCALL exits
/// and nothing optional else (no TD partitioning, TD-preserving update; migration and service
/// TDs are modelled but not reported here: UNVERIFIED which bits a module with them sets).
pub const TDX_FEATURES0: u64 = TdxFeatures0::NO_RBP_MOD.bits();

/// TDX_FEATURES0 the model reports as module `version`: only what it implements. 2.0.18
/// adds DYNAMIC_PAMT (bit 36; TDH.PHYMEM.PAMT.ADD/REMOVE, module/host/pamt.rs); the other
/// bits a real 2.0.18 reports (event filtering, migration, VE reduction, ...) are absent,
/// since the model does not implement them.
pub fn tdx_features0(version: crate::leaf::ModuleVersion) -> u64 {
    if version >= crate::leaf::ModuleVersion::V2_0_18 {
        TDX_FEATURES0 | TdxFeatures0::DYNAMIC_PAMT.bits()
    } else {
        TDX_FEATURES0
    }
}

/// PAMT_PAGE_BITMAP_ENTRY_BITS (2.0.18): bits of the Dynamic-PAMT page bitmap per 4 KiB
/// page of a TDMR (one: `pamt_4kb_bitmap_init` in `pamt_manager.c`, 1666adc4).
pub const PAMT_PAGE_BITMAP_ENTRY_BITS: u64 = 1;

/// ATTRIBUTES_FIXED0: the ATTRIBUTES bits a TD may set.
pub const ATTRIBUTES_FIXED0: u64 = Attributes::DEBUG.bits()
    | Attributes::SEPT_VE_DISABLE.bits()
    | Attributes::PKS.bits()
    | Attributes::KL.bits()
    | Attributes::PERFMON.bits()
    | Attributes::MIGRATABLE.bits();
/// ATTRIBUTES_FIXED1: the ATTRIBUTES bits a TD must set.
pub const ATTRIBUTES_FIXED1: u64 = 0;
/// XFAM_FIXED0 (module 1.5).
pub const XFAM_FIXED0: u64 = 0x0006_DBE7;
/// XFAM_FIXED1: x87 and SSE.
pub const XFAM_FIXED1: u64 = Xfam::X87.bits() | Xfam::SSE.bits();
/// CONFIG_FLAGS_FIXED0.
pub const CONFIG_FLAGS_FIXED0: u64 = ConfigFlags::GPAW.bits()
    | ConfigFlags::FLEXIBLE_PENDING_VE.bits()
    | ConfigFlags::NO_RBP_MOD.bits();
/// CONFIG_FLAGS_FIXED1.
pub const CONFIG_FLAGS_FIXED1: u64 = 0;

/// The lowest and highest virtual TSC frequency TD_PARAMS may ask for (units of 25 MHz).
pub const TSC_FREQUENCY_RANGE: (u16, u16) = (4, 400);

/// Number of TDCS pages a TD needs (TDH.MNG.ADDCX calls), and the maximum.
pub const TDCS_PAGES: usize = 6;
/// Number of TDVPS pages a vCPU needs, the TDVPR included (so TDH.VP.ADDCX runs 5 times).
pub const TDVPS_PAGES: usize = 6;
/// The maximum number of TDVPS pages (with L2 VMs; the model has none).
pub const MAX_TDVPS_PAGES: usize = 15;

/// PAMT entry size in bytes, for each of the three PAMT levels.
pub const PAMT_ENTRY_SIZE: u64 = 16;

/// The CPUID the model's platform offers: [`crate::cpuid::SYNTHETIC_PLATFORM`], through the
/// version selected by [`super::Config::cpuid_version`] (module/cpuid.rs).
pub use crate::cpuid::SYNTHETIC_PLATFORM as NATIVE_CPUID;
