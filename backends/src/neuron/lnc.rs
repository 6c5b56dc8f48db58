//! The logical NeuronCore config (LNC) a run uses, and how many chips one runtime core is.
//! Pure logic over facts gathered before `nrt_init`: the instance family and size
//! (`nrt_get_instance_info`), the core count the runtime reports (`nrt_get_total_vnc_count`),
//! the chips present (`/dev/neuron*`, else the instance size), `NEURON_LOGICAL_NC_CONFIG` and
//! `/opt/aws/neuron/logical_nc_config` (where AWS's EKS setup writes it).
//!
//! The runtime's own count wins: on trn2, 8 physical NeuronCore-v3 per chip × chips ÷ the
//! logical cores the runtime reports is the LNC it runs (a trn2.48xlarge shows 64 cores at
//! LNC 2, 128 at LNC 1). The variable and the file are cross-checked against it, and used
//! only when the count cannot settle it. The source of the value is recorded.

/// Where the LNC value came from, and what disagreed with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lnc {
    pub value: u32,
    pub source: String,
    /// Cross-check findings (a variable or file that disagrees with the runtime's count).
    pub notes: Vec<String>,
}

/// What [`detect`] reads.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    /// `trn2`, `trn1n`, ... (the instance's family, else the NEFFs' target).
    pub family: &'a str,
    /// `48xlarge`, ... when `nrt_get_instance_info` said so.
    pub size: Option<&'a str>,
    /// Logical cores on the instance, from `nrt_get_total_vnc_count`.
    pub total_cores: u32,
    /// Neuron devices (chips) seen in /dev; `None` when not looked at (a simulator).
    pub dev_chips: Option<u32>,
    /// `NEURON_LOGICAL_NC_CONFIG`, when set.
    pub env: Option<&'a str>,
    /// The contents of `/opt/aws/neuron/logical_nc_config`, when it exists.
    pub file: Option<&'a str>,
}

pub const LNC_FILE: &str = "/opt/aws/neuron/logical_nc_config";
pub const LNC_VAR: &str = "NEURON_LOGICAL_NC_CONFIG";

/// Whether the family has logical cores (two physical cores per runtime core at LNC 2).
/// trn3 is assumed to count like trn2 (8 physical cores per chip, LNC 1 or 2): unverified.
pub fn has_lnc(family: &str) -> bool {
    family.starts_with("trn2") || family.starts_with("trn3")
}

/// Physical NeuronCores per chip: 8 NeuronCore-v3 on Trainium2 (trn3 assumed the same,
/// unverified), 2 NeuronCore-v2 on Trainium1 and Inferentia2.
pub fn physical_per_chip(family: &str) -> u32 {
    if has_lnc(family) {
        8
    } else {
        2
    }
}

/// Chips in an instance of this family and size, where AWS documents it (trn2.48xlarge: 16
/// Trainium2; trn2.3xlarge: 1; trn1(n).32xlarge: 16; trn1.2xlarge: 1; inf2 xlarge/8xlarge: 1,
/// 24xlarge: 6, 48xlarge: 12). `None` for anything else (trn3 sizes among them).
pub fn chips_in_instance(family: &str, size: &str) -> Option<u32> {
    let gen = family.get(..4)?;
    match (gen, size) {
        ("trn2", "48xlarge") => Some(16),
        ("trn2", "3xlarge") => Some(1),
        ("trn1", "32xlarge") => Some(16),
        ("trn1", "2xlarge") => Some(1),
        ("inf2", "xlarge") | ("inf2", "8xlarge") => Some(1),
        ("inf2", "24xlarge") => Some(6),
        ("inf2", "48xlarge") => Some(12),
        _ => None,
    }
}

/// The chips present and how that is known.
pub fn chips(facts: &Facts<'_>) -> Option<(u32, String)> {
    if let Some(n) = facts.dev_chips.filter(|&n| n > 0) {
        return Some((n, format!("{n} /dev/neuron* devices")));
    }
    let size = facts.size?;
    chips_in_instance(facts.family, size)
        .map(|n| (n, format!("{n} chips in a {}.{size}", facts.family)))
}

fn parse(what: &str, v: &str) -> Result<u32, String> {
    match v.trim() {
        "1" => Ok(1),
        "2" => Ok(2),
        other => Err(format!("{what} is '{other}': LNC must be 1 or 2")),
    }
}

/// Why the run cannot start: a configured value that is not an LNC and nothing to override it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: set {LNC_VAR}=1 or 2 (or unset it), or fix {LNC_FILE}")]
pub struct LncError(String);

