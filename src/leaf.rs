//! THE leaf table: every SEAMCALL and TDCALL leaf of TDX module 1.5, declared once.
//!
//! Everything about a leaf that is a number or a name comes from the one `leaf_table!`
//! invocation below: the [`Leaf`] enum with its `#[doc(alias)]` spec names, the leaf
//! numbers, the versions each leaf accepts, the module version it needs, the thunk it goes
//! through, whether the module runs AES-GCM in it (and so clobbers vector state),
//! [`Leaf::ALL`], lookup by number, and `Display`.
//!
//! Source: TDX module 1.5.01 `seamcall_leaf_opcode_t` / `tdcall_leaf_opcode_t`, checked
//! against 1.5.05 and 1.0.3. Leaf 42 (`TDH_MEM_SEPT_WR` in the enum) is never dispatched by
//! any of those modules and is left out; so is the debug-build-only TDDEBUGCONFIG (0xFE).

use crate::call::CallKind;
use crate::regs::RegSet;
use core::fmt;

/// The two sides of the TDX ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Host (VMM) to module: SEAMCALL, `TDH.*` leaves.
    Host,
    /// Guest (TD) to module: TDCALL, `TDG.*` leaves.
    Guest,
}

/// A TDX module version, for "needs at least" checks and docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Update version.
    pub update: u8,
}

impl ModuleVersion {
    /// TDX module 1.0 (1.0.3 is the version checked).
    pub const V1_0: ModuleVersion = ModuleVersion {
        major: 1,
        minor: 0,
        update: 3,
    };
    /// TDX module 1.5.01.
    pub const V1_5: ModuleVersion = ModuleVersion {
        major: 1,
        minor: 5,
        update: 1,
    };
    /// TDX module 1.5.05.
    pub const V1_5_05: ModuleVersion = ModuleVersion {
        major: 1,
        minor: 5,
        update: 5,
    };
}

impl fmt::Display for ModuleVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{:02}", self.major, self.minor, self.update)
    }
}

/// RAX bits 15:0: the leaf number.
pub const LEAF_NUMBER_MASK: u64 = 0xFFFF;
/// RAX bits 23:16: the leaf version.
pub const LEAF_VERSION_SHIFT: u32 = 16;

macro_rules! leaf_table {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $number:literal, $spec:literal, $side:ident, $kind:ident,
            since $since:ident, max_version $max_version:literal, v1_since $v1_since:ident,
            aes_gcm $aes:literal, regs $regs:ident;
    )*) => {
        /// A SEAMCALL or TDCALL leaf.
        ///
        /// Variant docs give the spec name, number, side and the module version needed.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Leaf {
            $(
                $(#[doc = $doc])*
                #[doc = ""]
                #[doc = concat!("`", $spec, "`, leaf ", stringify!($number), ".")]
                #[doc(alias = $spec)]
                $variant,
            )*
        }

        impl Leaf {
            /// Every leaf of the table, host leaves first, in leaf-number order.
            pub const ALL: &'static [Leaf] = &[$(Leaf::$variant),*];

            /// The leaf number (RAX bits 15:0).
            #[inline]
            pub const fn number(self) -> u16 {
                match self { $(Leaf::$variant => $number,)* }
            }

            /// The name the ABI specification uses, e.g. `"TDH.MEM.PAGE.ADD"`.
            pub const fn spec_name(self) -> &'static str {
                match self { $(Leaf::$variant => $spec,)* }
            }

            /// Host (SEAMCALL) or guest (TDCALL).
            #[inline]
            pub const fn side(self) -> Side {
                match self { $(Leaf::$variant => Side::$side,)* }
            }

            /// The thunk this leaf goes through.
            #[inline]
            pub const fn call_kind(self) -> CallKind {
                match self { $(Leaf::$variant => CallKind::$kind,)* }
            }

            /// The first module version that has this leaf.
            pub const fn since(self) -> ModuleVersion {
                match self { $(Leaf::$variant => ModuleVersion::$since,)* }
            }

            /// The highest leaf version (RAX bits 23:16) the leaf accepts.
            #[inline]
            pub const fn max_version(self) -> u8 {
                match self { $(Leaf::$variant => $max_version,)* }
            }

            /// The first module version that accepts leaf version 1, for versioned leaves.
            pub const fn v1_since(self) -> Option<ModuleVersion> {
                match self { $(Leaf::$variant => leaf_table!(@opt $v1_since),)* }
            }

            /// Whether the module runs AES-GCM in this leaf and zeroes XMM0-15 afterwards
            /// (the live-migration leaves, tdx-module-abi section 7): the wrappers preserve the
            /// caller's vector state around these.
            #[inline]
            pub const fn clobbers_vector_state(self) -> bool {
                match self { $(Leaf::$variant => $aes,)* }
            }

            /// The registers the typed wrappers move for this leaf
            /// ([`Backend::call_set`](crate::call::Backend::call_set)): every ABI input and
            /// output of the leaf lies in this set (tests/thunk_fit.rs checks it against the
            /// ABI reference). [`RegSet::Full`] for TDH.VP.ENTER, the leaves with operands in
            /// R12-R15, and TDG.VP.VMCALL, whose set follows from each call's exposed
            /// registers ([`RegSet::covering`]).
            #[inline(always)]
            pub const fn reg_set(self) -> RegSet {
                match self { $(Leaf::$variant => RegSet::$regs,)* }
            }
        }
    };
    (@opt none) => { None };
    (@opt $version:ident) => { Some(ModuleVersion::$version) };
}

