import t from 'tap';
import { Core, Simulator, decodeCompact } from '../../src/core/index.js';
import type { Effect, Input, SimOptions, SendEffect, AckPayload } from '../../src/core/index.js';
import { build, chain, dg, refused, type Graph } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Test = any;
const S1 = { initiator: 'A', id: 's1' };

function setup(g: Graph, o: SimOptions = {}): Simulator {
  const sim = new Simulator({ seed: 11, ...o });
  build(sim, g);
  return sim;
}

/** Simulated time of the first failure signal (scenario times are relative to it). */
const started = new WeakMap<Simulator, number>();
const t0 = (sim: Simulator): number => started.get(sim) ?? sim.now;

const fail = (sim: Simulator, agent: string, exec: string, seq: number, setId = 's1'): Effect[] =>
  (started.has(sim) ? 0 : started.set(sim, sim.now), sim.input(agent, { type: 'failure', execution: exec, checkpoint: { checkpoint: `${exec}-k${seq}`, seq }, class: 'eval_failure', setId }));

const record = (sim: Simulator, agent = 'A', i = 0): any => decodeCompact(sim.nodes.get(agent)!.records[i]!.compact).payload;
const statuses = (r: any): string[] => r.members.map((m: any) => `${m.agent}/${m.execution}:${m.status}`);
const ackOf = (r: any, agent: string): AckPayload => decodeCompact(r.members.find((m: any) => m.agent === agent).ack).payload as any;

// covers: req-checkpoint-immutable req-hard-immutable req-checkpoint-before-output req-dep-order
t.test('local model inputs', async (t) => {
  const sim = setup(chain);
  const A = sim.nodes.get('A')!.core;
  refused(t, A, { type: 'checkpoint', execution: 'zz', checkpoint: 'k', seq: 1, digest: dg(1), reversibility: 'reversible' }, 'unknown_execution');
  refused(t, A, { type: 'checkpoint', execution: 'a', checkpoint: 'a-k1', seq: 1, digest: dg(9), reversibility: 'reversible' }, 'checkpoint_conflict');
  refused(t, A, { type: 'checkpoint', execution: 'a', checkpoint: 'a-k9', seq: 2, digest: dg(9), reversibility: 'reversible' }, 'checkpoint_conflict');
  const k1 = A.execution('a')!.get('a-k1')!;
  t.same(A.handle({ type: 'checkpoint', execution: 'a', checkpoint: 'a-k1', seq: 1, digest: k1.digest, reversibility: 'reversible', hints: [] }, 0), [], 'identical redeclaration');
  t.same(A.handle({ type: 'execution', execution: 'a' }, 0), [], 'execution idempotent');
  A.handle({ type: 'execution', execution: 'fresh' }, 0);
  refused(t, A, { type: 'consumed', execution: 'fresh', producer: { agent: 'B', execution: 'b', checkpoint: 'b-k1', seq: 1 } }, 'unknown_checkpoint');
  refused(t, A, { type: 'consumed', execution: 'nope', producer: { agent: 'B', execution: 'b', checkpoint: 'b-k1', seq: 1 } }, 'unknown_execution');
  const B = sim.nodes.get('B')!.core;
  const consumed: Input = { type: 'consumed', execution: 'b', producer: { agent: 'A', execution: 'a', checkpoint: 'a-k3', seq: 3 } };
  t.match(B.handle(consumed, 0), [{ type: 'send', kind: 'dependency', to: 'A', body: { consumer: { execution: 'b', checkpoint: 'b-k3', seq: 3 } } }]);
  t.same(B.handle(consumed, 0), [], 'consumption idempotent');
  t.equal(A.fenced('a'), false);
  t.equal(A.degraded, false);
  t.equal(A.member(S1, 'a'), undefined);
  t.equal(A.rollbackSet(S1), undefined);
  t.same(A.handle({ type: 'timer', id: 'nothing' }, 0), [], 'unknown timer: stale, nothing');
  t.same(A.handle({ type: 'delivered', key: 'nothing' }, 0), []);
  refused(t, A, { type: 'bogus' } as never, 'internal');
});

// covers: req-dep-check req-envelope-iss
t.test('dependency envelope', async (t) => {
  const sim = setup(chain);
  const A = sim.nodes.get('A')!.core;
  const dep = (producer: object, consumer: object = { execution: 'x', checkpoint: 'x1', seq: 1, digest: dg('x1') }): Input =>
    sim.envelope('B', 'A', 'dependency', { consumer, producer });
  refused(t, A, dep({ execution: 'zz', checkpoint: 'a-k1', seq: 1 }), 'unknown_execution');
  refused(t, A, dep({ execution: 'a', checkpoint: 'a-k9', seq: 1 }), 'unknown_checkpoint');
  refused(t, A, dep({ execution: 'a', checkpoint: 'a-k1', seq: 2 }), 'unknown_checkpoint');
  refused(t, A, dep({ execution: 'a', checkpoint: 'a-k2', seq: 2 }, { execution: 'b', checkpoint: 'b-k2', seq: 2, digest: dg('other') }), 'checkpoint_conflict');
  const before = A.snapshot();
  const ok = dep({ execution: 'a', checkpoint: 'a-k2', seq: 2 }, { execution: 'b', checkpoint: 'b-k2', seq: 2, digest: B_k2(sim) });
  t.same(A.handle(ok, 0), [], 'repeat registration is idempotent');
  t.equal(A.snapshot(), before);
  refused(t, A, { ...sim.envelope('B', 'Z', 'dependency', {}) } as Input, 'audience_mismatch');
  refused(t, A, { type: 'envelope', kind: 'bogus', payload: { aud: 'A' } } as never, 'typ_mismatch');
});

