//! Metadata access shared by TDH.MNG.RD/WR, TDH.VP.RD/WR and TDH.SYS.RD/RDALL: read
//! results, field-ID validation, and the metadata list format (TDH.SYS.RDALL output).

use crate::abi::addr::invalid;
use crate::abi::FieldId;
use crate::error::{InvalidReason, Result};
use crate::status::Status;

/// One metadata read: the value and the ID of the next field in the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MetadataRead {
    /// R8: the field's value (0 when a null ID asked for the first field).
    pub value: u64,
    /// RDX: the next field ID, `None` after the last field (MD_FIELD_ID_NA).
    pub next: Option<FieldId>,
    /// Whether the call answered a null field ID with the context's first field in
    /// `next` (TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT, a warning).
    pub first_field_only: bool,
}

impl MetadataRead {
    pub(crate) fn new(status: Status, value: u64, next: u64) -> MetadataRead {
        MetadataRead {
            value,
            next: (next != FieldId::NA.raw()).then_some(FieldId::from_raw(next)),
            first_field_only: status.code() == super::code::METADATA_FIRST_FIELD_ID_IN_CONTEXT,
        }
    }
}

/// Checks a field ID for a single-element read: the null ID passes (it asks for the
/// first field), anything else must follow the single-element rules.
pub(crate) fn check_read_id(field: FieldId) -> Result<FieldId> {
    if field.is_null() {
        Ok(field)
    } else {
        field.check_single_element()
    }
}

/// A metadata list, as TDH.SYS.RDALL writes it into a 4 KiB page: an 8-byte header (bits
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
    /// Parses the list header in `page` (the RDALL output page).
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
            // Single-element IDs: clear LAST_ELEMENT (37:34) and LAST_FIELD (46:38).
            self.header = Some(FieldId::from_raw(raw & !(0x1FFF << 34)));
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

#[cfg(test)]
mod wrapper_tests {
    use super::*;
    use crate::abi::field_id::Context;
    use crate::abi::td_params::{CpuidConfig, CpuidLeaf, CpuidValues};
    use crate::abi::{Attributes, HostPhysAddr, TdrPage, TdvprPage, TdxFeatures0, Xfam};
    use crate::error::InvalidReason;
    use crate::host::sys::{global_field, Fixed, RdAll};
    use crate::host::testing::*;
    use crate::{Error, Status};

    const TDR: u64 = 0x7000;
    const TDVPR: u64 = 0x8000;
    const FIELD: u64 = 0x1110_0003_0000_0017;
    const NEXT: u64 = 0x1110_0003_0000_0018;
    const NA: u64 = u64::MAX;
    /// LAST_ELEMENT set: not a single-element ID.
    const MALFORMED: u64 = FIELD | 1 << 34;

    fn tdr() -> TdrPage {
        TdrPage::from_raw(TDR).unwrap()
    }
    fn tdvpr() -> TdvprPage {
        TdvprPage::from_raw(TDVPR).unwrap()
    }
    fn id(raw: u64) -> FieldId {
        FieldId::from_raw(raw)
    }

    #[test]
    fn mng_rd_wr() {
        let input = regs!(rcx: TDR, rdx: FIELD);
        let calls = [seamcall(11, input, regs!(input; r8: 0x55), 0)];
        assert_eq!(
            with_script(&calls, |h| h.mng_rd(tdr(), id(FIELD))),
            Ok(0x55)
        );
        let calls = [seamcall(
            0x1_000B,
            input,
            regs!(input; r8: 0x55, rdx: NEXT),
            0,
        )];
        let r = with_script(&calls, |h| h.mng_rd_next(tdr(), id(FIELD))).unwrap();
        assert_eq!(
            r,
            MetadataRead {
                value: 0x55,
                next: Some(id(NEXT)),
                first_field_only: false
            }
        );
        // Null ID: first field in RDX with the warning status.
        let null = FieldId::null(Context::Td);
        let calls = [seamcall(
            0x1_000B,
            regs!(rcx: TDR, rdx: null.raw()),
            regs!(rcx: TDR, rdx: FIELD, r8: 0),
            0x0000_0C0B_0000_0000,
        )];
        let r = with_script(&calls, |h| h.mng_rd_next(tdr(), null)).unwrap();
        assert_eq!(
            r,
            MetadataRead {
                value: 0,
                next: Some(id(FIELD)),
                first_field_only: true
            }
        );
        // Error: R8 zeroed, RDX = -1.
        let e = 0xC000_0C00_0000_0000;
        let calls = [seamcall(0x1_000B, input, regs!(input; r8: 0, rdx: NA), e)];
        assert_eq!(
            with_script(&calls, |h| h.mng_rd_next(tdr(), id(FIELD))),
            Err(Error::Status(Status::from_raw(e)))
        );
        let input = regs!(rcx: TDR, rdx: FIELD, r8: 0xAA, r9: 0xF0);
        let calls = [seamcall(13, input, regs!(input; r8: 0x11), 0)];
        assert_eq!(
            with_script(&calls, |h| h.mng_wr(tdr(), id(FIELD), 0xAA, 0xF0)),
            Ok(0x11)
        );
        assert!(matches!(
            rejection(without_call(|h| h.mng_rd(tdr(), id(MALFORMED)))),
            InvalidReason::MalformedFieldId { .. }
        ));
        assert!(matches!(
            rejection(without_call(|h| h.mng_wr(tdr(), id(MALFORMED), 0, 0))),
            InvalidReason::MalformedFieldId { .. }
        ));
        // v0 rejects the null ID (only v1 reads may ask for the first field).
        assert!(without_call(|h| h.mng_rd(tdr(), null)).is_err());
    }

