//! Saving and loading models, thresholds included.
//!
//! # Format
//!
//! A model saved at `model.bpk` or `model.safetensors` is two files:
//!
//! - the weights, in Burn's native **burnpack** (`.bpk`) or in
//!   **safetensors** (`.safetensors`, readable by PyTorch, NumPy, candle...).
//!   Tensor names are the module paths: `ann.convs.{i}.weight` (`[out, in, 3, 3]`),
//!   `ann.fc1.weight` (`[flat, hidden]`, Burn's row layout: input-major, the
//!   transpose of PyTorch's), `ann.fc2.weight` (`[hidden, classes]`), with
//!   [`VggConfig::bias`] also `ann.convs.{i}.bias`, `ann.fc1.bias`,
//!   `ann.fc2.bias`, and for an SNN `neurons.{l}.threshold` (`[1]`, one per
//!   spiking layer) — an ANN's names are the same without the `ann.` prefix.
//!   All f32. `F` layers (`VggLayer::Full`) are entries of `convs`.
//! - a JSON sidecar with the same stem (`model.json`): `{"format":
//!   "privatesnn-model", "version": 1, "kind": "ann"|"snn", "vgg": {...},
//!   "snn": {...}}`, the configs needed to rebuild the module. In safetensors
//!   files the same JSON is also stored in the header metadata under
//!   `privatesnn`.
//!
//! Every write goes to a temporary sibling first and is renamed into place,
//! so an interrupted save never leaves a truncated model behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::{ModelError, Snn, SnnConfig, Vgg, VggConfig};

const FORMAT: &str = "privatesnn-model";
const VERSION: u32 = 1;

/// Which network a model file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A [`Vgg`] ANN.
    Ann,
    /// An [`Snn`] (weights + thresholds).
    Snn,
}

/// The JSON sidecar of a saved model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Always `privatesnn-model`.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// ANN or SNN.
    pub kind: ModelKind,
    /// The architecture.
    pub vgg: VggConfig,
    /// Simulation settings (SNN only).
    pub snn: Option<SnnConfig>,
}

/// Weight file encodings, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    /// Burn's burnpack (`.bpk`).
    Burnpack,
    /// safetensors (`.safetensors`).
    Safetensors,
}

impl WeightFormat {
    /// The format a path's extension names.
    pub fn from_path(path: &Path) -> Result<Self, ModelError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("bpk") => Ok(Self::Burnpack),
            Some("safetensors") => Ok(Self::Safetensors),
            _ => Err(ModelError::Format {
                path: path.to_path_buf(),
                reason: "model files must end in .bpk or .safetensors".into(),
            }),
        }
    }
}

/// The sidecar path of a model file (`model.bpk` → `model.json`).
pub fn meta_path(path: &Path) -> PathBuf {
    path.with_extension("json")
}

/// Write `bytes` to `path` atomically, creating its folder if needed: a
/// temporary sibling (`tempfile`) is written, fsynced and renamed into place,
/// so `path` holds either the old or the new bytes, never a mix. Every file
/// the models crate and the pipeline write goes through here (the data
/// crate, which does not depend on this one, has the same routine for its
/// PNGs and downloads).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// The weights of a VGG by name (`convs.{i}.weight`, `fc1.weight`,
/// `fc2.weight`, then the biases it has).
fn vgg_weights(vgg: &Vgg) -> Vec<(String, burn::tensor::Tensor<1>)> {
    let mut out: Vec<(String, burn::tensor::Tensor<1>)> = vgg
        .convs
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("convs.{i}.weight"), c.weight.val().flatten(0, 3)))
        .collect();
    out.push(("fc1.weight".into(), vgg.fc1.weight.val().flatten(0, 1)));
    out.push(("fc2.weight".into(), vgg.fc2.weight.val().flatten(0, 1)));
    let biases = vgg
        .convs
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("convs.{i}.bias"), c.bias.as_ref()))
        .chain([
            ("fc1.bias".to_string(), vgg.fc1.bias.as_ref()),
            ("fc2.bias".to_string(), vgg.fc2.bias.as_ref()),
        ]);
    out.extend(biases.filter_map(|(name, b)| Some((name, b?.val()))));
    out
}

