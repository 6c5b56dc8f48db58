//! Price scenarios and sensitivity. Every point's ratio, and so the overall ratio and each end
//! of its bootstrap interval, scales exactly as P_b ÷ P_c (the price is a constant factor in
//! every replicate). So each combination of the two instance types' price rows (every purchase
//! model and region of the table, plus a `--price`) gets its ratio, interval and verdict by
//! scaling the comparison's, and the sensitivity data (the chart's) sweeps one side's price
//! from 40% off to 60% more. Pure.

use serde::Serialize;

use super::claims::{judge, Claim};
use super::prices::{PriceTable, Priced};
use super::verdict::{RatioCi, Verdict};

/// One price a side can be bought at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceOption {
    pub purchase_model: String,
    pub region: String,
    pub usd_per_hour: f64,
    pub source: String,
    pub as_of: String,
}

/// Every priced row of an instance in the table, then the user's `--price` (if any).
pub fn price_options(prices: &PriceTable, instance: &str) -> Vec<PriceOption> {
    let mut out: Vec<PriceOption> = prices
        .rows
        .iter()
        .filter(|r| r.instance == instance)
        .filter_map(|r| {
            r.usd_per_hour.map(|usd| PriceOption {
                purchase_model: r.purchase_model.clone(),
                region: r.region.clone(),
                usd_per_hour: usd,
                source: r.source.clone(),
                as_of: r.as_of.clone(),
            })
        })
        .collect();
    if let Some(&usd) = prices.overrides.get(instance) {
        out.push(PriceOption {
            purchase_model: "user --price".into(),
            region: String::new(),
            usd_per_hour: usd,
            source: "command line".into(),
            as_of: "this report".into(),
        });
    }
    out
}

/// The comparison's ratio at another pair of prices.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub baseline_purchase_model: String,
    pub baseline_region: String,
    pub baseline_usd_per_hour: f64,
    pub baseline_source: String,
    pub challenger_purchase_model: String,
    pub challenger_region: String,
    pub challenger_usd_per_hour: f64,
    pub challenger_source: String,
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
    /// None when the pair has no claim.
    pub verdict: Option<Verdict>,
    /// These are the prices the comparison's headline uses.
    pub headline: bool,
}

/// A ratio and interval measured at (pb, pc), moved to (qb, qc).
pub fn rescale(r: &RatioCi, pb: f64, pc: f64, qb: f64, qc: f64) -> RatioCi {
    let k = (qb / pb) * (pc / qc);
    RatioCi {
        ratio: r.ratio * k,
        low: r.low * k,
        high: r.high * k,
    }
}

/// How a scenario's verdict is reached: against the claim, unless the coverage rule already
/// makes every verdict of the comparison INCONCLUSIVE.
#[derive(Debug, Clone, Copy)]
pub struct Judging<'a> {
    pub claim: Option<&'a Claim>,
    pub coverage_forces_inconclusive: bool,
}

impl Judging<'_> {
    pub fn verdict(&self, r: &RatioCi) -> Option<Verdict> {
        let claim = self.claim?;
        Some(if self.coverage_forces_inconclusive {
            Verdict::Inconclusive
        } else {
            judge(r.low, r.high, claim)
        })
    }
}

/// Every combination of the two sides' price options.
pub fn scenarios(
    overall: &RatioCi,
    baseline: &Priced,
    challenger: &Priced,
    b_options: &[PriceOption],
    c_options: &[PriceOption],
    judging: Judging,
) -> Vec<Scenario> {
    let mut out = Vec::with_capacity(b_options.len() * c_options.len());
    let is_headline = |o: &PriceOption, p: &Priced| {
        o.usd_per_hour == p.usd_per_hour && o.purchase_model == p.purchase_model
    };
    for b in b_options {
        for c in c_options {
            let r = rescale(
                overall,
                baseline.usd_per_hour,
                challenger.usd_per_hour,
                b.usd_per_hour,
                c.usd_per_hour,
            );
            out.push(Scenario {
                baseline_purchase_model: b.purchase_model.clone(),
                baseline_region: b.region.clone(),
                baseline_usd_per_hour: b.usd_per_hour,
                baseline_source: b.source.clone(),
                challenger_purchase_model: c.purchase_model.clone(),
                challenger_region: c.region.clone(),
                challenger_usd_per_hour: c.usd_per_hour,
                challenger_source: c.source.clone(),
                ratio: r.ratio,
                low: r.low,
                high: r.high,
                verdict: judging.verdict(&r),
                headline: is_headline(b, baseline) && is_headline(c, challenger),
            });
        }
    }
    out
}

/// One step of the sensitivity sweep: a side's price and the comparison's ratio there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SensitivityRow {
    /// Price change on that side: -0.4 is 40% off, 0.6 is 60% more.
    pub change: f64,
    pub usd_per_hour: f64,
    pub ratio: f64,
    pub low: f64,
    pub high: f64,
    pub verdict: Option<Verdict>,
}

/// The data behind the sensitivity chart: the ratio as each side's price moves (the other held),
/// and the prices where the ratio and each interval end meet the claim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sensitivity {
    pub challenger: Vec<SensitivityRow>,
    pub baseline: Vec<SensitivityRow>,
}

/// Price changes swept, in steps of 5%: from 40% off to 60% more.
pub const CHANGES: std::ops::RangeInclusive<i32> = -8..=12;

