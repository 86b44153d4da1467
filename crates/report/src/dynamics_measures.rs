//! The dynamics section's figures of the measures beyond the paper over the fine-tuning
//! checkpoints (`docs/measures.md`): one figure per measure, one line per layer, each labelled
//! similarity, distance or descriptor, the indices against the pre-trained space with the
//! envelope of their permutation-null bands. The
//! data types ([`crate::model::DynamicsMeasures`]) are in the model.

use tunescope_data::csv::{opt_num, Csv};

use crate::figures::{Builder, Ctx, Place, RunPart};
use crate::model::{Dynamics, Series};
#[cfg(test)]
use crate::model::{DynamicsMeasure, DynamicsMeasureLayer, DynamicsMeasures};
use crate::svg::{self, LineChart, LineSeries};

fn at(v: &[Option<f64>], i: usize) -> Option<f64> {
    v.get(i).copied().flatten()
}

fn mean(s: &Series) -> Option<&Vec<f64>> {
    Some(&s.values)
}

fn lower(s: &Series) -> Option<&Vec<f64>> {
    s.ci.as_ref().map(|b| &b.lower)
}

fn upper(s: &Series) -> Option<&Vec<f64>> {
    s.ci.as_ref().map(|b| &b.upper)
}

/// Adds one figure per measure of `d.measures` to the dynamics section of run `ctx`.
pub(crate) fn figures(b: &mut Builder, ctx: &Ctx, d: &Dynamics) {
    let Some(m) = &d.measures else {
        return;
    };
    let place = Place::Run(ctx.i, RunPart::Dynamics);
    let xs: Vec<f64> = d.updates.iter().map(|&u| u as f64).collect();
    for meas in &m.measures {
        let reading = match meas.kind.as_str() {
            "similarity" => "a similarity to the pre-trained space: larger is more alike",
            "distance" => "a distance to the pre-trained space: smaller is more alike",
            _ => "a descriptor of each snapshot's space alone",
        };
        let mut chart = LineChart::new(
            &format!("{} — {} ({})", ctx.title, meas.name, meas.kind),
            "fine-tuning updates",
            &format!("{} ({})", meas.key.replace('_', " "), meas.kind),
        );
        chart.width = 720.0;
        // The envelope of every layer's null mean ± 2 sd at each snapshot.
        let band: Vec<(f64, f64, f64)> = xs
            .iter()
            .enumerate()
            .filter_map(|(i, &x)| {
                let (lo, hi) = meas
                    .layers
                    .iter()
                    .filter_map(|l| Some((at(&l.null_mean, i)?, at(&l.null_std, i)?)))
                    .fold(None, |acc: Option<(f64, f64)>, (mu, sd)| {
                        let (lo, hi) = (mu - 2.0 * sd, mu + 2.0 * sd);
                        Some(acc.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))))
                    })?;
                Some((x, lo, hi))
            })
            .collect();
        if !band.is_empty() {
            chart.series.push(LineSeries {
                name: "null mean ± 2 sd (all layers)".into(),
                points: band
                    .iter()
                    .map(|&(x, lo, hi)| (x, (lo + hi) / 2.0))
                    .collect(),
                band: band.clone(),
                color: svg::BEFORE_COLOR.into(),
                dashed: true,
                markers: false,
            });
        }
        let mut csv = Csv::new([
            "layer",
            "update",
            "kind",
            "value",
            "null_mean",
            "null_std",
            "p_value",
            "seeds_mean",
            "seeds_lower",
            "seeds_upper",
        ]);
        let mut with_seeds = false;
        for (k, l) in meas.layers.iter().enumerate() {
            let seed_at = |f: fn(&Series) -> Option<&Vec<f64>>, i: usize| {
                l.seeds
                    .as_ref()
                    .and_then(f)
                    .and_then(|v| v.get(i).copied())
                    .filter(|v| v.is_finite())
            };
            // With several fine-tuning seeds the line is their mean, shaded its interval.
            with_seeds |= l.seeds.is_some();
            let points: Vec<(f64, f64)> = xs
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    let y = match l.seeds {
                        Some(_) => seed_at(mean, i),
                        None => at(&l.values, i),
                    };
                    (x, y.unwrap_or(f64::NAN))
                })
                .collect();
            let band: Vec<(f64, f64, f64)> = xs
                .iter()
                .enumerate()
                .filter_map(|(i, &x)| Some((x, seed_at(lower, i)?, seed_at(upper, i)?)))
                .collect();
            chart.series.push(LineSeries {
                name: format!("layer {}", l.layer),
                points,
                band,
                color: svg::color(k + 1).into(),
                dashed: false,
                markers: xs.len() <= 30,
            });
            for (i, u) in d.updates.iter().enumerate() {
                csv.row([
                    l.layer.to_string(),
                    u.to_string(),
                    meas.kind.clone(),
                    opt_num(at(&l.values, i)),
                    opt_num(at(&l.null_mean, i)),
                    opt_num(at(&l.null_std, i)),
                    opt_num(at(&l.p_value, i)),
                    opt_num(seed_at(mean, i)),
                    opt_num(seed_at(lower, i)),
                    opt_num(seed_at(upper, i)),
                ]);
            }
        }
        let null = if band.is_empty() {
            String::new()
        } else {
            format!(
                " Dashed with band: the lowest and highest null mean ± 2 sd over the layers, the \
                 same index with the snapshot's rows permuted ({} permutations), i.e. its value \
                 for unrelated spaces of these shapes; per-layer nulls and p-values (at least \
                 1/{}) are in the CSV.",
                meas.permutations,
                meas.permutations + 1
            )
        };
        let seeds = if with_seeds {
            format!(
                " Over {} fine-tuning seeds: each layer's line is the mean over the seeds, shaded \
                 its 95 % bootstrap interval (the CSV's value and null columns are the first \
                 seed's run).",
                m.seeds
            )
        } else {
            String::new()
        };
        b.push(
            format!(
                "{}-dynamics-measure-{}",
                ctx.prefix,
                meas.key.replace('_', "-")
            ),
            place,
            &format!(
                "{} ({reading}) at every fine-tuning snapshot, on the same {} {} units at every \
                 layer and snapshot. {}{null}{seeds}",
                meas.name, m.units, m.split, meas.about
            ),
            chart.render(),
            csv,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ReportData, TaskModelReport};

    /// The report's figures for one run whose dynamics at updates 0 and 10 hold `measures`
    /// (on 40 train units, 20 permutations, over `seeds` fine-tuning seeds).
    fn figures_of(seeds: usize, measures: Vec<DynamicsMeasure>) -> Vec<crate::figures::Figure> {
        let data = ReportData {
            runs: vec![TaskModelReport {
                task: "pos".into(),
                model: "m".into(),
                dynamics: Some(Dynamics {
                    updates: vec![0, 10],
                    measures: Some(DynamicsMeasures {
                        split: "train".into(),
                        units: 40,
                        permutations: 20,
                        seeds,
                        measures,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        crate::sections::build(&data)
    }

    #[test]
    fn with_seeds_each_line_is_their_mean_with_its_interval() {
        let layer = DynamicsMeasureLayer {
            layer: 3,
            values: vec![Some(1.0), Some(0.4)],
            null_mean: vec![Some(0.0); 2],
            null_std: vec![Some(0.01); 2],
            p_value: vec![Some(0.01); 2],
            seeds: Some(Series {
                values: vec![1.0, 0.5],
                ci: Some(crate::model::Band {
                    lower: vec![1.0, 0.25],
                    upper: vec![1.0, 0.75],
                }),
            }),
        };
        let figs = figures_of(
            3,
            vec![DynamicsMeasure {
                key: "rsa".into(),
                name: "RSA".into(),
                kind: "similarity".into(),
                about: "about".into(),
                permutations: 20,
                layers: vec![layer],
            }],
        );
        let rsa = figs
            .iter()
            .find(|f| f.name == "pos-m-dynamics-measure-rsa")
            .expect("the RSA figure");
        assert!(
            rsa.caption.contains("Over 3 fine-tuning seeds"),
            "{}",
            rsa.caption
        );
        assert!(
            rsa.csv
                .contains("\n3,10,similarity,0.4,0,0.01,0.01,0.5,0.25,0.75\n"),
            "{}",
            rsa.csv
        );
    }

    #[test]
    fn one_figure_per_measure_with_its_kind_csv_and_null_band() {
        let layer = |l: usize, null: bool| DynamicsMeasureLayer {
            layer: l,
            values: vec![Some(1.0), Some(0.5)],
            null_mean: if null { vec![Some(0.0); 2] } else { vec![] },
            null_std: if null { vec![Some(0.01); 2] } else { vec![] },
            p_value: if null { vec![Some(0.01); 2] } else { vec![] },
            seeds: None,
        };
        let measure = |key: &str, kind: &str, null: bool| DynamicsMeasure {
            key: key.into(),
            name: key.into(),
            kind: kind.into(),
            about: "about".into(),
            permutations: if null { 20 } else { 0 },
            layers: vec![layer(1, null), layer(2, null)],
        };
        let figs = figures_of(
            0,
            vec![
                measure("debiased_cka", "similarity", true),
                measure("procrustes_angular", "distance", true),
                measure("nc1", "descriptor", false),
            ],
        );
        let cka = figs
            .iter()
            .find(|f| f.name == "pos-m-dynamics-measure-debiased-cka")
            .expect("the CKA figure");
        assert!(cka
            .caption
            .contains("a similarity to the pre-trained space"));
        assert!(cka.caption.contains("20 permutations"));
        assert!(cka.svg.contains("null mean ± 2 sd"));
        assert!(cka.csv.starts_with(
            "layer,update,kind,value,null_mean,null_std,p_value,seeds_mean,seeds_lower,seeds_upper\n"
        ));
        assert!(
            cka.csv.contains("\n2,10,similarity,0.5,0,0.01,0.01,,,\n"),
            "{}",
            cka.csv
        );
        let procrustes = figs
            .iter()
            .find(|f| f.name == "pos-m-dynamics-measure-procrustes-angular")
            .expect("the Procrustes figure");
        assert!(procrustes
            .caption
            .contains("a distance to the pre-trained space: smaller is more alike"));
        assert!(procrustes.svg.contains("null mean ± 2 sd"));
        assert!(procrustes
            .csv
            .contains("\n1,10,distance,0.5,0,0.01,0.01,,,\n"));
        assert!(!procrustes.caption.contains("fine-tuning seeds"));
        let nc1 = figs
            .iter()
            .find(|f| f.name == "pos-m-dynamics-measure-nc1")
            .expect("the NC1 figure");
        assert!(nc1.caption.contains("a descriptor"));
        assert!(!nc1.svg.contains("null mean"));
        assert!(
            nc1.csv.contains("\n1,0,descriptor,1,,,,,,\n"),
            "{}",
            nc1.csv
        );
    }
}
