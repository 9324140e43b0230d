//! The Markdown report: short enough for a pull-request comment. A summary line, one table per
//! model (size, parameters, p50 with its 95 % CI, speed-up against the model's reference variant,
//! accuracy with its change against the reference, fidelity, peak memory), the failed cases with
//! the first line of their error, and a footer naming the suite and the run.

use std::fmt::Write;

use super::view::{self, Row};
use crate::results::{Results, Status};
use crate::util::{self, markdown_cell};

/// Errors are cut to this many characters in the table (the HTML report has them in full).
const ERROR_CHARS: usize = 160;

/// Renders the report. A document of several testbeds (a merge of shards run on several
/// machines) gets [`render_testbeds`].
pub fn render(results: &Results) -> String {
    if !results.testbeds.is_empty() {
        return render_testbeds(results);
    }
    let groups = view::groups(results);
    let mut out = String::new();
    let _ = writeln!(out, "## squeezebench · {}\n", markdown_cell(&results.suite.name));
    let _ = writeln!(out, "**{}.** {}.\n", view::status_counts(results), markdown_cell(&view::environment_line(results)));
    out.push_str(&ship_section(&groups, results));
    for g in &groups {
        let _ = writeln!(out, "### {}\n", markdown_cell(g.model));
        out.push_str(
            "| variant | recipe | workload | size | params | p50 (95 % CI) | speed-up (95 % CI) | accuracy (Δ vs ref) | fidelity | peak RSS |\n\
             |:--|:--|:--|--:|--:|--:|--:|:--|:--|--:|\n",
        );
        for r in &g.rows {
            out.push_str(&table_row(results, r));
        }
        out.push('\n');
    }
    if let Some(t) = view::profile_table(results) {
        out.push_str(&profile_section(&t));
    }
    out.push_str(&peak_section(&groups));
    out.push_str(&truncation_note(results));
    let failed: Vec<_> = results.cases.iter().filter(|c| c.status != Status::Ok).collect();
    if !failed.is_empty() {
        out.push_str("### Failures\n\n| case | status | error |\n|:--|:--|:--|\n");
        for c in failed {
            let e = c.error.as_deref().map(|e| util::first_line(e, ERROR_CHARS)).unwrap_or_default();
            let _ = writeln!(out, "| `{}` | {} | {} |", c.id, c.status.word(), markdown_cell(&e));
        }
        out.push('\n');
    }
    let hash = &results.suite.hash[..results.suite.hash.len().min(12)];
    let finished = match (&results.finished_at, results.interrupted) {
        (_, true) => "interrupted".to_string(),
        (Some(f), _) => format!("finished {f}"),
        (None, _) => "still running".to_string(),
    };
    let _ = writeln!(
        out,
        "<sub>suite `{}` (spec hash `{hash}`), started {}, {finished}. Speed-up = reference p50 / p50 on the same workload, with the 95 % interval of that ratio; CI = 95 % interval of the median (block bootstrap, widened by the spread between rounds).</sub>",
        results.suite.path, results.started_at
    );
    out
}

