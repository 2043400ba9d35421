//! The real Fashion-MNIST files (Debian's `dataset-fashion-mnist`, which
//! `.ci/run` installs) read as the official set: 60,000 + 10,000 images of
//! 28x28, 10 balanced classes.

use privatesnn_data::{Split, fashion_mnist_dir, read_mnist_split};

#[test]
fn reads_the_real_fashion_mnist() {
    let dir = fashion_mnist_dir(None).unwrap_or_else(|e| panic!("{e}"));
    for (split, n) in [(Split::Test, 10_000), (Split::Train, 60_000)] {
        let set = read_mnist_split(&dir, split, 10).unwrap();
        assert_eq!(
            (set.len(), set.height, set.width, set.channels),
            (n, 28, 28, 1)
        );
        let mut counts = [0usize; 10];
        for &l in &set.labels {
            counts[l] += 1;
        }
        assert!(counts.iter().all(|&c| c == n / 10), "{split:?}: {counts:?}");
        let mean = set.pixels.iter().map(|&p| p as f64).sum::<f64>() / set.pixels.len() as f64;
        assert!(mean > 50.0 && mean < 90.0, "mean pixel {mean}"); // ~72.9 for Fashion-MNIST
    }
}
