//! The runner: prepares every model and variant (in this process, cached), then runs each case in a
//! worker process, records it and writes `results.json` after every case.
//!
//! - `jobs` workers at a time (default 1: cases running side by side disturb each other's timing).
//! - A worker that exits without a result was killed or crashed: the case is `crashed`, with the
//!   exit status or signal and the last lines of its stderr. A worker past the time limit is killed
//!   and the case is `timeout`. Either way the suite goes on.
//! - Ctrl-C (SIGINT), SIGTERM and SIGHUP stop starting cases, kill running workers, write what
//!   finished with `interrupted: true` and return (every run of the process, [`Interrupts`]). A
//!   worker the signal itself killed (a terminal sends it to the whole process group) is
//!   unfinished, not crashed, and not recorded.
//! - Workers die with the runner: each gets `PR_SET_PDEATHSIG` = SIGKILL before it starts
//!   ([`die_with_parent`]), so a runner killed with SIGKILL leaves no worker behind.
//! - `run.rounds > 1`: each case runs in that many slices, one pass over the suite per slice, with
//!   its timed runs joined ([`join_rounds`]); a case is recorded after its last slice (or its first
//!   failure), in suite order.
//! - The scheduling loop sleeps until something happens ([`Wakeups`]): a worker ends (a thread per
//!   worker waits for it), the first running case reaches its time limit, or a signal arrives.
//! - What the run says as it goes goes through [`Progress`]; [`Reporter`] (a bar on a terminal, a
//!   line per case and case-round in a log) is the one the command line uses.
//! - `results.json` is replaced atomically (temporary file, sync, rename) after every case, so a
//!   run killed at any moment leaves either no file or a valid one with the finished cases
//!   (tests/interrupt.rs).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::prepare::{self, default_cache_dir};
use super::worker::{Job, Outcome};
use crate::results::{Attainable, CaseResult, DatasetInfo, Environment, ModelInfo, Params, Results, Status, SuiteInfo, VariantInfo, SCHEMA_VERSION};
use crate::data::Lengths;
use crate::suite::spec::Metric;
use crate::suite::validate::DatasetKind;
use crate::util::sha256_hex;
use crate::suite::{Case, Plan};

/// How to run a suite.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Output folder (results.json, and the workers' scratch files in a `.work-XXXXXX/` of this run,
    /// removed when the run returns). Lock it with [`OutLock::take`] first.
    pub out_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub jobs: usize,
    /// The squeezebench executable whose hidden `__worker` command runs a case.
    pub worker_exe: PathBuf,
    /// Show a progress bar (on stderr, when it is a terminal).
    pub progress: bool,
    /// How much the run says on stderr as it goes.
    pub verbosity: Verbosity,
    /// The shard plan when `cases` are one shard of the suite: recorded in the results (with this
    /// machine's testbed), and only the models of `cases` are prepared.
    pub shard: Option<crate::results::ShardPlan>,
}

/// How much a run says as it goes (on stderr).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verbosity {
    /// Nothing but errors.
    Quiet,
    /// A line per finished case; with rounds, also a line per finished case-round when there is
    /// no progress bar (stderr is not a terminal, as in a CI log, or `--no-progress`).
    #[default]
    Normal,
    /// A line per finished case-round even under the progress bar.
    Verbose,
}

impl RunOptions {
    pub fn new(out_dir: PathBuf, worker_exe: PathBuf) -> RunOptions {
        RunOptions { out_dir, cache_dir: default_cache_dir(), jobs: 1, worker_exe, progress: true, verbosity: Verbosity::Normal, shard: None }
    }
}

/// Errors that stop a run before or between cases (a failing case is not one of them).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create the output folder '{}': {source}", path.display())]
    OutDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write '{}', a scratch file of this run: {source}", path.display())]
    Scratch { path: PathBuf, source: std::io::Error },
    #[error("cannot start the worker '{}': {source}", exe.display())]
    Spawn { exe: PathBuf, source: std::io::Error },
    #[error("the output folder '{}' is in use by another run ({holder}; lock file '{}'): wait for it to finish or pass another --out", dir.display(), dir.join(LOCK_FILE).display())]
    Busy { dir: PathBuf, holder: String },
    #[error("cannot lock the output folder '{}' ('{}'): {source}", dir.display(), dir.join(LOCK_FILE).display())]
    Lock { dir: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Results(#[from] crate::results::Error),
    #[error("cannot read job '{}': {source}", path.display())]
    JobRead { path: PathBuf, source: std::io::Error },
    #[error("job '{}': {source}", path.display())]
    Job { path: PathBuf, source: serde_json::Error },
    #[error("cannot write '{}': {source}", path.display())]
    Outcome { path: PathBuf, source: std::io::Error },
}

/// The lock file of an output folder.
pub(crate) const LOCK_FILE: &str = ".lock";

/// An output folder held by this process for a run: `DIR/.lock`, exclusively `flock`ed and
/// holding the pid. The kernel drops the lock when the process ends however it ends, so a lock
/// file left by a dead process is simply taken over. Dropping the lock removes the file (while
/// still holding it); a taker checks that the file it locked is still the one at the path. Taking
/// the lock also removes the scratch folders of dead runs.
#[derive(Debug)]
pub struct OutLock {
    path: PathBuf,
    _file: std::fs::File,
}

impl OutLock {
    /// Creates `dir` if missing and locks it, or says which process holds it ([`Error::Busy`]).
    pub fn take(dir: &Path) -> Result<OutLock, Error> {
        use std::io::Write;
        use std::os::unix::fs::MetadataExt;
        std::fs::create_dir_all(dir).map_err(|source| Error::OutDir { path: dir.to_path_buf(), source })?;
        let path = dir.join(LOCK_FILE);
        let fail = |source| Error::Lock { dir: dir.to_path_buf(), source };
        loop {
            let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(fail)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let pid = std::fs::read_to_string(&path).unwrap_or_default();
                    let holder = match pid.trim() {
                        "" => "pid not written yet".to_string(),
                        pid => format!("pid {pid}"),
                    };
                    return Err(Error::Busy { dir: dir.to_path_buf(), holder });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
            }
            // The holder before us may have removed the file between our open and our lock.
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if !same {
                continue;
            }
            file.set_len(0).and_then(|()| write!(file, "{}", std::process::id())).and_then(|()| file.flush()).map_err(fail)?;
            remove_dead_scratch(dir);
            return Ok(OutLock { path, _file: file });
        }
    }
}

