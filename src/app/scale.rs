//! Beyond one machine: `run --shard` (which part of a suite this process runs), `merge` (join the
//! shards' results, checked) and `plan` (print the assignment, or write job files for Slurm,
//! Kubernetes or GitHub Actions, see [`super::emit`]). The plan itself is `suite::shards`; the
//! merge is `results::shard::merge`; this module reads flags, files and the environment.

use std::path::{Path, PathBuf};

use super::{Outcome, Result};
use crate::results::{Results, ShardPlan};
use crate::suite::{Case, Plan};

/// The CI variable `--shard auto` reads last: `K/N` (set it from a GitHub Actions matrix, a
/// GitLab `parallel:` job or any other runner).
pub const SHARD_VAR: &str = "SQUEEZEBENCH_SHARD";

/// A resolved `--shard`: shard `k` of `n` (1-based), and where that came from.
#[derive(Debug, PartialEq, Eq)]
pub struct ShardChoice {
    pub k: usize,
    pub n: usize,
    pub from: String,
}

fn number(s: &str, what: &str) -> std::result::Result<usize, String> {
    s.trim().parse::<usize>().map_err(|_| format!("{what} '{s}' is not a whole number"))
}

/// Resolves `--shard` — `K/N`, `auto` or `auto/N` — reading the environment through `var`.
/// `auto` takes, in order: Slurm's `SLURM_ARRAY_TASK_ID` (made 1-based with
/// `SLURM_ARRAY_TASK_MIN` and `SLURM_ARRAY_TASK_STEP`, N from `SLURM_ARRAY_TASK_COUNT`),
/// Kubernetes' `JOB_COMPLETION_INDEX` (0-based), then [`SHARD_VAR`] (`K/N`). An N given as
/// `auto/N` must agree with the one the engine gives.
pub fn resolve_shard(spec: &str, var: &dyn Fn(&str) -> Option<String>) -> std::result::Result<ShardChoice, String> {
    let choice = match spec.trim().split_once('/') {
        Some(("auto", n)) => auto(Some(number(n, "N")?), var)?,
        Some((k, n)) => ShardChoice { k: number(k, "K")?, n: number(n, "N")?, from: "--shard".into() },
        None if spec.trim() == "auto" => auto(None, var)?,
        None => return Err(format!("--shard '{spec}': expected K/N (1-based, e.g. 2/3), auto or auto/N")),
    };
    if choice.n == 0 || choice.n > crate::suite::shards::MAX_SHARDS || choice.k == 0 || choice.k > choice.n {
        return Err(format!("shard {}/{} (from {}): expected 1 ≤ K ≤ N ≤ {}", choice.k, choice.n, choice.from, crate::suite::shards::MAX_SHARDS));
    }
    Ok(choice)
}

