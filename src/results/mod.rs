//! Results of a suite run: the `results.json` schema ([`record`]) and the environment manifest
//! ([`env`]). Measuring code fills these structs; reports and the gate read only them.
//!
//! A run writes `results.json` after every case (atomically), so a crash, a kill or Ctrl-C in a
//! later case loses nothing that finished.

pub mod env;
pub mod record;
pub mod shard;
pub mod store;
pub mod thresholds;

pub use env::{Cpu, Environment, Os};
pub use thresholds::Thresholds;
pub use shard::{merge, MergeError, MergeInfo, MergedFile, PlannedCase, ShardPlan, Testbed, PLAN_ALGORITHM};
pub use record::{
    Accuracy, Attainable, CaseResult, DatasetInfo, Error, Fidelity, Latency, Memory, ModelInfo, OutputFidelity, Params, Results,
    Status, SuiteInfo, TimeProfile, VariantInfo, Workload, SCHEMA_VERSION,
};
