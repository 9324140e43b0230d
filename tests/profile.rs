//! `squeezebench profile` on the committed fixtures, in real ONNX Runtime sessions: its op counts
//! are the graph's, its MACs are inspect's, and a model ONNX Runtime refuses is exit 2 naming the
//! file with ONNX Runtime's message.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use squeezebench::onnx::{stats, Model};
use squeezebench::profile::{self, Family, Options};
use squeezebench::runtime::{OptimizationLevel, Session, SessionOptions};

fn options(level: OptimizationLevel) -> Options {
    Options { batch: 1, seq: 16, threads: 1, runs: 3, warmup: 1, optimization_level: level, ..Options::default() }
}

/// Op type → calls per run, as whole numbers (every run calls every node once).
fn profiled_counts(model: &Path, level: OptimizationLevel) -> BTreeMap<String, usize> {
    let p = profile::run(model, &options(level)).unwrap();
    assert_eq!(p.summary.runs, 3);
    p.summary
        .ops
        .iter()
        .map(|o| {
            assert_eq!(o.calls.fract(), 0.0, "{}: {} calls per run", o.op_type, o.calls);
            (o.op_type.clone(), o.calls as usize)
        })
        .collect()
}

/// Node counts per op type of a file, domains dropped (a profile names op types only). ONNX
/// Runtime turns `Constant` nodes into initializers when it loads a model, at every level, so
/// they never run.
fn graph_counts(model: &Path) -> BTreeMap<String, usize> {
    let m = Model::load(model).unwrap();
    let mut out = BTreeMap::new();
    for (op, n) in stats::inspect(&m, 1, 16).unwrap().ops {
        let op = op.rsplit('.').next().unwrap().to_string();
        if op != "Constant" {
            *out.entry(op).or_insert(0) += n;
        }
    }
    out
}

#[test]
fn with_optimizations_disabled_the_counts_are_the_files_own_nodes() {
    for name in ["bert-tiny.onnx", "squeezebert-tiny.onnx"] {
        let model = common::fixtures().join(name);
        assert_eq!(profiled_counts(&model, OptimizationLevel::Disable), graph_counts(&model), "{name}");
    }
}

#[test]
fn with_fusions_the_counts_are_the_optimized_graphs_nodes() {
    // ONNX Runtime writes the graph it runs at this level; the profile must count exactly its nodes
    // (fused op types such as SkipLayerNormalization included).
    let dir = common::scratch("profile-fused");
    for name in ["bert-tiny.onnx", "squeezebert-tiny.onnx"] {
        let model = common::fixtures().join(name);
        let optimized = dir.path().join(name);
        let opts = SessionOptions {
            intra_threads: 1,
            optimization_level: OptimizationLevel::Extended,
            optimized_model_path: Some(optimized.clone()),
            ..SessionOptions::default()
        };
        Session::from_file(&model, &opts).unwrap();
        let fused = profiled_counts(&model, OptimizationLevel::Extended);
        assert_eq!(fused, graph_counts(&optimized), "{name}");
        assert_ne!(fused, graph_counts(&model), "{name}: ONNX Runtime fused nothing, so this test shows nothing");
    }
}

#[test]
fn gemm_macs_match_inspect_and_every_family_adds_up() {
    let model = common::fixtures().join("bert-tiny.onnx");
    let p = profile::run(&model, &options(OptimizationLevel::Disable)).unwrap();
    let s = &p.summary;
    let inspected = stats::inspect(&Model::load(&model).unwrap(), 1, 16).unwrap().compute;
    let matmul = s.ops.iter().find(|o| o.op_type == "MatMul").unwrap();
    assert_eq!(matmul.macs, inspected.by_op.get("MatMul").copied());
    assert!(matmul.gmac_per_s.unwrap() > 0.0);
    let family_ms: f64 = s.families.iter().map(|f| f.ms).sum();
    assert!((family_ms - s.kernel_ms).abs() < 1e-9);
    assert!(s.kernel_ms > 0.0 && s.kernel_ms <= s.run_ms * 1.0001, "kernels {} ms of a {} ms run", s.kernel_ms, s.run_ms);
    assert_eq!(s.families[0].family, Family::Gemm);
}

fn squeezebench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_squeezebench")).args(args).output().unwrap()
}