function B_k2(sim: Simulator): string {
  return sim.nodes.get('B')!.core.execution('b')!.get('b-k2')!.digest;
}

// covers: req-order-fence req-order-forward req-record-when req-member-entry req-aggregation-outcome
t.test('chain: hop-by-hop targets, record, fences, lease', async (t) => {
  const sim = setup(chain);
  const fx = fail(sim, 'A', 'a', 1);
  t.match(fx, [{ type: 'state', scope: 'set', state: 'open' }, { type: 'reply', set: S1 }]);
  t.ok(sim.nodes.get('A')!.core.fenced('a'), 'fenced at once');
  sim.run();
  t.same(sim.errors, []);
  const r = record(sim);
  t.same(statuses(r), ['A/a:rolled_back', 'B/b:rolled_back', 'C/c:rolled_back']);
  t.equal(r.outcome, 'complete');
  t.equal(r.index, 1);
  t.equal(r.prev, null);
  t.same(ackOf(r, 'B').target, { checkpoint: 'b-k2', seq: 2 });
  t.same(ackOf(r, 'C').parent, { agent: 'B', execution: 'b' });
  t.equal(ackOf(r, 'C').restored!.digest, sim.nodes.get('C')!.core.execution('c')!.get('c-k2')!.digest);
  for (const n of ['A', 'B', 'C']) {
    const core = sim.nodes.get(n)!.core;
    t.equal(core.members()[0]!.state, 'closed', `${n} closed`);
    t.equal(core.fenced(n.toLowerCase()), false, `${n} fence released`);
    t.equal(sim.nodes.get(n)!.directives.length, 1, `${n}: one directive`);
  }
  t.same(sim.nodes.get('B')!.directives[0]!.target.checkpoint, 'b-k2');
  t.match(sim.nodes.get('A')!.core.rollbackSet(S1), { state: 'recorded', outcome: 'complete', cancelled: false });
  t.match(sim.nodes.get('B')!.core.member(S1, 'b'), { state: 'closed', status: 'rolled_back', target: { seq: 2 }, parents: [{ agent: 'A', primary: true }] });
});

// covers: req-failure-absorb req-failure-dependency req-failure-policy req-dependency-authorises req-hard-overlap
t.test('failure absorption, new sets, peer failure signal', async (t) => {
  const sim = setup(chain);
  fail(sim, 'A', 'a', 2);
  t.match(fail(sim, 'A', 'a', 2, 's2'), [{ type: 'reply', set: S1, absorbed: true }], 'equal target absorbed');
  t.match(fail(sim, 'A', 'a', 3, 's3'), [{ type: 'reply', absorbed: true }], 'later target absorbed');
  const A = sim.nodes.get('A')!.core;
  refused(t, A, { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 's1' }, 'illegal_transition');
  refused(t, A, { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 2 }, class: 'eval_failure', setId: 's9' }, 'unknown_checkpoint');
  t.match(fail(sim, 'A', 'a', 1, 's4'), [{ type: 'state', scope: 'set', state: 'open' }], 'earlier target: a new set');
  sim.run();
  t.equal(sim.nodes.get('A')!.records.length, 2);
  // Peer failure signal: C observes bad output of B as of b-k2.
  const C = sim.nodes.get('C')!.core;
  refused(t, C, { type: 'observed', execution: 'c', producer: { agent: 'B', execution: 'b', checkpoint: 'b-k1', seq: 1 }, class: 'eval_failure' }, 'no_dependency');
  const B = sim.nodes.get('B')!.core;
  refused(t, B, { ...sim.envelope('C', 'B', 'failure', { execution: 'b', checkpoint: { checkpoint: 'b-k1', seq: 1 }, class: 'eval_failure' }), setId: 'x' } as Input, 'no_dependency');
  refused(t, B, { ...sim.envelope('C', 'B', 'failure', { execution: 'b', checkpoint: { checkpoint: 'b-k2', seq: 2 }, class: 'eval_failure' }), setId: undefined } as never, 'internal');
  sim.input('C', { type: 'observed', execution: 'c', producer: { agent: 'B', execution: 'b', checkpoint: 'b-k2', seq: 2 }, class: 'quality_regression', detail: 'bad' });
  sim.run();
  const recB = sim.nodes.get('B')!.records;
  t.equal(recB.length, 1, 'B opened and recorded a set');
  const p = decodeCompact(recB[0]!.compact).payload as any;
  t.same(p.cause, { agent: 'C', execution: 'b', class: 'quality_regression', at: p.cause.at, detail: 'bad' });
  t.same(statuses(p).map((s: string) => s.split(':')[0]), ['B/b', 'C/c']);
  t.match(p.members[1], { status: 'satisfied' }, 'C is already rolled back to c-k2 by an earlier set');
});

