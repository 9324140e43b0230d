//! Graph rewrites. A rewrite is a value, a [`Patch`]: nodes and initializers to add and remove, and
//! values whose readers should read another value instead. Passes look at a model and propose
//! patches; only [`Patch::apply`] edits the graph, so the delicate parts (graph outputs keep their
//! names, subgraph uses follow redirects, nodes stay in topological order, stale `value_info` goes)
//! live in one place and are tested once.
//!
//! Design: a patch is computed against the model it will be applied to. Patches name nodes by
//! index or name, and both shift as soon as another patch is applied, so patches are applied in
//! **batches proposed against one graph** ([`Pass::propose_batch`], applied by [`apply_batch`] as
//! if one after the other): a pass that sees many independent rewrites in one look proposes them
//! together, and the graph is copied and re-indexed once per batch, not once per patch (once per
//! patch made an Identity chain quadratic: 126 s at 20,000 nodes). Each patch stays one step, so
//! `max_steps` is exact (a batch is cut at the limit) and a bad rewrite can be bisected to the
//! single patch that introduced it. Passes that find one rewrite per look ([`Pass::propose`])
//! give batches of one. Passes that see many interlocking rewrites at once (dead code, constant
//! folding) may also put them in one patch.
//!
//! The [`Pipeline`] runs its passes in order, each until it proposes nothing, and repeats the whole
//! list until a round changes nothing (a fixed point) or `max_steps` patches have been applied.
//! This module and the passes edit `onnx::proto` types directly (rewriting graphs is their job);
//! new nodes are built with [`crate::onnx::builder`].

pub(crate) mod constant_folding;
pub mod conv_matmul;
pub mod dead_code;
pub(crate) mod dedup_initializers;
pub(crate) mod gelu_fusion;
pub mod identity;
pub(crate) mod layernorm_fusion;
pub mod low_rank;
pub(crate) mod sdpa_guard;
pub(crate) mod squeezebert_native;
pub mod transpose;

use std::collections::{HashMap, HashSet};

use crate::onnx::graph::{node_label, GraphView, NodeId};
use crate::onnx::proto::{GraphProto, NodeProto, TensorProto};
use crate::onnx::eval::{self, Data, Value};
use crate::onnx::{check, tensor, Model};

