//! Module and platform management: TDH.SYS.* leaves.

use super::mng::KeyConfig;
use super::{DetailedError, DetailedResult, Host};
use crate::abi::addr::MAX_PHYS_ADDR_BITS;
use crate::abi::check::{check_range, check_span};
use crate::abi::sysinfo::{TdSysInfo, CMR_INFO_ALIGN, MAX_CMRS, MAX_TDMRS, TDMR_INFO_ALIGN};
use crate::abi::td_params::{CpuidConfig, CpuidLeaf, CpuidValues};
use crate::abi::MetadataRead;
use crate::abi::{Attributes, Context, FieldId, TdxFeatures0, Xfam};
use crate::abi::{Hkid, HostPhysAddr};
use crate::call::Backend;
use crate::error::{Error, Result};
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::{Status, StatusCode};

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

pub(crate) fn cpuid_details(status: crate::Status, regs: &Regs) -> DetailedError<CpuidMismatch> {
    let details =
        (status.class() == PLATFORM_CLASS && !status.is_software()).then_some(CpuidMismatch {
            leaf_subleaf: regs.rcx,
            rdx: regs.rdx,
            r8: regs.r8,
            r9: regs.r9,
            r10: regs.r10,
        });
    DetailedError {
        error: Error::from(status),
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
    /// TDX_KEY_GENERATION_FAILED up to [`RND_NO_ENTROPY_ATTEMPTS`](crate::retry::RND_NO_ENTROPY_ATTEMPTS)
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
                StatusCode::KeyGenerationFailed,
            )
        };
        Status::check(status).map(KeyConfig::from_status)
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
        Status::check(unsafe { self.call(Leaf::TdhSysInfo, 0, &mut regs) })?;
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
        self.init_retrying(Leaf::TdhSysInit, 0)
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
        self.init_retrying(Leaf::TdhSysLpInit, 0)
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
    /// [`Error::InvalidArgument`] for a misaligned base, a size that is zero or not a
    /// multiple of 1 GiB, or a TDMR that would end above 2^52; [`Error::Status`].
    #[inline]
    #[doc(alias = "TDH.SYS.TDMR.INIT")]
    pub fn sys_tdmr_init(&mut self, tdmr_base: HostPhysAddr, tdmr_size: u64) -> Result<TdmrInit> {
        const GIB: u64 = 1 << 30;
        let base = HostPhysAddr::aligned(tdmr_base.raw(), GIB)?.raw();
        let end = check_span("TDMR size", base, tdmr_size, GIB, MAX_PHYS_ADDR_BITS)?;
        let max_calls = tdmr_size / crate::abi::PAGE_SIZE + 1;
        for _ in 0..max_calls {
            let mut regs = Regs {
                rcx: base,
                ..Regs::ZERO
            };
            // SAFETY: initializes module-owned PAMT memory; no host memory changes hands.
            let status = Status::check(unsafe { self.call(Leaf::TdhSysTdmrInit, 0, &mut regs) })?;
            if status.is(StatusCode::TdmrAlreadyInitialized) {
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
        Status::check(unsafe { self.call(Leaf::TdhSysLpShutdown, 0, &mut regs) }).map(drop)
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
        self.sys_config_at(0, tdmr_pointers, count, hkid, 0, 0, 0)
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
        Status::check(unsafe { self.call(Leaf::TdhSysShutdown, 0, &mut regs) }).map(drop)
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
        self.sys_update_at(0, 0, 0)
    }

    /// TDH.SYS.INIT or TDH.SYS.LP.INIT at leaf version `version`: no inputs, retried on
    /// TDX_RND_NO_ENTROPY, [`CpuidMismatch`] details on a class-0x09 failure.
    #[inline]
    pub(super) fn init_retrying(
        &mut self,
        leaf: Leaf,
        version: u8,
    ) -> DetailedResult<(), CpuidMismatch> {
        let mut regs = Regs::ZERO;
        // SAFETY: initializes the module; no host memory changes hands.
        let status = unsafe {
            self.call_retrying_entropy(leaf, version, &mut regs, StatusCode::RndNoEntropy)
        };
        if status.is_error() {
            return Err(cpuid_details(status, &regs));
        }
        Ok(())
    }

    /// TDH.SYS.CONFIG at leaf version `version`: the count and alignment checks, then
    /// RCX = array, RDX = count, R8 = HKID | `r8_options`, R9, R10 (all zero at version 0).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sys_config_at(
        &mut self,
        version: u8,
        tdmr_pointers: HostPhysAddr,
        count: usize,
        hkid: Hkid,
        r8_options: u64,
        r9: u64,
        r10: u64,
    ) -> Result<()> {
        check_range("TDMR count", count as u64, 1, MAX_TDMRS as u64)?;
        let mut regs = Regs {
            rcx: HostPhysAddr::aligned(tdmr_pointers.raw(), TDMR_INFO_ALIGN)?.raw(),
            rdx: count as u64,
            r8: u64::from(hkid.raw()) | r8_options,
            r9,
            r10,
            ..Regs::ZERO
        };
        // SAFETY: the module reads the TDMR_INFO array only.
        Status::check(unsafe { self.call(Leaf::TdhSysConfig, version, &mut regs) }).map(drop)
    }

    /// TDH.SYS.UPDATE at leaf version `version`, R9 and R10 as given (zero at version 0).
    #[inline]
    pub(super) fn sys_update_at(&mut self, version: u8, r9: u64, r10: u64) -> Result<()> {
        let mut regs = Regs {
            r9,
            r10,
            ..Regs::ZERO
        };
        // SAFETY: module state only.
        Status::check(unsafe { self.call(Leaf::TdhSysUpdate, version, &mut regs) }).map(drop)
    }
}

