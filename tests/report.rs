//! The exporters on a hand-built results document (tests/results_sample): exact Markdown and CSV,
//! the HTML's parts, charts that decode as images of the stated size, `write_all`, and the
//! `report` command with its errors.

mod results_sample;

use std::path::Path;
use std::process::Command;

use squeezebench::report;
use squeezebench::results::{Results, Status};

const EXPECTED_MARKDOWN: &str = r#"## squeezebench · quick

**8 cases: 7 ok, 1 crashed.** AMD EPYC 9R14 96-Core Processor (avx512_vnni), 2 threads available, 2 threads per case, ONNX Runtime 1.31.1, squeezebench 0.1.0 (50c8675), release build.

### What to ship

The fastest variant per model that is faster than its reference beyond the 95 % interval of the speed-up, with a fidelity cosine of at least 0.99 and accuracy within 1 pt of the reference (the suite's thresholds), on the model's first workload.

- **bert-base**: int8 (quantize: dynamic int8): 2.47× faster than fp32 (2.45–2.49×) at b1 s128 t2, size 172.8 MiB (0.41× the reference), fidelity cosine 0.99412.
- **squeezebert-base**: conv-matmul-int8 (quantize: dynamic int8): 2.30× faster than fp32 (2.29–2.32×) at b1 s128 t2, size 114.0 MiB (0.58× the reference), fidelity cosine 0.99267. Not chosen: conv-matmul: conv-matmul-int8 is faster.
- **minilm-l6**: int8 (quantize: dynamic int8): 2.06× faster than fp32 (2.05–2.08×) at b1 s128 t2, size 56.4 MiB (0.65× the reference), stsb-dev spearman −0.41 pt, fidelity cosine 0.99731.
- **broken**: no reference case finished: nothing to compare with.

### bert-base

| variant | recipe | workload | size | params | p50 (95 % CI) | speed-up (95 % CI) | accuracy (Δ vs ref) | fidelity | peak RSS |
|:--|:--|:--|--:|--:|--:|--:|:--|:--|--:|
| **fp32** (ref) | — | b1 s128 t2 | 417.7 MiB | 109.5 M | 192.0 ms (191.0–193.0) | 1.00× | — | — | 905.0 MiB |
| int8 | quantize: dynamic int8 | b1 s128 t2 | 172.8 MiB | 109.5 M | 77.73 ms (77.32–78.13) | 2.47× (2.45–2.49) | — | cos 0.99412 | 402.0 MiB |

### squeezebert-base

| variant | recipe | workload | size | params | p50 (95 % CI) | speed-up (95 % CI) | accuracy (Δ vs ref) | fidelity | peak RSS |
|:--|:--|:--|--:|--:|--:|--:|:--|:--|--:|
| **fp32** (ref) | — | b1 s128 t2 | 195.0 MiB | 51.1 M | 121.7 ms (121.1–122.3) | 1.00× | — | — | 455.0 MiB |
| conv-matmul | — | b1 s128 t2 | 195.0 MiB | 51.1 M | 108.7 ms (108.2–109.3) | 1.12× (1.11–1.13) | — | cos 0.9999998 | 449.0 MiB |
| conv-matmul-int8 | quantize: dynamic int8 | b1 s128 t2 | 114.0 MiB | 51.1 M | 52.80 ms (52.53–53.08) | 2.30× (2.29–2.32) | — | cos 0.99267 | 240.0 MiB |

### minilm-l6

| variant | recipe | workload | size | params | p50 (95 % CI) | speed-up (95 % CI) | accuracy (Δ vs ref) | fidelity | peak RSS |
|:--|:--|:--|--:|--:|--:|--:|:--|:--|--:|
| **fp32** (ref) | — | b1 s128 t2 | 86.8 MiB | 22.7 M | 24.87 ms (24.74–24.99) | 1.00× | stsb-dev spearman 86.72 | — | 214.0 MiB |
| int8 | quantize: dynamic int8 | b1 s128 t2 | 56.4 MiB | 22.7 M | 12.05 ms (11.99–12.11) | 2.06× (2.05–2.08) | stsb-dev spearman 86.31 (−0.41) | cos 0.99731 | 150.0 MiB |

### broken

| variant | recipe | workload | size | params | p50 (95 % CI) | speed-up (95 % CI) | accuracy (Δ vs ref) | fidelity | peak RSS |
|:--|:--|:--|--:|--:|--:|--:|:--|:--|--:|
| **fp32** (ref) | — | b1 s128 t2 | — | — | **crashed** | — | — | — | — |

### Failures

| case | status | error |
|:--|:--|:--|
| `broken/fp32/b1-s128-t2` | crashed | worker killed by signal 11 (SIGSEGV) |

<sub>suite `suites/quick.yaml` (spec hash `1a2b3c4d5e6f`), started 2026-11-23T00:31:49Z, finished 2026-11-23T00:35:02Z. Speed-up = reference p50 / p50 on the same workload, with the 95 % interval of that ratio; CI = 95 % interval of the median (block bootstrap, widened by the spread between rounds).</sub>
"#;

/// The Markdown report, byte for byte: summary line (machine, threads per case), what to ship per
/// model, one table per model (reference first, recipe, speed-up with its interval
/// and accuracy delta against the reference, the crashed case marked), failures, footer.
#[test]
fn markdown_is_exact() {
    let md = report::markdown::render(&results_sample::results());
    if md != EXPECTED_MARKDOWN {
        for (i, (a, b)) in md.lines().zip(EXPECTED_MARKDOWN.lines()).enumerate() {
            assert_eq!(a, b, "line {}", i + 1);
        }
        panic!("length differs:\n{md}");
    }
}

/// Table cells cannot be broken by a variant name or error text holding `|` or line breaks.
#[test]
fn markdown_escapes_cells() {
    let mut r = results_sample::results();
    r.cases[7].error = Some("bad | input\nsecond line".into());
    r.cases[1].variant = "int8|x".into();
    let md = report::markdown::render(&r);
    assert!(md.contains("| crashed | bad \\| input |"), "{md}");
    // Error text is shown, not rendered: no raw HTML reaches the Markdown.
    r.cases[7].error = Some("<img src=x onerror=alert(1)> & <script>".into());
    let md = report::markdown::render(&r);
    assert!(md.contains("| crashed | &lt;img src=x onerror=alert(1)&gt; &amp; &lt;script&gt; |") && !md.contains("<img"), "{md}");
    assert!(md.contains("| int8\\|x |"), "{md}");
}

/// One row per case with the same columns; accuracy columns per dataset; the delta against the
/// reference; a multi-line error quoted as one field.
#[test]
fn csv_is_exact() {
    let text = report::csv::render(&results_sample::results());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "id,model,variant,reference,batch,seq,threads,status,error,p50_ms,p50_ci_low_ms,p50_ci_high_ms,p90_ms,p95_ms,p99_ms,p99_ci_low_ms,p99_ci_high_ms,mean_ms,std_ms,cv,min_ms,max_ms,iterations,outliers,sequences_per_s,tokens_per_s,flops_per_s,fraction_of_peak,speedup_vs_reference,parameters,weight_bytes,macs,model_file_bytes,session_peak_rss_bytes,run_peak_rss_bytes,fidelity_cosine,fidelity_max_abs_error,fidelity_top1_agreement,stsb-dev_spearman,stsb-dev_spearman_delta");
    assert!(lines.contains(&"minilm-l6/int8/b1-s128-t2,minilm-l6,int8,false,1,128,2,ok,,12.0483,11.9908,12.1059,12.4792,12.6788,12.8672,12.8395,13.1474,12.068,0.3311,0.0274,11.2242,13.1474,200,0,82.9989,10623.8614,242510968224,0.3643,2.0638,22713216,59002368,1460928512,59126772,157286400,102760448,0.99731,0.1076,,86.309,-0.4070"), "{text}");
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|r| r.len() == 40));
    assert_eq!(&rows[7][7], "crashed");
    assert!(rows[7][8].contains("\nlast stderr"), "the full error, line break kept inside quotes");
}

