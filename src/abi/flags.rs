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
        /// RBP.
        const NO_RBP_MOD = 1 << 2;
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
        /// Bit 21: reduced #VE (module 1.5.05).
        const REDUCED_VE = 1 << 21;
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
}
