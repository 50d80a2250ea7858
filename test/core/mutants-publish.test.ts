// Records, follow-ups and the outcome's way down, edge by edge; found by mutation testing
// (interop-tests/report/mutation.md).
import t from 'tap';
import { Simulator, decodeCompact, type Effect, type SendEffect } from '../../src/core/index.js';
import { build, chain, type Graph } from './helpers.js';

const S1 = { initiator: 'A', id: 's1' };
const sends = (fx: Effect[], kind?: string): SendEffect[] =>
  fx.filter((e): e is SendEffect => e.type === 'send' && (kind === undefined || e.kind === kind));
const fail = (sim: Simulator): void => {
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 's1' });
};

// covers: req-typ req-member-entry
t.test('records and follow-ups: their typ, and no policy in an automatic initiator\'s entry', async (t) => {
  const sim = new Simulator({ seed: 1, policy: (a) => (a === 'B' ? 'held' : 'automatic') });
  build(sim, chain);
  fail(sim);
  sim.run({ until: sim.now + 200 });
  sim.input('B', { type: 'decision', set: S1, execution: 'b', decision: 'confirm', by: 'op' });
  sim.run();
  const A = sim.nodes.get('A')!;
  t.ok(A.records.length >= 2, 'a record and follow-ups');
  t.same(A.records.map((r) => r.kind), ['record', ...A.records.slice(1).map(() => 'followup')]);
  t.same(A.records.map((r) => decodeCompact(r.compact).header.typ), ['rollback-record+jwt', ...A.records.slice(1).map(() => 'rollback-followup+jwt')]);
  const rec = decodeCompact(A.records[0]!.compact).payload as any;
  t.match(rec.members[0], { agent: 'A', execution: 'a', status: 'rolled_back' });
  t.notOk('policy' in rec.members[0], 'automatic initiator: no policy in its entry');
});

// covers: req-followup
t.test('the outcome goes once to each child agent that was asked: not to escalated children, not to the node itself', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b1', seqs: 1 }, { agent: 'B', exec: 'b2', seqs: 1 }],
    deps: [
      { consumer: ['B', 'b1'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['B', 'b2'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['B', 'b2'], cseq: 1, producer: ['B', 'b1'], pseq: 1 },
    ],
  };
  const sim = new Simulator({ seed: 2 });
  build(sim, g);
  fail(sim);
  sim.run();
  const out = (s: Simulator, n: string) => sends(s.nodes.get(n)!.effects, 'outcome');
  t.same(out(sim, 'A').map((e) => e.to), ['B'], 'A: one outcome to B for its two members');
  t.match(sim.nodes.get('B')!.core.member(S1, 'b1'), { children: [{ agent: 'B', execution: 'b2', asked: true }] });
  t.notOk(out(sim, 'B').some((e) => e.to === 'B'), 'B: none to itself');
  const esc = new Simulator({ seed: 2, config: { maxHops: 1 } });
  build(esc, chain);
  fail(esc);
  esc.run();
  t.match(esc.nodes.get('B')!.core.member(S1, 'b'), { escalated: [{ agent: 'C', reason: 'escalated' }] });
  t.notOk(out(esc, 'B').some((e) => e.to === 'C'), 'B: none to C, escalated and never asked');
});

// covers: req-followup req-hard-diamond
t.test('follow-ups: one when a late final changes an entry, even with the same status; none when no entry changes', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 2 }],
    deps: [{ consumer: ['B', 'b'], cseq: 2, producer: ['A', 'a'], pseq: 1 }],
  };
  const sim = new Simulator({ seed: 4 });
  build(sim, g);
  sim.partitioned.add('B');
  fail(sim);
  sim.run({ until: sim.now + 50 });
  const A = sim.nodes.get('A')!.core;
  const B = sim.nodes.get('B')!;
  const ack = (seq: number, o: Record<string, unknown> = {}) => B.sign('rollback-ack+jwt', {
    v: 1, iss: 'B', iat: 0, set: S1, member: 'b', parent: { agent: 'A', execution: 'a' }, status: 'rolled_back',
    target: { checkpoint: `b-k${seq}`, seq }, restored: { checkpoint: `b-k${seq}`, seq, digest: B.core.execution('b')!.get(`b-k${seq}`)!.digest }, ...o,
  });
  const report = (acks: string[]) => sim.envelope('B', 'A', 'report', { set: S1, member: 'b', acks });
  A.handle(report([ack(2)]), sim.now);
  t.equal(A.records().length, 1, 'recorded with B at b-k2');
  const fx = A.handle(report([ack(1)]), sim.now);
  t.equal(A.records().length, 2, 'B\'s final at an earlier target, same status: a follow-up');
  t.match(decodeCompact(A.records()[1]!.compact).payload, { members: [{ agent: 'B', status: 'rolled_back' }] });
  t.ok(fx.some((e) => e.type === 'record'));
  const fx2 = A.handle(report([ack(2, { iat: 1 })]), sim.now);
  t.equal(A.records().length, 2, 'a later-target final changes no entry: no follow-up');
  t.notOk(fx2.some((e) => e.type === 'record'));
  // A descendant's final, then its superseded held ack in another part: the second changes no entry.
  const x = (o: Record<string, unknown>) => B.sign('rollback-ack+jwt', {
    v: 1, iss: 'X', iat: 0, set: S1, member: 'x', parent: { agent: 'B', execution: 'b' }, target: { checkpoint: 'x-k1', seq: 1 }, ...o,
  });
  A.handle(sim.envelope('B', 'A', 'report', { set: S1, member: 'b', acks: [ack(1), x({ status: 'rolled_back', restored: { checkpoint: 'x-k1', seq: 1, digest: 'sha-256:' + '1'.repeat(64) } })], total: 1 }), sim.now);
  const n = A.records().length;
  t.equal(n, 3, 'X\'s final: a follow-up');
  const fx3 = A.handle(sim.envelope('B', 'A', 'report', { set: S1, member: 'b', acks: [ack(1), x({ status: 'held', policy: { mode: 'held' } })], total: 2 }), sim.now);
  t.equal(A.records().length, n, 'a superseded ack: no follow-up');
  t.notOk(fx3.some((e) => e.type === 'record'));
});
