//! Measurement and attestation: TDG.MR.RTMR.EXTEND, TDG.MR.REPORT, TDG.MR.VERIFYREPORT.

use super::{check, check_range, Guest};
use crate::abi::addr::check_address;
use crate::abi::GuestPhysAddr;
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::regs::Regs;

impl<B: Backend> Guest<B> {
    /// Extends RTMR `index` (0 to 3) with the 48 bytes at `data`.
    ///
    /// Leaf 2. Inputs: RCX GPA of the 48-byte value (64-aligned, private), RDX RTMR index.
    /// Outputs: none. Since module 1.0.
    ///
    /// Safe: the module only reads the 48 bytes and folds them into a hash; it writes no
    /// TD memory. (A wrong GPA extends the RTMR with the wrong bytes, which is a
    /// measurement error, not a memory-safety one.) Use
    /// [`RtmrExtendData`](crate::abi::report::RtmrExtendData) for the buffer.
    ///
    /// # Errors
    ///
    /// `data` not 64-aligned or `index` above 3 (nothing runs); [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDG.MR.RTMR.EXTEND")]
    pub fn mr_rtmr_extend(&mut self, data: GuestPhysAddr, index: u8) -> Result<()> {
        let mut regs = Regs {
            rcx: check_address("RTMR extend data GPA", data.raw(), 52, 64)?,
            rdx: check_range("RTMR index", index as u64, 0, 3)?,
            ..Regs::ZERO
        };
        // SAFETY: the module only reads the 48 bytes at `data`.
        check(unsafe { self.call(Leaf::TdgMrRtmrExtend, 0, &mut regs) })?;
        Ok(())
    }

    /// Writes a TDREPORT_STRUCT for `report_data` to `report`.
    ///
    /// Leaf 4. Inputs: RCX GPA of the 1024-byte output (1024-aligned), RDX GPA of the
    /// 64-byte REPORTDATA (64-aligned), R8 subtype 0. Outputs: none in registers; the report
    /// in memory. An interrupt restarts the instruction inside the module. Since module 1.0.
    ///
    /// # Errors
    ///
    /// Misaligned GPAs (nothing runs); [`Error::Status`](crate::Error::Status).
    ///
    /// # Safety
    ///
    /// The module writes 1024 bytes at `report`. `report` must be the private GPA of a
    /// [`TdReport`](crate::abi::report::TdReport) (or equivalent 1024 bytes) that no live
    /// shared reference covers, and `report_data` the GPA of 64 readable bytes.
    #[inline]
    #[doc(alias = "TDG.MR.REPORT")]
    pub unsafe fn mr_report(
        &mut self,
        report: GuestPhysAddr,
        report_data: GuestPhysAddr,
    ) -> Result<()> {
        let mut regs = Regs {
            rcx: check_address("TDREPORT_STRUCT GPA", report.raw(), 52, 1024)?,
            rdx: check_address("REPORTDATA GPA", report_data.raw(), 52, 64)?,
            r8: 0,
            ..Regs::ZERO
        };
        // SAFETY: the caller upholds the report-buffer contract above.
        check(unsafe { self.call(Leaf::TdgMrReport, 0, &mut regs) })?;
        Ok(())
    }

