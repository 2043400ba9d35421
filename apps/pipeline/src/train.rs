//! `train-ann`: the VGG ANN trained with burn-train's `Learner`, and
//! `evaluate` of a saved ANN.
//!
//! Checkpoints (model, optimizer, scheduler) are written atomically after
//! every epoch into `<out>/train-ann/checkpoint/`; a new run of the same
//! command resumes from the newest complete one. Per-epoch metrics go to
//! `<out>/train-ann.json` as they arrive; the final model to `<out>/ann.bpk`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::OptimizerRecord;
use burn::optim::SgdConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::momentum::MomentumConfig;
use burn::store::ModuleRecord;
use burn::tensor::{Device, Int, Tensor};
use burn::train::checkpoint::{Checkpoint, Checkpointer, CheckpointerError, KeepLastNCheckpoints};
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{
    AccuracyMetric, LearningRateMetric, LossMetric, MetricDefinition, MetricId,
};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use burn::train::{
    ClassificationOutput, InferenceStep, Learner, SupervisedTraining, TrainOutput, TrainStep,
};
use indicatif::{ProgressBar, ProgressStyle};
use privatesnn_data::{ImageBatch, ImageBatcher, ImageSet, Split, batch};
use privatesnn_models::{Vgg, VggConfig, io as model_io};
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::datasets;

/// The ANN as a burn-train model: forward + cross-entropy.
#[derive(Module, Debug)]
pub struct Classifier {
    /// The network.
    pub net: Vgg,
}

impl Classifier {
    fn forward_classification(&self, batch: ImageBatch) -> ClassificationOutput {
        let logits = self.net.forward(batch.images);
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl TrainStep for Classifier {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        let item = self.forward_classification(batch);
        TrainOutput::new(self, item.loss.backward(), item)
    }
}

impl InferenceStep for Classifier {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}

/// Learning rate `lr * gamma^k` after the `k`-th milestone (in iterations):
/// PyTorch's `MultiStepLR`, stepped once per batch.
#[derive(Clone, Debug)]
pub struct MultiStepLr {
    lr: f64,
    gamma: f64,
    milestones: Vec<usize>,
    iter: usize,
}

impl MultiStepLr {
    /// Milestones given as fractions of the whole run (`epochs` epochs of
    /// `steps_per_epoch` batches), rounded to the nearest iteration.
    pub fn new(
        lr: f64,
        gamma: f64,
        fractions: &[f64],
        epochs: usize,
        steps_per_epoch: usize,
    ) -> Self {
        let milestones = fractions
            .iter()
            .map(|f| (f * (epochs * steps_per_epoch) as f64).round() as usize)
            .collect();
        Self {
            lr,
            gamma,
            milestones,
            iter: 0,
        }
    }

    /// The learning rate at iteration `iter` (0-based).
    pub fn lr_at(&self, iter: usize) -> f64 {
        let k = self.milestones.iter().filter(|&&m| iter >= m).count();
        self.lr * self.gamma.powi(k as i32)
    }
}

impl LrScheduler for MultiStepLr {
    fn step(&mut self) -> f64 {
        let lr = self.lr_at(self.iter);
        self.iter += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar("iter", self.iter as i64)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(i) = record.scalar::<i64>("iter") {
            self.iter = i.max(0) as usize;
        }
    }
}

/// A file checkpointer that writes `<name>-<epoch>.bpk` through a `.part`
/// file and a rename, so a checkpoint on disk is always complete.
#[derive(Clone, Debug)]
pub struct AtomicCheckpointer {
    dir: PathBuf,
    name: &'static str,
}

impl AtomicCheckpointer {
    fn new(dir: &Path, name: &'static str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            name,
        }
    }

