//! What to save and how: the components, the instruction and the area size, from CPUID.

use super::Components;
use core::sync::atomic::{AtomicU64, Ordering};

/// The instruction that writes the XSAVE area (XRSTOR always reads it back).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SaveInstruction {
    /// XSAVE: standard format, every requested component written (those at INIT get only
    /// their XSTATE_BV bit cleared). Every XSAVE CPU has it.
    Xsave = 1,
    /// XSAVEOPT: standard format, with the init and the *modified* optimizations. The
    /// second skips a component that has not changed since the last XRSTOR from the same
    /// address, so it is correct only for an area whose bytes nothing else writes between
    /// two uses; see [`VectorState::with_xsaveopt`].
    Xsaveopt = 2,
    /// XSAVEC: compacted format, with the init optimization (components at INIT are not
    /// written) and no modified optimization. The default where the CPU has it (every CPU
    /// that can run TDX does).
    Xsavec = 3,
}

impl SaveInstruction {
    /// Whether the area is in the compacted format (XCOMP_BV bit 63 set).
    #[inline]
    pub const fn is_compacted(self) -> bool {
        matches!(self, SaveInstruction::Xsavec)
    }

    const fn from_code(code: u8) -> SaveInstruction {
        match code {
            2 => SaveInstruction::Xsaveopt,
            3 => SaveInstruction::Xsavec,
            _ => SaveInstruction::Xsave,
        }
    }
}

/// CPUID.(EAX=0DH,ECX=1):EAX bits this module uses.
pub(super) mod features {
    /// XSAVEOPT is available.
    pub const XSAVEOPT: u8 = 1 << 0;
    /// XSAVEC (and the compacted form of XRSTOR) is available.
    pub const XSAVEC: u8 = 1 << 1;
    /// XGETBV with ECX=1 (XINUSE) is available.
    pub const XGETBV1: u8 = 1 << 2;
}

/// The vector state a preserved call saves: which components, with which instruction, in
/// how many bytes, and whether components at INIT are skipped.
///
/// [`VectorState::detect`] reads it from CPUID and XCR0; [`VectorState::current`] does so
/// once per process (or kernel) and caches it. Eight bytes, `Copy`, passed in a register.
///
/// # Choice of instruction
///
/// XSAVEC where the CPU has it, else XSAVE; XRSTOR restores. XSAVEC writes only the
/// components not at INIT, in the compacted format, which is also the smallest area.
/// XSAVEOPT would add the modified optimization, which skips writing a component that has
/// not changed since the last XRSTOR *from the same address*: with an area whose memory is
/// reused in between (a stack area, a freed buffer) it restores stale bytes, so it is
/// chosen only on request ([`VectorState::with_xsaveopt`]). Before the save, XGETBV with
/// ECX=1 (where CPUID.(0DH,1):EAX bit 2 says it exists) reads which components are in use; if
/// none of the preserved ones is, nothing is saved or restored. (SSE at INIT means XMM0-15
/// zero and MXCSR 0x1F80, so a non-default MXCSR alone keeps the save.) XGETBV is not free
/// (about 20 ns on a Zen 5 guest, as much as the rest of the bracket), so when the previous
/// save through the same area found state in use, the save runs at once and the restore is
/// skipped if it recorded nothing in use: clean state costs one XGETBV, steadily dirty state
/// none.
///
/// MXCSR is part of the SSE component: it is preserved when [`Components::SSE`] is in the
/// mask (the compacted XRSTOR ignores AVX when deciding whether to load it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct VectorState(u64);

/// The fields packed in [`VectorState`]: one word, so that it (and [`Preserve`], which
/// adds the area's address) travels in registers and is copied with integer moves.
///
/// [`Preserve`]: super::Preserve
mod bits {
    /// Bits 15:0: area size in bytes.
    pub const AREA_SHIFT: u32 = 0;
    /// Bits 31:16: component mask (every vector component is below bit 16).
    pub const COMPONENTS_SHIFT: u32 = 16;
    /// Bits 39:32: the [`SaveInstruction`](super::SaveInstruction) code.
    pub const INSTRUCTION_SHIFT: u32 = 32;
    /// Bit 40: skip the save when the components are at INIT.
    pub const INIT_CHECK: u64 = 1 << 40;
    /// Bits 55:48: CPUID.(0DH,1):EAX bits 2:0 (see `features`).
    pub const FEATURES_SHIFT: u32 = 48;
    /// Bit 63: set only in the cache, so that a cached value is never 0.
    pub const CACHED: u64 = 1 << 63;
}

