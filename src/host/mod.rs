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
//!   [`ENTROPY_ATTEMPTS`] times (10, as Linux does) with the original inputs.
//! - **TDX_KEY_GENERATION_FAILED** (PCONFIG's entropy error) for TDH.MNG.KEY.CONFIG and
//!   TDH.SYS.KEY.CONFIG: the same bounded retry.
//! - **TDX_INTERRUPTED_RESUMABLE / RESTARTABLE** (an interrupt arrived mid-leaf): TDH.SYS.TDMR.INIT
//!   is called until the TDMR is initialized; TDH.PHYMEM.CACHE.WB, TDH.MEM.SEPT.ADD v1,
//!   TDH.MEM.PAGE.DEMOTE and TDH.MEM.PAGE.PROMOTE are resumed with the registers the module
//!   left, up to [`RESUME_ATTEMPTS`] calls (10000, Linux's bound for CACHE.WB). The
//!   migration leaves return the status instead: their resume takes a command bit the
//!   caller sets ([`MigCommand::Resume`](crate::abi::mig::MigCommand)).
//! - **BUSY** (TDX_OPERAND_BUSY, TDX_OPERAND_BUSY_HOST_PRIORITY, TDX_SYS_BUSY,
//!   TDX_PREVIOUS_TLB_EPOCH_BUSY) is never retried here: it means another logical processor
//!   holds a lock the caller's own locking should have ordered, and spinning in the wrapper
//!   would hide that. It comes back as [`Error::Status`] with the operand ID in bits 31:0,
//!   and the caller decides (back off and retry, or kick the other vCPU).
//!
//! Status codes used by the retry rules are private constants here; branch `status` owns
//! the crate-wide status table.

use crate::call::{Backend, CallKind};
use crate::error::{Error, Result};
use crate::leaf::{Leaf, Side};
use crate::regs::Regs;
use crate::status::Status;

pub mod export;
pub mod import;
pub mod mem;
pub mod metadata;
pub mod mig;
pub mod mng;
pub mod mr;
pub mod phymem;
pub mod servtd;
pub mod sys;
pub mod vp;

/// How many times a leaf is issued while it fails for lack of entropy
/// (TDX_RND_NO_ENTROPY or TDX_KEY_GENERATION_FAILED): 10, Linux's `RDRAND_RETRY_LOOPS`.
pub const ENTROPY_ATTEMPTS: u32 = 10;

/// How many calls a resumable loop makes before it returns the interrupted status to the
/// caller: 10000, Linux's bound for TDH.PHYMEM.CACHE.WB.
pub const RESUME_ATTEMPTS: u32 = 10_000;

/// Status codes (bits 63:32) the wrappers decide on.
pub(crate) mod code {
    pub const SUCCESS: u32 = 0x0000_0000;
    pub const INTERRUPTED_RESUMABLE: u32 = 0x8000_0003;
    pub const INTERRUPTED_RESTARTABLE: u32 = 0x8000_0004;
    pub const RND_NO_ENTROPY: u32 = 0x8000_0203;
    pub const OPERAND_INVALID: u32 = 0xC000_0100;
    pub const KEY_GENERATION_FAILED: u32 = 0x8000_0800;
    pub const KEY_CONFIGURED: u32 = 0x0000_0815;
    pub const NO_HKID_READY_TO_WBCACHE: u32 = 0x0000_0821;
    pub const TDMR_ALREADY_INITIALIZED: u32 = 0x0000_0A03;
    pub const GPA_RANGE_ALREADY_BLOCKED: u32 = 0x0000_0B07;
    pub const METADATA_FIRST_FIELD_ID_IN_CONTEXT: u32 = 0x0000_0C0B;
    pub const METADATA_LIST_OVERFLOW: u32 = 0xC000_0C04;
    pub const ALREADY_WRITE_BLOCKED: u32 = 0x0000_0E03;
    /// The Secure-EPT class (bits 47:40) of the statuses that come with SEPT details.
    pub const SEPT_CLASS: u8 = 0x0B;
}

/// Turns a status into `Ok(status)` (success or a warning) or `Err` (bit 63 set).
#[inline]
pub(crate) fn check(status: Status) -> Result<Status> {
    if status.is_error() {
        Err(Error::Status(status))
    } else {
        Ok(status)
    }
}

/// An error plus the outputs the module wrote on the failure path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DetailedError<D> {
    /// The error: the full status, or the rejected argument.
    pub error: Error,
    /// What the module reported with the status (only for the statuses the leaf documents
    /// details for; `None` for rejected arguments and other statuses).
    pub details: Option<D>,
}

impl<D> DetailedError<D> {
    /// The status, when the call ran.
    pub fn status(&self) -> Option<Status> {
        match self.error {
            Error::Status(status) => Some(status),
            _ => None,
        }
    }
}

impl<D> From<Error> for DetailedError<D> {
    fn from(error: Error) -> DetailedError<D> {
        DetailedError {
            error,
            details: None,
        }
    }
}

impl<D> From<DetailedError<D>> for Error {
    fn from(error: DetailedError<D>) -> Error {
        error.error
    }
}

impl<D: core::fmt::Debug> core::fmt::Display for DetailedError<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.details {
            Some(details) => write!(f, "{} ({details:?})", self.error),
            None => self.error.fmt(f),
        }
    }
}

impl<D: core::fmt::Debug> core::error::Error for DetailedError<D> {}

