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
