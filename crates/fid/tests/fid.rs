//! The judge (training, save/load), feature statistics of image sets, and
//! Inception-V3's shapes and weight loading.

use burn::module::Module;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Device, Distribution, Tensor, Tolerance};
use privatesnn_data::ImageSet;
use privatesnn_fid::{
    FeatureExtractor, FidError, InceptionV3, InceptionV3Config, JudgeConfig, JudgeTrainConfig, fid,
    image_stats, judge_accuracy, load_judge, save_judge, train_judge,
};

/// 3 classes of 1x8x8 images: a bright bar (row, column or diagonal) over noise.
fn toy_set(n: usize, seed: u64) -> ImageSet {
    let mut state = seed ^ 0x9E37_79B9;
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 58) as u8 // 0..63
    };
    let mut pixels = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % 3;
        for r in 0..8 {
            for c in 0..8 {
                let on = match k {
                    0 => r == 3 || r == 4,
                    1 => c == 3 || c == 4,
                    _ => r == c || r + 1 == c,
                };
                pixels.push(if on { 230 } else { noise() });
            }
        }
        labels.push(k);
    }
    ImageSet {
        pixels,
        labels,
        channels: 1,
        height: 8,
        width: 8,
        num_classes: 3,
    }
}

#[test]
fn the_judge_learns_saves_and_loads() {
    let device = Device::flex();
    let (train, test) = (toy_set(300, 1), toy_set(90, 2));
    let cfg = JudgeConfig::new(1, 3).with_width(4);
    let untrained = judge_accuracy(&cfg.init(&device), &test, 45, &device);
    let train_cfg = JudgeTrainConfig::new()
        .with_epochs(3)
        .with_batch_size(20)
        .with_lr(1e-2);
    let mut steps = 0;
    let (judge, report) =
        train_judge(&train, &cfg, &train_cfg, &device, |_, _, _, _| steps += 1).unwrap();
    assert_eq!(steps, 3 * 15);
    assert_eq!(report.epoch_loss.len(), 3);
    assert!(
        report.epoch_loss[2] < report.epoch_loss[0],
        "{:?}",
        report.epoch_loss
    );
    let acc = judge_accuracy(&judge, &test, 45, &device);
    assert!(acc > 90.0, "judge accuracy {acc}% (untrained {untrained}%)");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("judge.bpk");
    save_judge(&judge, &cfg, &path).unwrap();
    let (back, back_cfg) = load_judge(&path, &device).unwrap();
    assert_eq!(back_cfg, cfg);
    let x = Tensor::<4>::random([4, 1, 8, 8], Distribution::Uniform(0.0, 1.0), &device);
    back.features(x.clone())
        .into_data()
        .assert_approx_eq::<f32>(&judge.features(x).into_data(), Tolerance::absolute(1e-6));
    // A damaged file is a clear error.
    std::fs::write(&path, b"not a record").unwrap();
    let e = load_judge(&path, &device).unwrap_err();
    assert!(e.to_string().contains("judge.bpk"), "{e}");
    // Mismatched data.
    let wrong = JudgeConfig::new(3, 3);
    assert!(matches!(
        train_judge(&train, &wrong, &train_cfg, &device, |_, _, _, _| {}),
        Err(FidError::Shape(_))
    ));
}

#[test]
fn image_statistics_separate_classes_under_a_trained_judge() {
    let device = Device::flex();
    let cfg = JudgeConfig::new(1, 3).with_width(4);
    let train_cfg = JudgeTrainConfig::new()
        .with_epochs(2)
        .with_batch_size(20)
        .with_lr(1e-2);
    let (judge, _) =
        train_judge(&toy_set(300, 3), &cfg, &train_cfg, &device, |_, _, _, _| {}).unwrap();
    let pixels = |set: &ImageSet, class: usize| -> Vec<f32> {
        (0..set.len())
            .filter(|&i| set.labels[i] == class)
            .flat_map(|i| set.image(i).iter().map(|&p| p as f32 / 255.0))
            .collect()
    };
    let (a, b) = (toy_set(150, 4), toy_set(150, 5));
    let shape = [1, 8, 8];
    let same_class = fid(
        &judge,
        (&pixels(&a, 0), shape),
        (&pixels(&b, 0), shape),
        32,
        &device,
    )
    .unwrap();
    let other_class = fid(
        &judge,
        (&pixels(&a, 0), shape),
        (&pixels(&b, 1), shape),
        32,
        &device,
    )
    .unwrap();
    assert!(
        other_class > 3.0 * same_class,
        "{same_class} vs {other_class}"
    );
    let stats = image_stats(&judge, &pixels(&a, 0), shape, 7, &device).unwrap();
    assert_eq!((stats.count, stats.dim), (50, 16));
    assert!(image_stats(&judge, &[0.0; 63], shape, 7, &device).is_err());
}

