//! `run`: a suite from start to verdict. The policy, in order: check the suite and its files, read
//! the baseline to gate against (a missing one is an error before anything runs), run every case,
//! write the reports, then — unless the run was interrupted — gate against the baseline and save
//! the new baseline. [`finish`] is everything after the cases ran.

use std::path::{Path, PathBuf};

use super::{Outcome, Result};
use crate::bench::runner::Verbosity;
use crate::results::store::{self, Store};
use crate::results::{Results, Status};

/// Flags of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The suite file.
    pub suite: PathBuf,
    /// List the expanded cases and exit without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Output folder (default: runs/<suite name>, the name made a plain folder name: characters
    /// other than letters, digits, '.', '_' and '-' become '_'). A folder that already holds a
    /// run's results is refused unless --force; in the default folder an earlier run is kept
    /// instead, moved to runs/<suite name>.<its start time>.
    #[arg(short, long, visible_alias = "out")]
    pub output: Option<PathBuf>,
    /// Write into an --output folder that holds an earlier run's results, replacing them.
    #[arg(long)]
    pub force: bool,
    /// Cases run at the same time (1 to 1024). Keep 1 for timings you can trust.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: u32,
    /// Where synthesized models, prepared variants and fetched wheels are kept (default:
    /// $SQUEEZEBENCH_CACHE_DIR, $XDG_CACHE_HOME/squeezebench or ~/.cache/squeezebench).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// No progress bar (a line per finished case-round instead, as when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Print nothing on stderr but warnings and errors (no progress, case lines, summary or file
    /// list); the gate's table still goes to stdout.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// A line per finished case-round even under the progress bar.
    #[arg(short, long)]
    pub verbose: bool,
    /// After the run, store its results as the baseline NAME of this suite
    /// (BASELINES_DIR/<suite>/NAME.json); not when a case failed or the run was interrupted.
    #[arg(long, value_name = "NAME")]
    pub save_baseline: Option<String>,
    /// After the run, gate it against a baseline (as `squeezebench gate` does, with the suite's
    /// thresholds); exit 1 on a regression. NAME is a baseline saved for this suite, or the path
    /// of a results.json or run folder (a value naming an existing file or folder is a path). The
    /// baseline is read first: a missing one is an error before anything runs. With
    /// --save-baseline, compares first, then stores.
    #[arg(long, value_name = "NAME|PATH")]
    pub baseline: Option<String>,
    /// Where baselines are kept.
    #[arg(long, default_value = store::DEFAULT_DIR)]
    pub baselines_dir: PathBuf,
    /// Run only shard K of N (1-based): a model's cases stay on one shard, shards are balanced by
    /// expected cost, and the plan is written into results.json for `squeezebench merge`. `auto`
    /// takes K (and N) from SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX or SQUEEZEBENCH_SHARD=K/N;
    /// `auto/N` gives N. Not with --baseline or --save-baseline: gate or save the merge. See
    /// docs/scale-out.md.
    #[arg(long, value_name = "K/N|auto", conflicts_with_all = ["baseline", "save_baseline"])]
    pub shard: Option<String>,
    /// With --shard: balance by the case wall times of an earlier run (results.json or folder);
    /// every shard must be given the same file.
    #[arg(long, value_name = "RESULTS")]
    pub costs: Option<PathBuf>,
}

/// `run`. The output folder is locked for the whole run (`OUT/.lock`, holding the pid): a second
/// run on the same folder is refused with an error naming the holder.
pub fn run(a: Args) -> Result<Outcome> {
    let store = Store::new(&a.baselines_dir);
    if let Some(name) = &a.save_baseline {
        store::check_name(name)?;
    }
    let plan = crate::suite::load(&a.suite)?;
    for w in plan.warnings() {
        eprintln!("{w}");
    }
    crate::bench::preflight::check(&plan)?;
    let base = a.baseline.as_deref().map(|name| store.load_path_or_name(&plan.name, name).map(|b| (name, b))).transpose()?;
    let (cases, shard) = super::scale::select(&plan, crate::suite::expand(&plan), a.shard.as_deref(), a.costs.as_deref())?;
    if a.dry_run {
        print!("{}", crate::suite::expand::render(&plan, &cases));
        return Ok(Outcome::Ok);
    }
    let (out, named) = match a.output {
        Some(out) => (out, true),
        None => (run_folder(Path::new(RUNS_DIR), &plan.name)?, false),
    };
    // Held until the reports are written: a second run on this folder is refused meanwhile.
    let _lock = crate::bench::runner::OutLock::take(&out)?;
    if !a.force {
        if let Some(kept) = keep_earlier_run(&out, named)? {
            eprintln!("the earlier run in {} was moved to {}", out.display(), kept.display());
        }
    }
    let mut opts = crate::bench::RunOptions::new(out.clone(), std::env::current_exe()?);
    opts.jobs = a.jobs as usize;
    opts.progress = !a.no_progress;
    opts.verbosity = match (a.quiet, a.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    opts.shard = shard;
    if let Some(c) = a.cache_dir {
        opts.cache_dir = c;
    }
    let results = crate::bench::run(&plan, &cases, &opts)?;
    let baseline = base.as_ref().map(|(name, (path, results))| Baseline { name, path, results });
    let save = a.save_baseline.as_deref().map(|name| (&store, name));
    let done = finish(&results, &out, baseline, save)?;
    if a.quiet {
        done.stderr.lines().filter(|l| l.starts_with("error:")).for_each(|l| eprintln!("{l}"));
    } else {
        eprint!("\n{}\n{}", crate::report::text::summary(&results), done.stderr);
    }
    print!("{}", done.stdout);
    Ok(done.outcome)
}

/// What `run` does with an earlier run's results in its output folder `out` (one holding a
/// `results.json`), without --force: an output folder the user `named` is refused, naming the file
/// and the way out; the default folder's files (all but the lock and scratch folders) are moved to
/// a sibling folder named after the earlier run's start time, which is returned.
pub(crate) fn keep_earlier_run(out: &Path, named: bool) -> Result<Option<PathBuf>> {
    let earlier = out.join("results.json");
    if std::fs::symlink_metadata(&earlier).is_err() {
        return Ok(None);
    }
    if named {
        return Err(format!(
            "'{}' holds the results of an earlier run ('{}'): pass --force to replace them, or another --output",
            out.display(),
            earlier.display()
        )
        .into());
    }
    let started = Results::load(&earlier).map(|r| r.started_at).unwrap_or_default();
    let stamp: String = started.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let base = format!("{}.{}", out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), if stamp.is_empty() { "earlier".into() } else { stamp });
    let parent = out.parent().unwrap_or(Path::new("."));
    let mut kept = parent.join(&base);
    let mut k = 1;
    while std::fs::symlink_metadata(&kept).is_ok() {
        k += 1;
        kept = parent.join(format!("{base}-{k}"));
    }
    std::fs::create_dir(&kept).map_err(|e| format!("cannot create '{}' to keep the earlier run: {e}", kept.display()))?;
    for entry in std::fs::read_dir(out).map_err(|e| format!("cannot read '{}': {e}", out.display()))? {
        let entry = entry.map_err(|e| format!("cannot read '{}': {e}", out.display()))?;
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if n == crate::bench::runner::LOCK_FILE || n.starts_with(".work") {
            continue;
        }
        std::fs::rename(entry.path(), kept.join(&name)).map_err(|e| format!("cannot move '{}' into '{}': {e}", entry.path().display(), kept.display()))?;
    }
    Ok(Some(kept))
}