#[test]
fn json_is_a_passthrough() {
    let r = results_sample::results();
    let json = report::json::render(&r);
    assert_eq!(json, r.to_json());
    assert_eq!(Results::from_json(&json).unwrap(), r);
}

/// Every chart renders as an SVG and a PNG of the same size, with its title, axis units and
/// legend in the SVG text; the PNG decodes.
#[test]
fn charts_render_as_svg_and_png() {
    let charts = report::charts::render_all(&results_sample::results()).unwrap();
    let names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["latency", "tradeoff-stsb-dev", "tradeoff-fidelity", "size", "distribution"]);
    for c in &charts {
        assert!(c.svg.starts_with("<svg"), "{}", c.name);
        let decoder = png::Decoder::new(std::io::Cursor::new(&c.png));
        let reader = decoder.read_info().unwrap();
        let (w, h) = (reader.info().width, reader.info().height);
        assert_eq!(w, 1100, "{}", c.name);
        assert!(c.svg.contains(&format!("width=\"{w}\" height=\"{h}\"")), "{}: same size as the PNG", c.name);
    }
    let svg = |name: &str| &charts.iter().find(|c| c.name == name).unwrap().svg;
    for (name, texts) in [
        ("latency", &["Latency per variant", "median latency per run (ms)", "95 % confidence interval of the median", "conv-matmul-int8", "2.47× vs ref"][..]),
        ("tradeoff-stsb-dev", &["spearman on stsb-dev (0–100)", "log scale", "Pareto front", "circle area ∝ size on disk", "minilm-l6: int8"][..]),
        ("tradeoff-fidelity", &["cosine similarity to the reference", "Pareto front per model", "bert-base: int8"][..]),
        ("size", &["size on disk (MiB)", "millions of parameters", "float32", "int8", "172.8 MiB"][..]),
        ("distribution", &["latency per run (ms)", "median (p50)", "99th percentile (p99)", "bert-base/fp32/b1-s128-t2"][..]),
    ] {
        for t in texts {
            assert!(svg(name).contains(&t.replace('&', "&amp;")), "{name}: no '{t}'");
        }
    }
    // Deterministic: the same results draw the same bytes.
    let again = report::charts::render_all(&results_sample::results()).unwrap();
    assert!(charts.iter().zip(&again).all(|(a, b)| a.svg == b.svg && a.png == b.png));
}

