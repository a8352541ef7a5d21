//! Reading statuses back from text: a bare value in any common hex form, a status name, or
//! a whole kernel log line such as `SEAMCALL (0x0000000000000015) failed: 0xc000010000000000`.
//!
//! No allocation; every error is a [`ParseStatusError`], never a panic.

use super::{Status, StatusCode};
use crate::leaf::Side;
use core::fmt;

/// Why text could not be read as a status or field ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseStatusError {
    /// Nothing but white space.
    Empty,
    /// A `0x` or underscores with no hex digit.
    NoDigits,
    /// A character that is not a hex digit or `_`.
    InvalidDigit {
        /// The character.
        ch: char,
        /// Its byte offset in the number.
        index: usize,
    },
    /// More than 64 bits of value.
    TooLarge,
    /// A line with no number where a status should be.
    NoStatus,
    /// A line with several numbers and no `failed:` to say which is the status.
    Ambiguous {
        /// How many `0x` numbers the line holds.
        candidates: usize,
    },
}

impl fmt::Display for ParseStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseStatusError::Empty => f.write_str("empty input"),
            ParseStatusError::NoDigits => f.write_str("no hex digits"),
            ParseStatusError::InvalidDigit { ch, index } => {
                write!(f, "{ch:?} at offset {index} is not a hex digit")
            }
            ParseStatusError::TooLarge => f.write_str("the value does not fit in 64 bits"),
            ParseStatusError::NoStatus => f.write_str("no status value found in the line"),
            ParseStatusError::Ambiguous { candidates } => write!(
                f,
                "{candidates} numbers in the line and no \"failed:\" to say which is the status"
            ),
        }
    }
}

impl core::error::Error for ParseStatusError {}

/// Reads a 64-bit hex number: optional `0x`/`0X`, digits in either case, `_` anywhere after
/// the prefix. Leading zeros are fine; a value wider than 64 bits is an error, never
/// truncated.
pub fn parse_hex_u64(text: &str) -> Result<u64, ParseStatusError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ParseStatusError::Empty);
    }
    let (prefix, digits) = match text.get(..2) {
        Some("0x" | "0X") => (2, &text[2..]),
        _ => (0, text),
    };
    let mut value: u64 = 0;
    let mut any = false;
    for (offset, ch) in digits.char_indices() {
        if ch == '_' {
            continue;
        }
        let digit = ch.to_digit(16).ok_or(ParseStatusError::InvalidDigit {
            ch,
            index: prefix + offset,
        })?;
        if value >> 60 != 0 {
            return Err(ParseStatusError::TooLarge);
        }
        value = value << 4 | digit as u64;
        any = true;
    }
    if !any {
        return Err(ParseStatusError::NoDigits);
    }
    Ok(value)
}

/// The call a log line names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoggedCall<'a> {
    /// SEAMCALL (host) or TDCALL (guest).
    pub side: Side,
    /// The leaf as the line gives it.
    pub leaf: LoggedLeaf<'a>,
}

/// A leaf as a log line gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LoggedLeaf<'a> {
    /// A RAX value: leaf number in bits 15:0, version in bits 23:16 (Linux's
    /// `SEAMCALL (0x…) failed` form).
    Rax(u64),
    /// A name, e.g. KVM's `TDH_MEM_PAGE_ADD`.
    Name(&'a str),
}

/// A status read from text, and the call the text names, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParsedStatus<'a> {
    /// The status, every bit as written.
    pub status: Status,
    /// The call the line names (`SEAMCALL …` / `TDCALL …`), if it names one.
    pub call: Option<LoggedCall<'a>>,
}

fn is_separator(ch: char) -> bool {
    ch.is_whitespace()
        || matches!(
            ch,
            '(' | ')' | '[' | ']' | '{' | '}' | ',' | ':' | ';' | '=' | '"' | '\''
        )
}

fn tokens(text: &str) -> impl Iterator<Item = &str> + Clone {
    text.split(is_separator).filter(|token| !token.is_empty())
}

