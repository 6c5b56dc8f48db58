//! `bench run --resume RUN_DIR [--retry-failed]`: continues a run that was interrupted or
//! partly failed. The run's own configuration (backend, suite selection, seed, instance,
//! measurement settings, backend options) is read back from its run.json; an option given
//! again on the command line must match it, or the resume is refused naming the difference.
//! Points that finished stay exactly as they are; missing and interrupted points run, and
//! failed ones too with `--retry-failed`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use kernels::Point;
use serde_json::Value;

use crate::cli::{Cli, Command, RunArgs};
use crate::schema::{read_run, BackendInfo, RunFile, Status, INTERRUPTED};

/// A run to continue: where it is and what it holds.
pub struct Resumed {
    pub dir: PathBuf,
    pub run: RunFile,
}

/// Settings keys a new run records so that a resume can read them back.
pub const SELECTION_KEY: &str = "selection";
pub const BACKEND_OPTIONS_KEY: &str = "backend_options";

/// The selection and backend options as a new run records them in `settings`.
pub fn recorded_settings(args: &RunArgs) -> [(String, Value); 2] {
    let mut opts = serde_json::Map::new();
    if let Some(d) = &args.neff_dir {
        let abs = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
        opts.insert("neff_dir".into(), abs.display().to_string().into());
    }
    if let Some(c) = args.cores {
        opts.insert("cores".into(), c.into());
    }
    if let Some(d) = &args.devices {
        opts.insert("devices".into(), d.clone().into());
    }
    [
        (
            SELECTION_KEY.into(),
            serde_json::json!({
                "workload": args.select.workload,
                "dtype": args.select.dtype,
                "param": args.select.param,
            }),
        ),
        (BACKEND_OPTIONS_KEY.into(), Value::Object(opts)),
    ]
}

/// Reads RUN_DIR's run.json and works out the arguments to continue it with: the user's, with
/// every option they left out taken from the run.
pub fn load(dir: &Path, args: &RunArgs) -> Result<(Resumed, RunArgs)> {
    let (dir, file) = if dir.is_dir() {
        (dir.to_path_buf(), dir.join("run.json"))
    } else if dir.file_name().is_some_and(|n| n == "run.json") {
        (
            dir.parent().map(Path::to_path_buf).unwrap_or_default(),
            dir.to_path_buf(),
        )
    } else {
        (dir.to_path_buf(), dir.join("run.json"))
    };
    if !file.is_file() {
        bail!(
            "--resume {}: no run.json there; pass the run directory that bench run wrote (it holds run.json)",
            dir.display()
        );
    }
    let run = read_run(&file)?;
    kept_points_round_trip(&file, &run)?;
    let rec = Recorded::from_run(&run).with_context(|| {
        format!(
            "--resume {}: cannot tell how the run was started",
            dir.display()
        )
    })?;
    let differences = rec.differences(args);
    if !differences.is_empty() {
        bail!(
            "--resume {}: {}; a resume continues the run as it was started: leave those options out, or start a new run",
            dir.display(),
            differences.join("; ")
        );
    }
    if args.given.contains("out") {
        eprintln!(
            "bench: --resume writes into {}; --out is not used",
            dir.display()
        );
    }
    Ok((Resumed { dir, run }, rec.apply(args)))
}

/// A kept point must be written back exactly as it was read: a file holding fields this
/// bench does not know (another version wrote it) cannot be resumed without losing them.
fn kept_points_round_trip(file: &Path, run: &RunFile) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let raw: Value =
        serde_json::from_str(&text).with_context(|| format!("cannot parse {}", file.display()))?;
    let original = raw.get("points").and_then(Value::as_array);
    let ours = serde_json::to_value(&run.points)?;
    let ours = ours.as_array();
    if let (Some(original), Some(ours)) = (original, ours) {
        for (i, (a, b)) in original.iter().zip(ours).enumerate() {
            if a != b {
                bail!(
                    "--resume {}: points[{i}] holds fields this bench does not write (was the run made by another bench version?); resume it with the bench that wrote it",
                    file.display()
                );
            }
        }
    }
    Ok(())
}

/// How the run was started, as its run.json records it.
#[derive(Debug, Clone, PartialEq)]
struct Recorded {
    backend: String,
    suite: String,
    workload: Vec<String>,
    dtype: Vec<String>,
    param: Vec<String>,
    seed: u64,
    instance: Option<String>,
    /// The instance type came from `--instance` (not from the machine).
    instance_given: bool,
    budget: f64,
    warmup: f64,
    target_noise: f64,
    min_samples: usize,
    max_samples: usize,
    neff_dir: Option<PathBuf>,
    cores: Option<u32>,
    devices: Option<String>,
}

