//! The figures every exporter shows, derived once from [`Results`]: cases grouped by model, each
//! with its reference case (same model, same workload), speed-up and accuracy deltas; and the
//! number formats the exporters share. Keeping the derivations here means Markdown, HTML, CSV and
//! the charts can never disagree about what "speed-up" or "Δ accuracy" means.

use crate::results::{CaseResult, Results, Status};

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
    pub accuracy: Vec<AccuracyCell<'a>>,
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

/// The reference case of `case`'s model and workload that finished `ok`.
pub fn reference_of<'a>(results: &'a Results, case: &CaseResult) -> Option<&'a CaseResult> {
    results
        .cases
        .iter()
        .find(|c| c.reference && c.model == case.model && c.workload == case.workload && c.status == Status::Ok)
}

/// The primary accuracy value of `case` on `dataset`.
pub fn primary_accuracy(case: &CaseResult, dataset: &str) -> Option<f64> {
    let a = case.accuracy.iter().find(|a| a.dataset == dataset)?;
    a.metrics.get(&a.primary).copied()
}

/// Builds the row of one case.
pub fn row<'a>(results: &'a Results, case: &'a CaseResult) -> Row<'a> {
    let reference = reference_of(results, case);
    let speedup = match (reference.and_then(|r| r.latency.as_ref()), case.latency.as_ref()) {
        (Some(r), Some(c)) if case.status == Status::Ok && c.p50_ms > 0.0 => Some(r.p50_ms / c.p50_ms),
        _ => None,
    };
    let accuracy = case
        .accuracy
        .iter()
        .filter_map(|a| {
            let value = *a.metrics.get(&a.primary)?;
            let delta = match reference {
                Some(r) if !case.reference => primary_accuracy(r, &a.dataset).map(|rv| value - rv),
                _ => None,
            };
            Some(AccuracyCell { dataset: &a.dataset, metric: &a.primary, value, delta })
        })
        .collect();
    Row { case, reference, speedup, accuracy }
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
pub fn status_counts(results: &Results) -> String {
    let n = results.cases.len();
    let count = |s: Status| results.cases.iter().filter(|c| c.status == s).count();
    let mut parts = vec![format!("{} ok", count(Status::Ok))];
    for (s, name) in [(Status::Failed, "failed"), (Status::Crashed, "crashed"), (Status::Timeout, "timed out")] {
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

/// The non-reference case with the largest speed-up over its reference.
pub fn best_speedup<'a>(groups: &'a [ModelGroup<'a>]) -> Option<&'a Row<'a>> {
    groups
        .iter()
        .flat_map(|g| &g.rows)
        .filter(|r| !r.case.reference && r.speedup.is_some())
        .max_by(|a, b| a.speedup.partial_cmp(&b.speedup).unwrap_or(std::cmp::Ordering::Equal))
}

/// One line naming the machine and build: `AMD EPYC 9R14 (avx512_vnni), 2 threads, ONNX Runtime
/// 1.31.1, squeezebench 0.1.0 (a1b2c3d), release build`.
pub fn environment_line(results: &Results) -> String {
    let e = &results.environment;
    let vnni = ["amx_int8", "avx512_vnni", "avx_vnni", "i8mm"].into_iter().find(|f| e.cpu.has(f));
    let cpu = match vnni {
        Some(f) => format!("{} ({f})", e.cpu.model),
        None => e.cpu.model.clone(),
    };
    let rev = e.git_revision.as_deref().map(|r| format!(" ({})", &r[..r.len().min(7)])).unwrap_or_default();
    format!(
        "{cpu}, {} threads, ONNX Runtime {}, squeezebench {}{rev}, {} build",
        e.available_threads, e.onnxruntime_version, e.squeezebench_version, e.build_profile
    )
}

/// `b1 s128 t2`.
pub fn workload(c: &CaseResult) -> String {
    format!("b{} s{} t{}", c.workload.batch, c.workload.seq, c.workload.threads)
}

/// The status word of a case.
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Failed => "failed",
        Status::Crashed => "crashed",
        Status::Timeout => "timeout",
    }
}

/// Milliseconds with about four significant digits: `41.20`, `3.112`, `0.2874`, `123.4`.
pub fn ms(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
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

/// Bytes in binary units (`417.7 MiB`).
pub fn bytes(n: u64) -> String {
    crate::util::human_bytes(n)
}

/// A signed difference with a real minus sign: `+0.12`, `−1.40`.
pub fn signed(v: f64, decimals: usize) -> String {
    let s = format!("{:.*}", decimals, v.abs());
    if v < 0.0 && s.chars().any(|c| c.is_ascii_digit() && c != '0') {
        format!("−{s}")
    } else {
        format!("+{s}")
    }
}

/// Peak resident memory of a case: the larger of the session-creation and run peaks.
pub fn peak_rss(c: &CaseResult) -> Option<u64> {
    c.memory.as_ref().map(|m| m.session_peak_rss_bytes.max(m.run_peak_rss_bytes))
}

/// The first line of an error, cut to `max` characters (for tables); the full text goes in details.
pub fn short_error(e: &str, max: usize) -> String {
    let line = e.lines().next().unwrap_or("").trim();
    if line.chars().count() > max {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        line.to_string()
    }
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
pub fn profile_table(results: &Results) -> Option<ProfileTable<'_>> {
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
pub fn distance_to_peak(c: &CaseResult) -> Option<(f64, &crate::results::Attainable)> {
    let l = c.latency.as_ref().filter(|_| c.status == Status::Ok)?;
    Some((l.flops_per_s? / 2.0 / 1e9, l.attainable.as_ref()?))
}
