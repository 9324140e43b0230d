//! Shards and their merge: the plan a shard of a suite ran under ([`ShardPlan`], written into its
//! `results.json`) and [`merge`], the pure function that validates a set of shard results and joins
//! them into one document that `report` and `gate` read like any run.
//!
//! Why the whole assignment travels with every shard: the merge must name a case that no shard
//! ran, and a shard that was planned differently (another shard count, other costs, another suite)
//! must be refused, not silently joined; both need the plan itself, not just this shard's part.
//!
//! What [`merge`] checks, each error naming the file and the case (the model of MLPerf's
//! submission checker: same rules, every result present, the system described):
//! - every file is a shard (`shard` present) of one tool version;
//! - one suite hash (content ids of the cases and the run settings) and one plan (shard count and
//!   assignment);
//! - every case a file holds was planned for that file's shard;
//! - per testbed, every planned case exactly once: none missing or `interrupted` (unless
//!   `allow_partial`, which marks the result `incomplete` and lists them), none doubled.

use std::collections::{BTreeMap, BTreeSet};

use super::record::Results;
use super::env::Environment;

/// The version of the case-id and assignment rules, written into every shard plan. Shards planned
/// under another version are another plan.
pub const PLAN_ALGORITHM: &str = "sha256-lpt-v1";

/// How a suite's cases were split into shards, written into each shard's results (`shard`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShardPlan {
    /// The rules that made the ids and the assignment ([`PLAN_ALGORITHM`]).
    pub algorithm: String,
    /// SHA-256 over the sorted case content ids, the run settings, the metrics and the
    /// thresholds: equal for the same cases measured the same way.
    pub suite_hash: String,
    /// SHA-256 over `suite_hash`, `shards` and every case's shard: equal for shards of one plan.
    pub plan_hash: String,
    /// N: how many shards the suite was split into.
    pub shards: usize,
    /// K: which shard this file holds, 1-based.
    pub shard: usize,
    /// Where the expected costs that balanced the shards came from: `estimate` (MACs ×
    /// iterations and the run's time floors) or `results: FILE` (wall times of an earlier run).
    pub costs: String,
    /// The testbed this shard ran on (see [`Environment::testbed`]).
    #[serde(default)]
    pub testbed: String,
    /// Every case of the suite, in suite order, with its content id and its shard.
    pub cases: Vec<PlannedCase>,
}

/// One case of a shard plan.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlannedCase {
    /// The case's readable id (`model/variant/b1-s128-t2`), as in `cases[].id`.
    pub id: String,
    /// Content id: SHA-256 of the model's content (file bytes, or the synth recipe and seed), the
    /// variant's steps, the workload and what the case measures.
    pub key: String,
    /// The shard that runs it, 1-based.
    pub shard: usize,
    /// Expected cost in seconds (from `costs`), as used for balancing.
    pub cost_s: f64,
}

/// One testbed of a merged document that holds several.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Testbed {
    /// The key of [`Environment::testbed`].
    pub key: String,
    /// The environment of the first shard that ran on it.
    pub environment: Environment,
}

/// What a merged document was made from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergeInfo {
    pub suite_hash: String,
    pub plan_hash: String,
    pub shards: usize,
    /// The files merged, in the order given, with their shard, testbed and times.
    pub files: Vec<MergedFile>,
    /// Planned cases no file held (`testbed: id`), with `--allow-partial` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// One file of a merge.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MergedFile {
    pub file: String,
    pub shard: usize,
    pub testbed: String,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// Sum of the wall times of its cases.
    pub cases_wall_s: f64,
}

impl ShardPlan {
    /// The plan's cases assigned to shard `k`.
    pub fn cases_of(&self, k: usize) -> impl Iterator<Item = &PlannedCase> {
        self.cases.iter().filter(move |c| c.shard == k)
    }
}

/// Why a set of shard results cannot be merged: every problem found, one line each.
#[derive(Debug, PartialEq)]
pub struct MergeError(pub Vec<String>);

