//! The worker: one case in its own process (`squeezebench __worker JOB RESULT`, re-executing the same
//! binary). A fresh process per case gives clean peak-RSS figures and contains crashes: if ONNX
//! Runtime dies, only this process does, and the runner records it.
//!
//! Order inside the worker (so that each figure measures one thing):
//! 1. baseline RSS; reset the peak; create the session → `session_peak_rss_bytes`;
//! 2. reset the peak; prepare the inputs; warm-up and timed runs → `run_peak_rss_bytes`;
//! 3. the `profile` metric: ONNX Runtime's profiler in a session of its own (the profiler slows
//!    every kernel call, so it never runs in the timed session);
//! 4. accuracy on the case's datasets (own batches, not in the memory figures);
//! 5. fidelity: a session of the reference variant, both run on the same seeded inputs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::data::{synthetic, text, tokenize};
use crate::measure::{accuracy, compare, latency, memory, stats};
use crate::results::{Accuracy, Fidelity, Latency, Memory, TimeProfile};
use crate::runtime::{Session, SessionOptions, Tensor};
use crate::data::Lengths;
use crate::suite::spec::{Metric, RunSettings};
use crate::suite::validate::DatasetKind;
use crate::suite::Case;

/// Environment variable naming a case id whose worker aborts at once (SIGABRT): a test hook that
/// stands in for a crash inside ONNX Runtime, to test that a dying worker is recorded and the suite
/// goes on. Documented in the README; never set it otherwise.
pub const CRASH_HOOK: &str = "SQUEEZEBENCH_TEST_CRASH_CASE";

/// Environment variable `<case id>=<fraction>`: that case's worker busy-waits `fraction` × the
/// duration of every timed run after it, so its latency grows by that fraction (0.15 → 15 %
/// slower). A test hook for the regression gate (an injected slowdown must fail it); documented in
/// the README; never set it otherwise.
pub const DELAY_HOOK: &str = "SQUEEZEBENCH_TEST_DELAY_CASE";

/// The slowdown [`DELAY_HOOK`] asks of case `id`, if any.
fn injected_delay(id: &str) -> Option<f64> {
    let v = std::env::var(DELAY_HOOK).ok()?;
    let (case, f) = v.rsplit_once('=')?;
    (case == id).then(|| f.parse::<f64>().ok()).flatten().filter(|f| *f > 0.0 && f.is_finite())
}

/// Everything a worker needs, written by the runner as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub case: Case,
    pub variant_path: PathBuf,
    pub reference_path: Option<PathBuf>,
    pub vocab: usize,
    pub flops: Option<u64>,
    /// Peak op/s of one core for this model's arithmetic (fp32 or int8), if known.
    pub peak_per_core: Option<f64>,
    /// The attainable GEMM peak of this model's precision at the case's threads, if measured.
    #[serde(default)]
    pub attainable: Option<crate::results::Attainable>,
    pub model_file_bytes: u64,
    pub weight_bytes_by_dtype: std::collections::BTreeMap<String, u64>,
    pub tokenizer: Option<PathBuf>,
    /// (name, kind, resolved file) of each accuracy dataset.
    pub datasets: Vec<(String, DatasetKind, Option<PathBuf>)>,
    /// Length distribution and seed of the latency and fidelity inputs, and fidelity batches.
    pub lengths: Lengths,
    pub seed: u64,
    pub fidelity_batches: usize,
    pub run: RunSettings,
    pub metrics: Vec<Metric>,
}

/// What a worker reports back.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    pub error: Option<String>,
    pub latency: Option<Latency>,
    pub memory: Option<Memory>,
    pub accuracy: Vec<Accuracy>,
    pub fidelity: Option<Fidelity>,
    #[serde(default)]
    pub profile: Option<TimeProfile>,
}

/// Runs the job in `job_path` and writes the [`Outcome`] to `result_path` (also when the case
/// fails: the error is in the outcome). Returns an error only when the files cannot be used.
pub fn main(job_path: &Path, result_path: &Path) -> Result<(), super::runner::Error> {
    use super::runner::Error;
    let text = std::fs::read_to_string(job_path).map_err(|source| Error::JobRead { path: job_path.into(), source })?;
    let job: Job = serde_json::from_str(&text).map_err(|source| Error::Job { path: job_path.into(), source })?;
    if std::env::var(CRASH_HOOK).is_ok_and(|v| v == job.case.id) {
        eprintln!("{CRASH_HOOK}={}: aborting as asked", job.case.id);
        std::process::abort();
    }
    let mut outcome = Outcome::default();
    if let Err(e) = run(&job, &mut outcome) {
        outcome.error = Some(e);
    }
    let json = serde_json::to_string(&outcome).expect("outcome serializes");
    std::fs::write(result_path, json).map_err(|source| Error::Outcome { path: result_path.into(), source })
}

