//! Loading and saving models: external data, safe paths, atomic writes.
//!
//! * Load reads the file once into one buffer and decodes it with prost from `Bytes`, so tensor
//!   payloads are slices of that buffer, not copies: memory stays close to the file size.
//! * Save streams the encoding to disk through a small buffer (large payloads are written straight
//!   from the model) instead of encoding into a second full-size buffer.
//! * Output goes to a temporary file in the target folder, is synced, then renamed over the target:
//!   a crash leaves either the old file or the new one, never half of one. An existing output is
//!   replaced only with `force`, and the input model (or one of its data files) is never a target.
//! * External data locations are resolved inside the model's folder only: absolute paths, `..` and
//!   symbolic links that lead outside are refused, as are ranges past the end of the data file.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

use bytes::{BufMut, Bytes};
use prost::Message;

use super::proto::{is_default_domain, same_domain, tensor_proto::DataLocation, GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorProto};
use super::tensor::{self, for_each_tensor, for_each_tensor_mut};
use super::{Error, Result};
use crate::util::write_atomic;

/// The largest message protobuf implementations accept (2 GiB − 1).
pub(crate) const PROTOBUF_LIMIT: u64 = i32::MAX as u64;

/// Alignment of tensors in external data files, so runtimes can map them page by page.
const EXTERNAL_ALIGN: u64 = 4096;

/// A model in memory with the folder its external data is resolved against.
#[derive(Clone, Debug)]
pub struct Model {
    pub proto: ModelProto,
    path: PathBuf,
    base_dir: PathBuf,
    file_size: u64,
    /// The file mapping the model was decoded from ([`Model::load_mapped`]).
    mapping: Option<std::sync::Arc<memmap2::Mmap>>,
}

/// Lets `Bytes` own a shared file mapping.
struct MapOwner(std::sync::Arc<memmap2::Mmap>);

impl AsRef<[u8]> for MapOwner {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Where a tensor's external bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalRef {
    pub location: String,
    pub file: PathBuf,
    pub offset: u64,
    pub length: u64,
}

/// How [`Model::save`] stores tensor data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExternalMode {
    /// Inline, unless the model had external data or the file would pass the protobuf limit.
    #[default]
    Auto,
    /// Everything inside the .onnx file (fails past the protobuf limit).
    Inline,
    /// Tensors of at least `size_threshold` bytes go to `<output file name>.data`.
    External,
}

/// Options of [`Model::save`].
#[derive(Clone, Debug)]
pub struct SaveOptions {
    pub external: ExternalMode,
    /// Replace an existing output file.
    pub force: bool,
    /// Smallest tensor (bytes) moved to the external file.
    pub size_threshold: u64,
    /// Size above which `Auto` switches to external data (the protobuf limit; lowered in tests).
    pub inline_limit: u64,
}

impl Default for SaveOptions {
    fn default() -> Self {
        SaveOptions { external: ExternalMode::Auto, force: false, size_threshold: 1024, inline_limit: PROTOBUF_LIMIT }
    }
}

/// What [`Model::save`] wrote.
#[derive(Clone, Debug)]
pub struct SaveSummary {
    pub path: PathBuf,
    pub bytes: u64,
    /// The external data file and its size, when one was written.
    pub external: Option<(PathBuf, u64)>,
    pub external_tensors: usize,
}