#[test]
fn the_command_prints_families_op_types_and_nodes_and_writes_json() {
    let model = common::fixtures().join("squeezebert-tiny.onnx");
    let m = model.to_str().unwrap();
    let out = squeezebench(&["profile", m, "--seq", "16", "--threads", "1", "--runs", "2", "--nodes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for want in ["family", "GEMM", "layout and copies", "op type", "GMAC/s", "calls/run", "node"] {
        assert!(text.contains(want), "no '{want}' in:\n{text}");
    }

    let dir = common::scratch("profile-json");
    let file = dir.path().join("p.json");
    let out = squeezebench(&["profile", m, "--seq", "16", "--threads", "1", "--runs", "2", "--json", "-o", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(v["runs"], 2);
    assert_eq!(v["seq"], 16);
    assert!(v["families"].as_array().unwrap().iter().any(|f| f["family"] == "gemm"));
    assert!(v["ops"].as_array().unwrap().iter().any(|o| o["op_type"] == "Conv" && o["gmac_per_s"].as_f64().unwrap() > 0.0));
    assert!(v.get("nodes").is_none(), "nodes only with --nodes");
}

#[test]
fn a_model_onnx_runtime_refuses_is_exit_2_with_its_message_and_the_file() {
    let dir = common::scratch("profile-bad");
    let bad = dir.path().join("truncated.onnx");
    let bytes = std::fs::read(common::fixtures().join("bert-tiny.onnx")).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).unwrap();
    let out = squeezebench(&["profile", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ONNX Runtime cannot load model") && err.contains("truncated.onnx"), "{err}");
    assert_eq!(std::fs::read(&bad).unwrap(), &bytes[..bytes.len() / 3], "the input is never modified");

    let out = squeezebench(&["profile", dir.path().join("missing.onnx").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.onnx"));
}

/// The attainable-peak graphs compute what they claim (checked at a small size against a product
/// by hand), and the peaks are measured once per machine, runtime and thread count, then read
/// from the cache.
#[test]
fn attainable_peaks_run_real_gemms_and_are_cached() {
    use squeezebench::bench::peak::{self, Precision};
    use squeezebench::runtime::Tensor;
    let dir = common::scratch("peak");
    for precision in [Precision::Fp32, Precision::Int8] {
        let path = dir.path().join(format!("{precision:?}.onnx"));
        peak::gemm_model(precision, 4).save(&path, &squeezebench::onnx::SaveOptions::default()).unwrap();
        let mut s = Session::from_file(&path, &SessionOptions { intra_threads: 1, ..SessionOptions::default() }).unwrap();
        // x = identity: y is the weight itself (int8: x quantizes to 0 and 255, zero point 0).
        let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[4, 4]), |i| if i[0] == i[1] { 1.0f32 } else { 0.0 });
        let y = s.run(&[("x", Tensor::from(x))]).unwrap().remove(0).1;
        let w = squeezebench::onnx::Model::load(&path).unwrap();
        let init = w.graph().initializer.iter().find(|t| t.name.as_deref() == Some("w")).unwrap();
        let raw = init.raw_data.as_ref().unwrap();
        match precision {
            Precision::Fp32 => {
                let want: Vec<f32> = raw.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
                assert_eq!(y.as_f32().unwrap().iter().copied().collect::<Vec<_>>(), want);
            }
            Precision::Int8 => {
                let want: Vec<i32> = raw.iter().map(|b| 255 * i32::from(*b as i8)).collect();
                let Tensor::I32(got) = &y else { panic!("int32 output, got {}", y.dtype()) };
                assert_eq!(got.iter().copied().collect::<Vec<_>>(), want);
            }
        }
    }

    let cache = dir.path().join("cache");
    let a = peak::attainable(&cache, "test cpu", 2, "1.31.1", 1).unwrap();
    assert!(a.fp32_gmac_per_s > 0.0 && a.int8_gmac_per_s > 0.0, "{a:?}");
    let b = peak::attainable(&cache, "test cpu", 2, "1.31.1", 1).unwrap();
    // Read from the cache (same measurement time; JSON keeps floats to the last digit or so).
    assert_eq!((&a.measured_at, a.threads, a.size), (&b.measured_at, b.threads, b.size), "read from the cache");
    assert!((a.int8_gmac_per_s - b.int8_gmac_per_s).abs() < 1e-9 * a.int8_gmac_per_s);
    assert!((a.fp32_gmac_per_s - b.fp32_gmac_per_s).abs() < 1e-9 * a.fp32_gmac_per_s);
    assert_eq!(std::fs::read_dir(cache.join("peaks")).unwrap().count(), 1);
}
