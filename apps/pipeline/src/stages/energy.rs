//! `energy`: spike rates and the ANN-vs-SNN energy estimate (paper Sec. 5.5):
//! Table 4 (method, T, accuracy, E_ANN / E_method) and Fig. 7 (spikes per
//! neuron of each layer, log scale), measured on real test images.

use std::fmt::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::module::Module;
use privatesnn_conversion::accuracy_vs_timesteps;
use privatesnn_data::Split;
use privatesnn_energy::{EnergyReport, Layer, energy, spikes_per_neuron};
use privatesnn_models::Vgg;
use serde::{Deserialize, Serialize};

use crate::artifacts::{Artifact, SnnSource};
use crate::common::{bar, write_json, write_text};
use crate::context::Ctx;
use crate::{datasets, saved};

/// The paper's Table 4 (CIFAR-10, VGG16): method, T, accuracy, E_ANN / E_method.
pub const PAPER_TABLE4: [(&str, usize, f64, f64); 3] = [
    ("VGG16 (ANN)", 1, 91.5, 1.0),
    ("Sengupta et al. (real-data conversion)", 500, 91.2, 27.9),
    ("PrivateSNN", 100, 91.2, 59.3),
];

/// One row of Table 4.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MethodEnergy {
    /// The method.
    pub method: String,
    /// Timesteps (1 for the ANN).
    pub timesteps: usize,
    /// Top-1 (%) on the measured test images.
    pub accuracy: f64,
    /// `E_ANN / E_method`.
    pub ann_over_method: f64,
    /// Spikes into each layer per input neuron over the window (`R_l`; empty for the ANN).
    pub spikes_per_neuron: Vec<f64>,
    /// The estimate (for the ANN: the SNN columns are unused).
    pub energy: EnergyReport,
}

/// What `energy` writes to `<out>/energy.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EnergyStageReport {
    /// Real test images measured.
    pub test_images: usize,
    /// Energy per MAC and per AC, pJ.
    pub e_mac_pj: f64,
    /// See `e_mac_pj`.
    pub e_ac_pj: f64,
    /// The layers (names, MACs).
    pub layers: Vec<Layer>,
    /// Table 4 rows.
    pub methods: Vec<MethodEnergy>,
    /// Wall seconds.
    pub seconds: f64,
    /// The device.
    pub device: String,
}

/// The VGG as energy layers (convs, fc1, fc2) and the populations feeding
/// them: the input pixels, then each spiking layer's outputs.
pub fn vgg_layers(vgg: &Vgg, input: [usize; 3]) -> Result<(Vec<Layer>, Vec<u64>)> {
    let [c, mut h, mut w] = input;
    let mut layers = Vec::new();
    let mut populations = vec![(c * h * w) as u64];
    for (i, (conv, &pool)) in vgg.convs.iter().zip(&vgg.pool_after).enumerate() {
        let [out, inp, kh, kw] = conv.weight.dims();
        let layer = Layer::conv2d(
            &format!("conv{}", i + 1),
            inp,
            out,
            [kh, kw],
            1,
            kh / 2,
            [h, w],
        )?;
        populations.push(layer.neurons);
        layers.push(layer);
        if pool {
            h /= 2;
            w /= 2;
        }
    }
    let [fin, hidden] = vgg.fc1.weight.dims();
    let [_, classes] = vgg.fc2.weight.dims();
    layers.push(Layer::linear("fc1", fin, hidden));
    populations.push(hidden as u64);
    layers.push(Layer::linear("fc2", hidden, classes));
    Ok((layers, populations))
}

/// `energy` unless up to date.
pub fn run(ctx: &Ctx) -> Result<()> {
    if ctx.up_to_date(Artifact::Energy)? {
        println!("{}", std::fs::read_to_string(ctx.art.energy_report())?);
        return Ok(());
    }
    ctx.begin(Artifact::Energy)?;
    match measure(ctx) {
        Ok(r) => {
            ctx.finish(Artifact::Energy)?;
            println!("{}", markdown(&r));
            Ok(())
        }
        Err(e) => {
            crate::provenance::remove(&ctx.art, Artifact::Energy)?;
            Err(e)
        }
    }
}

