//! The module's state: platform, key ownership, TDs (TDR + TDCS), vCPUs (TDVPS) and the
//! Secure EPT of each TD.

use super::memory::Memory;
use super::mrtd::{Measurement, MrtdBuilder};
use crate::abi::td_params::CpuidValues;
use core::hash::{BuildHasherDefault, Hasher};
use std::collections::BTreeMap;

/// The model's hash maps, keyed by page addresses, HKIDs and field IDs: a multiplicative
/// hash instead of SipHash, which was a third of a TDCALL's cost in the direct backend. The
/// keys are values the module itself accepted (pages it owns, HKIDs in range), so there is
/// no flooding to defend against.
pub type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// The hasher of [`HashMap`]: folds the key's words, then a Fibonacci multiply whose high
/// bits are folded down (page addresses have twelve zero low bits).
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let x = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(23) ^ n;
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(n.into());
    }
}
use std::vec::Vec;

/// `sys_state`: how far platform initialization got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum SysPhase {
    /// Waiting for TDH.SYS.INIT.
    InitPending,
    /// TDH.SYS.INIT done: LP.INIT on every LP, then SYS.CONFIG.
    InitDone,
    /// TDH.SYS.CONFIG done: SYS.KEY.CONFIG on every package.
    ConfigDone,
    /// SYS_READY: every leaf may run.
    Ready,
}

/// The platform-scope state.
pub(super) struct Platform {
    pub phase: SysPhase,
    /// TDH.SYS.LP.INIT done, per logical processor.
    pub lp_init: Vec<bool>,
    /// The global private HKID (TDH.SYS.CONFIG).
    pub global_hkid: u16,
    /// TDH.SYS.KEY.CONFIG done on the (single) package.
    pub package_key_configured: bool,
}

/// A key-ownership-table entry (`kot_entry_state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KotState {
    /// The HKID belongs to a TD.
    Assigned,
    /// TDH.MNG.VPFLUSHDONE ran: the HKID waits for TDH.PHYMEM.CACHE.WB.
    Flushed {
        /// CACHE.WB has run since (on the single package).
        written_back: bool,
    },
    /// The module's global private HKID.
    Reserved,
}

/// `lifecycle_state` of a TD (TDR), with the module's encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lifecycle {
    HkidAssigned = 0,
    KeysConfigured = 1,
    Blocked = 2,
    Teardown = 3,
}

/// `op_state` of a TD (TDCS), with the module's encodings (`op_state_e`; the column order
/// of the module's `seamcall_state_lookup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpState {
    Uninitialized = 0,
    Initialized = 1,
    Runnable = 2,
    /// TDH.EXPORT.STATE.IMMUTABLE done: pre-copy while the TD runs.
    LiveExport = 3,
    /// TDH.EXPORT.PAUSE done: the TD's vCPUs cannot run.
    PausedExport = 4,
    /// The start token was exported: out-of-order phase.
    PostExport = 5,
    /// TDH.IMPORT.STATE.IMMUTABLE done: in-order memory import.
    MemoryImport = 6,
    /// TDH.IMPORT.STATE.TD done: vCPU state import.
    StateImport = 7,
    /// The start token was imported: out-of-order phase, the TD may not run yet.
    PostImport = 8,
    /// TDH.IMPORT.COMMIT done: the TD runs while out-of-order import continues.
    LiveImport = 9,
    /// An import failed or was aborted: only teardown remains.
    FailedImport = 10,
}

/// What TDH.MNG.INIT took from TD_PARAMS.
#[derive(Clone, Debug)]
pub(super) struct TdConfig {
    pub attributes: u64,
    pub xfam: u64,
    pub max_vcpus: u16,
    pub gpaw: bool,
    pub eptp: u64,
    pub config_flags: u64,
    pub tsc_frequency: u16,
    pub mr_config_id: Measurement,
    pub mr_owner: Measurement,
    pub mr_owner_config: Measurement,
    /// TDCS.CPUID_VALUES, in the CPUID table's lookup order (module/cpuid.rs).
    pub cpuid: Vec<CpuidValues>,
}

