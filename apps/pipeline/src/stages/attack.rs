//! `attack`: the class-leakage attacks of PrivateSNN Sec. 4 on the saved
//! SNNs — attack 1 (class impressions on the re-converted ANN) and attack 2
//! (surrogate gradients straight through the SNN) — scored by FID against the
//! real test set (Table 3) and by a judge classifier's top-1 on the class
//! each image was made for, with a Fig. 6 grid.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use privatesnn_attacks::{ClassImages, reconversion_attack, snn_gradient_attack};
use privatesnn_data::{ImageSet, Split};
use privatesnn_fid::{
    FeatureExtractor, FeatureStats, InceptionV3, InceptionV3Config, frechet_distance, image_stats,
};
use serde::{Deserialize, Serialize};

use crate::artifacts::{Artifact, SnnSource};
use crate::common::{bar, write_json};
use crate::config::Extractor;
use crate::context::Ctx;
use crate::{datasets, saved};

mod judge;
mod report;

/// Which attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttackKind {
    /// Attack 1: class impressions on the re-converted ANN (Algorithm 2).
    Reconversion,
    /// Attack 2: surrogate gradients through the SNN (Algorithm 4).
    SnnGradient,
}

impl AttackKind {
    /// Both, in table order.
    pub const ALL: [AttackKind; 2] = [AttackKind::Reconversion, AttackKind::SnnGradient];

    /// `attack 1` / `attack 2`.
    pub fn label(self) -> &'static str {
        match self {
            AttackKind::Reconversion => "attack 1 (re-converted ANN)",
            AttackKind::SnnGradient => "attack 2 (SNN surrogate gradient)",
        }
    }
}

/// Mean and sample standard deviation.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub std: f64,
}

impl Spread {
    /// Of `values` (not empty).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = if values.len() > 1 {
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        Self {
            mean,
            std: var.sqrt(),
        }
    }
}

/// One attack on one SNN, over the seeds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttackRow {
    /// Which attack.
    pub attack: AttackKind,
    /// Which SNN.
    pub model: String,
    /// FID against the real test set, per seed.
    pub fid: Vec<f64>,
    /// Its mean and spread.
    pub fid_spread: Spread,
    /// The judge's top-1 (%) on the class each image was made for, per seed.
    pub judge_top1: Vec<f64>,
    /// Its mean and spread.
    pub judge_spread: Spread,
    /// The attacked objective, mean over images and seeds: at the start (noise) and the end.
    pub objective_start: f64,
    /// See `objective_start`.
    pub objective_end: f64,
    /// Mean absolute pixel change from the starting noise, mean over seeds.
    pub mean_abs_change: f64,
    /// Wall seconds over all seeds.
    pub seconds: f64,
}

/// What `attack` writes to `<out>/attack.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AttackReport {
    /// The FID feature extractor.
    pub extractor: String,
    /// The judge's top-1 (%) on the real test images used as FID reference.
    pub judge_test_accuracy: f64,
    /// Real test images of the FID reference.
    pub reference_images: usize,
    /// Images per attack, model and seed.
    pub images_per_set: usize,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Chance level of the judge (%), `100 / classes`.
    pub chance: f64,
    /// FID of real training images (as many as an attack set, one draw per
    /// seed) against the reference: the floor a perfect attack would reach at this set size.
    pub real_floor: Vec<f64>,
    /// Its mean and spread.
    pub real_floor_spread: Spread,
    /// Attack 1 and 2 on each SNN.
    pub rows: Vec<AttackRow>,
    /// Wall seconds.
    pub seconds: f64,
    /// The device.
    pub device: String,
}

/// `attack`: trains (or reuses) the judge, attacks each SNN, writes the report.
pub fn run(ctx: &Ctx) -> Result<()> {
    if ctx.up_to_date(Artifact::Attack)? {
        let text = std::fs::read_to_string(ctx.art.attack_report())?;
        println!("{text}");
        return Ok(());
    }
    let models = models(ctx)?;
    // The SNNs first: no judge is trained for an attack that cannot run.
    for &m in &models {
        ctx.require(Artifact::Snn(m))
            .with_context(|| format!("`attack` needs {}", ctx.art.name(Artifact::Snn(m))))?;
    }
    judge::ensure(ctx)?;
    ctx.begin(Artifact::Attack)?;
    match attack_all(ctx, &models) {
        Ok(r) => {
            ctx.finish(Artifact::Attack)?;
            println!("{}", report::markdown(&r, &ctx.exp.attack));
            Ok(())
        }
        Err(e) => {
            crate::provenance::remove(&ctx.art, Artifact::Attack)?;
            Err(e)
        }
    }
}

/// The SNNs attacked, in column order.
fn models(ctx: &Ctx) -> Result<Vec<SnnSource>> {
    let mut models = vec![SnnSource::Synthetic, SnnSource::Encrypted];
    if ctx.exp.attack.baseline {
        let real = ctx.art.snn(SnnSource::Real);
        if !real.exists() {
            bail!(
                "[attack] baseline = true, but {} does not exist: run `pipeline convert --source real` \
                 or set baseline = false",
                real.display()
            );
        }
        models.push(SnnSource::Real);
    }
    Ok(models)
}

/// Pixels in `[0, 1]` of the images of `set` at `indices`.
fn pixels(set: &ImageSet, indices: impl Iterator<Item = usize>) -> Vec<f32> {
    indices
        .flat_map(|i| set.image(i).iter().map(|&p| p as f32 / 255.0))
        .collect()
}