/// Errors of building or running a pipeline. Each names the pass and patch involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown pass '{name}'; valid passes: {}", valid.join(", "))]
    UnknownPass { name: String, valid: Vec<&'static str> },
    #[error("pass {pass}: {message}")]
    BadOptions { pass: String, message: String },
    #[error("pass {pass}: patch '{label}' cannot be applied: {reason}")]
    Apply { pass: String, label: String, reason: String },
    #[error("pass {pass}: after patch '{label}' (step {step}) the graph has structural problems:\n  - {}", problems.join("\n  - "))]
    Check { pass: String, label: String, step: usize, problems: Vec<String> },
    #[error("pass {pass} did not reach a fixed point after {steps} patches (a pass that undoes another?)")]
    NoFixedPoint { pass: String, steps: usize },
    #[error(transparent)]
    Onnx(#[from] crate::onnx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A node to remove, by its index in the graph the patch was proposed against, or by its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeRef {
    Index(usize),
    Name(String),
}

/// One rewrite of the main graph. See [`Patch::apply`] for the order in which its parts take effect.
#[derive(Clone, Debug, Default)]
pub struct Patch {
    /// What the patch does, for logs and errors ("remove Identity 'x'").
    pub label: String,
    pub add_nodes: Vec<NodeProto>,
    pub add_initializers: Vec<TensorProto>,
    /// `(from, to)`: every reader of `from` reads `to` instead. When `from` is a graph output, the
    /// output keeps its name: `to` is renamed to `from` (see [`can_redirect`]).
    pub redirect: Vec<(String, String)>,
    pub remove_nodes: Vec<NodeRef>,
    pub remove_initializers: Vec<String>,
    /// `(domain, version)`: the model must import `domain` at `version` or later (for added
    /// nodes of a newer op or another domain); imported or raised on apply.
    pub opset_imports: Vec<(String, i64)>,
}

impl Patch {
    pub fn new(label: impl Into<String>) -> Patch {
        Patch { label: label.into(), ..Default::default() }
    }

    /// Applies the patch to the model's main graph, in this order: remove nodes, remove
    /// initializers, add initializers, redirect, add nodes; then nodes are put back in topological
    /// order (when nodes were added) and `value_info` of values that no longer exist is dropped.
    /// Added nodes are not affected by the redirects of the same patch.
    ///
    /// A redirect whose `from` is a graph output renames `to` into `from` (its producer writes
    /// `from`, its readers read `from`); that needs `from` to be no longer produced once the
    /// patch's nodes are removed, and `to` to be a node's output that is neither a graph input,
    /// an initializer nor another graph output. Otherwise the patch is refused.
    ///
    /// A refused patch leaves the model as it was: the patch is applied to a copy of the graph
    /// (cheap: tensor payloads are shared `Bytes`), which replaces the graph only on success.
    pub(crate) fn apply(&self, model: &mut Model) -> Result<(), String> {
        apply_batch(std::slice::from_ref(self), model).map(|_| ()).map_err(|(_, reason)| reason)
    }
}

/// Applies `patches`, all proposed against `model` as it is now (node indices refer to it), as if
/// each were applied in turn, with one copy and one re-index of the graph for all of them: the
/// cost is linear in the graph and the patches, however many patches there are. A redirect whose
/// target an earlier redirect (of this or an earlier patch) moved follows it, so a batch may
/// remove a chain of nodes. The patches must be independent: no node removed by two of them, and
/// no patch redirecting a value that a node added by another one reads (added nodes are never
/// redirected). Returns how many nodes each patch removed, or the index of the patch that cannot
/// be applied and why; on error the model is left as it was.
pub fn apply_batch(patches: &[Patch], model: &mut Model) -> std::result::Result<Vec<usize>, BatchError> {
    let mut graph = model.graph().clone();
    let removed = apply_to(patches, &mut graph)?;
    *model.graph_mut() = graph;
    for (domain, version) in patches.iter().flat_map(|p| &p.opset_imports) {
        model.require_opset(domain, *version);
    }
    Ok(removed)
}

/// A patch of a batch that cannot be applied (its index in the batch) and why.
type BatchError = (usize, String);

/// The nodes each patch removes: per node of `g`, the patch removing it, and per patch, how many
/// (a node removed by two patches is an error).
fn nodes_to_remove(patches: &[Patch], g: &GraphProto) -> std::result::Result<(Vec<Option<usize>>, Vec<usize>), BatchError> {
    let mut owner: Vec<Option<usize>> = vec![None; g.node.len()];
    let mut counts = vec![0; patches.len()];
    let mut by_name: Option<HashMap<&str, usize>> = None;
    for (k, patch) in patches.iter().enumerate() {
        for r in &patch.remove_nodes {
            let i = match r {
                NodeRef::Index(i) if *i < g.node.len() => *i,
                NodeRef::Index(i) => return Err((k, format!("no node #{i} (the graph has {})", g.node.len()))),
                NodeRef::Name(name) => {
                    let names = by_name.get_or_insert_with(|| {
                        let mut m = HashMap::new();
                        for (i, n) in g.node.iter().enumerate() {
                            m.entry(n.name.as_deref().unwrap_or("")).or_insert(i);
                        }
                        m
                    });
                    *names.get(name.as_str()).filter(|_| !name.is_empty()).ok_or_else(|| (k, format!("no node named '{name}'")))?
                }
            };
            match owner[i] {
                Some(o) if o == k => {}
                Some(o) => return Err((k, format!("{} is also removed by patch '{}' of the same batch", node_label(&g.node[i], i), patches[o].label))),
                None => {
                    owner[i] = Some(k);
                    counts[k] += 1;
                }
            }
        }
    }
    Ok((owner, counts))
}

fn apply_to(patches: &[Patch], g: &mut GraphProto) -> std::result::Result<Vec<usize>, BatchError> {
    let (owner, removed) = nodes_to_remove(patches, g)?;
    let mut index = 0;
    g.node.retain(|_| {
        index += 1;
        owner[index - 1].is_none()
    });
    let gone: HashSet<&str> = patches.iter().flat_map(|p| p.remove_initializers.iter().map(String::as_str)).collect();
    if !gone.is_empty() {
        let present: HashSet<&str> = g.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
        for (k, patch) in patches.iter().enumerate() {
            if let Some(name) = patch.remove_initializers.iter().find(|n| !present.contains(n.as_str())) {
                return Err((k, format!("no initializer named '{name}'")));
            }
        }
        g.initializer.retain(|t| !t.name.as_deref().is_some_and(|n| gone.contains(n)));
    }
    g.initializer.extend(patches.iter().flat_map(|p| p.add_initializers.iter().cloned()));
    let (readers, renamed) = redirect_maps(patches, g)?;
    if !readers.is_empty() {
        let readers: HashMap<&str, &str> = readers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        for node in &mut g.node {
            for out in node.output.iter_mut() {
                if let Some(new) = renamed.get(out.as_str()) {
                    *out = new.clone();
                }
            }
        }
        for v in &mut g.value_info {
            if let Some(new) = v.name.as_deref().and_then(|n| renamed.get(n)) {
                v.name = Some(new.clone());
            }
        }
        rename_uses(g, &readers);
    }
    let added: Vec<NodeProto> = patches.iter().flat_map(|p| p.add_nodes.iter().cloned()).collect();
    if !added.is_empty() {
        g.node.extend(added);
        let order = GraphView::new(&*g).topo_order().map_err(|stuck| {
            let labels: Vec<String> = stuck.iter().take(4).map(|&i| node_label(&g.node[i], i)).collect();
            (patches.len() - 1, format!("the added nodes make a cycle through {}", labels.join(", ")))
        })?;
        let mut nodes: Vec<Option<NodeProto>> = std::mem::take(&mut g.node).into_iter().map(Some).collect();
        g.node = order.into_iter().map(|i| nodes[i].take().expect("each index once")).collect();
    }
    let defined: HashSet<String> = defined_values(g).map(str::to_string).collect();
    g.value_info.retain(|v| v.name.as_deref().is_some_and(|n| defined.contains(n)));
    Ok(removed)
}

/// The redirects of `patches`, in order, on `g` after the removals: where each read value is read
/// from (chains followed to their end), and which produced values are renamed to a graph output.
type RedirectMaps = (HashMap<String, String>, HashMap<String, String>);

fn redirect_maps(patches: &[Patch], g: &GraphProto) -> std::result::Result<RedirectMaps, BatchError> {
    let mut readers: HashMap<String, String> = HashMap::new();
    let mut renamed: HashMap<String, String> = HashMap::new();
    if patches.iter().all(|p| p.redirect.is_empty()) {
        return Ok((readers, renamed));
    }
    let view = GraphView::new(g);
    let outputs: HashSet<&str> = g.output.iter().filter_map(|v| v.name.as_deref()).collect();
    let renamed_to: &mut HashSet<String> = &mut HashSet::new();
    for (k, patch) in patches.iter().enumerate() {
        for (from, to) in &patch.redirect {
            let to = resolve(&mut readers, to);
            if *from == to {
                continue;
            }
            if !outputs.contains(from.as_str()) {
                // A value already redirected (or renamed) has no readers left to move.
                readers.entry(from.clone()).or_insert(to);
                continue;
            }
            let blocker = if view.is_defined(from) || renamed_to.contains(from) {
                Some(format!("'{from}' is still produced in the graph"))
            } else if renamed.contains_key(&to) {
                Some(format!("'{to}' is already renamed to '{}'", renamed[&to]))
            } else {
                can_redirect(&view, from, &to)
            };
            if let Some(reason) = blocker {
                return Err((k, format!("graph output '{from}' keeps its name, but '{to}' cannot take it: {reason}")));
            }
            renamed_to.insert(from.clone());
            readers.insert(to.clone(), from.clone());
            renamed.insert(to, from.clone());
        }
    }
    // Every chain resolved to its end (each link followed once over the whole map).
    let keys: Vec<String> = readers.keys().cloned().collect();
    for key in keys {
        resolve(&mut readers, &key);
    }
    Ok((readers, renamed))
}

/// Where `name` is read from after the redirects in `map`, shortening the chain it followed.
fn resolve(map: &mut HashMap<String, String>, name: &str) -> String {
    let mut path = Vec::new();
    let mut at = name.to_string();
    while let Some(next) = map.get(&at) {
        path.push(at);
        at = next.clone();
        if path.len() > map.len() {
            break; // a cycle (redirect_maps never inserts one); leave it to the structural check
        }
    }
    for p in path {
        map.insert(p, at.clone());
    }
    at
}

/// Whether readers of `from` can be redirected to `to` by a [`Patch`] that also removes the node
/// producing `from`: `None` when it can, else why not. Only graph outputs restrict it (their names
/// are the model's interface): `to` must then be renamable (see [`Patch::apply`]).
pub fn can_redirect(view: &GraphView, from: &str, to: &str) -> Option<String> {
    if !view.graph.output.iter().any(|v| v.name.as_deref() == Some(from)) {
        return None;
    }
    if view.is_input(to) {
        return Some(format!("'{to}' is a graph input"));
    }
    if view.initializer(to).is_some() {
        return Some(format!("'{to}' is an initializer"));
    }
    if view.graph.output.iter().any(|v| v.name.as_deref() == Some(to)) {
        return Some(format!("'{to}' is another graph output"));
    }
    if view.producer(to).is_none() {
        return Some(format!("no node of this graph produces '{to}'"));
    }
    None
}

/// Every value defined in `g`: inputs, initializers, node outputs.
fn defined_values(g: &GraphProto) -> impl Iterator<Item = &str> {
    g.input
        .iter()
        .filter_map(|v| v.name.as_deref())
        .chain(g.initializer.iter().filter_map(|t| t.name.as_deref()))
        .chain(g.node.iter().flat_map(|n| n.output.iter().map(String::as_str)))
}

/// Readers of each key of `map` in `g` (node inputs, and subgraphs using it from the outer scope)
/// read its value instead.
fn rename_uses(g: &mut GraphProto, map: &HashMap<&str, &str>) {
    for node in &mut g.node {
        for input in node.input.iter_mut() {
            if let Some(to) = map.get(input.as_str()) {
                *input = to.to_string();
            }
        }
        for attr in &mut node.attribute {
            for sub in attr.g.iter_mut().chain(attr.graphs.iter_mut()) {
                // A subgraph that defines a name itself shadows the outer value.
                let shadowed: HashSet<String> = defined_values(sub).filter(|d| map.contains_key(d)).map(str::to_string).collect();
                let inner: HashMap<&str, &str>;
                let map = if shadowed.is_empty() {
                    map
                } else {
                    inner = map.iter().filter(|(k, _)| !shadowed.contains(**k)).map(|(k, v)| (*k, *v)).collect();
                    &inner
                };
                if map.is_empty() {
                    continue;
                }
                rename_uses(sub, map);
                for out in sub.output.iter_mut() {
                    if let Some(to) = out.name.as_deref().and_then(|n| map.get(n)) {
                        out.name = Some(to.to_string());
                    }
                }
            }
        }
    }
}

/// The value of `name` when it is a constant: an initializer that is not a graph input (those are
/// overridable), or the output of a `Constant` node, of a type [`eval`] covers.
pub(crate) fn constant_value(model: &Model, view: &GraphView, name: &str) -> Option<Value> {
    if let Some(t) = view.initializer(name) {
        if view.is_input(name) {
            return None;
        }
        return Value::from_tensor(t, &model.tensor_bytes(t).ok()?);
    }
    let node = view.node(view.producer(name)?);
    (node.op_type.as_deref() == Some("Constant")).then(|| eval::constant_value(node)).flatten()
}

/// The single element of a constant as f64 (scalar or one-element tensor of any covered type).
pub(crate) fn constant_scalar(model: &Model, view: &GraphView, name: &str) -> Option<f64> {
    let v = constant_value(model, view, name)?;
    if v.numel() != 1 {
        return None;
    }
    Some(match &v.data {
        Data::F32(x) => f64::from(x[0]),
        Data::F64(x) => x[0],
        Data::Int(x) => x[0] as f64,
        Data::Bool(_) => return None,
    })
}

/// The single node reading `value`, when exactly one does and `value` is no graph output.
pub(crate) fn sole_reader(view: &GraphView, value: &str) -> Option<NodeId> {
    let is_output = view.graph.output.iter().any(|v| v.name.as_deref() == Some(value));
    match view.consumers(value) {
        [one] if !is_output => Some(*one),
        _ => None,
    }
}

/// For a two-input node: the input that is not `known`, when the other one is `known`.
pub(crate) fn other_input<'g>(view: &GraphView<'g>, node: NodeId, known: &str) -> Option<&'g str> {
    match view.node(node).input.as_slice() {
        [a, b] if a == known => Some(b.as_str()),
        [a, b] if b == known => Some(a.as_str()),
        _ => None,
    }
}

