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

impl DeviceTable {
    pub fn builtin() -> Self {
        let mut rd = csv::Reader::from_reader(BUILTIN.as_bytes());
        let rows = rd
            .deserialize()
            .collect::<Result<Vec<DeviceRow>, _>>()
            .expect("built-in device table parses");
        DeviceTable { rows }
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
