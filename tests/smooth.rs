//! Smoothing (`quantize --smooth`) is exact in float: the smoothed model, not yet quantized,
//! computes the same outputs as the original in ONNX Runtime (within 1e-5 of each output's largest
//! magnitude) on both tiny fixtures, and smoothing then quantizing keeps fidelity.

mod common;

use squeezebench::data::Inputs;
use squeezebench::onnx::{Model, SaveOptions};
use squeezebench::quant::{self, QuantizeOptions, Smooth};
use squeezebench::runtime::{Session, SessionOptions};

fn outputs(path: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    let mut session = Session::from_file(path, &SessionOptions::default()).unwrap();
    let model = Model::load(path).unwrap();
    let sets = Inputs::Synthetic { samples: 1, batch: 2, seq: 16 }.sets(&model, session.inputs()).unwrap();
    let set = squeezebench::data::inputs::as_declared(session.inputs(), &sets[0]);
    session
        .run_set(&set)
        .unwrap()
        .into_iter()
        .filter_map(|(n, v)| v.as_f32().map(|x| (n, x.iter().copied().collect())))
        .collect()
}

#[test]
fn smoothing_is_exact_in_float_on_the_fixtures() {
    let dir = common::scratch("smooth");
    for fixture in ["bert-tiny.onnx", "squeezebert-tiny.onnx"] {
        let src = common::fixtures().join(fixture);
        for how in [Smooth::Alpha(0.5), Smooth::Auto] {
            let mut model = Model::load(&src).unwrap();
            let options = QuantizeOptions { smooth: how, samples: 4, seq: 16, ..QuantizeOptions::default() };
            let report = quant::smooth::smooth_model(&mut model, &options).unwrap();
            let smoothed = report.sites.iter().filter(|s| s.alpha.is_some()).count();
            eprintln!("{fixture} {how}: {} sites, {smoothed} smoothed: {:?}", report.sites.len(), report.sites);
            if fixture == "bert-tiny.onnx" {
                // Every FFN down-projection reads an erf GELU's last Mul: one site per layer.
                assert!(!report.sites.is_empty(), "{fixture}: no smoothing site found");
            }
            if how == Smooth::Alpha(0.5) {
                assert_eq!(smoothed, report.sites.len(), "a fixed alpha smooths every site");
            }
            let out = dir.path().join(format!("{fixture}-{how}.onnx"));
            model.save(&out, &SaveOptions::default()).unwrap();
            for ((name, x), (_, y)) in outputs(&src).iter().zip(outputs(&out)) {
                let scale = x.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
                let worst = x.iter().zip(&y).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(worst <= 1e-5 * scale, "{fixture} {how}: output {name} moved by {worst} (largest |x| {scale})");
            }
        }
    }
}
