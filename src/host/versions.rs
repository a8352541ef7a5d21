//! Version 1 of the leaves that modules after 1.5.05 version: TDH.SYS.INIT,
//! TDH.SYS.CONFIG and TDH.SYS.UPDATE (1.5.28, 1.5.32, 2.0.18; SYS.INIT also 2.0.08), and
//! TDH.EXPORT.BLOCKW, TDH.EXPORT.RESTORE, TDH.EXPORT.MEM and TDH.IMPORT.MEM (1.5.32,
//! 2.0.18). The version-0 wrappers keep working on every module.
//!
//! From the dispatchers (`intel/tdx-module` 30d22188, 9fd3c8b1, e69a4391): these leaves
//! hand the leaf version to their handler, SYS.CONFIG also passes R9 and R10 and reads R8
//! as `sys_config_options_t`, SYS.UPDATE passes R9 and R10. The handlers were not read:
//! what version 1 changes, and what R9 and R10 mean, is **UNVERIFIED**. So the version-1
//! wrappers send the same registers as version 0 plus R9/R10 raw, and the one bit whose
//! meaning is published (newer-abi.md, 2.0.18: SYS.CONFIG R8 bit 16 enables Dynamic PAMT)
//! is typed.

use super::export::list_result;
use super::sys::CpuidMismatch;
use super::{DetailedResult, Host};
use crate::abi::mig::GpaListInfo;
use crate::abi::{Hkid, HostPhysAddr, TdrPage};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::Leaf;
use crate::xstate::Preserve;

use super::export::{ExportMem, MemBundle};

/// R8 of TDH.SYS.CONFIG version 1 above the HKID (bits 15:0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SysConfigOptions {
    /// Bit 16: enable Dynamic PAMT (TDH.PHYMEM.PAMT.ADD/REMOVE), where the module reports
    /// [`TdxFeatures0::DYNAMIC_PAMT`](crate::abi::TdxFeatures0::DYNAMIC_PAMT).
    pub dynamic_pamt: bool,
}

impl SysConfigOptions {
    /// R8 bit 16.
    pub const DYNAMIC_PAMT_BIT: u64 = 1 << 16;
}

impl<B: Backend> Host<B> {
    /// TDH.SYS.INIT version 1 (1.5.28 and later): as [`Host::sys_init`], RAX version 1.
    /// What version 1 changes in the module is **UNVERIFIED** (the handler was not read).
    ///
    /// # Errors
    ///
    /// As [`Host::sys_init`].
    #[inline]
    #[doc(alias = "TDH.SYS.INIT")]
    pub fn sys_init_v1(&mut self) -> DetailedResult<(), CpuidMismatch> {
        self.init_retrying(Leaf::TdhSysInit, 1)
    }

    /// TDH.SYS.CONFIG version 1 (1.5.28, 1.5.32, 2.0.18): RCX, RDX and the HKID in R8 as
    /// [`Host::sys_config`], R8 bit 16 from `options`, R9 and R10 raw (meanings
    /// **UNVERIFIED**; Linux's Dynamic-PAMT series passes zero).
    ///
    /// # Errors
    ///
    /// As [`Host::sys_config`].
    #[inline]
    #[doc(alias = "TDH.SYS.CONFIG")]
    pub fn sys_config_v1(
        &mut self,
        tdmr_pointers: HostPhysAddr,
        count: usize,
        hkid: Hkid,
        options: SysConfigOptions,
        r9: u64,
        r10: u64,
    ) -> Result<()> {
        let dynamic_pamt = if options.dynamic_pamt {
            SysConfigOptions::DYNAMIC_PAMT_BIT
        } else {
            0
        };
        self.sys_config_at(1, tdmr_pointers, count, hkid, dynamic_pamt, r9, r10)
    }

    /// TDH.SYS.UPDATE version 1 (1.5.28, 1.5.32, 2.0.18): R9 and R10 raw (meanings
    /// **UNVERIFIED**).
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDH.SYS.UPDATE")]
    pub fn sys_update_v1(&mut self, r9: u64, r10: u64) -> Result<()> {
        self.sys_update_at(1, r9, r10)
    }

    /// TDH.EXPORT.BLOCKW version 1 (1.5.32, 2.0.18): the registers of
    /// [`Host::export_blockw`] with RAX version 1 (what version 1 changes is
    /// **UNVERIFIED**). Returns the GPA list info the module left in RCX.
    ///
    /// # Errors
    ///
    /// As [`Host::export_blockw`].
    ///
    /// # Safety
    ///
    /// As [`Host::export_blockw`].
    #[inline]
    #[doc(alias = "TDH.EXPORT.BLOCKW")]
    pub unsafe fn export_blockw_v1(
        &mut self,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
    ) -> DetailedResult<GpaListInfo, GpaListInfo> {
        // SAFETY: the caller lends the list page.
        let (status, regs) = unsafe { self.gpa_list_call(Leaf::TdhExportBlockw, 1, gpa_list, tdr) };
        list_result(status, &regs)
    }

    /// TDH.EXPORT.RESTORE version 1 (1.5.32, 2.0.18): as [`Host::export_restore`], RAX
    /// version 1 (changes **UNVERIFIED**).
    ///
    /// # Errors
    ///
    /// As [`Host::export_restore`].
    ///
    /// # Safety
    ///
    /// As [`Host::export_restore`].
    #[inline]
    #[doc(alias = "TDH.EXPORT.RESTORE")]
    pub unsafe fn export_restore_v1(
        &mut self,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
    ) -> DetailedResult<GpaListInfo, GpaListInfo> {
        // SAFETY: the caller lends the list page.
        unsafe { self.export_restore_at(1, gpa_list, tdr) }
    }

    /// TDH.EXPORT.MEM version 1 (1.5.32, 2.0.18): as [`Host::export_mem`] (RCX, RDX,
    /// R8-R12), RAX version 1 (changes **UNVERIFIED**).
    ///
    /// # Errors
    ///
    /// As [`Host::export_mem`].
    ///
    /// # Safety
    ///
    /// As [`Host::export_mem`].
    #[inline]
    #[doc(alias = "TDH.EXPORT.MEM")]
    pub unsafe fn export_mem_v1(
        &mut self,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
        bundle: &MemBundle,
        preserve: Preserve<'_>,
    ) -> DetailedResult<ExportMem, GpaListInfo> {
        // SAFETY: the caller lends the buffers.
        unsafe { self.export_mem_at(1, gpa_list, tdr, bundle, preserve) }
    }

    /// TDH.IMPORT.MEM version 1 (1.5.32, 2.0.18): as [`Host::import_mem`] (RCX, RDX,
    /// R8-R13), RAX version 1 (changes **UNVERIFIED**).
    ///
    /// # Errors
    ///
    /// As [`Host::import_mem`].
    ///
    /// # Safety
    ///
    /// As [`Host::import_mem`].
    #[inline]
    #[doc(alias = "TDH.IMPORT.MEM")]
    pub unsafe fn import_mem_v1(
        &mut self,
        gpa_list: GpaListInfo,
        tdr: TdrPage,
        bundle: &MemBundle,
        new_pages: Option<HostPhysAddr>,
        preserve: Preserve<'_>,
    ) -> DetailedResult<GpaListInfo, GpaListInfo> {
        // SAFETY: the caller lends the buffers and gives the new pages up.
        unsafe { self.import_mem_at(1, gpa_list, tdr, bundle, new_pages, preserve) }
    }
}
