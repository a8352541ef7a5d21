//! The completion status a TDX call returns in RAX, decoded without dropping a bit.
//!
//! [`Status`] is a newtype over the full 64-bit value. Layout (TDX module ABI,
//! `api_error_code_t`):
//!
//! | bits  | meaning |
//! |-------|---------|
//! | 63    | error |
//! | 62    | non-recoverable |
//! | 61    | fatal |
//! | 60    | host recoverability hint |
//! | 59:48 | reserved (zero from the module) |
//! | 47:40 | class |
//! | 39:32 | details L1 (code within the class) |
//! | 31:0  | details L2: an operand ID, or other data ([`Details`]) |
//!
//! Bits 63:32 are the code. [`StatusCode`] names every code of module 1.0.3, 1.5.01 and
//! 1.5.05 and the crate's software codes (class 0xFF); it is generated, with its names,
//! values, descriptions and `Display`, from one table in `codes.rs`. [`TdvmcallStatus`] is
//! the separate family of R10 values after TDG.VP.VMCALL.
//!
//! # Success, warning, non-recoverable, error
//!
//! [`Status::kind`] sorts every value into one of four [`StatusKind`]s:
//!
//! - **Success**: bits 63:32 all zero. Bits 31:0 may still carry data (the exit reason after
//!   TDH.VP.ENTER, a count after TDH.EXPORT.MEM), so never test `raw == 0`.
//! - **Warning**: bit 63 clear, bit 62 clear, code non-zero. The call did its job and says
//!   something more, e.g. `TDX_PAGE_ALREADY_ACCEPTED`, `TDX_KEY_CONFIGURED`,
//!   `TDX_METADATA_FIRST_FIELD_ID_IN_CONTEXT`, or an L2 exit status.
//! - **NonRecoverable**: bit 63 clear, bit 62 set. Only TD exits from TDH.VP.ENTER produce
//!   these (`TDX_NON_RECOVERABLE_VCPU`, `TDX_NON_RECOVERABLE_TD*`): the SEAMCALL itself
//!   worked, so the module does not flag an error, but the vCPU or the TD is dead. They are
//!   kept apart from warnings because treating them as "fine" would re-enter a dead vCPU.
//! - **Error**: bit 63 set, including every software code.
//!
//! [`Status::check`] turns errors (bit 63) into [`Error::Status`](crate::Error::Status) and
//! passes the other three through, for the wrapper to inspect.

mod codes;
mod details;
mod parse;
pub(crate) mod table;
mod tdvmcall;

pub use codes::{class_name, classes, DetailsKind, Origin, Release, Releases, StatusCode};
pub use details::{Details, ExitReason, Operand, OperandGroup};
pub use parse::{
    parse_hex_u64, parse_status_text, LoggedCall, LoggedLeaf, ParseStatusError, ParsedStatus,
};
pub use tdvmcall::{TdvmcallCode, TdvmcallStatus};

use crate::regs::offsets;
use crate::version::ModuleVersion;
use core::fmt;

/// A TDX completion status (RAX after SEAMCALL or TDCALL), or one of the crate's software
/// codes for faults and VMfailInvalid.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Status(u64);

/// The four kinds of status; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// Bits 63:32 zero.
    Success,
    /// Bit 63 and 62 clear, code non-zero: done, with something to say.
    Warning,
    /// Bit 63 clear, bit 62 set: a TD exit after which the vCPU or TD can never run again.
    NonRecoverable,
    /// Bit 63 set.
    Error,
}

