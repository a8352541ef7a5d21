//! The completion status a TDX call returns in RAX.
//!
//! [`Status`] is a newtype over the full 64-bit value: it never drops a bit. Layout
//! (TDX module ABI, `api_error_code_t`):
//!
//! | bits  | meaning |
//! |-------|---------|
//! | 63    | error |
//! | 62    | non-recoverable |
//! | 61    | fatal |
//! | 60    | host recoverability hint |
//! | 59:48 | reserved |
//! | 47:40 | class |
//! | 39:32 | details L1 (code within the class) |
//! | 31:0  | details L2: operand ID or other data |

use crate::regs::offsets;

/// A TDX completion status (RAX after SEAMCALL or TDCALL), or one of the crate's software
/// codes for faults and VMfailInvalid.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Status(u64);

impl Status {
    /// `TDX_SUCCESS`.
    pub const SUCCESS: Status = Status(0);
    /// Bits every software code has: error (63) and class 0xFF (47:40), which the module
    /// never uses.
    pub const SW_ERROR: u64 = offsets::SW_ERROR;
    /// Details-L1 tag (bits 39:32) that tells a TDCALL fault apart from a SEAMCALL fault.
    pub const TDCALL_FAULT_TAG: u64 = 1 << 32;
    /// SEAMCALL returned VMfailInvalid (CF=1): no TDX module is loaded, or the SEAM loader
    /// is busy. `0x8000FF00FFFF0000`.
    pub const SEAMCALL_VMFAILINVALID: Status = Status(offsets::SW_VMFAILINVALID);
    /// #UD on SEAMCALL: the CPU is not in VMX root operation, or has no SEAM support.
    /// `0x8000FF0000000006`.
    pub const SEAMCALL_UD: Status = Status(offsets::SW_ERROR | 6);
    /// #GP on SEAMCALL: TDX is not enabled by the BIOS, or the caller is not at CPL 0.
    /// `0x8000FF000000000D`.
    pub const SEAMCALL_GP: Status = Status(offsets::SW_ERROR | 13);
    /// #UD on TDCALL: the caller is not in a TD. `0x8000FF0100000006`.
    pub const TDCALL_UD: Status = Status(offsets::SW_ERROR | Self::TDCALL_FAULT_TAG | 6);
    /// #GP on TDCALL: the caller is not at CPL 0 or not in 64-bit mode. `0x8000FF010000000D`.
    pub const TDCALL_GP: Status = Status(offsets::SW_ERROR | Self::TDCALL_FAULT_TAG | 13);

    /// Wraps a raw RAX value.
    #[inline]
    pub const fn from_raw(raw: u64) -> Status {
        Status(raw)
    }

    /// The raw 64-bit value, every bit as the call returned it.
    #[inline]
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Bit 63: the call failed.
    #[inline]
    pub const fn is_error(self) -> bool {
        self.0 & (1 << 63) != 0
    }

    /// The status code: bits 63:32 (error flags, class and details L1).
    #[inline]
    pub const fn code(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Bits 47:40: the class.
    #[inline]
    pub const fn class(self) -> u8 {
        (self.0 >> 40) as u8
    }

    /// Bits 31:0: details L2, usually the operand ID.
    #[inline]
    pub const fn details_l2(self) -> u32 {
        self.0 as u32
    }

    /// One of the crate's software codes (bit 63 and class 0xFF), never produced by the
    /// module.
    #[inline]
    pub const fn is_software(self) -> bool {
        self.0 & Self::SW_ERROR == Self::SW_ERROR
    }

    /// The software code for a #UD (vector 6) or #GP (vector 13) on a SEAMCALL
    /// (`tdcall == false`) or TDCALL (`tdcall == true`) instruction.
    #[inline]
    pub const fn for_fault(tdcall: bool, vector: u8) -> Status {
        let tag = if tdcall { Self::TDCALL_FAULT_TAG } else { 0 };
        Status(Self::SW_ERROR | tag | vector as u64)
    }
}

impl core::fmt::Debug for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Status({:#018x})", self.0)
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#018X}", self.0)
    }
}

impl From<u64> for Status {
    fn from(raw: u64) -> Status {
        Status(raw)
    }
}

impl From<Status> for u64 {
    fn from(status: Status) -> u64 {
        status.0
    }
}
