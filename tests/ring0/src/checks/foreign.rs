//! Faults that are not the crate's: a #UD and a #GP raised by the image's own code. The
//! crate's fixup must decline both (return `false` and leave RIP and RAX alone); the
//! handler then skips the armed instruction, so the run goes on and the check can look at
//! what happened.

use core::arch::global_asm;
use core::ptr::addr_of;

use tdxcall::fixup::site_at;

use super::{Check, Failed};
use crate::trap::{self, ForeignFault, VECTOR_GP, VECTOR_UD};

/// The section's checks.
pub const CHECKS: &[Check] = &[
    Check {
        name: "foreign_ud_declined",
        run: foreign_ud_declined,
    },
    Check {
        name: "foreign_gp_declined",
        run: foreign_gp_declined,
    },
];

/// RAX at each foreign fault; the probe returns RAX, so the check sees whether the
/// exception path changed it.
const RAX_MARKER: u64 = 0x0f0e_1ea5_0000_00ad;
/// A selector far past the end of the image's three-entry GDT: loading it into DS raises
/// #GP with the selector (RPL and TI cleared) as the error code.
const BAD_SELECTOR: u64 = 0x1000;

global_asm!(
    ".pushsection .text.ring0_foreign, \"ax\"",
    ".globl ring0_foreign_ud, ring0_foreign_ud_insn, ring0_foreign_ud_resume",
    ".p2align 4",
    "ring0_foreign_ud:",
    "    movabs ${marker}, %rax",
    "ring0_foreign_ud_insn:",
    "    ud2",
    "ring0_foreign_ud_resume:",
    "    ret",
    ".globl ring0_foreign_gp, ring0_foreign_gp_insn, ring0_foreign_gp_resume",
    ".p2align 4",
    "ring0_foreign_gp:",
    "    movabs ${marker}, %rax",
    "    mov ${selector}, %ecx",
    "ring0_foreign_gp_insn:",
    "    mov %ecx, %ds",
    "ring0_foreign_gp_resume:",
    "    ret",
    ".popsection",
    marker = const RAX_MARKER,
    selector = const BAD_SELECTOR,
    options(att_syntax)
);

extern "C" {
    /// Executes UD2 at `ring0_foreign_ud_insn`; returns RAX.
    fn ring0_foreign_ud() -> u64;
    static ring0_foreign_ud_insn: u8;
    static ring0_foreign_ud_resume: u8;
    /// Loads [`BAD_SELECTOR`] into DS at `ring0_foreign_gp_insn`; returns RAX.
    fn ring0_foreign_gp() -> u64;
    static ring0_foreign_gp_insn: u8;
    static ring0_foreign_gp_resume: u8;
}

fn check_declined(
    name: &str,
    probe: unsafe extern "C" fn() -> u64,
    fault: ForeignFault,
    error_code: u64,
) -> Result<(), Failed> {
    ensure!(
        site_at(fault.rip).is_none(),
        "{name}: {:#x} is one of the crate's sites",
        fault.rip
    );
    let fixups_before = trap::fixups().count;
    trap::arm_foreign_fault(fault);
    // SAFETY: the probe faults once at `fault.rip`, which the handler now skips to
    // `fault.resume` if the crate declines it (or reports it as unhandled and ends the run).
    // The probe clobbers only RAX and RCX (caller-saved) and loads no segment register
    // (the load faults).
    let rax = unsafe { probe() };
    let declined = trap::take_declined();
    let fixups_after = trap::fixups().count;
    ensure!(
        fixups_after == fixups_before,
        "{name}: the crate claimed a fault that is not its own"
    );
    let Some(declined) = declined else {
        crate::println!("    {name}: the armed fault never reached the handler");
        return Err(Failed);
    };
    ensure!(
        declined.vector == fault.vector && declined.rip == fault.rip,
        "{name}: declined vector {} at {:#x}, expected vector {} at {:#x}",
        declined.vector,
        declined.rip,
        fault.vector,
        fault.rip
    );
    ensure!(
        declined.frame_untouched,
        "{name}: the crate changed RIP or RAX while declining"
    );
    ensure!(
        declined.error_code == error_code,
        "{name}: error code {:#x}, expected {error_code:#x}",
        declined.error_code
    );
    ensure!(
        rax == RAX_MARKER,
        "{name}: RAX came back {rax:#x}, expected {RAX_MARKER:#x}"
    );
    Ok(())
}

fn foreign_ud_declined() -> Result<(), Failed> {
    let fault = ForeignFault {
        vector: VECTOR_UD,
        rip: addr_of!(ring0_foreign_ud_insn) as u64,
        resume: addr_of!(ring0_foreign_ud_resume) as u64,
    };
    check_declined("ud2", ring0_foreign_ud, fault, 0)
}

fn foreign_gp_declined() -> Result<(), Failed> {
    let fault = ForeignFault {
        vector: VECTOR_GP,
        rip: addr_of!(ring0_foreign_gp_insn) as u64,
        resume: addr_of!(ring0_foreign_gp_resume) as u64,
    };
    check_declined("mov to ds", ring0_foreign_gp, fault, BAD_SELECTOR)
}
