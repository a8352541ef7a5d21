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
//!
//! # Which modules have a leaf, and which leaf versions
//!
//! The `in` column is the set of read module versions whose dispatcher has a case for the
//! leaf; `v1` the set whose dispatcher lets leaf version 1 through (the dispatcher gate is
//! "version > 0"; the crate knows of no leaf version 2). Read in `intel/tdx-module`,
//! `src/vmm_dispatcher/tdx_vmm_dispatcher.c` and `src/td_dispatcher/tdx_td_dispatcher.c`
//! at 1.5.06 `1e6369859b43`, 1.5.28 `30d221886436`, 1.5.32 `9fd3c8b1d52b`,
//! 2.0.08 `1666adc494db`, 2.0.18 `e69a4391305e` (full IDs in `tests/data/leaves.txt`,
//! which `tests/versions.rs` checks this table against). TDX Connect leaves (128-166,
//! TDCALL 64-72) are not in this table. TDH.SERVTD.REBIND (97) and
//! TDG.SERVTD.REBIND.APPROVE (33) are named in the 1.5.32 and 2.0.18 enums (and 2.0.18 has a
//! handler file for the approve leaf), but no dispatcher read has a case for them: every
//! read module answers TDX_OPERAND_INVALID(RAX). They are rows dispatched in no read
//! version (`in NONE`), so a caller can issue them (raw-register wrappers,
//! [`Host::servtd_rebind`](crate::host::Host::servtd_rebind) and
//! [`Guest::servtd_rebind_approve`](crate::guest::Guest::servtd_rebind_approve)) on a
//! module that has them, and a version-aware caller refuses them for every read version.

use crate::abi::TdxFeatures0;
use crate::regs::RegSet;
use crate::version::CallKind;
pub use crate::version::{ModuleSet, ModuleVersion};
use core::fmt;

/// The two sides of the TDX ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// Host (VMM) to module: SEAMCALL, `TDH.*` leaves.
    Host,
    /// Guest (TD) to module: TDCALL, `TDG.*` leaves.
    Guest,
}

/// Leaf numbers below this are looked up by index ([`Leaf::from_number`]), the rest by a scan.
const BY_NUMBER_LEN: usize = 256;

/// [`Leaf::ALL`] indexed by side and number, computed from the table at compile time (the
/// software module looks up every call's leaf).
static BY_NUMBER: [[Option<Leaf>; BY_NUMBER_LEN]; 2] = {
    let mut index = [[None; BY_NUMBER_LEN]; 2];
    let mut i = 0;
    while i < Leaf::ALL.len() {
        let leaf = Leaf::ALL[i];
        if (leaf.number() as usize) < BY_NUMBER_LEN {
            index[leaf.side() as usize][leaf.number() as usize] = Some(leaf);
        }
        i += 1;
    }
    index
};

/// RAX bits 15:0: the leaf number.
pub const LEAF_NUMBER_MASK: u64 = 0xFFFF;
/// RAX bits 23:16: the leaf version.
pub const LEAF_VERSION_SHIFT: u32 = 16;

/// Every read version.
const ALL: ModuleSet = ModuleSet::ALL;
/// 1.5.01 and every later read version.
const V15: ModuleSet = ModuleSet::from(ModuleVersion::V1_5);
/// 1.5.05 and every later read version.
const V1505: ModuleSet = ModuleSet::from(ModuleVersion::V1_5_05);
/// 1.5.28, 1.5.32, 2.0.08 and 2.0.18.
const V1528: ModuleSet = ModuleSet::from(ModuleVersion::V1_5_28);
/// 1.5.28, 1.5.32 and 2.0.18 (not 2.0.08).
const V15_2X3X_2018: ModuleSet = V1528.without(ModuleVersion::V2_0_08);
/// 1.5.32 and 2.0.18.
const V1532_2018: ModuleSet = ModuleSet::of(&[ModuleVersion::V1_5_32, ModuleVersion::V2_0_18]);
/// 2.0.08 and 2.0.18.
const V20: ModuleSet = ModuleSet::from(ModuleVersion::V2_0_08);
/// No read version.
const NONE: ModuleSet = ModuleSet::NONE;

