//! Tests of the SNN: layer-major equals step-by-step, checkpoints, currents,
//! re-conversion, thresholds, STBP gradients, dropout masks.

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use privatesnn_neurons::PoissonEncoder;

use super::{Snn, SnnConfig};
use crate::{Vgg, VggConfig};

pub(super) fn tiny(device: &Device) -> (Vgg, VggConfig) {
    let cfg = VggConfig::new()
        .with_in_channels(2)
        .with_image_size(8)
        .with_num_classes(4)
        .with_arch("6,A,8,8,A".into())
        .with_hidden(12);
    (cfg.init(device), cfg)
}

pub(super) fn input(device: &Device) -> Tensor<4> {
    device.seed(5);
    use burn::tensor::Distribution;
    Tensor::<4>::random([3, 2, 8, 8], Distribution::Uniform(-1.0, 1.0), device)
}

/// Thresholds low enough that every layer fires.
pub(super) fn spiking(snn: Snn) -> Snn {
    let n = snn.neurons.len();
    snn.with_thresholds(&vec![0.3; n])
}

/// `Snn::encoder` draws from the configured generator, which survives
/// `fork` onto an autodiff device (as STBP and the attacks do) and `valid`.
#[test]
fn encoder_follows_the_configured_generator() {
    use privatesnn_neurons::InputGenerator;
    let device = Device::flex();
    let (ann, _) = tiny(&device);
    let x = input(&device);
    let mut trains = Vec::new();
    for (generator, reference) in [
        (InputGenerator::Host, PoissonEncoder::new(4)),
        (InputGenerator::Counter, PoissonEncoder::counter(4)),
    ] {
        let cfg = SnnConfig::new().with_input_generator(generator);
        let snn = Snn::from_ann(ann.clone(), &cfg)
            .fork(&device.clone().autodiff())
            .valid();
        assert_eq!(snn.input_generator, generator);
        let a: Tensor<5> = snn.encoder(4).encode(x.clone(), 6);
        let b: Tensor<5> = reference.clone().encode(x.clone(), 6);
        a.clone().into_data().assert_eq(&b.into_data(), true);
        trains.push(a.into_data());
    }
    assert_ne!(trains[0], trains[1], "the two generators differ");
}

#[test]
fn checkpoints_equal_separate_runs_of_the_same_spikes() {
    let device = Device::flex();
    let (ann, _) = tiny(&device);
    let snn = spiking(Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(4)));
    let x = input(&device);
    let outs = snn.forward_checkpoints(x.clone(), &[3, 7, 10], &mut PoissonEncoder::new(9));
    assert_eq!(outs.len(), 3);
    for (out, t) in outs.iter().zip([3, 7, 10]) {
        let single = snn.forward_timesteps(x.clone(), t, &mut PoissonEncoder::new(9));
        assert_eq!(out.timesteps, t);
        // u_T is the accumulated membrane: T times the logits.
        out.membrane.clone().into_data().assert_approx_eq::<f32>(
            &out.logits.clone().mul_scalar(t as f64).into_data(),
            burn::tensor::Tolerance::absolute(1e-4),
        );
        assert_eq!(out.spike_totals(), single.spike_totals());
        out.logits.clone().into_data().assert_approx_eq::<f32>(
            &single.logits.into_data(),
            burn::tensor::Tolerance::absolute(1e-5),
        );
    }
}

#[test]
fn layer_currents_are_the_weighted_input_spikes() {
    let device = Device::flex();
    let (ann, _) = tiny(&device);
    let snn = spiking(Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(2)));
    let x = input(&device);
    // Layer 0: conv0 of the Poisson spikes, all 5 steps.
    let mut got = Vec::new();
    snn.layer_currents(x.clone(), 5, 0, &mut PoissonEncoder::new(3), &mut |c| {
        got.push(c)
    });
    assert_eq!(got.len(), 3); // chunks 2 + 2 + 1
    let got: Tensor<2> = Tensor::cat(got, 0);
    let spikes: Tensor<5> = PoissonEncoder::new(3).encode(x.clone(), 5);
    let want = snn.ann.convs[0].forward(spikes.reshape([5 * 3, 2, 8, 8]));
    let [_, c, h, w] = want.dims();
    want.reshape([5, 3 * c * h * w])
        .into_data()
        .assert_approx_eq::<f32>(&got.into_data(), burn::tensor::Tolerance::absolute(1e-6));
    // The fc1 current: [T, N * hidden].
    let mut shapes = Vec::new();
    snn.layer_currents(x, 5, 3, &mut PoissonEncoder::new(3), &mut |c| {
        shapes.push(c.dims())
    });
    assert_eq!(shapes, vec![[2, 3 * 12], [2, 3 * 12], [1, 3 * 12]]);
}

