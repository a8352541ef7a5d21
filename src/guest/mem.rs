//! Private memory: TDG.MEM.PAGE.ACCEPT, and the TD-partitioning leaves
//! TDG.MEM.PAGE.ATTR.RD and TDG.MEM.PAGE.ATTR.WR.

use super::{check_reserved, DetailedError, Guest};
use crate::abi::addr::MAX_PHYS_ADDR_BITS;
use crate::abi::check::check_address;
use crate::abi::{GuestPhysAddr, PageInfo, PageLevel};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::retry::retry_while;
use crate::status::{Status, StatusCode};

/// How many times [`Guest::mem_page_accept`] issues TDG.MEM.PAGE.ACCEPT while the module
/// answers `TDX_OPERAND_BUSY` (another vCPU holds the Secure-EPT entry, or the host is
/// working on it).
pub const ACCEPT_BUSY_ATTEMPTS: u32 = 8;

/// A non-failing result of TDG.MEM.PAGE.ACCEPT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AcceptOutcome {
    /// `TDX_SUCCESS`: the page was pending and is now accepted (and zeroed).
    Accepted,
    /// `TDX_PAGE_ALREADY_ACCEPTED` (a non-error status): the page was already accepted and
    /// was left as it was. The Secure-EPT level of the existing mapping is in `level`.
    AlreadyAccepted {
        /// The status, every bit kept.
        status: Status,
        /// Status bits 31:0: the Secure-EPT level where the mapping was found.
        level: u32,
    },
}

/// The Secure-EPT level that `TDX_PAGE_SIZE_MISMATCH` (from TDG.MEM.PAGE.ACCEPT or
/// TDG.MEM.PAGE.ATTR.WR) carries in bits 31:0 instead of an operand ID; `None` for any other
/// status.
#[inline]
pub fn page_size_mismatch_level(status: Status) -> Option<u32> {
    status
        .is(StatusCode::PageSizeMismatch)
        .then_some(status.details_l2())
}

/// L2 page attributes of one GPA: 16 bits per VM (VM0 = L1 in bits 15:0, VM1 in 31:16, VM2
/// in 47:32, VM3 in 63:48). In each: bit 0 R, 1 W, 2 Xs, 3 Xu, 4 VGP, 5 PWA, 6 SSS, 7 SVE,
/// 14:8 reserved, 15 VALID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct L2Attributes(u64);

impl L2Attributes {
    /// Read.
    pub const R: u16 = 1 << 0;
    /// Write.
    pub const W: u16 = 1 << 1;
    /// Supervisor execute.
    pub const XS: u16 = 1 << 2;
    /// User execute.
    pub const XU: u16 = 1 << 3;
    /// Verify guest paging.
    pub const VGP: u16 = 1 << 4;
    /// Paging-write access.
    pub const PWA: u16 = 1 << 5;
    /// Supervisor shadow stack.
    pub const SSS: u16 = 1 << 6;
    /// Suppress #VE.
    pub const SVE: u16 = 1 << 7;
    /// The attributes of this VM are valid.
    pub const VALID: u16 = 1 << 15;
    const RESERVED: u16 = 0x7F00;

    /// Attributes to write with TDG.MEM.PAGE.ATTR.WR: `per_vm[0]` is VM1, `[1]` VM2, `[2]`
    /// VM3 (VM0, the L1 VMM, is always zero). Each must have reserved bits 14:8 clear, and
    /// VALID set if anything else is set.
    pub fn for_write(per_vm: [u16; 3]) -> Result<L2Attributes> {
        let mut raw = 0;
        for (i, attrs) in per_vm.into_iter().enumerate() {
            if attrs != 0 && attrs & Self::VALID == 0 {
                check_reserved("L2 attributes (VALID clear)", attrs as u64, !0)?;
            }
            raw |= (attrs as u64) << (16 * (i + 1));
        }
        L2Attributes(raw).check_write()
    }