/// Removes the scratch folders (`.work*`) that runs killed before they could clean up left in
/// `dir`: with the lock held, no live run owns one.
fn remove_dead_scratch(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_name().to_string_lossy().starts_with(".work") && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for OutLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// Runs every case of `plan` (as expanded in `cases`) and returns the results (also written to
/// `<out_dir>/results.json` after every case). Three jobs, in order: prepare every model, dataset
/// and variant ([`prepare_all`]); turn each case into a worker job ([`Jobs`]); schedule the workers
/// and record each case as it ends ([`Schedule`]). Progress shows as `opts` says
/// ([`Reporter`]).
pub fn run(plan: &Plan, cases: &[Case], opts: &RunOptions) -> Result<Results, Error> {
    let reporter = Reporter::new(cases.len(), plan.run.rounds.max(1), opts);
    run_with(plan, cases, opts, &reporter)
}

/// [`run`], reporting to `progress`.
fn run_with(plan: &Plan, cases: &[Case], opts: &RunOptions, progress: &dyn Progress) -> Result<Results, Error> {
    let out = &opts.out_dir;
    std::fs::create_dir_all(out).map_err(|source| Error::OutDir { path: out.clone(), source })?;
    // This run's own scratch folder (`.work-XXXXXX`), removed on every return, error or not.
    let work_dir = tempfile::Builder::new().prefix(".work-").tempdir_in(out).map_err(|source| Error::OutDir { path: out.join(".work-*"), source })?;
    let work = work_dir.path().to_path_buf();
    let results_path = out.join("results.json");
    let mut wakeups = Wakeups::new();
    let interrupts = Interrupts::register(wakeups.sender());
    let interrupted = &*interrupts.flag;

    let env = Environment::collect(opts.jobs);
    let mut results = Results {
        schema_version: SCHEMA_VERSION,
        suite: SuiteInfo { name: plan.name.clone(), path: plan.path.display().to_string(), file_sha256: plan.file_sha256.clone(), hash: plan.hash() },
        environment: env.clone(),
        started_at: now_rfc3339(),
        finished_at: None,
        interrupted: false,
        thresholds: plan.thresholds.clone(),
        models: Vec::new(),
        datasets: Vec::new(),
        variants: Vec::new(),
        cases: Vec::new(),
        shard: opts.shard.clone().map(|mut s| {
            s.testbed = env.testbed();
            s
        }),
        merge: None,
        incomplete: false,
        testbeds: Vec::new(),
    };
    let prepared = prepare_all(plan, cases, opts, &mut results);
    results.save(&results_path)?;
    let peaks = attainable_peaks(plan, cases, opts, &env);

    let mut jobs = Jobs { plan, cache_dir: &opts.cache_dir, env: &env, prepared: &prepared, peaks: &peaks, inspected: HashMap::new() };
    let rounds = plan.run.rounds.max(1);
    let slots: Vec<(usize, usize)> = (0..rounds).flat_map(|r| (0..cases.len()).map(move |i| (i, r))).collect();
    let mut schedule = Schedule {
        plan,
        cases,
        opts,
        work: &work,
        rounds,
        slots,
        next: 0,
        running: Vec::new(),
        partial: HashMap::new(),
        failed: HashMap::new(),
        finished: BTreeMap::new(),
        progress,
    };
    progress.begin();
    loop {
        if interrupted.load(Ordering::SeqCst) {
            schedule.kill_all();
            schedule.keep_unfinished();
            schedule.record(&mut results, &results_path)?;
            results.interrupted = true;
            progress.finish(End::Interrupted);
            break;
        }
        wakeups.clear();
        // Collect before starting: a worker collected now frees its place at once, so after
        // `start` a worker runs unless every slot has been taken.
        schedule.collect(interrupted, &mut wakeups);
        let step = schedule.start(&mut jobs, &wakeups).and_then(|()| schedule.record(&mut results, &results_path));
        if let Err(e) = step {
            // A scratch file or results.json cannot be written (a full disk): no worker is left
            // running, and what was measured is kept if results.json can still be written.
            schedule.kill_all();
            schedule.keep_unfinished();
            let _ = schedule.record(&mut results, &results_path);
            progress.finish(End::Stopped);
            return Err(e);
        }
        if schedule.done() {
            progress.finish(End::Finished);
            break;
        }
        wakeups.wait(schedule.next_deadline());
    }
    if !results.interrupted {
        results.finished_at = Some(now_rfc3339());
    }
    results.save(&results_path)?;
    Ok(results)
}

/// The attainable GEMM peaks at each thread count of the cases (cached per machine and runtime),
/// when latency is measured. One that cannot be measured is reported and left out.
fn attainable_peaks(plan: &Plan, cases: &[Case], opts: &RunOptions, env: &Environment) -> HashMap<usize, super::peak::Peaks> {
    let mut out = HashMap::new();
    if !plan.metrics.contains(&Metric::Latency) {
        return out;
    }
    for case in cases {
        let t = case.workload.threads;
        if out.contains_key(&t) {
            continue;
        }
        match super::peak::attainable(&opts.cache_dir, &env.cpu.model, env.cpu.logical_cores, &env.onnxruntime_version, t) {
            Ok(p) if opts.verbosity == Verbosity::Quiet => {
                out.insert(t, p);
            }
            Ok(p) => {
                eprintln!("peak     {t} threads: fp32 {:.1} GMAC/s, int8 {:.1} GMAC/s (ONNX Runtime, {n}³ GEMM, measured {})", p.fp32_gmac_per_s, p.int8_gmac_per_s, p.measured_at, n = p.size);
                out.insert(t, p);
            }
            Err(e) => eprintln!("peak     {t} threads: not measured ({e}); cases show no % of attainable peak"),
        }
    }
    out
}

/// What preparing a suite's models, datasets and variants left for the jobs.
struct Prepared {
    variants: HashMap<(String, String), VariantInfo>,
    dataset_files: HashMap<String, Result<PathBuf, String>>,
}

/// Prepares every model, dataset and variant of `plan` in this process (a failure is recorded in
/// its info, not returned) and lists them in `results`; for a shard (`opts.shard`), only the
/// models that `cases` use.
fn prepare_all(plan: &Plan, cases: &[Case], opts: &RunOptions, results: &mut Results) -> Prepared {
    let only_cases = opts.shard.is_some();
    let cache_dir = &opts.cache_dir;
    // Quiet keeps the errors only.
    let say = |msg: String| {
        if opts.verbosity != Verbosity::Quiet || msg.contains("error: ") {
            eprintln!("{msg}");
        }
    };
    let mut model_infos: HashMap<String, ModelInfo> = HashMap::new();
    let models: Vec<_> = plan.models.iter().filter(|m| !only_cases || cases.iter().any(|c| c.model == m.name)).collect();
    for m in &models {
        say(format!("model    {} ({})", m.name, m.source));
        let info = std::panic::catch_unwind(|| prepare::obtain_model(m, cache_dir))
            .unwrap_or_else(|_| Err("preparing the model panicked".into()))
            .unwrap_or_else(|e| ModelInfo {
                name: m.name.clone(),
                source: m.source.to_string(),
                path: String::new(),
                sha256: String::new(),
                size_bytes: 0,
                error: Some(e),
            });
        if let Some(e) = &info.error {
            say(format!("         error: {e}"));
        }
        model_infos.insert(m.name.clone(), info.clone());
        results.models.push(info);
    }
    let mut dataset_files: HashMap<String, Result<PathBuf, String>> = HashMap::new();
    for d in &plan.datasets {
        let (file, sha) = match &d.kind {
            DatasetKind::Synthetic { .. } => (None, sha256_hex(serde_json::to_string(&d.kind).expect("serializes").as_bytes())),
            DatasetKind::Classification { file, .. } | DatasetKind::SentencePairs { file, .. } => {
                let r = prepare::resolve(file, cache_dir);
                let sha = r.as_ref().ok().and_then(|p| prepare::file_sha256(p).ok()).unwrap_or_default();
                dataset_files.insert(d.name.clone(), r.clone());
                (r.ok().map(|p| p.display().to_string()), sha)
            }
        };
        let examples = match &d.kind {
            DatasetKind::Synthetic { batches, .. } => *batches,
            DatasetKind::Classification { text: crate::data::TextOptions { limit, .. }, .. } | DatasetKind::SentencePairs { limit, .. } => file
                .as_ref()
                .and_then(|f| std::fs::read_to_string(f).ok())
                .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
                .map(|n| limit.map_or(n, |l| n.min(l)))
                .unwrap_or(0),
        };
        results.datasets.push(DatasetInfo { name: d.name.clone(), kind: d.kind.name().into(), path: file, sha256: sha, examples, tokenizer_sha256: None });
    }
    let mut variants: HashMap<(String, String), VariantInfo> = HashMap::new();
    for m in models {
        for v in plan.variants.iter().filter(|v| v.models.contains(&m.name)) {
            let model = &model_infos[&m.name];
            let info = match &model.error {
                Some(e) => prepare::failed_variant(&m.name, v, format!("model '{}': {e}", m.name)),
                None => std::panic::catch_unwind(|| match prepare::with_model_tokenizer(v, m, cache_dir) {
                    Ok(v) => prepare::prepare_variant(model, &v, cache_dir),
                    Err(e) => prepare::failed_variant(&m.name, v, e),
                })
                    .unwrap_or_else(|_| prepare::failed_variant(&m.name, v, "preparing the variant panicked".into())),
            };
            if !v.steps.is_empty() {
                let how = if info.cached { "cached".to_string() } else { format!("{:.1} s", info.prepare_s) };
                say(format!("variant  {}/{} ({how}){}", m.name, v.name, info.error.as_ref().map(|e| format!(" error: {e}")).unwrap_or_default()));
            }
            variants.insert((m.name.clone(), v.name.clone()), info.clone());
            results.variants.push(info);
        }
    }
    Prepared { variants, dataset_files }
}

/// Turns cases into worker jobs, inspecting each variant once per batch × seq (params, MACs,
/// vocabulary).
struct Jobs<'a> {
    plan: &'a Plan,
    cache_dir: &'a Path,
    env: &'a Environment,
    prepared: &'a Prepared,
    /// Attainable GEMM peaks by thread count.
    peaks: &'a HashMap<usize, super::peak::Peaks>,
    inspected: HashMap<(String, String, usize, usize), Inspected>,
}

