//! `layernorm-fusion`: replaces the decomposition exporters write for LayerNorm when the opset
//! has no LayerNormalization op (torch at opset < 17),
//!
//! ```text
//! m = ReduceMean(x, axes=[-1]); d = Sub(x, m); p = Pow(d, 2) | Mul(d, d)
//! v = ReduceMean(p, axes=[-1]); s = Sqrt(Add(v, eps)); n = Div(d, s)
//! y = Add(Mul(n, gamma), beta)        (Mul and Add operands in either order; Add optional)
//! ```
//!
//! by `LayerNormalization(x, gamma, beta, axis=-1, epsilon=eps)` writing `y` under its name.
//! Matched only when: both ReduceMeans reduce the last axis alone (as the `axes` attribute before
//! opset 18, as a constant input from 18) with keepdims; `eps` and the Pow exponent (2) are
//! constants; `gamma` and `beta` are 1-D of the size of x's last axis, which shape inference must
//! know, and of x's float type; every intermediate value has no reader outside the pattern and is
//! no graph output. `x - m` may be computed once (read by Pow and Div) or twice (two equal Subs).
//!
//! **Opset.** LayerNormalization needs default-domain opset 17. A model at opset 13–16 is raised to
//! 17 with the first fusion (IR version raised to match), because no op changed meaning between 13
//! and 17 except `RoiAlign` (its default coordinate mode changed at 16) and a
//! `BatchNormalization` with its training outputs (changed at 14/15): models holding those are not
//! raised. Every other op that got a new version in 14–17 only gained types or attributes whose
//! defaults keep the old behaviour (checked against the onnx 1.23 schema history). Below 13 the
//! semantics of Softmax, Unsqueeze, Squeeze, ReduceSum and Split changed, so such models are left
//! as they are, and the pass says so in the report's notes.

use std::collections::HashSet;

use crate::onnx::builder::{self, Attr};
use crate::onnx::graph::{attr_i, attr_ints, node_label, GraphView, NodeId};
use crate::onnx::shapes::{self, Bindings, Info};
use crate::onnx::Model;

use super::{constant_scalar, constant_value, op_is, other_input, sole_reader, NodeRef, Pass, Patch, Result};

pub(crate) struct LayerNormFusion;

/// The opset that introduced LayerNormalization.
const LAYERNORM_OPSET: i64 = 17;
/// The oldest opset this pass raises to [`LAYERNORM_OPSET`].
const OLDEST_RAISED: i64 = 13;

/// One matched decomposition.
struct Match {
    nodes: Vec<NodeId>,
    x: String,
    gamma: String,
    beta: Option<String>,
    eps: f32,
    y: String,
    name: String,
}

impl Pass for LayerNormFusion {
    fn name(&self) -> &'static str {
        "layernorm-fusion"
    }

    fn describe(&self) -> &'static str {
        "fuse the ReduceMean/Sub/Pow/Add/Sqrt/Div/Mul/Add LayerNorm decomposition into LayerNormalization (opset 13-16 raised to 17)"
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        Ok(self.propose_batch(model)?.into_iter().next())
    }

    /// Every decomposition in one look (one shape inference): matches whose nodes another match
    /// of the batch already takes wait for the next batch ([`super::Independent`]). A fusion only
    /// replaces its own nodes and writes the same output, so fusions with disjoint nodes are
    /// independent.
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        if blocker(model).is_some() {
            return Ok(Vec::new());
        }
        let g = model.graph();
        let view = GraphView::new(g);
        let env = shapes::infer(model, &Bindings::default());
        super::batch_at(g, |i| Ok(matches(model, &view, &env, i).map(|m| fusion(model, g, m))))
    }

    fn note(&self, model: &Model) -> Option<String> {
        let reason = blocker(model)?;
        let g = model.graph();
        let view = GraphView::new(g);
        let env = shapes::infer(model, &Bindings::default());
        let left = (0..g.node.len()).filter(|&i| matches(model, &view, &env, i).is_some()).count();
        (left > 0).then(|| format!("{left} decomposed LayerNorm(s) left as they are: {reason}"))
    }
}

