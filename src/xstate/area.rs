//! XSAVE areas: memory the save instruction writes and XRSTOR reads back.
//!
//! XSAVE, XSAVEC and XRSTOR need a 64-byte-aligned area (#GP otherwise) of at least
//! [`VectorState::area_bytes`](super::VectorState::area_bytes) bytes. Two types provide one
//! without allocating:
//!
//! - [`XsaveArea<N>`]: `N` bytes, aligned by its type; put it in a static, a per-CPU
//!   structure or on the stack. [`Preserve::on_stack`](super::Preserve::on_stack) uses an
//!   `XsaveArea<STACK_AREA_BYTES>` internally.
//! - [`XsaveBuffer`]: a view of caller-owned memory (a kernel's per-CPU page, say), checked
//!   for alignment once when it is made.
//!
//! Neither is initialised: the save writes the header and every component it records, and
//! XRSTOR reads nothing else. Their contents are never exposed.

use crate::error::{Error, InvalidArgument, InvalidReason, Result};
use core::mem::MaybeUninit;

/// Alignment the XSAVE family requires of its memory operand, in bytes.
pub(super) const XSAVE_ALIGN: usize = 64;

/// Size of the area [`Preserve::on_stack`](super::Preserve::on_stack) puts on the stack:
/// every vector component (SSE through Hi16_ZMM) in the standard format of Intel CPUs
/// (Hi16_ZMM ends at byte 2688), which is also more than the compacted format (2432) and AMD's
/// standard format (2432) need.
///
/// Only the vector components are ever saved (the mask is XCR0 &
/// [`Components::VECTOR`](super::Components::VECTOR)), so a larger XCR0 does not need a
/// larger area. On a CPU with AMX, XCR0 also enables PKRU (component 9) and the tile
/// configuration and data (17 and 18), and the XSAVE area of the whole XCR0 is about 11 KiB
/// (11008 bytes on Sapphire Rapids); but in the standard format every component sits at its
/// CPUID offset and those three lie after Hi16_ZMM (from byte 2688 on), and in the
/// compacted format only the requested components are packed. Either way the area for SSE,
/// AVX and AVX-512 stays within 2688 bytes. [`Preserve::on_stack`](super::Preserve::on_stack)
/// still checks the size CPUID gives, and the unit tests check it over the CPUID layouts of
/// Intel (with and without AMX) and AMD CPUs for XCR0 0x7, 0xE7 and 0x602E7.
pub const STACK_AREA_BYTES: usize = 2688;

const _: () = assert!(STACK_AREA_BYTES % XSAVE_ALIGN == 0);

/// A 64-byte-aligned XSAVE area of `N` bytes, owned by value.
///
/// `N` must be at least [`VectorState::area_bytes`](super::VectorState::area_bytes) for the
/// state it is used with; [`Preserve::in_area`](super::Preserve::in_area) checks.
#[repr(C, align(64))]
pub struct XsaveArea<const N: usize> {
    bytes: [MaybeUninit<u8>; N],
}

impl<const N: usize> XsaveArea<N> {
    /// How many bytes the area holds.
    pub const BYTES: usize = N;

    /// An uninitialised area: no bytes are written, so making one costs nothing.
    #[inline]
    pub const fn new() -> XsaveArea<N> {
        XsaveArea {
            bytes: [MaybeUninit::uninit(); N],
        }
    }

    /// The area as an [`XsaveBuffer`].
    #[inline]
    pub fn buffer(&mut self) -> &mut XsaveBuffer {
        XsaveBuffer::from_aligned(&mut self.bytes)
    }
}

impl<const N: usize> Default for XsaveArea<N> {
    fn default() -> XsaveArea<N> {
        XsaveArea::new()
    }
}

impl<const N: usize> core::fmt::Debug for XsaveArea<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("XsaveArea")
            .field("bytes", &N)
            .finish_non_exhaustive()
    }
}

