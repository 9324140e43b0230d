//! Model statistics behind `squeezebench inspect`: interface, opsets, op histogram, parameters
//! (stored initializer elements, by dtype, by op type, embeddings vs the rest, shared tensors),
//! weight bytes, size on disk, and MACs/FLOPs for a batch and sequence length.
//!
//! Parameters are counted as *stored* initializer elements: exporters store a tensor used in two
//! places once, so this is what the file holds. Initializers read by more than one node are reported
//! separately (`shared`). Constant node values are counted apart (`constants`), not as parameters.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::graph::GraphView;
use super::io::Model;
use super::proto::{Dim as ProtoDim, GraphProto, ValueInfoProto};
use super::shapes::{self, Bindings, Info};
use super::tensor;
use super::Result;
use crate::util::{group, human_bytes};

/// Everything `inspect` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Inspect {
    pub path: String,
    /// The .onnx file plus its external data files.
    pub size_bytes: u64,
    pub file_bytes: u64,
    pub external_bytes: u64,
    pub ir_version: i64,
    pub producer_name: String,
    pub producer_version: String,
    pub opset: BTreeMap<String, i64>,
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    pub nodes: usize,
    /// Op type → count; ops outside the default domain are prefixed with their domain.
    pub ops: BTreeMap<String, usize>,
    pub initializers: usize,
    pub parameters: u64,
    pub parameters_by_dtype: BTreeMap<String, u64>,
    /// Parameters by the op type of the first node that reads them (`(unused)` when none does).
    pub parameters_by_op: BTreeMap<String, u64>,
    /// Tables read as data by Gather (word, position, token-type embeddings).
    pub embedding_parameters: u64,
    pub non_embedding_parameters: u64,
    pub shared: Shared,
    pub constants: Constants,
    pub weight_bytes: u64,
    pub weight_bytes_by_dtype: BTreeMap<String, u64>,
    pub compute: Compute,
    /// For convenience: equal to `compute.flops`.
    pub flops: u64,
}

/// A graph input or output.
#[derive(Clone, Debug, Serialize)]
pub struct Port {
    pub name: String,
    pub dtype: String,
    /// Numbers for fixed axes, names for symbolic ones, `?` for unknown.
    pub shape: Vec<serde_json::Value>,
}

/// Initializers read by more than one node.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Shared {
    pub tensors: usize,
    pub parameters: u64,
    pub names: Vec<String>,
}

/// Constant nodes: values inside the graph that are not initializers.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Constants {
    pub nodes: usize,
    pub elements: u64,
}

/// Multiply-accumulates of the matrix ops at one batch size and sequence length.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Compute {
    pub batch: i64,
    pub seq: i64,
    pub macs: u64,
    /// 2 × MACs.
    pub flops: u64,
    /// MatMul/Gemm against a constant weight.
    pub weight_macs: u64,
    /// MatMul between two activations (attention scores and context).
    pub attention_macs: u64,
    pub conv_macs: u64,
    /// MACs by op type.
    pub by_op: BTreeMap<String, u64>,
    /// Matrix nodes whose operand shapes could not be resolved (their MACs are missing).
    pub unresolved: Vec<String>,
}

/// The vocabulary size of a token input: rows of the smallest embedding table that `input` is
/// gathered from (at least 1), or None when no `Gather` reads it from an initializer. Synthetic
/// token ids are drawn below it.
pub fn vocab_size(model: &Model, input: &str) -> Option<usize> {
    let view = GraphView::new(model.graph());
    view.consumers(input)
        .iter()
        .map(|&i| view.node(i))
        .filter(|n| n.op_type.as_deref() == Some("Gather") && n.input.len() == 2 && n.input[1] == input)
        .filter_map(|n| view.initializer(&n.input[0]).and_then(|t| t.dims.first().copied()))
        .min()
        .map(|rows| rows.max(1) as usize)
}

/// Op type → how many nodes of the graph have it ([`super::proto::NodeProto::op_key`]: the domain prefixes ops
/// outside the default one).
pub(crate) fn op_histogram(g: &GraphProto) -> BTreeMap<String, usize> {
    let mut ops = BTreeMap::new();
    for n in &g.node {
        *ops.entry(n.op_key()).or_insert(0) += 1;
    }
    ops
}

