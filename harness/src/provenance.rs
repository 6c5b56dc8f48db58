//! Provenance of a run: the harness build, the host (CPU, cores, memory, OS), the instance type
//! (from `--instance`, or the EC2 DMI product name), library versions and the environment
//! variables that change results. Read once at the start of a run.

use std::collections::BTreeMap;

use crate::schema::{HarnessInfo, HostInfo};

pub fn harness() -> HarnessInfo {
    HarnessInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: env!("BENCH_GIT_COMMIT").to_string(),
    }
}

/// Library versions compiled into this binary.
pub fn library_versions() -> BTreeMap<String, String> {
    [
        ("candle-core", env!("BENCH_CANDLE_VERSION")),
        ("cudarc", env!("BENCH_CUDARC_VERSION")),
        ("libloading", env!("BENCH_LIBLOADING_VERSION")),
    ]
    .into_iter()
    .filter(|(_, v)| *v != "unknown")
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn memory_bytes() -> u64 {
    read_trim("/proc/meminfo")
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn os() -> String {
    let name = read_trim("/etc/os-release")
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    match read_trim("/proc/sys/kernel/osrelease") {
        Some(k) => format!("{name}, kernel {k}"),
        None => name,
    }
}

/// The instance type and where it came from: the user's `--instance`, else EC2's DMI data.
pub fn instance_type(cli: Option<&str>) -> (Option<String>, String) {
    if let Some(t) = cli {
        return (Some(t.to_string()), "cli".into());
    }
    let vendor = read_trim("/sys/devices/virtual/dmi/id/sys_vendor").unwrap_or_default();
    let product = read_trim("/sys/devices/virtual/dmi/id/product_name");
    if vendor.contains("Amazon") {
        if let Some(p) = product {
            return (Some(p), "dmi".into());
        }
    }
    (
        None,
        "unknown: not an EC2 instance (pass --instance TYPE to price this run)".into(),
    )
}

pub fn host(instance_cli: Option<&str>) -> HostInfo {
    let (instance_type, instance_type_source) = instance_type(instance_cli);
    HostInfo {
        hostname: read_trim("/proc/sys/kernel/hostname").unwrap_or_else(|| "unknown".into()),
        cpu: backends::cpu::cpu_model(),
        cores: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        memory_bytes: memory_bytes(),
        os: os(),
        instance_type,
        instance_type_source,
    }
}

/// Environment variables that change what is measured, with their values.
pub fn relevant_env() -> BTreeMap<String, String> {
    const PREFIXES: &[&str] = &[
        "BENCH_",
        "NEURON_",
        "NRT_",
        "CUDA_",
        "OPENBLAS_",
        "OMP_",
        "RAYON_",
        "MKL_",
        "XLA_",
    ];
    std::env::vars()
        .filter(|(k, _)| PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect()
}
