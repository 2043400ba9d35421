//! The run's `report.md` and `metrics.json`: the paper's Tables 1-4 and
//! Figs. 4-7 from this run's up-to-date artifacts, each beside the paper's
//! CIFAR-10 numbers and saying what data, T and test-set size it used.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::artifacts::{Artifact, SnnSource};
use crate::common::{write_json, write_text};
use crate::context::Ctx;

fn read(path: &std::path::Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// Accuracy of `source` at `t` in `snn-accuracy.json`, if measured.
fn accuracy_at(acc: &Value, source: SnnSource, t: usize) -> Option<f64> {
    acc["snn"].as_array()?.iter().find_map(|entry| {
        (entry[0] == source.as_str()).then(|| {
            entry[1].as_array()?.iter().find_map(|a| {
                (a["timesteps"].as_u64()? == t as u64).then(|| a["accuracy"].as_f64())?
            })
        })?
    })
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

/// Fig. 5: the sweep's table (test accuracy at the encryption's T against
/// synthetic samples, with and without distillation) and plot.
fn fig5(sweep: &Value) -> String {
    let mut md = format!(
        "## Fig. 5: accuracy against the number of synthetic samples (%)\n\nEncrypted at T = {}, \
         {} epochs; first {} test images; the converted SNN (no encryption) scores {} \
         (`encrypt-sweep.json`). Paper (CIFAR-10): distillation matters most with few samples.\n\n\
         | samples | with distillation | without (CE only) |\n|---|---|---|\n",
        sweep["timesteps"],
        sweep["epochs"],
        sweep["test_images"],
        pct(sweep["converted_accuracy"].as_f64())
    );
    let points = sweep["points"].as_array().cloned().unwrap_or_default();
    let mut counts: Vec<u64> = points
        .iter()
        .filter_map(|p| p["samples"].as_u64())
        .collect();
    counts.dedup();
    for n in counts {
        let at = |kd: bool| {
            points.iter().find_map(|p| {
                (p["samples"].as_u64() == Some(n)
                    && (p["distill_weight"].as_f64().unwrap_or(0.0) > 0.0) == kd)
                    .then(|| p["accuracy"].as_f64())?
            })
        };
        md += &format!("| {n} | {} | {} |\n", pct(at(true)), pct(at(false)));
    }
    md + "\n![sweep](encrypt-sweep.png)\n\n"
}

/// Write `report.md` and `metrics.json` from every artifact, each of which
/// must be up to date (else the error names it and the command that remakes it).
pub fn write(ctx: &Ctx) -> Result<()> {
    let (exp, art) = (&ctx.exp, &ctx.art);
    for a in [
        Artifact::Ann,
        Artifact::Synthetic,
        Artifact::Snn(SnnSource::Synthetic),
        Artifact::Snn(SnnSource::Encrypted),
        Artifact::SnnAccuracy,
        Artifact::Attack,
        Artifact::Energy,
        Artifact::EncryptSweep,
    ] {
        ctx.require(a)
            .context("the report is made only from up-to-date results")?;
    }
    let train = read(&art.train_report())?;
    let acc = read(&art.snn_accuracy())?;
    let enc = read(&art.snn_report(SnnSource::Encrypted))?;
    let attack = read(&art.attack())?;
    let energy = read(&art.energy())?;
    let sweep = read(&art.encrypt_sweep())?;
    let ann_full = train["final_test_acc"].as_f64();
    let test_images = acc["test_images"].as_u64().unwrap_or(0);
    let t_snn = exp.snn.timesteps;
    let t_enc = exp.encryption.train.timesteps;
    let mut md = format!(
        "# {}: PrivateSNN on this run's data, beside the paper (CIFAR-10)\n\n\
         Config `resolved-config.toml`; every figure below comes from an up-to-date artifact of \
         this folder. Paper numbers are the CIFAR-10 VGG16 ones; this run's data set is `{:?}`.\n\n",
        exp.name, exp.data.dataset
    );
    // Table 1: the real-data SNN at its readout T (always among [evaluate] timesteps).
    let t_real = exp.energy.readouts(t_snn, t_enc)[0];
    let real = accuracy_at(&acc, SnnSource::Real, t_real);
    // The data-free SNN at its own T (the paper's 100 on CIFAR-10) when measured there.
    let t_free = if accuracy_at(&acc, SnnSource::Synthetic, t_snn).is_some() {
        t_snn
    } else {
        t_real
    };
    let free = accuracy_at(&acc, SnnSource::Synthetic, t_free);
    md += &format!(
        "## Table 1: accuracy (%)\n\nANN on all {} test images: {}. SNNs on the first {test_images} \
         test images, the real-data SNN at T = {t_real} and the data-free SNN at T = {t_free} \
         (`snn-accuracy.json`; the ANN on the same images: {:.2}).\n\n\
         | method | training data? | this run | paper |\n|---|---|---|---|\n\
         | VGG ANN | - | {} | 91.6 |\n| Sengupta et al. (real-data conversion) | yes | {} | 91.5 |\n\
         | PrivateSNN (data-free conversion) | no | {} | 91.2 |\n\n",
        train["test_images"].as_u64().unwrap_or(0),
        pct(ann_full),
        acc["ann_accuracy"].as_f64().unwrap_or(f64::NAN),
        pct(ann_full),
        pct(real),
        pct(free)
    );
    // Table 2.
    let conv_low = accuracy_at(&acc, SnnSource::Synthetic, t_enc);
    let enc_low = accuracy_at(&acc, SnnSource::Encrypted, t_enc);
    md += &format!(
        "## Table 2: after conversion and after encryption (%)\n\nFirst {test_images} test images, \
         T = {t_enc} (the encryption's T); encryption: {} epochs on {} synthetic samples.\n\n\
         | T | after conversion | after encryption | paper (CIFAR-10, T = 100) |\n|---|---|---|---|\n\
         | {t_enc} | {} | {} | 68.2 → 91.2 |\n\n",
        enc["training"]["epochs"].as_array().map_or(0, Vec::len),
        enc["training"]["samples"].as_u64().unwrap_or(0),
        pct(conv_low),
        pct(enc_low)
    );
    md += "## Fig. 4: accuracy against T\n\n![accuracy vs T](snn-accuracy.png) (details: `snn-accuracy.md`)\n\n";
    md += &fig5(&sweep);
    // Table 3, Fig. 6, Table 4, Fig. 7: the stages' own reports.
    for path in [art.attack_report(), art.energy_report()] {
        md += &std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        md += "\n";
    }
    md += "\nFig. 6: `attack-grid.png` (above). Fig. 7: `energy-spikes.png` (above).\n";
    let metrics = json!({
        "name": exp.name,
        "table1": {
            "test_images_snn": test_images,
            "timesteps_real": t_real,
            "timesteps_data_free": t_free,
            "ann_full_test": ann_full,
            "real_data_snn": real,
            "data_free_snn": free,
            "paper": {"ann": 91.6, "sengupta": 91.5, "privatesnn": 91.2},
        },
        "table2": {
            "timesteps": t_enc,
            "after_conversion": conv_low,
            "after_encryption": enc_low,
            "paper": {"timesteps": 100, "after_conversion": 68.2, "after_encryption": 91.2},
        },
        "fig4": acc,
        "fig5": sweep,
        "table3_fig6": attack,
        "table4_fig7": energy,
    });
    write_json(&art.metrics(), &metrics)?;
    write_text(&art.report(), &md)?;
    eprintln!(
        "report: {} and {}",
        art.report().display(),
        art.metrics().display()
    );
    Ok(())
}
