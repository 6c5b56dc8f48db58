//! nrt-sim: a stand-in for AWS `libnrt.so` that lets the whole Neuron path of bench (library
//! loading, the C ABI, tensor sets, execution, status handling) run and be tested on a machine
//! without Trainium. It exports the libnrt entry points bench uses with the same C signatures,
//! loads the stand-in NEFFs that `scripts/neuron/build_neffs.py --sim` writes (see
//! [`standin`]), computes them on the CPU ([`compute`]), plays the instance it is told to be
//! ([`machine`]), injects faults on request ([`faults`]) and, with a simulated device time,
//! serves the system-trace subset bench times with ([`trace`]). Its runtime version says "nrt-sim
//! ... SIMULATED", and bench marks every run through it `simulated: true`: nothing measured
//! here is a Trainium figure.
//!
//! Every exported function is an FFI entry point; each `unsafe` block says why it is sound
//! given the libnrt contract the caller must keep (valid pointers, sizes, live handles).
#![allow(unsafe_code)]

pub mod abi;
pub mod compute;
pub mod faults;
pub mod infer;
pub mod machine;
pub mod standin;
pub mod trace;

use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use abi::*;
use standin::StandIn;

/// 0: never initialised, 1: live, 2: closed (nrt_init cannot run again).
static STATE: AtomicU8 = AtomicU8::new(0);
/// The cores `nrt_init` reserved (0 before it ran).
static RESERVED: AtomicU32 = AtomicU32::new(0);

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The visible cores: those reserved by `nrt_init`, or before it those
/// `NEURON_RT_VISIBLE_CORES` names (every core when unset or malformed).
fn visible() -> u32 {
    let total = faults::config().cores;
    match RESERVED.load(Ordering::SeqCst) {
        0 => std::env::var("NEURON_RT_VISIBLE_CORES")
            .ok()
            .and_then(|v| machine::visible_cores(&v, total).ok())
            .unwrap_or(total),
        n => n,
    }
}

struct Model {
    standin: StandIn,
    /// The NeuronCore it was loaded on (the trace's `nc_idx`).
    vnc: i32,
}

struct Tensor {
    data: Mutex<Vec<u8>>,
}

struct TensorSet {
    entries: Vec<(String, *mut Tensor)>,
}

macro_rules! inject {
    ($sym:literal) => {
        if let Some(s) = faults::hit($sym) {
            return s;
        }
    };
}

fn live() -> Result<(), u32> {
    match STATE.load(Ordering::SeqCst) {
        1 => Ok(()),
        2 => Err(NRT_CLOSED),
        _ => Err(NRT_UNINITIALIZED),
    }
}

fn log(msg: &str) {
    eprintln!("nrt-sim: {msg}");
}

/// # Safety
/// `fw_version` and `fal_version` are NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn nrt_init(
    framework: u32,
    _fw_version: *const c_char,
    _fal_version: *const c_char,
) -> u32 {
    inject!("nrt_init");
    if faults::config().error.is_some()
        || machine::machine().error.is_some()
        || trace::config_error().is_some()
    {
        return NRT_INVALID;
    }
    if framework == 0 {
        log("nrt_init: framework type INVALID");
        return NRT_INVALID;
    }
    let total = faults::config().cores;
    let reserved = match std::env::var("NEURON_RT_VISIBLE_CORES") {
        Ok(v) => match machine::visible_cores(&v, total) {
            Ok(n) => n,
            Err(e) => {
                log(&format!("nrt_init: {e}"));
                return NRT_INVALID;
            }
        },
        Err(_) => total,
    };
    match STATE.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => {
            // Each reserved core is reset and waited for.
            spin(Duration::from_micros(
                machine::machine().init_us_per_core * reserved as u64,
            ));
            RESERVED.store(reserved, Ordering::SeqCst);
            NRT_SUCCESS
        }
        Err(2) => {
            log("nrt_init after nrt_close: the runtime initialises once per process");
            NRT_CLOSED
        }
        Err(_) => {
            log("nrt_init called twice");
            NRT_FAILURE
        }
    }
}

#[no_mangle]
pub extern "C" fn nrt_close() {
    STATE.store(2, Ordering::SeqCst);
    faults::write_counts();
}