impl Recorded {
    fn from_run(run: &RunFile) -> Result<Recorded> {
        let s = &run.settings;
        let num = |k: &str| -> Result<f64> {
            s.get(k)
                .and_then(Value::as_f64)
                .with_context(|| format!("its settings lack '{k}'"))
        };
        let int = |k: &str| -> Result<u64> {
            s.get(k)
                .and_then(Value::as_u64)
                .with_context(|| format!("its settings lack '{k}'"))
        };
        let suite = s
            .get("suite")
            .and_then(Value::as_str)
            .context("its settings lack 'suite'")?
            .to_string();
        // Runs written before the selection was recorded: read it from the command line.
        let original = match (s.get(SELECTION_KEY), s.get(BACKEND_OPTIONS_KEY)) {
            (Some(sel), Some(opts)) => Original::from_settings(sel, opts)?,
            _ => Original::from_command(&run.command)?,
        };
        Ok(Recorded {
            backend: run.backend.kind.clone(),
            suite,
            workload: original.workload,
            dtype: original.dtype,
            param: original.param,
            seed: int("seed")?,
            instance: run.host.instance_type.clone(),
            instance_given: run.host.instance_type_source == "cli",
            budget: num("budget_s")?,
            warmup: num("warmup_s")?,
            target_noise: num("target_rel_ci")?,
            min_samples: int("min_samples")? as usize,
            max_samples: int("max_samples")? as usize,
            neff_dir: original.neff_dir,
            cores: original.cores,
            devices: original.devices,
        })
    }

    /// Each option the user gave that differs from the run's, as "--opt X differs from the
    /// run's Y".
    fn differences(&self, args: &RunArgs) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |id: &str, flag: &str, ours: String, theirs: String| {
            if args.given.contains(id) && ours != theirs {
                out.push(format!("{flag} {ours} differs from the run's {theirs}"));
            }
        };
        let list = |v: &[String]| {
            let n = normalize_list(v);
            if n.is_empty() {
                "(all)".to_string()
            } else {
                n.join(",")
            }
        };
        check(
            "backend",
            "--backend",
            args.backend.clone(),
            self.backend.clone(),
        );
        check(
            "suite",
            "--suite",
            args.select.suite.clone(),
            self.suite.clone(),
        );
        check(
            "workload",
            "--workload",
            list(&args.select.workload),
            list(&self.workload),
        );
        check(
            "dtype",
            "--dtype",
            list(&args.select.dtype),
            list(&self.dtype),
        );
        check(
            "param",
            "--param",
            normalize_params(&args.select.param),
            normalize_params(&self.param),
        );
        check(
            "seed",
            "--seed",
            args.seed.to_string(),
            self.seed.to_string(),
        );
        check(
            "instance",
            "--instance",
            opt(&args.instance),
            opt(&self.instance),
        );
        check(
            "budget",
            "--budget",
            args.budget.map_or_else(String::new, |b| b.to_string()),
            self.budget.to_string(),
        );
        check(
            "warmup",
            "--warmup",
            args.warmup.to_string(),
            self.warmup.to_string(),
        );
        check(
            "target_noise",
            "--target-noise",
            args.target_noise.to_string(),
            self.target_noise.to_string(),
        );
        check(
            "min_samples",
            "--min-samples",
            args.min_samples.to_string(),
            self.min_samples.to_string(),
        );
        check(
            "max_samples",
            "--max-samples",
            args.max_samples.to_string(),
            self.max_samples.to_string(),
        );
        check(
            "cores",
            "--cores",
            opt(&args.cores.map(|c| c.to_string())),
            opt(&self.cores.map(|c| c.to_string())),
        );
        check(
            "devices",
            "--devices",
            opt(&args.devices),
            opt(&self.devices),
        );
        out
    }

    /// The user's arguments with everything that defines the run taken from the record.
    fn apply(&self, args: &RunArgs) -> RunArgs {
        let mut a = args.clone();
        a.backend = self.backend.clone();
        a.select.suite = self.suite.clone();
        a.select.workload = self.workload.clone();
        a.select.dtype = self.dtype.clone();
        a.select.param = self.param.clone();
        a.seed = self.seed;
        if self.instance_given {
            a.instance = self.instance.clone();
        }
        a.budget = Some(self.budget);
        a.warmup = self.warmup;
        a.target_noise = self.target_noise;
        a.min_samples = self.min_samples;
        a.max_samples = self.max_samples;
        if !args.given.contains("neff_dir") {
            a.neff_dir = self.neff_dir.clone();
        }
        a.cores = self.cores;
        a.devices = self.devices.clone();
        a
    }
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "(none)".into())
}

/// Comma-separated, repeatable list options as a sorted set.
fn normalize_list(v: &[String]) -> Vec<String> {
    let mut n: Vec<String> = v
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    n.sort();
    n.dedup();
    n
}

