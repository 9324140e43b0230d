//! The `squeezebench` command line: parses arguments, calls one library function per verb
//! (`squeezebench::app`) and maps its outcome to an exit code. Nothing else lives here.
//!
//! Exit codes: 0 success, 1 a check failed (structural check, gate regression, fidelity bound,
//! accuracy goal), 2 an error (bad input, missing file, runtime failure), 3 a suite case failed,
//! 130 a suite run was interrupted (Ctrl-C, SIGTERM or SIGHUP).
//!
//! A closed stdout or stderr (`squeezebench inspect m.onnx --json | head`) ends the process
//! quietly by SIGPIPE, as `cat` and other Unix filters end (the shell reports status 141): Rust
//! ignores SIGPIPE by default, which turns every print into a panic (exit 101) instead.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use squeezebench::app;

#[derive(Parser)]
#[command(name = "squeezebench", version, about = "Compress and benchmark BERT-family encoders in ONNX.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a model: interface, opsets, ops, parameters, size and MACs/FLOPs.
    ///
    /// Exit 0, or 1 when the structural check finds problems (listed on stderr), or 2 when the
    /// file cannot be read as a model.
    ///
    /// Example: squeezebench inspect fixtures/bert-tiny.onnx --batch 1 --seq 128 --json
    Inspect(app::InspectArgs),
    /// Rewrite a model's graph with passes (or just load and save it), and write the result.
    ///
    /// With no --passes this is a plain load/save: the output is byte-identical to the input unless
    /// the storage of weights changes (--external). The input file is never modified. A model that
    /// fails the structural check (see `inspect --check`) is refused before anything is written.
    ///
    /// Example: squeezebench rewrite model.onnx -o model-opt.onnx --passes default --report
    Rewrite(app::rewrite::Args),
    /// Quantize a model to 8 bits, write it, then check it against the float model in ONNX Runtime.
    ///
    /// Auto (default): the float model first runs on --calibration data (32 seeded token batches
    /// unless given); each MatMul input with outlier channels (a channel 8x the median channel's
    /// range or more, as real checkpoints' GELU and LayerNorm outputs have) gets that calibrated
    /// range and per-channel weights, every other one is quantized at run time. Dynamic: MatMul/Gemm
    /// weights int8, activations quantized at run time by ONNX Runtime's integer kernels. Static:
    /// every activation range calibrated (streaming min/max or histograms), written as QuantizeLinear
    /// and ONNX Runtime's MatMulIntegerToFloat (--qdq: portable QuantizeLinear/DequantizeLinear
    /// pairs). Weight-only: int8 weights, DequantizeLinear at load, float compute. SqueezeBERT's
    /// pointwise Convs are first rewritten to MatMul (never ConvInteger).
    /// Weight type, activation type and reduce-range default from the CPU (VNNI: s8 weights, u8
    /// activations, full range; no VNNI: reduce-range), shown in the summary.
    ///
    /// After writing, both models run on --verify N seeded token batches (or --check DATA) and the
    /// cosine, max abs error and top-1 agreement of logits are printed. Exit 1 when --max-drop is
    /// given and exceeded (the output is kept for inspection).
    ///
    /// With --target-fidelity or --max-accuracy-drop, the nodes that hurt most are kept in float
    /// until the goal holds (within --time-budget); the best model found is written either way, the
    /// float nodes are listed, and the exit status is 1 when the goal was not met.
    ///
    /// Example: squeezebench quantize fixtures/hf/bert-base.onnx -o bert-int8.onnx --per-channel --max-drop 0.02
    ///
    /// Example: squeezebench quantize model.onnx -o int8.onnx --mode static --method percentile:99.99 --target-fidelity 0.99
    Quantize(app::quantize::Args),
    /// Build a BERT or SqueezeBERT ONNX graph (opset 17) from a config, with seeded random weights
    /// or the weights of a Hugging Face safetensors checkpoint.
    ///
    /// Config keys follow Hugging Face's BertConfig / SqueezeBertConfig; defaults are
    /// bert-base-uncased and squeezebert-uncased. Outputs: last_hidden_state and pooler_output, or
    /// last_hidden_state and logits with a classification head.
    ///
    /// Example: squeezebench synth --arch squeezebert --set num_hidden_layers=6 --set q_groups=8 -o sq6.onnx
    Synth(app::SynthArgs),
    /// Run a benchmark suite (YAML): every model × variant × workload as a case in its own worker
    /// process; writes OUT/results.json after every case, then the reports (report.md,
    /// report.html, results.csv, charts/) as `squeezebench report` does.
    ///
    /// Exit codes: 0 every case ok; 2 the suite is invalid or the run could not start; 3 at least
    /// one case failed, crashed or timed out (recorded in results.json, the others ran); 130
    /// interrupted by Ctrl-C, SIGTERM or SIGHUP (finished cases are kept). Workers die with the
    /// runner, even when it is killed with SIGKILL.
    ///
    /// Example: squeezebench run suites/quick.yaml --dry-run
    Run(app::run::Args),
    /// Measure one or more models with no suite file, interleaved in rounds, and compare each with
    /// the first: p50 with its 95 % interval, p99, throughput, and the speed-up with its interval.
    ///
    /// Each model runs in its own worker process with the statistics of `run`. Exit 0, 2 on bad
    /// input, 3 when a model failed in ONNX Runtime, 130 when interrupted.
    ///
    /// Example: squeezebench bench fixtures/bert-tiny.onnx fixtures/squeezebert-tiny.onnx --seq 128
    Bench(app::bench::Args),
    /// Internal: run one case of a suite (started by `run`).
    #[command(name = "__worker", hide = true)]
    Worker { job: PathBuf, result: PathBuf },
    /// Compare a current run with a baseline run and fail on regressions: latency p50/p99 (past
    /// the threshold AND beyond the confidence intervals), throughput, accuracy (vs the baseline
    /// and vs the model's reference variant), fidelity floor, size on disk and peak memory.
    ///
    /// Prints a Markdown table of every check. Exit 0 pass, 1 at least one regression, 2 error (a
    /// baseline case missing from the current run or not ok in the baseline, unreadable file or
    /// other schema version, runs from different environments unless --allow-env-change).
    ///
    /// Example: squeezebench gate --baseline baselines/ci/main.json --current runs/ci/results.json --summary "$GITHUB_STEP_SUMMARY"
    Gate(app::GateArgs),
    /// Run a model in ONNX Runtime with its profiler and print where the time of a run goes: per
    /// family (GEMM, attention, normalization, activation, layout and copies,
    /// quantize/dequantize, other) and per op type of the graph ONNX Runtime ran (after its
    /// fusions), calls and milliseconds per run, share of the run, and the GMAC/s the GEMM-like
    /// kernels reached. Exit 2 when ONNX Runtime refuses the model (its message and the file).
    ///
    /// Example: squeezebench profile fixtures/bert-tiny.onnx --seq 128 --threads 2 --runs 50 --nodes
    Profile(app::profile::Args),
    /// Render the reports of a suite run from its results.json: report.md (fits a pull-request
    /// comment), report.html (self-contained, charts inlined), results.csv, results.json and
    /// charts/*.svg and *.png, into --out (created if missing; earlier reports are replaced).
    ///
    /// Example: squeezebench report out/quick/results.json --out reports/quick
    Report(app::ReportArgs),
    /// Join the results of a suite's shards (`run --shard K/N`) into one run, checked: one tool
    /// version, one suite hash and plan, every case in its planned shard, every planned case
    /// exactly once per testbed. Writes OUT/results.json and its reports, which `report` and
    /// `gate` read like any run's.
    ///
    /// Exit 0, or 2 listing every problem (each naming the file and the case). With
    /// --allow-partial, missing cases are listed and the result is marked incomplete.
    ///
    /// Example: squeezebench merge runs/ci/shard-*/results.json -o runs/ci/merged
    Merge(app::scale::MergeArgs),
    /// Split a suite into shards for several machines: print which models and cases each shard
    /// runs (a model's cases stay on one shard, shards balanced by expected cost), or write job
    /// files that run them on an existing engine and merge the results.
    ///
    /// Example: squeezebench plan suites/ci.yaml --shards 3 --emit slurm -o jobs/ci
    Plan(app::scale::PlanArgs),
}