/// Global (platform-context) metadata fields the typed reads use: the crate's one field
/// table, [`crate::abi::fields::sys`].
pub use crate::abi::fields::sys as global_field;

/// The module's identity, from the global metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ModuleInfo {
    /// MAJOR.MINOR.UPDATE.
    pub version: crate::leaf::ModuleVersion,
    /// BUILD_NUM.
    pub build_num: u16,
    /// BUILD_DATE (BCD yyyymmdd).
    pub build_date: u32,
    /// VENDOR_ID.
    pub vendor_id: u32,
}

/// Base sizes of the control structures, in bytes (the host allocates TDCS and TDVPS as
/// that many bytes' worth of 4 KiB pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ControlStructSizes {
    /// TDR_BASE_SIZE.
    pub tdr: u64,
    /// TDCS_BASE_SIZE.
    pub tdcs: u64,
    /// TDVPS_BASE_SIZE.
    pub tdvps: u64,
}

/// A FIXED0/FIXED1 pair: bits clear in `fixed0` must be 0, bits set in `fixed1` must be 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fixed<T> {
    /// The bits that may be 1.
    pub fixed0: T,
    /// The bits that must be 1.
    pub fixed1: T,
}

/// What TDH.SYS.RDALL did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RdAll {
    /// R8: the next field ID to start from, `None` when every field was listed.
    pub next: Option<FieldId>,
    /// TDX_METADATA_LIST_OVERFLOW: the page filled up before the last field.
    pub overflowed: bool,
}

/// An iterator over every global metadata field, driven by TDH.SYS.RD's next-field IDs
/// (no allocation). Yields `(field ID, value)`; after an error it ends.
#[derive(Debug)]
pub struct SysFields<'h, B: Backend> {
    host: &'h mut Host<B>,
    next: Option<FieldId>,
}

impl<B: Backend> Iterator for SysFields<'_, B> {
    type Item = Result<(FieldId, u64)>;

    fn next(&mut self) -> Option<Self::Item> {
        let field = self.next.take()?;
        match self.host.sys_rd(field) {
            Ok(read) => {
                self.next = read.next;
                Some(Ok((field, read.value)))
            }
            Err(error) => Some(Err(error)),
        }
    }
}

