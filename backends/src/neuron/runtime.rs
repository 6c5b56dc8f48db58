//! FFI, safe layer: the runtime itself. `nrt_init` runs at most once per process (the
//! runtime cannot be initialised again after `nrt_close`), behind [`Runtime::acquire`]; the
//! runtime closes when the last [`Runtime`] handle (held by every model and tensor) drops.
//! Also the calls allowed before `nrt_init`: version, core counts, instance info.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::sync::{Arc, Mutex, Weak};

use super::result::{check, NrtError};
use super::sys::{self, Api};

/// The initialised runtime; dropping the last handle calls `nrt_close`.
pub struct Runtime {
    pub api: &'static Api,
    /// Seconds `nrt_init` took (it resets and waits for every core it reserves).
    pub init_s: f64,
}

enum Lifecycle {
    Never,
    Live(Weak<Runtime>),
    Closed,
}

static STATE: Mutex<Lifecycle> = Mutex::new(Lifecycle::Never);

/// Why the runtime cannot be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AcquireError {
    #[error("{0}")]
    Library(String),
    #[error("{0}")]
    Init(NrtError),
    #[error("the Neuron runtime was already closed in this process and nrt_init cannot run twice: start a new process")]
    Closed,
}

impl Runtime {
    /// The process's runtime, initialising it on first use.
    pub fn acquire() -> Result<Arc<Runtime>, AcquireError> {
        let api = sys::api().map_err(AcquireError::Library)?;
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        match &*state {
            Lifecycle::Live(w) => {
                if let Some(rt) = w.upgrade() {
                    return Ok(rt);
                }
                return Err(AcquireError::Closed);
            }
            Lifecycle::Closed => return Err(AcquireError::Closed),
            Lifecycle::Never => {}
        }
        // SAFETY: nrt_init with NO_FW and two empty NUL-terminated strings, as the developer
        // guide prescribes for framework-less callers; guarded to run once per process.
        let t = std::time::Instant::now();
        let raw = unsafe { (api.init)(sys::NRT_FRAMEWORK_TYPE_NO_FW, c"".as_ptr(), c"".as_ptr()) };
        let init_s = t.elapsed().as_secs_f64();
        check("nrt_init", String::new, raw).map_err(AcquireError::Init)?;
        let rt = Arc::new(Runtime { api, init_s });
        *state = Lifecycle::Live(Arc::downgrade(&rt));
        Ok(rt)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let mut state = STATE.lock().unwrap_or_else(|p| p.into_inner());
        *state = Lifecycle::Closed;
        // SAFETY: the last handle is gone, so no model or tensor of this runtime is alive.
        unsafe { (self.api.close)() };
    }
}

/// `nrt_get_version`'s fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub maintenance: u64,
    pub detail: String,
    pub git_hash: String,
}

impl Version {
    pub fn number(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.major, self.minor, self.patch, self.maintenance
        )
    }

    /// nrt-sim says so in its detail string.
    pub fn is_simulated(&self) -> bool {
        self.detail.contains("nrt-sim") || self.detail.contains("SIMULATED")
    }

    /// Runtime 2.30 changed the `nrt_dtype_t` codes to hardware codes.
    pub fn hex_dtype_codes(&self) -> bool {
        (self.major, self.minor) >= (2, 30)
    }
}

/// The runtime's version (callable before `nrt_init`).
pub fn version(api: &Api) -> Result<Version, NrtError> {
    let mut v = std::mem::MaybeUninit::<sys::NrtVersion>::zeroed();
    // SAFETY: a zeroed nrt_version_t of the size we pass; the runtime fills it.
    let raw = unsafe { (api.get_version)(v.as_mut_ptr(), std::mem::size_of::<sys::NrtVersion>()) };
    check("nrt_get_version", String::new, raw)?;
    // SAFETY: all-zero bytes are a valid NrtVersion, and the call succeeded.
    let v = unsafe { v.assume_init() };
    Ok(Version {
        major: v.rt_major,
        minor: v.rt_minor,
        patch: v.rt_patch,
        maintenance: v.rt_maintenance,
        detail: sys::c_chars(&v.rt_detail),
        git_hash: sys::c_chars(&v.git_hash),
    })
}