/// The first weight tensor of `vgg` holding a NaN or an infinity, by name.
pub fn non_finite_weight(vgg: &Vgg) -> Option<String> {
    vgg_weights(vgg).into_iter().find_map(|(name, w)| {
        let bad = !w.is_finite().all().into_scalar::<bool>();
        bad.then_some(name)
    })
}

/// Check that every weight is finite and every threshold finite and > 0.
pub fn check_values(vgg: &Vgg, thresholds: &[f64], path: &Path) -> Result<(), ModelError> {
    if let Some(name) = non_finite_weight(vgg) {
        return Err(ModelError::NonFinite {
            path: path.to_path_buf(),
            what: name,
        });
    }
    for (l, &t) in thresholds.iter().enumerate() {
        if !(t.is_finite() && t > 0.0) {
            return Err(ModelError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "threshold of spiking layer {l} (`neurons.{l}.threshold`) is {t}; \
                     thresholds must be finite and > 0"
                ),
            });
        }
    }
    Ok(())
}

fn write_meta(path: &Path, meta: &ModelMeta) -> Result<String, ModelError> {
    let json = serde_json::to_string_pretty(meta).expect("model metadata serializes");
    atomic_write(&meta_path(path), json.as_bytes())?;
    Ok(json)
}

fn save_module<M: Module>(module: &M, path: &Path, meta: &ModelMeta) -> Result<(), ModelError> {
    let format = WeightFormat::from_path(path)?;
    let json = write_meta(path, meta)?;
    let fail = |reason: String| ModelError::Format {
        path: path.to_path_buf(),
        reason,
    };
    match format {
        WeightFormat::Burnpack => {
            let bytes = module
                .clone()
                .into_record()
                .into_bytes()
                .map_err(|e| fail(e.to_string()))?;
            atomic_write(path, &bytes)
        }
        WeightFormat::Safetensors => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            let mut store = SafetensorsStore::from_file(path)
                .overwrite(true)
                .metadata("privatesnn", json);
            module
                .save_into(&mut store)
                .map_err(|e| fail(e.to_string()))
        }
    }
}

fn read_meta(path: &Path, kind: ModelKind) -> Result<ModelMeta, ModelError> {
    let mpath = meta_path(path);
    let text = match std::fs::read_to_string(&mpath) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !path.exists() => {
            return Err(ModelError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no such model (nor its sidecar {})", mpath.display()),
                ),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelError::Format {
                path: path.to_path_buf(),
                reason: format!(
                    "its sidecar {} is missing; it holds the architecture the weights \
                     belong to, and every save writes it next to the weights: copy both files",
                    mpath.display()
                ),
            });
        }
        Err(source) => {
            return Err(ModelError::Io {
                path: mpath.clone(),
                source,
            });
        }
    };
    let mut value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| ModelError::Format {
            path: mpath.clone(),
            reason: format!("not a model sidecar: {e}"),
        })?;
    // Sidecars written before `detach_reset` existed: the setting then in
    // force was an attached reset.
    if let Some(serde_json::Value::Object(snn)) = value.get_mut("snn") {
        snn.entry("detach_reset")
            .or_insert(serde_json::Value::Bool(false));
    }
    // Sidecars written before `bias` existed: every model was bias-free.
    if let Some(serde_json::Value::Object(vgg)) = value.get_mut("vgg") {
        vgg.entry("bias").or_insert(serde_json::Value::Bool(false));
    }
    let meta: ModelMeta = serde_json::from_value(value).map_err(|e| ModelError::Format {
        path: mpath.clone(),
        reason: format!("not a model sidecar: {e}"),
    })?;
    let bad = |reason: String| ModelError::Format {
        path: mpath.clone(),
        reason,
    };
    if meta.format != FORMAT || meta.version != VERSION {
        return Err(bad(format!(
            "format `{}` version {} (expected `{FORMAT}` version {VERSION})",
            meta.format, meta.version
        )));
    }
    if meta.kind != kind {
        return Err(bad(format!(
            "holds an {:?}, expected an {kind:?}",
            meta.kind
        )));
    }
    meta.vgg.validate().map_err(|e| bad(e.to_string()))?;
    if let Some(snn) = &meta.snn {
        snn.validate().map_err(|e| bad(e.to_string()))?;
    }
    Ok(meta)
}

