//! Small API guarantees of issue 16: `?` across TDCALL and TDVMCALL wrappers, `const`
//! address constructors, typed TDMR_INFO addresses.

use tdxcall::abi::sysinfo::TdmrInfo;
use tdxcall::abi::{GuestPhysAddr, HostPhysAddr};
use tdxcall::error::InvalidReason;
use tdxcall::guest::tdvmcall::VmcallError;
use tdxcall::status::{TdvmcallCode, TdvmcallStatus};
use tdxcall::{Error, Status};

const MAILBOX: GuestPhysAddr = GuestPhysAddr::new_const(1 << 47 | 0xFEB0_0000);
const PAGE: Result<HostPhysAddr, Error> = HostPhysAddr::page(0x1000);

#[test]
fn address_constructors_work_in_constants() {
    assert_eq!(MAILBOX.raw(), 1 << 47 | 0xFEB0_0000);
    assert_eq!(PAGE.map(HostPhysAddr::raw), Ok(0x1000));
    const MISALIGNED: Result<HostPhysAddr, Error> = HostPhysAddr::page(0x1001);
    assert!(matches!(
        MISALIGNED,
        Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::Misaligned { .. })
    ));
}

#[test]
#[should_panic(expected = "above bit 51")]
fn new_const_panics_on_a_wide_address() {
    let raw = std::hint::black_box(1u64 << 52);
    let _ = GuestPhysAddr::new_const(raw);
}

fn through_question_mark(error: VmcallError) -> Result<(), Error> {
    Err(error)?;
    Ok(())
}

#[test]
fn vmcall_errors_convert_into_the_crate_error() {
    let status = Status::from_raw(0x8000_FF01_0000_0006);
    assert_eq!(
        through_question_mark(VmcallError::Call(Error::Status(status))),
        Err(Error::Status(status))
    );
    let refused = TdvmcallCode::InvalidOperand.status();
    assert_eq!(
        through_question_mark(VmcallError::Vmm(refused)),
        Err(Error::Tdvmcall(refused))
    );
    // RETRY where the sub-function does not define it keeps every bit too.
    assert_eq!(
        through_question_mark(VmcallError::Vmm(TdvmcallStatus::RETRY)),
        Err(Error::Tdvmcall(TdvmcallStatus::RETRY))
    );
    for (error, value) in [
        (
            VmcallError::MapGpaResumeOutOfRange { resume: 0x5000 },
            0x5000,
        ),
        (VmcallError::MapGpaNoProgress { resume: 0x6000 }, 0x6000),
    ] {
        match through_question_mark(error) {
            Err(Error::VmmProtocol {
                value: v,
                violation,
            }) => {
                assert_eq!(v, value);
                assert!(violation.contains("MapGPA"));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn tdmr_info_addresses_are_typed_and_default_to_zero() {
    let tdmr = TdmrInfo::default();
    let base: HostPhysAddr = tdmr.tdmr_base;
    assert_eq!(base.raw(), 0);
    assert_eq!(tdmr.pamt_4k_base.raw(), 0);
    assert_eq!(tdmr.tdmr_size, 0);
}
