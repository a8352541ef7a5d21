//! THE status-code table: every completion code the TDX module (1.0.3, 1.5.01, 1.5.05,
//! 1.5.06, 1.5.28, 1.5.32, 2.0.08, 2.0.18) can return, and the crate's software codes,
//! declared once.
//!
//! Sources: `tdx_error_codes_defs.h` of TDX module 1.5.01 (which 1.5.05 extends by one code)
//! and 1.0.3, and the Linux software codes (`arch/x86/include/asm/tdx.h`). Newer versions,
//! from `intel/tdx-module` at the commits below; `tests/data/status-codes.txt` transcribes
//! them and `tests/versions.rs` checks every release of this table against it:
//!
//! | version | commit | path |
//! |---|---|---|
//! | 1.5.06 | `1e6369859b4397be0e06ff3171b11508c7ecd8c0` | `include/auto_gen/tdx_error_codes_defs.h` |
//! | 1.5.28 | `30d2218864368abb601d198a7a237e0db5595353` | `include/auto_gen_1_5/tdx_error_codes_defs.h` |
//! | 1.5.32 | `9fd3c8b1d52ba3092f7d99d9eb036644f9765a79` | `include/auto_gen_1_5/tdx_error_codes_defs.h` |
//! | 2.0.08 | `1666adc494dbea5db99895f37125a338c20bec5a` | `include/auto_gen_2_0/tdx_error_codes_defs.h` |
//! | 2.0.18 | `e69a4391305e993a7c646eb5eee15f2c47a649c4` | `include/auto_gen_2_0/tdx_error_codes_defs.h` |
//!
//! Codes added after 1.5.05 carry [`DetailsKind::NotRead`]: their uses in the module source
//! were not audited for what bits 31:0 hold.
//!
//! 2.0.08 names four TDX Connect codes differently from 2.0.18 (`TDX_IOMMU_IQ_QUEUE_FULL`,
//! an error, where 2.0.18 has `TDX_IOMMU_IQ_FULL`, a retryable status, and a different value;
//! `TDX_IOMMU_IOTLB_TRACKING_NOT_REQUIRED` as an error where 2.0.18 makes it a warning;
//! the spellings `TDX_SDPM_INVALID_MESSAGE` and `TDX_SMRR_OVERLAPS_IORANGE`). Each is its own
//! row, in 2.0.08 only.
//! What bits 31:0 carry for each code (the [`DetailsKind`] column) was read from the module
//! source's calls that combine a code with an operand ID or other data.
//!
//! Module codes match on bits 63:32 (the code); bits 31:0 are details. Software codes match on
//! all 64 bits, because SEAMCALL #UD, #GP and VMfailInvalid share bits 63:32.
//!
//! # Codes whose value changed between releases
//!
//! 1.0.3 gave `TDX_NON_RECOVERABLE_TD`, `TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE` and
//! `TDX_TD_FATAL` other values than 1.5 (1.5 added the fatal bit 61), and 1.0.3's
//! `TDX_BOOT_NT4_SET` has the value 1.5 gives `TDX_LIMIT_CPUID_MAXVAL_SET`. Each such 1.0.3
//! code is its own row and variant, suffixed `V103`, with the 1.0.3 spec name. Every row
//! says which audited releases return it ([`Releases`]); within one release names and
//! values are unique. Lookups without a release prefer the newest release, so
//! `0xC000090100000000` reads as `TDX_LIMIT_CPUID_MAXVAL_SET` unless you ask for 1.0.3, and
//! `0x4000000200000000` (which no 1.5 code uses) still reads as 1.0.3's
//! `TDX_NON_RECOVERABLE_TD`.

use super::table::code_table;
use super::Status;
use crate::version::ModuleVersion;

/// A TDX module release whose code list this table was checked against.
///
/// One variant per version whose `tdx_error_codes_defs.h` was read (see the module docs for
/// the commits). Versions between them were not read and are never claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Release {
    /// TDX module 1.0.3.
    V1_0_3,
    /// TDX module 1.5.01.
    V1_5_01,
    /// TDX module 1.5.05: 1.5.01 plus `TDX_X2APIC_ID_NOT_UNIQUE`.
    V1_5_05,
    /// TDX module 1.5.06: 1.5.05 plus `TDX_INTERRUPTIBILITY_BLOCKED`.
    V1_5_06,
    /// TDX module 1.5.28: Dynamic PAMT, event filtering, TD-preserving update checks.
    V1_5_28,
    /// TDX module 1.5.32: memory scan, sealing key, service-TD nesting checks.
    V1_5_32,
    /// TDX module 2.0.08: TDX Connect (class 0x0F) with some names 2.0.18 changed.
    V2_0_08,
    /// TDX module 2.0.18: every code of 1.5.32 and of TDX Connect.
    V2_0_18,
}

impl Release {
    /// Every audited release, newest first: the order lookups without a release use.
    pub const NEWEST_FIRST: [Release; 8] = [
        Release::V2_0_18,
        Release::V2_0_08,
        Release::V1_5_32,
        Release::V1_5_28,
        Release::V1_5_06,
        Release::V1_5_05,
        Release::V1_5_01,
        Release::V1_0_3,
    ];

    /// The module version this release is.
    pub const fn version(self) -> ModuleVersion {
        match self {
            Release::V1_0_3 => ModuleVersion::V1_0,
            Release::V1_5_01 => ModuleVersion::V1_5,
            Release::V1_5_05 => ModuleVersion::V1_5_05,
            Release::V1_5_06 => ModuleVersion::V1_5_06,
            Release::V1_5_28 => ModuleVersion::V1_5_28,
            Release::V1_5_32 => ModuleVersion::V1_5_32,
            Release::V2_0_08 => ModuleVersion::V2_0_08,
            Release::V2_0_18 => ModuleVersion::V2_0_18,
        }
    }

    /// The release that is exactly `version`, if its code list was read.
    pub fn exact(version: ModuleVersion) -> Option<Release> {
        Release::NEWEST_FIRST
            .into_iter()
            .find(|release| release.version() == version)
    }

    /// The audited release whose code list best matches `version`
    /// ([`ModuleVersion::nearest_read`]). For a version that was not read this is a guess;
    /// [`Release::exact`] says whether it is one.
    pub const fn for_version(version: ModuleVersion) -> Release {
        let read = version.nearest_read();
        let mut i = 0;
        while i < Release::NEWEST_FIRST.len() {
            let release = Release::NEWEST_FIRST[i];
            let v = release.version();
            if v.major == read.major && v.minor == read.minor && v.update == read.update {
                return release;
            }
            i += 1;
        }
        Release::V2_0_18
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl core::fmt::Display for Release {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.version(), f)
    }
}

/// A set of [`Release`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Releases(u8);

impl Releases {
    /// Every audited release: 1.0.3 up to 2.0.18.
    pub const ALL: Releases = Releases(0xFF);
    /// 1.5.01 and every later audited release.
    pub const V1_5: Releases = Releases(0xFE);
    /// 1.5.05 and every later audited release.
    pub const V1_5_05: Releases = Releases(0xFC);
    /// 1.0.3 only.
    pub const V1_0_3: Releases = Releases(0b001);

    /// The set of `releases`.
    pub const fn of(releases: &[Release]) -> Releases {
        let mut bits = 0;
        let mut i = 0;
        while i < releases.len() {
            bits |= releases[i].bit();
            i += 1;
        }
        Releases(bits)
    }

    /// Whether `release` is in the set.
    #[inline]
    pub const fn contains(self, release: Release) -> bool {
        self.0 & release.bit() != 0
    }

    /// The oldest release in the set (by version), if any.
    pub fn first(self) -> Option<Release> {
        Release::NEWEST_FIRST
            .iter()
            .rev()
            .copied()
            .find(|release| self.contains(*release))
    }
}

/// Who produces a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The TDX module, in these releases. Matched on bits 63:32.
    Module(Releases),
    /// This crate's thunks (and Linux, for the SEAMCALL ones), for a fault or VMfailInvalid:
    /// error bit and class 0xFF, which the module never uses. Matched on all 64 bits.
    Software,
}

/// What bits 31:0 (details L2) carry with a code. See [`Details`](super::Details) for the
/// decoded value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DetailsKind {
    /// Nothing; the module leaves them zero.
    None,
    /// Bits 31:0 are part of the code itself (software codes).
    PartOfCode,
    /// An [`Operand`](super::Operand) ID: the register, TD_PARAMS field or structure at fault.
    Operand,
    /// `TDX_SUCCESS`: the VM-exit reason after TDH.VP.ENTER (or TDG.VP.ENTER), the number of
    /// list entries with a problem after TDH.EXPORT.MEM, TDH.IMPORT.MEM, TDH.EXPORT.RESTORE
    /// and TDH.EXPORT.BLOCKW; zero otherwise.
    SuccessInfo,
    /// The 32-bit VM-exit reason of the TD exit.
    ExitReason,
    /// A Secure-EPT level (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB).
    SeptLevel,
    /// `(vm_id << 16) | level`: the L2 VM whose Secure EPT failed, and the level.
    L2SeptLevel,
    /// An MSR index.
    MsrIndex,
    /// A CPUID leaf (0 when the leaf-0x1F topology scan itself failed).
    CpuidLeaf,
    /// The x2APIC ID two vCPUs share.
    X2apicId,
    /// The service-TD binding slot.
    ServtdSlot,
    /// The SMRR index.
    SmrrIndex,
    /// Bits 7:0 the SMRR index, bits 15:8 the CMR index it overlaps.
    SmrrCmr,
    /// Bits 7:0 the TDMR index.
    Tdmr,
    /// Bits 7:0 the TDMR index, bits 15:8 the PAMT page size (0 = 4K, 1 = 2M, 2 = 1G).
    TdmrPamt,
    /// Bits 7:0 a TDMR index, 15:8 its PAMT page size, 23:16 the TDMR index it overlaps.
    PamtOverlap,
    /// Bits 7:0 the TDMR index, bits 15:8 the reserved-area index.
    TdmrReserved,
    /// The package ID.
    PackageId,
    /// The module's limit on activated HKIDs.
    HkidLimit,
    /// The TD-VMCS field encoding.
    VmcsField,
    /// Metadata lists: bits 31:16 = 0xFFFF mark a list, bits 15:0 the failing element.
    MetadataList,
    /// Not read: the module source's uses of this code (new after 1.5.05) were not audited
    /// for what they put in bits 31:0, so any non-zero bits are shown raw.
    NotRead,
}