leaf_table! {
    /// Enter a TD vCPU; returns on a TD exit.
    TdhVpEnter = 0, "TDH.VP.ENTER", Host, SeamcallScrub, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Full;
    /// Add a TDCS control-structure page to a TD.
    TdhMngAddcx = 1, "TDH.MNG.ADDCX", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Add and measure a private page before the TD is finalized.
    TdhMemPageAdd = 2, "TDH.MEM.PAGE.ADD", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Add a Secure-EPT page.
    TdhMemSeptAdd = 3, "TDH.MEM.SEPT.ADD", Host, Seamcall, since V1_0, max_version 1, v1_since V1_5, aes_gcm false, regs Args;
    /// Add a TDCX page to a vCPU.
    TdhVpAddcx = 4, "TDH.VP.ADDCX", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Relocate a private page to a new physical page.
    TdhMemPageRelocate = 5, "TDH.MEM.PAGE.RELOCATE", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Add a private page to a running TD (pending until the guest accepts it).
    TdhMemPageAug = 6, "TDH.MEM.PAGE.AUG", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Block a GPA range in the Secure EPT.
    TdhMemRangeBlock = 7, "TDH.MEM.RANGE.BLOCK", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Configure the TD's private key on the current package.
    TdhMngKeyConfig = 8, "TDH.MNG.KEY.CONFIG", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Create a TD from a TDR page and an HKID.
    TdhMngCreate = 9, "TDH.MNG.CREATE", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Create a vCPU from a TDVPR page.
    TdhVpCreate = 10, "TDH.VP.CREATE", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read a TD-scope metadata field.
    TdhMngRd = 11, "TDH.MNG.RD", Host, Seamcall, since V1_0, max_version 1, v1_since V1_5, aes_gcm false, regs Args;
    /// Read 8 bytes of a debug TD's private memory.
    TdhMemRd = 12, "TDH.MEM.RD", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Write a TD-scope metadata field.
    TdhMngWr = 13, "TDH.MNG.WR", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Write 8 bytes of a debug TD's private memory.
    TdhMemWr = 14, "TDH.MEM.WR", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Split a large private page into smaller ones.
    TdhMemPageDemote = 15, "TDH.MEM.PAGE.DEMOTE", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Extend MRTD with a 256-byte chunk of a TD page.
    TdhMrExtend = 16, "TDH.MR.EXTEND", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Finalize the TD's measurement.
    TdhMrFinalize = 17, "TDH.MR.FINALIZE", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Flush a vCPU's cached state from the current logical processor.
    TdhVpFlush = 18, "TDH.VP.FLUSH", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Confirm every vCPU of a TD has been flushed.
    TdhMngVpflushdone = 19, "TDH.MNG.VPFLUSHDONE", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Free the TD's HKID once its caches are written back.
    TdhMngKeyFreeid = 20, "TDH.MNG.KEY.FREEID", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Initialize a TD from TD_PARAMS.
    TdhMngInit = 21, "TDH.MNG.INIT", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Initialize a vCPU (v1: with its x2APIC ID).
    TdhVpInit = 22, "TDH.VP.INIT", Host, Seamcall, since V1_0, max_version 1, v1_since V1_5_05, aes_gcm false, regs Args;
    /// Merge smaller private pages into a large page.
    TdhMemPagePromote = 23, "TDH.MEM.PAGE.PROMOTE", Host, Seamcall, since V1_0, max_version 1, v1_since V1_5, aes_gcm false, regs Args;
    /// Read the PAMT metadata of a physical page.
    TdhPhymemPageRdmd = 24, "TDH.PHYMEM.PAGE.RDMD", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read a Secure-EPT entry.
    TdhMemSeptRd = 25, "TDH.MEM.SEPT.RD", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read a vCPU-scope metadata field.
    TdhVpRd = 26, "TDH.VP.RD", Host, Seamcall, since V1_0, max_version 1, v1_since V1_5, aes_gcm false, regs Args;
    /// Reclaim the TD's HKID (does nothing in 1.5; kept for compatibility).
    TdhMngKeyReclaimid = 27, "TDH.MNG.KEY.RECLAIMID", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Reclaim a physical page from a torn-down TD.
    TdhPhymemPageReclaim = 28, "TDH.PHYMEM.PAGE.RECLAIM", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Remove a private page from a TD.
    TdhMemPageRemove = 29, "TDH.MEM.PAGE.REMOVE", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Remove a Secure-EPT page.
    TdhMemSeptRemove = 30, "TDH.MEM.SEPT.REMOVE", Host, Seamcall, since V1_0, max_version 1, v1_since V1_5, aes_gcm false, regs Args;
    /// Configure the global private key on the current package.
    TdhSysKeyConfig = 31, "TDH.SYS.KEY.CONFIG", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Write TDSYSINFO_STRUCT and the CMR table to host memory.
    TdhSysInfo = 32, "TDH.SYS.INFO", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Global module initialization.
    TdhSysInit = 33, "TDH.SYS.INIT", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read a global metadata field.
    TdhSysRd = 34, "TDH.SYS.RD", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Per-logical-processor module initialization.
    TdhSysLpInit = 35, "TDH.SYS.LP.INIT", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Initialize part of a TDMR's PAMT (resumable).
    TdhSysTdmrInit = 36, "TDH.SYS.TDMR.INIT", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read global metadata fields into a list page.
    TdhSysRdall = 37, "TDH.SYS.RDALL", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Increment the TD's TLB epoch.
    TdhMemTrack = 38, "TDH.MEM.TRACK", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Unblock a blocked GPA range.
    TdhMemRangeUnblock = 39, "TDH.MEM.RANGE.UNBLOCK", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Write back and invalidate caches for HKIDs being freed (resumable).
    TdhPhymemCacheWb = 40, "TDH.PHYMEM.CACHE.WB", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Write back and invalidate one page's cache lines for an HKID.
    TdhPhymemPageWbinvd = 41, "TDH.PHYMEM.PAGE.WBINVD", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Write a vCPU-scope metadata field.
    TdhVpWr = 43, "TDH.VP.WR", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Shut the module down on the current logical processor.
    TdhSysLpShutdown = 44, "TDH.SYS.LP.SHUTDOWN", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Configure the TDMRs and the global private HKID.
    TdhSysConfig = 45, "TDH.SYS.CONFIG", Host, Seamcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Bind a service TD to a target TD.
    TdhServtdBind = 48, "TDH.SERVTD.BIND", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Full;
    /// Pre-bind a service TD (by its info hash) to a target TD.
    TdhServtdPrebind = 49, "TDH.SERVTD.PREBIND", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Prepare the module for a TD-preserving update.
    TdhSysShutdown = 52, "TDH.SYS.SHUTDOWN", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Resume after a TD-preserving update.
    TdhSysUpdate = 53, "TDH.SYS.UPDATE", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Abort an export session.
    TdhExportAbort = 64, "TDH.EXPORT.ABORT", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// Write-block private pages for export.
    TdhExportBlockw = 65, "TDH.EXPORT.BLOCKW", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Restore pages whose export was cancelled.
    TdhExportRestore = 66, "TDH.EXPORT.RESTORE", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Export private pages, encrypted, to a migration stream.
    TdhExportMem = 68, "TDH.EXPORT.MEM", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Full;
    /// Pause the TD for the final export phase.
    TdhExportPause = 70, "TDH.EXPORT.PAUSE", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// End an export epoch (or the in-order phase).
    TdhExportTrack = 71, "TDH.EXPORT.TRACK", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// Export the TD's immutable state.
    TdhExportStateImmutable = 72, "TDH.EXPORT.STATE.IMMUTABLE", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// Export the TD-scope mutable state.
    TdhExportStateTd = 73, "TDH.EXPORT.STATE.TD", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// Export one vCPU's mutable state.
    TdhExportStateVp = 74, "TDH.EXPORT.STATE.VP", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// Remove the write block of an exported page.
    TdhExportUnblockw = 75, "TDH.EXPORT.UNBLOCKW", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Abort an import session.
    TdhImportAbort = 80, "TDH.IMPORT.ABORT", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// End an import session.
    TdhImportEnd = 81, "TDH.IMPORT.END", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Commit an import: the TD may run.
    TdhImportCommit = 82, "TDH.IMPORT.COMMIT", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Import private pages from a migration stream.
    TdhImportMem = 83, "TDH.IMPORT.MEM", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Full;
    /// Process an epoch token from a migration stream.
    TdhImportTrack = 84, "TDH.IMPORT.TRACK", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// Import the TD's immutable state.
    TdhImportStateImmutable = 85, "TDH.IMPORT.STATE.IMMUTABLE", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// Import the TD-scope mutable state.
    TdhImportStateTd = 86, "TDH.IMPORT.STATE.TD", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// Import one vCPU's mutable state.
    TdhImportStateVp = 87, "TDH.IMPORT.STATE.VP", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm true, regs Args;
    /// Create a migration stream context from a MIGSC page.
    TdhMigStreamCreate = 96, "TDH.MIG.STREAM.CREATE", Host, Seamcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;

    /// Call the VMM (GHCI TDVMCALL): exposes selected registers to the host.
    TdgVpVmcall = 0, "TDG.VP.VMCALL", Guest, Tdvmcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Full;
    /// Read the TD's execution environment (GPA width, attributes, vCPU counts).
    TdgVpInfo = 1, "TDG.VP.INFO", Guest, Tdcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Extend a runtime measurement register.
    TdgMrRtmrExtend = 2, "TDG.MR.RTMR.EXTEND", Guest, Tdcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read the pending virtualization exception's information.
    TdgVpVeinfoGet = 3, "TDG.VP.VEINFO.GET", Guest, Tdcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Create a TDREPORT for attestation.
    TdgMrReport = 4, "TDG.MR.REPORT", Guest, Tdcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Choose whether CPUID raises #VE in supervisor and user mode.
    TdgVpCpuidveSet = 5, "TDG.VP.CPUIDVE.SET", Guest, Tdcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Accept a pending private page.
    TdgMemPageAccept = 6, "TDG.MEM.PAGE.ACCEPT", Guest, Tdcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read a TD-scope metadata field.
    TdgVmRd = 7, "TDG.VM.RD", Guest, Tdcall, since V1_0, max_version 1, v1_since V1_5, aes_gcm false, regs Args;
    /// Write a TD-scope metadata field.
    TdgVmWr = 8, "TDG.VM.WR", Guest, Tdcall, since V1_0, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read a vCPU-scope metadata field.
    TdgVpRd = 9, "TDG.VP.RD", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Write a vCPU-scope metadata field.
    TdgVpWr = 10, "TDG.VP.WR", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read a global metadata field.
    TdgSysRd = 11, "TDG.SYS.RD", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read global metadata fields into a list page.
    TdgSysRdall = 12, "TDG.SYS.RDALL", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read a metadata field of a TD this service TD is bound to.
    TdgServtdRd = 18, "TDG.SERVTD.RD", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Full;
    /// Write a metadata field of a TD this service TD is bound to.
    TdgServtdWr = 20, "TDG.SERVTD.WR", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Full;
    /// Verify a REPORTMACSTRUCT.
    TdgMrVerifyreport = 22, "TDG.MR.VERIFYREPORT", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Read a private page's L2 attributes (TD partitioning).
    TdgMemPageAttrRd = 23, "TDG.MEM.PAGE.ATTR.RD", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Write a private page's L2 attributes (TD partitioning).
    TdgMemPageAttrWr = 24, "TDG.MEM.PAGE.ATTR.WR", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Enter an L2 VM (TD partitioning).
    TdgVpEnter = 25, "TDG.VP.ENTER", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Full;
    /// Invalidate cached EPT translations of L2 VMs.
    TdgVpInvept = 26, "TDG.VP.INVEPT", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
    /// Invalidate cached linear translations of an L2 VM.
    TdgVpInvvpid = 27, "TDG.VP.INVVPID", Guest, Tdcall, since V1_5, max_version 0, v1_since none, aes_gcm false, regs Args;
}

