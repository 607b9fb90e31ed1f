use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn date_times_convert_to_unix_milliseconds() {
    let cases = [
        ("1970-01-01T00:00:00Z", 0),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000),
        // What Vault sends: nanoseconds, truncated to milliseconds.
        ("2023-11-14T22:13:20.945319214Z", 1_700_000_000_945),
        ("2023-11-14T22:13:20.9Z", 1_700_000_000_900),
        ("2023-11-14T22:13:20.09Z", 1_700_000_000_090),
        // Lower-case separators (RFC 3339 §5.6 allows them).
        ("2023-11-14t22:13:20z", 1_700_000_000_000),
        // Offsets name the same instant.
        ("2023-11-15T00:13:20+02:00", 1_700_000_000_000),
        ("2023-11-14T17:43:20.5-04:30", 1_700_000_000_500),
        ("2023-11-14T22:13:20-00:00", 1_700_000_000_000),
        // A leap day and a leap second.
        ("2024-02-29T23:59:60Z", 1_709_251_200_000),
        ("9999-12-31T23:59:59Z", 253_402_300_799_000),
    ];
    for (text, ms) in cases {
        assert_eq!(parse_rfc3339(text), Ok(ms), "{text}");
    }
}

#[test]
fn malformed_date_times_are_syntax_errors() {
    for text in [
        "",
        "2023",
        "2023-11-14",
        "2023-11-14T22:13:20",
        "2023-11-14 22:13:20Z",
        "2023-11-14T22:13Z",
        "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20,5Z",
        "2023-11-14T22:13:20+0200",
        "2023-11-14T22:13:20+02",
        "2023-11-14T22:13:20UTC",
        "2023-11-14T22:13:20Z ",
        " 2023-11-14T22:13:20Z",
        "2023-11-14T22:13:20Z\r\nx: 1",
        "2023-1-14T22:13:20Z",
        "+023-11-14T22:13:20Z",
        "2023-11-14T2a:13:20Z",
        "2023-11-14T22:13:20.5a",
        "2023/11/14T22:13:20Z",
        "2023-11-14T22:13:20ü",
        "２０２３-11-14T22:13:20Z",
    ] {
        assert_eq!(parse_rfc3339(text), Err(Rfc3339Error::Syntax), "{text:?}");
    }
}

#[test]
fn fields_out_of_range_are_refused() {
    for text in [
        "2023-13-01T00:00:00Z",
        "2023-00-01T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2023-11-31T00:00:00Z",
        "2023-11-00T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T22:60:00Z",
        "2023-11-14T22:13:61Z",
        "2023-11-14T22:13:20+24:00",
        "2023-11-14T22:13:20+02:60",
        "1969-12-31T23:59:59Z",
        // Before 1970 once the offset is applied.
        "1970-01-01T00:30:00+01:00",
    ] {
        assert_eq!(
            parse_rfc3339(text),
            Err(Rfc3339Error::OutOfRange),
            "{text:?}"
        );
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    // Every prefix and a byte flipped at every position of a valid value.
    let valid = "2023-11-14T22:13:20.945319214+02:00";
    for end in 0..=valid.len() {
        let _ = parse_rfc3339(valid.get(..end).unwrap_or_default());
    }
    for i in 0..valid.len() {
        for b in [b'0', b'9', b'-', b':', b'.', b'Z', b'+', b' ', 0xff] {
            let mut bytes = valid.as_bytes().to_vec();
            bytes[i] = b;
            let _ = parse_rfc3339(&String::from_utf8_lossy(&bytes));
        }
    }
    // A very long fraction is still only milliseconds.
    let long = format!("2023-11-14T22:13:20.{}Z", "9".repeat(10_000));
    assert_eq!(parse_rfc3339(&long), Ok(1_700_000_000_999));
}