macro_rules! leaf_table {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $number:literal, $spec:literal, $side:ident, $kind:ident,
            in $modules:ident, max_version $max_version:literal, v1 $v1:ident,
            aes_gcm $aes:literal, feature $feature:ident, regs $regs:ident;
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

            /// The read module versions ([`ModuleVersion::READ`]) that dispatch this leaf.
            pub const fn modules(self) -> ModuleSet {
                match self { $(Leaf::$variant => $modules,)* }
            }

            /// The read module versions that accept leaf version 1 (RAX bits 23:16 = 1).
            pub const fn v1_modules(self) -> ModuleSet {
                match self { $(Leaf::$variant => $v1,)* }
            }

            /// The TDX_FEATURES0 bit a module must report for this leaf, beyond having it.
            pub const fn needs_feature0(self) -> Option<TdxFeatures0> {
                match self { $(Leaf::$variant => leaf_table!(@feature $feature),)* }
            }

            /// The highest leaf version (RAX bits 23:16) the leaf accepts.
            #[inline]
            pub const fn max_version(self) -> u8 {
                match self { $(Leaf::$variant => $max_version,)* }
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
    (@feature none) => { None };
    (@feature $bit:ident) => { Some(TdxFeatures0::$bit) };
}

leaf_table! {
    /// Enter a TD vCPU; returns on a TD exit.
    TdhVpEnter = 0, "TDH.VP.ENTER", Host, SeamcallScrub, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Add a TDCS control-structure page to a TD.
    TdhMngAddcx = 1, "TDH.MNG.ADDCX", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Add and measure a private page before the TD is finalized.
    TdhMemPageAdd = 2, "TDH.MEM.PAGE.ADD", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Add a Secure-EPT page.
    TdhMemSeptAdd = 3, "TDH.MEM.SEPT.ADD", Host, Seamcall, in ALL, max_version 1, v1 V15, aes_gcm false, feature none, regs Args;
    /// Add a TDCX page to a vCPU.
    TdhVpAddcx = 4, "TDH.VP.ADDCX", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Relocate a private page to a new physical page.
    TdhMemPageRelocate = 5, "TDH.MEM.PAGE.RELOCATE", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Add a private page to a running TD (pending until the guest accepts it).
    TdhMemPageAug = 6, "TDH.MEM.PAGE.AUG", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Block a GPA range in the Secure EPT.
    TdhMemRangeBlock = 7, "TDH.MEM.RANGE.BLOCK", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Configure the TD's private key on the current package.
    TdhMngKeyConfig = 8, "TDH.MNG.KEY.CONFIG", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Create a TD from a TDR page and an HKID.
    TdhMngCreate = 9, "TDH.MNG.CREATE", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Create a vCPU from a TDVPR page.
    TdhVpCreate = 10, "TDH.VP.CREATE", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read a TD-scope metadata field.
    TdhMngRd = 11, "TDH.MNG.RD", Host, Seamcall, in ALL, max_version 1, v1 V15, aes_gcm false, feature none, regs Args;
    /// Read 8 bytes of a debug TD's private memory.
    TdhMemRd = 12, "TDH.MEM.RD", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Write a TD-scope metadata field.
    TdhMngWr = 13, "TDH.MNG.WR", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Write 8 bytes of a debug TD's private memory.
    TdhMemWr = 14, "TDH.MEM.WR", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Split a large private page into smaller ones.
    TdhMemPageDemote = 15, "TDH.MEM.PAGE.DEMOTE", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Extend MRTD with a 256-byte chunk of a TD page.
    TdhMrExtend = 16, "TDH.MR.EXTEND", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Finalize the TD's measurement.
    TdhMrFinalize = 17, "TDH.MR.FINALIZE", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Flush a vCPU's cached state from the current logical processor.
    TdhVpFlush = 18, "TDH.VP.FLUSH", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Confirm every vCPU of a TD has been flushed.
    TdhMngVpflushdone = 19, "TDH.MNG.VPFLUSHDONE", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Free the TD's HKID once its caches are written back.
    TdhMngKeyFreeid = 20, "TDH.MNG.KEY.FREEID", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Initialize a TD from TD_PARAMS.
    TdhMngInit = 21, "TDH.MNG.INIT", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Initialize a vCPU (v1: with its x2APIC ID).
    TdhVpInit = 22, "TDH.VP.INIT", Host, Seamcall, in ALL, max_version 1, v1 V1505, aes_gcm false, feature none, regs Args;
    /// Merge smaller private pages into a large page.
    TdhMemPagePromote = 23, "TDH.MEM.PAGE.PROMOTE", Host, Seamcall, in ALL, max_version 1, v1 V15, aes_gcm false, feature none, regs Args;
    /// Read the PAMT metadata of a physical page.
    TdhPhymemPageRdmd = 24, "TDH.PHYMEM.PAGE.RDMD", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read a Secure-EPT entry.
    TdhMemSeptRd = 25, "TDH.MEM.SEPT.RD", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read a vCPU-scope metadata field.
    TdhVpRd = 26, "TDH.VP.RD", Host, Seamcall, in ALL, max_version 1, v1 V15, aes_gcm false, feature none, regs Args;
    /// Reclaim the TD's HKID (does nothing in 1.5; kept for compatibility).
    TdhMngKeyReclaimid = 27, "TDH.MNG.KEY.RECLAIMID", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Reclaim a physical page from a torn-down TD.
    TdhPhymemPageReclaim = 28, "TDH.PHYMEM.PAGE.RECLAIM", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Remove a private page from a TD.
    TdhMemPageRemove = 29, "TDH.MEM.PAGE.REMOVE", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Remove a Secure-EPT page.
    TdhMemSeptRemove = 30, "TDH.MEM.SEPT.REMOVE", Host, Seamcall, in ALL, max_version 1, v1 V15, aes_gcm false, feature none, regs Args;
    /// Configure the global private key on the current package.
    TdhSysKeyConfig = 31, "TDH.SYS.KEY.CONFIG", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Write TDSYSINFO_STRUCT and the CMR table to host memory.
    TdhSysInfo = 32, "TDH.SYS.INFO", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Global module initialization.
    TdhSysInit = 33, "TDH.SYS.INIT", Host, Seamcall, in ALL, max_version 1, v1 V1528, aes_gcm false, feature none, regs Args;
    /// Read a global metadata field.
    TdhSysRd = 34, "TDH.SYS.RD", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Per-logical-processor module initialization.
    TdhSysLpInit = 35, "TDH.SYS.LP.INIT", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Initialize part of a TDMR's PAMT (resumable).
    TdhSysTdmrInit = 36, "TDH.SYS.TDMR.INIT", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read global metadata fields into a list page.
    TdhSysRdall = 37, "TDH.SYS.RDALL", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Increment the TD's TLB epoch.
    TdhMemTrack = 38, "TDH.MEM.TRACK", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Unblock a blocked GPA range.
    TdhMemRangeUnblock = 39, "TDH.MEM.RANGE.UNBLOCK", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Write back and invalidate caches for HKIDs being freed (resumable).
    TdhPhymemCacheWb = 40, "TDH.PHYMEM.CACHE.WB", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Write back and invalidate one page's cache lines for an HKID.
    TdhPhymemPageWbinvd = 41, "TDH.PHYMEM.PAGE.WBINVD", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Write a vCPU-scope metadata field.
    TdhVpWr = 43, "TDH.VP.WR", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Shut the module down on the current logical processor.
    TdhSysLpShutdown = 44, "TDH.SYS.LP.SHUTDOWN", Host, Seamcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Configure the TDMRs and the global private HKID.
    TdhSysConfig = 45, "TDH.SYS.CONFIG", Host, Seamcall, in ALL, max_version 1, v1 V15_2X3X_2018, aes_gcm false, feature none, regs Args;
    /// Bind a service TD to a target TD.
    TdhServtdBind = 48, "TDH.SERVTD.BIND", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Pre-bind a service TD (by its info hash) to a target TD.
    TdhServtdPrebind = 49, "TDH.SERVTD.PREBIND", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Prepare the module for a TD-preserving update.
    TdhSysShutdown = 52, "TDH.SYS.SHUTDOWN", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Resume after a TD-preserving update.
    TdhSysUpdate = 53, "TDH.SYS.UPDATE", Host, Seamcall, in V15, max_version 1, v1 V15_2X3X_2018, aes_gcm false, feature none, regs Args;
    /// Add the PAMT pages for a 2 MiB range (Dynamic PAMT).
    TdhPhymemPamtAdd = 58, "TDH.PHYMEM.PAMT.ADD", Host, Seamcall, in V1528, max_version 0, v1 NONE, aes_gcm false, feature DYNAMIC_PAMT, regs Args;
    /// Remove the PAMT pages of a 2 MiB range (Dynamic PAMT).
    TdhPhymemPamtRemove = 59, "TDH.PHYMEM.PAMT.REMOVE", Host, Seamcall, in V1528, max_version 0, v1 NONE, aes_gcm false, feature DYNAMIC_PAMT, regs Args;
    /// Abort an export session.
    TdhExportAbort = 64, "TDH.EXPORT.ABORT", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// Write-block private pages for export.
    TdhExportBlockw = 65, "TDH.EXPORT.BLOCKW", Host, Seamcall, in V15, max_version 1, v1 V1532_2018, aes_gcm false, feature none, regs Args;
    /// Restore pages whose export was cancelled.
    TdhExportRestore = 66, "TDH.EXPORT.RESTORE", Host, Seamcall, in V15, max_version 1, v1 V1532_2018, aes_gcm false, feature none, regs Args;
    /// Export private pages, encrypted, to a migration stream.
    TdhExportMem = 68, "TDH.EXPORT.MEM", Host, Seamcall, in V15, max_version 1, v1 V1532_2018, aes_gcm true, feature none, regs Full;
    /// Pause the TD for the final export phase.
    TdhExportPause = 70, "TDH.EXPORT.PAUSE", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// End an export epoch (or the in-order phase).
    TdhExportTrack = 71, "TDH.EXPORT.TRACK", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// Export the TD's immutable state.
    TdhExportStateImmutable = 72, "TDH.EXPORT.STATE.IMMUTABLE", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// Export the TD-scope mutable state.
    TdhExportStateTd = 73, "TDH.EXPORT.STATE.TD", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// Export one vCPU's mutable state.
    TdhExportStateVp = 74, "TDH.EXPORT.STATE.VP", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// Remove the write block of an exported page.
    TdhExportUnblockw = 75, "TDH.EXPORT.UNBLOCKW", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Abort an import session.
    TdhImportAbort = 80, "TDH.IMPORT.ABORT", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// End an import session.
    TdhImportEnd = 81, "TDH.IMPORT.END", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Commit an import: the TD may run.
    TdhImportCommit = 82, "TDH.IMPORT.COMMIT", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Import private pages from a migration stream.
    TdhImportMem = 83, "TDH.IMPORT.MEM", Host, Seamcall, in V15, max_version 1, v1 V1532_2018, aes_gcm true, feature none, regs Full;
    /// Process an epoch token from a migration stream.
    TdhImportTrack = 84, "TDH.IMPORT.TRACK", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// Import the TD's immutable state.
    TdhImportStateImmutable = 85, "TDH.IMPORT.STATE.IMMUTABLE", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// Import the TD-scope mutable state.
    TdhImportStateTd = 86, "TDH.IMPORT.STATE.TD", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// Import one vCPU's mutable state.
    TdhImportStateVp = 87, "TDH.IMPORT.STATE.VP", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm true, feature none, regs Args;
    /// Scan a GPA range for export (migration memory scan).
    TdhMemScanRange = 92, "TDH.MEM.SCAN.RANGE", Host, Seamcall, in V1532_2018, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Complete a memory scan.
    TdhMemScanComp = 93, "TDH.MEM.SCAN.COMP", Host, Seamcall, in V1532_2018, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Configure a memory scan.
    TdhMemScanConfig = 94, "TDH.MEM.SCAN.CONFIG", Host, Seamcall, in V1532_2018, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Reset a memory scan.
    TdhMemScanReset = 95, "TDH.MEM.SCAN.RESET", Host, Seamcall, in V1532_2018, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Create a migration stream context from a MIGSC page.
    TdhMigStreamCreate = 96, "TDH.MIG.STREAM.CREATE", Host, Seamcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Rebind a target TD to a new service TD (named in the 1.5.32 and 2.0.18 leaf enums,
    /// dispatched by no module read; registers **UNVERIFIED**).
    TdhServtdRebind = 97, "TDH.SERVTD.REBIND", Host, Seamcall, in NONE, max_version 0, v1 NONE, aes_gcm false, feature SERVTD_REBIND, regs Full;
    /// Write the entries of a shared (not private) Secure-EPT page (2.0).
    TdhMemSharedSeptWr = 163, "TDH.MEM.SHARED.SEPT.WR", Host, Seamcall, in V20, max_version 1, v1 V20, aes_gcm false, feature none, regs Args;

    /// Call the VMM (GHCI TDVMCALL): exposes selected registers to the host.
    TdgVpVmcall = 0, "TDG.VP.VMCALL", Guest, Tdvmcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Read the TD's execution environment (GPA width, attributes, vCPU counts).
    TdgVpInfo = 1, "TDG.VP.INFO", Guest, Tdcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Extend a runtime measurement register.
    TdgMrRtmrExtend = 2, "TDG.MR.RTMR.EXTEND", Guest, Tdcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read the pending virtualization exception's information.
    TdgVpVeinfoGet = 3, "TDG.VP.VEINFO.GET", Guest, Tdcall, in ALL, max_version 1, v1 V1528, aes_gcm false, feature none, regs Args;
    /// Create a TDREPORT for attestation.
    TdgMrReport = 4, "TDG.MR.REPORT", Guest, Tdcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Choose whether CPUID raises #VE in supervisor and user mode.
    TdgVpCpuidveSet = 5, "TDG.VP.CPUIDVE.SET", Guest, Tdcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Accept a pending private page.
    TdgMemPageAccept = 6, "TDG.MEM.PAGE.ACCEPT", Guest, Tdcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read a TD-scope metadata field.
    TdgVmRd = 7, "TDG.VM.RD", Guest, Tdcall, in ALL, max_version 1, v1 V15, aes_gcm false, feature none, regs Args;
    /// Write a TD-scope metadata field.
    TdgVmWr = 8, "TDG.VM.WR", Guest, Tdcall, in ALL, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read a vCPU-scope metadata field.
    TdgVpRd = 9, "TDG.VP.RD", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Write a vCPU-scope metadata field.
    TdgVpWr = 10, "TDG.VP.WR", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read a global metadata field.
    TdgSysRd = 11, "TDG.SYS.RD", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read global metadata fields into a list page.
    TdgSysRdall = 12, "TDG.SYS.RDALL", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read a metadata field of a TD this service TD is bound to.
    TdgServtdRd = 18, "TDG.SERVTD.RD", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Write a metadata field of a TD this service TD is bound to.
    TdgServtdWr = 20, "TDG.SERVTD.WR", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Verify a REPORTMACSTRUCT.
    TdgMrVerifyreport = 22, "TDG.MR.VERIFYREPORT", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Read a private page's L2 attributes (TD partitioning).
    TdgMemPageAttrRd = 23, "TDG.MEM.PAGE.ATTR.RD", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Write a private page's L2 attributes (TD partitioning).
    TdgMemPageAttrWr = 24, "TDG.MEM.PAGE.ATTR.WR", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Enter an L2 VM (TD partitioning).
    TdgVpEnter = 25, "TDG.VP.ENTER", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Full;
    /// Invalidate cached EPT translations of L2 VMs.
    TdgVpInvept = 26, "TDG.VP.INVEPT", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Invalidate cached linear translations of an L2 VM.
    TdgVpInvvpid = 27, "TDG.VP.INVVPID", Guest, Tdcall, in V15, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// Get a sealing key derived for this TD.
    TdgMrKeyGet = 29, "TDG.MR.KEY.GET", Guest, Tdcall, in V1532_2018, max_version 0, v1 NONE, aes_gcm false, feature none, regs Args;
    /// The bound service TD approves rebinding its target TD to a new service TD (named in
    /// the 1.5.32 and 2.0.18 leaf enums, dispatched by no module read; registers
    /// **UNVERIFIED**).
    TdgServtdRebindApprove = 33, "TDG.SERVTD.REBIND.APPROVE", Guest, Tdcall, in NONE, max_version 0, v1 NONE, aes_gcm false, feature SERVTD_REBIND, regs Full;
}

/// What a [`Host`](crate::host::Host) or [`Guest`](crate::guest::Guest) was told (or read)
/// about its TDX module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KnownModule {
    /// MAJOR.MINOR.UPDATE.
    pub version: ModuleVersion,
    /// TDX_FEATURES0, when known.
    pub features0: Option<TdxFeatures0>,
}

/// Why a module refuses a leaf, found before any instruction runs
/// ([`Leaf::check_module`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotInModule {
    /// The leaf asked for.
    pub leaf: Leaf,
    /// The leaf version asked for (RAX bits 23:16).
    pub version: u8,
    /// The module the caller said (or read) it talks to.
    pub module: ModuleVersion,
    /// The first read module version with that leaf version, if any has it.
    pub needs: Option<ModuleVersion>,
    /// The TDX_FEATURES0 bit the module did not report, when that was the reason.
    pub missing_feature0: Option<TdxFeatures0>,
}

