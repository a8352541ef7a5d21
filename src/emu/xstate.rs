//! A bounded view of the extended state (x87, SSE, AVX, ...) in a Linux x86-64 signal frame.
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

use std::sync::OnceLock;

/// Linux's marker at byte 464 of the FXSAVE region: an XSAVE area follows ("FPXS").
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
/// Linux's marker right after the XSAVE area ("EXPF").
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;

const LEGACY_SIZE: usize = 512;
const HEADER_SIZE: usize = 64;
const FCW: usize = 0;
const MXCSR: usize = 24;
const MXCSR_MASK: usize = 28;
const XMM0: usize = 160;
const XMM_COUNT: usize = 16;
const SW_MAGIC1: usize = 464;
const SW_EXTENDED_SIZE: usize = 468;
const SW_XFEATURES: usize = 472;
const SW_XSTATE_SIZE: usize = 480;
const XSTATE_BV: usize = 512;
const XCOMP_BV: usize = 520;
/// XCOMP_BV bit 63: compacted format, which the standard-format offsets do not describe.
const COMPACTED: u64 = 1 << 63;
/// x87 and SSE: what a FXSAVE-only frame holds.
const LEGACY_FEATURES: u64 = 0b11;
const SSE: u32 = 1;
/// MXCSR_MASK value to assume when the CPU stores 0 there (Intel SDM, FXSAVE).
const DEFAULT_MXCSR_MASK: u32 = 0xFFBF;
/// Sanity bound on the size fields the frame carries.
const MAX_AREA: u32 = 1 << 20;

/// Why an access to the extended state was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XStateError {
    /// The register index is past the last register of its kind.
    IndexOutOfRange,
    /// The frame does not hold this component (not in XCR0, no XSAVE area, or the CPU does
    /// not report its place).
    NotInFrame,
    /// The MXCSR value sets bits outside MXCSR_MASK; `sigreturn` would fail.
    ReservedBits,
}

impl core::fmt::Display for XStateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            XStateError::IndexOutOfRange => "register index out of range",
            XStateError::NotInFrame => "the signal frame does not hold this state component",
            XStateError::ReservedBits => "value sets reserved MXCSR bits",
        })
    }
}

impl std::error::Error for XStateError {}

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
pub(super) fn warm_up() {
    layout();
}

/// The extended state saved in a signal frame, with bounds-checked, typed access.
///
/// Edits are loaded into the registers when the signal handler returns.
pub struct ExtendedState<'a> {
    area: &'a mut [u8],
    xsave: bool,
}

