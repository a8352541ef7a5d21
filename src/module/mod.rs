//! A software TDX module (feature `software-module`): a stateful model of TDX module 1.5.05
//! or 2.0.18 ([`Config::module_version`]) that host (VMM) and guest (TD kernel) code built on
//! this crate runs against: trapped on any x86-64 Linux machine, and through the in-process
//! [`Direct`] backend on any std target (see "What needs Linux and x86-64" below).
//!
//! It plugs into the trap-and-emulate backend ([`emu`](crate::emu)): the real thunks execute
//! SEAMCALL and TDCALL, the CPU raises #UD, and the crate's signal handler hands the call to
//! the model installed on that thread. Every wrapper and every fault path runs as on a real
//! machine; only the module is replaced.
//!
//! # What is modelled
//!
//! - **Platform**: TDH.SYS.INIT, TDH.SYS.LP.INIT per logical processor, TDH.SYS.CONFIG
//!   (TDMR_INFO checks, global HKID), TDH.SYS.KEY.CONFIG, TDH.SYS.TDMR.INIT (resumable, 256
//!   MiB per call), the TDX_SYS_NOT_READY gate, TDH.SYS.RD / RDALL over the global metadata
//!   fields (version, TDX_FEATURES0, CMRs, sizes, ATTRIBUTES/XFAM/CONFIG_FLAGS fixed bits,
//!   the CPUID_CONFIG_LEAVES/VALUES of [`Config::cpuid_version`]; see [`platform`]).
//! - **TDs**: TDH.MNG.CREATE / KEY.CONFIG / ADDCX / INIT (TD_PARAMS checks, CPUID_CONFIG
//!   and TDCS.CPUID_VALUES through [`crate::cpuid`]), VP.CREATE / ADDCX / INIT, MEM.SEPT.ADD, MEM.PAGE.ADD,
//!   MR.EXTEND, MR.FINALIZE, MEM.PAGE.AUG, RANGE.BLOCK / UNBLOCK, TRACK, PAGE.REMOVE,
//!   SEPT.RD, VP.FLUSH, MNG.VPFLUSHDONE, PHYMEM.CACHE.WB, MNG.KEY.FREEID, PHYMEM.PAGE.RDMD /
//!   RECLAIM, MNG.RD/WR and VP.RD/WR.
//! - **Pages**: the PAMT per 4 KiB page (type, owner, BEPOCH) and the Secure EPT per TD;
//!   misuse gets the module's status with the operand ID the module names.
//! - **Measurement**: MRTD exactly as the module hashes it ([`MrtdBuilder`] computes it
//!   offline); RTMRs; TDG.MR.REPORT writes a TDREPORT_STRUCT carrying them.
//! - **Guest**: TDG.VP.VMCALL (a TD exit of the host's TDH.VP.ENTER with exactly the
//!   registers the guest exposed), TDG.VP.INFO, TDG.VM.RD, TDG.SYS.RD, TDG.MR.REPORT,
//!   TDG.MR.RTMR.EXTEND, TDG.MEM.PAGE.ACCEPT (accepting, already accepted, size mismatch, or
//!   an EPT-violation exit to the VMM that re-runs the accept after the next entry).
//!
//! - **Versions**: [`Config::module_version`] is 1.5.05 (the default) or 2.0.18
//!   ([`Config::for_version`] sets the CPUID side to the same version). TDH.SYS.RD reports
//!   that version, its TDX_FEATURES0 (only what the model implements:
//!   [`platform::tdx_features0`]) and the global fields that version's field table has
//!   (2.0.18 adds PAMT_PAGE_BITMAP_ENTRY_BITS). The dispatchers accept exactly the leaves and
//!   leaf versions the leaf table gives the configured version; anything else is
//!   TDX_OPERAND_INVALID(RAX), as that module answers it.
//! - **Dynamic PAMT** (2.0.18): TDH.SYS.CONFIG version 1 with R8 bit 16 enables it; then the
//!   4 KiB-level PAMT of a 2 MiB range exists only after TDH.PHYMEM.PAMT.ADD gave it a page
//!   pair. A leaf that takes a free page from a range without one (MNG.CREATE, MNG.ADDCX,
//!   VP.CREATE, VP.ADDCX, MEM.SEPT.ADD, MEM.PAGE.ADD, MEM.PAGE.AUG) answers
//!   TDX_MISSING_PAMT_PAGE_PAIR with the page's operand ID; TDH.PHYMEM.PAMT.REMOVE returns the
//!   pair (RDX, R8) once no page of the range is in use (else TDX_PAMT_PAGE_NOT_EMPTY); and
//!   TDH.PHYMEM.PAGE.RECLAIM sets R9 bit 62 (the removal hint) when it frees a range's last
//!   page. The source files and what is not modelled are listed in `module/host/pamt.rs`;
//!   SYS.CONFIG version 0 keeps R8 bit 16 reserved (how the 2.0.18 dispatcher passes R8 for
//!   version 0 was not read: **UNVERIFIED**), and the removal hint of TDH.MEM.PAGE.REMOVE is
//!   not modelled.

