//! `bench fleet status`: each target's state from the scheduler (squeue/sacct, or kubectl get
//! jobs), with the run folder its job wrote so far; the states are remembered in fleet.json, so
//! a job the scheduler has since forgotten still shows its last known state. Also what
//! collect and rerun share: the states of a fleet and the run folders of a target.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::args::DirArgs;
use super::kube;
use super::record::{self, FleetRecord, SeenState};
use super::slurm;
use super::spec::Scheduler;
use super::state::{JobState, Phase};
use super::tools;
use crate::clock;
use crate::run::Outcome;

/// A run folder a target's job wrote.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub dir: PathBuf,
    pub started_at: String,
    pub finished: bool,
    pub points: usize,
    pub ok: usize,
    pub failed: usize,
}

impl RunInfo {
    /// `12 points (11 ok, 1 failed)`, `interrupted after 3 points`.
    pub fn describe(&self) -> String {
        let counts = format!(
            "{} points ({} ok, {} failed)",
            self.points, self.ok, self.failed
        );
        if self.finished {
            counts
        } else {
            format!("interrupted: {counts}")
        }
    }
}

/// The run folders under a target's `out` that hold a readable run.json, oldest first.
pub fn runs(out: &Path) -> Vec<RunInfo> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Vec::new();
    };
    let mut runs: Vec<RunInfo> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter_map(|dir| {
            let text = std::fs::read_to_string(dir.join("run.json")).ok()?;
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            let points = v.get("points")?.as_array()?;
            let count = |s: &str| {
                points
                    .iter()
                    .filter(|p| p.get("status").and_then(|x| x.as_str()) == Some(s))
                    .count()
            };
            Some(RunInfo {
                started_at: v.get("started_at")?.as_str()?.to_string(),
                // a signal may have finished the file: `interrupted` says so
                finished: v.get("finished_at").is_some_and(|f| !f.is_null())
                    && v.get("interrupted").is_none_or(|i| i.is_null()),
                points: points.len(),
                ok: count("ok"),
                failed: count("failed"),
                dir,
            })
        })
        .collect();
    runs.sort_by(|a, b| (&a.started_at, &a.dir).cmp(&(&b.started_at, &b.dir)));
    runs
}

/// The newest run folder of a target.
pub fn latest_run(out: &Path) -> Option<RunInfo> {
    runs(out).pop()
}

/// Each target's state, in the record's order. A job the scheduler no longer knows keeps the
/// last final state fleet.json saw.
pub fn query(rec: &FleetRecord) -> Result<Vec<JobState>> {
    let ids: Vec<Option<String>> = rec
        .targets
        .iter()
        .map(|t| t.job().map(|j| j.id.clone()))
        .collect();
    let known: Vec<String> = ids.iter().flatten().cloned().collect();
    let found = match rec.scheduler {
        Scheduler::Slurm if known.is_empty() => Default::default(),
        Scheduler::Kubernetes if known.is_empty() => Default::default(),
        Scheduler::Slurm => {
            let squeue = tools::require(
                "squeue",
                "run `bench fleet status` on a Slurm login node (where squeue and sacct are)",
            )?;
            slurm::query(&squeue, tools::find("sacct").as_deref(), &known)?
        }
        Scheduler::Kubernetes => {
            let kubectl = tools::require(
                "kubectl",
                "install kubectl and point it at the cluster with KUBECONFIG",
            )?;
            let mut all = std::collections::BTreeMap::new();
            let mut namespaces: Vec<String> = rec
                .targets
                .iter()
                .map(|t| t.namespace.clone().unwrap_or_else(|| "default".into()))
                .collect();
            namespaces.sort();
            namespaces.dedup();
            for ns in namespaces {
                all.extend(kube::query(&kubectl, &ns, &rec.id)?);
            }
            all
        }
    };
    Ok(rec
        .targets
        .iter()
        .zip(&ids)
        .map(|(t, id)| {
            let Some(id) = id else {
                return match &t.submit_error {
                    Some(e) => JobState::not_submitted(&format!("refused: {e}")),
                    None => JobState::not_submitted("dry run"),
                };
            };
            let now = found.get(id).cloned().unwrap_or_else(|| {
                JobState::new(
                    "NOT_FOUND",
                    "the scheduler no longer lists this job",
                    Phase::Failed,
                )
            });
            match &t.last_state {
                Some(seen)
                    if matches!(now.state.as_str(), "UNKNOWN" | "NOT_FOUND")
                        && seen.state.phase != Phase::Active =>
                {
                    let mut s = seen.state.clone();
                    s.detail = format!("{}; last seen {}", s.detail, seen.seen_at)
                        .trim_start_matches("; ")
                        .to_string();
                    s
                }
                _ => now,
            }
        })
        .collect())
}

/// Saves the states in fleet.json.
pub fn remember(dir: &Path, rec: &mut FleetRecord, states: &[JobState]) -> Result<()> {
    let now = clock::now_rfc3339();
    for (t, s) in rec.targets.iter_mut().zip(states) {
        if s.state != "NOT_SUBMITTED" {
            t.last_state = Some(SeenState {
                state: s.clone(),
                seen_at: now.clone(),
            });
        }
    }
    record::write(dir, rec)
}

/// The status table: target, instance, job, state, run folder.
pub fn render(rec: &FleetRecord, states: &[JobState]) -> String {
    let mut rows = vec![[
        "target".to_string(),
        "instance".into(),
        "job".into(),
        "state".into(),
        "run".into(),
    ]];
    for (t, s) in rec.targets.iter().zip(states) {
        let run = match latest_run(&t.out) {
            Some(r) => format!(
                "{}: {}",
                r.dir.file_name().unwrap_or_default().to_string_lossy(),
                r.describe()
            ),
            None => "-".into(),
        };
        rows.push([
            t.name.clone(),
            t.instance.clone(),
            t.job().map_or("-".into(), |j| j.id.clone()),
            s.describe(),
            run,
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!(
        "fleet {} ({}, {} targets)\n",
        rec.id,
        rec.scheduler,
        rec.targets.len()
    );
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out += line.join("  ").trim_end();
        out += "\n";
    }
    let count = |p: Phase| states.iter().filter(|s| s.phase == p).count();
    out += &format!(
        "{} queued or running, {} finished, {} failed or not run\n",
        count(Phase::Active),
        count(Phase::Succeeded),
        count(Phase::Failed)
    );
    out
}

pub fn status(args: &DirArgs) -> Result<Outcome> {
    let mut rec = record::read(&args.dir)?;
    let states = query(&rec)?;
    print!("{}", render(&rec, &states));
    remember(&args.dir, &mut rec, &states)?;
    Ok(Outcome::AllOk)
}
