//! STS-B dev Spearman of sentence-embedding models (masked mean pooling, cosine), for measuring
//! what a quantization recipe does to all-MiniLM-L6-v2.
//!
//! Usage: `cargo run --release --example stsb_score -- TOKENIZER.json STSB.csv [--limit N] MODEL.onnx...`
//! Prints one line per model: Spearman × 100 over the pairs (the first N with `--limit`).

use ndarray::Array2;
use squeezebench::measure::accuracy::masked_mean_unit;
use squeezebench::measure::stats::spearman;
use squeezebench::runtime::{Session, SessionOptions, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer};

type Error = Box<dyn std::error::Error>;

fn embed(session: &mut Session, tokenizer: &Tokenizer, sentences: &[String]) -> Result<Vec<Vec<f32>>, Error> {
    let mut out = Vec::with_capacity(sentences.len());
    for chunk in sentences.chunks(64) {
        let enc = tokenizer.encode_batch(chunk.to_vec(), true).map_err(|e| e.to_string())?;
        let (b, s) = (enc.len(), enc[0].get_ids().len());
        let field = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<i64>| Array2::from_shape_vec((b, s), enc.iter().flat_map(f).collect());
        let ids = field(&|e| e.get_ids().iter().map(|&v| v as i64).collect())?;
        let mask = field(&|e| e.get_attention_mask().iter().map(|&v| v as i64).collect())?;
        let types = field(&|e| e.get_type_ids().iter().map(|&v| v as i64).collect())?;
        let inputs = [("input_ids", Tensor::from(ids.into_dyn())), ("attention_mask", Tensor::from(mask.clone().into_dyn())), ("token_type_ids", Tensor::from(types.into_dyn()))];
        let outputs = session.run(&inputs)?;
        let hidden = outputs.iter().find(|(n, _)| n == "last_hidden_state").ok_or("no last_hidden_state")?.1.as_f32().ok_or("not float")?;
        out.extend(masked_mean_unit(hidden.view(), mask.view()));
    }
    Ok(out)
}

fn main() -> Result<(), Error> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let limit = match args.iter().position(|a| a == "--limit") {
        Some(i) => {
            let n: usize = args.get(i + 1).ok_or("--limit N")?.parse()?;
            args.drain(i..i + 2);
            n
        }
        None => usize::MAX,
    };
    if args.len() < 3 {
        return Err("usage: stsb_score TOKENIZER.json STSB.csv [--limit N] MODEL.onnx...".into());
    }
    let mut tokenizer = Tokenizer::from_file(&args[0]).map_err(|e| e.to_string())?;
    let padding = tokenizer.get_padding().cloned().unwrap_or_default();
    tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..padding }));
    let text = std::fs::read_to_string(&args[1])?;
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| squeezebench::data::text::fields(l, squeezebench::suite::spec::TextFormat::Csv))
        .take(limit)
        .collect();
    let first: Vec<String> = rows.iter().map(|r| r[0].clone()).collect();
    let second: Vec<String> = rows.iter().map(|r| r[1].clone()).collect();
    let gold: Vec<f64> = rows.iter().map(|r| r[2].parse()).collect::<Result<_, _>>()?;
    for model in &args[2..] {
        let mut session = Session::from_file(std::path::Path::new(model), &SessionOptions::default())?;
        let (a, b) = (embed(&mut session, &tokenizer, &first)?, embed(&mut session, &tokenizer, &second)?);
        let cosine: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p * q) as f64).sum()).collect();
        println!("{:.3}  {model}", 100.0 * spearman(&cosine, &gold));
    }
    Ok(())
}
