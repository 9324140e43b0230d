//! `squeezebert-native`: runs a SqueezeBERT encoder token-major. The Hugging Face export computes
//! the encoder channels-first (`[N, C, W]`): it transposes the embeddings once, runs every
//! projection as a grouped pointwise `Conv`, and wraps each LayerNorm in a Transpose pair. ONNX
//! Runtime's integer MatMuls want the weight on the right of a token-major `[N, W, C]` activation,
//! so a plain Conv→MatMul rewrite (`conv-matmul`) has to transpose around every projection and
//! LayerNorm: a quarter of an int8 run is spent moving data. This pass instead moves the layout
//! change itself through the graph, one exact local rewrite at a time, until the Transposes meet
//! and cancel:
//!
//! - **Conv**: `Conv(Transpose(a, [0,2,1]))` with kernel 1 (see [`conv_matmul`] for what matches)
//!   becomes `Transpose(P(a), [0,2,1])`, where `P` is the grouped product on `a [N, W, C]`: a
//!   `Split` into the `g` channel groups, one `MatMul` with a 2-D `[C/g, M/g]` weight on the right
//!   (+ its bias slice) per group, and a `Concat`. Convolutions that read the same input with the
//!   same grouping (SqueezeBERT's Q, K and V) are **merged**: one MatMul per group with the three
//!   weights side by side, so each group of the activation is read (and, once quantized, quantized)
//!   once; the product is split back per projection.
//! - **Element-wise ops**: `op(Transpose(a, p), Transpose(b, p))`, `op(Transpose(a, p), scalar)`
//!   and `unary(Transpose(a, p))` (p = `[0,2,1]`) become `Transpose(op(a, …), p)`. This carries the
//!   layout through residual Adds and the GELU.
//! - **Head split**: `Reshape(Transpose(a, [0,2,1]))` from `[N, C, W]` to `[N, h, d, W]` becomes
//!   `Transpose(Reshape(a, [0, 0, h, d]), [0,2,3,1])`; the Transposes after it then fold (the
//!   `transpose` pass) into the `[0,2,1,3]` of a BERT attention.
//! - **Head merge**: `Reshape(Transpose(x, p))` from `[N, h, d, W]` to `[N, C, W]` becomes
//!   `Transpose(Reshape(Transpose(x, p·[0,3,1,2]), [0, 0, C]), [0,2,1])`.
//! - **Cancel**: `Transpose(Transpose(a, p), q)` with `p·q` the identity reads `a` directly, even
//!   when the inner Transpose has other readers (they are rewritten in turn).
//!
//! Run with `transpose` and `dead-code` (as `quantize` does); then no Transpose is left around the
//! projections or LayerNorms, and the attention has BERT's four. Reshape shapes are read from shape
//! inference under two different bindings of the symbolic batch and sequence axes, so a rewrite
//! is made only when the split or merge of the channel axis is certain; the export's shape chains
//! (`Shape → Gather → Concat`) then have no reader and go with `dead-code`.
//!
//! Every rewrite only reorders data or regroups the same products, so float outputs match the
//! export to rounding. A Conv that is not a pointwise 1-D Conv on a transposed input (kernel 3,
//! dilation, padding, weights computed at run time) is left as it is and named by [`Pass::note`].

use std::collections::{HashMap, HashSet};

use crate::onnx::builder::{self, const_i64_node, Attr};
use crate::onnx::graph::{attr_ints, node_label, GraphView, NodeId};
use crate::onnx::proto::{NodeProto, TensorProto};
use crate::onnx::shapes::{self, Bindings};
use crate::onnx::Model;

use super::conv_matmul::{self, group_block_transposed};
use super::{can_redirect, op_is, NodeRef, Pass, Patch, Result};

pub(crate) struct SqueezeBertNative;

/// The channels-first ↔ token-major swap of a rank-3 tensor.
const SWAP: [i64; 3] = [0, 2, 1];
/// `[N, W, h, d]` → `[N, h, d, W]`.
const HEADS_CHANNELS_FIRST: [i64; 4] = [0, 2, 3, 1];
/// The inverse of [`HEADS_CHANNELS_FIRST`].
const HEADS_TOKEN_MAJOR: [i64; 4] = [0, 3, 1, 2];

