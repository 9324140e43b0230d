//! The token-major SqueezeBERT rewrite (`squeezebert-native`) and the SDPA guard removal
//! (`sdpa-guard`) on real exports, run in ONNX Runtime: the Hugging Face export at opset 17
//! (`squeezebert-tiny`), the opset-14 export whose LayerNorms are decomposed
//! (`squeezebert-mini-opset14`), and a model `synth` builds from the fixture's weights. Each must
//! come out with no Conv, no Transpose around a LayerNorm, BERT's four Transposes per attention,
//! and outputs within 1e-5 (relative to the output's largest magnitude) of the export.

mod common;

use std::collections::HashMap;
use std::path::Path;

use squeezebench::onnx::{check, Model, SaveOptions};
use squeezebench::passes::{self, Pipeline, Report};
use squeezebench::quant::{self, QuantizeOptions};

use squeezebench::synth::{self, Arch, Head, Options};

const NATIVE: &str = "identity,squeezebert-native,transpose,dead-code";
const REL_TOLERANCE: f32 = 1e-5;

fn load(name: &str) -> Model {
    Model::load(common::fixtures().join(format!("{name}.onnx"))).unwrap()
}

fn rewrite(model: &mut Model, list: &str) -> Report {
    let mut p = Pipeline::new(passes::parse_list(list).unwrap());
    p.check_each_step = true;
    p.run(model).unwrap_or_else(|e| panic!("{e}"))
}

fn save(model: &Model, dir: &Path, file: &str) -> std::path::PathBuf {
    assert!(check::check(model).is_empty(), "{file}: {:?}", check::check(model));
    let path = dir.join(file);
    model.save(&path, &SaveOptions::default()).unwrap();
    path
}

/// The largest `|a - b| / max|a|` over the outputs of the cases of fixture `name`.
fn max_relative_error(original: &Path, rewritten: &Path, name: &str) -> f32 {
    let want = common::fixture_outputs(original, name);
    let got = common::fixture_outputs(rewritten, name);
    let mut worst = 0.0f32;
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.iter().map(|o| &o.0).collect::<Vec<_>>(), g.iter().map(|o| &o.0).collect::<Vec<_>>(), "{name}: output names");
        for ((out, a), (_, b)) in w.iter().zip(g) {
            assert_eq!(a.shape(), b.shape(), "{name}/{out}");
            let scale = a.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-12);
            let err = a.iter().zip(b.iter()).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            worst = worst.max(err / scale);
        }
    }
    worst
}

/// Op types that read a value, by value name.
fn readers(model: &Model) -> HashMap<String, Vec<String>> {
    let mut r: HashMap<String, Vec<String>> = HashMap::new();
    for n in &model.graph().node {
        for i in &n.input {
            r.entry(i.clone()).or_default().push(n.op_type.clone().unwrap_or_default());
        }
    }
    r
}

/// What the rewrite must leave: no Conv, no Transpose next to a LayerNorm (fused or decomposed:
/// no Transpose reads a ReduceMean's input or a LayerNorm's output), four Transposes per layer.
fn assert_token_major(model: &Model, layers: usize, what: &str) {
    assert_eq!(common::count_op(model, "Conv"), 0, "{what}: Conv left");
    assert_eq!(common::count_op(model, "Transpose"), 4 * layers, "{what}: Transposes (Q, K, V and context per layer)");
    let readers = readers(model);
    for n in &model.graph().node {
        let op = n.op_type.as_deref().unwrap_or("");
        if op == "LayerNormalization" || op == "ReduceMean" {
            let around = n.output.iter().chain(n.input.first()).flat_map(|v| readers.get(v).into_iter().flatten());
            assert!(around.filter(|o| *o == "Transpose").count() == 0, "{what}: a Transpose next to {op} '{}'", n.name.as_deref().unwrap_or(""));
        }
    }
}

