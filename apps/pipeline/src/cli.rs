//! Raw command-line arguments (validated into a run configuration in `run`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::device::DeviceArg;

/// PrivateSNN: data-free ANN-to-SNN conversion and weight "encryption" against
/// class leakage (Kim, Venkatesha, Panda, AAAI 2022).
///
/// Without a subcommand, runs every stage in order with the given config.
/// Every stage skips an output that is up to date (made from the same config
/// and inputs, recorded in `<name>.provenance.json`) and remakes one that is not.
#[derive(Parser, Debug)]
#[command(name = "pipeline", version, about, long_about = None)]
pub struct Cli {
    /// Experiment config (TOML; default configs/quick.toml); missing fields take their defaults.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Compute device: flex (CPU, default), ndarray (CPU, deprecated upstream), wgpu (GPU).
    #[arg(long, global = true, value_enum, default_value_t = DeviceArg::Flex)]
    pub device: DeviceArg,
    /// Output directory (default: runs/<config name>).
    #[arg(long, global = true)]
    pub out: Option<PathBuf>,
    /// Remake the stage's outputs even when they are up to date.
    #[arg(long, global = true)]
    pub force: bool,
    /// The stage to run.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// One stage of the experiment.
#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Every stage in order (the same as no subcommand): train-ann, synthesize, convert
    /// (both), encrypt, evaluate --snn, attack, energy; up-to-date outputs are reused.
    Run,
    /// Train the VGG ANN on the real training set.
    /// Reads: the data set. Writes: <out>/ann.bpk (+ .json), checkpoints, metrics.
    TrainAnn,
    /// Generate class-similarity Dirichlet impressions from the trained ANN (data-free).
    /// Reads: <out>/ann.bpk. Writes: <out>/synthetic/ (PNGs + labels), a PNG grid.
    Synthesize,
    /// Convert the ANN to an SNN by threshold balancing on synthetic or real data.
    /// Reads: <out>/ann.bpk, <out>/synthetic/ or the real training set.
    /// Writes: <out>/snn-synthetic.bpk, <out>/snn-real.bpk (+ .json), convert-*.json.
    Convert(ConvertArgs),
    /// Report the test accuracy of a saved ANN, or of the SNNs over a list of timesteps.
    /// Reads: <out>/ann.bpk or every <out>/snn-*.bpk (all must be up to date) and the test set.
    /// Writes: <out>/snn-accuracy.json, snn-accuracy.png, snn-accuracy.md (with --snn).
    Evaluate(EvaluateArgs),
    /// Train the data-free SNN on the synthetic images with STBP ("encryption").
    /// Reads: <out>/ann.bpk, <out>/snn-synthetic.bpk, <out>/synthetic/.
    /// Writes: <out>/snn-encrypted.bpk (+ .json), encrypt.json, checkpoints in encrypt/;
    /// with --sweep, encrypt-sweep.json and .png (Fig. 5).
    Encrypt(EncryptArgs),
    /// Class-leakage attacks 1 and 2 on the converted and encrypted SNNs, scored by FID
    /// against the real test set and by a judge classifier (trained once on the real data).
    /// Reads: <out>/snn-synthetic.bpk, snn-encrypted.bpk (snn-real.bpk with `[attack] baseline`),
    /// the data set. Writes: <out>/judge.bpk (+ .json), attack.json, attack.md, attack-grid.png.
    Attack,
    /// Spike rates and the energy estimate of the ANN and every SNN (Table 4, Fig. 7).
    /// Reads: <out>/ann.bpk, every <out>/snn-*.bpk, the test set.
    /// Writes: <out>/energy.json, energy.md, energy-spikes.png.
    Energy,
    /// Import a VGG trained in PyTorch (a state dict: .pt/.pth or .safetensors, in the
    /// PrivateSNN code's or torchvision's layout) as this run's ANN, checked against
    /// `[model]`, with its test accuracy. Every later stage then runs on it.
    /// Reads: --from, the test set. Writes: <out>/ann.bpk (+ .json), train-ann.json.
    ImportAnn(ImportArgs),
    /// Export an SNN as a NIR graph (neuromorphic intermediate representation, HDF5)
    /// for snnTorch, Norse, sinabs, Lava, SpiNNaker2 (see the README for the reset).
    /// Reads: <out>/snn-<which>.bpk (up to date). Writes: --to (default <out>/snn-<which>.nir).
    ExportNir(ExportNirArgs),
    /// Measure throughput (images/s) of the heavy paths on the chosen device.
    /// Reads: nothing (random data; no --config: the network is set by the
    /// options below). Writes: stdout and <out>/bench.json (default runs/bench).
    Bench(BenchArgs),
}