impl Model {
    /// Reads and decodes a model, then validates every external data reference.
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let meta = fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
        if meta.is_dir() {
            return Err(Error::Invalid { path: path.into(), reason: "is a folder, expected an .onnx file".into() });
        }
        crate::util::check_regular(path).map_err(|e| Error::io("read", path, e))?;
        let buf = fs::read(path).map_err(|e| Error::io("read", path, e))?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Model::from_bytes(Bytes::from(buf), path, base_dir)
    }

    /// Decodes a model from bytes; `path` names it in messages and `base_dir` resolves external data.
    pub(crate) fn from_bytes(bytes: Bytes, path: impl Into<PathBuf>, base_dir: impl Into<PathBuf>) -> Result<Model> {
        let path = path.into();
        let file_size = bytes.len() as u64;
        let proto = ModelProto::decode(bytes).map_err(|source| Error::Decode { path: path.clone(), source })?;
        if proto.graph.is_none() {
            return Err(Error::Invalid { path, reason: "the model has no graph".into() });
        }
        let model = Model { proto, path, base_dir: base_dir.into(), file_size, mapping: None };
        model.validate_tensors()?;
        model.validate_external()?;
        Ok(model)
    }

    /// Wraps a model built in memory; external data resolves against `base_dir`.
    pub(crate) fn from_proto(proto: ModelProto, path: impl Into<PathBuf>, base_dir: impl Into<PathBuf>) -> Model {
        Model { proto, path: path.into(), base_dir: base_dir.into(), file_size: 0, mapping: None }
    }

    /// Like [`Model::load`], but maps the file instead of reading it: tensor payloads are slices of
    /// the mapping and only the pages something reads become resident, and
    /// [`Model::release_pages`] can hand pages back once their data is no longer needed. Used by
    /// `quantize`, which reads every float weight once and replaces most of them.
    ///
    /// The file must not be modified or truncated while the model (or any tensor taken from it)
    /// is alive: the mapping is of the file itself (the usual caveat of memory-mapped files).
    pub fn load_mapped(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let meta = fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
        if meta.is_dir() {
            return Err(Error::Invalid { path: path.into(), reason: "is a folder, expected an .onnx file".into() });
        }
        crate::util::check_regular(path).map_err(|e| Error::io("read", path, e))?;
        if meta.len() == 0 {
            return Model::load(path);
        }
        let file = File::open(path).map_err(|e| Error::io("read", path, e))?;
        // SAFETY: the mapping is read-only and private; see the caveat in the doc comment.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io("map", path, e))?;
        let map = std::sync::Arc::new(map);
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut model = Model::from_bytes(Bytes::from_owner(MapOwner(map.clone())), path, base_dir)?;
        model.mapping = Some(map);
        Ok(model)
    }

    /// Tells the operating system that the pages wholly inside `data` (a slice of this model's
    /// mapping) are not needed for now, so they stop counting as resident memory. The data stays
    /// valid: a later read faults the pages back in from the file. No effect on models that are not
    /// mapped or on bytes from elsewhere.
    pub fn release_pages(&self, data: &[u8]) {
        let Some(map) = &self.mapping else { return };
        let base = map.as_ptr() as usize;
        let start = data.as_ptr() as usize;
        if data.is_empty() || start < base || start + data.len() > base + map.len() {
            return;
        }
        const PAGE: usize = 4096;
        let from = (start - base).next_multiple_of(PAGE);
        let to = (start - base + data.len()) / PAGE * PAGE;
        if to > from {
            // SAFETY: the mapping is private, read-only and never written, so dropping its pages
            // loses nothing: they are read back from the file on the next access.
            let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from) };
        }
    }

    /// The file the model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the .onnx file as loaded (0 for models built in memory).
    pub(crate) fn file_size(&self) -> u64 {
        self.file_size
    }

    /// The main graph (a loaded model always has one).
    pub fn graph(&self) -> &GraphProto {
        self.proto.graph.as_ref().expect("Model::load refuses models without a graph")
    }

    /// Mutable main graph.
    pub fn graph_mut(&mut self) -> &mut GraphProto {
        self.proto.graph.get_or_insert_with(GraphProto::default)
    }

    /// The version of `domain` the model imports (`""` and `ai.onnx` both name the default
    /// domain); `None` when it does not import it.
    pub fn opset(&self, domain: &str) -> Option<i64> {
        let found = self.proto.opset_import.iter().find(|o| same_domain(o.domain.as_deref().unwrap_or(""), domain));
        found.map(|o| o.version.unwrap_or(0))
    }

    /// Makes the model import `domain` at `version` or later: adds the import or raises it (never
    /// lowers it). Raising the default domain raises the IR version to one that opset needs.
    pub(crate) fn require_opset(&mut self, domain: &str, version: i64) {
        let imports = &mut self.proto.opset_import;
        match imports.iter_mut().find(|o| same_domain(o.domain.as_deref().unwrap_or(""), domain)) {
            Some(o) if o.version.unwrap_or(0) >= version => {}
            Some(o) => o.version = Some(version),
            None => imports.push(OperatorSetIdProto { domain: Some(domain.to_string()), version: Some(version) }),
        }
        if is_default_domain(domain) {
            let ir = super::builder::ir_version_for(version);
            if self.proto.ir_version.unwrap_or(0) < ir {
                self.proto.ir_version = Some(ir);
            }
        }
    }

    /// Bytes the main graph's initializers take in memory (see [`tensor::total_bytes`]).
    pub fn weight_bytes(&self) -> u64 {
        tensor::total_bytes(&self.graph().initializer)
    }

    /// Total size of the distinct external data files this model reads.
    pub(crate) fn external_bytes(&self) -> Result<u64> {
        let mut files = BTreeMap::new();
        for r in self.external_refs()? {
            if let std::collections::btree_map::Entry::Vacant(e) = files.entry(r.file.clone()) {
                let len = fs::metadata(&r.file).map_err(|e| Error::io("read", &r.file, e))?.len();
                e.insert(len);
            }
        }
        Ok(files.values().sum())
    }

    /// Every external reference in the model, resolved and checked.
    pub(crate) fn external_refs(&self) -> Result<Vec<ExternalRef>> {
        let mut out = Vec::new();
        let mut err = None;
        for_each_tensor(&self.proto, &mut |t, _| {
            if err.is_none() && tensor::is_external(t) {
                match self.external_ref(t) {
                    Ok(r) => out.push(r),
                    Err(e) => err = Some(e),
                }
            }
        });
        err.map_or(Ok(out), Err)
    }

    /// Resolves and checks the external reference of one tensor.
    pub fn external_ref(&self, t: &TensorProto) -> Result<ExternalRef> {
        let fail = |reason: String| Error::Tensor { path: self.path.clone(), tensor: tensor::name(t).into(), reason };
        let mut location = None;
        let mut offset = 0u64;
        let mut length = None;
        for e in &t.external_data {
            let value = e.value.as_deref().unwrap_or("");
            match e.key.as_deref().unwrap_or("") {
                "location" => location = Some(value.to_string()),
                "offset" => offset = value.parse().map_err(|_| fail(format!("external_data offset '{value}' is not a non-negative integer")))?,
                "length" => length = Some(value.parse::<u64>().map_err(|_| fail(format!("external_data length '{value}' is not a non-negative integer")))?),
                _ => {}
            }
        }
        let location = location.ok_or_else(|| fail("external data without a 'location' entry".into()))?;
        let file = resolve_location(&self.base_dir, &location).map_err(fail)?;
        let size = fs::metadata(&file).map_err(|e| fail(format!("cannot read external data file '{}': {e}", file.display())))?.len();
        let expected = tensor::expected_bytes(t).map_err(fail)?;
        let length = match (length, expected) {
            (Some(l), _) => l,
            (None, Some(e)) => e,
            (None, None) => size.saturating_sub(offset),
        };
        let end = offset.checked_add(length).ok_or_else(|| fail("external_data offset + length overflows".into()))?;
        if end > size {
            return Err(fail(format!(
                "external data range {offset}..{end} lies past the end of '{location}' ({size} bytes)"
            )));
        }
        if let Some(e) = expected {
            if e != length {
                return Err(fail(format!("external data holds {length} bytes but dims {:?} need {e}", t.dims)));
            }
        }
        Ok(ExternalRef { location, file, offset, length })
    }

    /// Refuses tensors whose dims, type or inline data do not agree (see [`tensor::data_problem`]).
    fn validate_tensors(&self) -> Result<()> {
        let mut err = None;
        for_each_tensor(&self.proto, &mut |t, _| {
            if err.is_none() {
                err = tensor::data_problem(t)
                    .map(|reason| Error::Tensor { path: self.path.clone(), tensor: tensor::name(t).into(), reason });
            }
        });
        err.map_or(Ok(()), Err)
    }

    fn validate_external(&self) -> Result<()> {
        self.external_refs().map(drop)
    }

    /// The tensor's bytes (little-endian, packed), read from the external file when needed.
    pub fn tensor_bytes(&self, t: &TensorProto) -> Result<Bytes> {
        if tensor::is_external(t) {
            let r = self.external_ref(t)?;
            let mut f = File::open(&r.file).map_err(|e| Error::io("read", &r.file, e))?;
            f.seek(SeekFrom::Start(r.offset)).map_err(|e| Error::io("read", &r.file, e))?;
            let mut buf = vec![0u8; r.length as usize];
            f.read_exact(&mut buf).map_err(|e| Error::io("read", &r.file, e))?;
            return Ok(buf.into());
        }
        tensor::inline_bytes(t).map_err(|reason| Error::Tensor { path: self.path.clone(), tensor: tensor::name(t).into(), reason })
    }

    /// Serialized bytes of the model as it is in memory (external references kept as they are).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    /// Writes the model to `out` atomically; see [`SaveOptions`] and [`ExternalMode`].
    pub fn save(&self, out: impl AsRef<Path>, opts: &SaveOptions) -> Result<SaveSummary> {
        let out = out.as_ref();
        let refs = self.external_refs()?;
        self.refuse_unsafe_target(out, &refs, opts)?;
        let has_external = !refs.is_empty();
        let external = match opts.external {
            ExternalMode::External => true,
            ExternalMode::Inline => false,
            ExternalMode::Auto => has_external || self.proto.encoded_len() as u64 > opts.inline_limit,
        };
        if external {
            return self.save_external(out, opts);
        }
        let summary = if has_external {
            let mut proto = self.proto.clone();
            self.internalize(&mut proto)?;
            write_model(&proto, out, opts)?
        } else {
            write_model(&self.proto, out, opts)?
        };
        Ok(summary)
    }

    /// Replaces external references by inline `raw_data`.
    fn internalize(&self, proto: &mut ModelProto) -> Result<()> {
        let mut err = None;
        for_each_tensor_mut(proto, &mut |t| {
            if err.is_none() && tensor::is_external(t) {
                match self.tensor_bytes(t) {
                    Ok(b) => {
                        t.raw_data = Some(b);
                        t.external_data.clear();
                        t.data_location = None;
                    }
                    Err(e) => err = Some(e),
                }
            }
        });
        err.map_or(Ok(()), Err)
    }

    fn save_external(&self, out: &Path, opts: &SaveOptions) -> Result<SaveSummary> {
        let file_name = out
            .file_name()
            .ok_or_else(|| Error::Refused { path: out.into(), reason: "the output path has no file name".into() })?;
        let location = format!("{}.data", file_name.to_string_lossy());
        let data_path = out.with_file_name(&location);
        let mut proto = self.proto.clone();
        let mut moved = 0usize;
        let data_len = write_atomic(&data_path, opts.force, |w| {
            let mut offset = 0u64;
            let mut err = None;
            for_each_tensor_mut(&mut proto, &mut |t| {
                if err.is_some() {
                    return;
                }
                let bytes = if tensor::is_external(t) {
                    self.tensor_bytes(t)
                } else if let Some(raw) = &t.raw_data {
                    Ok(raw.clone())
                } else {
                    return;
                };
                let bytes = match bytes {
                    Ok(b) if (b.len() as u64) < opts.size_threshold && !tensor::is_external(t) => return,
                    Ok(b) => b,
                    Err(e) => {
                        err = Some(e);
                        return;
                    }
                };
                let pad = offset.next_multiple_of(EXTERNAL_ALIGN) - offset;
                let res = w.write_all(&vec![0u8; pad as usize]).and_then(|_| w.write_all(&bytes));
                if let Err(e) = res {
                    err = Some(Error::io("write", &data_path, e));
                    return;
                }
                offset += pad;
                t.raw_data = None;
                t.data_location = Some(DataLocation::External as i32);
                t.external_data = vec![entry("location", &location), entry("offset", &offset.to_string()), entry("length", &bytes.len().to_string())];
                offset += bytes.len() as u64;
                moved += 1;
            });
            err.map_or(Ok(()), Err)
        })?;
        let mut summary = match write_model(&proto, out, opts) {
            Ok(s) => s,
            Err(e) => {
                // The data file alone is useless; do not leave it behind.
                let _ = fs::remove_file(&data_path);
                return Err(e);
            }
        };
        summary.external = Some((data_path, data_len));
        summary.external_tensors = moved;
        Ok(summary)
    }

    fn refuse_unsafe_target(&self, out: &Path, refs: &[ExternalRef], opts: &SaveOptions) -> Result<()> {
        let refuse = |reason: String| Err(Error::Refused { path: out.into(), reason });
        let data = out.with_file_name(format!("{}.data", out.file_name().unwrap_or_default().to_string_lossy()));
        if same_file(out, &self.path) {
            return refuse("it is the input model; write to another path".into());
        }
        for r in refs {
            if same_file(out, &r.file) || same_file(&data, &r.file) {
                return refuse(format!("it would overwrite '{}', which holds the input model's external data", r.file.display()));
            }
        }
        if out.exists() && !opts.force {
            return refuse("the file exists (pass --force to replace it)".into());
        }
        Ok(())
    }
}

fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto { key: Some(key.into()), value: Some(value.into()) }
}

/// Joins an external data location to the model folder, refusing anything that leaves it.
pub(crate) fn resolve_location(base_dir: &Path, location: &str) -> Result<PathBuf, String> {
    let rel = Path::new(location);
    if location.is_empty() {
        return Err("external data location is empty".into());
    }
    if rel.is_absolute() || location.starts_with('/') || location.starts_with('\\') || location.contains(':') {
        return Err(format!("external data location '{location}' is an absolute path; it must be relative to the model's folder"));
    }
    if rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(format!("external data location '{location}' leaves the model's folder ('..' is not allowed)"));
    }
    let joined = base_dir.join(rel);
    let base = canonical_dir(base_dir).map_err(|e| format!("cannot resolve the model's folder '{}': {e}", base_dir.display()))?;
    match joined.canonicalize() {
        Ok(real) if !real.starts_with(&base) => Err(format!(
            "external data location '{location}' resolves to '{}', outside the model's folder (symbolic link?)",
            real.display()
        )),
        Ok(real) => Ok(real),
        Err(e) => Err(format!("cannot open external data file '{}': {e}", joined.display())),
    }
}

fn canonical_dir(dir: &Path) -> std::io::Result<PathBuf> {
    if dir.as_os_str().is_empty() {
        Path::new(".").canonicalize()
    } else {
        dir.canonicalize()
    }
}