// covers: req-request-check req-taint req-hard-before req-idempotent req-target-rule req-dependency-authorises
t.test('request rules: unknown execution, untainted dependency, target = min consumer seq', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 4 }, { agent: 'B', exec: 'b', seqs: 4 }],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['B', 'b'], cseq: 3, producer: ['A', 'a'], pseq: 3 },
      { consumer: ['B', 'b'], cseq: 4, producer: ['A', 'a'], pseq: 4 },
    ],
  };
  const sim = setup(g);
  const B = sim.nodes.get('B')!.core;
  const req = (member: string, seq: number, extra: object = {}): Input => sim.envelope('A', 'B', 'request', {
    set: S1, cause: { agent: 'A', execution: 'a', class: 'eval_failure', at: 0 }, member,
    producer: { execution: 'a', checkpoint: `a-k${seq}`, seq }, hops: 4, budget: 1000, ...extra,
  });
  refused(t, B, req('zz', 2), 'unknown_execution');
  refused(t, B, req('b', 5), 'no_dependency');
  refused(t, B, sim.envelope('A', 'B', 'request', { set: S1, cause: {}, member: 'b', producer: { execution: 'other', checkpoint: 'x', seq: 1 }, hops: 1, budget: 1 }), 'no_dependency');
  fail(sim, 'A', 'a', 2);
  sim.run();
  t.same(sim.nodes.get('B')!.directives.map((d) => d.target.checkpoint), ['b-k3'], 'dependency at seq 1 is before the target: not tainted');
  // A repeated request (same parent, same target) re-sends the current answer; nothing runs twice.
  const fx = B.handle(req('b', 2), sim.now);
  t.match(fx, [{ type: 'send', kind: 'report', to: 'A' }]);
  t.equal(sim.nodes.get('B')!.directives.length, 1);
  t.same(B.handle(req('b', 3), sim.now).length, 1, 'later target: still the current answer');
});

// covers: req-hard-diamond req-target-rule req-satisfied
t.test('diamond: an earlier target rolls back further and re-forwards', async (t) => {
  // A -> B (b consumed a at b-k3), A -> C -> B (b consumed c at b-k1), B -> D.
  const g: Graph = {
    execs: ['a', 'b', 'c', 'd'].map((e) => ({ agent: e.toUpperCase(), exec: e, seqs: 3 })),
    deps: [
      { consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['B', 'b'], cseq: 1, producer: ['C', 'c'], pseq: 1 },
      { consumer: ['B', 'b'], cseq: 3, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['D', 'd'], cseq: 2, producer: ['B', 'b'], pseq: 1 },
      { consumer: ['D', 'd'], cseq: 3, producer: ['B', 'b'], pseq: 3 },
    ],
  };
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const sim = setup(g, { seed, minDelayMs: 1, maxDelayMs: 30 });
    fail(sim, 'A', 'a', 1);
    sim.run();
    t.same(sim.errors.filter((e) => !e.detail.includes('superseded')), [], `seed ${seed}: no errors but stale results`);
    const B = sim.nodes.get('B')!.core;
    t.match(B.member(S1, 'b'), { target: { checkpoint: 'b-k1', seq: 1 }, status: 'rolled_back' }, 'earliest target wins');
    t.equal(sim.nodes.get('B')!.directives.at(-1)!.target.checkpoint, 'b-k1');
    t.equal(sim.nodes.get('D')!.core.member(S1, 'd')!.target.seq, 2, 'D re-targeted by the new boundary');
    const r = sim.nodes.get('A')!.records.map((x) => decodeCompact(x.compact).payload as any);
    const last = new Map<string, any>();
    for (const rec of r) for (const m of rec.members) last.set(m.agent, m);
    t.same([...last.keys()].sort(), ['A', 'B', 'C', 'D'], 'each member once');
    t.equal((decodeCompact(last.get('B').ack).payload as any).target.seq, 1);
    t.equal(r.at(-1).outcome, 'complete');
  }
});

// covers: req-hard-cycle req-satisfied
t.test('cycle with a moving target: the initiator answers satisfied and rolls back further', async (t) => {
  // b consumed a@2 at b-k1; a consumed b@1 at a-k1: a cycle back to the initiator, earlier.
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 3 }, { agent: 'B', exec: 'b', seqs: 3 }],
    deps: [
      { consumer: ['A', 'a'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 2 },
    ],
  };
  const sim = setup(g);
  fail(sim, 'A', 'a', 2);
  sim.run();
  t.same(sim.errors, []);
  const A = sim.nodes.get('A')!.core;
  t.match(A.member(S1, 'a'), { target: { checkpoint: 'a-k1' }, status: 'rolled_back', state: 'closed' });
  t.same(sim.nodes.get('A')!.directives.map((d) => d.target.seq), [2, 1]);
  const acks = sim.nodes.get('B')!.effects.filter((e) => e.type === 'send' && e.kind === 'report');
  t.ok(acks.length >= 1);
  const rs = sim.nodes.get('A')!.records.map((x) => decodeCompact(x.compact).payload as any);
  const final = new Map<string, any>();
  for (const rec of rs) for (const m of rec.members) final.set(`${m.agent}/${m.execution}`, m.status);
  t.same(Object.fromEntries(final), { 'A/a': 'rolled_back', 'B/b': 'rolled_back' });
  // A satisfied ack from A to B exists (cycle answered at once).
  const sat = sim.nodes.get('A')!.effects.filter((e): e is SendEffect => e.type === 'send' && e.kind === 'report')
    .map((e) => decodeCompact((e.body.acks as string[])[0]!).payload as any);
  t.match(sat, [{ status: 'satisfied', by: S1, parent: { agent: 'B', execution: 'b' } }]);
});

