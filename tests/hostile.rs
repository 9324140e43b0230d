//! Hostile and broken inputs through the real command line: every class of bad model (and bad
//! safetensors checkpoint) gets a clear error naming the tensor or node and what is wrong, a
//! documented exit code, no panic, no output file, no temporary file, and an untouched input.
//! The README's bad-input table points at the tests here by name.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prost::Message;
use squeezebench::onnx::proto::{tensor_proto::DataLocation, ModelProto, StringStringEntryProto};

use common::{fixtures, scratch};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_squeezebench"))
}

fn tiny() -> ModelProto {
    ModelProto::decode(fs::read(fixtures().join("bert-tiny.onnx")).unwrap().as_slice()).unwrap()
}

/// A 64-bit FNV-1a digest: enough to tell whether a file changed.
fn digest(path: &Path) -> u64 {
    fs::read(path).unwrap().iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100000001b3))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Files in `dir` other than `keep` (outputs, temporaries, data files left behind).
fn leftovers(dir: &Path, keep: &[&Path]) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !keep.iter().any(|k| k == p))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// How a verb must fail on a broken model.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fails {
    /// The file is not a usable model: every verb exits 2.
    Load,
    /// The model decodes but the structural check finds problems: inspect exits 1 (documented),
    /// rewrite refuses with 2.
    Check,
}

/// Runs `inspect`, `inspect --check`, `inspect --json`, `rewrite` and `rewrite --passes default`
/// on `model` and asserts the failure mode, that every message contains each of `needles`, that
/// nothing panicked, that no output or temporary file appeared and that the input is unchanged.
fn assert_refused(dir: &Path, model: &Path, fails: Fails, needles: &[&str]) {
    let before = digest(model);
    let mut keep: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    keep.sort();
    let out = dir.join("out.onnx");
    let runs: Vec<(Vec<&str>, i32)> = vec![
        (vec!["inspect"], if fails == Fails::Load { 2 } else { 1 }),
        (vec!["inspect", "--check"], if fails == Fails::Load { 2 } else { 1 }),
        (vec!["inspect", "--json"], if fails == Fails::Load { 2 } else { 1 }),
        (vec!["rewrite", "-o", out.to_str().unwrap()], 2),
        (vec!["rewrite", "--passes", "default", "-o", out.to_str().unwrap()], 2),
        (vec!["rewrite", "--external", "external", "-o", out.to_str().unwrap()], 2),
    ];
    for (args, code) in runs {
        let o = bin().args(&args).arg(model).output().unwrap();
        let all = text(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?} on {}: {all}", model.display());
        assert!(!all.contains("panicked"), "{args:?}: {all}");
        for n in needles {
            assert!(all.contains(n), "{args:?} on {}: expected '{n}' in:\n{all}", model.display());
        }
        let keep_refs: Vec<&Path> = keep.iter().map(PathBuf::as_path).collect();
        let left = leftovers(dir, &keep_refs);
        assert!(left.is_empty(), "{args:?} left files behind: {left:?}");
        assert_eq!(digest(model), before, "{args:?} modified the input");
    }
}

/// Writes `proto` as `<name>.onnx` in a fresh folder and asserts it is refused.
fn refuse_proto(name: &str, proto: &ModelProto, fails: Fails, needles: &[&str]) {
    refuse_bytes(name, &proto.encode_to_vec(), fails, needles);
}

fn refuse_bytes(name: &str, bytes: &[u8], fails: Fails, needles: &[&str]) {
    let dir = scratch(name);
    let model = dir.path().join(format!("{name}.onnx"));
    fs::write(&model, bytes).unwrap();
    assert_refused(dir.path(), &model, fails, needles);
}

fn edit(f: impl FnOnce(&mut ModelProto)) -> ModelProto {
    let mut m = tiny();
    f(&mut m);
    m
}

/// Index of the first 128 × 128 weight matrix.
fn big_initializer(m: &ModelProto) -> usize {
    m.graph.as_ref().unwrap().initializer.iter().position(|t| t.dims == [128, 128]).unwrap()
}

