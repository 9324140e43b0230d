//! The CI regression gate: a pure comparison of a baseline and a current [`Results`] under
//! [`Thresholds`], giving one verdict per check and case. `squeezebench gate` turns the report into
//! an exit code (0 pass, 1 regression, 2 error) and a Markdown table.
//!
//! # When is a latency change a regression?
//!
//! Each run gives a median (p50) with a 95 % confidence interval `[lo, hi]`; likewise the p99. The
//! two runs are independent, so the ratio `r = current / baseline` has the 95 % interval (on the
//! log scale, where a ratio's errors add)
//!
//! ```text
//! ln r ± √(e_c² + e_b²)     e_c = ln(current / current.lo),  e_b = ln(baseline.hi / baseline)
//! ```
//!
//! for its lower end (the sides of the two intervals that face each other; the upper end uses the
//! other two). A latency check with threshold `t` (0.10 = 10 %) is a **regression** when that lower
//! end exceeds `ln(1 + t)`: the slowdown exceeds the threshold and noise cannot explain it. This is
//! how criterion judges a change (the interval of the change wholly past its noise threshold). The
//! root of the sum of squares, not the sum, is the interval of a ratio of two independent
//! estimates: comparing `current.lo / baseline.hi` instead asks both to err at once, a 99.9 %
//! statement that needs a slowdown of threshold + both half-widths before it fires. When the point
//! estimate exceeds `1 + t` but the lower end does not, the verdict is **inconclusive**: shown,
//! but it does not fail the gate (rerun, or measure longer to narrow the intervals). Symmetrically
//! a change is **improved** when the upper end is below `−ln(1 + t)`.
//!
//! A **pass** needs the upper end of the interval at or below `1 + t`: the runs show that the
//! change, whatever it is, stays within the threshold. When the point estimate is within the
//! threshold but the upper end is past it, the intervals are too wide to see a change of the
//! threshold's size, and the verdict is **cannot judge**: listed first in the summary, never
//! counted as a pass, and a failure with `--strict` (or `strict: true` in the thresholds). Each
//! interval check reports its **minimum detectable change**, `exp(h) − 1` with `h` the upper
//! half-width of the ratio's log interval: the smallest change these two runs could tell from
//! noise. A check whose detectable change exceeds its threshold cannot pass; narrow the intervals
//! with more rounds or longer runs.
//!
//! The intervals capture noise within a run; with `run.rounds` > 1 the median's interval also
//! covers the spread between the case's rounds (see `measure::stats`), which is how a run sees the
//! machine's slower drift. What drifts between runs beyond that (clock, a busy neighbour) is what
//! the threshold itself absorbs: on a shared 2-core machine medians drift by a few percent between
//! runs, hence the default 10 %. Throughput (sequences/s = batch / p50) is judged the same
//! way from the p50 interval, with its own threshold on the relative drop.
//!
//! The other checks are deterministic for a given build and need no interval:
//! - accuracy: the primary metric of each dataset may drop by at most `accuracy_drop` points
//!   against the baseline, and a non-reference variant may be at most `accuracy_drop` points below
//!   its model's reference variant in the current run (a quantized model that loses too much fails
//!   even when its baseline lost as much);
//! - fidelity: the cosine to the reference variant must be at least `fidelity_min_cosine`;
//! - size on disk and the two memory peaks (session creation, run) may grow by at most
//!   `size_increase` and `memory_increase` (relative).
//!
//! A case that is `ok` in the baseline and not in the current run is a regression. Errors (exit
//! 2), where no verdict can be given: a baseline case missing from the current run, a baseline case
//! that did not finish `ok`, different environments (CPU, cores, ONNX Runtime, build profile; see
//! [`Environment::differences`](crate::results::Environment::differences)) unless allowed.

use std::fmt::Write;

use crate::measure::stats::ratio_interval;
use crate::results::{CaseResult, Results, Status};
use crate::results::Thresholds;

/// How the gate treats things that are not measurements.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Compare results from different environments (noted in the report instead of an error).
    pub allow_env_change: bool,
    /// A check that cannot judge (intervals too wide to see its threshold) fails the gate.
    pub strict: bool,
}

