//! The report page: one self-contained HTML document (inline CSS and SVG, the data as an inert
//! JSON block, no scripts, no external resources).

use std::fmt::Write as _;

use crate::figures::{Figure, Place};
use crate::model::*;
use crate::svg::{esc, fmt_value};
use crate::{ReportError, Result};

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,'Liberation Sans','DejaVu Sans',sans-serif;
color:#222;background:#fff;margin:0 auto;max-width:1360px;padding:16px 28px 48px;line-height:1.45;font-size:15px}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:21px;margin:36px 0 8px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:17px;margin:22px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.ft td{background:#fbfbfb}tr.group-start td{border-top:2px solid #bbb}
.good{color:#1a7f37;font-weight:600}.bad{color:#c62828;font-weight:700}tr.worse td{background:#fdecea}
.not-computed{color:#777;font-style:italic}.muted{color:#666}
figure{display:inline-block;vertical-align:top;margin:10px 18px 18px 0;max-width:100%}
figure svg{max-width:100%;height:auto;display:block;border:1px solid #eee}
figcaption{font-size:13px;color:#444;max-width:640px;margin-top:4px}
pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px;max-height:420px}
nav ul{columns:3;font-size:13px}code{font-size:12px}
";

/// Opens the page: the document head (inline CSS, no scripts) and the title.
pub(crate) fn open(h: &mut String, data: &ReportData) {
    let title = if data.title.is_empty() {
        "tunescope report"
    } else {
        data.title.as_str()
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <title>{t}</title><style>{CSS}</style></head><body>\n<h1>{t}</h1>\
         <p class=\"muted\">How fine-tuning changes the encoder's representation space — after Zhou &amp; Srikumar, \
         “A Closer Look at How Fine-tuning Changes BERT” (ACL 2022) and “DirectProbe” (NAACL 2021). \
         Every figure is also in <code>figures/</code> as SVG with its data as CSV.</p>\n",
        t = esc(title)
    );
}

/// Closes the page: `data` as an inert JSON block.
pub(crate) fn close(h: &mut String, data: &ReportData) -> Result<()> {
    let json = serde_json::to_string(data).map_err(|e| ReportError::Json(e.to_string()))?;
    let _ = write!(
        h,
        "\n<script type=\"application/json\" id=\"report-data\">{}</script>\n</body></html>\n",
        json_for_script(&json)
    );
    Ok(())
}

/// Makes JSON safe inside a `<script>` element: `<`, `>` and `&` become `\u003c` etc., which
/// JSON parsers read back unchanged (they can only occur inside strings).
pub fn json_for_script(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The page anchor of run `i`.
pub(crate) fn anchor(i: usize) -> String {
    format!("run-{i}")
}

pub(crate) fn not_computed(h: &mut String) {
    h.push_str("<p class=\"not-computed\">not computed</p>\n");
}

fn kv_table(h: &mut String, rows: &[KeyValue]) {
    h.push_str("<table><tr><th>key</th><th>value</th></tr>");
    for kv in rows {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td><code>{}</code></td></tr>",
            esc(&kv.key),
            esc(&kv.value)
        );
    }
    h.push_str("</table>\n");
}

pub(crate) fn study(h: &mut String, s: Option<&StudyInfo>) {
    h.push_str("<h2 id=\"study\">Study settings and content hashes</h2>\n");
    let Some(s) = s else {
        not_computed(h);
        return;
    };
    h.push_str("<h3>Settings</h3>");
    if s.settings.is_empty() {
        not_computed(h);
    } else {
        kv_table(h, &s.settings);
    }
    h.push_str("<h3>Content hashes</h3>");
    if s.hashes.is_empty() {
        not_computed(h);
    } else {
        let _ = write!(
            h,
            "<details><summary>{} stage keys and input hashes</summary>",
            s.hashes.len()
        );
        kv_table(h, &s.hashes);
        h.push_str("</details>\n");
    }
    if let Some(toml) = &s.config_toml {
        let _ = writeln!(
            h,
            "<details><summary>Resolved configuration (TOML)</summary><pre>{}</pre></details>",
            esc(toml)
        );
    }
}

pub(crate) fn figures_at(h: &mut String, figures: &[Figure], place: Place) -> usize {
    let mut n = 0;
    for f in figures.iter().filter(|f| f.place == place) {
        let _ = writeln!(
            h,
            "<figure id=\"fig-{n}\">{svg}<figcaption><b>{n}</b> — {c} <a href=\"figures/{n}.svg\">SVG</a> · \
             <a href=\"figures/{n}.csv\">CSV</a></figcaption></figure>",
            n = esc(&f.name),
            svg = f.svg,
            c = esc(&f.caption)
        );
        n += 1;
    }
    n
}

fn opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        Some(x) => fmt_value(x),
        None => "–".into(),
    }
}

/// Signed difference; coloured green when it goes the good way (`higher_is_better`), red otherwise.
fn delta(after: Option<f64>, before: Option<f64>, digits: usize, higher_is_better: bool) -> String {
    match (after, before) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() => {
            let d = a - b;
            let good = if higher_is_better { d > 0.0 } else { d < 0.0 };
            let class = if d == 0.0 {
                ""
            } else if good {
                "good"
            } else {
                "bad"
            };
            let text = format!("{}{d:.digits$}", if d > 0.0 { "+" } else { "" }).replace('-', "−");
            format!("<span class=\"{class}\">{text}</span>")
        }
        _ => String::new(),
    }
}

