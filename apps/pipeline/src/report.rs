//! `snn-accuracy.md` and the accuracy plot of a run, from its up-to-date artifacts.

use anyhow::Result;

use crate::common::write_text;
use crate::context::Ctx;
use crate::plot::{Series, line_plot};
use crate::stages::evaluate::SnnAccuracyReport;
use crate::stages::synthesize::SynthesisReport;
use crate::stages::train_ann::TrainReport;

/// Write `snn-accuracy.png` and `snn-accuracy.md` for `r`. The training and
/// synthesis figures come from their reports, which belong to the ANN and
/// synthetic-set artifacts the SNNs were checked against.
pub fn write(ctx: &Ctx, r: &SnnAccuracyReport) -> Result<()> {
    let (exp, art) = (&ctx.exp, &ctx.art);
    let series: Vec<Series> = r
        .snn
        .iter()
        .map(|(src, acc)| Series {
            name: crate::artifacts::SnnSource::ALL
                .into_iter()
                .find(|s| s.as_str() == src)
                .map_or_else(|| format!("SNN ({src})"), |s| s.label().to_string()),
            points: acc
                .iter()
                .map(|a| (a.timesteps as f64, a.accuracy))
                .collect(),
        })
        .collect();
    line_plot(
        &art.snn_accuracy_plot(),
        &format!(
            "{}: SNN accuracy vs timesteps ({} test images)",
            exp.name, r.test_images
        ),
        "timesteps T",
        "test accuracy (%)",
        &series,
        Some(("ANN", r.ann_accuracy)),
    )?;
    let mut md = format!(
        "# {}: data-free conversion\n\nANN test accuracy: **{:.2}%** on {} test images.\n\n",
        exp.name, r.ann_accuracy, r.test_images
    );
    if let Ok(text) = std::fs::read_to_string(art.train_report())
        && let Ok(t) = serde_json::from_str::<TrainReport>(&text)
        && let Some(acc) = t.final_test_acc
    {
        md += &format!(
            "On the whole test set ({} images) the ANN scores {acc:.2}% ({} epochs, `train-ann.json`).\n\n",
            t.test_images,
            t.epochs.len()
        );
    }
    if let Ok(text) = std::fs::read_to_string(art.synthesize_report())
        && let Ok(s) = serde_json::from_str::<SynthesisReport>(&text)
    {
        md += &format!(
            "Synthetic set: {} images, {} Adam iterations, batch {}: {:.2} img/s; the ANN assigns {:.1}% \
             of them to the dominant class of their soft label. ![synthetic](synthetic-grid.png)\n\n",
            s.images, s.iterations, s.batch_size, s.images_per_s, s.ann_agreement
        );
    }
    md += "| T |";
    for (src, _) in &r.snn {
        md += &format!(" SNN ({src}) |");
    }
    md += "\n|---|";
    md += &"---|".repeat(r.snn.len());
    md += "\n";
    for (k, t) in exp.evaluate.timesteps.iter().enumerate() {
        md += &format!("| {t} |");
        for (_, acc) in &r.snn {
            md += &format!(" {:.2}% |", acc[k].accuracy);
        }
        md += "\n";
    }
    md += "\n![accuracy vs T](snn-accuracy.png)\n";
    if let Ok(text) =
        std::fs::read_to_string(art.snn_report(crate::artifacts::SnnSource::Encrypted))
        && let Ok(e) = serde_json::from_str::<crate::stages::encrypt::EncryptReport>(&text)
    {
        let t = &e.training;
        md += &format!(
            "\n## Encryption\n\nSTBP on {} synthetic samples, {} epochs at T = {} (`encrypt.json`); \
             thresholds kept from the conversion. Relative weight change \
             ‖W_enc − W_ann‖ / ‖W_ann‖ per layer:\n\n| layer | change |\n|---|---|\n",
            t.samples,
            t.epochs.len(),
            t.timesteps
        );
        for (layer, c) in &e.weight_change {
            md += &format!("| {layer} | {c:.4} |\n");
        }
    }
    write_text(&art.snn_accuracy_report(), &md)
}