//! - **Migration** between two [`SoftwareModule`]s (two platforms): TDH.MIG.STREAM.CREATE,
//!   TDH.SERVTD.PREBIND/BIND and the migration TD's TDG.SERVTD.RD/WR (the migration keys),
//!   every TDH.EXPORT.* and TDH.IMPORT.* leaf with the module's op-state machine (live,
//!   paused and post export; memory, state, post, live and failed import), epochs, BLOCKW /
//!   UNBLOCKW and re-export of dirtied pages, GPA lists with per-entry statuses, MBMDs and
//!   MAC lists under AES-256-GCM, abort and restore on both sides; the twelve AES-GCM leaves
//!   reset the caller's SSE/AVX/AVX-512 state to INIT in its signal frame. The file docs of
//!   `host/mig.rs` say what follows the module source and what is the model's own; the
//!   README section "Live migration between two software modules" gives the flow and what is
//!   not modelled; `examples/migrate.rs` runs it.
//!
//! Leaves outside this list (TD partitioning, page relocation and promotion, debug memory
//! access, module update; with 2.0.18 also memory scan, TDH.MEM.SHARED.SEPT.WR and
//! TDG.MR.KEY.GET) are answered as a module that does not implement them:
//! TDX_OPERAND_INVALID with operand RAX. 2 MiB private pages are not
//! modelled (TDH.MEM.PAGE.AUG takes level 0 only); debug TDs read metadata with the
//! production masks.
//!
//! # Threads
//!
//! Create a [`SoftwareModule`] (cheap to clone; clones share the module), then:
//!
//! - on each host thread, install a [`LogicalProcessor`] with
//!   [`emu::install`](crate::emu::install): that thread is logical processor *n*. Each LP
//!   runs TDH.SYS.LP.INIT once; the machine has one package.
//! - on each guest thread, install the [`VirtualCpu`] of a TDVPR: that thread is the vCPU's
//!   code. Its TDCALLs run while a host thread has the vCPU entered with TDH.VP.ENTER; the
//!   bridge protocol (what blocks, what releases a blocked guest) is described in
//!   [`bridge_protocol`].
//!
//! # Trapped or direct
//!
//! The models above answer trapped instructions. The same models also run without a trap:
//! [`Direct`] is a [`Backend`](crate::call::Backend) that calls a [`LogicalProcessor`]
//! ([`SoftwareModule::direct_host`]) or a [`VirtualCpu`] ([`SoftwareModule::direct_guest`])
//! in-process, with the statuses, registers and blocking protocol of the trapped path and
//! 52-75x its calls per second (BENCHMARKS.md); host and guest threads may use either, mixed, on one
//! module. The trapped path stays the default, the one that proves the thunks. Without a
//! signal frame, the model's extended-state access goes to an in-memory FXSAVE image owned
//! by the backend (or to nothing); see [`Direct`].
//!
//! ## What needs Linux and x86-64
//!
//! Only the trap glue, which is `cfg(all(target_os = "linux", target_arch = "x86_64"))`:
//!
//! - in `emu`: the signal-handler hook, the per-thread model slot, [`emu::install`](crate::emu::install)
//!   and its guard, the alternate signal stack, the thunk addresses, `ucontext_t`
//!   (`emu/trap.rs`, `emu/trap/stack.rs`), and [`ExtendedState`](crate::emu::ExtendedState)'s
//!   signal-frame view with the XSAVE layout from CPUID leaf 0xD (`emu/xstate/frame.rs`);
//! - here: the CPUID trap ([`CpuidTrap`], [`VeFrame`], [`VeHandler`],
//!   [`cpuid_faulting_enabled`]: `arch_prctl` CPUID faulting and the #VE frame,
//!   `module/cpuid_trap.rs`), and [`SoftwareModule::platform`], which installs the LP
//!   models and calls through `Host::native`.
//!
//! Everything else builds on any std target with `--features software-module`: the
//! platform and TD state machines, the PAMT and memory with its keys, the Secure EPT,
//! metadata, MRTD ([`MrtdBuilder`]), migration, the bridge (std `Mutex`/`Condvar`), the
//! models ([`LogicalProcessor`], [`VirtualCpu`]), [`GuestMemory`], the builders'
//! [`PageSource`](crate::host::builder::PageSource), [`SoftwareModule::guest_cpuid`], and
//! [`Direct`] with [`SoftwareModule::direct_host`] and [`SoftwareModule::direct_guest`],
//! over the emulator's portable data types (`Call`, `Outcome`, `Registers`, the
//! legacy-image `ExtendedState`). There the platform comes up with `PlatformBuilder` over
//! `Host::new(module.direct_host(0))` (and LP.INIT through `direct_host(n)` for the other
//! LPs), and a guest thread runs over `Guest::new(module.direct_guest(tdvpr))`; without the
//! CPUID trap no CPUID #VE is ever pending, so TDG.VP.VEINFO.GET answers
//! TDX_NO_VALID_VE_INFO. The unit test `module::direct::tests` runs a TD's whole life that
//! way. Checked by `.ci/run`: `cargo check --target aarch64-unknown-linux-gnu` with
//! `--all-features`, `--features software-module`, `--features emulator`,
//! `--no-default-features` and the default features, and clippy over the library and its
//! tests for that target, all with `-D warnings`. Built and type-checked only: nothing runs
//! on aarch64 in CI (no aarch64 machine or emulator there).
//!
//! # Memory
//!
//! The model owns the machine's physical memory: one CMR ([`Config::memory_base`],
//! [`Config::memory_size`]), sparse, zero-filled. Host code takes pages with
//! [`SoftwareModule::alloc_page`], writes source pages and structures with
//! [`SoftwareModule::write`] (and [`SoftwareModule::write_td_params`],
//! [`SoftwareModule::write_tdmr_info`]), and passes their HPAs to the wrappers.
//! [`SoftwareModule::tdmr`] describes a TDMR over the whole CMR with its PAMT in a reserved
//! area at the start. A guest program reads and writes its TD's private memory by GPA
//! through [`GuestMemory`].
//!
//! ## Keys, and the host-key rule
//!
//! Every 64-byte line remembers the key it was last written with: the host's (any KeyID
//! below the first private HKID), a TD's private HKID, or the module's global private HKID
//! (the TDR). The KeyID of a physical address is in its top bits below MAX_PA (52): the
//! fewest bits that hold the last private HKID, from [`SoftwareModule::keyid_shift`] up
//! (bits 51:46 with the default HKIDs 32..64).
//!
//! **The host-key rule.** Every host-memory ("shared HPA") operand the module reads or
//! writes is accessed as hardware accesses it: with the KeyID in the operand's own HKID bits,
//! a host key. That gives:
//!
//! - *Where the module checks the operand* (`shared_hpa_check_with_pwr_2_alignment` in the
//!   module source: alignment, below MAX_PA, no SEAMRR overlap, a KeyID below the first
//!   private HKID), a failed check is TDX_OPERAND_INVALID with the operand's ID, before
//!   anything is read or written. The module does not ask the PAMT who owns the page.
//! - *A host-key read* of a line written with a private key gives zeros: never the TD's (or
//!   the module's) plaintext. Other lines read as written.
//! - *A host-key write* replaces the lines it touches; the rest of a line it writes in part
//!   reads as zeros. A line that held a TD's data is no longer the TD's: the TD's next read
//!   of it with its key fails its integrity check (consumes poison, a machine check). The
//!   TD's data is never changed silently.
//! - *A machine check in a TD* kills it: the TD is marked FATAL (TD-scope SEAMCALLs other
//!   than teardown answer TDX_TD_FATAL); a vCPU running it leaves with TDH.VP.ENTER returning
//!   TDX_NON_RECOVERABLE_TD; its guest threads' TDCALLs raise #UD from then on; a
//!   [`GuestMemory`] read reports [`GuestMemoryError::IntegrityFailure`].
//!
//! Where these come from: the operand checks, their order and the mapping of each operand
//! with its own KeyID, from the module source (`shared_hpa_check` in `helpers.c`;
//! `tdh_mem_page_add.c`; `tdh_mng_init.c` at 1.5.05; `tdh_sys_config.c` and
//! `tdh_sys_rdall.c` read at 2.0.08). The line behaviour, from the TDX memory-integrity
//! rules (each line of a TD's memory carries TD ownership, and with cryptographic integrity
//! a MAC: a read with a non-TD KeyID returns zeros, a write with one takes the line from the
//! TD, and the TD's next read of it is poisoned); Linux documents the poisoning of partial
//! writes as an erratum. **UNVERIFIED** (no primary source seen here): the zero pattern
//! under every integrity mode, and the exact TD exit and status the module gives after a TD
//! consumes poison (the model uses TDX_NON_RECOVERABLE_TD without an exit reason, and
//! TDX_TD_FATAL for a SEAMCALL that consumes it).
//!
//! ## What each operand gets
//!
//! | Leaf | Operand | Access | Check, status | From a TD's (or the module's) page |
//! |---|---|---|---|---|
//! | TDH.MEM.PAGE.ADD | R9 source page | host-key read | shared HPA, 4 KiB aligned: OPERAND_INVALID(R9) | the new page holds zeros, never the owner's plaintext |
//! | TDH.MNG.INIT | RDX TD_PARAMS | host-key read | shared HPA, 1024 aligned: OPERAND_INVALID(RDX) | zeros: the TD_PARAMS checks fail (XFAM 0: OPERAND_INVALID(XFAM)) |
//! | TDH.SYS.CONFIG | RCX TDMR_INFO pointer array, and each pointer | host-key read | shared HPA, 512 aligned: OPERAND_INVALID(RCX) | (no TD exists before SYS.CONFIG) |
//! | TDH.SYS.RDALL | RDX list page | host-key write | shared HPA, 4 KiB aligned: OPERAND_INVALID(RDX) | the TD loses the lines written; its next read of them is an integrity failure |
//! | TDH.SERVTD.PREBIND | RDX hash | host-key read | shared HPA, 64 aligned: OPERAND_INVALID(RDX) | zeros: a hash that matches no service TD |
//! | migration leaves | R8 MBMD; R9 buffer or page list and the pages it names; R11/R12 MAC lists; RCX GPA list; R13 new-page list | host-key reads and writes | shared HPA (MBMD 128 aligned, the rest 4 KiB): OPERAND_INVALID with that operand | a read gives zeros (the bundle fails its MAC); a write takes the lines from the TD as above |
//! | TDH.SYS.INFO (RCX, R8 outputs) | shared HPA | not modelled: the leaf answers OPERAND_INVALID(RAX) | — | — |
//!
//! Accesses with a TD's key (the TD's own memory, through its Secure EPT): TDH.MEM.PAGE.ADD
//! writes the target page; TDH.MR.EXTEND reads the chunk (a poisoned chunk kills the TD:
//! TDX_TD_FATAL); TDG.MR.RTMR.EXTEND and TDG.MR.REPORT read their data and TDG.MR.REPORT
//! writes the report (a poisoned line kills the TD as above); TDG.MEM.PAGE.ACCEPT zeroes the
//! page; [`GuestMemory`] reads and writes. The module initializes TDCS, TDVPS and Secure-EPT
//! pages with the TD's key and the TDR with its global key, so the host reads them as zeros
//! too.
//!
//! The host's own access ([`SoftwareModule::read`], [`SoftwareModule::write`]) refuses a page
//! the PAMT gives to the module or a TD ([`MemoryError::NotHostOwned`], a convenience:
//! hardware would let the access happen under the rule above), and otherwise follows the
//! host-key rule: a page removed or reclaimed from a TD reads as zeros until the host writes
//! it.
//!
//! Not modelled: the SEAMRR overlap check (the model has no SEAMRR); distinct MKTME keys
//! among the shared KeyIDs (they all act as the one host key); a TD's partial write over a
//! poisoned line (the model lets the TD take the line, the rest zero).