static_assertions::assert_eq_size!(VectorState, u64);

/// The cached [`VectorState::current`]; 0 until the first detection.
static CURRENT: AtomicU64 = AtomicU64::new(0);

impl VectorState {
    /// Nothing to preserve: what [`Preserve::skip`](super::Preserve::skip) carries, and what
    /// [`detect`](VectorState::detect) returns without XSAVE enabled by the OS or off x86-64.
    pub const NONE: VectorState = VectorState(0);

    /// Reads the state from the CPU: components = XCR0 & [`Components::VECTOR`], the
    /// instruction as described on the type, and the area size for both from CPUID leaf
    /// 0xD. Executes CPUID (a VM exit under a hypervisor): call it once and keep the
    /// result, or use [`current`](VectorState::current).
    ///
    /// Without CR4.OSXSAVE (CPUID.1:ECX bit 27) there is no XCR0 and the result is
    /// [`VectorState::NONE`]: nothing is preserved. Every CPU that runs TDX has XSAVE.
    pub fn detect() -> VectorState {
        #[cfg(target_arch = "x86_64")]
        {
            super::insn::detect()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            VectorState::NONE
        }
    }

    /// [`detect`](VectorState::detect), run once and cached (an atomic load afterwards).
    /// Racing first calls each detect and store the same value.
    #[inline]
    pub fn current() -> VectorState {
        let cached = CURRENT.load(Ordering::Relaxed);
        if cached & bits::CACHED != 0 {
            return VectorState(cached & !bits::CACHED);
        }
        let state = VectorState::detect();
        CURRENT.store(state.0 | bits::CACHED, Ordering::Relaxed);
        state
    }