    fn path(&self, epoch: usize) -> PathBuf {
        self.dir.join(format!("{}-{epoch}.bpk", self.name))
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicCheckpointer {
    fn save(&self, epoch: usize, record: R) -> Result<(), CheckpointerError> {
        std::fs::create_dir_all(&self.dir).map_err(CheckpointerError::IOError)?;
        let dst = self.path(epoch);
        let part = self.dir.join(format!("{}-{epoch}.bpk.part", self.name));
        record.save(part.clone())?;
        std::fs::rename(&part, &dst).map_err(CheckpointerError::IOError)
    }

    fn restore(&self, epoch: usize) -> Result<R, CheckpointerError> {
        R::load(self.path(epoch))
    }

    fn delete(&self, epoch: usize) -> Result<(), CheckpointerError> {
        match std::fs::remove_file(self.path(epoch)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(CheckpointerError::IOError(e))
            }
            _ => Ok(()),
        }
    }
}

/// The newest epoch whose three checkpoint files all load.
fn latest_checkpoint(dir: &Path) -> Option<usize> {
    let mut epochs: Vec<usize> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".bpk")?
                .parse()
                .ok()
        })
        .collect();
    epochs.sort_unstable_by(|a, b| b.cmp(a));
    epochs.into_iter().find(|&e| {
        let p = |n: &str| dir.join(format!("{n}-{e}.bpk"));
        ModuleRecord::load(p("model")).is_ok()
            && OptimizerRecord::load(p("optim")).is_ok()
            && LrSchedulerRecord::load(p("scheduler")).is_ok()
    })
}

/// Metrics of one epoch.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct EpochMetrics {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy, percent.
    pub train_acc: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Test accuracy, percent.
    pub test_acc: f64,
    /// Learning rate at the end of the epoch.
    pub lr: f64,
    /// Wall seconds of the epoch (train + test).
    pub seconds: f64,
}

/// What `train-ann` writes to `<out>/train-ann.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrainReport {
    /// Device the run used.
    pub device: String,
    /// Training and test images.
    pub train_images: usize,
    /// Test images.
    pub test_images: usize,
    /// One entry per finished epoch (kept across resumes).
    pub epochs: Vec<EpochMetrics>,
    /// Test accuracy of the final model, percent.
    pub final_test_acc: Option<f64>,
}

struct Shared {
    report: TrainReport,
    path: PathBuf,
    names: HashMap<MetricId, String>,
    current: EpochMetrics,
    started: Instant,
}

/// A terminal renderer: a progress bar per split with the running loss and
/// accuracy, one summary line per epoch, and the report file kept current.
struct Renderer {
    shared: Arc<Mutex<Shared>>,
    bar: Option<ProgressBar>,
    epoch: usize,
    total_epochs: usize,
    split: String,
    running: HashMap<String, f64>,
}

impl Renderer {
    fn record(&mut self, state: MetricState, valid: bool) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let mut s = self.shared.lock().expect("renderer lock");
        let Some(name) = s.names.get(&entry.metric_id).cloned() else {
            return;
        };
        let v = value.current();
        if let burn::train::metric::NumericEntry::Final(v) = value {
            let m = &mut s.current;
            match (name.as_str(), valid) {
                ("Loss", false) => m.train_loss = v,
                ("Accuracy", false) => m.train_acc = v,
                ("Loss", true) => m.test_loss = v,
                ("Accuracy", true) => m.test_acc = v,
                ("Learning Rate", false) => m.lr = v,
                _ => {}
            }
        } else {
            drop(s);
            self.running.insert(name, v);
            if let Some(bar) = &self.bar {
                let get = |k: &str| self.running.get(k).copied().unwrap_or(f64::NAN);
                bar.set_message(format!(
                    "loss {:.4} acc {:.2}%",
                    get("Loss"),
                    get("Accuracy")
                ));
            }
        }
    }

    fn finish_epoch(&mut self) {
        let mut s = self.shared.lock().expect("renderer lock");
        let mut m = std::mem::take(&mut s.current);
        m.epoch = self.epoch;
        m.seconds = s.started.elapsed().as_secs_f64();
        s.started = Instant::now();
        eprintln!(
            "epoch {}/{}: train loss {:.4} acc {:.2}% | test loss {:.4} acc {:.2}% | lr {:.2e} | {:.0}s",
            m.epoch,
            self.total_epochs,
            m.train_loss,
            m.train_acc,
            m.test_loss,
            m.test_acc,
            m.lr,
            m.seconds
        );
        s.report.epochs.retain(|e| e.epoch < m.epoch);
        s.report.epochs.push(m);
        if let Err(e) = write_report(&s.path, &s.report) {
            eprintln!("warning: {e:#}");
        }
    }
}

