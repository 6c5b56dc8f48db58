//! FFI, raw layer: the libnrt C types (SDK 2.28 / runtime 2.30.50 headers; see
//! `reference/neuron-runtime.md`) and the entry points bench calls, resolved at run time with
//! libloading so that no build links libnrt. Candidates, in order: `$BENCH_LIBNRT`,
//! `/opt/aws/neuron/lib/libnrt.so.1`, `libnrt.so.1`, `libnrt.so`. The library is loaded once
//! per process and never unloaded (its handles must outlive every caller).
//!
//! Optional symbols: `nrt_get_status_as_str` and `nrt_get_instance_info` (absent from
//! 2022/2023 runtimes), `nrta_execute_schedule` (only probed, for provenance), the
//! `nrt_sys_trace_*` family (device-side timing, [`super::trace`]); the `*_vnc_count` functions fall back to the older `*_nc_count` names.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

use libloading::Library;

pub type NrtStatus = u32;
pub type Model = c_void;
pub type Tensor = c_void;
/// `nrt_tensor_set_t` is `void` in the headers.
pub type TensorSet = c_void;

pub const NRT_FRAMEWORK_TYPE_NO_FW: u32 = 1;
pub const NRT_TENSOR_PLACEMENT_DEVICE: u32 = 0;
pub const NRT_TENSOR_USAGE_INPUT: u32 = 0;
pub const NRT_TENSOR_USAGE_OUTPUT: u32 = 1;
pub const NRT_TENSOR_NAME_MAX: usize = 256;

#[repr(C)]
pub struct NrtTensorInfo {
    pub name: [c_char; NRT_TENSOR_NAME_MAX],
    pub usage: u32,
    pub size: usize,
    pub dtype: u32,
    pub shape: *mut u32,
    pub ndim: u32,
}

#[repr(C)]
pub struct NrtTensorInfoArray {
    pub tensor_count: u64,
    pub tensor_array: [NrtTensorInfo; 0],
}

#[repr(C)]
pub struct NrtVersion {
    pub rt_major: u64,
    pub rt_minor: u64,
    pub rt_patch: u64,
    pub rt_maintenance: u64,
    pub rt_detail: [c_char; 128],
    pub git_hash: [c_char; 64],
}

#[repr(C)]
pub struct NrtInstanceInfo {
    pub family: u32,
    pub size: u32,
    pub arch_name: [c_char; 16],
    pub device_revision: [c_char; 8],
}

pub type InitFn = unsafe extern "C" fn(u32, *const c_char, *const c_char) -> NrtStatus;
pub type CloseFn = unsafe extern "C" fn();
pub type GetVersionFn = unsafe extern "C" fn(*mut NrtVersion, usize) -> NrtStatus;
pub type CountFn = unsafe extern "C" fn(*mut u32) -> NrtStatus;
pub type InstanceInfoFn = unsafe extern "C" fn(*mut NrtInstanceInfo, usize) -> NrtStatus;
pub type StatusStrFn = unsafe extern "C" fn(NrtStatus) -> *const c_char;
pub type LoadFn =
    unsafe extern "C" fn(*const c_void, usize, i32, i32, *mut *mut Model) -> NrtStatus;
pub type UnloadFn = unsafe extern "C" fn(*mut Model) -> NrtStatus;
pub type GetTensorInfoFn =
    unsafe extern "C" fn(*mut Model, *mut *mut NrtTensorInfoArray) -> NrtStatus;
pub type FreeTensorInfoFn = unsafe extern "C" fn(*mut NrtTensorInfoArray) -> NrtStatus;
pub type AllocateSetFn = unsafe extern "C" fn(*mut *mut TensorSet) -> NrtStatus;
pub type DestroySetFn = unsafe extern "C" fn(*mut *mut TensorSet);
pub type AddToSetFn = unsafe extern "C" fn(*mut TensorSet, *const c_char, *mut Tensor) -> NrtStatus;
pub type TensorAllocateFn =
    unsafe extern "C" fn(u32, c_int, usize, *const c_char, *mut *mut Tensor) -> NrtStatus;
pub type TensorFreeFn = unsafe extern "C" fn(*mut *mut Tensor);
pub type TensorReadFn = unsafe extern "C" fn(*const Tensor, *mut c_void, usize, usize) -> NrtStatus;
pub type TensorWriteFn =
    unsafe extern "C" fn(*mut Tensor, *const c_void, usize, usize) -> NrtStatus;
