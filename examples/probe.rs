//! Reports what this machine offers for TDX, and never crashes.
//!
//! `cargo run --example probe`

use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
use tdxcall::call::{Backend, CallKind, Native};
use tdxcall::Regs;

/// TDH.SYS.RD, field MAJOR_VERSION: a harmless read if a module is there.
const TDH_SYS_RD: u64 = 34;
const MAJOR_VERSION_FIELD: u64 = 0x0800_0001_0000_0004;
/// TDG.VP.INFO: a harmless read inside a TD.
const TDG_VP_INFO: u64 = 1;

fn main() {
    let max_leaf = __cpuid(0).eax;
    let td_guest = if max_leaf >= 0x21 {
        let sig = __cpuid_count(0x21, 0);
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&sig.ebx.to_le_bytes());
        bytes[4..8].copy_from_slice(&sig.edx.to_le_bytes());
        bytes[8..].copy_from_slice(&sig.ecx.to_le_bytes());
        bytes == *b"IntelTDX    "
    } else {
        false
    };
    println!("max basic CPUID leaf:   {max_leaf:#x}");
    println!(
        "TD guest (CPUID 0x21):  {}",
        if td_guest { "yes" } else { "no" }
    );

    let mut native = Native::new();
    let mut regs = Regs {
        rdx: MAJOR_VERSION_FIELD,
        ..Regs::ZERO
    };
    // SAFETY: TDH.SYS.RD only reads module metadata into registers.
    let status = unsafe { native.call(CallKind::Seamcall, TDH_SYS_RD, &mut regs) };
    println!("SEAMCALL TDH.SYS.RD:    {status}");
    let mut regs = Regs::ZERO;
    // SAFETY: TDG.VP.INFO only returns values in registers.
    let status = unsafe { native.call(CallKind::Tdcall, TDG_VP_INFO, &mut regs) };
    println!("TDCALL TDG.VP.INFO:     {status}");

    let osxsave = __cpuid(1).ecx & (1 << 27) != 0;
    if osxsave && max_leaf >= 0xD {
        // SAFETY: OSXSAVE is set, so XGETBV(0) is enabled.
        let xcr0 = unsafe { _xgetbv(0) };
        let (d0, d1) = (__cpuid_count(0xD, 0), __cpuid_count(0xD, 1));
        println!("XCR0:                   {xcr0:#x}");
        println!(
            "XSAVE size for XCR0:    {} bytes (all supported: {})",
            d0.ebx, d0.ecx
        );
        println!(
            "XSAVEOPT/XSAVEC/XGETBV1/XSAVES: {}/{}/{}/{}",
            d1.eax & 1 != 0,
            d1.eax & 2 != 0,
            d1.eax & 4 != 0,
            d1.eax & 8 != 0
        );
        println!("XSAVEC size for XCR0|XSS: {} bytes", d1.ebx);
    } else {
        println!("XSAVE:                  not enabled by the OS");
    }
}