pub fn sensitivity(
    overall: &RatioCi,
    baseline_usd: f64,
    challenger_usd: f64,
    judging: Judging,
) -> Sensitivity {
    let sweep = |challenger_side: bool| {
        CHANGES
            .map(|step| {
                let change = step as f64 * 0.05;
                let (qb, qc, usd) = if challenger_side {
                    let q = challenger_usd * (1.0 + change);
                    (baseline_usd, q, q)
                } else {
                    let q = baseline_usd * (1.0 + change);
                    (q, challenger_usd, q)
                };
                let r = rescale(overall, baseline_usd, challenger_usd, qb, qc);
                SensitivityRow {
                    change,
                    usd_per_hour: usd,
                    ratio: r.ratio,
                    low: r.low,
                    high: r.high,
                    verdict: judging.verdict(&r),
                }
            })
            .collect()
    };
    Sensitivity {
        challenger: sweep(true),
        baseline: sweep(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::claims::ClaimOrigin;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
    }

    fn priced(usd: f64, model: &str) -> Priced {
        Priced {
            instance: "x".into(),
            usd_per_hour: usd,
            accelerator: String::new(),
            accelerators_per_instance: 8.0,
            purchase_model: model.into(),
            region: "r".into(),
            source: "s".into(),
            as_of: "d".into(),
        }
    }

    fn option(usd: f64, model: &str) -> PriceOption {
        PriceOption {
            purchase_model: model.into(),
            region: "r".into(),
            usd_per_hour: usd,
            source: "s".into(),
            as_of: "d".into(),
        }
    }

    #[test]
    fn scenarios_scale_the_ratio_by_the_price_ratio() {
        // measured at p5 on-demand 55.04 vs trn2 35.76: ratio 1.2 [1.1, 1.3]
        let r = RatioCi {
            ratio: 1.2,
            low: 1.1,
            high: 1.3,
        };
        let claim = Claim {
            low: 1.3,
            high: 1.3,
            origin: ClaimOrigin::Table,
            quote: String::new(),
            source: String::new(),
        };
        let judging = Judging {
            claim: Some(&claim),
            coverage_forces_inconclusive: false,
        };
        let b = [option(55.04, "on-demand"), option(39.33, "capacity-block")];
        let c = [option(23.06, "spot"), option(35.76, "user --price")];
        let s = scenarios(
            &r,
            &priced(55.04, "on-demand"),
            &priced(35.76, "user --price"),
            &b,
            &c,
            judging,
        );
        assert_eq!(s.len(), 4);
        // p5 capacity block vs trn2 spot: 1.2 · (39.33 / 55.04) · (35.76 / 23.06)
        let k = 39.33 / 55.04 * 35.76 / 23.06;
        let cb_spot = &s[2];
        assert_eq!(
            (
                cb_spot.baseline_purchase_model.as_str(),
                cb_spot.challenger_purchase_model.as_str()
            ),
            ("capacity-block", "spot")
        );
        assert!(close(cb_spot.ratio, 1.2 * k) && close(cb_spot.low, 1.1 * k));
        assert!(close(cb_spot.high, 1.3 * k));
        assert_eq!(cb_spot.verdict, Some(Verdict::Inconclusive)); // [1.22, 1.44]
                                                                  // on-demand vs spot: 1.1 · 35.76 / 23.06 = 1.706 >= 1.3
        assert_eq!(s[0].verdict, Some(Verdict::Supported));
        // the headline pair, unchanged
        assert!(s[1].headline && close(s[1].ratio, 1.2));
        assert_eq!(s[1].verdict, Some(Verdict::Inconclusive)); // high end 1.3 is not < 1.3
                                                               // p5 capacity block vs trn2 at 35.76: [1.1, 1.3] · 0.7146 lies below 1.3
        assert_eq!(s[3].verdict, Some(Verdict::Refuted));
        assert_eq!(s.iter().filter(|x| x.headline).count(), 1);
        // the coverage rule and a missing claim carry over
        let forced = Judging {
            coverage_forces_inconclusive: true,
            ..judging
        };
        assert_eq!(forced.verdict(&r), Some(Verdict::Inconclusive));
        let none = Judging {
            claim: None,
            coverage_forces_inconclusive: false,
        };
        assert_eq!(none.verdict(&r), None);
    }

    #[test]
    fn sensitivity_sweeps_discounts_and_increases() {
        let r = RatioCi {
            ratio: 1.5,
            low: 1.4,
            high: 1.6,
        };
        let j = Judging {
            claim: None,
            coverage_forces_inconclusive: false,
        };
        let s = sensitivity(&r, 50.0, 30.0, j);
        assert_eq!(s.challenger.len(), 21);
        let first = &s.challenger[0];
        assert!(close(first.change, -0.4) && close(first.usd_per_hour, 18.0));
        assert!(close(first.ratio, 1.5 / 0.6));
        let last = s.baseline.last().unwrap();
        assert!(close(last.change, 0.6) && close(last.usd_per_hour, 80.0));
        assert!(close(last.ratio, 1.5 * 1.6) && close(last.low, 1.4 * 1.6));
        let zero = &s.challenger[8];
        assert_eq!(zero.change, 0.0);
        assert!(close(zero.ratio, 1.5));
    }
}
