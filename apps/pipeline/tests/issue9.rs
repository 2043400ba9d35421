//! Regression tests of issue 9 ("pipeline as a stage graph with honest
//! artifacts, inputs that cannot break it"): stale artifacts are never used
//! or reported, up-to-date stages are skipped, and bad inputs get a message
//! and a non-zero exit instead of a panic or a silent wrong result.

mod common;

use std::path::Path;

use common::*;

fn snn_eval(cfg: &Path, out: &Path) -> std::process::Output {
    pipeline()
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .args(["evaluate", "--snn"])
        .output()
        .unwrap()
}

fn convert(cfg: &Path, out: &Path, source: &str) -> std::process::Output {
    pipeline()
        .arg("--config")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .args(["convert", "--source", source])
        .output()
        .unwrap()
}

/// Issue 9: after a retrain and a failed `convert --source synthetic`,
/// `evaluate --snn` reported the old SNN beside the new ANN with exit 0.
#[test]
fn issue9_a_stale_snn_is_never_reported_next_to_a_new_ann() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 300);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 1);
    ok(&stage(&cfg, &out, "train-ann").output().unwrap());
    ok(&stage(&cfg, &out, "synthesize").output().unwrap());
    ok(&convert(&cfg, &out, "both"));
    ok(&snn_eval(&cfg, &out));
    // Retrain with another seed: a different ANN in the same folder.
    let reseeded = config_with(root.path(), &data, 1, |t| {
        t.replace("name = \"t\"", "name = \"t\"\nseed = 7")
    });
    // The old checkpoints belong to other settings: refused, unless --force.
    let err = fails(&stage(&reseeded, &out, "train-ann").output().unwrap());
    assert!(
        err.contains("made with other settings ([seed] differ"),
        "{err}"
    );
    ok(&pipeline()
        .arg("--config")
        .arg(&reseeded)
        .arg("--out")
        .arg(&out)
        .args(["--force", "train-ann"])
        .output()
        .unwrap());
    // Converting on the old synthetic set is refused: it was made from the old ANN.
    let err = fails(&convert(&reseeded, &out, "synthetic"));
    assert!(
        err.contains("synthetic") && err.contains("out of date") && err.contains("ann.bpk changed"),
        "{err}"
    );
    // And the old SNNs are never evaluated beside the new ANN.
    let err = fails(&snn_eval(&reseeded, &out));
    assert!(err.contains("snn-synthetic.bpk is out of date"), "{err}");
    // The whole pipeline remakes what is out of date, in order, and then reports.
    let run = pipeline()
        .arg("--config")
        .arg(&reseeded)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    ok(&run);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("train-ann: ann.bpk is up to date"), "{err}");
    assert!(err.contains("synthesize: remaking synthetic/"), "{err}");
    ok(&snn_eval(&reseeded, &out));
}

/// Up-to-date outputs are skipped; a changed config section remakes exactly
/// what depends on it; a hand-modified artifact is noticed.
#[test]
fn issue9_stages_skip_what_is_up_to_date_and_remake_what_changed() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 300);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 1);
    let all = |cfg: &Path| {
        let o = pipeline()
            .arg("--config")
            .arg(cfg)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        ok(&o);
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    all(&cfg);
    let second = all(&cfg);
    for name in [
        "ann.bpk",
        "synthetic/",
        "snn-synthetic.bpk",
        "snn-real.bpk",
        "snn-accuracy.json",
    ] {
        assert!(
            second.contains(&format!("{name} is up to date")),
            "{name}: {second}"
        );
    }
    // [conversion] changes only the synthetic-data SNN (and the report).
    let changed = config_with(root.path(), &data, 1, |t| {
        t.replace(
            "[conversion]\ntimesteps = 30",
            "[conversion]\ntimesteps = 40",
        )
    });
    let third = all(&changed);
    assert!(third.contains("ann.bpk is up to date"), "{third}");
    assert!(third.contains("synthetic/ is up to date"), "{third}");
    assert!(
        third.contains("remaking snn-synthetic.bpk: the config's [conversion] changed"),
        "{third}"
    );
    assert!(third.contains("snn-real.bpk is up to date"), "{third}");
    assert!(third.contains("remaking snn-accuracy.json"), "{third}");
    // A model replaced by hand is not trusted.
    std::fs::copy(out.join("snn-synthetic.bpk"), out.join("snn-real.bpk")).unwrap();
    let err = fails(&snn_eval(&changed, &out));
    assert!(
        err.contains("snn-real.bpk was changed or replaced"),
        "{err}"
    );
    // A record the stage did not finish (removed here) means "remake".
    std::fs::remove_file(out.join("synthetic.provenance.json")).unwrap();
    let err = fails(&convert(&changed, &out, "synthetic"));
    assert!(err.contains("has no provenance record"), "{err}");
    // The resolved config is TOML that --config runs again: everything is up to date.
    ok(&convert(&changed, &out, "real"));
    let again = pipeline()
        .arg("--config")
        .arg(out.join("resolved-config.toml"))
        .arg("--out")
        .arg(&out)
        .args(["convert", "--source", "real"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&again.stderr).to_string();
    ok(&again);
    assert!(err.contains("snn-real.bpk is up to date"), "{err}");
}

/// Issue 9: two pools in a row passed validation and panicked (exit 101).
#[test]
fn issue9_two_pools_in_a_row_are_a_config_error() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config_with(root.path(), root.path(), 1, |t| {
        t.replace("arch = \"8,A,16,A\"", "arch = \"8,A,A,16,A\"")
    });
    let o = stage(&cfg, &root.path().join("o"), "train-ann")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("entries 2 and 3 are both `A`"), "{err}");
}

