//! Slurm: the sbatch script of a target (pure: `#SBATCH` lines for one node-exclusive job, the
//! environment, the optional Neuron build step and the ordinary bench command), submitting it
//! with `sbatch --parsable`, and reading job states from `squeue` (jobs the controller still
//! holds) and `sacct` (older ones, where accounting is on).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::spec::Target;
use super::state::{sacct_exit_code, slurm_wait_status, JobState, Phase};
use super::tools::{self, ToolError};

/// Everything a target's script says.
pub struct Script<'a> {
    pub fleet_id: &'a str,
    pub fleet_file: &'a str,
    pub target: &'a Target,
    /// Where the log goes; `%j` is the job id.
    pub log: &'a Path,
    /// Steps before the run (program and arguments), e.g. the NEFF build.
    pub steps: &'a [Vec<String>],
    /// The bench binary and its arguments.
    pub command: &'a [String],
}

/// The sbatch script.
pub fn script(s: &Script) -> String {
    let t = s.target;
    let mut out = String::from("#!/bin/bash\n");
    out += &format!(
        "# bench fleet: target {} of fleet {}, written by `bench fleet submit {}`.\n",
        t.name, s.fleet_id, s.fleet_file
    );
    out += "# One node-exclusive job running an ordinary bench command into the shared results path.\n";
    let mut directive = |d: String| out += &format!("#SBATCH {d}\n");
    directive(format!("--job-name=bench-{}", t.name));
    directive("--nodes=1".into());
    directive("--exclusive".into());
    // sbatch reads a double-quoted directive value as one word (paths with spaces).
    let log = s.log.display().to_string();
    if log.contains(char::is_whitespace) {
        directive(format!("--output=\"{log}\""));
    } else {
        directive(format!("--output={log}"));
    }
    let o = &t.slurm;
    for (flag, v) in o.words() {
        if let Some(v) = v {
            directive(format!("--{flag}={v}"));
        }
    }
    if let Some((time, _)) = &o.time {
        directive(format!("--time={time}"));
    }
    for a in &o.args {
        directive(a.clone());
    }
    out += "set -euo pipefail\n";
    let mut env: BTreeMap<String, String> = t.env.clone();
    env.insert("BENCH_FLEET_ID".into(), s.fleet_id.into());
    env.insert("BENCH_FLEET_TARGET".into(), t.name.clone());
    for (k, v) in &env {
        out += &format!("export {k}={}\n", quote(v));
    }
    out += &format!(
        "echo \"bench fleet: target {} on $(hostname), job ${{SLURM_JOB_ID:-?}}, $(date -u +%FT%TZ)\"\n",
        t.name
    );
    for step in s.steps {
        out += &line(step);
        out += "\n";
    }
    out += "exec ";
    out += &line(s.command);
    out += "\n";
    out
}

fn line(argv: &[String]) -> String {
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

/// A word for bash: as is when it is plain, else in single quotes.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./,:+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Whether a directory can appear in an `#SBATCH --output` line: no `%` (a Slurm pattern),
/// no `"` and no line break.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    let s = dir.display().to_string();
    match s.chars().find(|c| matches!(c, '%' | '"' | '\n' | '\r')) {
        Some(c) => Err(format!(
            "{s}: Slurm's #SBATCH lines cannot carry the character {c:?} in a log path: use a results path without it"
        )),
        None => Ok(()),
    }
}

/// `<fleet dir>/logs/<target>-%j.log`, and the same with a job id.
pub fn log_pattern(fleet_dir: &Path, target: &str) -> PathBuf {
    fleet_dir.join("logs").join(format!("{target}-%j.log"))
}

pub fn log_for(pattern: &Path, job_id: &str) -> PathBuf {
    PathBuf::from(pattern.display().to_string().replace("%j", job_id))
}

/// Submits a script; returns the job id.
pub fn submit(sbatch: &Path, script: &Path) -> Result<String, ToolError> {
    let out = tools::run(
        sbatch,
        [std::ffi::OsStr::new("--parsable"), script.as_os_str()],
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `--parsable` prints `id` or `id;cluster`.
    let id = text
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return Err(ToolError::Failed {
            tool: "sbatch".into(),
            status: "exit 0".into(),
            said: format!("printed no job id ({:?})", text.trim()),
        });
    }
    Ok(id)
}

