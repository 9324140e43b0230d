//! `squeezebench quantize` against ONNX Runtime's own Python quantizer (the peer), in one run.
//!
//! ```text
//! cargo build --release
//! cargo bench --bench quantize -- tool BERT.onnx [REPEATS]
//! cargo bench --bench quantize -- latency [--runs N] [--seq S] [--threads T] NAME=MODEL.onnx ...
//! cargo bench --bench quantize -- all BERT.onnx SQUEEZEBERT.onnx [REPEATS] [RUNS]
//! cargo bench --bench quantize -- static BERT.onnx SQUEEZEBERT.onnx [REPEATS] [RUNS]
//! ```
//!
//! * `tool`: wall time and peak RSS (`/usr/bin/time -v`) of `target/release/squeezebench quantize
//!   BERT -o … --verify 0` and of `onnxruntime.quantization.quantize_dynamic` (weights QInt8, the
//!   peer's defaults otherwise) run by `.venv-fixtures/bin/python`, alternated (ours, peer, ours, …)
//!   REPEATS times (default 5); medians and the ratio.
//! * `latency`: one ONNX Runtime session per model (batch 1, sequence S = 128, T = 2 intra-op
//!   threads, arena on), 10 warm-up runs each, then RUNS (200) rounds in which every session runs
//!   once in turn (interleaved, so load on a shared machine hits all alike); median, p10, p90 and
//!   the ratio of each median to the first model's.
//! * `all`: `tool` on BERT, then builds the int8 variants in a scratch folder (ours: default
//!   dynamic; peer: `quantize_dynamic`; for SqueezeBERT also the peer on the Conv model (ConvInteger)
//!   and the peer on our fp32 channels-last `conv-matmul` rewrite, the "rewrite then peer" route),
//!   and runs `latency` on BERT (fp32, peer, ours) and SqueezeBERT (fp32, ours, peer variants).
//! * `static`: static QDQ with 100 calibration samples (seeded token ids uniform over the
//!   vocabulary, batch 1 × 128, the same distribution for both tools; MinMax, per tensor, s8
//!   weights, u8 activations): `squeezebench quantize --mode static` against the peer's
//!   `quantize_static` (QDQ format) on BERT, alternated REPEATS times (default 3), wall time and
//!   peak RSS; then both tools' static models of BERT and SqueezeBERT, with our dynamic ones, in
//!   `latency` against fp32.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use ndarray::{ArrayD, IxDyn};
use squeezebench::onnx::{Model, SaveOptions};
use squeezebench::passes::conv_matmul::{ConvMatMul, Form};
use squeezebench::passes::{self, Pipeline};
use squeezebench::runtime::{Session, SessionOptions, Tensor};

const PEER: &str = r#"
import sys, time
from onnxruntime.quantization import quantize_dynamic, QuantType
t = time.time()
quantize_dynamic(sys.argv[1], sys.argv[2], weight_type=QuantType.QInt8)
print("peer seconds %.3f" % (time.time() - t))
"#;

const PEER_STATIC: &str = r#"
import sys, time
import numpy as np
from onnxruntime.quantization import quantize_static, QuantType, QuantFormat, CalibrationDataReader, CalibrationMethod
class Tokens(CalibrationDataReader):
    # 100 batches of 1 x 128 ids uniform below the vocabulary, full mask, type 0.
    def __init__(self, n, seq, vocab):
        rng = np.random.default_rng(0)
        self.items = iter([{"input_ids": rng.integers(0, vocab, (1, seq), dtype=np.int64),
                            "attention_mask": np.ones((1, seq), dtype=np.int64),
                            "token_type_ids": np.zeros((1, seq), dtype=np.int64)} for _ in range(n)])
    def get_next(self):
        return next(self.items, None)
t = time.time()
quantize_static(sys.argv[1], sys.argv[2], Tokens(int(sys.argv[3]), 128, 30522), quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
print("peer seconds %.3f" % (time.time() - t))
"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ours() -> PathBuf {
    root().join("target/release/squeezebench")
}

fn python() -> PathBuf {
    root().join(".venv-fixtures/bin/python")
}

/// Runs `cmd` under `/usr/bin/time -v`: (wall seconds, max RSS bytes).
fn timed(cmd: &mut Command) -> (f64, u64) {
    let mut t = Command::new("/usr/bin/time");
    t.arg("-v").arg(cmd.get_program()).args(cmd.get_args());
    let out = t.output().expect("run /usr/bin/time");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} failed:\n{err}", cmd);
    let field = |name: &str| err.lines().find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string())).unwrap_or_default();
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):");
    let secs = wall.rsplit(':').enumerate().map(|(i, p)| p.parse::<f64>().unwrap_or(0.0) * 60f64.powi(i as i32)).sum();
    let rss = field("Maximum resident set size (kbytes):").parse::<u64>().unwrap_or(0) * 1024;
    (secs, rss)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn peer_script(dir: &Path) -> PathBuf {
    let p = dir.join("peer.py");
    std::fs::write(&p, PEER).unwrap();
    p
}

