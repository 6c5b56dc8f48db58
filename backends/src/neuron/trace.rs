//! FFI: device-side timing through libnrt's system-trace API (`nrt_sys_trace.h`, SDK 2.28 /
//! runtime 2.30 headers), which the runtime exports only in newer releases and bench therefore
//! probes as optional. [`TraceApi::resolve`] finds the symbols (or says which is missing);
//! [`choose`] decides the point timer once per run: the trace where it starts, else the wall
//! clock with the reason, both recorded in `backend.extra`. A [`Tracer`] is one trace session
//! for the whole run (`nrt_sys_trace_start` at open, `nrt_sys_trace_stop` when the backend
//! drops, before `nrt_close`); each sample fetches (and thereby drains) its events and reads
//! their `nc_exec_running` device timestamps ([`super::trace_events`]).
//!
//! `BENCH_NEURON_TIMER`: unset or `auto` (the trace where available), `wall` (the wall clock,
//! even where the trace works), `nrt_sys_trace` (the trace or exit 2 saying why not).
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;

use libloading::Library;

use super::result::{check, NrtError};
use super::runtime::Runtime;
use super::trace_events::{self, DeviceTime, EXEC_EVENT};

/// The variable that chooses the timer.
pub const TIMER_VAR: &str = "BENCH_NEURON_TIMER";
/// The point timer's name when the trace times it.
pub const TIMER: &str = "nrt_sys_trace";

type Config = c_void;
type ConfigAllocateFn = unsafe extern "C" fn(*mut *mut Config) -> u32;
type ConfigFreeFn = unsafe extern "C" fn(*mut Config);
type SetEventTypeFn = unsafe extern "C" fn(*mut Config, *const c_char, bool) -> u32;
type GetEventTypesFn = unsafe extern "C" fn(*mut *mut *const c_char, *mut usize) -> u32;
type FreeEventTypesFn = unsafe extern "C" fn(*mut *const c_char, usize);
type StartFn = unsafe extern "C" fn(*mut Config) -> u32;
type StopFn = unsafe extern "C" fn() -> u32;
type FetchFn = unsafe extern "C" fn(*mut *mut c_char, *mut usize, *const c_void) -> u32;
type BufferFreeFn = unsafe extern "C" fn(*mut c_char);

/// The system-trace entry points of one libnrt.
pub struct TraceApi {
    config_allocate: ConfigAllocateFn,
    config_free: ConfigFreeFn,
    start: StartFn,
    stop: StopFn,
    fetch: FetchFn,
    buffer_free: BufferFreeFn,
    /// Optional: enabling `nc_exec_running` explicitly.
    set_event_type: Option<SetEventTypeFn>,
    /// Optional: the runtime's event types, to check `nc_exec_running` is one.
    event_types: Option<(GetEventTypesFn, FreeEventTypesFn)>,
}

impl TraceApi {
    /// The trace symbols of `lib`, or which required one it lacks.
    pub fn resolve(lib: &'static Library) -> Result<TraceApi, String> {
        fn opt<T: Copy>(lib: &'static Library, name: &str) -> Option<T> {
            // SAFETY: `T` is the fn-pointer type of the nrt_sys_trace.h declaration of `name`;
            // the library is never unloaded, so the pointer stays valid.
            unsafe { lib.get::<T>(name.as_bytes()) }.ok().map(|s| *s)
        }
        fn req<T: Copy>(lib: &'static Library, name: &str) -> Result<T, String> {
            opt(lib, name).ok_or_else(|| {
                format!("libnrt exports no {name} (the system-trace API of nrt_sys_trace.h, in the Neuron SDK 2.28 headers and later)")
            })
        }
        Ok(TraceApi {
            config_allocate: req(lib, "nrt_sys_trace_config_allocate")?,
            config_free: req(lib, "nrt_sys_trace_config_free")?,
            start: req(lib, "nrt_sys_trace_start")?,
            stop: req(lib, "nrt_sys_trace_stop")?,
            fetch: req(lib, "nrt_sys_trace_fetch_events")?,
            buffer_free: req(lib, "nrt_sys_trace_buffer_free")?,
            set_event_type: opt(
                lib,
                "nrt_sys_trace_config_set_capture_enabled_for_event_type",
            ),
            event_types: opt(lib, "nrt_sys_trace_get_event_types")
                .zip(opt(lib, "nrt_sys_trace_free_event_types")),
        })
    }

