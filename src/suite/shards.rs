//! Case identity and shards: every case of a suite gets a content id, and a plan assigns the cases
//! to N shards that existing engines (Slurm arrays, Kubernetes Indexed Jobs, CI matrices) run on
//! as many machines; `results::shard::merge` checks and joins what they wrote.
//!
//! - **Content ids** ([`case_key`]): SHA-256 (pinned: the algorithm's name is in every plan) of
//!   canonical JSON holding the model's name and content, the variant's name and steps, the
//!   workload and what the case measures. A model's content is its file's bytes (hashed), the
//!   recipe of a synthesized model (architecture, config keys, head, seed: the bytes follow from
//!   them, so a plan of `suites/quick.yaml` never builds BERT-base), or the pinned PyPI requirement
//!   it comes from. The names are in the id so that two names for one file stay two cases.
//! - **Suite hash**: over the sorted content ids, the run settings, the metrics and the thresholds.
//! - **Assignment**: a model's cases stay on one shard (every ratio to its reference variant is
//!   measured on one machine). Models are placed by greedy longest-processing-time: the most
//!   expensive first, each on the least loaded shard, ties broken by model name and then by the
//!   lower shard, so every machine computes the same plan from the same inputs.
//! - **Expected cost** of a case, in seconds: its wall time in an earlier `results.json` when one
//!   is given and holds it, else [`estimate_s`] (MACs × iterations at a nominal speed, with the
//!   run's time floors and a per-round overhead). Missing costs make a plan less balanced, never
//!   different between machines.

use std::collections::BTreeMap;

use super::validate::FileRef;
use super::{Case, Error, Plan, PlanModel, Source};
use crate::results::{PlannedCase, Results, ShardPlan, PLAN_ALGORITHM};

/// Multiply-accumulates per second assumed by [`estimate_s`] (a nominal figure for one CPU
/// thread on int8 or float32: only the ratio between cases matters for balancing).
pub(crate) const NOMINAL_MACS_PER_S: f64 = 10e9;

/// Seconds a case costs per round beyond its timed runs (worker start, session creation).
pub(crate) const ROUND_OVERHEAD_S: f64 = 0.5;

/// The most shards a plan may have.
pub(crate) const MAX_SHARDS: usize = 10_000;

/// The content of each model of `plan`, by name (see the module doc). Reads the files of models
/// given by path.
pub(crate) fn model_identities(plan: &Plan) -> Result<BTreeMap<String, serde_json::Value>, Error> {
    plan.models.iter().map(|m| Ok((m.name.clone(), model_identity(m)?))).collect()
}

fn model_identity(m: &PlanModel) -> Result<serde_json::Value, Error> {
    Ok(match &m.source {
        Source::Path(f) => serde_json::json!({ "file": file_identity(f)? }),
        Source::Synth { arch, set, head, seed } => serde_json::json!({ "synth": { "arch": arch.name(), "set": set, "head": head, "seed": seed } }),
        Source::Safetensors { arch, weights, config, set, head } => serde_json::json!({ "safetensors": {
            "arch": arch.name(), "weights": file_identity(weights)?, "config": config.as_ref().map(file_identity).transpose()?, "set": set, "head": head,
        } }),
    })
}

fn file_identity(f: &FileRef) -> Result<String, Error> {
    match f {
        FileRef::Local(p) => crate::util::file_sha256(p)
            .map(|h| format!("sha256:{h}"))
            .map_err(|e| Error::Read { path: p.clone(), source: std::io::Error::other(e.to_string()) }),
        FileRef::Pypi { requirement, member } => Ok(format!("pypi:{requirement}/{member}")),
    }
}

/// The content id of `case` (see the module doc), given its model's content.
pub fn case_key(plan: &Plan, case: &Case, model: &serde_json::Value) -> String {
    let steps = plan.variant(&case.variant).map(|v| serde_json::to_value(&v.steps).expect("steps serialize"));
    let v = serde_json::json!({
        "algorithm": PLAN_ALGORITHM,
        "model": { "name": case.model, "content": model },
        "variant": { "name": case.variant, "reference": case.reference, "steps": steps },
        "workload": case.workload,
        "fidelity_against": case.fidelity_against,
        "accuracy": case.accuracy,
    });
    crate::util::sha256_hex(v.to_string().as_bytes())
}

