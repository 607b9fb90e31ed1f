//! Path templates: `/users/{id}/orders/{order}` and `/files/{rest=**}`.
//!
//! A segment is either literal text or a whole variable: `{name}` (or `*`)
//! matches exactly one non-empty segment; `{name=**}` (or `**`) matches the
//! rest of the path, zero or more segments, and must come last. Partial
//! segments such as `{id}.json` are refused at configure time.

use super::path::check_path;
use crate::config::ConfigError;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// One non-empty segment.
    One,
    /// Zero or more trailing segments.
    Rest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathTemplate {
    segments: Vec<Segment>,
}

impl PathTemplate {
    pub fn compile(path: &str, template: &str) -> Result<Self, ConfigError> {
        let Some(body) = template.strip_prefix('/') else {
            return Err(ConfigError::new(path, "a template must start with `/`"));
        };
        if body.contains("//") {
            return Err(ConfigError::new(
                path,
                "the template has an empty segment (`//`)",
            ));
        }
        let parts: Vec<&str> = body.split('/').collect();
        let last = parts.len().saturating_sub(1);
        let mut names: Vec<&str> = Vec::new();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            let segment = parse_segment(path, part, &mut names)?;
            if segment == Segment::Rest && i != last {
                return Err(ConfigError::new(path, "`**` must be the last segment")
                    .with_hint("write e.g. `/files/{rest=**}`"));
            }
            segments.push(segment);
        }
        Ok(Self { segments })
    }

    pub fn matches(&self, path: &str, case_insensitive: bool) -> bool {
        // Both start with `/`; compare segment by segment after it.
        let Some(body) = path.strip_prefix('/') else {
            return false;
        };
        let mut actual = body.split('/');
        for expected in &self.segments {
            match expected {
                Segment::Rest => return true,
                Segment::One => match actual.next() {
                    Some(s) if !s.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(lit) => match actual.next() {
                    Some(s) if eq(s, lit, case_insensitive) => {}
                    _ => return false,
                },
            }
        }
        actual.next().is_none()
    }
}

fn eq(a: &str, b: &str, case_insensitive: bool) -> bool {
    if case_insensitive {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

fn parse_segment<'a>(
    path: &str,
    part: &'a str,
    names: &mut Vec<&'a str>,
) -> Result<Segment, ConfigError> {
    match part {
        "*" => return Ok(Segment::One),
        "**" => return Ok(Segment::Rest),
        _ => {}
    }
    let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
        if part.contains(['{', '}', '*']) {
            return Err(ConfigError::new(
                path,
                format!("`{part}`: a variable must fill a whole segment"),
            )
            .with_hint("write `{name}` for one segment or `{name=**}` for the rest"));
        }
        // A literal the path check would refuse could never match a request.
        if let Err(why) = check_path(&format!("/{part}")) {
            return Err(ConfigError::new(path, format!("`{part}`: {why}")));
        }
        return Ok(Segment::Literal(part.to_string()));
    };
    let (name, kind) = match inner.split_once('=') {
        None => (inner, Segment::One),
        Some((name, "*")) => (name, Segment::One),
        Some((name, "**")) => (name, Segment::Rest),
        Some(_) => {
            return Err(ConfigError::new(
                path,
                format!("`{part}`: only `{{name}}` and `{{name=**}}` are supported"),
            ))
        }
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ConfigError::new(
            path,
            format!("`{name}` is not a valid variable name"),
        ));
    }
    if names.contains(&name) {
        return Err(ConfigError::new(
            path,
            format!("the variable `{name}` appears twice"),
        ));
    }
    names.push(name);
    Ok(kind)
}
