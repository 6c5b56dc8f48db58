//! The NEFF manifest (`manifest.json` in `--neff-dir`, written by
//! `scripts/neuron/build_neffs.py`): for each point id, the NEFF file, its inputs and outputs
//! (bench's name, the NEFF's tensor name, dtype, shape, how an input is initialised, which
//! input an output feeds on the next step), the output to check or the loss to record, and how
//! it was compiled. Loading validates it and every error names the file and what to do.
//!
//! A workload is described entirely by its entry: a training step is an entry whose outputs
//! `feed` inputs (parameters, optimiser state, step counter), so the backend ping-pongs two
//! tensor sets without knowing the workload; a new workload needs only a new lowering in the
//! build script.
//!
//! `alternatives` holds second implementations of some points (`build_neffs.py --impl nki`:
//! attention through neuronx-cc's flash-attention kernel), keyed by implementation name, each
//! with its own `points` and `skipped`; the backend runs them beside its own and labels each
//! record with the name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::convert::Dtype;

pub const SCHEMA: &str = "bench.neff-manifest/1";

/// The largest tensor a manifest may describe (1 TiB, beyond any device's memory): a larger
/// shape is a corrupt manifest, and its byte count could overflow.
pub const MAX_TENSOR_BYTES: usize = 1 << 40;

/// How an input starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// The workload's seeded input of the same name (kernels crate).
    #[default]
    Workload,
    /// All zero bytes (optimiser state, step counter).
    Zeros,
    /// The workload input `from` repeated along its second-last axis to `rows` rows (row r is
    /// `from`'s row r mod its row count), the rest of that axis zero: decode's KV cache from
    /// the kernels crate's pooled `kv`.
    Tiled,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Io {
    /// bench's name (the workload's input name, or an output's role).
    pub name: String,
    /// The NEFF's tensor name, as `nrt_get_model_tensor_info` reports it.
    pub neff_name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    #[serde(default)]
    pub init: Init,
    /// Outputs only: the input this output becomes for the next step.
    #[serde(default)]
    pub feeds: Option<String>,
    /// `init: tiled` only: the workload input repeated.
    #[serde(default)]
    pub from: Option<String>,
    /// `init: tiled` only: the rows of the second-last axis filled from `from`.
    #[serde(default)]
    pub rows: Option<usize>,
}

impl Io {
    pub fn dtype(&self) -> Dtype {
        Dtype::parse(&self.dtype).expect("validated at load")
    }

    pub fn bytes(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype().size()
    }

    /// The size in bytes, or `None` when it exceeds [`MAX_TENSOR_BYTES`] (or `usize`).
    fn checked_bytes(&self) -> Option<usize> {
        let size = Dtype::parse(&self.dtype)?.size();
        self.shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .filter(|&b| b <= MAX_TENSOR_BYTES)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    /// NEFF file, relative to the manifest's directory.
    pub neff: String,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub compile_s: Option<f64>,
    #[serde(default)]
    pub compile_flags: Vec<String>,
    pub inputs: Vec<Io>,
    pub outputs: Vec<Io>,
    /// The output compared with the f64 reference (inference workloads).
    #[serde(default)]
    pub check: Option<String>,
    /// The output holding the step's loss (training workloads).
    #[serde(default)]
    pub loss: Option<String>,
    /// An alternative's implementation name (`nki`); absent for bench's own lowering.
    #[serde(default)]
    pub implementation: Option<String>,
}

/// Second implementations of some points under one name (`alternatives.nki`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Alternative {
    #[serde(default)]
    pub points: BTreeMap<String, Entry>,
    /// Points this implementation could not lower or compile, with the reason.
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
}

impl Entry {
    /// A training step: it has a loss (and state that feeds itself).
    pub fn is_training(&self) -> bool {
        self.loss.is_some()
    }

    /// Some output feeds an input on the next step (training state, decode's KV cache): the
    /// backend ping-pongs two tensor sets.
    pub fn is_stateful(&self) -> bool {
        self.outputs.iter().any(|o| o.feeds.is_some())
    }

    /// The device bytes one core's copy allocates (as [`super::exec`] does): every input once,
    /// again for each input an output feeds (the second ping-pong set), and each output that
    /// feeds nothing once per set. Outputs that feed an input reuse the other set's input.
    pub fn device_bytes(&self) -> u64 {
        let sets: u64 = if self.is_stateful() { 2 } else { 1 };
        let fed = |name: &str| {
            self.outputs
                .iter()
                .any(|o| o.feeds.as_deref() == Some(name))
        };
        let inputs: u64 = self
            .inputs
            .iter()
            .map(|i| i.bytes() as u64 * if fed(&i.name) { sets } else { 1 })
            .sum();
        let outputs: u64 = self
            .outputs
            .iter()
            .filter(|o| o.feeds.is_none())
            .map(|o| o.bytes() as u64 * sets)
            .sum();
        inputs + outputs
    }

