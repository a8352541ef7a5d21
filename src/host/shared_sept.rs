//! TDH.MEM.SHARED.SEPT.WR (leaf 163): write Secure-EPT entries of the shared GPA space
//! (TDX 2.0: dispatched by 2.0.08 and 2.0.18, versions 0 and 1).
//!
//! Registers from the 2.0.18 dispatcher (`intel/tdx-module` e69a4391): RCX is a
//! `page_info_api_input_t` (GPA bits 51:12 and level bits 2:0), RDX the TDR's physical
//! address, R8 to R11 four `ia32e_sept_t` entries, and the leaf version goes to the
//! handler. The handler was not read: what each of the four entries is for, what version 1
//! changes and which output registers it writes are **UNVERIFIED**, so the entries go raw
//! and the output registers come back raw.

use super::Host;
use crate::abi::{GuestPhysAddr, PageInfo, PageLevel, TdrPage};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::Status;

impl<B: Backend> Host<B> {
    /// TDH.MEM.SHARED.SEPT.WR, version `version` (0 or 1): RCX = `gpa` | `level`, RDX =
    /// `tdr`, R8-R11 = `entries` (raw `ia32e_sept_t` values, meanings **UNVERIFIED**).
    /// Returns the non-error status and every register as the module left it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when `gpa` is not aligned
    /// to `level` or `version` is above 1 (nothing runs);
    /// [`Error::Status`](crate::Error::Status).
    ///
    /// # Safety
    ///
    /// The entries map host memory into the TD's shared address space: the caller must own
    /// every page they name and keep it mapped for as long as the TD may use it.
    #[inline]
    #[doc(alias = "TDH.MEM.SHARED.SEPT.WR")]
    pub unsafe fn mem_shared_sept_wr(
        &mut self,
        version: u8,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
        entries: [u64; 4],
    ) -> Result<(Status, Regs)> {
        let version = crate::abi::check::check_range("version", version as u64, 0, 1)? as u8;
        let mut regs = Regs {
            rcx: PageInfo::new(gpa, level)?.raw(),
            rdx: tdr.raw(),
            r8: entries[0],
            r9: entries[1],
            r10: entries[2],
            r11: entries[3],
            ..Regs::ZERO
        };
        // SAFETY: the caller owns the pages the entries name.
        let status =
            Status::check(unsafe { self.call(Leaf::TdhMemSharedSeptWr, version, &mut regs) })?;
        Ok((status, regs))
    }
}
