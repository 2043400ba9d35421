//! Tests of config parsing, validation and the resolved TOML.

use std::path::PathBuf;

use super::*;

#[test]
fn defaults_fill_missing_fields() {
    let c = ExperimentConfig::parse("[model]\nwidth = 0.25\nin_channels = 1\n", "x").unwrap();
    assert_eq!(c.name, "x");
    assert_eq!(c.model.width, 0.25);
    assert_eq!(c.model.in_channels, 1);
    assert_eq!(c.model.hidden, VggConfig::new().hidden);
    assert_eq!(c.snn, SnnConfig::new());
}

#[test]
fn surrogate_and_reset_parse() {
    let c = ExperimentConfig::parse(
        "[snn]\nreset = \"zero\"\nsurrogate = { kind = \"atan\", alpha = 2.0 }\n",
        "x",
    )
    .unwrap();
    assert_eq!(c.snn.reset, privatesnn_neurons::Reset::Zero);
    assert_eq!(
        c.snn.surrogate,
        privatesnn_neurons::Surrogate::Atan { alpha: 2.0 }
    );
}

#[test]
fn input_generator_parses_and_bad_values_name_the_section() {
    use privatesnn_neurons::InputGenerator;
    assert_eq!(
        ExperimentConfig::parse("", "x")
            .unwrap()
            .snn
            .input_generator,
        InputGenerator::Host
    );
    let c = ExperimentConfig::parse("[snn]\ninput_generator = \"counter\"\n", "x").unwrap();
    assert_eq!(c.snn.input_generator, InputGenerator::Counter);
    let e = ExperimentConfig::parse("[snn]\ninput_generator = \"gpu\"\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("[snn]"), "{e:#}");
}

#[test]
fn errors_name_the_problem() {
    let e = ExperimentConfig::parse("[model]\nwidht = 2.0\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("no field `widht`"), "{e:#}");
    let e = ExperimentConfig::parse("[modle]\n", "x").unwrap_err();
    assert!(
        format!("{e:#}").contains("unknown top-level key `modle`"),
        "{e:#}"
    );
    let e = ExperimentConfig::parse("[model]\nimage_size = 28\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("image_size"), "{e:#}");
    let e = ExperimentConfig::parse("[data]\ndataset = \"imagenet\"\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("imagenet"), "{e:#}");
    let e = ExperimentConfig::parse("[data]\ndir = \"\"\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("`dir` is empty"), "{e:#}");
    let c = ExperimentConfig::parse("[data]\ndir = \"/d\"\ndataset = \"cifar10\"\n", "x").unwrap();
    assert_eq!(c.data.dir, Some(PathBuf::from("/d")));
    assert_eq!(c.data.dataset, Dataset::Cifar10);
    let e = ExperimentConfig::parse("[train]\nlr = -1.0\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("lr must be"), "{e:#}");
    let e = ExperimentConfig::parse("[synthesis]\nsimilarity = \"euclid\"\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("[synthesis]"), "{e:#}");
    let e = ExperimentConfig::parse("[evaluate]\ntimesteps = [50, 25]\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("increasing"), "{e:#}");
    let e = ExperimentConfig::parse("[conversion]\npercentile = 0.0\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("percentile"), "{e:#}");
    let e = ExperimentConfig::parse("[baseline]\nscale = -1.0\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("[baseline]"), "{e:#}");
    let c = ExperimentConfig::parse("[synthesis]\nsimilarity = \"cosine-min-max\"\n", "x").unwrap();
    assert_eq!(
        c.synthesis.similarity,
        privatesnn_synthesis::Similarity::CosineMinMax
    );
    let e = ExperimentConfig::parse("[snn]\ntimesteps = \"many\"\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("[snn]"), "{e:#}");
}

/// Issue 9: NaN or negative rates trained to a NaN model and exited 0.
#[test]
fn issue9_non_finite_and_negative_rates_are_refused() {
    for (field, value, says) in [
        (
            "weight_decay",
            "nan",
            "weight_decay must be a finite number",
        ),
        (
            "weight_decay",
            "inf",
            "weight_decay must be a finite number",
        ),
        ("lr_gamma", "nan", "lr_gamma must be a finite number > 0"),
        ("lr_gamma", "-0.1", "lr_gamma must be a finite number > 0"),
        ("momentum", "nan", "momentum must be in [0, 1)"),
        ("lr", "nan", "lr must be a positive number"),
    ] {
        let e = ExperimentConfig::parse(&format!("[train]\n{field} = {value}\n"), "x").unwrap_err();
        assert!(format!("{e:#}").contains(says), "{field} = {value}: {e:#}");
    }
}

/// Issue 9: a `name` of `../../x` or an absolute path wrote outside `runs/`.
#[test]
fn issue9_names_that_leave_runs_are_refused() {
    for name in ["../../x", "/tmp/x", "a/b", "..", ".hidden", "", "a\\b"] {
        let e = ExperimentConfig::parse(&format!("name = {name:?}\n"), "x").unwrap_err();
        assert!(
            format!("{e:#}").contains("plain folder name"),
            "{name}: {e:#}"
        );
    }
    ExperimentConfig::parse("name = \"run-1_b.2\"\n", "x").unwrap();
}

#[test]
fn resolved_toml_reads_back_to_the_same_config() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    for file in ["quick.toml", "fmnist.toml", "cifar10.toml"] {
        let c = ExperimentConfig::load(&dir.join(file)).unwrap();
        let text = c.to_toml().unwrap();
        let back = ExperimentConfig::parse(&text, "other").unwrap();
        assert_eq!(back, c, "{file}:\n{text}");
    }
}

#[test]
fn shipped_configs_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            ExperimentConfig::load(&path).unwrap();
            n += 1;
        }
    }
    assert!(n >= 2);
}

mod fuzz {
    //! Issue 9: mutated config files parse to a valid config or an
    //! error, never a panic (cases: `PROPTEST_CASES`).
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// A mutation of the config text: cut it, drop a span, duplicate a
    /// line, or splice in one of the characters TOML cares about / a
    /// number out of range.
    fn mutate(base: &str, cut: usize, span: (usize, usize), ins: &str) -> String {
        let b = base.as_bytes();
        let at = cut % (b.len() + 1);
        let (x, y) = (span.0 % (b.len() + 1), span.1 % (b.len() + 1));
        let (x, y) = (x.min(y), x.max(y).min(x + 40));
        let mut out = b[..x].to_vec();
        out.extend_from_slice(&b[y..]);
        let at = at.min(out.len());
        out.splice(at..at, ins.bytes());
        String::from_utf8_lossy(&out).into_owned()
    }

    fn insertion() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("=".to_string()),
            Just("[".to_string()),
            Just("]\n".to_string()),
            Just("\"".to_string()),
            Just("nan".to_string()),
            Just("-1".to_string()),
            Just("1e400".to_string()),
            Just("99999999999999999999".to_string()),
            Just("\n[model]\n".to_string()),
            Just("\narch = \"A\"\n".to_string()),
            Just("\ntimesteps = 0\n".to_string()),
            Just("\nwidth = 1e-9\n".to_string()),
            Just("\nimage_size = 0\n".to_string()),
            "[ -~]{0,12}",
        ]
    }

    proptest! {
        #[test]
        fn mutated_configs_never_panic(
            which in 0usize..3,
            edits in vec((any::<usize>(), (any::<usize>(), any::<usize>()), insertion()), 1..4),
        ) {
            let file = ["quick.toml", "fmnist.toml", "cifar10.toml"][which];
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs").join(file);
            let mut text = std::fs::read_to_string(path).unwrap();
            for (cut, span, ins) in &edits {
                text = mutate(&text, *cut, *span, ins);
            }
            if let Ok(c) = ExperimentConfig::parse(&text, "fuzz") {
                // A config that parses is valid: its resolved TOML reads back to it.
                let back = ExperimentConfig::parse(&c.to_toml().unwrap(), "other").unwrap();
                prop_assert_eq!(back, c);
            }
        }
    }
}

#[test]
fn energy_readouts_must_be_evaluated() {
    // Defaults: real 500, data-free = [snn] 100, encrypted = [encryption] 100.
    let c = ExperimentConfig::parse("", "x").unwrap();
    let readouts = c
        .energy
        .readouts(c.snn.timesteps, c.encryption.train.timesteps);
    assert_eq!(readouts, [500, 100, 100]);
    let c = ExperimentConfig::parse(
        "[energy]\ntimesteps = 50\nencrypted_timesteps = 25\nreal_timesteps = 200\n",
        "x",
    )
    .unwrap();
    assert_eq!(
        c.energy
            .readouts(c.snn.timesteps, c.encryption.train.timesteps),
        [200, 50, 25]
    );
    // [snn] T = 150 is not among the default [evaluate] timesteps.
    let e = ExperimentConfig::parse("[snn]\ntimesteps = 150\n", "x").unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("[energy]") && msg.contains("T = 150") && msg.contains("[evaluate]"),
        "{msg}"
    );
    let e = ExperimentConfig::parse("[energy]\nreal_timesteps = 300\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("`real_timesteps`"), "{e:#}");
    let e = ExperimentConfig::parse("[energy]\ntest_images = 10\n", "x").unwrap_err();
    assert!(format!("{e:#}").contains("no field `test_images`"), "{e:#}");
}
