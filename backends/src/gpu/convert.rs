//! Host-side conversions between the harness's f32 tensors and the bytes a GPU buffer holds in
//! each storage type (f32, bf16, f16, OCP FP8 E4M3), plus the transpose FP8 GEMMs need. Inputs
//! arrive already rounded to the dtype (kernels::DType::round), so encoding is exact.

use super::layout::Elem;

/// Encodes an f32 as OCP FP8 E4M3 (bias 7, no infinities, max 448), rounding to nearest even
/// and saturating.
pub fn e4m3_bits(x: f32) -> u8 {
    if x.is_nan() {
        return 0x7f;
    }
    let sign = if x.is_sign_negative() { 0x80u8 } else { 0 };
    let a = x.abs().min(448.0);
    if a < 2f32.powi(-6) {
        // subnormal: multiples of 2^-9
        let m = (a / 2f32.powi(-9)).round_ties_even() as u8;
        return sign | m.min(8); // 8 == the smallest normal (exp 1, mant 0)
    }
    let e = a.log2().floor() as i32;
    let mut exp = e + 7;
    let mut mant = ((a / 2f32.powi(e) - 1.0) * 8.0).round_ties_even() as i32;
    if mant == 8 {
        mant = 0;
        exp += 1;
    }
    if exp > 15 || (exp == 15 && mant > 6) {
        return sign | 0x7e;
    }
    sign | ((exp as u8) << 3) | mant as u8
}

/// Decodes OCP FP8 E4M3 bits.
pub fn e4m3_value(b: u8) -> f32 {
    let sign = if b & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = ((b >> 3) & 0xf) as i32;
    let mant = (b & 7) as f32;
    if exp == 15 && (b & 7) == 7 {
        return f32::NAN;
    }
    if exp == 0 {
        sign * mant * 2f32.powi(-9)
    } else {
        sign * (1.0 + mant / 8.0) * 2f32.powi(exp - 7)
    }
}

/// f32 values as the bytes of a buffer of storage type `e`.
pub fn encode(values: &[f32], e: Elem) -> Vec<u8> {
    match e {
        Elem::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        Elem::Bf16 => values
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_bits().to_le_bytes())
            .collect(),
        Elem::F16 => values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_bits().to_le_bytes())
            .collect(),
        Elem::E4m3 => values.iter().map(|&v| e4m3_bits(v)).collect(),
    }
}

/// The bytes of a buffer of storage type `e` as f32 values.
pub fn decode(bytes: &[u8], e: Elem) -> Vec<f32> {
    match e {
        Elem::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Elem::Bf16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        Elem::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        Elem::E4m3 => bytes.iter().map(|&b| e4m3_value(b)).collect(),
    }
}

/// Row-major [rows×cols] → row-major [cols×rows].
pub fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = x[r * cols + c];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernels::DType;

    #[test]
    fn e4m3_round_trips_every_finite_code() {
        for b in 0u8..=255 {
            let v = e4m3_value(b);
            if v.is_nan() {
                continue;
            }
            let back = e4m3_bits(v);
            // +0 and −0 are distinct codes with equal values
            assert_eq!(e4m3_value(back), v, "code {b:#x}");
            if v != 0.0 {
                assert_eq!(back, b, "code {b:#x} value {v}");
            }
        }
        assert_eq!(e4m3_bits(448.0), 0x7e);
        assert_eq!(e4m3_bits(1000.0), 0x7e);
        assert_eq!(e4m3_bits(1.0), 0x38);
        assert_eq!(e4m3_bits(-0.3125), 0x80 | 0x2a);
    }

    #[test]
    fn encoding_agrees_with_the_kernels_rounding() {
        let xs: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.0137).sin() * 3.0).collect();
        for (e, d) in [
            (Elem::F32, DType::F32),
            (Elem::Bf16, DType::Bf16),
            (Elem::F16, DType::F16),
            (Elem::E4m3, DType::Fp8E4m3),
        ] {
            let rounded: Vec<f32> = xs.iter().map(|&x| d.round(x)).collect();
            assert_eq!(decode(&encode(&rounded, e), e), rounded, "{e:?}");
            assert_eq!(encode(&rounded, e).len(), xs.len() * e.size());
        }
    }

    #[test]
    fn transpose_swaps_indices() {
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