fn main() -> ExitCode {
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let matches = Cli::command().mut_subcommand("rewrite", |c| c.after_help(app::rewrite::pass_list())).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let outcome = match cli.command {
        Command::Inspect(a) => app::inspect(a),
        Command::Rewrite(a) => app::rewrite::rewrite(a),
        Command::Quantize(a) => app::quantize::quantize(a),
        Command::Synth(a) => app::synth(a),
        Command::Run(a) => app::run::run(a),
        Command::Bench(a) => app::bench::bench(a),
        Command::Worker { job, result } => squeezebench::bench::worker::main(&job, &result).map(|()| app::Outcome::Ok).map_err(app::Error::from),
        Command::Gate(a) => app::gate(a),
        Command::Profile(a) => app::profile::profile(a),
        Command::Report(a) => app::report(a),
        Command::Merge(a) => app::scale::merge(a),
        Command::Plan(a) => app::scale::plan(a),
    };
    match outcome {
        Ok(o) => ExitCode::from(o.exit_code()),
        Err(e) => {
            let mut shown = e.to_string();
            eprintln!("error: {shown}");
            // Most messages already end with their cause: a cause is printed only when its text
            // has not been.
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                let text = s.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown.push_str(&text);
                }
                source = s.source();
            }
            ExitCode::from(2)
        }
    }
}
