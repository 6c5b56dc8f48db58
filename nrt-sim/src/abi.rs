//! The C types of libnrt's public headers that cross the ABI (SDK 2.28 / runtime 2.30.50
//! layouts, x86-64 and aarch64): status and enum codes, `nrt_tensor_info_t` (296 bytes),
//! `nrt_tensor_info_array_t`, `nrt_version_t` (224 bytes) and `nrt_instance_info_t`
//! (32 bytes). Defined here independently of the bench backend so that a layout mistake on
//! either side shows up as a failing test rather than as two copies agreeing with each other.

use std::ffi::c_char;

pub const NRT_SUCCESS: u32 = 0;
pub const NRT_FAILURE: u32 = 1;
pub const NRT_INVALID: u32 = 2;
pub const NRT_INVALID_HANDLE: u32 = 3;
pub const NRT_RESOURCE: u32 = 4;
pub const NRT_LOAD_NOT_ENOUGH_NC: u32 = 9;
pub const NRT_UNINITIALIZED: u32 = 13;
pub const NRT_CLOSED: u32 = 14;
pub const NRT_EXEC_BAD_INPUT: u32 = 1002;
pub const NRT_EXEC_COMPLETED_WITH_NUM_ERR: u32 = 1003;

/// Status names by code, for `nrt_get_status_as_str` and for parsing `NRT_SIM_FAIL`.
pub const STATUS_NAMES: &[(u32, &str)] = &[
    (0, "NRT_SUCCESS"),
    (1, "NRT_FAILURE"),
    (2, "NRT_INVALID"),
    (3, "NRT_INVALID_HANDLE"),
    (4, "NRT_RESOURCE"),
    (5, "NRT_TIMEOUT"),
    (6, "NRT_HW_ERROR"),
    (7, "NRT_QUEUE_FULL"),
    (9, "NRT_LOAD_NOT_ENOUGH_NC"),
    (10, "NRT_UNSUPPORTED_NEFF_VERSION"),
    (11, "NRT_FAIL_HOST_MEM_ALLOC"),
    (13, "NRT_UNINITIALIZED"),
    (14, "NRT_CLOSED"),
    (15, "NRT_QUEUE_EMPTY"),
    (101, "NRT_EXEC_UNIT_UNRECOVERABLE"),
    (1002, "NRT_EXEC_BAD_INPUT"),
    (1003, "NRT_EXEC_COMPLETED_WITH_NUM_ERR"),
    (1004, "NRT_EXEC_COMPLETED_WITH_ERR"),
    (1005, "NRT_EXEC_NC_BUSY"),
    (1006, "NRT_EXEC_OOB"),
    (1100, "NRT_COLL_PENDING"),
    (1200, "NRT_EXEC_HW_ERR_COLLECTIVES"),
    (1201, "NRT_EXEC_HW_ERR_HBM_UE"),
    (1202, "NRT_EXEC_HW_ERR_NC_UE"),
    (1203, "NRT_EXEC_HW_ERR_DMA_ABORT"),
    (1204, "NRT_EXEC_SW_NQ_OVERFLOW"),
    (1205, "NRT_EXEC_HW_ERR_REPAIRABLE_HBM_UE"),
    (1206, "NRT_NETWORK_PROXY_FAILURE"),
];

pub const NRT_TENSOR_PLACEMENT_DEVICE: u32 = 0;
pub const NRT_TENSOR_USAGE_INPUT: u32 = 0;
pub const NRT_TENSOR_USAGE_OUTPUT: u32 = 1;

/// dtype codes of runtime 2.30 and later (hardware codes), which this stand-in reports.
pub const NRT_DTYPE_BFLOAT16: u32 = 0x6;
pub const NRT_DTYPE_FLOAT16: u32 = 0x7;
pub const NRT_DTYPE_INT32: u32 = 0x8;
pub const NRT_DTYPE_FLOAT32: u32 = 0xA;

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

/// Copies `s` into a fixed C char array, truncated and NUL-terminated.
pub fn fill_cstr(dst: &mut [c_char], s: &str) {
    let n = s.len().min(dst.len() - 1);
    for (d, b) in dst.iter_mut().zip(s.bytes().take(n)) {
        *d = b as c_char;
    }
    dst[n] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn layouts_match_the_sdk_headers() {
        assert_eq!(size_of::<NrtTensorInfo>(), 296);
        assert_eq!(align_of::<NrtTensorInfo>(), 8);
        assert_eq!(offset_of!(NrtTensorInfo, usage), 256);
        assert_eq!(offset_of!(NrtTensorInfo, size), 264);
        assert_eq!(offset_of!(NrtTensorInfo, dtype), 272);
        assert_eq!(offset_of!(NrtTensorInfo, shape), 280);
        assert_eq!(offset_of!(NrtTensorInfo, ndim), 288);
        assert_eq!(offset_of!(NrtTensorInfoArray, tensor_array), 8);
        assert_eq!(size_of::<NrtVersion>(), 224);
        assert_eq!(offset_of!(NrtVersion, rt_detail), 32);
        assert_eq!(offset_of!(NrtVersion, git_hash), 160);
        assert_eq!(size_of::<NrtInstanceInfo>(), 32);
        assert_eq!(offset_of!(NrtInstanceInfo, arch_name), 8);
        assert_eq!(offset_of!(NrtInstanceInfo, device_revision), 24);
    }

    #[test]
    fn cstr_is_truncated_and_terminated() {
        let mut buf = [1 as c_char; 4];
        fill_cstr(&mut buf, "abcdef");
        assert_eq!(buf, [b'a' as c_char, b'b' as c_char, b'c' as c_char, 0]);
    }
}
