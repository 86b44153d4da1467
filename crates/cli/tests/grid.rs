//! `tunescope plan`: the Slurm script's log directory exists at submission, and `--collect`
//! merges finished cells into one summary and names the unfinished ones.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tunescope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunescope"))
        .args(args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A small tagging task (three tags over the tiny model's vocabulary) and its study config.
fn write_study(dir: &Path) -> PathBuf {
    let sentences = [
        ("the cat sat", "DET NOUN VERB"),
        ("a dog was on the mat", "DET NOUN VERB ADP DET NOUN"),
        ("the lazy fox jumps", "DET ADJ NOUN VERB"),
        ("an quick dog run", "DET ADJ NOUN VERB"),
        ("the dogs sat over a cat", "DET NOUN VERB ADP DET NOUN"),
    ];
    for (split, n) in [("train", 30), ("dev", 10), ("test", 10)] {
        let mut text = String::new();
        for i in 0..n {
            let (w, t) = sentences[(i * 7 + split.len()) % sentences.len()];
            let q = |s: &str| {
                s.split(' ')
                    .map(|x| format!("\"{x}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            text.push_str(&format!(
                "{{\"tokens\": [{}], \"tags\": [{}]}}\n",
                q(w),
                q(t)
            ));
        }
        std::fs::write(dir.join(format!("{split}.jsonl")), text).unwrap();
    }
    let model = root().join("crates/model/tests/fixtures/tiny-bert/model");
    let cfg = format!(
        "[data]\nformat = \"jsonl\"\ntask = \"tagging\"\ntrain = \"{d}/train.jsonl\"\n\
         dev = \"{d}/dev.jsonl\"\ntest = \"{d}/test.jsonl\"\n\n[model]\npath = \"{m}\"\n\
         layers = [3]\nmax_subwords = 20\n\n[finetune]\nepochs = 1\nbatch_size = 8\n\n[probe]\ngrid = [8]\n\
         seeds = 2\nepochs = 3\n\n[directprobe]\nmin_cluster_size = 1\n\n[compare]\n\
         rsa_sample = 10\n",
        d = dir.display(),
        m = model.display()
    );
    let path = dir.join("toy.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

#[test]
fn emit_creates_the_log_directory_and_collect_summarises_the_grid() {
    let dir = std::env::temp_dir().join(format!("tunescope-grid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = write_study(&dir);
    let config = config.to_str().unwrap();
    let grid = dir.join("grid");
    let grid = grid.to_str().unwrap();
    let plan = |extra: &[&str]| {
        let mut a = vec![
            "plan",
            config,
            "--vary",
            "finetune.seed=1,2",
            "--root",
            grid,
        ];
        a.extend(extra);
        tunescope(&a)
    };

    // Slurm opens `--output` before the script runs: without the directory every task failed.
    let o = plan(&["--emit", "slurm", "--gpus", "0"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = String::from_utf8_lossy(&o.stdout);
    assert!(script.contains(&format!("#SBATCH --output={grid}/logs/%A_%a.out")));
    assert!(dir.join("grid/logs").is_dir(), "log directory not created");

    // Nothing has run: the summary is written, every cell named, exit non-zero.
    let o = plan(&["--collect"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("cell 0 (toy/seed-1): unfinished"), "{e}");
    assert!(e.contains("sbatch --array=0,1 "), "{e}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("grid/summary/grid.json")).unwrap())
            .unwrap();
    assert_eq!(v["finished"], 0);

    // Run cell 1 only, as its array task would.
    let list = plan(&["--emit", "list"]);
    let line = String::from_utf8_lossy(&list.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let fields: Vec<&str> = line.split('\t').collect();
    let mut args = vec!["study", fields[1], "--quiet", "--threads", "1"];
    for s in fields[2].split(' ') {
        args.extend(["--set", s]);
    }
    let o = tunescope(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = plan(&["--collect"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("sbatch --array=0 "), "{}", stderr(&o));

    let csv = std::fs::read_to_string(dir.join("grid/summary/grid.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "cell,config,finetune.seed,layer,version,acc_mean,acc_std,best_hidden,best_l2,\
         linear_acc_mean,linear_acc_std,n_clusters,linear,similarity,undefined_pairs,pairs_undefined"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows
        .iter()
        .all(|r| r.starts_with("toy/seed-2,") && r.contains(",2,3,")));
    assert!(rows[0].contains(",original,") && rows[1].contains(",fine-tuned,"));
    // The CSV's accuracies are the cell's own Table A.
    let table: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("grid/toy/seed-2/compare/table_a.json")).unwrap(),
    )
    .unwrap();
    let acc = table
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == "finetuned")
        .unwrap()["acc_mean"]
        .as_f64()
        .unwrap();
    assert!(
        rows[1].contains(&format!(",{acc:.4},")),
        "{} vs {acc}",
        rows[1]
    );
    let html = std::fs::read_to_string(dir.join("grid/summary/index.html")).unwrap();
    assert!(html.contains("1 of 2 cells finished"), "{html}");
    assert!(html.contains("<td class=\"l\">finetune.seed</td><td class=\"l\">2</td><td>1</td>"));
    std::fs::remove_dir_all(&dir).unwrap();
}
