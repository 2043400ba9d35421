//! Helpers shared by the pipeline's end-to-end tests: a small
//! Fashion-MNIST-format data set written as IDX files, a small config, and
//! running the binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn pipeline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
}

pub fn idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Class `c` is a bright vertical band at columns `2c+4..2c+6` over noise.
pub fn write_split(dir: &Path, prefix: &str, n: usize, seed: u32) {
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

pub fn config(dir: &Path, data: &Path, epochs: usize) -> PathBuf {
    config_with(dir, data, epochs, |t| t)
}

/// [`config`] with its text passed through `edit` (e.g. a `replace`).
pub fn config_with(
    dir: &Path,
    data: &Path,
    epochs: usize,
    edit: impl Fn(String) -> String,
) -> PathBuf {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("cfg{epochs}-{n}.toml"));
    std::fs::write(
        &path,
        edit(format!(
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
[encryption]
timesteps = 6
epochs = 2
batch_size = 8
lr = 1e-3
sweep_samples = [10, 20, 999]
[evaluate]
timesteps = [6, 20, 40, 80]
test_images = 200
real_images = 100
batch_size = 50
[attack]
seeds = [0, 1]
iterations = 8
snn_iterations = 3
snn_timesteps = 4
baseline = false
fid_images = 100
batch_size = 50
judge_width = 4
judge_epochs = 1
judge_batch_size = 50
[energy]
timesteps = 20
real_timesteps = 40
"#,
            data.display()
        )),
    )
    .unwrap();
    path
}

pub fn data_dir(root: &Path, n_train: usize) -> PathBuf {
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_split(&data, "train", n_train, 1);
    write_split(&data, "t10k", 200, 2);
    data
}

pub fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The stderr of a run that must fail.
pub fn fails(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

pub fn accuracy(stdout: &str) -> f64 {
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
pub fn stage(cfg: &Path, out: &Path, stage: &str) -> Command {
    let mut c = pipeline();
    c.arg("--config").arg(cfg).arg("--out").arg(out).arg(stage);
    c
}

/// `pipeline --config <cfg> --out <out> <args...>`, run to completion.
pub fn run_args(cfg: &Path, out: &Path, args: &[&str]) -> Output {
    let mut c = pipeline();
    c.arg("--config").arg(cfg).arg("--out").arg(out).args(args);
    c.output().unwrap()
}

/// The stderr of a finished run that must have succeeded.
pub fn ok_stderr(out: &Output) -> String {
    ok(out);
    String::from_utf8_lossy(&out.stderr).to_string()
}

pub fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("train-ann.json")).unwrap()).unwrap()
}

/// A JSON file the run wrote.
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