#[test]
fn garbage_truncated_empty_and_wrong_wire_type_files_are_not_models() {
    refuse_bytes("garbage", b"\xff\xfe this is not a protobuf at all \x00\x01", Fails::Load, &["garbage.onnx", "not a valid ONNX model"]);
    let bytes = fs::read(fixtures().join("bert-tiny.onnx")).unwrap();
    for cut in [1, 7, bytes.len() / 3, bytes.len() - 1] {
        refuse_bytes("truncated", &bytes[..cut], Fails::Load, &["truncated.onnx", "not a valid ONNX model"]);
    }
    refuse_bytes("empty", b"", Fails::Load, &["empty.onnx", "the model has no graph"]);
    // Field 7 (graph) is a message; send it as a varint.
    refuse_bytes("wiretype", &[0x38, 0x01], Fails::Load, &["wiretype.onnx", "invalid wire type"]);
    // A length prefix far larger than the file.
    refuse_bytes("length", &[0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00], Fails::Load, &["length.onnx", "not a valid ONNX model"]);
}

#[test]
fn absurd_dims_are_refused_naming_the_tensor() {
    let m = tiny();
    let i = big_initializer(&m);
    let name = m.graph.as_ref().unwrap().initializer[i].name.clone().unwrap();
    let named = format!("tensor '{name}'");
    let negative = edit(|m| m.graph.as_mut().unwrap().initializer[i].dims = vec![-1, 128]);
    refuse_proto("negative", &negative, Fails::Load, &[&named, "negative dimension -1"]);
    let overflow = edit(|m| m.graph.as_mut().unwrap().initializer[i].dims = vec![1 << 40, 1 << 40]);
    refuse_proto("overflow", &overflow, Fails::Load, &[&named, "overflow 64 bits"]);
    let bytes_overflow = edit(|m| m.graph.as_mut().unwrap().initializer[i].dims = vec![1 << 31, 1 << 31]);
    refuse_proto("bytes-overflow", &bytes_overflow, Fails::Load, &[&named, "overflow 64 bits in bytes"]);
    // 4 TiB claimed, 64 KiB present.
    let huge = edit(|m| m.graph.as_mut().unwrap().initializer[i].dims = vec![1 << 40]);
    refuse_proto("huge", &huge, Fails::Load, &[&named, "need 4398046511104"]);
}

#[test]
fn raw_data_shorter_or_longer_than_dims_is_refused() {
    let m = tiny();
    let i = big_initializer(&m);
    let name = m.graph.as_ref().unwrap().initializer[i].name.clone().unwrap();
    let named = format!("tensor '{name}'");
    let short = edit(|m| {
        let t = &mut m.graph.as_mut().unwrap().initializer[i];
        let raw = t.raw_data.take().unwrap();
        t.raw_data = Some(raw.slice(..raw.len() - 4));
    });
    refuse_proto("short", &short, Fails::Load, &[&named, "raw_data holds 65532 bytes", "need 65536"]);
    let long = edit(|m| {
        let t = &mut m.graph.as_mut().unwrap().initializer[i];
        let mut raw = t.raw_data.take().unwrap().to_vec();
        raw.extend_from_slice(&[0; 4]);
        t.raw_data = Some(raw.into());
    });
    refuse_proto("long", &long, Fails::Load, &[&named, "raw_data holds 65540 bytes"]);
    let typed = edit(|m| {
        let t = &mut m.graph.as_mut().unwrap().initializer[i];
        t.raw_data = None;
        t.float_data = vec![0.5; 10];
    });
    refuse_proto("typed", &typed, Fails::Load, &[&named, "typed data holds 10 values", "need 16384"]);
    let none = edit(|m| m.graph.as_mut().unwrap().initializer[i].raw_data = None);
    refuse_proto("nodata", &none, Fails::Load, &[&named, "has no data"]);
    let dtype = edit(|m| m.graph.as_mut().unwrap().initializer[i].data_type = Some(99));
    refuse_proto("dtype", &dtype, Fails::Load, &[&named, "unknown or undefined data_type 99"]);
}

