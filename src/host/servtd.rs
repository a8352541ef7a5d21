//! Service-TD binding: TDH.SERVTD.* leaves.

use super::Host;
use crate::abi::check::invalid;
use crate::abi::mig::ServtdAttr;
use crate::abi::{HostPhysAddr, TdrPage};
use crate::call::Backend;
use crate::error::{InvalidReason, Result};
use crate::leaf::Leaf;
use crate::regs::Regs;
use crate::status::Status;

/// The alignment of the SERVTD_INFO_HASH buffer of TDH.SERVTD.PREBIND.
pub const SERVTD_INFO_HASH_ALIGN: u64 = 64;

/// A binding made by TDH.SERVTD.BIND.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServtdBinding {
    /// RCX: the binding handle the service TD uses in TDG.SERVTD.RD/WR.
    pub handle: u64,
    /// R10-R13: the target TD's UUID.
    pub target_uuid: [u64; 4],
}

/// Which binding slot and service-TD type a bind uses (R8 and R9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServtdSlot {
    /// R8: the slot index (< MAX_SERV_TDS, which is 1 in module 1.5).
    pub slot: u64,
    /// R9: the service-TD type (16 bits; 0 = migration TD).
    pub servtd_type: u16,
}

impl<B: Backend> Host<B> {
    /// TDH.SERVTD.BIND (leaf 48): bind service TD `servtd` to `target`.
    ///
    /// RCX = target TDR, RDX = service TDR, R8 = slot, R9 = type, R10 = SERVTD_ATTR.
    /// RCX = binding handle, R10-R13 = target TD UUID (all zeroed first). Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when `servtd` is `target`
    /// (the ABI requires two different TDs; nothing runs);
    /// [`Error::Status`](crate::Error::Status), e.g. TDX_SERVTD_ALREADY_BOUND_FOR_TYPE.
    #[inline]
    #[doc(alias = "TDH.SERVTD.BIND")]
    pub fn servtd_bind(
        &mut self,
        target: TdrPage,
        servtd: TdrPage,
        slot: ServtdSlot,
        attr: ServtdAttr,
    ) -> Result<ServtdBinding> {
        if servtd == target {
            return Err(invalid(
                "service TD TDR",
                InvalidReason::NotDistinct {
                    value: servtd.raw(),
                    other: "target TD TDR",
                },
            )
            .into());
        }
        let mut regs = Regs {
            rcx: target.raw(),
            rdx: servtd.raw(),
            r8: slot.slot,
            r9: slot.servtd_type.into(),
            r10: attr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: changes module state only.
        Status::check(unsafe { self.call(Leaf::TdhServtdBind, 0, &mut regs) })?;
        Ok(ServtdBinding {
            handle: regs.rcx,
            target_uuid: [regs.r10, regs.r11, regs.r12, regs.r13],
        })
    }

    /// TDH.SERVTD.PREBIND (leaf 49): pre-bind a service TD, known by its 48-byte
    /// SERVTD_INFO_HASH, to `target` before the service TD exists.
    ///
    /// RCX = target TDR, RDX = HPA of the hash (64-byte aligned; read only), R8 = slot,
    /// R9 = type, R10 = SERVTD_ATTR. Module 1.5+.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a misaligned hash;
    /// [`Error::Status`](crate::Error::Status).
    #[inline]
    #[doc(alias = "TDH.SERVTD.PREBIND")]
    pub fn servtd_prebind(
        &mut self,
        target: TdrPage,
        info_hash: HostPhysAddr,
        slot: ServtdSlot,
        attr: ServtdAttr,
    ) -> Result<()> {
        let mut regs = Regs {
            rcx: target.raw(),
            rdx: HostPhysAddr::aligned(info_hash.raw(), SERVTD_INFO_HASH_ALIGN)?.raw(),
            r8: slot.slot,
            r9: slot.servtd_type.into(),
            r10: attr.raw(),
            ..Regs::ZERO
        };
        // SAFETY: the module reads the hash only.
        Status::check(unsafe { self.call(Leaf::TdhServtdPrebind, 0, &mut regs) }).map(drop)
    }

    /// TDH.SERVTD.REBIND (leaf 97): rebind a target TD to a new service TD, after the
    /// service TD bound now approved it with TDG.SERVTD.REBIND.APPROVE.
    ///
    /// **Dispatched by no module read.** The leaf number is in the 1.5.32 and 2.0.18 leaf
    /// enums (`include/tdx_api_defs.h`), but neither those dispatchers nor 2.0.08's have a
    /// case for it: they answer TDX_OPERAND_INVALID(RAX). Its registers are **UNVERIFIED**
    /// (no handler read; by analogy with [`Host::servtd_bind`] one would expect the target
    /// and service TDRs, slot, type and attributes in, a binding handle and UUID out, but
    /// nothing confirms it). So the wrapper is raw: RAX = leaf 97, version 0, every other
    /// register from `regs`, and `regs` holds what the module left. A host that knows its
    /// module ([`Host::learn_module`]) refuses it for every read version (the leaf table
    /// has it in none) with nothing run; one told nothing issues it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) with
    /// [`InvalidReason::NotInModule`] from a version-aware host (nothing runs);
    /// [`Error::Status`](crate::Error::Status), e.g. TDX_OPERAND_INVALID(RAX) from every
    /// module read.
    ///
    /// # Safety
    ///
    /// What the module does with the registers is not known: the caller must know the
    /// module's ABI for this leaf (which TDs and pages it changes) and uphold it.
    #[inline]
    #[doc(alias = "TDH.SERVTD.REBIND")]
    pub unsafe fn servtd_rebind(&mut self, regs: &mut Regs) -> Result<Status> {
        // SAFETY: the caller upholds the module's contract for this leaf.
        Status::check(unsafe { self.call(Leaf::TdhServtdRebind, 0, regs) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InvalidReason;
    use crate::host::testing::*;
    use crate::{Error, Status};

    const SLOT: ServtdSlot = ServtdSlot {
        slot: 0,
        servtd_type: 0x22,
    };

    #[test]
    fn bind_and_prebind() {
        let target = TdrPage::from_raw(0x1000).unwrap();
        let servtd = TdrPage::from_raw(0x2000).unwrap();
        let attr = ServtdAttr::new(1 | 1 << 33).unwrap();
        let input = regs!(rcx: 0x1000, rdx: 0x2000, r8: 0, r9: 0x22, r10: 1 | 1 << 33);
        let out = regs!(JUNK; rcx: 0xAA, r10: 1, r11: 2, r12: 3, r13: 4);
        let calls = [seamcall(48, input, out, 0)];
        let b = with_script(&calls, |h| h.servtd_bind(target, servtd, SLOT, attr)).unwrap();
        assert_eq!(
            b,
            ServtdBinding {
                handle: 0xAA,
                target_uuid: [1, 2, 3, 4]
            }
        );
        let e = 0xC000_0D00_0000_0000;
        let calls = [seamcall(48, input, regs!(rcx: 0), e)];
        assert_eq!(
            with_script(&calls, |h| h.servtd_bind(target, servtd, SLOT, attr)),
            Err(Error::Status(Status::from_raw(e)))
        );

        let input = regs!(rcx: 0x1000, rdx: 0x3040, r8: 0, r9: 0x22, r10: 1 | 1 << 33);
        let calls = [seamcall(49, input, regs!(JUNK;), 0)];
        with_script(&calls, |h| {
            h.servtd_prebind(target, HostPhysAddr::new(0x3040).unwrap(), SLOT, attr)
        })
        .unwrap();
        assert!(matches!(
            rejection(without_call(|h| h.servtd_prebind(
                target,
                HostPhysAddr::new(0x3020).unwrap(),
                SLOT,
                attr
            ))),
            InvalidReason::Misaligned { required: 64, .. }
        ));
    }
    #[test]
    fn rebind_sends_the_registers_as_given() {
        let input = regs!(rcx: 0x1000, rdx: 0x2000, r8: 3, r9: 4, r10: 5, r15: 6);
        let out = regs!(JUNK; rcx: 0xAB, r10: 7);
        let calls = [seamcall(97, input, out, 0)];
        let mut regs = input;
        // SAFETY: scripted backend.
        let status = with_script(&calls, |h| unsafe { h.servtd_rebind(&mut regs) }).unwrap();
        assert_eq!(status, Status::SUCCESS);
        assert_eq!(regs, out, "the module's registers come back");
        let e = 0xC000_0100_0000_0000;
        let calls = [seamcall(97, input, regs!(JUNK;), e)];
        let mut regs = input;
        assert_eq!(
            // SAFETY: scripted backend.
            with_script(&calls, |h| unsafe { h.servtd_rebind(&mut regs) }),
            Err(Error::Status(Status::from_raw(e)))
        );
    }
}
