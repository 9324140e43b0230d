//! BERT (Devlin et al.) as Hugging Face's BertModel computes it: post-LayerNorm encoder layers of
//! multi-head self-attention and a GELU feed-forward block, over `[batch, sequence, hidden]`.

use super::{attention, attention_bias, embeddings, gelu, layer_norm, linear, Config, Result, Weights};
use crate::onnx::builder::{Attr, GraphBuilder};

/// Embeddings and encoder layers; returns the last hidden state `[batch, sequence, hidden]`.
pub fn encoder(b: &mut GraphBuilder, w: &mut Weights, c: &Config) -> Result<String> {
    let mut x = embeddings(b, w, c)?;
    let mask = attention_bias(b);
    for i in 0..c.num_hidden_layers {
        x = layer(b, w, c, &format!("encoder.layer.{i}"), &x, &mask)?;
    }
    Ok(x)
}

fn layer(b: &mut GraphBuilder, w: &mut Weights, c: &Config, p: &str, x: &str, mask: &str) -> Result<String> {
    let (h, heads) = (c.hidden_size, c.num_attention_heads);
    let head_dim = h / heads;
    let split = b.const_i64(&[0, 0, heads as i64, head_dim as i64]);
    let project = |b: &mut GraphBuilder, w: &mut Weights, name: &str, perm: &[i64]| -> Result<String> {
        let y = linear(b, w, &format!("{p}.attention.self.{name}"), x, h, h)?;
        let y = b.node("Reshape", &[&y, &split], &[]);
        Ok(b.node("Transpose", &[&y], &[("perm", Attr::Ints(perm.to_vec()))]))
    };
    let q = project(b, w, "query", &[0, 2, 1, 3])?;
    let kt = project(b, w, "key", &[0, 2, 3, 1])?;
    let v = project(b, w, "value", &[0, 2, 1, 3])?;
    let ctx = attention(b, &q, &kt, &v, mask, head_dim);
    let ctx = b.node("Transpose", &[&ctx], &[("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    let merge = b.const_i64(&[0, 0, h as i64]);
    let ctx = b.node("Reshape", &[&ctx, &merge], &[]);
    let out = linear(b, w, &format!("{p}.attention.output.dense"), &ctx, h, h)?;
    let out = b.node("Add", &[&out, x], &[]);
    let attn = layer_norm(b, w, &format!("{p}.attention.output.LayerNorm"), &out, h, c.layer_norm_eps)?;

    let inter = linear(b, w, &format!("{p}.intermediate.dense"), &attn, h, c.intermediate_size)?;
    let inter = gelu(b, &inter);
    let out = linear(b, w, &format!("{p}.output.dense"), &inter, c.intermediate_size, h)?;
    let out = b.node("Add", &[&out, &attn], &[]);
    layer_norm(b, w, &format!("{p}.output.LayerNorm"), &out, h, c.layer_norm_eps)
}
