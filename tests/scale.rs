//! Beyond one machine: case ids and shard plans (property test on suites/quick.yaml), `--shard
//! auto` on each engine's variables, and every refusal of `merge` (on documents built from the
//! sample results; tests/scale_run.rs merges real shard runs).

mod results_sample;

use std::collections::BTreeSet;
use std::path::Path;

use squeezebench::app::scale::resolve_shard;
use squeezebench::results::{merge, PlannedCase, Results, ShardPlan, PLAN_ALGORITHM};

/// For every N from 1 to 8 the shards of quick.yaml are disjoint, cover every case, are the same
/// on every call and keep each model's cases together; ids are distinct and pinned to content.
#[test]
fn quick_yaml_shards_are_disjoint_complete_stable_and_keep_models_together() {
    let suite = squeezebench::suite::load(Path::new("suites/quick.yaml")).unwrap();
    let cases = squeezebench::suite::expand(&suite);
    let mut first_hash = None;
    for n in 1..=8 {
        let p = squeezebench::suite::shards::plan(&suite, &cases, n, None).unwrap();
        let again = squeezebench::suite::shards::plan(&squeezebench::suite::load(Path::new("suites/quick.yaml")).unwrap(), &cases, n, None).unwrap();
        assert_eq!(p, again, "N={n}: the plan is the same on every call");
        assert_eq!(p.cases.len(), cases.len(), "N={n}: every case is planned");
        let ids: Vec<&str> = p.cases.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), "N={n}: in suite order");
        let mut covered = BTreeSet::new();
        for k in 1..=n {
            for c in p.cases_of(k) {
                assert!(covered.insert(c.id.clone()), "N={n}: {} is in two shards", c.id);
            }
        }
        assert_eq!(covered.len(), cases.len(), "N={n}: the shards cover every case");
        for m in &suite.models {
            let shards: BTreeSet<usize> = p.cases.iter().filter(|c| c.id.starts_with(&format!("{}/", m.name))).map(|c| c.shard).collect();
            assert_eq!(shards.len(), 1, "N={n}: model {} is on shards {shards:?}", m.name);
        }
        let keys: BTreeSet<&str> = p.cases.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys.len(), cases.len(), "content ids are distinct");
        assert!(p.cases.iter().all(|c| c.key.len() == 64 && c.cost_s > 0.0));
        // The suite hash depends on the cases, not on N; the plan hash on both.
        assert_eq!(*first_hash.get_or_insert(p.suite_hash.clone()), p.suite_hash);
        // Balance: with a shard per model, the full-size models are on shards of their own.
        if n >= 4 {
            let big: Vec<usize> = ["bert-base/", "squeezebert-base/"].iter().map(|m| p.cases.iter().find(|c| c.id.starts_with(m)).unwrap().shard).collect();
            assert_ne!(big[0], big[1]);
        }
    }
    let p2 = squeezebench::suite::shards::plan(&suite, &cases, 2, None).unwrap();
    let p3 = squeezebench::suite::shards::plan(&suite, &cases, 3, None).unwrap();
    assert_ne!(p2.plan_hash, p3.plan_hash);
    assert_eq!(p2.algorithm, PLAN_ALGORITHM);
}