// covers: req-hard-overlap
t.test('overlapping sets: earliest target wins, the other answered satisfied by', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 3 }, { agent: 'B', exec: 'b', seqs: 3 }, { agent: 'C', exec: 'c', seqs: 3 }],
    deps: [
      { consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 2, producer: ['B', 'b'], pseq: 2 },
    ],
  };
  const sim = setup(g);
  fail(sim, 'A', 'a', 1);
  sim.run();
  fail(sim, 'B', 'b', 1, 's2');
  sim.run();
  const r2 = record(sim, 'B');
  t.match(r2.members[1], { agent: 'C', status: 'satisfied' });
  t.same(ackOf(r2, 'C').by, S1);
  t.equal(sim.nodes.get('C')!.directives.length, 1, 'nothing runs twice');
  // Now the reverse: the later set asks earlier -> a new rollback.
  const sim2 = setup(g);
  fail(sim2, 'B', 'b', 1, 's2');
  sim2.run();
  fail(sim2, 'A', 'a', 1);
  sim2.run();
  t.same(sim2.nodes.get('C')!.directives.map((d) => d.target.seq), [2, 1]);
  t.equal(record(sim2, 'A').members[1].status, 'rolled_back');
});

// covers: req-blast-radius
t.test('blast radius: hops and fan-out escalate, never truncate', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'B', exec: 'b', seqs: 2 }, { agent: 'C', exec: 'c', seqs: 2 }, { agent: 'D', exec: 'd', seqs: 2 }],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
      { consumer: ['D', 'd'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
    ],
  };
  const sim = setup(g, { config: { maxHops: 1 } });
  fail(sim, 'A', 'a', 1);
  sim.run();
  const r = record(sim);
  t.same(statuses(r).sort(), ['A/a:rolled_back', 'B/b:rolled_back', 'C/c:escalated', 'D/d:escalated']);
  t.match(r.members[2], { reported_by: 'B' });
  t.equal(r.outcome, 'partial');
  t.same(ackOf(r, 'B').missing!.map((m) => `${m.agent}:${m.reason}`).sort(), ['C:escalated', 'D:escalated']);
  t.equal(sim.nodes.get('C')!.directives.length, 0);

  const sim2 = setup(g, { config: { fanoutLimit: 1 } });
  fail(sim2, 'A', 'a', 1);
  sim2.run();
  t.same(statuses(record(sim2)).sort(), ['A/a:rolled_back', 'B/b:rolled_back', 'C/c:escalated', 'D/d:escalated']);

  const sim3 = setup(g, { config: { fanoutLimit: 0 } });
  fail(sim3, 'A', 'a', 1);
  sim3.run();
  t.same(statuses(record(sim3)), ['A/a:rolled_back', 'B/b:escalated'], 'the root escalates too');
  t.match(sim3.nodes.get('A')!.core.member(S1, 'a'), { escalated: [{ agent: 'B', reason: 'escalated' }] });
});

// covers: req-held-interim req-hard-held req-illegal-transition
t.test('held policy: interim held at once, confirm / decline by the operator', async (t) => {
  const g = chain;
  const sim = setup(g, { policy: (agent) => (agent === 'B' ? 'held' : 'automatic') });
  fail(sim, 'A', 'a', 1);
  sim.run({ until: t0(sim) + 100 });
  const B = sim.nodes.get('B')!.core;
  t.match(B.member(S1, 'b'), { state: 'held', status: 'held' });
  t.equal(sim.nodes.get('C')!.core.member(S1, 'c')!.status, 'rolled_back', 'forwarded before holding');
  t.match(record(sim), { outcome: 'partial' });
  t.equal(record(sim).members[1].status, 'held');
  t.equal(ackOf(record(sim), 'B').policy!.mode, 'held');
  refused(t, B, { type: 'decision', set: S1, execution: 'c', decision: 'confirm', by: 'op' }, 'unknown_set');
  refused(t, B, { type: 'decision', set: S1, decision: 'confirm', by: 'op' }, 'unknown_set');
  refused(t, B, { type: 'result', set: S1, execution: 'b', status: 'restored', restored: { checkpoint: 'b-k2', digest: dg(1) } }, 'illegal_transition');
  t.ok(B.fenced('b'), 'held: fenced');
  const fx = sim.input('B', { type: 'decision', set: S1, execution: 'b', decision: 'decline', by: 'op@example' });
  t.match(fx.filter((e) => e.type === 'fence'), [{ execution: 'b', until: null }], 'decline releases the fence at once');
  t.notOk(B.fenced('b'));
  sim.run();
  refused(t, B, { type: 'decision', set: S1, execution: 'b', decision: 'confirm', by: 'op' }, 'illegal_transition');
  const recs = sim.nodes.get('A')!.records.map((x) => decodeCompact(x.compact).payload as any);
  const fu = recs.at(-1);
  t.same(fu.members.map((m: any) => m.status), ['declined']);
  t.same(recs.slice(1).flatMap((x: any) => x.members.map((m: any) => `${m.agent}:${m.status}`)), ['C:rolled_back', 'B:declined'], 'the dependent final travels up through the held member');
  t.equal(fu.outcome, 'partial');
  t.match(decodeCompact(fu.members[0].ack).payload, { policy: { mode: 'held', decided_by: 'op@example', decision: 'declined' } });
  t.equal(B.member(S1, 'b')!.state, 'closed');
});

