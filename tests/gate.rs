//! The regression gate on hand-built results (tests/results_sample): the verdict of every check
//! kind, the errors, the Markdown table, and `squeezebench gate` with its exit codes, `--summary`
//! and `--thresholds`.

mod results_sample;

use std::path::Path;
use std::process::Command;

use squeezebench::gate::{self, Options, Verdict};
use squeezebench::results::{CaseResult, Results, Status};
use squeezebench::results::Thresholds;

use results_sample::baseline;

fn case<'a>(r: &'a mut Results, id: &str) -> &'a mut CaseResult {
    r.cases.iter_mut().find(|c| c.id == id).unwrap()
}

/// Every latency figure of the case times `f`, as a uniformly slower build would give.
fn slow_down(c: &mut CaseResult, f: f64) {
    let l = c.latency.as_mut().unwrap();
    for v in [&mut l.mean_ms, &mut l.std_ms, &mut l.min_ms, &mut l.max_ms, &mut l.p50_ms, &mut l.p90_ms, &mut l.p95_ms, &mut l.p99_ms] {
        *v *= f;
    }
    for ci in [&mut l.p50_ci_ms, &mut l.p99_ci_ms] {
        ci[0] *= f;
        ci[1] *= f;
    }
    l.samples_ms.iter_mut().for_each(|s| *s *= f);
    l.sequences_per_s /= f;
    l.tokens_per_s /= f;
}

fn verdicts(r: &gate::Report, id: &str) -> Vec<(String, Verdict)> {
    r.checks.iter().filter(|c| c.case == id).map(|c| (c.check.clone(), c.verdict)).collect()
}

fn compare(b: &Results, c: &Results) -> gate::Report {
    gate::compare(b, c, &Thresholds::default(), &Options::default()).unwrap()
}

#[test]
fn identical_runs_pass_every_check() {
    let b = baseline();
    let r = compare(&b, &b);
    assert!(!r.failed());
    assert!(r.checks.iter().all(|c| c.verdict == Verdict::Pass), "{}", r.render_markdown());
    // status is only listed when it fails; per case: p50, p99, throughput, size, 2 × memory, plus
    // fidelity (4 variants), accuracy (2 cases) and accuracy vs reference (1 case).
    assert_eq!(r.checks.len(), 7 * 6 + 4 + 2 + 1);
}

/// A 15 % slowdown of one case fails its p50 and throughput checks and nothing else; the report
/// names the case.
#[test]
fn a_15_percent_slowdown_is_a_regression() {
    let b = baseline();
    let mut c = b.clone();
    slow_down(case(&mut c, "bert-base/int8/b1-s128-t2"), 1.15);
    let r = compare(&b, &c);
    assert!(r.failed());
    let failed: Vec<(&str, &str)> = r.regressions().map(|c| (c.case.as_str(), c.check.as_str())).collect();
    assert_eq!(failed, [("bert-base/int8/b1-s128-t2", "latency p50"), ("bert-base/int8/b1-s128-t2", "throughput")]);
    // p99 moved by 15 % too, under its 25 % threshold.
    assert!(verdicts(&r, "bert-base/int8/b1-s128-t2").contains(&("latency p99".into(), Verdict::Pass)));
    let md = r.render_markdown();
    assert!(md.starts_with("## squeezebench gate: FAIL: 2 regressions in 49 checks\n"), "{md}");
    assert!(md.contains("- ❌ `bert-base/int8/b1-s128-t2`: latency p50 77.73 ms [77.32, 78.13] → 89.38 ms [88.92, 89.85] (+15.0 %)"), "{md}");
}

/// The same slowdown measured with wide intervals (a noisy run) is inconclusive, not a failure;
/// a slowdown under the threshold passes; a speed-up is reported as improved.
#[test]
fn noise_is_not_a_regression() {
    let b = baseline();
    let id = "squeezebert-base/fp32/b1-s128-t2";
    let mut c = b.clone();
    slow_down(case(&mut c, id), 1.15);
    let l = case(&mut c, id).latency.as_mut().unwrap();
    l.p50_ci_ms = [l.p50_ms * 0.93, l.p50_ms * 1.08];
    let r = compare(&b, &c);
    assert!(!r.failed(), "{}", r.render_markdown());
    assert!(verdicts(&r, id).contains(&("latency p50".into(), Verdict::Inconclusive)));
    assert!(r.render_markdown().contains("(2 inconclusive)"), "p50 and throughput");

    let mut c = b.clone();
    slow_down(case(&mut c, id), 1.07);
    assert!(!compare(&b, &c).failed());
    let mut c = b.clone();
    slow_down(case(&mut c, id), 0.7);
    assert!(verdicts(&compare(&b, &c), id).contains(&("latency p50".into(), Verdict::Improved)));
}

