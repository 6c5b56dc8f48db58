//! FFI: OpenBLAS's `cblas_sgemm`, loaded at run time with libloading so that the default build
//! links no BLAS. `BENCH_CPU_BLAS=off` disables it; `BENCH_CPU_BLAS=/path/libopenblas.so`
//! picks a library (an error if it cannot be loaded); unset tries the usual sonames.
//!
//! OpenBLAS picks its kernels from the CPU model at load time, and older builds (Debian 12's
//! 0.3.21) do not recognise recent Xeons under virtualisation and fall back to a slow generic
//! core (30 GFLOP/s instead of 190 at 2048³ here). Unless the user set `OPENBLAS_CORETYPE`,
//! bench sets it from the CPU's features before loading (SkylakeX with AVX-512, Haswell with
//! AVX2) and records the core in use; the correctness gate still checks every result.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CStr};

use libloading::Library;

const CBLAS_ROW_MAJOR: c_int = 101;
const CBLAS_NO_TRANS: c_int = 111;

type SgemmFn = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    f32,
    *mut f32,
    c_int,
);
type ConfigFn = unsafe extern "C" fn() -> *const c_char;

const CANDIDATES: &[&str] = &[
    "libopenblas.so.0",
    "libopenblas.so",
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
];

/// Sets OPENBLAS_CORETYPE from the CPU's features unless the user set it.
fn choose_coretype() {
    if std::env::var_os("OPENBLAS_CORETYPE").is_some() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let core = if std::arch::is_x86_feature_detected!("avx512f") {
            Some("SkylakeX")
        } else if std::arch::is_x86_feature_detected!("avx2") {
            Some("Haswell")
        } else {
            None
        };
        if let Some(core) = core {
            // Set before the library is loaded, while no other thread reads the environment.
            std::env::set_var("OPENBLAS_CORETYPE", core);
        }
    }
}

/// A loaded OpenBLAS.
pub struct Blas {
    sgemm: SgemmFn,
    path: String,
    config: String,
    // Keeps the library mapped while `sgemm` may be called; dropped last.
    _lib: Library,
}

impl Blas {
    /// Loads the BLAS chosen by `BENCH_CPU_BLAS` (see the module docs). `Ok(None)`: no BLAS.
    pub fn from_env() -> Result<Option<Blas>, String> {
        match std::env::var("BENCH_CPU_BLAS") {
            Ok(v) if v == "off" || v == "0" || v.is_empty() => Ok(None),
            Ok(path) => Blas::load(&path).map(Some).map_err(|e| {
                format!("BENCH_CPU_BLAS={path}: {e}; set it to the path of libopenblas.so.0, or to off to use candle")
            }),
            Err(_) => Ok(CANDIDATES.iter().find_map(|p| Blas::load(p).ok())),
        }
    }

    fn load(path: &str) -> Result<Blas, String> {
        choose_coretype();
        // SAFETY: loading a shared library runs its initialisers; OpenBLAS's only set up its
        // thread pool. The path names a BLAS chosen by the user or a standard soname.
        let lib = unsafe { Library::new(path) }.map_err(|e| format!("cannot load: {e}"))?;
        // SAFETY: cblas_sgemm has this C signature in every CBLAS (LP64 int arguments).
        let sgemm: SgemmFn = unsafe { lib.get::<SgemmFn>(b"cblas_sgemm\0") }
            .map(|s| *s)
            .map_err(|e| format!("no cblas_sgemm: {e}"))?;
        // SAFETY: openblas_get_config takes nothing and returns a static NUL-terminated string.
        let config = unsafe { lib.get::<ConfigFn>(b"openblas_get_config\0") }
            .ok()
            .map(|f| {
                // SAFETY: see above; the pointer is static and NUL-terminated when non-null.
                let p = unsafe { f() };
                if p.is_null() {
                    String::new()
                } else {
                    // SAFETY: non-null, NUL-terminated, static storage owned by the library.
                    unsafe { CStr::from_ptr(p) }
                        .to_string_lossy()
                        .trim()
                        .to_string()
                }
            })
            .unwrap_or_default();
        // SAFETY: openblas_get_corename takes nothing and returns a static NUL-terminated string.
        let core = unsafe { lib.get::<ConfigFn>(b"openblas_get_corename\0") }
            .ok()
            .map(|f| {
                // SAFETY: as above; checked for null before reading.
                let p = unsafe { f() };
                if p.is_null() {
                    String::new()
                } else {
                    // SAFETY: non-null, NUL-terminated, static storage owned by the library.
                    unsafe { CStr::from_ptr(p) }
                        .to_string_lossy()
                        .trim()
                        .to_string()
                }
            })
            .unwrap_or_default();
        let config = if core.is_empty() {
            config
        } else {
            format!("{config}, core {core}")
        };
        Ok(Blas {
            sgemm,
            path: path.to_string(),
            config,
            _lib: lib,
        })
    }

    /// Library path and build configuration, for provenance.
    pub fn describe(&self) -> String {
        if self.config.is_empty() {
            self.path.clone()
        } else {
            format!("{} from {}", self.config, self.path)
        }
    }

    /// C[m,n] = A[m,k]·B[k,n], row-major f32.
    pub fn sgemm(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
    ) -> Result<(), String> {
        let dim =
            |x: usize| c_int::try_from(x).map_err(|_| format!("dimension {x} too large for BLAS"));
        let (mi, ni, ki) = (dim(m)?, dim(n)?, dim(k)?);
        if a.len() != m * k || b.len() != k * n || c.len() != m * n {
            return Err(format!("sgemm buffers do not match {m}x{n}x{k}"));
        }
        // SAFETY: the three slices hold exactly m·k, k·n and m·n f32 (checked above), the
        // leading dimensions equal the row lengths, and `c` is exclusively borrowed.
        unsafe {
            (self.sgemm)(
                CBLAS_ROW_MAJOR,
                CBLAS_NO_TRANS,
                CBLAS_NO_TRANS,
                mi,
                ni,
                ki,
                1.0,
                a.as_ptr(),
                ki.max(1),
                b.as_ptr(),
                ni.max(1),
                0.0,
                c.as_mut_ptr(),
                ni.max(1),
            )
        };
        Ok(())
    }
}
