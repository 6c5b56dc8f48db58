//! Bootstrap replicates of a sample set's median, fast enough for reports over 100k points.
//!
//! Resampling n values with replacement from sorted data and taking the median only depends
//! on *which ranks* land in the middle: the replicate median is `(x[a] + x[b]) / 2` where `a`
//! and `b` are the lower and upper middle order statistics of n indices drawn uniformly from
//! `0..n` (a = b for odd n). [`RankTables`] draws [`TABLE_SIZE`] such rank pairs per sample
//! count n once (by direct resampling of indices), and each replicate of any side with n samples
//! picks one of them at random. This is the ordinary percentile bootstrap of the median with the
//! index draws shared across sides of equal n; the pick from the table is independent for every
//! side and replicate, so sides stay independent. Pure, no I/O.

use std::collections::HashMap;

use kernels::rng::Rng;

/// Rank pairs kept per sample count (a power of two: entries are picked with 12 random bits).
pub const TABLE_SIZE: usize = 4096;

/// [`TABLE_SIZE`] draws of the (lower, upper) middle ranks of a resample of n values, stored
/// as indices into the distinct rank pairs (few for small n), so a side's replicate values and
/// their logarithms can be computed once per distinct pair.
#[derive(Debug, Clone, PartialEq)]
pub struct RankTable {
    pub pairs: Vec<(u32, u32)>,
    pub entries: Vec<u32>,
}

impl RankTable {
    /// The rank pair of entry `e`.
    pub fn pair(&self, e: usize) -> (u32, u32) {
        self.pairs[self.entries[e] as usize]
    }
}

/// Rank tables per sample count.
#[derive(Debug, Default)]
pub struct RankTables {
    seed: u64,
    tables: HashMap<usize, RankTable>,
}

impl RankTables {
    pub fn new(seed: u64) -> Self {
        RankTables {
            seed,
            tables: HashMap::new(),
        }
    }

    /// The table for `n` samples (drawn on first use; deterministic for a seed).
    pub fn table(&mut self, n: usize) -> &RankTable {
        assert!(n > 0, "bootstrap of no samples");
        let seed = self.seed;
        self.tables.entry(n).or_insert_with(|| draw_table(n, seed))
    }

    /// Tables for every count in `ns`, so that later look-ups can share `&self` across threads.
    pub fn prepare(&mut self, ns: impl IntoIterator<Item = usize>) {
        for n in ns {
            self.table(n);
        }
    }

    /// A prepared table; panics if [`RankTables::prepare`] did not see `n`.
    pub fn get(&self, n: usize) -> &RankTable {
        self.tables
            .get(&n)
            .expect("rank table prepared for every sample count")
    }
}

fn draw_table(n: usize, seed: u64) -> RankTable {
    let raw = draw_pairs(n, seed);
    let mut index: HashMap<(u32, u32), u32> = HashMap::new();
    let mut pairs = Vec::new();
    let entries = raw
        .into_iter()
        .map(|p| {
            *index.entry(p).or_insert_with(|| {
                pairs.push(p);
                (pairs.len() - 1) as u32
            })
        })
        .collect();
    RankTable { pairs, entries }
}

fn draw_pairs(n: usize, seed: u64) -> Vec<(u32, u32)> {
    let mut rng = Rng::for_stream(seed, &format!("median-ranks/{n}"));
    if n == 1 {
        return vec![(0, 0); TABLE_SIZE];
    }
    let (k_lo, k_hi) = ((n - 1) / 2, n / 2);
    let mut counts = vec![0u32; n];
    (0..TABLE_SIZE)
        .map(|_| {
            counts.iter_mut().for_each(|c| *c = 0);
            for _ in 0..n {
                counts[rng.below(n as u64) as usize] += 1;
            }
            let (mut lo, mut hi) = (None, None);
            let mut seen = 0usize;
            for (i, &c) in counts.iter().enumerate() {
                seen += c as usize;
                if lo.is_none() && seen > k_lo {
                    lo = Some(i as u32);
                }
                if seen > k_hi {
                    hi = Some(i as u32);
                    break;
                }
            }
            (lo.unwrap_or(0), hi.unwrap_or(0))
        })
        .collect()
}

