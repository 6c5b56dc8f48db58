//! FFI, safe layer: a loaded NEFF ([`Model`], unloaded on drop) and its tensor descriptions
//! (`nrt_get_model_tensor_info`, copied into Rust values and freed at once), plus
//! `nrt_execute`. Every handle keeps the [`Runtime`] alive so `nrt_close` comes last.
#![allow(unsafe_code)]

use std::sync::Arc;

use super::result::{check, NrtError};
use super::runtime::Runtime;
use super::sys;
use super::tensor::TensorSet;

/// A NEFF loaded on one NeuronCore.
pub struct Model {
    raw: *mut sys::Model,
    rt: Arc<Runtime>,
    label: String,
}

// SAFETY: a libnrt model handle is not tied to the thread that loaded it; the runtime
// serialises what needs serialising, and bench executes each model from one thread at a time.
unsafe impl Send for Model {}

/// One input or output of a NEFF, as the runtime describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub input: bool,
    pub size: usize,
    pub dtype_code: u32,
    pub shape: Vec<u32>,
}

impl Model {
    /// `nrt_load` of NEFF bytes on NeuronCore `vnc` (relative to the visible cores).
    pub fn load(rt: &Arc<Runtime>, neff: &[u8], vnc: i32, label: &str) -> Result<Model, NrtError> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: `neff` is a live buffer of the length passed; `raw` is a valid out pointer;
        // vnc_count is -1 as the 2.28 headers require.
        let status = unsafe { (rt.api.load)(neff.as_ptr().cast(), neff.len(), vnc, -1, &mut raw) };
        check(
            "nrt_load",
            || format!(" of {label} on NeuronCore {vnc}"),
            status,
        )?;
        Ok(Model {
            raw,
            rt: rt.clone(),
            label: label.to_string(),
        })
    }

    /// The NEFF's inputs and outputs.
    pub fn tensor_info(&self) -> Result<Vec<TensorInfo>, NrtError> {
        let mut arr: *mut sys::NrtTensorInfoArray = std::ptr::null_mut();
        // SAFETY: a live model and a valid out pointer; the runtime allocates the array.
        let status = unsafe { (self.rt.api.get_tensor_info)(self.raw, &mut arr) };
        check(
            "nrt_get_model_tensor_info",
            || format!(" of {}", self.label),
            status,
        )?;
        let mut out = Vec::new();
        // SAFETY: on success `arr` points to `tensor_count` entries laid out as in the
        // headers (see the layout test in sys.rs); each shape has `ndim` elements.
        unsafe {
            let n = (*arr).tensor_count as usize;
            let first = std::ptr::addr_of!((*arr).tensor_array) as *const sys::NrtTensorInfo;
            for i in 0..n {
                let e = &*first.add(i);
                let shape = if e.shape.is_null() {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(e.shape, e.ndim as usize).to_vec()
                };
                out.push(TensorInfo {
                    name: sys::c_chars(&e.name),
                    input: e.usage == sys::NRT_TENSOR_USAGE_INPUT,
                    size: e.size,
                    dtype_code: e.dtype,
                    shape,
                });
            }
        }
        // SAFETY: `arr` came from nrt_get_model_tensor_info and is freed exactly once.
        let status = unsafe { (self.rt.api.free_tensor_info)(arr) };
        check(
            "nrt_free_model_tensor_info",
            || format!(" of {}", self.label),
            status,
        )?;
        Ok(out)
    }

    /// One synchronous `nrt_execute`.
    pub fn execute(&self, inputs: &TensorSet, outputs: &TensorSet) -> Result<(), NrtError> {
        // SAFETY: live model and sets; every tensor in the sets is kept alive by the sets.
        let status = unsafe { (self.rt.api.execute)(self.raw, inputs.raw(), outputs.raw()) };
        check("nrt_execute", || format!(" of {}", self.label), status)
    }

    /// `n` back-to-back raw `nrt_execute` calls with no Rust layer around them (no status
    /// mapping, no phase logic): the baseline of the per-execute overhead benchmark. Returns
    /// the elapsed time and the number of calls that did not return NRT_SUCCESS.
    pub fn time_raw_executes(
        &self,
        inputs: &TensorSet,
        outputs: &TensorSet,
        n: usize,
    ) -> (std::time::Duration, usize) {
        let (f, model, i, o) = (self.rt.api.execute, self.raw, inputs.raw(), outputs.raw());
        let mut failed = 0;
        let t = std::time::Instant::now();
        for _ in 0..n {
            // SAFETY: as in `execute`: live model and sets for the duration of the loop.
            failed += (unsafe { f(model, i, o) } != 0) as usize;
        }
        (t.elapsed(), failed)
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: the handle came from nrt_load and is unloaded once.
        let status = unsafe { (self.rt.api.unload)(self.raw) };
        if let Err(e) = check("nrt_unload", || format!(" of {}", self.label), status) {
            // Nothing to undo: the point's result stands; the next load reports any leak.
            eprintln!("bench: warning: {e}");
        }
    }
}
