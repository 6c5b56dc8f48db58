//! The claim arithmetic, pure and unit-tested: device share and cost of a point, the perf-per-
//! dollar ratio (challenger ÷ baseline) with a bootstrap 95% interval from both sides' raw
//! samples, the verdict by interval containment, the geometric mean over points with its own
//! bootstrap interval, break-even prices, and the ratio under a discount. No I/O.
//!
//! For one point both sides do the same work, so perf per $ = work ÷ cost and the ratio is
//! cost_baseline ÷ cost_challenger = (P_b · share_b · t_b) ÷ (P_c · share_c · t_c), with t the
//! median time per iteration and share = devices used ÷ devices in the instance.

use std::fmt;

use kernels::rng::Rng;
use serde::Serialize;

use super::resample::{percentile_95, percentile_95_bits, RankTables, SideDraws, TABLE_SIZE};

/// Bootstrap replicates per interval (the same count as the per-point timing intervals).
pub const RESAMPLES: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Supported,
    Refuted,
    Inconclusive,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Supported => "SUPPORTED",
            Verdict::Refuted => "REFUTED",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SUPPORTED when the whole interval is at or above the claim, REFUTED when it is entirely
/// below, INCONCLUSIVE otherwise.
pub fn verdict(ci_low: f64, ci_high: f64, claim: f64) -> Verdict {
    if ci_low >= claim {
        Verdict::Supported
    } else if ci_high < claim {
        Verdict::Refuted
    } else {
        Verdict::Inconclusive
    }
}

/// The fraction of an instance a point occupies.
pub fn device_share(devices_used: f64, devices_per_instance: f64) -> f64 {
    devices_used / devices_per_instance
}

/// Dollars for `seconds` of `share` of an instance priced `usd_per_hour`.
pub fn cost_usd(usd_per_hour: f64, share: f64, seconds: f64) -> f64 {
    usd_per_hour * share * seconds / 3600.0
}

/// One side of a pair: its samples sorted ascending, its price and device share.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub sorted_s: &'a [f64],
    pub usd_per_hour: f64,
    pub share: f64,
}

impl Side<'_> {
    pub fn median(&self) -> f64 {
        let n = self.sorted_s.len();
        (self.sorted_s[(n - 1) / 2] + self.sorted_s[n / 2]) * 0.5
    }

    fn dollars_per_hour_used(&self) -> f64 {
        self.usd_per_hour * self.share
    }
}

/// Perf-per-$ ratio challenger ÷ baseline from the medians.
pub fn point_ratio(baseline: &Side, challenger: &Side) -> f64 {
    (baseline.dollars_per_hour_used() * baseline.median())
        / (challenger.dollars_per_hour_used() * challenger.median())
}

/// A ratio with its bootstrap 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RatioCi {
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
}

/// The ratio and its percentile-bootstrap interval: each replicate resamples both sides' raw
/// samples independently and takes the ratio of the replicate medians. When `log_sums` is given
/// (length [`RESAMPLES`]), each replicate's ln(ratio) is added to its slot, for the geometric
/// mean's interval over many points.
pub fn ratio_ci(
    baseline: &Side,
    challenger: &Side,
    tables: &RankTables,
    rng: &mut Rng,
    log_sums: Option<&mut [f64]>,
) -> RatioCi {
    ratio_ci_in(baseline, challenger, tables, rng, log_sums, &mut Vec::new())
}

/// [`ratio_ci`] with a caller's scratch buffer for the replicates (no allocation per point).
/// Each replicate takes both sides' table entries from one 64-bit draw (12 bits each).
pub fn ratio_ci_in(
    baseline: &Side,
    challenger: &Side,
    tables: &RankTables,
    rng: &mut Rng,
    log_sums: Option<&mut [f64]>,
    reps: &mut Vec<u64>,
) -> RatioCi {
    let k = baseline.dollars_per_hour_used() / challenger.dollars_per_hour_used();
    let ln_k = k.ln();
    let db = SideDraws::new(baseline.sorted_s, tables.get(baseline.sorted_s.len()));
    let dc = SideDraws::new(challenger.sorted_s, tables.get(challenger.sorted_s.len()));
    const MASK: u64 = TABLE_SIZE as u64 - 1;
    let pick = |rng: &mut Rng| {
        let x = rng.next_u64();
        let (b, lb) = db.at((x & MASK) as usize);
        let (c, lc) = dc.at(((x >> 32) & MASK) as usize);
        (k * b / c, ln_k + lb - lc)
    };
    // Ratios are positive and finite (positive samples, prices and shares), so their bit
    // patterns sort like the values.
    reps.clear();
    match log_sums {
        Some(sums) => {
            for s in sums.iter_mut().take(RESAMPLES) {
                let (r, lr) = pick(rng);
                reps.push(r.to_bits());
                *s += lr;
            }
        }
        None => reps.extend((0..RESAMPLES).map(|_| pick(rng).0.to_bits())),
    }
    let (low, high) = percentile_95_bits(reps);
    RatioCi {
        ratio: point_ratio(baseline, challenger),
        low,
        high,
    }
}

