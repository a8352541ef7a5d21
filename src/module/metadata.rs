//! Metadata fields: the global (SYS), TD and vCPU contexts that TDH.SYS.RD/RDALL,
//! TDH.MNG.RD/WR, TDH.VP.RD/WR and TDG.SYS.RD / TDG.VM.RD read and write.
//!
//! One table per context. Each row is a field as the module's lookup tables declare it
//! (module 1.5.01 `include/auto_gen/*_fields_lookup.c`): its base field ID, the number of
//! fields and of elements per field, the host and guest read/write masks of a production TD,
//! and how the model computes its value. Everything else (lookup, next-field iteration,
//! RDALL lists, masked writes) is generic over the tables.
//!
//! Simplifications: only the fields listed here exist; debug TDs get the production masks;
//! a field's elements are consecutive field codes (no INC_SIZE fields).

use super::platform::*;
use super::state::{State, Td, Vcpu};
use crate::abi::{fields, Context, FieldId};
use crate::status::{Status, StatusCode};
use std::vec::Vec;

/// One row of a metadata table.
pub(super) struct FieldDef<G> {
    /// The module's name of the field (for diagnostics and the table checks).
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: &'static str,
    /// The field ID of element 0 of field 0.
    pub id: u64,
    pub fields: u32,
    pub elements: u32,
    pub host_rd: u64,
    pub host_wr: u64,
    pub guest_rd: u64,
    pub guest_wr: u64,
    /// The value of element `index` (over all fields and elements).
    pub get: G,
}

/// Who accesses a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Accessor {
    Host,
    Guest,
}

impl<G> FieldDef<G> {
    fn count(&self) -> u32 {
        self.fields * self.elements
    }

    fn code(&self) -> u32 {
        (self.id & 0xFF_FFFF) as u32
    }

    fn class(&self) -> u8 {
        FieldId::from_raw(self.id).class_code()
    }

    /// The field ID of element `index`.
    pub fn element_id(&self, index: u32) -> u64 {
        (self.id & !0xFF_FFFF) | u64::from(self.code() + index)
    }

    pub fn read_mask(&self, who: Accessor) -> u64 {
        match who {
            Accessor::Host => self.host_rd,
            Accessor::Guest => self.guest_rd,
        }
    }

    pub fn write_mask(&self, who: Accessor) -> u64 {
        match who {
            Accessor::Host => self.host_wr,
            Accessor::Guest => self.guest_wr,
        }
    }
}

/// The key a writable element's value is stored under: class and field code.
pub(super) fn element_key(id: u64) -> u64 {
    let id = FieldId::from_raw(id);
    u64::from(id.class_code()) << 56 | u64::from(id.field_code())
}

