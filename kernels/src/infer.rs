//! prefill and decode: inference on the GPT-2-shaped decoder of train-gpt (`gpt.rs`: pre-norm
//! blocks, causal attention, tanh-GELU MLP, tied head), with seeded random weights initialised
//! as train-gpt's are.
//!
//! - **prefill** runs `batch` prompts of `prompt` tokens through the model, writing the KV cache
//!   (every layer's K and V of every position), and outputs logits at [`prefill_positions`]: the
//!   last position (the one generation needs) and a few earlier ones, so that large shapes can
//!   be checked on a short prefix. FLOPs = 2·N_blocks·prompt·batch + 2·layers·d_model·prompt²·batch
//!   (the causal attention terms: Q·Kᵀ and P·V over the lower triangle) + 2·vocab·d_model for
//!   each output row; N_blocks = the parameters every prompt token multiplies by (all but the
//!   embeddings). Item: input tokens (prompt·batch).
//! - **decode** is one generation step for `batch` sequences holding `context` cached positions
//!   per layer: one new token each, attending over the cache, appending its K and V, and
//!   outputting logits [batch, vocab]. FLOPs = 2·N·batch + 4·layers·d_model·context·batch
//!   (N = parameters in matmuls, head included); bytes = the weights plus the KV cache read.
//!   Item: output tokens (batch).
//!
//! The decode loop really decodes: step `i` (counting from prepare) writes position
//! `context + i mod DECODE_WINDOW` with token `tokens[i mod DECODE_WINDOW]` and attends over
//! every position before it; every [`DECODE_WINDOW`] steps the cache length is reset to
//! `context`. The cache's first `context` positions come from the input `kv`, a seeded pool of
//! [`KV_POOL`] rows per (layer, K|V, sequence) at the scale the model's own K and V have:
//! position `p` holds pool row `p mod KV_POOL`, so a cache of 68 GB needs no 68 GB host tensor
//! (every position is distinct while `context ≤ KV_POOL`, as in the quick suite). The check
//! replays [`DECODE_CHECK_STEPS`] steps, so the second attends over the first one's append.

use crate::check::Reference;
use crate::dtype::DType;
use crate::gpt::TrainGpt;
use crate::rng::Rng;
use crate::storage::Elem;
use crate::tensor::{HostTensor, TensorSpec};

/// Decode steps between cache resets (positions `context .. context + DECODE_WINDOW`).
pub const DECODE_WINDOW: u64 = 16;
/// Distinct cached rows per (layer, K|V, sequence) in decode's `kv` input.
pub const KV_POOL: u64 = 251;
/// Decode steps the correctness gate runs before reading the logits.
pub const DECODE_CHECK_STEPS: usize = 2;
/// f64 FLOPs the host reference may spend on one point before it narrows what it checks.
pub const REFERENCE_FLOPS: f64 = 3e10;
/// Sequences the reference checks at most (an even spread over the batch).
pub const CHECKED_SEQS: u64 = 2;

/// The decoder's shape, shared by prefill and decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    pub d_model: u64,
    pub layers: u64,
    pub heads: u64,
    pub vocab: u64,
}

impl Decoder {
    /// train-gpt's model with `positions` rows of position embedding: its parameter list,
    /// counts and initialisation.
    pub fn gpt(&self, positions: u64, batch: u64) -> TrainGpt {
        TrainGpt {
            d_model: self.d_model,
            layers: self.layers,
            heads: self.heads,
            seq: positions,
            vocab: self.vocab,
            batch,
        }
    }

    /// Parameters outside the embeddings (the blocks and the final LayerNorm).
    pub fn block_parameters(&self) -> u64 {
        let g = self.gpt(1, 1);
        g.parameters() - (1 + self.vocab) * self.d_model
    }

    /// Parameters in matmuls per generated token: the blocks and the tied head.
    pub fn matmul_parameters(&self) -> u64 {
        self.block_parameters() + self.vocab * self.d_model
    }

    /// K and V elements of one cached position of one sequence, over all layers.
    pub fn kv_per_position(&self) -> u64 {
        2 * self.layers * self.d_model
    }
}

