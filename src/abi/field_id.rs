//! Metadata field identifiers (`md_field_id_t`), as TDH.SYS.RD/RDALL, TDH.MNG.RD/WR,
//! TDH.VP.RD/WR and the TDG.VM/VP/SYS/SERVTD.RD/WR leaves take them.
//!
//! | bits  | field |
//! |-------|-------|
//! | 23:0  | field code |
//! | 31:24 | reserved, 0 |
//! | 33:32 | element size code: 0 = 1 byte, 1 = 2, 2 = 4, 3 = 8 |
//! | 37:34 | last element in field (sequence headers only) |
//! | 46:38 | last field in sequence (sequence headers only) |
//! | 49:47 | reserved, 0 |
//! | 50    | INC_SIZE: element stride 2 (VMCS fields whose odd encodings are HIGH halves) |
//! | 51    | WRITE_MASK_VALID (lists only) |
//! | 54:52 | context code: 0 = platform, 1 = TD, 2 = vCPU |
//! | 55    | reserved, 0 |
//! | 61:56 | class code |
//! | 62    | reserved, 0 |
//! | 63    | non-architectural |
//!
//! A single-element access ([`FieldId::check_single_element`]) needs the reserved bits,
//! LAST_ELEMENT and LAST_FIELD zero; the module ignores WRITE_MASK_VALID, the element size,
//! INC_SIZE and the context (each leaf forces its own context) and looks the field up by
//! class and field code. The null ID ([`FieldId::null`]: all ones except the context) asks
//! a read for the first field ID of the context, which it returns with
//! `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT`.

use crate::error::{InvalidArgument, InvalidReason, Result};
use crate::status::{parse_hex_u64, ParseStatusError};
use core::fmt;

const FIELD_CODE_MASK: u64 = 0xFF_FFFF;
const RESERVED_0: u64 = 0xFF << 24;
const ELEMENT_SIZE_SHIFT: u32 = 32;
const LAST_ELEMENT_SHIFT: u32 = 34;
const LAST_ELEMENT_MASK: u64 = 0xF << LAST_ELEMENT_SHIFT;
const LAST_FIELD_SHIFT: u32 = 38;
const LAST_FIELD_MASK: u64 = 0x1FF << LAST_FIELD_SHIFT;
const RESERVED_1: u64 = 0x7 << 47;
const INC_SIZE: u64 = 1 << 50;
const WRITE_MASK_VALID: u64 = 1 << 51;
const CONTEXT_SHIFT: u32 = 52;
const CONTEXT_MASK: u64 = 0x7 << CONTEXT_SHIFT;
const RESERVED_2: u64 = 1 << 55;
const CLASS_SHIFT: u32 = 56;
const RESERVED_3: u64 = 1 << 62;
const NON_ARCH: u64 = 1 << 63;
/// Every reserved bit: 31:24, 49:47, 55 and 62.
const RESERVED_BITS: u64 = RESERVED_0 | RESERVED_1 | RESERVED_2 | RESERVED_3;
// A null ID (every bit set outside the context code) has reserved bits set, so it never
// passes the single-element test: `FieldId::check_read` relies on it to test that first.
const _: () = assert!(RESERVED_BITS & !CONTEXT_MASK != 0);

/// The size of one element of a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ElementSize {
    /// 1 byte (code 0).
    Bytes1 = 0,
    /// 2 bytes (code 1).
    Bytes2 = 1,
    /// 4 bytes (code 2).
    Bytes4 = 2,
    /// 8 bytes (code 3).
    Bytes8 = 3,
}

impl ElementSize {
    /// The size for a 2-bit code.
    #[inline]
    pub const fn from_code(code: u8) -> ElementSize {
        match code & 3 {
            0 => ElementSize::Bytes1,
            1 => ElementSize::Bytes2,
            2 => ElementSize::Bytes4,
            _ => ElementSize::Bytes8,
        }
    }

    /// The 2-bit code.
    #[inline]
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Bytes per element.
    #[inline]
    pub const fn bytes(self) -> usize {
        1 << self as u8
    }
}

