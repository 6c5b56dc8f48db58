//! The fleet file (TOML) read into checked types. [`parse`] is pure (text in, [`Fleet`] or one
//! [`SpecError`] out; no file system, no clock), so it can be unit-tested and fuzzed; every
//! error names the file and the field (`target "p5".backend`) and says what to write instead.
//! Scheduler-specific requirements (an image and a PVC for Kubernetes) are checked by
//! [`Fleet::check_for`], also pure. What the file means is documented in the README's
//! "Fleet sweeps" section.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use backends::BackendKind;
use serde::Deserialize;

use crate::suite::{plan, Selection, Suite};

/// The schedulers `bench fleet` submits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Slurm,
    Kubernetes,
}

impl Scheduler {
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Slurm => "slurm",
            Scheduler::Kubernetes => "kubernetes",
        }
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Scheduler {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "slurm" => Ok(Scheduler::Slurm),
            "kubernetes" | "k8s" => Ok(Scheduler::Kubernetes),
            _ => Err(format!("unknown scheduler '{s}': use slurm or kubernetes")),
        }
    }
}

/// A bad fleet file: where (file, then field or line) and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {place}: {message}")]
pub struct SpecError {
    pub origin: String,
    pub place: String,
    pub message: String,
}

/// A checked fleet file.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Short name, part of the fleet id (`<name>-<stamp>`).
    pub name: String,
    /// The shared results path as written (submit makes it absolute and checks it exists).
    pub results: String,
    /// The bench binary on the nodes, when the file sets one.
    pub bench: Option<String>,
    /// The file's scheduler, when it sets one (`--scheduler` overrides it).
    pub scheduler: Option<Scheduler>,
    pub targets: Vec<Target>,
}

/// One machine kind: one job per fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub backend: BackendKind,
    pub instance: String,
    pub suite: String,
    pub workloads: Vec<String>,
    pub dtypes: Vec<String>,
    pub params: Vec<String>,
    pub budget: Option<f64>,
    /// Environment of the job: the fleet's `env`, then the target's.
    pub env: BTreeMap<String, String>,
    pub neff_dir: Option<String>,
    pub neff_build: Option<NeffBuild>,
    pub devices: Option<String>,
    pub cores: Option<u32>,
    /// Further `bench run` options, checked against bench's own parser.
    pub args: Vec<String>,
    pub slurm: SlurmOptions,
    pub kubernetes: KubeOptions,
}

/// Building the NEFFs inside the job before the run (Neuron targets).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeffBuild {
    /// Path of scripts/neuron/build_neffs.py on the nodes.
    pub script: String,
    #[serde(default = "default_python")]
    pub python: String,
    /// Compiler target: trn1 or trn2.
    pub target: Option<String>,
    /// Logical NeuronCore size.
    pub lnc: Option<u32>,
}

fn default_python() -> String {
    "python3".into()
}

/// Slurm settings of a target (the fleet's `[slurm]`, then the target's `[target.slurm]`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub constraint: Option<String>,
    pub gres: Option<String>,
    /// Time limit as written (Slurm's format), and in seconds.
    pub time: Option<(String, u64)>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Further `#SBATCH` options, e.g. `--reservation=r1`.
    pub args: Vec<String>,
}

impl SlurmOptions {
    /// The one-word options by their sbatch name (`--partition=..`).
    pub fn words(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("partition", &self.partition),
            ("constraint", &self.constraint),
            ("gres", &self.gres),
            ("account", &self.account),
            ("qos", &self.qos),
        ]
    }
}

/// Kubernetes settings of a target (the fleet's `[kubernetes]`, then the target's).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KubeOptions {
    pub namespace: Option<String>,
    pub image: Option<String>,
    pub image_pull_policy: Option<String>,
    /// The PersistentVolumeClaim holding `results`, mounted at the same path in the pod.
    pub pvc: Option<String>,
    pub service_account: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    /// Resource limits (and equal requests), e.g. `aws.amazon.com/neuron = 16`.
    pub resources: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    /// Time limit (activeDeadlineSeconds), as written and in seconds.
    pub time: Option<(String, u64)>,
}

/// A pod toleration (EKS taints accelerator node groups).
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Toleration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