const ALL: (Origin, DetailsKind) = (Origin::Module(Releases::ALL), DetailsKind::None);
const V15: (Origin, DetailsKind) = (Origin::Module(Releases::V1_5), DetailsKind::None);
const V103: (Origin, DetailsKind) = (Origin::Module(Releases::V1_0_3), DetailsKind::None);

const fn all(details: DetailsKind) -> (Origin, DetailsKind) {
    (Origin::Module(Releases::ALL), details)
}
const fn v15(details: DetailsKind) -> (Origin, DetailsKind) {
    (Origin::Module(Releases::V1_5), details)
}
const fn v1505(details: DetailsKind) -> (Origin, DetailsKind) {
    (Origin::Module(Releases::V1_5_05), details)
}
const fn m(releases: &[Release], details: DetailsKind) -> (Origin, DetailsKind) {
    (Origin::Module(Releases::of(releases)), details)
}
const R1506: Release = Release::V1_5_06;
const R1528: Release = Release::V1_5_28;
const R1532: Release = Release::V1_5_32;
const R2008: Release = Release::V2_0_08;
const R2018: Release = Release::V2_0_18;
const fn v103(details: DetailsKind) -> (Origin, DetailsKind) {
    (Origin::Module(Releases::V1_0_3), details)
}
const SW: (Origin, DetailsKind) = (Origin::Software, DetailsKind::PartOfCode);

use DetailsKind::{
    CpuidLeaf, ExitReason, HkidLimit, L2SeptLevel, MetadataList, MsrIndex, NotRead, Operand,
    PackageId, PamtOverlap, SeptLevel, ServtdSlot, SmrrCmr, SmrrIndex, SuccessInfo, Tdmr, TdmrPamt,
    TdmrReserved, VmcsField, X2apicId,
};

