//! Tests of biases (an input current every timestep) and of `F` layers
//! (fully connected layers held as whole-map convolutions) in the SNN.

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Distribution, Tensor, Tolerance};
use privatesnn_neurons::PoissonEncoder;

use super::tests::{input, spiking};
use super::{Snn, SnnConfig};
use crate::{Vgg, VggConfig};

/// A tiny VGG with biases and one `F` layer, biases drawn away from 0.
fn biased(device: &Device, seed: u64) -> Vgg {
    let cfg = VggConfig::new()
        .with_in_channels(2)
        .with_image_size(8)
        .with_num_classes(4)
        .with_arch("6,A,8,A,F10".into())
        .with_hidden(12)
        .with_bias(true);
    device.seed(seed);
    let mut ann = cfg.init(device);
    let random = |n: usize| Tensor::<1>::random([n], Distribution::Uniform(-0.3, 0.3), device);
    for conv in &mut ann.convs {
        let n = conv.weight.dims()[0];
        conv.bias = Some(Param::from_tensor(random(n)));
    }
    ann.fc1.bias = Some(Param::from_tensor(random(12)));
    ann.fc2.bias = Some(Param::from_tensor(random(4)));
    ann
}

#[test]
fn f_layers_have_the_shapes_of_a_fully_connected_layer() {
    let device = Device::flex();
    let ann = biased(&device, 1);
    assert_eq!(ann.convs.len(), 3);
    // 8x8 -> conv 6 -> pool 4x4 -> conv 8 -> pool 2x2 -> F10 over the 2x2 map.
    assert_eq!(ann.convs[2].weight.dims(), [10, 8, 2, 2]);
    assert_eq!(ann.conv_output_sizes([8, 8]), vec![[4, 4], [2, 2], [1, 1]]);
    assert_eq!(ann.fc1.weight.dims(), [10, 12]);
    // The F layer is the linear layer of its flattened input.
    let x = Tensor::<4>::random([3, 8, 2, 2], Distribution::Default, &device);
    let conv = ann.convs[2].forward(x.clone()).flatten::<2>(1, 3);
    let w = ann.convs[2].weight.val().reshape([10, 32]).transpose();
    let b = ann.convs[2].bias.as_ref().expect("bias").val();
    let linear = x.flatten::<2>(1, 3).matmul(w) + b.unsqueeze_dim(0);
    conv.into_data()
        .assert_approx_eq::<f32>(&linear.into_data(), Tolerance::absolute(1e-5));
}

#[test]
fn biased_layer_major_equals_stepwise() {
    let device = Device::flex();
    let ann = biased(&device, 2);
    let x = input(&device);
    for chunk in [1, 3, 20] {
        let cfg = SnnConfig::new().with_time_chunk(chunk);
        let snn = spiking(Snn::from_ann(ann.clone(), &cfg));
        let fast = snn.forward_timesteps(x.clone(), 20, &mut PoissonEncoder::new(4));
        let slow = snn.forward_stepwise(x.clone(), 20, &mut PoissonEncoder::new(4));
        assert_eq!(fast.spike_totals(), slow.spike_totals(), "chunk {chunk}");
        assert!(fast.spike_totals().iter().all(|&s| s > 0.0));
        // The bias currents are large here (thresholds 0.3: b / 0.3^k), so
        // summing 20 increments and one multiply differ in the last bits.
        fast.membrane
            .into_data()
            .assert_approx_eq::<f32>(&slow.membrane.into_data(), Tolerance::rel_abs(1e-5, 1e-4));
    }
}

/// With the output weights 0, whatever the hidden layers do, the output
/// membrane is `T · b / Λ_L` and the logits `b / Λ_L` (here every threshold
/// is 1, so `Λ_L = 1`).
#[test]
fn output_bias_counts_once_per_timestep() {
    let device = Device::flex();
    let mut ann = biased(&device, 3);
    ann.fc2.weight = ann.fc2.weight.clone().map(|w| w.zeros_like());
    let b = ann.fc2.bias.as_ref().expect("bias").val();
    let snn = Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(4));
    let out = snn.forward_timesteps(input(&device), 10, &mut PoissonEncoder::new(0));
    let expected = b.clone().unsqueeze_dim::<2>(0).repeat_dim(0, 3);
    out.logits
        .into_data()
        .assert_approx_eq::<f32>(&expected.clone().into_data(), Tolerance::absolute(1e-6));
    out.membrane.into_data().assert_approx_eq::<f32>(
        &expected.mul_scalar(10.0).into_data(),
        Tolerance::absolute(1e-5),
    );
}

