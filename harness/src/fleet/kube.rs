//! Kubernetes: the Job manifest of a target (pure; JSON, which `kubectl apply -f` reads as it
//! reads YAML), applying it with `kubectl apply`, and reading states from `kubectl get jobs -o
//! json` and log tails from `kubectl logs`. The pod lands on the target's instance type (the
//! `node.kubernetes.io/instance-type` selector), asks for all of the instance's accelerators
//! (so it has the node's devices to itself) and mounts the results PVC at the results path.

use std::collections::BTreeMap;
use std::path::Path;

use backends::BackendKind;
use serde_json::{json, Map, Value};

use super::spec::Target;
use super::state::{JobState, Phase};
use super::tools::{self, ToolError};
use crate::report::prices::PriceTable;

/// The node label every EKS node carries with its EC2 instance type.
pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";

/// Everything a target's manifest says.
pub struct Manifest<'a> {
    pub fleet_id: &'a str,
    pub target: &'a Target,
    /// The Job's name (a DNS label, unique per attempt).
    pub name: &'a str,
    /// The shared results path, which is also the PVC's mount path in the pod.
    pub results: &'a Path,
    /// Steps before the run (program and arguments), each an init container.
    pub steps: &'a [Vec<String>],
    /// The bench binary and its arguments.
    pub command: &'a [String],
}

/// The Job's name for a target: `bench-<target>-<stamp>` (`-<attempt>` from the second).
pub fn job_name(target: &str, stamp: &str, attempt: usize) -> String {
    let base = format!("bench-{target}-{stamp}");
    if attempt <= 1 {
        base
    } else {
        format!("{base}-{attempt}")
    }
}

/// The device plugin's resource for a backend (`nvidia.com/gpu`, `aws.amazon.com/neuron`).
pub fn device_resource(backend: BackendKind) -> Option<&'static str> {
    match backend {
        BackendKind::Cuda => Some("nvidia.com/gpu"),
        BackendKind::Neuron => Some("aws.amazon.com/neuron"),
        BackendKind::Cpu => None,
    }
}

/// The pod's resource limits: the fleet file's, plus every accelerator of the instance (from
/// the price table) when the file does not set the device resource. Errors name the field.
pub fn resources(t: &Target, prices: &PriceTable) -> Result<BTreeMap<String, String>, String> {
    let mut r = t.kubernetes.resources.clone();
    if let Some(dev) = device_resource(t.backend) {
        if !r.contains_key(dev) {
            let n = prices
                .facts(&t.instance)
                .map(|row| row.accelerators_per_instance)
                .filter(|n| *n >= 1.0 && n.fract() == 0.0)
                .ok_or_else(|| {
                    format!(
                        "target \"{}\".kubernetes.resources: the instance {} is not in the price table, so its {dev} count is unknown: set resources = {{ \"{dev}\" = N }}",
                        t.name, t.instance
                    )
                })?;
            r.insert(dev.to_string(), format!("{}", n as u64));
        }
    }
    Ok(r)
}

