//! The training set of encryption: synthetic images, their targets and the
//! teacher ANN's logits on them.

use burn::tensor::{Device, Tensor, TensorData};

use crate::EncryptionError;

/// What encryption trains on: images normalised to `[-1, 1]` (as the SNN
/// takes them), the target distribution of each (a soft label, or one-hot),
/// the class each was made for, and the teacher ANN's logits on it.
#[derive(Clone, Debug)]
pub struct EncryptionSet {
    /// `[N, C, H, W]` row-major, normalised to `[-1, 1]`.
    pub images: Vec<f32>,
    /// `[C, H, W]` of one image.
    pub shape: [usize; 3],
    /// `[N, classes]` row-major target distributions (rows sum to 1).
    pub targets: Vec<f32>,
    /// `[N, classes]` row-major teacher logits.
    pub teacher: Vec<f32>,
    /// The class each image was made for.
    pub labels: Vec<usize>,
    /// Classes.
    pub num_classes: usize,
}

impl EncryptionSet {
    /// Samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Checks that the parts agree in size and hold finite values, that the
    /// targets are distributions and the labels in range.
    pub fn validate(&self) -> Result<(), EncryptionError> {
        let n = self.len();
        let k = self.num_classes;
        let per: usize = self.shape.iter().product();
        let bad = |reason: String| Err(EncryptionError::Data(reason));
        if n == 0 || k == 0 || per == 0 {
            return bad(format!(
                "empty set ({n} samples, {k} classes, image {:?})",
                self.shape
            ));
        }
        if self.images.len() != n * per {
            return bad(format!(
                "{} pixels for {n} images of {:?}",
                self.images.len(),
                self.shape
            ));
        }
        if self.targets.len() != n * k || self.teacher.len() != n * k {
            return bad(format!(
                "{} target and {} teacher values for {n} samples of {k} classes",
                self.targets.len(),
                self.teacher.len()
            ));
        }
        if let Some(i) = self.images.iter().position(|p| !p.is_finite()) {
            return bad(format!("pixel {i} is {}", self.images[i]));
        }
        if let Some(i) = self.teacher.iter().position(|p| !p.is_finite()) {
            return bad(format!(
                "teacher logit {i} (sample {}) is {}",
                i / k,
                self.teacher[i]
            ));
        }
        for (i, row) in self.targets.chunks(k).enumerate() {
            let sum: f32 = row.iter().sum();
            if row.iter().any(|v| !v.is_finite() || *v < 0.0) || (sum - 1.0).abs() > 1e-3 {
                return bad(format!(
                    "the target of sample {i} is not a distribution: {row:?}"
                ));
            }
        }
        if let Some(i) = self.labels.iter().position(|&l| l >= k) {
            return bad(format!(
                "label {} of sample {i} is not below {k}",
                self.labels[i]
            ));
        }
        Ok(())
    }