// covers: req-failure-policy req-member-entry
t.test('held set at the initiator: proposed until the operator decides', async (t) => {
  const sim = setup(chain, { policy: (agent) => (agent === 'A' ? 'held' : 'automatic') });
  t.match(fail(sim, 'A', 'a', 1), [{ type: 'state', scope: 'set', state: 'proposed' }]);
  sim.run();
  t.equal(sim.nodes.get('B')!.core.members().length, 0, 'nothing forwarded while proposed');
  const A = sim.nodes.get('A')!.core;
  refused(t, A, { type: 'cancel', set: S1 }, 'illegal_transition');
  sim.input('A', { type: 'decision', set: S1, decision: 'confirm', by: 'op' });
  sim.run();
  t.equal(record(sim).outcome, 'complete');
  t.same(record(sim).members[0].policy, { mode: 'held', decided_by: 'op', decision: 'confirmed' },
    'the initiator entry names the policy and who confirmed');
  const sim2 = setup(chain, { policy: () => 'held' });
  fail(sim2, 'A', 'a', 1);
  sim2.input('A', { type: 'decision', set: S1, execution: 'a', decision: 'decline', by: 'op' });
  t.match(sim2.nodes.get('A')!.core.rollbackSet(S1), { state: 'declined' });
  sim2.run();
  t.equal(sim2.nodes.get('A')!.records.length, 0);
});

// covers: req-degraded req-hard-degraded
t.test('degraded security state: held everywhere, peer failure signals refused', async (t) => {
  const sim = setup(chain);
  sim.input('B', { type: 'security', degraded: true });
  const B = sim.nodes.get('B')!.core;
  t.equal(B.degraded, true);
  refused(t, B, { ...sim.envelope('C', 'B', 'failure', { execution: 'b', checkpoint: { checkpoint: 'b-k2', seq: 2 }, class: 'eval_failure' }), setId: 'x' } as Input, 'security_degraded');
  fail(sim, 'A', 'a', 1);
  sim.run({ until: t0(sim) + 200 });
  t.match(B.member(S1, 'b'), { state: 'held' });
  sim.input('B', { type: 'security', degraded: false });
  sim.input('B', { type: 'decision', set: S1, execution: 'b', decision: 'confirm', by: 'op' });
  sim.run();
  t.match(B.member(S1, 'b'), { state: 'closed', status: 'rolled_back' });
  // Local failure while degraded: proposed.
  sim.input('A', { type: 'security', degraded: true });
  t.match(fail(sim, 'A', 'a', 1, 's2'), [{ type: 'state', state: 'proposed' }]);
});

// covers: req-order-rollback req-compensation-order req-irreversible req-hints-verbatim
t.test('compensable work waits for dependents; irreversible is at best compensation_required', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'B', exec: 'b', seqs: 3, rev: { 2: 'compensable' } }, { agent: 'C', exec: 'c', seqs: 2, rev: { 1: 'irreversible' } }],
    deps: [
      { consumer: ['B', 'b'], cseq: 2, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 2 },
    ],
  };
  const sim = setup(g, { behaviour: (agent) => (agent === 'B' ? 'compensate' : 'ok'), agentDelayMs: 50 });
  fail(sim, 'A', 'a', 1);
  sim.run({ until: t0(sim) + 20 });
  t.match(sim.nodes.get('B')!.core.member(S1, 'b'), { state: 'waiting' }, 'waits for dependents before compensating');
  sim.run();
  const dB = sim.nodes.get('B')!.directives[0]!;
  t.match(dB, { action: 'compensate', hints: [{ undo: 'b-2' }] });
  const dC = sim.nodes.get('C')!.directives[0]!;
  t.match(dC, { action: 'restore', hints: [{ undo: 'c-1' }] });
  const r = record(sim);
  t.same(statuses(r), ['A/a:rolled_back', 'B/b:compensated', 'C/c:compensation_required']);
  t.same(ackOf(r, 'C').hints, [{ undo: 'c-1' }], 'hints verbatim');
  t.equal(r.outcome, 'partial');
  // The wait ends at the deadline when a dependent never answers.
  const sim2 = setup(g, { behaviour: (agent) => (agent === 'C' ? 'silent' : agent === 'B' ? 'required' : 'ok') });
  sim2.partitioned.add('C');
  fail(sim2, 'A', 'a', 1);
  sim2.run();
  const r2 = record(sim2);
  t.same(statuses(r2), ['A/a:rolled_back', 'B/b:compensation_required', 'C/c:unresponsive']);
  t.match(r2.members[2], { reported_by: 'B' });
});

