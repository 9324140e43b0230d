//! `transpose`: folds `Transpose(Transpose(x, p1), p2)` into one `Transpose(x, q)` with
//! `q[j] = p1[p2[j]]` (output axis j of the outer transpose is axis `p2[j]` of the inner one's
//! output, which is axis `p1[p2[j]]` of `x`), or into nothing when `q` is the identity permutation.
//! Only when the inner transpose has no other reader (else it would stay and nothing is saved) and
//! both carry an explicit `perm` (without one the rank, hence the reversal, is unknown here).
//! The replacement takes the outer node's name and output, so graph outputs keep their names.

use std::collections::HashSet;

use crate::onnx::builder::{self, Attr};
use crate::onnx::graph::{attr_ints, node_label, GraphView};
use crate::onnx::Model;

use super::{can_redirect, NodeRef, Pass, Patch, Result};

pub struct Transpose;

/// `q` with `q[j] = p1[p2[j]]`, or `None` when the two are not permutations of the same rank.
fn compose(p1: &[i64], p2: &[i64]) -> Option<Vec<i64>> {
    let is_perm = |p: &[i64]| {
        let mut seen = vec![false; p.len()];
        p.iter().all(|&a| usize::try_from(a).ok().filter(|&a| a < p.len()).is_some_and(|a| !std::mem::replace(&mut seen[a], true)))
    };
    if p1.len() != p2.len() || !is_perm(p1) || !is_perm(p2) {
        return None;
    }
    Some(p2.iter().map(|&j| p1[j as usize]).collect())
}

impl Pass for Transpose {
    fn name(&self) -> &'static str {
        "transpose"
    }

    fn describe(&self) -> &'static str {
        "fold Transpose of Transpose into one Transpose, or none when the perms cancel"
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        Ok(self.propose_batch(model)?.into_iter().next())
    }

    /// Pairs that share no value: a pair whose input, middle or output value another pair of the
    /// batch reads or writes waits for the next batch (so a chain of N transposes takes about
    /// log N batches, each of which folds a fixed share of what is left).
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        let g = model.graph();
        let view = GraphView::new(g);
        let is_output = |name: &str| g.output.iter().any(|v| v.name.as_deref() == Some(name));
        let mut touched: HashSet<&str> = HashSet::new();
        let mut patches = Vec::new();
        for (outer_id, outer) in g.node.iter().enumerate() {
            if outer.op_type.as_deref() != Some("Transpose") || outer.output.len() != 1 {
                continue;
            }
            let Some(mid) = outer.input.first() else { continue };
            let Some(inner_id) = view.producer(mid) else { continue };
            let inner = &g.node[inner_id];
            if inner.op_type.as_deref() != Some("Transpose") || inner.output.len() != 1 || view.consumers(mid).len() != 1 || is_output(mid) {
                continue;
            }
            let (Some(p1), Some(p2)) = (attr_ints(inner, "perm"), attr_ints(outer, "perm")) else { continue };
            let Some(q) = compose(p1, p2) else { continue };
            let Some(x) = inner.input.first() else { continue };
            let out = &outer.output[0];
            if [x, mid, out].iter().any(|v| touched.contains(v.as_str())) {
                continue;
            }
            let identity = q.iter().enumerate().all(|(i, &a)| a == i as i64);
            if identity && can_redirect(&view, out, x).is_some() {
                continue;
            }
            touched.extend([x.as_str(), mid.as_str(), out.as_str()]);
            let what = format!("{} then {}", node_label(inner, inner_id), node_label(outer, outer_id));
            let mut patch = Patch::new(if identity {
                format!("remove {what}: the perms cancel")
            } else {
                format!("fold {what} into perm {q:?}")
            });
            patch.remove_nodes = vec![NodeRef::Index(inner_id), NodeRef::Index(outer_id)];
            if identity {
                patch.redirect.push((out.clone(), x.clone()));
            } else {
                let name = outer.name.clone().unwrap_or_else(|| format!("{out}_transpose"));
                patch.add_nodes.push(builder::node("Transpose", &name, &[x], &[out], &[("perm", Attr::Ints(q))]));
            }
            patches.push(patch);
        }
        Ok(patches)
    }
}

#[cfg(test)]
mod tests {
    use super::compose;
    use crate::onnx::builder::{self, Attr};
    use crate::onnx::graph::attr_ints;
    use crate::onnx::graph::tests::{node, value};
    use crate::onnx::proto::{GraphProto, NodeProto};
    use crate::passes::tests::{model, ops, run};

    fn t(name: &str, input: &str, output: &str, perm: &[i64]) -> NodeProto {
        builder::node("Transpose", name, &[input], &[output], &[("perm", Attr::Ints(perm.to_vec()))])
    }

    // Why: the composition rule is where a wrong index order would silently permute data.
    #[test]
    fn composes_perms_in_the_right_order() {
        // x: [A,B,C]; p1 = [1,2,0] -> [B,C,A]; p2 = [2,0,1] -> [A,B,C]: cancels.
        assert_eq!(compose(&[1, 2, 0], &[2, 0, 1]), Some(vec![0, 1, 2]));
        // p1 = [0,2,1] -> [A,C,B]; p2 = [1,0,2] -> [C,A,B] = x axes [2,0,1].
        assert_eq!(compose(&[0, 2, 1], &[1, 0, 2]), Some(vec![2, 0, 1]));
        assert_eq!(compose(&[0, 0], &[1, 0]), None);
        assert_eq!(compose(&[0, 1], &[0, 1, 2]), None);
    }

    // Why: two transposes that cancel must vanish, readers reading the original value; one
    // that does not cancel becomes a single Transpose keeping the outer output's name.
    #[test]
    fn folds_pairs_into_one_or_none() {
        let g = GraphProto {
            node: vec![
                t("t1", "x", "a", &[1, 2, 0]),
                t("t2", "a", "b", &[2, 0, 1]),
                node("Relu", "relu", &["b"], &["y"]),
                t("t3", "x", "c", &[0, 2, 1]),
                t("t4", "c", "z", &[1, 0, 2]),
            ],
            input: vec![value("x")],
            output: vec![value("y"), value("z")],
            ..Default::default()
        };
        let mut m = model(g);
        let r = run(&mut m, &["transpose"]);
        assert_eq!(r.passes[0].patches, 2);
        assert_eq!(ops(&m), vec!["Relu", "Transpose"]);
        let g = m.graph();
        assert_eq!(g.node[0].input, vec!["x"]);
        assert_eq!((g.node[1].name.as_deref(), g.node[1].output[0].as_str()), (Some("t4"), "z"));
        assert_eq!(attr_ints(&g.node[1], "perm"), Some(&[2i64, 0, 1][..]));
    }

    // Why: if the inner transpose has another reader it stays anyway, so folding saves nothing;
    // a cancelling pair between a graph input and a graph output must keep the output's name.
    #[test]
    fn leaves_shared_inner_transposes_and_input_to_output_pairs() {
        let g = GraphProto {
            node: vec![
                t("t1", "x", "a", &[1, 0]),
                t("t2", "a", "b", &[0, 1]),
                node("Neg", "neg", &["a"], &["c"]),
                t("t3", "x", "d", &[1, 0]),
                t("t4", "d", "e", &[1, 0]),
            ],
            input: vec![value("x")],
            output: vec![value("b"), value("c"), value("e")],
            ..Default::default()
        };
        let mut m = model(g);
        let r = run(&mut m, &["transpose"]);
        assert_eq!(r.steps, 0, "{:?}", r.log);
    }
}
