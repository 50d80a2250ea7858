#!/usr/bin/env bash
# Where the nodes' CPU goes during a rollback shape: runs bench/profile/run.ts
# with V8's perf map (--perf-basic-prof), records every CPU with `perf record -a`
# once the first WARM runs are over, and prints the share of the node processes'
# samples per category (bench/profile/categories.py: innermost recognisable frame).
#   SHAPE=tree N=1000 RUNS=14 TRANSPORT=http WARM=4 SECONDS_=12 bench/profile/perf.sh
# Needs root (perf -a) and Linux perf.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
RUNS=${RUNS:-14} node --perf-basic-prof --import tsx bench/profile/run.ts > "$out/run.log" 2>&1 &
runner=$!
until grep -q "^run $((${WARM:-4} - 1)):" "$out/run.log" 2>/dev/null; do
  kill -0 $runner 2>/dev/null || { cat "$out/run.log"; exit 1; }
  sleep 0.5
done
perf record -q -F 999 -a -g -o "$out/perf.data" -- sleep "${SECONDS_:-12}" 2>/dev/null
wait $runner
cat "$out/run.log"
pids=$(sed -n 's/^node pids //p' "$out/run.log")
perf script -i "$out/perf.data" -F comm,pid,ip,sym,dso 2>/dev/null | python3 bench/profile/categories.py "$pids"
rm -rf "$out" /tmp/perf-*.map
