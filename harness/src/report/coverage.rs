//! The coverage rule: an overall verdict is over workloads, not points. Every workload that
//! either side ran (any record, failed or skipped included) must have at least one paired
//! point, else the comparison's verdict is INCONCLUSIVE with a reason naming each missing
//! workload, the side and why ("attention failed on p5.48xlarge (CUDA_ERROR_OUT_OF_MEMORY)").
//! `--allow-partial` gives a verdict over the paired workloads, labelled partial. Workloads are
//! ordered as the kernels crate lists them, others after in first-seen order. Pure.

use serde::Serialize;

use super::input::LoadedRun;
use super::sides::{Pick, SideRuns};
use crate::schema::{PointRecord, Status};

/// Sort key of a workload name: its place in `kernels::WorkloadKind::ALL`, unknown names after.
pub fn workload_rank(name: &str) -> usize {
    kernels::WorkloadKind::ALL
        .iter()
        .position(|w| w.name() == name)
        .unwrap_or(kernels::WorkloadKind::ALL.len())
}

/// Adds `name` to `list` if new, keeping the kernels' order first and first-seen order after.
pub fn insert_workload(list: &mut Vec<String>, name: &str) {
    if list.iter().any(|w| w == name) {
        return;
    }
    let rank = workload_rank(name);
    let at = list
        .iter()
        .position(|w| workload_rank(w) > rank)
        .unwrap_or(list.len());
    list.insert(at, name.to_string());
}

/// Which side of a comparison a missing workload is missing on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SideRole {
    Baseline,
    Challenger,
    /// Both sides have usable points of the workload but no point id in common.
    Both,
}

/// A workload that did not pair, on one side, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingWorkload {
    pub workload: String,
    pub side: SideRole,
    /// The instance type of that side (both sides' for [`SideRole::Both`]).
    pub instance: String,
    /// Why, e.g. "failed on p5.48xlarge (CUDA_ERROR_OUT_OF_MEMORY)".
    pub reason: String,
}

/// Workload coverage of one comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub workloads_paired: usize,
    pub workloads_total: usize,
    /// Paired workloads, in order.
    pub paired: Vec<String>,
    pub missing: Vec<MissingWorkload>,
}

impl Coverage {
    pub fn complete(&self) -> bool {
        self.workloads_paired == self.workloads_total
    }

    /// "coverage: 1 of 3 workloads paired; attention failed on p5.48xlarge (...), ..."
    pub fn sentence(&self) -> String {
        let mut s = format!(
            "coverage: {} of {} workloads paired",
            self.workloads_paired, self.workloads_total
        );
        if !self.missing.is_empty() {
            let parts: Vec<String> = self
                .missing
                .iter()
                .map(|m| format!("{} {}", m.workload, m.reason))
                .collect();
            s.push_str("; ");
            s.push_str(&parts.join(", "));
        }
        s
    }
}

/// A short phrase for why a record is unusable, naming the instance.
fn phrase(p: &PointRecord, instance: &str) -> String {
    let first_line = |r: &Option<String>| {
        let r = r.as_deref().unwrap_or("no reason recorded");
        let line = r.lines().next().unwrap_or("").trim();
        if line.chars().count() > 160 {
            format!("{}…", line.chars().take(160).collect::<String>())
        } else {
            line.to_string()
        }
    };
    if p.check.as_ref().is_some_and(|c| !c.passed) {
        return format!("failed its check on {instance}");
    }
    match p.status {
        Status::Failed => format!("failed on {instance} ({})", first_line(&p.reason)),
        Status::Skipped => format!("skipped on {instance} ({})", first_line(&p.reason)),
        Status::Ok => format!(
            "has no usable result on {instance} ({})",
            super::pairing::unusable(p).unwrap_or_default()
        ),
    }
}

