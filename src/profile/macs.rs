//! Multiply-accumulates of one kernel call, from the input and output shapes ONNX Runtime records
//! for it. Only GEMM-like and attention kernels are counted (the arithmetic that has a meaningful
//! GMAC/s); element-wise work is not.
//!
//! The shapes are those of the call, so batch and sequence length are the ones that ran. Transposed
//! operands need no attribute: an output `[.., M, N]` from an `A` holding `M·K` elements in its
//! last two axes has `K = |A| / M`, whichever way `A` is stored.

use crate::runtime::profile::TypeShape;

/// MACs of one call of `op_type`, or `None` when the op is not GEMM-like or a shape is missing.
pub fn of(op_type: &str, inputs: &[TypeShape], outputs: &[TypeShape]) -> Option<u64> {
    let out = &outputs.first()?.shape;
    match op_type {
        "MatMul" | "FusedMatMul" | "MatMulInteger" | "DynamicQuantizeMatMul" | "MatMulIntegerToFloat" | "QLinearMatMul" | "Gemm"
        | "FusedGemm" | "QGemm" => matmul(&inputs.first()?.shape, out),
        "Conv" | "FusedConv" | "ConvInteger" => conv(&inputs.get(1)?.shape, out),
        "QLinearConv" => conv(&inputs.get(3)?.shape, out),
        "Attention" | "QAttention" => attention(&inputs.first()?.shape, &inputs.get(1)?.shape, out),
        "MultiHeadAttention" => multi_head(&inputs.first()?.shape, &inputs.get(1)?.shape, out),
        _ => None,
    }
}

fn product(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| u64::try_from(d).ok().and_then(|d| acc.checked_mul(d)))
}

/// `A [.., M, K] × B → out [.., M, N]`: `|out| · K`.
fn matmul(a: &[i64], out: &[i64]) -> Option<u64> {
    let k = match (a.len(), out.len()) {
        (0, _) | (_, 0) => return None,
        (1, _) => u64::try_from(a[0]).ok()?,
        (_, 1) => u64::try_from(*a.last()?).ok()?,
        _ => {
            let m = u64::try_from(out[out.len() - 2]).ok()?;
            let last_two = product(&a[a.len() - 2..])?;
            last_two.checked_div(m).unwrap_or(0)
        }
    };
    product(out)?.checked_mul(k)
}

/// Weight `[M, C/group, k...]`, output `[N, M, ...]`: each output element is `C/group · Πk` MACs.
fn conv(w: &[i64], out: &[i64]) -> Option<u64> {
    if w.len() < 2 {
        return None;
    }
    product(out)?.checked_mul(product(&w[1..])?)
}

/// ONNX Runtime's `Attention`: input `[B, S, D_in]`, packed QKV weight `[D_in, 3·D]`, output
/// `[B, S, D]`: the projection `B·S·D_in·3D` plus `Q·Kᵀ` and `P·V`, `B·S·S·D` each.
fn attention(x: &[i64], w: &[i64], out: &[i64]) -> Option<u64> {
    let (&[b, s, _], &[d_in, d3], &[_, _, d]) = (x, w, out) else { return None };
    let projection = product(&[b, s, d_in, d3])?;
    let products = product(&[b, s, s, d])?.checked_mul(2)?;
    projection.checked_add(products)
}

/// `MultiHeadAttention`: query `[B, S, D]` and key `[B, L, D]` (or `[B, N, L, H]`), output
/// `[B, S, D_v]`: `B·S·L·D` for `Q·Kᵀ` plus `B·S·L·D_v` for `P·V`. Packed forms are not counted.
fn multi_head(q: &[i64], k: &[i64], out: &[i64]) -> Option<u64> {
    let (&[b, s, d], &[_, _, dv]) = (q, out) else { return None };
    let l = match k {
        [_, l, _] => *l,
        [_, _, l, _] => *l,
        _ => return None,
    };
    product(&[b, s, l, d])?.checked_add(product(&[b, s, l, dv])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(shapes: &[&[i64]]) -> Vec<TypeShape> {
        shapes.iter().map(|s| TypeShape { dtype: "float".into(), shape: s.to_vec() }).collect()
    }

    #[test]
    fn matmul_counts_batch_times_m_n_k() {
        assert_eq!(of("MatMul", &ts(&[&[2, 128, 768], &[768, 3072]]), &ts(&[&[2, 128, 3072]])), Some(2 * 128 * 3072 * 768));
        // Attention scores: [B, H, S, d] × [B, H, d, S].
        assert_eq!(of("MatMul", &ts(&[&[1, 12, 128, 64], &[1, 12, 64, 128]]), &ts(&[&[1, 12, 128, 128]])), Some(12 * 128 * 128 * 64));
    }

    #[test]
    fn a_transposed_operand_gives_the_same_count() {
        // FusedMatMul with transA: A stored [K, M] = [64, 8], output [8, 16].
        assert_eq!(of("FusedMatMul", &ts(&[&[64, 8], &[64, 16]]), &ts(&[&[8, 16]])), Some(8 * 16 * 64));
        assert_eq!(of("Gemm", &ts(&[&[8, 64], &[16, 64], &[16]]), &ts(&[&[8, 16]])), Some(8 * 16 * 64));
    }

    #[test]
    fn grouped_conv_counts_channels_per_group() {
        // SqueezeBERT's pointwise conv: 768 → 768 channels in 4 groups over 128 positions.
        let inputs = ts(&[&[1, 768, 128], &[768, 192, 1], &[768]]);
        assert_eq!(of("Conv", &inputs, &ts(&[&[1, 768, 128]])), Some(768 * 128 * 192));
    }

    #[test]
    fn fused_attention_counts_projection_and_both_products() {
        let inputs = ts(&[&[1, 128, 768], &[768, 2304], &[2304]]);
        let expected = 128 * 768 * 2304 + 2 * 128 * 128 * 768;
        assert_eq!(of("Attention", &inputs, &ts(&[&[1, 128, 768]])), Some(expected));
    }

    #[test]
    fn element_wise_ops_and_missing_shapes_have_no_count() {
        assert_eq!(of("Add", &ts(&[&[1, 8], &[1, 8]]), &ts(&[&[1, 8]])), None);
        assert_eq!(of("MatMul", &[], &ts(&[&[1, 8]])), None);
        assert_eq!(of("MatMul", &ts(&[&[1, 8], &[8, 4]]), &[]), None);
    }
}
