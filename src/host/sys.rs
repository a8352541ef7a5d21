//! Module and platform management: TDH.SYS.* leaves.

use super::mng::KeyConfig;
use super::{check, code, DetailedError, DetailedResult, Host};
use crate::abi::addr::invalid;
use crate::abi::sysinfo::{TdSysInfo, CMR_INFO_ALIGN, MAX_CMRS, MAX_TDMRS, TDMR_INFO_ALIGN};
use crate::abi::{Hkid, HostPhysAddr};
use crate::call::Backend;
use crate::error::{Error, InvalidReason, Result};
use crate::leaf::Leaf;
use crate::regs::Regs;

/// The CPUID value a TDH.SYS.INIT / TDH.SYS.LP.INIT check rejected (its outputs on
/// TDX_INCORRECT_CPUID_VALUE and friends, class 0x09).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CpuidMismatch {
    /// RCX: the leaf (bits 31:0) and subleaf (bits 63:32).
    pub leaf_subleaf: u64,
    /// RDX (SYS.INIT: mask low half, LP.INIT: expected mask).
    pub rdx: u64,
    /// R8 (SYS.INIT: mask high half, LP.INIT: expected value).
    pub r8: u64,
    /// R9 (SYS.INIT: expected value low half; LP.INIT: unused).
    pub r9: u64,
    /// R10 (SYS.INIT: expected value high half; LP.INIT: unused).
    pub r10: u64,
}

/// The platform class (bits 47:40) of the CPUID/MSR check statuses.
const PLATFORM_CLASS: u8 = 0x09;

fn cpuid_details(status: crate::Status, regs: &Regs) -> DetailedError<CpuidMismatch> {
    let details =
        (status.class() == PLATFORM_CLASS && !status.is_software()).then_some(CpuidMismatch {
            leaf_subleaf: regs.rcx,
            rdx: regs.rdx,
            r8: regs.r8,
            r9: regs.r9,
            r10: regs.r10,
        });
    DetailedError {
        error: Error::Status(status),
        details,
    }
}

/// What TDH.SYS.INFO wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SysInfoWritten {
    /// RDX: the bytes of TDSYSINFO_STRUCT written (1024).
    pub sysinfo_bytes: u64,
    /// R9: the CMR_INFO entries written (32).
    pub cmr_entries: u64,
}

/// How TDH.SYS.TDMR.INIT finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TdmrInit {
    /// The wrapper's calls initialized the rest of the TDMR's PAMT.
    Initialized,
    /// TDX_TDMR_ALREADY_INITIALIZED (a warning): nothing was left to do.
    AlreadyInitialized,
}

impl<B: Backend> Host<B> {
    /// TDH.SYS.KEY.CONFIG (leaf 31): program the global private key on this package.
    ///
    /// No register inputs or outputs. Run once per package, serially. Retried on
    /// TDX_KEY_GENERATION_FAILED up to [`ENTROPY_ATTEMPTS`](super::ENTROPY_ATTEMPTS)
    /// calls. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], e.g. TDX_SYS_BUSY, TDX_SYS_KEY_CONFIG_NOT_PENDING.
    #[inline]
    #[doc(alias = "TDH.SYS.KEY.CONFIG")]
    pub fn sys_key_config(&mut self) -> Result<KeyConfig> {
        let mut regs = Regs::ZERO;
        // SAFETY: programs a key; no host memory changes hands.
        let status = unsafe {
            self.call_retrying_entropy(
                Leaf::TdhSysKeyConfig,
                0,
                &mut regs,
                code::KEY_GENERATION_FAILED,
            )
        };
        check(status).map(KeyConfig::from_status)
    }

