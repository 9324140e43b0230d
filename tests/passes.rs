//! Rewrite passes on the real fixtures: each pass, given the redundancy it exists to remove
//! (injected where the export has none), removes it, keeps the graph structurally sound after every
//! patch, and leaves the outputs through ONNX Runtime equal to the input model's within 1e-4
//! relative on every case of `fixtures/<name>.reference.json`. Also the `rewrite --passes` CLI.

mod common;

use std::path::Path;
use std::process::Command;

use squeezebench::onnx::builder::{self, Attr};
use squeezebench::onnx::proto::NodeProto;
use squeezebench::onnx::{check, Model, SaveOptions};
use squeezebench::passes::{self, Pipeline, Report};
use squeezebench::runtime::{Session, SessionOptions};

const FIXTURES: [&str; 2] = ["bert-tiny", "squeezebert-tiny"];
const REL_TOLERANCE: f32 = 1e-4;

fn load(name: &str) -> Model {
    Model::load(common::fixtures().join(format!("{name}.onnx"))).unwrap()
}

/// Runs `passes` with the structural check after every patch.
fn rewrite(model: &mut Model, passes: &str) -> Report {
    let mut p = Pipeline::new(passes::parse_list(passes).unwrap());
    p.check_each_step = true;
    p.run(model).unwrap_or_else(|e| panic!("{e}"))
}


/// Outputs of `rewritten` equal those of the fixture within 1e-4 relative, on every reference case.
fn assert_same_outputs(name: &str, rewritten: &Path) {
    assert_same_outputs_as(&common::fixtures().join(format!("{name}.onnx")), name, rewritten);
}

/// Outputs of `rewritten` equal those of `original` within 1e-4 relative, on the inputs of every
/// case of the fixture `name`.
fn assert_same_outputs_as(original: &Path, name: &str, rewritten: &Path) {
    let want = common::fixture_outputs(original, name);
    let got = common::fixture_outputs(rewritten, name);
    assert_eq!(want.len(), got.len());
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.iter().map(|o| &o.0).collect::<Vec<_>>(), g.iter().map(|o| &o.0).collect::<Vec<_>>(), "{name}: output names");
        for ((out, a), (_, b)) in w.iter().zip(g) {
            assert_eq!(a.shape(), b.shape(), "{name}/{out}");
            for (x, y) in a.iter().zip(b.iter()) {
                assert!((x - y).abs() <= REL_TOLERANCE * x.abs().max(y.abs()).max(1e-6), "{name}/{out}: {x} vs {y}");
            }
        }
    }
}

/// Saves `model` in a scratch folder, checks it is sound and compares its outputs with the fixture's.
fn save_and_compare(name: &str, model: &Model, tag: &str) {
    assert!(check::check(model).is_empty(), "{name}: {:?}", check::check(model));
    let dir = common::scratch(tag);
    let path = dir.path().join(format!("{name}.onnx"));
    model.save(&path, &SaveOptions::default()).unwrap();
    assert_same_outputs(name, &path);
}

/// Inserts `nodes` right after the producer of `value` and makes every other reader of `value`
/// read `new_value` (the last inserted output).
fn splice_after(model: &mut Model, value: &str, nodes: Vec<NodeProto>, new_value: &str) {
    let g = model.graph_mut();
    let at = g.node.iter().position(|n| n.output.iter().any(|o| o == value)).expect("producer") + 1;
    for n in &mut g.node {
        for i in n.input.iter_mut().filter(|i| *i == value) {
            *i = new_value.to_string();
        }
    }
    g.node.splice(at..at, nodes);
}


fn first_output_of(model: &Model, op: &str) -> String {
    model.graph().node.iter().find(|n| n.op_type.as_deref() == Some(op)).expect(op).output[0].clone()
}

