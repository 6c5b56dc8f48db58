//! FFI, result layer: every `NRT_STATUS` code (runtime 2.30 headers, plus codes added since)
//! as a name and a message that tells a user what to do, and [`NrtError`], the error every
//! safe-layer call returns: which call failed, its status, and the advice. Unknown codes from
//! newer runtimes keep their number. No unsafe code here.

use std::fmt;

/// Status names and what to do about each, by code.
const TABLE: &[(u32, &str, &str)] = &[
    (0, "NRT_SUCCESS", "no error"),
    (1, "NRT_FAILURE", "the runtime failed without a more specific status: rerun with NEURON_RT_LOG_LEVEL=INFO to see its log"),
    (2, "NRT_INVALID", "invalid NEFF or argument: the NEFF may be corrupt or built for another target or LNC (NEURON_LOGICAL_NC_CONFIG must equal the --lnc it was compiled with); rebuild it with scripts/neuron/build_neffs.py --target trn1|trn2 --lnc N"),
    (3, "NRT_INVALID_HANDLE", "a model or tensor handle was invalid: a bug in bench, please report it with the command line"),
    (4, "NRT_RESOURCE", "out of device memory or another runtime resource: run a smaller point, fewer --cores, or free the device memory other processes hold (neuron-top shows them)"),
    (5, "NRT_TIMEOUT", "the execution timed out: raise NEURON_RT_EXEC_TIMEOUT (seconds) or run a smaller point"),
    (6, "NRT_HW_ERROR", "the device reported a hardware error: check dmesg and neuron-top; if it repeats, stop the instance and start it again (a new host), and tell AWS support"),
    (7, "NRT_QUEUE_FULL", "too many executions in flight: unset NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS"),
    (9, "NRT_LOAD_NOT_ENOUGH_NC", "not enough free NeuronCores: another process holds them (neuron-ls / neuron-top show which; stop it), or NEURON_RT_VISIBLE_CORES / NEURON_RT_NUM_CORES allow too few; lower --cores"),
    (10, "NRT_UNSUPPORTED_NEFF_VERSION", "the NEFF was built by a compiler this runtime does not accept: rebuild the NEFFs with the neuronx-cc of the same Neuron SDK release as aws-neuronx-runtime-lib"),
    (11, "NRT_FAIL_HOST_MEM_ALLOC", "host memory allocation failed: free host memory or run a smaller point"),
    (13, "NRT_UNINITIALIZED", "the runtime is not initialised: a bug in bench (nrt_init must come first), please report it"),
    (14, "NRT_CLOSED", "the runtime was closed in this process and cannot be initialised again: start a new process"),
    (15, "NRT_QUEUE_EMPTY", "the execution queue was empty: a bug in bench, please report it"),
    (101, "NRT_EXEC_UNIT_UNRECOVERABLE", "the NeuronCore is in an unrecoverable state: end this process and start again; if it repeats, reload the driver (sudo modprobe -r neuron && sudo modprobe neuron) or reboot"),
    (1002, "NRT_EXEC_BAD_INPUT", "the input tensors do not match what the NEFF expects (names, count or sizes): rebuild the NEFFs and their manifest.json together with build_neffs.py"),
    (1003, "NRT_EXEC_COMPLETED_WITH_NUM_ERR", "the execution produced NaN or Inf (a numerical error): the result is wrong; check the dtype's range for this point or report the NEFF"),
    (1004, "NRT_EXEC_COMPLETED_WITH_ERR", "the execution completed with errors: rerun with NEURON_RT_LOG_LEVEL=INFO to see which"),
    (1005, "NRT_EXEC_NC_BUSY", "the NeuronCore is busy: another process holds it (neuron-top shows which); stop it or pick free cores with NEURON_RT_VISIBLE_CORES"),
    (1006, "NRT_EXEC_OOB", "the NEFF accessed memory out of bounds: rebuild it (compiler issue) and check the point's shapes"),
    (1100, "NRT_COLL_PENDING", "a collective operation is pending: bench's NEFFs use no collectives, so rebuild them with build_neffs.py"),
    (1200, "NRT_EXEC_HW_ERR_COLLECTIVES", "hardware error in collectives: check dmesg; if it repeats, move to a new host"),
    (1201, "NRT_EXEC_HW_ERR_HBM_UE", "uncorrectable device-memory (HBM) error: stop using this instance, move to a new host and tell AWS support"),
    (1202, "NRT_EXEC_HW_ERR_NC_UE", "uncorrectable NeuronCore error: stop using this instance, move to a new host and tell AWS support"),
    (1203, "NRT_EXEC_HW_ERR_DMA_ABORT", "a DMA transfer aborted: rerun; if it repeats, move to a new host"),
    (1204, "NRT_EXEC_SW_NQ_OVERFLOW", "a runtime notification queue overflowed: rerun with fewer --cores"),
    (1205, "NRT_EXEC_HW_ERR_REPAIRABLE_HBM_UE", "repairable device-memory error: reboot the instance so the runtime can repair it"),
    (1206, "NRT_NETWORK_PROXY_FAILURE", "network proxy failure (collectives): bench's NEFFs use none; rerun"),
];

