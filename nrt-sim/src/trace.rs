//! The subset of the system-trace API (`nrt_sys_trace.h`, SDK 2.28) that bench uses, with a
//! simulated device time per execute:
//! - `NRT_SIM_DEVICE_US=<µs>`: every synchronous `nrt_execute` spends that long "on the
//!   device" (a spin after the host-side `NRT_SIM_LATENCY_US`, before the stand-in
//!   computation), and while a trace is started each one records an `nc_exec_running`
//!   start/stop pair whose device timestamps bracket that spin.
//! - Unset: there is no device phase, and `nrt_sys_trace_start` refuses with NRT_INVALID
//!   (tracing unsupported), so a caller's wall-clock fallback can be tested.
//!
//! Exported: `nrt_sys_trace_config_allocate/free/set_defaults`,
//! `nrt_sys_trace_config_set_capture_enabled_for_event_type`, `nrt_sys_trace_get_event_types`,
//! `nrt_sys_trace_free_event_types`, `nrt_sys_trace_start/stop`,
//! `nrt_sys_trace_fetch_events` (options ignored: every event, once) and
//! `nrt_sys_trace_buffer_free`. The fetched JSON is `{"events": [{"event_type", "phase",
//! "tracking_id", "nc_idx", "timestamp_ns", "data": {"exec_id", "device_core_idx",
//! "nc_timestamp_ns"}}]}`, the shape public parsers of the real runtime's output read.
//! `NRT_SIM_FAIL=nrt_sys_trace_fetch_events:<nth>:<status>` fails a fetch.
//! Arrays from `nrt_sys_trace_get_event_types` must be freed with
//! `nrt_sys_trace_free_event_types` (not libc `free`, unlike the real runtime).
//! A malformed `NRT_SIM_DEVICE_US` is reported on stderr and makes `nrt_init` fail.

use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::abi::{NRT_INVALID, NRT_SUCCESS};

/// The event type bench reads, and the others this stand-in claims to know.
pub const EVENT_TYPES: &[&str] = &["nc_exec_running", "nrt_model_submit", "kbl_exec_wait"];

/// `NRT_SIM_DEVICE_US` parsed: `Ok(None)` when unset.
pub fn parse_device_us(v: Option<&str>) -> Result<Option<u64>, String> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| format!("NRT_SIM_DEVICE_US '{s}' is not a whole number of µs")),
    }
}

fn device_us() -> &'static Result<Option<u64>, String> {
    static V: OnceLock<Result<Option<u64>, String>> = OnceLock::new();
    V.get_or_init(|| {
        let r = parse_device_us(std::env::var("NRT_SIM_DEVICE_US").ok().as_deref());
        if let Err(e) = &r {
            eprintln!("nrt-sim: {e}");
        }
        r
    })
}

/// The configuration error that makes `nrt_init` fail, if any.
pub fn config_error() -> Option<&'static str> {
    device_us().as_ref().err().map(String::as_str)
}

/// The simulated device clock: nanoseconds since the library's first use.
fn device_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

struct Event {
    start: bool,
    tracking_id: u64,
    nc: i32,
    ns: u64,
    exec_id: u64,
}

/// Captured events while a trace runs (`None` when stopped).
static EVENTS: Mutex<Option<Vec<Event>>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The device phase of one synchronous execute on NeuronCore `vnc`: spins the configured
/// device time and, while tracing, records its `nc_exec_running` interval.
pub fn device_phase(vnc: i32) {
    let Ok(Some(us)) = device_us() else { return };
    let t0 = device_ns();
    spin(Duration::from_micros(*us));
    let t1 = device_ns();
    let mut ev = EVENTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = ev.as_mut() {
        let exec_id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let tracking_id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        for (start, ns) in [(true, t0), (false, t1)] {
            v.push(Event {
                start,
                tracking_id,
                nc: vnc,
                ns,
                exec_id,
            });
        }
    }
}