// ---- the file as written -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    name: Option<String>,
    results: String,
    bench: Option<String>,
    scheduler: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    slurm: SlurmDoc,
    #[serde(default)]
    kubernetes: KubeDoc,
    #[serde(default, rename = "target")]
    targets: Vec<TargetDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetDoc {
    name: String,
    backend: String,
    instance: String,
    suite: Option<String>,
    #[serde(default)]
    workload: OneOrMany,
    #[serde(default)]
    dtype: OneOrMany,
    #[serde(default)]
    param: OneOrMany,
    budget: Option<f64>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    neff_dir: Option<String>,
    neff_build: Option<NeffBuild>,
    devices: Option<String>,
    cores: Option<u32>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    slurm: SlurmDoc,
    #[serde(default)]
    kubernetes: KubeDoc,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct SlurmDoc {
    partition: Option<String>,
    constraint: Option<String>,
    gres: Option<String>,
    time: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct KubeDoc {
    namespace: Option<String>,
    image: Option<String>,
    image_pull_policy: Option<String>,
    pvc: Option<String>,
    service_account: Option<String>,
    #[serde(default)]
    node_selector: BTreeMap<String, String>,
    #[serde(default)]
    resources: BTreeMap<String, Quantity>,
    #[serde(default)]
    tolerations: Vec<Toleration>,
    time: Option<String>,
}

/// `workload = "matmul"` or `workload = ["matmul", "attention"]`.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A Kubernetes quantity: `16` or `"500m"`.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum Quantity {
    Int(u64),
    Text(String),
}

// ---- parsing and checks --------------------------------------------------------------------

/// Reads a fleet file's text. `origin` names it in errors (usually its path).
pub fn parse(text: &str, origin: &str) -> Result<Fleet, SpecError> {
    let err = |place: String, message: String| SpecError {
        origin: origin.to_string(),
        place,
        message,
    };
    let doc: FileDoc = toml::from_str(text).map_err(|e| {
        let place = match e.span() {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                format!("line {line}, column {col}")
            }
            None => "TOML".into(),
        };
        let mut message = e.message().trim().replace('\n', " ");
        if message.starts_with("missing field") {
            message += " in the table that starts there";
        }
        err(place, message)
    })?;

    let name = doc.name.clone().unwrap_or_else(|| "fleet".into());
    check_name(&name).map_err(|m| err("name".into(), format!("\"{name}\" {m}")))?;
    if doc.results.trim().is_empty() {
        return Err(err(
            "results".into(),
            "is empty: set it to a directory every node sees (the cluster's shared filesystem)"
                .into(),
        ));
    }
    let scheduler = doc
        .scheduler
        .as_deref()
        .map(|s| s.parse::<Scheduler>())
        .transpose()
        .map_err(|m| err("scheduler".into(), m))?;
    check_env(&doc.env).map_err(|m| err("env".into(), m))?;
    if doc.targets.is_empty() {
        return Err(err(
            "target".into(),
            "no [[target]]: add one table per machine kind (name, backend, instance)".into(),
        ));
    }
    let fleet_slurm = doc.slurm.clone();
    let fleet_kube = doc.kubernetes.clone();
    let mut targets: Vec<Target> = Vec::new();
    for (i, t) in doc.targets.into_iter().enumerate() {
        let place = format!("target \"{}\" (#{})", t.name, i + 1);
        let target = target(t, &doc.env, &fleet_slurm, &fleet_kube)
            .map_err(|(field, m)| err(join(&place, &field), m))?;
        if targets.iter().any(|o| o.name == target.name) {
            return Err(err(
                join(&place, "name"),
                "is used by an earlier target: give each target its own name".into(),
            ));
        }
        targets.push(target);
    }
    Ok(Fleet {
        name,
        results: doc.results,
        bench: doc.bench,
        scheduler,
        targets,
    })
}

impl Fleet {
    /// The scheduler to use: the command line's, else the file's, else Slurm.
    pub fn scheduler_or(&self, cli: Option<Scheduler>) -> Scheduler {
        cli.or(self.scheduler).unwrap_or(Scheduler::Slurm)
    }

    /// What a scheduler needs beyond the common fields.
    pub fn check_for(&self, scheduler: Scheduler, origin: &str) -> Result<(), SpecError> {
        if scheduler != Scheduler::Kubernetes {
            return Ok(());
        }
        for t in &self.targets {
            let place = |f: &str| format!("target \"{}\".kubernetes.{f}", t.name);
            let missing = |f: &str, what: &str| SpecError {
                origin: origin.into(),
                place: place(f),
                message: format!(
                    "is required for Kubernetes: {what} (in [kubernetes] or [target.kubernetes])"
                ),
            };
            if t.kubernetes.image.is_none() {
                return Err(missing("image", "the container image that holds bench"));
            }
            if t.kubernetes.pvc.is_none() {
                return Err(missing(
                    "pvc",
                    "the PersistentVolumeClaim of the shared results path",
                ));
            }
        }
        Ok(())
    }
}

fn join(place: &str, field: &str) -> String {
    if field.is_empty() {
        place.to_string()
    } else {
        format!("{place}.{field}")
    }
}

type FieldError = (String, String);

