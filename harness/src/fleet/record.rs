//! `fleet.json`, the fleet directory's own record: which scheduler, which targets, each
//! target's job attempts (id, script or manifest, log, the bench command) and the last state
//! the scheduler reported. `submit` writes it, `status`, `collect` and `rerun` read and update
//! it (atomically, like run.json).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::spec::Scheduler;
use super::state::JobState;

pub const SCHEMA: &str = "bench.fleet/1";
pub const FILE: &str = "fleet.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FleetRecord {
    pub schema: String,
    /// `<name>-<YYYYMMDD-HHMMSS>`: the fleet directory's name.
    pub id: String,
    pub scheduler: Scheduler,
    /// The fleet file as given to submit; a copy is `fleet.toml` in the fleet directory.
    pub fleet_file: String,
    pub created_at: String,
    /// Written with `--dry-run`: nothing was submitted.
    pub dry_run: bool,
    /// The bench binary the jobs run.
    pub bench: String,
    /// The shared results path (absolute) that holds the fleet directory.
    pub results: PathBuf,
    pub targets: Vec<TargetRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetRecord {
    pub name: String,
    pub backend: String,
    pub instance: String,
    /// `<fleet dir>/<target>`: the job's `--out`, holding its run folder.
    pub out: PathBuf,
    /// Kubernetes: the Jobs' namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Attempts, first to last.
    pub jobs: Vec<JobRecord>,
    /// Why the last submission was refused, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state: Option<SeenState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobRecord {
    /// Slurm job id, or Kubernetes Job name; empty when not submitted.
    pub id: String,
    /// The sbatch script or Job manifest.
    pub job_file: PathBuf,
    /// Slurm: the job's log (`%j` until the job has an id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    pub submitted_at: Option<String>,
    /// The bench command after the binary.
    pub command: Vec<String>,
    /// The interrupted run folder this attempt continues, when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumes: Option<PathBuf>,
}

/// A state and when the scheduler reported it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeenState {
    #[serde(flatten)]
    pub state: JobState,
    pub seen_at: String,
}

impl TargetRecord {
    /// The latest attempt that was submitted.
    pub fn job(&self) -> Option<&JobRecord> {
        self.jobs.iter().rev().find(|j| !j.id.is_empty())
    }
}

/// Reads `<dir>/fleet.json`.
pub fn read(dir: &Path) -> Result<FleetRecord> {
    let path = dir.join(FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}: give the fleet directory that `bench fleet submit` printed",
            path.display()
        )
    })?;
    let rec: FleetRecord = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a fleet record (bench.fleet/1)", path.display()))?;
    if rec.schema != SCHEMA {
        bail!(
            "{}: schema {:?}, this bench reads {SCHEMA}: use the bench that submitted it",
            path.display(),
            rec.schema
        );
    }
    Ok(rec)
}

/// Writes `<dir>/fleet.json` atomically.
pub fn write(dir: &Path, rec: &FleetRecord) -> Result<()> {
    crate::store::write_json_atomic(&dir.join(FILE), rec)
}
