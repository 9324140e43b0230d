//! `dead-code`: removes nodes none of whose outputs reach a graph output, and initializers no node
//! reads. Liveness walks back from the graph outputs through every value a node reads, outer-scope
//! values used inside its subgraphs included. An initializer that is also declared as a graph input
//! is an overridable input, part of the interface: it is kept. All dead nodes and initializers go
//! in one patch (removing them in any order gives the same graph).

use std::collections::HashSet;

use crate::onnx::graph::{node_inputs, GraphView};
use crate::onnx::Model;

use super::{short_list, NodeRef, Pass, Patch, Result};

pub(crate) struct DeadCode;

impl Pass for DeadCode {
    fn name(&self) -> &'static str {
        "dead-code"
    }

    fn describe(&self) -> &'static str {
        "remove nodes whose outputs reach no graph output, and initializers nobody reads"
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        let g = model.graph();
        let view = GraphView::new(g);
        let mut live_values: HashSet<&str> = g.output.iter().filter_map(|v| v.name.as_deref()).collect();
        let mut live_nodes = vec![false; g.node.len()];
        let mut stack: Vec<&str> = live_values.iter().copied().collect();
        while let Some(value) = stack.pop() {
            let Some(id) = view.producer(value) else { continue };
            if std::mem::replace(&mut live_nodes[id], true) {
                continue;
            }
            for input in node_inputs(&g.node[id]) {
                if live_values.insert(input) {
                    stack.push(input);
                }
            }
        }
        let dead_nodes: Vec<usize> = (0..g.node.len()).filter(|&i| !live_nodes[i]).collect();
        let dead_inits: Vec<String> = g
            .initializer
            .iter()
            .filter_map(|t| t.name.as_deref())
            .filter(|n| !live_values.contains(n) && !view.is_input(n))
            .map(str::to_string)
            .collect();
        if dead_nodes.is_empty() && dead_inits.is_empty() {
            return Ok(None);
        }
        let mut names: Vec<String> = dead_nodes.iter().map(|&i| crate::onnx::graph::node_label(&g.node[i], i)).collect();
        names.extend(dead_inits.iter().map(|n| format!("initializer '{n}'")));
        let mut patch = Patch::new(format!("remove {} node(s), {} initializer(s): {}", dead_nodes.len(), dead_inits.len(), short_list(&names)));
        patch.remove_nodes = dead_nodes.into_iter().map(NodeRef::Index).collect();
        patch.remove_initializers = dead_inits;
        Ok(Some(patch))
    }
}

#[cfg(test)]
mod tests {
    use crate::onnx::graph::tests::{node, value};
    use crate::onnx::proto::{AttributeProto, GraphProto};
    use crate::passes::tests::{float_init, model, ops, run};

    // Why: the core job; a side branch that reaches no output goes, with its private weight,
    // while the weight read by the live path stays.
    #[test]
    fn removes_unreachable_branch_and_its_initializer() {
        let g = GraphProto {
            node: vec![
                node("Add", "live", &["x", "w"], &["y"]),
                node("Mul", "dead1", &["x", "u"], &["d1"]),
                node("Relu", "dead2", &["d1"], &["d2"]),
            ],
            initializer: vec![float_init("w", &[1.0]), float_init("u", &[2.0])],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        };
        let mut m = model(g);
        let r = run(&mut m, &["dead-code"]);
        assert_eq!(ops(&m), vec!["Add"]);
        let inits: Vec<_> = m.graph().initializer.iter().map(|t| t.name.clone().unwrap()).collect();
        assert_eq!(inits, vec!["w"]);
        assert_eq!((r.passes[0].nodes_removed, r.passes[0].initializers_removed, r.passes[0].weight_bytes_removed), (2, 1, 4));
    }

    // Why: a multi-output node with one live output is live; an initializer that is also a graph
    // input is an overridable input and must stay even when unread.
    #[test]
    fn keeps_partly_live_nodes_and_overridable_initializers() {
        let g = GraphProto {
            node: vec![node("Split", "split", &["x"], &["a", "b"])],
            initializer: vec![float_init("opt", &[0.5])],
            input: vec![value("x"), value("opt")],
            output: vec![value("a")],
            ..Default::default()
        };
        let mut m = model(g);
        let r = run(&mut m, &["dead-code"]);
        assert_eq!(r.steps, 0);
        assert_eq!(m.graph().initializer.len(), 1);
    }

    // Why: values used only inside a subgraph (outer-scope reads) are live through the node that
    // owns the subgraph; missing this would delete the producer and break the If.
    #[test]
    fn keeps_values_used_only_by_subgraphs() {
        let body = GraphProto {
            node: vec![node("Neg", "inner", &["hidden", "w"], &["o"])],
            output: vec![value("o")],
            ..Default::default()
        };
        let mut iff = node("If", "if", &["c"], &["y"]);
        iff.attribute.push(AttributeProto { name: Some("then_branch".into()), g: Some(body), ..Default::default() });
        let g = GraphProto {
            node: vec![node("Relu", "producer", &["x"], &["hidden"]), iff],
            initializer: vec![float_init("w", &[1.0])],
            input: vec![value("x"), value("c")],
            output: vec![value("y")],
            ..Default::default()
        };
        let mut m = model(g);
        let r = run(&mut m, &["dead-code"]);
        assert_eq!(r.steps, 0, "{:?}", r.log);
        assert_eq!(ops(&m), vec!["Relu", "If"]);
    }
}
