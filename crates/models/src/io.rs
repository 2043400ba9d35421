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
//!   transpose of PyTorch's), `ann.fc2.weight` (`[hidden, classes]`), and for
//!   an SNN `neurons.{l}.threshold` (`[1]`, one per spiking layer) — an ANN's
//!   names are the same without the `ann.` prefix. All f32.
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

/// Write `bytes` to `path` atomically: a temporary sibling, fsync, rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
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
    let text = std::fs::read_to_string(&mpath).map_err(|source| ModelError::Io {
        path: mpath.clone(),
        source,
    })?;
    let meta: ModelMeta = serde_json::from_str(&text).map_err(|e| ModelError::Format {
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
    match format {
        WeightFormat::Burnpack => module.try_load_file(path).map_err(|e| fail(e.to_string())),
        WeightFormat::Safetensors => {
            let mut module = module;
            let mut store = SafetensorsStore::from_file(path);
            let result = module
                .load_from(&mut store)
                .map_err(|e| fail(e.to_string()))?;
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
pub fn save_ann(model: &Vgg, config: &VggConfig, path: &Path) -> Result<(), ModelError> {
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
pub fn load_ann(path: &Path, device: &Device) -> Result<(Vgg, VggConfig), ModelError> {
    let meta = read_meta(path, ModelKind::Ann)?;
    let model = load_module(meta.vgg.init(device), path)?;
    Ok((model, meta.vgg))
}

/// Save an SNN (weights, thresholds + sidecar) to `path`.
pub fn save_snn(
    model: &Snn,
    vgg: &VggConfig,
    snn: &SnnConfig,
    path: &Path,
) -> Result<(), ModelError> {
    let meta = ModelMeta {
        format: FORMAT.into(),
        version: VERSION,
        kind: ModelKind::Snn,
        vgg: vgg.clone(),
        snn: Some(snn.clone()),
    };
    save_module(model, path, &meta)
}

/// Load an SNN saved by [`save_snn`], onto `device`.
pub fn load_snn(path: &Path, device: &Device) -> Result<(Snn, VggConfig, SnnConfig), ModelError> {
    let meta = read_meta(path, ModelKind::Snn)?;
    let snn_cfg = meta.snn.clone().ok_or_else(|| ModelError::Format {
        path: meta_path(path),
        reason: "SNN sidecar without `snn` settings".into(),
    })?;
    let skeleton = Snn::from_ann(meta.vgg.init(device), &snn_cfg);
    let model = load_module(skeleton, path)?;
    Ok((model, meta.vgg, snn_cfg))
}