fn is_prefixed_hex(token: &str) -> bool {
    matches!(token.get(..2), Some("0x" | "0X")) && parse_hex_u64(token).is_ok()
}

fn is_identifier(token: &str) -> bool {
    token.starts_with(|ch: char| ch.is_ascii_alphabetic())
        && token
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.')
}

/// Reads a status from text, as a person would paste it:
///
/// - a bare value: `0xC000010000000001`, `C000010000000001`, `0xc000_0100_0000_0001`
///   (digits without `0x` are hex too);
/// - a status name: `TDX_OPERAND_INVALID` (bits 31:0 zero);
/// - a value followed by text, such as this crate's `Display` output: the value;
/// - a log line: the number after `failed` is the status, as in Linux's
///   `SEAMCALL (0x0000000000000015) failed: 0xc000010000000000` or KVM's
///   `SEAMCALL TDH_MEM_PAGE_ADD failed: 0x…`; the token after `SEAMCALL` or `TDCALL` names
///   the call. In a line without `failed` the status is the one `0x` number besides the
///   leaf, or else the one written with all 16 digits (as `Display` and Linux print it).
pub fn parse_status_text(text: &str) -> Result<ParsedStatus<'_>, ParseStatusError> {
    let text = text.trim();
    let all = tokens(text);
    let mut count = all.clone();
    let first = count.next().ok_or(ParseStatusError::Empty)?;
    if count.next().is_none() {
        if let Some(named) = StatusCode::from_name(first) {
            return Ok(ParsedStatus {
                status: named.status(),
                call: None,
            });
        }
        return Ok(ParsedStatus {
            status: Status::from_raw(parse_hex_u64(first)?),
            call: None,
        });
    }

    // A line that starts with a value is that value with commentary after it (this is how
    // `Display` writes a status).
    if is_prefixed_hex(first) {
        return Ok(ParsedStatus {
            status: Status::from_raw(parse_hex_u64(first)?),
            call: None,
        });
    }

    // The call: the token after the first SEAMCALL or TDCALL.
    let mut call = None;
    let mut leaf_index = None;
    let mut scan = all.clone().enumerate();
    while let Some((_, token)) = scan.next() {
        let side = if token.eq_ignore_ascii_case("SEAMCALL") {
            Side::Host
        } else if token.eq_ignore_ascii_case("TDCALL") {
            Side::Guest
        } else {
            continue;
        };
        if let Some((index, next)) = scan.next() {
            let leaf = if is_prefixed_hex(next) || next.bytes().all(|b| b.is_ascii_digit()) {
                parse_hex_u64(next).ok().map(LoggedLeaf::Rax)
            } else if is_identifier(next) && !next.eq_ignore_ascii_case("failed") {
                Some(LoggedLeaf::Name(next))
            } else {
                None
            };
            if let Some(leaf) = leaf {
                call = Some(LoggedCall { side, leaf });
                leaf_index = Some(index);
            }
        }
        break;
    }

    let mut scan = all.clone();
    while let Some(token) = scan.next() {
        if token.eq_ignore_ascii_case("failed") {
            let value = scan.next().ok_or(ParseStatusError::NoStatus)?;
            return Ok(ParsedStatus {
                status: Status::from_raw(parse_hex_u64(value)?),
                call,
            });
        }
    }

    // No "failed": the one 0x number besides the leaf, or else the one written at full
    // 64-bit width (16 digits), as Linux and this crate print statuses.
    let candidates = all
        .enumerate()
        .filter(move |&(index, token)| Some(index) != leaf_index && is_prefixed_hex(token))
        .map(|(_, token)| token);
    let count = candidates.clone().count();
    let status = match count {
        0 => return Err(ParseStatusError::NoStatus),
        1 => candidates.clone().next(),
        _ => {
            let mut full_width = candidates.filter(|token| token.len() == 18);
            match (full_width.next(), full_width.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    };
    let status = status.ok_or(ParseStatusError::Ambiguous { candidates: count })?;
    Ok(ParsedStatus {
        status: Status::from_raw(parse_hex_u64(status)?),
        call,
    })
}
