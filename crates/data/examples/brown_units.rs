//! Writes the first sentences of a Brown split with universal POS tags, for DirectProbe scaling
//! benchmarks on real spaces (`scripts/bench/directprobe.sh --scaling-real`).
//!
//! `cargo run --release -p tunescope-data --example brown_units -- BROWN_DIR SPLIT MAX_TOKENS OUT`
//! writes `OUT/sentences.txt` (one sentence per line, words separated by single spaces, the
//! input of `tunescope embed`) and `OUT/labels.txt` (one tag per word), taking whole sentences
//! in corpus order until `MAX_TOKENS` words.

use std::io::Write;
use std::path::PathBuf;
use tunescope_data::{load, Files, Format, LoadSpec, TaskKind};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, split, max_tokens, out] = args.as_slice() else {
        anyhow::bail!("usage: brown_units BROWN_DIR train|dev|test MAX_TOKENS OUT_DIR");
    };
    let max_tokens: usize = max_tokens.parse()?;
    let task = load(&LoadSpec {
        format: Format::Brown,
        task: TaskKind::BrownUniversal,
        files: Files::Single(PathBuf::from(dir)),
        fractions: [0.8, 0.1, 0.1],
        seed: 0,
        max_sentences: None,
        labels: None,
        single_word_units: false,
    })?;
    let split = match split.as_str() {
        "train" => &task.train,
        "dev" => &task.dev,
        "test" => &task.test,
        other => anyhow::bail!("unknown split `{other}`"),
    };
    std::fs::create_dir_all(out)?;
    let mut sent = std::io::BufWriter::new(std::fs::File::create(format!("{out}/sentences.txt"))?);
    let mut lab = std::io::BufWriter::new(std::fs::File::create(format!("{out}/labels.txt"))?);
    let mut units = split.units.iter().peekable();
    let mut written = 0;
    for (i, s) in split.sentences.iter().enumerate() {
        if written + s.words.len() > max_tokens {
            break;
        }
        writeln!(sent, "{}", s.words.join(" "))?;
        while let Some(u) = units.next_if(|u| u.sentence == i) {
            writeln!(lab, "{}", u.label)?;
        }
        written += s.words.len();
    }
    eprintln!("{written} words");
    Ok(())
}
