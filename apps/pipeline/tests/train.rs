//! `train-ann`, resume and `evaluate` on a small Fashion-MNIST-format data
//! set the test writes (IDX files), with a small network.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn pipeline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
}

fn idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Class `c` is a bright vertical band at columns `2c+4..2c+6` over noise.
fn write_split(dir: &Path, prefix: &str, n: usize, seed: u32) {
    let mut pixels = Vec::with_capacity(n * 784);
    let mut labels = Vec::with_capacity(n);
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    for i in 0..n {
        let c = i % 10;
        labels.push(c as u8);
        for _y in 0..28 {
            for x in 0..28 {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let noise = (s % 60) as u8;
                pixels.push(if x >= 2 * c + 4 && x < 2 * c + 6 {
                    200 + noise / 2
                } else {
                    noise
                });
            }
        }
    }
    std::fs::write(
        dir.join(format!("{prefix}-images-idx3-ubyte")),
        idx(&[n, 28, 28], &pixels),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{prefix}-labels-idx1-ubyte")),
        idx(&[n], &labels),
    )
    .unwrap();
}

fn config(dir: &Path, data: &Path, epochs: usize) -> std::path::PathBuf {
    let path = dir.join(format!("cfg{epochs}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"name = "t"
[model]
in_channels = 1
arch = "8,A,16,A"
hidden = 32
[data]
dir = "{}"
crop_pad = 0
flip = false
num_workers = 0
[train]
epochs = {epochs}
batch_size = 32
lr = 0.05
lr_milestones = [0.8]
[synthesis]
per_class = 2
batch_size = 20
iterations = 30
lr = 0.05
[conversion]
timesteps = 30
[evaluate]
timesteps = [5, 20, 80]
test_images = 200
real_images = 100
batch_size = 50
"#,
            data.display()
        ),
    )
    .unwrap();
    path
}

fn data_dir(root: &Path, n_train: usize) -> std::path::PathBuf {
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_split(&data, "train", n_train, 1);
    write_split(&data, "t10k", 200, 2);
    data
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The stderr of a run that must fail.
fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn accuracy(stdout: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.contains("test accuracy"))
        .expect("accuracy line");
    line.rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('%')
        .parse()
        .unwrap()
}

/// `pipeline --config <cfg> --out <out> <stage>`.
fn stage(cfg: &Path, out: &Path, stage: &str) -> Command {
    let mut c = pipeline();
    c.arg("--config").arg(cfg).arg("--out").arg(out).arg(stage);
    c
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("train-ann.json")).unwrap()).unwrap()
}

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
    assert!(err.contains("takes 1x32x32 images and 10 classes"), "{err}");
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
        err.contains("made with other [model]/[train]/[data] settings"),
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
        assert_eq!(acc.len(), 3);
        // Accuracy rises with T and approaches the ANN's.
        assert!(acc[2] >= acc[0], "{curve}");
        assert!(acc[2] >= ann - 10.0, "{curve} vs ANN {ann}");
    }
    assert!(
        std::fs::read(out.join("snn-accuracy.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
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
