//! Metadata fields by name: a [`FieldId`] to its name (with the element index of an array
//! element, and leaf/sub-leaf for the TD's CPUID_VALUES), and a name back to the
//! [`FieldId`].
//!
//! Generated from the one field table, [`abi::fields`](super::fields): every table's
//! `ALL` list, nothing declared twice. Names print as `CONTEXT.NAME`, `CONTEXT.NAME[index]`
//! for an element other than the first, and
//! `TD.CPUID_VALUES(leaf=0x7,subleaf=0x0).EAX_EBX` for CPUID_VALUES (`.ECX_EDX` for the
//! second half; no `subleaf=` for a leaf without sub-leaves).
//!
//! Array elements: the field table lists each field's first element only. An ID whose
//! field code lies after a listed field of the same context and class, and before the next
//! listed one, is named as an element of the earlier field (the field code advances by one
//! per element, by two with INC_SIZE). After the last field of a class, up to
//! [`MAX_TRAILING_ELEMENTS`] elements are named; that bound is this crate's, not the ABI's
//! (**UNVERIFIED** against the module's element counts). So a name is only as exact as the
//! table: an unlisted field that sits in such a gap is named as an element.
//!
//! # Examples
//!
//! ```
//! use tdxcall::abi::field_names::{field_by_name, field_name};
//! use tdxcall::abi::fields;
//!
//! let mrtd_3 = fields::td::MRTD.element(3)?;
//! assert_eq!(field_name(mrtd_3).unwrap().to_string(), "TD.MRTD[3]");
//! assert_eq!(field_by_name("TD.MRTD[3]"), Some(mrtd_3));
//! assert_eq!(field_by_name("MAJOR_VERSION"), Some(fields::sys::MAJOR_VERSION));
//! assert_eq!(field_by_name("XFAM"), None); // both TD.XFAM and VCPU.XFAM: say which
//! # Ok::<(), tdxcall::Error>(())
//! ```

use super::field_id::{Context, FieldId};
use super::fields;
use core::fmt;

/// Every field table with its context: the one list the lookups walk.
pub const TABLES: [(Context, &[(&str, FieldId)]); 3] = [
    (Context::Platform, fields::sys::ALL),
    (Context::Td, fields::td::ALL),
    (Context::Vcpu, fields::vp::ALL),
];

/// How many elements after the last listed field of a class are named as its elements.
pub const MAX_TRAILING_ELEMENTS: u32 = 256;

/// Bits that identify a field: non-architectural (63), class (61:56), context (54:52) and
/// field code (23:0). Element size, sequence bits, WRITE_MASK_VALID and INC_SIZE are not
/// part of the name.
const IDENTITY: u64 = 1 << 63 | 0x3F << 56 | 0x7 << 52 | 0xFF_FFFF;

/// The half of a CPUID_VALUES entry an element holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CpuidHalf {
    /// Element 0: EBX in bits 63:32, EAX in 31:0.
    EaxEbx,
    /// Element 1: EDX in bits 63:32, ECX in 31:0.
    EcxEdx,
}

/// Which part of a named field an ID addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FieldIndex {
    /// The field itself (its first element).
    First,
    /// Element `n` (1 or more) of an array field.
    Element(u32),
    /// A CPUID_VALUES element (TD class 20): the field code encodes the leaf, the sub-leaf
    /// and the half (tdx-module-abi 8.1).
    Cpuid {
        /// The CPUID leaf (bits 6:0 and 31 only can be encoded).
        leaf: u32,
        /// The sub-leaf (bits 6:0), `None` for a leaf without sub-leaves.
        subleaf: Option<u32>,
        /// Which register pair.
        half: CpuidHalf,
    },
}

/// The name of a field ID; [`fmt::Display`] prints it in the form [`field_by_name`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct FieldName {
    /// The context.
    pub context: Context,
    /// The field's name in [`abi::fields`](super::fields).
    pub name: &'static str,
    /// The element.
    pub index: FieldIndex,
}

impl fmt::Display for FieldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.context.name(), self.name)?;
        match self.index {
            FieldIndex::First => Ok(()),
            FieldIndex::Element(n) => write!(f, "[{n}]"),
            FieldIndex::Cpuid {
                leaf,
                subleaf,
                half,
            } => {
                write!(f, "(leaf={leaf:#x}")?;
                if let Some(subleaf) = subleaf {
                    write!(f, ",subleaf={subleaf:#x}")?;
                }
                f.write_str(match half {
                    CpuidHalf::EaxEbx => ").EAX_EBX",
                    CpuidHalf::EcxEdx => ").ECX_EDX",
                })
            }
        }
    }
}

const fn key(id: FieldId) -> u64 {
    id.raw() & IDENTITY
}

