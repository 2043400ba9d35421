//! STBP with its memory bounded by one time chunk: the forward pass keeps
//! only each chunk's starting membranes and Poisson stream, and the backward
//! pass re-runs the chunks last to first, each with autodiff, passing the
//! membranes' gradients back from chunk to chunk. The gradients are those of
//! the full backpropagation through time (tested); the graph alive at any
//! moment is one chunk's, so the memory grows with `time_chunk`, not `T`.

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Tensor;
use privatesnn_neurons::{LifState, PoissonEncoder};

use super::Snn;
use super::simulate::{Masks, States};

/// What [`Snn::backward_chunked`] returns.
pub struct ChunkedBackward {
    /// The loss (detached), shape `[1]`.
    pub loss: Tensor<1>,
    /// The accumulated output membrane u_T (detached), `[N, classes]`.
    pub membrane: Tensor<2>,
    /// The parameter gradients, as a full backward of the loss would give them.
    pub grads: GradientsParams,
}

impl States {
    /// The same membranes as fresh leaves on the autodiff device, collecting gradients.
    fn leaves(&self) -> Self {
        fn leaf<const D: usize>(s: &LifState<D>) -> LifState<D> {
            LifState {
                membrane: Tensor::from_inner(s.membrane.clone()).require_grad(),
            }
        }
        Self {
            conv: self.conv.iter().map(|s| s.as_ref().map(leaf)).collect(),
            fc: self.fc.as_ref().map(leaf),
        }
    }
}

/// Gradients with respect to a chunk's starting membranes.
struct StateGrads {
    conv: Vec<Option<Tensor<5>>>,
    fc: Option<Tensor<3>>,
}

impl Snn {
    /// The STBP gradients of `loss(u_T)` for one batch, computed chunk by chunk
    /// (see the module docs): equal to `loss(forward_timesteps(..).membrane).backward()`
    /// for the same encoder, at the memory of one `time_chunk`, for about one
    /// more forward pass of compute. The output layer is linear in the summed
    /// `fc1` spikes, so every chunk receives the same gradient from it.
    ///
    /// The SNN must be on an autodiff device (in training mode for dropout).
    pub fn backward_chunked(
        &self,
        input: Tensor<4>,
        timesteps: usize,
        encoder: &mut PoissonEncoder,
        loss: &dyn Fn(Tensor<2>) -> Tensor<1>,
    ) -> ChunkedBackward {
        assert!(timesteps > 0, "timesteps must be > 0");
        let masks = self.masks(&input, encoder);
        // The forward pass without autodiff (Burn keeps every recorded
        // operation until a backward, so a tracked pass would hold them all):
        // the same weights, input and masks on the plain device.
        let plain = self.valid();
        let x_plain = input.clone().inner();
        let masks_plain = Masks {
            conv: masks
                .conv
                .iter()
                .map(|m| m.clone().map(Tensor::inner))
                .collect(),
            fc: masks.fc.clone().map(Tensor::inner),
        };
        let mut states = States::new(self.ann.convs.len());
        let mut saved = Vec::new();
        let mut acc: Option<Tensor<2>> = None;
        let mut start = 0;
        while start < timesteps {
            let tc = self.time_chunk.min(timesteps - start);
            start += tc;
            saved.push((encoder.clone(), states.clone(), tc));
            let spikes: Tensor<5> = encoder.encode(x_plain.clone(), tc);
            let (sum, _) = plain
                .chunk(spikes, &mut states, &masks_plain, &mut None)
                .expect("no probe");
            acc = Some(match acc {
                Some(a) => a + sum,
                None => sum,
            });
        }
        let acc = Tensor::from_inner(acc.expect("timesteps > 0")).require_grad();
        let membrane = self.output_membrane(acc.clone(), timesteps);
        let value = loss(membrane.clone());
        let grads = value.backward();
        let g_acc: Tensor<2> = Tensor::from_inner(acc.grad(&grads).expect("u_T depends on fc1"));
        let mut total = GradientsAccumulator::new();
        total.accumulate(self, GradientsParams::from_grads(grads, self));
        let mut next: Option<StateGrads> = None;
        for (mut enc, start_states, tc) in saved.into_iter().rev() {
            let leaves = start_states.leaves();
            let mut states = leaves.clone();
            let spikes: Tensor<5> = enc.encode(input.clone(), tc);
            let (sum, _) = self
                .chunk(spikes, &mut states, &masks, &mut None)
                .expect("no probe");
            let mut objective = (sum * g_acc.clone()).sum();
            if let Some(g) = next.take() {
                for (s, g) in states.conv.iter().zip(g.conv) {
                    if let (Some(s), Some(g)) = (s, g) {
                        objective = objective + (s.membrane.clone() * g).sum();
                    }
                }
                if let (Some(s), Some(g)) = (&states.fc, g.fc) {
                    objective = objective + (s.membrane.clone() * g).sum();
                }
            }
            let grads = objective.backward();
            next = Some(StateGrads {
                conv: leaves
                    .conv
                    .iter()
                    .map(|s| {
                        s.as_ref()
                            .and_then(|s| s.membrane.grad(&grads))
                            .map(Tensor::from_inner)
                    })
                    .collect(),
                fc: leaves
                    .fc
                    .as_ref()
                    .and_then(|s| s.membrane.grad(&grads))
                    .map(Tensor::from_inner),
            });
            total.accumulate(self, GradientsParams::from_grads(grads, self));
        }
        ChunkedBackward {
            loss: value.detach(),
            membrane: membrane.detach(),
            grads: total.grads(),
        }
    }
}
