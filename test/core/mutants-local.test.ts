// The core's local inputs, acknowledgements and restart view, edge by edge; found by mutation
// testing (interop-tests/report/mutation.md). Each case asserts an observable effect: envelopes
// and their statements, refusals with their code and unchanged state, records.
import t from 'tap';
import { Simulator, decodeCompact, type Effect, type SendEffect } from '../../src/core/index.js';
import { build, chain, dg, fork, heldFork, refused, type Graph } from './helpers.js';

const S1 = { initiator: 'A', id: 's1' };
const sends = (fx: Effect[], kind?: string): SendEffect[] =>
  fx.filter((e): e is SendEffect => e.type === 'send' && (kind === undefined || e.kind === kind));
const reportAcks = (fx: Effect[]): any[][] =>
  sends(fx, 'report').map((e) => (e.body.acks as string[]).map((c) => decodeCompact(c).payload));
const fail = (sim: Simulator, o: { checkpoint?: string; seq?: number; detail?: string; setId?: string } = {}): Effect[] =>
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: o.checkpoint ?? 'a-k1', seq: o.seq ?? 1 }, class: 'eval_failure', setId: o.setId ?? 's1', ...(o.detail ? { detail: o.detail } : {}) });
const one: Graph = {
  execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'C', exec: 'c', seqs: 1 }],
  deps: [{ consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 }],
};

// covers: req-held-interim req-report-content
t.test('a held member\'s interim acks list no dependent as unresponsive: no deadline has passed', async (t) => {
  const sim = heldFork(fail);
  const acks = reportAcks(sim.nodes.get('B')!.effects).map((r) => r[0]);
  t.ok(acks.length >= 2, 'the first interim ack, and one carrying C\'s final');
  for (const a of acks) t.match(a, { status: 'held', missing: undefined });
});