// covers: req-restored-digest req-hard-digest req-parent-digest req-report-consistency
t.test('restored digest: agent-side and parent-side checks', async (t) => {
  const sim = setup(chain, { behaviour: (agent) => (agent === 'C' ? 'lie' : 'ok') });
  fail(sim, 'A', 'a', 1);
  sim.run({ until: t0(sim) + 3 });
  sim.run();
  const replies = sim.nodes.get('C')!.effects.filter((e) => e.type === 'reply');
  t.match(replies, [{ code: 'digest_mismatch' }], 'the agent face call gets digest_mismatch');
  t.match(sim.nodes.get('C')!.core.member(S1, 'c'), { status: 'failed', reason: 'digest_mismatch' });
  const r = record(sim);
  t.same(statuses(r), ['A/a:rolled_back', 'B/b:rolled_back', 'C/c:failed']);
  t.equal(r.outcome, 'failed');
  t.equal(ackOf(r, 'C').reason, 'digest_mismatch');

  // Parent side: B reports rolled_back with a digest other than the one it registered.
  const sim2 = setup(chain, { behaviour: (agent) => (agent === 'B' ? 'silent' : 'ok') });
  sim2.partitioned.add('B');
  fail(sim2, 'A', 'a', 1);
  sim2.run({ until: t0(sim2) + 50 });
  const A = sim2.nodes.get('A')!.core;
  const signB = sim2.nodes.get('B')!.sign;
  const ack = (o: object): string => signB('rollback-ack+jwt', {
    v: 1, iss: 'B', iat: 0, set: S1, member: 'b', parent: { agent: 'A', execution: 'a' }, status: 'rolled_back',
    target: { checkpoint: 'b-k2', seq: 2 }, restored: { checkpoint: 'b-k2', seq: 2, digest: dg('lie') }, ...o,
  });
  const report = (acks: string[], from = 'B', member = 'b', set = S1): Input => sim2.envelope(from, 'A', 'report', { set, member, acks });
  refused(t, A, report([ack({})]), 'digest_mismatch');
  const good = ack({ restored: { checkpoint: 'b-k2', seq: 2, digest: B_k2(sim2) } });
  // Report consistency.
  refused(t, A, report([good], 'C'), 'statement_invalid');
  refused(t, A, report([good], 'B', 'x'), 'statement_invalid');
  refused(t, A, report([ack({ parent: { agent: 'Z', execution: 'a' }, restored: undefined, status: 'failed' })]), 'statement_invalid');
  refused(t, A, report([ack({ set: { initiator: 'A', id: 'other' } })]), 'statement_invalid');
  refused(t, A, report([ack({ restored: undefined })]), 'statement_invalid');
  refused(t, A, report([ack({ status: 'satisfied', restored: undefined })]), 'statement_invalid');
  // A descendant ack whose parent is in another report is accepted: test/core/splitting.test.ts.
  const env = report([good]) as any;
  refused(t, A, { ...env, statements: [{ compact: 'x.y.z', payload: env.statements[0].payload }] }, 'statement_invalid');
  refused(t, A, { ...env, statements: [] }, 'statement_invalid');
  refused(t, A, report([ack({ set: { initiator: 'A', id: 'nope' } })], 'B', 'b', { initiator: 'A', id: 'nope' }), 'unknown_set');
  refused(t, A, report([ack({ parent: { agent: 'A', execution: 'zz' } })]), 'no_dependency');
  t.ok(A.handle(report([good]), sim2.now).length > 0, 'the honest report is accepted');
  t.same(A.handle(report([good]), sim2.now), [], 'the same report again changes nothing');
});

// covers: req-order-report req-illegal-transition
t.test('agent results: unknown set, wrong state, superseded target, missing restored', async (t) => {
  const sim = setup(chain, { behaviour: () => 'silent' });
  fail(sim, 'A', 'a', 1);
  sim.run({ until: t0(sim) + 30 });
  const C = sim.nodes.get('C')!.core;
  refused(t, C, { type: 'result', set: { initiator: 'A', id: 'zz' }, execution: 'c', status: 'failed' }, 'unknown_set');
  refused(t, C, { type: 'result', set: S1, execution: 'c', status: 'restored' }, 'schema_invalid');
  refused(t, C, { type: 'result', set: S1, execution: 'c', status: 'restored', restored: { checkpoint: 'c-k3', digest: dg(1) } }, 'illegal_transition');
  sim.input('C', { type: 'result', set: S1, execution: 'c', status: 'compensation_required', detail: 'partial' });
  t.match(C.member(S1, 'c'), { state: 'reported', status: 'compensation_required' });
  refused(t, C, { type: 'result', set: S1, execution: 'c', status: 'failed' }, 'illegal_transition');
  sim.run();
  // B never answered: failed at its deadline (its dependent's final is carried).
  const r = record(sim);
  t.same(statuses(r), ['A/a:failed', 'B/b:failed', 'C/c:compensation_required']);
  t.match(ackOf(r, 'B'), { detail: 'no rollback result from the agent before the deadline' });
});

