//! The price table: `results/prices.csv` (built into the binary; `--prices FILE` replaces it)
//! plus `--price TYPE=USD` overrides, and the instance → price choice the report uses. Every
//! row keeps its source, purchase model and date so the report can cite them. Rows with an
//! empty price keep an instance's hardware facts (trn2.48xlarge has no on-demand price).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Prices bench accepts, in $/h: every instance sold costs between these (a t4g.nano is about
/// $0.004/h); values outside are typing mistakes, and would overflow the perf-per-$ ratios.
pub const USD_PER_HOUR: std::ops::RangeInclusive<f64> = 1e-4..=1e6;
/// Accelerators per instance bench accepts (fractions for shared devices).
pub const ACCELERATORS: std::ops::RangeInclusive<f64> = 1e-3..=1e6;

/// The built-in table (a copy of `results/prices.csv` at build time).
pub const BUILTIN: &str = include_str!("../../../results/prices.csv");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceRow {
    pub instance: String,
    pub region: String,
    pub purchase_model: String,
    pub usd_per_hour: Option<f64>,
    pub accelerator: String,
    pub accelerators_per_instance: f64,
    pub cores_per_accelerator: Option<f64>,
    pub accel_memory_gb: Option<f64>,
    pub source: String,
    pub as_of: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("cannot read price table {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "price table {origin}, row {row}: {source}; columns must be those of results/prices.csv"
    )]
    Row {
        origin: String,
        row: usize,
        source: csv::Error,
    },
    #[error("price table {origin}, row {row}: {what}")]
    Value {
        origin: String,
        row: usize,
        what: String,
    },
    #[error("--price '{0}': expected TYPE=USD with a positive number of dollars per hour (0.0001 to 1000000), e.g. --price trn2.48xlarge=35.76")]
    Override(String),
}

/// What the report prices an instance at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Priced {
    pub instance: String,
    pub usd_per_hour: f64,
    pub accelerator: String,
    pub accelerators_per_instance: f64,
    pub purchase_model: String,
    pub region: String,
    pub source: String,
    pub as_of: String,
}

/// The table in use: where it came from, its rows and the user's overrides.
#[derive(Debug, Clone)]
pub struct PriceTable {
    pub origin: String,
    pub rows: Vec<PriceRow>,
    pub overrides: BTreeMap<String, f64>,
}

impl PriceTable {
    pub fn builtin() -> Self {
        Self::parse(BUILTIN, "built-in results/prices.csv").expect("built-in price table parses")
    }

