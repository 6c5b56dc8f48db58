//! The result file contract (`bench.run/1`, see DESIGN.md): the types every writer and every
//! renderer share. Field names are the contract; add fields freely, rename none without
//! bumping [`SCHEMA`]. Readers reject other schema versions with a clear error.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "bench.run/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    pub schema: String,
    pub harness: HarnessInfo,
    pub host: HostInfo,
    pub backend: BackendInfo,
    pub command: String,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Measurement settings in force (warm-up, budget, target noise, seed).
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// Environment variables that affect results (BENCH_*, thread counts, device selection).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub points: Vec<PointRecord>,
    /// Each `bench run --resume` of this run, in order (absent when never resumed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resumes: Vec<Resume>,
    /// Set when a signal stopped the run (SIGINT, SIGTERM); cleared by a resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
}

/// One `bench run --resume`: when, the command line, the harness that ran it, the
/// environment variables in force then, and the points it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub at: String,
    pub command: String,
    pub harness: HarnessInfo,
    #[serde(default)]
    pub retry_failed: bool,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Ids of the points this resume ran (replacing failed or interrupted records, or new).
    #[serde(default)]
    pub points_run: Vec<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
}

/// What stopped a run early.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interruption {
    /// `SIGINT` or `SIGTERM`.
    pub signal: String,
    pub at: String,
    /// The point that was running (recorded as failed with reason `interrupted`).
    #[serde(default)]
    pub point: Option<String>,
}

