//! Dynamic quantization: each target's weight becomes int8 (or uint8) with its scale and zero
//! point, and the MatMul becomes one of the integer forms of [`DynamicForm`]. Activations are
//! quantized to uint8 at run time by ONNX Runtime (per tensor, from their own min/max).
//!
//! Also home of the parts every mode shares: weight quantization on several threads (releasing the
//! float pages of each weight as soon as its int8 copy exists) and fresh value names.

use std::collections::{HashMap, HashSet};

use crate::onnx::builder::{self, Attr};
use crate::onnx::graph::GraphView;
use crate::onnx::proto::{NodeProto, TensorProto};
use crate::onnx::{tensor, Model};
use crate::passes::{NodeRef, Patch};

use super::ops::{Kind, Plan, Target};
use super::params::{quantize_matrix, QParams, QType, Scheme};
use super::{DynamicForm, Error, Mode, Resolved, Result};

/// A weight in 8 bits, laid out `[..., K, N]`, with one parameter set or one per column `N`.
pub(crate) struct QWeight {
    /// Shared by every model emitted from one preparation (the accuracy search emits many).
    pub data: bytes::Bytes,
    pub params: Vec<QParams>,
    pub dims: Vec<i64>,
}

/// Quantizes the distinct weights of `plan` on `opts.threads` threads, largest first. Per-channel
/// (`opts.per_channel`, or the product reads one of `per_channel_readers`) applies to the 2-D
/// weights of products; N-D batched weights and embedding tables get one scale per tensor (per-column
/// tables measured worse on all-MiniLM-L6-v2, and their `DequantizeLinear` along an axis is slower).
pub(super) fn quantize_weights(model: &Model, plan: &Plan, opts: &Resolved, per_channel_readers: &HashSet<&str>) -> Result<HashMap<String, QWeight>> {
    let view = GraphView::new(model.graph());
    let mut jobs: Vec<&Target> = Vec::new();
    let mut seen = HashSet::new();
    for t in &plan.targets {
        if seen.insert(t.weight.as_str()) {
            jobs.push(t);
        }
    }
    jobs.sort_by_key(|t| std::cmp::Reverse(t.dims.iter().product::<i64>()));
    // Greedy balance: each job goes to the least loaded thread.
    let threads = opts.threads.clamp(1, jobs.len().max(1));
    let mut lanes: Vec<(i64, Vec<&Target>)> = vec![(0, Vec::new()); threads];
    for j in jobs {
        let lane = lanes.iter_mut().min_by_key(|l| l.0).expect("at least one lane");
        lane.0 += j.dims.iter().product::<i64>();
        lane.1.push(j);
    }
    let one = |t: &Target| -> Result<(String, QWeight)> {
        let w = view.initializer(&t.weight).expect("planned weights are initializers");
        let bytes = model.tensor_bytes(w)?;
        // Read in place when the bytes happen to be 4-aligned (little-endian hosts), else copy.
        // SAFETY: every bit pattern is a valid f32.
        let values: std::borrow::Cow<[f32]> = match unsafe { bytes.align_to::<f32>() } {
            (&[], mid, &[]) if cfg!(target_endian = "little") => std::borrow::Cow::Borrowed(mid),
            _ => std::borrow::Cow::Owned(tensor::f32_values(&bytes)),
        };
        let n = *t.dims.last().expect("2-D or more") as usize;
        let k = values.len() / n.max(1);
        let per_column = (opts.per_channel || per_channel_readers.contains(t.activation.as_str())) && t.dims.len() == 2 && t.kind == Kind::Product;
        let scheme = Scheme { qtype: opts.weight_type, symmetric: opts.symmetric_weights, reduce_range: opts.reduce_range, per_column };
        let (data, params) = quantize_matrix(&values, k, n, t.transposed, scheme)
            .map_err(|reason| Error::Node { node: t.label.clone(), reason: format!("weight '{}': {reason}", t.weight) })?;
        drop(values);
        model.release_pages(&bytes);
        Ok((t.weight.clone(), QWeight { data: data.into(), params, dims: t.dims.clone() }))
    };
    let results: Vec<Result<Vec<(String, QWeight)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = lanes.iter().map(|(_, lane)| s.spawn(|| lane.iter().map(|t| one(t)).collect::<Result<Vec<_>>>())).collect();
        handles.into_iter().map(|h| h.join().expect("weight quantization does not panic")).collect()
    });
    let mut out = HashMap::new();
    for r in results {
        out.extend(r?);
    }
    Ok(out)
}

/// Fresh value names: not defined in the graph, not handed out before.
pub(super) struct Names<'a> {
    view: &'a GraphView<'a>,
    taken: HashSet<String>,
}

impl<'a> Names<'a> {
    pub fn new(view: &'a GraphView<'a>) -> Self {
        Names { view, taken: HashSet::new() }
    }

