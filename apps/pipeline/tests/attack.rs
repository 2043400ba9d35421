//! `pipeline attack` end to end on tiny data (issue 11): the judge is trained
//! once and cached, both attacks run on the converted and the encrypted SNN,
//! Table 3 and the judge table are written as JSON and Markdown with the
//! Fig. 6 grid, and the stage is skipped when up to date.

mod common;

use common::*;

/// Width and height of a PNG (IHDR).
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[1..4], b"PNG");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

#[test]
fn attack_scores_both_attacks_on_both_snns() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 600);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 3);
    for args in [
        &["train-ann"][..],
        &["synthesize"],
        &["convert", "--source", "synthetic"],
    ] {
        ok(&run_args(&cfg, &out, args));
    }
    // The encrypted SNN is required.
    let err = fails(&run_args(&cfg, &out, &["attack"]));
    assert!(err.contains("snn-encrypted.bpk"), "{err}");
    ok(&run_args(&cfg, &out, &["encrypt"]));
    let stdout = ok(&run_args(&cfg, &out, &["attack"]));
    assert!(stdout.contains("judge: judge ResNet-8"), "{stdout}");
    let r = json(&out.join("attack.json"));
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4, "2 attacks x 2 SNNs");
    for row in rows {
        let fid = row["fid"].as_array().unwrap();
        assert_eq!(fid.len(), 2, "one FID per seed");
        assert!(
            fid.iter()
                .all(|f| f.as_f64().unwrap().is_finite() && f.as_f64().unwrap() >= 0.0)
        );
        let top1 = row["judge_top1"].as_array().unwrap();
        assert!(
            top1.iter()
                .all(|t| (0.0..=100.0).contains(&t.as_f64().unwrap()))
        );
    }
    // Attack 1 raises the re-converted ANN's target logit.
    let a1 = rows
        .iter()
        .find(|r| r["attack"] == "Reconversion" && r["model"] == "synthetic")
        .unwrap();
    assert!(
        a1["objective_end"].as_f64().unwrap() > a1["objective_start"].as_f64().unwrap(),
        "{a1}"
    );
    assert_eq!(r["images_per_set"], 10);
    assert_eq!(r["chance"], 10.0);
    assert_eq!(r["real_floor"].as_array().unwrap().len(), 2);
    let md = std::fs::read_to_string(out.join("attack.md")).unwrap();
    for needle in [
        "Table 3",
        "judge top-1",
        "354.8",
        "attack 2",
        "w/ encryption",
        "chance 10%",
    ] {
        assert!(md.contains(needle), "{needle}: {md}");
    }
    // 10 rows (classes) x 5 columns of 32x32 images at 3x with 2-pixel gaps.
    assert_eq!(
        png_size(&out.join("attack-grid.png")),
        (5 * 98 + 2, 10 * 98 + 2)
    );
    assert!(out.join("judge.bpk").is_file() && out.join("judge.json").is_file());

    // Up to date: skipped, the report printed again.
    let again = run_args(&cfg, &out, &["attack"]);
    assert!(ok_stderr(&again).contains("attack.json is up to date"));
    // Another attack setting remakes the attacks but keeps the judge.
    let cfg2 = config_with(root.path(), &data, 3, |t| {
        t.replace("snn_iterations = 3", "snn_iterations = 2")
    });
    let redo = ok_stderr(&run_args(&cfg2, &out, &["attack"]));
    assert!(redo.contains("judge.bpk is up to date"), "{redo}");
    assert!(redo.contains("remaking attack.json"), "{redo}");
    // The baseline column needs the real-data SNN.
    let cfg3 = config_with(root.path(), &data, 3, |t| {
        t.replace("baseline = false", "baseline = true")
    });
    let err = fails(&run_args(&cfg3, &out, &["attack"]));
    assert!(err.contains("convert --source real"), "{err}");
}