    /// TDH.SYS.INFO (leaf 32): write TDSYSINFO_STRUCT and the CMR table to host memory.
    ///
    /// RCX = TDSYSINFO_STRUCT HPA (1024-aligned), RDX = its size (1024), R8 = CMR_INFO
    /// array HPA (512-aligned), R9 = its entries (32). RDX = bytes written, R9 = entries
    /// written (both zeroed first). Module 1.0+ (1.5 prefers TDH.SYS.RD).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for misaligned buffers; [`Error::Status`], e.g.
    /// TDX_SYS_LP_INIT_NOT_DONE.
    ///
    /// # Safety
    ///
    /// The module writes 1024 bytes at `sysinfo` and 512 bytes at `cmr_info`: both must be
    /// host memory the caller owns exclusively for the call (and mapped shared, i.e. not
    /// TD-private).
    #[inline]
    #[doc(alias = "TDH.SYS.INFO")]
    pub unsafe fn sys_info(
        &mut self,
        sysinfo: HostPhysAddr,
        cmr_info: HostPhysAddr,
    ) -> Result<SysInfoWritten> {
        let mut regs = Regs {
            rcx: HostPhysAddr::aligned(sysinfo.raw(), TdSysInfo::SIZE as u64)?.raw(),
            rdx: TdSysInfo::SIZE as u64,
            r8: HostPhysAddr::aligned(cmr_info.raw(), CMR_INFO_ALIGN)?.raw(),
            r9: MAX_CMRS as u64,
            ..Regs::ZERO
        };
        // SAFETY: the caller lends both buffers as documented.
        check(unsafe { self.call(Leaf::TdhSysInfo, 0, &mut regs) })?;
        Ok(SysInfoWritten {
            sysinfo_bytes: regs.rdx,
            cmr_entries: regs.r9,
        })
    }