/// Element-wise ops of one or two inputs through which a Transpose moves unchanged.
const BINARY: [&str; 5] = ["Add", "Sub", "Mul", "Div", "Pow"];
const UNARY: [&str; 12] = ["Erf", "Tanh", "Relu", "Sigmoid", "Sqrt", "Neg", "Abs", "Exp", "Log", "Reciprocal", "Gelu", "Cast"];

/// For a node of [`UNARY`] or [`BINARY`] (one output, the right number of inputs): whether it is
/// binary; `None` for any other node.
fn pointwise(node: &NodeProto) -> Option<bool> {
    let op = node.op_type.as_deref()?;
    let default_domain = node.in_default_domain();
    let unary = UNARY.contains(&op) && (default_domain || (op == "Gelu" && node.domain.as_deref() == Some("com.microsoft")));
    let binary = BINARY.contains(&op) && default_domain;
    let ok = node.output.len() == 1 && (unary && node.input.len() == 1 || binary && node.input.len() == 2);
    ok.then_some(binary)
}

/// `q` with `q[j] = p[s[j]]`: `Transpose(Transpose(x, p), s)` is `Transpose(x, q)`.
fn compose(p: &[i64], s: &[i64]) -> Vec<i64> {
    s.iter().map(|&j| p[j as usize]).collect()
}

fn is_identity(p: &[i64]) -> bool {
    p.iter().enumerate().all(|(i, &a)| a == i as i64)
}

/// `(a, perm)` when `value` is written by a default-domain `Transpose(a)` with an explicit perm.
fn transposed<'g>(view: &GraphView<'g>, value: &str) -> Option<(&'g str, &'g [i64])> {
    let id = view.producer(value)?;
    if !op_is(view, id, "Transpose") {
        return None;
    }
    let node = view.node(id);
    Some((node.input.first()?.as_str(), attr_ints(node, "perm")?))
}

/// Fresh value and node names for one patch.
struct Names<'v, 'g> {
    view: &'v GraphView<'g>,
    taken: HashSet<String>,
}

impl Names<'_, '_> {
    fn fresh(&mut self, base: &str) -> String {
        conv_matmul::fresh(self.view, &mut self.taken, base)
    }
}


fn transpose_node(name: &str, input: &str, output: &str, perm: &[i64]) -> NodeProto {
    builder::node("Transpose", name, &[input], &[output], &[("perm", Attr::Ints(perm.to_vec()))])
}

/// Shapes under two bindings of the symbolic axes: a dimension is trusted only when it is a number
/// under both (so it does not depend on batch or sequence) or follows the same input axis.
struct TwoShapes {
    a: HashMap<String, shapes::Info>,
    b: HashMap<String, shapes::Info>,
}

/// One axis as seen under both bindings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Axis {
    /// The same number under both bindings.
    Fixed(i64),
    /// A number that changes with the binding: `(under a, under b)`.
    Varying(i64, i64),
}

impl TwoShapes {
    /// The shapes of `model`, inferred on first use (a structural match comes first: inference
    /// walks the whole graph).
    fn of<'s>(cache: &'s mut Option<TwoShapes>, model: &Model) -> &'s TwoShapes {
        cache.get_or_insert_with(|| TwoShapes::new(model))
    }

    fn new(model: &Model) -> TwoShapes {
        let bind = |batch, seq| Bindings { batch: Some(batch), seq: Some(seq), by_name: HashMap::new() };
        TwoShapes { a: shapes::infer(model, &bind(3, 11)), b: shapes::infer(model, &bind(5, 13)) }
    }

    fn axes(&self, value: &str) -> Option<Vec<Axis>> {
        let a = self.a.get(value)?.known_shape()?;
        let b = self.b.get(value)?.known_shape()?;
        (a.len() == b.len()).then(|| a.iter().zip(&b).map(|(&x, &y)| if x == y { Axis::Fixed(x) } else { Axis::Varying(x, y) }).collect())
    }
}

