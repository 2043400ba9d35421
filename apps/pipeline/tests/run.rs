//! `pipeline run` end to end on tiny data (issue 12): every stage runs, every
//! artifact exists and parses, the report names every table; a second run
//! reuses everything; a retrained ANN makes everything built from it stale
//! and the next run rebuilds it.

mod common;

use common::*;

#[test]
fn run_makes_every_table_and_rebuilds_what_a_new_ann_makes_stale() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 600);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 3);
    ok(&run_args(&cfg, &out, &["run"]));
    for f in [
        "ann.bpk",
        "synthetic-grid.png",
        "snn-synthetic.bpk",
        "snn-real.bpk",
        "snn-encrypted.bpk",
        "snn-accuracy.png",
        "snn-accuracy.md",
        "judge.bpk",
        "attack-grid.png",
        "energy-spikes.png",
        "encrypt-sweep.png",
        "report.md",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    for f in [
        "train-ann.json",
        "snn-accuracy.json",
        "encrypt.json",
        "attack.json",
        "energy.json",
        "encrypt-sweep.json",
    ] {
        json(&out.join(f));
    }
    let metrics = json(&out.join("metrics.json"));
    for key in [
        "table1",
        "table2",
        "fig4",
        "fig5",
        "table3_fig6",
        "table4_fig7",
    ] {
        assert!(!metrics[key].is_null(), "metrics.json lacks {key}");
    }
    assert_eq!(metrics["table1"]["paper"]["privatesnn"], 91.2);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for table in [
        "Table 1", "Table 2", "Table 3", "Table 4", "Fig. 4", "Fig. 5", "Fig. 6", "Fig. 7",
    ] {
        assert!(report.contains(table), "report.md lacks {table}");
    }
    // Fig. 5: every count that fits the 20 synthetic images, with and without
    // distillation; the full-set point with distillation is the run's encrypted SNN.
    let points = metrics["fig5"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 4, "{points:?}");
    let reused: Vec<_> = points.iter().filter(|p| p["reused"] == true).collect();
    assert_eq!(reused.len(), 1);
    assert_eq!(reused[0]["samples"], 20);
    assert!(report.contains("encrypt-sweep.png"), "{report}");

    // Everything is up to date: nothing is remade.
    let again = ok_stderr(&run_args(&cfg, &out, &["run"]));
    assert!(!again.contains("remaking"), "{again}");
    let stamp = |f: &str| std::fs::metadata(out.join(f)).unwrap().modified().unwrap();
    let before = stamp("energy.json");

    // A retrained ANN (another learning rate): the report cannot be made from
    // the old results, and the next run rebuilds every downstream artifact.
    let cfg2 = config_with(root.path(), &data, 3, |t| {
        t.replace("lr = 0.05\n", "lr = 0.04\n")
    });
    ok(&run_args(&cfg2, &out, &["--force", "train-ann"]));
    let err = fails(&run_args(&cfg2, &out, &["energy"]));
    assert!(err.contains("ann.bpk"), "{err}");
    let redo = ok_stderr(&run_args(&cfg2, &out, &["run"]));
    for name in [
        "synthetic/",
        "snn-synthetic.bpk",
        "snn-encrypted.bpk",
        "encrypt-sweep.json",
        "attack.json",
        "energy.json",
    ] {
        assert!(
            redo.contains(&format!("remaking {name}")),
            "{name} not remade: {redo}"
        );
    }
    assert!(stamp("energy.json") > before);
    assert!(
        redo.contains("judge.bpk is up to date"),
        "the judge does not depend on the ANN: {redo}"
    );
}

/// The figures that must not depend on how the run was interrupted (timings
/// and devices left out).
fn figures(out: &std::path::Path) -> serde_json::Value {
    let m = json(&out.join("metrics.json"));
    let attack = &m["table3_fig6"];
    let rows: Vec<serde_json::Value> = attack["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!([r["attack"], r["model"], r["fid"], r["judge_top1"]]))
        .collect();
    let energy: Vec<serde_json::Value> = m["table4_fig7"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::json!([r["method"], r["accuracy"], r["ann_over_method"]]))
        .collect();
    let sweep: Vec<serde_json::Value> = m["fig5"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| serde_json::json!([p["samples"], p["distill_weight"], p["accuracy"]]))
        .collect();
    serde_json::json!([m["table1"], m["table2"], m["fig4"], sweep, rows, energy])
}

#[test]
fn a_run_killed_in_a_later_stage_continues_and_ends_with_the_same_figures() {
    use std::time::{Duration, Instant};
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 600);
    let cfg = config(root.path(), &data, 3);
    let whole = root.path().join("whole");
    ok(&run_args(&cfg, &whole, &["run"]));

    let out = root.path().join("out");
    let mut child = pipeline()
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once `evaluate` has finished, during the attack stage.
    let done = out.join("snn-accuracy.provenance.json");
    let start = Instant::now();
    while !done.exists() && start.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(done.exists(), "evaluate never finished");
    assert!(
        !out.join("energy.provenance.json").exists(),
        "killed too late"
    );

    let resumed = ok_stderr(&run_args(&cfg, &out, &["run"]));
    for name in [
        "ann.bpk",
        "synthetic/",
        "snn-synthetic.bpk",
        "snn-encrypted.bpk",
        "snn-accuracy.json",
    ] {
        assert!(
            resumed.contains(&format!("{name} is up to date")),
            "{name} recomputed: {resumed}"
        );
    }
    assert_eq!(figures(&out), figures(&whole));
}