fn peer_static_script(dir: &Path) -> PathBuf {
    let p = dir.join("peer_static.py");
    std::fs::write(&p, PEER_STATIC).unwrap();
    p
}


/// `squeezebench quantize` with `ours_args` against the peer's `script` (model, output, then
/// `peer_args`), alternated `repeats` times: wall time and peak RSS, medians and ratios.
fn compare_tools(what: &str, model: &Path, repeats: usize, dir: &Path, ours_args: &[&str], script: &Path, peer_args: &[&str]) {
    let size = std::fs::metadata(model).expect("model").len() as f64;
    let (mut ot, mut orss, mut pt, mut prss) = (vec![], vec![], vec![], vec![]);
    for i in 0..repeats {
        let out = dir.join(format!("ours{i}.onnx"));
        let (t, r) = timed(Command::new(ours()).arg("quantize").arg(model).arg("-o").arg(&out).args(ours_args).args(["--verify", "0", "--force"]));
        ot.push(t);
        orss.push(r as f64);
        let out = dir.join(format!("peer{i}.onnx"));
        let (t, r) = timed(Command::new(python()).arg(script).arg(model).arg(&out).args(peer_args));
        pt.push(t);
        prss.push(r as f64);
        println!("  repeat {i}: ours {:.2} s {:.0} MB, peer {:.2} s {:.0} MB", ot[i], orss[i] / 1e6, pt[i], prss[i] / 1e6);
    }
    let (a, b, c, d) = (median(&mut ot), median(&mut orss), median(&mut pt), median(&mut prss));
    println!("quantize ({what}) {} ({:.0} MB), {repeats} alternated runs, medians:", model.display(), size / 1e6);
    println!("  squeezebench  {a:.3} s  max RSS {:.0} MB ({:.2}x the file)", b / 1e6, b / size);
    println!("  peer          {c:.3} s  max RSS {:.0} MB ({:.2}x the file)", d / 1e6, d / size);
    println!("  speed-up {:.1}x, RSS {:.2}x the peer's", c / a, b / d);
}

fn tool(model: &Path, repeats: usize, dir: &Path) {
    compare_tools("dynamic", model, repeats, dir, &[], &peer_script(dir), &[]);
}

/// Static QDQ, 100 samples: ours against the peer's `quantize_static`, alternated.
fn tool_static(model: &Path, repeats: usize, dir: &Path) {
    compare_tools("static QDQ, 100 calibration samples", model, repeats, dir, &["--mode", "static", "--samples", "100"], &peer_static_script(dir), &["100"]);
}

fn latency(models: &[(String, PathBuf)], runs: usize, seq: usize, threads: usize) {
    let options = SessionOptions { intra_threads: threads, inter_threads: 1, ..Default::default() };
    let mut sessions: Vec<Session> = models.iter().map(|(_, p)| Session::from_file(p, &options).expect("session")).collect();
    let shape = IxDyn(&[1, seq]);
    let ids: Vec<i64> = (0..seq as i64).map(|i| (i * 7919 + 101) % 30000).collect();
    let all = [
        ("input_ids", Tensor::from(ArrayD::from_shape_vec(shape.clone(), ids).unwrap())),
        ("attention_mask", Tensor::from(ArrayD::<i64>::ones(shape.clone()))),
        ("token_type_ids", Tensor::from(ArrayD::<i64>::zeros(shape))),
    ];
    let prepared: Vec<_> = sessions
        .iter()
        .map(|s| {
            let inputs: Vec<(&str, Tensor)> = all.iter().filter(|(n, _)| s.inputs().iter().any(|i| i.name == *n)).cloned().collect();
            s.prepare(&inputs).expect("inputs")
        })
        .collect();
    let mut times = common::interleaved(&mut sessions, &prepared, runs);
    let medians: Vec<f64> = times.iter_mut().map(|v| median(v)).collect();
    println!("latency: batch 1 x seq {seq}, {threads} threads, {runs} interleaved rounds:");
    for (k, (name, _)) in models.iter().enumerate() {
        let (lo, hi) = (times[k][runs / 10], times[k][runs * 9 / 10]);
        println!(
            "  {name:<44} median {:>8.2} ms (p10 {lo:.2}, p90 {hi:.2})  {:.2}x faster than {}",
            medians[k],
            medians[0] / medians[k],
            models[0].0
        );
    }
}

fn quantize_ours(model: &Path, out: &Path, extra: &[&str]) {
    let st = Command::new(ours()).arg("quantize").arg(model).arg("-o").arg(out).args(["--verify", "0", "--force"]).args(extra).status().unwrap();
    assert!(st.success());
}

