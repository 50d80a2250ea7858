/**
 * Property-based tests: random dependency graphs and failure points, driven
 * through the simulator under loss, duplication and reordering, checked
 * against an independent naive global computation (helpers.naiveSet).
 */
import t from 'tap';
import fc from 'fast-check';
import { Simulator, decodeCompact } from '../../src/core/index.js';
import { build, naiveSet, type Graph } from './helpers.js';

const graphArb = fc.integer({ min: 2, max: 6 }).chain((n) => {
  const agents = Array.from({ length: n }, (_, i) => `N${i}`);
  return fc.record({
    seqs: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: n, maxLength: n }),
    deps: fc.array(fc.record({ c: fc.nat(n - 1), p: fc.nat(n - 1), cs: fc.integer({ min: 1, max: 4 }), ps: fc.integer({ min: 1, max: 4 }) }), { minLength: n, maxLength: 4 * n }),
    failed: fc.nat(n - 1),
    fseq: fc.constantFrom(1, 1, 1, 2, 3),
  }).map(({ seqs, deps, failed, fseq }) => {
    const g: Graph = {
      execs: agents.map((a, i) => ({ agent: a, exec: `x${i}`, seqs: seqs[i]! })),
      deps: deps.filter((d) => d.c !== d.p).map((d) => ({
        consumer: [agents[d.c]!, `x${d.c}`] as [string, string], cseq: Math.min(d.cs, seqs[d.c]!),
        producer: [agents[d.p]!, `x${d.p}`] as [string, string], pseq: Math.min(d.ps, seqs[d.p]!),
      })),
    };
    return { g, failed: [agents[failed]!, `x${failed}`] as [string, string], fseq: Math.min(fseq, seqs[failed]!) };
  });
});

const netArb = fc.record({
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  loss: fc.constantFrom(0, 0.1, 0.3),
  duplicate: fc.constantFrom(0, 0.2),
  maxDelayMs: fc.constantFrom(2, 40),
});

/** Final entry per member: the record merged with its follow-ups. */
function finalEntries(sim: Simulator, initiator: string): Map<string, any> {
  const out = new Map<string, any>();
  for (const r of sim.nodes.get(initiator)!.records) {
    const p = decodeCompact(r.compact).payload as any;
    const keys = p.members.map((m: any) => `${m.agent}/${m.execution}`);
    if (new Set(keys).size !== keys.length) throw new Error('a member twice in one record');
    for (const m of p.members) out.set(`${m.agent}/${m.execution}`, m);
  }
  return out;
}