/// Spread of sequences the reference checks: the first and the last.
fn checked_seqs(batch: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..CHECKED_SEQS.min(batch))
        .map(|i| (i * (batch - 1) / (CHECKED_SEQS - 1).max(1)) as usize)
        .collect();
    v.dedup();
    v
}

/// Parameters of one prefill point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefill {
    pub model: Decoder,
    pub batch: u64,
    pub prompt: u64,
}

/// The prompt positions whose logits prefill outputs: 0, 7, 31, the middle and the last,
/// those that exist, ascending.
pub fn prefill_positions(prompt: u64) -> Vec<u64> {
    let mut v: Vec<u64> = [0, 7, 31, prompt / 2, prompt - 1]
        .into_iter()
        .filter(|&p| p < prompt)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl Prefill {
    pub const KEYS: &'static [&'static str] =
        &["d_model", "layers", "heads", "vocab", "batch", "prompt"];

    pub fn gpt(&self) -> TrainGpt {
        self.model.gpt(self.prompt, self.batch)
    }

    pub fn tokens(&self) -> f64 {
        (self.batch * self.prompt) as f64
    }

    pub fn flops(&self) -> f64 {
        let m = &self.model;
        let (b, t, d) = (self.batch as f64, self.prompt as f64, m.d_model as f64);
        let out_rows = b * prefill_positions(self.prompt).len() as f64;
        2.0 * m.block_parameters() as f64 * t * b
            + 2.0 * m.layers as f64 * d * t * t * b
            + 2.0 * (m.vocab * m.d_model) as f64 * out_rows
    }

    /// Weights read once, the KV cache written, the output logits written.
    pub fn bytes(&self, dtype: DType) -> f64 {
        let e = dtype.size_bytes() as f64;
        let m = &self.model;
        let out = (self.batch * prefill_positions(self.prompt).len() as u64 * m.vocab) as f64;
        e * (self.gpt().parameters() as f64 + self.tokens() * m.kv_per_position() as f64)
            + 4.0 * out
    }

    /// The parameters and `tokens` [batch, prompt] (i32).
    pub fn input_specs(&self, dtype: DType) -> Vec<TensorSpec> {
        let mut v = param_specs(&self.gpt(), dtype);
        v.push(TensorSpec::new(
            "tokens",
            vec![self.batch as usize, self.prompt as usize],
            Elem::I32,
        ));
        v
    }

    /// `logits` [batch, positions, vocab] (f32) at [`prefill_positions`].
    pub fn output_specs(&self, _dtype: DType) -> Vec<TensorSpec> {
        vec![TensorSpec::new(
            "logits",
            vec![
                self.batch as usize,
                prefill_positions(self.prompt).len(),
                self.model.vocab as usize,
            ],
            Elem::F32,
        )]
    }

    pub fn inputs(&self, dtype: DType, seed: u64) -> Vec<HostTensor> {
        let mut out = self.gpt().init_params(dtype, seed, "prefill");
        let n = (self.batch * self.prompt) as usize;
        out.push(HostTensor::i32(
            "tokens",
            vec![self.batch as usize, self.prompt as usize],
            random_tokens(seed, "prefill/tokens", n, self.model.vocab),
        ));
        out
    }

    /// f64 cost of the reference forward over the first `t` positions of one sequence.
    fn reference_flops(&self, t: u64) -> f64 {
        let m = &self.model;
        let t = t as f64;
        2.0 * m.block_parameters() as f64 * t + 2.0 * (m.layers * m.d_model) as f64 * t * t
    }

    /// What the reference covers: a spread of sequences, and the output positions whose
    /// prefix fits [`REFERENCE_FLOPS`] (at least position 0).
    pub fn checked(&self) -> (Vec<usize>, Vec<u64>) {
        let seqs = checked_seqs(self.batch);
        let positions: Vec<u64> = prefill_positions(self.prompt)
            .into_iter()
            .enumerate()
            .filter(|&(i, p)| {
                i == 0 || seqs.len() as f64 * self.reference_flops(p + 1) <= REFERENCE_FLOPS
            })
            .map(|(_, p)| p)
            .collect();
        (seqs, positions)
    }

    pub fn reference(&self, inputs: &[HostTensor]) -> Reference {
        crate::infer_ref::prefill_reference(self, inputs)
    }

    pub fn tolerance(dtype: DType) -> f64 {
        logits_tolerance(dtype)
    }
}