/// Geometric mean of positive ratios.
pub fn geomean(ratios: &[f64]) -> f64 {
    (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp()
}

/// The geometric mean's bootstrap interval from per-replicate sums of ln(ratio) over `points`
/// paired points (every point's replicate r resampled its own timing samples).
pub fn geomean_ci(log_sums: &[f64], points: usize) -> (f64, f64) {
    let mut g: Vec<f64> = log_sums.iter().map(|s| (s / points as f64).exp()).collect();
    percentile_95(&mut g)
}

/// Prices at which the verdict changes, holding the other side's price fixed ($/h).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BreakEven {
    /// Challenger price at which the ratio equals the claim.
    pub challenger_at_claim: f64,
    /// SUPPORTED while the challenger costs at most this.
    pub challenger_supported_at_most: f64,
    /// REFUTED once the challenger costs more than this.
    pub challenger_refuted_above: f64,
    /// Baseline price at which the ratio equals the claim.
    pub baseline_at_claim: f64,
    /// SUPPORTED while the baseline costs at least this.
    pub baseline_supported_at_least: f64,
    /// REFUTED once the baseline costs less than this.
    pub baseline_refuted_below: f64,
}

/// The ratio scales as P_b ÷ P_c, so each threshold is the current price scaled by how far the
/// ratio (or an interval end) is from the claim.
pub fn break_even(r: &RatioCi, baseline_usd: f64, challenger_usd: f64, claim: f64) -> BreakEven {
    BreakEven {
        challenger_at_claim: challenger_usd * r.ratio / claim,
        challenger_supported_at_most: challenger_usd * r.low / claim,
        challenger_refuted_above: challenger_usd * r.high / claim,
        baseline_at_claim: baseline_usd * claim / r.ratio,
        baseline_supported_at_least: baseline_usd * claim / r.low,
        baseline_refuted_below: baseline_usd * claim / r.high,
    }
}

/// Which side a discount applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discounted {
    Baseline,
    Challenger,
}

