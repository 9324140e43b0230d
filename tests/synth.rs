//! `synth`: graphs built from the tiny fixtures' safetensors against PyTorch's outputs in real ONNX
//! Runtime sessions, determinism of random weights, clear errors, and parameter counts of the
//! full-size models.

mod common;

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use squeezebench::onnx::{check, stats, Model, SaveOptions};
use squeezebench::runtime::{Session, SessionOptions, Tensor};
use squeezebench::synth::{self, Arch, Config, Head, Options};

const ABS_TOLERANCE: f32 = 1e-4;

fn arch_of(name: &str) -> Arch {
    if name.starts_with("squeezebert") {
        Arch::SqueezeBert
    } else {
        Arch::Bert
    }
}

fn from_fixture(name: &str, head: Head) -> Model {
    let weights = common::fixtures().join(name).join("model.safetensors");
    let config = synth::load_config(arch_of(name), None, Some(&weights), &[]).unwrap_or_else(|e| panic!("{e}"));
    synth::synthesize(&Options { config, head, seed: 0, weights: Some(weights) }).unwrap_or_else(|e| panic!("{e}"))
}

fn save(model: &Model, dir: &Path, file: &str) -> PathBuf {
    let path = dir.join(file);
    model.save(&path, &SaveOptions { force: true, ..Default::default() }).unwrap_or_else(|e| panic!("{e}"));
    path
}

fn tensor_i64(t: &Value) -> Tensor {
    let shape: Vec<usize> = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data: Vec<i64> = t["data"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    Tensor::from(ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap())
}

fn array_f32(t: &Value) -> ArrayD<f32> {
    let shape: Vec<usize> = t["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
    let data: Vec<f32> = t["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Runs every case of `reference` (the fixtures' JSON format) and returns the largest absolute
/// difference per output name found in the reference.
fn max_diff_against(session: &mut Session, reference: &Value) -> f32 {
    let mut worst = 0f32;
    for case in reference["cases"].as_array().unwrap() {
        let inputs: Vec<(String, Tensor)> =
            case["inputs"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), tensor_i64(v))).collect();
        let refs: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
        let outputs = session.run(&refs).unwrap_or_else(|e| panic!("{e}"));
        for (name, want) in case["outputs"].as_object().unwrap() {
            let want = array_f32(want);
            let got = outputs.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no output {name}")).1.as_f32().unwrap();
            assert_eq!(got.shape(), want.shape(), "{name}");
            let d = got.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            worst = worst.max(d);
        }
    }
    worst
}

/// Builds each fixture from its checkpoint with `head`, checks it, runs the cases of
/// `fixtures/<name>.<reference>.json` in ONNX Runtime and asserts every output within 1e-4 of torch.
fn assert_fixtures_match(head: Head, reference: &str) {
    let dir = common::scratch("synth-vs-torch");
    for name in ["bert-tiny", "squeezebert-tiny"] {
        let model = from_fixture(name, head);
        assert!(check::check(&model).is_empty(), "{name}: {:?}", check::check(&model));
        let path = save(&model, dir.path(), &format!("{name}.onnx"));
        let mut session = Session::from_file(&path, &SessionOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let diff = max_diff_against(&mut session, &read_json(&common::fixtures().join(format!("{name}.{reference}.json"))));
        eprintln!("{name}: max |{reference} outputs - torch| = {diff:e}");
        assert!(diff <= ABS_TOLERANCE, "{name}: {reference} outputs differ from torch by {diff}");
    }
}

/// With the fixture config and `classification:3`, logits match `fixtures/<name>.reference.json`.
#[test]
fn built_from_fixture_safetensors_reproduces_torch_logits() {
    assert_fixtures_match(Head::Classification(Some(3)), "reference");
}

/// Without a head, last_hidden_state (every token, padded ones included) and pooler_output match
/// the base model's in `fixtures/<name>.hidden.json` (written by `fixtures/export_hidden_states.py`).
#[test]
fn built_from_fixture_safetensors_reproduces_torch_hidden_states() {
    assert_fixtures_match(Head::None, "hidden");
}

#[test]
fn same_seed_gives_identical_bytes() {
    let dir = common::scratch("synth-seed");
    let sets = ["num_hidden_layers=2", "hidden_size=64", "num_attention_heads=4", "intermediate_size=128", "vocab_size=100"];
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    for arch in [Arch::Bert, Arch::SqueezeBert] {
        let config = synth::load_config(arch, None, None, &sets).unwrap();
        let build = |seed| synth::synthesize(&Options { config: config.clone(), head: Head::None, seed, weights: None }).unwrap();
        let a = std::fs::read(save(&build(7), dir.path(), "a.onnx")).unwrap();
        let b = std::fs::read(save(&build(7), dir.path(), "b.onnx")).unwrap();
        let c = std::fs::read(save(&build(8), dir.path(), "c.onnx")).unwrap();
        assert!(a == b, "{arch:?}: same seed, different bytes");
        assert!(a != c, "{arch:?}: different seeds, same bytes");
        assert!(check::check(&build(7)).is_empty());
    }
}

/// A copy of a fixture checkpoint with `edit` applied to its (name, shape, data) list.
fn edited_checkpoint(fixture: &str, dir: &Path, edit: impl Fn(&mut Vec<(String, Vec<usize>, Vec<u8>)>)) -> PathBuf {
    use safetensors::tensor::TensorView;
    let bytes = std::fs::read(common::fixtures().join(fixture).join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> =
        st.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec(), v.data().to_vec())).collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| (n.clone(), TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap()))
        .collect();
    let path = dir.join("edited.safetensors");
    safetensors::serialize_to_file(views, None, &path).unwrap();
    path
}

#[test]
fn a_missing_or_misshaped_tensor_is_an_error_naming_it_and_the_shape() {
    let dir = common::scratch("synth-errors");
    let config = synth::load_config(Arch::Bert, Some(&common::fixtures().join("bert-tiny/config.json")), None, &[]).unwrap();
    let missing = "bert.encoder.layer.1.output.dense.weight";
    let path = edited_checkpoint("bert-tiny", dir.path(), |t| t.retain(|(n, _, _)| n != missing));
    let err = synth::synthesize(&Options { config: config.clone(), head: Head::None, seed: 0, weights: Some(path) }).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(missing) && msg.contains("[128, 512]") && msg.contains("not in the checkpoint"), "{msg}");

    let path = edited_checkpoint("squeezebert-tiny", dir.path(), |t| {
        let q = t.iter_mut().find(|(n, _, _)| n == "transformer.encoder.layers.0.attention.query.weight").unwrap();
        q.1 = vec![128, 64, 1];
        q.2 = vec![0; 128 * 64 * 4];
    });
    let config = synth::load_config(Arch::SqueezeBert, Some(&common::fixtures().join("squeezebert-tiny/config.json")), None, &[]).unwrap();
    let err = synth::synthesize(&Options { config, head: Head::None, seed: 0, weights: Some(path) }).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("transformer.encoder.layers.0.attention.query.weight") && msg.contains("[128, 32, 1]") && msg.contains("[128, 64, 1]"),
        "{msg}"
    );
}

