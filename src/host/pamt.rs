//! Dynamic PAMT: TDH.PHYMEM.PAMT.ADD (58) and TDH.PHYMEM.PAMT.REMOVE (59).
//!
//! With Dynamic PAMT the module does not need the 4 KiB-level PAMT of a 2 MiB range until
//! the range holds 4 KiB pages; the host adds a pair of 4 KiB pages that hold those PAMT
//! entries before it uses the range at 4 KiB granularity, and takes the pair back when the
//! range is empty. Leaves dispatched by 1.5.28, 1.5.32, 2.0.08 and 2.0.18 (the leaf table);
//! the module refuses them with TDX_OPERAND_INVALID(RAX) while Dynamic PAMT is not enabled
//! (TDH.SYS.CONFIG version 1, [`SysConfigOptions`](super::versions::SysConfigOptions)).
//!
//! Registers, from the 2.0.18 dispatcher (`intel/tdx-module` e69a4391) and the 2.0.08
//! handler of PAMT.REMOVE (1666adc4, `tdh_phymem_pamt_remove.c`): RCX is a
//! `page_size_api_input_t`: bits 2:0 the level, 11:3 reserved, 51:12 the physical address,
//! 63:52 reserved; REMOVE accepts only level 1 (2 MiB) with a 2 MiB-aligned address and no
//! HKID bits. ADD takes the two pages in RDX and R8; REMOVE gives them back in RDX and R8.
//! The 2.0.08 PAMT.ADD handler (1666adc4, `tdh_phymem_pamt_add.c`) makes the same RCX
//! checks (level 1 only) and writes no output register; the software module follows both
//! handlers (`module/host/pamt.rs`).

use super::{check_page, Host};
use crate::abi::addr::MAX_PHYS_ADDR_BITS;
use crate::abi::check::check_address;
use crate::abi::{HostPhysAddr, PageLevel};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::Status;

/// The PAMT page pair of a 2 MiB range, as TDH.PHYMEM.PAMT.REMOVE hands it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PamtPagePair {
    /// RDX: the first PAMT page.
    pub first: HostPhysAddr,
    /// R8: the second PAMT page.
    pub second: HostPhysAddr,
}

/// RCX of the PAMT leaves: the 2 MiB range at `range`, level 1.
fn range_operand(range: HostPhysAddr) -> Result<u64> {
    let range = check_address(
        "range",
        range.raw(),
        MAX_PHYS_ADDR_BITS,
        PageLevel::Size2M.size(),
    )?;
    Ok(range | PageLevel::Size2M as u64)
}

impl<B: Backend> Host<B> {
    /// TDH.PHYMEM.PAMT.ADD (leaf 58): give the module the two 4 KiB pages that hold the
    /// 4 KiB-level PAMT entries of the 2 MiB range at `range`.
    ///
    /// RCX = `range` | level 1 (2 MiB), RDX = `first`, R8 = `second`. No output register
    /// (the 2.0.08 handler writes none).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when `range` is not 2 MiB
    /// aligned or a page is not 4 KiB aligned (nothing runs);
    /// [`Error::Status`](crate::Error::Status), e.g. TDX_OPERAND_INVALID(RAX) when Dynamic
    /// PAMT is off, TDX_HPA_RANGE_NOT_FREE.
    ///
    /// # Safety
    ///
    /// On success both pages belong to the module: the caller must not touch them until
    /// TDH.PHYMEM.PAMT.REMOVE hands them back.
    #[inline]
    #[doc(alias = "TDH.PHYMEM.PAMT.ADD")]
    pub unsafe fn phymem_pamt_add(
        &mut self,
        range: HostPhysAddr,
        first: HostPhysAddr,
        second: HostPhysAddr,
    ) -> Result<Status> {
        let mut regs = Regs {
            rcx: range_operand(range)?,
            rdx: check_page("first", first)?.raw(),
            r8: check_page("second", second)?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller hands both pages to the module.
        Status::check(unsafe { self.call(Leaf::TdhPhymemPamtAdd, 0, &mut regs) })
    }

    /// TDH.PHYMEM.PAMT.REMOVE (leaf 59): take back the PAMT page pair of the (empty) 2 MiB
    /// range at `range`.
    ///
    /// RCX = `range` | level 1. On success RDX and R8 are the two pages (the handler writes
    /// them from the PAMT node, 2.0.08 `tdh_phymem_pamt_remove.c`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a range not 2 MiB
    /// aligned; [`Error::Status`](crate::Error::Status): TDX_NO_PAMT_PAGE_PAIR(RCX) when the
    /// range has none, TDX_PAMT_PAGE_NOT_EMPTY (operand 0 or 1: which page) when it still
    /// maps pages, TDX_OPERAND_INVALID(RAX) when Dynamic PAMT is off.
    ///
    /// # Safety
    ///
    /// The returned pages are the host's again, still holding PAMT entries encrypted with
    /// the module's global key: the caller must clear them before reuse.
    #[inline]
    #[doc(alias = "TDH.PHYMEM.PAMT.REMOVE")]
    pub unsafe fn phymem_pamt_remove(&mut self, range: HostPhysAddr) -> Result<PamtPagePair> {
        let mut regs = Regs {
            rcx: range_operand(range)?,
            ..Regs::ZERO
        };
        // SAFETY: the module gives pages back; the caller clears them.
        Status::check(unsafe { self.call(Leaf::TdhPhymemPamtRemove, 0, &mut regs) })?;
        Ok(PamtPagePair {
            first: HostPhysAddr::from_raw_unchecked(regs.rdx),
            second: HostPhysAddr::from_raw_unchecked(regs.r8),
        })
    }
}