    pub fn output(&self, name: &str) -> Option<&Io> {
        self.outputs.iter().find(|o| o.name == name)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub target: String,
    #[serde(default)]
    pub lnc: Option<u32>,
    /// Compiler name and version (`neuronx-cc --version`), or the stand-in's description.
    pub compiler: String,
    #[serde(default)]
    pub compile_flags: Vec<String>,
    /// True for nrt-sim stand-ins (`build_neffs.py --sim`).
    #[serde(default)]
    pub simulated: bool,
    pub points: BTreeMap<String, Entry>,
    /// Points the build script could not lower, with the reason.
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
    /// Implementation name → its entries (see the module doc).
    #[serde(default)]
    pub alternatives: BTreeMap<String, Alternative>,
    #[serde(skip)]
    pub dir: PathBuf,
}

const REBUILD: &str = "rebuild it with: bench plan --backend neuron --suite quick --out plan.json && python3 scripts/neuron/build_neffs.py plan.json --out DIR";

impl Manifest {
    /// Reads and validates `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest, String> {
        if !dir.is_dir() {
            return Err(format!(
                "--neff-dir {}: no such directory; build the NEFFs first: bench plan --backend neuron --suite quick --out plan.json && python3 scripts/neuron/build_neffs.py plan.json --out {} (see README, Running on Trainium)",
                dir.display(),
                dir.display()
            ));
        }
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read {} ({e}): build_neffs.py writes it; {REBUILD}",
                path.display()
            )
        })?;
        Self::parse(&text, &path)
    }

    /// Parses and validates the text of a manifest; `path` (the manifest.json it came from)
    /// names it in errors, and its folder is where the NEFF files are looked up.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, String> {
        let mut m: Manifest = serde_json::from_str(text).map_err(|e| {
            format!(
                "{} is not a valid NEFF manifest ({e}); {REBUILD}",
                path.display()
            )
        })?;
        if m.schema != SCHEMA {
            return Err(format!(
                "{} has schema '{}', this bench reads '{SCHEMA}'; {REBUILD}",
                path.display(),
                m.schema
            ));
        }
        for (id, e) in &m.points {
            e.validate()
                .map_err(|why| format!("{}: point {id}: {why}; {REBUILD}", path.display()))?;
        }
        for (name, alt) in &m.alternatives {
            if name.is_empty() || name == "bench" {
                return Err(format!(
                    "{}: alternatives.{name:?}: an alternative needs a name other than bench's own; {REBUILD}",
                    path.display()
                ));
            }
            for (id, e) in &alt.points {
                let at = format!("{}: alternatives.{name}.points.{id}", path.display());
                e.validate()
                    .map_err(|why| format!("{at}: {why}; {REBUILD}"))?;
                if e.implementation.as_deref().is_some_and(|i| i != name) {
                    return Err(format!(
                        "{at}: says implementation '{}' under alternatives.{name}; {REBUILD}",
                        e.implementation.as_deref().unwrap_or_default()
                    ));
                }
            }
        }
        m.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(m)
    }

    /// The alternatives that cover point `id`: (name, its entry or why it has none), in name
    /// order.
    pub fn alternatives_of(&self, id: &str) -> Vec<(&str, Result<&Entry, &str>)> {
        self.alternatives
            .iter()
            .filter_map(
                |(name, alt)| match (alt.points.get(id), alt.skipped.get(id)) {
                    (Some(e), _) => Some((name.as_str(), Ok(e))),
                    (None, Some(why)) => Some((name.as_str(), Err(why.as_str()))),
                    (None, None) => None,
                },
            )
            .collect()
    }

    pub fn neff_path(&self, e: &Entry) -> PathBuf {
        self.dir.join(&e.neff)
    }
}

impl Entry {
    fn validate(&self) -> Result<(), String> {
        for io in self.inputs.iter().chain(&self.outputs) {
            if Dtype::parse(&io.dtype).is_none() {
                return Err(format!(
                    "tensor '{}' has dtype '{}' (use f32, bf16, f16 or i32)",
                    io.name, io.dtype
                ));
            }
            if io.checked_bytes().is_none() {
                return Err(format!(
                    "tensor '{}' has shape {:?} of {}, over 1 TiB (the limit is 2^40 bytes)",
                    io.name, io.shape, io.dtype
                ));
            }
        }
        for o in &self.outputs {
            if let Some(f) = &o.feeds {
                let Some(i) = self.inputs.iter().find(|i| &i.name == f) else {
                    return Err(format!(
                        "output '{}' feeds '{f}', which is no input",
                        o.name
                    ));
                };
                if i.bytes() != o.bytes() {
                    return Err(format!(
                        "output '{}' feeds '{f}' but their sizes differ",
                        o.name
                    ));
                }
            }
        }
        for i in &self.inputs {
            if i.init == Init::Tiled {
                validate_tiled(i)?;
            }
        }
        match (&self.check, &self.loss, self.is_stateful()) {
            (Some(c), None, _) if self.output(c).is_some_and(|o| o.feeds.is_none()) => Ok(()),
            (None, Some(l), true) if self.output(l).is_some() => Ok(()),
            _ => Err("needs 'check' naming an output that feeds nothing (inference, stateful or not) or 'loss' naming an output plus outputs that 'feeds' inputs (training)".into()),
        }
    }
}

