//! `conv-matmul`: rewrites SqueezeBERT's pointwise projections, 1-D `Conv(x [N, C, W], w [M, C/g, 1],
//! b [M], group = g)` with kernel 1, stride 1, no padding and no dilation, into MatMul form, exactly
//! (same products, same sums):
//!
//! - `g == 1`: `y = MatMul(w [M, C], x) + b [M, 1]`. MatMul broadcasts the 2-D weight over the batch
//!   (`[M, C] × [N, C, W] → [N, M, W]`), so no Transpose is needed.
//! - `g > 1`, [`Form::Batched`] (the registered default): `x` is reshaped to `[N, g, C/g, W]`
//!   (target `[0, g, C/g, -1]`: `0` copies N, `-1` infers W, so symbolic shapes work), multiplied by
//!   `w [g, M/g, C/g]` (batched over N and g), reshaped back with `[0, M, -1]` and the bias added.
//!   No multiply-add is wasted.
//! - `g > 1`, [`Form::BlockDiagonal`]: one `MatMul` with a dense `[M, C]` weight that is zero off
//!   the g diagonal blocks (g times the MACs; float32 weights only, others use the batched form).
//!
//! - [`Form::Split`] (`form=split`, what `quantize` uses): the weight becomes the *right* operand, as
//!   the integer MatMul kernels want (a constant B they pack once): `x` is transposed to channels-last
//!   `[N, W, C]`, split into the g groups along the channels, each multiplied by its own `[C/g, M/g]`
//!   weight (the transposed group block) plus its bias slice, concatenated and transposed back to
//!   `[N, M, W]`. With g = 1 that is `Transpose, MatMul, Add, Transpose`. The weights are transposed
//!   copies (float32 only).
//! - [`Form::BatchedRight`] (`form=batched-right`): one batched MatMul with the weight on the right,
//!   `Reshape(x, [0, g, C/g, -1])`, `Transpose` to `[N, g, W, C/g]`, `MatMul` with `[g, C/g, M/g]`,
//!   `Transpose` back, `Reshape(·, [0, M, -1])`, `+ b [M, 1]`; float32 only.
//!
//! The weight and bias of a Conv are laid out so that `[M, C/g, 1]` read as `[M, C]` (g = 1) or
//! `[g, M/g, C/g]` is the same sequence of elements: the new initializers are the old tensors with
//! new names and dims (external data stays where it is). The old ones are removed when the Conv was
//! their only reader. Shape operands are `Constant` nodes, so `inspect`'s parameter count changes
//! only by real weights (the block-diagonal zeros).
//!
//! Only exact matches are rewritten: weight (and bias, if any) initializers that are not graph
//! inputs, a 3-D weight with kernel 1, no attributes other than `group`, `kernel_shape = [1]`,
//! `strides = [1]`, `pads = [0, 0]`, `dilations = [1]` and `auto_pad` NOTSET/VALID, and a float
//! element type MatMul accepts. Any other Conv (2-D, kernel 3, strided, padded, dilated, SAME
//! padding, weights computed at run time) is left alone.

use std::collections::HashSet;

use crate::onnx::builder::{self, const_i64_node};
use crate::onnx::graph::{node_label, GraphView};
use crate::onnx::proto::{NodeProto, TensorProto};
use crate::onnx::Model;

use super::{NodeRef, Pass, Patch, Result};

/// How a grouped Conv (g > 1) is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// Reshape, one batched MatMul over the groups, Reshape back.
    Batched,
    /// One MatMul with a dense block-diagonal weight.
    BlockDiagonal,
    /// Channels-last: Transpose, Split into groups, MatMul with a `[C/g, M/g]` weight on the right
    /// (+ bias) per group, Concat, Transpose back.
    Split,
    /// Reshape, Transpose, one batched MatMul with a `[g, C/g, M/g]` weight on the right, Transpose,
    /// Reshape back.
    BatchedRight,
}

