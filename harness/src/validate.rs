//! Range checks of a result file after it parses: every time, FLOP, byte and item figure and
//! every `devices_used` must be a positive, finite, normal number within generous physical
//! bounds (spreads like stdev and MAD may be zero), and point ids are unique within a run. A problem names its JSON path
//! (`points[3].devices_used`) and the point's id, so a report over many files says exactly
//! which value to fix. Pure: no I/O. `devices_used` against an instance's accelerator count
//! needs the price table and is [`check_devices`].

use std::collections::HashMap;

use crate::schema::{PointRecord, RunFile};

/// One out-of-range value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {what}{}", point.as_ref().map(|p| format!(" (point {p})")).unwrap_or_default())]
pub struct Invalid {
    /// JSON path of the value, e.g. `points[3].devices_used`.
    pub field: String,
    /// The id of the point it belongs to.
    pub point: Option<String>,
    pub what: String,
}

/// How a number may range: finite, normal (no subnormals), and within `lo..=hi`; zero too when
/// `zero` (spreads such as stdev). The bounds are far outside anything a real run records
/// (a picosecond to four months, a millionth of a chip to a million chips); they keep a
/// corrupted file from reaching the report's arithmetic and charts at all.
#[derive(Clone, Copy)]
struct Range {
    lo: f64,
    hi: f64,
    zero: bool,
    unit: &'static str,
}

/// Seconds: a sample, a statistic, a one-off cost.
const SECONDS: Range = Range {
    lo: 1e-12,
    hi: 1e7,
    zero: false,
    unit: " s",
};
/// A spread of seconds (stdev, MAD): zero when every sample was the same.
const SPREAD: Range = Range {
    zero: true,
    ..SECONDS
};
const DEVICES: Range = Range {
    lo: 1e-6,
    hi: 1e6,
    zero: false,
    unit: "",
};
const FLOPS: Range = Range {
    lo: 1e-3,
    hi: 1e30,
    zero: false,
    unit: "",
};
const BYTES: Range = Range {
    zero: true,
    ..FLOPS
};
const RATE: Range = Range {
    lo: 1e-12,
    hi: 1e27,
    zero: false,
    unit: " per s",
};
const FRACTION: Range = Range {
    lo: 1e-300,
    hi: 1e300,
    zero: false,
    unit: "",
};
/// An error measure: zero when the output matched exactly.
const ERROR: Range = Range {
    zero: true,
    ..FRACTION
};

fn describe(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        format!("{}infinite", if v < 0.0 { "-" } else { "" })
    } else if v == 0.0 || (1e-4..1e15).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

fn bad(v: f64, r: Range) -> Option<String> {
    let ok = (r.zero && v == 0.0) || (v.is_normal() && (r.lo..=r.hi).contains(&v));
    if ok {
        return None;
    }
    let why = if v.is_finite() && v != 0.0 && !v.is_normal() {
        " (subnormal)"
    } else {
        ""
    };
    let want = if r.zero {
        "zero or a positive, finite number"
    } else {
        "a positive, finite number"
    };
    let range = format!("{}..{}{}", describe(r.lo), describe(r.hi), r.unit);
    Some(format!(
        "is {}{why}: must be {want} in {range}",
        describe(v)
    ))
}

struct Checker<'a> {
    prefix: String,
    point: &'a str,
}

impl Checker<'_> {
    fn num(&self, name: &str, v: f64, range: Range) -> Result<(), Invalid> {
        match bad(v, range) {
            None => Ok(()),
            Some(what) => Err(Invalid {
                field: format!("{}.{name}", self.prefix),
                point: Some(self.point.to_string()),
                what,
            }),
        }
    }

    fn opt(&self, name: &str, v: Option<f64>, range: Range) -> Result<(), Invalid> {
        v.map_or(Ok(()), |v| self.num(name, v, range))
    }

    fn count(&self, name: &str, n: usize) -> Result<(), Invalid> {
        if n == 0 {
            return Err(Invalid {
                field: format!("{}.{name}", self.prefix),
                point: Some(self.point.to_string()),
                what: "is 0: must be at least 1".into(),
            });
        }
        Ok(())
    }
}

