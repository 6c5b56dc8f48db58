//! `--dump DIR`: each point's inputs, output and f64 reference as .npy files, with an
//! `index.json` mapping point ids to files, so anyone can re-check a result in numpy or torch
//! (`np.load`). A sampled reference comes with the flat indices it covers.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use kernels::{Expected, HostTensor, Produced, TensorData};
use serde::Serialize;

/// Writes one array as NPY version 1.0 (little-endian, C order).
pub fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) -> Result<()> {
    let shape_str = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_str}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    let mut f =
        fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(&out)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64_bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[derive(Serialize, Default)]
struct Entry {
    files: BTreeMap<String, String>,
    note: String,
}

/// Collects dumps for a run and keeps `index.json` current.
pub struct Dumper {
    dir: PathBuf,
    index: BTreeMap<String, Entry>,
}

impl Dumper {
    pub fn new(dir: &Path) -> Result<Dumper> {
        fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the --dump directory {}: choose a writable path",
                dir.display()
            )
        })?;
        Ok(Dumper {
            dir: dir.to_path_buf(),
            index: BTreeMap::new(),
        })
    }

    /// Dumps one point; `seq` keeps file names short and unique.
    pub fn dump(
        &mut self,
        seq: usize,
        id: &str,
        inputs: &[HostTensor],
        produced: Option<&Produced>,
        expected: &Expected,
    ) -> Result<()> {
        let mut entry = Entry::default();
        let mut put = |key: &str, descr: &str, shape: &[usize], data: Vec<u8>| -> Result<()> {
            let name = format!("p{seq:03}_{key}.npy");
            write_npy(&self.dir.join(&name), descr, shape, &data)?;
            entry.files.insert(key.to_string(), name);
            Ok(())
        };
        for t in inputs {
            match &t.data {
                TensorData::F32(v) => {
                    put(&format!("input_{}", t.name), "<f4", &t.shape, f32_bytes(v))?
                }
                TensorData::I32(v) => put(
                    &format!("input_{}", t.name),
                    "<i4",
                    &t.shape,
                    v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                )?,
            }
        }
        match produced {
            Some(Produced::Tensor(v)) => put("output", "<f4", &[v.len()], f32_bytes(v))?,
            Some(Produced::Losses(v)) => put("output_losses", "<f8", &[v.len()], f64_bytes(v))?,
            None => {}
        }
        entry.note = match expected {
            Expected::Tensor(r) => {
                put("reference", "<f8", &[r.values.len()], f64_bytes(&r.values))?;
                match &r.indices {
                    Some(idx) => {
                        let bytes = idx.iter().flat_map(|&i| (i as i64).to_le_bytes()).collect();
                        put("reference_indices", "<i8", &[idx.len()], bytes)?;
                        "output is flattened; reference covers output.flat[reference_indices]"
                            .into()
                    }
                    None => "output and reference are flattened, element for element".into(),
                }
            }
            Expected::Losses(l) => {
                put("reference_losses", "<f8", &[l.len()], f64_bytes(l))?;
                "losses after each step; the reference covers the leading steps".into()
            }
        };
        self.index.insert(id.to_string(), entry);
        crate::store::write_json_atomic(&self.dir.join("index.json"), &self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_parsable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_npy(&p, "<f4", &[2, 3], &f32_bytes(&[1.0; 6])).unwrap();
        let b = fs::read(&p).unwrap();
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (2, 3)") && header.ends_with('\n'));
        assert_eq!(b.len(), 10 + hlen + 24);
    }
}