/// Which data the thresholds are balanced on.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The synthetic images of `synthesize` (data-free, PrivateSNN).
    Synthetic,
    /// Real training images (the Sengupta et al. baseline).
    Real,
    /// Both, one SNN each.
    Both,
}

impl Source {
    /// The SNNs this choice makes.
    pub fn snns(self) -> Vec<crate::artifacts::SnnSource> {
        use crate::artifacts::SnnSource;
        match self {
            Source::Synthetic => vec![SnnSource::Synthetic],
            Source::Real => vec![SnnSource::Real],
            Source::Both => SnnSource::CONVERTED.to_vec(),
        }
    }
}

/// Arguments of `pipeline convert`.
#[derive(Args, Debug, Clone)]
pub struct ConvertArgs {
    /// Data to balance the thresholds on.
    #[arg(long, value_enum, default_value_t = Source::Both)]
    pub source: Source,
}

/// Arguments of `pipeline evaluate`.
#[derive(Args, Debug, Clone)]
pub struct EvaluateArgs {
    /// Evaluate the converted SNNs over `[evaluate] timesteps` instead of the ANN.
    #[arg(long)]
    pub snn: bool,
}

/// Arguments of `pipeline encrypt`.
#[derive(Args, Debug, Clone)]
pub struct EncryptArgs {
    /// Instead, train once per sample count of `[encryption] sweep_samples`,
    /// with and without distillation, and plot test accuracy against the
    /// number of synthetic samples (paper Fig. 5).
    #[arg(long)]
    pub sweep: bool,
}

/// Arguments of `pipeline import-ann`.
#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// The PyTorch state dict (.pt, .pth, .bin, .ckpt or .safetensors).
    #[arg(long)]
    pub from: PathBuf,
    /// The key the state dict sits under in a checkpoint (e.g. `state_dict`, `model`).
    #[arg(long)]
    pub key: Option<String>,
    /// Batch-norm epsilon of the PyTorch model (folded into the convs).
    #[arg(long, default_value_t = 1e-5)]
    pub bn_eps: f64,
}

/// Which SNN `export-nir` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Converted on synthetic images (data-free).
    Synthetic,
    /// Converted on real images (the baseline).
    Real,
    /// The encrypted SNN.
    Encrypted,
}

/// Arguments of `pipeline export-nir`.
#[derive(Args, Debug, Clone)]
pub struct ExportNirArgs {
    /// The SNN to export.
    #[arg(long, value_enum, default_value_t = Which::Encrypted)]
    pub snn: Which,
    /// The NIR file to write (default: <out>/snn-<which>.nir).
    #[arg(long)]
    pub to: Option<PathBuf>,
}

/// Arguments of `pipeline bench`.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Batch size of every measured step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Timesteps of the SNN inference and the STBP step.
    #[arg(long, default_value_t = 10)]
    pub timesteps: usize,
    /// Timesteps simulated together, layer by layer (`[snn] time_chunk`;
    /// the same spikes for any value, memory against speed).
    #[arg(long, default_value_t = 10)]
    pub time_chunk: usize,
    /// Dropout of the bench's VGG16 (conv sites, fc1) in the ANN and STBP
    /// steps; the paper's recipe is 0.2 / 0.5, the quick config 0 / 0.
    #[arg(long, num_args = 2, value_names = ["CONV", "FC"], default_values_t = [0.2, 0.5])]
    pub dropout: Vec<f64>,
    /// VGG16 width multiplier (1.0 = the paper's VGG16).
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Input channels and size.
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
    /// Input height = width.
    #[arg(long, default_value_t = 32)]
    pub size: usize,
    /// Timed repetitions per measurement (after one warm-up).
    #[arg(long, default_value_t = 3)]
    pub iters: usize,
    /// Measure the STBP step under the memory bound (the chunk-by-chunk
    /// backward) instead; run once with and once without (with `--only stbp`)
    /// to compare the peak memory each prints.
    #[arg(long)]
    pub memory_bound: bool,
    /// Measure only these (repeatable; default all). One part per process
    /// makes the printed peak memory that part's.
    #[arg(long, value_enum)]
    pub only: Vec<BenchPart>,
}

/// A measurement of `pipeline bench`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchPart {
    /// The ANN training step.
    Ann,
    /// SNN inference.
    Snn,
    /// The STBP (encryption) step.
    Stbp,
    /// Synthesis iterations.
    Synthesis,
    /// The event-driven spike convolution against the dense one, per layer
    /// shape and input density (not part of the default set).
    SpikeConv,
}
