/**
 * Benchmark: resolution of a rollback set over a large dependency graph.
 * Not part of the test suite. Run: node --import tsx bench/core-resolution.ts [executions] [dependencies]
 *
 * 1. Hot path: the core's own taint rule (Dependencies index, memberTarget,
 *    taintedDependents) applied hop by hop from one failure until every
 *    member's target is settled (targets only move earlier), over 100,000
 *    executions and 300,000 dependencies in one process. Goal < 1 s.
 * 2. End to end: the same kind of graph (smaller) through the simulator:
 *    one Core per agent, every request/report/record, no network delay.
 */
import { Dependencies, Execution, memberTarget, taintedDependents, Simulator, decodeCompact } from '../src/core/index.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pathToFileURL } from 'node:url';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const gcNow = (): void => { collect(); collect(); };

export interface ResolutionResult {
  executions: number; dependencies: number; members: number; requests: number;
  medianMs: number; minMs: number; maxMs: number; bytesPerExecution: number;
  simulator?: { instances: number; members: number; events: number; ms: number };
}

/** Hot path at scale (goal < 1 s) and, if simN > 0, the simulator end to end. */
export function coreResolution(N: number, M: number, simN: number, runCount = 5, print = false): ResolutionResult {

const SEQS = 3;
let seed = 12345;
const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const digest = 'sha-256:' + '0'.repeat(64);

function graph(n: number, m: number): { c: number; cs: number; p: number; ps: number }[] {
  const deps = [];
  for (let i = 0; i < m; i++) {
    const c = Math.floor(rand() * n);
    let p = Math.floor(rand() * n);
    if (p === c) p = (p + 1) % n;
    deps.push({ c, cs: 1 + Math.floor(rand() * SEQS), p, ps: 1 + Math.floor(rand() * SEQS) });
  }
  return deps;
}

// ---- 1. hot path at scale --------------------------------------------------
gcNow();
const heap0 = process.memoryUsage().heapUsed;
const deps = graph(N, M);
const executions = new Map<string, Execution>();
const index = new Dependencies();
const agent = (i: number): string => `n${i}`;
for (let i = 0; i < N; i++) {
  const e = new Execution(`x${i}`);
  for (let s = 1; s <= SEQS; s++) e.add({ id: `x${i}-k${s}`, seq: s, digest, reversibility: 'reversible', hints: [] });
  executions.set(`x${i}`, e);
}
for (const d of deps) {
  index.addConsumption({ consumer: `x${d.c}`, consumerCheckpoint: `x${d.c}-k${d.cs}`, consumerSeq: d.cs, producerAgent: agent(d.p), producerExecution: `x${d.p}`, producerCheckpoint: `x${d.p}-k${d.ps}`, producerSeq: d.ps });
  index.addDependent({ producerExecution: `x${d.p}`, producerCheckpoint: `x${d.p}-k${d.ps}`, producerSeq: d.ps, consumerAgent: agent(d.c), consumerExecution: `x${d.c}`, consumerCheckpoint: `x${d.c}-k${d.cs}`, consumerSeq: d.cs, consumerDigest: digest });
}
gcNow();
const heap1 = process.memoryUsage().heapUsed;

function resolve(failed: number, t: number): Map<string, number> {
  const target = new Map<string, number>([[`x${failed}`, t]]);
  const queue: string[] = [`x${failed}`];
  let messages = 0;
  while (queue.length) {
    const x = queue.pop()!;
    const tx = target.get(x)!;
    // forward: one request per tainted dependent execution; the dependent computes its own target
    for (const dep of taintedDependents(index.dependentsOf(x), tx)) {
      messages++;
      const c = memberTarget(index.consumptionsOf(dep.execution), agent(Number(x.slice(1))), x, tx)!;
      const old = target.get(dep.execution);
      if (old === undefined || c.consumerSeq < old) {
        target.set(dep.execution, c.consumerSeq); // earlier target: roll back further and re-forward
        queue.push(dep.execution);
      }
    }
  }
  resolve.messages = messages;
  return target;
}
resolve.messages = 0;

resolve(0, 1); // warm-up
const runs: number[] = [];
let size = 0;
for (let r = 0; r < runCount; r++) {
  const t0 = process.hrtime.bigint();
  size = resolve(0, 1).size;
  runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
runs.sort((a, b) => a - b);
if (print) console.log(`graph: ${N} executions, ${M} dependencies, ${SEQS} checkpoints each`);
if (print) console.log(`resolution (taint rule hop by hop): set of ${size} members, ${resolve.messages} requests, median ${runs[runs.length >> 1]!.toFixed(1)} ms (min ${runs[0]!.toFixed(1)}, max ${runs[runs.length - 1]!.toFixed(1)})`);
if (print) console.log(`memory: ${((heap1 - heap0) / N).toFixed(0)} bytes per execution held (checkpoints + both dependency sides)`);
if (print) console.log(runs[runs.length >> 1]! < 1000 ? 'goal < 1 s: met' : 'goal < 1 s: NOT met');

// ---- 2. end to end through Core instances -----------------------------------
const result: ResolutionResult = { executions: N, dependencies: M, members: size, requests: resolve.messages, medianMs: runs[runs.length >> 1]!, minMs: runs[0]!, maxMs: runs[runs.length - 1]!, bytesPerExecution: (heap1 - heap0) / N };
if (simN <= 0) return result;
const n2 = simN;
const sim = new Simulator({ signer: 'none', minDelayMs: 0, maxDelayMs: 0, agentDelayMs: 0, config: { maxHops: 64, fanoutLimit: 1000, defaultBudgetMs: 60_000 } });
const g2 = graph(n2, 3 * n2);
for (let i = 0; i < n2; i++) {
  sim.input(agent(i), { type: 'execution', execution: `x${i}` });
}
for (let s = 1; s <= SEQS; s++) {
  for (let i = 0; i < n2; i++) sim.input(agent(i), { type: 'checkpoint', execution: `x${i}`, checkpoint: `x${i}-k${s}`, seq: s, digest, reversibility: 'reversible' });
  for (const d of g2) if (d.cs === s) sim.input(agent(d.c), { type: 'consumed', execution: `x${d.c}`, producer: { agent: agent(d.p), execution: `x${d.p}`, checkpoint: `x${d.p}-k${d.ps}`, seq: d.ps } });
}
sim.run();
const t1 = process.hrtime.bigint();
sim.input(agent(0), { type: 'failure', execution: 'x0', checkpoint: { checkpoint: 'x0-k1', seq: 1 }, class: 'eval_failure', setId: 'bench' });
const events = sim.run();
const ms = Number(process.hrtime.bigint() - t1) / 1e6;
const rec = sim.nodes.get(agent(0))!.records;
const members = rec.length ? (decodeCompact(rec[0]!.compact).payload as { members: unknown[] }).members.length : 0;
if (print) console.log(`end to end (${n2} Core instances, ${3 * n2} dependencies, simulator without network): ${members} members recorded, ${events} events, ${ms.toFixed(0)} ms`);
result.simulator = { instances: n2, members, events, ms };
return result;
}

const main = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (main) coreResolution(Number(process.argv[2] ?? 100_000), Number(process.argv[3] ?? 300_000), Number(process.argv[4] ?? 1_000), 5, true);
