//! Save/load round trips and bad-file errors.

use burn::tensor::{Device, Distribution, Tensor};
use privatesnn_models::io::{load_ann, load_snn, meta_path, save_ann, save_snn};
use privatesnn_models::{ModelError, Snn, SnnConfig, VggConfig};

fn cfg() -> VggConfig {
    VggConfig::new()
        .with_in_channels(1)
        .with_image_size(8)
        .with_num_classes(3)
        .with_arch("4,A,6,A".into())
        .with_hidden(5)
}

#[test]
fn ann_round_trips_in_both_formats() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let ann = cfg().init(&device);
    let x = Tensor::<4>::random([2, 1, 8, 8], Distribution::Uniform(-1.0, 1.0), &device);
    let want = ann.forward(x.clone()).into_data();
    for name in ["ann.bpk", "ann.safetensors"] {
        let path = dir.path().join(name);
        save_ann(&ann, &cfg(), &path).unwrap();
        assert!(meta_path(&path).exists());
        let (loaded, loaded_cfg) = load_ann(&path, &device).unwrap();
        assert_eq!(loaded_cfg, cfg());
        loaded.forward(x.clone()).into_data().assert_eq(&want, true);
    }
}

#[test]
fn snn_round_trips_with_thresholds() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let snn_cfg = SnnConfig::new().with_timesteps(7);
    let snn = Snn::from_ann(cfg().init(&device), &snn_cfg).with_thresholds(&[0.25, 1.5, 2.75]);
    for name in ["snn.bpk", "snn.safetensors"] {
        let path = dir.path().join(name);
        save_snn(&snn, &cfg(), &snn_cfg, &path).unwrap();
        let (loaded, _, loaded_snn) = load_snn(&path, &device).unwrap();
        assert_eq!(loaded.thresholds(), vec![0.25, 1.5, 2.75]);
        assert_eq!(loaded_snn, snn_cfg);
        let a = snn.ann.fc1.weight.val().into_data();
        a.assert_eq(&loaded.ann.fc1.weight.val().into_data(), true);
    }
}

#[test]
fn bad_files_give_errors_that_name_them() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    // missing file and sidecar
    let missing = dir.path().join("none.bpk");
    let e = load_ann(&missing, &device).unwrap_err();
    assert!(matches!(e, ModelError::Io { .. }), "{e}");
    assert!(e.to_string().contains("none.json"), "{e}");
    // wrong extension
    let e = save_ann(&cfg().init(&device), &cfg(), &dir.path().join("m.pt")).unwrap_err();
    assert!(e.to_string().contains(".bpk or .safetensors"), "{e}");
    // corrupt weights
    let path = dir.path().join("ann.bpk");
    save_ann(&cfg().init(&device), &cfg(), &path).unwrap();
    std::fs::write(&path, b"garbage").unwrap();
    let e = load_ann(&path, &device).unwrap_err();
    assert!(
        matches!(e, ModelError::Format { .. }) && e.to_string().contains("ann.bpk"),
        "{e}"
    );
    // an SNN file loaded as an ANN
    let snn_path = dir.path().join("snn.bpk");
    let snn = Snn::from_ann(cfg().init(&device), &SnnConfig::new());
    save_snn(&snn, &cfg(), &SnnConfig::new(), &snn_path).unwrap();
    let e = load_ann(&snn_path, &device).unwrap_err();
    assert!(e.to_string().contains("expected an Ann"), "{e}");
    // weights that do not fit the sidecar's architecture
    let other = dir.path().join("other.safetensors");
    save_ann(&cfg().init(&device), &cfg(), &other).unwrap();
    let bigger = cfg().with_hidden(9);
    let meta = std::fs::read_to_string(meta_path(&other))
        .unwrap()
        .replace("\"hidden\": 5", "\"hidden\": 9");
    std::fs::write(meta_path(&other), meta).unwrap();
    let e = load_ann(&other, &device).unwrap_err();
    assert!(matches!(e, ModelError::Format { .. }), "{e} ({bigger:?})");
}

