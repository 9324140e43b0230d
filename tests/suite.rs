//! `squeezebench run`: suite files with mistakes are refused with file:line:column and a hint (more
//! in tests/hostile_suite.rs); the expansion into cases; and a whole run of a tiny suite through
//! real ONNX Runtime worker processes, in which a file ONNX Runtime rejects, a crashing worker and a
//! worker past the time limit are recorded with their errors while the other cases complete (exit
//! code 3). A missing model file is refused before the run (tests/hostile_suite.rs).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use squeezebench::results::{Results, Status};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_squeezebench"))
}

/// Writes `yaml` as `dir/name` and loads it as a suite; the error text.
fn load_err(dir: &Path, yaml: &str) -> String {
    let p = dir.join("s.yaml");
    std::fs::write(&p, yaml).unwrap();
    squeezebench::suite::load(&p).unwrap_err().to_string()
}

#[test]
fn mistakes_are_reported_at_their_line_and_column_with_a_hint() {
    let dir = common::scratch("suite-errors");
    let d = dir.path();
    let file = d.join("s.yaml").display().to_string();
    let head = "models:\n  m:\n    path: model.onnx\n";

    let e = load_err(d, &format!("{head}run:\n  warmup: 3\n  min_tme_s: 2\n"));
    assert!(e.starts_with(&format!("{file}:6:3: unknown field `min_tme_s`, expected one of")), "{e}");
    assert!(e.contains("hint: did you mean `min_time_s`?"), "{e}");
    assert!(e.contains("  |   min_tme_s: 2\n  |   ^"), "the line and a caret under the column: {e}");

    let e = load_err(d, &format!("{head}workloads:\n  batch: [1, two]\n"));
    assert!(e.starts_with(&format!("{file}:5:14: invalid u64\n")), "{e}");
    assert!(e.contains("hint: expected a whole number"), "{e}");

    let e = load_err(d, &format!("{head}metrics: [latency, acuracy]\n"));
    assert!(e.starts_with(&format!("{file}:4:20: unknown variant `acuracy`")), "{e}");
    assert!(e.contains("did you mean `accuracy`?"), "{e}");

    // Semantic problems, all of them at once, in file order.
    let e = load_err(
        d,
        "models:\n  m:\n    path: model.onnx\n    accuracy: [sstt2]\n  s:\n    synth: {arch: bert, set: {num_hiden_layers: 2}}\n\
         datasets:\n  sst2:\n    classification: {path: d.tsv, format: tsv}\nvariants:\n  v:\n    steps:\n      - rewrite: default,no-such-pass\n",
    );
    let lines: Vec<&str> = e.lines().filter(|l| l.starts_with(&file)).collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(lines[0].starts_with(&format!("{file}:4:16: model 'm': unknown dataset 'sstt2'")), "{e}");
    assert!(e.contains("hint: did you mean `sst2`?"), "{e}");
    assert!(lines[1].starts_with(&format!("{file}:6:49: model 's': unknown")) && lines[1].contains("num_hiden_layers"), "{e}");
    assert!(e.contains("did you mean `num_hidden_layers`?"), "{e}");
    assert!(lines[2].starts_with(&format!("{file}:13:18: variant 'v': ")) && lines[2].contains("no-such-pass"), "{e}");

    // Quantize options: a misspelt option at its key, an impossible combination at its step.
    let e = load_err(d, &format!("{head}variants:\n  int8:\n    steps:\n      - quantize: {{mode: dynamic, per-chanel: true}}\n"));
    // The misspelt key is mended and the suite validated too: its missing reference comes first.
    assert!(e.contains(&format!("\n{file}:7:35: unknown field `per-chanel`")), "{e}");
    assert!(e.starts_with(&format!("{file}:6:5: model 'm' has no reference variant")), "{e}");
    assert!(e.contains("hint: did you mean `per-channel`?"), "{e}");
    let e = load_err(d, &format!("{head}variants:\n  int8:\n    steps:\n      - quantize: {{mode: fast}}\n"));
    assert!(e.contains(&format!("\n{file}:7:26: unknown variant `fast`")) && e.contains("weight-only"), "{e}");
    let e = load_err(d, &format!("{head}variants:\n  int8:\n    steps:\n      - quantize: {{activation-type: s8}}\n      - quantize: {{op-types: [MatMull]}}\n"));
    let lines: Vec<&str> = e.lines().filter(|l| l.starts_with(&file)).collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(lines[0].starts_with(&format!("{file}:7:19: variant 'int8': quantize: auto quantization")) && lines[0].contains("u8 only"), "{e}");
    assert!(lines[1].starts_with(&format!("{file}:8:19: variant 'int8': quantize: op type 'MatMull' cannot be quantized")), "{e}");
    assert!(e.contains("hint: did you mean `MatMul`?"), "{e}");

    let e = load_err(d, "models:\n  m:\n    path: a.onnx\n    synth: {arch: bert}\n");
    assert!(e.starts_with(&format!("{file}:3:5: model 'm' needs exactly one of `path`, `synth`, `safetensors` (it has 2)")), "{e}");

    // The CLI says the same and exits 2.
    let out = bin().args(["run", &file, "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{file}:3:5:")));
}