/// The context a field lives in (bits 54:52).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[non_exhaustive]
pub enum Context {
    /// Platform: the module's global metadata (TDH.SYS.RD, TDG.SYS.RD).
    Platform = 0,
    /// One TD: TDR and TDCS (TDH.MNG.RD/WR, TDG.VM.RD/WR).
    Td = 1,
    /// One vCPU: TDVPS and the TD VMCS (TDH.VP.RD/WR, TDG.VP.RD/WR).
    Vcpu = 2,
}

impl Context {
    /// The context for a 3-bit code; `None` for the reserved codes 3 to 7.
    #[inline]
    pub const fn from_code(code: u8) -> Option<Context> {
        match code {
            0 => Some(Context::Platform),
            1 => Some(Context::Td),
            2 => Some(Context::Vcpu),
            _ => None,
        }
    }

    /// The 3-bit code.
    #[inline]
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// `SYS`, `TD` or `VCPU`.
    pub const fn name(self) -> &'static str {
        match self {
            Context::Platform => "SYS",
            Context::Td => "TD",
            Context::Vcpu => "VCPU",
        }
    }
}

/// A 64-bit metadata field identifier. Any value is kept; the accessors decode it, and
/// [`FieldId::check_single_element`] applies the module's validity rules.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(u64);

const fn field_id_error(value: u64) -> InvalidArgument {
    InvalidArgument {
        argument: "field ID",
        reason: InvalidReason::MalformedFieldId { value },
    }
}

impl FieldId {
    /// `MD_FIELD_ID_NA` (all ones): "no next field", as RDX comes back after the last field.
    pub const NA: FieldId = FieldId(u64::MAX);

    /// Wraps a raw field ID.
    #[inline]
    pub const fn from_raw(raw: u64) -> FieldId {
        FieldId(raw)
    }

    /// All 64 bits.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The field ID of `field_code` in `class_code` of `context`, with `size` elements and
    /// every other bit zero.
    ///
    /// # Errors
    ///
    /// [`InvalidReason::TooWide`] when `class_code` needs more than 6 bits or `field_code`
    /// more than 24.
    pub const fn new(
        context: Context,
        class_code: u8,
        field_code: u32,
        size: ElementSize,
    ) -> Result<FieldId> {
        if class_code > 0x3F {
            return Err(crate::Error::InvalidArgument(InvalidArgument {
                argument: "field ID class code",
                reason: InvalidReason::TooWide {
                    value: class_code as u64,
                    max_bits: 6,
                },
            }));
        }
        if field_code as u64 > FIELD_CODE_MASK {
            return Err(crate::Error::InvalidArgument(InvalidArgument {
                argument: "field code",
                reason: InvalidReason::TooWide {
                    value: field_code as u64,
                    max_bits: 24,
                },
            }));
        }
        Ok(FieldId(
            (class_code as u64) << CLASS_SHIFT
                | (context as u64) << CONTEXT_SHIFT
                | (size as u64) << ELEMENT_SIZE_SHIFT
                | field_code as u64,
        ))
    }

    /// The null ID of `context`: every bit one except the context code. Reading it returns
    /// the context's first field ID with `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT`.
    #[inline]
    pub const fn null(context: Context) -> FieldId {
        FieldId(!CONTEXT_MASK | (context as u64) << CONTEXT_SHIFT)
    }

    /// Every bit one except (possibly) the context code: a null ID. `NA` is one too.
    #[inline]
    pub const fn is_null(self) -> bool {
        self.0 | CONTEXT_MASK == u64::MAX
    }

    /// Bits 23:0: the field code.
    #[inline]
    pub const fn field_code(self) -> u32 {
        (self.0 & FIELD_CODE_MASK) as u32
    }

    /// Bits 33:32: the element size code.
    #[inline]
    pub const fn element_size_code(self) -> u8 {
        (self.0 >> ELEMENT_SIZE_SHIFT) as u8 & 3
    }

    /// The element size.
    #[inline]
    pub const fn element_size(self) -> ElementSize {
        ElementSize::from_code(self.element_size_code())
    }

    /// Bits 37:34: index of the last element in the field (sequence headers only).
    #[inline]
    pub const fn last_element_in_field(self) -> u8 {
        ((self.0 & LAST_ELEMENT_MASK) >> LAST_ELEMENT_SHIFT) as u8
    }