impl core::fmt::Debug for ExtendedState<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExtendedState")
            .field("len", &self.area.len())
            .field("xsave", &self.xsave)
            .field("xfeatures", &format_args!("{:#x}", self.xfeatures()))
            .field("xstate_bv", &format_args!("{:#x}", self.xstate_bv()))
            .finish()
    }
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8], offset: usize) -> u64 {
    u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8 bytes"))
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

    /// A view of an in-memory FXSAVE-format image (512 bytes: x87, MXCSR, XMM0-15), for
    /// calling a model without a signal frame. It holds no XSAVE header or components:
    /// [`ExtendedState::is_xsave`] is `false` and [`ExtendedState::component`] finds none.
    pub fn from_legacy_image(image: &'a mut [u8; LEGACY_SIZE]) -> ExtendedState<'a> {
        ExtendedState {
            area: &mut image[..],
            xsave: false,
        }
    }

    /// Whether the frame holds an XSAVE area (header and components), not only the FXSAVE
    /// region.
    pub fn is_xsave(&self) -> bool {
        self.xsave
    }

    /// Every byte of the saved state: the FXSAVE region, then, in an XSAVE frame, the header
    /// and the components up to `xstate_size`.
    pub fn as_bytes(&self) -> &[u8] {
        self.area
    }

    /// The 512-byte FXSAVE region (x87, MXCSR, XMM0-15).
    pub fn legacy(&self) -> &[u8; LEGACY_SIZE] {
        self.area[..LEGACY_SIZE]
            .try_into()
            .expect("the area is at least 512 bytes")
    }

    /// The components the frame holds (Linux's `xfeatures`, what `sigreturn` restores):
    /// `0b11` (x87, SSE) for an FXSAVE-only frame.
    pub fn xfeatures(&self) -> u64 {
        if self.xsave {
            read_u64(self.area, SW_XFEATURES)
        } else {
            LEGACY_FEATURES
        }
    }

    /// XSTATE_BV: the components not in their initial configuration. `0b11` for an
    /// FXSAVE-only frame, which always holds x87 and SSE.
    pub fn xstate_bv(&self) -> u64 {
        if self.xsave {
            read_u64(self.area, XSTATE_BV)
        } else {
            LEGACY_FEATURES
        }
    }

    fn set_xstate_bv(&mut self, value: u64) {
        self.area[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&value.to_le_bytes());
    }

    /// MXCSR.
    pub fn mxcsr(&self) -> u32 {
        read_u32(self.area, MXCSR)
    }

    /// The MXCSR bits the CPU accepts (MXCSR_MASK, or its documented default when the CPU
    /// stores 0).
    pub fn mxcsr_mask(&self) -> u32 {
        match read_u32(self.area, MXCSR_MASK) {
            0 => DEFAULT_MXCSR_MASK,
            mask => mask,
        }
    }

    /// Sets MXCSR; refuses bits outside [`mxcsr_mask`](Self::mxcsr_mask), which would make
    /// `sigreturn` fail.
    pub fn set_mxcsr(&mut self, value: u32) -> Result<(), XStateError> {
        if value & !self.mxcsr_mask() != 0 {
            return Err(XStateError::ReservedBits);
        }
        self.area[MXCSR..MXCSR + 4].copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    fn sse_in_use(&self) -> bool {
        self.xstate_bv() & (1 << SSE) != 0
    }

    /// XMM`index` (its low 128 bits; the upper YMM half is component 2). Zero when SSE state
    /// is in its initial configuration.
    pub fn xmm(&self, index: usize) -> Result<u128, XStateError> {
        if index >= XMM_COUNT {
            return Err(XStateError::IndexOutOfRange);
        }
        if !self.sse_in_use() {
            return Ok(0);
        }
        let offset = XMM0 + 16 * index;
        Ok(u128::from_le_bytes(
            self.area[offset..offset + 16].try_into().expect("16 bytes"),
        ))
    }

    /// Sets XMM`index`. Marks SSE state in use (zeroing the other XMM registers first if it
    /// was in its initial configuration, so they keep their value of zero).
    pub fn set_xmm(&mut self, index: usize, value: u128) -> Result<(), XStateError> {
        if index >= XMM_COUNT {
            return Err(XStateError::IndexOutOfRange);
        }
        if self.xfeatures() & (1 << SSE) == 0 {
            return Err(XStateError::NotInFrame);
        }
        if !self.sse_in_use() {
            self.area[XMM0..XMM0 + 16 * XMM_COUNT].fill(0);
            self.set_xstate_bv(self.xstate_bv() | (1 << SSE));
        }
        let offset = XMM0 + 16 * index;
        self.area[offset..offset + 16].copy_from_slice(&value.to_le_bytes());
        Ok(())
    }

    /// Where component `index` (2 and up; x87 and SSE are the legacy region) lies in the
    /// area, if the frame holds it.
    fn component_range(&self, index: u32) -> Result<core::ops::Range<usize>, XStateError> {
        if !(2..64).contains(&index) {
            return Err(XStateError::IndexOutOfRange);
        }
        if !self.xsave {
            return Err(XStateError::NotInFrame);
        }
        layout().range(index, self.xfeatures(), self.area.len())
    }

    /// The bytes of XSAVE component `index` (2 AVX upper halves, 5-7 AVX-512, 9 PKRU, ...):
    /// `Ok(None)` when it is in its initial configuration (all zeros for every user
    /// component from 2 on).
    pub fn component(&self, index: u32) -> Result<Option<&[u8]>, XStateError> {
        let range = self.component_range(index)?;
        if self.xstate_bv() & (1 << index) == 0 {
            return Ok(None);
        }
        Ok(Some(&self.area[range]))
    }

    /// The bytes of XSAVE component `index`, to write. Marks the component in use, zeroing
    /// it first if it was in its initial configuration. The model must leave values the CPU
    /// accepts (see the [module docs](super)).
    pub fn component_mut(&mut self, index: u32) -> Result<&mut [u8], XStateError> {
        let range = self.component_range(index)?;
        let bv = self.xstate_bv();
        if bv & (1 << index) == 0 {
            self.area[range.clone()].fill(0);
            self.set_xstate_bv(bv | (1 << index));
        }
        Ok(&mut self.area[range])
    }

    /// Puts component `index` back into its initial configuration when execution resumes,
    /// as the module does to the TD's components on a TD exit. In an FXSAVE-only frame only
    /// x87 (0) and SSE (1, the XMM registers; MXCSR is separate) can be reset.
    pub fn reset(&mut self, index: u32) -> Result<(), XStateError> {
        if index >= 64 {
            return Err(XStateError::IndexOutOfRange);
        }
        if self.xfeatures() & (1 << index) == 0 {
            return Err(XStateError::NotInFrame);
        }
        if self.xsave {
            self.set_xstate_bv(self.xstate_bv() & !(1 << index));
            return Ok(());
        }
        match index {
            0 => {
                // FCW 0x037F, FSW/FTW/FOP/FIP/FDP 0, ST0-7 zero: the x87 initial
                // configuration in FXSAVE layout.
                self.area[FCW..MXCSR].fill(0);
                self.area[FCW..FCW + 2].copy_from_slice(&0x037Fu16.to_le_bytes());
                self.area[32..XMM0].fill(0);
            }
            _ => self.area[XMM0..XMM0 + 16 * XMM_COUNT].fill(0),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