/// The Job manifest. `limits` comes from [`resources`].
pub fn manifest(m: &Manifest, limits: &BTreeMap<String, String>) -> Value {
    let t = m.target;
    let k = &t.kubernetes;
    let labels = json!({
        "app.kubernetes.io/name": "bench",
        "bench/fleet": m.fleet_id,
        "bench/target": t.name,
    });
    let mut env: Vec<Value> = t
        .env
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect();
    env.push(json!({"name": "BENCH_FLEET_ID", "value": m.fleet_id}));
    env.push(json!({"name": "BENCH_FLEET_TARGET", "value": t.name}));
    let mounts = json!([{"name": "results", "mountPath": m.results.display().to_string()}]);
    let container = |name: &str, argv: &[String], with_limits: bool| {
        let mut c = Map::new();
        c.insert("name".into(), name.into());
        c.insert("image".into(), k.image.clone().unwrap_or_default().into());
        if let Some(p) = &k.image_pull_policy {
            c.insert("imagePullPolicy".into(), p.clone().into());
        }
        c.insert("command".into(), json!(argv));
        c.insert("env".into(), json!(env));
        c.insert("volumeMounts".into(), mounts.clone());
        if with_limits && !limits.is_empty() {
            c.insert(
                "resources".into(),
                json!({"limits": limits, "requests": limits}),
            );
        }
        Value::Object(c)
    };
    let mut node_selector: BTreeMap<String, String> = BTreeMap::new();
    node_selector.insert(INSTANCE_TYPE_LABEL.into(), t.instance.clone());
    node_selector.extend(k.node_selector.clone());

    let mut pod = Map::new();
    pod.insert("restartPolicy".into(), "Never".into());
    pod.insert("nodeSelector".into(), json!(node_selector));
    if let Some(sa) = &k.service_account {
        pod.insert("serviceAccountName".into(), sa.clone().into());
    }
    if !k.tolerations.is_empty() {
        pod.insert("tolerations".into(), json!(k.tolerations));
    }
    if !m.steps.is_empty() {
        let init: Vec<Value> = m
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| container(&format!("step-{}", i + 1), s, false))
            .collect();
        pod.insert("initContainers".into(), Value::Array(init));
    }
    pod.insert(
        "containers".into(),
        json!([container("bench", m.command, true)]),
    );
    pod.insert(
        "volumes".into(),
        json!([{"name": "results", "persistentVolumeClaim": {"claimName": k.pvc.clone().unwrap_or_default()}}]),
    );

    let mut spec = Map::new();
    spec.insert("backoffLimit".into(), 0.into());
    if let Some((_, secs)) = &k.time {
        spec.insert("activeDeadlineSeconds".into(), (*secs).into());
    }
    spec.insert(
        "template".into(),
        json!({"metadata": {"labels": labels}, "spec": Value::Object(pod)}),
    );
    let mut meta = Map::new();
    meta.insert("name".into(), m.name.into());
    meta.insert(
        "namespace".into(),
        k.namespace
            .clone()
            .unwrap_or_else(|| "default".into())
            .into(),
    );
    meta.insert("labels".into(), labels.clone());
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": Value::Object(meta),
        "spec": Value::Object(spec),
    })
}

/// `kubectl apply -f FILE -o name`; returns the Job's name.
pub fn apply(kubectl: &Path, file: &Path) -> Result<String, ToolError> {
    let out = tools::run(
        kubectl,
        [
            std::ffi::OsStr::new("apply"),
            "-f".as_ref(),
            file.as_os_str(),
            "-o".as_ref(),
            "name".as_ref(),
        ],
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `job.batch/bench-p5-20261201-120000`
    let name = text.trim().rsplit('/').next().unwrap_or("").to_string();
    if name.is_empty() {
        return Err(ToolError::Failed {
            tool: "kubectl".into(),
            status: "exit 0".into(),
            said: "apply printed no Job name".into(),
        });
    }
    Ok(name)
}

/// States of a fleet's Jobs in a namespace, by Job name.
pub fn query(
    kubectl: &Path,
    namespace: &str,
    fleet_id: &str,
) -> Result<BTreeMap<String, JobState>, ToolError> {
    let selector = format!("bench/fleet={fleet_id}");
    let out = tools::run(
        kubectl,
        [
            "get", "jobs", "-n", namespace, "-l", &selector, "-o", "json",
        ],
    )?;
    parse_jobs(&String::from_utf8_lossy(&out.stdout)).map_err(|e| ToolError::Failed {
        tool: "kubectl".into(),
        status: "exit 0".into(),
        said: format!("get jobs printed no job list: {e}"),
    })
}

/// `kubectl get jobs -o json` (a `List` of `Job`s) read into states.
pub fn parse_jobs(text: &str) -> Result<BTreeMap<String, JobState>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .ok_or("no \"items\"")?;
    let mut m = BTreeMap::new();
    for item in items {
        let Some(name) = item.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        m.insert(
            name.to_string(),
            job_state(item.get("status").unwrap_or(&Value::Null)),
        );
    }
    Ok(m)
}

