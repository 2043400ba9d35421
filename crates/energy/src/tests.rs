//! Operation counts against hand and published values; the estimate on hand-made spike counts.

use super::*;

/// ImageNet VGG16 (224x224, three FC layers): the well-known 15.47 GMACs.
#[test]
fn vgg16_imagenet_has_its_published_mac_count() {
    let cfg = [
        64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
    ];
    let (mut hw, mut c) = (224, 3);
    let mut layers = Vec::new();
    for (i, &v) in cfg.iter().enumerate() {
        if v == 0 {
            hw /= 2;
            continue;
        }
        layers.push(Layer::conv2d(&format!("conv{i}"), c, v, [3, 3], 1, 1, [hw, hw]).unwrap());
        c = v;
    }
    layers.push(Layer::linear("fc1", 512 * 7 * 7, 4096));
    layers.push(Layer::linear("fc2", 4096, 4096));
    layers.push(Layer::linear("fc3", 4096, 1000));
    let total: u64 = layers.iter().map(|l| l.macs).sum();
    assert_eq!(total, 15_470_264_320);
    // The first conv by hand: 224·224 outputs x 64 channels x 3·3·3 weights.
    assert_eq!(layers[0].macs, 224 * 224 * 64 * 27);
    assert_eq!(layers[0].neurons, 224 * 224 * 64);
}

#[test]
fn conv_shapes_follow_stride_and_padding() {
    // 5x5 input, 3x3 kernel, stride 2, padding 1 -> 3x3 output.
    let l = Layer::conv2d("c", 2, 4, [3, 3], 2, 1, [5, 5]).unwrap();
    assert_eq!(l.neurons, 3 * 3 * 4);
    assert_eq!(l.macs, 36 * 2 * 9);
    // No padding, a 1x7 kernel on 7x7: 7x1 outputs.
    let l = Layer::conv2d("c", 1, 1, [1, 7], 1, 0, [7, 7]).unwrap();
    assert_eq!((l.neurons, l.macs), (7, 49));
    assert!(Layer::conv2d("c", 1, 1, [9, 9], 1, 0, [7, 7]).is_err());
    assert!(Layer::conv2d("c", 1, 1, [3, 3], 0, 0, [7, 7]).is_err());
}

/// A hand-made spike count: two layers, 10 timesteps, 4 images.
#[test]
fn snn_energy_on_hand_made_spike_counts() {
    let layers = [
        Layer::conv2d("conv", 1, 2, [3, 3], 1, 1, [4, 4]).unwrap(), // 16·2 neurons, 288 MACs
        Layer::linear("fc", 32, 3),                                 // 96 MACs
    ];
    assert_eq!((layers[0].macs, layers[1].macs), (288, 96));
    // 4 images: 16 input pixels each spiked 3 times in total; conv's 32 neurons 0.5 times.
    let totals = [4.0 * 16.0 * 3.0, 4.0 * 32.0 * 0.5];
    let r = spikes_per_neuron(&totals, &[16, 32], 4).unwrap();
    assert_eq!(r, vec![3.0, 0.5]);
    let cfg = EnergyConfig {
        e_mac_pj: 2.0,
        e_ac_pj: 1.0,
    };
    let e = energy(&layers, &r, &cfg).unwrap();
    assert_eq!(e.macs, 384);
    assert!((e.ann_pj - 768.0).abs() < 1e-9);
    assert!((e.snn_pj - (288.0 * 3.0 + 96.0 * 0.5)).abs() < 1e-9);
    assert!((e.ratio - 768.0 / 912.0).abs() < 1e-12);
    assert!((e.layers[1].snn_pj - 48.0).abs() < 1e-9);
    // A silent network costs nothing: the ratio is infinite, not NaN.
    assert_eq!(
        energy(&layers, &[0.0, 0.0], &cfg).unwrap().ratio,
        f64::INFINITY
    );
}

#[test]
fn bad_inputs_are_errors() {
    let layers = [Layer::linear("fc", 2, 2)];
    assert!(energy(&layers, &[1.0, 2.0], &EnergyConfig::default()).is_err());
    assert!(energy(&layers, &[f64::NAN], &EnergyConfig::default()).is_err());
    assert!(
        energy(
            &layers,
            &[1.0],
            &EnergyConfig {
                e_mac_pj: 0.0,
                e_ac_pj: 1.0
            }
        )
        .is_err()
    );
    assert!(spikes_per_neuron(&[1.0], &[1, 2], 1).is_err());
    assert!(spikes_per_neuron(&[-1.0], &[1], 1).is_err());
    assert!(spikes_per_neuron(&[1.0], &[1], 0).is_err());
}