/// The verdict of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// Better beyond the threshold and the intervals.
    Improved,
    /// Past the threshold by the point estimate, but within what the intervals allow: not a failure.
    Inconclusive,
    /// Within the threshold by the point estimate, but the interval reaches past it: the runs are
    /// too noisy to tell; not a pass (a failure with `strict`).
    CannotJudge,
    Regression,
    /// The current run has results for a testbed the baseline has none for: nothing to compare
    /// with, which fails the gate (a new machine is never a silent pass).
    NoBaseline,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "✅ pass",
            Verdict::Improved => "✅ improved",
            Verdict::Inconclusive => "⚠️ inconclusive",
            Verdict::CannotJudge => "❔ cannot judge",
            Verdict::Regression => "❌ regression",
            Verdict::NoBaseline => "⛔ no baseline",
        }
    }
}

/// One check of one case.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Check {
    /// The case id (`model/variant/b1-s128-t2`).
    pub case: String,
    /// `status`, `latency p50`, `latency p99`, `throughput`, `accuracy <dataset> <metric>`,
    /// `accuracy vs reference <dataset> <metric>`, `fidelity cosine`, `size on disk`,
    /// `session peak RSS`, `run peak RSS`.
    pub check: String,
    /// The values as shown (with intervals where they matter).
    pub baseline: String,
    pub current: String,
    /// The change: relative for latency, throughput, size and memory; points for accuracy.
    pub delta: String,
    /// The limit as applied.
    pub threshold: String,
    /// The smallest change the two runs can tell from noise (interval checks only), as shown.
    pub detectable: String,
    pub verdict: Verdict,
}

/// The outcome of a comparison.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Checks that cannot judge fail the gate (`--strict`).
    pub strict: bool,
    /// Things worth knowing that are not verdicts: new cases, a changed suite, an allowed
    /// environment change.
    pub notes: Vec<String>,
}

/// Why no verdict can be given.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("the current run has no result for baseline case(s) {}: compare runs of the same suite, or record a new baseline", .0.join(", "))]
    MissingCases(Vec<String>),
    #[error("baseline case '{case}' did not finish ok ({status}): record a baseline in which every case passes")]
    BaselineCaseNotOk { case: String, status: String },
    #[error("the runs come from different environments, timings are not comparable ({}); pass --allow-env-change to compare anyway", .0.join("; "))]
    Environment(Vec<String>),
    #[error("the baseline has no cases")]
    EmptyBaseline,
    #[error("{}", .0.join("; "))]
    Thresholds(Vec<String>),
    #[error("{run} case '{case}': {what}; the gate judges only finite measurements (times above 0)")]
    BadValue { run: &'static str, case: String, what: String },
}

/// What makes an ok case's measurements unjudgeable: a time that is not finite and positive (a
/// throughput derived from it would be negative or infinite), an accuracy or cosine that is NaN.
fn bad_value(c: &CaseResult) -> Option<String> {
    if let Some(l) = &c.latency {
        let times = [
            ("p50_ms", l.p50_ms),
            ("p99_ms", l.p99_ms),
            ("p50_ci_ms[0]", l.p50_ci_ms[0]),
            ("p50_ci_ms[1]", l.p50_ci_ms[1]),
            ("p99_ci_ms[0]", l.p99_ci_ms[0]),
            ("p99_ci_ms[1]", l.p99_ci_ms[1]),
        ];
        if let Some((name, v)) = times.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return Some(format!("latency {name} is {v}"));
        }
    }
    for a in &c.accuracy {
        if let Some((name, v)) = a.metrics.iter().find(|(_, v)| !v.is_finite()) {
            return Some(format!("accuracy {} {name} is {v}", a.dataset));
        }
    }
    c.fidelity.as_ref().filter(|f| !f.cosine.is_finite()).map(|f| format!("fidelity cosine is {}", f.cosine))
}

/// Shown as the current value of a check whose measurement the current run lacks.
const MISSING: &str = "— (not recorded)";

