//! What a CUDA run records about its GPU and libraries: the device's attributes, the driver
//! and library versions and files, the timing method and the cache policy between samples.

use std::collections::BTreeMap;

use super::device::Device;
use super::ffi::lt::{self, LtHandle};
use super::ffi::nvrtc;
use super::ffi::probe::{self, Found};
use crate::{BackendKind, DeviceInfo};

/// The provenance of GPU `ordinal` (opened as `dev`) found by the probe as `found`.
pub fn device_info(ordinal: usize, found: &Found, dev: &Device) -> DeviceInfo {
    let p = &dev.gpu.props;
    let mut extra = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        extra.insert(k.to_string(), v);
    };
    let nvrtc_version = nvrtc::version().map(|(a, b)| format!("{a}.{b}"));
    put("gpu_index", ordinal.to_string());
    put("compute_capability", format!("{}.{}", p.cc.0, p.cc.1));
    put("sm_count", p.sm_count.to_string());
    put("memory_bytes", p.memory_bytes.to_string());
    put("sm_clock_max_mhz", (p.sm_clock_khz / 1000).to_string());
    put("mem_clock_max_mhz", (p.mem_clock_khz / 1000).to_string());
    put("memory_bus_bits", p.bus_width_bits.to_string());
    put("l2_bytes", p.l2_bytes.to_string());
    put("driver_api", probe::api_version_string(found.driver_api));
    put("libcuda", found.driver_lib.clone());
    put("libcublasLt", found.cublaslt_lib.clone());
    put("cublaslt_version", LtHandle::version().to_string());
    put("libnvrtc", found.nvrtc_lib.clone());
    if let Some(v) = &nvrtc_version {
        put("nvrtc_version", v.clone());
    }
    put("event_elapsed_symbol", found.elapsed_symbol.to_string());
    put("cublaslt_workspace_bytes", lt::WORKSPACE_BYTES.to_string());
    put(
        "cache_between_samples",
        format!(
            "L2 flushed before every sample: memset of a {} byte buffer, outside the timed events",
            dev.flush.bytes
        ),
    );
    if let Some(u) = &dev.uuid {
        put("gpu_uuid", u.clone());
    }
    let nvml_driver = match &dev.nvml {
        Ok(n) => n.sys_driver_version().ok(),
        Err(why) => {
            put("telemetry", why.clone());
            None
        }
    };
    let api = probe::api_version_string(found.driver_api);
    DeviceInfo {
        kind: Some(BackendKind::Cuda),
        implementation: "bench".into(),
        device: p.name.clone(),
        device_count: found.devices as u32,
        runtime_version: Some(format!(
            "cuBLASLt {} ({}), NVRTC {}",
            LtHandle::version(),
            found.cublaslt_lib,
            nvrtc_version.unwrap_or_else(|| "?".into())
        )),
        driver_version: Some(match nvml_driver {
            Some(v) => format!("{v} (CUDA {api})"),
            None => format!("CUDA {api}"),
        }),
        simulated: false,
        extra,
    }
}
