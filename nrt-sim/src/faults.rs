//! Fault injection, read from the environment at the first call:
//! - `NRT_SIM_FAIL=<symbol>:<nth call>:<status>[,..]`: the nth call (from 1) of that entry
//!   point returns that status (a number or a name like `NRT_RESOURCE`) and does nothing else.
//! - `NRT_SIM_NAN=<nth execute>[:silent]`: from that `nrt_execute` on, the first output
//!   element is NaN and the call returns NRT_EXEC_COMPLETED_WITH_NUM_ERR (as the device
//!   does), or success with `:silent` (so the caller's own NaN check is what catches it).
//! - `NRT_SIM_LATENCY_US=<µs>`: every `nrt_execute` spins that long before computing.
//! - `NRT_SIM_CORES=<n>`: visible NeuronCores (default 4).
//! - `NRT_SIM_COUNTS=<file>`: `nrt_close` writes there how many calls each entry point that
//!   can fail had, one `<symbol> <calls>` a line, so a test can enumerate every call position.
//!
//! A malformed variable is reported on stderr and makes `nrt_init` fail with NRT_INVALID.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::abi::STATUS_NAMES;

#[derive(Debug, Default)]
pub struct Config {
    /// (symbol, nth call) → status
    pub fail: HashMap<(String, u64), u32>,
    pub nan_from: Option<(u64, bool)>,
    pub latency_us: u64,
    pub cores: u32,
    pub error: Option<String>,
}

fn parse_status(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.parse::<u32>() {
        return Ok(n);
    }
    STATUS_NAMES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(s) || n[4..].eq_ignore_ascii_case(s))
        .map(|(c, _)| *c)
        .ok_or_else(|| format!("unknown status '{s}'"))
}

pub fn parse(
    fail: Option<&str>,
    nan: Option<&str>,
    latency: Option<&str>,
    cores: Option<&str>,
) -> Result<Config, String> {
    let mut c = Config {
        cores: 4,
        ..Default::default()
    };
    for item in fail
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.trim().is_empty())
    {
        let parts: Vec<&str> = item.trim().split(':').collect();
        let [sym, nth, status] = parts[..] else {
            return Err(format!(
                "NRT_SIM_FAIL item '{item}' is not <symbol>:<nth call>:<status>"
            ));
        };
        let nth: u64 = nth
            .parse()
            .ok()
            .filter(|&n| n >= 1)
            .ok_or(format!("NRT_SIM_FAIL item '{item}': nth call must be >= 1"))?;
        let status =
            parse_status(status).map_err(|e| format!("NRT_SIM_FAIL item '{item}': {e}"))?;
        c.fail.insert((sym.to_string(), nth), status);
    }
    if let Some(n) = nan.filter(|s| !s.is_empty()) {
        let (nth, silent) = match n.split_once(':') {
            Some((a, "silent")) => (a, true),
            Some(_) => return Err(format!("NRT_SIM_NAN '{n}' is not <nth>[:silent]")),
            None => (n, false),
        };
        let nth = nth
            .parse::<u64>()
            .ok()
            .filter(|&x| x >= 1)
            .ok_or(format!("NRT_SIM_NAN '{n}': nth execute must be >= 1"))?;
        c.nan_from = Some((nth, silent));
    }
    if let Some(l) = latency.filter(|s| !s.is_empty()) {
        c.latency_us = l
            .parse()
            .map_err(|_| format!("NRT_SIM_LATENCY_US '{l}' is not a whole number of µs"))?;
    }
    if let Some(n) = cores.filter(|s| !s.is_empty()) {
        c.cores = n
            .parse()
            .ok()
            .filter(|&x| x >= 1)
            .ok_or(format!("NRT_SIM_CORES '{n}' is not a positive number"))?;
    }
    Ok(c)
}

pub fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok();
        match parse(
            var("NRT_SIM_FAIL").as_deref(),
            var("NRT_SIM_NAN").as_deref(),
            var("NRT_SIM_LATENCY_US").as_deref(),
            var("NRT_SIM_CORES").as_deref(),
        ) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("nrt-sim: {e}");
                Config {
                    cores: 4,
                    error: Some(e),
                    ..Default::default()
                }
            }
        }
    })
}

fn counters() -> &'static Mutex<HashMap<&'static str, u64>> {
    static C: OnceLock<Mutex<HashMap<&'static str, u64>>> = OnceLock::new();
    C.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Counts a call of `symbol`; returns the call number (from 1).
pub fn count(symbol: &'static str) -> u64 {
    let mut c = counters().lock().unwrap_or_else(|p| p.into_inner());
    let n = c.entry(symbol).or_insert(0);
    *n += 1;
    *n
}

/// Writes the call counts to `NRT_SIM_COUNTS`, when set (at `nrt_close`); a write error is
/// reported on stderr.
pub fn write_counts() {
    let Some(path) = std::env::var_os("NRT_SIM_COUNTS") else {
        return;
    };
    let c = counters().lock().unwrap_or_else(|p| p.into_inner());
    let mut lines: Vec<String> = c.iter().map(|(s, n)| format!("{s} {n}\n")).collect();
    lines.sort();
    if let Err(e) = std::fs::write(&path, lines.concat()) {
        eprintln!("nrt-sim: NRT_SIM_COUNTS {}: {e}", path.to_string_lossy());
    }
}

/// Counts a call and returns the injected status for it, if any.
pub fn hit(symbol: &'static str) -> Option<u32> {
    let nth = count(symbol);
    let status = config().fail.get(&(symbol.to_string(), nth)).copied();
    if let Some(s) = status {
        eprintln!("nrt-sim: injected status {s} into call {nth} of {symbol}");
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_switches() {
        let c = parse(
            Some("nrt_load:2:NRT_RESOURCE, nrt_execute:1:1005,nrt_tensor_read:3:invalid"),
            Some("4:silent"),
            Some("25"),
            Some("8"),
        )
        .unwrap();
        assert_eq!(c.fail[&("nrt_load".into(), 2)], 4);
        assert_eq!(c.fail[&("nrt_execute".into(), 1)], 1005);
        assert_eq!(c.fail[&("nrt_tensor_read".into(), 3)], 2);
        assert_eq!(c.nan_from, Some((4, true)));
        assert_eq!((c.latency_us, c.cores), (25, 8));
    }

    #[test]
    fn rejects_malformed_values() {
        assert!(parse(Some("nrt_load:2"), None, None, None).is_err());
        assert!(parse(Some("nrt_load:0:1"), None, None, None).is_err());
        assert!(parse(Some("nrt_load:1:NRT_BOGUS"), None, None, None).is_err());
        assert!(parse(None, Some("x"), None, None).is_err());
        assert!(parse(None, None, Some("slow"), None).is_err());
        assert!(parse(None, None, None, Some("0")).is_err());
    }
}