pub(crate) fn table_a(h: &mut String, rows: &[TableAEntry], figures: &[Figure]) {
    h.push_str("<h2 id=\"table-a\">Table A — probing before and after fine-tuning</h2>\n");
    if rows.is_empty() {
        not_computed(h);
        return;
    }
    let selected: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.row.probe_selected_on.as_deref())
        .fold(Vec::new(), |mut v, s| {
            if !v.contains(&s) {
                v.push(s);
            }
            v
        });
    let selected = if selected.is_empty() {
        "dev".to_string()
    } else {
        selected.join(", ")
    };
    let _ = write!(
        h,
        "<p class=\"muted\">Acc/Std: test accuracy (%) of the paper's probe, the two-layer ReLU MLP whose hidden \
         sizes and L2 weight (best MLP, l2) were chosen on <b>{}</b> among the MLPs only (each configuration trained once, the chosen one \
         retrained over seeds: mean ± std); linear: the best linear probe, chosen the same way, in its own columns. \
         #clusters: DirectProbe on the training set; min dist: smallest label-pair mean distance (mean over the pair's clusters after \
         the size filter); min cluster-pair: smallest distance between two clusters of different labels (equal when linear). \
         Similarity: Pearson correlation of the train and test label-pair distance vectors (– when undefined), with how label pairs \
         without a distance entered it (zero: written as 0, the authors' convention; drop: left out) and how many there were. \
         Δ: fine-tuned − original, green when better (higher accuracy, fewer clusters); a red row marks a \
         pair where fine-tuning lowered accuracy (paper: only BERT-small on PS-fxn). Selectivity: accuracy minus control-task \
         accuracy (points, Hewitt &amp; Liang 2019; – without <code>probe.control</code>); MDL compression: uniform / online \
         codelength of the linear probe (Voita &amp; Titov 2020). A “paper” row gives the published \
         number of the same model × task (Zhou &amp; Srikumar 2022, Table 7).</p>\n\
         <table><tr><th>model</th><th>task</th><th>version</th><th>layer</th><th>acc</th><th>std</th><th>Δ acc</th>\
         <th>best MLP (l2)</th><th>linear acc</th><th>#clusters</th><th>Δ #clusters</th><th>linear</th><th>min dist</th>\
         <th>min cluster-pair</th><th>similarity</th><th>selectivity</th><th>MDL compression</th></tr>\n",
        esc(&selected)
    );
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in rows {
        if !seen.contains(&(r.model.as_str(), r.task.as_str())) {
            seen.push((r.model.as_str(), r.task.as_str()));
        }
    }
    for (model, task) in seen {
        let group: Vec<&TableAEntry> = rows
            .iter()
            .filter(|r| r.model == model && r.task == task)
            .collect();
        let orig = group.iter().find(|r| r.version() == Version::Original);
        for (k, r) in group.iter().enumerate() {
            let is_ft = r.version() == Version::FineTuned;
            let (dacc, dcl) = match (is_ft, orig) {
                (true, Some(o)) => (
                    delta(r.row.acc_mean, o.row.acc_mean, 2, true),
                    delta(
                        r.n_clusters().map(|v| v as f64),
                        o.n_clusters().map(|v| v as f64),
                        0,
                        false,
                    ),
                ),
                _ => (String::new(), String::new()),
            };
            let worse = is_ft && dacc.contains("class=\"bad\"");
            let mut class = Vec::new();
            if is_ft {
                class.push("ft");
            }
            if worse {
                class.push("worse");
            }
            if k == 0 {
                class.push("group-start");
            }
            let s = &r.row.train_test_similarity;
            let mut sim = match (s.pearson, &s.note) {
                (Some(s), _) if s.is_finite() => format!("{s:.2}"),
                (_, Some(note)) => format!("– <span class=\"muted\">({})</span>", esc(note)),
                _ => "–".into(),
            };
            let _ = write!(
                sim,
                " <span class=\"muted\">[undefined pairs: {}, {}]</span>",
                s.undefined_pairs.as_str(),
                s.pairs_undefined
            );
            let mut hidden = hidden_name(r.row.best_hidden.as_deref().unwrap_or_default());
            if let Some(l2) = r.row.best_l2 {
                let _ = write!(hidden, " <span class=\"muted\">({l2:e})</span>");
            }
            let linear_acc = match (r.row.linear_acc_mean, r.row.linear_acc_std) {
                (Some(m), Some(s)) => format!("{} ± {}", opt(Some(m), 2), opt(Some(s), 2)),
                (Some(m), None) => opt(Some(m), 2),
                _ => "–".into(),
            };
            let _ = writeln!(
                h,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{dacc}</td><td>{hidden}</td><td class=\"num\">{linear_acc}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{dcl}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td>{sim}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                class.join(" "),
                esc(&r.model),
                esc(&r.task),
                r.version().as_str(),
                r.row.layer,
                opt(r.row.acc_mean, 2),
                opt(r.row.acc_std, 2),
                if r.degenerate() {
                    "degenerate".into()
                } else {
                    r.n_clusters().map(|v| v.to_string()).unwrap_or_else(|| "–".into())
                },
                match r.is_linear() {
                    Some(true) => "Y",
                    Some(false) => "N",
                    None => "–",
                },
                opt(r.row.min_distance, 3),
                opt(r.row.min_cluster_pair_distance, 3),
                opt(r.row.selectivity, 2),
                opt(r.row.mdl_compression, 2),
            );
            if let Some(p) = &r.paper {
                let _ = writeln!(
                    h,
                    "<tr class=\"paper\"><td colspan=\"3\" class=\"muted\">paper: {} {} {}</td><td></td>\
                     <td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td></td><td>{}</td><td></td>\
                     <td class=\"num\">{}</td><td></td><td>{}</td><td></td><td></td><td>{}</td></tr>",
                    esc(&p.model),
                    esc(&p.task),
                    r.version().as_str(),
                    p.acc,
                    p.std,
                    hidden_name(&p.hidden),
                    p.clusters,
                    if p.linear { "Y" } else { "N" },
                    p.similarity.map_or("–".into(), |s| format!("{s:.2}")),
                );
            }
        }
    }
    h.push_str("</table>\n");
    figures_at(h, figures, Place::TableA);
}

