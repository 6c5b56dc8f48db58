//! The simulated machine, read from the environment at the first call:
//! - `NRT_SIM_INSTANCE=<family>.<size>` (e.g. `trn2.48xlarge`): what `nrt_get_instance_info`
//!   reports (default: family and size UNKNOWN, as a simulator is no instance). Families and
//!   sizes are the SDK 2.28 `nrt.h` enums' names in lower case (`trn2`, `trn1n`, `inf2`, ...;
//!   `48xlarge`, `3xlarge`, ...), plus RT 2.34's `trn2en` and `trn3e`.
//! - `NRT_SIM_INIT_US_PER_CORE=<µs>`: `nrt_init` spins that long per core it reserves, as the
//!   real one resets and waits for every core it takes (default 0).
//!
//! Read at each call, like the runtime's own: `NEURON_RT_VISIBLE_CORES` (`3`, `0-7`, `2,3`; a
//! contiguous range), the cores `nrt_init` reserves (default: every core), which
//! `nrt_get_visible_vnc_count` reports; and `NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS`, which
//! above 0 makes `nrt_execute` return after enqueueing, without waiting for the device time
//! (runtimes before 2.34; this stand-in reports 2.30).
//!
//! A malformed value is reported on stderr and makes `nrt_init` fail with NRT_INVALID, like
//! the fault-injection variables.

use std::sync::OnceLock;

/// `nrt_get_instance_info`'s family codes, by name (index = code).
const FAMILIES: &[&str] = &[
    "unknown",
    "inf1",
    "trn1",
    "trn1n",
    "inf2",
    "trn2",
    "trn2n",
    "inf2e",
    "trn2p",
    "trn2u",
    "trn2e",
    "trn2eu",
    "trn2ac",
    "trn2uac",
    "trn3",
    "trn3pds98",
    "trn2en",
    "trn3e",
];
/// Size codes, by name (index = code).
const SIZES: &[&str] = &[
    "xlarge", "2xlarge", "4xlarge", "6xlarge", "8xlarge", "24xlarge", "32xlarge", "48xlarge",
    "3xlarge", "unknown",
];
pub const SIZE_UNKNOWN: u32 = 9;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// `nrt_get_instance_info` family and size codes.
    pub family: u32,
    pub size: u32,
    pub init_us_per_core: u64,
    pub error: Option<String>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            family: 0,
            size: SIZE_UNKNOWN,
            init_us_per_core: 0,
            error: None,
        }
    }
}

fn parse_instance(v: &str) -> Result<(u32, u32), String> {
    let (fam, size) = v.split_once('.').ok_or(format!(
        "NRT_SIM_INSTANCE '{v}' is not <family>.<size> (e.g. trn2.48xlarge)"
    ))?;
    let code = |t: &[&str], x: &str, what: &str| {
        t.iter()
            .position(|n| n.eq_ignore_ascii_case(x))
            .map(|i| i as u32)
            .ok_or(format!(
                "NRT_SIM_INSTANCE '{v}': unknown {what} '{x}' (one of {})",
                t.join(", ")
            ))
    };
    Ok((code(FAMILIES, fam, "family")?, code(SIZES, size, "size")?))
}

pub fn parse(instance: Option<&str>, init_us: Option<&str>) -> Result<Machine, String> {
    let mut m = Machine::default();
    if let Some(v) = instance.filter(|s| !s.is_empty()) {
        (m.family, m.size) = parse_instance(v)?;
    }
    if let Some(v) = init_us.filter(|s| !s.is_empty()) {
        m.init_us_per_core = v
            .parse()
            .map_err(|_| format!("NRT_SIM_INIT_US_PER_CORE '{v}' is not a whole number of µs"))?;
    }
    Ok(m)
}

/// The cores `NEURON_RT_VISIBLE_CORES` names (count), checked against the `total` cores.
pub fn visible_cores(v: &str, total: u32) -> Result<u32, String> {
    let bad = || {
        format!(
            "NEURON_RT_VISIBLE_CORES '{v}' is not a contiguous core range within 0-{}",
            total.saturating_sub(1)
        )
    };
    let mut cores = Vec::new();
    for part in v.split(',') {
        let part = part.trim();
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u32, u32) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
        if a > b {
            return Err(bad());
        }
        cores.extend(a..=b);
    }
    cores.sort_unstable();
    let contiguous = cores.windows(2).all(|w| w[1] == w[0] + 1);
    match (cores.first(), cores.last()) {
        (Some(_), Some(&last)) if contiguous && last < total => Ok(cores.len() as u32),
        _ => Err(bad()),
    }
}

/// `NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS` > 0: implicit async execution.
pub fn async_exec() -> bool {
    std::env::var("NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

pub fn machine() -> &'static Machine {
    static M: OnceLock<Machine> = OnceLock::new();
    M.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok();
        parse(
            var("NRT_SIM_INSTANCE").as_deref(),
            var("NRT_SIM_INIT_US_PER_CORE").as_deref(),
        )
        .unwrap_or_else(|e| {
            eprintln!("nrt-sim: {e}");
            Machine {
                error: Some(e),
                ..Machine::default()
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_instance_into_header_codes() {
        let m = parse(Some("trn2.48xlarge"), Some("20")).unwrap();
        assert_eq!((m.family, m.size, m.init_us_per_core), (5, 7, 20));
        let m = parse(Some("trn1.2xlarge"), None).unwrap();
        assert_eq!((m.family, m.size), (2, 1));
        assert_eq!(parse(None, None).unwrap(), Machine::default());
    }

    #[test]
    fn rejects_unknown_instances() {
        assert!(parse(Some("trn2"), None).is_err());
        assert!(parse(Some("trn9.48xlarge"), None)
            .unwrap_err()
            .contains("family"));
        assert!(parse(Some("trn2.huge"), None).unwrap_err().contains("size"));
        assert!(parse(None, Some("slow")).is_err());
    }

    #[test]
    fn visible_cores_are_contiguous_ranges_within_the_total() {
        assert_eq!(visible_cores("3", 4), Ok(1));
        assert_eq!(visible_cores("0-7", 64), Ok(8));
        assert_eq!(visible_cores("2,3", 4), Ok(2));
        assert!(visible_cores("0,2", 4).is_err());
        assert!(visible_cores("0-4", 4).is_err());
        assert!(visible_cores("x", 4).is_err());
    }
}
