//! `dedup-initializers`: merges initializers with the same data type, dims and bytes. The first in
//! graph order is kept and readers of the others read it. Initializers declared as graph inputs are
//! overridable, so they are never merged (either way), and a duplicate that is a graph output keeps
//! its name (it is left alone). Bytes are compared only within groups of equal type and dims, so
//! external data is read only for tensors that might be duplicates. One patch per group.

use std::collections::HashMap;

use crate::onnx::graph::GraphView;
use crate::onnx::{tensor, Model};

use super::{can_redirect, short_list, Pass, Patch, Result};

pub(crate) struct DedupInitializers;

impl Pass for DedupInitializers {
    fn name(&self) -> &'static str {
        "dedup-initializers"
    }

    fn describe(&self) -> &'static str {
        "merge initializers with identical data type, dims and bytes (the first one is kept)"
    }

    fn propose(&self, model: &Model) -> Result<Option<Patch>> {
        Ok(self.propose_batch(model)?.into_iter().next())
    }

    /// Every class of equal initializers in one look (each merge removes its own initializers):
    /// the bytes of each weight are read once per batch, not once per merge.
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        let g = model.graph();
        let view = GraphView::new(g);
        let candidates: Vec<usize> = (0..g.initializer.len())
            .filter(|&i| g.initializer[i].name.as_deref().is_some_and(|n| !view.is_input(n)))
            .collect();
        let mut by_shape: HashMap<(i32, &[i64]), Vec<usize>> = HashMap::new();
        for &i in &candidates {
            let t = &g.initializer[i];
            by_shape.entry((t.data_type.unwrap_or(0), t.dims.as_slice())).or_default().push(i);
        }
        let mut groups: Vec<Vec<usize>> = by_shape.into_values().filter(|v| v.len() > 1).collect();
        groups.sort();
        let mut patches = Vec::new();
        for group in groups {
            for ids in equal_classes(model, &group) {
                let keep = tensor::name(&g.initializer[ids[0]]);
                let others: Vec<&str> =
                    ids[1..].iter().map(|&i| tensor::name(&g.initializer[i])).filter(|n| can_redirect(&view, n, keep).is_none()).collect();
                if others.is_empty() {
                    continue;
                }
                let t = &g.initializer[ids[0]];
                let dt = tensor::data_type(t).map(|d| d.to_string()).unwrap_or_default();
                let quoted: Vec<String> = others.iter().map(|n| format!("'{n}'")).collect();
                let mut patch = Patch::new(format!("merge {} into '{keep}' ({dt} {:?})", short_list(&quoted), t.dims));
                for other in others {
                    patch.remove_initializers.push(other.to_string());
                    patch.redirect.push((other.to_string(), keep.to_string()));
                }
                patches.push(patch);
            }
        }
        Ok(patches)
    }
}

/// The initializers of `group` (same type and dims) split into classes of equal bytes, each
/// class of two or more in graph order, classes ordered by their first member. Tensors whose bytes
/// cannot be read (strings) are left out. Bytes are bucketed by a sample of 64 of them first, so
/// distinct weights (which differ almost everywhere) are told apart without hashing them whole.
fn equal_classes(model: &Model, group: &[usize]) -> Vec<Vec<usize>> {
    let g = model.graph();
    let mut buckets: HashMap<Vec<u8>, Vec<(usize, bytes::Bytes)>> = HashMap::new();
    for &i in group {
        let Ok(b) = model.tensor_bytes(&g.initializer[i]) else { continue };
        let sample: Vec<u8> = if b.len() <= 64 { b.to_vec() } else { (0..64).map(|k| b[k * (b.len() - 1) / 63]).collect() };
        buckets.entry(sample).or_default().push((i, b));
    }
    let mut classes: Vec<Vec<usize>> = Vec::new();
    for bucket in buckets.into_values().filter(|b| b.len() > 1) {
        let mut reps: Vec<(&bytes::Bytes, Vec<usize>)> = Vec::new();
        for (i, b) in &bucket {
            match reps.iter_mut().find(|(r, _)| *r == b) {
                Some((_, members)) => members.push(*i),
                None => reps.push((b, vec![*i])),
            }
        }
        classes.extend(reps.into_iter().map(|(_, m)| m).filter(|m| m.len() > 1));
    }
    classes.sort();
    classes
}

#[cfg(test)]
mod tests {
    use crate::onnx::graph::tests::{node, value};
    use crate::onnx::proto::GraphProto;
    use crate::passes::tests::{float_init, model, run};

    fn names(m: &crate::onnx::Model) -> Vec<String> {
        m.graph().initializer.iter().map(|t| t.name.clone().unwrap()).collect()
    }

