//! Unit tests of the fleet-file parser: a full file, merging of the scheduler sections, and
//! one error per kind of mistake, each naming the file and the field.

use super::*;

const FULL: &str = r#"
name = "sweep"
results = "/shared/bench"
scheduler = "slurm"
env = { OMP_NUM_THREADS = "8" }

[slurm]
partition = "gpu"
time = "02:00:00"
args = ["--reservation=r1"]

[kubernetes]
namespace = "bench"
image = "example.com/bench:1"
pvc = "bench-results"

[[target]]
name = "trn2"
backend = "neuron"
instance = "trn2.48xlarge"
suite = "standard"
workload = ["matmul", "attention"]
dtype = "bf16"
neff_dir = "/shared/neffs/trn2"
neff_build = { script = "/shared/bench/scripts/neuron/build_neffs.py", target = "trn2", lnc = 2 }
cores = 64
env = { NEURON_RT_LOG_LEVEL = "WARN" }
[target.slurm]
partition = "trn2"
constraint = "trn2.48xlarge"
[target.kubernetes]
tolerations = [{ key = "aws.amazon.com/neuron", operator = "Exists", effect = "NoSchedule" }]

[[target]]
name = "p5"
backend = "cuda"
instance = "p5.48xlarge"
param = ["m=4096", "n=4096"]
devices = "all"
budget = 2.5
args = ["--warmup", "0.5"]
[target.slurm]
gres = "gpu:8"
time = "1-00:00:00"
[target.kubernetes]
resources = { "nvidia.com/gpu" = 8, memory = "512Gi" }
"#;

fn err(text: &str) -> String {
    parse(text, "f.toml").unwrap_err().to_string()
}

fn minimal(target_lines: &str) -> String {
    format!("results = \"/r\"\n[[target]]\nname = \"t1\"\nbackend = \"cpu\"\ninstance = \"c7i.2xlarge\"\n{target_lines}")
}

#[test]
fn a_full_file_reads_into_targets_with_merged_settings() {
    let f = parse(FULL, "f.toml").unwrap();
    assert_eq!(f.name, "sweep");
    assert_eq!(f.results, "/shared/bench");
    assert_eq!(f.scheduler, Some(Scheduler::Slurm));
    let [trn2, p5] = &f.targets[..] else {
        panic!("two targets")
    };
    assert_eq!(trn2.backend, BackendKind::Neuron);
    assert_eq!(trn2.workloads, ["matmul", "attention"]);
    assert_eq!(trn2.dtypes, ["bf16"]);
    assert_eq!(trn2.cores, Some(64));
    assert_eq!(trn2.neff_build.as_ref().unwrap().python, "python3");
    assert_eq!(trn2.env["OMP_NUM_THREADS"], "8");
    assert_eq!(trn2.env["NEURON_RT_LOG_LEVEL"], "WARN");
    // the target's section wins field by field; the fleet's fills the rest
    assert_eq!(trn2.slurm.partition.as_deref(), Some("trn2"));
    assert_eq!(trn2.slurm.constraint.as_deref(), Some("trn2.48xlarge"));
    assert_eq!(trn2.slurm.time, Some(("02:00:00".into(), 7200)));
    assert_eq!(trn2.slurm.args, ["--reservation=r1"]);
    assert_eq!(
        trn2.kubernetes.image.as_deref(),
        Some("example.com/bench:1")
    );
    assert_eq!(trn2.kubernetes.tolerations.len(), 1);
    assert_eq!(p5.slurm.partition.as_deref(), Some("gpu"));
    assert_eq!(p5.slurm.gres.as_deref(), Some("gpu:8"));
    assert_eq!(p5.slurm.time, Some(("1-00:00:00".into(), 86_400)));
    assert_eq!(p5.kubernetes.resources["nvidia.com/gpu"], "8");
    assert_eq!(p5.kubernetes.resources["memory"], "512Gi");
    assert_eq!(p5.suite, "quick");
    assert_eq!(p5.budget, Some(2.5));
    f.check_for(Scheduler::Kubernetes, "f.toml").unwrap();
}