impl fmt::Display for NotInModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} version {} is not in TDX module {}",
            self.leaf, self.version, self.module
        )?;
        if let Some(feature) = self.missing_feature0 {
            write!(f, " without TDX_FEATURES0 {feature:?}")?;
        }
        match self.needs {
            Some(needs) => write!(f, " (needs module {needs} or a later one that has it)"),
            None => f.write_str(" (no module read has it)"),
        }
    }
}

impl Leaf {
    /// The first read module version that has this leaf.
    pub const fn since(self) -> ModuleVersion {
        match self.modules().first() {
            Some(version) => version,
            None => ModuleVersion::V2_0_18,
        }
    }

    /// The first read module version that accepts leaf version 1, for versioned leaves.
    pub const fn v1_since(self) -> Option<ModuleVersion> {
        self.v1_modules().first()
    }

    /// Whether every TDX module accepts `version` of this leaf, whatever it reports in
    /// TDX_FEATURES0: the table lists it in every read version and it needs no feature bit,
    /// so [`Leaf::check_module`] accepts it for any module. With the leaf a constant this
    /// folds, and the wrappers skip the refusal check for such a leaf altogether.
    ///
    /// A lookup in a table computed at compile time, always inlined: with the leaf a
    /// constant it is a constant too (a call into the generated table matches was measured
    /// at +3 to +5 ns per wrapper call, 2026-12-04).
    #[inline(always)]
    pub const fn in_every_module(self, version: u8) -> bool {
        if version as usize >= IN_EVERY_MODULE.len() {
            return false;
        }
        IN_EVERY_MODULE[version as usize] >> (self as u32) & 1 != 0
    }