    #[test]
    fn vp_rd_wr() {
        let input = regs!(rcx: TDVPR, rdx: FIELD);
        let calls = [seamcall(26, input, regs!(input; r8: 0x66), 0)];
        assert_eq!(
            with_script(&calls, |h| h.vp_rd(tdvpr(), id(FIELD))),
            Ok(0x66)
        );
        let calls = [seamcall(
            0x1_001A,
            input,
            regs!(input; r8: 0x66, rdx: NA),
            0,
        )];
        let r = with_script(&calls, |h| h.vp_rd_next(tdvpr(), id(FIELD))).unwrap();
        assert_eq!(r.next, None);
        let input = regs!(rcx: TDVPR, rdx: FIELD, r8: 1, r9: 2);
        let e = 0xC000_0C01_0000_0002;
        let calls = [seamcall(43, input, regs!(input; r8: 0), e)];
        assert_eq!(
            with_script(&calls, |h| h.vp_wr(tdvpr(), id(FIELD), 1, 2)),
            Err(Error::Status(Status::from_raw(e)))
        );
        assert!(without_call(|h| h.vp_rd_next(tdvpr(), id(MALFORMED))).is_err());
        assert!(without_call(|h| h.vp_wr(tdvpr(), id(MALFORMED), 0, 0)).is_err());
    }

    #[test]
    fn sys_rd_iterates_every_field() {
        let null = FieldId::null(Context::Platform).raw();
        let a = 0x0800_0002_0000_0000;
        let b = 0x0800_0001_0000_0003;
        let calls = [
            seamcall(
                34,
                regs!(rdx: null),
                regs!(rdx: a, r8: 0),
                0x0000_0C0B_0000_0000,
            ),
            seamcall(34, regs!(rdx: a), regs!(rdx: b, r8: 0x8086), 0),
            seamcall(34, regs!(rdx: b), regs!(rdx: NA, r8: 5), 0),
        ];
        with_script(&calls, |h| {
            let mut it = h.sys_fields().unwrap();
            assert_eq!(it.next().map(|r| r.unwrap()), Some((id(a), 0x8086)));
            assert_eq!(it.next().map(|r| r.unwrap()), Some((id(b), 5)));
            assert!(it.next().is_none());
        });
        let e = 0xC000_0502_0000_0000;
        let calls = [
            seamcall(34, regs!(rdx: null), regs!(rdx: a), 0x0000_0C0B_0000_0000),
            seamcall(34, regs!(rdx: a), regs!(rdx: NA, r8: 0), e),
        ];
        with_script(&calls, |h| {
            let mut it = h.sys_fields().unwrap();
            assert_eq!(it.next(), Some(Err(Error::Status(Status::from_raw(e)))));
            assert!(it.next().is_none());
        });
        assert!(without_call(|h| h.sys_rd(id(MALFORMED))).is_err());
    }

