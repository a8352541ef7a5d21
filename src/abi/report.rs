//! Attestation structures: TDREPORT_STRUCT, REPORTMACSTRUCT, TEE_TCB_INFO, TDINFO_STRUCT,
//! REPORTDATA and the RTMR extension operand.
//!
//! Layouts follow the TDX module 1.5.01 source (`include/tdx_api_defs.h`); every size and
//! field offset is checked at compile time below. Alignments are the ones the leaves
//! require of their operands (TDG.MR.REPORT: TDREPORT_STRUCT 1024, REPORTDATA 64;
//! TDG.MR.VERIFYREPORT: REPORTMACSTRUCT 256; TDG.MR.RTMR.EXTEND: 64), so a value of these
//! types is always suitably aligned in memory (alignment within a 4 KiB page carries over
//! from the linear to the guest-physical address).

use core::mem::{align_of, offset_of, size_of};

/// A SHA-384 measurement, 48 bytes.
pub type Measurement = [u8; 48];

/// `TEE_TYPE` of a TDX report.
pub const REPORT_TYPE_TDX: u8 = 0x81;

/// REPORTTYPE: the TEE type, subtype and version of a report (4 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ReportType {
    /// TEE type: 0x00 SGX, 0x81 TDX.
    pub tee_type: u8,
    /// Type-specific subtype (0 for TDX).
    pub subtype: u8,
    /// Type-specific version: for TDX, 0 without service-TD hash, 1 with.
    pub version: u8,
    /// Reserved, zero.
    pub reserved: u8,
}

/// REPORTMACSTRUCT (256 bytes): the MACed part of a report, common to SGX and TDX.
#[repr(C, align(256))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReportMacStruct {
    /// Offset 0: the report type.
    pub report_type: ReportType,
    /// Offset 4: reserved, zero.
    pub reserved0: [u8; 12],
    /// Offset 16: CPU security version number.
    pub cpu_svn: [u8; 16],
    /// Offset 32: SHA-384 of TEE_TCB_INFO.
    pub tee_tcb_info_hash: Measurement,
    /// Offset 80: SHA-384 of the TEE-specific info (TDINFO_STRUCT for TDX).
    pub tee_info_hash: Measurement,
    /// Offset 128: the caller's REPORTDATA.
    pub report_data: [u8; 64],
    /// Offset 192: reserved, zero.
    pub reserved1: [u8; 32],
    /// Offset 224: the MAC over this structure.
    pub mac: [u8; 32],
}

/// TEE_TCB_INFO (256 bytes): the SEAM module's measurements and SVNs.
///
/// Layout of module 1.5.01. Later ABI revisions place a second SVN array (`TEE_TCB_SVN2`)
/// in the first 16 bytes of `reserved` (offset 112 of this structure); that placement is
/// **UNVERIFIED** against module source.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TeeTcbInfo {
    /// Offset 0: bit *i* set means the field at byte offset 8·*i* is valid.
    pub valid: u64,
    /// Offset 8: TEE TCB security version numbers.
    pub tee_tcb_svn: [u8; 16],
    /// Offset 24: measurement of the SEAM module.
    pub mr_seam: Measurement,
    /// Offset 72: measurement of the SEAM module's signer (non-Intel modules).
    pub mr_signer_seam: Measurement,
    /// Offset 120: SEAM attributes (non-Intel modules).
    pub attributes: u64,
    /// Offset 128: reserved.
    pub reserved: [u8; 128],
}

/// TDINFO_STRUCT (512 bytes): the TD's measurements and configuration.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TdInfo {
    /// Offset 0: the TD's ATTRIBUTES.
    pub attributes: u64,
    /// Offset 8: the TD's XFAM.
    pub xfam: u64,
    /// Offset 16: MRTD, the build-time measurement.
    pub mr_td: Measurement,
    /// Offset 64: MRCONFIGID.
    pub mr_config_id: Measurement,
    /// Offset 112: MROWNER.
    pub mr_owner: Measurement,
    /// Offset 160: MROWNERCONFIG.
    pub mr_owner_config: Measurement,
    /// Offset 208: RTMR0-3.
    pub rtmr: [Measurement; 4],
    /// Offset 400: SERVTD_HASH, the hash of the bound service TDs' info.
    pub servtd_hash: Measurement,
    /// Offset 448: reserved.
    pub reserved: [u8; 64],
}

