//! Importing a VGG trained in PyTorch: a state dict saved as `.pt`/`.pth`
//! (PyTorch's zip or legacy format) or `.safetensors`, read with burn-store's
//! readers, becomes a [`Vgg`] of a given [`VggConfig`].
//!
//! # Layouts
//!
//! Both the PrivateSNN authors' VGG16 and torchvision's `vgg11/13/16/19(_bn)`
//! name their layers `features.{i}` and `classifier.{i}`; keys are read by
//! that pattern (a `module.` prefix from `DataParallel` is dropped, and a
//! checkpoint that nests the state dict under a key takes
//! [`ImportOptions::top_level_key`]):
//!
//! - every 4-D `features.{i}.weight` is a conv, in index order;
//! - a `features.{i}` with `running_mean` is a batch norm, folded into the
//!   conv before it (`W' = s W`, `b' = s (b − μ) + β`, `s = γ / √(σ² + ε)`,
//!   inference statistics);
//! - the `classifier.{i}.weight`s are the linear layers, in order: the last
//!   is `fc2`, the one before `fc1`, and any before those are the `F`
//!   entries of `[model] arch` ([`VggLayer::Full`](crate::VggLayer::Full)).
//!   torchvision's VGG has three (`F4096`, then `hidden = 4096`).
//! - torchvision pools to 7x7 (`AdaptiveAvgPool2d`) before its classifier.
//!   When the first linear layer reads `channels · b²` features on a map of
//!   another side, the pool is folded into its weight (exact: the pool is
//!   linear); a 32x32 input reaches it as 1x1 and every weight column of a
//!   channel is summed.
//!
//! Biases (and folded batch norms) need [`VggConfig::bias`]: in the SNN a
//! bias is an input current at every timestep. A state dict holds no pooling
//! or dropout layers: their places come from `[model] arch`. torchvision's
//! VGG max-pools; the SNN average-pools (spikes cannot be max-pooled by rate),
//! so an imported max-pooling network changes function: measure its accuracy
//! (the pipeline's `evaluate` stage) before converting it.
//!
//! Every shape is checked against the config; a mismatch names the layer
//! and both shapes.

mod fold;
mod layout;

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Param;
use burn::store::{KeyRemapper, ModuleStore, PytorchStore, SafetensorsStore, bridge};
use burn::tensor::{Device, Tensor, TensorData};

pub use fold::{BatchNorm, fold_adaptive_avg_pool, fold_batch_norm};
use layout::{Raw, StateDict};

use crate::{ModelError, Vgg, VggConfig};

/// How to read a state dict.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportOptions {
    /// The key the state dict sits under in a `.pt` checkpoint (e.g.
    /// `state_dict`, `model`); `None` for a bare state dict.
    pub top_level_key: Option<String>,
    /// Batch-norm `ε` (PyTorch's default 1e-5).
    pub bn_eps: f64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            top_level_key: None,
            bn_eps: 1e-5,
        }
    }
}

/// What an import read and folded.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportSummary {
    /// Tensors read.
    pub tensors: usize,
    /// Convs of `features`.
    pub convs: usize,
    /// Linear layers of `classifier` (`F` layers, `fc1`, `fc2`).
    pub linears: usize,
    /// Batch norms folded into convs.
    pub batch_norms_folded: usize,
    /// The bins `b` of an adaptive average pool folded into the first
    /// linear layer (`Some(7)` for torchvision's VGG), if any.
    pub adaptive_pool_bins: Option<usize>,
    /// Whether the file has biases (or batch norms).
    pub biases: bool,
}