/// A variant's parameter counts, vocabulary and size at one batch × seq, or why they are unknown.
type Inspected = Result<(Params, usize, u64), String>;

impl Jobs<'_> {
    /// The job of `case` and its parameter counts, or why it cannot run (with the counts when known).
    #[allow(clippy::result_large_err)] // the error carries the parameter counts a failed case still records
    fn job(&mut self, case: &Case) -> Result<(Job, Params), (String, Option<Params>)> {
        let plan = self.plan;
        let variants = &self.prepared.variants;
        let info = &variants[&(case.model.clone(), case.variant.clone())];
        if let Some(e) = &info.error {
            return Err((e.clone(), None));
        }
        let path = PathBuf::from(info.path.as_ref().expect("prepared"));
        let w = &case.workload;
        let key = (case.model.clone(), case.variant.clone(), w.batch, w.seq);
        let inspected = self.inspected.entry(key).or_insert_with(|| inspect(&path, w.batch, w.seq)).clone();
        let (params, vocab, size) = inspected.map_err(|e| (e, None))?;
        let reference_path = case.fidelity_against.as_ref().and_then(|r| variants.get(&(case.model.clone(), r.clone()))).and_then(|i| i.path.clone()).map(PathBuf::from);
        let model = plan.model(&case.model).expect("planned model");
        let tokenizer = match &model.tokenizer {
            Some(t) if !case.accuracy.is_empty() => Some(prepare::resolve(t, self.cache_dir).map_err(|e| (format!("tokenizer: {e}"), Some(params.clone())))?),
            _ => None,
        };
        let mut datasets = Vec::new();
        for name in &case.accuracy {
            let d = plan.dataset(name).expect("validated dataset");
            let file = match self.prepared.dataset_files.get(name) {
                Some(Ok(p)) => Some(p.clone()),
                Some(Err(e)) => return Err((format!("dataset '{name}': {e}"), Some(params.clone()))),
                None => None,
            };
            datasets.push((name.clone(), d.kind.clone(), file));
        }
        let (lengths, seed, batches) = match plan.latency_inputs.as_ref().and_then(|n| plan.dataset(n)).map(|d| &d.kind) {
            Some(DatasetKind::Synthetic { lengths, seed, batches }) => (lengths.clone(), *seed, *batches),
            _ => (Lengths::Full, 0, 4),
        };
        let int8 = params.weight_bytes_by_dtype.iter().filter(|(k, _)| k.contains("int8")).map(|(_, v)| *v).sum::<u64>() * 2 > params.weight_bytes;
        let cpu = &self.env.cpu;
        let peak = if int8 { cpu.peak_int8_ops_per_core } else { cpu.peak_fp32_flops_per_core };
        let job = Job {
            case: case.clone(),
            variant_path: path,
            reference_path,
            vocab,
            flops: Some(params.flops),
            peak_per_core: peak,
            attainable: self.peaks.get(&case.workload.threads).map(|p| Attainable {
                precision: if int8 { "int8" } else { "fp32" }.into(),
                gmac_per_s: if int8 { p.int8_gmac_per_s } else { p.fp32_gmac_per_s },
            }),
            model_file_bytes: size,
            weight_bytes_by_dtype: params.weight_bytes_by_dtype.clone(),
            tokenizer,
            datasets,
            lengths,
            seed,
            fidelity_batches: batches,
            run: plan.run.clone(),
            metrics: plan.metrics.clone(),
        };
        Ok((job, params))
    }
}