/// # Safety
/// `ver` points to at least `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn nrt_get_version(ver: *mut NrtVersion, size: usize) -> u32 {
    inject!("nrt_get_version");
    if ver.is_null() || size < std::mem::size_of::<NrtVersion>() {
        return NRT_INVALID;
    }
    // SAFETY: non-null and large enough per the check above; the caller owns the memory.
    let v = unsafe { &mut *ver };
    v.rt_major = 2;
    v.rt_minor = 30;
    v.rt_patch = 0;
    v.rt_maintenance = 0;
    fill_cstr(
        &mut v.rt_detail,
        concat!(
            "nrt-sim ",
            env!("CARGO_PKG_VERSION"),
            " SIMULATED: CPU stand-in for libnrt, no Neuron device"
        ),
    );
    fill_cstr(&mut v.git_hash, "nrt-sim-simulated");
    NRT_SUCCESS
}

unsafe fn write_count(out: *mut u32, n: u32) -> u32 {
    if out.is_null() {
        return NRT_INVALID;
    }
    // SAFETY: non-null; the caller passes a pointer to one writable u32.
    unsafe { *out = n };
    NRT_SUCCESS
}

/// # Safety
/// `count` points to a writable u32.
#[no_mangle]
pub unsafe extern "C" fn nrt_get_total_vnc_count(count: *mut u32) -> u32 {
    inject!("nrt_get_total_vnc_count");
    // SAFETY: forwarded caller contract.
    unsafe { write_count(count, faults::config().cores) }
}

/// # Safety
/// `count` points to a writable u32.
#[no_mangle]
pub unsafe extern "C" fn nrt_get_visible_vnc_count(count: *mut u32) -> u32 {
    inject!("nrt_get_visible_vnc_count");
    // SAFETY: forwarded caller contract.
    unsafe { write_count(count, visible()) }
}

/// # Safety
/// `count` points to a writable u32.
#[no_mangle]
pub unsafe extern "C" fn nrt_get_total_nc_count(count: *mut u32) -> u32 {
    inject!("nrt_get_total_nc_count");
    // SAFETY: forwarded caller contract.
    unsafe { write_count(count, faults::config().cores) }
}

/// # Safety
/// `count` points to a writable u32.
#[no_mangle]
pub unsafe extern "C" fn nrt_get_visible_nc_count(count: *mut u32) -> u32 {
    inject!("nrt_get_visible_nc_count");
    // SAFETY: forwarded caller contract.
    unsafe { write_count(count, visible()) }
}

/// # Safety
/// `info` points to at least `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn nrt_get_instance_info(info: *mut NrtInstanceInfo, len: usize) -> u32 {
    inject!("nrt_get_instance_info");
    if info.is_null() || len < std::mem::size_of::<NrtInstanceInfo>() {
        return NRT_INVALID;
    }
    // SAFETY: non-null and large enough per the check above.
    let i = unsafe { &mut *info };
    // UNKNOWN unless NRT_SIM_INSTANCE names one: a simulator is no instance.
    let m = machine::machine();
    i.family = m.family;
    i.size = m.size;
    fill_cstr(&mut i.arch_name, "nrt-sim");
    fill_cstr(&mut i.device_revision, "sim");
    NRT_SUCCESS
}

#[no_mangle]
pub extern "C" fn nrt_get_status_as_str(status: u32) -> *const c_char {
    let name = STATUS_NAMES
        .iter()
        .find(|(c, _)| *c == status)
        .map(|(_, n)| *n)
        .unwrap_or("NRT_UNKNOWN_STATUS");
    // Interned C strings with static lifetime, one per name.
    static NAMES: std::sync::OnceLock<Vec<(String, std::ffi::CString)>> =
        std::sync::OnceLock::new();
    let table = NAMES.get_or_init(|| {
        STATUS_NAMES
            .iter()
            .map(|(_, n)| n.to_string())
            .chain(["NRT_UNKNOWN_STATUS".to_string()])
            .map(|n| {
                let c = std::ffi::CString::new(n.clone()).expect("no NUL in names");
                (n, c)
            })
            .collect()
    });
    table
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c.as_ptr())
        .unwrap_or(std::ptr::null())
}

