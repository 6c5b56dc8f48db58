//! `bench fleet` through the real binary without a scheduler: `--dry-run` writes the sbatch
//! scripts (checked with `bash -n`) and Kubernetes Job manifests (a trn2 and a p5 target,
//! parsed back: resources, node selector, volume mounts, command) and fleet.json; kubectl
//! reads the manifests where it is installed; every bad input is a one-line error, exit 2,
//! that writes nothing. The live Slurm test is fleet_slurm.rs.

mod fleet_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use fleet_support::*;
use serde_json::Value;

fn submit(fleet: &Path, extra: &[&str]) -> std::process::Output {
    bench()
        .args(["fleet", "submit"])
        .arg(fleet)
        .args(extra)
        .output()
        .unwrap()
}

fn local_toml() -> PathBuf {
    repo().join("scripts/fleet/local.toml")
}

#[test]
fn dry_run_writes_one_exclusive_sbatch_script_per_target_and_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().to_str().unwrap();
    let o = submit(&local_toml(), &["--results", results, "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dir = last_line(&o);
    assert!(
        dir.starts_with(std::fs::canonicalize(tmp.path()).unwrap()),
        "{dir:?}"
    );
    assert!(dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("local-"));
    let rec = read_record(&dir);
    assert!(rec.dry_run);
    assert_eq!(rec.scheduler.name(), "slurm");
    assert_eq!(
        rec.bench,
        std::fs::canonicalize(env!("CARGO_BIN_EXE_bench"))
            .unwrap()
            .display()
            .to_string()
    );
    let names: Vec<&str> = rec.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["c7i-2xlarge", "c7i-4xlarge"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("fleet.toml")).unwrap(),
        std::fs::read_to_string(local_toml()).unwrap()
    );
    for (t, instance) in rec.targets.iter().zip(["c7i.2xlarge", "c7i.4xlarge"]) {
        assert_eq!(t.instance, instance);
        assert_eq!(t.out, dir.join(&t.name));
        assert!(t.out.is_dir());
        let job = &t.jobs[0];
        assert!(job.id.is_empty(), "a dry run submits nothing");
        let script = std::fs::read_to_string(&job.job_file).unwrap();
        for line in [
            "#!/bin/bash\n",
            "#SBATCH --nodes=1\n",
            "#SBATCH --exclusive\n",
            "#SBATCH --partition=cpu\n",
            "#SBATCH --time=00:20:00\n",
            &format!("#SBATCH --job-name=bench-{}\n", t.name),
            &format!(
                "#SBATCH --output={}/logs/{}-%j.log\n",
                dir.display(),
                t.name
            ),
            &format!("export BENCH_FLEET_TARGET={}\n", t.name),
        ] {
            assert!(script.contains(line), "{line:?} missing from:\n{script}");
        }
        let exec = format!(
            "exec {} run --backend cpu --suite quick --out {} --instance {instance} --budget 0.02 --warmup 0.02\n",
            rec.bench,
            t.out.display()
        );
        assert!(script.ends_with(&exec), "{script}");
        assert_eq!(
            job.command,
            [
                "run",
                "--backend",
                "cpu",
                "--suite",
                "quick",
                "--out",
                &t.out.display().to_string(),
                "--instance",
                instance,
                "--budget",
                "0.02",
                "--warmup",
                "0.02"
            ]
        );
        let syntax = Command::new("bash")
            .arg("-n")
            .arg(&job.job_file)
            .output()
            .unwrap();
        assert!(syntax.status.success(), "bash -n: {}", stderr(&syntax));
    }
    // status of a dry run needs no scheduler and says nothing was submitted
    let st = bench()
        .args(["fleet", "status"])
        .arg(&dir)
        .env("PATH", "")
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(0), "{}", stderr(&st));
    let text = stdout(&st);
    assert!(text.contains("NOT_SUBMITTED (dry run)"), "{text}");
    assert!(
        text.contains("0 queued or running, 0 finished, 2 failed or not run"),
        "{text}"
    );
}

const K8S_FLEET: &str = r#"
name = "cloud"
results = "RESULTS"
scheduler = "kubernetes"
bench = "/opt/bench/bin/bench"

[kubernetes]
namespace = "perf"
image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/bench:0.1"
pvc = "bench-results"
time = "04:00:00"

