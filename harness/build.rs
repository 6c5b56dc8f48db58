//! Records the git commit the binary is built from (with `-dirty` for uncommitted changes)
//! and the versions of the libraries that shape results, read from Cargo.lock.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    let commit = if dirty && commit != "unknown" {
        format!("{commit}-dirty")
    } else {
        commit
    };
    println!("cargo:rustc-env=BENCH_GIT_COMMIT={commit}");
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{head}");
        }
    }
    let lock = std::fs::read_to_string("../Cargo.lock").unwrap_or_default();
    // Every locked version of a crate, comma-separated (a crate can be locked twice).
    let version_of = |name: &str| -> String {
        let mut found = Vec::new();
        let mut lines = lock.lines();
        while let Some(l) = lines.next() {
            if l == format!("name = \"{name}\"") {
                if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = ")) {
                    found.push(v.trim_matches('"').to_string());
                }
            }
        }
        if found.is_empty() {
            "unknown".into()
        } else {
            found.join(", ")
        }
    };
    for (crate_name, var) in [
        ("candle-core", "BENCH_CANDLE_VERSION"),
        ("cudarc", "BENCH_CUDARC_VERSION"),
        ("libloading", "BENCH_LIBLOADING_VERSION"),
    ] {
        println!("cargo:rustc-env={var}={}", version_of(crate_name));
    }
    println!("cargo:rerun-if-changed=../Cargo.lock");
}
