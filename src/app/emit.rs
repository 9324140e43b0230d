//! The job files of `plan --emit`: text templates filled with the suite, the shard count and the
//! paths, so an existing engine runs the shards and then the merge. No scheduler of our own.
//!
//! - Slurm: an array job (`--array=1-N`, `--exclusive` so that no neighbour shares a shard's node
//!   and timings stay clean; on a one-node cluster the shards then run one after another) and a
//!   merge job submitted with `--dependency=afterok:ARRAY --kill-on-invalid-dep=yes` (a failed
//!   shard cancels the merge instead of leaving it pending). Paths are absolute: the jobs run
//!   wherever Slurm starts them, on a file system every node sees.
//! - Kubernetes: an Indexed Job (`completionMode: Indexed`, one pod per shard, the index in
//!   `JOB_COMPLETION_INDEX`) writing to a shared volume, and a merge Job that `submit.sh` applies
//!   once the first completes.
//! - GitHub Actions: a matrix over the shards (`SQUEEZEBENCH_SHARD=K/N`), each uploading its
//!   results.json as an artifact, and a job that downloads them, merges and gates.

use std::path::{Path, PathBuf};

use super::scale::Engine;

/// What the templates are filled with.
pub struct Job<'a> {
    pub suite: &'a Path,
    pub name: &'a str,
    pub shards: usize,
    pub plan_hash: &'a str,
    /// Where shards write `shard-K/` and the merge `merged/`.
    pub results: PathBuf,
    pub costs: Option<&'a Path>,
    pub exe: &'a Path,
    pub image: &'a str,
    pub baseline: &'a str,
}

/// `text` quoted for a POSIX shell.
pub(crate) fn shell_quote(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c)) {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string()
}

/// The files of `engine`: (file name, text, executable).
pub fn files(engine: Engine, job: &Job<'_>) -> Vec<(String, String, bool)> {
    let short = &job.plan_hash[..job.plan_hash.len().min(12)];
    let job_name = format!("sqb-{}", crate::results::store::folder_name(job.name).to_lowercase().replace(['_', '.'], "-"));
    let fill = |t: &str, costs: String, suite: String, results: String| {
        t.replace("@NAME@", job.name)
            .replace("@JOB@", &job_name)
            .replace("@N@", &job.shards.to_string())
            .replace("@PLAN@", short)
            .replace("@SUITE@", &suite)
            .replace("@RESULTS@", &results)
            .replace("@COSTS@", &costs)
            .replace("@EXE@", &shell_quote(&absolute(job.exe)))
            .replace("@IMAGE@", job.image)
            .replace("@BASELINE@", &shell_quote(job.baseline))
            .replace("@RESULTS_VOLUME@", K8S_VOLUME)
    };
    match engine {
        Engine::Slurm => {
            let costs = job.costs.map(|c| format!(" --costs {}", shell_quote(&absolute(c)))).unwrap_or_default();
            let f = |t: &str| fill(t, costs.clone(), shell_quote(&absolute(job.suite)), shell_quote(&absolute(&job.results)));
            vec![("shard.sbatch".into(), f(SLURM_SHARD), true), ("merge.sbatch".into(), f(SLURM_MERGE), true), ("submit.sh".into(), f(SLURM_SUBMIT), true)]
        }
        Engine::K8s => {
            let costs = job.costs.map(|c| format!(" --costs {}", shell_quote(&c.display().to_string()))).unwrap_or_default();
            let f = |t: &str| fill(t, costs.clone(), shell_quote(&job.suite.display().to_string()), "/results".into());
            vec![("shards-job.yaml".into(), f(K8S_SHARDS), false), ("merge-job.yaml".into(), f(K8S_MERGE), false), ("submit.sh".into(), f(K8S_SUBMIT), true)]
        }
        Engine::Github => {
            let costs = job.costs.map(|c| format!(" --costs {}", shell_quote(&c.display().to_string()))).unwrap_or_default();
            let matrix = (1..=job.shards).map(|k| k.to_string()).collect::<Vec<_>>().join(", ");
            let text = fill(GITHUB, costs, shell_quote(&job.suite.display().to_string()), "out".into()).replace("@MATRIX@", &matrix);
            vec![(format!("squeezebench-{}.yml", crate::results::store::folder_name(job.name)), text, false)]
        }
    }
}

