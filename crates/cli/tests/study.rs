//! `tunescope study` end to end on a small synthetic tagging task with the tiny random BERT:
//! a full run, a re-run that skips everything, a probe-setting change that re-runs only what
//! reads the probes, resuming after an interruption, the dry-run plan and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tunescope-study-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A deterministic toy POS task over words of the tiny model's vocabulary.
fn write_task(dir: &Path) {
    let lex: [(&str, &[&str]); 5] = [
        ("DET", &["the", "a", "an"]),
        ("ADJ", &["quick", "brown", "lazy"]),
        ("NOUN", &["fox", "dog", "dogs", "cat", "mat"]),
        ("VERB", &["jump", "jumps", "sat", "run", "was"]),
        ("ADP", &["over", "on"]),
    ];
    let patterns: [&[usize]; 3] = [
        &[0, 1, 2, 3, 4, 0, 2],
        &[0, 2, 3],
        &[0, 1, 1, 2, 3, 4, 0, 2],
    ];
    let mut state = 7u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % n as u64) as usize
    };
    for (name, n) in [("train", 60), ("dev", 20), ("test", 20)] {
        let mut text = String::new();
        for _ in 0..n {
            let pattern = patterns[next(patterns.len())];
            let (mut words, mut tags) = (Vec::new(), Vec::new());
            for &p in pattern {
                let (tag, ws) = lex[p];
                words.push(format!("\"{}\"", ws[next(ws.len())]));
                tags.push(format!("\"{tag}\""));
            }
            text.push_str(&format!(
                "{{\"tokens\": [{}], \"tags\": [{}]}}\n",
                words.join(", "),
                tags.join(", ")
            ));
        }
        std::fs::write(dir.join(format!("{name}.jsonl")), text).unwrap();
    }
}

fn write_config(dir: &Path) -> PathBuf {
    write_task(dir);
    let model = root().join("crates/model/tests/fixtures/tiny-bert/model");
    let text = format!(
        r#"[study]
name = "tiny"
out = "{out}"

[data]
format = "jsonl"
task = "tagging"
train = "{d}/train.jsonl"
dev = "{d}/dev.jsonl"
test = "{d}/test.jsonl"

[model]
path = "{model}"
layers = [1, 3]
max_subwords = 20
batch_size = 16

[finetune]
epochs = 1
batch_size = 8

[probe]
grid = [8]
seeds = 2
epochs = 5

[directprobe]
min_cluster_size = 1

[compare]
rsa_sample = 20
"#,
        out = dir.join("run").display(),
        d = dir.display(),
        model = model.display()
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn study(config: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunescope"))
        .arg("study")
        .arg(config)
        .args(["--threads", "1", "--quiet"])
        .args(extra)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("run/manifest.json")).unwrap()).unwrap()
}

/// Stage ids the study's stderr says it ran (`done  <id> (…)`).
fn ran(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("done  "))
        .map(|l| l.split(" (").next().unwrap().to_string())
        .collect()
}

/// Asserts that every stage in `ids` ran and that the pre-trained representations were
/// extracted once (shared by every fine-tuning branch).
fn assert_ran_sharing_pretrained(all: &[String], ids: &[&str]) {
    for id in ids {
        assert!(all.contains(&id.to_string()), "{id} not run: {all:?}");
    }
    assert_eq!(
        all.iter()
            .filter(|i| i.contains("extract/pretrained"))
            .count(),
        1,
        "the pre-trained stages are shared: {all:?}"
    );
}

