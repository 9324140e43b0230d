//! Latency of SqueezeBERT's pointwise Convs against their `conv-matmul` rewrites, fp32 on the CPU.
//!
//! Usage: `cargo bench --bench conv_matmul -- MODEL.onnx [RUNS] [SEQ] [THREADS]` (defaults 200 runs,
//! sequence 128, 2 intra-op threads, batch 1). Four variants of the model are built in memory and
//! saved to a scratch folder: the original, `default` only, `default,conv-matmul` (batched over
//! groups, the registered form) and `default` + conv-matmul in the block-diagonal form. One session
//! each, same options; after 10 warm-up runs each, the sessions run interleaved (A, B, C, D, A, ...)
//! so drift on a shared machine hits all alike. Prints the median and the ratio to the original,
//! and the largest absolute output difference of each variant from the original.

mod common;

use ndarray::{ArrayD, IxDyn};
use squeezebench::onnx::{Model, SaveOptions};
use squeezebench::passes::conv_matmul::{ConvMatMul, Form};
use squeezebench::passes::{self, Pipeline};
use squeezebench::runtime::{Session, SessionOptions, Tensor};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let Some(path) = args.first() else {
        eprintln!("usage: cargo bench --bench conv_matmul -- MODEL.onnx [RUNS] [SEQ] [THREADS]");
        std::process::exit(2);
    };
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (runs, seq, threads) = (arg(1, 200), arg(2, 128), arg(3, 2));
    let dir = tempfile::tempdir().expect("scratch folder");

    let variants: [(&str, Option<Form>, bool); 4] = [
        ("original", None, false),
        ("default", None, true),
        ("default,conv-matmul (batched)", Some(Form::Batched), true),
        ("default,conv-matmul (block-diagonal)", Some(Form::BlockDiagonal), true),
    ];
    let options = SessionOptions { intra_threads: threads, inter_threads: 1, ..Default::default() };
    let mut sessions = Vec::new();
    for (k, (name, form, default)) in variants.iter().enumerate() {
        let mut m = Model::load(path).expect("load the model");
        let mut p = Pipeline::new(if *default { passes::parse_list("default").unwrap() } else { Vec::new() });
        if let Some(form) = form {
            p.passes.push(Box::new(ConvMatMul { form: *form }));
        }
        let r = p.run(&mut m).expect("rewrite");
        let convs = m.graph().node.iter().filter(|n| n.op_type.as_deref() == Some("Conv")).count();
        println!("{name:<40} nodes {} -> {}, Conv left {convs}", r.before.nodes, r.after.nodes);
        let file = dir.path().join(format!("v{k}.onnx"));
        m.save(&file, &SaveOptions::default()).expect("save");
        sessions.push(Session::from_file(&file, &options).expect("session"));
    }

    let shape = IxDyn(&[1, seq]);
    let ids: Vec<i64> = (0..seq as i64).map(|i| (i * 7919 + 101) % 30000).collect();
    let inputs = [
        ("input_ids", Tensor::from(ArrayD::from_shape_vec(shape.clone(), ids).unwrap())),
        ("attention_mask", Tensor::from(ArrayD::<i64>::ones(shape.clone()))),
        ("token_type_ids", Tensor::from(ArrayD::<i64>::zeros(shape))),
    ];
    let wanted: Vec<String> = sessions[0].inputs().iter().map(|i| i.name.clone()).collect();
    let inputs: Vec<(&str, Tensor)> = inputs.into_iter().filter(|(n, _)| wanted.iter().any(|w| w == n)).collect();

    let reference = sessions[0].run(&inputs).expect("run");
    for (k, s) in sessions.iter_mut().enumerate().skip(1) {
        let outs = s.run(&inputs).expect("run");
        let (mut worst, mut scale) = (0f32, 0f32);
        for ((_, a), (_, b)) in reference.iter().zip(&outs) {
            let (a, b) = (a.as_f32().unwrap(), b.as_f32().unwrap());
            worst = a.iter().zip(b.iter()).fold(worst, |w, (x, y)| w.max((x - y).abs()));
            scale = a.iter().fold(scale, |s, x| s.max(x.abs()));
        }
        println!("{:<40} largest absolute output difference {worst:.2e} (largest |output| {scale:.2})", variants[k].0);
    }

    let prepared: Vec<_> = sessions.iter().map(|s| s.prepare(&inputs).expect("inputs")).collect();
    let mut times = common::interleaved(&mut sessions, &prepared, runs);
    let median = |v: &mut Vec<f64>| v[v.len() / 2];
    let medians: Vec<f64> = times.iter_mut().map(median).collect();
    println!("batch 1 x seq {seq}, {threads} threads, {runs} interleaved runs each, fp32:");
    for (k, (name, ..)) in variants.iter().enumerate() {
        let (lo, hi) = (times[k][runs / 10], times[k][runs * 9 / 10]);
        println!("{name:<40} median {:>8.3} ms  (p10 {lo:.3}, p90 {hi:.3})  ratio to original {:.3}", medians[k], medians[k] / medians[0]);
    }
}