    /// The read module versions that accept `version` of this leaf.
    pub const fn modules_with_version(self, version: u8) -> ModuleSet {
        match version {
            0 => self.modules(),
            1 => self.v1_modules(),
            _ => ModuleSet::NONE,
        }
    }

    /// Whether TDX module `module` (with `features0`, when known) accepts `version` of this
    /// leaf, by the leaf table: `module` is looked up as its nearest read version
    /// ([`ModuleVersion::nearest_read`]), and a leaf that needs a TDX_FEATURES0 bit is
    /// refused when `features0` is known and lacks it.
    pub fn check_module(
        self,
        version: u8,
        module: ModuleVersion,
        features0: Option<TdxFeatures0>,
    ) -> Result<(), NotInModule> {
        let versions = self.modules_with_version(version);
        let refusal = |missing_feature0| NotInModule {
            leaf: self,
            version,
            module,
            needs: versions.first(),
            missing_feature0,
        };
        if !versions.contains(module.nearest_read()) {
            return Err(refusal(None));
        }
        match (self.needs_feature0(), features0) {
            (Some(needed), Some(reported)) if !reported.contains(needed) => {
                Err(refusal(Some(needed)))
            }
            _ => Ok(()),
        }
    }

    /// The leaf with `number` on `side`, if the table has one.
    #[inline]
    pub fn from_number(side: Side, number: u16) -> Option<Leaf> {
        match BY_NUMBER[side as usize].get(usize::from(number)) {
            Some(&leaf) => leaf,
            None => Leaf::ALL
                .iter()
                .copied()
                .find(|leaf| leaf.side() == side && leaf.number() == number),
        }
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

/// The P-SEAMLDR calls a host uses to update the TDX module at run time: SEAMCALL with RAX
/// bit 63 set, answered by the persistent SEAM loader, not by the module. Not module leaves,
/// so not in [`Leaf`] (and never refused by a known module version).
///
/// Source: Linux `arch/x86/virt/vmx/tdx/seamldr.c` (`torvalds/linux` b2128290, release
/// **UNVERIFIED**) and the TDX module-update patch series; the loader's own source was not
/// read, so the layouts in [`crate::abi::seamldr`] are **UNVERIFIED** beyond Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeamldrLeaf {
    /// SEAMLDR.INFO: RCX = physical address of a 256-byte, 256-aligned SEAMLDR_INFO.
    Info,
    /// SEAMLDR.INSTALL: RCX = physical address of a 4 KiB SEAMLDR_PARAMS page.
    Install,
}

impl SeamldrLeaf {
    /// RAX bit 63: the call is for the P-SEAMLDR.
    pub const P_SEAMLDR_BIT: u64 = 1 << 63;

