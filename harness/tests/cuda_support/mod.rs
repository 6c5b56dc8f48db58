//! Shared by the CUDA CLI tests and the GPU script tests: a stand-in `libcuda.so.1` compiled
//! here by the C compiler (a test fixture, not NVIDIA's driver), so the backend's probe and
//! the scripts around it run on machines without a GPU.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles a stand-in libcuda.so.1 into `dir`: every symbol in `symbols` exists and returns
/// CUDA_ERROR_UNKNOWN, except the ones the probe calls before it gives up. It also exports
/// `cuGetExportTable` (returning CUDA_ERROR_NOT_SUPPORTED): the real NVRTC looks it up in a
/// loadable libcuda during a compile and crashes when a stand-in lacks it.
pub fn stub_driver(dir: &Path, symbols: &[&str], api: i32, init_rc: i32) -> Option<PathBuf> {
    let mut c = String::from("#include <stddef.h>\n");
    c += &format!(
        "int cuDriverGetVersion(int *v) {{ *v = {api}; return 0; }}\n\
         int cuInit(unsigned f) {{ (void)f; return {init_rc}; }}\n\
         int cuDeviceGetCount(int *n) {{ *n = 1; return 0; }}\n\
         int cuGetErrorName(int e, const char **s) {{ *s = e == 100 ? \"CUDA_ERROR_NO_DEVICE\" : \"CUDA_ERROR_UNKNOWN\"; return 0; }}\n\
         int cuGetErrorString(int e, const char **s) {{ *s = e == 100 ? \"no CUDA-capable device is detected\" : \"unknown error\"; return 0; }}\n\
         int cuGetExportTable(const void **t, const void *id) {{ (void)id; *t = 0; return 801; }}\n"
    );
    let special = [
        "cuDriverGetVersion",
        "cuInit",
        "cuDeviceGetCount",
        "cuGetErrorName",
        "cuGetErrorString",
        "cuGetExportTable",
    ];
    for s in symbols.iter().filter(|s| !special.contains(s)) {
        c += &format!("int {s}(void) {{ return 999; }}\n");
    }
    let src = dir.join("stub.c");
    std::fs::write(&src, c).unwrap();
    let lib = dir.join("libcuda.so.1");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let ok = Command::new(cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then_some(lib)
}
