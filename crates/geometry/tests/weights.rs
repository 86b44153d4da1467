//! Weight-update measures against numpy (fixture from scripts/reference/weights_reference.py):
//! relative update, effective rank of ΔW and intruder dimensions on a low-rank, a dense and an
//! empty update.

use tunescope_geometry::weights::weight_update;

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn weight_updates_match_numpy() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/weights.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let (m, n) = (
        doc["rows"].as_u64().unwrap() as usize,
        doc["cols"].as_u64().unwrap() as usize,
    );
    let k = doc["k"].as_u64().unwrap() as usize;
    let eps = doc["eps"].as_f64().unwrap();
    let before = floats(&doc["before"]);
    let close = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "{what}: {a} vs numpy {b}"
        );
    };
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let u = weight_update(&before, &floats(&case["after"]), m, n, k, eps).unwrap();
        close(u.relative, case["relative"].as_f64().unwrap(), name);
        match case["effective_rank"].as_f64() {
            Some(e) => close(u.effective_rank.unwrap(), e, name),
            None => assert_eq!(u.effective_rank, None, "{name}"),
        }
        let want: Vec<f64> = case["top_cosines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(u.top_cosines.len(), want.len());
        for (a, b) in u.top_cosines.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{name}: cosine {a} vs numpy {b}");
        }
        assert_eq!(
            u.intruders,
            case["intruders"].as_u64().unwrap() as usize,
            "{name}"
        );
    }
}
