//! Typed wrappers for every SEAMCALL leaf (host side, `TDH.*`), grouped by the ABI's
//! chapters: [`sys`], [`mng`], [`mem`], [`vp`], [`mr`], [`phymem`], [`servtd`],
//! [`export`], [`import`] and [`mig`].
//!
//! Every wrapper is a method of [`Host`], which owns a [`Backend`]: the one seam through
//! which every call reaches the instruction (or a test's stand-in). RAX, the leaf version
//! and the thunk kind come from the leaf table ([`Leaf`]); no wrapper types a leaf number.
//!
//! # Conventions
//!
//! - **Arguments are typed** ([`TdrPage`](crate::abi::TdrPage),
//!   [`HostPhysAddr`](crate::abi::HostPhysAddr), [`PageLevel`](crate::abi::PageLevel),
//!   [`FieldId`](crate::abi::FieldId), ...). What a type cannot rule out (the level range of
//!   a leaf, an alignment stricter than 4 KiB, a count range) is checked by the wrapper and
//!   rejected with [`Error::InvalidArgument`] before any instruction executes.
//! - **Errors.** A status with bit 63 set becomes [`Error::Status`] with all 64 bits. Where
//!   the module writes useful outputs on the failure path (SEPT entry details, the CPUID
//!   leaf that failed a check, extended error info), the wrapper returns a
//!   [`DetailedResult`]: the [`Error`] plus the decoded details.
//! - **Warnings.** Non-error statuses other than TDX_SUCCESS (bit 63 clear, e.g.
//!   TDX_GPA_RANGE_ALREADY_BLOCKED, TDX_KEY_CONFIGURED) come back in the `Ok` value (a
//!   typed enum or a `status` field) wherever the ABI defines them for the leaf.
//! - **`unsafe fn`** exactly where memory safety depends on the caller: the leaf hands a
//!   host page to the module or gives one back (ADDCX, CREATE, PAGE.ADD/AUG/RELOCATE/REMOVE,
//!   SEPT.ADD/REMOVE, PROMOTE/DEMOTE, RECLAIM, MIG.STREAM.CREATE, IMPORT.MEM), lets the module
//!   write host memory (SYS.INFO, SYS.RDALL, the export leaves that write the MBMD, GPA
//!   list or state pages), or enters a vCPU (VP.ENTER). Leaves that only change
//!   SEPT-entry state (RANGE.BLOCK/UNBLOCK, TRACK, EXPORT.UNBLOCKW), read host memory, or
//!   return a status are safe: they cannot make a host page reachable by two owners.
//!
//! # Retries
//!
//! The thunk never retries; the wrappers do, as the ABI asks:
//!
//! - **TDX_RND_NO_ENTROPY** (the module's RDRAND/RDSEED ran dry): TDH.MNG.CREATE,
//!   TDH.MNG.ADDCX, TDH.SYS.INIT, TDH.SYS.LP.INIT, TDH.EXPORT.STATE.IMMUTABLE and
//!   TDH.IMPORT.STATE.IMMUTABLE (the leaves that return it in module 1.5.01) are issued up to
//!   [`RND_NO_ENTROPY_ATTEMPTS`] times (10, as Linux does) with the original inputs
//!   ([`crate::retry`]).
//! - **TDX_KEY_GENERATION_FAILED** (PCONFIG's entropy error) for TDH.MNG.KEY.CONFIG and
//!   TDH.SYS.KEY.CONFIG: the same bounded retry ([`retry_on`]).
//! - **TDX_INTERRUPTED_RESUMABLE / RESTARTABLE** (an interrupt arrived mid-leaf): TDH.SYS.TDMR.INIT
//!   is called until the TDMR is initialized; TDH.PHYMEM.CACHE.WB, TDH.MEM.SEPT.ADD v1,
//!   TDH.MEM.PAGE.DEMOTE and TDH.MEM.PAGE.PROMOTE are resumed with the registers the module
//!   left, up to [`RESUME_LIMIT`] calls (10000, Linux's bound for CACHE.WB;
//!   [`retry_interrupted`], [`resume_interrupted`](crate::retry::resume_interrupted)). The
//!   migration leaves return the status instead: their resume takes a command bit the
//!   caller sets ([`MigCommand::Resume`](crate::abi::mig::MigCommand)).
//! - **BUSY** (TDX_OPERAND_BUSY, TDX_OPERAND_BUSY_HOST_PRIORITY, TDX_SYS_BUSY,
//!   TDX_PREVIOUS_TLB_EPOCH_BUSY) is never retried here: it means another logical processor
//!   holds a lock the caller's own locking should have ordered, and spinning in the wrapper
//!   would hide that. It comes back as [`Error::Status`] with the operand ID in bits 31:0,
//!   and the caller decides (back off and retry, or kick the other vCPU).
//!
//! Every status a wrapper decides on is named from the one table, [`StatusCode`].
//!
//! # Examples
//!
//! A TD's metadata, read and named, on the software TDX module (the same calls run on TDX
//! hardware through [`Host::native`]):
//!
//! ```
//! # #[cfg(all(feature = "software-module", target_os = "linux", target_arch = "x86_64"))]
//! # fn main() -> Result<(), tdxcall::Error> {
//! use tdxcall::abi::{field_names::field_name, fields, Hkid};
//! use tdxcall::host::builder::{TdBuilder, TdParamsBuilder};
//! use tdxcall::module::SoftwareModule;
//!
//! let mut module = SoftwareModule::default();
//! let (_lp0, mut host) = module.platform()?;
//! let td = TdBuilder::new(Hkid::new(33), TdParamsBuilder::new().max_vcpus(4))
//!     .build(&mut host, &mut module)?;
//! assert_eq!(host.mng_rd(td.tdr, fields::td::MAX_VCPUS)?, 4);
//! for field in host.mng_fields(td.tdr)? {
//!     let (id, value) = field?;
//!     println!("{} = {value:#x}", field_name(id).expect("a table field"));
//! }
//! td.teardown(&mut host, &mut module)?;
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "software-module", target_os = "linux", target_arch = "x86_64")))]
//! # fn main() {}
//! ```

