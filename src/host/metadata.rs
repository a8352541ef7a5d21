//! Metadata access of the host wrappers (TDH.MNG.RD/WR, TDH.VP.RD/WR, TDH.SYS.RD/RDALL):
//! the read result and the metadata list format are the ABI's, shared with the guest, in
//! [`crate::abi::metadata`]; field-ID validity is [`FieldId`](crate::abi::FieldId)'s.

pub use crate::abi::metadata::{MetadataElements, MetadataList, MetadataRead};

#[cfg(test)]
mod wrapper_tests {
    use super::*;
    use crate::abi::field_id::{Context, FieldId};
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
                status: Status::SUCCESS
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
                status: Status::from_raw(0x0000_0C0B_0000_0000)
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