mod bridge;
/// The bridge between a guest thread and the host thread that runs its vCPU with
/// TDH.VP.ENTER: what blocks, and what releases a blocked guest.
///
#[doc = include_str!("bridge_protocol.md")]
pub mod bridge_protocol {}
mod builders;
mod cpuid;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod cpuid_trap;
pub mod direct;
mod host;
mod memory;
mod metadata;
mod mrtd;
pub mod platform;
mod state;

pub use self::bridge::report_from_bytes;
pub use self::direct::{Direct, DirectGuest, DirectHost, VECTOR_IMAGE_SIZE};
pub use self::host::MigStats as MigrationStats;
pub use self::memory::MemoryError;
pub use self::mrtd::{Measurement, MrtdBuilder, MR_EXTEND_CHUNK};

pub use self::cpuid::values_field_id as cpuid_values_field_id;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub use self::cpuid_trap::{
    cpuid_faulting_enabled, CpuidFaultingUnavailable, CpuidTrap, VeFrame, VeHandler,
};
use self::memory::Memory;
use self::state::{Platform, State, SysPhase};
use crate::abi::report::TdReport;
use crate::abi::sysinfo::{TdmrInfo, TdmrReservedArea};
use crate::abi::td_params::TdParams;
use crate::abi::{GuestPhysAddr, HostPhysAddr, TdrPage, TdvprPage};
use crate::call::CallKind;
use crate::emu::{Call, Fault, Model, Outcome};
use crate::leaf::{Leaf, Side};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::vec::Vec;