#[test]
fn biased_chunked_backward_equals_the_full_backward() {
    let device = Device::flex().autodiff();
    let ann = biased(&device, 4);
    let x = input(&device).detach();
    let loss = |u: Tensor<2>| -> Tensor<1> {
        let y = Tensor::<2>::from_floats([[0.1, 0.7, 0.1, 0.1]], &u.device());
        (log_softmax(u.div_scalar(3.0), 1) * y).sum().neg()
    };
    let biases = |snn: &Snn, g: &GradientsParams| -> Vec<Vec<f32>> {
        let mut ids: Vec<_> = snn
            .ann
            .convs
            .iter()
            .map(|c| c.bias.as_ref().expect("bias").id)
            .collect();
        ids.push(snn.ann.fc1.bias.as_ref().expect("bias").id);
        ids.push(snn.ann.fc2.bias.as_ref().expect("bias").id);
        ids.into_iter()
            .map(|id| {
                g.get::<1>(id)
                    .expect("bias gradient")
                    .into_data()
                    .iter::<f32>()
                    .collect()
            })
            .collect()
    };
    for chunk in [1, 4] {
        let snn = spiking(Snn::from_ann(
            ann.clone(),
            &SnnConfig::new().with_time_chunk(chunk),
        ));
        let out = snn.forward_timesteps(x.clone(), 8, &mut PoissonEncoder::new(8));
        let full = GradientsParams::from_grads(loss(out.membrane).backward(), &snn);
        let chunked = snn.backward_chunked(x.clone(), 8, &mut PoissonEncoder::new(8), &loss);
        let (a, b) = (biases(&snn, &full), biases(&snn, &chunked.grads));
        assert!(a.last().expect("fc2").iter().any(|g| g.abs() > 0.0));
        for (layer, (p, q)) in a.iter().zip(&b).enumerate() {
            for (u, v) in p.iter().zip(q) {
                assert!(
                    (u - v).abs() <= 1e-4 * u.abs().max(1.0),
                    "chunk {chunk}, bias of layer {layer}: {u} vs {v}"
                );
            }
        }
    }
}

/// With every weight 0, a layer's current is its bias over the product of
/// the thresholds before it (conv1: the bias itself; the layer-major,
/// kept-input and step-by-step paths alike).
#[test]
fn bias_currents_are_scaled_by_the_thresholds_before() {
    let device = Device::flex();
    let mut ann = biased(&device, 5);
    for conv in &mut ann.convs {
        conv.weight = conv.weight.clone().map(|w| w.zeros_like());
    }
    ann.fc1.weight = ann.fc1.weight.clone().map(|w| w.zeros_like());
    ann.fc2.weight = ann.fc2.weight.clone().map(|w| w.zeros_like());
    let thresholds = [2.0, 0.5, 4.0, 1.5];
    let snn = Snn::from_ann(ann, &SnnConfig::new().with_time_chunk(2)).with_thresholds(&thresholds);
    assert_eq!(snn.bias_scales(), vec![1.0, 2.0, 1.0, 4.0, 6.0]);
    let x = input(&device);
    let biases: Vec<Vec<f32>> = snn
        .ann
        .convs
        .iter()
        .map(|c| c.bias.as_ref().expect("bias").val())
        .chain([snn.ann.fc1.bias.as_ref().expect("bias").val()])
        .map(|b| b.into_data().iter::<f32>().collect())
        .collect();
    let scales = snn.bias_scales();
    for (layer, bias) in biases.iter().enumerate() {
        let mut currents = Vec::new();
        snn.layer_currents(x.clone(), 3, layer, &mut PoissonEncoder::new(1), &mut |c| {
            currents.push(c)
        });
        let c: Vec<f32> = Tensor::cat(currents, 0).into_data().iter::<f32>().collect();
        // Every timestep and image, channel ch's current is b[ch] / Λ
        // (rows: T = 3 steps; each row N = 3 images of C x H x W, channel-major).
        let row = c.len() / 3;
        let hw = row / 3 / bias.len();
        for (k, v) in c.iter().enumerate() {
            let ch = (k % row) % (bias.len() * hw) / hw;
            let expected = bias[ch] / scales[layer] as f32;
            assert!(
                (v - expected).abs() < 1e-6,
                "layer {layer}, element {k}: current {v}, expected {expected}"
            );
        }
    }
    let out = snn.forward_timesteps(x.clone(), 5, &mut PoissonEncoder::new(2));
    let slow = snn.forward_stepwise(x, 5, &mut PoissonEncoder::new(2));
    let b = snn.ann.fc2.bias.as_ref().expect("bias").val();
    let expected = b.div_scalar(6.0).unsqueeze_dim::<2>(0).repeat_dim(0, 3);
    for logits in [out.logits, slow.logits] {
        logits
            .into_data()
            .assert_approx_eq::<f32>(&expected.clone().into_data(), Tolerance::absolute(1e-6));
    }
}
