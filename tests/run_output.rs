//! What `run` says and keeps: an output folder holding an earlier run's results is refused unless
//! `--force` (exit 2, the earlier files intact), while the default folder keeps the earlier run
//! beside it; without a terminal (a CI log) a line per finished case-round with its p50 so far, a
//! line per case and a summary table with the ship line per model; `--quiet` prints none of it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use squeezebench::results::Results;

/// bert-tiny fp32 vs int8, 3 short rounds.
fn suite(dir: &Path) -> PathBuf {
    let p = dir.join("s.yaml");
    std::fs::write(
        &p,
        format!(
            "name: out-test\nmodels:\n  bert: {{path: {}}}\nvariants:\n  fp32: {{reference: true}}\n  int8:\n    steps:\n      - quantize: {{mode: dynamic}}\n\
             workloads: {{batch: [1], seq: [16], threads: [1]}}\nmetrics: [latency, fidelity]\n\
             run: {{warmup: 1, min_iterations: 5, min_time_s: 0.05, max_time_s: 0.1, rounds: 3}}\n",
            common::fixtures().join("bert-tiny.onnx").display()
        ),
    )
    .unwrap();
    p
}

fn run(dir: &Path, args: &[&str]) -> Output {
    // stderr is a pipe here, not a terminal: what a CI log gets.
    Command::new(env!("CARGO_BIN_EXE_squeezebench")).arg("run").arg("s.yaml").args(["--cache-dir", "cache"]).args(args).current_dir(dir).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_named_folder_with_results_is_refused_unless_forced_and_the_default_folder_keeps_the_earlier_run() {
    let dir = common::scratch("run-output-keep");
    let d = dir.path();
    suite(d);
    let first = run(d, &["-o", "out"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let before = std::fs::read(d.join("out/results.json")).unwrap();

    let again = run(d, &["-o", "out"]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    let e = stderr(&again);
    assert!(e.contains("'out' holds the results of an earlier run") && e.contains("--force"), "{e}");
    assert_eq!(std::fs::read(d.join("out/results.json")).unwrap(), before, "the earlier results are intact");
    assert!(!d.join("out/.lock").exists(), "the lock is released");

    let forced = run(d, &["-o", "out", "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_ne!(std::fs::read(d.join("out/results.json")).unwrap(), before, "--force replaces them");

    // The default folder, runs/<suite name>: the earlier run moves aside, named by its start time.
    for _ in 0..2 {
        let o = run(d, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let latest = Results::load(&d.join("runs/out-test/results.json")).unwrap();
    let kept: Vec<PathBuf> = std::fs::read_dir(d.join("runs")).unwrap().map(|e| e.unwrap().path()).filter(|p| p.file_name().unwrap() != "out-test").collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let earlier = Results::load(&kept[0].join("results.json")).unwrap();
    assert!(kept[0].file_name().unwrap().to_string_lossy().starts_with("out-test.20"), "{kept:?}");
    assert!(kept[0].join("report.md").is_file());
    assert!(earlier.started_at < latest.started_at);
}

#[test]
fn a_ci_log_gets_a_line_per_case_round_and_a_summary_and_quiet_gets_nothing() {
    let dir = common::scratch("run-output-log");
    let d = dir.path();
    suite(d);
    let o = run(d, &["-o", "log"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    for id in ["bert/fp32/b1-s16-t1", "bert/int8/b1-s16-t1"] {
        for r in 1..=2 {
            assert!(e.lines().any(|l| l.starts_with(&format!("round {r}/3 {id}  p50 so far "))), "round {r} of {id}: {e}");
        }
        assert!(!e.contains(&format!("round 3/3 {id}")), "the last round is the case's own line: {e}");
        assert!(e.lines().any(|l| l.starts_with("ok ") && l.contains(id)), "{e}");
    }
    let summary = &e[e.find("summary: 2 cases: 2 ok").unwrap_or_else(|| panic!("no summary: {e}"))..];
    assert!(summary.contains("\nbert\n"), "{summary}");
    assert!(summary.lines().any(|l| l.trim_start().starts_with("int8") && l.contains("ok") && l.contains("× (") && l.contains("cos ")), "{summary}");
    assert!(summary.contains("  ship: "), "{summary}");

    let q = run(d, &["-o", "quiet", "--quiet"]);
    assert!(q.status.success(), "{}", stderr(&q));
    assert_eq!(stderr(&q), "", "--quiet");
    assert!(d.join("quiet/report.md").is_file());
}
