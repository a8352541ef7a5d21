//! Physical-memory management: TDH.PHYMEM.* leaves.

use super::{check_page, Host};
use crate::abi::addr::MAX_PHYS_ADDR_BITS as MAX_BITS;
use crate::abi::check::{check_address, check_range};
use crate::abi::{HostPhysAddr, TdrPage, PAGE_SIZE};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::retry::{resume_interrupted, Pass};
use crate::status::{Status, StatusCode};

/// The PAMT page type of a physical page (TDX module `page_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageType {
    /// 0, PT_NDA: not assigned to the module (a host page).
    Nda,
    /// 1, PT_RSVD: reserved (not usable as a TD page).
    Reserved,
    /// 3, PT_REG: a regular private TD page.
    Regular,
    /// 4, PT_TDR: a TD root page.
    Tdr,
    /// 5, PT_TDCX: a TDCS or TDVPS extension page.
    Tdcx,
    /// 6, PT_TDVPR: a vCPU root page.
    Tdvpr,
    /// 8, PT_EPT: a Secure-EPT page.
    Ept,
    /// Any other value.
    Other(u64),
}

impl PageType {
    /// Decodes the module's value.
    pub const fn from_raw(raw: u64) -> PageType {
        match raw {
            0 => PageType::Nda,
            1 => PageType::Reserved,
            3 => PageType::Regular,
            4 => PageType::Tdr,
            5 => PageType::Tdcx,
            6 => PageType::Tdvpr,
            8 => PageType::Ept,
            other => PageType::Other(other),
        }
    }
}

/// The PAMT metadata of a physical page, from TDH.PHYMEM.PAGE.RDMD or RECLAIM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageMetadata {
    /// RCX: the page type.
    pub page_type: PageType,
    /// RDX: the owner (the TDR of the TD the page belongs to).
    pub owner: u64,
    /// R8: the page size (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB).
    pub size: u64,
    /// R9: the blocking epoch (RDMD only, for PT_REG/PT_EPT pages; else 0).
    pub bepoch: u64,
}

/// How TDH.PHYMEM.CACHE.WB completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheWb {
    /// TDX_SUCCESS: the caches of every HKID being freed are written back on this package.
    Done,
    /// TDX_NO_HKID_READY_TO_WBCACHE (a warning): no HKID was waiting.
    NothingToDo,
}