#[test]
fn squeezebert_native_runs_the_opset17_export_token_major_and_exact() {
    // Why: the export transposes around every projection and LayerNorm; the rewrite must remove
    // all of them without changing a single output beyond rounding.
    let mut m = load("squeezebert-tiny");
    let convs = common::count_op(&m, "Conv");
    let r = rewrite(&mut m, NATIVE);
    eprintln!("{}", r.render_text());
    assert_token_major(&m, 2, "squeezebert-tiny");
    // Q, K and V read the same input with the same groups: one MatMul per group for the three.
    let matmuls_with_weights = m.graph().node.iter().filter(|n| n.op_type.as_deref() == Some("MatMul") && n.input.iter().any(|i| m.graph().initializer.iter().any(|t| t.name.as_deref() == Some(i.as_str())))).count();
    assert!(convs == 12 && matmuls_with_weights == 2 * (4 + 4 + 4 + 4), "{matmuls_with_weights} weighted MatMuls");
    let dir = common::scratch("native-opset17");
    let path = save(&m, dir.path(), "squeezebert-tiny.onnx");
    let err = max_relative_error(&common::fixtures().join("squeezebert-tiny.onnx"), &path, "squeezebert-tiny");
    assert!(err <= REL_TOLERANCE, "relative error {err}");
}

#[test]
fn squeezebert_native_handles_the_opset14_export_with_decomposed_layernorms() {
    // Why: at opset 14 each LayerNorm is ReduceMean/Sub/Pow/... between two Transposes, and the
    // post-attention projection is dense (groups 1): both shapes of the export must be covered.
    let mut m = load("squeezebert-mini-opset14");
    assert!(common::count_op(&m, "Conv") > 0 && common::count_op(&m, "LayerNormalization") == 0);
    rewrite(&mut m, NATIVE);
    assert_token_major(&m, 1, "squeezebert-mini-opset14");
    let dir = common::scratch("native-opset14");
    let path = save(&m, dir.path(), "squeezebert-mini-opset14.onnx");
    let err = max_relative_error(&common::fixtures().join("squeezebert-mini-opset14.onnx"), &path, "squeezebert-mini-opset14");
    assert!(err <= REL_TOLERANCE, "relative error {err}");
}

#[test]
fn squeezebert_native_handles_synthesized_models() {
    // Why: `synth` writes constant Reshape shapes where the export computes them; the head split
    // and merge must be recognised from inferred shapes either way.
    let weights = common::fixtures().join("squeezebert-tiny/model.safetensors");
    let config = synth::load_config(Arch::SqueezeBert, None, Some(&weights), &[]).unwrap();
    let original = synth::synthesize(&Options { config, head: Head::Classification(None), seed: 0, weights: Some(weights) }).unwrap();
    let dir = common::scratch("native-synth");
    let before = save(&original, dir.path(), "synth.onnx");
    let mut m = original.clone();
    rewrite(&mut m, NATIVE);
    assert_token_major(&m, 2, "synth squeezebert");
    let after = save(&m, dir.path(), "synth-native.onnx");
    let err = max_relative_error(&before, &after, "squeezebert-tiny");
    assert!(err <= REL_TOLERANCE, "relative error {err}");
}