// covers: req-order-forward req-idempotent
t.test('propagation settles exactly the naive set, under loss, duplication and reordering', async (t) => {
  let runs = 0;
  fc.assert(fc.property(graphArb, netArb, ({ g, failed, fseq }, net) => {
    runs++;
    const sim = new Simulator({ ...net, minDelayMs: 1, config: { maxHops: 64 } });
    build(sim, g);
    sim.input(failed[0], { type: 'failure', execution: failed[1], checkpoint: { checkpoint: `${failed[1]}-k${fseq}`, seq: fseq }, class: 'eval_failure', setId: 's1' });
    sim.run();
    const set = { initiator: failed[0], id: 's1' };
    const naive = naiveSet(g, failed, fseq);
    // no protocol error other than stale results for superseded directives
    const errs = sim.errors.filter((e) => !e.detail.includes('superseded'));
    if (errs.length) throw new Error(`errors: ${JSON.stringify(errs)}`);
    const entries = finalEntries(sim, failed[0]);
    // every member exactly once, exactly the naive set
    if ([...entries.keys()].sort().join() !== [...naive.keys()].sort().join()) {
      throw new Error(`record ${[...entries.keys()].sort()} vs naive ${[...naive.keys()].sort()}`);
    }
    for (const [key, target] of naive) {
      const [agent, exec] = key.split('/') as [string, string];
      const e = entries.get(key);
      // every ack gathered, or reported unresponsive at the deadline (only possible with loss)
      const ok = e.status === 'rolled_back' || (net.loss > 0 && e.status === 'unresponsive');
      if (!ok) throw new Error(`${key}: ${e.status}`);
      const m = sim.nodes.get(agent)!.core.member(set, exec)!;
      if (e.status === 'rolled_back' && m.target.seq !== target) throw new Error(`${key}: target ${m.target.seq}, naive ${target}`);
      const last = sim.nodes.get(agent)!.directives.filter((d) => d.execution === exec).at(-1);
      if (e.status === 'rolled_back' && last?.target.seq !== target) throw new Error(`${key}: last directive ${last?.target.seq}`);
    }
    // nothing outside the failed execution's dependents is touched
    for (const n of sim.nodes.values()) {
      for (const d of n.directives) if (!naive.has(`${n.id}/${d.execution}`)) throw new Error(`directive outside the set: ${n.id}/${d.execution}`);
      for (const m of n.core.members()) if (!naive.has(`${n.id}/${m.execution}`)) throw new Error(`member outside the set: ${n.id}/${m.execution}`);
    }
    // without loss every member settles and closes
    if (net.loss === 0) {
      for (const key of naive.keys()) {
        const [agent, exec] = key.split('/') as [string, string];
        const st = sim.nodes.get(agent)!.core.member(set, exec)!.state;
        if (st !== 'closed') throw new Error(`${key} ended ${st}`);
      }
    }
    return true;
  }), { numRuns: 120, seed: 4242 });
  t.ok(runs >= 120, `${runs} runs`);
});

// covers: req-hard-overlap req-target-rule
t.test('two overlapping failures: every execution ends at the earliest target', async (t) => {
  fc.assert(fc.property(graphArb, fc.nat(5), fc.integer({ min: 1, max: 4 }), netArb, ({ g, failed, fseq }, second, sseq, net) => {
    const other = g.execs[second % g.execs.length]!;
    const f2: [string, string] = [other.agent, other.exec];
    const s2 = Math.min(sseq, other.seqs);
    const sim = new Simulator({ ...net, loss: 0, minDelayMs: 1, config: { maxHops: 64 } });
    build(sim, g);
    sim.input(failed[0], { type: 'failure', execution: failed[1], checkpoint: { checkpoint: `${failed[1]}-k${fseq}`, seq: fseq }, class: 'eval_failure', setId: 's1' });
    sim.input(f2[0], { type: 'failure', execution: f2[1], checkpoint: { checkpoint: `${f2[1]}-k${s2}`, seq: s2 }, class: 'eval_failure', setId: 's2' });
    sim.run();
    const errs = sim.errors.filter((e) => !e.detail.includes('superseded'));
    if (errs.length) throw new Error(`errors: ${JSON.stringify(errs)}`);
    const n1 = naiveSet(g, failed, fseq);
    const n2 = naiveSet(g, f2, s2);
    const want = new Map(n1);
    for (const [k, v] of n2) want.set(k, Math.min(v, want.get(k) ?? Infinity));
    for (const n of sim.nodes.values()) {
      const byExec = new Map<string, number>();
      for (const d of n.directives) byExec.set(d.execution, d.target.seq);
      for (const [exec, seq] of byExec) {
        const key = `${n.id}/${exec}`;
        if (!want.has(key)) throw new Error(`touched ${key}`);
        // the executions are restored, in directive order, ending at the earliest target
        if (seq !== want.get(key)) throw new Error(`${key}: ends at ${seq}, earliest ${want.get(key)}`);
      }
    }
    for (const k of want.keys()) {
      const [agent, exec] = k.split('/') as [string, string];
      if (!sim.nodes.get(agent)!.directives.some((d) => d.execution === exec)) throw new Error(`${k} never rolled back`);
    }
    return true;
  }), { numRuns: 80, seed: 777 });
  t.pass('overlaps');
});