#[test]
fn string_tensors_where_numbers_are_expected_are_refused() {
    let m = tiny();
    let g = m.graph.as_ref().unwrap();
    // A weight read by MatMul.
    let i = g
        .initializer
        .iter()
        .position(|t| g.node.iter().any(|n| n.op_type.as_deref() == Some("MatMul") && n.input.get(1) == t.name.as_ref()))
        .unwrap();
    let name = g.initializer[i].name.clone().unwrap();
    let numel = g.initializer[i].dims.iter().product::<i64>() as usize;
    let strings = edit(|m| {
        let t = &mut m.graph.as_mut().unwrap().initializer[i];
        t.data_type = Some(8);
        t.raw_data = None;
        t.string_data = vec![bytes::Bytes::from_static(b"0.5"); numel];
    });
    refuse_proto("strings", &strings, Fails::Check, &[&format!("reads '{name}', a string tensor, where MatMul needs numbers")]);
    let raw = edit(|m| m.graph.as_mut().unwrap().initializer[i].data_type = Some(8));
    refuse_proto("string-raw", &raw, Fails::Load, &[&format!("tensor '{name}'"), "a string tensor cannot hold raw_data"]);
}

#[test]
fn cycles_undefined_inputs_and_duplicate_names_are_refused_naming_the_node() {
    let m = tiny();
    let g = m.graph.as_ref().unwrap();
    let last = g.node.len() - 1;
    // A node p feeding node c now also reads c's output: p → c → p.
    let (p, c) = (0..g.node.len())
        .flat_map(|c| (0..c).map(move |p| (p, c)))
        .find(|&(p, c)| g.node[c].input.contains(&g.node[p].output[0]) && !g.node[p].input.is_empty())
        .unwrap();
    let p_name = g.node[p].name.clone().unwrap();
    let cycle = edit(|m| {
        let g = m.graph.as_mut().unwrap();
        let back = g.node[c].output[0].clone();
        g.node[p].input[0] = back;
    });
    refuse_proto("cycle", &cycle, Fails::Check, &["the graph has a cycle", &p_name]);
    let undefined = edit(|m| m.graph.as_mut().unwrap().node[last].input[0] = "nowhere".into());
    let last_name = g.node[last].name.clone().unwrap();
    refuse_proto("undefined", &undefined, Fails::Check, &[&format!("'{last_name}'"), "reads 'nowhere', which no node, input or initializer defines"]);
    let dup_out = edit(|m| {
        let g = m.graph.as_mut().unwrap();
        let out = g.node[0].output[0].clone();
        g.node[1].output[0] = out;
    });
    let second = g.node[1].name.clone().unwrap();
    refuse_proto("dup-output", &dup_out, Fails::Check, &[&format!("'{second}'"), "which is already defined"]);
    let dup_init = edit(|m| {
        let g = m.graph.as_mut().unwrap();
        let t = g.initializer[0].clone();
        g.initializer.push(t);
    });
    let init = g.initializer[0].name.clone().unwrap();
    refuse_proto("dup-init", &dup_init, Fails::Check, &[&format!("initializer '{init}' is defined twice")]);
    let dup_input = edit(|m| {
        let g = m.graph.as_mut().unwrap();
        let v = g.input[0].clone();
        g.input.push(v);
    });
    let input = g.input[0].name.clone().unwrap();
    refuse_proto("dup-input", &dup_input, Fails::Check, &[&format!("graph input '{input}' is declared twice")]);
}

#[test]
fn unknown_ops_and_future_opsets_are_refused() {
    let m = tiny();
    let name = m.graph.as_ref().unwrap().node[3].name.clone().unwrap();
    let unknown = edit(|m| m.graph.as_mut().unwrap().node[3].op_type = Some("FrobnicateV2".into()));
    refuse_proto("unknown-op", &unknown, Fails::Check, &[&format!("'{name}' (FrobnicateV2)"), "is not an operator of the default ONNX domain"]);
    let future = edit(|m| {
        for o in &mut m.opset_import {
            if o.domain.as_deref().unwrap_or("").is_empty() {
                o.version = Some(1000);
            }
        }
    });
    refuse_proto("future", &future, Fails::Check, &["opset 1000 of the default domain is not a released ONNX opset"]);
}