#[test]
fn squeezebert_native_leaves_a_conv_it_cannot_rewrite_and_names_it() {
    // Why: a Conv that is not pointwise (here a dilation attribute the pattern does not accept)
    // must stay as it is, with a note, and the graph around it must still compute the same.
    let mut m = load("squeezebert-tiny");
    let g = m.graph_mut();
    let conv = g.node.iter_mut().find(|n| n.op_type.as_deref() == Some("Conv")).unwrap();
    let name = conv.name.clone().unwrap();
    // Dilation 2 of a kernel-1 Conv computes the same, but it is outside the pattern.
    let dilations = conv.attribute.iter_mut().find(|a| a.name.as_deref() == Some("dilations")).expect("the export writes dilations");
    dilations.ints = vec![2];
    let dir = common::scratch("native-leftover");
    let before = save(&m, dir.path(), "before.onnx");
    let pass = passes::by_name("squeezebert-native").unwrap();
    rewrite(&mut m, NATIVE);
    assert_eq!(common::count_op(&m, "Conv"), 1);
    let note = pass.note(&m).expect("a note about the Conv left");
    assert!(note.contains(&name) && note.contains("dilations"), "{note}");
    let after = save(&m, dir.path(), "after.onnx");
    assert!(max_relative_error(&before, &after, "squeezebert-tiny") <= REL_TOLERANCE);
    // BERT has no pointwise Conv: nothing to do.
    let mut bert = load("bert-tiny");
    assert_eq!(rewrite(&mut bert, "squeezebert-native").steps, 0);
}

#[test]
fn quantize_default_writes_squeezebert_token_major_and_keeps_fidelity() {
    // Why: `quantize` with no flags must produce the fast form for a SqueezeBERT export, detected
    // from the graph: integer MatMuls on 2-D weights, no Conv, no Transpose around LayerNorms.
    let m = load("squeezebert-tiny");
    let (q, report) = quant::quantize(m, &QuantizeOptions::default()).unwrap();
    assert!(report.render_text().contains("squeezebert-native"), "{}", report.render_text());
    assert_token_major(&q, 2, "int8 squeezebert-tiny");
    assert_eq!(common::count_op(&q, "DynamicQuantizeMatMul"), 2 * (4 + 4 + 4 + 4) + 2, "one per group and projection (Q/K/V merged), pooler, classifier");
    for n in q.graph().node.iter().filter(|n| n.op_type.as_deref() == Some("DynamicQuantizeMatMul")) {
        let w = q.graph().initializer.iter().find(|t| t.name.as_deref() == Some(n.input[1].as_str())).expect("constant weight");
        assert_eq!(w.dims.len(), 2, "ONNX Runtime packs 2-D weights only");
    }
    let dir = common::scratch("native-int8");
    let path = save(&q, dir.path(), "int8.onnx");
    let want = common::fixture_outputs(&common::fixtures().join("squeezebert-tiny.onnx"), "squeezebert-tiny");
    let got = common::fixture_outputs(&path, "squeezebert-tiny");
    for (w, g) in want.iter().zip(&got) {
        let (a, b) = (&w[0].1, &g[0].1);
        let dot: f32 = a.iter().zip(b.iter()).map(|(x, y)| x * y).sum();
        let cos = dot / (a.iter().map(|x| x * x).sum::<f32>().sqrt() * b.iter().map(|x| x * x).sum::<f32>().sqrt());
        assert!(cos >= 0.999, "cosine {cos}");
    }
}

#[test]
fn sdpa_guard_removes_the_nan_guard_of_the_bert_export_exactly() {
    // Why: the SDPA export's IsNaN/Where after each softmax is a tenth of an int8 BERT-base run and
    // only matters for a sequence whose mask is all zeros; the padded reference cases must not move.
    let mut m = load("bert-tiny");
    assert_eq!(common::count_op(&m, "IsNaN"), 2);
    let r = rewrite(&mut m, "sdpa-guard,dead-code");
    assert_eq!((common::count_op(&m, "IsNaN"), r.passes[0].patches), (0, 2));
    let dir = common::scratch("sdpa-guard");
    let path = save(&m, dir.path(), "bert-tiny.onnx");
    assert_eq!(max_relative_error(&common::fixtures().join("bert-tiny.onnx"), &path, "bert-tiny"), 0.0);
    let (q, _) = quant::quantize(load("bert-tiny"), &QuantizeOptions::default()).unwrap();
    assert_eq!(common::count_op(&q, "IsNaN"), 0, "quantize applies it by default");
    let mut sq = load("squeezebert-tiny");
    assert_eq!(rewrite(&mut sq, "sdpa-guard").steps, 0);
}
