//! The attack report: Table 3 and the judge table as Markdown, and the
//! Fig. 6 grid as PNG.

use std::fmt::Write;
use std::path::Path;

use anyhow::Result;
use privatesnn_attacks::ClassImages;
use privatesnn_data::{ImageSet, write_grid};

use super::{AttackKind, AttackReport, AttackRow, Spread};
use crate::artifacts::SnnSource;
use crate::config::AttackSection;

/// The paper's Table 3 (CIFAR-10, Inception FID): attack 1 and 2, without and with encryption.
const PAPER_FID: [(AttackKind, f64, f64); 2] = [
    (AttackKind::Reconversion, 354.8, 448.2),
    (AttackKind::SnnGradient, 447.9, 422.4),
];

fn cell(s: &Spread, digits: usize) -> String {
    format!("{:.*} ± {:.*}", digits, s.mean, digits, s.std)
}

fn row<'a>(r: &'a AttackReport, kind: AttackKind, model: &str) -> Option<&'a AttackRow> {
    r.rows.iter().find(|x| x.attack == kind && x.model == model)
}

/// The models present in `r`, in column order, with their column titles.
fn columns(r: &AttackReport) -> Vec<(&'static str, &'static str)> {
    [
        (SnnSource::Synthetic, "w/o encryption (data-free SNN)"),
        (SnnSource::Encrypted, "w/ encryption"),
        (SnnSource::Real, "real-data SNN (baseline)"),
    ]
    .into_iter()
    .filter(|(s, _)| r.rows.iter().any(|x| x.model == s.as_str()))
    .map(|(s, t)| (s.as_str(), t))
    .collect()
}

/// Whether the paper's ordering holds: attack 1 on the unencrypted SNN has
/// the lowest FID and the highest judge top-1 of all rows.
pub fn paper_ordering_holds(r: &AttackReport) -> Option<(bool, bool)> {
    let a1 = row(r, AttackKind::Reconversion, SnnSource::Synthetic.as_str())?;
    let others: Vec<&AttackRow> = r
        .rows
        .iter()
        .filter(|x| !(x.attack == a1.attack && x.model == a1.model) && x.model != "real")
        .collect();
    let fid = others
        .iter()
        .all(|x| a1.fid_spread.mean < x.fid_spread.mean);
    let top1 = others
        .iter()
        .all(|x| a1.judge_spread.mean > x.judge_spread.mean);
    Some((fid, top1))
}