    /// The runtime's event types, when it can list them.
    fn list_event_types(&self) -> Option<Result<Vec<String>, NrtError>> {
        let (get, free) = self.event_types?;
        let mut arr: *mut *const c_char = std::ptr::null_mut();
        let mut n = 0usize;
        // SAFETY: two writable out-pointers, as nrt_sys_trace.h declares.
        let raw = unsafe { get(&mut arr, &mut n) };
        if let Err(e) = check("nrt_sys_trace_get_event_types", String::new, raw) {
            return Some(Err(e));
        }
        let mut names = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: on success `arr` holds `n` NUL-terminated strings owned by the runtime.
            let p = unsafe { *arr.add(i) };
            if !p.is_null() {
                // SAFETY: non-null and NUL-terminated per the contract above.
                names.push(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned());
            }
        }
        // SAFETY: the array and count just returned, released once with the matching call.
        unsafe { free(arr, n) };
        Some(Ok(names))
    }
}

/// One running system trace; stopped on drop, before the runtime closes (it holds it).
pub struct Tracer {
    api: &'static TraceApi,
    _rt: Arc<Runtime>,
}

impl Tracer {
    /// Starts a trace with the default capture (every core), `nc_exec_running` enabled.
    fn start(api: &'static TraceApi, rt: &Arc<Runtime>) -> Result<Tracer, String> {
        let mut cfg: *mut Config = std::ptr::null_mut();
        // SAFETY: one writable out-pointer.
        let raw = unsafe { (api.config_allocate)(&mut cfg) };
        check("nrt_sys_trace_config_allocate", String::new, raw).map_err(|e| e.to_string())?;
        if let Some(set) = api.set_event_type {
            // SAFETY: a live config from nrt_sys_trace_config_allocate and a C string literal.
            let raw = unsafe { set(cfg, c"nc_exec_running".as_ptr(), true) };
            if let Err(e) = check(
                "nrt_sys_trace_config_set_capture_enabled_for_event_type",
                || format!(" ({EXEC_EVENT})"),
                raw,
            ) {
                // SAFETY: the config allocated above, freed once.
                unsafe { (api.config_free)(cfg) };
                return Err(e.to_string());
            }
        }
        // SAFETY: a live config; the runtime copies what it needs (AWS's own wrapper frees
        // the config right after starting).
        let raw = unsafe { (api.start)(cfg) };
        // SAFETY: the config allocated above, freed once.
        unsafe { (api.config_free)(cfg) };
        check("nrt_sys_trace_start", String::new, raw).map_err(|e| e.to_string())?;
        Ok(Tracer {
            api,
            _rt: rt.clone(),
        })
    }

    /// Fetches (and so drains) every captured event as the runtime's JSON.
    pub fn fetch(&self) -> Result<String, NrtError> {
        let mut buf: *mut c_char = std::ptr::null_mut();
        let mut written = 0usize;
        // SAFETY: two writable out-pointers and NULL options (every event), as documented.
        let raw = unsafe { (self.api.fetch)(&mut buf, &mut written, std::ptr::null()) };
        check("nrt_sys_trace_fetch_events", String::new, raw)?;
        if buf.is_null() {
            return Ok(String::new());
        }
        // SAFETY: on success `buf` is a NUL-terminated string the runtime allocated.
        let json = unsafe { CStr::from_ptr(buf) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: the buffer just returned, released once with the matching call.
        unsafe { (self.api.buffer_free)(buf) };
        Ok(json)
    }

    /// The device time of the `executes` executions since the last fetch.
    pub fn sample(&self, executes: usize) -> Result<DeviceTime, String> {
        let json = self.fetch().map_err(|e| e.to_string())?;
        trace_events::device_time(&json, executes).map_err(|e| {
            format!("{e}: device timing failed; rerun with {TIMER_VAR}=wall to time on the host wall clock")
        })
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        // SAFETY: the trace this handle started; the runtime is still initialised (held).
        let _ = unsafe { (self.api.stop)() };
    }
}

/// What the timer variable asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Auto,
    Wall,
    Trace,
}

