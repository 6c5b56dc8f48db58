//! Pure parsers of the report's command-line values: `--price TYPE=USD`, `--claim RATIO[-RATIO]`,
//! `--weights WORKLOAD=W[,..]`, `--job WORKLOAD=ITEMS`, `--instance-of RUN=TYPE` and
//! `--implementation bench|best|NAME`. Each takes the text as the user typed it and returns a
//! typed value or an [`ArgError`] whose message names the option, the value and what to write
//! instead (one line). No I/O and no knowledge of the runs: checks that need the runs (an
//! instance type no run uses, a workload no run has, an unknown run) are made when the report
//! is built (so is a mix that weighs every workload of the runs 0). These functions are the fuzz targets' entry points, so they never panic.

use std::fmt;

use serde::Serialize;

/// A bad command-line value: the option, the value as given, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{option} '{value}': {why}; {expected}")]
pub struct ArgError {
    pub option: &'static str,
    pub value: String,
    pub why: String,
    pub expected: &'static str,
}

const PRICE: &str = "expected TYPE=USD with a positive number of dollars per hour, e.g. --price trn2.48xlarge=35.76";
const CLAIM: &str = "expected a positive ratio of challenger to baseline perf per $, e.g. --claim 1.30, or a range, e.g. --claim 1.30-1.40";
const WEIGHTS: &str = "expected WORKLOAD=WEIGHT[,WORKLOAD=WEIGHT..] with weights >= 0, e.g. --weights matmul=1,attention=2";
const JOB: &str = "expected WORKLOAD=ITEMS with a positive count in the workload's unit (FLOP for matmul, tokens, samples), optionally with a k/M/G/T/P suffix, e.g. --job train-gpt=300G";
const INSTANCE_OF: &str =
    "expected RUN=TYPE (a run's directory name and an instance type), e.g. --instance-of cpu-run=c7i.4xlarge";
const IMPLEMENTATION: &str =
    "expected best (each side's fastest correct implementation), bench (bench's own kernels) or an implementation name such as torch";

fn err(
    option: &'static str,
    value: &str,
    why: impl Into<String>,
    expected: &'static str,
) -> ArgError {
    ArgError {
        option,
        value: value.to_string(),
        why: why.into(),
        expected,
    }
}

/// `--price TYPE=USD`: an instance type's price in dollars per hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceArg {
    pub instance: String,
    pub usd_per_hour: f64,
}

/// `--claim`: a claimed ratio, or a range `low-high` (a single value has low = high).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClaimArg {
    pub low: f64,
    pub high: f64,
}

/// `--job WORKLOAD=ITEMS`: an amount of work in the workload's unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobArg {
    pub workload: String,
    pub items: f64,
}

/// `--instance-of RUN=TYPE`: the instance type of a run that recorded none.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceOfArg {
    pub run: String,
    pub instance: String,
}

/// `--implementation`: which implementations of a point a side may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    /// The fastest correctness-passing implementation on each side (the default).
    #[default]
    Best,
    /// Only bench's own kernels.
    Bench,
    /// Only the named implementation (e.g. `torch`, `nki`).
    Named(String),
}

impl Implementation {
    /// Does a run of implementation `name` take part?
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Implementation::Best => true,
            Implementation::Bench => name == "bench",
            Implementation::Named(n) => name == n,
        }
    }
}

impl fmt::Display for Implementation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Implementation::Best => f.write_str("best"),
            Implementation::Bench => f.write_str("bench"),
            Implementation::Named(n) => f.write_str(n),
        }
    }
}

/// A name the report matches exactly (instance type, workload, run): non-empty, printable, no
/// spaces, `=` or `,`.
fn name_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        Some("the name is empty")
    } else if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("the name contains a space or control character")
    } else if s.contains(['=', ',']) {
        Some("the name contains '=' or ','")
    } else {
        None
    }
}

