//! A real engine: `suites/ci.yaml` in 3 shards as a Slurm array on the one-node cluster that
//! `.ci/run` starts (`.ci/slurm.sh`), its dependent merge job, then the merged results checked
//! (every case once) and gated against a single-machine run of the same suite. Skipped, saying
//! so, when no cluster is up (`SQUEEZEBENCH_SLURM` unset).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use squeezebench::results::{Results, Status};

/// The longest the test waits for the merge job (ci.yaml takes 30-60 s on one machine).
const WAIT: Duration = Duration::from_secs(900);

fn ok(c: &mut Command, what: &str) -> String {
    let o = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let (out, err) = (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned());
    assert!(o.status.success(), "{what}: {:?}\n{out}\n{err}", o.status);
    out
}

/// `JobState` of a job, from `scontrol show job -o`.
fn state(job: &str) -> String {
    let out = Command::new("scontrol").args(["show", "job", "-o", job]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    out.split_whitespace().find_map(|w| w.strip_prefix("JobState=")).unwrap_or("UNKNOWN").to_string()
}

fn logs(dir: &Path) -> String {
    common::files_with_suffix(dir, ".log").iter().map(|p| format!("--- {}\n{}", p.display(), std::fs::read_to_string(p).unwrap_or_default())).collect()
}

#[test]
fn ci_suite_in_three_slurm_shards_merges_and_passes_the_gate() {
    if std::env::var("SQUEEZEBENCH_SLURM").ok().as_deref() != Some("1") {
        eprintln!("skipped: no Slurm cluster (SQUEEZEBENCH_SLURM is not 1; .ci/run starts one with .ci/slurm.sh)");
        return;
    }
    let dir = common::scratch("slurm");
    let d = dir.path();
    let exe = env!("CARGO_BIN_EXE_squeezebench");
    let (jobs, results, cache) = (d.join("jobs"), d.join("results"), d.join("cache"));
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("suites/ci.yaml");
    ok(Command::new(exe).arg("plan").arg(&suite).args(["--shards", "3", "--emit", "slurm", "-o"]).arg(&jobs).arg("--results-dir").arg(&results), "plan --emit slurm");
    let started = Instant::now();
    let submitted = ok(Command::new(jobs.join("submit.sh")).env("SQUEEZEBENCH_CACHE_DIR", &cache), "submit.sh");
    let merge_job = submitted.split_whitespace().find_map(|w| w.strip_prefix("merge=")).unwrap_or_else(|| panic!("no merge job id in: {submitted}")).to_string();
    let array_job = submitted.split_whitespace().find_map(|w| w.strip_prefix("array=")).unwrap().to_string();
    let end = loop {
        let s = state(&merge_job);
        if ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"].contains(&s.as_str()) {
            break s;
        }
        if started.elapsed() > WAIT {
            let _ = Command::new("scancel").args([&array_job, &merge_job]).status();
            panic!("the merge job {merge_job} is still {s} after {WAIT:?}\n{}", logs(&results));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let sharded_s = started.elapsed().as_secs_f64();
    assert_eq!(end, "COMPLETED", "merge job {merge_job}\n{}", logs(&results));

    let merged = Results::load_run(&results.join("merged")).unwrap();
    let plan = squeezebench::suite::load(&suite).unwrap();
    let expected: Vec<String> = squeezebench::suite::expand(&plan).into_iter().map(|c| c.id).collect();
    let got: Vec<String> = merged.cases.iter().map(|c| c.id.clone()).collect();
    assert_eq!(got, expected, "every case once, in suite order");
    assert!(merged.cases.iter().all(|c| c.status == Status::Ok));
    let info = merged.merge.as_ref().unwrap();
    assert_eq!(info.files.len(), 3, "three shards, one empty (ci.yaml has two models)");

    let started = Instant::now();
    let single = d.join("single");
    ok(Command::new(exe).arg("run").arg(&suite).arg("--out").arg(&single).arg("--cache-dir").arg(&cache).arg("--no-progress"), "single-machine run");
    let single_s = started.elapsed().as_secs_f64();
    let gate = ok(Command::new(exe).arg("gate").arg("--baseline").arg(&single).arg("--current").arg(results.join("merged")), "gate merged vs single");
    eprintln!("slurm: 3 shards + merge {sharded_s:.1} s (array {array_job}, merge {merge_job}), one machine {single_s:.1} s\n{gate}");
    for f in &info.files {
        eprintln!("  shard {} cases {:.1} s ({} → {})", f.shard, f.cases_wall_s, f.started_at, f.finished_at.as_deref().unwrap_or("-"));
    }
}
