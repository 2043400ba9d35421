//! Tests of threshold balancing (Algorithm 1).

use super::*;
use burn::tensor::{Device, Distribution, TensorData};
use privatesnn_models::{SnnConfig, VggConfig};
use privatesnn_neurons::{LifConfig, PoissonEncoder, Reset};

/// conv(2→3) + pool, then fc1 (spiking) and fc2: two spiking layers.
fn tiny(device: &Device) -> privatesnn_models::Vgg {
    device.seed(11);
    VggConfig::new()
        .with_in_channels(2)
        .with_image_size(4)
        .with_num_classes(3)
        .with_arch("3,A".into())
        .with_hidden(5)
        .init(device)
}

/// Reference: step-by-step, by hand, with the neurons crate's LIF.
fn reference_max(
    ann: &privatesnn_models::Vgg,
    x: Tensor<4>,
    t: usize,
    seed: u64,
    th0: f64,
) -> (f64, f64) {
    let mut enc = PoissonEncoder::new(seed);
    let lif = LifConfig::new()
        .with_threshold(th0)
        .with_reset(Reset::Subtract)
        .init(&x.device());
    let mut state = None;
    let (mut m0, mut m1) = (f64::MIN, f64::MIN);
    for _ in 0..t {
        let s_in = enc.encode_step(x.clone());
        let cur0 = ann.convs[0].forward(s_in);
        m0 = m0.max(cur0.clone().max().into_scalar::<f32>() as f64);
        let (s0, st) = lif.forward(cur0, state.take());
        state = Some(st);
        let pooled = ann.pool.forward(s0);
        let [n, ..] = pooled.dims();
        let cur1 = ann.fc1.forward(pooled.reshape([n as i64, -1]));
        m1 = m1.max(cur1.max().into_scalar::<f32>() as f64);
    }
    (m0, m1)
}