/// The reason recorded for the point a signal stopped; `--resume` runs such points again.
pub const INTERRUPTED: &str = "interrupted";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarnessInfo {
    pub version: String,
    pub git_commit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    pub cpu: String,
    pub cores: u32,
    pub memory_bytes: u64,
    pub os: String,
    pub instance_type: Option<String>,
    pub instance_type_source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    pub kind: String,
    pub implementation: String,
    pub device: String,
    pub device_count: u32,
    pub runtime_version: Option<String>,
    pub driver_version: Option<String>,
    pub simulated: bool,
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointRecord {
    pub id: String,
    pub workload: String,
    pub params: BTreeMap<String, u64>,
    pub dtype: String,
    pub status: Status,
    #[serde(default)]
    pub reason: Option<String>,
    pub flops: f64,
    pub bytes: f64,
    pub devices_used: f64,
    #[serde(default)]
    pub check: Option<Check>,
    #[serde(default)]
    pub timer: Option<String>,
    #[serde(default)]
    pub samples_s: Vec<f64>,
    /// The host wall time of each sample, where `samples_s` are the backend's own device
    /// times (timer `nrt_sys_trace`); absent otherwise, and in files from before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples_wall_s: Vec<f64>,
    #[serde(default)]
    pub stats: Option<Stats>,
    #[serde(default)]
    pub throughput: Option<Throughput>,
    #[serde(default)]
    pub one_off_s: OneOffS,
    #[serde(default)]
    pub train: Option<Train>,
    /// Device telemetry sampled while the point ran (CUDA: NVML clocks, power, temperature,
    /// throttle reasons), or `source: "absent"` with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<Telemetry>,
    /// The implementation that ran this record when it is not the run's own
    /// (`backend.implementation`): a backend's second implementation of the point, such as the
    /// Neuron backend's `nki` NEFFs. A run holds at most one record per (id, implementation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation: Option<String>,
}

impl PointRecord {
    /// Whether `other` records the same point by the same implementation (a resume or the
    /// watchdog replaces such a record).
    pub fn same_slot(&self, other: &PointRecord) -> bool {
        self.id == other.id && self.implementation == other.implementation
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    pub source: String,
    #[serde(default)]
    pub absent_reason: Option<String>,
    #[serde(default)]
    pub samples: usize,
    #[serde(default)]
    pub interval_s: f64,
    /// Metric → [min, median, max] over the samples.
    #[serde(default)]
    pub metrics: BTreeMap<String, [f64; 3]>,
    #[serde(default)]
    pub absent_metrics: BTreeMap<String, String>,
    #[serde(default)]
    pub throttle_reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Largest error relative to the reference's RMS (training: relative loss difference);
    /// `null` when infinite (NaN or Inf in the output).
    pub max_rel_err: Option<f64>,
    pub tolerance: f64,
    pub passed: bool,
    /// Output elements (or loss steps) compared with the f64 reference.
    #[serde(default)]
    pub checked: usize,
    /// Seconds the harness spent computing the f64 reference (host-side; not a cost of the
    /// backend and never priced).
    #[serde(default)]
    pub reference_s: Option<f64>,
    /// Training points: the f64 reference's loss after each checked step, so a vendor
    /// reference on the same inputs (scripts/gpu/torch_reference.py --reference-run) checks
    /// against it instead of paying the host reference a second time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_losses: Option<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: usize,
    pub median_s: f64,
    pub mean_s: f64,
    pub stdev_s: f64,
    pub mad_s: f64,
    pub ci95_low_s: f64,
    pub ci95_high_s: f64,
    pub outliers: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub flop_per_s: f64,
    pub items_per_s: f64,
    pub item: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OneOffS {
    /// Backend start-up (library load, device context), shared by the run's points.
    #[serde(default)]
    pub init: Option<f64>,
    /// Preparing this point: inputs uploaded, buffers allocated, NEFF loaded.
    #[serde(default)]
    pub load: Option<f64>,
    #[serde(default)]
    pub compile: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Train {
    pub steps: usize,
    /// The loss after every step run, check steps first, then warm-up and timed steps
    /// (`null` where a step produced NaN or Inf).
    #[serde(with = "nan_as_null")]
    pub losses: Vec<f64>,
    #[serde(default)]
    pub optimizer: Option<String>,
    /// Leading steps compared with the f64 reference.
    #[serde(default)]
    pub checked_steps: usize,
}

/// JSON has no NaN: non-finite values are written as `null` and read back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| x.is_finite().then_some(*x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v: Vec<Option<f64>> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
    }
}

/// Problems reading a result file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid bench result file ({source}{at}); was it truncated or edited? Re-run the benchmark or restore the file")]
    Parse {
        path: String,
        /// ` in points[3].devices_used`: where the text stops being valid, when inside a field.
        at: String,
        source: serde_json::Error,
    },
    /// A field of the wrong type or a missing one, with its JSON path.
    #[error("{path}: {field}: {source}; was the file edited or written by another tool? Fix that field, re-run the benchmark or restore the file")]
    Field {
        path: String,
        field: String,
        source: serde_json::Error,
    },
    /// A value out of range (zero or negative times, devices, FLOPs...) or a repeated point.
    #[error("{path}: {source}; fix or remove that point, or re-run it")]
    Invalid {
        path: String,
        source: crate::validate::Invalid,
    },
    #[error("{path} has schema '{found}', this bench reads '{SCHEMA}': use the bench version that wrote it")]
    Schema { path: String, found: String },
}

/// Reads and validates a run.json (or a run directory holding one).
pub fn read_run(path: &Path) -> Result<RunFile, ReadError> {
    let file = if path.is_dir() {
        path.join("run.json")
    } else {
        path.to_path_buf()
    };
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(&file).map_err(|source| ReadError::Io {
        path: shown.clone(),
        source,
    })?;
    parse_run(&text, &shown)
}

/// Parses and validates the text of a run.json; `shown` names it in errors.
pub fn parse_run(text: &str, shown: &str) -> Result<RunFile, ReadError> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(source) => {
            // Not JSON (truncated, a number out of range...): say where, by field path too.
            let de = &mut serde_json::Deserializer::from_str(text);
            let at = match serde_path_to_error::deserialize::<_, RunFile>(de) {
                Err(e) => {
                    let p = e.path().to_string();
                    // An unfinished key shows as '?': name the object that holds it.
                    let p = p.trim_end_matches(".?").trim_end_matches('?');
                    if matches!(p, "" | ".") {
                        String::new()
                    } else {
                        format!(" in {p}")
                    }
                }
                Ok(_) => String::new(),
            };
            return Err(ReadError::Parse {
                path: shown.into(),
                at,
                source,
            });
        }
    };
    let found = value
        .get("schema")
        .and_then(|s| s.as_str())
        .unwrap_or("(none)")
        .to_string();
    if found != SCHEMA {
        return Err(ReadError::Schema {
            path: shown.into(),
            found,
        });
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    let run: RunFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let mut field = match e.path().to_string() {
            p if p == "." || p.is_empty() => "(top level)".to_string(),
            p => p,
        };
        // Name the point too, when the field is inside one that has an id.
        let index = field
            .strip_prefix("points[")
            .and_then(|r| r.split(']').next())
            .and_then(|i| i.parse::<usize>().ok());
        if let Some(id) = index.and_then(|i| value["points"][i]["id"].as_str()) {
            field = format!("{field} (point {id})");
        }
        ReadError::Field {
            path: shown.into(),
            field,
            source: e.into_inner(),
        }
    })?;
    check(run, shown)
}

/// Parses the bytes of a run.json the fast way `bench report` reads many (straight into the
/// typed record, one pass), falling back to [`parse_run`] for the error that names the
/// field, so both give the same answer; `shown` names the file in errors.
pub fn parse_bytes(bytes: &[u8], shown: &str) -> Result<RunFile, ReadError> {
    // UTF-8 first: serde_json's byte reader lets invalid UTF-8 through in keys it skips.
    let text = std::str::from_utf8(bytes).map_err(|e| ReadError::Io {
        path: shown.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    if let Ok(run) = serde_json::from_str::<RunFile>(text) {
        if run.schema == SCHEMA {
            return check(run, shown);
        }
    }
    parse_run(text, shown)
}

/// A parsed run, range-checked.
pub fn check(run: RunFile, shown: &str) -> Result<RunFile, ReadError> {
    crate::validate::check_run(&run).map_err(|source| ReadError::Invalid {
        path: shown.into(),
        source,
    })?;
    Ok(run)
}