const ERROR_BIT: u64 = 1 << 63;
const NON_RECOVERABLE_BIT: u64 = 1 << 62;
const FATAL_BIT: u64 = 1 << 61;
const HOST_RECOVERABILITY_HINT_BIT: u64 = 1 << 60;
const RESERVED_BITS: u64 = 0x0FFF_0000_0000_0000;

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

    /// Details-L1 (bits 39:32) of the software status for a leaf the known module does not
    /// have ([`Status::not_in_module`]); bit 32 tells a TDCALL leaf from a SEAMCALL one.
    pub const NOT_IN_MODULE_TAG: u64 = 2 << 32;
    /// Added to [`Status::NOT_IN_MODULE_TAG`] when a TDX_FEATURES0 bit was missing.
    pub const MISSING_FEATURE0_TAG: u64 = 4 << 32;

    /// The software status a [`Host`](crate::host::Host) or [`Guest`](crate::guest::Guest)
    /// returns instead of calling a leaf its known module does not have: error bit, class
    /// 0xFF, details L1 2 (SEAMCALL) or 3 (TDCALL), plus 4 when the reason is a missing
    /// TDX_FEATURES0 bit, and in bits 31:0 the leaf number (7:0), the leaf version (15:8),
    /// and the module's major (31:28), minor (27:24) and update (23:16). Nothing ran. [`Status::check`] turns it into
    /// [`InvalidReason::NotInModule`](crate::error::InvalidReason::NotInModule).
    pub const fn not_in_module(refusal: crate::leaf::NotInModule) -> Status {
        let side = match refusal.leaf.side() {
            crate::leaf::Side::Host => Self::NOT_IN_MODULE_TAG,
            crate::leaf::Side::Guest => Self::NOT_IN_MODULE_TAG | Self::TDCALL_FAULT_TAG,
        };
        let tag = if refusal.missing_feature0.is_some() {
            side | Self::MISSING_FEATURE0_TAG
        } else {
            side
        };
        let module = refusal.module;
        let bits = (refusal.leaf.number() as u64 & 0xFF)
            | (refusal.version as u64) << 8
            | (module.update as u64) << 16
            | ((module.minor & 0xF) as u64) << 24
            | ((module.major & 0xF) as u64) << 28;
        Status(Self::SW_ERROR | tag | bits)
    }

    /// For a status made by [`Status::not_in_module`]: the refusal it records.
    pub fn as_not_in_module(self) -> Option<crate::leaf::NotInModule> {
        if !self.is_software() || self.0 & (0xFA << 32) != Self::NOT_IN_MODULE_TAG {
            return None;
        }
        let side = if self.0 & Self::TDCALL_FAULT_TAG != 0 {
            crate::leaf::Side::Guest
        } else {
            crate::leaf::Side::Host
        };
        let raw = self.0 as u32;
        let leaf = crate::leaf::Leaf::from_number(side, (raw & 0xFF) as u16)?;
        let version = (raw >> 8) as u8;
        let module = ModuleVersion::new(
            (raw >> 28) as u8,
            (raw >> 24) as u8 & 0xF,
            (raw >> 16) as u8,
        );
        Some(crate::leaf::NotInModule {
            leaf,
            version,
            module,
            needs: leaf.modules_with_version(version).first(),
            missing_feature0: if self.0 & Self::MISSING_FEATURE0_TAG != 0 {
                leaf.needs_feature0()
            } else {
                None
            },
        })
    }

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
        self.0 & ERROR_BIT != 0
    }

    /// Bit 62: non-recoverable. On an error, retrying the same call cannot help; without the
    /// error bit, the vCPU or TD is dead ([`StatusKind::NonRecoverable`]).
    #[inline]
    pub const fn is_non_recoverable(self) -> bool {
        self.0 & NON_RECOVERABLE_BIT != 0
    }

    /// Bit 61: fatal; the TD is in a fatal state.
    #[inline]
    pub const fn is_fatal(self) -> bool {
        self.0 & FATAL_BIT != 0
    }

    /// Bit 60: host recoverability hint; the host can recover by itself (e.g. after a
    /// host-priority timeout or a cross-TD trap).
    #[inline]
    pub const fn host_recoverability_hint(self) -> bool {
        self.0 & HOST_RECOVERABILITY_HINT_BIT != 0
    }

    /// Bits 59:48, in place; zero from the module.
    #[inline]
    pub const fn reserved_bits(self) -> u64 {
        self.0 & RESERVED_BITS
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

    /// Bits 39:32: details L1, the code within its class.
    #[inline]
    pub const fn details_l1(self) -> u8 {
        (self.0 >> 32) as u8
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

    /// Success, warning, non-recoverable or error; see the [module docs](self).
    #[inline]
    pub const fn kind(self) -> StatusKind {
        if self.code() == 0 {
            StatusKind::Success
        } else if self.is_error() {
            StatusKind::Error
        } else if self.is_non_recoverable() {
            StatusKind::NonRecoverable
        } else {
            StatusKind::Warning
        }
    }

    /// Bits 63:32 are zero (bits 31:0 may carry data).
    #[inline]
    pub const fn is_success(self) -> bool {
        self.code() == 0
    }

    /// [`StatusKind::Warning`]: done, with something to say.
    #[inline]
    pub const fn is_warning(self) -> bool {
        matches!(self.kind(), StatusKind::Warning)
    }

    /// Whether this status carries `code`: bits 63:32 equal for a module code, all 64 bits
    /// for a software code.
    #[inline]
    pub const fn is(self, code: StatusCode) -> bool {
        if code.is_software() {
            self.0 == code.value()
        } else {
            self.code() == code.code()
        }
    }

    /// The named code, newest module release first (see [`StatusCode::from_status`]).
    pub fn named(self) -> Option<StatusCode> {
        StatusCode::from_status(self)
    }

    /// The named code as the module release closest to `version` defines it.
    pub fn named_for_version(self, version: ModuleVersion) -> Option<StatusCode> {
        StatusCode::from_status_for_version(self, version)
    }

    /// Bits 31:0 with the meaning the named code gives them ([`DetailsKind::None`] for an
    /// unknown code).
    pub fn details(self) -> Details {
        let kind = self
            .named()
            .map_or(DetailsKind::None, StatusCode::details_kind);
        Details::new(kind, self.details_l2())
    }

    /// Like [`Status::details`], with the codes of the release closest to `version`.
    pub fn details_for_version(self, version: ModuleVersion) -> Details {
        let kind = self
            .named_for_version(version)
            .map_or(DetailsKind::None, StatusCode::details_kind);
        Details::new(kind, self.details_l2())
    }

    /// `Display` with the codes of the module release closest to `version` (plain
    /// `Display` prefers the newest release; the two differ only for values 1.0.3 used
    /// differently, or codes a release lacks).
    pub fn display_for_version(self, version: ModuleVersion) -> StatusDisplay {
        StatusDisplay {
            status: self,
            named: self.named_for_version(version),
        }
    }

    /// The operand ID, for codes that carry one.
    pub fn operand(self) -> Option<Operand> {
        self.details().operand()
    }

    /// The VM-exit reason, for TD-exit statuses (and `TDX_SUCCESS`, where it is the exit
    /// reason only after TDH.VP.ENTER or TDG.VP.ENTER).
    pub fn exit_reason(self) -> Option<ExitReason> {
        self.details().exit_reason()
    }

    /// `Err(Error::Status(self))` when bit 63 is set; `Ok(self)` for success, warnings and
    /// non-recoverable TD exits, which the caller inspects.
    #[inline]
    pub fn check(self) -> crate::Result<Status> {
        if self.is_error() {
            Err(crate::Error::from(self))
        } else {
            Ok(self)
        }
    }

    fn flags(self) -> impl Iterator<Item = &'static str> {
        [
            (self.is_error(), "error"),
            (self.is_non_recoverable(), "non-recoverable"),
            (self.is_fatal(), "fatal"),
            (self.host_recoverability_hint(), "host-recoverable"),
        ]
        .into_iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| name)
    }
}

