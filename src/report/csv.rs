//! The CSV export: one row per case, one value per cell, units in the column names, for
//! spreadsheets and pandas. Accuracy gets one column per dataset (its primary metric, and the
//! change against the reference variant), so every row has the same columns. Empty cells are
//! values that were not measured.

use super::view;
use crate::results::Results;

const FIXED: &[&str] = &[
    "id", "model", "variant", "reference", "batch", "seq", "threads", "status", "error", "p50_ms", "p50_ci_low_ms",
    "p50_ci_high_ms", "p90_ms", "p95_ms", "p99_ms", "p99_ci_low_ms", "p99_ci_high_ms", "mean_ms", "std_ms", "cv",
    "min_ms", "max_ms", "iterations", "outliers", "sequences_per_s", "tokens_per_s", "flops_per_s", "fraction_of_peak",
    "speedup_vs_reference", "parameters", "weight_bytes", "macs", "model_file_bytes", "session_peak_rss_bytes",
    "run_peak_rss_bytes", "fidelity_cosine", "fidelity_max_abs_error", "fidelity_top1_agreement",
];

/// Renders the CSV (RFC 4180 quoting, `\n` line ends).
pub fn render(results: &Results) -> String {
    // (dataset, primary metric) pairs in order of first appearance.
    let mut datasets: Vec<(&str, &str)> = Vec::new();
    for a in results.cases.iter().flat_map(|c| &c.accuracy) {
        if !datasets.iter().any(|(d, _)| *d == a.dataset) {
            datasets.push((&a.dataset, &a.primary));
        }
    }
    let mut w = ::csv::WriterBuilder::new().terminator(::csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let mut header: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    for (d, m) in &datasets {
        header.push(format!("{d}_{m}"));
        header.push(format!("{d}_{m}_delta"));
    }
    w.write_record(&header).expect("write to memory");
    for g in view::groups(results) {
        for r in &g.rows {
            let c = r.case;
            let opt = |v: Option<String>| v.unwrap_or_default();
            let l = c.latency.as_ref();
            let lat = |f: fn(&crate::results::Latency) -> f64| opt(l.map(|l| f(l).to_string()));
            let p = c.params.as_ref();
            let m = c.memory.as_ref();
            let fi = c.fidelity.as_ref();
            let mut rec: Vec<String> = vec![
                c.id.clone(),
                c.model.clone(),
                c.variant.clone(),
                c.reference.to_string(),
                c.workload.batch.to_string(),
                c.workload.seq.to_string(),
                c.workload.threads.to_string(),
                c.status.word().to_string(),
                c.error.clone().unwrap_or_default(),
                lat(|l| l.p50_ms),
                lat(|l| l.p50_ci_ms[0]),
                lat(|l| l.p50_ci_ms[1]),
                lat(|l| l.p90_ms),
                lat(|l| l.p95_ms),
                lat(|l| l.p99_ms),
                lat(|l| l.p99_ci_ms[0]),
                lat(|l| l.p99_ci_ms[1]),
                lat(|l| l.mean_ms),
                lat(|l| l.std_ms),
                lat(|l| l.cv),
                lat(|l| l.min_ms),
                lat(|l| l.max_ms),
                opt(l.map(|l| l.iterations.to_string())),
                opt(l.map(|l| l.outliers.to_string())),
                lat(|l| l.sequences_per_s),
                lat(|l| l.tokens_per_s),
                opt(l.and_then(|l| l.flops_per_s).map(|v| v.to_string())),
                opt(l.and_then(|l| l.fraction_of_peak).map(|v| v.to_string())),
                opt(r.speedup.map(|s| format!("{s:.4}"))),
                opt(p.map(|p| p.parameters.to_string())),
                opt(p.map(|p| p.weight_bytes.to_string())),
                opt(p.map(|p| p.macs.to_string())),
                opt(m.map(|m| m.model_file_bytes.to_string())),
                opt(m.map(|m| m.session_peak_rss_bytes.to_string())),
                opt(m.map(|m| m.run_peak_rss_bytes.to_string())),
                opt(fi.map(|f| f.cosine.to_string())),
                opt(fi.map(|f| f.max_abs_error.to_string())),
                opt(fi.and_then(|f| f.top1_agreement).map(|t| t.to_string())),
            ];
            for (d, _) in &datasets {
                let cellv = r.accuracy.iter().find(|a| a.dataset == *d);
                rec.push(opt(cellv.map(|a| a.value.to_string())));
                rec.push(opt(cellv.and_then(|a| a.delta).map(|d| format!("{d:.4}"))));
            }
            w.write_record(&rec).expect("write to memory");
        }
    }
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("csv of UTF-8 strings is UTF-8")
}