/// A copy of bert-tiny in `dir` whose biggest weight is external, at `location`.
fn with_external(dir: &Path, location: &str, offset: u64, length: u64) -> PathBuf {
    let mut m = tiny();
    let i = big_initializer(&m);
    let t = &mut m.graph.as_mut().unwrap().initializer[i];
    t.raw_data = None;
    t.data_location = Some(DataLocation::External as i32);
    let kv = |k: &str, v: String| StringStringEntryProto { key: Some(k.into()), value: Some(v) };
    t.external_data = vec![kv("location", location.into()), kv("offset", offset.to_string()), kv("length", length.to_string())];
    let path = dir.join("model.onnx");
    fs::write(&path, m.encode_to_vec()).unwrap();
    path
}

#[test]
fn external_data_escaping_the_folder_or_the_file_is_refused() {
    let root = scratch("hostile-external");
    fs::write(root.path().join("secret.bin"), vec![7u8; 1 << 16]).unwrap();
    let absolute = root.path().join("secret.bin").to_string_lossy().into_owned();
    let cases: Vec<(&str, &str, u64, u64, &str)> = vec![
        ("dotdot", "../secret.bin", 0, 65536, "('..' is not allowed)"),
        ("absolute", &absolute, 0, 65536, "is an absolute path"),
        ("symlink", "link.bin", 0, 65536, "outside the model's folder"),
        ("eof", "ok.bin", 8, 65536, "past the end of 'ok.bin' (65536 bytes)"),
        ("overflow", "ok.bin", u64::MAX - 2, 65536, "offset + length overflows"),
        ("length", "ok.bin", 0, 1024, "external data holds 1024 bytes but dims [128, 128] need 65536"),
        ("missing", "missing.bin", 0, 65536, "missing.bin"),
    ];
    for (case, location, offset, length, needle) in cases {
        let dir = root.path().join(case);
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("ok.bin"), vec![0u8; 1 << 16]).unwrap();
        std::os::unix::fs::symlink(root.path().join("secret.bin"), dir.join("link.bin")).unwrap();
        let model = with_external(&dir, location, offset, length);
        assert_refused(&dir, &model, Fails::Load, &["model.onnx", "tensor '", needle]);
    }
}

