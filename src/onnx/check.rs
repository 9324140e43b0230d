//! Structural checks: what must hold before a model can be measured or rewritten. Each problem
//! names the node or tensor it concerns. Passes run [`check`] after every patch in tests.

use std::collections::HashSet;
use std::fmt;

use super::graph::{node_label, GraphView};
use super::io::Model;
use super::dtype::DataType;
use super::ops;
use super::proto::{GraphProto, TensorProto, ValueInfoProto};
use super::tensor;
use super::{Error, Result};

/// One structural problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Which graph: `main`, or a path like `main/'loop' (Loop).body`.
    pub graph: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.graph == "main" {
            f.write_str(&self.message)
        } else {
            write!(f, "in {}: {}", self.graph, self.message)
        }
    }
}

/// All structural problems of the model (empty when it is sound).
pub fn check(model: &Model) -> Vec<Problem> {
    let mut problems = Vec::new();
    for o in &model.proto.opset_import {
        let domain = o.domain.as_deref().unwrap_or("");
        let version = o.version.unwrap_or(0);
        let latest = match domain {
            "" | "ai.onnx" => ops::LATEST_OPSET,
            "ai.onnx.ml" => ops::LATEST_ML_OPSET,
            _ => continue,
        };
        if !(1..=latest).contains(&version) {
            let shown = if domain.is_empty() { "the default domain" } else { domain };
            problems.push(Problem {
                graph: "main".into(),
                message: format!("opset {version} of {shown} is not a released ONNX opset (this tool knows 1..={latest})"),
            });
        }
    }
    if model.proto.opset_import.is_empty() {
        problems.push(Problem {
            graph: "main".into(),
            message: "the model imports no opset (opset_import is empty): its operators have no defined version".into(),
        });
    }
    check_graph(model, model.graph(), "main", &HashSet::new(), &mut problems);
    problems
}

/// Whether the model imports `domain` (the default domain is `""` or `ai.onnx`). A model that
/// imports nothing is reported once, not for each node.
fn imports_domain(model: &Model, domain: &str) -> bool {
    model.proto.opset_import.is_empty() || model.opset(domain).is_some()
}

/// [`check`] as a `Result`: an error listing the problems (the first 20) when there are any.
pub(crate) fn ensure_sound(model: &Model) -> Result<()> {
    let problems = check(model);
    if problems.is_empty() {
        return Ok(());
    }
    let mut reason = format!("{} structural problem(s):", problems.len());
    for p in problems.iter().take(20) {
        reason.push_str("\n  - ");
        reason.push_str(&p.to_string());
    }
    if problems.len() > 20 {
        reason.push_str(&format!("\n  ... and {} more", problems.len() - 20));
    }
    Err(Error::Invalid { path: model.path().into(), reason })
}

