//! squeezebench: compress and benchmark BERT-family encoders (BERT, SqueezeBERT) in ONNX.
//!
//! What the library offers, by layer (each module uses only the ones listed before it; the
//! `tests/layering.rs` test checks this on every `cargo test`):
//!
//! - [`util`]: atomic file writes, SHA-256 hashing, human-readable sizes and the number formats
//!   reports and the gate share.
//! - [`onnx`]: load and save ONNX models byte-identically (external data, memory-mapped weights),
//!   the graph view, the structural check, shape inference, statistics (`inspect`) and a typed
//!   builder.
//! - [`runtime`]: ONNX Runtime, loaded at run time: sessions and tensors (the only user of `ort`).
//! - [`data`]: every input a model is run on: synthetic token batches, JSON cases, labelled text
//!   and sentence pairs, tokenization.
//! - [`measure`]: latency, memory, accuracy, statistics, and the one comparison of two models'
//!   outputs (fidelity and top-1 agreement).
//! - [`profile`]: where the time of a run goes: ONNX Runtime's profiler summed per op family, op
//!   type and node, with the GMAC/s of the GEMM-like kernels.
//! - [`results`]: the `results.json` schema and its queries, the environment manifest, stored
//!   baselines and the gate's thresholds.
//! - [`gate`]: baseline vs current run under thresholds, a verdict per check (it reads only
//!   results, so it sits just above them).
//! - [`synth`]: BERT and SqueezeBERT graphs from a config, with random or safetensors weights.
//! - [`passes`]: graph rewrites as values (`Patch`) run to a fixed point by a `Pipeline`.
//! - [`quant`]: dynamic, static (calibrated QDQ) and weight-only int8 quantization, and the
//!   accuracy-aware fallback search.
//! - [`suite`]: benchmark suite files: parsing with line:column errors, validation, expansion into
//!   cases.
//! - [`bench`]: running a suite: preparing models and variants, one worker process per case.
//! - [`report`]: Markdown, HTML, CSV and JSON reports with charts.
//! - `fuzz` (cargo feature `fuzz`, on in tests and examples only): a stable-toolchain fuzzing
//!   harness for the ONNX loader, the suite parser, results files and thresholds.
//! - [`app`]: the command-line verbs and their policies; `main.rs` only parses and maps exit codes.
//!
//! Items that only the library itself uses are `pub(crate)`: what is `pub` is what `main.rs`,
//! `tests/`, `examples/` and `benches/` call, and the types those items take and return.
pub mod app;
pub mod bench;
pub mod data;
#[cfg(feature = "fuzz")]
pub mod fuzz;
pub mod gate;
pub mod measure;
pub mod onnx;
pub mod passes;
pub mod profile;
pub mod quant;
pub mod report;
pub mod results;
pub mod runtime;
pub mod suite;
pub mod synth;
pub mod util;