/// Collects the statistics for a model at `batch` × `seq`.
pub fn inspect(model: &Model, batch: i64, seq: i64) -> Result<Inspect> {
    let proto = &model.proto;
    let g = model.graph();
    let view = GraphView::new(g);
    let external_bytes = model.external_bytes()?;

    let ops = op_histogram(g);

    let mut s = ParamCounts::default();
    for t in &g.initializer {
        let name = tensor::name(t);
        let n = tensor::numel(t).unwrap_or(0);
        let dt = tensor::data_type(t).map(|d| d.name().to_string()).unwrap_or_else(|e| e);
        let consumers = view.consumers(name);
        let first_op = first_real_consumer(&view, name).unwrap_or_else(|| "(unused)".to_string());
        let is_embedding = consumers.iter().any(|&c| {
            let node = view.node(c);
            node.op_type.as_deref() == Some("Gather") && node.input.first().map(String::as_str) == Some(name) && t.dims.len() == 2
        });
        s.add(n, &dt, first_op, is_embedding, tensor::expected_bytes(t).ok().flatten().unwrap_or(0));
        if consumers.len() > 1 {
            s.shared.tensors += 1;
            s.shared.parameters = s.shared.parameters.saturating_add(n);
            s.shared.names.push(name.to_string());
        }
    }
    for sp in &g.sparse_initializer {
        if let Some(v) = &sp.values {
            let n = tensor::numel(v).unwrap_or(0);
            let dt = tensor::data_type(v).map(|d| d.name().to_string()).unwrap_or_else(|e| e);
            s.add(n, &dt, "(sparse)".into(), false, tensor::expected_bytes(v).ok().flatten().unwrap_or(0));
        }
    }
    let mut constants = Constants::default();
    for n in g.node.iter().filter(|n| n.op_type.as_deref() == Some("Constant")) {
        constants.nodes += 1;
        if let Some(t) = n.attribute.iter().find_map(|a| a.t.as_ref()) {
            constants.elements = constants.elements.saturating_add(tensor::numel(t).unwrap_or(0));
        } else if let Some(a) = n.attribute.first() {
            constants.elements += (a.ints.len() + a.floats.len() + a.strings.len()).max(1) as u64;
        }
    }

    let compute = compute(model, &view, batch, seq);
    Ok(Inspect {
        path: model.path().display().to_string(),
        size_bytes: model.file_size() + external_bytes,
        file_bytes: model.file_size(),
        external_bytes,
        ir_version: proto.ir_version.unwrap_or(0),
        producer_name: proto.producer_name.clone().unwrap_or_default(),
        producer_version: proto.producer_version.clone().unwrap_or_default(),
        opset: proto.opset_import.iter().map(|o| (o.domain.clone().unwrap_or_default(), o.version.unwrap_or(0))).collect(),
        inputs: g.input.iter().filter(|v| view.initializer(v.name.as_deref().unwrap_or("")).is_none()).map(port).collect(),
        outputs: g.output.iter().map(port).collect(),
        nodes: g.node.len(),
        ops,
        initializers: g.initializer.len(),
        parameters: s.total,
        parameters_by_dtype: s.by_dtype,
        parameters_by_op: s.by_op,
        embedding_parameters: s.embedding,
        non_embedding_parameters: s.total.saturating_sub(s.embedding),
        shared: s.shared,
        constants,
        weight_bytes: s.bytes,
        weight_bytes_by_dtype: s.bytes_by_dtype,
        flops: compute.flops,
        compute,
    })
}

#[derive(Default)]
struct ParamCounts {
    total: u64,
    embedding: u64,
    bytes: u64,
    by_dtype: BTreeMap<String, u64>,
    by_op: BTreeMap<String, u64>,
    bytes_by_dtype: BTreeMap<String, u64>,
    shared: Shared,
}

impl ParamCounts {
    fn add(&mut self, n: u64, dtype: &str, op: String, embedding: bool, bytes: u64) {
        // Saturating: a hostile file may claim absurd dims; the figures must not panic.
        let add = |slot: &mut u64, v: u64| *slot = slot.saturating_add(v);
        add(&mut self.total, n);
        add(&mut self.bytes, bytes);
        add(self.by_dtype.entry(dtype.to_string()).or_insert(0), n);
        add(self.bytes_by_dtype.entry(dtype.to_string()).or_insert(0), bytes);
        add(self.by_op.entry(op).or_insert(0), n);
        if embedding {
            add(&mut self.embedding, n);
        }
    }
}

/// Op type of the first node that reads `value`, looking through Identity copies.
fn first_real_consumer(view: &GraphView, value: &str) -> Option<String> {
    let mut value = value.to_string();
    for _ in 0..16 {
        let &c = view.consumers(&value).first()?;
        let node = view.node(c);
        match node.op_type.as_deref() {
            Some("Identity") => value = node.output.first()?.clone(),
            op => return Some(op.unwrap_or_default().to_string()),
        }
    }
    None
}

