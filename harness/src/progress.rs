//! Progress while a run goes: an indicatif bar on a terminal, plain lines otherwise (CI logs,
//! pipes). Writes to stderr so stdout stays for the summary table.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::schema::{PointRecord, Status};

pub enum Progress {
    Bar(ProgressBar),
    Lines { total: usize, done: usize },
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Progress::Bar(bar)
        } else {
            Progress::Lines { total, done: 0 }
        }
    }

    pub fn start(&mut self, id: &str) {
        match self {
            Progress::Bar(b) => b.set_message(id.to_string()),
            Progress::Lines { total, done } => eprintln!("[{}/{}] {id} ...", *done + 1, total),
        }
    }

    pub fn finish_point(&mut self, rec: &PointRecord) {
        let line = describe(rec);
        match self {
            Progress::Bar(b) => {
                b.println(line);
                b.inc(1);
            }
            Progress::Lines { total, done } => {
                *done += 1;
                eprintln!("[{}/{}] {line}", done, total);
            }
        }
    }

    /// A further record of the point just finished (a second implementation's, `id [nki]`):
    /// its line, without advancing the count.
    pub fn also(&mut self, rec: &PointRecord) {
        let line = describe(rec);
        match self {
            Progress::Bar(b) => b.println(line),
            Progress::Lines { total, done } => eprintln!("[{}/{}] {line}", done, total),
        }
    }

    /// The terminal bar, for a thread that must clear it (the interrupt watchdog).
    pub fn bar(&self) -> Option<ProgressBar> {
        match self {
            Progress::Bar(b) => Some(b.clone()),
            Progress::Lines { .. } => None,
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(b) = self {
            b.finish_and_clear();
        }
    }
}

fn describe(rec: &PointRecord) -> String {
    match (rec.status, &rec.stats, &rec.throughput) {
        (Status::Ok, Some(s), Some(t)) => format!(
            "{} ok: median {} ({} samples), {:.1} GFLOP/s",
            crate::table::label(rec),
            crate::table::fmt_secs(s.median_s),
            s.n,
            t.flop_per_s / 1e9
        ),
        (status, _, _) => format!(
            "{} {}: {}",
            crate::table::label(rec),
            match status {
                Status::Ok => "ok",
                Status::Failed => "FAILED",
                Status::Skipped => "skipped",
            },
            rec.reason.as_deref().unwrap_or("")
        ),
    }
}