const PAGE_SIZE: u64 = 4096;

/// How the software module's machine looks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Logical processors (host threads that may act as LPs). Default 2.
    pub logical_processors: u32,
    /// Base of the one CMR (1 GiB aligned). Default 4 GiB.
    pub memory_base: u64,
    /// Size of the CMR (a multiple of 1 GiB). Default 1 GiB.
    pub memory_size: u64,
    /// The HKIDs reserved for TDX (private HKIDs), `start..end`. Default 32..64.
    pub private_hkids: core::ops::Range<u16>,
    /// The module version whose CPUID table and rules the model uses (one of
    /// [`crate::cpuid::TABLES`]): TDH.SYS.RD's CPUID_CONFIG_LEAVES/VALUES, TDH.MNG.INIT's
    /// CPUID checks, TDCS.CPUID_VALUES. Default: the newest modelled (2.0.18), whatever
    /// [`Config::module_version`] says; [`Config::for_version`] sets both to one version.
    pub cpuid_version: crate::leaf::ModuleVersion,
    /// The module the model is: one of [`Config::MODULE_VERSIONS`] (1.5.05 or 2.0.18). It
    /// decides what TDH.SYS.RD reports (MAJOR/MINOR/UPDATE_VERSION, TDX_FEATURES0, which
    /// global fields exist), which leaves and leaf versions the dispatcher accepts (the leaf
    /// table's per-version columns), and, with 2.0.18, Dynamic PAMT (TDH.SYS.CONFIG version
    /// 1 with R8 bit 16, TDH.PHYMEM.PAMT.ADD/REMOVE). Default 1.5.05, the module the
    /// model has always been (its tests, the lifecycle example). Use
    /// [`Config::for_version`] to make one setting drive this and `cpuid_version`.
    pub module_version: crate::leaf::ModuleVersion,
}

impl Config {
    /// The module versions the model can be ([`Config::module_version`]).
    pub const MODULE_VERSIONS: [crate::leaf::ModuleVersion; 2] = [
        crate::leaf::ModuleVersion::V1_5_05,
        crate::leaf::ModuleVersion::V2_0_18,
    ];

    /// The default machine as module `version` (1.5.05 or 2.0.18): both
    /// [`Config::module_version`] and [`Config::cpuid_version`] are `version`.
    pub fn for_version(version: crate::leaf::ModuleVersion) -> Config {
        Config {
            module_version: version,
            cpuid_version: version,
            ..Config::default()
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            logical_processors: 2,
            memory_base: 1 << 32,
            memory_size: 1 << 30,
            private_hkids: 32..64,
            cpuid_version: crate::cpuid::newest().version,
            module_version: crate::leaf::ModuleVersion::V1_5_05,
        }
    }
}

/// State shared by every handle of one module.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled whenever a vCPU's bridge changes.
    changed: Condvar,
    /// Threads waiting on `changed`; changed only under the `state` lock (see
    /// [`Shared::wait`]), so a reader holding the lock sees the exact count.
    waiting: AtomicUsize,
    config: Config,
}

impl Shared {
    /// Waits on `changed`, counted in `waiting`.
    fn wait<'g>(&self, state: MutexGuard<'g, State>) -> MutexGuard<'g, State> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        state
    }

    /// Whether a thread waits on `changed`. Exact when called with the `state` lock held: a
    /// thread that starts waiting later looks at the state first, under the lock, and so
    /// sees whatever the caller changed. Skipping the wake-up when nobody waits saves a
    /// futex system call per SEAMCALL.
    fn anyone_waiting(&self, _held: &MutexGuard<'_, State>) -> bool {
        self.waiting.load(Ordering::Relaxed) != 0
    }
}