/// Latencies a results file may hold but no log axis can place (0, negative, NaN, infinite):
/// every chart still renders, promptly (a p50 of 0 used to loop over 2^31 decades of ticks).
#[test]
fn charts_render_with_degenerate_latencies() {
    for bad in [0.0, -3.0, f64::NAN, f64::INFINITY] {
        let mut r = results_sample::results();
        for c in r.cases.iter_mut().take(3) {
            let l = c.latency.as_mut().unwrap();
            l.p50_ms = bad;
            l.p99_ms = bad;
            l.samples_ms.iter_mut().for_each(|x| *x = bad);
        }
        let charts = report::charts::render_all(&r).unwrap_or_else(|e| panic!("{bad}: {e}"));
        assert!(charts.iter().any(|c| c.name.starts_with("tradeoff")), "{bad}: the other cases still make a trade-off chart");
    }
    // Found by the results fuzz target: a huge interval end (pixel arithmetic overflowed), and
    // huge but finite times.
    let mut r = results_sample::results();
    r.cases[0].latency.as_mut().unwrap().p50_ci_ms[0] = 1e308;
    let l = r.cases[1].latency.as_mut().unwrap();
    (l.p50_ms, l.p99_ms, l.p50_ci_ms) = (1e300, 1e300, [1e299, 1e301]);
    l.samples_ms.iter_mut().for_each(|x| *x = 1e300);
    report::charts::render_all(&r).unwrap();
}