/// States of these job ids: squeue first, then sacct for the ones squeue no longer holds.
/// A job neither knows is `UNKNOWN`, with what sacct said.
pub fn query(
    squeue: &Path,
    sacct: Option<&Path>,
    ids: &[String],
) -> Result<BTreeMap<String, JobState>, ToolError> {
    let mut states = BTreeMap::new();
    if ids.is_empty() {
        return Ok(states);
    }
    let list = ids.join(",");
    match tools::run(
        squeue,
        [
            "-h",
            "-t",
            "all",
            "-j",
            &list,
            "-O",
            "JobID:|,State:|,Reason:|,exit_code:|",
        ],
    ) {
        Ok(out) => states.extend(parse_squeue(&String::from_utf8_lossy(&out.stdout))),
        // squeue fails when it holds none of the ids; sacct may know them.
        Err(ToolError::Failed { said, .. }) if said.contains("Invalid job id") => {}
        Err(e) => return Err(e),
    }
    let missing: Vec<&String> = ids.iter().filter(|i| !states.contains_key(*i)).collect();
    if missing.is_empty() {
        return Ok(states);
    }
    let why = match sacct {
        None => "squeue no longer lists it and sacct is not on PATH".to_string(),
        Some(sacct) => {
            let list = missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(",");
            match tools::run(
                sacct,
                ["-n", "-P", "-X", "-j", &list, "-o", "JobID,State,ExitCode"],
            ) {
                Ok(out) => {
                    states.extend(parse_sacct(&String::from_utf8_lossy(&out.stdout)));
                    "neither squeue nor sacct lists it".to_string()
                }
                Err(e) => format!("squeue no longer lists it; {e}"),
            }
        }
    };
    for id in missing {
        states
            .entry(id.clone())
            .or_insert_with(|| JobState::new("UNKNOWN", why.clone(), Phase::Failed));
    }
    Ok(states)
}

/// `squeue -h -O JobID:|,State:|,Reason:|,exit_code:|` lines: `12|FAILED|NonZeroExitCode|512|`.
pub fn parse_squeue(text: &str) -> BTreeMap<String, JobState> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        if f.len() < 3 || f[0].is_empty() {
            continue;
        }
        let mut detail = Vec::new();
        let st = JobState::slurm(f[1], "");
        let reason = f[2];
        // A job that ended keeps its last queue reason (`Priority` when cancelled while
        // pending): show only reasons that say why it ended.
        let stale = [
            "None",
            "Priority",
            "Resources",
            "Dependency",
            "BeginTime",
            "NonZeroExitCode",
        ];
        if !reason.is_empty() && reason != "None" && (st.is_active() || !stale.contains(&reason)) {
            detail.push(reason.to_string());
        }
        if !st.is_active() {
            match f.get(3).and_then(|c| c.parse::<u32>().ok()) {
                Some(0) if st.state == "CANCELLED" => {}
                Some(code) => detail.push(slurm_wait_status(code)),
                None => {}
            }
        }
        m.insert(f[0].to_string(), JobState::slurm(f[1], detail.join(", ")));
    }
    m
}

/// `sacct -n -P -X -o JobID,State,ExitCode` lines: `12|CANCELLED by 0|0:15`.
pub fn parse_sacct(text: &str) -> BTreeMap<String, JobState> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').map(str::trim).collect();
        if f.len() < 2 || f[0].is_empty() {
            continue;
        }
        let st = JobState::slurm(f[1], "");
        let detail = match f.get(2) {
            Some(code) if !st.is_active() && !code.is_empty() => sacct_exit_code(code),
            _ => String::new(),
        };
        m.insert(f[0].to_string(), JobState::slurm(f[1], detail));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_plain_words_and_quotes_the_rest() {
        assert_eq!(quote("/shared/bench"), "/shared/bench");
        assert_eq!(quote("m=256,512"), "m=256,512");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn squeue_lines_give_state_reason_and_exit() {
        let m = parse_squeue(
            "12|COMPLETED|None|0|\n13|FAILED|NonZeroExitCode|512|\n14|PENDING|Resources|0|\n15|CANCELLED|None|15|\n16|CANCELLED|Priority|0|\n17|TIMEOUT|TimeLimit|0|\n",
        );
        assert_eq!(m["12"].describe(), "COMPLETED (exit 0)");
        assert_eq!(m["13"].describe(), "FAILED (exit 2)");
        assert_eq!(m["14"].describe(), "PENDING (Resources)");
        assert!(m["14"].is_active());
        assert_eq!(m["15"].describe(), "CANCELLED (signal 15)");
        assert_eq!(m["15"].phase, Phase::Failed);
        assert_eq!(m["16"].describe(), "CANCELLED");
        assert_eq!(m["17"].describe(), "TIMEOUT (TimeLimit, exit 0)");
    }

    #[test]
    fn sacct_lines_give_state_and_exit() {
        let m = parse_sacct(
            "20|COMPLETED|0:0\n21|CANCELLED by 0|0:15\n22|TIMEOUT|0:1\n23|RUNNING|0:0\n",
        );
        assert_eq!(m["20"].describe(), "COMPLETED (exit 0)");
        assert_eq!(m["21"].describe(), "CANCELLED (signal 15)");
        assert_eq!(m["22"].phase, Phase::Failed);
        assert_eq!(m["23"].describe(), "RUNNING");
    }

    #[test]
    fn log_names_carry_the_job_id() {
        let p = log_pattern(Path::new("/r/f1"), "t1");
        assert_eq!(p, Path::new("/r/f1/logs/t1-%j.log"));
        assert_eq!(log_for(&p, "42"), Path::new("/r/f1/logs/t1-42.log"));
    }
}