fn check_point(i: usize, p: &PointRecord) -> Result<(), Invalid> {
    let c = Checker {
        prefix: format!("points[{i}]"),
        point: &p.id,
    };
    if p.id.trim().is_empty() {
        return Err(Invalid {
            field: format!("points[{i}].id"),
            point: None,
            what: "is empty: every point needs its id".into(),
        });
    }
    c.num("flops", p.flops, FLOPS)?;
    c.num("bytes", p.bytes, BYTES)?;
    c.num("devices_used", p.devices_used, DEVICES)?;
    for (j, &s) in p.samples_s.iter().enumerate() {
        c.num(&format!("samples_s[{j}]"), s, SECONDS)?;
    }
    for (j, &s) in p.samples_wall_s.iter().enumerate() {
        c.num(&format!("samples_wall_s[{j}]"), s, SECONDS)?;
    }
    if let Some(s) = &p.stats {
        c.count("stats.n", s.n)?;
        c.num("stats.median_s", s.median_s, SECONDS)?;
        c.num("stats.mean_s", s.mean_s, SECONDS)?;
        c.num("stats.stdev_s", s.stdev_s, SPREAD)?;
        c.num("stats.mad_s", s.mad_s, SPREAD)?;
        c.num("stats.ci95_low_s", s.ci95_low_s, SECONDS)?;
        c.num("stats.ci95_high_s", s.ci95_high_s, SECONDS)?;
    }
    if let Some(t) = &p.throughput {
        c.num("throughput.flop_per_s", t.flop_per_s, RATE)?;
        c.num("throughput.items_per_s", t.items_per_s, RATE)?;
    }
    if let Some(k) = &p.check {
        c.num("check.tolerance", k.tolerance, FRACTION)?;
        c.opt("check.max_rel_err", k.max_rel_err, ERROR)?;
        c.opt("check.reference_s", k.reference_s, SECONDS)?;
    }
    c.opt("one_off_s.init", p.one_off_s.init, SECONDS)?;
    c.opt("one_off_s.load", p.one_off_s.load, SECONDS)?;
    c.opt("one_off_s.compile", p.one_off_s.compile, SECONDS)?;
    if let Some(t) = &p.train {
        if t.steps != t.losses.len() {
            return Err(Invalid {
                field: format!("points[{i}].train.steps"),
                point: Some(p.id.clone()),
                what: format!(
                    "is {} but train.losses holds {}: they must agree",
                    t.steps,
                    t.losses.len()
                ),
            });
        }
    }
    Ok(())
}

/// The first out-of-range value or repeated point id in a run (a second implementation's
/// record, `implementation: "nki"`, may share its id with bench's own record).
pub fn check_run(run: &RunFile) -> Result<(), Invalid> {
    let mut seen: HashMap<(&str, Option<&str>), usize> = HashMap::with_capacity(run.points.len());
    for (i, p) in run.points.iter().enumerate() {
        check_point(i, p)?;
        if let Some(l) = p.implementation.as_deref() {
            if l.is_empty() || l == run.backend.implementation {
                return Err(Invalid {
                    field: format!("points[{i}].implementation"),
                    point: Some(p.id.clone()),
                    what: format!(
                        "'{l}' must name a second implementation, not be empty or the run's own ('{}')",
                        run.backend.implementation
                    ),
                });
            }
        }
        if let Some(first) = seen.insert((p.id.as_str(), p.implementation.as_deref()), i) {
            return Err(Invalid {
                field: format!("points[{i}].id"),
                point: Some(p.id.clone()),
                what: format!(
                    "repeats points[{first}].id{}: a run holds each point once per implementation",
                    p.implementation
                        .as_deref()
                        .map(|i| format!(" for implementation {i}"))
                        .unwrap_or_default()
                ),
            });
        }
    }
    Ok(())
}

/// Every point's `devices_used` within the instance's `accelerators` (from the price table).
pub fn check_devices(run: &RunFile, instance: &str, accelerators: f64) -> Result<(), Invalid> {
    for (i, p) in run.points.iter().enumerate() {
        // A relative slack keeps sums of fractional cores (0.25 × 4) from tripping the check.
        if p.devices_used > accelerators * (1.0 + 1e-9) {
            return Err(Invalid {
                field: format!("points[{i}].devices_used"),
                point: Some(p.id.clone()),
                what: format!(
                    "is {} but {instance} has {} accelerators (price table): a point cannot use more than its instance has",
                    describe(p.devices_used),
                    describe(accelerators)
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_reject_zero_negative_non_finite_subnormal_and_absurd_values() {
        for v in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-310,
            1e-300,
            1e30,
        ] {
            assert!(bad(v, SECONDS).is_some(), "{v}");
        }
        for v in [-0.5, f64::NAN, 5e-324] {
            assert!(bad(v, SPREAD).is_some(), "{v}");
        }
        assert!(bad(0.0, SPREAD).is_none());
        assert!(bad(1e-9, SECONDS).is_none() && bad(3.5e4, SECONDS).is_none());
        assert!(bad(0.25, DEVICES).is_none() && bad(0.0, DEVICES).is_some());
        assert!(bad(1e-310, FLOPS).unwrap().contains("subnormal"));
        assert!(bad(f64::NAN, DEVICES).unwrap().contains("NaN"));
        assert_eq!(
            bad(0.0, DEVICES).unwrap(),
            "is 0: must be a positive, finite number in 1e-6..1000000"
        );
    }
}