macro_rules! metadata_table {
    (
        $(#[$doc:meta])*
        static $TABLE:ident: $G:ty = {
            $( $name:ident = $id:expr, $fields:expr, $elements:literal,
               host($hr:expr, $hw:expr), guest($gr:expr, $gw:expr),
               |$($arg:ident),*| $get:expr; )*
        }
    ) => {
        $(#[$doc])*
        pub(super) static $TABLE: &[FieldDef<$G>] = &[
            $(FieldDef {
                name: stringify!($name),
                id: $id,
                fields: $fields,
                elements: $elements,
                host_rd: $hr,
                host_wr: $hw,
                guest_rd: $gr,
                guest_wr: $gw,
                get: |$($arg),*| $get,
            },)*
        ];
    };
}

const ALL: u64 = u64::MAX;
const U32: u64 = 0xFFFF_FFFF;
const U16: u64 = 0xFFFF;
const U8: u64 = 0xFF;

/// The getter of a SYS field.
pub(super) type SysGet = fn(&State, u32) -> u64;
/// The getter of a TD field.
pub(super) type TdGet = fn(&Td, u32) -> u64;
/// The getter of a vCPU field.
pub(super) type VpGet = fn(&Td, &Vcpu, u32) -> u64;

fn measurement_qword(m: &[u8; 48], i: u32) -> u64 {
    let i = i as usize * 8;
    u64::from_le_bytes(m[i..i + 8].try_into().expect("8 bytes"))
}

fn cmr(state: &State, i: u32) -> (u64, u64) {
    state.cmrs.get(i as usize).copied().unwrap_or((0, 0))
}

metadata_table! {
    /// Global (platform) fields.
    static SYS_FIELDS: SysGet = {
        NUM_PKGS = fields::sys::NUM_PKGS.raw(), 1, 1, host(U32, 0), guest(0, 0), |_s, _i| 1;
        VENDOR_ID = fields::sys::VENDOR_ID.raw(), 1, 1, host(U32, 0), guest(U32, 0), |_s, _i| VENDOR_ID.into();
        BUILD_DATE = fields::sys::BUILD_DATE.raw(), 1, 1, host(U32, 0), guest(0, 0), |_s, _i| BUILD_DATE.into();
        BUILD_NUM = fields::sys::BUILD_NUM.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| BUILD_NUM.into();
        MINOR_VERSION = fields::sys::MINOR_VERSION.raw(), 1, 1, host(U16, 0), guest(U16, 0), |s, _i| s.version.minor.into();
        MAJOR_VERSION = fields::sys::MAJOR_VERSION.raw(), 1, 1, host(U16, 0), guest(U16, 0), |s, _i| s.version.major.into();
        UPDATE_VERSION = fields::sys::UPDATE_VERSION.raw(), 1, 1, host(U16, 0), guest(0, 0), |s, _i| s.version.update.into();
        SYS_ATTRIBUTES = fields::sys::SYS_ATTRIBUTES.raw(), 1, 1, host(U32, 0), guest(U32, 0), |_s, _i| 0;
        NUM_TDX_FEATURES = fields::sys::NUM_TDX_FEATURES.raw(), 1, 1, host(U8, 0), guest(U8, 0), |_s, _i| 1;
        TDX_FEATURES0 = fields::sys::TDX_FEATURES0.raw(), 1, 1, host(ALL, 0), guest(ALL, 0), |s, _i| tdx_features0(s.version);
        NUM_CMRS = fields::sys::NUM_CMRS.raw(), 1, 1, host(U16, 0), guest(0, 0), |s, _i| s.cmrs.len() as u64;
        CMR_BASE = fields::sys::CMR_BASE.raw(), 32, 1, host(ALL, 0), guest(0, 0), |s, i| cmr(s, i).0;
        CMR_SIZE = fields::sys::CMR_SIZE.raw(), 32, 1, host(ALL, 0), guest(0, 0), |s, i| cmr(s, i).1;
        MAX_TDMRS = fields::sys::MAX_TDMRS.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| crate::abi::sysinfo::MAX_TDMRS as u64;
        MAX_RESERVED_PER_TDMR = fields::sys::MAX_RESERVED_PER_TDMR.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| crate::abi::sysinfo::TDMR_MAX_RESERVED_AREAS as u64;
        PAMT_4K_ENTRY_SIZE = fields::sys::PAMT_4K_ENTRY_SIZE.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| PAMT_ENTRY_SIZE;
        PAMT_2M_ENTRY_SIZE = fields::sys::PAMT_2M_ENTRY_SIZE.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| PAMT_ENTRY_SIZE;
        PAMT_1G_ENTRY_SIZE = fields::sys::PAMT_1G_ENTRY_SIZE.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| PAMT_ENTRY_SIZE;
        TDR_BASE_SIZE = fields::sys::TDR_BASE_SIZE.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| 4096;
        TDCS_BASE_SIZE = fields::sys::TDCS_BASE_SIZE.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| TDCS_PAGES as u64 * 4096;
        TDVPS_BASE_SIZE = fields::sys::TDVPS_BASE_SIZE.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| TDVPS_PAGES as u64 * 4096;
        ATTRIBUTES_FIXED0 = fields::sys::ATTRIBUTES_FIXED0.raw(), 1, 1, host(ALL, 0), guest(0, 0), |_s, _i| ATTRIBUTES_FIXED0;
        ATTRIBUTES_FIXED1 = fields::sys::ATTRIBUTES_FIXED1.raw(), 1, 1, host(ALL, 0), guest(0, 0), |_s, _i| ATTRIBUTES_FIXED1;
        XFAM_FIXED0 = fields::sys::XFAM_FIXED0.raw(), 1, 1, host(ALL, 0), guest(0, 0), |_s, _i| XFAM_FIXED0;
        XFAM_FIXED1 = fields::sys::XFAM_FIXED1.raw(), 1, 1, host(ALL, 0), guest(0, 0), |_s, _i| XFAM_FIXED1;
        NUM_CPUID_CONFIG = fields::sys::NUM_CPUID_CONFIG.raw(), 1, 1, host(U16, 0), guest(0, 0), |s, _i| super::cpuid::num_config(s.cpuid);
        CONFIG_FLAGS_FIXED0 = fields::sys::CONFIG_FLAGS_FIXED0.raw(), 1, 1, host(ALL, 0), guest(0, 0), |_s, _i| CONFIG_FLAGS_FIXED0;
        CONFIG_FLAGS_FIXED1 = fields::sys::CONFIG_FLAGS_FIXED1.raw(), 1, 1, host(ALL, 0), guest(0, 0), |_s, _i| CONFIG_FLAGS_FIXED1;
        CPUID_CONFIG_LEAVES = fields::sys::CPUID_CONFIG_LEAVES.raw(), super::cpuid::CONFIG_FIELDS, 1, host(ALL, 0), guest(0, 0),
            |s, i| super::cpuid::config_leaf(s.cpuid, i);
        CPUID_CONFIG_VALUES = fields::sys::CPUID_CONFIG_VALUES.raw(), super::cpuid::CONFIG_FIELDS, 2, host(ALL, 0), guest(0, 0),
            |s, i| super::cpuid::config_values(s.cpuid, i);
        MAX_SERV_TDS = fields::sys::MAX_SERV_TDS.raw(), 1, 1, host(U16, 0), guest(0, 0), |_s, _i| 0;
        // Rows after this point exist only in 2.0.18 (`sys_fields`).
        PAMT_PAGE_BITMAP_ENTRY_BITS = fields::sys::PAMT_PAGE_BITMAP_ENTRY_BITS.raw(), 1, 1, host(U8, 0), guest(0, 0),
            |_s, _i| PAMT_PAGE_BITMAP_ENTRY_BITS;
    }
}

/// The ID module `version` gives the TD-scope element `id`: 2.0.18 numbers some fields
/// with bit 63 set where 1.5.01 has it clear (CONFIG_FLAGS, TD_CTLS); the field table's row
/// for that version with the same class and code ([`fields::td::MODULES`], e.g.
/// `CONFIG_FLAGS_V2018`) gives the bit. Other IDs, and other versions, are unchanged.
pub(super) fn td_id_for(version: crate::leaf::ModuleVersion, id: u64) -> u64 {
    if version < crate::leaf::ModuleVersion::V2_0_08 {
        return id;
    }
    let field = FieldId::from_raw(id);
    fields::td::MODULES
        .iter()
        .find(|&&(_, row, modules)| {
            modules.contains(crate::leaf::ModuleVersion::V2_0_18)
                && row.context_code() == field.context_code()
                && row.class_code() == field.class_code()
                && row.field_code() == field.field_code()
        })
        .map_or(id, |&(_, row, _)| (id & !(1 << 63)) | (row.raw() & 1 << 63))
}

/// The global fields module `version` has: the rows of [`SYS_FIELDS`] whose ID the field
/// table ([`fields::sys::MODULES`]) gives that version's field table (1.5.05 reads as
/// 1.5.01, whose table was transcribed). The rows a version lacks sit at the end of
/// `SYS_FIELDS`, so the answer is a prefix and the next-field order stays the table's.
///
/// Every TDH.SYS.RD and TDG.SYS.RD asks this, so the two prefix lengths are worked out from
/// the tables once per process (the walk is rows × field-table rows: it was most of a
/// direct-backend TDH.SYS.RD, 0.6-1 µs of it, until 2026-12-04).
pub(super) fn sys_fields(version: crate::leaf::ModuleVersion) -> &'static [FieldDef<SysGet>] {
    static LENGTHS: std::sync::OnceLock<[usize; 2]> = std::sync::OnceLock::new();
    let prefix = |read: crate::leaf::ModuleVersion| {
        let has = |def: &FieldDef<SysGet>| {
            fields::sys::MODULES
                .iter()
                .any(|&(_, id, modules)| id.raw() == def.id && modules.contains(read))
        };
        SYS_FIELDS.iter().take_while(|def| has(def)).count()
    };
    let [v1, v2] = *LENGTHS.get_or_init(|| {
        [
            prefix(crate::leaf::ModuleVersion::V1_5),
            prefix(crate::leaf::ModuleVersion::V2_0_18),
        ]
    });
    let len = if version >= crate::leaf::ModuleVersion::V2_0_08 {
        v2
    } else {
        v1
    };
    &SYS_FIELDS[..len]
}

metadata_table! {
    /// TD-scope fields (TDR and TDCS).
    static TD_FIELDS: TdGet = {
        NUM_TDCX = fields::td::NUM_TDCX.raw(), 1, 1, host(U32, 0), guest(0, 0), |td, _i| td.tdcx.len() as u64;
        CHLDCNT = fields::td::CHLDCNT.raw(), 1, 1, host(ALL, 0), guest(0, 0), |td, _i| td.chldcnt;
        LIFECYCLE_STATE = fields::td::LIFECYCLE_STATE.raw(), 1, 1, host(U32, 0), guest(0, 0), |td, _i| td.lifecycle as u64;
        TD_UUID = fields::td::TD_UUID.raw(), 1, 4, host(ALL, 0), guest(ALL, 0), |td, i| td.uuid[i as usize];
        HKID = fields::td::HKID.raw(), 1, 1, host(U16, 0), guest(0, 0), |td, _i| td.hkid.into();
        NUM_VCPUS = fields::td::NUM_VCPUS.raw(), 1, 1, host(U32, 0), guest(U32, 0), |td, _i| td.num_vcpus.into();
        NUM_ASSOC_VCPUS = fields::td::NUM_ASSOC_VCPUS.raw(), 1, 1, host(U32, 0), guest(0, 0), |td, _i| td.num_assoc_vcpus.into();
        OP_STATE = fields::td::OP_STATE.raw(), 1, 1, host(U32, 0), guest(0, 0), |td, _i| td.op_state as u64;
        NUM_L2_VMS = fields::td::NUM_L2_VMS.raw(), 1, 1, host(U16, 0), guest(U16, 0), |_td, _i| 0;
        ATTRIBUTES = fields::td::ATTRIBUTES.raw(), 1, 1, host(ALL, 0), guest(ALL, 0), |td, _i| td.config.attributes;
        XFAM = fields::td::XFAM.raw(), 1, 1, host(ALL, 0), guest(ALL, 0), |td, _i| td.config.xfam;
        MAX_VCPUS = fields::td::MAX_VCPUS.raw(), 1, 1, host(U32, 0), guest(U32, 0), |td, _i| td.config.max_vcpus.into();
        GPAW = fields::td::GPAW.raw(), 1, 1, host(U8, 0), guest(U8, 0), |td, _i| td.config.gpaw.into();
        EPTP = fields::td::EPTP.raw(), 1, 1, host(ALL, 0), guest(0, 0), |td, _i| td.config.eptp;
        TSC_FREQUENCY = fields::td::TSC_FREQUENCY.raw(), 1, 1, host(U16, 0), guest(U16, 0), |td, _i| td.config.tsc_frequency.into();
        HP_LOCK_TIMEOUT = fields::td::HP_LOCK_TIMEOUT.raw(), 1, 1, host(ALL, ALL), guest(0, 0),
            |td, _i| td.stored(element_key(0x9110_0003_0000_0011), 0);
        CONFIG_FLAGS = fields::td::CONFIG_FLAGS.raw(), 1, 1, host(ALL, 0), guest(ALL, 0), |td, _i| td.config.config_flags;
        TD_CTLS = fields::td::TD_CTLS.raw(), 1, 1, host(0, 0), guest(ALL, 1),
            |td, _i| td.stored(element_key(0x1110_0003_0000_0017), 0);
        // FEATURE_PARAVIRT_CTLS (2.0; CPUID reference 1.2): guest-writable bits 11:0.
        FEATURE_PARAVIRT_CTLS = 0x9110_0003_0000_0022, 1, 1, host(ALL, 0), guest(ALL, 0xFFF),
            |td, _i| td.stored(element_key(0x9110_0003_0000_0022), 0);
        TD_EPOCH = fields::td::TD_EPOCH.raw(), 1, 1, host(ALL, 0), guest(0, 0), |td, _i| td.td_epoch;
        MRTD = fields::td::MRTD.raw(), 1, 6, host(ALL, 0), guest(ALL, 0), |td, i| measurement_qword(&td.mrtd, i);
        MRCONFIGID = fields::td::MRCONFIGID.raw(), 1, 6, host(ALL, 0), guest(ALL, 0), |td, i| measurement_qword(&td.config.mr_config_id, i);
        MROWNER = fields::td::MROWNER.raw(), 1, 6, host(ALL, 0), guest(ALL, 0), |td, i| measurement_qword(&td.config.mr_owner, i);
        MROWNERCONFIG = fields::td::MROWNERCONFIG.raw(), 1, 6, host(ALL, 0), guest(ALL, 0), |td, i| measurement_qword(&td.config.mr_owner_config, i);
        RTMR = fields::td::RTMR.raw(), 4, 6, host(0, 0), guest(ALL, 0), |td, i| measurement_qword(&td.rtmr[(i / 6) as usize], i % 6);
    }
}

metadata_table! {
    /// vCPU-scope fields (TDVPS).
    static VP_FIELDS: VpGet = {
        GPRS = fields::vp::GPRS.raw(), 16, 1, host(0, 0), guest(0, 0), |_td, _vp, _i| 0;
        VCPU_STATE = fields::vp::VCPU_STATE.raw(), 1, 1, host(0, 0), guest(0, 0), |_td, vp, _i| vp.state as u64;
        VCPU_INDEX = fields::vp::VCPU_INDEX.raw(), 1, 1, host(U32, 0), guest(U32, 0), |_td, vp, _i| vp.index.into();
        NUM_TDVPS_PAGES = fields::vp::NUM_TDVPS_PAGES.raw(), 1, 1, host(U8, 0), guest(0, 0), |_td, vp, _i| vp.tdvps_pages.len() as u64;
        ASSOC_LPID = fields::vp::ASSOC_LPID.raw(), 1, 1, host(U32, 0), guest(0, 0),
            |_td, vp, _i| vp.assoc_lp.map_or(u64::from(u32::MAX), u64::from);
        CPUID_SUPERVISOR_VE = fields::vp::CPUID_SUPERVISOR_VE.raw(), 1, 1, host(U8, 0), guest(U8, U8),
            |_td, vp, _i| vp.stored(element_key(0xA020_0000_0000_0007), 0);
        CPUID_USER_VE = fields::vp::CPUID_USER_VE.raw(), 1, 1, host(U8, 0), guest(U8, U8),
            |_td, vp, _i| vp.stored(element_key(0xA020_0000_0000_0008), 0);
        PEND_NMI = fields::vp::PEND_NMI.raw(), 1, 1, host(U8, U8), guest(0, 0),
            |_td, vp, _i| vp.stored(element_key(0x2020_0000_0000_000B), 0);
        XFAM = fields::vp::XFAM.raw(), 1, 1, host(ALL, 0), guest(0, 0), |td, _vp, _i| td.config.xfam;
        TDVPS_PAGE_PA = fields::vp::TDVPS_PAGE_PA.raw(), MAX_TDVPS_PAGES as u32, 1, host(ALL, 0), guest(0, 0),
            |_td, vp, i| vp.tdvps_pages.get(i as usize).copied().unwrap_or(0);
    }
}

/// Where a field ID points in a table: the row and the element within it.
fn lookup<G>(table: &[FieldDef<G>], id: u64) -> Option<(usize, u32)> {
    let id = FieldId::from_raw(id);
    table.iter().enumerate().find_map(|(row, def)| {
        let code = id.field_code();
        (def.class() == id.class_code() && code >= def.code() && code - def.code() < def.count())
            .then(|| (row, code - def.code()))
    })
}

/// The ID of the first element after `position` (or the first of the table) that `who` may
/// read; `FieldId::NA` at the end.
fn next_readable<G>(table: &[FieldDef<G>], position: Option<(usize, u32)>, who: Accessor) -> u64 {
    let (mut row, mut index) = match position {
        Some((row, index)) => (row, index + 1),
        None => (0, 0),
    };
    while let Some(def) = table.get(row) {
        if index < def.count() && def.read_mask(who) != 0 {
            return def.element_id(index);
        }
        row += 1;
        index = 0;
    }
    FieldId::NA.raw()
}

/// A metadata read: the value and the next readable field ID.
pub(super) struct Read {
    pub value: u64,
    pub next: u64,
}

/// The outcome of a read of the null field ID: the first field of the context.
pub(super) fn first_field<G>(table: &[FieldDef<G>], who: Accessor) -> u64 {
    next_readable(table, None, who)
}

/// Reads one element. `context` is forced onto the ID, as each leaf does.
pub(super) fn read<G>(
    table: &[FieldDef<G>],
    id: u64,
    who: Accessor,
    value_of: impl Fn(&G, u32) -> u64,
) -> Result<Read, Status> {
    let field = FieldId::from_raw(id);
    if field.check_single_element().is_err() {
        return Err(StatusCode::MetadataFieldIdIncorrect.status());
    }
    let (row, index) = lookup(table, id).ok_or(StatusCode::MetadataFieldIdIncorrect.status())?;
    let def = &table[row];
    let mask = def.read_mask(who);
    if mask == 0 {
        return Err(StatusCode::MetadataFieldNotReadable.status());
    }
    Ok(Read {
        value: value_of(&def.get, index) & mask,
        next: next_readable(table, Some((row, index)), who),
    })
}

/// Checks a write and computes it: returns (the element's storage key, the new value, the
/// old value as read).
pub(super) fn write<G>(
    table: &[FieldDef<G>],
    id: u64,
    who: Accessor,
    value: u64,
    mask: u64,
    value_of: impl Fn(&G, u32) -> u64,
) -> Result<(u64, u64, u64), Status> {
    let field = FieldId::from_raw(id);
    if field.check_single_element().is_err() {
        return Err(StatusCode::MetadataFieldIdIncorrect.status());
    }
    let (row, index) = lookup(table, id).ok_or(StatusCode::MetadataFieldIdIncorrect.status())?;
    let def = &table[row];
    let writable = def.write_mask(who);
    if writable == 0 {
        return Err(StatusCode::MetadataFieldNotWritable.status());
    }
    if mask & !writable != 0 {
        return Err(StatusCode::MetadataWrMaskNotValid.status());
    }
    let old = value_of(&def.get, index);
    let new = (old & !mask) | (value & mask);
    Ok((
        element_key(def.element_id(index)),
        new,
        old & def.read_mask(who),
    ))
}

/// TDH.SYS.RDALL / list dump: writes a metadata list (header, then one sequence per field
/// row: the sequence header and every element) of at most `capacity` bytes, starting at
/// `start` (the null ID: the first field). Returns the list and the next field ID to dump
/// (`FieldId::NA` when the context is done).
pub(super) fn dump_list<G>(
    table: &[FieldDef<G>],
    start: u64,
    who: Accessor,
    capacity: usize,
    value_of: impl Fn(&G, u32) -> u64,
) -> Result<(Vec<u8>, u64), Status> {
    let mut position = if FieldId::from_raw(start).is_null() {
        let first = first_field(table, who);
        if first == FieldId::NA.raw() {
            return Ok((std::vec![0; 8], first));
        }
        lookup(table, first).expect("first field is in the table")
    } else {
        let found = lookup(table, start).ok_or(StatusCode::MetadataFieldIdIncorrect.status())?;
        if table[found.0].read_mask(who) == 0 {
            return Err(StatusCode::MetadataFieldNotReadable.status());
        }
        found
    };
    let mut list = std::vec![0u8; 8];
    let mut sequences = 0u64;
    loop {
        let (row, index) = position;
        let def = &table[row];
        let elements = def.count() - index;
        let needed = 8 + 8 * elements as usize;
        if list.len() + needed > capacity {
            return Ok((finish_list(list, sequences), def.element_id(index)));
        }
        let header = FieldId::from_raw(def.element_id(index))
            .with_context(context_of(def.id))
            .sequence_header(
                (def.elements - 1) as u8,
                (elements / def.elements).saturating_sub(1) as u16,
            )
            .map_or(def.element_id(index), FieldId::raw);
        list.extend_from_slice(&header.to_le_bytes());
        let mask = def.read_mask(who);
        for element in index..def.count() {
            list.extend_from_slice(&(value_of(&def.get, element) & mask).to_le_bytes());
        }
        sequences += 1;
        let next = next_readable(table, Some((row, def.count() - 1)), who);
        if next == FieldId::NA.raw() {
            return Ok((finish_list(list, sequences), next));
        }
        position = lookup(table, next).expect("next field is in the table");
    }
}

fn finish_list(mut list: Vec<u8>, sequences: u64) -> Vec<u8> {
    let header = list.len() as u64 | sequences << 16;
    list[..8].copy_from_slice(&header.to_le_bytes());
    list
}

fn context_of(id: u64) -> Context {
    FieldId::from_raw(id).context().unwrap_or(Context::Platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_have_unique_non_overlapping_codes_in_their_context() {
        fn check<G>(table: &[FieldDef<G>], context: u8) {
            for (i, a) in table.iter().enumerate() {
                assert_eq!(
                    FieldId::from_raw(a.id).context_code(),
                    context,
                    "{}",
                    a.name
                );
                assert!(FieldId::from_raw(a.id).check_single_element().is_ok());
                for b in &table[i + 1..] {
                    let overlap = a.class() == b.class()
                        && a.code() < b.code() + b.count()
                        && b.code() < a.code() + a.count();
                    assert!(!overlap, "{} overlaps {}", a.name, b.name);
                }
            }
        }
        check(SYS_FIELDS, 0);
        check(TD_FIELDS, 1);
        check(VP_FIELDS, 2);
    }

    #[test]
    fn each_version_s_global_fields_are_a_prefix_of_the_table() {
        use crate::leaf::ModuleVersion;
        let v2018 = sys_fields(ModuleVersion::V2_0_18);
        let v1505 = sys_fields(ModuleVersion::V1_5_05);
        assert_eq!(v2018.len(), SYS_FIELDS.len(), "2.0.18 has every row");
        assert_eq!(v1505.len(), SYS_FIELDS.len() - 1);
        assert!(v1505
            .iter()
            .all(|def| def.name != "PAMT_PAGE_BITMAP_ENTRY_BITS"));
        assert_eq!(
            td_id_for(ModuleVersion::V2_0_18, fields::td::CONFIG_FLAGS.raw()),
            fields::td::CONFIG_FLAGS_V2018.raw()
        );
        assert_eq!(
            td_id_for(ModuleVersion::V1_5_05, fields::td::CONFIG_FLAGS.raw()),
            fields::td::CONFIG_FLAGS.raw()
        );
        assert_eq!(
            td_id_for(ModuleVersion::V2_0_18, FieldId::NA.raw()),
            FieldId::NA.raw()
        );
    }

    #[test]
    fn lookup_and_next_walk_elements_in_order() {
        let mrtd = 0x1310_0003_0000_0000;
        assert_eq!(lookup(TD_FIELDS, mrtd + 5).map(|(_, i)| i), Some(5));
        assert_eq!(lookup(TD_FIELDS, mrtd + 6), None);
        let row = lookup(TD_FIELDS, mrtd).unwrap().0;
        assert_eq!(
            next_readable(TD_FIELDS, Some((row, 4)), Accessor::Host),
            mrtd + 5
        );
        assert_eq!(
            next_readable(TD_FIELDS, Some((row, 5)), Accessor::Host),
            0x1310_0003_0000_0010,
            "MRCONFIGID follows MRTD"
        );
        // RTMR is guest-only: the host's walk skips it; the guest's walk enters it.
        let owner_config = lookup(TD_FIELDS, 0x1310_0003_0000_0020).unwrap().0;
        // (TDCS.CPUID_VALUES is read through module/cpuid.rs and not enumerated here.)
        assert_eq!(
            next_readable(TD_FIELDS, Some((owner_config, 5)), Accessor::Host),
            FieldId::NA.raw()
        );
        assert_eq!(
            next_readable(TD_FIELDS, Some((owner_config, 5)), Accessor::Guest),
            0x1310_0003_0000_0040
        );
        // The last field ends the walk.
        let last = TD_FIELDS.len() - 1;
        assert_eq!(
            next_readable(TD_FIELDS, Some((last, 1)), Accessor::Host),
            FieldId::NA.raw()
        );
    }

    #[test]
    fn reads_check_the_id_and_the_mask() {
        let get = |g: &SysGet, i: u32| {
            let _ = (g, i);
            7
        };
        assert_eq!(
            read(
                SYS_FIELDS,
                0x0800_0001_0000_0003 | 1 << 24,
                Accessor::Host,
                get
            )
            .err(),
            Some(StatusCode::MetadataFieldIdIncorrect.status()),
            "a reserved bit set"
        );
        assert_eq!(
            read(SYS_FIELDS, 0x0800_0001_0000_0077, Accessor::Host, get).err(),
            Some(StatusCode::MetadataFieldIdIncorrect.status()),
            "no such field"
        );
        assert_eq!(
            read(SYS_FIELDS, 0x8800_0002_0000_0001, Accessor::Guest, get).err(),
            Some(StatusCode::MetadataFieldNotReadable.status()),
            "BUILD_DATE is host-only"
        );
        let minor = read(SYS_FIELDS, 0x0800_0001_0000_0003, Accessor::Guest, get).unwrap();
        assert_eq!(minor.value, 7);
        assert_eq!(minor.next, 0x0800_0001_0000_0004);
    }

    #[test]
    fn writes_check_masks() {
        let get = |g: &TdGet, i: u32| {
            let _ = (g, i);
            0xF0
        };
        let hp = 0x9110_0003_0000_0011;
        let (_, new, old) = write(TD_FIELDS, hp, Accessor::Host, 0x0F, 0xFF, get).unwrap();
        assert_eq!((new, old), (0x0F, 0xF0));
        assert_eq!(
            write(TD_FIELDS, 0x1110_0003_0000_0000, Accessor::Host, 1, 1, get).err(),
            Some(StatusCode::MetadataFieldNotWritable.status())
        );
        assert_eq!(
            write(TD_FIELDS, 0x1110_0003_0000_0017, Accessor::Guest, 2, 2, get).err(),
            Some(StatusCode::MetadataWrMaskNotValid.status())
        );
    }
}