    // Why: equal tensors merge into the first; a tensor with the same shape but other bytes and
    // one with the same bytes but another shape must stay apart.
    #[test]
    fn merges_only_equal_type_dims_and_bytes() {
        let mut reshaped = float_init("d", &[1.0, 2.0]);
        reshaped.dims = vec![2, 1];
        let g = GraphProto {
            node: vec![
                node("Add", "a1", &["x", "a"], &["s1"]),
                node("Add", "a2", &["s1", "b"], &["s2"]),
                node("Add", "a3", &["s2", "c"], &["s3"]),
                node("Add", "a4", &["s3", "d"], &["y"]),
            ],
            initializer: vec![float_init("a", &[1.0, 2.0]), float_init("b", &[1.0, 2.0]), float_init("c", &[1.0, 3.0]), reshaped],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        };
        let mut m = model(g);
        let r = run(&mut m, &["dedup-initializers"]);
        assert_eq!(names(&m), vec!["a", "c", "d"]);
        assert_eq!(m.graph().node[1].input, vec!["s1", "a"]);
        assert_eq!((r.passes[0].initializers_removed, r.passes[0].weight_bytes_removed), (1, 8));
    }

    // Why: an initializer that is a graph input can be overridden at run time; merging it (or
    // merging into it) would change the model's meaning.
    #[test]
    fn leaves_overridable_initializers_alone() {
        let g = GraphProto {
            node: vec![node("Add", "a1", &["x", "a"], &["s1"]), node("Add", "a2", &["s1", "b"], &["y"])],
            initializer: vec![float_init("a", &[1.0]), float_init("b", &[1.0])],
            input: vec![value("x"), value("a")],
            output: vec![value("y")],
            ..Default::default()
        };
        let mut m = model(g);
        let r = run(&mut m, &["dedup-initializers"]);
        assert_eq!(r.steps, 0);
        assert_eq!(names(&m), vec!["a", "b"]);
    }

    // Why: bytes are bucketed by a sample first; tensors that agree on every sampled byte but
    // differ elsewhere must still stay apart, and equal ones in the same bucket must merge.
    #[test]
    fn a_difference_between_sampled_bytes_is_seen() {
        let zeros = [0.0f32; 100];
        let mut off = float_init("b", &zeros);
        let mut raw = off.raw_data.take().unwrap().to_vec();
        raw[1] = 1; // byte 1 lies between the samples at 0 and 6 of 400 bytes
        off.raw_data = Some(raw.into());
        let g = GraphProto {
            node: vec![
                node("Add", "a1", &["x", "a"], &["s1"]),
                node("Add", "a2", &["s1", "b"], &["s2"]),
                node("Add", "a3", &["s2", "c"], &["y"]),
            ],
            initializer: vec![float_init("a", &zeros), off, float_init("c", &zeros)],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        };
        let mut m = model(g);
        run(&mut m, &["dedup-initializers"]);
        assert_eq!(names(&m), vec!["a", "b"]);
    }

    // Why: typed-field and raw storage of the same values are the same tensor.
    #[test]
    fn compares_values_not_storage() {
        let mut typed = float_init("b", &[]);
        typed.raw_data = None;
        typed.dims = vec![2];
        typed.float_data = vec![1.0, 2.0];
        let g = GraphProto {
            node: vec![node("Add", "a1", &["x", "a"], &["s1"]), node("Add", "a2", &["s1", "b"], &["y"])],
            initializer: vec![float_init("a", &[1.0, 2.0]), typed],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        };
        let mut m = model(g);
        run(&mut m, &["dedup-initializers"]);
        assert_eq!(names(&m), vec!["a"]);
    }

    // Why: each merge was one patch with a copy and re-index of the graph and a fresh read of
    // every weight's bytes (quadratic in the classes); all classes now go in one batch.
    #[test]
    fn many_classes_merge_in_one_batch() {
        let n = 2_000;
        let mut nodes = Vec::new();
        let mut inits = Vec::new();
        let mut prev = "x".to_string();
        for k in 0..n {
            for copy in 0..2 {
                let (w, out) = (format!("w{k}_{copy}"), format!("s{k}_{copy}"));
                nodes.push(node("Add", &out, &[&prev, &w], &[&out]));
                inits.push(float_init(&w, &[k as f32, 0.5]));
                prev = out;
            }
        }
        nodes.push(node("Identity", "out", &[&prev], &["y"]));
        let g = GraphProto { node: nodes, initializer: inits, input: vec![value("x")], output: vec![value("y")], ..Default::default() };
        let mut m = model(g);
        let r = crate::passes::Pipeline::new(vec![crate::passes::by_name("dedup-initializers").unwrap()]).run(&mut m).unwrap();
        assert_eq!((r.steps, r.batches), (n, 1));
        assert_eq!(m.graph().initializer.len(), n);
        assert_eq!(m.graph().node[1].input[1], "w0_0");
    }
}
