//! CSV text (RFC 4180): the one writer every table of the project goes through.

use std::borrow::Cow;

/// One field: quoted when it holds a comma, quote, CR or LF (quotes doubled).
pub fn field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// A number: shortest round-trip decimal, `inf`, `-inf`, or empty for NaN (a gap).
pub fn num(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{v}")
    }
}

/// A number in Rust's shortest round-trip form, or an empty field for `None` (the compare
/// tables' convention: an undefined value is `None`, so NaN, if any, stays visible as `NaN`).
pub fn opt_num(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

/// A CSV table being built: header first, then rows, each line ending in `\n`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Csv(String);

impl Csv {
    /// A table with `header` as its first line.
    pub fn new<S: AsRef<str>>(header: impl IntoIterator<Item = S>) -> Self {
        let mut c = Csv(String::new());
        c.row(header);
        c
    }

    /// Appends one row.
    pub fn row<S: AsRef<str>>(&mut self, fields: impl IntoIterator<Item = S>) {
        for (i, f) in fields.into_iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            self.0.push_str(&field(f.as_ref()));
        }
        self.0.push('\n');
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.0
    }
}

/// A whole table: `header` and `rows`.
pub fn table<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    let mut c = Csv::new(header);
    for r in rows {
        c.row(r);
    }
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed_and_numbers_keep_gaps() {
        let mut c = Csv::new(["a", "b"]);
        c.row(["x,y", "say \"hi\""]);
        c.row(["line\r", "plain"]);
        assert_eq!(
            c.finish(),
            "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n\"line\r\",plain\n"
        );
        assert_eq!(
            [
                num(f64::NAN),
                num(f64::INFINITY),
                num(-f64::INFINITY),
                num(0.25)
            ],
            ["", "inf", "-inf", "0.25"]
        );
        assert_eq!(opt_num(None), "");
        assert_eq!(table(&["h"], &[vec!["1"], vec!["2"]]), "h\n1\n2\n");
    }
}
