//! The argument checks every wrapper and operand type shares: each rejects a value with a
//! typed [`InvalidArgument`] before any instruction runs.

use crate::error::{InvalidArgument, InvalidReason, Result};

pub(crate) const fn invalid(argument: &'static str, reason: InvalidReason) -> InvalidArgument {
    InvalidArgument { argument, reason }
}

/// Checks that `value` fits in `bits` bits and is aligned to `align` bytes.
pub(crate) fn check_address(
    argument: &'static str,
    value: u64,
    bits: u32,
    align: u64,
) -> Result<u64> {
    if bits < 64 && value >> bits != 0 {
        return Err(invalid(
            argument,
            InvalidReason::TooWide {
                value,
                max_bits: bits,
            },
        )
        .into());
    }
    if value & (align - 1) != 0 {
        return Err(invalid(
            argument,
            InvalidReason::Misaligned {
                value,
                required: align,
            },
        )
        .into());
    }
    Ok(value)
}

/// Rejects `value` when any bit of `reserved` is set.
pub(crate) fn check_reserved(argument: &'static str, value: u64, reserved: u64) -> Result<u64> {
    if value & reserved != 0 {
        return Err(invalid(
            argument,
            InvalidReason::ReservedBitsSet {
                value,
                bits: value & reserved,
            },
        )
        .into());
    }
    Ok(value)
}

/// Rejects `value` outside `min..=max`.
pub(crate) fn check_range(argument: &'static str, value: u64, min: u64, max: u64) -> Result<u64> {
    if value < min || value > max {
        return Err(invalid(argument, InvalidReason::OutOfRange { value, min, max }).into());
    }
    Ok(value)
}
