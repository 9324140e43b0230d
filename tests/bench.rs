//! `squeezebench bench`: models measured with no suite file, in worker processes and real ONNX
//! Runtime sessions, each compared with the first.

mod common;

use std::process::Command;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_squeezebench")).arg("bench").args(args).output().unwrap()
}

/// Two fixtures at seq 128: both p50s with their intervals, and the second's speed-up over the
/// first with its interval; `--json` gives the same as one object.
#[test]
fn two_models_are_measured_and_compared_with_the_first() {
    let f = common::fixtures();
    let (bert, sq) = (f.join("bert-tiny.onnx"), f.join("squeezebert-tiny.onnx"));
    let (bert, sq) = (bert.to_str().unwrap(), sq.to_str().unwrap());
    let o = bench(&[bert, sq, "--seq", "128", "--threads", "1", "--rounds", "3", "--min-time", "0.6"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.starts_with("batch 1 × seq 128, 1 thread, 3 round(s) per model, interleaved\n"), "{out}");
    for m in ["bert-tiny", "squeezebert-tiny"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(m) && l.contains(" p50 ") && l.contains("95 % CI")), "{m}: {out}");
    }
    let cmp = out.lines().last().unwrap();
    assert!(cmp.starts_with("squeezebert-tiny is ") && cmp.contains(" bert-tiny (speed-up 95 % CI "), "{cmp}");

    let o = bench(&[bert, bert, "--seq", "16", "--threads", "1", "--rounds", "2", "--min-time", "0.3", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!((models[0]["model"].as_str(), models[1]["model"].as_str()), (Some("bert-tiny"), Some("bert-tiny-2")), "the same file twice gets two names");
    assert!(models[0]["speedup_vs_first"].is_null());
    let ci = models[1]["speedup_ci"].as_array().unwrap();
    let (lo, hi) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
    assert!(lo > 0.0 && lo <= models[1]["speedup_vs_first"].as_f64().unwrap() && hi >= lo, "{v}");
}

/// A model that does not exist, or is a folder, is exit 2 naming it, before anything runs.
#[test]
fn missing_models_are_refused() {
    let dir = common::scratch("bench-missing");
    let missing = dir.path().join("nope.onnx");
    let o = bench(&[missing.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("nope.onnx"), "{err}");
    let o = bench(&[dir.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("is a folder, not a regular file"), "{err}");
}