    /// `n` samples spread evenly over the classes (all if `n` is 0 or not
    /// smaller than the set): round robin over the classes, each class's
    /// samples in set order, kept in set order. A synthetic set is stored
    /// class by class, so its first `n` samples would cover few classes.
    pub fn subset(self, n: usize) -> Self {
        if n == 0 || n >= self.len() {
            return self;
        }
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); self.num_classes];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[l.min(self.num_classes - 1)].push(i);
        }
        let mut picked = Vec::with_capacity(n);
        let mut round = 0;
        while picked.len() < n {
            for class in &by_class {
                if let Some(&i) = class.get(round)
                    && picked.len() < n
                {
                    picked.push(i);
                }
            }
            round += 1;
        }
        picked.sort_unstable();
        self.select(&picked)
    }

    /// The samples `idx`, in that order.
    pub fn select(&self, idx: &[usize]) -> Self {
        let per: usize = self.shape.iter().product();
        let k = self.num_classes;
        let rows = |v: &[f32], w: usize| -> Vec<f32> {
            idx.iter()
                .flat_map(|&i| v[i * w..(i + 1) * w].iter().copied())
                .collect()
        };
        Self {
            images: rows(&self.images, per),
            shape: self.shape,
            targets: rows(&self.targets, k),
            teacher: rows(&self.teacher, k),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            num_classes: k,
        }
    }

    /// One-hot targets of the labels (hard-label cross-entropy).
    pub fn one_hot_targets(&self) -> Vec<f32> {
        let k = self.num_classes;
        self.labels
            .iter()
            .flat_map(|&l| (0..k).map(move |c| if c == l { 1.0 } else { 0.0 }))
            .collect()
    }

    /// The samples `idx` as tensors: images `[B, C, H, W]`, targets and teacher `[B, classes]`.
    pub(crate) fn gather(
        &self,
        idx: &[usize],
        targets: &[f32],
        device: &Device,
    ) -> (Tensor<4>, Tensor<2>, Tensor<2>) {
        let per: usize = self.shape.iter().product();
        let k = self.num_classes;
        let b = idx.len();
        let mut x = Vec::with_capacity(b * per);
        let mut y = Vec::with_capacity(b * k);
        let mut t = Vec::with_capacity(b * k);
        for &i in idx {
            x.extend_from_slice(&self.images[i * per..(i + 1) * per]);
            y.extend_from_slice(&targets[i * k..(i + 1) * k]);
            t.extend_from_slice(&self.teacher[i * k..(i + 1) * k]);
        }
        let [c, h, w] = self.shape;
        (
            Tensor::from_data(TensorData::new(x, [b, c, h, w]), device),
            Tensor::from_data(TensorData::new(y, [b, k]), device),
            Tensor::from_data(TensorData::new(t, [b, k]), device),
        )
    }

    /// A content fingerprint (for matching checkpoints to their data).
    pub(crate) fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for v in self.images.iter().chain(&self.targets).chain(&self.teacher) {
            h.update(v.to_le_bytes());
        }
        for v in self.labels.iter().chain(&self.shape) {
            h.update((*v as u64).to_le_bytes());
        }
        let digest = h.finalize();
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{}-{hex}", self.len())
    }
}

/// The teacher's logits on `images` (`[N, C, H, W]` normalised, row-major),
/// `batch_size` at a time, as a host vector `[N, classes]`.
pub fn teacher_logits(
    teacher: &dyn Fn(Tensor<4>) -> Tensor<2>,
    images: &[f32],
    shape: [usize; 3],
    batch_size: usize,
    device: &Device,
) -> Vec<f32> {
    let per: usize = shape.iter().product();
    let [c, h, w] = shape;
    let mut out = Vec::new();
    for chunk in images.chunks(per * batch_size.max(1)) {
        let b = chunk.len() / per;
        let x = Tensor::<4>::from_data(TensorData::new(chunk.to_vec(), [b, c, h, w]), device);
        out.extend(teacher(x).detach().into_data().iter::<f32>());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_cover_the_classes_evenly() {
        // 3 classes stored class by class, 4 samples each.
        let labels: Vec<usize> = (0..12).map(|i| i / 4).collect();
        let set = EncryptionSet {
            images: (0..12).map(|i| i as f32).collect(),
            shape: [1, 1, 1],
            targets: labels
                .iter()
                .flat_map(|&l| (0..3).map(move |c| f32::from(u8::from(c == l))))
                .collect(),
            teacher: vec![0.0; 36],
            labels,
            num_classes: 3,
        };
        let s = set.clone().subset(5);
        assert_eq!(s.labels, vec![0, 0, 1, 1, 2]);
        assert_eq!(s.images, vec![0.0, 1.0, 4.0, 5.0, 8.0]);
        assert_eq!(s.targets[..3], [1.0, 0.0, 0.0]);
        assert!(s.validate().is_ok());
        assert_eq!(set.clone().subset(0).len(), 12);
        assert_eq!(set.subset(99).len(), 12);
    }
}