// covers: req-envelope-fresh req-record-chain
t.test('statements carry iat in seconds', async (t) => {
  const sim = new Simulator({ seed: 1, agentDelayMs: 700 });
  build(sim, one);
  sim.at(12_345, 'A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 's1', detail: 'why' });
  sim.run();
  const rec = decodeCompact(sim.nodes.get('A')!.records[0]!.compact).payload as any;
  t.equal(rec.cause.at, 12, 'cause.at: the failure\'s second');
  t.equal(rec.cause.detail, 'why', 'the failure detail is in the cause');
  t.ok(rec.iat >= 12 && rec.iat < 20, `record iat ${rec.iat}`);
  const ack = reportAcks(sim.nodes.get('C')!.effects)[0]![0];
  t.ok(ack.iat >= 12 && ack.iat < 20, `ack iat ${ack.iat}`);
  const sim2 = new Simulator({ seed: 1 });
  build(sim2, one);
  fail(sim2);
  sim2.run();
  t.notOk('detail' in (decodeCompact(sim2.nodes.get('A')!.records[0]!.compact).payload as any).cause, 'no detail given: none in the cause');
});

// covers: req-vanished
t.test('restart view: nothing for a fresh node, no fence and no directive for members already closed', async (t) => {
  const sim = new Simulator({ seed: 1 });
  t.same(sim.node('Z').core.resume(0), [], 'a fresh node re-emits nothing');
  build(sim, chain);
  fail(sim);
  sim.run();
  for (const n of ['A', 'B', 'C']) {
    const core = sim.nodes.get(n)!.core;
    t.match(core.members(), [{ state: 'closed' }]);
    t.same(core.resume(sim.now).filter((e) => e.type === 'fence' || e.type === 'directive'), [], `${n}: closed, nothing to re-fence or re-run`);
    t.equal(core.fenced(n.toLowerCase()), false);
    t.equal(core.fenced('zzz'), false, 'an execution in no set is not fenced');
  }
  // B's work is compensable and C has not answered: B waits; after a restart it still waits.
  const w = new Simulator({ seed: 1 });
  build(w, { ...chain, execs: chain.execs.map((e) => (e.agent === 'B' ? { ...e, rev: { 2: 'compensable' as const, 3: 'compensable' as const } } : e)) });
  w.partitioned.add('C');
  fail(w);
  w.run({ until: w.now + 50 });
  const B = w.nodes.get('B')!.core;
  t.match(B.member(S1, 'b'), { state: 'waiting' });
  const fx = B.resume(w.now);
  t.match(fx.filter((e) => e.type === 'fence'), [{ execution: 'b' }], 'waiting: still fenced');
  t.same(fx.filter((e) => e.type === 'directive'), [], 'waiting: no compensation before the dependents answered');
});

// covers: req-hints-verbatim
t.test('hints: none invented for a checkpoint declared without hints, none sent for reversible work', async (t) => {
  const sim = new Simulator({ seed: 1 });
  build(sim, one);
  sim.input('C', { type: 'checkpoint', execution: 'c', checkpoint: 'c-k2', seq: 2, digest: dg('c2'), reversibility: 'compensable' });
  sim.input('C', { type: 'consumed', execution: 'c', producer: { agent: 'A', execution: 'a', checkpoint: 'a-k2', seq: 2 } });
  sim.run();
  fail(sim, { checkpoint: 'a-k2', seq: 2 });
  sim.run();
  const c = sim.nodes.get('C')!;
  t.match(c.directives, [{ action: 'compensate', hints: [] }]);
  const acks = reportAcks(c.effects).map((r) => r[0]);
  t.ok(acks.length > 0);
  for (const a of acks) t.notOk('hints' in a, `${a.status} ack: no hints`);
  const sim2 = new Simulator({ seed: 1 });
  build(sim2, one);
  fail(sim2);
  sim2.run();
  for (const a of reportAcks(sim2.nodes.get('C')!.effects).map((r) => r[0])) {
    t.notOk('hints' in a, 'reversible: no hints');
    t.notOk('by' in a, 'not satisfied: no by');
    t.equal(a.status, 'rolled_back');
  }
  t.equal(decodeCompact((sends(sim2.nodes.get('C')!.effects, 'report')[0]!.body.acks as string[])[0]!).header.typ, 'rollback-ack+jwt');
});

// covers: req-ack-restored req-restored-digest
t.test('a failed ack (restored digest mismatch) names the reason and carries no restored', async (t) => {
  const sim = new Simulator({ seed: 1, behaviour: (a) => (a === 'C' ? 'lie' : 'ok') });
  build(sim, one);
  fail(sim);
  sim.run();
  const a = reportAcks(sim.nodes.get('C')!.effects)[0]![0];
  t.match(a, { status: 'failed', reason: 'digest_mismatch' });
  t.notOk('restored' in a, 'restored only with rolled_back or compensated');
});

// covers: req-failure-dependency
t.test('a failure signal names exactly an output the execution consumed (agent, execution, checkpoint, seq)', async (t) => {
  const sim = new Simulator({ seed: 1 });
  build(sim, {
    execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'C', exec: 'c', seqs: 2 }],
    deps: [{ consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 }, { consumer: ['C', 'c'], cseq: 2, producer: ['A', 'a'], pseq: 2 }],
  });
  const C = sim.nodes.get('C')!.core;
  const obs = (producer: { agent: string; execution: string; checkpoint: string; seq: number }) =>
    ({ type: 'observed' as const, execution: 'c', producer, class: 'eval_failure' as const });
  for (const p of [
    { agent: 'B', execution: 'a', checkpoint: 'a-k1', seq: 1 }, { agent: 'A', execution: 'x', checkpoint: 'a-k1', seq: 1 },
    { agent: 'A', execution: 'a', checkpoint: 'a-k9', seq: 1 }, { agent: 'A', execution: 'a', checkpoint: 'a-k1', seq: 2 },
  ]) {
    t.test(JSON.stringify(p), async (t) => refused(t, C, obs(p), 'no_dependency', sim.now));
  }
  const fx = C.handle(obs({ agent: 'A', execution: 'a', checkpoint: 'a-k2', seq: 2 }), sim.now);
  t.match(sends(fx, 'failure'), [{ to: 'A', body: { execution: 'a', checkpoint: { checkpoint: 'a-k2', seq: 2 }, class: 'eval_failure' } }]);
  t.notOk('detail' in sends(fx, 'failure')[0]!.body, 'no detail given: none sent');
  C.handle(obs({ agent: 'A', execution: 'a', checkpoint: 'a-k1', seq: 1 }), sim.now);
  t.same(sends(C.resume(sim.now), 'failure').map((e) => (e.body.checkpoint as { seq: number }).seq).sort(), [1, 2], 'two signals, two envelopes re-sent until receipted');
});