    /// The bits TDG.MEM.PAGE.ATTR.WR requires zero in RDX: all of VM0 (bits 15:0, the L1
    /// VMM) and the reserved bits 14:8 of every L2 VM.
    pub const WRITE_RESERVED: u64 = 0xFFFF
        | (Self::RESERVED as u64) << 16
        | (Self::RESERVED as u64) << 32
        | (Self::RESERVED as u64) << 48;

    /// Checks the attributes as TDG.MEM.PAGE.ATTR.WR's input: no bit of
    /// [`L2Attributes::WRITE_RESERVED`] set (a value made with [`L2Attributes::from_raw`]
    /// may have VM0's bits).
    ///
    /// # Errors
    ///
    /// [`InvalidReason::ReservedBitsSet`](crate::error::InvalidReason::ReservedBitsSet).
    pub fn check_write(self) -> Result<L2Attributes> {
        check_reserved("L2 attributes", self.0, Self::WRITE_RESERVED).map(L2Attributes)
    }

    /// From a value the module returned (unchecked: [`Guest::mem_page_attr_wr`] checks
    /// what it sends).
    #[inline]
    pub const fn from_raw(raw: u64) -> L2Attributes {
        L2Attributes(raw)
    }

    /// The raw 64-bit value.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The 16 attribute bits of VM `vm` (0 to 3).
    #[inline]
    pub const fn vm(self, vm: usize) -> u16 {
        (self.0 >> (16 * (vm & 3))) as u16
    }
}

/// The R8 operand of TDG.MEM.PAGE.ATTR.WR: for each L2 VM, 16 bits that select which
/// attribute bits to write (bits 7:0) and whether to invalidate the VM's EPT afterwards
/// (bit 15); VM0's 16 bits are zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct L2AttrWriteMask(u64);

impl L2AttrWriteMask {
    /// Bit 15 of a VM's mask: invalidate the VM's cached EPT translations.
    pub const INVEPT: u16 = 1 << 15;

    /// `per_vm[0]` for VM1, `[1]` VM2, `[2]` VM3; bits 14:8 must be clear.
    pub fn new(per_vm: [u16; 3]) -> Result<L2AttrWriteMask> {
        let mut raw = 0;
        for (i, mask) in per_vm.into_iter().enumerate() {
            check_reserved("L2 attribute write mask", mask as u64, 0x7F00)?;
            raw |= (mask as u64) << (16 * (i + 1));
        }
        Ok(L2AttrWriteMask(raw))
    }

    /// The raw value.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }
}

/// The GPA mapping TDG.MEM.PAGE.ATTR.RD/WR return in RCX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GpaMapping {
    /// Bits 51:12: the GPA of the mapping, aligned to its level.
    pub gpa: GuestPhysAddr,
    /// Bits 2:0: the Secure-EPT level of the mapping (0 = 4 KiB).
    pub level: u8,
    /// Bit 62: the page is pending (not yet accepted).
    pub pending: bool,
}

impl GpaMapping {
    fn decode(rcx: u64) -> GpaMapping {
        GpaMapping {
            gpa: GuestPhysAddr::from_raw_unchecked(rcx & 0x000F_FFFF_FFFF_F000),
            level: (rcx & 7) as u8,
            pending: rcx & 1 << 62 != 0,
        }
    }
}

/// A private page's mapping and L2 attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageAttributes {
    /// RCX: the mapping.
    pub mapping: GpaMapping,
    /// RDX: the attributes of every VM.
    pub attributes: L2Attributes,
}

