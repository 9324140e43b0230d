//! Harness overhead: the median latency `squeezebench run` reports for a model against a bare run
//! loop on the same model and settings, measured in one process run, interleaved.
//!
//! Usage: `cargo bench --bench harness_overhead -- MODEL.onnx [ROUNDS] [ITERS] [SEQ] [THREADS]`
//! (defaults 5 rounds, 200 timed runs, sequence 128, 2 intra-op threads, batch 1).
//!
//! Each round runs (A) the bare loop: one session in this process (`runtime::Session`, the thin
//! owner of an `ort` session; same options as the suite worker: arena on, all optimisations),
//! inputs prepared once, 10 warm-up runs, then ITERS runs of `run_prepared_discard` each timed with
//! `Instant`, median; and (B) `squeezebench run` of a one-case suite with the same model, batch,
//! sequence, threads, warm-up and ITERS timed runs (a worker process, as always), whose results.json
//! gives the median. A, B, A, B, ... so drift hits both alike. Prints each round and the ratio of
//! the medians of the per-round medians.

use std::process::Command;
use std::time::Instant;

use squeezebench::runtime::{Session, SessionOptions, Tensor};
use squeezebench::suite::spec::Lengths;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    squeezebench::measure::stats::percentile_sorted(&v, 0.5)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let Some(model) = args.first() else {
        eprintln!("usage: cargo bench --bench harness_overhead -- MODEL.onnx [ROUNDS] [ITERS] [SEQ] [THREADS]");
        std::process::exit(2);
    };
    let model = std::fs::canonicalize(model).expect("model path");
    let arg = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (rounds, iters, seq, threads) = (arg(1, 5), arg(2, 200), arg(3, 128), arg(4, 2));
    let dir = tempfile::tempdir().expect("scratch folder");
    let suite = dir.path().join("overhead.yaml");
    std::fs::write(
        &suite,
        format!(
            "models:\n  m: {{path: {}}}\nworkloads: {{batch: [1], seq: [{seq}], threads: [{threads}]}}\nmetrics: [latency]\n\
             run: {{warmup: 10, min_iterations: {iters}, min_time_s: 0, target_cv: 1000, max_time_s: 600, time_limit_s: 900}}\n",
            model.display()
        ),
    )
    .unwrap();

    let m = squeezebench::onnx::Model::load(&model).expect("load");
    let vocab = squeezebench::onnx::stats::vocab_size(&m, "input_ids").unwrap_or(100);
    drop(m);
    let mut session = Session::from_file(&model, &SessionOptions { intra_threads: threads, ..Default::default() }).expect("session");
    let inputs = squeezebench::data::synthetic::token_batch(session.inputs(), 1, seq, &Lengths::Full, vocab, 0);
    let refs: Vec<(&str, Tensor)> = inputs.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let prepared = session.prepare(&refs).expect("inputs");

    let (mut bare, mut harness) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for _ in 0..10 {
            session.run_prepared_discard(&prepared).unwrap();
        }
        let mut ms = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t = Instant::now();
            session.run_prepared_discard(&prepared).unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        bare.push(median(ms));

        let out = dir.path().join(format!("out{round}"));
        let status = Command::new(env!("CARGO_BIN_EXE_squeezebench"))
            .args(["run", suite.to_str().unwrap(), "--no-progress", "--cache-dir"])
            .arg(dir.path().join("cache"))
            .arg("--out")
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("squeezebench run");
        assert!(status.success(), "squeezebench run failed");
        let r = squeezebench::results::Results::load(&out.join("results.json")).unwrap();
        let l = r.cases[0].latency.as_ref().unwrap();
        assert_eq!(l.iterations, iters);
        harness.push(l.p50_ms);
        println!("round {round}: bare p50 {:.3} ms   squeezebench p50 {:.3} ms [{:.3}, {:.3}]   ratio {:.4}", bare[round], l.p50_ms, l.p50_ci_ms[0], l.p50_ci_ms[1], l.p50_ms / bare[round]);
    }
    let (b, h) = (median(bare), median(harness));
    println!("median of {rounds} rounds: bare {b:.3} ms, squeezebench {h:.3} ms, ratio {:.4} ({:+.2} %)", h / b, 100.0 * (h / b - 1.0));
}