/// Patches taken into one batch for [`apply_batch`] as long as each is independent of those taken
/// before it: no node or initializer removed twice, no value redirected twice, no value a taken
/// patch's new nodes read redirected or dropped (the output of a removed node that the patch
/// neither writes again nor redirects) by another, or the other way round, no name written twice.
/// A patch that is not taken waits for the next batch, proposed against the graph this one leaves.
#[derive(Default)]
pub(crate) struct Independent {
    pub patches: Vec<Patch>,
    nodes: HashSet<usize>,
    named: HashSet<String>,
    initializers: HashSet<String>,
    /// Values redirected or dropped by a taken patch.
    gone: HashSet<String>,
    read: HashSet<String>,
    written: HashSet<String>,
}

impl Independent {
    /// Takes `p`, proposed against `g`, if it is independent of the patches taken so far; whether
    /// it was.
    pub(crate) fn offer(&mut self, g: &GraphProto, p: Patch) -> bool {
        let reads: HashSet<&String> = p.add_nodes.iter().flat_map(|n| n.input.iter()).filter(|v| !v.is_empty()).collect();
        let writes: HashSet<&String> = p.add_nodes.iter().flat_map(|n| n.output.iter()).chain(p.add_initializers.iter().filter_map(|t| t.name.as_ref())).collect();
        let mut gone: HashSet<&String> = p.redirect.iter().map(|(from, _)| from).collect();
        for r in &p.remove_nodes {
            let node = match r {
                NodeRef::Index(i) => g.node.get(*i),
                NodeRef::Name(n) => g.node.iter().find(|m| m.name.as_deref() == Some(n.as_str())),
            };
            gone.extend(node.into_iter().flat_map(|n| n.output.iter()).filter(|v| !v.is_empty() && !writes.contains(v)));
        }
        let clash = p.remove_nodes.iter().any(|r| match r {
            NodeRef::Index(i) => self.nodes.contains(i),
            NodeRef::Name(n) => self.named.contains(n),
        }) || p.remove_initializers.iter().any(|n| self.initializers.contains(n))
            || gone.iter().any(|v| self.gone.contains(*v) || self.read.contains(*v))
            || reads.iter().any(|v| self.gone.contains(*v))
            || writes.iter().any(|v| self.written.contains(*v));
        if clash {
            return false;
        }
        for r in &p.remove_nodes {
            match r {
                NodeRef::Index(i) => self.nodes.insert(*i),
                NodeRef::Name(n) => self.named.insert(n.clone()),
            };
        }
        self.initializers.extend(p.remove_initializers.iter().cloned());
        self.gone.extend(gone.into_iter().cloned());
        self.read.extend(reads.into_iter().cloned());
        self.written.extend(writes.into_iter().cloned());
        self.patches.push(p);
        true
    }
}