fn attack_all(ctx: &Ctx, models: &[SnnSource]) -> Result<AttackReport> {
    let (exp, device) = (&ctx.exp, &ctx.device);
    let cfg = &exp.attack;
    let start = Instant::now();
    let (judge, _) =
        privatesnn_fid::load_judge(&ctx.art.judge(), device).context("loading the judge")?;
    let test = datasets::load(exp, Split::Test)?;
    let test = if cfg.fid_images > 0 {
        test.take(cfg.fid_images)
    } else {
        test
    };
    let shape = [test.channels, test.height, test.width];
    let k = test.num_classes;
    let inception;
    let extractor: &dyn FeatureExtractor = match cfg.extractor {
        Extractor::Judge => &judge,
        Extractor::Inception => {
            let path = cfg
                .inception_weights
                .as_deref()
                .context("inception_weights")?;
            inception = InceptionV3::load(path, &InceptionV3Config::new(), device)?;
            &inception
        }
    };
    eprintln!(
        "attack: FID reference = {} real test images, features: {}",
        test.len(),
        extractor.name()
    );
    let test_pixels = pixels(&test, 0..test.len());
    let reference = image_stats(extractor, &test_pixels, shape, cfg.batch_size, device)?;
    let judge_test_accuracy = privatesnn_fid::judge_accuracy(&judge, &test, cfg.batch_size, device);
    let classes: Vec<usize> = (0..k)
        .flat_map(|c| std::iter::repeat_n(c, cfg.per_class))
        .collect();
    let n = classes.len();
    // The floor: real training images, n per seed, class-balanced like the attack sets.
    let train = datasets::load(exp, Split::Train)?;
    let mut real_floor = Vec::new();
    for &seed in &cfg.seeds {
        let picks = balanced_picks(&train, &classes, seed);
        let stats = image_stats(
            extractor,
            &pixels(&train, picks.into_iter()),
            shape,
            cfg.batch_size,
            device,
        )?;
        real_floor.push(frechet_distance(&stats, &reference)?);
    }
    let mut rows = Vec::new();
    let mut grid_images: Vec<(AttackKind, SnnSource, ClassImages)> = Vec::new();
    let progress = bar(
        models.len() * AttackKind::ALL.len() * cfg.seeds.len(),
        "attack",
    );
    for &source in models {
        let (snn, _, _) = saved::load_snn(ctx, source)?;
        for kind in AttackKind::ALL {
            let t0 = Instant::now();
            let mut fid = Vec::new();
            let mut top1 = Vec::new();
            let (mut o_start, mut o_end, mut change) = (0.0, 0.0, 0.0);
            for &seed in &cfg.seeds {
                progress.set_message(format!("{} on {source}, seed {seed}", kind.label()));
                let images = match kind {
                    AttackKind::Reconversion => {
                        reconversion_attack(&snn, &classes, shape, &cfg.attack1(seed), device)
                    }
                    AttackKind::SnnGradient => {
                        snn_gradient_attack(&snn, &classes, shape, &cfg.attack2(seed), device)
                    }
                }
                .with_context(|| format!("{} on the {source} SNN, seed {seed}", kind.label()))?;
                let stats: FeatureStats =
                    image_stats(extractor, &images.pixels, shape, cfg.batch_size, device)?;
                fid.push(frechet_distance(&stats, &reference)?);
                let x = burn::tensor::Tensor::<4>::from_data(
                    burn::tensor::TensorData::new(
                        images.pixels.clone(),
                        [n, shape[0], shape[1], shape[2]],
                    ),
                    device,
                );
                let predicted = judge.predict(x);
                let hits = predicted
                    .iter()
                    .zip(&classes)
                    .filter(|(p, c)| p == c)
                    .count();
                top1.push(100.0 * hits as f64 / n as f64);
                o_start += images
                    .objective_start
                    .iter()
                    .map(|&v| v as f64)
                    .sum::<f64>();
                o_end += images.objective_end.iter().map(|&v| v as f64).sum::<f64>();
                change += images.mean_abs_change as f64 / cfg.seeds.len() as f64;
                if seed == cfg.seeds[0] {
                    grid_images.push((kind, source, images));
                }
                progress.inc(1);
            }
            let count = (n * cfg.seeds.len()) as f64;
            rows.push(AttackRow {
                attack: kind,
                model: source.as_str().to_string(),
                fid_spread: Spread::of(&fid),
                fid,
                judge_spread: Spread::of(&top1),
                judge_top1: top1,
                objective_start: o_start / count,
                objective_end: o_end / count,
                mean_abs_change: change,
                seconds: t0.elapsed().as_secs_f64(),
            });
        }
    }
    progress.finish_and_clear();
    let r = AttackReport {
        extractor: extractor.name(),
        judge_test_accuracy,
        reference_images: test.len(),
        images_per_set: n,
        seeds: cfg.seeds.clone(),
        chance: 100.0 / k as f64,
        real_floor_spread: Spread::of(&real_floor),
        real_floor,
        rows,
        seconds: start.elapsed().as_secs_f64(),
        device: format!("{device:?}"),
    };
    report::grid(&ctx.art.attack_grid(), &test, &grid_images, models)?;
    write_json(&ctx.art.attack(), &r)?;
    crate::common::write_text(&ctx.art.attack_report(), &report::markdown(&r, cfg))?;
    eprintln!("attack: {:.1}s", r.seconds);
    Ok(r)
}

/// For each entry of `classes`, a training image of that class, drawn
/// without replacement by a seeded shuffle.
fn balanced_picks(set: &ImageSet, classes: &[usize], seed: u64) -> Vec<usize> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xF1D);
    let mut order: Vec<usize> = (0..set.len()).collect();
    order.shuffle(&mut rng);
    let mut used = vec![false; order.len()];
    classes
        .iter()
        .filter_map(|&c| {
            let pos = order
                .iter()
                .enumerate()
                .position(|(j, &i)| !used[j] && set.labels[i] == c)?;
            used[pos] = true;
            Some(order[pos])
        })
        .collect()
}
