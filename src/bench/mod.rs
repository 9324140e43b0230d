//! Running a suite: checking it against the files it names ([`preflight`]), preparing models and
//! variants ([`prepare`], cached by content hash), running each case in a worker process
//! ([`worker`]) and scheduling the workers ([`runner`]).

pub mod peak;
pub mod preflight;
pub mod prepare;
pub mod runner;
pub mod worker;

pub use runner::{run, RunOptions};