/// `--param` values as KEY=V,.. per key (a later --param for a key replaces an earlier one,
/// as in planning), sorted by key.
fn normalize_params(v: &[String]) -> String {
    let mut by_key = BTreeMap::new();
    for p in v {
        match p.split_once('=') {
            Some((k, vals)) => {
                let vals: Vec<&str> = vals.split(',').map(str::trim).collect();
                by_key.insert(k.trim().to_string(), vals.join(","));
            }
            None => {
                by_key.insert(p.trim().to_string(), String::new());
            }
        }
    }
    if by_key.is_empty() {
        return "(none)".into();
    }
    by_key
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The options of the original command that settings do not hold as resolved values.
struct Original {
    workload: Vec<String>,
    dtype: Vec<String>,
    param: Vec<String>,
    neff_dir: Option<PathBuf>,
    cores: Option<u32>,
    devices: Option<String>,
}

impl Original {
    fn from_settings(sel: &Value, opts: &Value) -> Result<Original> {
        let strings = |k: &str| -> Result<Vec<String>> {
            match sel.get(k) {
                None => Ok(Vec::new()),
                Some(v) => serde_json::from_value(v.clone())
                    .with_context(|| format!("settings.selection.{k} is not a list of strings")),
            }
        };
        Ok(Original {
            workload: strings("workload")?,
            dtype: strings("dtype")?,
            param: strings("param")?,
            neff_dir: opts
                .get("neff_dir")
                .and_then(Value::as_str)
                .map(PathBuf::from),
            cores: opts
                .get("cores")
                .and_then(Value::as_u64)
                .map(|c| c.try_into())
                .transpose()
                .context("settings.backend_options.cores is out of range")?,
            devices: opts
                .get("devices")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    fn from_command(command: &str) -> Result<Original> {
        let words = split_command(command);
        let cli = Cli::try_parse_from(&words).map_err(|e| {
            anyhow::anyhow!(
                "its recorded command '{command}' does not parse ({})",
                e.kind()
            )
        })?;
        let a = match cli.command {
            None => cli.run,
            Some(Command::Run(a)) => *a,
            Some(_) => bail!("its recorded command '{command}' is not bench run"),
        };
        Ok(Original {
            workload: a.select.workload,
            dtype: a.select.dtype,
            param: a.select.param,
            neff_dir: a.neff_dir,
            cores: a.cores,
            devices: a.devices,
        })
    }
}

/// Splits a command line as `run::command_line` writes it: words separated by spaces, a word
/// with other characters in single quotes, a quote inside as `'\''`.
pub fn split_command(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if !quoted && chars.peek() == Some(&'\'') => {
                word.push('\'');
                chars.next();
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

impl Resumed {
    /// Refuses a machine whose backend or instance is not the run's.
    pub fn check_machine(&self, backend: &BackendInfo, instance: &Option<String>) -> Result<()> {
        let theirs = &self.run.backend;
        let mut diffs = Vec::new();
        if backend.kind != theirs.kind {
            diffs.push(format!(
                "backend {} vs the run's {}",
                backend.kind, theirs.kind
            ));
        }
        if backend.implementation != theirs.implementation {
            diffs.push(format!(
                "implementation {} vs the run's {}",
                backend.implementation, theirs.implementation
            ));
        }
        if backend.device != theirs.device || backend.device_count != theirs.device_count {
            diffs.push(format!(
                "device {} x{} vs the run's {} x{}",
                backend.device, backend.device_count, theirs.device, theirs.device_count
            ));
        }
        if backend.simulated != theirs.simulated {
            diffs.push(format!(
                "simulated {} vs the run's {}",
                backend.simulated, theirs.simulated
            ));
        }
        if *instance != self.run.host.instance_type {
            diffs.push(format!(
                "instance {} vs the run's {}",
                opt(instance),
                opt(&self.run.host.instance_type)
            ));
        }
        if !diffs.is_empty() {
            bail!(
                "--resume {}: this machine is not the one the run was made on: {}; resume it where it started, or start a new run",
                self.dir.display(),
                diffs.join("; ")
            );
        }
        Ok(())
    }

    /// The planned points to run now: missing ones, interrupted ones, and failed ones when
    /// `retry_failed`; a point whose second implementation's record (`implementation: nki`)
    /// was interrupted or failed counts too, and runs again whole. Everything else keeps its
    /// record.
    pub fn todo(&self, planned: &[Point], retry_failed: bool) -> Vec<Point> {
        let redo = |r: &crate::schema::PointRecord| {
            r.status == Status::Failed && (retry_failed || r.reason.as_deref() == Some(INTERRUPTED))
        };
        planned
            .iter()
            .filter(|p| {
                let id = p.id();
                let mut records = self.run.points.iter().filter(|r| r.id == id);
                let own = self
                    .run
                    .points
                    .iter()
                    .find(|r| r.id == id && r.implementation.is_none());
                own.is_none_or(redo) || records.any(|r| r.implementation.is_some() && redo(r))
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_back_into_their_words() {
        let words = split_command("bench --param 'm=1 2' --out 'it'\\''s' --seed 7");
        assert_eq!(
            words,
            vec!["bench", "--param", "m=1 2", "--out", "it's", "--seed", "7"]
        );
        assert_eq!(split_command(""), Vec::<String>::new());
        assert_eq!(split_command("a ''"), vec!["a", ""]);
    }

    #[test]
    fn lists_and_params_compare_by_meaning() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            normalize_list(&s(&["matmul,attention", "matmul"])),
            s(&["attention", "matmul"])
        );
        assert_eq!(
            normalize_params(&s(&["n=2", "m=1, 3", "n=4"])),
            normalize_params(&s(&["m=1,3", "n=4"]))
        );
        assert_ne!(
            normalize_params(&s(&["m=1"])),
            normalize_params(&s(&["m=2"]))
        );
    }
}
