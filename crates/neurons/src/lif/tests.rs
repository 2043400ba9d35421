//! Tests of the LIF layer: hand-computed dynamics, the host scan and the
//! fused STBP form against the tensor form.
use super::*;
use burn::tensor::TensorData;

fn dev() -> Device {
    Device::flex()
}

/// A tensor's f32 values as bit patterns, for exact comparisons.
fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
    t.into_data().iter::<f32>().map(f32::to_bits).collect()
}

fn run_seq(cfg: LifConfig, currents: &[f32]) -> Vec<f32> {
    let device = dev();
    let lif = cfg.init(&device);
    let input = Tensor::<2>::from_data(
        TensorData::new(currents.to_vec(), [currents.len(), 1]),
        &device,
    );
    let (s, _) = lif.forward_seq(input, None);
    s.into_data().try_to_vec::<f32>().unwrap()
}

/// The host scan (flex/ndarray without autodiff) is bit-identical to the
/// tensor form: spikes and membranes, across chunks, for IF and leaky
/// neurons, both resets, currents near the threshold.
#[test]
#[allow(deprecated)] // Device::ndarray
fn host_scan_equals_the_tensor_form_bit_for_bit() {
    use burn::tensor::Distribution;
    for device in [Device::flex(), Device::ndarray()] {
        assert!(host_scan(&device) && !host_scan(&device.clone().autodiff()));
        device.seed(8);
        for (leak, reset, th) in [
            (1.0, Reset::Subtract, 0.7),
            (0.9, Reset::Subtract, 0.33),
            (0.5, Reset::Zero, 1.0),
            (1.0, Reset::Zero, 0.1),
        ] {
            let lif = LifConfig::new()
                .with_leak(leak)
                .with_reset(reset)
                .with_threshold(th)
                .init(&device);
            let x = Tensor::<4>::random([7, 3, 5, 4], Distribution::Uniform(-0.5, 1.2), &device);
            let (mut sh, mut st) = (None, None);
            let (mut spikes_h, mut spikes_t) = (Vec::new(), Vec::new());
            for chunk in [x.clone().narrow(0, 0, 3), x.clone().narrow(0, 3, 4)] {
                let (a, s1) = lif.forward_seq_host(chunk.clone(), sh.take());
                let (b, s2) = lif.forward_seq_tensor(chunk, st.take());
                spikes_h.push(a);
                spikes_t.push(b);
                sh = Some(s1);
                st = Some(s2);
            }
            let (h, t) = (Tensor::cat(spikes_h, 0), Tensor::cat(spikes_t, 0));
            assert!(h.clone().sum().into_scalar::<f32>() > 0.0, "some spikes");
            assert_eq!(bits(h), bits(t));
            let (mh, mt) = (sh.unwrap().membrane, st.unwrap().membrane);
            assert_eq!(mh.dims(), [1, 3, 5, 4]);
            assert_eq!(bits(mh), bits(mt));
        }
    }
}

#[test]
fn integrate_and_fire_soft_reset_matches_hand_computation() {
    // θ = 1, λ = 1, I = 3/8 (exact in f32): u = .375 .75 1.125→spike→.125 .5 .875
    // 1.25→spike→.25 .625
    let s = run_seq(LifConfig::new(), &[0.375; 7]);
    assert_eq!(s, vec![0., 0., 1., 0., 0., 1., 0.]);
}

#[test]
fn fires_only_strictly_above_threshold() {
    let s = run_seq(LifConfig::new(), &[1.0, 0.0, 0.5, 0.5, 0.01]);
    // u = 1.0 (no), 1.0 (no), 1.5 (spike, →0.5), 1.0 (no), 1.01 (spike)
    assert_eq!(s, vec![0., 0., 1., 0., 1.]);
}

#[test]
fn leaky_hard_reset_matches_hand_computation() {
    // λ = 0.5, θ = 1, hard reset. u: 0.8, 0.4+0.8=1.2→s→0, 0.8, 1.2→s→0, 0.8
    let cfg = LifConfig::new().with_leak(0.5).with_reset(Reset::Zero);
    let s = run_seq(cfg, &[0.8; 5]);
    assert_eq!(s, vec![0., 1., 0., 1., 0.]);
}