fn read_tensors(path: &Path, options: &ImportOptions) -> Result<BTreeMap<String, Raw>, String> {
    let remap = KeyRemapper::new()
        .add_pattern(r"^module\.", "")
        .map_err(|e| e.to_string())?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    // A nested checkpoint (`{"state_dict": {...}, "epoch": 3}`) is read whole
    // and its tensors under `key.` kept, the prefix dropped (pytorch-reader's
    // own top-level-key path fails on some zip checkpoints).
    let prefix = options.top_level_key.as_ref().map(|k| format!("{k}."));
    let convert = |all: &BTreeMap<String, burn::store::burn_pack::Tensor>| {
        let mut out = BTreeMap::new();
        for (name, t) in all {
            let name = match &prefix {
                Some(p) => match name.strip_prefix(p.as_str()) {
                    Some(rest) => rest.strip_prefix("module.").unwrap_or(rest),
                    None => continue,
                },
                None => name,
            };
            if name.ends_with(".num_batches_tracked") {
                continue;
            }
            let data = bridge::to_data(t)
                .map_err(|e| format!("tensor `{name}`: {e}"))?
                .convert::<f32>();
            let values = data
                .try_to_vec::<f32>()
                .map_err(|e| format!("tensor `{name}`: {e:?}"))?;
            out.insert(
                name.to_string(),
                Raw {
                    shape: t.shape.to_vec(),
                    data: values,
                },
            );
        }
        if let (Some(key), true) = (&options.top_level_key, out.is_empty()) {
            let tops: std::collections::BTreeSet<&str> =
                all.keys().filter_map(|k| k.split('.').next()).collect();
            return Err(format!(
                "no tensors under the key `{key}`; the file's top-level names are: {}",
                tops.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok::<_, String>(out)
    };
    match ext {
        "pt" | "pth" | "bin" | "ckpt" => {
            // Keep the file's own layer indices (`features.3`), which the layout is read from.
            let mut store = PytorchStore::from_file(path)
                .remap(remap)
                .map_indices_contiguous(false);
            let all = store.get_all_tensors().map_err(|e| {
                let mut msg = format!("not a readable PyTorch file: {e}");
                // pytorch-reader 0.22.1 (zip 9.8) rejects some valid PyTorch zip
                // archives: seen with a file stem of exactly 21 characters.
                if msg.contains("Central Directory") {
                    msg.push_str(
                        " (if PyTorch itself loads it, this is a known reader bug with some \
                         zip layouts: save it again under another file name, or as \
                         .safetensors or with _use_new_zipfile_serialization=False)",
                    );
                }
                msg
            })?;
            convert(all)
        }
        "safetensors" => {
            let mut store = SafetensorsStore::from_file(path)
                .remap(remap)
                .map_indices_contiguous(false);
            let all = store
                .get_all_tensors()
                .map_err(|e| format!("not a readable safetensors file: {e}"))?;
            convert(all)
        }
        _ => Err("a PyTorch state dict must end in .pt, .pth, .bin, .ckpt or .safetensors".into()),
    }
}

fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D], device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(data, shape), device))
}