    pub fn from_file(path: &Path) -> Result<Self, PriceError> {
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, PriceError> {
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for (i, rec) in rd.deserialize::<PriceRow>().enumerate() {
            let row = i + 2;
            let r = rec.map_err(|source| PriceError::Row {
                origin: origin.into(),
                row,
                source,
            })?;
            let bad = |what: String| PriceError::Value {
                origin: origin.into(),
                row,
                what,
            };
            if r.instance.trim().is_empty() {
                return Err(bad("empty instance".into()));
            }
            if let Some(p) = r.usd_per_hour {
                if !USD_PER_HOUR.contains(&p) {
                    return Err(bad(format!(
                        "usd_per_hour {p} must be a positive price in $/h (0.0001 to 1000000)"
                    )));
                }
            }
            if !ACCELERATORS.contains(&r.accelerators_per_instance) {
                return Err(bad(format!(
                    "accelerators_per_instance {} must be a positive count (0.001 to 1000000)",
                    r.accelerators_per_instance
                )));
            }
            rows.push(r);
        }
        Ok(PriceTable {
            origin: origin.into(),
            rows,
            overrides: BTreeMap::new(),
        })
    }

    /// Applies `--price TYPE=USD` values (later ones win).
    pub fn with_overrides(mut self, specs: &[String]) -> Result<Self, PriceError> {
        for spec in specs {
            let (k, v) = spec
                .split_once('=')
                .ok_or_else(|| PriceError::Override(spec.clone()))?;
            let usd: f64 = v
                .trim()
                .parse()
                .map_err(|_| PriceError::Override(spec.clone()))?;
            if k.trim().is_empty() || !USD_PER_HOUR.contains(&usd) {
                return Err(PriceError::Override(spec.clone()));
            }
            self.overrides.insert(k.trim().to_string(), usd);
        }
        Ok(self)
    }

    /// The hardware facts of an instance (any row, priced or not).
    pub fn facts(&self, instance: &str) -> Option<&PriceRow> {
        self.rows.iter().find(|r| r.instance == instance)
    }

    /// The price used for an instance: an override, else the on-demand row, else none (other
    /// purchase models are only used when asked for with --price).
    pub fn price(&self, instance: &str) -> Option<Priced> {
        let facts = self.facts(instance);
        if let Some(&usd) = self.overrides.get(instance) {
            return Some(Priced {
                instance: instance.into(),
                usd_per_hour: usd,
                accelerator: facts.map(|f| f.accelerator.clone()).unwrap_or_default(),
                accelerators_per_instance: facts.map_or(1.0, |f| f.accelerators_per_instance),
                purchase_model: "user --price".into(),
                region: facts.map(|f| f.region.clone()).unwrap_or_default(),
                source: "command line".into(),
                as_of: "this report".into(),
            });
        }
        self.rows
            .iter()
            .find(|r| r.instance == instance && r.purchase_model == "on-demand")
            .and_then(|r| {
                r.usd_per_hour.map(|usd| Priced {
                    instance: instance.into(),
                    usd_per_hour: usd,
                    accelerator: r.accelerator.clone(),
                    accelerators_per_instance: r.accelerators_per_instance,
                    purchase_model: r.purchase_model.clone(),
                    region: r.region.clone(),
                    source: r.source.clone(),
                    as_of: r.as_of.clone(),
                })
            })
    }

    /// Sourced prices of other purchase models for an instance (for "how to price it" hints).
    pub fn alternatives(&self, instance: &str) -> Vec<&PriceRow> {
        self.rows
            .iter()
            .filter(|r| {
                r.instance == instance
                    && r.usd_per_hour.is_some()
                    && r.purchase_model != "on-demand"
            })
            .collect()
    }

    /// `bench prices`: the table as aligned text.
    pub fn render(&self) -> String {
        let mut out = format!("price table: {}\n", self.origin);
        let header = [
            "instance",
            "region",
            "model",
            "$/h",
            "accelerator",
            "n",
            "source",
            "as_of",
        ];
        let mut lines: Vec<[String; 8]> = vec![header.map(String::from)];
        for r in &self.rows {
            let price = match (self.overrides.get(&r.instance), r.usd_per_hour) {
                (Some(o), _) if r.purchase_model == "on-demand" => format!("{o} (--price)"),
                (_, Some(p)) => format!("{p}"),
                (_, None) => "UNKNOWN".into(),
            };
            lines.push([
                r.instance.clone(),
                r.region.clone(),
                r.purchase_model.clone(),
                price,
                r.accelerator.clone(),
                format!("{}", r.accelerators_per_instance),
                r.source.clone(),
                r.as_of.clone(),
            ]);
        }
        for (k, v) in &self.overrides {
            if self.facts(k).is_none() {
                lines.push([
                    k.clone(),
                    String::new(),
                    "user --price".into(),
                    format!("{v} (--price)"),
                    "(not in table)".into(),
                    "1".into(),
                    "command line".into(),
                    String::new(),
                ]);
            }
        }
        let widths: Vec<usize> = (0..8)
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for l in &lines {
            let cells: Vec<String> = l
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out.push_str(
            "the report uses the on-demand row; --price TYPE=USD sets any instance's price (a spot, capacity-block or discounted rate)\n",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_is_sourced_and_keeps_trn2_unpriced() {
        let t = PriceTable::builtin();
        assert!(t
            .rows
            .iter()
            .all(|r| !r.source.is_empty() && !r.as_of.is_empty()));
        let trn2 = t.facts("trn2.48xlarge").unwrap();
        assert_eq!(trn2.accelerator, "Trainium2");
        assert_eq!(trn2.accelerators_per_instance, 16.0);
        assert!(t.price("trn2.48xlarge").is_none());
        assert_eq!(t.price("p5.48xlarge").unwrap().usd_per_hour, 55.04);
        assert!(!t.alternatives("trn2.48xlarge").is_empty());
    }

    #[test]
    fn overrides_win_and_bad_ones_are_named() {
        let t = PriceTable::builtin()
            .with_overrides(&["trn2.48xlarge=35.76".into(), "p5.48xlarge=40".into()])
            .unwrap();
        let p = t.price("trn2.48xlarge").unwrap();
        assert_eq!((p.usd_per_hour, p.accelerators_per_instance), (35.76, 16.0));
        assert_eq!(p.purchase_model, "user --price");
        assert_eq!(t.price("p5.48xlarge").unwrap().usd_per_hour, 40.0);
        for bad in [
            "trn2.48xlarge=cheap",
            "trn2.48xlarge",
            "=3",
            "x=-1",
            "x=NaN",
        ] {
            let e = PriceTable::builtin()
                .with_overrides(&[bad.into()])
                .unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn a_bad_table_names_its_row() {
        let text = "instance,region,purchase_model,usd_per_hour,accelerator,accelerators_per_instance,cores_per_accelerator,accel_memory_gb,source,as_of,note\n\
                    a,r,on-demand,1,X,1,,,s,d,\nb,r,on-demand,abc,X,1,,,s,d,\n";
        let e = PriceTable::parse(text, "mine.csv").unwrap_err().to_string();
        assert!(e.contains("mine.csv") && e.contains("row 3"), "{e}");
    }
}
