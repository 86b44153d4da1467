//! `tunescope plan … --collect`: the grid's answer in one place. Reads every cell's run
//! directory, checks that the cell is finished (its study plan has nothing left to run) and
//! merges the cells' Table A into `<root>/summary/`: `grid.csv` (one row per cell × layer ×
//! version), `grid.json` (cells, status, axis values, rows, marginal means) and `index.html`
//! (a self-contained page: cell status, the last layer before and after fine-tuning per cell,
//! and the mean over cells of each axis value).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use tunescope_data::csv::field as csv_field;
use tunescope_report::{TableAEntry, Version};

use crate::config::Config;
use crate::study::plan::Action;
use crate::study::slurm::Cell;

/// Whether a cell's study has finished.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Every stage is done and up to date.
    Finished,
    /// Stages are left to run (not started, interrupted, or out of date).
    Unfinished {
        /// Ids of the stages that would run.
        stages: Vec<String>,
    },
    /// The cell's config or run directory could not be read.
    Failed {
        /// The error.
        error: String,
    },
}

/// One cell of the grid as collected.
#[derive(Debug, Clone, Serialize)]
pub struct CellSummary {
    /// Array index of the cell (`sbatch --array=<index>` resubmits it).
    pub index: usize,
    /// Cell name (its directory under the grid root).
    pub name: String,
    /// Config file.
    pub config: PathBuf,
    /// Varied settings and their values in this cell.
    pub axes: Vec<(String, String)>,
    /// Run directory.
    pub run: PathBuf,
    /// Finished or not.
    pub status: Status,
    /// Table A rows (empty unless finished).
    pub rows: Vec<TableAEntry>,
}

/// Reads every cell of the grid.
pub fn collect(cells: &[Cell], axes: &[String]) -> Vec<CellSummary> {
    cells
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let values = c
                .sets
                .iter()
                .filter_map(|s| s.split_once('='))
                .filter(|(k, _)| axes.iter().any(|a| a == k.trim()))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            let (run, status, rows) = match read_cell(c) {
                Ok(r) => r,
                Err(e) => (
                    PathBuf::new(),
                    Status::Failed {
                        error: format!("{e:#}"),
                    },
                    vec![],
                ),
            };
            CellSummary {
                index,
                name: c.name.clone(),
                config: c.config.clone(),
                axes: values,
                run,
                status,
                rows,
            }
        })
        .collect()
}

fn read_cell(c: &Cell) -> Result<(PathBuf, Status, Vec<TableAEntry>)> {
    let config = Config::load(&c.config, &c.sets)?;
    let run = config.study.out.clone();
    let plan = crate::study::dry_plan(&config)?;
    let left: Vec<String> = plan
        .iter()
        .filter(|p| !matches!(p.action, Action::Skip(_)))
        .map(|p| p.id.clone())
        .collect();
    if !left.is_empty() {
        return Ok((run, Status::Unfinished { stages: left }, Vec::new()));
    }
    let rows = crate::study::table_a(&config)?;
    Ok((run, Status::Finished, rows))
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or(String::new(), |v| format!("{v:.digits$}"))
}

/// `grid.csv`: one row per cell × layer × version (finished cells only).
pub fn grid_csv(cells: &[CellSummary], axes: &[String]) -> String {
    let mut s = String::from("cell,config");
    for a in axes {
        s.push(',');
        s.push_str(&csv_field(a));
    }
    s.push_str(
        ",layer,version,acc_mean,acc_std,best_hidden,best_l2,linear_acc_mean,linear_acc_std,\
         n_clusters,linear,similarity,undefined_pairs,pairs_undefined\n",
    );
    for c in cells {
        for r in &c.rows {
            let _ = write!(
                s,
                "{},{}",
                csv_field(&c.name),
                csv_field(&c.config.display().to_string())
            );
            for a in axes {
                let v = c.axes.iter().find(|(k, _)| k == a).map_or("", |(_, v)| v);
                let _ = write!(s, ",{}", csv_field(v));
            }
            let _ = writeln!(
                s,
                ",{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.row.layer,
                r.version().as_str(),
                fmt_opt(r.row.acc_mean, 4),
                fmt_opt(r.row.acc_std, 4),
                csv_field(&tunescope_model::probe::shape_name(
                    r.row.best_hidden.as_deref().unwrap_or_default()
                )),
                r.row.best_l2.map_or(String::new(), |v| format!("{v:e}")),
                fmt_opt(r.row.linear_acc_mean, 4),
                fmt_opt(r.row.linear_acc_std, 4),
                r.n_clusters().map_or(String::new(), |n| n.to_string()),
                r.is_linear().map_or(String::new(), |l| l.to_string()),
                fmt_opt(r.row.train_test_similarity.pearson, 6),
                r.row.train_test_similarity.undefined_pairs.as_str(),
                r.row.train_test_similarity.pairs_undefined,
            );
        }
    }
    s
}

