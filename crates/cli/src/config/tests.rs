use super::*;
use std::path::PathBuf;
use tunescope_compare::analysis::UndefinedPairs;

const MINIMAL: &str = "[data]\nformat = \"brown\"\ntask = \"brown-pos\"\npath = \"assets/brown\"\n";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn names_that_leave_the_run_directory_are_refused() {
    for name in ["..", ".", "a/b", ""] {
        let text = format!(
            "{MINIMAL}[[cross_task]]\nname = {name:?}\n[cross_task.data]\nformat = \"brown\"\n\
             task = \"brown-genre\"\npath = \"assets/brown\"\n"
        );
        let e = Config::from_toml(&text, "s", &[]).unwrap_err();
        assert!(format!("{e:#}").contains("plain name"), "{name:?}: {e:#}");
    }
    assert!(plain_name("genre") && plain_name("v1.2") && !plain_name(".."));
}

#[test]
fn defaults_fill_in() {
    let c = Config::from_toml(MINIMAL, "my-study", &[]).unwrap();
    assert_eq!(c.study.name, "my-study");
    assert_eq!(c.study.out, Path::new("runs/my-study"));
    assert_eq!(c.study.seed, 42);
    assert_eq!(c.model.max_subwords, 128);
    for kind in [UnitKind::Token, UnitKind::Pair, UnitKind::Span] {
        assert_eq!(c.model.pooling_for(kind), Pooling::Mean, "{kind:?}");
    }
    let first = Config::from_toml(MINIMAL, "s", &["model.pooling=first".into()]).unwrap();
    assert_eq!(first.model.pooling_for(UnitKind::Token), Pooling::First);
    assert_eq!(c.model.pooling_for(UnitKind::Sentence), Pooling::Cls);
    assert_eq!(c.finetune.lr, 5e-5);
    assert_eq!(c.finetune.warmup_ratio, 0.1);
    assert_eq!(c.probe.grid, [32, 64, 128, 256]);
    assert_eq!(c.probe.l2, [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]);
    assert_eq!(c.directprobe.min_cluster_size, 5);
    assert_eq!((c.data.train_fraction, c.data.dev_fraction), (0.8, 0.1));
    assert_eq!(c.compare.undefined_pairs, UndefinedPairs::Zero);
    let drop = Config::from_toml(MINIMAL, "s", &["compare.undefined_pairs=drop".into()]);
    assert_eq!(drop.unwrap().compare.undefined_pairs, UndefinedPairs::Drop);
}

#[test]
fn unknown_keys_are_rejected_with_the_valid_ones() {
    let e = Config::from_toml(&format!("{MINIMAL}max_sentence = 3\n"), "s", &[]).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("unknown field `max_sentence`"), "{msg}");
    assert!(msg.contains("`max_sentences`"), "{msg}");
    assert!(msg.contains("line 5"), "{msg}");
    let e = Config::from_toml(MINIMAL, "s", &["finetune.learning_rate=1e-4".into()]).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("unknown field `learning_rate`"), "{msg}");
    assert!(msg.contains("`lr`"), "{msg}");
    let e = Config::from_toml(&format!("{MINIMAL}[modle]\n"), "s", &[]).unwrap_err();
    assert!(format!("{e:#}").contains("unknown field `modle`"), "{e:#}");
}

#[test]
fn overrides_parse_as_toml_then_string() {
    let sets: Vec<String> = [
        "data.max_sentences=100",
        "model.layers=[0, 6]",
        "model.device=cuda:1",
        "study.name=quick",
        "finetune.lr=2e-5",
        "probe.control=true",
    ]
    .map(String::from)
    .to_vec();
    let c = Config::from_toml(MINIMAL, "s", &sets).unwrap();
    assert_eq!(c.data.max_sentences, Some(100));
    assert_eq!(c.model.layers, Layers::List(vec![0, 6]));
    assert_eq!(c.model.device, Device::Cuda(1));
    assert_eq!(c.study.out, Path::new("runs/quick"));
    assert_eq!(c.finetune.lr, 2e-5);
    assert!(c.probe.control);
    let e = Config::from_toml(MINIMAL, "s", &["data".into()]).unwrap_err();
    assert!(
        e.to_string().contains("expected `section.key=value`"),
        "{e}"
    );
    let e = Config::from_toml(MINIMAL, "s", &["data.path.x=1".into()]).unwrap_err();
    assert!(
        e.to_string().contains("`data.path` is not a section"),
        "{e}"
    );
}

#[test]
fn invalid_values_are_explained() {
    for (set, needle) in [
        ("model.pooling=cls", "pooling `cls` is for sentence tasks"),
        ("model.layers=[6, 2]", "ascending"),
        (
            "model.layers=\"some\"",
            "\"all\" or a list of layer numbers",
        ),
        ("model.device=gpu", "invalid device `gpu`"),
        (
            "data.task=dep",
            "task `dep` cannot be read from format `brown`",
        ),
        ("data.task=ud", "unknown variant `ud`"),
        ("data.dev_fraction=0.5", "sum to 1"),
        ("finetune.dropout=1.0", "dropout must be in [0, 1)"),
        ("probe.grid=[]", "grid must list positive"),
        ("probe.l2=[]", "l2 must list L2 weights"),
        ("compare.undefined_pairs=zeros", "unknown variant `zeros`"),
        (
            "study.paper=bert-large/pos",
            "not one of the paper's model × task pairs",
        ),
        ("probe.l2=[-1.0]", "l2 must list L2 weights"),
        ("data.train=x.conllu", "both `path` and `train`"),
        ("study.name=\"..\"", "plain name"),
        ("study.name=\".\"", "plain name"),
    ] {
        let e = Config::from_toml(MINIMAL, "s", &[set.to_string()]).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains(needle), "{set}: {msg}");
    }
}

#[test]
fn every_example_config_loads_and_validates() {
    let dir = repo_root().join("examples");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let c = Config::load(&path, &[]).unwrap_or_else(|e| panic!("{e:#}"));
            assert_eq!(c.study.name, path.file_stem().unwrap().to_string_lossy());
            names.push(c.study.name);
        }
    }
    for expected in [
        "brown-genre",
        "brown-pos",
        "paper-pud-dep",
        "paper-pud-pos",
        "streusle-ps-fxn",
        "streusle-ps-role",
        "trec50",
        "ud-ewt-dep",
        "ud-ewt-pos",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "missing example {expected}"
        );
    }
}