/// The configurable CPUID leaves (CPUID_CONFIG_LEAVES with CPUID_CONFIG_VALUES), read one
/// entry per iteration through TDH.SYS.RD.
#[derive(Debug)]
pub struct CpuidConfigs<'h, B: Backend> {
    host: &'h mut Host<B>,
    index: u32,
    count: u32,
}

impl<B: Backend> Iterator for CpuidConfigs<'_, B> {
    type Item = Result<CpuidConfig>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            return None;
        }
        let i = self.index;
        self.index += 1;
        let mut read = || -> Result<CpuidConfig> {
            let leaf = self
                .host
                .sys_rd_value(global_field::CPUID_CONFIG_LEAVES.element(i)?)?;
            let low = self
                .host
                .sys_rd_value(global_field::CPUID_CONFIG_VALUES.element(2 * i)?)?;
            let high = self
                .host
                .sys_rd_value(global_field::CPUID_CONFIG_VALUES.element(2 * i + 1)?)?;
            Ok(CpuidConfig {
                leaf: CpuidLeaf::from_u64(leaf),
                values: CpuidValues::from_u64_pair(low, high),
            })
        };
        let result = read();
        if result.is_err() {
            self.index = self.count;
        }
        Some(result)
    }
}

impl<B: Backend> Host<B> {
    /// TDH.SYS.RD (leaf 34): read a global metadata field and the next field's ID.
    ///
    /// RDX = field ID (a null ID asks for the first field). RDX = next field ID (−1 after
    /// the last or on error), R8 = value. Module 1.5+; needs TDH.SYS.LP.INIT on this
    /// logical processor.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a malformed field ID; [`Error::Status`], e.g.
    /// TDX_METADATA_FIELD_ID_INCORRECT, TDX_SYS_LP_INIT_NOT_DONE.
    #[inline]
    #[doc(alias = "TDH.SYS.RD")]
    pub fn sys_rd(&mut self, field: FieldId) -> Result<MetadataRead> {
        let mut regs = Regs {
            rdx: field.check_read()?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: a read into registers.
        let status = Status::check(unsafe { self.call(Leaf::TdhSysRd, 0, &mut regs) })?;
        Ok(MetadataRead::from_regs(status, regs.r8, regs.rdx))
    }

    fn sys_rd_value(&mut self, field: FieldId) -> Result<u64> {
        self.sys_rd(field).map(|read| read.value)
    }

    /// Every global metadata field, through TDH.SYS.RD and its next-field IDs: the first
    /// call reads the null ID to learn the first field.
    ///
    /// # Errors
    ///
    /// Each item is a [`Result`]: a failing read ends the iteration after yielding it.
    pub fn sys_fields(&mut self) -> Result<SysFields<'_, B>> {
        let first = self.sys_rd(FieldId::null(Context::Platform))?;
        Ok(SysFields {
            host: self,
            next: first.next,
        })
    }

