use super::*;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn the_three_forms_of_rfc_9110_name_the_same_instant() {
    // RFC 9110 §5.6.7's own example, in each of its three forms.
    for text in [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "  Sun, 06 Nov 1994 08:49:37 GMT ",
    ] {
        assert_eq!(parse_http_date(text), Some(784_111_777), "{text}");
    }
}

#[test]
fn dates_convert_to_unix_seconds() {
    let cases = [
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1_445_412_480),
        ("Tue, 14 Nov 2023 22:13:20 GMT", 1_700_000_000),
        // A leap day and a leap second.
        ("Thu, 29 Feb 2024 23:59:60 GMT", 1_709_251_200),
        // RFC 850 two-digit years: 70-99 are 19xx, 00-69 are 20xx.
        ("Tuesday, 14-Nov-23 22:13:20 GMT", 1_700_000_000),
        ("Thursday, 01-Jan-70 00:00:00 GMT", 0),
    ];
    for (text, secs) in cases {
        assert_eq!(parse_http_date(text), Some(secs), "{text}");
    }
}

#[test]
fn anything_else_is_not_a_date() {
    for text in [
        "",
        "5",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 2023 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37:01 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Wed, 31 Dec 1969 23:59:59 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun, 06 Nov 1994 08:49:37 GMT\r\nx-injected: 1",
        "Sun, 06 Nov 1994 08:49:37 GMT extra",
        "Sün, 06 Nov 1994 08:49:37 GMT",
        "Sun, +6 Nov 1994 08:49:37 GMT",
    ] {
        assert_eq!(parse_http_date(text), None, "{text:?}");
    }
}