/// True when both paths name the same existing file (through links, `.`, `..`).
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (fs::metadata(a), fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

fn write_model(proto: &ModelProto, out: &Path, opts: &SaveOptions) -> Result<SaveSummary> {
    let len = proto.encoded_len() as u64;
    if len > PROTOBUF_LIMIT {
        return Err(Error::Refused {
            path: out.into(),
            reason: format!("the model would be {len} bytes, past protobuf's 2 GiB limit; save with external data"),
        });
    }
    let bytes = write_atomic(out, opts.force, |w| {
        let mut sink = StreamBuf::new(w);
        proto.encode(&mut sink).expect("StreamBuf has room for any message");
        sink.finish().map_err(|e| Error::io("write", out, e))
    })?;
    Ok(SaveSummary { path: out.into(), bytes, external: None, external_tensors: 0 })
}

/// A `BufMut` that streams into a writer through a fixed buffer, so encoding a model needs no
/// second copy of it in memory. Slices of 64 KiB or more skip the buffer. The first write error is
/// kept and later writes are dropped; [`StreamBuf::finish`] reports it.
struct StreamBuf<'a> {
    w: &'a mut dyn Write,
    buf: Vec<u8>,
    written: usize,
    err: Option<std::io::Error>,
}

impl<'a> StreamBuf<'a> {
    const CAP: usize = 64 * 1024;

