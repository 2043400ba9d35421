//! Building the NIR graph of an [`Snn`] and reading/writing it.

use std::path::{Path, PathBuf};

use burn::nn::PaddingConfig2d;
use burn::tensor::Tensor as BurnTensor;
use nir_rs::nodes::{Affine, AvgPool2d, Conv2d, Flatten, I, If, Input, Lif, Output, Padding};
use nir_rs::{MetadataMap, MetadataValue, NirGraph, NirNode, Tensor};
use privatesnn_models::{Snn, VggConfig};
use privatesnn_neurons::Reset;

/// What can go wrong exporting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The network cannot be expressed in NIR as it stands.
    #[error("cannot export to NIR: {0}")]
    Unsupported(String),
    /// nir-rs refused the graph or the file.
    #[error("{}: {source}", path.display())]
    Nir {
        /// The file (empty when building the graph).
        path: PathBuf,
        /// nir-rs's error.
        source: nir_rs::NirError,
    },
}

fn nir(source: nir_rs::NirError) -> ExportError {
    ExportError::Nir {
        path: PathBuf::new(),
        source,
    }
}

fn host<const D: usize>(t: BurnTensor<D>) -> (Vec<usize>, Vec<f32>) {
    let dims = t.dims().to_vec();
    (dims, t.into_data().convert::<f32>().iter::<f32>().collect())
}

fn f32s(shape: Vec<usize>, data: Vec<f32>) -> Result<Tensor, ExportError> {
    Tensor::from_f32(shape, data).map_err(nir)
}

fn f64s(n: usize, value: f64) -> Result<Tensor, ExportError> {
    Tensor::from_f64(vec![n], vec![value; n]).map_err(nir)
}

fn meta(pairs: &[(&str, String)]) -> MetadataMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), MetadataValue::String(v.clone())))
        .collect()
}

/// The node names of the export, in order, for an SNN with `convs` conv
/// layers (`F` layers included) and these pools: `input`, `conv{i}`,
/// `lif{i}`, `pool{i}`, …, `flatten`, `fc1`, `lif_fc1`, `fc2`,
/// `integrator`, `output`.
pub fn node_names(pool_after: &[bool]) -> Vec<String> {
    let mut names = vec!["input".to_string()];
    for (i, &pool) in pool_after.iter().enumerate() {
        names.push(format!("conv{}", i + 1));
        names.push(format!("lif{}", i + 1));
        if pool {
            names.push(format!("pool{}", i + 1));
        }
    }
    for n in ["flatten", "fc1", "lif_fc1", "fc2", "integrator", "output"] {
        names.push(n.into());
    }
    names
}

fn reset_name(reset: Reset) -> &'static str {
    match reset {
        Reset::Subtract => "subtract",
        Reset::Zero => "zero",
    }
}

/// The spiking node of `n` neurons (shape `shape`) with threshold `theta`
/// and leak `leak`, resetting by `reset` (see the crate docs for the mapping;
/// NIR's own reset is to `v_reset = 0`, exact for [`Reset::Zero`]).
fn neuron(shape: &[usize], theta: f64, leak: f64, reset: Reset) -> Result<NirNode, ExportError> {
    let n: usize = shape.iter().product();
    let t = |v: f64| -> Result<Tensor, ExportError> {
        Tensor::from_f64(shape.to_vec(), vec![v; n]).map_err(nir)
    };
    let metadata = meta(&[("reset", reset_name(reset).into())]);
    Ok(if leak == 1.0 {
        NirNode::If(If {
            r: t(1.0)?,
            v_threshold: t(theta)?,
            v_reset: Some(t(0.0)?),
            metadata,
        })
    } else {
        let tau = 1.0 / (1.0 - leak);
        NirNode::Lif(Lif {
            tau: t(tau)?,
            r: t(tau)?,
            v_leak: t(0.0)?,
            v_threshold: t(theta)?,
            v_reset: Some(t(0.0)?),
            metadata,
        })
    })
}

