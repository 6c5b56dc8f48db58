//! train-gpt's CUDA step without a GPU, in two test executors of the device-independent plan
//! (`backends::gpu::gpt_plan` / `gpt_launch`): `host` runs the plan op by op in f64 and
//! requires the reference loss trajectory; `emulated` resolves it exactly as the CUDA binding
//! does and runs the real gpt.cu / mlp.cu kernels under the host emulation.

use kernels::gpt::TrainGpt;

mod emulated;
mod host;

/// A model of these sizes (d_model, layers, heads, seq, vocab, batch).
fn gpt(d: u64, layers: u64, heads: u64, seq: u64, vocab: u64, batch: u64) -> TrainGpt {
    TrainGpt {
        d_model: d,
        layers,
        heads,
        seq,
        vocab,
        batch,
    }
}
