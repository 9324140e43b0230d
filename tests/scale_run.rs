//! Shards of real runs (worker processes, ONNX Runtime, the committed tiny fixtures): `plan`, `run
//! --shard K/N` on two testbeds (the second simulated by overriding the environment manifest with
//! `SQUEEZEBENCH_ENVIRONMENT`, as docs/scale-out.md says tests may), `merge`, the side-by-side
//! report, and `gate` per testbed. tests/scale.rs covers the plan and every refusal of `merge`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use squeezebench::results::{Results, Status};

fn bin(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_squeezebench"));
    c.current_dir(dir).env_remove("SQUEEZEBENCH_ENVIRONMENT").env_remove("SQUEEZEBENCH_SHARD").env_remove("SLURM_ARRAY_TASK_ID").env_remove("JOB_COMPLETION_INDEX");
    c
}

fn ok(o: Output, what: &str) -> String {
    let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success(), "{what}: {:?}\n{out}\n{err}", o.status);
    out + &err
}

/// The latency thresholds are wide: the gate's statistics are tested elsewhere; here the runs are
/// short and the machine is shared, and what is tested is which testbed is compared with which.
fn suite(fx: &Path) -> String {
    format!(
        "name: scale\n\
         models:\n\
         \x20 bert-tiny: {{path: {fx}/bert-tiny.onnx}}\n\
         \x20 squeezebert-tiny: {{path: {fx}/squeezebert-tiny.onnx}}\n\
         variants:\n\
         \x20 fp32: {{reference: true}}\n\
         \x20 default: {{steps: [{{rewrite: default}}]}}\n\
         workloads: {{batch: [1], seq: [16], threads: [1]}}\n\
         metrics: [latency, params, fidelity]\n\
         run: {{warmup: 1, min_iterations: 5, min_time_s: 0.02, max_time_s: 0.1, time_limit_s: 120, rounds: 3}}\n\
         thresholds: {{latency_p50_increase: 20.0, latency_p99_increase: 20.0, throughput_drop: 0.95, memory_increase: 5.0}}\n",
        fx = fx.display()
    )
}

const OTHER: &str = r#"{"cpu": {"model": "Simulated Neoverse-V2", "flags": ["asimd", "asimddp", "i8mm"]}}"#;

#[test]
fn shards_on_two_testbeds_merge_report_side_by_side_and_gate_separately() {
    let dir = common::scratch("scale-run");
    let d = dir.path();
    std::fs::write(d.join("s.yaml"), suite(&common::fixtures())).unwrap();
    let plan = ok(bin(d).args(["plan", "s.yaml", "--shards", "2"]).output().unwrap(), "plan");
    assert!(plan.contains("shard   1/2     2 case(s)") && plan.contains("shard   2/2     2 case(s)"), "{plan}");
    let run = |out: &str, shard: Option<&str>, env: Option<&str>| {
        let mut c = bin(d);
        c.args(["run", "s.yaml", "--out", out, "--cache-dir", "cache", "--no-progress"]);
        if let Some(s) = shard {
            c.env("SQUEEZEBENCH_SHARD", s).args(["--shard", "auto"]);
        }
        if let Some(e) = env {
            c.env("SQUEEZEBENCH_ENVIRONMENT", e);
        }
        ok(c.output().unwrap(), out)
    };
    let said = run("a1", Some("1/2"), None);
    assert!(said.contains("shard    1/2 (from SQUEEZEBENCH_SHARD=1/2): 2 of 4 case(s)"), "{said}");
    run("a2", Some("2/2"), None);
    run("b1", Some("1/2"), Some(OTHER));
    run("b2", Some("2/2"), Some(OTHER));
    run("whole", None, None);

    let a1 = Results::load_run(&d.join("a1")).unwrap();
    let shard = a1.shard.as_ref().unwrap();
    assert_eq!((shard.shard, shard.shards, shard.cases.len()), (1, 2, 4));
    assert_eq!(a1.models.len(), 1, "a shard prepares only its models");
    assert_eq!(shard.testbed, a1.environment.testbed());

    // One testbed: the merge holds the whole run's cases, and gates against it.
    ok(bin(d).args(["merge", "a1", "a2/results.json", "-o", "merged-a"]).output().unwrap(), "merge a");
    let merged_a = Results::load_run(&d.join("merged-a")).unwrap();
    let whole = Results::load_run(&d.join("whole")).unwrap();
    let ids = |r: &Results| r.cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&merged_a), ids(&whole));
    assert!(merged_a.cases.iter().all(|c| c.status == Status::Ok));
    ok(bin(d).args(["gate", "--baseline", "whole", "--current", "merged-a"]).output().unwrap(), "gate merged vs whole");
    assert!(d.join("merged-a/report.html").is_file());

    // Two testbeds: every case once per testbed, reported side by side.
    ok(bin(d).args(["merge", "a1", "a2", "b1", "b2", "-o", "merged"]).output().unwrap(), "merge a+b");
    let merged = Results::load_run(&d.join("merged")).unwrap();
    assert_eq!(merged.testbeds.len(), 2);
    assert_eq!(merged.cases.len(), 8);
    let md = std::fs::read_to_string(d.join("merged/report.md")).unwrap();
    assert!(md.contains("### Speed-up vs reference, by testbed") && md.contains("| case | testbed 1 | testbed 2 |"), "{md}");
    assert!(md.contains("testbed 2: Simulated Neoverse-V2; asimddp i8mm;"), "{md}");
    assert!(md.contains("| `bert-tiny/default/b1-s16-t1` | "), "{md}");
    for k in 1..=2 {
        assert!(d.join(format!("merged/testbed-{k}/report.html")).is_file());
    }
    // Re-rendered by `report`, unchanged.
    ok(bin(d).args(["report", "merged", "--out", "rendered"]).output().unwrap(), "report");
    assert_eq!(std::fs::read_to_string(d.join("rendered/report.md")).unwrap(), md);

    // Gated per testbed: against itself, both pass; against testbed A alone, B has no baseline.
    let same = ok(bin(d).args(["gate", "--baseline", "merged", "--current", "merged"]).output().unwrap(), "gate a+b vs a+b");
    assert!(same.contains("[testbed 1]") && same.contains("[testbed 2]") && same.contains("PASS"), "{same}");
    let o = bin(d).args(["gate", "--baseline", "merged-a", "--current", "merged"]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("no baseline for testbed 'Simulated Neoverse-V2") && out.contains("⛔ no baseline"), "{out}");
    assert!(out.contains("[testbed 1]"), "testbed 1 is still compared: {out}");
}