/// A software TDX module: the state of one machine's module, shared by its handles.
#[derive(Clone)]
pub struct SoftwareModule {
    shared: Arc<Shared>,
}

impl core::fmt::Debug for SoftwareModule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoftwareModule")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// Bytes of PAMT the TDMR over the whole CMR needs, rounded up to pages: 4K, 2M, 1G levels.
fn pamt_sizes(memory_size: u64) -> [u64; 3] {
    let round = |bytes: u64| bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    [0u32, 9, 18]
        .map(|shift| round((memory_size / (PAGE_SIZE << shift)).max(1) * platform::PAMT_ENTRY_SIZE))
}

impl SoftwareModule {
    /// A module in its power-on state (waiting for TDH.SYS.INIT).
    ///
    /// # Panics
    ///
    /// If the configuration is unusable: no logical processor, a CMR not 1 GiB aligned or
    /// sized or not below 2^52 (MAX_PA), an empty HKID range, a CMR that reaches the KeyID
    /// bits of a physical address (see [`SoftwareModule::keyid_shift`]), a `cpuid_version`
    /// without a CPUID table, or a `module_version` not in [`Config::MODULE_VERSIONS`].
    pub fn new(config: Config) -> SoftwareModule {
        const GIB: u64 = 1 << 30;
        assert!(
            config.logical_processors > 0,
            "at least one logical processor"
        );
        assert!(
            config.memory_base % GIB == 0
                && config.memory_size % GIB == 0
                && config.memory_size > 0,
            "the CMR must be 1 GiB aligned and sized"
        );
        assert!(
            config
                .memory_base
                .checked_add(config.memory_size)
                .is_some_and(|end| end <= 1 << 52),
            "the CMR must end below 2^52"
        );
        assert!(!config.private_hkids.is_empty(), "private HKIDs needed");
        assert!(
            config
                .memory_base
                .checked_add(config.memory_size)
                .is_some_and(|end| (end - 1) >> memory::keyid_shift(config.private_hkids.end) == 0),
            "the CMR must lie below the KeyID bits"
        );
        let cpuid = crate::cpuid::table(config.cpuid_version)
            .expect("cpuid_version must be one of crate::cpuid::TABLES");
        assert!(
            Config::MODULE_VERSIONS.contains(&config.module_version),
            "module_version must be one of Config::MODULE_VERSIONS"
        );
        let reserved: u64 = pamt_sizes(config.memory_size).iter().sum();
        let mut secret = [0u8; 32];
        let seed = mrtd::sha384(&[
            &std::process::id().to_le_bytes(),
            &(Arc::as_ptr(&Arc::new(())) as usize).to_le_bytes(),
        ]);
        secret.copy_from_slice(&seed[..32]);
        let state = State {
            platform: Platform {
                phase: SysPhase::InitPending,
                lp_init: std::vec![false; config.logical_processors as usize],
                global_hkid: 0,
                package_key_configured: false,
            },
            memory: Memory::new(
                config.memory_base,
                config.memory_size,
                config.memory_base + reserved,
                (config.private_hkids.start, config.private_hkids.end),
            ),
            kot: Default::default(),
            tds: Default::default(),
            vcpus: Default::default(),
            private_hkids: (config.private_hkids.start, config.private_hkids.end),
            cmrs: std::vec![(config.memory_base, config.memory_size)],
            secret,
            uuid_counter: 0,
            vcpu_serial: 0,
            inject_panic: None,
            cpuid,
            version: config.module_version,
        };
        SoftwareModule {
            shared: Arc::new(Shared {
                state: Mutex::new(state),
                changed: Condvar::new(),
                waiting: AtomicUsize::new(0),
                config,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The model of logical processor `index`, to install on the host thread that acts as
    /// that LP.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`Config::logical_processors`].
    pub fn logical_processor(&self, index: u32) -> LogicalProcessor {
        assert!(
            index < self.shared.config.logical_processors,
            "logical processor {index} does not exist"
        );
        LogicalProcessor {
            shared: self.shared.clone(),
            index,
        }
    }

    /// The model of the vCPU at `tdvpr`, to install on the thread that runs its guest code.
    ///
    /// It belongs to the vCPU TDH.VP.CREATE made at `tdvpr` before this call, for life: once
    /// that vCPU is gone (its TD torn down, its TDVPR reclaimed, even if the page now holds
    /// another TD's vCPU) its TDCALLs raise #UD and dropping it touches no other vCPU. Made
    /// before TDH.VP.CREATE, it belongs to no vCPU and every TDCALL raises #UD.
    pub fn virtual_cpu(&self, tdvpr: TdvprPage) -> VirtualCpu {
        let id = bridge::current(&self.lock(), tdvpr.raw());
        VirtualCpu {
            shared: self.shared.clone(),
            tdvpr: tdvpr.raw(),
            id,
        }
    }

    /// **Test seam**: the next call of `leaf` (a SEAMCALL leaf on a [`LogicalProcessor`], a
    /// TDCALL leaf on a [`VirtualCpu`]) panics inside the model, as a bug in the model would.
    /// For tests of what a model panic does to the other threads: the panicking thread's call
    /// gets #UD and its guard re-raises the panic (see [`emu`](crate::emu)); every vCPU that
    /// LP runs or is associated with becomes unrunnable and guests waiting on it get #UD; a
    /// host in TDH.VP.ENTER of a vCPU whose model panicked gets TDX_NON_RECOVERABLE_VCPU. No
    /// thread stays blocked. Not for production use; no input of the module's ABI panics.
    pub fn inject_panic(&self, leaf: Leaf) {
        self.lock().inject_panic = Some(leaf);
    }

    /// Access to the private memory of the TD at `tdr`, by GPA.
    pub fn guest_memory(&self, tdr: TdrPage) -> GuestMemory {
        GuestMemory {
            shared: self.shared.clone(),
            tdr: tdr.raw(),
        }
    }

    /// A zeroed 4 KiB page of the model's memory for the host, `None` when memory is
    /// exhausted. The pages the TDMR's PAMT uses are never handed out.
    pub fn alloc_page(&self) -> Option<HostPhysAddr> {
        self.lock()
            .memory
            .alloc_page()
            .map(HostPhysAddr::from_raw_unchecked)
    }

    /// Returns a page from [`SoftwareModule::alloc_page`]. `false` if it was not allocated
    /// or the module still owns it (reclaim it first).
    pub fn free_page(&self, page: HostPhysAddr) -> bool {
        self.lock().memory.free_page(page.raw())
    }

    /// Writes host memory.
    ///
    /// # Errors
    ///
    /// [`MemoryError`] when the range leaves the model's memory or touches a page the module
    /// or a TD owns.
    pub fn write(&self, hpa: HostPhysAddr, bytes: &[u8]) -> Result<(), MemoryError> {
        let mut state = self.lock();
        state.memory.check_host_access(hpa.raw(), bytes.len())?;
        state.memory.host_write(hpa.raw(), bytes);
        Ok(())
    }

    /// Reads host memory with the host's key: lines a TD or the module wrote with a private
    /// key (a page reclaimed from a TD, say) read as zeros.
    ///
    /// # Errors
    ///
    /// As [`SoftwareModule::write`].
    pub fn read(&self, hpa: HostPhysAddr, out: &mut [u8]) -> Result<(), MemoryError> {
        let state = self.lock();
        state.memory.check_host_access(hpa.raw(), out.len())?;
        state.memory.host_read(hpa.raw(), out);
        Ok(())
    }

    /// Writes `values` as little-endian u64s at `hpa` (a TDMR_INFO pointer array, say).
    ///
    /// # Errors
    ///
    /// As [`SoftwareModule::write`].
    pub fn write_u64s(&self, hpa: HostPhysAddr, values: &[u64]) -> Result<(), MemoryError> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.write(hpa, &bytes)
    }

    /// Writes a TD_PARAMS structure (1024 bytes) at `hpa`.
    ///
    /// # Errors
    ///
    /// As [`SoftwareModule::write`].
    pub fn write_td_params(&self, hpa: HostPhysAddr, params: &TdParams) -> Result<(), MemoryError> {
        // SAFETY: TdParams is repr(C), 1024 bytes of integers and byte arrays whose offsets
        // (checked in `abi::td_params`) leave no padding, so every byte is initialized.
        let bytes: [u8; TdParams::SIZE] = unsafe { core::mem::transmute_copy(params) };
        self.write(hpa, &bytes)
    }

    /// Writes a TDMR_INFO entry (its 320 bytes of fields; the padding up to 512 is left
    /// alone) at `hpa`.
    ///
    /// # Errors
    ///
    /// As [`SoftwareModule::write`].
    pub fn write_tdmr_info(&self, hpa: HostPhysAddr, tdmr: &TdmrInfo) -> Result<(), MemoryError> {
        self.write_u64s(hpa, &tdmr.to_words())
    }

    /// The lowest bit of the KeyID (HKID) field of a physical address on this machine: the
    /// KeyID bits are the fewest top bits below the 52-bit MAX_PA that hold every KeyID up
    /// to the last private HKID (bits 51:46 for the default 32..64). An HPA operand with a
    /// private HKID there is refused where the module checks for a shared HPA.
    pub fn keyid_shift(&self) -> u32 {
        memory::keyid_shift(self.shared.config.private_hkids.end)
    }

    /// The TDMR covering the whole CMR, its PAMT (4K, 2M, 1G levels, in that order) at the
    /// start of the TDMR inside reserved area 0.
    pub fn tdmr(&self) -> TdmrInfo {
        let config = &self.shared.config;
        let [size_4k, size_2m, size_1g] = pamt_sizes(config.memory_size);
        let base = config.memory_base;
        let mut tdmr = TdmrInfo {
            tdmr_base: HostPhysAddr::from_raw_unchecked(base),
            tdmr_size: config.memory_size,
            pamt_4k_base: HostPhysAddr::from_raw_unchecked(base),
            pamt_4k_size: size_4k,
            pamt_2m_base: HostPhysAddr::from_raw_unchecked(base + size_4k),
            pamt_2m_size: size_2m,
            pamt_1g_base: HostPhysAddr::from_raw_unchecked(base + size_4k + size_2m),
            pamt_1g_size: size_1g,
            ..TdmrInfo::default()
        };
        tdmr.reserved_areas[0] = TdmrReservedArea {
            offset: 0,
            size: size_4k + size_2m + size_1g,
        };
        tdmr
    }

    /// The MRTD of the TD at `tdr` (zero until TDH.MR.FINALIZE), `None` if there is no
    /// such TD. The same value TDH.MNG.RD and TDG.MR.REPORT give; this is the model's
    /// inspection door for tests and examples.
    pub fn mrtd(&self, tdr: TdrPage) -> Option<Measurement> {
        self.lock().tds.get(&tdr.raw()).map(|td| td.mrtd)
    }

    /// What the current (or last) migration session of the TD at `tdr` moved: pages
    /// exported or imported, of them again after being dirtied, epoch tokens and bundles
    /// (the model's counters). `None` if there is no TD there.
    pub fn migration_stats(&self, tdr: TdrPage) -> Option<MigrationStats> {
        let state = self.lock();
        state.tds.get(&tdr.raw()).map(|td| td.mig.stats)
    }

    /// The SERVTD_INFO_HASH of the TD at `tdr` as TDH.SERVTD.BIND computes it for
    /// `servtd_attr` (for TDH.SERVTD.PREBIND); `None` if there is no TD there.
    pub fn servtd_info_hash(&self, tdr: TdrPage, servtd_attr: u64) -> Option<Measurement> {
        self.lock().servtd_info_hash(tdr.raw(), servtd_attr)
    }
}

/// A host thread's logical processor: a [`Model`] answering SEAMCALL on that thread.
///
/// TDCALL on a host thread raises #UD, as outside a TD.
pub struct LogicalProcessor {
    shared: Arc<Shared>,
    index: u32,
}

impl LogicalProcessor {
    /// The LP's index.
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl core::fmt::Debug for LogicalProcessor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LogicalProcessor")
            .field("index", &self.index)
            .finish()
    }
}

impl Model for LogicalProcessor {
    fn call(&mut self, call: &mut Call<'_>) -> Outcome {
        match call.kind() {
            CallKind::Seamcall | CallKind::SeamcallScrub => {}
            CallKind::Tdcall | CallKind::Tdvmcall => return Outcome::Fault(Fault::Ud),
        }
        // Declared before the lock: on a panic it runs after the state guard is dropped.
        let (shared, index) = (&self.shared, self.index);
        let guard = bridge::OnUnwind::new(|| bridge::lp_panicked(shared, index));
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut registers = *call.registers();
        if let Some(leaf) = state.inject_panic {
            let called = Leaf::split_rax(registers.rax)
                .and_then(|(number, _)| Leaf::from_number(Side::Host, number));
            if called == Some(leaf) {
                state.inject_panic = None;
                panic!("software module: the panic injected at {leaf:?} (test seam)");
            }
        }
        let clobbers = Leaf::split_rax(registers.rax)
            .and_then(|(number, _)| Leaf::from_number(Side::Host, number))
            .is_some_and(Leaf::clobbers_vector_state);
        let outcome = match state.seamcall(index, &mut registers) {
            host::Seam::Done(status) => {
                let wake = shared.anyone_waiting(&state);
                drop(state);
                if clobbers {
                    reset_vector_state(call);
                }
                // A leaf may have released guest threads (TDH.MNG.VPFLUSHDONE, a TDVPR
                // reclaim): let them look.
                if wake {
                    shared.changed.notify_all();
                }
                registers.rax = status.raw();
                Outcome::Return(registers.with_status(status))
            }
            host::Seam::Enter { tdvpr } => bridge::vp_enter(shared, state, index, tdvpr, call),
        };
        guard.disarm();
        outcome
    }
}

/// What the module may do to the caller's vector state on the twelve AES-GCM migration
/// leaves: the model resets [`Components::VECTOR`](crate::xstate::Components::VECTOR) (SSE,
/// AVX, AVX-512; those in the signal frame, per XCR0) to INIT in the frame the kernel restores, on every completion of such a leaf,
/// success or error. A caller that did not save them (`Preserve::skip`) sees zeros; every
/// other `Preserve` restores them.
fn reset_vector_state(call: &mut Call<'_>) {
    if let Some(state) = call.extended_state() {
        let vector = crate::xstate::Components::VECTOR.bits();
        for component in (0..64).filter(|bit| vector & (1 << bit) != 0) {
            // A component the frame does not hold (not in XCR0) has nothing to reset.
            let _ = state.reset(component);
        }
    }
}

/// A guest thread's vCPU: a [`Model`] answering TDCALL and TDG.VP.VMCALL on that thread.
///
/// SEAMCALL on a guest thread raises #UD, as inside a TD. Dropping it (the guest program
/// ended) makes the vCPU unable to run: the host's TDH.VP.ENTER returns
/// TDX_NON_RECOVERABLE_VCPU. It belongs to one vCPU of one TD for life (see
/// [`SoftwareModule::virtual_cpu`]).
pub struct VirtualCpu {
    shared: Arc<Shared>,
    tdvpr: u64,
    /// The vCPU it belongs to; `None` if there was none at `tdvpr` when it was made.
    id: Option<bridge::VcpuId>,
}

impl VirtualCpu {
    /// The vCPU's TDVPR.
    pub fn tdvpr(&self) -> u64 {
        self.tdvpr
    }
}

impl core::fmt::Debug for VirtualCpu {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VirtualCpu")
            .field("tdvpr", &format_args!("{:#x}", self.tdvpr))
            .finish()
    }
}

impl Model for VirtualCpu {
    fn call(&mut self, call: &mut Call<'_>) -> Outcome {
        match call.kind() {
            CallKind::Tdcall | CallKind::Tdvmcall => {}
            CallKind::Seamcall | CallKind::SeamcallScrub => return Outcome::Fault(Fault::Ud),
        }
        let Some(id) = self.id else {
            return Outcome::Fault(Fault::Ud);
        };
        let shared = &self.shared;
        let guard = bridge::OnUnwind::new(|| bridge::vcpu_panicked(shared, id));
        let outcome = bridge::tdcall(shared, id, call);
        guard.disarm();
        outcome
    }
}

impl Drop for VirtualCpu {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            bridge::detach(&self.shared, id);
        }
    }
}

