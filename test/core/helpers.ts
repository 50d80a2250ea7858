/** Test helpers: digests, graph building in the simulator, the naive global taint computation. */
import { createHash } from 'node:crypto';
import { Simulator, type SimOptions } from '../../src/core/simulator.js';
import type { Reversibility } from '../../src/core/types.js';

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
