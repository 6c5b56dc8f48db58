//! Crash-safe result files: the run directory is created up front (atomically, so two
//! processes started in the same second never share one), and `run.json` is rewritten
//! atomically (temporary file, fsync, rename) after every point, so `kill -9` at any moment
//! leaves a valid file holding every finished point. A write that fails (a full disk) removes
//! its temporary file and leaves the previous `run.json` as it was.

use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};

use crate::schema::{PointRecord, RunFile};

/// Owns a run directory and its `run.json`.
pub struct RunWriter {
    dir: PathBuf,
    run: RunFile,
}

/// Held while run.json is rewritten, so that the interrupt watchdog (watchdog.rs), which may
/// write the file from another thread and then end the process, never races a flush.
static RUN_FILE_LOCK: Mutex<()> = Mutex::new(());

/// Takes the run-file lock (a poisoned lock is still a lock: the file is only ever renamed).
pub fn run_file_lock() -> MutexGuard<'static, ()> {
    RUN_FILE_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Run directories tried before giving up: `<name>`, `<name>-2`, ...
const MAX_SUFFIX: u32 = 10_000;

impl RunWriter {
    /// Creates `<out>/<name>` (or `<name>-2`, `-3`, ... if that exists) and writes the empty
    /// run. The directory is claimed by `create_dir` itself, never by a check before it.
    pub fn create(out: &Path, name: &str, run: RunFile) -> Result<RunWriter> {
        fs::create_dir_all(out).with_context(|| {
            format!(
                "cannot create the output directory {}: choose a writable --out",
                out.display()
            )
        })?;
        let mut n = 1;
        let dir = loop {
            let dir = if n == 1 {
                out.join(name)
            } else {
                out.join(format!("{name}-{n}"))
            };
            match fs::create_dir(&dir) {
                Ok(()) => break dir,
                Err(e) if e.kind() == ErrorKind::AlreadyExists && n < MAX_SUFFIX => n += 1,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "cannot create the run directory {}: choose a writable --out",
                            dir.display()
                        )
                    })
                }
            }
        };
        let w = RunWriter { dir, run };
        w.flush()?;
        Ok(w)
    }

    /// Takes over an existing run directory (for `--resume`) and rewrites its run.json.
    pub fn reopen(dir: &Path, run: RunFile) -> Result<RunWriter> {
        let w = RunWriter {
            dir: dir.to_path_buf(),
            run,
        };
        w.flush()?;
        Ok(w)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn run(&self) -> &RunFile {
        &self.run
    }

    /// The path of run.json.
    pub fn file(&self) -> PathBuf {
        self.dir.join("run.json")
    }

    /// Records a finished point (replacing a record with the same id and implementation, else appending; a resume
    /// in progress lists it) and rewrites the file.
    pub fn push(&mut self, point: PointRecord) -> Result<()> {
        if let Some(r) = self.open_resume() {
            // A point's second record (implementation nki) is the same point run.
            if r.points_run.last() != Some(&point.id) {
                r.points_run.push(point.id.clone());
            }
        }
        match self.run.points.iter_mut().find(|p| p.same_slot(&point)) {
            Some(slot) => *slot = point,
            None => self.run.points.push(point),
        }
        self.flush()
    }

    /// Changes the run's header (not its points) and rewrites the file.
    pub fn update(&mut self, f: impl FnOnce(&mut RunFile)) -> Result<()> {
        f(&mut self.run);
        self.flush()
    }

    /// Marks the run (and a resume in progress) finished and rewrites the file.
    pub fn finish(&mut self, finished_at: String) -> Result<()> {
        if let Some(r) = self.open_resume() {
            r.finished_at = Some(finished_at.clone());
        }
        self.run.finished_at = Some(finished_at);
        self.flush()
    }

    /// The resume this process is running, if it is one.
    fn open_resume(&mut self) -> Option<&mut crate::schema::Resume> {
        self.run
            .resumes
            .last_mut()
            .filter(|r| r.finished_at.is_none())
    }

    fn flush(&self) -> Result<()> {
        let _lock = run_file_lock();
        write_json_atomic(&self.file(), &self.run)
    }
}

/// Serialises `value` to `path` atomically: on any failure the temporary file is removed and
/// `path` keeps its previous content.
pub fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(File::create(&tmp)?);
        serde_json::to_writer_pretty(&mut f, value)?;
        f.write_all(b"\n")?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename itself reaches the disk with the directory (best effort: not every
        // file system lets a directory be opened for syncing).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        let full = e.kind() == ErrorKind::StorageFull || e.raw_os_error() == Some(28);
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let hint = match path.parent() {
            Some(dir) if full && name == "run.json" => format!(
                "; the previous run.json is intact: free space, then continue with bench run --resume {}",
                dir.display()
            ),
            _ if full => format!("; the previous {name} is intact: free space and try again"),
            _ => String::new(),
        };
        anyhow::anyhow!("cannot write {}: {e}{hint}", path.display())
    })
}