/// Heads `(h, d)` when `from` is `[N, h*d, W]` and `to` is `[N, h, d, W]` (N and W the same axes).
fn head_split(from: &[Axis], to: &[Axis]) -> Option<(i64, i64)> {
    match (from, to) {
        ([n, Axis::Fixed(c), w], [n2, Axis::Fixed(h), Axis::Fixed(d), w2]) if n == n2 && w == w2 && h * d == *c => Some((*h, *d)),
        _ => None,
    }
}

impl Pass for SqueezeBertNative {
    fn name(&self) -> &'static str {
        "squeezebert-native"
    }

    fn describe(&self) -> &'static str {
        "run a channels-first SqueezeBERT encoder token-major: grouped pointwise Convs as per-group MatMuls (weights on the right, projections of one input merged), Transposes moved through element-wise ops and head reshapes until they cancel; use with transpose,dead-code"
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        let view = GraphView::new(model.graph());
        let mut shapes: Option<TwoShapes> = None;
        super::first_at(model.graph().node.len(), |id| rewrite_at(model, &view, id, &mut shapes))
    }

    /// Every rewrite of one look at the graph, with one shape inference (per binding) for all of
    /// them; rewrites that touch what an earlier one of the batch touches wait for the next.
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        let view = GraphView::new(model.graph());
        let mut shapes: Option<TwoShapes> = None;
        super::batch_at(model.graph(), |id| rewrite_at(model, &view, id, &mut shapes))
    }

    fn note(&self, model: &Model) -> Option<String> {
        let g = model.graph();
        let view = GraphView::new(g);
        let left: Vec<String> = g
            .node
            .iter()
            .enumerate()
            .filter(|&(id, _)| op_is(&view, id, "Conv"))
            .map(|(id, node)| {
                let why = match conv_matmul::matches(&view, node) {
                    Err(why) => why,
                    Ok(_) if transposed(&view, &node.input[0]).is_none_or(|(_, p)| p != SWAP) => {
                        "its input is not a token-major tensor transposed to channels-first".into()
                    }
                    Ok(_) => "not a float32 weight".into(),
                };
                format!("{}: {why}", node_label(node, id))
            })
            .collect();
        (!left.is_empty()).then(|| format!("left {} Conv node(s) as they are: {}", left.len(), super::short_list(&left)))
    }
}

