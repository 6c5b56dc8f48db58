//! Statistics of timing samples: median, mean, standard deviation, MAD, a bootstrap 95%
//! confidence interval of the median, Tukey-fence outliers, and the cheap order-statistic
//! interval the sampler uses as its stopping rule. Pure functions, no I/O.

use kernels::rng::Rng;

/// Summary statistics of a sample set, in the samples' unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub mean: f64,
    pub stdev: f64,
    pub mad: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub outliers: usize,
}

/// Bootstrap resamples used for reported intervals.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The q-quantile (0 ≤ q ≤ 1) of sorted data, linearly interpolated.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of no data");
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// The median (one formula everywhere: see [`median_in_place`]).
pub fn median(samples: &[f64]) -> f64 {
    median_in_place(&mut samples.to_vec())
}

/// Median absolute deviation (unscaled).
pub fn mad(samples: &[f64]) -> f64 {
    let m = median(samples);
    let dev: Vec<f64> = samples.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// Samples outside the Tukey fences [q1 − 1.5·IQR, q3 + 1.5·IQR].
pub fn tukey_outliers(samples: &[f64]) -> usize {
    let s = sorted(samples);
    let (q1, q3) = (quantile_sorted(&s, 0.25), quantile_sorted(&s, 0.75));
    let iqr = q3 - q1;
    let (lo, hi) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
    s.iter().filter(|&&x| x < lo || x > hi).count()
}

/// Percentile bootstrap interval of any statistic of resampled data.
pub fn bootstrap_ci<F>(samples: &[f64], resamples: usize, seed: u64, mut stat: F) -> (f64, f64)
where
    F: FnMut(&mut [f64]) -> f64,
{
    let n = samples.len();
    if n < 2 {
        let v = stat(&mut samples.to_vec());
        return (v, v);
    }
    let mut rng = Rng::new(seed);
    let mut buf = vec![0.0; n];
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| {
            for slot in buf.iter_mut() {
                *slot = samples[rng.below(n as u64) as usize];
            }
            stat(&mut buf)
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    (
        quantile_sorted(&stats, 0.025),
        quantile_sorted(&stats, 0.975),
    )
}

/// The median of a scratch buffer, reordering it (linear time).
pub fn median_in_place(buf: &mut [f64]) -> f64 {
    let n = buf.len();
    let mid = n / 2;
    let (_, hi, _) = buf.select_nth_unstable_by(mid, f64::total_cmp);
    let hi = *hi;
    if n % 2 == 1 {
        hi
    } else {
        let lo = buf[..mid].iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        (lo + hi) / 2.0
    }
}

/// Everything the result file records about a sample set.
pub fn summarize(samples: &[f64], seed: u64) -> Summary {
    assert!(!samples.is_empty(), "summary of no samples");
    let n = samples.len();
    let mean = samples.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        0.0
    };
    let (ci95_low, ci95_high) = bootstrap_ci(samples, BOOTSTRAP_RESAMPLES, seed, median_in_place);
    Summary {
        n,
        median: median(samples),
        mean,
        stdev: var.sqrt(),
        mad: mad(samples),
        ci95_low,
        ci95_high,
        outliers: tukey_outliers(samples),
    }
}

/// Distribution-free 95% interval of the median from order statistics (normal approximation
/// of the binomial), as (low, high). Cheap enough to evaluate while sampling.
pub fn median_ci_order_stats(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    if n < 3 {
        return (sorted[0], sorted[n - 1]);
    }
    let half = 1.96 * (n as f64).sqrt() / 2.0;
    let lo = ((n as f64 / 2.0 - half).floor().max(0.0)) as usize;
    let hi = ((n as f64 / 2.0 + half).ceil() as usize).min(n - 1);
    (sorted[lo], sorted[hi])
}

/// Half-width of the median's interval relative to the median (the sampler's noise measure).
pub fn relative_ci_halfwidth(samples: &[f64]) -> f64 {
    let s = sorted(samples);
    let (lo, hi) = median_ci_order_stats(&s);
    let m = quantile_sorted(&s, 0.5);
    if m <= 0.0 {
        return f64::INFINITY;
    }
    (hi - lo) / 2.0 / m
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_computed_values() {
        let x = [1.0, 2.0, 3.0, 4.0, 100.0];
        assert_eq!(median(&x), 3.0);
        assert_eq!(mad(&x), 1.0);
        assert_eq!(tukey_outliers(&x), 1);
        let s = summarize(&x, 1);
        assert_eq!(s.mean, 22.0);
        assert!(
            (s.stdev
                - (((21f64.powi(2)
                    + 20f64.powi(2)
                    + 19f64.powi(2)
                    + 18f64.powi(2)
                    + 78f64.powi(2))
                    / 4.0)
                    .sqrt()))
            .abs()
                < 1e-9
        );
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median_in_place(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn constant_samples_have_zero_width() {
        let x = vec![5.0; 50];
        let s = summarize(&x, 3);
        assert_eq!(
            (s.median, s.ci95_low, s.ci95_high, s.mad, s.stdev),
            (5.0, 5.0, 5.0, 0.0, 0.0)
        );
        assert_eq!(relative_ci_halfwidth(&x), 0.0);
    }

    #[test]
    fn interval_narrows_with_more_samples() {
        let mut rng = kernels::rng::Rng::new(9);
        let small: Vec<f64> = (0..20).map(|_| 1.0 + rng.next_f64()).collect();
        let large: Vec<f64> = (0..2000).map(|_| 1.0 + rng.next_f64()).collect();
        assert!(relative_ci_halfwidth(&large) < relative_ci_halfwidth(&small));
        let s = summarize(&large, 1);
        assert!(s.ci95_high - s.ci95_low < 0.1);
        assert!((s.median - 1.5).abs() < 0.05);
    }

    proptest! {
        #[test]
        fn median_lies_within_its_intervals_and_range(mut x in proptest::collection::vec(0.001f64..10.0, 1..200)) {
            let s = summarize(&x, 7);
            let min = x.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            prop_assert!(min <= s.ci95_low && s.ci95_low <= s.median + 1e-12);
            prop_assert!(s.median <= s.ci95_high + 1e-12 && s.ci95_high <= max);
            prop_assert!(s.stdev >= 0.0 && s.mad >= 0.0 && s.outliers <= x.len());
            let sorted_x = sorted(&x);
            let (lo, hi) = median_ci_order_stats(&sorted_x);
            prop_assert!(lo <= s.median && s.median <= hi);
            prop_assert_eq!(median_in_place(&mut x), s.median);
        }

        #[test]
        fn statistics_scale_with_the_data(x in proptest::collection::vec(0.001f64..10.0, 2..100), k in 0.1f64..100.0) {
            let a = summarize(&x, 3);
            let scaled: Vec<f64> = x.iter().map(|v| v * k).collect();
            let b = summarize(&scaled, 3);
            prop_assert!((b.median - a.median * k).abs() <= 1e-9 * b.median.abs().max(1.0));
            prop_assert!((b.mad - a.mad * k).abs() <= 1e-9 * b.mad.abs().max(1.0));
            prop_assert!((b.ci95_low - a.ci95_low * k).abs() <= 1e-9 * b.ci95_low.abs().max(1.0));
            prop_assert_eq!(a.outliers, b.outliers);
        }
    }
}