/// Every case slower by 5 %: under the threshold, so no verdict fails, but the report says that all
/// cases moved together (the machine, ONNX Runtime or the build, not one model). One case moving,
/// or a shift under 3 %, gives no such note.
#[test]
fn a_shift_of_every_case_is_noted() {
    let b = baseline();
    let shifted = |f: f64| {
        let mut c = b.clone();
        c.cases.iter_mut().filter(|c| c.latency.is_some()).for_each(|c| slow_down(c, f));
        compare(&b, &c)
    };
    let r = shifted(1.05);
    assert!(!r.failed(), "{}", r.render_markdown());
    let md = r.render_markdown();
    assert!(md.contains("Note: every case's p50 moved the same way (7 cases, +5.0 % to +5.0 %, median +5.0 %)"), "{md}");
    assert!(shifted(0.95).render_markdown().contains("−5.0 % to −5.0 %"));
    assert!(!shifted(1.02).render_markdown().contains("moved the same way"));
    let mut c = b.clone();
    slow_down(case(&mut c, "bert-base/int8/b1-s128-t2"), 1.15);
    assert!(!compare(&b, &c).render_markdown().contains("moved the same way"));
}

/// An int8 variant that loses more than `accuracy_drop` points fails twice: against its own
/// baseline and against the fp32 reference of the same run. With a baseline that already lost as
/// much, it still fails against the reference.
#[test]
fn an_accuracy_drop_past_the_threshold_fails() {
    let b = baseline();
    let id = "minilm-l6/int8/b1-s128-t2";
    let mut c = b.clone();
    case(&mut c, id).accuracy[0].metrics.insert("spearman".into(), 84.9);
    let r = compare(&b, &c);
    let failed: Vec<&str> = r.regressions().map(|c| c.check.as_str()).collect();
    assert_eq!(failed, ["accuracy stsb-dev spearman", "accuracy vs reference stsb-dev spearman"]);
    let md = r.render_markdown();
    assert!(md.contains("| `minilm-l6/int8/b1-s128-t2` | accuracy vs reference stsb-dev spearman | 86.72 (fp32) | 84.90 | −1.82 pt | — | −1 pt | ❌ regression |"), "{md}");
    let r = compare(&c, &c);
    assert_eq!(r.regressions().map(|c| c.check.as_str()).collect::<Vec<_>>(), ["accuracy vs reference stsb-dev spearman"]);
    // 0.41 points below the reference (the sample's int8) is within the default 1 point.
    assert!(!compare(&b, &b).failed());
}

#[test]
fn fidelity_size_memory_and_status_checks() {
    let b = baseline();
    let id = "squeezebert-base/conv-matmul-int8/b1-s128-t2";
    let mut c = b.clone();
    {
        let x = case(&mut c, id);
        x.fidelity.as_mut().unwrap().cosine = 0.981;
        let m = x.memory.as_mut().unwrap();
        m.model_file_bytes = m.model_file_bytes * 105 / 100;
        m.run_peak_rss_bytes = m.run_peak_rss_bytes * 120 / 100;
        m.session_peak_rss_bytes = m.session_peak_rss_bytes * 105 / 100;
    }
    let r = compare(&b, &c);
    let failed: Vec<&str> = r.regressions().map(|c| c.check.as_str()).collect();
    assert_eq!(failed, ["fidelity cosine", "size on disk", "run peak RSS"]);

    let mut c = b.clone();
    let x = case(&mut c, id);
    x.status = squeezebench::results::Status::Crashed;
    x.error = Some("worker killed by signal 11 (SIGSEGV)".into());
    x.latency = None;
    let r = compare(&b, &c);
    assert_eq!(verdicts(&r, id), [("status".to_string(), Verdict::Regression)]);
    assert!(r.render_markdown().contains("| `squeezebert-base/conv-matmul-int8/b1-s128-t2` | status | ok | crashed (worker killed by signal 11 (SIGSEGV)) |"));
}

