//! TD measurement: TDH.MR.* leaves.

use super::{check_sept, DetailedResult, Host, SeptDetails};
use crate::abi::addr::MAX_PHYS_ADDR_BITS;
use crate::abi::check::check_address;
use crate::abi::{GuestPhysAddr, TdrPage};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;

/// The chunk TDH.MR.EXTEND measures: 256 bytes.
pub const MR_EXTEND_CHUNK: u64 = 256;

impl<B: Backend> Host<B> {
    /// TDH.MR.EXTEND (leaf 16): extend MRTD with the 256-byte chunk of a TD page at `gpa`.
    ///
    /// RCX = GPA (256-byte aligned), RDX = TDR. RCX/RDX come back 0, or the SEPT entry on
    /// a SEPT error. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a GPA not 256-byte
    /// aligned; [`Error::Status`](crate::Error::Status) with [`SeptDetails`].
    #[inline]
    #[doc(alias = "TDH.MR.EXTEND")]
    pub fn mr_extend(
        &mut self,
        gpa: GuestPhysAddr,
        tdr: TdrPage,
    ) -> DetailedResult<(), SeptDetails> {
        let mut regs = Regs {
            rcx: check_address("GPA", gpa.raw(), MAX_PHYS_ADDR_BITS, MR_EXTEND_CHUNK)?,
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: hashes TD memory; no host memory is touched.
        let status = unsafe { self.call(Leaf::TdhMrExtend, 0, &mut regs) };
        check_sept(status, &regs).map(drop)
    }

    /// TDH.MR.FINALIZE (leaf 17): finalize the TD's measurement (MRTD); the TD can run
    /// afterwards.
    ///
    /// RCX = TDR. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status), e.g. TDX_OP_STATE_INCORRECT.
    #[inline]
    #[doc(alias = "TDH.MR.FINALIZE")]
    pub fn mr_finalize(&mut self, tdr: TdrPage) -> Result<()> {
        self.tdr_only(Leaf::TdhMrFinalize, tdr).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidReason;
    use crate::host::testing::*;
    use crate::{Error, Status};

    const TDR: u64 = 0x7_0000_1000;
    fn tdr() -> TdrPage {
        TdrPage::from_raw(TDR).unwrap()
    }

    #[test]
    fn extend_and_finalize() {
        let gpa = GuestPhysAddr::new(0x1_0100).unwrap();
        let input = regs!(rcx: 0x1_0100, rdx: TDR);
        let calls = [seamcall(16, input, regs!(JUNK; rcx: 0, rdx: 0), 0)];
        with_script(&calls, |h| h.mr_extend(gpa, tdr())).unwrap();
        let calls = [seamcall(
            16,
            input,
            regs!(JUNK; rcx: 0x55, rdx: 0x0501),
            0xC000_0B03_0000_0000,
        )];
        let err = with_script(&calls, |h| h.mr_extend(gpa, tdr())).unwrap_err();
        assert_eq!(
            err.details.map(|d| (d.entry, d.level, d.state)),
            Some((0x55, 1, 5))
        );
        let odd = GuestPhysAddr::new(0x1_0080).unwrap();
        assert!(matches!(
            rejection(without_call(|h| h.mr_extend(odd, tdr()))),
            InvalidReason::Misaligned { required: 256, .. }
        ));
        let calls = [seamcall(17, regs!(rcx: TDR), regs!(JUNK;), 0)];
        with_script(&calls, |h| h.mr_finalize(tdr())).unwrap();
        let e = 0xC000_0608_0000_0000;
        let calls = [seamcall(17, regs!(rcx: TDR), regs!(rcx: TDR), e)];
        assert_eq!(
            with_script(&calls, |h| h.mr_finalize(tdr())),
            Err(Error::Status(Status::from_raw(e)))
        );
    }
}