fn session_options(threads: usize) -> SessionOptions {
    SessionOptions { intra_threads: threads, ..SessionOptions::default() }
}

fn run(job: &Job, out: &mut Outcome) -> Result<(), String> {
    let w = &job.case.workload;
    let wants = |m: Metric| job.metrics.contains(&m);
    let (baseline, _) = memory::rss().unwrap_or((0, 0));
    let resettable = memory::reset_peak();
    let mut session = Session::from_file(&job.variant_path, &session_options(w.threads)).map_err(|e| e.to_string())?;
    let (_, session_peak) = memory::rss().unwrap_or((0, 0));

    memory::reset_peak();
    let inputs = synthetic::token_batch(session.inputs(), w.batch, w.seq, &job.lengths, job.vocab, job.seed);
    let refs: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let prepared = session.prepare(&refs).map_err(|e| e.to_string())?;
    if wants(Metric::Latency) {
        let r = &job.run;
        let settings = latency::LoopSettings {
            warmup: r.warmup,
            min_iterations: r.min_iterations,
            min_time: Duration::from_secs_f64(r.min_time_s),
            target_cv: r.target_cv,
            max_time: Duration::from_secs_f64(r.max_time_s),
        };
        let delay = injected_delay(&job.case.id);
        let samples = latency::measure(&settings, || {
            let t = std::time::Instant::now();
            let r = session.run_prepared_discard(&prepared);
            if let Some(f) = delay {
                let extra = t.elapsed().mul_f64(f);
                let s = std::time::Instant::now();
                while s.elapsed() < extra {
                    std::hint::spin_loop();
                }
            }
            r
        })
        .map_err(|e| e.to_string())?;
        out.latency = Some(latency_record(job, r.warmup, &samples));
    } else {
        session.run_prepared_discard(&prepared).map_err(|e| e.to_string())?;
    }
    let (_, run_peak) = memory::rss().unwrap_or((0, 0));
    drop(prepared);
    if wants(Metric::Memory) {
        out.memory = Some(Memory {
            baseline_rss_bytes: baseline,
            session_peak_rss_bytes: session_peak,
            run_peak_rss_bytes: run_peak,
            model_file_bytes: job.model_file_bytes,
            weight_bytes_by_dtype: job.weight_bytes_by_dtype.clone(),
        });
        if !resettable {
            return Err("cannot reset the peak RSS (/proc/self/clear_refs is not writable): memory figures would be wrong".into());
        }
    }

    if wants(Metric::Profile) {
        out.profile = Some(profile(job, out.latency.as_ref())?);
    }

    for (name, kind, file) in &job.datasets {
        let file = file.as_deref().ok_or_else(|| format!("dataset '{name}' has no file"))?;
        let tok_path = job.tokenizer.as_deref().ok_or_else(|| format!("accuracy on '{name}' needs a tokenizer"))?;
        // Texts are cut to the workload's seq, as the tokenizer's own truncation cuts them.
        let tok = tokenize::load(tok_path, w.seq).map_err(|e| e.to_string())?;
        out.accuracy.push(accuracy(&mut session, &tok, tok_path, name, kind, file)?);
    }

    if let Some(reference) = &job.case.fidelity_against {
        let path = job.reference_path.as_deref().ok_or_else(|| format!("the reference variant '{reference}' was not prepared"))?;
        let mut refs_session = Session::from_file(path, &session_options(w.threads)).map_err(|e| e.to_string())?;
        let infos = session.inputs().to_vec();
        let (c, inputs) = match fidelity_texts(job)? {
            // A model scored on a dataset is compared on that dataset's texts: random token ids
            // are far from text, and a real model's outputs on them say little.
            Some((name, texts)) => {
                let tok_path = job.tokenizer.as_deref().expect("fidelity_texts needs a tokenizer");
                let tok = tokenize::load(tok_path, w.seq).map_err(|e| e.to_string())?;
                let mut sets = Vec::new();
                for chunk in texts.chunks(w.batch.max(1)) {
                    sets.push(tokenize::encode(&tok, tok_path, &infos, chunk).map_err(|e| e.to_string())?.0);
                }
                let c = compare::compare_sessions(&mut refs_session, &mut session, sets).map_err(|e| e.to_string())?;
                (c, format!("text: the first {} texts of dataset '{name}' in batches of {}, cut to {} tokens", texts.len(), w.batch, w.seq))
            }
            None => {
                let sets = (0..job.fidelity_batches as u64).map(|k| synthetic::token_batch(&infos, w.batch, w.seq, &job.lengths, job.vocab, job.seed + 1 + k));
                let c = compare::compare_sessions(&mut refs_session, &mut session, sets).map_err(|e| e.to_string())?;
                (c, format!("synthetic: {} × {}×{} tokens", job.fidelity_batches, w.batch, w.seq))
            }
        };
        out.fidelity = Some(Fidelity {
            reference: reference.clone(),
            inputs,
            cosine: c.min_cosine(),
            max_abs_error: c.max_abs_error(),
            top1_agreement: c.logits_top1(),
            outputs: c.fidelity(),
        });
    }
    Ok(())
}

