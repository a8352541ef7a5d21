//! What the image and `tests/ring0.rs` agree on: how a run ends and how the image reports.
//!
//! `tests/ring0.rs` includes this file as a module, so both sides read the same values.

/// I/O port of QEMU's `isa-debug-exit` device
/// (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// How a run ends: the value the image writes to the debug-exit port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Verdict {
    /// Every check passed.
    Passed = 0x10,
    /// At least one check failed.
    ChecksFailed = 0x11,
    /// An exception that neither the crate's fixup nor a deliberate-fault check claimed.
    UnhandledFault = 0x12,
    /// The image panicked.
    Panicked = 0x13,
    /// The CPU model lacks something the image itself needs (XSAVE).
    UnsupportedCpu = 0x14,
}

impl Verdict {
    /// Every verdict, to name an exit status.
    pub const ALL: [Verdict; 5] = [
        Verdict::Passed,
        Verdict::ChecksFailed,
        Verdict::UnhandledFault,
        Verdict::Panicked,
        Verdict::UnsupportedCpu,
    ];

    /// QEMU's exit status for this verdict: `isa-debug-exit` exits with `(value << 1) | 1`.
    /// (A triple fault with `-no-reboot` exits with 0, which no verdict maps to.)
    pub const fn qemu_exit_status(self) -> i32 {
        ((self as i32) << 1) | 1
    }
}

/// Start of a check's result line: `check <name> ... ok` or `check <name> ... FAILED`.
pub const CHECK_PREFIX: &str = "check ";
/// End of a passing check's line.
pub const CHECK_OK: &str = " ... ok";
/// End of a failing check's line; the lines before it say why.
pub const CHECK_FAILED: &str = " ... FAILED";
/// Start of the line reporting an exception nobody claimed:
/// `UNHANDLED #UD at rip=0x... (symbol+0x...)`.
pub const UNHANDLED_PREFIX: &str = "UNHANDLED ";
/// Start of the line describing the CPU model as the image set it up:
/// `ring0: cpu: avx=<bool> pku=<bool> xcr0=0x... xsave-max-bytes=<n>`.
pub const CPU_PREFIX: &str = "ring0: cpu: ";
/// Start of the line giving the number of entries in tdxcall's exception table.
pub const SITES_PREFIX: &str = "ring0: exception-table sites: ";
/// Start of the last line of a completed run: `ring0: summary: <n> passed, <m> failed`.
pub const SUMMARY_PREFIX: &str = "ring0: summary: ";
