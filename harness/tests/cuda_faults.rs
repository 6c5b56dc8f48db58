//! The CUDA stand-in driver's entry points failing at every call position of a
//! `bench --backend cuda` run, through the real binary. The stand-in `libcuda.so.1` compiled
//! here (a test fixture, not NVIDIA's driver) answers the probe's calls, counts every call
//! (`CUDA_STANDIN_COUNTS=<file>`, written at exit) and returns an injected error where told
//! (`CUDA_STANDIN_FAIL=<symbol>:<nth call>:<code>[,..]`); stand-in cuBLASLt and NVRTC
//! libraries stop the run at the probe's compile, as on a machine without a GPU. Every
//! position must end cleanly: exit 2, one line naming the call and the error (or, for the
//! error-name lookups, the code), no panic, crash or hang, nothing written to `--out`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use backends::cuda::{REQUIRED_CUBLASLT_SYMBOLS, REQUIRED_DRIVER_SYMBOLS, REQUIRED_NVRTC_SYMBOLS};

/// Error codes injected in turn, with the names the stand-in's `cuGetErrorName` gives them.
const CODES: &[(i32, &str)] = &[
    (2, "CUDA_ERROR_OUT_OF_MEMORY"),
    (1, "CUDA_ERROR_INVALID_VALUE"),
    (100, "CUDA_ERROR_NO_DEVICE"),
    (3, "CUDA_ERROR_NOT_INITIALIZED"),
    (999, "CUDA_ERROR_UNKNOWN"),
];

/// Entry points the stand-in answers with success (the rest return CUDA_ERROR_UNKNOWN).
const ANSWERED: &[&str] = &[
    "cuDriverGetVersion",
    "cuInit",
    "cuDeviceGetCount",
    "cuGetErrorName",
    "cuGetErrorString",
    "cuGetExportTable",
];