/// The parameter counts, vocabulary and size of the model at `path` for `batch` × `seq`.
fn inspect(path: &Path, batch: usize, seq: usize) -> Inspected {
    let (r, vocab) = prepare::inspect(path, batch, seq)?;
    let params = Params {
        parameters: r.parameters,
        parameters_by_dtype: r.parameters_by_dtype.clone(),
        parameters_by_op: r.parameters_by_op.clone(),
        weight_bytes: r.weight_bytes,
        weight_bytes_by_dtype: r.weight_bytes_by_dtype.clone(),
        macs: r.compute.macs,
        flops: r.flops,
    };
    Ok((params, vocab, r.size_bytes))
}

/// What a run reports as it goes, in the order it happens: workers starting, case-rounds ending,
/// cases recorded, and how the run ended. The scheduler only calls these; how they show is the
/// implementation's ([`Reporter`] for the command line).
trait Progress {
    /// Models and variants are prepared: the cases start.
    fn begin(&self);
    /// A worker started on `what`: the case id, with `(round r/n)` when the run has rounds.
    fn running(&self, what: &str);
    /// One more case-round ended (measured, failed, or skipped after an earlier round failed).
    fn slot_done(&self);
    /// A case finished round `round` (0-based) of `rounds`, not its last: its record so far.
    fn case_round(&self, rec: &CaseResult, round: usize, rounds: usize);
    /// A case was recorded (after its last round, or its failure).
    fn case_done(&self, rec: &CaseResult);
    /// The run ended.
    fn finish(&self, end: End);
}

/// How a run ended, for [`Progress::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Every case was recorded.
    Finished,
    /// A signal stopped it.
    Interrupted,
    /// An error stopped it (a scratch file or results.json could not be written).
    Stopped,
}

/// The command line's [`Progress`]: a bar counting finished cases (on a terminal), a line per
/// finished case, and with rounds a line per finished case-round when no bar shows it (see
/// [`Verbosity`]).
struct Reporter {
    /// Counts case-rounds (so that it fills and its ETA holds with rounds); its text counts cases.
    bar: indicatif::ProgressBar,
    cases: usize,
    done: std::cell::Cell<usize>,
    case_lines: bool,
    round_lines: bool,
}

impl Reporter {
    fn new(cases: usize, rounds: usize, opts: &RunOptions) -> Reporter {
        let quiet = opts.verbosity == Verbosity::Quiet;
        let bar = if opts.progress && !quiet {
            let bar = indicatif::ProgressBar::new((cases * rounds) as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] ETA {eta} {wide_msg}")
                    .expect("template")
                    .progress_chars("=> "),
            );
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        let round_lines = !quiet && (opts.verbosity == Verbosity::Verbose || bar.is_hidden());
        Reporter { bar, cases, done: std::cell::Cell::new(0), case_lines: !quiet, round_lines }
    }