code_table! {
    /// A named TDX status: every module completion code of 1.0.3, 1.5.01 and 1.5.05, and the
    /// crate's software codes. Generated from the one table in `src/status/codes.rs`.
    ///
    /// Get one from a [`Status`] with [`Status::named`]; an unknown code has no variant (and
    /// no sentinel), and the [`Status`] keeps every bit of it.
    pub enum StatusCode, rows STATUS_ROWS: (Origin, DetailsKind) {
        // Class 0x00: general and TD exit.
        Success = "TDX_SUCCESS", 0x0000_0000_0000_0000, all(SuccessInfo),
            "The operation completed.";
        NonRecoverableVcpu = "TDX_NON_RECOVERABLE_VCPU", 0x4000_0001_0000_0000, all(ExitReason),
            "The TD exited and this vCPU can never be entered again (e.g. after a triple fault); the rest of the TD may still run.";
        NonRecoverableTd = "TDX_NON_RECOVERABLE_TD", 0x6000_0002_0000_0000, v15(ExitReason),
            "The TD exited into a fatal state: none of its vCPUs can be entered again, it can only be torn down.";
        InterruptedResumable = "TDX_INTERRUPTED_RESUMABLE", 0x8000_0003_0000_0000, ALL,
            "An interrupt stopped a long operation with its progress kept; call the leaf again (in resume mode where it has one) to continue.";
        InterruptedRestartable = "TDX_INTERRUPTED_RESTARTABLE", 0x8000_0004_0000_0000, ALL,
            "An interrupt stopped the operation before it took effect; call the leaf again from the start.";
        NonRecoverableTdNonAccessible = "TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE", 0x6000_0005_0000_0000, v15(ExitReason),
            "The TD exited into a fatal state after a machine check; its memory must not be accessed any more.";
        InvalidResumption = "TDX_INVALID_RESUMPTION", 0xC000_0006_0000_0000, ALL,
            "The resume request does not match an interrupted operation of this leaf with the same inputs.";
        NonRecoverableTdWrongApicMode = "TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE", 0xE000_0007_0000_0000, v15(ExitReason),
            "The TD exited into a fatal state: its local APIC is not in x2APIC mode, which the module needs to step the TD safely.";
        CrossTdFault = "TDX_CROSS_TD_FAULT", 0x8000_0008_0000_0000, V15,
            "A service-TD access to another TD faulted; the TD exited so the host can act.";
        CrossTdTrap = "TDX_CROSS_TD_TRAP", 0x9000_0009_0000_0000, V15,
            "A service-TD access to another TD failed after it completed; the TD exited so the host can act.";
        NonRecoverableTdCorruptedMd = "TDX_NON_RECOVERABLE_TD_CORRUPTED_MD", 0x6000_000A_0000_0000, v15(ExitReason),
            "The TD exited into a fatal state because the module found its metadata corrupted.";

        // Class 0x01: operands.
        OperandInvalid = "TDX_OPERAND_INVALID", 0xC000_0100_0000_0000, all(Operand),
            "An operand is invalid: a reserved bit is set, a value is out of range, or the leaf (or its version) is unknown.";
        OperandAddrRangeError = "TDX_OPERAND_ADDR_RANGE_ERROR", 0xC000_0101_0000_0000, all(Operand),
            "A physical address operand lies outside the range the module accepts (e.g. not in a TDMR, or with HKID bits set).";

        // Class 0x02: busy and resources.
        OperandBusy = "TDX_OPERAND_BUSY", 0x8000_0200_0000_0000, all(Operand),
            "Another call holds a lock on the operand; retrying later can succeed.";
        PreviousTlbEpochBusy = "TDX_PREVIOUS_TLB_EPOCH_BUSY", 0x8000_0201_0000_0000, ALL,
            "vCPUs that entered in the previous TLB epoch are still running; make them exit before TDH.MEM.TRACK can advance.";
        SysBusy = "TDX_SYS_BUSY", 0x8000_0202_0000_0000, ALL,
            "Another platform-scope call is running; retry.";
        RndNoEntropy = "TDX_RND_NO_ENTROPY", 0x8000_0203_0000_0000, V15,
            "The CPU's random-number generator had no entropy; retry (Linux makes up to 10 attempts).";
        OperandBusyHostPriority = "TDX_OPERAND_BUSY_HOST_PRIORITY", 0x8000_0204_0000_0000, v15(Operand),
            "The operand is locked by the TD; the host now has priority, so retrying will succeed once the TD releases it.";
        HostPriorityBusyTimeout = "TDX_HOST_PRIORITY_BUSY_TIMEOUT", 0x9000_0205_0000_0000, V15,
            "The TD waited longer than its host-priority lock timeout; it exited so the host can finish its operation.";

        // Class 0x03: page metadata (PAMT).
        PageMetadataIncorrect = "TDX_PAGE_METADATA_INCORRECT", 0xC000_0300_0000_0000, all(Operand),
            "The page's PAMT entry (owner, type or size) is not what the operation needs.";
        PageAlreadyFree = "TDX_PAGE_ALREADY_FREE", 0x0000_0301_0000_0000, ALL,
            "Not an error: the page is already free.";
        PageNotOwnedByTd = "TDX_PAGE_NOT_OWNED_BY_TD", 0xC000_0302_0000_0000, ALL,
            "The page does not belong to this TD.";
        PageNotFree = "TDX_PAGE_NOT_FREE", 0xC000_0303_0000_0000, ALL,
            "The page is in use; the operation needs a free page.";

        // Class 0x04: TD pages.
        TdAssociatedPagesExist = "TDX_TD_ASSOCIATED_PAGES_EXIST", 0xC000_0400_0000_0000, ALL,
            "Pages still belong to the TD; reclaim them before reclaiming the TDR.";

        // Class 0x05: system state.
        SysInitNotPending = "TDX_SYS_INIT_NOT_PENDING", 0xC000_0500_0000_0000, ALL,
            "TDH.SYS.INIT already ran (or may not run now).";
        SysLpInitNotDone = "TDX_SYS_LP_INIT_NOT_DONE", 0xC000_0502_0000_0000, ALL,
            "TDH.SYS.LP.INIT has not run on this logical processor yet.";
        SysLpInitDone = "TDX_SYS_LP_INIT_DONE", 0xC000_0503_0000_0000, ALL,
            "TDH.SYS.LP.INIT already ran on this logical processor.";
        SysNotReady = "TDX_SYS_NOT_READY", 0xC000_0505_0000_0000, ALL,
            "The module is not initialized yet; only the TDH.SYS.* setup leaves run.";
        SysShutdown = "TDX_SYS_SHUTDOWN", 0xC000_0506_0000_0000, ALL,
            "The module is shut down; only TDH.SYS.LP.SHUTDOWN runs.";
        SysKeyConfigNotPending = "TDX_SYS_KEY_CONFIG_NOT_PENDING", 0xC000_0507_0000_0000, ALL,
            "The global private key is already configured on this package, or may not be configured now.";
        SysStateIncorrect = "TDX_SYS_STATE_INCORRECT", 0xC000_0508_0000_0000, V15,
            "The module's platform state does not allow this leaf now.";
        SysInvalidHandoff = "TDX_SYS_INVALID_HANDOFF", 0xC000_0509_0000_0000, V15,
            "The handoff data from the previous module (TD-preserving update) is invalid.";
        SysIncompatibleSigstruct = "TDX_SYS_INCOMPATIBLE_SIGSTRUCT", 0xC000_050A_0000_0000, V15,
            "The new module's SIGSTRUCT is incompatible with a TD-preserving update.";
        SysLpInitNotPending = "TDX_SYS_LP_INIT_NOT_PENDING", 0xC000_050B_0000_0000, ALL,
            "Per-processor initialization may not run now.";
        SysConfigNotPending = "TDX_SYS_CONFIG_NOT_PENDING", 0xC000_050C_0000_0000, ALL,
            "TDH.SYS.CONFIG already ran, or may not run now.";
        IncompatibleSeamCapabilities = "TDX_INCOMPATIBLE_SEAM_CAPABILITIES", 0xC000_050D_0000_0000, V15,
            "The SEAM loader's capabilities are incompatible with this module.";

        // Class 0x06: TD state.
        TdFatal = "TDX_TD_FATAL", 0xE000_0604_0000_0000, V15,
            "The TD is in a fatal state; only teardown leaves work on it.";
        TdNonDebug = "TDX_TD_NON_DEBUG", 0xC000_0605_0000_0000, ALL,
            "The operation needs a debuggable TD (ATTRIBUTES.DEBUG).";
        TdcsNotAllocated = "TDX_TDCS_NOT_ALLOCATED", 0xC000_0606_0000_0000, V15,
            "The TD's TDCS pages are not all added yet (TDH.MNG.ADDCX).";
        LifecycleStateIncorrect = "TDX_LIFECYCLE_STATE_INCORRECT", 0xC000_0607_0000_0000, ALL,
            "The TD's life-cycle state (keys configured, blocked, torn down) does not allow this leaf.";
        OpStateIncorrect = "TDX_OP_STATE_INCORRECT", 0xC000_0608_0000_0000, V15,
            "The TD's operation state (uninitialized, initialized, runnable, migrating, ...) does not allow this leaf.";
        NoVcpus = "TDX_NO_VCPUS", 0xC000_0609_0000_0000, V15,
            "The TD has no vCPUs.";
        TdcxNumIncorrect = "TDX_TDCX_NUM_INCORRECT", 0xC000_0610_0000_0000, ALL,
            "The number of TDCS/TDVPS pages added so far is wrong for this operation.";
        X2apicIdNotUnique = "TDX_X2APIC_ID_NOT_UNIQUE", 0xC000_0621_0000_0000, v1505(X2apicId),
            "Two vCPUs of the TD have the same x2APIC ID.";

        // Class 0x07: vCPU state.
        VcpuStateIncorrect = "TDX_VCPU_STATE_INCORRECT", 0xC000_0700_0000_0000, ALL,
            "The vCPU's state does not allow this leaf (e.g. not initialized, or disabled).";
        VcpuAssociated = "TDX_VCPU_ASSOCIATED", 0x8000_0701_0000_0000, ALL,
            "The vCPU is associated with another logical processor; flush it there first (TDH.VP.FLUSH).";
        VcpuNotAssociated = "TDX_VCPU_NOT_ASSOCIATED", 0x8000_0702_0000_0000, ALL,
            "The vCPU is not associated with this logical processor.";
        NoValidVeInfo = "TDX_NO_VALID_VE_INFO", 0xC000_0704_0000_0000, ALL,
            "There is no valid #VE information to return.";
        MaxVcpusExceeded = "TDX_MAX_VCPUS_EXCEEDED", 0xC000_0705_0000_0000, ALL,
            "The TD already has its maximum number of vCPUs.";
        TscRollback = "TDX_TSC_ROLLBACK", 0xC000_0706_0000_0000, ALL,
            "The TSC on this logical processor is behind the TD's last TSC value.";
        TdVmcsFieldNotInitialized = "TDX_TD_VMCS_FIELD_NOT_INITIALIZED", 0xC000_0730_0000_0000, all(VmcsField),
            "A TD-VMCS field the operation needs has not been written yet.";
        TdVmcsFieldError = "TD_VMCS_FIELD_ERROR", 0xC000_0731_0000_0000, V15,
            "A TD-VMCS field holds a value the operation cannot use.";

        // Class 0x08: keys and cache.
        KeyGenerationFailed = "TDX_KEY_GENERATION_FAILED", 0x8000_0800_0000_0000, ALL,
            "The memory-encryption engine could not generate a key (no entropy); retry.";
        TdKeysNotConfigured = "TDX_TD_KEYS_NOT_CONFIGURED", 0x8000_0810_0000_0000, ALL,
            "The TD's key is not configured on every package yet (TDH.MNG.KEY.CONFIG).";
        KeyStateIncorrect = "TDX_KEY_STATE_INCORRECT", 0xC000_0811_0000_0000, ALL,
            "The TD's key state does not allow this leaf.";
        KeyConfigured = "TDX_KEY_CONFIGURED", 0x0000_0815_0000_0000, ALL,
            "Not an error: the key is already configured on this package.";
        WbcacheNotComplete = "TDX_WBCACHE_NOT_COMPLETE", 0x8000_0817_0000_0000, ALL,
            "The cache write-back (TDH.PHYMEM.CACHE.WB) has not completed on every package.";
        HkidNotFree = "TDX_HKID_NOT_FREE", 0xC000_0820_0000_0000, ALL,
            "The HKID is still in use.";
        NoHkidReadyToWbcache = "TDX_NO_HKID_READY_TO_WBCACHE", 0x0000_0821_0000_0000, ALL,
            "Not an error: no HKID is waiting for a cache write-back, so there was nothing to do.";
        WbcacheResumeError = "TDX_WBCACHE_RESUME_ERROR", 0xC000_0823_0000_0000, ALL,
            "A resumed cache write-back does not match the interrupted one.";
        FlushvpNotDone = "TDX_FLUSHVP_NOT_DONE", 0x8000_0824_0000_0000, ALL,
            "Not every vCPU of the TD has been flushed (TDH.VP.FLUSH) yet.";
        NumActivatedHkidsNotSupported = "TDX_NUM_ACTIVATED_HKIDS_NOT_SUPPORTED", 0xC000_0825_0000_0000, all(HkidLimit),
            "The platform activates more private HKIDs than the module supports.";

        // Class 0x09: platform CPUID, MSRs, SMRR and SEAM services.
        IncorrectCpuidValue = "TDX_INCORRECT_CPUID_VALUE", 0xC000_0900_0000_0000, ALL,
            "A CPUID value of the platform is not what the module requires.";
        LimitCpuidMaxvalSet = "TDX_LIMIT_CPUID_MAXVAL_SET", 0xC000_0901_0000_0000, V15,
            "IA32_MISC_ENABLE.LIMIT_CPUID_MAXVAL is set; the module needs it clear.";
        InconsistentCpuidField = "TDX_INCONSISTENT_CPUID_FIELD", 0xC000_0902_0000_0000, ALL,
            "A CPUID field differs between logical processors.";
        CpuidMaxSubleavesUnrecognized = "TDX_CPUID_MAX_SUBLEAVES_UNRECOGNIZED", 0xC000_0903_0000_0000, ALL,
            "The platform reports a number of CPUID sub-leaves the module does not recognize.";
        CpuidLeaf1fFormatUnrecognized = "TDX_CPUID_LEAF_1F_FORMAT_UNRECOGNIZED", 0xC000_0904_0000_0000, ALL,
            "CPUID leaf 0x1F (topology) has a format the module does not recognize.";
        InvalidWbinvdScope = "TDX_INVALID_WBINVD_SCOPE", 0xC000_0905_0000_0000, ALL,
            "The platform's WBINVD scope is not what the module supports.";
        InvalidPkgId = "TDX_INVALID_PKG_ID", 0xC000_0906_0000_0000, all(PackageId),
            "The package ID of this logical processor is out of the range the module supports.";
        EnableMonitorFsmNotSet = "TDX_ENABLE_MONITOR_FSM_NOT_SET", 0xC000_0907_0000_0000, V15,
            "IA32_MISC_ENABLE.ENABLE_MONITOR_FSM is clear; the module needs it set.";
        CpuidLeafNotSupported = "TDX_CPUID_LEAF_NOT_SUPPORTED", 0xC000_0908_0000_0000, all(CpuidLeaf),
            "The platform does not support a CPUID leaf the module needs.";
        SmrrNotLocked = "TDX_SMRR_NOT_LOCKED", 0xC000_0910_0000_0000, all(SmrrIndex),
            "An SMRR is not locked.";
        InvalidSmrrConfiguration = "TDX_INVALID_SMRR_CONFIGURATION", 0xC000_0911_0000_0000, all(SmrrIndex),
            "An SMRR is configured in a way the module does not accept.";
        SmrrOverlapsCmr = "TDX_SMRR_OVERLAPS_CMR", 0xC000_0912_0000_0000, all(SmrrCmr),
            "An SMRR overlaps a convertible memory range.";
        SmrrLockNotSupported = "TDX_SMRR_LOCK_NOT_SUPPORTED", 0xC000_0913_0000_0000, ALL,
            "The platform cannot lock its SMRRs.";
        SmrrNotSupported = "TDX_SMRR_NOT_SUPPORTED", 0xC000_0914_0000_0000, ALL,
            "The platform has no SMRR support.";
        InconsistentMsr = "TDX_INCONSISTENT_MSR", 0xC000_0920_0000_0000, all(MsrIndex),
            "An MSR differs between logical processors.";
        IncorrectMsrValue = "TDX_INCORRECT_MSR_VALUE", 0xC000_0921_0000_0000, all(MsrIndex),
            "An MSR does not hold the value the module requires.";
        SeamreportNotAvailable = "TDX_SEAMREPORT_NOT_AVAILABLE", 0xC000_0930_0000_0000, ALL,
            "The SEAMREPORT instruction is not available.";
        SeamdbGetrefNotAvailable = "TDX_SEAMDB_GETREF_NOT_AVAILABLE", 0xC000_0931_0000_0000, V15,
            "The SEAMDBGETREF instruction is not available.";
        SeamdbReportNotAvailable = "TDX_SEAMDB_REPORT_NOT_AVAILABLE", 0xC000_0932_0000_0000, V15,
            "The SEAMDBREPORT instruction is not available.";
        SeamverifyreportNotAvailable = "TDX_SEAMVERIFYREPORT_NOT_AVAILABLE", 0xC000_0933_0000_0000, V15,
            "The SEAMVERIFYREPORT instruction is not available.";

        // Class 0x0A: TDMRs and PAMTs.
        InvalidTdmr = "TDX_INVALID_TDMR", 0xC000_0A00_0000_0000, all(Tdmr),
            "A TDMR's base or size is invalid.";
        NonOrderedTdmr = "TDX_NON_ORDERED_TDMR", 0xC000_0A01_0000_0000, all(Tdmr),
            "The TDMRs are not sorted by address, or overlap.";
        TdmrOutsideCmrs = "TDX_TDMR_OUTSIDE_CMRS", 0xC000_0A02_0000_0000, all(Tdmr),
            "A TDMR covers memory outside the convertible memory ranges.";
        TdmrAlreadyInitialized = "TDX_TDMR_ALREADY_INITIALIZED", 0x0000_0A03_0000_0000, ALL,
            "Not an error: the TDMR is already fully initialized.";
        InvalidPamt = "TDX_INVALID_PAMT", 0xC000_0A10_0000_0000, all(TdmrPamt),
            "A PAMT's base or size is invalid.";
        PamtOutsideCmrs = "TDX_PAMT_OUTSIDE_CMRS", 0xC000_0A11_0000_0000, all(TdmrPamt),
            "A PAMT lies outside the convertible memory ranges.";
        PamtOverlap = "TDX_PAMT_OVERLAP", 0xC000_0A12_0000_0000, all(PamtOverlap),
            "A PAMT overlaps another PAMT or a TDMR's usable memory.";
        InvalidReservedInTdmr = "TDX_INVALID_RESERVED_IN_TDMR", 0xC000_0A20_0000_0000, all(TdmrReserved),
            "A reserved area of a TDMR is invalid.";
        NonOrderedReservedInTdmr = "TDX_NON_ORDERED_RESERVED_IN_TDMR", 0xC000_0A21_0000_0000, all(TdmrReserved),
            "A TDMR's reserved areas are not sorted, or overlap.";
        CmrListInvalid = "TDX_CMR_LIST_INVALID", 0xC000_0A22_0000_0000, ALL,
            "The convertible memory range list from the BIOS is invalid.";

        // Class 0x0B: Secure EPT.
        EptWalkFailed = "TDX_EPT_WALK_FAILED", 0xC000_0B00_0000_0000, all(Operand),
            "The Secure-EPT walk for the GPA stopped before the requested level.";
        EptEntryFree = "TDX_EPT_ENTRY_FREE", 0xC000_0B01_0000_0000, all(Operand),
            "The Secure-EPT entry is free.";
        EptEntryNotFree = "TDX_EPT_ENTRY_NOT_FREE", 0xC000_0B02_0000_0000, all(Operand),
            "The Secure-EPT entry is in use.";
        EptEntryNotPresent = "TDX_EPT_ENTRY_NOT_PRESENT", 0xC000_0B03_0000_0000, all(Operand),
            "The Secure-EPT entry is not present.";
        EptEntryNotLeaf = "TDX_EPT_ENTRY_NOT_LEAF", 0xC000_0B04_0000_0000, all(Operand),
            "The Secure-EPT entry does not map a page.";
        EptEntryLeaf = "TDX_EPT_ENTRY_LEAF", 0xC000_0B05_0000_0000, all(Operand),
            "The Secure-EPT entry maps a page; the operation needs a non-leaf entry.";
        GpaRangeNotBlocked = "TDX_GPA_RANGE_NOT_BLOCKED", 0xC000_0B06_0000_0000, all(Operand),
            "The GPA range is not blocked (TDH.MEM.RANGE.BLOCK).";
        GpaRangeAlreadyBlocked = "TDX_GPA_RANGE_ALREADY_BLOCKED", 0x0000_0B07_0000_0000, all(Operand),
            "Not an error: the GPA range is already blocked.";
        TlbTrackingNotDone = "TDX_TLB_TRACKING_NOT_DONE", 0xC000_0B08_0000_0000, all(Operand),
            "TLB tracking (TDH.MEM.TRACK and vCPU exits) has not completed since the range was blocked.";
        EptInvalidPromoteConditions = "TDX_EPT_INVALID_PROMOTE_CONDITIONS", 0xC000_0B09_0000_0000, all(Operand),
            "The 512 small pages cannot be promoted (not contiguous, not all mapped alike, or not blocked).";
        PageAlreadyAccepted = "TDX_PAGE_ALREADY_ACCEPTED", 0x0000_0B0A_0000_0000, all(SeptLevel),
            "Not an error: the guest already accepted the page.";
        PageSizeMismatch = "TDX_PAGE_SIZE_MISMATCH", 0xC000_0B0B_0000_0000, all(SeptLevel),
            "The page is mapped at another size than the one requested.";
        GpaRangeBlocked = "TDX_GPA_RANGE_BLOCKED", 0xC000_0B0C_0000_0000, V15,
            "The GPA range is blocked.";
        EptEntryStateIncorrect = "TDX_EPT_ENTRY_STATE_INCORRECT", 0xC000_0B0D_0000_0000, v15(Operand),
            "The Secure-EPT entry's state does not allow the operation.";
        EptPageNotFree = "TDX_EPT_PAGE_NOT_FREE", 0xC000_0B0E_0000_0000, v15(Operand),
            "The Secure-EPT page still has entries in use.";
        L2SeptWalkFailed = "TDX_L2_SEPT_WALK_FAILED", 0xC000_0B0F_0000_0000, v15(L2SeptLevel),
            "The walk of an L2 VM's Secure EPT stopped before the requested level.";
        L2SeptEntryNotFree = "TDX_L2_SEPT_ENTRY_NOT_FREE", 0xC000_0B10_0000_0000, v15(L2SeptLevel),
            "The L2 VM's Secure-EPT entry is in use.";
        PageAttrInvalid = "TDX_PAGE_ATTR_INVALID", 0xC000_0B11_0000_0000, V15,
            "The requested L2 page attributes are invalid.";
        L2SeptPageNotProvided = "TDX_L2_SEPT_PAGE_NOT_PROVIDED", 0xC000_0B12_0000_0000, v15(Operand),
            "The operation needs a new L2 Secure-EPT page that was not provided (R8 + VM index names the register).";

        // Class 0x0C: metadata.
        MetadataFieldIdIncorrect = "TDX_METADATA_FIELD_ID_INCORRECT", 0xC000_0C00_0000_0000, v15(MetadataList),
            "The metadata field ID is malformed or names no field in this context.";
        MetadataFieldNotWritable = "TDX_METADATA_FIELD_NOT_WRITABLE", 0xC000_0C01_0000_0000, V15,
            "The metadata field is not writable by this caller.";
        MetadataFieldNotReadable = "TDX_METADATA_FIELD_NOT_READABLE", 0xC000_0C02_0000_0000, V15,
            "The metadata field is not readable by this caller.";
        MetadataFieldValueNotValid = "TDX_METADATA_FIELD_VALUE_NOT_VALID", 0xC000_0C03_0000_0000, V15,
            "The value is not valid for the metadata field.";
        MetadataListOverflow = "TDX_METADATA_LIST_OVERFLOW", 0xC000_0C04_0000_0000, v15(MetadataList),
            "The metadata list does not fit in the buffer provided.";
        InvalidMetadataListHeader = "TDX_INVALID_METADATA_LIST_HEADER", 0xC000_0C05_0000_0000, V15,
            "The metadata list header is invalid.";
        RequiredMetadataFieldMissing = "TDX_REQUIRED_METADATA_FIELD_MISSING", 0xC000_0C06_0000_0000, V15,
            "A metadata field that must be imported is missing from the list.";
        MetadataElementSizeIncorrect = "TDX_METADATA_ELEMENT_SIZE_INCORRECT", 0xC000_0C07_0000_0000, V15,
            "The field ID's element size does not match the field.";
        MetadataLastElementIncorrect = "TDX_METADATA_LAST_ELEMENT_INCORRECT", 0xC000_0C08_0000_0000, V15,
            "The field ID's last-element index is beyond the field.";
        MetadataFieldCurrentlyNotWritable = "TDX_METADATA_FIELD_CURRENTLY_NOT_WRITABLE", 0xC000_0C09_0000_0000, V15,
            "The metadata field may not be written in the TD's current state.";
        MetadataWrMaskNotValid = "TDX_METADATA_WR_MASK_NOT_VALID", 0xC000_0C0A_0000_0000, V15,
            "The write mask sets bits the field does not allow to write.";
        MetadataFirstFieldIdInContext = "TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT", 0x0000_0C0B_0000_0000, V15,
            "Not an error: the null field ID was read; RDX holds the first field ID of the context.";
        MetadataFieldSkip = "TDX_METADATA_FIELD_SKIP", 0x0000_0C0C_0000_0000, V15,
            "Not an error: the field was skipped.";

        // Class 0x0D: service TDs.
        ServtdAlreadyBoundForType = "TDX_SERVTD_ALREADY_BOUND_FOR_TYPE", 0xC000_0D00_0000_0000, V15,
            "A service TD of this type is already bound.";
        ServtdTypeMismatch = "TDX_SERVTD_TYPE_MISMATCH", 0xC000_0D01_0000_0000, V15,
            "The service-TD type does not match the binding.";
        ServtdAttrMismatch = "TDX_SERVTD_ATTR_MISMATCH", 0xC000_0D02_0000_0000, V15,
            "The service-TD attributes do not match the binding.";
        ServtdInfoHashMismatch = "TDX_SERVTD_INFO_HASH_MISMATCH", 0xC000_0D03_0000_0000, V15,
            "The service TD's info hash does not match the pre-binding.";
        ServtdUuidMismatch = "TDX_SERVTD_UUID_MISMATCH", 0xC000_0D04_0000_0000, V15,
            "The service TD's UUID does not match the binding.";
        ServtdNotBound = "TDX_SERVTD_NOT_BOUND", 0xC000_0D05_0000_0000, v15(ServtdSlot),
            "No service TD is bound in this slot.";
        ServtdBound = "TDX_SERVTD_BOUND", 0xC000_0D06_0000_0000, V15,
            "A service TD is already bound.";
        TargetUuidMismatch = "TDX_TARGET_UUID_MISMATCH", 0xC000_0D07_0000_0000, V15,
            "The target TD's UUID does not match.";
        TargetUuidUpdated = "TDX_TARGET_UUID_UPDATED", 0xC000_0D08_0000_0000, V15,
            "The target TD's UUID changed since the binding.";

        // Class 0x0E: migration.
        InvalidMbmd = "TDX_INVALID_MBMD", 0xC000_0E00_0000_0000, V15,
            "The migration bundle metadata (MBMD) is invalid.";
        IncorrectMbmdMac = "TDX_INCORRECT_MBMD_MAC", 0xC000_0E01_0000_0000, V15,
            "The MBMD's MAC does not verify.";
        NotWriteBlocked = "TDX_NOT_WRITE_BLOCKED", 0xC000_0E02_0000_0000, V15,
            "The page is not write-blocked.";
        AlreadyWriteBlocked = "TDX_ALREADY_WRITE_BLOCKED", 0x0000_0E03_0000_0000, V15,
            "Not an error: the page is already write-blocked.";
        NotExported = "TDX_NOT_EXPORTED", 0xC000_0E04_0000_0000, V15,
            "The page has not been exported.";
        MigrationStreamStateIncorrect = "TDX_MIGRATION_STREAM_STATE_INCORRECT", 0xC000_0E05_0000_0000, V15,
            "The migration stream's state does not allow this operation.";
        MaxMigsNumExceeded = "TDX_MAX_MIGS_NUM_EXCEEDED", 0xC000_0E06_0000_0000, V15,
            "The TD already has its maximum number of migration streams.";
        ExportedDirtyPagesRemain = "TDX_EXPORTED_DIRTY_PAGES_REMAIN", 0xC000_0E07_0000_0000, V15,
            "Exported pages were modified after export and must be exported again.";
        MigrationDecryptionKeyNotSet = "TDX_MIGRATION_DECRYPTION_KEY_NOT_SET", 0xC000_0E08_0000_0000, V15,
            "The migration decryption key has not been set.";
        TdNotMigratable = "TDX_TD_NOT_MIGRATABLE", 0xC000_0E09_0000_0000, V15,
            "The TD was not created migratable.";
        PreviousExportCleanupIncomplete = "TDX_PREVIOUS_EXPORT_CLEANUP_INCOMPLETE", 0xC000_0E0A_0000_0000, V15,
            "The cleanup of an aborted export has not finished.";
        NumMigsHigherThanCreated = "TDX_NUM_MIGS_HIGHER_THAN_CREATED", 0xC000_0E0B_0000_0000, V15,
            "More migration streams were requested than were created.";
        ImportMismatch = "TDX_IMPORT_MISMATCH", 0xC000_0E0C_0000_0000, v15(Operand),
            "The imported data does not match what the destination expects.";
        MigrationEpochOverflow = "TDX_MIGRATION_EPOCH_OVERFLOW", 0xC000_0E0D_0000_0000, V15,
            "The migration epoch counter overflowed.";
        MaxExportsExceeded = "TDX_MAX_EXPORTS_EXCEEDED", 0xC000_0E0E_0000_0000, V15,
            "The maximum number of exports was reached.";
        InvalidPageMac = "TDX_INVALID_PAGE_MAC", 0xC000_0E0F_0000_0000, v15(Operand),
            "An imported page's MAC does not verify.";
        MigratedInCurrentEpoch = "TDX_MIGRATED_IN_CURRENT_EPOCH", 0xC000_0E10_0000_0000, v15(Operand),
            "The page was already migrated in this epoch.";
        DisallowedImportOverRemoved = "TDX_DISALLOWED_IMPORT_OVER_REMOVED", 0xC000_0E11_0000_0000, v15(Operand),
            "The page may not be imported over a page removed in this epoch.";
        SomeVcpusNotMigrated = "TDX_SOME_VCPUS_NOT_MIGRATED", 0xC000_0E12_0000_0000, V15,
            "Not every vCPU has been migrated.";
        AllVcpusImported = "TDX_ALL_VCPUS_IMPORTED", 0xC000_0E13_0000_0000, V15,
            "Every vCPU has already been imported.";
        MinMigsNotCreated = "TDX_MIN_MIGS_NOT_CREATED", 0xC000_0E14_0000_0000, V15,
            "Fewer migration streams exist than the minimum needed.";
        VcpuAlreadyExported = "TDX_VCPU_ALREADY_EXPORTED", 0xC000_0E15_0000_0000, V15,
            "The vCPU was already exported in this epoch.";
        InvalidMigrationDecryptionKey = "TDX_INVALID_MIGRATION_DECRYPTION_KEY", 0xC000_0E16_0000_0000, V15,
            "The migration decryption key is invalid.";

        // Class 0x10: attestation.
        InvalidCpusvn = "TDX_INVALID_CPUSVN", 0xC000_1000_0000_0000, V15,
            "The CPUSVN is invalid.";
        InvalidReportmacstruct = "TDX_INVALID_REPORTMACSTRUCT", 0xC000_1001_0000_0000, V15,
            "The REPORTMACSTRUCT does not verify.";

        // Class 0x11: TD partitioning (L2 VMs).
        L2ExitHostRoutedAsync = "TDX_L2_EXIT_HOST_ROUTED_ASYNC", 0x0000_1100_0000_0000, v15(ExitReason),
            "Not an error: the L2 VM exited asynchronously through the host; the L1 VMM sees the exit.";
        L2ExitHostRoutedTdvmcall = "TDX_L2_EXIT_HOST_ROUTED_TDVMCALL", 0x0000_1101_0000_0000, v15(ExitReason),
            "Not an error: the L2 VM's TDG.VP.VMCALL went to the host and came back to the L1 VMM.";
        L2ExitPendingInterrupt = "TDX_L2_EXIT_PENDING_INTERRUPT", 0x0000_1102_0000_0000, v15(ExitReason),
            "Not an error: the L2 VM exited to L1 because L1 has a pending interrupt.";
        PendingInterrupt = "TDX_PENDING_INTERRUPT", 0x0000_1120_0000_0000, V15,
            "Not an error: TDG.VP.ENTER did not enter L2 because L1 has a pending interrupt.";
        TdExitBeforeL2Entry = "TDX_TD_EXIT_BEFORE_L2_ENTRY", 0x0000_1140_0000_0000, V15,
            "Not an error: the TD exited to the host before entering the L2 VM.";
        TdExitOnL2VmExit = "TDX_TD_EXIT_ON_L2_VM_EXIT", 0x0000_1141_0000_0000, v15(ExitReason),
            "Not an error: an L2 VM exit caused a TD exit to the host.";
        TdExitOnL2ToL1 = "TDX_TD_EXIT_ON_L2_TO_L1", 0x0000_1142_0000_0000, v15(ExitReason),
            "Not an error: the TD exited to the host during an L2-to-L1 exit.";
        GlaNotCanonical = "TDX_GLA_NOT_CANONICAL", 0xC000_1160_0000_0000, V15,
            "The guest linear address is not canonical.";

        // Added after 1.5.05 (2.0.18 header order, then the 2.0.08-only names).
        InterruptedListFull = "TDX_INTERRUPTED_LIST_FULL", 0x8000_000C_0000_0000, m(&[R1532, R2018], NotRead),
            "An interrupt stopped a list operation and its output list is full; handle the entries and call again.";
        EventFilterInvalid = "TDX_EVENT_FILTER_INVALID", 0xC000_0102_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "The TD's event-filter list (TDH.MNG.INIT R8) is invalid.";
        EventFilterOrderInvalid = "TDX_EVENT_FILTER_ORDER_INVALID", 0xC000_0103_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "The entries of the TD's event-filter list are not in the required order.";
        InterruptedBusy = "TDX_INTERRUPTED_BUSY", 0x8000_0206_0000_0000, m(&[R1528, R1532, R2018], NotRead),
            "An interrupt stopped the operation while it waited on a busy resource; call again.";
        HpaRangeNotFree = "TDX_HPA_RANGE_NOT_FREE", 0xC000_0304_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "Dynamic PAMT: the physical range still holds pages, so its PAMT pages cannot be removed.";
        NoPamtPagePair = "TDX_NO_PAMT_PAGE_PAIR", 0xC000_0305_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "Dynamic PAMT: no PAMT page pair covers this range.";
        PamtPageNotEmpty = "TDX_PAMT_PAGE_NOT_EMPTY", 0xC000_0306_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "Dynamic PAMT: the PAMT page still describes pages in use.";
        InterruptedPamt = "TDX_INTERRUPTED_PAMT", 0x8000_0307_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "Dynamic PAMT: an interrupt stopped the PAMT operation; call again.";
        MissingPamtPagePair = "TDX_MISSING_PAMT_PAGE_PAIR", 0x8000_0308_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "Dynamic PAMT: the operation needs a PAMT page pair for this range; add one with TDH.PHYMEM.PAMT.ADD first.";
        IncompatibleSeamFeatures = "TDX_INCOMPATIBLE_SEAM_FEATURES", 0xC000_050F_0000_0000, m(&[R1532, R2018], NotRead),
            "The SEAM loader's features are incompatible with this module.";
        CryptoSelfTestFailed = "TDX_CRYPTO_SELF_TEST_FAILED", 0xC000_0511_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "The module's cryptographic self test failed.";
        UpdateCompatibilitySensitive = "TDX_UPDATE_COMPATIBILITY_SENSITIVE", 0x8000_0512_0000_0000, m(&[R1528, R1532, R2018], NotRead),
            "A TD-preserving update would change state a running TD depends on; the update is refused for now.";
        DebugMemNotWritable = "TDX_DEBUG_MEM_NOT_WRITABLE", 0xC000_060A_0000_0000, m(&[R1528, R1532, R2018], NotRead),
            "The debug TD's memory may not be written now.";
        IncompatibleMrtdContext = "TDX_INCOMPATIBLE_MRTD_CONTEXT", 0xC000_0622_0000_0000, m(&[R1528, R1532, R2018], NotRead),
            "The MRTD context does not match (e.g. across migration).";
        InterruptibilityBlocked = "TDX_INTERRUPTIBILITY_BLOCKED", 0xC000_0707_0000_0000, m(&[R1506, R1528, R1532, R2008, R2018], NotRead),
            "The vCPU's interruptibility state blocks the operation.";
        BlockedMemoryExists = "TDX_BLOCKED_MEMORY_EXISTS", 0x8000_0B13_0000_0000, m(&[R1532, R2018], NotRead),
            "Blocked memory remains in the TD; unblock or remove it first.";
        VirtualMsrValueNotValid = "TDX_VIRTUAL_MSR_VALUE_NOT_VALID", 0xC000_0C0D_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "The value written to a virtual MSR is not valid.";
        MetadataFieldNotAllocated = "TDX_METADATA_FIELD_NOT_ALLOCATED", 0xC000_0C0E_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "The metadata field exists but its storage is not allocated in this TD.";
        ServtdNestingNotAllowed = "TDX_SERVTD_NESTING_NOT_ALLOWED", 0xC000_0D0C_0000_0000, m(&[R1532, R2018], NotRead),
            "A service TD may not itself have this service TD bound (no nesting).";
        ServtdCannotBeMigratable = "TDX_SERVTD_CANNOT_BE_MIGRATABLE", 0xC000_0D0D_0000_0000, m(&[R1532, R2018], NotRead),
            "This service TD may not be migratable.";
        MemRangeScanSuccess = "TDX_MEM_RANGE_SCAN_SUCCESS", 0x0000_0E17_0000_0000, m(&[R1532, R2018], NotRead),
            "Not an error: the memory-scan range completed.";
        MemScanSuccess = "TDX_MEM_SCAN_SUCCESS", 0x0000_0E18_0000_0000, m(&[R1532, R2018], NotRead),
            "Not an error: the memory scan completed.";
        MemScanFailedBlockedRange = "TDX_MEM_SCAN_FAILED_BLOCKED_RANGE", 0x8000_0E19_0000_0000, m(&[R1532, R2018], NotRead),
            "The memory scan stopped at a blocked range.";
        MemScanFailedOtherThread = "TDX_MEM_SCAN_FAILED_OTHER_THREAD", 0x8000_0E1A_0000_0000, m(&[R1532, R2018], NotRead),
            "The memory scan failed because another thread changed the range.";
        MemScanConfigRequired = "TDX_MEM_SCAN_CONFIG_REQUIRED", 0x8000_0E1B_0000_0000, m(&[R1532, R2018], NotRead),
            "The memory scan needs TDH.MEM.SCAN.CONFIG first.";
        MemScanAlreadySuccessful = "TDX_MEM_SCAN_ALREADY_SUCCESSFUL", 0x8000_0E1C_0000_0000, m(&[R1532, R2018], NotRead),
            "The memory scan already completed.";
        UnexportedMemoryRemains = "TDX_UNEXPORTED_MEMORY_REMAINS", 0x8000_0E1D_0000_0000, m(&[R1532, R2018], NotRead),
            "Memory that was not exported remains.";
        MemScanConfigAlreadyDone = "TDX_MEM_SCAN_CONFIG_ALREADY_DONE", 0xC000_0E1E_0000_0000, m(&[R1532, R2018], NotRead),
            "The memory scan is already configured.";
        MemScanInProgress = "TDX_MEM_SCAN_IN_PROGRESS", 0x8000_0E1F_0000_0000, m(&[R1532, R2018], NotRead),
            "A memory scan is in progress.";
        BlockingDisallowed = "TDX_BLOCKING_DISALLOWED", 0xC000_0E20_0000_0000, m(&[R1532, R2018], NotRead),
            "Blocking is not allowed now.";
        MemScanDcheckNotDone = "TDX_MEM_SCAN_DCHECK_NOT_DONE", 0x8000_0E21_0000_0000, m(&[R1532, R2018], NotRead),
            "The memory scan's final check has not been done.";
        IncompatibleMbmdMacContext = "TDX_INCOMPATIBLE_MBMD_MAC_CONTEXT", 0xC000_0E22_0000_0000, m(&[R1528, R1532, R2018], NotRead),
            "The MBMD's MAC context is incompatible with this module.";
        IncompatibleExportModeTdNonAccessible = "TDX_INCOMPATIBLE_EXPORT_MODE_TD_NON_ACCESSIBLE", 0xE000_0E23_0000_0000, m(&[R1532, R2018], NotRead),
            "The export mode is incompatible; the TD is fatal and its memory must not be accessed.";
        IommuInvalidState = "TDX_IOMMU_INVALID_STATE", 0xC000_0F00_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): iommu invalid state. TDX Connect leaves are not wrapped by this crate.";
        IommuIqFull = "TDX_IOMMU_IQ_FULL", 0x8000_0F01_0000_0000, m(&[R2018], NotRead),
            "TDX Connect (retry later): iommu iq full. TDX Connect leaves are not wrapped by this crate.";
        IommuRpNotConfigured = "TDX_IOMMU_RP_NOT_CONFIGURED", 0xC000_0F02_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): iommu rp not configured. TDX Connect leaves are not wrapped by this crate.";
        IommuIotlbTrackingNotDone = "TDX_IOMMU_IOTLB_TRACKING_NOT_DONE", 0xC000_0F03_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): iommu iotlb tracking not done. TDX Connect leaves are not wrapped by this crate.";
        IommuRpIdeMustBeDisabled = "TDX_IOMMU_RP_IDE_MUST_BE_DISABLED", 0xC000_0F04_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): iommu rp ide must be disabled. TDX Connect leaves are not wrapped by this crate.";
        SpdmHasActiveIdeStreams = "TDX_SPDM_HAS_ACTIVE_IDE_STREAMS", 0xC000_0F05_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): spdm has active ide streams. TDX Connect leaves are not wrapped by this crate.";
        SpdmInvalidState = "TDX_SPDM_INVALID_STATE", 0xC000_0F06_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): spdm invalid state. TDX Connect leaves are not wrapped by this crate.";
        DmarInvalidMappingState = "TDX_DMAR_INVALID_MAPPING_STATE", 0xC000_0F07_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): dmar invalid mapping state. TDX Connect leaves are not wrapped by this crate.";
        DmarInvalidInvState = "TDX_DMAR_INVALID_INV_STATE", 0xC000_0F08_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): dmar invalid inv state. TDX Connect leaves are not wrapped by this crate.";
        DmarInvalidRidPasid = "TDX_DMAR_INVALID_RID_PASID", 0xC000_0F09_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): dmar invalid rid pasid. TDX Connect leaves are not wrapped by this crate.";
        DevifHandleError = "TDX_DEVIF_HANDLE_ERROR", 0xC000_0F0A_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif handle error. TDX Connect leaves are not wrapped by this crate.";
        DevifPkhMismatch = "TDX_DEVIF_PKH_MISMATCH", 0xC000_0F0B_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif pkh mismatch. TDX Connect leaves are not wrapped by this crate.";
        DevifInvalid = "TDX_DEVIF_INVALID", 0xC000_0F0C_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif invalid. TDX Connect leaves are not wrapped by this crate.";
        DevifAlreadyValid = "TDX_DEVIF_ALREADY_VALID", 0x0000_0F0D_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (not an error): devif already valid. TDX Connect leaves are not wrapped by this crate.";
        DevifTdispInvalidReqSts = "TDX_DEVIF_TDISP_INVALID_REQ_STS", 0xC000_0F0E_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif tdisp invalid req sts. TDX Connect leaves are not wrapped by this crate.";
        DevifTdispInvalidMessage = "TDX_DEVIF_TDISP_INVALID_MESSAGE", 0xC000_0F0F_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif tdisp invalid message. TDX Connect leaves are not wrapped by this crate.";
        DevifTdispInvalidState = "TDX_DEVIF_TDISP_INVALID_STATE", 0xC000_0F10_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif tdisp invalid state. TDX Connect leaves are not wrapped by this crate.";
        DevifInvalidState = "TDX_DEVIF_INVALID_STATE", 0xC000_0F11_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif invalid state. TDX Connect leaves are not wrapped by this crate.";
        DevifHasBoundPasids = "TDX_DEVIF_HAS_BOUND_PASIDS", 0xC000_0F12_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif has bound pasids. TDX Connect leaves are not wrapped by this crate.";
        DevifHasMappedMmio = "TDX_DEVIF_HAS_MAPPED_MMIO", 0xC000_0F13_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif has mapped mmio. TDX Connect leaves are not wrapped by this crate.";
        DevifTdispOutReq = "TDX_DEVIF_TDISP_OUT_REQ", 0xC000_0F14_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif tdisp out req. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamNotFree = "TDX_IDE_STREAM_NOT_FREE", 0xC000_0F16_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream not free. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamNotSupported = "TDX_IDE_STREAM_NOT_SUPPORTED", 0xC000_0F17_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream not supported. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamNotConfigured = "TDX_IDE_STREAM_NOT_CONFIGURED", 0xC000_0F18_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream not configured. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamBlocked = "TDX_IDE_STREAM_BLOCKED", 0xC000_0F19_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream blocked. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamNotBlocked = "TDX_IDE_STREAM_NOT_BLOCKED", 0xC000_0F1A_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream not blocked. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamAddrOverlap = "TDX_IDE_STREAM_ADDR_OVERLAP", 0xC000_0F1B_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream addr overlap. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamRidOverlap = "TDX_IDE_STREAM_RID_OVERLAP", 0xC000_0F1C_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream rid overlap. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamKeyIdAlreadyUsed = "TDX_IDE_STREAM_KEY_ID_ALREADY_USED", 0xC000_0F1D_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream key id already used. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamIdeIdAlreadyUsed = "TDX_IDE_STREAM_IDE_ID_ALREADY_USED", 0xC000_0F1E_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream ide id already used. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamHasDeviceInterfaces = "TDX_IDE_STREAM_HAS_DEVICE_INTERFACES", 0xC000_0F1F_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream has device interfaces. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamIdekmOutreq = "TDX_IDE_STREAM_IDEKM_OUTREQ", 0xC000_0F20_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream idekm outreq. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamIdekmKeysNotReady = "TDX_IDE_STREAM_IDEKM_KEYS_NOT_READY", 0xC000_0F21_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream idekm keys not ready. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamIdekmNoEntropy = "TDX_IDE_STREAM_IDEKM_NO_ENTROPY", 0xC000_0F22_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream idekm no entropy. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamIdekmInvalidResponse = "TDX_IDE_STREAM_IDEKM_INVALID_RESPONSE", 0xC000_0F23_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream idekm invalid response. TDX Connect leaves are not wrapped by this crate.";
        IdeStreamInvalidState = "TDX_IDE_STREAM_INVALID_STATE", 0xC000_0F24_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): ide stream invalid state. TDX Connect leaves are not wrapped by this crate.";
        MmioInvalidPageMetadata = "TDX_MMIO_INVALID_PAGE_METADATA", 0xC000_0F25_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): mmio invalid page metadata. TDX Connect leaves are not wrapped by this crate.";
        MmioAcceptSizeMismatch = "TDX_MMIO_ACCEPT_SIZE_MISMATCH", 0xC000_0F26_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): mmio accept size mismatch. TDX Connect leaves are not wrapped by this crate.";
        MmioDevifOwnerMismatch = "TDX_MMIO_DEVIF_OWNER_MISMATCH", 0xC000_0F27_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): mmio devif owner mismatch. TDX Connect leaves are not wrapped by this crate.";
        MmioPageAlreadyAccepted = "TDX_MMIO_PAGE_ALREADY_ACCEPTED", 0x0000_0F28_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (not an error): mmio page already accepted. TDX Connect leaves are not wrapped by this crate.";
        PasidTableAlreadyMapped = "TDX_PASID_TABLE_ALREADY_MAPPED", 0xC000_0F29_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasid table already mapped. TDX Connect leaves are not wrapped by this crate.";
        PasidTableNotMapped = "TDX_PASID_TABLE_NOT_MAPPED", 0xC000_0F2A_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasid table not mapped. TDX Connect leaves are not wrapped by this crate.";
        PasidTableNotEmpty = "TDX_PASID_TABLE_NOT_EMPTY", 0xC000_0F2B_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasid table not empty. TDX Connect leaves are not wrapped by this crate.";
        PasidTdAssociatedPasidsExist = "TDX_PASID_TD_ASSOCIATED_PASIDS_EXIST", 0xC000_0F2C_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasid td associated pasids exist. TDX Connect leaves are not wrapped by this crate.";
        PasidTrackInProgress = "TDX_PASID_TRACK_IN_PROGRESS", 0xC000_0F2D_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasid track in progress. TDX Connect leaves are not wrapped by this crate.";
        PasidTrackPasidMismatch = "TDX_PASID_TRACK_PASID_MISMATCH", 0xC000_0F2E_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasid track pasid mismatch. TDX Connect leaves are not wrapped by this crate.";
        PasidTrackNotDone = "TDX_PASID_TRACK_NOT_DONE", 0xC000_0F2F_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasid track not done. TDX Connect leaves are not wrapped by this crate.";
        PasidDevifOwnerMismatch = "TDX_PASID_DEVIF_OWNER_MISMATCH", 0xC000_0F30_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasid devif owner mismatch. TDX Connect leaves are not wrapped by this crate.";
        GuestPasidAlreadyMapped = "TDX_GUEST_PASID_ALREADY_MAPPED", 0xC000_0F31_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): guest pasid already mapped. TDX Connect leaves are not wrapped by this crate.";
        GuestPasidNotMapped = "TDX_GUEST_PASID_NOT_MAPPED", 0xC000_0F32_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): guest pasid not mapped. TDX Connect leaves are not wrapped by this crate.";
        PasidmtNotFound = "TDX_PASIDMT_NOT_FOUND", 0xC000_0F33_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasidmt not found. TDX Connect leaves are not wrapped by this crate.";
        PasidmtAlreadyPresent = "TDX_PASIDMT_ALREADY_PRESENT", 0xC000_0F34_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasidmt already present. TDX Connect leaves are not wrapped by this crate.";
        PasidmtNotPresent = "TDX_PASIDMT_NOT_PRESENT", 0xC000_0F35_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasidmt not present. TDX Connect leaves are not wrapped by this crate.";
        PasidmtInvalidState = "TDX_PASIDMT_INVALID_STATE", 0xC000_0F36_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasidmt invalid state. TDX Connect leaves are not wrapped by this crate.";
        PasidmtPageNotEmpty = "TDX_PASIDMT_PAGE_NOT_EMPTY", 0xC000_0F37_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): pasidmt page not empty. TDX Connect leaves are not wrapped by this crate.";
        DmarIndexOutOfBounds = "TDX_DMAR_INDEX_OUT_OF_BOUNDS", 0xC000_0F38_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): dmar index out of bounds. TDX Connect leaves are not wrapped by this crate.";
        DmarEntryNotPresent = "TDX_DMAR_ENTRY_NOT_PRESENT", 0xC000_0F39_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): dmar entry not present. TDX Connect leaves are not wrapped by this crate.";
        TdHasAttachedDevices = "TDX_TD_HAS_ATTACHED_DEVICES", 0xC000_0F3A_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): td has attached devices. TDX Connect leaves are not wrapped by this crate.";
        IommuIotlbTrackingNotRequired = "TDX_IOMMU_IOTLB_TRACKING_NOT_REQUIRED", 0x0000_0F3B_0000_0000, m(&[R2018], NotRead),
            "TDX Connect (not an error): iommu iotlb tracking not required. TDX Connect leaves are not wrapped by this crate.";
        SpdmAuthFailed = "TDX_SPDM_AUTH_FAILED", 0xC000_0F3C_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): spdm auth failed. TDX Connect leaves are not wrapped by this crate.";
        IommuMtPageInUse = "TDX_IOMMU_MT_PAGE_IN_USE", 0xC000_0F3D_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): iommu mt page in use. TDX Connect leaves are not wrapped by this crate.";
        IommuKcbMustBeDisabled = "TDX_IOMMU_KCB_MUST_BE_DISABLED", 0xC000_0F3E_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): iommu kcb must be disabled. TDX Connect leaves are not wrapped by this crate.";
        DevifHasMappedDma = "TDX_DEVIF_HAS_MAPPED_DMA", 0xC000_0F3F_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif has mapped dma. TDX Connect leaves are not wrapped by this crate.";
        DevifmtNotPresent = "TDX_DEVIFMT_NOT_PRESENT", 0xC000_0F40_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devifmt not present. TDX Connect leaves are not wrapped by this crate.";
        DevifInvalidMetadata = "TDX_DEVIF_INVALID_METADATA", 0xC000_0F41_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif invalid metadata. TDX Connect leaves are not wrapped by this crate.";
        DevifmtAlreadyPresent = "TDX_DEVIFMT_ALREADY_PRESENT", 0xC000_0F42_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devifmt already present. TDX Connect leaves are not wrapped by this crate.";
        SpdmEntryAlreadyPresent = "TDX_SPDM_ENTRY_ALREADY_PRESENT", 0xC000_0F43_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): spdm entry already present. TDX Connect leaves are not wrapped by this crate.";
        SpdmEntryNotPresent = "TDX_SPDM_ENTRY_NOT_PRESENT", 0xC000_0F44_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): spdm entry not present. TDX Connect leaves are not wrapped by this crate.";
        SpdmSessionKeyRequireRefresh = "TDX_SPDM_SESSION_KEY_REQUIRE_REFRESH", 0xC000_0F45_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): spdm session key require refresh. TDX Connect leaves are not wrapped by this crate.";
        ConnectInvalidState = "TDX_CONNECT_INVALID_STATE", 0xC000_0F46_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): connect invalid state. TDX Connect leaves are not wrapped by this crate.";
        MmiomtNotPresent = "TDX_MMIOMT_NOT_PRESENT", 0xC000_0F47_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): mmiomt not present. TDX Connect leaves are not wrapped by this crate.";
        IommuRpInvalidConfiguration = "TDX_IOMMU_RP_INVALID_CONFIGURATION", 0xC000_0F48_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): iommu rp invalid configuration. TDX Connect leaves are not wrapped by this crate.";
        DevifInvalidTdiConfiguration = "TDX_DEVIF_INVALID_TDI_CONFIGURATION", 0xC000_0F49_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif invalid tdi configuration. TDX Connect leaves are not wrapped by this crate.";
        DevifTdispErrorState = "TDX_DEVIF_TDISP_ERROR_STATE", 0xC000_0F4A_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif tdisp error state. TDX Connect leaves are not wrapped by this crate.";
        DevifTdispInvalidReport = "TDX_DEVIF_TDISP_INVALID_REPORT", 0xC000_0F4B_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): devif tdisp invalid report. TDX Connect leaves are not wrapped by this crate.";
        MmioPageNotInAssocRange = "TDX_MMIO_PAGE_NOT_IN_ASSOC_RANGE", 0xC000_0F4C_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): mmio page not in assoc range. TDX Connect leaves are not wrapped by this crate.";
        MmioInvalidHpaOffset = "TDX_MMIO_INVALID_HPA_OFFSET", 0xC000_0F4D_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): mmio invalid hpa offset. TDX Connect leaves are not wrapped by this crate.";
        SpdmInvalidMessage = "TDX_SPDM_INVALID_MESSAGE", 0xC000_0F4E_0000_0000, m(&[R2018], NotRead),
            "TDX Connect (error): spdm invalid message. TDX Connect leaves are not wrapped by this crate.";
        TprInvalidState = "TDX_TPR_INVALID_STATE", 0xC000_0F4F_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): tpr invalid state. TDX Connect leaves are not wrapped by this crate.";
        SmrrOverlapsIoRange = "TDX_SMRR_OVERLAPS_IO_RANGE", 0xC000_0F50_0000_0000, m(&[R2018], NotRead),
            "TDX Connect (error): smrr overlaps io range. TDX Connect leaves are not wrapped by this crate.";
        IommuEcmdTimeout = "TDX_IOMMU_ECMD_TIMEOUT", 0x8000_0F51_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (retry later): iommu ecmd timeout. TDX Connect leaves are not wrapped by this crate.";
        IommuEcmdError = "TDX_IOMMU_ECMD_ERROR", 0x8000_0F52_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (retry later): iommu ecmd error. TDX Connect leaves are not wrapped by this crate.";
        GuestInvNotRequired = "TDX_GUEST_INV_NOT_REQUIRED", 0x0000_0F53_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (not an error): guest inv not required. TDX Connect leaves are not wrapped by this crate.";
        GuestInvInProgress = "TDX_GUEST_INV_IN_PROGRESS", 0xC000_0F54_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): guest inv in progress. TDX Connect leaves are not wrapped by this crate.";
        GuestInvInvalidDesc = "TDX_GUEST_INV_INVALID_DESC", 0xC000_0F55_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): guest inv invalid desc. TDX Connect leaves are not wrapped by this crate.";
        IotlbInvRequest = "TDX_IOTLB_INV_REQUEST", 0x0000_0F56_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (not an error): iotlb inv request. TDX Connect leaves are not wrapped by this crate.";
        TprRangeEnabled = "TDX_TPR_RANGE_ENABLED", 0xC000_0F5C_0000_0000, m(&[R2008, R2018], NotRead),
            "TDX Connect (error): tpr range enabled. TDX Connect leaves are not wrapped by this crate.";
        MrKeyGetNotSupported = "TDX_MR_KEY_GET_NOT_SUPPORTED", 0xC000_1004_0000_0000, m(&[R1532, R2018], NotRead),
            "TDG.MR.KEY.GET is not supported for this TD or platform (sealing not enabled).";
        SvnInvalid = "TDX_SVN_INVALID", 0xC000_1006_0000_0000, m(&[R1532, R2018], NotRead),
            "An SVN in the key request is invalid.";
        L2VmEntryFailed = "TDX_L2_VM_ENTRY_FAILED", 0x8000_1103_0000_0000, m(&[R1528, R1532, R2008, R2018], NotRead),
            "The entry into the L2 VM failed.";
        IommuIqQueueFull = "TDX_IOMMU_IQ_QUEUE_FULL", 0xC000_0F01_0000_0000, m(&[R2008], NotRead),
            "TDX Connect (error): iommu iq queue full. TDX Connect leaves are not wrapped by this crate.";
        IommuIotlbTrackingNotRequiredV2008 = "TDX_IOMMU_IOTLB_TRACKING_NOT_REQUIRED", 0xC000_0F3B_0000_0000, m(&[R2008], NotRead),
            "2.0.08 value (error): iommu iotlb tracking not required. TDX Connect leaves are not wrapped by this crate.";
        SdpmInvalidMessage = "TDX_SDPM_INVALID_MESSAGE", 0xC000_0F4E_0000_0000, m(&[R2008], NotRead),
            "TDX Connect (error): sdpm invalid message. TDX Connect leaves are not wrapped by this crate.";
        SmrrOverlapsIorange = "TDX_SMRR_OVERLAPS_IORANGE", 0xC000_0F50_0000_0000, m(&[R2008], NotRead),
            "TDX Connect (error): smrr overlaps iorange. TDX Connect leaves are not wrapped by this crate.";


        // TDX module 1.0.3 only.
        NonRecoverableTdV103 = "TDX_NON_RECOVERABLE_TD", 0x4000_0002_0000_0000, v103(ExitReason),
            "1.0.3 value: the TD exited into a fatal state; none of its vCPUs can be entered again.";
        NonRecoverableTdFatalV103 = "TDX_NON_RECOVERABLE_TD_FATAL", 0x4000_0005_0000_0000, v103(ExitReason),
            "1.0.3 only: the TD exited into a fatal state after a machine check.";
        NonRecoverableTdWrongApicModeV103 = "TDX_NON_RECOVERABLE_TD_WRONG_APIC_MODE", 0xC000_0007_0000_0000, v103(ExitReason),
            "1.0.3 value: the TD exited into a fatal state because its local APIC is not in x2APIC mode.";
        TdNotInitializedV103 = "TDX_TD_NOT_INITIALIZED", 0xC000_0600_0000_0000, V103,
            "1.0.3 only: the TD is not initialized (TDH.MNG.INIT). 1.5 reports TDX_OP_STATE_INCORRECT.";
        TdInitializedV103 = "TDX_TD_INITIALIZED", 0xC000_0601_0000_0000, V103,
            "1.0.3 only: the TD is already initialized. 1.5 reports TDX_OP_STATE_INCORRECT.";
        TdNotFinalizedV103 = "TDX_TD_NOT_FINALIZED", 0xC000_0602_0000_0000, V103,
            "1.0.3 only: the TD's measurement is not finalized (TDH.MR.FINALIZE). 1.5 reports TDX_OP_STATE_INCORRECT.";
        TdFinalizedV103 = "TDX_TD_FINALIZED", 0xC000_0603_0000_0000, V103,
            "1.0.3 only: the TD's measurement is already finalized. 1.5 reports TDX_OP_STATE_INCORRECT.";
        TdFatalV103 = "TDX_TD_FATAL", 0xC000_0604_0000_0000, V103,
            "1.0.3 value: the TD is in a fatal state; only teardown leaves work on it.";
        TdvpxNumIncorrectV103 = "TDX_TDVPX_NUM_INCORRECT", 0xC000_0703_0000_0000, V103,
            "1.0.3 only: the number of TDVPX pages added so far is wrong for this operation.";
        FieldNotWritableV103 = "TDX_FIELD_NOT_WRITABLE", 0xC000_0720_0000_0000, V103,
            "1.0.3 only: the field is not writable. 1.5 reports TDX_METADATA_FIELD_NOT_WRITABLE.";
        FieldNotReadableV103 = "TDX_FIELD_NOT_READABLE", 0xC000_0721_0000_0000, V103,
            "1.0.3 only: the field is not readable. 1.5 reports TDX_METADATA_FIELD_NOT_READABLE.";
        BootNt4SetV103 = "TDX_BOOT_NT4_SET", 0xC000_0901_0000_0000, V103,
            "1.0.3 only (1.5 uses this value for TDX_LIMIT_CPUID_MAXVAL_SET): IA32_MISC_ENABLE.BOOT_NT4 is set.";

        // Software codes: never from the module; the thunks return them.
        SeamcallVmfailinvalid = "TDX_SEAMCALL_VMFAILINVALID", Status::SEAMCALL_VMFAILINVALID.raw(), SW,
            "SEAMCALL failed with VMfailInvalid: no TDX module is loaded, or the SEAM loader is busy.";
        SeamcallUd = "TDX_SEAMCALL_UD", Status::SEAMCALL_UD.raw(), SW,
            "SEAMCALL raised #UD: the CPU is not in VMX root operation, or has no SEAM support.";
        SeamcallGp = "TDX_SEAMCALL_GP", Status::SEAMCALL_GP.raw(), SW,
            "SEAMCALL raised #GP: TDX is not enabled by the BIOS, or the caller is not at CPL 0.";
        TdcallUd = "TDX_TDCALL_UD", Status::TDCALL_UD.raw(), SW,
            "TDCALL raised #UD: the caller is not running in a TD.";
        TdcallGp = "TDX_TDCALL_GP", Status::TDCALL_GP.raw(), SW,
            "TDCALL raised #GP: the caller is not at CPL 0 or not in 64-bit mode.";
    }
}