#[test]
fn dead_code_removes_unused_branches_and_initializers_of_the_fixtures() {
    for name in FIXTURES {
        let mut m = load(name);
        let before = m.graph().node.len();
        let v = first_output_of(&m, "LayerNormalization");
        let g = m.graph_mut();
        let mut spare = g.initializer[0].clone();
        spare.name = Some("spare_weight".into());
        g.initializer.push(spare);
        g.node.push(builder::node("Neg", "dead_neg", &[&v], &["dead_a"], &[]));
        g.node.push(builder::node("Relu", "dead_relu", &["dead_a"], &["dead_b"], &[]));
        let r = rewrite(&mut m, "dead-code");
        let names: Vec<_> = m.graph().node.iter().filter_map(|n| n.name.as_deref()).collect();
        assert!(!names.contains(&"dead_neg") && !names.contains(&"dead_relu"), "{name}");
        assert!(m.graph().initializer.iter().all(|t| t.name.as_deref() != Some("spare_weight")), "{name}");
        assert!(m.graph().node.len() <= before, "{name}: {:?}", r.log);
        save_and_compare(name, &m, "dead-code");
    }
}

#[test]
fn identity_removes_every_identity_of_the_fixtures_even_before_a_graph_output() {
    for name in FIXTURES {
        let mut m = load(name);
        assert!(common::count_op(&m, "Identity") > 0, "{name}: the export has Identity nodes");
        // An Identity writing the graph output: the output must keep its name.
        let g = m.graph_mut();
        let producer = g.node.iter_mut().find(|n| n.output.iter().any(|o| o == "logits")).unwrap();
        producer.output[0] = "logits_raw".into();
        splice_after(&mut m, "logits_raw", vec![builder::node("Identity", "named_output", &["logits_raw"], &["logits"], &[])], "logits");
        let r = rewrite(&mut m, "identity");
        assert_eq!(common::count_op(&m, "Identity"), 0, "{name}: {:?}", r.log);
        assert_eq!(m.graph().output[0].name.as_deref(), Some("logits"));
        save_and_compare(name, &m, "identity");
    }
}

#[test]
fn dedup_initializers_merges_copies_of_fixture_weights() {
    for name in FIXTURES {
        let mut m = load(name);
        let before = m.graph().initializer.len();
        // A copy of the first weight matrix read by the first MatMul/Conv/Gemm that reads it.
        let g = m.graph_mut();
        let w = g.initializer.iter().find(|t| t.dims.len() == 2 && t.dims.iter().product::<i64>() > 16).unwrap().clone();
        let w_name = w.name.clone().unwrap();
        let mut copy = w.clone();
        copy.name = Some("weight_copy".into());
        g.initializer.push(copy);
        let reader = g.node.iter_mut().find(|n| n.input.contains(&w_name)).unwrap();
        for i in reader.input.iter_mut().filter(|i| **i == w_name) {
            *i = "weight_copy".into();
        }
        let r = rewrite(&mut m, "dedup-initializers");
        assert!(r.passes[0].patches >= 1, "{name}");
        assert!(m.graph().initializer.len() <= before, "{name}: {:?}", r.log);
        assert!(m.graph().initializer.iter().all(|t| t.name.as_deref() != Some("weight_copy")), "{name}");
        save_and_compare(name, &m, "dedup");
    }
}

#[test]
fn transpose_folds_injected_chains_on_the_fixtures() {
    for name in FIXTURES {
        let mut m = load(name);
        let v = first_output_of(&m, "LayerNormalization"); // [batch, seq, hidden]
        let t = |n: &str, i: &str, o: &str, p: &[i64]| builder::node("Transpose", n, &[i], &[o], &[("perm", Attr::Ints(p.to_vec()))]);
        // [1,0,2] then [0,2,1] compose to [1,2,0]; then [2,0,1] cancels it.
        let chain = vec![
            t("inj_t1", &v, "inj_a", &[1, 0, 2]),
            t("inj_t2", "inj_a", "inj_b", &[0, 2, 1]),
            t("inj_t3", "inj_b", "inj_c", &[2, 0, 1]),
        ];
        splice_after(&mut m, &v, chain, "inj_c");
        let r = rewrite(&mut m, "transpose");
        assert!(r.passes[0].patches >= 2, "{name}: {:?}", r.log);
        let names: Vec<_> = m.graph().node.iter().filter_map(|n| n.name.as_deref()).collect();
        assert!(!names.iter().any(|n| n.starts_with("inj_t")), "{name}: {names:?}");
        save_and_compare(name, &m, "transpose");
    }
}

