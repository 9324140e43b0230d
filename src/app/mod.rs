//! The verbs of the `squeezebench` command, one function each, with their flags (clap derive
//! structs, so `--help` reads the doc comments here). `main.rs` parses the command line, calls the
//! verb and turns its [`Outcome`] into an exit code; the policies (what a verb does after what, and
//! when it fails) live here, where tests can call them.
//!
//! This is the top layer: it may use every other module and none uses it.

pub mod bench;
pub mod emit;
pub mod profile;
pub mod quantize;
pub mod rewrite;
pub mod run;
pub mod scale;

use std::path::{Path, PathBuf};

use crate::onnx::{check, stats, Model, SaveOptions};
use crate::synth::{self, Arch, Head};

/// How a verb ended, besides with an error (exit 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: a check failed (structural problems, a fidelity bound, an accuracy goal, a gate
    /// regression).
    CheckFailed,
    /// Exit 3: a suite case failed, crashed or timed out.
    CasesFailed,
    /// Exit 130: interrupted by Ctrl-C.
    Interrupted,
}

impl Outcome {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::CheckFailed => 1,
            Outcome::CasesFailed => 3,
            Outcome::Interrupted => 130,
        }
    }
}

/// Errors of a verb: the error of the module that failed, or a message about the arguments.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Onnx(#[from] crate::onnx::Error),
    #[error(transparent)]
    Passes(#[from] crate::passes::Error),
    #[error(transparent)]
    Quant(#[from] crate::quant::Error),
    #[error(transparent)]
    Compare(#[from] crate::measure::compare::Error),
    #[error(transparent)]
    Data(#[from] crate::data::Error),
    #[error(transparent)]
    Synth(#[from] crate::synth::Error),
    #[error(transparent)]
    Suite(#[from] crate::suite::Error),
    #[error(transparent)]
    Run(#[from] crate::bench::runner::Error),
    #[error(transparent)]
    Results(#[from] crate::results::Error),
    #[error(transparent)]
    Report(#[from] crate::report::Error),
    #[error(transparent)]
    Gate(#[from] crate::gate::Error),
    #[error(transparent)]
    Profile(#[from] crate::profile::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Message(String),
}

impl From<String> for Error {
    fn from(s: String) -> Error {
        Error::Message(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Error {
        Error::Message(s.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A clap value parser for a whole number in `range`: clap's error names the flag, this says the
/// range (`--samples 18446744073709551615` is refused before anything is allocated for it).
pub fn whole(range: std::ops::RangeInclusive<usize>) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.trim().parse::<usize>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {} to {}", range.start(), range.end())),
    }
}

/// A clap value parser for a finite number in `range` (NaN and infinities refused: `--max-drop
/// nan` would disable the check it sets).
pub fn number(range: std::ops::RangeInclusive<f64>) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s: &str| match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && range.contains(&x) => Ok(x),
        _ => Err(format!("expected a number from {} to {}", range.start(), range.end())),
    }
}

/// Weight storage of an output model (`--external`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum External {
    Auto,
    Inline,
    External,
}

impl From<External> for crate::onnx::ExternalMode {
    fn from(e: External) -> Self {
        match e {
            External::Auto => crate::onnx::ExternalMode::Auto,
            External::Inline => crate::onnx::ExternalMode::Inline,
            External::External => crate::onnx::ExternalMode::External,
        }
    }
}

/// Flags of `inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The .onnx file (external data is read from its folder).
    pub model: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Batch size assumed for the symbolic batch axis when counting MACs/FLOPs (1 to 4096).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..=4096))]
    pub batch: i64,
    /// Sequence length assumed for the symbolic sequence axis when counting MACs/FLOPs (1 to 65536).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(i64).range(1..=65536))]
    pub seq: i64,
    /// Also print the structural check's verdict when it finds nothing. The check always runs:
    /// its problems (cycles, undefined inputs, duplicate names, unknown ops, bad tensors) are
    /// listed on stderr after the report and the exit code is 1.
    #[arg(long)]
    pub check: bool,
}

/// `inspect`: the report on stdout, structural problems on stderr (exit 1).
pub fn inspect(a: InspectArgs) -> Result<Outcome> {
    let m = Model::load(&a.model)?;
    let report = stats::inspect(&m, a.batch, a.seq)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", stats::render_text(&report));
    }
    let problems = check::check(&m);
    if !problems.is_empty() {
        eprintln!("{} structural problem(s) in '{}':", problems.len(), a.model.display());
        for p in &problems {
            eprintln!("  - {p}");
        }
        return Ok(Outcome::CheckFailed);
    }
    if a.check && !a.json {
        println!("\ncheck      no structural problems");
    }
    Ok(Outcome::Ok)
}

/// `--arch`: the library's architecture names, listed in the help.
fn arch_parser() -> impl clap::builder::TypedValueParser<Value = Arch> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(Arch::ALL.map(Arch::name)).try_map(|s| s.parse::<Arch>())
}

/// Flags of `synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    #[arg(long, value_parser = arch_parser())]
    pub arch: Arch,
    /// A Hugging Face config.json (default: config.json beside --weights, if any).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one config key, e.g. --set num_hidden_layers=6 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Take the weights from this safetensors checkpoint instead of random ones.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// none, classification (num_labels from the config) or classification:N.
    #[arg(long, default_value = "none")]
    pub head: Head,
    /// Seed of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the model.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
}

/// `synth`: builds the model and writes it.
pub fn synth(a: SynthArgs) -> Result<Outcome> {
    let config = synth::load_config(a.arch, a.config.as_deref(), a.weights.as_deref(), &a.sets)?;
    remove_temporaries_on_signal(&a.output);
    let model = synth::synthesize(&synth::Options { config, head: a.head, seed: a.seed, weights: a.weights })?;
    let summary = model.save(&a.output, &SaveOptions { force: a.force, ..Default::default() })?;
    let params = stats::inspect(&model, 1, 128)?.parameters;
    eprintln!("wrote {} ({}, {} parameters)", summary.path.display(), crate::util::human_bytes(summary.bytes), crate::util::group(params));
    Ok(Outcome::Ok)
}

/// On Ctrl-C, SIGTERM or SIGHUP, removes the temporary files a save of `output` (and of its
/// external data file) may be filling, then exits 130: an interrupted write of a large model
/// leaves nothing behind (they can be gigabytes).
fn remove_temporaries_on_signal(output: &Path) {
    let name = output.file_name().unwrap_or_default().to_string_lossy();
    let temps = [crate::util::temp_path(output), crate::util::temp_path(&output.with_file_name(format!("{name}.data")))];
    let _ = ctrlc::set_handler(move || {
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
        std::process::exit(130);
    });
}

/// Flags of `gate`.
#[derive(Debug, clap::Args)]
pub struct GateArgs {
    /// The run the current one is judged against: its results.json, its output folder, or the
    /// name of a baseline saved for the current run's suite (`run --save-baseline NAME`). A value
    /// naming an existing file or folder is a path; anything else is a name.
    #[arg(long)]
    pub baseline: String,
    /// The run under test: its results.json or its output folder.
    #[arg(long)]
    pub current: PathBuf,
    /// A YAML (or JSON) file of thresholds, keys as in a suite's `thresholds:` (default: the
    /// thresholds stored in the current results, i.e. its suite's).
    #[arg(long)]
    pub thresholds: Option<PathBuf>,
    /// Append the Markdown table to this file (e.g. $GITHUB_STEP_SUMMARY).
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Compare runs from different machines or ONNX Runtime versions anyway.
    #[arg(long)]
    pub allow_env_change: bool,
    /// Where baselines saved by name are kept (as for `run`).
    #[arg(long, default_value = crate::results::store::DEFAULT_DIR)]
    pub baselines_dir: PathBuf,
    /// Fail when a check cannot judge (its intervals are too wide to see the threshold), not
    /// only on regressions.
    #[arg(long)]
    pub strict: bool,
}

/// `gate`: the Markdown table on stdout (and appended to `--summary`); a regression fails.
pub fn gate(a: GateArgs) -> Result<Outcome> {
    let store = crate::results::store::Store::new(&a.baselines_dir);
    // A baseline given by path is read first; a name needs the current run's suite.
    let (base, cur) = if Path::new(&a.baseline).exists() {
        let (_, base) = store.load_path_or_name("", &a.baseline)?;
        (base, crate::results::Results::load_run(&a.current)?)
    } else {
        let cur = crate::results::Results::load_run(&a.current)?;
        (store.load_path_or_name(&cur.suite.name, &a.baseline)?.1, cur)
    };
    let t = match a.thresholds {
        Some(path) => crate::results::thresholds::load(&path)?,
        None => cur.thresholds.clone(),
    };
    let report = crate::gate::compare(&base, &cur, &t, &crate::gate::Options { allow_env_change: a.allow_env_change, strict: a.strict })?;
    let md = report.render_markdown();
    print!("{md}");
    if let Some(path) = a.summary {
        append(&path, &md)?;
    }
    Ok(if report.failed() { Outcome::CheckFailed } else { Outcome::Ok })
}

/// Appends `text` and a line break to `path` (created if missing).
fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let fail = |e: std::io::Error| Error::Message(format!("cannot append to '{}': {e}", path.display()));
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(fail)?;
    writeln!(f, "{text}").map_err(fail)
}

/// Flags of `report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run: its results.json or its output folder.
    pub results: PathBuf,
    /// Folder to write the reports into (created if missing).
    #[arg(short, long, visible_alias = "out")]
    pub output: PathBuf,
}

/// `report`: renders every report of a results file.
pub fn report(a: ReportArgs) -> Result<Outcome> {
    let r = crate::results::Results::load_run(&a.results)?;
    for path in crate::report::write_all(&r, &a.output)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(Outcome::Ok)
}
