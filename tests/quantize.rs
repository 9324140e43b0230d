//! `quantize` on the tiny fixtures, through real ONNX Runtime sessions: every mode, form,
//! per-tensor and per-channel, s8 and u8 weights, compared with the float model on the fixtures'
//! reference inputs; the CLI's summary, exit codes and refusals; the options' serde names.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use squeezebench::onnx::{check, Model, SaveOptions};
use squeezebench::quant::verify::{compare, CheckData, Fidelity};
use squeezebench::quant::{self, ConvStrategy, DynamicForm, Mode, QType, QuantReport, QuantizeOptions};

fn fixture(name: &str) -> PathBuf {
    common::fixtures().join(format!("{name}.onnx"))
}

/// Quantizes fixture `name` with `opts`, saves it into `dir`, checks it against the float model on
/// the reference cases; returns the model, report and fidelity.
fn run(name: &str, opts: &QuantizeOptions, dir: &Path, tag: &str) -> (Model, QuantReport, Fidelity) {
    let (q, report) = quant::quantize(Model::load_mapped(fixture(name)).unwrap(), opts).unwrap_or_else(|e| panic!("{name} {tag}: {e}"));
    let problems = check::check(&q);
    assert!(problems.is_empty(), "{name} {tag}: {problems:?}");
    let out = dir.join(format!("{name}-{tag}.onnx"));
    q.save(&out, &SaveOptions::default()).unwrap();
    let data = CheckData::File(common::fixtures().join(format!("{name}.reference.json")));
    let f = compare(&fixture(name), &out, &data).unwrap_or_else(|e| panic!("{name} {tag}: {e}"));
    (q, report, f)
}

fn ops(m: &Model) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for n in &m.graph().node {
        *h.entry(n.op_type.clone().unwrap_or_default()).or_default() += 1;
    }
    h
}

fn assert_close(name: &str, tag: &str, f: &Fidelity, min_cosine: f64) {
    let logits = f.outputs.iter().find(|o| o.output == "logits").unwrap_or_else(|| panic!("{name} {tag}: no logits"));
    assert!(logits.cosine >= min_cosine, "{name} {tag}: cosine {} < {min_cosine}", logits.cosine);
    assert_eq!(logits.top1_agreement, Some(1.0), "{name} {tag}: top-1 agreement");
    assert!(logits.max_abs_error > 0.0, "{name} {tag}: outputs identical, nothing was quantized?");
}

// Why: each dynamic form must run in ONNX Runtime and stay close to the float model for both
// architectures, per tensor and per channel, with s8 and u8 weights; MatMul/Gemm weights and the
// embedding tables all become 8-bit, attention products stay float, and SqueezeBERT keeps no Conv
// and never uses ConvInteger.
#[test]
fn dynamic_every_form_granularity_and_weight_type_on_both_fixtures() {
    let dir = common::scratch("quant-dynamic");
    let forms = [DynamicForm::DynamicQuantizeMatMul, DynamicForm::MatMulIntegerToFloat, DynamicForm::MatMulInteger];
    for name in ["bert-tiny", "squeezebert-tiny"] {
        let before = std::fs::read(fixture(name)).unwrap();
        for form in forms {
            for per_channel in [false, true] {
                for wt in [QType::S8, QType::U8] {
                    let tag = format!("{}-{}-{}", form.name(), if per_channel { "pc" } else { "pt" }, wt.name());
                    let opts = QuantizeOptions { form, per_channel, weight_type: Some(wt), ..Default::default() };
                    let (q, report, f) = run(name, &opts, dir.path(), &tag);
                    assert_close(name, &tag, &f, 0.999);
                    let h = ops(&q);
                    assert_eq!(h.get("Conv"), None, "{tag}");
                    assert_eq!(h.get("ConvInteger"), None, "{tag}");
                    let quantized_nodes = match form {
                        DynamicForm::DynamicQuantizeMatMul => h["DynamicQuantizeMatMul"],
                        DynamicForm::MatMulIntegerToFloat => h["MatMulIntegerToFloat"],
                        DynamicForm::MatMulInteger => h["MatMulInteger"],
                    };
                    let products = report.quantized.get("MatMul").unwrap_or(&0) + report.quantized.get("Gemm").unwrap_or(&0);
                    assert_eq!(quantized_nodes, products, "{tag}");
                    assert_eq!(report.quantized["Gather"], 3, "{tag}: word, position and token type embeddings");
                    assert_eq!(h.get("MatMul"), Some(&4), "{tag}: the 2 attention products of each of the 2 layers stay float");
                    assert!(report.skipped.iter().all(|s| s.reason.contains("attention")), "{tag}: {:?}", report.skipped);
                    assert!(report.weight_bytes_after * 3 < report.weight_bytes_before, "{tag}: weights shrink about 4x");
                    // Every weight initializer of the products is 8-bit now.
                    let g = q.graph();
                    let float_matrices = g.initializer.iter().filter(|t| t.data_type == Some(1) && t.dims.len() == 2 && t.dims.iter().all(|&d| d > 16)).count();
                    assert_eq!(float_matrices, 0, "{tag}: a float weight matrix is left");
                    let eight = g.initializer.iter().filter(|t| t.data_type == Some(wt.onnx_code()) && t.dims.len() >= 2).count();
                    assert!(eight >= products, "{tag}");
                }
            }
        }
        assert_eq!(std::fs::read(fixture(name)).unwrap(), before, "the input file is never modified");
    }
}

