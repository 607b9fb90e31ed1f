//! Header value templates: `Bearer {secret}`, `Basic {base64(username:password)}`,
//! `{secret}`, or any text with `{field}` placeholders.

use crate::secret::Secret;
use base64::Engine;

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A credential field (`secret` is the primary value).
    Field(String),
    /// Standard, padded base64 of the fields joined by `:` (HTTP Basic).
    Base64(Vec<String>),
}

/// A parsed header template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a template cannot be parsed or rendered. Never carries a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A `{` without its `}`, or a stray `}`.
    #[error("unbalanced `{{` or `}}` in the template")]
    Unbalanced,
    /// `{}` or a placeholder with characters other than `[A-Za-z0-9_.-]`.
    #[error("`{0}` is not a placeholder (write {{field}} or {{base64(user:pass)}})")]
    BadPlaceholder(String),
    /// The template has no placeholder: it would inject a constant.
    #[error("the template has no placeholder")]
    NoPlaceholder,
    /// The template text itself has a control character.
    #[error("the template has a control character")]
    ControlChar,
    /// Text before the first or after the last placeholder begins or ends
    /// with whitespace: no header value does, so every value would be refused.
    #[error("the template starts or ends with whitespace, which a header value cannot")]
    SurroundingWhitespace,
    /// A referenced field is not in the credential.
    #[error("credential field `{0}` is missing")]
    FieldMissing(String),
    /// The rendered value is empty or has a control character (CR, LF, NUL),
    /// which would split or corrupt the header.
    #[error("the rendered credential is not a valid header value")]
    InvalidValue,
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        // The literals go into the header value as they are: hold them to
        // `is_header_value` here rather than fail every request in `render`.
        // Placeholders are `{...}`, so only the text's own ends can carry
        // surrounding whitespace.
        if text.chars().any(|c| c.is_control()) {
            return Err(TemplateError::ControlChar);
        }
        if text.trim() != text {
            return Err(TemplateError::SurroundingWhitespace);
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let open = rest.find('{');
            let close = rest.find('}');
            match (open, close) {
                (None, None) => {
                    parts.push(Part::Literal(rest.to_string()));
                    break;
                }
                (Some(o), Some(c)) if o < c => {
                    if o > 0 {
                        parts.push(Part::Literal(rest.get(..o).unwrap_or_default().to_string()));
                    }
                    let inner = rest.get(o + 1..c).unwrap_or_default();
                    parts.push(placeholder(inner)?);
                    rest = rest.get(c + 1..).unwrap_or_default();
                }
                _ => return Err(TemplateError::Unbalanced),
            }
        }
        if !parts.iter().any(|p| !matches!(p, Part::Literal(_))) {
            return Err(TemplateError::NoPlaceholder);
        }
        Ok(Self { parts })
    }

    /// Every field the template reads, in order of appearance.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                Part::Literal(_) => {}
                Part::Field(f) => out.push(f.as_str()),
                Part::Base64(fs) => out.extend(fs.iter().map(String::as_str)),
            }
        }
        out
    }

    /// Renders with `lookup` providing field values. The result is checked
    /// to be a valid single header value.
    pub fn render<'a>(
        &self,
        lookup: &dyn Fn(&str) -> Option<&'a Secret>,
    ) -> Result<Secret, TemplateError> {
        let get = |name: &str| lookup(name).ok_or_else(|| TemplateError::FieldMissing(name.into()));
        // `{field}` alone (an API-key header): the field's value itself, shared, not copied.
        if let [Part::Field(f)] = self.parts.as_slice() {
            return checked(get(f)?.clone());
        }
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(l) => out.push_str(l),
                Part::Field(f) => out.push_str(get(f)?.expose()),
                Part::Base64(fs) => {
                    let joined = fs
                        .iter()
                        .map(|f| get(f).map(|s| s.expose()))
                        .collect::<Result<Vec<_>, _>>()?
                        .join(":");
                    out.push_str(&base64::engine::general_purpose::STANDARD.encode(joined));
                }
            }
        }
        checked(Secret::new(out))
    }
}

/// The rendered value, if it is a valid single header value.
fn checked(value: Secret) -> Result<Secret, TemplateError> {
    if is_header_value(value.expose()) {
        Ok(value)
    } else {
        Err(TemplateError::InvalidValue)
    }
}

fn placeholder(inner: &str) -> Result<Part, TemplateError> {
    let bad = || TemplateError::BadPlaceholder(format!("{{{inner}}}"));
    if let Some(args) = inner
        .strip_prefix("base64(")
        .and_then(|a| a.strip_suffix(')'))
    {
        let fields: Vec<String> = args.split(':').map(str::to_string).collect();
        if fields.iter().all(|f| is_field_name(f)) {
            return Ok(Part::Base64(fields));
        }
        return Err(bad());
    }
    if is_field_name(inner) {
        Ok(Part::Field(inner.to_string()))
    } else {
        Err(bad())
    }
}

fn is_field_name(f: &str) -> bool {
    !f.is_empty()
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A header value Envoy forwards as one header: visible ASCII, spaces and
/// tabs inside, no CR/LF/NUL, not empty, no surrounding whitespace.
pub(crate) fn is_header_value(v: &str) -> bool {
    !v.is_empty()
        && v.trim() == v
        && v.bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b) || b >= 0x80)
}
