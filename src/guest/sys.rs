//! Global (platform and module) metadata: TDG.SYS.RD and TDG.SYS.RDALL.

use super::{check, check_field_id, next_field, FieldRead, Guest, NULL_FIELD_ID};
use crate::abi::GuestPhysAddr;
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;

impl<B: Backend> Guest<B> {
    /// Reads a global metadata field and the ID of the next one.
    ///
    /// Leaf 11. Inputs: RDX field ID ([`NULL_FIELD_ID`] returns the first field with status
    /// `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT`). Outputs: R8 value, RDX next field ID (both
    /// reset first: R8 0, RDX −1). Since module 1.5.
    ///
    /// # Errors
    ///
    /// Malformed field ID; [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDG.SYS.RD")]
    pub fn sys_rd(&mut self, field_id: u64) -> Result<FieldRead> {
        let mut regs = Regs {
            rdx: check_field_id(field_id, true)?,
            ..Regs::ZERO
        };
        // SAFETY: a metadata read only writes registers.
        let status = check(unsafe { self.call(Leaf::TdgSysRd, 0, &mut regs) })?;
        Ok(FieldRead {
            value: regs.r8,
            next: next_field(regs.rdx),
            status,
        })
    }

    /// Visits every guest-readable global metadata field, in order, through the next-field
    /// IDs of TDG.SYS.RD: `visit(field_id, value)`. Returns the number of fields read.
    ///
    /// # Errors
    ///
    /// The first failing read's [`Error::Status`](crate::Error::Status).
    pub fn sys_rd_each(&mut self, mut visit: impl FnMut(u64, u64)) -> Result<usize> {
        let mut next = self.sys_rd(NULL_FIELD_ID)?.next;
        let mut count = 0;
        while let Some(field_id) = next {
            let read = self.sys_rd(field_id)?;
            visit(field_id, read.value);
            count += 1;
            next = read.next;
        }
        Ok(count)
    }

    /// Dumps global metadata fields, from `start_field_id`, as a metadata list into the 4 KiB
    /// page at `list_page`; returns the field ID to continue from, `None` when done.
    ///
    /// Leaf 12. Inputs: RDX list page GPA (4 KiB aligned, private), R8 first field ID.
    /// Outputs: R8 next field ID (−1 when done, and −1 first). Since module 1.5.
    ///
    /// # Errors
    ///
    /// Misaligned GPA or malformed field ID (nothing runs); [`Error::Status`](crate::Error::Status).
    ///
    /// # Safety
    ///
    /// The module writes up to 4 KiB at `list_page`: it must be the private GPA of a page no
    /// live Rust value relies on.
    #[inline]
    #[doc(alias = "TDG.SYS.RDALL")]
    pub unsafe fn sys_rdall(
        &mut self,
        list_page: GuestPhysAddr,
        start_field_id: u64,
    ) -> Result<Option<u64>> {
        let mut regs = Regs {
            rdx: GuestPhysAddr::page(list_page.raw())?.raw(),
            r8: check_field_id(start_field_id, true)?,
            ..Regs::ZERO
        };
        // SAFETY: the caller upholds the list-page contract above.
        check(unsafe { self.call(Leaf::TdgSysRdall, 0, &mut regs) })?;
        Ok(next_field(regs.r8))
    }
}

#[cfg(test)]
mod tests {
    // Every unsafe block in these tests calls a wrapper over the recording backend of
    // `guest::testing`: no instruction executes, no memory is touched.
    #![allow(clippy::undocumented_unsafe_blocks)]

    use crate::abi::GuestPhysAddr;
    use crate::error::Error;
    use crate::guest::testing::*;
    use crate::guest::{FieldRead, NULL_FIELD_ID};
    use crate::regs::Regs;
    use crate::status::Status;

    const FIELD: u64 = 0x0800_0001_0000_0003;

    #[test]
    fn sys_rd_encoding() {
        let out = |r: &mut Regs| {
            poison(r);
            r.r8 = 5;
            r.rdx = FIELD + 1;
        };
        let (r, log) = run(&[(0, &out)], |g| g.sys_rd(FIELD));
        assert_eq!(log.only().rax, 11);
        assert_eq!(
            log.only().regs,
            Regs {
                rdx: FIELD,
                ..Regs::ZERO
            }
        );
        assert_eq!(
            r,
            Ok(FieldRead {
                value: 5,
                next: Some(FIELD + 1),
                status: Status::SUCCESS
            })
        );
        let (r, _) = run(&[(0xC000_0C00_0000_0000, &nothing)], |g| g.sys_rd(FIELD));
        assert_eq!(
            r,
            Err(Error::Status(Status::from_raw(0xC000_0C00_0000_0000)))
        );
        let (r, log) = run(&[], |g| g.sys_rd(FIELD | 1 << 24));
        assert!(r.is_err());
        assert_eq!(log.len(), 0);
    }

    #[test]
    fn sys_rd_each_follows_next_ids() {
        let first = |r: &mut Regs| r.rdx = 0x10;
        let a = |r: &mut Regs| {
            r.r8 = 100;
            r.rdx = 0x20;
        };
        let b = |r: &mut Regs| {
            r.r8 = 200;
            r.rdx = u64::MAX;
        };
        let mut seen = [(0u64, 0u64); 2];
        let mut n = 0;
        let (count, log) = run(&[(0x0000_0C0B_0000_0000, &first), (0, &a), (0, &b)], |g| {
            g.sys_rd_each(|id, value| {
                seen[n] = (id, value);
                n += 1;
            })
        });
        assert_eq!(count, Ok(2));
        assert_eq!(seen, [(0x10, 100), (0x20, 200)]);
        assert_eq!(log.get(0).regs.rdx, NULL_FIELD_ID);
        assert_eq!(log.get(1).regs.rdx, 0x10);
        assert_eq!(log.get(2).regs.rdx, 0x20);
    }

    #[test]
    fn sys_rdall_encoding() {
        let page = GuestPhysAddr::page(0x7000).unwrap();
        let out = |r: &mut Regs| {
            poison(r);
            r.r8 = FIELD + 7;
        };
        let (r, log) = run(&[(0, &out)], |g| unsafe { g.sys_rdall(page, FIELD) });
        assert_eq!(r, Ok(Some(FIELD + 7)));
        assert_eq!(log.only().rax, 12);
        assert_eq!(
            log.only().regs,
            Regs {
                rdx: 0x7000,
                r8: FIELD,
                ..Regs::ZERO
            }
        );
        let done = |r: &mut Regs| r.r8 = u64::MAX;
        let (r, _) = run(&[(0, &done)], |g| unsafe { g.sys_rdall(page, FIELD) });
        assert_eq!(r, Ok(None));
        let (r, log) = run(&[], |g| unsafe {
            g.sys_rdall(GuestPhysAddr::new(0x7008).unwrap(), FIELD)
        });
        assert!(r.is_err());
        assert_eq!(log.len(), 0);
        let (r, _) = run(&[(0xC000_0C04_0000_0000, &nothing)], |g| unsafe {
            g.sys_rdall(page, FIELD)
        });
        assert_eq!(
            r,
            Err(Error::Status(Status::from_raw(0xC000_0C04_0000_0000)))
        );
    }
}
