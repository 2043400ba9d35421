//! The judge of `attack`: a small ResNet trained once on the real training
//! set and cached as `judge.bpk` (a provenance-tracked artifact).

use std::time::Instant;

use anyhow::{Context, Result};
use privatesnn_data::Split;
use privatesnn_fid::{JudgeTrainReport, judge_accuracy, save_judge, train_judge};
use serde::{Deserialize, Serialize};

use crate::artifacts::Artifact;
use crate::common::{bar, write_json};
use crate::context::Ctx;
use crate::datasets;

/// What `judge.json` holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct JudgeReport {
    /// The architecture.
    pub architecture: String,
    /// Training loss per epoch.
    pub training: JudgeTrainReport,
    /// Top-1 (%) on the whole real test set.
    pub test_accuracy: f64,
    /// Test images.
    pub test_images: usize,
    /// Wall seconds.
    pub seconds: f64,
}

/// Train the judge unless it is up to date.
pub fn ensure(ctx: &Ctx) -> Result<()> {
    if ctx.up_to_date(Artifact::Judge)? {
        return Ok(());
    }
    ctx.begin(Artifact::Judge)?;
    match train(ctx) {
        Ok(r) => {
            ctx.finish(Artifact::Judge)?;
            println!(
                "judge: {} — {:.2}% on {} test images",
                r.architecture, r.test_accuracy, r.test_images
            );
            Ok(())
        }
        Err(e) => {
            crate::provenance::remove(&ctx.art, Artifact::Judge)?;
            Err(e)
        }
    }
}

fn train(ctx: &Ctx) -> Result<JudgeReport> {
    let (exp, device, art) = (&ctx.exp, &ctx.device, &ctx.art);
    let cfg = &exp.attack;
    let start = Instant::now();
    let set = datasets::load(exp, Split::Train)?;
    let model = cfg.judge_for(set.channels, set.num_classes);
    let training = cfg.judge_training().with_seed(exp.seed);
    let batches = set.len().div_ceil(training.batch_size);
    let progress = bar(training.epochs * batches, "judge");
    let result = train_judge(&set, &model, &training, device, |epoch, b, _, loss| {
        progress.set_position((epoch * batches + b + 1) as u64);
        progress.set_message(format!("epoch {} loss {loss:.4}", epoch + 1));
    });
    progress.finish_and_clear();
    let (judge, report) = result.context("training the judge")?;
    let test = datasets::load(exp, Split::Test)?;
    let acc = judge_accuracy(&judge, &test, cfg.batch_size, device);
    save_judge(&judge, &model, &art.judge())?;
    let r = JudgeReport {
        architecture: privatesnn_fid::FeatureExtractor::name(&judge),
        training: report,
        test_accuracy: acc,
        test_images: test.len(),
        seconds: start.elapsed().as_secs_f64(),
    };
    write_json(&art.judge_report(), &r)?;
    Ok(r)
}
