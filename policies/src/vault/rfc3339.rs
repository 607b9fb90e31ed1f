//! RFC 3339 timestamps (`2026-11-02T10:00:00.123456789Z`,
//! `2026-11-02T12:00:00+02:00`) → Unix milliseconds, for KV v2's
//! `metadata.created_time`.
//!
//! Strict: the `date-time` production of RFC 3339 §5.6 only (`T`/`Z` in
//! either case, as §5.6 allows; no space separator, no missing offset).
//! Fractional seconds of any length are truncated to milliseconds; a leap
//! second (`:60`) is accepted. Instants before 1970 are refused.

use crate::http_date::{days_in_month, days_since_epoch};
use thiserror::Error;

/// Why a text is not an RFC 3339 timestamp this parser accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Rfc3339Error {
    /// Not `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    #[error("not an RFC 3339 date-time")]
    Syntax,
    /// A field outside its range (month 13, 30 February, hour 24, offset
    /// hour 24), or an instant before 1970.
    #[error("RFC 3339 date-time out of range")]
    OutOfRange,
}

/// Milliseconds since the Unix epoch of an RFC 3339 `date-time`.
pub fn parse_rfc3339(text: &str) -> Result<u64, Rfc3339Error> {
    use Rfc3339Error::{OutOfRange, Syntax};
    let b = text.as_bytes();
    // `YYYY-MM-DDTHH:MM:SS`, then the fraction and the offset.
    let (head, rest) = (b.get(..19).ok_or(Syntax)?, b.get(19..).ok_or(Syntax)?);
    let sep = |i: usize, want: &[u8]| head.get(i).is_some_and(|c| want.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return Err(Syntax);
    }
    let num = |from: usize, len: usize| digits(head.get(from..from + len).ok_or(Syntax)?);
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let (fraction, offset) = match rest.split_first() {
        Some((b'.', more)) => {
            let len = more.iter().take_while(|c| c.is_ascii_digit()).count();
            match more.split_at_checked(len) {
                Some((frac, offset)) if !frac.is_empty() => (frac, offset),
                _ => return Err(Syntax),
            }
        }
        _ => (&[][..], rest),
    };
    let offset_min = match offset {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return Err(OutOfRange);
            }
            let minutes = (h * 60 + m) as i64;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return Err(Syntax),
    };
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || year < 1970
    {
        return Err(OutOfRange);
    }
    // The first three digits of the fraction are milliseconds.
    let millis = fraction
        .iter()
        .chain(b"000")
        .take(3)
        .fold(0, |ms, d| ms * 10 + u64::from(d - b'0'));
    let local_s = days_since_epoch(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    let utc_s = (local_s as i64)
        .checked_sub(offset_min * 60)
        .filter(|s| *s >= 0)
        .ok_or(OutOfRange)?;
    Ok(utc_s as u64 * 1_000 + millis)
}

/// A fixed-width run of ASCII digits.
fn digits(text: &[u8]) -> Result<u64, Rfc3339Error> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(Rfc3339Error::Syntax);
    }
    Ok(text.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests;
