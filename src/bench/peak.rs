//! The attainable GEMM peak: what ONNX Runtime itself reaches on this machine on a large fp32
//! GEMM and a large dynamically quantized int8 GEMM at a given thread count, as GMAC/s. A case's
//! achieved GMAC/s is shown as a share of the peak of its own precision: a figure from the CPU's
//! flags and clock (`peak_flops_per_s`) ignores AMX, memory bandwidth and what ONNX Runtime's
//! kernels actually reach, so "40 % of theoretical" says little; "85 % of what this runtime does
//! on a 1024³ GEMM here" says how much a model loses to its small or oddly shaped products and
//! to everything that is not a product.
//!
//! The graphs, built with `onnx/builder` and run in ordinary sessions (default options, weights
//! constant and pre-packed, as in a quantized model):
//! - fp32: `Y = X · W`, `X` `[M, K]` an input, `W` `[K, N]` a constant;
//! - int8: `DynamicQuantizeLinear(X)` then `MatMulInteger` with an int8 constant `W` (uint8
//!   activations × int8 weights, the pair `squeezebench quantize` produces by default): the
//!   activation's quantization is part of every dynamic int8 product, so it is part of the peak.
//!
//! `M = K = N =` [`SIZE`]. Each is run [`WARMUP`] times, then timed for at least
//! [`MIN_RUNS`] runs and [`MIN_TIME`]; the peak is the median run. Results are cached in
//! `<cache>/peaks/` per CPU model, logical cores, ONNX Runtime version and thread count, since a
//! measurement costs about a second or two per thread count.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::onnx::builder::{Axis, GraphBuilder};
use crate::onnx::{DataType, SaveOptions};
use crate::runtime::{Session, SessionOptions, Tensor};

/// Rows, depth and columns of the measured GEMMs.
pub const SIZE: usize = 1024;
const WARMUP: usize = 3;
const MIN_RUNS: usize = 10;
const MIN_TIME: Duration = Duration::from_millis(400);

/// The attainable GMAC/s of both precisions at one thread count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Peaks {
    pub cpu: String,
    pub logical_cores: usize,
    pub onnxruntime_version: String,
    /// Intra-op threads (0: ONNX Runtime's choice).
    pub threads: usize,
    pub size: usize,
    pub fp32_gmac_per_s: f64,
    pub int8_gmac_per_s: f64,
    /// When it was measured, RFC 3339 UTC.
    pub measured_at: String,
}

/// Why the peaks could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum PeakError {
    #[error("cannot create a scratch folder: {0}")]
    Scratch(std::io::Error),
    #[error(transparent)]
    Model(#[from] crate::onnx::Error),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::Error),
}

/// The peaks at `threads`, from the cache or measured (and cached). `cpu` and `logical_cores`
/// name the machine, `onnxruntime` the runtime version.
pub fn attainable(cache: &Path, cpu: &str, logical_cores: usize, onnxruntime: &str, threads: usize) -> Result<Peaks, PeakError> {
    let path = cache_path(cache, cpu, logical_cores, onnxruntime, threads);
    if let Some(p) = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<Peaks>(&t).ok()) {
        if p.cpu == cpu && p.logical_cores == logical_cores && p.onnxruntime_version == onnxruntime && p.threads == threads && p.size == SIZE {
            return Ok(p);
        }
    }
    let scratch = tempfile::tempdir().map_err(PeakError::Scratch)?;
    let peaks = Peaks {
        cpu: cpu.to_string(),
        logical_cores,
        onnxruntime_version: onnxruntime.to_string(),
        threads,
        size: SIZE,
        fp32_gmac_per_s: measure(&scratch.path().join("fp32.onnx"), Precision::Fp32, threads)?,
        int8_gmac_per_s: measure(&scratch.path().join("int8.onnx"), Precision::Int8, threads)?,
        measured_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    let json = serde_json::to_string_pretty(&peaks).expect("peaks serialize");
    // A cache that cannot be written only costs a new measurement next time.
    if std::fs::create_dir_all(path.parent().expect("a file in a folder")).is_ok() {
        let _ = crate::util::replace_file(&path, json.as_bytes());
    }
    Ok(peaks)
}

fn cache_path(cache: &Path, cpu: &str, cores: usize, onnxruntime: &str, threads: usize) -> PathBuf {
    let key = crate::util::sha256_hex(format!("{cpu}\n{cores}\n{onnxruntime}\n{SIZE}").as_bytes());
    cache.join("peaks").join(format!("{}-t{threads}.json", &key[..16]))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Fp32,
    Int8,
}

/// The GEMM graph of `precision`, `[n, n] × [n, n]`, with seeded weights.
pub fn gemm_model(precision: Precision, n: usize) -> crate::onnx::Model {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let dims = [n as i64, n as i64];
    let mut g = GraphBuilder::new("attainable-gemm");
    g.input("x", DataType::Float, &[Axis::Fixed(dims[0]), Axis::Fixed(dims[1])]);
    match precision {
        Precision::Fp32 => {
            let raw: Vec<u8> = (0..n * n).flat_map(|_| rng.random_range(-0.05f32..0.05).to_le_bytes()).collect();
            let w = g.initializer("w", DataType::Float, &dims, raw);
            g.node_to("MatMul", &["x", &w], &[], "y");
            g.output("y", DataType::Float, &[Axis::Fixed(dims[0]), Axis::Fixed(dims[1])]);
        }
        Precision::Int8 => {
            let raw: Vec<u8> = (0..n * n).map(|_| rng.random_range(-127i8..=127) as u8).collect();
            let w = g.initializer("w", DataType::Int8, &dims, raw);
            let w_zero = g.initializer("w_zero", DataType::Int8, &[], vec![0]);
            g.node_outputs("DynamicQuantizeLinear", &["x"], &[], &["xq", "xq_scale", "xq_zero"]);
            g.node_to("MatMulInteger", &["xq", &w, "xq_zero", &w_zero], &[], "y");
            g.output("y", DataType::Int32, &[Axis::Fixed(dims[0]), Axis::Fixed(dims[1])]);
        }
    }
    g.finish(13, "squeezebench", "attainable GEMM peak")
}

/// Median GMAC/s of the GEMM of `precision` at `threads`, from a model written to `path`.
fn measure(path: &Path, precision: Precision, threads: usize) -> Result<f64, PeakError> {
    gemm_model(precision, SIZE).save(path, &SaveOptions { force: true, ..SaveOptions::default() })?;
    let mut session = Session::from_file(path, &SessionOptions { intra_threads: threads, ..SessionOptions::default() })?;
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let x = ndarray::ArrayD::from_shape_simple_fn(ndarray::IxDyn(&[SIZE, SIZE]), || rng.random_range(-1.0f32..1.0));
    let prepared = session.prepare(&[("x", Tensor::from(x))])?;
    for _ in 0..WARMUP {
        session.run_prepared_discard(&prepared)?;
    }
    let mut seconds = Vec::new();
    let started = Instant::now();
    while seconds.len() < MIN_RUNS || started.elapsed() < MIN_TIME {
        let t = Instant::now();
        session.run_prepared_discard(&prepared)?;
        seconds.push(t.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    Ok((SIZE * SIZE * SIZE) as f64 / median / 1e9)
}
