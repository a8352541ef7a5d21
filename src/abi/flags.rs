//! Bit-flag operands and metadata values: TD ATTRIBUTES, XFAM, CONFIG_FLAGS, TD_CTLS and
//! TDX_FEATURES0.
//!
//! Bit positions are from the TDX module 1.5.01 source (`tdx_api_defs.h`,
//! `td_control_structures.h`). Every type keeps unknown bits (`from_bits_retain`), so a
//! value read from a newer module round-trips unchanged.

use bitflags::bitflags;

bitflags! {
    /// TD ATTRIBUTES (TD_PARAMS offset 0, metadata field ATTRIBUTES): bits must respect
    /// ATTRIBUTES_FIXED0/FIXED1.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Attributes: u64 {
        /// Bit 0: debug TD (the host may read and write its memory and state).
        const DEBUG = 1 << 0;
        /// Bit 6: performance-monitoring profiling (2.0.18 header, **UNVERIFIED** which
        /// modules accept it).
        const PMT_PROF = 1 << 6;
        /// Bit 16: ICSSD (2.0.18 header).
        const ICSSD = 1 << 16;
        /// Bit 17: service-TD extensions (2.0.18 header).
        const SERVTDEXT = 1 << 17;
        /// Bit 27: LASS (2.0.18 header).
        const LASS = 1 << 27;
        /// Bit 28: a guest access to a PENDING page is a TD exit instead of a #VE.
        const SEPT_VE_DISABLE = 1 << 28;
        /// Bit 29: the TD may be migrated.
        const MIGRATABLE = 1 << 29;
        /// Bit 30: protection keys for supervisor pages.
        const PKS = 1 << 30;
        /// Bit 31: Key Locker.
        const KL = 1 << 31;
        /// Bit 63: the TD may use the performance-monitoring counters.
        const PERFMON = 1 << 63;
        /// Bit 62: TPA, TDX Connect trusted device assignment (2.0.18 header).
        const TPA = 1 << 62;
    }
}

bitflags! {
    /// Extended Features Available Mask (XFAM): the XCR0 / IA32_XSS components the TD may
    /// use, in XCR0/XSS bit positions. Module 1.5 allows the bits of XFAM_FIXED0
    /// (0x6DBE7) and requires those of XFAM_FIXED1 (0x3).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Xfam: u64 {
        /// Bit 0: x87.
        const X87 = 1 << 0;
        /// Bit 1: SSE.
        const SSE = 1 << 1;
        /// Bit 2: AVX (upper YMM halves).
        const AVX = 1 << 2;
        /// Bit 5: AVX-512 opmask registers.
        const AVX512_OPMASK = 1 << 5;
        /// Bit 6: AVX-512 upper ZMM halves of ZMM0-15.
        const AVX512_ZMM_HI256 = 1 << 6;
        /// Bit 7: AVX-512 ZMM16-31.
        const AVX512_HI16_ZMM = 1 << 7;
        /// Bit 8: processor trace (supervisor).
        const PT = 1 << 8;
        /// Bit 9: PKRU.
        const PKRU = 1 << 9;
        /// Bit 11: CET user state (supervisor).
        const CET_U = 1 << 11;
        /// Bit 12: CET supervisor state (supervisor).
        const CET_S = 1 << 12;
        /// Bit 14: user interrupts (supervisor).
        const ULI = 1 << 14;
        /// Bit 15: architectural LBRs (supervisor).
        const LBR = 1 << 15;
        /// Bit 17: AMX TILECFG.
        const AMX_TILECFG = 1 << 17;
        /// Bit 18: AMX TILEDATA.
        const AMX_TILEDATA = 1 << 18;
    }
}

impl Xfam {
    /// The user components (XCR0 part) of an XFAM value: mask 0x000602FF.
    pub const XCR0_MASK: u64 = 0x0006_02FF;
    /// The supervisor components (IA32_XSS part): mask 0x0001FD00.
    pub const XSS_MASK: u64 = 0x0001_FD00;
}