    /// Bits 46:38: index of the last field in the sequence (sequence headers only).
    #[inline]
    pub const fn last_field_in_sequence(self) -> u16 {
        ((self.0 & LAST_FIELD_MASK) >> LAST_FIELD_SHIFT) as u16
    }

    /// Bit 50: INC_SIZE, elements are two field codes apart.
    #[inline]
    pub const fn inc_size(self) -> bool {
        self.0 & INC_SIZE != 0
    }

    /// Bit 51: WRITE_MASK_VALID (metadata lists only).
    #[inline]
    pub const fn write_mask_valid(self) -> bool {
        self.0 & WRITE_MASK_VALID != 0
    }

    /// Bits 54:52: the context code.
    #[inline]
    pub const fn context_code(self) -> u8 {
        ((self.0 & CONTEXT_MASK) >> CONTEXT_SHIFT) as u8
    }

    /// The context, or `None` for a reserved context code.
    #[inline]
    pub const fn context(self) -> Option<Context> {
        Context::from_code(self.context_code())
    }

    /// Bits 61:56: the class code.
    #[inline]
    pub const fn class_code(self) -> u8 {
        (self.0 >> CLASS_SHIFT) as u8 & 0x3F
    }

    /// Bit 63: non-architectural field.
    #[inline]
    pub const fn non_arch(self) -> bool {
        self.0 & NON_ARCH != 0
    }

    /// The reserved bits (31:24, 49:47, 55, 62) that are set, in place.
    #[inline]
    pub const fn reserved_bits(self) -> u64 {
        self.0 & RESERVED_BITS
    }

    /// The bits that make this ID invalid for a single-element access, in place: reserved
    /// bits, LAST_ELEMENT and LAST_FIELD. Zero for a valid ID.
    #[inline]
    pub const fn single_element_violations(self) -> u64 {
        self.0 & (RESERVED_BITS | LAST_ELEMENT_MASK | LAST_FIELD_MASK)
    }

    /// Checks the module's rules for a single-element read or write (see the module docs).
    /// The null ID is not a valid single element; readers test [`FieldId::is_null`] first,
    /// as the module does.
    ///
    /// # Errors
    ///
    /// [`InvalidReason::MalformedFieldId`] when [`FieldId::single_element_violations`] is
    /// not zero.
    #[inline]
    pub const fn check_single_element(self) -> Result<FieldId> {
        if self.single_element_violations() != 0 {
            return Err(crate::Error::InvalidArgument(field_id_error(self.0)));
        }
        Ok(self)
    }

    /// Checks an ID for a single-element read: a null ID of a defined context passes (the
    /// read returns the context's first field ID), anything else must pass
    /// [`FieldId::check_single_element`]. Writes use [`FieldId::check_single_element`]
    /// alone.
    ///
    /// [`FieldId::NA`] (all ones, context code 7) is rejected: it is what a read returns
    /// when there is no next field, and feeding it back is the end of an iteration gone
    /// wrong. The module itself would take it as a null ID (its null test ignores the
    /// context bits) and restart at the first field; the crate refuses it, as it refuses
    /// every null ID whose context code is reserved. Ask for the first field with
    /// [`FieldId::null`].
    ///
    /// # Errors
    ///
    /// [`InvalidReason::MalformedFieldId`], as [`FieldId::check_single_element`], and for a
    /// null ID with a reserved context code.
    #[inline]
    pub const fn check_read(self) -> Result<FieldId> {
        // The common case first, with one mask test: a well-formed single-element ID. A
        // null ID never passes that test (its reserved bits are set, see the assertion
        // below), so testing it first changes no answer and takes the null test off the
        // common path.
        if self.single_element_violations() == 0 {
            return Ok(self);
        }
        if self.is_null() && self.context().is_some() {
            return Ok(self);
        }
        Err(crate::Error::InvalidArgument(field_id_error(self.0)))
    }

