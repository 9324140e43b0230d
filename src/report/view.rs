//! The figures every exporter shows, derived once from [`Results`]: cases grouped by model, each
//! with its reference case (same model, same workload), speed-up and accuracy deltas; and the
//! formats only the exporters use (the number formats the gate shares are in [`crate::util`], the
//! queries of one result in [`crate::results`]). Keeping the derivations here means Markdown, HTML, CSV and
//! the charts can never disagree about what "speed-up" or "Δ accuracy" means.

use crate::results::{CaseResult, Results, Status, Thresholds};

/// The cases of one model, reference variant first within each workload.
pub struct ModelGroup<'a> {
    pub model: &'a str,
    pub rows: Vec<Row<'a>>,
}

/// One case with what is derived from its reference case.
pub struct Row<'a> {
    pub case: &'a CaseResult,
    /// The reference case of the same model and workload when it finished `ok` (also set for the
    /// reference case itself).
    pub reference: Option<&'a CaseResult>,
    /// `reference p50 / this p50`: above 1 is faster than the reference.
    pub speedup: Option<f64>,
    /// The 95 % interval of the speed-up, from both medians' intervals (as the gate computes a
    /// ratio); `None` for the reference itself or without intervals.
    pub speedup_ci: Option<[f64; 2]>,
    pub accuracy: Vec<AccuracyCell<'a>>,
}

/// How a variant's speed compares with its reference, judged on the speed-up's interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    /// The whole interval is above 1.
    Faster,
    /// The interval holds 1: not shown to differ.
    Same,
    /// The whole interval is below 1.
    Slower,
}

impl Row<'_> {
    /// The speed class of a non-reference case with a speed-up interval.
    pub fn speed(&self) -> Option<Speed> {
        self.speedup_ci.map(Speed::of)
    }
}

impl Speed {
    /// The class of a speed-up interval.
    pub fn of([lo, hi]: [f64; 2]) -> Speed {
        if lo > 1.0 {
            Speed::Faster
        } else if hi < 1.0 {
            Speed::Slower
        } else {
            Speed::Same
        }
    }
}

/// The primary metric of one dataset, and its change against the reference variant.
pub struct AccuracyCell<'a> {
    pub dataset: &'a str,
    pub metric: &'a str,
    pub value: f64,
    /// `this − reference` in points (`None` for the reference itself or when the reference has no
    /// value for this dataset).
    pub delta: Option<f64>,
}

/// Builds the row of one case.
pub fn row<'a>(results: &'a Results, case: &'a CaseResult) -> Row<'a> {
    let reference = results.reference_of(case);
    let (mut speedup, mut speedup_ci) = (None, None);
    if let (Some(r), Some(c)) = (reference.and_then(|r| r.latency.as_ref()), case.latency.as_ref()) {
        if case.status == Status::Ok && c.p50_ms > 0.0 {
            speedup = Some(r.p50_ms / c.p50_ms);
            if !case.reference {
                speedup_ci = crate::measure::stats::speedup_interval(r.p50_ms, r.p50_ci_ms, c.p50_ms, c.p50_ci_ms);
            }
        }
    }
    let accuracy = case
        .accuracy
        .iter()
        .filter_map(|a| {
            let value = *a.metrics.get(&a.primary)?;
            let delta = match reference {
                Some(r) if !case.reference => r.primary_accuracy(&a.dataset).map(|rv| value - rv),
                _ => None,
            };
            Some(AccuracyCell { dataset: &a.dataset, metric: &a.primary, value, delta })
        })
        .collect();
    Row { case, reference, speedup, speedup_ci, accuracy }
}

/// Cases grouped by model in order of first appearance; within a model, by workload (in order of
/// first appearance), the reference variant first, then run order.
pub fn groups(results: &Results) -> Vec<ModelGroup<'_>> {
    let mut models: Vec<&str> = Vec::new();
    for c in &results.cases {
        if !models.contains(&c.model.as_str()) {
            models.push(&c.model);
        }
    }
    models
        .into_iter()
        .map(|model| {
            let mut cases: Vec<&CaseResult> = results.cases.iter().filter(|c| c.model == model).collect();
            let mut workloads = Vec::new();
            for c in &cases {
                if !workloads.contains(&&c.workload) {
                    workloads.push(&c.workload);
                }
            }
            cases.sort_by_key(|c| (workloads.iter().position(|w| *w == &c.workload), !c.reference));
            ModelGroup { model, rows: cases.into_iter().map(|c| row(results, c)).collect() }
        })
        .collect()
}

