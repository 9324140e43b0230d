//! A hand-built `Results` document with realistic figures (shaped like a `suites/quick.yaml` run on
//! a 2-core AVX-512 VNNI machine plus the MiniLM STS-B suite), for the exporters' exact-output
//! tests and the gate's tests. Latency samples are drawn from a seeded log-normal distribution and
//! the statistics computed from them, so the samples and the figures agree.

#![allow(dead_code)]

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};
use squeezebench::results::{
    Accuracy, CaseResult, Cpu, DatasetInfo, Environment, Fidelity, Latency, Memory, ModelInfo, Os, OutputFidelity,
    Params, Results, Status, SuiteInfo, VariantInfo, Workload, SCHEMA_VERSION,
};
use squeezebench::results::Thresholds;

pub const MIB: u64 = 1 << 20;

pub fn environment() -> Environment {
    Environment {
        cpu: Cpu {
            model: "AMD EPYC 9R14 96-Core Processor".into(),
            vendor: "AuthenticAMD".into(),
            arch: "x86_64".into(),
            logical_cores: 2,
            physical_cores: 1,
            mhz: Some(2600.0),
            mhz_source: Some("cpuinfo_current".into()),
            flags: ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"].map(String::from).to_vec(),
            peak_fp32_flops_per_core: Some(83.2e9),
            peak_int8_ops_per_core: Some(332.8e9),
        },
        memory_bytes: 8 << 30,
        os: Os { name: "Ubuntu 24.04.1 LTS".into(), kernel: "6.8.0-45-generic".into() },
        onnxruntime_version: "1.31.1".into(),
        onnxruntime_library: "target/onnxruntime/libonnxruntime.so.1.31.1".into(),
        squeezebench_version: "0.1.0".into(),
        git_revision: Some("50c8675a1b2c3d4e5f60718293a4b5c6d7e8f901".into()),
        build_profile: "release".into(),
        available_threads: 2,
        jobs: 1,
        hostname: "bench-1".into(),
    }
}