fn to_json(events: &[Event]) -> String {
    let items: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "event_type": "nc_exec_running",
                "phase": if e.start { "start" } else { "stop" },
                "tracking_id": e.tracking_id,
                "nc_idx": e.nc,
                "timestamp_ns": e.ns,
                "data": {
                    "exec_id": e.exec_id,
                    "device_core_idx": e.nc,
                    "nc_timestamp_ns": e.ns,
                },
            })
        })
        .collect();
    serde_json::json!({ "events": items }).to_string()
}

/// The opaque `nrt_sys_trace_config_t`.
pub struct TraceConfig {
    disabled: Vec<String>,
}

/// # Safety
/// `options` is a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn nrt_sys_trace_config_allocate(options: *mut *mut TraceConfig) -> u32 {
    if options.is_null() {
        return NRT_INVALID;
    }
    let c = Box::new(TraceConfig {
        disabled: Vec::new(),
    });
    // SAFETY: non-null and writable per the contract.
    unsafe { *options = Box::into_raw(c) };
    NRT_SUCCESS
}

/// # Safety
/// `options` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn nrt_sys_trace_config_set_defaults(options: *mut TraceConfig) {
    if !options.is_null() {
        // SAFETY: a live config per the contract.
        unsafe { (*options).disabled.clear() };
    }
}

/// # Safety
/// `options` is NULL or a config from `nrt_sys_trace_config_allocate`, freed once.
#[no_mangle]
pub unsafe extern "C" fn nrt_sys_trace_config_free(options: *mut TraceConfig) {
    if !options.is_null() {
        // SAFETY: came from Box::into_raw in nrt_sys_trace_config_allocate.
        drop(unsafe { Box::from_raw(options) });
    }
}

/// # Safety
/// `options` is a live config; `event_type` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn nrt_sys_trace_config_set_capture_enabled_for_event_type(
    options: *mut TraceConfig,
    event_type: *const c_char,
    enabled: bool,
) -> u32 {
    if options.is_null() || event_type.is_null() {
        return NRT_INVALID;
    }
    // SAFETY: a C string and a live config per the contract.
    let (c, name) = unsafe { (&mut *options, CStr::from_ptr(event_type)) };
    let name = name.to_string_lossy().into_owned();
    if !EVENT_TYPES.contains(&name.as_str()) {
        return NRT_INVALID;
    }
    c.disabled.retain(|n| *n != name);
    if !enabled {
        c.disabled.push(name);
    }
    NRT_SUCCESS
}

/// # Safety
/// `event_types` and `count` are writable.
#[no_mangle]
pub unsafe extern "C" fn nrt_sys_trace_get_event_types(
    event_types: *mut *mut *const c_char,
    count: *mut usize,
) -> u32 {
    if event_types.is_null() || count.is_null() {
        return NRT_INVALID;
    }
    let names: Box<[*const c_char]> = EVENT_TYPES
        .iter()
        .map(|n| CString::new(*n).expect("no NUL").into_raw() as *const c_char)
        .collect();
    // SAFETY: writable per the contract; freed by nrt_sys_trace_free_event_types.
    unsafe {
        *count = names.len();
        *event_types = Box::into_raw(names) as *mut *const c_char;
    }
    NRT_SUCCESS
}

/// # Safety
/// `event_types` and `count` came from `nrt_sys_trace_get_event_types`, freed once.
#[no_mangle]
pub unsafe extern "C" fn nrt_sys_trace_free_event_types(
    event_types: *mut *const c_char,
    count: usize,
) {
    if event_types.is_null() {
        return;
    }
    // SAFETY: a boxed slice of `count` CString pointers from nrt_sys_trace_get_event_types.
    unsafe {
        let names = Box::from_raw(std::ptr::slice_from_raw_parts_mut(event_types, count));
        for &n in names.iter() {
            drop(CString::from_raw(n as *mut c_char));
        }
    }
}