/// Parameters of one decode point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decode {
    pub model: Decoder,
    pub batch: u64,
    pub context: u64,
}

impl Decode {
    pub const KEYS: &'static [&'static str] =
        &["d_model", "layers", "heads", "vocab", "batch", "context"];

    /// The model with position embeddings for every position a step can write.
    pub fn gpt(&self) -> TrainGpt {
        self.model.gpt(self.context + DECODE_WINDOW, self.batch)
    }

    /// Distinct rows in the `kv` input per (layer, K|V, sequence).
    pub fn pool(&self) -> u64 {
        self.context.min(KV_POOL)
    }

    pub fn flops(&self) -> f64 {
        let m = &self.model;
        let b = self.batch as f64;
        2.0 * m.matmul_parameters() as f64 * b
            + 4.0 * (m.layers * m.d_model * self.context) as f64 * b
    }

    /// The weights and the KV cache, each read once per step.
    pub fn bytes(&self, dtype: DType) -> f64 {
        let e = dtype.size_bytes() as f64;
        let m = &self.model;
        e * (m.matmul_parameters() as f64
            + (self.batch * self.context * m.kv_per_position()) as f64)
    }

    /// Bytes of the KV cache a backend holds (all `context + DECODE_WINDOW` positions).
    pub fn cache_bytes(&self, dtype: DType) -> f64 {
        let positions = self.context + DECODE_WINDOW;
        (self.batch * positions * self.model.kv_per_position() * dtype.size_bytes()) as f64
    }

    fn kv_shape(&self) -> Vec<usize> {
        vec![
            self.model.layers as usize,
            2,
            self.batch as usize,
            self.pool() as usize,
            self.model.d_model as usize,
        ]
    }

    /// The parameters, `kv` [layers, 2, batch, pool, d_model] (K then V; within d_model, head
    /// `h` holds channels h·d_head..(h+1)·d_head, as in the qkv projection) and `tokens`
    /// [DECODE_WINDOW, batch] (i32), step `i`'s new tokens in row `i mod DECODE_WINDOW`.
    pub fn input_specs(&self, dtype: DType) -> Vec<TensorSpec> {
        let mut v = param_specs(&self.gpt(), dtype);
        v.push(TensorSpec::new("kv", self.kv_shape(), dtype.storage()));
        v.push(TensorSpec::new(
            "tokens",
            vec![DECODE_WINDOW as usize, self.batch as usize],
            Elem::I32,
        ));
        v
    }

    /// `logits` [batch, vocab] (f32) of the latest step.
    pub fn output_specs(&self, _dtype: DType) -> Vec<TensorSpec> {
        vec![TensorSpec::new(
            "logits",
            vec![self.batch as usize, self.model.vocab as usize],
            Elem::F32,
        )]
    }

    pub fn inputs(&self, dtype: DType, seed: u64) -> Vec<HostTensor> {
        let mut out = self.gpt().init_params(dtype, seed, "decode");
        let shape = self.kv_shape();
        let n: usize = shape.iter().product();
        // K and V of a LayerNorm-ed row times weights of std 0.02: std 0.02·√d_model.
        let scale = 0.02 * (3.0 * self.model.d_model as f32).sqrt();
        let kv = Rng::for_stream(seed, "decode/kv")
            .fill(n, scale)
            .into_iter()
            .map(|x| dtype.round(x))
            .collect();
        out.push(HostTensor::f32("kv", shape, kv));
        let n = (DECODE_WINDOW * self.batch) as usize;
        out.push(HostTensor::i32(
            "tokens",
            vec![DECODE_WINDOW as usize, self.batch as usize],
            random_tokens(seed, "decode/tokens", n, self.model.vocab),
        ));
        out
    }

    /// Sequences the reference covers (every logit of each).
    pub fn checked(&self) -> Vec<usize> {
        checked_seqs(self.batch)
    }

    pub fn reference(&self, inputs: &[HostTensor]) -> Reference {
        crate::infer_ref::decode_reference(self, inputs)
    }

    pub fn tolerance(dtype: DType) -> f64 {
        logits_tolerance(dtype)
    }
}