fn load_module<M: Module>(module: M, path: &Path) -> Result<M, ModelError> {
    let format = WeightFormat::from_path(path)?;
    if !path.exists() {
        return Err(ModelError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let fail = |reason: String| ModelError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let unreadable = |e: String| {
        fail(format!(
            "not a readable {} model file ({size} bytes; truncated, corrupt or another format): {e}",
            match format {
                WeightFormat::Burnpack => "burnpack",
                WeightFormat::Safetensors => "safetensors",
            }
        ))
    };
    match format {
        WeightFormat::Burnpack => module
            .try_load_file(path)
            .map_err(|e| unreadable(e.to_string())),
        WeightFormat::Safetensors => {
            let mut module = module;
            let mut store = SafetensorsStore::from_file(path);
            let result = module
                .load_from(&mut store)
                .map_err(|e| unreadable(e.to_string()))?;
            if !result.is_success() || !result.missing.is_empty() {
                return Err(fail(format!(
                    "weights do not fit the model: missing {:?}, errors {:?}",
                    result.missing, result.errors
                )));
            }
            Ok(module)
        }
    }
}

/// Save an ANN (weights + sidecar) to `path` (`.bpk` or `.safetensors`).
///
/// Refuses (before writing anything) a model with a NaN or infinite weight.
pub fn save_ann(model: &Vgg, config: &VggConfig, path: &Path) -> Result<(), ModelError> {
    check_values(model, &[], path)?;
    let meta = ModelMeta {
        format: FORMAT.into(),
        version: VERSION,
        kind: ModelKind::Ann,
        vgg: config.clone(),
        snn: None,
    };
    save_module(model, path, &meta)
}

/// Load an ANN saved by [`save_ann`], onto `device`.
///
/// Errors name the file: missing sidecar, unreadable weights, weights that
/// do not fit the architecture, or a NaN / infinite weight.
pub fn load_ann(path: &Path, device: &Device) -> Result<(Vgg, VggConfig), ModelError> {
    let meta = read_meta(path, ModelKind::Ann)?;
    let model = load_module(meta.vgg.init(device), path)?;
    check_values(&model, &[], path)?;
    Ok((model, meta.vgg))
}

/// Save an SNN (weights, thresholds + sidecar) to `path`.
///
/// Refuses a NaN or infinite weight and a threshold that is not finite and > 0.
pub fn save_snn(
    model: &Snn,
    vgg: &VggConfig,
    snn: &SnnConfig,
    path: &Path,
) -> Result<(), ModelError> {
    check_values(&model.ann, &model.thresholds(), path)?;
    let meta = ModelMeta {
        format: FORMAT.into(),
        version: VERSION,
        kind: ModelKind::Snn,
        vgg: vgg.clone(),
        snn: Some(snn.clone()),
    };
    save_module(model, path, &meta)
}

/// Load an SNN saved by [`save_snn`], onto `device`, with the checks of
/// [`load_ann`] and thresholds that must be finite and > 0.
pub fn load_snn(path: &Path, device: &Device) -> Result<(Snn, VggConfig, SnnConfig), ModelError> {
    let meta = read_meta(path, ModelKind::Snn)?;
    let snn_cfg = meta.snn.clone().ok_or_else(|| ModelError::Format {
        path: meta_path(path),
        reason: "SNN sidecar without `snn` settings".into(),
    })?;
    let skeleton = Snn::from_ann(meta.vgg.init(device), &snn_cfg);
    let model = load_module(skeleton, path)?;
    check_values(&model.ann, &model.thresholds(), path)?;
    Ok((model, meta.vgg, snn_cfg))
}