    fn print(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

impl Progress for Reporter {
    /// The bar's clock and ETA start with the cases, not with the preparation.
    fn begin(&self) {
        self.bar.reset_elapsed();
        self.bar.reset_eta();
    }

    /// The bar's text: cases done, and what runs now.
    fn running(&self, what: &str) {
        self.bar.set_message(format!("{}/{} cases done, running {what}", self.done.get(), self.cases));
    }

    fn slot_done(&self) {
        self.bar.inc(1);
    }

    /// A line with the latency so far (when round lines are on).
    fn case_round(&self, rec: &CaseResult, round: usize, rounds: usize) {
        if !self.round_lines {
            return;
        }
        let mut s = format!("round {}/{rounds} {}", round + 1, rec.id);
        if let Some(l) = &rec.latency {
            s.push_str(&format!("  p50 so far {:.3} ms [{:.3}, {:.3}]  n={}", l.p50_ms, l.p50_ci_ms[0], l.p50_ci_ms[1], l.iterations));
        }
        self.print(s);
    }

    /// The case's [`line`] (unless quiet).
    fn case_done(&self, rec: &CaseResult) {
        self.done.set(self.done.get() + 1);
        if self.case_lines {
            self.print(line(rec));
        }
    }

    /// The bar goes (finished) or stays with the reason (interrupted, stopped).
    fn finish(&self, end: End) {
        match end {
            End::Finished => self.bar.finish_and_clear(),
            End::Interrupted => self.bar.abandon_with_message("interrupted"),
            End::Stopped => self.bar.abandon_with_message("stopped"),
        }
    }
}

/// Wake-ups of the scheduling loop: a worker ended (sent by the thread [`Wakeups::watch`] starts
/// for it) or the run was interrupted (sent by [`Interrupts`]). A wake-up only says "look again":
/// the loop then checks every worker, so one that is late or about another worker does no harm.
struct Wakeups {
    tx: Sender<()>,
    rx: Receiver<()>,
    /// A wake-up was taken while waiting for something else ([`Wakeups::interrupt_within`]): the
    /// next [`Wakeups::wait`] returns at once.
    pending: bool,
}

impl Wakeups {
    fn new() -> Wakeups {
        let (tx, rx) = std::sync::mpsc::channel();
        Wakeups { tx, rx, pending: false }
    }

    fn sender(&self) -> Sender<()> {
        self.tx.clone()
    }

    /// Drops the wake-ups so far: called before the loop looks at every worker.
    fn clear(&mut self) {
        self.pending = false;
        while self.rx.try_recv().is_ok() {}
    }

    /// Blocks until a wake-up, or until `deadline` (the first running case's time limit) passes;
    /// returns at once without a deadline (no worker runs: nothing would wake it).
    fn wait(&mut self, deadline: Option<Instant>) {
        if std::mem::take(&mut self.pending) {
            return;
        }
        if let Some(d) = deadline {
            // Just past it, so that the case is over its limit when looked at.
            let _ = self.rx.recv_timeout(d.saturating_duration_since(Instant::now()) + Duration::from_millis(1));
        }
    }

    /// Whether `flag` is set within `within`, waking on each wake-up to look (a worker's wake-up
    /// taken meanwhile is kept for the next [`Wakeups::wait`]).
    fn interrupt_within(&mut self, flag: &AtomicBool, within: Duration) -> bool {
        let until = Instant::now() + within;
        while !flag.load(Ordering::SeqCst) {
            match self.rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(()) => self.pending = true,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return flag.load(Ordering::SeqCst),
            }
        }
        true
    }

    /// Starts a thread that sends a wake-up when the worker `pid` ends. It waits with `WNOWAIT`,
    /// leaving the worker unreaped: only its `Child` reaps it, so its pid cannot be reused while
    /// the runner may still kill it. When the `Child` reaped it first, `waitid` fails at once
    /// (or waits for another child given the same pid: one more harmless wake-up).
    fn watch(&self, pid: u32) {
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            loop {
                // SAFETY: `info` is a valid, writable siginfo_t; waitid only writes into it.
                let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOWAIT) };
                if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    break;
                }
            }
            let _ = tx.send(());
        });
    }
}

/// The runs of this process that a signal interrupts. ctrlc allows one handler per process, so
/// it is installed once and sets the flag of, and wakes, every run registered at the time.
struct Interrupts {
    id: u64,
    flag: Arc<AtomicBool>,
}

/// A run registered with the handler: its interruption flag and wake-up sender.
struct Registered {
    id: u64,
    flag: Arc<AtomicBool>,
    wake: Sender<()>,
}

/// The runs registered now.
static RUNS: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

impl Interrupts {
    /// Registers a run (until the value is dropped), installing the handler on first use.
    fn register(wake: Sender<()>) -> Interrupts {
        static HANDLER: std::sync::Once = std::sync::Once::new();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        HANDLER.call_once(|| {
            // SIGINT, SIGTERM and SIGHUP (ctrlc's `termination` feature).
            let _ = ctrlc::set_handler(|| {
                for run in RUNS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                    run.flag.store(true, Ordering::SeqCst);
                    let _ = run.wake.send(());
                }
            });
        });
        let id = NEXT.fetch_add(1, Ordering::SeqCst);
        let flag = Arc::new(AtomicBool::new(false));
        RUNS.lock().unwrap_or_else(|p| p.into_inner()).push(Registered { id, flag: flag.clone(), wake });
        Interrupts { id, flag }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        RUNS.lock().unwrap_or_else(|p| p.into_inner()).retain(|r| r.id != self.id);
    }
}