/// One bootstrap replicate of the median of `sorted` (ascending), using `table` for its n.
#[inline]
pub fn replicate_median(sorted: &[f64], table: &RankTable, rng: &mut Rng) -> f64 {
    let (a, b) = table.pair(rng.below(table.entries.len() as u64) as usize);
    (sorted[a as usize] + sorted[b as usize]) * 0.5
}

/// One side's possible replicate medians and their logarithms, computed once per distinct
/// rank pair, for drawing many replicates cheaply.
pub struct SideDraws<'a> {
    values: Vec<f64>,
    logs: Vec<f64>,
    entries: &'a [u32],
}

impl<'a> SideDraws<'a> {
    pub fn new(sorted: &[f64], table: &'a RankTable) -> Self {
        let values: Vec<f64> = table
            .pairs
            .iter()
            .map(|&(a, b)| (sorted[a as usize] + sorted[b as usize]) * 0.5)
            .collect();
        let logs = values.iter().map(|v| v.ln()).collect();
        SideDraws {
            values,
            logs,
            entries: &table.entries,
        }
    }

    /// A replicate median and its natural logarithm.
    #[inline]
    pub fn draw(&self, rng: &mut Rng) -> (f64, f64) {
        self.at(rng.below(self.entries.len() as u64) as usize)
    }

    /// The replicate of table entry `e` (< [`TABLE_SIZE`]) and its natural logarithm.
    #[inline]
    pub fn at(&self, e: usize) -> (f64, f64) {
        let p = self.entries[e] as usize;
        (self.values[p], self.logs[p])
    }
}

/// The 2.5% and 97.5% percentiles of `values` (reordered), as `stats::quantile_sorted` would
/// give on the sorted data, found by selection in linear time.
pub fn percentile_95(values: &mut [f64]) -> (f64, f64) {
    if values.iter().all(|v| v.is_finite() && *v >= 0.0) {
        // Non-negative finite doubles order like their bit patterns: select on integers.
        let mut bits: Vec<u64> = values.iter().map(|v| v.to_bits()).collect();
        return (
            quantile_bits(&mut bits, 0.025),
            quantile_bits(&mut bits, 0.975),
        );
    }
    (
        quantile_select(values, 0.025),
        quantile_select(values, 0.975),
    )
}

/// [`percentile_95`] of non-negative finite values given as their bit patterns (reordered).
pub fn percentile_95_bits(bits: &mut [u64]) -> (f64, f64) {
    (quantile_bits(bits, 0.025), quantile_bits(bits, 0.975))
}

