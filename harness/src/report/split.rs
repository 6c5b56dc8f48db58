//! One run file can hold records of several implementations of a point: bench's own, and a
//! backend's second implementation labelled in the record (`implementation: "nki"`, the Neuron
//! backend's NKI NEFFs). The report reads such a file as one run per implementation: the file's
//! own (records without a label) and, for each label, a run named `NAME [label]` whose
//! `backend.implementation` is the label and whose records are that label's. The best-of rule
//! (each side's fastest correctness-passing implementation of a point) then covers them like a
//! torch run beside a bench run, and every table names the implementation chosen.

use super::input::LoadedRun;

/// Each run, followed by one run per implementation label its records carry.
pub fn by_implementation(runs: Vec<LoadedRun>) -> Vec<LoadedRun> {
    let mut out = Vec::with_capacity(runs.len());
    for run in runs {
        let mut labels: Vec<String> = Vec::new();
        for p in &run.run.points {
            if let Some(l) = &p.implementation {
                if !labels.contains(l) {
                    labels.push(l.clone());
                }
            }
        }
        if labels.is_empty() {
            out.push(run);
            continue;
        }
        let part = |label: Option<&String>| {
            let mut r = run.clone();
            r.run.points.retain(|p| p.implementation.as_ref() == label);
            if let Some(l) = label {
                r.name = format!("{} [{l}]", run.name);
                r.run.backend.implementation = l.clone();
                r.run
                    .points
                    .iter_mut()
                    .for_each(|p| p.implementation = None);
            }
            r
        };
        let own = part(None);
        let rest: Vec<LoadedRun> = labels.iter().map(|l| part(Some(l))).collect();
        out.push(own);
        out.extend(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::devices::DeviceTable;
    use super::super::model::{build, Options};
    use super::super::prices::PriceTable;
    use super::*;

    use crate::report::input::fixture;

    #[test]
    fn an_nki_record_beside_bench_s_is_a_run_of_its_own_and_wins_where_faster() {
        let mut trn = fixture("neuron-trn2");
        let attn: Vec<_> = trn
            .run
            .points
            .iter()
            .filter(|p| p.workload == "attention" && p.stats.is_some())
            .cloned()
            .collect();
        assert!(!attn.is_empty(), "the fixture has a timed attention point");
        for mut p in attn.clone() {
            // the nki record is twice as fast on every sample
            p.samples_s.iter_mut().for_each(|s| *s *= 0.5);
            p.implementation = Some("nki".into());
            trn.run.points.push(p);
        }
        let n_own = trn.run.points.len() - attn.len();
        let runs = by_implementation(vec![fixture("cuda-p5"), trn]);
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[1].run.backend.implementation, "bench");
        assert_eq!(runs[1].run.points.len(), n_own);
        assert_eq!(runs[2].name, "neuron-trn2 [nki]");
        assert_eq!(runs[2].run.backend.implementation, "nki");
        assert_eq!(runs[2].run.points.len(), attn.len());
        assert!(runs[2]
            .run
            .points
            .iter()
            .all(|p| p.implementation.is_none()));

        let prices = PriceTable::builtin()
            .with_overrides(&["trn2.48xlarge=30".into()])
            .unwrap();
        let rep = build(&runs, &prices, &DeviceTable::builtin(), &Options::default()).unwrap();
        let c = &rep.comparisons[0];
        let mut checked = 0;
        for a in &attn {
            let Some(pair) = c.pairs.iter().find(|p| p.point_id == a.id) else {
                continue; // the GPU side did not run it
            };
            assert_eq!(pair.challenger_implementation, "nki", "{}", a.id);
            assert_eq!(pair.challenger_run, "neuron-trn2 [nki]");
            let bench_median = a.stats.as_ref().unwrap().median_s;
            assert!(
                (pair.challenger_median_s - 0.5 * bench_median).abs() < 0.05 * bench_median,
                "{} vs {bench_median}",
                pair.challenger_median_s
            );
            checked += 1;
        }
        assert!(
            checked > 0,
            "no attention point paired with the GPU fixture"
        );
        // everything else is still bench's own
        assert!(c
            .pairs
            .iter()
            .filter(|p| p.workload != "attention")
            .all(|p| p.challenger_implementation == "bench"));
    }

    #[test]
    fn a_skipped_nki_record_leaves_pairing_and_coverage_as_bench_s_alone() {
        let prices = PriceTable::builtin()
            .with_overrides(&["trn2.48xlarge=30".into()])
            .unwrap();
        let report = |runs: Vec<LoadedRun>| {
            build(
                &by_implementation(runs),
                &prices,
                &DeviceTable::builtin(),
                &Options::default(),
            )
            .unwrap()
        };
        let alone = report(vec![fixture("cuda-p5"), fixture("neuron-trn2")]);
        let mut trn = fixture("neuron-trn2");
        let mut skipped = trn
            .run
            .points
            .iter()
            .find(|p| p.workload == "attention")
            .unwrap()
            .clone();
        skipped.implementation = Some("nki".into());
        skipped.status = crate::schema::Status::Skipped;
        skipped.reason = Some("flash_fwd needs a sequence length divisible by 512".into());
        skipped.stats = None;
        skipped.samples_s.clear();
        trn.run.points.push(skipped);
        let with = report(vec![fixture("cuda-p5"), trn]);
        let (a, w) = (&alone.comparisons[0], &with.comparisons[0]);
        assert_eq!(a.pairs.len(), w.pairs.len());
        assert_eq!(a.coverage.complete(), w.coverage.complete());
        assert_eq!(a.coverage.workloads_paired, w.coverage.workloads_paired);
        assert_eq!(a.verdict, w.verdict);
        assert!(w
            .pairs
            .iter()
            .all(|p| p.challenger_implementation == "bench"));
        assert!(with
            .excluded
            .iter()
            .any(|e| e.run == "neuron-trn2 [nki]" && e.reason.contains("divisible by 512")));
    }

    #[test]
    fn a_run_without_labels_passes_through_unchanged() {
        let run = fixture("cuda-p5");
        let out = by_implementation(vec![run.clone()]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].run, run.run);
    }
}
