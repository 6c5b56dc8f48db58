//! Finding and reading the result files a report is made from: each PATH is a run.json, a run
//! directory holding one, or a folder of run directories (like `results/runs`). Every file goes
//! through `schema::parse_bytes` (`read_run`'s checks on a one-pass parse), so a truncated,
//! malformed, out-of-range or unknown-schema file is an error that names it, the field's JSON
//! path and the point; [`check_devices`] holds each point to its instance's accelerator count.
//! A file holding records of a second implementation is split into one run per implementation
//! (see [`super::split`]).

use std::path::{Path, PathBuf};

use super::prices::PriceTable;
use crate::schema::{ReadError, RunFile};

/// One result file and the name the report calls it by (its directory's name).
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub name: String,
    pub path: PathBuf,
    pub run: RunFile,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A result file that cannot be read (the message names it).
    #[error("{0}")]
    Read(String),
    #[error("{0}: no such file or directory; pass run.json files or run directories")]
    Missing(PathBuf),
    #[error("{0}: holds no run.json (nor run directories with one); pass run.json files or run directories")]
    Empty(PathBuf),
    #[error("no result files given: bench report PATH... --out DIR")]
    NoPaths,
}

fn run_name(file: &Path) -> String {
    let dir = file.parent().and_then(|p| p.file_name());
    match (file.file_name().and_then(|f| f.to_str()), dir) {
        (Some("run.json"), Some(d)) => d.to_string_lossy().into_owned(),
        (Some(f), _) => f.trim_end_matches(".json").to_string(),
        _ => file.display().to_string(),
    }
}

impl From<ReadError> for InputError {
    fn from(e: ReadError) -> Self {
        InputError::Read(e.to_string())
    }
}

/// The run.json files a PATH stands for.
pub fn expand(path: &Path) -> Result<Vec<PathBuf>, InputError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(InputError::Missing(path.to_path_buf()));
    }
    let own = path.join("run.json");
    if own.exists() {
        return Ok(vec![own]);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|source| ReadError::Io {
            path: path.display().to_string(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path().join("run.json")))
        .filter(|p| p.is_file())
        .collect();
    if found.is_empty() {
        return Err(InputError::Empty(path.to_path_buf()));
    }
    found.sort();
    Ok(found)
}

/// Reads every result file the paths stand for, in order, each once.
pub fn load(paths: &[PathBuf]) -> Result<Vec<LoadedRun>, InputError> {
    if paths.is_empty() {
        return Err(InputError::NoPaths);
    }
    let mut files = Vec::new();
    for p in paths {
        for f in expand(p)? {
            if !files.contains(&f) {
                files.push(f);
            }
        }
    }
    // Files are parsed on all cores; results keep the order of the paths.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut slots: Vec<Option<Result<RunFile, InputError>>> = Vec::new();
    slots.resize_with(files.len(), || None);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(files.len()))
            .map(|t| {
                let files = &files;
                scope.spawn(move || {
                    (t..files.len())
                        .step_by(threads)
                        .map(|i| (i, read_fast(&files[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h.join().expect("reader thread") {
                slots[i] = Some(r);
            }
        }
    });
    let runs = files
        .into_iter()
        .zip(slots)
        .map(|(f, r)| {
            Ok(LoadedRun {
                name: run_name(&f),
                run: r.expect("every file read")?,
                path: f,
            })
        })
        .collect::<Result<Vec<_>, InputError>>()?;
    // A file with records of a second implementation (nki) is one run per implementation.
    Ok(super::split::by_implementation(runs))
}

/// Reads one file through `schema::parse_bytes` (the one-pass typed parse, with the error
/// that names the file, the field and the cause when it fails).
fn read_fast(file: &Path) -> Result<RunFile, InputError> {
    let shown = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|source| ReadError::Io {
        path: shown.clone(),
        source,
    })?;
    Ok(crate::schema::parse_bytes(&bytes, &shown)?)
}

/// Every point's `devices_used` within its instance's accelerator count, for the runs whose
/// instance the price table knows.
pub fn check_devices(runs: &[LoadedRun], prices: &PriceTable) -> Result<(), InputError> {
    for r in runs {
        let Some(instance) = r.run.host.instance_type.as_deref() else {
            continue;
        };
        let Some(facts) = prices.facts(instance) else {
            continue;
        };
        crate::validate::check_devices(&r.run, instance, facts.accelerators_per_instance).map_err(
            |source| ReadError::Invalid {
                path: r.path.display().to_string(),
                source,
            },
        )?;
    }
    Ok(())
}

/// A run from `harness/tests/fixtures/NAME/run.json`, for the report's unit tests.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> LoadedRun {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .join("run.json");
    LoadedRun {
        name: name.into(),
        run: crate::schema::read_run(&path).unwrap(),
        path,
    }
}