impl std::error::Error for MergeError {}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot merge: {} problem(s)", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// Validates `files` (a name for messages, and the parsed document) as the shards of one plan
/// and joins them (see the module doc for the checks). The result lists the cases in plan order,
/// per testbed in the order testbeds first appear; with several testbeds every case carries its
/// testbed key and `testbeds` lists them.
pub fn merge(files: &[(String, Results)], allow_partial: bool) -> Result<Results, MergeError> {
    let mut problems = Vec::new();
    let Some(first) = files.first() else { return Err(MergeError(vec!["no results files given".into()])) };
    let mut plans = Vec::new();
    for (name, r) in files {
        match &r.shard {
            Some(p) => plans.push((name, r, p)),
            None => problems.push(format!("'{name}' is not a shard's results (no `shard`): run the suite with --shard K/N")),
        }
    }
    let Some(&(first_name, first_r, plan)) = plans.first() else { return Err(MergeError(problems)) };
    for &(name, r, p) in &plans[1..] {
        if r.environment.squeezebench_version != first_r.environment.squeezebench_version {
            problems.push(format!(
                "'{name}' was written by squeezebench {}, '{first_name}' by {}: merge shards of one version",
                r.environment.squeezebench_version, first_r.environment.squeezebench_version
            ));
        }
        problems.extend(plan_mismatch(first_name, plan, name, p));
    }
    if !problems.is_empty() {
        return Err(MergeError(problems));
    }
    let planned: BTreeMap<&str, &PlannedCase> = plan.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    // (testbed, case id) → the file that holds it.
    let mut seen: BTreeMap<(String, String), &str> = BTreeMap::new();
    let mut testbeds: Vec<Testbed> = Vec::new();
    let mut shards_seen: BTreeMap<(String, usize), &str> = BTreeMap::new();
    for &(name, r, p) in &plans {
        let tb = if p.testbed.is_empty() { r.environment.testbed() } else { p.testbed.clone() };
        if !testbeds.iter().any(|t| t.key == tb) {
            testbeds.push(Testbed { key: tb.clone(), environment: r.environment.clone() });
        }
        if let Some(other) = shards_seen.insert((tb.clone(), p.shard), name) {
            problems.push(format!("'{name}' and '{other}' both hold shard {}/{} of testbed '{tb}'", p.shard, p.shards));
        }
        for c in &r.cases {
            match planned.get(c.id.as_str()) {
                None => problems.push(format!("'{name}': case '{}' is not in the plan", c.id)),
                Some(pc) if pc.shard != p.shard => {
                    problems.push(format!("'{name}': case '{}' is planned for shard {}, but the file is shard {}", c.id, pc.shard, p.shard))
                }
                Some(_) => {}
            }
            if let Some(other) = seen.insert((tb.clone(), c.id.clone()), name) {
                problems.push(format!("case '{}' of testbed '{tb}' is doubled: in '{other}' and in '{name}'", c.id));
            }
        }
    }
    let mut missing = Vec::new();
    for t in &testbeds {
        for pc in &plan.cases {
            let holder = plans.iter().find(|(_, r, p)| p.shard == pc.shard && testbed_key(r, p) == t.key);
            // A case cut short by Ctrl-C (`interrupted`, its finished rounds kept) did not run.
            let cut = holder.and_then(|(_, r, _)| r.case(&pc.id)).is_some_and(|c| c.status == super::record::Status::Interrupted);
            if cut || !seen.contains_key(&(t.key.clone(), pc.id.clone())) {
                let why = match holder {
                    Some((n, _, _)) if cut => format!("'{n}' (shard {}) was interrupted before it finished", pc.shard),
                    Some((n, _, _)) => format!("'{n}' (shard {}) does not hold it", pc.shard),
                    None => format!("no file holds shard {}/{}", pc.shard, plan.shards),
                };
                missing.push((format!("{}: {}", t.key, pc.id), format!("case '{}' of testbed '{}' is missing: {why}", pc.id, t.key)));
            }
        }
    }
    if !allow_partial {
        problems.extend(missing.iter().map(|(_, m)| m.clone()));
    }
    if !problems.is_empty() {
        return Err(MergeError(problems));
    }
    Ok(join(first, &plans, plan, testbeds, missing.into_iter().map(|(k, _)| k).collect()))
}

fn testbed_key(r: &Results, p: &ShardPlan) -> String {
    if p.testbed.is_empty() {
        r.environment.testbed()
    } else {
        p.testbed.clone()
    }
}

