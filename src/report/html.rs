//! The HTML report: one self-contained file (inline CSS, charts inlined as SVG, no script, nothing
//! fetched) with the summary, the per-model tables of the Markdown report, the charts, every case
//! in detail (all latency statistics, memory, parameters by type, accuracy metrics, fidelity per
//! output, the variant's steps), failures with their full error, the environment manifest and the
//! gate thresholds.

use std::fmt::Write;

use super::charts::Chart;
use super::view::{self, Row};
use crate::results::{CaseResult, Results, Status};
use crate::util;

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}\
tr.failed td{background:#fdecea}figure{margin:1.2em 0}figure svg{max-width:100%;height:auto}\
details{margin:.4em 0}summary{cursor:pointer;font-weight:bold}pre{white-space:pre-wrap;background:#f7f7f7;padding:.6em}\
.muted{color:#666;font-size:.9em}";

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the report with the given charts (from [`super::charts::render_all`]).
pub fn render(results: &Results, charts: &[Chart]) -> String {
    let groups = view::groups(results);
    let mut o = String::new();
    let title = format!("squeezebench · {}", results.suite.name);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let _ = writeln!(o, "<p><strong>{}.</strong> {}.</p>", esc(&view::status_counts(results)), esc(&view::environment_line(results)));
    let _ = writeln!(o, "<h2>What to ship</h2>\n<p>{}</p>\n<ul>", esc(&view::ship_rule(&results.thresholds)));
    for g in &groups {
        let _ = writeln!(o, "<li><strong>{}</strong>: {}</li>", esc(g.model), esc(&view::ship(g, &results.thresholds).describe(results)));
    }
    o.push_str("</ul>\n");
    let _ = writeln!(
        o,
        "<p class=\"muted\">Suite <code>{}</code> (spec hash <code>{}</code>), started {}, {}. Speed-up = reference p50 / p50 on the same workload, with the 95 % interval of that ratio; CI = 95 % interval of the median (block bootstrap, widened by the spread between rounds).</p>",
        esc(&results.suite.path),
        esc(&results.suite.hash),
        esc(&results.started_at),
        match (&results.finished_at, results.interrupted) {
            (_, true) => "interrupted".to_string(),
            (Some(f), _) => format!("finished {}", esc(f)),
            (None, _) => "still running".into(),
        }
    );
    o.push_str("<h2>Summary by model</h2>\n");
    for g in &groups {
        let _ = writeln!(o, "<h3>{}</h3>", esc(g.model));
        o.push_str(
            "<table>\n<tr><th>variant</th><th>recipe</th><th>workload</th><th>status</th><th>size</th><th>params</th><th>p50 (95 % CI)</th><th>p99</th><th>throughput</th><th>speed-up (95 % CI)</th><th>accuracy (Δ vs ref)</th><th>fidelity</th><th>peak RSS</th></tr>\n",
        );
        for r in &g.rows {
            summary_row(&mut o, results, r);
        }
        o.push_str("</table>\n");
    }
    if let Some(t) = view::profile_table(results) {
        profile_section(&mut o, &t);
    }
    peak_section(&mut o, &groups);
    if !charts.is_empty() {
        o.push_str("<h2>Charts</h2>\n");
        for c in charts {
            // plotters writes a bare <svg> element; skip anything before it (an XML prolog).
            let svg = c.svg.find("<svg").map(|i| &c.svg[i..]).unwrap_or(&c.svg);
            let _ = writeln!(o, "<figure id=\"chart-{}\" aria-label=\"{}\">\n{svg}\n</figure>", esc(&c.name), esc(&c.title));
        }
    }
    let cut = view::truncations(results);
    if !cut.is_empty() {
        o.push_str("<h2>Truncated texts</h2>\n<ul>\n");
        for t in cut {
            let _ = writeln!(o, "<li><code>{}</code> on {}: {} text(s) cut to {} (the tokenizer's truncation)</li>", esc(t.case), esc(t.dataset), t.texts, esc(&t.limit));
        }
        o.push_str("</ul>\n");
    }
    let failed: Vec<&CaseResult> = results.cases.iter().filter(|c| c.status != Status::Ok).collect();
    if !failed.is_empty() {
        o.push_str("<h2>Failures</h2>\n");
        for c in failed {
            let _ = writeln!(
                o,
                "<h3>{} — {}</h3>\n<pre>{}</pre>",
                esc(&c.id),
                c.status.word(),
                esc(c.error.as_deref().unwrap_or("(no error recorded)"))
            );
        }
    }
    o.push_str("<h2>Cases in detail</h2>\n");
    for g in &groups {
        for r in &g.rows {
            details(&mut o, results, r.case);
        }
    }
    environment(&mut o, results);
    o.push_str("</body>\n</html>\n");
    o
}

/// "Where the time goes": each profiled case's run divided by op family.
fn profile_section(o: &mut String, t: &view::ProfileTable) {
    o.push_str("<h2>Where the time goes</h2>\n<table>\n<tr><th>model</th><th>variant</th><th>workload</th><th>profiled run</th>");
    for f in &t.families {
        let _ = write!(o, "<th>{}</th>", esc(f.label()));
    }
    o.push_str("<th>between kernels</th><th>GEMM GMAC/s</th></tr>\n");
    for r in &t.rows {
        let c = r.case;
        let _ = write!(o, "<tr><td>{}</td><td>{}</td><td>{}</td>", esc(&c.model), esc(&c.variant), view::workload(c));
        td_n(o, &format!("{} ms", util::ms(r.run_ms)));
        for ms in &r.family_ms {
            td_n(o, &view::percent(*ms, r.run_ms));
        }
        td_n(o, &view::percent(r.between_ms, r.run_ms));
        td_n(o, &r.gemm_gmac_per_s.map(|g| format!("{g:.1}")).unwrap_or_default());
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n<p class=\"muted\">Shares of one run with ONNX Runtime's profiler on (which slows every kernel call); families are of the op types ONNX Runtime ran after its fusions. Each case's op types are in its details below.</p>\n");
}

/// "Distance to the limit": achieved GMAC/s against the attainable GEMM peak of each case's precision.
fn peak_section(o: &mut String, groups: &[view::ModelGroup]) {
    let rows: Vec<_> = groups.iter().flat_map(|g| &g.rows).filter_map(|r| Some((r.case, view::distance_to_peak(r.case)?))).collect();
    if rows.is_empty() {
        return;
    }
    o.push_str("<h2>Distance to the limit</h2>\n<table>\n<tr><th>model</th><th>variant</th><th>workload</th><th>achieved GMAC/s</th><th>attainable GMAC/s</th><th>% of attainable</th></tr>\n");
    for (c, (achieved, a)) in rows {
        let _ = write!(o, "<tr><td>{}</td><td>{}</td><td>{}</td>", esc(&c.model), esc(&c.variant), view::workload(c));
        td_n(o, &format!("{achieved:.1}"));
        td_n(o, &format!("{} {:.1}", a.precision, a.gmac_per_s));
        td_n(o, &view::percent(achieved, a.gmac_per_s));
        o.push_str("</tr>\n");
    }
    o.push_str("</table>\n<p class=\"muted\">Achieved = the graph's MACs / p50. Attainable = what ONNX Runtime reaches on this machine on a 1024³ GEMM of the case's precision (fp32, or dynamic int8 for int8 variants) at the case's threads.</p>\n");
}

fn td_n(o: &mut String, s: &str) {
    let _ = write!(o, "<td class=\"n\">{}</td>", esc(s));
}

fn summary_row(o: &mut String, results: &Results, r: &Row) {
    let c = r.case;
    let cls = if c.status == Status::Ok { "" } else { " class=\"failed\"" };
    let name = if c.reference { format!("<strong>{}</strong> (ref)", esc(&c.variant)) } else { esc(&c.variant) };
    let _ = write!(o, "<tr{cls}><td>{name}</td><td>{}</td><td>{}</td><td>{}</td>", esc(&view::recipe(results, c)), view::workload(c), c.status.word());
    td_n(o, &c.memory.as_ref().map(|m| util::human_bytes(m.model_file_bytes)).unwrap_or_default());
    td_n(o, &c.params.as_ref().map(|p| view::count(p.parameters)).unwrap_or_default());
    let l = c.latency.as_ref().filter(|_| c.status == Status::Ok);
    td_n(o, &l.map(|l| format!("{} ms ({}–{})", util::ms(l.p50_ms), util::ms(l.p50_ci_ms[0]), util::ms(l.p50_ci_ms[1]))).unwrap_or_default());
    td_n(o, &l.map(|l| format!("{} ms", util::ms(l.p99_ms))).unwrap_or_default());
    td_n(o, &l.map(|l| format!("{:.1} seq/s", l.sequences_per_s)).unwrap_or_default());
    td_n(o, &view::speedup_cell(r).unwrap_or_default());
    let acc: Vec<String> = r
        .accuracy
        .iter()
        .map(|a| {
            let d = a.delta.map(|d| format!(" ({})", util::signed(d, 2))).unwrap_or_default();
            format!("{} {} {:.2}{d}", a.dataset, a.metric, a.value)
        })
        .collect();
    let _ = write!(o, "<td>{}</td>", esc(&acc.join("; ")));
    let fid = c.fidelity.as_ref().map(|f| format!("cos {}", util::cosine(f.cosine))).unwrap_or_default();
    let _ = write!(o, "<td>{}</td>", esc(&fid));
    td_n(o, &view::peak_rss(c).map(util::human_bytes).unwrap_or_default());
    o.push_str("</tr>\n");
}

/// A two-column table of `(name, value)` pairs.
fn kv(o: &mut String, rows: &[(&str, String)]) {
    o.push_str("<table>\n");
    for (k, v) in rows {
        let _ = writeln!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    o.push_str("</table>\n");
}

fn map_line<V: std::fmt::Display>(m: &std::collections::BTreeMap<String, V>) -> String {
    m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
}

fn details(o: &mut String, results: &Results, c: &CaseResult) {
    let _ = writeln!(o, "<details id=\"case-{}\">\n<summary>{} — {}</summary>", esc(&c.id), esc(&c.id), c.status.word());
    let mut rows = vec![
        ("model", c.model.clone()),
        ("variant", format!("{}{}", c.variant, if c.reference { " (reference)" } else { "" })),
        ("workload", format!("batch {}, sequence length {}, {} intra-op threads", c.workload.batch, c.workload.seq, c.workload.threads)),
        ("status", c.status.word().to_string()),
        ("case wall time", format!("{:.2} s", c.wall_s)),
    ];
    if let Some(v) = results.variants.iter().find(|v| v.model == c.model && v.variant == c.variant) {
        rows.push(("steps", if v.steps.is_empty() { "(none: the model as built)".into() } else { v.steps.join(" → ") }));
        if let Some(s) = &v.sha256 {
            rows.push(("variant sha256", s.clone()));
        }
        if !v.log.is_empty() {
            rows.push(("preparation log", v.log.join("\n")));
        }
    }
    if let Some(e) = &c.error {
        rows.push(("error", e.clone()));
    }
    if let Some(l) = &c.latency {
        rows.push(("runs", format!("{} timed after {} warm-up, {:.2} s measured, stopped by {}", l.iterations, l.warmup, l.measured_s, l.stop)));
        rows.push((
            "latency (ms)",
            format!(
                "p50 {} [{}, {}] · p90 {} · p95 {} · p99 {} [{}, {}] · mean {} · std {} · CV {:.2} % · min {} · max {}",
                util::ms(l.p50_ms),
                util::ms(l.p50_ci_ms[0]),
                util::ms(l.p50_ci_ms[1]),
                util::ms(l.p90_ms),
                util::ms(l.p95_ms),
                util::ms(l.p99_ms),
                util::ms(l.p99_ci_ms[0]),
                util::ms(l.p99_ci_ms[1]),
                util::ms(l.mean_ms),
                util::ms(l.std_ms),
                l.cv * 100.0,
                util::ms(l.min_ms),
                util::ms(l.max_ms)
            ),
        ));
        rows.push(("outliers (MAD z > 3.5)", l.outliers.to_string()));
        rows.push(("throughput", format!("{:.2} sequences/s, {:.0} tokens/s", l.sequences_per_s, l.tokens_per_s)));
        if let Some(f) = l.flops_per_s {
            let peak = match (l.peak_flops_per_s, l.fraction_of_peak) {
                (Some(p), Some(fr)) => format!(" ({:.1} % of an estimated peak of {:.1} G/s)", fr * 100.0, p / 1e9),
                _ => String::new(),
            };
            rows.push(("achieved", format!("{:.2} GFLOP/s{peak}", f / 1e9)));
        }
    }
    if let Some(p) = &c.profile {
        let ops = p
            .ops
            .iter()
            .map(|t| {
                let rate = t.gmac_per_s.map(|g| format!(", {g:.1} GMAC/s")).unwrap_or_default();
                format!("{} ×{}: {} ms ({:.1} %{rate})", t.op_type, t.calls, util::ms(t.ms), t.share * 100.0)
            })
            .collect::<Vec<_>>()
            .join(" · ");
        rows.push(("profile", format!("{} runs with ONNX Runtime's profiler, {} ms per run, {} ms in kernels", p.runs, util::ms(p.run_ms), util::ms(p.kernel_ms))));
        rows.push(("op types (per run)", ops));
    }
    if let Some(m) = &c.memory {
        rows.push((
            "memory",
            format!(
                "baseline RSS {} · session-creation peak {} · run peak {}",
                util::human_bytes(m.baseline_rss_bytes),
                util::human_bytes(m.session_peak_rss_bytes),
                util::human_bytes(m.run_peak_rss_bytes)
            ),
        ));
        rows.push(("file size", format!("{} ({} bytes)", util::human_bytes(m.model_file_bytes), m.model_file_bytes)));
    }
    if let Some(p) = &c.params {
        rows.push(("parameters", format!("{} ({})", crate::util::group(p.parameters), map_line(&p.parameters_by_dtype))));
        rows.push(("weight bytes", format!("{} ({})", util::human_bytes(p.weight_bytes), map_line(&p.weight_bytes_by_dtype))));
        rows.push(("parameters by op", map_line(&p.parameters_by_op)));
        rows.push(("compute", format!("{} MACs, {} FLOPs per run", view::count(p.macs), view::count(p.flops))));
    }
    for a in &c.accuracy {
        let metrics = a.metrics.iter().map(|(k, v)| format!("{k} {v:.3}")).collect::<Vec<_>>().join(" · ");
        rows.push(("accuracy", format!("{} ({}, {} examples, primary {}): {metrics}", a.dataset, a.task, a.examples, a.primary)));
    }
    if let Some(f) = &c.fidelity {
        let top1 = f.top1_agreement.map(|t| format!(", top-1 agreement {:.2} %", t * 100.0)).unwrap_or_default();
        rows.push((
            "fidelity",
            format!("vs {} on {}: cosine {}, max abs error {:.3e}{top1}", f.reference, f.inputs, util::cosine(f.cosine), f.max_abs_error),
        ));
        for out in &f.outputs {
            rows.push(("  output", format!("{}: cosine {}, max abs error {:.3e}", out.output, util::cosine(out.cosine), out.max_abs_error)));
        }
    }
    kv(o, &rows);
    o.push_str("</details>\n");
}

fn environment(o: &mut String, results: &Results) {
    let e = &results.environment;
    o.push_str("<h2>Environment</h2>\n");
    let opt = |v: Option<f64>, unit: &str, scale: f64| v.map(|v| format!("{:.1} {unit}", v / scale)).unwrap_or_else(|| "unknown".into());
    kv(
        o,
        &[
            ("CPU", format!("{} ({}, {})", e.cpu.model, e.cpu.vendor, e.cpu.arch)),
            ("cores", format!("{} logical, {} physical; {} threads available", e.cpu.logical_cores, e.cpu.physical_cores, e.available_threads)),
            ("clock", format!("{} ({})", opt(e.cpu.mhz, "MHz", 1.0), e.cpu.mhz_source.as_deref().unwrap_or("unknown"))),
            ("ISA flags", e.cpu.flags.join(" ")),
            ("peak per core (estimate)", format!("{} fp32, {} int8", opt(e.cpu.peak_fp32_flops_per_core, "GFLOP/s", 1e9), opt(e.cpu.peak_int8_ops_per_core, "Gop/s", 1e9))),
            ("memory", util::human_bytes(e.memory_bytes)),
            ("OS", format!("{}, kernel {}", e.os.name, e.os.kernel)),
            ("ONNX Runtime", format!("{} ({})", e.onnxruntime_version, e.onnxruntime_library)),
            ("squeezebench", format!("{} ({} build, git {})", e.squeezebench_version, e.build_profile, e.git_revision.as_deref().unwrap_or("unknown"))),
            ("jobs", e.jobs.to_string()),
            ("host", e.hostname.clone()),
        ],
    );
    o.push_str("<h3>Models and data</h3>\n<table>\n<tr><th>name</th><th>source</th><th>sha256</th></tr>\n");
    for m in &results.models {
        let err = m.error.as_deref().map(|e| format!(" — error: {e}")).unwrap_or_default();
        let _ = writeln!(o, "<tr><td>{}</td><td>{}{}</td><td><code>{}</code></td></tr>", esc(&m.name), esc(&m.source), esc(&err), esc(&m.sha256));
    }
    for d in &results.datasets {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{} dataset, {} examples{}</td><td><code>{}</code></td></tr>",
            esc(&d.name),
            esc(&d.kind),
            d.examples,
            d.path.as_deref().map(|p| format!(", {}", esc(p))).unwrap_or_default(),
            esc(&d.sha256)
        );
    }
    o.push_str("</table>\n<h3>Gate thresholds</h3>\n");
    let t = &results.thresholds;
    kv(
        o,
        &[
            ("latency p50 increase", format!("{:.0} %", t.latency_p50_increase * 100.0)),
            ("latency p99 increase", format!("{:.0} %", t.latency_p99_increase * 100.0)),
            ("throughput drop", format!("{:.0} %", t.throughput_drop * 100.0)),
            ("accuracy drop", format!("{} points", t.accuracy_drop)),
            ("fidelity minimum cosine", t.fidelity_min_cosine.to_string()),
            ("size increase", format!("{:.0} %", t.size_increase * 100.0)),
            ("memory increase", format!("{:.0} %", t.memory_increase * 100.0)),
        ],
    );
}