    /// TDH.SYS.INIT (leaf 33): global module initialization.
    ///
    /// RCX = 0 (reserved attributes). RCX, RDX, R8-R10 are zeroed; on a platform CPUID
    /// mismatch they hold the [`CpuidMismatch`]. Retried on TDX_RND_NO_ENTROPY.
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], with [`CpuidMismatch`] details for class-0x09 statuses.
    #[inline]
    #[doc(alias = "TDH.SYS.INIT")]
    pub fn sys_init(&mut self) -> DetailedResult<(), CpuidMismatch> {
        let mut regs = Regs::ZERO;
        // SAFETY: initializes the module; no host memory changes hands.
        let status = unsafe {
            self.call_retrying_entropy(Leaf::TdhSysInit, 0, &mut regs, code::RND_NO_ENTROPY)
        };
        if status.is_error() {
            return Err(cpuid_details(status, &regs));
        }
        Ok(())
    }

    /// TDH.SYS.LP.INIT (leaf 35): initialize the module on this logical processor.
    ///
    /// No inputs. RCX, RDX, R8 are zeroed; on a CPUID mismatch RCX = leaf/subleaf,
    /// RDX/R8 = expected mask/value. Retried on TDX_RND_NO_ENTROPY. Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::sys_init`].
    #[inline]
    #[doc(alias = "TDH.SYS.LP.INIT")]
    pub fn sys_lp_init(&mut self) -> DetailedResult<(), CpuidMismatch> {
        let mut regs = Regs::ZERO;
        // SAFETY: initializes the module; no host memory changes hands.
        let status = unsafe {
            self.call_retrying_entropy(Leaf::TdhSysLpInit, 0, &mut regs, code::RND_NO_ENTROPY)
        };
        if status.is_error() {
            return Err(cpuid_details(status, &regs));
        }
        Ok(())
    }

    /// TDH.SYS.TDMR.INIT (leaf 36): initialize the PAMT of the TDMR at `tdmr_base`, calling
    /// the leaf until it is done.
    ///
    /// RCX = TDMR base (1 GiB aligned, a configured TDMR). RDX = the next address to
    /// initialize (1 GiB rounded); the wrapper loops while it lies below
    /// `tdmr_base + tdmr_size`, at most `tdmr_size / 4 KiB` + 1 calls (each call
    /// initializes at least one page's worth). Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a misaligned base or size; [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.SYS.TDMR.INIT")]
    pub fn sys_tdmr_init(&mut self, tdmr_base: HostPhysAddr, tdmr_size: u64) -> Result<TdmrInit> {
        const GIB: u64 = 1 << 30;
        let base = HostPhysAddr::aligned(tdmr_base.raw(), GIB)?.raw();
        crate::abi::addr::check_address("TDMR size", tdmr_size, 64, GIB)?;
        let end = base.saturating_add(tdmr_size);
        let max_calls = tdmr_size / crate::abi::PAGE_SIZE + 1;
        for _ in 0..max_calls {
            let mut regs = Regs {
                rcx: base,
                ..Regs::ZERO
            };
            // SAFETY: initializes module-owned PAMT memory; no host memory changes hands.
            let status = check(unsafe { self.call(Leaf::TdhSysTdmrInit, 0, &mut regs) })?;
            if status.code() == code::TDMR_ALREADY_INITIALIZED {
                return Ok(TdmrInit::AlreadyInitialized);
            }
            if regs.rdx >= end {
                return Ok(TdmrInit::Initialized);
            }
        }
        Ok(TdmrInit::Initialized)
    }

    /// TDH.SYS.LP.SHUTDOWN (leaf 44): shut the module down on this logical processor.
    ///
    /// No inputs or outputs. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.SYS.LP.SHUTDOWN")]
    pub fn sys_lp_shutdown(&mut self) -> Result<()> {
        let mut regs = Regs::ZERO;
        // SAFETY: module state only.
        check(unsafe { self.call(Leaf::TdhSysLpShutdown, 0, &mut regs) }).map(drop)
    }

    /// TDH.SYS.CONFIG (leaf 45): configure the TDMRs and the global private HKID.
    ///
    /// RCX = HPA of an array of `count` TDMR_INFO pointers (512-aligned; each entry also
    /// 512-aligned), RDX = `count` (1..=64), R8 = HKID. The module only reads. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a misaligned array or a count outside 1..=64;
    /// [`Error::Status`], e.g. TDX_INVALID_TDMR.
    #[inline]
    #[doc(alias = "TDH.SYS.CONFIG")]
    pub fn sys_config(
        &mut self,
        tdmr_pointers: HostPhysAddr,
        count: usize,
        hkid: Hkid,
    ) -> Result<()> {
        if count == 0 || count > MAX_TDMRS {
            return Err(invalid(
                "TDMR count",
                InvalidReason::OutOfRange {
                    value: count as u64,
                    min: 1,
                    max: MAX_TDMRS as u64,
                },
            )
            .into());
        }
        let mut regs = Regs {
            rcx: HostPhysAddr::aligned(tdmr_pointers.raw(), TDMR_INFO_ALIGN)?.raw(),
            rdx: count as u64,
            r8: hkid.raw().into(),
            ..Regs::ZERO
        };
        // SAFETY: the module reads the TDMR_INFO array only.
        check(unsafe { self.call(Leaf::TdhSysConfig, 0, &mut regs) }).map(drop)
    }

    /// TDH.SYS.SHUTDOWN (leaf 52): prepare a TD-preserving module update, handing off
    /// with `handoff_version`.
    ///
    /// RCX = handoff version. Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], e.g. TDX_SYS_INVALID_HANDOFF.
    #[inline]
    #[doc(alias = "TDH.SYS.SHUTDOWN")]
    pub fn sys_shutdown(&mut self, handoff_version: u16) -> Result<()> {
        let mut regs = Regs {
            rcx: handoff_version.into(),
            ..Regs::ZERO
        };
        // SAFETY: module state only.
        check(unsafe { self.call(Leaf::TdhSysShutdown, 0, &mut regs) }).map(drop)
    }

    /// TDH.SYS.UPDATE (leaf 53): resume TDs after a TD-preserving update.
    ///
    /// No inputs or outputs. Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.SYS.UPDATE")]
    pub fn sys_update(&mut self) -> Result<()> {
        let mut regs = Regs::ZERO;
        // SAFETY: module state only.
        check(unsafe { self.call(Leaf::TdhSysUpdate, 0, &mut regs) }).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::testing::*;
    use crate::Status;

    fn hpa(raw: u64) -> HostPhysAddr {
        HostPhysAddr::new(raw).unwrap()
    }

    #[test]
    fn key_config_and_simple_leaves() {
        let calls = [
            seamcall(31, Regs::ZERO, Regs::ZERO, 0x8000_0800_0000_0000),
            seamcall(31, Regs::ZERO, Regs::ZERO, 0),
        ];
        assert_eq!(
            with_script(&calls, |h| h.sys_key_config()),
            Ok(KeyConfig::Configured)
        );
        let calls = [seamcall(44, Regs::ZERO, regs!(JUNK;), 0)];
        with_script(&calls, |h| h.sys_lp_shutdown()).unwrap();
        let calls = [seamcall(53, Regs::ZERO, regs!(JUNK;), 0)];
        with_script(&calls, |h| h.sys_update()).unwrap();
        let e = 0xC000_0509_0000_0000;
        let calls = [seamcall(52, regs!(rcx: 0x102), regs!(rcx: 0x102), e)];
        assert_eq!(
            with_script(&calls, |h| h.sys_shutdown(0x102)),
            Err(Error::Status(Status::from_raw(e)))
        );
    }

    #[test]
    fn info() {
        let input = regs!(rcx: 0x1_0400, rdx: 1024, r8: 0x2_0200, r9: 32);
        let calls = [seamcall(32, input, regs!(input; rdx: 1024, r9: 32), 0)];
        // SAFETY: scripted backend; no instruction executes.
        let w = with_script(&calls, |h| unsafe {
            h.sys_info(hpa(0x1_0400), hpa(0x2_0200))
        })
        .unwrap();
        assert_eq!(
            w,
            SysInfoWritten {
                sysinfo_bytes: 1024,
                cmr_entries: 32
            }
        );
        // SAFETY: scripted backend; no instruction executes.
        assert!(matches!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.sys_info(hpa(0x1_0200), hpa(0x2_0200))
            })),
            InvalidReason::Misaligned { required: 1024, .. }
        ));
        // SAFETY: scripted backend; no instruction executes.
        assert!(matches!(
            // SAFETY: scripted backend; no instruction executes.
            rejection(without_call(|h| unsafe {
                h.sys_info(hpa(0x1_0400), hpa(0x2_0100))
            })),
            InvalidReason::Misaligned { required: 512, .. }
        ));
    }

    #[test]
    fn init_details_and_entropy() {
        let mismatch = regs!(rcx: 0x7, rdx: 1, r8: 2, r9: 3, r10: 4);
        let e = 0xC000_0900_0000_0000;
        let calls = [
            seamcall(33, Regs::ZERO, Regs::ZERO, 0x8000_0203_0000_0000),
            seamcall(33, Regs::ZERO, mismatch, e),
        ];
        let err = with_script(&calls, |h| h.sys_init()).unwrap_err();
        assert_eq!(
            err.details,
            Some(CpuidMismatch {
                leaf_subleaf: 7,
                rdx: 1,
                r8: 2,
                r9: 3,
                r10: 4
            })
        );
        let calls = [seamcall(35, Regs::ZERO, Regs::ZERO, 0)];
        with_script(&calls, |h| h.sys_lp_init()).unwrap();
        let e = 0xC000_0502_0000_0000;
        let calls = [seamcall(35, Regs::ZERO, Regs::ZERO, e)];
        let err = with_script(&calls, |h| h.sys_lp_init()).unwrap_err();
        assert_eq!(
            (err.error, err.details),
            (Error::Status(Status::from_raw(e)), None)
        );
    }

    #[test]
    fn tdmr_init_loops_until_done() {
        let base = 0x1_0000_0000;
        let input = regs!(rcx: base);
        let calls = [
            seamcall(36, input, regs!(input; rdx: base), 0),
            seamcall(36, input, regs!(input; rdx: base + (1 << 30)), 0),
            seamcall(36, input, regs!(input; rdx: base + (2 << 30)), 0),
        ];
        assert_eq!(
            with_script(&calls, |h| h.sys_tdmr_init(hpa(base), 2 << 30)),
            Ok(TdmrInit::Initialized)
        );
        let calls = [seamcall(36, input, input, 0x0000_0A03_0000_0000)];
        assert_eq!(
            with_script(&calls, |h| h.sys_tdmr_init(hpa(base), 2 << 30)),
            Ok(TdmrInit::AlreadyInitialized)
        );
        assert!(matches!(
            rejection(without_call(|h| h.sys_tdmr_init(hpa(base + 4096), 1 << 30))),
            InvalidReason::Misaligned { .. }
        ));
    }

    #[test]
    fn config() {
        let input = regs!(rcx: 0x3_0200, rdx: 3, r8: 0x21);
        let calls = [seamcall(45, input, regs!(JUNK;), 0)];
        with_script(&calls, |h| h.sys_config(hpa(0x3_0200), 3, Hkid::new(0x21))).unwrap();
        assert!(matches!(
            rejection(without_call(|h| h.sys_config(
                hpa(0x3_0200),
                65,
                Hkid::new(1)
            ))),
            InvalidReason::OutOfRange { value: 65, .. }
        ));
        assert!(matches!(
            rejection(without_call(|h| h.sys_config(
                hpa(0x3_0200),
                0,
                Hkid::new(1)
            ))),
            InvalidReason::OutOfRange { value: 0, .. }
        ));
        assert!(matches!(
            rejection(without_call(|h| h.sys_config(
                hpa(0x3_0100),
                1,
                Hkid::new(1)
            ))),
            InvalidReason::Misaligned { required: 512, .. }
        ));
    }
}