impl fmt::Display for Status {
    /// For a named code: `0xC000010000000001 TDX_OPERAND_INVALID (operand RCX): <description>`
    /// (the parenthesis only when bits 31:0 say something). For an unknown code, the raw
    /// value, the code, the flags, the class and any details, so no bit goes unseen.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_status(*self, self.named(), f)
    }
}

/// [`Status`] shown with the codes of one module release; see
/// [`Status::display_for_version`].
#[derive(Clone, Copy, Debug)]
pub struct StatusDisplay {
    status: Status,
    named: Option<StatusCode>,
}

impl fmt::Display for StatusDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_status(self.status, self.named, f)
    }
}

fn fmt_status(
    status: Status,
    named: Option<StatusCode>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    write!(f, "{:#018X} ", status.0)?;
    if let Some(named) = named {
        f.write_str(named.name())?;
        let details = Details::new(named.details_kind(), status.details_l2());
        if !details.is_empty() {
            write!(f, " ({details})")?;
        }
        return write!(f, ": {}", named.description());
    }
    let what = if status.is_software() {
        "unknown software status"
    } else {
        "unknown status"
    };
    write!(f, "{what} code {:#010X} (", status.code())?;
    let mut flags = status.flags().peekable();
    if flags.peek().is_none() {
        f.write_str("not an error")?;
    }
    for (index, flag) in flags.enumerate() {
        if index > 0 {
            f.write_str(", ")?;
        }
        f.write_str(flag)?;
    }
    write!(f, "; class {:#04x} ", status.class())?;
    match class_name(status.class()) {
        Some(name) => write!(f, "{name}")?,
        None => f.write_str("unknown")?,
    }
    write!(f, ", details L1 {:#04x}", status.details_l1())?;
    if status.reserved_bits() != 0 {
        write!(f, ", reserved bits {:#x} set", status.reserved_bits())?;
    }
    if status.details_l2() != 0 {
        write!(f, ", details L2 {:#010x}", status.details_l2())?;
    }
    f.write_str(")")
}

