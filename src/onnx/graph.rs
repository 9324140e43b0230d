//! A read-only index over a graph: who produces and who consumes each value, initializers by
//! name, and a topological order. Built once, queried many times by checks, statistics and passes.

use std::collections::{HashMap, HashSet, VecDeque};

use super::proto::{AttributeProto, GraphProto, NodeProto, TensorProto};

/// Index of a node in `GraphProto.node`.
pub(crate) type NodeId = usize;

/// Producers, consumers and initializers of one graph.
pub struct GraphView<'a> {
    pub graph: &'a GraphProto,
    producer: HashMap<&'a str, NodeId>,
    consumers: HashMap<&'a str, Vec<NodeId>>,
    initializers: HashMap<&'a str, &'a TensorProto>,
    inputs: HashSet<&'a str>,
    /// Values produced more than once (by two nodes, or by a node and an input/initializer).
    duplicates: Vec<(&'a str, NodeId)>,
}

impl<'a> GraphView<'a> {
    pub fn new(graph: &'a GraphProto) -> Self {
        let initializers: HashMap<&str, &TensorProto> =
            graph.initializer.iter().map(|t| (t.name.as_deref().unwrap_or(""), t)).collect();
        let inputs: HashSet<&str> = graph.input.iter().map(|v| v.name.as_deref().unwrap_or("")).collect();
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<NodeId>> = HashMap::new();
        let mut duplicates = Vec::new();
        for (i, node) in graph.node.iter().enumerate() {
            for out in node.output.iter().filter(|o| !o.is_empty()) {
                if producer.insert(out.as_str(), i).is_some() || initializers.contains_key(out.as_str()) || inputs.contains(out.as_str()) {
                    duplicates.push((out.as_str(), i));
                }
            }
            for input in node_inputs(node) {
                let list = consumers.entry(input).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        GraphView { graph, producer, consumers, initializers, inputs, duplicates }
    }

    /// The node at `id`.
    pub fn node(&self, id: NodeId) -> &'a NodeProto {
        &self.graph.node[id]
    }

    /// The node producing `value`, if a node does.
    pub fn producer(&self, value: &str) -> Option<NodeId> {
        self.producer.get(value).copied()
    }

    /// Nodes reading `value` (each once, in graph order), subgraph uses included.
    pub fn consumers(&self, value: &str) -> &[NodeId] {
        self.consumers.get(value).map_or(&[], Vec::as_slice)
    }

    /// The initializer named `name`.
    pub fn initializer(&self, name: &str) -> Option<&'a TensorProto> {
        self.initializers.get(name).copied()
    }

    /// True for a declared graph input.
    pub(crate) fn is_input(&self, name: &str) -> bool {
        self.inputs.contains(name)
    }

    /// True when `name` is an input, an initializer or a node output.
    pub(crate) fn is_defined(&self, name: &str) -> bool {
        self.inputs.contains(name) || self.initializers.contains_key(name) || self.producer.contains_key(name)
    }

    /// Values defined twice, with the node that defined them again.
    pub fn duplicates(&self) -> &[(&'a str, NodeId)] {
        &self.duplicates
    }

    /// Nodes in an order where every producer comes before its consumers (stable: graph order
    /// where possible). `Err` holds the nodes that sit on or behind a cycle.
    pub(crate) fn topo_order(&self) -> Result<Vec<NodeId>, Vec<NodeId>> {
        let n = self.graph.node.len();
        let mut indegree = vec![0usize; n];
        let mut edges: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        for (i, node) in self.graph.node.iter().enumerate() {
            let mut seen = HashSet::new();
            for input in node_inputs(node) {
                if let Some(&p) = self.producer.get(input) {
                    if seen.insert(p) {
                        edges[p].push(i);
                        indegree[i] += 1;
                    }
                }
            }
        }
        let mut ready: VecDeque<NodeId> = (0..n).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(n);
        while let Some(i) = ready.pop_front() {
            order.push(i);
            for &j in &edges[i] {
                indegree[j] -= 1;
                if indegree[j] == 0 {
                    ready.push_back(j);
                }
            }
        }
        if order.len() == n {
            Ok(order)
        } else {
            Err((0..n).filter(|&i| indegree[i] > 0).collect())
        }
    }
}

/// A label for a node in messages: its name, or `op_type #index` when it has none.
pub(crate) fn node_label(node: &NodeProto, index: NodeId) -> String {
    match node.name.as_deref() {
        Some(name) if !name.is_empty() => format!("'{name}' ({})", node.op_type.as_deref().unwrap_or("?")),
        _ => format!("#{index} ({})", node.op_type.as_deref().unwrap_or("?")),
    }
}

/// The node's attribute `name`, when it has one.
pub(crate) fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

/// The `i` of the node's attribute `name`.
pub(crate) fn attr_i(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).and_then(|a| a.i)
}