/// A size the file claims must not be allocated: run inspect and rewrite under a 1 GiB address
/// space limit on a model claiming a 4 TiB tensor (and 16 EiB through external data).
#[test]
fn claimed_sizes_are_not_allocated() {
    let dir = scratch("hostile-rlimit");
    let m = tiny();
    let i = big_initializer(&m);
    let huge = edit(|m| m.graph.as_mut().unwrap().initializer[i].dims = vec![1 << 40]);
    let model = dir.path().join("huge.onnx");
    fs::write(&model, huge.encode_to_vec()).unwrap();
    let ext = with_external(dir.path(), "ok.bin", 0, 1 << 60);
    fs::write(dir.path().join("ok.bin"), vec![0u8; 1 << 16]).unwrap();
    for path in [&model, &ext] {
        for verb in ["inspect", "rewrite"] {
            let out = dir.path().join("out.onnx");
            let o = Command::new("sh")
                .arg("-c")
                .arg(r#"ulimit -v 1048576 && exec "$@""#)
                .arg("sh")
                .arg(env!("CARGO_BIN_EXE_squeezebench"))
                .arg(verb)
                .arg(path)
                .args(if verb == "rewrite" { vec!["-o", out.to_str().unwrap()] } else { vec![] })
                .output()
                .unwrap();
            let all = text(&o);
            assert_eq!(o.status.code(), Some(2), "{verb} {}: {all}", path.display());
            assert!(all.contains("tensor '") && !all.contains("memory allocation"), "{all}");
            assert!(!out.exists());
        }
    }
}

#[test]
fn the_input_is_never_the_output_however_it_is_spelled() {
    let dir = scratch("hostile-same");
    let model = dir.path().join("m.onnx");
    fs::copy(fixtures().join("bert-tiny.onnx"), &model).unwrap();
    std::os::unix::fs::symlink(&model, dir.path().join("link.onnx")).unwrap();
    fs::hard_link(&model, dir.path().join("hard.onnx")).unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    let before = digest(&model);
    let spellings = [
        model.clone(),
        dir.path().join(".").join("m.onnx"),
        dir.path().join("sub").join("..").join("m.onnx"),
        dir.path().join("link.onnx"),
        dir.path().join("hard.onnx"),
    ];
    for out in &spellings {
        for force in [false, true] {
            for passes in [None, Some("default")] {
                let mut cmd = bin();
                cmd.arg("rewrite").arg(&model).arg("-o").arg(out);
                if force {
                    cmd.arg("--force");
                }
                if let Some(p) = passes {
                    cmd.args(["--passes", p]);
                }
                let o = cmd.output().unwrap();
                let all = text(&o);
                assert_eq!(o.status.code(), Some(2), "{}: {all}", out.display());
                assert!(all.contains("refusing to write") && all.contains("it is the input model"), "{}: {all}", out.display());
                assert_eq!(digest(&model), before, "{} modified the input", out.display());
            }
        }
    }
    // Relative spelling from the model's folder.
    let o = bin().current_dir(dir.path()).args(["rewrite", "m.onnx", "-o", "./m.onnx", "--force"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(digest(&model), before);
    let left = leftovers(dir.path(), &[&model, &dir.path().join("link.onnx"), &dir.path().join("hard.onnx"), &dir.path().join("sub")]);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn outputs_are_not_overwritten_without_force_and_failures_leave_nothing() {
    let dir = scratch("hostile-force");
    let model = fixtures().join("bert-tiny.onnx");
    let before = digest(&model);
    let out = dir.path().join("out.onnx");
    fs::write(&out, b"keep me").unwrap();
    for args in [
        vec!["rewrite".to_string(), model.to_string_lossy().into(), "-o".into(), out.to_string_lossy().into()],
        vec!["rewrite".to_string(), model.to_string_lossy().into(), "--passes".into(), "default".into(), "-o".into(), out.to_string_lossy().into()],
        vec!["synth".to_string(), "--arch".into(), "bert".into(), "--set".into(), "num_hidden_layers=1".into(), "-o".into(), out.to_string_lossy().into()],
    ] {
        let o = bin().args(&args).output().unwrap();
        let all = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {all}");
        assert!(all.contains("the file exists (pass --force to replace it)"), "{all}");
        assert_eq!(fs::read(&out).unwrap(), b"keep me");
    }
    // An external data file beside the output is protected the same way.
    let ext = dir.path().join("ext.onnx");
    fs::write(dir.path().join("ext.onnx.data"), b"keep me too").unwrap();
    let o = bin().arg("rewrite").arg(&model).args(["--external", "external", "-o"]).arg(&ext).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("ext.onnx.data") && text(&o).contains("--force"), "{}", text(&o));
    assert_eq!(fs::read(dir.path().join("ext.onnx.data")).unwrap(), b"keep me too");
    assert!(!ext.exists());

    // A target that cannot be replaced (a folder) fails after writing the temporary file: the
    // temporary file is removed.
    let folder = dir.path().join("folder.onnx");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("inside"), b"x").unwrap();
    let o = bin().arg("rewrite").arg(&model).arg("-o").arg(&folder).arg("--force").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("folder.onnx"), "{}", text(&o));
    // A folder that does not exist.
    let o = bin().arg("rewrite").arg(&model).arg("-o").arg(dir.path().join("nope/out.onnx")).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("nope"), "{}", text(&o));
    let left = leftovers(dir.path(), &[&out, &folder, &dir.path().join("ext.onnx.data")]);
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(digest(&model), before);
}

