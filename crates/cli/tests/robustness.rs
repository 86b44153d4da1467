//! Bad input and interruption, end to end through the binary (issue 17): re-used output
//! directories, Ctrl-C during `embed`, the label rule of both probes, plain-text warnings and
//! errors that name a missing file once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tunescope_data::npy;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tiny_model() -> PathBuf {
    root().join("crates/model/tests/fixtures/tiny-bert/model")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tunescope-robust-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tunescope(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunescope"))
        .args(args)
        .current_dir(dir)
        .env_remove("TUNESCOPE_LOG")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Two separable labels on a line in 2-D: x < 0 is `a`, x > 0 is `b`.
fn write_points(dir: &Path, name: &str, n: usize, labels: &[&str]) {
    let rows: Vec<f32> = (0..n)
        .flat_map(|i| {
            let x = (i as f32 + 1.0) * if i % 2 == 0 { -1.0 } else { 1.0 };
            [x, (i as f32).sin()]
        })
        .collect();
    npy::write_f32(dir.join(format!("{name}_X.npy")), &[n, 2], &rows).unwrap();
    let y: Vec<&str> = (0..n).map(|i| labels[i % labels.len()]).collect();
    std::fs::write(dir.join(format!("{name}_y.txt")), y.join("\n") + "\n").unwrap();
}

#[test]
fn directprobe_refuses_a_used_out_dir_and_force_replaces_it_whole() {
    let dir = scratch("dp-out");
    write_points(&dir, "train", 20, &["a", "b"]);
    write_points(&dir, "test", 6, &["a", "b"]);
    let with_test = [
        "directprobe",
        "--train-vectors",
        "train_X.npy",
        "--train-labels",
        "train_y.txt",
        "--test-vectors",
        "test_X.npy",
        "--test-labels",
        "test_y.txt",
        "--out",
        "out",
    ];
    let o = tunescope(&dir, &with_test);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("out/prediction.txt").is_file());
    let without_test = [
        "directprobe",
        "--train-vectors",
        "train_X.npy",
        "--train-labels",
        "train_y.txt",
        "--out",
        "out",
    ];
    // A second run into the same directory used to keep the first run's prediction.txt.
    let o = tunescope(&dir, &without_test);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("--out out is not empty") && e.contains("--force"),
        "{e}"
    );
    assert!(
        dir.join("out/prediction.txt").is_file(),
        "refusal changed the directory"
    );
    let mut forced = without_test.to_vec();
    forced.push("--force");
    let o = tunescope(&dir, &forced);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !dir.join("out/prediction.txt").exists(),
        "stale prediction.txt kept"
    );
    assert!(dir.join("out/clusters.txt").is_file());
    // Nothing but the inputs and `out` beside it: no staging directory left.
    assert!(
        names(&dir).iter().all(|n| !n.starts_with('.')),
        "{:?}",
        names(&dir)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn directprobe_and_probe_share_one_label_rule() {
    let dir = scratch("labels");
    write_points(&dir, "train", 20, &["a", "b"]);
    write_points(&dir, "dev", 6, &["a", "b"]);
    write_points(&dir, "test", 6, &["a", "b", "c"]);
    // Unseen test labels: a plain-text warning (no colour codes when stderr is not a terminal).
    let o = tunescope(
        &dir,
        &[
            "directprobe",
            "--train-vectors",
            "train_X.npy",
            "--train-labels",
            "train_y.txt",
            "--test-vectors",
            "test_X.npy",
            "--test-labels",
            "test_y.txt",
            "--out",
            "dp",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("2 of 6 test rows") && e.contains("absent from train (c)"),
        "{e}"
    );
    assert!(
        !e.contains('\x1b'),
        "colour codes in captured stderr: {e:?}"
    );
    // Mixed label kinds: integer .npy train labels with text test labels.
    let ints: Vec<i64> = (0..20).map(|i| i % 2).collect();
    npy::write_i64(dir.join("train_y.npy"), &[20], &ints).unwrap();
    for cmd in ["directprobe", "probe"] {
        let mut args = vec![
            cmd,
            "--train-vectors",
            "train_X.npy",
            "--train-labels",
            "train_y.npy",
            "--test-vectors",
            "test_X.npy",
            "--test-labels",
            "test_y.txt",
            "--out",
            "mixed",
        ];
        if cmd == "probe" {
            args.extend(["--dev-vectors", "dev_X.npy", "--dev-labels", "dev_y.txt"]);
            args.push("--linear-only");
        }
        let o = tunescope(&dir, &args);
        assert!(!o.status.success(), "{cmd} accepted mixed label kinds");
        let e = stderr(&o);
        assert!(
            e.contains("train_y.npy holds integer .npy labels but") && e.contains("text labels"),
            "{cmd}: {e}"
        );
        assert!(!dir.join("mixed").exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_file_is_named_once() {
    let dir = scratch("missing");
    std::fs::write(dir.join("y.txt"), "a\nb\n").unwrap();
    // A missing labels file, and a missing `.npy` beside present labels (that one used to print
    // "No such file or directory (os error 2): No such file or directory (os error 2)").
    for (vectors, labels) in [("absent.npy", "absent.txt"), ("absent.npy", "y.txt")] {
        let o = tunescope(
            &dir,
            &[
                "directprobe",
                "--train-vectors",
                vectors,
                "--train-labels",
                labels,
                "--out",
                "out",
            ],
        );
        assert!(!o.status.success());
        let e = stderr(&o);
        assert_eq!(e.matches("os error 2").count(), 1, "{e}");
        assert!(e.contains("absent"), "{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn embed_refuses_descending_layers_and_a_used_out_dir() {
    let dir = scratch("embed-args");
    std::fs::write(dir.join("in.txt"), "the cat sat\n").unwrap();
    let model = tiny_model().display().to_string();
    let base = [
        "embed", "--model", &model, "--input", "in.txt", "--out", "out",
    ];
    let mut desc = base.to_vec();
    desc.extend(["--layers", "3,0"]);
    let o = tunescope(&dir, &desc);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("increasing order"), "{}", stderr(&o));
    assert!(!dir.join("out").exists());

    let o = tunescope(&dir, &base);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        names(&dir.join("out")),
        [
            "layer-0.npy",
            "layer-1.npy",
            "layer-2.npy",
            "layer-3.npy",
            "manifest.json"
        ]
    );
    // `--layers 0` into the directory of an all-layer run used to leave layers 1-3 beside it.
    let mut one = base.to_vec();
    one.extend(["--layers", "0"]);
    let o = tunescope(&dir, &one);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is not empty"), "{}", stderr(&o));
    one.push("--force");
    let o = tunescope(&dir, &one);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(&dir.join("out")), ["layer-0.npy", "manifest.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `embed --model` takes a PEFT adapter directory (tests/fixtures/peft-lora/adapter, whose
/// base is the tiny BERT): the adapter changes the layers it adapts, not the embeddings.
#[test]
fn embed_accepts_a_peft_adapter_directory() {
    let dir = scratch("embed-adapter");
    std::fs::write(dir.join("in.txt"), "the quick brown fox\n").unwrap();
    let adapter = root().join("crates/model/tests/fixtures/peft-lora/adapter");
    for (model, out) in [(adapter, "a"), (tiny_model(), "b")] {
        let m = model.display().to_string();
        let o = tunescope(
            &dir,
            &["embed", "--model", &m, "--input", "in.txt", "--out", out],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let read = |p: &str| std::fs::read(dir.join(p)).unwrap();
    assert_eq!(read("a/layer-0.npy"), read("b/layer-0.npy"));
    assert_ne!(read("a/layer-3.npy"), read("b/layer-3.npy"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Ctrl-C during `embed` used to leave `.layer-K.npy.tmp-PID` files (header: 2^64-1 rows).
#[test]
fn ctrl_c_during_embed_leaves_nothing_and_stale_files_are_swept() {
    let dir = scratch("embed-int");
    std::fs::write(
        dir.join("in.txt"),
        "the cat sat on the mat\n".repeat(60_000),
    )
    .unwrap();
    let model = tiny_model().display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tunescope"))
        .args([
            "embed",
            "--model",
            &model,
            "--input",
            "in.txt",
            "--out",
            "out",
            "--threads",
            "1",
        ])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let staging = dir.join(format!(".out.partial-{}", child.id()));
    // Wait until the layer files are being written, then interrupt.
    let t = Instant::now();
    while !(staging.is_dir() && std::fs::read_dir(&staging).unwrap().count() > 0) {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "embed never started writing"
        );
        assert!(child.try_wait().unwrap().is_none(), "embed ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{e}");
    assert!(e.contains("interrupted after"), "{e}");
    assert!(
        names(&dir).iter().all(|n| n == "in.txt"),
        "left: {:?}",
        names(&dir)
    );

    // What a killed run leaves (a staging directory and an old-style temporary file of a dead
    // process) is swept by the next run.
    std::fs::write(dir.join("small.txt"), "the cat\n").unwrap();
    std::fs::create_dir_all(dir.join(".out.partial-4999999")).unwrap();
    std::fs::create_dir_all(dir.join("out")).unwrap();
    std::fs::write(dir.join("out/.layer-3.npy.tmp-4999999"), [0u8; 64]).unwrap();
    let o = tunescope(
        &dir,
        &[
            "embed",
            "--model",
            &model,
            "--input",
            "small.txt",
            "--out",
            "out",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!dir.join(".out.partial-4999999").exists());
    assert!(names(&dir.join("out")).iter().all(|n| !n.starts_with('.')));
    std::fs::remove_dir_all(&dir).unwrap();
}