pub type ExecuteFn =
    unsafe extern "C" fn(*mut Model, *const TensorSet, *mut TensorSet) -> NrtStatus;

/// The resolved entry points of one loaded libnrt.
pub struct Api {
    pub path: String,
    pub init: InitFn,
    pub close: CloseFn,
    pub get_version: GetVersionFn,
    pub total_count: CountFn,
    pub visible_count: CountFn,
    /// Which names the counts came from (`vnc` or the older `nc`).
    pub count_names: &'static str,
    pub load: LoadFn,
    pub unload: UnloadFn,
    pub get_tensor_info: GetTensorInfoFn,
    pub free_tensor_info: FreeTensorInfoFn,
    pub allocate_set: AllocateSetFn,
    pub destroy_set: DestroySetFn,
    pub add_to_set: AddToSetFn,
    pub tensor_allocate: TensorAllocateFn,
    pub tensor_free: TensorFreeFn,
    pub tensor_read: TensorReadFn,
    pub tensor_write: TensorWriteFn,
    pub execute: ExecuteFn,
    pub status_as_str: Option<StatusStrFn>,
    pub instance_info: Option<InstanceInfoFn>,
    /// Whether the explicit async API (`nrt_async.h`, `nrta_execute_schedule`) is exported;
    /// only recorded, bench executes synchronously.
    pub explicit_async: bool,
    /// The optional system-trace API (device-side timing), or why it is absent.
    pub sys_trace: Result<super::trace::TraceApi, String>,
}

/// Where bench looks for libnrt, in order.
pub fn candidates() -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(p) = std::env::var("BENCH_LIBNRT") {
        if !p.is_empty() {
            v.push(p);
        }
    }
    v.extend(
        [
            "/opt/aws/neuron/lib/libnrt.so.1",
            "libnrt.so.1",
            "libnrt.so",
        ]
        .map(String::from),
    );
    v
}

/// What to install when no libnrt loads.
pub const INSTALL_HINT: &str = "install the Neuron runtime (on a trn1/trn2 instance with the Neuron apt repository: sudo apt-get install aws-neuronx-dkms aws-neuronx-collectives aws-neuronx-runtime-lib aws-neuronx-tools; the Deep Learning AMI Neuron has them) or set BENCH_LIBNRT=/path/to/libnrt.so.1 (for tests: target/release/libnrt_sim.so, the nrt-sim stand-in)";

/// The process-wide libnrt, loaded at the first call.
pub fn api() -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(load_first).as_ref().map_err(Clone::clone)
}

fn load_first() -> Result<Api, String> {
    let mut tried = Vec::new();
    for path in candidates() {
        // SAFETY: loading a shared library runs its initialisers; libnrt's (and nrt-sim's)
        // are the vendor's ordinary constructors, run once per process.
        match unsafe { Library::new(&path) } {
            Ok(lib) => return resolve(lib, path),
            Err(e) => {
                let why = std::error::Error::source(&e)
                    .map(|s| format!("{e}: {s}"))
                    .unwrap_or_else(|| e.to_string());
                tried.push(format!("{path} ({why})"))
            }
        }
    }
    Err(format!(
        "libnrt not found; tried {}: {INSTALL_HINT}",
        tried.join("; ")
    ))
}