/// [`Pass::propose`] of a pass that judges each node on its own: the patch `at` proposes at the
/// first node (of `nodes`) where it proposes one.
pub(crate) fn first_at(nodes: usize, mut at: impl FnMut(usize) -> Result<Option<Patch>>) -> Result<Option<Patch>> {
    for id in 0..nodes {
        if let Some(p) = at(id)? {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// [`Pass::propose_batch`] of the same pass: the patches `at` proposes at every node of `g`, in
/// graph order, as far as they are [`Independent`].
pub(crate) fn batch_at(g: &GraphProto, mut at: impl FnMut(usize) -> Result<Option<Patch>>) -> Result<Vec<Patch>> {
    let mut batch = Independent::default();
    for id in 0..g.node.len() {
        if let Some(p) = at(id)? {
            batch.offer(g, p);
        }
    }
    Ok(batch.patches)
}

/// True when node `node` is the default-domain op `op`.
pub(crate) fn op_is(view: &GraphView, node: NodeId, op: &str) -> bool {
    view.node(node).is_op(op)
}

/// Up to six items joined by ", ", then how many there are in all (for patch labels).
pub(crate) fn short_list(items: &[String]) -> String {
    let shown = items.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 6 {
        format!("{shown}, ... ({} in all)", items.len())
    } else {
        shown
    }
}

/// A graph rewrite.
pub trait Pass {
    /// The name used on the command line (`dead-code`).
    fn name(&self) -> &'static str;
    /// One line for `--help`.
    fn describe(&self) -> &'static str;
    /// The next rewrite this pass would make on `model`, or `None` when it has nothing to do.
    fn propose(&self, model: &Model) -> Result<Option<Patch>>;
    /// Every patch this pass can propose against `model` as it is now, for [`apply_batch`] (so
    /// independent, see there), in the order proposing one at a time would find them; empty
    /// when it has nothing to do. A pass that finds many rewrites in one look at the graph
    /// proposes them here, so a [`Pipeline`] copies and re-indexes the graph once per batch, not
    /// once per patch (an Identity chain would be quadratic). The default: [`Pass::propose`].
    fn propose_batch(&self, model: &Model) -> Result<Vec<Patch>> {
        Ok(self.propose(model)?.into_iter().collect())
    }
    /// Sets the options given after a colon (`low-rank:rank=256,match=intermediate`), as
    /// `key=value` pairs; always called by [`by_name`], with no pairs when there is no colon.
    /// Passes without options refuse any.
    /// After a run: a line saying what the pass left undone on `model` and why (e.g. a fusion
    /// skipped because the opset is too old), for the report; `None` when there is nothing to say.
    fn note(&self, _model: &Model) -> Option<String> {
        None
    }
    fn configure(&mut self, options: &[(&str, &str)]) -> std::result::Result<(), String> {
        match options.first() {
            Some((k, _)) => Err(format!("takes no options (got '{k}')")),
            None => Ok(()),
        }
    }
}

/// Every pass: those of the `default` list first, in its order.
pub fn registry() -> Vec<Box<dyn Pass>> {
    vec![
        Box::new(dead_code::DeadCode),
        Box::new(identity::Identity),
        Box::new(dedup_initializers::DedupInitializers),
        Box::new(transpose::Transpose),
        Box::new(constant_folding::ConstantFolding),
        Box::new(layernorm_fusion::LayerNormFusion),
        Box::new(low_rank::LowRank::default()),
        Box::new(conv_matmul::ConvMatMul::default()),
        Box::new(gelu_fusion::GeluFusion::default()),
        Box::new(squeezebert_native::SqueezeBertNative),
        Box::new(sdpa_guard::SdpaGuard),
    ]
}

/// The passes of `default`.
pub const DEFAULT: &[&str] = &["dead-code", "identity", "dedup-initializers", "transpose", "constant-folding", "layernorm-fusion"];

/// The passes named in a comma-separated list (`default` expands to [`DEFAULT`]). A pass may take
/// options after a colon, themselves comma-separated: an item with `=` and no `:` continues the
/// options of the item before it (`dead-code,low-rank:rank=256,match=intermediate,identity`).
pub fn parse_list(list: &str) -> Result<Vec<Box<dyn Pass>>> {
    let mut specs: Vec<String> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match specs.last_mut() {
            Some(last) if item.contains('=') && !item.contains(':') && last.contains(':') => {
                last.push(',');
                last.push_str(item);
            }
            _ => specs.push(item.to_string()),
        }
    }
    let mut out = Vec::new();
    for spec in &specs {
        if spec == "default" {
            out.extend(DEFAULT.iter().map(|n| by_name(n).expect("default passes are registered")));
            continue;
        }
        out.push(by_name(spec)?);
    }
    Ok(out)
}

/// The pass called `name`, configured with the options after a colon, if any (`low-rank:rank=8`).
pub fn by_name(spec: &str) -> Result<Box<dyn Pass>> {
    let (name, options) = spec.split_once(':').unwrap_or((spec, ""));
    let mut pass = registry().into_iter().find(|p| p.name() == name).ok_or_else(|| Error::UnknownPass {
        name: name.to_string(),
        valid: registry().iter().map(|p| p.name()).chain(["default"]).collect(),
    })?;
    let mut pairs = Vec::new();
    for opt in options.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = opt
            .split_once('=')
            .ok_or_else(|| Error::BadOptions { pass: name.to_string(), message: format!("option '{opt}' is not key=value") })?;
        pairs.push((k.trim(), v.trim()));
    }
    pass.configure(&pairs).map_err(|message| Error::BadOptions { pass: name.to_string(), message })?;
    Ok(pass)
}

/// What one pass did over a pipeline run.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PassReport {
    pub pass: String,
    pub patches: usize,
    pub nodes_removed: usize,
    pub nodes_added: usize,
    pub initializers_removed: usize,
    pub initializers_added: usize,
    /// Bytes of initializer data removed and added (`elements × element size`).
    pub weight_bytes_removed: u64,
    pub weight_bytes_added: u64,
}