/// The field class of CPUID_VALUES, whose field codes are not element indexes.
const fn is_cpuid_values(id: FieldId) -> bool {
    id.context_code() == Context::Td as u8
        && id.class_code() == fields::td::CPUID_VALUES.class_code()
        && id.non_arch() == fields::td::CPUID_VALUES.non_arch()
}

/// Field code of CPUID_VALUES: bit 0 half, bits 7:1 sub-leaf, bit 8 no sub-leaf, bits 15:9
/// leaf bits 6:0, bit 16 leaf bit 31; bits 23:17 zero.
fn cpuid_index(code: u32) -> Option<FieldIndex> {
    if code >> 17 != 0 {
        return None;
    }
    let half = if code & 1 == 0 {
        CpuidHalf::EaxEbx
    } else {
        CpuidHalf::EcxEdx
    };
    let subleaf = if code & 1 << 8 != 0 {
        if code >> 1 & 0x7F != 0 {
            return None;
        }
        None
    } else {
        Some(code >> 1 & 0x7F)
    };
    let leaf = (code >> 9 & 0x7F) | (code >> 16 & 1) << 31;
    Some(FieldIndex::Cpuid {
        leaf,
        subleaf,
        half,
    })
}

fn cpuid_code(leaf: u32, subleaf: Option<u32>, half: CpuidHalf) -> Option<u32> {
    if leaf & !(0x7F | 1 << 31) != 0 || subleaf.is_some_and(|s| s > 0x7F) {
        return None;
    }
    let sub = match subleaf {
        Some(s) => s << 1,
        None => 1 << 8,
    };
    Some(half as u32 | sub | (leaf & 0x7F) << 9 | (leaf >> 31) << 16)
}

/// The name of `id`, or `None` when no table field covers it.
pub fn field_name(id: FieldId) -> Option<FieldName> {
    let context = id.context()?;
    let (_, table) = TABLES.iter().find(|(c, _)| *c == context)?;
    if is_cpuid_values(id) {
        return Some(FieldName {
            context,
            name: "CPUID_VALUES",
            index: cpuid_index(id.field_code())?,
        });
    }
    if let Some((name, _)) = table.iter().find(|(_, f)| key(*f) == key(id)) {
        return Some(FieldName {
            context,
            name,
            index: FieldIndex::First,
        });
    }
    // The nearest listed field of the same class below `id`, and the next one above.
    let same_class = |f: &FieldId| key(*f) & !0xFF_FFFF == key(id) & !0xFF_FFFF;
    let code = id.field_code();
    let (name, base) = table
        .iter()
        .filter(|(_, f)| same_class(f) && f.field_code() < code)
        .max_by_key(|(_, f)| f.field_code())?;
    let limit = table
        .iter()
        .filter(|(_, f)| same_class(f) && f.field_code() > code)
        .map(|(_, f)| f.field_code())
        .min()
        .unwrap_or(u32::MAX);
    let stride = if base.inc_size() { 2 } else { 1 };
    let offset = code - base.field_code();
    if offset % stride != 0 || limit == u32::MAX && offset / stride >= MAX_TRAILING_ELEMENTS {
        return None;
    }
    Some(FieldName {
        context,
        name,
        index: FieldIndex::Element(offset / stride),
    })
}

/// The field ID named `text`, as [`FieldName`] prints it: `CONTEXT.NAME`, `NAME[n]`,
/// `TD.CPUID_VALUES(leaf=0x7,subleaf=0x0).EAX_EBX`. The context may be left out when only
/// one table has the name; numbers are decimal or `0x` hexadecimal.
pub fn field_by_name(text: &str) -> Option<FieldId> {
    let (context, rest) = match text.split_once('.') {
        Some((prefix, rest))
            if TABLES.iter().any(|(c, _)| c.name() == prefix) && !rest.is_empty() =>
        {
            (
                TABLES.iter().find(|(c, _)| c.name() == prefix).map(|t| t.0),
                rest,
            )
        }
        _ => (None, text),
    };
    if let Some(args) = rest.strip_prefix("CPUID_VALUES(") {
        if context.is_some_and(|c| c != Context::Td) {
            return None;
        }
        let (args, half) = args.split_once(").")?;
        let half = match half {
            "EAX_EBX" => CpuidHalf::EaxEbx,
            "ECX_EDX" => CpuidHalf::EcxEdx,
            _ => return None,
        };
        let (mut leaf, mut subleaf) = (None, None);
        for arg in args.split(',') {
            match arg.split_once('=')? {
                ("leaf", v) if leaf.is_none() => leaf = Some(number(v)?),
                ("subleaf", v) if subleaf.is_none() => subleaf = Some(number(v)?),
                _ => return None,
            }
        }
        let code = cpuid_code(leaf?, subleaf, half)?;
        return Some(FieldId::from_raw(
            fields::td::CPUID_VALUES.raw() & !0xFF_FFFF | code as u64,
        ));
    }
    let (name, index) = match rest.split_once('[') {
        Some((name, index)) => (name, number(index.strip_suffix(']')?)?),
        None => (rest, 0),
    };
    let mut found = TABLES
        .iter()
        .filter(|(c, _)| context.is_none_or(|want| want == *c))
        .flat_map(|(_, table)| table.iter())
        .filter(|(n, _)| *n == name);
    let (_, id) = found.next()?;
    if found.next().is_some() {
        return None; // ambiguous without a context
    }
    let element = id.element(index).ok()?;
    // Only an element that names back to this field.
    match field_name(element) {
        Some(back) if back.name == name => Some(element),
        _ => None,
    }
}

