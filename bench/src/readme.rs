//! Puts the run's summary paragraph into README.md between the markers, so the figures
//! the README quotes are always the ones BENCHMARKS.md measured (deploy-tests checks it).

use crate::report::{README_BEGIN, README_END};
use std::path::Path;

/// `text` with whatever stood between the markers replaced by `summary`.
pub fn splice(text: &str, summary: &str) -> Result<String, String> {
    let begin = text
        .find(README_BEGIN)
        .ok_or_else(|| format!("no `{README_BEGIN}` marker"))?;
    let end = text[begin..]
        .find(README_END)
        .map(|e| begin + e)
        .ok_or_else(|| format!("no `{README_END}` marker after the first"))?;
    Ok(format!(
        "{}{README_BEGIN}\n{summary}\n{}",
        &text[..begin],
        &text[end..]
    ))
}

pub fn update(path: &Path, summary: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let new = splice(&text, summary).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(path, new).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_what_stands_between_the_markers() {
        let text = format!("a\n{README_BEGIN}\nold figures\n{README_END}\nb\n");
        assert_eq!(
            splice(&text, "new figures").unwrap(),
            format!("a\n{README_BEGIN}\nnew figures\n{README_END}\nb\n")
        );
    }

    /// What stands between the markers in `text`.
    fn block(text: &str) -> Option<&str> {
        let begin = text.find(README_BEGIN)? + README_BEGIN.len();
        let end = begin + text[begin..].find(README_END)?;
        Some(text[begin..end].trim())
    }

    #[test]
    fn the_readme_quotes_the_published_benchmarks() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let bench = std::fs::read_to_string(root.join("BENCHMARKS.md")).unwrap();
        let published = block(&bench).expect("BENCHMARKS.md has no summary: rerun make bench");
        assert!(
            !bench.contains("**Partial run**"),
            "BENCHMARKS.md is from a partial run: rerun make bench"
        );
        assert_eq!(
            block(&readme),
            Some(published),
            "README.md's figures differ from BENCHMARKS.md's summary: rerun make bench, which \
             copies them"
        );
    }

    #[test]
    fn refuses_a_readme_without_markers() {
        assert!(splice("no markers here", "x").is_err());
    }
}
