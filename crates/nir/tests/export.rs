//! The NIR export: the file reads back to the same graph, a small NIR
//! interpreter run on the read-back graph (the semantics the crate docs
//! state) gives the SNN's logits and spikes, and Python's `nir` package
//! loads the file.

use std::path::Path;

use burn::module::Param;
use burn::tensor::module::{avg_pool2d, conv2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions};
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use nir_rs::nodes::Padding;
use nir_rs::{MetadataValue, NirGraph, NirNode};
use privatesnn_models::{Snn, SnnConfig, VggConfig};
use privatesnn_nir::{export_graph, node_names, read, write};

/// A tiny SNN with biases, an `F` layer and thresholds low enough to fire.
fn tiny(device: &Device, leak: f64) -> (Snn, VggConfig) {
    let config = VggConfig::new()
        .with_in_channels(2)
        .with_image_size(8)
        .with_num_classes(4)
        .with_arch("6,A,8,8,A,F10".into())
        .with_hidden(12)
        .with_bias(true);
    device.seed(3);
    let mut ann = config.init(device);
    for conv in &mut ann.convs {
        let n = conv.weight.dims()[0];
        conv.bias = Some(Param::from_tensor(Tensor::random(
            [n],
            Distribution::Uniform(-0.2, 0.2),
            device,
        )));
    }
    let snn = Snn::from_ann(ann, &SnnConfig::new().with_timesteps(12).with_leak(leak))
        .with_thresholds(&[0.4, 0.5, 0.6, 0.7, 0.8]);
    (snn, config)
}

fn floats(t: &nir_rs::Tensor) -> Vec<f32> {
    match t.data() {
        nir_rs::TensorData::F32(v) => v.clone(),
        nir_rs::TensorData::F64(v) => v.iter().map(|x| *x as f32).collect(),
        other => panic!("not a float tensor: {other:?}"),
    }
}

fn ints(t: &nir_rs::Tensor) -> Vec<usize> {
    match t.data() {
        nir_rs::TensorData::I64(v) => v.iter().map(|x| *x as usize).collect(),
        other => panic!("not an int tensor: {other:?}"),
    }
}

fn burn<const D: usize>(t: &nir_rs::Tensor, device: &Device) -> Tensor<D> {
    let shape: [usize; D] = t.shape().try_into().expect("rank");
    Tensor::from_data(TensorData::new(floats(t), shape), device)
}

/// Run `graph` for the spike train `[T, N, C, H, W]` with forward Euler at
/// dt = 1 and the reset its nodes' metadata names: the logits (integrator
/// state / T) and the spikes of every spiking node.
fn interpret(graph: &NirGraph, spikes: Tensor<5>) -> (Tensor<2>, Vec<f64>) {
    let device = spikes.device();
    let [t, n, c, h, w] = spikes.dims();
    let order: Vec<String> = {
        let mut order = vec!["input".to_string()];
        while let Some((_, next)) = graph.edges.iter().find(|(a, _)| a == order.last().unwrap()) {
            order.push(next.clone());
        }
        order
    };
    let mut membranes: Vec<Option<Tensor<4>>> = vec![None; order.len()];
    let mut counts = vec![0.0; order.len()];
    let mut integrator: Option<Tensor<2>> = None;
    for step in 0..t {
        // Rank-4 for maps, rank-2 ([N, F] as [N, F, 1, 1]) after the flatten.
        let mut x: Tensor<4> = spikes.clone().slice(step..step + 1).reshape([n, c, h, w]);
        for (k, name) in order.iter().enumerate() {
            match &graph.nodes[name.as_str()] {
                NirNode::Input(_) | NirNode::Output(_) => {}
                NirNode::Conv2d(conv) => {
                    let pad = match &conv.padding {
                        Padding::Explicit(p) => [p[0] as usize, p[1] as usize],
                        Padding::Valid => [0, 0],
                        other => panic!("padding {other:?}"),
                    };
                    x = conv2d(
                        x,
                        burn(&conv.weight, &device),
                        Some(burn(&conv.bias, &device)),
                        ConvOptions::new([1, 1], pad, [1, 1], 1),
                    );
                }
                NirNode::AvgPool2d(p) => {
                    let (k2, s2) = (ints(&p.kernel_size), ints(&p.stride));
                    x = avg_pool2d(
                        x,
                        AvgPoolOptions::new([k2[0], k2[1]]).with_stride([s2[0], s2[1]]),
                    );
                }
                NirNode::Flatten(_) => x = x.flatten::<2>(1, 3).unsqueeze_dims(&[2, 3]),
                NirNode::Affine(a) => {
                    let w: Tensor<2> = burn(&a.weight, &device);
                    let b: Tensor<1> = burn(&a.bias, &device);
                    let flat = x.flatten::<2>(1, 3);
                    x = (flat.matmul(w.transpose()) + b.unsqueeze_dim(0)).unsqueeze_dims(&[2, 3]);
                }
                NirNode::If(node) => {
                    let theta = floats(&node.v_threshold)[0] as f64;
                    let subtract = node.metadata.get("reset")
                        == Some(&MetadataValue::String("subtract".into()));
                    let v = membranes[k].take().unwrap_or_else(|| x.zeros_like()) + x.clone();
                    let s = v.clone().greater_elem(theta).float();
                    counts[k] += s.clone().sum().into_scalar::<f64>();
                    membranes[k] = Some(if subtract {
                        v - s.clone().mul_scalar(theta)
                    } else {
                        v * (s.clone().neg() + 1.0)
                    });
                    x = s;
                }
                NirNode::I(_) => {
                    let cur = x.clone().flatten::<2>(1, 3);
                    integrator = Some(match integrator.take() {
                        Some(acc) => acc + cur,
                        None => cur,
                    });
                }
                other => panic!("node {name}: {other:?} is not part of this export"),
            }
        }
    }
    let spiking = order
        .iter()
        .enumerate()
        .filter(|(_, name)| matches!(graph.nodes[name.as_str()], NirNode::If(_)))
        .map(|(k, _)| counts[k])
        .collect();
    (integrator.expect("T > 0").div_scalar(t as f64), spiking)
}

