//! HTTP-date (RFC 9110 §5.6.7) as sent in `Retry-After`: recipients must
//! accept the IMF-fixdate form and the two obsolete ones.
//!
//! - IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
//! - RFC 850:     `Sunday, 06-Nov-94 08:49:37 GMT`
//! - asctime:     `Sun Nov  6 08:49:37 1994`
//!
//! The weekday is not cross-checked against the date (RFC 9110 lets a
//! recipient ignore it). Dates before 1970 are refused.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Seconds since the Unix epoch, or None when `text` is not an HTTP-date.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let text = text.trim();
    if !text.is_ascii() {
        return None;
    }
    let (_weekday, rest) = text.split_once([',', ' '])?;
    let fields: Vec<&str> = rest.split(' ').filter(|f| !f.is_empty()).collect();
    let (day, month, year, time) = match (text.contains(','), fields.as_slice()) {
        // IMF-fixdate: `06 Nov 1994 08:49:37 GMT`
        (true, [day, month, year, time, "GMT"]) if year.len() == 4 => {
            (*day, *month, number(year)?, *time)
        }
        // RFC 850: `06-Nov-94 08:49:37 GMT`; a two-digit year within 50
        // years of now reads as this century (RFC 9110), i.e. 19xx ≥ 70.
        (true, [date, time, "GMT"]) => {
            let mut parts = date.split('-');
            let (day, month, yy) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() || yy.len() != 2 {
                return None;
            }
            let yy = number(yy)?;
            (
                day,
                month,
                if yy >= 70 { 1900 + yy } else { 2000 + yy },
                *time,
            )
        }
        // asctime: `Nov  6 08:49:37 1994`
        (false, [month, day, time, year]) if year.len() == 4 => {
            (*day, *month, number(year)?, *time)
        }
        _ => return None,
    };
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let day = number(day).filter(|d| (1..=days_in_month(year, month)).contains(d))?;
    let mut hms = time.split(':');
    let (h, m, s) = (hms.next()?, hms.next()?, hms.next()?);
    if hms.next().is_some() || [h, m, s].iter().any(|p| p.len() != 2) {
        return None;
    }
    let (h, m, s) = (number(h)?, number(m)?, number(s)?);
    // 60 is a leap second, which the format allows.
    if h > 23 || m > 59 || s > 60 || year < 1970 {
        return None;
    }
    Some(days_since_epoch(year, month, day) * 86_400 + h * 3_600 + m * 60 + s)
}

fn number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_leap(year: u64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(crate) fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
/// Shared with the RFC 3339 parser (`vault::rfc3339`).
pub(crate) fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let years = (1970..year).map(|y| if is_leap(y) { 366 } else { 365 });
    let months = (1..month).map(|m| days_in_month(year, m));
    years.chain(months).sum::<u64>() + day.saturating_sub(1)
}

#[cfg(test)]
mod tests;