#[test]
fn syntax_and_unknown_fields_name_the_line_or_field() {
    let e = err("results = \"/r\"\n[slurm]\npartiton = \"cpu\"\n");
    assert!(e.starts_with("f.toml: line 3"), "{e}");
    assert!(e.contains("partiton"), "{e}");
    let e = err("results = \n");
    assert!(e.starts_with("f.toml: line 1"), "{e}");
    let e = err("[[target]]\nname = \"a\"\n");
    assert!(
        e.starts_with("f.toml: line 1, column 1: missing field `backend` in the table"),
        "{e}"
    );
    let e = err("[[target]]\nname = \"a\"\nbackend = \"cpu\"\ninstance = \"x\"\n");
    assert!(e.contains("missing field `results`"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn each_bad_value_names_its_target_and_field() {
    let cases = [
        (
            "backend",
            minimal("").replace("\"cpu\"", "\"tpu\""),
            "target \"t1\" (#1).backend",
        ),
        ("suite", minimal("suite = \"huge\""), ".suite"),
        (
            "workload",
            minimal("workload = \"convolution\""),
            ".workload/dtype/param",
        ),
        (
            "param",
            minimal("param = [\"m=abc\"]"),
            ".workload/dtype/param",
        ),
        ("budget", minimal("budget = -1.0"), ".budget"),
        ("env", minimal("env = { \"1BAD\" = \"x\" }"), ".env"),
        ("cores on cpu", minimal("cores = 4"), ".cores"),
        ("devices on cpu", minimal("devices = \"0\""), ".devices"),
        ("args", minimal("args = [\"--no-such-option\"]"), ".args"),
        ("args --out", minimal("args = [\"--out\", \"/x\"]"), ".args"),
        (
            "time",
            minimal("slurm = { time = \"soon\" }"),
            ".slurm.time",
        ),
        (
            "partition",
            minimal("slurm = { partition = \"a b\" }"),
            ".slurm.partition",
        ),
        (
            "pull policy",
            minimal("kubernetes = { image_pull_policy = \"Sometimes\" }"),
            ".kubernetes.image_pull_policy",
        ),
        ("name", minimal("").replace("\"t1\"", "\"T 1\""), ".name"),
        (
            "instance",
            minimal("").replace("\"c7i.2xlarge\"", "\"\""),
            ".instance",
        ),
    ];
    for (what, text, field) in cases {
        let e = err(&text);
        assert!(
            e.starts_with("f.toml: target \"") || e.starts_with("f.toml: line"),
            "{what}: {e}"
        );
        assert!(e.contains(field), "{what}: expected {field} in: {e}");
        assert!(!e.contains('\n'), "{what}: one line: {e}");
    }
}

#[test]
fn fleet_level_mistakes_name_the_field() {
    assert!(
        err("results = \"\"\n[[target]]\nname=\"a\"\nbackend=\"cpu\"\ninstance=\"x\"\n")
            .starts_with("f.toml: results: is empty")
    );
    assert!(err("results = \"/r\"\n").contains("f.toml: target: no [[target]]"));
    let e = err(&minimal("").replace("results = \"/r\"", "results = \"/r\"\nscheduler = \"pbs\""));
    assert_eq!(
        e,
        "f.toml: scheduler: unknown scheduler 'pbs': use slurm or kubernetes"
    );
    let two = format!(
        "{}[[target]]\nname = \"t1\"\nbackend = \"cpu\"\ninstance = \"c7i.4xlarge\"\n",
        minimal("")
    );
    assert!(err(&two).contains("target \"t1\" (#2).name: is used by an earlier target"));
}

#[test]
fn neuron_needs_its_neff_dir_and_kubernetes_its_image_and_pvc() {
    let text = minimal("").replace("\"cpu\"", "\"neuron\"");
    assert!(err(&text).contains(".neff_dir: is required for the neuron backend"));
    let f = parse(&minimal(""), "f.toml").unwrap();
    f.check_for(Scheduler::Slurm, "f.toml").unwrap();
    let e = f
        .check_for(Scheduler::Kubernetes, "f.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "f.toml: target \"t1\".kubernetes.image: is required for Kubernetes: the container image that holds bench (in [kubernetes] or [target.kubernetes])"
    );
}

#[test]
fn slurm_time_formats() {
    for (s, secs) in [
        ("90", 5400),
        ("10:30", 630),
        ("02:00:00", 7200),
        ("1-12", 129_600),
        ("1-0:30", 88_200),
        ("2-00:00:01", 172_801),
    ] {
        assert_eq!(parse_time(s), Ok(secs), "{s}");
    }
    for s in [
        "",
        "0",
        "a",
        "1:2:3:4",
        "-5",
        "1-",
        "1-2:3:4:5",
        "99999999999",
    ] {
        assert!(parse_time(s).is_err(), "{s}");
    }
}

#[test]
fn arbitrary_text_never_panics() {
    // The parser is what a fuzzer would drive; a few odd inputs here keep it honest.
    for text in [
        "",
        "\u{0}",
        "results = \"/r\"\n[[target]]\nname = \"é\"\n",
        "[[target]]\n[[target]]\n",
        "results = 1",
        "results = \"/r\"\ntarget = 3\n",
        "a = \"\u{1F600}\"\nb = ",
    ] {
        let _ = parse(text, "f.toml");
    }
}
