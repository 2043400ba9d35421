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

/// A tiny `pipeline bench` into `dir`, plus `extra` options; its stdout.
fn tiny_bench(dir: &std::path::Path, extra: &[&str]) -> String {
    let out = pipeline()
        .args([
            "bench",
            "--width",
            "0.03125",
            "--batch",
            "2",
            "--timesteps",
            "2",
        ])
        .args(["--iters", "1"])
        .args(extra)
        .arg("--out")
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn bench_prints_throughput_and_writes_json() {
    let dir = tempfile::tempdir().unwrap();
    let text = tiny_bench(dir.path(), &[]);
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
    let m = json["measurements"].as_array().unwrap();
    assert_eq!(m.len(), 5);
    assert!(m[0]["images_per_s"].as_f64().unwrap() > 0.0);
    // Linux reports the peak resident memory.
    assert!(json["peak_rss_mib"].as_f64().unwrap() > 0.0);
    // The STBP step under the memory bound (gradient checkpointing).
    // One part alone (its peak memory is then its own).
    let text = tiny_bench(dir.path(), &["--memory-bound", "--only", "stbp"]);
    assert!(text.contains("stbp_train_step_memory_bound"), "{text}");
    assert!(!text.contains("ann_train_step"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bench.json")).unwrap())
            .unwrap();
    assert_eq!(json["measurements"].as_array().unwrap().len(), 1);
}

/// `--time-chunk` and `--dropout` reach the measured network; bad values
/// are refused with a message, not a panic.
#[test]
fn bench_takes_the_time_chunk_and_dropout() {
    let dir = tempfile::tempdir().unwrap();
    let text = tiny_bench(
        dir.path(),
        &[
            "--only",
            "snn",
            "--time-chunk",
            "1",
            "--dropout",
            "0",
            "0.25",
        ],
    );
    assert!(text.contains("time chunk 1 dropout 0/0.25"), "{text}");
    assert!(text.contains("snn_inference"), "{text}");
    for bad in [&["--time-chunk", "0"][..], &["--dropout", "1.5", "0"]] {
        let out = pipeline()
            .args([
                "bench", "--width", "0.03125", "--iters", "1", "--only", "snn",
            ])
            .args(bad)
            .arg("--out")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("time-chunk") || err.contains("dropout"),
            "{bad:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
