//! FFI, safe layer: device tensors (`nrt_tensor_allocate` on a NeuronCore, read, write,
//! freed on drop) and tensor sets (a named collection passed to `nrt_execute`, destroyed on
//! drop). A set holds an `Arc` of each tensor it names, so no tensor is freed while a set
//! that the runtime may read still refers to it.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::sync::Arc;

use super::result::{check, NrtError};
use super::runtime::Runtime;
use super::sys;

/// A tensor in device memory.
pub struct Tensor {
    raw: *mut sys::Tensor,
    size: usize,
    name: String,
    rt: Arc<Runtime>,
}

// SAFETY: libnrt tensor handles may be used from any thread; bench never reads or writes one
// tensor from two threads at once (each core's copy is driven by one thread).
unsafe impl Send for Tensor {}
// SAFETY: as above; shared references only read the handle value.
unsafe impl Sync for Tensor {}

impl Tensor {
    /// Allocates `size` bytes on NeuronCore `vnc`.
    pub fn allocate(
        rt: &Arc<Runtime>,
        vnc: i32,
        size: usize,
        name: &str,
    ) -> Result<Tensor, NrtError> {
        let cname = CString::new(name).unwrap_or_default();
        let mut raw = std::ptr::null_mut();
        // SAFETY: valid C string and out pointer; device placement as the guide requires.
        let status = unsafe {
            (rt.api.tensor_allocate)(
                sys::NRT_TENSOR_PLACEMENT_DEVICE,
                vnc,
                size,
                cname.as_ptr(),
                &mut raw,
            )
        };
        check(
            "nrt_tensor_allocate",
            || format!(" of '{name}' ({size} bytes) on NeuronCore {vnc}"),
            status,
        )?;
        Ok(Tensor {
            raw,
            size,
            name: name.to_string(),
            rt: rt.clone(),
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Writes all of `bytes` at offset 0.
    pub fn write(&self, bytes: &[u8]) -> Result<(), NrtError> {
        let n = bytes.len().min(self.size);
        // SAFETY: live tensor; `bytes` has at least `n` readable bytes and n <= size.
        let status = unsafe { (self.rt.api.tensor_write)(self.raw, bytes.as_ptr().cast(), 0, n) };
        check(
            "nrt_tensor_write",
            || format!(" of '{}'", self.name),
            status,
        )
    }

    /// Reads the whole tensor.
    pub fn read(&self) -> Result<Vec<u8>, NrtError> {
        let mut buf = vec![0u8; self.size];
        self.read_into(&mut buf)?;
        Ok(buf)
    }

    /// Reads the first `buf.len()` bytes.
    pub fn read_into(&self, buf: &mut [u8]) -> Result<(), NrtError> {
        let n = buf.len().min(self.size);
        // SAFETY: live tensor; `buf` has `n` writable bytes and n <= size.
        let status = unsafe { (self.rt.api.tensor_read)(self.raw, buf.as_mut_ptr().cast(), 0, n) };
        check("nrt_tensor_read", || format!(" of '{}'", self.name), status)
    }
}

impl Drop for Tensor {
    fn drop(&mut self) {
        // SAFETY: the handle came from nrt_tensor_allocate; freed once (no set refers to it:
        // sets hold an Arc of their tensors).
        unsafe { (self.rt.api.tensor_free)(&mut self.raw) };
    }
}

/// A named set of tensors for `nrt_execute`.
pub struct TensorSet {
    raw: *mut sys::TensorSet,
    tensors: Vec<Arc<Tensor>>,
    rt: Arc<Runtime>,
}

// SAFETY: as for Tensor: the handle is usable from any thread, and one thread drives a set.
unsafe impl Send for TensorSet {}

impl TensorSet {
    pub fn new(rt: &Arc<Runtime>) -> Result<TensorSet, NrtError> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        let status = unsafe { (rt.api.allocate_set)(&mut raw) };
        check("nrt_allocate_tensor_set", String::new, status)?;
        Ok(TensorSet {
            raw,
            tensors: Vec::new(),
            rt: rt.clone(),
        })
    }

    /// Adds `tensor` under `name` (the NEFF's name for it).
    pub fn add(&mut self, name: &str, tensor: &Arc<Tensor>) -> Result<(), NrtError> {
        let cname = CString::new(name).unwrap_or_default();
        // SAFETY: live set and tensor; the set keeps an Arc so the tensor outlives it.
        let status = unsafe { (self.rt.api.add_to_set)(self.raw, cname.as_ptr(), tensor.raw) };
        check(
            "nrt_add_tensor_to_tensor_set",
            || format!(" ('{name}')"),
            status,
        )?;
        self.tensors.push(tensor.clone());
        Ok(())
    }

    pub(crate) fn raw(&self) -> *mut sys::TensorSet {
        self.raw
    }
}

impl Drop for TensorSet {
    fn drop(&mut self) {
        // SAFETY: the handle came from nrt_allocate_tensor_set and is destroyed once, before
        // the tensors it names (released after this, with `self.tensors`).
        unsafe { (self.rt.api.destroy_set)(&mut self.raw) };
    }
}
