//! Datasheet peaks per accelerator (`results/devices.csv`, built in): dense TFLOPS per dtype,
//! memory and bandwidth, with source and date. Used for "% of datasheet peak" and the
//! clearly labelled datasheet-only comparison; never as a measurement.

use serde::{Deserialize, Serialize};

pub const BUILTIN: &str = include_str!("../../../results/devices.csv");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceRow {
    pub accelerator: String,
    pub peak_tflops_f32: Option<f64>,
    pub peak_tflops_tf32: Option<f64>,
    pub peak_tflops_bf16: Option<f64>,
    pub peak_tflops_f16: Option<f64>,
    pub peak_tflops_fp8_e4m3: Option<f64>,
    pub memory_gb: Option<f64>,
    pub memory_bw_gb_s: Option<f64>,
    #[serde(default)]
    pub cores: String,
    pub source: String,
    pub as_of: String,
    #[serde(default)]
    pub note: String,
}

impl DeviceRow {
    /// Dense peak for a dtype name as run.json writes it, in TFLOP/s.
    pub fn peak_tflops(&self, dtype: &str) -> Option<f64> {
        match dtype {
            "f32" => self.peak_tflops_f32,
            "tf32" => self.peak_tflops_tf32,
            "bf16" => self.peak_tflops_bf16,
            "f16" => self.peak_tflops_f16,
            "fp8_e4m3" => self.peak_tflops_fp8_e4m3,
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeviceTable {
    pub rows: Vec<DeviceRow>,
}

/// A device table that does not parse: names the table and the row (1 is the header).
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "device table {origin}, row {row}: {source}; columns must be those of results/devices.csv"
    )]
    Row {
        origin: String,
        row: usize,
        source: csv::Error,
    },
    #[error("device table {origin}, row {row}: {what}")]
    Value {
        origin: String,
        row: usize,
        what: String,
    },
}

impl DeviceTable {
    pub fn builtin() -> Self {
        Self::parse(BUILTIN, "built-in results/devices.csv").expect("built-in device table parses")
    }

    /// Parses a table with the columns of `results/devices.csv`; `origin` names it in errors.
    /// Every peak, memory size and bandwidth given must be a positive finite number.
    pub fn parse(text: &str, origin: &str) -> Result<Self, DeviceError> {
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        let mut rows = Vec::new();
        for (i, rec) in rd.deserialize::<DeviceRow>().enumerate() {
            let row = i + 2;
            let r = rec.map_err(|source| DeviceError::Row {
                origin: origin.into(),
                row,
                source,
            })?;
            let bad = |what: String| DeviceError::Value {
                origin: origin.into(),
                row,
                what,
            };
            if r.accelerator.trim().is_empty() {
                return Err(bad("empty accelerator".into()));
            }
            let values = [
                ("peak_tflops_f32", r.peak_tflops_f32),
                ("peak_tflops_tf32", r.peak_tflops_tf32),
                ("peak_tflops_bf16", r.peak_tflops_bf16),
                ("peak_tflops_f16", r.peak_tflops_f16),
                ("peak_tflops_fp8_e4m3", r.peak_tflops_fp8_e4m3),
                ("memory_gb", r.memory_gb),
                ("memory_bw_gb_s", r.memory_bw_gb_s),
            ];
            for (field, v) in values {
                if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
                    return Err(bad(format!(
                        "{field} {v} must be a positive number (or empty when unknown)"
                    )));
                }
            }
            rows.push(r);
        }
        Ok(DeviceTable { rows })
    }

    pub fn get(&self, accelerator: &str) -> Option<&DeviceRow> {
        self.rows.iter().find(|r| r.accelerator == accelerator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_peaks_by_dtype() {
        let t = DeviceTable::builtin();
        let h100 = t.get("H100 SXM").unwrap();
        assert_eq!(h100.peak_tflops("bf16"), Some(989.0));
        assert_eq!(h100.peak_tflops("fp8_e4m3"), Some(1979.0));
        assert_eq!(t.get("Trainium2").unwrap().peak_tflops("bf16"), Some(667.0));
        assert_eq!(
            t.get("A100 SXM 40GB").unwrap().peak_tflops("fp8_e4m3"),
            None
        );
        assert!(t
            .rows
            .iter()
            .all(|r| !r.source.is_empty() && !r.as_of.is_empty()));
        // every priced accelerator but B300 and the CPUs has a datasheet row
        let prices = super::super::prices::PriceTable::builtin();
        for r in &prices.rows {
            if !r.accelerator.starts_with("CPU") && r.accelerator != "B300" {
                assert!(t.get(&r.accelerator).is_some(), "{}", r.accelerator);
            }
        }
    }
}