    /// Checks the write mask of a single-element write (TDH.MNG.WR, TDH.VP.WR, TDG.VM.WR,
    /// TDG.VP.WR, TDG.SERVTD.WR) against this ID's element size: a mask with bits above
    /// the element (for example bit 8 for a 1-byte field) names bits the field does not
    /// have. Returns the mask.
    ///
    /// The module takes the element size from its own field table, not from the ID; the
    /// crate checks against the size the ID states, which for the IDs of
    /// [`crate::abi::fields`] is the field's.
    ///
    /// # Errors
    ///
    /// [`InvalidReason::TooWide`] with `max_bits` = 8 × the element size in bytes.
    pub const fn check_write_mask(self, mask: u64) -> Result<u64> {
        let bits = 8 * self.element_size().bytes() as u32;
        if bits < 64 && mask >> bits != 0 {
            return Err(crate::Error::InvalidArgument(InvalidArgument {
                argument: "write mask",
                reason: InvalidReason::TooWide {
                    value: mask,
                    max_bits: bits,
                },
            }));
        }
        Ok(mask)
    }

    /// Decodes a next-field-ID output (RDX after a read, R8 after RDALL): [`FieldId::NA`]
    /// means there is none.
    #[inline]
    pub const fn from_next(raw: u64) -> Option<FieldId> {
        if raw == FieldId::NA.0 {
            None
        } else {
            Some(FieldId(raw))
        }
    }

    /// This ID with LAST_ELEMENT and LAST_FIELD cleared: for a metadata-list sequence
    /// header, the single-element ID of its first element.
    #[inline]
    pub const fn without_sequence(self) -> FieldId {
        FieldId(self.0 & !(LAST_ELEMENT_MASK | LAST_FIELD_MASK))
    }

    /// The ID of element `index` of this field: the field code advances by `index` (by
    /// `2 * index` with INC_SIZE).
    ///
    /// # Errors
    ///
    /// [`InvalidReason::TooWide`] when the field code would not fit in 24 bits.
    pub const fn element(self, index: u32) -> Result<FieldId> {
        let stride = if self.inc_size() { 2 } else { 1 };
        let code = self.field_code() as u64 + index as u64 * stride;
        if code > FIELD_CODE_MASK {
            return Err(crate::Error::InvalidArgument(InvalidArgument {
                argument: "field element index",
                reason: InvalidReason::TooWide {
                    value: code,
                    max_bits: 24,
                },
            }));
        }
        Ok(FieldId(self.0 & !FIELD_CODE_MASK | code))
    }

    /// This ID with the context code replaced.
    #[inline]
    pub const fn with_context(self, context: Context) -> FieldId {
        FieldId(self.0 & !CONTEXT_MASK | (context as u64) << CONTEXT_SHIFT)
    }

    /// This ID as a metadata-list sequence header: LAST_ELEMENT and LAST_FIELD set.
    ///
    /// # Errors
    ///
    /// [`InvalidReason::TooWide`] when `last_element` needs more than 4 bits or
    /// `last_field` more than 9.
    pub const fn sequence_header(self, last_element: u8, last_field: u16) -> Result<FieldId> {
        if last_element > 0xF {
            return Err(crate::Error::InvalidArgument(InvalidArgument {
                argument: "last element in field",
                reason: InvalidReason::TooWide {
                    value: last_element as u64,
                    max_bits: 4,
                },
            }));
        }
        if last_field > 0x1FF {
            return Err(crate::Error::InvalidArgument(InvalidArgument {
                argument: "last field in sequence",
                reason: InvalidReason::TooWide {
                    value: last_field as u64,
                    max_bits: 9,
                },
            }));
        }
        Ok(FieldId(
            self.0 & !(LAST_ELEMENT_MASK | LAST_FIELD_MASK)
                | (last_element as u64) << LAST_ELEMENT_SHIFT
                | (last_field as u64) << LAST_FIELD_SHIFT,
        ))
    }

    /// Reads a field ID written in hex (with or without `0x`, `_` allowed).
    pub fn parse(text: &str) -> core::result::Result<FieldId, ParseStatusError> {
        parse_hex_u64(text).map(FieldId)
    }
}

impl core::str::FromStr for FieldId {
    type Err = ParseStatusError;

    fn from_str(text: &str) -> core::result::Result<FieldId, ParseStatusError> {
        FieldId::parse(text)
    }
}

impl From<u64> for FieldId {
    fn from(raw: u64) -> FieldId {
        FieldId(raw)
    }
}

impl From<FieldId> for u64 {
    fn from(id: FieldId) -> u64 {
        id.0
    }
}