/// `Conv(Transpose(a, [0,2,1]))` and the Convs that read the same input with the same grouping,
/// as per-group MatMuls on `a`.
fn conv(model: &Model, view: &GraphView, id: NodeId, node: &NodeProto) -> Result<Option<Patch>> {
    let Ok(first) = conv_matmul::matches(view, node) else { return Ok(None) };
    let Some((a, perm)) = transposed(view, first.x) else { return Ok(None) };
    if perm != SWAP || first.w.data_type != Some(1) || first.b.is_some_and(|b| b.data_type != Some(1)) {
        return Ok(None);
    }
    // The siblings: float32 pointwise Convs on the same input with the same groups.
    let mut group: Vec<(NodeId, conv_matmul::Match)> = Vec::new();
    for &other in view.consumers(first.x) {
        if !op_is(view, other, "Conv") || view.node(other).input.first().map(String::as_str) != Some(first.x) {
            continue;
        }
        let Ok(mt) = conv_matmul::matches(view, view.node(other)) else { continue };
        if mt.groups == first.groups && mt.c_per_group == first.c_per_group && mt.w.data_type == Some(1) && mt.b.is_none_or(|b| b.data_type == Some(1)) {
            group.push((other, mt));
        }
    }
    if !group.iter().any(|(other, _)| *other == id) {
        return Ok(None);
    }
    let gr = first.groups as usize;
    let cg = first.c_per_group as usize;
    let mut names = Names { view, taken: HashSet::new() };
    let base = node.name_or_output();
    let labels: Vec<String> = group.iter().map(|(i, _)| node_label(view.node(*i), *i)).collect();
    let mut patch = Patch::new(format!("{} (group {gr}) -> token-major MatMul per group", labels.join(" + ")));
    let g = model.graph();
    let mut raws = Vec::new();
    let mut biases = Vec::new();
    for (other, mt) in &group {
        patch.remove_nodes.push(NodeRef::Index(*other));
        raws.push(model.tensor_bytes(mt.w)?);
        biases.push(mt.b.map(|b| model.tensor_bytes(b)).transpose()?);
        for t in std::iter::once(mt.w).chain(mt.b) {
            let n = t.name.as_deref().unwrap_or("");
            let readers_all_merged = view.consumers(n).iter().all(|r| group.iter().any(|(o, _)| o == r));
            if readers_all_merged && !g.output.iter().any(|v| v.name.as_deref() == Some(n)) && !patch.remove_initializers.iter().any(|r| r == n) {
                patch.remove_initializers.push(n.to_string());
            }
        }
    }
    let widths: Vec<usize> = group.iter().map(|(_, mt)| mt.m as usize / gr).collect();
    let total: usize = widths.iter().sum();
    let f32_init = |name: &str, dims: Vec<i64>, data: Vec<u8>| TensorProto {
        name: Some(name.to_string()),
        dims,
        data_type: Some(1),
        raw_data: Some(data.into()),
        ..Default::default()
    };
    let mut nodes = Vec::new();
    let parts: Vec<String> = if gr == 1 {
        vec![a.to_string()]
    } else {
        let parts: Vec<String> = (0..gr).map(|k| names.fresh(&format!("{base}_group{k}_input"))).collect();
        nodes.extend(split_nodes(model, &mut names, &format!("{base}_split"), a, &parts, &vec![cg as i64; gr]));
        parts
    };
    // pieces[i][k]: projection i's output channels of group k.
    let mut pieces: Vec<Vec<String>> = vec![Vec::new(); group.len()];
    let with_bias = biases.iter().any(Option::is_some);
    for (k, part) in parts.iter().enumerate() {
        let suffix = if gr == 1 { String::new() } else { format!("_group{k}") };
        // The weight [cg, total]: the projections' transposed blocks side by side, row by row.
        let blocks: Vec<Vec<u8>> = group.iter().zip(&raws).map(|((_, mt), raw)| group_block_transposed(raw, mt.m as usize, gr, cg, k)).collect();
        let mut w = Vec::with_capacity(cg * total * 4);
        for row in 0..cg {
            for (block, &mg) in blocks.iter().zip(&widths) {
                w.extend_from_slice(&block[row * mg * 4..(row + 1) * mg * 4]);
            }
        }
        let wname = names.fresh(&format!("{}{suffix}_weight", base));
        patch.add_initializers.push(f32_init(&wname, vec![cg as i64, total as i64], w));
        let prod = names.fresh(&format!("{base}{suffix}_matmul"));
        nodes.push(builder::node("MatMul", &format!("{base}{suffix}_matmul"), &[part, &wname], &[&prod], &[]));
        let out = if with_bias {
            let mut b = Vec::with_capacity(total * 4);
            for (bias, &mg) in biases.iter().zip(&widths) {
                match bias {
                    Some(bias) => b.extend_from_slice(&bias[k * mg * 4..(k + 1) * mg * 4]),
                    None => b.extend(std::iter::repeat_n(0u8, mg * 4)),
                }
            }
            let bname = names.fresh(&format!("{base}{suffix}_bias"));
            patch.add_initializers.push(f32_init(&bname, vec![total as i64], b));
            let out = names.fresh(&format!("{base}{suffix}_biased"));
            nodes.push(builder::node("Add", &format!("{base}{suffix}_bias"), &[&prod, &bname], &[&out], &[]));
            out
        } else {
            prod
        };
        if group.len() == 1 {
            pieces[0].push(out);
        } else {
            let outs: Vec<String> = (0..group.len()).map(|i| names.fresh(&format!("{base}{suffix}_part{i}"))).collect();
            let sizes: Vec<i64> = widths.iter().map(|&w| w as i64).collect();
            nodes.extend(split_nodes(model, &mut names, &format!("{base}{suffix}_split_projections"), &out, &outs, &sizes));
            for (i, o) in outs.into_iter().enumerate() {
                pieces[i].push(o);
            }
        }
    }
    for ((other, _), pieces) in group.iter().zip(pieces) {
        let conv_node = view.node(*other);
        let y = conv_node.output[0].as_str();
        let cbase = conv_node.name_or_output();
        let token_major = if pieces.len() == 1 {
            pieces.into_iter().next().expect("one piece")
        } else {
            let out = names.fresh(&format!("{y}_token_major"));
            let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            nodes.push(builder::node("Concat", &format!("{cbase}_concat"), &refs, &[&out], &[("axis", Attr::Int(2))]));
            out
        };
        nodes.push(transpose_node(&format!("{cbase}_to_channels_first"), &token_major, y, &SWAP));
    }
    patch.add_nodes = nodes;
    Ok(Some(patch))
}