impl<B: Backend> Guest<B> {
    /// Accepts a pending private page of 4 KiB or 2 MiB at `gpa`, retrying while the module
    /// answers `TDX_OPERAND_BUSY`, up to [`ACCEPT_BUSY_ATTEMPTS`] calls.
    ///
    /// Leaf 6. Inputs: RCX page_info (GPA | level; level 0 or 1 in module 1.5.01). Outputs:
    /// none; `TDX_PAGE_ALREADY_ACCEPTED` and `TDX_PAGE_SIZE_MISMATCH` carry the Secure-EPT
    /// level in status bits 31:0 (see [`page_size_mismatch_level`]). An interrupt restarts
    /// the instruction inside the module, invisibly to the caller. Since module 1.0.
    ///
    /// # Errors
    ///
    /// Misaligned GPA or a level above 2 MiB (nothing runs); [`Error::Status`](crate::Error::Status):
    /// `TDX_PAGE_SIZE_MISMATCH`, `TDX_OPERAND_BUSY` after the last attempt, and the others.
    ///
    /// # Safety
    ///
    /// The module maps the page into the TD's private memory and zeroes it. `gpa` must name
    /// memory that no live Rust value relies on (its contents are lost) and that the caller
    /// means to add to the TD's private memory.
    #[inline]
    #[doc(alias = "TDG.MEM.PAGE.ACCEPT")]
    pub unsafe fn mem_page_accept(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
    ) -> Result<AcceptOutcome> {
        let page_info = PageInfo::for_leaf(gpa, level, PageLevel::Size4K, PageLevel::Size2M)?;
        let status = retry_while(
            ACCEPT_BUSY_ATTEMPTS,
            |status| status.is(StatusCode::OperandBusy),
            || {
                let mut regs = Regs {
                    rcx: page_info.raw(),
                    ..Regs::ZERO
                };
                // SAFETY: the caller upholds the accept contract above.
                unsafe { self.call(Leaf::TdgMemPageAccept, 0, &mut regs) }
            },
        );
        status.check()?;
        Ok(if status.is(StatusCode::PageAlreadyAccepted) {
            AcceptOutcome::AlreadyAccepted {
                status,
                level: status.details_l2(),
            }
        } else {
            AcceptOutcome::Accepted
        })
    }

    /// Reads the mapping and L2 attributes of the private page at `gpa`.
    ///
    /// Leaf 23. Inputs: RCX GPA. Outputs: RCX mapping (level, GPA, pending), RDX
    /// attributes (both zeroed on error). Since module 1.5 (TD partitioning).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a GPA above bits 51:0
    /// (possible only through [`GuestPhysAddr::from_raw_unchecked`]);
    /// [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDG.MEM.PAGE.ATTR.RD")]
    pub fn mem_page_attr_rd(&mut self, gpa: GuestPhysAddr) -> Result<PageAttributes> {
        let mut regs = Regs {
            rcx: check_address("GPA", gpa.raw(), MAX_PHYS_ADDR_BITS, 1)?,
            ..Regs::ZERO
        };
        // SAFETY: a read of the Secure EPT that only writes registers.
        Status::check(unsafe { self.call(Leaf::TdgMemPageAttrRd, 0, &mut regs) })?;
        Ok(PageAttributes {
            mapping: GpaMapping::decode(regs.rcx),
            attributes: L2Attributes(regs.rdx),
        })
    }

    /// Writes the L2 attributes of the private page at `gpa` (level 4 KiB to 1 GiB).
    ///
    /// Leaf 24. Inputs: RCX page_info, RDX new attributes (VM0 zero), R8 per-VM write mask
    /// and INVEPT flags (VM0 zero). Outputs: RCX mapping, RDX resulting attributes. On an
    /// invalid attribute combination the module returns RCX = 0 and the attributes in RDX;
    /// other failures zero both. Since module 1.5 (TD partitioning).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a misaligned GPA, a
    /// level above 1 GiB, or attributes with VM0's bits or reserved bits set
    /// ([`L2Attributes::check_write`]); [`Error::Status`](crate::Error::Status) with the
    /// RDX attributes as details.
    ///
    /// # Safety
    ///
    /// Changes what L2 VMs may read, write and execute at `gpa`. The caller ensures the new
    /// permissions keep every memory-safety invariant it relies on for L2 code and data.
    #[inline]
    #[doc(alias = "TDG.MEM.PAGE.ATTR.WR")]
    pub unsafe fn mem_page_attr_wr(
        &mut self,
        gpa: GuestPhysAddr,
        level: PageLevel,
        attributes: L2Attributes,
        mask: L2AttrWriteMask,
    ) -> core::result::Result<PageAttributes, DetailedError<L2Attributes>> {
        let page_info = PageInfo::for_leaf(gpa, level, PageLevel::Size4K, PageLevel::Size1G)?;
        let attributes = attributes.check_write()?;
        let mut regs = Regs {
            rcx: page_info.raw(),
            rdx: attributes.raw(),
            r8: mask.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller upholds the attribute-change contract above.
        let status = unsafe { self.call(Leaf::TdgMemPageAttrWr, 0, &mut regs) };
        if status.is_error() {
            return Err(DetailedError::with_details(status, L2Attributes(regs.rdx)));
        }
        Ok(PageAttributes {
            mapping: GpaMapping::decode(regs.rcx),
            attributes: L2Attributes(regs.rdx),
        })
    }
}

#[cfg(test)]
mod tests {
    // Every unsafe block in these tests calls a wrapper over the recording backend of
    // `guest::testing`: no instruction executes, no memory is touched.
    #![allow(clippy::undocumented_unsafe_blocks)]

