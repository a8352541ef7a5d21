//! The extended-state view of a Linux x86-64 signal frame, and the XSAVE layout of this CPU.
//!
//! Layout facts (Linux user ABI, `asm/sigcontext.h` and the kernel's x86 XSTATE
//! documentation; the XSAVE format from the Intel SDM, volume 1, chapter 13):
//!
//! - `uc_mcontext.fpregs` points to the extended state the kernel saved for the signal.
//! - The first 512 bytes are the FXSAVE (legacy) region: FCW at 0, MXCSR at 24, MXCSR_MASK at
//!   28, ST0-7 from 32, XMM0-15 from 160 (16 bytes each).
//! - Bytes 464..512 of that region are free for software; Linux puts its "sw bytes" there:
//!   `magic1` (u32, [`FP_XSTATE_MAGIC1`]) at 464, `extended_size` (u32, every byte of the
//!   state including the trailing `magic2`) at 468, `xfeatures` (u64, the components the
//!   frame holds and `sigreturn` restores) at 472, `xstate_size` (u32, the XSAVE area without
//!   `magic2`) at 480.
//! - When `magic1` is there, the frame was written by XSAVE: the 64-byte XSAVE header
//!   follows at 512 (XSTATE_BV at 512, XCOMP_BV at 520; standard, not compacted, format),
//!   component *i* >= 2 lies at the offset and with the size CPUID leaf 0xD sub-leaf *i*
//!   reports in EBX and EAX, and [`FP_XSTATE_MAGIC2`] (u32) sits at `xstate_size`.
//! - Otherwise the frame is the 512-byte FXSAVE region alone.
//! - XSTATE_BV bit *i* clear means component *i* is in its initial configuration and its
//!   bytes in the area are not meaningful; `sigreturn` (XRSTOR) then initializes it. So a
//!   write to a component sets the bit, after zeroing the component if it was clear (zero is
//!   the initial configuration of the XMM registers and of every user component from 2 on).

use super::{read_u32, read_u64, ExtendedState, XStateError, LEGACY_SIZE};
use std::sync::OnceLock;

/// Linux's marker at byte 464 of the FXSAVE region: an XSAVE area follows ("FPXS").
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// Linux's marker right after the XSAVE area ("EXPF").
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;

const HEADER_SIZE: usize = 64;
const SW_MAGIC1: usize = 464;
const SW_EXTENDED_SIZE: usize = 468;
const SW_XSTATE_SIZE: usize = 480;
const XCOMP_BV: usize = 520;
/// XCOMP_BV bit 63: compacted format, which the standard-format offsets do not describe.
const COMPACTED: u64 = 1 << 63;
/// Sanity bound on the size fields the frame carries.
const MAX_AREA: u32 = 1 << 20;

/// Where each user state component lies in a standard-format XSAVE area, from CPUID 0xD.
struct Layout {
    /// `(offset, size)` per component; size 0 when unknown.
    components: [(u32, u32); 64],
}

impl Layout {
    /// Where component `index` (2..64) lies in a standard-format area of `len` bytes that
    /// holds the components `xfeatures`: at its CPUID offset, and only if the frame holds it
    /// and it ends inside the area. A component the CPU supports but the frame lacks (AMX
    /// tile data for a process without permission, say) is [`XStateError::NotInFrame`].
    fn range(
        &self,
        index: u32,
        xfeatures: u64,
        len: usize,
    ) -> Result<core::ops::Range<usize>, XStateError> {
        if !(2..64).contains(&index) {
            return Err(XStateError::IndexOutOfRange);
        }
        if xfeatures & (1 << index) == 0 {
            return Err(XStateError::NotInFrame);
        }
        let (offset, size) = self.components[index as usize];
        let (offset, size) = (offset as usize, size as usize);
        if size == 0 || offset < LEGACY_SIZE + HEADER_SIZE || offset + size > len {
            return Err(XStateError::NotInFrame);
        }
        Ok(offset..offset + size)
    }
}

