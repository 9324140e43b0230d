//! `profile`: where the time of a run goes (see [`crate::profile`]).

use std::path::PathBuf;

use super::{Outcome, Result};
use crate::profile::Options;
use crate::runtime::OptimizationLevel;

/// Flags of `squeezebench profile`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// The .onnx file (external data is read from its folder).
    pub model: PathBuf,
    /// Rows per run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// Tokens per row (every position a token; ids seeded, below the model's vocabulary).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub seq: u32,
    /// Intra-op threads (0: ONNX Runtime's choice, one per physical core).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1024))]
    pub threads: u32,
    /// Profiled runs the figures are averaged over.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub runs: u32,
    /// Runs before those, left out of the figures.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub warmup: u32,
    /// ONNX Runtime's graph optimisation level. `all` (the default, as suites run) reports the
    /// op types of the fused graph; `disable` runs the file's own nodes one by one.
    #[arg(long, value_enum, default_value_t = Level::All)]
    pub opt_level: Level,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also list every node of the optimised graph, slowest first.
    #[arg(long)]
    pub nodes: bool,
    /// Write the report to this file (replaced atomically) instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// `--opt-level` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    Disable,
    Basic,
    Extended,
    All,
}

impl From<Level> for OptimizationLevel {
    fn from(l: Level) -> Self {
        match l {
            Level::Disable => OptimizationLevel::Disable,
            Level::Basic => OptimizationLevel::Basic,
            Level::Extended => OptimizationLevel::Extended,
            Level::All => OptimizationLevel::All,
        }
    }
}

/// Profiles the model and prints (or writes) the report.
pub fn profile(a: Args) -> Result<Outcome> {
    let options = Options {
        batch: a.batch as usize,
        seq: a.seq as usize,
        threads: a.threads as usize,
        runs: a.runs as usize,
        warmup: a.warmup as usize,
        optimization_level: a.opt_level.into(),
        nodes: a.nodes,
        ..Options::default()
    };
    let p = crate::profile::run(&a.model, &options)?;
    let text = if a.json { serde_json::to_string_pretty(&p)? + "\n" } else { crate::profile::render_text(&p) };
    match &a.output {
        Some(path) => {
            crate::util::replace_file(path, text.as_bytes()).map_err(|e| super::Error::Message(e.to_string()))?;
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Ok)
}