    use super::*;
    use crate::error::{Error, InvalidReason};
    use crate::guest::testing::*;

    const BUSY: u64 = 0x8000_0200_0000_0001;

    #[test]
    fn accept_encoding_and_outcomes() {
        let gpa = GuestPhysAddr::aligned(0x20_0000, 0x20_0000).unwrap();
        let (r, log) = run(&[(0, &poison)], |g| unsafe {
            g.mem_page_accept(gpa, PageLevel::Size2M)
        });
        assert_eq!(r, Ok(AcceptOutcome::Accepted));
        assert_eq!(log.only().rax, 6);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 0x20_0001,
                ..Regs::ZERO
            }
        );

        let already = 0x0000_0B0A_0000_0001;
        let (r, _) = run(&[(already, &nothing)], |g| unsafe {
            g.mem_page_accept(gpa, PageLevel::Size2M)
        });
        assert_eq!(
            r,
            Ok(AcceptOutcome::AlreadyAccepted {
                status: Status::from_raw(already),
                level: 1
            })
        );
        let mismatch = 0xC000_0B0B_0000_0001;
        let (r, _) = run(&[(mismatch, &nothing)], |g| unsafe {
            g.mem_page_accept(gpa, PageLevel::Size4K)
        });
        assert_eq!(r, Err(Error::Status(Status::from_raw(mismatch))));
        assert_eq!(
            page_size_mismatch_level(Status::from_raw(mismatch)),
            Some(1)
        );
        assert_eq!(page_size_mismatch_level(Status::from_raw(BUSY)), None);
    }

    #[test]
    fn accept_retries_busy_a_bounded_number_of_times() {
        let gpa = GuestPhysAddr::page(0x1000).unwrap();
        let (r, log) = run(
            &[(BUSY, &nothing), (BUSY, &nothing), (0, &nothing)],
            |g| unsafe { g.mem_page_accept(gpa, PageLevel::Size4K) },
        );
        assert_eq!(r, Ok(AcceptOutcome::Accepted));
        assert_eq!(log.len(), 3);
        assert!(log.calls().all(|c| c.regs.rcx == 0x1000 && c.rax == 6));

        let busy: [Reply<'_>; ACCEPT_BUSY_ATTEMPTS as usize] =
            [(BUSY, &nothing); ACCEPT_BUSY_ATTEMPTS as usize];
        let (r, log) = run(&busy, |g| unsafe {
            g.mem_page_accept(gpa, PageLevel::Size4K)
        });
        assert_eq!(r, Err(Error::Status(Status::from_raw(BUSY))));
        assert_eq!(log.len(), ACCEPT_BUSY_ATTEMPTS as usize);
    }

    #[test]
    fn accept_rejections() {
        let gpa = GuestPhysAddr::page(0x1000).unwrap();
        let (r, log) = run(&[], |g| unsafe {
            g.mem_page_accept(gpa, PageLevel::Size1G)
        });
        assert!(
            matches!(r, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::LevelOutOfRange { level: 2, min: 0, max: 1 }))
        );
        let (r2, _) = run(&[], |g| unsafe {
            g.mem_page_accept(gpa, PageLevel::Size2M)
        });
        assert!(
            matches!(r2, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::Misaligned { required: 0x20_0000, .. }))
        );
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn attr_rd_encoding() {
        let out = |r: &mut Regs| {
            poison(r);
            r.rcx = 1 << 62 | 0x20_0000 | 1;
            r.rdx = 0x8003 << 16;
        };
        let gpa = GuestPhysAddr::new(0x20_1234).unwrap();
        let (r, log) = run(&[(0, &out)], |g| g.mem_page_attr_rd(gpa));
        assert_eq!(log.only().rax, 23);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 0x20_1234,
                ..Regs::ZERO
            }
        );
        let attrs = r.unwrap();
        assert_eq!(
            attrs.mapping,
            GpaMapping {
                gpa: GuestPhysAddr::new(0x20_0000).unwrap(),
                level: 1,
                pending: true
            }
        );
        assert_eq!(
            attrs.attributes.vm(1),
            L2Attributes::VALID | L2Attributes::R | L2Attributes::W
        );
        assert_eq!(attrs.attributes.vm(0), 0);
        let (r, _) = run(&[(0xC000_0B00_0000_0001, &nothing)], |g| {
            g.mem_page_attr_rd(gpa)
        });
        assert_eq!(
            r,
            Err(Error::Status(Status::from_raw(0xC000_0B00_0000_0001)))
        );
    }

    #[test]
    fn attr_wr_encoding_and_failure_details() {
        let gpa = GuestPhysAddr::page(0x4000).unwrap();
        let attrs = L2Attributes::for_write([
            L2Attributes::VALID | L2Attributes::R,
            0,
            L2Attributes::VALID,
        ])
        .unwrap();
        assert_eq!(attrs.raw(), 0x8001 << 16 | 0x8000 << 48);
        let mask = L2AttrWriteMask::new([0xFF | L2AttrWriteMask::INVEPT, 0, 0x01]).unwrap();
        let out = |r: &mut Regs| {
            poison(r);
            r.rcx = 0x4000;
            r.rdx = 0x8001 << 16;
        };
        let (r, log) = run(&[(0, &out)], |g| unsafe {
            g.mem_page_attr_wr(gpa, PageLevel::Size4K, attrs, mask)
        });
        assert_eq!(log.only().rax, 24);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 0x4000,
                rdx: attrs.raw(),
                r8: mask.raw(),
                ..Regs::ZERO
            }
        );
        let result = r.unwrap();
        assert_eq!(result.attributes.vm(1), 0x8001);
        assert_eq!(result.mapping.level, 0);

        // Invalid combination: RCX = 0, RDX = the attributes, reported as details.
        let fail = |r: &mut Regs| {
            r.rcx = 0;
            r.rdx = 0x8002 << 16;
        };
        let st = 0xC000_0100_0000_0002;
        let (r, _) = run(&[(st, &fail)], |g| unsafe {
            g.mem_page_attr_wr(gpa, PageLevel::Size4K, attrs, mask)
        });
        let err = r.unwrap_err();
        assert_eq!(
            err,
            DetailedError::with_details(Status::from_raw(st), L2Attributes::from_raw(0x8002 << 16))
        );
        assert_eq!(Error::from(err), Error::Status(Status::from_raw(st)));

        assert!(L2Attributes::for_write([0x0100, 0, 0]).is_err());
        assert!(L2Attributes::for_write([L2Attributes::R, 0, 0]).is_err());
        assert!(L2AttrWriteMask::new([0x4000, 0, 0]).is_err());
        let (r, log) = run(&[], |g| unsafe {
            g.mem_page_attr_wr(gpa, PageLevel::Size512G, attrs, mask)
        });
        assert!(
            matches!(r, Err(DetailedError { error: Error::InvalidArgument(a), .. }) if matches!(a.reason, InvalidReason::LevelOutOfRange { level: 3, min: 0, max: 2 }))
        );
        assert_eq!(log.len(), 0);
    }
}