#[test]
fn dry_run_lists_every_case() {
    let dir = common::scratch("suite-dry");
    let p = dir.path().join("s.yaml");
    std::fs::write(
        &p,
        "name: dry\nmodels:\n  a: {path: a.onnx}\n  b: {path: b.onnx}\nvariants:\n  fp32: {}\n  opt: {steps: [{rewrite: default}], models: [b]}\n\
         workloads: {batch: [1, 4], seq: [32, 128], threads: [1]}\n",
    )
    .unwrap();
    // Files named by the suite must exist (`run` checks before it lists or runs anything).
    std::fs::write(dir.path().join("a.onnx"), b"").unwrap();
    std::fs::write(dir.path().join("b.onnx"), b"").unwrap();
    let plan = squeezebench::suite::load(&p).unwrap();
    let cases = squeezebench::suite::expand(&plan);
    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 12);
    assert_eq!(&ids[..4], ["a/fp32/b1-s32-t1", "a/fp32/b1-s128-t1", "a/fp32/b4-s32-t1", "a/fp32/b4-s128-t1"]);
    assert!(!ids.iter().any(|i| i.starts_with("a/opt")));
    // Fidelity against the reference (the variant without steps) once per model × variant.
    let fid: Vec<&str> = cases.iter().filter(|c| c.fidelity_against.is_some()).map(|c| c.id.as_str()).collect();
    assert_eq!(fid, ["b/opt/b1-s32-t1"]);
    let out = bin().args(["run", p.to_str().unwrap(), "--dry-run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("suite dry") && text.contains("12 case(s)") && text.contains("case     b/opt/b1-s32-t1  (fidelity vs fp32)"), "{text}");
}

/// Fewer than 3 rounds give intervals a gate cannot trust: `run` says so at the `run:` line (and
/// still runs); 3 or more rounds say nothing.
#[test]
fn fewer_than_three_rounds_get_a_warning() {
    let dir = common::scratch("suite-rounds-warning");
    std::fs::write(dir.path().join("a.onnx"), b"").unwrap();
    for (run, warning) in [
        ("", Some(":0:0") ),
        ("run: {rounds: 1}\n", Some("s.yaml:4:6: warning: run: rounds is 1: each case is measured in one slice")),
        ("run: {rounds: 2}\n", Some("s.yaml:4:6: warning: run: rounds is 2: the interval across rounds has 1 degree of freedom (Student's t = 12.7)")),
        ("run: {rounds: 3}\n", None),
    ] {
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, format!("models:\n  a: {{path: a.onnx}}\nworkloads: {{threads: [1]}}\n{run}")).unwrap();
        let out = bin().args(["run", p.to_str().unwrap(), "--dry-run"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{run}");
        let err = String::from_utf8_lossy(&out.stderr);
        match warning {
            Some(":0:0") => assert!(err.contains("s.yaml: warning: run: rounds is 1"), "no run: section: {err}"),
            Some(w) => assert!(err.contains(w), "{run}: {err}"),
            None => assert!(!err.contains("warning"), "{run}: {err}"),
        }
    }
}

#[test]
fn cases_run_in_the_files_order() {
    let dir = common::scratch("suite-order");
    let p = dir.path().join("s.yaml");
    std::fs::write(
        &p,
        "models:\n  zeta: {path: z.onnx}\n  alpha: {path: a.onnx}\n\
         variants:\n  fp32: {}\n  int8: {steps: [{quantize: {}}]}\n  b-opt: {steps: [{rewrite: default}]}\n\
         workloads: {batch: [4, 1], seq: [128], threads: [2, 1]}\n",
    )
    .unwrap();
    let plan = squeezebench::suite::load(&p).unwrap();
    let cases = squeezebench::suite::expand(&plan);
    let ids: Vec<&str> = cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(&ids[..6], ["zeta/fp32/b4-s128-t2", "zeta/fp32/b4-s128-t1", "zeta/fp32/b1-s128-t2", "zeta/fp32/b1-s128-t1", "zeta/int8/b4-s128-t2", "zeta/int8/b4-s128-t1"]);
    let order: Vec<(&str, &str)> = cases.iter().step_by(4).map(|c| (c.model.as_str(), c.variant.as_str())).collect();
    assert_eq!(order, [("zeta", "fp32"), ("zeta", "int8"), ("zeta", "b-opt"), ("alpha", "fp32"), ("alpha", "int8"), ("alpha", "b-opt")]);
    let text = squeezebench::suite::expand::render(&plan, &cases);
    assert!(text.find("model    zeta").unwrap() < text.find("model    alpha").unwrap(), "{text}");
    assert!(text.contains("variant  int8                 quantize: auto  [models: zeta, alpha]"), "{text}");
}

#[test]
fn a_tiny_suite_runs_in_workers_and_records_failures() {
    let dir = common::scratch("suite-run");
    let d = dir.path();
    let fx = common::fixtures();
    // Data: 40 STS-B pairs, a classification file made from them (label: score ≥ 2.5), a tokenizer.
    common::write_text_data(d, 40);
    std::fs::write(d.join("garbage.onnx"), b"this is not a model").unwrap();
    let suite = format!(
        "name: tiny\n\
         models:\n\
         \x20 bert-tiny: {{path: {fx}/bert-tiny.onnx, tokenizer: tokenizer.json, accuracy: [cls]}}\n\
         \x20 squeezebert-tiny: {{path: {fx}/squeezebert-tiny.onnx}}\n\
         \x20 enc: {{synth: {{arch: bert, set: {{hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, vocab_size: 1000}}}}, tokenizer: tokenizer.json, accuracy: [pairs]}}\n\
         \x20 garbage: {{path: garbage.onnx}}\n\
         variants:\n\
         \x20 fp32: {{}}\n\
         \x20 opt: {{steps: [{{rewrite: default}}], models: [bert-tiny, squeezebert-tiny]}}\n\
         datasets:\n\
         \x20 cls: {{classification: {{path: cls.tsv, format: tsv, label_column: 0, text_column: 1, batch: 16}}}}\n\
         \x20 pairs: {{sentence_pairs: {{path: pairs.csv, format: csv}}}}\n\
         \x20 short: {{synthetic: {{lengths: {{uniform: {{min: 4, max: 16}}}}, seed: 3, batches: 2}}}}\n\
         workloads: {{batch: [2], seq: [16], threads: [1], inputs: short}}\n\
         run: {{warmup: 2, min_iterations: 10, min_time_s: 0.05, max_time_s: 0.3, time_limit_s: 60}}\n",
        fx = fx.display()
    );
    std::fs::write(d.join("tiny.yaml"), &suite).unwrap();
    let out = d.join("out");
    let run = |extra_env: Option<(&str, &str)>| {
        let mut c = bin();
        c.args(["run", "tiny.yaml", "--out", "out", "--force", "--cache-dir", "cache", "--no-progress"]).current_dir(d);
        if let Some((k, v)) = extra_env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let o = run(Some((squeezebench::bench::worker::CRASH_HOOK, "squeezebert-tiny/opt/b2-s16-t1")));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "a case failed: {stderr}");
    let r = Results::load(&out.join("results.json")).unwrap();
    assert!(r.finished_at.is_some() && !r.interrupted);
    let status: BTreeMap<&str, (Status, String)> =
        r.cases.iter().map(|c| (c.id.as_str(), (c.status, c.error.clone().unwrap_or_default()))).collect();
    assert_eq!(status.len(), 6, "{status:?}");
    for ok in ["bert-tiny/fp32/b2-s16-t1", "bert-tiny/opt/b2-s16-t1", "squeezebert-tiny/fp32/b2-s16-t1", "enc/fp32/b2-s16-t1"] {
        assert_eq!(status[ok].0, Status::Ok, "{ok}: {}", status[ok].1);
    }
    assert_eq!(status["garbage/fp32/b2-s16-t1"].0, Status::Failed);
    assert!(status["garbage/fp32/b2-s16-t1"].1.contains("garbage.onnx"), "{:?}", status["garbage/fp32/b2-s16-t1"]);
    let crashed = &status["squeezebert-tiny/opt/b2-s16-t1"];
    assert_eq!(crashed.0, Status::Crashed);
    assert!(crashed.1.contains("signal 6 SIGABRT") && crashed.1.contains("aborting as asked"), "{crashed:?}");

    let case = |id: &str| r.case(id).unwrap();
    let base = case("bert-tiny/fp32/b2-s16-t1");
    let l = base.latency.as_ref().unwrap();
    assert!(l.iterations >= 10 && l.p50_ms > 0.0 && l.p50_ci_ms[0] <= l.p50_ms && l.p50_ms <= l.p50_ci_ms[1]);
    assert!(l.min_ms <= l.p50_ms && l.p50_ms <= l.p90_ms && l.p90_ms <= l.p95_ms && l.p95_ms <= l.p99_ms && l.p99_ms <= l.max_ms);
    assert_eq!(l.samples_ms.len(), l.iterations);
    assert!((l.sequences_per_s - 2.0 / (l.p50_ms / 1e3)).abs() < 1e-6 * l.sequences_per_s);
    assert!((l.tokens_per_s - 16.0 * l.sequences_per_s).abs() < 1e-6 * l.tokens_per_s);
    let m = base.memory.as_ref().unwrap();
    assert!(m.session_peak_rss_bytes >= m.baseline_rss_bytes && m.run_peak_rss_bytes > 0);
    assert_eq!(m.model_file_bytes, std::fs::metadata(fx.join("bert-tiny.onnx")).unwrap().len());
    let p = base.params.as_ref().unwrap();
    assert_eq!(p.parameters, 555_395, "inspect's count of the fixture");
    assert_eq!(p.macs, squeezebench::onnx::stats::inspect(&squeezebench::onnx::Model::load(fx.join("bert-tiny.onnx")).unwrap(), 2, 16).unwrap().compute.macs);
    let acc = &base.accuracy[0];
    assert_eq!((acc.dataset.as_str(), acc.examples, acc.primary.as_str()), ("cls", 40, "accuracy"));
    assert!(acc.metrics["accuracy"] >= 0.0 && acc.metrics["accuracy"] <= 100.0 && acc.metrics.contains_key("mcc") && acc.metrics.contains_key("macro_f1"));
    // The rewritten variant computes the same function: fidelity 1, top-1 agreement 1.
    let f = case("bert-tiny/opt/b2-s16-t1").fidelity.as_ref().unwrap();
    assert_eq!(f.reference, "fp32");
    assert!(f.cosine > 0.999999 && f.max_abs_error < 1e-4 && f.top1_agreement == Some(1.0), "{f:?}");
    // A model scored on a dataset is compared on its texts, not on random token ids.
    assert!(f.inputs.starts_with("text: the first ") && f.inputs.contains("of dataset 'cls' in batches of 2, cut to 16 tokens"), "{}", f.inputs);
    let pairs = &case("enc/fp32/b2-s16-t1").accuracy[0];
    assert_eq!((pairs.task.as_str(), pairs.examples), ("sentence_pairs", 40));
    assert!(pairs.metrics["spearman"].abs() <= 100.0 && pairs.metrics.contains_key("pearson"));
    assert!(r.variants.iter().any(|v| v.variant == "opt" && v.model == "bert-tiny" && !v.cached && v.sha256.is_some()));

    // Second run: the prepared variant comes from the cache; the crash is gone.
    let o = run(None);
    assert_eq!(o.status.code(), Some(3), "garbage still fails");
    let r2 = Results::load(&out.join("results.json")).unwrap();
    assert!(r2.variants.iter().filter(|v| v.variant == "opt" && v.error.is_none()).all(|v| v.cached));
    assert_eq!(r2.case("squeezebert-tiny/opt/b2-s16-t1").unwrap().status, Status::Ok);
    assert_eq!(r2.suite.hash, r.suite.hash);
}

#[test]
fn a_case_past_the_time_limit_is_killed_and_recorded() {
    let dir = common::scratch("suite-timeout");
    let d = dir.path();
    let suite = format!(
        "models:\n  bert-tiny: {{path: {}}}\nworkloads: {{batch: [1], seq: [8], threads: [1]}}\n\
         run: {{warmup: 1, min_iterations: 5, target_cv: 0.000001, min_time_s: 30, max_time_s: 30, time_limit_s: 1.5}}\n",
        common::fixtures().join("bert-tiny.onnx").display()
    );
    std::fs::write(d.join("t.yaml"), suite).unwrap();
    let started = std::time::Instant::now();
    let o = bin().args(["run", "t.yaml", "--out", "out", "--cache-dir", "cache", "--no-progress"]).current_dir(d).output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(started.elapsed().as_secs_f64() < 20.0);
    let r = Results::load(&PathBuf::from(d).join("out/results.json")).unwrap();
    assert_eq!(r.cases[0].status, Status::Timeout);
    assert!(r.cases[0].error.as_deref().unwrap().contains("time limit of 1.5 s"));
}

/// A `quantize` step through real ONNX Runtime workers: the int8 variants of both tiny fixtures run,
/// are close to fp32 but not equal (lossy), hold int8 weights, and carry the quantizer's summary;
/// a second run takes them from the cache, summary included.
#[test]
fn quantize_steps_build_int8_variants_and_are_cached() {
    let dir = common::scratch("suite-quant");
    let d = dir.path();
    let fx = common::fixtures();
    let suite = format!(
        "models:\n  bert-tiny: {{path: {fx}/bert-tiny.onnx}}\n  squeezebert-tiny: {{path: {fx}/squeezebert-tiny.onnx}}\n\
         variants:\n  fp32: {{reference: true}}\n  int8: {{steps: [{{quantize: }}]}}\n\
         \x20 opt-int8-pc: {{steps: [{{rewrite: default}}, {{quantize: {{mode: dynamic, per-channel: true, form: matmul-integer}}}}], models: [bert-tiny]}}\n\
         workloads: {{batch: [1], seq: [16], threads: [1]}}\nmetrics: [latency, params, fidelity]\n\
         run: {{warmup: 1, min_iterations: 5, min_time_s: 0.02, max_time_s: 0.1, time_limit_s: 60}}\n",
        fx = fx.display()
    );
    std::fs::write(d.join("q.yaml"), suite).unwrap();
    let run = || bin().args(["run", "q.yaml", "--out", "out", "--force", "--cache-dir", "cache", "--no-progress"]).current_dir(d).output().unwrap();
    let o = run();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let r = Results::load(&d.join("out/results.json")).unwrap();
    let ids: Vec<&str> = r.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["bert-tiny/fp32/b1-s16-t1", "bert-tiny/int8/b1-s16-t1", "bert-tiny/opt-int8-pc/b1-s16-t1", "squeezebert-tiny/fp32/b1-s16-t1", "squeezebert-tiny/int8/b1-s16-t1"]);
    for c in &r.cases {
        assert_eq!(c.status, Status::Ok, "{}: {:?}", c.id, c.error);
        let p = c.params.as_ref().unwrap();
        let int8 = p.weight_bytes_by_dtype.get("int8").copied().unwrap_or(0);
        if c.variant == "fp32" {
            assert_eq!(int8, 0);
            continue;
        }
        // Every MatMul/Gemm weight and embedding table is 8-bit: int8 bytes dominate.
        assert!(int8 * 10 > p.weight_bytes * 9, "{}: {:?}", c.id, p.weight_bytes_by_dtype);
        let f = c.fidelity.as_ref().unwrap();
        assert!(f.cosine > 0.999 && f.cosine < 1.0 && f.max_abs_error > 0.0 && f.top1_agreement == Some(1.0), "{}: {f:?}", c.id);
        // Per output also the largest relative error and the largest |output| (the same type as
        // `rewrite --report` reports).
        assert!(f.outputs.iter().all(|o| o.max_rel_error.is_some_and(|r| r > 0.0) && o.max_abs_output.is_some_and(|m| m >= o.max_abs_error / 2.0)), "{f:?}");
    }
    let variant = |r: &Results, m: &str, v: &str| r.variants.iter().find(|x| x.model == m && x.variant == v).unwrap().clone();
    let q = variant(&r, "squeezebert-tiny", "int8");
    assert_eq!(q.steps, ["quantize: auto"]);
    assert!(!q.cached && q.log.iter().any(|l| l.starts_with("quantize quantized ") && l.contains("MatMul")), "{:?}", q.log);
    // SqueezeBERT's pointwise Convs became token-major MatMuls before quantization; no ConvInteger.
    assert!(q.log.iter().any(|l| l.contains("squeezebert-native")), "{:?}", q.log);
    let pc = variant(&r, "bert-tiny", "opt-int8-pc");
    assert_eq!(pc.steps, ["rewrite: default", "quantize: dynamic form=matmul-integer per-channel=true"]);
    assert!(pc.log.iter().any(|l| l.starts_with("rewrite ")) && pc.log.iter().any(|l| l.contains("per-channel")), "{:?}", pc.log);

    let o = run();
    assert_eq!(o.status.code(), Some(0));
    let r2 = Results::load(&d.join("out/results.json")).unwrap();
    let q2 = variant(&r2, "squeezebert-tiny", "int8");
    assert!(q2.cached && q2.sha256 == q.sha256 && q2.log == q.log, "{q2:?}");
}

/// With `rounds: 3` every case runs in three slices (all cases' first slice, then all second
/// slices, ...) whose timed runs are joined: at least three slices' minimum iterations, `stop` says
/// `3 rounds`, fidelity is measured once, cases are recorded in suite order, and a worker that
/// crashes is recorded once as crashed while the other cases finish their rounds (exit 3).
#[test]
fn rounds_spread_each_case_over_the_run() {
    let dir = common::scratch("suite-rounds");
    let d = dir.path();
    let fx = common::fixtures();
    let suite = format!(
        "models:\n  bert-tiny: {{path: {fx}/bert-tiny.onnx}}\n  squeezebert-tiny: {{path: {fx}/squeezebert-tiny.onnx}}\n\
         variants:\n  fp32: {{reference: true}}\n  opt: {{steps: [{{rewrite: default}}]}}\n\
         workloads: {{batch: [1], seq: [16], threads: [1]}}\nmetrics: [latency, memory, fidelity]\n\
         run: {{warmup: 1, min_iterations: 9, min_time_s: 0.03, max_time_s: 0.3, time_limit_s: 60, rounds: 3}}\n",
        fx = fx.display()
    );
    std::fs::write(d.join("r.yaml"), suite).unwrap();
    let o = bin()
        .args(["run", "r.yaml", "--out", "out", "--cache-dir", "cache", "--no-progress"])
        .env("SQUEEZEBENCH_TEST_CRASH_CASE", "squeezebert-tiny/opt/b1-s16-t1")
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    let r = Results::load(&d.join("out/results.json")).unwrap();
    let ids: Vec<&str> = r.cases.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["bert-tiny/fp32/b1-s16-t1", "bert-tiny/opt/b1-s16-t1", "squeezebert-tiny/fp32/b1-s16-t1", "squeezebert-tiny/opt/b1-s16-t1"]);
    for c in &r.cases[..3] {
        assert_eq!(c.status, Status::Ok, "{}: {:?}", c.id, c.error);
        let l = c.latency.as_ref().unwrap();
        assert_eq!(l.stop, "3 rounds", "{}", c.id);
        assert!(l.iterations >= 9 && l.samples_ms.len() == l.iterations, "{}: {}", c.id, l.iterations);
        assert!(l.p50_ci_ms[0] <= l.p50_ms && l.p50_ms <= l.p50_ci_ms[1]);
        // The samples of each round, in order, and a median interval covering their spread.
        assert_eq!(l.round_sizes.len(), 3, "{}", c.id);
        assert_eq!(l.round_sizes.iter().sum::<usize>(), l.iterations);
        assert!(l.round_sizes.iter().all(|&k| k >= 3), "{}: {:?}", c.id, l.round_sizes);
        let between = squeezebench::measure::stats::rounds_interval(&l.samples_ms, &l.round_sizes, l.p50_ms).unwrap();
        let slack = 1e-9 * l.p50_ms; // results.json keeps 17 digits, not every last bit
        assert!(l.p50_ci_ms[0] <= between[0] + slack && l.p50_ci_ms[1] >= between[1] - slack, "{}: {:?} vs {between:?}", c.id, l.p50_ci_ms);
        assert!(c.memory.as_ref().unwrap().run_peak_rss_bytes > 0);
    }
    assert_eq!(r.cases[1].fidelity.as_ref().map(|f| f.cosine), Some(1.0), "fidelity from the first round");
    assert_eq!(r.cases[3].status, Status::Crashed);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.lines().filter(|l| l.starts_with("crashed") && l.contains("squeezebert-tiny/opt")).count(), 1, "{stderr}");
}