/// The NIR graph of `snn` (architecture `config`): see the crate docs.
///
/// Refused: a leak outside `(0, 1]` and asymmetric conv padding. A hard
/// reset ([`Reset::Zero`]) is NIR's own; a soft one is marked in the
/// metadata (see the crate docs).
pub fn export_graph(snn: &Snn, config: &VggConfig) -> Result<NirGraph, ExportError> {
    let ann = &snn.ann;
    let leak = snn.neurons[0].leak;
    if !(leak > 0.0 && leak <= 1.0) {
        return Err(ExportError::Unsupported(format!(
            "leak {leak}: NIR's IF/LIF need a leak in (0, 1]"
        )));
    }
    let reset = snn.neurons[0].reset;
    let thresholds = snn.thresholds();
    let mut g = NirGraph::new();
    let names = node_names(&ann.pool_after);
    let mut shape = vec![config.in_channels, config.image_size, config.image_size];
    let add = |g: &mut NirGraph, name: &str, node: NirNode| -> Result<(), ExportError> {
        g.insert_node(name, node).map_err(nir)
    };
    add(
        &mut g,
        "input",
        NirNode::Input(Input {
            shape: shape.clone(),
            metadata: meta(&[(
                "encoding",
                "signed Poisson spikes of the image normalised to [-1, 1] (mean 0.5, std 0.5)"
                    .into(),
            )]),
        }),
    )?;
    let sizes = ann.conv_output_sizes([config.image_size, config.image_size]);
    // The SNN's bias currents: each bias over the product of the thresholds
    // before its layer (`Snn::bias_scales`).
    let scales = snn.bias_scales();
    let scaled = |b: Vec<f32>, scale: f64| -> Vec<f32> {
        b.into_iter().map(|v| (v as f64 / scale) as f32).collect()
    };
    for (i, (conv, &pool)) in ann.convs.iter().zip(&ann.pool_after).enumerate() {
        let (wshape, w) = host(conv.weight.val());
        let out = wshape[0];
        let bias = match &conv.bias {
            Some(b) => scaled(host(b.val()).1, scales[i]),
            None => vec![0.0; out],
        };
        let padding = match conv.padding {
            PaddingConfig2d::Explicit(t, l, b, r) if t == b && l == r => {
                Padding::pair(t as i64, l as i64)
            }
            PaddingConfig2d::Valid => Padding::Valid,
            PaddingConfig2d::Same => Padding::Same,
            PaddingConfig2d::Explicit(..) => {
                return Err(ExportError::Unsupported(format!(
                    "conv {} has asymmetric padding",
                    i + 1
                )));
            }
        };
        let [ih, iw] = [shape[1], shape[2]];
        add(
            &mut g,
            &format!("conv{}", i + 1),
            NirNode::Conv2d(Conv2d {
                weight: f32s(wshape.clone(), w)?,
                stride: vec![1, 1],
                padding,
                dilation: vec![1, 1],
                groups: 1,
                bias: f32s(vec![out], bias)?,
                input_shape: Some(vec![ih, iw]),
                metadata: MetadataMap::new(),
            }),
        )?;
        // The conv's own output size (before the pool).
        let [h, w] = if pool {
            let [h, w] = sizes[i];
            [h * 2, w * 2]
        } else {
            sizes[i]
        };
        add(
            &mut g,
            &format!("lif{}", i + 1),
            neuron(&[out, h, w], thresholds[i], leak, reset)?,
        )?;
        shape = vec![out, h, w];
        if pool {
            add(
                &mut g,
                &format!("pool{}", i + 1),
                NirNode::AvgPool2d(AvgPool2d {
                    kernel_size: Tensor::from_i64(vec![2], vec![2, 2]).map_err(nir)?,
                    stride: Tensor::from_i64(vec![2], vec![2, 2]).map_err(nir)?,
                    padding: Tensor::from_i64(vec![2], vec![0, 0]).map_err(nir)?,
                    metadata: MetadataMap::new(),
                }),
            )?;
            shape = vec![out, h / 2, w / 2];
        }
    }
    add(
        &mut g,
        "flatten",
        NirNode::Flatten(Flatten {
            start_dim: 0,
            end_dim: -1,
            input_type: Some(shape.clone()),
            metadata: MetadataMap::new(),
        }),
    )?;
    let linear =
        |l: &burn::nn::Linear, scale: f64| -> Result<(Tensor, Tensor, usize), ExportError> {
            // Burn's `[in, out]` → NIR's (PyTorch's) `[out, in]`.
            let (s, w) = host(l.weight.val().transpose());
            let bias = match &l.bias {
                Some(b) => scaled(host(b.val()).1, scale),
                None => vec![0.0; s[0]],
            };
            Ok((f32s(s.clone(), w)?, f32s(vec![s[0]], bias)?, s[0]))
        };
    let (w, b, hidden) = linear(&ann.fc1, scales[ann.convs.len()])?;
    add(
        &mut g,
        "fc1",
        NirNode::Affine(Affine {
            weight: w,
            bias: b,
            metadata: MetadataMap::new(),
        }),
    )?;
    let last = thresholds.len() - 1;
    add(
        &mut g,
        "lif_fc1",
        neuron(&[hidden], thresholds[last], leak, reset)?,
    )?;
    let (w, b, classes) = linear(&ann.fc2, scales[ann.convs.len() + 1])?;
    add(
        &mut g,
        "fc2",
        NirNode::Affine(Affine {
            weight: w,
            bias: b,
            metadata: MetadataMap::new(),
        }),
    )?;
    add(
        &mut g,
        "integrator",
        NirNode::I(I {
            r: f64s(classes, 1.0)?,
            metadata: meta(&[(
                "readout",
                "logits = state after T steps / T (the accumulated output membrane)".into(),
            )]),
        }),
    )?;
    add(
        &mut g,
        "output",
        NirNode::Output(Output {
            shape: vec![classes],
            metadata: MetadataMap::new(),
        }),
    )?;
    for pair in names.windows(2) {
        g.add_edge(pair[0].clone(), pair[1].clone());
    }
    g.metadata = meta(&[
        (
            "producer",
            format!("privatesnn {}", env!("CARGO_PKG_VERSION")),
        ),
        ("reset", reset_name(reset).into()),
        ("timesteps", snn.timesteps.to_string()),
        ("dt", "1".into()),
    ]);
    g.validate_structure().map_err(nir)?;
    Ok(g)
}

/// Write `graph` as a NIR HDF5 file at `path` (atomically: nir-rs writes a
/// temporary sibling and renames it).
pub fn write(graph: &NirGraph, path: &Path) -> Result<(), ExportError> {
    nir_rs::io::write(path, graph).map_err(|source| ExportError::Nir {
        path: path.to_path_buf(),
        source,
    })
}

/// Read a NIR HDF5 file.
pub fn read(path: &Path) -> Result<NirGraph, ExportError> {
    nir_rs::io::read(path).map_err(|source| ExportError::Nir {
        path: path.to_path_buf(),
        source,
    })
}