impl Report {
    /// The checks that failed.
    pub fn regressions(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.verdict == Verdict::Regression)
    }

    /// The checks whose intervals are too wide to see their threshold.
    pub(crate) fn cannot_judge(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.verdict == Verdict::CannotJudge)
    }

    pub fn failed(&self) -> bool {
        self.regressions().next().is_some() || self.checks.iter().any(|c| c.verdict == Verdict::NoBaseline) || (self.strict && self.cannot_judge().next().is_some())
    }

    /// The Markdown table (headline, one row per check, notes), for the terminal, a pull-request
    /// comment or `$GITHUB_STEP_SUMMARY`.
    pub fn render_markdown(&self) -> String {
        let n = self.regressions().count();
        let blind = self.cannot_judge().count();
        let inconclusive = self.checks.iter().filter(|c| c.verdict == Verdict::Inconclusive).count();
        let mut o = String::new();
        let head = match (n, blind) {
            (0, 0) => "PASS".to_string(),
            (0, b) if self.strict => format!("FAIL (strict): {b} check{} cannot judge", if b == 1 { "" } else { "s" }),
            (0, _) => "PASS".to_string(),
            (n, _) => format!("FAIL: {n} regression{}", if n == 1 { "" } else { "s" }),
        };
        let _ = write!(o, "## squeezebench gate: {head} in {} checks", self.checks.len());
        let mut extra = Vec::new();
        if blind > 0 {
            extra.push(format!("{blind} cannot judge"));
        }
        if inconclusive > 0 {
            extra.push(format!("{inconclusive} inconclusive"));
        }
        if !extra.is_empty() {
            let _ = write!(o, " ({})", extra.join(", "));
        }
        o.push_str("\n\n");
        for c in self.cannot_judge() {
            let _ = writeln!(
                o,
                "- ❔ `{}`: {} cannot judge: change {} with a detectable change of {}, so its 95 % interval reaches past the threshold ({}); more rounds or longer runs narrow the intervals",
                c.case, c.check, c.delta, c.detectable, c.threshold
            );
        }
        for c in self.regressions() {
            let _ = writeln!(o, "- ❌ `{}`: {} {} → {} ({})", c.case, c.check, c.baseline, c.current, c.delta);
        }
        for c in self.checks.iter().filter(|c| c.verdict == Verdict::NoBaseline) {
            let _ = writeln!(o, "- ⛔ {}: {}", c.case, c.current);
        }
        if n + blind > 0 {
            o.push('\n');
        }
        o.push_str("| case | check | baseline | current | delta | detectable | threshold | verdict |\n|:--|:--|--:|--:|--:|--:|:--|:--|\n");
        for c in &self.checks {
            let _ = writeln!(
                o,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
                c.case,
                c.check,
                c.baseline,
                c.current,
                c.delta,
                c.detectable,
                c.threshold,
                c.verdict.word()
            );
        }
        for note in &self.notes {
            let _ = writeln!(o, "\nNote: {note}");
        }
        o
    }
}