impl Form {
    /// The name after `form=`.
    pub fn name(self) -> &'static str {
        match self {
            Form::Batched => "batched",
            Form::BlockDiagonal => "block-diagonal",
            Form::Split => "split",
            Form::BatchedRight => "batched-right",
        }
    }

    pub const ALL: [Form; 4] = [Form::Batched, Form::BlockDiagonal, Form::Split, Form::BatchedRight];
}

pub struct ConvMatMul {
    pub form: Form,
}

impl Default for ConvMatMul {
    fn default() -> Self {
        ConvMatMul { form: Form::Batched }
    }
}

/// A Conv that can be rewritten.
pub(crate) struct Match<'a> {
    pub x: &'a str,
    pub w: &'a TensorProto,
    pub b: Option<&'a TensorProto>,
    pub groups: i64,
    pub m: i64,
    pub c_per_group: i64,
}

/// MatMul's float element types: float, float16, double, bfloat16.
const FLOAT_TYPES: [i32; 4] = [1, 10, 11, 16];

/// The Conv `node` as a [`Match`], or why it is left alone.
pub(crate) fn matches<'a>(view: &GraphView<'a>, node: &'a NodeProto) -> Result<Match<'a>, String> {
    if !node.is_op("Conv") {
        return Err("not a Conv".into());
    }
    if node.output.len() != 1 || !(2..=3).contains(&node.input.len()) {
        return Err("unexpected number of inputs or outputs".into());
    }
    let constant = |name: &str| -> Result<&'a TensorProto, String> {
        if view.is_input(name) {
            return Err(format!("'{name}' is a graph input (overridable)"));
        }
        view.initializer(name).ok_or_else(|| format!("'{name}' is not an initializer"))
    };
    let w = constant(&node.input[1])?;
    if w.dims.len() != 3 || w.dims[2] != 1 || w.dims.iter().any(|&d| d <= 0) {
        return Err(format!("weight dims {:?} are not [M, C/g, 1]", w.dims));
    }
    if !FLOAT_TYPES.contains(&w.data_type.unwrap_or(0)) {
        return Err("weight is not a float type".into());
    }
    let mut groups = 1;
    for a in &node.attribute {
        let ok = match a.name.as_deref().unwrap_or("") {
            "group" => {
                groups = a.i.unwrap_or(1);
                true
            }
            "kernel_shape" => a.ints == [1],
            "strides" | "dilations" => a.ints == [1],
            "pads" => a.ints == [0, 0],
            "auto_pad" => matches!(a.s.as_deref(), None | Some(b"" | b"NOTSET" | b"VALID")),
            _ => false,
        };
        if !ok {
            return Err(format!("attribute '{}' is not that of a pointwise 1-D Conv", a.name.as_deref().unwrap_or("")));
        }
    }
    let m = w.dims[0];
    if groups < 1 || m % groups != 0 {
        return Err(format!("group {groups} does not divide {m} output channels"));
    }
    let b = match node.input.get(2).filter(|b| !b.is_empty()) {
        None => None,
        Some(name) => {
            let b = constant(name)?;
            if b.dims != [m] || b.data_type != w.data_type {
                return Err(format!("bias dims {:?} are not [{m}]", b.dims));
            }
            Some(b)
        }
    };
    Ok(Match { x: &node.input[0], w, b, groups, m, c_per_group: w.dims[1] })
}

/// `base`, or `base_N` for the first N that names nothing in the graph or in `taken`.
pub(crate) fn fresh(view: &GraphView, taken: &mut HashSet<String>, base: &str) -> String {
    let mut name = base.to_string();
    let mut k = 0;
    while view.is_defined(&name) || taken.contains(&name) {
        k += 1;
        name = format!("{base}_{k}");
    }
    taken.insert(name.clone());
    name
}

/// The Conv's `[M, C/g, 1]` float32 weight as a dense `[M, C]` block-diagonal matrix.
fn block_diagonal(raw: &[u8], m: usize, groups: usize, cg: usize) -> Vec<u8> {
    let c = cg * groups;
    let mut dense = vec![0u8; m * c * 4];
    let mg = m / groups;
    for o in 0..m {
        let at = (o * c + (o / mg) * cg) * 4;
        dense[at..at + cg * 4].copy_from_slice(&raw[o * cg * 4..(o + 1) * cg * 4]);
    }
    dense
}