// Why: the YAML parser stops at its first error, so four typos took three fix-and-rerun cycles.
#[test]
fn every_mistake_of_a_suite_is_reported_at_once_with_its_hint() {
    let dir = common::scratch("suite-all-at-once");
    let d = dir.path();
    let file = d.join("s.yaml").display().to_string();
    let e = load_err(
        d,
        "name: typos\nmodels:\n  bert-tiny:\n    path: model.onnx\n    bogus_key: 1\nvariants:\n  fp32: {reference: true}\n  rw:\n    steps:\n      - rewrite: default,gelu-fusoin\n    models: [bert-tiyn]\n  q:\n    steps:\n      - quantize: {mode: dynamc}\n\
         workloads: {batch: [1], seq: [16], threads: [1]}\nrun:\n  min_tme_s: 1\n",
    );
    let lines: Vec<&str> = e.lines().filter(|l| l.starts_with(&file)).collect();
    assert_eq!(lines.len(), 5, "{e}");
    assert!(lines[0].starts_with(&format!("{file}:5:5: unknown field `bogus_key`")), "{e}");
    assert!(lines[1].starts_with(&format!("{file}:10:18: variant 'rw': unknown pass 'gelu-fusoin'")), "{e}");
    assert!(lines[2].starts_with(&format!("{file}:11:14: variant 'rw': unknown model 'bert-tiyn'")), "{e}");
    assert!(lines[3].starts_with(&format!("{file}:14:26: unknown variant `dynamc`")), "{e}");
    assert!(lines[4].starts_with(&format!("{file}:17:3: unknown field `min_tme_s`")), "{e}");
    for hint in ["did you mean `gelu-fusion`?", "did you mean `bert-tiny`?", "did you mean `dynamic`?", "did you mean `min_time_s`?"] {
        assert!(e.contains(&format!("hint: {hint}")), "{hint}: {e}");
    }
    assert!(e.contains("  |     bogus_key: 1\n  |     ^"), "the line as written: {e}");
}

