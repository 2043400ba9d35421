//! Tests of the artifacts' config fingerprints.

use super::*;

fn values(a: Artifact, toml: &str) -> Vec<(String, Value)> {
    a.config_values(&ExperimentConfig::parse(toml, "x").unwrap())
        .unwrap()
}

#[test]
fn fingerprints_follow_what_shapes_each_artifact() {
    let base = values(Artifact::Ann, "");
    // Loader threads, download settings and the cache do not change the data.
    for same in [
        "[data]\nnum_workers = 4\n",
        "[data]\ndownload = true\n",
        "[data]\ncache_dir = \"/c\"\n",
    ] {
        assert_eq!(values(Artifact::Ann, same), base, "{same}");
    }
    // Another folder, limit, seed or training recipe does.
    for other in [
        "[data]\ndir = \"/d\"\n",
        "[data]\ntrain_limit = 5\n",
        "seed = 3\n",
        "[train]\nlr = 0.5\n",
    ] {
        assert_ne!(values(Artifact::Ann, other), base, "{other}");
    }
    // The synthetic SNN depends on one [evaluate] field only.
    let snn = values(Artifact::Snn(SnnSource::Synthetic), "");
    assert_eq!(
        values(
            Artifact::Snn(SnnSource::Synthetic),
            "[evaluate]\ntest_images = 7\n"
        ),
        snn
    );
    assert_ne!(
        values(
            Artifact::Snn(SnnSource::Synthetic),
            "[evaluate]\nbatch_size = 7\n"
        ),
        snn
    );
    assert_eq!(
        values(Artifact::Synthetic, "[train]\nlr = 0.5\n"),
        values(Artifact::Synthetic, "")
    );
}