/// C source of the counting, fault-injecting stand-in driver (CUDA 13.0, one device).
fn driver_source(symbols: &[&str]) -> String {
    let names: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
    let mut c = format!(
        r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static const char *NAMES[] = {{{names}}};
#define N {n}
static unsigned long CALLS[N];
/* Counts call i; the code injected into it by CUDA_STANDIN_FAIL, or 0. */
static int hit(int i) {{
    unsigned long nth = ++CALLS[i];
    const char *env = getenv("CUDA_STANDIN_FAIL");
    char spec[512], sym[128];
    unsigned long k; int code;
    char *item, *save;
    if (!env || strlen(env) >= sizeof spec) return 0;
    strcpy(spec, env);
    for (item = strtok_r(spec, ",", &save); item; item = strtok_r(0, ",", &save)) {{
        if (sscanf(item, "%127[^:]:%lu:%d", sym, &k, &code) == 3 && !strcmp(sym, NAMES[i]) && k == nth) {{
            fprintf(stderr, "stand-in libcuda: injected %d into call %lu of %s\n", code, nth, NAMES[i]);
            return code;
        }}
    }}
    return 0;
}}
__attribute__((destructor)) static void write_counts(void) {{
    const char *p = getenv("CUDA_STANDIN_COUNTS");
    FILE *f;
    int i;
    if (!p || !(f = fopen(p, "w"))) return;
    for (i = 0; i < N; i++) if (CALLS[i]) fprintf(f, "%s %lu\n", NAMES[i], CALLS[i]);
    fclose(f);
}}
static const char *name_of(int e) {{
    switch (e) {{
"#,
        names = names.join(", "),
        n = symbols.len()
    );
    for (code, name) in CODES {
        c += &format!("    case {code}: return \"{name}\";\n");
    }
    c += "    default: return \"CUDA_ERROR_UNKNOWN\";\n    }\n}\n";
    for (i, s) in symbols.iter().enumerate() {
        let body = match *s {
            "cuDriverGetVersion" => "int *v) { int rc = hit(I); if (rc) return rc; *v = 13000; return 0; }",
            "cuInit" => "unsigned f) { (void)f; return hit(I); }",
            "cuDeviceGetCount" => "int *n) { int rc = hit(I); if (rc) return rc; *n = 1; return 0; }",
            "cuGetErrorName" => "int e, const char **s) { int rc = hit(I); if (rc) return rc; *s = name_of(e); return 0; }",
            "cuGetErrorString" => "int e, const char **s) { int rc = hit(I); if (rc) return rc; (void)e; *s = \"stand-in error\"; return 0; }",
            "cuGetExportTable" => "const void **t, const void *id) { int rc = hit(I); (void)id; if (rc) return rc; *t = 0; return 801; }",
            _ => "void) { int rc = hit(I); return rc ? rc : 999; }",
        };
        c += &format!("int {s}({}\n", body.replace("hit(I)", &format!("hit({i})")));
    }
    c
}

fn compile(dir: &Path, file: &str, source: &str) {
    let src = dir.join(format!("{file}.c"));
    std::fs::write(&src, source).unwrap();
    let ok = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.join(file))
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the C compiler (cc) could not build the stand-in {file}"
    );
}

/// The stand-in driver and toolkit libraries in `dir`.
fn stand_ins(dir: &Path) {
    let mut symbols: Vec<&str> = REQUIRED_DRIVER_SYMBOLS.to_vec();
    symbols.push("cuEventElapsedTime_v2");
    for s in ANSWERED {
        if !symbols.contains(s) {
            symbols.push(s);
        }
    }
    compile(dir, "libcuda.so.1", &driver_source(&symbols));
    let stub = |syms: &[&str]| -> String {
        syms.iter()
            .map(|s| format!("int {s}(void) {{ return 1; }}\n"))
            .collect()
    };
    compile(dir, "libcublasLt.so.13", &stub(REQUIRED_CUBLASLT_SYMBOLS));
    compile(dir, "libnvrtc.so.13", &stub(REQUIRED_NVRTC_SYMBOLS));
}

struct Ran {
    code: Option<i32>,
    /// bench's own stderr lines (the stand-in's are left out).
    lines: Vec<String>,
    injected: bool,
    wrote: bool,
}

fn run(dir: &Path, envs: &[(&str, &str)]) -> Result<Ran, String> {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bench"));
    cmd.env_remove("RUST_BACKTRACE")
        .env("LD_LIBRARY_PATH", dir)
        .envs(envs.iter().copied())
        .args(["--backend", "cuda", "--out"])
        .arg(out.path());
    let (code, err) = common::run_bounded(cmd, Duration::from_secs(120))?;
    Ok(Ran {
        code: Some(code),
        injected: err.contains("stand-in libcuda: injected"),
        lines: err
            .lines()
            .filter(|l| !l.starts_with("stand-in libcuda:"))
            .map(str::to_string)
            .collect(),
        wrote: std::fs::read_dir(out.path()).unwrap().next().is_some(),
    })
}

/// Checks one injected run; the outcome's label, or what was wrong.
fn check(dir: &Path, spec: &str, symbol: &str, name: &str) -> Result<String, String> {
    let r = run(dir, &[("CUDA_STANDIN_FAIL", spec)])?;
    let all = r.lines.join("\n");
    let fail = |what: &str| Err(format!("{spec}: {what}: exit {:?}: {all}", r.code));
    if all.contains("panicked") {
        return fail("panic");
    }
    if !r.injected {
        return fail("the fault never fired");
    }
    if r.code != Some(2) || r.lines.len() != 1 {
        return fail("not exit 2 with one line");
    }
    if r.wrote {
        return fail("wrote to --out");
    }
    let line = &r.lines[0];
    if !line.contains(symbol) || !line.contains(name) {
        return fail("the line does not name the call and the error");
    }
    Ok("exit 2, one line naming the call and the error".into())
}

#[test]
fn every_stand_in_driver_entry_point_failing_at_every_call_position_is_clean() {
    if backends::cuda::driver_present().is_some() {
        return; // a machine with the NVIDIA driver: the stand-in would not be the one loaded
    }
    let dir = tempfile::tempdir().unwrap();
    stand_ins(dir.path());
    let counts_file = dir.path().join("counts.txt");
    let clean = run(
        dir.path(),
        &[("CUDA_STANDIN_COUNTS", counts_file.to_str().unwrap())],
    )
    .unwrap();
    assert_eq!(clean.code, Some(2), "{:?}", clean.lines);
    assert!(
        clean.lines.len() == 1 && clean.lines[0].contains("cannot compile a one-line kernel"),
        "the clean run stops at the stand-in NVRTC: {:?}",
        clean.lines
    );
    let counts: BTreeMap<String, u64> = std::fs::read_to_string(&counts_file)
        .expect("the stand-in wrote its call counts at exit")
        .lines()
        .map(|l| {
            let (s, n) = l.split_once(' ').unwrap();
            (s.to_string(), n.parse().unwrap())
        })
        .collect();
    for s in ["cuDriverGetVersion", "cuInit", "cuDeviceGetCount"] {
        assert!(counts.contains_key(s), "{s} never called: {counts:?}");
    }
    let mut results = Vec::new();
    for (symbol, &n) in &counts {
        for nth in 1..=n {
            let (code, name) = CODES[(nth as usize - 1) % CODES.len()];
            let spec = format!("{symbol}:{nth}:{code}");
            results.push((symbol.clone(), nth, check(dir.path(), &spec, symbol, name)));
        }
    }
    // The error-name lookups run only on an error path: each fails during cuInit's failure,
    // and the line still names cuInit and the error.
    for lookup in ["cuGetErrorName", "cuGetErrorString"] {
        let spec = format!("cuInit:1:2,{lookup}:1:1");
        let name = "CUDA_ERROR_OUT_OF_MEMORY";
        results.push((
            lookup.to_string(),
            1,
            check(dir.path(), &spec, "cuInit", name),
        ));
    }
    let mut table = String::from("| entry point | call positions | outcome |\n|---|---|---|\n");
    let mut by: BTreeMap<&str, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for (s, _, o) in &results {
        let e = by.entry(s).or_default();
        e.0 += 1;
        let label = o.clone().unwrap_or_else(|e| format!("NOT CLEAN: {e}"));
        *e.1.entry(label).or_default() += 1;
    }
    for (s, (n, o)) in by {
        let o: Vec<String> = o.iter().map(|(l, c)| format!("{c} × {l}")).collect();
        table += &format!("| {s} | {n} | {} |\n", o.join("; "));
    }
    eprintln!("{table}");
    let bad: Vec<_> = results.iter().filter(|r| r.2.is_err()).collect();
    assert!(bad.is_empty(), "{bad:#?}");
}