/// `Split(input)` along axis 2 into `outputs` of `sizes` (from opset 13 the sizes are an input,
/// written by a `Constant` node in front).
fn split_nodes(model: &Model, names: &mut Names, name: &str, input: &str, outputs: &[String], sizes: &[i64]) -> Vec<NodeProto> {
    let refs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let axis = ("axis", Attr::Int(2));
    if model.opset("").unwrap_or(1) >= 13 {
        let sz = names.fresh(&format!("{name}_sizes"));
        vec![const_i64_node(&format!("{name}_sizes"), &sz, sizes), builder::node("Split", name, &[input, &sz], &refs, &[axis])]
    } else {
        vec![builder::node("Split", name, &[input], &refs, &[axis, ("split", Attr::Ints(sizes.to_vec()))])]
    }
}

/// `Transpose(Transpose(a, p), q)` with `p·q` the identity: its readers read `a`.
fn cancel(view: &GraphView, id: NodeId, node: &NodeProto) -> Option<Patch> {
    let q = attr_ints(node, "perm")?;
    let (a, p) = transposed(view, node.input.first()?)?;
    let out = node.output.first()?;
    if p.len() != q.len() || !is_identity(&compose(p, q)) || can_redirect(view, out, a).is_some() {
        return None;
    }
    let mut patch = Patch::new(format!("{} cancels the Transpose before it", node_label(node, id)));
    patch.remove_nodes.push(NodeRef::Index(id));
    patch.redirect.push((out.clone(), a.to_string()));
    Some(patch)
}

/// The rewrite this pass makes at node `id`, if any (shapes inferred on first need).
fn rewrite_at(model: &Model, view: &GraphView, id: NodeId, shapes: &mut Option<TwoShapes>) -> Result<Option<Patch>> {
    let node = view.node(id);
    Ok(if op_is(view, id, "Conv") {
        conv(model, view, id, node)?
    } else if op_is(view, id, "Transpose") {
        cancel(view, id, node)
    } else if op_is(view, id, "Reshape") {
        reshape(model, view, id, node, shapes)
    } else if op_is(view, id, "Split") {
        split_of_concat(model, view, id, node, shapes)
    } else {
        elementwise(model, view, id, node).or_else(|| per_part(model, view, id, node, shapes))
    })
}