fn quantile_bits(bits: &mut [u64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (bits.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, v_lo, rest) = bits.select_nth_unstable(lo);
    let v_lo = f64::from_bits(*v_lo);
    match rest.iter().min() {
        Some(&hi) if frac > 0.0 => v_lo + (f64::from_bits(hi) - v_lo) * frac,
        _ => v_lo,
    }
}

/// The q-quantile with linear interpolation (same definition as `stats::quantile_sorted`).
pub fn quantile_select(values: &mut [f64], q: f64) -> f64 {
    assert!(!values.is_empty(), "quantile of no data");
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    let (_, v_lo, rest) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let v_lo = *v_lo;
    if frac == 0.0 || rest.is_empty() {
        return v_lo;
    }
    let v_hi = rest.iter().copied().fold(f64::INFINITY, f64::min);
    v_lo + (v_hi - v_lo) * frac
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{bootstrap_ci, median_in_place, quantile_sorted, sorted};

    #[test]
    fn odd_and_even_counts_pick_middle_ranks() {
        let mut t = RankTables::new(1);
        assert_eq!(t.table(1).pairs, vec![(0, 0)]);
        assert_eq!(t.table(1).entries.len(), TABLE_SIZE);
        assert!(t.table(5).pairs.iter().all(|&(a, b)| a == b && a < 5));
        // even n: the upper middle rank is never below the lower one
        assert!(t.table(6).pairs.iter().all(|&(a, b)| a <= b && b < 6));
        assert!(t.table(6).pairs.iter().any(|&(a, b)| a < b));
        // SideDraws gives the same values as replicate_median for the same draws
        let x = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
        let table = t.table(6).clone();
        let d = SideDraws::new(&x, &table);
        let (mut r1, mut r2) = (Rng::new(5), Rng::new(5));
        for _ in 0..100 {
            let (v, l) = d.draw(&mut r1);
            assert_eq!(v, replicate_median(&x, &table, &mut r2));
            assert!((l - v.ln()).abs() < 1e-15);
        }
    }

    #[test]
    fn two_samples_give_the_hand_computed_distribution() {
        // Resampling {1, 3}: medians 1 (p 1/4), 2 (p 1/2), 3 (p 1/4).
        let mut t = RankTables::new(7);
        let table = t.table(2).clone();
        let mut rng = Rng::new(3);
        let x = [1.0, 3.0];
        let draws: Vec<f64> = (0..20_000)
            .map(|_| replicate_median(&x, &table, &mut rng))
            .collect();
        let share = |v: f64| draws.iter().filter(|&&d| d == v).count() as f64 / 20_000.0;
        assert!((share(1.0) - 0.25).abs() < 0.02, "{}", share(1.0));
        assert!((share(2.0) - 0.5).abs() < 0.02, "{}", share(2.0));
        assert!((share(3.0) - 0.25).abs() < 0.02, "{}", share(3.0));
    }

    #[test]
    fn matches_the_direct_bootstrap_of_the_median() {
        let mut rng = Rng::new(11);
        for n in [7usize, 10, 31] {
            let x = sorted(&(0..n).map(|_| 1.0 + rng.next_f64()).collect::<Vec<_>>());
            let direct = bootstrap_ci(&x, 20_000, 5, median_in_place);
            let mut t = RankTables::new(9);
            let table = t.table(n).clone();
            let mut r = Rng::new(2);
            let mut reps: Vec<f64> = (0..20_000)
                .map(|_| replicate_median(&x, &table, &mut r))
                .collect();
            let (lo, hi) = percentile_95(&mut reps);
            let spread = x[n - 1] - x[0];
            assert!(
                (lo - direct.0).abs() < 0.08 * spread,
                "n={n}: {lo} vs {}",
                direct.0
            );
            assert!(
                (hi - direct.1).abs() < 0.08 * spread,
                "n={n}: {hi} vs {}",
                direct.1
            );
        }
    }

    #[test]
    fn percentile_95_equals_sorted_quantiles() {
        let mut rng = Rng::new(12);
        for n in [1usize, 2, 7, 2000] {
            let v: Vec<f64> = (0..n).map(|_| 0.5 + rng.next_f64()).collect();
            let s = sorted(&v);
            let (lo, hi) = percentile_95(&mut v.clone());
            assert_eq!(
                (lo, hi),
                (quantile_sorted(&s, 0.025), quantile_sorted(&s, 0.975))
            );
            // negative values take the general path and agree too
            let neg: Vec<f64> = v.iter().map(|x| x - 1.0).collect();
            let sn = sorted(&neg);
            let (lo, hi) = percentile_95(&mut neg.clone());
            assert_eq!(
                (lo, hi),
                (quantile_sorted(&sn, 0.025), quantile_sorted(&sn, 0.975))
            );
        }
    }

    #[test]
    fn selection_quantiles_equal_sorted_quantiles() {
        let mut rng = Rng::new(4);
        for n in [1usize, 2, 3, 40, 2000] {
            let v: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
            let s = sorted(&v);
            for q in [0.0, 0.025, 0.5, 0.975, 1.0] {
                let mut w = v.clone();
                assert_eq!(
                    quantile_select(&mut w, q),
                    quantile_sorted(&s, q),
                    "n={n} q={q}"
                );
            }
        }
    }
}