impl fmt::Debug for Status {
    /// Every field: the raw value, the name, the kind, each flag bit, the reserved bits,
    /// class, details L1 and L2, and the decoded details.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Status")
            .field("raw", &format_args!("{:#018x}", self.0))
            .field("name", &self.named().map(StatusCode::name))
            .field("kind", &self.kind())
            .field("error", &self.is_error())
            .field("non_recoverable", &self.is_non_recoverable())
            .field("fatal", &self.is_fatal())
            .field("host_recoverability_hint", &self.host_recoverability_hint())
            .field(
                "reserved",
                &format_args!("{:#x}", self.reserved_bits() >> 48),
            )
            .field(
                "class",
                &format_args!(
                    "{:#04x} ({})",
                    self.class(),
                    class_name(self.class()).unwrap_or("unknown")
                ),
            )
            .field("details_l1", &format_args!("{:#04x}", self.details_l1()))
            .field("details_l2", &format_args!("{:#010x}", self.details_l2()))
            .field("details", &format_args!("{}", self.details()))
            .finish()
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

impl From<StatusCode> for Status {
    fn from(code: StatusCode) -> Status {
        code.status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_rows_take_their_values_from_the_generated_constants() {
        assert_eq!(
            StatusCode::SeamcallVmfailinvalid.value(),
            offsets::SW_VMFAILINVALID
        );
        assert_eq!(StatusCode::SeamcallUd.value(), offsets::SW_ERROR | 6);
        assert_eq!(
            StatusCode::TdcallGp.value(),
            Status::for_fault(true, 13).raw()
        );
        for code in StatusCode::ALL {
            assert_eq!(code.is_software(), code.status().is_software(), "{code}");
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(Status::SUCCESS.kind(), StatusKind::Success);
        assert_eq!(Status::from_raw(0x30).kind(), StatusKind::Success);
        assert_eq!(
            StatusCode::PageAlreadyAccepted.status().kind(),
            StatusKind::Warning
        );
        assert_eq!(
            StatusCode::NonRecoverableVcpu.status().kind(),
            StatusKind::NonRecoverable
        );
        assert_eq!(StatusCode::OperandBusy.status().kind(), StatusKind::Error);
        assert_eq!(Status::SEAMCALL_UD.kind(), StatusKind::Error);
    }

    #[test]
    fn is_matches_module_codes_on_bits_63_32_and_software_codes_on_all_bits() {
        let busy_rcx = StatusCode::OperandBusy.with_operand(Operand::RCX);
        assert!(busy_rcx.is(StatusCode::OperandBusy));
        assert!(!busy_rcx.is(StatusCode::OperandInvalid));
        assert!(Status::SEAMCALL_GP.is(StatusCode::SeamcallGp));
        assert!(!Status::SEAMCALL_GP.is(StatusCode::SeamcallUd));
        assert!(!Status::from_raw(Status::SEAMCALL_GP.raw() | 0x100).is(StatusCode::SeamcallGp));
    }
}
