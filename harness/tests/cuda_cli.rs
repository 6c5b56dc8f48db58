//! The CUDA backend without a GPU, through the real binary: the no-CUDA error (exit 2, one line
//! naming the missing libraries and what to install), `bench list`, and — with stand-in
//! `libcuda.so.1` builds compiled here by the C compiler — the probe's handling of drivers
//! that are too old, report no device, or lack the toolkit libraries, including the CUDA 12
//! event-timing fallback; with the real NVRTC wheel, the probe's compile and a missing
//! libnvrtc-builtins. Also the FLOP accounting of the points a GPU run covers, and that the
//! standard suite's prefill and decode points run on an 80 GB H100 and fit its memory.

mod cuda_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use backends::cuda::{
    fits_memory, supports_on, REQUIRED_CUBLASLT_SYMBOLS, REQUIRED_DRIVER_SYMBOLS,
    REQUIRED_NVRTC_SYMBOLS,
};
use harness::suite::{plan, Selection, Suite};
use kernels::{Workload, WorkloadKind};

fn bench(ld_path: Option<&Path>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bench"));
    c.env_remove("RUST_BACKTRACE");
    if let Some(p) = ld_path {
        c.env("LD_LIBRARY_PATH", p);
    }
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn no_cuda_here() -> bool {
    // cudarc's own check: this test file describes a machine without the NVIDIA driver.
    backends::cuda::driver_present().is_none()
}

#[test]
fn cuda_without_cuda_is_one_line_exit_2_and_writes_nothing() {
    if !no_cuda_here() {
        eprintln!("skipped: this machine has libcuda; the no-CUDA path cannot be exercised");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let o = bench(None)
        .args(["--backend", "cuda", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    for want in [
        "libcuda.so.1",
        "libcublasLt.so.13",
        "libnvrtc.so.13",
        "install the NVIDIA driver",
        "LD_LIBRARY_PATH",
    ] {
        assert!(err.contains(want), "missing {want:?} in: {err}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn list_says_why_cuda_is_unavailable() {
    if !no_cuda_here() {
        return;
    }
    let o = bench(None).arg("list").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("cuda"))
        .expect("a cuda line");
    assert!(
        line.contains("unavailable") && line.contains("libcuda.so.1"),
        "{line}"
    );
}

/// A stand-in library `file` in `dir` exporting `symbols` (each returns an error code).
fn stub_lib(dir: &Path, file: &str, symbols: &[&str]) {
    let c: String = symbols
        .iter()
        .map(|s| format!("int {s}(void) {{ return 1; }}\n"))
        .collect();
    let src = dir.join(format!("{file}.c"));
    std::fs::write(&src, c).unwrap();
    let ok = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-o"])
        .arg(dir.join(file))
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "cc could not build {file}");
}

fn run_with_stub(symbols: &[&str], api: i32, init_rc: i32) -> Option<(Option<i32>, String)> {
    run_with_stubs(symbols, api, init_rc, None)
}

/// Like `run_with_stub`, with stand-in cuBLASLt and NVRTC libraries exporting these symbols.
fn run_with_stubs(
    symbols: &[&str],
    api: i32,
    init_rc: i32,
    toolkit: Option<(&[&str], &[&str])>,
) -> Option<(Option<i32>, String)> {
    let dir = tempfile::tempdir().unwrap();
    cuda_support::stub_driver(dir.path(), symbols, api, init_rc)?;
    if let Some((lt, nvrtc)) = toolkit {
        stub_lib(dir.path(), "libcublasLt.so.13", lt);
        stub_lib(dir.path(), "libnvrtc.so.13", nvrtc);
    }
    let out = tempfile::tempdir().unwrap();
    let o = bench(Some(dir.path()))
        .args(["--backend", "cuda", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    Some((o.status.code(), stderr(&o)))
}

fn all_symbols_but(skip: &[&str], extra: &[&'static str]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = REQUIRED_DRIVER_SYMBOLS
        .iter()
        .copied()
        .filter(|s| !skip.contains(s))
        .collect();
    v.extend_from_slice(extra);
    v
}

#[test]
fn stand_in_drivers_get_clear_errors_not_panics() {
    if !no_cuda_here() {
        return;
    }
    // A CUDA 12.4 driver (no cuEventElapsedTime_v2: the fallback symbol is used) that sees no
    // device.
    let Some((code, err)) =
        run_with_stub(&all_symbols_but(&[], &["cuEventElapsedTime"]), 12040, 100)
    else {
        panic!("the C compiler (cc) is needed to build the stand-in libcuda.so.1");
    };
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cuInit failed: CUDA_ERROR_NO_DEVICE") && err.contains("driver API 12.4"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    // A driver too old for the bindings: a required symbol is missing.
    let (code, err) = run_with_stub(
        &all_symbols_but(&["cuMemAllocAsync"], &["cuEventElapsedTime"]),
        12040,
        0,
    )
    .unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("lacks cuMemAllocAsync") && err.contains("too old"),
        "{err}"
    );

    // A CUDA 11.8 driver.
    let (code, err) =
        run_with_stub(&all_symbols_but(&[], &["cuEventElapsedTime"]), 11080, 0).unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("supports CUDA 11.8 only"), "{err}");

    // No event-timing entry point at all.
    let (code, err) = run_with_stub(&all_symbols_but(&[], &[]), 13000, 0).unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("exports no cuEventElapsedTime"), "{err}");

    // A working CUDA 13.0 driver with one device but no toolkit libraries: the message names
    // what is missing and the driver it found.
    let (code, err) =
        run_with_stub(&all_symbols_but(&[], &["cuEventElapsedTime_v2"]), 13000, 0).unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "not found: libcublasLt.so.13 or .so.12 (cuBLASLt), libnvrtc.so.13 or .so.12 (NVRTC)"
        ) && err.contains("CUDA 13.0")
            && !err.contains("libcuda.so.1 (the NVIDIA driver)"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    // Toolkit libraries that lack an entry point the backend calls.
    let nvrtc_old: Vec<&str> = REQUIRED_NVRTC_SYMBOLS
        .iter()
        .copied()
        .filter(|s| *s != "nvrtcGetCUBIN")
        .collect();
    let v2 = all_symbols_but(&[], &["cuEventElapsedTime_v2"]);
    let (code, err) =
        run_with_stubs(&v2, 13000, 0, Some((REQUIRED_CUBLASLT_SYMBOLS, &nvrtc_old))).unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("libnvrtc.so.13 lacks nvrtcGetCUBIN"), "{err}");

    // Everything present, but the stand-in NVRTC cannot compile: the probe's one-line kernel
    // fails before any GPU is opened, still one line and exit 2.
    let (code, err) = run_with_stubs(
        &v2,
        13000,
        0,
        Some((REQUIRED_CUBLASLT_SYMBOLS, REQUIRED_NVRTC_SYMBOLS)),
    )
    .unwrap();
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("libnvrtc.so.13 cannot compile a one-line kernel"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// site-packages/nvidia/cu13/lib of the nvidia-cuda-nvrtc wheel (libnvrtc.so.13 and its
/// builtins), or None with the skip said (a failure under BENCH_REQUIRE_NVRTC=1).
fn nvrtc_wheel_lib() -> Option<PathBuf> {
    let dir = match std::env::var("BENCH_CUDA_WHEELS") {
        Ok(d) => Some(PathBuf::from(d)),
        Err(_) => Command::new("python3")
            .args([
                "-c",
                "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13'))",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())),
    }
    .map(|d| d.join("lib"))
    .filter(|d| d.join("libnvrtc.so.13").exists());
    if dir.is_none() {
        assert!(
            std::env::var("BENCH_REQUIRE_NVRTC").as_deref() != Ok("1"),
            "BENCH_REQUIRE_NVRTC=1 but the nvidia-cuda-nvrtc wheel is not installed"
        );
        eprintln!("skipped: the nvidia-cuda-nvrtc wheel is not installed");
    }
    dir
}

/// The real NVRTC behind stand-in driver and cuBLASLt libraries: with its builtins library
/// the probe's compile passes and the run gets as far as the (stand-in) GPU; with a copy of
/// libnvrtc.so.13 alone in a folder, `bench list` and `bench --backend cuda` name the missing
/// libnvrtc-builtins.
#[test]
fn the_probe_compiles_with_the_real_nvrtc_and_names_missing_builtins() {
    if !no_cuda_here() {
        return;
    }
    let Some(wheel) = nvrtc_wheel_lib() else {
        return;
    };
    let v2 = all_symbols_but(&[], &["cuEventElapsedTime_v2"]);
    let dir = tempfile::tempdir().unwrap();
    cuda_support::stub_driver(dir.path(), &v2, 13000, 0)
        .expect("cc builds the stand-in libcuda.so.1");
    stub_lib(dir.path(), "libcublasLt.so.13", REQUIRED_CUBLASLT_SYMBOLS);
    let with_builtins = format!("{}:{}", dir.path().display(), wheel.display());
    let out = tempfile::tempdir().unwrap();
    let o = bench(None)
        .env("LD_LIBRARY_PATH", &with_builtins)
        .args(["--backend", "cuda", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("GPU 0: CUDA context"), "{err}");

    // libnvrtc alone: a link to the wheel's file, its builtins not beside it.
    std::os::unix::fs::symlink(
        wheel.join("libnvrtc.so.13"),
        dir.path().join("libnvrtc.so.13"),
    )
    .unwrap();
    let o = bench(Some(dir.path()))
        .args(["--backend", "cuda", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot compile a one-line kernel")
            && err.contains("libnvrtc-builtins.so.13.0")
            && err.contains("LD_LIBRARY_PATH"),
        "{err}"
    );
    let o = bench(Some(dir.path())).arg("list").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let listed = String::from_utf8_lossy(&o.stdout);
    let line = listed
        .lines()
        .find(|l| l.trim_start().starts_with("cuda"))
        .expect("a cuda line");
    assert!(line.contains("libnvrtc-builtins"), "{line}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

/// The points a standard GPU run covers, with their analytic work: what the report divides by.
#[test]
fn standard_suite_cuda_points_and_their_flops() {
    let points = plan(Suite::Standard, &Selection::default()).unwrap();
    let h100 = (9, 0);
    let runnable: Vec<_> = points
        .iter()
        .filter(|p| supports_on(h100, p).is_ok())
        .collect();
    let count = |k: WorkloadKind| runnable.iter().filter(|p| p.kind() == k).count();
    // matmul: 4 sizes × 5 dtypes; attention: 4 s × 2 causal × 2 dtypes + 1 (d=64);
    // train-mlp: 3 widths × 2 dtypes.
    assert_eq!(count(WorkloadKind::Matmul), 20);
    assert_eq!(count(WorkloadKind::Attention), 17);
    assert_eq!(count(WorkloadKind::TrainMlp), 6);
    let by_id = |id: &str| {
        runnable
            .iter()
            .find(|p| p.id() == id)
            .unwrap_or_else(|| panic!("{id} not in the standard suite"))
    };
    let gemm = by_id("matmul/m=8192,n=8192,k=8192/bf16");
    assert_eq!(gemm.flops(), 2.0 * 8192f64.powi(3));
    assert_eq!(gemm.bytes(), 2.0 * 3.0 * 8192.0 * 8192.0);
    let att = by_id("attention/b=4,h=32,s=4096,d=128,causal=1/bf16");
    assert_eq!(
        att.flops(),
        4.0 * 4.0 * 32.0 * 4096f64.powi(2) * 128.0 / 2.0
    );
    assert_eq!(att.bytes(), 4.0 * 4.0 * 32.0 * 4096.0 * 128.0 * 2.0);
    let mlp = by_id("train-mlp/layers=4,width=4096,batch=512,classes=1000/bf16");
    if let Workload::TrainMlp(m) = mlp.workload {
        let params = 4 * (4096 * 4096 + 4096) + 4096 * 1000 + 1000;
        assert_eq!(m.parameters(), params);
        assert_eq!(mlp.flops(), 6.0 * params as f64 * 512.0);
    } else {
        panic!("not a train-mlp point");
    }
    // On an A100 (8.0) the fp8 GEMMs are skipped with a reason.
    let fp8 = by_id("matmul/m=4096,n=4096,k=4096/fp8_e4m3");
    assert!(supports_on((8, 0), fp8).unwrap_err().contains("8.9"));

    // prefill: 2 models × 2 batches × 2 prompts; decode: 110M over 3 batches × 3 contexts and
    // 0.87B over 3 batches × 2 contexts, all bf16, all dispatched on cuda.
    assert_eq!(count(WorkloadKind::Prefill), 8);
    assert_eq!(count(WorkloadKind::Decode), 15);
    // An H100 SXM's 81559 MiB and 132 SMs hold every one of them (the largest decode cache is
    // 64 GiB); on a 40 GB A100 that decode point is skipped naming what it needs.
    let h100_bytes = 81559u64 << 20;
    for p in runnable
        .iter()
        .filter(|p| matches!(p.kind(), WorkloadKind::Prefill | WorkloadKind::Decode))
    {
        assert_eq!(fits_memory(p, h100_bytes, 132), Ok(()), "{}", p.id());
    }
    let big =
        by_id("decode/d_model=2048,layers=16,heads=16,vocab=32768,batch=64,context=8192/bf16");
    let why = fits_memory(big, 40u64 << 30, 108).unwrap_err();
    assert!(why.contains("GiB") && why.contains("40.0 GiB"), "{why}");
    if let Workload::Decode(d) = big.workload {
        let n = d.model.matmul_parameters() as f64;
        assert_eq!(
            big.flops(),
            2.0 * n * 64.0 + 4.0 * 16.0 * 2048.0 * 8192.0 * 64.0
        );
    } else {
        panic!("not a decode point");
    }
}