    /// TDH.SYS.RDALL (leaf 37): write global metadata fields, starting at `start`, into the
    /// list page at `page` (parse it with [`MetadataList::parse`](super::metadata::MetadataList::parse)).
    ///
    /// RDX = page HPA (4 KiB, shared), R8 = start field ID. R8 = next field ID (−1 when
    /// done). TDX_METADATA_LIST_OVERFLOW is reported as `overflowed` (call again from
    /// `next`). Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a misaligned page or malformed start ID;
    /// [`Error::Status`].
    ///
    /// # Safety
    ///
    /// The module writes up to 4 KiB at `page`: host memory the caller owns for the call.
    #[inline]
    #[doc(alias = "TDH.SYS.RDALL")]
    pub unsafe fn sys_rdall(&mut self, page: HostPhysAddr, start: FieldId) -> Result<RdAll> {
        let mut regs = Regs {
            rdx: super::check_page("list page", page)?.raw(),
            r8: start.check_read()?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller lends the page.
        let status = unsafe { self.call(Leaf::TdhSysRdall, 0, &mut regs) };
        let overflowed = status.is(StatusCode::MetadataListOverflow);
        if !overflowed {
            Status::check(status)?;
        }
        Ok(RdAll {
            next: FieldId::from_next(regs.r8),
            overflowed,
        })
    }

    /// The module's version and build (MAJOR/MINOR/UPDATE_VERSION, BUILD_NUM, BUILD_DATE,
    /// VENDOR_ID), via TDH.SYS.RD.
    ///
    /// # Errors
    ///
    /// As [`Host::sys_rd`].
    pub fn module_info(&mut self) -> Result<ModuleInfo> {
        Ok(ModuleInfo {
            version: crate::leaf::ModuleVersion {
                major: self.sys_rd_value(global_field::MAJOR_VERSION)? as u8,
                minor: self.sys_rd_value(global_field::MINOR_VERSION)? as u8,
                update: self.sys_rd_value(global_field::UPDATE_VERSION)? as u8,
            },
            build_num: self.sys_rd_value(global_field::BUILD_NUM)? as u16,
            build_date: self.sys_rd_value(global_field::BUILD_DATE)? as u32,
            vendor_id: self.sys_rd_value(global_field::VENDOR_ID)? as u32,
        })
    }

    /// TDX_FEATURES0, via TDH.SYS.RD ([`TdxFeatures0::has_no_rbp_mod`] tells whether
    /// CONFIG_FLAGS.NO_RBP_MOD may be used).
    ///
    /// # Errors
    ///
    /// As [`Host::sys_rd`].
    pub fn tdx_features0(&mut self) -> Result<TdxFeatures0> {
        self.sys_rd_value(global_field::TDX_FEATURES0)
            .map(TdxFeatures0::from_bits_retain)
    }

    /// ATTRIBUTES_FIXED0/1, via TDH.SYS.RD.
    ///
    /// # Errors
    ///
    /// As [`Host::sys_rd`].
    pub fn attributes_fixed(&mut self) -> Result<Fixed<Attributes>> {
        Ok(Fixed {
            fixed0: Attributes::from_bits_retain(
                self.sys_rd_value(global_field::ATTRIBUTES_FIXED0)?,
            ),
            fixed1: Attributes::from_bits_retain(
                self.sys_rd_value(global_field::ATTRIBUTES_FIXED1)?,
            ),
        })
    }

    /// XFAM_FIXED0/1, via TDH.SYS.RD.
    ///
    /// # Errors
    ///
    /// As [`Host::sys_rd`].
    pub fn xfam_fixed(&mut self) -> Result<Fixed<Xfam>> {
        Ok(Fixed {
            fixed0: Xfam::from_bits_retain(self.sys_rd_value(global_field::XFAM_FIXED0)?),
            fixed1: Xfam::from_bits_retain(self.sys_rd_value(global_field::XFAM_FIXED1)?),
        })
    }

    /// TDR/TDCS/TDVPS base sizes, via TDH.SYS.RD.
    ///
    /// # Errors
    ///
    /// As [`Host::sys_rd`].
    pub fn control_struct_sizes(&mut self) -> Result<ControlStructSizes> {
        Ok(ControlStructSizes {
            tdr: self.sys_rd_value(global_field::TDR_BASE_SIZE)?,
            tdcs: self.sys_rd_value(global_field::TDCS_BASE_SIZE)?,
            tdvps: self.sys_rd_value(global_field::TDVPS_BASE_SIZE)?,
        })
    }

    /// The configurable CPUID leaves and their configurable bits (NUM_CPUID_CONFIG
    /// entries of CPUID_CONFIG_LEAVES and CPUID_CONFIG_VALUES), in the order TD_PARAMS
    /// wants them, via TDH.SYS.RD.
    ///
    /// # Errors
    ///
    /// As [`Host::sys_rd`] (reading NUM_CPUID_CONFIG; each item is a [`Result`] too).
    pub fn cpuid_configs(&mut self) -> Result<CpuidConfigs<'_, B>> {
        let count = self.sys_rd_value(global_field::NUM_CPUID_CONFIG)? as u32;
        Ok(CpuidConfigs {
            host: self,
            index: 0,
            count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidReason;
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