fn write_report<T: Serialize>(path: &Path, report: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    model_io::atomic_write(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

impl MetricsRendererTraining for Renderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(state, false);
    }
    fn update_valid(&mut self, state: MetricState) {
        self.record(state, true);
    }
}

impl MetricsRendererEvaluation for Renderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl TrainingProgressLogger for Renderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.total_epochs = total_epochs;
        self.epoch = starting_epoch.max(1);
        if starting_epoch > 1 && starting_epoch <= total_epochs {
            eprintln!("resuming at epoch {starting_epoch}/{total_epochs}");
        }
    }
    fn update_epoch(&mut self, _epoch: usize) {}
    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_string();
        self.running.clear();
        let bar = ProgressBar::new(total_items as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(format!(
            "epoch {}/{} {split}",
            self.epoch, self.total_epochs
        ));
        self.bar = Some(bar);
    }
    fn update_split(&mut self, items_processed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(items_processed as u64);
        }
    }
    fn end_split(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.split.to_lowercase().starts_with("valid") {
            self.finish_epoch();
            self.epoch += 1;
        }
    }
    fn end(&mut self) {}
    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for Renderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRenderer for Renderer {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, definition: MetricDefinition) {
        let mut s = self.shared.lock().expect("renderer lock");
        s.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }
}

/// Train the ANN of `exp` on its real data; returns the final test accuracy (%).
pub fn train_ann(exp: &ExperimentConfig, device: &Device, out: &Path) -> Result<f64> {
    let t = &exp.train;
    let train = datasets::load(exp, Split::Train)?;
    let test = datasets::load(exp, Split::Test)?;
    eprintln!(
        "train-ann: {} train / {} test images of {}x{}x{}, {} epochs, batch {}",
        train.len(),
        test.len(),
        train.channels,
        train.height,
        train.width,
        t.epochs,
        t.batch_size
    );
    let dir = out.join("train-ann");
    let ckpt_dir = dir.join("checkpoint");
    // Checkpoints only fit the settings they were made with: refuse to mix.
    let d = &exp.data;
    let settings = serde_json::json!({
        "model": exp.model,
        "train": exp.train,
        "data": {
            "dataset": d.dataset,
            "train_limit": d.train_limit,
            "test_limit": d.test_limit,
            "crop_pad": d.crop_pad,
            "flip": d.flip,
        },
        "seed": exp.seed,
    });
    let settings_path = dir.join("settings.json");
    let resume = latest_checkpoint(&ckpt_dir);
    if resume.is_some() {
        let old: Option<serde_json::Value> = std::fs::read_to_string(&settings_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if old.as_ref() != Some(&settings) {
            bail!(
                "the checkpoints in {} were made with other [model]/[train]/[data] settings \
                 (see {}); delete that directory or choose another --out",
                ckpt_dir.display(),
                settings_path.display()
            );
        }
    } else {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write_report(&settings_path, &settings)?;
    }
    let report_path = out.join("train-ann.json");
    let mut report: TrainReport = match (resume, std::fs::read_to_string(&report_path)) {
        (Some(_), Ok(text)) => serde_json::from_str(&text).unwrap_or_default(),
        _ => TrainReport::default(),
    };
    report.device = format!("{device:?}");
    report.train_images = train.len();
    report.test_images = test.len();
    report.final_test_acc = None;
    if let Some(e) = resume {
        report.epochs.retain(|m| m.epoch <= e);
        if e >= t.epochs {
            eprintln!(
                "checkpoint of epoch {e} already finishes the {} epochs: nothing to train \
                 (delete {} to train again)",
                t.epochs,
                dir.display()
            );
        }
    }

    device.seed(exp.seed);
    let train_device = if device.is_autodiff() {
        device.clone()
    } else {
        device.clone().autodiff()
    };
    let steps = train.len().div_ceil(t.batch_size);
    let batcher_train =
        ImageBatcher::for_set(&train).with_augment(exp.data.crop_pad, exp.data.flip, exp.seed);
    let batcher_test = ImageBatcher::for_set(&test);
    let loader_train = DataLoaderBuilder::new(batcher_train)
        .batch_size(t.batch_size)
        .shuffle(exp.seed)
        .num_workers(exp.data.num_workers)
        .set_device(train_device.clone())
        .build(train);
    let loader_test = DataLoaderBuilder::new(batcher_test)
        .batch_size(t.batch_size)
        .num_workers(exp.data.num_workers)
        .set_device(device.clone())
        .build(test.clone());

    let model = Classifier {
        net: exp.model.init(&train_device),
    };
    let optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(t.momentum)))
        .with_weight_decay(Some(WeightDecayConfig::new(t.weight_decay as f32)))
        .init();
    let scheduler = MultiStepLr::new(t.lr, t.lr_gamma, &t.lr_milestones, t.epochs, steps);
    let learner = Learner::new(model, optim, scheduler);

    let shared = Arc::new(Mutex::new(Shared {
        report,
        path: report_path.clone(),
        names: HashMap::new(),
        current: EpochMetrics::default(),
        started: Instant::now(),
    }));
    let renderer = Renderer {
        shared: shared.clone(),
        bar: None,
        epoch: 1,
        total_epochs: t.epochs,
        split: String::new(),
        running: HashMap::new(),
    };
    let mut training = SupervisedTraining::new(&dir, loader_train, loader_test)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .metric_train_numeric(LearningRateMetric::new())
        .with_custom_checkpointers(
            AtomicCheckpointer::new(&ckpt_dir, "model"),
            AtomicCheckpointer::new(&ckpt_dir, "optim"),
            AtomicCheckpointer::new(&ckpt_dir, "scheduler"),
        )
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(2))
        .renderer(Box::new(renderer))
        .with_application_logger(None)
        .num_epochs(t.epochs);
    if let Some(e) = resume {
        eprintln!(
            "resuming from checkpoint of epoch {e} in {}",
            ckpt_dir.display()
        );
        training = training.checkpoint(e);
    }
    let result = training.launch(learner);
    if let Some(err) = result.error {
        bail!("training failed: {err}");
    }
    let net = result.model.net.fork(device);
    let ann_path = out.join("ann.bpk");
    model_io::save_ann(&net, &exp.model, &ann_path)?;
    let (acc, _) = evaluate_ann(&net, &test, t.batch_size, device);
    let mut s = shared.lock().expect("renderer lock");
    s.report.final_test_acc = Some(acc);
    write_report(&report_path, &s.report)?;
    eprintln!(
        "saved {}; report {}",
        ann_path.display(),
        report_path.display()
    );
    Ok(acc)
}