/// Counts of cases by status, as `9 cases: 8 ok, 1 failed`.
pub(crate) fn status_counts(results: &Results) -> String {
    let n = results.cases.len();
    let count = |s: Status| results.cases.iter().filter(|c| c.status == s).count();
    let mut parts = vec![format!("{} ok", count(Status::Ok))];
    for (s, name) in [(Status::Failed, "failed"), (Status::Crashed, "crashed"), (Status::Timeout, "timed out"), (Status::Interrupted, "interrupted")] {
        let k = count(s);
        if k > 0 {
            parts.push(format!("{k} {name}"));
        }
    }
    let mut s = format!("{n} case{}: {}", if n == 1 { "" } else { "s" }, parts.join(", "));
    if results.interrupted {
        s.push_str(" (run interrupted)");
    }
    s
}

/// What to ship for one model: the fastest variant, on the model's first workload (where accuracy
/// and fidelity are measured), that finished, is faster than the reference beyond the speed-up's
/// interval, and keeps the suite's fidelity and accuracy thresholds; and why each other variant
/// was not chosen.
pub struct Ship<'a> {
    pub model: &'a str,
    /// The reference row on that workload (`None`: no reference case finished).
    pub reference: Option<&'a Row<'a>>,
    pub pick: Option<&'a Row<'a>>,
    /// Variants not chosen, with the reason, in table order.
    pub passed_over: Vec<(&'a str, String)>,
}

/// The ship rule for one model (see [`Ship`]).
pub fn ship<'a>(g: &'a ModelGroup<'a>, t: &Thresholds) -> Ship<'a> {
    let first = g.rows.first().map(|r| &r.case.workload);
    let rows: Vec<&Row> = g.rows.iter().filter(|r| Some(&r.case.workload) == first).collect();
    let reference = rows.iter().copied().find(|r| r.case.reference && r.case.status == Status::Ok);
    let mut passed_over = Vec::new();
    let mut candidates: Vec<&Row> = Vec::new();
    for r in rows.iter().copied().filter(|r| !r.case.reference) {
        match why_not(r, t) {
            Some(why) => passed_over.push((r.case.variant.as_str(), why)),
            None => candidates.push(r),
        }
    }
    let pick = candidates.iter().copied().max_by(|a, b| a.speedup.partial_cmp(&b.speedup).unwrap_or(std::cmp::Ordering::Equal));
    for r in candidates.into_iter().filter(|r| pick.is_some_and(|p| !std::ptr::eq(*r, p))) {
        passed_over.push((r.case.variant.as_str(), format!("{} is faster", pick.map_or("", |p| p.case.variant.as_str()))));
    }
    Ship { model: g.model, reference, pick, passed_over }
}

/// The rule [`ship`] applies, in words.
pub(crate) fn ship_rule(t: &Thresholds) -> String {
    format!(
        "The fastest variant per model that is faster than its reference beyond the 95 % interval of the speed-up, with a fidelity cosine of at least {} and accuracy within {} pt of the reference (the suite's thresholds), on the model's first workload.",
        t.fidelity_min_cosine, t.accuracy_drop
    )
}

impl Ship<'_> {
    /// The ship line after the model's name: the variant, its recipe, speed-up with interval,
    /// size, accuracy change and fidelity; then the variants not chosen and why.
    pub fn describe(&self, results: &Results) -> String {
        let mut l = match (self.reference, self.pick) {
            (None, _) => "no reference case finished: nothing to compare with".to_string(),
            (Some(re), None) => format!("keep {}: no variant qualifies", re.case.variant),
            (Some(re), Some(p)) => {
                let mut l = format!(
                    "{} ({}): {:.2}× faster than {} ({}) at {}",
                    p.case.variant,
                    recipe(results, p.case),
                    p.speedup.unwrap_or(1.0),
                    re.case.variant,
                    p.speedup_ci.map(range).unwrap_or_default(),
                    workload(p.case)
                );
                if let (Some(a), Some(b)) = (p.case.memory.as_ref(), re.case.memory.as_ref()) {
                    l.push_str(&format!(", size {} ({:.2}× the reference)", crate::util::human_bytes(a.model_file_bytes), a.model_file_bytes as f64 / b.model_file_bytes.max(1) as f64));
                }
                for a in &p.accuracy {
                    if let Some(d) = a.delta {
                        l.push_str(&format!(", {} {} {} pt", a.dataset, a.metric, crate::util::signed(d, 2)));
                    }
                }
                if let Some(f) = &p.case.fidelity {
                    l.push_str(&format!(", fidelity cosine {:.5}", f.cosine));
                }
                l
            }
        };
        if !self.passed_over.is_empty() {
            let others: Vec<String> = self.passed_over.iter().map(|(v, why)| format!("{v}: {why}")).collect();
            l.push_str(&format!(". Not chosen: {}", others.join("; ")));
        }
        l.push('.');
        l
    }
}