fn resolve(lib: Library, path: String) -> Result<Api, String> {
    // The library stays mapped for the life of the process: every pointer below refers to it.
    let lib: &'static Library = Box::leak(Box::new(lib));
    fn sym<T: Copy>(lib: &'static Library, path: &str, name: &str) -> Result<T, String> {
        // SAFETY: `T` is the fn-pointer type of the libnrt header declaration of `name`;
        // the library is never unloaded, so the pointer stays valid.
        unsafe { lib.get::<T>(name.as_bytes()) }
            .map(|s| *s)
            .map_err(|e| {
                format!("{path} has no {name} ({e}): is it libnrt from the Neuron SDK 2.x? {INSTALL_HINT}")
            })
    }
    fn opt<T: Copy>(lib: &'static Library, name: &str) -> Option<T> {
        // SAFETY: as in `sym`.
        unsafe { lib.get::<T>(name.as_bytes()) }.ok().map(|s| *s)
    }
    let (total_count, visible_count, count_names) = match (
        opt::<CountFn>(lib, "nrt_get_total_vnc_count"),
        opt::<CountFn>(lib, "nrt_get_visible_vnc_count"),
    ) {
        (Some(t), Some(v)) => (t, v, "vnc"),
        _ => (
            sym(lib, &path, "nrt_get_total_nc_count")?,
            sym(lib, &path, "nrt_get_visible_nc_count")?,
            "nc",
        ),
    };
    Ok(Api {
        init: sym(lib, &path, "nrt_init")?,
        close: sym(lib, &path, "nrt_close")?,
        get_version: sym(lib, &path, "nrt_get_version")?,
        total_count,
        visible_count,
        count_names,
        load: sym(lib, &path, "nrt_load")?,
        unload: sym(lib, &path, "nrt_unload")?,
        get_tensor_info: sym(lib, &path, "nrt_get_model_tensor_info")?,
        free_tensor_info: sym(lib, &path, "nrt_free_model_tensor_info")?,
        allocate_set: sym(lib, &path, "nrt_allocate_tensor_set")?,
        destroy_set: sym(lib, &path, "nrt_destroy_tensor_set")?,
        add_to_set: sym(lib, &path, "nrt_add_tensor_to_tensor_set")?,
        tensor_allocate: sym(lib, &path, "nrt_tensor_allocate")?,
        tensor_free: sym(lib, &path, "nrt_tensor_free")?,
        tensor_read: sym(lib, &path, "nrt_tensor_read")?,
        tensor_write: sym(lib, &path, "nrt_tensor_write")?,
        execute: sym(lib, &path, "nrt_execute")?,
        status_as_str: opt(lib, "nrt_get_status_as_str"),
        instance_info: opt(lib, "nrt_get_instance_info"),
        explicit_async: opt::<unsafe extern "C" fn()>(lib, "nrta_execute_schedule").is_some(),
        sys_trace: super::trace::TraceApi::resolve(lib),
        path,
    })
}

/// A fixed C char array as a Rust string (up to the first NUL).
pub fn c_chars(chars: &[c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    /// Sizes and offsets from the SDK 2.28 headers (checked with a C compiler on x86-64).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn struct_layouts_match_the_sdk_headers() {
        assert_eq!(size_of::<NrtTensorInfo>(), 296);
        assert_eq!(align_of::<NrtTensorInfo>(), 8);
        assert_eq!(offset_of!(NrtTensorInfo, name), 0);
        assert_eq!(offset_of!(NrtTensorInfo, usage), 256);
        assert_eq!(offset_of!(NrtTensorInfo, size), 264);
        assert_eq!(offset_of!(NrtTensorInfo, dtype), 272);
        assert_eq!(offset_of!(NrtTensorInfo, shape), 280);
        assert_eq!(offset_of!(NrtTensorInfo, ndim), 288);
        assert_eq!(offset_of!(NrtTensorInfoArray, tensor_count), 0);
        assert_eq!(offset_of!(NrtTensorInfoArray, tensor_array), 8);
        assert_eq!(size_of::<NrtVersion>(), 224);
        assert_eq!(offset_of!(NrtVersion, rt_maintenance), 24);
        assert_eq!(offset_of!(NrtVersion, rt_detail), 32);
        assert_eq!(offset_of!(NrtVersion, git_hash), 160);
        assert_eq!(size_of::<NrtInstanceInfo>(), 32);
        assert_eq!(offset_of!(NrtInstanceInfo, size), 4);
        assert_eq!(offset_of!(NrtInstanceInfo, arch_name), 8);
        assert_eq!(offset_of!(NrtInstanceInfo, device_revision), 24);
    }

    #[test]
    fn candidates_start_with_the_override_then_the_sdk_paths() {
        let c = candidates();
        let n = c.len();
        assert_eq!(
            &c[n - 3..],
            [
                "/opt/aws/neuron/lib/libnrt.so.1",
                "libnrt.so.1",
                "libnrt.so"
            ]
        );
    }

    #[test]
    fn c_chars_stop_at_nul() {
        let a = [b'h' as c_char, b'i' as c_char, 0, b'x' as c_char];
        assert_eq!(c_chars(&a), "hi");
    }
}
