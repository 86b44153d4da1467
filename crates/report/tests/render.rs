//! Renders a realistic synthetic study and checks the report's files, structure and escaping;
//! when headless Chromium is installed, loads the page from disk, screenshots it and inspects
//! the DOM.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::result::Result;
use std::time::{Duration, Instant};

use tunescope_report::results::{DistanceChange, SpatialSimilarity};
use tunescope_report::*;

const UPOS: [&str; 17] = [
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
    "PUNCT", "SCONJ", "SYM", "VERB", "X",
];
const EVIL: &str = "<script>alert(1)</script>";
const EVIL_ATTR: &str = "<img src=x onerror=\"document.body.dataset.pwned=1\">";

/// Deterministic pseudo-random numbers in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-12), self.next());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn labels() -> Vec<String> {
    let mut l: Vec<String> = UPOS.iter().map(|s| s.to_string()).collect();
    l.push(EVIL.into());
    l
}

fn band(values: &[f64], w: f64) -> Series {
    Series {
        values: values.to_vec(),
        ci: Some(Band {
            lower: values.iter().map(|v| v - w).collect(),
            upper: values.iter().map(|v| v + w).collect(),
        }),
    }
}

fn synthetic() -> ReportData {
    let mut rng = Lcg(7);
    let labels = labels();
    let n = labels.len();
    let layers: Vec<usize> = (0..7).collect();
    let acc_b: Vec<f64> = layers
        .iter()
        .map(|&l| 80.0 + 2.0 * l as f64 - 0.15 * (l * l) as f64)
        .collect();
    let acc_a: Vec<f64> = acc_b
        .iter()
        .zip(&layers)
        .map(|(a, &l)| a + 0.4 * l as f64)
        .collect();
    let mut dist_b = vec![vec![0.0; n]; n];
    let mut dist_a = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in (i + 1)..n {
            let d = 1.0 + 3.0 * rng.next();
            dist_b[i][j] = d;
            dist_b[j][i] = d;
            dist_a[i][j] = d * (1.2 + rng.next());
            dist_a[j][i] = dist_a[i][j];
        }
    }
    dist_b[0][1] = f64::INFINITY;
    dist_b[1][0] = f64::INFINITY;
    dist_a[2][3] = f64::NAN;
    dist_a[3][2] = f64::NAN;
    let centres: Vec<(f64, f64)> = (0..n)
        .map(|_| (rng.normal() * 4.0, rng.normal() * 4.0))
        .collect();
    let mut before = Vec::new();
    let mut after = Vec::new();
    for k in 0..1800 {
        let l = k % n;
        let (cx, cy) = centres[l];
        before.push(Point2 {
            x: cx * 0.5 + rng.normal() * 2.0,
            y: cy * 0.5 + rng.normal() * 2.0,
            label: l,
        });
        after.push(Point2 {
            x: cx * 1.5 + rng.normal() * 0.7,
            y: cy * 1.5 + rng.normal() * 0.7,
            label: l,
        });
    }
    let displacement: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            layers
                .iter()
                .map(|&l| 1.0 + 3.0 * l as f64 + (i % 4) as f64 + rng.next())
                .collect()
        })
        .collect();
    let difference_pca = [2usize, 4, 6]
        .iter()
        .map(|&layer| LayerPoints {
            layer,
            points: (0..n)
                .map(|i| Point2 {
                    x: rng.normal() * layer as f64,
                    y: rng.normal() * layer as f64,
                    label: i,
                })
                .collect(),
        })
        .collect();
    let updates: Vec<u64> = (0..10).map(|k| k * 25).collect();
    let curve = |name: &str, start: f64, slope: f64, rng: &mut Lcg| NamedCurve {
        name: name.into(),
        values: updates
            .iter()
            .map(|&u| start + slope * u as f64 / 25.0 + rng.normal() * 0.3)
            .collect(),
    };
    let dynamics = Dynamics {
        layer: 6,
        updates: updates.clone(),
        most_increased: vec![
            curve("CCONJ", 3.0, 1.2, &mut rng),
            curve("SYM", 2.5, 1.1, &mut rng),
            curve(EVIL, 3.5, 1.0, &mut rng),
        ],
        least_increased: vec![
            curve("PART", 1.2, 0.05, &mut rng),
            curve("NOUN", 1.3, 0.03, &mut rng),
            curve("ADJ", 1.1, 0.04, &mut rng),
        ],
        layer_similarity: [2usize, 4, 6]
            .iter()
            .map(|&l| NamedCurve {
                name: format!("layer {l}"),
                values: updates
                    .iter()
                    .map(|&u| 1.0 - (l as f64 / 6.0) * 0.4 * (u as f64 / 225.0))
                    .collect(),
            })
            .collect(),
        similarity_note: None,
        centroid_paths: [1usize, 6]
            .iter()
            .map(|&layer| CentroidPaths {
                layer,
                paths: ["ADJ", "VERB", "NOUN"]
                    .iter()
                    .enumerate()
                    .map(|(k, lab)| CentroidPath {
                        label: lab.to_string(),
                        points: (0..10)
                            .map(|t| {
                                let s = t as f64 * layer as f64 * 0.2;
                                [s * (k as f64 - 1.0), s * if k == 1 { 1.0 } else { -0.5 }]
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        measures: None,
    };
    let epochs: Vec<usize> = (1..=50).collect();
    let curve_to = |lo: f64, hi: f64| {
        epochs
            .iter()
            .map(|&e| hi - (hi - lo) * (-(e as f64) / 8.0).exp())
            .collect::<Vec<_>>()
    };
    let memorisation = Memorisation {
        subtest_unseen: 0,
        subtest_units: 0,
        epochs: epochs.clone(),
        before: MemoCurves {
            subtrain: curve_to(0.5, 1.0),
            subtest: curve_to(0.5, 0.745),
            test: curve_to(0.5, 0.72),
        },
        after: MemoCurves {
            subtrain: curve_to(0.6, 1.0),
            subtest: curve_to(0.6, 0.99),
            test: curve_to(0.6, 0.73),
        },
    };
    let cka = CkaLayers {
        rows: layers.clone(),
        cols: layers.clone(),
        values: layers
            .iter()
            .map(|&i| {
                layers
                    .iter()
                    .map(|&j| {
                        (1.0 - 0.12 * (i as f64 - j as f64).abs() - 0.03 * i.max(j) as f64).max(0.0)
                    })
                    .collect()
            })
            .collect(),
        n_rows: 200,
    };
    let row = |task: &str, v: Version, acc: f64, cl: usize, sim: Option<f64>| TableAEntry {
        model: "bert-tiny-synthetic".into(),
        task: task.into(),
        row: TableARow {
            version: v.key().into(),
            layer: 6,
            acc_mean: Some(acc),
            acc_std: Some(0.3),
            best_hidden: Some(vec![256, 64]),
            n_clusters: cl,
            linear: cl <= 18,
            train_rows_used: 1000,
            train_rows_total: 1000,
            train_test_similarity: SpatialSimilarity {
                pearson: sim,
                note: if sim.is_none() {
                    Some("not linear".into())
                } else {
                    None
                },
                ..Default::default()
            },
            selectivity: Some(12.5),
            mdl_compression: Some(3.25),
            ..Default::default()
        },
        paper: None,
    };
    let cross = |on: Option<&str>, change: Option<(usize, usize, f64)>, acc: f64| CrossTaskRow {
        finetuned_on: on.map(String::from),
        probing: "PS-fxn".into(),
        layer: 6,
        change: change.map(|(n_grew, n_shrank, mean)| DistanceChange {
            delta: Vec::new(),
            n_grew,
            n_shrank,
            n_unchanged: 0,
            n_undefined: 0,
            mean_change: Some(mean),
        }),
        acc: Some(acc),
        n_clusters: None,
    };
    ReportData {
        title: format!("Synthetic study {EVIL_ATTR}"),
        study: Some(StudyInfo {
            settings: vec![
                KeyValue {
                    key: "finetune.lr".into(),
                    value: "5e-5".into(),
                },
                KeyValue {
                    key: "probe.seeds".into(),
                    value: "5".into(),
                },
                KeyValue {
                    key: "label.filter".into(),
                    value: EVIL.into(),
                },
            ],
            hashes: vec![KeyValue {
                key: "data/train.jsonl".into(),
                value: "sha256:0f3c9a".into(),
            }],
            config_toml: Some(
                "[study]\nname = \"synthetic\"\nnote = \"</pre><b>not bold</b>\"\n".into(),
            ),
        }),
        table_a: vec![
            row("POS", Version::Original, 90.76, 3936, None),
            row("POS", Version::FineTuned, 91.67, 20, None),
            row("PS-fxn", Version::Original, 86.26, 18, Some(0.82)),
            row("PS-fxn", Version::FineTuned, 85.08, 18, Some(0.44)),
        ],
        cross_task: Some(vec![
            cross(None, None, 0.8775),
            cross(Some("PS-fxn"), Some((40, 0, 5.29)), 0.8958),
            cross(Some("POS"), Some((0, 40, -1.68)), 0.8324),
        ]),
        runs: vec![
            TaskModelReport {
                task: "POS".into(),
                model: "bert-tiny-synthetic".into(),
                layers: Some(LayerSeries {
                    layers: layers.clone(),
                    probe_accuracy: Some(BeforeAfter {
                        before: band(&acc_b, 0.6),
                        after: band(&acc_a, 0.4),
                    }),
                    clusters: Some(BeforeAfter {
                        before: Series {
                            values: vec![3936.0, 2500.0, 900.0, 300.0, 120.0, 60.0, 40.0],
                            ci: None,
                        },
                        after: Series {
                            values: vec![3900.0, 1800.0, 400.0, 90.0, 30.0, 20.0, 18.0],
                            ci: None,
                        },
                    }),
                    min_distance: Some(BeforeAfter {
                        before: Series {
                            values: vec![0.0, 0.0, 0.1, 0.2, f64::NAN, 0.3, 0.35],
                            ci: None,
                        },
                        after: Series {
                            values: vec![0.0, 0.05, 0.3, 0.8, 1.5, 2.2, 3.0],
                            ci: None,
                        },
                    }),
                    cka_pre_post: Some(band(&[1.0, 0.98, 0.95, 0.9, 0.82, 0.7, 0.6], 0.02)),
                    measures: Vec::new(),
                }),
                distances: Some(DistanceMatrices {
                    layer: 6,
                    labels: labels.clone(),
                    before: dist_b,
                    after: dist_a,
                }),
                pca: Some(PcaPoints {
                    layer: 6,
                    labels: labels.clone(),
                    before,
                    after,
                }),
                movement: Some(LayerMovement {
                    labels: labels.clone(),
                    layers: layers.clone(),
                    displacement,
                    difference_pca,
                }),
                dynamics: Some(dynamics),
                memorisation: Some(memorisation),
                cka_layers: Some(cka),
            },
            TaskModelReport {
                task: "PS-fxn".into(),
                model: "bert-tiny-synthetic".into(),
                ..Default::default()
            },
        ],
        arms: Some(arms()),
        measures: None,
    }
}

/// Two fine-tuning arms (one with a hostile name), one per-layer curve and one arm's weight
/// updates (an unchanged matrix's effective rank is NaN).
fn arms() -> Arms {
    let curve = |name: &str, v: &[f64]| NamedCurve {
        name: name.into(),
        values: v.to_vec(),
    };
    Arms {
        rows: vec![
            ArmRow {
                name: "main".into(),
                method: "full (lr 5e-05)".into(),
                trained_parameters: Some(4_400_000),
                seeds: 3,
                dev_accuracy: Some(0.97),
                dev_interval: Some((0.965, 0.975)),
                test_accuracy: Some(0.96),
                test_interval: Some((0.955, 0.9625)),
                seconds: Some(120.0),
                movement_spearman: Some(0.8),
                intruders: Some(0),
            },
            ArmRow {
                name: EVIL.into(),
                method: "lora (r = 8)".into(),
                trained_parameters: None,
                dev_accuracy: None,
                test_accuracy: Some(f64::NAN),
                seconds: None,
                movement_spearman: Some(-0.4),
                intruders: Some(3),
                ..Default::default()
            },
        ],
        layers: vec![0, 1, 2],
        curves: vec![ArmCurves {
            key: "probe-accuracy".into(),
            title: "Probe accuracy per layer, by fine-tuning method".into(),
            y_label: "accuracy (%)".into(),
            caption: "per arm".into(),
            lines: vec![
                curve("pre-trained", &[80.0, 85.0, 84.0]),
                curve("main", &[80.0, 90.0, 95.0]),
                curve(EVIL, &[80.0, f64::NAN, 93.0]),
            ],
        }],
        weight_layers: vec![1, 2],
        weights: vec![ArmWeights {
            arm: EVIL.into(),
            relative: vec![curve("Q", &[0.01, 0.02]), curve("K", &[0.0, 0.0])],
            effective_rank: vec![curve("Q", &[6.5, 7.0]), curve("K", &[f64::NAN, f64::NAN])],
            intruders: vec![curve("Q", &[1.0, 2.0]), curve("K", &[0.0, 0.0])],
        }],
    }
}

/// Minimal XML well-formedness check: tags balance, attributes are quoted, text has no raw `<`
/// and every `&` starts an entity. Returns the element names in document order.
fn check_xml(doc: &str, void: &[&str]) -> Result<Vec<String>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut names = Vec::new();
    let mut rest = doc;
    let text_ok = |t: &str| -> Result<(), String> {
        for (i, _) in t.match_indices('&') {
            let ent: String = t[i..].chars().take(10).collect();
            if !ent.contains(';') {
                return Err(format!("bare & in text: {ent:?}"));
            }
        }
        Ok(())
    };
    while let Some(lt) = rest.find('<') {
        text_ok(&rest[..lt])?;
        let after = &rest[lt..];
        if after.starts_with("<!--") {
            let end = after
                .find("-->")
                .ok_or_else(|| "unclosed comment".to_string())?;
            rest = &after[end + 3..];
            continue;
        }
        if after.starts_with("<!") {
            let end = after
                .find('>')
                .ok_or_else(|| "unclosed doctype".to_string())?;
            rest = &after[end + 1..];
            continue;
        }
        let end = after.find('>').ok_or_else(|| "unclosed tag".to_string())?;
        let tag = &after[1..end];
        if tag.contains('<') {
            return Err(format!("'<' inside tag: {tag:?}"));
        }
        if tag.matches('"').count() % 2 == 1 {
            return Err(format!("unbalanced quotes in tag: {tag:?}"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().ok_or_else(|| format!("stray </{name}>"))?;
            if open != name.trim() {
                return Err(format!("</{name}> closes <{open}>"));
            }
        } else {
            let name: String = tag
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            names.push(name.clone());
            if !tag.ends_with('/') && !void.contains(&name.as_str()) {
                stack.push(name.clone());
            }
            if name == "script" || name == "style" {
                let close = format!("</{name}>");
                let body_end = after
                    .find(&close)
                    .ok_or_else(|| "unclosed raw-text element".to_string())?;
                stack.pop();
                rest = &after[body_end + close.len()..];
                continue;
            }
        }
        rest = &after[end + 1..];
    }
    text_ok(rest)?;
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> never closed"));
    }
    Ok(names)
}

fn out_dir(tag: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{tag}"));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn synthetic_study_renders_every_figure_as_wellformed_svg_with_csv() {
    let data = synthetic();
    let dir = out_dir("synthetic");
    let summary = render(&data, &dir.join("report")).unwrap();
    let report = dir.join("report");
    // 1 Table A + 1 cross-task + 4 layer series + 3 distances + 2 PCA + 1 movement + 3 directions
    // + 2 dynamics + 2 centroid paths + 2 memorisation + 1 CKA + 1 arms curve + 3 arm weights.
    assert_eq!(summary.figure_count, 26);
    assert_eq!(summary.files.len(), 1 + 2 * 26);
    for f in &summary.files {
        assert!(f.starts_with(&report) && f.is_file(), "{}", f.display());
    }
    let mut svgs = 0;
    for entry in std::fs::read_dir(report.join("figures")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => {
                svgs += 1;
                let names =
                    check_xml(&text, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(names[0], "svg");
                assert!(names.iter().any(|n| n == "text"));
                assert!(
                    !text.contains("NaN") && !text.contains("inf\""),
                    "{}",
                    path.display()
                );
                assert!(!text.contains("<script"), "{}", path.display());
                let csv = path.with_extension("csv");
                assert!(csv.is_file(), "{} has data", path.display());
            }
            Some("csv") => {
                let header_cols = text.lines().next().unwrap().split(',').count();
                assert!(
                    header_cols >= 2 && text.lines().count() >= 2,
                    "{}",
                    path.display()
                );
            }
            other => panic!("unexpected file {other:?}"),
        }
    }
    assert_eq!(svgs, 26);

    let svg =
        |name: &str| std::fs::read_to_string(report.join(format!("figures/{name}.svg"))).unwrap();
    let movement = svg("pos-bert-tiny-synthetic-movement");
    assert_eq!(
        movement.matches("class=\"panel\"").count(),
        18,
        "one panel per label"
    );
    for l in UPOS {
        assert!(
            movement.contains(&format!("data-name=\"{l}\"")),
            "panel {l}"
        );
    }
    assert!(movement.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let heat = svg("pos-bert-tiny-synthetic-distances-original");
    assert!(heat.contains("ADJ × ADP: ∞"));
    assert_eq!(
        heat.matches("<rect").count() - heat.matches("<rect x=\"0\" y=\"0\"").count(),
        18 * 18 + 48 + 1
    );
    let acc = svg("pos-bert-tiny-synthetic-layers-probe-accuracy");
    assert_eq!(acc.matches("class=\"ci-band\"").count(), 2);
    assert!(acc.contains(">original<") && acc.contains(">fine-tuned<") && acc.contains(">layer<"));
    let csv = std::fs::read_to_string(
        report.join("figures/pos-bert-tiny-synthetic-distances-original.csv"),
    )
    .unwrap();
    assert!(csv.contains("ADJ,ADP,inf,"));
    assert_eq!(csv.lines().count(), 1 + 18 * 18);

    let html = std::fs::read_to_string(&summary.index).unwrap();
    check_xml(&html, &["meta", "br", "img", "input", "link"]).unwrap();
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the inert JSON block"
    );
    assert!(html.contains("<script type=\"application/json\" id=\"report-data\">"));
    assert!(
        !html.contains("src=") || !html.contains("<img"),
        "no external resources"
    );
    assert!(
        !html.contains("http://")
            || html.matches("http://").count()
                == html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(!html.contains("https://"));
    assert!(html.contains("&lt;img src=x onerror=&quot;document.body.dataset.pwned=1&quot;&gt;"));
    assert!(html.contains("&lt;/pre&gt;&lt;b&gt;not bold&lt;/b&gt;"));
    assert_eq!(html.matches("<figure").count(), 26);
    assert!(html.contains("Fine-tuning methods side by side"));
    assert!(html.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>lora (r = 8)</td>"));
    // Several seeds: the seed count, and the head accuracy's mean with its interval.
    assert!(
        html.contains("<td>main</td><td>full (lr 5e-05)</td><td class=\"num\">3</td>"),
        "seed count"
    );
    assert!(
        html.contains("96.00 [95.50, 96.25]"),
        "test accuracy interval"
    );
    assert_eq!(
        html.matches("class=\"not-computed\"").count(),
        7,
        "the empty PS-fxn run"
    );
    assert!(html.contains("class=\"ft worse group-start\"") || html.contains("class=\"ft worse\""));
    let start = html.find("id=\"report-data\">").unwrap() + "id=\"report-data\">".len();
    let end = html.rfind("</script>").unwrap();
    let back: ReportData = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(
        back.runs[0].distances.as_ref().unwrap().before[0][1],
        f64::INFINITY
    );
    assert_eq!(back.title, data.title);
    assert_eq!(back.runs[0].pca.as_ref().unwrap().before.len(), 1800);

    let json_path = dir.join("report-data.json");
    std::fs::write(&json_path, data.to_json_pretty().unwrap()).unwrap();
    let read = ReportData::from_json_file(&json_path).unwrap();
    // Table A and cross-task rows read back from the report's view of them: the same view.
    assert_eq!(
        read.to_json_pretty().unwrap(),
        data.to_json_pretty().unwrap()
    );
    assert_eq!(read.table_a[1].n_clusters(), Some(20));
    assert_eq!(read.cross_task.as_ref().unwrap()[1].n_inc(), Some(40));
    assert_eq!(read.runs[0].dynamics, data.runs[0].dynamics);
}

fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    p.is_file().then_some(p)
}

/// Runs Chromium headless on `index` with `extra` arguments; returns stdout.
fn run_chromium(bin: &Path, profile: &Path, index: &Path, extra: &[String]) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", index.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).ok();
        s
    });
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

#[test]
fn page_opens_from_disk_in_headless_chromium_without_running_scripts() {
    let Some(bin) = chromium() else {
        println!("SKIPPED: headless Chromium not found at /usr/bin/chromium (set CHROMIUM=<path>)");
        return;
    };
    let dir = out_dir("chromium");
    let summary = render(&synthetic(), &dir.join("report")).unwrap();
    let index = std::fs::canonicalize(&summary.index).unwrap();
    let png = dir.join("report.png");
    run_chromium(
        &bin,
        &dir.join("profile-shot"),
        &index,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,4000".into(),
        ],
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 50_000,
        "screenshot is not blank ({} bytes)",
        bytes.len()
    );
    println!("screenshot: {}", png.display());

    let dom = run_chromium(
        &bin,
        &dir.join("profile-dom"),
        &index,
        &["--dump-dom".into()],
    );
    assert!(
        dom.contains("<h1>"),
        "page parsed: {}",
        &dom[..dom.len().min(300)]
    );
    assert!(!dom.contains("data-pwned"), "an injected handler ran");
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "no injected script element"
    );
    assert!(
        dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "label present as text"
    );
    assert_eq!(dom.matches("<svg").count(), 26, "every figure inline");
}