#[test]
fn the_file_reads_back_to_the_same_graph() {
    let device = Device::flex();
    let (snn, config) = tiny(&device, 1.0);
    let graph = export_graph(&snn, &config).expect("export");
    let names: Vec<&String> = graph.nodes.keys().collect();
    assert_eq!(
        names,
        node_names(&snn.ann.pool_after).iter().collect::<Vec<_>>()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snn.nir");
    write(&graph, &path).expect("write");
    let back = read(&path).expect("read");
    assert_eq!(back.nodes, graph.nodes);
    assert_eq!(back.edges, graph.edges);
    assert_eq!(
        back.metadata.get("reset"),
        Some(&MetadataValue::String("subtract".into()))
    );
    // The weights are the SNN's: conv1 and fc1 (PyTorch's [out, in]).
    let NirNode::Conv2d(conv1) = &back.nodes["conv1"] else {
        panic!("conv1")
    };
    let expected: Vec<f32> = snn.ann.convs[0]
        .weight
        .val()
        .into_data()
        .iter::<f32>()
        .collect();
    assert_eq!(floats(&conv1.weight), expected);
    let NirNode::Affine(fc1) = &back.nodes["fc1"] else {
        panic!("fc1")
    };
    assert_eq!(fc1.weight.shape(), &[12, 10]);
    let NirNode::If(lif) = &back.nodes["lif_fc1"] else {
        panic!("lif_fc1")
    };
    assert_eq!(floats(&lif.v_threshold), vec![0.8; 12]);
}

#[test]
fn the_read_back_graph_runs_as_the_snn() {
    let device = Device::flex();
    let (snn, config) = tiny(&device, 1.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snn.nir");
    write(&export_graph(&snn, &config).expect("export"), &path).expect("write");
    let graph = read(&path).expect("read");
    device.seed(9);
    let image = Tensor::<5>::random([12, 3, 2, 8, 8], Distribution::Uniform(-1.0, 1.0), &device);
    let spikes = image.clone().abs().greater_elem(0.5).float() * image.sign();
    let out = snn.forward_spike_train(spikes.clone());
    let (logits, counts) = interpret(&graph, spikes);
    let snn_counts = out.spike_totals();
    out.logits
        .into_data()
        .assert_approx_eq::<f32>(&logits.into_data(), burn::tensor::Tolerance::absolute(1e-4));
    assert_eq!(counts, snn_counts[1..].to_vec(), "spikes per layer");
    assert!(
        counts.iter().all(|&c| c > 0.0),
        "every layer fires: {counts:?}"
    );
}

#[test]
fn a_leak_is_exported_as_lif() {
    let device = Device::flex();
    let (snn, config) = tiny(&device, 0.9);
    let graph = export_graph(&snn, &config).expect("export");
    let NirNode::Lif(lif) = &graph.nodes["lif1"] else {
        panic!("a LIF node")
    };
    let tau = floats(&lif.tau)[0];
    assert!(
        (tau - 10.0).abs() < 1e-4,
        "tau = 1 / (1 - 0.9) = 10, got {tau}"
    );
    assert_eq!(floats(&lif.r)[0], tau);
}

/// Python's `nir` (the reference implementation) loads the file. Runs where
/// `python3` (or `$PRIVATESNN_PYTHON`) has `nir`; required when
/// `$PRIVATESNN_REQUIRE_PYTHON_NIR` is set (CI sets it after installing it).
#[test]
fn python_nir_loads_the_file() {
    let python = std::env::var("PRIVATESNN_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var_os("PRIVATESNN_REQUIRE_PYTHON_NIR").is_some();
    let has_nir = std::process::Command::new(&python)
        .args(["-c", "import nir"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_nir {
        assert!(
            !required,
            "{python} has no `nir` package, and PRIVATESNN_REQUIRE_PYTHON_NIR is set"
        );
        eprintln!("skipped: {python} has no `nir` package (pip install nir)");
        return;
    }
    let device = Device::flex();
    let (snn, config) = tiny(&device, 1.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("snn.nir");
    write(&export_graph(&snn, &config).expect("export"), &path).expect("write");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_nir.py");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(&path)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = node_names(&snn.ann.pool_after).len();
    assert!(stdout.contains(&format!("nodes {expected}")), "{stdout}");
    assert!(stdout.contains("conv1 Conv2d (6, 2, 3, 3)"), "{stdout}");
}