use crate::call::Backend;
use crate::error::{Error, Result};
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::retry::{retry_interrupted, retry_on, RESUME_LIMIT, RND_NO_ENTROPY_ATTEMPTS};
use crate::status::{Status, StatusCode};
use crate::xstate::{self, Preserve};

#[cfg(feature = "std")]
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
pub mod builder;
pub mod export;
pub mod fields;
pub mod import;
pub mod mem;
pub mod metadata;
pub mod mig;
pub mod mng;
pub mod mr;
pub mod pamt;
pub mod phymem;
pub mod scan;
pub mod seamldr;
pub mod servtd;
pub mod shared_sept;
pub mod sys;
pub mod versions;
pub mod vmcall;
pub mod vp;

/// The Secure-EPT class (bits 47:40) of the statuses that come with SEPT details.
const SEPT_CLASS: u8 = StatusCode::EptWalkFailed.class();

pub use crate::error::{DetailedError, DetailedResult};

/// The Secure-EPT entry the module reports when a TDH.MEM.* leaf fails its SEPT walk or
/// finds the entry in the wrong state (RCX and RDX on the failure path).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeptDetails {
    /// RCX: the architectural SEPT entry.
    pub entry: u64,
    /// RDX bits 2:0: the level of the entry.
    pub level: u8,
    /// RDX bits 15:8: the TDX SEPT state of the entry.
    pub state: u8,
    /// RDX bits 17:16: the VM index (0 = L1, 1-3 = L2 VMs).
    pub vm: u8,
    /// RDX as the module wrote it (`sept_entry_arch_info`).
    pub raw_info: u64,
}

impl SeptDetails {
    /// Decodes RCX and RDX.
    #[inline]
    pub const fn from_regs(rcx: u64, rdx: u64) -> SeptDetails {
        SeptDetails {
            entry: rcx,
            level: (rdx & 7) as u8,
            state: (rdx >> 8) as u8,
            vm: ((rdx >> 16) & 3) as u8,
            raw_info: rdx,
        }
    }
}

/// `Ok(status)` for a non-error status; for an error, the status with SEPT details decoded
/// from RCX/RDX when the status is of the Secure-EPT class.
#[inline]
pub(crate) fn check_sept(status: Status, regs: &Regs) -> DetailedResult<Status, SeptDetails> {
    if !status.is_error() {
        return Ok(status);
    }
    let details = (status.class() == SEPT_CLASS && !status.is_software())
        .then(|| SeptDetails::from_regs(regs.rcx, regs.rdx));
    Err(DetailedError {
        error: Error::from(status),
        details,
    })
}

crate::wrapper::wrapper_front! {
    /// The host side of the TDX ABI: every SEAMCALL leaf as a typed method.
    pub struct Host for Host, "SEAMCALL";
}

impl<B: Backend> Host<B> {
    /// THE call helper: RAX (number and `version`) and the thunk kind come from the leaf
    /// table. The leaves that run AES-GCM go through [`Host::call_migration`] instead.
    ///
    /// # Safety
    ///
    /// The caller (a wrapper) upholds the leaf's contract, see [`Backend::call`].
    // Always inlined: with the leaf a constant, the table lookups (kind, set, RAX) and
    // the thunk dispatch fold away; out of line they are three table loads and a jump.
    #[inline(always)]
    unsafe fn call(&mut self, leaf: Leaf, version: u8, regs: &mut Regs) -> Status {
        debug_assert!(
            !leaf.clobbers_vector_state(),
            "{leaf} must go through call_migration"
        );
        if let Some(refusal) = self.refusal(leaf, version) {
            return refusal;
        }
        // SAFETY: forwarded; the caller upholds the leaf's contract. The leaf writes no
        // register outside its table set (tests/thunk_fit.rs).
        unsafe {
            self.backend.call_set(
                leaf.call_kind(),
                leaf.reg_set(),
                Self::rax(leaf, version),
                regs,
            )
        }
    }

