//! Bad input is rejected with `Error::InvalidArgument` before any instruction runs (issue 12,
//! part 4). Each test builds the bad value the way a user can (`from_bits_retain`,
//! `from_raw`, `from_raw_unchecked`, plain integers), calls the public wrapper over a
//! backend that counts calls, and asserts the exact rejection and a count of zero. Each also
//! calls the wrapper once with the nearest good value and sees exactly one call, so a check
//! that rejected everything would fail too.

use std::cell::Cell;
use std::rc::Rc;
use tdxcall::abi::{Context, FieldId, GuestPhysAddr, HostPhysAddr, PageLevel, TdrPage, TdvprPage};
use tdxcall::call::{CallKind, FnBackend};
use tdxcall::error::{InvalidArgument, InvalidReason};
use tdxcall::guest::mem::{L2AttrWriteMask, L2Attributes};
use tdxcall::guest::servtd::{BindingHandle, TdUuid};
use tdxcall::guest::tdvmcall::{MmioSize, VmcallError};
use tdxcall::guest::Guest;
use tdxcall::host::vp::VpEnterFlags;
use tdxcall::host::Host;
use tdxcall::{Error, Regs, Status};

type Counting = FnBackend<Box<dyn FnMut(CallKind, u64, &mut Regs) -> Status>>;

/// Runs `f` over a backend that answers every call with success and all-ones RDX/R8 (no
/// next field, TDMR done), and returns `f`'s result and the number of calls made.
fn counted<W, R>(new: fn(Counting) -> W, f: impl FnOnce(&mut W) -> R) -> (R, usize) {
    let calls = Rc::new(Cell::new(0usize));
    let seen = Rc::clone(&calls);
    let answer = move |_: CallKind, _: u64, regs: &mut Regs| {
        seen.set(seen.get() + 1);
        regs.rdx = u64::MAX;
        regs.r8 = u64::MAX;
        Status::SUCCESS
    };
    let mut wrapper = new(FnBackend(Box::new(answer)));
    let result = f(&mut wrapper);
    (result, calls.get())
}

fn host<R>(f: impl FnOnce(&mut Host<Counting>) -> R) -> (R, usize) {
    counted(Host::new, f)
}

fn guest<R>(f: impl FnOnce(&mut Guest<Counting>) -> R) -> (R, usize) {
    counted(Guest::new, f)
}

/// The rejection of a call that must not reach the instruction.
fn rejected<T: core::fmt::Debug, E: Into<Error>>(
    (result, calls): (core::result::Result<T, E>, usize),
) -> InvalidArgument {
    assert_eq!(calls, 0, "an instruction ran for a rejected argument");
    match result.map_err(Into::into) {
        Err(Error::InvalidArgument(invalid)) => invalid,
        other => panic!("expected Error::InvalidArgument, got {other:?}"),
    }
}

/// As [`rejected`], for the TDVMCALL wrappers' error type.
fn vmcall_rejected<T: core::fmt::Debug>(
    (result, calls): (core::result::Result<T, VmcallError>, usize),
) -> InvalidArgument {
    assert_eq!(calls, 0, "an instruction ran for a rejected argument");
    match result {
        Err(VmcallError::Call(Error::InvalidArgument(invalid))) => invalid,
        other => panic!("expected an argument rejection, got {other:?}"),
    }
}

/// The good value went through: exactly one call and no rejection.
fn issued_once<T: core::fmt::Debug, E: core::fmt::Debug>(
    (result, calls): (core::result::Result<T, E>, usize),
) {
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(calls, 1);
}

fn invalid(argument: &'static str, reason: InvalidReason) -> InvalidArgument {
    InvalidArgument { argument, reason }
}

const GIB: u64 = 1 << 30;
/// TD GPAW: 1-byte elements.
const GPAW: FieldId = FieldId::from_raw(0x1110_0000_0000_0003);

fn tdr() -> TdrPage {
    TdrPage::from_raw(0x7000).unwrap()
}

fn tdvpr() -> TdvprPage {
    TdvprPage::from_raw(0x8000).unwrap()
}

