//! Page levels and the "GPA and level" (`page_info`) operand.

use super::addr::{GuestPhysAddr, MAX_PHYS_ADDR_BITS, PAGE_SIZE};
use super::check::{check_address, invalid};
use crate::error::{InvalidReason, Result};

/// A Secure-EPT level, as the ABI encodes it in `page_info` bits 2:0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum PageLevel {
    /// 4 KiB.
    Size4K = 0,
    /// 2 MiB.
    Size2M = 1,
    /// 1 GiB.
    Size1G = 2,
    /// 512 GiB (an SEPT level, never a page size).
    Size512G = 3,
    /// 256 TiB (5-level EPT only).
    Size256T = 4,
}

impl PageLevel {
    /// Every level, lowest first.
    pub const ALL: [PageLevel; 5] = [
        PageLevel::Size4K,
        PageLevel::Size2M,
        PageLevel::Size1G,
        PageLevel::Size512G,
        PageLevel::Size256T,
    ];

    /// The level with encoding `raw` (0..=4).
    pub fn from_raw(raw: u8) -> Result<PageLevel> {
        PageLevel::ALL.get(raw as usize).copied().ok_or_else(|| {
            invalid(
                "page level",
                InvalidReason::OutOfRange {
                    value: raw as u64,
                    min: 0,
                    max: 4,
                },
            )
            .into()
        })
    }

    /// The ABI encoding.
    #[inline]
    pub const fn raw(self) -> u8 {
        self as u8
    }

    /// Bytes mapped by one entry at this level.
    #[inline]
    pub const fn size(self) -> u64 {
        PAGE_SIZE << (9 * self as u32)
    }

    /// Checks that the level lies in `min..=max`, the range a leaf accepts.
    #[inline]
    pub fn check_range(
        self,
        argument: &'static str,
        min: PageLevel,
        max: PageLevel,
    ) -> Result<PageLevel> {
        if self < min || self > max {
            return Err(invalid(
                argument,
                InvalidReason::LevelOutOfRange {
                    level: self as u8,
                    min: min as u8,
                    max: max as u8,
                },
            )
            .into());
        }
        Ok(self)
    }
}

/// The "GPA and level" operand (`page_info`): bits 2:0 level, bits 11:3 zero, bits 51:12
/// the GPA (aligned to the level's size), bits 63:52 zero.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageInfo(u64);

impl PageInfo {
    /// Builds the operand; the GPA must be aligned to the level's page size and fit in bits
    /// 51:0 (checked again here: a [`GuestPhysAddr::from_raw_unchecked`] value may not).
    #[inline]
    pub fn new(gpa: GuestPhysAddr, level: PageLevel) -> Result<PageInfo> {
        let gpa = check_address("page_info GPA", gpa.raw(), MAX_PHYS_ADDR_BITS, level.size())?;
        Ok(PageInfo(gpa | level as u64))
    }

    /// Builds the operand after checking the level against the range `min..=max` that the
    /// leaf accepts.
    #[inline]
    pub fn for_leaf(
        gpa: GuestPhysAddr,
        level: PageLevel,
        min: PageLevel,
        max: PageLevel,
    ) -> Result<PageInfo> {
        level.check_range("page level", min, max)?;
        PageInfo::new(gpa, level)
    }

    /// Decodes a raw operand, rejecting reserved bits and bad levels.
    pub fn from_raw(raw: u64) -> Result<PageInfo> {
        const RESERVED: u64 = 0xFFF0_0000_0000_0FF8;
        if raw & RESERVED != 0 {
            return Err(invalid(
                "page_info",
                InvalidReason::ReservedBitsSet {
                    value: raw,
                    bits: raw & RESERVED,
                },
            )
            .into());
        }
        let level = PageLevel::from_raw((raw & 7) as u8)?;
        PageInfo::new(GuestPhysAddr::from_raw_unchecked(raw & !7), level)
    }

    /// The raw register value.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The GPA.
    #[inline]
    pub const fn gpa(self) -> GuestPhysAddr {
        GuestPhysAddr::from_raw_unchecked(self.0 & 0x000F_FFFF_FFFF_F000)
    }

    /// The level.
    #[inline]
    pub fn level(self) -> PageLevel {
        PageLevel::ALL[(self.0 & 7) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, InvalidReason};

    #[test]
    fn page_info_round_trip_and_rejections() {
        let gpa = GuestPhysAddr::new(0x20_0000).unwrap();
        let info = PageInfo::new(gpa, PageLevel::Size2M).unwrap();
        assert_eq!(info.raw(), 0x20_0001);
        assert_eq!(PageInfo::from_raw(info.raw()), Ok(info));
        assert_eq!(info.level(), PageLevel::Size2M);
        let misaligned = PageInfo::new(GuestPhysAddr::new(0x1000).unwrap(), PageLevel::Size2M);
        assert!(
            matches!(misaligned, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::Misaligned { required: 0x20_0000, .. }))
        );
        assert!(PageInfo::from_raw(0x1008).is_err());
        assert!(PageInfo::from_raw(1 << 52).is_err());
        assert!(PageInfo::from_raw(0x1005).is_err());
        let out_of_range =
            PageInfo::for_leaf(gpa, PageLevel::Size2M, PageLevel::Size4K, PageLevel::Size4K);
        assert!(
            matches!(out_of_range, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::LevelOutOfRange { level: 1, min: 0, max: 0 }))
        );
    }

    #[test]
    fn address_checks() {
        use crate::abi::addr::HostPhysAddr;
        assert!(HostPhysAddr::page(0x1000).is_ok());
        assert!(HostPhysAddr::page(0x1001).is_err());
        assert!(HostPhysAddr::new(1 << 52).is_err());
        assert!(GuestPhysAddr::new((1 << 52) - 1).is_ok());
    }
}