/// # Safety
/// `neff` points to `size` readable bytes; `model` to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn nrt_load(
    neff: *const c_void,
    size: usize,
    vnc: i32,
    _vnc_count: i32,
    model: *mut *mut c_void,
) -> u32 {
    inject!("nrt_load");
    if let Err(s) = live() {
        return s;
    }
    if neff.is_null() || model.is_null() {
        return NRT_INVALID;
    }
    if vnc >= visible() as i32 || vnc < -1 {
        log(&format!(
            "nrt_load: NeuronCore {vnc} is not among the {} visible cores",
            visible()
        ));
        return NRT_LOAD_NOT_ENOUGH_NC;
    }
    // SAFETY: the caller passes a buffer of `size` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(neff as *const u8, size) };
    match StandIn::parse(bytes) {
        Ok(standin) => {
            let m = Box::new(Model { standin, vnc });
            // SAFETY: `model` is non-null and writable per the contract.
            unsafe { *model = Box::into_raw(m) as *mut c_void };
            NRT_SUCCESS
        }
        Err(e) => {
            log(&format!("nrt_load: {e}"));
            NRT_INVALID
        }
    }
}

/// # Safety
/// `model` is NULL or a live handle from `nrt_load`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn nrt_unload(model: *mut c_void) -> u32 {
    inject!("nrt_unload");
    if model.is_null() {
        return NRT_INVALID_HANDLE;
    }
    // SAFETY: the handle came from Box::into_raw in nrt_load and is released once.
    drop(unsafe { Box::from_raw(model as *mut Model) });
    NRT_SUCCESS
}

/// # Safety
/// `model` is a live handle; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn nrt_get_model_tensor_info(
    model: *mut c_void,
    out: *mut *mut NrtTensorInfoArray,
) -> u32 {
    inject!("nrt_get_model_tensor_info");
    if model.is_null() || out.is_null() {
        return NRT_INVALID_HANDLE;
    }
    // SAFETY: a live handle from nrt_load.
    let m = unsafe { &*(model as *const Model) };
    let specs: Vec<(u32, &standin::TensorSpec)> = m
        .standin
        .inputs
        .iter()
        .map(|t| (NRT_TENSOR_USAGE_INPUT, t))
        .chain(
            m.standin
                .outputs
                .iter()
                .map(|t| (NRT_TENSOR_USAGE_OUTPUT, t)),
        )
        .collect();
    let layout = info_layout(specs.len());
    // SAFETY: the layout has non-zero size (the 8-byte count at least).
    let arr = unsafe { std::alloc::alloc_zeroed(layout) } as *mut NrtTensorInfoArray;
    if arr.is_null() {
        return NRT_RESOURCE;
    }
    // SAFETY: `arr` is a fresh allocation of `layout`, sized for `specs.len()` entries.
    unsafe {
        (*arr).tensor_count = specs.len() as u64;
        let first = std::ptr::addr_of_mut!((*arr).tensor_array) as *mut NrtTensorInfo;
        for (i, (usage, t)) in specs.iter().enumerate() {
            let e = &mut *first.add(i);
            fill_cstr(&mut e.name, &t.name);
            e.usage = *usage;
            e.size = t.bytes();
            e.dtype = t.dtype.nrt_code();
            let shape: Box<[u32]> = t.shape.iter().map(|&d| d as u32).collect();
            e.ndim = shape.len() as u32;
            e.shape = Box::into_raw(shape) as *mut u32;
        }
        *out = arr;
    }
    NRT_SUCCESS
}

fn info_layout(n: usize) -> std::alloc::Layout {
    std::alloc::Layout::from_size_align(8 + n * std::mem::size_of::<NrtTensorInfo>(), 8)
        .expect("small layout")
}

/// # Safety
/// `info` is NULL or came from `nrt_get_model_tensor_info` and is freed once.
#[no_mangle]
pub unsafe extern "C" fn nrt_free_model_tensor_info(info: *mut NrtTensorInfoArray) -> u32 {
    inject!("nrt_free_model_tensor_info");
    if info.is_null() {
        return NRT_INVALID;
    }
    // SAFETY: allocated by nrt_get_model_tensor_info with info_layout(count); each shape
    // came from Box::into_raw of a boxed slice of `ndim` elements.
    unsafe {
        let n = (*info).tensor_count as usize;
        let first = std::ptr::addr_of_mut!((*info).tensor_array) as *mut NrtTensorInfo;
        for i in 0..n {
            let e = &mut *first.add(i);
            let slice = std::ptr::slice_from_raw_parts_mut(e.shape, e.ndim as usize);
            drop(Box::from_raw(slice));
        }
        std::alloc::dealloc(info as *mut u8, info_layout(n));
    }
    NRT_SUCCESS
}