fn auto(n: Option<usize>, var: &dyn Fn(&str) -> Option<String>) -> std::result::Result<ShardChoice, String> {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let need_n = |engine: Option<usize>, from: &str| match (n, engine) {
        (Some(a), Some(b)) if a != b => Err(format!("--shard auto/{a}, but {from} says {b} shards")),
        (Some(a), _) | (None, Some(a)) => Ok(a),
        (None, None) => Err(format!("{from} gives the index but not the shard count: pass --shard auto/N")),
    };
    if let Some(id) = get("SLURM_ARRAY_TASK_ID") {
        let id = number(&id, "SLURM_ARRAY_TASK_ID")?;
        let min = get("SLURM_ARRAY_TASK_MIN").ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_MIN is not")?;
        let min = number(&min, "SLURM_ARRAY_TASK_MIN")?;
        let step = get("SLURM_ARRAY_TASK_STEP").map(|s| number(&s, "SLURM_ARRAY_TASK_STEP")).transpose()?.unwrap_or(1).max(1);
        let count = get("SLURM_ARRAY_TASK_COUNT").map(|s| number(&s, "SLURM_ARRAY_TASK_COUNT")).transpose()?;
        if id < min || (id - min) % step != 0 {
            return Err(format!("SLURM_ARRAY_TASK_ID={id} is not in the array (min {min}, step {step})"));
        }
        let from = format!("SLURM_ARRAY_TASK_ID={id}, SLURM_ARRAY_TASK_MIN={min}{}", count.map(|c| format!(", SLURM_ARRAY_TASK_COUNT={c}")).unwrap_or_default());
        return Ok(ShardChoice { k: (id - min) / step + 1, n: need_n(count, "Slurm")?, from });
    }
    if let Some(i) = get("JOB_COMPLETION_INDEX") {
        let i = number(&i, "JOB_COMPLETION_INDEX")?;
        return Ok(ShardChoice { k: i + 1, n: need_n(None, "JOB_COMPLETION_INDEX")?, from: format!("JOB_COMPLETION_INDEX={i}") });
    }
    if let Some(v) = get(SHARD_VAR) {
        let (k, m) = v.split_once('/').ok_or_else(|| format!("{SHARD_VAR}='{v}': expected K/N"))?;
        let m = number(m, "N")?;
        return Ok(ShardChoice { k: number(k, "K")?, n: need_n(Some(m), SHARD_VAR)?, from: format!("{SHARD_VAR}={v}") });
    }
    Err(format!("--shard auto: none of SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or {SHARD_VAR} is set"))
}

/// Reads `--costs`: the results of an earlier run, to balance shards by its wall times.
fn previous(path: Option<&Path>) -> Result<Option<(String, Results)>> {
    Ok(match path {
        Some(p) => Some((p.display().to_string(), Results::load_run(p)?)),
        None => None,
    })
}

/// For `run --shard`: this shard's cases and its plan (with K set), saying on stderr which shard
/// and where its index came from. Without `shard`, every case and no plan.
pub fn select(plan: &Plan, cases: Vec<Case>, shard: Option<&str>, costs: Option<&Path>) -> Result<(Vec<Case>, Option<ShardPlan>)> {
    let Some(spec) = shard else {
        if costs.is_some() {
            return Err("--costs balances shards: it needs --shard".into());
        }
        return Ok((cases, None));
    };
    let choice = resolve_shard(spec, &|name| std::env::var(name).ok())?;
    let prev = previous(costs)?;
    let mut p = crate::suite::shards::plan(plan, &cases, choice.n, prev.as_ref().map(|(n, r)| (n.as_str(), r)))?;
    p.shard = choice.k;
    let mine: Vec<Case> = cases.into_iter().zip(&p.cases).filter(|(_, pc)| pc.shard == choice.k).map(|(c, _)| c).collect();
    eprintln!("shard    {}/{} (from {}): {} of {} case(s), plan {}", choice.k, choice.n, choice.from, mine.len(), p.cases.len(), &p.plan_hash[..12]);
    Ok((mine, Some(p)))
}

/// Flags of `merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// The shards' results: results.json files or run folders (`run --shard K/N` wrote them).
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    /// Folder to write the merged results.json and its reports into (created if missing).
    #[arg(short, long, visible_alias = "out")]
    pub output: PathBuf,
    /// Merge even when planned cases are missing: the result is marked `incomplete` and lists
    /// them (duplicates and mismatched plans are still errors).
    #[arg(long)]
    pub allow_partial: bool,
}