/// A tiled input names its source and fills at most its second-last axis.
fn validate_tiled(i: &Io) -> Result<(), String> {
    let (Some(from), Some(rows)) = (&i.from, i.rows) else {
        return Err(format!(
            "input '{}' has init 'tiled' but lacks 'from' (the workload input repeated) or 'rows'",
            i.name
        ));
    };
    let axis = i.shape.len().checked_sub(2).ok_or_else(|| {
        format!(
            "input '{}' (init 'tiled' from '{from}') has shape {:?}: it needs at least 2 axes",
            i.name, i.shape
        )
    })?;
    if rows > i.shape[axis] {
        return Err(format!(
            "input '{}' tiles {rows} rows from '{from}' into an axis of {}",
            i.name, i.shape[axis]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("manifest.json"), text).unwrap();
    }

    const GOOD: &str = r#"{"schema": "bench.neff-manifest/1", "target": "trn2", "lnc": 2,
      "compiler": "neuronx-cc 2.0", "points": {"matmul/m=2,n=2,k=2/f32": {"neff": "a.neff",
      "inputs": [{"name": "a", "neff_name": "input0", "dtype": "f32", "shape": [2, 2]},
                 {"name": "b", "neff_name": "input1", "dtype": "f32", "shape": [2, 2]}],
      "outputs": [{"name": "out", "neff_name": "output0", "dtype": "f32", "shape": [2, 2]}],
      "check": "out"}}}"#;

    #[test]
    fn loads_a_good_manifest_and_names_bad_ones() {
        let tmp = std::env::temp_dir().join(format!("bench-manifest-{}", std::process::id()));
        write(&tmp, GOOD);
        let m = Manifest::load(&tmp).unwrap();
        let e = &m.points["matmul/m=2,n=2,k=2/f32"];
        assert!(!e.is_training());
        assert_eq!(m.neff_path(e), tmp.join("a.neff"));

        write(&tmp, "{ not json");
        let err = Manifest::load(&tmp).unwrap_err();
        assert!(
            err.contains("manifest.json") && err.contains("build_neffs.py"),
            "{err}"
        );

        write(
            &tmp,
            &GOOD.replace("\"check\": \"out\"", "\"check\": \"nope\""),
        );
        let err = Manifest::load(&tmp).unwrap_err();
        assert!(err.contains("point matmul/m=2,n=2,k=2/f32"), "{err}");

        write(
            &tmp,
            &GOOD.replace(
                "\"dtype\": \"f32\", \"shape\": [2, 2]}],",
                "\"dtype\": \"f64\", \"shape\": [2, 2]}],",
            ),
        );
        assert!(Manifest::load(&tmp).unwrap_err().contains("f64"));

        // a second implementation under alternatives: listed per point, its skips kept
        let alt_entry = r#"{"neff": "b.neff", "implementation": "nki",
          "inputs": [{"name": "a", "neff_name": "input0", "dtype": "f32", "shape": [2, 2]}],
          "outputs": [{"name": "out", "neff_name": "output0", "dtype": "f32", "shape": [2, 2]}],
          "check": "out"}"#;
        let with_alt = |entry: &str| {
            GOOD.trim_end().strip_suffix('}').unwrap().to_string()
                + &format!(
                    r#", "alternatives": {{"nki": {{"points": {{"matmul/m=2,n=2,k=2/f32": {entry}}},
                    "skipped": {{"matmul/m=4,n=4,k=4/f32": "s too short"}}}}}}}}"#
                )
        };
        write(&tmp, &with_alt(alt_entry));
        let m = Manifest::load(&tmp).unwrap();
        let alts = m.alternatives_of("matmul/m=2,n=2,k=2/f32");
        assert_eq!(alts.len(), 1);
        assert_eq!(alts[0].0, "nki");
        assert_eq!(alts[0].1.unwrap().neff, "b.neff");
        assert_eq!(
            m.alternatives_of("matmul/m=4,n=4,k=4/f32")[0]
                .1
                .unwrap_err(),
            "s too short"
        );
        assert!(m.alternatives_of("matmul/m=8,n=8,k=8/f32").is_empty());
        write(&tmp, &with_alt(&alt_entry.replace("\"nki\"", "\"torch\"")));
        let err = Manifest::load(&tmp).unwrap_err();
        assert!(
            err.contains("alternatives.nki.points.matmul/m=2,n=2,k=2/f32") && err.contains("torch"),
            "{err}"
        );

        let err = Manifest::load(&tmp.join("missing")).unwrap_err();
        assert!(
            err.contains("no such directory") && err.contains("build_neffs.py"),
            "{err}"
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