/// The texts fidelity is measured on when the case's model is scored on a dataset and has a
/// tokenizer: the first `fidelity_batches × batch` texts of its first dataset (a sentence pair
/// gives its first sentence), with the dataset's name; `None` otherwise (synthetic inputs).
fn fidelity_texts(job: &Job) -> Result<Option<(String, Vec<String>)>, String> {
    let (Some((name, kind, Some(file))), Some(_)) = (job.datasets.first(), job.tokenizer.as_ref()) else { return Ok(None) };
    let want = job.fidelity_batches.max(1) * job.case.workload.batch.max(1);
    let texts: Vec<String> = match kind {
        // Read as the accuracy metric reads them (with the dataset's own limit), then cut.
        DatasetKind::Classification { format, text, .. } => {
            classification_rows(name, text, file, *format)?.into_iter().take(want).map(|e| e.text).collect()
        }
        DatasetKind::SentencePairs { format, columns, header, limit, .. } => {
            text::sentence_pairs(file, *format, *columns, *header, *limit).map_err(|e| e.to_string())?.into_iter().take(want).map(|p| p.0).collect()
        }
        DatasetKind::Synthetic { .. } => return Ok(None),
    };
    Ok((!texts.is_empty()).then(|| (name.clone(), texts)))
}

/// Profiled runs: enough for about half a second at the measured median (10 to 100), after 3
/// warm-up runs; 20 when latency was not measured.
fn profile(job: &Job, latency: Option<&Latency>) -> Result<TimeProfile, String> {
    let runs = latency.map(|l| ((500.0 / l.p50_ms.max(1e-3)).ceil() as usize).clamp(10, 100)).unwrap_or(20);
    let w = &job.case.workload;
    let options = crate::profile::Options {
        batch: w.batch,
        seq: w.seq,
        threads: w.threads,
        runs,
        warmup: 3,
        vocab: Some(job.vocab),
        lengths: job.lengths.clone(),
        seed: job.seed,
        ..crate::profile::Options::default()
    };
    crate::profile::run(&job.variant_path, &options).map(|p| p.summary).map_err(|e| e.to_string())
}

fn latency_record(job: &Job, warmup: usize, s: &latency::Samples) -> Latency {
    let ms: Vec<f64> = s.seconds.iter().map(|v| v * 1e3).collect();
    let n = ms.len();
    latency_from_samples(job, warmup, ms, vec![n], s.measured.as_secs_f64(), s.stop.to_string())
}

/// The latency figures of `job` from its timed runs in milliseconds, in the order they ran, in
/// rounds of `round_sizes` runs (the runner joins the samples of a case's rounds through this).
pub(crate) fn latency_from_samples(job: &Job, warmup: usize, ms: Vec<f64>, round_sizes: Vec<usize>, measured_s: f64, stop: String) -> Latency {
    let st = stats::summarize(&ms, &round_sizes);
    let w = &job.case.workload;
    let p50_s = st.p50 / 1e3;
    let flops_per_s = job.flops.map(|f| f as f64 / p50_s);
    let threads = if w.threads == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) } else { w.threads };
    let peak = job.peak_per_core.map(|p| p * threads as f64);
    Latency {
        warmup,
        iterations: ms.len(),
        measured_s,
        stop,
        mean_ms: st.mean,
        std_ms: st.std,
        cv: st.cv,
        min_ms: st.min,
        max_ms: st.max,
        p50_ms: st.p50,
        p90_ms: st.p90,
        p95_ms: st.p95,
        p99_ms: st.p99,
        p50_ci_ms: st.p50_ci,
        p99_ci_ms: st.p99_ci,
        outliers: st.outliers,
        sequences_per_s: w.batch as f64 / p50_s,
        tokens_per_s: (w.batch * w.seq) as f64 / p50_s,
        flops_per_s,
        peak_flops_per_s: peak,
        fraction_of_peak: flops_per_s.zip(peak).map(|(a, p)| a / p),
        attainable: job.attainable.clone(),
        fraction_of_attainable: flops_per_s.zip(job.attainable.as_ref()).map(|(f, a)| f / 2.0 / 1e9 / a.gmac_per_s),
        samples_ms: ms,
        round_sizes: if round_sizes.len() > 1 { round_sizes } else { Vec::new() },
    }
}

/// The labelled examples of classification dataset `name`.
fn classification_rows(name: &str, options: &crate::data::TextOptions, file: &Path, format: crate::data::TextFormat) -> Result<Vec<text::Example>, String> {
    let rows = options.labelled(file, format).ok_or_else(|| format!("dataset '{name}': no label column"))?;
    rows.map_err(|e| e.to_string())
}