/// # Safety
/// `options` is NULL or a live config.
#[no_mangle]
pub unsafe extern "C" fn nrt_sys_trace_start(_options: *mut TraceConfig) -> u32 {
    if crate::live().is_err() {
        return crate::abi::NRT_UNINITIALIZED;
    }
    if !matches!(device_us(), Ok(Some(_))) {
        eprintln!("nrt-sim: nrt_sys_trace_start: system trace unsupported here (NRT_SIM_DEVICE_US is unset: no simulated device time)");
        return NRT_INVALID;
    }
    let mut ev = EVENTS.lock().unwrap_or_else(|p| p.into_inner());
    if ev.is_some() {
        eprintln!("nrt-sim: nrt_sys_trace_start: a trace is already running");
        return NRT_INVALID;
    }
    *ev = Some(Vec::new());
    NRT_SUCCESS
}

#[no_mangle]
pub extern "C" fn nrt_sys_trace_stop() -> u32 {
    *EVENTS.lock().unwrap_or_else(|p| p.into_inner()) = None;
    NRT_SUCCESS
}

/// # Safety
/// `buffer` and `written_size` are writable; `options` is ignored.
#[no_mangle]
pub unsafe extern "C" fn nrt_sys_trace_fetch_events(
    buffer: *mut *mut c_char,
    written_size: *mut usize,
    _options: *const std::ffi::c_void,
) -> u32 {
    if let Some(s) = crate::faults::hit("nrt_sys_trace_fetch_events") {
        return s;
    }
    if buffer.is_null() || written_size.is_null() {
        return NRT_INVALID;
    }
    let drained = {
        let mut ev = EVENTS.lock().unwrap_or_else(|p| p.into_inner());
        match ev.as_mut() {
            Some(v) => std::mem::take(v),
            None => {
                eprintln!("nrt-sim: nrt_sys_trace_fetch_events: no trace is running");
                return NRT_INVALID;
            }
        }
    };
    let json = CString::new(to_json(&drained)).expect("JSON has no NUL");
    // SAFETY: writable per the contract; freed by nrt_sys_trace_buffer_free.
    unsafe {
        *written_size = json.as_bytes().len();
        *buffer = json.into_raw();
    }
    NRT_SUCCESS
}

/// # Safety
/// `buffer` is NULL or came from `nrt_sys_trace_fetch_events`, freed once.
#[no_mangle]
pub unsafe extern "C" fn nrt_sys_trace_buffer_free(buffer: *mut c_char) {
    if !buffer.is_null() {
        // SAFETY: came from CString::into_raw in nrt_sys_trace_fetch_events.
        drop(unsafe { CString::from_raw(buffer) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_us_parses_or_names_the_value() {
        assert_eq!(parse_device_us(None), Ok(None));
        assert_eq!(parse_device_us(Some("")), Ok(None));
        assert_eq!(parse_device_us(Some("200")), Ok(Some(200)));
        let e = parse_device_us(Some("fast")).unwrap_err();
        assert!(e.contains("NRT_SIM_DEVICE_US 'fast'"), "{e}");
    }

    #[test]
    fn events_serialise_as_start_stop_pairs_with_device_timestamps() {
        let evs = [
            Event {
                start: true,
                tracking_id: 2,
                nc: 3,
                ns: 1_000,
                exec_id: 1,
            },
            Event {
                start: false,
                tracking_id: 2,
                nc: 3,
                ns: 201_000,
                exec_id: 1,
            },
        ];
        let v: serde_json::Value = serde_json::from_str(&to_json(&evs)).unwrap();
        let e = &v["events"];
        assert_eq!(e.as_array().unwrap().len(), 2);
        assert_eq!(e[0]["event_type"], "nc_exec_running");
        assert_eq!(e[0]["phase"], "start");
        assert_eq!(e[1]["phase"], "stop");
        assert_eq!(e[1]["nc_idx"], 3);
        assert_eq!(e[1]["data"]["nc_timestamp_ns"], 201_000);
        assert_eq!(e[0]["data"]["exec_id"], e[1]["data"]["exec_id"]);
    }
}
