//! TDG.VP.VMCALL status codes: what the VMM returns to the guest in R10.
//!
//! These are a guest/VMM convention (GHCI), not module codes: the module never reads or
//! writes R10 for TDG.VP.VMCALL. The values are the Linux kernel's `TDVMCALL_STATUS_*`,
//! plus QEMU's `GPA_INUSE`, which the kernel does not define.

use super::table::code_table;
use core::fmt;

code_table! {
    /// A named TDVMCALL status (R10 after TDG.VP.VMCALL). Generated from the one table in
    /// `src/status/tdvmcall.rs`; matched on all 64 bits.
    pub enum TdvmcallCode, rows TDVMCALL_ROWS: () {
        Success = "TDVMCALL_STATUS_SUCCESS", 0x0000_0000_0000_0000, (),
            "The VMM carried out the request.";
        Retry = "TDVMCALL_STATUS_RETRY", 0x0000_0000_0000_0001, (),
            "Not an error: the VMM did part of the request (e.g. MapGPA up to the address in R11); call again for the rest.";
        InvalidOperand = "TDVMCALL_STATUS_INVALID_OPERAND", 0x8000_0000_0000_0000, (),
            "The VMM rejected an operand, or does not implement the sub-function.";
        GpaInuse = "TDVMCALL_STATUS_GPA_INUSE", 0x8000_0000_0000_0001, (),
            "MapGPA: the GPA range is in use. Defined by QEMU; the Linux kernel has no name for it.";
        AlignError = "TDVMCALL_STATUS_ALIGN_ERROR", 0x8000_0000_0000_0002, (),
            "An address or size operand is misaligned.";
        SubfuncUnsupported = "TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED", 0x8000_0000_0000_0003, (),
            "The VMM does not support this sub-function (Linux 6.16 and later).";
    }
}

impl TdvmcallCode {
    /// The code with exactly this 64-bit value.
    pub fn from_value(value: u64) -> Option<TdvmcallCode> {
        TdvmcallCode::ALL
            .iter()
            .copied()
            .find(|c| c.value() == value)
    }

    /// The code named `name`, e.g. `"TDVMCALL_STATUS_RETRY"`.
    pub fn from_name(name: &str) -> Option<TdvmcallCode> {
        TdvmcallCode::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// The value as a [`TdvmcallStatus`].
    #[inline]
    pub const fn status(self) -> TdvmcallStatus {
        TdvmcallStatus(self.value())
    }
}

/// The status a VMM returns in R10 after TDG.VP.VMCALL. Every bit is kept.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TdvmcallStatus(u64);

impl TdvmcallStatus {
    /// `TDVMCALL_STATUS_SUCCESS`.
    pub const SUCCESS: TdvmcallStatus = TdvmcallStatus(0);
    /// `TDVMCALL_STATUS_RETRY`.
    pub const RETRY: TdvmcallStatus = TdvmcallStatus(1);

    /// Wraps a raw R10 value.
    #[inline]
    pub const fn from_raw(raw: u64) -> TdvmcallStatus {
        TdvmcallStatus(raw)
    }

    /// All 64 bits.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Bit 63: the VMM refused the request.
    #[inline]
    pub const fn is_error(self) -> bool {
        self.0 >> 63 != 0
    }

    /// Zero: the VMM carried out the request.
    #[inline]
    pub const fn is_success(self) -> bool {
        self.0 == 0
    }

    /// `TDVMCALL_STATUS_RETRY`: partly done, call again.
    #[inline]
    pub const fn is_retry(self) -> bool {
        self.0 == TdvmcallStatus::RETRY.0
    }

    /// The named code, if the value is one.
    pub fn named(self) -> Option<TdvmcallCode> {
        TdvmcallCode::from_value(self.0)
    }

    /// `Ok(self)` unless bit 63 is set.
    pub fn check(self) -> crate::Result<TdvmcallStatus> {
        if self.is_error() {
            Err(crate::Error::Tdvmcall(self))
        } else {
            Ok(self)
        }
    }
}

impl fmt::Display for TdvmcallStatus {
    /// `0x8000000000000000 TDVMCALL_STATUS_INVALID_OPERAND: <description>`, or for an
    /// unnamed value `0x… unknown TDVMCALL status (error)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#018X} ", self.0)?;
        match self.named() {
            Some(code) => write!(f, "{}: {}", code.name(), code.description()),
            None if self.is_error() => f.write_str("unknown TDVMCALL status (error)"),
            None => f.write_str("unknown TDVMCALL status (not an error)"),
        }
    }
}

impl fmt::Debug for TdvmcallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TdvmcallStatus")
            .field("raw", &format_args!("{:#018x}", self.0))
            .field("name", &self.named().map(TdvmcallCode::name))
            .field("error", &self.is_error())
            .finish()
    }
}

impl From<u64> for TdvmcallStatus {
    fn from(raw: u64) -> TdvmcallStatus {
        TdvmcallStatus(raw)
    }
}

impl From<TdvmcallStatus> for u64 {
    fn from(status: TdvmcallStatus) -> u64 {
        status.0
    }
}