#[test]
fn layer_major_equals_stepwise_for_any_chunk() {
    let device = Device::flex();
    let (ann, _) = tiny(&device);
    let x = input(&device);
    for chunk in [1, 3, 7, 20] {
        let cfg = SnnConfig::new().with_time_chunk(chunk).with_leak(0.95);
        let snn = spiking(Snn::from_ann(ann.clone(), &cfg));
        let fast = snn.forward_timesteps(x.clone(), 20, &mut PoissonEncoder::new(9));
        let slow = snn.forward_stepwise(x.clone(), 20, &mut PoissonEncoder::new(9));
        let (f, s) = (fast.spike_totals(), slow.spike_totals());
        assert_eq!(f, s, "chunk {chunk}: spike totals differ");
        assert!(f.iter().all(|&c| c > 0.0), "every layer should fire: {f:?}");
        fast.logits.into_data().assert_approx_eq::<f32>(
            &slow.logits.into_data(),
            burn::tensor::Tolerance::absolute(1e-5),
        );
    }
}

#[test]
fn reconversion_gives_back_the_ann_logits_exactly() {
    let device = Device::flex();
    let (ann, _) = tiny(&device);
    let x = input(&device);
    let before = ann.forward(x.clone());
    let snn = spiking(Snn::from_ann(ann, &SnnConfig::new()));
    let after = snn.to_ann().forward(x);
    before.into_data().assert_eq(&after.into_data(), true);
}

#[test]
fn thresholds_round_trip() {
    let device = Device::flex();
    let (ann, _) = tiny(&device);
    let snn = Snn::from_ann(ann, &SnnConfig::new());
    assert_eq!(snn.thresholds(), vec![1.0; 4]);
    let snn = snn.with_thresholds(&[0.5, 1.5, 2.25, 3.0]);
    assert_eq!(snn.thresholds(), vec![0.5, 1.5, 2.25, 3.0]);
}

#[test]
fn stbp_gradients_reach_the_first_conv() {
    let device = Device::flex().autodiff();
    let (ann, _) = tiny(&device);
    let snn = spiking(Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(4)));
    let out = snn.forward_timesteps(input(&device), 8, &mut PoissonEncoder::new(1));
    let grads = out.logits.sum().backward();
    let g = snn.ann.convs[0]
        .weight
        .grad(&grads)
        .expect("conv1 gradient");
    let norm = g.abs().sum().into_scalar::<f32>();
    assert!(norm.is_finite() && norm > 0.0, "gradient norm {norm}");
}

#[test]
fn dropout_masks_are_drawn_once_per_forward() {
    // Masks drawn per chunk would consume the device RNG differently for
    // chunk 1 and chunk T, and give different outputs.
    let device = Device::flex().autodiff();
    let (ann, _) = tiny(&device);
    let x = input(&device).detach();
    let run = |chunk: usize| {
        let snn = spiking(Snn::from_ann(
            ann.clone(),
            &SnnConfig::new().with_time_chunk(chunk),
        ));
        assert!(snn.ann.conv_dropout.training.is_enabled());
        snn.forward_timesteps(x.clone(), 6, &mut PoissonEncoder::new(2))
    };
    // the masks come from the encoder's seeded stream, not the device RNG
    device.seed(12345);
    let (a, b) = (run(1), run(6));
    assert_eq!(a.spike_totals(), b.spike_totals());
    a.logits.clone().into_data().assert_approx_eq::<f32>(
        &b.logits.into_data(),
        burn::tensor::Tolerance::absolute(1e-5),
    );
    // and dropout is really on: the same run in eval mode differs
    let snn = spiking(Snn::from_ann(ann.clone(), &SnnConfig::new())).valid();
    let c = snn.forward_timesteps(x.clone().without_autodiff(), 6, &mut PoissonEncoder::new(2));
    assert_ne!(
        a.logits.into_data().try_to_vec::<f32>().unwrap(),
        c.logits.into_data().try_to_vec::<f32>().unwrap()
    );
}

