//! TD management: TDH.MNG.* leaves.

use super::{DetailedError, DetailedResult, Host};
use crate::abi::td_params::{CpuidLeaf, TdParams};
use crate::abi::FieldId;
use crate::abi::MetadataRead;
use crate::abi::{Hkid, HostPhysAddr, TdcxPage, TdrPage};
use crate::call::Backend;
use crate::error::{Error, Result};
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::{Operand, Status, StatusCode};

/// How TDH.MNG.KEY.CONFIG / TDH.SYS.KEY.CONFIG completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyConfig {
    /// TDX_SUCCESS: the key was programmed on this package.
    Configured,
    /// TDX_KEY_CONFIGURED (a warning): the key was already programmed on this package.
    AlreadyConfigured,
}

impl KeyConfig {
    pub(crate) fn from_status(status: crate::Status) -> KeyConfig {
        if status.is(StatusCode::KeyConfigured) {
            KeyConfig::AlreadyConfigured
        } else {
            KeyConfig::Configured
        }
    }
}

impl<B: Backend> Host<B> {
    /// TDH.MNG.ADDCX (leaf 1): add a TDCS page to a TD being built.
    ///
    /// RCX = the new TDCX page, RDX = TDR. No outputs. Retried on TDX_RND_NO_ENTROPY (the
    /// module makes the migration key when the last required TDCS page arrives).
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] with the module's status (e.g. TDX_OPERAND_BUSY, TDX_PAGE_METADATA_INCORRECT).
    ///
    /// # Safety
    ///
    /// On success the page at `tdcx` becomes a private page of the TD encrypted with its
    /// HKID: the host must not access it (nor hand it to anything else) until it is
    /// reclaimed with TDH.PHYMEM.PAGE.RECLAIM after the TD is torn down.
    #[inline]
    #[doc(alias = "TDH.MNG.ADDCX")]
    pub unsafe fn mng_addcx(&mut self, tdcx: TdcxPage, tdr: TdrPage) -> Result<()> {
        let mut regs = Regs {
            rcx: tdcx.raw(),
            rdx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the caller gives the page up as documented.
        let status = unsafe {
            self.call_retrying_entropy(Leaf::TdhMngAddcx, 0, &mut regs, StatusCode::RndNoEntropy)
        };
        Status::check(status).map(drop)
    }

    /// TDH.MNG.KEY.CONFIG (leaf 8): program the TD's private key on this package.
    ///
    /// RCX = TDR. No outputs. Run once on a logical processor of every package. Retried
    /// on TDX_KEY_GENERATION_FAILED (PCONFIG's entropy error), up to
    /// [`RND_NO_ENTROPY_ATTEMPTS`](crate::retry::RND_NO_ENTROPY_ATTEMPTS) calls.
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], e.g. TDX_OPERAND_BUSY with operand KET (187) when another
    /// package programs a key at the same time.
    #[inline]
    #[doc(alias = "TDH.MNG.KEY.CONFIG")]
    pub fn mng_key_config(&mut self, tdr: TdrPage) -> Result<KeyConfig> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: programs a key; no host memory changes hands.
        let status = unsafe {
            self.call_retrying_entropy(
                Leaf::TdhMngKeyConfig,
                0,
                &mut regs,
                StatusCode::KeyGenerationFailed,
            )
        };
        Status::check(status).map(KeyConfig::from_status)
    }

    /// TDH.MNG.CREATE (leaf 9): create a TD with root page `tdr` and private key `hkid`.
    ///
    /// RCX = TDR page, RDX = HKID (bits 15:0). No outputs. Retried on TDX_RND_NO_ENTROPY
    /// (the module makes the TD's UUID).
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], e.g. TDX_OPERAND_INVALID (RDX) for an HKID outside the TDX range.
    ///
    /// # Safety
    ///
    /// On success the TDR page belongs to the module: the host must not access it until
    /// it is reclaimed (TDH.PHYMEM.PAGE.RECLAIM) after the TD is torn down.
    #[inline]
    #[doc(alias = "TDH.MNG.CREATE")]
    pub unsafe fn mng_create(&mut self, tdr: TdrPage, hkid: Hkid) -> Result<()> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            rdx: hkid.raw().into(),
            ..Regs::ZERO
        };
        // SAFETY: the caller gives the page up as documented.
        let status = unsafe {
            self.call_retrying_entropy(Leaf::TdhMngCreate, 0, &mut regs, StatusCode::RndNoEntropy)
        };
        Status::check(status).map(drop)
    }

    /// TDH.MNG.VPFLUSHDONE (leaf 19): confirm every vCPU of the TD has been flushed, before
    /// its HKID is freed.
    ///
    /// RCX = TDR. No outputs. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], e.g. TDX_FLUSHVP_NOT_DONE.
    #[inline]
    #[doc(alias = "TDH.MNG.VPFLUSHDONE")]
    pub fn mng_vpflushdone(&mut self, tdr: TdrPage) -> Result<()> {
        self.tdr_only(Leaf::TdhMngVpflushdone, tdr).map(drop)
    }

    /// TDH.MNG.KEY.FREEID (leaf 20): free the TD's HKID once its caches are written back.
    ///
    /// RCX = TDR. No outputs. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`], e.g. TDX_WBCACHE_NOT_COMPLETE.
    #[inline]
    #[doc(alias = "TDH.MNG.KEY.FREEID")]
    pub fn mng_key_freeid(&mut self, tdr: TdrPage) -> Result<()> {
        self.tdr_only(Leaf::TdhMngKeyFreeid, tdr).map(drop)
    }

    /// TDH.MNG.INIT (leaf 21): initialize the TD from a TD_PARAMS structure.
    ///
    /// RCX = TDR, RDX = HPA of [`TdParams`] (1024-byte aligned, shared; the module only
    /// reads it). RCX is zeroed first; when a CPUID_CONFIG entry is rejected
    /// (TDX_OPERAND_INVALID with operand CPUID_CONFIG, 69) RCX holds the offending leaf
    /// (bits 31:0) and subleaf (bits 63:32), returned as the error's details.
    ///
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `td_params` is not 1024-byte aligned;
    /// [`Error::Status`] otherwise, with [`CpuidLeaf`] details for a CPUID_CONFIG error.
    #[inline]
    #[doc(alias = "TDH.MNG.INIT")]
    pub fn mng_init(
        &mut self,
        tdr: TdrPage,
        td_params: HostPhysAddr,
    ) -> DetailedResult<(), CpuidLeaf> {
        let td_params = HostPhysAddr::aligned(td_params.raw(), TdParams::ALIGN)?;
        let regs = Regs {
            rcx: tdr.raw(),
            rdx: td_params.raw(),
            ..Regs::ZERO
        };
        self.mng_init_regs(regs)
    }

    /// TDH.MNG.INIT with an event-filter list (modules with
    /// [`TdxFeatures0::EVENT_FILTERING`](crate::abi::TdxFeatures0::EVENT_FILTERING): 2.0.18
    /// reports it; 1.5.28 and later define its status codes).
    ///
    /// RCX = TDR | bit 0 (the event-filtering flag; the TDR address is in bits 63:1), RDX =
    /// TD_PARAMS as [`Host::mng_init`], R8 = `count` (bits 11:0) | the list's HPA (bits
    /// 51:12). Layout from newer-abi.md (2.0.18 `tdh_mng_init.c`); the format of a list
    /// entry is not typed here (**UNVERIFIED**).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a misaligned TD_PARAMS or list, a count above 4095,
    /// or (nothing runs) a known module that does not report EVENT_FILTERING;
    /// [`Error::Status`], e.g. TDX_EVENT_FILTER_INVALID, TDX_EVENT_FILTER_ORDER_INVALID.
    #[inline]
    #[doc(alias = "TDH.MNG.INIT")]
    pub fn mng_init_with_event_filter(
        &mut self,
        tdr: TdrPage,
        td_params: HostPhysAddr,
        filters: HostPhysAddr,
        count: u16,
    ) -> DetailedResult<(), CpuidLeaf> {
        let td_params = HostPhysAddr::aligned(td_params.raw(), TdParams::ALIGN)?;
        let filters = super::check_page("event filters", filters)?;
        let count = crate::abi::check::check_range("event filter count", count.into(), 0, 0xFFF)?;
        if let Some(known) = self.module() {
            let needed = crate::abi::TdxFeatures0::EVENT_FILTERING;
            if known
                .features0
                .is_some_and(|reported| !reported.contains(needed))
            {
                let refusal = crate::leaf::NotInModule {
                    leaf: Leaf::TdhMngInit,
                    version: 0,
                    module: known.version,
                    needs: Leaf::TdhMngInit.modules().first(),
                    missing_feature0: Some(needed),
                };
                let invalid = crate::error::InvalidArgument {
                    argument: "leaf",
                    reason: crate::error::InvalidReason::NotInModule(refusal),
                };
                return Err(Error::InvalidArgument(invalid).into());
            }
        }
        let regs = Regs {
            rcx: tdr.raw() | 1,
            rdx: td_params.raw(),
            r8: filters.raw() | count,
            ..Regs::ZERO
        };
        self.mng_init_regs(regs)
    }

    fn mng_init_regs(&mut self, mut regs: Regs) -> DetailedResult<(), CpuidLeaf> {
        // SAFETY: the module only reads TD_PARAMS (and the filter list); no host memory
        // changes hands.
        let status = unsafe { self.call(Leaf::TdhMngInit, 0, &mut regs) };
        if status.is_error() {
            let details = (status.is(StatusCode::OperandInvalid)
                && status.details_l2() == Operand::CPUID_CONFIG.id())
            .then(|| CpuidLeaf::from_u64(regs.rcx));
            return Err(DetailedError {
                error: Error::from(status),
                details,
            });
        }
        Ok(())
    }

    /// TDH.MNG.KEY.RECLAIMID (leaf 27): kept for compatibility; module 1.5 does nothing and
    /// returns TDX_SUCCESS.
    ///
    /// RCX = TDR (ignored). No outputs. Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::Status`] (e.g. a software code when no module is loaded).
    #[inline]
    #[doc(alias = "TDH.MNG.KEY.RECLAIMID")]
    pub fn mng_key_reclaimid(&mut self, tdr: TdrPage) -> Result<()> {
        self.tdr_only(Leaf::TdhMngKeyReclaimid, tdr).map(drop)
    }

    /// A leaf whose only input is RCX = TDR and whose only output is the status.
    #[inline]
    pub(crate) fn tdr_only(&mut self, leaf: Leaf, tdr: TdrPage) -> Result<crate::Status> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: only used for leaves that change module state, never host memory.
        let status = unsafe { self.call(leaf, 0, &mut regs) };
        Status::check(status)
    }
}

