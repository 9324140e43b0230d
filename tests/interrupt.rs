//! `results.json` survives an interrupted run: the runner is killed (SIGKILL) at many moments of a
//! small real suite (before anything, while preparing, between and during cases, at random
//! offsets) and the file is then either absent or a valid results file holding exactly the cases
//! that finished, in order; Ctrl-C (SIGINT to the whole process group, as a terminal sends it, or
//! to the runner alone) stops the run with exit code 130 and keeps every finished case, with no
//! case recorded as crashed by the signal; SIGTERM and SIGHUP are handled like Ctrl-C; no worker
//! outlives its runner, even one killed with SIGKILL; an interrupted run is neither gated nor
//! stored as a baseline.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use squeezebench::results::{Results, Status};

/// 2 models × batch {1, 2} × seq {8, 16}: 8 short cases.
fn suite(dir: &Path) -> PathBuf {
    let fx = common::fixtures();
    let p = dir.join("s.yaml");
    std::fs::write(
        &p,
        format!(
            "name: interrupted\nmodels:\n  bert: {{path: {}}}\n  squeeze: {{path: {}}}\n\
             workloads: {{batch: [1, 2], seq: [8, 16], threads: [1]}}\nmetrics: [latency, params]\n\
             run: {{warmup: 1, min_iterations: 3, min_time_s: 0.1, max_time_s: 0.2, time_limit_s: 60}}\n",
            fx.join("bert-tiny.onnx").display(),
            fx.join("squeezebert-tiny.onnx").display()
        ),
    )
    .unwrap();
    p
}

const IDS: [&str; 8] = [
    "bert/original/b1-s8-t1",
    "bert/original/b1-s16-t1",
    "bert/original/b2-s8-t1",
    "bert/original/b2-s16-t1",
    "squeeze/original/b1-s8-t1",
    "squeeze/original/b1-s16-t1",
    "squeeze/original/b2-s8-t1",
    "squeeze/original/b2-s16-t1",
];

fn start(dir: &Path, out: &str) -> Child {
    start_with(dir, out, &[])
}

fn start_with(dir: &Path, out: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_squeezebench"))
        .args(["run", "s.yaml", "--out", out, "--cache-dir", "cache", "--no-progress"])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap()
}

fn signal(sig: &str, target: &str) {
    let ok = Command::new("kill").args([sig, "--", target]).status().unwrap().success();
    assert!(ok, "kill {sig} {target}");
}

/// Cases in `results.json` now, or None when there is no file (a half-written file fails here).
fn recorded(path: &Path) -> Option<Results> {
    path.exists().then(|| Results::load(path).unwrap_or_else(|e| panic!("{}: not a valid results file: {e}", path.display())))
}

/// The file holds exactly finished cases, in the suite's order, each ok.
fn check_prefix(r: &Results) {
    let ids: Vec<&str> = r.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, IDS[..ids.len()], "finished cases, in order");
    for c in &r.cases {
        assert_eq!(c.status, Status::Ok, "{}: {:?}", c.id, c.error);
        assert!(c.latency.as_ref().is_some_and(|l| l.iterations >= 3), "{} is complete", c.id);
    }
}