/// The schedule: every case's round 1, then every case's round 2, ... (one slot a case when rounds
/// is 1). A case is finished, recorded and saved after its last round; one that fails in a round
/// is recorded as that failure and skips its later rounds.
struct Schedule<'a> {
    plan: &'a Plan,
    cases: &'a [Case],
    opts: &'a RunOptions,
    work: &'a Path,
    rounds: usize,
    /// (case index, round) in the order they start.
    slots: Vec<(usize, usize)>,
    next: usize,
    running: Vec<Running>,
    /// Cases between rounds: the record so far and the job.
    partial: HashMap<usize, (CaseResult, Job)>,
    /// Cases that failed before their last round, waiting for its place.
    failed: HashMap<usize, CaseResult>,
    /// Cases ready to record, by index.
    finished: BTreeMap<usize, CaseResult>,
    progress: &'a dyn Progress,
}

impl Schedule<'_> {
    fn done(&self) -> bool {
        self.next >= self.slots.len() && self.running.is_empty()
    }

    /// When the first running worker reaches the time limit.
    fn next_deadline(&self) -> Option<Instant> {
        let limit = Duration::from_secs_f64(self.plan.run.time_limit_s);
        self.running.iter().filter_map(|r| r.started.checked_add(limit)).min()
    }

    fn kill_all(&mut self) {
        for mut r in self.running.drain(..) {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }

    /// After an interruption: every case between its rounds is recorded with the rounds it
    /// finished (status [`Status::Interrupted`]), and every case that failed in an earlier round
    /// with that failure. Cases that finished no round are not recorded.
    fn keep_unfinished(&mut self) {
        let rounds = self.rounds;
        for (index, (mut rec, _)) in std::mem::take(&mut self.partial) {
            let done = rec.latency.as_ref().map_or(1, |l| round_sizes(l).len());
            rec.status = Status::Interrupted;
            rec.error = Some(format!("the run was interrupted after {done} of {rounds} rounds of this case; its figures are those of the rounds it finished"));
            self.finished.insert(index, rec);
        }
        self.finished.extend(std::mem::take(&mut self.failed));
    }

    /// Starts workers until `jobs` run or no slot is left.
    fn start(&mut self, jobs: &mut Jobs, wakeups: &Wakeups) -> Result<(), Error> {
        let params_wanted = self.plan.metrics.contains(&Metric::Params);
        while self.running.len() < self.opts.jobs.max(1) && self.next < self.slots.len() {
            let (index, round) = self.slots[self.next];
            self.next += 1;
            let case = &self.cases[index];
            let started = Instant::now();
            if let Some(rec) = self.failed.remove(&index) {
                // Failed in an earlier round: recorded in its last round's place.
                self.settle(index, round, rec);
                self.progress.slot_done();
                continue;
            }
            match jobs.job(case) {
                Err((e, params)) => {
                    let mut r = blank(case, Status::Failed, Some(e), 0.0);
                    r.params = params.filter(|_| params_wanted);
                    self.settle(index, round, r);
                    self.progress.slot_done();
                }
                Ok((job, params)) => {
                    let running = self.spawn(index, round, started, job, Some(params).filter(|_| params_wanted))?;
                    wakeups.watch(running.child.id());
                    self.running.push(running);
                }
            }
        }
        Ok(())
    }

    /// Writes the job of `case` round `round` and starts its worker.
    fn spawn(&self, index: usize, round: usize, started: Instant, mut job: Job, params: Option<Params>) -> Result<Running, Error> {
        let case = &self.cases[index];
        if self.rounds > 1 {
            job.run = job.run.slice();
            if round > 0 {
                // Accuracy, fidelity and the profile are measured once (in round 1).
                job.datasets.clear();
                job.case.fidelity_against = None;
                job.metrics.retain(|m| *m != Metric::Profile);
            }
        }
        let stem = self.work.join(format!("case-{index}-round-{round}"));
        let job_path = stem.with_extension("job.json");
        let result_path = stem.with_extension("result.json");
        let stderr_path = stem.with_extension("stderr.txt");
        let _ = std::fs::remove_file(&result_path);
        std::fs::write(&job_path, serde_json::to_string(&job).expect("job serializes")).map_err(|source| Error::Scratch { path: job_path.clone(), source })?;
        let stderr = std::fs::File::create(&stderr_path).map_err(|source| Error::Scratch { path: stderr_path.clone(), source })?;
        let exe = &self.opts.worker_exe;
        let mut command = Command::new(exe);
        die_with_parent(&mut command);
        let child = command
            .arg("__worker")
            .arg(&job_path)
            .arg(&result_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::Spawn { exe: exe.clone(), source })?;
        let rounds = self.rounds;
        self.progress.running(&if rounds > 1 { format!("{} (round {}/{rounds})", case.id, round + 1) } else { case.id.clone() });
        Ok(Running { index, round, job, child, started, result_path, stderr_path, params })
    }

    /// Collects the workers that ended (or ran past the time limit) into records.
    fn collect(&mut self, interrupted: &AtomicBool, wakeups: &mut Wakeups) {
        let limit = Duration::from_secs_f64(self.plan.run.time_limit_s);
        let mut k = 0;
        while k < self.running.len() {
            let r = &mut self.running[k];
            let elapsed = r.started.elapsed();
            let status = match r.child.try_wait() {
                Ok(Some(s)) => Some(Ok(s)),
                Ok(None) if elapsed > limit => {
                    let _ = r.child.kill();
                    let _ = r.child.wait();
                    Some(Err(()))
                }
                Ok(None) => None,
                Err(_) => Some(Err(())),
            };
            let Some(status) = status else {
                k += 1;
                continue;
            };
            let r = self.running.remove(k);
            if !matches!(&status, Ok(s) if s.success()) && (interrupted.load(Ordering::SeqCst) || interruption_follows(&status, interrupted, wakeups)) {
                // Ctrl-C reaches the whole process group: a worker it killed did not crash, its
                // case is unfinished and not recorded.
                continue;
            }
            self.progress.slot_done();
            let mut rec = self.record_of(&r, status, elapsed.as_secs_f64());
            rec.params = r.params;
            if self.rounds == 1 {
                self.finished.insert(r.index, rec);
                continue;
            }
            let merged = match self.partial.remove(&r.index) {
                None => (rec, r.job),
                Some((so_far, job)) if rec.status == Status::Ok => (join_rounds(so_far, rec, &job), job),
                Some((_, job)) => (rec, job),
            };
            if merged.0.status != Status::Ok || r.round + 1 == self.rounds {
                self.settle(r.index, r.round, merged.0);
            } else {
                self.progress.case_round(&merged.0, r.round, self.rounds);
                self.partial.insert(r.index, merged);
            }
        }
    }

    /// The record of a worker that ended with `status` (`Err` when killed at the time limit).
    fn record_of(&self, r: &Running, status: Result<std::process::ExitStatus, ()>, wall: f64) -> CaseResult {
        let case = &self.cases[r.index];
        match status {
            Err(()) => blank(case, Status::Timeout, Some(format!("killed at the time limit of {} s{}", self.plan.run.time_limit_s, stderr_tail(&r.stderr_path))), wall),
            Ok(s) => match std::fs::read_to_string(&r.result_path).ok().and_then(|t| serde_json::from_str::<Outcome>(&t).ok()) {
                Some(o) if s.success() => {
                    let status = if o.error.is_some() { Status::Failed } else { Status::Ok };
                    let mut rec = blank(case, status, o.error, wall);
                    rec.latency = o.latency;
                    rec.memory = o.memory;
                    rec.accuracy = o.accuracy;
                    rec.fidelity = o.fidelity;
                    rec.profile = o.profile;
                    rec
                }
                _ => blank(case, Status::Crashed, Some(format!("worker {}{}", describe_exit(&s), stderr_tail(&r.stderr_path))), wall),
            },
        }
    }

    /// Records everything finished so far, in case order, saving `results` after each.
    fn record(&mut self, results: &mut Results, path: &Path) -> Result<(), Error> {
        for (_, rec) in std::mem::take(&mut self.finished) {
            self.progress.case_done(&rec);
            results.cases.push(rec);
            results.save(path)?;
        }
        Ok(())
    }

    /// A case's record once a round ended it: finished in its last round, else kept until then (so
    /// cases are recorded in suite order).
    fn settle(&mut self, index: usize, round: usize, rec: CaseResult) {
        if round + 1 == self.rounds {
            self.finished.insert(index, rec);
        } else {
            self.failed.insert(index, rec);
        }
    }
}