#[test]
fn vp_enter_rejects_flag_bits_other_than_52_and_53() {
    for bit in [12, 51, 54, 63] {
        let flags = VpEnterFlags::from_bits_retain(1 << bit);
        let mut regs = Regs::ZERO;
        // SAFETY: the counting backend executes nothing.
        let call = host(|h| unsafe { h.vp_enter(tdvpr(), flags, &mut regs) });
        assert_eq!(
            rejected(call),
            invalid(
                "TDH.VP.ENTER flags",
                InvalidReason::ReservedBitsSet {
                    value: 1 << bit,
                    bits: 1 << bit
                }
            )
        );
        assert_eq!(regs, Regs::ZERO, "RCX was built for a rejected call");
    }
    let mut regs = Regs::ZERO;
    // SAFETY: the counting backend executes nothing.
    issued_once(host(|h| unsafe {
        h.vp_enter(tdvpr(), VpEnterFlags::all(), &mut regs)
    }));
}

#[test]
fn wbinvd_tdr_rejects_an_hkid_that_would_not_reach_rcx() {
    assert_eq!(
        rejected(host(|h| h.phymem_page_wbinvd_tdr(tdr(), 64, 1))),
        invalid(
            "HKID shift",
            InvalidReason::OutOfRange {
                value: 64,
                min: 12,
                max: 51
            }
        )
    );
    // 0x80 << 46 is bit 53: above the 52 address bits.
    assert_eq!(
        rejected(host(|h| h.phymem_page_wbinvd_tdr(tdr(), 46, 0x80))),
        invalid(
            "global HKID",
            InvalidReason::OutOfRange {
                value: 0x80,
                min: 0,
                max: 0x3F
            }
        )
    );
    // The TDR address would share bits with the HKID.
    let high_tdr = TdrPage::from_raw(1 << 40).unwrap();
    assert_eq!(
        rejected(host(|h| h.phymem_page_wbinvd_tdr(high_tdr, 40, 1))),
        invalid(
            "TDR below the HKID bits",
            InvalidReason::TooWide {
                value: 1 << 40,
                max_bits: 40
            }
        )
    );
    issued_once(host(|h| h.phymem_page_wbinvd_tdr(tdr(), 46, 0x3F)));
}

#[test]
fn attr_wr_rejects_vm0_and_reserved_attribute_bits() {
    let gpa = GuestPhysAddr::page(0x1000).unwrap();
    let mask = L2AttrWriteMask::new([0xFF, 0, 0]).unwrap();
    for raw in [0x8001, 1 << 15, 0x0100 << 16 | 0x8000 << 16] {
        let attributes = L2Attributes::from_raw(raw);
        // SAFETY: the counting backend executes nothing.
        let call =
            guest(|g| unsafe { g.mem_page_attr_wr(gpa, PageLevel::Size4K, attributes, mask) });
        assert_eq!(
            rejected(call),
            invalid(
                "L2 attributes",
                InvalidReason::ReservedBitsSet {
                    value: raw,
                    bits: raw & 0x7F00_7F00_7F00_FFFF
                }
            )
        );
    }
    let good = L2Attributes::from_raw(0x8001 << 16);
    // SAFETY: the counting backend executes nothing.
    issued_once(guest(|g| unsafe {
        g.mem_page_attr_wr(gpa, PageLevel::Size4K, good, mask)
    }));
}

#[test]
fn metadata_writes_reject_a_mask_wider_than_the_element() {
    let too_wide = invalid(
        "write mask",
        InvalidReason::TooWide {
            value: 0x1FF,
            max_bits: 8,
        },
    );
    assert_eq!(
        rejected(host(|h| h.mng_wr(tdr(), GPAW, 0, 0x1FF))),
        too_wide
    );
    issued_once(host(|h| h.mng_wr(tdr(), GPAW, 0, 0xFF)));
    let vcpu_field = GPAW.with_context(Context::Vcpu);
    assert_eq!(
        rejected(host(|h| h.vp_wr(tdvpr(), vcpu_field, 0, 0x1FF))),
        too_wide
    );
    issued_once(host(|h| h.vp_wr(tdvpr(), vcpu_field, 0, 0xFF)));
    // SAFETY (the guest writes below): the counting backend executes nothing.
    assert_eq!(
        rejected(guest(|g| unsafe { g.vm_wr(GPAW, 0, 0x1FF) })),
        too_wide
    );
    issued_once(guest(|g| unsafe { g.vm_wr(GPAW, 0, 0xFF) }));
    assert_eq!(
        rejected(guest(|g| unsafe { g.vp_wr(vcpu_field, 0, 0x1FF) })),
        too_wide
    );
    issued_once(guest(|g| unsafe { g.vp_wr(vcpu_field, 0, 0xFF) }));
    let handle = BindingHandle(1);
    let uuid = TdUuid::default();
    assert_eq!(
        rejected(guest(|g| unsafe {
            g.servtd_wr(handle, GPAW, 0, 0x1FF, uuid)
        })),
        too_wide
    );
    issued_once(guest(|g| unsafe {
        g.servtd_wr(handle, GPAW, 0, 0xFF, uuid)
    }));
}