fn split_pair<'a>(
    s: &'a str,
    option: &'static str,
    expected: &'static str,
) -> Result<(&'a str, &'a str), ArgError> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| err(option, s, "there is no '='", expected))?;
    let (k, v) = (k.trim(), v.trim());
    if let Some(why) = name_problem(k) {
        return Err(err(option, s, why, expected));
    }
    if v.is_empty() {
        return Err(err(option, s, "the value after '=' is empty", expected));
    }
    Ok((k, v))
}

/// A finite number (no `inf`/`nan` spellings, no hex).
fn number(v: &str) -> Option<f64> {
    let ok = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'));
    if !ok {
        return None;
    }
    v.replace('_', "")
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
}

pub fn parse_price(s: &str) -> Result<PriceArg, ArgError> {
    let (k, v) = split_pair(s, "--price", PRICE)?;
    let usd = number(v.trim_start_matches('$'))
        .ok_or_else(|| err("--price", s, format!("'{v}' is not a number"), PRICE))?;
    if usd <= 0.0 {
        return Err(err("--price", s, "the price must be above 0", PRICE));
    }
    if !super::prices::USD_PER_HOUR.contains(&usd) {
        return Err(err(
            "--price",
            s,
            "no instance costs that much or that little (0.0001 to 1000000 $/h)",
            PRICE,
        ));
    }
    Ok(PriceArg {
        instance: k.to_string(),
        usd_per_hour: usd,
    })
}

pub fn parse_claim(s: &str) -> Result<ClaimArg, ArgError> {
    let t = s.trim();
    // A range is "a-b"; a leading '-' or an exponent's sign is not a range separator.
    let split = t
        .char_indices()
        .skip(1)
        .find(|&(i, c)| c == '-' && !matches!(t.as_bytes()[i - 1], b'e' | b'E'))
        .map(|(i, _)| i);
    let parse = |v: &str| {
        number(v.trim()).filter(|x| *x > 0.0).ok_or_else(|| {
            err(
                "--claim",
                s,
                format!("'{}' is not a positive number", v.trim()),
                CLAIM,
            )
        })
    };
    let (low, high) = match split {
        Some(i) => (parse(&t[..i])?, parse(&t[i + 1..])?),
        None => {
            let x = parse(t)?;
            (x, x)
        }
    };
    if low > high {
        return Err(err(
            "--claim",
            s,
            "the range's low end is above its high end",
            CLAIM,
        ));
    }
    Ok(ClaimArg { low, high })
}

/// Workload weights in the order given; a workload may appear once.
pub fn parse_weights(s: &str) -> Result<Vec<(String, f64)>, ArgError> {
    let mut out: Vec<(String, f64)> = Vec::new();
    if s.trim().is_empty() {
        return Err(err("--weights", s, "no weights given", WEIGHTS));
    }
    for part in s.split(',') {
        if part.trim().is_empty() {
            return Err(err(
                "--weights",
                s,
                "an entry between commas is empty",
                WEIGHTS,
            ));
        }
        let (k, v) = split_pair(part, "--weights", WEIGHTS).map_err(|e| ArgError {
            value: s.to_string(),
            why: format!("'{part}': {}", e.why),
            ..e
        })?;
        let w = number(v).ok_or_else(|| {
            err(
                "--weights",
                s,
                format!("weight '{v}' of {k} is not a number"),
                WEIGHTS,
            )
        })?;
        if w < 0.0 {
            return Err(err(
                "--weights",
                s,
                format!("weight {v} of {k} is negative"),
                WEIGHTS,
            ));
        }
        if out.iter().any(|(n, _)| n == k) {
            return Err(err("--weights", s, format!("{k} is given twice"), WEIGHTS));
        }
        out.push((k.to_string(), w));
    }
    Ok(out)
}

/// Several `--weights` options merged (a workload given in two of them is an error).
pub fn merge_weights(specs: &[String]) -> Result<Vec<(String, f64)>, ArgError> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for s in specs {
        for (k, w) in parse_weights(s)? {
            if out.iter().any(|(n, _)| *n == k) {
                return Err(err("--weights", s, format!("{k} is given twice"), WEIGHTS));
            }
            out.push((k, w));
        }
    }
    Ok(out)
}