#[test]
fn thresholds_equal_the_max_current_of_a_hand_sized_network() {
    let device = Device::flex();
    let ann = tiny(&device);
    let x = Tensor::<4>::random([3, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
    let snn = Snn::from_ann(ann.clone(), &SnnConfig::new().with_time_chunk(4));
    let config = BalanceConfig::new()
        .with_timesteps(10)
        .with_scale(1.0)
        .with_seed(4);
    let (snn, report) =
        balance_thresholds(snn, std::slice::from_ref(&x), &config, |_, _| {}).unwrap();
    let (m0, _) = reference_max(&ann, x.clone(), 10, 4, 1.0);
    assert!(
        (report.raw[0] - m0).abs() < 1e-5,
        "{} vs {m0}",
        report.raw[0]
    );
    // Layer 1 is balanced with layer 0 already at its balanced threshold.
    let (_, m1) = reference_max(&ann, x, 10, 4, report.raw[0]);
    assert!(
        (report.raw[1] - m1).abs() < 1e-5,
        "{} vs {m1}",
        report.raw[1]
    );
    assert_eq!(snn.thresholds().len(), 2);
    for (a, b) in snn.thresholds().iter().zip(&report.raw) {
        assert!((a - b).abs() < 1e-6);
    }
    // Conversion touches only thresholds: re-conversion gives the ANN's logits exactly.
    let x2 = Tensor::<4>::random([2, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
    snn.to_ann()
        .forward(x2.clone())
        .into_data()
        .assert_eq(&ann.forward(x2).into_data(), true);
}

/// Issue 10: balancing uses leak 1.0 whatever `[snn] leak` says (as the
/// authors' code), and the converted SNN keeps its configured leak.
#[test]
fn balancing_ignores_the_leak_and_keeps_it() {
    let device = Device::flex();
    let ann = tiny(&device);
    let x = Tensor::<4>::random([3, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
    let config = BalanceConfig::new().with_timesteps(12).with_seed(2);
    let run = |leak: f64| {
        let snn = Snn::from_ann(ann.clone(), &SnnConfig::new().with_leak(leak));
        balance_thresholds(snn, std::slice::from_ref(&x), &config, |_, _| {}).unwrap()
    };
    let (if_snn, if_report) = run(1.0);
    let (leaky, leaky_report) = run(0.5);
    assert_eq!(leaky_report.raw, if_report.raw);
    assert_eq!(leaky.thresholds(), if_snn.thresholds());
    assert!(leaky.neurons.iter().all(|n| n.leak == 0.5));
    // Not a vacuous check: with the leak left at 0.5, layer 1's maximum
    // current (layer 0 at the same threshold, same spikes) is another one.
    let probe = Snn::from_ann(ann.clone(), &SnnConfig::new().with_leak(0.5))
        .with_thresholds(&[if_report.raw[0], 1.0]);
    let mut m1_leaky = f64::MIN;
    probe.layer_currents(x, 12, 1, &mut PoissonEncoder::new(2), &mut |c| {
        m1_leaky = m1_leaky.max(c.max().into_scalar::<f32>() as f64)
    });
    assert!(
        (m1_leaky - if_report.raw[1]).abs() > 1e-4,
        "{m1_leaky} vs {}",
        if_report.raw[1]
    );
}

#[test]
fn scale_multiplies_and_percentile_is_at_most_the_max() {
    let device = Device::flex();
    let ann = tiny(&device);
    let x = Tensor::<4>::random([3, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
    let base = BalanceConfig::new().with_timesteps(6).with_scale(1.0);
    let run = |c: &BalanceConfig| {
        balance_thresholds(
            Snn::from_ann(ann.clone(), &SnnConfig::new()),
            std::slice::from_ref(&x),
            c,
            |_, _| {},
        )
        .unwrap()
        .1
    };
    let max = run(&base);
    let scaled = run(&base.clone().with_scale(0.7));
    for (m, s) in max.thresholds.iter().zip(&scaled.thresholds) {
        assert!((s - 0.7 * m).abs() < 1e-9);
    }
    let p = run(&base.clone().with_percentile(90.0));
    assert!(p.raw[0] <= max.raw[0] && p.raw[0] > 0.0);
}

#[test]
fn percentile_picks_the_right_order_statistic() {
    // 1000 values 1..=1000 in two chunks: the 99th percentile keeps 11 values
    // above or at it, so it is 990.
    let device = Device::flex();
    let mut s = Statistic::new(99.0, 1000);
    for chunk in [(1..=500), (501..=1000)] {
        let v: Vec<f32> = chunk.map(|i| i as f32).collect();
        s.push(Tensor::from_data(TensorData::new(v, [1, 500]), &device));
    }
    assert_eq!(s.value(), 990.0);
    let mut m = Statistic::new(100.0, 4);
    m.push(Tensor::from_data(
        TensorData::new(vec![1.0f32, 7.0, -2.0, 3.0], [2, 2]),
        &device,
    ));
    assert_eq!(m.value(), 7.0);
}

#[test]
fn bad_settings_and_dead_layers_are_errors() {
    let device = Device::flex();
    let e = BalanceConfig::new().with_scale(0.0).validate().unwrap_err();
    assert!(e.to_string().contains("scale"), "{e}");
    let snn = Snn::from_ann(tiny(&device), &SnnConfig::new());
    let e = balance_thresholds(snn.clone(), &[], &BalanceConfig::new(), |_, _| {}).unwrap_err();
    assert!(matches!(e, ConversionError::NoData));
    // All-zero input: no spikes, no current.
    let zeros = Tensor::<4>::zeros([2, 2, 4, 4], &device);
    let e = balance_thresholds(
        snn,
        &[zeros],
        &BalanceConfig::new().with_timesteps(3),
        |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ConversionError::DeadLayer {
                layer: 0,
                window: 24,
                ..
            }
        ),
        "{e}"
    );
    let e = BalanceConfig::new()
        .with_max_extension(0)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("max_extension"), "{e}");
    // NaN weights: the statistic is NaN, reported as such.
    let mut ann = tiny(&device);
    ann.convs[0].weight = ann.convs[0].weight.clone().map(|w| w.mul_scalar(f64::NAN));
    let x = Tensor::<4>::random([2, 2, 4, 4], Distribution::Uniform(-1.0, 1.0), &device);
    let snn = Snn::from_ann(ann, &SnnConfig::new());
    let e = balance_thresholds(
        snn,
        &[x],
        &BalanceConfig::new().with_timesteps(3),
        |_, _| {},
    )
    .unwrap_err();
    assert!(
        matches!(e, ConversionError::NotFinite { layer: 0, .. }),
        "{e}"
    );
}

/// A deep layer silent over a short window is balanced over a doubled
/// one (and the layers after it keep the longer window); with the
/// extension off, the same case is a dead-layer error.
#[test]
fn a_silent_layer_gets_a_longer_window() {
    let device = Device::flex();
    let snn = Snn::from_ann(tiny(&device), &SnnConfig::new());
    // Weak input: few input spikes, and layer 0's threshold is its largest current.
    let x = Tensor::<4>::ones([4, 2, 4, 4], &device).mul_scalar(0.05);
    let short = BalanceConfig::new().with_timesteps(1).with_max_extension(1);
    let e =
        balance_thresholds(snn.clone(), std::slice::from_ref(&x), &short, |_, _| {}).unwrap_err();
    assert!(
        matches!(
            e,
            ConversionError::DeadLayer {
                layer: 1,
                window: 1,
                ..
            }
        ),
        "{e}"
    );
    let long = short.clone().with_max_extension(256);
    let (_, report) = balance_thresholds(snn, &[x], &long, |_, _| {}).unwrap();
    assert_eq!(report.windows[0], 1);
    assert!(report.windows[1] > 1, "{:?}", report.windows);
    assert_eq!(report.timesteps, report.windows[1]);
    assert!(report.raw.iter().all(|v| *v > 0.0));
}

/// Keeping the spike trains between layers (`cache_mib`) changes the cost,
/// not the result: the same thresholds and windows as re-simulating every
/// earlier layer, on a deeper net with several batches, a percentile, a
/// window extension, and a budget that keeps only the later layers' inputs.
#[test]
fn kept_spike_trains_give_the_same_thresholds() {
    let device = Device::flex();
    device.seed(3);
    let ann = VggConfig::new()
        .with_in_channels(1)
        .with_image_size(8)
        .with_num_classes(3)
        .with_arch("4,4,A,6,A".into())
        .with_hidden(7)
        .init(&device);
    let snn = Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(3));
    let batches: Vec<Tensor<4>> = (0..3)
        .map(|_| Tensor::<4>::random([2, 1, 8, 8], Distribution::Uniform(-1.0, 1.0), &device))
        .collect();
    let weak = vec![batches[0].clone().mul_scalar(0.05)];
    for (data, config) in [
        (
            &batches,
            BalanceConfig::new().with_timesteps(7).with_seed(1),
        ),
        (
            &batches,
            BalanceConfig::new().with_timesteps(7).with_percentile(99.0),
        ),
        (
            &weak,
            BalanceConfig::new()
                .with_timesteps(1)
                .with_max_extension(256),
        ),
    ] {
        let recompute = config.clone().with_cache_mib(0);
        let (a, ra) = balance_thresholds(snn.clone(), data, &config, |_, _| {}).unwrap();
        let (b, rb) = balance_thresholds(snn.clone(), data, &recompute, |_, _| {}).unwrap();
        assert_eq!(ra, rb);
        assert_eq!(a.thresholds(), b.thresholds());
    }
    // A 1 MiB budget below layer 0's inputs (1 x 64 x 64 values x 4 samples
    // x 20 steps = 1.3 MB) but above layer 1's (2 x 32 x 32: 0.66 MB): layer 0
    // re-simulates, the later layers are kept.
    device.seed(4);
    let ann = VggConfig::new()
        .with_in_channels(1)
        .with_image_size(64)
        .with_num_classes(3)
        .with_arch("2,A,2,A".into())
        .with_hidden(5)
        .init(&device);
    let snn = Snn::from_ann(ann, &SnnConfig::new());
    let x = Tensor::<4>::random([4, 1, 64, 64], Distribution::Uniform(-1.0, 1.0), &device);
    let config = BalanceConfig::new().with_timesteps(20);
    let one = config.clone().with_cache_mib(1);
    let data = std::slice::from_ref(&x);
    assert_eq!(input_values(&snn, [1, 64, 64], 1), 2 * 32 * 32);
    assert_eq!(input_values(&snn, [1, 64, 64], 2), 2 * 16 * 16);
    assert!(!fits(&snn, data, 0, 20, &one) && fits(&snn, data, 1, 20, &one));
    let mut reports = Vec::new();
    for mib in [0, 1, 2048] {
        let c = config.clone().with_cache_mib(mib);
        let (_, r) =
            balance_thresholds(snn.clone(), std::slice::from_ref(&x), &c, |_, _| {}).unwrap();
        reports.push(r);
    }
    assert_eq!(reports[0], reports[1]);
    assert_eq!(reports[0], reports[2]);
    assert!(reports[0].raw.iter().all(|v| *v > 0.0), "{:?}", reports[0]);
}