/// Issue 10 (groundwork): spikes are chunk-invariant, and so must be the STBP
/// gradients. The parameter gradients of the layer-major forward equal those
/// of the step-by-step reference for every `time_chunk`, with the reset
/// attached and detached.
#[test]
fn parameter_gradients_do_not_depend_on_the_time_chunk() {
    let device = Device::flex().autodiff();
    let cfg = VggConfig::new()
        .with_in_channels(2)
        .with_image_size(8)
        .with_num_classes(4)
        .with_arch("6,A,8,8,A".into())
        .with_hidden(12)
        .with_conv_dropout(0.0)
        .with_fc_dropout(0.0);
    device.seed(11);
    let ann = cfg.init(&device);
    let x = input(&device).detach();
    // A loss that weighs the classes differently, so every logit matters.
    let w = Tensor::<2>::from_floats([[1.0, -2.0, 0.5, 3.0]], &device);
    let grads_of = |snn: &Snn, stepwise: bool| -> Vec<Vec<f32>> {
        let out = if stepwise {
            snn.forward_stepwise(x.clone(), 9, &mut PoissonEncoder::new(4))
        } else {
            snn.forward_timesteps(x.clone(), 9, &mut PoissonEncoder::new(4))
        };
        let grads = (out.logits * w.clone()).sum().backward();
        let mut all: Vec<Vec<f32>> = snn
            .ann
            .convs
            .iter()
            .map(|c| {
                c.weight
                    .grad(&grads)
                    .expect("conv gradient")
                    .into_data()
                    .iter::<f32>()
                    .collect()
            })
            .collect();
        all.push(
            snn.ann
                .fc1
                .weight
                .grad(&grads)
                .expect("fc1 gradient")
                .into_data()
                .iter::<f32>()
                .collect(),
        );
        all
    };
    let mut references = Vec::new();
    for detach in [false, true] {
        let lif_cfg = SnnConfig::new();
        let make = |chunk: usize| {
            let mut snn = spiking(Snn::from_ann(
                ann.clone(),
                &lif_cfg.clone().with_time_chunk(chunk),
            ));
            for n in &mut snn.neurons {
                n.detach_reset = detach;
            }
            snn
        };
        let reference = grads_of(&make(1), true);
        let norm: f32 = reference.iter().flatten().map(|g| g.abs()).sum();
        assert!(norm > 0.0, "the reference gradient is zero");
        for chunk in [1, 2, 4, 9] {
            let got = grads_of(&make(chunk), false);
            for (layer, (a, b)) in got.iter().zip(&reference).enumerate() {
                let diff = a
                    .iter()
                    .zip(b)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0f32, f32::max);
                let scale = b.iter().map(|g| g.abs()).fold(0.0f32, f32::max).max(1e-6);
                assert!(
                    diff <= 1e-4 * scale.max(1.0),
                    "detach {detach}, chunk {chunk}, layer {layer}: max diff {diff} (scale {scale})"
                );
            }
        }
        references.push(reference);
    }
    // The two reset modes really give different gradients (the test sees both).
    assert_ne!(references[0], references[1]);
}

