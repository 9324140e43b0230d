//! The summary `run` prints at its end (stderr): per model, one aligned plain-text table of its
//! cases (variant, workload, status, p50 with its interval, speed-up against the reference,
//! accuracy, fidelity) and the ship line. The same figures as the Markdown report, from
//! [`view`], for a terminal or a CI log.

use std::fmt::Write;

use super::view;
use crate::results::{Results, Status};
use crate::util;

/// The summary of `results` (see the module documentation); ends with a newline.
pub fn summary(results: &Results) -> String {
    let mut out = format!("summary: {}\n", view::status_counts(results));
    for g in view::groups(results) {
        let mut rows = vec![["variant", "workload", "status", "p50 ms (95 % interval)", "speed-up", "accuracy", "fidelity"].map(String::from).to_vec()];
        for r in &g.rows {
            let c = r.case;
            let p50 = match (&c.latency, c.status) {
                (Some(l), Status::Ok | Status::Interrupted) => format!("{} ({}–{})", util::ms(l.p50_ms), util::ms(l.p50_ci_ms[0]), util::ms(l.p50_ci_ms[1])),
                _ => "—".into(),
            };
            let speedup = if c.reference { "reference".into() } else { view::speedup_cell(r).unwrap_or_else(|| "—".into()) };
            let accuracy: Vec<String> = r
                .accuracy
                .iter()
                .map(|a| format!("{} {:.2}{}", a.dataset, a.value, a.delta.map(|d| format!(" ({})", util::signed(d, 2))).unwrap_or_default()))
                .collect();
            let fidelity = c.fidelity.as_ref().map(|f| format!("cos {}", util::cosine(f.cosine))).unwrap_or_else(|| "—".into());
            rows.push(vec![
                c.variant.clone(),
                view::workload(c),
                c.status.word().into(),
                p50,
                speedup,
                if accuracy.is_empty() { "—".into() } else { accuracy.join("; ") },
                fidelity,
            ]);
        }
        // Columns with nothing measured in them (accuracy, fidelity) are left out.
        let keep: Vec<bool> = (0..rows[0].len()).map(|i| rows[1..].iter().any(|r| r[i] != "—")).collect();
        let rows: Vec<Vec<String>> = rows.into_iter().map(|r| r.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(c, _)| c).collect()).collect();
        let _ = writeln!(out, "\n{}", g.model);
        out.push_str(&aligned(&rows));
        let _ = writeln!(out, "  ship: {}", view::ship(&g, &results.thresholds).describe(results));
    }
    out
}

/// Rows as columns padded to their widest cell (in characters), two spaces apart, indented by two.
fn aligned(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> = (0..columns).map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r.iter().enumerate().map(|(i, c)| format!("{c}{}", " ".repeat(width[i] - c.chars().count()))).collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_with_wide_characters() {
        let rows = vec![vec!["a".to_string(), "bb".to_string()], vec!["ααα".to_string(), "c".to_string()]];
        assert_eq!(aligned(&rows), "  a    bb\n  ααα  c\n");
    }
}