impl StatusCode {
    /// Who returns this code, and in which releases.
    #[inline]
    pub const fn origin(self) -> Origin {
        self.row().info.0
    }

    /// What bits 31:0 carry alongside this code.
    #[inline]
    pub const fn details_kind(self) -> DetailsKind {
        self.row().info.1
    }

    /// Whether `release` of the module returns this code (always `false` for software codes).
    #[inline]
    pub const fn in_release(self, release: Release) -> bool {
        match self.origin() {
            Origin::Module(releases) => releases.contains(release),
            Origin::Software => false,
        }
    }

    /// Whether this is one of the crate's software codes.
    #[inline]
    pub const fn is_software(self) -> bool {
        matches!(self.origin(), Origin::Software)
    }

    /// Bits 63:32 of the value: the part a module status is matched on.
    #[inline]
    pub const fn code(self) -> u32 {
        (self.value() >> 32) as u32
    }

    /// The class, bits 47:40.
    #[inline]
    pub const fn class(self) -> u8 {
        (self.value() >> 40) as u8
    }

    /// The value as a [`Status`] with bits 31:0 zero (for software codes, the full code).
    #[inline]
    pub const fn status(self) -> Status {
        Status::from_raw(self.value())
    }

    /// This code with `details` in bits 31:0, as the module would return it. For software
    /// codes bits 31:0 are part of the code; they are replaced all the same.
    #[inline]
    pub const fn with_details(self, details: u32) -> Status {
        Status::from_raw(self.value() & !0xFFFF_FFFF | details as u64)
    }