bitflags! {
    /// CONFIG_FLAGS (TD_PARAMS offset 32, metadata field CONFIG_FLAGS): non-measured
    /// TD-scope execution controls.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ConfigFlags: u64 {
        /// Bit 0: GPAW, the TD's guest-physical address width is 52 bits (else 48).
        const GPAW = 1 << 0;
        /// Bit 1: the guest may change how PENDING pages are handled (TD_CTLS).
        const FLEXIBLE_PENDING_VE = 1 << 1;
        /// Bit 2: TDG.VP.VMCALL and TDH.VP.ENTER do not modify RBP (needs
        /// [`TdxFeatures0::NO_RBP_MOD`]). Async TD exits in module 1.5.01/1.5.05 still zero
        /// RBP; 2.0.18 keeps it on async exits too when this bit is set (`td_exit.c`). The
        /// crate's thunks save and restore RBP either way.
        const NO_RBP_MOD = 1 << 2;
        /// Bit 3: virtual MAXPA (needs [`TdxFeatures0::MAXPA_VIRT`]; 2.0.18 header).
        const MAXPA_VIRT = 1 << 3;
        /// Bit 4: virtual MAXGPA (needs [`TdxFeatures0::MAXGPA_VIRT`]; 2.0.18 header).
        const MAXGPA_VIRT = 1 << 4;
        /// Bit 5: TDX Connect (2.0.18 header).
        const TDX_CONNECT = 1 << 5;
        /// Bit 6: TDG.MEM.PAGE.RELEASE (2.0.18 header comment; the leaf number is
        /// **UNVERIFIED**).
        const PAGE_RELEASE = 1 << 6;
        /// Bit 7: sealing, TDG.MR.KEY.GET (2.0.18 header).
        const SEALING = 1 << 7;
    }
}

bitflags! {
    /// TD_CTLS (metadata field TD_CTLS): TD-scope controls the guest may change.
    ///
    /// Module 1.5.01 defines only bit 0; later bits (topology enumeration, reduced #VE in
    /// 1.5.05) are kept as unknown bits here (**UNVERIFIED** positions).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct TdCtls: u64 {
        /// Bit 0: a guest access to a PENDING page is a TD exit instead of a #VE.
        const PENDING_VE_DISABLE = 1 << 0;
    }
}