#[test]
fn inception_gives_2048_features_and_loads_pytorch_names() {
    let device = Device::flex();
    device.seed(0);
    // A small resize keeps the test fast; every block still runs (75 is the
    // smallest size torchvision's Inception-V3 accepts).
    let cfg = InceptionV3Config::new().with_resize(75);
    let net = cfg.init(&device).valid();
    let x = Tensor::<4>::random([2, 1, 28, 28], Distribution::Uniform(0.0, 1.0), &device);
    let f = net.features(x.clone());
    assert_eq!(f.dims(), [2, 2048]);
    let values: Vec<f32> = f.clone().into_data().iter::<f32>().collect();
    assert!(
        values.iter().all(|v| v.is_finite() && *v >= 0.0),
        "pool3 follows a ReLU"
    );

    // Save with pytorch-fid's names (BN weight/bias, capitalised blocks),
    // load through the public loader, and get the same features.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inception.safetensors");
    let mut store = SafetensorsStore::from_file(&path)
        .with_to_adapter(BurnToPyTorchAdapter)
        .with_key_remapping(r"^conv2d_", "Conv2d_")
        .with_key_remapping(r"^mixed_", "Mixed_");
    net.save_into(&mut store).unwrap();
    let back = InceptionV3::load(&path, &cfg, &device).unwrap();
    back.features(x)
        .into_data()
        .assert_approx_eq::<f32>(&f.into_data(), Tolerance::absolute(1e-5));
    let e = InceptionV3::load(&dir.path().join("none.safetensors"), &cfg, &device).unwrap_err();
    assert!(e.to_string().contains("README"), "{e}");
}

/// The known-value check against an independent NumPy implementation
/// (`tests/reference/inception_reference.py`, run once; its output is the
/// committed JSON): the same deterministic weights under pytorch-fid's 470
/// parameter names, written here as a safetensors file and loaded through
/// `InceptionV3::load`, and the same input image, give the same pool3 features.
#[test]
fn inception_matches_the_numpy_reference() {
    use safetensors::tensor::{Dtype, TensorView, serialize_to_file};
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("reference/inception_reference.json")).unwrap();
    let hash = |name: &str| (name.bytes().map(|b| b as u64).sum::<u64>() % 1000) as f64 / 100.0;
    let value = |name: &str, j: usize| (j as f64 * 0.731 + hash(name)).sin();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for p in reference["params"].as_array().unwrap() {
        let name = p[0].as_str().unwrap();
        let shape: Vec<usize> = p[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let n: usize = shape.iter().product();
        let f: Box<dyn Fn(f64) -> f64> = if name.ends_with(".conv.weight") {
            let fan_in: usize = shape[1..].iter().product();
            let a = 2.0 / (fan_in as f64).sqrt();
            Box::new(move |v| a * v)
        } else if name.ends_with(".bn.weight") {
            Box::new(|v| 1.0 + 0.1 * v)
        } else if name.ends_with(".bn.running_var") {
            Box::new(|v: f64| 1.0 + 0.5 * v.abs())
        } else {
            Box::new(|v| 0.1 * v)
        };
        let bytes: Vec<u8> = (0..n)
            .flat_map(|j| (f(value(name, j)) as f32).to_le_bytes())
            .collect();
        tensors.push((name.to_string(), shape, bytes));
    }
    // An extra classifier tensor, as in pytorch-fid's file: ignored.
    tensors.push(("fc.bias".into(), vec![4], vec![0; 16]));
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inception.safetensors");
    serialize_to_file(views, None, &path).unwrap();

    let device = Device::flex();
    let resize = reference["resize"].as_u64().unwrap() as usize;
    let net = InceptionV3::load(
        &path,
        &InceptionV3Config::new().with_resize(resize),
        &device,
    )
    .unwrap();
    let pixels: Vec<f32> = (0..28 * 28)
        .map(|j| (0.5 + 0.5 * (0.1 * j as f64).sin()) as f32)
        .collect();
    let x = Tensor::<4>::from_data(
        burn::tensor::TensorData::new(pixels, [1, 1, 28, 28]),
        &device,
    );
    let f: Vec<f32> = net.features(x).into_data().iter::<f32>().collect();
    let sum: f64 = f.iter().map(|&v| v as f64).sum();
    let sum_sq: f64 = f.iter().map(|&v| (v as f64).powi(2)).sum();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-3 * b.abs().max(1e-2);
    assert!(
        close(sum, reference["sum"].as_f64().unwrap()),
        "sum {sum} vs {}",
        reference["sum"]
    );
    assert!(
        close(sum_sq, reference["sum_sq"].as_f64().unwrap()),
        "sum_sq {sum_sq}"
    );
    let picks = reference["picks"].as_array().unwrap();
    for (i, v) in picks.iter().zip(reference["values"].as_array().unwrap()) {
        let (i, v) = (i.as_u64().unwrap() as usize, v.as_f64().unwrap());
        assert!(
            (f[i] as f64 - v).abs() <= 1e-3 * v.abs().max(1e-2),
            "feature {i}: {} vs {v}",
            f[i]
        );
    }
    // A file missing parameters is refused, naming them.
    let partial: Vec<(String, TensorView)> = tensors
        .iter()
        .skip(5)
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    serialize_to_file(partial, None, &path).unwrap();
    let e = InceptionV3::load(&path, &InceptionV3Config::new(), &device).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}
