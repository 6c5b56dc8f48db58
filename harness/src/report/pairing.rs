//! Which runs are compared and which points pair up. A run is a baseline or a challenger when
//! its backend kind, instance type or name matches the selector (`--baseline`, default cuda;
//! `--challenger`, default neuron). Simulated runs never take part. Points pair by id when both
//! sides are ok, passed their check and have samples; everything else is listed with a reason.
//! Pure over the loaded records.

use std::collections::HashMap;

use serde::Serialize;

use super::input::LoadedRun;
use crate::schema::{PointRecord, Status};

/// Does a selector pick this run? Matches the backend kind, the instance type, the run's name
/// or its path (exact, or a name that contains it).
pub fn selects(selector: &str, run: &LoadedRun) -> bool {
    let r = &run.run;
    r.backend.kind == selector
        || r.host.instance_type.as_deref() == Some(selector)
        || run.name == selector
        || run.path.display().to_string() == selector
        || (selector.len() >= 3 && run.name.contains(selector))
}

/// Why a point cannot be used, or None when it can.
pub fn unusable(p: &PointRecord) -> Option<String> {
    match p.status {
        Status::Failed => {
            return Some(format!(
                "failed: {}",
                p.reason.as_deref().unwrap_or("no reason recorded")
            ))
        }
        Status::Skipped => {
            return Some(format!(
                "skipped: {}",
                p.reason.as_deref().unwrap_or("no reason recorded")
            ))
        }
        Status::Ok => {}
    }
    if p.check.as_ref().is_some_and(|c| !c.passed) {
        return Some("correctness check did not pass".into());
    }
    if p.samples_s.is_empty() {
        return Some("no timing samples".into());
    }
    if p.samples_s.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Some("a timing sample is not a positive number".into());
    }
    if !(p.devices_used.is_finite() && p.devices_used > 0.0) {
        return Some(format!("devices_used {} is not positive", p.devices_used));
    }
    None
}

/// A point left out of a comparison, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unpaired {
    pub point_id: String,
    pub reason: String,
}

/// The pairing of two runs: indices of paired points (baseline, challenger) in point order of
/// the baseline run, then the challenger's extras, and the points left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pairing {
    pub pairs: Vec<(usize, usize)>,
    pub unpaired: Vec<Unpaired>,
}

fn first_index(points: &[PointRecord]) -> HashMap<&str, usize> {
    let mut m = HashMap::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        m.entry(p.id.as_str()).or_insert(i);
    }
    m
}

pub fn pair(baseline: &LoadedRun, challenger: &LoadedRun) -> Pairing {
    let (bp, cp) = (&baseline.run.points, &challenger.run.points);
    let (bi, ci) = (first_index(bp), first_index(cp));
    let mut out = Pairing::default();
    let describe = |side: &LoadedRun, p: Option<&PointRecord>| match p {
        None => format!("not run in {}", side.name),
        Some(p) => format!("{} in {}", unusable(p).unwrap_or_default(), side.name),
    };
    for (i, p) in bp.iter().enumerate() {
        if bi.get(p.id.as_str()) != Some(&i) {
            continue;
        }
        let other = ci.get(p.id.as_str()).map(|&j| (j, &cp[j]));
        match (unusable(p), other) {
            (None, Some((j, q))) if unusable(q).is_none() => out.pairs.push((i, j)),
            (None, other) => out.unpaired.push(Unpaired {
                point_id: p.id.clone(),
                reason: describe(challenger, other.map(|(_, q)| q)),
            }),
            (Some(_), _) => out.unpaired.push(Unpaired {
                point_id: p.id.clone(),
                reason: describe(baseline, Some(p)),
            }),
        }
    }
    for (j, q) in cp.iter().enumerate() {
        if ci.get(q.id.as_str()) != Some(&j) || bi.contains_key(q.id.as_str()) {
            continue;
        }
        out.unpaired.push(Unpaired {
            point_id: q.id.clone(),
            reason: match unusable(q) {
                None => format!("not run in {}", baseline.name),
                Some(_) => describe(challenger, Some(q)),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::input::fixture;

    #[test]
    fn selectors_match_kind_instance_or_name() {
        let gpu = fixture("cuda-p5");
        assert!(selects("cuda", &gpu));
        assert!(selects("p5.48xlarge", &gpu));
        assert!(selects("cuda-p5", &gpu));
        assert!(!selects("neuron", &gpu));
        assert!(!selects("p5", &gpu) || gpu.name.contains("p5"));
    }

    #[test]
    fn pairs_by_id_and_lists_the_rest_with_reasons() {
        let (b, c) = (fixture("cuda-p5"), fixture("neuron-trn2"));
        let pr = pair(&b, &c);
        assert_eq!(pr.pairs.len(), 5);
        for &(i, j) in &pr.pairs {
            assert_eq!(b.run.points[i].id, c.run.points[j].id);
        }
        let reasons: Vec<(&str, &str)> = pr
            .unpaired
            .iter()
            .map(|u| (u.point_id.as_str(), u.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons
            .iter()
            .any(|(id, r)| id.ends_with("1024/f32") && r.starts_with("failed")));
        assert!(reasons
            .iter()
            .any(|(id, r)| id.contains("8192") && r.starts_with("not run in neuron-trn2")));
        assert!(reasons
            .iter()
            .any(|(id, r)| id.ends_with("fp8_e4m3") && r.starts_with("skipped")));
    }

    #[test]
    fn unusable_points_are_never_paired() {
        let b = fixture("cuda-p5");
        let mut c = fixture("cuda-p5");
        c.name = "copy".into();
        c.run.points[0].check.as_mut().unwrap().passed = false;
        c.run.points[1].samples_s.clear();
        c.run.points[2].samples_s[0] = f64::NAN;
        c.run.points.push(c.run.points[3].clone()); // duplicate id: the first one counts
        let pr = pair(&b, &c);
        assert_eq!(pr.pairs.len(), b.run.points.len() - 3);
        assert_eq!(pr.unpaired.len(), 3);
        assert!(pr.unpaired[0].reason.contains("check did not pass"));
        assert!(pr.unpaired[1].reason.contains("no timing samples"));
        assert!(pr.unpaired[2].reason.contains("not a positive number"));
    }
}
