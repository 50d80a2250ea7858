// The agent's and the operator's answers at a node, edge by edge; found by mutation testing
// (interop-tests/report/mutation.md).
import t from 'tap';
import { Simulator, decodeCompact, type Effect, type SendEffect } from '../../src/core/index.js';
import { build, chain, fork, refused, type Graph } from './helpers.js';

const S1 = { initiator: 'A', id: 's1' };
const sends = (fx: Effect[], kind?: string): SendEffect[] =>
  fx.filter((e): e is SendEffect => e.type === 'send' && (kind === undefined || e.kind === kind));
const acksOf = (fx: Effect[]): any[] => sends(fx, 'report').map((e) => decodeCompact((e.body.acks as string[])[0]!).payload);
const fail = (sim: Simulator): void => {
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 's1' });
};
const one = (rev?: 'compensable' | 'irreversible'): Graph => ({
  execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 2, ...(rev ? { rev: { 2: rev } } : {}) }],
  deps: [{ consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 }],
});

// covers: req-irreversible req-ack-restored
t.test('the member\'s final status from the agent\'s result and the work undone', async (t) => {
  const cases: { rev?: 'compensable' | 'irreversible'; status: 'restored' | 'compensated'; want: string }[] = [
    { status: 'restored', want: 'rolled_back' },
    { rev: 'compensable', status: 'restored', want: 'compensation_required' },
    { rev: 'compensable', status: 'compensated', want: 'compensated' },
    { rev: 'irreversible', status: 'compensated', want: 'compensation_required' },
    { rev: 'irreversible', status: 'restored', want: 'compensation_required' },
  ];
  for (const c of cases) {
    const sim = new Simulator({ seed: 1, behaviour: () => 'silent' });
    build(sim, one(c.rev));
    fail(sim);
    sim.run({ until: sim.now + 50 });
    const C = sim.nodes.get('C')!.core;
    const digest = C.execution('c')!.get('c-k1')!.digest;
    const fx = C.handle({ type: 'result', set: S1, execution: 'c', status: c.status, restored: { checkpoint: 'c-k1', digest }, detail: 'agent says' }, sim.now);
    t.match(acksOf(fx), [{ status: c.want, detail: 'agent says' }], `${c.rev ?? 'reversible'} work, agent ${c.status}: ${c.want}`);
  }
  const sim = new Simulator({ seed: 1, behaviour: () => 'silent' });
  build(sim, one('compensable'));
  fail(sim);
  sim.run({ until: sim.now + 50 });
  refused(t, sim.nodes.get('C')!.core, { type: 'result', set: S1, execution: 'c', status: 'compensated' }, 'schema_invalid', sim.now);
});

// covers: req-failure-policy req-held-interim
t.test('operator decisions: a set decision needs a proposed set and its execution; a confirmed member\'s acks say who confirmed', async (t) => {
  const sim = new Simulator({ seed: 1, policy: (a) => (a === 'A' ? 'held' : 'automatic') });
  build(sim, { ...one(), execs: [...one().execs, { agent: 'A', exec: 'a2', seqs: 1 }] });
  fail(sim);
  const A = sim.nodes.get('A')!.core;
  t.match(A.rollbackSet(S1), { state: 'proposed' });
  refused(t, A, { type: 'decision', set: S1, execution: 'a2', decision: 'confirm', by: 'op' }, 'unknown_set', sim.now);
  sim.input('A', { type: 'decision', set: S1, execution: 'a', decision: 'confirm', by: 'op' });
  t.match(A.rollbackSet(S1), { state: 'open' });
  refused(t, A, { type: 'decision', set: S1, decision: 'confirm', by: 'op' }, 'unknown_set', sim.now);
  const h = new Simulator({ seed: 1, policy: (a) => (a === 'C' ? 'held' : 'automatic') });
  build(h, one());
  fail(h);
  h.run({ until: h.now + 50 });
  h.input('C', { type: 'decision', set: S1, execution: 'c', decision: 'confirm', by: 'op@example' });
  h.run();
  const final = acksOf(h.nodes.get('C')!.effects).at(-1);
  t.match(final, { status: 'rolled_back', policy: { mode: 'held', decided_by: 'op@example', decision: 'confirmed' } });
});

// covers: req-cancel-authority req-typ
t.test('the cancellation statement: typ, issuer, set and the initiator\'s detail', async (t) => {
  const sim = new Simulator({ seed: 1, behaviour: () => 'silent' });
  build(sim, chain);
  fail(sim);
  sim.run({ until: sim.now + 50 });
  const fx = sim.input('A', { type: 'cancel', set: S1, detail: 'operator stop' });
  const auth = sends(fx, 'cancel')[0]!.body.authority as string;
  const d = decodeCompact(auth);
  t.equal(d.header.typ, 'rollback-cancellation+jwt');
  t.match(d.payload, { iss: 'A', set: S1, detail: 'operator stop' });
  const sim2 = new Simulator({ seed: 1, behaviour: () => 'silent' });
  build(sim2, chain);
  fail(sim2);
  sim2.run({ until: sim2.now + 50 });
  const auth2 = sends(sim2.input('A', { type: 'cancel', set: S1 }), 'cancel')[0]!.body.authority as string;
  t.notOk('detail' in decodeCompact(auth2).payload, 'no detail given: none');
});

// covers: req-cancel-effect
t.test('a cancel goes on to every child that was asked, each its own envelope, and not to escalated children', async (t) => {
  const g = fork;
  for (const maxHops of [16, 1]) {
    const sim = new Simulator({ seed: 1, config: { maxHops }, behaviour: () => 'silent' });
    build(sim, g);
    fail(sim);
    sim.run({ until: sim.now + 50 });
    const auth = sim.nodes.get('A')!.sign('rollback-cancellation+jwt', { v: 1, iss: 'A', iat: 0, set: S1 });
    const fx = sim.nodes.get('B')!.core.handle(sim.envelope('A', 'B', 'cancel', { set: S1, member: 'b', authority: auth }), sim.now);
    const c = sends(fx, 'cancel');
    if (maxHops === 1) t.same(c, [], 'C and D escalated: no cancel');
    else {
      t.same(c.map((e) => e.to).sort(), ['C', 'D']);
      t.equal(new Set(c.map((e) => e.key)).size, 2, 'two envelopes, retransmitted separately');
    }
  }
});
