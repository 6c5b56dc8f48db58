//! Helpers shared by the fleet tests: the real bench binary, the repository's files, and the
//! checks every bad-input case makes (one line on stderr, exit 2).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn bench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE");
    c
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The last line of stdout: the fleet directory, as submit promises.
pub fn last_line(o: &Output) -> PathBuf {
    PathBuf::from(stdout(o).lines().last().unwrap_or("").trim())
}

/// A usage/config/I/O error: exit 2 and exactly one line on stderr; returns it.
pub fn one_line_error(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "want exit 2; stdout: {} stderr: {err}",
        stdout(o)
    );
    assert_eq!(err.trim_end().lines().count(), 1, "want one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err.trim_end().to_string()
}

pub fn read_record(dir: &Path) -> harness::fleet::record::FleetRecord {
    harness::fleet::record::read(dir).expect("fleet.json reads")
}