/// Counts of a graph, before or after a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub nodes: usize,
    pub initializers: usize,
    pub weight_bytes: u64,
}

impl Counts {
    pub fn of(model: &Model) -> Counts {
        let g = model.graph();
        Counts { nodes: g.node.len(), initializers: g.initializer.len(), weight_bytes: tensor::total_bytes(&g.initializer) }
    }
}

/// What a pipeline run did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    pub passes: Vec<PassReport>,
    /// `step N pass: label` for every applied patch, in order.
    pub log: Vec<String>,
    pub steps: usize,
    /// True when the run stopped at `max_steps` rather than at a fixed point.
    pub stopped_at_max_steps: bool,
    /// Batches of patches applied: each costs one copy and one re-index of the graph, so this is
    /// what makes a run linear or not (a pass proposing one patch per look makes one per patch).
    pub batches: usize,
    pub before: Counts,
    pub after: Counts,
    /// `pass: note` for every pass with something to say about what it left undone.
    pub notes: Vec<String>,
}

impl Report {
    /// Per pass: patches, and nodes / initializers / weight bytes before → after, attributing each
    /// pass's net changes in pipeline order (passes that run in several rounds are summed).
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let mut c = self.before;
        for p in &self.passes {
            let after = Counts {
                nodes: c.nodes + p.nodes_added - p.nodes_removed,
                initializers: c.initializers + p.initializers_added - p.initializers_removed,
                weight_bytes: c.weight_bytes + p.weight_bytes_added - p.weight_bytes_removed,
            };
            s.push_str(&format!(
                "{:<20} patches {:>5}   nodes {:>6} -> {:<6}  initializers {:>5} -> {:<5}  weight bytes {} -> {}\n",
                p.pass, p.patches, c.nodes, after.nodes, c.initializers, after.initializers, c.weight_bytes, after.weight_bytes
            ));
            c = after;
        }
        s.push_str(&format!(
            "{:<20} patches {:>5}   nodes {:>6} -> {:<6}  initializers {:>5} -> {:<5}  weight bytes {} -> {}{}\n",
            "total",
            self.steps,
            self.before.nodes,
            self.after.nodes,
            self.before.initializers,
            self.after.initializers,
            self.before.weight_bytes,
            self.after.weight_bytes,
            if self.stopped_at_max_steps { "  (stopped at --max-steps)" } else { "" }
        ));
        s
    }
}