/// Expected seconds of a case whose one run costs `macs` (None: unknown, counted as one nominal
/// second per run), under the plan's run settings: per round an overhead and the warm-up, then
/// the timed runs, at least `min_iterations` of them and at least `min_time_s`.
pub fn estimate_s(plan: &Plan, macs: Option<u64>) -> f64 {
    let run_s = macs.map_or(1.0, |m| m as f64 / NOMINAL_MACS_PER_S);
    let rounds = plan.run.rounds.max(1) as f64;
    let timed = (plan.run.min_iterations as f64 * run_s).max(plan.run.min_time_s).min(plan.run.max_time_s.max(plan.run.min_time_s));
    rounds * (ROUND_OVERHEAD_S + plan.run.warmup as f64 * run_s) + timed
}

/// MACs of one run of `m` at `batch` × `seq`: counted on the graph for a local ONNX file, from
/// the config for a synthesized or imported model; None when that needs a download (PyPI) or
/// fails (the cost is then a nominal guess; the run itself reports the failure).
fn model_macs(m: &PlanModel, loaded: &mut Option<Option<crate::onnx::Model>>, batch: usize, seq: usize) -> Option<u64> {
    let config = match &m.source {
        Source::Path(FileRef::Local(p)) => {
            let model = loaded.get_or_insert_with(|| crate::onnx::Model::load(p).ok()).as_ref()?;
            return crate::onnx::stats::inspect(model, batch as i64, seq as i64).ok().map(|i| i.compute.macs);
        }
        Source::Path(FileRef::Pypi { .. }) => return None,
        Source::Synth { arch, set, .. } => crate::synth::load_config(*arch, None, None, set).ok()?,
        Source::Safetensors { arch, weights: FileRef::Local(w), config, set, .. } => {
            let config = match config {
                Some(FileRef::Local(c)) => Some(c.as_path()),
                Some(FileRef::Pypi { .. }) => return None,
                None => None,
            };
            crate::synth::load_config(*arch, config, Some(w.as_path()), set).ok()?
        }
        Source::Safetensors { .. } => return None,
    };
    Some(encoder_macs(&config, batch, seq))
}

/// MACs of an encoder of `c` on `batch` × `seq` tokens: per token and layer the projections (query,
/// key, value, attention output, intermediate and output, each divided by its groups) and the
/// attention's two products.
fn encoder_macs(c: &crate::synth::Config, batch: usize, seq: usize) -> u64 {
    let (h, i) = (c.hidden_size as u64, c.intermediate_size as u64);
    let g = |n: usize| n.max(1) as u64;
    let per_token = h * h / g(c.q_groups) + h * h / g(c.k_groups) + h * h / g(c.v_groups) + h * h / g(c.post_attention_groups)
        + h * i / g(c.intermediate_groups)
        + i * h / g(c.output_groups)
        + 2 * seq as u64 * h;
    per_token.saturating_mul(c.num_hidden_layers as u64).saturating_mul((batch * seq) as u64)
}

/// Expected seconds of every case (in `cases` order) and where they came from: the wall times of
/// `previous` (a name for the record and the document) for the cases it holds ok, else estimates.
pub fn costs(plan: &Plan, cases: &[Case], previous: Option<(&str, &Results)>) -> (Vec<f64>, String) {
    let mut loaded: BTreeMap<&str, Option<Option<crate::onnx::Model>>> = BTreeMap::new();
    let mut macs: BTreeMap<(&str, usize, usize), Option<u64>> = BTreeMap::new();
    let mut out = Vec::with_capacity(cases.len());
    for c in cases {
        let earlier = previous.and_then(|(_, r)| r.case(&c.id)).filter(|r| r.status == crate::results::Status::Ok).map(|r| r.wall_s);
        if let Some(s) = earlier.filter(|s| s.is_finite() && *s >= 0.0) {
            out.push(s);
            continue;
        }
        let key = (c.model.as_str(), c.workload.batch, c.workload.seq);
        let m = *macs.entry(key).or_insert_with(|| {
            let model = plan.model(&c.model)?;
            model_macs(model, loaded.entry(c.model.as_str()).or_default(), c.workload.batch, c.workload.seq)
        });
        out.push(estimate_s(plan, m));
    }
    let source = match previous {
        Some((name, _)) => format!("results: {name}"),
        None => "estimate".to_string(),
    };
    (out, source)
}

