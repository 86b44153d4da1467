//! One-value-per-line text files (labels, word types) that travel beside vector files.

use std::path::Path;

use anyhow::{ensure, Context, Result};

/// Reads a file of one `what` (e.g. "label") per line; CRLF is accepted, and an empty line is
/// an error naming the file and its 1-based line.
pub fn read_lines(path: &Path, what: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {what}s from {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let line = line.trim_end_matches('\r');
            ensure!(
                !line.trim().is_empty(),
                "{}:{}: empty line, expected one {what} per line",
                path.display(),
                i + 1
            );
            Ok(line.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lines_and_names_an_empty_one() {
        let dir = std::env::temp_dir().join(format!("tunescope-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok.txt");
        std::fs::write(&ok, "NOUN\r\nVERB\n<script>").unwrap();
        assert_eq!(
            read_lines(&ok, "label").unwrap(),
            ["NOUN", "VERB", "<script>"]
        );
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "NOUN\n\nVERB\n").unwrap();
        let err = read_lines(&bad, "label").unwrap_err().to_string();
        assert!(
            err.contains("bad.txt:2: empty line, expected one label per line"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
