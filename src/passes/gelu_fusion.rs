//! `gelu-fusion` (not in `default`): replaces the exact (erf) GELU exporters write,
//! `x * 0.5 * (1 + erf(x / sqrt(2)))`, by one `Gelu` node. Matched from the `Erf` outwards:
//! `Div(x, 1.41421…)` or `Mul(x, 0.70710…)` (constants within 1e-6 relative), `Add(·, 1)`, then the
//! two multiplications in any of the orders exporters emit: `(x · s) · 0.5` (torch),
//! `(s · 0.5) · x`, or `s · (x · 0.5)`, operands of Add and Mul either way round. Every
//! intermediate must have no other reader and be no graph output; `y` keeps its name.
//!
//! Targets (option `target=`):
//! - `com.microsoft` (the default): ONNX Runtime's contrib op `com.microsoft.Gelu`, importing the
//!   `com.microsoft` domain (version 1). Only runtimes with ONNX Runtime's contrib ops run the
//!   result, which is why the pass is not in `default`.
//! - `onnx`: the standard `Gelu` (approximate = "none") of opset 20. Only for models already at
//!   opset 20 or later: raising an older opset is not safe in general (the Reduce ops' `axes`
//!   moved from attribute to input at 18), so such models are left as they are, with a note.

use crate::onnx::builder::{self, Attr};
use crate::onnx::graph::{node_label, GraphView, NodeId};
use crate::onnx::Model;

use super::{constant_scalar, op_is, other_input, sole_reader, NodeRef, Pass, Patch, Result};

/// What the fused node is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Target {
    /// `com.microsoft.Gelu` (ONNX Runtime contrib op).
    #[default]
    Microsoft,
    /// The standard `Gelu` of opset 20.
    Onnx,
}

#[derive(Default)]
pub(crate) struct GeluFusion {
    pub target: Target,
}

/// The opset that introduced the standard Gelu.
const ONNX_GELU_OPSET: i64 = 20;

fn close(value: f64, want: f64) -> bool {
    (value - want).abs() <= 1e-6 * want.abs()
}

impl GeluFusion {
    /// The fusion of the GELU whose nodes [`matches`] finds from node `i`, if any.
    fn fuse_at(&self, model: &Model, view: &GraphView, i: NodeId) -> Option<Patch> {
        let g = model.graph();
        let (nodes, x, y) = matches(model, view, i)?;
        let last = &g.node[*nodes.last().expect("five nodes")];
        let name = last.name.clone().filter(|n| !n.is_empty()).map_or_else(|| format!("{y}_Gelu"), |n| format!("{n}_Gelu"));
        let erf = nodes[1];
        let (domain, label) = match self.target {
            Target::Microsoft => ("com.microsoft", "com.microsoft.Gelu"),
            Target::Onnx => ("", "Gelu"),
        };
        let mut patch = Patch::new(format!("fuse {} nodes around {} into {label} '{name}'", nodes.len(), node_label(&g.node[erf], erf)));
        patch.remove_nodes = nodes.iter().map(|&i| NodeRef::Index(i)).collect();
        let mut gelu = builder::node("Gelu", &name, &[&x], &[&y], &[]);
        if self.target == Target::Microsoft {
            gelu.domain = Some(domain.into());
            patch.opset_imports.push((domain.into(), 1));
        } else {
            gelu.attribute.extend(builder::node("Gelu", "", &[], &[], &[("approximate", Attr::Str("none".into()))]).attribute);
        }
        patch.add_nodes.push(gelu);
        Some(patch)
    }
}

impl Pass for GeluFusion {
    fn name(&self) -> &'static str {
        "gelu-fusion"
    }

    fn describe(&self) -> &'static str {
        "fuse erf GELU x*0.5*(1+erf(x/sqrt2)) into com.microsoft Gelu (ONNX Runtime only; target=onnx: opset-20 Gelu); not in default"
    }

    fn configure(&mut self, options: &[(&str, &str)]) -> std::result::Result<(), String> {
        for &(k, v) in options {
            match (k, v) {
                ("target", "com.microsoft" | "microsoft") => self.target = Target::Microsoft,
                ("target", "onnx") => self.target = Target::Onnx,
                ("target", other) => return Err(format!("target must be com.microsoft or onnx, got '{other}'")),
                (other, _) => return Err(format!("unknown option '{other}' (valid: target=com.microsoft|onnx)")),
            }
        }
        Ok(())
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        if self.blocker(model).is_some() {
            return Ok(None);
        }
        let view = GraphView::new(model.graph());
        super::first_at(model.graph().node.len(), |i| Ok(self.fuse_at(model, &view, i)))
    }

    /// Every GELU in one look; fusions of disjoint nodes are independent.
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        if self.blocker(model).is_some() {
            return Ok(Vec::new());
        }
        let view = GraphView::new(model.graph());
        super::batch_at(model.graph(), |i| Ok(self.fuse_at(model, &view, i)))
    }

    fn note(&self, model: &Model) -> Option<String> {
        let reason = self.blocker(model)?;
        let g = model.graph();
        let view = GraphView::new(g);
        let left = (0..g.node.len()).filter(|&i| matches(model, &view, i).is_some()).count();
        (left > 0).then(|| format!("{left} erf GELU(s) left as they are: {reason}"))
    }
}