/// The `ints` of the node's attribute `name`, when it has that attribute.
pub(crate) fn attr_ints<'n>(node: &'n NodeProto, name: &str) -> Option<&'n [i64]> {
    attr(node, name).map(|a| a.ints.as_slice())
}

/// The string `s` of the node's attribute `name` (lossy UTF-8).
pub(crate) fn attr_s(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).and_then(|a| a.s.as_ref()).map(|s| String::from_utf8_lossy(s).into_owned())
}

/// Every value a node reads: its explicit inputs (empty names are omitted optional inputs) and the
/// outer-scope values its subgraphs use.
pub(crate) fn node_inputs(node: &NodeProto) -> Vec<&str> {
    let mut out: Vec<&str> = node.input.iter().map(String::as_str).filter(|s| !s.is_empty()).collect();
    for attr in &node.attribute {
        for g in attr.g.iter().chain(&attr.graphs) {
            out.extend(graph_free_inputs(g));
        }
    }
    out
}

/// Values a (sub)graph reads that it does not define itself.
pub(crate) fn graph_free_inputs(g: &GraphProto) -> Vec<&str> {
    let mut defined: HashSet<&str> = g.input.iter().filter_map(|v| v.name.as_deref()).collect();
    defined.extend(g.initializer.iter().filter_map(|t| t.name.as_deref()));
    defined.extend(g.sparse_initializer.iter().filter_map(|s| s.values.as_ref()?.name.as_deref()));
    let mut free = Vec::new();
    let mut seen = HashSet::new();
    for node in &g.node {
        for input in node_inputs(node) {
            if !defined.contains(input) && seen.insert(input) {
                free.push(input);
            }
        }
        defined.extend(node.output.iter().map(String::as_str));
    }
    for out in g.output.iter().filter_map(|v| v.name.as_deref()) {
        if !defined.contains(out) && seen.insert(out) {
            free.push(out);
        }
    }
    free
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::onnx::proto::{NodeProto, ValueInfoProto};

    pub fn node(op: &str, name: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
        NodeProto {
            op_type: Some(op.into()),
            name: Some(name.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    pub fn value(name: &str) -> ValueInfoProto {
        ValueInfoProto { name: Some(name.into()), ..Default::default() }
    }

    #[test]
    fn producers_consumers_and_order() {
        // Nodes listed out of order: the view must still find a valid order.
        let g = GraphProto {
            node: vec![node("Relu", "b", &["t"], &["y"]), node("Neg", "a", &["x"], &["t"])],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        };
        let v = GraphView::new(&g);
        assert_eq!(v.producer("t"), Some(1));
        assert_eq!(v.consumers("t"), &[0]);
        assert_eq!(v.consumers("x"), &[1]);
        assert_eq!(v.topo_order(), Ok(vec![1, 0]));
    }

    #[test]
    fn a_cycle_is_reported_with_its_nodes() {
        let g = GraphProto {
            node: vec![node("Add", "a", &["x", "c"], &["b"]), node("Relu", "r", &["b"], &["c"]), node("Neg", "n", &["x"], &["z"])],
            input: vec![value("x")],
            ..Default::default()
        };
        assert_eq!(GraphView::new(&g).topo_order(), Err(vec![0, 1]));
    }
}