/// What an encoder says about the inputs it can take, for checking a suite against it before
/// anything runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Rows of the position-embedding table (a rank-2 initializer whose name holds
    /// `position_embeddings`, as Hugging Face exports and `synth` name it): the longest sequence.
    pub max_positions: Option<usize>,
    /// Classes of a float `logits` output of shape `[batch, N]` with a fixed N.
    pub classes: Option<usize>,
}

/// The [`Limits`] of `model` (each None when the model does not say).
pub fn limits(model: &Model) -> Limits {
    let g = model.graph();
    let max_positions = g
        .initializer
        .iter()
        .filter(|t| t.name.as_deref().is_some_and(|n| n.contains("position_embeddings")) && t.dims.len() == 2)
        .filter_map(|t| usize::try_from(t.dims[0]).ok())
        .min();
    let classes = g.output.iter().map(port).find(|p| p.name == "logits").and_then(|p| match p.shape.as_slice() {
        [_, n] => n.as_u64().and_then(|n| usize::try_from(n).ok()).filter(|&n| n > 0),
        _ => None,
    });
    Limits { max_positions, classes }
}

fn port(v: &ValueInfoProto) -> Port {
    let tt = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
    let dtype = tt.and_then(|t| t.elem_type).map_or_else(|| "?".to_string(), crate::onnx::dtype::code_name);
    let shape = tt
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(ProtoDim::Value(v)) => serde_json::Value::from(*v),
                    Some(ProtoDim::Param(p)) => serde_json::Value::from(p.clone()),
                    None => serde_json::Value::from("?"),
                })
                .collect()
        })
        .unwrap_or_default();
    Port { name: v.name.clone().unwrap_or_default(), dtype, shape }
}

/// Operand positions (A, B) of the matrix ops whose MACs are counted.
fn matrix_operands(op: &str) -> Option<(usize, usize)> {
    match op {
        "MatMul" | "MatMulInteger" | "FusedMatMul" | "MatMulIntegerToFloat" | "DynamicQuantizeMatMul" | "Gemm" | "Conv"
        | "ConvInteger" => Some((0, 1)),
        "QLinearMatMul" | "QLinearConv" => Some((0, 3)),
        _ => None,
    }
}

fn compute(model: &Model, view: &GraphView, batch: i64, seq: i64) -> Compute {
    let env = shapes::infer(model, &Bindings { batch: Some(batch), seq: Some(seq), by_name: HashMap::new() });
    let mut c = Compute { batch, seq, ..Default::default() };
    let shape_of = |name: &str| env.get(name).and_then(Info::known_shape);
    for (id, node) in view.graph.node.iter().enumerate() {
        let op = node.op_type.as_deref().unwrap_or("");
        let Some((ia, ib)) = matrix_operands(op) else { continue };
        let a_name = node.input.get(ia).map_or("", String::as_str);
        let b_name = node.input.get(ib).map_or("", String::as_str);
        let out = node.output.first().and_then(|o| shape_of(o));
        let macs = match (shape_of(a_name), shape_of(b_name), out) {
            (Some(a), Some(b), Some(out)) => {
                if op.contains("Conv") {
                    // out [N, M, spatial...] × (C/group × kernel...) per output element.
                    checked_product(&out).and_then(|o| o.checked_mul(checked_product(b.get(1..)?)?))
                } else {
                    // out [..., M, N] × K, where K is A's contraction axis.
                    let trans_a = op == "Gemm" && crate::onnx::graph::attr_i(node, "transA") == Some(1);
                    let k = match (a.len(), trans_a) {
                        (0, _) => None,
                        (2, true) => Some(a[0]),
                        (n, _) => Some(a[n - 1]),
                    };
                    k.and_then(|k| checked_product(&out)?.checked_mul(u64::try_from(k).ok()?))
                }
            }
            _ => None,
        };
        let Some(macs) = macs else {
            c.unresolved.push(crate::onnx::graph::node_label(node, id));
            continue;
        };
        c.macs = c.macs.saturating_add(macs);
        let e = c.by_op.entry(op.to_string()).or_insert(0);
        *e = e.saturating_add(macs);
        let is_const = |name: &str| view.initializer(name).is_some() || view.producer(name).is_some_and(|p| {
            let n = view.node(p);
            n.op_type.as_deref() == Some("Constant") || (matches!(n.op_type.as_deref(), Some("DequantizeLinear" | "Transpose" | "Cast")) && n.input.first().is_some_and(|i| view.initializer(i).is_some()))
        });
        if op.contains("Conv") {
            c.conv_macs = c.conv_macs.saturating_add(macs);
        } else if is_const(b_name) || is_const(a_name) {
            c.weight_macs = c.weight_macs.saturating_add(macs);
        } else {
            c.attention_macs = c.attention_macs.saturating_add(macs);
        }
    }
    c.flops = c.macs.saturating_mul(2);
    c
}