impl GeluFusion {
    fn blocker(&self, model: &Model) -> Option<String> {
        let v = model.opset("").unwrap_or(0);
        (self.target == Target::Onnx && v < ONNX_GELU_OPSET)
            .then(|| format!("target=onnx needs opset {ONNX_GELU_OPSET} and the model is at {v} (use the default target com.microsoft for ONNX Runtime)"))
    }
}

/// The erf GELU around the `Erf` node `erf`: its nodes (scaling, Erf, Add, then the two Muls or
/// the half-Mul and the product), its input and its output.
fn matches(model: &Model, view: &GraphView, erf: NodeId) -> Option<(Vec<NodeId>, String, String)> {
    if !op_is(view, erf, "Erf") {
        return None;
    }
    let scaled = view.node(erf).input.first()?.as_str();
    let scale = view.producer(scaled)?;
    if sole_reader(view, scaled) != Some(erf) {
        return None;
    }
    let sn = view.node(scale);
    let x = match sn.input.as_slice() {
        [x, c] if op_is(view, scale, "Div") && constant_scalar(model, view, c).is_some_and(|c| close(c, std::f64::consts::SQRT_2)) => x.as_str(),
        [a, b] if op_is(view, scale, "Mul") => {
            let half_sqrt2 = |c: &str| constant_scalar(model, view, c).is_some_and(|c| close(c, std::f64::consts::FRAC_1_SQRT_2));
            if half_sqrt2(b) {
                a.as_str()
            } else if half_sqrt2(a) {
                b.as_str()
            } else {
                return None;
            }
        }
        _ => return None,
    };
    let erf_out = view.node(erf).output.first()?.as_str();
    let add = sole_reader(view, erf_out).filter(|&a| op_is(view, a, "Add"))?;
    if !other_input(view, add, erf_out).is_some_and(|one| constant_scalar(model, view, one) == Some(1.0)) {
        return None;
    }
    let s = view.node(add).output.first()?.as_str();
    let m1 = sole_reader(view, s).filter(|&m| op_is(view, m, "Mul"))?;
    let o = other_input(view, m1, s)?;
    let m1_out = view.node(m1).output.first()?.as_str();
    let is_half = |v: &str| constant_scalar(model, view, v) == Some(0.5);
    let mut nodes = vec![scale, erf, add];
    if o == x || is_half(o) {
        // (x · s) · 0.5 or (s · 0.5) · x
        let m2 = sole_reader(view, m1_out).filter(|&m| op_is(view, m, "Mul"))?;
        let other = other_input(view, m2, m1_out)?;
        let ok = if o == x { is_half(other) } else { other == x };
        if !ok {
            return None;
        }
        nodes.extend([m1, m2]);
        return Some((nodes, x.to_string(), view.node(m2).output.first()?.clone()));
    }
    // s · (x · 0.5)
    let h = view.producer(o)?;
    if !op_is(view, h, "Mul") || sole_reader(view, o) != Some(m1) || !other_input(view, h, x).is_some_and(is_half) {
        return None;
    }
    nodes.extend([h, m1]);
    Some((nodes, x.to_string(), m1_out.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::onnx::builder::{Axis, GraphBuilder};
    use crate::onnx::{DataType, Model};
    use crate::passes::tests::{ops, run};
    use crate::passes::{by_name, Pipeline};

    #[derive(Clone, Copy, PartialEq)]
    enum Order {
        /// (x · s) · 0.5, torch's order
        Torch,
        /// (s · 0.5) · x
        HalfFirst,
        /// s · (x · 0.5)
        HalfOfX,
    }

    /// x [n, 4] → erf GELU → y, scaling by Div(√2) or Mul(1/√2), in the given order.
    fn gelu(order: Order, by_mul: bool, opset: i64) -> Model {
        let mut b = GraphBuilder::new("g");
        b.input("x", DataType::Float, &[Axis::Named("n"), Axis::Fixed(4)]);
        let scaled = if by_mul {
            let c = b.scalar_f32(std::f32::consts::FRAC_1_SQRT_2);
            b.node("Mul", &[&c, "x"], &[])
        } else {
            let c = b.scalar_f32(std::f32::consts::SQRT_2);
            b.node("Div", &["x", &c], &[])
        };
        let e = b.node("Erf", &[&scaled], &[]);
        let one = b.scalar_f32(1.0);
        let s = b.node("Add", &[&one, &e], &[]);
        let half = b.scalar_f32(0.5);
        match order {
            Order::Torch => {
                let p = b.node("Mul", &["x", &s], &[]);
                b.node_to("Mul", &[&p, &half], &[], "y");
            }
            Order::HalfFirst => {
                let p = b.node("Mul", &[&half, &s], &[]);
                b.node_to("Mul", &["x", &p], &[], "y");
            }
            Order::HalfOfX => {
                let hx = b.node("Mul", &["x", &half], &[]);
                b.node_to("Mul", &[&s, &hx], &[], "y");
            }
        }
        b.output("y", DataType::Float, &[Axis::Named("n"), Axis::Fixed(4)]);
        b.finish(opset, "test", "")
    }

    // Why: every order exporters emit, with either scaling, must become one Gelu of the contrib
    // domain, which the model must then import; the output keeps its name.
    #[test]
    fn fuses_every_order_into_the_contrib_gelu() {
        for order in [Order::Torch, Order::HalfFirst, Order::HalfOfX] {
            for by_mul in [false, true] {
                let mut m = gelu(order, by_mul, 17);
                let r = run(&mut m, &["gelu-fusion", "dead-code"]);
                assert_eq!(ops(&m), vec!["Gelu"], "{:?}", r.log);
                let n = &m.graph().node[0];
                assert_eq!((n.domain.as_deref(), n.input.as_slice(), n.output.as_slice()), (Some("com.microsoft"), &["x".to_string()][..], &["y".to_string()][..]));
                assert_eq!(m.opset("com.microsoft"), Some(1));
            }
        }
    }

    // Why: target=onnx makes the standard op, but only where the opset already has it.
    #[test]
    fn onnx_target_needs_opset_20() {
        let mut m = gelu(Order::Torch, false, 20);
        run(&mut m, &["gelu-fusion:target=onnx", "dead-code"]);
        assert_eq!(ops(&m), vec!["Gelu"]);
        assert_eq!((m.graph().node[0].domain.as_deref(), m.opset("com.microsoft")), (None, None));

        let mut m = gelu(Order::Torch, false, 17);
        let mut p = Pipeline::new(vec![by_name("gelu-fusion:target=onnx").unwrap()]);
        p.check_each_step = true;
        let r = p.run(&mut m).unwrap();
        assert_eq!(r.steps, 0);
        assert!(r.notes[0].contains("1 erf GELU(s) left as they are: target=onnx needs opset 20 and the model is at 17"), "{:?}", r.notes);
        assert!(by_name("gelu-fusion:target=cuda").err().unwrap().to_string().contains("target must be com.microsoft or onnx"));
    }

    // Why: a different constant (not GELU) or an intermediate read elsewhere must leave the
    // graph alone.
    #[test]
    fn leaves_near_misses() {
        let mut m = gelu(Order::Torch, false, 17);
        for n in m.graph_mut().node.iter_mut().filter(|n| n.op_type.as_deref() == Some("Constant")) {
            let t = n.attribute[0].t.as_mut().unwrap();
            if t.raw_data.as_deref() == Some(&0.5f32.to_le_bytes()[..]) {
                t.raw_data = Some(0.25f32.to_le_bytes().to_vec().into());
            }
        }
        assert_eq!(run(&mut m, &["gelu-fusion"]).steps, 0);

        let mut m = gelu(Order::Torch, false, 17);
        let erf_out = m.graph().node.iter().find(|n| n.op_type.as_deref() == Some("Erf")).unwrap().output[0].clone();
        m.graph_mut().output.push(crate::onnx::graph::tests::value(&erf_out));
        assert_eq!(run(&mut m, &["gelu-fusion"]).steps, 0);
    }

    // Why: each fusion was one patch with a copy and re-index of the graph (quadratic in the
    // GELUs); all fusions of one look at the graph now go in one batch.
    #[test]
    fn many_gelus_fuse_in_one_batch() {
        let n = 1_000;
        let mut b = GraphBuilder::new("g");
        b.input("x", DataType::Float, &[Axis::Named("n"), Axis::Fixed(4)]);
        let mut x = "x".to_string();
        for k in 0..n {
            let c = b.scalar_f32(std::f32::consts::SQRT_2);
            let scaled = b.node("Div", &[&x, &c], &[]);
            let e = b.node("Erf", &[&scaled], &[]);
            let one = b.scalar_f32(1.0);
            let s = b.node("Add", &[&one, &e], &[]);
            let half = b.scalar_f32(0.5);
            let p = b.node("Mul", &[&x, &s], &[]);
            x = if k + 1 == n { b.node_to("Mul", &[&p, &half], &[], "y"); "y".into() } else { b.node("Mul", &[&p, &half], &[]) };
        }
        b.output("y", DataType::Float, &[Axis::Named("n"), Axis::Fixed(4)]);
        let mut m = b.finish(20, "test", "");
        let r = Pipeline::new(vec![by_name("gelu-fusion").unwrap()]).run(&mut m).unwrap();
        assert_eq!((r.steps, r.batches), (n, 1));
        assert_eq!(ops(&m).iter().filter(|o| *o == "Gelu").count(), n);
    }
}
