#!/usr/bin/env bash
# Gate A/A and an injected slowdown, as recorded in benchmarks/2026-12-03-gate-trust.md.
# Usage (from the repository root, release build): benchmarks/scripts/gate-aa.sh [PAIRS]
# 1. PAIRS back-to-back runs of suites/ci.yaml, each pair gated with the default thresholds.
# 2. suites/ci.yaml at 8 rounds, once plain and once with bert-tiny/fp32 slowed by 60 %
#    (the SQUEEZEBENCH_TEST_DELAY_CASE hook), gated.
# 3. suites/ci.yaml at 2 rounds with a busy loop on a second core: the lowest p50 bound printed.
set -uo pipefail
B=${SQUEEZEBENCH:-target/release/squeezebench}
PAIRS=${1:-5}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
gate() { "$B" gate --baseline "$1" --current "$2" > "$W/gate.md"; local rc=$?; head -1 "$W/gate.md"; grep -E '^- ' "$W/gate.md"; echo "exit $rc"; }
for i in $(seq 1 "$PAIRS"); do
  "$B" run suites/ci.yaml -o "$W/a$i" --no-progress 2>/dev/null >/dev/null
  "$B" run suites/ci.yaml -o "$W/b$i" --no-progress 2>/dev/null >/dev/null
  echo "== A/A pair $i"; gate "$W/a$i" "$W/b$i"
done
sed 's/^  rounds: 16.*/  rounds: 8/' suites/ci.yaml > suites/.ci8.yaml
"$B" run suites/.ci8.yaml -o "$W/base8" --no-progress 2>/dev/null >/dev/null
SQUEEZEBENCH_TEST_DELAY_CASE='bert-tiny/fp32/b1-s128-t1=0.6' "$B" run suites/.ci8.yaml -o "$W/slow8" --no-progress 2>/dev/null >/dev/null
echo "== 60 % slowdown of bert-tiny/fp32, 8 rounds"; gate "$W/base8" "$W/slow8"
sed 's/^  rounds: 16.*/  rounds: 2/' suites/ci.yaml > suites/.ci2.yaml
( while :; do :; done ) & BUSY=$!
"$B" run suites/.ci2.yaml -o "$W/r2" --no-progress 2>&1 | grep -E '^ok ' 
kill $BUSY
python3 - "$W/r2/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lows = [(c["id"], c["latency"]["p50_ci_ms"][0]) for c in r["cases"] if c.get("latency")]
print("== 2 rounds, busy second core: lowest p50 lower bound", min(l for _, l in lows), "ms over", len(lows), "cases")
PY
rm -f suites/.ci8.yaml suites/.ci2.yaml
