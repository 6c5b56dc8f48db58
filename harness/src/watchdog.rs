//! The interrupt watchdog: SIGINT/SIGTERM are honoured between samples (interrupt.rs), but a
//! point can spend long stretches where nothing polls the flag (an f64 reference of a large
//! training step, a backend's prepare, one slow iteration). If the run has not stopped by
//! itself [`GRACE`] after the first signal, this thread records the point in flight as
//! failed with reason `interrupted` in run.json (read back from disk, so every finished point
//! stays exactly as it was), records the signal, clears the progress bar and ends the
//! process with 130 or 143. It holds the run-file lock while it writes and exits, so the
//! main thread can never write after it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::ProgressBar;

use crate::clock;
use crate::interrupt::{self, Signal};
use crate::schema::{Interruption, PointRecord, RunFile};
use crate::store::{run_file_lock, write_json_atomic};

/// How long a signalled run may take to stop by itself before the watchdog stops it.
pub const GRACE: Duration = Duration::from_secs(2);

/// What the watchdog needs to stop a run that does not stop by itself.
#[derive(Clone)]
pub struct Watchdog {
    file: PathBuf,
    /// The record to write for the point in flight (failed, reason interrupted), if any.
    in_flight: Arc<Mutex<Option<PointRecord>>>,
    /// Set once the main thread has seen the signal and stops the run itself.
    settled: Arc<AtomicBool>,
}

impl Watchdog {
    /// Starts the watchdog thread for the run whose file is `file`.
    pub fn start(file: PathBuf, bar: Option<ProgressBar>) -> Watchdog {
        let w = Watchdog {
            file,
            in_flight: Arc::new(Mutex::new(None)),
            settled: Arc::new(AtomicBool::new(false)),
        };
        let me = w.clone();
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(50));
            let Some(sig) = interrupt::requested() else {
                continue;
            };
            std::thread::sleep(GRACE);
            let _lock = run_file_lock();
            if me.settled.load(Ordering::SeqCst) {
                return;
            }
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            match me.abandon(sig) {
                Ok(id) => eprintln!(
                    "bench: stopped by {}; {} did not stop within {} s and is recorded as interrupted; every finished point is in {}; continue with: bench run --resume {}",
                    sig.name(),
                    id.as_deref().unwrap_or("the run"),
                    GRACE.as_secs(),
                    me.file.display(),
                    me.file.parent().map(|d| d.display().to_string()).unwrap_or_default()
                ),
                Err(e) => eprintln!("error: stopped by {}: {e:#}", sig.name()),
            }
            std::process::exit(i32::from(sig.exit_code()));
        });
        w
    }

    /// The point now running (its record as the watchdog would write it), or None between
    /// points.
    pub fn set_in_flight(&self, rec: Option<PointRecord>) {
        *self.in_flight.lock().unwrap_or_else(|p| p.into_inner()) = rec;
    }

    /// The main thread stops the run itself from here on: the watchdog stands down.
    pub fn settle(&self) {
        let _lock = run_file_lock();
        self.settled.store(true, Ordering::SeqCst);
    }

    /// Writes the in-flight record and the signal into run.json; returns the point's id.
    fn abandon(&self, sig: Signal) -> Result<Option<String>> {
        let text = std::fs::read_to_string(&self.file)
            .with_context(|| format!("cannot read {}", self.file.display()))?;
        let mut run: RunFile = serde_json::from_str(&text)
            .with_context(|| format!("cannot parse {}", self.file.display()))?;
        let rec = self
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let id = rec.as_ref().map(|r| r.id.clone());
        if let Some(rec) = rec {
            if let Some(r) = run.resumes.last_mut().filter(|r| r.finished_at.is_none()) {
                if r.points_run.last() != Some(&rec.id) {
                    r.points_run.push(rec.id.clone());
                }
            }
            match run.points.iter_mut().find(|p| p.same_slot(&rec)) {
                Some(slot) => *slot = rec,
                None => run.points.push(rec),
            }
        }
        run.interrupted = Some(Interruption {
            signal: sig.name().into(),
            at: clock::now_rfc3339(),
            point: id.clone(),
        });
        write_json_atomic(&self.file, &run)?;
        Ok(id)
    }
}