/// Why a side has no usable point of `workload` (None when it has one).
fn side_reason(
    runs: &[LoadedRun],
    side: &SideRuns,
    workload: &str,
    usable: bool,
) -> Option<String> {
    if usable {
        return None;
    }
    let mut phrases: Vec<String> = Vec::new();
    for &r in &side.runs {
        for p in runs[r].run.points.iter().filter(|p| p.workload == workload) {
            let ph = phrase(p, &side.instance);
            if !phrases.contains(&ph) {
                phrases.push(ph);
            }
        }
    }
    Some(match phrases.len() {
        0 => format!("not run on {}", side.instance),
        1..=2 => phrases.join("; "),
        n => format!("{}; and {} other reasons", phrases[..2].join("; "), n - 2),
    })
}

/// The coverage of a comparison from both sides' records and the paired picks. Workloads with
/// a weight of 0 (`counted` says no) are not counted.
pub fn coverage(
    runs: &[LoadedRun],
    b: &SideRuns,
    c: &SideRuns,
    pairs: &[(Pick, Pick)],
    counted: impl Fn(&str) -> bool,
) -> Coverage {
    let mut total: Vec<String> = Vec::new();
    let mut usable_b: Vec<String> = Vec::new();
    let mut usable_c: Vec<String> = Vec::new();
    for (side, usable) in [(b, &mut usable_b), (c, &mut usable_c)] {
        for &r in &side.runs {
            let run = &runs[r].run;
            for p in &run.points {
                if counted(&p.workload) {
                    insert_workload(&mut total, &p.workload);
                    if super::pairing::unusable(p).is_none() {
                        insert_workload(usable, &p.workload);
                    }
                }
            }
        }
    }
    let mut paired: Vec<String> = Vec::new();
    for (x, _) in pairs {
        let w = &runs[x.run].run.points[x.point].workload;
        if counted(w) {
            insert_workload(&mut paired, w);
        }
    }
    let mut missing = Vec::new();
    for w in total.iter().filter(|w| !paired.contains(w)) {
        let (ub, uc) = (usable_b.contains(w), usable_c.contains(w));
        for (side, role, usable) in [(b, SideRole::Baseline, ub), (c, SideRole::Challenger, uc)] {
            if let Some(reason) = side_reason(runs, side, w, usable) {
                missing.push(MissingWorkload {
                    workload: w.clone(),
                    side: role,
                    instance: side.instance.clone(),
                    reason,
                });
            }
        }
        if ub && uc {
            missing.push(MissingWorkload {
                workload: w.clone(),
                side: SideRole::Both,
                instance: format!("{} and {}", b.instance, c.instance),
                reason: format!(
                    "has no point id usable on both {} and {} (run the same --param/--dtype on both)",
                    b.instance, c.instance
                ),
            });
        }
    }
    Coverage {
        workloads_paired: paired.len(),
        workloads_total: total.len(),
        paired,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_keep_the_kernels_order() {
        let mut v = Vec::new();
        for w in [
            "train-mlp",
            "yy-new",
            "matmul",
            "attention",
            "matmul",
            "zeta",
        ] {
            insert_workload(&mut v, w);
        }
        assert_eq!(v, ["matmul", "attention", "train-mlp", "yy-new", "zeta"]);
    }

    #[test]
    fn sentence_names_each_missing_workload() {
        let c = Coverage {
            workloads_paired: 1,
            workloads_total: 3,
            paired: vec!["matmul".into()],
            missing: vec![
                MissingWorkload {
                    workload: "attention".into(),
                    side: SideRole::Baseline,
                    instance: "p5".into(),
                    reason: "failed on p5 (CUDA_ERROR_OUT_OF_MEMORY)".into(),
                },
                MissingWorkload {
                    workload: "train-mlp".into(),
                    side: SideRole::Baseline,
                    instance: "p5".into(),
                    reason: "failed its check on p5".into(),
                },
            ],
        };
        assert!(!c.complete());
        assert_eq!(
            c.sentence(),
            "coverage: 1 of 3 workloads paired; attention failed on p5 (CUDA_ERROR_OUT_OF_MEMORY), train-mlp failed its check on p5"
        );
    }
}