    /// Verifies that the REPORTMACSTRUCT at `report_mac` was produced on this platform.
    ///
    /// Leaf 22. Inputs: RCX GPA of the REPORTMACSTRUCT (256-aligned). Outputs: none. Since
    /// module 1.5. Safe: the module only reads the 256 bytes.
    ///
    /// # Errors
    ///
    /// Misaligned GPA (nothing runs); [`Error::Status`](crate::Error::Status):
    /// `TDX_INVALID_REPORTMACSTRUCT` when the MAC does not verify, `TDX_OPERAND_INVALID`
    /// with operand RAX when the CPU lacks SEAMVERIFYREPORT.
    #[inline]
    #[doc(alias = "TDG.MR.VERIFYREPORT")]
    pub fn mr_verifyreport(&mut self, report_mac: GuestPhysAddr) -> Result<()> {
        let mut regs = Regs {
            rcx: check_address("REPORTMACSTRUCT GPA", report_mac.raw(), 52, 256)?,
            ..Regs::ZERO
        };
        // SAFETY: the module only reads the 256 bytes at `report_mac`.
        check(unsafe { self.call(Leaf::TdgMrVerifyreport, 0, &mut regs) })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    // Every unsafe block in these tests calls a wrapper over the recording backend of
    // `guest::testing`: no instruction executes, no memory is touched.
    #![allow(clippy::undocumented_unsafe_blocks)]

    use crate::abi::GuestPhysAddr;
    use crate::error::{Error, InvalidReason};
    use crate::guest::testing::*;
    use crate::regs::Regs;
    use crate::status::Status;

    #[test]
    fn rtmr_extend_encoding() {
        let data = GuestPhysAddr::new(0x8040).unwrap();
        let (r, log) = run(&[(0, &poison)], |g| g.mr_rtmr_extend(data, 3));
        assert_eq!(r, Ok(()));
        assert_eq!(log.only().rax, 2);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 0x8040,
                rdx: 3,
                ..Regs::ZERO
            }
        );
        let (r, log) = run(&[], |g| g.mr_rtmr_extend(data, 4));
        assert!(
            matches!(r, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::OutOfRange { value: 4, .. }))
        );
        let (r2, _) = run(&[], |g| {
            g.mr_rtmr_extend(GuestPhysAddr::new(0x8020).unwrap(), 0)
        });
        assert!(
            matches!(r2, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::Misaligned { required: 64, .. }))
        );
        assert_eq!(log.len(), 0);
        let (r, _) = run(&[(0xC000_0100_0000_0001, &nothing)], |g| {
            g.mr_rtmr_extend(data, 0)
        });
        assert_eq!(
            r,
            Err(Error::Status(Status::from_raw(0xC000_0100_0000_0001)))
        );
    }

    #[test]
    fn report_encoding() {
        let report = GuestPhysAddr::new(0x1_0400).unwrap();
        let data = GuestPhysAddr::new(0x2_0040).unwrap();
        let (r, log) = run(&[(0, &poison)], |g| unsafe { g.mr_report(report, data) });
        assert_eq!(r, Ok(()));
        assert_eq!(log.only().rax, 4);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 0x1_0400,
                rdx: 0x2_0040,
                r8: 0,
                ..Regs::ZERO
            }
        );
        let (r, log) = run(&[], |g| unsafe {
            g.mr_report(GuestPhysAddr::new(0x1_0200).unwrap(), data)
        });
        assert!(
            matches!(r, Err(Error::InvalidArgument(a)) if matches!(a.reason, InvalidReason::Misaligned { required: 1024, .. }))
        );
        assert_eq!(log.len(), 0);
        let (r, log) = run(&[], |g| unsafe {
            g.mr_report(report, GuestPhysAddr::new(0x2_0020).unwrap())
        });
        assert!(r.is_err());
        assert_eq!(log.len(), 0);
        let (r, _) = run(&[(0xC000_0100_0000_0002, &nothing)], |g| unsafe {
            g.mr_report(report, data)
        });
        assert_eq!(
            r,
            Err(Error::Status(Status::from_raw(0xC000_0100_0000_0002)))
        );
    }

    #[test]
    fn verifyreport_encoding() {
        let mac = GuestPhysAddr::new(0x3100).unwrap();
        let (r, log) = run(&[(0, &poison)], |g| g.mr_verifyreport(mac));
        assert_eq!(r, Ok(()));
        assert_eq!(log.only().rax, 22);
        assert_eq!(
            log.only().regs,
            Regs {
                rcx: 0x3100,
                ..Regs::ZERO
            }
        );
        let (r, _) = run(&[(0xC000_1001_0000_0000, &nothing)], |g| {
            g.mr_verifyreport(mac)
        });
        assert_eq!(
            r,
            Err(Error::Status(Status::from_raw(0xC000_1001_0000_0000)))
        );
        let (r, log) = run(&[], |g| {
            g.mr_verifyreport(GuestPhysAddr::new(0x3080).unwrap())
        });
        assert!(r.is_err());
        assert_eq!(log.len(), 0);
    }
}
