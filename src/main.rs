//! The `squeezebench` command line: parses arguments and calls the library. Nothing else lives here.
//!
//! Exit codes: 0 success, 1 a check failed (gate regression, fidelity bound), 2 an error
//! (bad input, missing file, runtime failure).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use squeezebench::onnx::{check, shapes, stats, ExternalMode, Model, SaveOptions};
use squeezebench::gate;
use squeezebench::passes;
use squeezebench::quant::{self, verify, ConvStrategy, DynamicForm, QType, QuantizeOptions};
use squeezebench::synth::{self, Arch, Head};

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
    Inspect {
        /// The .onnx file (external data is read from its folder).
        model: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Batch size assumed for the symbolic batch axis when counting MACs/FLOPs.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
        batch: i64,
        /// Sequence length assumed for the symbolic sequence axis when counting MACs/FLOPs.
        #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(i64).range(1..))]
        seq: i64,
        /// Also print the structural check's verdict when it finds nothing. The check always runs:
        /// its problems (cycles, undefined inputs, duplicate names, unknown ops, bad tensors) are
        /// listed on stderr after the report and the exit code is 1.
        #[arg(long)]
        check: bool,
    },
    /// Rewrite a model's graph with passes (or just load and save it), and write the result.
    ///
    /// With no --passes this is a plain load/save: the output is byte-identical to the input unless
    /// the storage of weights changes (--external). The input file is never modified. A model that
    /// fails the structural check (see `inspect --check`) is refused before anything is written.
    ///
    /// Example: squeezebench rewrite model.onnx -o model-opt.onnx --passes default --report
    Rewrite {
        /// The input .onnx file.
        model: PathBuf,
        /// Where to write the result (refused if it is the input).
        #[arg(short, long)]
        output: PathBuf,
        /// Weight storage: auto (external when the input has external data or the model would
        /// pass protobuf's 2 GiB limit), inline, or external (`<output>.data` beside the output).
        #[arg(long, value_enum, default_value_t = External::Auto)]
        external: External,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
        /// Comma-separated passes to run to a fixed point, or `default` (listed below). Options
        /// follow a colon: low-rank:rank=256,min-params=2000000.
        #[arg(long, value_name = "P1,P2,...|default")]
        passes: Option<String>,
        /// Stop after this many patches (to bisect a bad rewrite).
        #[arg(long, value_name = "N", requires = "passes")]
        max_steps: Option<usize>,
        /// Print what each pass did: patches, nodes, initializers and weight bytes before/after.
        #[arg(long, requires = "passes")]
        report: bool,
        /// Fix the dims of a graph input before the passes run, e.g. --fix-shape input_ids=1x128
        /// (repeatable, or comma-separated). Its symbolic dims get the value wherever they appear
        /// (inputs sharing `batch`/`sequence` are fixed together), so constant-folding can fold the
        /// Shape chains. The output model keeps the fixed dims.
        #[arg(long = "fix-shape", value_name = "NAME=DIMS")]
        fix_shape: Vec<String>,
    },
    /// Quantize a model to 8 bits, write it, then check it against the float model in ONNX Runtime.
    ///
    /// Dynamic (default): MatMul/Gemm weights int8, activations quantized at run time by ONNX
    /// Runtime's integer kernels; SqueezeBERT's pointwise Convs are first rewritten to MatMul
    /// (never ConvInteger). Static: activation ranges calibrated on --calibration data (streaming
    /// min/max or histograms), written as QuantizeLinear/DequantizeLinear pairs that ONNX Runtime
    /// fuses into its integer kernels. Weight-only: int8 weights, DequantizeLinear at load, float
    /// compute.
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
    Quantize {
        /// The float .onnx file (never modified).
        model: PathBuf,
        /// Where to write the quantized model.
        #[arg(short, long)]
        output: PathBuf,
        /// dynamic or weight-only.
        #[arg(long, value_enum, default_value_t = ModeArg::Dynamic)]
        mode: ModeArg,
        /// One scale per output channel of each weight.
        #[arg(long)]
        per_channel: bool,
        /// Weight type (default from the CPU: s8).
        #[arg(long, value_name = "s8|u8")]
        weight_type: Option<QType>,
        /// Activation type (dynamic: u8 only).
        #[arg(long, value_name = "u8|s8")]
        activation_type: Option<QType>,
        /// Force 7-bit weights (default: on only for x86 CPUs without VNNI).
        #[arg(long, conflicts_with = "no_reduce_range")]
        reduce_range: bool,
        /// Force full-range weights.
        #[arg(long)]
        no_reduce_range: bool,
        /// Operator types to quantize, comma-separated (default MatMul,Gemm,Conv,Gather).
        #[arg(long, value_delimiter = ',', value_name = "OP,...")]
        op_types: Option<Vec<String>>,
        /// Node names to leave in float (repeatable or comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "NODE")]
        exclude: Vec<String>,
        /// Operators of a dynamic MatMul.
        #[arg(long, value_enum, default_value_t = FormArg::DynamicQuantizeMatmul)]
        form: FormArg,
        /// Pointwise Convs: split (channels-last MatMul per group), batched-right, or keep (float Conv).
        #[arg(long, value_enum, default_value_t = ConvArg::Split)]
        conv: ConvArg,
        /// Threads quantizing weights (0: all cores).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Static: calibration data: `synthetic` (seeded token batches, default), a .json file of
        /// cases (the fixtures' reference format), or a text file (.tsv, .csv, or `label text`
        /// lines) tokenized with --tokenizer.
        #[arg(long, value_name = "DATA")]
        calibration: Option<PathBuf>,
        /// Static: how activation ranges are chosen: minmax, percentile:P (e.g. percentile:99.99), entropy.
        #[arg(long, default_value = "minmax", value_name = "METHOD")]
        method: quant::calibrate::Method,
        /// Static: calibration runs (synthetic batches, or texts read from the file).
        #[arg(long, value_name = "N", default_value_t = 100)]
        samples: usize,
        /// Tokens per synthetic calibration batch; the longest tokenized text.
        #[arg(long, value_name = "N", default_value_t = 128)]
        seq: usize,
        /// tokenizer.json for text --calibration and --eval files.
        #[arg(long, value_name = "FILE")]
        tokenizer: Option<PathBuf>,
        /// Column of the text in .tsv/.csv files (0-based).
        #[arg(long, value_name = "N", default_value_t = 1)]
        text_column: usize,
        /// Column of the class label in --eval .tsv/.csv files (0-based).
        #[arg(long, value_name = "N", default_value_t = 0)]
        label_column: usize,
        /// Text files start with a header line.
        #[arg(long)]
        header: bool,
        /// Keep the most harmful nodes in float until every output's cosine (and the top-1
        /// agreement of logits) on the check data is at least X.
        #[arg(long, value_name = "X", conflicts_with = "max_accuracy_drop")]
        target_fidelity: Option<f64>,
        /// Keep the most harmful nodes in float until the accuracy on --eval is at most X points
        /// below the float model's.
        #[arg(long, value_name = "X", requires = "eval")]
        max_accuracy_drop: Option<f64>,
        /// Labelled text data for --max-accuracy-drop (needs --tokenizer).
        #[arg(long, value_name = "DATA")]
        eval: Option<PathBuf>,
        /// Seconds the accuracy search may take before it stops with the best model so far.
        #[arg(long, value_name = "S", default_value_t = 600.0)]
        time_budget: f64,
        /// Seeded synthetic token batches the check runs on (0: no check).
        #[arg(long, value_name = "N", default_value_t = 3)]
        verify: usize,
        /// Check on the cases of this JSON file instead (fixtures' reference format), or on the
        /// texts of a .tsv/.csv/text file (--text-column, --header) tokenized with --tokenizer.
        #[arg(long, value_name = "DATA")]
        check: Option<PathBuf>,
        /// Fail (exit 1) when 1 − cosine of an output, or 1 − top-1 agreement of logits, exceeds this.
        #[arg(long, value_name = "X")]
        max_drop: Option<f64>,
        /// Print the report as JSON (stdout) instead of text.
        #[arg(long)]
        json: bool,
        /// Weight storage of the output (as for rewrite).
        #[arg(long, value_enum, default_value_t = External::Auto)]
        external: External,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Build a BERT or SqueezeBERT ONNX graph (opset 17) from a config, with seeded random weights
    /// or the weights of a Hugging Face safetensors checkpoint.
    ///
    /// Config keys follow Hugging Face's BertConfig / SqueezeBertConfig; defaults are
    /// bert-base-uncased and squeezebert-uncased. Outputs: last_hidden_state and pooler_output, or
    /// last_hidden_state and logits with a classification head.
    ///
    /// Example: squeezebench synth --arch squeezebert --set num_hidden_layers=6 --set q_groups=8 -o sq6.onnx
    Synth {
        #[arg(long, value_enum)]
        arch: ArchArg,
        /// A Hugging Face config.json (default: config.json beside --weights, if any).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Override one config key, e.g. --set num_hidden_layers=6 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Take the weights from this safetensors checkpoint instead of random ones.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// none, classification (num_labels from the config) or classification:N.
        #[arg(long, default_value = "none")]
        head: Head,
        /// Seed of the random weights.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Where to write the model.
        #[arg(short, long)]
        output: PathBuf,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Run a benchmark suite (YAML): every model × variant × workload as a case in its own worker
    /// process; writes OUT/results.json after every case, then the reports (report.md,
    /// report.html, results.csv, charts/) as `squeezebench report` does.
    ///
    /// Exit codes: 0 every case ok; 2 the suite is invalid or the run could not start; 3 at least
    /// one case failed, crashed or timed out (recorded in results.json, the others ran); 130
    /// interrupted by Ctrl-C (finished cases are kept).
    ///
    /// Example: squeezebench run suites/quick.yaml --dry-run
    Run {
        /// The suite file.
        suite: PathBuf,
        /// List the expanded cases and exit without running anything.
        #[arg(long)]
        dry_run: bool,
        /// Output folder (default: runs/<suite name>).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// Cases run at the same time. Keep 1 for timings you can trust.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        jobs: u32,
        /// Where synthesized models, prepared variants and fetched wheels are kept (default:
        /// $SQUEEZEBENCH_CACHE_DIR, $XDG_CACHE_HOME/squeezebench or ~/.cache/squeezebench).
        #[arg(long)]
        cache_dir: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
        /// After the run, store its results as the baseline NAME of this suite
        /// (BASELINES_DIR/<suite>/NAME.json); not when a case failed or the run was interrupted.
        #[arg(long, value_name = "NAME")]
        save_baseline: Option<String>,
        /// After the run, gate it against the stored baseline NAME (as `squeezebench gate` does,
        /// with the suite's thresholds); exit 1 on a regression. The baseline is read first: a
        /// missing one is an error before anything runs. With --save-baseline, compares first,
        /// then stores.
        #[arg(long, value_name = "NAME")]
        baseline: Option<String>,
        /// Where baselines are kept.
        #[arg(long, default_value = squeezebench::results::store::DEFAULT_DIR)]
        baselines_dir: PathBuf,
    },
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
    Gate {
        /// The results.json the current run is judged against.
        #[arg(long)]
        baseline: PathBuf,
        /// The results.json of the run under test.
        #[arg(long)]
        current: PathBuf,
        /// A YAML (or JSON) file of thresholds, keys as in a suite's `thresholds:` (default: the
        /// thresholds stored in the current results, i.e. its suite's).
        #[arg(long)]
        thresholds: Option<PathBuf>,
        /// Append the Markdown table to this file (e.g. $GITHUB_STEP_SUMMARY).
        #[arg(long)]
        summary: Option<PathBuf>,
        /// Compare runs from different machines or ONNX Runtime versions anyway.
        #[arg(long)]
        allow_env_change: bool,
    },
    /// Render the reports of a suite run from its results.json: report.md (fits a pull-request
    /// comment), report.html (self-contained, charts inlined), results.csv, results.json and
    /// charts/*.svg and *.png, into --out (created if missing; earlier reports are replaced).
    ///
    /// Example: squeezebench report out/quick/results.json --out reports/quick
    Report {
        /// The results.json of a run.
        results: PathBuf,
        /// Folder to write the reports into.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ArchArg {
    Bert,
    Squeezebert,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Dynamic,
    Static,
    WeightOnly,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormArg {
    DynamicQuantizeMatmul,
    MatmulIntegerToFloat,
    MatmulInteger,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ConvArg {
    Split,
    BatchedRight,
    Keep,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum External {
    Auto,
    Inline,
    External,
}

fn main() -> ExitCode {
    let mut list = String::from("Passes:\n");
    for p in passes::registry() {
        list.push_str(&format!("  {:<20} {}\n", p.name(), p.describe()));
    }
    list.push_str(&format!("  {:<20} {}", "default", passes::DEFAULT.join(",")));
    let matches = Cli::command().mut_subcommand("rewrite", |c| c.after_help(list)).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match cli.command {
        Command::Inspect { model, json, batch, seq, check: run_check } => {
            let m = Model::load(&model)?;
            let report = stats::inspect(&m, batch, seq)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", stats::render_text(&report));
            }
            let problems = check::check(&m);
            if !problems.is_empty() {
                eprintln!("{} structural problem(s) in '{}':", problems.len(), model.display());
                for p in &problems {
                    eprintln!("  - {p}");
                }
                return Ok(ExitCode::from(1));
            }
            if run_check && !json {
                println!("\ncheck      no structural problems");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rewrite { model, output, external, force, passes: list, max_steps, report, fix_shape } => {
            let mut fixes = Vec::new();
            for spec in &fix_shape {
                fixes.extend(shapes::parse_fixed_shapes(spec).map_err(|e| format!("--fix-shape: {e}"))?);
            }
            let pipeline = match list {
                Some(list) => {
                    let mut p = passes::Pipeline::new(passes::parse_list(&list)?);
                    p.max_steps = max_steps;
                    Some(p)
                }
                None => None,
            };
            let lossy = report && pipeline.as_ref().is_some_and(|p| p.passes.iter().any(|p| p.name() == "low-rank"));
            let mut m = Model::load(&model)?;
            check::ensure_sound(&m)?;
            if !fixes.is_empty() {
                let bound = shapes::fix_input_shapes(&mut m, &fixes)?;
                let bound: Vec<String> = bound.iter().map(|(s, v)| format!("{s}={v}")).collect();
                eprintln!("fixed input dims{}", if bound.is_empty() { String::new() } else { format!(" ({})", bound.join(", ")) });
            }
            if let Some(pipeline) = pipeline {
                let r = pipeline.run(&mut m)?;
                if report {
                    for line in &r.log {
                        eprintln!("{line}");
                    }
                    print!("{}", r.render_text());
                }
                for note in &r.notes {
                    eprintln!("note: {note}");
                }
            }
            let external = match external {
                External::Auto => ExternalMode::Auto,
                External::Inline => ExternalMode::Inline,
                External::External => ExternalMode::External,
            };
            let summary = m.save(&output, &SaveOptions { external, force, ..Default::default() })?;
            eprintln!("wrote {} ({})", summary.path.display(), stats::human_bytes(summary.bytes));
            if let Some((data, len)) = &summary.external {
                eprintln!("      {} ({}, {} tensors)", data.display(), stats::human_bytes(*len), summary.external_tensors);
            }
            if lossy {
                let f = passes::fidelity::compare(&model, &output, 3)?;
                print!("{}", passes::fidelity::render_text(&f, 3));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { suite, dry_run, out, jobs, cache_dir, no_progress, save_baseline, baseline, baselines_dir } => {
            let store = squeezebench::results::store::Store::new(baselines_dir);
            for name in save_baseline.iter().chain(&baseline) {
                squeezebench::results::store::check_name(name)?;
            }
            let plan = squeezebench::suite::load(&suite)?;
            squeezebench::bench::preflight::check(&plan)?;
            // The baseline is read before anything runs: a missing one is an error now, not after
            // the whole suite.
            let base = baseline.as_deref().map(|name| store.load(&plan.name, name)).transpose()?;
            let cases = squeezebench::suite::expand(&plan);
            if dry_run {
                print!("{}", squeezebench::suite::expand::render(&plan, &cases));
                return Ok(ExitCode::SUCCESS);
            }
            let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&plan.name));
            let mut opts = squeezebench::bench::RunOptions::new(out.clone(), std::env::current_exe()?);
            opts.jobs = jobs as usize;
            opts.progress = !no_progress;
            if let Some(c) = cache_dir {
                opts.cache_dir = c;
            }
            let results = squeezebench::bench::run(&plan, &cases, &opts)?;
            let failed = results.cases.iter().filter(|c| c.status != squeezebench::results::Status::Ok).count();
            eprintln!("wrote {} ({} case(s), {failed} not ok)", out.join("results.json").display(), results.cases.len());
            squeezebench::report::write_all(&results, &out)?;
            eprintln!(
                "wrote {} and {} (charts in {})",
                out.join(squeezebench::report::MARKDOWN).display(),
                out.join(squeezebench::report::HTML).display(),
                out.join(squeezebench::report::CHARTS).display()
            );
            if results.interrupted {
                // Exit 130 says what happened; a partial run is neither gated nor stored.
                if baseline.is_some() || save_baseline.is_some() {
                    eprintln!("the run was interrupted: not gated against a baseline and not saved as one");
                }
                return Ok(ExitCode::from(130));
            }
            let mut gate_failed = false;
            if let (Some(name), Some((path, base))) = (&baseline, &base) {
                let report = gate::compare(base, &results, &results.thresholds, &gate::Options::default())?;
                print!("{}", report.render_markdown());
                eprintln!("gated against baseline '{name}' ({})", path.display());
                gate_failed = report.failed();
            }
            if let Some(name) = &save_baseline {
                match store.save(name, &results) {
                    Ok(path) => eprintln!("saved baseline '{name}' to {}", path.display()),
                    // Refused because a case failed: the exit code (3) already says so.
                    Err(e) if failed > 0 => eprintln!("error: {e}"),
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(if gate_failed {
                ExitCode::from(1)
            } else if failed > 0 {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Worker { job, result } => {
            squeezebench::bench::worker::main(&job, &result)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Quantize {
            model,
            output,
            mode,
            per_channel,
            weight_type,
            activation_type,
            reduce_range,
            no_reduce_range,
            op_types,
            exclude,
            form,
            conv,
            threads,
            calibration,
            method,
            samples: calibration_samples,
            seq,
            tokenizer,
            text_column,
            label_column,
            header,
            target_fidelity,
            max_accuracy_drop,
            eval,
            time_budget,
            verify: samples,
            check: check_data,
            max_drop,
            json,
            external,
            force,
        } => {
            let options = QuantizeOptions {
                mode: match mode {
                    ModeArg::Dynamic => quant::Mode::Dynamic,
                    ModeArg::Static => quant::Mode::Static,
                    ModeArg::WeightOnly => quant::Mode::WeightOnly,
                },
                per_channel,
                weight_type,
                activation_type,
                reduce_range: if reduce_range { Some(true) } else if no_reduce_range { Some(false) } else { None },
                op_types: op_types.unwrap_or_else(|| QuantizeOptions::default().op_types),
                exclude,
                form: match form {
                    FormArg::DynamicQuantizeMatmul => DynamicForm::DynamicQuantizeMatMul,
                    FormArg::MatmulIntegerToFloat => DynamicForm::MatMulIntegerToFloat,
                    FormArg::MatmulInteger => DynamicForm::MatMulInteger,
                },
                conv: match conv {
                    ConvArg::Split => ConvStrategy::Split,
                    ConvArg::BatchedRight => ConvStrategy::BatchedRight,
                    ConvArg::Keep => ConvStrategy::Keep,
                },
                threads,
                calibration,
                tokenizer: tokenizer.clone(),
                text_column,
                header,
                method,
                samples: calibration_samples,
                seq,
            };
            let goal = match (target_fidelity, max_accuracy_drop) {
                (Some(x), _) if !(0.0..=1.0).contains(&x) => return Err(format!("--target-fidelity {x} is not in [0, 1]").into()),
                (_, Some(x)) if !(x.is_finite() && x >= 0.0) => return Err(format!("--max-accuracy-drop {x} is not a number of points >= 0").into()),
                (Some(x), _) => Some(quant::fallback::Goal::Fidelity(x)),
                (_, Some(x)) => Some(quant::fallback::Goal::AccuracyDrop(x)),
                _ => None,
            };
            if !(time_budget.is_finite() && time_budget >= 0.0) {
                return Err(format!("--time-budget {time_budget} is not a number of seconds >= 0").into());
            }
            // A text file for --eval (labelled) or --check, tokenized with --tokenizer.
            let text_data = |flag: &str, p: &PathBuf, label_column: Option<usize>| -> Result<verify::CheckData, String> {
                if !p.is_file() {
                    return Err(format!("{flag} data '{}' does not exist", p.display()));
                }
                Ok(verify::CheckData::Text(verify::TextData {
                    path: p.clone(),
                    tokenizer: tokenizer.clone().ok_or_else(|| format!("{flag} data '{}' is text: give the model's tokenizer.json with --tokenizer", p.display()))?,
                    format: verify::TextData::format_of(p),
                    text_column,
                    label_column,
                    header,
                    limit: None,
                    batch: 32,
                    max_len: seq,
                }))
            };
            let eval_data = eval.as_ref().map(|p| text_data("--eval", p, Some(label_column))).transpose()?;
            if !force && output.exists() {
                return Err(format!("refusing to write '{}': the file exists (pass --force to replace it)", output.display()).into());
            }
            let m = Model::load_mapped(&model)?;
            check::ensure_sound(&m)?;
            let size_before = m.file_size() + m.external_bytes()?;
            let data = match (eval_data, check_data) {
                (Some(e), _) => Some(e),
                (None, Some(p)) if p.extension().is_some_and(|e| e == "json") => Some(verify::CheckData::File(p)),
                (None, Some(p)) => Some(text_data("--check", &p, None)?),
                (None, None) if samples > 0 => Some(verify::CheckData::synthetic(samples)),
                (None, None) => None,
            };
            let prepared = quant::prepare(m, &options)?;
            let (q, report, searched) = match goal {
                None => {
                    let (q, report) = prepared.finish()?;
                    (q, report, None)
                }
                Some(goal) => {
                    let data = data.as_ref().ok_or("--target-fidelity needs check data: --verify N (N > 0) or --check DATA")?;
                    let reference = verify::Reference::new(&model, data)?;
                    let scratch = tempfile::Builder::new().prefix("squeezebench-search").tempdir()?;
                    let budget = std::time::Duration::from_secs_f64(time_budget.min(1e9));
                    let (q, report, fidelity, outcome) = quant::fallback::search(&prepared, &reference, goal, budget, scratch.path())?;
                    drop(prepared);
                    (q, report, Some((fidelity, outcome)))
                }
            };
            let external = match external {
                External::Auto => ExternalMode::Auto,
                External::Inline => ExternalMode::Inline,
                External::External => ExternalMode::External,
            };
            let summary = q.save(&output, &SaveOptions { external, force, ..Default::default() })?;
            drop(q);
            let size_after = summary.bytes + summary.external.as_ref().map_or(0, |e| e.1);
            let (fidelity, outcome) = match searched {
                Some((f, o)) => (Some(f), Some(o)),
                None => (data.map(|d| verify::compare(&model, &output, &d)).transpose()?, None),
            };
            if json {
                let doc = serde_json::json!({
                    "report": report,
                    "size_before": size_before,
                    "size_after": size_after,
                    "fidelity": fidelity,
                    "search": outcome,
                });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                print!("{}", report.render_text());
                println!(
                    "size       {} -> {} ({:.1}%)  wrote {}",
                    stats::human_bytes(size_before),
                    stats::human_bytes(size_after),
                    100.0 * size_after as f64 / size_before.max(1) as f64,
                    summary.path.display()
                );
                if let Some(o) = &outcome {
                    print!("{}", o.render_text());
                }
                if let Some(f) = &fidelity {
                    print!("{}", f.render_text());
                }
            }
            if let Some(o) = outcome.as_ref().filter(|o| !o.met) {
                eprintln!(
                    "accuracy goal not met: {} (best score {:.6} with {} node(s) in float; '{}' is kept for inspection)",
                    o.goal.describe(),
                    o.score,
                    o.kept_float.len(),
                    output.display()
                );
                return Ok(ExitCode::from(1));
            }
            if let (Some(bound), Some(f)) = (max_drop, &fidelity) {
                if f.worst_drop() > bound {
                    eprintln!(
                        "fidelity check failed: drop {:.4} exceeds --max-drop {bound} ('{}' is kept for inspection)",
                        f.worst_drop(),
                        output.display()
                    );
                    return Ok(ExitCode::from(1));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Synth { arch, config, sets, weights, head, seed, output, force } => {
            let arch = match arch {
                ArchArg::Bert => Arch::Bert,
                ArchArg::Squeezebert => Arch::SqueezeBert,
            };
            let config = synth::load_config(arch, config.as_deref(), weights.as_deref(), &sets)?;
            let model = synth::synthesize(&synth::Options { config, head, seed, weights })?;
            let summary = model.save(&output, &SaveOptions { force, ..Default::default() })?;
            let params = stats::inspect(&model, 1, 128)?.parameters;
            eprintln!("wrote {} ({}, {} parameters)", summary.path.display(), stats::human_bytes(summary.bytes), stats::group(params));
            Ok(ExitCode::SUCCESS)
        }
        Command::Gate { baseline, current, thresholds, summary, allow_env_change } => {
            let base = squeezebench::results::Results::load(&baseline)?;
            let cur = squeezebench::results::Results::load(&current)?;
            let t = match thresholds {
                Some(path) => squeezebench::suite::thresholds::load(&path)?,
                None => cur.thresholds.clone(),
            };
            let report = gate::compare(&base, &cur, &t, &gate::Options { allow_env_change })?;
            let md = report.render_markdown();
            print!("{md}");
            if let Some(path) = summary {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| format!("cannot append to '{}': {e}", path.display()))?;
                writeln!(f, "{md}").map_err(|e| format!("cannot append to '{}': {e}", path.display()))?;
            }
            Ok(if report.failed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Report { results, out } => {
            let r = squeezebench::results::Results::load(&results)?;
            for path in squeezebench::report::write_all(&r, &out)? {
                eprintln!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