#[test]
fn config_errors_name_the_key_or_the_combination() {
    let set = |arch, s: &str| synth::load_config(arch, None, None, &[s.to_string()]).unwrap_err().to_string();
    assert!(set(Arch::Bert, "hiden_size=3").contains("'hiden_size'"));
    assert!(set(Arch::Bert, "q_groups=2").contains("'q_groups'"));
    assert!(set(Arch::Bert, "num_attention_heads=5").contains("not divisible by num_attention_heads 5"));
    assert!(set(Arch::SqueezeBert, "q_groups=5").contains("q_groups 5"));
    assert!(set(Arch::SqueezeBert, "hidden_act=relu").contains("relu"));
    assert!(set(Arch::Bert, "num_hidden_layers").contains("key=value"));
    let wrong = synth::load_config(Arch::Bert, Some(&common::fixtures().join("squeezebert-tiny/config.json")), None, &[]);
    assert!(wrong.unwrap_err().to_string().contains("model_type"));
    assert_eq!("classification:3".parse::<Head>(), Ok(Head::Classification(Some(3))));
    assert!("classification:x".parse::<Head>().is_err());
}

/// Exactly the parameter counts of Hugging Face's BertModel (bert-base-uncased) and
/// SqueezeBertModel (squeezebert-uncased config, vocab 30522), as `inspect` counts them.
#[test]
fn full_size_models_hold_exactly_the_hugging_face_parameter_counts() {
    for (arch, sets, want) in [(Arch::Bert, vec![], 109_482_240u64), (Arch::SqueezeBert, vec!["vocab_size=30522".to_string()], 51_089_664)] {
        let config = synth::load_config(arch, None, None, &sets).unwrap();
        let model = synth::synthesize(&Options { config, head: Head::None, seed: 1, weights: None }).unwrap();
        assert!(check::check(&model).is_empty(), "{arch:?}: {:?}", check::check(&model));
        assert_eq!(stats::inspect(&model, 1, 128).unwrap().parameters, want, "{arch:?}");
    }
    assert_eq!(Config::defaults(Arch::SqueezeBert).vocab_size, 30528);
}

#[test]
fn random_models_run_with_the_declared_outputs() {
    let dir = common::scratch("synth-run");
    let sets: Vec<String> =
        ["num_hidden_layers=1", "hidden_size=64", "num_attention_heads=2", "intermediate_size=128", "vocab_size=50", "q_groups=2", "output_groups=8"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for (arch, sets) in [(Arch::Bert, &sets[..5]), (Arch::SqueezeBert, &sets[..])] {
        let config = synth::load_config(arch, None, None, sets).unwrap();
        for (head, second, dim) in [(Head::None, "pooler_output", 64), (Head::Classification(Some(5)), "logits", 5)] {
            let model = synth::synthesize(&Options { config: config.clone(), head, seed: 3, weights: None }).unwrap();
            let path = save(&model, dir.path(), "m.onnx");
            let mut session = Session::from_file(&path, &SessionOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            let ids = Tensor::from(ArrayD::from_shape_fn(IxDyn(&[2, 7]), |i| (i[1] * 3 % 50) as i64));
            let ones = Tensor::from(ArrayD::<i64>::ones(IxDyn(&[2, 7])));
            let zeros = Tensor::from(ArrayD::<i64>::zeros(IxDyn(&[2, 7])));
            let out = session.run(&[("input_ids", ids), ("attention_mask", ones), ("token_type_ids", zeros)]).unwrap();
            let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["last_hidden_state", second], "{arch:?}");
            assert_eq!(out[0].1.as_f32().unwrap().shape(), [2, 7, 64]);
            assert_eq!(out[1].1.as_f32().unwrap().shape(), [2, dim]);
            assert!(out[0].1.as_f32().unwrap().iter().all(|v| v.is_finite()));
        }
    }
}
