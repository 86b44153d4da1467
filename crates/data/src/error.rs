//! The one error type of the readers: every failure names the file, and parse failures the
//! 1-based line, the offending text and what was expected there.

use std::fmt;
use std::path::{Path, PathBuf};

/// Longest excerpt of offending input kept in an error message, in characters.
const MAX_EXCERPT: usize = 80;

/// A failure to read or interpret task data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file or directory could not be read.
    /// (The I/O error is part of the message, not a `source`, so that a chain printed with
    /// `{:#}` names it once.)
    #[error("{}: cannot read: {err}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying I/O error.
        err: std::io::Error,
    },
    /// The input does not have the expected shape at some line.
    #[error("{}", ParseDisplay(self))]
    Parse {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number of the offending input.
        line: usize,
        /// The offending text, truncated to 80 characters.
        text: String,
        /// What the reader expected there.
        expected: String,
    },
    /// The data settings themselves are inconsistent (e.g. a task the format cannot produce).
    #[error("{0}")]
    Spec(String),
}

struct ParseDisplay<'a>(&'a DataError);

impl fmt::Display for ParseDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let DataError::Parse {
            path,
            line,
            text,
            expected,
        } = self.0
        {
            write!(
                f,
                "{}:{line}: expected {expected}; got `{text}`",
                path.display()
            )
        } else {
            Ok(())
        }
    }
}

impl DataError {
    /// A parse error at `line` (1-based) of `path`; `text` is truncated for the message.
    pub fn parse(path: &Path, line: usize, text: &str, expected: impl Into<String>) -> Self {
        DataError::Parse {
            path: path.to_path_buf(),
            line,
            text: excerpt(text),
            expected: expected.into(),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            err: source,
        }
    }

    /// The 1-based line of a parse error, if this is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            DataError::Parse { line, .. } => Some(*line),
            _ => None,
        }
    }

    /// The file the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            DataError::Parse { path, .. } | DataError::Io { path, .. } => Some(path),
            DataError::Spec(_) => None,
        }
    }
}

/// `text` cut to at most 80 characters (with `…` appended when cut), control characters escaped.
fn excerpt(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_EXCERPT {
            out.push('…');
            break;
        }
        if c == '\t' {
            out.push_str("\\t");
        } else if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_message_names_file_line_text_and_expectation() {
        let e = DataError::parse(Path::new("x/a.conllu"), 7, "1\tThe", "10 columns");
        assert_eq!(
            e.to_string(),
            "x/a.conllu:7: expected 10 columns; got `1\\tThe`"
        );
        assert_eq!(e.line(), Some(7));
        let long = "é".repeat(200);
        let DataError::Parse { text, .. } = DataError::parse(Path::new("f"), 1, &long, "x") else {
            unreachable!()
        };
        assert_eq!(text.chars().count(), 81);
        assert!(text.ends_with('…'));
    }
}