/// Why a guest-memory access failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GuestMemoryError {
    /// The TD does not exist (any more).
    NoSuchTd,
    /// The GPA is not a private page the TD has mapped and accepted (the guest would take
    /// an EPT violation or #VE).
    NotMapped {
        /// The first GPA that is not mapped.
        gpa: u64,
    },
    /// The read met a line the host overwrote with its key (a host-key write by a SEAMCALL
    /// into this TD's page): its integrity check failed, the TD took a machine check and is
    /// now FATAL (see the module docs, section "Memory").
    IntegrityFailure {
        /// The first GPA whose line failed the check.
        gpa: u64,
    },
    /// The write met a page a migration has write-blocked (TDH.EXPORT.BLOCKW, or exported
    /// and not yet unblocked). On hardware the write is an EPT violation: a TD exit the VMM
    /// answers with TDH.EXPORT.UNBLOCKW before the guest retries. The model's guest
    /// program sees this error instead and reports the GPA to its VMM (see
    /// `examples/migrate.rs`).
    WriteBlocked {
        /// The first write-blocked GPA (page aligned).
        gpa: u64,
    },
}

impl core::fmt::Display for GuestMemoryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GuestMemoryError::NoSuchTd => f.write_str("the TD does not exist"),
            GuestMemoryError::NotMapped { gpa } => {
                write!(f, "GPA {gpa:#x} is not mapped private memory of the TD")
            }
            GuestMemoryError::IntegrityFailure { gpa } => write!(
                f,
                "GPA {gpa:#x} failed its integrity check (the host wrote there); the TD is dead"
            ),
            GuestMemoryError::WriteBlocked { gpa } => {
                write!(f, "GPA {gpa:#x} is write-blocked for migration")
            }
        }
    }
}

