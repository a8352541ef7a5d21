//! TD-scope metadata: TDG.VM.RD (versions 0 and 1) and TDG.VM.WR.

use super::Guest;
use crate::abi::{FieldId, MetadataRead};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::Status;

impl<B: Backend> Guest<B> {
    /// Reads a TD-scope metadata field (version 0: no next field ID; runs on module 1.0).
    ///
    /// Leaf 7, version 0. Inputs: RCX 0 (the VM, L1 only), RDX field ID. Outputs: R8 value
    /// (zeroed first). Since module 1.0.
    ///
    /// # Errors
    ///
    /// Malformed field ID; [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDG.VM.RD")]
    pub fn vm_rd(&mut self, field: FieldId) -> Result<u64> {
        let mut regs = Regs {
            rdx: field.check_single_element()?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: a metadata read only writes registers.
        Status::check(unsafe { self.call(Leaf::TdgVmRd, 0, &mut regs) })?;
        Ok(regs.r8)
    }

    /// Reads a TD-scope metadata field and the ID of the next one (version 1).
    ///
    /// Leaf 7, version 1. Inputs: RCX 0, RDX field ID ([`FieldId::null`] returns the
    /// first field of the TD context with status `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT`).
    /// Outputs: R8 value, RDX next field ID (−1 first, so −1 on failure). Since module 1.5
    /// (version 1).
    ///
    /// # Errors
    ///
    /// Malformed field ID; [`Error::Status`](crate::Error::Status) (`TDX_OPERAND_INVALID`
    /// with operand RAX on a module without version 1).
    #[inline]
    #[doc(alias = "TDG.VM.RD")]
    pub fn vm_rd_next(&mut self, field: FieldId) -> Result<MetadataRead> {
        let mut regs = Regs {
            rdx: field.check_read()?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: a metadata read only writes registers.
        let status = Status::check(unsafe { self.call(Leaf::TdgVmRd, 1, &mut regs) })?;
        Ok(MetadataRead::from_regs(status, regs.r8, regs.rdx))
    }

    /// Writes a TD-scope metadata field under a mask; returns the old value.
    ///
    /// Leaf 8. Inputs: RCX 0, RDX field ID, R8 value, R9 write mask. Outputs: R8 old value
    /// (zeroed first). Since module 1.0.
    ///
    /// # Errors
    ///
    /// Malformed field ID, or a write mask wider than the field ID's element size
    /// ([`FieldId::check_write_mask`](crate::abi::FieldId::check_write_mask)); [`Error::Status`](crate::Error::Status).
    ///
    /// # Safety
    ///
    /// TD-scope writable fields include TD controls and L2 VM settings that decide how
    /// memory is mapped and how #VE and pending pages are handled. The caller ensures the
    /// write keeps every invariant the program relies on.
    #[inline]
    #[doc(alias = "TDG.VM.WR")]
    pub unsafe fn vm_wr(&mut self, field: FieldId, value: u64, mask: u64) -> Result<u64> {
        let mut regs = Regs {
            rdx: field.check_single_element()?.raw(),
            r8: value,
            r9: field.check_write_mask(mask)?,
            ..Regs::ZERO
        };
        // SAFETY: the caller vouches for the field write.
        Status::check(unsafe { self.call(Leaf::TdgVmWr, 0, &mut regs) })?;
        Ok(regs.r8)
    }
}

#[cfg(test)]
mod tests {
    // Every unsafe block in these tests calls a wrapper over the recording backend of
    // `guest::testing`: no instruction executes, no memory is touched.
    #![allow(clippy::undocumented_unsafe_blocks)]

    use crate::abi::MetadataRead;
    use crate::error::{Error, InvalidReason};
    use crate::guest::testing::*;
    use crate::regs::Regs;
    use crate::status::Status;

    const FIELD: u64 = 0x1110_0003_0000_0017;

    #[test]
    fn vm_rd_versions() {
        let out = |r: &mut Regs| {
            poison(r);
            r.r8 = 0xAB;
            r.rdx = FIELD + 1;
        };
        let (v0, log) = run(&[(0, &out)], |g| g.vm_rd(id(FIELD)));
        assert_eq!(v0, Ok(0xAB));
        assert_eq!(log.only().rax, 7);
        assert_eq!(
            log.only().regs,
            Regs {
                rdx: FIELD,
                ..Regs::ZERO
            }
        );

        let (v1, log) = run(&[(0, &out)], |g| g.vm_rd_next(id(FIELD)));
        assert_eq!(log.only().rax, 0x1_0007);
        assert_eq!(
            log.only().regs,
            Regs {
                rdx: FIELD,
                ..Regs::ZERO
            }
        );
        assert_eq!(
            v1,
            Ok(MetadataRead {
                value: 0xAB,
                next: Some(id(FIELD + 1)),
                status: Status::SUCCESS
            })
        );
        let first = |r: &mut Regs| r.rdx = 0x1110_0003_0000_0000;
        let (v1, _) = run(&[(0x0000_0C0B_0000_0000, &first)], |g| g.vm_rd_next(NULL));
        let v1 = v1.unwrap();
        assert!(v1.is_first_field_id());
        assert_eq!(v1.next, Some(id(0x1110_0003_0000_0000)));
        // The null ID is only meaningful for version 1.
        let (v0, log) = run(&[], |g| g.vm_rd(NULL));
        assert!(
            matches!(v0, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::MalformedFieldId { .. }))
        );
        assert_eq!(log.len(), 0);
        let (e, _) = run(&[(0xC000_0100_0000_0000, &nothing)], |g| {
            g.vm_rd_next(id(FIELD))
        });
        assert_eq!(
            e,
            Err(Error::Status(Status::from_raw(0xC000_0100_0000_0000)))
        );
    }

    #[test]
    fn vm_wr_encoding() {
        let out = |r: &mut Regs| r.r8 = 0x5;
        let (old, log) = run(&[(0, &out)], |g| unsafe { g.vm_wr(id(FIELD), 0x8, 0xC) });
        assert_eq!(old, Ok(0x5));
        assert_eq!(log.only().rax, 8);
        assert_eq!(
            log.only().regs,
            Regs {
                rdx: FIELD,
                r8: 0x8,
                r9: 0xC,
                ..Regs::ZERO
            }
        );
        let (e, _) = run(&[(0xC000_0C09_0000_0000, &nothing)], |g| unsafe {
            g.vm_wr(id(FIELD), 0, 1)
        });
        assert_eq!(
            e,
            Err(Error::Status(Status::from_raw(0xC000_0C09_0000_0000)))
        );
        let (e, log) = run(&[], |g| unsafe { g.vm_wr(id(FIELD | 1 << 62), 0, 1) });
        assert!(e.is_err());
        assert_eq!(log.len(), 0);
    }
}