/// Waits (at most 60 s) until `results.json` holds at least `n` cases (`None`: until it exists).
fn wait_for(path: &Path, n: Option<usize>, child: &mut Child) {
    let t = Instant::now();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the moment to kill it");
        if let Ok(r) = Results::load(path) {
            if n.is_none_or(|n| r.cases.len() >= n) {
                return;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(60), "timed out waiting for {n:?} cases");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn results_json_is_absent_or_valid_whenever_the_runner_is_killed() {
    let dir = common::scratch("interrupt-kill");
    let d = dir.path();
    suite(d);
    // A complete run first: it fills the cache and shows the expected ids.
    let mut c = start(d, "full");
    assert!(c.wait().unwrap().success());
    let full = Results::load(&d.join("full/results.json")).unwrap();
    check_prefix(&full);
    assert_eq!(full.cases.len(), IDS.len());

    enum When {
        After(Duration),
        FileExists,
        Cases(usize),
    }
    let moments = [
        When::After(Duration::ZERO),
        When::After(Duration::from_millis(30)),
        When::After(Duration::from_millis(150)),
        When::FileExists,
        When::Cases(1),
        When::After(Duration::from_millis(700)),
        When::Cases(3),
        When::After(Duration::from_millis(1300)),
        When::Cases(6),
        When::After(Duration::from_millis(1900)),
    ];
    let mut seen = Vec::new();
    for (i, when) in moments.iter().enumerate() {
        let out = format!("kill{i}");
        let results = d.join(&out).join("results.json");
        let mut child = start(d, &out);
        match when {
            When::After(t) => std::thread::sleep(*t),
            When::FileExists => wait_for(&results, None, &mut child),
            When::Cases(n) => wait_for(&results, Some(*n), &mut child),
        }
        signal("-KILL", &child.id().to_string());
        let status = child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        match recorded(&results) {
            None => seen.push(None),
            Some(r) => {
                check_prefix(&r);
                assert!(!r.interrupted, "SIGKILL cannot be caught");
                if r.finished_at.is_some() {
                    // The last save happened; the kill may have landed while the reports were written.
                    assert_eq!(r.cases.len(), IDS.len(), "a finished run holds every case ({status:?})");
                }
                seen.push(Some(r.cases.len()));
            }
        }
    }
    // The moments covered both "no file yet" and files with finished cases.
    assert!(seen.contains(&None), "{seen:?}");
    assert!(seen.iter().any(|s| s.is_some_and(|n| n >= 1)), "{seen:?}");
}

#[test]
fn ctrl_c_stops_the_run_and_keeps_the_finished_cases() {
    let dir = common::scratch("interrupt-int");
    let d = dir.path();
    suite(d);
    // To the whole process group (a terminal's Ctrl-C reaches the workers too), then to the
    // runner alone.
    for (k, to_group) in [true, false].into_iter().enumerate() {
        let out = format!("out{k}");
        let results = d.join(&out).join("results.json");
        let mut child = start(d, &out);
        wait_for(&results, Some(2), &mut child);
        std::thread::sleep(Duration::from_millis(50 + 60 * k as u64));
        let pid = child.id().to_string();
        signal("-INT", &if to_group { format!("-{pid}") } else { pid });
        let t = Instant::now();
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(t.elapsed() < Duration::from_secs(20), "stops promptly");
        assert_eq!(o.status.code(), Some(130), "group {to_group}: {stderr}");
        let r = Results::load(&results).unwrap();
        assert!(r.interrupted && r.finished_at.is_none(), "marked interrupted");
        assert!(r.cases.len() >= 2 && r.cases.len() < IDS.len(), "{} cases", r.cases.len());
        check_prefix(&r);
        assert!(d.join(&out).join("report.md").exists(), "the reports of what finished are written");
    }
}

/// Ctrl-C during `run --baseline main --save-baseline main` exits 130: the partial run is not gated
/// (its missing cases would make that an error, exit 2, hiding the interruption) and does not
/// replace the stored baseline.
#[test]
fn an_interrupted_run_is_neither_gated_nor_saved_as_a_baseline() {
    let dir = common::scratch("interrupt-baseline");
    let d = dir.path();
    suite(d);
    let o = start_with(d, "full", &["--save-baseline", "main"]).wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let stored = d.join("baselines/interrupted/main.json");
    let before = std::fs::read(&stored).unwrap();
    let results = d.join("part/results.json");
    let mut child = start_with(d, "part", &["--baseline", "main", "--save-baseline", "main"]);
    wait_for(&results, Some(2), &mut child);
    signal("-INT", &format!("-{}", child.id()));
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("the run was interrupted: not gated against a baseline and not saved as one"), "{stderr}");
    assert!(Results::load(&results).unwrap().interrupted);
    assert_eq!(std::fs::read(&stored).unwrap(), before, "the baseline is unchanged");
}

/// SIGTERM and SIGHUP to the runner alone stop the run as Ctrl-C does (exit 130, `interrupted:
/// true`, the worker killed); after SIGKILL, which the runner cannot catch, the worker dies too
/// (parent-death signal) instead of running on re-parented to PID 1.
#[test]
fn workers_die_with_the_runner_and_sigterm_and_sighup_interrupt_the_run() {
    let dir = common::scratch("interrupt-term");
    let d = dir.path();
    one_case_suite(d, 60.0);
    for sig in ["-TERM", "-HUP", "-KILL"] {
        let out = format!("out{sig}");
        let mut child = start(d, &out);
        let worker = first_worker(&mut child);
        assert!(common::alive(worker), "{sig}: the worker runs");
        signal(sig, &child.id().to_string());
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        let t = Instant::now();
        while common::alive(worker) && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!common::alive(worker), "{sig}: worker {worker} outlived its runner");
        if sig == "-KILL" {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(o.status.signal(), Some(9));
            continue;
        }
        assert_eq!(o.status.code(), Some(130), "{sig}: {stderr}");
        let r = Results::load(&d.join(&out).join("results.json")).unwrap();
        assert!(r.interrupted && r.finished_at.is_none() && r.cases.is_empty(), "{sig}: marked interrupted, nothing finished");
    }
}

/// `s.yaml`: one case of bert-tiny that measures for `seconds`.
fn one_case_suite(dir: &Path, seconds: f64) {
    std::fs::write(
        dir.join("s.yaml"),
        format!(
            "name: long\nmodels:\n  bert: {{path: {}}}\nworkloads: {{batch: [1], seq: [8], threads: [1]}}\nmetrics: [latency]\n\
             run: {{warmup: 1, min_iterations: 3, min_time_s: {seconds}, max_time_s: {seconds}, time_limit_s: 120}}\n",
            common::fixtures().join("bert-tiny.onnx").display()
        ),
    )
    .unwrap();
}

/// The pid of the first worker of the run `child`, once it has run for a moment.
fn first_worker(child: &mut Child) -> u32 {
    let t = Instant::now();
    let worker = loop {
        if let Some(&w) = common::children(child.id()).first() {
            break w;
        }
        assert!(child.try_wait().unwrap().is_none(), "the run ended before its worker started");
        assert!(t.elapsed() < Duration::from_secs(60), "no worker started");
        std::thread::sleep(Duration::from_millis(5));
    };
    std::thread::sleep(Duration::from_millis(300));
    worker
}