// covers: req-failure-dependency
t.test('a failure envelope is accepted only from a consumer registered as of that checkpoint', async (t) => {
  const sim = new Simulator({ seed: 1 });
  build(sim, {
    execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 2 }],
    deps: [{ consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 }, { consumer: ['C', 'c'], cseq: 2, producer: ['A', 'a'], pseq: 2 }],
  });
  const A = sim.nodes.get('A')!.core;
  const env = (from: string, checkpoint: string, seq: number) => sim.envelope(from, 'A', 'failure', { execution: 'a', checkpoint: { checkpoint, seq }, class: 'eval_failure' });
  refused(t, A, env('B', 'a-k2', 2), 'no_dependency', sim.now);
  refused(t, A, env('B', 'a-k1', 2), 'no_dependency', sim.now);
  refused(t, A, env('D', 'a-k1', 1), 'no_dependency', sim.now);
  const fx = A.handle(env('B', 'a-k1', 1), sim.now);
  t.match(fx.filter((e) => e.type === 'reply'), [{ set: { initiator: 'A' } }], 'B consumed a-k1: a set opens');
});

// covers: req-failure-absorb
t.test('a failure at or after the target of a set still proposed or cancelling is absorbed', async (t) => {
  const held = new Simulator({ seed: 1, policy: (a) => (a === 'A' ? 'held' : 'automatic') });
  build(held, one);
  fail(held);
  t.match(held.nodes.get('A')!.core.rollbackSet(S1), { state: 'proposed' });
  t.match(fail(held, { checkpoint: 'a-k2', seq: 2, setId: 's2' }).filter((e) => e.type === 'reply'), [{ set: S1, absorbed: true }], 'proposed');
  const cancelling = new Simulator({ seed: 1, behaviour: () => 'silent' });
  build(cancelling, one);
  fail(cancelling);
  cancelling.input('A', { type: 'cancel', set: S1 });
  t.match(cancelling.nodes.get('A')!.core.rollbackSet(S1), { state: 'cancelling' });
  t.match(fail(cancelling, { checkpoint: 'a-k2', seq: 2, setId: 's2' }).filter((e) => e.type === 'reply'), [{ set: S1, absorbed: true }], 'cancelling');
});

// covers: req-hard-overlap req-lease
t.test('a member satisfied by another set is not fenced by its own set', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 2 }],
    deps: [{ consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 }, { consumer: ['C', 'c'], cseq: 2, producer: ['B', 'b'], pseq: 1 }],
  };
  const sim = new Simulator({ seed: 3 });
  build(sim, g);
  fail(sim);
  sim.run();
  const C = sim.nodes.get('C')!.core;
  t.equal(C.fenced('c'), false, 'S1 closed: released');
  sim.input('B', { type: 'failure', execution: 'b', checkpoint: { checkpoint: 'b-k1', seq: 1 }, class: 'eval_failure', setId: 's2' });
  sim.run();
  t.match(C.member({ initiator: 'B', id: 's2' }, 'c'), { status: 'satisfied', state: 'closed' });
  t.equal(C.fenced('c'), false, 'covered by S1: never fenced for S2');
  t.notOk(sim.nodes.get('C')!.effects.some((e) => e.type === 'fence' && e.set.initiator === 'B'), 'no fence effect for S2');
});