    pub fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 0;
        while self.view.is_defined(&name) || self.taken.contains(&name) {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.taken.insert(name.clone());
        name
    }
}

fn f32_bytes(v: impl Iterator<Item = f32>) -> Vec<u8> {
    v.flat_map(f32::to_le_bytes).collect()
}

/// The weight, scale and zero-point initializers of `q` named after `weight`; returns their names.
pub(super) fn weight_initializers(patch: &mut Patch, names: &mut Names, weight: &str, q: &QWeight, qtype: QType) -> (String, String, String) {
    let (qn, sn, zn) = (names.fresh(&format!("{weight}_quantized")), names.fresh(&format!("{weight}_scale")), names.fresh(&format!("{weight}_zero_point")));
    let per_dims: Vec<i64> = if q.params.len() > 1 { vec![q.params.len() as i64] } else { vec![] };
    let init = |name: &str, code: i32, dims: Vec<i64>, raw: bytes::Bytes| TensorProto {
        name: Some(name.into()),
        dims,
        data_type: Some(code),
        raw_data: Some(raw),
        ..Default::default()
    };
    patch.add_initializers.push(init(&sn, 1, per_dims.clone(), f32_bytes(q.params.iter().map(|p| p.scale)).into()));
    patch.add_initializers.push(init(&zn, qtype.onnx_code(), per_dims, q.params.iter().map(|p| p.zero_point as u8).collect::<Vec<u8>>().into()));
    patch.add_initializers.push(init(&qn, qtype.onnx_code(), q.dims.clone(), q.data.clone()));
    (qn, sn, zn)
}

/// A `DequantizeLinear` of the quantized weight `(qw, ws, wz)` into a fresh float value, per output
/// column (`axis` = the last of `rank` dims) when `per_column`; returns the value.
pub(super) fn dequantize_weight(patch: &mut Patch, names: &mut Names, weight: &str, (qw, ws, wz): (&str, &str, &str), per_column: bool, rank: usize) -> String {
    let out = names.fresh(&format!("{weight}_dequantized"));
    let attrs: Vec<(&str, Attr)> = if per_column { vec![("axis", Attr::Int(rank as i64 - 1))] } else { vec![] };
    patch.add_nodes.push(builder::node("DequantizeLinear", &names.fresh(&format!("{weight}_DequantizeLinear")), &[qw, ws, wz], &[&out], &attrs));
    out
}

/// Replaces the node of `t` by a copy whose inputs `(index, value)` are swapped in. A Gemm weight
/// stored transposed loses `transB`: quantized weights are written `[K, N]`.
pub(super) fn replace_inputs(patch: &mut Patch, view: &GraphView, t: &Target, inputs: &[(usize, String)]) {
    let mut node = view.node(t.node).clone();
    for (i, v) in inputs {
        node.input[*i] = v.clone();
    }
    if t.transposed {
        node.attribute.retain(|a| a.name.as_deref() != Some("transB"));
    }
    patch.remove_nodes.push(NodeRef::Index(t.node));
    patch.add_nodes.push(node);
}

/// Removes the float weights whose readers are all replaced.
pub(super) fn remove_replaced_weights(patch: &mut Patch, view: &GraphView, plan: &Plan) {
    let replaced: HashSet<usize> = plan.targets.iter().map(|t| t.node).collect();
    let mut done = HashSet::new();
    for t in &plan.targets {
        if done.insert(t.weight.as_str())
            && view.consumers(&t.weight).iter().all(|c| replaced.contains(c))
            && !view.graph.output.iter().any(|o| o.name.as_deref() == Some(t.weight.as_str()))
        {
            patch.remove_initializers.push(t.weight.clone());
        }
    }
}

/// The nodes of a quantized lookup (every mode): `DequantizeLinear(Gather(q, indices), scale, zero
/// point)`, per column of the hidden size when the table has per-column parameters.
pub(super) fn lookup(patch: &mut Patch, names: &mut Names, view: &GraphView, t: &Target, (qw, ws, wz): (&str, &str, &str), per_column: bool) {
    let base = view.node(t.node).name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| t.output.clone());
    let rows = names.fresh(&format!("{}_quantized", t.output));
    let mut gather = view.node(t.node).clone();
    gather.input = vec![qw.to_string(), t.activation.clone()];
    gather.output = vec![rows.clone()];
    patch.remove_nodes.push(NodeRef::Index(t.node));
    patch.add_nodes.push(gather);
    let attrs: Vec<(&str, Attr)> = if per_column { vec![("axis", Attr::Int(-1))] } else { vec![] };
    patch.add_nodes.push(builder::node("DequantizeLinear", &format!("{base}_dequantize"), &[&rows, ws, wz], &[&t.output], &attrs));
}

