//! Device memory (HBM) one runtime NeuronCore holds, and whether a point's tensors fit in it.
//! Pure logic over the instance family `nrt_get_instance_info` reports and the LNC
//! ([`super::lnc`]); a point that cannot fit is skipped before any host buffer is built or
//! NEFF loaded, instead of failing at `nrt_tensor_allocate`.
//!
//! Per runtime core: Trainium1 and Inferentia2 have 32 GiB per chip and 2 NeuronCore-v2, so
//! 16 GiB each. Trainium2 has 96 GiB per chip in 4 banks of 24 GiB; an LNC=2 core (two
//! physical NeuronCore-v3) holds one bank, and at LNC 1 the two physical cores of a bank share
//! it, 12 GiB each. Trainium3 (144 GiB per chip, 8 NeuronCore-v4) is assumed to split like
//! trn2: 36 GiB per LNC=2 core, 18 GiB at LNC 1 (unverified). Any other family: unknown.
//!
//! The footprint is what [`super::exec`] allocates per core ([`Entry::device_bytes`]) plus
//! [`HEADROOM`] for what the NEFF itself holds (its instructions, constants, scratch), which the
//! manifest does not size. Each of `--cores` copies is on its own core, so the count does not
//! change the need per core.

use super::manifest::Entry;

/// Room left for the NEFF's own device memory beyond its input and output tensors (1 GiB, an
/// allowance, not a measured figure).
pub const HEADROOM: u64 = 1 << 30;

const GIB: u64 = 1 << 30;

/// The HBM of one runtime NeuronCore and how it follows from the family and LNC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerCore {
    pub bytes: u64,
    pub basis: String,
}

/// HBM per runtime core for `family` (`trn2`, `trn1n`, `inf2`, ...) at `lnc`; `None` when
/// the family's memory is not known here.
pub fn per_core(family: &str, lnc: u32) -> Option<PerCore> {
    let (bytes, basis) = match (family.get(..4)?, lnc) {
        ("trn1", _) | ("inf2", _) => (
            16 * GIB,
            format!("{family}: 32 GiB of HBM per chip, 2 NeuronCore-v2 per chip"),
        ),
        ("trn2", 2) => (
            24 * GIB,
            format!("{family}: 96 GiB of HBM per chip in 4 banks of 24 GiB; an LNC=2 core holds one bank"),
        ),
        ("trn2", 1) => (
            12 * GIB,
            format!("{family}: 96 GiB of HBM per chip in 4 banks of 24 GiB; at LNC=1 two physical cores share a bank"),
        ),
        ("trn3", 2) => (
            36 * GIB,
            format!("{family}: 144 GiB of HBM per chip, 8 NeuronCore-v4, 2 per LNC=2 core (unverified)"),
        ),
        ("trn3", 1) => (
            18 * GIB,
            format!("{family}: 144 GiB of HBM per chip, 8 NeuronCore-v4, one per LNC=1 core (unverified)"),
        ),
        _ => return None,
    };
    Some(PerCore { bytes, basis })
}

fn gib(b: u64) -> f64 {
    b as f64 / GIB as f64
}

/// Shown in provenance: "24.0 GiB".
pub fn describe(bytes: u64) -> String {
    format!("{:.1} GiB", gib(bytes))
}

/// `Err` with the need and the core's memory when `entry`'s tensors plus [`HEADROOM`] exceed
/// `core`; `what` names the workload.
pub fn fits(what: &str, entry: &Entry, core: &PerCore) -> Result<(), String> {
    let need = entry.device_bytes();
    if need.saturating_add(HEADROOM) <= core.bytes {
        return Ok(());
    }
    Err(format!(
        "{what} needs {:.1} GiB of device memory on one NeuronCore (its NEFF's inputs and outputs{}) \
         plus {:.0} GiB of headroom and a NeuronCore here has {} ({}): choose smaller parameters \
         for this point",
        gib(need),
        if entry.is_stateful() {
            ", two sets of the state it ping-pongs"
        } else {
            ""
        },
        gib(HEADROOM),
        describe(core.bytes),
        core.basis
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neuron::manifest::Manifest;

    #[test]
    fn per_core_follows_family_and_lnc() {
        let g = |f: &str, l: u32| per_core(f, l).map(|p| p.bytes / GIB);
        assert_eq!(g("trn1", 1), Some(16));
        assert_eq!(g("trn1n", 1), Some(16));
        assert_eq!(g("inf2", 1), Some(16));
        assert_eq!(g("trn2", 2), Some(24));
        assert_eq!(g("trn2n", 1), Some(12));
        assert_eq!(g("trn3", 2), Some(36));
        assert_eq!(g("trn3", 1), Some(18));
        assert!(per_core("trn3", 2).unwrap().basis.contains("unverified"));
        assert!(per_core("trn2", 1).unwrap().basis.contains("share"));
        assert_eq!(g("inf1", 1), None);
        assert_eq!(g("unknown", 1), None);
        assert_eq!(g("trn", 1), None);
    }

    /// A decode-like stateful entry: a `cache` of `cache` bytes fed by its output, plus a
    /// 4-byte logits output.
    fn entry(cache: u64) -> Entry {
        let n = cache / 4;
        let text = format!(
            r#"{{"schema": "bench.neff-manifest/1", "target": "trn2", "compiler": "x",
            "points": {{"p": {{"neff": "a.neff",
              "inputs": [{{"name": "cache", "neff_name": "input0", "dtype": "f32", "shape": [{n}]}}],
              "outputs": [{{"name": "logits", "neff_name": "output0", "dtype": "f32", "shape": [1]}},
                          {{"name": "cache_out", "neff_name": "output1", "dtype": "f32",
                            "shape": [{n}], "feeds": "cache"}}],
              "check": "logits"}}}}}}"#
        );
        let m = Manifest::parse(&text, std::path::Path::new("m/manifest.json")).unwrap();
        m.points["p"].clone()
    }

    #[test]
    fn the_need_is_both_sets_plus_headroom() {
        // 5 GiB of cache: 10 GiB ping-ponged (+ two 4-byte logits) + 1 GiB fits 12 GiB
        let e = entry(5 * GIB);
        assert_eq!(e.device_bytes(), 10 * GIB + 8);
        let lnc1 = per_core("trn2", 1).unwrap();
        assert_eq!(fits("decode", &e, &lnc1), Ok(()));
        // 6 GiB of cache: 13 GiB, over an LNC=1 core, within an LNC=2 core
        let e = entry(6 * GIB);
        let why = fits("decode", &e, &lnc1).unwrap_err();
        assert!(
            why.starts_with("decode needs 12.0 GiB")
                && why.contains("12.0 GiB (trn2")
                && why.contains("two sets")
                && why.contains("1 GiB of headroom"),
            "{why}"
        );
        assert_eq!(fits("decode", &e, &per_core("trn2", 2).unwrap()), Ok(()));
        // exactly full passes, a byte more does not
        let exact = PerCore {
            bytes: e.device_bytes() + HEADROOM,
            basis: "test".into(),
        };
        assert_eq!(fits("decode", &e, &exact), Ok(()));
        let less = PerCore {
            bytes: exact.bytes - 1,
            ..exact
        };
        assert!(fits("decode", &e, &less).is_err());
    }
}
