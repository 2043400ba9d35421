//! `pipeline energy` end to end on tiny data: Table 4 for the ANN and every
//! SNN read out of evaluate's simulation, the per-layer spike rates, Fig. 7,
//! the refusal without an up-to-date evaluation, and the skip when up to date.

mod common;

use common::*;

#[test]
fn energy_reports_table_4_for_every_model() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 600);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 3);
    for args in [
        &["train-ann"][..],
        &["synthesize"],
        &["convert"],
        &["encrypt"],
    ] {
        ok(&run_args(&cfg, &out, args));
    }
    let refused = fails(&run_args(&cfg, &out, &["energy"]));
    assert!(
        refused.contains("snn-accuracy.json") && refused.contains("evaluate --snn"),
        "{refused}"
    );
    let evaluated = ok(&run_args(&cfg, &out, &["evaluate", "--snn"]));
    let stdout = ok(&run_args(&cfg, &out, &["energy"]));
    assert!(
        stdout.contains("Table 4") && stdout.contains("59.3x"),
        "{stdout}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("energy.json")).unwrap()).unwrap();
    assert_eq!(r["test_images"], 200, "evaluate's test images");
    // conv1, conv2 (arch "8,A,16,A"), fc1, fc2; 1x32x32 input.
    let layers = r["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4);
    assert_eq!(layers[0]["macs"], 32 * 32 * 8 * 9);
    assert_eq!(layers[1]["macs"], 16 * 16 * 16 * 8 * 9);
    let methods = r["methods"].as_array().unwrap();
    let names: Vec<&str> = methods
        .iter()
        .map(|m| m["method"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(names[0], "ANN");
    assert_eq!(
        methods[1]["timesteps"], 40,
        "the real-data SNN at [energy] real_timesteps"
    );
    assert_eq!(
        methods[2]["timesteps"], 20,
        "the data-free SNN at [energy] timesteps"
    );
    assert_eq!(
        methods[3]["timesteps"], 6,
        "the encrypted SNN at [encryption] timesteps"
    );
    // The same accuracies as evaluate's curves at those T.
    for (m, label) in methods[1..].iter().zip(["real", "synthetic", "encrypted"]) {
        let line = format!(
            "SNN ({label}) T = {}: {:.2}%",
            m["timesteps"],
            m["accuracy"].as_f64().unwrap()
        );
        assert!(evaluated.contains(&line), "{line} not in\n{evaluated}");
    }
    for m in &methods[1..] {
        let rates = m["spikes_per_neuron"].as_array().unwrap();
        assert_eq!(rates.len(), 4);
        // The input rate is the mean |pixel| of the normalised test images times T: > 0.
        assert!(rates[0].as_f64().unwrap() > 0.0, "{m}");
        let ratio = m["ann_over_method"].as_f64().unwrap();
        assert!(ratio.is_finite() && ratio > 0.0, "{m}");
        // E_SNN is the per-layer sum.
        let e = &m["energy"];
        let sum: f64 = e["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["snn_pj"].as_f64().unwrap())
            .sum();
        assert!((sum - e["snn_pj"].as_f64().unwrap()).abs() < 1e-6 * sum.max(1.0));
    }
    assert!(
        std::fs::read(out.join("energy-spikes.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    let again = ok_stderr(&run_args(&cfg, &out, &["energy"]));
    assert!(again.contains("energy.json is up to date"), "{again}");
}