// Why: a path written relative to the working directory got "does not exist" and no word on the
// rule that suite paths are relative to the suite file.
#[test]
fn a_path_relative_to_the_working_directory_gets_a_hint() {
    let dir = common::scratch("suite-path-hint");
    let d = dir.path();
    std::fs::create_dir_all(d.join("suites")).unwrap();
    std::fs::create_dir_all(d.join("models")).unwrap();
    std::fs::copy(common::fixtures().join("bert-tiny.onnx"), d.join("models/m.onnx")).unwrap();
    std::fs::write(d.join("suites/s.yaml"), "name: p\nmodels:\n  m: {path: models/m.onnx}\nworkloads: {batch: [1], seq: [8], threads: [1]}\n").unwrap();
    let o = bin().args(["run", "suites/s.yaml", "--dry-run"]).current_dir(d).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("suites/s.yaml:3:13: model 'm': file 'suites/models/m.onnx' does not exist"), "{e}");
    assert!(e.contains("hint: paths in a suite are relative to the suite file's folder ('suites'); 'models/m.onnx' names a file from the working directory: write '"), "{e}");
    assert!(e.contains(" or '../models/m.onnx'"), "{e}");
}

// Why: a classification dataset's columns became a `data::TextOptions` in the plan; the plan still
// serializes them as before, so the spec hash of an unchanged suite stays (and with it the gate's
// "the suite changed between the runs" note against earlier baselines). The value is the hash the
// plan had before that change.
#[test]
fn the_spec_hash_of_a_suite_with_text_datasets_is_unchanged() {
    let dir = common::scratch("suite-hash");
    let p = dir.path().join("s.yaml");
    std::fs::write(
        &p,
        "name: h\nmodels:\n  m: {path: /nonexistent/m.onnx, tokenizer: /nonexistent/tokenizer.json, accuracy: [cls, pairs]}\n\
         datasets:\n  cls: {classification: {path: /nonexistent/cls.tsv, format: tsv, label_column: 0, text_column: 1, batch: 16, limit: 100}}\n\
         \x20 pairs: {sentence_pairs: {path: /nonexistent/pairs.csv, format: csv}}\n",
    )
    .unwrap();
    let plan = squeezebench::suite::load(&p).unwrap();
    assert_eq!(plan.hash(), "ca59ec85b5a52766667147dbb1b64f69b431df789ceb712592afe5600d24db79");
}
