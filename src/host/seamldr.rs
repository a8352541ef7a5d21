//! Run-time TDX module update through the persistent SEAM loader (P-SEAMLDR), and what a
//! [`Host`] learns about its module.
//!
//! # The update recipe
//!
//! As Linux's module-update code runs it (`torvalds/linux` b2128290 `seamldr.c`; release
//! **UNVERIFIED**), with every logical processor stopped in a `stop_machine`-like rendezvous
//! and the steps in lock step:
//!
//! 1. Before: [`Host::seamldr_info`] (SEAMLDR.INFO) says whether an update is allowed
//!    (`num_remaining_updates`), and the new image's SIGSTRUCT and pages are staged in
//!    host memory ([`SeamldrParams::update`]).
//! 2. One processor: [`Host::sys_shutdown`] (TDH.SYS.SHUTDOWN) with the handoff version
//!    the new module accepts; from then on the old module answers only
//!    TDH.SYS.LP.SHUTDOWN.
//! 3. Every processor, one after the other (the loader requires serial calls):
//!    [`Host::seamldr_install`] (SEAMLDR.INSTALL) with the same params page.
//! 4. Every processor: [`Host::sys_lp_init`] (TDH.SYS.LP.INIT) on the new module.
//! 5. One processor: [`Host::sys_update`] (TDH.SYS.UPDATE) to take over the handed-off
//!    state; running TDs continue.
//! 6. After: [`Host::learn_module`] again, so the version checks follow the new module.
//!
//! A failure before step 3 leaves the old module; after it, the platform needs the new
//! module to finish (Linux then marks TDX unusable). These calls go to the loader, not the
//! module, so a known module version never refuses them.

use super::Host;
use crate::abi::seamldr::{SeamldrInfo, SeamldrParams};
use crate::abi::HostPhysAddr;
use crate::call::{Backend, CallKind};
use crate::error::Result;
use crate::leaf::{KnownModule, SeamldrLeaf};
use crate::regs::Regs;
use crate::status::Status;

impl<B: Backend> Host<B> {
    /// Issues a P-SEAMLDR call with RCX = `rcx`.
    ///
    /// # Safety
    ///
    /// The loader reads or writes the structure at `rcx`.
    unsafe fn seamldr_call(&mut self, leaf: SeamldrLeaf, rcx: u64) -> Result<Status> {
        let mut regs = Regs { rcx, ..Regs::ZERO };
        // SAFETY: forwarded; the caller upholds the structure's contract.
        Status::check(unsafe { self.backend.call(CallKind::Seamcall, leaf.rax(), &mut regs) })
    }

    /// SEAMLDR.INFO (RAX = 0x8000000000000000): the loader writes [`SeamldrInfo`] at the
    /// physical address `info_pa`, which the caller maps at `info`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when `info_pa` is not
    /// 256-byte aligned (nothing runs); [`Error::Status`](crate::Error::Status).
    ///
    /// # Safety
    ///
    /// `info_pa` must be the physical address of `info`, which the loader overwrites (256
    /// bytes).
    #[inline]
    #[doc(alias = "SEAMLDR.INFO")]
    pub unsafe fn seamldr_info(
        &mut self,
        info_pa: HostPhysAddr,
        info: &mut SeamldrInfo,
    ) -> Result<SeamldrInfo> {
        crate::abi::check::check_address("info_pa", info_pa.raw(), 64, 256)?;
        // SAFETY: the loader writes the 256 bytes at info_pa, which is `info`.
        unsafe { self.seamldr_call(SeamldrLeaf::Info, info_pa.raw()) }?;
        // SAFETY: `info` is a valid, aligned reference the loader may have written
        // behind the compiler's back; a volatile read observes that.
        Ok(unsafe { core::ptr::read_volatile(info) })
    }

    /// SEAMLDR.INSTALL (RAX = 0x8000000000000001): install the module described by the
    /// [`SeamldrParams`] page at `params_pa`, on this logical processor (step 3 of the
    /// recipe in the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when `params_pa` is not
    /// 4 KiB aligned; [`Error::Status`](crate::Error::Status) (VMfailInvalid when the loader
    /// is busy with another call).
    ///
    /// # Safety
    ///
    /// `params_pa` must hold `params`, whose SIGSTRUCT and module pages stay untouched
    /// until every processor has installed; the old module must have been shut down
    /// (TDH.SYS.SHUTDOWN) and the caller must run the rest of the recipe.
    #[inline]
    #[doc(alias = "SEAMLDR.INSTALL")]
    pub unsafe fn seamldr_install(
        &mut self,
        params_pa: HostPhysAddr,
        params: &SeamldrParams,
    ) -> Result<Status> {
        let _ = params;
        crate::abi::check::check_address("params_pa", params_pa.raw(), 64, crate::abi::PAGE_SIZE)?;
        // SAFETY: the caller upholds the recipe; the loader reads the params page.
        unsafe { self.seamldr_call(SeamldrLeaf::Install, params_pa.raw()) }
    }

    /// Reads the module's version (TDH.SYS.RD of MAJOR/MINOR/UPDATE_VERSION) and
    /// TDX_FEATURES0, and remembers them ([`Host::set_module`]): from then on a leaf or leaf
    /// version that module does not have is refused before any instruction. A module
    /// without TDX_FEATURES0 (1.0) is remembered with `features0: None`.
    ///
    /// # Errors
    ///
    /// The errors of [`Host::module_info`]; the host then knows no module.
    pub fn learn_module(&mut self) -> Result<KnownModule> {
        self.forget_module();
        let version = self.module_info()?.version;
        let features0 = self.tdx_features0().ok();
        let known = KnownModule { version, features0 };
        self.set_module(known.version, known.features0);
        Ok(known)
    }
}
