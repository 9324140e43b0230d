//! `rewrite`: fix input shapes, run passes, save; with `--report` and a lossy pass, the fidelity of
//! the result to the input model.

use std::path::PathBuf;

use super::{External, Outcome, Result};
use crate::measure::compare;
use crate::onnx::{check, shapes, Model, SaveOptions};
use crate::passes;

/// Seeded synthetic batches the fidelity of a lossy rewrite is measured on.
const FIDELITY_SAMPLES: usize = 3;

/// Flags of `rewrite`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The input .onnx file.
    pub model: PathBuf,
    /// Where to write the result (refused if it is the input).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Weight storage: auto (external when the input has external data or the model would
    /// pass protobuf's 2 GiB limit), inline, or external (`<output>.data` beside the output).
    #[arg(long, value_enum, default_value_t = External::Auto)]
    pub external: External,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Comma-separated passes to run to a fixed point, or `default` (listed below). Options
    /// follow a colon: low-rank:rank=256,min-params=2000000.
    #[arg(long, value_name = "P1,P2,...|default")]
    pub passes: Option<String>,
    /// Stop after this many patches (to bisect a bad rewrite).
    #[arg(long, value_name = "N", requires = "passes")]
    pub max_steps: Option<usize>,
    /// Print what each pass did: patches, nodes, initializers and weight bytes before/after.
    #[arg(long, requires = "passes")]
    pub report: bool,
    /// Fix the dims of a graph input before the passes run, e.g. --fix-shape input_ids=1x128
    /// (repeatable, or comma-separated). Its symbolic dims get the value wherever they appear
    /// (inputs sharing `batch`/`sequence` are fixed together), so constant-folding can fold the
    /// Shape chains. The output model keeps the fixed dims.
    #[arg(long = "fix-shape", value_name = "NAME=DIMS")]
    pub fix_shape: Vec<String>,
}

/// The pass list of `rewrite --help`: every registered pass and what `default` means.
pub fn pass_list() -> String {
    let mut list = String::from("Passes:\n");
    for p in passes::registry() {
        list.push_str(&format!("  {:<20} {}\n", p.name(), p.describe()));
    }
    list.push_str(&format!("  {:<20} {}", "default", passes::DEFAULT.join(",")));
    list
}

/// `rewrite`.
pub fn rewrite(a: Args) -> Result<Outcome> {
    let mut fixes = Vec::new();
    for spec in &a.fix_shape {
        fixes.extend(shapes::parse_fixed_shapes(spec).map_err(|e| format!("--fix-shape: {e}"))?);
    }
    let pipeline = match &a.passes {
        Some(list) => {
            let mut p = passes::Pipeline::new(passes::parse_list(list)?);
            p.max_steps = a.max_steps;
            Some(p)
        }
        None => None,
    };
    let lossy = a.report && pipeline.as_ref().is_some_and(|p| p.passes.iter().any(|p| p.name() == "low-rank"));
    let mut m = Model::load(&a.model)?;
    check::ensure_sound(&m)?;
    if !fixes.is_empty() {
        let bound = shapes::fix_input_shapes(&mut m, &fixes)?;
        let bound: Vec<String> = bound.iter().map(|(s, v)| format!("{s}={v}")).collect();
        eprintln!("fixed input dims{}", if bound.is_empty() { String::new() } else { format!(" ({})", bound.join(", ")) });
    }
    if let Some(pipeline) = pipeline {
        let r = pipeline.run(&mut m)?;
        if a.report {
            for line in &r.log {
                eprintln!("{line}");
            }
            print!("{}", r.render_text());
        }
        for note in &r.notes {
            eprintln!("note: {note}");
        }
    }
    let summary = m.save(&a.output, &SaveOptions { external: a.external.into(), force: a.force, ..Default::default() })?;
    eprintln!("wrote {} ({})", summary.path.display(), crate::util::human_bytes(summary.bytes));
    if let Some((data, len)) = &summary.external {
        eprintln!("      {} ({}, {} tensors)", data.display(), crate::util::human_bytes(*len), summary.external_tensors);
    }
    if lossy {
        let f = compare::output_fidelity(&a.model, &a.output, FIDELITY_SAMPLES)?;
        print!("{}", compare::render_output_fidelity(&f, FIDELITY_SAMPLES));
    }
    Ok(Outcome::Ok)
}