const SLURM_SHARD: &str = r#"#!/bin/bash
# Shards of suite '@NAME@' (@N@ shards, plan @PLAN@), written by `squeezebench plan --emit slurm`.
# Submit with ./submit.sh: this array, then merge.sbatch once every shard has succeeded.
#SBATCH --job-name=@JOB@
#SBATCH --array=1-@N@
#SBATCH --exclusive
#SBATCH --output=@RESULTS@/slurm-%A_%a.log
set -euo pipefail
SQUEEZEBENCH="${SQUEEZEBENCH:-@EXE@}"
exec "$SQUEEZEBENCH" run @SUITE@ --shard auto --out @RESULTS@/shard-"$SLURM_ARRAY_TASK_ID" --no-progress@COSTS@
"#;

const SLURM_MERGE: &str = r#"#!/bin/bash
# The merge of suite '@NAME@' (plan @PLAN@): checks that every planned case ran once, then writes
# @RESULTS@/merged/ (results.json and the reports).
#SBATCH --job-name=@JOB@-merge
#SBATCH --output=@RESULTS@/slurm-merge-%j.log
set -euo pipefail
SQUEEZEBENCH="${SQUEEZEBENCH:-@EXE@}"
exec "$SQUEEZEBENCH" merge @RESULTS@/shard-*/results.json --out @RESULTS@/merged
"#;

const SLURM_SUBMIT: &str = r#"#!/bin/bash
# Submits the @N@ shards of suite '@NAME@' as one array job, then the merge, which starts only when
# every shard succeeded (afterok) and is cancelled if one fails. Prints "array=ID merge=ID".
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p @RESULTS@
array=$(sbatch --parsable shard.sbatch)
array=${array%%;*}
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=yes merge.sbatch)
merge=${merge%%;*}
echo "array=$array merge=$merge"
"#;

const K8S_SHARDS: &str = r#"# Shards of suite '@NAME@' (@N@ shards, plan @PLAN@), written by `squeezebench plan --emit k8s`.
# One pod per shard; each writes /results/shard-INDEX/ on the claim squeezebench-results.
apiVersion: batch/v1
kind: Job
metadata:
  name: @JOB@-shards
spec:
  completionMode: Indexed
  completions: @N@
  parallelism: @N@
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: shard
          image: @IMAGE@
          command: ["sh", "-c", "exec squeezebench run @SUITE@ --shard auto/@N@ --out /results/shard-$JOB_COMPLETION_INDEX --no-progress@COSTS@"]
@RESULTS_VOLUME@"#;

const K8S_MERGE: &str = r#"# The merge of suite '@NAME@' (plan @PLAN@): run after @JOB@-shards completed (submit.sh does).
apiVersion: batch/v1
kind: Job
metadata:
  name: @JOB@-merge
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: merge
          image: @IMAGE@
          command: ["sh", "-c", "exec squeezebench merge /results/shard-*/results.json --out /results/merged"]
@RESULTS_VOLUME@"#;

/// The shared volume both Kubernetes Jobs mount at /results.
const K8S_VOLUME: &str = "          volumeMounts:
            - name: results
              mountPath: /results
      volumes:
        - name: results
          persistentVolumeClaim:
            claimName: squeezebench-results
";

const K8S_SUBMIT: &str = r#"#!/bin/bash
# Runs the @N@ shards of suite '@NAME@' as an Indexed Job, waits for it, then runs the merge Job.
set -euo pipefail
cd "$(dirname "$0")"
kubectl apply -f shards-job.yaml
kubectl wait --for=condition=complete --timeout=24h job/@JOB@-shards
kubectl apply -f merge-job.yaml
kubectl wait --for=condition=complete --timeout=1h job/@JOB@-merge
"#;

const GITHUB: &str = r#"# Shards of suite '@NAME@' (@N@ shards, plan @PLAN@), written by `squeezebench plan --emit github`.
# Each matrix job runs one shard and uploads its results.json; the merge job checks and joins them,
# gates the merged run against the baseline and uploads the merged reports.
name: squeezebench @NAME@
on:
  workflow_dispatch:
  pull_request:
jobs:
  shard:
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        shard: [@MATRIX@]
    env:
      SQUEEZEBENCH_SHARD: ${{ matrix.shard }}/@N@
    steps:
      - uses: actions/checkout@v4
      - run: cargo build --release
      - run: target/release/squeezebench run @SUITE@ --shard auto --out out/shard-${{ matrix.shard }} --no-progress@COSTS@
      - uses: actions/upload-artifact@v4
        with:
          name: shard-${{ matrix.shard }}
          path: out/shard-${{ matrix.shard }}/results.json
  merge:
    needs: shard
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: cargo build --release
      - uses: actions/download-artifact@v4
        with:
          pattern: shard-*
          path: shards
      - run: target/release/squeezebench merge shards/*/results.json --out out/merged
      - run: target/release/squeezebench gate --baseline @BASELINE@ --current out/merged --summary "$GITHUB_STEP_SUMMARY"
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: merged
          path: out/merged
"#;
