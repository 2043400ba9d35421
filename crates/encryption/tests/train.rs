//! Encryption training on a tiny converted SNN: the loss goes down, the
//! weights move away from the ANN's while the thresholds stay, an interrupted
//! run resumes to the same weights, and the memory bound keeps the gradients.

use burn::tensor::{Device, Distribution, Tensor};
use privatesnn_conversion::{BalanceConfig, balance_thresholds};
use privatesnn_encryption::{
    EncryptionConfig, EncryptionError, EncryptionSet, OutputScale, encrypt, teacher_logits,
};
use privatesnn_models::{Snn, SnnConfig, Vgg, VggConfig};

const N: usize = 12;

fn setup() -> (Vgg, Snn, EncryptionSet) {
    let device = Device::flex();
    device.seed(3);
    let ann = VggConfig::new()
        .with_in_channels(1)
        .with_image_size(8)
        .with_num_classes(3)
        .with_arch("4,A,8,A".into())
        .with_hidden(16)
        .with_conv_dropout(0.0)
        .with_fc_dropout(0.0)
        .init(&device);
    let x = Tensor::<4>::random([N, 1, 8, 8], Distribution::Uniform(-1.0, 1.0), &device);
    let images: Vec<f32> = x.clone().into_data().iter::<f32>().collect();
    let snn = Snn::from_ann(ann.clone(), &SnnConfig::new().with_time_chunk(4));
    let (snn, _) = balance_thresholds(
        snn,
        &[x],
        &BalanceConfig::new().with_timesteps(16),
        |_, _| {},
    )
    .expect("tiny conversion");
    let teacher = teacher_logits(&|x| ann.forward(x), &images, [1, 8, 8], 5, &device);
    let labels: Vec<usize> = (0..N).map(|i| i % 3).collect();
    let targets = labels
        .iter()
        .flat_map(|&l| (0..3).map(move |c| if c == l { 0.8 } else { 0.1 }))
        .collect();
    let data = EncryptionSet {
        images,
        shape: [1, 8, 8],
        targets,
        teacher,
        labels,
        num_classes: 3,
    };
    (ann, snn, data)
}

fn config() -> EncryptionConfig {
    EncryptionConfig::new()
        .with_epochs(4)
        .with_batch_size(5)
        .with_timesteps(8)
        .with_lr(3e-3)
        .with_seed(7)
}

fn weights(vgg: &Vgg) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = vgg
        .convs
        .iter()
        .map(|c| c.weight.val().into_data().iter::<f32>().collect())
        .collect();
    out.push(vgg.fc1.weight.val().into_data().iter::<f32>().collect());
    out.push(vgg.fc2.weight.val().into_data().iter::<f32>().collect());
    out
}

#[test]
fn training_lowers_the_loss_moves_the_weights_and_keeps_the_thresholds() {
    let (ann, snn, data) = setup();
    let thresholds = snn.thresholds();
    let c = config().with_epochs(6);
    let (enc, report) = encrypt(snn, &data, &c, &Device::flex(), None, |_| {}).unwrap();
    let first = report.epochs.first().unwrap().loss;
    let last = report.epochs.last().unwrap().loss;
    assert!(last < 0.8 * first, "loss {first} -> {last}");
    assert_eq!(enc.thresholds(), thresholds);
    for (layer, (a, b)) in weights(&enc.ann).iter().zip(weights(&ann)).enumerate() {
        let diff: f32 = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p - q).powi(2))
            .sum::<f32>()
            .sqrt();
        assert!(diff > 1e-4, "layer {layer} did not change ({diff})");
    }
    // Six epochs, the paper's schedule: lr /10 after epoch 3 (50%) and 4 (70% of 6 = 4.2 → 4).
    let lrs: Vec<f64> = report.epochs.iter().map(|e| e.lr).collect();
    let want = [3e-3, 3e-3, 3e-3, 3e-4, 3e-5, 3e-5];
    for (g, w) in lrs.iter().zip(want) {
        assert!((g - w).abs() < 1e-12, "{lrs:?}");
    }
    // The result lives on the plain device, ready to save and evaluate.
    assert!(!enc.ann.fc2.weight.val().device().is_autodiff());
}

