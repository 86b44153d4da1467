//! No-panic properties of the command line's text inputs (issue 17): the config layer (TOML
//! text plus `--set` overrides) and DirectProbe's original text layout (entities, embeddings,
//! label sets, label files). Every input parses or gives an error; none panics.
//!
//! Cases per property: `TUNESCOPE_FUZZ_CASES` (default 512), e.g. a long run:
//! `TUNESCOPE_FUZZ_CASES=200000 cargo test --release -p tunescope fuzz::`.

use proptest::prelude::*;

use crate::config::Config;

fn cases() -> u32 {
    std::env::var("TUNESCOPE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// Text pieces with meaning to TOML and to the config's keys.
fn toml_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(vec![
                "[study]\n", "[data]\n", "[model]\n", "[finetune]\n", "[probe]\n",
                "[directprobe]\n", "[experiments]\n", "[[cross]]\n", "[cross.data]\n",
                "format = \"brown\"\n", "task = \"brown-pos\"\n", "path = \"assets/brown\"\n",
                "max_sentences = 5\n", "layers = [0, 6]\n", "layers = [6, 0]\n", "layers = \"all\"\n",
                "seed = -1\n", "epochs = 0\n", "lr = nan\n", "lr = inf\n", "grid = []\n",
                "pooling = \"first\"\n", "name = \"\"\n", "out = \"/\"\n", "x = 1\n", "=", "\"",
                "[", "]", "{", "}", ",", ".", "\n", " = ", "1e999", "-0", "true", "'''",
            ])
            .prop_map(String::from),
            1 => any::<String>(),
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

/// `--set` overrides: dotted keys of the config's sections with odd values.
fn overrides() -> impl Strategy<Value = Vec<String>> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "study.seed",
            "study.name",
            "study.out",
            "study.cache",
            "data.task",
            "data.format",
            "data.max_sentences",
            "model.layers",
            "model.path",
            "model.device",
            "finetune.lr",
            "finetune.epochs",
            "finetune.seed",
            "probe.grid",
            "probe.seeds",
            "data",
            "a.b.c",
            ".x",
            "x.",
            "data..task",
            "",
            "finetune.lr.x",
        ])
        .prop_map(String::from),
        "[a-z._]{0,12}",
    ];
    let value = prop_oneof![
        prop::sample::select(vec![
            "1",
            "-1",
            "0",
            "1e999",
            "nan",
            "[0, 6]",
            "[6, 0]",
            "[]",
            "\"x\"",
            "{ a = 1 }",
            "true",
            "",
            "=",
            "[",
            "18446744073709551616",
            "all",
        ])
        .prop_map(String::from),
        any::<String>(),
    ];
    prop::collection::vec(
        (key, any::<bool>(), value).prop_map(|(k, eq, v)| {
            if eq {
                format!("{k}={v}")
            } else {
                format!("{k}{v}")
            }
        }),
        0..4,
    )
}

/// Lines for DirectProbe's text files: numbers, tabs, labels, odd values.
fn dp_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(vec![
                "0.5", "-1", "1e308", "1e309", "nan", "inf", "-0", "x", "\t", " ", "\n", "\r\n",
                "NOUN", "a\tb", "\t\t", "3", "",
            ])
            .prop_map(String::from),
            1 => any::<String>(),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn config_and_set_never_panic(text in toml_text(), sets in overrides()) {
        let _ = Config::from_toml(&text, "fuzz", &sets);
        let base = "[data]\nformat = \"brown\"\ntask = \"brown-pos\"\npath = \"assets/brown\"\n";
        let _ = Config::from_toml(base, "fuzz", &sets);
    }

    #[test]
    fn directprobe_text_inputs_never_panic(a in dp_text(), b in dp_text(), c in dp_text()) {
        crate::cmd::directprobe::fuzz_text_inputs(&a, &b, &c);
    }
}