/// A bert-tiny checkpoint with `edit` applied to the safetensors bytes.
fn hostile_checkpoint(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let sub = dir.join(name);
    fs::create_dir(&sub).unwrap();
    fs::copy(fixtures().join("bert-tiny/config.json"), sub.join("config.json")).unwrap();
    let path = sub.join("model.safetensors");
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn hostile_safetensors_checkpoints_are_refused_by_synth() {
    let dir = scratch("hostile-safetensors");
    let good = fs::read(fixtures().join("bert-tiny/model.safetensors")).unwrap();
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&good[8..8 + n]).unwrap().to_string();
    let with_header = |h: &str| {
        let mut v = (h.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(&good[8 + n..]);
        v
    };
    // The first tensor in the header: make its offsets run past the end of the file.
    let first_end = header.find("\"data_offsets\":[").unwrap() + "\"data_offsets\":[".len();
    let close = first_end + header[first_end..].find(']').unwrap();
    let past_eof = format!("{}0,99999999999{}", &header[..first_end], &header[close..]);
    let mut huge_header = good.clone();
    huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("garbage", b"definitely not safetensors".to_vec(), "not a safetensors file"),
        ("empty", vec![], "not a safetensors file"),
        ("truncated", good[..good.len() / 2].to_vec(), "not a safetensors file"),
        ("header-length", huge_header, "not a safetensors file"),
        ("header-json", with_header("{\"a\": [1, 2"), "not a safetensors file"),
        ("offsets", with_header(&past_eof), "not a safetensors file"),
        ("dtype", with_header(&header.replace("\"F32\"", "\"I32\"")), "dtype I32 is not supported"),
    ];
    for (name, bytes, needle) in cases {
        let weights = hostile_checkpoint(dir.path(), name, &bytes);
        let out = dir.path().join(name).join("out.onnx");
        let before = digest(&weights);
        let o = bin().args(["synth", "--arch", "bert", "--weights"]).arg(&weights).arg("-o").arg(&out).output().unwrap();
        let all = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {all}");
        assert!(all.contains(needle) && all.contains("model.safetensors") && !all.contains("panicked"), "{name}: {all}");
        assert!(!out.exists());
        assert_eq!(digest(&weights), before);
    }
}

#[test]
fn absurd_synth_sizes_are_refused_before_allocating() {
    let dir = scratch("hostile-synth-size");
    let out = dir.path().join("out.onnx");
    for set in ["vocab_size=100000000000", "hidden_size=4611686018427387904", "num_hidden_layers=1000000000"] {
        let o = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -v 2097152 && exec "$@""#)
            .arg("sh")
            .arg(env!("CARGO_BIN_EXE_squeezebench"))
            .args(["synth", "--arch", "bert", "--set", set, "-o"])
            .arg(&out)
            .output()
            .unwrap();
        let all = text(&o);
        assert_eq!(o.status.code(), Some(2), "{set}: {all}");
        assert!(all.contains("parameters") && all.contains("limit"), "{set}: {all}");
        assert!(!out.exists());
    }
}

/// `dir/run/results.json` of a one-case run of bert-tiny (params only) from `dir/s.yaml`.
fn one_case_results(dir: &Path) -> PathBuf {
    let m = fixtures().join("bert-tiny.onnx");
    fs::write(dir.join("s.yaml"), format!("models:\n  m: {{path: {}}}\nworkloads: {{batch: [1], seq: [8], threads: [1]}}\nmetrics: [params]\n", m.display())).unwrap();
    let o = bin().args(["run", "s.yaml", "--out", "run", "--cache-dir", "cache", "--no-progress"]).current_dir(dir).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    dir.join("run/results.json")
}