/// Reads `BENCH_NEURON_TIMER`'s value; an error names the value and the choices.
pub fn want(value: Option<&str>) -> Result<Want, String> {
    match value.map(str::trim) {
        None | Some("") | Some("auto") => Ok(Want::Auto),
        Some("wall") => Ok(Want::Wall),
        Some(TIMER) => Ok(Want::Trace),
        Some(v) => Err(format!("{TIMER_VAR}={v}: must be auto, wall or {TIMER}")),
    }
}

/// The run's timer: a started trace, or `None` with the reason in `extra`
/// (`timer`, `timer_reason`; with the trace also `sys_trace_event_types`). `Err` only when
/// the trace was required (`BENCH_NEURON_TIMER=nrt_sys_trace`) and cannot start.
pub fn choose(
    api: Result<&'static TraceApi, &str>,
    rt: &Arc<Runtime>,
    want: Want,
    extra: &mut BTreeMap<String, String>,
) -> Result<Option<Arc<Tracer>>, String> {
    let started = match (want, api) {
        (Want::Wall, _) => Err(format!("{TIMER_VAR}=wall")),
        (_, Err(why)) => Err(why.to_string()),
        (_, Ok(api)) => start_checked(api, rt, extra),
    };
    match started {
        Ok(t) => {
            extra.insert("timer".into(), TIMER.into());
            extra.insert(
                "timer_reason".into(),
                format!("libnrt exports the system-trace API: each sample is the {EXEC_EVENT} device time (slowest execution), wall time beside it in samples_wall_s"),
            );
            Ok(Some(Arc::new(t)))
        }
        Err(why) if want == Want::Trace => Err(format!(
            "{TIMER_VAR}={TIMER} but device timing is unavailable: {why}; unset {TIMER_VAR} to time on the host wall clock"
        )),
        Err(why) => {
            extra.insert("timer".into(), "wall".into());
            extra.insert(
                "timer_reason".into(),
                format!("host wall clock around the synchronous nrt_execute, no device-side timing: {why}"),
            );
            Ok(None)
        }
    }
}

fn start_checked(
    api: &'static TraceApi,
    rt: &Arc<Runtime>,
    extra: &mut BTreeMap<String, String>,
) -> Result<Tracer, String> {
    if let Some(types) = api.list_event_types() {
        let types = types.map_err(|e| e.to_string())?;
        if !types.iter().any(|t| t == EXEC_EVENT) {
            return Err(format!(
                "the runtime's trace event types ({}) lack {EXEC_EVENT}",
                types.join(", ")
            ));
        }
        extra.insert("sys_trace_event_types".into(), types.join(","));
    }
    Tracer::start(api, rt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_variable_takes_three_values_and_names_a_bad_one() {
        assert_eq!(want(None), Ok(Want::Auto));
        assert_eq!(want(Some("auto")), Ok(Want::Auto));
        assert_eq!(want(Some("wall")), Ok(Want::Wall));
        assert_eq!(want(Some("nrt_sys_trace")), Ok(Want::Trace));
        let e = want(Some("device")).unwrap_err();
        assert!(e.contains("BENCH_NEURON_TIMER=device"), "{e}");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_library_without_the_trace_symbols_names_the_first_missing() {
        // SAFETY: the C library's initialisers already ran in this process.
        let lib = match unsafe { Library::new("libc.so.6") } {
            Ok(l) => Box::leak(Box::new(l)),
            Err(_) => return, // not glibc: nothing to probe
        };
        let e = TraceApi::resolve(lib)
            .err()
            .expect("libc has no nrt_sys_trace_*");
        assert!(e.contains("nrt_sys_trace_config_allocate"), "{e}");
    }
}