impl Default for TdConfig {
    fn default() -> TdConfig {
        TdConfig {
            attributes: 0,
            xfam: 0,
            max_vcpus: 0,
            gpaw: false,
            eptp: 0,
            config_flags: 0,
            tsc_frequency: 0,
            mr_config_id: [0; 48],
            mr_owner: [0; 48],
            mr_owner_config: [0; 48],
            cpuid: Vec::new(),
        }
    }
}

impl TdConfig {
    /// The level of the Secure-EPT root entries: 3 for 4-level EPT, 4 for 5-level.
    pub fn top_level(&self) -> u8 {
        ((self.eptp >> 3) & 7) as u8
    }
}

/// The TDX SEPT state of a present Secure-EPT entry. A missing entry is FREE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SeptState {
    /// Non-leaf, mapped (points to a SEPT page).
    NlMapped,
    /// Non-leaf, blocked.
    NlBlocked,
    /// Leaf, mapped: the guest can use the page.
    Mapped,
    /// Leaf, blocked.
    Blocked,
    /// Leaf, pending: added by TDH.MEM.PAGE.AUG, waiting for TDG.MEM.PAGE.ACCEPT.
    Pending,
    /// Leaf, pending and blocked.
    PendingBlocked,
}

impl SeptState {
    /// The architectural state the module reports in RDX bits 15:8 (`sept_special_flags_t
    /// .public_state`).
    pub fn public(self) -> u8 {
        match self {
            SeptState::Blocked => 1,
            SeptState::Pending => 2,
            SeptState::PendingBlocked => 3,
            SeptState::Mapped => 4,
            SeptState::NlBlocked => 0x81,
            SeptState::NlMapped => 0x84,
        }
    }

    pub fn is_leaf(self) -> bool {
        !matches!(self, SeptState::NlMapped | SeptState::NlBlocked)
    }

    pub fn is_blocked(self) -> bool {
        matches!(
            self,
            SeptState::NlBlocked | SeptState::Blocked | SeptState::PendingBlocked
        )
    }
}

/// One present Secure-EPT entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Septe {
    pub state: SeptState,
    /// The page it maps (leaf) or the SEPT page it points to (non-leaf).
    pub hpa: u64,
}

/// A TD: its TDR, TDCS and Secure EPT.
pub(super) struct Td {
    pub hkid: u16,
    pub lifecycle: Lifecycle,
    pub fatal: bool,
    /// The TDCS pages (TDH.MNG.ADDCX), in order.
    pub tdcx: Vec<u64>,
    /// Pages of any kind the TD owns besides the TDR.
    pub chldcnt: u64,
    pub op_state: OpState,
    pub config: TdConfig,
    pub num_vcpus: u32,
    pub num_assoc_vcpus: u32,
    pub measurement: MrtdBuilder,
    pub mrtd: Measurement,
    pub rtmr: [Measurement; 4],
    /// Present Secure-EPT entries by (level, GPA aligned to the level).
    pub sept: BTreeMap<(u8, u64), Septe>,
    pub td_epoch: u64,
    pub uuid: [u64; 4],
    /// Values of metadata fields the host or guest may write, by element.
    pub stored: HashMap<u64, u64>,
    pub x2apic_ids: Vec<u32>,
    /// Migration: service-TD binding, keys, streams, epochs and per-page export state.
    pub mig: super::host::MigTd,
}

impl Td {
    pub fn new(hkid: u16, uuid: [u64; 4]) -> Td {
        Td {
            hkid,
            lifecycle: Lifecycle::HkidAssigned,
            fatal: false,
            tdcx: Vec::new(),
            chldcnt: 0,
            op_state: OpState::Uninitialized,
            config: TdConfig::default(),
            num_vcpus: 0,
            num_assoc_vcpus: 0,
            measurement: MrtdBuilder::new(),
            mrtd: [0; 48],
            rtmr: [[0; 48]; 4],
            sept: BTreeMap::new(),
            td_epoch: 1,
            uuid,
            stored: HashMap::default(),
            x2apic_ids: Vec::new(),
            mig: Default::default(),
        }
    }

    /// The stored value of a writable metadata element, or `default`.
    pub fn stored(&self, element: u64, default: u64) -> u64 {
        self.stored.get(&element).copied().unwrap_or(default)
    }

