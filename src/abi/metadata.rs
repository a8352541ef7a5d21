//! Metadata reads and lists, the same for the host (TDH.MNG/VP/SYS.RD, TDH.SYS.RDALL) and
//! the guest (TDG.VM/VP/SYS/SERVTD.RD, TDG.SYS.RDALL): the result of one read
//! ([`MetadataRead`]) and the list format RDALL writes ([`MetadataList`]). Field IDs and
//! their validity rules are [`FieldId`]'s.

use super::check::invalid;
use super::field_id::FieldId;
use crate::error::{InvalidReason, Result};
use crate::status::{Status, StatusCode};

/// One metadata read: the value, the ID of the next field in the context, and the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MetadataRead {
    /// R8: the field's value (0 when a null ID asked for the first field).
    pub value: u64,
    /// RDX: the next field ID in the context, `None` after the last field
    /// ([`FieldId::NA`]) or where the leaf version returns none (TDG.VM.RD version 0).
    /// After a read of a null ID ([`FieldId::null`]), the first field ID of the context.
    pub next: Option<FieldId>,
    /// The completion status: `TDX_SUCCESS`, or the warning
    /// `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT` after a read of a null ID.
    pub status: Status,
}

impl MetadataRead {
    /// The read from its registers: `value` (R8) and `next` (RDX, [`FieldId::NA`] for none).
    #[inline]
    pub(crate) const fn from_regs(status: Status, value: u64, next: u64) -> MetadataRead {
        MetadataRead {
            value,
            next: FieldId::from_next(next),
            status,
        }
    }

    /// Whether the read named a null field ID and `next` is the context's first field
    /// (status `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT`).
    #[inline]
    pub const fn is_first_field_id(&self) -> bool {
        self.status.is(StatusCode::MetadataFirstFieldIdInContext)
    }
}

/// A metadata list, as TDH.SYS.RDALL and TDG.SYS.RDALL write it into a 4 KiB page: an 8-byte header (bits
/// 15:0 list size in bytes, bits 31:16 number of sequences), then sequences, each a header
/// field ID (with LAST_ELEMENT_IN_FIELD and LAST_FIELD_IN_SEQUENCE set) followed by
/// `(last_field + 1) * (last_element + 1)` 8-byte elements of consecutive field codes.
#[derive(Clone, Copy, Debug)]
pub struct MetadataList<'a> {
    bytes: &'a [u8],
    sequences: u16,
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let chunk = bytes.get(offset..offset + 8)?;
    Some(u64::from_le_bytes(chunk.try_into().ok()?))
}

fn malformed(value: u64) -> crate::Error {
    invalid(
        "metadata list",
        InvalidReason::OutOfRange {
            value,
            min: 8,
            max: 4096,
        },
    )
    .into()
}

impl<'a> MetadataList<'a> {
    /// Parses the list header in `page` (the RDALL output page, host or guest).
    ///
    /// # Errors
    ///
    /// [`InvalidReason::OutOfRange`] when the header's size is below 8 bytes or beyond
    /// `page`.
    pub fn parse(page: &'a [u8]) -> Result<MetadataList<'a>> {
        let header = read_u64(page, 0).ok_or_else(|| malformed(page.len() as u64))?;
        let size = (header & 0xFFFF) as usize;
        if size < 8 || size > page.len() {
            return Err(malformed(size as u64));
        }
        Ok(MetadataList {
            bytes: &page[..size],
            sequences: (header >> 16) as u16,
        })
    }

    /// The number of sequences the header announces.
    pub fn sequences(&self) -> u16 {
        self.sequences
    }

    /// Every element of the list as `(field ID, value)`, in list order. The IDs are
    /// single-element IDs (LAST_ELEMENT/LAST_FIELD cleared). A truncated sequence ends the
    /// iteration with an error.
    pub fn elements(&self) -> MetadataElements<'a> {
        MetadataElements {
            bytes: self.bytes,
            offset: 8,
            sequences_left: self.sequences,
            header: None,
            index: 0,
            count: 0,
        }
    }
}

/// Iterator over the elements of a [`MetadataList`].
#[derive(Clone, Debug)]
pub struct MetadataElements<'a> {
    bytes: &'a [u8],
    offset: usize,
    sequences_left: u16,
    header: Option<FieldId>,
    index: u32,
    count: u32,
}

impl Iterator for MetadataElements<'_> {
    type Item = Result<(FieldId, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(header) = self.header {
                if self.index < self.count {
                    let value = match read_u64(self.bytes, self.offset) {
                        Some(value) => value,
                        None => {
                            self.sequences_left = 0;
                            self.header = None;
                            return Some(Err(malformed(self.offset as u64)));
                        }
                    };
                    let id = header.element(self.index);
                    self.offset += 8;
                    self.index += 1;
                    return Some(id.map(|id| (id, value)));
                }
                self.header = None;
            }
            if self.sequences_left == 0 {
                return None;
            }
            self.sequences_left -= 1;
            let Some(raw) = read_u64(self.bytes, self.offset) else {
                self.sequences_left = 0;
                return Some(Err(malformed(self.offset as u64)));
            };
            self.offset += 8;
            let header = FieldId::from_raw(raw);
            self.count = (header.last_field_in_sequence() as u32 + 1)
                * (header.last_element_in_field() as u32 + 1);
            self.index = 0;
            self.header = Some(header.without_sequence());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parsing() {
        // Two sequences: 2 fields x 1 element from code 0x10; 1 field x 3 elements from 0x80.
        let base_a = 0x9100_0001_0000_0010u64;
        let base_b = 0x9000_0003_0000_0080u64;
        let words = [
            0u64, // header, filled below
            base_a | 1 << 38,
            0xA,
            0xB,
            base_b | 2 << 34,
            1,
            2,
            3,
        ];
        let size = (words.len() * 8) as u64;
        let mut page = [0u8; 4096];
        for (i, w) in words.iter().enumerate() {
            let w = if i == 0 { size | 2 << 16 } else { *w };
            page[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        let list = MetadataList::parse(&page).unwrap();
        assert_eq!(list.sequences(), 2);
        let mut it = list.elements();
        let mut next = || it.next().map(|r| r.map(|(id, v)| (id.raw(), v)).unwrap());
        assert_eq!(next(), Some((base_a, 0xA)));
        assert_eq!(next(), Some((base_a + 1, 0xB)));
        assert_eq!(next(), Some((base_b, 1)));
        assert_eq!(next(), Some((base_b + 1, 2)));
        assert_eq!(next(), Some((base_b + 2, 3)));
        assert_eq!(next(), None);
        // Truncated: the header claims 2 sequences but the size covers only one.
        page[0..8].copy_from_slice(&(32u64 | 2 << 16).to_le_bytes());
        let list = MetadataList::parse(&page).unwrap();
        let results: [bool; 4] = {
            let mut it = list.elements();
            core::array::from_fn(|_| matches!(it.next(), Some(Ok(_))))
        };
        assert_eq!(results, [true, true, false, false]);
        assert!(MetadataList::parse(&page[..4]).is_err());
        page[0..8].copy_from_slice(&5000u64.to_le_bytes());
        assert!(MetadataList::parse(&page).is_err());
    }
}
