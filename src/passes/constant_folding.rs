//! `constant-folding`: computes the nodes whose inputs are all constants (initializers that are
//! not graph inputs, `Constant` outputs, values folded before) and replaces them by `Constant`
//! nodes. A `Shape` (or `Size`) node counts as constant when shape inference
//! ([`crate::onnx::shapes`]) knows every dim it returns, which is the case for the exporters'
//! Shape → Gather → Unsqueeze → Concat → Reshape/Expand/ConstantOfShape/Range chains once the
//! input shapes are fixed (`rewrite --fix-shape input_ids=1x128`). The folded subgraph goes in
//! one patch: the values read by unfolded nodes (or graph outputs, which so keep their names) are
//! written under the same names by `Constant` nodes, or by initializers when larger than
//! [`MAX_CONSTANT_NODE_BYTES`] (a folded embedding lookup is a weight); the other folded nodes are
//! removed, and `dead-code` then drops the constants nothing reads any more.
//!
//! **How values are computed.** By the exact evaluator [`crate::onnx::eval`], in Rust, not by
//! ONNX Runtime. On the four exports we have (HF BERT and SqueezeBERT, tiny and base, at opset
//! 17), every foldable node, with or without fixed shapes, is an integer, boolean or data-movement
//! op (Shape, Gather, Unsqueeze, Concat, Cast, Range, ConstantOfShape, GreaterOrEqual, And, Mul,
//! Add, Reshape, Equal, Where, Slice), which the evaluator computes exactly, with checked integer
//! arithmetic. It needs no ONNX Runtime library, so `rewrite` keeps working without one. Float
//! ops are evaluated only where IEEE 754 makes the result exact (Add, Sub, Mul, Div, Sqrt, ...),
//! so folding cannot change a model's outputs. Constant subgraphs with transcendental float ops
//! (Erf, Exp, Pow, ...) are left in place: ONNX Runtime folds those itself when it loads the
//! model, with its own kernels, so an ONNX Runtime session here would buy nothing for inference.
//!
//! **Size limit.** A node is folded only when each of its outputs takes at most as many bytes as
//! its constant inputs together, or [`MAX_GROWTH_BYTES`] (64 KiB), whichever is larger: folding
//! must not turn a `ConstantOfShape`/`Expand`/`Tile`/`Range` of a few bytes into a large tensor
//! stored in the model. What is not folded stays computed at run time. `Identity` nodes are left
//! to the `identity` pass (folding one would copy its input), and only default-domain nodes of
//! the main graph without subgraphs are folded.

use std::collections::{HashMap, HashSet};

use crate::onnx::eval::{self, Input, Value};
use crate::onnx::graph::{node_label, GraphView};
use crate::onnx::builder;
use crate::onnx::shapes::{self, Bindings};
use crate::onnx::Model;

use super::{constant_value, short_list, NodeRef, Pass, Patch, Result};

/// Bytes a folded value may always take, whatever the size of its inputs.
pub const MAX_GROWTH_BYTES: u64 = 64 * 1024;

/// Folded values larger than this become initializers (weights: counted as parameters, movable to
/// external data, merged by dedup-initializers); smaller ones, and graph outputs, `Constant` nodes.
pub const MAX_CONSTANT_NODE_BYTES: u64 = 4096;

pub(crate) struct ConstantFolding;