/// # Safety
/// `result` is writable.
#[no_mangle]
pub unsafe extern "C" fn nrt_allocate_tensor_set(result: *mut *mut c_void) -> u32 {
    inject!("nrt_allocate_tensor_set");
    if result.is_null() {
        return NRT_INVALID;
    }
    let s = Box::new(TensorSet {
        entries: Vec::new(),
    });
    // SAFETY: non-null, writable per the contract.
    unsafe { *result = Box::into_raw(s) as *mut c_void };
    NRT_SUCCESS
}

/// # Safety
/// `set` is NULL or points to NULL or to a live set handle, destroyed once.
#[no_mangle]
pub unsafe extern "C" fn nrt_destroy_tensor_set(set: *mut *mut c_void) {
    if set.is_null() {
        return;
    }
    // SAFETY: `*set` is a handle from nrt_allocate_tensor_set; it is cleared after release.
    unsafe {
        if !(*set).is_null() {
            drop(Box::from_raw(*set as *mut TensorSet));
            *set = std::ptr::null_mut();
        }
    }
}

/// # Safety
/// `set` and `tensor` are live handles; `name` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn nrt_add_tensor_to_tensor_set(
    set: *mut c_void,
    name: *const c_char,
    tensor: *mut c_void,
) -> u32 {
    inject!("nrt_add_tensor_to_tensor_set");
    if set.is_null() || name.is_null() || tensor.is_null() {
        return NRT_INVALID;
    }
    // SAFETY: live handles and a C string per the contract.
    let (s, name) = unsafe {
        (
            &mut *(set as *mut TensorSet),
            CStr::from_ptr(name).to_string_lossy().into_owned(),
        )
    };
    s.entries.retain(|(n, _)| *n != name);
    s.entries.push((name, tensor as *mut Tensor));
    NRT_SUCCESS
}

/// # Safety
/// `name` is NULL or a C string; `tensor` is writable.
#[no_mangle]
pub unsafe extern "C" fn nrt_tensor_allocate(
    placement: u32,
    vnc: i32,
    size: usize,
    _name: *const c_char,
    tensor: *mut *mut c_void,
) -> u32 {
    inject!("nrt_tensor_allocate");
    if let Err(s) = live() {
        return s;
    }
    if tensor.is_null() || placement != NRT_TENSOR_PLACEMENT_DEVICE {
        log("nrt_tensor_allocate: only device placement is simulated");
        return NRT_INVALID;
    }
    if vnc < 0 || vnc >= visible() as i32 {
        return NRT_INVALID;
    }
    let t = Box::new(Tensor {
        data: Mutex::new(vec![0u8; size]),
    });
    // SAFETY: non-null, writable per the contract.
    unsafe { *tensor = Box::into_raw(t) as *mut c_void };
    NRT_SUCCESS
}

/// # Safety
/// `tensor` is NULL or points to NULL or a live handle, freed once.
#[no_mangle]
pub unsafe extern "C" fn nrt_tensor_free(tensor: *mut *mut c_void) {
    if tensor.is_null() {
        return;
    }
    // SAFETY: `*tensor` came from nrt_tensor_allocate; cleared after release.
    unsafe {
        if !(*tensor).is_null() {
            drop(Box::from_raw(*tensor as *mut Tensor));
            *tensor = std::ptr::null_mut();
        }
    }
}

/// # Safety
/// `tensor` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn nrt_tensor_get_size(tensor: *const c_void) -> usize {
    if tensor.is_null() {
        return 0;
    }
    // SAFETY: a live handle per the contract.
    let t = unsafe { &*(tensor as *const Tensor) };
    t.data.lock().map(|d| d.len()).unwrap_or(0)
}

/// # Safety
/// `tensor` is a live handle; `buf` has `size` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn nrt_tensor_read(
    tensor: *const c_void,
    buf: *mut c_void,
    offset: usize,
    size: usize,
) -> u32 {
    inject!("nrt_tensor_read");
    if tensor.is_null() || buf.is_null() {
        return NRT_INVALID;
    }
    // SAFETY: a live handle per the contract.
    let t = unsafe { &*(tensor as *const Tensor) };
    let d = t.data.lock().unwrap_or_else(|p| p.into_inner());
    if offset.checked_add(size).is_none_or(|end| end > d.len()) {
        return NRT_INVALID;
    }
    // SAFETY: bounds checked above; `buf` has `size` writable bytes and does not overlap.
    unsafe { std::ptr::copy_nonoverlapping(d.as_ptr().add(offset), buf as *mut u8, size) };
    NRT_SUCCESS
}

