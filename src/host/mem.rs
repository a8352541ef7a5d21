//! Secure-EPT and private-memory management: TDH.MEM.* leaves.
//!
//! Every leaf here that walks the Secure EPT reports the entry it stopped at on failure
//! ([`SeptDetails`], from RCX/RDX); those wrappers return a [`DetailedResult`].

use super::{check_page, check_sept, page_or_null, DetailedResult, Host, SeptDetails};
use crate::abi::addr::MAX_PHYS_ADDR_BITS;
use crate::abi::check::check_address;
use crate::abi::{GuestPhysAddr, HostPhysAddr, PageInfo, PageLevel, TdrPage, NULL_PA};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::{Status, StatusCode};

/// The L2 VMs of TD partitioning (VM 1..=3), for the leaves that take one page per VM.
pub type L2Pages = [Option<HostPhysAddr>; 3];

/// What happened to an extra SEPT page offered to TDH.MEM.SEPT.ADD v1 or
/// TDH.MEM.PAGE.DEMOTE (R8-R11 as the module writes them back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OfferedPage {
    /// No page was offered (NULL_PA in and out).
    None,
    /// The module took the page: it is now a Secure-EPT page of the TD.
    Consumed,
    /// The module did not need the page (bit 63 set on output): the host still owns it.
    Unused(HostPhysAddr),
}

impl OfferedPage {
    fn decode(offered: u64, returned: u64) -> OfferedPage {
        if offered == NULL_PA {
            OfferedPage::None
        } else if returned != NULL_PA && returned & (1 << 63) != 0 {
            OfferedPage::Unused(HostPhysAddr::from_raw_unchecked(returned & !(1 << 63)))
        } else {
            OfferedPage::Consumed
        }
    }
}

/// A Secure-EPT entry read by TDH.MEM.SEPT.RD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeptEntry {
    /// The entry and its level/state/VM information (RCX, RDX).
    pub entry: SeptDetails,
    /// R8: the L2 attributes of the GPA (16 bits per VM 0..3), when requested.
    pub l2_attributes: Option<u64>,
}

/// A page removed from the Secure EPT with its L2 SEPT pages (v1 leaves).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemovedSeptPages {
    /// The L1 page the module gave back.
    pub l1: HostPhysAddr,
    /// The L2 SEPT pages of VM 1..=3 it gave back, if any (R9-R11; NULL_PA = none).
    pub l2: L2Pages,
}

impl RemovedSeptPages {
    /// Decodes RCX (the freed L1 page) and, for leaf version 1, R9-R11 (the L2 pages).
    fn from_regs(regs: &Regs, version: u8) -> RemovedSeptPages {
        RemovedSeptPages {
            l1: HostPhysAddr::from_raw_unchecked(regs.rcx),
            l2: if version == 1 {
                l2_from(regs)
            } else {
                [None; 3]
            },
        }
    }
}

fn l2_from(regs: &Regs) -> L2Pages {
    [regs.r9, regs.r10, regs.r11]
        .map(|r| (r != NULL_PA).then(|| HostPhysAddr::from_raw_unchecked(r)))
}

#[inline]
fn page_info(gpa: GuestPhysAddr, level: PageLevel, min: PageLevel, max: PageLevel) -> Result<u64> {
    PageInfo::for_leaf(gpa, level, min, max).map(PageInfo::raw)
}

fn check_l2(pages: &L2Pages) -> Result<[u64; 3]> {
    let mut out = [NULL_PA; 3];
    for (slot, page) in out.iter_mut().zip(pages) {
        if let Some(page) = page {
            *slot = check_page("L2 SEPT page", *page)?.raw();
        }
    }
    Ok(out)
}

fn check_8byte(gpa: GuestPhysAddr) -> Result<u64> {
    check_address("GPA", gpa.raw(), MAX_PHYS_ADDR_BITS, 8)
}

/// How TDH.MEM.RANGE.BLOCK completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RangeBlock {
    /// TDX_SUCCESS: the range is now blocked.
    Blocked,
    /// TDX_GPA_RANGE_ALREADY_BLOCKED (a warning): it was blocked before.
    AlreadyBlocked,
}