/// The result of a wrapper that reports details on failure.
pub type DetailedResult<T, D> = core::result::Result<T, DetailedError<D>>;

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
    let details = (status.class() == code::SEPT_CLASS && !status.is_software())
        .then(|| SeptDetails::from_regs(regs.rcx, regs.rdx));
    Err(DetailedError {
        error: Error::Status(status),
        details,
    })
}

/// The host side of the TDX ABI: every SEAMCALL leaf as a typed method.
///
/// `B` is the seam the calls go through: [`Native`](crate::call::Native) for the real
/// instruction, a [`FnBackend`](crate::call::FnBackend) or any other [`Backend`] in tests.
#[cfg(target_arch = "x86_64")]
#[derive(Debug)]
pub struct Host<B: Backend = crate::call::Native> {
    backend: B,
}

/// The host side of the TDX ABI: every SEAMCALL leaf as a typed method.
///
/// `B` is the seam the calls go through (on this architecture there is no native backend;
/// use a [`FnBackend`](crate::call::FnBackend) or another [`Backend`]).
#[cfg(not(target_arch = "x86_64"))]
#[derive(Debug)]
pub struct Host<B: Backend> {
    backend: B,
}

#[cfg(target_arch = "x86_64")]
impl Host<crate::call::Native> {
    /// The host over the real SEAMCALL instruction (under `std` this installs the fault
    /// handler, see [`Native::new`](crate::call::Native::new)).
    #[inline]
    pub fn native() -> Host<crate::call::Native> {
        Host::new(crate::call::Native::new())
    }
}

impl<B: Backend> Host<B> {
    /// A host over `backend`.
    #[inline]
    pub const fn new(backend: B) -> Host<B> {
        Host { backend }
    }

    /// The backend.
    #[inline]
    pub fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    /// Gives the backend back.
    #[inline]
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// THE call helper: RAX (number and `version`) and the thunk kind come from the leaf
    /// table. Leaves that run AES-GCM go through [`Host::call_clobbering_vectors`].
    ///
    /// # Safety
    ///
    /// The caller (a wrapper) upholds the leaf's contract, see [`Backend::call`].
    #[inline]
    unsafe fn call(&mut self, leaf: Leaf, version: u8, regs: &mut Regs) -> Status {
        debug_assert_eq!(leaf.side(), Side::Host);
        debug_assert!(
            version <= leaf.max_version(),
            "{leaf} has no version {version}"
        );
        let rax = leaf.rax() | (version as u64) << crate::leaf::LEAF_VERSION_SHIFT;
        if leaf.clobbers_vector_state() {
            // SAFETY: forwarded; the caller upholds the leaf's contract.
            unsafe { self.call_clobbering_vectors(leaf.call_kind(), rax, regs) }
        } else {
            // SAFETY: forwarded; the caller upholds the leaf's contract.
            unsafe { self.backend.call(leaf.call_kind(), rax, regs) }
        }
    }

    /// The one path for the 12 migration leaves whose AES-GCM zeroes XMM0-15
    /// ([`Leaf::clobbers_vector_state`]): vector-state preservation around them belongs
    /// here and only here.
    ///
    /// # Safety
    ///
    /// As [`Host::call`].
    #[inline]
    unsafe fn call_clobbering_vectors(
        &mut self,
        kind: CallKind,
        rax: u64,
        regs: &mut Regs,
    ) -> Status {
        // SAFETY: forwarded; the caller upholds the leaf's contract.
        unsafe { self.backend.call(kind, rax, regs) }
    }

    /// Issues the leaf up to [`ENTROPY_ATTEMPTS`] times while it returns `retry_code`
    /// (an entropy failure), restoring the inputs before each new attempt.
    ///
    /// # Safety
    ///
    /// As [`Host::call`]; the leaf must be safe to reissue with the same inputs after
    /// `retry_code` (the module changed nothing).
    #[inline]
    unsafe fn call_retrying_entropy(
        &mut self,
        leaf: Leaf,
        version: u8,
        regs: &mut Regs,
        retry_code: u32,
    ) -> Status {
        let inputs = *regs;
        let mut attempt = 1;
        loop {
            // SAFETY: forwarded; the caller upholds the leaf's contract.
            let status = unsafe { self.call(leaf, version, regs) };
            if status.code() != retry_code || attempt == ENTROPY_ATTEMPTS {
                return status;
            }
            attempt += 1;
            *regs = inputs;
        }
    }

    /// Issues the leaf until it stops returning TDX_INTERRUPTED_RESUMABLE or
    /// TDX_INTERRUPTED_RESTARTABLE, at most [`RESUME_ATTEMPTS`] times, passing back the
    /// registers the module left (which is how the ABI resumes or restarts these leaves).
    ///
    /// # Safety
    ///
    /// As [`Host::call`].
    #[inline]
    unsafe fn call_resuming(&mut self, leaf: Leaf, version: u8, regs: &mut Regs) -> Status {
        let mut attempt = 1;
        loop {
            // SAFETY: forwarded; the caller upholds the leaf's contract.
            let status = unsafe { self.call(leaf, version, regs) };
            let interrupted = matches!(
                status.code(),
                code::INTERRUPTED_RESUMABLE | code::INTERRUPTED_RESTARTABLE
            );
            if !interrupted || attempt == RESUME_ATTEMPTS {
                return status;
            }
            attempt += 1;
        }
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
    crate::abi::addr::check_address(
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