#[test]
fn leaky_soft_reset_keeps_residue() {
    // λ = 0.9, θ = 2: u1 = 2.5 → spike, residue 0.5; u2 = 0.45 + 2.5 = 2.95 → spike, 0.95;
    // u3 = 0.855 + 0 = 0.855 → no; u4 = 0.7695 + 1.5 = 2.2695 → spike.
    let cfg = LifConfig::new().with_leak(0.9).with_threshold(2.0);
    let device = dev();
    let lif = cfg.init(&device);
    let input = Tensor::<2>::from_floats([[2.5], [2.5], [0.0], [1.5]], &device);
    let (s, st) = lif.forward_seq(input, None);
    assert_eq!(
        s.into_data().try_to_vec::<f32>().unwrap(),
        vec![1., 1., 0., 1.]
    );
    let u = st.membrane.into_data().try_to_vec::<f32>().unwrap()[0];
    assert!((u - 0.2695).abs() < 1e-5, "membrane {u}");
}

#[test]
fn seq_equals_steps_and_state_carries_across_chunks() {
    let device = dev();
    let lif = LifConfig::new()
        .with_leak(0.95)
        .with_threshold(0.7)
        .init(&device);
    let data: Vec<f32> = (0..6 * 2 * 3)
        .map(|i| ((i * 37 % 11) as f32) / 10.0 - 0.2)
        .collect();
    let input = Tensor::<3>::from_data(TensorData::new(data, [6, 2, 3]), &device);
    let (all, _) = lif.forward_seq(input.clone(), None);
    // chunks of 4 + 2
    let (a, st) = lif.forward_seq(input.clone().narrow(0, 0, 4), None);
    let (b, _) = lif.forward_seq(input.clone().narrow(0, 4, 2), Some(st));
    let chunked = Tensor::cat(vec![a, b], 0);
    all.clone()
        .into_data()
        .assert_eq(&chunked.into_data(), true);
    // single steps
    let mut state: Option<LifState<2>> = None;
    let mut steps = Vec::new();
    for x in input.iter_dim(0) {
        let (s, st) = lif.forward(x.squeeze_dim::<2>(0), state);
        steps.push(s.unsqueeze_dim::<3>(0));
        state = Some(st);
    }
    all.into_data()
        .assert_eq(&Tensor::cat(steps, 0).into_data(), true);
}

#[test]
#[should_panic = "LIF leak must be in (0, 1]"]
fn rejects_bad_leak() {
    LifConfig::new().with_leak(1.5).init(&dev());
}

#[test]
#[should_panic = "LIF threshold must be finite and > 0"]
fn rejects_bad_threshold() {
    LifConfig::new().with_threshold(0.0).init(&dev());
}

#[test]
fn reset_gradient_known_values_attached_and_detached() {
    // Two steps, θ = 1, triangle scale 1, I = [1.2, 0.5]:
    // u1 = 1.2 → s1 = 1 (surrogate g1 = 1 - 0.2 = 0.8), u1' = 0.2; u2 = 0.7 → s2 = 0 (g2 = 0.7).
    // ds2/dI1 = g2 · d(u1 - s1)/dI1 = 0.7 · (1 - 0.8) = 0.14 with the reset attached,
    // and 0.7 · 1 = 0.7 with it detached. Spikes are the same either way.
    let device = Device::flex().autodiff();
    for (detach, want) in [(false, 0.14f32), (true, 0.7)] {
        let lif = LifConfig::new().with_detach_reset(detach).init(&device);
        let x = Tensor::<2>::from_floats([[1.2], [0.5]], &device).require_grad();
        let (s, _) = lif.forward_seq(x.clone(), None);
        let spikes = s.clone().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(spikes, vec![1.0, 0.0]);
        let grads = s.narrow(0, 1, 1).sum().backward();
        let g = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(
            (g[0] - want).abs() < 1e-5,
            "detach {detach}: dI1 {} vs {want}",
            g[0]
        );
        assert!((g[1] - 0.7).abs() < 1e-5, "dI2 {}", g[1]);
    }
}

#[test]
fn with_threshold_replaces_value() {
    let lif = LifConfig::new().init(&dev()).with_threshold(0.25);
    assert!((lif.threshold_value() - 0.25).abs() < 1e-7);
}

/// wgpu (on a GPU, or on the CPU through Mesa's lavapipe in CI).
fn wgpu() -> Device {
    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)
}

