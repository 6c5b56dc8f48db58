//! The bootstrap of every paired point of a comparison on all cores: each pair's ratio interval
//! and, per workload group, the per-replicate sums of ln(ratio) that the weighted overall
//! interval is built from. Work is cut in fixed-size chunks merged in order, so the result does
//! not depend on the core count.

use kernels::rng::Rng;

use super::resample::RankTables;
use super::verdict::{ratio_ci_in, RatioCi, Side, RESAMPLES};

/// One pair to bootstrap.
pub struct PairJob<'a> {
    pub b: Side<'a>,
    pub c: Side<'a>,
    /// The comparison's seed and the point id seed this pair's bootstrap stream.
    pub seed: u64,
    pub id: &'a str,
    /// Index of the pair's workload group.
    pub group: usize,
}

type ChunkOut = (Vec<RatioCi>, Vec<Vec<f64>>);

/// Ratio intervals for every job, and per group the per-replicate sums of ln(ratio).
pub fn run_jobs(
    jobs: &[PairJob],
    groups: usize,
    tables: &RankTables,
) -> (Vec<RatioCi>, Vec<Vec<f64>>) {
    const CHUNK: usize = 256;
    let chunks: Vec<&[PairJob]> = jobs.chunks(CHUNK).collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(chunks.len().max(1));
    let mut results: Vec<Option<ChunkOut>> = vec![None; chunks.len()];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let chunks = &chunks;
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for (ci, chunk) in chunks.iter().enumerate().skip(t).step_by(threads) {
                        let mut sums: Vec<Vec<f64>> = vec![Vec::new(); groups];
                        let mut scratch = Vec::with_capacity(RESAMPLES);
                        let cis = chunk
                            .iter()
                            .map(|j| {
                                let s = &mut sums[j.group];
                                if s.is_empty() {
                                    s.resize(RESAMPLES, 0.0);
                                }
                                let mut rng = Rng::for_stream(j.seed, j.id);
                                ratio_ci_in(&j.b, &j.c, tables, &mut rng, Some(s), &mut scratch)
                            })
                            .collect();
                        mine.push((ci, (cis, sums)));
                    }
                    mine
                })
            })
            .collect();
        for h in handles {
            for (ci, r) in h.join().expect("bootstrap worker") {
                results[ci] = Some(r);
            }
        }
    });
    let mut all = Vec::with_capacity(jobs.len());
    let mut sums = vec![vec![0.0; RESAMPLES]; groups];
    for (cis, s) in results.into_iter().flatten() {
        all.extend(cis);
        for (total, part) in sums.iter_mut().zip(s) {
            for (a, b) in total.iter_mut().zip(part) {
                *a += b;
            }
        }
    }
    (all, sums)
}