/// # Safety
/// `tensor` is a live handle; `buf` has `size` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn nrt_tensor_write(
    tensor: *mut c_void,
    buf: *const c_void,
    offset: usize,
    size: usize,
) -> u32 {
    inject!("nrt_tensor_write");
    if tensor.is_null() || buf.is_null() {
        return NRT_INVALID;
    }
    // SAFETY: a live handle per the contract.
    let t = unsafe { &*(tensor as *const Tensor) };
    let mut d = t.data.lock().unwrap_or_else(|p| p.into_inner());
    if offset.checked_add(size).is_none_or(|end| end > d.len()) {
        return NRT_INVALID;
    }
    // SAFETY: bounds checked above; `buf` has `size` readable bytes.
    unsafe { std::ptr::copy_nonoverlapping(buf as *const u8, d.as_mut_ptr().add(offset), size) };
    NRT_SUCCESS
}

fn find(set: &TensorSet, name: &str) -> Option<*mut Tensor> {
    set.entries.iter().find(|(n, _)| n == name).map(|(_, t)| *t)
}

/// # Safety
/// `model`, `input_set` and `output_set` are live handles whose tensors are live.
#[no_mangle]
pub unsafe extern "C" fn nrt_execute(
    model: *mut c_void,
    input_set: *const c_void,
    output_set: *mut c_void,
) -> u32 {
    let nth = faults::count("nrt_execute");
    if let Some(s) = faults::config().fail.get(&("nrt_execute".to_string(), nth)) {
        log(&format!(
            "injected status {s} into call {nth} of nrt_execute"
        ));
        return *s;
    }
    if let Err(s) = live() {
        return s;
    }
    if model.is_null() || input_set.is_null() || output_set.is_null() {
        return NRT_INVALID_HANDLE;
    }
    let cfg = faults::config();
    // Implicit async (runtimes before 2.34) returns once the request is queued: the caller
    // does not wait for the device.
    if cfg.latency_us > 0 && !machine::async_exec() {
        spin(Duration::from_micros(cfg.latency_us));
    }
    // SAFETY: live handles per the contract.
    let (m, ins, outs) = unsafe {
        (
            &*(model as *const Model),
            &*(input_set as *const TensorSet),
            &*(output_set as *const TensorSet),
        )
    };
    // The simulated device time (NRT_SIM_DEVICE_US), traced while a system trace runs.
    if !machine::async_exec() {
        trace::device_phase(m.vnc);
    }
    let s = &m.standin;
    let mut inputs = Vec::with_capacity(s.inputs.len());
    for spec in &s.inputs {
        let Some(t) = find(ins, &spec.name) else {
            log(&format!(
                "nrt_execute: input '{}' missing from the input set",
                spec.name
            ));
            return NRT_EXEC_BAD_INPUT;
        };
        // SAFETY: tensors in a set stay live until the set is destroyed (caller contract).
        let d = unsafe { &*t }
            .data
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if d.len() != spec.bytes() {
            log(&format!(
                "nrt_execute: input '{}' is {} bytes, the NEFF needs {}",
                spec.name,
                d.len(),
                spec.bytes()
            ));
            return NRT_EXEC_BAD_INPUT;
        }
        inputs.push(d.clone());
    }
    let mut targets = Vec::with_capacity(s.outputs.len());
    for spec in &s.outputs {
        match find(outs, &spec.name) {
            // SAFETY: as above.
            Some(t) if unsafe { &*t }.data.lock().map(|d| d.len()).unwrap_or(0) == spec.bytes() => {
                targets.push(t)
            }
            _ => {
                log(&format!(
                    "nrt_execute: output '{}' missing from the output set or of the wrong size",
                    spec.name
                ));
                return NRT_INVALID;
            }
        }
    }
    let mut results = compute::run(s, &inputs);
    let mut status = NRT_SUCCESS;
    if let Some((from, silent)) = cfg.nan_from {
        if nth >= from {
            let spec = &s.outputs[0];
            let mut v = compute::decode(&results[0], spec.dtype);
            v[0] = f32::NAN;
            results[0] = compute::encode(&v, spec.dtype);
            if !silent {
                status = NRT_EXEC_COMPLETED_WITH_NUM_ERR;
            }
        }
    }
    for (t, r) in targets.into_iter().zip(results) {
        // SAFETY: as above.
        *unsafe { &*t }
            .data
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = r;
    }
    status
}