fn quantize_peer(model: &Path, out: &Path, dir: &Path) {
    let st = Command::new(python()).arg(peer_script(dir)).arg(model).arg(out).status().unwrap();
    assert!(st.success());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let dir = tempfile::tempdir().expect("scratch folder");
    let num = |i: usize, d: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("tool") => tool(Path::new(&args[1]), num(2, 5), dir.path()),
        Some("latency") => {
            let (mut runs, mut seq, mut threads, mut models) = (200, 128, 2, Vec::new());
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--runs" => runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
                    "--seq" => seq = it.next().and_then(|v| v.parse().ok()).expect("--seq N"),
                    "--threads" => threads = it.next().and_then(|v| v.parse().ok()).expect("--threads N"),
                    m => {
                        let (name, path) = m.split_once('=').unwrap_or((m, m));
                        models.push((name.to_string(), PathBuf::from(path)));
                    }
                }
            }
            latency(&models, runs, seq, threads);
        }
        Some("all") => {
            let (bert, sq) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
            let (repeats, runs) = (num(3, 5), num(4, 200));
            tool(&bert, repeats, dir.path());
            let d = dir.path();
            quantize_ours(&bert, &d.join("bert-ours.onnx"), &[]);
            quantize_peer(&bert, &d.join("bert-peer.onnx"), d);
            latency(
                &[
                    ("bert fp32".into(), bert.clone()),
                    ("bert int8, peer quantize_dynamic".into(), d.join("bert-peer.onnx")),
                    ("bert int8, squeezebench dynamic".into(), d.join("bert-ours.onnx")),
                ],
                runs,
                128,
                2,
            );
            quantize_ours(&sq, &d.join("sq-ours.onnx"), &[]);
            quantize_ours(&sq, &d.join("sq-ours-batched.onnx"), &["--conv", "batched-right"]);
            quantize_peer(&sq, &d.join("sq-peer.onnx"), d);
            // The "rewrite, then the peer" route: our fp32 channels-last per-group MatMul form.
            let mut m = Model::load(&sq).expect("load");
            let p = Pipeline::new(vec![passes::by_name("identity").unwrap(), Box::new(ConvMatMul { form: Form::Split })]);
            p.run(&mut m).expect("rewrite");
            m.save(d.join("sq-split-fp32.onnx"), &SaveOptions::default()).expect("save");
            quantize_peer(&d.join("sq-split-fp32.onnx"), &d.join("sq-split-peer.onnx"), d);
            latency(
                &[
                    ("squeezebert fp32 (Conv)".into(), sq.clone()),
                    ("squeezebert int8, squeezebench dynamic".into(), d.join("sq-ours.onnx")),
                    ("squeezebert int8, squeezebench --conv batched-right".into(), d.join("sq-ours-batched.onnx")),
                    ("squeezebert int8, peer (ConvInteger)".into(), d.join("sq-peer.onnx")),
                    ("squeezebert int8, conv-matmul split + peer".into(), d.join("sq-split-peer.onnx")),
                ],
                runs,
                128,
                2,
            );
        }
        Some("static") => {
            let (bert, sq) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
            let (repeats, runs) = (num(3, 3), num(4, 200));
            let d = dir.path();
            tool_static(&bert, repeats, d);
            let peer = |m: &Path, out: &Path| {
                let st = Command::new(python()).arg(peer_static_script(d)).arg(m).arg(out).arg("100").status().unwrap();
                assert!(st.success());
            };
            for (name, m) in [("bert", &bert), ("sq", &sq)] {
                quantize_ours(m, &d.join(format!("{name}-static.onnx")), &["--mode", "static"]);
                quantize_ours(m, &d.join(format!("{name}-static-pc.onnx")), &["--mode", "static", "--per-channel"]);
                quantize_ours(m, &d.join(format!("{name}-dynamic.onnx")), &[]);
                peer(m, &d.join(format!("{name}-peer-static.onnx")));
            }
            for (name, m) in [("bert", &bert), ("squeezebert", &sq)] {
                let short = if name == "bert" { "bert" } else { "sq" };
                latency(
                    &[
                        (format!("{name} fp32"), m.clone()),
                        (format!("{name} int8, peer quantize_static (QDQ)"), d.join(format!("{short}-peer-static.onnx"))),
                        (format!("{name} int8, squeezebench static"), d.join(format!("{short}-static.onnx"))),
                        (format!("{name} int8, squeezebench static per-channel"), d.join(format!("{short}-static-pc.onnx"))),
                        (format!("{name} int8, squeezebench dynamic"), d.join(format!("{short}-dynamic.onnx"))),
                    ],
                    runs,
                    128,
                    2,
                );
            }
        }
        _ => {
            eprintln!("usage: cargo bench --bench quantize -- tool MODEL [REPEATS] | latency [--runs N] [--seq S] [--threads T] NAME=MODEL ... | all BERT SQUEEZEBERT [REPEATS] [RUNS] | static BERT SQUEEZEBERT [REPEATS] [RUNS]");
            std::process::exit(2);
        }
    }
}