#[test]
fn reads_reject_the_all_ones_field_id() {
    let na = invalid(
        "field ID",
        InvalidReason::MalformedFieldId { value: u64::MAX },
    );
    assert_eq!(rejected(host(|h| h.sys_rd(FieldId::NA))), na);
    assert_eq!(rejected(host(|h| h.mng_rd_next(tdr(), FieldId::NA))), na);
    assert_eq!(rejected(host(|h| h.vp_rd_next(tdvpr(), FieldId::NA))), na);
    assert_eq!(rejected(host(|h| h.mng_rd(tdr(), FieldId::NA))), na);
    let page = HostPhysAddr::page(0x9000).unwrap();
    // SAFETY: the counting backend executes nothing.
    assert_eq!(
        rejected(host(|h| unsafe { h.sys_rdall(page, FieldId::NA) })),
        na
    );
    assert_eq!(rejected(guest(|g| g.sys_rd(FieldId::NA))), na);
    assert_eq!(rejected(guest(|g| g.vm_rd_next(FieldId::NA))), na);
    assert_eq!(rejected(guest(|g| g.vp_rd(FieldId::NA))), na);
    let uuid = TdUuid::default();
    assert_eq!(
        rejected(guest(|g| g.servtd_rd(BindingHandle(1), FieldId::NA, uuid))),
        na
    );
    // The null ID of a defined context still asks for the first field.
    issued_once(host(|h| h.sys_rd(FieldId::null(Context::Platform))));
    issued_once(host(|h| h.mng_rd_next(tdr(), FieldId::null(Context::Td))));
    issued_once(guest(|g| g.sys_rd(FieldId::null(Context::Platform))));
}

#[test]
fn tdmr_init_rejects_a_zero_or_wrapping_size() {
    let base = HostPhysAddr::new(4 * GIB).unwrap();
    assert_eq!(
        rejected(host(|h| h.sys_tdmr_init(base, 0))),
        invalid(
            "TDMR size",
            InvalidReason::OutOfRange {
                value: 0,
                min: GIB,
                max: (1 << 52) - 4 * GIB
            }
        )
    );
    let top = HostPhysAddr::new((1 << 52) - GIB).unwrap();
    assert_eq!(
        rejected(host(|h| h.sys_tdmr_init(top, 2 * GIB))),
        invalid(
            "TDMR size",
            InvalidReason::OutOfRange {
                value: 2 * GIB,
                min: GIB,
                max: GIB
            }
        )
    );
    issued_once(host(|h| h.sys_tdmr_init(top, GIB)));
}

#[test]
fn mmio_rejects_accesses_that_are_not_naturally_aligned() {
    let page = 1 << 47 | 0xFED0_0000;
    for (size, bytes) in [(MmioSize::B2, 2), (MmioSize::B4, 4), (MmioSize::B8, 8)] {
        for offset in [0xFFF, bytes / 2 + 0x10] {
            let gpa = GuestPhysAddr::new(page + offset).unwrap();
            let expected = invalid(
                "MMIO GPA",
                InvalidReason::Misaligned {
                    value: page + offset,
                    required: bytes,
                },
            );
            assert_eq!(
                vmcall_rejected(guest(|g| g.tdvmcall_mmio_read(gpa, size))),
                expected
            );
            assert_eq!(
                vmcall_rejected(guest(|g| g.tdvmcall_mmio_write(gpa, size, 0))),
                expected
            );
        }
        let aligned = GuestPhysAddr::new(page + 0x1000 - bytes).unwrap();
        issued_once(guest(|g| g.tdvmcall_mmio_read(aligned, size)));
        issued_once(guest(|g| g.tdvmcall_mmio_write(aligned, size, 0)));
    }
    let odd = GuestPhysAddr::new(page + 0xFFF).unwrap();
    issued_once(guest(|g| g.tdvmcall_mmio_write(odd, MmioSize::B1, 0)));
}

