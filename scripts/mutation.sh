#!/usr/bin/env bash
# Mutation testing (StrykerJS, tap runner) of the envelope pipeline and the core,
# as two runs so each finishes and reports on its own; incremental between runs.
# Writes interop-tests/report/mutation.md. Not part of `make test` (slow).
# STRYKER_CONCURRENCY (default 2) sets Stryker's --concurrency; use 1 to leave a core free.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("${@:-envelope core}")
concurrency="${STRYKER_CONCURRENCY:-2}"
# STRYKER_TIMEOUT_MS (default 5000) is added to each mutant's measured test time before it counts as a
# timeout: a mutant that makes a loop endless (replay-cache eviction) then costs seconds, not 20.
timeout="${STRYKER_TIMEOUT_MS:-5000}"
line() { grep -n "$1" src/core/core.ts | head -1 | cut -d: -f1; }
for part in ${parts[@]}; do
  case "$part" in
    envelope) mutate='src/envelope/*.ts,!src/envelope/index.ts' ;;
    core) mutate='src/core/*.ts,!src/core/simulator.ts,!src/core/index.ts,!src/core/types.ts' ;;
    # Smaller parts for a quick run on a busy machine.
    pipeline) mutate='src/envelope/intake.ts,src/envelope/header.ts,src/envelope/compact.ts,src/envelope/json.ts' ;;
    envelope-rest) mutate='src/envelope/*.ts,!src/envelope/index.ts,!src/envelope/intake.ts,!src/envelope/header.ts,!src/envelope/compact.ts,!src/envelope/json.ts' ;;
    # envelope-rest in two: replay protection and signing (envelope-seal), trust and limits (envelope-trust).
    envelope-seal) mutate='src/envelope/replay-cache.ts,src/envelope/seal.ts,src/envelope/sign.ts,src/envelope/kinds.ts,src/envelope/frames.ts' ;;
    envelope-trust) mutate='src/envelope/trust-store.ts,src/envelope/restart-floor.ts,src/envelope/rate-limit.ts,src/envelope/schemas.ts,src/envelope/sync-signer.ts,src/envelope/keygen.ts' ;;
    core-rules) mutate='src/core/taint.ts,src/core/member.ts,src/core/rollback-set.ts' ;;
    core-small) mutate='src/core/checkpoint.ts,src/core/dependency.ts,src/core/record.ts,src/core/transition-table.ts' ;;
    # src/core/core.ts in three ranges: local inputs (up to #onResult), the agent's answers
    # and timers (#onResult up to #onEnvelope), and publishing the outcome (#applyOutcome to the end).
    core-local)
      to=$(( $(line '^  #onResult(') - 1 ))
      mutate="src/core/core.ts:1-${to}" ;;
    core-answers)
      from=$(line '^  #onResult(')
      to=$(( $(line '^  #onEnvelope(') - 1 ))
      mutate="src/core/core.ts:${from}-${to}" ;;
    core-publish)
      from=$(line '^  #applyOutcome(')
      mutate="src/core/core.ts:${from}-$(wc -l < src/core/core.ts)" ;;
    # Any line range of src/core/core.ts (CORE_LINES=from-to), e.g. to re-check survivors after new
    # tests; starts from core-local's incremental results when it has none of its own.
    core-lines)
      mutate="src/core/core.ts:${CORE_LINES:?CORE_LINES=from-to}"
      [ -f reports/stryker-incremental-core-lines.json ] || cp reports/stryker-incremental-core-local.json reports/stryker-incremental-core-lines.json 2>/dev/null || true ;;
    # The core's handlers of peer envelopes (authorisation, report consistency, digests, cancel, outcome).
    core-peer)
      from=$(line '^  #onEnvelope(')
      to=$(( $(line '^  #applyOutcome(') - 1 ))
      mutate="src/core/core.ts:${from}-${to}" ;;
    *) echo "unknown part $part" >&2; exit 2 ;;
  esac
  npx --no-install stryker run --concurrency "$concurrency" --timeoutMS "$timeout" --mutate "$mutate" --incrementalFile "reports/stryker-incremental-$part.json"
  cp reports/mutation/mutation.json "reports/mutation/$part.json"
done
node --import tsx scripts/mutation-report.ts