    /// The state a CPU with this XCR0, these CPUID.(0DH,1):EAX feature bits (`available`,
    /// bits 2:0: XSAVEOPT, XSAVEC, XGETBV1) and this per-component CPUID leaf 0xD (`info`)
    /// gets: what [`detect`](VectorState::detect) computes from the real CPU, kept apart
    /// from the instructions so that other CPUs' layouts can be checked anywhere.
    ///
    /// Only XCR0 & [`Components::VECTOR`] is saved, so components above Hi16_ZMM that XCR0
    /// may also enable (PKRU, the AMX tile configuration and tile data, CET, ...) are never
    /// in the mask: they are neither saved nor restored and do not count towards the area.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) fn from_cpu(
        xcr0: u64,
        available: u8,
        info: impl Fn(u32) -> ComponentInfo,
    ) -> VectorState {
        let components = Components::from_bits_retain(xcr0) & Components::VECTOR;
        if components.is_empty() {
            return VectorState::NONE;
        }
        let instruction = if available & features::XSAVEC != 0 {
            SaveInstruction::Xsavec
        } else {
            SaveInstruction::Xsave
        };
        let bytes = layout_bytes(components, instruction.is_compacted(), info);
        VectorState::from_parts(components, instruction, available, bytes)
    }

    /// Builds a state from parts (the init check is on where XGETBV1 is available).
    pub(super) const fn from_parts(
        components: Components,
        instruction: SaveInstruction,
        features: u8,
        area_bytes: usize,
    ) -> VectorState {
        let init_check = if features & features::XGETBV1 != 0 {
            bits::INIT_CHECK
        } else {
            0
        };
        VectorState(
            (area_bytes as u16 as u64) << bits::AREA_SHIFT
                | (components.bits() as u16 as u64) << bits::COMPONENTS_SHIFT
                | (instruction as u64) << bits::INSTRUCTION_SHIFT
                | init_check
                | (features as u64) << bits::FEATURES_SHIFT,
        )
    }

    const fn features(self) -> u8 {
        (self.0 >> bits::FEATURES_SHIFT) as u8
    }

    /// The components saved and restored.
    #[inline]
    pub const fn components(self) -> Components {
        Components::from_bits_retain(self.mask())
    }

    /// The component mask as the instructions take it in EDX:EAX.
    #[inline]
    pub(super) const fn mask(self) -> u64 {
        (self.0 >> bits::COMPONENTS_SHIFT) & 0xFFFF
    }

    /// Whether nothing is preserved.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.mask() == 0
    }

    /// The instruction that saves.
    #[inline]
    pub const fn instruction(self) -> SaveInstruction {
        SaveInstruction::from_code((self.0 >> bits::INSTRUCTION_SHIFT) as u8)
    }

    /// Whether the save is skipped when every preserved component is at INIT (XGETBV with
    /// ECX=1).
    #[inline]
    pub const fn skips_init_state(self) -> bool {
        self.0 & bits::INIT_CHECK != 0
    }

    /// Bytes of XSAVE area the components need with this instruction (0 when empty).
    #[inline]
    pub const fn area_bytes(self) -> usize {
        ((self.0 >> bits::AREA_SHIFT) & 0xFFFF) as usize
    }

    /// Only the components also in `keep`, with the area size recomputed (CPUID). A
    /// component the state does not have (absent from XCR0) stays absent.
    pub fn restrict(self, keep: Components) -> VectorState {
        let components = self.components() & keep & Components::VECTOR;
        self.relayout(components, self.instruction())
    }

    /// The same components saved with `instruction`, if the CPU has it; `None` otherwise,
    /// and always for [`SaveInstruction::Xsaveopt`], which needs
    /// [`with_xsaveopt`](VectorState::with_xsaveopt).
    pub fn with_instruction(self, instruction: SaveInstruction) -> Option<VectorState> {
        let needed = match instruction {
            SaveInstruction::Xsave => 0,
            SaveInstruction::Xsavec => features::XSAVEC,
            SaveInstruction::Xsaveopt => return None,
        };
        if self.features() & needed != needed || self.is_empty() {
            return None;
        }
        Some(self.relayout(self.components(), instruction))
    }

    /// The same components saved with XSAVEOPT, if the CPU has it.
    ///
    /// # Safety
    ///
    /// Every area used with the returned state must be dedicated to it: between one
    /// preserved call and the next through the same address, nothing else may write those
    /// bytes (so no stack area, and no memory freed and reused while the thread could make
    /// another preserved call). XSAVEOPT does not write a component that is unchanged since
    /// the last XRSTOR from that address, and XRSTOR would then load whatever else was
    /// written there into the vector registers. A static or per-CPU area that only this
    /// module touches qualifies.
    pub unsafe fn with_xsaveopt(self) -> Option<VectorState> {
        if self.features() & features::XSAVEOPT == 0 || self.is_empty() {
            return None;
        }
        Some(self.relayout(self.components(), SaveInstruction::Xsaveopt))
    }

    /// The same, but always saving and restoring: no check for components at INIT.
    #[inline]
    pub const fn always_save(self) -> VectorState {
        VectorState(self.0 & !bits::INIT_CHECK)
    }

    fn relayout(self, components: Components, instruction: SaveInstruction) -> VectorState {
        if components.is_empty() {
            return VectorState::NONE;
        }
        #[cfg(target_arch = "x86_64")]
        let bytes = layout_bytes(
            components,
            instruction.is_compacted(),
            super::insn::component_info,
        );
        #[cfg(not(target_arch = "x86_64"))]
        let bytes = 0;
        let state = VectorState::from_parts(components, instruction, self.features(), bytes);
        if self.skips_init_state() {
            state
        } else {
            state.always_save()
        }
    }
}

impl core::fmt::Debug for VectorState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VectorState")
            .field("components", &self.components())
            .field("instruction", &self.instruction())
            .field("area_bytes", &self.area_bytes())
            .field("skips_init_state", &self.skips_init_state())
            .finish()
    }
}

/// One state component as CPUID.(EAX=0DH,ECX=i) describes it.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ComponentInfo {
    /// EAX: size in bytes.
    pub size: u32,
    /// EBX: offset in the standard format.
    pub offset: u32,
    /// ECX bit 1: 64-byte aligned in the compacted format.
    pub align64: bool,
}

/// Bytes of the legacy region (512) plus the XSAVE header (64): components 0 and 1 live in
/// the legacy region, the others start after the header.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) const LEGACY_AND_HEADER: usize = 576;

