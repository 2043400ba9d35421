//! The PyTorch import against fixtures made by PyTorch itself
//! (`fixtures/torch/make_fixtures.py`): imported logits equal PyTorch's.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use privatesnn_models::import::{ImportOptions, import_pytorch};
use privatesnn_models::{ModelError, VggConfig};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torch")
        .join(name)
}

/// The config, input and PyTorch logits recorded for one fixture network.
fn recorded(network: &str) -> (VggConfig, Vec<usize>, Vec<f32>, Vec<f32>) {
    let text = std::fs::read_to_string(fixture("logits.json")).expect("logits.json");
    let all: Value = serde_json::from_str(&text).expect("json");
    let n = &all[network];
    let c = &n["config"];
    let int = |v: &Value| v.as_u64().expect("integer") as usize;
    let config = VggConfig::new()
        .with_in_channels(int(&c["in_channels"]))
        .with_image_size(int(&c["image_size"]))
        .with_num_classes(int(&c["num_classes"]))
        .with_arch(c["arch"].as_str().expect("arch").into())
        .with_hidden(int(&c["hidden"]))
        .with_bias(c["bias"].as_bool().expect("bias"));
    let floats = |v: &Value| -> Vec<f32> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number") as f32)
            .collect()
    };
    let shape = n["input_shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(int)
        .collect();
    (config, shape, floats(&n["input"]), floats(&n["logits"]))
}

fn logits_match(file: &str, network: &str, options: &ImportOptions) {
    let device = Device::flex();
    let (config, shape, input, expected) = recorded(network);
    let (vgg, summary) = import_pytorch(&fixture(file), &config, options, &device)
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    let x = Tensor::<4>::from_data(
        TensorData::new(input, [shape[0], shape[1], shape[2], shape[3]]),
        &device,
    );
    let got: Vec<f32> = vgg.forward(x).into_data().iter::<f32>().collect();
    assert_eq!(got.len(), expected.len());
    let diff = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("{file}: max |logit difference| against PyTorch {diff:e}");
    assert!(
        diff < 1e-4,
        "{file}: max |logit difference| {diff}; {summary:?}"
    );
    assert!(
        expected.iter().any(|v| v.abs() > 1e-2),
        "logits too small to test"
    );
}

#[test]
fn authors_layout_imports_with_pytorchs_logits() {
    logits_match(
        "privatesnn_vgg.pth",
        "privatesnn_vgg",
        &ImportOptions::default(),
    );
}

#[test]
fn torchvision_layout_imports_with_pytorchs_logits() {
    let options = ImportOptions::default();
    logits_match("torchvision_vgg16_bn.pt", "torchvision_vgg16_bn", &options);
    logits_match(
        "torchvision_vgg16_bn.safetensors",
        "torchvision_vgg16_bn",
        &options,
    );
    let (config, ..) = recorded("torchvision_vgg16_bn");
    let (_, summary) = import_pytorch(
        &fixture("torchvision_vgg16_bn.pt"),
        &config,
        &options,
        &Device::flex(),
    )
    .expect("imports");
    assert_eq!(summary.convs, 13);
    assert_eq!(summary.linears, 3);
    assert_eq!(summary.batch_norms_folded, 13);
    assert_eq!(summary.adaptive_pool_bins, Some(7));
    assert!(summary.biases);
}

#[test]
fn a_nested_checkpoint_needs_its_key() {
    let (config, ..) = recorded("privatesnn_vgg");
    let device = Device::flex();
    let path = fixture("privatesnn_vgg_checkpoint.pt");
    let e = import_pytorch(&path, &config, &ImportOptions::default(), &device).unwrap_err();
    assert!(e.to_string().contains("--key"), "{e}");
    let options = ImportOptions {
        top_level_key: Some("state_dict".into()),
        ..ImportOptions::default()
    };
    logits_match("privatesnn_vgg_checkpoint.pt", "privatesnn_vgg", &options);
}

#[test]
fn mismatches_name_the_layer_and_both_shapes() {
    let device = Device::flex();
    let options = ImportOptions::default();
    let (config, ..) = recorded("privatesnn_vgg");
    let path = fixture("privatesnn_vgg.pth");
    // A conv width that differs: the second conv is `features.3`.
    let wide = config.clone().with_arch("4,A,16,8,A".into());
    let e = import_pytorch(&path, &wide, &options, &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`features.3`") && e.contains("[8, 4, 3, 3]") && e.contains("[16, 4, 3, 3]"),
        "{e}"
    );
    // A hidden width that differs.
    let e = import_pytorch(&path, &config.clone().with_hidden(32), &options, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`classifier.0`") && e.contains("fc1"), "{e}");
    // One conv too many in the config.
    let e = import_pytorch(
        &path,
        &config.clone().with_arch("4,A,8,8,8,A".into()),
        &options,
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("3 convs") && e.contains("4 convs"), "{e}");
    // torchvision's biases into a bias-free config.
    let (tv, ..) = recorded("torchvision_vgg16_bn");
    let e = import_pytorch(
        &fixture("torchvision_vgg16_bn.pt"),
        &tv.clone().with_bias(false),
        &options,
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`features.0`") && e.contains("bias = true"),
        "{e}"
    );
    // Its three linear layers into a config without an `F` layer.
    let e = import_pytorch(
        &fixture("torchvision_vgg16_bn.pt"),
        &tv.clone().with_arch(tv.arch.trim_end_matches(",F8").into()),
        &options,
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("3 linear layers"), "{e}");
}

#[test]
fn corrupt_and_missing_files_are_named() {
    let device = Device::flex();
    let (config, ..) = recorded("privatesnn_vgg");
    let dir = tempfile::tempdir().expect("tempdir");
    let options = ImportOptions::default();
    let missing = dir.path().join("none.pt");
    let e = import_pytorch(&missing, &config, &options, &device).unwrap_err();
    assert!(
        matches!(e, ModelError::Io { .. }) && e.to_string().contains("none.pt"),
        "{e}"
    );
    for (name, src) in [
        ("cut.pt", "torchvision_vgg16_bn.pt"),
        ("cut.safetensors", "torchvision_vgg16_bn.safetensors"),
    ] {
        let bytes = std::fs::read(fixture(src)).expect("fixture");
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
        let e = import_pytorch(&path, &config, &options, &device)
            .unwrap_err()
            .to_string();
        assert!(e.contains(name) && e.contains("not a readable"), "{e}");
    }
    let bad_eps = ImportOptions {
        bn_eps: f64::NAN,
        ..ImportOptions::default()
    };
    let e = import_pytorch(
        &fixture("torchvision_vgg16_bn.pt"),
        &config,
        &bad_eps,
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("epsilon"), "{e}");
    let path = dir.path().join("weights.npz");
    std::fs::write(&path, b"x").expect("write");
    let e = import_pytorch(&path, &config, &options, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains(".safetensors"), "{e}");
}
