//! Device time from the system trace's JSON (`nrt_sys_trace_fetch_events`): the
//! `nc_exec_running` events of the executes of one sample. A start and its stop share
//! `(nc_idx, tracking_id)`; their `data.nc_timestamp_ns` difference is one interval on one
//! core's clock. Intervals sharing `data.exec_id` are one execution (at LNC=2 one per physical
//! core); its time is its slowest interval, which needs no assumption that two cores' clocks
//! share an origin. A sample's device time is the slowest execution's. The JSON's shape
//! (`{"events": [...]}` with these fields) is what public parsers of the runtime's output
//! read; it is unverified on hardware here. No unsafe code.

use std::collections::HashMap;

use serde_json::Value;

/// The event type of an execution on a NeuronCore.
pub const EXEC_EVENT: &str = "nc_exec_running";

/// What one fetch held: the slowest execution's device seconds and the counts behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceTime {
    pub seconds: f64,
    /// Complete start/stop intervals.
    pub intervals: usize,
    /// Distinct executions (`exec_id`).
    pub executions: usize,
}

fn uint(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The device time of the `executes` executions in `json`; an error says what is missing.
pub fn device_time(json: &str, executes: usize) -> Result<DeviceTime, String> {
    let root: Value = serde_json::from_str(json)
        .map_err(|e| format!("nrt_sys_trace_fetch_events returned JSON bench cannot read ({e})"))?;
    let events = root
        .get("events")
        .and_then(Value::as_array)
        .ok_or("nrt_sys_trace_fetch_events returned no \"events\" array")?;
    let mut starts: HashMap<(String, String), (u64, String)> = HashMap::new();
    let mut per_exec: HashMap<String, u64> = HashMap::new();
    let mut intervals = 0;
    for e in events {
        if e.get("event_type").and_then(Value::as_str) != Some(EXEC_EVENT) {
            continue;
        }
        let id = (
            e.get("nc_idx").map(key).unwrap_or_default(),
            e.get("tracking_id").map(key).unwrap_or_default(),
        );
        let data = e.get("data");
        let ns = data
            .and_then(|d| d.get("nc_timestamp_ns"))
            .and_then(uint)
            .ok_or_else(|| {
                format!("an {EXEC_EVENT} event has no data.nc_timestamp_ns (the device clock): {e}")
            })?;
        let exec = data
            .and_then(|d| d.get("exec_id"))
            .map(key)
            .unwrap_or_else(|| id.1.clone());
        match e.get("phase").and_then(Value::as_str) {
            Some("start") => {
                starts.insert(id, (ns, exec));
            }
            Some("stop") => {
                let Some((t0, exec)) = starts.remove(&id) else {
                    continue;
                };
                let d = ns.checked_sub(t0).ok_or_else(|| {
                    format!("an {EXEC_EVENT} interval ends before it starts ({t0} ns to {ns} ns on the device clock)")
                })?;
                intervals += 1;
                let slot = per_exec.entry(exec).or_insert(0);
                *slot = (*slot).max(d);
            }
            _ => {}
        }
    }
    if intervals < executes {
        return Err(format!(
            "the system trace holds {intervals} complete {EXEC_EVENT} interval(s) for {executes} execute(s) (events: {}, unmatched starts: {})",
            events.len(),
            starts.len()
        ));
    }
    let slowest = per_exec.values().copied().max().unwrap_or(0);
    Ok(DeviceTime {
        seconds: slowest as f64 * 1e-9,
        intervals,
        executions: per_exec.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(phase: &str, tracking: u64, ns: u64, exec: u64, nc: u64) -> Value {
        json!({"event_type": EXEC_EVENT, "phase": phase, "tracking_id": tracking, "nc_idx": nc,
               "data": {"exec_id": exec, "nc_timestamp_ns": ns}})
    }

    fn doc(events: Vec<Value>) -> String {
        json!({ "events": events }).to_string()
    }

    #[test]
    fn one_execute_is_its_stop_minus_its_start() {
        let j = doc(vec![
            ev("start", 7, 1_000, 1, 0),
            ev("stop", 7, 201_000, 1, 0),
        ]);
        let t = device_time(&j, 1).unwrap();
        assert!((t.seconds - 200e-6).abs() < 1e-15, "{t:?}");
        assert_eq!((t.intervals, t.executions), (1, 1));
    }

    #[test]
    fn physical_cores_of_one_execution_take_the_slowest_and_other_events_are_ignored() {
        // LNC=2: one execution, one interval per physical core, clocks with other origins.
        let j = doc(vec![
            json!({"event_type": "kbl_exec_wait", "phase": "start", "tracking_id": 1}),
            ev("start", 1, 1_000_000, 5, 0),
            ev("start", 2, 9_000_000, 5, 1),
            ev("stop", 1, 1_400_000, 5, 0),
            ev("stop", 2, 9_500_000, 5, 1),
        ]);
        let t = device_time(&j, 1).unwrap();
        assert!((t.seconds - 500e-6).abs() < 1e-15, "{t:?}");
        assert_eq!((t.intervals, t.executions), (2, 1));
    }

    #[test]
    fn several_cores_give_the_slowest_execution() {
        let j = doc(vec![
            ev("start", 1, 0, 1, 0),
            ev("start", 1, 0, 2, 1),
            ev("stop", 1, 300, 1, 0),
            ev("stop", 1, 700, 2, 1),
        ]);
        let t = device_time(&j, 2).unwrap();
        assert!((t.seconds - 700e-9).abs() < 1e-18);
        assert_eq!(t.executions, 2);
    }

    #[test]
    fn missing_or_broken_events_are_errors_that_say_what() {
        let e = device_time(&doc(vec![]), 1).unwrap_err();
        assert!(
            e.contains("0 complete nc_exec_running interval(s) for 1"),
            "{e}"
        );
        let e = device_time(&doc(vec![ev("start", 1, 5, 1, 0)]), 1).unwrap_err();
        assert!(e.contains("unmatched starts: 1"), "{e}");
        let e = device_time(
            &doc(vec![ev("start", 1, 500, 1, 0), ev("stop", 1, 100, 1, 0)]),
            1,
        )
        .unwrap_err();
        assert!(e.contains("ends before it starts"), "{e}");
        let no_ts = json!({"event_type": EXEC_EVENT, "phase": "start", "tracking_id": 1});
        let e = device_time(&doc(vec![no_ts]), 1).unwrap_err();
        assert!(e.contains("data.nc_timestamp_ns"), "{e}");
        assert!(device_time("not json", 1)
            .unwrap_err()
            .contains("cannot read"));
        assert!(device_time("{}", 1).unwrap_err().contains("\"events\""));
    }

    #[test]
    fn string_timestamps_are_read_too() {
        let j = json!({"events": [
            {"event_type": EXEC_EVENT, "phase": "start", "tracking_id": "a", "data": {"nc_timestamp_ns": "10"}},
            {"event_type": EXEC_EVENT, "phase": "stop", "tracking_id": "a", "data": {"nc_timestamp_ns": "30"}}
        ]})
        .to_string();
        assert!((device_time(&j, 1).unwrap().seconds - 20e-9).abs() < 1e-20);
    }
}