/// The HTML page stands alone (no script, no external resource), inlines every chart, lists the
/// environment and every case, and escapes text from the results.
#[test]
fn html_is_self_contained() {
    let mut r = results_sample::results();
    r.cases[7].error = Some("<script>alert(1)</script>".into());
    let charts = report::charts::render_all(&r).unwrap();
    let html = report::html::render(&r, &charts);
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert_eq!(html.matches("<svg").count(), charts.len());
    assert!(!html.contains("<script>") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<link"));
    for t in ["AMD EPYC 9R14", "avx512_vnni", "ONNX Runtime", "1.31.1", "Gate thresholds", "<h2>Failures</h2>", "95 % interval of the median"] {
        assert!(html.contains(t), "no '{t}'");
    }
    for c in &r.cases {
        assert!(html.contains(&format!("<details id=\"case-{}\">", c.id)), "{}", c.id);
    }
}

/// `squeezebench report` re-renders a results file into a folder; a missing file, a file that is
/// not results and one of another schema version exit 2 naming the file, writing nothing.
#[test]
fn report_command_writes_every_file_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    results_sample::results().save(&results).unwrap();
    let out = dir.path().join("out");
    let run = |args: &[&Path]| Command::new(env!("CARGO_BIN_EXE_squeezebench")).arg("report").args(args).output().unwrap();
    let o = run(&[&results, Path::new("--out"), &out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut files: Vec<String> = walk(&out);
    files.sort();
    assert_eq!(
        files,
        [
            "charts/distribution.png", "charts/distribution.svg", "charts/latency.png", "charts/latency.svg",
            "charts/size.png", "charts/size.svg", "charts/tradeoff-fidelity.png", "charts/tradeoff-fidelity.svg",
            "charts/tradeoff-stsb-dev.png", "charts/tradeoff-stsb-dev.svg", "report.html", "report.md",
            "results.csv", "results.json",
        ]
    );
    assert_eq!(std::fs::read_to_string(out.join("results.json")).unwrap(), std::fs::read_to_string(&results).unwrap());
    assert_eq!(std::fs::read_to_string(out.join("report.md")).unwrap(), EXPECTED_MARKDOWN);
    // Re-rendering replaces the files; -o/--output is the flag (--out its alias), and the run's
    // folder is accepted for its results.json.
    assert!(run(&[&results, Path::new("--out"), &out]).status.success());
    assert_eq!(walk(&out).len(), 14, "no temporary files left");
    let again = dir.path().join("again");
    assert!(run(&[dir.path(), Path::new("-o"), &again]).status.success());
    assert_eq!(std::fs::read_to_string(again.join("report.md")).unwrap(), EXPECTED_MARKDOWN);

    let bad_out = dir.path().join("bad");
    let missing = dir.path().join("missing.json");
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"cases\": []}").unwrap();
    let future = dir.path().join("future.json");
    std::fs::write(&future, std::fs::read_to_string(&results).unwrap().replacen("\"schema_version\": 1", "\"schema_version\": 9", 1)).unwrap();
    for (file, msg) in [(&missing, "cannot read results"), (&garbage, "schema_version"), (&future, "schema version 9")] {
        let o = run(&[file, Path::new("--out"), &bad_out]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(msg) && err.contains(&*file.to_string_lossy()), "{err}");
        assert!(!bad_out.exists());
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p).into_iter().map(|f| format!("{}/{f}", p.file_name().unwrap().to_string_lossy())));
        } else {
            out.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out
}

/// Writes the sample's reports to target/tmp/report-sample for looking at the charts.
#[test]
fn sample_reports_for_inspection() {
    let r = results_sample::results();
    assert_eq!(r.cases.iter().filter(|c| c.status == Status::Ok).count(), 7);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-sample");
    report::write_all(&r, &dir).unwrap();
}