    fn new(w: &'a mut dyn Write) -> Self {
        StreamBuf { w, buf: Vec::with_capacity(Self::CAP), written: 0, err: None }
    }

    fn flush_buf(&mut self) {
        if self.err.is_none() && !self.buf.is_empty() {
            if let Err(e) = self.w.write_all(&self.buf) {
                self.err = Some(e);
            }
        }
        self.buf.clear();
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.flush_buf();
        match self.err.take() {
            Some(e) => Err(e),
            None => self.w.flush(),
        }
    }
}

// SAFETY: `chunk_mut` hands out only the spare capacity of `buf`, and `advance_mut` moves `len`
// forward by at most that much, which the caller has initialised per the `BufMut` contract.
unsafe impl BufMut for StreamBuf<'_> {
    fn remaining_mut(&self) -> usize {
        isize::MAX as usize - self.written
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        let len = self.buf.len() + cnt;
        assert!(len <= self.buf.capacity(), "advance_mut past the chunk");
        // SAFETY: see the impl comment.
        unsafe { self.buf.set_len(len) };
        self.written += cnt;
    }

    fn chunk_mut(&mut self) -> &mut bytes::buf::UninitSlice {
        if self.buf.len() == self.buf.capacity() {
            self.flush_buf();
        }
        bytes::buf::UninitSlice::uninit(self.buf.spare_capacity_mut())
    }

    fn put<T: bytes::Buf>(&mut self, mut src: T)
    where
        Self: Sized,
    {
        while src.has_remaining() {
            let n = src.chunk().len();
            self.put_slice(src.chunk());
            src.advance(n);
        }
    }

    fn put_slice(&mut self, src: &[u8]) {
        if src.len() >= Self::CAP {
            self.flush_buf();
            if self.err.is_none() {
                if let Err(e) = self.w.write_all(src) {
                    self.err = Some(e);
                }
            }
            self.written += src.len();
        } else {
            if self.buf.capacity() - self.buf.len() < src.len() {
                self.flush_buf();
            }
            self.buf.extend_from_slice(src);
            self.written += src.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(imports: &[(&str, i64)]) -> Model {
        let opset_import = imports.iter().map(|(d, v)| OperatorSetIdProto { domain: Some(d.to_string()), version: Some(*v) }).collect();
        let proto = ModelProto { ir_version: Some(7), graph: Some(GraphProto::default()), opset_import, ..Default::default() };
        Model::from_proto(proto, "m.onnx", ".")
    }

    #[test]
    fn opsets_are_looked_up_and_raised_under_either_spelling_of_the_default_domain() {
        let mut m = model(&[("ai.onnx", 13), ("com.microsoft", 1)]);
        assert_eq!((m.opset(""), m.opset("ai.onnx"), m.opset("com.microsoft"), m.opset("ai.onnx.ml")), (Some(13), Some(13), Some(1), None));
        m.require_opset("", 11);
        assert_eq!((m.opset(""), m.proto.ir_version), (Some(13), Some(7)), "never lowered");
        m.require_opset("", 17);
        assert_eq!((m.opset("ai.onnx"), m.proto.ir_version, m.proto.opset_import.len()), (Some(17), Some(8), 2), "raised in place");
        m.require_opset("ai.onnx.ml", 3);
        assert_eq!((m.opset("ai.onnx.ml"), m.proto.ir_version), (Some(3), Some(8)), "added; IR untouched");
    }
}
