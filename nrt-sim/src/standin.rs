//! The stand-in NEFF format nrt-sim loads in place of a compiled NEFF: the line
//! `NRTSIM-NEFF/1`, then one JSON object naming the computation and its tensors:
//!
//! ```text
//! {"workload": "matmul", "params": {"m": 4, "n": 4, "k": 4}, "dtype": "f32",
//!  "inputs":  [{"name": "input0", "role": "a", "dtype": "f32", "shape": [4, 4]}, ..],
//!  "outputs": [{"name": "output0", "role": "out", "dtype": "f32", "shape": [4, 4]}],
//!  "constants": {"lr": 0.01, "momentum": 0.9, "batch_pool": 4}}
//! ```
//!
//! Inputs and outputs are positional per workload (matmul: a, b → out; attention: q, k, v →
//! out; train-mlp: the parameters, their momentum buffers, x, y, step → updated parameters,
//! updated momentum, loss, step + 1; train-gpt: the parameters, first and second AdamW
//! moments, tokens, step → the three updated, loss, step + 1; prefill: the parameters, tokens →
//! logits, KV cache; decode: the parameters, tokens, cache, step → logits, updated cache,
//! step + 1, see `infer.rs`). `scripts/neuron/build_neffs.py --sim` writes these files.

use std::collections::BTreeMap;

use serde::Deserialize;

pub const MAGIC: &[u8] = b"NRTSIM-NEFF/1\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    F32,
    Bf16,
    F16,
    I32,
}

impl Dtype {
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::Bf16 | Dtype::F16 => 2,
        }
    }

    pub fn nrt_code(self) -> u32 {
        use crate::abi::*;
        match self {
            Dtype::F32 => NRT_DTYPE_FLOAT32,
            Dtype::Bf16 => NRT_DTYPE_BFLOAT16,
            Dtype::F16 => NRT_DTYPE_FLOAT16,
            Dtype::I32 => NRT_DTYPE_INT32,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    #[serde(default)]
    pub role: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
}

impl TensorSpec {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn bytes(&self) -> usize {
        self.elements() * self.dtype.size()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct StandIn {
    pub workload: String,
    pub params: BTreeMap<String, u64>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    #[serde(default)]
    pub constants: BTreeMap<String, f64>,
}

/// (inputs, outputs) of a prefill or decode stand-in (see `infer.rs`), its parameters present.
fn infer_arity(
    s: &StandIn,
    param: impl Fn(&str) -> Result<usize, String>,
) -> Result<(usize, usize), String> {
    let n = crate::infer::param_count(param("layers")?);
    let last = if s.workload == "prefill" {
        "prompt"
    } else {
        "context"
    };
    for k in ["d_model", "heads", "vocab", "batch", last] {
        param(k)?;
    }
    if s.workload == "prefill" {
        return Ok((n + 1, 2));
    }
    if !s.constants.contains_key("window") {
        return Err("stand-in NEFF: decode needs constant window".into());
    }
    Ok((n + 3, 3))
}

impl StandIn {
    /// Parses and validates a stand-in NEFF; the error says what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<StandIn, String> {
        let body = bytes.strip_prefix(MAGIC).ok_or(
            "not a stand-in NEFF (no NRTSIM-NEFF/1 header); nrt-sim cannot run compiled NEFFs",
        )?;
        let s: StandIn =
            serde_json::from_slice(body).map_err(|e| format!("stand-in NEFF body: {e}"))?;
        let param = |k: &str| -> Result<usize, String> {
            s.params
                .get(k)
                .map(|&v| v as usize)
                .ok_or(format!("stand-in NEFF: {} needs parameter {k}", s.workload))
        };
        let (n_in, n_out) = match s.workload.as_str() {
            "matmul" => (2, 1),
            "attention" => (3, 1),
            "train-mlp" => {
                let p = 2 * param("layers")? + 2;
                for c in ["lr", "momentum", "batch_pool"] {
                    if !s.constants.contains_key(c) {
                        return Err(format!("stand-in NEFF: train-mlp needs constant {c}"));
                    }
                }
                (2 * p + 3, 2 * p + 2)
            }
            "train-gpt" => {
                let n = 12 * param("layers")? + 4;
                for k in ["d_model", "heads", "seq", "vocab", "batch"] {
                    param(k)?;
                }
                (3 * n + 2, 3 * n + 2)
            }
            "prefill" | "decode" => infer_arity(&s, param)?,
            other => return Err(format!("stand-in NEFF: unknown workload '{other}'")),
        };
        if s.inputs.len() != n_in || s.outputs.len() != n_out {
            return Err(format!(
                "stand-in NEFF: {} takes {n_in} inputs and {n_out} outputs, the file declares {} and {}",
                s.workload,
                s.inputs.len(),
                s.outputs.len()
            ));
        }
        Ok(s)
    }

    pub fn param(&self, k: &str) -> usize {
        self.params.get(k).copied().unwrap_or(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_compiled_neffs_and_bad_bodies() {
        assert!(StandIn::parse(&[0u8; 1024]).unwrap_err().contains("header"));
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(b"{not json");
        assert!(StandIn::parse(&b).unwrap_err().contains("body"));
        let mut b = MAGIC.to_vec();
        b.extend_from_slice(br#"{"workload":"matmul","params":{},"inputs":[],"outputs":[]}"#);
        assert!(StandIn::parse(&b).unwrap_err().contains("takes 2 inputs"));
    }
}