/// TDREPORT_STRUCT (1024 bytes, 1024-aligned): the output of TDG.MR.REPORT.
#[repr(C, align(1024))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TdReport {
    /// Offset 0: the MACed part.
    pub report_mac: ReportMacStruct,
    /// Offset 256: the SEAM module's TCB info.
    pub tee_tcb_info: TeeTcbInfo,
    /// Offset 512: the TD's info.
    pub td_info: TdInfo,
}

/// REPORTDATA (64 bytes, 64-aligned): caller data bound into a report.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReportData(pub [u8; 64]);

/// The 48-byte value TDG.MR.RTMR.EXTEND extends into an RTMR, in a 64-aligned slot.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RtmrExtendData(pub Measurement);

macro_rules! zeroed_ctor {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// The all-zero value.
            pub const fn zeroed() -> $ty {
                // SAFETY: the type is plain integers and byte arrays (with padding only at
                // the end), for which all-zero bytes are a valid value.
                unsafe { core::mem::zeroed() }
            }
        }
    )*};
}
zeroed_ctor!(
    ReportMacStruct,
    TeeTcbInfo,
    TdInfo,
    TdReport,
    ReportData,
    RtmrExtendData
);

const _: () = {
    assert!(size_of::<ReportType>() == 4);
    assert!(size_of::<ReportMacStruct>() == 256);
    assert!(align_of::<ReportMacStruct>() == 256);
    assert!(offset_of!(ReportMacStruct, reserved0) == 4);
    assert!(offset_of!(ReportMacStruct, cpu_svn) == 16);
    assert!(offset_of!(ReportMacStruct, tee_tcb_info_hash) == 32);
    assert!(offset_of!(ReportMacStruct, tee_info_hash) == 80);
    assert!(offset_of!(ReportMacStruct, report_data) == 128);
    assert!(offset_of!(ReportMacStruct, reserved1) == 192);
    assert!(offset_of!(ReportMacStruct, mac) == 224);

    assert!(size_of::<TeeTcbInfo>() == 256);
    assert!(offset_of!(TeeTcbInfo, tee_tcb_svn) == 8);
    assert!(offset_of!(TeeTcbInfo, mr_seam) == 24);
    assert!(offset_of!(TeeTcbInfo, mr_signer_seam) == 72);
    assert!(offset_of!(TeeTcbInfo, attributes) == 120);
    assert!(offset_of!(TeeTcbInfo, reserved) == 128);

    assert!(size_of::<TdInfo>() == 512);
    assert!(offset_of!(TdInfo, xfam) == 8);
    assert!(offset_of!(TdInfo, mr_td) == 16);
    assert!(offset_of!(TdInfo, mr_config_id) == 64);
    assert!(offset_of!(TdInfo, mr_owner) == 112);
    assert!(offset_of!(TdInfo, mr_owner_config) == 160);
    assert!(offset_of!(TdInfo, rtmr) == 208);
    assert!(offset_of!(TdInfo, servtd_hash) == 400);
    assert!(offset_of!(TdInfo, reserved) == 448);

    assert!(size_of::<TdReport>() == 1024);
    assert!(align_of::<TdReport>() == 1024);
    assert!(offset_of!(TdReport, tee_tcb_info) == 256);
    assert!(offset_of!(TdReport, td_info) == 512);

    assert!(size_of::<ReportData>() == 64 && align_of::<ReportData>() == 64);
    assert!(size_of::<RtmrExtendData>() == 64 && align_of::<RtmrExtendData>() == 64);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_fields_land_at_their_byte_offsets() {
        let mut report = TdReport::zeroed();
        report.report_mac.report_type.tee_type = REPORT_TYPE_TDX;
        report.report_mac.report_data[0] = 0xAB;
        report.td_info.rtmr[3][47] = 0xCD;
        report.td_info.xfam = 0x0102_0304_0506_0708;
        // SAFETY: TdReport is 1024 bytes of plain data with no padding.
        let bytes: &[u8; 1024] = unsafe { &*(&report as *const TdReport).cast() };
        assert_eq!(bytes[0], 0x81);
        assert_eq!(bytes[128], 0xAB);
        assert_eq!(bytes[512 + 208 + 3 * 48 + 47], 0xCD);
        assert_eq!(bytes[512 + 8], 0x08);
        assert_eq!(bytes[512 + 15], 0x01);
    }
}
