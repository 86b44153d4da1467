//! Tests of the figure builder.

use super::*;

#[test]
fn slugs_are_safe_file_stems() {
    assert_eq!(slug("PS-fxn"), "ps-fxn");
    assert_eq!(slug("../BERT base/"), "bert-base");
    assert_eq!(slug("<script>"), "script");
    assert_eq!(slug("日本"), "x");
}

#[test]
fn registered_layer_measures_get_a_chart_each_with_their_notes() {
    let m = LayerMeasure {
        analysis: "geometry".into(),
        key: "effective_rank".into(),
        title: "Effective rank".into(),
        y_label: "effective rank".into(),
        caption: "Roy & Vetterli effective rank.".into(),
        layers: vec![0, 1],
        values: BeforeAfter {
            before: Series {
                values: vec![3.0, 2.5],
                ci: None,
            },
            after: Series {
                values: vec![f64::NAN, 1.5],
                ci: None,
            },
        },
        notes: vec!["fine-tuned layer 0: every row is the same vector".into()],
    };
    let data = ReportData {
        runs: vec![TaskModelReport {
            task: "POS".into(),
            model: "m".into(),
            layers: Some(LayerSeries {
                layers: vec![0, 1],
                measures: vec![m],
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    let figs = crate::sections::build(&data);
    let f = figs
        .iter()
        .find(|f| f.name == "pos-m-layers-geometry-effective-rank")
        .expect("one chart per measure");
    assert!(
        f.caption.contains("Not computed: fine-tuned layer 0"),
        "{}",
        f.caption
    );
    assert!(f.csv.contains("original,0,3,,\n") && f.csv.contains("fine-tuned,0,,,\n"));
    assert!(f.svg.contains("Effective rank"));
}

#[test]
fn duplicate_task_model_pairs_get_distinct_figure_names() {
    let run = TaskModelReport {
        task: "POS".into(),
        model: "m".into(),
        cka_layers: Some(CkaLayers {
            rows: vec![0],
            cols: vec![0],
            values: vec![vec![1.0]],
            n_rows: 1,
        }),
        ..Default::default()
    };
    let data = ReportData {
        title: "t".into(),
        runs: vec![run.clone(), run],
        ..Default::default()
    };
    let figs = crate::sections::build(&data);
    let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, vec!["pos-m-cka-layers", "pos-m-cka-layers-2"]);
}

#[test]
fn table_a_chart_shows_the_last_layer() {
    let row = |layer: usize, version: Version, acc: f64| TableAEntry {
        model: "m".into(),
        task: "POS".into(),
        row: TableARow {
            version: version.key().into(),
            layer,
            acc_mean: Some(acc),
            ..Default::default()
        },
        paper: None,
    };
    let data = ReportData {
        title: "t".into(),
        table_a: vec![
            row(0, Version::Original, 50.0),
            row(0, Version::FineTuned, 51.0),
            row(6, Version::Original, 80.0),
            row(6, Version::FineTuned, 90.0),
        ],
        ..Default::default()
    };
    let figs = crate::sections::build(&data);
    let f = figs.iter().find(|f| f.name == "table-a-accuracy").unwrap();
    assert_eq!(
        f.csv,
        "task,model,layer,acc_original,acc_finetuned\nPOS,m,6,80,90\n"
    );
}

#[test]
fn scatter_subsampling_caps_points_but_csv_keeps_all() {
    let pts: Vec<Point2> = (0..10_000)
        .map(|i| Point2 {
            x: i as f64,
            y: 0.0,
            label: i % 3,
        })
        .collect();
    assert!(subsample(&pts).len() <= MAX_SCATTER_POINTS);
    let run = TaskModelReport {
        task: "t".into(),
        model: "m".into(),
        pca: Some(PcaPoints {
            layer: 1,
            labels: vec!["a".into(), "b".into(), "c".into()],
            before: pts.clone(),
            after: pts,
        }),
        ..Default::default()
    };
    let figs = crate::sections::build(&ReportData {
        runs: vec![run],
        ..Default::default()
    });
    assert_eq!(figs.len(), 2);
    assert_eq!(figs[0].csv.lines().count(), 10_001);
    assert!(figs[0].svg.matches("<circle").count() <= MAX_SCATTER_POINTS + 3);
}
