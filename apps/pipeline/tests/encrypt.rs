//! `pipeline encrypt` end to end on tiny data (issue 10): the encrypted SNN
//! is an ordinary SNN file every later stage loads, its weights moved while
//! its thresholds stayed, it is skipped when up to date, remade when its
//! settings change, refused when its inputs are stale; `--sweep` writes
//! Fig. 5's JSON and PNG.

mod common;

use common::*;

#[test]
fn encrypt_trains_saves_skips_remakes_and_sweeps() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(root.path(), 600);
    let out = root.path().join("out");
    let cfg = config(root.path(), &data, 3);
    ok(&run_args(&cfg, &out, &["train-ann"]));
    ok(&run_args(&cfg, &out, &["synthesize"]));
    // Without the data-free SNN there is nothing to encrypt.
    let err = fails(&run_args(&cfg, &out, &["encrypt"]));
    assert!(err.contains("snn-synthetic.bpk"), "{err}");
    ok(&run_args(&cfg, &out, &["convert", "--source", "synthetic"]));
    let stdout = ok(&run_args(&cfg, &out, &["encrypt"]));
    assert!(
        stdout.contains("encrypted: 2 epochs on 20 synthetic samples"),
        "{stdout}"
    );
    assert!(out.join("snn-encrypted.bpk").is_file() && out.join("snn-encrypted.json").is_file());
    let r = json(&out.join("encrypt.json"));
    let converted = json(&out.join("convert-synthetic.json"));
    // Kept from the conversion (stored as f32 in the model file).
    let kept = r["thresholds"].as_array().unwrap();
    let balanced = converted["balance"]["thresholds"].as_array().unwrap();
    assert_eq!(kept.len(), balanced.len());
    for (a, b) in kept.iter().zip(balanced) {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        assert!((a - b).abs() <= 1e-6 * b.abs(), "{a} vs {b}");
    }
    let change = r["weight_change"].as_array().unwrap();
    assert_eq!(change.len(), 4); // conv1, conv2, fc1, fc2
    for layer in change {
        assert!(layer[1].as_f64().unwrap() > 0.0, "{layer}");
    }
    assert_eq!(r["training"]["epochs"].as_array().unwrap().len(), 2);
    // Up to date: skipped.
    let again = ok_stderr(&run_args(&cfg, &out, &["encrypt"]));
    assert!(again.contains("snn-encrypted.bpk is up to date"), "{again}");
    // Every later stage loads it: evaluate lists it beside the converted one.
    let stdout = ok(&run_args(&cfg, &out, &["evaluate", "--snn"]));
    assert!(stdout.contains("SNN (encrypted) T = 80"), "{stdout}");
    let md = std::fs::read_to_string(out.join("snn-accuracy.md")).unwrap();
    assert!(
        md.contains("## Encryption") && md.contains("| fc2 |"),
        "{md}"
    );
    // Another [encryption] setting remakes it.
    let cfg2 = config_with(root.path(), &data, 3, |t| {
        t.replace("lr = 1e-3", "lr = 2e-3")
    });
    let remade = ok_stderr(&run_args(&cfg2, &out, &["encrypt"]));
    assert!(remade.contains("remaking snn-encrypted.bpk"), "{remade}");
    // Fig. 5: two sample counts fit the 20 images, each with and without KD.
    let stdout = ok(&run_args(&cfg2, &out, &["encrypt", "--sweep"]));
    assert!(stdout.contains("encrypt sweep"), "{stdout}");
    let sweep = json(&out.join("encrypt-sweep.json"));
    assert_eq!(sweep["points"].as_array().unwrap().len(), 4);
    assert_eq!(sweep["skipped"], serde_json::json!([999]));
    assert!(
        std::fs::read(out.join("encrypt-sweep.png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    // A retrained ANN makes the converted SNN stale: encryption refuses it.
    let cfg3 = config_with(root.path(), &data, 3, |t| {
        t.replace("lr = 0.05\nlr_milestones", "lr = 0.04\nlr_milestones")
    });
    ok(&run_args(&cfg3, &out, &["--force", "train-ann"]));
    let err = fails(&run_args(&cfg3, &out, &["encrypt"]));
    assert!(
        err.contains("snn-synthetic.bpk") || err.contains("synthetic/"),
        "{err}"
    );
    let e = fails(&run_args(&cfg3, &out, &["evaluate", "--snn"]));
    assert!(e.contains("snn-"), "{e}");
}
