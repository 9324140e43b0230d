//! Accuracy-aware fallback: keep the nodes whose quantization hurts most in float until the
//! quantized model meets a goal (a fidelity floor against the float model, or a bound on the
//! accuracy lost on labelled data), within a time budget.
//!
//! 1. Everything planned is quantized and measured. If the goal holds, that model is the answer.
//! 2. Sensitivity: each node is kept in float alone (all others quantized) and the model measured;
//!    the gain over the fully quantized score ranks the nodes.
//! 3. The top-`k` nodes are kept in float for `k = 1, 2, 4, …` until the goal holds, then `k` is
//!    bisected down to the fewest nodes that still meet it.
//!
//! Every measurement is a real ONNX Runtime session on the check data, compared with float outputs
//! computed once ([`Reference`]). Weights are quantized and activations calibrated once
//! ([`Prepared`]); a candidate only re-emits the graph. When the budget runs out, the best model
//! measured so far is returned (the one meeting the goal with the fewest float nodes, else the one
//! with the best score), with what was tried.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::onnx::{Model, SaveOptions};

use crate::measure::compare::{Fidelity, Reference};
use super::{Error, Prepared, QuantReport, Result};

/// What the quantized model must achieve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// Every output's cosine, and the top-1 agreement of logits, at least this (0..=1).
    Fidelity(f64),
    /// Accuracy on labelled data at most this many points (percent) below the float model's.
    AccuracyDrop(f64),
}

impl Goal {
    /// Higher is better; meets the goal when at least [`Goal::bound`].
    fn score(&self, f: &Fidelity) -> Result<f64> {
        match self {
            Goal::Fidelity(_) => Ok(1.0 - f.worst_drop()),
            Goal::AccuracyDrop(_) => f
                .accuracy_drop_points()
                .map(|d| -d)
                .ok_or_else(|| Error::Verify("an accuracy goal needs labelled data (--eval with --label-column)".into())),
        }
    }

    fn bound(&self) -> f64 {
        match *self {
            Goal::Fidelity(x) => x,
            Goal::AccuracyDrop(x) => -x,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Goal::Fidelity(x) => format!("fidelity >= {x} (cosine of every output, top-1 agreement of logits)"),
            Goal::AccuracyDrop(x) => format!("accuracy drop <= {x} points"),
        }
    }
}

/// One measured candidate.
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    /// What was measured: `all quantized`, `sensitivity of NODE`, `top 4 in float`.
    pub what: String,
    pub float_nodes: usize,
    pub score: f64,
    pub meets: bool,
}

/// The result of [`search`].
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub goal: Goal,
    pub met: bool,
    /// Nodes of the returned model left in float by the search.
    pub kept_float: Vec<String>,
    pub score: f64,
    /// Nodes by how much keeping each alone in float raised the score, largest first.
    pub sensitivity: Vec<(String, f64)>,
    pub trials: Vec<Trial>,
    /// The best model keeps every planned node in float (so the goal, if it holds, holds for the
    /// float model: `met` is false).
    pub all_float: bool,
    /// The budget ran out before the search finished.
    pub out_of_time: bool,
    pub seconds: f64,
}

impl Outcome {
    pub fn render_text(&self) -> String {
        let mut s = format!(
            "search     goal {}: {} after {} measurements in {:.1} s{}\n",
            self.goal.describe(),
            match (self.met, self.all_float) {
                (true, _) => "met",
                (false, true) => "NOT met (only with every node in float: nothing quantized)",
                (false, false) => "NOT met",
            },
            self.trials.len(),
            self.seconds,
            if self.out_of_time { " (time budget spent; best model so far)" } else { "" }
        );
        s.push_str(&format!("           score {:.6}; {} node(s) kept in float", self.score, self.kept_float.len()));
        if !self.kept_float.is_empty() {
            s.push_str(&format!(": {}", self.kept_float.join(", ")));
        }
        s.push('\n');
        for (n, g) in self.sensitivity.iter().take(5) {
            s.push_str(&format!("           sensitivity {n}: {g:+.6}\n"));
        }
        s
    }
}