// Why: the batched SqueezeBERT form and `--conv keep` are options: the first leaves no Conv, the
// second leaves every Conv in float (and still never ConvInteger).
#[test]
fn squeezebert_conv_strategies() {
    let dir = common::scratch("quant-conv");
    let opts = QuantizeOptions { conv: ConvStrategy::BatchedRight, ..Default::default() };
    let (q, report, f) = run("squeezebert-tiny", &opts, dir.path(), "batched");
    assert_close("squeezebert-tiny", "batched", &f, 0.999);
    assert_eq!(ops(&q).get("Conv"), None);
    assert!(report.preprocessing.iter().any(|p| p.starts_with("conv-matmul")), "{:?}", report.preprocessing);
    let opts = QuantizeOptions { conv: ConvStrategy::Keep, ..Default::default() };
    let (q, report, _) = run("squeezebert-tiny", &opts, dir.path(), "keep");
    assert_eq!(ops(&q).get("Conv"), Some(&12));
    assert_eq!(ops(&q).get("ConvInteger"), None);
    assert_eq!(report.skipped.iter().filter(|s| s.op_type == "Conv").count(), 12);
}

// Why: weight-only keeps float compute (only the weights are rounded): outputs stay close, the
// weights shrink ~4x, and each weight is read through one DequantizeLinear.
#[test]
fn weight_only_on_both_fixtures() {
    let dir = common::scratch("quant-weight-only");
    for name in ["bert-tiny", "squeezebert-tiny"] {
        for per_channel in [false, true] {
            for wt in [QType::S8, QType::U8] {
                let tag = format!("weight-only-{}-{}", if per_channel { "pc" } else { "pt" }, wt.name());
                let opts = QuantizeOptions { mode: Mode::WeightOnly, per_channel, weight_type: Some(wt), ..Default::default() };
                let (q, report, f) = run(name, &opts, dir.path(), &tag);
                assert_close(name, &tag, &f, 0.999);
                let h = ops(&q);
                assert_eq!(h.get("DynamicQuantizeLinear"), None, "{tag}");
                assert_eq!(h["DequantizeLinear"], report.quantized.values().sum::<usize>(), "{tag}");
                assert!(report.weight_bytes_after * 3 < report.weight_bytes_before, "{tag}");
            }
        }
    }
}