impl Pass for ConstantFolding {
    fn name(&self) -> &'static str {
        "constant-folding"
    }

    fn describe(&self) -> &'static str {
        "compute nodes whose inputs are all constants (and Shape of fully known shapes) into Constants"
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        let g = model.graph();
        let view = GraphView::new(g);
        let order = view.topo_order().unwrap_or_else(|_| (0..g.node.len()).collect());
        let needs_shapes = g.node.iter().any(|n| matches!(n.op_type.as_deref(), Some("Shape" | "Size")));
        let inferred = if needs_shapes { shapes::infer(model, &Bindings::default()) } else { HashMap::new() };

        let mut known: HashMap<&str, Value> = HashMap::new();
        let mut folded: Vec<usize> = Vec::new();
        for id in order {
            let node = &g.node[id];
            let op = node.op_type.as_deref().unwrap_or("");
            if op == "Constant" {
                if let (Some(v), Some(out)) = (eval::constant_value(node), node.output.first()) {
                    known.insert(out.as_str(), v);
                }
                continue;
            }
            if op == "Identity" || !node.in_default_domain() || !eval::OPS.contains(&op) || node.attribute.iter().any(|a| a.g.is_some() || !a.graphs.is_empty()) {
                continue;
            }
            let shape_only = matches!(op, "Shape" | "Size");
            // Every input must be a constant (or, for Shape/Size, have a fully known shape).
            let mut shapes_of: Vec<Option<Vec<i64>>> = Vec::new();
            let mut ready = true;
            for name in &node.input {
                if name.is_empty() {
                    shapes_of.push(None);
                    continue;
                }
                if shape_only {
                    let s = inferred.get(name.as_str()).and_then(|i| i.known_shape()).or_else(|| known.get(name.as_str()).map(|v| v.dims.iter().map(|&d| d as i64).collect()));
                    ready &= s.is_some();
                    shapes_of.push(s);
                    continue;
                }
                if !known.contains_key(name.as_str()) {
                    // Only initializers remain (Constant outputs are in `known` already).
                    match view.initializer(name).and_then(|_| constant_value(model, &view, name)) {
                        Some(v) => {
                            known.insert(name.as_str(), v);
                        }
                        None => ready = false,
                    }
                }
                shapes_of.push(None);
            }
            if !ready {
                continue;
            }
            let input_bytes: u64 = if shape_only { 0 } else { node.input.iter().filter_map(|n| known.get(n.as_str())).map(Value::byte_len).sum() };
            let allowed = input_bytes.max(MAX_GROWTH_BYTES);
            let inputs: Vec<Input> = node
                .input
                .iter()
                .zip(&shapes_of)
                .map(|(n, s)| Input { value: if shape_only { None } else { known.get(n.as_str()) }, shape: s.as_deref() })
                .collect();
            let Some(outs) = eval::eval(node, &inputs, allowed as usize) else { continue };
            if outs.len() != node.output.len() || outs.iter().any(|v| v.byte_len() > allowed) {
                continue;
            }
            for (name, v) in node.output.iter().zip(outs) {
                known.insert(name.as_str(), v);
            }
            folded.push(id);
        }
        if folded.is_empty() {
            return Ok(None);
        }

        let folded_set: HashSet<usize> = folded.iter().copied().collect();
        let is_output = |name: &str| g.output.iter().any(|v| v.name.as_deref() == Some(name));
        let mut patch = Patch::default();
        let mut ops: Vec<(String, usize)> = Vec::new();
        for &id in &folded {
            let node = &g.node[id];
            let op = node.op_type.clone().unwrap_or_default();
            match ops.iter_mut().find(|(o, _)| *o == op) {
                Some((_, n)) => *n += 1,
                None => ops.push((op, 1)),
            }
            patch.remove_nodes.push(NodeRef::Index(id));
            for (k, out) in node.output.iter().enumerate() {
                let read_outside = view.consumers(out).iter().any(|c| !folded_set.contains(c));
                if !read_outside && !is_output(out) {
                    continue;
                }
                let value = &known[out.as_str()];
                if value.byte_len() > MAX_CONSTANT_NODE_BYTES && !is_output(out) {
                    patch.add_initializers.push(value.to_tensor(Some(out)));
                    continue;
                }
                let base = node.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("{out}_node"));
                let name = if node.output.len() == 1 { base } else { format!("{base}_{k}") };
                patch.add_nodes.push(builder::tensor_constant_node(&name, out, value.to_tensor(None)));
            }
        }
        let labels: Vec<String> = folded.iter().map(|&i| node_label(&g.node[i], i)).collect();
        let histogram: Vec<String> = ops.iter().map(|(o, n)| format!("{o} x{n}")).collect();
        patch.label = format!(
            "fold {} node(s) ({}) into {} Constant(s) and {} initializer(s): {}",
            folded.len(),
            histogram.join(", "),
            patch.add_nodes.len(),
            patch.add_initializers.len(),
            short_list(&labels)
        );
        Ok(Some(patch))
    }
}

#[cfg(test)]
mod tests {
    use crate::onnx::builder::{Attr, Axis, GraphBuilder};
    use crate::onnx::eval::{self, Data};
    use crate::onnx::shapes::{fix_input_shapes, parse_fixed_shapes};
    use crate::onnx::{DataType, Model};
    use crate::passes::tests::{ops, run};

    /// x [batch, seq, 8] → Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), Unsqueeze(Gather(Shape(x), 1)), [2, 4])):
    /// the exporters' head-splitting reshape.
    fn reshape_chain() -> Model {
        let mut b = GraphBuilder::new("g");
        b.input("x", DataType::Float, &[Axis::Named("batch"), Axis::Named("seq"), Axis::Fixed(8)]);
        let shape = b.node("Shape", &["x"], &[]);
        let zero = b.scalar_i64(0);
        let one = b.scalar_i64(1);
        let axes = b.const_i64(&[0]);
        let batch = b.node("Gather", &[&shape, &zero], &[("axis", Attr::Int(0))]);
        let seq = b.node("Gather", &[&shape, &one], &[("axis", Attr::Int(0))]);
        let ub = b.node("Unsqueeze", &[&batch, &axes], &[]);
        let us = b.node("Unsqueeze", &[&seq, &axes], &[]);
        let rest = b.const_i64(&[2, 4]);
        let target = b.node("Concat", &[&ub, &us, &rest], &[("axis", Attr::Int(0))]);
        b.node_to("Reshape", &["x", &target], &[], "y");
        b.output("y", DataType::Float, &[Axis::Named("batch"), Axis::Named("seq"), Axis::Fixed(2), Axis::Fixed(4)]);
        b.finish(17, "test", "")
    }