fn check_graph(model: &Model, g: &GraphProto, where_: &str, outer: &HashSet<&str>, out: &mut Vec<Problem>) {
    let mut push = |message: String| out.push(Problem { graph: where_.to_string(), message });
    let view = GraphView::new(g);

    let mut names = HashSet::new();
    for t in &g.initializer {
        if !names.insert(tensor::name(t)) {
            push(format!("initializer '{}' is defined twice", tensor::name(t)));
        }
        if let Some(msg) = tensor_problem(model, t) {
            push(format!("initializer '{}': {msg}", tensor::name(t)));
        }
    }
    let mut input_names = HashSet::new();
    for v in &g.input {
        let name = v.name.as_deref().unwrap_or("");
        if !input_names.insert(name) {
            push(format!("graph input '{name}' is declared twice"));
        }
    }
    for &(value, id) in view.duplicates() {
        push(format!("node {} writes '{value}', which is already defined", node_label(view.node(id), id)));
    }

    let strings: HashSet<&str> = g
        .initializer
        .iter()
        .filter(|t| t.data_type == Some(DataType::String.code()))
        .filter_map(|t| t.name.as_deref())
        .chain(g.input.iter().chain(&g.value_info).filter(|v| declared_type(v) == Some(DataType::String)).filter_map(|v| v.name.as_deref()))
        .collect();
    for (id, node) in g.node.iter().enumerate() {
        let op = node.op_type.as_deref().unwrap_or("");
        let domain = node.domain.as_deref().unwrap_or("");
        if op.is_empty() {
            push(format!("node {} has no op_type", node_label(node, id)));
        } else if ops::is_known(domain, op) == Some(false) && !is_local_function(model, domain, op) {
            let shown = if domain.is_empty() { "the default ONNX domain" } else { domain };
            push(format!("node {}: '{op}' is not an operator of {shown}", node_label(node, id)));
        } else if !imports_domain(model, domain) && !is_local_function(model, domain, op) {
            push(format!("node {}: its domain '{domain}' is not in the model's opset_import", node_label(node, id)));
        }
        if NUMERIC_OPS.contains(&op) && node.in_default_domain() {
            for input in node.input.iter().filter(|i| strings.contains(i.as_str())) {
                push(format!("node {} reads '{input}', a string tensor, where {op} needs numbers", node_label(node, id)));
            }
        }
        for input in node.input.iter().filter(|s| !s.is_empty()) {
            if !view.is_defined(input) && !outer.contains(input.as_str()) {
                push(format!("node {} reads '{input}', which no node, input or initializer defines", node_label(node, id)));
            }
        }
        for attr in &node.attribute {
            if let Some(t) = &attr.t {
                if let Some(msg) = tensor_problem(model, t) {
                    push(format!("node {} attribute '{}': {msg}", node_label(node, id), attr.name.as_deref().unwrap_or("")));
                }
            }
        }
    }
    for v in &g.output {
        let name = v.name.as_deref().unwrap_or("");
        if !view.is_defined(name) && !outer.contains(name) {
            push(format!("graph output '{name}' is not produced by any node, input or initializer"));
        }
    }
    if let Err(stuck) = view.topo_order() {
        let labels: Vec<String> = stuck.iter().take(8).map(|&i| node_label(view.node(i), i)).collect();
        push(format!(
            "the graph has a cycle: {} node(s) on or behind it, e.g. {}",
            stuck.len(),
            labels.join(", ")
        ));
    }

    // Subgraphs see everything their parent defines.
    let mut scope: HashSet<&str> = outer.clone();
    scope.extend(g.input.iter().filter_map(|v| v.name.as_deref()));
    scope.extend(g.initializer.iter().filter_map(|t| t.name.as_deref()));
    scope.extend(g.node.iter().flat_map(|n| n.output.iter().map(String::as_str)));
    for (id, node) in g.node.iter().enumerate() {
        for attr in &node.attribute {
            for (k, sub) in attr.g.iter().chain(&attr.graphs).enumerate() {
                let path = format!("{where_}/{}.{}[{k}]", node_label(node, id), attr.name.as_deref().unwrap_or(""));
                check_graph(model, sub, &path, &scope, out);
            }
        }
    }
}

/// Ops of the default domain that only take numeric tensors (the ones BERT-family graphs use most).
const NUMERIC_OPS: &[&str] = &[
    "Abs", "Add", "BatchNormalization", "Conv", "ConvInteger", "DequantizeLinear", "Div", "Erf", "Exp", "Gelu",
    "Gemm", "LayerNormalization", "Log", "MatMul", "MatMulInteger", "Max", "Min", "Mul", "Neg", "Pow",
    "QuantizeLinear", "ReduceMax", "ReduceMean", "ReduceSum", "Relu", "Sigmoid", "Softmax", "Sqrt", "Sub", "Tanh",
];

fn declared_type(v: &ValueInfoProto) -> Option<DataType> {
    let t = v.r#type.as_ref()?.tensor_type.as_ref()?;
    DataType::from_code(t.elem_type?)
}

/// A node may call a function the model defines in its own domain.
fn is_local_function(model: &Model, domain: &str, op: &str) -> bool {
    model.proto.functions.iter().any(|f| f.domain.as_deref().unwrap_or("") == domain && f.name.as_deref() == Some(op))
}