pub fn parse_job(s: &str) -> Result<JobArg, ArgError> {
    let (k, v) = split_pair(s, "--job", JOB)?;
    let (digits, scale) = match v.chars().last() {
        Some('k') => (&v[..v.len() - 1], 1e3),
        Some('M') => (&v[..v.len() - 1], 1e6),
        Some('G') => (&v[..v.len() - 1], 1e9),
        Some('T') => (&v[..v.len() - 1], 1e12),
        Some('P') => (&v[..v.len() - 1], 1e15),
        _ => (v, 1.0),
    };
    let items = number(digits)
        .map(|x| x * scale)
        .filter(|x| x.is_finite())
        .ok_or_else(|| err("--job", s, format!("'{v}' is not a number"), JOB))?;
    if items <= 0.0 {
        return Err(err("--job", s, "the amount must be above 0", JOB));
    }
    Ok(JobArg {
        workload: k.to_string(),
        items,
    })
}

pub fn parse_instance_of(s: &str) -> Result<InstanceOfArg, ArgError> {
    let (k, v) = split_pair(s, "--instance-of", INSTANCE_OF)?;
    if let Some(why) = name_problem(v) {
        return Err(err(
            "--instance-of",
            s,
            format!("the instance type: {why}"),
            INSTANCE_OF,
        ));
    }
    Ok(InstanceOfArg {
        run: k.to_string(),
        instance: v.to_string(),
    })
}

pub fn parse_implementation(s: &str) -> Result<Implementation, ArgError> {
    match s.trim() {
        "best" => Ok(Implementation::Best),
        "bench" => Ok(Implementation::Bench),
        t => match name_problem(t) {
            Some(why) => Err(err("--implementation", s, why, IMPLEMENTATION)),
            None => Ok(Implementation::Named(t.to_string())),
        },
    }
}