/// Two runs on one output folder would share it (results.json, reports): the second is refused
/// (exit 2, naming the first's pid) and the first goes on untouched; the lock of a runner killed
/// with SIGKILL is taken over by the next run, which removes it when done.
#[test]
fn a_second_run_on_the_same_output_folder_is_refused_and_a_dead_runners_lock_is_taken_over() {
    let dir = common::scratch("interrupt-lock");
    let d = dir.path();
    one_case_suite(d, 60.0);
    let mut first = start(d, "out");
    first_worker(&mut first);
    let o = start(d, "out").wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let lock = d.join("out/.lock");
    assert!(stderr.contains(&format!("error: the output folder 'out' is in use by another run (pid {}; lock file '{}')", first.id(), Path::new("out/.lock").display())), "{stderr}");
    assert!(first.try_wait().unwrap().is_none(), "the first run goes on");
    signal("-KILL", &first.id().to_string());
    first.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&lock).unwrap(), first.id().to_string(), "a dead runner's lock file stays");
    one_case_suite(d, 0.1);
    // The killed run left its results.json (no case in it): replacing it takes --force.
    let o = start_with(d, "out", &["--force"]).wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let r = Results::load(&d.join("out/results.json")).unwrap();
    assert_eq!(r.cases.len(), 1);
    let left: Vec<String> = std::fs::read_dir(d.join("out")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with('.')).collect();
    assert!(left.is_empty(), "no lock file or scratch folder left: {left:?}");
}

/// SIGTERM while `synth` writes a model (bert-base: 438 MB) removes its temporary file and exits
/// 130: nothing is left in the output folder (hidden temporaries up to 1.1 GB used to stay).
#[test]
fn sigterm_during_synth_leaves_no_temporary_file() {
    let dir = common::scratch("interrupt-synth");
    let d = dir.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_squeezebench"))
        .args(["synth", "--arch", "bert", "-o", "out.onnx"])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let temp = d.join(format!(".out.onnx.tmp{}", child.id()));
    let t = Instant::now();
    while !temp.exists() {
        assert!(child.try_wait().unwrap().is_none(), "synth ended before it wrote");
        assert!(t.elapsed() < Duration::from_secs(120), "no temporary file appeared");
        std::thread::sleep(Duration::from_millis(1));
    }
    signal("-TERM", &child.id().to_string());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", String::from_utf8_lossy(&o.stderr));
    let left: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
}

// Why: with rounds, no case finishes before its last round, so Ctrl-C in round 3 of 8 used to
// leave a results.json with 0 cases; every finished round is now kept.
#[test]
fn ctrl_c_in_round_three_of_eight_keeps_every_case_s_first_rounds() {
    let dir = common::scratch("interrupt-rounds");
    let d = dir.path();
    let fx = common::fixtures();
    std::fs::write(
        d.join("s.yaml"),
        format!(
            "name: rounds\nmodels:\n  bert: {{path: {}}}\n  squeeze: {{path: {}}}\n\
             workloads: {{batch: [1], seq: [16], threads: [1]}}\nmetrics: [latency]\n\
             run: {{warmup: 1, min_iterations: 5, min_time_s: 0.1, max_time_s: 0.2, rounds: 8}}\n",
            fx.join("bert-tiny.onnx").display(),
            fx.join("squeezebert-tiny.onnx").display()
        ),
    )
    .unwrap();
    let mut child = start(d, "out");
    // Round 3 (0-based 2) of the last case has started: every case has finished rounds 1 and 2.
    let t = Instant::now();
    let started = |d: &Path| {
        std::fs::read_dir(d.join("out")).into_iter().flatten().flatten().any(|e| e.path().join("case-1-round-2.job.json").exists())
    };
    while !started(d) {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before round 3");
        assert!(t.elapsed() < Duration::from_secs(120), "round 3 never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    signal("-INT", &format!("-{}", child.id()));
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let r = Results::load(&d.join("out/results.json")).unwrap();
    assert!(r.interrupted);
    let ids: Vec<&str> = r.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["bert/original/b1-s16-t1", "squeeze/original/b1-s16-t1"]);
    for c in &r.cases {
        assert_eq!(c.status, Status::Interrupted, "{}: {:?}", c.id, c.error);
        let l = c.latency.as_ref().unwrap_or_else(|| panic!("{} keeps its latency", c.id));
        assert!((2..8).contains(&l.round_sizes.len()), "{}: rounds {:?}", c.id, l.round_sizes);
        assert_eq!(l.round_sizes.iter().sum::<usize>(), l.samples_ms.len());
        assert!(c.error.as_deref().is_some_and(|e| e.contains(&format!("after {} of 8 rounds", l.round_sizes.len()))), "{:?}", c.error);
    }
    let md = std::fs::read_to_string(d.join("out/report.md")).unwrap();
    assert!(md.contains("interrupted"), "{md}");
}