/// The patch replacing the nodes of `m` by one LayerNormalization.
fn fusion(model: &Model, g: &crate::onnx::proto::GraphProto, m: Match) -> Patch {
    let mut patch = Patch::new(format!(
        "fuse {} nodes from {} into LayerNormalization '{}' (epsilon {:e}{})",
        m.nodes.len(),
        node_label(&g.node[m.nodes[0]], m.nodes[0]),
        m.name,
        m.eps,
        if m.beta.is_some() { "" } else { ", no bias" }
    ));
    patch.remove_nodes = m.nodes.iter().map(|&i| NodeRef::Index(i)).collect();
    let mut inputs = vec![m.x.as_str(), m.gamma.as_str()];
    inputs.extend(m.beta.as_deref());
    patch.add_nodes.push(builder::node(
        "LayerNormalization",
        &m.name,
        &inputs,
        &[&m.y],
        &[("axis", Attr::Int(-1)), ("epsilon", Attr::Float(m.eps))],
    ));
    if model.opset("").unwrap_or(0) < LAYERNORM_OPSET {
        patch.opset_imports.push((String::new(), LAYERNORM_OPSET));
    }
    patch
}

/// Why the model's opset rules out fusing, if it does.
fn blocker(model: &Model) -> Option<String> {
    let v = model.opset("").unwrap_or(0);
    if v >= LAYERNORM_OPSET {
        return None;
    }
    if v < OLDEST_RAISED {
        return Some(format!(
            "the default-domain opset is {v}; LayerNormalization needs {LAYERNORM_OPSET}, and raising an opset below {OLDEST_RAISED} would change the meaning of Softmax, Unsqueeze, Squeeze, ReduceSum and Split"
        ));
    }
    let g = model.graph();
    let unsafe_node = g.node.iter().enumerate().find(|(_, n)| match n.op_type.as_deref() {
        Some("RoiAlign") => true,
        Some("BatchNormalization") => n.output.iter().filter(|o| !o.is_empty()).count() > 1,
        _ => false,
    });
    unsafe_node.map(|(i, n)| {
        format!("the default-domain opset is {v} and {} changed meaning before opset {LAYERNORM_OPSET}, so the opset is not raised", node_label(n, i))
    })
}

/// True when `node` reduces exactly the last axis of a rank-`rank` input, keeping dims.
fn reduces_last_axis(model: &Model, view: &GraphView, node: NodeId, rank: Option<usize>) -> bool {
    let n = view.node(node);
    if n.op_type.as_deref() != Some("ReduceMean") || attr_i(n, "keepdims").unwrap_or(1) != 1 {
        return false;
    }
    let axes = match (attr_ints(n, "axes"), n.input.get(1).filter(|s| !s.is_empty())) {
        (Some(a), None) => a.to_vec(),
        (None, Some(name)) => match constant_value(model, view, name).and_then(|v| v.as_ints().map(<[i64]>::to_vec)) {
            Some(a) => a,
            None => return false,
        },
        _ => return false,
    };
    match axes.as_slice() {
        [-1] => true,
        [a] => rank.is_some_and(|r| *a >= 0 && *a as usize + 1 == r),
        _ => false,
    }
}