/// A case with no baseline (a variant added to the suite) is gated on what needs none: its
/// fidelity to the reference variant of the same run and its status. A new int8 variant that
/// lost its fidelity, or crashed, fails the gate.
#[test]
fn a_new_case_is_gated_on_its_own_run() {
    let b = baseline();
    let id = "bert-base/int8/b1-s128-t2";
    let mut old = b.clone();
    old.cases.retain(|c| c.id != id);
    let r = compare(&old, &b);
    assert!(!r.failed(), "{}", r.render_markdown());
    assert_eq!(verdicts(&r, id), [("fidelity cosine".to_string(), Verdict::Pass)]);

    let mut c = b.clone();
    case(&mut c, id).fidelity.as_mut().unwrap().cosine = 0.5;
    let r = compare(&old, &c);
    let failed: Vec<(&str, &str)> = r.regressions().map(|c| (c.case.as_str(), c.check.as_str())).collect();
    assert_eq!(failed, [(id, "fidelity cosine")]);

    let mut c = b.clone();
    let n = case(&mut c, id);
    n.status = Status::Crashed;
    n.error = Some("worker killed by signal 11 (SIGSEGV)".into());
    let r = compare(&old, &c);
    assert_eq!(verdicts(&r, id), [("status".to_string(), Verdict::Regression)]);
    assert!(r.render_markdown().contains(&format!("| `{id}` | status | — (new) | crashed (worker killed by signal 11 (SIGSEGV)) |")), "{}", r.render_markdown());
}

/// No verdict is possible (exit 2): a baseline case missing from the current run, a baseline
/// case that failed, another environment (unless allowed); a new case is only a note.
#[test]
fn errors_and_notes() {
    let b = baseline();
    let t = Thresholds::default();
    let mut c = b.clone();
    c.cases.remove(0);
    let e = gate::compare(&b, &c, &t, &Options::default()).unwrap_err();
    assert_eq!(e.to_string(), "the current run has no result for baseline case(s) bert-base/fp32/b1-s128-t2: compare runs of the same suite, or record a new baseline");
    // The same pair the other way round: the extra case is new, gated only on what needs no
    // baseline (an fp32 reference has nothing of that but its status).
    let r = gate::compare(&c, &b, &t, &Options::default()).unwrap();
    assert_eq!(r.notes, ["`bert-base/fp32/b1-s128-t2` is new (no baseline): gated on its status, accuracy vs reference and fidelity only"]);
    assert!(verdicts(&r, "bert-base/fp32/b1-s128-t2").is_empty());

    let full = results_sample::results();
    let e = gate::compare(&full, &full, &t, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("baseline case 'broken/fp32/b1-s128-t2' did not finish ok (crashed)"), "{e}");

    let mut c = b.clone();
    c.environment.onnxruntime_version = "1.22.0".into();
    let e = gate::compare(&b, &c, &t, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("onnxruntime_version: 1.31.1 → 1.22.0") && e.to_string().contains("--allow-env-change"), "{e}");
    let r = gate::compare(&b, &c, &t, &Options { allow_env_change: true, ..Options::default() }).unwrap();
    assert!(!r.failed() && r.notes[0].starts_with("environment changed (allowed)"));
}

fn gate_cmd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_squeezebench")).arg("gate").args(args).output().unwrap()
}

