//! What `squeezebench run` does after the cases ran (`app::run::finish`), on a results document
//! without running anything: the reports are always written; an interrupted run is neither gated
//! nor saved; a regression against the baseline fails (exit 1) before a failed case (exit 3); a
//! baseline is saved only from a run whose every case is ok.

mod results_sample;

use squeezebench::app::run::{finish, Baseline};
use squeezebench::app::Outcome;
use squeezebench::results::store::Store;
use squeezebench::results::Status;

#[test]
fn reports_then_gate_then_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path().join("baselines"));
    let out = dir.path().join("out");
    let mut ok = results_sample::results();
    ok.cases.retain(|c| c.status == Status::Ok);

    // A clean run is reported and saved.
    let done = finish(&ok, &out, None, Some((&store, "main"))).unwrap();
    assert_eq!(done.outcome, Outcome::Ok, "{}", done.stderr);
    assert!(out.join("report.md").is_file() && out.join("report.html").is_file());
    assert!(done.stderr.contains("saved baseline 'main'"), "{}", done.stderr);
    let (path, base) = store.load(&ok.suite.name, "main").unwrap();
    let baseline = || Some(Baseline { name: "main", path: &path, results: &base });

    // Gated against itself: every check passes.
    let done = finish(&ok, &out, baseline(), None).unwrap();
    assert_eq!(done.outcome, Outcome::Ok);
    assert!(!done.stdout.is_empty() && done.stderr.contains("gated against baseline 'main'"), "{done:?}");

    // A variant that lost its fidelity fails the gate, and the gate's failure wins over a crashed
    // case; the crashed run is not saved as a baseline, which is reported, not an error.
    let mut worse = results_sample::results();
    let c = worse.cases.iter_mut().find(|c| c.fidelity.is_some()).unwrap();
    c.fidelity.as_mut().unwrap().cosine = 0.5;
    let done = finish(&worse, &out, baseline(), Some((&store, "next"))).unwrap();
    assert_eq!(done.outcome, Outcome::CheckFailed);
    assert!(done.stderr.contains("error: not saving baseline 'next'"), "{}", done.stderr);
    assert!(store.load(&ok.suite.name, "next").is_err());

    // Without a baseline, the crashed case sets the outcome.
    let crashed = results_sample::results();
    assert_eq!(finish(&crashed, &out, None, None).unwrap().outcome, Outcome::CasesFailed);

    // An interrupted run: reports, but no gate and no baseline.
    let mut stopped = ok.clone();
    stopped.interrupted = true;
    let done = finish(&stopped, &out, baseline(), Some((&store, "stopped"))).unwrap();
    assert_eq!(done.outcome, Outcome::Interrupted);
    assert!(done.stdout.is_empty() && done.stderr.contains("not gated against a baseline and not saved"), "{done:?}");
    assert!(store.load(&ok.suite.name, "stopped").is_err());
    assert_eq!(Outcome::Interrupted.exit_code(), 130);
}
