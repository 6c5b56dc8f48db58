//! Helpers shared by the harness's integration tests.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` (stdout discarded, stderr captured) and waits at most `limit`: its exit code and
/// stderr, or what went wrong: "hang: ..." when it outlived `limit` (it is killed) and
/// "crash: ..." when a signal ended it.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Result<(i32, String), String> {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut s).ok();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            child.kill().ok();
            child.wait().ok();
            return Err(format!("hang: still running after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let err = reader.join().unwrap();
    match status.code() {
        Some(code) => Ok((code, err)),
        None => Err(format!("crash: ended by {status}: {err}")),
    }
}