/// Size of an XSAVE area holding `components`: in the standard format, the end of the
/// furthest component at its CPUID offset; in the compacted format, the components packed
/// in index order after the header, each aligned to 64 bytes where CPUID says so.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) fn layout_bytes(
    components: Components,
    compacted: bool,
    info: impl Fn(u32) -> ComponentInfo,
) -> usize {
    let mut end = LEGACY_AND_HEADER;
    let bits = components.bits();
    for index in 2..64u32 {
        if bits & (1 << index) == 0 {
            continue;
        }
        let component = info(index);
        if compacted {
            if component.align64 {
                end = end.next_multiple_of(64);
            }
            end += component.size as usize;
        } else {
            end = end.max(component.offset as usize + component.size as usize);
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CPUID leaf 0xD sub-leaves 2..=7 of an Intel AVX-512 server (standard offsets).
    fn intel(index: u32) -> ComponentInfo {
        let (size, offset) = match index {
            2 => (256, 576),
            5 => (64, 1088),
            6 => (512, 1152),
            7 => (1024, 1664),
            _ => (0, 0),
        };
        ComponentInfo {
            size,
            offset,
            align64: false,
        }
    }

    /// AMD Zen 4/5 (no MPX hole between AVX and the AVX-512 components).
    fn amd(index: u32) -> ComponentInfo {
        let (size, offset) = match index {
            2 => (256, 576),
            5 => (64, 832),
            6 => (512, 896),
            7 => (1024, 1408),
            _ => (0, 0),
        };
        ComponentInfo {
            size,
            offset,
            align64: false,
        }
    }

    /// An Intel CPU with AMX as well (Sapphire Rapids and later): the AVX-512 offsets of
    /// [`intel`], then PKRU (component 9, 8 bytes at 2688), XTILECFG (17, 64 bytes at 2752)
    /// and XTILEDATA (18, 8192 bytes at 2816, 64-byte aligned when compacted), so the
    /// standard-format area of the whole XCR0 0x602E7 is 11008 bytes. The offsets are the
    /// ones Linux documents for AMX; the alignment bits are assumed (they cannot change the
    /// vector components' layout, which lies before them).
    fn intel_amx(index: u32) -> ComponentInfo {
        match index {
            9 => ComponentInfo {
                size: 8,
                offset: 2688,
                align64: false,
            },
            17 => ComponentInfo {
                size: 64,
                offset: 2752,
                align64: false,
            },
            18 => ComponentInfo {
                size: 8192,
                offset: 2816,
                align64: true,
            },
            _ => intel(index),
        }
    }

    /// XCR0 of an AVX-only machine (x87, SSE, AVX), an AVX-512 one, and one with PKRU and
    /// AMX on top.
    const XCR0_AVX: u64 = 0x7;
    const XCR0_AVX512: u64 = 0xE7;
    const XCR0_AMX: u64 = 0x6_02E7;
    /// CPUID.(0DH,1):EAX bits 2:0 of every current x86-64 server CPU.
    const ALL_FEATURES: u8 = features::XSAVEOPT | features::XSAVEC | features::XGETBV1;

    #[test]
    fn the_mask_is_xcr0_vector_components_only() {
        for (xcr0, mask) in [(XCR0_AVX, 0x6), (XCR0_AVX512, 0xE6), (XCR0_AMX, 0xE6)] {
            for info in [intel as fn(u32) -> ComponentInfo, amd, intel_amx] {
                let state = VectorState::from_cpu(xcr0, ALL_FEATURES, info);
                assert_eq!(state.mask(), mask, "XCR0 {xcr0:#x}");
                assert_eq!(state.instruction(), SaveInstruction::Xsavec);
                assert!(state.skips_init_state());
            }
        }
        // No vector component in XCR0 (x87 only, or PKRU and AMX without SSE, which no OS
        // sets up): nothing to preserve.
        assert!(VectorState::from_cpu(0x1, ALL_FEATURES, intel).is_empty());
        assert!(VectorState::from_cpu(0x6_0201, ALL_FEATURES, intel_amx).is_empty());
        // Without XSAVEC the standard format; without XGETBV1 no init check.
        let old = VectorState::from_cpu(XCR0_AVX512, features::XSAVEOPT, intel);
        assert_eq!(old.instruction(), SaveInstruction::Xsave);
        assert!(!old.skips_init_state());
        assert_eq!(old.area_bytes(), 2688);
    }

    /// The area sizes of every machine the tests must pass on: XCR0 0x7, 0xE7 (Intel and
    /// AMD offsets) and 0x602E7 with AMX, where the XSAVE area of the whole XCR0 is 11008
    /// bytes but the vector components still end at Hi16_ZMM.
    #[test]
    fn area_sizes_per_xcr0_and_layout() {
        type Info = fn(u32) -> ComponentInfo;
        let cases: [(u64, Info, usize, usize); 6] = [
            // (XCR0, CPUID leaf 0xD, compacted bytes, standard bytes)
            (XCR0_AVX, intel, 832, 832),
            (XCR0_AVX, amd, 832, 832),
            (XCR0_AVX512, intel, 2432, 2688),
            (XCR0_AVX512, amd, 2432, 2432),
            (XCR0_AMX, intel_amx, 2432, 2688),
            // An AMX CPU whose OS left AVX-512 off in XCR0.
            (0x6_0207, intel_amx, 832, 832),
        ];
        for (xcr0, info, compacted, standard) in cases {
            let state = VectorState::from_cpu(xcr0, ALL_FEATURES, info);
            assert_eq!(state.area_bytes(), compacted, "XCR0 {xcr0:#x}, XSAVEC");
            let xsave = VectorState::from_cpu(xcr0, 0, info);
            assert_eq!(xsave.area_bytes(), standard, "XCR0 {xcr0:#x}, XSAVE");
            assert!(standard <= super::super::STACK_AREA_BYTES);
        }
        // What the whole of XCR0 0x602E7 would take in the standard format (the signal
        // frame's size, about 11 KiB): AMX lies beyond Hi16_ZMM, which is why it does not
        // grow the preserved area.
        let whole = Components::from_bits_retain(XCR0_AMX & !0b11);
        assert_eq!(layout_bytes(whole, false, intel_amx), 11008);
        assert!(layout_bytes(whole, true, intel_amx) > super::super::STACK_AREA_BYTES);
    }

    #[test]
    fn standard_layout_ends_at_the_furthest_component() {
        assert_eq!(layout_bytes(Components::SSE, false, intel), 576);
        assert_eq!(
            layout_bytes(Components::SSE | Components::AVX, false, intel),
            832
        );
        assert_eq!(layout_bytes(Components::VECTOR, false, intel), 2688);
        assert_eq!(layout_bytes(Components::VECTOR, false, amd), 2432);
        // Only the opmask: it still sits at its fixed offset.
        assert_eq!(
            layout_bytes(Components::SSE | Components::OPMASK, false, intel),
            1152
        );
    }

    #[test]
    fn compacted_layout_packs_and_aligns() {
        assert_eq!(layout_bytes(Components::VECTOR, true, intel), 2432);
        assert_eq!(
            layout_bytes(Components::SSE | Components::OPMASK, true, intel),
            640
        );
        // A 64-byte-aligned component after a 40-byte one starts at the next multiple of 64.
        let odd = |index: u32| match index {
            2 => ComponentInfo {
                size: 40,
                offset: 576,
                align64: false,
            },
            5 => ComponentInfo {
                size: 64,
                offset: 1088,
                align64: true,
            },
            _ => ComponentInfo {
                size: 0,
                offset: 0,
                align64: false,
            },
        };
        let components = Components::AVX | Components::OPMASK;
        assert_eq!(layout_bytes(components, true, odd), 640 + 64);
        assert_eq!(layout_bytes(components, false, odd), 1152);
    }

    #[test]
    fn stack_area_fits_every_known_layout() {
        for info in [intel as fn(u32) -> ComponentInfo, amd, intel_amx] {
            for compacted in [false, true] {
                let bytes = layout_bytes(Components::VECTOR, compacted, info);
                assert!(bytes <= super::super::STACK_AREA_BYTES, "{bytes}");
            }
        }
    }

    #[test]
    fn packing_round_trips() {
        let state = VectorState::from_parts(
            Components::VECTOR,
            SaveInstruction::Xsavec,
            features::XSAVEC | features::XGETBV1 | features::XSAVEOPT,
            2432,
        );
        assert_eq!(state.components(), Components::VECTOR);
        assert_eq!(state.instruction(), SaveInstruction::Xsavec);
        assert_eq!(state.area_bytes(), 2432);
        assert_eq!(state.mask(), 0xE6);
        assert!(state.skips_init_state());
        assert!(!state.always_save().skips_init_state());
        assert!(VectorState::NONE.is_empty());
        assert_eq!(VectorState::NONE.area_bytes(), 0);
        assert_eq!(state.always_save().area_bytes(), 2432);
    }

    #[test]
    fn xsaveopt_is_never_chosen_by_with_instruction() {
        let state = VectorState::from_parts(
            Components::SSE,
            SaveInstruction::Xsavec,
            features::XSAVEC | features::XSAVEOPT,
            576,
        );
        assert_eq!(state.with_instruction(SaveInstruction::Xsaveopt), None);
        let no_xsavec = VectorState::from_parts(Components::SSE, SaveInstruction::Xsave, 0, 576);
        assert_eq!(no_xsavec.with_instruction(SaveInstruction::Xsavec), None);
        assert_eq!(
            VectorState::NONE.with_instruction(SaveInstruction::Xsave),
            None
        );
    }
}
