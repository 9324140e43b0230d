//! `identity`: removes `Identity` nodes of the main graph; their readers read the Identity's input.
//! When the Identity's output is a graph output the output keeps its name: the upstream value is
//! renamed instead, which is possible when a node produces it and it is not a graph input, an
//! initializer or another graph output. Otherwise (e.g. an Identity from a graph input straight
//! to a graph output) the Identity is kept: it is what gives the output its own name.

use std::collections::{HashMap, HashSet};

use crate::onnx::graph::{node_label, GraphView};
use crate::onnx::Model;

use super::{can_redirect, NodeRef, Pass, Patch, Result};

pub struct Identity;

impl Pass for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn describe(&self) -> &'static str {
        "remove Identity nodes (readers read the input; graph outputs keep their names)"
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        Ok(self.propose_batch(model)?.into_iter().next())
    }

    /// Every removable Identity in one look: each is judged on the graph the earlier ones of the
    /// batch leave (its input read through their redirects and renames), exactly as proposing
    /// them one at a time would judge it.
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        let g = model.graph();
        let view = GraphView::new(g);
        let outputs: HashSet<&str> = g.output.iter().filter_map(|v| v.name.as_deref()).collect();
        // Where a value is read from after the batch so far: redirected readers, or the graph
        // output a value was renamed to.
        let mut moved: HashMap<&str, &str> = HashMap::new();
        let mut patches = Vec::new();
        for (i, node) in g.node.iter().enumerate() {
            if node.op_type.as_deref() != Some("Identity") || node.output.len() != 1 {
                continue;
            }
            let (Some(input), Some(output)) = (node.input.first().filter(|s| !s.is_empty()), node.output.first()) else { continue };
            let mut input = input.as_str();
            for _ in 0..=moved.len() {
                match moved.get(input) {
                    Some(next) => input = next,
                    None => break,
                }
            }
            if can_redirect(&view, output, input).is_some() {
                continue;
            }
            let what = if outputs.contains(output.as_str()) {
                moved.insert(input, output);
                format!("'{input}' is renamed to the graph output '{output}'")
            } else {
                moved.insert(output, input);
                format!("readers of '{output}' read '{input}'")
            };
            let mut patch = Patch::new(format!("remove {}: {what}", node_label(node, i)));
            patch.remove_nodes.push(NodeRef::Index(i));
            patch.redirect.push((output.clone(), input.to_string()));
            patches.push(patch);
        }
        Ok(patches)
    }
}

#[cfg(test)]
mod tests {
    use crate::onnx::graph::tests::{node, value};
    use crate::onnx::proto::GraphProto;
    use crate::passes::tests::{float_init, model, ops, run};

    // Why: the plain case, including a chain of Identities, which needs several patches.
    #[test]
    fn removes_identity_chains_between_nodes() {
        let g = GraphProto {
            node: vec![
                node("Neg", "neg", &["x"], &["a"]),
                node("Identity", "i1", &["a"], &["b"]),
                node("Identity", "i2", &["b"], &["c"]),
                node("Relu", "relu", &["c"], &["y"]),
            ],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        };
        let mut m = model(g);
        let r = run(&mut m, &["identity"]);
        assert_eq!(r.passes[0].patches, 2);
        assert_eq!(ops(&m), vec!["Neg", "Relu"]);
        assert_eq!(m.graph().node[1].input, vec!["a"]);
    }

    // Why: an Identity writing a graph output must leave the output's name intact; the upstream
    // node is renamed to write it.
    #[test]
    fn identity_to_a_graph_output_renames_the_upstream_value() {
        let g = GraphProto {
            node: vec![node("Neg", "neg", &["x"], &["a"]), node("Identity", "id", &["a"], &["y"]), node("Exp", "exp", &["a"], &["z"])],
            input: vec![value("x")],
            output: vec![value("y"), value("z")],
            ..Default::default()
        };
        let mut m = model(g);
        run(&mut m, &["identity"]);
        let g = m.graph();
        assert_eq!(ops(&m), vec!["Neg", "Exp"]);
        assert_eq!(g.node[0].output, vec!["y"]);
        assert_eq!(g.node[1].input, vec!["y"]);
        assert_eq!(g.output.iter().map(|v| v.name.clone().unwrap()).collect::<Vec<_>>(), vec!["y", "z"]);
    }

    // Why: when the upstream value cannot be renamed (a graph input, an initializer, another
    // graph output), the Identity is the only thing giving the output its name and must stay.
    #[test]
    fn keeps_identities_that_name_graph_outputs_of_inputs_initializers_or_outputs() {
        let g = GraphProto {
            node: vec![
                node("Identity", "from_input", &["x"], &["y1"]),
                node("Identity", "from_init", &["w"], &["y2"]),
                node("Neg", "neg", &["x"], &["y3"]),
                node("Identity", "from_output", &["y3"], &["y4"]),
            ],
            initializer: vec![float_init("w", &[1.0])],
            input: vec![value("x")],
            output: vec![value("y1"), value("y2"), value("y3"), value("y4")],
            ..Default::default()
        };
        let mut m = model(g);
        let r = run(&mut m, &["identity"]);
        assert_eq!(r.steps, 0, "{:?}", r.log);
        assert_eq!(m.graph().node.len(), 4);
    }

    // Why: an Identity chain was quadratic (one copy and re-index of the graph per removed
    // node: 126 s at 20,000 nodes). All of a chain goes in one batch, one re-index for the lot,
    // still one patch (one step of --max-steps) per Identity; max_steps cuts a batch exactly.
    #[test]
    fn a_long_chain_costs_one_batch() {
        let n = 20_000;
        let mut nodes = vec![node("Neg", "neg", &["x"], &["v0"])];
        for i in 0..n {
            nodes.push(node("Identity", &format!("id{i}"), &[&format!("v{i}")], &[&format!("v{}", i + 1)]));
        }
        nodes.push(node("Identity", "last", &[&format!("v{n}")], &["y"]));
        let g = GraphProto { node: nodes, input: vec![value("x")], output: vec![value("y")], ..Default::default() };
        let mut m = model(g.clone());
        let r = crate::passes::Pipeline::new(vec![crate::passes::by_name("identity").unwrap()]).run(&mut m).unwrap();
        assert_eq!((r.steps, r.batches), (n + 1, 1), "{:?}", &r.log[..3]);
        assert_eq!(ops(&m), vec!["Neg"]);
        assert_eq!((m.graph().node[0].input.as_slice(), m.graph().node[0].output.as_slice()), (&["x".to_string()][..], &["y".to_string()][..]));

        let mut m = model(g);
        let mut p = crate::passes::Pipeline::new(vec![crate::passes::by_name("identity").unwrap()]);
        p.max_steps = Some(7);
        let r = p.run(&mut m).unwrap();
        assert_eq!((r.steps, r.stopped_at_max_steps, m.graph().node.len()), (7, true, n + 2 - 7));
        assert_eq!(m.graph().node[1].input, vec!["v0"], "the first kept Identity reads the chain's start");
    }
}