/// Every verb's printing with its stdout, then its stderr, already closed (`| head` that has
/// exited): the process ends quietly by SIGPIPE or finishes with exit 0, never with a panic
/// ("failed printing to stdout: Broken pipe", exit 101). The runs use the small fixtures.
#[test]
fn a_closed_stdout_or_stderr_ends_every_verb_quietly() {
    use std::os::unix::process::ExitStatusExt;
    const SIGPIPE: i32 = 13;
    let dir = scratch("hostile-pipe");
    let d = dir.path();
    let model = fixtures().join("bert-tiny.onnx");
    let m = model.to_str().unwrap();
    // A results file for gate and report: a one-case run of the same model.
    let results = one_case_results(d);
    let r = results.to_str().unwrap();
    let verbs: Vec<Vec<&str>> = vec![
        vec!["inspect", m],
        vec!["inspect", m, "--json"],
        vec!["inspect", m, "--check"],
        vec!["run", "s.yaml", "--dry-run"],
        vec!["gate", "--baseline", r, "--current", r],
        vec!["report", r, "--out", "reports"],
        vec!["rewrite", m, "-o", "rw.onnx", "--force", "--passes", "default", "--report"],
        vec!["quantize", m, "-o", "q.onnx", "--force", "--verify", "1"],
        vec!["synth", "--arch", "bert", "--set", "num_hidden_layers=1", "--set", "hidden_size=32", "--set", "num_attention_heads=2", "--set", "intermediate_size=64", "-o", "s.onnx", "--force"],
        vec!["profile", m, "--seq", "8", "--runs", "2"],
        vec!["bench", m, "--seq", "8", "--threads", "1", "--rounds", "1", "--min-time", "0.1", "--cache-dir", "cache"],
        vec!["--help"],
    ];
    for args in &verbs {
        for closed in ["stdout", "stderr"] {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let mut c = bin();
            c.args(args).current_dir(d);
            if closed == "stdout" {
                c.stdout(writer);
            } else {
                c.stderr(writer).stdout(std::process::Stdio::null());
            }
            let o = c.output().unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            let quiet = o.status.success() || o.status.signal() == Some(SIGPIPE);
            assert!(quiet, "{args:?} with {closed} closed: {:?} {stderr}", o.status);
            assert!(!stderr.contains("panicked"), "{args:?} with {closed} closed: {stderr}");
        }
    }
}

/// Every numeric flag is checked where it is read: NaN, infinities, negatives, absurd sizes
/// (`--samples 18446744073709551615` overflowed an allocation) and zero where it means nothing
/// (`quantize --mode static --seq 0` ended in an ONNX Runtime Reshape error) are refused with exit
/// 2 and a message naming the flag and its range, before anything is read or written.
#[test]
fn numeric_flags_out_of_range_are_refused_naming_the_flag() {
    let dir = scratch("hostile-flags");
    let d = dir.path();
    let m = fixtures().join("bert-tiny.onnx");
    let m = m.to_str().unwrap();
    let q = ["quantize", m, "-o", "q.onnx", "--mode", "static"];
    // (verb and its arguments, then the flag, its bad value, and what the message says of the range)
    fn with<'a>(verb: &[&'a str], flag: &'a str, value: &'a str) -> Vec<&'a str> {
        [verb, &[flag, value]].concat()
    }
    let runs: Vec<(Vec<&str>, &str, &str)> = vec![
        (with(&q, "--samples", "18446744073709551615"), "--samples <N>", "expected a whole number from 1 to 100000"),
        (with(&q, "--samples", "1e12"), "--samples <N>", "from 1 to 100000"),
        (with(&q, "--samples", "0"), "--samples <N>", "from 1 to 100000"),
        (with(&q, "--seq", "0"), "--seq <N>", "expected a whole number from 1 to 65536"),
        (with(&q, "--threads", "100000"), "--threads <THREADS>", "from 0 to 1024"),
        (with(&q, "--verify", "100001"), "--verify <N>", "from 0 to 100000"),
        (with(&q, "--text-column", "99999999999"), "--text-column <N>", "from 0 to 10000"),
        (with(&q, "--max-drop", "nan"), "--max-drop <X>", "expected a number from 0 to 2"),
        (with(&q, "--max-drop", "2.5"), "--max-drop <X>", "from 0 to 2"),
        (with(&q, "--target-fidelity", "nan"), "--target-fidelity <X>", "expected a number from 0 to 1"),
        (with(&q, "--target-fidelity", "inf"), "--target-fidelity <X>", "from 0 to 1"),
        (with(&[&q[..], &["--eval", "e.tsv"]].concat(), "--max-accuracy-drop", "nan"), "--max-accuracy-drop <X>", "from 0 to 100"),
        (with(&q, "--time-budget", "inf"), "--time-budget <S>", "from 0 to 604800"),
        (with(&["inspect", "m.onnx"], "--seq", "0"), "--seq <SEQ>", "1..=65536"),
        (with(&["inspect", "m.onnx"], "--batch", "99999999999"), "--batch <BATCH>", "1..=4096"),
        (with(&["run", "s.yaml"], "--jobs", "0"), "--jobs <JOBS>", "1..=1024"),
        (with(&["profile", "m.onnx"], "--runs", "0"), "--runs <RUNS>", "1..=100000"),
    ];
    for (args, flag, range) in runs {
        let o = bin().args(&args).current_dir(d).output().unwrap();
        let all = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {all}");
        let value = args[args.len() - 1];
        assert!(all.contains(&format!("invalid value '{value}' for '{flag}'")), "{args:?}: {all}");
        assert!(all.contains(range), "{args:?}: {all}");
        assert!(!all.contains("panicked"), "{args:?}: {all}");
        assert!(leftovers(d, &[]).is_empty(), "{args:?}: nothing written");
    }
}

