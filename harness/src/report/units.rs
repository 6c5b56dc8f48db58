//! Presentation units: one SI prefix per table column (chosen from the column's median, so a
//! column reads "PFLOP/$" or "M tokens/$" throughout), times in s/ms/µs/ns, and numbers with
//! about four significant digits. Pure; the model keeps base units.

/// A column's scale: values are divided by `factor` and the unit gets `prefix`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    pub factor: f64,
    pub prefix: &'static str,
}

const UP: [(f64, &str); 7] = [
    (1.0, ""),
    (1e3, "k"),
    (1e6, "M"),
    (1e9, "G"),
    (1e12, "T"),
    (1e15, "P"),
    (1e18, "E"),
];

const DOWN: [(f64, &str); 4] = [(1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")];

fn median(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut v: Vec<f64> = values.filter(|x| x.is_finite() && *x > 0.0).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// The largest prefix (1 to 1e18) that keeps the column's median at or above 1.
pub fn scale_up(values: impl Iterator<Item = f64>) -> Scale {
    let m = median(values).unwrap_or(1.0);
    let (factor, prefix) = UP
        .iter()
        .rev()
        .find(|(f, _)| m / f >= 1.0)
        .copied()
        .unwrap_or(UP[0]);
    Scale { factor, prefix }
}

/// Seconds: s, ms, µs or ns, whichever keeps the column's median at or above 1.
pub fn scale_time(values: impl Iterator<Item = f64>) -> Scale {
    let m = median(values).unwrap_or(1.0);
    let (factor, prefix) = DOWN
        .iter()
        .find(|(f, _)| m / f >= 1.0)
        .copied()
        .unwrap_or(DOWN[DOWN.len() - 1]);
    Scale { factor, prefix }
}

/// A perf-per-$ unit from the model ("TFLOP/$", "tokens/$") as (multiplier to its base unit,
/// base unit): "TFLOP/$" is 1e12 FLOP/$.
pub fn perf_base(unit: &str) -> (f64, String) {
    match unit.strip_prefix('T') {
        Some(rest) if rest.starts_with("FLOP") => (1e12, rest.to_string()),
        _ => (1.0, unit.to_string()),
    }
}

/// The unit with its prefix: "PFLOP/$" for FLOP, "M tokens/$" (with a space) for items.
pub fn label(scale: Scale, base: &str) -> String {
    if scale.prefix.is_empty() {
        base.to_string()
    } else if base.starts_with("FLOP") || base == "s" {
        format!("{}{base}", scale.prefix)
    } else {
        format!("{} {base}", scale.prefix)
    }
}

/// A number with about four significant digits, plain or in e-notation when large or tiny.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{x:.3e}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.3}")
    } else {
        format!("{x:.4}")
    }
}

/// Dollars: cents below $1000, whole dollars with thousands separators above.
pub fn usd(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    if x.abs() >= 1000.0 {
        let whole = format!("{:.0}", x.abs());
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{}${out}", if x < 0.0 { "-" } else { "" })
    } else if x.abs() >= 0.01 || x == 0.0 {
        format!("${x:.2}")
    } else {
        format!("${}", num(x))
    }
}

/// A ratio as a signed percentage difference from 1: 1.18 → "18% more", 0.9 → "10% less".
pub fn more_or_less(ratio: f64) -> String {
    let pct = (ratio - 1.0) * 100.0;
    if pct.abs() < 0.5 {
        "about the same".into()
    } else if pct > 0.0 {
        format!("{pct:.0}% more")
    } else {
        format!("{:.0}% less", -pct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_prefix_per_column_from_its_median() {
        let s = scale_up([3e14, 5e15, 7e15].into_iter());
        assert_eq!((s.factor, s.prefix), (1e15, "P"));
        assert_eq!(label(s, "FLOP/$"), "PFLOP/$");
        let s = scale_up([2.5e7, 1.2e8].into_iter());
        assert_eq!(label(s, "tokens/$"), "M tokens/$");
        assert_eq!(scale_up([0.5].into_iter()).prefix, "");
        assert_eq!(scale_up(std::iter::empty()).prefix, "");
        let t = scale_time([3.9e-6, 1.7e-4, 2.6e-3].into_iter());
        assert_eq!((t.factor, label(t, "s")), (1e-6, "µs".to_string()));
        assert_eq!(scale_time([2.0].into_iter()).prefix, "");
        assert_eq!(scale_time([1e-12].into_iter()).prefix, "n");
    }

    #[test]
    fn perf_units_reduce_to_their_base() {
        assert_eq!(perf_base("TFLOP/$"), (1e12, "FLOP/$".to_string()));
        assert_eq!(perf_base("tokens/$"), (1.0, "tokens/$".to_string()));
    }

    #[test]
    fn dollars_and_differences_read_plainly() {
        assert_eq!(usd(35.756), "$35.76");
        assert_eq!(usd(1234567.4), "$1,234,567");
        assert_eq!(usd(0.0004), "$4.000e-4");
        assert_eq!(more_or_less(1.18), "18% more");
        assert_eq!(more_or_less(0.9), "10% less");
        assert_eq!(more_or_less(1.001), "about the same");
    }
}
