//! The report stage: turns a study's analysis results ([`ReportData`]) into one self-contained
//! `index.html` (inline SVG, embedded JSON, no scripts, fonts or network) plus every figure as
//! `figures/<name>.svg` with its data in `figures/<name>.csv`.
//!
//! ```no_run
//! # fn main() -> tunescope_report::Result<()> {
//! let data = tunescope_report::ReportData::from_json_file("runs/pos/compare/report.json".as_ref())?;
//! let summary = tunescope_report::render(&data, "runs/pos/report".as_ref())?;
//! println!("{} figures in {}", summary.figure_count, summary.dir.display());
//! # Ok(()) }
//! ```

mod dynamics_measures;
pub mod figures;
pub mod html;
pub mod measures;
pub mod model;
mod nonfinite;
pub mod results;
mod sections;
pub mod svg;
mod tables;

use std::fmt;
use std::path::{Path, PathBuf};

pub use figures::Figure;
pub use measures::Measures;
pub use model::*;

/// Most points drawn in one scatter plot; larger inputs are subsampled evenly (the CSV and the
/// embedded JSON keep every point).
pub const MAX_SCATTER_POINTS: usize = 4000;

/// Errors of the report stage.
#[derive(Debug)]
pub enum ReportError {
    /// A file or directory operation failed.
    Io {
        /// Path involved.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The input JSON could not be read or the data could not be serialised.
    Json(String),
    /// The output path cannot hold a report (e.g. it has no final component).
    BadOutput(PathBuf),
}

impl ReportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            ReportError::Json(m) => write!(f, "report data: {m}"),
            ReportError::BadOutput(p) => write!(f, "cannot write a report to {}", p.display()),
        }
    }
}

impl std::error::Error for ReportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReportError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, ReportError>;

/// What [`render`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSummary {
    /// The report directory (`out_dir`).
    pub dir: PathBuf,
    /// `dir/index.html`.
    pub index: PathBuf,
    /// Every file written (index, figure SVGs and CSVs), as paths under `dir`.
    pub files: Vec<PathBuf>,
    /// Number of figures.
    pub figure_count: usize,
}

/// Renders the report into `out_dir` (e.g. `runs/<study>/report`): `index.html` and
/// `figures/<name>.{svg,csv}`. The directory is owned by the report: it is built next to
/// `out_dir` under a temporary name and renamed into place, replacing a previous report, so a
/// failed render leaves the previous report (or nothing) and never a partial one.
pub fn render(data: &ReportData, out_dir: &Path) -> Result<ReportSummary> {
    let figs = sections::build(data);
    let page = sections::page(data, &figs)?;
    let mut files: Vec<(PathBuf, String)> = vec![(PathBuf::from("index.html"), page)];
    for f in &figs {
        files.push((
            Path::new("figures").join(format!("{}.svg", f.name)),
            f.svg.clone(),
        ));
        files.push((
            Path::new("figures").join(format!("{}.csv", f.name)),
            f.csv.clone(),
        ));
    }
    write_dir_atomically(out_dir, &files)?;
    Ok(ReportSummary {
        dir: out_dir.to_path_buf(),
        index: out_dir.join("index.html"),
        files: files.iter().map(|(p, _)| out_dir.join(p)).collect(),
        figure_count: figs.len(),
    })
}

/// Writes `files` (relative paths) into a fresh sibling directory, then swaps it in for `dir`
/// ([`tunescope_data::fs::replace_dir`]).
fn write_dir_atomically(dir: &Path, files: &[(PathBuf, String)]) -> Result<()> {
    if dir.file_name().is_none() {
        return Err(ReportError::BadOutput(dir.to_path_buf()));
    }
    tunescope_data::fs::replace_dir(dir, |tmp| {
        for (rel, content) in files {
            let path = tmp.join(rel);
            if let Some(p) = path.parent() {
                std::fs::create_dir_all(p).map_err(|e| ReportError::io(p, e))?;
            }
            std::fs::write(&path, content).map_err(|e| ReportError::io(&path, e))?;
        }
        Ok(())
    })
}

impl From<tunescope_data::fs::FsError> for ReportError {
    fn from(e: tunescope_data::fs::FsError) -> Self {
        ReportError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tunescope-report-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn rerender_replaces_the_report_and_leaves_no_temporaries() {
        let base = tmpdir("replace");
        let out = base.join("report");
        std::fs::create_dir_all(out.join("figures")).unwrap();
        std::fs::write(out.join("figures/stale.svg"), "old").unwrap();
        let data = ReportData {
            title: "t".into(),
            ..Default::default()
        };
        let s = render(&data, &out).unwrap();
        assert!(s.index.is_file());
        assert!(
            !out.join("figures/stale.svg").exists(),
            "old report is replaced whole"
        );
        let names: Vec<String> = std::fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["report".to_string()]);
        for f in &s.files {
            assert!(f.is_file(), "{}", f.display());
        }
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn failed_render_keeps_the_previous_report() {
        let base = tmpdir("fail");
        let out = base.join("report");
        let data = ReportData {
            title: "first".into(),
            ..Default::default()
        };
        render(&data, &out).unwrap();
        let files = vec![
            (PathBuf::from("index.html"), "x".to_string()),
            (PathBuf::from("index.html/sub"), "y".to_string()),
        ];
        assert!(write_dir_atomically(&out, &files).is_err());
        let html = std::fs::read_to_string(out.join("index.html")).unwrap();
        assert!(html.contains("first"));
        assert_eq!(
            std::fs::read_dir(&base).unwrap().count(),
            1,
            "temporary directory removed"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
