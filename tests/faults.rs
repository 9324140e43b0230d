//! Faults inside a suite are recorded and the suite goes on (exit code 3), with real ONNX Runtime
//! workers and no test hook: models that pass squeezebench's loader and structural check but that
//! ONNX Runtime refuses when it creates the session, or fails on when it runs; a worker killed from
//! outside in the middle of its case (as the out-of-memory killer does); a case far slower than its
//! time limit. The SIGABRT crash hook and the slow-case timeout of tests/suite.rs cover the rest.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use squeezebench::onnx::builder::{Attr, Axis, GraphBuilder};
use squeezebench::onnx::{check, DataType, Model, SaveOptions};
use squeezebench::results::{Results, Status};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_squeezebench"))
}

/// input_ids [batch, seq] → float → `tail` → logits. Saved to `path` after the structural check
/// found nothing wrong with it.
fn model(path: &Path, tail: impl FnOnce(&mut GraphBuilder, &str) -> String) {
    let mut g = GraphBuilder::new("fault");
    g.input("input_ids", DataType::Int64, &[Axis::Named("batch"), Axis::Named("seq")]);
    let x = g.node("Cast", &["input_ids"], &[("to", Attr::Int(1))]);
    let y = tail(&mut g, &x);
    g.node_to("Identity", &[&y], &[], "logits");
    g.output("logits", DataType::Float, &[Axis::Named("a"), Axis::Named("b")]);
    let m = g.finish(17, "faults", "");
    m.save(path, &SaveOptions::default()).unwrap();
    let back = Model::load(path).unwrap();
    assert!(check::check(&back).is_empty(), "{:?}", check::check(&back));
}

#[test]
fn models_onnx_runtime_refuses_or_fails_on_are_recorded_and_the_suite_goes_on() {
    let dir = common::scratch("faults-ort");
    let d = dir.path();
    // Session creation fails: Transpose's perm names an axis the rank-2 input does not have.
    model(&d.join("bad-perm.onnx"), |g, x| g.node("Transpose", &[x], &[("perm", Attr::Ints(vec![1, 5]))]));
    // The run fails: 1 × 8 token ids cannot be reshaped to 3 rows.
    model(&d.join("bad-reshape.onnx"), |g, x| {
        let shape = g.const_i64(&[3, -1]);
        g.node("Reshape", &[x, &shape], &[])
    });
    std::fs::write(
        d.join("s.yaml"),
        format!(
            "models:\n  a-bad-perm: {{path: bad-perm.onnx}}\n  b-bad-reshape: {{path: bad-reshape.onnx}}\n  c-good: {{path: {}}}\n\
             workloads: {{batch: [1], seq: [8], threads: [1]}}\n\
             run: {{warmup: 1, min_iterations: 3, min_time_s: 0.05, max_time_s: 0.2, time_limit_s: 60}}\n",
            common::fixtures().join("bert-tiny.onnx").display()
        ),
    )
    .unwrap();
    let o = bin().args(["run", "s.yaml", "--out", "out", "--cache-dir", "cache", "--no-progress"]).current_dir(d).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    let r = Results::load(&d.join("out/results.json")).unwrap();
    assert!(r.finished_at.is_some());
    let by: BTreeMap<&str, (Status, &str)> = r.cases.iter().map(|c| (c.model.as_str(), (c.status, c.error.as_deref().unwrap_or("")))).collect();
    assert_eq!(by["a-bad-perm"].0, Status::Failed, "{:?}", by["a-bad-perm"]);
    assert!(by["a-bad-perm"].1.contains("perm"), "ONNX Runtime's reason: {:?}", by["a-bad-perm"]);
    assert_eq!(by["b-bad-reshape"].0, Status::Failed, "{:?}", by["b-bad-reshape"]);
    assert!(by["b-bad-reshape"].1.contains("Reshape"), "ONNX Runtime's reason: {:?}", by["b-bad-reshape"]);
    assert_eq!(by["c-good"].0, Status::Ok, "{:?}", by["c-good"]);
}