    /// The one path for the 12 migration leaves whose AES-GCM zeroes XMM0-15
    /// ([`Leaf::clobbers_vector_state`]): the caller's vector state is saved and restored
    /// around the call as `preserve` says ([`xstate::call_preserving`]). No other leaf
    /// takes this path, so no other leaf pays for it.
    ///
    /// # Safety
    ///
    /// As [`Host::call`].
    #[inline]
    unsafe fn call_migration(
        &mut self,
        leaf: Leaf,
        regs: &mut Regs,
        preserve: Preserve<'_>,
    ) -> Status {
        // SAFETY: forwarded.
        unsafe { self.call_migration_versioned(leaf, 0, regs, preserve) }
    }

    /// [`Host::call_migration`] at leaf version `version`.
    ///
    /// # Safety
    ///
    /// As [`Host::call`].
    #[inline]
    unsafe fn call_migration_versioned(
        &mut self,
        leaf: Leaf,
        version: u8,
        regs: &mut Regs,
        preserve: Preserve<'_>,
    ) -> Status {
        debug_assert!(leaf.clobbers_vector_state());
        if let Some(refusal) = self.refusal(leaf, version) {
            return refusal;
        }
        let rax = Self::rax(leaf, version);
        // SAFETY: forwarded; the caller upholds the leaf's contract.
        unsafe { xstate::call_preserving(&mut self.backend, leaf.call_kind(), rax, regs, preserve) }
    }

    /// [`Host::call_migration`] for the session-starting STATE.IMMUTABLE leaves, reissued
    /// with the original inputs up to [`RND_NO_ENTROPY_ATTEMPTS`] times while the module
    /// answers TDX_RND_NO_ENTROPY (it changed nothing then).
    ///
    /// # Safety
    ///
    /// As [`Host::call`].
    #[inline]
    unsafe fn call_migration_retrying_entropy(
        &mut self,
        leaf: Leaf,
        regs: &mut Regs,
        mut preserve: Preserve<'_>,
    ) -> Status {
        let inputs = *regs;
        retry_on(StatusCode::RndNoEntropy, RND_NO_ENTROPY_ATTEMPTS, || {
            *regs = inputs;
            // SAFETY: forwarded; the caller upholds the leaf's contract.
            unsafe { self.call_migration(leaf, regs, preserve.reborrow()) }
        })
    }

    /// Issues the leaf up to [`RND_NO_ENTROPY_ATTEMPTS`] times while it returns
    /// `entropy_failure` (TDX_RND_NO_ENTROPY, or TDX_KEY_GENERATION_FAILED for the
    /// KEY.CONFIG leaves), restoring the inputs before each new attempt.
    ///
    /// # Safety
    ///
    /// As [`Host::call`]; the leaf must be safe to reissue with the same inputs after
    /// `entropy_failure` (the module changed nothing).
    #[inline]
    unsafe fn call_retrying_entropy(
        &mut self,
        leaf: Leaf,
        version: u8,
        regs: &mut Regs,
        entropy_failure: StatusCode,
    ) -> Status {
        let inputs = *regs;
        retry_on(entropy_failure, RND_NO_ENTROPY_ATTEMPTS, || {
            *regs = inputs;
            // SAFETY: forwarded; the caller upholds the leaf's contract.
            unsafe { self.call(leaf, version, regs) }
        })
    }

    /// Issues the leaf until it stops returning TDX_INTERRUPTED_RESUMABLE or
    /// TDX_INTERRUPTED_RESTARTABLE, at most [`RESUME_LIMIT`] times, passing back the
    /// registers the module left (which is how the ABI resumes or restarts these leaves).
    ///
    /// # Safety
    ///
    /// As [`Host::call`].
    #[inline]
    unsafe fn call_resuming(&mut self, leaf: Leaf, version: u8, regs: &mut Regs) -> Status {
        retry_interrupted(RESUME_LIMIT, || {
            // SAFETY: forwarded; the caller upholds the leaf's contract.
            unsafe { self.call(leaf, version, regs) }
        })
    }
}

/// An optional page: a physical page address, or none (the ABI's NULL_PA).
#[inline]
pub(crate) fn page_or_null(page: Option<crate::abi::HostPhysAddr>) -> u64 {
    page.map_or(crate::abi::NULL_PA, |page| page.raw())
}

/// Checks that an optional extra page is 4 KiB aligned.
pub(crate) fn check_page(
    argument: &'static str,
    page: crate::abi::HostPhysAddr,
) -> Result<crate::abi::HostPhysAddr> {
    crate::abi::check::check_address(
        argument,
        page.raw(),
        crate::abi::addr::MAX_PHYS_ADDR_BITS,
        crate::abi::PAGE_SIZE,
    )
    .map(crate::abi::HostPhysAddr::from_raw_unchecked)
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;