/// The LNC of the run: the runtime's count where it settles it, else the variable, else the
/// file, else trn2's default (2). trn1 and inf2 have no logical cores (LNC 1).
pub fn detect(facts: &Facts<'_>) -> Result<Lnc, LncError> {
    if !has_lnc(facts.family) {
        return Ok(Lnc {
            value: 1,
            source: format!(
                "{}: one physical NeuronCore per runtime core (no logical core config)",
                facts.family
            ),
            notes: Vec::new(),
        });
    }
    let env = facts.env.map(|v| parse(&format!("{LNC_VAR}={v}"), v));
    let file = facts.file.map(|v| parse(LNC_FILE, v));
    let mut notes = Vec::new();
    let derived = chips(facts).and_then(|(n, how)| {
        let phys = physical_per_chip(facts.family) * n;
        let total = facts.total_cores;
        match (total > 0 && phys.is_multiple_of(total)).then(|| phys / total) {
            Some(l @ (1 | 2)) => Some((
                l,
                format!(
                    "runtime: {} physical cores per chip × {how} ÷ {total} cores from nrt_get_total_vnc_count",
                    physical_per_chip(facts.family)
                ),
            )),
            _ => {
                notes.push(format!(
                    "the runtime reports {total} cores, which fits no LNC on {phys} physical cores ({how})"
                ));
                None
            }
        }
    });
    if let Some((value, source)) = derived {
        for (what, v) in [(LNC_VAR, &env), (LNC_FILE, &file)] {
            match v {
                Some(Ok(x)) if *x != value => notes.push(format!(
                    "{what} says {x}, but the runtime's core count means LNC {value}: the runtime's count is used"
                )),
                Some(Err(e)) => notes.push(format!("{e} (ignored: the runtime's count is used)")),
                _ => {}
            }
        }
        return Ok(Lnc {
            value,
            source,
            notes,
        });
    }
    let (value, source) = match (env, file) {
        (Some(Err(e)), _) => return Err(LncError(e)),
        (Some(Ok(v)), f) => {
            if let Some(Ok(fv)) = f {
                if fv != v {
                    notes.push(format!(
                        "{LNC_FILE} says {fv}, but {LNC_VAR}={v} takes precedence"
                    ));
                }
            }
            (v, LNC_VAR.to_string())
        }
        (None, Some(Err(e))) => return Err(LncError(e)),
        (None, Some(Ok(v))) => (v, LNC_FILE.to_string()),
        (None, None) => (
            2,
            format!("default: {} runs LNC 2 unless configured", facts.family),
        ),
    };
    Ok(Lnc {
        value,
        source,
        notes,
    })
}

/// Chips one runtime core occupies: LNC/8 on trn2 (0.25 at LNC 2, 0.125 at LNC 1), 0.5 on
/// trn1 and inf2.
pub fn chips_per_core(family: &str, lnc: u32) -> f64 {
    if has_lnc(family) {
        lnc.max(1) as f64 / physical_per_chip(family) as f64
    } else {
        1.0 / physical_per_chip(family) as f64
    }
}

/// Neuron devices under /dev (`neuron0`, `neuron1`, ...), one per chip.
pub fn dev_chips() -> Option<u32> {
    let n = std::fs::read_dir("/dev")
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix("neuron")
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
        })
        .count();
    Some(n as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trn2(total: u32) -> Facts<'static> {
        Facts {
            family: "trn2",
            size: Some("48xlarge"),
            total_cores: total,
            ..Default::default()
        }
    }

    #[test]
    fn the_runtime_count_settles_lnc_on_a_trn2_48xlarge() {
        let l = detect(&trn2(64)).unwrap();
        assert_eq!(l.value, 2);
        assert!(l.source.contains("16 chips") && l.source.contains("64"));
        let l = detect(&trn2(128)).unwrap();
        assert_eq!(l.value, 1);
        assert!(l.notes.is_empty());
    }

    #[test]
    fn a_disagreeing_variable_or_file_is_noted_not_used() {
        let f = Facts {
            env: Some("2"),
            file: Some("2\n"),
            ..trn2(128)
        };
        let l = detect(&f).unwrap();
        assert_eq!(l.value, 1);
        assert_eq!(l.notes.len(), 2, "{:?}", l.notes);
        assert!(l.notes[0].contains(LNC_VAR));
        assert!(l.notes[1].contains(LNC_FILE));
    }

    #[test]
    fn without_a_count_the_variable_then_the_file_then_the_default() {
        let unknown = Facts {
            family: "trn2",
            total_cores: 4,
            ..Default::default()
        };
        assert_eq!(detect(&unknown).unwrap().value, 2);
        assert!(detect(&unknown).unwrap().source.starts_with("default"));
        let file = Facts {
            file: Some("1\n"),
            ..unknown.clone()
        };
        let l = detect(&file).unwrap();
        assert_eq!((l.value, l.source.as_str()), (1, LNC_FILE));
        let both = Facts {
            env: Some("2"),
            ..file.clone()
        };
        let l = detect(&both).unwrap();
        assert_eq!((l.value, l.source.as_str()), (2, LNC_VAR));
        assert!(l.notes[0].contains("precedence"));
        let bad = Facts {
            env: Some("4"),
            ..unknown.clone()
        };
        let e = detect(&bad).unwrap_err().to_string();
        assert!(
            e.contains("NEURON_LOGICAL_NC_CONFIG=4") && e.contains("1 or 2"),
            "{e}"
        );
    }

    #[test]
    fn an_odd_count_falls_back_and_says_why() {
        let l = detect(&trn2(4)).unwrap();
        assert_eq!(l.value, 2);
        assert!(l.notes[0].contains("fits no LNC"), "{:?}", l.notes);
    }

    #[test]
    fn dev_devices_count_before_the_size_table() {
        let f = Facts {
            dev_chips: Some(2),
            ..trn2(16)
        };
        let l = detect(&f).unwrap();
        assert_eq!(l.value, 1);
        assert!(l.source.contains("/dev/neuron"));
    }

    #[test]
    fn trn1_has_no_logical_cores() {
        let f = Facts {
            family: "trn1",
            env: Some("2"),
            ..Default::default()
        };
        assert_eq!(detect(&f).unwrap().value, 1);
    }

    #[test]
    fn chips_per_core_follow_lnc() {
        assert_eq!(chips_per_core("trn2", 2), 0.25);
        assert_eq!(chips_per_core("trn2", 1), 0.125);
        assert_eq!(chips_per_core("trn1", 1), 0.5);
        assert_eq!(chips_per_core("inf2", 1), 0.5);
    }
}