/// `attack.md`.
pub fn markdown(r: &AttackReport, cfg: &AttackSection) -> String {
    let cols = columns(r);
    let mut s = String::new();
    let _ = writeln!(s, "## Class leakage: Table 3 (FID) and the judge's top-1\n");
    let _ = writeln!(
        s,
        "Each attack set: {} images ({} per class), one set per seed {:?}; FID against {} real test \
         images in the features of the {}. Attack 1: {} iterations, lr {}, blur every {} (σ {}). \
         Attack 2: {} iterations, ζ = {}, T = {}. Device {}, {:.0} s.\n",
        r.images_per_set,
        cfg.per_class,
        r.seeds,
        r.reference_images,
        r.extractor,
        cfg.iterations,
        cfg.lr,
        cfg.blur_every,
        cfg.blur_sigma,
        cfg.snn_iterations,
        cfg.zeta,
        if cfg.snn_timesteps == 0 {
            "each SNN's own".to_string()
        } else {
            cfg.snn_timesteps.to_string()
        },
        r.device,
        r.seconds
    );
    let header = |s: &mut String, first: &str, extra: &str| {
        let _ = write!(s, "| {first} |");
        for (_, t) in &cols {
            let _ = write!(s, " {t} |");
        }
        let _ = writeln!(s, "{extra}");
        let _ = writeln!(
            s,
            "|---|{}",
            "---|".repeat(cols.len() + extra.matches('|').count())
        );
    };
    header(
        &mut s,
        "FID (lower = more leakage), mean ± std over seeds",
        " paper w/o (CIFAR-10, Inception) | paper w/ |",
    );
    for kind in AttackKind::ALL {
        let _ = write!(s, "| {} |", kind.label());
        for (m, _) in &cols {
            let text = row(r, kind, m).map_or("-".into(), |x| cell(&x.fid_spread, 1));
            let _ = write!(s, " {text} |");
        }
        let (_, a, b) = PAPER_FID
            .iter()
            .find(|p| p.0 == kind)
            .copied()
            .expect("both kinds");
        let _ = writeln!(s, " {a} | {b} |");
    }
    let _ = writeln!(
        s,
        "| real training images, same count (floor) | {} |{} | |\n",
        cell(&r.real_floor_spread, 1),
        " |".repeat(cols.len().saturating_sub(1))
    );
    header(
        &mut s,
        &format!(
            "judge top-1 on the target class, % (chance {:.0}%)",
            r.chance
        ),
        "",
    );
    for kind in AttackKind::ALL {
        let _ = write!(s, "| {} |", kind.label());
        for (m, _) in &cols {
            let text = row(r, kind, m).map_or("-".into(), |x| cell(&x.judge_spread, 1));
            let _ = write!(s, " {text} |");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\nThe judge scores {:.2}% on the {} real test images.\n",
        r.judge_test_accuracy, r.reference_images
    );
    let _ = writeln!(
        s,
        "Attacked objective, mean over images and seeds (start → end), and the mean \
         absolute pixel change from the starting noise:\n"
    );
    for x in &r.rows {
        let _ = writeln!(
            s,
            "- {} on the {} SNN: {:.3} → {:.3}, pixels moved {:.4} ({:.0} s)",
            x.attack.label(),
            x.model,
            x.objective_start,
            x.objective_end,
            x.mean_abs_change,
            x.seconds
        );
    }
    if let Some((fid, top1)) = paper_ordering_holds(r) {
        let yes = |b: bool| if b { "yes" } else { "no" };
        let _ = writeln!(
            s,
            "\nPaper's ordering (attack 1 without encryption leaks most): lowest FID: **{}**; \
             highest judge top-1: **{}**.",
            yes(fid),
            yes(top1)
        );
    }
    let _ = writeln!(
        s,
        "\n![attack grid](attack-grid.png)\n\nGrid (Fig. 6), one row per class, seed {}: a real \
         test image, then {}.",
        r.seeds[0],
        grid_columns(&cols)
    );
    s
}

fn grid_columns(cols: &[(&str, &str)]) -> String {
    AttackKind::ALL
        .iter()
        .flat_map(|k| {
            cols.iter()
                .map(move |(m, _)| format!("{} on the {m} SNN", k.label()))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The Fig. 6 grid: per class, a real test image, then the first image of
/// that class from each attack (attack 1 on each model, then attack 2).
pub fn grid(
    path: &Path,
    test: &ImageSet,
    images: &[(AttackKind, SnnSource, ClassImages)],
    models: &[SnnSource],
) -> Result<()> {
    let k = test.num_classes;
    let (c, h, w) = (test.channels, test.height, test.width);
    let len = c * h * w;
    let mut out = ImageSet {
        pixels: Vec::new(),
        labels: Vec::new(),
        channels: c,
        height: h,
        width: w,
        num_classes: k,
    };
    let cols = 1 + AttackKind::ALL.len() * models.len();
    for class in 0..k {
        let real = (0..test.len()).find(|&i| test.labels[i] == class);
        match real {
            Some(i) => out.pixels.extend_from_slice(test.image(i)),
            None => out.pixels.extend(std::iter::repeat_n(255u8, len)),
        }
        out.labels.push(class);
        for kind in AttackKind::ALL {
            for m in models {
                let set = images.iter().find(|(a, s, _)| *a == kind && s == m);
                let pixels: Vec<u8> = match set.and_then(|(_, _, x)| {
                    let i = x.classes.iter().position(|&y| y == class)?;
                    Some(x.pixels[i * len..(i + 1) * len].to_vec())
                }) {
                    Some(p) => p
                        .iter()
                        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                        .collect(),
                    None => vec![255u8; len],
                };
                out.pixels.extend(pixels);
                out.labels.push(class);
            }
        }
    }
    let picks: Vec<usize> = (0..out.labels.len()).collect();
    write_grid(path, &out, &picks, cols, 3)?;
    Ok(())
}