/// Test accuracy (%) and mean cross-entropy of `net` on `set`.
pub fn evaluate_ann(net: &Vgg, set: &ImageSet, batch_size: usize, device: &Device) -> (f64, f64) {
    let mut correct = 0usize;
    let mut loss_sum = 0.0f64;
    let indices: Vec<usize> = (0..set.len()).collect();
    let ce = CrossEntropyLossConfig::new().init(device);
    for chunk in indices.chunks(batch_size.max(1)) {
        let (x, y): (Tensor<4>, Tensor<1, Int>) = batch(set, chunk, None, device);
        let logits = net.forward(x);
        let loss = ce.forward(logits.clone(), y.clone()).into_scalar::<f32>() as f64;
        loss_sum += loss * chunk.len() as f64;
        let pred = logits.argmax(1).reshape([chunk.len()]);
        let hits = pred.equal(y).int().sum().into_scalar::<i64>();
        correct += hits as usize;
    }
    let n = set.len().max(1) as f64;
    (100.0 * correct as f64 / n, loss_sum / n)
}

/// Check that a saved network takes the inputs and classes of `[model]`
/// (the data are prepared for `[model]`; another input shape would not fit).
pub fn check_compatible(saved: &VggConfig, exp: &ExperimentConfig, path: &Path) -> Result<()> {
    let m = &exp.model;
    if (saved.in_channels, saved.image_size, saved.num_classes)
        != (m.in_channels, m.image_size, m.num_classes)
    {
        bail!(
            "{} takes {}x{}x{} images and {} classes, but [model] says {}x{}x{} and {}; \
             use the config it was made with, or another --out",
            path.display(),
            saved.in_channels,
            saved.image_size,
            saved.image_size,
            saved.num_classes,
            m.in_channels,
            m.image_size,
            m.image_size,
            m.num_classes
        );
    }
    if saved != m {
        eprintln!(
            "note: {} was made with a different [model] than the config's",
            path.display()
        );
    }
    Ok(())
}

