//! `energy`: spike rates and the ANN-vs-SNN energy estimate (paper Sec. 5.5):
//! Table 4 (method, T, accuracy, E_ANN / E_method) and Fig. 7 (spikes per
//! neuron of each layer, log scale), measured on real test images: those of
//! `evaluate --snn`, whose simulation this stage reads out (no SNN runs twice).

use std::fmt::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::nn::PaddingConfig2d;
use privatesnn_energy::{EnergyReport, Layer, energy, spikes_per_neuron};
use privatesnn_models::Vgg;
use serde::{Deserialize, Serialize};

use crate::artifacts::{Artifact, SnnSource};
use crate::common::{write_json, write_text};
use crate::context::Ctx;
use crate::saved;
use crate::stages::evaluate::SnnAccuracyReport;

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
    let [c, h, w] = input;
    let mut layers = Vec::new();
    let mut populations = vec![(c * h * w) as u64];
    let mut size = [h, w];
    for (i, (conv, next)) in vgg
        .convs
        .iter()
        .zip(vgg.conv_output_sizes([h, w]))
        .enumerate()
    {
        let [out, inp, kh, kw] = conv.weight.dims();
        // 3x3 convs are padded by 1; `F` layers (a kernel over the whole
        // map) are not.
        let padding = match conv.padding {
            PaddingConfig2d::Explicit(top, ..) => top,
            PaddingConfig2d::Valid => 0,
            PaddingConfig2d::Same => kh / 2,
        };
        let layer = Layer::conv2d(
            &format!("conv{}", i + 1),
            inp,
            out,
            [kh, kw],
            1,
            padding,
            size,
        )?;
        populations.push(layer.neurons);
        layers.push(layer);
        size = next;
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

/// Table 4 from `evaluate --snn`'s simulation: each SNN's accuracy and
/// spike counts at its readout T, on the same test images and input spikes.
fn measure(ctx: &Ctx) -> Result<EnergyStageReport> {
    let exp = &ctx.exp;
    let cfg = &exp.energy;
    let start = Instant::now();
    let text = std::fs::read_to_string(ctx.art.snn_accuracy())
        .with_context(|| format!("reading {}", ctx.art.snn_accuracy().display()))?;
    let evaluated: SnnAccuracyReport = serde_json::from_str(&text)
        .with_context(|| format!("{} is corrupt", ctx.art.snn_accuracy().display()))?;
    let (ann, _) = saved::load_ann(ctx)?;
    let input = [
        exp.model.in_channels,
        exp.model.image_size,
        exp.model.image_size,
    ];
    let (layers, populations) = vgg_layers(&ann, input)?;
    let costs = cfg.costs();
    let ann_energy = energy(&layers, &vec![0.0; layers.len()], &costs)?;
    let mut methods = vec![MethodEnergy {
        method: "ANN".into(),
        timesteps: 1,
        accuracy: evaluated.ann_accuracy,
        ann_over_method: 1.0,
        spikes_per_neuron: Vec::new(),
        energy: ann_energy,
    }];
    let [real, synthetic, encrypted] =
        cfg.readouts(exp.snn.timesteps, exp.encryption.train.timesteps);
    let order = [
        (SnnSource::Real, real),
        (SnnSource::Synthetic, synthetic),
        (SnnSource::Encrypted, encrypted),
    ];
    for (source, t) in order {
        let Some((_, curve)) = evaluated.snn.iter().find(|(s, _)| *s == source.to_string()) else {
            continue;
        };
        let a = curve.iter().find(|a| a.timesteps == t).with_context(|| {
            format!(
                "{} has no readout of the {source} SNN at T = {t}; re-run `pipeline evaluate --snn`",
                ctx.art.snn_accuracy().display()
            )
        })?;
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
    }
    let r = EnergyStageReport {
        test_images: evaluated.test_images,
        e_mac_pj: costs.e_mac_pj,
        e_ac_pj: costs.e_ac_pj,
        layers,
        methods,
        seconds: start.elapsed().as_secs_f64(),
        device: format!("{:?}", ctx.device),
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

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use privatesnn_models::VggConfig;

    /// A 3x3 conv (padding 1) and an `F` layer (a kernel over the whole map,
    /// no padding), counted by hand.
    #[test]
    fn f_layers_are_counted_as_the_linear_layer_they_are() {
        let config = VggConfig::new()
            .with_in_channels(1)
            .with_image_size(8)
            .with_arch("4,A,F6".into())
            .with_hidden(5)
            .with_num_classes(3);
        let vgg = config.init(&Device::flex());
        let (layers, populations) = vgg_layers(&vgg, [1, 8, 8]).unwrap();
        let macs: Vec<u64> = layers.iter().map(|l| l.macs).collect();
        // conv1: 8x8 outputs x 4 channels x 9 inputs; F6: 6 outputs x 4x4x4
        // inputs; fc1: 6 x 5; fc2: 5 x 3.
        assert_eq!(macs, vec![64 * 4 * 9, 6 * 64, 30, 15]);
        assert_eq!(populations, vec![64, 256, 6, 5]);
    }
}
