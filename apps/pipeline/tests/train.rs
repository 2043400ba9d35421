//! `train-ann`, resume and `evaluate` on a small Fashion-MNIST-format data
//! set the test writes (IDX files), with a small network.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn trains_learns_saves_and_evaluates() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 600);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 3);
    let stdout = ok(&stage(&cfg, &out, "train-ann").output().unwrap());
    let acc = accuracy(&stdout);
    assert!(acc > 80.0, "the band task is easy; got {acc}%");
    assert!(out.join("ann.bpk").is_file() && out.join("ann.json").is_file());
    let r = report(&out);
    let epochs = r["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 3);
    assert_eq!(epochs[2]["epoch"], 3);
    assert!(epochs[0]["train_loss"].as_f64().unwrap() > epochs[2]["train_loss"].as_f64().unwrap());
    assert_eq!(r["final_test_acc"].as_f64().unwrap(), acc);
    // `evaluate` reloads the saved model and gets the same accuracy.
    let stdout = ok(&stage(&cfg, &out, "evaluate").output().unwrap());
    assert!((accuracy(&stdout) - acc).abs() < 1e-9);
    // A config for other inputs is refused with a message, not a shape panic.
    let other = root.path().join("other.toml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("in_channels = 1", "in_channels = 1\nimage_size = 64");
    std::fs::write(&other, text).unwrap();
    let err = fails(&stage(&other, &out, "evaluate").output().unwrap());
    assert!(
        err.contains("ann.bpk is out of date: the config's [model] changed"),
        "{err}"
    );
}

#[test]
fn a_killed_run_resumes_from_its_checkpoint() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 3000);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 4);
    let mut child = stage(&cfg, &out, "train-ann")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The three files of a checkpoint are written concurrently, each through
    // a rename: epoch 1 is complete once all three exist.
    let ckpt = out.join("train-ann/checkpoint");
    let complete = || {
        ["model", "optim", "scheduler"]
            .iter()
            .all(|n| ckpt.join(format!("{n}-1.bpk")).exists())
    };
    let start = Instant::now();
    while !complete() && start.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(complete(), "no checkpoint after the first epoch");
    let resumed = stage(&cfg, &out, "train-ann").output().unwrap();
    ok(&resumed);
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(err.contains("resuming from checkpoint of epoch"), "{err}");
    let epochs: Vec<u64> = report(&out)["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, vec![1, 2, 3, 4]);
    // Checkpoints made with other settings are refused, not silently mixed.
    let other = config(root.path(), &data, 6);
    let refused = stage(&other, &out, "train-ann").output().unwrap();
    let err = fails(&refused);
    assert!(
        err.contains("were made with other settings ([train] differ") && err.contains("--force"),
        "{err}"
    );
    // Only the last two checkpoints are kept.
    assert!(ckpt.join("model-4.bpk").exists() && ckpt.join("model-3.bpk").exists());
    assert!(!ckpt.join("model-1.bpk").exists() && !ckpt.join("optim-2.bpk").exists());
    // No half-written checkpoint is left behind.
    for e in std::fs::read_dir(out.join("train-ann/checkpoint")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        assert!(!name.ends_with(".part"), "{name}");
    }
}

#[test]
fn missing_data_says_how_to_get_it() {
    let root = tempfile::tempdir().unwrap();
    let cfg = config(root.path(), &root.path().join("nowhere"), 1);
    let out = stage(&cfg, &root.path().join("o"), "train-ann")
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("apt-get install -y dataset-fashion-mnist") && err.contains("download = true"),
        "{err}"
    );
}

#[test]
fn synthesize_convert_and_evaluate_the_snn() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 600);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 3);
    ok(&stage(&cfg, &out, "train-ann").output().unwrap());
    let stdout = ok(&stage(&cfg, &out, "synthesize").output().unwrap());
    assert!(stdout.contains("synthesized 20 images"), "{stdout}");
    assert!(out.join("synthetic/labels.csv").is_file() && out.join("synthetic-grid.png").is_file());
    ok(&stage(&cfg, &out, "convert").output().unwrap());
    for src in ["synthetic", "real"] {
        assert!(out.join(format!("snn-{src}.bpk")).is_file(), "{src}");
        let r: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join(format!("convert-{src}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(r["balance"]["thresholds"].as_array().unwrap().len(), 3);
    }
    let stdout = ok(&pipeline()
        .arg("--config")
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .args(["evaluate", "--snn"])
        .output()
        .unwrap());
    assert!(stdout.contains("SNN (synthetic) T = 80"), "{stdout}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("snn-accuracy.json")).unwrap())
            .unwrap();
    let ann = r["ann_accuracy"].as_f64().unwrap();
    for curve in r["snn"].as_array().unwrap() {
        let acc: Vec<f64> = curve[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["accuracy"].as_f64().unwrap())
            .collect();
        assert_eq!(acc.len(), 4, "[evaluate] timesteps = [6, 20, 40, 80]");
        // Accuracy rises with T and approaches the ANN's.
        assert!(acc[3] >= acc[0], "{curve}");
        assert!(acc[3] >= ann - 10.0, "{curve} vs ANN {ann}");
    }
    assert!(
        std::fs::read(out.join("snn-accuracy.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    let md = std::fs::read_to_string(out.join("snn-accuracy.md")).unwrap();
    assert!(
        md.contains("| 80 |") && md.contains("snn-accuracy.png"),
        "{md}"
    );
}

#[test]
fn failed_download_says_how_to_get_the_data() {
    let root = tempfile::tempdir().unwrap();
    let cfg = root.path().join("dl.toml");
    std::fs::write(
        &cfg,
        format!(
            "[model]\nin_channels = 1\n[data]\ndir = \"{}\"\ndownload = true\ncache_dir = \"{}\"\n\
             mirrors = [\"http://127.0.0.1:9/\"]\n",
            root.path().join("nowhere").display(),
            root.path().join("cache").display()
        ),
    )
    .unwrap();
    let out = stage(&cfg, &root.path().join("o"), "train-ann")
        .output()
        .unwrap();
    let err = fails(&out);
    assert!(
        err.contains("could not be downloaded")
            && err.contains("apt-get install -y dataset-fashion-mnist"),
        "{err}"
    );
    // Nothing half-written in the cache.
    let cache = root.path().join("cache/fashion-mnist");
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .map(|d| d.count())
        .into_iter()
        .collect();
    assert!(leftovers.iter().all(|&n| n == 0), "{leftovers:?}");
}