/// Whether a worker killed by SIGINT, SIGTERM or SIGHUP was killed by an interruption of the
/// whole run: the signal reaches the worker and the runner together, and the worker may die
/// before the runner's handler has set the flag, so the flag is given a moment (up to 0.5 s).
fn interruption_follows(status: &Result<std::process::ExitStatus, ()>, interrupted: &AtomicBool, wakeups: &mut Wakeups) -> bool {
    use std::os::unix::process::ExitStatusExt;
    if !matches!(status, Ok(s) if matches!(s.signal(), Some(libc::SIGINT | libc::SIGTERM | libc::SIGHUP))) {
        return false;
    }
    wakeups.interrupt_within(interrupted, Duration::from_millis(500))
}

/// Makes the process `command` starts die (SIGKILL) when this thread's process ends, however it
/// ends (SIGKILL included), so no worker runs on re-parented to PID 1. The worker stays in the
/// runner's process group, so a terminal's Ctrl-C or `kill -- -PGID` reaches it too. Linux:
/// `prctl(PR_SET_PDEATHSIG)` in the child before `exec`; if the runner died between the fork and
/// the `prctl` (the signal would then never come), the child sees a new parent and exits at once.
/// Call from the thread that keeps running (the death signal follows the forking thread).
fn die_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid/prctl/getppid/_exit are async-signal-safe; nothing is allocated in the child.
    let runner = unsafe { libc::getpid() };
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != runner {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// The record of a case after one more round: timed runs joined in the order they ran (statistics
/// recomputed over all of them), the larger memory peaks, accuracy, fidelity and profile of round 1.
fn join_rounds(mut so_far: CaseResult, next: CaseResult, job: &Job) -> CaseResult {
    if let (Some(a), Some(b)) = (&so_far.latency, &next.latency) {
        let ms: Vec<f64> = a.samples_ms.iter().chain(&b.samples_ms).copied().collect();
        let sizes: Vec<usize> = round_sizes(a).into_iter().chain(round_sizes(b)).collect();
        let stop = format!("{} rounds", sizes.len());
        so_far.latency = Some(super::worker::latency_from_samples(job, a.warmup, ms, sizes, a.measured_s + b.measured_s, stop));
    }
    if let (Some(a), Some(b)) = (&mut so_far.memory, &next.memory) {
        a.session_peak_rss_bytes = a.session_peak_rss_bytes.max(b.session_peak_rss_bytes);
        a.run_peak_rss_bytes = a.run_peak_rss_bytes.max(b.run_peak_rss_bytes);
    }
    so_far.wall_s += next.wall_s;
    so_far
}

/// The samples per round of `l` (one round: all its samples).
fn round_sizes(l: &crate::results::Latency) -> Vec<usize> {
    if l.round_sizes.is_empty() { vec![l.samples_ms.len()] } else { l.round_sizes.clone() }
}

struct Running {
    index: usize,
    round: usize,
    job: Job,
    child: Child,
    started: Instant,
    result_path: PathBuf,
    stderr_path: PathBuf,
    params: Option<Params>,
}

fn blank(case: &Case, status: Status, error: Option<String>, wall_s: f64) -> CaseResult {
    CaseResult {
        id: case.id.clone(),
        model: case.model.clone(),
        variant: case.variant.clone(),
        reference: case.reference,
        workload: case.workload.clone(),
        status,
        error,
        wall_s,
        params: None,
        latency: None,
        memory: None,
        accuracy: Vec::new(),
        fidelity: None,
        profile: None,
        testbed: None,
    }
}

/// One line per finished case for the log.
pub fn line(r: &CaseResult) -> String {
    let mut s = format!("{:<8} {}", format!("{:?}", r.status).to_lowercase(), r.id);
    if let Some(l) = &r.latency {
        s.push_str(&format!("  p50 {:.3} ms [{:.3}, {:.3}]  p99 {:.3} ms  {:.1} seq/s  n={}", l.p50_ms, l.p50_ci_ms[0], l.p50_ci_ms[1], l.p99_ms, l.sequences_per_s, l.iterations));
    }
    if let Some(m) = &r.memory {
        s.push_str(&format!("  rss {:.0}/{:.0} MiB", m.session_peak_rss_bytes as f64 / 1048576.0, m.run_peak_rss_bytes as f64 / 1048576.0));
    }
    for a in &r.accuracy {
        s.push_str(&format!("  {} {} {:.2}", a.dataset, a.primary, a.metrics.get(&a.primary).copied().unwrap_or(f64::NAN)));
    }
    if let Some(f) = &r.fidelity {
        s.push_str(&format!("  cos {:.5}", f.cosine));
    }
    if let Some(e) = &r.error {
        s.push_str(&format!("\n         {}", e.lines().next().unwrap_or("")));
    }
    s
}

fn describe_exit(s: &std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (_, Some(sig)) => {
            let name = match sig {
                4 => "SIGILL",
                6 => "SIGABRT",
                7 => "SIGBUS",
                8 => "SIGFPE",
                9 => "SIGKILL (out of memory?)",
                11 => "SIGSEGV",
                _ => "",
            };
            format!("killed by signal {sig} {name}").trim_end().to_string()
        }
        (Some(c), None) => format!("exited with status {c} without a result"),
        _ => "ended without a result".into(),
    }
}