/// Caller-owned memory used as an XSAVE area: 64-byte aligned, of any length.
///
/// A dynamically sized view (`&mut XsaveBuffer` is a pointer and a length), made from a
/// byte slice by [`XsaveBuffer::from_bytes`] or [`XsaveBuffer::from_uninit`], which check
/// the alignment, or from an [`XsaveArea`].
#[repr(transparent)]
pub struct XsaveBuffer {
    bytes: [MaybeUninit<u8>],
}

impl XsaveBuffer {
    /// Views `bytes` as an XSAVE area.
    ///
    /// # Errors
    ///
    /// `InvalidArgument { argument: "xsave_area", reason: Misaligned }` unless `bytes`
    /// starts on a 64-byte boundary.
    #[inline]
    pub fn from_bytes(bytes: &mut [u8]) -> Result<&mut XsaveBuffer> {
        let len = bytes.len();
        // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and every byte the save
        // instruction stores is an initialised `u8`, so the slice stays valid as `[u8]`.
        let uninit = unsafe {
            core::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<MaybeUninit<u8>>(), len)
        };
        XsaveBuffer::from_uninit(uninit)
    }

    /// Views possibly uninitialised memory as an XSAVE area.
    ///
    /// # Errors
    ///
    /// `InvalidArgument { argument: "xsave_area", reason: Misaligned }` unless `bytes`
    /// starts on a 64-byte boundary.
    #[inline]
    pub fn from_uninit(bytes: &mut [MaybeUninit<u8>]) -> Result<&mut XsaveBuffer> {
        let address = bytes.as_ptr() as usize;
        if address % XSAVE_ALIGN != 0 {
            return Err(Error::InvalidArgument(InvalidArgument {
                argument: "xsave_area",
                reason: InvalidReason::Misaligned {
                    value: address as u64,
                    required: XSAVE_ALIGN as u64,
                },
            }));
        }
        Ok(XsaveBuffer::from_aligned(bytes))
    }

    #[inline]
    fn from_aligned(bytes: &mut [MaybeUninit<u8>]) -> &mut XsaveBuffer {
        debug_assert_eq!(bytes.as_ptr() as usize % XSAVE_ALIGN, 0);
        // SAFETY: `XsaveBuffer` is `repr(transparent)` over `[MaybeUninit<u8>]`, so the fat
        // pointer casts to it unchanged; the borrow is carried over.
        unsafe { &mut *(bytes as *mut [MaybeUninit<u8>] as *mut XsaveBuffer) }
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the buffer has no bytes (it then fits no state).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    #[inline]
    pub(super) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.as_mut_ptr().cast()
    }
}

impl core::fmt::Debug for XsaveBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("XsaveBuffer")
            .field("address", &self.bytes.as_ptr())
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_is_aligned_and_sized_by_its_type() {
        let mut area = XsaveArea::<STACK_AREA_BYTES>::new();
        assert_eq!(core::mem::align_of::<XsaveArea<8>>(), 64);
        assert_eq!(
            core::mem::size_of::<XsaveArea<STACK_AREA_BYTES>>(),
            STACK_AREA_BYTES
        );
        let buffer = area.buffer();
        assert_eq!(buffer.len(), STACK_AREA_BYTES);
        assert_eq!(buffer.as_mut_ptr() as usize % 64, 0);
    }

    #[test]
    fn buffer_rejects_misaligned_memory() {
        let mut area = XsaveArea::<1024>::new();
        let bytes = &mut area.bytes[8..];
        let address = bytes.as_ptr() as u64;
        let error = XsaveBuffer::from_uninit(bytes).unwrap_err();
        assert_eq!(
            error,
            Error::InvalidArgument(InvalidArgument {
                argument: "xsave_area",
                reason: InvalidReason::Misaligned {
                    value: address,
                    required: 64
                },
            })
        );
        assert_eq!(
            XsaveBuffer::from_uninit(&mut area.bytes[64..])
                .unwrap()
                .len(),
            960
        );
    }
}
