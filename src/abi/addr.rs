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
            /// A byte address (bits 51:0, no alignment required). `const`: in a constant,
            /// match on the result or use
            #[doc = concat!("[`", stringify!($name), "::new_const`].")]
            ///
            /// # Errors
            ///
            /// [`InvalidReason::TooWide`](crate::error::InvalidReason::TooWide) above bit 51.
            pub const fn new(addr: u64) -> Result<$name> {
                match check_address($what, addr, MAX_PHYS_ADDR_BITS, 1) {
                    Ok(addr) => Ok($name(addr)),
                    Err(error) => Err(error),
                }
            }

            /// An address that must also be aligned to `align` bytes (a power of two).
            ///
            /// # Errors
            ///
            /// As `new`, and
            /// [`InvalidReason::Misaligned`](crate::error::InvalidReason::Misaligned).
            pub const fn aligned(addr: u64, align: u64) -> Result<$name> {
                debug_assert!(align.is_power_of_two());
                match check_address($what, addr, MAX_PHYS_ADDR_BITS, align) {
                    Ok(addr) => Ok($name(addr)),
                    Err(error) => Err(error),
                }
            }

            /// A 4 KiB-aligned page address.
            ///
            /// # Errors
            ///
            /// As `aligned`.
            pub const fn page(addr: u64) -> Result<$name> {
                Self::aligned(addr, PAGE_SIZE)
            }

            /// The address `addr` for constants and statics, checked as `new` checks it;
            /// an address above bit 51 panics, which in a `const` item is a compile error
            /// (the `x86_64` crate's shape: `new_const` panics, `new` returns the error).
            ///
            /// # Panics
            ///
            /// When `addr` has a bit above 51 set.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use tdxcall::abi::", stringify!($name), ";")]
            #[doc = concat!("const MAILBOX: ", stringify!($name), " = ", stringify!($name), "::new_const(0x8000_FEB0_0000);")]
            /// assert_eq!(MAILBOX.raw(), 0x8000_FEB0_0000);
            /// ```
            pub const fn new_const(addr: u64) -> $name {
                match Self::new(addr) {
                    Ok(addr) => addr,
                    Err(_) => panic!("physical address above bit 51"),
                }
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