impl Leaf {
    /// The leaf with `number` on `side`, if the table has one.
    pub fn from_number(side: Side, number: u16) -> Option<Leaf> {
        Leaf::ALL
            .iter()
            .copied()
            .find(|leaf| leaf.side() == side && leaf.number() == number)
    }

    /// The leaf named `spec_name` (e.g. `"TDH.SYS.RD"`), if the table has one.
    pub fn from_spec_name(spec_name: &str) -> Option<Leaf> {
        Leaf::ALL
            .iter()
            .copied()
            .find(|leaf| leaf.spec_name() == spec_name)
    }

    /// The RAX value for version 0 of this leaf.
    #[inline]
    pub const fn rax(self) -> u64 {
        self.number() as u64
    }

    /// The RAX value for `version` of this leaf (bits 23:16), or `None` when the leaf does
    /// not accept that version.
    #[inline]
    pub const fn rax_versioned(self, version: u8) -> Option<u64> {
        if version > self.max_version() {
            None
        } else {
            Some(self.number() as u64 | (version as u64) << LEAF_VERSION_SHIFT)
        }
    }

    /// Splits a RAX input value into `(number, version)`; `None` when reserved bits 63:24
    /// are set.
    pub const fn split_rax(rax: u64) -> Option<(u16, u8)> {
        if rax >> 24 != 0 {
            None
        } else {
            Some((
                (rax & LEAF_NUMBER_MASK) as u16,
                (rax >> LEAF_VERSION_SHIFT) as u8,
            ))
        }
    }
}

