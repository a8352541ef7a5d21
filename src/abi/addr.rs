//! Physical-address operand types.
//!
//! The ABI takes physical addresses, never pointers: host-physical (HPA) for pages the
//! module owns or reads, guest-physical (GPA) for TD memory. Each type checks width and
//! alignment when it is made, so a wrapper never executes with a malformed address.

use super::check::check_address;
use crate::error::Result;

/// The widest physical address the ABI encodes (bits 51:0).
pub const MAX_PHYS_ADDR_BITS: u32 = 52;
/// A 4 KiB page.
pub const PAGE_SIZE: u64 = 4096;
/// The ABI's null physical address, "no page" (all ones).
pub const NULL_PA: u64 = u64::MAX;

macro_rules! phys_addr_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[repr(transparent)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u64);

        impl $name {
            /// A byte address (bits 51:0, no alignment required).
            pub fn new(addr: u64) -> Result<$name> {
                check_address($what, addr, MAX_PHYS_ADDR_BITS, 1).map($name)
            }

            /// An address that must also be aligned to `align` bytes (a power of two).
            pub fn aligned(addr: u64, align: u64) -> Result<$name> {
                debug_assert!(align.is_power_of_two());
                check_address($what, addr, MAX_PHYS_ADDR_BITS, align).map($name)
            }

            /// A 4 KiB-aligned page address.
            pub fn page(addr: u64) -> Result<$name> {
                Self::aligned(addr, PAGE_SIZE)
            }

            /// The raw value.
            #[inline]
            pub const fn raw(self) -> u64 {
                self.0
            }

            /// Whether the address is aligned to `align` bytes.
            #[inline]
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }

            /// Wraps a value without checking it, for values that came from the module.
            #[inline]
            pub const fn from_raw_unchecked(addr: u64) -> $name {
                $name(addr)
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}:{:#x}", $what, self.0)
            }
        }
    };
}

phys_addr_type!(
    /// A host-physical address (HPA): bits 51:0, HKID bits included only where the leaf
    /// asks for them (TDH.PHYMEM.PAGE.WBINVD).
    HostPhysAddr,
    "HPA"
);

phys_addr_type!(
    /// A guest-physical address (GPA) of a TD, bits 51:0 (the shared bit included when the
    /// address is shared).
    GuestPhysAddr,
    "GPA"
);