/// The fused STBP form (one operation per chunk, its own backward) against
/// the tensor form's autodiff: spikes and membranes bit for bit, the input
/// and initial-membrane gradients within float rounding, across chunks, for
/// IF and leaky neurons and every surrogate, on flex, ndarray and wgpu (the
/// host scans there, the CubeCL kernels here).
#[test]
#[allow(deprecated)] // Device::ndarray
fn fused_form_equals_the_tensor_form_values_and_gradients() {
    use burn::tensor::Distribution;
    for base in [Device::flex(), Device::ndarray(), wgpu()] {
        let device = base.autodiff();
        device.seed(11);
        for (leak, th, surrogate) in [
            (1.0, 0.7, Surrogate::Triangle { scale: 1.0 }),
            (0.9, 0.35, Surrogate::Triangle { scale: 0.3 }),
            (0.8, 1.0, Surrogate::Atan { alpha: 2.0 }),
            (1.0, 0.5, Surrogate::FastSigmoid { slope: 4.0 }),
        ] {
            let lif = LifConfig::new()
                .with_leak(leak)
                .with_threshold(th)
                .with_surrogate(surrogate)
                .with_detach_reset(true)
                .init(&device);
            assert!(lif.fused_applies(&device));
            let x = Tensor::<4>::random([7, 2, 3, 4], Distribution::Uniform(-0.4, 1.0), &device)
                .require_grad();
            let m0 = Tensor::<4>::random([1, 2, 3, 4], Distribution::Uniform(0.0, 0.5), &device)
                .require_grad();
            let probe = Tensor::<4>::random([7, 2, 3, 4], Distribution::Normal(0.0, 1.0), &device);
            let probe_m =
                Tensor::<4>::random([1, 2, 3, 4], Distribution::Normal(0.0, 1.0), &device);
            type Seq = fn(&Lif, Tensor<4>, Option<LifState<4>>) -> (Tensor<4>, LifState<4>);
            let run = |f: Seq| {
                // Two chunks (3 + 4 steps), the membrane carried between them.
                let (a, st) = f(
                    &lif,
                    x.clone().narrow(0, 0, 3),
                    Some(LifState {
                        membrane: m0.clone(),
                    }),
                );
                let (b, st) = f(&lif, x.clone().narrow(0, 3, 4), Some(st));
                let spikes = Tensor::cat(vec![a, b], 0);
                let loss = (spikes.clone() * probe.clone()).sum()
                    + (st.membrane.clone() * probe_m.clone()).sum();
                let grads = loss.backward();
                (
                    spikes.into_data(),
                    st.membrane.into_data(),
                    x.grad(&grads).expect("x grad"),
                    m0.grad(&grads).expect("m0 grad"),
                )
            };
            let (s1, m1, gx1, gm1) = run(Lif::forward_seq_fused);
            let (s2, m2, gx2, gm2) = run(Lif::forward_seq_tensor);
            s1.assert_eq(&s2, true);
            m1.assert_eq(&m2, true);
            let spikes: f32 = s1.iter::<f32>().sum();
            assert!(
                spikes > 0.0 && spikes < 168.0,
                "some but not all neurons spike"
            );
            let diff = |a: Tensor<4>, b: Tensor<4>| (a - b).abs().max().into_scalar::<f32>();
            let scale = gx2.clone().abs().max().into_scalar::<f32>();
            assert!(scale > 0.0, "a gradient to compare");
            assert!(
                diff(gx1, gx2) < 1e-5 * scale.max(1.0),
                "{leak} {surrogate:?}: dI"
            );
            assert!(
                diff(gm1, gm2) < 1e-5 * scale.max(1.0),
                "{leak} {surrogate:?}: dm0"
            );
        }
    }
}

