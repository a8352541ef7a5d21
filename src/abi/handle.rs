//! Typed handles for the host-side control-structure pages, and the HKID.
//!
//! A handle is the host-physical address of a 4 KiB page the module uses as a control
//! structure: the TD root (TDR), a vCPU root (TDVPR), or a control-structure extension page
//! (TDCX: a TDCS page added with TDH.MNG.ADDCX or a TDVPS page added with TDH.VP.ADDCX).
//! The types stop a TDVPR being passed where a TDR is expected; the address checks (4 KiB
//! aligned, bits 51:0) run when a handle is made, before any call. Making a handle is safe:
//! the memory-safety contract sits on the leaves that hand the page to the module.

use super::addr::{check_address, HostPhysAddr, MAX_PHYS_ADDR_BITS, PAGE_SIZE};
use crate::error::{InvalidArgument, InvalidReason, Result};

macro_rules! page_handles {
    ($($(#[$doc:meta])* $name:ident, $what:literal;)*) => {$(
        $(#[$doc])*
        #[repr(transparent)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(HostPhysAddr);

        impl $name {
            /// The handle for the page at `hpa` (4 KiB aligned, bits 51:0, HKID bits 0).
            pub fn new(hpa: HostPhysAddr) -> Result<$name> {
                check_address($what, hpa.raw(), MAX_PHYS_ADDR_BITS, PAGE_SIZE)?;
                Ok($name(hpa))
            }

            /// The handle for the page at raw address `hpa`.
            pub fn from_raw(hpa: u64) -> Result<$name> {
                check_address($what, hpa, MAX_PHYS_ADDR_BITS, PAGE_SIZE)
                    .map(|hpa| $name(HostPhysAddr::from_raw_unchecked(hpa)))
            }

            /// The page's host-physical address.
            #[inline]
            pub const fn hpa(self) -> HostPhysAddr {
                self.0
            }

            /// The register value.
            #[inline]
            pub const fn raw(self) -> u64 {
                self.0.raw()
            }
        }
    )*};
}

page_handles! {
    /// The TD root page (TDR): the handle of a TD in every TD-scope leaf.
    TdrPage, "TDR";
    /// The vCPU root page (TDVPR): the handle of a vCPU in every vCPU-scope leaf.
    TdvprPage, "TDVPR";
    /// A control-structure extension page (TDCX): a TDCS page for TDH.MNG.ADDCX or a TDVPS
    /// page for TDH.VP.ADDCX.
    TdcxPage, "TDCX";
}

/// A host key identifier (HKID, an MKTME KeyID reserved for TDX), bits 15:0 of its operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hkid(u16);

impl Hkid {
    /// The HKID `raw`.
    #[inline]
    pub const fn new(raw: u16) -> Hkid {
        Hkid(raw)
    }

    /// An HKID from a 64-bit operand; bits 63:16 must be zero.
    pub fn from_u64(raw: u64) -> Result<Hkid> {
        if raw >> 16 != 0 {
            return Err(InvalidArgument {
                argument: "HKID",
                reason: InvalidReason::TooWide {
                    value: raw,
                    max_bits: 16,
                },
            }
            .into());
        }
        Ok(Hkid(raw as u16))
    }

    /// The HKID.
    #[inline]
    pub const fn raw(self) -> u16 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn handles_reject_misaligned_and_wide() {
        assert_eq!(TdrPage::from_raw(0x5000).unwrap().raw(), 0x5000);
        let misaligned = TdvprPage::from_raw(0x5008);
        assert!(matches!(
            misaligned,
            Err(Error::InvalidArgument(InvalidArgument {
                argument: "TDVPR",
                reason: InvalidReason::Misaligned {
                    value: 0x5008,
                    required: 4096
                }
            }))
        ));
        let wide = TdcxPage::from_raw(1 << 52);
        assert!(matches!(
            wide,
            Err(Error::InvalidArgument(InvalidArgument {
                reason: InvalidReason::TooWide { max_bits: 52, .. },
                ..
            }))
        ));
        let hpa = HostPhysAddr::new(0x1234).unwrap();
        assert!(TdrPage::new(hpa).is_err());
    }

    #[test]
    fn hkid_width() {
        assert_eq!(Hkid::from_u64(0xFFFF).unwrap().raw(), 0xFFFF);
        assert!(matches!(
            Hkid::from_u64(0x1_0000),
            Err(Error::InvalidArgument(InvalidArgument {
                reason: InvalidReason::TooWide { max_bits: 16, .. },
                ..
            }))
        ));
    }
}
