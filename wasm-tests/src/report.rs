//! Results files shared by several runs (bench/soak.md holds one section per soak).

use std::path::Path;

use crate::Result;

/// How long a soak runs: `SOAK_SECONDS`, default 600 (`make soak`).
pub fn soak_seconds() -> u64 {
    std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600)
}

/// Prints a soak's report and, when `SOAK_REPORT` names a file (bench/soak.md), writes it there
/// as its section.
pub fn publish_soak(report: &str) -> Result<()> {
    eprintln!("{report}");
    match std::env::var("SOAK_REPORT") {
        Ok(path) => write_section(Path::new(&path), report),
        Err(_) => Ok(()),
    }
}

/// Writes `section` (markdown starting with a `# ` heading) into `path`, replacing the section with the
/// same heading line (up to the next `# ` heading) or appending it; other sections are kept.
pub fn write_section(path: &Path, section: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, merge_section(&old, section))?;
    Ok(())
}

fn merge_section(old: &str, section: &str) -> String {
    let heading = section.lines().next().unwrap_or_default();
    let mut out = String::new();
    let mut replaced = false;
    let mut skipping = false;
    for line in old.lines() {
        if line.starts_with("# ") {
            skipping = line == heading;
            if skipping && !replaced {
                push_section(&mut out, section);
                replaced = true;
            }
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !replaced {
        push_section(&mut out, section);
    }
    out
}

fn push_section(out: &mut String, section: &str) {
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str(section.trim_end());
    out.push_str("\n\n");
}

#[cfg(test)]
mod tests {
    use super::merge_section;

    #[test]
    fn a_section_is_replaced_in_place_and_others_are_kept() {
        let old = "# A\n\nold a\n\n# B\n\nold b\n";
        assert_eq!(
            merge_section(old, "# A\n\nnew a\n"),
            "# A\n\nnew a\n\n# B\n\nold b\n"
        );
        assert_eq!(
            merge_section(old, "# B\n\nnew b"),
            "# A\n\nold a\n\n# B\n\nnew b\n\n"
        );
        assert_eq!(
            merge_section(old, "# C\n\nc\n"),
            "# A\n\nold a\n\n# B\n\nold b\n\n# C\n\nc\n\n"
        );
        assert_eq!(merge_section("", "# A\nx\n"), "# A\nx\n\n");
    }
}