/// The root of the default output folders.
pub(crate) const RUNS_DIR: &str = "runs";

/// The default output folder of the suite `name`: one plain folder name under `root` (as baseline
/// folders are named, [`store::folder_name`]), so a suite's `name:` (`../../x`, `/tmp/victim`)
/// cannot place its files outside `root`; checked once more on the joined path.
pub(crate) fn run_folder(root: &Path, name: &str) -> Result<PathBuf> {
    let folder = store::folder_name(name);
    let out = root.join(&folder);
    let inside = out.strip_prefix(root).is_ok_and(|rest| {
        let mut parts = rest.components();
        matches!(parts.next(), Some(std::path::Component::Normal(_))) && parts.next().is_none()
    });
    if !inside {
        return Err(format!("the suite name '{name}' gives the output folder '{}', which is not inside '{}': pass --out", out.display(), root.display()).into());
    }
    Ok(out)
}

/// A stored baseline to gate against.
pub struct Baseline<'a> {
    pub name: &'a str,
    pub path: &'a Path,
    pub results: &'a Results,
}

/// What [`finish`] decided and has to say.
#[derive(Debug, PartialEq, Eq)]
pub struct Finished {
    pub outcome: Outcome,
    /// The gate's Markdown table, if gated.
    pub stdout: String,
    /// What was written, gated and saved, one line each.
    pub stderr: String,
}

/// After the cases ran: write the reports into `out`; an interrupted run stops there (neither
/// gated nor saved: [`Outcome::Interrupted`]); otherwise gate against `baseline` (a regression is
/// [`Outcome::CheckFailed`]), then save the results as the baseline `save` names (refused, and
/// reported, when a case failed, which is [`Outcome::CasesFailed`] unless the gate failed).
pub fn finish(results: &Results, out: &Path, baseline: Option<Baseline<'_>>, save: Option<(&Store, &str)>) -> Result<Finished> {
    let mut stdout = String::new();
    let mut stderr = String::new();
    let failed = results.cases.iter().filter(|c| c.status != Status::Ok).count();
    stderr += &format!("wrote {} ({} case(s), {failed} not ok)\n", out.join("results.json").display(), results.cases.len());
    crate::report::write_all(results, out)?;
    stderr += &format!(
        "wrote {} and {} (charts in {})\n",
        out.join(crate::report::MARKDOWN).display(),
        out.join(crate::report::HTML).display(),
        out.join(crate::report::CHARTS).display()
    );
    if results.interrupted {
        if baseline.is_some() || save.is_some() {
            stderr += "the run was interrupted: not gated against a baseline and not saved as one\n";
        }
        return Ok(Finished { outcome: Outcome::Interrupted, stdout, stderr });
    }
    let mut gate_failed = false;
    if let Some(b) = baseline {
        let report = crate::gate::compare(b.results, results, &results.thresholds, &crate::gate::Options::default())?;
        stdout += &report.render_markdown();
        stderr += &format!("gated against baseline '{}' ({})\n", b.name, b.path.display());
        gate_failed = report.failed();
    }
    if let Some((store, name)) = save {
        match store.save(name, results) {
            Ok(path) => stderr += &format!("saved baseline '{name}' to {}\n", path.display()),
            // Refused because a case failed: the outcome already says so.
            Err(e) if failed > 0 => stderr += &format!("error: {e}\n"),
            Err(e) => return Err(e.into()),
        }
    }
    let outcome = if gate_failed {
        Outcome::CheckFailed
    } else if failed > 0 {
        Outcome::CasesFailed
    } else {
        Outcome::Ok
    };
    Ok(Finished { outcome, stdout, stderr })
}
