//! One quantizer per op family behind a registry. A quantizer looks at one node of the float graph
//! and says which input is the activation, which initializer is the weight (and how it is laid
//! out), and which bias can ride along, as a [`Target`]; or why the node stays in float. It edits
//! nothing: the modes turn targets into patches.
//!
//! `Conv` is not quantized here: pointwise Convs are rewritten to MatMul before planning (see the
//! module docs of `quant`), and any other Conv is reported as left in float.

mod gather;
mod gemm;
mod matmul;

use std::collections::HashSet;

use crate::onnx::graph::{node_label, GraphView, NodeId};
use crate::onnx::proto::TensorProto;
use crate::onnx::Model;

use super::{Resolved, Skipped};

/// Op types quantized unless `--op-types` says otherwise.
pub(crate) const DEFAULT_OP_TYPES: &[&str] = &["MatMul", "Gemm", "Conv", "Gather"];
/// Op types `--op-types` accepts.
pub(crate) const SUPPORTED_OP_TYPES: &[&str] = &["MatMul", "Gemm", "Conv", "Gather"];

/// How a target uses its weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `activation × weight`: MatMul, Gemm.
    Product,
    /// Rows of the weight (an embedding table) picked by the activation (indices): Gather.
    Lookup,
}

/// A bias added to the product: Gemm's `C`, or the constant of an `Add` that follows a MatMul.
#[derive(Clone, Debug)]
pub struct Bias {
    pub tensor: String,
    /// The `Add` node folded into the quantized node (`None`: the bias is Gemm's own input).
    pub add_node: Option<NodeId>,
}

/// A node to quantize: `output = activation × weight (+ bias)`.
#[derive(Clone, Debug)]
pub struct Target {
    /// The node's name (`--exclude` takes it); set by [`plan`].
    pub name: String,
    pub kind: Kind,
    pub node: NodeId,
    /// Name for messages (`'/bert/.../MatMul' (MatMul)`).
    pub label: String,
    pub op_type: String,
    /// The float input (the indices of a Lookup).
    pub activation: String,
    pub weight: String,
    /// The weight is stored `[N, K]` (Gemm `transB = 1`); quantized weights are always written `[K, N]`.
    pub transposed: bool,
    /// The weight's dims as the quantized MatMul reads them (`[..., K, N]`).
    pub dims: Vec<i64>,
    pub bias: Option<Bias>,
    /// The value the quantized node writes (the folded Add's output, or the node's own).
    pub output: String,
}

impl Target {
    /// Nodes the quantized form replaces.
    pub(crate) fn replaced_nodes(&self) -> Vec<NodeId> {
        std::iter::once(self.node).chain(self.bias.as_ref().and_then(|b| b.add_node)).collect()
    }
}

/// What can be quantized in a model, and what is left in float with the reason.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub targets: Vec<Target>,
    pub skipped: Vec<Skipped>,
}

/// Finds the target of one node of its op type.
pub trait OpQuantizer: Sync {
    fn op_type(&self) -> &'static str;
    /// Whether the node is worth reporting when it is not quantized (a Gather of shape values is
    /// not an embedding lookup at all).
    fn candidate(&self, _view: &GraphView, _id: NodeId) -> bool {
        true
    }
    /// The target, or why the node stays float. `fold_bias`: a following constant bias `Add` may be
    /// folded into the quantized node.
    fn target(&self, view: &GraphView, id: NodeId, fold_bias: bool) -> Result<Target, String>;
}

/// Every op quantizer.
pub fn registry() -> Vec<Box<dyn OpQuantizer>> {
    vec![Box::new(matmul::MatMul), Box::new(gemm::Gemm), Box::new(gather::Gather)]
}

/// The plan for `model`: each node of a requested op type is a target or a skipped node.
pub fn plan(model: &Model, opts: &Resolved) -> Plan {
    let g = model.graph();
    let view = GraphView::new(g);
    let registry = registry();
    let excluded: HashSet<&str> = opts.exclude.iter().map(String::as_str).collect();
    let fold_bias = super::dynamic::uses_microsoft_ops(opts);
    let mut plan = Plan::default();
    for (id, node) in g.node.iter().enumerate() {
        let op = node.op_type.as_deref().unwrap_or("");
        if !node.in_default_domain() || !opts.op_types.iter().any(|o| o == op) {
            continue;
        }
        let name = node.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| node_label(node, id));
        let skip = |reason: String| Skipped { node: name.clone(), op_type: op.to_string(), reason };
        if excluded.contains(name.as_str()) {
            plan.skipped.push(skip("excluded (--exclude)".into()));
            continue;
        }
        let Some(q) = registry.iter().find(|q| q.op_type() == op) else {
            plan.skipped.push(skip(match op {
                "Conv" => "not a pointwise 1-D Conv with constant weights (ConvInteger is never used)".into(),
                _ => "no quantizer for this op type".into(),
            }));
            continue;
        };
        if !q.candidate(&view, id) {
            continue;
        }
        match q.target(&view, id, fold_bias) {
            Ok(t) => plan.targets.push(Target { name: name.clone(), ..t }),
            Err(reason) => plan.skipped.push(skip(reason)),
        }
    }
    plan
}

impl Plan {
    /// The plan with the targets named in `keep_float` moved to the skipped nodes, with `reason`.
    pub fn without(&self, keep_float: &HashSet<String>, reason: &str) -> Plan {
        let mut plan = Plan { targets: Vec::new(), skipped: self.skipped.clone() };
        for t in &self.targets {
            if keep_float.contains(&t.name) {
                plan.skipped.push(Skipped { node: t.name.clone(), op_type: t.op_type.clone(), reason: reason.into() });
            } else {
                plan.targets.push(t.clone());
            }
        }
        plan
    }
}

/// The float32 initializer `name`, or the one it is an `Identity` copy of (exporters read shared
/// tensors through Identity nodes), and not an overridable graph input; or why not. The tensor's
/// own name says which initializer it is.
pub(crate) fn float_initializer<'a>(view: &GraphView<'a>, name: &str) -> Result<&'a TensorProto, String> {
    let mut source = name;
    for _ in 0..8 {
        match view.producer(source).map(|p| view.node(p)) {
            Some(n) if n.is_op("Identity") && n.input.len() == 1 => {
                source = &n.input[0]
            }
            _ => break,
        }
    }
    if view.is_input(source) {
        return Err(format!("'{source}' is a graph input (overridable, not a constant)"));
    }
    let t = view.initializer(source).ok_or_else(|| format!("'{name}' is computed at run time, not a constant weight"))?;
    if t.data_type != Some(1) {
        return Err(format!("weight '{name}' is {}, not float32", crate::onnx::dtype::code_name(t.data_type.unwrap_or(0))));
    }
    Ok(t)
}

/// A constant float32 `[n]` bias added to `value` by its only reader, an `Add`: `(bias, add node)`.
pub(crate) fn following_bias(view: &GraphView, value: &str, n: i64) -> Option<(String, NodeId)> {
    if view.graph.output.iter().any(|o| o.name.as_deref() == Some(value)) {
        return None;
    }
    let [add] = view.consumers(value) else { return None };
    let node = view.node(*add);
    if !node.is_op("Add") || node.input.len() != 2 {
        return None;
    }
    let other = if node.input[0] == value { &node.input[1] } else { &node.input[0] };
    let t = float_initializer(view, other).ok()?;
    (t.dims == [n]).then(|| (t.name.clone().unwrap_or_default(), *add))
}
