//! Host ↔ device bytes: the kernels crate's f32/i32 host tensors encoded in the dtype a NEFF
//! tensor has (f32, bf16, f16, i32; little-endian, round to nearest even), and device bytes
//! decoded back to f32 for the check. Also the names of the runtime's `nrt_dtype_t` codes,
//! whose values changed in runtime 2.30 (sequential before, hardware codes since).

use kernels::{HostTensor, TensorData};

/// Element types a NEFF tensor may have in a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    Bf16,
    F16,
    I32,
}

impl Dtype {
    pub fn parse(s: &str) -> Option<Dtype> {
        Some(match s {
            "f32" => Dtype::F32,
            "bf16" => Dtype::Bf16,
            "f16" => Dtype::F16,
            "i32" => Dtype::I32,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::Bf16 | Dtype::F16 => 2,
        }
    }
}

/// A host tensor's values in `dtype`'s bytes.
pub fn encode(t: &HostTensor, dtype: Dtype) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len() * dtype.size());
    match (&t.data, dtype) {
        (TensorData::I32(v), _) => match dtype {
            Dtype::I32 => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            _ => return encode_f32(&v.iter().map(|&x| x as f32).collect::<Vec<_>>(), dtype),
        },
        (TensorData::F32(v), _) => return encode_f32(v, dtype),
    }
    out
}

pub fn encode_f32(v: &[f32], dtype: Dtype) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * dtype.size());
    for &x in v {
        match dtype {
            Dtype::F32 => out.extend_from_slice(&x.to_le_bytes()),
            Dtype::Bf16 => out.extend_from_slice(&half::bf16::from_f32(x).to_le_bytes()),
            Dtype::F16 => out.extend_from_slice(&half::f16::from_f32(x).to_le_bytes()),
            Dtype::I32 => out.extend_from_slice(&(x as i32).to_le_bytes()),
        }
    }
    out
}

/// Device bytes in `dtype` as f32 values.
pub fn decode(bytes: &[u8], dtype: Dtype) -> Vec<f32> {
    match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::Bf16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::I32 => bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32)
            .collect(),
    }
}

/// The name of an `nrt_dtype_t` code under the convention of the runtime that reported it.
pub fn nrt_dtype_name(code: u32, hex_codes: bool) -> &'static str {
    const OLD: &[&str] = &[
        "unknown", "float32", "float16", "bfloat16", "int8", "uint8", "int16", "uint16", "int32",
        "uint32", "int64", "uint64",
    ];
    const NEW: &[&str] = &[
        "unknown", "uint64", "int8", "uint8", "int16", "uint16", "bfloat16", "float16", "int32",
        "uint32", "float32", "fp32r", "int64", "fp8_e3", "fp8_e4", "fp8_e5",
    ];
    let t = if hex_codes { NEW } else { OLD };
    t.get(code as usize).copied().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_codes_changed_at_runtime_2_30() {
        assert_eq!(nrt_dtype_name(0xA, true), "float32");
        assert_eq!(nrt_dtype_name(6, true), "bfloat16");
        assert_eq!(nrt_dtype_name(7, true), "float16");
        assert_eq!(nrt_dtype_name(1, false), "float32");
        assert_eq!(nrt_dtype_name(3, false), "bfloat16");
        assert_eq!(nrt_dtype_name(2, false), "float16");
        // only int32/uint32 agree across the change
        assert_eq!(nrt_dtype_name(8, true), nrt_dtype_name(8, false));
        assert_eq!(nrt_dtype_name(99, true), "unknown");
    }

    #[test]
    fn encode_decode_round_trip_in_every_dtype() {
        let t = HostTensor::f32("a", vec![3], vec![1.0, -0.5, 3.25]);
        for d in [Dtype::F32, Dtype::Bf16, Dtype::F16] {
            let b = encode(&t, d);
            assert_eq!(b.len(), 3 * d.size());
            assert_eq!(decode(&b, d), vec![1.0, -0.5, 3.25]);
        }
        let y = HostTensor::i32("y", vec![2], vec![7, -2]);
        assert_eq!(decode(&encode(&y, Dtype::I32), Dtype::I32), vec![7.0, -2.0]);
        assert_eq!(Dtype::parse("bf16"), Some(Dtype::Bf16));
        assert_eq!(Dtype::parse("f64"), None);
    }
}
