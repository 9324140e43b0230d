//! Benchmark suites: the YAML spec, its validation and its expansion into cases.

pub mod thresholds;

pub use thresholds::Thresholds;
