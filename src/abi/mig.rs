//! Live-migration and service-TD operands: GPA_LIST_INFO and GPA list entries, the MBMD
//! "HPA and size", page-list info, the migration stream index and command, SERVTD_ATTR.
//!
//! Encodings from TDX module 1.5.01 (`tdx_api_defs.h`, `helpers/migration.h`,
//! `helpers/service_td.h`).

use super::addr::{check_address, invalid, HostPhysAddr, MAX_PHYS_ADDR_BITS, PAGE_SIZE};
use super::page::PageLevel;
use crate::error::{InvalidReason, Result};

const PAGE_FRAME_MASK: u64 = 0x000F_FFFF_FFFF_F000;

fn check_index(argument: &'static str, value: u64, max: u64) -> Result<u64> {
    if value > max {
        return Err(invalid(argument, InvalidReason::OutOfRange { value, min: 0, max }).into());
    }
    Ok(value)
}

fn check_reserved(argument: &'static str, value: u64, reserved: u64) -> Result<u64> {
    if value & reserved != 0 {
        return Err(invalid(
            argument,
            InvalidReason::ReservedBitsSet {
                value,
                bits: value & reserved,
            },
        )
        .into());
    }
    Ok(value)
}

/// GPA_LIST_INFO (RCX of TDH.EXPORT.BLOCKW/RESTORE/MEM and TDH.IMPORT.MEM): bits 2:0
/// format (0 = GPA only), bits 11:3 first entry, bits 51:12 list page HPA, bits 54:52
/// reserved, bits 63:55 last entry. The module writes it back with `first_entry`
/// advanced.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GpaListInfo(u64);

impl GpaListInfo {
    /// The highest entry index of a 4 KiB list page (512 entries).
    pub const MAX_ENTRY: u16 = 511;
    const RESERVED: u64 = 0x0070_0000_0000_0000;

    /// A GPA-only list in the page at `list` covering entries `first..=last`.
    pub fn new(list: HostPhysAddr, first: u16, last: u16) -> Result<GpaListInfo> {
        check_address("GPA list page", list.raw(), MAX_PHYS_ADDR_BITS, PAGE_SIZE)?;
        check_index("GPA list first entry", first.into(), Self::MAX_ENTRY.into())?;
        check_index("GPA list last entry", last.into(), Self::MAX_ENTRY.into())?;
        Ok(GpaListInfo(
            list.raw() | (first as u64) << 3 | (last as u64) << 55,
        ))
    }

    /// Decodes a raw value; the format must be 0 and reserved bits 54:52 clear.
    pub fn from_raw(raw: u64) -> Result<GpaListInfo> {
        check_reserved("GPA_LIST_INFO", raw, Self::RESERVED | 7)?;
        Ok(GpaListInfo(raw))
    }

    /// The raw register value.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The list page.
    #[inline]
    pub const fn list(self) -> HostPhysAddr {
        HostPhysAddr::from_raw_unchecked(self.0 & PAGE_FRAME_MASK)
    }

    /// The first entry still to process.
    #[inline]
    pub const fn first_entry(self) -> u16 {
        ((self.0 >> 3) & 0x1FF) as u16
    }

    /// The last entry.
    #[inline]
    pub const fn last_entry(self) -> u16 {
        (self.0 >> 55) as u16
    }
}

/// The operation of a GPA list entry (bits 53:52).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum GpaListOp {
    /// Skip the entry.
    Nop = 0,
    /// Migrate the page.
    Migrate = 1,
    /// Cancel a previous migration of the page.
    Cancel = 2,
    /// Migrate the page again.
    Remigrate = 3,
}

/// One 8-byte GPA list entry: bits 1:0 level, bit 2 pending, bits 9:7 L2 map, bits 11:10
/// migration type, bits 51:12 GPA, bits 53:52 operation, bits 60:56 status (written by the
/// module).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GpaListEntry(pub u64);

impl GpaListEntry {
    /// An entry for the 4 KiB page at `gpa` (page aligned) with operation `op`.
    pub fn new(gpa: super::GuestPhysAddr, op: GpaListOp) -> Result<GpaListEntry> {
        check_address(
            "GPA list entry GPA",
            gpa.raw(),
            MAX_PHYS_ADDR_BITS,
            PAGE_SIZE,
        )?;
        Ok(GpaListEntry(gpa.raw() | (op as u64) << 52))
    }

    /// The mapping level (bits 1:0).
    #[inline]
    pub fn level(self) -> PageLevel {
        PageLevel::ALL[(self.0 & 3) as usize]
    }

    /// Bit 2: the page is pending.
    #[inline]
    pub const fn pending(self) -> bool {
        self.0 & 4 != 0
    }

    /// Bits 9:7: L2 mapping flags.
    #[inline]
    pub const fn l2_map(self) -> u8 {
        ((self.0 >> 7) & 7) as u8
    }