/// The head split and merge of attention, moved to the token-major side (see the module docs).
fn reshape(model: &Model, view: &GraphView, id: NodeId, node: &NodeProto, shapes: &mut Option<TwoShapes>) -> Option<Patch> {
    let input = node.input.first()?;
    let out = node.output.first()?;
    let (x, p) = transposed(view, input)?;
    if p != SWAP && p.len() != 4 {
        return None;
    }
    let shapes = TwoShapes::of(shapes, model);
    let from = shapes.axes(input)?;
    let to = shapes.axes(out)?;
    let mut names = Names { view, taken: HashSet::new() };
    let base = node.name_or_output();
    let mut patch = Patch::new(String::new());
    patch.remove_nodes.push(NodeRef::Index(id));
    if p == SWAP {
        let (h, d) = head_split(&from, &to)?;
        patch.label = format!("{} splits heads token-major", node_label(node, id));
        let shape = names.fresh(&format!("{base}_token_major_shape"));
        let r = names.fresh(&format!("{out}_token_major"));
        patch.add_nodes.push(const_i64_node(&format!("{base}_token_major_shape"), &shape, &[0, 0, h, d]));
        patch.add_nodes.push(builder::node("Reshape", &format!("{base}_token_major"), &[x, &shape], &[&r], &[]));
        patch.add_nodes.push(transpose_node(&format!("{base}_heads_channels_first"), &r, out, &HEADS_CHANNELS_FIRST));
        return Some(patch);
    }
    if p.len() != 4 {
        return None;
    }
    let (h, d) = head_split(&to, &from)?;
    patch.label = format!("{} merges heads token-major", node_label(node, id));
    let t = names.fresh(&format!("{out}_heads_token_major"));
    let shape = names.fresh(&format!("{base}_token_major_shape"));
    let r = names.fresh(&format!("{out}_token_major"));
    patch.add_nodes.push(transpose_node(&format!("{base}_heads_token_major"), x, &t, &compose(p, &HEADS_TOKEN_MAJOR)));
    patch.add_nodes.push(const_i64_node(&format!("{base}_token_major_shape"), &shape, &[0, 0, h * d]));
    patch.add_nodes.push(builder::node("Reshape", &format!("{base}_token_major"), &[&t, &shape], &[&r], &[]));
    patch.add_nodes.push(transpose_node(&format!("{base}_to_channels_first"), &r, out, &SWAP));
    Some(patch)
}

/// A constant of one element and rank at most 3: broadcasting it does not change the rank of a
/// `[N, C, W]` operand, so it commutes with the swap.
fn small_scalar(model: &Model, view: &GraphView, name: &str) -> bool {
    super::constant_value(model, view, name).is_some_and(|v| v.numel() == 1 && v.dims.len() <= 3)
}

/// `op(Transpose(a, s), Transpose(b, s))`, `op(Transpose(a, s), scalar)` and
/// `unary(Transpose(a, s))` with s the swap, as `Transpose(op(a, …), s)`.
fn elementwise(model: &Model, view: &GraphView, id: NodeId, node: &NodeProto) -> Option<Patch> {
    let binary = pointwise(node)?;
    let swapped = |v: &str| transposed(view, v).filter(|(_, p)| *p == SWAP).map(|(a, _)| a);
    let mut inputs = Vec::new();
    let mut any = false;
    for v in &node.input {
        match swapped(v) {
            Some(a) => {
                inputs.push(a.to_string());
                any = true;
            }
            None if binary && small_scalar(model, view, v) => inputs.push(v.clone()),
            None => return None,
        }
    }
    if !any {
        return None;
    }
    let out = &node.output[0];
    let mut names = Names { view, taken: HashSet::new() };
    let base = node.name_or_output();
    let token_major = names.fresh(&format!("{out}_token_major"));
    let mut moved = node.clone();
    moved.input = inputs;
    moved.output = vec![token_major.clone()];
    moved.name = Some(names.fresh(&format!("{base}_token_major")));
    let mut patch = Patch::new(format!("{} moves before the Transpose", node_label(node, id)));
    patch.remove_nodes.push(NodeRef::Index(id));
    patch.add_nodes.push(moved);
    patch.add_nodes.push(transpose_node(&format!("{base}_to_channels_first"), &token_major, out, &SWAP));
    Some(patch)
}

/// The parts of `value` when it is written by a default-domain `Concat` along axis 2.
fn concat_parts<'g>(view: &GraphView<'g>, value: &str) -> Option<&'g [String]> {
    let id = view.producer(value)?;
    let node = view.node(id);
    (op_is(view, id, "Concat") && crate::onnx::graph::attr_i(node, "axis") == Some(2) && node.input.len() > 1).then_some(node.input.as_slice())
}