/// A list of passes run to a fixed point.
pub struct Pipeline {
    pub passes: Vec<Box<dyn Pass>>,
    /// Stop after this many patches (to bisect a bad rewrite); `None`: run to the fixed point.
    pub max_steps: Option<usize>,
    /// Run the structural check after every patch and fail on the first problem the patch
    /// introduced (problems the input already had are not blamed on the passes). Tests do.
    pub check_each_step: bool,
}

impl Pipeline {
    pub fn new(passes: Vec<Box<dyn Pass>>) -> Pipeline {
        Pipeline { passes, max_steps: None, check_each_step: false }
    }

    /// Runs the passes on `model` in place.
    pub fn run(&self, model: &mut Model) -> Result<Report> {
        let mut report = Report { before: Counts::of(model), ..Default::default() };
        report.passes = self.passes.iter().map(|p| PassReport { pass: p.name().into(), ..Default::default() }).collect();
        // A pass can remove or merge each node and initializer at most once; far more patches
        // than that means two rewrites undo each other.
        let g = model.graph();
        let limit = 4 * (g.node.len() + g.initializer.len()) + 100;
        let known: HashSet<String> =
            if self.check_each_step { check::check(model).iter().map(ToString::to_string).collect() } else { HashSet::new() };
        'rounds: loop {
            let mut changed = false;
            for (k, pass) in self.passes.iter().enumerate() {
                loop {
                    let left = self.max_steps.map(|m| m.saturating_sub(report.steps));
                    if left == Some(0) {
                        report.stopped_at_max_steps = true;
                        break 'rounds;
                    }
                    let mut batch = pass.propose_batch(model)?;
                    if batch.is_empty() {
                        break;
                    }
                    batch.truncate(left.unwrap_or(usize::MAX));
                    self.apply(pass.as_ref(), k, batch, model, &mut report, &known)?;
                    if report.steps > limit {
                        return Err(Error::NoFixedPoint { pass: pass.name().into(), steps: report.steps });
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        report.after = Counts::of(model);
        report.notes = self.passes.iter().filter_map(|p| p.note(model).map(|n| format!("{}: {n}", p.name()))).collect();
        Ok(report)
    }

    /// Applies one batch of `pass` (the `k`th pass) and records each of its patches as a step.
    /// With `check_each_step`, each prefix of the batch is applied to a copy and checked, so a
    /// problem is blamed on the first patch that introduces it.
    fn apply(&self, pass: &dyn Pass, k: usize, batch: Vec<Patch>, model: &mut Model, report: &mut Report, known: &HashSet<String>) -> Result<()> {
        let sizes: HashMap<&str, u64> = if batch.iter().any(|p| !p.remove_initializers.is_empty()) {
            let mut sizes = HashMap::new();
            for t in &model.graph().initializer {
                *sizes.entry(t.name.as_deref().unwrap_or("")).or_insert(0) += tensor::total_bytes(std::slice::from_ref(t));
            }
            sizes
        } else {
            HashMap::new()
        };
        let removed_bytes: Vec<u64> = batch.iter().map(|p| p.remove_initializers.iter().filter_map(|n| sizes.get(n.as_str())).sum()).collect();
        drop(sizes);
        let fail = |(i, reason): (usize, String)| Error::Apply { pass: pass.name().into(), label: batch[i].label.clone(), reason };
        let removed = if self.check_each_step {
            let original = model.clone();
            let mut removed = Vec::new();
            for j in 1..=batch.len() {
                let mut m = original.clone();
                removed = apply_batch(&batch[..j], &mut m).map_err(fail)?;
                let problems: Vec<String> = check::check(&m).iter().map(ToString::to_string).filter(|p| !known.contains(p)).collect();
                if !problems.is_empty() {
                    return Err(Error::Check { pass: pass.name().into(), label: batch[j - 1].label.clone(), step: report.steps + j, problems });
                }
                *model = m;
            }
            removed
        } else {
            apply_batch(&batch, model).map_err(fail)?
        };
        report.batches += 1;
        for ((patch, nodes_removed), bytes) in batch.into_iter().zip(removed).zip(removed_bytes) {
            report.steps += 1;
            report.log.push(format!("step {} {}: {}", report.steps, pass.name(), patch.label));
            let r = &mut report.passes[k];
            r.patches += 1;
            r.nodes_added += patch.add_nodes.len();
            r.nodes_removed += nodes_removed;
            r.initializers_added += patch.add_initializers.len();
            r.initializers_removed += patch.remove_initializers.len();
            r.weight_bytes_added += tensor::total_bytes(&patch.add_initializers);
            r.weight_bytes_removed += bytes;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::onnx::builder::{self, Attr};
    use crate::onnx::graph::tests::{node, value};
    use crate::onnx::proto::{ModelProto, OperatorSetIdProto};

    pub fn model(g: GraphProto) -> Model {
        let opset_import = vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }];
        Model::from_proto(ModelProto { graph: Some(g), opset_import, ..Default::default() }, "test.onnx", ".")
    }

    pub(crate) fn float_init(name: &str, values: &[f32]) -> TensorProto {
        TensorProto {
            name: Some(name.into()),
            dims: vec![values.len() as i64],
            data_type: Some(1),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()),
            ..Default::default()
        }
    }

    /// Runs `passes` to a fixed point with the structural check after every patch.
    pub fn run(m: &mut Model, passes: &[&str]) -> Report {
        let mut p = Pipeline::new(passes.iter().map(|n| by_name(n).unwrap()).collect());
        p.check_each_step = true;
        p.run(m).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn ops(m: &Model) -> Vec<String> {
        m.graph().node.iter().map(|n| n.op_type.clone().unwrap_or_default()).collect()
    }

    /// x -> Neg -> a -> Relu -> y (output)
    fn chain() -> GraphProto {
        GraphProto {
            node: vec![node("Neg", "neg", &["x"], &["a"]), node("Relu", "relu", &["a"], &["y"])],
            input: vec![value("x")],
            output: vec![value("y")],
            ..Default::default()
        }
    }

    // Why: the basic redirect semantics; readers of `from` read `to`, nothing else changes.
    #[test]
    fn redirect_rewrites_readers() {
        let mut g = chain();
        g.node.push(node("Abs", "abs", &["x"], &["b"]));
        g.node.push(node("Exp", "exp", &["a"], &["z"]));
        g.output.push(value("z"));
        let mut m = model(g);
        let mut p = Patch::new("exp reads b");
        p.redirect.push(("a".into(), "b".into()));
        p.apply(&mut m).unwrap();
        assert_eq!(m.graph().node[1].input, vec!["b"]);
        assert_eq!(m.graph().node[3].input, vec!["b"]);
        assert!(check::check(&m).is_empty());
    }

    // Why: graph outputs are the model's interface; redirecting one must keep its name by
    // renaming the upstream value (its producer and its other readers).
    #[test]
    fn redirecting_a_graph_output_renames_the_upstream_value() {
        let mut g = chain();
        g.node.push(node("Exp", "exp", &["a"], &["z"]));
        g.output.push(value("z"));
        g.value_info.push(value("a"));
        let mut m = model(g);
        let mut p = Patch::new("drop relu");
        p.remove_nodes.push(NodeRef::Name("relu".into()));
        p.redirect.push(("y".into(), "a".into()));
        p.apply(&mut m).unwrap();
        let g = m.graph();
        assert_eq!(g.node[0].output, vec!["y"]);
        assert_eq!(g.node[1].input, vec!["y"], "the other reader of 'a' follows the rename");
        assert!(g.value_info.iter().all(|v| v.name.as_deref() != Some("a")), "no stale value_info");
        assert_eq!(g.output[0].name.as_deref(), Some("y"));
        assert!(check::check(&m).is_empty(), "{:?}", check::check(&m));
    }

    // Why: a graph output cannot take the name of a graph input (or of a value still produced);
    // the patch must be refused, not silently produce an unsound graph.
    #[test]
    fn redirecting_a_graph_output_to_an_input_is_refused() {
        let mut m = model(chain());
        let mut p = Patch::new("bad");
        p.remove_nodes.push(NodeRef::Index(1));
        p.redirect.push(("y".into(), "x".into()));
        let e = p.apply(&mut m).unwrap_err();
        assert!(e.contains("'x' is a graph input"), "{e}");

        assert_eq!(m.graph(), &chain(), "a refused patch leaves the graph unchanged");

        let mut m = model(chain());
        let mut p = Patch::new("bad");
        p.redirect.push(("y".into(), "a".into()));
        let e = p.apply(&mut m).unwrap_err();
        assert!(e.contains("still produced"), "{e}");
    }

    // Why: added nodes are appended; the graph must be put back in topological order.
    #[test]
    fn added_nodes_are_placed_in_topological_order() {
        let mut m = model(chain());
        let mut p = Patch::new("neg via sign");
        p.remove_nodes.push(NodeRef::Index(0));
        p.add_nodes.push(builder::node("Transpose", "t", &["x"], &["a"], &[("perm", Attr::Ints(vec![0]))]));
        p.apply(&mut m).unwrap();
        assert_eq!(ops(&m), vec!["Transpose", "Relu"]);
        assert!(check::check(&m).is_empty());
    }

    // Why: a subgraph reading an outer value is a reader too; redirects must reach it, unless the
    // subgraph defines the same name itself.
    #[test]
    fn redirect_reaches_subgraph_uses() {
        let body = GraphProto {
            node: vec![node("Neg", "inner", &["a"], &["o"])],
            output: vec![value("o")],
            ..Default::default()
        };
        let mut g = chain();
        g.node.push(node("Abs", "abs", &["x"], &["b"]));
        let mut iff = node("If", "if", &["c"], &["r"]);
        iff.attribute.push(crate::onnx::proto::AttributeProto { name: Some("then_branch".into()), g: Some(body), ..Default::default() });
        g.node.push(iff);
        g.input.push(value("c"));
        g.output.push(value("r"));
        let mut m = model(g);
        let mut p = Patch::new("a -> b");
        p.redirect.push(("a".into(), "b".into()));
        p.apply(&mut m).unwrap();
        let sub = m.graph().node[3].attribute[0].g.as_ref().unwrap();
        assert_eq!(sub.node[0].input, vec!["b"]);
    }

    // Why: max_steps must stop after exactly N patches, so a bad rewrite can be bisected.
    #[test]
    fn max_steps_stops_the_pipeline() {
        let mut g = chain();
        for i in 0..3 {
            g.node.push(node("Identity", &format!("id{i}"), &["a"], &[&format!("i{i}")]));
        }
        let mut m = model(g);
        let mut p = Pipeline::new(vec![by_name("dead-code").unwrap(), by_name("identity").unwrap()]);
        p.max_steps = Some(0);
        let r = p.run(&mut m).unwrap();
        assert_eq!((r.steps, r.stopped_at_max_steps, m.graph().node.len()), (0, true, 5));
        let r = run(&mut m, &["dead-code"]);
        assert_eq!(r.steps, 1, "{:?}", r.log);
        assert_eq!(r.passes[0].nodes_removed, 3);
        assert_eq!(m.graph().node.len(), 2);
        assert!(r.log[0].starts_with("step 1 dead-code: "), "{:?}", r.log);
        let text = r.render_text();
        assert!(text.lines().next().unwrap().starts_with("dead-code") && text.contains("5 -> 2"), "{text}");
    }

    // Why: check_each_step must blame a patch only for problems it introduced, not for those the
    // input already had; and it must catch the ones it did introduce.
    #[test]
    fn check_each_step_reports_only_new_problems() {
        let mut g = chain();
        g.node.push(node("Add", "broken", &["x", "missing"], &["z"]));
        g.output.push(value("z"));
        g.node.push(node("Identity", "id", &["a"], &["b"]));
        g.node.push(node("Exp", "exp", &["b"], &["w"]));
        g.output.push(value("w"));
        let mut m = model(g);
        assert_eq!(run(&mut m, &["identity"]).steps, 1);

        struct Breaks;
        impl Pass for Breaks {
            fn name(&self) -> &'static str {
                "breaks"
            }
            fn describe(&self) -> &'static str {
                "makes Relu read a value nobody defines"
            }
            fn propose(&self, model: &Model) -> Result<Option<Patch>> {
                if model.graph().node.iter().any(|n| n.input.iter().any(|i| i == "nowhere")) {
                    return Ok(None);
                }
                let mut p = Patch::new("relu reads nowhere");
                p.redirect.push(("a".into(), "nowhere".into()));
                Ok(Some(p))
            }
        }
        let mut p = Pipeline::new(vec![Box::new(Breaks)]);
        p.check_each_step = true;
        let e = p.run(&mut model(chain())).unwrap_err().to_string();
        assert!(e.contains("pass breaks: after patch 'relu reads nowhere' (step 1)") && e.contains("'nowhere'"), "{e}");
    }

    // Why: unknown names are user errors that must list the valid names.
    #[test]
    fn unknown_pass_lists_the_valid_names() {
        let e = parse_list("dead-code,nope").err().unwrap().to_string();
        assert!(e.contains("'nope'") && e.contains("dead-code, identity, dedup-initializers, transpose, ") && e.contains("low-rank") && e.contains("conv-matmul"), "{e}");
        assert_eq!(parse_list("default").unwrap().len(), 6);
    }
}
