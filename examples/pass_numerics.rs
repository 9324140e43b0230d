//! Numerics of each exact pass on a full-size model, through ONNX Runtime.
//!
//! Usage: `cargo run --release --example pass_numerics -- MODEL.onnx [--fix-shape SPEC] [--cases N] [--ort-opt disable|all] [--passes LIST]`
//!
//! For each pass alone, then `default` and `default,conv-matmul,gelu-fusion` (or only the list given
//! with `--passes`): rewrites the model
//! (after `--fix-shape SPEC` when given, e.g. `input_ids=1x128`), saves it to a scratch folder, and
//! runs the input model and the rewrite in ONNX Runtime on N (default 2) seeded token inputs of
//! batch 1 × 128 tokens (or the fixed shape). Prints patches, nodes before → after, and per float
//! output the max absolute error, the max relative error `|x − y| / max(|x|, |y|, 1e-6)` (the
//! tests' 1e-4 criterion) and the cosine similarity. `low-rank` is left out: it is lossy by design.
//! `--ort-opt disable` turns ONNX Runtime's own graph optimisations off for both models, so each
//! graph is computed as written (with them on, ONNX Runtime fuses the same patterns itself and the
//! two models often run the very same kernels).

use squeezebench::onnx::{shapes, Model, SaveOptions};
use squeezebench::data::Inputs;
use squeezebench::measure::compare;
use squeezebench::passes::{self, Pipeline};
use squeezebench::runtime::{OptimizationLevel, SessionOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: cargo run --release --example pass_numerics -- MODEL.onnx [--fix-shape SPEC] [--cases N]");
        std::process::exit(2);
    };
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let fix = flag("--fix-shape").map(|s| shapes::parse_fixed_shapes(&s)).transpose()?;
    let cases: usize = flag("--cases").map(|c| c.parse()).transpose()?.unwrap_or(2);
    let optimization_level = match flag("--ort-opt").as_deref() {
        Some("disable") => OptimizationLevel::Disable,
        Some("all") | None => OptimizationLevel::All,
        Some(other) => return Err(format!("--ort-opt must be disable or all, got '{other}'").into()),
    };
    let opts = SessionOptions { optimization_level, ..Default::default() };
    let dir = tempfile::tempdir()?;

    let mut lists: Vec<String> = passes::registry().iter().map(|p| p.name().to_string()).filter(|n| n != "low-rank").collect();
    lists.push("default".into());
    lists.push("default,conv-matmul,gelu-fusion".into());
    if let Some(only) = flag("--passes") {
        lists = vec![only];
    }
    let mut worst: f64 = 0.0;
    for list in &lists {
        let mut m = Model::load(path)?;
        if let Some(fix) = &fix {
            shapes::fix_input_shapes(&mut m, fix)?;
        }
        let r = Pipeline::new(passes::parse_list(list)?).run(&mut m)?;
        let out = dir.path().join("rewritten.onnx");
        m.save(&out, &SaveOptions { force: true, ..Default::default() })?;
        let data = Inputs::Synthetic { samples: cases, batch: 1, seq: 128 };
        let f = compare::output_fidelity_with(std::path::Path::new(path), &out, &data, &opts)?;
        println!("{list:<34} patches {:>4}  nodes {:>5} -> {:<5}", r.steps, r.before.nodes, r.after.nodes);
        for o in &f {
            let (rel, top) = (o.max_rel_error.unwrap_or_default(), o.max_abs_output.unwrap_or_default());
            worst = worst.max(rel);
            println!(
                "    {:<20} max abs {:.2e} (max |output| {top:.2})  max rel {rel:.2e}  cosine {:.9}",
                o.output, o.max_abs_error, o.cosine
            );
        }
        for note in &r.notes {
            println!("    note: {note}");
        }
    }
    println!("largest relative difference over all passes and outputs: {worst:.2e}");
    Ok(())
}