/// Read the PyTorch state dict at `path` (`.pt`, `.pth`, `.bin`, `.ckpt`,
/// `.safetensors`) into a [`Vgg`] of `config` on `device` (see the module
/// docs for the layouts). Errors name the file and, for a mismatch with
/// `config`, the layer and both shapes.
pub fn import_pytorch(
    path: &Path,
    config: &VggConfig,
    options: &ImportOptions,
    device: &Device,
) -> Result<(Vgg, ImportSummary), ModelError> {
    let fail = |reason: String| ModelError::Format {
        path: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(ModelError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    config.validate()?;
    if !(options.bn_eps.is_finite() && options.bn_eps >= 0.0) {
        return Err(fail(format!(
            "batch-norm epsilon {} must be finite and >= 0",
            options.bn_eps
        )));
    }
    let tensors = read_tensors(path, options).map_err(fail)?;
    let count = tensors.len();
    let dict = layout::parse(tensors, options.bn_eps).map_err(fail)?;
    let (vgg, mut summary) = assemble(dict, config, device).map_err(fail)?;
    summary.tensors = count;
    crate::io::check_values(&vgg, &[], path)?;
    Ok((vgg, summary))
}

/// Build the `Vgg` of `config` from the parsed layers, checking each shape.
fn assemble(
    dict: StateDict,
    config: &VggConfig,
    device: &Device,
) -> Result<(Vgg, ImportSummary), String> {
    let mut vgg = config.init(device);
    let has_bias = dict.has_bias();
    if has_bias && !config.bias {
        let key = dict
            .convs
            .iter()
            .find(|c| c.bias.is_some() || c.bn.is_some())
            .map(|c| c.key.clone())
            .or_else(|| {
                dict.linears
                    .iter()
                    .find(|l| l.bias.is_some())
                    .map(|l| l.key.clone())
            })
            .unwrap_or_default();
        return Err(format!(
            "layer `{key}` has a bias (or a batch norm, folded into one), but `[model] bias` \
             is false: set `bias = true` (in the SNN a bias is an input current every timestep)"
        ));
    }
    let f_layers = dict.linears.len() - 2;
    let config_f = config
        .layers()
        .map_err(|e| e.to_string())?
        .iter()
        .filter(|l| matches!(l, crate::VggLayer::Full(_)))
        .count();
    if dict.convs.len() != vgg.convs.len() - config_f || f_layers != config_f {
        return Err(format!(
            "the file has {} convs and {} linear layers ({}); `[model] arch` `{}` has {} convs, \
             {config_f} `F` layers, then fc1 and fc2",
            dict.convs.len(),
            dict.linears.len(),
            dict.linears
                .iter()
                .map(|l| l.key.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            config.arch,
            vgg.convs.len() - config_f,
        ));
    }
    let mismatch = |key: &str, what: &str, file: &[usize], model: &[usize]| {
        format!("layer `{key}` ({what}): the file's weight is {file:?}, `[model]` gives {model:?}")
    };
    let mut summary = ImportSummary {
        tensors: 0,
        convs: dict.convs.len(),
        linears: dict.linears.len(),
        batch_norms_folded: 0,
        adaptive_pool_bins: None,
        biases: has_bias,
    };
    // Convs (with their batch norms).
    for (i, layer) in dict.convs.into_iter().enumerate() {
        let conv = &mut vgg.convs[i];
        let dims = conv.weight.dims();
        if layer.weight.shape != dims {
            return Err(mismatch(
                &layer.key,
                &format!("conv {}", i + 1),
                &layer.weight.shape,
                &dims,
            ));
        }
        let mut w = layer.weight.data;
        let mut b = layer
            .bias
            .map(|b| b.data)
            .unwrap_or_else(|| vec![0.0; dims[0]]);
        if let Some((_, bn)) = &layer.bn {
            fold_batch_norm(&mut w, &mut b, bn);
            summary.batch_norms_folded += 1;
        }
        conv.weight = tensor(w, dims, device);
        if config.bias {
            conv.bias = Some(tensor(b, [dims[0]], device));
        }
    }
    // Linears: F layers (convs over the whole map), fc1, fc2.
    let first_conv = vgg.convs.len() - f_layers;
    let sizes = vgg.conv_output_sizes([config.image_size, config.image_size]);
    let mut fin_expected: Option<usize> = None;
    for (k, layer) in dict.linears.into_iter().enumerate() {
        let [out, fin] = [layer.weight.shape[0], layer.weight.shape[1]];
        let (model_out, channels, side) = if k < f_layers {
            let [o, c, s, _] = vgg.convs[first_conv + k].weight.dims();
            (o, c, s)
        } else if k == f_layers {
            // fc1 reads the last conv's (pooled) map.
            let last = vgg.convs.len() - 1;
            let [_, o] = vgg.fc1.weight.dims();
            let [h, _] = sizes[last];
            (o, vgg.convs[last].weight.dims()[0], h)
        } else {
            let [h, o] = vgg.fc2.weight.dims();
            (o, h, 1)
        };
        let model_in = channels * side * side;
        let what = match k {
            _ if k < f_layers => format!("`F` layer {}", k + 1),
            _ if k == f_layers => "fc1".to_string(),
            _ => "fc2".to_string(),
        };
        let mut w = layer.weight.data;
        if out != model_out {
            return Err(mismatch(
                &layer.key,
                &what,
                &[out, fin],
                &[model_out, model_in],
            ));
        }
        match fin_expected {
            // Later layers read the one before exactly.
            Some(prev) if fin != prev || fin != model_in => {
                return Err(mismatch(
                    &layer.key,
                    &what,
                    &[out, fin],
                    &[model_out, model_in],
                ));
            }
            Some(_) => {}
            None if fin == model_in => {}
            None => {
                // An adaptive average pool to b x b before the classifier.
                let bins = (1..=fin).find(|b| channels * b * b == fin);
                let Some(bins) = bins else {
                    return Err(mismatch(
                        &layer.key,
                        &what,
                        &[out, fin],
                        &[model_out, model_in],
                    ));
                };
                w = fold_adaptive_avg_pool(&w, out, channels, bins, side);
                summary.adaptive_pool_bins = Some(bins);
            }
        }
        fin_expected = Some(out);
        let b = layer.bias.map(|b| b.data).unwrap_or_else(|| vec![0.0; out]);
        if k < f_layers {
            let conv = &mut vgg.convs[first_conv + k];
            conv.weight = tensor(w, [out, channels, side, side], device);
            if config.bias {
                conv.bias = Some(tensor(b, [out], device));
            }
        } else {
            // Burn's linear weight is `[in, out]`: the transpose of PyTorch's.
            let t = Tensor::<2>::from_data(TensorData::new(w, [out, model_in]), device).transpose();
            let linear = if k == f_layers {
                &mut vgg.fc1
            } else {
                &mut vgg.fc2
            };
            linear.weight = Param::from_tensor(t);
            if config.bias {
                linear.bias = Some(tensor(b, [out], device));
            }
        }
    }
    Ok((vgg, summary))
}