/// `merge`: exit 0 with the merged folder written, 2 with every problem listed.
pub fn merge(a: MergeArgs) -> Result<Outcome> {
    let target = std::fs::canonicalize(&a.output).ok().map(|d| d.join("results.json"));
    let mut files = Vec::new();
    for p in &a.results {
        let file = if p.is_dir() { p.join("results.json") } else { p.clone() };
        if target.is_some() && std::fs::canonicalize(&file).ok() == target {
            return Err(format!("--output '{}' holds the input '{}': write the merge to another folder", a.output.display(), file.display()).into());
        }
        files.push((file.display().to_string(), Results::load(&file)?));
    }
    let merged = crate::results::merge(&files, a.allow_partial).map_err(|e| super::Error::Message(e.to_string()))?;
    std::fs::create_dir_all(&a.output).map_err(|e| format!("cannot create '{}': {e}", a.output.display()))?;
    crate::report::write_all(&merged, &a.output)?;
    let testbeds = merged.testbeds.len().max(1);
    eprintln!("merged {} file(s): {} case(s) on {testbeds} testbed(s) into {}", files.len(), merged.cases.len(), a.output.join("results.json").display());
    if let Some(m) = merged.merge.as_ref().filter(|m| !m.missing.is_empty()) {
        eprintln!("warning: incomplete (--allow-partial): {} planned case(s) missing: {}", m.missing.len(), m.missing.join(", "));
    }
    Ok(Outcome::Ok)
}

/// What `plan --emit` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// shard.sbatch (an array job), merge.sbatch and submit.sh (`sbatch --parsable`, then the merge
    /// with `--dependency=afterok:`).
    Slurm,
    /// shards-job.yaml (an Indexed Job), merge-job.yaml and submit.sh (`kubectl`).
    K8s,
    /// squeezebench-SUITE.yml: a GitHub Actions workflow (a matrix of shards, an artifact each, a
    /// merge-and-gate job).
    Github,
}

/// Flags of `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The suite file.
    pub suite: PathBuf,
    /// How many shards (1 to 10000).
    #[arg(long, value_parser = super::whole(1..=crate::suite::shards::MAX_SHARDS))]
    pub shards: usize,
    /// Balance by the case wall times of an earlier run (its results.json or folder); every shard
    /// must then be run with the same --costs.
    #[arg(long, value_name = "RESULTS")]
    pub costs: Option<PathBuf>,
    /// Write job files for this engine instead of printing the assignment.
    #[arg(long)]
    pub emit: Option<Engine>,
    /// Folder for the job files (created if missing; files of the same name are replaced).
    #[arg(short, long, visible_alias = "out", default_value = "jobs")]
    pub output: PathBuf,
    /// Where the shards write their results (Slurm: a folder every node sees; default: OUTPUT/results).
    #[arg(long)]
    pub results_dir: Option<PathBuf>,
    /// The container image for Kubernetes (squeezebench on its PATH, the suite's files inside).
    #[arg(long, default_value = "squeezebench:latest")]
    pub image: String,
    /// The baseline the GitHub workflow gates the merged run against (a name or a path).
    #[arg(long, default_value = "main")]
    pub baseline: String,
}

/// `plan`: the assignment on stdout, or the job files written (listed on stderr).
pub fn plan(a: PlanArgs) -> Result<Outcome> {
    let suite = crate::suite::load(&a.suite)?;
    let cases = crate::suite::expand(&suite);
    let prev = previous(a.costs.as_deref())?;
    let p = crate::suite::shards::plan(&suite, &cases, a.shards, prev.as_ref().map(|(n, r)| (n.as_str(), r)))?;
    let Some(engine) = a.emit else {
        print!("{}", crate::suite::shards::render(&p));
        return Ok(Outcome::Ok);
    };
    let exe = std::env::current_exe()?;
    let job = super::emit::Job {
        suite: &a.suite,
        name: &suite.name,
        shards: a.shards,
        plan_hash: &p.plan_hash,
        results: a.results_dir.clone().unwrap_or_else(|| a.output.join("results")),
        costs: a.costs.as_deref(),
        exe: &exe,
        image: &a.image,
        baseline: &a.baseline,
    };
    std::fs::create_dir_all(&a.output).map_err(|e| format!("cannot create '{}': {e}", a.output.display()))?;
    for (name, text, executable) in super::emit::files(engine, &job) {
        let path = a.output.join(name);
        crate::util::replace_file(&path, text.as_bytes()).map_err(crate::results::Error::from)?;
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        eprintln!("wrote {}", path.display());
    }
    Ok(Outcome::Ok)
}