    /// Bits 11:10: migration type (0 = 4 KiB page).
    #[inline]
    pub const fn mig_type(self) -> u8 {
        ((self.0 >> 10) & 3) as u8
    }

    /// Bits 51:12: the GPA.
    #[inline]
    pub const fn gpa(self) -> super::GuestPhysAddr {
        super::GuestPhysAddr::from_raw_unchecked(self.0 & PAGE_FRAME_MASK)
    }

    /// Bits 53:52: the operation.
    #[inline]
    pub const fn operation(self) -> GpaListOp {
        match (self.0 >> 52) & 3 {
            0 => GpaListOp::Nop,
            1 => GpaListOp::Migrate,
            2 => GpaListOp::Cancel,
            _ => GpaListOp::Remigrate,
        }
    }

    /// Bits 60:56: the status the module wrote (0 success, 1 skipped, 2 SEPT walk failed,
    /// ... 15 GPA list entry invalid; `gpa_list_entry_status_t`).
    #[inline]
    pub const fn status(self) -> u8 {
        ((self.0 >> 56) & 0x1F) as u8
    }
}

/// The MBMD operand ("HPA and size", R8 of the export/import leaves): bits 51:0 the
/// migration bundle metadata buffer's HPA (128-byte aligned, shared), bits 63:52 its size
/// in bytes.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mbmd(u64);

impl Mbmd {
    /// The alignment the module requires of the buffer.
    pub const ALIGN: u64 = 128;
    /// The largest size the 12-bit field holds.
    pub const MAX_SIZE: u16 = 0xFFF;

    /// The buffer at `hpa` (128-byte aligned) of `size` bytes (< 4096).
    pub fn new(hpa: HostPhysAddr, size: u16) -> Result<Mbmd> {
        check_address("MBMD", hpa.raw(), MAX_PHYS_ADDR_BITS, Self::ALIGN)?;
        check_index("MBMD size", size.into(), Self::MAX_SIZE.into())?;
        Ok(Mbmd(hpa.raw() | (size as u64) << 52))
    }

    /// The raw register value.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The buffer's HPA.
    #[inline]
    pub const fn hpa(self) -> HostPhysAddr {
        HostPhysAddr::from_raw_unchecked(self.0 & ((1 << 52) - 1))
    }

    /// The buffer's size.
    #[inline]
    pub const fn size(self) -> u16 {
        (self.0 >> 52) as u16
    }
}

/// A page list for the state export/import leaves (R9): bits 51:12 the list page's HPA
/// (a shared page of 8-byte page HPAs), bits 63:55 the index of its last entry.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageListInfo(u64);

impl PageListInfo {
    /// The list at `list` (4 KiB aligned) with entries `0..=last`.
    pub fn new(list: HostPhysAddr, last: u16) -> Result<PageListInfo> {
        check_address("page list", list.raw(), MAX_PHYS_ADDR_BITS, PAGE_SIZE)?;
        check_index("page list last entry", last.into(), 511)?;
        Ok(PageListInfo(list.raw() | (last as u64) << 55))
    }

    /// The raw register value.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }
}

/// A migration stream index (R10 bits 15:0). Module 1.5 allows up to MAX_MIGS streams;
/// the abort and epoch-track leaves take stream 0 only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MigStreamIndex(pub u16);

/// The command bit of a migration stream operand (R10 bit 63).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MigCommand {
    /// 0: start a new operation (or, for TDH.EXPORT.TRACK, the next in-order epoch).
    New,
    /// 1: resume an interrupted operation (or, for TDH.EXPORT.TRACK, end the in-order
    /// phase).
    Resume,
}

/// The migration stream operand (R10): bits 15:0 stream index, bits 62:16 zero, bit 63
/// command.
#[inline]
pub const fn stream_operand(index: MigStreamIndex, command: MigCommand) -> u64 {
    index.0 as u64
        | match command {
            MigCommand::New => 0,
            MigCommand::Resume => 1 << 63,
        }
}

/// SERVTD_ATTR (R10 of TDH.SERVTD.BIND/PREBIND): bit 0 instance binding, bits 3:1 future
/// binding kinds (must be 0 in 1.5), bits 47:32 the TDINFO fields to ignore. Module 1.5
/// allows only the bits in [`ServtdAttr::ALLOWED`].
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServtdAttr(u64);

impl ServtdAttr {
    /// The bits module 1.5 accepts (its fixed-0 mask).
    pub const ALLOWED: u64 = 0x0000_07FF_0000_0001;
    /// Bit 0: instance binding.
    pub const INSTANCE_BINDING: u64 = 1;

