//! Migration streams: TDH.MIG.* leaves.

use super::{check, check_page, Host};
use crate::abi::{HostPhysAddr, TdrPage};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;

impl<B: Backend> Host<B> {
    /// TDH.MIG.STREAM.CREATE (leaf 96): create a migration stream with context page
    /// `migsc`.
    ///
    /// RCX = MIGSC page, RDX = TDR. Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a misaligned page;
    /// [`Error::Status`](crate::Error::Status), e.g. TDX_MAX_MIGS_NUM_EXCEEDED.
    ///
    /// # Safety
    ///
    /// On success the page belongs to the module (a private control page of the TD)
    /// until reclaimed.
    #[inline]
    #[doc(alias = "TDH.MIG.STREAM.CREATE")]
    pub unsafe fn mig_stream_create(&mut self, migsc: HostPhysAddr, tdr: TdrPage) -> Result<()> {
        let mut regs = Regs {
            rcx: check_page("MIGSC page", migsc)?.raw(),
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller gives the page up as documented.
        check(unsafe { self.call(Leaf::TdhMigStreamCreate, 0, &mut regs) }).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::testing::*;
    use crate::{Error, Status};

    #[test]
    fn stream_create() {
        let tdr = TdrPage::from_raw(0x7000).unwrap();
        let input = regs!(rcx: 0x9000, rdx: 0x7000);
        let calls = [seamcall(96, input, regs!(JUNK;), 0)];
        // SAFETY: scripted backend; no instruction executes.
        with_script(&calls, |h| unsafe {
            h.mig_stream_create(HostPhysAddr::new(0x9000).unwrap(), tdr)
        })
        .unwrap();
        let e = 0xC000_0E06_0000_0000;
        let calls = [seamcall(96, input, input, e)];
        // SAFETY: scripted backend; no instruction executes.
        let r = with_script(&calls, |h| unsafe {
            h.mig_stream_create(HostPhysAddr::new(0x9000).unwrap(), tdr)
        });
        assert_eq!(r, Err(Error::Status(Status::from_raw(e))));
        // SAFETY: scripted backend; no instruction executes.
        assert!(without_call(|h| unsafe {
            h.mig_stream_create(HostPhysAddr::new(0x9100).unwrap(), tdr)
        })
        .is_err());
    }
}