/// The last layer's rows of a cell: (original, fine-tuned).
fn last_layer(c: &CellSummary) -> Option<(&TableAEntry, &TableAEntry)> {
    let layer = c.rows.iter().map(|r| r.row.layer).max()?;
    let find = |v: Version| {
        c.rows
            .iter()
            .find(|r| r.row.layer == layer && r.version() == v)
    };
    Some((find(Version::Original)?, find(Version::FineTuned)?))
}

/// Mean and sample standard deviation.
fn mean_sd(v: &[f64]) -> (f64, Option<f64>) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd =
        (v.len() > 1).then(|| (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (m, sd)
}

/// Marginal means: for each axis value, the fine-tuned last-layer accuracy and its change from
/// the pre-trained one, averaged over the finished cells with that value.
#[derive(Debug, Clone, Serialize)]
pub struct Marginal {
    /// Varied setting.
    pub axis: String,
    /// Its value.
    pub value: String,
    /// Finished cells with that value.
    pub cells: usize,
    /// Mean fine-tuned accuracy (percent) at the last layer.
    pub acc_finetuned: Option<f64>,
    /// Its sample standard deviation over cells.
    pub acc_finetuned_sd: Option<f64>,
    /// Mean change of accuracy (fine-tuned − pre-trained, points) at the last layer.
    pub acc_change: Option<f64>,
}

/// The marginal means of every axis value, in the order of `vary`.
pub fn marginals(cells: &[CellSummary], vary: &[(String, Vec<String>)]) -> Vec<Marginal> {
    let mut out = Vec::new();
    for (axis, values) in vary {
        for value in values {
            let mut post = Vec::new();
            let mut change = Vec::new();
            let mut n = 0;
            for c in cells.iter().filter(|c| c.status == Status::Finished) {
                if !c.axes.iter().any(|(k, v)| k == axis && v == value) {
                    continue;
                }
                n += 1;
                if let Some((pre, ft)) = last_layer(c) {
                    if let Some(a) = ft.row.acc_mean {
                        post.push(a);
                        if let Some(b) = pre.row.acc_mean {
                            change.push(a - b);
                        }
                    }
                }
            }
            let (acc, sd) = if post.is_empty() {
                (None, None)
            } else {
                let (m, sd) = mean_sd(&post);
                (Some(m), sd)
            };
            out.push(Marginal {
                axis: axis.clone(),
                value: value.clone(),
                cells: n,
                acc_finetuned: acc,
                acc_finetuned_sd: sd,
                acc_change: (!change.is_empty()).then(|| mean_sd(&change).0),
            });
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `index.html`: the grid summary as one self-contained page.
pub fn grid_html(
    title: &str,
    cells: &[CellSummary],
    axes: &[String],
    marginals: &[Marginal],
) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:70em}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #bbb;\
         padding:.25em .6em;text-align:right}}td.l,th.l{{text-align:left}}\
         .bad{{color:#a00}}</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(title)
    );
    let done = cells
        .iter()
        .filter(|c| c.status == Status::Finished)
        .count();
    let _ = writeln!(
        h,
        "<p>{done} of {} cells finished. Accuracy: classifier-probe test accuracy (percent, \
         mean ± sd over probe seeds) of the probe chosen on dev; clusters: DirectProbe clusters \
         on train (linear when equal to the label count).</p>",
        cells.len()
    );
    if !marginals.is_empty() {
        h.push_str(
            "<h2>By axis value (last layer, mean over finished cells)</h2>\n<table><tr>\
             <th class=\"l\">setting</th><th class=\"l\">value</th><th>cells</th>\
             <th>fine-tuned acc %</th><th>± sd over cells</th><th>change (points)</th></tr>\n",
        );
        for m in marginals {
            let _ = writeln!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td></tr>",
                esc(&m.axis),
                esc(&m.value),
                m.cells,
                fmt_opt(m.acc_finetuned, 2),
                fmt_opt(m.acc_finetuned_sd, 2),
                m.acc_change.map_or(String::new(), |v| format!("{v:+.2}")),
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Cells (last layer)</h2>\n<table><tr><th>#</th><th class=\"l\">cell</th>");
    for a in axes {
        let _ = write!(h, "<th class=\"l\">{}</th>", esc(a));
    }
    h.push_str(
        "<th class=\"l\">status</th><th>layer</th><th>acc % pre-trained</th>\
         <th>acc % fine-tuned</th><th>clusters pre-trained</th><th>clusters fine-tuned</th></tr>\n",
    );
    for c in cells {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"l\">{}</td>",
            c.index,
            esc(&c.name)
        );
        for a in axes {
            let v = c.axes.iter().find(|(k, _)| k == a).map_or("", |(_, v)| v);
            let _ = write!(h, "<td class=\"l\">{}</td>", esc(v));
        }
        let status = match &c.status {
            Status::Finished => "finished".to_string(),
            Status::Unfinished { stages } => format!(
                "<span class=\"bad\">unfinished: {} stage(s) left</span>",
                stages.len()
            ),
            Status::Failed { error } => format!("<span class=\"bad\">{}</span>", esc(error)),
        };
        let _ = write!(h, "<td class=\"l\">{status}</td>");
        match last_layer(c) {
            Some((pre, ft)) => {
                let acc = |r: &TableAEntry| match (r.row.acc_mean, r.row.acc_std) {
                    (Some(m), Some(sd)) => format!("{m:.2} ± {sd:.2}"),
                    (Some(m), None) => format!("{m:.2}"),
                    _ => "–".into(),
                };
                let cl = |r: &TableAEntry| {
                    r.n_clusters().map_or("–".into(), |n| {
                        format!(
                            "{n}{}",
                            if r.is_linear() == Some(true) {
                                " (linear)"
                            } else {
                                ""
                            }
                        )
                    })
                };
                let _ = writeln!(
                    h,
                    "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    pre.row.layer,
                    acc(pre),
                    acc(ft),
                    cl(pre),
                    cl(ft)
                );
            }
            None => h.push_str("<td></td><td></td><td></td><td></td><td></td></tr>\n"),
        }
    }
    h.push_str("</table>\n<p>Every layer: <code>grid.csv</code>; everything: <code>grid.json</code>.</p>\n</body></html>\n");
    h
}

/// Writes `<root>/summary/` (replaced as a whole) and returns its path.
pub fn write_summary(
    root: &Path,
    cells: &[CellSummary],
    vary: &[(String, Vec<String>)],
) -> Result<PathBuf> {
    let axes: Vec<String> = vary.iter().map(|(k, _)| k.clone()).collect();
    let marg = marginals(cells, vary);
    let out = root.join("summary");
    let staging = crate::outdir::Staging::begin(&out, true)?;
    let json = serde_json::json!({
        "root": root,
        "axes": axes,
        "cells": cells,
        "finished": cells.iter().filter(|c| c.status == Status::Finished).count(),
        "marginals": marg,
    });
    let files: BTreeMap<&str, String> = [
        ("grid.csv", grid_csv(cells, &axes)),
        (
            "grid.json",
            serde_json::to_string_pretty(&json).context("serialising the grid")? + "\n",
        ),
        (
            "index.html",
            grid_html(&format!("Grid {}", root.display()), cells, &axes, &marg),
        ),
    ]
    .into_iter()
    .collect();
    for (name, text) in files {
        let p = staging.path().join(name);
        std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
    }
    staging.commit()?;
    Ok(out)
}