    /// The RAX value.
    pub const fn rax(self) -> u64 {
        Self::P_SEAMLDR_BIT
            | match self {
                SeamldrLeaf::Info => 0,
                SeamldrLeaf::Install => 1,
            }
    }

    /// The name, e.g. `"SEAMLDR.INFO"`.
    pub const fn spec_name(self) -> &'static str {
        match self {
            SeamldrLeaf::Info => "SEAMLDR.INFO",
            SeamldrLeaf::Install => "SEAMLDR.INSTALL",
        }
    }
}

impl fmt::Display for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec_name())
    }
}

/// README coverage cells generated from the table (tests only).
#[cfg(all(test, feature = "std"))]
pub(crate) mod coverage {
    /// The "minimum module version" cell: [`super::Leaf::since`], or "none read" for a leaf
    /// that no read version dispatches.
    pub(crate) fn since_cell(leaf: super::Leaf) -> std::string::String {
        if leaf.modules().is_empty() {
            std::string::String::from("none read")
        } else {
            std::format!("{}", leaf.since())
        }
    }

    /// The per-family columns of a coverage row: for each family of read versions (1.0,
    /// 1.5.0x, 1.5.2x/3x, 2.0), the leaf versions its read modules accept ("v0", "v0, v1",
    /// "—"), or per read version when they differ. Shared with the guest table.
    pub(crate) fn family_cells(leaf: super::Leaf) -> std::string::String {
        use super::ModuleVersion;
        let accepted = |module: ModuleVersion| {
            let versions: std::vec::Vec<std::string::String> = (0..=1u8)
                .filter(|&v| leaf.modules_with_version(v).contains(module))
                .map(|v| std::format!("v{v}"))
                .collect();
            if versions.is_empty() {
                std::string::String::from("—")
            } else {
                versions.join(", ")
            }
        };
        let mut cells = std::vec::Vec::new();
        for family in ["1.0", "1.5.0x", "1.5.2x/3x", "2.0"] {
            let read: std::vec::Vec<ModuleVersion> = ModuleVersion::READ
                .into_iter()
                .filter(|v| v.family() == family)
                .collect();
            let each: std::vec::Vec<std::string::String> =
                read.iter().map(|&v| accepted(v)).collect();
            if each.iter().all(|cell| *cell == each[0]) {
                cells.push(each[0].clone());
            } else {
                let parts: std::vec::Vec<std::string::String> = read
                    .iter()
                    .zip(&each)
                    .map(|(v, cell)| std::format!("{v}: {cell}"))
                    .collect();
                cells.push(parts.join("; "));
            }
        }
        cells.join(" | ")
    }
}