impl std::error::Error for GuestMemoryError {}

/// A TD's private memory, as its guest code sees it: by GPA, only pages mapped in its
/// Secure EPT (added, or augmented and accepted). The guest-side view of the model's memory;
/// not for the host (whose accesses would see ciphertext).
#[derive(Clone)]
pub struct GuestMemory {
    shared: Arc<Shared>,
    tdr: u64,
}

impl core::fmt::Debug for GuestMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GuestMemory")
            .field("tdr", &format_args!("{:#x}", self.tdr))
            .finish()
    }
}

impl GuestMemory {
    /// Runs `each(state, hkid, gpa, hpa, range)` for each piece of `len` bytes at `gpa` that
    /// lies in one page, after translating it; stops at the first error.
    fn access(
        &self,
        gpa: GuestPhysAddr,
        len: usize,
        mut each: impl FnMut(
            &mut State,
            u16,
            u64,
            u64,
            core::ops::Range<usize>,
        ) -> Result<(), GuestMemoryError>,
    ) -> Result<(), GuestMemoryError> {
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut done = 0;
        while done < len {
            let address = gpa.raw() + done as u64;
            let td = state.tds.get(&self.tdr).ok_or(GuestMemoryError::NoSuchTd)?;
            let hkid = td.hkid;
            let hpa = bridge::translate(td, address)
                .ok_or(GuestMemoryError::NotMapped { gpa: address })?;
            let n = (PAGE_SIZE - (address % PAGE_SIZE)).min((len - done) as u64) as usize;
            let result = each(&mut state, hkid, address, hpa, done..done + n);
            if result.is_err() {
                drop(state);
                // A machine check may have released vCPU threads and host threads.
                self.shared.changed.notify_all();
                return result;
            }
            done += n;
        }
        Ok(())
    }