pub(crate) fn arms(h: &mut String, a: &Arms, figures: &[Figure]) {
    h.push_str(
        "<h2 id=\"arms\">Fine-tuning methods side by side</h2>\n<p class=\"muted\">The study's own \
         fine-tuning (<code>main</code>) and each <code>[[arms]]</code> entry, on the same pre-trained \
         analyses. Head accuracy: the fine-tuned task head on dev and test. ρ: Spearman correlation \
         across layers between the weight update (‖ΔW‖/‖W‖ over the layer's six matrices) and the \
         mean centroid displacement (layer movement). Each arm's Table A rows, per-layer curves, \
         movement and CKA are in its own section below; the weight updates are in \
         <code>weights/weights.csv</code> of each arm's run directory. With several fine-tuning \
         seeds, head accuracy and seconds are means over the seeds with the 95 % bootstrap \
         interval in brackets, and the per-layer curves are the seeds' means.</p>\n<table><tr><th>arm</th>\
         <th>method</th><th>seeds</th><th>trained parameters</th><th>dev acc</th><th>test acc</th><th>seconds</th>\
         <th>ρ(update, movement)</th><th>intruders</th></tr>\n",
    );
    let pct = |v: Option<f64>, ci: Option<(f64, f64)>| {
        let mut s = opt(v.map(|x| 100.0 * x), 2);
        if let Some((lo, hi)) = ci {
            let _ = write!(s, " [{:.2}, {:.2}]", 100.0 * lo, 100.0 * hi);
        }
        s
    };
    for r in &a.rows {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&r.name),
            esc(&r.method),
            r.seeds.max(1),
            r.trained_parameters.map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
            pct(r.dev_accuracy, r.dev_interval),
            pct(r.test_accuracy, r.test_interval),
            opt(r.seconds, 1),
            opt(r.movement_spearman, 2).replace('-', "−"),
            r.intruders.map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
        );
    }
    h.push_str("</table>\n");
    figures_at(h, figures, Place::Arms);
}