/// Issue 9: NaN rates trained to a NaN model with exit 0; a loss that turns
/// non-finite must stop training with an error and save nothing.
#[test]
fn issue9_nan_rates_and_a_diverging_loss_save_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 300);
    for (from, to, says) in [
        (
            "lr = 0.05",
            "lr = 0.05\nweight_decay = nan",
            "weight_decay must be a finite number",
        ),
        (
            "lr = 0.05",
            "lr = 0.05\nlr_gamma = nan",
            "lr_gamma must be a finite number",
        ),
        (
            "lr = 0.05",
            "lr = 0.05\nlr_gamma = -1.0",
            "lr_gamma must be a finite number",
        ),
    ] {
        let cfg = config_with(root.path(), &data, 1, |t| t.replace(from, to));
        let err = fails(
            &stage(&cfg, &root.path().join("o"), "train-ann")
                .output()
                .unwrap(),
        );
        assert!(err.contains(says), "{to}: {err}");
    }
    // A valid but absurd learning rate makes the loss non-finite.
    let out = root.path().join("diverged");
    let cfg = config_with(root.path(), &data, 2, |t| {
        t.replace("lr = 0.05", "lr = 1e30")
    });
    let err = fails(&stage(&cfg, &out, "train-ann").output().unwrap());
    assert!(err.contains("training diverged"), "{err}");
    assert!(!out.join("ann.bpk").exists() && !out.join("train-ann").exists());
}

/// Issue 9: a corrupt settings.json was reported as "checkpoints made with
/// other settings".
#[test]
fn issue9_a_corrupt_settings_file_is_named_as_corrupt() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 200);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 1);
    ok(&stage(&cfg, &out, "train-ann").output().unwrap());
    // As after an interrupted run: checkpoints, no finished model.
    std::fs::remove_file(out.join("ann.provenance.json")).unwrap();
    std::fs::write(out.join("train-ann/settings.json"), b"{\"model\": ").unwrap();
    let err = fails(&stage(&cfg, &out, "train-ann").output().unwrap());
    assert!(err.contains("settings.json is corrupt"), "{err}");
}

/// Issue 9: `--out` naming a file said only "File exists"; a `name` of
/// `../../x` wrote outside `runs/`; `bench --config <missing>` ignored it.
#[test]
fn issue9_bad_paths_and_names_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let cfg = config(root.path(), root.path(), 1);
    let err = fails(&stage(&cfg, &file, "train-ann").output().unwrap());
    assert!(err.contains("is a file, not a folder"), "{err}");

    let escaping = config_with(root.path(), root.path(), 1, |t| {
        t.replace("name = \"t\"", "name = \"../../escaped\"")
    });
    let o = pipeline()
        .current_dir(root.path())
        .arg("--config")
        .arg(&escaping)
        .arg("train-ann")
        .output()
        .unwrap();
    let err = fails(&o);
    assert!(err.contains("must be a plain folder name"), "{err}");
    assert!(!root.path().join("../escaped").exists());

    let o = pipeline()
        .args(["bench", "--config", "/nonexistent/config.toml"])
        .output()
        .unwrap();
    let err = fails(&o);
    assert!(err.contains("bench does not read a config"), "{err}");
}