/// Issue 10: the surrogate-gradient BPTT of a 2-spiking-layer network over
/// 3 timesteps equals the value derived by hand (triangle surrogate of
/// scale 1, thresholds 1, IF neurons, soft reset), with the reset detached
/// (the authors' choice) and attached.
///
/// Network: input spike 1 every step (pixel 1.0) → conv centre `a` → LIF →
/// fc1 `b` → LIF → fc2 `c` accumulated: `u_T = c Σ_t s2[t]`, loss `u_T`
/// (of output 0; a second output is left out of the loss).
/// With a = 0.6, b = 1.5, c = 2: layer 1 membranes 0.6, 1.2 (spike → 0.2),
/// 0.8, so s1 = 0 1 0 and σ'(u/θ - 1) = 0.6 0.8 0.8; layer 2 membranes 0,
/// 1.5 (spike → 0.5), 0.5, so s2 = 0 1 0 and σ' = 0 0.5 0.5; u_T = 2.
/// - dL/dc = Σ s2 = 1.
/// - detached: du2[t]/db = Σ_{k≤t} s1[k] = 0 1 1, dL/db = c (0.5 + 0.5) = 2;
///   ds1/da = σ'1 · (1, 2, 3) = 0.6 1.6 2.4, du2/da = b · cumsum = 0.9 3.3 6.9,
///   dL/da = c (0.5 · 3.3 + 0.5 · 6.9) = 10.2.
/// - attached (du_post = du_pre - θ ds): ds1/da = 0.6 1.12 1.024;
///   du2/db = 0 1 0.5 → dL/db = c (0.5 + 0.25) = 1.5;
///   du2/da = 0.9 2.58 2.826 (post 0.9 1.29 …) → dL/da = c (1.29 + 1.413) = 5.406.
#[test]
fn bptt_of_a_two_layer_three_step_network_equals_the_hand_derived_gradient() {
    use burn::module::Param;
    use burn::tensor::TensorData;
    let device = Device::flex().autodiff();
    let cfg = VggConfig::new()
        .with_in_channels(1)
        .with_image_size(1)
        .with_num_classes(2)
        .with_arch("1".into())
        .with_hidden(1)
        .with_conv_dropout(0.0)
        .with_fc_dropout(0.0);
    fn grad<const D: usize>(g: Option<Tensor<D>>) -> Vec<f32> {
        g.expect("gradient").into_data().iter::<f32>().collect()
    }
    for (detach, da, db) in [(true, 10.2f32, 2.0f32), (false, 5.406, 1.5)] {
        let mut ann = cfg.init(&device);
        let mut kernel = vec![0.0f32; 9];
        kernel[4] = 0.6;
        ann.convs[0].weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(kernel, [1, 1, 3, 3]),
            &device,
        ));
        ann.fc1.weight = Param::from_tensor(Tensor::from_floats([[1.5]], &device));
        // Output 0 is `c = 2`; output 1 (weight -1) is left out of the loss.
        ann.fc2.weight = Param::from_tensor(Tensor::from_floats([[2.0, -1.0]], &device));
        let snn = Snn::from_ann(
            ann,
            &SnnConfig::new()
                .with_detach_reset(detach)
                .with_time_chunk(2),
        );
        let x = Tensor::<4>::ones([1, 1, 1, 1], &device);
        let out = snn.forward_timesteps(x, 3, &mut PoissonEncoder::new(0));
        assert_eq!(out.spike_totals(), vec![3.0, 1.0, 1.0]);
        let u: Vec<f32> = out.membrane.clone().into_data().iter::<f32>().collect();
        assert_eq!(u, vec![2.0, -1.0], "u_T");
        let pick = Tensor::<2>::from_floats([[1.0, 0.0]], &device);
        let grads = (out.membrane * pick).sum().backward();
        let gc = grad(snn.ann.fc2.weight.grad(&grads));
        let gb = grad(snn.ann.fc1.weight.grad(&grads));
        let ga = grad(snn.ann.convs[0].weight.grad(&grads));
        let close = |got: f32, want: f32, what: &str| {
            assert!(
                (got - want).abs() < 1e-4,
                "detach {detach}: {what} = {got}, hand-derived {want}"
            );
        };
        close(gc[0], 1.0, "dL/dc");
        close(gc[1], 0.0, "dL/d(unused output weight)");
        close(gb[0], db, "dL/db");
        close(ga[4], da, "dL/da (kernel centre)");
        // Off-centre taps only ever see the zero padding.
        for (i, g) in ga.iter().enumerate().filter(|(i, _)| *i != 4) {
            assert_eq!(*g, 0.0, "detach {detach}: tap {i}");
        }
    }
}