    #[test]
    fn rdall() {
        let start = FieldId::null(Context::Platform);
        let input = regs!(rdx: 0x9000, r8: start.raw());
        let calls = [seamcall(
            37,
            input,
            regs!(input; r8: NEXT),
            0xC000_0C04_0000_0000,
        )];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.sys_rdall(HostPhysAddr::new(0x9000).unwrap(), start)
        });
        assert_eq!(
            r,
            Ok(RdAll {
                next: Some(id(NEXT)),
                overflowed: true
            })
        );
        let calls = [seamcall(37, input, regs!(input; r8: NA), 0)];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.sys_rdall(HostPhysAddr::new(0x9000).unwrap(), start)
        });
        assert_eq!(
            r,
            Ok(RdAll {
                next: None,
                overflowed: false
            })
        );
        // SAFETY: scripted backend; no instruction executes.
        assert!(without_call(|h| unsafe {
            h.sys_rdall(HostPhysAddr::new(0x9008).unwrap(), start)
        })
        .is_err());
    }

    fn read(field: FieldId, value: u64) -> Call {
        seamcall(34, regs!(rdx: field.raw()), regs!(rdx: NA, r8: value), 0)
    }

    #[test]
    fn typed_reads() {
        use global_field::*;
        let calls = [
            read(MAJOR_VERSION, 1),
            read(MINOR_VERSION, 5),
            read(UPDATE_VERSION, 6),
            read(BUILD_NUM, 0x300),
            read(BUILD_DATE, 0x2024_0222),
            read(VENDOR_ID, 0x8086),
        ];
        let info = with_script(&calls, |h| h.module_info()).unwrap();
        assert_eq!(
            (info.version.major, info.version.minor, info.version.update),
            (1, 5, 6)
        );
        assert_eq!(
            (info.build_num, info.build_date, info.vendor_id),
            (0x300, 0x2024_0222, 0x8086)
        );
        let calls = [read(TDX_FEATURES0, 1 << 18 | 1)];
        let f = with_script(&calls, |h| h.tdx_features0()).unwrap();
        assert!(f.has_no_rbp_mod() && f.contains(TdxFeatures0::TD_MIGRATION));
        let calls = [
            read(ATTRIBUTES_FIXED0, 0xF000_0001),
            read(ATTRIBUTES_FIXED1, 0),
        ];
        let a = with_script(&calls, |h| h.attributes_fixed()).unwrap();
        assert_eq!(
            a,
            Fixed {
                fixed0: Attributes::from_bits_retain(0xF000_0001),
                fixed1: Attributes::empty()
            }
        );
        let calls = [read(XFAM_FIXED0, 0x6DBE7), read(XFAM_FIXED1, 3)];
        let x = with_script(&calls, |h| h.xfam_fixed()).unwrap();
        assert_eq!(x.fixed1, Xfam::X87 | Xfam::SSE);
        let calls = [
            read(TDR_BASE_SIZE, 4096),
            read(TDCS_BASE_SIZE, 16384),
            read(TDVPS_BASE_SIZE, 20480),
        ];
        let s = with_script(&calls, |h| h.control_struct_sizes()).unwrap();
        assert_eq!((s.tdr, s.tdcs, s.tdvps), (4096, 16384, 20480));
        let leaves = CPUID_CONFIG_LEAVES.raw();
        let values = CPUID_CONFIG_VALUES.raw();
        let calls = [
            read(NUM_CPUID_CONFIG, 2),
            read(id(leaves), 0xFFFF_FFFF_0000_0001),
            read(id(values), 0x2222_2222_1111_1111),
            read(id(values + 1), 0x4444_4444_3333_3333),
            read(id(leaves + 1), 0x0000_0001_0000_0007),
            read(id(values + 2), 5),
            read(id(values + 3), 6),
        ];
        let configs: [CpuidConfig; 2] = with_script(&calls, |h| {
            let mut it = h.cpuid_configs().unwrap();
            let out = [it.next().unwrap().unwrap(), it.next().unwrap().unwrap()];
            assert!(it.next().is_none());
            out
        });
        assert_eq!(
            configs[0].leaf,
            CpuidLeaf {
                leaf: 1,
                subleaf: CpuidLeaf::NO_SUBLEAF
            }
        );
        assert_eq!(
            configs[0].values,
            CpuidValues {
                eax: 0x1111_1111,
                ebx: 0x2222_2222,
                ecx: 0x3333_3333,
                edx: 0x4444_4444
            }
        );
        assert_eq!(
            configs[1].leaf,
            CpuidLeaf {
                leaf: 7,
                subleaf: 1
            }
        );
        assert_eq!(
            configs[1].values,
            CpuidValues {
                eax: 5,
                ebx: 0,
                ecx: 6,
                edx: 0
            }
        );
    }
}