    /// This code with `operand` in bits 31:0.
    #[inline]
    pub const fn with_operand(self, operand: super::Operand) -> Status {
        self.with_details(operand.id())
    }

    /// Whether bit 63 (error) is set.
    #[inline]
    pub const fn is_error(self) -> bool {
        self.value() >> 63 != 0
    }

    /// The module code with bits 63:32 equal to `code`, preferring the newest release that
    /// defines it (see the module docs). Software codes are not found here: their bits 31:0
    /// matter; use [`StatusCode::from_status`].
    pub fn from_code(code: u32) -> Option<StatusCode> {
        Release::NEWEST_FIRST
            .iter()
            .find_map(|&release| StatusCode::from_code_in(code, release))
    }

    /// The module code with bits 63:32 equal to `code` in `release`.
    pub fn from_code_in(code: u32, release: Release) -> Option<StatusCode> {
        StatusCode::ALL
            .iter()
            .copied()
            .find(|named| named.code() == code && named.in_release(release))
    }

    /// The module code with bits 63:32 equal to `code` in the release that best matches
    /// `version` ([`Release::for_version`]).
    pub fn from_code_for_version(code: u32, version: ModuleVersion) -> Option<StatusCode> {
        StatusCode::from_code_in(code, Release::for_version(version))
    }

