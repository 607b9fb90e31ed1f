//! `{{NAME}}` placeholder replacement for config templates.

use crate::{Error, Result};

/// Replaces every `{{NAME}}` with its value; fails naming any placeholder left unreplaced.
pub fn render(template: &str, vars: &[(&str, &str)]) -> Result<String> {
    let mut out = template.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    let left: Vec<&str> = out
        .match_indices("{{")
        .filter_map(|(i, _)| {
            let rest = out.get(i + 2..)?;
            let end = rest.find("}}")?;
            let name = rest.get(..end)?;
            let is_name =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            is_name.then_some(name)
        })
        .collect();
    if left.is_empty() {
        Ok(out)
    } else {
        Err(Error(format!(
            "template placeholders without a value: {}",
            left.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn placeholders_are_replaced_and_missing_ones_are_named() {
        assert_eq!(
            render("a {{X}} {{Y_2}}", &[("X", "1"), ("Y_2", "2")]).unwrap(),
            "a 1 2"
        );
        let err = render("{{X}} {{MISSING}}", &[("X", "1")]).unwrap_err();
        assert!(err.0.contains("MISSING"), "{err}");
        assert_eq!(
            render("{{ not a placeholder }}", &[]).unwrap(),
            "{{ not a placeholder }}"
        );
    }
}
