//! A header map in two allocations. Envoy serializes the whole map into one
//! buffer in the VM (the count, each name's and value's length, then each
//! name and value NUL-terminated); its names and values are checked once and
//! copied into one string, and handed out as slices of it. The SDK's reader
//! gives every name and every value an allocation of its own: in V8 that was
//! a quarter of a plugin's allocation time per request (bench/profile-note.md,
//! `make bench-vm`).
//!
//! Hostile input survives: a name with an upper-case letter is lower-cased,
//! invalid UTF-8 becomes U+FFFD, and a malformed buffer yields the headers
//! before the damage.

use crate::raw;
use proxy_wasm::types::MapType;

/// Where one name or value is in `HeaderMap::text`.
type Span = (usize, usize);

#[derive(Debug, Default)]
pub struct HeaderMap {
    /// Every name and value, checked, one after the other.
    text: String,
    entries: Vec<(Span, Span)>,
}

impl HeaderMap {
    /// The request's headers; empty when the host has none (wrong phase).
    pub fn request() -> Self {
        Self::read(MapType::HttpRequestHeaders)
    }

    /// The response's headers; empty when the host has none.
    pub fn response() -> Self {
        Self::read(MapType::HttpResponseHeaders)
    }

    fn read(map: MapType) -> Self {
        let buffer = raw::get_header_map_bytes(map as u32).ok().flatten();
        Self::parse(buffer.unwrap_or_default())
    }

    /// Parses the host's serialization of a header map.
    pub fn parse(buffer: Vec<u8>) -> Self {
        let mut map = Self {
            text: String::with_capacity(buffer.len()),
            entries: Vec::new(),
        };
        let count = read_u32(&buffer, 0).unwrap_or(0);
        // Each header takes 8 bytes of lengths: a count beyond that is a lie.
        let count = count.min(buffer.len() / 8);
        let mut at = 4 + count * 8;
        map.entries.reserve(count);
        for i in 0..count {
            let lengths = (read_u32(&buffer, 4 + i * 8), read_u32(&buffer, 8 + i * 8));
            let (Some(name_len), Some(value_len)) = lengths else {
                break;
            };
            let name_end = at.saturating_add(name_len);
            let value_start = name_end.saturating_add(1);
            let value_end = value_start.saturating_add(value_len);
            if value_end >= buffer.len() {
                break;
            }
            let name = map.push(buffer.get(at..name_end), true);
            let value = map.push(buffer.get(value_start..value_end), false);
            map.entries.push((name, value));
            at = value_end + 1;
        }
        map
    }

    /// Appends `bytes` as text (a name lower-cased) and returns where it is.
    fn push(&mut self, bytes: Option<&[u8]>, is_name: bool) -> Span {
        let start = self.text.len();
        match std::str::from_utf8(bytes.unwrap_or_default()) {
            Ok(s) => self.text.push_str(s),
            Err(_) => self
                .text
                .push_str(&String::from_utf8_lossy(bytes.unwrap_or_default())),
        }
        if is_name {
            if let Some(name) = self.text.get_mut(start..) {
                name.make_ascii_lowercase();
            }
        }
        (start, self.text.len())
    }

    fn str(&self, (start, end): Span) -> &str {
        self.text.get(start..end).unwrap_or_default()
    }

    /// Every header as `(lower-case name, value)`, in order, repeated names
    /// included (e.g. several `cookie` headers).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries
            .iter()
            .map(|&(name, value)| (self.str(name), self.str(value)))
    }

    /// [`HeaderMap::iter`], collected: the form the policies take.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.iter().collect()
    }

    /// The values of header `name` (lower case), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.named(name).map(|&(_, v)| self.str(v))
    }

    /// The entries named `name`. Lookups compare names only: a value is
    /// sliced out of `text` only for a header that matched.
    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a (Span, Span)> + 'a {
        self.entries
            .iter()
            .filter(move |&&(n, _)| self.str(n) == name)
    }

    /// The first value of header `name` (lower case), or "".
    pub fn first(&self, name: &str) -> &str {
        self.named(name).next().map_or("", |&(_, v)| self.str(v))
    }

    /// Whether the map has header `name`, in any case.
    pub fn has(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|&(n, _)| self.str(n).eq_ignore_ascii_case(name))
    }
}

fn read_u32(buffer: &[u8], at: usize) -> Option<usize> {
    let bytes = buffer.get(at..at.checked_add(4)?)?;
    let word = u32::from_le_bytes(bytes.try_into().ok()?);
    usize::try_from(word).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's serialization of `pairs`.
    fn serialize(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (n, v) in pairs {
            out.extend_from_slice(&(n.len() as u32).to_le_bytes());
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        }
        for (n, v) in pairs {
            out.extend_from_slice(n);
            out.push(0);
            out.extend_from_slice(v);
            out.push(0);
        }
        out
    }

    #[test]
    fn headers_come_back_in_order_with_repeats_and_empty_values() {
        let map = HeaderMap::parse(serialize(&[
            (b":path", b"/a?b=1"),
            (b"cookie", b"a=1"),
            (b"x-empty", b""),
            (b"cookie", b"b=2"),
        ]));
        assert_eq!(
            map.pairs(),
            vec![
                (":path", "/a?b=1"),
                ("cookie", "a=1"),
                ("x-empty", ""),
                ("cookie", "b=2")
            ]
        );
        assert_eq!(map.values("cookie").collect::<Vec<_>>(), ["a=1", "b=2"]);
        assert_eq!((map.first("cookie"), map.first("host")), ("a=1", ""));
        assert!(map.has("X-Empty") && !map.has("host"));
    }

    #[test]
    fn upper_case_names_are_lowered_and_invalid_utf8_is_replaced() {
        let map = HeaderMap::parse(serialize(&[
            (b"X-Mixed", b"ok"),
            (b"cookie", b"b=\xff2"),
            (b"x-\xffname", b"v"),
        ]));
        assert_eq!(
            map.pairs(),
            vec![
                ("x-mixed", "ok"),
                ("cookie", "b=\u{fffd}2"),
                ("x-\u{fffd}name", "v")
            ]
        );
    }

    #[test]
    fn a_malformed_buffer_keeps_the_headers_before_the_damage() {
        let good = serialize(&[(b"a", b"1"), (b"b", b"2")]);
        // Truncated inside the second value: only the first header is whole.
        let cut = good.get(..good.len() - 2).unwrap().to_vec();
        assert_eq!(HeaderMap::parse(cut).pairs(), vec![("a", "1")]);
        // A count far beyond the buffer, lengths that overflow, garbage, nothing.
        let mut lying = good.clone();
        lying.splice(0..4, u32::MAX.to_le_bytes());
        assert!(HeaderMap::parse(lying).pairs().len() <= 2);
        let mut huge = good.clone();
        huge.splice(4..8, u32::MAX.to_le_bytes());
        assert!(HeaderMap::parse(huge).pairs().is_empty());
        assert!(HeaderMap::parse(vec![1, 2, 3]).pairs().is_empty());
        assert!(HeaderMap::parse(Vec::new()).pairs().is_empty());
    }
}