/// Nearest-rank-with-interpolation percentile of sorted samples.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Latency statistics of `n` log-normal samples around `median_ms` with spread `sigma`.
pub fn latency(median_ms: f64, sigma: f64, n: usize, seed: u64, w: &Workload, flops: u64, peak: Option<f64>) -> Latency {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let dist = LogNormal::new(median_ms.ln(), sigma).unwrap();
    let samples: Vec<f64> = (0..n).map(|_| (dist.sample(&mut rng) * 1e4).round() / 1e4).collect();
    let mut s = samples.clone();
    s.sort_by(f64::total_cmp);
    let mean = s.iter().sum::<f64>() / n as f64;
    let std = (s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let p50 = percentile(&s, 0.5);
    let p99 = percentile(&s, 0.99);
    let half = 1.96 * 1.2533 * std / (n as f64).sqrt();
    let r4 = |x: f64| (x * 1e4).round() / 1e4;
    let flops_per_s = flops as f64 / (p50 / 1e3);
    Latency {
        warmup: 10,
        iterations: n,
        measured_s: r4(s.iter().sum::<f64>() / 1e3),
        stop: "target_cv".into(),
        mean_ms: r4(mean),
        std_ms: r4(std),
        cv: r4(std / mean),
        min_ms: s[0],
        max_ms: s[n - 1],
        p50_ms: r4(p50),
        p90_ms: r4(percentile(&s, 0.9)),
        p95_ms: r4(percentile(&s, 0.95)),
        p99_ms: r4(p99),
        p50_ci_ms: [r4(p50 - half), r4(p50 + half)],
        p99_ci_ms: [r4(percentile(&s, 0.975)), r4(s[n - 1])],
        outliers: s.iter().filter(|x| 0.6745 * (**x - p50).abs() / (std * 0.6745) > 3.5).count(),
        sequences_per_s: r4(w.batch as f64 / (p50 / 1e3)),
        tokens_per_s: r4((w.batch * w.seq) as f64 / (p50 / 1e3)),
        flops_per_s: Some(flops_per_s.round()),
        peak_flops_per_s: peak,
        fraction_of_peak: peak.map(|p| r4(flops_per_s / p)),
        attainable: None,
        fraction_of_attainable: None,
        samples_ms: samples,
        round_sizes: Vec::new(),
    }
}

pub struct Spec {
    pub model: &'static str,
    pub variant: &'static str,
    pub reference: bool,
    pub p50_ms: f64,
    pub params: u64,
    /// Parameters stored as int8 (the rest float32).
    pub int8_params: u64,
    pub file_bytes: u64,
    pub session_rss: u64,
    pub run_rss: u64,
    pub macs: u64,
    pub cosine: Option<f64>,
    pub spearman: Option<f64>,
}

pub fn case(spec: &Spec, seed: u64) -> CaseResult {
    let w = Workload { batch: 1, seq: 128, threads: 2 };
    let fp32 = spec.params - spec.int8_params;
    let mut by_dtype = BTreeMap::from([("float32".to_string(), fp32)]);
    let mut bytes_by_dtype = BTreeMap::from([("float32".to_string(), fp32 * 4)]);
    if spec.int8_params > 0 {
        by_dtype.insert("int8".into(), spec.int8_params);
        bytes_by_dtype.insert("int8".into(), spec.int8_params);
    }
    let weight_bytes = bytes_by_dtype.values().sum();
    let int8 = spec.int8_params > 0;
    let peak = Some(2.0 * if int8 { 332.8e9 } else { 83.2e9 });
    CaseResult {
        id: CaseResult::make_id(spec.model, spec.variant, &w),
        model: spec.model.into(),
        variant: spec.variant.into(),
        reference: spec.reference,
        workload: w.clone(),
        status: Status::Ok,
        error: None,
        wall_s: 6.5,
        params: Some(Params {
            parameters: spec.params,
            parameters_by_dtype: by_dtype,
            parameters_by_op: BTreeMap::from([("MatMul".to_string(), spec.params * 4 / 5)]),
            weight_bytes,
            weight_bytes_by_dtype: bytes_by_dtype.clone(),
            macs: spec.macs,
            flops: 2 * spec.macs,
        }),
        latency: Some(latency(spec.p50_ms, 0.03, 200, seed, &w, 2 * spec.macs, peak)),
        memory: Some(Memory {
            baseline_rss_bytes: 24 * MIB,
            session_peak_rss_bytes: spec.session_rss,
            run_peak_rss_bytes: spec.run_rss,
            model_file_bytes: spec.file_bytes,
            weight_bytes_by_dtype: bytes_by_dtype,
        }),
        accuracy: spec
            .spearman
            .map(|s| Accuracy {
                dataset: "stsb-dev".into(),
                task: "sentence_pairs".into(),
                examples: 1500,
                metrics: BTreeMap::from([("pearson".to_string(), s + 0.41), ("spearman".to_string(), s)]),
                primary: "spearman".into(),
                max_tokens: None,
                truncated: 0,
            })
            .into_iter()
            .collect(),
        fidelity: spec.cosine.map(|cos| Fidelity {
            reference: "fp32".into(),
            inputs: "synthetic: 8 × 1 × 128".into(),
            cosine: cos,
            max_abs_error: ((1.0 - cos) * 40.0 * 1e4).round() / 1e4,
            top1_agreement: None,
            outputs: vec![OutputFidelity {
                output: "last_hidden_state".into(),
                cosine: cos,
                max_abs_error: ((1.0 - cos) * 40.0 * 1e4).round() / 1e4,
                max_rel_error: None,
                max_abs_output: None,
            }],
        }),
        profile: None,
        testbed: None,
    }
}

pub fn specs() -> Vec<Spec> {
    let bert = 109_482_240;
    let sq = 51_094_784;
    let minilm = 22_713_216;
    vec![
        Spec { model: "bert-base", variant: "fp32", reference: true, p50_ms: 191.3, params: bert, int8_params: 0,
            file_bytes: 438_003_512, session_rss: 905 * MIB, run_rss: 498 * MIB, macs: 11_174_486_016, cosine: None, spearman: None },
        Spec { model: "bert-base", variant: "int8", reference: false, p50_ms: 77.9, params: bert, int8_params: 84_934_656,
            file_bytes: 181_212_840, session_rss: 402 * MIB, run_rss: 251 * MIB, macs: 11_174_486_016, cosine: Some(0.99412), spearman: None },
        Spec { model: "squeezebert-base", variant: "fp32", reference: true, p50_ms: 121.6, params: sq, int8_params: 0,
            file_bytes: 204_512_112, session_rss: 455 * MIB, run_rss: 262 * MIB, macs: 5_742_133_248, cosine: None, spearman: None },
        Spec { model: "squeezebert-base", variant: "conv-matmul", reference: false, p50_ms: 108.4, params: sq, int8_params: 0,
            file_bytes: 204_510_996, session_rss: 449 * MIB, run_rss: 259 * MIB, macs: 5_742_133_248, cosine: Some(0.9999998), spearman: None },
        Spec { model: "squeezebert-base", variant: "conv-matmul-int8", reference: false, p50_ms: 52.7, params: sq, int8_params: 28_311_552,
            file_bytes: 119_577_460, session_rss: 240 * MIB, run_rss: 151 * MIB, macs: 5_742_133_248, cosine: Some(0.99267), spearman: None },
        Spec { model: "minilm-l6", variant: "fp32", reference: true, p50_ms: 24.87, params: minilm, int8_params: 0,
            file_bytes: 90_984_012, session_rss: 214 * MIB, run_rss: 121 * MIB, macs: 1_460_928_512, cosine: None, spearman: Some(86.716) },
        Spec { model: "minilm-l6", variant: "int8", reference: false, p50_ms: 12.06, params: minilm, int8_params: 10_616_832,
            file_bytes: 59_126_772, session_rss: 150 * MIB, run_rss: 98 * MIB, macs: 1_460_928_512, cosine: Some(0.99731), spearman: Some(86.309) },
    ]
}

/// The sample run: seven ok cases over three models and one crashed case.
pub fn results() -> Results {
    let mut cases: Vec<CaseResult> = specs().iter().zip(1u64..).map(|(s, seed)| case(s, seed)).collect();
    let w = Workload { batch: 1, seq: 128, threads: 2 };
    cases.push(CaseResult {
        id: CaseResult::make_id("broken", "fp32", &w),
        model: "broken".into(),
        variant: "fp32".into(),
        reference: true,
        workload: w,
        status: Status::Crashed,
        error: Some("worker killed by signal 11 (SIGSEGV)\nlast stderr: onnxruntime: Gather index out of range".into()),
        wall_s: 0.8,
        params: None,
        latency: None,
        memory: None,
        accuracy: vec![],
        fidelity: None,
        profile: None,
        testbed: None,
    });
    let models = ["bert-base", "squeezebert-base", "minilm-l6", "broken"]
        .map(|m| ModelInfo {
            name: m.into(),
            source: format!("synth: {m}"),
            path: format!("target/squeezebench/models/{m}.onnx"),
            sha256: "ab".repeat(32),
            size_bytes: 1,
            error: None,
        })
        .to_vec();
    let variants = specs()
        .iter()
        .map(|s| VariantInfo {
            model: s.model.into(),
            variant: s.variant.into(),
            reference: s.reference,
            steps: if s.int8_params > 0 { vec!["quantize: dynamic int8".into()] } else { vec![] },
            path: None,
            sha256: None,
            cached: true,
            prepare_s: 0.0,
            log: vec![],
            error: None,
        })
        .collect();
    Results {
        schema_version: SCHEMA_VERSION,
        suite: SuiteInfo {
            name: "quick".into(),
            path: "suites/quick.yaml".into(),
            file_sha256: "5e".repeat(32),
            hash: "1a2b3c4d5e6f".repeat(5) + "1a2b",
        },
        environment: environment(),
        started_at: "2026-11-23T00:31:49Z".into(),
        finished_at: Some("2026-11-23T00:35:02Z".into()),
        interrupted: false,
        thresholds: Thresholds::default(),
        models,
        datasets: vec![DatasetInfo {
            name: "stsb-dev".into(),
            kind: "sentence_pairs".into(),
            path: Some("fixtures/stsb-en-dev.csv".into()),
            sha256: "cd".repeat(32),
            examples: 1500,
            tokenizer_sha256: Some("ef".repeat(32)),
        }],
        variants,
        cases,
        shard: None,
        merge: None,
        incomplete: false,
        testbeds: vec![],
    }
}

/// The sample without its crashed case (a baseline must be all ok).
pub fn baseline() -> Results {
    let mut r = results();
    r.cases.retain(|c| c.status == Status::Ok);
    r
}

/// The sample with only the first `n` latency samples per case (a small fuzzing seed).
pub fn with_samples(n: usize) -> Results {
    let mut r = results();
    for l in r.cases.iter_mut().filter_map(|c| c.latency.as_mut()) {
        l.samples_ms.truncate(n);
        l.round_sizes.clear();
    }
    r
}