fn target(
    t: TargetDoc,
    fleet_env: &BTreeMap<String, String>,
    fleet_slurm: &SlurmDoc,
    fleet_kube: &KubeDoc,
) -> Result<Target, FieldError> {
    let f = |field: &str, m: String| (field.to_string(), m);
    check_name(&t.name).map_err(|m| f("name", format!("\"{}\" {m}", t.name)))?;
    let backend: BackendKind = t.backend.parse().map_err(|_| {
        f(
            "backend",
            format!(
                "\"{}\" is not a backend: use cpu, cuda or neuron",
                t.backend
            ),
        )
    })?;
    if t.instance.trim().is_empty() || t.instance.contains(char::is_whitespace) {
        return Err(f(
            "instance",
            format!(
                "\"{}\" is not an instance type (e.g. p5.48xlarge); it prices the run",
                t.instance
            ),
        ));
    }
    let suite_name = t.suite.unwrap_or_else(|| "quick".into());
    let suite: Suite = suite_name
        .parse()
        .map_err(|e: crate::suite::PlanError| f("suite", e.0))?;
    let (workloads, dtypes, params) = (
        t.workload.into_vec(),
        t.dtype.into_vec(),
        t.param.into_vec(),
    );
    let points = plan(
        suite,
        &Selection {
            workloads: workloads.clone(),
            dtypes: dtypes.clone(),
            params: params.clone(),
        },
    )
    .map_err(|e| f("workload/dtype/param", e.0))?;
    if points.is_empty() {
        return Err(f(
            "workload/dtype/param",
            "leave no points of the suite: widen the filters".into(),
        ));
    }
    if let Some(b) = t.budget {
        if !(b.is_finite() && b > 0.0) {
            return Err(f(
                "budget",
                format!("{b} must be a positive number of seconds per point"),
            ));
        }
    }
    let mut env = fleet_env.clone();
    env.extend(t.env);
    check_env(&env).map_err(|m| f("env", m))?;
    match backend {
        BackendKind::Neuron => {
            if t.neff_dir.is_none() {
                return Err(f(
                    "neff_dir",
                    "is required for the neuron backend: the directory of NEFFs on the nodes (add neff_build to build them in the job)".into(),
                ));
            }
        }
        _ => {
            for (field, set) in [
                ("neff_dir", t.neff_dir.is_some()),
                ("neff_build", t.neff_build.is_some()),
                ("cores", t.cores.is_some()),
            ] {
                if set {
                    return Err(f(
                        field,
                        format!("applies to the neuron backend only, not {backend}"),
                    ));
                }
            }
        }
    }
    if t.devices.is_some() && backend != BackendKind::Cuda {
        return Err(f(
            "devices",
            format!("applies to the cuda backend only, not {backend}"),
        ));
    }
    if t.cores == Some(0) {
        return Err(f("cores", "must be at least 1".into()));
    }
    if let Some(b) = &t.neff_build {
        if let Some(target) = &b.target {
            if target != "trn1" && target != "trn2" {
                return Err(f(
                    "neff_build.target",
                    format!("\"{target}\": use trn1 or trn2"),
                ));
            }
        }
    }
    let slurm =
        slurm_options(fleet_slurm, &t.slurm).map_err(|(k, m)| f(&format!("slurm.{k}"), m))?;
    let kubernetes = kube_options(fleet_kube, &t.kubernetes)
        .map_err(|(k, m)| f(&format!("kubernetes.{k}"), m))?;
    let target = Target {
        name: t.name,
        backend,
        instance: t.instance,
        suite: suite_name,
        workloads,
        dtypes,
        params,
        budget: t.budget,
        env,
        neff_dir: t.neff_dir,
        neff_build: t.neff_build,
        devices: t.devices,
        cores: t.cores,
        args: t.args,
        slurm,
        kubernetes,
    };
    super::job::check_run_args(&target).map_err(|m| f("args", m))?;
    Ok(target)
}

/// The target's value if it sets one, else the fleet's.
fn pick(own: &Option<String>, fleet: &Option<String>) -> Option<String> {
    own.clone().or_else(|| fleet.clone())
}

/// A `time` field (the target's, else the fleet's) as written and in seconds.
fn time_field(
    own: &Option<String>,
    fleet: &Option<String>,
) -> Result<Option<(String, u64)>, FieldError> {
    pick(own, fleet)
        .map(|t| {
            let secs = parse_time(&t).map_err(|m| ("time".to_string(), m))?;
            Ok((t, secs))
        })
        .transpose()
}