/// Load `<out>/ann.bpk`, checked against `[model]`.
pub fn load_saved_ann(
    exp: &ExperimentConfig,
    out: &Path,
    device: &Device,
) -> Result<(Vgg, VggConfig)> {
    let path = out.join("ann.bpk");
    if !path.exists() {
        bail!(
            "{} not found; run `pipeline train-ann` first",
            path.display()
        );
    }
    let (net, config) = model_io::load_ann(&path, device)?;
    check_compatible(&config, exp, &path)?;
    Ok((net, config))
}

/// Load `<out>/ann.bpk` and report its test accuracy.
pub fn evaluate_saved(exp: &ExperimentConfig, device: &Device, out: &Path) -> Result<f64> {
    let (net, _) = load_saved_ann(exp, out, device)?;
    let test = datasets::load(exp, Split::Test)?;
    let (acc, loss) = evaluate_ann(&net, &test, exp.train.batch_size, device);
    eprintln!(
        "ANN test accuracy {acc:.2}% (loss {loss:.4}) on {} images",
        test.len()
    );
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistep_lr_follows_the_milestones() {
        let mut s = MultiStepLr::new(0.1, 0.1, &[0.5, 0.75], 4, 10);
        let lrs: Vec<f64> = (0..40).map(|_| s.step()).collect();
        assert!((lrs[0] - 0.1).abs() < 1e-12 && (lrs[19] - 0.1).abs() < 1e-12);
        assert!((lrs[20] - 0.01).abs() < 1e-12 && (lrs[29] - 0.01).abs() < 1e-12);
        assert!((lrs[30] - 0.001).abs() < 1e-12);
        // State survives a record round trip.
        let mut t = MultiStepLr::new(0.1, 0.1, &[0.5, 0.75], 4, 10);
        t.load_record(s.to_record());
        assert!((t.step() - 0.001).abs() < 1e-12);
    }

    #[test]
    fn latest_checkpoint_skips_incomplete_ones() {
        let dir = tempfile::tempdir().unwrap();
        let device = Device::flex();
        let model = Classifier {
            net: VggConfig::vgg16(1, 32, 10)
                .with_width(0.0625)
                .with_hidden(8)
                .init(&device),
        };
        let c = AtomicCheckpointer::new(dir.path(), "model");
        Checkpointer::<ModuleRecord>::save(&c, 1, model.clone().into_record()).unwrap();
        let o = AtomicCheckpointer::new(dir.path(), "optim");
        let mopt = SgdConfig::new().init();
        Checkpointer::<OptimizerRecord>::save(&o, 1, mopt.to_record()).unwrap();
        let s = AtomicCheckpointer::new(dir.path(), "scheduler");
        let sched = MultiStepLr::new(0.1, 0.1, &[0.5], 2, 2);
        Checkpointer::<LrSchedulerRecord>::save(&s, 1, sched.to_record()).unwrap();
        assert_eq!(latest_checkpoint(dir.path()), Some(1));
        // Epoch 2: the model file is truncated (a crash mid-write without rename).
        std::fs::write(dir.path().join("model-2.bpk"), b"trunc").unwrap();
        std::fs::copy(
            dir.path().join("optim-1.bpk"),
            dir.path().join("optim-2.bpk"),
        )
        .unwrap();
        std::fs::copy(
            dir.path().join("scheduler-1.bpk"),
            dir.path().join("scheduler-2.bpk"),
        )
        .unwrap();
        assert_eq!(latest_checkpoint(dir.path()), Some(1));
        assert!(!dir.path().join("model-1.bpk.part").exists());
    }
}
