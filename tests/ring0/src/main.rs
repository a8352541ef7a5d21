//! tdxcall's ring-0 test image: a freestanding kernel that QEMU boots with `-kernel`.
//!
//! Kernel-adjacent code (hypervisors, unikernels, TD firmware, SVSMs) calls the thunks at
//! CPL 0, where a fault is an exception through the IDT, not a signal. This image runs the
//! crate there: its #UD and #GP handlers call `tdxcall::fixup::fixup_exception` exactly as
//! such a kernel would, and it reports over COM1 and ends the run through QEMU's
//! `isa-debug-exit` device (see `protocol`). `tests/ring0.rs` builds it, boots it under TCG
//! and checks the report.
//!
//! - `boot`: PVH note, 32-bit entry, identity paging, long mode, stack.
//! - `cpu`: XSAVE and XCR0.
//! - `trap`: IDT, exception entry (which saves the XSAVE state), the fixup call.
//! - `checks`: the checks, one module per section.
//! - `mem`: `memcpy` and friends, which `core` needs and no C library provides here.
//!
//! It is also the proof that the crate is `no_std` without `alloc` with default features
//! off: this crate is `#![no_std]`, defines its own `#[panic_handler]` and no global
//! allocator, and links with `-nostdlib`. Were `std` linked in through `tdxcall`, its
//! `panic_impl` lang item would clash with the one here; were `alloc`, rustc would refuse to
//! link without a `#[global_allocator]`.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod boot;
mod checks;
mod cpu;
mod mem;
mod protocol;
mod serial;
mod trap;

use core::arch::asm;
use core::panic::PanicInfo;

use protocol::{Verdict, CPU_PREFIX, DEBUG_EXIT_PORT, SITES_PREFIX, SUMMARY_PREFIX};

/// Called by the boot code, in long mode with paging, SSE and a stack.
extern "C" fn ring0_main() -> ! {
    serial::init();
    println!("ring0: tdxcall ring-0 test image");
    let features = match cpu::init() {
        Ok(features) => features,
        Err(why) => {
            println!("ring0: unsupported CPU model: {why}");
            exit(Verdict::UnsupportedCpu)
        }
    };
    println!(
        "{CPU_PREFIX}avx={} pku={} xcr0={:#x} xsave-max-bytes={}",
        features.avx, features.pku, features.xcr0, features.xsave_max_bytes
    );
    trap::init();
    println!("{SITES_PREFIX}{}", tdxcall::fixup::sites().count());
    let summary = checks::run_all();
    println!(
        "{SUMMARY_PREFIX}{} passed, {} failed",
        summary.passed, summary.failed
    );
    exit(if summary.failed == 0 {
        Verdict::Passed
    } else {
        Verdict::ChecksFailed
    })
}

/// Ends the run with `verdict` as QEMU's exit status.
pub fn exit(verdict: Verdict) -> ! {
    serial::outl(DEBUG_EXIT_PORT, verdict as u32);
    // Only reached without the debug-exit device; the test's time limit ends the run then.
    loop {
        // SAFETY: stops the CPU until an interrupt, and interrupts are off.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// The personality routine the precompiled `core`'s unwind tables name. The image aborts on
/// panic and links no unwinder, so nothing can call it; if something ever does, the run ends
/// with a report instead of an undefined jump.
#[no_mangle]
extern "C" fn rust_eh_personality() -> ! {
    println!("ring0: rust_eh_personality called, but the image cannot unwind");
    exit(Verdict::Panicked)
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    println!("ring0: PANIC: {info}");
    exit(Verdict::Panicked)
}