/// Places groups of cost `costs` on `n` shards by greedy longest-processing-time (see the module
/// doc): the 1-based shard of each group, in input order. `names` break ties between equal costs.
pub fn assign(names: &[&str], costs: &[f64], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then_with(|| names[a].cmp(names[b])));
    let mut load = vec![0.0f64; n.max(1)];
    let mut out = vec![0; costs.len()];
    for g in order {
        let (k, _) = load.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(&b.0))).expect("n ≥ 1");
        load[k] += costs[g];
        out[g] = k + 1;
    }
    out
}

/// The plan of `cases` (the expansion of `plan`) on `n` shards, `shard` 0 (set it per shard).
/// `previous` balances by earlier wall times. Reads the model files given by path (to hash them
/// and count their MACs).
pub fn plan(plan: &Plan, cases: &[Case], n: usize, previous: Option<(&str, &Results)>) -> Result<ShardPlan, Error> {
    if n == 0 || n > MAX_SHARDS {
        return Err(Error::Invalid {
            path: plan.path.clone(),
            text: String::new(),
            problems: vec![super::Problem { line: 0, column: 0, message: format!("{n} shards: expected 1 to {MAX_SHARDS}"), hint: None }],
        });
    }
    let identities = model_identities(plan)?;
    let keys: Vec<String> = cases.iter().map(|c| case_key(plan, c, &identities[&c.model])).collect();
    let (costs, source) = costs(plan, cases, previous);
    // Groups: the models, in suite order.
    let models: Vec<&str> = plan.models.iter().map(|m| m.name.as_str()).filter(|m| cases.iter().any(|c| c.model == *m)).collect();
    let group_costs: Vec<f64> = models.iter().map(|m| cases.iter().zip(&costs).filter(|(c, _)| c.model == *m).map(|(_, s)| s).sum()).collect();
    let shard_of: BTreeMap<&str, usize> = models.iter().copied().zip(assign(&models, &group_costs, n)).collect();
    let planned: Vec<PlannedCase> = cases
        .iter()
        .zip(keys)
        .zip(costs)
        .map(|((c, key), cost_s)| PlannedCase { id: c.id.clone(), key, shard: shard_of[c.model.as_str()], cost_s })
        .collect();
    let mut sorted: Vec<&str> = planned.iter().map(|c| c.key.as_str()).collect();
    sorted.sort_unstable();
    let suite = serde_json::json!({
        "algorithm": PLAN_ALGORITHM, "cases": sorted, "run": plan.run, "metrics": plan.metrics, "thresholds": plan.thresholds,
    });
    let suite_hash = crate::util::sha256_hex(suite.to_string().as_bytes());
    let assignment: Vec<(&str, usize)> = planned.iter().map(|c| (c.key.as_str(), c.shard)).collect();
    let plan_hash = crate::util::sha256_hex(serde_json::json!({ "suite": suite_hash, "shards": n, "assignment": assignment }).to_string().as_bytes());
    Ok(ShardPlan { algorithm: PLAN_ALGORITHM.into(), suite_hash, plan_hash, shards: n, shard: 0, costs: source, testbed: String::new(), cases: planned })
}

/// The assignment as a table: one line per shard with its models, cases and expected seconds.
pub fn render(p: &ShardPlan) -> String {
    let mut s = format!("plan {} shard(s), suite hash {}, costs from {}\n", p.shards, &p.suite_hash[..12], p.costs);
    for k in 1..=p.shards {
        let cases: Vec<&PlannedCase> = p.cases_of(k).collect();
        let mut models: Vec<&str> = cases.iter().map(|c| c.id.split('/').next().unwrap_or("")).collect();
        models.dedup();
        let cost: f64 = cases.iter().map(|c| c.cost_s).sum::<f64>() + 0.0;
        s.push_str(&format!("shard {k:>3}/{}  {:>4} case(s)  ~{cost:>7.1} s  {}\n", p.shards, cases.len(), if models.is_empty() { "(empty)".to_string() } else { models.join(", ") }));
    }
    s
}
