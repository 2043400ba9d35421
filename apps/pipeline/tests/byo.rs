//! "Bring your own model": a torchvision-layout VGG16-bn state dict made by
//! PyTorch (`crates/models/tests/fixtures/torch/make_fixtures.py`) is
//! imported, converted data-free and exported to NIR; an imported ANN is not
//! retrained behind the user's back.

mod common;

use std::path::PathBuf;

use common::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/models/tests/fixtures/torch")
        .join(name)
}

/// `[model]` of the torchvision fixture (1/64-wide VGG16-bn, three linear layers).
fn torchvision_model(text: String) -> String {
    text.replace(
        "arch = \"8,A,16,A\"\nhidden = 32",
        "arch = \"1,1,A,2,2,A,4,4,4,A,8,8,8,A,8,8,8,A,F8\"\nhidden = 8\nbias = true",
    )
}

#[test]
fn torchvision_vgg16_imports_converts_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), 200);
    let cfg = config_with(dir.path(), &data, 1, torchvision_model);
    let out = dir.path().join("run");
    let from = fixture("torchvision_vgg16_bn.pt");
    let stdout = ok(&run_args(
        &cfg,
        &out,
        &["import-ann", "--from", from.to_str().unwrap()],
    ));
    let acc = accuracy(&stdout);
    let report = report(&out);
    // The printed accuracy is the one recorded for the report.
    let recorded = report["final_test_acc"].as_f64().unwrap();
    assert!((acc - recorded).abs() < 0.01, "{acc} vs {recorded}");
    assert_eq!(report["imported"]["summary"]["batch_norms_folded"], 13);
    assert_eq!(report["imported"]["summary"]["adaptive_pool_bins"], 7);
    // Every later stage runs on it: train-ann skips it as up to date.
    let err = ok_stderr(&run_args(&cfg, &out, &["train-ann"]));
    assert!(err.contains("up to date"), "{err}");
    ok(&run_args(&cfg, &out, &["synthesize"]));
    ok(&run_args(&cfg, &out, &["convert", "--source", "synthetic"]));
    let nir = out.join("exported.nir");
    let stdout = ok(&run_args(
        &cfg,
        &out,
        &[
            "export-nir",
            "--snn",
            "synthetic",
            "--to",
            nir.to_str().unwrap(),
        ],
    ));
    assert!(stdout.contains("subtraction"), "{stdout}");
    let graph = privatesnn_nir::read(&nir).unwrap();
    // input, 14 x (conv + neuron), 5 pools, flatten, fc1, its neurons, fc2, integrator, output.
    assert_eq!(graph.nodes.len(), 1 + 14 * 2 + 5 + 6);
    // The NIR graph carries the converted SNN's thresholds, layer by layer.
    let (snn, _, _) = privatesnn_models::io::load_snn(
        &out.join("snn-synthetic.bpk"),
        &burn::tensor::Device::flex(),
    )
    .unwrap();
    let thresholds = snn.thresholds();
    assert_eq!(thresholds.len(), 15);
    let privatesnn_nir::nir_rs::NirNode::If(lif) = &graph.nodes["lif_fc1"] else {
        panic!("lif_fc1 is an IF node")
    };
    let v = match lif.v_threshold.data() {
        privatesnn_nir::nir_rs::TensorData::F64(v) => v[0],
        other => panic!("{other:?}"),
    };
    assert!(
        (v - thresholds[14]).abs() < 1e-9,
        "{v} vs {}",
        thresholds[14]
    );
}

#[test]
fn an_imported_ann_is_kept_until_imported_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path(), 100);
    let cfg = config_with(dir.path(), &data, 1, torchvision_model);
    let out = dir.path().join("run");
    let from = fixture("torchvision_vgg16_bn.safetensors");
    ok(&run_args(
        &cfg,
        &out,
        &["import-ann", "--from", from.to_str().unwrap()],
    ));
    // [train] does not shape an imported ANN.
    let cfg2 = config_with(dir.path(), &data, 3, torchvision_model);
    let err = ok_stderr(&run_args(&cfg2, &out, &["train-ann"]));
    assert!(err.contains("up to date"), "{err}");
    // [model] does: it is out of date, and train-ann will not replace it silently.
    let cfg3 = config_with(dir.path(), &data, 1, |t| {
        torchvision_model(t).replace("[data]", "conv_dropout = 0.1\n[data]")
    });
    let err = fails(&run_args(&cfg3, &out, &["train-ann"]));
    assert!(
        err.contains("was imported") && err.contains("--force"),
        "{err}"
    );
    let err = fails(&run_args(&cfg3, &out, &["synthesize"]));
    assert!(err.contains("import-ann --from"), "{err}");
    // A failed import leaves the ANN that was there.
    let wrong = fixture("privatesnn_vgg.pth");
    let err = fails(&run_args(
        &cfg,
        &out,
        &["import-ann", "--from", wrong.to_str().unwrap()],
    ));
    assert!(err.contains("privatesnn_vgg.pth"), "{err}");
    let err = ok_stderr(&run_args(&cfg, &out, &["train-ann"]));
    assert!(err.contains("up to date"), "{err}");
}
