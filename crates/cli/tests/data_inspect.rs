//! `tunescope data inspect` end to end: output shape, exit codes, and no output on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn inspect(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunescope"))
        .arg("data")
        .arg("inspect")
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap()
}

/// A config in a fresh temporary directory, returned with that directory.
fn temp_config(name: &str, body: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("tunescope-inspect-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, body).unwrap();
    (dir, path)
}

fn fixture(name: &str) -> String {
    repo_root()
        .join("crates/data/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn json_summary_of_a_brown_subset() {
    if !repo_root().join("assets/brown").is_dir() {
        eprintln!("skipping: assets/brown not set up (run scripts/setup-assets.sh)");
        return;
    }
    let out = inspect(&[
        "examples/brown-genre.toml",
        "--json",
        "--set",
        "data.max_sentences=300",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["task"], "brown-genre");
    assert_eq!(v["unit_kind"], "sentence");
    // `splits` describes the whole corpus, `subset` the sample the study uses.
    let total = |v: &serde_json::Value, key: &str| -> u64 {
        ["train", "dev", "test"]
            .iter()
            .map(|s| v["splits"][s][key].as_u64().unwrap())
            .sum()
    };
    assert_eq!(total(&v, "sentences"), 57_340);
    let sub = &v["subset"];
    assert_eq!(sub["max_sentences"], 300);
    for split in ["train", "dev", "test"] {
        assert_eq!(sub["splits"][split]["sentences"], 300, "{split}");
        assert_eq!(sub["splits"][split]["units"], 300, "{split}");
    }
    for (v, units) in [(&v, 57_340), (sub, 900)] {
        let labels = v["labels"].as_object().unwrap();
        assert_eq!(labels.len(), 15);
        assert_eq!(
            labels.values().map(|c| c.as_u64().unwrap()).sum::<u64>(),
            units
        );
    }
}

#[test]
fn table_output_with_warnings() {
    let (dir, config) = temp_config(
        "table",
        &format!(
            "[data]\nformat = \"conllu\"\ntask = \"dep\"\ntrain = \"{}\"\ndev = \"{}\"\ntest = \"{}\"\n",
            fixture("crlf.conllu"),
            fixture("sample.conllu"),
            fixture("sample.conllu")
        ),
    );
    let out = inspect(&[config.to_str().unwrap()]);
    std::fs::remove_dir_all(dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("task dep (pair units, 6 labels)\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "split  sentences  tokens  units  longest\ntrain          1       2      1        2\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("nmod:poss      0    1     1      2"),
        "{text}"
    );
    assert!(
        text.contains("warning: 5 label(s) of dev never occur in train"),
        "{text}"
    );
}

#[test]
fn bad_input_fails_cleanly_without_output() {
    let (dir, bad_data) = temp_config(
        "baddata",
        &format!(
            "[data]\nformat = \"conllu\"\ntask = \"upos\"\npath = \"{}\"\n",
            fixture("few-columns.conllu")
        ),
    );
    let (dir2, bad_key) = temp_config(
        "badkey",
        "[data]\nformat = \"brown\"\ntask = \"brown-pos\"\npath = \"assets/brown\"\nseed = 3\n",
    );
    let cases = [
        (
            vec![bad_data.to_str().unwrap()],
            "few-columns.conllu:4: expected 10 tab-separated columns",
        ),
        (
            vec![bad_key.to_str().unwrap()],
            "unknown field `seed`, expected one of `format`, `task`",
        ),
        (
            vec!["examples/brown-pos.toml", "--set", "model.pooling=cls"],
            "pooling `cls` is for sentence tasks",
        ),
        (
            vec!["examples/nope.toml"],
            "cannot read config examples/nope.toml",
        ),
    ];
    for (args, needle) in cases {
        let out = inspect(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed output");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(dir2).unwrap();
}

#[test]
fn the_model_type_and_the_supported_types_are_listed() {
    let config = "crates/model/tests/fixtures/finetune-tiny/config.toml";
    let roberta = "model.path=crates/model/tests/fixtures/families/roberta/model";
    let out = inspect(&[config, "--json", "--set", roberta]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model"]["model_type"], "roberta");
    assert_eq!(
        v["model"]["supported_model_types"],
        serde_json::json!(["bert", "roberta", "xlm-roberta", "distilbert", "electra"])
    );
    // An unsupported model_type is named, with the supported ones (the data is still summarised).
    let (dir, _) = temp_config("gpt2", "");
    std::fs::write(dir.join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
    let set = format!("model.path={}", dir.display());
    let out = inspect(&[config, "--set", &set]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "model_type gpt2 (supported: bert, roberta, xlm-roberta, distilbert, electra)"
        ) && text.contains("model_type \"gpt2\" is not supported"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