/// The last lines of a worker's stderr, indented, for the error message.
fn stderr_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = &lines[lines.len().saturating_sub(8)..];
    format!("; stderr: {}", tail.join(" | "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::unix::fs::PermissionsExt;

    /// What the runner told its [`Progress`], in order.
    #[derive(Default)]
    struct Recorder(RefCell<Vec<String>>);

    impl Recorder {
        fn push(&self, s: String) {
            self.0.borrow_mut().push(s);
        }
    }

    impl Progress for Recorder {
        fn begin(&self) {
            self.push("begin".into());
        }
        fn running(&self, what: &str) {
            self.push(format!("running {what}"));
        }
        fn slot_done(&self) {
            self.push("slot done".into());
        }
        fn case_round(&self, rec: &CaseResult, round: usize, rounds: usize) {
            self.push(format!("round {}/{rounds} {}", round + 1, rec.id));
        }
        fn case_done(&self, rec: &CaseResult) {
            self.push(format!("case {} {}", rec.id, rec.status.word()));
        }
        fn finish(&self, end: End) {
            self.push(format!("finish {end:?}"));
        }
    }

    /// Runs bert-tiny's one case with `script` (sh) as the worker, under `run` settings; returns
    /// the results, what the progress heard and how long the run took.
    fn run_script(script: &str, run: &str) -> (Results, Vec<String>, Duration) {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bert-tiny.onnx");
        let suite = d.join("s.yaml");
        std::fs::write(
            &suite,
            format!("name: sched\nmodels:\n  bert: {{path: {}}}\nvariants:\n  fp32: {{reference: true}}\nworkloads: {{batch: [1], seq: [8], threads: [1]}}\nmetrics: [memory]\nrun: {{{run}}}\n", model.display()),
        )
        .unwrap();
        let worker = d.join("worker.sh");
        std::fs::write(&worker, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&worker, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plan = crate::suite::load(&suite).unwrap();
        let cases = crate::suite::expand::expand(&plan);
        let mut opts = RunOptions::new(d.join("out"), worker);
        opts.cache_dir = d.join("cache");
        opts.progress = false;
        opts.verbosity = Verbosity::Quiet;
        let recorder = Recorder::default();
        let t = Instant::now();
        let results = run_with(&plan, &cases, &opts, &recorder).unwrap();
        (results, recorder.0.into_inner(), t.elapsed())
    }

    // Why: the loop polled every 5 ms; it now sleeps until a worker ends or a time limit passes. A
    // worker that ends must wake it at once, not at the case's time limit (here 10 minutes).
    #[test]
    fn a_worker_that_ends_wakes_the_runner_and_progress_hears_each_step() {
        let (r, heard, took) = run_script("exit 3", "time_limit_s: 600, rounds: 2");
        assert!(took < Duration::from_secs(120), "woke at the worker's end, not at the time limit: {took:?}");
        let c = &r.cases[0];
        assert_eq!(c.status, Status::Crashed);
        assert!(c.error.as_deref().unwrap().contains("exited with status 3 without a result"), "{:?}", c.error);
        // Round 1 fails; round 2 is skipped (its slot still counts) and the case is recorded.
        let id = &c.id;
        assert_eq!(heard, ["begin".into(), format!("running {id} (round 1/2)"), "slot done".into(), "slot done".into(), format!("case {id} crashed"), "finish Finished".into()]);
    }

    #[test]
    fn a_worker_past_its_time_limit_is_killed_at_the_limit() {
        let (r, heard, took) = run_script("exec sleep 600", "time_limit_s: 1");
        assert!(took < Duration::from_secs(120), "killed at the limit, not when the worker ended: {took:?}");
        let c = &r.cases[0];
        assert_eq!(c.status, Status::Timeout, "{:?}", c.error);
        assert!(c.wall_s >= 1.0, "not before the limit: {}", c.wall_s);
        assert_eq!(heard, ["begin".into(), format!("running {}", c.id), "slot done".into(), format!("case {} timeout", c.id), "finish Finished".into()]);
    }
}
