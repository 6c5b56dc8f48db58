//! The fused attention forward as one launch (kernels/cuda/attention.cu): which kernel serves
//! a dtype and head dim, its grid (one block per 64 query rows of each of the b·h heads), 128
//! threads, the Q/K/V tiles in dynamic shared memory, and the arguments of its signature.

use kernels::attention::Attention;
use kernels::DType;

use super::kernels::{
    attention_kernel, attention_smem_bytes, ATTENTION_BLOCK_M, ATTENTION_THREADS,
};
use super::launch::{KArg, Launch};

/// log2(e)/√d: the kernel works in base 2.
pub fn scale_log2(d: u64) -> f32 {
    (std::f64::consts::LOG2_E / (d as f64).sqrt()) as f32
}

/// The kernel name for a point, or why there is none.
pub fn kernel_for(p: &Attention, dtype: DType) -> Result<&'static str, String> {
    let bf16 = match dtype {
        DType::Bf16 => true,
        DType::F16 => false,
        other => {
            return Err(format!(
                "the cuda attention kernel runs bf16 and f16, not {other}"
            ))
        }
    };
    if p.s > i32::MAX as u64 || p.b * p.h > 65535 {
        return Err("the cuda attention kernel needs s < 2^31 and b·h ≤ 65535".into());
    }
    attention_kernel(bf16, p.d).ok_or_else(|| {
        format!(
            "the cuda attention kernel has head dims 64 and 128, not {}",
            p.d
        )
    })
}

/// Device addresses of the four [b, h, s, d] tensors.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tensors {
    pub q: u64,
    pub k: u64,
    pub v: u64,
    pub o: u64,
}

/// The launch of one attention forward.
pub fn launch(p: &Attention, dtype: DType, t: Tensors) -> Result<Launch, String> {
    Ok(Launch {
        kernel: kernel_for(p, dtype)?,
        grid: (
            p.s.div_ceil(ATTENTION_BLOCK_M) as u32,
            (p.b * p.h) as u32,
            1,
        ),
        block: ATTENTION_THREADS,
        smem: attention_smem_bytes(p.d),
        args: vec![
            KArg::Ptr(t.q),
            KArg::Ptr(t.k),
            KArg::Ptr(t.v),
            KArg::Ptr(t.o),
            KArg::I32(p.s as i32),
            KArg::I32(p.causal as i32),
            KArg::F32(scale_log2(p.d)),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cuda::sources::{program, ATTENTION};

    #[test]
    fn scale_and_kernel_choice() {
        assert!((scale_log2(64) as f64 - std::f64::consts::LOG2_E / 8.0).abs() < 1e-7);
        let p = Attention {
            b: 4,
            h: 32,
            s: 4096,
            d: 128,
            causal: true,
        };
        assert_eq!(kernel_for(&p, DType::Bf16), Ok("flash_fwd_bf16_d128"));
        assert!(kernel_for(&p, DType::F32).is_err());
        let odd = Attention { d: 80, ..p };
        assert!(kernel_for(&odd, DType::F16)
            .unwrap_err()
            .contains("64 and 128"));
    }

    #[test]
    fn the_launch_covers_every_row_and_matches_the_signature() {
        let p = Attention {
            b: 2,
            h: 3,
            s: 130,
            d: 64,
            causal: false,
        };
        let l = launch(&p, DType::F16, Tensors::default()).unwrap();
        assert_eq!(l.grid, (3, 6, 1));
        assert_eq!((l.block, l.smem), (128, 24 * 1024));
        // the FLASH_ENTRY macro's signature, from the source
        let src = program(ATTENTION);
        let entry = &src[src.find("#define FLASH_ENTRY").unwrap()..];
        let after = &entry[entry.find("NAME(").unwrap() + 5..];
        let sig = after[..after.find(')').unwrap()].replace('\\', " ");
        let want: Vec<&str> = sig
            .split(',')
            .map(|p| {
                let p = p.trim();
                if p.contains('*') {
                    "ptr"
                } else if p.starts_with("int ") {
                    "i32"
                } else {
                    assert!(p.starts_with("float "), "{p}");
                    "f32"
                }
            })
            .collect();
        let got: Vec<&str> = l.args.iter().map(KArg::kind).collect();
        assert_eq!(got, want);
    }
}
