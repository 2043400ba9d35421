//! `train-ann`: the VGG ANN trained on the real training set with
//! burn-train's `Learner` (SGD with momentum and weight decay, a multi-step
//! learning rate), checkpointed after every epoch and resumed from the newest
//! complete checkpoint. Writes `ann.bpk` (+ sidecar), `train-ann.json` and,
//! last, `ann.provenance.json`.

mod checkpoint;
mod classifier;
mod renderer;
mod schedule;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::train::checkpoint::KeepLastNCheckpoints;
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::{Learner, SupervisedTraining};
use privatesnn_data::{ImageBatcher, Split};
use privatesnn_models::io as model_io;
use privatesnn_models::sgd::FusedSgd;
use serde_json::Value;

use crate::artifacts::Artifact;
use crate::common::{autodiff, write_json};
use crate::context::Ctx;
use crate::{datasets, saved};

pub use checkpoint::{AtomicCheckpointer, latest_checkpoint};
pub use classifier::Classifier;
pub use renderer::{EpochMetrics, TrainReport};

/// Train the ANN unless `ann.bpk` is up to date; print its test accuracy.
pub fn run(ctx: &Ctx) -> Result<()> {
    if ctx.up_to_date(Artifact::Ann)? {
        return Ok(());
    }
    // An imported ANN is not retrained behind the user's back.
    if let Some(import) =
        crate::provenance::made_by(&ctx.art, Artifact::Ann).filter(|m| m.starts_with("import-ann"))
        && !ctx.force
    {
        bail!(
            "{} was imported (`{import}`) and is out of date (see above); run that import \
             again, or pass --force to train an ANN on the real data instead",
            ctx.art.ann().display()
        );
    }
    ctx.begin(Artifact::Ann)?;
    let acc = train(ctx).context("train-ann")?;
    ctx.finish(Artifact::Ann)?;
    println!("ANN test accuracy: {acc:.2}%");
    Ok(())
}

/// The settings checkpoints must share to be resumed: those of `ann.bpk`.
fn settings(ctx: &Ctx) -> Result<Value> {
    let map: serde_json::Map<String, Value> =
        Artifact::Ann.config_values(&ctx.exp)?.into_iter().collect();
    Ok(Value::Object(map))
}

/// Resume from the newest complete checkpoint if it was made with the same
/// settings; refuse mixed ones with a message.
fn resume_point(ctx: &Ctx, settings: &Value) -> Result<Option<usize>> {
    let art = &ctx.art;
    let settings_path = art.train_settings();
    let Some(epoch) = latest_checkpoint(&art.checkpoint_dir()) else {
        write_json(&settings_path, settings)?;
        return Ok(None);
    };
    let text = std::fs::read_to_string(&settings_path);
    let old: Value = match text.as_deref().map(serde_json::from_str::<Value>) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => bail!(
            "{} is corrupt ({e}), so the checkpoints in {} cannot be matched to a config; \
             delete {} to train from scratch",
            settings_path.display(),
            art.checkpoint_dir().display(),
            art.train_dir().display()
        ),
        Err(e) => bail!(
            "{} cannot be read ({e}), so the checkpoints in {} cannot be matched to a config; \
             delete {} to train from scratch",
            settings_path.display(),
            art.checkpoint_dir().display(),
            art.train_dir().display()
        ),
    };
    if &old != settings {
        let changed: Vec<String> = match (&old, settings) {
            (Value::Object(a), Value::Object(b)) => b
                .keys()
                .filter(|k| a.get(*k) != b.get(*k))
                .map(|k| format!("[{k}]"))
                .collect(),
            _ => vec!["the settings".into()],
        };
        bail!(
            "the checkpoints in {} were made with other settings ({} differ; see {}); \
             pass --force to discard them and train from scratch, or choose another --out",
            art.checkpoint_dir().display(),
            changed.join(", "),
            settings_path.display()
        );
    }
    Ok(Some(epoch))
}