/// The speed-up cell: `2.47× (2.44–2.50)`, followed by `≈ ref` when the interval holds 1 and by
/// `slower` when it lies below 1; `None` without a speed-up.
pub(crate) fn speedup_cell(r: &Row) -> Option<String> {
    let s = r.speedup?;
    Some(match (r.speedup_ci, r.speed()) {
        (Some(ci), Some(speed)) => {
            let mark = match speed {
                Speed::Faster => "",
                Speed::Same => " ≈ ref",
                Speed::Slower => " slower",
            };
            format!("{s:.2}× ({}){mark}", range(ci).trim_end_matches('×'))
        }
        _ => format!("{s:.2}×"),
    })
}

/// Why a non-reference row cannot be shipped, or `None` when it can.
fn why_not(r: &Row, t: &Thresholds) -> Option<String> {
    let c = r.case;
    if c.status != Status::Ok {
        return Some(format!("did not finish ({})", c.status.word()));
    }
    if let Some(f) = &c.fidelity {
        if f.cosine < t.fidelity_min_cosine {
            return Some(format!("fidelity cosine {:.5} is below {}", f.cosine, t.fidelity_min_cosine));
        }
    }
    for a in &r.accuracy {
        if let Some(d) = a.delta.filter(|d| -d > t.accuracy_drop) {
            return Some(format!("{} {} {} pt, more than the {} pt allowed", a.dataset, a.metric, crate::util::signed(d, 2), t.accuracy_drop));
        }
    }
    let (Some(s), Some(ci)) = (r.speedup, r.speedup_ci) else {
        return Some("no latency to compare".into());
    };
    match r.speed() {
        Some(Speed::Faster) => None,
        Some(Speed::Slower) => Some(format!("slower than the reference ({s:.2}×, {})", range(ci))),
        _ => Some(format!("not faster beyond its interval ({s:.2}×, {})", range(ci))),
    }
}

/// `1.84–2.10×`.
pub fn range(ci: [f64; 2]) -> String {
    format!("{:.2}–{:.2}×", ci[0], ci[1])
}

/// The steps of a case's variant as written in the suite (`—` for none), joined by ` → `.
pub fn recipe(results: &Results, c: &CaseResult) -> String {
    let steps = results.variants.iter().find(|v| v.model == c.model && v.variant == c.variant).map(|v| v.steps.join(" → "));
    match steps {
        Some(s) if !s.is_empty() => s,
        _ => "—".into(),
    }
}

/// One line naming the machine, what ran and the build: `AMD EPYC 9R14 (avx512_vnni), 2 threads
/// available, 1 thread per case, ONNX Runtime 1.31.1, squeezebench 0.1.0 (a1b2c3d), release build`.
pub(crate) fn environment_line(results: &Results) -> String {
    let e = &results.environment;
    let vnni = ["amx_int8", "avx512_vnni", "avx_vnni", "i8mm"].into_iter().find(|f| e.cpu.has(f));
    let cpu = match vnni {
        Some(f) => format!("{} ({f})", e.cpu.model),
        None => e.cpu.model.clone(),
    };
    let rev = e.git_revision.as_deref().map(|r| format!(" ({})", &r[..r.len().min(7)])).unwrap_or_default();
    let mut threads: Vec<usize> = results.cases.iter().map(|c| c.workload.threads).collect();
    threads.sort_unstable();
    threads.dedup();
    let per_case = match threads.as_slice() {
        [] => String::new(),
        [0] => ", ONNX Runtime's choice of threads per case".to_string(),
        [1] => ", 1 thread per case".to_string(),
        [t] => format!(", {t} threads per case"),
        ts => format!(", {} threads per case", ts.iter().map(|t| t.to_string()).collect::<Vec<_>>().join("/")),
    };
    format!(
        "{cpu}, {} threads available{per_case}, ONNX Runtime {}, squeezebench {}{rev}, {} build",
        e.available_threads, e.onnxruntime_version, e.squeezebench_version, e.build_profile
    )
}