fn param_specs(g: &TrainGpt, dtype: DType) -> Vec<TensorSpec> {
    g.param_specs()
        .into_iter()
        .map(|(n, s)| TensorSpec::new(&n, s, dtype.storage()))
        .collect()
}

fn random_tokens(seed: u64, stream: &str, n: usize, vocab: u64) -> Vec<i32> {
    let mut rng = Rng::for_stream(seed, stream);
    (0..n).map(|_| rng.below(vocab) as i32).collect()
}

/// Logit tolerances (the check's error is relative to the logits' rms).
fn logits_tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F32 => 1e-3,
        DType::Tf32 => 1e-2,
        DType::F16 => 3e-2,
        DType::Bf16 | DType::Fp8E4m3 => 8e-2,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A decoder small enough for exhaustive checks.
    pub(crate) const TINY: Decoder = Decoder {
        d_model: 8,
        layers: 2,
        heads: 2,
        vocab: 11,
    };

    #[test]
    fn flop_and_byte_formulas() {
        let (d, l, v) = (8u64, 2u64, 11u64);
        let per_layer =
            2 * d + d * 3 * d + 3 * d + d * d + d + 2 * d + d * 4 * d + 4 * d + 4 * d * d + d;
        assert_eq!(TINY.block_parameters(), l * per_layer + 2 * d);
        assert_eq!(TINY.matmul_parameters(), l * per_layer + 2 * d + v * d);
        let dec = Decode {
            model: TINY,
            batch: 3,
            context: 20,
        };
        let n = TINY.matmul_parameters() as f64;
        assert_eq!(dec.flops(), 2.0 * n * 3.0 + 4.0 * (l * d * 20 * 3) as f64);
        assert_eq!(
            dec.bytes(DType::Bf16),
            2.0 * (n + (2 * l * 3 * 20 * d) as f64)
        );
        let pre = Prefill {
            model: TINY,
            batch: 3,
            prompt: 40,
        };
        assert_eq!(prefill_positions(40), vec![0, 7, 20, 31, 39]);
        let nb = TINY.block_parameters() as f64;
        assert_eq!(
            pre.flops(),
            2.0 * nb * 120.0 + 2.0 * (l * d) as f64 * 1600.0 * 3.0 + 2.0 * (v * d) as f64 * 15.0
        );
    }

    #[test]
    fn positions_and_checks_stay_in_range() {
        assert_eq!(prefill_positions(1), vec![0]);
        assert_eq!(prefill_positions(8), vec![0, 4, 7]);
        assert_eq!(checked_seqs(1), vec![0]);
        assert_eq!(checked_seqs(64), vec![0, 63]);
        // a ~1B shape checks only short prefixes, but always position 0
        let big = Prefill {
            model: Decoder {
                d_model: 2048,
                layers: 16,
                heads: 16,
                vocab: 32768,
            },
            batch: 8,
            prompt: 2048,
        };
        let (seqs, pos) = big.checked();
        assert_eq!(seqs, vec![0, 7]);
        assert_eq!(pos, vec![0, 7]);
        let small = Prefill {
            model: TINY,
            batch: 4,
            prompt: 64,
        };
        assert_eq!(small.checked().1, prefill_positions(64));
    }

    #[test]
    fn decode_inputs_match_specs_and_pool_is_bounded() {
        let dec = Decode {
            model: TINY,
            batch: 2,
            context: 1000,
        };
        assert_eq!(dec.pool(), KV_POOL);
        let inputs = dec.inputs(DType::F32, 1);
        let made: Vec<TensorSpec> = inputs.iter().map(|t| t.spec(DType::F32)).collect();
        assert_eq!(made, dec.input_specs(DType::F32));
        let wpe = crate::tensor::find(&inputs, "wpe");
        assert_eq!(wpe.shape, vec![1000 + DECODE_WINDOW as usize, 8]);
        let tok = crate::tensor::find(&inputs, "tokens").as_i32();
        assert!(tok.iter().all(|&t| (0..11).contains(&t)));
    }
}