fn slurm_options(fleet: &SlurmDoc, own: &SlurmDoc) -> Result<SlurmOptions, FieldError> {
    let time = time_field(&own.time, &fleet.time)?;
    let mut args = fleet.args.clone();
    args.extend(own.args.iter().cloned());
    for a in &args {
        if !a.starts_with('-') || a.contains('\n') {
            return Err((
                "args".into(),
                format!("\"{a}\" is not an sbatch option (e.g. \"--reservation=r1\")"),
            ));
        }
    }
    let o = SlurmOptions {
        partition: pick(&own.partition, &fleet.partition),
        constraint: pick(&own.constraint, &fleet.constraint),
        gres: pick(&own.gres, &fleet.gres),
        time,
        account: pick(&own.account, &fleet.account),
        qos: pick(&own.qos, &fleet.qos),
        args,
    };
    for (k, v) in o.words() {
        if let Some(v) = v {
            if v.is_empty() || v.contains(char::is_whitespace) {
                return Err((k.into(), format!("\"{v}\" must be one word with no spaces")));
            }
        }
    }
    Ok(o)
}

fn kube_options(fleet: &KubeDoc, own: &KubeDoc) -> Result<KubeOptions, FieldError> {
    let time = time_field(&own.time, &fleet.time)?;
    let mut node_selector = fleet.node_selector.clone();
    node_selector.extend(own.node_selector.clone());
    let mut resources = BTreeMap::new();
    for (k, q) in fleet.resources.iter().chain(own.resources.iter()) {
        let v = match q {
            Quantity::Int(n) => n.to_string(),
            Quantity::Text(s) => s.clone(),
        };
        if v.is_empty() || v.contains(char::is_whitespace) {
            return Err((
                format!("resources.\"{k}\""),
                format!("\"{v}\" is not a quantity (e.g. 16 or \"500m\")"),
            ));
        }
        resources.insert(k.clone(), v);
    }
    let mut tolerations = fleet.tolerations.clone();
    tolerations.extend(own.tolerations.iter().cloned());
    let namespace = pick(&own.namespace, &fleet.namespace);
    if let Some(ns) = &namespace {
        check_name(ns).map_err(|m| ("namespace".to_string(), format!("\"{ns}\" {m}")))?;
    }
    if let Some(p) = pick(&own.image_pull_policy, &fleet.image_pull_policy) {
        if !["Always", "IfNotPresent", "Never"].contains(&p.as_str()) {
            return Err((
                "image_pull_policy".into(),
                format!("\"{p}\": use Always, IfNotPresent or Never"),
            ));
        }
    }
    Ok(KubeOptions {
        namespace,
        image: pick(&own.image, &fleet.image),
        image_pull_policy: pick(&own.image_pull_policy, &fleet.image_pull_policy),
        pvc: pick(&own.pvc, &fleet.pvc),
        service_account: pick(&own.service_account, &fleet.service_account),
        node_selector,
        resources,
        tolerations,
        time,
    })
}

/// Names that end up in paths, job names and Kubernetes object names (DNS labels).
fn check_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.is_empty()
        || name.len() > 30
        || !ok_chars
        || name.starts_with('-')
        || name.ends_with('-')
    {
        return Err(
            "must be 1-30 lowercase letters, digits or '-' (not at either end), e.g. \"p5-h100\""
                .into(),
        );
    }
    Ok(())
}

fn check_env(env: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in env {
        let valid = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "\"{k}\" is not an environment variable name (letters, digits, '_')"
            ));
        }
        if v.contains('\0') || v.contains('\n') {
            return Err(format!("{k}: the value must be one line"));
        }
    }
    Ok(())
}

/// Slurm's time formats: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`, `D-H:M:S`, in seconds.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let bad = || {
        format!("\"{s}\" is not a time limit: use Slurm's form, e.g. \"90\" (minutes), \"02:00:00\" or \"1-12:00:00\"")
    };
    let num = |p: &str| -> Result<u64, String> {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) || p.len() > 9 {
            return Err(bad());
        }
        p.parse().map_err(|_| bad())
    };
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(num(d)?), r),
        None => (None, s),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let secs = match (days, parts.as_slice()) {
        (None, [m]) => num(m)? * 60,
        (None, [m, s]) => num(m)? * 60 + num(s)?,
        (None, [h, m, s]) => num(h)? * 3600 + num(m)? * 60 + num(s)?,
        (Some(d), [h]) => d * 86_400 + num(h)? * 3600,
        (Some(d), [h, m]) => d * 86_400 + num(h)? * 3600 + num(m)? * 60,
        (Some(d), [h, m, s]) => d * 86_400 + num(h)? * 3600 + num(m)? * 60 + num(s)?,
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(bad());
    }
    Ok(secs)
}

/// 1-based line and column (in bytes) of a byte offset; never panics on odd offsets.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(i) => before.len() - i,
        None => before.len() + 1,
    };
    (line, col)
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