/// `b1 s128 t2`.
pub fn workload(c: &CaseResult) -> String {
    format!("b{} s{} t{}", c.workload.batch, c.workload.seq, c.workload.threads)
}

/// Accuracy texts of one case and dataset cut to the case's `seq` tokens.
pub struct Truncation<'a> {
    pub case: &'a str,
    pub dataset: &'a str,
    /// How many texts were cut.
    pub texts: usize,
    /// `128 tokens`, or `the case's seq` when the limit was not recorded.
    pub limit: String,
}

/// Every case and dataset whose texts were cut to the case's `seq` (empty when none were).
pub(crate) fn truncations(results: &Results) -> Vec<Truncation<'_>> {
    let mut out = Vec::new();
    for c in &results.cases {
        for a in c.accuracy.iter().filter(|a| a.truncated > 0) {
            let limit = a.max_tokens.map(|t| format!("{t} tokens")).unwrap_or_else(|| "the case's seq".into());
            out.push(Truncation { case: &c.id, dataset: &a.dataset, texts: a.truncated, limit });
        }
    }
    out
}

/// A count with an SI suffix: `109.5 M`, `4.39 k`, `512`.
pub fn count(n: u64) -> String {
    let v = n as f64;
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        n.to_string()
    }
}

/// Peak resident memory of a case: the larger of the session-creation and run peaks.
pub(crate) fn peak_rss(c: &CaseResult) -> Option<u64> {
    c.memory.as_ref().map(|m| m.session_peak_rss_bytes.max(m.run_peak_rss_bytes))
}

/// One case's profile as the reports show it: time per family, as a share of the profiled run.
pub struct ProfileRow<'a> {
    pub case: &'a CaseResult,
    /// The profiled run (profiler on), ms.
    pub run_ms: f64,
    /// ms per run of each family of [`ProfileTable::families`], in that order (0 when absent).
    pub family_ms: Vec<f64>,
    /// `run_ms` minus the kernels' time.
    pub between_ms: f64,
    /// GMAC/s of the GEMM-like and attention kernels.
    pub gemm_gmac_per_s: Option<f64>,
}

/// The profiled cases, in the order of [`groups`], with the families any of them has.
pub struct ProfileTable<'a> {
    pub families: Vec<crate::profile::Family>,
    pub rows: Vec<ProfileRow<'a>>,
}

/// The profile table; `None` when no case was profiled.
pub(crate) fn profile_table(results: &Results) -> Option<ProfileTable<'_>> {
    let cases: Vec<&CaseResult> = groups(results).into_iter().flat_map(|g| g.rows.into_iter().map(|r| r.case)).filter(|c| c.profile.is_some()).collect();
    if cases.is_empty() {
        return None;
    }
    let families: Vec<crate::profile::Family> = crate::profile::Family::ALL
        .into_iter()
        .filter(|f| cases.iter().any(|c| c.profile.as_ref().is_some_and(|p| p.families.iter().any(|t| t.family == *f))))
        .collect();
    let rows = cases
        .into_iter()
        .filter_map(|case| {
            let p = case.profile.as_ref()?;
            let family_ms = families.iter().map(|f| p.families.iter().filter(|t| t.family == *f).map(|t| t.ms).sum()).collect();
            Some(ProfileRow { case, run_ms: p.run_ms, family_ms, between_ms: (p.run_ms - p.kernel_ms).max(0.0), gemm_gmac_per_s: p.gemm_rate().map(|r| r.1) })
        })
        .collect();
    Some(ProfileTable { families, rows })
}

/// A share as `41.2 %`; `—` for none (no time, or no whole).
pub fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 && part > 0.0 { format!("{:.1} %", 100.0 * part / whole) } else { "—".into() }
}

/// Achieved GMAC/s of a case's whole run at the median, and its share of the attainable peak of its
/// precision, when both are known: `(achieved, attainable)`.
pub(crate) fn distance_to_peak(c: &CaseResult) -> Option<(f64, &crate::results::Attainable)> {
    let l = c.latency.as_ref().filter(|_| c.status == Status::Ok)?;
    Some((l.flops_per_s? / 2.0 / 1e9, l.attainable.as_ref()?))
}