    /// The code `status` carries: a software code when all 64 bits match one, else the
    /// module code of bits 63:32 (newest release first).
    pub fn from_status(status: Status) -> Option<StatusCode> {
        StatusCode::software(status).or_else(|| StatusCode::from_code(status.code()))
    }

    /// Like [`StatusCode::from_status`], for the release that best matches `version`.
    pub fn from_status_for_version(status: Status, version: ModuleVersion) -> Option<StatusCode> {
        StatusCode::software(status)
            .or_else(|| StatusCode::from_code_for_version(status.code(), version))
    }

    fn software(status: Status) -> Option<StatusCode> {
        if !status.is_software() {
            return None;
        }
        StatusCode::ALL
            .iter()
            .copied()
            .find(|named| named.is_software() && named.value() == status.raw())
    }

    /// The code named `name` (e.g. `"TDX_OPERAND_INVALID"`), newest release first; names
    /// 1.0.3 gave other values resolve to the 1.5 code.
    pub fn from_name(name: &str) -> Option<StatusCode> {
        // Table order puts every 1.5 row before the 1.0.3 rows that reuse its name.
        StatusCode::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// The code named `name` in `release`.
    pub fn from_name_in(name: &str, release: Release) -> Option<StatusCode> {
        StatusCode::ALL
            .iter()
            .copied()
            .find(|c| c.name() == name && (c.in_release(release) || c.is_software()))
    }
}

/// The status classes (bits 47:40), one line each.
const CLASSES: &[(u8, &str)] = &[
    (0x00, "general / TD exit"),
    (0x01, "operand"),
    (0x02, "busy / resources"),
    (0x03, "page metadata"),
    (0x04, "TD pages"),
    (0x05, "system state"),
    (0x06, "TD state"),
    (0x07, "vCPU state"),
    (0x08, "keys / cache"),
    (0x09, "platform CPUID / MSR / SMRR"),
    (0x0A, "TDMR / PAMT"),
    (0x0B, "Secure EPT"),
    (0x0C, "metadata"),
    (0x0D, "service TD"),
    (0x0E, "migration"),
    (0x0F, "TDX Connect (TDX-IO)"),
    (0x10, "attestation"),
    (0x11, "TD partitioning / L2"),
    (0xFF, "software (never from the module)"),
];

/// The name of status class `class` (bits 47:40), or `None` for a class no release uses.
pub fn class_name(class: u8) -> Option<&'static str> {
    CLASSES
        .iter()
        .find(|(value, _)| *value == class)
        .map(|(_, name)| *name)
}

/// Every named class value.
pub fn classes() -> impl Iterator<Item = u8> {
    CLASSES.iter().map(|(value, _)| *value)
}
