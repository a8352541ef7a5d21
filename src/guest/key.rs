//! TDG.MR.KEY.GET (TDCALL 29): a sealing key derived for this TD, and what a [`Guest`]
//! learns about its module.
//!
//! Dispatched by 1.5.32 and 2.0.18 (not 2.0.08: the leaf table). Registers from the 1.5.32
//! handler (`intel/tdx-module` 9fd3c8b1, `src/td_dispatcher/vm_exits/tdg_mr_key_get.c`),
//! the same dispatch in 2.0.18 (e69a4391): RCX = GPA of the TDKEYREQUEST structure (read),
//! RDX = GPA of the 32-byte key output (written), R8 = requestor info (a requestor type in
//! the low bits, the rest reserved; the field layout is passed raw, **UNVERIFIED**). On
//! success R9 = the key size in bits (128 shifted by the key-size index). The module needs
//! CONFIG_FLAGS.SEALING (or the TD_CTLS hardware-keys control) and answers
//! TDX_MR_KEY_GET_NOT_SUPPORTED otherwise; the two alignments it checks (of RCX and RDX)
//! are named constants in the handler whose values were not read, so the wrapper checks
//! only that the GPAs are valid.

use super::Guest;
use crate::abi::fields::sys as global_field;
use crate::abi::{GuestPhysAddr, TdxFeatures0};
use crate::call::Backend;
use crate::error::Result;
use crate::leaf::{KnownModule, Leaf, ModuleVersion};
use crate::regs::Regs;
use crate::status::Status;

/// What TDG.MR.KEY.GET returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyGet {
    /// R9: the size of the key written at the output GPA, in bits.
    pub key_bits: u64,
}

impl<B: Backend> Guest<B> {
    /// TDG.MR.KEY.GET (leaf 29): the module derives a key from the TDKEYREQUEST at
    /// `request` and writes it at `output`.
    ///
    /// RCX = `request`, RDX = `output`, R8 = `requestor_info` (raw). Out: R9 = key size.
    ///
    /// # Errors
    ///
    /// [`Error::Status`](crate::Error::Status): TDX_MR_KEY_GET_NOT_SUPPORTED,
    /// TDX_OPERAND_INVALID with operand RCX, RDX, R8, KEYNAME or KEYSIZE_BITMAP,
    /// TDX_SVN_INVALID; TDX_OPERAND_INVALID(RAX) from a module without the leaf.
    ///
    /// # Safety
    ///
    /// The module writes the key (up to 32 bytes) at `output`: that private memory must be
    /// the caller's to overwrite.
    #[inline]
    #[doc(alias = "TDG.MR.KEY.GET")]
    pub unsafe fn mr_key_get(
        &mut self,
        request: GuestPhysAddr,
        output: GuestPhysAddr,
        requestor_info: u64,
    ) -> Result<KeyGet> {
        let mut regs = Regs {
            rcx: request.raw(),
            rdx: output.raw(),
            r8: requestor_info,
            ..Regs::ZERO
        };
        // SAFETY: the caller owns the output memory the module writes.
        Status::check(unsafe { self.call(Leaf::TdgMrKeyGet, 0, &mut regs) })?;
        Ok(KeyGet { key_bits: regs.r9 })
    }

    /// Reads the module's version and TDX_FEATURES0 with TDG.SYS.RD and remembers them
    /// ([`Guest::set_module`]): from then on a leaf or leaf version that module does not
    /// have is refused before any instruction.
    ///
    /// # Errors
    ///
    /// The errors of [`Guest::sys_rd`] for the version fields (TDG.SYS.RD itself needs
    /// module 1.5); the guest then knows no module.
    pub fn learn_module(&mut self) -> Result<KnownModule> {
        self.forget_module();
        let major = self.sys_rd(global_field::MAJOR_VERSION)?.value as u8;
        let minor = self.sys_rd(global_field::MINOR_VERSION)?.value as u8;
        let update = self.sys_rd(global_field::UPDATE_VERSION)?.value as u8;
        let features0 = self
            .sys_rd(global_field::TDX_FEATURES0)
            .ok()
            .map(|read| TdxFeatures0::from_bits_retain(read.value));
        let known = KnownModule {
            version: ModuleVersion::new(major, minor, update),
            features0,
        };
        self.set_module(known.version, known.features0);
        Ok(known)
    }
}