/// `squeezebench gate`: exit 0 on a pass, 1 on a regression (the case named on stdout), 2 on an
/// error; `--summary` appends the table; `--thresholds` (YAML) replaces the thresholds stored in
/// the current results.
#[test]
fn gate_command_exit_codes_summary_and_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let b = baseline();
    b.save(Path::new(&p("a.json"))).unwrap();
    let mut c = b.clone();
    slow_down(case(&mut c, "bert-base/int8/b1-s128-t2"), 1.15);
    c.save(Path::new(&p("b.json"))).unwrap();

    let o = gate_cmd(&["--baseline", &p("a.json"), "--current", &p("a.json"), "--summary", &p("summary.md")]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("## squeezebench gate: PASS in 49 checks"));

    let o = gate_cmd(&["--baseline", &p("a.json"), "--current", &p("b.json"), "--summary", &p("summary.md")]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("❌ `bert-base/int8/b1-s128-t2`: latency p50"), "{out}");
    let summary = std::fs::read_to_string(p("summary.md")).unwrap();
    assert!(summary.contains("PASS in 49 checks") && summary.contains("FAIL: 2 regressions"), "appended twice:\n{summary}");

    // A 20 % p50 threshold lets the 15 % slowdown pass.
    std::fs::write(p("t.yaml"), "latency_p50_increase: 0.2\nthroughput_drop: 0.2\n").unwrap();
    let o = gate_cmd(&["--baseline", &p("a.json"), "--current", &p("b.json"), "--thresholds", &p("t.yaml")]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));

    // Errors: an unknown threshold key, a missing file, a missing case.
    std::fs::write(p("bad.yaml"), "latency_p50: 0.2\n").unwrap();
    let o = gate_cmd(&["--baseline", &p("a.json"), "--current", &p("b.json"), "--thresholds", &p("bad.yaml")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("bad.yaml") && err.contains("latency_p50"), "{err}");
    let o = gate_cmd(&["--baseline", &p("none.json"), "--current", &p("b.json")]);
    assert_eq!(o.status.code(), Some(2));
    let mut short = c.clone();
    short.cases.pop();
    short.save(Path::new(&p("short.json"))).unwrap();
    let o = gate_cmd(&["--baseline", &p("a.json"), "--current", &p("short.json")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("minilm-l6/int8/b1-s128-t2"));

    // One rule for --baseline: an existing file or run folder is a path, anything else the name
    // of a baseline saved for the current run's suite; --current takes a run folder too.
    std::fs::create_dir_all(p("runs/b")).unwrap();
    c.save(Path::new(&p("runs/b/results.json"))).unwrap();
    std::fs::create_dir_all(p("baselines/quick")).unwrap();
    b.save(Path::new(&p("baselines/quick/main.json"))).unwrap();
    let o = gate_cmd(&["--baseline", "main", "--baselines-dir", &p("baselines"), "--current", &p("runs/b")]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let o = gate_cmd(&["--baseline", &p("runs/b"), "--current", &p("runs/b")]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let o = gate_cmd(&["--baseline", "nightly", "--baselines-dir", &p("baselines"), "--current", &p("runs/b")]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("no baseline 'nightly'") && err.contains("saved for suite 'quick': main"), "{err}");
}

/// Runs too noisy to see the threshold: no change by the point estimate, but intervals of ±15 %
/// around a 10 % threshold. Such a check is not a pass: it "cannot judge", names the change it
/// could detect, is listed first, and fails the gate only with `--strict` (or `strict: true`).
#[test]
fn intervals_too_wide_for_the_threshold_cannot_judge() {
    let b = baseline();
    let id = "bert-base/int8/b1-s128-t2";
    let mut c = b.clone();
    let l = case(&mut c, id).latency.as_mut().unwrap();
    l.p50_ci_ms = [l.p50_ms * 0.85, l.p50_ms * 1.15];
    let r = compare(&b, &c);
    assert!(verdicts(&r, id).contains(&("latency p50".into(), Verdict::CannotJudge)), "{}", r.render_markdown());
    assert!(!r.failed(), "not a failure by default: {}", r.render_markdown());
    let md = r.render_markdown();
    assert!(md.starts_with("## squeezebench gate: PASS in "), "{md}");
    assert!(md.contains("cannot judge)") || md.contains("cannot judge,"), "{md}");
    let first = md.lines().find(|l| l.starts_with("- ")).unwrap();
    assert!(first.starts_with(&format!("- ❔ `{id}`: latency p50 cannot judge: change ")) && first.contains("detectable change of ±"), "{first}");
    let p50 = r.checks.iter().find(|ch| ch.case == id && ch.check == "latency p50").unwrap();
    let d: f64 = p50.detectable.trim_start_matches('±').trim_end_matches(" %").parse().unwrap();
    assert!(d > 10.0 && d < 25.0, "detectable change {d} %: beyond the 10 % threshold");
    // The same comparison with narrow intervals passes, and shows a detectable change below it.
    let ok = compare(&b, &b);
    let p50 = ok.checks.iter().find(|ch| ch.case == id && ch.check == "latency p50").unwrap();
    assert_eq!(p50.verdict, Verdict::Pass);
    let d: f64 = p50.detectable.trim_start_matches('±').trim_end_matches(" %").parse().unwrap();
    assert!(d < 10.0, "{d}");
    // Strict: from the options or from the thresholds.
    let strict = gate::compare(&b, &c, &Thresholds::default(), &Options { strict: true, ..Options::default() }).unwrap();
    assert!(strict.failed() && strict.render_markdown().starts_with("## squeezebench gate: FAIL (strict): "), "{}", strict.render_markdown());
    let t = Thresholds { strict: true, ..Thresholds::default() };
    assert!(gate::compare(&b, &c, &t, &Options::default()).unwrap().failed());
}

/// Nonsense must not pass (issue 17 item 10): NaN, infinite or negative thresholds are refused
/// where they are read (a thresholds file, a results file, the library call); a current run
/// missing a measurement the baseline has fails that check instead of passing on fewer checks;
/// a time of 0 or less (a negative throughput) is refused.
#[test]
fn nonsense_thresholds_values_and_missing_metrics_do_not_pass() {
    let b = baseline();
    let mut c = b.clone();
    slow_down(case(&mut c, "bert-base/int8/b1-s128-t2"), 2.0);
    for (key, bad) in [("latency_p50_increase", f64::NAN), ("throughput_drop", f64::INFINITY), ("accuracy_drop", -5.0)] {
        let mut t = Thresholds::default();
        match key {
            "latency_p50_increase" => t.latency_p50_increase = bad,
            "throughput_drop" => t.throughput_drop = bad,
            _ => t.accuracy_drop = bad,
        }
        let e = gate::compare(&b, &c, &t, &Options::default()).unwrap_err().to_string();
        assert!(e.contains(&format!("thresholds: {key} must be a number, 0 or more")), "{e}");
    }

    let mut missing = b.clone();
    case(&mut missing, "bert-base/int8/b1-s128-t2").latency = None;
    let r = compare(&b, &missing);
    let v = verdicts(&r, "bert-base/int8/b1-s128-t2");
    for name in ["latency p50", "latency p99", "throughput"] {
        assert!(v.contains(&(name.to_string(), Verdict::Regression)), "{name}: {v:?}");
    }
    assert!(r.failed() && r.render_markdown().contains("— (not recorded)"));
    let mut no_acc = b.clone();
    case(&mut no_acc, "minilm-l6/int8/b1-s128-t2").accuracy.clear();
    assert!(verdicts(&compare(&b, &no_acc), "minilm-l6/int8/b1-s128-t2").contains(&("accuracy stsb-dev spearman".to_string(), Verdict::Regression)));

    for bad in [-5.0, 0.0, f64::NAN] {
        let mut neg = b.clone();
        case(&mut neg, "bert-base/int8/b1-s128-t2").latency.as_mut().unwrap().p50_ms = bad;
        let e = gate::compare(&b, &neg, &Thresholds::default(), &Options::default()).unwrap_err().to_string();
        assert!(e.contains("current case 'bert-base/int8/b1-s128-t2': latency p50_ms is"), "{e}");
    }

    // The command: a thresholds file with .nan, and results whose stored thresholds are negative.
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    b.save(Path::new(&p("a.json"))).unwrap();
    c.save(Path::new(&p("b.json"))).unwrap();
    std::fs::write(p("nan.yaml"), "latency_p50_increase: .nan\n").unwrap();
    let o = gate_cmd(&["--baseline", &p("a.json"), "--current", &p("b.json"), "--thresholds", &p("nan.yaml")]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stderr).contains("latency_p50_increase must be a number"));
    let mut stored = c.clone();
    stored.thresholds.latency_p50_increase = -5.0;
    stored.save(Path::new(&p("neg.json"))).unwrap();
    let o = gate_cmd(&["--baseline", &p("a.json"), "--current", &p("neg.json")]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("neg.json") && err.contains("latency_p50_increase must be a number, 0 or more (got -5)"), "{err}");
}
