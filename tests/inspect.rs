//! `inspect` against figures computed independently by the fixture script (with the `onnx` Python
//! package and analytic formulas from the model config), through the real command line.

mod common;

use std::process::Command;

use serde_json::Value;

fn inspect_json(model: &str, batch: i64, seq: i64) -> Value {
    let path = common::fixtures().join(model);
    assert!(path.exists(), "{} is missing (full-size exports: see fixtures/README.md)", path.display());
    let out = Command::new(env!("CARGO_BIN_EXE_squeezebench"))
        .args(["inspect", "--json", "--batch", &batch.to_string(), "--seq", &seq.to_string()])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "inspect failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("inspect --json prints one JSON object")
}

fn expected(model: &str) -> Value {
    let name = model.trim_end_matches(".onnx");
    let text = std::fs::read_to_string(common::fixtures().join(format!("{name}.expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn check_fixture(model: &str) {
    let want = expected(model);
    for case in want["macs"].as_array().unwrap() {
        let (b, s) = (case["batch"].as_i64().unwrap(), case["seq"].as_i64().unwrap());
        let got = inspect_json(model, b, s);
        for key in ["parameters", "parameters_by_dtype", "ops", "opset", "nodes", "initializers", "size_bytes", "weight_bytes", "ir_version", "producer_name"] {
            assert_eq!(got[key], want[key], "{model}: {key}");
        }
        for (g, w) in got["inputs"].as_array().unwrap().iter().chain(got["outputs"].as_array().unwrap()).zip(
            want["inputs"].as_array().unwrap().iter().chain(want["outputs"].as_array().unwrap()),
        ) {
            assert_eq!((&g["name"], &g["dtype"], &g["shape"]), (&w["name"], &w["dtype"], &w["shape"]), "{model}: port");
        }
        assert_eq!(got["constants"]["elements"], want["constant_node_elements"], "{model}");
        assert_eq!(got["shared"]["tensors"], want["shared_initializers"]["count"], "{model}");
        assert_eq!(got["shared"]["parameters"], want["shared_initializers"]["elements"], "{model}");
        let c = &got["compute"];
        assert_eq!(c["unresolved"], Value::Array(vec![]), "{model} b{b} s{s}: every matrix op resolved");
        assert_eq!(c["macs"], case["total_macs"], "{model} b{b} s{s}: MACs");
        assert_eq!(c["conv_macs"], case["conv_macs"], "{model} b{b} s{s}: conv MACs");
        let matmul = c["weight_macs"].as_u64().unwrap() + c["attention_macs"].as_u64().unwrap();
        assert_eq!(Value::from(matmul), case["matmul_macs"], "{model} b{b} s{s}: MatMul/Gemm MACs");
        assert_eq!(got["flops"].as_u64().unwrap(), 2 * case["total_macs"].as_u64().unwrap());
        if model.contains("tiny") {
            // Embeddings of the fixtures: word (vocab × hidden) + position + token type tables.
            assert_eq!(got["embedding_parameters"].as_u64().unwrap(), (1000 + 128 + 2) * 128, "{model}");
        }
    }
}

/// The acceptance figures on full-size Hugging Face exports (438 MB and 204 MB, not committed):
/// run `fixtures/export_fixtures.py --full fixtures/hf` first, then `cargo test -- --ignored`.
#[test]
#[ignore = "needs fixtures/hf from the export script (torch)"]
fn full_size_exports_match_the_independent_computation() {
    check_fixture("hf/bert-base.onnx");
    check_fixture("hf/squeezebert-base.onnx");
    assert_eq!(inspect_json("hf/bert-base.onnx", 1, 128)["parameters"], 109_366_274);
    assert_eq!(inspect_json("hf/squeezebert-base.onnx", 1, 128)["parameters"], 50_973_698);
}

#[test]
fn bert_tiny_figures_match_the_independent_computation() {
    check_fixture("bert-tiny.onnx");
}

#[test]
fn squeezebert_tiny_figures_match_the_independent_computation() {
    check_fixture("squeezebert-tiny.onnx");
}

#[test]
fn inspect_names_a_missing_file_and_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_squeezebench")).args(["inspect", "no/such/model.onnx"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no/such/model.onnx"), "{err}");
}

#[test]
fn text_output_shows_the_key_figures() {
    let path = common::fixtures().join("bert-tiny.onnx");
    let out = Command::new(env!("CARGO_BIN_EXE_squeezebench")).arg("inspect").arg(&path).arg("--check").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["parameters 555,395", "input_ids", "[batch × sequence]", "MACs  58,737,024", "no structural problems"] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}
