//! Service-TD access to bound target TDs: TDG.SERVTD.RD and TDG.SERVTD.WR, and the raw
//! TDG.SERVTD.REBIND.APPROVE.

use super::{DetailedError, Guest};
use crate::abi::{FieldId, MetadataRead};
use crate::call::Backend;
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::StatusCode;

/// The binding handle of a target TD, as the host gave it at TDH.SERVTD.BIND (RCX). Opaque
/// to the guest.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BindingHandle(pub u64);

/// A TD's 256-bit UUID, as four 64-bit words in R10 to R13.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TdUuid(pub [u64; 4]);

impl TdUuid {
    fn load(self, regs: &mut Regs) {
        [regs.r10, regs.r11, regs.r12, regs.r13] = self.0;
    }

    fn store(regs: &Regs) -> TdUuid {
        TdUuid([regs.r10, regs.r11, regs.r12, regs.r13])
    }
}

/// What the failure path of TDG.SERVTD.RD/WR carries: R10-R13.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServtdFailure {
    /// The target TD's current UUID when the status is `TDX_TARGET_UUID_UPDATED` (the TD
    /// was migrated or re-created; retry with this UUID); else the UUID passed in.
    pub uuid: TdUuid,
    /// The status was `TDX_TARGET_UUID_UPDATED`.
    pub uuid_updated: bool,
}

type ServtdResult<T> = core::result::Result<T, DetailedError<ServtdFailure>>;

impl<B: Backend> Guest<B> {
    fn servtd_failure(status: crate::Status, regs: &Regs) -> DetailedError<ServtdFailure> {
        DetailedError::with_details(
            status,
            ServtdFailure {
                uuid: TdUuid::store(regs),
                uuid_updated: status.is(StatusCode::TargetUuidUpdated),
            },
        )
    }

    /// Reads a metadata field of the target TD bound through `handle`, whose UUID the
    /// caller believes is `uuid`.
    ///
    /// Leaf 18. Inputs: RCX binding handle, RDX field ID (null ID allowed), R10-R13 target
    /// UUID. Outputs: R8 value, RDX next field ID; on `TDX_TARGET_UUID_UPDATED`, R10-R13
    /// the target's current UUID. Since module 1.5.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a malformed field ID; [`Error::Status`](crate::Error::Status)
    /// with [`ServtdFailure`] details.
    #[inline]
    #[doc(alias = "TDG.SERVTD.RD")]
    pub fn servtd_rd(
        &mut self,
        handle: BindingHandle,
        field: FieldId,
        uuid: TdUuid,
    ) -> ServtdResult<MetadataRead> {
        let mut regs = Regs {
            rcx: handle.0,
            rdx: field.check_read()?.raw(),
            ..Regs::ZERO
        };
        uuid.load(&mut regs);
        // SAFETY: a metadata read only writes registers.
        let status = unsafe { self.call(Leaf::TdgServtdRd, 0, &mut regs) };
        if status.is_error() {
            return Err(Self::servtd_failure(status, &regs));
        }
        Ok(MetadataRead::from_regs(status, regs.r8, regs.rdx))
    }

    /// Writes a metadata field of the target TD bound through `handle`, under a mask;
    /// returns the old value.
    ///
    /// Leaf 20. Inputs: RCX binding handle, RDX field ID, R8 value, R9 write mask, R10-R13
    /// target UUID. Outputs: R8 old value; R10-R13 as for [`Guest::servtd_rd`]. Since
    /// module 1.5.
    ///
    /// # Errors
    ///
    /// As [`Guest::servtd_rd`], and [`Error::InvalidArgument`](crate::Error::InvalidArgument)
    /// for a write mask wider than the field ID's element size
    /// ([`FieldId::check_write_mask`](crate::abi::FieldId::check_write_mask)).
    ///
    /// # Safety
    ///
    /// Writable target fields include controls over the target TD's execution and memory
    /// (for a migration TD, its migration state). The caller ensures the write is one the
    /// binding's protocol allows and that nothing this program relies on breaks.
    #[inline]
    #[doc(alias = "TDG.SERVTD.WR")]
    pub unsafe fn servtd_wr(
        &mut self,
        handle: BindingHandle,
        field: FieldId,
        value: u64,
        mask: u64,
        uuid: TdUuid,
    ) -> ServtdResult<u64> {
        let mut regs = Regs {
            rcx: handle.0,
            rdx: field.check_single_element()?.raw(),
            r8: value,
            r9: field.check_write_mask(mask)?,
            ..Regs::ZERO
        };
        uuid.load(&mut regs);
        // SAFETY: the caller vouches for the field write.
        let status = unsafe { self.call(Leaf::TdgServtdWr, 0, &mut regs) };
        if status.is_error() {
            return Err(Self::servtd_failure(status, &regs));
        }
        Ok(regs.r8)
    }