fn keys(m: &Value) -> Vec<(String, String)> {
    m["stages"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["key"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn study_runs_skips_and_reruns_only_what_changed() {
    let dir = scratch("e2e");
    let cfg = write_config(&dir);

    // The plan before anything ran.
    let plan = ok(&study(&cfg, &["--dry-run"]));
    assert!(plan.contains("run   data "), "{plan}");
    assert!(plan.contains("never run"), "{plan}");
    assert!(plan.contains("probe/finetuned/layer-3"), "{plan}");
    assert!(
        !dir.join("run/manifest.json").exists(),
        "a dry run writes nothing"
    );

    // Full run.
    let first = study(&cfg, &[]);
    let out = ok(&first);
    let all = ran(&first);
    let expected = [
        "data",
        "finetune",
        "extract/pretrained",
        "extract/finetuned",
        "probe/pretrained/layer-1",
        "directprobe/pretrained/train/layer-1",
        "directprobe/finetuned/test/layer-3",
        "compare",
        "memorisation",
        "report",
    ];
    for id in expected {
        assert!(all.contains(&id.to_string()), "{id} not run: {all:?}");
    }
    // data, finetune, 2 extractions; probe, MDL and DirectProbe on train and test per encoder
    // and layer; similarity per layer; compare, weights, examples, memorisation, report.
    assert_eq!(all.len(), 2 + 2 + 2 * 2 * 4 + 2 + 5, "{all:?}");
    for f in [
        "similarity/layer-3.json",
        "mdl/finetuned/layer-1.json",
        "compare/examples.csv",
        "compare/examples.json",
    ] {
        assert!(dir.join("run").join(f).is_file(), "{f}");
    }
    assert!(out.contains("Table A"), "{out}");
    assert!(out.contains("report: "), "{out}");
    assert!(dir.join("run/report/index.html").is_file());
    let m1 = manifest(&dir);
    assert!(m1["stages"]
        .as_object()
        .unwrap()
        .values()
        .all(|s| s["status"] == "done"));
    assert_eq!(m1["seeds"]["probe"], serde_json::json!([0, 1]));
    let table1 = std::fs::read_to_string(dir.join("run/compare/table_a.csv")).unwrap();

    // Unchanged: nothing runs, the manifest keeps the same keys.
    let second = study(&cfg, &[]);
    let out = ok(&second);
    assert!(ran(&second).is_empty(), "{:?}", ran(&second));
    assert!(out.contains("0 stage(s) run"), "{out}");
    assert_eq!(keys(&manifest(&dir)), keys(&m1));

    // The DirectProbe row cap is keyed: every DirectProbe stage would re-run.
    let plan = ok(&study(
        &cfg,
        &["--dry-run", "--set", "directprobe.max_units=5"],
    ));
    let dp: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains(" directprobe/"))
        .collect();
    assert_eq!(dp.len(), 2 * 2 * 2, "{plan}");
    assert!(
        dp.iter()
            .all(|l| l.starts_with("run   ") && l.contains("settings.directprobe.max_units")),
        "{plan}"
    );
    assert!(plan.contains("skip  extract/finetuned"), "{plan}");

    // A probe setting: the dry run says what re-runs and why; only probes, compare (with the
    // per-example view, which writes into compare/, and the weight-space view, which reads the
    // layer movement from compare), memorisation and report run; the linear MDL probe keeps its
    // one seed.
    let set = ["--set", "probe.seeds=3"];
    let plan = ok(&study(&cfg, &[&set[..], &["--dry-run"]].concat()));
    assert!(
        plan.contains("run   probe/pretrained/layer-1") && plan.contains("probe.seeds"),
        "{plan}"
    );
    assert!(plan.contains("skip  extract/finetuned"), "{plan}");
    assert!(plan.contains("skip  finetune"), "{plan}");
    let third = study(&cfg, &set);
    ok(&third);
    let mut rerun = ran(&third);
    rerun.sort();
    assert_eq!(
        rerun,
        [
            "compare",
            "examples",
            "memorisation",
            "probe/finetuned/layer-1",
            "probe/finetuned/layer-3",
            "probe/pretrained/layer-1",
            "probe/pretrained/layer-3",
            "report",
            "weights"
        ]
    );
    let m3 = manifest(&dir);
    assert_eq!(m3["seeds"]["probe"], serde_json::json!([0, 1, 2]));
    for id in [
        "data",
        "finetune",
        "extract/finetuned",
        "directprobe/pretrained/test/layer-1",
    ] {
        assert_eq!(m3["stages"][id]["key"], m1["stages"][id]["key"], "{id}");
    }

    // Back to the first settings after an interruption: a stage left running and a missing
    // output are redone, then the results equal the first run's.
    let probe = dir.join("run/probe/finetuned/layer-3.json");
    let mut m = manifest(&dir);
    m["stages"]["directprobe/finetuned/train/layer-3"]["status"] = "running".into();
    std::fs::write(dir.join("run/manifest.json"), m.to_string()).unwrap();
    std::fs::remove_dir_all(dir.join("run/directprobe/finetuned/train/layer-3")).unwrap();
    let plan = ok(&study(&cfg, &["--dry-run", "--set", "probe.seeds=3"]));
    assert!(
        plan.lines().any(
            |l| l.starts_with("run   directprobe/finetuned/train/layer-3 ")
                && l.ends_with("interrupted before it finished: resuming")
        ),
        "{plan}"
    );
    let fourth = study(&cfg, &[]);
    ok(&fourth);
    assert!(probe.is_file());
    assert!(ran(&fourth).contains(&"directprobe/finetuned/train/layer-3".to_string()));
    assert_eq!(
        std::fs::read_to_string(dir.join("run/compare/table_a.csv")).unwrap(),
        table1,
        "same results after resuming"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_fails_cleanly_without_output() {
    let dir = scratch("bad");
    let cfg = write_config(&dir);
    std::fs::remove_file(dir.join("dev.jsonl")).unwrap();
    let o = study(&cfg, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("dev.jsonl"), "{err}");
    assert!(!dir.join("run").exists(), "no run directory on bad input");

    let o = study(&cfg, &["--set", "probe.sedes=3"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown field `sedes`"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shared_cache_reuses_the_pretrained_stages_across_seeds() {
    let dir = scratch("cache");
    let cfg = write_config(&dir);
    let cache = format!("study.cache={}", dir.join("cache").display());
    let first = study(&cfg, &["--set", &cache]);
    ok(&first);
    assert!(ran(&first).contains(&"extract/pretrained".to_string()));
    let out2 = format!("study.out={}", dir.join("run2").display());
    let second = study(
        &cfg,
        &["--set", &cache, "--set", &out2, "--set", "finetune.seed=7"],
    );
    ok(&second);
    let stderr = String::from_utf8_lossy(&second.stderr);
    let cached: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("cache "))
        .map(|l| l.split(" (").next().unwrap())
        .collect();
    assert_eq!(
        cached,
        [
            "data",
            "extract/pretrained",
            "probe/pretrained/layer-1",
            "mdl/pretrained/layer-1",
            "directprobe/pretrained/train/layer-1",
            "directprobe/pretrained/test/layer-1",
            "probe/pretrained/layer-3",
            "mdl/pretrained/layer-3",
            "directprobe/pretrained/train/layer-3",
            "directprobe/pretrained/test/layer-3",
        ],
        "{stderr}"
    );
    let ran2 = ran(&second);
    assert!(
        ran2.contains(&"finetune".to_string()) && ran2.contains(&"extract/finetuned".to_string())
    );
    for f in [
        "reps/pretrained/train/layer-3.npy",
        "probe/pretrained/layer-1.json",
    ] {
        assert_eq!(
            std::fs::read(dir.join("run").join(f)).unwrap(),
            std::fs::read(dir.join("run2").join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(dir.join("run2/report/index.html").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A sentence-classification task over the same words (label = sentence length bucket), for the
/// cross-task experiment.
fn write_sentence_task(dir: &Path) {
    for name in ["train", "dev", "test"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.jsonl"))).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let words: Vec<&str> = v["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            let label = if words.len() > 5 { "long" } else { "short" };
            out.push_str(&serde_json::json!({"text": words.join(" "), "label": label}).to_string());
            out.push('\n');
        }
        std::fs::write(dir.join(format!("sent-{name}.jsonl")), out).unwrap();
    }
}

#[test]
fn memorisation_is_refused_before_any_work_when_fine_tuning_misses_training_units() {
    let dir = scratch("memo-premise");
    let cfg = write_config(&dir);
    for set in ["finetune.train_subset=10", "finetune.freeze_encoder=true"] {
        let o = study(&cfg, &["--set", set]);
        assert!(!o.status.success(), "{set}: the study ran");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("[memorisation] needs fine-tuning to see every training unit")
                && err.contains(set.split('=').next().unwrap()),
            "{set}: {err}"
        );
        assert!(!dir.join("run").exists(), "{set}: work was done");
    }
    let o = study(
        &cfg,
        &[
            "--set",
            "finetune.train_subset=10",
            "--set",
            "memorisation.enabled=false",
            "--dry-run",
        ],
    );
    ok(&o);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn experiments_write_dynamics_memorisation_and_cross_task() {
    let dir = scratch("experiments");
    let cfg = write_config(&dir);
    write_sentence_task(&dir);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace("[finetune]\n", "[finetune]\ncheckpoint_every = 3\n");
    // 8 sub-words: fine-tuning cuts the last words of the longest sentences, so some subtest
    // units were never seen by it (the memorisation figure must say so).
    text = text.replace("max_subwords = 20", "max_subwords = 8");
    text.push_str(&format!(
        "\n[memorisation]\nepochs = 4\n\n[[cross_task]]\nname = \"length\"\n[cross_task.data]\n\
         format = \"jsonl\"\ntask = \"classification\"\ntrain = \"{d}/sent-train.jsonl\"\n\
         dev = \"{d}/sent-dev.jsonl\"\ntest = \"{d}/sent-test.jsonl\"\n",
        d = dir.display()
    ));
    std::fs::write(&cfg, text).unwrap();

    let plan = ok(&study(&cfg, &["--dry-run"]));
    assert!(plan.contains("later dynamics"), "{plan}");
    assert!(plan.contains("run   cross/length/finetune"), "{plan}");

    let first = study(&cfg, &[]);
    ok(&first);
    let all = ran(&first);
    for id in [
        "extract/ckpt-3",
        "extract/ckpt-6",
        "dynamics",
        "memorisation",
        "cross/length/data",
        "cross/length/finetune",
        "cross/length",
    ] {
        assert!(all.contains(&id.to_string()), "{id} not run: {all:?}");
    }
    let run = dir.join("run");
    // Checkpoints are extracted on the train split only.
    assert!(run.join("reps/ckpt-3/train/layer-3.npy").is_file());
    assert!(!run.join("reps/ckpt-3/test").exists());

    let dynamics: Value = serde_json::from_slice(
        &std::fs::read(run.join("experiments/dynamics/dynamics.json")).unwrap(),
    )
    .unwrap();
    let updates: Vec<u64> = dynamics["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["update"].as_u64().unwrap())
        .collect();
    assert_eq!(&updates[..3], [0, 3, 6], "{updates:?}");
    let layers = dynamics["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for l in layers {
        // Snapshot 0 is the pre-trained space itself.
        assert_eq!(l["pearson"][0], 1.0);
        assert_eq!(l["min_distance"].as_array().unwrap().len(), updates.len());
        assert_eq!(l["paths"].as_array().unwrap().len(), 3);
    }
    assert_eq!(dynamics["most_increased"].as_array().unwrap().len(), 3);
    let csv = std::fs::read_to_string(run.join("experiments/dynamics/min_distance.csv")).unwrap();
    assert!(
        csv.starts_with("layer,update,label,min_distance\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + 2 * updates.len() * 5);
    dynamics_measures_match_the_standalone_commands(&run, &dynamics, &dir);

    let memo: Value = serde_json::from_slice(
        &std::fs::read(run.join("experiments/memorisation/memorisation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(memo["sentences"], serde_json::json!([48, 12]));
    assert_eq!(memo["before"]["subtest"].as_array().unwrap().len(), 4);
    assert!(memo["gap_after"].is_number(), "{memo}");
    let unseen = memo["subtest_unseen_by_finetuning"].as_u64().unwrap();
    assert!(
        unseen > 0,
        "max_subwords = 8 cuts some subtest units: {memo}"
    );
    assert!(unseen < memo["units"][1].as_u64().unwrap(), "{memo}");
    for l in layers {
        assert_eq!(l["linear_at"].as_array().unwrap().len(), updates.len());
        assert_eq!(
            l["pairs_undefined"].as_array().unwrap().len(),
            updates.len()
        );
    }
    assert_eq!(dynamics["undefined_pairs"], "zero");

    // The per-example view: every test unit at both layers, and the memorisation split.
    let units = |split: &str| {
        std::fs::read_to_string(run.join(format!("reps/pretrained/{split}/labels.txt")))
            .unwrap()
            .lines()
            .count()
    };
    let (n_train, n_test) = (units("train"), units("test"));
    let csv = std::fs::read_to_string(run.join("compare/examples.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("layer,split,unit,sentence,word,gold,before,after,change")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2 * n_test + n_train + n_test, "{csv}");
    let lexicon = |w: &str| match w {
        "the" | "a" | "an" => "DET",
        "quick" | "brown" | "lazy" => "ADJ",
        "fox" | "dog" | "dogs" | "cat" | "mat" => "NOUN",
        "over" | "on" => "ADP",
        _ => "VERB",
    };
    for r in &rows {
        // Each unit's word is the word of its sentence that carries its gold label.
        assert_eq!(r.len(), 9, "{r:?}");
        assert_eq!(lexicon(r[4]), r[5], "{r:?}");
        assert!(r[3].split(' ').any(|w| w == r[4]), "{r:?}");
        let right = |p: &str| p == r[5];
        let change = match (right(r[6]), right(r[7])) {
            (true, true) => "stayed_right",
            (false, false) => "stayed_wrong",
            (true, false) => "right_to_wrong",
            (false, true) => "wrong_to_right",
        };
        assert_eq!(r[8], change, "{r:?}");
    }
    let split_rows = |s: &str| rows.iter().filter(|r| r[1] == s).count();
    assert_eq!(split_rows("test"), 2 * n_test);
    assert_eq!(split_rows("subtrain") + split_rows("subtest"), n_train);
    assert_eq!(split_rows("memorisation-test"), n_test);
    let ex: Value =
        serde_json::from_slice(&std::fs::read(run.join("compare/examples.json")).unwrap()).unwrap();
    assert_eq!(ex["groups"][0]["name"], "test");
    assert_eq!(ex["groups"][1]["name"], "memorisation");
    for c in ex["groups"][0]["counts"].as_array().unwrap() {
        let total: u64 = [
            "stayed_right",
            "stayed_wrong",
            "right_to_wrong",
            "wrong_to_right",
        ]
        .iter()
        .map(|k| c[*k].as_u64().unwrap())
        .sum();
        assert_eq!(total as usize, n_test, "{c}");
    }
    // Calibrated similarity: each score labelled, with its null.
    let sim: Value =
        serde_json::from_slice(&std::fs::read(run.join("similarity/layer-3.json")).unwrap())
            .unwrap();
    assert_eq!(sim["scores"]["debiased_cka"]["kind"], "similarity");
    assert_eq!(sim["scores"]["procrustes_angular"]["kind"], "distance");
    assert_eq!(sim["permutations"], 100);
    assert!(sim["scores"]["mutual_knn"]["p_value"].as_f64().unwrap() >= 1.0 / 101.0);
    // Table A: MDL compression of the linear probe; no selectivity without the control task.
    let table_a = std::fs::read_to_string(run.join("compare/table_a.csv")).unwrap();
    assert!(table_a
        .lines()
        .next()
        .unwrap()
        .ends_with(",selectivity,mdl_compression"));
    for line in table_a.lines().skip(1) {
        // The last two columns (earlier ones may hold quoted commas).
        let f: Vec<&str> = line.rsplitn(3, ',').collect();
        assert_eq!(f[1], "", "{line}");
        assert!(f[0].parse::<f64>().unwrap() > 0.0, "{line}");
    }

    let table: Value =
        serde_json::from_slice(&std::fs::read(run.join("cross/length/result/table.json")).unwrap())
            .unwrap();
    let rows: Vec<(Value, String)> = table
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["finetuned_on"].clone(),
                r["probing"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(rows.len(), 6, "{rows:?}");
    for (on, probing) in [
        (Value::Null, "classification"),
        ("tagging".into(), "classification"),
        ("classification".into(), "classification"),
        (Value::Null, "tagging"),
        ("tagging".into(), "tagging"),
        ("classification".into(), "tagging"),
    ] {
        assert!(
            rows.contains(&(on.clone(), probing.to_string())),
            "{on} {probing}: {rows:?}"
        );
    }
    for r in table.as_array().unwrap() {
        let c = &r["change"];
        if r["finetuned_on"].is_null() {
            assert!(c.is_null());
        } else {
            // Every label of the probing task is counted once: grew, shrank, same or undefined.
            let labels = if r["probing"] == "tagging" { 5 } else { 2 };
            let counted: u64 = ["n_grew", "n_shrank", "n_unchanged", "n_undefined"]
                .iter()
                .map(|k| c[*k].as_u64().unwrap())
                .sum();
            assert_eq!(counted, labels, "{r}");
            assert_eq!(c["delta"].as_array().unwrap().len() as u64, labels, "{r}");
        }
        let acc = r["acc"].as_f64().unwrap();
        assert!(acc > 0.0 && acc <= 1.0, "{r}");
    }

    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    for needle in [
        "dynamics-min-distance",
        "dynamics-measure-debiased-cka",
        "dynamics-measure-intrinsic-dimension",
        "dynamics-measure-procrustes-angular",
        "dynamics-measure-mutual-knn",
        "memorisation-finetuned",
        "Cross-task fine-tuning",
        "measures-similarity-debiased-cka",
        "<h3>angular Procrustes — a distance</h3>",
        "measures-mdl-compression",
        "Memorisation experiment: subtrain, subtest and test units",
        "subtest units were not seen by fine-tuning",
    ] {
        assert!(html.contains(needle), "report lacks {needle}");
    }
    // Re-running skips everything, experiments included.
    let again = study(&cfg, &[]);
    ok(&again);
    assert!(ran(&again).is_empty(), "{:?}", ran(&again));
    if std::env::var_os("TUNESCOPE_KEEP").is_none() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The dynamics' measures at the last snapshot and the last layer equal `tunescope geometry` and
/// `tunescope similarity` on the same train rows (`measure_rows.txt`) of the same vectors.
fn dynamics_measures_match_the_standalone_commands(run: &Path, dynamics: &Value, dir: &Path) {
    use tunescope_data::npy;
    let exp = run.join("experiments/dynamics");
    let csv = std::fs::read_to_string(exp.join("measures.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("layer,update,measure,kind,value,null_mean,null_std,p_value,calibrated")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let snapshots = dynamics["snapshots"].as_array().unwrap();
    let layers: Vec<u64> = dynamics["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_u64().unwrap())
        .collect();
    assert_eq!(rows.len(), layers.len() * snapshots.len() * 9, "{csv}");
    let last = snapshots.last().unwrap();
    let (layer, update) = (layers[layers.len() - 1], last["update"].as_u64().unwrap());
    let value = |measure: &str, col: usize| -> f64 {
        let r = rows
            .iter()
            .find(|r| r[0] == layer.to_string() && r[1] == update.to_string() && r[2] == measure)
            .unwrap_or_else(|| panic!("{measure} at layer {layer}, update {update}: {csv}"));
        r[col].parse().unwrap()
    };
    for (measure, kind) in [
        ("debiased_cka", "similarity"),
        ("mutual_knn", "similarity"),
        ("procrustes_angular", "distance"),
        ("rsa", "similarity"),
        ("nc1", "descriptor"),
    ] {
        assert!(
            rows.iter().any(|r| r[2] == measure && r[3] == kind),
            "{csv}"
        );
    }
    // Update 0: the pre-trained space against itself.
    let first = rows
        .iter()
        .find(|r| r[0] == layer.to_string() && r[1] == "0" && r[2] == "debiased_cka")
        .unwrap();
    assert!(
        (first[4].parse::<f64>().unwrap() - 1.0).abs() < 1e-9,
        "{first:?}"
    );
    let picked: Vec<usize> = std::fs::read_to_string(exp.join("measure_rows.txt"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let rows_of = |model: &str| {
        let m = npy::read_f32_matrix(run.join(format!("reps/{model}/train/layer-{layer}.npy")))
            .unwrap();
        let data: Vec<f32> = picked.iter().flat_map(|&i| m.row(i).to_vec()).collect();
        let path = dir.join(format!("measured-{model}.npy"));
        npy::write_f32(&path, &[picked.len(), m.cols()], &data).unwrap();
        path
    };
    let (a, b) = (
        rows_of("pretrained"),
        rows_of(last["model"].as_str().unwrap()),
    );
    let names = std::fs::read_to_string(run.join("reps/pretrained/train/labels.txt")).unwrap();
    let names: Vec<&str> = names.lines().collect();
    let labels: String = picked.iter().map(|&i| format!("{}\n", names[i])).collect();
    std::fs::write(dir.join("measured-labels.txt"), labels).unwrap();
    let tool = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_tunescope"))
            .args(args)
            .output()
            .unwrap();
        ok(&o);
    };
    let (geo, sim) = (dir.join("geometry-out"), dir.join("similarity-out"));
    tool(&[
        "geometry",
        "--vectors",
        b.to_str().unwrap(),
        "--labels",
        dir.join("measured-labels.txt").to_str().unwrap(),
        "--out",
        geo.to_str().unwrap(),
    ]);
    let seed = dynamics["measures"]["seed"].as_u64().unwrap().to_string();
    let perms = dynamics["measures"]["permutations"].as_u64().unwrap();
    let procrustes_perms = dynamics["measures"]["procrustes_permutations"]
        .as_u64()
        .unwrap();
    let k = dynamics["measures"]["k"].as_u64().unwrap().to_string();
    assert_eq!((perms, procrustes_perms), (100, 10));
    // The test config's `compare.rsa_sample` (20 of the measured units).
    let similarity = |out: &Path, perms: u64| {
        tool(&[
            "similarity",
            "--a",
            a.to_str().unwrap(),
            "--b",
            b.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--permutations",
            &perms.to_string(),
            "--k",
            &k,
            "--seed",
            &seed,
            "--rsa-sample",
            "20",
        ])
    };
    let sim_procrustes = dir.join("similarity-procrustes-out");
    similarity(&sim, perms);
    similarity(&sim_procrustes, procrustes_perms);
    let read =
        |p: PathBuf| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let (g, s, sp) = (
        read(geo.join("geometry.json")),
        read(sim.join("similarity.json")),
        read(sim_procrustes.join("similarity.json")),
    );
    let close = |got: f64, want: &Value, what: &str| {
        let want = want.as_f64().unwrap_or_else(|| panic!("{what}: {want}"));
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{what}: dynamics {got}, standalone {want}"
        );
    };
    close(
        value("intrinsic_dimension", 4),
        &g["intrinsic_dimension"]["dimension"],
        "TwoNN",
    );
    close(value("anisotropy", 4), &g["anisotropy"], "anisotropy");
    close(
        value("effective_rank", 4),
        &g["effective_rank"],
        "effective rank",
    );
    close(value("nc1", 4), &g["nc1"], "NC1");
    for (m, standalone) in [
        ("debiased_cka", &s),
        ("linear_cka", &s),
        ("mutual_knn", &s),
        ("rsa", &s),
        ("procrustes_angular", &sp),
    ] {
        for (col, key) in [
            (4, "value"),
            (5, "null_mean"),
            (6, "null_std"),
            (7, "p_value"),
        ] {
            close(value(m, col), &standalone[m][key], &format!("{m} {key}"));
        }
    }
}

#[test]
fn seeds_give_confidence_intervals_and_permutation_tests() {
    let dir = scratch("seeds");
    let cfg = write_config(&dir);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace(
        "[finetune]\n",
        "[finetune]\nseeds = 3\nlr = 1e-3\ncheckpoint_every = 3\n",
    );
    text.push_str("\n[memorisation]\nepochs = 3\n");
    std::fs::write(&cfg, text).unwrap();
    let first = study(&cfg, &[]);
    ok(&first);
    let all = ran(&first);
    for id in [
        "finetune",
        "seed-43/finetune",
        "seed-44/extract/finetuned",
        "seed-44/directprobe/finetuned/train/layer-3",
        "seed-43/compare",
        "seed-44/memorisation",
        "seed-43/dynamics",
        "seeds",
        "report",
    ] {
        assert!(all.contains(&id.to_string()), "{id} not run: {all:?}");
    }
    // The pre-trained stages run once and are shared by the replicates.
    assert_eq!(
        all.iter()
            .filter(|i| i.contains("extract/pretrained"))
            .count(),
        1
    );
    let run = dir.join("run");
    assert!(run.join("seeds/seed-44/reps/pretrained").is_symlink());
    let s: Value =
        serde_json::from_slice(&std::fs::read(run.join("seeds/summary/summary.json")).unwrap())
            .unwrap();
    assert_eq!(s["seeds"], serde_json::json!([42, 43, 44]));
    let last = &s["layers"][1];
    assert_eq!(last["layer"], 3);
    let acc = &last["probe_acc"];
    let values: Vec<f64> = acc["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 3);
    let mean = values.iter().sum::<f64>() / 3.0;
    assert!((acc["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    let (lo, hi) = (
        acc["lower"].as_f64().unwrap(),
        acc["upper"].as_f64().unwrap(),
    );
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(min <= lo && lo <= mean && mean <= hi && hi <= max, "{acc}");
    // Seeded replicates differ from each other.
    let d = &last["mean_displacement"]["values"];
    assert_ne!(d[0], d[1], "{d}");
    // With 3 seeds the exact sign-flip test cannot go below 2/8.
    for l in s["labels"].as_array().unwrap() {
        if let Some(p) = l["p_value"].as_f64() {
            assert!(p >= 0.25 - 1e-12, "{l}");
        }
    }
    let tests = s["movement_tests"].as_array().unwrap();
    assert_eq!(tests[0]["layer_a"], 3);
    assert_eq!(tests[0]["pairs"], 15);
    assert!(s["memorisation_gap_after"]["mean"].is_number(), "{s}");
    // The measures beyond the paper get the same mean and interval over the replicates.
    let measure = |key: &str| -> &Value {
        last["measures"]
            .as_array()
            .unwrap_or_else(|| panic!("no measures: {last}"))
            .iter()
            .find(|m| m["key"] == key)
            .unwrap_or_else(|| panic!("no {key}: {last}"))
    };
    for key in [
        "similarity/debiased_cka",
        "similarity/procrustes_angular",
        "mdl/linear",
        "geometry/effective_rank",
    ] {
        let e = &measure(key)["estimate"];
        let v: Vec<f64> = e["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(v.len(), 3, "{key}: {e}");
        assert!((e["mean"].as_f64().unwrap() - v.iter().sum::<f64>() / 3.0).abs() < 1e-9);
        assert!(
            e["lower"].as_f64().unwrap() <= e["upper"].as_f64().unwrap(),
            "{e}"
        );
    }
    assert_eq!(measure("similarity/procrustes_angular")["kind"], "distance");
    // The dynamics' per-snapshot measures get an interval over the replicates at every snapshot.
    let dm = s["dynamics_measures"]
        .as_array()
        .expect("dynamics measures");
    let procrustes = dm
        .iter()
        .find(|m| m["layer"] == 3 && m["key"] == "procrustes_angular")
        .unwrap();
    assert_eq!(procrustes["kind"], "distance");
    let updates = procrustes["updates"].as_array().unwrap();
    assert!(updates.len() >= 2 && updates[0] == 0, "{procrustes}");
    let at_end = &procrustes["estimates"][updates.len() - 1];
    let v: Vec<f64> = at_end["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(v.len(), 3);
    assert_ne!(v[0], v[1], "replicates differ: {at_end}");
    let (lo, hi) = (
        at_end["lower"].as_f64().unwrap(),
        at_end["upper"].as_f64().unwrap(),
    );
    assert!(
        lo <= at_end["mean"].as_f64().unwrap() && lo < hi,
        "{at_end}"
    );
    let dm_csv = std::fs::read_to_string(run.join("seeds/summary/dynamics_measures.csv")).unwrap();
    assert!(
        dm_csv.starts_with("layer,update,measure,kind,mean,ci_lower,ci_upper,seeds\n"),
        "{dm_csv}"
    );
    assert!(
        dm_csv.contains("\n3,0,mutual_knn,similarity,1,1,1,3\n"),
        "{dm_csv}"
    );
    let fig_path = std::fs::read_dir(run.join("report/figures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("dynamics-measure-rsa.csv"))
        .expect("the RSA dynamics figure's CSV");
    let fig_csv = std::fs::read_to_string(fig_path).unwrap();
    let end = format!("3,{},", updates[updates.len() - 1]);
    let row = fig_csv
        .lines()
        .find(|l| l.starts_with(&end))
        .unwrap_or_else(|| panic!("{fig_csv}"));
    let cols: Vec<&str> = row.split(',').collect();
    assert_eq!(cols.len(), 10, "{row}");
    let (mean, lower, upper) = (
        cols[7].parse::<f64>().unwrap(),
        cols[8].parse::<f64>().unwrap(),
        cols[9].parse::<f64>().unwrap(),
    );
    assert!(lower <= mean && mean <= upper, "{row}");
    let layers_csv = std::fs::read_to_string(run.join("seeds/summary/layers.csv")).unwrap();
    assert!(
        layers_csv.contains("\n3,similarity/debiased_cka,"),
        "{layers_csv}"
    );
    let sim_csv =
        std::fs::read_to_string(run.join("report/figures/measures-similarity-debiased-cka.csv"))
            .unwrap();
    assert!(
        sim_csv.starts_with("layer,kind,value,null_mean,null_std,p_value,calibrated,seeds_mean,")
    );
    // The report's per-layer figures carry the bands: fine-tuned rows have CI bounds.
    let figs = std::fs::read_dir(run.join("report/figures")).unwrap();
    let csv_path = figs
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("layers-probe-accuracy.csv"))
        .expect("probe-accuracy figure CSV");
    let csv = std::fs::read_to_string(csv_path).unwrap();
    let row = csv
        .lines()
        .find(|l| l.starts_with("fine-tuned,3,"))
        .unwrap_or_else(|| panic!("{csv}"));
    let cols: Vec<&str> = row.split(',').collect();
    assert!(
        cols[3].parse::<f64>().unwrap() <= cols[2].parse::<f64>().unwrap(),
        "{row}"
    );
    let pre = csv.lines().find(|l| l.starts_with("original,3,")).unwrap();
    assert!(
        pre.ends_with(",,"),
        "no band on the single pre-trained encoder: {pre}"
    );
    let again = study(&cfg, &[]);
    ok(&again);
    assert!(ran(&again).is_empty(), "{:?}", ran(&again));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn arms_run_beside_the_study_on_shared_pretrained_stages() {
    let dir = scratch("arms");
    let cfg = write_config(&dir);
    let mut text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[finetune]\n", "[finetune]\ncheckpoint_every = 3\n");
    text.push_str(
        "\n[[arms]]\nname = \"lora\"\n[arms.finetune]\nmethod = \"lora\"\nlora_r = 4\nlr = 1e-3\n\
         \n[[arms]]\nname = \"top\"\n[arms.finetune]\nmethod = \"freeze\"\nfreeze_layers = 2\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let first = study(&cfg, &[]);
    ok(&first);
    assert_ran_sharing_pretrained(
        &ran(&first),
        &[
            "finetune",
            "weights",
            "arm-lora/finetune",
            "arm-lora/extract/finetuned",
            "arm-lora/directprobe/finetuned/train/layer-3",
            "arm-lora/compare",
            "arm-lora/weights",
            "arm-top/compare",
            "arm-top/weights",
            "report",
        ],
    );
    let run = dir.join("run");
    let lora = run.join("arms/lora");
    assert!(lora.join("reps/pretrained").is_symlink());
    // The LoRA arm saves its adapter in PEFT's layout beside the merged model.
    let acfg: Value = serde_json::from_slice(
        &std::fs::read(lora.join("models/adapter/adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (acfg["peft_type"].as_str(), acfg["r"].as_u64()),
        (Some("LORA"), Some(4))
    );
    // Weight space: LoRA (query, value) leaves K, O and the FFN untouched; the freeze arm leaves
    // layers 1 and 2 untouched; full fine-tuning changes every matrix.
    let rows = |d: &Path| -> Vec<(usize, String, f64)> {
        let csv = std::fs::read_to_string(d.join("weights/weights.csv")).unwrap();
        csv.lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                (
                    c[0].parse().unwrap(),
                    c[1].to_string(),
                    c[3].parse().unwrap(),
                )
            })
            .collect()
    };
    for (layer, module, rel) in rows(&lora) {
        assert_eq!(
            rel > 0.0,
            module == "Q" || module == "V",
            "lora {layer} {module} {rel}"
        );
    }
    for (layer, module, rel) in rows(&run.join("arms/top")) {
        assert_eq!(rel > 0.0, layer == 3, "top {layer} {module} {rel}");
    }
    assert!(rows(&run).iter().all(|r| r.2 > 0.0));
    // The report puts the arms side by side.
    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    for needle in [
        "Fine-tuning methods side by side",
        "· arm lora",
        "lora (r = 4",
        "freeze (bottom 2 layers",
    ] {
        assert!(html.contains(needle), "report lacks {needle}");
    }
    let csv = std::fs::read_to_string(run.join("report/figures/arms-probe-accuracy.csv")).unwrap();
    for line in ["pre-trained,3,", "main,3,", "lora,3,", "top,3,"] {
        assert!(
            csv.lines().any(|l| l.starts_with(line)),
            "{line} missing:\n{csv}"
        );
    }
    assert!(run.join("report/figures/arms-lora-intruders.csv").is_file());
    // Hidden state 1 lies below the freeze arm's trainable layers: its DirectProbe stages read
    // the pre-trained ones and take their files as they are; layer 3 (trained) and the LoRA
    // arm's layers (every adapted layer changes) are clustered afresh.
    let m = manifest(&dir);
    for split in ["train", "test"] {
        for (arm, layer, reused) in [("top", 1, true), ("top", 3, false), ("lora", 1, false)] {
            let id = format!("arm-{arm}/directprobe/finetuned/{split}/layer-{layer}");
            let pre = format!("directprobe/pretrained/{split}/layer-{layer}");
            let rec = &m["stages"][&id];
            assert_eq!(
                rec["inputs"]["upstream"].get(&pre).is_some(),
                arm == "top" && layer == 1,
                "{id} upstream"
            );
            assert_eq!(
                rec["summary"]["reused"].as_str(),
                reused.then_some(pre.as_str()),
                "{id}"
            );
            if reused {
                let at = |d: PathBuf| -> Vec<(String, Vec<u8>)> {
                    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&d)
                        .unwrap()
                        .map(|e| {
                            let p = e.unwrap().path();
                            (
                                p.file_name().unwrap().to_string_lossy().into_owned(),
                                std::fs::read(&p).unwrap(),
                            )
                        })
                        .collect();
                    v.sort();
                    v
                };
                let tail = format!("directprobe/{{}}/{split}/layer-{layer}");
                let mine = at(run.join("arms/top").join(tail.replace("{}", "finetuned")));
                assert!(mine.iter().any(|(n, _)| n == "clusters.txt"));
                assert_eq!(mine, at(run.join(tail.replace("{}", "pretrained"))), "{id}");
            }
        }
    }
    // The dynamics take each pre-trained snapshot (layers 1 and 3) from the DirectProbe stage,
    // and the freeze arm's layer-1 checkpoints, the pre-trained vectors again, from the
    // snapshot before.
    for (id, same) in [
        ("dynamics", 0),
        ("arm-lora/dynamics", 0),
        ("arm-top/dynamics", 1),
    ] {
        let s = &m["stages"][id]["summary"];
        let snapshots = s["snapshots"].as_array().unwrap().len() as u64;
        assert!(snapshots > 2, "{id}: {s}");
        assert_eq!(s["reused"]["from_directprobe"], 2, "{id}");
        assert_eq!(
            s["reused"]["same_as_previous"],
            same * (snapshots - 1),
            "{id}"
        );
    }
    // Unchanged: nothing re-runs; other [finetune] settings re-run the fine-tuned branches only.
    let again = study(&cfg, &[]);
    ok(&again);
    assert!(ran(&again).is_empty(), "{:?}", ran(&again));
    let changed = study(&cfg, &["--set", "finetune.epochs=2"]);
    ok(&changed);
    assert!(ran(&changed).iter().all(|id| !id.contains("pretrained")));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_arm_takes_the_studys_pretrained_examples_and_its_view_is_unchanged() {
    // An arm with the study's own [finetune] fine-tunes the same model, so its per-example view
    // computed from scratch would be the study's, byte for byte: the one it writes from the
    // study's pre-trained predictions must be too.
    let dir = scratch("arm-examples");
    let cfg = write_config(&dir);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("\n[[arms]]\nname = \"same\"\n[arms.finetune]\nepochs = 1\n");
    std::fs::write(&cfg, text).unwrap();
    ok(&study(&cfg, &[]));
    let m = manifest(&dir);
    let rec = &m["stages"]["arm-same/examples"];
    assert!(rec["inputs"]["upstream"].get("examples").is_some());
    assert_eq!(rec["summary"]["pretrained_from"], "examples");
    assert!(m["stages"]["examples"]["summary"]
        .get("pretrained_from")
        .is_none());
    let run = dir.join("run");
    for f in ["compare/examples.csv", "compare/examples.json"] {
        let arm = std::fs::read(run.join("arms/same").join(f)).unwrap();
        assert!(arm == std::fs::read(run.join(f)).unwrap(), "{f} differs");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn arms_run_as_many_seeds_as_the_study() {
    let dir = scratch("arm-seeds");
    let cfg = write_config(&dir);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace("[finetune]\n", "[finetune]\nseeds = 2\nlr = 1e-3\n");
    text.push_str("\n[[arms]]\nname = \"lora\"\n[arms.finetune]\nmethod = \"lora\"\nlora_r = 4\n");
    std::fs::write(&cfg, text).unwrap();
    let first = study(&cfg, &[]);
    let stdout = ok(&first);
    assert_ran_sharing_pretrained(
        &ran(&first),
        &[
            "seed-43/finetune",
            "seeds",
            "arm-lora/finetune",
            "arm-lora/seed-43/finetune",
            "arm-lora/seed-43/extract/finetuned",
            "arm-lora/seed-43/directprobe/finetuned/train/layer-3",
            "arm-lora/seed-43/compare",
            "arm-lora/seed-43/weights",
            "arm-lora/seeds",
            "report",
        ],
    );
    let run = dir.join("run");
    let rep = run.join("arms/lora/seeds/seed-43");
    // The arm's replicate reads the study's pre-trained representations through a link.
    let link = rep.join("reps/pretrained");
    assert!(link.is_symlink() && link.is_dir(), "{}", link.display());
    assert!(rep.join("data").is_dir());
    assert!(rep.join("models/adapter/adapter_config.json").is_file());
    let s: Value = serde_json::from_slice(
        &std::fs::read(run.join("arms/lora/seeds/summary/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(s["seeds"], serde_json::json!([42, 43]));
    // The head accuracy of the two LoRA runs, as the runs recorded it, with its interval.
    let acc: Vec<f64> = [run.join("arms/lora"), rep.clone()]
        .iter()
        .map(|d| {
            let o: Value =
                serde_json::from_slice(&std::fs::read(d.join("finetune.json")).unwrap()).unwrap();
            o["test"]["accuracy"].as_f64().unwrap()
        })
        .collect();
    let head = &s["head_test_accuracy"];
    let values: Vec<f64> = head["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(values, acc);
    let mean = (acc[0] + acc[1]) / 2.0;
    assert!(
        (head["mean"].as_f64().unwrap() - mean).abs() < 1e-12,
        "{head}"
    );
    let (lo, hi) = (
        head["lower"].as_f64().unwrap(),
        head["upper"].as_f64().unwrap(),
    );
    assert!(acc[0].min(acc[1]) <= lo && lo <= mean && mean <= hi && hi <= acc[0].max(acc[1]));
    // The two LoRA seeds are different runs.
    let d = &s["layers"][1]["mean_displacement"]["values"];
    assert_ne!(d[0], d[1], "{d}");
    assert!(run.join("arms/lora/seeds/summary/head.csv").is_file());
    // The study's own seeds summary has the head accuracy too.
    let main: Value =
        serde_json::from_slice(&std::fs::read(run.join("seeds/summary/summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        main["head_test_accuracy"]["values"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // The report's side-by-side table: seed count and mean [interval] per arm.
    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    let row = html
        .lines()
        .find(|l| l.starts_with("<tr><td>lora</td><td>lora (r = 4"))
        .unwrap_or_else(|| panic!("no lora row in the arms table"));
    assert!(row.contains("<td class=\"num\">2</td>"), "{row}");
    assert!(
        row.contains(&format!(
            "{:.2} [{:.2}, {:.2}]",
            100.0 * mean,
            100.0 * lo,
            100.0 * hi
        )),
        "{row}"
    );
    // The terminal's Table A names the arm.
    assert!(stdout.contains("fine-tuned · lora"), "{stdout}");
    let again = study(&cfg, &[]);
    ok(&again);
    assert!(ran(&again).is_empty(), "{:?}", ran(&again));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A JSON value without its wall-clock timings (`seconds` keys).
fn without_timings(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("seconds");
            m.values_mut().for_each(without_timings);
        }
        Value::Array(a) => a.iter_mut().for_each(without_timings),
        _ => {}
    }
}

/// Every file under `run` (not following links), as (path relative to `run`, path).
fn files(run: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![run.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(run).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((rel, p));
            }
        }
    }
    out.sort();
    out
}

/// Every file of a run directory that holds results (CSV/JSON under compare/, experiments/,
/// cross/*/result/, probe/), relative path → contents (JSON without timings).
fn results(run: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (rel, p) in files(run) {
        if [
            "compare/",
            "experiments/",
            "probe/",
            "cross/length/result/table",
        ]
        .iter()
        .any(|k| rel.starts_with(k))
            && (rel.ends_with(".csv") || rel.ends_with(".json"))
        {
            let mut bytes = std::fs::read(&p).unwrap();
            if rel.ends_with(".json") {
                let mut v: Value = serde_json::from_slice(&bytes).unwrap();
                without_timings(&mut v);
                bytes = v.to_string().into_bytes();
            }
            out.push((rel, bytes));
        }
    }
    out
}

#[test]
fn a_study_killed_anywhere_resumes_to_the_same_results() {
    let dir = scratch("kill");
    let cfg = write_config(&dir);
    write_sentence_task(&dir);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace(
        "[finetune]\n",
        "[finetune]\ncheckpoint_every = 3\nstate_every = 2\n",
    );
    text.push_str(&format!(
        "\n[memorisation]\nepochs = 3\n\n[[cross_task]]\nname = \"length\"\n[cross_task.data]\n\
         format = \"jsonl\"\ntask = \"classification\"\ntrain = \"{d}/sent-train.jsonl\"\n\
         dev = \"{d}/sent-dev.jsonl\"\ntest = \"{d}/sent-test.jsonl\"\n",
        d = dir.display()
    ));
    std::fs::write(&cfg, &text).unwrap();
    let reference = study(&cfg, &[]);
    ok(&reference);
    let expected = results(&dir.join("run"));
    assert!(expected.len() > 20, "{}", expected.len());

    // Interrupt the same study after growing delays, alternately with SIGKILL (no chance to
    // clean up) and Ctrl-C, until a run finishes on its own; then the results must equal the
    // uninterrupted run's.
    let out2 = format!("study.out={}", dir.join("run2").display());
    let (mut kills, mut sigints) = (0, 0);
    for delay_ms in (1..).map(|k| 100 * k) {
        let spawned = std::time::SystemTime::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tunescope"))
            .arg("study")
            .arg(&cfg)
            .args(["--threads", "1", "--quiet", "--set", &out2])
            .env("RAYON_NUM_THREADS", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if kills % 2 == 0 {
            child.kill().unwrap();
            child.wait().unwrap();
        } else {
            // Ctrl-C: the study stops cleanly (exit 130) unless it finished meanwhile. Send it
            // once this run has written its manifest, i.e. after the signal handler is installed
            // (on a loaded machine the binary may not even have started by now).
            let manifest = dir.join("run2").join("manifest.json");
            let written = || {
                std::fs::metadata(&manifest)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= spawned)
            };
            let t0 = std::time::Instant::now();
            while !written() && t0.elapsed() < std::time::Duration::from_secs(30) {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let sent = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            let status = child.wait().unwrap();
            assert!(
                status.success() || status.code() == Some(130),
                "after Ctrl-C: {status:?}"
            );
            if status.success() {
                break;
            }
            sigints += 1;
        }
        kills += 1;
    }
    assert!(sigints >= 1, "no Ctrl-C was delivered while the study ran");
    assert!(kills >= 2, "the study was interrupted only {kills} time(s)");
    let last = study(&cfg, &["--set", &out2]);
    ok(&last);
    let got = results(&dir.join("run2"));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&expected));
    for ((name, a), (_, b)) in got.iter().zip(&expected) {
        assert!(a == b, "{name} differs after {kills} interruptions");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Drops wall-clock fields (`seconds`, rates and elapsed times) from a JSON value.
fn without_clock(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !(k == "seconds" || k.ends_with("_per_s") || k.starts_with("elapsed")));
            m.values_mut().for_each(without_clock);
        }
        Value::Array(a) => a.iter_mut().for_each(without_clock),
        _ => {}
    }
}

/// SHA-256 of every result file of a run directory, by relative path: JSON and JSON lines
/// without wall-clock fields, the scratch directory `dir` written as `<dir>`, and in the report
/// the stage keys (64 hex digits) masked. Left out: `manifest.json` (keys, inputs, timings),
/// the file-hash cache and fine-tuning's resumable state.
fn digest(run: &Path, dir: &Path) -> Vec<(String, String)> {
    use sha2::{Digest, Sha256};
    let scratch = dir.display().to_string();
    // Paths into the checkout (e.g. the fixture model's) depend on where it was cloned.
    let crate_dir = env!("CARGO_MANIFEST_DIR");
    let repo = Path::new(crate_dir)
        .join("../..")
        .canonicalize()
        .unwrap()
        .display()
        .to_string();
    let mut out = Vec::new();
    for (rel, p) in files(run) {
        if rel == "manifest.json" || rel.starts_with(".cache") || rel.contains("finetune-state") {
            continue;
        }
        let mut bytes = std::fs::read(&p).unwrap();
        if rel.ends_with(".json") || rel.ends_with(".jsonl") {
            let text = String::from_utf8(bytes).unwrap();
            let mut lines = Vec::new();
            let docs: Vec<&str> = if rel.ends_with(".jsonl") {
                text.lines().collect()
            } else {
                vec![text.as_str()]
            };
            for doc in docs {
                let mut v: Value = serde_json::from_str(doc).unwrap();
                without_clock(&mut v);
                lines.push(v.to_string());
            }
            bytes = lines.join("\n").into_bytes();
        }
        if let Ok(text) = String::from_utf8(bytes.clone()) {
            let mut t = text
                .replace(&scratch, "<dir>")
                .replace(crate_dir, "<repo>/crates/cli")
                .replace(&repo, "<repo>");
            if rel.ends_with(".html") {
                t = mask_hex64(&t);
            }
            bytes = t.into_bytes();
        }
        let h: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        out.push((rel, h));
    }
    out.sort();
    out
}

/// `text` with every run of exactly 64 hex digits replaced by `<key>`.
fn mask_hex64(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let n = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if n == 64 && (i == 0 || !b[i - 1].is_ascii_hexdigit()) {
            out.push_str("<key>");
            i += n;
        } else if n > 0 {
            out.push_str(&text[i..i + n]);
            i += n;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The CPU's kernel family: its vendor (`vendor_id` of `/proc/cpuinfo`, e.g. `AuthenticAMD`,
/// `GenuineIntel`) and its widest vector extension (`avx512` or `avx2`), e.g.
/// `AuthenticAMD.avx2`. libtorch and the MKL under it choose their kernels by both, so the same
/// study gives different float bits on an AMD and an Intel CPU, and on an AMD EPYC with and
/// without AVX-512 (the encoder's first layer already differs).
fn cpu_kernels() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    };
    let vendor = field("vendor_id").unwrap_or_else(|| "unknown".into());
    let flags = field("flags").unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    let isa = if has("avx512f") {
        "avx512"
    } else if has("avx2") {
        "avx2"
    } else {
        "base"
    };
    format!("{vendor}.{isa}")
}

/// The results of a tiny study with every stage type (fine-tuning checkpoints, dynamics,
/// memorisation, a cross-task entry) are byte-identical to the ones the study wrote before the
/// stages were reshaped (`tests/fixtures/tiny-study.<vendor>.<isa>.sha256`, written by the
/// earlier code with `TUNESCOPE_BLESS=1`; float results are compared bit for bit, so a fixture
/// holds for the x86-64 libtorch CPU kernels of its CPU vendor and vector extension, see
/// [`cpu_kernels`]). Re-blessed since by changes that move floats in their last digits only,
/// each named in its commit (e.g. the eigen-solver's move to faer).
#[test]
fn tiny_study_results_are_unchanged() {
    let dir = scratch("golden");
    let cfg = write_config(&dir);
    write_sentence_task(&dir);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace("[finetune]\n", "[finetune]\ncheckpoint_every = 3\n");
    text.push_str(&format!(
        "\n[memorisation]\nepochs = 3\n\n[[cross_task]]\nname = \"length\"\n[cross_task.data]\n\
         format = \"jsonl\"\ntask = \"classification\"\ntrain = \"{d}/sent-train.jsonl\"\n\
         dev = \"{d}/sent-dev.jsonl\"\ntest = \"{d}/sent-test.jsonl\"\n",
        d = dir.display()
    ));
    std::fs::write(&cfg, text).unwrap();
    ok(&study(&cfg, &[]));
    let got = digest(&dir.join("run"), &dir);
    let listing: String = got.iter().map(|(p, h)| format!("{h}  {p}\n")).collect();
    let kernels = cpu_kernels();
    let fixture = root().join(format!(
        "crates/cli/tests/fixtures/tiny-study.{kernels}.sha256"
    ));
    if std::env::var_os("TUNESCOPE_BLESS").is_some() {
        std::fs::create_dir_all(fixture.parent().unwrap()).unwrap();
        std::fs::write(&fixture, &listing).unwrap();
    }
    let expected = std::fs::read_to_string(&fixture).unwrap_or_else(|e| {
        panic!(
            "no fixture for this CPU kind ({kernels}): {} ({e}); results are bit-exact per \
             kind of libtorch kernels, so write it with TUNESCOPE_BLESS=1 from a commit whose \
             results are known good on another CPU kind",
            fixture.display()
        )
    });
    let (e, g): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), listing.lines().collect());
    let differ: Vec<String> = e
        .iter()
        .filter(|l| !g.contains(l))
        .chain(g.iter().filter(|l| !e.contains(l)))
        .map(|l| l.to_string())
        .collect();
    assert!(
        differ.is_empty(),
        "results differ from the fixture:\n{}",
        differ.join("\n")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One toy token: word, UPOS, Brown tag, head, dependency relation.
type Tok = (
    &'static str,
    &'static str,
    &'static str,
    usize,
    &'static str,
);

/// Toy sentences over the tiny model's vocabulary.
fn toy_sentences(n: usize, seed: u64) -> Vec<Vec<Tok>> {
    let dets = ["the", "a"];
    let adjs = ["quick", "lazy", "brown", "old", "new", "good", "bad"];
    let nouns = ["dog", "cat", "fox", "mat", "man", "woman", "child"];
    let verbs = ["sat", "run", "was", "jumps"];
    let adps = ["on", "over"];
    let mut state = seed;
    let mut pick = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) % n as u64) as usize
    };
    (0..n)
        .map(|i| {
            if i % 3 == 2 {
                vec![
                    ("we", "PRON", "ppss", 2, "nsubj"),
                    ("know", "VERB", "vb", 0, "root"),
                    (dets[pick(2)], "DET", "at", 4, "det"),
                    (nouns[pick(7)], "NOUN", "nn", 2, "obj"),
                    (".", "PUNCT", ".", 2, "punct"),
                ]
            } else {
                vec![
                    (dets[pick(2)], "DET", "at", 3, "det"),
                    (adjs[pick(7)], "ADJ", "jj", 3, "amod"),
                    (nouns[pick(7)], "NOUN", "nn", 4, "nsubj"),
                    (verbs[pick(4)], "VERB", "vbd", 0, "root"),
                    (adps[pick(2)], "ADP", "in", 7, "case"),
                    (dets[pick(2)], "DET", "at", 7, "det"),
                    (nouns[pick(7)], "NOUN", "nn", 4, "obl"),
                    (".", "PUNCT", ".", 4, "punct"),
                ]
            }
        })
        .collect()
}

/// Writes `train`, `dev` and `test` files of `n` toy sentences each in `format` (`conllu`,
/// `conllulex`, `trec`) into `dir`; returns their paths.
fn write_toy_corpus(dir: &Path, format: &str) -> [PathBuf; 3] {
    std::fs::create_dir_all(dir).unwrap();
    let mut paths = Vec::new();
    for (k, split) in ["train", "dev", "test"].into_iter().enumerate() {
        let mut text = String::new();
        for (i, s) in toy_sentences(24, 11 + k as u64).into_iter().enumerate() {
            if format == "trec" {
                let label = ["LOC:city", "HUM:ind", "NUM:date"][i % 3];
                let words: Vec<&str> = s.iter().map(|t| t.0).collect();
                text.push_str(&format!("{label} {} ?\n", words.join(" ")));
                continue;
            }
            text.push_str(&format!("# sent_id = {split}-{i}\n"));
            for (j, (w, upos, _, head, rel)) in s.iter().enumerate() {
                let mut cols = vec![
                    (j + 1).to_string(),
                    w.to_string(),
                    w.to_string(),
                    upos.to_string(),
                    "_".into(),
                    "_".into(),
                    head.to_string(),
                    rel.to_string(),
                    "_".into(),
                    "_".into(),
                ];
                if format == "conllulex" {
                    let (lexcat, ss, ss2) = match *w {
                        "on" => ("P", "p.Locus", "p.Locus"),
                        "over" => ("P", "p.Path", "p.Locus"),
                        _ if *upos == "NOUN" => ("N", "_", "_"),
                        _ if *upos == "VERB" => ("V", "_", "_"),
                        _ => (*upos, "_", "_"),
                    };
                    let tag = if ss == "_" {
                        format!("O-{lexcat}")
                    } else {
                        format!("O-{lexcat}-{ss}")
                    };
                    cols.extend(["_", lexcat, w, ss, ss2, "_", "_", "_", &tag].map(String::from));
                }
                text.push_str(&cols.join("\t"));
                text.push('\n');
            }
            text.push('\n');
        }
        let p = dir.join(format!("{split}.{format}"));
        std::fs::write(&p, text).unwrap();
        paths.push(p);
    }
    paths.try_into().unwrap()
}

/// A Brown-format corpus directory: documents `c<genre><nn>` in genres a, b and c.
fn write_toy_brown(dir: &Path) -> PathBuf {
    let root = dir.join("brown");
    std::fs::create_dir_all(&root).unwrap();
    for (g, genre) in ["a", "b", "c"].into_iter().enumerate() {
        for d in 1..=10 {
            let mut text = String::new();
            for s in toy_sentences(4, (g * 100 + d) as u64) {
                let toks: Vec<String> = s.iter().map(|t| format!("{}/{}", t.0, t.2)).collect();
                text.push_str(&format!("\n\n\t{}\n", toks.join(" ")));
            }
            std::fs::write(root.join(format!("c{genre}{d:02}")), text).unwrap();
        }
    }
    root
}

/// Points a `[data]` table at toy data in the same format.
fn toy_data(data: &mut toml::Table, dir: &Path) {
    let format = data["format"].as_str().unwrap().to_string();
    let s = |p: &Path| toml::Value::String(p.display().to_string());
    match format.as_str() {
        "brown" => {
            data.insert("path".into(), s(&write_toy_brown(dir)));
            data.remove("max_sentences");
        }
        f => {
            let ext = match f {
                "conllu" => "conllu",
                "streusle" => "conllulex",
                "trec" => "trec",
                other => panic!("no toy corpus for format {other}"),
            };
            let [train, dev, test] = write_toy_corpus(dir, ext);
            // One file to split (`path`, e.g. PUD) becomes the toy train file.
            data.remove("path");
            data.insert("train".into(), s(&train));
            if data.contains_key("dev") {
                data.insert("dev".into(), s(&dev));
            }
            data.insert("test".into(), s(&test));
        }
    }
}

/// Every shipped example runs end to end, at a tiny size: the tiny random BERT, toy corpora in
/// each example's format, one fine-tuning epoch, small probes; every other setting (task,
/// pooling, layers, experiments, cross-task entries) as shipped.
#[test]
fn every_example_runs_end_to_end() {
    let model = root().join("crates/model/tests/fixtures/tiny-bert/model");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let dir = scratch(&format!("example-{name}"));
        let mut c: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        let table = |c: &mut toml::Table, k: &str| -> toml::Table {
            c.get(k)
                .and_then(|v| v.as_table())
                .cloned()
                .unwrap_or_default()
        };
        let mut st = table(&mut c, "study");
        st.insert("out".into(), dir.join("run").display().to_string().into());
        c.insert("study".into(), st.into());
        let mut data = table(&mut c, "data");
        toy_data(&mut data, &dir.join("data"));
        c.insert("data".into(), data.into());
        let mut m = table(&mut c, "model");
        m.insert("path".into(), model.display().to_string().into());
        m.insert("max_subwords".into(), 20.into());
        m.insert("batch_size".into(), 16.into());
        c.insert("model".into(), m.into());
        let mut f = table(&mut c, "finetune");
        f.insert("epochs".into(), 1.into());
        f.insert("batch_size".into(), 8.into());
        if f.contains_key("checkpoint_every") {
            f.insert("checkpoint_every".into(), 3.into());
        }
        c.insert("finetune".into(), f.into());
        let mut p = table(&mut c, "probe");
        p.insert("grid".into(), toml::Value::Array(vec![8.into()]));
        p.insert("seeds".into(), 1.into());
        p.insert("epochs".into(), 3.into());
        c.insert("probe".into(), p.into());
        if c.contains_key("memorisation") {
            let mut me = table(&mut c, "memorisation");
            me.insert("epochs".into(), 2.into());
            c.insert("memorisation".into(), me.into());
        }
        if let Some(toml::Value::Array(entries)) = c.get_mut("cross_task") {
            for (k, e) in entries.iter_mut().enumerate() {
                let e = e.as_table_mut().unwrap();
                let d = e.get_mut("data").unwrap().as_table_mut().unwrap();
                toy_data(d, &dir.join(format!("cross-{k}")));
            }
        }
        let cfg = dir.join(format!("{name}.toml"));
        std::fs::write(&cfg, toml::to_string(&c).unwrap()).unwrap();
        let o = study(&cfg, &[]);
        let out = ok(&o);
        assert!(out.contains("Table A"), "{name}: {out}");
        // `cls` pooling gives every sentence the same layer-0 vector: a degenerate layer,
        // reported as such rather than failing the study.
        if c["model"].get("pooling").and_then(|p| p.as_str()) == Some("cls") {
            let l0 = out
                .lines()
                .find(|l| {
                    l.trim_start().starts_with("original")
                        && l.split_whitespace().nth(1) == Some("0")
                })
                .unwrap_or_else(|| panic!("{name}: no layer-0 row\n{out}"));
            assert!(l0.contains("degen."), "{name}: {l0}");
        }
        assert!(dir.join("run/report/index.html").is_file(), "{name}");
        // A preset that names one of the paper's pairs shows the paper's row next to its own.
        if let Some(pair) = c["study"].get("paper").and_then(|p| p.as_str()) {
            assert!(
                out.contains("  paper"),
                "{name}: no paper row in the summary\n{out}"
            );
            let html = std::fs::read_to_string(dir.join("run/report/index.html")).unwrap();
            let task = if pair.ends_with("/pos") { "POS" } else { "DEP" };
            assert!(
                html.contains(&format!("paper: BERT_small {task} fine-tuned")),
                "{name}: no paper row in the report"
            );
        }
        names.push(name);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert_eq!(names.len(), 9, "{names:?}");
}

/// A stage that fails is recorded as failed with its error, the message does not advise
/// resuming, and a file given as `study.out` is named as such.
#[test]
fn a_failed_stage_is_recorded_and_not_advised_to_resume() {
    let dir = scratch("failed");
    let cfg = write_config(&dir);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace("[finetune]\n", "[finetune]\ncheckpoint_every = 3\n");
    text.push_str("\n[dynamics]\npath_labels = [\"NO-SUCH-LABEL\"]\n");
    std::fs::write(&cfg, text).unwrap();
    let o = study(&cfg, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stage dynamics failed"), "{err}");
    assert!(err.contains("NO-SUCH-LABEL"), "{err}");
    assert!(!err.contains("resume"), "{err}");
    let m = manifest(&dir);
    assert_eq!(m["stages"]["dynamics"]["status"], "failed", "{m}");
    assert!(m["stages"]["dynamics"]["error"]
        .as_str()
        .unwrap()
        .contains("NO-SUCH-LABEL"));
    let plan = ok(&study(&cfg, &["--dry-run"]));
    assert!(plan.contains("failed last time: retrying"), "{plan}");

    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = study(&cfg, &["--set", &format!("study.out={}", file.display())]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is a file, not a directory"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