impl fmt::Display for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_unique_per_side() {
        for (i, a) in Leaf::ALL.iter().enumerate() {
            for b in &Leaf::ALL[i + 1..] {
                assert!(
                    a.side() != b.side() || a.number() != b.number(),
                    "{a} and {b} share a number"
                );
                assert_ne!(a.spec_name(), b.spec_name());
            }
        }
    }

    #[test]
    fn spec_names_match_sides_and_kinds() {
        for leaf in Leaf::ALL {
            match leaf.side() {
                Side::Host => {
                    assert!(leaf.spec_name().starts_with("TDH."));
                    assert!(!leaf.call_kind().is_tdcall());
                }
                Side::Guest => {
                    assert!(leaf.spec_name().starts_with("TDG."));
                    assert!(leaf.call_kind().is_tdcall());
                }
            }
            assert_eq!(Leaf::from_number(leaf.side(), leaf.number()), Some(*leaf));
            assert_eq!(Leaf::from_spec_name(leaf.spec_name()), Some(*leaf));
        }
    }

    #[test]
    fn versions() {
        assert_eq!(Leaf::TdhVpInit.rax_versioned(1), Some(0x1_0016));
        assert_eq!(Leaf::TdhVpInit.v1_since(), Some(ModuleVersion::V1_5_05));
        assert_eq!(Leaf::TdhMemPageAdd.rax_versioned(1), None);
        assert_eq!(Leaf::split_rax(0x1_0016), Some((22, 1)));
        assert_eq!(Leaf::split_rax(1 << 24), None);
        let versioned: usize = Leaf::ALL.iter().filter(|l| l.max_version() == 1).count();
        assert_eq!(versioned, 7);
    }

    #[test]
    fn twelve_aes_gcm_leaves() {
        let numbers: [u16; 12] = [64, 68, 71, 72, 73, 74, 80, 83, 84, 85, 86, 87];
        for leaf in Leaf::ALL {
            let expected = leaf.side() == Side::Host && numbers.contains(&leaf.number());
            assert_eq!(leaf.clobbers_vector_state(), expected, "{leaf}");
        }
    }
}