/// The report of several testbeds: the speed-up of every case against its model's reference on
/// each testbed side by side (ratios compare across machines where times do not), then each
/// testbed's own report.
pub fn render_testbeds(results: &Results) -> String {
    let splits = results.by_testbed();
    let mut out = String::new();
    let _ = writeln!(out, "## squeezebench · {} · {} testbeds\n", markdown_cell(&results.suite.name), splits.len());
    for (i, (key, _)) in splits.iter().enumerate() {
        let _ = writeln!(out, "- testbed {}: {}", i + 1, markdown_cell(key));
    }
    out.push_str("\n### Speed-up vs reference, by testbed\n\n| case |");
    for i in 1..=splits.len() {
        let _ = write!(out, " testbed {i} |");
    }
    out.push_str("\n|:--|");
    out.push_str(&"--:|".repeat(splits.len()));
    out.push('\n');
    let mut ids: Vec<&str> = Vec::new();
    for (_, r) in &splits {
        for c in &r.cases {
            if !ids.contains(&c.id.as_str()) {
                ids.push(&c.id);
            }
        }
    }
    for id in ids {
        let _ = write!(out, "| `{id}` |");
        for (_, r) in &splits {
            let speedup = r.case(id).and_then(|c| view::speedup_cell(&view::row(r, c)));
            let _ = write!(out, " {} |", speedup.unwrap_or_else(|| "—".into()));
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, (_, r)) in splits.iter().enumerate() {
        let _ = writeln!(out, "## Testbed {}\n", i + 1);
        out.push_str(&render(r));
        out.push('\n');
    }
    out
}

/// "What to ship": one line per model ([`view::ship`]).
fn ship_section(groups: &[view::ModelGroup], results: &Results) -> String {
    let mut out = format!("### What to ship\n\n{}\n\n", view::ship_rule(&results.thresholds));
    for g in groups {
        let _ = writeln!(out, "- **{}**: {}", markdown_cell(g.model), markdown_cell(&view::ship(g, &results.thresholds).describe(results)));
    }
    out.push('\n');
    out
}

/// "Where the time goes": each profiled case's run divided by op family (ONNX Runtime's profiler).
fn profile_section(t: &view::ProfileTable) -> String {
    let mut out = String::from("### Where the time goes\n\n| model | variant | workload | profiled run |");
    let mut rule = String::from("|:--|:--|:--|--:|");
    for f in &t.families {
        let _ = write!(out, " {} |", f.label());
        rule.push_str("--:|");
    }
    let _ = writeln!(out, " between kernels | GEMM GMAC/s |\n{rule}--:|--:|");
    for r in &t.rows {
        let c = r.case;
        let _ = write!(out, "| {} | {} | {} | {} ms |", markdown_cell(&c.model), markdown_cell(&c.variant), view::workload(c), util::ms(r.run_ms));
        for ms in &r.family_ms {
            let _ = write!(out, " {} |", view::percent(*ms, r.run_ms));
        }
        let rate = r.gemm_gmac_per_s.map(|g| format!("{g:.1}")).unwrap_or_else(dash);
        let _ = writeln!(out, " {} | {rate} |", view::percent(r.between_ms, r.run_ms));
    }
    out.push_str("\nShares of one run with ONNX Runtime's profiler on (which slows every kernel call); families are of the op types ONNX Runtime ran after its fusions (`squeezebench profile` lists them).\n\n");
    out
}

/// "Distance to the limit": each case's achieved GMAC/s against ONNX Runtime's attainable GEMM
/// peak of its precision (empty when no case has one).
fn peak_section(groups: &[view::ModelGroup]) -> String {
    let rows: Vec<String> = groups
        .iter()
        .flat_map(|g| &g.rows)
        .filter_map(|r| {
            let (achieved, a) = view::distance_to_peak(r.case)?;
            let c = r.case;
            Some(format!(
                "| {} | {} | {} | {achieved:.1} | {} {:.1} | {} |\n",
                markdown_cell(&c.model),
                markdown_cell(&c.variant),
                view::workload(c),
                a.precision,
                a.gmac_per_s,
                view::percent(achieved, a.gmac_per_s)
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "### Distance to the limit\n\n| model | variant | workload | achieved GMAC/s | attainable GMAC/s | % of attainable |\n|:--|:--|:--|--:|--:|--:|\n{}\nAchieved = the graph's MACs / p50. Attainable = what ONNX Runtime reaches on this machine on a 1024³ GEMM of the case's precision (fp32, or dynamic int8 for int8 variants) at the case's threads.\n\n",
        rows.concat()
    )
}

fn table_row(results: &Results, r: &Row) -> String {
    let c = r.case;
    let recipe = markdown_cell(&view::recipe(results, c));
    let name = if c.reference { format!("**{}** (ref)", markdown_cell(&c.variant)) } else { markdown_cell(&c.variant) };
    let size = c.memory.as_ref().map(|m| util::human_bytes(m.model_file_bytes)).unwrap_or_else(dash);
    let params = c.params.as_ref().map(|p| view::count(p.parameters)).unwrap_or_else(dash);
    let p50 = match (&c.latency, c.status) {
        (Some(l), Status::Ok) => {
            format!("{} ms ({}–{})", util::ms(l.p50_ms), util::ms(l.p50_ci_ms[0]), util::ms(l.p50_ci_ms[1]))
        }
        (_, Status::Ok) => dash(),
        (_, s) => format!("**{}**", s.word()),
    };
    let speedup = view::speedup_cell(r).unwrap_or_else(dash);
    let accuracy = if r.accuracy.is_empty() {
        dash()
    } else {
        r.accuracy
            .iter()
            .map(|a| {
                let delta = a.delta.map(|d| format!(" ({})", util::signed(d, 2))).unwrap_or_default();
                format!("{} {} {:.2}{delta}", markdown_cell(a.dataset), markdown_cell(a.metric), a.value)
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let fidelity = match &c.fidelity {
        Some(f) => {
            let top1 = f.top1_agreement.map(|t| format!(", top-1 {:.1} %", t * 100.0)).unwrap_or_default();
            format!("cos {}{top1}", util::cosine(f.cosine))
        }
        None => dash(),
    };
    let rss = view::peak_rss(c).map(util::human_bytes).unwrap_or_else(dash);
    format!("| {name} | {recipe} | {} | {size} | {params} | {p50} | {speedup} | {accuracy} | {fidelity} | {rss} |\n", view::workload(c))
}

/// Which accuracy texts were cut to the case's `seq` tokens (empty when none were).
fn truncation_note(results: &Results) -> String {
    let lines = view::truncations(results);
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("### Truncated texts\n\n");
    for t in lines {
        let _ = writeln!(out, "- `{}` on {}: {} text(s) cut to {} (the tokenizer's truncation)", t.case, markdown_cell(t.dataset), t.texts, t.limit);
    }
    out.push('\n');
    out
}

fn dash() -> String {
    "—".to_string()
}