fn number(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn every_field_of_every_table_round_trips() {
        for (context, table) in TABLES {
            for (name, id) in table {
                let named = field_name(*id).expect(name);
                assert_eq!(named.context, context);
                if is_cpuid_values(*id) {
                    continue; // its field code is a leaf, not an index (below)
                }
                assert_eq!((named.name, named.index), (*name, FieldIndex::First));
                let text = named.to_string();
                assert_eq!(text, std::format!("{}.{name}", context.name()));
                assert_eq!(field_by_name(&text), Some(*id), "{text}");
                // A second element, where the table leaves room for one.
                let element = id.element(1).unwrap();
                if let Some(named) = field_name(element) {
                    if named.name == *name {
                        assert_eq!(named.index, FieldIndex::Element(1));
                        assert_eq!(field_by_name(&named.to_string()), Some(element));
                    }
                }
            }
        }
    }

    #[test]
    fn unique_names_need_no_context_and_shared_ones_do() {
        assert_eq!(field_by_name("MRTD"), Some(fields::td::MRTD));
        assert_eq!(field_by_name("XFAM"), None);
        assert_eq!(field_by_name("TD.XFAM"), Some(fields::td::XFAM));
        assert_eq!(field_by_name("VCPU.XFAM"), Some(fields::vp::XFAM));
        assert_eq!(field_by_name("SYS.MRTD"), None);
        assert_eq!(field_by_name("NO_SUCH_FIELD"), None);
    }

    #[test]
    fn array_elements_are_named_with_their_index() {
        let cmr = fields::sys::CMR_BASE.element(0x7F).unwrap();
        assert_eq!(field_name(cmr).unwrap().to_string(), "SYS.CMR_BASE[127]");
        assert_eq!(field_by_name("SYS.CMR_BASE[0x7f]"), Some(cmr));
        // 0x80 elements after CMR_BASE is CMR_SIZE itself.
        assert_eq!(field_by_name("CMR_BASE[128]"), None);
        let gpr = fields::vp::GPRS.element(15).unwrap();
        assert_eq!(field_name(gpr).unwrap().to_string(), "VCPU.GPRS[15]");
        // Far past the last field of a class: not named.
        let far = fields::td::RTMR.element(MAX_TRAILING_ELEMENTS).unwrap();
        assert_eq!(field_name(far), None);
        assert_eq!(field_name(FieldId::NA), None);
    }

    #[test]
    fn cpuid_values_carry_leaf_and_subleaf() {
        for (leaf, subleaf, half) in [
            (0x7, Some(0), CpuidHalf::EaxEbx),
            (0x7, Some(1), CpuidHalf::EcxEdx),
            (0x1, None, CpuidHalf::EcxEdx),
            (0x8000_0008, None, CpuidHalf::EaxEbx),
            (0x8000_0007, Some(0x7F), CpuidHalf::EcxEdx),
        ] {
            let code = cpuid_code(leaf, subleaf, half).unwrap();
            let id = FieldId::from_raw(fields::td::CPUID_VALUES.raw() | code as u64);
            let named = field_name(id).unwrap();
            assert_eq!(
                named.index,
                FieldIndex::Cpuid {
                    leaf,
                    subleaf,
                    half
                }
            );
            assert_eq!(field_by_name(&named.to_string()), Some(id), "{named}");
        }
        assert_eq!(
            field_name(fields::td::CPUID_VALUES).unwrap().to_string(),
            "TD.CPUID_VALUES(leaf=0x0,subleaf=0x0).EAX_EBX"
        );
        // Leaf bits 30:7 cannot be encoded.
        assert_eq!(
            field_by_name("TD.CPUID_VALUES(leaf=0x80,subleaf=0).EAX_EBX"),
            None
        );
        assert_eq!(field_by_name("TD.CPUID_VALUES(leaf=0x1).EBX_EAX"), None);
    }
}
