//! The terminal renderer of `train-ann`: a progress bar per split with the
//! running loss and accuracy, one line per epoch, `train-ann.json` kept
//! current, and a stop on a non-finite loss.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::train::Interrupter;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::common::write_json;

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
    /// Set when the ANN was imported (`import-ann`) rather than trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<crate::stages::import_ann::Imported>,
}

/// State shared between the renderer (owned by the learner) and the stage.
pub struct Shared {
    /// The report, kept current on disk.
    pub report: TrainReport,
    /// Where it is written.
    pub path: PathBuf,
    /// Metric names by id.
    pub names: HashMap<MetricId, String>,
    /// The epoch being trained.
    pub current: EpochMetrics,
    /// When the epoch started.
    pub started: Instant,
    /// Set when a non-finite loss stopped training.
    pub diverged: Option<String>,
}

/// A terminal renderer: a progress bar per split with the running loss and
/// accuracy, one summary line per epoch, and the report file kept current.
///
/// A non-finite training loss stops training through the learner's
/// [`Interrupter`] and is recorded in [`Shared::diverged`].
pub struct Renderer {
    shared: Arc<Mutex<Shared>>,
    interrupter: Interrupter,
    bar: Option<ProgressBar>,
    epoch: usize,
    total_epochs: usize,
    split: String,
    running: HashMap<String, f64>,
}

impl Renderer {
    /// A renderer writing into `shared`, stopping `interrupter` on divergence.
    pub fn new(shared: Arc<Mutex<Shared>>, interrupter: Interrupter, total_epochs: usize) -> Self {
        Self {
            shared,
            interrupter,
            bar: None,
            epoch: 1,
            total_epochs,
            split: String::new(),
            running: HashMap::new(),
        }
    }

    fn record(&mut self, state: MetricState, valid: bool) {
        let MetricState::Numeric(entry, Some(value)) = state else {
            return;
        };
        let mut s = self.shared.lock().expect("renderer lock");
        let Some(name) = s.names.get(&entry.metric_id).cloned() else {
            return;
        };
        let v = value.current();
        if name == "Loss" && !v.is_finite() {
            let why = format!(
                "the {} loss became {v} in epoch {}",
                if valid { "test" } else { "training" },
                self.epoch
            );
            if s.diverged.is_none() {
                s.diverged = Some(why.clone());
            }
            drop(s);
            self.interrupter.stop(Some(&why));
            return;
        }
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
        if let Err(e) = write_json(&s.path, &s.report) {
            eprintln!("warning: {e:#}");
        }
    }
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
        let bar = crate::common::bar(
            total_items,
            &format!("epoch {}/{} {split}", self.epoch, self.total_epochs),
        );
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
