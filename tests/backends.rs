//! Backend equivalence (issue 3): a small VGG's ANN and SNN give the same
//! numbers on flex, ndarray and wgpu.
//!
//! wgpu runs on whatever Vulkan/Metal adapter the machine has; in CI that is
//! Mesa's lavapipe (software Vulkan on the CPU), which `.ci/run` installs.
//! The test fails, rather than skips, when no adapter is found.

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Device, DeviceKind, Distribution, Tensor, TensorData, Tolerance};
use privatesnn::models::{Snn, SnnConfig, Vgg, VggConfig};
use privatesnn::neurons::InputGenerator;

fn config() -> VggConfig {
    VggConfig::new()
        .with_in_channels(3)
        .with_image_size(16)
        .with_num_classes(5)
        .with_arch("8,A,8,16,A".into())
        .with_hidden(16)
}

/// The reference model on flex, copied to `device` through its record.
fn copy_to(model: &Vgg, device: &Device) -> Vgg {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .expect("record bytes");
    let record = ModuleRecord::from_bytes(bytes).expect("record");
    config().init(device).load_record(record)
}

fn run(
    model: &Vgg,
    input: &TensorData,
    device: &Device,
    generator: InputGenerator,
) -> (TensorData, TensorData, Vec<f64>) {
    let model = copy_to(model, device);
    let x = Tensor::<4>::from_data(input.clone(), device);
    let ann = model.forward(x.clone()).into_data();
    let snn_cfg = SnnConfig::new()
        .with_time_chunk(5)
        .with_input_generator(generator);
    let snn = Snn::from_ann(model, &snn_cfg).with_thresholds(&[0.4, 0.8, 0.8, 0.8]);
    let out = snn.forward_timesteps(x, 25, &mut snn.encoder(3));
    let spikes = out.spike_totals();
    (ann, out.logits.into_data(), spikes)
}

/// The ANN and the SNN on every backend, with either input generator: on
/// wgpu the SNN runs the fused Cube LIF kernels, and with the counter-based
/// generator its input spikes are made on the device.
#[test]
fn flex_ndarray_and_wgpu_agree() {
    for generator in [InputGenerator::Host, InputGenerator::Counter] {
        backends_agree(generator);
    }
}

fn backends_agree(generator: InputGenerator) {
    let flex = Device::flex();
    flex.seed(1);
    let model = config().init(&flex);
    let input =
        Tensor::<4>::random([4, 3, 16, 16], Distribution::Uniform(-1.0, 1.0), &flex).into_data();
    let (ann_ref, snn_ref, spikes_ref) = run(&model, &input, &flex, generator);
    assert!(
        spikes_ref.iter().all(|&s| s > 0.0),
        "every layer should fire: {spikes_ref:?}"
    );

    #[allow(deprecated)]
    let others = [
        ("ndarray", Device::ndarray()),
        ("wgpu", Device::wgpu(DeviceKind::DefaultDevice)),
    ];
    for (name, device) in others {
        let (ann, snn, spikes) = run(&model, &input, &device, generator);
        ann.assert_approx_eq::<f32>(&ann_ref, Tolerance::absolute(1e-4));
        // Spikes are thresholded sums: a membrane within float rounding (~1e-6)
        // of a threshold can fire on one backend and not another. Allow 0.1% of
        // each layer's total, and check the logits with a matching tolerance.
        for (l, (a, b)) in spikes.iter().zip(&spikes_ref).enumerate() {
            assert!(
                (a - b).abs() <= 1e-3 * b.max(1.0),
                "{name} {generator:?}: layer {l} spikes {a} vs flex {b}"
            );
        }
        snn.assert_approx_eq::<f32>(&snn_ref, Tolerance::absolute(5e-2));
        println!(
            "{name} ({device:?}, {generator:?}): spike totals {spikes:?} (flex {spikes_ref:?})"
        );
    }
}

/// Threshold balancing (Algorithm 1) and a few steps of Dirichlet-impression
/// synthesis give the same numbers on every backend.
#[test]
fn conversion_and_synthesis_agree_across_backends() {
    use privatesnn::conversion::{BalanceConfig, balance_thresholds};
    use privatesnn::synthesis::{DirichletConfig, dirichlet_impressions};

    let flex = Device::flex();
    flex.seed(2);
    let model = config().init(&flex);
    let input =
        Tensor::<4>::random([4, 3, 16, 16], Distribution::Uniform(-1.0, 1.0), &flex).into_data();
    let balance = BalanceConfig::new().with_timesteps(12).with_seed(5);
    let synth = DirichletConfig::new()
        .with_per_class(1)
        .with_batch_size(5)
        .with_iterations(5)
        .with_lr(0.01)
        .with_temperature(1.0);
    let run = |device: &Device| {
        let m = copy_to(&model, device);
        let x = Tensor::<4>::from_data(input.clone(), device);
        let snn = Snn::from_ann(m.clone(), &SnnConfig::new().with_time_chunk(4));
        let (_, report) = balance_thresholds(snn, &[x], &balance, |_, _| {}).expect("balance");
        let ad = device.clone().autodiff();
        let frozen = m.valid().fork(&ad);
        let f = |x| frozen.forward(x);
        let set = dirichlet_impressions(
            &f,
            frozen.fc2.weight.val(),
            [3, 16, 16],
            &synth,
            &ad,
            |_, _| {},
        )
        .expect("synthesis");
        (report.raw, set.images)
    };
    let (th_ref, img_ref) = run(&flex);
    #[allow(deprecated)]
    let others = [
        ("ndarray", Device::ndarray()),
        ("wgpu", Device::wgpu(DeviceKind::DefaultDevice)),
    ];
    for (name, device) in others {
        let (th, img) = run(&device);
        for (l, (a, b)) in th.iter().zip(&th_ref).enumerate() {
            // A max over currents: equal up to float rounding, unless a spike
            // upstream flipped (then the layer's max moves a little).
            assert!(
                (a - b).abs() <= 1e-3 * b.abs().max(1.0),
                "{name}: layer {l} threshold {a} vs flex {b}"
            );
        }
        let diff = img
            .iter()
            .zip(&img_ref)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff < 1e-3,
            "{name}: synthetic images differ by up to {diff}"
        );
        println!("{name}: thresholds {th:?} (flex {th_ref:?}), image max diff {diff:e}");
    }
}