static LAYOUT: OnceLock<Layout> = OnceLock::new();

fn layout() -> &'static Layout {
    LAYOUT.get_or_init(|| {
        use core::arch::x86_64::{__cpuid, __cpuid_count};
        let mut components = [(0, 0); 64];
        let has_xsave = __cpuid(0).eax >= 0xD && __cpuid(1).ecx & (1 << 27) != 0;
        if has_xsave {
            let main = __cpuid_count(0xD, 0);
            let supported = u64::from(main.eax) | (u64::from(main.edx) << 32);
            for (index, entry) in components.iter_mut().enumerate().skip(2) {
                if supported & (1 << index) == 0 {
                    continue;
                }
                let sub = __cpuid_count(0xD, index as u32);
                // ECX bit 0: a supervisor component, which has no place in a user area.
                if sub.ecx & 1 == 0 {
                    *entry = (sub.ebx, sub.eax);
                }
            }
        }
        Layout { components }
    })
}

/// Reads CPUID 0xD once, outside any signal handler (CPUID is a VM exit in a guest).
pub(in crate::emu) fn warm_up() {
    layout();
}

/// Where component `index` lies in a standard-format XSAVE area of `len` bytes holding
/// `xfeatures`, placed by this CPU's CPUID leaf 0xD.
pub(super) fn component_range(
    index: u32,
    xfeatures: u64,
    len: usize,
) -> Result<core::ops::Range<usize>, XStateError> {
    layout().range(index, xfeatures, len)
}