bitflags! {
    /// TDX_FEATURES0 (global metadata field 0x0A00000300000008): the optional features the
    /// module supports.
    ///
    /// Bits 0-5, 7-11 and 16-20 are read from 1.5.01/1.5.05; every bit from 6 on that is
    /// not in 1.5 (and the new meaning of bit 21) is read from the 2.0.18 header
    /// (`intel/tdx-module` `e69a4391305e993a7c646eb5eee15f2c47a649c4`,
    /// `include/tdx_api_defs.h`, via `newer-abi.md` section 2.3); which 1.5.2x/1.5.3x or
    /// 2.0.08 modules report them was not read bit by bit (**UNVERIFIED**): read the field.
    ///
    /// Bit 21 changed meaning: 1.5.05 named it "reduced #VE" and always reported 0; 2.0.18
    /// uses it for partitioned-TD migration and puts #VE reduction at bit 30. The crate's
    /// former `REDUCED_VE = 1 << 21` followed the 1.5.05 placeholder and is gone.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct TdxFeatures0: u64 {
        /// Bit 0: TD migration.
        const TD_MIGRATION = 1 << 0;
        /// Bit 1: TD-preserving module update.
        const TD_PRESERVING = 1 << 1;
        /// Bit 2: service TDs.
        const SERVICE_TD = 1 << 2;
        /// Bit 3: TDG.VP.RD / TDG.VP.WR.
        const TDG_VP_RDWR = 1 << 3;
        /// Bit 4: relaxed memory-management concurrency.
        const RELAXED_MEM_MNG_CONCURRENCY = 1 << 4;
        /// Bit 5: CPUID virtualization guest control.
        const CPUID_VIRT_GUEST_CTRL = 1 << 5;
        /// Bit 6: TDX Connect (TDX-IO) (2.0.18).
        const TDX_IO = 1 << 6;
        /// Bit 7: TD partitioning (L2 VMs).
        const TD_PARTITIONING = 1 << 7;
        /// Bit 8: local attestation (TDG.MR.VERIFYREPORT).
        const LOCAL_ATTESTATION = 1 << 8;
        /// Bit 9: TD-entry enhancements.
        const TD_ENTRY_ENHANCEMENTS = 1 << 9;
        /// Bit 10: host-priority locks.
        const HOST_PRIORITY_LOCKS = 1 << 10;
        /// Bit 11: configurable IA32_ARCH_CAPABILITIES.
        const CONFIG_IA32_ARCH_CAP = 1 << 11;
        /// Bit 12: hardware sealing (2.0.18).
        const HW_SEALING = 1 << 12;
        /// Bit 16: pending-EPT-violation v2.
        const PENDING_EPT_VIOLATION_V2 = 1 << 16;
        /// Bit 17: family/model/stepping configuration.
        const FMS_CONFIG = 1 << 17;
        /// Bit 18: CONFIG_FLAGS.NO_RBP_MOD is supported.
        const NO_RBP_MOD = 1 << 18;
        /// Bit 19: L2 TLB invalidation optimization.
        const L2_TLB_INVD_OPT = 1 << 19;
        /// Bit 20: topology enumeration (module 1.5.05).
        const TOPOLOGY_ENUM = 1 << 20;
        /// Bit 21: partitioned-TD migration (2.0.18; 1.5.05 reported this bit as 0 under
        /// another name).
        const PARTITIONED_TD_MIGRATION = 1 << 21;
        /// Bit 24: event filtering (TDH.MNG.INIT RCX bit 0 and R8) (2.0.18).
        const EVENT_FILTERING = 1 << 24;
        /// Bit 25: ICSSD (2.0.18).
        const ICSSD = 1 << 25;
        /// Bit 26: fixed counters 1/2 profiling (2.0.18).
        const FIXED_CTR12_PROF = 1 << 26;
        /// Bit 27: virtual MAXPA (CONFIG_FLAGS.MAXPA_VIRT) (2.0.18).
        const MAXPA_VIRT = 1 << 27;
        /// Bit 28: APX (2.0.18 defines it, does not report it).
        const APX = 1 << 28;
        /// Bit 29: CPUID leaf 2 virtualization (2.0.18).
        const CPUID2_VIRT = 1 << 29;
        /// Bit 30: #VE reduction (2.0.18).
        const VE_REDUCTION = 1 << 30;
        /// Bit 31: enhanced event filtering (2.0.18 reports 0).
        const ENHANCED_EVENT_FILTERING = 1 << 31;
        /// Bit 32: TDX Connect partitioning (2.0.18, as TDX_IO).
        const TDX_CONNECT_PARTITIONING = 1 << 32;
        /// Bit 33: virtual MAXGPA (CONFIG_FLAGS.MAXGPA_VIRT) (2.0.18).
        const MAXGPA_VIRT = 1 << 33;
        /// Bit 36: Dynamic PAMT (TDH.PHYMEM.PAMT.ADD/REMOVE) (2.0.18).
        const DYNAMIC_PAMT = 1 << 36;
        /// Bit 37: fatal diagnostics (2.0.18).
        const FATAL_DIAGNOSTICS = 1 << 37;
        /// Bit 38: TDG.MEM.PAGE.RELEASE (2.0.18 defines it, does not report it).
        const PAGE_RELEASE = 1 << 38;
        /// Bit 39: NRX (2.0.18 defines it, does not report it).
        const NRX = 1 << 39;
        /// Bit 40: enhanced interrupt state (2.0.18).
        const ENHANCED_INTR_STATE = 1 << 40;
        /// Bit 41: non-blocking export (2.0.18 reports 0).
        const NON_BLOCKING_EXPORT = 1 << 41;
        /// Bit 42: performance-monitoring mask (2.0.18 defines it, does not report it).
        const PERF_MASK = 1 << 42;
        /// Bit 43: scan-export-restore (TDH.MEM.SCAN.*) (2.0.18).
        const SCAN_EXPORT_RESTORE = 1 << 43;
        /// Bit 44: import page status (2.0.18).
        const IMPORT_PAGE_STATUS = 1 << 44;
        /// Bit 45: enhanced interrupt virtualization (2.0.18 defines it, does not report it).
        const ENHANCED_INTR_VIRTUALIZATION = 1 << 45;
        /// Bit 46: interrupt state in #VE info (2.0.18).
        const VE_INFO_INTR_STATE = 1 << 46;
        /// Bit 47: update compatibility checks (2.0.18).
        const UPDATE_COMPATIBILITY = 1 << 47;
        /// Bit 48: service-TD rebind (2.0.18 defines it, does not report it).
        const SERVTD_REBIND = 1 << 48;
        /// Bit 49: TD ID / VM ID reporting (2.0.18).
        const TDID_VMID_REPORTING = 1 << 49;
        /// Bit 51: enhanced DEMOTE interruptibility (2.0.18).
        const ENHANCED_DEMOTE_INTERRUPTIBILITY = 1 << 51;
        /// Bit 52: migration of debug read-only TDs (2.0.18).
        const DEBUG_RO_TD_MIGRATION = 1 << 52;
        /// Bit 53: TDH.SYS.DISABLE (2.0.18 defines it, does not report it).
        const SYS_DISABLE = 1 << 53;
        /// Bit 54: list error count (2.0.18).
        const LIST_ERROR_COUNT = 1 << 54;
        /// Bit 56: 128-bit sealing keys (2.0.18, if supported).
        const SEALKEY_128 = 1 << 56;
        /// Bit 57: 256-bit sealing keys (2.0.18 defines it, does not report it).
        const SEALKEY_256 = 1 << 57;
    }
}