#[test]
fn get_quote_rejects_a_buffer_past_the_address_width() {
    let buffer = GuestPhysAddr::page((1 << 52) - 0x1000).unwrap();
    // SAFETY (both calls): the counting backend executes nothing.
    assert_eq!(
        vmcall_rejected(guest(|g| unsafe { g.tdvmcall_get_quote(buffer, 0x2000) })),
        invalid(
            "GetQuote size",
            InvalidReason::OutOfRange {
                value: 0x2000,
                min: 0x1000,
                max: 0x1000
            }
        )
    );
    issued_once(guest(|g| unsafe { g.tdvmcall_get_quote(buffer, 0x1000) }));
}

/// `GuestPhysAddr::from_raw_unchecked` (meant for values from the module) can hold bits
/// above 51; the leaves that take a GPA check the width again.
#[test]
fn unchecked_gpas_wider_than_52_bits_are_rejected() {
    let wide = GuestPhysAddr::from_raw_unchecked(1 << 52);
    let too_wide = |argument| {
        invalid(
            argument,
            InvalidReason::TooWide {
                value: 1 << 52,
                max_bits: 52,
            },
        )
    };
    let page = HostPhysAddr::page(0x5000).unwrap();
    // SAFETY (the unsafe wrappers below): the counting backend executes nothing.
    assert_eq!(
        rejected(host(|h| unsafe {
            h.mem_page_aug(wide, PageLevel::Size4K, tdr(), page)
        })),
        too_wide("page_info GPA")
    );
    assert_eq!(
        rejected(host(|h| h.mem_range_block(wide, PageLevel::Size4K, tdr()))),
        too_wide("page_info GPA")
    );
    // SAFETY: as above.
    assert_eq!(
        rejected(guest(|g| unsafe {
            g.mem_page_accept(wide, PageLevel::Size4K)
        })),
        too_wide("page_info GPA")
    );
    assert_eq!(rejected(host(|h| h.mem_rd(wide, tdr()))), too_wide("GPA"));
    assert_eq!(
        rejected(host(|h| h.mem_wr(wide, tdr(), 0))),
        too_wide("GPA")
    );
    assert_eq!(
        rejected(host(|h| h.mr_extend(wide, tdr()))),
        too_wide("GPA")
    );
    let top = GuestPhysAddr::page((1 << 52) - 0x1000).unwrap();
    issued_once(host(|h| h.mem_rd(top, tdr())));
    issued_once(host(|h| h.mr_extend(top, tdr())));
}

#[test]
fn servtd_bind_rejects_a_td_bound_to_itself() {
    use tdxcall::abi::mig::ServtdAttr;
    use tdxcall::host::servtd::ServtdSlot;
    let slot = ServtdSlot {
        slot: 0,
        servtd_type: 0,
    };
    let attr = ServtdAttr::new(0).unwrap();
    let expected = invalid(
        "service TD TDR",
        InvalidReason::NotDistinct {
            value: 0x7000,
            other: "target TD TDR",
        },
    );
    assert_eq!(
        rejected(host(|h| h.servtd_bind(tdr(), tdr(), slot, attr))),
        expected
    );
    assert_eq!(
        Error::from(expected).to_string(),
        "invalid service TD TDR: 0x7000 is also the target TD TDR; the two must differ"
    );
    let other = TdrPage::from_raw(0x9000).unwrap();
    issued_once(host(|h| h.servtd_bind(tdr(), other, slot, attr)));
}

#[test]
fn attr_rd_rejects_an_unchecked_gpa_wider_than_52_bits() {
    let wide = GuestPhysAddr::from_raw_unchecked(1 << 52 | 0x1000);
    assert_eq!(
        rejected(guest(|g| g.mem_page_attr_rd(wide))),
        invalid(
            "GPA",
            InvalidReason::TooWide {
                value: 1 << 52 | 0x1000,
                max_bits: 52
            }
        )
    );
    let top = GuestPhysAddr::page((1 << 52) - 0x1000).unwrap();
    issued_once(guest(|g| g.mem_page_attr_rd(top)));
}