fn measure(ctx: &Ctx) -> Result<EnergyStageReport> {
    let (exp, device) = (&ctx.exp, &ctx.device);
    let cfg = &exp.energy;
    let start = Instant::now();
    let test = datasets::load(exp, Split::Test)?;
    let test = if cfg.test_images > 0 {
        test.take(cfg.test_images)
    } else {
        test
    };
    let (ann, _) = saved::load_ann(ctx)?;
    let ann = ann.valid();
    let input = [test.channels, test.height, test.width];
    let (layers, populations) = vgg_layers(&ann, input)?;
    let costs = cfg.costs();
    let (ann_acc, _) = saved::ann_accuracy(&ann, &test, exp.evaluate.batch_size, device);
    let ann_energy = energy(&layers, &vec![0.0; layers.len()], &costs)?;
    let mut methods = vec![MethodEnergy {
        method: "ANN".into(),
        timesteps: 1,
        accuracy: ann_acc,
        ann_over_method: 1.0,
        spikes_per_neuron: Vec::new(),
        energy: ann_energy.clone(),
    }];
    let present: Vec<SnnSource> = ctx
        .art
        .inputs(Artifact::Energy)
        .into_iter()
        .filter_map(|a| match a {
            Artifact::Snn(s) => Some(s),
            _ => None,
        })
        .collect();
    let order = [SnnSource::Real, SnnSource::Synthetic, SnnSource::Encrypted];
    let sources: Vec<SnnSource> = order.into_iter().filter(|s| present.contains(s)).collect();
    let progress = bar(sources.len(), "energy");
    for source in sources {
        let t = match source {
            SnnSource::Real => cfg.real_timesteps,
            SnnSource::Synthetic if cfg.timesteps > 0 => cfg.timesteps,
            SnnSource::Synthetic => exp.snn.timesteps,
            SnnSource::Encrypted if cfg.encrypted_timesteps > 0 => cfg.encrypted_timesteps,
            SnnSource::Encrypted => exp.encryption.train.timesteps,
        };
        progress.set_message(format!("{source} SNN at T = {t}"));
        let (snn, _, _) = saved::load_snn(ctx, source)?;
        let acc = accuracy_vs_timesteps(
            &snn,
            test.batches(exp.evaluate.batch_size, device)
                .map(|b| (b.images, b.targets)),
            &[t],
            cfg.seed,
        );
        let a = &acc[0];
        // Spikes per image per step → totals over one image and the window.
        let totals: Vec<f64> = a
            .spikes_per_image_step
            .iter()
            .map(|s| s * t as f64)
            .collect();
        let rates = spikes_per_neuron(&totals, &populations, 1)
            .with_context(|| format!("spike counts of the {source} SNN"))?;
        let e = energy(&layers, &rates, &costs)?;
        methods.push(MethodEnergy {
            method: source.label().to_string(),
            timesteps: t,
            accuracy: a.accuracy,
            ann_over_method: e.ratio,
            spikes_per_neuron: rates,
            energy: e,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    let r = EnergyStageReport {
        test_images: test.len(),
        e_mac_pj: costs.e_mac_pj,
        e_ac_pj: costs.e_ac_pj,
        layers,
        methods,
        seconds: start.elapsed().as_secs_f64(),
        device: format!("{device:?}"),
    };
    plot(ctx, &r)?;
    write_json(&ctx.art.energy(), &r)?;
    write_text(&ctx.art.energy_report(), &markdown(&r))?;
    Ok(r)
}

/// Fig. 7: spikes per neuron over the window of each spiking layer's
/// output (the input of the next), one bar series per SNN.
fn plot(ctx: &Ctx, r: &EnergyStageReport) -> Result<()> {
    let groups: Vec<String> = std::iter::once("input".to_string())
        .chain(
            r.layers[..r.layers.len() - 1]
                .iter()
                .map(|l| l.name.clone()),
        )
        .collect();
    let series: Vec<(String, Vec<f64>)> = r
        .methods
        .iter()
        .filter(|m| !m.spikes_per_neuron.is_empty())
        .map(|m| {
            (
                format!("{} (T = {})", m.method, m.timesteps),
                m.spikes_per_neuron.clone(),
            )
        })
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    crate::plot_bars::log_bars(
        &ctx.art.energy_plot(),
        &format!(
            "Spikes per neuron over the window ({} test images)",
            r.test_images
        ),
        "spikes / neuron",
        &groups,
        &series,
    )
}

/// `energy.md`: Table 4 beside the paper's, and the per-layer table.
pub fn markdown(r: &EnergyStageReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "## Energy: Table 4\n\nMeasured on {} real test images; E_MAC = {} pJ, E_AC = {} pJ \
         (45 nm); device {}, {:.0} s. Memory access and neuron updates are not counted \
         (crate `privatesnn-energy`).\n",
        r.test_images, r.e_mac_pj, r.e_ac_pj, r.device, r.seconds
    );
    let _ = writeln!(
        s,
        "| method | T | accuracy (%) | E_ANN / E_method |\n|---|---|---|---|"
    );
    for m in &r.methods {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2} | {:.1}x |",
            m.method, m.timesteps, m.accuracy, m.ann_over_method
        );
    }
    let _ = writeln!(
        s,
        "\nThe paper (CIFAR-10, VGG16):\n\n| method | T | accuracy (%) | E_ANN / E_method |\n|---|---|---|---|"
    );
    for (m, t, a, e) in PAPER_TABLE4 {
        let _ = writeln!(s, "| {m} | {t} | {a} | {e}x |");
    }
    let _ = write!(
        s,
        "\nPer layer: MACs and spikes in per neuron (R_l)\n\n| layer | MACs |"
    );
    let snns: Vec<&MethodEnergy> = r
        .methods
        .iter()
        .filter(|m| !m.spikes_per_neuron.is_empty())
        .collect();
    for m in &snns {
        let _ = write!(s, " {} (T = {}) |", m.method, m.timesteps);
    }
    let _ = writeln!(s, "\n|---|---|{}", "---|".repeat(snns.len()));
    for (i, l) in r.layers.iter().enumerate() {
        let _ = write!(s, "| {} | {} |", l.name, l.macs);
        for m in &snns {
            let _ = write!(s, " {:.4} |", m.spikes_per_neuron[i]);
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "\n![spikes per neuron](energy-spikes.png)");
    s
}
