//! `tunescope study CONFIG`: the whole study — data, fine-tuning, extraction, probes,
//! DirectProbe, comparisons, experiments and the report — skipping every stage that is up to
//! date. Ctrl-C stops it (fine-tuning at its next update with its state saved, other stages
//! when they finish); the same command resumes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;

use crate::config::Config;
use crate::study;

/// Run every configured stage in order, resuming where an earlier run stopped.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Study config (TOML), e.g. examples/brown-pos.toml.
    pub config: PathBuf,
    /// Override a config value: `section.key=value` (repeatable), e.g. `study.out=runs/x`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the plan (stages to run or skip, and why) and exit without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress display (stage lines and the summary are still printed).
    #[arg(long)]
    pub quiet: bool,
    /// libtorch intra-op threads (default: libtorch's choice, one per core).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs `tunescope study`.
pub fn run(args: Args) -> Result<()> {
    let config = Config::load(&args.config, &args.set)?;
    if args.dry_run {
        let plan = study::dry_plan(&config)?;
        print!(
            "plan for study `{}` in {}\n{}",
            config.study.name,
            config.study.out.display(),
            study::format_plan(&plan)
        );
        return Ok(());
    }
    tunescope_model::encoder::set_threads(args.threads)?;
    let stop = crate::signals::stop_flag()?;
    let outcome = match study::run(&config, args.quiet, stop) {
        Ok(o) => o,
        Err(e)
            if e.chain().any(|c| {
                c.is::<study::Interrupted>() || c.is::<tunescope_model::finetune::Interrupted>()
            }) =>
        {
            eprintln!("{e:#}");
            std::process::exit(crate::signals::EXIT_INTERRUPTED);
        }
        Err(e) => return Err(e),
    };
    print!("{}", summary(&config, &outcome)?);
    Ok(())
}

/// The closing summary: per-stage timings, Table A and where the report is.
fn summary(config: &Config, outcome: &study::Outcome) -> Result<String> {
    let mut s = String::new();
    let m = &outcome.manifest;
    let _ = writeln!(
        s,
        "study `{}`: {} stage(s) run, {} skipped as unchanged",
        config.study.name,
        outcome.ran.len(),
        outcome.skipped.len()
    );
    // Seconds per stage type (recorded times, including stages skipped in this run).
    let mut by_type: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (id, rec) in &m.stages {
        let t = match id.split('/').next().unwrap_or(id) {
            t if t.starts_with("seed-") => "seed-*",
            t => t,
        };
        if !order.contains(&t) {
            order.push(t);
        }
        let e = by_type.entry(t).or_default();
        e.0 += 1;
        e.1 += rec.seconds;
    }
    order.sort_by_key(|t| study::plan::stage_rank(t));
    let _ = writeln!(s, "time per stage (as recorded in manifest.json):");
    let mut total = 0.0;
    for t in order {
        let (n, secs) = by_type[t];
        total += secs;
        let _ = writeln!(s, "  {t:12} {n:3} × {:>9}", fmt_secs(secs));
    }
    let _ = writeln!(s, "  {:12}       {:>9}", "total", fmt_secs(total));
    let rows = study::table_a(config)?;
    if !rows.is_empty() {
        let selected = rows
            .iter()
            .find_map(|r| r.row.probe_selected_on.clone())
            .unwrap_or_else(|| "dev".into());
        let mode = rows.first().map_or("zero", |r| {
            r.row.train_test_similarity.undefined_pairs.as_str()
        });
        let _ = writeln!(
            s,
            "Table A (test accuracy of the best MLP probe and of the best linear probe, both chosen \
             on {selected}; DirectProbe clusters; similarity with undefined label pairs = {mode}):"
        );
        // The study's rows are "original" / "fine-tuned"; an arm's fine-tuned rows carry its name.
        let label =
            |r: &tunescope_report::TableAEntry| match tunescope_compare::arms::arm_of(&r.model) {
                Some(arm) => format!("{} · {arm}", r.version().as_str()),
                None => r.version().as_str().to_string(),
            };
        let w = rows
            .iter()
            .map(|r| label(r).chars().count())
            .max()
            .unwrap_or(0)
            .max(10);
        let _ = writeln!(
            s,
            "  {:w$} {:>5}  {:>14}  {:>10}  {:>14}  {:>8}  {:>6}  {:>10}  {:>9}",
            "model",
            "layer",
            "acc % (±std)",
            "best MLP",
            "linear acc %",
            "clusters",
            "linear",
            "similarity",
            "undefined"
        );
        for r in rows {
            let pm = |m: Option<f64>, sd: Option<f64>| match (m, sd) {
                (Some(m), Some(sd)) => format!("{m:.2} ± {sd:.2}"),
                _ => "–".into(),
            };
            let _ = writeln!(
                s,
                "  {:w$} {:>5}  {:>14}  {:>10}  {:>14}  {:>8}  {:>6}  {:>10}  {:>9}",
                label(&r),
                r.row.layer,
                pm(r.row.acc_mean, r.row.acc_std),
                tunescope_model::probe::shape_name(
                    r.row.best_hidden.as_deref().unwrap_or_default()
                ),
                pm(r.row.linear_acc_mean, r.row.linear_acc_std),
                if r.degenerate() {
                    "degen.".into()
                } else {
                    r.n_clusters().map_or("–".into(), |n| n.to_string())
                },
                r.is_linear().map_or("–", |l| if l { "yes" } else { "no" }),
                r.row
                    .train_test_similarity
                    .pearson
                    .map_or("–".into(), |v| format!("{v:.3}")),
                r.row.train_test_similarity.pairs_undefined.to_string(),
            );
            if let Some(p) = &r.paper {
                let _ = writeln!(
                    s,
                    "  {:w$} {:>5}  {:>14}  {:>10}  {:>14}  {:>8}  {:>6}  {:>10}",
                    "  paper",
                    "",
                    format!("{:.2} ± {:.2}", p.acc, p.std),
                    tunescope_model::probe::shape_name(&p.hidden),
                    "",
                    p.clusters,
                    if p.linear { "yes" } else { "no" },
                    p.similarity.map_or("–".into(), |v| format!("{v:.2}")),
                );
            }
        }
    }
    let report = config.run_dir().report_index();
    if report.is_file() {
        let _ = writeln!(s, "report: {}", report.display());
    }
    let _ = writeln!(s, "manifest: {}", config.run_dir().manifest().display());
    Ok(s)
}

fn fmt_secs(secs: f64) -> String {
    if secs >= 60.0 {
        format!("{}m{:04.1}s", (secs / 60.0).floor(), secs % 60.0)
    } else {
        format!("{secs:.1}s")
    }
}