impl<B: Backend> Host<B> {
    /// TDH.MNG.RD v0 (leaf 11): read a TD-scope metadata field.
    ///
    /// RCX = TDR, RDX = field ID (context forced to TD). R8 = value (0 on error).
    /// Module 1.0+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a malformed field ID; [`Error::Status`], e.g.
    /// TDX_METADATA_FIELD_ID_INCORRECT.
    #[inline]
    #[doc(alias = "TDH.MNG.RD")]
    pub fn mng_rd(&mut self, tdr: TdrPage, field: FieldId) -> Result<u64> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            rdx: field.check_single_element()?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: a read into registers.
        Status::check(unsafe { self.call(Leaf::TdhMngRd, 0, &mut regs) })?;
        Ok(regs.r8)
    }

    /// TDH.MNG.RD v1 (leaf 11, version 1): read a TD-scope field and get the next field's
    /// ID (RDX), for iterating over the TD's metadata. A null field ID
    /// ([`FieldId::null`]) returns the first field ID.
    ///
    /// Module 1.5+.
    ///
    /// # Errors
    ///
    /// As [`Host::mng_rd`].
    #[inline]
    #[doc(alias = "TDH.MNG.RD")]
    pub fn mng_rd_next(&mut self, tdr: TdrPage, field: FieldId) -> Result<MetadataRead> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            rdx: field.check_read()?.raw(),
            ..Regs::ZERO
        };
        // SAFETY: a read into registers.
        let status = Status::check(unsafe { self.call(Leaf::TdhMngRd, 1, &mut regs) })?;
        Ok(MetadataRead::from_regs(status, regs.r8, regs.rdx))
    }

    /// TDH.MNG.WR (leaf 13): write the bits `mask` selects of a TD-scope field; returns
    /// the old value.
    ///
    /// RCX = TDR, RDX = field ID, R8 = value, R9 = write mask. R8 = old value (0 on error:
    /// zeroed first). Module 1.0+.
    ///
    /// # Errors
    ///
    /// As [`Host::mng_rd`], e.g. TDX_METADATA_FIELD_NOT_WRITABLE; [`Error::InvalidArgument`]
    /// also for a write mask wider than the field ID's element size
    /// ([`FieldId::check_write_mask`]).
    #[inline]
    #[doc(alias = "TDH.MNG.WR")]
    pub fn mng_wr(&mut self, tdr: TdrPage, field: FieldId, value: u64, mask: u64) -> Result<u64> {
        let mut regs = Regs {
            rcx: tdr.raw(),
            rdx: field.check_single_element()?.raw(),
            r8: value,
            r9: field.check_write_mask(mask)?,
            ..Regs::ZERO
        };
        // SAFETY: writes TD metadata only.
        Status::check(unsafe { self.call(Leaf::TdhMngWr, 0, &mut regs) })?;
        Ok(regs.r8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidReason;
    use crate::host::testing::*;

    const TDR: u64 = 0x7_0000_1000;
    fn tdr() -> TdrPage {
        TdrPage::from_raw(TDR).unwrap()
    }
    const NO_ENTROPY: u64 = 0x8000_0203_0000_0000;

    #[test]
    fn addcx_registers_and_entropy_retry() {
        let input = regs!(rcx: 0x5000, rdx: TDR);
        let calls = [
            seamcall(1, input, regs!(JUNK;), NO_ENTROPY),
            seamcall(1, input, input, 0),
        ];
        with_script(&calls, |host| {
            // SAFETY: scripted backend; nothing reaches a module.
            unsafe { host.mng_addcx(TdcxPage::from_raw(0x5000).unwrap(), tdr()) }.unwrap()
        });
    }

    #[test]
    fn create_gives_up_after_ten_entropy_failures() {
        let input = regs!(rcx: TDR, rdx: 0x1234);
        let calls = [seamcall(9, input, input, NO_ENTROPY); 10];
        let result = with_script(&calls, |host| {
            // SAFETY: scripted backend.
            unsafe { host.mng_create(tdr(), Hkid::new(0x1234)) }
        });
        assert_eq!(
            result,
            Err(Error::Status(crate::Status::from_raw(NO_ENTROPY)))
        );
    }

    #[test]
    fn key_config_warning_and_retry() {
        let input = regs!(rcx: TDR);
        let calls = [
            seamcall(8, input, input, 0x8000_0800_0000_0000),
            seamcall(8, input, input, 0x0000_0815_0000_0000),
        ];
        let r = with_script(&calls, |host| host.mng_key_config(tdr()));
        assert_eq!(r, Ok(KeyConfig::AlreadyConfigured));
        let calls = [seamcall(8, input, input, 0)];
        let r = with_script(&calls, |host| host.mng_key_config(tdr()));
        assert_eq!(r, Ok(KeyConfig::Configured));
        // BUSY is not retried.
        let busy = 0x8000_0200_0000_00BB;
        let calls = [seamcall(8, input, input, busy)];
        let r = with_script(&calls, |host| host.mng_key_config(tdr()));
        assert_eq!(r, Err(Error::Status(crate::Status::from_raw(busy))));
    }

    #[test]
    fn tdr_only_leaves() {
        let input = regs!(rcx: TDR);
        for (rax, leaf) in [(19u64, 0), (20, 1), (27, 2)] {
            let calls = [seamcall(rax, input, regs!(JUNK;), 0)];
            with_script(&calls, |host| match leaf {
                0 => host.mng_vpflushdone(tdr()),
                1 => host.mng_key_freeid(tdr()),
                _ => host.mng_key_reclaimid(tdr()),
            })
            .unwrap();
            let failure = 0x8000_0824_0000_0000;
            let calls = [seamcall(rax, input, input, failure)];
            let r = with_script(&calls, |host| match leaf {
                0 => host.mng_vpflushdone(tdr()),
                1 => host.mng_key_freeid(tdr()),
                _ => host.mng_key_reclaimid(tdr()),
            });
            assert_eq!(r, Err(Error::Status(crate::Status::from_raw(failure))));
        }
    }

    #[test]
    fn init_registers_details_and_alignment() {
        let params = HostPhysAddr::new(0x9_0400).unwrap();
        let input = regs!(rcx: TDR, rdx: 0x9_0400);
        let calls = [seamcall(21, input, regs!(input; rcx: 0), 0)];
        with_script(&calls, |host| host.mng_init(tdr(), params)).unwrap();
        // CPUID_CONFIG rejection: leaf/subleaf in RCX.
        let status = 0xC000_0100_0000_0045;
        let calls = [seamcall(
            21,
            input,
            regs!(input; rcx: 0x0000_0001_0000_0007),
            status,
        )];
        let err = with_script(&calls, |host| host.mng_init(tdr(), params)).unwrap_err();
        assert_eq!(err.status(), Some(crate::Status::from_raw(status)));
        assert_eq!(
            err.details,
            Some(CpuidLeaf {
                leaf: 7,
                subleaf: 1
            })
        );
        // Other operand: no details.
        let status = 0xC000_0100_0000_0040;
        let calls = [seamcall(21, input, regs!(input; rcx: 0), status)];
        let err = with_script(&calls, |host| host.mng_init(tdr(), params)).unwrap_err();
        assert_eq!(err.details, None);
        let odd = HostPhysAddr::new(0x9_0200).unwrap();
        assert!(matches!(
            rejection(without_call(|host| host.mng_init(tdr(), odd))),
            InvalidReason::Misaligned { required: 1024, .. }
        ));
    }
}
