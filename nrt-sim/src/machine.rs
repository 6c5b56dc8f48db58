//! The simulated machine, read from the environment at the first call:
//! - `NRT_SIM_INSTANCE=<family>.<size>` (e.g. `trn2.48xlarge`): what `nrt_get_instance_info`
//!   reports (default: family and size UNKNOWN, as a simulator is no instance). Families and
//!   sizes are the SDK 2.28 `nrt.h` enums' names in lower case (`trn2`, `trn1n`, `inf2`, ...;
//!   `48xlarge`, `3xlarge`, ...), plus RT 2.34's `trn2en` and `trn3e`.
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
    pub error: Option<String>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            family: 0,
            size: SIZE_UNKNOWN,
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

pub fn parse(instance: Option<&str>) -> Result<Machine, String> {
    let mut m = Machine::default();
    if let Some(v) = instance.filter(|s| !s.is_empty()) {
        (m.family, m.size) = parse_instance(v)?;
    }
    Ok(m)
}

pub fn machine() -> &'static Machine {
    static M: OnceLock<Machine> = OnceLock::new();
    M.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok();
        parse(var("NRT_SIM_INSTANCE").as_deref()).unwrap_or_else(|e| {
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
        let m = parse(Some("trn2.48xlarge")).unwrap();
        assert_eq!((m.family, m.size), (5, 7));
        let m = parse(Some("trn1.2xlarge")).unwrap();
        assert_eq!((m.family, m.size), (2, 1));
        assert_eq!(parse(None).unwrap(), Machine::default());
    }

    #[test]
    fn rejects_unknown_instances() {
        assert!(parse(Some("trn2")).is_err());
        assert!(parse(Some("trn9.48xlarge")).unwrap_err().contains("family"));
        assert!(parse(Some("trn2.huge")).unwrap_err().contains("size"));
    }
}
