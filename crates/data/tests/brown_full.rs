//! The full Brown corpus (`assets/brown`, created by `scripts/setup-assets.sh`): every sentence and
//! token is read, and the document split never puts one file into two splits.

use std::collections::BTreeMap;
use std::path::Path;

use tunescope_data::{load, Files, Format, LoadSpec, TaskKind};

#[test]
fn full_brown_corpus_counts_and_document_split() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/brown");
    if !dir.is_dir() {
        eprintln!(
            "skipping: {} not set up (run scripts/setup-assets.sh)",
            dir.display()
        );
        return;
    }
    let spec = LoadSpec {
        format: Format::Brown,
        task: TaskKind::BrownUniversal,
        files: Files::Single(dir),
        fractions: [0.8, 0.1, 0.1],
        seed: 0,
        max_sentences: None,
        labels: None,
        single_word_units: false,
    };
    let start = std::time::Instant::now();
    let task = load(&spec).unwrap();
    eprintln!("read Brown in {:.3} s", start.elapsed().as_secs_f64());
    let sentences: usize = task.splits().iter().map(|(_, s)| s.sentences.len()).sum();
    let tokens: usize = task.splits().iter().map(|(_, s)| s.tokens()).sum();
    let units: usize = task.splits().iter().map(|(_, s)| s.units.len()).sum();
    assert_eq!(sentences, 57_340);
    assert_eq!(tokens, 1_161_192);
    assert_eq!(units, tokens);
    assert_eq!(
        task.labels,
        [".", "ADJ", "ADP", "ADV", "CONJ", "DET", "NOUN", "NUM", "PRON", "PRT", "VERB", "X"]
    );
    let mut split_of_doc: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, split) in task.splits() {
        for s in &split.sentences {
            let first = *split_of_doc.entry(s.doc.as_str()).or_insert(name);
            assert_eq!(first, name, "document {} is in {first} and {name}", s.doc);
        }
    }
    assert_eq!(split_of_doc.len(), 500);
    let docs_in = |n: &str| split_of_doc.values().filter(|v| **v == n).count();
    assert_eq!(
        (docs_in("train"), docs_in("dev"), docs_in("test")),
        (394, 54, 52)
    );
}