    /// The shared bit of a GPA for this TD.
    pub fn shared_bit(&self) -> u64 {
        1 << if self.config.gpaw { 51 } else { 47 }
    }
}

/// `vcpu_state` of a TDVPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum VcpuState {
    Uninitialized = 0,
    Ready = 2,
    /// Can never run again (the guest program went away).
    Disabled = 5,
}

/// How the vCPU last left the TD (`last_td_exit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LastExit {
    /// An asynchronous exit (or none yet).
    Async,
    /// TDG.VP.VMCALL with this control value (guest RCX).
    Tdvmcall { control: u64 },
}

/// The exit a guest-side call produced, for the host's TDH.VP.ENTER.
#[derive(Clone, Copy, Debug)]
pub(super) struct ExitRecord {
    /// RAX, RCX, RDX, RBX, RBP, RSI, RDI, R8-R15 as the host gets them.
    pub registers: crate::emu::Registers,
    /// XMM values for the host (selected ones; others 0), `None` to leave host XMMs alone.
    pub xmm: Option<[u128; 16]>,
    /// NO_RBP_MOD and RBP not selected: the VMM keeps its RBP.
    pub keep_host_rbp: bool,
}

/// What the host's TDH.VP.ENTER hands the guest blocked in TDG.VP.VMCALL.
#[derive(Clone, Copy, Debug)]
pub(super) struct Resume {
    /// The VMM's value of every GPR (hardware order); the guest takes the selected ones.
    pub gprs: [u64; 16],
    /// The VMM's XMM values at the TDH.VP.ENTER.
    pub xmm: Option<[u128; 16]>,
}

/// The meeting point of a host thread in TDH.VP.ENTER and the guest thread of the vCPU.
#[derive(Debug, Default)]
pub(super) struct Bridge {
    /// The LP whose TDH.VP.ENTER is running the vCPU now.
    pub inside: Option<u32>,
    /// The exit the guest side produced, waiting for the host.
    pub exit: Option<ExitRecord>,
    /// The host's values for the guest blocked in TDG.VP.VMCALL.
    pub resume: Option<Resume>,
    /// The guest program dropped its [`VirtualCpu`](super::VirtualCpu).
    pub guest_detached: bool,
    /// The vCPU can never run again (TD torn down): blocked guest calls end with #UD.
    pub gone: bool,
}

/// A vCPU: its TDVPS.
pub(super) struct Vcpu {
    /// Unique over the module's life (a TDVPR page reused by a later TDH.VP.CREATE gets a
    /// new serial): what a [`VirtualCpu`](super::VirtualCpu) binds to.
    pub serial: u64,
    pub tdr: u64,
    /// TDVPS pages, the TDVPR first.
    pub tdvps_pages: Vec<u64>,
    pub state: VcpuState,
    pub index: u32,
    pub assoc_lp: Option<u32>,
    pub initial_rcx: u64,
    pub last_exit: LastExit,
    pub stored: HashMap<u64, u64>,
    pub bridge: Bridge,
}

impl Vcpu {
    pub fn stored(&self, element: u64, default: u64) -> u64 {
        self.stored.get(&element).copied().unwrap_or(default)
    }
}

/// Everything the module keeps.
pub(super) struct State {
    pub platform: Platform,
    pub memory: Memory,
    pub kot: HashMap<u16, KotState>,
    pub tds: HashMap<u64, Td>,
    pub vcpus: HashMap<u64, Vcpu>,
    /// Private HKID range [start, end).
    pub private_hkids: (u16, u16),
    /// CMRs as (base, size).
    pub cmrs: Vec<(u64, u64)>,
    /// A per-instance secret for report MACs and UUIDs.
    pub secret: [u8; 32],
    pub uuid_counter: u64,
    /// The serial of the last vCPU created.
    pub vcpu_serial: u64,
    /// The test seam of [`SoftwareModule::inject_panic`](super::SoftwareModule::inject_panic):
    /// the next call of this leaf panics inside the model.
    pub inject_panic: Option<crate::leaf::Leaf>,
    /// The CPUID table and rules of `Config::cpuid_version` (module/cpuid.rs).
    pub cpuid: &'static crate::cpuid::CpuidTable,
    /// The module the model is (`Config::module_version`).
    pub version: crate::leaf::ModuleVersion,
}