/// The fused form is taken only where it is exact: not without autodiff,
/// not for an attached or hard reset, not for a trained threshold.
#[test]
fn fused_form_applies_only_to_a_detached_soft_reset_and_a_fixed_threshold() {
    let ad = Device::flex().autodiff();
    let cfg = || LifConfig::new().with_detach_reset(true);
    assert!(cfg().init(&ad).fused_applies(&ad));
    assert!(!cfg().init(&Device::flex()).fused_applies(&Device::flex()));
    // Cube backends: the kernel at inference too, and there for any soft
    // reset (detaching only changes gradients).
    let gpu = wgpu();
    let gpu_ad = gpu.clone().autodiff();
    assert!(cfg().init(&gpu_ad).fused_applies(&gpu_ad));
    assert!(
        cfg()
            .with_detach_reset(false)
            .init(&gpu)
            .fused_applies(&gpu)
    );
    assert!(
        !cfg()
            .with_detach_reset(false)
            .init(&gpu_ad)
            .fused_applies(&gpu_ad)
    );
    assert!(!cfg().with_reset(Reset::Zero).init(&gpu).fused_applies(&gpu));
    assert!(!cfg().with_detach_reset(false).init(&ad).fused_applies(&ad));
    assert!(!cfg().with_reset(Reset::Zero).init(&ad).fused_applies(&ad));
    assert!(
        !cfg()
            .with_learn_threshold(true)
            .init(&ad)
            .fused_applies(&ad)
    );
}

/// Layers wider than one parallel block of the fused scans (several blocks
/// and a partial one): still the tensor form's spikes and gradients.
#[test]
fn fused_form_is_exact_across_parallel_blocks() {
    use burn::tensor::Distribution;
    let device = Device::flex().autodiff();
    device.seed(5);
    let lif = LifConfig::new()
        .with_threshold(0.6)
        .with_detach_reset(true)
        .init(&device);
    let width = 2 * 16_384 + 1_000;
    let x =
        Tensor::<2>::random([4, width], Distribution::Uniform(-0.3, 0.9), &device).require_grad();
    let probe = Tensor::<2>::random([4, width], Distribution::Normal(0.0, 1.0), &device);
    let run = |fused: bool| {
        let (s, st) = if fused {
            lif.forward_seq_fused(x.clone(), None)
        } else {
            lif.forward_seq_tensor(x.clone(), None)
        };
        let loss = (s.clone() * probe.clone()).sum() + st.membrane.clone().sum();
        let g = x.grad(&loss.backward()).expect("x grad");
        (s.into_data(), st.membrane.into_data(), g)
    };
    let (s1, m1, g1) = run(true);
    let (s2, m2, g2) = run(false);
    s1.assert_eq(&s2, true);
    m1.assert_eq(&m2, true);
    let d = (g1 - g2).abs().max().into_scalar::<f32>();
    assert!(d < 1e-5, "gradient differs by {d}");
}

/// At inference on wgpu the fused kernel is the tensor form bit for bit:
/// spikes and membranes, across chunks, for IF and leaky neurons, currents
/// near the threshold, and a layer wider than one launch's cube count.
#[test]
fn cube_kernel_equals_the_tensor_form_at_inference() {
    use burn::tensor::Distribution;
    let device = wgpu();
    device.seed(9);
    for (leak, th, shape) in [
        (1.0, 0.7, [7, 3, 5, 4]),
        (0.9, 0.33, [7, 3, 5, 4]),
        (1.0, 0.25, [5, 2, 64, 530]),
    ] {
        let lif = LifConfig::new()
            .with_leak(leak)
            .with_threshold(th)
            .init(&device);
        assert!(lif.fused_applies(&device));
        let x = Tensor::<4>::random(shape, Distribution::Uniform(-0.5, 1.2), &device);
        let steps = shape[0];
        let (mut sf, mut st) = (None, None);
        let (mut spikes_f, mut spikes_t) = (Vec::new(), Vec::new());
        for chunk in [x.clone().narrow(0, 0, 2), x.clone().narrow(0, 2, steps - 2)] {
            let (a, s1) = lif.forward_seq(chunk.clone(), sf.take());
            let (b, s2) = lif.forward_seq_tensor(chunk, st.take());
            spikes_f.push(a);
            spikes_t.push(b);
            sf = Some(s1);
            st = Some(s2);
        }
        let (f, t) = (Tensor::cat(spikes_f, 0), Tensor::cat(spikes_t, 0));
        let n = f.clone().sum().into_scalar::<f32>();
        assert!(
            n > 0.0 && (n as usize) < f.shape().num_elements(),
            "some spikes"
        );
        assert_eq!(bits(f), bits(t), "spikes, leak {leak}");
        let (mf, mt) = (sf.unwrap().membrane, st.unwrap().membrane);
        assert_eq!(bits(mf), bits(mt), "membranes, leak {leak}");
    }
}