// Why: nodes named in --exclude and op types left out of --op-types stay float and are reported.
#[test]
fn exclude_and_op_types() {
    let dir = common::scratch("quant-exclude");
    let m = Model::load(fixture("bert-tiny")).unwrap();
    let first = m.graph().node.iter().find(|n| n.op_type.as_deref() == Some("MatMul")).unwrap().name.clone().unwrap();
    let opts = QuantizeOptions { exclude: vec![first.clone()], op_types: vec!["MatMul".into()], ..Default::default() };
    let (q, report, _) = run("bert-tiny", &opts, dir.path(), "exclude");
    assert!(report.skipped.iter().any(|s| s.node == first && s.reason.contains("excluded")), "{:?}", report.skipped);
    assert_eq!(report.quantized.get("Gemm"), None);
    assert_eq!(report.quantized.get("Gather"), None);
    assert_eq!(ops(&q)["Gemm"], 2);
    assert!(q.graph().node.iter().any(|n| n.name.as_deref() == Some(&first) && n.op_type.as_deref() == Some("MatMul")));
}

// Why: suites spell options as YAML/JSON with the CLI's names, kebab or snake case; typos must be
// refused, not ignored.
#[test]
fn options_deserialize_from_the_cli_names() {
    let o: QuantizeOptions = serde_json::from_str(r#"{"mode": "weight-only", "per-channel": true, "weight_type": "u8", "form": "matmul-integer"}"#).unwrap();
    assert_eq!((o.mode, o.per_channel, o.weight_type, o.form), (Mode::WeightOnly, true, Some(QType::U8), DynamicForm::MatMulInteger));
    assert_eq!(o.op_types, QuantizeOptions::default().op_types, "missing fields take the defaults");
    let e = serde_json::from_str::<QuantizeOptions>(r#"{"per-chanel": true}"#).unwrap_err().to_string();
    assert!(e.contains("per-chanel"), "{e}");
    let bad = QuantizeOptions { activation_type: Some(QType::S8), ..Default::default() };
    let e = quant::quantize(Model::load(fixture("bert-tiny")).unwrap(), &bad).unwrap_err().to_string();
    assert!(e.contains("u8 only"), "{e}");
    let bad = QuantizeOptions { op_types: vec!["LSTM".into()], ..Default::default() };
    assert!(quant::quantize(Model::load(fixture("bert-tiny")).unwrap(), &bad).unwrap_err().to_string().contains("'LSTM'"));
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_squeezebench")).args(args).output().unwrap()
}

// Why: the command prints the chosen defaults, the op histogram, sizes and the check; --max-drop
// sets exit 1; bad options and existing outputs are refused with exit 2 and nothing written.
#[test]
fn cli_summary_check_and_exit_codes() {
    let dir = common::scratch("quant-cli");
    let out = dir.path().join("q.onnx");
    let o = out.to_str().unwrap();
    let model = fixture("bert-tiny");
    let m = model.to_str().unwrap();
    let r = cli(&["quantize", m, "-o", o]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{text}{}", String::from_utf8_lossy(&r.stderr));
    for want in ["mode       dynamic", "activations u8", "cpu ", "quantized  Gather 3, Gemm 2, MatMul 12", "float      MatMul 4", "size ", "check ", "top-1 agreement 100.00%"] {
        assert!(text.contains(want), "missing '{want}' in:\n{text}");
    }
    let r = cli(&["quantize", m, "-o", o]);
    assert_eq!(r.status.code(), Some(2), "existing output without --force");
    assert!(String::from_utf8_lossy(&r.stderr).contains("--force"));
    let r = cli(&["quantize", m, "-o", o, "--force", "--max-drop", "0"]);
    assert_eq!(r.status.code(), Some(1), "any drop exceeds 0");
    let r = cli(&["quantize", m, "-o", o, "--force", "--max-drop", "0.05", "--json", "--check", common::fixtures().join("bert-tiny.reference.json").to_str().unwrap()]);
    assert!(r.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(doc["fidelity"]["cases"], 3);
    assert!(doc["size_after"].as_u64().unwrap() * 2 < doc["size_before"].as_u64().unwrap());
    let other = dir.path().join("never.onnx");
    let r = cli(&["quantize", m, "-o", other.to_str().unwrap(), "--activation-type", "s8"]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("u8 only"));
    assert!(!other.exists(), "nothing written on an error");
    let r = cli(&["quantize", "no-such.onnx", "-o", other.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("no-such.onnx"));
}
