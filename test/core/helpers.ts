/** Test helpers: digests, graph building in the simulator, the naive global taint computation. */
import { createHash } from 'node:crypto';
import { Simulator, type SimOptions } from '../../src/core/simulator.js';
import type { Reversibility } from '../../src/core/types.js';
import type { Core, Input } from '../../src/core/core.js';

export const dg = (s: string | number): string => 'sha-256:' + createHash('sha256').update(String(s)).digest('hex');

/** A graph: executions `agent/exec`, checkpoints seq 1..n, deps consumer@seq <- producer@seq. */
export interface Graph {
  execs: { agent: string; exec: string; seqs: number; rev?: Partial<Record<number, Reversibility>> }[];
  deps: { consumer: [string, string]; cseq: number; producer: [string, string]; pseq: number }[];
}

/** Build a graph in a simulator: every checkpoint declared before any consumption (contract §1). */
export function build(sim: Simulator, g: Graph): void {
  for (const e of g.execs) {
    sim.input(e.agent, { type: 'execution', execution: e.exec });
  }
  // Declare checkpoints interleaved with consumptions in seq order so the consumer's latest checkpoint is cseq.
  const maxSeq = Math.max(...g.execs.map((e) => e.seqs));
  for (let s = 1; s <= maxSeq; s++) {
    for (const e of g.execs) {
      if (s <= e.seqs) {
        sim.input(e.agent, {
          type: 'checkpoint', execution: e.exec, checkpoint: `${e.exec}-k${s}`, seq: s, digest: dg(`${e.agent}/${e.exec}/${s}`),
          reversibility: e.rev?.[s] ?? 'reversible', hints: e.rev?.[s] && e.rev[s] !== 'reversible' ? [{ undo: `${e.exec}-${s}` }] : [],
        });
      }
    }
    for (const d of g.deps) {
      if (d.cseq !== s) continue;
      sim.input(d.consumer[0], {
        type: 'consumed', execution: d.consumer[1],
        producer: { agent: d.producer[0], execution: d.producer[1], checkpoint: `${d.producer[1]}-k${d.pseq}`, seq: d.pseq },
      });
    }
  }
  sim.run();
}

/** Naive global computation of the rollback set: worklist over the taint rule until targets stop decreasing. */
export function naiveSet(g: Graph, failed: [string, string], t: number): Map<string, number> {
  const target = new Map<string, number>([[failed.join('/'), t]]);
  let changed = true;
  while (changed) {
    changed = false;
    for (const d of g.deps) {
      const pt = target.get(d.producer.join('/'));
      if (pt === undefined || d.pseq < pt) continue;
      const key = d.consumer.join('/');
      const ct = target.get(key);
      if (ct === undefined || d.cseq < ct) {
        target.set(key, d.cseq);
        changed = true;
      }
    }
  }
  return target;
}

export const simOpts = (o: SimOptions = {}): SimOptions => ({ seed: 7, ...o });

/** A refused input throws the code and changes nothing. */
export function refused(t: { throws: Function; equal: Function }, core: Core, input: Input, code: string, now = 0): void {
  const before = core.snapshot();
  t.throws(() => core.handle(input, now), { code }, `refused ${code}`);
  t.equal(core.snapshot(), before, `${code}: state unchanged`);
}

/** A -> B -> C, each consuming its producer's output as of checkpoint 2. */
export const chain: Graph = {
  execs: [{ agent: 'A', exec: 'a', seqs: 3 }, { agent: 'B', exec: 'b', seqs: 3 }, { agent: 'C', exec: 'c', seqs: 3 }],
  deps: [
    { consumer: ['B', 'b'], cseq: 2, producer: ['A', 'a'], pseq: 2 },
    { consumer: ['C', 'c'], cseq: 2, producer: ['B', 'b'], pseq: 2 },
  ],
};

/** A -> B -> {C, D}, one checkpoint each: an intermediate with two dependents. */
export const fork: Graph = {
  execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 1 }, { agent: 'D', exec: 'd', seqs: 1 }],
  deps: [
    { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
    { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
    { consumer: ['D', 'd'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
  ],
};

/**
 * The fork with B held for an operator and D cut off: `fail` reports A's failure, and the
 * simulation runs 100 ms, long enough for B to fence, forward and send its held acks.
 */
export function heldFork(fail: (sim: Simulator) => unknown): Simulator {
  const sim = new Simulator({ seed: 8, policy: (a) => (a === 'B' ? 'held' : 'automatic') });
  build(sim, fork);
  sim.partitioned.add('D');
  fail(sim);
  sim.run({ until: sim.now + 100 });
  return sim;
}
