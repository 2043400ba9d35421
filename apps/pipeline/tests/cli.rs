//! The `pipeline` binary as a user runs it.

use std::process::Command;

fn pipeline() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    c.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    c
}

#[test]
fn help_lists_every_stage() {
    let out = pipeline().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for stage in [
        "train-ann",
        "synthesize",
        "convert",
        "evaluate",
        "encrypt",
        "attack",
        "energy",
        "bench",
    ] {
        assert!(text.contains(stage), "--help lacks `{stage}`:\n{text}");
    }
}

#[test]
fn missing_config_is_a_clear_error_with_nonzero_exit() {
    let out = pipeline()
        .args(["--config", "configs/nope.toml", "train-ann"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read config configs/nope.toml"),
        "{err}"
    );
}

#[test]
fn bench_prints_throughput_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = pipeline()
        .args([
            "bench",
            "--width",
            "0.03125",
            "--batch",
            "2",
            "--timesteps",
            "2",
            "--iters",
            "1",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "ann_train_step",
        "snn_inference",
        "stbp_train_step",
        "synthesis_iter_batch1",
        "synthesis_iter_batched",
    ] {
        assert!(text.contains(name) && text.contains("img/s"), "{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bench.json")).unwrap())
            .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 5);
    assert!(json[0]["images_per_s"].as_f64().unwrap() > 0.0);
}
