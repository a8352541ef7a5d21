//! Processor set-up after the boot code: XSAVE, and the XCR0 components the CPU model has.
//!
//! The exception entry saves and restores the whole extended state with XSAVE/XRSTOR, so a
//! fault taken inside a thunk hands back vector registers exactly as they were, as a real
//! kernel's exception path does. That needs CR4.OSXSAVE, which also makes XGETBV/XSETBV
//! usable at CPL 0.

use core::arch::asm;
use core::arch::x86_64::__cpuid_count;
use core::fmt;

/// Bytes the exception entry reserves on the stack for the XSAVE area.
pub const XSAVE_AREA_BYTES: usize = 4096;

/// XCR0 components the image enables when the CPU model has them: x87 (bit 0), SSE (1),
/// AVX (2) and PKRU (9). No AVX-512: QEMU's TCG does not implement it.
const WANTED_XCR0: u64 = 1 | 1 << 1 | 1 << 2 | 1 << 9;

const CR4_OSXSAVE: u64 = 1 << 18;
const CR4_PKE: u64 = 1 << 22;

/// What [`init`] found and enabled.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    /// CPUID.1:ECX.AVX.
    pub avx: bool,
    /// CPUID.(7,0):ECX.PKU; when set, CR4.PKE is on.
    pub pku: bool,
    /// The XCR0 value now in force.
    pub xcr0: u64,
    /// CPUID.(0xD,0):ECX: the largest XSAVE area any supported XCR0 needs.
    pub xsave_max_bytes: u32,
}

/// Why the image cannot run on this CPU model.
#[derive(Clone, Copy)]
pub enum Unsupported {
    /// CPUID.1:ECX.XSAVE is clear.
    NoXsave,
    /// The largest XSAVE area (bytes) does not fit the exception entry's reserve.
    XsaveAreaTooLarge { bytes: u32 },
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::NoXsave => f.write_str("no XSAVE (CPUID.1:ECX bit 26)"),
            Unsupported::XsaveAreaTooLarge { bytes } => write!(
                f,
                "the largest XSAVE area is {bytes} bytes, more than the {XSAVE_AREA_BYTES} the exception entry reserves"
            ),
        }
    }
}

fn read_cr4() -> u64 {
    let value: u64;
    // SAFETY: reading CR4 at CPL 0 has no side effect.
    unsafe { asm!("mov {}, cr4", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Enables XSAVE (and PKE when the model has PKU), and sets XCR0 to the wanted components
/// the model supports.
pub fn init() -> Result<Features, Unsupported> {
    let leaf1 = __cpuid_count(1, 0);
    if leaf1.ecx & (1 << 26) == 0 {
        return Err(Unsupported::NoXsave);
    }
    let avx = leaf1.ecx & (1 << 28) != 0;
    let pku = __cpuid_count(7, 0).ecx & (1 << 3) != 0;

    let mut cr4 = read_cr4() | CR4_OSXSAVE;
    if pku {
        // PKE only affects user-mode pages, and the image maps none; it makes RDPKRU and
        // WRPKRU usable.
        cr4 |= CR4_PKE;
    }
    // SAFETY: sets only feature-enable bits CPUID reported as supported; the image's
    // mappings and segments do not depend on them.
    unsafe { asm!("mov cr4, {}", in(reg) cr4, options(nomem, nostack, preserves_flags)) };

    let leaf_d = __cpuid_count(0xd, 0);
    let supported = u64::from(leaf_d.eax) | u64::from(leaf_d.edx) << 32;
    let xcr0 = supported & WANTED_XCR0;
    // SAFETY: CR4.OSXSAVE is set; `xcr0` holds only components CPUID reports supported and
    // always includes x87 (which XSETBV requires), since every XSAVE CPU supports it.
    unsafe {
        asm!(
            "xsetbv",
            in("ecx") 0u32,
            in("eax") xcr0 as u32,
            in("edx") (xcr0 >> 32) as u32,
            options(nomem, nostack, preserves_flags)
        )
    };

    let xsave_max_bytes = leaf_d.ecx;
    if xsave_max_bytes as usize > XSAVE_AREA_BYTES {
        return Err(Unsupported::XsaveAreaTooLarge {
            bytes: xsave_max_bytes,
        });
    }
    Ok(Features {
        avx,
        pku,
        xcr0,
        xsave_max_bytes,
    })
}