// covers: req-order-report req-lease req-hard-vanished req-followup req-report-content
t.test('deadlines: unresponsive dependents, lease expiry, late finals as follow-ups', async (t) => {
  const sim = setup(chain);
  sim.partitioned.add('C');
  fail(sim, 'A', 'a', 1);
  sim.run({ until: t0(sim) + 10 });
  sim.run({ until: t0(sim) + 4900 });
  t.match(sim.nodes.get('B')!.core.member(S1, 'b'), { state: 'collecting' });
  sim.run({ until: t0(sim) + 5500 });
  const r = record(sim);
  t.same(statuses(r), ['A/a:rolled_back', 'B/b:rolled_back', 'C/c:unresponsive']);
  t.match(r.members[2], { reported_by: 'B' });
  t.equal(sim.nodes.get('C')!.core.members().length, 0);
  sim.partitioned.delete('C');
  sim.run({ until: t0(sim) + 7000 });
  // C gets the request late (retransmission within B's deadline? no: expired) -> stays out.
  sim.run();
  t.same(sim.errors.filter((e) => e.code !== 'unknown_set'), [], 'C never joined: it refuses the outcome (unknown_set)');

  // Lease: the member reported but never gets the record.
  const sim2 = setup(chain);
  fail(sim2, 'A', 'a', 1);
  sim2.run({ until: t0(sim2) + 4 });
  sim2.partitioned.add('A');
  sim2.run({ until: t0(sim2) + 6200 });
  t.match(sim2.nodes.get('B')!.core.member(S1, 'b'), { state: 'expired' });
  t.equal(sim2.nodes.get('B')!.core.fenced('b'), false, 'fence released at lease end');
  sim2.partitioned.delete('A');
  sim2.run();
  t.match(sim2.nodes.get('B')!.core.member(S1, 'b'), { state: 'closed' }, 'record arrives late: closed');

  // A final reaching the initiator after its record: a follow-up, never an edit.
  const sim3 = setup(chain);
  fail(sim3, 'A', 'a', 1);
  sim3.run({ until: t0(sim3) + 4 });
  sim3.partitioned.add('A');
  sim3.run({ until: t0(sim3) + 5500 });
  sim3.partitioned.delete('A');
  sim3.run();
  const recs = sim3.nodes.get('A')!.records.map((x) => decodeCompact(x.compact).payload as any);
  t.same(statuses(recs[0]), ['A/a:rolled_back', 'B/b:unresponsive']);
  t.equal(recs[0].outcome, 'partial');
  t.ok(recs.length === 2 && 'refers' in recs[1], 'late finals become a follow-up');
  t.same(statuses(recs[1]), ['B/b:rolled_back', 'C/c:rolled_back']);
  t.equal(recs[1].outcome, 'complete');
  t.match(sim3.nodes.get('C')!.core.member(S1, 'c'), { state: 'closed' }, 'the follow-up travels down the tree');
});