/// An `NRT_STATUS` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    pub const SUCCESS: Status = Status(0);
    pub const NUM_ERR: Status = Status(1003);

    pub fn name(self) -> String {
        TABLE
            .iter()
            .find(|(c, _, _)| *c == self.0)
            .map(|(_, n, _)| n.to_string())
            .unwrap_or_else(|| format!("NRT_STATUS_{}", self.0))
    }

    pub fn advice(self) -> &'static str {
        TABLE
            .iter()
            .find(|(c, _, _)| *c == self.0)
            .map(|(_, _, a)| *a)
            .unwrap_or("a status this bench does not know (a newer runtime?): see nrt_status.h of your Neuron SDK and the runtime log (NEURON_RT_LOG_LEVEL=INFO)")
    }

    /// Every code bench knows, for tests.
    pub fn known() -> impl Iterator<Item = Status> {
        TABLE.iter().map(|(c, _, _)| Status(*c))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A failed libnrt call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call}{what} returned {status}: {advice}{runtime}", advice = status.advice(), runtime = runtime_says(.runtime_name.as_deref(), *status))]
pub struct NrtError {
    pub call: &'static str,
    /// What the call was about (a file, a tensor), with a leading space, or empty.
    pub what: String,
    pub status: Status,
    /// The runtime's own name for the status (`nrt_get_status_as_str`), when it differs.
    pub runtime_name: Option<String>,
}

fn runtime_says(name: Option<&str>, status: Status) -> String {
    match name {
        Some(n) if n != status.name() && !n.is_empty() => format!(" (the runtime calls it {n})"),
        _ => String::new(),
    }
}

/// `Ok(())` for NRT_SUCCESS, else the error for `call`.
pub fn check(call: &'static str, what: impl FnOnce() -> String, raw: u32) -> Result<(), NrtError> {
    if raw == 0 {
        return Ok(());
    }
    Err(NrtError {
        call,
        what: what(),
        status: Status(raw),
        runtime_name: super::runtime::status_str(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_distinct_name_and_actionable_advice() {
        let mut names = std::collections::BTreeSet::new();
        for s in Status::known() {
            assert!(names.insert(s.name()), "duplicate {}", s.name());
            assert!(s.name().starts_with("NRT_"));
            if s != Status::SUCCESS {
                assert!(s.advice().len() > 20, "{s}: advice too short");
            }
        }
        for (code, name) in [
            (2, "NRT_INVALID"),
            (4, "NRT_RESOURCE"),
            (1003, "NRT_EXEC_COMPLETED_WITH_NUM_ERR"),
            (1005, "NRT_EXEC_NC_BUSY"),
        ] {
            assert_eq!(Status(code).name(), name);
        }
        assert!(Status(1005).advice().contains("another process"));
        assert!(Status(4).advice().contains("memory"));
        assert!(Status(2).advice().contains("LNC"));
        assert!(Status(1003).advice().contains("NaN"));
    }

    #[test]
    fn unknown_codes_keep_their_number() {
        let s = Status(4242);
        assert_eq!(s.name(), "NRT_STATUS_4242");
        assert!(s.advice().contains("newer runtime"));
    }

    #[test]
    fn errors_name_the_call_the_status_and_the_fix() {
        let e = NrtError {
            call: "nrt_load",
            what: " of x.neff".into(),
            status: Status(9),
            runtime_name: Some("NRT_LOAD_NOT_ENOUGH_NC".into()),
        };
        let s = e.to_string();
        assert!(
            s.starts_with("nrt_load of x.neff returned NRT_LOAD_NOT_ENOUGH_NC (9): "),
            "{s}"
        );
        assert!(
            s.contains("--cores") && !s.contains("runtime calls it"),
            "{s}"
        );
    }
}
