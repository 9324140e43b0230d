//! The ONNX target of `squeezebench::fuzz` under libFuzzer: load, structural check, inspect, shape
//! inference and the default passes; external data resolves in a sandbox folder.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use squeezebench::fuzz::{onnx_sandbox, onnx_target, Target};

fn target() -> &'static Target {
    static T: OnceLock<Target> = OnceLock::new();
    T.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("squeezebench-cargo-fuzz-{}", std::process::id()));
        onnx_target(onnx_sandbox(&dir).expect("sandbox folder"))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = (target().run)(data);
});
