//! The text `squeezebench profile` prints.

use std::fmt::Write;

use super::{Profile, Timing};

/// Families, then op types, then (if recorded) nodes, each with calls and ms per run, share of
/// the run and GMAC/s where counted.
pub fn render_text(p: &Profile) -> String {
    let s = &p.summary;
    let mut out = String::new();
    let threads = if p.threads == 0 { "ONNX Runtime's choice of".to_string() } else { p.threads.to_string() };
    let _ = writeln!(
        out,
        "profile    {}\nworkload   batch {} × seq {}, {threads} threads, optimization level {}, {} runs after {} warm-up",
        p.model,
        p.batch,
        p.seq,
        serde_json::to_value(p.optimization_level).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        s.runs,
        p.warmup
    );
    let between = (s.run_ms - s.kernel_ms).max(0.0);
    let _ = writeln!(
        out,
        "run        {} ms per run with the profiler on; kernels {} ms ({}), between kernels {} ms",
        ms(s.run_ms),
        ms(s.kernel_ms),
        pct(if s.run_ms > 0.0 { s.kernel_ms / s.run_ms } else { 0.0 }),
        ms(between)
    );
    if let Some((macs, rate)) = s.gemm_rate() {
        let _ = writeln!(out, "GEMM       {:.3} GMAC per run at {rate:.1} GMAC/s", macs as f64 / 1e9);
    }
    let _ = writeln!(out, "\n{:<22} {:>10} {:>8}", "family", "ms/run", "share");
    for f in &s.families {
        let _ = writeln!(out, "{:<22} {:>10} {:>8}", f.family.label(), ms(f.ms), pct(f.share));
    }
    let _ = writeln!(out, "\n{:<28} {:<20} {:>9} {:>10} {:>8} {:>9}", "op type", "family", "calls/run", "ms/run", "share", "GMAC/s");
    for o in &s.ops {
        out.push_str(&row(&o.op_type, o));
    }
    if !p.nodes.is_empty() {
        let _ = writeln!(out, "\n{:<28} {:<20} {:>9} {:>10} {:>8} {:>9}  node", "op type", "family", "calls/run", "ms/run", "share", "GMAC/s");
        for n in &p.nodes {
            let line = row(&n.op_type, n);
            let _ = writeln!(out, "{}  {}", line.trim_end(), n.node.as_deref().unwrap_or(""));
        }
    }
    out
}

fn row(name: &str, t: &Timing) -> String {
    let rate = t.gmac_per_s.map(|g| format!("{g:.1}")).unwrap_or_else(|| "—".into());
    format!("{:<28} {:<20} {:>9} {:>10} {:>8} {:>9}\n", name, t.family.label(), calls(t.calls), ms(t.ms), pct(t.share), rate)
}

fn calls(c: f64) -> String {
    if (c - c.round()).abs() < 1e-9 { format!("{c:.0}") } else { format!("{c:.2}") }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

fn pct(f: f64) -> String {
    format!("{:.1} %", f * 100.0)
}
