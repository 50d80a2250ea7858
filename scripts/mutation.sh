#!/usr/bin/env bash
# Mutation testing (StrykerJS, tap runner) of the envelope pipeline and the core,
# as two runs so each finishes and reports on its own; incremental between runs.
# Writes interop-tests/report/mutation.md. Not part of `make test` (slow).
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("${@:-envelope core}")
for part in ${parts[@]}; do
  case "$part" in
    envelope) mutate='src/envelope/*.ts,!src/envelope/index.ts' ;;
    core) mutate='src/core/*.ts,!src/core/simulator.ts,!src/core/index.ts,!src/core/types.ts' ;;
    # Smaller parts for a quick run on a busy machine.
    pipeline) mutate='src/envelope/intake.ts,src/envelope/header.ts,src/envelope/compact.ts,src/envelope/json.ts' ;;
    core-rules) mutate='src/core/taint.ts,src/core/member.ts,src/core/rollback-set.ts' ;;
    # The core's handlers of peer envelopes (authorisation, report consistency, digests, cancel, outcome).
    core-peer)
      from=$(grep -n '^  #onEnvelope(' src/core/core.ts | cut -d: -f1)
      to=$(( $(grep -n '^  #applyOutcome(' src/core/core.ts | cut -d: -f1) - 1 ))
      mutate="src/core/core.ts:${from}-${to}" ;;
    *) echo "unknown part $part" >&2; exit 2 ;;
  esac
  npx --no-install stryker run --mutate "$mutate" --incrementalFile "reports/stryker-incremental-$part.json"
  cp reports/mutation/mutation.json "reports/mutation/$part.json"
done
node --import tsx scripts/mutation-report.ts