/// Compares `current` against `baseline` under `t`. When either holds several testbeds (a merge
/// of shards run on several machines), each testbed of `current` is compared with the same
/// testbed of `baseline` ([`compare_testbeds`]).
pub fn compare(baseline: &Results, current: &Results, t: &Thresholds, opts: &Options) -> Result<Report, Error> {
    if !baseline.testbeds.is_empty() || !current.testbeds.is_empty() {
        return compare_testbeds(baseline, current, t, opts);
    }
    let mut report = Report { strict: opts.strict || t.strict, ..Report::default() };
    let env = baseline.environment.differences(&current.environment);
    if !env.is_empty() {
        if !opts.allow_env_change {
            return Err(Error::Environment(env));
        }
        report.notes.push(format!("environment changed (allowed): {}", env.join("; ")));
    }
    if baseline.cases.is_empty() {
        return Err(Error::EmptyBaseline);
    }
    let problems = t.problems();
    if !problems.is_empty() {
        return Err(Error::Thresholds(problems));
    }
    for (run, r) in [("baseline", baseline), ("current", current)] {
        if let Some((c, what)) = r.cases.iter().filter(|c| c.status == Status::Ok).find_map(|c| bad_value(c).map(|w| (c, w))) {
            return Err(Error::BadValue { run, case: c.id.clone(), what });
        }
    }
    let missing: Vec<String> = baseline.cases.iter().filter(|b| current.case(&b.id).is_none()).map(|b| b.id.clone()).collect();
    if !missing.is_empty() {
        return Err(Error::MissingCases(missing));
    }
    if let Some(b) = baseline.cases.iter().find(|b| b.status != Status::Ok) {
        return Err(Error::BaselineCaseNotOk { case: b.id.clone(), status: b.status.word().into() });
    }
    if baseline.suite.hash != current.suite.hash {
        report.notes.push(format!(
            "the suite changed between the runs (spec hash {} → {}); cases are matched by id",
            short(&baseline.suite.hash),
            short(&current.suite.hash)
        ));
    }
    for b in &baseline.cases {
        let c = current.case(&b.id).expect("checked above");
        check_case(&mut report.checks, current, Some(b), c, t);
    }
    for c in current.cases.iter().filter(|c| baseline.case(&c.id).is_none()) {
        report.notes.push(format!("`{}` is new (no baseline): gated on its status, accuracy vs reference and fidelity only", c.id));
        check_case(&mut report.checks, current, None, c, t);
    }
    report.notes.extend(common_shift(baseline, current));
    Ok(report)
}

/// [`compare`] per testbed: each testbed of `current` against the same testbed of `baseline`, its
/// checks' cases marked `[testbed N]` (the notes say which key is N). A testbed the baseline
/// lacks is one failing check ([`Verdict::NoBaseline`]); a baseline testbed the current run lacks
/// is a note.
pub fn compare_testbeds(baseline: &Results, current: &Results, t: &Thresholds, opts: &Options) -> Result<Report, Error> {
    let base = baseline.by_testbed();
    let mut report = Report { strict: opts.strict || t.strict, ..Report::default() };
    for (i, (key, cur)) in current.by_testbed().into_iter().enumerate() {
        let label = format!("testbed {}", i + 1);
        report.notes.push(format!("{label}: {key}"));
        let Some((_, b)) = base.iter().find(|(k, _)| *k == key) else {
            report.checks.push(Check {
                case: label.clone(),
                check: "baseline".into(),
                baseline: "none".into(),
                current: format!("no baseline for testbed '{key}' ({} case(s) not compared)", cur.cases.len()),
                delta: "—".into(),
                threshold: "—".into(),
                detectable: "—".into(),
                verdict: Verdict::NoBaseline,
            });
            continue;
        };
        let r = compare(b, &cur, t, opts)?;
        report.checks.extend(r.checks.into_iter().map(|mut c| {
            c.case = format!("{} [{label}]", c.case);
            c
        }));
        report.notes.extend(r.notes.into_iter().map(|n| format!("{label}: {n}")));
    }
    let current_keys: Vec<String> = current.by_testbed().into_iter().map(|(k, _)| k).collect();
    for (key, _) in base.iter().filter(|(k, _)| !current_keys.contains(k)) {
        report.notes.push(format!("the baseline's testbed '{key}' has no results in the current run: not gated"));
    }
    Ok(report)
}

/// Smallest typical move (median |p50 change|) for [`common_shift`] to speak of.
pub const COMMON_SHIFT_MIN: f64 = 0.03;