    fn constant_of(m: &Model, output: &str) -> eval::Value {
        let n = m.graph().node.iter().find(|n| n.output.iter().any(|o| o == output) && n.op_type.as_deref() == Some("Constant")).expect(output);
        eval::constant_value(n).unwrap()
    }

    // Why: the point of --fix-shape: with fixed input dims the whole Shape chain becomes one
    // Constant feeding the Reshape, with the right numbers.
    #[test]
    fn fixed_shapes_fold_the_whole_shape_chain() {
        let mut m = reshape_chain();
        fix_input_shapes(&mut m, &parse_fixed_shapes("x=3x5x8").unwrap()).unwrap();
        let r = run(&mut m, &["constant-folding", "dead-code"]);
        assert_eq!(ops(&m), vec!["Constant", "Reshape"], "{:?}", r.log);
        let target = m.graph().node[1].input[1].clone();
        assert_eq!(constant_of(&m, &target).as_ints(), Some(&[3i64, 5, 2, 4][..]));
        assert_eq!(r.passes[0].patches, 1, "one patch folds the whole subgraph: {:?}", r.log);
    }

    // Why: without fixed shapes Shape(x) is unknown and nothing downstream may fold; the graph
    // must be left exactly as it is.
    #[test]
    fn symbolic_shapes_fold_nothing() {
        let mut m = reshape_chain();
        let before = m.graph().clone();
        let r = run(&mut m, &["constant-folding"]);
        assert_eq!((r.steps, m.graph() == &before), (0, true), "{:?}", r.log);
    }

    // Why: a folded value that is a graph output keeps its name; initializers feed folding too,
    // unless they are also graph inputs (then they are overridable, not constant).
    #[test]
    fn folds_initializers_into_named_outputs_but_not_overridable_inputs() {
        let mut b = GraphBuilder::new("g");
        b.initializer("a", DataType::Int64, &[2], [3i64, 4].iter().flat_map(|v| v.to_le_bytes()).collect());
        b.initializer("w", DataType::Float, &[2], [1f32, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect());
        b.input("w", DataType::Float, &[Axis::Fixed(2)]);
        let two = b.const_i64(&[2]);
        b.node_to("Mul", &["a", &two], &[], "y");
        b.node_to("Sqrt", &["w"], &[], "z");
        b.output("y", DataType::Int64, &[Axis::Fixed(2)]);
        b.output("z", DataType::Float, &[Axis::Fixed(2)]);
        let mut m = b.finish(17, "test", "");
        run(&mut m, &["constant-folding", "dead-code"]);
        assert_eq!(ops(&m), vec!["Sqrt", "Constant"]);
        assert_eq!(constant_of(&m, "y").as_ints(), Some(&[6i64, 8][..]));
        assert!(m.graph().initializer.iter().all(|t| t.name.as_deref() != Some("a")), "the folded initializer is dead");
    }

    // Why: folding must not blow up the model: a ConstantOfShape of a few bytes producing a large
    // tensor stays computed at run time, while a small one is folded.
    #[test]
    fn large_results_are_not_folded() {
        let mut b = GraphBuilder::new("g");
        b.input("x", DataType::Float, &[Axis::Named("n")]);
        let big = b.const_i64(&[256, 1024]);
        let small = b.const_i64(&[4]);
        let zeros_big = b.node("ConstantOfShape", &[&big], &[]);
        let zeros_small = b.node("ConstantOfShape", &[&small], &[]);
        b.node_to("Add", &[&zeros_big, "x"], &[], "y");
        b.node_to("Add", &[&zeros_small, "x"], &[], "z");
        b.output("y", DataType::Float, &[Axis::Fixed(256), Axis::Fixed(1024)]);
        b.output("z", DataType::Float, &[Axis::Fixed(4)]);
        let mut m = b.finish(17, "test", "");
        let r = run(&mut m, &["constant-folding", "dead-code"]);
        let cos: Vec<_> = m.graph().node.iter().filter(|n| n.op_type.as_deref() == Some("ConstantOfShape")).collect();
        assert_eq!(cos.len(), 1, "{:?}", r.log);
        assert_eq!(cos[0].output[0], zeros_big);
        let folded = constant_of(&m, &zeros_small);
        assert_eq!((folded.dims.clone(), folded.data), (vec![4], Data::F32(vec![0.0; 4])));
    }

    // Why: ops the evaluator cannot compute exactly (Erf) stop folding, and Identity is left to
    // the identity pass; neither may be touched.
    #[test]
    fn transcendental_ops_and_identities_are_left_alone() {
        let mut b = GraphBuilder::new("g");
        let c = b.scalar_f32(0.5);
        let e = b.node("Erf", &[&c], &[]);
        b.node_to("Identity", &[&e], &[], "y");
        b.output("y", DataType::Float, &[]);
        let mut m = b.finish(17, "test", "");
        let r = run(&mut m, &["constant-folding"]);
        assert_eq!(r.steps, 0, "{:?}", r.log);
    }
}
