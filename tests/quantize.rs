//! `quantize` on the tiny fixtures, through real ONNX Runtime sessions: every mode, form,
//! per-tensor and per-channel, s8 and u8 weights, compared with the float model on the fixtures'
//! reference inputs; the CLI's summary, exit codes and refusals; the options' serde names.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use squeezebench::onnx::{check, Model, SaveOptions};
use squeezebench::data::Inputs;
use squeezebench::measure::compare::{compare, Fidelity};
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
    let data = Inputs::File(common::fixtures().join(format!("{name}.reference.json")));
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
                    let opts = QuantizeOptions { mode: Mode::Dynamic, form, per_channel, weight_type: Some(wt), ..Default::default() };
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
    // The calibration data is spelled as a path; the word `synthetic` names the seeded batches.
    for (spelled, want) in [("synthetic", quant::CalibrationData::Synthetic), ("cls.tsv", quant::CalibrationData::File("cls.tsv".into()))] {
        let o: QuantizeOptions = serde_json::from_str(&format!(r#"{{"calibration": "{spelled}"}}"#)).unwrap();
        assert_eq!(o.calibration.as_ref(), Some(&want));
        assert_eq!(spelled.parse::<quant::CalibrationData>().unwrap(), want);
    }
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
    for want in ["mode       auto", "activations u8", "outliers   0 of ", "cpu ", "quantized  Gather 3, Gemm 2, MatMul 12", "float      MatMul 4", "size ", "check ", "top-1 agreement 100.00%"] {
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

/// What would be a silent no-op or a misleading "met" is refused: an already-int8 model (nothing
/// to quantize: exit 2, nothing written), `-o` naming a folder (exit 2 before any work), and a
/// fidelity target that only the float model meets (every node kept in float: exit 1, "NOT met").
#[test]
fn nothing_quantized_is_not_a_success() {
    let dir = common::scratch("quant-nothing");
    let model = fixture("bert-tiny");
    let m = model.to_str().unwrap();
    let int8 = dir.path().join("int8.onnx");
    let r = cli(&["quantize", m, "-o", int8.to_str().unwrap(), "--verify", "0"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let again = dir.path().join("again.onnx");
    let r = cli(&["quantize", int8.to_str().unwrap(), "-o", again.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("nothing to quantize in") && err.contains("int8.onnx") && err.contains("nothing written"), "{err}");
    assert!(!again.exists());

    let r = cli(&["quantize", m, "-o", &format!("{}/", dir.path().display())]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("names a folder: give the path of the output file"), "{err}");

    let all_float = dir.path().join("all-float.onnx");
    let r = cli(&["quantize", m, "-o", all_float.to_str().unwrap(), "--target-fidelity", "1"]);
    let (out, err) = (String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
    assert_eq!(r.status.code(), Some(1), "{out}{err}");
    assert!(out.contains("NOT met (only with every node in float: nothing quantized)"), "{out}");
}

/// The op histogram of the graph ONNX Runtime runs for `model` (its optimized graph, written by the session).
fn ort_optimized_ops(model: &Path, dir: &Path) -> BTreeMap<String, usize> {
    use squeezebench::runtime::{Session, SessionOptions};
    let out = dir.join(format!("{}.ort-optimized.onnx", model.file_stem().unwrap().to_str().unwrap()));
    let opts = SessionOptions { optimized_model_path: Some(out.clone()), ..Default::default() };
    drop(Session::from_file(model, &opts).unwrap());
    ops(&Model::load(&out).unwrap())
}

// Why: static quantization must run in ONNX Runtime close to the float model for both
// architectures, with every calibration method, per tensor and per channel, s8 and u8 weights, in
// both forms. Each product reads a QuantizeLinear with calibrated (constant) parameters; in the
// default form it is one MatMulIntegerToFloat with the bias folded (no DequantizeLinear but the
// lookups'), in QDQ form (`--qdq`) a QuantizeLinear/DequantizeLinear pair that ONNX Runtime fuses
// into MatMulIntegerToFloat, so the int8 model really computes in 8 bits either way.
#[test]
fn static_every_method_granularity_and_weight_type_on_both_fixtures() {
    use squeezebench::quant::calibrate::Method;
    let dir = common::scratch("quant-static");
    let mut settings: Vec<(Method, bool, QType)> = [Method::MinMax, Method::Percentile(99.99), Method::Entropy].into_iter().map(|m| (m, false, QType::S8)).collect();
    settings.extend([(Method::MinMax, true, QType::S8), (Method::MinMax, true, QType::U8), (Method::MinMax, false, QType::U8)]);
    for name in ["bert-tiny", "squeezebert-tiny"] {
        let before = std::fs::read(fixture(name)).unwrap();
        for (i, &(method, per_channel, wt)) in settings.iter().enumerate() {
            let qdq = i % 2 == 0;
            let tag = format!("static-{}-{}-{}{}", method.name().replace(':', "-"), if per_channel { "pc" } else { "pt" }, wt.name(), if qdq { "-qdq" } else { "" });
            let opts = QuantizeOptions { mode: Mode::Static, method, per_channel, weight_type: Some(wt), qdq, ..Default::default() };
            let (q, report, f) = run(name, &opts, dir.path(), &tag);
            assert_close(name, &tag, &f, 0.998);
            let cal = report.calibration.as_ref().expect("static mode reports its calibration");
            assert_eq!((cal.runs, cal.method), (32, method), "{tag}");
            let h = ops(&q);
            let products = report.quantized.get("MatMul").unwrap_or(&0) + report.quantized.get("Gemm").unwrap_or(&0);
            assert_eq!(h["QuantizeLinear"], cal.activations, "{tag}: one QuantizeLinear per calibrated activation");
            if qdq {
                assert_eq!(h["DequantizeLinear"], 2 * products + report.quantized["Gather"], "{tag}: activation and weight DQ per product, one per lookup");
            } else {
                assert_eq!(h["DequantizeLinear"], report.quantized["Gather"], "{tag}: one DQ per lookup");
                assert_eq!(h["MatMulIntegerToFloat"], products, "{tag}: one integer node per product");
                let g = q.graph();
                let integer_out: Vec<&String> = g.node.iter().filter(|n| n.op_type.as_deref() == Some("MatMulIntegerToFloat")).map(|n| &n.output[0]).collect();
                let is_vector = |v: &String| g.initializer.iter().any(|t| t.name.as_ref() == Some(v) && t.dims.len() == 1);
                let unfolded = g.node.iter().filter(|n| n.op_type.as_deref() == Some("Add") && n.input.iter().any(|i| integer_out.contains(&i)) && n.input.iter().any(is_vector)).count();
                assert_eq!(unfolded, 0, "{tag}: a bias Add after an integer product is left");
            }
            assert_eq!(h.get("DynamicQuantizeLinear"), None, "{tag}");
            assert_eq!(h.get("Conv"), None, "{tag}");
            // Activation parameters are constants (scalars), not computed at run time.
            let g = q.graph();
            for n in g.node.iter().filter(|n| n.op_type.as_deref() == Some("QuantizeLinear")) {
                let scale = g.initializer.iter().find(|t| t.name == Some(n.input[1].clone())).unwrap_or_else(|| panic!("{tag}: scale of {:?} is not an initializer", n.name));
                assert!(scale.dims.is_empty(), "{tag}");
                let zp = g.initializer.iter().find(|t| t.name == Some(n.input[2].clone())).unwrap();
                assert_eq!(zp.data_type, Some(QType::U8.onnx_code()), "{tag}: u8 activations by default");
            }
            let float_matrices = g.initializer.iter().filter(|t| t.data_type == Some(1) && t.dims.len() == 2 && t.dims.iter().all(|&d| d > 16)).count();
            assert_eq!(float_matrices, 0, "{tag}: a float weight matrix is left");
            let fused = ort_optimized_ops(&dir.path().join(format!("{name}-{tag}.onnx")), dir.path());
            // QDQ form: ONNX Runtime fuses every quantized MatMul (a Gemm's weight DQ stays); the
            // default form writes Gemms as MatMulIntegerToFloat too.
            let want = if qdq { *report.quantized.get("MatMul").unwrap_or(&0) } else { products };
            assert_eq!(fused.get("MatMulIntegerToFloat"), Some(&want), "{tag}: {fused:?}");
        }
        assert_eq!(std::fs::read(fixture(name)).unwrap(), before, "the input file is never modified");
    }
}

// Why: calibration ranges come from the data: minmax covers every calibrated value, percentile and
// entropy clip (never widen) it; s8 activations are allowed in static mode and written as int8
// zero points; more samples never shrink a minmax range.
#[test]
fn static_calibration_ranges_and_activation_types() {
    use squeezebench::quant::calibrate::{calibrate, Method};
    let model = Model::load(fixture("bert-tiny")).unwrap();
    let acts: Vec<String> = model
        .graph()
        .node
        .iter()
        .filter(|n| n.op_type.as_deref() == Some("MatMul"))
        .map(|n| n.input[0].clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let data = |samples| Inputs::Synthetic { samples, batch: 1, seq: 64 };
    let (few, _) = calibrate(&model, &acts, &data(4), Method::MinMax).unwrap();
    let (many, c) = calibrate(&model, &acts, &data(32), Method::MinMax).unwrap();
    assert_eq!((c.runs, c.activations), (32, acts.len()));
    let (pct, _) = calibrate(&model, &acts, &data(32), Method::Percentile(99.0)).unwrap();
    let (ent, _) = calibrate(&model, &acts, &data(32), Method::Entropy).unwrap();
    for a in &acts {
        let (f, m, p, e) = (few[a], many[a], pct[a], ent[a]);
        assert!(m.0 <= f.0 && m.1 >= f.1, "{a}: more samples widen or keep the range: {f:?} {m:?}");
        assert!(m.0 < m.1, "{a}: {m:?}");
        for (what, r) in [("percentile", p), ("entropy", e)] {
            assert!(r.0 >= m.0 && r.1 <= m.1 && r.0 < r.1, "{a}: {what} {r:?} inside minmax {m:?}");
        }
        assert!(p.1 - p.0 < m.1 - m.0, "{a}: 99th percentiles clip something: {p:?} vs {m:?}");
    }
    let dir = common::scratch("quant-static-s8");
    let opts = QuantizeOptions { mode: Mode::Static, activation_type: Some(QType::S8), samples: 8, ..Default::default() };
    let (q, report, f) = run("bert-tiny", &opts, dir.path(), "s8-act");
    assert_close("bert-tiny", "s8-act", &f, 0.998);
    assert!(report.render_text().contains("s8 activations"), "{}", report.render_text());
    let g = q.graph();
    let zp = g.node.iter().find(|n| n.op_type.as_deref() == Some("QuantizeLinear")).map(|n| n.input[2].clone()).unwrap();
    assert_eq!(g.initializer.iter().find(|t| t.name.as_ref() == Some(&zp)).unwrap().data_type, Some(QType::S8.onnx_code()));
}

/// Labelled text (`cls.tsv`: label, tab, an STS-B sentence) and a tokenizer over its words, from
/// the first `rows` STS-B pairs: (data file, tokenizer file).
fn labelled_text(dir: &Path, rows: usize) -> (PathBuf, PathBuf) {
    common::write_text_data(dir, rows);
    (dir.join("cls.tsv"), dir.join("tokenizer.json"))
}

// Why: calibration data may be the fixtures' JSON cases or a text file with its tokenizer (through
// the CLI too); a text file without a tokenizer, calibration data in a mode that does not calibrate,
// and a missing file are refused (exit 2) naming the file, with nothing written.
#[test]
fn static_calibration_sources_and_refusals() {
    let dir = common::scratch("quant-static-cli");
    let (text, tok) = labelled_text(dir.path(), 60);
    let json = common::fixtures().join("bert-tiny.reference.json");
    let m = fixture("bert-tiny");
    let out = dir.path().join("s.onnx");
    // The text case is also checked on text (--check with the tokenizer).
    let text_args = vec!["--calibration", text.to_str().unwrap(), "--tokenizer", tok.to_str().unwrap(), "--samples", "20", "--check", text.to_str().unwrap()];
    for (what, extra) in [("json", vec!["--calibration", json.to_str().unwrap(), "--check", json.to_str().unwrap()]), ("text", text_args)] {
        let mut args = vec!["quantize", m.to_str().unwrap(), "-o", out.to_str().unwrap(), "--force", "--mode", "static", "--method", "percentile:99.9"];
        args.extend(extra);
        let r = cli(&args);
        let text_out = String::from_utf8_lossy(&r.stdout);
        assert!(r.status.success(), "{what}: {text_out}{}", String::from_utf8_lossy(&r.stderr));
        let (runs, check) = if what == "json" { ("(3 runs", "(3 cases)") } else { ("(20 runs", "(tokenized by ") };
        // (The random-weight fixture's near-tied logits may flip a row on real sentences, so top-1
        // agreement is shown but not asserted to be 100 % here.)
        for want in ["mode       static", "activations u8 (calibrated)", "calibrate  percentile:99.9 over", runs, check, "top-1 agreement"] {
            assert!(text_out.contains(want), "{what}: missing '{want}' in:\n{text_out}");
        }
    }
    let never = dir.path().join("never.onnx");
    let refusals: [(&[&str], &str); 4] = [
        (&["--mode", "static", "--calibration", text.to_str().unwrap()], "give the model's tokenizer.json with --tokenizer"),
        (&["--mode", "dynamic", "--calibration", text.to_str().unwrap(), "--tokenizer", tok.to_str().unwrap()], "dynamic mode does not calibrate"),
        (&["--mode", "static", "--calibration", "no-such-data.tsv"], "'no-such-data.tsv' does not exist"),
        (&["--mode", "static", "--method", "percentile:120"], "(50, 100]"),
    ];
    for (extra, want) in refusals {
        let mut args = vec!["quantize", m.to_str().unwrap(), "-o", never.to_str().unwrap()];
        args.extend(extra);
        let r = cli(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(want), "{extra:?}: missing '{want}' in {err}");
        assert!(!never.exists(), "nothing written on an error");
    }
}

// Why: the accuracy-aware fallback keeps the most harmful nodes in float until the goal holds, saves
// that model (whose measured fidelity meets the goal) and lists the float nodes; a goal it cannot
// reach in the time budget still saves the best model found and exits 1.
#[test]
fn fallback_meets_a_fidelity_target_or_saves_the_best_model() {
    use squeezebench::quant::fallback::{search, Goal};
    use squeezebench::measure::compare::Reference;
    let dir = common::scratch("quant-fallback");
    let data = Inputs::File(common::fixtures().join("bert-tiny.reference.json"));
    let reference = Reference::new(&fixture("bert-tiny"), &data).unwrap();
    let opts = QuantizeOptions { mode: Mode::Static, samples: 8, ..Default::default() };
    let prepared = quant::prepare(Model::load_mapped(fixture("bert-tiny")).unwrap(), &opts).unwrap();
    let (all, _) = prepared.emit(&Default::default()).unwrap();
    let p = dir.path().join("all.onnx");
    all.save(&p, &SaveOptions::default()).unwrap();
    let base = 1.0 - reference.compare(&p).unwrap().worst_drop();
    // A goal halfway between the fully quantized model and the float one.
    let target = base + (1.0 - base) / 2.0;
    let (model, report, f, outcome) = search(&prepared, &reference, Goal::Fidelity(target), std::time::Duration::from_secs(300), dir.path()).unwrap();
    assert!(outcome.met, "{}", outcome.render_text());
    assert!(!outcome.kept_float.is_empty() && outcome.kept_float.len() < prepared.targets().len(), "{}", outcome.render_text());
    assert!(1.0 - f.worst_drop() >= target, "{}", outcome.render_text());
    assert_eq!(outcome.sensitivity.len(), prepared.targets().len(), "every node's sensitivity was measured");
    for n in &outcome.kept_float {
        assert!(report.skipped.iter().any(|s| &s.node == n && s.reason.contains("accuracy search")), "{n} reported as float");
        assert!(model.graph().node.iter().any(|x| x.name.as_ref() == Some(n)), "{n} is still in the graph, in float");
    }
    // The saved model measures what the search said.
    let saved = dir.path().join("best.onnx");
    model.save(&saved, &SaveOptions::default()).unwrap();
    assert!((1.0 - reference.compare(&saved).unwrap().worst_drop() - outcome.score).abs() < 1e-12);
    // CLI: the same through `quantize --target-fidelity`, and a zero budget that cannot reach the goal.
    let out = dir.path().join("cli.onnx");
    let t = format!("{target}");
    let json = common::fixtures().join("bert-tiny.reference.json");
    let base_args = ["quantize", fixture("bert-tiny").to_str().unwrap(), "-o", out.to_str().unwrap(), "--force", "--mode", "static", "--samples", "8", "--check", json.to_str().unwrap(), "--target-fidelity", &t].map(String::from);
    let r = cli(&base_args.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(r.status.success(), "{text}{}", String::from_utf8_lossy(&r.stderr));
    assert!(text.contains(": met after") && text.contains("kept in float: "), "{text}");
    let mut args: Vec<&str> = base_args.iter().map(String::as_str).collect();
    args.extend(["--time-budget", "0"]);
    let r = cli(&args);
    assert_eq!(r.status.code(), Some(1), "{}", String::from_utf8_lossy(&r.stdout));
    assert!(String::from_utf8_lossy(&r.stdout).contains("NOT met") && String::from_utf8_lossy(&r.stdout).contains("time budget spent"));
    assert!(String::from_utf8_lossy(&r.stderr).contains("accuracy goal not met"));
    assert!(out.exists(), "the best model so far is saved");
}

// Why: --max-accuracy-drop measures accuracy on labelled text (--eval with --tokenizer) against the
// float model and reports both; a bound the fully quantized model already meets keeps nothing in float.
#[test]
fn fallback_accuracy_goal_on_labelled_text() {
    let dir = common::scratch("quant-fallback-acc");
    let (text, tok) = labelled_text(dir.path(), 120);
    let out = dir.path().join("acc.onnx");
    let model = fixture("bert-tiny");
    let args = ["quantize", model.to_str().unwrap(), "-o", out.to_str().unwrap(), "--mode", "static", "--samples", "8", "--eval", text.to_str().unwrap(), "--tokenizer", tok.to_str().unwrap(), "--max-accuracy-drop", "100", "--json"];
    let r = cli(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let (fa, qa) = (doc["fidelity"]["reference_accuracy"].as_f64().unwrap(), doc["fidelity"]["accuracy"].as_f64().unwrap());
    assert!((0.0..=1.0).contains(&fa) && (0.0..=1.0).contains(&qa), "{doc}");
    assert_eq!(doc["search"]["met"], true);
    assert_eq!(doc["search"]["kept_float"].as_array().unwrap().len(), 0, "{doc}");
    assert_eq!(doc["search"]["trials"].as_array().unwrap().len(), 1, "met at once: one measurement");
    let r = cli(&["quantize", fixture("bert-tiny").to_str().unwrap(), "-o", dir.path().join("x.onnx").to_str().unwrap(), "--max-accuracy-drop", "1", "--eval", text.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--tokenizer"), "{}", String::from_utf8_lossy(&r.stderr));
}

// Why: a suite spells static quantization as a step; a calibration text named relative to the suite
// without a tokenizer of its own takes the model's; the variant runs, its log carries the
// calibration, and the cache key follows the calibration file's contents (an edited file is
// calibrated again). A model without a tokenizer is refused at the step's line before anything runs.
#[test]
fn static_steps_in_a_suite() {
    let dir = common::scratch("quant-static-suite");
    let d = dir.path();
    labelled_text(d, 40);
    let fx = common::fixtures();
    let suite = |tokenizer: &str| {
        format!(
            "models:\n  bert-tiny: {{path: {fx}/bert-tiny.onnx{tokenizer}}}\n\
             variants:\n  fp32: {{reference: true}}\n  static: {{steps: [{{quantize: {{mode: static, calibration: cls.tsv, method: entropy, samples: 30}}}}]}}\n\
             workloads: {{batch: [1], seq: [16], threads: [1]}}\nmetrics: [params, fidelity]\n\
             run: {{warmup: 1, min_iterations: 3, min_time_s: 0.01, max_time_s: 0.1, time_limit_s: 60}}\n",
            fx = fx.display()
        )
    };
    std::fs::write(d.join("s.yaml"), suite(", tokenizer: tokenizer.json")).unwrap();
    let run = || Command::new(env!("CARGO_BIN_EXE_squeezebench")).args(["run", "s.yaml", "--out", "out", "--force", "--cache-dir", "cache", "--no-progress"]).current_dir(d).output().unwrap();
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let r = squeezebench::results::Results::load(&d.join("out/results.json")).unwrap();
    let v = r.variants.iter().find(|v| v.variant == "static").unwrap().clone();
    assert!(!v.cached, "{v:?}");
    assert!(v.log.iter().any(|l| l.contains("calibrate  entropy over") && l.contains("cls.tsv") && l.contains("tokenizer.json") && l.contains("(30 runs")), "{:?}", v.log);
    let c = r.cases.iter().find(|c| c.variant == "static").unwrap();
    let f = c.fidelity.as_ref().unwrap();
    assert!(f.cosine > 0.99 && f.cosine < 1.0, "{f:?}");
    assert!(c.params.as_ref().unwrap().weight_bytes_by_dtype.get("int8").copied().unwrap_or(0) > 0);
    // Same file: cached. Edited file: calibrated again.
    let o = run();
    assert_eq!(o.status.code(), Some(0));
    let cached = |d: &Path| squeezebench::results::Results::load(&d.join("out/results.json")).unwrap().variants.iter().find(|v| v.variant == "static").unwrap().cached;
    assert!(cached(d));
    let text = std::fs::read_to_string(d.join("cls.tsv")).unwrap();
    std::fs::write(d.join("cls.tsv"), text.lines().rev().collect::<Vec<_>>().join("\n")).unwrap();
    assert_eq!(run().status.code(), Some(0));
    assert!(!cached(d), "an edited calibration file is not served from the cache");
    // No tokenizer anywhere: refused at the quantize step.
    std::fs::write(d.join("s.yaml"), suite("")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_squeezebench")).args(["run", "s.yaml", "--dry-run"]).current_dir(d).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("s.yaml:5:") && err.contains("the calibration text needs a tokenizer, and model 'bert-tiny' has none"), "{err}");
}

// Why: --max-accuracy-drop needs --eval and --tokenizer, which dynamic quantization was refused
// for ("calibration data is for --mode static"): the tokenizer is the eval data's, not
// calibration data.
#[test]
fn max_accuracy_drop_in_dynamic_mode_takes_the_eval_tokenizer() {
    let dir = common::scratch("quantize-eval-dynamic");
    let d = dir.path();
    common::write_text_data(d, 20);
    let out = d.join("q.onnx");
    let (m, eval, tok) = (fixture("bert-tiny"), d.join("cls.tsv"), d.join("tokenizer.json"));
    let r = cli(&["quantize", m.to_str().unwrap(), "-o", out.to_str().unwrap(), "--max-accuracy-drop", "100", "--eval", eval.to_str().unwrap(), "--tokenizer", tok.to_str().unwrap()]);
    let all = format!("{}{}", String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
    assert_eq!(r.status.code(), Some(0), "{all}");
    assert!(all.contains("accuracy") && !all.contains("calibration data is for"), "{all}");
    assert!(out.is_file());
}