// covers: req-request-check
t.test('two executions of one node in one set are two members', async (t) => {
  const sim = new Simulator({ seed: 1 });
  build(sim, {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b1', seqs: 1 }, { agent: 'B', exec: 'b2', seqs: 1 }],
    deps: [{ consumer: ['B', 'b1'], cseq: 1, producer: ['A', 'a'], pseq: 1 }, { consumer: ['B', 'b2'], cseq: 1, producer: ['A', 'a'], pseq: 1 }],
  });
  fail(sim);
  sim.run();
  const B = sim.nodes.get('B')!.core;
  t.match(B.member(S1, 'b1'), { state: 'closed', status: 'rolled_back' });
  t.match(B.member(S1, 'b2'), { state: 'closed', status: 'rolled_back' });
  const rec = decodeCompact(sim.nodes.get('A')!.records[0]!.compact).payload as any;
  t.same(rec.members.map((e: any) => `${e.agent}/${e.execution}:${e.status}`).sort(), ['A/a:rolled_back', 'B/b1:rolled_back', 'B/b2:rolled_back']);
});

// covers: req-held-earlier
t.test('a confirmed held member asked for an earlier target goes back to its operator', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'C', exec: 'c', seqs: 2 }],
    deps: [{ consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 }, { consumer: ['C', 'c'], cseq: 2, producer: ['A', 'a'], pseq: 2 }],
  };
  const sim = new Simulator({ seed: 2, policy: (a) => (a === 'C' ? 'held' : 'automatic'), behaviour: (a) => (a === 'C' ? 'silent' : 'ok') });
  build(sim, g);
  fail(sim, { checkpoint: 'a-k2', seq: 2 });
  sim.run({ until: sim.now + 50 });
  const c = sim.nodes.get('C')!;
  sim.input('C', { type: 'decision', set: S1, execution: 'c', decision: 'confirm', by: 'op' });
  t.match(c.core.member(S1, 'c'), { state: 'rolling_back', target: { seq: 2 } });
  const directives = c.directives.length;
  const fx = c.core.handle(sim.envelope('A', 'C', 'request', {
    set: S1, cause: { agent: 'A', execution: 'a', class: 'eval_failure', at: 0 }, member: 'c',
    producer: { execution: 'a', checkpoint: 'a-k1', seq: 1 }, hops: 4, budget: 1000,
  }), sim.now);
  t.match(c.core.member(S1, 'c'), { state: 'held', status: 'held', target: { seq: 1 } });
  t.match(reportAcks(fx), [[{ status: 'held', target: { seq: 1 }, policy: { mode: 'held' } }]], 'a new interim held ack');
  t.notOk(reportAcks(fx)[0]![0].policy.decision, 'the earlier decision does not carry over');
  t.same(fx.filter((e) => e.type === 'directive'), []);
  t.equal(c.directives.length, directives);
});

// covers: req-deadline-relative req-compensation-order
t.test('timers: one fired before its instant does nothing; waiting ends a hop margin before the deadline with the compensation', async (t) => {
  const sim = new Simulator({ seed: 1, config: { hopMarginMs: 300 } });
  build(sim, { ...chain, execs: chain.execs.map((e) => (e.agent === 'B' ? { ...e, rev: { 2: 'compensable' as const, 3: 'compensable' as const } } : e)) });
  sim.partitioned.add('C');
  fail(sim);
  sim.run({ until: sim.now + 50 });
  const b = sim.nodes.get('B')!;
  t.match(b.core.member(S1, 'b'), { state: 'waiting' });
  const timers = [...b.timers].filter(([id]) => id.includes('"b"') || id.endsWith('|b'));
  const wait = timers.find(([id]) => id.startsWith('wait|'))!;
  const deadline = timers.find(([id]) => id.startsWith('deadline|'))!;
  t.ok(wait && deadline, 'wait and deadline timers armed');
  t.equal(wait[1], deadline[1] - 300, 'the wait ends a hop margin before the deadline');
  const before = b.core.snapshot();
  t.same(b.core.handle({ type: 'timer', id: wait[0] }, wait[1] - 1), [], 'early: nothing');
  t.equal(b.core.snapshot(), before);
  const fx = b.core.handle({ type: 'timer', id: wait[0] }, wait[1]);
  t.match(fx.filter((e) => e.type === 'directive'), [{ execution: 'b', action: 'compensate' }], 'compensation runs without the silent dependent');
  t.match(b.core.member(S1, 'b'), { state: 'rolling_back' });
  t.same(b.core.handle({ type: 'timer', id: wait[0] }, wait[1] + 1), [], 'a timer fires once');
});