impl Pass for ConvMatMul {
    fn name(&self) -> &'static str {
        "conv-matmul"
    }

    fn describe(&self) -> &'static str {
        "rewrite pointwise 1-D Conv (kernel 1, grouped or not, constant weights) as MatMul (+ Reshape per group) + Add; form=batched|block-diagonal|split|batched-right"
    }

    fn configure(&mut self, options: &[(&str, &str)]) -> std::result::Result<(), String> {
        for (k, v) in options {
            match *k {
                "form" => {
                    self.form = Form::ALL.into_iter().find(|f| f.name() == *v).ok_or_else(|| {
                        format!("form '{v}' is not one of {}", Form::ALL.map(Form::name).join(", "))
                    })?
                }
                _ => return Err(format!("unknown option '{k}' (valid: form)")),
            }
        }
        Ok(())
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        let view = GraphView::new(model.graph());
        super::first_at(model.graph().node.len(), |id| self.convert_at(model, &view, id))
    }

    /// Every Conv in one look: each patch replaces its own Conv; two Convs sharing a weight write
    /// the same new names, so the second waits for the next batch.
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        let view = GraphView::new(model.graph());
        super::batch_at(model.graph(), |id| self.convert_at(model, &view, id))
    }
}

impl ConvMatMul {
    /// The patch replacing node `id` when it is a Conv this pass converts.
    fn convert_at(&self, model: &Model, view: &GraphView, id: usize) -> Result<Option<Patch>> {
        let g = model.graph();
        let node = &g.node[id];
        let Ok(mt) = matches(view, node) else { return Ok(None) };
        if matches!(self.form, Form::Split | Form::BatchedRight) {
            if mt.w.data_type != Some(1) || mt.b.is_some_and(|b| b.data_type != Some(1)) {
                return Ok(None);
            }
            return channels_last(model, view, id, node, &mt, self.form).map(Some);
        }
        let y = node.output[0].as_str();
        let base = node.name_or_output();
        let mut taken = HashSet::new();
        let mut patch = Patch::new(format!(
            "{} (group {}) -> MatMul{}",
            node_label(node, id),
            mt.groups,
            if mt.groups > 1 && self.form == Form::Batched { " over groups" } else { "" }
        ));
        patch.remove_nodes.push(NodeRef::Index(id));
        let only_reader = |t: &TensorProto| {
            let n = t.name.as_deref().unwrap_or("");
            view.consumers(n) == [id] && !g.output.iter().any(|v| v.name.as_deref() == Some(n))
        };
        let dense = mt.groups == 1 || (self.form == Form::BlockDiagonal && mt.w.data_type == Some(1));
        let (m, gr, cg) = (mt.m, mt.groups, mt.c_per_group);
        let mut w2 = mt.w.clone();
        w2.name = Some(fresh(view, &mut taken, &format!("{}_matmul", mt.w.name.as_deref().unwrap_or(&base))));
        if dense && gr > 1 {
            let raw = model.tensor_bytes(mt.w)?;
            let data = block_diagonal(&raw, m as usize, gr as usize, cg as usize);
            w2 = TensorProto {
                name: w2.name,
                dims: vec![m, cg * gr],
                data_type: Some(1),
                raw_data: Some(data.into()),
                ..Default::default()
            };
        } else {
            w2.dims = if dense { vec![m, cg] } else { vec![gr, m / gr, cg] };
        }
        let w2_name = w2.name.clone().unwrap();
        if only_reader(mt.w) {
            patch.remove_initializers.push(mt.w.name.clone().unwrap_or_default());
        }
        patch.add_initializers.push(w2);
        // The value the MatMul part produces: `y` itself when there is no bias.
        let product = if mt.b.is_some() { fresh(view, &mut taken, &format!("{y}_matmul")) } else { y.to_string() };
        if dense {
            patch.add_nodes.push(builder::node("MatMul", &format!("{base}_matmul"), &[&w2_name, mt.x], &[&product], &[]));
        } else {
            let s1 = fresh(view, &mut taken, &format!("{y}_group_shape"));
            let x4 = fresh(view, &mut taken, &format!("{y}_grouped_input"));
            let p4 = fresh(view, &mut taken, &format!("{y}_grouped_matmul"));
            let s2 = fresh(view, &mut taken, &format!("{y}_channel_shape"));
            patch.add_nodes.push(const_i64_node(&format!("{base}_group_shape"), &s1, &[0, gr, cg, -1]));
            patch.add_nodes.push(builder::node("Reshape", &format!("{base}_group_reshape"), &[mt.x, &s1], &[&x4], &[]));
            patch.add_nodes.push(builder::node("MatMul", &format!("{base}_matmul"), &[&w2_name, &x4], &[&p4], &[]));
            patch.add_nodes.push(const_i64_node(&format!("{base}_channel_shape"), &s2, &[0, m, -1]));
            patch.add_nodes.push(builder::node("Reshape", &format!("{base}_channel_reshape"), &[&p4, &s2], &[&product], &[]));
        }
        if let Some(b) = mt.b {
            let mut b2 = b.clone();
            b2.name = Some(fresh(view, &mut taken, &format!("{}_column", b.name.as_deref().unwrap_or(&base))));
            b2.dims = vec![m, 1];
            let b2_name = b2.name.clone().unwrap();
            if only_reader(b) {
                patch.remove_initializers.push(b.name.clone().unwrap_or_default());
            }
            patch.add_initializers.push(b2);
            patch.add_nodes.push(builder::node("Add", &format!("{base}_bias"), &[&product, &b2_name], &[y], &[]));
        }
        Ok(Some(patch))
    }
}

