//! The runtime layer against the real ONNX Runtime (the library provisioned by build.rs, or ORT_DYLIB_PATH), on the
//! tiny BERT and SqueezeBERT fixtures exported from PyTorch by `fixtures/export_fixtures.py`. No mocks.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use squeezebench::runtime::{self, DType, Dim, Error, Session, SessionOptions, Tensor};

const FIXTURES: [&str; 2] = ["bert-tiny", "squeezebert-tiny"];
const INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];

/// Largest absolute difference allowed between ONNX Runtime's and PyTorch's float32 logits.
const ABS_TOLERANCE: f32 = 1e-4;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn load(name: &str) -> Session {
    let path = fixture(&format!("{name}.onnx"));
    Session::from_file(&path, &SessionOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn reference(name: &str) -> Value {
    let path = fixture(&format!("{name}.reference.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn shape_of(t: &Value) -> Vec<usize> {
    t["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect()
}

fn i64_tensor(t: &Value) -> Tensor {
    let data: Vec<i64> = t["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v.as_i64().expect("int"))
        .collect();
    Tensor::from(ArrayD::from_shape_vec(IxDyn(&shape_of(t)), data).expect("shape matches data"))
}

fn f32_array(t: &Value) -> ArrayD<f32> {
    let data: Vec<f32> = t["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|v| v.as_f64().expect("float") as f32)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape_of(t)), data).expect("shape matches data")
}

fn case_inputs(case: &Value) -> Vec<(String, Tensor)> {
    case["inputs"]
        .as_object()
        .expect("inputs")
        .iter()
        .map(|(k, v)| (k.clone(), i64_tensor(v)))
        .collect()
}

fn as_refs(inputs: &[(String, Tensor)]) -> Vec<(&str, Tensor)> {
    // `run` takes (&str, Tensor); the clone is test-side convenience only.
    inputs
        .iter()
        .map(|(n, t)| (n.as_str(), t.clone()))
        .collect()
}

fn max_abs_diff(got: &ArrayD<f32>, want: &ArrayD<f32>) -> f32 {
    assert_eq!(got.shape(), want.shape(), "output shape");
    got.iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

fn small_inputs(batch: usize, seq: usize) -> Vec<(&'static str, Tensor)> {
    INPUTS
        .iter()
        .map(|&n| (n, Tensor::from(ArrayD::<i64>::ones(IxDyn(&[batch, seq])))))
        .collect()
}

#[test]
fn loads_the_expected_onnx_runtime() {
    let info = runtime::init().unwrap_or_else(|e| panic!("{e}"));
    assert!(info.library.is_file(), "{}", info.library.display());
    assert!(
        info.version.starts_with("1.31."),
        "expected ONNX Runtime 1.31.x, loaded {} from {}",
        info.version,
        info.library.display()
    );
    assert_eq!(runtime::version().unwrap(), info.version);
}

/// Every case of `<fixture>.reference.json` reproduces PyTorch's logits within an absolute tolerance of 1e-4 (per
/// element), both through `run` and through `prepare` + `run_prepared`.
#[test]
fn fixture_cases_match_torch_logits_within_1e_4_abs() {
    for name in FIXTURES {
        let doc = reference(name);
        let mut session = load(name);
        let cases = doc["cases"].as_array().expect("cases");
        assert!(!cases.is_empty(), "{name}: no cases");
        for case in cases {
            let label = format!("{name}/{}", case["name"].as_str().unwrap_or("?"));
            let inputs = case_inputs(case);
            let outputs = session
                .run(&as_refs(&inputs))
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            let prepared = session
                .prepare(&as_refs(&inputs))
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            let outputs_prepared = session
                .run_prepared(&prepared)
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            session
                .run_prepared_discard(&prepared)
                .unwrap_or_else(|e| panic!("{label}: {e}"));

            for (out_name, want) in case["outputs"].as_object().expect("outputs") {
                let want = f32_array(want);
                for (how, outs) in [("run", &outputs), ("run_prepared", &outputs_prepared)] {
                    let got = outs
                        .iter()
                        .find(|(n, _)| n == out_name)
                        .unwrap_or_else(|| panic!("{label}: no output {out_name}"))
                        .1
                        .as_f32()
                        .unwrap_or_else(|| panic!("{label}: {out_name} is not float32"));
                    let diff = max_abs_diff(got, &want);
                    assert!(
                        diff <= ABS_TOLERANCE,
                        "{label} ({how}): {out_name} differs from torch by {diff}"
                    );
                }
            }
        }
    }
}

#[test]
fn metadata_has_names_int64_and_symbolic_dims() {
    for name in FIXTURES {
        let session = load(name);
        let inputs = session.inputs();
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, INPUTS, "{name}");
        for input in inputs {
            assert_eq!(input.dtype, DType::I64, "{name}: {}", input.name);
            assert_eq!(
                input.shape,
                vec![
                    Dim::Symbolic("batch".into()),
                    Dim::Symbolic("sequence".into())
                ],
                "{name}: {}",
                input.name
            );
        }
        let outputs = session.outputs();
        assert_eq!(outputs.len(), 1, "{name}");
        assert_eq!(outputs[0].name, "logits");
        assert_eq!(outputs[0].dtype, DType::F32);
        assert_eq!(outputs[0].shape.len(), 2, "{name}");
        assert_eq!(outputs[0].shape[0], Dim::Symbolic("batch".into()), "{name}");
        assert!(
            matches!(outputs[0].shape[1], Dim::Fixed(n) if n > 0),
            "{name}: {:?}",
            outputs[0].shape
        );
    }
}

#[test]
fn missing_model_file_is_an_error_naming_it() {
    let path = fixture("no-such-model.onnx");
    let err = Session::from_file(&path, &SessionOptions::default()).unwrap_err();
    assert!(matches!(err, Error::ModelNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-model.onnx"), "{err}");
}

#[test]
fn garbage_model_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.onnx");
    std::fs::write(
        &path,
        b"this is not an ONNX protobuf \x00\xff\x13\x37 at all",
    )
    .unwrap();
    let err = Session::from_file(&path, &SessionOptions::default()).unwrap_err();
    assert!(matches!(err, Error::ModelLoad { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage.onnx"), "{err}");

    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let err = Session::from_file(&empty, &SessionOptions::default()).unwrap_err();
    assert!(err.to_string().contains("empty.onnx"), "{err}");
}

#[test]
fn missing_unknown_duplicate_and_mistyped_inputs_are_errors_naming_them() {
    let mut session = load("bert-tiny");
    let mut inputs = small_inputs(1, 4);

    inputs.retain(|(n, _)| *n != "token_type_ids");
    let err = session.run(&inputs).unwrap_err();
    assert!(matches!(err, Error::MissingInput { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("token_type_ids") && msg.contains("bert-tiny.onnx"),
        "{msg}"
    );
    assert!(session.prepare(&inputs).is_err());

    let mut unknown = small_inputs(1, 4);
    unknown.push((
        "position_ids",
        Tensor::from(ArrayD::<i64>::zeros(IxDyn(&[1, 4]))),
    ));
    let msg = session.run(&unknown).unwrap_err().to_string();
    assert!(
        msg.contains("position_ids") && msg.contains("input_ids"),
        "{msg}"
    );

    let mut duplicate = small_inputs(1, 4);
    duplicate.push((
        "input_ids",
        Tensor::from(ArrayD::<i64>::zeros(IxDyn(&[1, 4]))),
    ));
    let msg = session.run(&duplicate).unwrap_err().to_string();
    assert!(
        msg.contains("input_ids") && msg.contains("more than once"),
        "{msg}"
    );

    let mut mistyped = small_inputs(1, 4);
    mistyped[1].1 = Tensor::from(ArrayD::<f32>::ones(IxDyn(&[1, 4])));
    let msg = session.run(&mistyped).unwrap_err().to_string();
    assert!(
        msg.contains("attention_mask") && msg.contains("int64") && msg.contains("float32"),
        "{msg}"
    );

    // A shape ONNX Runtime rejects at run time (mask shorter than ids) is an error naming the model, not a panic.
    let mut ragged = small_inputs(1, 4);
    ragged[1].1 = Tensor::from(ArrayD::<i64>::ones(IxDyn(&[1, 3])));
    let msg = session.run(&ragged).unwrap_err().to_string();
    assert!(msg.contains("bert-tiny.onnx"), "{msg}");
}

#[test]
fn prepared_inputs_belong_to_their_session() {
    let a = load("bert-tiny");
    let mut b = load("bert-tiny");
    let prepared = a.prepare(&small_inputs(2, 6)).unwrap();
    let err = b.run_prepared(&prepared).unwrap_err();
    assert!(
        matches!(err, Error::ForeignPreparedInputs { .. }),
        "{err:?}"
    );
}

#[test]
fn non_contiguous_inputs_and_session_options_work() {
    let opts = SessionOptions {
        intra_threads: 1,
        inter_threads: 1,
        optimization_level: runtime::OptimizationLevel::Disable,
        arena: false,
        parallel_execution: true,
        memory_pattern: false,
        optimized_model_path: None,
        prepacking: false,
    };
    let mut plain = Session::from_file(fixture("bert-tiny.onnx"), &opts).unwrap();
    let mut optimized = load("bert-tiny");

    // Transposed (column-major) ids: must be copied to standard layout, giving the same result as a contiguous copy.
    let ids =
        ArrayD::from_shape_vec(IxDyn(&[5, 2]), (0..10).map(|i| 100 + i as i64).collect()).unwrap();
    let ids_t = ids.t().as_standard_layout().into_owned();
    assert!(ids_t.is_standard_layout());
    let ids_t_view = ids.clone().reversed_axes();
    assert!(!ids_t_view.is_standard_layout());
    let ones = || Tensor::from(ArrayD::<i64>::ones(IxDyn(&[2, 5])));
    let zeros = || Tensor::from(ArrayD::<i64>::zeros(IxDyn(&[2, 5])));
    let run = |s: &mut Session, ids: ArrayD<i64>| {
        let out = s.run(&[
            ("input_ids", Tensor::from(ids)),
            ("attention_mask", ones()),
            ("token_type_ids", zeros()),
        ]);
        out.unwrap().remove(0).1
    };
    let a = run(&mut plain, ids_t.clone());
    let b = run(&mut plain, ids_t_view);
    let c = run(&mut optimized, ids_t);
    assert_eq!(a, b);
    assert!(max_abs_diff(a.as_f32().unwrap(), c.as_f32().unwrap()) <= ABS_TOLERANCE);
}

#[test]
fn writes_the_optimized_model_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("optimized.onnx");
    let opts = SessionOptions {
        optimization_level: runtime::OptimizationLevel::Extended,
        optimized_model_path: Some(out.clone()),
        ..SessionOptions::default()
    };
    Session::from_file(fixture("bert-tiny.onnx"), &opts).unwrap();
    assert!(
        std::fs::metadata(&out)
            .map(|m| m.len() > 0)
            .unwrap_or(false),
        "{} not written",
        out.display()
    );
}

#[test]
fn sessions_and_prepared_inputs_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Session>();
    assert_send::<runtime::PreparedInputs>();
    assert_send::<Error>();
}