impl<B: Backend> Host<B> {
    /// TDH.MEM.PAGE.ADD (leaf 2): add a 4 KiB private page to a TD before it is finalized,
    /// copying the contents of `source` and extending MRTD.
    ///
    /// RCX = page_info (GPA, level 0), RDX = TDR, R8 = target page, R9 = source page.
    /// RCX/RDX come back 0, or the SEPT entry on a SEPT error.
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a misaligned page;
    /// [`Error::Status`](crate::Error::Status) with [`SeptDetails`] on SEPT errors.
    ///
    /// # Safety
    ///
    /// `target` becomes a private TD page: the host must not access it until it is
    /// removed and reclaimed. `source` is only read.
    #[inline]
    #[doc(alias = "TDH.MEM.PAGE.ADD")]
    pub unsafe fn mem_page_add(
        &mut self,
        gpa: GuestPhysAddr,
        tdr: TdrPage,
        target: HostPhysAddr,
        source: HostPhysAddr,
    ) -> DetailedResult<(), SeptDetails> {
        let mut regs = Regs {
            rcx: page_info(gpa, PageLevel::Size4K, PageLevel::Size4K, PageLevel::Size4K)?,
            rdx: tdr.raw(),
            r8: check_page("target page", target)?.raw(),
            r9: check_page("source page", source)?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller gives `target` up as documented.
        let status = unsafe { self.call(Leaf::TdhMemPageAdd, 0, &mut regs) };
        check_sept(status, &regs).map(drop)
    }

    /// TDH.MEM.SEPT.ADD v0 (leaf 3): add a Secure-EPT page for `gpa` at `level` (1..=4).
    ///
    /// RCX = page_info, RDX = TDR | ALLOW_EXISTING (bit 0), R8 = the new SEPT page.
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for level 0 or a
    /// misaligned GPA/page; [`Error::Status`](crate::Error::Status) with [`SeptDetails`].
    ///
    /// # Safety
    ///
    /// On success `sept_page` becomes a Secure-EPT page of the TD (the host must not access
    /// it until removed and reclaimed).
    #[inline]
    #[doc(alias = "TDH.MEM.SEPT.ADD")]
    pub unsafe fn mem_sept_add(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
        sept_page: HostPhysAddr,
    ) -> DetailedResult<(), SeptDetails> {
        let mut regs = Regs {
            rcx: page_info(gpa, level, PageLevel::Size2M, PageLevel::Size256T)?,
            rdx: tdr.raw(),
            r8: check_page("SEPT page", sept_page)?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller gives the page up as documented.
        let status = unsafe { self.call(Leaf::TdhMemSeptAdd, 0, &mut regs) };
        check_sept(status, &regs).map(drop)
    }

    /// TDH.MEM.SEPT.ADD v1 (leaf 3, version 1): add the L1 Secure-EPT page and the L2
    /// SEPT pages of VM 1..=3 for `gpa` at `level` (1..=4).
    ///
    /// RCX = page_info, RDX = TDR | ALLOW_EXISTING (bit 0), R8 = L1 page or NULL_PA (when
    /// the L1 entry exists), R9-R11 = L2 pages or NULL_PA. The module writes R8-R11 back
    /// (NULL_PA = consumed, bit 63 = not used); TDX_INTERRUPTED_RESUMABLE is resumed here
    /// with those registers.
    ///
    /// Module 1.5+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_sept_add`].
    ///
    /// # Safety
    ///
    /// Every page reported [`OfferedPage::Consumed`] becomes a Secure-EPT page of the TD;
    /// as the caller cannot know which until the call returns, it must give all offered
    /// pages up for the duration of the call and keep only the [`OfferedPage::Unused`] ones.
    #[inline]
    #[doc(alias = "TDH.MEM.SEPT.ADD")]
    pub unsafe fn mem_sept_add_v1(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
        allow_existing: bool,
        l1: Option<HostPhysAddr>,
        l2: L2Pages,
    ) -> DetailedResult<[OfferedPage; 4], SeptDetails> {
        let rcx = page_info(gpa, level, PageLevel::Size2M, PageLevel::Size256T)?;
        let l1 = l1.map(|p| check_page("L1 SEPT page", p)).transpose()?;
        let [r9, r10, r11] = check_l2(&l2)?;
        let mut regs = Regs {
            rcx,
            rdx: tdr.raw() | allow_existing as u64,
            r8: page_or_null(l1),
            r9,
            r10,
            r11,
            ..Regs::ZERO
        };
        let offered = [regs.r8, r9, r10, r11];
        // SAFETY: the caller gives the offered pages up as documented.
        let status = unsafe { self.call_resuming(Leaf::TdhMemSeptAdd, 1, &mut regs) };
        check_sept(status, &regs)?;
        let returned = [regs.r8, regs.r9, regs.r10, regs.r11];
        Ok(core::array::from_fn(|i| {
            OfferedPage::decode(offered[i], returned[i])
        }))
    }

    /// TDH.MEM.PAGE.RELOCATE (leaf 5): move a 4 KiB private page to `new_page`.
    ///
    /// RCX = page_info (level 0), RDX = TDR, R8 = new page. Returns RCX = the old page,
    /// which the host gets back (after reclaiming it).
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_page_add`].
    ///
    /// # Safety
    ///
    /// `new_page` becomes a private TD page; the returned page is still owned by the module
    /// until TDH.PHYMEM.PAGE.RECLAIM.
    #[inline]
    #[doc(alias = "TDH.MEM.PAGE.RELOCATE")]
    pub unsafe fn mem_page_relocate(
        &mut self,
        gpa: GuestPhysAddr,
        tdr: TdrPage,
        new_page: HostPhysAddr,
    ) -> DetailedResult<HostPhysAddr, SeptDetails> {
        let mut regs = Regs {
            rcx: page_info(gpa, PageLevel::Size4K, PageLevel::Size4K, PageLevel::Size4K)?,
            rdx: tdr.raw(),
            r8: check_page("new page", new_page)?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller gives `new_page` up as documented.
        let status = unsafe { self.call(Leaf::TdhMemPageRelocate, 0, &mut regs) };
        check_sept(status, &regs)?;
        Ok(HostPhysAddr::from_raw_unchecked(regs.rcx))
    }

    /// TDH.MEM.PAGE.AUG (leaf 6): add a pending private page (4 KiB or 2 MiB) to a running
    /// TD; the guest accepts it with TDG.MEM.PAGE.ACCEPT.
    ///
    /// RCX = page_info (level 0..=1), RDX = TDR, R8 = the page.
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_page_add`].
    ///
    /// # Safety
    ///
    /// `page` (and for level 1 the whole 2 MiB range) becomes private TD memory.
    #[inline]
    #[doc(alias = "TDH.MEM.PAGE.AUG")]
    pub unsafe fn mem_page_aug(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
        page: HostPhysAddr,
    ) -> DetailedResult<(), SeptDetails> {
        let rcx = page_info(gpa, level, PageLevel::Size4K, PageLevel::Size2M)?;
        let page = HostPhysAddr::aligned(page.raw(), level.size())?;
        let mut regs = Regs {
            rcx,
            rdx: tdr.raw(),
            r8: page.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller gives the page up as documented.
        let status = unsafe { self.call(Leaf::TdhMemPageAug, 0, &mut regs) };
        check_sept(status, &regs).map(drop)
    }

    /// TDH.MEM.RANGE.BLOCK (leaf 7): block new translations of a GPA range (level 0..=4).
    ///
    /// RCX = page_info, RDX = TDR. Safe: it only changes SEPT-entry state; no host page
    /// changes owner.
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_page_add`].
    #[inline]
    #[doc(alias = "TDH.MEM.RANGE.BLOCK")]
    pub fn mem_range_block(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
    ) -> DetailedResult<RangeBlock, SeptDetails> {
        let status = self.gpa_tdr(Leaf::TdhMemRangeBlock, gpa, level, PageLevel::Size4K, tdr)?;
        Ok(if status.is(StatusCode::GpaRangeAlreadyBlocked) {
            RangeBlock::AlreadyBlocked
        } else {
            RangeBlock::Blocked
        })
    }

    /// TDH.MEM.RD (leaf 12): read 8 bytes of a debug TD's private memory.
    ///
    /// RCX = GPA (8-byte aligned), RDX = TDR. R8 = the data (RCX, RDX, R8 are zeroed first;
    /// SEPT details on error).
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_page_add`]; TDX_TD_NON_DEBUG for a non-debug TD.
    #[inline]
    #[doc(alias = "TDH.MEM.RD")]
    pub fn mem_rd(&mut self, gpa: GuestPhysAddr, tdr: TdrPage) -> DetailedResult<u64, SeptDetails> {
        let mut regs = Regs {
            rcx: check_8byte(gpa)?,
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: reads TD memory into R8; no host memory is touched.
        let status = unsafe { self.call(Leaf::TdhMemRd, 0, &mut regs) };
        check_sept(status, &regs)?;
        Ok(regs.r8)
    }

    /// TDH.MEM.WR (leaf 14): write 8 bytes of a debug TD's private memory; returns the
    /// previous value.
    ///
    /// RCX = GPA (8-byte aligned), RDX = TDR, R8 = data. R8 = previous data (zeroed first,
    /// so on failure the input is gone).
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_rd`].
    #[inline]
    #[doc(alias = "TDH.MEM.WR")]
    pub fn mem_wr(
        &mut self,
        gpa: GuestPhysAddr,
        tdr: TdrPage,
        data: u64,
    ) -> DetailedResult<u64, SeptDetails> {
        let mut regs = Regs {
            rcx: check_8byte(gpa)?,
            rdx: tdr.raw(),
            r8: data,
            ..Regs::ZERO
        };
        // SAFETY: writes TD memory only.
        let status = unsafe { self.call(Leaf::TdhMemWr, 0, &mut regs) };
        check_sept(status, &regs)?;
        Ok(regs.r8)
    }

    /// TDH.MEM.PAGE.DEMOTE (leaf 15): split a 2 MiB or 1 GiB private page (level 1..=2)
    /// into 512 smaller ones, using `l1` as the new Secure-EPT page and `l2` for the L2
    /// VMs.
    ///
    /// RCX = page_info, RDX = TDR | L2_SEPT_ADD_MODE (bit 0: sparse), R8 = L1 page,
    /// R9-R11 = L2 pages or NULL_PA. On success R9-R11 come back with bit 63 set for the
    /// pages not used. TDX_INTERRUPTED_RESTARTABLE is restarted here.
    ///
    /// Module 1.0+ (L2 pages: 1.5+).
    ///
    /// # Errors
    ///
    /// As [`Host::mem_sept_add`].
    ///
    /// # Safety
    ///
    /// As [`Host::mem_sept_add_v1`]: `l1` and the consumed L2 pages become Secure-EPT
    /// pages of the TD.
    #[inline]
    #[doc(alias = "TDH.MEM.PAGE.DEMOTE")]
    pub unsafe fn mem_page_demote(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
        sparse_l2: bool,
        l1: HostPhysAddr,
        l2: L2Pages,
    ) -> DetailedResult<[OfferedPage; 3], SeptDetails> {
        let rcx = page_info(gpa, level, PageLevel::Size2M, PageLevel::Size1G)?;
        let r8 = check_page("L1 SEPT page", l1)?.raw();
        let [r9, r10, r11] = check_l2(&l2)?;
        let mut regs = Regs {
            rcx,
            rdx: tdr.raw() | sparse_l2 as u64,
            r8,
            r9,
            r10,
            r11,
            ..Regs::ZERO
        };
        // SAFETY: the caller gives the pages up as documented.
        let status = unsafe { self.call_resuming(Leaf::TdhMemPageDemote, 0, &mut regs) };
        check_sept(status, &regs)?;
        let offered = [r9, r10, r11];
        let returned = [regs.r9, regs.r10, regs.r11];
        Ok(core::array::from_fn(|i| {
            OfferedPage::decode(offered[i], returned[i])
        }))
    }

    /// TDH.MEM.PAGE.PROMOTE v0 (leaf 23): merge 512 private pages into one page of `level`
    /// (1..=2); returns the freed Secure-EPT page (RCX).
    ///
    /// RCX = page_info, RDX = TDR. TDX_INTERRUPTED_RESTARTABLE is restarted here.
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_sept_add`].
    ///
    /// # Safety
    ///
    /// Changes the TD's mappings; the freed page still belongs to the module until
    /// TDH.PHYMEM.PAGE.RECLAIM. The range must have been blocked and tracked.
    #[inline]
    #[doc(alias = "TDH.MEM.PAGE.PROMOTE")]
    pub unsafe fn mem_page_promote(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
    ) -> DetailedResult<HostPhysAddr, SeptDetails> {
        // SAFETY: the caller upholds the contract above.
        unsafe { self.promote(gpa, level, tdr, 0) }.map(|pages| pages.l1)
    }

    /// TDH.MEM.PAGE.PROMOTE v1 (leaf 23, version 1): as [`Host::mem_page_promote`], also
    /// returning the freed L2 SEPT pages (R9-R11, NULL_PA = none).
    ///
    /// Module 1.5+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_sept_add`].
    ///
    /// # Safety
    ///
    /// As [`Host::mem_page_promote`].
    #[inline]
    #[doc(alias = "TDH.MEM.PAGE.PROMOTE")]
    pub unsafe fn mem_page_promote_v1(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
    ) -> DetailedResult<RemovedSeptPages, SeptDetails> {
        // SAFETY: the caller upholds the contract above.
        unsafe { self.promote(gpa, level, tdr, 1) }
    }

    unsafe fn promote(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
        version: u8,
    ) -> DetailedResult<RemovedSeptPages, SeptDetails> {
        let mut regs = Regs {
            rcx: page_info(gpa, level, PageLevel::Size2M, PageLevel::Size1G)?,
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller upholds the contract of the public wrappers.
        let status = unsafe { self.call_resuming(Leaf::TdhMemPagePromote, version, &mut regs) };
        check_sept(status, &regs)?;
        Ok(RemovedSeptPages::from_regs(&regs, version))
    }

    /// TDH.MEM.SEPT.RD (leaf 25): read the Secure-EPT entry mapping `gpa` at `level`.
    ///
    /// RCX = page_info (level 0..=4), RDX = TDR | bit 0 (also read the L2 attributes,
    /// debug TDs only). RCX = entry, RDX = level/state/VM, R8 = L2 attributes.
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_page_add`].
    #[inline]
    #[doc(alias = "TDH.MEM.SEPT.RD")]
    pub fn mem_sept_rd(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
        l2_attributes: bool,
    ) -> DetailedResult<SeptEntry, SeptDetails> {
        let mut regs = Regs {
            rcx: page_info(gpa, level, PageLevel::Size4K, PageLevel::Size256T)?,
            rdx: tdr.raw() | l2_attributes as u64,
            ..Regs::ZERO
        };
        // SAFETY: a read into registers.
        let status = unsafe { self.call(Leaf::TdhMemSeptRd, 0, &mut regs) };
        check_sept(status, &regs)?;
        Ok(SeptEntry {
            entry: SeptDetails::from_regs(regs.rcx, regs.rdx),
            l2_attributes: l2_attributes.then_some(regs.r8),
        })
    }

    /// TDH.MEM.PAGE.REMOVE (leaf 29): remove a private page (level 0..=2) from a TD;
    /// returns the page (RCX), still owned by the module until reclaimed.
    ///
    /// RCX = page_info, RDX = TDR.
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_page_add`].
    ///
    /// # Safety
    ///
    /// Changes the TD's mappings: the range must have been blocked and tracked, and the
    /// guest loses the page's contents.
    #[inline]
    #[doc(alias = "TDH.MEM.PAGE.REMOVE")]
    pub unsafe fn mem_page_remove(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
    ) -> DetailedResult<HostPhysAddr, SeptDetails> {
        let mut regs = Regs {
            rcx: page_info(gpa, level, PageLevel::Size4K, PageLevel::Size1G)?,
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller upholds the contract above.
        let status = unsafe { self.call(Leaf::TdhMemPageRemove, 0, &mut regs) };
        check_sept(status, &regs)?;
        Ok(HostPhysAddr::from_raw_unchecked(regs.rcx))
    }

    /// TDH.MEM.SEPT.REMOVE v0 (leaf 30): remove a Secure-EPT page (level 1..=4); returns
    /// it (RCX).
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_page_add`].
    ///
    /// # Safety
    ///
    /// As [`Host::mem_page_remove`].
    #[inline]
    #[doc(alias = "TDH.MEM.SEPT.REMOVE")]
    pub unsafe fn mem_sept_remove(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
    ) -> DetailedResult<HostPhysAddr, SeptDetails> {
        // SAFETY: the caller upholds the contract above.
        unsafe { self.sept_remove(gpa, level, tdr, 0) }.map(|pages| pages.l1)
    }

    /// TDH.MEM.SEPT.REMOVE v1 (leaf 30, version 1): also returns the L2 SEPT pages
    /// (R9-R11).
    ///
    /// Module 1.5+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_page_add`].
    ///
    /// # Safety
    ///
    /// As [`Host::mem_page_remove`].
    #[inline]
    #[doc(alias = "TDH.MEM.SEPT.REMOVE")]
    pub unsafe fn mem_sept_remove_v1(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
    ) -> DetailedResult<RemovedSeptPages, SeptDetails> {
        // SAFETY: the caller upholds the contract above.
        unsafe { self.sept_remove(gpa, level, tdr, 1) }
    }

    unsafe fn sept_remove(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
        version: u8,
    ) -> DetailedResult<RemovedSeptPages, SeptDetails> {
        let mut regs = Regs {
            rcx: page_info(gpa, level, PageLevel::Size2M, PageLevel::Size256T)?,
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller upholds the contract of the public wrappers.
        let status = unsafe { self.call(Leaf::TdhMemSeptRemove, version, &mut regs) };
        check_sept(status, &regs)?;
        Ok(RemovedSeptPages::from_regs(&regs, version))
    }

    /// TDH.MEM.TRACK (leaf 38): increment the TD's TLB epoch.
    ///
    /// RCX = TDR. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status), e.g. TDX_OPERAND_BUSY with operand
    /// TD_EPOCH (169) when contended (not retried, see the module docs).
    #[inline]
    #[doc(alias = "TDH.MEM.TRACK")]
    pub fn mem_track(&mut self, tdr: TdrPage) -> Result<()> {
        self.tdr_only(Leaf::TdhMemTrack, tdr).map(drop)
    }

    /// TDH.MEM.RANGE.UNBLOCK (leaf 39): unblock a blocked GPA range (level 0..=4).
    ///
    /// RCX = page_info, RDX = TDR. Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mem_page_add`].
    #[inline]
    #[doc(alias = "TDH.MEM.RANGE.UNBLOCK")]
    pub fn mem_range_unblock(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        tdr: TdrPage,
    ) -> DetailedResult<(), SeptDetails> {
        self.gpa_tdr(Leaf::TdhMemRangeUnblock, gpa, level, PageLevel::Size4K, tdr)
            .map(drop)
    }

    /// A leaf taking RCX = page_info (level `min..=4`) and RDX = TDR, changing SEPT-entry
    /// state only.
    pub(crate) fn gpa_tdr(
        &mut self,
        leaf: Leaf,
        gpa: GuestPhysAddr,
        level: PageLevel,
        min: PageLevel,
        tdr: TdrPage,
    ) -> DetailedResult<Status, SeptDetails> {
        let mut regs = Regs {
            rcx: page_info(gpa, level, min, PageLevel::Size256T)?,
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: only used for leaves that change SEPT-entry state, never page ownership.
        let status = unsafe { self.call(leaf, 0, &mut regs) };
        check_sept(status, &regs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidReason;
    use crate::host::testing::*;
    use crate::Error;

    const TDR: u64 = 0x7_0000_1000;
    fn tdr() -> TdrPage {
        TdrPage::from_raw(TDR).unwrap()
    }
    fn gpa(raw: u64) -> GuestPhysAddr {
        GuestPhysAddr::new(raw).unwrap()
    }
    fn hpa(raw: u64) -> HostPhysAddr {
        HostPhysAddr::new(raw).unwrap()
    }
    const SEPT_ERR: u64 = 0xC000_0B00_0000_0000; // TDX_EPT_WALK_FAILED
    const SEPT_OUT: Regs = regs!(JUNK; rcx: 0xABCD_E007, rdx: 0x2_3402);
    const SEPT_DETAILS: SeptDetails = SeptDetails {
        entry: 0xABCD_E007,
        level: 2,
        state: 0x34,
        vm: 2,
        raw_info: 0x2_3402,
    };

    fn sept_err<T: core::fmt::Debug>(r: DetailedResult<T, SeptDetails>) {
        let err = r.unwrap_err();
        assert_eq!(err.error, Error::Status(Status::from_raw(SEPT_ERR)));
        assert_eq!(err.details, Some(SEPT_DETAILS));
    }

    #[test]
    fn page_add() {
        let input = regs!(rcx: 0x20_0000, rdx: TDR, r8: 0x3000, r9: 0x4000);
        let calls = [seamcall(2, input, regs!(input; rcx: 0, rdx: 0), 0)];
        // SAFETY: scripted backend (all tests in this module).
        with_script(&calls, |h| unsafe {
            h.mem_page_add(gpa(0x20_0000), tdr(), hpa(0x3000), hpa(0x4000))
        })
        .unwrap();
        let calls = [seamcall(2, input, SEPT_OUT, SEPT_ERR)];
        // SAFETY: scripted backend; no instruction executes.
        sept_err(with_script(&calls, |h| unsafe {
            h.mem_page_add(gpa(0x20_0000), tdr(), hpa(0x3000), hpa(0x4000))
        }));
        // A non-SEPT error carries no details.
        let calls = [seamcall(2, input, SEPT_OUT, 0xC000_0100_0000_0008)];
        // SAFETY: scripted backend; no instruction executes.
        let err = with_script(&calls, |h| unsafe {
            h.mem_page_add(gpa(0x20_0000), tdr(), hpa(0x3000), hpa(0x4000))
        })
        .unwrap_err();
        assert_eq!(err.details, None);
        assert!(matches!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.mem_page_add(gpa(0x20_0800), tdr(), hpa(0x3000), hpa(0x4000))
            })),
            InvalidReason::Misaligned { required: 4096, .. }
        ));
        assert!(matches!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.mem_page_add(gpa(0x20_0000), tdr(), hpa(0x3008), hpa(0x4000))
            })),
            InvalidReason::Misaligned { .. }
        ));
    }

    #[test]
    fn sept_add_v0_and_v1() {
        let input = regs!(rcx: 0x4000_0000 | 1, rdx: TDR, r8: 0x5000);
        let calls = [seamcall(3, input, regs!(input; rcx: 0, rdx: 0), 0)];
        // SAFETY: scripted backend; no instruction executes.
        with_script(&calls, |h| unsafe {
            h.mem_sept_add(gpa(0x4000_0000), PageLevel::Size2M, tdr(), hpa(0x5000))
        })
        .unwrap();
        assert!(matches!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.mem_sept_add(gpa(0x4000_0000), PageLevel::Size4K, tdr(), hpa(0x5000))
            })),
            InvalidReason::LevelOutOfRange {
                level: 0,
                min: 1,
                max: 4
            }
        ));
        let calls = [seamcall(3, input, SEPT_OUT, SEPT_ERR)];
        // SAFETY: scripted backend; no instruction executes.
        sept_err(with_script(&calls, |h| unsafe {
            h.mem_sept_add(gpa(0x4000_0000), PageLevel::Size2M, tdr(), hpa(0x5000))
        }));

        // v1: L1 exists (NULL_PA), L2 pages for VM1 and VM3; interrupted once, then VM1's
        // page consumed and VM3's unused.
        let input = regs!(rcx: 0x4000_0000 | 1, rdx: TDR | 1, r8: NULL_PA, r9: 0x6000, r10: NULL_PA, r11: 0x8000);
        let mid = regs!(input; r9: NULL_PA);
        let out = regs!(mid; rcx: 0, rdx: 0, r11: 0x8000 | 1 << 63);
        let calls = [
            seamcall(0x1_0003, input, mid, 0x8000_0003_0000_0000),
            seamcall(0x1_0003, mid, out, 0),
        ];
        // SAFETY: scripted backend; no instruction executes.
        let pages = with_script(&calls, |h| unsafe {
            h.mem_sept_add_v1(
                gpa(0x4000_0000),
                PageLevel::Size2M,
                tdr(),
                true,
                None,
                [Some(hpa(0x6000)), None, Some(hpa(0x8000))],
            )
        })
        .unwrap();
        assert_eq!(
            pages,
            [
                OfferedPage::None,
                OfferedPage::Consumed,
                OfferedPage::None,
                OfferedPage::Unused(hpa(0x8000))
            ]
        );
        assert!(matches!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.mem_sept_add_v1(
                    gpa(0x4000_0000),
                    PageLevel::Size2M,
                    tdr(),
                    true,
                    None,
                    [Some(hpa(0x6001)), None, None],
                )
            })),
            InvalidReason::Misaligned { .. }
        ));
    }

    #[test]
    fn relocate_aug_remove() {
        let input = regs!(rcx: 0x1000, rdx: TDR, r8: 0x9000);
        let calls = [seamcall(5, input, regs!(input; rcx: 0x3000, rdx: 0), 0)];
        assert_eq!(
            // SAFETY: scripted backend; no instruction executes.
            with_script(&calls, |h| unsafe {
                h.mem_page_relocate(gpa(0x1000), tdr(), hpa(0x9000))
            }),
            Ok(hpa(0x3000))
        );
        let calls = [seamcall(5, input, SEPT_OUT, SEPT_ERR)];
        // SAFETY: scripted backend; no instruction executes.
        sept_err(with_script(&calls, |h| unsafe {
            h.mem_page_relocate(gpa(0x1000), tdr(), hpa(0x9000))
        }));

        let input = regs!(rcx: 0x20_0001, rdx: TDR, r8: 0x40_0000);
        let calls = [seamcall(6, input, regs!(input; rcx: 0, rdx: 0), 0)];
        // SAFETY: scripted backend; no instruction executes.
        with_script(&calls, |h| unsafe {
            h.mem_page_aug(gpa(0x20_0000), PageLevel::Size2M, tdr(), hpa(0x40_0000))
        })
        .unwrap();
        let calls = [seamcall(6, input, SEPT_OUT, SEPT_ERR)];
        // SAFETY: scripted backend; no instruction executes.
        sept_err(with_script(&calls, |h| unsafe {
            h.mem_page_aug(gpa(0x20_0000), PageLevel::Size2M, tdr(), hpa(0x40_0000))
        }));
        assert!(matches!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.mem_page_aug(gpa(0x20_0000), PageLevel::Size2M, tdr(), hpa(0x40_1000))
            })),
            InvalidReason::Misaligned {
                required: 0x20_0000,
                ..
            }
        ));
        assert!(matches!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.mem_page_aug(gpa(0x4000_0000), PageLevel::Size1G, tdr(), hpa(0x4000_0000))
            })),
            InvalidReason::LevelOutOfRange {
                level: 2,
                min: 0,
                max: 1
            }
        ));

        let input = regs!(rcx: 0x4000_0002, rdx: TDR);
        let calls = [seamcall(
            29,
            input,
            regs!(input; rcx: 0x8000_0000, rdx: 0),
            0,
        )];
        assert_eq!(
            // SAFETY: scripted backend; no instruction executes.
            with_script(&calls, |h| unsafe {
                h.mem_page_remove(gpa(0x4000_0000), PageLevel::Size1G, tdr())
            }),
            Ok(hpa(0x8000_0000))
        );
        let calls = [seamcall(29, input, SEPT_OUT, SEPT_ERR)];
        // SAFETY: scripted backend; no instruction executes.
        sept_err(with_script(&calls, |h| unsafe {
            h.mem_page_remove(gpa(0x4000_0000), PageLevel::Size1G, tdr())
        }));
        assert!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.mem_page_remove(gpa(0), PageLevel::Size512G, tdr())
            })) == InvalidReason::LevelOutOfRange {
                level: 3,
                min: 0,
                max: 2
            }
        );
    }

    #[test]
    fn block_unblock_track() {
        let input = regs!(rcx: 0x20_0001, rdx: TDR);
        let calls = [seamcall(
            7,
            input,
            regs!(input; rcx: 0, rdx: 0),
            0x0000_0B07_0000_0000,
        )];
        assert_eq!(
            with_script(&calls, |h| h.mem_range_block(
                gpa(0x20_0000),
                PageLevel::Size2M,
                tdr()
            )),
            Ok(RangeBlock::AlreadyBlocked)
        );
        let calls = [seamcall(7, input, regs!(input; rcx: 0, rdx: 0), 0)];
        assert_eq!(
            with_script(&calls, |h| h.mem_range_block(
                gpa(0x20_0000),
                PageLevel::Size2M,
                tdr()
            )),
            Ok(RangeBlock::Blocked)
        );
        let calls = [seamcall(7, input, SEPT_OUT, SEPT_ERR)];
        sept_err(with_script(&calls, |h| {
            h.mem_range_block(gpa(0x20_0000), PageLevel::Size2M, tdr())
        }));
        let calls = [seamcall(39, input, regs!(input; rcx: 0, rdx: 0), 0)];
        with_script(&calls, |h| {
            h.mem_range_unblock(gpa(0x20_0000), PageLevel::Size2M, tdr())
        })
        .unwrap();
        let calls = [seamcall(39, input, SEPT_OUT, SEPT_ERR)];
        sept_err(with_script(&calls, |h| {
            h.mem_range_unblock(gpa(0x20_0000), PageLevel::Size2M, tdr())
        }));
        let calls = [seamcall(38, regs!(rcx: TDR), regs!(JUNK;), 0)];
        with_script(&calls, |h| h.mem_track(tdr())).unwrap();
        let busy = 0x8000_0200_0000_00A9;
        let calls = [seamcall(38, regs!(rcx: TDR), regs!(rcx: TDR), busy)];
        assert_eq!(
            with_script(&calls, |h| h.mem_track(tdr())),
            Err(Error::Status(Status::from_raw(busy)))
        );
    }

    #[test]
    fn rd_wr() {
        let input = regs!(rcx: 0x1238, rdx: TDR);
        let calls = [seamcall(
            12,
            input,
            regs!(JUNK; r8: 0xFEED, rcx: 0, rdx: 0),
            0,
        )];
        assert_eq!(
            with_script(&calls, |h| h.mem_rd(gpa(0x1238), tdr())),
            Ok(0xFEED)
        );
        let calls = [seamcall(12, input, SEPT_OUT, SEPT_ERR)];
        sept_err(with_script(&calls, |h| h.mem_rd(gpa(0x1238), tdr())));
        assert!(matches!(
            rejection(without_call(|h| h.mem_rd(gpa(0x1234), tdr()))),
            InvalidReason::Misaligned { required: 8, .. }
        ));
        let input = regs!(rcx: 0x1238, rdx: TDR, r8: 0x1111);
        let calls = [seamcall(
            14,
            input,
            regs!(input; r8: 0x2222, rcx: 0, rdx: 0),
            0,
        )];
        assert_eq!(
            with_script(&calls, |h| h.mem_wr(gpa(0x1238), tdr(), 0x1111)),
            Ok(0x2222)
        );
        let calls = [seamcall(14, input, regs!(SEPT_OUT; r8: 0), SEPT_ERR)];
        sept_err(with_script(&calls, |h| {
            h.mem_wr(gpa(0x1238), tdr(), 0x1111)
        }));
        assert!(without_call(|h| h.mem_wr(gpa(0x1231), tdr(), 0)).is_err());
    }

    #[test]
    fn demote_promote() {
        let input =
            regs!(rcx: 0x20_0001, rdx: TDR | 1, r8: 0x5000, r9: 0x6000, r10: NULL_PA, r11: NULL_PA);
        let restart = 0x8000_0004_0000_0000;
        let out = regs!(input; rcx: 0, rdx: 0, r9: 0x6000 | 1 << 63);
        let calls = [
            seamcall(15, input, input, restart),
            seamcall(15, input, out, 0),
        ];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.mem_page_demote(
                gpa(0x20_0000),
                PageLevel::Size2M,
                tdr(),
                true,
                hpa(0x5000),
                [Some(hpa(0x6000)), None, None],
            )
        });
        assert_eq!(
            r,
            Ok([
                OfferedPage::Unused(hpa(0x6000)),
                OfferedPage::None,
                OfferedPage::None
            ])
        );
        let calls = [seamcall(15, input, SEPT_OUT, SEPT_ERR)];
        // SAFETY: scripted backend; no instruction executes.
        sept_err(with_script(&calls, |h| unsafe {
            h.mem_page_demote(
                gpa(0x20_0000),
                PageLevel::Size2M,
                tdr(),
                true,
                hpa(0x5000),
                [Some(hpa(0x6000)), None, None],
            )
        }));
        assert!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.mem_page_demote(
                    gpa(0),
                    PageLevel::Size4K,
                    tdr(),
                    false,
                    hpa(0x5000),
                    [None; 3],
                )
            })) == InvalidReason::LevelOutOfRange {
                level: 0,
                min: 1,
                max: 2
            }
        );

        let input = regs!(rcx: 0x20_0001, rdx: TDR);
        let calls = [seamcall(23, input, regs!(JUNK; rcx: 0x7000, rdx: 0), 0)];
        assert_eq!(
            // SAFETY: scripted backend; no instruction executes.
            with_script(&calls, |h| unsafe {
                h.mem_page_promote(gpa(0x20_0000), PageLevel::Size2M, tdr())
            }),
            Ok(hpa(0x7000))
        );
        let out = regs!(JUNK; rcx: 0x7000, rdx: 0, r9: 0xA000, r10: NULL_PA, r11: 0xC000);
        let calls = [seamcall(0x1_0017, input, out, 0)];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.mem_page_promote_v1(gpa(0x20_0000), PageLevel::Size2M, tdr())
        });
        assert_eq!(
            r,
            Ok(RemovedSeptPages {
                l1: hpa(0x7000),
                l2: [Some(hpa(0xA000)), None, Some(hpa(0xC000))]
            })
        );
        let calls = [seamcall(23, input, SEPT_OUT, SEPT_ERR)];
        // SAFETY: scripted backend; no instruction executes.
        sept_err(with_script(&calls, |h| unsafe {
            h.mem_page_promote(gpa(0x20_0000), PageLevel::Size2M, tdr())
        }));
    }

    #[test]
    fn resume_loop_is_bounded() {
        let restart = 0x8000_0004_0000_0000;
        static CALLS: [Call; crate::retry::RESUME_LIMIT as usize] = [seamcall(
            23,
            regs!(rcx: 0x20_0001, rdx: TDR),
            regs!(rcx: 0x20_0001, rdx: TDR),
            0x8000_0004_0000_0000,
        );
            crate::retry::RESUME_LIMIT as usize];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&CALLS, |h| unsafe {
            h.mem_page_promote(gpa(0x20_0000), PageLevel::Size2M, tdr())
        });
        assert_eq!(
            r.unwrap_err().error,
            Error::Status(Status::from_raw(restart))
        );
    }

    #[test]
    fn sept_rd_and_remove() {
        let input = regs!(rcx: 0x4000_0002, rdx: TDR | 1);
        let calls = [seamcall(
            25,
            input,
            regs!(JUNK; rcx: 0xABCD_E007, rdx: 0x2_3402, r8: 0x8F),
            0,
        )];
        let entry = with_script(&calls, |h| {
            h.mem_sept_rd(gpa(0x4000_0000), PageLevel::Size1G, tdr(), true)
        })
        .unwrap();
        assert_eq!(
            entry,
            SeptEntry {
                entry: SEPT_DETAILS,
                l2_attributes: Some(0x8F)
            }
        );
        let calls = [seamcall(
            25,
            regs!(rcx: 0x4000_0002, rdx: TDR),
            SEPT_OUT,
            SEPT_ERR,
        )];
        sept_err(with_script(&calls, |h| {
            h.mem_sept_rd(gpa(0x4000_0000), PageLevel::Size1G, tdr(), false)
        }));

        let input = regs!(rcx: 0x4000_0002, rdx: TDR);
        let calls = [seamcall(30, input, regs!(JUNK; rcx: 0xB000), 0)];
        assert_eq!(
            // SAFETY: scripted backend; no instruction executes.
            with_script(&calls, |h| unsafe {
                h.mem_sept_remove(gpa(0x4000_0000), PageLevel::Size1G, tdr())
            }),
            Ok(hpa(0xB000))
        );
        let out = regs!(JUNK; rcx: 0xB000, r9: NULL_PA, r10: 0xD000, r11: NULL_PA);
        let calls = [seamcall(0x1_001E, input, out, 0)];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.mem_sept_remove_v1(gpa(0x4000_0000), PageLevel::Size1G, tdr())
        });
        assert_eq!(
            r,
            Ok(RemovedSeptPages {
                l1: hpa(0xB000),
                l2: [None, Some(hpa(0xD000)), None]
            })
        );
        let calls = [seamcall(30, input, SEPT_OUT, SEPT_ERR)];
        // SAFETY: scripted backend; no instruction executes.
        sept_err(with_script(&calls, |h| unsafe {
            h.mem_sept_remove(gpa(0x4000_0000), PageLevel::Size1G, tdr())
        }));
        assert!(
            // SAFETY: scripted backend; no instruction executes.
            without_call(|h| unsafe { h.mem_sept_remove(gpa(0), PageLevel::Size4K, tdr()) })
                .is_err()
        );
    }
}