fn accuracy(session: &mut Session, tok: &tokenizers::Tokenizer, tok_path: &Path, name: &str, kind: &DatasetKind, file: &Path) -> Result<Accuracy, String> {
    let infos = session.inputs().to_vec();
    match kind {
        DatasetKind::Classification { format, text, .. } => {
            let rows = classification_rows(name, text, file, *format)?;
            let (mut pred, mut truth, mut truncated) = (Vec::new(), Vec::new(), 0);
            for chunk in rows.chunks(text.batch) {
                let texts: Vec<String> = chunk.iter().map(|e| e.text.clone()).collect();
                let (inputs, _, cut) = tokenize::encode(tok, tok_path, &infos, &texts).map_err(|e| e.to_string())?;
                truncated += cut;
                let outs = session.run_set(&inputs).map_err(|e| e.to_string())?;
                let logits = outs
                    .iter()
                    .find(|(n, _)| n == "logits")
                    .or(outs.first())
                    .and_then(|(_, t)| t.as_f32())
                    .filter(|t| t.ndim() == 2)
                    .ok_or_else(|| format!("dataset '{name}': the model has no 2-D float `logits` output to classify with"))?;
                let view = logits.view().into_dimensionality::<ndarray::Ix2>().expect("2-D");
                // A label the model cannot predict is a bad dataset (or the wrong model), not a score.
                text::check_labels(file, chunk, view.ncols()).map_err(|e| format!("dataset '{name}': {e}"))?;
                pred.extend(accuracy::argmax_rows(view));
                truth.extend(chunk.iter().map(|e| e.label));
            }
            let s = stats::classification_scores(&pred, &truth);
            Ok(Accuracy {
                dataset: name.into(),
                task: "classification".into(),
                examples: pred.len(),
                metrics: [("accuracy".to_string(), 100.0 * s.accuracy), ("macro_f1".into(), 100.0 * s.macro_f1), ("mcc".into(), 100.0 * s.mcc)].into(),
                primary: "accuracy".into(),
                max_tokens: Some(tok.get_truncation().map_or(0, |t| t.max_length)),
                truncated,
            })
        }
        DatasetKind::SentencePairs { format, columns, header, limit, batch, .. } => {
            let rows = text::sentence_pairs(file, *format, *columns, *header, *limit).map_err(|e| e.to_string())?;
            let mut truncated = 0;
            let mut embed = |sentences: Vec<String>| -> Result<Vec<Vec<f32>>, String> {
                let mut out = Vec::with_capacity(sentences.len());
                for chunk in sentences.chunks(*batch) {
                    let (inputs, mask, cut) = tokenize::encode(tok, tok_path, &infos, chunk).map_err(|e| e.to_string())?;
                    truncated += cut;
                    let outs = session.run_set(&inputs).map_err(|e| e.to_string())?;
                    let hidden = outs
                        .iter()
                        .find(|(n, _)| n == "last_hidden_state")
                        .or(outs.first())
                        .and_then(|(_, t)| t.as_f32())
                        .filter(|t| t.ndim() == 3)
                        .ok_or_else(|| format!("dataset '{name}': the model has no 3-D float `last_hidden_state` output to pool"))?;
                    out.extend(accuracy::masked_mean_unit(hidden.view(), mask.view()));
                }
                Ok(out)
            };
            let a = embed(rows.iter().map(|r| r.0.clone()).collect())?;
            let b = embed(rows.iter().map(|r| r.1.clone()).collect())?;
            let cos: Vec<f64> = a.iter().zip(&b).map(|(x, y)| accuracy::dot(x, y)).collect();
            let gold: Vec<f64> = rows.iter().map(|r| r.2).collect();
            let (spearman, pearson) = (stats::spearman(&cos, &gold), stats::pearson(&cos, &gold));
            if !(spearman.is_finite() && pearson.is_finite()) {
                // The scores vary (checked when the data is read): the model's similarities do not.
                return Err(format!(
                    "dataset '{name}': the model gives all {} pairs the same cosine similarity ({}): the Spearman correlation is undefined",
                    cos.len(),
                    cos.first().copied().unwrap_or(f64::NAN)
                ));
            }
            Ok(Accuracy {
                dataset: name.into(),
                task: "sentence_pairs".into(),
                examples: rows.len(),
                metrics: [("spearman".to_string(), 100.0 * spearman), ("pearson".into(), 100.0 * pearson)].into(),
                primary: "spearman".into(),
                max_tokens: Some(tok.get_truncation().map_or(0, |t| t.max_length)),
                truncated,
            })
        }
        DatasetKind::Synthetic { .. } => Err(format!("dataset '{name}' is synthetic: no labels")),
    }
}