/// A changed model file or variant recipe changes the content ids and the suite hash; layout and
/// comments of the suite file do not.
#[test]
fn content_ids_follow_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let fx = std::fs::canonicalize("fixtures").unwrap();
    std::fs::copy(fx.join("bert-tiny.onnx"), dir.path().join("m.onnx")).unwrap();
    let text = "name: t\nmodels:\n  m: {path: m.onnx}\nvariants:\n  fp32: {reference: true}\n  fast: {steps: [{rewrite: default}]}\nworkloads: {threads: [1]}\n";
    let plan_of = |text: &str| {
        let path = dir.path().join("s.yaml");
        std::fs::write(&path, text).unwrap();
        let s = squeezebench::suite::load(&path).unwrap();
        squeezebench::suite::shards::plan(&s, &squeezebench::suite::expand(&s), 1, None).unwrap()
    };
    let a = plan_of(text);
    let b = plan_of(&format!("# a comment\n{}", text.replace("{reference: true}", "{ reference: true }")));
    assert_eq!(a.suite_hash, b.suite_hash);
    let c = plan_of(&text.replace("rewrite: default", "rewrite: 'default,conv-matmul'"));
    assert_eq!(a.cases[0].key, c.cases[0].key, "the fp32 case is unchanged");
    assert_ne!(a.cases[1].key, c.cases[1].key, "the changed variant has a new id");
    std::fs::copy(fx.join("squeezebert-tiny.onnx"), dir.path().join("m.onnx")).unwrap();
    let d = plan_of(text);
    assert!(a.cases.iter().zip(&d.cases).all(|(x, y)| x.key != y.key), "other model bytes, other ids");
    assert_ne!(a.suite_hash, d.suite_hash);
}

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// `--shard auto` on Slurm arrays starting at 0 or 1 (or with a step), Kubernetes' 0-based index
/// and the CI variable; each says where it came from, and contradictions are errors.
#[test]
fn shard_auto_reads_each_engine() {
    let r = |spec: &str, v: &[(&str, &str)]| resolve_shard(spec, &vars(v));
    let k = |spec: &str, v: &[(&str, &str)]| r(spec, v).map(|c| (c.k, c.n)).unwrap();
    assert_eq!(k("2/3", &[]), (2, 3));
    assert_eq!(k("auto", &[("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_COUNT", "3")]), (1, 3));
    assert_eq!(k("auto", &[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "3")]), (3, 3));
    assert_eq!(k("auto", &[("SLURM_ARRAY_TASK_ID", "14"), ("SLURM_ARRAY_TASK_MIN", "10"), ("SLURM_ARRAY_TASK_STEP", "2"), ("SLURM_ARRAY_TASK_COUNT", "3")]), (3, 3));
    assert_eq!(k("auto/4", &[("JOB_COMPLETION_INDEX", "0")]), (1, 4));
    assert_eq!(k("auto", &[("SQUEEZEBENCH_SHARD", "2/5")]), (2, 5));
    let c = r("auto", &[("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_COUNT", "2"), ("SQUEEZEBENCH_SHARD", "1/9")]).unwrap();
    assert!(c.from.contains("SLURM_ARRAY_TASK_ID=1") && (c.k, c.n) == (2, 2), "Slurm first: {c:?}");
    for (spec, v, says) in [
        ("auto", vec![], "none of SLURM_ARRAY_TASK_ID"),
        ("auto", vec![("JOB_COMPLETION_INDEX", "1")], "auto/N"),
        ("auto/4", vec![("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "3")], "says 3"),
        ("auto", vec![("SLURM_ARRAY_TASK_ID", "1")], "SLURM_ARRAY_TASK_MIN"),
        ("4/3", vec![], "1 ≤ K ≤ N"),
        ("0/3", vec![], "1 ≤ K ≤ N"),
        ("x/3", vec![], "not a whole number"),
        ("3", vec![], "expected K/N"),
        ("auto/2", vec![("JOB_COMPLETION_INDEX", "2")], "1 ≤ K ≤ N"),
    ] {
        let e = r(spec, &v).unwrap_err();
        assert!(e.contains(says), "{spec} {v:?}: {e}");
    }
}

/// The sample results split into `n` shards by model, as `run --shard K/N` would write them.
fn shards(n: usize) -> Vec<(String, Results)> {
    let whole = results_sample::baseline();
    let models: Vec<String> = {
        let mut m: Vec<String> = whole.cases.iter().map(|c| c.model.clone()).collect();
        m.dedup();
        m
    };
    let names: Vec<&str> = models.iter().map(String::as_str).collect();
    let assigned = squeezebench::suite::shards::assign(&names, &vec![1.0; names.len()], n);
    let cases: Vec<PlannedCase> = whole
        .cases
        .iter()
        .map(|c| PlannedCase { id: c.id.clone(), key: squeezebench::util::sha256_hex(c.id.as_bytes()), shard: assigned[names.iter().position(|m| *m == c.model).unwrap()], cost_s: 1.0 })
        .collect();
    let plan = ShardPlan { algorithm: PLAN_ALGORITHM.into(), suite_hash: "5a".repeat(32), plan_hash: format!("{n:02}").repeat(32), shards: n, shard: 0, costs: "estimate".into(), testbed: String::new(), cases };
    (1..=n)
        .map(|k| {
            let mut r = whole.clone();
            r.cases.retain(|c| plan.cases.iter().any(|p| p.id == c.id && p.shard == k));
            r.shard = Some(ShardPlan { shard: k, testbed: r.environment.testbed(), ..plan.clone() });
            (format!("shard-{k}/results.json"), r)
        })
        .collect()
}

fn problems(files: &[(String, Results)]) -> Vec<String> {
    merge(files, false).unwrap_err().0
}

#[test]
fn merged_shards_equal_the_whole_run() {
    let whole = results_sample::baseline();
    let m = merge(&shards(3), false).unwrap();
    assert_eq!(m.cases, whole.cases, "every case once, in plan order");
    assert_eq!(m.models.len(), 4);
    assert!(!m.incomplete && m.shard.is_none() && m.testbeds.is_empty());
    let info = m.merge.as_ref().unwrap();
    assert_eq!((info.shards, info.files.len()), (3, 3));
    // The merged document reads back, renders and gates like a run.
    let back = Results::from_json(&m.to_json()).unwrap();
    assert_eq!(back, m);
    let report = squeezebench::gate::compare(&whole, &m, &m.thresholds, &Default::default()).unwrap();
    assert!(!report.failed());
}

/// Each refusal names the file and the case: mixed suite hash, a missing case, a duplicated
/// case, a shard from another plan, a case outside its shard, a file that is no shard, another
/// tool version.
#[test]
fn merge_refuses_what_does_not_add_up() {
    let mut f = shards(3);
    f[1].1.shard.as_mut().unwrap().suite_hash = "77".repeat(32);
    let p = problems(&f);
    assert!(p[0].contains("'shard-2/results.json' has suite hash 777777777777") && p[0].contains("another suite"), "{p:?}");

    let mut f = shards(3);
    f[1].1.shard.as_mut().unwrap().suite_hash = "77".repeat(32);
    f[1].1.shard.as_mut().unwrap().cases[0].key = "00".repeat(32);
    let p = problems(&f);
    assert!(p[0].contains("cases differ: 'bert-base/fp32/b1-s128-t2'"), "{p:?}");

    let mut f = shards(3);
    let gone = f[0].1.cases.remove(0).id;
    let p = problems(&f);
    assert_eq!(p, [format!("case '{gone}' of testbed '{}' is missing: 'shard-1/results.json' (shard 1) does not hold it", f[0].1.environment.testbed())]);
    let partial = merge(&f, true).unwrap();
    assert!(partial.incomplete);
    assert_eq!(partial.merge.unwrap().missing, [format!("{}: {gone}", f[0].1.environment.testbed())]);

    let mut f = shards(3);
    f[1].1.cases[0].status = squeezebench::results::Status::Interrupted;
    let cut = f[1].1.cases[0].id.clone();
    let p = problems(&f);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains(&format!("case '{cut}'")) && p[0].contains("'shard-2/results.json' (shard 2) was interrupted before it finished"), "{p:?}");
    let partial = merge(&f, true).unwrap();
    assert!(partial.incomplete && partial.case(&cut).is_some(), "kept, with what it measured");

    let mut f = shards(3);
    f.remove(2);
    let p = problems(&f);
    assert!(!p.is_empty() && p.iter().all(|m| m.contains("no file holds shard 3/3")), "{p:?}");

    let mut f = shards(3);
    f.push(("again/results.json".into(), f[0].1.clone()));
    let p = problems(&f);
    assert!(p.iter().any(|m| m.contains("'again/results.json' and 'shard-1/results.json' both hold shard 1/3")), "{p:?}");
    assert!(p.iter().any(|m| m.contains("is doubled: in 'shard-1/results.json' and in 'again/results.json'") && m.contains("case 'bert-base/fp32/b1-s128-t2'")), "{p:?}");

    let mut f = shards(3);
    let other = shards(2);
    f[2] = ("other/results.json".into(), other[1].1.clone());
    let p = problems(&f);
    assert!(p[0].contains("'other/results.json' is shard 2/2, 'shard-1/results.json' shard 1/3: a shard from another plan"), "{p:?}");

    let mut f = shards(3);
    let moved = f[0].1.shard.clone().unwrap().cases.iter().position(|c| c.shard == 1).unwrap();
    let s = f[1].1.shard.as_mut().unwrap();
    s.cases[moved].shard = 2;
    s.plan_hash = "99".repeat(32);
    let p = problems(&f);
    assert!(p[0].contains("'shard-2/results.json' is a shard from another plan") && p[0].contains("'bert-base/fp32/b1-s128-t2' on shard 2 there, 1 in 'shard-1/results.json'"), "{p:?}");

    let mut f = shards(3);
    let stray = f[0].1.cases[0].clone();
    f[1].1.cases.push(stray);
    let p = problems(&f);
    assert!(p.iter().any(|m| m == "'shard-2/results.json': case 'bert-base/fp32/b1-s128-t2' is planned for shard 1, but the file is shard 2"), "{p:?}");

    let mut f = shards(3);
    f[0].1.shard = None;
    assert!(problems(&f)[0].contains("'shard-1/results.json' is not a shard's results"));

    let mut f = shards(3);
    f[2].1.environment.squeezebench_version = "9.9.9".into();
    assert!(problems(&f)[0].contains("'shard-3/results.json' was written by squeezebench 9.9.9"));
}

/// A results file of another schema version is refused when read, naming the file.
#[test]
fn merge_cli_refuses_another_schema_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = shards(2);
    let mut paths = Vec::new();
    for (k, (_, r)) in f.iter().enumerate() {
        let p = dir.path().join(format!("s{k}.json"));
        let mut v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        if k == 1 {
            v["schema_version"] = 2.into();
        }
        std::fs::write(&p, v.to_string()).unwrap();
        paths.push(p);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_squeezebench")).arg("merge").args(&paths).arg("-o").arg(dir.path().join("m")).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("s1.json' has results schema version 2"), "{err}");
    assert!(!dir.path().join("m").exists(), "nothing written");
}

/// Shards of two testbeds merge into one document holding each case once per testbed; split
/// again, each testbed is its own run.
#[test]
fn two_testbeds_merge_side_by_side() {
    let mut f = shards(2);
    let mut other = shards(2);
    for (name, r) in other.iter_mut() {
        *name = format!("arm/{name}");
        r.environment.cpu.model = "Neoverse-V2".into();
        r.environment.cpu.flags = vec!["asimd".into(), "asimddp".into(), "i8mm".into()];
        r.shard.as_mut().unwrap().testbed = r.environment.testbed();
    }
    f.extend(other);
    let m = merge(&f, false).unwrap();
    assert_eq!(m.testbeds.len(), 2);
    assert_eq!(m.cases.len(), 2 * results_sample::baseline().cases.len());
    assert!(m.cases.iter().all(|c| c.testbed.is_some()));
    let split = m.by_testbed();
    assert_eq!(split.len(), 2);
    assert!(split[1].0.starts_with("Neoverse-V2; asimddp i8mm;"), "{}", split[1].0);
    assert_eq!(split[0].1.cases, results_sample::baseline().cases);
    f.pop();
    let p = problems(&f);
    assert!(p.iter().any(|m| m.contains("of testbed 'Neoverse-V2") && m.contains("no file holds shard 2/2")), "{p:?}");
}

/// `plan --emit`: the Slurm files are valid bash with an array of N and a merge submitted after
/// it with `afterok`; the Kubernetes and GitHub files are YAML with an Indexed Job of N, a merge
/// Job, a matrix of N shards uploading artifacts and a merge-and-gate job that needs them.
#[test]
fn emitted_job_files_are_ready_to_submit() {
    let dir = tempfile::tempdir().unwrap();
    let emit = |engine: &str| {
        let out = dir.path().join(engine);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_squeezebench"))
            .args(["plan", "suites/ci.yaml", "--shards", "3", "--emit", engine, "-o"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let read = |p: std::path::PathBuf| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let yaml = |text: &str| -> serde_json::Value { serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}\n{text}")) };

    let slurm = emit("slurm");
    for f in ["shard.sbatch", "merge.sbatch", "submit.sh"] {
        let st = std::process::Command::new("bash").arg("-n").arg(slurm.join(f)).status().unwrap();
        assert!(st.success(), "{f} is not valid bash");
    }
    let shard = read(slurm.join("shard.sbatch"));
    assert!(shard.contains("#SBATCH --array=1-3\n") && shard.contains("#SBATCH --exclusive\n") && shard.contains("--shard auto --out "), "{shard}");
    let suite = std::fs::canonicalize("suites/ci.yaml").unwrap();
    assert!(shard.contains(&format!(" run {} ", suite.display())), "absolute suite path: {shard}");
    assert!(read(slurm.join("merge.sbatch")).contains(" merge ") && read(slurm.join("merge.sbatch")).contains("/shard-*/results.json --out "));
    let submit = read(slurm.join("submit.sh"));
    assert!(submit.contains("sbatch --parsable shard.sbatch") && submit.contains("--dependency=afterok:\"$array\" --kill-on-invalid-dep=yes merge.sbatch"), "{submit}");

    let k8s = emit("k8s");
    let job = yaml(&read(k8s.join("shards-job.yaml")));
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 3);
    let cmd = job["spec"]["template"]["spec"]["containers"][0]["command"][2].as_str().unwrap();
    assert!(cmd.contains("--shard auto/3") && cmd.contains("shard-$JOB_COMPLETION_INDEX"), "{cmd}");
    let merge_job = yaml(&read(k8s.join("merge-job.yaml")));
    assert!(merge_job["spec"]["template"]["spec"]["containers"][0]["command"][2].as_str().unwrap().contains("squeezebench merge /results/shard-*/results.json"));
    assert_eq!(merge_job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "squeezebench-results");
    assert!(read(k8s.join("submit.sh")).contains("kubectl wait --for=condition=complete"));

    let gh = emit("github");
    let wf = yaml(&read(gh.join("squeezebench-ci.yml")));
    assert_eq!(wf["jobs"]["shard"]["strategy"]["matrix"]["shard"], serde_json::json!([1, 2, 3]));
    assert_eq!(wf["jobs"]["shard"]["env"]["SQUEEZEBENCH_SHARD"], "${{ matrix.shard }}/3");
    let steps = |job: &str| wf["jobs"][job]["steps"].as_array().unwrap().iter().map(|s| s.to_string()).collect::<Vec<_>>().join("\n");
    assert!(steps("shard").contains("actions/upload-artifact") && steps("shard").contains("--shard auto"));
    assert_eq!(wf["jobs"]["merge"]["needs"], "shard");
    let merge_steps = steps("merge");
    assert!(merge_steps.contains("actions/download-artifact") && merge_steps.contains("squeezebench merge shards/*/results.json") && merge_steps.contains("squeezebench gate --baseline main"), "{merge_steps}");
}

/// `--costs`: the wall times of an earlier run replace the estimates of the cases it holds ok,
/// and move the assignment (same suite hash, another plan).
#[test]
fn earlier_wall_times_balance_the_plan() {
    let suite = squeezebench::suite::load(Path::new("suites/quick.yaml")).unwrap();
    let cases = squeezebench::suite::expand(&suite);
    let mut prev = results_sample::results();
    for c in prev.cases.iter_mut().filter(|c| c.model == "squeezebert-base") {
        c.wall_s = 500.0;
    }
    let p = squeezebench::suite::shards::plan(&suite, &cases, 2, Some(("prev.json", &prev))).unwrap();
    let est = squeezebench::suite::shards::plan(&suite, &cases, 2, None).unwrap();
    assert_eq!((p.costs.as_str(), est.costs.as_str()), ("results: prev.json", "estimate"));
    let cost = |id: &str| p.cases.iter().find(|c| c.id == id).unwrap().cost_s;
    assert_eq!(cost("squeezebert-base/fp32/b1-s128-t2"), 500.0);
    assert_eq!(cost("squeezebert-base/conv-matmul/b1-s128-t2"), 500.0);
    assert_eq!(cost("bert-base/fp32/b1-s128-t2"), 6.5);
    let shard_of = |p: &ShardPlan, m: &str| p.cases.iter().find(|c| c.id.starts_with(m)).unwrap().shard;
    assert!(p.cases.iter().filter(|c| c.shard == shard_of(&p, "squeezebert-base/")).all(|c| c.id.starts_with("squeezebert-base/")), "alone on its shard");
    assert_eq!(p.suite_hash, est.suite_hash);
    assert_ne!(p.plan_hash, est.plan_hash);
}