impl fmt::Display for FieldId {
    /// `0x9100000100000008 (SYS class 17, field 0x000008, 2-byte elements)`, with any other
    /// set bit named after it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018X} (", self.0)?;
        if *self == FieldId::NA {
            return f.write_str("MD_FIELD_ID_NA: no field)");
        }
        if self.is_null() {
            return match self.context() {
                Some(context) => write!(f, "null ID of the {} context)", context.name()),
                None => write!(f, "null ID, reserved context {})", self.context_code()),
            };
        }
        match self.context() {
            Some(context) => f.write_str(context.name())?,
            None => write!(f, "reserved context {}", self.context_code())?,
        }
        write!(
            f,
            " class {}, field {:#08x}, {}-byte elements",
            self.class_code(),
            self.field_code(),
            self.element_size().bytes()
        )?;
        if self.inc_size() {
            f.write_str(", INC_SIZE")?;
        }
        if self.write_mask_valid() {
            f.write_str(", WRITE_MASK_VALID")?;
        }
        if self.last_element_in_field() != 0 {
            write!(f, ", last element {}", self.last_element_in_field())?;
        }
        if self.last_field_in_sequence() != 0 {
            write!(f, ", last field {}", self.last_field_in_sequence())?;
        }
        if self.non_arch() {
            f.write_str(", non-architectural")?;
        }
        if self.reserved_bits() != 0 {
            write!(f, ", reserved bits {:#x} set", self.reserved_bits())?;
        }
        f.write_str(")")
    }
}