/// The dynamic-mode patch for `plan`.
pub(super) fn build(model: &Model, plan: &Plan, opts: &Resolved, weights: &HashMap<String, QWeight>) -> Result<Patch> {
    let view = GraphView::new(model.graph());
    let mut names = Names::new(&view);
    let mut patch = Patch::new(format!("dynamic quantization of {} nodes", plan.targets.len()));
    let mut written: HashMap<String, (String, String, String)> = HashMap::new();
    let mut per_column: HashMap<String, bool> = HashMap::new();
    // DynamicQuantizeLinear outputs per activation, shared by every MatMul reading it.
    let mut activations: HashMap<String, (String, String, String)> = HashMap::new();
    for t in &plan.targets {
        let (qw, ws, wz) = match written.get(&t.weight) {
            Some(n) => n.clone(),
            None => {
                let q = &weights[&t.weight];
                per_column.insert(t.weight.clone(), q.params.len() > 1);
                let n = weight_initializers(&mut patch, &mut names, &t.weight, q, opts.weight_type);
                written.insert(t.weight.clone(), n.clone());
                n
            }
        };
        if t.kind == Kind::Lookup {
            lookup(&mut patch, &mut names, &view, t, (&qw, &ws, &wz), per_column[&t.weight]);
            continue;
        }
        patch.remove_nodes.extend(t.replaced_nodes().into_iter().map(NodeRef::Index));
        let base = view.node(t.node).name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| t.output.clone());
        let bias = t.bias.as_ref().map(|b| b.tensor.clone());
        let mut dql = |names: &mut Names, patch: &mut Patch| {
            activations
                .entry(t.activation.clone())
                .or_insert_with(|| {
                    let (q, s, z) = (
                        names.fresh(&format!("{}_quantized", t.activation)),
                        names.fresh(&format!("{}_scale", t.activation)),
                        names.fresh(&format!("{}_zero_point", t.activation)),
                    );
                    patch.add_nodes.push(builder::node("DynamicQuantizeLinear", &names.fresh(&format!("{}_DynamicQuantizeLinear", t.activation)), &[&t.activation], &[&q, &s, &z], &[]));
                    (q, s, z)
                })
                .clone()
        };
        match opts.form {
            DynamicForm::DynamicQuantizeMatMul => {
                let mut inputs = vec![t.activation.as_str(), &qw, &ws, &wz];
                if let Some(b) = &bias {
                    inputs.push(b);
                }
                patch.add_nodes.push(ms_node("DynamicQuantizeMatMul", &format!("{base}_quant"), &inputs, &[&t.output]));
            }
            DynamicForm::MatMulIntegerToFloat => {
                let (xq, xs, xz) = dql(&mut names, &mut patch);
                let mut inputs = vec![xq.as_str(), &qw, &xs, &ws, &xz, &wz];
                if let Some(b) = &bias {
                    inputs.push(b);
                }
                patch.add_nodes.push(ms_node("MatMulIntegerToFloat", &format!("{base}_quant"), &inputs, &[&t.output]));
            }
            DynamicForm::MatMulInteger => {
                let (xq, xs, xz) = dql(&mut names, &mut patch);
                let acc = names.fresh(&format!("{}_int32", t.output));
                let acc_f = names.fresh(&format!("{}_int32_float", t.output));
                let scale = names.fresh(&format!("{}_scale", t.output));
                let prod = if bias.is_some() { names.fresh(&format!("{}_product", t.output)) } else { t.output.clone() };
                patch.add_nodes.push(builder::node("MatMulInteger", &format!("{base}_quant"), &[&xq, &qw, &xz, &wz], &[&acc], &[]));
                patch.add_nodes.push(builder::node("Cast", &format!("{base}_cast"), &[&acc], &[&acc_f], &[("to", Attr::Int(1))]));
                patch.add_nodes.push(builder::node("Mul", &format!("{base}_scales"), &[&xs, &ws], &[&scale], &[]));
                patch.add_nodes.push(builder::node("Mul", &format!("{base}_rescale"), &[&acc_f, &scale], &[&prod], &[]));
                if let Some(b) = &bias {
                    patch.add_nodes.push(builder::node("Add", &format!("{base}_bias"), &[&prod, b], &[&t.output], &[]));
                }
            }
        }
    }
    remove_replaced_weights(&mut patch, &view, plan);
    Ok(patch)
}

/// Whether the written products are `com.microsoft` nodes (which also take the bias).
pub(super) fn uses_microsoft_ops(opts: &Resolved) -> bool {
    match opts.mode {
        Mode::Dynamic => opts.form != DynamicForm::MatMulInteger,
        Mode::Static => !opts.qdq,
        Mode::Auto => true,
        Mode::WeightOnly => false,
    }
}

pub(super) fn ms_node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    let mut n = builder::node(op, name, inputs, outputs, &[]);
    n.domain = Some("com.microsoft".into());
    n
}

/// Imports `com.microsoft` (version 1) when the written form uses it.
pub(super) fn ensure_opsets(model: &mut Model, opts: &Resolved) {
    if uses_microsoft_ops(opts) {
        model.require_opset("com.microsoft", 1);
    }
}