/// Overwrite the f32 values of tensor `name` in a safetensors file.
fn patch_safetensors(path: &std::path::Path, name: &str, value: f32) {
    let mut bytes = std::fs::read(path).unwrap();
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let offsets = &header[name]["data_offsets"];
    let (a, b) = (
        offsets[0].as_u64().unwrap() as usize,
        offsets[1].as_u64().unwrap() as usize,
    );
    for at in (8 + len + a..8 + len + b).step_by(4) {
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// Issue 9: a model with NaN weights loaded and was evaluated silently.
#[test]
fn issue9_non_finite_weights_are_refused_on_save_and_load() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let mut ann = cfg().init(&device);
    let path = dir.path().join("ann.safetensors");
    save_ann(&ann, &cfg(), &path).unwrap();
    for bad in [f32::NAN, f32::INFINITY] {
        patch_safetensors(&path, "fc1.weight", bad);
        let e = load_ann(&path, &device).unwrap_err();
        assert!(
            e.to_string()
                .contains("weight `fc1.weight` holds NaN or infinite values"),
            "{e}"
        );
    }
    // Nothing non-finite is written in the first place.
    ann.convs[1].weight =
        burn::module::Param::from_tensor(ann.convs[1].weight.val().mul_scalar(f64::NAN));
    let fresh = dir.path().join("nan.bpk");
    let e = save_ann(&ann, &cfg(), &fresh).unwrap_err();
    assert!(e.to_string().contains("convs.1.weight"), "{e}");
    assert!(!fresh.exists() && !meta_path(&fresh).exists());
}

/// Issue 9: an SNN with a NaN, zero, negative or infinite threshold loaded
/// and was evaluated silently.
#[test]
fn issue9_bad_thresholds_are_refused_on_save_and_load() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let snn_cfg = SnnConfig::new();
    let snn = Snn::from_ann(cfg().init(&device), &snn_cfg).with_thresholds(&[0.5, 1.0, 2.0]);
    let path = dir.path().join("snn.safetensors");
    for bad in [f32::NAN, 0.0, -1.0, f32::INFINITY] {
        save_snn(&snn, &cfg(), &snn_cfg, &path).unwrap();
        patch_safetensors(&path, "neurons.1.threshold", bad);
        let e = load_snn(&path, &device).unwrap_err();
        assert!(
            e.to_string()
                .contains("threshold of spiking layer 1 (`neurons.1.threshold`)"),
            "{bad}: {e}"
        );
        let e = save_snn(
            &snn.clone().with_thresholds(&[0.5, bad as f64, 2.0]),
            &cfg(),
            &snn_cfg,
            &dir.path().join("bad.bpk"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("must be finite and > 0"),
            "{bad}: {e}"
        );
    }
}

/// Issue 9: a 0-byte or 100-byte model said only "failed to fill whole
/// buffer"; a missing sidecar printed an OS error with no hint.
#[test]
fn issue9_truncated_files_and_missing_sidecars_say_what_is_wrong() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ann.bpk");
    save_ann(&cfg().init(&device), &cfg(), &path).unwrap();
    let good = std::fs::read(&path).unwrap();
    for n in [0usize, 100] {
        std::fs::write(&path, &good[..n.min(good.len())]).unwrap();
        let e = load_ann(&path, &device).unwrap_err().to_string();
        assert!(
            e.contains(&format!("not a readable burnpack model file ({n} bytes")),
            "{n}: {e}"
        );
    }
    std::fs::write(&path, &good).unwrap();
    std::fs::remove_file(meta_path(&path)).unwrap();
    let e = load_ann(&path, &device).unwrap_err().to_string();
    assert!(
        e.contains("sidecar") && e.contains("ann.json is missing") && e.contains("copy both"),
        "{e}"
    );
}

/// `detach_reset` is saved with the SNN (default: detached, as the authors'
/// code), and sidecars written before the field existed load with the
/// attached reset they were made with.
#[test]
fn detach_reset_round_trips_and_old_sidecars_load() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    assert!(SnnConfig::new().detach_reset);
    let snn_cfg = SnnConfig::new();
    let snn = Snn::from_ann(cfg().init(&device), &snn_cfg).with_thresholds(&[0.5, 1.0, 2.0]);
    assert!(snn.neurons.iter().all(|n| n.detach_reset));
    let path = dir.path().join("snn.bpk");
    save_snn(&snn, &cfg(), &snn_cfg, &path).unwrap();
    let (loaded, _, loaded_cfg) = load_snn(&path, &device).unwrap();
    assert!(loaded_cfg.detach_reset && loaded.neurons.iter().all(|n| n.detach_reset));
    // An older sidecar, without the field.
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(meta_path(&path)).unwrap()).unwrap();
    meta["snn"].as_object_mut().unwrap().remove("detach_reset");
    std::fs::write(meta_path(&path), meta.to_string()).unwrap();
    let (loaded, _, loaded_cfg) = load_snn(&path, &device).unwrap();
    assert!(!loaded_cfg.detach_reset && loaded.neurons.iter().all(|n| !n.detach_reset));
}

/// `bias` is saved with the architecture; sidecars written before it existed
/// (every model bias-free) still load.
#[test]
fn bias_round_trips_and_old_sidecars_load() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ann.bpk");
    let config = VggConfig::new()
        .with_in_channels(1)
        .with_image_size(8)
        .with_arch("4,A,F6".into())
        .with_hidden(8);
    let biased = config.clone().with_bias(true);
    save_ann(&biased.init(&device), &biased, &path).unwrap();
    let (ann, loaded) = load_ann(&path, &device).unwrap();
    assert!(loaded.bias && ann.convs.iter().all(|c| c.bias.is_some()));
    save_ann(&config.init(&device), &config, &path).unwrap();
    let meta_path = meta_path(&path);
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    meta["vgg"].as_object_mut().unwrap().remove("bias");
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let (ann, loaded) = load_ann(&path, &device).unwrap();
    assert!(!loaded.bias && ann.fc2.bias.is_none());
}