impl TdxFeatures0 {
    /// Whether the module supports CONFIG_FLAGS.NO_RBP_MOD, so a TD can be told that
    /// TDG.VP.VMCALL and TDH.VP.ENTER keep the VMM's and the guest's RBP.
    #[inline]
    pub const fn has_no_rbp_mod(self) -> bool {
        self.contains(TdxFeatures0::NO_RBP_MOD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_positions() {
        assert_eq!(Attributes::DEBUG.bits(), 1);
        assert_eq!(Attributes::SEPT_VE_DISABLE.bits(), 0x1000_0000);
        assert_eq!(Attributes::PERFMON.bits(), 0x8000_0000_0000_0000);
        assert_eq!(ConfigFlags::NO_RBP_MOD.bits(), 4);
        assert_eq!(TdxFeatures0::NO_RBP_MOD.bits(), 0x4_0000);
        // The module's XFAM_FIXED0 is exactly the named components.
        assert_eq!(Xfam::all().bits(), 0x6DBE7);
        assert_eq!(Xfam::all().bits() & !(Xfam::XCR0_MASK | Xfam::XSS_MASK), 0);
    }

    #[test]
    fn no_rbp_mod_check_and_unknown_bits_kept() {
        let features = TdxFeatures0::from_bits_retain(0x4_0000 | 1 << 40);
        assert!(features.has_no_rbp_mod());
        assert_eq!(features.bits(), 0x4_0000 | 1 << 40);
        assert!(!TdxFeatures0::from_bits_retain(0x3_FFFF).has_no_rbp_mod());
    }

    #[test]
    fn bit_21_is_partitioned_migration_and_ve_reduction_is_bit_30() {
        assert_eq!(TdxFeatures0::PARTITIONED_TD_MIGRATION.bits(), 1 << 21);
        assert_eq!(TdxFeatures0::VE_REDUCTION.bits(), 1 << 30);
        assert_eq!(TdxFeatures0::DYNAMIC_PAMT.bits(), 1 << 36);
        assert_eq!(TdxFeatures0::SEALKEY_256.bits(), 1 << 57);
    }
}
