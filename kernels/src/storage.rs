//! Storage element types: how a tensor's values sit in memory on a device or in a file (f32,
//! bf16, f16, OCP FP8 E4M3, i32), their names in plan files and NEFF manifests, and which one
//! a point's [`DType`] stores its floating-point values in.

use std::fmt;

use crate::dtype::DType;

/// The element type of a stored tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Elem {
    F32,
    Bf16,
    F16,
    /// OCP FP8 E4M3 (bias 7, no infinities, max 448).
    Fp8E4m3,
    I32,
}

impl Elem {
    pub const ALL: [Elem; 5] = [Elem::F32, Elem::Bf16, Elem::F16, Elem::Fp8E4m3, Elem::I32];

    /// The name in plan files and NEFF manifests.
    pub fn name(self) -> &'static str {
        match self {
            Elem::F32 => "f32",
            Elem::Bf16 => "bf16",
            Elem::F16 => "f16",
            Elem::Fp8E4m3 => "fp8_e4m3",
            Elem::I32 => "i32",
        }
    }

    /// The element type of a name written by [`Elem::name`].
    pub fn parse(s: &str) -> Option<Elem> {
        Elem::ALL.into_iter().find(|e| e.name() == s)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Elem::F32 | Elem::I32 => 4,
            Elem::Bf16 | Elem::F16 => 2,
            Elem::Fp8E4m3 => 1,
        }
    }
}

impl fmt::Display for Elem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl DType {
    /// The element type this dtype's floating-point values are stored in (tf32 is an f32
    /// storage with a GPU compute mode).
    pub fn storage(self) -> Elem {
        match self {
            DType::F32 | DType::Tf32 => Elem::F32,
            DType::Bf16 => Elem::Bf16,
            DType::F16 => Elem::F16,
            DType::Fp8E4m3 => Elem::Fp8E4m3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sizes_match_the_dtypes() {
        for e in Elem::ALL {
            assert_eq!(Elem::parse(e.name()), Some(e));
        }
        assert_eq!(Elem::parse("f64"), None);
        for d in DType::ALL {
            assert_eq!(d.storage().size() as u64, d.size_bytes(), "{d}");
        }
    }
}
