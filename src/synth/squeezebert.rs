//! SqueezeBERT (Iandola et al. 2020) as Hugging Face's SqueezeBertModel computes it: the encoder
//! works on `[batch, channels, sequence]`, every projection is a grouped 1x1 convolution, and
//! LayerNorm normalizes the channel axis. Each layer: self-attention (grouped Q/K/V convolutions),
//! then `post_attention` (conv + residual from the layer input + LayerNorm), a GELU `intermediate`
//! conv, and `output` (conv + residual from post_attention + LayerNorm).

use super::{attention, attention_bias, embeddings, gelu, Config, Result, Weights};
use crate::onnx::builder::{Attr, GraphBuilder};

/// Embeddings and encoder layers; returns the last hidden state `[batch, sequence, hidden]`.
pub fn encoder(b: &mut GraphBuilder, w: &mut Weights, c: &Config) -> Result<String> {
    let x = embeddings(b, w, c)?;
    let mask = attention_bias(b);
    let mut x = swap(b, &x);
    for i in 0..c.num_hidden_layers {
        x = layer(b, w, c, &format!("encoder.layers.{i}"), &x, &mask)?;
    }
    Ok(swap(b, &x))
}

/// `[N, A, B]` -> `[N, B, A]`.
fn swap(b: &mut GraphBuilder, x: &str) -> String {
    b.node("Transpose", &[x], &[("perm", Attr::Ints(vec![0, 2, 1]))])
}

fn conv(b: &mut GraphBuilder, w: &mut Weights, name: &str, x: &str, cin: usize, cout: usize, groups: usize) -> Result<String> {
    let (weight, bias) = w.conv1x1(b, name, cin, cout, groups)?;
    Ok(b.node("Conv", &[x, &weight, &bias], &[("group", Attr::Int(groups as i64)), ("kernel_shape", Attr::Ints(vec![1]))]))
}

/// Residual add, then LayerNorm over the channels of `[N, C, W]`.
fn add_norm(b: &mut GraphBuilder, w: &mut Weights, c: &Config, name: &str, y: &str, residual: &str) -> Result<String> {
    let h = c.hidden_size;
    let y = b.node("Add", &[y, residual], &[]);
    let y = swap(b, &y);
    let y = super::layer_norm(b, w, name, &y, h, c.layer_norm_eps)?;
    Ok(swap(b, &y))
}

fn layer(b: &mut GraphBuilder, w: &mut Weights, c: &Config, p: &str, x: &str, mask: &str) -> Result<String> {
    let (h, heads) = (c.hidden_size, c.num_attention_heads);
    let head_dim = h / heads;
    // [N, C, W] -> [N, heads, head_dim, W]
    let split = b.const_i64(&[0, heads as i64, head_dim as i64, -1]);
    let q = conv(b, w, &format!("{p}.attention.query"), x, h, h, c.q_groups)?;
    let k = conv(b, w, &format!("{p}.attention.key"), x, h, h, c.k_groups)?;
    let v = conv(b, w, &format!("{p}.attention.value"), x, h, h, c.v_groups)?;
    let to_rows = Attr::Ints(vec![0, 1, 3, 2]);
    let q = b.node("Reshape", &[&q, &split], &[]);
    let q = b.node("Transpose", &[&q], &[("perm", to_rows.clone())]);
    let kt = b.node("Reshape", &[&k, &split], &[]);
    let v = b.node("Reshape", &[&v, &split], &[]);
    let v = b.node("Transpose", &[&v], &[("perm", to_rows.clone())]);
    let ctx = attention(b, &q, &kt, &v, mask, head_dim);
    // [N, heads, W, head_dim] -> [N, C, W]
    let ctx = b.node("Transpose", &[&ctx], &[("perm", to_rows)]);
    let merge = b.const_i64(&[0, h as i64, -1]);
    let ctx = b.node("Reshape", &[&ctx, &merge], &[]);

    let post = conv(b, w, &format!("{p}.post_attention.conv1d"), &ctx, h, h, c.post_attention_groups)?;
    let post = add_norm(b, w, c, &format!("{p}.post_attention.layernorm"), &post, x)?;
    let inter = conv(b, w, &format!("{p}.intermediate.conv1d"), &post, h, c.intermediate_size, c.intermediate_groups)?;
    let inter = gelu(b, &inter);
    let out = conv(b, w, &format!("{p}.output.conv1d"), &inter, c.intermediate_size, h, c.output_groups)?;
    add_norm(b, w, c, &format!("{p}.output.layernorm"), &out, &post)
}