/// (total, visible) NeuronCores (logical cores on trn2), callable before `nrt_init`.
pub fn core_counts(api: &Api) -> Result<(u32, u32), NrtError> {
    let (mut total, mut visible) = (0u32, 0u32);
    // SAFETY: each call writes one u32 through a valid pointer.
    let raw = unsafe { (api.total_count)(&mut total) };
    check(count_name(api, "total"), String::new, raw)?;
    // SAFETY: as above.
    let raw = unsafe { (api.visible_count)(&mut visible) };
    check(count_name(api, "visible"), String::new, raw)?;
    Ok((total, visible))
}

fn count_name(api: &Api, which: &str) -> &'static str {
    match (api.count_names, which) {
        ("vnc", "total") => "nrt_get_total_vnc_count",
        ("vnc", _) => "nrt_get_visible_vnc_count",
        (_, "total") => "nrt_get_total_nc_count",
        _ => "nrt_get_visible_nc_count",
    }
}

/// `nrt_get_instance_info`, when the runtime has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    pub family: String,
    pub size: String,
    pub arch: String,
    pub revision: String,
}

const FAMILIES: &[&str] = &[
    "unknown",
    "inf1",
    "trn1",
    "trn1n",
    "inf2",
    "trn2",
    "trn2n",
    "inf2e",
    "trn2p",
    "trn2u",
    "trn2e",
    "trn2eu",
    "trn2ac",
    "trn2uac",
    "trn3",
    "trn3pds98",
    // 16 and 17 are absent from the SDK 2.28 header (it ends at 15, TRN3PDS98); a
    // third-party bindgen of the RT 2.34 headers shows TRN2EN and TRN3E: unverified.
    "trn2en",
    "trn3e",
];
const SIZES: &[&str] = &[
    "xlarge", "2xlarge", "4xlarge", "6xlarge", "8xlarge", "24xlarge", "32xlarge", "48xlarge",
    "3xlarge", "unknown",
];

pub fn instance_info(api: &Api) -> Option<Result<InstanceInfo, NrtError>> {
    let f = api.instance_info?;
    let mut i = std::mem::MaybeUninit::<sys::NrtInstanceInfo>::zeroed();
    // SAFETY: a zeroed nrt_instance_info_t of the size we pass; the runtime fills it.
    let raw = unsafe { f(i.as_mut_ptr(), std::mem::size_of::<sys::NrtInstanceInfo>()) };
    if let Err(e) = check("nrt_get_instance_info", String::new, raw) {
        return Some(Err(e));
    }
    // SAFETY: all-zero bytes are valid, and the call succeeded.
    let i = unsafe { i.assume_init() };
    let pick = |t: &[&str], v: u32| t.get(v as usize).copied().unwrap_or("unknown").to_string();
    Some(Ok(InstanceInfo {
        family: pick(FAMILIES, i.family),
        size: pick(SIZES, i.size),
        arch: sys::c_chars(&i.arch_name),
        revision: sys::c_chars(&i.device_revision),
    }))
}

/// The runtime's name for a status, when it has `nrt_get_status_as_str`.
pub fn status_str(raw: u32) -> Option<String> {
    let f = sys::api().ok()?.status_as_str?;
    // SAFETY: the function takes any status value and returns NULL or a static C string.
    let p = unsafe { f(raw) };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, NUL-terminated, owned by the runtime for the process's life.
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_convention_follows_the_version() {
        let v = |major, minor| Version {
            major,
            minor,
            patch: 0,
            maintenance: 0,
            detail: String::new(),
            git_hash: String::new(),
        };
        assert!(!v(2, 29).hex_dtype_codes());
        assert!(v(2, 30).hex_dtype_codes());
        assert!(v(3, 0).hex_dtype_codes());
        assert_eq!(v(2, 31).number(), "2.31.0.0");
    }
}
