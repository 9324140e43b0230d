//! Load/save of ONNX models: byte-identical roundtrips on real models, external data, safe paths
//! and the refusals that protect the user's files.

mod common;

use std::fs;

use prost::Message;
use squeezebench::onnx::proto::{tensor_proto::DataLocation, StringStringEntryProto, TensorProto};
use squeezebench::onnx::{check, ExternalMode, Model, SaveOptions};

use common::{files_with_suffix, fixtures, onnx_test_data, scratch};

fn fixture_models() -> Vec<std::path::PathBuf> {
    vec![fixtures().join("bert-tiny.onnx"), fixtures().join("squeezebert-tiny.onnx")]
}

/// prost drops fields it does not know and proto2 presence matters, so the only convincing test
/// of the schema is that every real model comes back byte for byte.
#[test]
fn every_onnx_wheel_test_model_roundtrips_byte_identically() {
    let models = files_with_suffix(onnx_test_data(), ".onnx");
    assert!(models.len() >= 140, "expected the onnx wheel's ~149 test models, found {}", models.len());
    let mut failures = Vec::new();
    for path in &models {
        let original = fs::read(path).unwrap();
        match Model::load(path) {
            Ok(m) if m.to_bytes() == original => {}
            Ok(_) => failures.push(format!("{}: bytes differ after roundtrip", path.display())),
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{} of {} models failed:\n{}", failures.len(), models.len(), failures.join("\n"));
}

/// The `.pb` files beside the test models are bare TensorProtos (inputs and expected outputs).
#[test]
fn every_onnx_wheel_test_tensor_roundtrips_byte_identically() {
    let tensors = files_with_suffix(onnx_test_data(), ".pb");
    assert!(!tensors.is_empty());
    for path in &tensors {
        let original = fs::read(path).unwrap();
        let t = TensorProto::decode(original.as_slice()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(t.encode_to_vec(), original, "{}", path.display());
    }
}

#[test]
fn fixtures_roundtrip_through_save_and_pass_the_structural_check() {
    let dir = scratch("fixture-save");
    for path in fixture_models() {
        let original = fs::read(&path).unwrap();
        let model = Model::load(&path).unwrap();
        assert_eq!(check::check(&model), vec![], "{}", path.display());
        let out = dir.path().join(path.file_name().unwrap());
        let summary = model.save(&out, &SaveOptions::default()).unwrap();
        assert_eq!(summary.bytes, original.len() as u64);
        assert!(summary.external.is_none());
        assert_eq!(fs::read(&out).unwrap(), original, "{}", path.display());
    }
}

#[test]
fn external_data_saves_and_loads_back_to_the_same_model() {
    let dir = scratch("external");
    let src = fixtures().join("bert-tiny.onnx");
    let original = fs::read(&src).unwrap();
    let model = Model::load(&src).unwrap();

    let ext = dir.path().join("ext.onnx");
    let opts = SaveOptions { external: ExternalMode::External, ..Default::default() };
    let summary = model.save(&ext, &opts).unwrap();
    let (data_path, data_len) = summary.external.clone().unwrap();
    assert_eq!(data_path, dir.path().join("ext.onnx.data"));
    assert!(summary.external_tensors > 0);
    assert!(summary.bytes < 100_000, "weights moved out: .onnx is {} bytes", summary.bytes);
    assert_eq!(fs::metadata(&data_path).unwrap().len(), data_len);

    let loaded = Model::load(&ext).unwrap();
    assert_eq!(check::check(&loaded), vec![]);
    for (a, b) in model.graph().initializer.iter().zip(&loaded.graph().initializer) {
        assert_eq!(model.tensor_bytes(a).unwrap(), loaded.tensor_bytes(b).unwrap(), "{:?}", a.name);
    }
    // Saving the external model inline restores the original file exactly.
    let back = dir.path().join("back.onnx");
    loaded.save(&back, &SaveOptions { external: ExternalMode::Inline, ..Default::default() }).unwrap();
    assert_eq!(fs::read(&back).unwrap(), original);
    // Auto keeps a model with external data external, even into another folder.
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let again = loaded.save(sub.join("m.onnx"), &SaveOptions::default()).unwrap();
    assert!(again.external.is_some());
    assert_eq!(check::check(&Model::load(sub.join("m.onnx")).unwrap()), vec![]);
}

#[test]
fn auto_mode_switches_to_external_data_past_the_size_limit() {
    let dir = scratch("auto-limit");
    let model = Model::load(fixtures().join("bert-tiny.onnx")).unwrap();
    let out = dir.path().join("big.onnx");
    // The real limit is 2 GiB; lower it so the tiny fixture crosses it.
    let summary = model.save(&out, &SaveOptions { inline_limit: 1_000_000, ..Default::default() }).unwrap();
    assert!(summary.external.is_some(), "a model over the limit must be saved with external data");
    let inline = SaveOptions { inline_limit: 1_000_000, external: ExternalMode::Inline, ..Default::default() };
    assert!(model.save(dir.path().join("x.onnx"), &inline).is_ok(), "Inline is honoured below 2 GiB");
}

/// Builds a folder with a one-tensor model whose data points at `location`.
fn model_with_location(dir: &std::path::Path, location: &str, offset: u64, length: u64) -> std::path::PathBuf {
    let mut model = Model::load(fixtures().join("bert-tiny.onnx")).unwrap();
    let t = &mut model.graph_mut().initializer[0];
    t.dims = vec![(length / 4) as i64];
    t.raw_data = None;
    t.data_location = Some(DataLocation::External as i32);
    let kv = |k: &str, v: String| StringStringEntryProto { key: Some(k.into()), value: Some(v) };
    t.external_data = vec![kv("location", location.into()), kv("offset", offset.to_string()), kv("length", length.to_string())];
    let path = dir.join("model.onnx");
    fs::write(&path, model.to_bytes()).unwrap();
    path
}

#[test]
fn external_locations_outside_the_model_folder_are_refused() {
    let root = scratch("escape");
    let inner = root.path().join("model");
    fs::create_dir(&inner).unwrap();
    fs::write(root.path().join("secret.bin"), vec![7u8; 64]).unwrap();
    fs::write(inner.join("ok.bin"), vec![0u8; 64]).unwrap();

    let absolute = root.path().join("secret.bin").to_string_lossy().into_owned();
    let cases = [("../secret.bin", "('..' is not allowed)"), (absolute.as_str(), "is an absolute path")];
    for (location, expected) in cases {
        let path = model_with_location(&inner, location, 0, 64);
        let err = Model::load(&path).unwrap_err().to_string();
        assert!(err.contains(expected) && err.contains("model.onnx") && err.contains("tensor '"), "{location}: {err}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.path().join("secret.bin"), inner.join("link.bin")).unwrap();
        let path = model_with_location(&inner, "link.bin", 0, 64);
        let err = Model::load(&path).unwrap_err().to_string();
        assert!(err.contains("outside the model's folder"), "{err}");
    }
    let path = model_with_location(&inner, "ok.bin", 32, 64);
    let err = Model::load(&path).unwrap_err().to_string();
    assert!(err.contains("past the end of 'ok.bin' (64 bytes)"), "{err}");
    let path = model_with_location(&inner, "missing.bin", 0, 64);
    let err = Model::load(&path).unwrap_err().to_string();
    assert!(err.contains("missing.bin"), "{err}");
    let path = model_with_location(&inner, "ok.bin", 0, 64);
    assert!(Model::load(&path).is_ok(), "a location inside the folder loads");
}

#[test]
fn saving_never_overwrites_the_input_or_an_existing_file_without_force() {
    let dir = scratch("refuse");
    let src = dir.path().join("m.onnx");
    fs::copy(fixtures().join("bert-tiny.onnx"), &src).unwrap();
    let before = fs::read(&src).unwrap();
    let model = Model::load(&src).unwrap();

    let err = model.save(&src, &SaveOptions { force: true, ..Default::default() }).unwrap_err().to_string();
    assert!(err.contains("it is the input model"), "{err}");
    let via_dot = dir.path().join(".").join("m.onnx");
    assert!(model.save(&via_dot, &SaveOptions { force: true, ..Default::default() }).is_err());
    assert_eq!(fs::read(&src).unwrap(), before, "the input is untouched");

    let out = dir.path().join("out.onnx");
    fs::write(&out, b"keep me").unwrap();
    let err = model.save(&out, &SaveOptions::default()).unwrap_err().to_string();
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(fs::read(&out).unwrap(), b"keep me");
    model.save(&out, &SaveOptions { force: true, ..Default::default() }).unwrap();
    assert_eq!(fs::read(&out).unwrap(), before);
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains(".tmp")).collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn garbage_and_truncated_files_give_errors_naming_the_file() {
    let dir = scratch("garbage");
    let garbage = dir.path().join("garbage.onnx");
    fs::write(&garbage, b"this is not a protobuf \xff\xff\xff\xff").unwrap();
    let err = Model::load(&garbage).unwrap_err().to_string();
    assert!(err.contains("garbage.onnx") && err.contains("not a valid ONNX model"), "{err}");

    let bytes = fs::read(fixtures().join("bert-tiny.onnx")).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let err = Model::load(&truncated).unwrap_err().to_string();
    assert!(err.contains("truncated.onnx"), "{err}");

    let err = Model::load(dir.path().join("absent.onnx")).unwrap_err().to_string();
    assert!(err.contains("absent.onnx"), "{err}");
}