/// A run with the `profile` metric and measured attainable peaks: the Markdown and HTML gain
/// "where the time goes" (shares of the profiled run per family) and "distance to the limit"
/// (achieved GMAC/s against the peak of the case's precision), and a `profile` chart draws one
/// stacked bar per variant. Without them (the sample above) the reports are unchanged.
#[test]
fn profiles_and_attainable_peaks_are_reported_when_recorded() {
    use squeezebench::profile::Family;
    use squeezebench::results::{Attainable, TimeProfile};
    use squeezebench::results::record::{FamilyTime, Timing};
    let mut r = results_sample::results();
    let profile = |gemm: f64, layout: f64, run: f64| TimeProfile {
        runs: 20,
        run_ms: run,
        kernel_ms: gemm + layout,
        families: vec![
            FamilyTime { family: Family::Gemm, ms: gemm, share: gemm / run },
            FamilyTime { family: Family::Layout, ms: layout, share: layout / run },
        ],
        ops: vec![Timing {
            node: None,
            op_type: "MatMul".into(),
            family: Family::Gemm,
            calls: 74.0,
            ms: gemm,
            share: gemm / run,
            macs: Some(11_000_000_000),
            gmac_per_s: Some(11.0 / gemm * 1e3),
        }],
    };
    r.cases[0].profile = Some(profile(80.0, 10.0, 100.0));
    r.cases[1].profile = Some(profile(30.0, 5.0, 40.0));
    let l = r.cases[1].latency.as_mut().unwrap();
    l.attainable = Some(Attainable { precision: "int8".into(), gmac_per_s: 400.0 });
    l.fraction_of_attainable = Some(l.flops_per_s.unwrap() / 2e9 / 400.0);

    let md = report::markdown::render(&r);
    assert!(md.contains("### Where the time goes"), "{md}");
    assert!(md.contains("| bert-base | fp32 | b1 s128 t2 | 100.0 ms | 80.0 % | 10.0 % | 10.0 % | 137.5 |"), "{md}");
    assert!(md.contains("| GEMM | layout and copies | between kernels |"), "{md}");
    let achieved = r.cases[1].latency.as_ref().unwrap().flops_per_s.unwrap() / 2e9;
    let want = format!("| bert-base | int8 | b1 s128 t2 | {achieved:.1} | int8 400.0 | {:.1} % |", achieved / 4.0);
    assert!(md.contains("### Distance to the limit") && md.contains(&want), "{want}\n{md}");

    let charts = report::charts::render_all(&r).unwrap();
    let chart = charts.iter().find(|c| c.name == "profile").expect("a profile chart");
    for t in ["Where the time goes", "GEMM", "layout and copies", "between kernels", "100.0 ms · GEMM 80.0 %", "ms per run with the profiler on"] {
        assert!(chart.svg.contains(t), "profile chart: no '{t}'");
    }
    let html = report::html::render(&r, &charts);
    assert!(html.contains("<h2>Where the time goes</h2>") && html.contains("<h2>Distance to the limit</h2>"));
    assert!(html.contains("MatMul ×74: 80.00 ms (80.0 %, 137.5 GMAC/s)"), "op types in the case details");
    report::write_all(&r, &Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-profile")).unwrap();

    // Older files (no profile, no attainable) still read, and a profile survives the round trip.
    let back = Results::from_json(&r.to_json()).unwrap();
    assert_eq!(back.cases[0].profile, r.cases[0].profile);
}

/// The ship rule: the fastest variant that is faster beyond its interval and within the fidelity
/// and accuracy thresholds; a faster variant that breaks a threshold is passed over with the reason;
/// a variant whose speed-up interval holds 1 is marked `≈ ref` and not shipped; a slower one is
/// marked `slower`; with nothing left the reference is kept.
#[test]
fn the_ship_line_names_the_fastest_variant_within_thresholds() {
    let ship_line = |r: &Results, model: &str| {
        let md = report::markdown::render(r);
        md.lines().find(|l| l.starts_with(&format!("- **{model}**: "))).unwrap_or_else(|| panic!("{md}")).to_string()
    };
    let r = results_sample::results();
    assert!(ship_line(&r, "squeezebert-base").starts_with("- **squeezebert-base**: conv-matmul-int8 (quantize: dynamic int8): 2.30× faster than fp32"), "{}", ship_line(&r, "squeezebert-base"));

    // The int8 variant loses fidelity below the threshold: the float rewrite ships instead.
    let mut r = results_sample::results();
    let i = r.cases.iter().position(|c| c.id == "squeezebert-base/conv-matmul-int8/b1-s128-t2").unwrap();
    r.cases[i].fidelity.as_mut().unwrap().cosine = 0.95;
    let line = ship_line(&r, "squeezebert-base");
    assert!(line.starts_with("- **squeezebert-base**: conv-matmul (—): 1.12× faster than fp32"), "{line}");
    assert!(line.contains("conv-matmul-int8: fidelity cosine 0.95000 is below 0.99"), "{line}");

    // An accuracy drop past the threshold: keep the reference.
    let mut r = results_sample::results();
    r.thresholds.accuracy_drop = 0.3;
    let line = ship_line(&r, "minilm-l6");
    assert!(line.starts_with("- **minilm-l6**: keep fp32: no variant qualifies. Not chosen: int8: stsb-dev spearman −0.41 pt, more than the 0.3 pt allowed"), "{line}");

    // Not faster beyond the interval, and slower: marked in the table, not shipped.
    let mut r = results_sample::results();
    let reference = r.cases.iter().find(|c| c.id == "bert-base/fp32/b1-s128-t2").unwrap().latency.clone().unwrap();
    let i = r.cases.iter().position(|c| c.id == "bert-base/int8/b1-s128-t2").unwrap();
    let l = r.cases[i].latency.as_mut().unwrap();
    l.p50_ms = reference.p50_ms * 0.97;
    l.p50_ci_ms = [reference.p50_ms * 0.90, reference.p50_ms * 1.05];
    let md = report::markdown::render(&r);
    assert!(md.contains("| int8 | quantize: dynamic int8 | b1 s128 t2 | 172.8 MiB | 109.5 M | 186.2 ms (172.8–201.6) | 1.03× ("), "{md}");
    assert!(md.contains(") ≈ ref |"), "{md}");
    assert!(ship_line(&r, "bert-base").contains("keep fp32: no variant qualifies. Not chosen: int8: not faster beyond its interval (1.03×"), "{}", ship_line(&r, "bert-base"));
    let l = r.cases[i].latency.as_mut().unwrap();
    l.p50_ms = reference.p50_ms * 1.6;
    l.p50_ci_ms = [reference.p50_ms * 1.58, reference.p50_ms * 1.62];
    let md = report::markdown::render(&r);
    assert!(md.contains("| 0.62× (0.62–0.63) slower |"), "{md}");
    assert!(ship_line(&r, "bert-base").contains("int8: slower than the reference (0.62×"), "{}", ship_line(&r, "bert-base"));
}

/// Reports are all or nothing: when one file cannot be written (a full disk; here `results.csv`
/// is a folder, so its rename fails), the files this call wrote before it are removed, as is the
/// charts folder it made; no temporary file is left.
#[test]
fn a_report_that_cannot_be_written_whole_leaves_none_of_its_files() {
    let r = results_sample::results();
    let dir = tempfile::Builder::new().prefix("report-partial").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let blocker = dir.path().join(report::CSV);
    std::fs::create_dir_all(blocker.join("inside")).unwrap();
    let e = report::write_all(&r, dir.path()).unwrap_err();
    assert!(e.to_string().contains(report::CSV), "{e}");
    let mut left = walk(dir.path());
    left.sort();
    assert_eq!(left, Vec::<String>::new(), "only the blocking folder stays");
    assert!(blocker.join("inside").is_dir());
}