#[test]
fn an_interrupted_run_resumes_to_the_same_weights() {
    let (_, snn, data) = setup();
    let c = config();
    let (whole, whole_report) =
        encrypt(snn.clone(), &data, &c, &Device::flex(), None, |_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    // Killed during the third epoch: epochs 1 and 2 are checkpointed.
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        encrypt(snn.clone(), &data, &c, &Device::flex(), Some(&ckpt), |p| {
            if p.epoch == 2 && p.batch == 1 {
                panic!("killed");
            }
        })
    }));
    assert!(killed.is_err());
    let mut seen = Vec::new();
    let (resumed, report) = encrypt(snn.clone(), &data, &c, &Device::flex(), Some(&ckpt), |p| {
        seen.push(p.epoch)
    })
    .unwrap();
    assert_eq!(report.resumed_after, 2);
    assert!(
        seen.iter().all(|&e| e >= 2),
        "recomputed an epoch: {seen:?}"
    );
    assert_eq!(weights(&resumed.ann), weights(&whole.ann));
    let losses = |r: &privatesnn_encryption::EncryptionReport| -> Vec<f64> {
        r.epochs.iter().map(|e| e.loss).collect()
    };
    // The epochs before the kill come back from the checkpoint's JSON:
    // serde_json's default float parser may land 1 ulp off (its exact
    // `float_roundtrip` feature would change Burn's dependency build), so
    // the losses agree to 1e-12 relative; the weights above are bit-exact.
    for (a, b) in losses(&report).into_iter().zip(losses(&whole_report)) {
        assert!((a - b).abs() <= 1e-12 * b.abs(), "{a} vs {b}");
    }
    assert_eq!(report.epochs.len(), whole_report.epochs.len());
    // Other settings never resume from these checkpoints.
    let e = encrypt(
        snn,
        &data,
        &c.clone().with_lr(1e-3),
        &Device::flex(),
        Some(&ckpt),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, EncryptionError::OtherSettings { .. }), "{e}");
}

#[test]
fn the_memory_bound_gives_the_same_training() {
    let (_, snn, data) = setup();
    let c = config().with_epochs(1);
    let (a, _) = encrypt(snn.clone(), &data, &c, &Device::flex(), None, |_| {}).unwrap();
    let (b, _) = encrypt(
        snn,
        &data,
        &c.clone().with_memory_bound(true),
        &Device::flex(),
        None,
        |_| {},
    )
    .unwrap();
    for (x, y) in weights(&a.ann).iter().zip(weights(&b.ann)) {
        let d = x
            .iter()
            .zip(&y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0f32, f32::max);
        assert!(d < 1e-6, "max diff {d}");
    }
}

#[test]
fn the_output_scale_option_is_honoured() {
    // The same run on u_T and on u_T / T: the loss sees different outputs
    // (the SNN's u_T is T times its mean), so the first epoch's cross-entropy
    // differs, and both train.
    let (ann, snn, data) = setup();
    let c = config().with_epochs(1).with_distill_weight(0.0);
    let run = |output| {
        let (enc, r) = encrypt(
            snn.clone(),
            &data,
            &c.clone().with_output(output),
            &Device::flex(),
            None,
            |_| {},
        )
        .unwrap();
        let moved = weights(&enc.ann)
            .iter()
            .flatten()
            .zip(weights(&ann).iter().flatten())
            .any(|(p, q)| p != q);
        (r.epochs[0].cross_entropy, moved)
    };
    let (membrane, moved_m) = run(OutputScale::Membrane);
    let (mean, moved_t) = run(OutputScale::Mean);
    assert!(moved_m && moved_t);
    assert!(
        (membrane - mean).abs() > 1e-3,
        "u_T: {membrane}, u_T/T: {mean}"
    );
}

#[test]
fn bad_data_is_refused_with_the_reason() {
    let (_, snn, data) = setup();
    let mut nan = data.clone();
    nan.teacher[4] = f32::NAN;
    let mut short = data.clone();
    short.images.pop();
    let mut not_dist = data.clone();
    not_dist.targets[0] = 0.5;
    for (d, what) in [
        (nan, "teacher logit 4"),
        (short, "pixels"),
        (not_dist, "not a distribution"),
    ] {
        let e = encrypt(snn.clone(), &d, &config(), &Device::flex(), None, |_| {}).unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
    }
}
