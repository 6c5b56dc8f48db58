//! Crash-safe result files: the run directory is created up front, and `run.json` is rewritten
//! atomically (temporary file, fsync, rename) after every point, so `kill -9` at any moment
//! leaves a valid file holding every finished point.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::schema::{PointRecord, RunFile};

/// Owns a run directory and its `run.json`.
pub struct RunWriter {
    dir: PathBuf,
    run: RunFile,
}

impl RunWriter {
    /// Creates `<out>/<name>` (adding a suffix if it exists) and writes the empty run.
    pub fn create(out: &Path, name: &str, run: RunFile) -> Result<RunWriter> {
        fs::create_dir_all(out).with_context(|| {
            format!(
                "cannot create the output directory {}: choose a writable --out",
                out.display()
            )
        })?;
        let mut dir = out.join(name);
        let mut n = 1;
        while dir.exists() {
            n += 1;
            dir = out.join(format!("{name}-{n}"));
        }
        fs::create_dir(&dir).with_context(|| {
            format!(
                "cannot create the run directory {}: choose a writable --out",
                dir.display()
            )
        })?;
        let w = RunWriter { dir, run };
        w.flush()?;
        Ok(w)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn run(&self) -> &RunFile {
        &self.run
    }

    /// Appends a finished point and rewrites the file.
    pub fn push(&mut self, point: PointRecord) -> Result<()> {
        self.run.points.push(point);
        self.flush()
    }

    /// Marks the run finished and rewrites the file.
    pub fn finish(&mut self, finished_at: String) -> Result<()> {
        self.run.finished_at = Some(finished_at);
        self.flush()
    }

    fn flush(&self) -> Result<()> {
        write_json_atomic(&self.dir.join("run.json"), &self.run)
    }
}

/// Serialises `value` to `path` atomically.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        serde_json::to_writer_pretty(&mut f, value)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))
}