/// The decomposition whose first ReduceMean is node `r1`, if it is one.
fn matches(model: &Model, view: &GraphView, env: &std::collections::HashMap<String, Info>, r1: NodeId) -> Option<Match> {
    let first = view.node(r1);
    if !op_is(view, r1, "ReduceMean") {
        return None;
    }
    let x = first.input.first()?.as_str();
    let x_info = env.get(x)?;
    let x_shape = x_info.shape.as_ref()?;
    let hidden = x_shape.last()?.known()?;
    let dtype = x_info.dtype.filter(|d| d.is_float())?;
    if !reduces_last_axis(model, view, r1, Some(x_shape.len())) {
        return None;
    }
    let mean = first.output.first()?.as_str();
    let is_output = |v: &str| view.graph.output.iter().any(|o| o.name.as_deref() == Some(v));
    // One or two Sub(x, mean) nodes read the mean, nothing else does.
    let subs: Vec<NodeId> = view.consumers(mean).to_vec();
    if is_output(mean) || subs.is_empty() || subs.len() > 2 {
        return None;
    }
    for &s in &subs {
        let n = view.node(s);
        if !op_is(view, s, "Sub") || n.input.len() != 2 || n.input[0] != x || n.input[1] != mean || is_output(&n.output[0]) {
            return None;
        }
    }
    // Variance branch: Pow(d, 2) or Mul(d, d) → ReduceMean → Add eps → Sqrt → Div(d', sqrt).
    let (square, d_sq) = subs.iter().find_map(|&s| {
        let d = view.node(s).output[0].as_str();
        view.consumers(d).iter().find_map(|&c| {
            let n = view.node(c);
            let squares = (op_is(view, c, "Pow") && n.input.len() == 2 && n.input[0] == d && constant_scalar(model, view, &n.input[1]) == Some(2.0))
                || (op_is(view, c, "Mul") && n.input.len() == 2 && n.input[0] == d && n.input[1] == d);
            squares.then_some((c, s))
        })
    })?;
    let r2 = sole_reader(view, &view.node(square).output[0])?;
    if !reduces_last_axis(model, view, r2, Some(x_shape.len())) {
        return None;
    }
    let add_eps = sole_reader(view, &view.node(r2).output[0])?;
    if !op_is(view, add_eps, "Add") {
        return None;
    }
    let eps = constant_scalar(model, view, other_input(view, add_eps, &view.node(r2).output[0])?)?;
    let sqrt = sole_reader(view, &view.node(add_eps).output[0])?;
    if !op_is(view, sqrt, "Sqrt") {
        return None;
    }
    let div = sole_reader(view, &view.node(sqrt).output[0])?;
    let dn = view.node(div);
    if !op_is(view, div, "Div") || dn.input.len() != 2 || dn.input[1] != view.node(sqrt).output[0] {
        return None;
    }
    let d_div = *subs.iter().find(|&&s| view.node(s).output[0] == dn.input[0])?;
    // Readers of the difference(s): exactly the square and the Div.
    let readers: HashSet<NodeId> = subs.iter().flat_map(|&s| view.consumers(&view.node(s).output[0]).iter().copied()).collect();
    if readers != HashSet::from([square, div]) || (subs.len() == 2 && d_sq == d_div) {
        return None;
    }
    // Scale, then an optional bias.
    let normed = dn.output[0].as_str();
    let mul = sole_reader(view, normed)?;
    if !op_is(view, mul, "Mul") {
        return None;
    }
    let gamma = other_input(view, mul, normed)?;
    let per_channel = |v: &str| {
        env.get(v).is_some_and(|i| i.dtype == Some(dtype) && i.known_shape().as_deref() == Some(&[hidden][..]))
    };
    if gamma == normed || !per_channel(gamma) {
        return None;
    }
    let scaled = view.node(mul).output[0].as_str();
    let mut nodes = vec![r1];
    nodes.extend(&subs);
    nodes.extend([square, r2, add_eps, sqrt, div, mul]);
    let (beta, y) = match sole_reader(view, scaled).filter(|&a| op_is(view, a, "Add")) {
        Some(add) => match other_input(view, add, scaled).filter(|b| *b != scaled && per_channel(b)) {
            Some(b) => {
                nodes.push(add);
                (Some(b.to_string()), view.node(add).output[0].clone())
            }
            None => (None, scaled.to_string()),
        },
        None => (None, scaled.to_string()),
    };
    let last = view.node(*nodes.last()?);
    let name = last.name.clone().filter(|n| !n.is_empty()).map_or_else(|| format!("{y}_LayerNormalization"), |n| format!("{n}_LayerNormalization"));
    Some(Match { nodes, x: x.to_string(), gamma: gamma.to_string(), beta, eps: eps as f32, y, name })
}

#[cfg(test)]
mod tests {
    use crate::onnx::builder::{Attr, Axis, GraphBuilder};
    use crate::onnx::graph::attr;
    use crate::onnx::{DataType, Model};
    use crate::passes::tests::{ops, run};
    use crate::passes::Pipeline;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Options of the decomposition to build.
    #[derive(Clone, Copy)]
    struct Shape {
        opset: i64,
        mul_square: bool,
        two_subs: bool,
        bias: bool,
        eps: f32,
    }

    const TORCH: Shape = Shape { opset: 14, mul_square: false, two_subs: false, bias: true, eps: 1e-12 };

    /// x [batch, seq, 4] → decomposed LayerNorm → y, as torch writes it (or a variant).
    fn decomposed(s: Shape) -> Model {
        let mut b = GraphBuilder::new("g");
        b.input("x", DataType::Float, &[Axis::Named("batch"), Axis::Named("seq"), Axis::Fixed(4)]);
        b.initializer("gamma", DataType::Float, &[4], f32s(&[1.0, 2.0, 0.5, 1.5]));
        b.initializer("beta", DataType::Float, &[4], f32s(&[0.1, -0.2, 0.0, 0.3]));
        let reduce = |b: &mut GraphBuilder, input: &str| {
            if s.opset >= 18 {
                let axes = b.const_i64(&[-1]);
                b.node("ReduceMean", &[input, &axes], &[])
            } else {
                b.node("ReduceMean", &[input], &[("axes", Attr::Ints(vec![-1]))])
            }
        };
        let mean = reduce(&mut b, "x");
        let d = b.node("Sub", &["x", &mean], &[]);
        let sq = if s.mul_square {
            b.node("Mul", &[&d, &d], &[])
        } else {
            let two = b.scalar_f32(2.0);
            b.node("Pow", &[&d, &two], &[])
        };
        let var = reduce(&mut b, &sq);
        let eps = b.scalar_f32(s.eps);
        let ve = b.node("Add", &[&var, &eps], &[]);
        let sd = b.node("Sqrt", &[&ve], &[]);
        let d2 = if s.two_subs { b.node("Sub", &["x", &mean], &[]) } else { d.clone() };
        let n = b.node("Div", &[&d2, &sd], &[]);
        if s.bias {
            let scaled = b.node("Mul", &["gamma", &n], &[]);
            b.node_to("Add", &[&scaled, "beta"], &[], "y");
        } else {
            b.node_to("Mul", &[&n, "gamma"], &[], "y");
        }
        b.output("y", DataType::Float, &[Axis::Named("batch"), Axis::Named("seq"), Axis::Fixed(4)]);
        b.finish(s.opset, "test", "")
    }