/// Product of non-negative dims, `None` on a negative dim or overflow.
fn checked_product(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))
}

/// A human-readable multi-line rendering of [`Inspect`].
pub fn render_text(r: &Inspect) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let shape = |p: &Port| p.shape.iter().map(|d| d.to_string().trim_matches('"').to_string()).collect::<Vec<_>>().join(" × ");
    let _ = writeln!(s, "model      {}", r.path);
    let _ = writeln!(s, "producer   {} {} (IR {})", r.producer_name, r.producer_version, r.ir_version);
    let opset: Vec<String> = r.opset.iter().map(|(d, v)| format!("{}={v}", if d.is_empty() { "ai.onnx" } else { d })).collect();
    let _ = writeln!(s, "opset      {}", opset.join(", "));
    let _ = writeln!(s, "size       {} on disk ({} .onnx + {} external)", human_bytes(r.size_bytes), human_bytes(r.file_bytes), human_bytes(r.external_bytes));
    let _ = writeln!(s, "\ninputs");
    for p in &r.inputs {
        let _ = writeln!(s, "  {:<24} {:<8} [{}]", p.name, p.dtype, shape(p));
    }
    let _ = writeln!(s, "outputs");
    for p in &r.outputs {
        let _ = writeln!(s, "  {:<24} {:<8} [{}]", p.name, p.dtype, shape(p));
    }
    let _ = writeln!(s, "\nparameters {} ({} initializers, {} of weights)", group(r.parameters), r.initializers, human_bytes(r.weight_bytes));
    let _ = writeln!(s, "  embeddings {}   rest {}", group(r.embedding_parameters), group(r.non_embedding_parameters));
    for (dt, n) in &r.parameters_by_dtype {
        let _ = writeln!(s, "  {dt:<10} {:>14}  {}", group(*n), human_bytes(r.weight_bytes_by_dtype.get(dt).copied().unwrap_or(0)));
    }
    let _ = writeln!(s, "  by op:");
    for (op, n) in &r.parameters_by_op {
        let _ = writeln!(s, "    {op:<22} {:>14}", group(*n));
    }
    if r.shared.tensors > 0 {
        let _ = writeln!(s, "  shared by several nodes: {} tensors, {} parameters", r.shared.tensors, group(r.shared.parameters));
    }
    if r.constants.nodes > 0 {
        let _ = writeln!(s, "  Constant nodes (not counted): {} holding {} elements", r.constants.nodes, group(r.constants.elements));
    }
    let c = &r.compute;
    let _ = writeln!(s, "\ncompute at batch {} × seq {}", c.batch, c.seq);
    let _ = writeln!(s, "  MACs  {} ({:.3} G)   FLOPs {} ({:.3} G)", group(c.macs), c.macs as f64 / 1e9, group(c.flops), c.flops as f64 / 1e9);
    let _ = writeln!(s, "  weights {}   attention {}   conv {}", group(c.weight_macs), group(c.attention_macs), group(c.conv_macs));
    if !c.unresolved.is_empty() {
        let _ = writeln!(s, "  not counted (shapes unknown): {}", c.unresolved.join(", "));
    }
    let _ = writeln!(s, "\nops ({} nodes)", r.nodes);
    let mut ops: Vec<(&String, &usize)> = r.ops.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (op, n) in ops {
        let _ = writeln!(s, "  {op:<28} {n:>6}");
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::onnx::proto::{GraphProto, ModelProto, NodeProto, TensorProto};
    use crate::onnx::Model;

    /// A file may claim dims whose product overflows: the counts saturate instead of panicking.
    #[test]
    fn absurd_initializer_dims_do_not_panic() {
        let t = |name: &str| TensorProto { name: Some(name.into()), dims: vec![i64::MAX, 4], data_type: Some(1), ..Default::default() };
        let big = TensorProto { dims: vec![1 << 40, 1 << 22], ..t("b") };
        let mm = NodeProto { op_type: Some("MatMul".into()), input: vec!["a".into(), "b".into()], output: vec!["y".into()], ..Default::default() };
        let named = |n: &str| TensorProto { name: Some(n.into()), ..big.clone() };
        let g = GraphProto { initializer: vec![t("a"), named("b"), named("c"), named("d"), named("e")], node: vec![mm], ..Default::default() };
        let m = Model::from_proto(ModelProto { graph: Some(g), ..Default::default() }, "hostile.onnx", ".");
        let r = super::inspect(&m, 1, 128).unwrap();
        assert_eq!(r.parameters, u64::MAX);
    }
}