/// Runs `c` and kills it if it has not ended within `secs` (a reader blocked on a FIFO).
fn output_within(mut c: Command, secs: u64) -> Output {
    let mut child = c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let t = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed().as_secs() >= secs {
            child.kill().unwrap();
            panic!("still running after {secs} s: {c:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A FIFO (which blocked `inspect` forever) or `/dev/zero` (read until the allocator gave up) as a
/// model, suite, results or data file is refused before it is opened, with a message that says
/// what it is instead of "does not exist".
#[test]
fn fifos_and_devices_are_refused_before_reading_saying_what_they_are() {
    let dir = scratch("hostile-fifo");
    let d = dir.path();
    let fifo = d.join("pipe.onnx");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let f = fifo.to_str().unwrap();
    let m = fixtures().join("bert-tiny.onnx");
    let m = m.to_str().unwrap();
    let fifo_says = format!("'{f}': it is a FIFO (named pipe), not a regular file");
    let zero_says = "'/dev/zero': it is a character device, not a regular file".to_string();
    let bench_says = format!("model '{f}' is a FIFO (named pipe), not a regular file");
    // A results file for gate --thresholds, in a folder of its own.
    let run_dir = scratch("hostile-fifo-run");
    let results = one_case_results(run_dir.path());
    let r = results.to_str().unwrap();
    let runs: Vec<(Vec<&str>, &str)> = vec![
        (vec!["inspect", f], &fifo_says),
        (vec!["inspect", "/dev/zero", "--json"], &zero_says),
        (vec!["rewrite", f, "-o", "out.onnx"], &fifo_says),
        (vec!["quantize", "/dev/zero", "-o", "out.onnx"], &zero_says),
        (vec!["profile", f], &fifo_says),
        (vec!["run", f], &fifo_says),
        (vec!["gate", "--baseline", "/dev/zero", "--current", f], &zero_says),
        (vec!["report", f, "--out", "rep"], &fifo_says),
        (vec!["bench", f], &bench_says),
        (vec!["synth", "--arch", "bert", "--config", f, "-o", "s.onnx"], &fifo_says),
        (vec!["synth", "--arch", "bert", "--weights", "/dev/zero", "-o", "s.onnx"], &zero_says),
        (vec!["gate", "--baseline", r, "--current", r, "--thresholds", f], &fifo_says),
        (vec!["quantize", m, "-o", "out.onnx", "--check", f], &fifo_says),
    ];
    for (args, says) in runs {
        let mut c = bin();
        c.args(&args).current_dir(d);
        let o = output_within(c, 30);
        let all = text(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {all}");
        assert!(all.contains(says), "{args:?}: expected {says:?} in {all}");
        assert!(!all.contains("does not exist") && !all.contains("panicked"), "{args:?}: {all}");
    }
    assert_eq!(leftovers(d, &[&fifo]), Vec::<String>::new(), "nothing written");
    // In a suite: at the model's place, before anything runs.
    fs::write(d.join("s.yaml"), format!("models:\n  a: {{path: {f}}}\n  b: {{path: /dev/zero}}\n")).unwrap();
    let mut c = bin();
    c.args(["run", "s.yaml", "--dry-run"]).current_dir(d);
    let all = text(&output_within(c, 30));
    assert!(all.contains(&format!("model 'a': '{f}' is a FIFO (named pipe), not a regular file")), "{all}");
    assert!(all.contains("model 'b': '/dev/zero' is a character device, not a regular file"), "{all}");
}