/// How many leaf versions (RAX bits 23:16) the table has: one more than the highest
/// `max_version`. Bit tables over the leaves, such as [`IN_EVERY_MODULE`] and the wrappers'
/// module gate, keep one `u128` per version, bit `leaf as u32` (the assertion below).
pub(crate) const LEAF_VERSIONS: usize = 2;

/// Word `version`, bit `leaf as u32`: every read module has that version of the leaf and it
/// needs no TDX_FEATURES0 bit, so no module refuses it ([`Leaf::in_every_module`]). Derived
/// from the table's columns at compile time.
const IN_EVERY_MODULE: [u128; LEAF_VERSIONS] = {
    let mut words = [0u128; LEAF_VERSIONS];
    let mut i = 0;
    while i < Leaf::ALL.len() {
        let leaf = Leaf::ALL[i];
        let mut version = 0;
        while version < words.len() {
            if leaf.modules_with_version(version as u8).is_all() && leaf.needs_feature0().is_none()
            {
                words[version] |= 1 << (leaf as u32);
            }
            version += 1;
        }
        i += 1;
    }
    words
};

// One bit per leaf in a `u128` (`Leaf as u32` is the leaf's position in `Leaf::ALL`), and
// every leaf version of the table below `LEAF_VERSIONS`.
const _: () = {
    assert!(Leaf::ALL.len() <= 128);
    let mut i = 0;
    while i < Leaf::ALL.len() {
        assert!((Leaf::ALL[i].max_version() as usize) < LEAF_VERSIONS);
        assert!(Leaf::ALL[i] as usize == i);
        i += 1;
    }
};

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
        // The index agrees with a scan of the table for numbers with no leaf too.
        for side in [Side::Host, Side::Guest] {
            for number in (0..=600u16).chain([u16::MAX]) {
                let scanned = Leaf::ALL
                    .iter()
                    .copied()
                    .find(|leaf| leaf.side() == side && leaf.number() == number);
                assert_eq!(
                    Leaf::from_number(side, number),
                    scanned,
                    "{side:?} {number}"
                );
            }
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
        // 7 of 1.5.05, then SYS.INIT/CONFIG/UPDATE, EXPORT.MEM/BLOCKW/RESTORE, IMPORT.MEM,
        // SHARED.SEPT.WR and TDG.VP.VEINFO.GET.
        assert_eq!(versioned, 16);
        // 2.0.18 accepts version 1 on 14 host leaves and 2 guest leaves.
        let in_2018 = |side| {
            Leaf::ALL
                .iter()
                .filter(|l| l.side() == side && l.v1_modules().contains(ModuleVersion::V2_0_18))
                .count()
        };
        assert_eq!(in_2018(Side::Host), 14);
        assert_eq!(in_2018(Side::Guest), 2);
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