/// The `[M, C/g, 1]` float32 weight's group `k` as a transposed `[C/g, M/g]` block (little-endian bytes).
pub(crate) fn group_block_transposed(raw: &[u8], m: usize, groups: usize, cg: usize, k: usize) -> Vec<u8> {
    let mg = m / groups;
    let mut out = vec![0u8; cg * mg * 4];
    for o in 0..mg {
        for c in 0..cg {
            let from = ((k * mg + o) * cg + c) * 4;
            let to = (c * mg + o) * 4;
            out[to..to + 4].copy_from_slice(&raw[from..from + 4]);
        }
    }
    out
}

/// The patch of [`Form::Split`] and [`Form::BatchedRight`]: the weight on the right of a MatMul in
/// channels-last layout (see the module docs).
fn channels_last(model: &Model, view: &GraphView, id: usize, node: &NodeProto, mt: &Match, form: Form) -> Result<Patch> {
    let g = model.graph();
    let y = node.output[0].as_str();
    let base = node.name_or_output();
    let wname = mt.w.name.as_deref().unwrap_or(&base).to_string();
    let mut taken = HashSet::new();
    let (m, gr, cg) = (mt.m as usize, mt.groups as usize, mt.c_per_group as usize);
    let mg = m / gr;
    let split = form == Form::Split || gr == 1;
    let mut patch = Patch::new(format!(
        "{} (group {gr}) -> channels-last MatMul{}",
        node_label(node, id),
        if gr == 1 { "" } else if split { " per group" } else { " over groups" }
    ));
    patch.remove_nodes.push(NodeRef::Index(id));
    for t in std::iter::once(mt.w).chain(mt.b) {
        let n = t.name.as_deref().unwrap_or("");
        if view.consumers(n) == [id] && !g.output.iter().any(|v| v.name.as_deref() == Some(n)) {
            patch.remove_initializers.push(n.to_string());
        }
    }
    let raw = model.tensor_bytes(mt.w)?;
    let bias = mt.b.map(|b| model.tensor_bytes(b)).transpose()?;
    let f32_init = |name: String, dims: Vec<i64>, data: Vec<u8>| TensorProto {
        name: Some(name),
        dims,
        data_type: Some(1),
        raw_data: Some(data.into()),
        ..Default::default()
    };
    let mut fresh_name = |s: &str| fresh(view, &mut taken, s);
    let mut nodes = Vec::new();
    let perm = |p: &[i64]| [("perm", builder::Attr::Ints(p.to_vec()))];
    let out_t = fresh_name(&format!("{y}_channels_last"));
    if split {
        let xt = fresh_name(&format!("{y}_input_channels_last"));
        nodes.push(builder::node("Transpose", &format!("{base}_to_channels_last"), &[mt.x], &[&xt], &perm(&[0, 2, 1])));
        let parts: Vec<String> = if gr == 1 {
            vec![xt.clone()]
        } else {
            let parts: Vec<String> = (0..gr).map(|k| fresh_name(&format!("{y}_group{k}_input"))).collect();
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let sizes = vec![cg as i64; gr];
            let axis = ("axis", builder::Attr::Int(2));
            if model.opset("").unwrap_or(1) >= 13 {
                let sz = fresh_name(&format!("{y}_group_sizes"));
                nodes.push(const_i64_node(&format!("{base}_group_sizes"), &sz, &sizes));
                nodes.push(builder::node("Split", &format!("{base}_split"), &[&xt, &sz], &refs, &[axis]));
            } else {
                nodes.push(builder::node("Split", &format!("{base}_split"), &[&xt], &refs, &[axis, ("split", builder::Attr::Ints(sizes))]));
            }
            parts
        };
        let mut outs = Vec::new();
        for (k, part) in parts.iter().enumerate() {
            let suffix = if gr == 1 { String::new() } else { format!("_group{k}") };
            let wk = fresh_name(&format!("{wname}{suffix}_transposed"));
            patch.add_initializers.push(f32_init(wk.clone(), vec![cg as i64, mg as i64], group_block_transposed(&raw, m, gr, cg, k)));
            let prod = fresh_name(&format!("{y}{suffix}_matmul"));
            nodes.push(builder::node("MatMul", &format!("{base}{suffix}_matmul"), &[part, &wk], &[&prod], &[]));
            let out = match &bias {
                Some(b) => {
                    let bk = fresh_name(&format!("{}{suffix}_bias", mt.b.and_then(|b| b.name.as_deref()).unwrap_or(&base)));
                    patch.add_initializers.push(f32_init(bk.clone(), vec![mg as i64], b[k * mg * 4..(k + 1) * mg * 4].to_vec()));
                    let out = fresh_name(&format!("{y}{suffix}_biased"));
                    nodes.push(builder::node("Add", &format!("{base}{suffix}_bias"), &[&prod, &bk], &[&out], &[]));
                    out
                }
                None => prod,
            };
            outs.push(out);
        }
        if gr == 1 {
            nodes.push(builder::node("Identity", &format!("{base}_channels_last_out"), &[&outs[0]], &[&out_t], &[]));
        } else {
            let refs: Vec<&str> = outs.iter().map(String::as_str).collect();
            nodes.push(builder::node("Concat", &format!("{base}_concat"), &refs, &[&out_t], &[("axis", builder::Attr::Int(2))]));
        }
        nodes.push(builder::node("Transpose", &format!("{base}_to_channels_first"), &[&out_t], &[y], &perm(&[0, 2, 1])));
        if gr == 1 {
            // No Identity: the single group's output is transposed back directly.
            let ident = nodes.iter().position(|n| n.op_type.as_deref() == Some("Identity")).expect("pushed above");
            let src = nodes.remove(ident).input[0].clone();
            nodes.last_mut().expect("pushed above").input[0] = src;
        }
    } else {
        let s1 = fresh_name(&format!("{y}_group_shape"));
        let x4 = fresh_name(&format!("{y}_grouped_input"));
        let xt = fresh_name(&format!("{y}_grouped_input_channels_last"));
        let p4 = fresh_name(&format!("{y}_grouped_matmul"));
        let pt = fresh_name(&format!("{y}_grouped_matmul_channels_first"));
        let s2 = fresh_name(&format!("{y}_channel_shape"));
        let prod = if bias.is_some() { fresh_name(&format!("{y}_matmul")) } else { y.to_string() };
        nodes.push(const_i64_node(&format!("{base}_group_shape"), &s1, &[0, gr as i64, cg as i64, -1]));
        nodes.push(builder::node("Reshape", &format!("{base}_group_reshape"), &[mt.x, &s1], &[&x4], &[]));
        nodes.push(builder::node("Transpose", &format!("{base}_to_channels_last"), &[&x4], &[&xt], &perm(&[0, 1, 3, 2])));
        let wk = fresh_name(&format!("{wname}_transposed"));
        let data: Vec<u8> = (0..gr).flat_map(|k| group_block_transposed(&raw, m, gr, cg, k)).collect();
        patch.add_initializers.push(f32_init(wk.clone(), vec![gr as i64, cg as i64, mg as i64], data));
        nodes.push(builder::node("MatMul", &format!("{base}_matmul"), &[&xt, &wk], &[&p4], &[]));
        nodes.push(builder::node("Transpose", &format!("{base}_to_channels_first"), &[&p4], &[&pt], &perm(&[0, 1, 3, 2])));
        nodes.push(const_i64_node(&format!("{base}_channel_shape"), &s2, &[0, m as i64, -1]));
        nodes.push(builder::node("Reshape", &format!("{base}_channel_reshape"), &[&pt, &s2], &[&prod], &[]));
        if let Some(b) = &bias {
            let bk = fresh_name(&format!("{}_column", mt.b.and_then(|b| b.name.as_deref()).unwrap_or(&base)));
            patch.add_initializers.push(f32_init(bk.clone(), vec![m as i64, 1], b.to_vec()));
            nodes.push(builder::node("Add", &format!("{base}_bias"), &[&prod, &bk], &[y], &[]));
        }
    }
    patch.add_nodes = nodes;
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::{Attr, Axis, GraphBuilder};
    use crate::onnx::dtype::DataType;
    use crate::passes::tests::{ops, run};

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// x [batch, c, seq] -> Conv(w [m, c/g, k], b?) -> y, with extra attributes.
    fn conv_model(c: i64, m: i64, g: i64, k: i64, bias: bool, attrs: &[(&str, Attr)]) -> Model {
        let mut b = GraphBuilder::new("g");
        b.input("x", DataType::Float, &[Axis::Named("batch"), Axis::Fixed(c), Axis::Named("seq")]);
        let n = (m * (c / g) * k) as usize;
        let w = b.initializer("w", DataType::Float, &[m, c / g, k], f32s(&(0..n).map(|i| i as f32).collect::<Vec<_>>()));
        let mut inputs = vec!["x".to_string(), w];
        if bias {
            inputs.push(b.initializer("b", DataType::Float, &[m], f32s(&vec![0.5; m as usize])));
        }
        let mut all = vec![("group", Attr::Int(g)), ("kernel_shape", Attr::Ints(vec![k]))];
        all.extend(attrs.iter().cloned());
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        b.node_to("Conv", &refs, &all, "y");
        b.output("y", DataType::Float, &[Axis::Named("batch"), Axis::Fixed(m), Axis::Named("seq")]);
        b.finish(17, "test", "")
    }

    fn init_dims(m: &Model) -> Vec<(String, Vec<i64>)> {
        m.graph().initializer.iter().map(|t| (t.name.clone().unwrap(), t.dims.clone())).collect()
    }

    // Why: g = 1 needs no Transpose or Reshape: the [M, C] weight broadcasts over the batch; the
    // bias becomes a [M, 1] column; old initializers go; the output keeps its name.
    #[test]
    fn ungrouped_conv_becomes_matmul_and_add() {
        let mut m = conv_model(4, 6, 1, 1, true, &[("strides", Attr::Ints(vec![1])), ("pads", Attr::Ints(vec![0, 0]))]);
        let r = run(&mut m, &["conv-matmul"]);
        assert_eq!(r.steps, 1, "{:?}", r.log);
        assert_eq!(ops(&m), vec!["MatMul", "Add"]);
        let g = m.graph();
        assert_eq!(g.node[0].input, vec!["w_matmul", "x"]);
        assert_eq!(g.node[1].output, vec!["y"]);
        assert_eq!(init_dims(&m), vec![("w_matmul".into(), vec![6, 4]), ("b_column".into(), vec![6, 1])]);

        let mut m = conv_model(4, 6, 1, 1, false, &[]);
        run(&mut m, &["conv-matmul"]);
        assert_eq!(ops(&m), vec!["MatMul"]);
        assert_eq!(m.graph().node[0].output, vec!["y"]);
    }

    // Why: the batched form's Reshape targets must keep N (0) and infer W (-1) so symbolic batch and
    // sequence still work, and the weight must be read as [g, M/g, C/g].
    #[test]
    fn grouped_conv_becomes_batched_matmul_over_groups() {
        for bias in [true, false] {
            let mut m = conv_model(8, 12, 4, 1, bias, &[("dilations", Attr::Ints(vec![1]))]);
            run(&mut m, &["conv-matmul"]);
            let mut want = vec!["Constant", "Reshape", "MatMul", "Constant", "Reshape"];
            if bias {
                want.push("Add");
            }
            let mut got = ops(&m);
            got.sort();
            want.sort();
            assert_eq!(got, want);
            let g = m.graph();
            let consts: Vec<Vec<u8>> = g
                .node
                .iter()
                .filter(|n| n.op_type.as_deref() == Some("Constant"))
                .map(|n| n.attribute[0].t.as_ref().unwrap().raw_data.clone().unwrap().to_vec())
                .collect();
            let i64s = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
            assert!(consts.contains(&i64s(&[0, 4, 2, -1])) && consts.contains(&i64s(&[0, 12, -1])), "{consts:?}");
            assert_eq!(init_dims(&m)[0], ("w_matmul".into(), vec![4, 3, 2]));
            assert!(g.node.iter().any(|n| n.output == ["y"]));
        }
    }

    // Why: the block-diagonal option must place each group's [M/g, C/g] block on the diagonal.
    #[test]
    fn block_diagonal_form_places_the_group_blocks() {
        let mut m = conv_model(4, 4, 2, 1, false, &[]);
        let mut p = crate::passes::Pipeline::new(vec![Box::new(ConvMatMul { form: Form::BlockDiagonal })]);
        p.check_each_step = true;
        p.run(&mut m).unwrap();
        assert_eq!(ops(&m), vec!["MatMul"]);
        let t = &m.graph().initializer[0];
        assert_eq!(t.dims, vec![4, 4]);
        let v: Vec<f32> = t.raw_data.as_ref().unwrap().chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        // w = 0..8 as [4, 2, 1]; rows 0-1 read channels 0-1, rows 2-3 channels 2-3.
        assert_eq!(v, vec![0., 1., 0., 0., 2., 3., 0., 0., 0., 0., 4., 5., 0., 0., 6., 7.]);
    }

    // Why: anything but an exact pointwise 1-D Conv with constant weights must be left alone.
    #[test]
    fn leaves_non_matching_convs_alone() {
        let cases: Vec<(&str, Model)> = vec![
            ("kernel 3", conv_model(4, 4, 1, 3, true, &[])),
            ("stride 2", conv_model(4, 4, 1, 1, true, &[("strides", Attr::Ints(vec![2]))])),
            ("padded", conv_model(4, 4, 1, 1, true, &[("pads", Attr::Ints(vec![1, 1]))])),
            ("dilated", conv_model(4, 4, 2, 1, true, &[("dilations", Attr::Ints(vec![2]))])),
            ("kernel_shape 2-D", conv_model(4, 4, 1, 1, false, &[("kernel_shape", Attr::Ints(vec![1, 1]))])),
        ];
        for (what, mut m) in cases {
            let before = m.graph().clone();
            assert_eq!(run(&mut m, &["conv-matmul"]).steps, 0, "{what}");
            assert_eq!(m.graph(), &before, "{what}");
        }
        // SAME_UPPER padding.
        let mut m = conv_model(4, 4, 1, 1, false, &[]);
        m.graph_mut().node[0].attribute.push(crate::onnx::proto::AttributeProto {
            name: Some("auto_pad".into()),
            s: Some(bytes::Bytes::from_static(b"SAME_UPPER")),
            ..Default::default()
        });
        assert_eq!(run(&mut m, &["conv-matmul"]).steps, 0, "auto_pad");
        // A 2-D weight [M, C, 1, 1] (2-D conv) and a weight computed at run time.
        let mut m = conv_model(4, 4, 1, 1, false, &[]);
        m.graph_mut().initializer[0].dims = vec![4, 4, 1, 1];
        assert_eq!(run(&mut m, &["conv-matmul"]).steps, 0, "2-D conv");
        let mut m = conv_model(4, 4, 1, 1, false, &[]);
        let g = m.graph_mut();
        g.initializer[0].name = Some("w0".into());
        g.node.insert(0, builder::node("Neg", "neg", &["w0"], &["w"], &[]));
        assert_eq!(run(&mut m, &["conv-matmul"]).steps, 0, "computed weight");
        // A weight that is also a graph input can be overridden: not a constant.
        let mut m = conv_model(4, 4, 1, 1, false, &[]);
        let w_input = m.graph().input[0].clone();
        m.graph_mut().input.push(crate::onnx::proto::ValueInfoProto { name: Some("w".into()), ..w_input });
        assert_eq!(run(&mut m, &["conv-matmul"]).steps, 0, "weight is a graph input");
    }

    // Why: the split form puts each group's transposed [C/g, M/g] block on the right of its own
    // MatMul, in channels-last layout, with its bias slice; g = 1 needs no Split or Concat.
    #[test]
    fn split_form_multiplies_each_group_by_its_transposed_block() {
        let mut m = conv_model(4, 4, 2, 1, true, &[]);
        let mut p = crate::passes::Pipeline::new(vec![Box::new(ConvMatMul { form: Form::Split })]);
        p.check_each_step = true;
        p.run(&mut m).unwrap();
        let mut got = ops(&m);
        got.sort();
        assert_eq!(got, vec!["Add", "Add", "Concat", "Constant", "MatMul", "MatMul", "Split", "Transpose", "Transpose"]);
        let g = m.graph();
        let w1 = g.initializer.iter().find(|t| t.name.as_deref() == Some("w_group1_transposed")).unwrap();
        assert_eq!(w1.dims, vec![2, 2]);
        let v: Vec<f32> = w1.raw_data.as_ref().unwrap().chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        // w = 0..8 as [4, 2, 1]: group 1 is rows 2-3 ([[4, 5], [6, 7]]), transposed.
        assert_eq!(v, vec![4., 6., 5., 7.]);
        assert!(g.initializer.iter().any(|t| t.name.as_deref() == Some("b_group1_bias") && t.dims == [2]));

        let mut m = conv_model(4, 6, 1, 1, true, &[]);
        run(&mut m, &["conv-matmul:form=split"]);
        assert_eq!(ops(&m), vec!["Transpose", "MatMul", "Add", "Transpose"]);
        assert_eq!(m.graph().node[3].output, vec!["y"]);
    }

    // Why: a weight shared with another reader must stay; the rewrite adds its own reshaped copy.
    #[test]
    fn shared_weight_is_kept() {
        let mut m = conv_model(4, 4, 1, 1, false, &[]);
        m.graph_mut().node.push(builder::node("Neg", "neg", &["w"], &["z"], &[]));
        m.graph_mut().output.push(crate::onnx::proto::ValueInfoProto { name: Some("z".into()), ..Default::default() });
        run(&mut m, &["conv-matmul"]);
        let names: Vec<String> = init_dims(&m).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["w", "w_matmul"]);
    }
}