/// Searches for the fewest float nodes meeting `goal` (see the module docs). Candidates are written
/// into `scratch`. Returns the best model, its report and its fidelity, and the search's outcome.
pub fn search(prepared: &Prepared, reference: &Reference, goal: Goal, budget: Duration, scratch: &Path) -> Result<(Model, QuantReport, Fidelity, Outcome)> {
    let start = Instant::now();
    let candidate = scratch.join("candidate.onnx");
    let mut trials = Vec::new();
    let mut measure = |keep: &HashSet<String>, what: String| -> Result<(f64, Fidelity)> {
        let (model, _) = prepared.emit(keep)?;
        model.save(&candidate, &SaveOptions { force: true, ..SaveOptions::default() })?;
        drop(model);
        let f = reference.compare(&candidate)?;
        let score = goal.score(&f)?;
        trials.push(Trial { what, float_nodes: keep.len(), score, meets: score >= goal.bound() });
        Ok((score, f))
    };
    let mut best: (HashSet<String>, f64, Fidelity) = {
        let keep = HashSet::new();
        let (score, f) = measure(&keep, "all quantized".into())?;
        (keep, score, f)
    };
    let meets = |score: f64| score >= goal.bound();
    let better = |score: f64, n: usize, best: &(HashSet<String>, f64, Fidelity)| match (meets(score), meets(best.1)) {
        (true, true) => n < best.0.len() || (n == best.0.len() && score > best.1),
        (true, false) => true,
        (false, true) => false,
        (false, false) => score > best.1,
    };
    let mut out_of_time = false;
    let mut sensitivity: Vec<(String, f64)> = Vec::new();
    if !meets(best.1) {
        let base = best.1;
        let targets = prepared.targets();
        for name in &targets {
            if start.elapsed() >= budget {
                out_of_time = true;
                break;
            }
            let keep: HashSet<String> = [name.clone()].into();
            let (score, f) = measure(&keep, format!("sensitivity of {name}"))?;
            sensitivity.push((name.clone(), score - base));
            if better(score, 1, &best) {
                best = (keep, score, f);
            }
        }
        // Unmeasured nodes rank last, in graph order.
        let unmeasured: Vec<String> = targets.iter().filter(|n| !sensitivity.iter().any(|(m, _)| m == *n)).cloned().collect();
        sensitivity.extend(unmeasured.into_iter().map(|n| (n, f64::NEG_INFINITY)));
        sensitivity.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top = |k: usize| -> HashSet<String> { sensitivity.iter().take(k).map(|(n, _)| n.clone()).collect() };
        // Grow k until the goal holds, then bisect to the fewest nodes. (A single node that meets
        // the goal was found by the sensitivity pass already.)
        let n = sensitivity.len();
        let (mut lo, mut hi, mut k) = (2usize, None::<usize>, 2usize);
        while !meets(best.1) && k <= n {
            if start.elapsed() >= budget {
                out_of_time = true;
                break;
            }
            let keep = top(k);
            let (score, f) = measure(&keep, format!("top {k} in float"))?;
            if better(score, k, &best) {
                best = (keep, score, f);
            }
            if meets(score) {
                hi = Some(k);
                break;
            }
            lo = k + 1;
            if k == n {
                break;
            }
            k = (k * 2).min(n);
        }
        if let Some(mut h) = hi {
            while lo < h {
                if start.elapsed() >= budget {
                    out_of_time = true;
                    break;
                }
                let mid = (lo + h) / 2;
                let keep = top(mid);
                let (score, f) = measure(&keep, format!("top {mid} in float"))?;
                if better(score, mid, &best) {
                    best = (keep, score, f);
                }
                if meets(score) {
                    h = mid;
                } else {
                    lo = mid + 1;
                }
            }
        }
        sensitivity.retain(|(_, g)| g.is_finite());
    }
    let _ = std::fs::remove_file(&candidate);
    let (keep, score, fidelity) = best;
    let (model, report) = prepared.emit(&keep)?;
    let order = prepared.targets();
    let mut kept_float: Vec<String> = keep.into_iter().collect();
    kept_float.sort_by_key(|n| order.iter().position(|m| m == n));
    // A goal that holds only with every planned node in float is not met: nothing is quantized.
    let all_float = !order.is_empty() && kept_float.len() == order.len();
    let outcome = Outcome { goal, met: meets(score) && !all_float, all_float, kept_float, score, sensitivity, trials, out_of_time, seconds: start.elapsed().as_secs_f64() };
    Ok((model, report, fidelity, outcome))
}
