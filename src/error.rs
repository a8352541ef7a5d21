//! The crate's one error type.

use crate::status::{Status, TdvmcallStatus};

/// Result alias used by every wrapper.
pub type Result<T> = core::result::Result<T, Error>;

/// Everything a tdxcall wrapper can fail with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The call ran and returned an error status (bit 63 set), or a software code for a
    /// fault or VMfailInvalid. Every bit of RAX is kept.
    Status(Status),
    /// An argument was rejected before any instruction executed.
    InvalidArgument(InvalidArgument),
    /// TDG.VP.VMCALL reached the VMM, which refused the request: R10 had bit 63 set. Every
    /// bit of R10 is kept.
    Tdvmcall(TdvmcallStatus),
    /// The VMM broke the GHCI protocol of a TDG.VP.VMCALL (for example a MapGPA retry
    /// address outside the requested range). From
    /// [`VmcallError`](crate::guest::tdvmcall::VmcallError).
    VmmProtocol {
        /// What the VMM did wrong.
        violation: &'static str,
        /// The offending value.
        value: u64,
    },
}

impl Error {
    /// The TDX status, for [`Error::Status`].
    pub const fn status(&self) -> Option<Status> {
        match self {
            Error::Status(status) => Some(*status),
            _ => None,
        }
    }

    /// The TDVMCALL status, for [`Error::Tdvmcall`].
    pub const fn tdvmcall_status(&self) -> Option<TdvmcallStatus> {
        match self {
            Error::Tdvmcall(status) => Some(*status),
            _ => None,
        }
    }
}

/// An argument that failed validation; nothing was executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InvalidArgument {
    /// Which argument (the parameter or ABI field name).
    pub argument: &'static str,
    /// What is wrong with it.
    pub reason: InvalidReason,
}

/// Why an argument was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidReason {
    /// The value is not aligned to `required` bytes.
    Misaligned {
        /// The value given.
        value: u64,
        /// The alignment the ABI requires, in bytes.
        required: u64,
    },
    /// The value has bits set above the `max_bits` the ABI allows.
    TooWide {
        /// The value given.
        value: u64,
        /// The number of low bits the value may use.
        max_bits: u32,
    },
    /// Bits that the ABI reserves (must be zero) are set.
    ReservedBitsSet {
        /// The value given.
        value: u64,
        /// The reserved bits that are set.
        bits: u64,
    },
    /// A page level outside what the leaf accepts.
    LevelOutOfRange {
        /// The level given (0 = 4 KiB).
        level: u8,
        /// Lowest level the leaf accepts.
        min: u8,
        /// Highest level the leaf accepts.
        max: u8,
    },
    /// A value outside the range the ABI allows.
    OutOfRange {
        /// The value given.
        value: u64,
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// A malformed metadata field identifier.
    MalformedFieldId {
        /// The field ID given.
        value: u64,
    },
    /// The value equals another argument that the ABI requires it to differ from (for
    /// example the service TD's TDR and the target TD's TDR of TDH.SERVTD.BIND).
    NotDistinct {
        /// The value given for both.
        value: u64,
        /// The other argument.
        other: &'static str,
    },
    /// The TDX module the [`Host`](crate::host::Host) or [`Guest`](crate::guest::Guest)
    /// was told about (or read) does not have this leaf, or this version of it, by the leaf
    /// table; nothing ran. The argument is `"leaf"`.
    NotInModule(crate::leaf::NotInModule),
}

impl core::fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            InvalidReason::Misaligned { value, required } => {
                write!(f, "{value:#x} is not {required}-byte aligned")
            }
            InvalidReason::TooWide { value, max_bits } => {
                write!(f, "{value:#x} does not fit in {max_bits} bits")
            }
            InvalidReason::ReservedBitsSet { value, bits } => {
                write!(f, "{value:#x} has reserved bits {bits:#x} set")
            }
            InvalidReason::LevelOutOfRange { level, min, max } => {
                write!(f, "level {level} is outside {min}..={max}")
            }
            InvalidReason::OutOfRange { value, min, max } => {
                write!(f, "{value:#x} is outside {min:#x}..={max:#x}")
            }
            InvalidReason::MalformedFieldId { value } => {
                write!(f, "{value:#018x} is not a valid metadata field ID")
            }
            InvalidReason::NotDistinct { value, other } => {
                write!(f, "{value:#x} is also the {other}; the two must differ")
            }
            InvalidReason::NotInModule(refusal) => refusal.fmt(f),
        }
    }
}

impl core::fmt::Display for InvalidArgument {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid {}: {}", self.argument, self.reason)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Status(status) => write!(f, "TDX call failed: {status}"),
            Error::InvalidArgument(invalid) => invalid.fmt(f),
            Error::Tdvmcall(status) => write!(f, "TDG.VP.VMCALL refused by the VMM: {status}"),
            Error::VmmProtocol { violation, value } => {
                write!(
                    f,
                    "the VMM broke the TDG.VP.VMCALL protocol: {violation} ({value:#x})"
                )
            }
        }
    }
}

impl core::error::Error for Error {}

impl From<Status> for Error {
    /// [`Error::Status`], except for the software status of a leaf the known module does not
    /// have ([`Status::not_in_module`]), which becomes [`Error::InvalidArgument`] with
    /// [`InvalidReason::NotInModule`]: nothing ran.
    fn from(status: Status) -> Error {
        match status.as_not_in_module() {
            Some(refusal) => Error::InvalidArgument(InvalidArgument {
                argument: "leaf",
                reason: InvalidReason::NotInModule(refusal),
            }),
            None => Error::Status(status),
        }
    }
}

impl From<TdvmcallStatus> for Error {
    fn from(status: TdvmcallStatus) -> Error {
        Error::Tdvmcall(status)
    }
}

impl From<InvalidArgument> for Error {
    fn from(invalid: InvalidArgument) -> Error {
        Error::InvalidArgument(invalid)
    }
}

/// An error plus the outputs the module wrote on the failure path: what the host and guest
/// wrappers of leaves that report details on failure return (for example the Secure-EPT
/// entry of a failed TDH.MEM.* walk, or the target TD's UUID of TDG.SERVTD.RD). Converts
/// into [`Error`] with `?`, keeping every bit of the status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DetailedError<D> {
    /// The error: the full status, or the rejected argument.
    pub error: Error,
    /// What the module reported with the status (only for the statuses the leaf documents
    /// details for; `None` for rejected arguments and other statuses).
    pub details: Option<D>,
}

impl<D> DetailedError<D> {
    /// The leaf failed with `status` and wrote `details` on that failure path.
    #[inline]
    pub fn with_details(status: Status, details: D) -> DetailedError<D> {
        DetailedError {
            error: Error::Status(status),
            details: Some(details),
        }
    }

    /// The status, when the call ran.
    pub fn status(&self) -> Option<Status> {
        match self.error {
            Error::Status(status) => Some(status),
            _ => None,
        }
    }
}

impl<D> From<Error> for DetailedError<D> {
    fn from(error: Error) -> DetailedError<D> {
        DetailedError {
            error,
            details: None,
        }
    }
}

impl<D> From<DetailedError<D>> for Error {
    fn from(error: DetailedError<D>) -> Error {
        error.error
    }
}

impl<D: core::fmt::Debug> core::fmt::Display for DetailedError<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match &self.details {
            Some(details) => write!(f, "{} ({details:?})", self.error),
            None => self.error.fmt(f),
        }
    }
}

impl<D: core::fmt::Debug> core::error::Error for DetailedError<D> {}

/// The result of a wrapper that reports details on failure.
pub type DetailedResult<T, D> = core::result::Result<T, DetailedError<D>>;
