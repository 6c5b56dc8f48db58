//! The bytes of an input with `init: tiled` (manifest.rs): the workload input `from` repeated
//! along its second-last axis to `rows` rows, the rest of that axis zero. decode's KV cache
//! [layers, 2, batch, context + window, d_model] starts this way from the kernels crate's
//! pooled `kv` [layers, 2, batch, pool, d_model]: position p holds pool row p mod pool, as the
//! CPU backend's cache does. The whole cache is built on the host once, at prepare.

use kernels::HostTensor;

use super::convert;
use super::manifest::Io;

/// The initial bytes of `io` (validated at load: `from` and `rows` present, rows fit).
pub fn bytes(io: &Io, inputs: &[HostTensor]) -> Result<Vec<u8>, String> {
    let from = io.from.as_deref().unwrap_or_default();
    let rows = io.rows.unwrap_or(0);
    let src = inputs.iter().find(|t| t.name == from).ok_or_else(|| {
        format!(
            "the manifest's input '{}' is tiled from '{from}', which is not an input of this workload: rebuild the NEFFs with this bench's build_neffs.py",
            io.name
        )
    })?;
    let rank = io.shape.len();
    let axis = rank - 2;
    let same_outer = src.shape.len() == rank
        && src.shape[..axis] == io.shape[..axis]
        && src.shape[rank - 1] == io.shape[rank - 1];
    if !same_outer || src.shape[axis] == 0 {
        return Err(format!(
            "input '{}' {:?} cannot be tiled from '{from}' {:?} (all axes but the second-last must agree): rebuild the NEFFs for this point",
            io.name, io.shape, src.shape
        ));
    }
    let dtype = io.dtype();
    let row = io.shape[rank - 1] * dtype.size();
    let (pool, cap) = (src.shape[axis], io.shape[axis]);
    let encoded = convert::encode(src, dtype);
    let mut out = vec![0u8; io.bytes()];
    for (dst, block) in out.chunks_mut(cap * row).zip(encoded.chunks(pool * row)) {
        for r in 0..rows {
            let p = r % pool;
            dst[r * row..(r + 1) * row].copy_from_slice(&block[p * row..(p + 1) * row]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neuron::manifest::Init;

    fn io(shape: Vec<usize>, rows: usize) -> Io {
        Io {
            name: "cache".into(),
            neff_name: "input3".into(),
            dtype: "f32".into(),
            shape,
            init: Init::Tiled,
            feeds: None,
            from: Some("kv".into()),
            rows: Some(rows),
        }
    }

    #[test]
    fn rows_repeat_the_pool_and_the_rest_is_zero() {
        // two blocks of a 2-row pool of 2 values, tiled to 3 rows of 5
        let kv = HostTensor::f32("kv", vec![2, 2, 2], (1..=8).map(|x| x as f32).collect());
        let b = bytes(&io(vec![2, 5, 2], 3), &[kv]).unwrap();
        let v = convert::decode(&b, convert::Dtype::F32);
        assert_eq!(
            v,
            vec![
                1., 2., 3., 4., 1., 2., 0., 0., 0., 0., //
                5., 6., 7., 8., 5., 6., 0., 0., 0., 0.
            ]
        );
    }

    #[test]
    fn mismatched_source_is_named() {
        let kv = HostTensor::f32("kv", vec![2, 2, 3], vec![0.0; 12]);
        let e = bytes(&io(vec![2, 5, 2], 3), &[kv]).unwrap_err();
        assert!(e.contains("'kv'") && e.contains("[2, 2, 3]"), "{e}");
        let e = bytes(&io(vec![2, 5, 2], 3), &[]).unwrap_err();
        assert!(e.contains("not an input"), "{e}");
    }
}