/// A note when every case's p50 moved the same way (at least 3 cases, by a median of at least
/// [`COMMON_SHIFT_MIN`]): what a change of the machine (its clock, a neighbour on the host), of
/// ONNX Runtime or of the build does, and a change of one model does not. Between back-to-back
/// runs on a shared VM this is the machine: its speed moves by several percent over minutes.
pub fn common_shift(baseline: &Results, current: &Results) -> Option<String> {
    let mut ratios: Vec<f64> = baseline
        .cases
        .iter()
        .filter_map(|b| {
            let c = current.case(&b.id)?;
            let (bl, cl) = (b.latency.as_ref()?, c.latency.as_ref()?);
            (c.status == Status::Ok && bl.p50_ms > 0.0 && cl.p50_ms > 0.0).then(|| cl.p50_ms / bl.p50_ms)
        })
        .collect();
    if ratios.len() < 3 || !(ratios.iter().all(|&r| r > 1.0) || ratios.iter().all(|&r| r < 1.0)) {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let median = crate::measure::stats::percentile_sorted(&ratios, 0.5);
    if (median - 1.0).abs() < COMMON_SHIFT_MIN {
        return None;
    }
    let (lo, hi) = (ratios[0], ratios[ratios.len() - 1]);
    Some(format!(
        "every case's p50 moved the same way ({} cases, {} to {}, median {}): a change of the machine (clock, a neighbour on the host), of ONNX Runtime or of the build moves all cases alike, a change of one model does not; rerun both before reading one case's change",
        ratios.len(),
        rel(1.0, lo),
        rel(1.0, hi),
        rel(1.0, median)
    ))
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// Relative change as `+12.3 %`.
fn rel(b: f64, c: f64) -> String {
    if b == 0.0 {
        return "—".into();
    }
    let r = (c / b - 1.0) * 100.0;
    format!("{}{:.1} %", if r >= 0.0 { "+" } else { "−" }, r.abs())
}

fn pct(t: f64) -> String {
    format!("{} %", num(t * 100.0))
}

/// A threshold as written: at most 4 decimals, no trailing zeros (`1`, `0.99`, `0.4333`).
fn num(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { &s };
    if s == "-0" { "0".into() } else { s.to_string() }
}

fn ms_ci(v: f64, ci: [f64; 2]) -> String {
    use crate::util::ms;
    format!("{} ms [{}, {}]", ms(v), ms(ci[0]), ms(ci[1]))
}

/// Verdict of a "larger is worse" interval comparison (see the module): regression when the 95 %
/// interval of the ratio `c / b` ([`ratio_interval`]) lies above `1 + t`, pass when it lies at or
/// below, and otherwise inconclusive or cannot judge by the point estimate.
pub(crate) fn interval_verdict(b: f64, b_ci: [f64; 2], c: f64, c_ci: [f64; 2], t: f64) -> Verdict {
    let [lo, hi] = ratio_interval(b, b_ci, c, c_ci);
    if lo > 1.0 + t {
        Verdict::Regression
    } else if hi * (1.0 + t) < 1.0 {
        Verdict::Improved
    } else if c > b * (1.0 + t) {
        Verdict::Inconclusive
    } else if hi > 1.0 + t {
        Verdict::CannotJudge
    } else {
        Verdict::Pass
    }
}

/// The minimum detectable change of an interval comparison: `exp(h) − 1`, `h` the upper
/// half-width of the log interval of `c / b` (the smallest relative change the runs can tell from
/// noise).
pub(crate) fn detectable_change(b: f64, b_ci: [f64; 2], c: f64, c_ci: [f64; 2]) -> f64 {
    let [_, hi] = ratio_interval(b, b_ci, c, c_ci);
    hi / (c / b) - 1.0
}

/// The checks of case `c` of the current run against its baseline `b`; a case with no baseline
/// gets those that need none (status, accuracy vs the reference variant, fidelity).
fn check_case(out: &mut Vec<Check>, current: &Results, b: Option<&CaseResult>, c: &CaseResult, t: &Thresholds) {
    // `threshold` is the limit as shown and, for interval checks, the detectable change.
    let mut push = |check: &str, baseline: String, current: String, delta: String, threshold: (String, Option<f64>), verdict: Verdict| {
        let detectable = threshold.1.map_or_else(|| "—".to_string(), |d| format!("±{:.1} %", d * 100.0));
        out.push(Check { case: c.id.clone(), check: check.into(), baseline, current, delta, threshold: threshold.0, detectable, verdict });
    };
    if c.status != Status::Ok {
        let why = c.error.as_deref().map(|e| crate::util::first_line(e, 80)).unwrap_or_default();
        let was = if b.is_some() { "ok" } else { "— (new)" };
        push("status", was.into(), format!("{} ({})", c.status.word(), crate::util::markdown_cell(&why)), "—".into(), ("ok".into(), None), Verdict::Regression);
        return;
    }
    // A measurement the baseline has and the current run lacks cannot be judged: it fails,
    // rather than the gate passing on fewer checks.
    if b.is_some_and(|b| b.latency.is_some()) && c.latency.is_none() {
        for name in ["latency p50", "latency p99", "throughput"] {
            push(name, "measured".into(), MISSING.into(), "—".into(), ("must be recorded".into(), None), Verdict::Regression);
        }
    }
    if b.is_some_and(|b| b.fidelity.is_some()) && c.fidelity.is_none() {
        push("fidelity cosine", "measured".into(), MISSING.into(), "—".into(), ("must be recorded".into(), None), Verdict::Regression);
    }
    if b.is_some_and(|b| b.memory.is_some()) && c.memory.is_none() {
        push("size and memory", "measured".into(), MISSING.into(), "—".into(), ("must be recorded".into(), None), Verdict::Regression);
    }
    if let (Some(bl), Some(cl)) = (b.and_then(|b| b.latency.as_ref()), &c.latency) {
        for (name, b_v, b_ci, c_v, c_ci, limit) in [
            ("latency p50", bl.p50_ms, bl.p50_ci_ms, cl.p50_ms, cl.p50_ci_ms, t.latency_p50_increase),
            ("latency p99", bl.p99_ms, bl.p99_ci_ms, cl.p99_ms, cl.p99_ci_ms, t.latency_p99_increase),
        ] {
            push(
                name,
                ms_ci(b_v, b_ci),
                ms_ci(c_v, c_ci),
                rel(b_v, c_v),
                (format!("+{} beyond CIs", pct(limit)), Some(detectable_change(b_v, b_ci, c_v, c_ci))),
                interval_verdict(b_v, b_ci, c_v, c_ci, limit),
            );
        }
        // Throughput = batch / p50: a drop by d is a latency increase by 1/(1-d) - 1, judged on the
        // same intervals.
        let d = t.throughput_drop.clamp(0.0, 0.999);
        let tp = |ms: f64| c.workload.batch as f64 * 1000.0 / ms;
        let v = interval_verdict(bl.p50_ms, bl.p50_ci_ms, cl.p50_ms, cl.p50_ci_ms, 1.0 / (1.0 - d) - 1.0);
        push(
            "throughput",
            format!("{:.1} seq/s", tp(bl.p50_ms)),
            format!("{:.1} seq/s", tp(cl.p50_ms)),
            rel(tp(bl.p50_ms), tp(cl.p50_ms)),
            (format!("−{} beyond CIs", pct(d)), Some(detectable_change(bl.p50_ms, bl.p50_ci_ms, cl.p50_ms, cl.p50_ci_ms))),
            v,
        );
    }
    for a in b.iter().flat_map(|b| &b.accuracy) {
        let Some(bv) = a.metrics.get(&a.primary) else { continue };
        let Some(cv) = c.primary_accuracy(&a.dataset) else {
            push(&format!("accuracy {} {}", a.dataset, a.primary), format!("{bv:.2}"), MISSING.into(), "—".into(), ("must be recorded".into(), None), Verdict::Regression);
            continue;
        };
        let drop = bv - cv;
        push(
            &format!("accuracy {} {}", a.dataset, a.primary),
            format!("{bv:.2}"),
            format!("{cv:.2}"),
            format!("{} pt", crate::util::signed(-drop, 2)),
            (format!("−{} pt", num(t.accuracy_drop)), None),
            if drop > t.accuracy_drop { Verdict::Regression } else { Verdict::Pass },
        );
    }
    if !c.reference {
        if let Some(r) = current.reference_of(c) {
            for a in &c.accuracy {
                let (Some(cv), Some(rv)) = (a.metrics.get(&a.primary), r.primary_accuracy(&a.dataset)) else {
                    continue;
                };
                let drop = rv - cv;
                push(
                    &format!("accuracy vs reference {} {}", a.dataset, a.primary),
                    format!("{rv:.2} ({})", r.variant),
                    format!("{cv:.2}"),
                    format!("{} pt", crate::util::signed(-drop, 2)),
                    (format!("−{} pt", num(t.accuracy_drop)), None),
                    if drop > t.accuracy_drop { Verdict::Regression } else { Verdict::Pass },
                );
            }
        }
    }
    if let Some(cf) = &c.fidelity {
        let md = crate::util::cosine;
        let bf = b.and_then(|b| b.fidelity.as_ref());
        push(
            "fidelity cosine",
            bf.map(|f| md(f.cosine)).unwrap_or_else(|| "—".into()),
            md(cf.cosine),
            bf.map(|f| format!("{:+.2e}", cf.cosine - f.cosine)).unwrap_or_else(|| "—".into()),
            (format!("≥ {}", num(t.fidelity_min_cosine)), None),
            if cf.cosine < t.fidelity_min_cosine { Verdict::Regression } else { Verdict::Pass },
        );
    }
    if let (Some(bm), Some(cm)) = (b.and_then(|b| b.memory.as_ref()), &c.memory) {
        let bytes = crate::util::human_bytes;
        let mut grow = |name: &str, bv: u64, cv: u64, limit: f64| {
            let verdict = if bv > 0 && cv as f64 > bv as f64 * (1.0 + limit) { Verdict::Regression } else { Verdict::Pass };
            push(name, bytes(bv), bytes(cv), rel(bv as f64, cv as f64), (format!("+{}", pct(limit)), None), verdict);
        };
        grow("size on disk", bm.model_file_bytes, cm.model_file_bytes, t.size_increase);
        grow("session peak RSS", bm.session_peak_rss_bytes, cm.session_peak_rss_bytes, t.memory_increase);
        grow("run peak RSS", bm.run_peak_rss_bytes, cm.run_peak_rss_bytes, t.memory_increase);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule on hand-picked intervals: past the threshold AND beyond the intervals.
    #[test]
    fn latency_rule() {
        let b = [99.0, 101.0];
        // +15 % with tight intervals: ln 1.15 − √(ln(115/113.5)² + ln(1.01)²) = 0.1247 > ln 1.10.
        assert_eq!(interval_verdict(100.0, b, 115.0, [113.5, 116.5], 0.10), Verdict::Regression);
        // +15 % by the point estimate, but the current interval is wide: the ratio's lower end is
        // 1.069.
        assert_eq!(interval_verdict(100.0, b, 115.0, [108.0, 125.0], 0.10), Verdict::Inconclusive);
        // Errors add in quadrature: +15 % with ±3 % on both sides has a lower end of 1.15 / e^0.0424
        // = 1.102, a regression; the ends' ratio 111.55 / 103 = 1.083 would not be.
        let [lo, _] = ratio_interval(100.0, [97.0, 103.0], 115.0, [111.55, 118.45]);
        assert!((lo - 1.1025).abs() < 1e-3, "{lo}");
        assert_eq!(interval_verdict(100.0, [97.0, 103.0], 115.0, [111.55, 118.45], 0.10), Verdict::Regression);
        // +8 %, clearly real (intervals apart) but under the threshold.
        assert_eq!(interval_verdict(100.0, b, 108.0, [107.5, 108.5], 0.10), Verdict::Pass);
        // Identical runs.
        assert_eq!(interval_verdict(100.0, b, 100.0, b, 0.10), Verdict::Pass);
        // 30 % faster.
        assert_eq!(interval_verdict(100.0, b, 70.0, [69.5, 70.5], 0.10), Verdict::Improved);
        // A lower end just under the limit (a baseline interval that does not reach above its
        // median: 109.9 / 100): +12 % by the point estimate is then inconclusive.
        assert_eq!(interval_verdict(100.0, [99.0, 100.0], 112.0, [109.9, 114.0], 0.10), Verdict::Inconclusive);
    }

    /// Thresholds print as written, not as the nearest binary fraction's 16 digits.
    #[test]
    fn thresholds_print_short() {
        assert_eq!((num(1.0), num(0.99), num(0.4333333333333371), num(0.25)), ("1".into(), "0.99".into(), "0.4333".into(), "0.25".into()));
        assert_eq!((pct(0.10), pct(0.025), pct(0.0)), ("10 %".into(), "2.5 %".into(), "0 %".into()));
    }
}