/// The widths (axis 2) of `parts`, when every one is certain.
fn widths(shapes: &TwoShapes, parts: &[String]) -> Option<Vec<i64>> {
    parts
        .iter()
        .map(|p| match shapes.axes(p)?.as_slice() {
            [_, _, Axis::Fixed(w)] => Some(*w),
            _ => None,
        })
        .collect()
}

/// `op(Concat(p…), Concat(q…))`, `op(Concat(p…), scalar)` and `unary(Concat(p…))` along the channel
/// axis, as `Concat(op(p_i, …))`: per group, so that a grouped projection's output reaches the next
/// grouped projection (SqueezeBERT's FFN: intermediate, GELU, output, all with the same groups)
/// without being joined and split again. Both Concats must cut at the same widths.
fn per_part(model: &Model, view: &GraphView, id: NodeId, node: &NodeProto, shapes: &mut Option<TwoShapes>) -> Option<Patch> {
    let binary = pointwise(node)?;
    if !node.input.iter().any(|v| concat_parts(view, v).is_some()) {
        return None;
    }
    let shapes = TwoShapes::of(shapes, model);
    let mut cut: Option<Vec<i64>> = None;
    let mut operands: Vec<Option<&[String]>> = Vec::new();
    for v in &node.input {
        match concat_parts(view, v) {
            Some(parts) => {
                let w = widths(shapes, parts)?;
                if cut.as_ref().is_some_and(|c| *c != w) || shapes.axes(v)?.len() != 3 {
                    return None;
                }
                cut = Some(w);
                operands.push(Some(parts));
            }
            None if binary && small_scalar(model, view, v) => operands.push(None),
            None => return None,
        }
    }
    let k = cut?.len();
    let out = &node.output[0];
    let mut names = Names { view, taken: HashSet::new() };
    let base = node.name_or_output();
    let mut patch = Patch::new(format!("{} runs per Concat part ({k})", node_label(node, id)));
    patch.remove_nodes.push(NodeRef::Index(id));
    let mut outs = Vec::new();
    for i in 0..k {
        let mut moved = node.clone();
        moved.input = node.input.iter().zip(&operands).map(|(v, parts)| parts.map_or_else(|| v.clone(), |p| p[i].clone())).collect();
        let o = names.fresh(&format!("{out}_part{i}"));
        moved.output = vec![o.clone()];
        moved.name = Some(names.fresh(&format!("{base}_part{i}")));
        patch.add_nodes.push(moved);
        outs.push(o);
    }
    let refs: Vec<&str> = outs.iter().map(String::as_str).collect();
    patch.add_nodes.push(builder::node("Concat", &format!("{base}_concat"), &refs, &[out], &[("axis", Attr::Int(2))]));
    Some(patch)
}

/// `Split(Concat(p…))` along axis 2 at the Concat's own cuts: the Split's outputs are the parts.
fn split_of_concat(model: &Model, view: &GraphView, id: NodeId, node: &NodeProto, shapes: &mut Option<TwoShapes>) -> Option<Patch> {
    let parts = concat_parts(view, node.input.first()?)?;
    if crate::onnx::graph::attr_i(node, "axis").map(|a| if a < 0 { a + 3 } else { a }) != Some(2) || node.output.len() != parts.len() {
        return None;
    }
    let shapes = TwoShapes::of(shapes, model);
    let want = widths(shapes, parts)?;
    let got = widths(shapes, &node.output)?;
    if want != got {
        return None;
    }
    for (o, p) in node.output.iter().zip(parts) {
        if can_redirect(view, o, p).is_some() {
            return None;
        }
    }
    let mut patch = Patch::new(format!("{} undoes the Concat before it", node_label(node, id)));
    patch.remove_nodes.push(NodeRef::Index(id));
    patch.redirect = node.output.iter().cloned().zip(parts.iter().cloned()).collect();
    Some(patch)
}
