#!/usr/bin/env bash
# A one-node Slurm cluster on loopback, for tests/slurm.rs (docs/scale-out.md).
#
#   eval "$(.ci/slurm.sh start)"       # prints the variables to export
#   .ci/slurm.sh stop "$SQUEEZEBENCH_SLURM_DIR"
#
# start: installs slurm-wlm and munge from the system's packages if missing (apt-get, as root),
# writes a munge key and a slurm.conf under a new temporary folder (state, spool, logs and pid
# files there too), starts munged, slurmctld and slurmd, waits until the node is idle, and prints
# `export` lines: SLURM_CONF, SQUEEZEBENCH_SLURM=1, SQUEEZEBENCH_SLURM_DIR. Messages go to stderr.
# stop: cancels the cluster's jobs, stops the daemons by their pid files and removes the folder.
set -euo pipefail

say() { echo "slurm.sh: $*" >&2; }

start() {
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
        say "installing slurm-wlm and munge"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends slurm-wlm munge >&2
    fi
    local dir host cpus
    dir=$(mktemp -d /tmp/squeezebench-slurm.XXXXXX)
    chmod 755 "$dir"
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
    chmod 700 "$dir/munge"
    head -c 1024 /dev/urandom >"$dir/munge/munge.key"
    chmod 400 "$dir/munge/munge.key"
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" >&2
    host=$(hostname -s)
    cpus=$(nproc)
    cat >"$dir/slurm.conf" <<EOF
ClusterName=squeezebench
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MinJobAge=3600
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$dir/slurm.conf"
    slurmctld -f "$SLURM_CONF" >&2
    slurmd -f "$SLURM_CONF" >&2
    local i state=""
    for i in $(seq 1 60); do
        state=$(sinfo -h -o %T 2>/dev/null || true)
        [ "$state" = idle ] && break
        sleep 0.5
    done
    if [ "$state" != idle ]; then
        say "the node did not come up (state '$state'); logs in $dir/log:"
        tail -n 20 "$dir"/log/*.log >&2 || true
        stop "$dir"
        exit 1
    fi
    say "one-node cluster up ($host, $cpus CPUs, $dir)"
    echo "export SLURM_CONF='$dir/slurm.conf' SQUEEZEBENCH_SLURM=1 SQUEEZEBENCH_SLURM_DIR='$dir'"
}

stop_pid() {
    local file=$1 pid i
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

stop() {
    local dir=${1:?usage: slurm.sh stop DIR}
    case "$dir" in /tmp/squeezebench-slurm.*) ;; *) say "refusing to stop '$dir'"; exit 2 ;; esac
    if [ -f "$dir/slurm.conf" ]; then
        SLURM_CONF="$dir/slurm.conf" scancel --user="$(id -un)" 2>/dev/null || true
        sleep 1
    fi
    stop_pid "$dir/slurmd.pid"
    stop_pid "$dir/slurmctld.pid"
    stop_pid "$dir/munge/munged.pid"
    rm -rf "$dir"
    say "stopped"
}

case "${1:-}" in
start) start ;;
stop) stop "${2:-}" ;;
*) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
