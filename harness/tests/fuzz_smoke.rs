//! The fuzz targets on stable Rust, for CI: every body in `harness::fuzz::TARGETS` (the same
//! functions cargo-fuzz drives in `fuzz/`) runs on its seed corpus (`fuzz/seeds/<target>/`)
//! and on a few thousand deterministic mutations of it (bit flips, bytes, boundary numbers and
//! JSON/CSV punctuation inserted, ranges deleted or repeated, truncations, splices). A panic,
//! from a reader or from a target's own checks (accepted values in range, errors naming the
//! file, row, field or option), fails the test and prints the input that caused it. Inputs a
//! fuzzer once failed on are kept in `fuzz/regressions/<target>/` and run here too.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use harness::fuzz::{Outcome, Target, TARGETS};

/// Mutated inputs per target (`BENCH_FUZZ_SMOKE_CASES` sets another count); `plan` builds
/// every planned point's plan-file entry (~100 µs each in a test build), so it gets fewer.
const CASES: usize = 3000;
const PLAN_CASES: usize = 1000;

/// Values that sit on the readers' edges: number limits, non-finite and subnormal spellings,
/// JSON, CSV and option punctuation, suffixes, non-ASCII and invalid UTF-8.
const TOKENS: &[&[u8]] = &[
    b"0",
    b"-0",
    b"-1",
    b"1e309",
    b"-1e309",
    b"1e-310",
    b"5e-324",
    b"1e30",
    b"0.0001",
    b"1048577",
    b"4294967296",
    b"18446744073709551615",
    b"18446744073709551616",
    b"9223372036854775808",
    b"NaN",
    b"inf",
    b"null",
    b"true",
    b"\"\"",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b"[]",
    b"{}",
    b":",
    b",",
    b"=",
    b"-",
    b"e",
    b"_",
    b"$",
    b"k",
    b"P",
    b" ",
    b"\n",
    b"\r\n",
    b"\t",
    b"\\u0000",
    b"\\ud800",
    b"\xc3\xa9",
    b"\xff",
    b"\x00",
    b"\"points\":",
    b"\"shape\":[1099511627776,4]",
];

/// xorshift64*: a fixed sequence per target, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let len = input.len();
    let at = rng.below(len + 1);
    match rng.below(8) {
        0 if len > 0 => input[at.min(len - 1)] ^= 1 << rng.below(8),
        1 if len > 0 => input[at.min(len - 1)] = rng.next() as u8,
        2 | 3 => {
            let t = TOKENS[rng.below(TOKENS.len())];
            input.splice(at..at, t.iter().copied());
        }
        4 => {
            let end = (at + 1 + rng.below(16)).min(len);
            input.drain(at.min(end)..end);
        }
        5 => {
            let end = (at + 1 + rng.below(64)).min(len);
            let piece = input[at.min(end)..end].to_vec();
            input.splice(at..at, piece);
        }
        6 => input.truncate(at),
        _ => {
            // A digit run replaced by a boundary number, or a splice with another seed.
            if let Some(start) = (at..len).find(|&i| input[i].is_ascii_digit()) {
                let end = (start..len)
                    .find(|&i| !input[i].is_ascii_digit())
                    .unwrap_or(len);
                let t = TOKENS[rng.below(12)];
                input.splice(start..end, t.iter().copied());
            } else {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[cut..]);
            }
        }
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = fuzz_dir().join("seeds").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no seeds", dir.display());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn shown(input: &[u8]) -> String {
    let s = String::from_utf8_lossy(input);
    let s: String = s.chars().take(3000).collect();
    format!("{s:?} ({} bytes)", input.len())
}

fn run(name: &str, f: Target, input: &[u8], case: &str) -> Outcome {
    match catch_unwind(AssertUnwindSafe(|| f(input))) {
        Ok(o) => o,
        Err(_) => panic!(
            "fuzz target {name} failed on {case}, input {}",
            shown(input)
        ),
    }
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let set: Option<usize> = std::env::var("BENCH_FUZZ_SMOKE_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    for (t, &(name, f)) in TARGETS.iter().enumerate() {
        let cases = set.unwrap_or(if name == "plan" { PLAN_CASES } else { CASES });
        let start = std::time::Instant::now();
        let seeds = seeds(name);
        for (i, s) in seeds.iter().enumerate() {
            assert_eq!(
                run(name, f, s, &format!("seed {i}")),
                Outcome::Accepted,
                "seed {i} of {name} is not accepted: the seeds must be valid inputs"
            );
        }
        // Inputs the fuzzers once failed on (fuzz/regressions/<target>/), kept as they were.
        let regressions = fuzz_dir().join("regressions").join(name);
        for file in std::fs::read_dir(&regressions).into_iter().flatten() {
            let file = file.unwrap().path();
            run(
                name,
                f,
                &std::fs::read(&file).unwrap(),
                &file.display().to_string(),
            );
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t as u64 + 1));
        let (mut accepted, mut rejected) = (0, 0);
        for case in 0..cases {
            let mut input = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                mutate(&mut rng, &mut input, &seeds);
            }
            match run(name, f, &input, &format!("case {case}")) {
                Outcome::Accepted => accepted += 1,
                Outcome::Rejected => rejected += 1,
            }
        }
        println!(
            "{name}: {cases} mutated inputs, {accepted} accepted, {rejected} rejected, {:.2} s",
            start.elapsed().as_secs_f64()
        );
        assert!(
            rejected > 0,
            "{name}: no mutation was rejected: the mutator does not reach the errors"
        );
    }
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for (name, _) in TARGETS {
        let file = format!("fuzz_targets/{name}.rs");
        assert!(
            manifest.contains(&format!("path = \"{file}\"")),
            "fuzz/Cargo.toml has no [[bin]] for {name}"
        );
        let body = std::fs::read_to_string(fuzz_dir().join(&file)).unwrap();
        assert!(
            body.contains(&format!("harness::fuzz::{name}(data)")),
            "{file}"
        );
    }
}

/// What the fuzzers found, through the real binary: a clear error and exit 2, no panic.
#[test]
fn found_inputs_are_clear_errors_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.json");
    let many = (1..=100)
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let cases: [(&[&str], &str); 3] = [
        // b*h*s*d overflowed u64 in attention's byte count
        (
            &[
                "--workload",
                "attention",
                "--param",
                "b=1048576",
                "--param",
                "h=1048576",
            ],
            "too large",
        ),
        // a train-gpt of 2^20 layers: millions of tensors
        (
            &["--workload", "train-gpt", "--param", "layers=1048576"],
            "layers=1048576",
        ),
        // 100 x 100 x 100 matmul sizes: a million points
        (
            &[
                "--workload",
                "matmul",
                "--param",
                &format!("m={many}"),
                "--param",
                &format!("n={many}"),
                "--param",
                &format!("k={many}"),
            ],
            "points",
        ),
    ];
    for (args, expect) in cases {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_bench"))
            .args(["plan", "--backend", "neuron", "--suite", "quick", "--out"])
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(expect) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