    /// Ignore-TDINFO bits (shifted into bits 47:32): ATTRIBUTES.
    pub const IGNORE_ATTRIBUTES: u64 = 1 << 32;
    /// Ignore XFAM.
    pub const IGNORE_XFAM: u64 = 1 << 33;
    /// Ignore MRTD.
    pub const IGNORE_MRTD: u64 = 1 << 34;
    /// Ignore MRCONFIGID.
    pub const IGNORE_MRCONFIG: u64 = 1 << 35;
    /// Ignore MROWNER.
    pub const IGNORE_MROWNER: u64 = 1 << 36;
    /// Ignore MROWNERCONFIG.
    pub const IGNORE_MROWNERCONFIG: u64 = 1 << 37;
    /// Ignore RTMR `i` (0..=3): `IGNORE_RTMR0 << i`.
    pub const IGNORE_RTMR0: u64 = 1 << 38;
    /// Ignore SERVTD_HASH.
    pub const IGNORE_SERVTD_HASH: u64 = 1 << 42;

    /// Checks `raw` against [`ServtdAttr::ALLOWED`].
    pub fn new(raw: u64) -> Result<ServtdAttr> {
        check_reserved("SERVTD_ATTR", raw, !Self::ALLOWED).map(ServtdAttr)
    }

    /// The raw value.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::GuestPhysAddr;
    use crate::error::Error;

    fn reason(r: Result<impl core::fmt::Debug>) -> InvalidReason {
        match r {
            Err(Error::InvalidArgument(a)) => a.reason,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn gpa_list_info_encoding_and_rejections() {
        let page = HostPhysAddr::page(0x12_3000).unwrap();
        let info = GpaListInfo::new(page, 5, 511).unwrap();
        assert_eq!(info.raw(), 0x12_3000 | 5 << 3 | 511 << 55);
        assert_eq!(info.first_entry(), 5);
        assert_eq!(info.last_entry(), 511);
        assert_eq!(info.list(), page);
        assert!(matches!(
            reason(GpaListInfo::new(page, 512, 0)),
            InvalidReason::OutOfRange { value: 512, .. }
        ));
        let odd = HostPhysAddr::new(0x12_3008).unwrap();
        assert!(matches!(
            reason(GpaListInfo::new(odd, 0, 0)),
            InvalidReason::Misaligned { .. }
        ));
        assert!(matches!(
            reason(GpaListInfo::from_raw(1 << 52)),
            InvalidReason::ReservedBitsSet {
                bits: 0x10_0000_0000_0000,
                ..
            }
        ));
        assert!(GpaListInfo::from_raw(1).is_err());
    }

    #[test]
    fn gpa_list_entry_fields() {
        let e = GpaListEntry(0x1f << 56 | 2 << 52 | 0xABC000 | 3 << 10 | 5 << 7 | 4 | 1);
        assert_eq!(e.status(), 0x1f);
        assert_eq!(e.operation(), GpaListOp::Cancel);
        assert_eq!(e.gpa().raw(), 0xABC000);
        assert_eq!(e.mig_type(), 3);
        assert_eq!(e.l2_map(), 5);
        assert!(e.pending());
        assert_eq!(e.level(), PageLevel::Size2M);
        let made = GpaListEntry::new(GuestPhysAddr::new(0x5000).unwrap(), GpaListOp::Migrate);
        assert_eq!(made.unwrap().0, 0x5000 | 1 << 52);
        assert!(GpaListEntry::new(GuestPhysAddr::new(0x5008).unwrap(), GpaListOp::Nop).is_err());
    }

    #[test]
    fn mbmd_and_stream_and_attr() {
        let m = Mbmd::new(HostPhysAddr::new(0x1080).unwrap(), 0x48).unwrap();
        assert_eq!(m.raw(), 0x048 << 52 | 0x1080);
        assert_eq!((m.hpa().raw(), m.size()), (0x1080, 0x48));
        assert!(matches!(
            reason(Mbmd::new(HostPhysAddr::new(0x1040).unwrap(), 8)),
            InvalidReason::Misaligned { required: 128, .. }
        ));
        assert!(matches!(
            reason(Mbmd::new(HostPhysAddr::new(0x1080).unwrap(), 0x1000)),
            InvalidReason::OutOfRange { .. }
        ));
        assert_eq!(
            stream_operand(MigStreamIndex(3), MigCommand::Resume),
            1 << 63 | 3
        );
        assert_eq!(stream_operand(MigStreamIndex(3), MigCommand::New), 3);
        assert!(
            ServtdAttr::new(ServtdAttr::INSTANCE_BINDING | ServtdAttr::IGNORE_SERVTD_HASH).is_ok()
        );
        assert!(matches!(
            reason(ServtdAttr::new(2)),
            InvalidReason::ReservedBitsSet { bits: 2, .. }
        ));
        let list = PageListInfo::new(HostPhysAddr::page(0x7000).unwrap(), 2).unwrap();
        assert_eq!(list.raw(), 0x7000 | 2 << 55);
        assert!(PageListInfo::new(HostPhysAddr::page(0x7000).unwrap(), 512).is_err());
    }
}