/// Levenshtein distance (for "did you mean" suggestions), on chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The known names closest to `name` (at most `n`, nearest first, ties in the given order).
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>, n: usize) -> Vec<&'a str> {
    let mut scored: Vec<(usize, usize, &str)> = known
        .into_iter()
        .enumerate()
        .map(|(i, k)| (edit_distance(name, k), i, k))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.2 == b.2);
    scored.into_iter().take(n).map(|(_, _, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        assert_eq!(
            parse_price("trn2.48xlarge=35.76").unwrap(),
            PriceArg {
                instance: "trn2.48xlarge".into(),
                usd_per_hour: 35.76
            }
        );
        assert_eq!(
            parse_price(" p5.48xlarge = $40 ").unwrap().usd_per_hour,
            40.0
        );
        for (bad, why) in [
            ("trn2.48xlarge=cheap", "'cheap' is not a number"),
            ("trn2.48xlarge", "no '='"),
            ("=3", "empty"),
            ("x=-1", "above 0"),
            ("x=0", "above 0"),
            ("x=NaN", "not a number"),
            ("x=inf", "not a number"),
            ("x=1e999", "not a number"),
            ("a b=1", "space"),
            ("x=", "empty"),
        ] {
            let e = parse_price(bad).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(bad) && msg.contains(why), "{bad}: {msg}");
            assert!(msg.starts_with("--price '"), "{msg}");
            assert_eq!(msg.lines().count(), 1);
        }
    }

    #[test]
    fn claims_single_and_range() {
        assert_eq!(
            parse_claim("1.30").unwrap(),
            ClaimArg {
                low: 1.3,
                high: 1.3
            }
        );
        assert_eq!(
            parse_claim("1.3-1.4").unwrap(),
            ClaimArg {
                low: 1.3,
                high: 1.4
            }
        );
        assert_eq!(parse_claim("13e-1").unwrap().low, 1.3);
        assert_eq!(
            parse_claim("1e0-2e0").unwrap(),
            ClaimArg {
                low: 1.0,
                high: 2.0
            }
        );
        for bad in ["0", "-1", "abc", "1.4-1.3", "1.3-", "", "nan", "1.3-x"] {
            let e = parse_claim(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--claim '{bad}'")), "{e}");
        }
    }

    #[test]
    fn weights() {
        assert_eq!(
            parse_weights("matmul=1,attention=2").unwrap(),
            vec![("matmul".into(), 1.0), ("attention".into(), 2.0)]
        );
        assert_eq!(parse_weights("train-mlp=0,matmul=0.5").unwrap().len(), 2);
        for (bad, why) in [
            ("matmul=1,matmul=2", "twice"),
            ("matmul=-1", "negative"),
            ("matmul=x", "not a number"),
            ("matmul", "no '='"),
            ("matmul=1,", "empty"),
            ("", "no weights"),
        ] {
            let e = parse_weights(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(merge_weights(&["matmul=1".into(), "matmul=2".into()]).is_err());
        assert_eq!(
            merge_weights(&["matmul=1".into(), "attention=3".into()]).unwrap(),
            vec![("matmul".into(), 1.0), ("attention".into(), 3.0)]
        );
    }

    #[test]
    fn jobs_with_suffixes() {
        assert_eq!(
            parse_job("train-gpt=300G").unwrap(),
            JobArg {
                workload: "train-gpt".into(),
                items: 300e9
            }
        );
        assert_eq!(parse_job("matmul=1e18").unwrap().items, 1e18);
        assert_eq!(parse_job("attention=2.5k").unwrap().items, 2500.0);
        assert_eq!(parse_job("x=1_000").unwrap().items, 1000.0);
        for bad in [
            "matmul=0",
            "matmul=-5",
            "matmul=lots",
            "matmul",
            "=5",
            "matmul=1Q",
            "m=k",
        ] {
            let e = parse_job(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--job '{bad}'")), "{e}");
        }
    }

    #[test]
    fn instance_of_and_implementation() {
        assert_eq!(
            parse_instance_of("cpu-run=c7i.4xlarge").unwrap(),
            InstanceOfArg {
                run: "cpu-run".into(),
                instance: "c7i.4xlarge".into()
            }
        );
        assert!(parse_instance_of("cpu-run=").is_err());
        assert!(parse_instance_of("cpu-run=c7i 4xl").is_err());
        assert!(parse_instance_of("c7i.4xlarge").is_err());
        assert_eq!(parse_implementation("best").unwrap(), Implementation::Best);
        assert_eq!(
            parse_implementation("bench").unwrap(),
            Implementation::Bench
        );
        assert_eq!(
            parse_implementation("torch").unwrap(),
            Implementation::Named("torch".into())
        );
        assert!(parse_implementation("").is_err());
        assert!(Implementation::Best.allows("torch"));
        assert!(!Implementation::Bench.allows("torch"));
        assert!(Implementation::Named("torch".into()).allows("torch"));
    }

    #[test]
    fn suggestions_are_the_nearest_names() {
        assert_eq!(edit_distance("p5.48xlage", "p5.48xlarge"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let known = [
            "trn2.48xlarge",
            "p5.48xlarge",
            "p5en.48xlarge",
            "p5.4xlarge",
        ];
        assert_eq!(
            closest("p5.48xlage", known, 2),
            vec!["p5.48xlarge", "p5.4xlarge"]
        );
    }

    #[test]
    fn never_panics_on_odd_text() {
        for s in [
            "=", "==", "-", "--", "é=é", "a=1e", "a=.", "1-2-3", "\u{0}=1", "a=1,=,b",
        ] {
            let _ = parse_price(s);
            let _ = parse_claim(s);
            let _ = parse_weights(s);
            let _ = parse_job(s);
            let _ = parse_instance_of(s);
            let _ = parse_implementation(s);
        }
    }
}