impl<B: Backend> Host<B> {
    /// TDH.PHYMEM.PAGE.RDMD (leaf 24): read a page's PAMT metadata.
    ///
    /// RCX = page. RCX = type, RDX = owner, R8 = size, R9 = BEPOCH (R9-R11 zeroed first).
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a misaligned page; [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDH.PHYMEM.PAGE.RDMD")]
    pub fn phymem_page_rdmd(&mut self, page: HostPhysAddr) -> Result<PageMetadata> {
        let mut regs = Regs {
            rcx: check_page("page", page)?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: reads PAMT metadata into registers.
        Status::check(unsafe { self.call(Leaf::TdhPhymemPageRdmd, 0, &mut regs) })?;
        Ok(PageMetadata {
            page_type: PageType::from_raw(regs.rcx),
            owner: regs.rdx,
            size: regs.r8,
            bepoch: regs.r9,
        })
    }

    /// TDH.PHYMEM.PAGE.RECLAIM (leaf 28): take a page of a torn-down TD back from the
    /// module; returns the metadata it had.
    ///
    /// RCX = page. RCX = type, RDX = owner, R8 = size; R9-R11 = 0. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a misaligned page; [`Error::Status`](crate::Error::Status).
    ///
    /// # Safety
    ///
    /// On success the page is the host's again but still holds ciphertext under the TD's
    /// key: the caller must clear it (MOVDIR64B) or write it back (TDH.PHYMEM.PAGE.WBINVD)
    /// before reusing it, and must not reclaim a page another party still tracks.
    #[inline]
    #[doc(alias = "TDH.PHYMEM.PAGE.RECLAIM")]
    pub unsafe fn phymem_page_reclaim(&mut self, page: HostPhysAddr) -> Result<PageMetadata> {
        let mut regs = Regs {
            rcx: check_page("page", page)?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller upholds the contract above.
        Status::check(unsafe { self.call(Leaf::TdhPhymemPageReclaim, 0, &mut regs) })?;
        Ok(PageMetadata {
            page_type: PageType::from_raw(regs.rcx),
            owner: regs.rdx,
            size: regs.r8,
            bepoch: 0,
        })
    }

    /// TDH.PHYMEM.CACHE.WB (leaf 40): write back and invalidate the caches of the HKIDs
    /// being freed, on this package.
    ///
    /// RCX = 0 (start) or 1 (resume). The wrapper starts, and resumes after each
    /// TDX_INTERRUPTED_RESUMABLE, up to [`RESUME_LIMIT`](crate::retry::RESUME_LIMIT) calls. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status), e.g. TDX_WBCACHE_RESUME_ERROR, or TDX_INTERRUPTED_RESUMABLE when
    /// the bound was reached (call [`Host::phymem_cache_wb_resume`] to go on).
    #[inline]
    #[doc(alias = "TDH.PHYMEM.CACHE.WB")]
    pub fn phymem_cache_wb(&mut self) -> Result<CacheWb> {
        self.cache_wb(0)
    }

    /// TDH.PHYMEM.CACHE.WB with RCX = 1: resume an interrupted write-back (then loops as
    /// [`Host::phymem_cache_wb`]).
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::phymem_cache_wb`].
    #[inline]
    #[doc(alias = "TDH.PHYMEM.CACHE.WB")]
    pub fn phymem_cache_wb_resume(&mut self) -> Result<CacheWb> {
        self.cache_wb(1)
    }

    fn cache_wb(&mut self, first_command: u64) -> Result<CacheWb> {
        let status = resume_interrupted(|pass| {
            let mut regs = Regs {
                rcx: match pass {
                    Pass::Start => first_command,
                    Pass::Resume => 1,
                },
                ..Regs::ZERO
            };
            // SAFETY: writes back caches; no host memory changes hands.
            unsafe { self.call(Leaf::TdhPhymemCacheWb, 0, &mut regs) }
        });
        let status = status.check()?;
        Ok(if status.is(StatusCode::NoHkidReadyToWbcache) {
            CacheWb::NothingToDo
        } else {
            CacheWb::Done
        })
    }

    /// TDH.PHYMEM.PAGE.WBINVD (leaf 41): write back and invalidate one page's cache lines
    /// for the HKID encoded in the address.
    ///
    /// RCX = page HPA **with the HKID in the upper address bits** (`hkid << MAXPA`): the
    /// caller composes it, since only it knows the platform's key-ID bits. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a misaligned page; [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDH.PHYMEM.PAGE.WBINVD")]
    pub fn phymem_page_wbinvd(&mut self, page_with_hkid: HostPhysAddr) -> Result<()> {
        let mut regs = Regs {
            rcx: check_page("page", page_with_hkid)?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: flushes caches; no host memory changes hands.
        Status::check(unsafe { self.call(Leaf::TdhPhymemPageWbinvd, 0, &mut regs) }).map(drop)
    }

    /// TDH.PHYMEM.PAGE.WBINVD of a TD's root page with the global private HKID (a
    /// convenience for teardown): RCX = `tdr | global_hkid << hkid_shift`, where
    /// `hkid_shift` is the platform's first key-ID bit (MAXPA, the physical-address width
    /// without key-ID bits).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument), before anything runs,
    /// when `hkid_shift` lies outside 12..=51, when `global_hkid << hkid_shift` does not fit
    /// in the 52 address bits (the HKID would be cut off and the flush run on another key),
    /// or when the TDR address reaches into the key-ID bits; otherwise as
    /// [`Host::phymem_page_wbinvd`].
    #[inline]
    #[doc(alias = "TDH.PHYMEM.PAGE.WBINVD")]
    pub fn phymem_page_wbinvd_tdr(
        &mut self,
        tdr: TdrPage,
        hkid_shift: u32,
        global_hkid: u16,
    ) -> Result<()> {
        let shift = check_range("HKID shift", hkid_shift.into(), 12, MAX_BITS as u64 - 1)? as u32;
        let hkid = check_range(
            "global HKID",
            global_hkid.into(),
            0,
            (1 << (MAX_BITS - shift)) - 1,
        )?;
        let tdr = check_address("TDR below the HKID bits", tdr.raw(), shift, PAGE_SIZE)?;
        self.phymem_page_wbinvd(HostPhysAddr::from_raw_unchecked(tdr | hkid << shift))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, InvalidReason};
    use crate::host::testing::*;
    use crate::Status;

    #[test]
    fn rdmd_and_reclaim() {
        let input = regs!(rcx: 0x5000);
        let out = regs!(JUNK; rcx: 4, rdx: 0x7000, r8: 1, r9: 0x33, r10: 0, r11: 0);
        let calls = [seamcall(24, input, out, 0)];
        let md = with_script(&calls, |h| {
            h.phymem_page_rdmd(HostPhysAddr::new(0x5000).unwrap())
        })
        .unwrap();
        assert_eq!(
            md,
            PageMetadata {
                page_type: PageType::Tdr,
                owner: 0x7000,
                size: 1,
                bepoch: 0x33
            }
        );
        let out = regs!(JUNK; rcx: 8, rdx: 0x7000, r8: 2, r9: 0, r10: 0, r11: 0);
        let calls = [seamcall(28, input, out, 0)];
        // SAFETY: scripted backend; no instruction executes.
        let md = with_script(&calls, |h| unsafe {
            h.phymem_page_reclaim(HostPhysAddr::new(0x5000).unwrap())
        })
        .unwrap();
        assert_eq!(
            md,
            PageMetadata {
                page_type: PageType::Ept,
                owner: 0x7000,
                size: 2,
                bepoch: 0
            }
        );
        let e = 0xC000_0300_0000_0001;
        let calls = [seamcall(28, input, input, e)];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.phymem_page_reclaim(HostPhysAddr::new(0x5000).unwrap())
        });
        assert_eq!(r, Err(Error::Status(Status::from_raw(e))));
        assert!(matches!(
            rejection(without_call(
                |h| h.phymem_page_rdmd(HostPhysAddr::new(0x5001).unwrap())
            )),
            InvalidReason::Misaligned { .. }
        ));
        assert_eq!(PageType::from_raw(7), PageType::Other(7));
    }

    #[test]
    fn cache_wb_resumes() {
        let resumable = 0x8000_0003_0000_0000;
        let calls = [
            seamcall(40, regs!(rcx: 0), regs!(rcx: 0), resumable),
            seamcall(40, regs!(rcx: 1), regs!(rcx: 1), resumable),
            seamcall(40, regs!(rcx: 1), regs!(rcx: 1), 0),
        ];
        assert_eq!(
            with_script(&calls, |h| h.phymem_cache_wb()),
            Ok(CacheWb::Done)
        );
        let calls = [seamcall(
            40,
            regs!(rcx: 1),
            regs!(rcx: 1),
            0x0000_0821_0000_0000,
        )];
        assert_eq!(
            with_script(&calls, |h| h.phymem_cache_wb_resume()),
            Ok(CacheWb::NothingToDo)
        );
        let e = 0xC000_0823_0000_0000;
        let calls = [seamcall(40, regs!(rcx: 1), regs!(rcx: 1), e)];
        assert_eq!(
            with_script(&calls, |h| h.phymem_cache_wb_resume()),
            Err(Error::Status(Status::from_raw(e)))
        );
    }

    #[test]
    fn wbinvd() {
        let calls = [seamcall(41, regs!(rcx: 0x5_0000_7000), regs!(JUNK;), 0)];
        with_script(&calls, |h| {
            h.phymem_page_wbinvd(HostPhysAddr::new(0x5_0000_7000).unwrap())
        })
        .unwrap();
        let calls = [seamcall(41, regs!(rcx: 5 << 46 | 0x7000), regs!(JUNK;), 0)];
        with_script(&calls, |h| {
            h.phymem_page_wbinvd_tdr(TdrPage::from_raw(0x7000).unwrap(), 46, 5)
        })
        .unwrap();
        assert!(
            without_call(|h| h.phymem_page_wbinvd(HostPhysAddr::new(0x7008).unwrap())).is_err()
        );
    }
}