/// Node counts of the fixtures before and after `default` (the figures in benchmarks/2026-11-23-rewrite-passes.md).
#[test]
fn default_pipeline_on_the_fixtures() {
    // The exports' 20 Identity nodes copy LayerNorm/bias initializers; without fixed shapes the
    // constant subgraphs are the mask's ConstantOfShape of an empty shape (a scalar `true`) and
    // the Shape of a 4-element shape vector, with what follows from it.
    for (name, nodes_before, nodes_after) in [("bert-tiny", 306, 283), ("squeezebert-tiny", 293, 270)] {
        let mut m = load(name);
        let r = rewrite(&mut m, "default");
        eprintln!("{name}:\n{}", r.render_text());
        assert_eq!((r.before.nodes, r.after.nodes), (nodes_before, nodes_after), "{name}: {:?}", r.log);
        assert_eq!(common::count_op(&m, "Identity"), 0);
        save_and_compare(name, &m, "default");
    }
}

/// Graphs built by `synth` with random weights hold many equal tensors (zero biases, unit LayerNorm
/// weights in every layer): `default` merges them and the outputs stay the same.
#[test]
fn default_pipeline_merges_the_equal_weights_of_synthesized_models() {
    use squeezebench::synth::{self, Arch, Head, Options};
    for (name, arch) in [("bert-tiny", Arch::Bert), ("squeezebert-tiny", Arch::SqueezeBert)] {
        let config_path = common::fixtures().join(name).join("config.json");
        let config = synth::load_config(arch, Some(&config_path), None, &[]).unwrap();
        let mut m = synth::synthesize(&Options { config, head: Head::None, seed: 7, weights: None }).unwrap();
        let dir = common::scratch("synth-dedup");
        let original = dir.path().join("original.onnx");
        m.save(&original, &SaveOptions::default()).unwrap();
        let r = rewrite(&mut m, "default");
        assert!(r.after.initializers < r.before.initializers, "{name}: {:?}", r.log);
        assert!(r.passes[2].patches >= 2 && r.passes[2].weight_bytes_removed > 0, "{name}: {:?}", r.passes[2]);
        let path = dir.path().join("rewritten.onnx");
        m.save(&path, &SaveOptions::default()).unwrap();
        assert_same_outputs_as(&original, name, &path);
    }
}

