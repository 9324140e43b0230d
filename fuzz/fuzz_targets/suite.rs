//! The suite target of `squeezebench::fuzz` under libFuzzer: parse, validate, expand, JSON
//! round trip and the pre-run checks against a sandbox folder's files. Seed it from
//! fuzz/seeds/suite and suites/.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use squeezebench::fuzz::{suite_sandbox, suite_target, Target};

fn target() -> &'static Target {
    static T: OnceLock<Target> = OnceLock::new();
    T.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("squeezebench-cargo-fuzz-suite-{}", std::process::id()));
        suite_target(suite_sandbox(&dir).expect("sandbox folder"))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = (target().run)(data);
});