// covers: req-cancel-authority req-cancellation-iss req-cancel-effect req-illegal-transition
t.test('cancel', async (t) => {
  const sim = setup(chain, { policy: (agent) => (agent === 'B' ? 'held' : 'automatic') });
  const A = sim.nodes.get('A')!.core;
  fail(sim, 'A', 'a', 1);
  refused(t, A, { type: 'cancel', set: { initiator: 'B', id: 's1' } }, 'not_initiator');
  refused(t, A, { type: 'cancel', set: { initiator: 'A', id: 'zz' } }, 'unknown_set');
  sim.run({ until: t0(sim) + 50 });
  // The root is recorded once its dependents answered (held answers for now), so cancel a fresh set.
  const sim2 = setup(chain, { policy: (agent) => (agent === 'B' ? 'held' : 'automatic'), behaviour: (a) => (a === 'A' ? 'silent' : 'ok') });
  fail(sim2, 'A', 'a', 1);
  sim2.run({ until: t0(sim2) + 50 });
  const B = sim2.nodes.get('B')!.core;
  t.match(B.member(S1, 'b'), { state: 'held' });
  const bad = sim2.nodes.get('B')!.sign('rollback-cancellation+jwt', { v: 1, iss: 'B', iat: 0, set: S1 });
  refused(t, B, sim2.envelope('A', 'B', 'cancel', { set: S1, member: 'b', authority: bad }), 'not_initiator');
  refused(t, B, { ...sim2.envelope('A', 'B', 'cancel', { set: S1, member: 'b', authority: bad }), statements: [] } as Input, 'statement_invalid');
  sim2.input('A', { type: 'cancel', set: S1, detail: 'operator' });
  t.match(sim2.nodes.get('A')!.core.rollbackSet(S1), { state: 'cancelling', cancelled: true });
  t.same(sim2.input('A', { type: 'cancel', set: S1, detail: 'again' }), [], 'a repeated cancel while cancelling changes nothing');
  sim2.run({ until: t0(sim2) + 100 });
  t.match(B.member(S1, 'b'), { state: 'reported', status: 'cancelled' });
  t.equal(B.fenced('b'), false);
  t.match(sim2.nodes.get('C')!.core.member(S1, 'c'), { status: 'rolled_back' }, 'rolling back or later: the truth');
  sim2.run();
  const r = record(sim2);
  t.equal(r.outcome, 'cancelled');
  t.match(r.members[1], { agent: 'B', status: 'cancelled' });
  refused(t, sim2.nodes.get('A')!.core, { type: 'cancel', set: S1 }, 'illegal_transition');
  const auth = sim2.nodes.get('A')!.sign('rollback-cancellation+jwt', { v: 1, iss: 'A', iat: 0, set: S1 });
  refused(t, B, sim2.envelope('A', 'B', 'cancel', { set: S1, member: 'b', authority: auth }), 'illegal_transition');
  refused(t, B, sim2.envelope('A', 'B', 'cancel', { set: S1, member: 'zz', authority: auth }), 'unknown_set');
  // A cancel after the member rolled back: no change, the current ack re-sent.
  const sim3 = setup(chain, { behaviour: (a) => (a === 'A' ? 'silent' : 'ok') });
  fail(sim3, 'A', 'a', 1);
  sim3.run({ until: t0(sim3) + 60 });
  const C3 = sim3.nodes.get('C')!.core;
  t.match(C3.member(S1, 'c'), { state: 'reported' });
  const fx = C3.handle(sim3.envelope('B', 'C', 'cancel', { set: S1, member: 'c', authority: sim3.nodes.get('A')!.sign('rollback-cancellation+jwt', { v: 1, iss: 'A', iat: 0, set: S1 }) }), sim3.now);
  t.match(fx, [{ type: 'state', state: 'reported' }, { type: 'send', kind: 'report' }]);
});

t.test('outcome envelope checks', async (t) => {
  const sim = setup(chain);
  fail(sim, 'A', 'a', 1);
  sim.run();
  const B = sim.nodes.get('B')!.core;
  const rec = sim.nodes.get('A')!.records[0]!.compact;
  const out = (record: string, set = S1): Input => sim.envelope('A', 'B', 'outcome', { set, record });
  t.same(B.handle(out(rec), sim.now), [], 'the same record again (diamond): nothing');
  const forged = sim.nodes.get('C')!.sign('rollback-record+jwt', { ...record(sim), iss: 'C' });
  refused(t, B, out(forged), 'not_initiator');
  refused(t, B, out(rec, { initiator: 'A', id: 'other' }), 'statement_invalid');
  const other = sim.nodes.get('A')!.sign('rollback-record+jwt', { ...record(sim), set: { initiator: 'A', id: 'zz' } });
  refused(t, B, out(other, { initiator: 'A', id: 'zz' }), 'unknown_set');
  refused(t, B, { ...out(rec), statements: [] } as Input, 'statement_invalid');
});

// covers: req-vanished req-retransmit
t.test('resume re-emits undelivered sends, armed timers, fences and directives; delivered retires a send', async (t) => {
  const sim = setup(chain, { behaviour: () => 'silent' });
  sim.partitioned.add('C');
  fail(sim, 'A', 'a', 1);
  sim.run({ until: t0(sim) + 20 });
  const B = sim.nodes.get('B')!.core;
  const fx = B.resume(sim.now);
  t.match(fx.filter((e) => e.type === 'send'), [{ kind: 'request', to: 'C' }]);
  t.ok(fx.some((e) => e.type === 'timer' && e.id.startsWith('deadline|')));
  t.ok(fx.some((e) => e.type === 'fence' && e.execution === 'b'));
  t.ok(fx.some((e) => e.type === 'directive' && e.execution === 'b'));
  const key = (fx.find((e) => e.type === 'send') as SendEffect).key;
  B.handle({ type: 'delivered', key }, sim.now);
  t.notOk(B.resume(sim.now).some((e) => e.type === 'send'), 'delivered: no longer re-emitted');
  // Rebuild from the same inputs: identical state (determinism).
  const sim2 = setup(chain, { behaviour: () => 'silent' });
  sim2.partitioned.add('C');
  fail(sim2, 'A', 'a', 1);
  sim2.run({ until: t0(sim2) + 20 });
  t.equal(sim2.nodes.get('A')!.core.snapshot().length > 0, true);
  t.equal(sim2.nodes.get('A')!.core.records().length, sim.nodes.get('A')!.core.records().length);
});

t.test('input is copied before it is checked', async (t) => {
  const sim = setup(chain);
  const input = { type: 'checkpoint', execution: 'a', checkpoint: 'a-k4', seq: 4, digest: dg(4), reversibility: 'compensable', hints: [{ x: 1 }] } as Input & { hints: any[] };
  sim.input('A', input);
  input.hints[0].x = 2;
  t.same(sim.nodes.get('A')!.core.execution('a')!.get('a-k4')!.hints, [{ x: 1 }]);
});