/// Issue 10 (memory bound): the chunk-by-chunk STBP gradients equal those of
/// one backward through the whole simulation, for several chunk sizes, a
/// nonlinear loss, and dropout on (the masks are drawn once and reused).
#[test]
fn chunked_backward_equals_the_full_backward() {
    use burn::optim::GradientsParams;
    use burn::tensor::activation::log_softmax;
    let device = Device::flex().autodiff();
    let cfg = VggConfig::new()
        .with_in_channels(2)
        .with_image_size(8)
        .with_num_classes(4)
        .with_arch("6,6,A,8,A".into())
        .with_hidden(12)
        .with_conv_dropout(0.3)
        .with_fc_dropout(0.5);
    device.seed(21);
    let ann = cfg.init(&device);
    let x = input(&device).detach();
    let loss = |u: Tensor<2>| -> Tensor<1> {
        let y = Tensor::<2>::from_floats([[0.7, 0.1, 0.1, 0.1]], &u.device());
        (log_softmax(u.div_scalar(3.0), 1) * y).sum().neg()
    };
    let params = |snn: &Snn, g: &GradientsParams| -> Vec<Vec<f32>> {
        let mut all: Vec<Vec<f32>> = snn
            .ann
            .convs
            .iter()
            .map(|c| {
                g.get::<4>(c.weight.id)
                    .expect("conv grad")
                    .into_data()
                    .iter::<f32>()
                    .collect()
            })
            .collect();
        for w in [&snn.ann.fc1.weight, &snn.ann.fc2.weight] {
            all.push(
                g.get::<2>(w.id)
                    .expect("fc grad")
                    .into_data()
                    .iter::<f32>()
                    .collect(),
            );
        }
        all
    };
    for chunk in [1, 3, 4, 10] {
        let snn = spiking(Snn::from_ann(
            ann.clone(),
            &SnnConfig::new().with_time_chunk(chunk),
        ));
        let out = snn.forward_timesteps(x.clone(), 10, &mut PoissonEncoder::new(8));
        let full_loss: f32 = loss(out.membrane.clone()).into_scalar();
        let full = GradientsParams::from_grads(loss(out.membrane).backward(), &snn);
        let chunked = snn.backward_chunked(x.clone(), 10, &mut PoissonEncoder::new(8), &loss);
        let chunked_loss: f32 = chunked.loss.into_scalar();
        assert!(
            (full_loss - chunked_loss).abs() < 1e-5,
            "chunk {chunk}: loss"
        );
        let (a, b) = (params(&snn, &full), params(&snn, &chunked.grads));
        let norm: f32 = a.iter().flatten().map(|g| g.abs()).sum();
        assert!(norm > 0.0, "zero gradient");
        for (layer, (p, q)) in a.iter().zip(&b).enumerate() {
            let diff = p
                .iter()
                .zip(q)
                .map(|(u, v)| (u - v).abs())
                .fold(0.0f32, f32::max);
            let scale = p.iter().map(|g| g.abs()).fold(0.0f32, f32::max).max(1.0);
            assert!(
                diff <= 1e-4 * scale,
                "chunk {chunk}, layer {layer}: max diff {diff}"
            );
        }
    }
}

/// The layer-at-a-time path (kept inputs, advanced one layer at a time)
/// gives every layer exactly the currents of `layer_currents`.
#[test]
fn kept_layer_inputs_give_the_layer_currents() {
    let device = Device::flex();
    let (ann, _) = tiny(&device);
    let snn = spiking(Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(4)));
    let x = input(&device);
    let t = 10;
    let mut inputs = snn.encoded_inputs(x.clone(), t, &mut PoissonEncoder::new(6));
    for layer in 0..snn.neurons.len() {
        assert_eq!(
            (inputs.layer(), inputs.timesteps(), inputs.batch()),
            (layer, t, 3)
        );
        let mut expected = Vec::new();
        snn.layer_currents(x.clone(), t, layer, &mut PoissonEncoder::new(6), &mut |c| {
            expected.push(c)
        });
        let mut got = Vec::new();
        snn.inputs_currents(&inputs, &mut |c| got.push(c));
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.into_iter().zip(expected) {
            assert_eq!(g.dims(), e.dims());
            g.into_data()
                .assert_approx_eq::<f32>(&e.into_data(), burn::tensor::Tolerance::absolute(1e-6));
        }
        if layer + 1 < snn.neurons.len() {
            inputs = snn.next_inputs(inputs);
        }
    }
}
