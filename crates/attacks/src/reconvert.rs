//! Attack scenario 1: re-convert the SNN to its ANN and generate class
//! impressions on it (PrivateSNN Sec. 4, Algorithm 2).

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use privatesnn_models::Snn;
use privatesnn_synthesis::{ClassImpressionConfig, class_impressions};

use crate::{AttackError, ClassImages, check_classes, num_classes, one_hot};

/// Attack 1: one class impression per entry of `classes` (images of
/// `shape` = `[C, H, W]`) on the ANN re-converted from `snn` (LIF → ReLU with
/// the same weights; thresholds are discarded, as the attacker of the paper
/// does with a threshold-balanced SNN).
///
/// Runs on `device`'s autodiff counterpart; the SNN may be on either.
/// Records the target logit of the starting noise and of the final images.
pub fn reconversion_attack(
    snn: &Snn,
    classes: &[usize],
    shape: [usize; 3],
    config: &ClassImpressionConfig,
    device: &Device,
) -> Result<ClassImages, AttackError> {
    let k = num_classes(snn);
    check_classes(classes, k)?;
    let ad = device.clone().without_autodiff().autodiff();
    let ann = snn.to_ann().valid().fork(&ad);
    let model = |x: Tensor<4>| ann.forward(x);
    let start = class_impressions(
        &model,
        classes,
        k,
        shape,
        &config.clone().with_iterations(0),
        &ad,
    )?;
    let set = class_impressions(&model, classes, k, shape, config, &ad)?;
    let objective = |pixels: &[f32]| -> Result<Vec<f32>, AttackError> {
        let [c, h, w] = shape;
        let x = Tensor::<4>::from_data(
            TensorData::new(pixels.to_vec(), [classes.len(), c, h, w]),
            &ad,
        )
        .mul_scalar(2.0)
        .sub_scalar(1.0);
        let picked = (ann.forward(x) * one_hot(classes, k, &ad)).sum_dim(1);
        let values: Vec<f32> = picked.into_data().iter::<f32>().collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(AttackError::NonFinite(format!(
                "the re-converted ANN's target logits are {values:?}"
            )));
        }
        Ok(values)
    };
    Ok(ClassImages {
        objective_start: objective(&start.images)?,
        objective_end: objective(&set.images)?,
        mean_abs_change: crate::mean_abs_change(&set.images, &start.images),
        pixels: set.images,
        classes: classes.to_vec(),
        shape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_model::trained_snn;

    #[test]
    fn attack_1_raises_each_target_logit() {
        let device = Device::flex();
        let snn = trained_snn(&device);
        let config = ClassImpressionConfig::new()
            .with_iterations(30)
            .with_lr(0.5)
            .with_blur_every(4);
        let out = reconversion_attack(&snn, &[0, 1, 2], [1, 8, 8], &config, &device).unwrap();
        assert_eq!(out.classes, vec![0, 1, 2]);
        for (a, b) in out.objective_start.iter().zip(&out.objective_end) {
            assert!(b > a, "target logit {a} -> {b}");
        }
        // The images are 8-bit.
        assert!(
            out.pixels
                .iter()
                .all(|p| ((p * 255.0).round() - p * 255.0).abs() < 1e-3)
        );
        let e = reconversion_attack(&snn, &[3], [1, 8, 8], &config, &device).unwrap_err();
        assert!(e.to_string().contains("class 3 out of range"), "{e}");
    }
}