[[target]]
name = "trn2"
backend = "neuron"
instance = "trn2.48xlarge"
suite = "standard"
dtype = "bf16"
neff_dir = "RESULTS/neffs/trn2"
neff_build = { script = "/opt/bench/scripts/neuron/build_neffs.py", target = "trn2", lnc = 2 }
cores = 64
env = { NEURON_RT_LOG_LEVEL = "WARN" }
[target.kubernetes]
tolerations = [{ key = "aws.amazon.com/neuron", operator = "Exists", effect = "NoSchedule" }]

[[target]]
name = "p5"
backend = "cuda"
instance = "p5.48xlarge"
suite = "standard"
devices = "all"
[target.kubernetes]
resources = { memory = "1800Gi" }
node_selector = { "topology.kubernetes.io/zone" = "us-east-1a" }
"#;

/// Writes the two-target Kubernetes fleet (trn2 and p5) and submits it with --dry-run.
fn k8s_dry_run(tmp: &Path) -> (PathBuf, PathBuf) {
    let results = std::fs::canonicalize(tmp).unwrap().join("shared");
    std::fs::create_dir(&results).unwrap();
    let file = tmp.join("cloud.toml");
    std::fs::write(
        &file,
        K8S_FLEET.replace("RESULTS", results.to_str().unwrap()),
    )
    .unwrap();
    let o = submit(&file, &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    (last_line(&o), results)
}

fn manifest(dir: &Path, target: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(format!("{target}.job.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn kubernetes_manifests_for_trn2_and_p5_parse_back_with_devices_selector_volume_and_command() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, results) = k8s_dry_run(tmp.path());
    let rec = read_record(&dir);
    assert_eq!(rec.scheduler.name(), "kubernetes");
    let stamp = rec.id.trim_start_matches("cloud-");

    for (target, instance, device, count) in [
        ("trn2", "trn2.48xlarge", "aws.amazon.com/neuron", "16"),
        ("p5", "p5.48xlarge", "nvidia.com/gpu", "8"),
    ] {
        let m = manifest(&dir, target);
        assert_eq!(m["apiVersion"], "batch/v1");
        assert_eq!(m["kind"], "Job");
        assert_eq!(m["metadata"]["name"], format!("bench-{target}-{stamp}"));
        assert_eq!(m["metadata"]["namespace"], "perf");
        assert_eq!(m["metadata"]["labels"]["bench/fleet"], rec.id.as_str());
        assert_eq!(m["metadata"]["labels"]["bench/target"], target);
        let spec = &m["spec"];
        assert_eq!(
            spec["backoffLimit"], 0,
            "a failed benchmark is not retried blindly"
        );
        assert_eq!(spec["activeDeadlineSeconds"], 4 * 3600);
        let pod = &spec["template"]["spec"];
        assert_eq!(
            spec["template"]["metadata"]["labels"]["bench/target"],
            target
        );
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(
            pod["nodeSelector"]["node.kubernetes.io/instance-type"],
            instance
        );
        assert_eq!(pod["volumes"][0]["name"], "results");
        assert_eq!(
            pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "bench-results"
        );
        let c = &pod["containers"][0];
        assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
        assert_eq!(
            c["image"],
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/bench:0.1"
        );
        // all of the instance's accelerators (from the price table): the node is the job's
        assert_eq!(c["resources"]["limits"][device], count);
        assert_eq!(c["resources"]["requests"][device], count);
        assert_eq!(c["volumeMounts"][0]["name"], "results");
        assert_eq!(c["volumeMounts"][0]["mountPath"], results.to_str().unwrap());
        let env = c["env"].as_array().unwrap();
        assert!(env.contains(&serde_json::json!({"name": "BENCH_FLEET_TARGET", "value": target})));
        let out = dir.join(target).display().to_string();
        let command = strings(&c["command"]);
        assert_eq!(
            command[..4],
            [
                "/opt/bench/bin/bench",
                "run",
                "--backend",
                if target == "p5" { "cuda" } else { "neuron" }
            ]
        );
        let has = |pair: [&str; 2]| command.windows(2).any(|w| w == pair);
        assert!(has(["--out", &out]), "{command:?}");
        assert!(has(["--instance", instance]), "{command:?}");
        assert!(has(["--suite", "standard"]), "{command:?}");
        // the same list is fleet.json's record of the job's bench command
        let t = rec.targets.iter().find(|t| t.name == target).unwrap();
        assert_eq!(command[1..], t.jobs[0].command[..]);
        assert_eq!(t.namespace.as_deref(), Some("perf"));
    }

    let trn2 = manifest(&dir, "trn2");
    let pod = &trn2["spec"]["template"]["spec"];
    let neffs = results.join("neffs/trn2").display().to_string();
    let command = strings(&pod["containers"][0]["command"]);
    assert!(
        command.windows(2).any(|w| w == ["--neff-dir", &neffs]),
        "{command:?}"
    );
    assert!(
        command.windows(2).any(|w| w == ["--cores", "64"]),
        "{command:?}"
    );
    assert!(
        command.windows(2).any(|w| w == ["--dtype", "bf16"]),
        "{command:?}"
    );
    assert_eq!(pod["tolerations"][0]["key"], "aws.amazon.com/neuron");
    assert_eq!(pod["tolerations"][0]["operator"], "Exists");
    // the NEFF build runs first, in init containers sharing the results volume
    let init = pod["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 2);
    let plan = dir.join("trn2/plan.json").display().to_string();
    assert_eq!(
        strings(&init[0]["command"]),
        [
            "/opt/bench/bin/bench",
            "plan",
            "--backend",
            "neuron",
            "--suite",
            "standard",
            "--dtype",
            "bf16",
            "--out",
            &plan
        ]
    );
    assert_eq!(
        strings(&init[1]["command"]),
        [
            "python3",
            "/opt/bench/scripts/neuron/build_neffs.py",
            &plan,
            "--out",
            &neffs,
            "--target",
            "trn2",
            "--lnc",
            "2"
        ]
    );
    assert_eq!(
        init[1]["volumeMounts"][0]["mountPath"],
        results.to_str().unwrap()
    );
    assert!(
        init[1].get("resources").is_none(),
        "the build needs no device"
    );

    let p5 = manifest(&dir, "p5");
    let pod = &p5["spec"]["template"]["spec"];
    assert_eq!(
        pod["nodeSelector"]["topology.kubernetes.io/zone"],
        "us-east-1a"
    );
    assert_eq!(
        pod["containers"][0]["resources"]["limits"]["memory"],
        "1800Gi"
    );
    let command = strings(&pod["containers"][0]["command"]);
    assert!(
        command.windows(2).any(|w| w == ["--devices", "all"]),
        "{command:?}"
    );
    assert!(pod.get("initContainers").is_none());
    assert!(pod.get("tolerations").is_none());

    // The manifest's bench command is one bench's own parser takes: `plan` with the same
    // selection runs here (it needs no device) and lists the standard suite's bf16 points.
    let plan_out = tmp.path().join("plan-check.json");
    let o = bench()
        .args(&strings(&init[0]["command"])[1..8])
        .arg("--out")
        .arg(&plan_out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan_out).unwrap()).unwrap();
    assert!(plan["points"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["dtype"] == "bf16"));
}

/// kubectl (Debian's, or any) reads the manifests. `kubectl apply --dry-run=client` needs the
/// API server for its resource discovery even with --validate=false, so offline it fails
/// with a connection error; then `kubectl label --local --dry-run=client -o json` (no server)
/// decodes each manifest and must give it back unchanged but for the added label.
#[test]
fn kubectl_reads_the_manifests() {
    let Some(kubectl) = harness::fleet::tools::find("kubectl") else {
        assert!(
            std::env::var("BENCH_REQUIRE_KUBECTL").as_deref() != Ok("1"),
            "BENCH_REQUIRE_KUBECTL=1 but kubectl is not on PATH"
        );
        eprintln!("skipped: kubectl is not installed (Debian: apt-get install kubernetes-client)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (dir, _) = k8s_dry_run(tmp.path());
    // No cluster: an empty kubeconfig and a server address nothing listens on, so no test
    // ever talks to a real one.
    let kubeconfig = tmp.path().join("kubeconfig");
    std::fs::write(&kubeconfig, "").unwrap();
    for target in ["trn2", "p5"] {
        let file = dir.join(format!("{target}.job.json"));
        let kc = |args: &[&str]| {
            Command::new(&kubectl)
                .args(args)
                .arg("-f")
                .arg(&file)
                .args(["-o", "json", "--server=http://127.0.0.1:9"])
                .env("KUBECONFIG", &kubeconfig)
                .env("HOME", tmp.path())
                .output()
                .unwrap()
        };
        let apply = kc(&["apply", "--dry-run=client", "--validate=false"]);
        if apply.status.success() {
            let back: Value = serde_json::from_slice(&apply.stdout).unwrap();
            assert_eq!(back["kind"], "Job");
        } else {
            let why = stderr(&apply);
            let offline = [
                "connection refused",
                "API group list",
                "unable to recognize",
                "dial tcp",
                "no configuration",
                "the server",
            ]
            .iter()
            .any(|s| why.contains(s));
            assert!(offline, "kubectl apply --dry-run=client failed for a reason other than having no server: {why}");
            eprintln!("kubectl apply --dry-run=client needs an API server here ({}); reading with label --local", why.lines().last().unwrap_or(""));
        }
        let local = kc(&["label", "--local", "--dry-run=client", "bench/check=read"]);
        assert!(
            local.status.success(),
            "kubectl label --local: {}",
            stderr(&local)
        );
        let mut back: Value = serde_json::from_slice(&local.stdout).unwrap();
        assert_eq!(back["metadata"]["labels"]["bench/check"], "read");
        back["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove("bench/check");
        assert_eq!(
            back,
            manifest(&dir, target),
            "kubectl gives the manifest back unchanged"
        );
    }
}

#[test]
fn a_missing_shared_path_is_one_line_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("f.toml");
    let gone = tmp.path().join("not-mounted");
    let text = std::fs::read_to_string(local_toml())
        .unwrap()
        .replace("\"/tmp/bench-fleet\"", &format!("\"{}\"", gone.display()));
    std::fs::write(&file, text).unwrap();
    let e = one_line_error(&submit(&file, &["--dry-run"]));
    assert!(
        e.contains(&format!(
            "{}: results = \"{}\": no such directory",
            file.display(),
            gone.display()
        )),
        "{e}"
    );
    assert!(e.contains("shared filesystem"), "{e}");
    let e = one_line_error(&submit(
        &local_toml(),
        &["--dry-run", "--results", gone.to_str().unwrap()],
    ));
    assert!(
        e.contains(&format!(
            "--results = \"{}\": no such directory",
            gone.display()
        )),
        "{e}"
    );
    assert!(!gone.exists());
}

#[test]
fn an_unknown_scheduler_is_one_line_in_the_cli_and_in_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().to_str().unwrap();
    let e = one_line_error(&submit(
        &local_toml(),
        &["--results", r, "--scheduler", "pbs"],
    ));
    assert_eq!(
        e,
        "error: --scheduler: unknown scheduler 'pbs': use slurm or kubernetes"
    );
    let file = tmp.path().join("f.toml");
    let text = std::fs::read_to_string(local_toml())
        .unwrap()
        .replace("scheduler = \"slurm\"", "scheduler = \"lsf\"");
    std::fs::write(&file, text).unwrap();
    let e = one_line_error(&submit(&file, &["--results", r]));
    assert_eq!(
        e,
        format!(
            "error: {}: scheduler: unknown scheduler 'lsf': use slurm or kubernetes",
            file.display()
        )
    );
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "nothing written but the test's file"
    );
}

#[test]
fn absent_sbatch_kubectl_or_squeue_is_one_line_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("r");
    std::fs::create_dir(&results).unwrap();
    let r = results.to_str().unwrap();
    let empty = tmp.path().join("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let run = |args: &[&str]| bench().args(args).env("PATH", &empty).output().unwrap();
    let local = local_toml();
    let local = local.to_str().unwrap();
    let e = one_line_error(&run(&["fleet", "submit", local, "--results", r]));
    assert!(
        e.starts_with(
            "error: sbatch not found on PATH: run `bench fleet submit` on a Slurm login node"
        ),
        "{e}"
    );
    assert!(e.contains("--dry-run"), "{e}");
    let k8s = tmp.path().join("k.toml");
    std::fs::write(&k8s, K8S_FLEET.replace("RESULTS", r)).unwrap();
    let e = one_line_error(&run(&["fleet", "submit", k8s.to_str().unwrap()]));
    assert!(e.starts_with("error: kubectl not found on PATH"), "{e}");
    assert_eq!(
        std::fs::read_dir(&results).unwrap().count(),
        0,
        "no fleet directory without a scheduler"
    );

    // A submitted fleet (fleet.json with a job id, as sbatch would have left it) needs squeue.
    let o = submit(&local_toml(), &["--results", r, "--dry-run"]);
    let dir = last_line(&o);
    let path = dir.join("fleet.json");
    let mut rec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    rec["targets"][0]["jobs"][0]["id"] = "12".into();
    std::fs::write(&path, rec.to_string()).unwrap();
    for cmd in ["status", "collect", "rerun"] {
        let e = one_line_error(&run(&["fleet", cmd, dir.to_str().unwrap()]));
        assert!(
            e.starts_with(
                "error: squeue not found on PATH: run `bench fleet status` on a Slurm login node"
            ),
            "{cmd}: {e}"
        );
    }
}

#[test]
fn bad_fleet_files_and_directories_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().to_str().unwrap();
    let file = tmp.path().join("f.toml");
    let cases = [
        ("[slurm]\npartiton = \"cpu\"\n", "line 8, column 1: unknown field `partiton`"),
        ("[[target]]\nname = \"gpu\"\nbackend = \"tpu\"\ninstance = \"x\"\n", "target \"gpu\" (#1).backend: \"tpu\" is not a backend: use cpu, cuda or neuron"),
        ("[[target]]\nname = \"x\"\nbackend = \"cpu\"\ninstance = \"c7i.large\"\nworkload = \"conv\"\n", "target \"x\" (#1).workload/dtype/param: "),
        ("[[target]]\nname = \"x\"\nbackend = \"cpu\"\ninstance = \"c7i.large\"\nargs = [\"--frobnicate\"]\n", "target \"x\" (#1).args: unexpected argument '--frobnicate'"),
    ];
    for (body, want) in cases {
        std::fs::write(
            &file,
            format!("name = \"t\"\nresults = \"{r}\"\n\n\n\n\n{body}"),
        )
        .unwrap();
        let e = one_line_error(&submit(&file, &["--dry-run"]));
        assert!(
            e.starts_with(&format!("error: {}: ", file.display())),
            "{e}"
        );
        assert!(e.contains(want), "want {want:?} in {e}");
    }
    let e = one_line_error(&submit(&tmp.path().join("nope.toml"), &["--dry-run"]));
    assert!(
        e.contains("cannot read the fleet file") && e.contains("nope.toml"),
        "{e}"
    );
    let e = one_line_error(&bench().args(["fleet", "status", r]).output().unwrap());
    assert!(
        e.contains("fleet.json")
            && e.contains("the fleet directory that `bench fleet submit` printed"),
        "{e}"
    );

    let o = submit(&local_toml(), &["--results", r, "--dry-run"]);
    let dir = last_line(&o);
    let e = one_line_error(
        &bench()
            .args(["fleet", "rerun"])
            .arg(&dir)
            .args(["--target", "nope"])
            .output()
            .unwrap(),
    );
    assert!(
        e.contains("--target nope: no such target") && e.contains("c7i-2xlarge, c7i-4xlarge"),
        "{e}"
    );
    let e = one_line_error(
        &bench()
            .args(["fleet", "collect"])
            .arg(&dir)
            .args(["--poll", "0"])
            .output()
            .unwrap(),
    );
    assert!(e.contains("--poll 0"), "{e}");
    let e = one_line_error(
        &bench()
            .args(["fleet", "collect"])
            .arg(&dir)
            .arg("--report")
            .output()
            .unwrap(),
    );
    assert!(e.contains("nothing to report"), "{e}");
}

#[test]
fn the_readme_fleet_file_is_a_valid_fleet() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = &readme[readme
        .find("## Fleet sweeps")
        .expect("README has the fleet section")..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let fleet = harness::fleet::spec::parse(block, "README.md").unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = fleet.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["trn2", "p5"]);
    use harness::fleet::spec::Scheduler;
    fleet.check_for(Scheduler::Kubernetes, "README.md").unwrap();
}