#[test]
fn cli_rewrite_default_passes_with_report() {
    let dir = common::scratch("cli-rewrite");
    let out = dir.path().join("bert-tiny.onnx");
    let input = common::fixtures().join("bert-tiny.onnx");
    let run = Command::new(env!("CARGO_BIN_EXE_squeezebench"))
        .args(["rewrite"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .args(["--passes", "default", "--report"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{text}");
    for pass in ["dead-code", "identity", "dedup-initializers", "transpose", "total"] {
        assert!(text.contains(pass), "report names {pass}: {text}");
    }
    let m = Model::load(&out).unwrap();
    assert!(check::check(&m).is_empty(), "{:?}", check::check(&m));
    assert_eq!(common::count_op(&m, "Identity"), 0);
    assert!(m.graph().node.len() < load("bert-tiny").graph().node.len());
    assert_same_outputs("bert-tiny", &out);
}

#[test]
fn cli_rewrite_rejects_unknown_passes_and_lists_them_in_help() {
    let bin = env!("CARGO_BIN_EXE_squeezebench");
    let dir = common::scratch("cli-rewrite-bad");
    let rewrite_with = |list: &str| {
        Command::new(bin)
            .arg("rewrite")
            .arg(common::fixtures().join("bert-tiny.onnx"))
            .arg("-o")
            .arg(dir.path().join("x.onnx"))
            .args(["--passes", list])
            .output()
            .unwrap()
    };
    let run = rewrite_with("identity,frobnicate");
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("'frobnicate'") && err.contains("dead-code, identity, dedup-initializers, transpose, "), "{err}");
    assert!(passes::registry().iter().all(|p| err.contains(p.name())), "{err}");
    assert!(!dir.path().join("x.onnx").exists());
    let bad = rewrite_with("low-rank:rank=4,bogus=1");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2), "{err}");
    assert!(err.contains("pass low-rank: unknown option 'bogus'"), "{err}");
    assert!(!dir.path().join("x.onnx").exists());
    let help = Command::new(bin).args(["rewrite", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for p in passes::registry() {
        assert!(help.contains(p.name()) && help.contains(p.describe()), "{help}");
    }
}

/// The onnx wheel's test models are one-op tests (Loop/If/Scan with subgraphs reading outer
/// values, an Identity from a graph input to a graph output, a lone Transpose, ...): nothing in
/// them can be removed. The passes must leave every one of them exactly as it is; a false positive
/// in liveness, Identity or Transpose handling would show here.
#[test]
fn all_passes_leave_the_onnx_test_models_unchanged() {
    let models = common::files_with_suffix(common::onnx_test_data(), ".onnx");
    assert!(models.len() >= 140, "{}", models.len());
    let mut failures = Vec::new();
    for path in &models {
        let Ok(mut m) = Model::load(path) else { continue };
        let before = m.graph().clone();
        let mut p = Pipeline::new(passes::parse_list("default").unwrap());
        p.check_each_step = true;
        match p.run(&mut m) {
            Ok(r) if r.steps == 0 && m.graph() == &before => {}
            Ok(r) => failures.push(format!("{}: changed: {:?}", path.display(), r.log)),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The names of the float32 2-D initializers read as a MatMul's second input.
fn matmul_weights(m: &Model) -> Vec<String> {
    let g = m.graph();
    g.node
        .iter()
        .filter(|n| n.op_type.as_deref() == Some("MatMul"))
        .filter_map(|n| n.input.get(1))
        .filter(|w| g.initializer.iter().any(|t| t.name.as_deref() == Some(w.as_str()) && t.dims.len() == 2 && t.data_type == Some(1)))
        .cloned()
        .collect()
}

#[test]
fn low_rank_at_full_energy_is_exact_on_a_low_rank_bert_tiny() {
    use squeezebench::passes::low_rank::{truncated, Keep};
    // Make every MatMul weight of bert-tiny exactly rank 8 (trained weights are full rank, where
    // factoring saves nothing): energy=1.0 must then factor each of them with outputs unchanged.
    let name = "bert-tiny";
    let mut m = load(name);
    let weights = matmul_weights(&m);
    assert!(weights.len() >= 8, "{weights:?}");
    for w in &weights {
        let t = m.graph().initializer.iter().find(|t| t.name.as_deref() == Some(w.as_str())).unwrap().clone();
        let b = m.tensor_bytes(&t).unwrap();
        let v: Vec<f64> = b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect();
        let wm = ndarray::Array2::from_shape_vec((t.dims[0] as usize, t.dims[1] as usize), v).unwrap();
        let s = truncated(&wm, Keep::Rank(8));
        let low = s.a.dot(&s.b);
        let raw: Vec<u8> = low.iter().flat_map(|&x| (x as f32).to_le_bytes()).collect();
        let g = m.graph_mut();
        let slot = g.initializer.iter_mut().find(|t| t.name.as_deref() == Some(w.as_str())).unwrap();
        slot.raw_data = Some(raw.into());
        slot.float_data.clear();
    }
    let dir = common::scratch("low-rank");
    let original = dir.path().join("low8.onnx");
    m.save(&original, &SaveOptions::default()).unwrap();

    let r = rewrite(&mut m, "low-rank:energy=1.0");
    assert_eq!(r.steps, weights.len(), "{:?}", r.log);
    assert!(r.log.iter().all(|l| l.contains("at rank 8 ")), "{:?}", r.log);
    assert!(r.after.weight_bytes < r.before.weight_bytes);
    assert!(check::check(&m).is_empty(), "{:?}", check::check(&m));
    assert_eq!(common::count_op(&m, "MatMul"), common::count_op(&load(name), "MatMul") + weights.len());
    let path = dir.path().join("factored.onnx");
    m.save(&path, &SaveOptions::default()).unwrap();
    assert_same_outputs_as(&original, name, &path);
    let f = squeezebench::measure::compare::output_fidelity(&original, &path, 2).unwrap();
    assert!(f.iter().all(|o| o.cosine > 0.999999), "{f:?}");
}

#[test]
fn low_rank_is_lossy_but_sound_and_its_fidelity_is_measured() {
    // Trained bert-tiny weights at rank 16 of 128: structurally sound after every patch, the
    // outputs differ (cosine below 1) but stay correlated.
    let name = "bert-tiny";
    let mut m = load(name);
    let r = rewrite(&mut m, "low-rank:rank=16,min-params=16384");
    assert_eq!(r.steps, matmul_weights(&load(name)).len(), "{:?}", r.log);
    assert!(r.log.iter().all(|l| l.contains("relative Frobenius error")), "{:?}", r.log);
    let dir = common::scratch("low-rank-lossy");
    let path = dir.path().join("r16.onnx");
    m.save(&path, &SaveOptions::default()).unwrap();
    let original = common::fixtures().join(format!("{name}.onnx"));
    let f = squeezebench::measure::compare::output_fidelity(&original, &path, 2).unwrap();
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].cosine < 0.999999 && f[0].cosine > 0.0 && f[0].max_abs_error > 0.0, "{f:?}");
}

/// `default,conv-matmul` is the SqueezeBERT recipe: every pointwise Conv of the export (grouped 4
/// ways, with bias) becomes MatMul form, in both the batched and the block-diagonal form, and the
/// outputs stay within 1e-4 relative on every reference case; BERT has no Conv and is untouched.
#[test]
fn conv_matmul_leaves_no_conv_in_squeezebert_and_keeps_its_outputs() {
    use squeezebench::passes::conv_matmul::{ConvMatMul, Form};
    let mut m = load("squeezebert-tiny");
    let convs = common::count_op(&m, "Conv");
    assert!(convs > 0);
    let r = rewrite(&mut m, "default,conv-matmul");
    eprintln!("squeezebert-tiny:\n{}", r.render_text());
    assert_eq!(common::count_op(&m, "Conv"), 0, "{:?}", r.log);
    assert_eq!(r.passes.last().unwrap().patches, convs);
    assert!(m.graph().initializer.iter().all(|t| t.dims.len() != 3 || t.dims[2] != 1), "old Conv weights are gone");
    eprintln!("squeezebert-tiny nodes {} -> {} ({convs} Conv)", r.before.nodes, r.after.nodes);
    save_and_compare("squeezebert-tiny", &m, "conv-matmul");

    let mut m = load("squeezebert-tiny");
    let mut p = Pipeline::new(passes::parse_list("default").unwrap());
    p.passes.push(Box::new(ConvMatMul { form: Form::BlockDiagonal }));
    p.check_each_step = true;
    p.run(&mut m).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((common::count_op(&m, "Conv"), common::count_op(&m, "Reshape") > 0), (0, true));
    save_and_compare("squeezebert-tiny", &m, "conv-matmul-dense");

    // The channels-last forms quantize uses (weight on the right): exact too, through options.
    for form in ["split", "batched-right"] {
        let mut m = load("squeezebert-tiny");
        let r = rewrite(&mut m, &format!("default,conv-matmul:form={form}"));
        assert_eq!((common::count_op(&m, "Conv"), r.passes.last().unwrap().patches), (0, convs), "{form}");
        assert_eq!(common::count_op(&m, "Split") > 0, form == "split");
        save_and_compare("squeezebert-tiny", &m, &format!("conv-matmul-{form}"));
    }
    assert!(passes::parse_list("conv-matmul:form=diagonal").err().unwrap().to_string().contains("batched, block-diagonal, split, batched-right"));

    let mut m = load("bert-tiny");
    assert_eq!(rewrite(&mut m, "conv-matmul").steps, 0);
}

/// Outputs of `rewritten` equal those of `original` within 1e-4 relative on the one reference case
/// `case` of fixture `name` (a model with fixed input shapes only runs the case of its shape).
fn assert_same_outputs_on_case(original: &Path, name: &str, case: &str, rewritten: &Path) {
    let inputs = common::reference_inputs(name).into_iter().find(|(c, _)| c == case).expect(case).1;
    let refs: Vec<(&str, _)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let run = |p: &Path| Session::from_file(p, &SessionOptions::default()).unwrap_or_else(|e| panic!("{e}")).run(&refs).unwrap_or_else(|e| panic!("{e}"));
    let (want, got) = (run(original), run(rewritten));
    assert_eq!(want.len(), got.len());
    for ((out, a), (out2, b)) in want.iter().zip(&got) {
        assert_eq!(out, out2);
        let (a, b) = (a.as_f32().unwrap(), b.as_f32().unwrap());
        assert_eq!(a.shape(), b.shape(), "{name}/{case}/{out}");
        for (x, y) in a.iter().zip(b.iter()) {
            assert!((x - y).abs() <= REL_TOLERANCE * x.abs().max(y.abs()).max(1e-6), "{name}/{case}/{out}: {x} vs {y}");
        }
    }
}

/// The `(batch, seq)` of each reference case of fixture `name`.
fn reference_shapes(name: &str) -> Vec<(String, Vec<usize>)> {
    common::reference_inputs(name).into_iter().map(|(case, inputs)| (case, inputs[0].1.shape().to_vec())).collect()
}

/// With the input shapes fixed to each reference case's, `default` folds the Shape chains of the
/// fixtures (no Shape node is left, every Reshape reads a constant target), and the outputs of
/// that case stay within 1e-4 relative.
#[test]
fn constant_folding_with_fixed_shapes_folds_the_shape_chains_of_the_fixtures() {
    use squeezebench::onnx::shapes::{fix_input_shapes, FixedShape};
    for name in FIXTURES {
        for (case, dims) in reference_shapes(name) {
            let mut m = load(name);
            let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
            let fixes: Vec<FixedShape> = ["input_ids", "attention_mask", "token_type_ids"].iter().map(|i| FixedShape { input: i.to_string(), dims: dims.clone() }).collect();
            fix_input_shapes(&mut m, &fixes).unwrap();
            let r = rewrite(&mut m, "default");
            eprintln!("{name} {case}:\n{}", r.render_text());
            assert_eq!(common::count_op(&m, "Shape"), 0, "{name}/{case}: {:?}", r.log);
            let g = m.graph();
            for n in g.node.iter().filter(|n| n.op_type.as_deref() == Some("Reshape")) {
                let target = &n.input[1];
                let constant = g.initializer.iter().any(|t| t.name.as_deref() == Some(target.as_str()))
                    || g.node.iter().any(|p| p.op_type.as_deref() == Some("Constant") && p.output.contains(target));
                assert!(constant, "{name}/{case}: Reshape {:?} reads a computed shape", n.name);
            }
            assert!(r.after.nodes < r.before.nodes * 2 / 3, "{name}/{case}: {} -> {}", r.before.nodes, r.after.nodes);
            let dir = common::scratch("constant-folding");
            let path = dir.path().join(format!("{name}.onnx"));
            m.save(&path, &SaveOptions::default()).unwrap();
            assert_same_outputs_on_case(&common::fixtures().join(format!("{name}.onnx")), name, &case, &path);
        }
    }
}

#[test]
fn cli_fix_shape_errors_name_the_input() {
    let dir = common::scratch("cli-fix-shape");
    let run = |spec: &str| {
        Command::new(env!("CARGO_BIN_EXE_squeezebench"))
            .arg("rewrite")
            .arg(common::fixtures().join("bert-tiny.onnx"))
            .arg("-o")
            .arg(dir.path().join("x.onnx"))
            .args(["--passes", "default", "--fix-shape", spec])
            .output()
            .unwrap()
    };
    for (spec, want) in [
        ("input_idz=1x8", "no graph input named 'input_idz' (inputs: input_ids, attention_mask, token_type_ids)"),
        ("input_ids=1x8x2", "graph input 'input_ids' has rank 2, got 3 dims"),
        ("input_ids=1x8,attention_mask=2x8", "dim 'batch' is 1 for input 'input_ids' but 2 for input 'attention_mask'"),
        ("input_ids=1xq", "dims must be positive integers"),
    ] {
        let out = run(spec);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{spec}: {err}");
        assert!(err.contains(want), "{spec}: {err}");
        assert!(!dir.path().join("x.onnx").exists());
    }
    let out = run("input_ids=2x16");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let path = dir.path().join("x.onnx");
    assert_eq!(common::count_op(&Model::load(&path).unwrap(), "Shape"), 0);
    assert_same_outputs_on_case(&common::fixtures().join("bert-tiny.onnx"), "bert-tiny", "b2_s16_pad_pair", &path);
}

/// `bert-mini-opset14` is an HF BERT exported by torch at opset 14, which writes each LayerNorm as
/// ReduceMean/Sub/Pow/Add/Sqrt/Div/Mul/Add: `default` fuses all three into LayerNormalization
/// (raising the opset to 17) and the outputs stay within 1e-4 relative on every reference case.
#[test]
fn layernorm_fusion_fuses_every_layernorm_of_a_torch_opset14_export() {
    let name = "bert-mini-opset14";
    let mut m = load(name);
    assert_eq!((common::count_op(&m, "LayerNormalization"), common::count_op(&m, "ReduceMean")), (0, 6));
    let r = rewrite(&mut m, "default");
    eprintln!("{name}:\n{}", r.render_text());
    assert_eq!(r.passes.iter().find(|p| p.pass == "layernorm-fusion").unwrap().patches, 3, "{:?}", r.log);
    for (op, n) in [("LayerNormalization", 3), ("ReduceMean", 0), ("Pow", 0), ("Sqrt", 0), ("Sub", 0)] {
        assert_eq!(common::count_op(&m, op), n, "{op}: {:?}", r.log);
    }
    assert!(m.proto.opset_import.iter().any(|o| o.domain.as_deref().unwrap_or("").is_empty() && o.version == Some(17)));
    let dir = common::scratch("layernorm-fusion");
    let path = dir.path().join(format!("{name}.onnx"));
    m.save(&path, &SaveOptions::default()).unwrap();
    assert_same_outputs(name, &path);
}

/// `gelu-fusion` turns every erf GELU of the exports (opset 17 and torch's opset 14) into ONNX
/// Runtime's `com.microsoft.Gelu`, and ONNX Runtime's outputs stay within 1e-4 relative.
#[test]
fn gelu_fusion_fuses_the_erf_gelus_of_the_exports() {
    for (name, gelus) in [("bert-tiny", 2), ("squeezebert-tiny", 2), ("bert-mini-opset14", 1)] {
        let mut m = load(name);
        assert_eq!(common::count_op(&m, "Erf"), gelus, "{name}");
        let r = rewrite(&mut m, "default,gelu-fusion");
        assert_eq!((common::count_op(&m, "Erf"), common::count_op(&m, "Gelu")), (0, gelus), "{name}: {:?}", r.log);
        assert!(m.proto.opset_import.iter().any(|o| o.domain.as_deref() == Some("com.microsoft")), "{name}");
        save_and_compare(name, &m, "gelu-fusion");
    }
}