    /// Reads `out.len()` bytes at `gpa`, with the TD's key.
    ///
    /// # Errors
    ///
    /// [`GuestMemoryError`] when a page of the range is not mapped, or a line of it fails
    /// its integrity check (then the TD is dead: FATAL, its vCPUs stopped).
    pub fn read(&self, gpa: GuestPhysAddr, out: &mut [u8]) -> Result<(), GuestMemoryError> {
        let tdr = self.tdr;
        self.access(gpa, out.len(), |state, hkid, address, hpa, range| {
            state
                .memory
                .td_read(hkid, hpa, &mut out[range])
                .map_err(|poisoned| {
                    state.machine_check(tdr);
                    GuestMemoryError::IntegrityFailure {
                        gpa: address + (poisoned.hpa - hpa),
                    }
                })
        })
    }

    /// Writes `bytes` at `gpa`, with the TD's key.
    ///
    /// # Errors
    ///
    /// As [`GuestMemory::read`], for a page that is not mapped;
    /// [`GuestMemoryError::WriteBlocked`] for a page a migration write-blocked (nothing
    /// of the write from that page on is done).
    pub fn write(&self, gpa: GuestPhysAddr, bytes: &[u8]) -> Result<(), GuestMemoryError> {
        let tdr = self.tdr;
        self.access(gpa, bytes.len(), |state, hkid, address, hpa, range| {
            let page = address & !(PAGE_SIZE - 1);
            let blocked = state.tds[&tdr]
                .mig
                .pages
                .get(&page)
                .is_some_and(|p| p.write_blocked());
            if blocked {
                return Err(GuestMemoryError::WriteBlocked { gpa: page });
            }
            state.memory.td_write(hkid, hpa, &bytes[range]);
            Ok(())
        })
    }

    /// Reads the TDREPORT_STRUCT TDG.MR.REPORT wrote at `gpa`.
    ///
    /// # Errors
    ///
    /// As [`GuestMemory::read`].
    pub fn read_report(&self, gpa: GuestPhysAddr) -> Result<TdReport, GuestMemoryError> {
        let mut bytes = [0u8; 1024];
        self.read(gpa, &mut bytes)?;
        Ok(report_from_bytes(&bytes))
    }
}