/// A ratio (or interval end) when one side's price is cut by `discount` (0.2 = 20% off).
pub fn with_discount(ratio: f64, discount: f64, side: Discounted) -> f64 {
    match side {
        Discounted::Challenger => ratio / (1.0 - discount),
        Discounted::Baseline => ratio * (1.0 - discount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn verdict_by_interval_containment() {
        assert_eq!(verdict(1.30, 1.50, 1.30), Verdict::Supported);
        assert_eq!(verdict(1.31, 1.50, 1.30), Verdict::Supported);
        assert_eq!(verdict(1.10, 1.29, 1.30), Verdict::Refuted);
        assert_eq!(verdict(1.10, 1.30, 1.30), Verdict::Inconclusive);
        assert_eq!(verdict(1.20, 1.40, 1.30), Verdict::Inconclusive);
    }

    #[test]
    fn share_and_cost_by_hand() {
        // one LNC=2 NeuronCore of a Trainium2 chip on a 16-chip trn2.48xlarge at $40/h
        let share = device_share(0.25, 16.0);
        assert!(close(share, 0.015625));
        // 2 s of it: 40 * 0.015625 * 2 / 3600 = 0.000347222...
        assert!(close(cost_usd(40.0, share, 2.0), 1.25 / 3600.0));
        // one GPU of a p5.48xlarge ($55.04/h) for one hour: 6.88
        assert!(close(cost_usd(55.04, device_share(1.0, 8.0), 3600.0), 6.88));
    }

    #[test]
    fn ratio_by_hand() {
        // baseline: 1 of 8 GPUs at $55.04/h, median 2 ms; challenger: 1 of 16 chips at $32/h,
        // median 3 ms. cost_b = 6.88 * 0.002, cost_c = 2 * 0.003 -> ratio 0.01376/0.006
        let b = [0.001, 0.002, 0.003];
        let c = [0.003, 0.003, 0.004];
        let base = Side {
            sorted_s: &b,
            usd_per_hour: 55.04,
            share: 1.0 / 8.0,
        };
        let chal = Side {
            sorted_s: &c,
            usd_per_hour: 32.0,
            share: 1.0 / 16.0,
        };
        assert!(close(point_ratio(&base, &chal), 0.01376 / 0.006));
        // even count: median is the mean of the middle two
        let e = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(
            Side {
                sorted_s: &e,
                usd_per_hour: 1.0,
                share: 1.0
            }
            .median(),
            3.0
        );
    }

    #[test]
    fn constant_samples_give_a_zero_width_interval() {
        let b = vec![0.002; 12];
        let c = vec![0.001; 9];
        let mut t = RankTables::new(1);
        t.prepare([12, 9]);
        let base = Side {
            sorted_s: &b,
            usd_per_hour: 10.0,
            share: 1.0,
        };
        let chal = Side {
            sorted_s: &c,
            usd_per_hour: 10.0,
            share: 1.0,
        };
        let r = ratio_ci(&base, &chal, &t, &mut Rng::new(1), None);
        assert!(
            close(r.ratio, 2.0) && close(r.low, 2.0) && close(r.high, 2.0),
            "{r:?}"
        );
    }

    #[test]
    fn interval_from_both_sides_by_hand() {
        // Baseline samples {1, 3}: replicate medians 1, 2, 3 with p 1/4, 1/2, 1/4, so the 2.5%
        // and 97.5% points are 1 and 3. The challenger is constant 1, prices equal: CI [1, 3].
        let b = [1.0, 3.0];
        let c = [1.0; 5];
        let mut t = RankTables::new(3);
        t.prepare([2, 5]);
        let base = Side {
            sorted_s: &b,
            usd_per_hour: 2.0,
            share: 0.5,
        };
        let chal = Side {
            sorted_s: &c,
            usd_per_hour: 1.0,
            share: 1.0,
        };
        let r = ratio_ci(&base, &chal, &t, &mut Rng::new(8), None);
        assert_eq!((r.ratio, r.low, r.high), (2.0, 1.0, 3.0));
        assert_eq!(verdict(r.low, r.high, 1.3), Verdict::Inconclusive);
        // Swap roles: the challenger now varies, ratio = 1/median: CI [1/3, 1]
        let r = ratio_ci(&chal, &base, &t, &mut Rng::new(8), None);
        assert!(close(r.low, 1.0 / 3.0) && close(r.high, 1.0), "{r:?}");
        assert_eq!(verdict(r.low, r.high, 1.3), Verdict::Refuted);
    }

    #[test]
    fn geometric_mean_and_its_interval_by_hand() {
        assert!(close(geomean(&[2.0, 8.0]), 4.0));
        assert!(close(geomean(&[1.3]), 1.3));
        // Two constant pairs with ratios 2 and 8: every replicate's geomean is 4.
        let mut sums = vec![0.0; RESAMPLES];
        let mut t = RankTables::new(1);
        t.prepare([3]);
        let one = [1.0; 3];
        let two = [2.0; 3];
        let eight = [8.0; 3];
        for num in [&two, &eight] {
            let b = Side {
                sorted_s: num,
                usd_per_hour: 1.0,
                share: 1.0,
            };
            let c = Side {
                sorted_s: &one,
                usd_per_hour: 1.0,
                share: 1.0,
            };
            ratio_ci(&b, &c, &t, &mut Rng::new(2), Some(&mut sums));
        }
        let (lo, hi) = geomean_ci(&sums, 2);
        assert!(close(lo, 4.0) && close(hi, 4.0), "{lo} {hi}");
    }

    #[test]
    fn geomean_interval_covers_the_spread_of_noisy_points() {
        // One pair varies (baseline {1, 3} vs constant 1), one is constant at ratio 4:
        // geomean replicates are sqrt(1*4)=2, sqrt(2*4), sqrt(3*4): interval [2, sqrt 12].
        let mut sums = vec![0.0; RESAMPLES];
        let mut t = RankTables::new(5);
        t.prepare([2, 4]);
        let noisy = [1.0, 3.0];
        let one = [1.0; 4];
        let four = [4.0; 4];
        let side = |x: &[f64]| {
            Side {
                sorted_s: x,
                usd_per_hour: 1.0,
                share: 1.0,
            }
            .median()
        };
        assert_eq!(side(&noisy), 2.0);
        let pairs: [(&[f64], &[f64]); 2] = [(&noisy, &one[..2]), (&four, &one)];
        t.prepare([2]);
        for (b, c) in pairs {
            let b = Side {
                sorted_s: b,
                usd_per_hour: 1.0,
                share: 1.0,
            };
            let c = Side {
                sorted_s: c,
                usd_per_hour: 1.0,
                share: 1.0,
            };
            ratio_ci(&b, &c, &t, &mut Rng::new(6), Some(&mut sums));
        }
        let (lo, hi) = geomean_ci(&sums, 2);
        assert!(close(lo, 2.0) && close(hi, 12f64.sqrt()), "{lo} {hi}");
    }

    #[test]
    fn break_even_prices_by_hand() {
        // ratio 1.56 at P_b = 55.04, P_c = 30: the ratio scales as P_b / P_c.
        let r = RatioCi {
            ratio: 1.56,
            low: 1.43,
            high: 1.69,
        };
        let be = break_even(&r, 55.04, 30.0, 1.30);
        assert!(close(be.challenger_at_claim, 36.0));
        assert!(close(be.challenger_supported_at_most, 33.0));
        assert!(close(be.challenger_refuted_above, 39.0));
        assert!(close(be.baseline_at_claim, 55.04 * 1.3 / 1.56));
        assert!(close(be.baseline_supported_at_least, 55.04 * 1.3 / 1.43));
        // at the break-even challenger price the ratio is exactly the claim
        let at = RatioCi {
            ratio: r.ratio * 30.0 / be.challenger_at_claim,
            ..r
        };
        assert!(close(at.ratio, 1.30));
    }

    #[test]
    fn discounts_move_the_ratio_the_right_way() {
        assert!(close(with_discount(1.2, 0.25, Discounted::Challenger), 1.6));
        assert!(close(with_discount(1.2, 0.25, Discounted::Baseline), 0.9));
        assert_eq!(with_discount(1.2, 0.0, Discounted::Baseline), 1.2);
    }
}
