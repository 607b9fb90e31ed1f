//! Reading cookies out of `Cookie` request headers (RFC 6265 §5.4 syntax,
//! leniently: browsers and proxies are not always strict).

/// Cookie values looked at per name; more same-name cookies are ignored.
pub const MAX_CANDIDATES: usize = 8;

/// The values of every cookie called `name`, in header order, at most
/// [`MAX_CANDIDATES`]. Several `Cookie` headers are read in turn (HTTP/2
/// may split them). Names compare case-sensitively, as browsers do; a
/// value in double quotes is unquoted. Pairs without `=` are skipped.
pub fn cookie_values<'a>(headers: &[&'a str], name: &'a str) -> Vec<&'a str> {
    headers
        .iter()
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| {
            let (n, v) = pair.split_once('=')?;
            (n.trim_matches([' ', '\t']) == name).then(|| unquote(v.trim_matches([' ', '\t'])))
        })
        .take(MAX_CANDIDATES)
        .collect()
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn cookie_values_are_found_in_order_across_headers() {
        let cases: &[(&[&str], &[&str])] = &[
            (&[], &[]),
            (&[""], &[]),
            (&["a=1"], &[]),
            (&["s=1"], &["1"]),
            (&["a=1; s=2; b=3"], &["2"]),
            (&["a=1;s=2;s=3"], &["2", "3"]),
            (&["a=1", "s=2", "x; s=\"3\""], &["2", "3"]),
            (&["S=1; ss=2; s =3"], &["3"]),
            (&["s"], &[]),
            (&["s=a=b"], &["a=b"]),
            (&["s="], &[""]),
            (&[";;;=;s=1;"], &["1"]),
        ];
        for (headers, want) in cases {
            assert_eq!(&cookie_values(headers, "s"), want, "{headers:?}");
        }
    }

    #[test]
    fn at_most_max_candidates_are_returned() {
        let header = "s=x; ".repeat(10_000);
        assert_eq!(cookie_values(&[&header], "s").len(), MAX_CANDIDATES);
    }
}