/// Train the ANN of `ctx` on its real data; returns the final test accuracy (%).
pub fn train(ctx: &Ctx) -> Result<f64> {
    let (exp, device, art) = (&ctx.exp, &ctx.device, &ctx.art);
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
    let settings = settings(ctx)?;
    if ctx.force {
        // --force: train again from scratch, not from the old checkpoints.
        match std::fs::remove_dir_all(art.train_dir()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", art.train_dir().display()));
            }
            _ => {}
        }
    }
    let resume = resume_point(ctx, &settings)?;
    let mut report: TrainReport = match (resume, std::fs::read_to_string(art.train_report())) {
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
                "checkpoint of epoch {e} already finishes the {} epochs: nothing to train",
                t.epochs
            );
        }
    }

    device.seed(exp.seed);
    let train_device = autodiff(device);
    let steps = train.len().div_ceil(t.batch_size);
    let batcher_train =
        ImageBatcher::for_set(&train).with_augment(exp.data.crop_pad, exp.data.flip, exp.seed);
    let loader_train = DataLoaderBuilder::new(batcher_train)
        .batch_size(t.batch_size)
        .shuffle(exp.seed)
        .num_workers(exp.data.num_workers)
        .set_device(train_device.clone())
        .build(train);
    let loader_test = DataLoaderBuilder::new(ImageBatcher::for_set(&test))
        .batch_size(t.batch_size)
        .num_workers(exp.data.num_workers)
        .set_device(device.clone())
        .build(test.clone());

    let model = Classifier {
        net: exp.model.init(&train_device),
    };
    // Burn's SGD to the bit, one pass per parameter on the CPU backends.
    let optim: ModuleOptimizer = FusedSgd::new(
        Some(MomentumConfig::new().with_momentum(t.momentum)),
        Some(WeightDecayConfig::new(t.weight_decay as f32)),
    )
    .into();
    let scheduler = schedule::multi_step(t.lr, t.lr_gamma, &t.lr_milestones, t.epochs * steps)?;
    let learner = Learner::new(model, optim, scheduler);

    let shared = Arc::new(Mutex::new(renderer::Shared {
        report,
        path: art.train_report(),
        names: HashMap::new(),
        current: EpochMetrics::default(),
        started: Instant::now(),
        diverged: None,
    }));
    let ckpt_dir = art.checkpoint_dir();
    let mut training = SupervisedTraining::new(art.train_dir(), loader_train, loader_test)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .metric_train_numeric(LearningRateMetric::new())
        .with_custom_checkpointers(
            AtomicCheckpointer::new(&ckpt_dir, "model"),
            AtomicCheckpointer::new(&ckpt_dir, "optim"),
            AtomicCheckpointer::new(&ckpt_dir, "scheduler"),
        )
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(2))
        .with_application_logger(None)
        .num_epochs(t.epochs);
    let interrupter = training.interrupter();
    training = training.renderer(Box::new(renderer::Renderer::new(
        shared.clone(),
        interrupter,
        t.epochs,
    )));
    if let Some(e) = resume {
        eprintln!(
            "resuming from checkpoint of epoch {e} in {}",
            ckpt_dir.display()
        );
        training = training.checkpoint(e);
    }
    let result = training.launch(learner);
    let diverged = shared.lock().expect("renderer lock").diverged.clone();
    if let Some(why) = diverged {
        // The checkpoints may hold the diverged weights: never resume from them.
        let _ = std::fs::remove_dir_all(art.train_dir());
        bail!(
            "training diverged: {why}; nothing was saved and the checkpoints were removed \
             (lower [train] lr, or check weight_decay and the data)"
        );
    }
    if let Some(err) = result.error {
        bail!("training failed: {err}");
    }
    if let Some(stop) = result.interrupted {
        bail!("training was interrupted: {:?}", stop.reason);
    }
    let net = result.model.net.fork(device);
    model_io::save_ann(&net, &exp.model, &art.ann())?;
    let (acc, _) = saved::ann_accuracy(&net, &test, t.batch_size, device);
    let mut s = shared.lock().expect("renderer lock");
    s.report.final_test_acc = Some(acc);
    write_json(&art.train_report(), &s.report)?;
    eprintln!(
        "saved {}; report {}",
        art.ann().display(),
        art.train_report().display()
    );
    Ok(acc)
}