/// How the plan of `name` differs from the first file's, naming the cases that differ.
fn plan_mismatch(first_name: &str, a: &ShardPlan, name: &str, b: &ShardPlan) -> Vec<String> {
    let assignment = |p: &ShardPlan| p.cases.iter().map(|c| (c.id.clone(), c.key.clone(), c.shard)).collect::<Vec<_>>();
    if a.plan_hash == b.plan_hash && a.algorithm == b.algorithm && a.suite_hash == b.suite_hash && a.shards == b.shards && assignment(a) == assignment(b) {
        return Vec::new();
    }
    let keys = |p: &ShardPlan| p.cases.iter().map(|c| (c.id.clone(), c.key.clone())).collect::<BTreeSet<_>>();
    let (ka, kb) = (keys(a), keys(b));
    let cases = |set: &BTreeSet<(String, String)>, other: &BTreeSet<(String, String)>| {
        set.difference(other).map(|(id, _)| format!("'{id}'")).collect::<Vec<_>>()
    };
    if a.algorithm != b.algorithm {
        return vec![format!("'{name}' was planned by {}, '{first_name}' by {}: another plan", b.algorithm, a.algorithm)];
    }
    if a.suite_hash != b.suite_hash {
        let mut diff = cases(&kb, &ka);
        diff.extend(cases(&ka, &kb).into_iter().map(|c| format!("{c} (absent)")));
        let what = if diff.is_empty() { "the run settings, metrics or thresholds differ".to_string() } else { format!("cases differ: {}", clip_list(&diff)) };
        return vec![format!(
            "'{name}' has suite hash {}, '{first_name}' has {}: another suite ({what})",
            short(&b.suite_hash),
            short(&a.suite_hash)
        )];
    }
    if a.shards != b.shards {
        return vec![format!("'{name}' is shard {}/{}, '{first_name}' shard {}/{}: a shard from another plan", b.shard, b.shards, a.shard, a.shards)];
    }
    let moved: Vec<String> = a
        .cases
        .iter()
        .zip(&b.cases)
        .filter(|(x, y)| x.shard != y.shard)
        .map(|(x, y)| format!("'{}' on shard {} there, {} in '{first_name}'", x.id, y.shard, x.shard))
        .collect();
    vec![format!("'{name}' is a shard from another plan (other costs?): {}", clip_list(&moved))]
}

fn clip_list(items: &[String]) -> String {
    match items.len() {
        0..=5 => items.join(", "),
        n => format!("{} and {} more", items[..5].join(", "), n - 5),
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// The merged document (the checks passed).
fn join(first: &(String, Results), plans: &[(&String, &Results, &ShardPlan)], plan: &ShardPlan, testbeds: Vec<Testbed>, missing: Vec<String>) -> Results {
    let mut out = first.1.clone();
    let several = testbeds.len() > 1;
    out.shard = None;
    out.cases.clear();
    out.models.clear();
    out.variants.clear();
    out.datasets.clear();
    out.started_at = plans.iter().map(|(_, r, _)| r.started_at.clone()).min().unwrap_or_default();
    out.finished_at = plans.iter().map(|(_, r, _)| r.finished_at.clone()).collect::<Option<Vec<_>>>().and_then(|v| v.into_iter().max());
    out.interrupted = plans.iter().any(|(_, r, _)| r.interrupted);
    for (_, r, _) in plans {
        for m in &r.models {
            if !out.models.iter().any(|x| x.name == m.name) {
                out.models.push(m.clone());
            }
        }
        for v in &r.variants {
            if !out.variants.iter().any(|x| x.model == v.model && x.variant == v.variant) {
                out.variants.push(v.clone());
            }
        }
        for d in &r.datasets {
            if !out.datasets.iter().any(|x| x.name == d.name) {
                out.datasets.push(d.clone());
            }
        }
    }
    for t in &testbeds {
        for pc in &plan.cases {
            let found = plans.iter().filter(|(_, r, p)| testbed_key(r, p) == t.key).find_map(|(_, r, _)| r.case(&pc.id));
            if let Some(c) = found {
                let mut c = c.clone();
                c.testbed = several.then(|| t.key.clone());
                out.cases.push(c);
            }
        }
    }
    out.incomplete = !missing.is_empty();
    out.merge = Some(MergeInfo {
        suite_hash: plan.suite_hash.clone(),
        plan_hash: plan.plan_hash.clone(),
        shards: plan.shards,
        files: plans
            .iter()
            .map(|(name, r, p)| MergedFile {
                file: name.to_string(),
                shard: p.shard,
                testbed: testbed_key(r, p),
                started_at: r.started_at.clone(),
                finished_at: r.finished_at.clone(),
                // `+ 0.0`: an empty sum is -0.0.
                cases_wall_s: r.cases.iter().map(|c| c.wall_s).sum::<f64>() + 0.0,
            })
            .collect(),
        missing,
    });
    out.testbeds = if several { testbeds } else { Vec::new() };
    out
}

impl Results {
    /// The document split by testbed: one per testbed key, in order, each with that testbed's
    /// environment and cases (untagged). A document of one testbed is itself.
    pub fn by_testbed(&self) -> Vec<(String, Results)> {
        if self.testbeds.is_empty() {
            return vec![(self.environment.testbed(), self.clone())];
        }
        self.testbeds
            .iter()
            .map(|t| {
                let mut r = self.clone();
                r.environment = t.environment.clone();
                r.testbeds.clear();
                r.cases = self.cases.iter().filter(|c| c.testbed.as_deref() == Some(t.key.as_str())).cloned().map(|mut c| {
                    c.testbed = None;
                    c
                }).collect();
                (t.key.clone(), r)
            })
            .collect()
    }
}