impl fmt::Debug for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldId")
            .field("raw", &format_args!("{:#018x}", self.0))
            .field("field_code", &format_args!("{:#x}", self.field_code()))
            .field("element_size", &self.element_size())
            .field("last_element_in_field", &self.last_element_in_field())
            .field("last_field_in_sequence", &self.last_field_in_sequence())
            .field("inc_size", &self.inc_size())
            .field("write_mask_valid", &self.write_mask_valid())
            .field("context_code", &self.context_code())
            .field("class_code", &self.class_code())
            .field("non_arch", &self.non_arch())
            .field(
                "reserved_bits",
                &format_args!("{:#x}", self.reserved_bits()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Raw IDs from the 1.5.01 module's generated field tables (tdx-module-abi 8.2).
    #[test]
    fn decodes_published_ids() {
        let max_tdmrs = FieldId::from_raw(0x9100_0001_0000_0008);
        assert_eq!(max_tdmrs.context(), Some(Context::Platform));
        assert_eq!(max_tdmrs.class_code(), 17);
        assert_eq!(max_tdmrs.field_code(), 8);
        assert_eq!(max_tdmrs.element_size(), ElementSize::Bytes2);
        assert!(max_tdmrs.non_arch());
        assert!(max_tdmrs.check_single_element().is_ok());

        let td_attributes = FieldId::from_raw(0x1110_0003_0000_0000);
        assert_eq!(td_attributes.context(), Some(Context::Td));
        assert_eq!(td_attributes.class_code(), 17);
        assert_eq!(td_attributes.element_size().bytes(), 8);
        assert!(!td_attributes.non_arch());

        let xss = FieldId::from_raw(0x1320_0003_0000_0DA0);
        assert_eq!(xss.context(), Some(Context::Vcpu));
        assert_eq!(xss.class_code(), 19);
        assert_eq!(xss.field_code(), 0xDA0);
    }

    #[test]
    fn new_builds_what_decoding_reads() {
        let id = FieldId::new(Context::Platform, 17, 8, ElementSize::Bytes2).unwrap();
        assert_eq!(id.raw(), 0x1100_0001_0000_0008);
        assert!(FieldId::new(Context::Td, 64, 0, ElementSize::Bytes8).is_err());
        assert!(FieldId::new(Context::Td, 1, 1 << 24, ElementSize::Bytes8).is_err());
    }

    #[test]
    fn single_element_rules() {
        let base = FieldId::from_raw(0x1110_0003_0000_0000);
        for bit in [24, 31, 34, 37, 38, 46, 47, 49, 55, 62] {
            let bad = FieldId::from_raw(base.raw() | 1 << bit);
            assert!(bad.check_single_element().is_err(), "bit {bit}");
        }
        // Ignored by the module: element size, INC_SIZE, WRITE_MASK_VALID, context, non-arch.
        for bit in [32, 33, 50, 51, 52, 53, 54, 63] {
            let fine = FieldId::from_raw(base.raw() ^ 1 << bit);
            assert!(fine.check_single_element().is_ok(), "bit {bit}");
        }
    }

    #[test]
    fn write_mask_fits_the_element_size() {
        let gpaw = FieldId::from_raw(0x1110_0000_0000_0003); // 1-byte elements
        assert_eq!(gpaw.check_write_mask(0xFF), Ok(0xFF));
        assert_eq!(
            gpaw.check_write_mask(0x1FF),
            Err(crate::Error::InvalidArgument(InvalidArgument {
                argument: "write mask",
                reason: InvalidReason::TooWide {
                    value: 0x1FF,
                    max_bits: 8
                }
            }))
        );
        let max_vcpus = FieldId::from_raw(0x1110_0002_0000_0002); // 4-byte elements
        assert!(max_vcpus.check_write_mask(u32::MAX.into()).is_ok());
        assert!(max_vcpus.check_write_mask(1 << 32).is_err());
        let attributes = FieldId::from_raw(0x1110_0003_0000_0000);
        assert_eq!(attributes.check_write_mask(u64::MAX), Ok(u64::MAX));
    }

    #[test]
    fn null_and_na() {
        for context in [Context::Platform, Context::Td, Context::Vcpu] {
            let null = FieldId::null(context);
            assert!(null.is_null());
            assert_eq!(null.context(), Some(context));
            assert!(null.check_single_element().is_err());
        }
        assert!(FieldId::NA.is_null());
        assert!(!FieldId::from_raw(0x1110_0003_0000_0000).is_null());
        assert!(!FieldId::from_raw(u64::MAX - 1).is_null());
    }

    #[test]
    fn elements_step_by_the_stride() {
        let mrtd = FieldId::from_raw(0x1310_0003_0000_0000);
        assert_eq!(mrtd.element(5).unwrap().field_code(), 5);
        let vmcs = FieldId::from_raw(0x0024_0003_0000_2000 | INC_SIZE);
        assert_eq!(vmcs.element(1).unwrap().field_code(), 0x2002);
        assert!(FieldId::from_raw(0xFF_FFFF).element(1).is_err());
    }

    #[test]
    fn read_checks_next_ids_and_sequence_clearing() {
        let td_attributes = FieldId::from_raw(0x1110_0003_0000_0000);
        assert_eq!(td_attributes.check_read(), Ok(td_attributes));
        for context in [Context::Platform, Context::Td, Context::Vcpu] {
            assert!(FieldId::null(context).check_read().is_ok());
        }
        assert_eq!(
            FieldId::NA.check_read(),
            Err(crate::Error::InvalidArgument(field_id_error(u64::MAX)))
        );
        let reserved_context = FieldId::from_raw(FieldId::null(Context::Td).raw() | 4 << 52);
        assert!(reserved_context.is_null());
        assert!(reserved_context.check_read().is_err());
        let malformed = FieldId::from_raw(td_attributes.raw() | 1 << 34);
        assert_eq!(
            malformed.check_read(),
            Err(crate::Error::InvalidArgument(field_id_error(
                malformed.raw()
            )))
        );
        assert_eq!(FieldId::from_next(u64::MAX), None);
        assert_eq!(
            FieldId::from_next(0x1110_0003_0000_0001),
            Some(FieldId(0x1110_0003_0000_0001))
        );
        let header = td_attributes.sequence_header(15, 511).unwrap();
        assert_eq!(header.without_sequence(), td_attributes);
    }

    #[test]
    fn sequence_headers() {
        let header = FieldId::from_raw(0x9000_0003_0000_0080)
            .sequence_header(0, 31)
            .unwrap();
        assert_eq!(header.last_field_in_sequence(), 31);
        assert!(header.check_single_element().is_err());
        assert!(FieldId::from_raw(0).sequence_header(16, 0).is_err());
        assert!(FieldId::from_raw(0).sequence_header(0, 512).is_err());
    }
}