#[test]
fn a_worker_killed_mid_case_is_recorded_as_crashed_and_the_suite_goes_on() {
    let dir = common::scratch("faults-kill");
    let d = dir.path();
    std::fs::write(
        d.join("s.yaml"),
        format!(
            "models:\n  bert: {{path: {}}}\nworkloads: {{batch: [1, 2], seq: [8], threads: [1]}}\nmetrics: [latency]\n\
             run: {{warmup: 1, min_iterations: 3, min_time_s: 1, max_time_s: 1, time_limit_s: 60}}\n",
            common::fixtures().join("bert-tiny.onnx").display()
        ),
    )
    .unwrap();
    let child = bin()
        .args(["run", "s.yaml", "--out", "out", "--cache-dir", "cache", "--no-progress"])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first worker, once it is measuring: SIGKILL, as the out-of-memory killer sends it.
    let t = Instant::now();
    let worker = loop {
        if let Some(&w) = common::children(child.id()).first() {
            break w;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no worker started");
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_millis(400));
    assert!(Command::new("kill").args(["-KILL", &worker.to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    let r = Results::load(&d.join("out/results.json")).unwrap();
    assert_eq!(r.cases.len(), 2);
    assert_eq!(r.cases[0].status, Status::Crashed);
    assert!(r.cases[0].error.as_deref().unwrap().contains("killed by signal 9 SIGKILL (out of memory?)"), "{:?}", r.cases[0].error);
    assert_eq!(r.cases[1].status, Status::Ok, "the next case runs: {:?}", r.cases[1].error);
}

#[test]
fn a_case_that_cannot_finish_one_iteration_in_its_time_limit_is_killed() {
    // The time limit is far below what loading the model and one run take, so the worker is killed
    // in the middle of ONNX Runtime's work, not between iterations.
    let dir = common::scratch("faults-hang");
    let d = dir.path();
    std::fs::write(
        d.join("s.yaml"),
        "models:\n  bert: {synth: {arch: bert, set: {num_hidden_layers: 2}}}\n\
         workloads: {batch: [8], seq: [256, 512], threads: [1]}\nmetrics: [latency]\n\
         run: {warmup: 1, min_iterations: 3, min_time_s: 0.05, max_time_s: 0.2, time_limit_s: 0.05}\n",
    )
    .unwrap();
    let o = bin().args(["run", "s.yaml", "--out", "out", "--cache-dir", "cache", "--no-progress"]).current_dir(d).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    let r = Results::load(&d.join("out/results.json")).unwrap();
    assert_eq!(r.cases.len(), 2);
    for c in &r.cases {
        assert_eq!(c.status, Status::Timeout, "{}: {:?}", c.id, c.error);
        assert!(c.error.as_deref().unwrap().starts_with("killed at the time limit of 0.05 s"), "{:?}", c.error);
        assert!(c.wall_s < 5.0, "killed promptly: {} s", c.wall_s);
    }
}

/// A suite's `rewrite`/`quantize` steps apply the structural check the CLI verbs apply: a model
/// `rewrite` refuses (here an unknown op) is not built and cached into a variant; the variant's
/// record and its cases carry the check's message and the suite goes on.
#[test]
fn variant_steps_refuse_models_the_structural_check_refuses() {
    let dir = common::scratch("faults-check");
    let d = dir.path();
    let mut g = GraphBuilder::new("unsound");
    g.input("input_ids", DataType::Int64, &[Axis::Named("batch"), Axis::Named("seq")]);
    let x = g.node("Cast", &["input_ids"], &[("to", Attr::Int(1))]);
    let y = g.node("FrobnicateV2", &[&x], &[]);
    g.node_to("Identity", &[&y], &[], "logits");
    g.output("logits", DataType::Float, &[Axis::Named("a"), Axis::Named("b")]);
    g.finish(17, "faults", "").save(d.join("bad.onnx"), &SaveOptions::default()).unwrap();
    std::fs::write(
        d.join("s.yaml"),
        "models:\n  bad: {path: bad.onnx}\nvariants:\n  original: {reference: true}\n  opt: {steps: [{rewrite: default}]}\n  int8: {steps: [{quantize: {mode: dynamic}}]}\n\
         workloads: {batch: [1], seq: [8], threads: [1]}\nmetrics: [params]\n",
    )
    .unwrap();
    let o = bin().args(["run", "s.yaml", "--out", "out", "--cache-dir", "cache", "--no-progress"]).current_dir(d).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{stderr}");
    let r = Results::load(&d.join("out/results.json")).unwrap();
    for v in r.variants.iter().filter(|v| v.variant != "original") {
        let e = v.error.as_deref().unwrap_or_default();
        assert!(e.contains("structural problem(s)") && e.contains("'FrobnicateV2' is not an operator of the default ONNX domain"), "{}: {e}", v.variant);
        assert!(v.path.is_none(), "{}: nothing built", v.variant);
    }
    let built = if d.join("cache").exists() { common::files_with_suffix(&d.join("cache"), ".onnx") } else { Vec::new() };
    assert!(built.is_empty(), "no variant cached: {built:?}");
    for c in r.cases.iter().filter(|c| c.variant != "original") {
        assert_eq!(c.status, Status::Failed, "{}", c.id);
    }
}

/// `quantize` checks its output against the float model in ONNX Runtime; when that check cannot
/// run (ONNX Runtime refuses the float model), the exit is 2 and the unchecked output is removed
/// (it used to stay and block the rerun without --force).
#[test]
fn quantize_removes_its_output_when_the_check_cannot_run() {
    let dir = common::scratch("faults-quantize");
    let d = dir.path();
    model(&d.join("bad-perm.onnx"), |g, x| g.node("Transpose", &[x], &[("perm", Attr::Ints(vec![1, 5]))]));
    for extra in [&[][..], &["--external", "external"][..]] {
        let o = bin().args(["quantize", "bad-perm.onnx", "-o", "q.onnx"]).args(extra).current_dir(d).output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("perm"), "ONNX Runtime's reason: {stderr}");
        let mut left: Vec<String> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, ["bad-perm.onnx"], "{extra:?}: no output, external data or temporary file left");
    }
}

/// A small tmpfs mounted at a fresh folder, unmounted when dropped; `None` where this process
/// may not mount (not root, or no CAP_SYS_ADMIN in a container).
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn new(bytes: usize) -> Option<SmallDisk> {
        let dir = common::scratch("faults-full-disk");
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"]).arg(dir.path()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(dir))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

// Why: a full disk in the middle of a run must give an error naming the file, stop every worker
// and leave no scratch folder or lock behind (issue: ENOSPC during `run` left `.work/`).
#[test]
fn a_full_disk_during_a_run_is_a_clear_error_and_leaves_no_scratch_files() {
    let Some(disk) = SmallDisk::new(48 * 1024) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let dir = common::scratch("faults-enospc");
    let d = dir.path();
    let fx = common::fixtures();
    std::fs::write(
        d.join("s.yaml"),
        format!(
            "name: full\nmodels:\n  bert: {{path: {}}}\n  squeeze: {{path: {}}}\nworkloads: {{batch: [1, 2], seq: [8, 16], threads: [1]}}\n\
             metrics: [latency]\nrun: {{warmup: 1, min_iterations: 5, min_time_s: 0.05, max_time_s: 0.1, rounds: 4}}\n",
            fx.join("bert-tiny.onnx").display(),
            fx.join("squeezebert-tiny.onnx").display()
        ),
    )
    .unwrap();
    // Fill the small disk to a few KiB short of full: the run starts, then cannot write.
    let out = disk.0.path().join("out");
    let filler = disk.0.path().join("filler");
    std::fs::write(&filler, vec![0u8; 32 * 1024]).unwrap();
    let o = bin().args(["run", "s.yaml", "--cache-dir", "cache", "--no-progress", "-o"]).arg(&out).current_dir(d).output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("No space left on device"), "{e}");
    assert_eq!(e.matches("No space left on device").count(), 1, "the cause once: {e}");
    let left: Vec<String> = std::fs::read_dir(&out).map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with('.')).collect()).unwrap_or_default();
    assert!(left.is_empty(), "no scratch folder or lock left: {left:?}");
    if let Ok(text) = std::fs::read_to_string(out.join("results.json")) {
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "results.json is whole or absent");
    }
    assert!(common::children(std::process::id()).is_empty());
}