    /// TDG.SERVTD.REBIND.APPROVE (leaf 33): the service TD bound to a target TD approves
    /// rebinding that target to a new service TD (the host then issues TDH.SERVTD.REBIND).
    ///
    /// **Dispatched by no module read.** The leaf number is in the 1.5.32 and 2.0.18 leaf
    /// enums (`include/tdx_api_defs.h`) and 2.0.18 has a handler file for it, but no TDCALL
    /// dispatcher read (1.5.32, 2.0.08, 2.0.18) has a case for it: those modules answer
    /// TDX_OPERAND_INVALID(RAX). Its registers are **UNVERIFIED**: a service TD (MigTD)
    /// passes the old binding handle, a 32-byte rebind session token and the target TD's
    /// UUID and gets the UUID back, but in which registers was not read. So the wrapper is
    /// raw: RAX = leaf 33, version 0, every other register from `regs`, and `regs` holds
    /// what the module left. A guest that knows its module
    /// ([`Guest::learn_module`](crate::guest::Guest::learn_module)) refuses it for every read
    /// version (the leaf table has it in none), with nothing run.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) from a version-aware guest
    /// (nothing runs); [`Error::Status`](crate::Error::Status), e.g.
    /// TDX_OPERAND_INVALID(RAX) from every module read.
    ///
    /// # Safety
    ///
    /// What the module does with the registers (and any memory they name) is not known: the
    /// caller must know the module's ABI for this leaf and uphold it.
    #[inline]
    #[doc(alias = "TDG.SERVTD.REBIND.APPROVE")]
    pub unsafe fn servtd_rebind_approve(
        &mut self,
        regs: &mut Regs,
    ) -> crate::error::Result<crate::status::Status> {
        // SAFETY: the caller upholds the module's contract for this leaf.
        crate::status::Status::check(unsafe { self.call(Leaf::TdgServtdRebindApprove, 0, regs) })
    }
}

#[cfg(test)]
mod tests {
    // Every unsafe block in these tests calls a wrapper over the recording backend of
    // `guest::testing`: no instruction executes, no memory is touched.
    #![allow(clippy::undocumented_unsafe_blocks)]

    use super::*;
    use crate::error::Error;
    use crate::guest::testing::*;
    use crate::status::Status;

    const FIELD: u64 = 0x9010_0002_0000_0004;
    const UUID: TdUuid = TdUuid([1, 2, 3, 4]);

    #[test]
    fn servtd_rd_encoding() {
        let out = |r: &mut Regs| {
            r.r8 = 0x77;
            r.rdx = FIELD + 1;
        };
        let (r, log) = run(&[(0, &out)], |g| {
            g.servtd_rd(BindingHandle(0xAB), id(FIELD), UUID)
        });
        assert_eq!(log.only().rax, 18);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 0xAB,
                rdx: FIELD,
                r10: 1,
                r11: 2,
                r12: 3,
                r13: 4,
                ..Regs::ZERO
            }
        );
        assert_eq!(
            r,
            Ok(MetadataRead {
                value: 0x77,
                next: Some(id(FIELD + 1)),
                status: Status::SUCCESS
            })
        );

        let updated = |r: &mut Regs| [r.r10, r.r11, r.r12, r.r13] = [9, 8, 7, 6];
        let st = 0xC000_0D08_0000_0000;
        let (r, _) = run(&[(st, &updated)], |g| {
            g.servtd_rd(BindingHandle(0xAB), id(FIELD), UUID)
        });
        let err = r.unwrap_err();
        assert_eq!(
            err,
            DetailedError::with_details(
                Status::from_raw(st),
                ServtdFailure {
                    uuid: TdUuid([9, 8, 7, 6]),
                    uuid_updated: true
                }
            )
        );
        assert_eq!(Error::from(err), Error::Status(Status::from_raw(st)));
        let (r, _) = run(&[(0xC000_0D05_0000_0000, &nothing)], |g| {
            g.servtd_rd(BindingHandle(1), id(FIELD), UUID)
        });
        assert_eq!(
            r.unwrap_err().status(),
            Some(Status::from_raw(0xC000_0D05_0000_0000))
        );
        let (r, log) = run(&[], |g| {
            g.servtd_rd(BindingHandle(1), id(FIELD | 1 << 55), UUID)
        });
        assert!(matches!(
            r,
            Err(DetailedError {
                error: Error::InvalidArgument(_),
                ..
            })
        ));
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn servtd_wr_encoding() {
        let out = |r: &mut Regs| {
            poison(r);
            r.r8 = 0x10;
        };
        let (r, log) = run(&[(0, &out)], |g| unsafe {
            g.servtd_wr(BindingHandle(5), id(FIELD), 0x20, 0xF0, UUID)
        });
        assert_eq!(r, Ok(0x10));
        assert_eq!(log.only().rax, 20);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 5,
                rdx: FIELD,
                r8: 0x20,
                r9: 0xF0,
                r10: 1,
                r11: 2,
                r12: 3,
                r13: 4,
                ..Regs::ZERO
            }
        );
        let (r, _) = run(&[(0xC000_0D07_0000_0000, &nothing)], |g| unsafe {
            g.servtd_wr(BindingHandle(5), id(FIELD), 0, 0, UUID)
        });
        let Err(DetailedError {
            details: Some(details),
            ..
        }) = r
        else {
            panic!()
        };
        assert_eq!(
            details,
            ServtdFailure {
                uuid: UUID,
                uuid_updated: false
            }
        );
    }

    #[test]
    fn servtd_rebind_approve_sends_the_registers_as_given() {
        let input = Regs {
            rcx: 0xAB,
            rdx: 0x5000,
            r10: 1,
            r11: 2,
            r12: 3,
            r13: 4,
            ..Regs::ZERO
        };
        let out = |r: &mut Regs| {
            poison(r);
            r.r10 = 9;
        };
        let mut regs = input;
        let (r, log) = run(&[(0, &out)], |g| unsafe {
            g.servtd_rebind_approve(&mut regs)
        });
        assert_eq!(r, Ok(Status::SUCCESS));
        assert_eq!(log.only().rax, 33);
        assert_eq!(log.only().regs, input);
        assert_eq!(regs.r10, 9, "the module's registers come back");
        let mut regs = input;
        let (r, _) = run(&[(0xC000_0100_0000_0000, &nothing)], |g| unsafe {
            g.servtd_rebind_approve(&mut regs)
        });
        assert_eq!(
            r,
            Err(Error::Status(Status::from_raw(0xC000_0100_0000_0000)))
        );
    }
}
