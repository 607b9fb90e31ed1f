//! Anchored, size-limited regexes shared by route and claim matching.

use regex_lite::{Regex, RegexBuilder};

use crate::config::ConfigError;

/// Longest pattern we accept: regexes come from operators, but a huge one
/// is almost certainly a mistake and costs memory in every VM.
const MAX_PATTERN_LEN: usize = 1024;
/// Compiled program size limit (bytes); regex-lite's default is 10 MiB.
const SIZE_LIMIT: usize = 256 * 1024;
/// Nesting limit, so a deeply nested pattern cannot blow the parser's stack.
const NEST_LIMIT: u32 = 32;

/// A regex that must match the whole input (`\A(?:pattern)\z`), compiled once.
#[derive(Clone, Debug)]
pub struct FullMatchRegex {
    source: String,
    regex: Regex,
}

impl FullMatchRegex {
    /// Compiles `pattern`; `path` names the config field for errors.
    pub fn compile(path: &str, pattern: &str, case_insensitive: bool) -> Result<Self, ConfigError> {
        if pattern.len() > MAX_PATTERN_LEN {
            return Err(ConfigError::new(
                path,
                format!("the regex is longer than {MAX_PATTERN_LEN} characters"),
            ));
        }
        // The group keeps alternations inside the anchors: `a|b` must not become `\Aa|b\z`.
        let anchored = format!(r"\A(?:{pattern})\z");
        let regex = RegexBuilder::new(&anchored)
            .case_insensitive(case_insensitive)
            .size_limit(SIZE_LIMIT)
            .nest_limit(NEST_LIMIT)
            .build()
            .map_err(|e| {
                ConfigError::new(path, format!("invalid regex: {e}")).with_hint(
                    "the syntax is that of the Rust `regex` crate, without Unicode classes",
                )
            })?;
        Ok(Self {
            source: pattern.to_string(),
            regex,
        })
    }

    /// True when the regex matches all of `text`.
    pub fn is_full_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The pattern as configured (without the added anchors).
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_must_match_the_whole_input_even_with_alternation() {
        let r = FullMatchRegex::compile("x", "/a|/b", false).unwrap();
        assert!(r.is_full_match("/a"));
        assert!(r.is_full_match("/b"));
        assert!(!r.is_full_match("/a/x"));
        assert!(!r.is_full_match("x/b"));
    }

    #[test]
    fn multi_line_flag_cannot_unanchor_the_match() {
        let r = FullMatchRegex::compile("x", "(?m)^/a$", false).unwrap();
        assert!(!r.is_full_match("/a\n/evil"));
    }

    #[test]
    fn oversized_or_invalid_regex_is_a_config_error_with_path() {
        let e = FullMatchRegex::compile("rules[0].regex", "(", false).unwrap_err();
        assert_eq!(e.path, "rules[0].regex");
        let long = "a".repeat(2000);
        assert!(FullMatchRegex::compile("p", &long, false).is_err());
        let huge = "(a{1000}){1000}";
        assert!(FullMatchRegex::compile("p", huge, false).is_err());
    }
}
