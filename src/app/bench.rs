//! `bench`: one-command measurement of one or more models, like hyperfine for ONNX models. The
//! models become a suite of one variant each (written to a scratch folder, then checked, prepared
//! and run exactly as `run` does: a worker process per case, the same statistics), measured
//! interleaved in rounds, and each model after the first is compared with the first: the ratio of
//! the medians with its 95 % interval.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Error, Outcome, Result};
use crate::results::{CaseResult, Results, Status};

/// Flags of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The models (ONNX files) to measure; the first is the one the others are compared with.
    #[arg(required = true, value_name = "MODEL")]
    pub models: Vec<PathBuf>,
    /// Sequences per run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub batch: u64,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub seq: u64,
    /// ONNX Runtime intra-op threads (0: ONNX Runtime's choice; default: the available cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=1024))]
    pub threads: Option<u64>,
    /// Measure each model in this many slices, interleaved with the others (the interval of the
    /// median covers how the machine's speed moves between slices; at least 3 for intervals you
    /// can trust).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub rounds: u64,
    /// Seconds of timed runs per model, in total over its rounds.
    #[arg(long, default_value_t = 3.0, value_parser = seconds)]
    pub min_time: f64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Keep the run in this folder (results.json and the reports, as `run` writes them) instead
    /// of a scratch folder removed at the end.
    #[arg(short, long, visible_alias = "out")]
    pub output: Option<PathBuf>,
    /// Where prepared files are cached (as for `run`).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

fn seconds(s: &str) -> std::result::Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(v)
    } else {
        Err(format!("{s} is not between 0 and 3600 seconds"))
    }
}

/// A name for each model from its file stem (made a plain name as run folders are), unique.
fn names(models: &[PathBuf]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in models {
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let base = crate::results::store::folder_name(&stem);
        let mut name = base.clone();
        let mut k = 2;
        while out.contains(&name) {
            name = format!("{base}-{k}");
            k += 1;
        }
        out.push(name);
    }
    out
}

/// The suite `bench` runs, as YAML (paths absolute, strings JSON-quoted, which YAML reads as is).
fn suite_yaml(a: &Args, models: &[(String, PathBuf)]) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut y = String::from("name: bench\nmodels:\n");
    for (name, path) in models {
        let _ = writeln!(y, "  {}: {{path: {}}}", q(name), q(&path.to_string_lossy()));
    }
    y.push_str("variants:\n  model: {reference: true}\n");
    let threads = a.threads.map(|t| format!(", threads: [{t}]")).unwrap_or_default();
    let _ = writeln!(y, "workloads: {{batch: [{}], seq: [{}]{threads}}}", a.batch, a.seq);
    y.push_str("metrics: [latency, memory, params]\n");
    let _ = writeln!(
        y,
        "run: {{warmup: 5, min_iterations: {}, min_time_s: {}, max_time_s: {}, target_cv: 0.05, time_limit_s: {}, rounds: {}}}",
        10 * a.rounds,
        a.min_time,
        (a.min_time * 2.0).max(a.min_time + 0.5),
        (a.min_time * 10.0).max(60.0),
        a.rounds
    );
    y
}

/// One model's figures and, after the first, its ratio to the first.
#[derive(Debug, serde::Serialize)]
pub struct Line {
    pub model: String,
    pub path: PathBuf,
    pub status: Status,
    pub error: Option<String>,
    pub p50_ms: Option<f64>,
    pub p50_ci_ms: Option<[f64; 2]>,
    pub p99_ms: Option<f64>,
    pub sequences_per_s: Option<f64>,
    /// `first p50 / this p50` (above 1: faster than the first model) and its 95 % interval.
    pub speedup_vs_first: Option<f64>,
    pub speedup_ci: Option<[f64; 2]>,
}

/// The lines of a bench run, in the order of the models.
pub fn lines(results: &Results, models: &[(String, PathBuf)]) -> Vec<Line> {
    let case = |name: &str| results.cases.iter().find(|c| c.model == name);
    let first = models.first().and_then(|(n, _)| case(n)).filter(|c| c.status == Status::Ok).and_then(|c| c.latency.as_ref());
    models
        .iter()
        .enumerate()
        .map(|(i, (name, path))| {
            let c: Option<&CaseResult> = case(name);
            let l = c.filter(|c| c.status == Status::Ok).and_then(|c| c.latency.as_ref());
            let (mut speedup, mut ci) = (None, None);
            if let (Some(f), Some(l), true) = (first, l, i > 0) {
                speedup = Some(f.p50_ms / l.p50_ms);
                ci = crate::measure::stats::speedup_interval(f.p50_ms, f.p50_ci_ms, l.p50_ms, l.p50_ci_ms);
            }
            Line {
                model: name.clone(),
                path: path.clone(),
                status: c.map_or(Status::Failed, |c| c.status),
                error: c.map_or_else(|| Some("no result (the run was interrupted)".into()), |c| c.error.clone()),
                p50_ms: l.map(|l| l.p50_ms),
                p50_ci_ms: l.map(|l| l.p50_ci_ms),
                p99_ms: l.map(|l| l.p99_ms),
                sequences_per_s: l.map(|l| l.sequences_per_s),
                speedup_vs_first: speedup,
                speedup_ci: ci,
            }
        })
        .collect()
}

