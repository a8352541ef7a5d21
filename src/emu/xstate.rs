//! A bounded view of the extended state (x87, SSE, AVX, ...) a model reads and writes.
//!
//! The view is over bytes in the FXSAVE format, and over an XSAVE area where there is one:
//!
//! - The first 512 bytes are the FXSAVE (legacy) region: FCW at 0, MXCSR at 24, MXCSR_MASK at
//!   28, ST0-7 from 32, XMM0-15 from 160 (16 bytes each) (Intel SDM, volume 1, FXSAVE).
//! - In an XSAVE area the 64-byte XSAVE header follows at 512 (XSTATE_BV at 512), and the
//!   components from 2 on lie where CPUID leaf 0xD places them (Intel SDM, volume 1,
//!   chapter 13). XSTATE_BV bit *i* clear means component *i* is in its initial
//!   configuration and its bytes in the area are not meaningful; XRSTOR then initializes it.
//!   So a write to a component sets the bit, after zeroing the component if it was clear
//!   (zero is the initial configuration of the XMM registers and of every user component
//!   from 2 on).
//!
//! Two kinds of bytes are viewed: an in-memory FXSAVE image
//! ([`ExtendedState::from_legacy_image`], every target: the software module's direct
//! backend), and a Linux x86-64 signal frame (`ExtendedState::from_signal_frame`, in
//! `frame`, with the XSAVE layout read from this CPU's CPUID: Linux x86-64 only).

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod frame;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(super) use self::frame::warm_up;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub use self::frame::{FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2};

const LEGACY_SIZE: usize = 512;
const FCW: usize = 0;
const MXCSR: usize = 24;
const MXCSR_MASK: usize = 28;
const XMM0: usize = 160;
const XMM_COUNT: usize = 16;
const SW_XFEATURES: usize = 472;
const XSTATE_BV: usize = 512;
/// x87 and SSE: what a FXSAVE-only frame holds.
const LEGACY_FEATURES: u64 = 0b11;
const SSE: u32 = 1;
/// MXCSR_MASK value to assume when the CPU stores 0 there (Intel SDM, FXSAVE).
const DEFAULT_MXCSR_MASK: u32 = 0xFFBF;

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

/// The extended state saved in a signal frame (Linux x86-64), or an in-memory FXSAVE image
/// (every target), with bounds-checked, typed access.
///
/// Edits to a signal frame are loaded into the registers when the signal handler returns.
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
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        return frame::component_range(index, self.xfeatures(), self.area.len());
        // Only a signal frame holds an XSAVE area, and only Linux x86-64 has that view.
        #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
        Err(XStateError::NotInFrame)
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
