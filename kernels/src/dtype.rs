//! Element types a point can ask for, their names on the command line and in result files,
//! and how a value is rounded to each so that references see exactly what a device sees.

use std::fmt;
use std::str::FromStr;

/// An element type of a workload's inputs and compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    /// f32 storage with TensorFloat-32 multiplies (10-bit mantissa), a GPU compute mode.
    Tf32,
    Bf16,
    F16,
    /// 8-bit float, 4 exponent and 3 mantissa bits (OCP E4M3, max 448).
    Fp8E4m3,
}

impl DType {
    pub const ALL: [DType; 5] = [
        DType::F32,
        DType::Tf32,
        DType::Bf16,
        DType::F16,
        DType::Fp8E4m3,
    ];

    /// The name used on the command line, in point ids and in result files.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::Tf32 => "tf32",
            DType::Bf16 => "bf16",
            DType::F16 => "f16",
            DType::Fp8E4m3 => "fp8_e4m3",
        }
    }

    /// Bytes per stored element.
    pub fn size_bytes(self) -> u64 {
        match self {
            DType::F32 | DType::Tf32 => 4,
            DType::Bf16 | DType::F16 => 2,
            DType::Fp8E4m3 => 1,
        }
    }

    /// Rounds an f32 to the nearest value this dtype can hold (round to nearest even).
    pub fn round(self, x: f32) -> f32 {
        match self {
            DType::F32 => x,
            DType::Tf32 => round_mantissa(x, 10),
            DType::Bf16 => half::bf16::from_f32(x).to_f32(),
            DType::F16 => half::f16::from_f32(x).to_f32(),
            DType::Fp8E4m3 => round_e4m3(x),
        }
    }
}

/// Keeps `bits` explicit mantissa bits of an f32, rounding to nearest even.
fn round_mantissa(x: f32, bits: u32) -> f32 {
    if !x.is_finite() {
        return x;
    }
    let drop = 23 - bits;
    let u = x.to_bits();
    let half = 1u32 << (drop - 1);
    let lsb = (u >> drop) & 1;
    let rounded = u.wrapping_add(half - 1 + lsb) & !((1u32 << drop) - 1);
    f32::from_bits(rounded)
}

/// Rounds to OCP FP8 E4M3: 3 mantissa bits, exponent bias 7, saturating at ±448.
fn round_e4m3(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= 448.0 {
        return 448.0f32.copysign(x);
    }
    // Subnormals below 2^-6 have a fixed spacing of 2^-9.
    let min_normal = 2f32.powi(-6);
    let r = if a < min_normal {
        let step = 2f32.powi(-9);
        (a / step).round_ties_even() * step
    } else {
        round_mantissa(a, 3)
    };
    r.copysign(x)
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The dtype name was not one of [`DType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown dtype '{0}': use one of f32, tf32, bf16, f16, fp8_e4m3")]
pub struct UnknownDType(pub String);

impl FromStr for DType {
    type Err = UnknownDType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "fp8" | "e4m3" | "fp8e4m3" => return Ok(DType::Fp8E4m3),
            _ => {}
        }
        DType::ALL
            .into_iter()
            .find(|d| d.name() == lower)
            .ok_or_else(|| UnknownDType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(d.name().parse::<DType>().unwrap(), d);
        }
        assert!("f64".parse::<DType>().is_err());
    }

    #[test]
    fn rounding_matches_known_values() {
        assert_eq!(DType::Bf16.round(1.0 + 1.0 / 512.0), 1.0);
        assert_eq!(DType::Bf16.round(1.0 + 3.0 / 256.0), 1.0 + 1.0 / 64.0);
        assert_eq!(DType::F16.round(1.0 + 1.0 / 4096.0), 1.0);
        assert_eq!(DType::Tf32.round(1.0 + 1.0 / 4096.0), 1.0);
        assert_eq!(DType::Tf32.round(1.0 + 1.0 / 1024.0), 1.0 + 1.0 / 1024.0);
        assert_eq!(DType::Fp8E4m3.round(1.0 + 1.0 / 16.0), 1.0);
        assert_eq!(DType::Fp8E4m3.round(1.0 + 3.0 / 16.0), 1.25);
        assert_eq!(DType::Fp8E4m3.round(1000.0), 448.0);
        assert_eq!(DType::Fp8E4m3.round(-0.3), -0.3125);
        assert_eq!(DType::F32.round(0.1), 0.1);
    }

    proptest::proptest! {
        #[test]
        fn rounding_is_idempotent_and_close(x in -400.0f32..400.0) {
            for d in DType::ALL {
                let r = d.round(x);
                proptest::prop_assert_eq!(d.round(r), r);
                let rel = ((r - x) / x.abs().max(1e-2)).abs();
                proptest::prop_assert!(rel <= 0.07, "{} {} {}", d, x, r);
            }
        }
    }
}