    fn fused(m: &Model) -> &crate::onnx::proto::NodeProto {
        m.graph().node.iter().find(|n| n.op_type.as_deref() == Some("LayerNormalization")).expect("a LayerNormalization")
    }

    // Why: torch's opset-14 export (axes attribute, Pow 2) is the case this pass exists for; the
    // opset must be raised to 17 with it, and the graph output keeps its name.
    #[test]
    fn fuses_the_torch_decomposition_and_raises_the_opset() {
        let mut m = decomposed(TORCH);
        let r = run(&mut m, &["layernorm-fusion", "dead-code"]);
        assert_eq!(ops(&m), vec!["LayerNormalization"], "{:?}", r.log);
        let ln = fused(&m);
        assert_eq!((ln.input.clone(), ln.output.clone()), (vec!["x".to_string(), "gamma".into(), "beta".into()], vec!["y".to_string()]));
        assert_eq!(attr(ln, "epsilon").and_then(|a| a.f), Some(1e-12));
        assert_eq!(m.opset(""), Some(17));
        assert_eq!(m.proto.ir_version, Some(8));
    }

    // Why: the other decompositions exporters emit: axes as an input (opset 18), x*x instead of
    // Pow, `x - mean` computed twice, and no bias.
    #[test]
    fn fuses_the_variants() {
        for s in [
            Shape { opset: 18, ..TORCH },
            Shape { mul_square: true, ..TORCH },
            Shape { two_subs: true, ..TORCH },
            Shape { bias: false, eps: 1e-5, ..TORCH },
        ] {
            let mut m = decomposed(s);
            let r = run(&mut m, &["layernorm-fusion", "dead-code"]);
            assert_eq!(ops(&m), vec!["LayerNormalization"], "{:?}", r.log);
            assert_eq!(fused(&m).input.len(), if s.bias { 3 } else { 2 });
            assert_eq!(m.opset(""), Some(s.opset.max(17)));
        }
    }

    // Why: an intermediate with another reader (here the variance, also a graph output) must stay
    // computed, so nothing may be fused.
    #[test]
    fn leaves_patterns_whose_intermediates_are_read_elsewhere() {
        let mut m = decomposed(TORCH);
        let var = m.graph().node.iter().filter(|n| n.op_type.as_deref() == Some("ReduceMean")).nth(1).unwrap().output[0].clone();
        m.graph_mut().output.push(crate::onnx::graph::tests::value(&var));
        let before = m.graph().clone();
        let r = run(&mut m, &["layernorm-fusion"]);
        assert_eq!((r.steps, m.graph() == &before), (0, true), "{:?}", r.log);
    }

    // Why: a ReduceMean over another axis is not a LayerNorm over the last one.
    #[test]
    fn leaves_reductions_over_other_axes() {
        let mut m = decomposed(TORCH);
        for n in m.graph_mut().node.iter_mut().filter(|n| n.op_type.as_deref() == Some("ReduceMean")) {
            n.attribute[0].ints = vec![1];
        }
        assert_eq!(run(&mut m, &["layernorm-fusion"]).steps, 0);
    }

    // Why: below opset 13 raising the opset is not safe; the pass must leave the graph and say so.
    #[test]
    fn old_opsets_are_left_with_a_note() {
        let mut m = decomposed(Shape { opset: 12, ..TORCH });
        let mut p = Pipeline::new(vec![crate::passes::by_name("layernorm-fusion").unwrap()]);
        p.check_each_step = true;
        let r = p.run(&mut m).unwrap();
        assert_eq!(r.steps, 0);
        assert_eq!(r.notes.len(), 1, "{:?}", r.notes);
        assert!(r.notes[0].starts_with("layernorm-fusion: 1 decomposed LayerNorm(s) left as they are: the default-domain opset is 12"), "{:?}", r.notes);
    }
}
