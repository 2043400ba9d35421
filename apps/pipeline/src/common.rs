//! Routines every stage shares (one home, like ripgrep's `crates/cli`):
//! atomic JSON and text output, the progress-bar style, the autodiff device,
//! and content hashes.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Write `text` to `path` atomically (temporary sibling, fsync, rename):
/// the workspace's one atomic write, `privatesnn_models::io::atomic_write`.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    privatesnn_models::io::atomic_write(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Write `value` as pretty JSON to `path`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .with_context(|| format!("serializing {}", path.display()))?;
    write_text(path, &text)
}

/// The progress-bar style of every stage: `prefix [=====>   ] pos/len rate eta msg`.
pub fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A progress bar of `len` steps labelled `prefix`.
pub fn bar(len: usize, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(bar_style());
    bar.set_prefix(prefix.to_string());
    bar
}

/// `device` with autodiff (itself if it already has it).
pub fn autodiff(device: &Device) -> Device {
    if device.is_autodiff() {
        device.clone()
    } else {
        device.clone().autodiff()
    }
}

/// Feed a file's bytes into `hasher`.
pub fn hash_file(hasher: &mut Sha256, path: &Path) -> Result<()> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// This process's peak resident memory in MiB (`VmHWM` of
/// `/proc/self/status`; `None` where the system does not report it). On CPU
/// backends it bounds the tensors' memory; GPU memory is reported apart.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