impl<'a> ExtendedState<'a> {
    /// The view of the fpstate a signal frame's `uc_mcontext.fpregs` points to; `None` for a
    /// null pointer.
    ///
    /// # Safety
    ///
    /// `fpstate` is null or the `fpregs` pointer of a kernel-written signal frame (or an
    /// area laid out the same way: 512 bytes at least, and if `magic1` is set, readable up
    /// to `extended_size`), valid for reads and writes and not otherwise referenced for `'a`.
    pub unsafe fn from_signal_frame(fpstate: *mut u8) -> Option<ExtendedState<'a>> {
        if fpstate.is_null() {
            return None;
        }
        // SAFETY: the legacy region is always there (the contract).
        let legacy = unsafe { core::slice::from_raw_parts(fpstate, LEGACY_SIZE) };
        let mut len = LEGACY_SIZE;
        let mut xsave = false;
        if read_u32(legacy, SW_MAGIC1) == FP_XSTATE_MAGIC1 {
            let extended_size = read_u32(legacy, SW_EXTENDED_SIZE);
            let xstate_size = read_u32(legacy, SW_XSTATE_SIZE);
            let sizes_fit = xstate_size as usize >= LEGACY_SIZE + HEADER_SIZE
                && u64::from(xstate_size) + 4 <= u64::from(extended_size)
                && extended_size <= MAX_AREA;
            let magic2_there = sizes_fit && {
                // SAFETY: with magic1 set the area is readable up to `extended_size` (the
                // contract), and `xstate_size + 4` is within it.
                let magic2 = unsafe {
                    fpstate
                        .add(xstate_size as usize)
                        .cast::<u32>()
                        .read_unaligned()
                };
                magic2 == FP_XSTATE_MAGIC2
            };
            if magic2_there {
                len = xstate_size as usize;
                xsave = true;
            }
        }
        // SAFETY: `len` bytes are valid and exclusively ours for `'a` (the contract, and the
        // checks above for the XSAVE part).
        let area = unsafe { core::slice::from_raw_parts_mut(fpstate, len) };
        if xsave && read_u64(area, XCOMP_BV) & COMPACTED != 0 {
            // Not a layout this view can address; keep to the legacy region.
            return Some(ExtendedState {
                area: &mut area[..LEGACY_SIZE],
                xsave: false,
            });
        }
        Some(ExtendedState { area, xsave })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        DEFAULT_MXCSR_MASK, LEGACY_FEATURES, MXCSR, MXCSR_MASK, SW_XFEATURES, XSTATE_BV,
    };
    use super::*;

    /// A synthetic XSAVE frame: legacy region, header, AVX at CPUID's offset (or 576), magic2.
    fn frame(xfeatures: u64, xstate_bv: u64) -> std::vec::Vec<u8> {
        let avx = layout().components[2];
        let end = if avx.1 != 0 {
            (avx.0 + avx.1) as usize
        } else {
            576 + 256
        };
        let mut bytes = std::vec![0xAAu8; end + 4];
        bytes[SW_MAGIC1..SW_MAGIC1 + 4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
        bytes[SW_EXTENDED_SIZE..SW_EXTENDED_SIZE + 4]
            .copy_from_slice(&((end + 4) as u32).to_le_bytes());
        bytes[SW_XFEATURES..SW_XFEATURES + 8].copy_from_slice(&xfeatures.to_le_bytes());
        bytes[SW_XSTATE_SIZE..SW_XSTATE_SIZE + 4].copy_from_slice(&(end as u32).to_le_bytes());
        bytes[MXCSR..MXCSR + 4].copy_from_slice(&0x1F80u32.to_le_bytes());
        bytes[MXCSR_MASK..MXCSR_MASK + 4].copy_from_slice(&0u32.to_le_bytes());
        bytes[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&xstate_bv.to_le_bytes());
        bytes[XCOMP_BV..XCOMP_BV + 8].copy_from_slice(&0u64.to_le_bytes());
        bytes[end..end + 4].copy_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
        bytes
    }

    fn view(bytes: &mut [u8]) -> ExtendedState<'_> {
        // SAFETY: `bytes` is laid out as a signal frame's fpstate and borrowed exclusively.
        unsafe { ExtendedState::from_signal_frame(bytes.as_mut_ptr()) }.expect("non-null")
    }

    #[test]
    fn xsave_frame_is_recognized_and_bounded() {
        let mut bytes = frame(0b111, 0b011);
        let len = bytes.len() - 4;
        let state = view(&mut bytes);
        assert!(state.is_xsave());
        assert_eq!(state.as_bytes().len(), len);
        assert_eq!((state.xfeatures(), state.xstate_bv()), (0b111, 0b011));
        assert_eq!(state.component(1), Err(XStateError::IndexOutOfRange));
        assert_eq!(state.component(3), Err(XStateError::NotInFrame));
    }

    #[test]
    fn missing_magic2_falls_back_to_the_legacy_region() {
        let mut bytes = frame(0b111, 0b111);
        let end = bytes.len() - 4;
        bytes[end] ^= 0xFF;
        let state = view(&mut bytes);
        assert!(!state.is_xsave());
        assert_eq!(state.as_bytes().len(), LEGACY_SIZE);
        assert_eq!(state.xfeatures(), LEGACY_FEATURES);
        assert_eq!(state.component(2), Err(XStateError::NotInFrame));
    }

    #[test]
    fn xmm_write_into_initial_sse_state_zeroes_the_others() {
        let mut bytes = frame(0b011, 0b001);
        let mut state = view(&mut bytes);
        assert_eq!(
            state.xmm(3),
            Ok(0),
            "SSE in its initial configuration reads as zero"
        );
        state.set_xmm(3, 0x1234).unwrap();
        assert_eq!(state.xstate_bv() & 0b10, 0b10);
        assert_eq!(state.xmm(3), Ok(0x1234));
        assert_eq!(
            state.xmm(4),
            Ok(0),
            "stale 0xAA bytes must have been cleared"
        );
        assert_eq!(state.xmm(16), Err(XStateError::IndexOutOfRange));
    }

    #[test]
    fn mxcsr_reserved_bits_are_refused() {
        let mut bytes = frame(0b011, 0b011);
        let mut state = view(&mut bytes);
        assert_eq!(state.mxcsr_mask(), DEFAULT_MXCSR_MASK);
        assert_eq!(
            state.set_mxcsr(0x1F80 | 0x40),
            Err(XStateError::ReservedBits)
        );
        state.set_mxcsr(0x9FC0 & DEFAULT_MXCSR_MASK).unwrap();
        assert_eq!(state.mxcsr(), 0x9FC0 & DEFAULT_MXCSR_MASK);
    }

    #[test]
    fn component_write_marks_it_in_use_and_reset_clears_it() {
        if layout().components[2].1 == 0 {
            return; // No AVX on this CPU: nothing to address.
        }
        let mut bytes = frame(0b111, 0b011);
        let mut state = view(&mut bytes);
        assert_eq!(state.component(2), Ok(None));
        let avx = state.component_mut(2).unwrap();
        assert!(avx.iter().all(|&byte| byte == 0));
        avx[0] = 7;
        assert_eq!(state.component(2).unwrap().unwrap()[0], 7);
        state.reset(2).unwrap();
        assert_eq!(state.component(2), Ok(None));
    }

    /// CPUID leaf 0xD of an Intel CPU with AVX-512 and AMX (the offsets Linux documents for
    /// Sapphire Rapids): (offset, size) per component.
    fn amx_layout() -> Layout {
        let mut components = [(0, 0); 64];
        for (index, offset, size) in [
            (2, 576, 256),
            (5, 1088, 64),
            (6, 1152, 512),
            (7, 1664, 1024),
            (9, 2688, 8),
            (17, 2752, 64),
            (18, 2816, 8192),
        ] {
            components[index] = (offset, size);
        }
        Layout { components }
    }

    /// The AVX-512 and AMX components of a frame are found at their CPUID offsets on a CPU
    /// with XCR0 0x602E7, whatever this machine's CPU: in the frame of a process with AMX
    /// permission (11008 bytes) and in one without (Linux leaves tile data out of
    /// `xfeatures` and of the frame, 2816 bytes), and an AVX-only frame (XCR0 0x7) holds
    /// none of them.
    #[test]
    fn components_are_placed_by_cpuid_for_avx512_and_amx_frames() {
        let layout = amx_layout();
        let with_tiles = 0x6_02E7;
        let without_tiles = 0x2_02E7;
        assert_eq!(layout.range(7, with_tiles, 11008), Ok(1664..2688));
        assert_eq!(layout.range(5, with_tiles, 11008), Ok(1088..1152));
        assert_eq!(layout.range(18, with_tiles, 11008), Ok(2816..11008));
        assert_eq!(layout.range(7, without_tiles, 2816), Ok(1664..2688));
        assert_eq!(layout.range(17, without_tiles, 2816), Ok(2752..2816));
        assert_eq!(
            layout.range(18, without_tiles, 2816),
            Err(XStateError::NotInFrame)
        );
        // A frame shorter than `xfeatures` claims: refused, never read past its end.
        assert_eq!(
            layout.range(18, with_tiles, 2816),
            Err(XStateError::NotInFrame)
        );
        for index in [5, 6, 7, 9, 17, 18] {
            assert_eq!(layout.range(index, 0x7, 832), Err(XStateError::NotInFrame));
        }
        assert_eq!(layout.range(2, 0x7, 832), Ok(576..832));
        assert_eq!(
            layout.range(1, with_tiles, 11008),
            Err(XStateError::IndexOutOfRange)
        );
    }

    #[test]
    fn legacy_frame_reset_writes_initial_values() {
        let mut bytes = std::vec![0xAAu8; LEGACY_SIZE];
        let mut state = view(&mut bytes);
        assert!(!state.is_xsave());
        assert_eq!(state.xmm(0), Ok(u128::from_le_bytes([0xAA; 16])));
        state.reset(1).unwrap();
        assert_eq!(state.xmm(15), Ok(0));
        state.reset(0).unwrap();
        assert_eq!(&state.legacy()[..2], &0x037Fu16.to_le_bytes());
        assert_eq!(state.reset(2), Err(XStateError::NotInFrame));
    }
}