/// A probe's hidden sizes as the paper prints them, `(256, 64)`; `linear` for no hidden layer.
fn hidden_name(hidden: &[usize]) -> String {
    if hidden.is_empty() {
        "linear".into()
    } else {
        let sizes: Vec<String> = hidden.iter().map(usize::to_string).collect();
        format!("({})", sizes.join(", "))
    }
}

pub(crate) fn cross_task(h: &mut String, rows: Option<&[CrossTaskRow]>, figures: &[Figure]) {
    h.push_str("<h2 id=\"cross-task\">Cross-task fine-tuning (Table C)</h2>\n");
    let Some(rows) = rows.filter(|r| !r.is_empty()) else {
        not_computed(h);
        return;
    };
    h.push_str(
        "<p class=\"muted\">Fine-tune on one task, probe another. #inc/#dec: labels whose minimum distance \
         increased/decreased; paper (BERT-base → PS-fxn): PS-fxn 40/0, +5.29, 89.58; PS-role 27/13, +1.02, 88.53; \
         POS 0/40, −1.68, 83.24; none: 87.75.</p>\n<table><tr><th>fine-tuned on</th><th>probing</th><th>#inc</th>\
         <th>#dec</th><th>mean change</th><th>acc</th></tr>\n",
    );
    for r in rows {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(r.finetuned_on.as_deref().unwrap_or("– (none)")),
            esc(&r.probing),
            r.n_inc().map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
            r.n_dec().map(|v| v.to_string()).unwrap_or_else(|| "–".into()),
            opt(r.mean_change(), 2).replace('-', "−"),
            opt(r.acc_percent(), 2),
        );
    }
    h.push_str("</table>\n");
    figures_at(h, figures, Place::CrossTask);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_report_says_not_computed_for_every_section() {
        let data = ReportData {
            title: "empty".into(),
            ..Default::default()
        };
        let html = crate::sections::page(&data, &crate::sections::build(&data)).unwrap();
        assert_eq!(html.matches("class=\"not-computed\"").count(), 4);
        assert!(!html.contains("<figure"));
        let data = ReportData {
            runs: vec![TaskModelReport {
                task: "POS".into(),
                model: "m".into(),
                ..Default::default()
            }],
            ..data
        };
        let html = crate::sections::page(&data, &crate::sections::build(&data)).unwrap();
        assert_eq!(html.matches("class=\"not-computed\"").count(), 3 + 7);
    }

    #[test]
    fn json_block_cannot_close_the_script_and_parses_back() {
        let evil = "</script><script>alert(1)</script>";
        let data = ReportData {
            title: evil.into(),
            ..Default::default()
        };
        let html = crate::sections::page(&data, &[]).unwrap();
        assert_eq!(html.matches("<script").count(), 1);
        assert_eq!(html.matches("</script>").count(), 1);
        let start = html.find("id=\"report-data\">").unwrap() + "id=\"report-data\">".len();
        let end = html.rfind("</script>").unwrap();
        let back: ReportData = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(back.title, evil);
        assert!(
            html.contains("<title>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>")
        );
    }

    #[test]
    fn table_a_shows_deltas_and_flags_a_drop() {
        let row = |v: Version, acc, cl| TableAEntry {
            model: "bert-small".into(),
            task: "PS-fxn".into(),
            row: TableARow {
                version: v.key().into(),
                layer: 4,
                acc_mean: Some(acc),
                acc_std: Some(0.5),
                best_hidden: Some(vec![256, 256]),
                n_clusters: cl,
                linear: true,
                train_rows_used: 100,
                train_rows_total: 100,
                train_test_similarity: crate::results::SpatialSimilarity {
                    note: Some("not linear on <test>".into()),
                    pairs_undefined: 3,
                    ..Default::default()
                },
                best_l2: Some(1e-4),
                probe_selected_on: Some("dev".into()),
                linear_acc_mean: Some(acc - 1.0),
                linear_acc_std: Some(0.25),
                min_distance: Some(0.5),
                min_cluster_pair_distance: Some(0.25),
                selectivity: Some(31.5),
                mdl_compression: None,
                ..Default::default()
            },
            paper: Some(PaperRow {
                model: "BERT_small".into(),
                task: "PS-fxn".into(),
                acc: 86.26,
                std: 0.54,
                hidden: [256, 256],
                clusters: 40,
                linear: true,
                similarity: Some(0.82),
            }),
        };
        let data = ReportData {
            table_a: vec![
                row(Version::Original, 86.26, 40),
                row(Version::FineTuned, 85.08, 38),
            ],
            ..Default::default()
        };
        let html = crate::sections::page(&data, &[]).unwrap();
        assert!(html.contains("<span class=\"bad\">−1.18</span>"));
        assert!(
            html.contains("<span class=\"good\">−2</span>"),
            "fewer clusters is simpler"
        );
        assert!(html.contains("class=\"ft worse\""));
        assert!(html.contains("(not linear on &lt;test&gt;)"));
        assert!(html.contains("(256, 256)"));
        assert!(html.contains("<td class=\"num\">31.50</td><td class=\"num\">–</td></tr>"));
        assert!(html.contains("chosen on <b>dev</b> among the MLPs only"));
        assert!(html.contains("(256, 256) <span class=\"muted\">(1e-4)</span>"));
        assert!(
            html.contains("85.26 ± 0.25"),
            "the linear probe's own column"
        );
        assert!(html.contains("[undefined pairs: zero, 3]"));
        assert!(
            html.contains("<td class=\"num\">0.250</td>"),
            "min cluster-pair column"
        );
        assert!(html.contains("paper: BERT_small PS-fxn original"));
        assert!(html.contains("<td class=\"num\">86.26</td><td class=\"num\">0.54</td>"));
        assert_eq!(hidden_name(&[]), "linear");
    }
}