/// What is wrong with a tensor's declared size or data, if anything.
fn tensor_problem(model: &Model, t: &TensorProto) -> Option<String> {
    if let Some(p) = tensor::data_problem(t) {
        return Some(p);
    }
    if tensor::is_external(t) {
        return model.external_ref(t).err().map(|e| match e {
            Error::Tensor { reason, .. } => reason,
            other => other.to_string(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::graph::tests::{node, value};
    use crate::onnx::proto::ModelProto;

    fn model(g: GraphProto) -> Model {
        let opset_import = vec![crate::onnx::proto::OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }];
        Model::from_proto(ModelProto { graph: Some(g), opset_import, ..Default::default() }, "test.onnx", ".")
    }

    fn float_tensor(name: &str, dims: &[i64], raw_len: usize) -> TensorProto {
        TensorProto {
            name: Some(name.into()),
            dims: dims.to_vec(),
            data_type: Some(1),
            raw_data: Some(vec![0u8; raw_len].into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_sound_graph_has_no_problems() {
        let g = GraphProto {
            node: vec![node("MatMul", "mm", &["x", "w"], &["y"])],
            initializer: vec![float_tensor("w", &[2, 3], 24)],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        };
        assert_eq!(check(&model(g)), vec![]);
    }

    #[test]
    fn each_problem_names_its_node_or_tensor() {
        let g = GraphProto {
            node: vec![
                node("MatMul", "mm", &["x", "missing"], &["y"]),
                node("Relu", "again", &["y"], &["y"]),
                node("Add", "loop_a", &["x", "lb"], &["la"]),
                node("Add", "loop_b", &["la"], &["lb"]),
            ],
            initializer: vec![float_tensor("short", &[4], 12), float_tensor("w", &[-1, 2], 0)],
            input: vec![value("x")],
            output: vec![value("y"), value("nowhere")],
            ..Default::default()
        };
        let text: Vec<String> = check(&model(g)).iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        assert!(all.contains("'mm' (MatMul) reads 'missing'"), "{all}");
        assert!(all.contains("'again' (Relu) writes 'y'"), "{all}");
        assert!(all.contains("initializer 'short': raw_data holds 12 bytes but dims [4] of float32 need 16"), "{all}");
        assert!(all.contains("initializer 'w': negative dimension -1"), "{all}");
        assert!(all.contains("graph output 'nowhere'"), "{all}");
        assert!(all.contains("cycle") && all.contains("'loop_a' (Add)"), "{all}");
    }

    // Why: each of these was accepted silently (issue 17 item 16): a tensor with two payloads
    // (which one a runtime reads is its choice), an op of a domain the model does not import,
    // and a model importing no opset at all.
    #[test]
    fn double_payloads_undeclared_domains_and_missing_opsets_are_reported() {
        let mut t = float_tensor("both", &[2], 8);
        t.float_data = vec![1.0, 2.0];
        let mut custom = node("Gelu", "g", &["x"], &["y"]);
        custom.domain = Some("com.microsoft".into());
        let g = GraphProto { node: vec![custom], initializer: vec![t], input: vec![value("x")], output: vec![value("y")], ..Default::default() };
        let all = check(&model(g.clone())).iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains("initializer 'both': has both raw_data and 2 typed values"), "{all}");
        assert!(all.contains("node 'g' (Gelu): its domain 'com.microsoft' is not in the model's opset_import"), "{all}");
        let bare = Model::from_proto(ModelProto { graph: Some(g), ..Default::default() }, "test.onnx", ".");
        let all = check(&bare).iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains("the model imports no opset"), "{all}");
    }

    #[test]
    fn an_initializer_without_data_is_reported() {
        let mut t = float_tensor("empty", &[3], 0);
        t.raw_data = None;
        let g = GraphProto { initializer: vec![t], ..Default::default() };
        let all = check(&model(g)).iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        assert!(all.contains("initializer 'empty': has no data"), "{all}");
    }
}