/// A Job's `.status` as a state: its Complete/Failed condition, else active/ready pods.
pub fn job_state(status: &Value) -> JobState {
    let count = |k: &str| status.get(k).and_then(Value::as_u64).unwrap_or(0);
    let conditions = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &conditions {
        let is_true = c.get("status").and_then(Value::as_str) == Some("True");
        let reason = c.get("reason").and_then(Value::as_str).unwrap_or("");
        match c.get("type").and_then(Value::as_str) {
            Some("Complete") if is_true => {
                return JobState::new("COMPLETED", reason, Phase::Succeeded)
            }
            Some("Failed") if is_true => {
                let msg = c.get("message").and_then(Value::as_str).unwrap_or("");
                let detail = [reason, msg]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(": ");
                return JobState::new("FAILED", detail, Phase::Failed);
            }
            Some("Suspended") if is_true => {
                return JobState::new("SUSPENDED", reason, Phase::Active)
            }
            _ => {}
        }
    }
    if count("active") > 0 && count("ready") > 0 {
        JobState::new("RUNNING", "", Phase::Active)
    } else if count("active") > 0 {
        JobState::new("PENDING", "pod not ready", Phase::Active)
    } else if count("succeeded") > 0 {
        JobState::new("COMPLETED", "", Phase::Succeeded)
    } else if count("failed") > 0 {
        JobState::new(
            "FAILED",
            format!("{} failed pod(s)", count("failed")),
            Phase::Failed,
        )
    } else {
        JobState::new("PENDING", "no pod yet", Phase::Active)
    }
}

/// The last lines of a Job's log (`kubectl logs job/NAME --tail N`), or why there are none.
pub fn log_tail(kubectl: &Path, namespace: &str, name: &str, lines: usize) -> String {
    let tail = lines.to_string();
    let job = format!("job/{name}");
    match tools::run(kubectl, ["logs", "-n", namespace, &job, "--tail", &tail]) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => format!("(no log: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_status_reads_conditions_then_pod_counts() {
        let st = |v: Value| job_state(&v);
        assert_eq!(
            st(json!({"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}))
                .phase,
            Phase::Succeeded
        );
        let failed = st(
            json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}], "failed": 1}),
        );
        assert_eq!(
            failed.describe(),
            "FAILED (BackoffLimitExceeded: Job has reached the specified backoff limit)"
        );
        assert_eq!(st(json!({"active": 1, "ready": 1})).state, "RUNNING");
        assert_eq!(
            st(json!({"active": 1, "ready": 0})).describe(),
            "PENDING (pod not ready)"
        );
        assert!(st(json!({})).is_active());
        // a condition that is not (yet) true does not decide
        assert_eq!(
            st(json!({"conditions": [{"type": "Failed", "status": "False"}], "active": 1, "ready": 1})).state,
            "RUNNING"
        );
    }

    #[test]
    fn job_list_by_name() {
        let m = parse_jobs(r#"{"apiVersion":"v1","kind":"List","items":[
            {"metadata":{"name":"bench-a-1"},"status":{"active":1,"ready":1}},
            {"metadata":{"name":"bench-b-1"},"status":{"conditions":[{"type":"Complete","status":"True"}]}}]}"#)
        .unwrap();
        assert_eq!(m["bench-a-1"].state, "RUNNING");
        assert_eq!(m["bench-b-1"].state, "COMPLETED");
        assert!(parse_jobs("{}").is_err());
    }

    #[test]
    fn job_names_are_unique_per_attempt() {
        assert_eq!(
            job_name("p5", "20261201-120000", 1),
            "bench-p5-20261201-120000"
        );
        assert_eq!(
            job_name("p5", "20261201-120000", 2),
            "bench-p5-20261201-120000-2"
        );
    }
}