/// The table `bench` prints: one line per model, then each comparison with the first. `threads`:
/// the intra-op threads the cases ran with.
pub fn render(lines: &[Line], a: &Args, threads: usize) -> String {
    use crate::util::ms;
    let mut o = String::new();
    let threads = match threads {
        0 => "ONNX Runtime's choice of threads".to_string(),
        1 => "1 thread".to_string(),
        t => format!("{t} threads"),
    };
    let _ = writeln!(o, "batch {} × seq {}, {threads}, {} round(s) per model, interleaved", a.batch, a.seq, a.rounds);
    let width = lines.iter().map(|l| l.model.len()).max().unwrap_or(0);
    for l in lines {
        match (l.p50_ms, l.p50_ci_ms) {
            (Some(p50), Some(ci)) => {
                let _ = writeln!(
                    o,
                    "  {:width$}  p50 {} ms (95 % CI {}–{})  p99 {} ms  {:.1} seq/s",
                    l.model,
                    ms(p50),
                    ms(ci[0]),
                    ms(ci[1]),
                    l.p99_ms.map(ms).unwrap_or_default(),
                    l.sequences_per_s.unwrap_or(0.0)
                );
            }
            _ => {
                let _ = writeln!(o, "  {:width$}  {}: {}", l.model, l.status.word(), l.error.as_deref().unwrap_or(""));
            }
        }
    }
    let Some(first) = lines.first() else { return o };
    for l in &lines[1..] {
        if let (Some(s), Some(ci)) = (l.speedup_vs_first, l.speedup_ci) {
            use crate::report::view::Speed;
            let verdict = match Speed::of(ci) {
                Speed::Faster => format!("{s:.2}× faster than"),
                Speed::Slower => format!("{:.2}× slower than", 1.0 / s),
                Speed::Same => format!("not measurably different from ({s:.2}×)"),
            };
            let _ = writeln!(o, "{} is {verdict} {} (speed-up 95 % CI {:.2}–{:.2}×)", l.model, first.model, ci[0], ci[1]);
        }
    }
    o
}

/// `bench`: measure the models, print the table (or JSON); exit 3 when a model failed.
pub fn bench(a: Args) -> Result<Outcome> {
    let mut models = Vec::new();
    for (name, path) in names(&a.models).into_iter().zip(&a.models) {
        models.push((name, model_file(path)?));
    }
    let scratch = tempfile::Builder::new().prefix("squeezebench-bench-").tempdir().map_err(|e| Error::Message(format!("cannot create a scratch folder: {e}")))?;
    let suite = scratch.path().join("bench.yaml");
    std::fs::write(&suite, suite_yaml(&a, &models)).map_err(|e| Error::Message(format!("cannot write '{}': {e}", suite.display())))?;
    let plan = crate::suite::load(&suite)?;
    crate::bench::preflight::check(&plan)?;
    let cases = crate::suite::expand(&plan);
    let out = a.output.clone().unwrap_or_else(|| scratch.path().join("run"));
    // As for `run`: one run at a time in an output folder.
    let _lock = crate::bench::runner::OutLock::take(&out)?;
    let mut opts = crate::bench::RunOptions::new(out.clone(), std::env::current_exe()?);
    if let Some(c) = &a.cache_dir {
        opts.cache_dir = c.clone();
    }
    let results = crate::bench::run(&plan, &cases, &opts)?;
    if a.output.is_some() {
        crate::report::write_all(&results, &out)?;
        eprintln!("wrote {} and the reports", out.join("results.json").display());
    }
    let lines = lines(&results, &models);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "models": lines })).unwrap_or_default());
    } else {
        print!("{}", render(&lines, &a, results.cases.first().map_or(0, |c| c.workload.threads)));
    }
    Ok(if results.interrupted {
        Outcome::Interrupted
    } else if lines.iter().any(|l| l.status != Status::Ok) {
        Outcome::CasesFailed
    } else {
        Outcome::Ok
    })
}

/// The absolute path of a model file, refusing what is missing or not a regular file.
fn model_file(path: &Path) -> Result<PathBuf> {
    std::fs::metadata(path).map_err(|e| Error::Message(format!("model '{}': {e}", path.display())))?;
    if let Some(kind) = crate::util::irregular_kind(path) {
        return Err(Error::Message(format!("model '{}' is {kind}, not a regular file", path.display())));
    }
    std::fs::canonicalize(path).map_err(|e| Error::Message(format!("model '{}': {e}", path.display())))
}
