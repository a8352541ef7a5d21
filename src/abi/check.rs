//! The argument checks every wrapper and operand type shares: each rejects a value with a
//! typed [`InvalidArgument`] before any instruction runs.

use crate::error::{InvalidArgument, InvalidReason, Result};

pub(crate) const fn invalid(argument: &'static str, reason: InvalidReason) -> InvalidArgument {
    InvalidArgument { argument, reason }
}

/// Checks that `value` fits in `bits` bits and is aligned to `align` bytes (`const`, so the
/// address types' constructors are too).
pub(crate) const fn check_address(
    argument: &'static str,
    value: u64,
    bits: u32,
    align: u64,
) -> Result<u64> {
    if bits < 64 && value >> bits != 0 {
        return Err(crate::Error::InvalidArgument(invalid(
            argument,
            InvalidReason::TooWide {
                value,
                max_bits: bits,
            },
        )));
    }
    if value & (align - 1) != 0 {
        return Err(crate::Error::InvalidArgument(invalid(
            argument,
            InvalidReason::Misaligned {
                value,
                required: align,
            },
        )));
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

/// Checks a physical range `[base, base + size)`: `size` is a non-zero multiple of `align`
/// and the range ends at or below `1 << bits` (so `base + size` cannot wrap). Returns the
/// end. `base` itself is checked by the caller's address type; here it only bounds `size`.
pub(crate) fn check_span(
    argument: &'static str,
    base: u64,
    size: u64,
    align: u64,
    bits: u32,
) -> Result<u64> {
    check_address(argument, size, 64, align)?;
    let limit = 1u64 << bits;
    check_range(argument, size, align, limit.saturating_sub(base))?;
    Ok(base + size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn span_rejects_zero_misaligned_and_wrapping_sizes() {
        assert_eq!(check_span("size", 0x1000, 0x2000, 0x1000, 52), Ok(0x3000));
        assert_eq!(
            check_span("size", (1 << 52) - 0x1000, 0x1000, 0x1000, 52),
            Ok(1 << 52)
        );
        let reason = |r: Result<u64>| match r {
            Err(Error::InvalidArgument(InvalidArgument { argument, reason })) => {
                assert_eq!(argument, "size");
                reason
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(check_span("size", 0x1000, 0, 0x1000, 52)),
            InvalidReason::OutOfRange {
                value: 0,
                min: 0x1000,
                max: (1 << 52) - 0x1000
            }
        );
        assert_eq!(
            reason(check_span("size", 0, 0x1800, 0x1000, 52)),
            InvalidReason::Misaligned {
                value: 0x1800,
                required: 0x1000
            }
        );
        assert!(matches!(
            reason(check_span("size", 1 << 51, u64::MAX - 0xFFF, 0x1000, 52)),
            InvalidReason::OutOfRange { .. }
        ));
    }
}
