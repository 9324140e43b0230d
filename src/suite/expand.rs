//! A plan's cases: models × their variants × batch × seq × threads, in that nesting order (so the
//! variants of one model at one workload run close together in time), each list in the order the
//! suite file writes it (the spec's maps keep file order). Accuracy and fidelity do not
//! depend on the workload, so they are measured once per model × variant, in its first case.

use serde::{Deserialize, Serialize};

use super::spec::Metric;
use super::Plan;
use crate::results::{CaseResult, Workload};

/// One unit of work for a worker process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub model: String,
    pub variant: String,
    pub reference: bool,
    pub workload: Workload,
    /// The reference variant to compare outputs with (None for the reference itself, or when the
    /// model has none, or fidelity is not measured in this case).
    pub fidelity_against: Option<String>,
    /// Datasets to score accuracy on in this case.
    pub accuracy: Vec<String>,
}

/// Expands `plan` into its cases.
pub fn expand(plan: &Plan) -> Vec<Case> {
    let mut cases = Vec::new();
    for model in &plan.models {
        let reference = plan.reference_for(&model.name).map(|v| v.name.clone());
        for variant in plan.variants.iter().filter(|v| v.models.contains(&model.name)) {
            let mut first = true;
            for &batch in &plan.batch {
                for &seq in &plan.seq {
                    for &threads in &plan.threads {
                        let workload = Workload { batch, seq, threads };
                        let fidelity_against = reference
                            .clone()
                            .filter(|r| first && *r != variant.name && plan.measures(Metric::Fidelity));
                        let accuracy =
                            if first && plan.measures(Metric::Accuracy) { model.accuracy.clone() } else { Vec::new() };
                        cases.push(Case {
                            id: CaseResult::make_id(&model.name, &variant.name, &workload),
                            model: model.name.clone(),
                            variant: variant.name.clone(),
                            reference: variant.reference,
                            workload,
                            fidelity_against,
                            accuracy,
                        });
                        first = false;
                    }
                }
            }
        }
    }
    cases
}

/// One line per case, for `run --dry-run`.
pub fn render(plan: &Plan, cases: &[Case]) -> String {
    let mut s = format!("suite {} ({}): {} case(s)\n", plan.name, plan.path.display(), cases.len());
    for m in &plan.models {
        s.push_str(&format!("model    {:<20} {}\n", m.name, m.source));
    }
    for v in &plan.variants {
        let steps: Vec<String> = v.steps.iter().map(ToString::to_string).collect();
        s.push_str(&format!(
            "variant  {:<20} {}{}  [models: {}]\n",
            v.name,
            if steps.is_empty() { "(as is)".to_string() } else { steps.join(" → ") },
            if v.reference { "  (reference)" } else { "" },
            v.models.join(", ")
        ));
    }
    let metrics: Vec<String> = plan.metrics.iter().map(|m| format!("{m:?}").to_lowercase()).collect();
    s.push_str(&format!("metrics  {}\n", metrics.join(", ")));
    for c in cases {
        let mut extra = Vec::new();
        if !c.accuracy.is_empty() {
            extra.push(format!("accuracy on {}", c.accuracy.join(", ")));
        }
        if let Some(r) = &c.fidelity_against {
            extra.push(format!("fidelity vs {r}"));
        }
        s.push_str(&format!(
            "case     {}{}\n",
            c.id,
            if extra.is_empty() { String::new() } else { format!("  ({})", extra.join("; ")) }
        ));
    }
    s
}
