// The core's handlers of peer envelopes (request, report, cancel, outcome), edge by edge, against
// the draft's rules; each case was found by mutation testing (interop-tests/report/mutation.md)
// and asserts an observable effect: envelopes sent, refusals with their code and unchanged
// state, records.
import t from 'tap';
import { Simulator, decodeCompact, type Core, type Input, type Effect, type SendEffect } from '../../src/core/index.js';
import { build, fork, heldFork, refused, type Graph } from './helpers.js';

const S1 = { initiator: 'A', id: 's1' };
const cause = { agent: 'A', execution: 'a', class: 'eval_failure', at: 0 };

const sends = (fx: Effect[], kind?: string): SendEffect[] =>
  fx.filter((e): e is SendEffect => e.type === 'send' && (kind === undefined || e.kind === kind));
/** The acks of every report in fx, decoded. */
const reportAcks = (fx: Effect[]): any[][] =>
  sends(fx, 'report').map((e) => (e.body.acks as string[]).map((c) => decodeCompact(c).payload));
const request = (producer: { execution: string; checkpoint: string; seq: number }, member: string, o: { hops?: number; budget?: number; set?: typeof S1 } = {}) =>
  ({ set: o.set ?? S1, cause, member, producer, hops: o.hops ?? 4, budget: o.budget ?? 1000 });

function fail(sim: Simulator, checkpoint = 'a-k1', seq = 1): void {
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint, seq }, class: 'eval_failure', setId: 's1' });
}

// covers: req-satisfied
t.test('a request from another execution of the same agent is another parent: satisfied at once, never a primary', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'A', exec: 'a2', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 2 }],
    deps: [
      { consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 2, producer: ['A', 'a2'], pseq: 1 },
    ],
  };
  const sim = new Simulator({ seed: 1, behaviour: (a) => (a === 'C' ? 'silent' : 'ok') });
  build(sim, g);
  fail(sim);
  sim.run({ until: sim.now + 50 });
  const C = sim.nodes.get('C')!.core;
  t.match(C.member(S1, 'c'), { state: 'rolling_back', target: { seq: 1 } });
  const fx = C.handle(sim.envelope('A', 'C', 'request', request({ execution: 'a2', checkpoint: 'a2-k1', seq: 1 }, 'c')), sim.now);
  t.match(reportAcks(fx), [[{ status: 'satisfied', by: S1, parent: { agent: 'A', execution: 'a2' }, target: { seq: 1 } }]],
    'the new parent A/a2 gets satisfied by this set at once');
  t.same(fx.filter((e) => e.type === 'directive'), [], 'nothing runs again');
  const done = C.handle({ type: 'result', set: S1, execution: 'c', status: 'restored', restored: { checkpoint: 'c-k1', digest: C.execution('c')!.get('c-k1')!.digest } }, sim.now);
  t.same(reportAcks(done).map((r) => `${r[0].parent.agent}/${r[0].parent.execution}:${r[0].status}`), ['A/a:rolled_back'], 'the final goes to the primary parent only');
});

// covers: req-satisfied
t.test('a request from another agent\'s execution of the same name is another parent too', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'E', exec: 'a', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 2 }],
    deps: [
      { consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 2, producer: ['E', 'a'], pseq: 1 },
    ],
  };
  const sim = new Simulator({ seed: 1, behaviour: (a) => (a === 'C' ? 'silent' : 'ok') });
  build(sim, g);
  fail(sim);
  sim.run({ until: sim.now + 50 });
  const C = sim.nodes.get('C')!.core;
  const fx = C.handle(sim.envelope('E', 'C', 'request', request({ execution: 'a', checkpoint: 'a-k1', seq: 1 }, 'c')), sim.now);
  t.match(reportAcks(fx), [[{ status: 'satisfied', by: S1, parent: { agent: 'E', execution: 'a' } }]], 'E/a gets satisfied by this set at once');
  t.same(sends(fx).map((e) => e.to), ['E']);
});

// covers: req-held-interim
t.test('a held policy at a member reached by a request: fence, interim held ack, no rollback until the operator decides', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 1 }],
    deps: [{ consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 }],
  };
  const sim = new Simulator({ seed: 1, policy: (a) => (a === 'C' ? 'held' : 'automatic') });
  build(sim, g);
  fail(sim);
  sim.run({ until: sim.now + 50 });
  const c = sim.nodes.get('C')!;
  t.match(c.core.member(S1, 'c'), { state: 'held', status: 'held' });
  t.equal(c.directives.length, 0, 'no rollback directive before the decision');
  t.ok(c.core.fenced('c'), 'fenced');
  t.match(reportAcks(c.effects), [[{ status: 'held', policy: { mode: 'held' } }]], 'interim held ack to the parent');
});

/** A -> C (C consumed a@1 at c-k1 and a@2 at c-k2); D consumed c@1. A fails at a-k2: C's target is c-k2. */
const earlier: Graph = {
  execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'C', exec: 'c', seqs: 2 }, { agent: 'D', exec: 'd', seqs: 1 }],
  deps: [
    { consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
    { consumer: ['C', 'c'], cseq: 2, producer: ['A', 'a'], pseq: 2 },
    { consumer: ['D', 'd'], cseq: 1, producer: ['C', 'c'], pseq: 1 },
  ],
};

// covers: req-target-rule
t.test('an earlier target while rolling back: the member keeps the larger hop count for the new dependents', async (t) => {
  const sim = new Simulator({ seed: 2, behaviour: (a) => (a === 'C' ? 'silent' : 'ok') });
  build(sim, earlier);
  fail(sim, 'a-k2', 2);
  sim.run({ until: sim.now + 50 });
  const C = sim.nodes.get('C')!.core;
  t.match(C.member(S1, 'c'), { state: 'rolling_back', target: { seq: 2 }, children: [] }, 'D is not tainted at c-k2');
  const hops = sends(sim.nodes.get('A')!.effects, 'request')[0]!.body.hops as number;
  t.ok(hops > 2, `C was asked with ${hops} hops`);
  const fx = C.handle(sim.envelope('A', 'C', 'request', request({ execution: 'a', checkpoint: 'a-k1', seq: 1 }, 'c', { hops: 1 })), sim.now);
  t.match(C.member(S1, 'c'), { target: { seq: 1 }, children: [{ agent: 'D', asked: true }] });
  t.match(sends(fx, 'request'), [{ to: 'D', body: { hops: hops - 1, producer: { seq: 1 } } }], 'D asked with the hops C already had, less one');
});

// covers: req-held-earlier
t.test('an earlier target at a held member: re-fence, re-forward, a new interim held ack, still held', async (t) => {
  const sim = new Simulator({ seed: 2, policy: (a) => (a === 'C' ? 'held' : 'automatic') });
  build(sim, earlier);
  fail(sim, 'a-k2', 2);
  sim.run({ until: sim.now + 50 });
  const c = sim.nodes.get('C')!;
  t.match(c.core.member(S1, 'c'), { state: 'held', target: { seq: 2 } });
  const fx = c.core.handle(sim.envelope('A', 'C', 'request', request({ execution: 'a', checkpoint: 'a-k1', seq: 1 }, 'c')), sim.now);
  t.match(fx.filter((e) => e.type === 'fence'), [{ execution: 'c' }], 're-fenced');
  t.match(sends(fx, 'request'), [{ to: 'D', body: { producer: { seq: 1 } } }], 're-forwarded with the new boundary');
  t.match(reportAcks(fx), [[{ status: 'held', target: { seq: 1 }, parent: { agent: 'A', execution: 'a' } }]], 'new interim held ack');
  t.same(fx.filter((e) => e.type === 'directive'), [], 'the operator is not bypassed');
  t.match(c.core.member(S1, 'c'), { state: 'held', status: 'held', target: { seq: 1 } });
});

// covers: req-target-rule req-deadline-relative
t.test('an earlier target after the member reported (lease running, or expired): deadline and lease from the new request', async (t) => {
  for (const expire of [false, true]) {
    const sim = new Simulator({ seed: 2, behaviour: (a) => (a === 'C' ? 'silent' : 'ok') });
    build(sim, earlier);
    fail(sim, 'a-k2', 2);
    sim.run({ until: sim.now + 50 });
    const C = sim.nodes.get('C')!.core;
    // The result is handled outside the simulator: the report never reaches A, no outcome comes back.
    const fx0 = C.handle({ type: 'result', set: S1, execution: 'c', status: 'restored', restored: { checkpoint: 'c-k2', digest: C.execution('c')!.get('c-k2')!.digest } }, sim.now);
    t.match(C.member(S1, 'c'), { state: 'reported', status: 'rolled_back' });
    let now = sim.now + 10;
    if (expire) {
      const lease = fx0.find((e) => e.type === 'timer' && e.id.startsWith('lease|')) as { id: string; at: number };
      now = lease.at + 1;
      C.handle({ type: 'timer', id: lease.id }, now);
      t.match(C.member(S1, 'c'), { state: 'expired' });
    }
    const fx = C.handle(sim.envelope('A', 'C', 'request', request({ execution: 'a', checkpoint: 'a-k1', seq: 1 }, 'c', { budget: 3333 })), now);
    const name = expire ? 'expired' : 'reported';
    t.match(fx.filter((e) => e.type === 'timer' && e.id.startsWith('deadline|')), [{ at: now + 3333 }], `${name}: deadline from the new budget`);
    t.match(fx.filter((e) => e.type === 'fence'), [{ execution: 'c', until: now + 3333 + 1000 }], `${name}: lease from the new budget`);
    t.match(C.member(S1, 'c'), { state: 'rolling_back', target: { seq: 1 } }, `${name}: rolls back further`);
  }
});

/** A -> B with B silent (rolling back): C and D, B's dependents, are cut off; reports to A are made by hand. */
function rootWithChild() {
  const g = fork;
  const sim = new Simulator({ seed: 5, behaviour: (a) => (a === 'B' ? 'silent' : 'ok') });
  build(sim, g);
  sim.partitioned.add('C');
  sim.partitioned.add('D');
  fail(sim);
  sim.run({ until: sim.now + 50 });
  const A = sim.nodes.get('A')!.core;
  const digest = (agent: string, exec: string) => sim.nodes.get(agent)!.core.execution(exec)!.get(`${exec}-k1`)!.digest;
  const ack = (agent: string, exec: string, parent: { agent: string; execution: string }, o: Record<string, unknown> = {}) =>
    sim.nodes.get(agent)!.sign('rollback-ack+jwt', {
      v: 1, iss: agent, iat: 0, set: S1, member: exec, parent, status: 'rolled_back',
      target: { checkpoint: `${exec}-k1`, seq: 1 }, restored: { checkpoint: `${exec}-k1`, seq: 1, digest: digest(agent, exec) }, ...o,
    });
  const bAck = (o: Record<string, unknown> = {}) => ack('B', 'b', { agent: 'A', execution: 'a' }, o);
  const report = (acks: string[], o: Record<string, unknown> = {}): Input => sim.envelope('B', 'A', 'report', { set: S1, member: 'b', acks, ...o });
  return { sim, A, ack, bAck, report };
}

// covers: req-report-consistency req-ack-restored
t.test('report consistency: each violation is refused with statement_invalid and changes nothing', async (t) => {
  const { sim, A, ack, bAck, report } = rootWithChild();
  t.match(A.member(S1, 'a'), { state: 'collecting', children: [{ agent: 'B', asked: true, final: false }] });
  const good = report([bAck()]);
  const now = sim.now;
  const cases: [string, Input][] = [
    ['no statements', { ...(good as any), statements: [] }],
    ['fewer statements than acks', { ...(report([bAck(), ack('C', 'c', { agent: 'B', execution: 'b' })]) as any), statements: (good as any).statements }],
    ['a statement that is not acks[i]', { ...(good as any), statements: (report([bAck({ iat: 1 })]) as any).statements }],
    ['first ack from another issuer', report([ack('C', 'c', { agent: 'A', execution: 'a' }, { member: 'b' })])],
    ['first ack of another member', report([bAck({ member: 'c' })])],
    ['first ack to another parent agent', report([bAck({ parent: { agent: 'Z', execution: 'a' } })])],
    ['an ack of another set', report([bAck({ set: { initiator: 'A', id: 's2' } })])],
    ['a descendant ack of another set', report([bAck(), ack('C', 'c', { agent: 'B', execution: 'b' }, { set: { initiator: 'A', id: 's2' } })])],
    ['rolled_back without restored', report([bAck({ restored: undefined })])],
    ['compensated without restored', report([bAck({ status: 'compensated', restored: undefined })])],
    ['satisfied without by', report([bAck({ status: 'satisfied', restored: undefined })])],
  ];
  for (const [name, input] of cases) {
    t.test(name, async (t) => refused(t, A, input, 'statement_invalid', now));
  }
  for (const total of [-1, 1.5, 2 ** 53]) {
    t.test(`total ${total}`, async (t) => refused(t, A, report([bAck()], { total }), 'schema_invalid', now));
  }
  t.test('a report for a set this node does not know', async (t) => {
    const s2 = { initiator: 'A', id: 's9' };
    const x = sim.nodes.get('B')!.sign('rollback-ack+jwt', { ...decodeCompact(bAck()).payload, set: s2 });
    refused(t, A, sim.envelope('B', 'A', 'report', { set: s2, member: 'b', acks: [x] }), 'unknown_set', now);
  });
  t.test('a report from a member this node never asked', async (t) => {
    const x = ack('C', 'c', { agent: 'A', execution: 'a' });
    refused(t, A, sim.envelope('C', 'A', 'report', { set: S1, member: 'c', acks: [x] }), 'no_dependency', now);
  });
  t.test('no acks and no statements', async (t) => refused(t, A, { ...(report([]) as any), statements: [] }, 'statement_invalid', now));
  t.test('statements missing', async (t) => refused(t, A, { ...(good as any), statements: undefined }, 'statement_invalid', now));
  t.test('a satisfied ack with by, and total 0, are accepted', async (t) => {
    const fx = A.handle(report([bAck({ status: 'satisfied', restored: undefined, by: { initiator: 'X', id: 'x' } })], { total: 0 }), now);
    t.ok(fx.length > 0);
  });
});

// covers: req-report-split
t.test('split reports: the parent holds the child answered only once every announced descendant ack is in', async (t) => {
  const { A, ack, bAck, report } = rootWithChild();
  const c = ack('C', 'c', { agent: 'B', execution: 'b' });
  const d = ack('D', 'd', { agent: 'B', execution: 'b' });
  const own = bAck();
  const now = 100;
  A.handle(report([own, c], { total: 2 }), now);
  t.match(A.rollbackSet(S1), { state: 'open' }, 'one of two descendant acks: not answered, no record');
  t.equal(A.records().length, 0);
  A.handle(report([own, c], { total: 2 }), now);
  t.match(A.rollbackSet(S1), { state: 'open' }, 'the same part again: still not answered');
  A.handle(report([own, d], { total: 2 }), now);
  t.match(A.rollbackSet(S1), { state: 'recorded' }, 'both parts: recorded');
  t.same(A.rollbackSet(S1)!.entries.map((e) => `${e.agent}:${e.status}`).sort(), ['A:rolled_back', 'B:rolled_back', 'C:rolled_back', 'D:rolled_back']);
});

/** A -> B -> C (and D, both consuming b@1); C's operator holds it. */
function heldGrandchild(o: { bSilent?: boolean; withD?: boolean; cutA?: boolean; bHeld?: boolean; seed?: number } = {}) {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 1 },
      ...(o.withD ? [{ agent: 'D', exec: 'd', seqs: 1 }] : [])],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
      ...(o.withD ? [{ consumer: ['D', 'd'] as [string, string], cseq: 1, producer: ['B', 'b'] as [string, string], pseq: 1 }] : []),
    ],
  };
  const sim = new Simulator({
    seed: o.seed ?? 6, policy: (a) => (a === 'C' || (a === 'B' && o.bHeld) ? 'held' : 'automatic'), behaviour: (a) => (a === 'B' && o.bSilent ? 'silent' : 'ok'),
  });
  build(sim, g);
  if (o.withD) sim.partitioned.add('D');
  fail(sim);
  sim.run({ until: sim.now + 100 });
  // A unreachable: B's report and A's record never cross, so B's lease ends (expired).
  if (o.cutA) sim.partitioned.add('A');
  if (o.withD) sim.run({ until: sim.now + (o.cutA ? 7000 : 6000) });
  const confirm = (): void => {
    sim.input('C', { type: 'decision', set: S1, execution: 'c', decision: 'confirm', by: 'op' });
    sim.run({ until: sim.now + 100 });
  };
  const bResult = (): Effect[] => {
    const B = sim.nodes.get('B')!.core;
    return sim.input('B', { type: 'result', set: S1, execution: 'b', status: 'restored', restored: { checkpoint: 'b-k1', digest: B.execution('b')!.get('b-k1')!.digest } });
  };
  return { sim, B: sim.nodes.get('B')!.core, confirm, bResult };
}

// covers: req-report-content
t.test('a descendant\'s final that supersedes its held ack before the member reports: only the final travels up', async (t) => {
  const { sim, B, confirm, bResult } = heldGrandchild({ bSilent: true });
  t.match(B.member(S1, 'b'), { state: 'rolling_back' });
  const heldReport = sends(sim.nodes.get('C')!.effects, 'report')[0]!;
  confirm();
  // The held report again, late (reordered or retransmitted): the final it was superseded by stays.
  B.handle(sim.envelope('C', 'B', 'report', heldReport.body), sim.now);
  const fx = bResult();
  t.match(reportAcks(fx).map((r) => r.map((a) => `${a.iss}:${a.status}`)), [['B:rolled_back', 'C:rolled_back']],
    'B reports its own final and C\'s final, not C\'s superseded held ack');
});

// covers: req-report-content
t.test('a late final after the member reported: a new report with the unchanged own ack and only the new ack', async (t) => {
  for (const cutA of [false, true]) t.test(cutA ? 'lease ended (expired)' : 'outcome in (closed)', async (t) => {
  const { sim, B, confirm } = heldGrandchild({ withD: true, cutA });
  // B waited for C (held answers for now) and D (unreachable) until its deadline, then reported.
  t.match(B.member(S1, 'b'), { state: cutA ? 'expired' : 'closed', status: 'rolled_back' });
  const first = reportAcks(sends(sim.nodes.get('B')!.effects, 'report'));
  t.ok(first.length >= 1);
  const own = first.at(-1)![0];
  t.match(own, { status: 'rolled_back', missing: [{ agent: 'D', reason: 'unresponsive' }] });
  t.same(first.at(-1)!.slice(1).map((a) => `${a.iss}:${a.status}`), ['C:held']);
  const before = sends(sim.nodes.get('B')!.effects, 'report').length;
  confirm();
  const late = reportAcks(sends(sim.nodes.get('B')!.effects, 'report').slice(before));
  t.ok(late.length >= 1, 'a new report');
  for (const r of late) {
    t.match(r[0], { status: 'rolled_back', missing: [{ agent: 'D', reason: 'unresponsive' }], parent: { agent: 'A' } }, 'own ack first, unchanged');
    t.same(r.slice(1).map((a) => `${a.iss}:${a.status}`), ['C:rolled_back'], 'only the ack not sent before');
  }
  });
});

// covers: req-followup req-report-split
t.test('a late final split over several reports becomes one follow-up, once every part is in', async (t) => {
  const { sim, A, ack, bAck, report } = rootWithChild();
  sim.partitioned.add('B');
  sim.run({ until: sim.now + 6000 });
  t.match(A.rollbackSet(S1), { state: 'recorded' });
  t.equal(A.records().length, 1, 'recorded at the deadline, B unresponsive');
  const c = ack('C', 'c', { agent: 'B', execution: 'b' });
  const d = ack('D', 'd', { agent: 'B', execution: 'b' });
  const own = bAck();
  A.handle(report([own, c], { total: 2 }), sim.now);
  t.equal(A.records().length, 1, 'one part of two: no follow-up yet');
  A.handle(report([own, d], { total: 2 }), sim.now);
  t.equal(A.records().length, 2, 'both parts: one follow-up');
  const f = decodeCompact(A.records()[1]!.compact).payload as { refers: string; members: { agent: string; status: string }[] };
  t.equal(f.refers, A.records()[0]!.hash);
  t.same(f.members.map((e) => `${e.agent}:${e.status}`).sort(), ['B:rolled_back', 'C:rolled_back', 'D:rolled_back']);
  A.handle(report([own, d], { total: 2 }), sim.now);
  t.equal(A.records().length, 2, 'a repeated part: nothing new');
});

// covers: req-report-content
t.test('a held member passes a dependent\'s final up in a new interim report; a dependent still silent is not called unresponsive', async (t) => {
  const sim = heldFork(fail);
  const B = sim.nodes.get('B')!;
  t.match(B.core.member(S1, 'b'), { state: 'held' });
  const reports = reportAcks(sends(B.effects, 'report'));
  const last = reports.at(-1)!;
  t.match(last[0], { status: 'held', parent: { agent: 'A' } }, 'own interim held ack first');
  t.equal(last[0].missing, undefined, 'D has not reached a deadline: not listed as unresponsive');
  t.same(last.slice(1).map((a) => `${a.iss}:${a.status}`), ['C:rolled_back'], 'C\'s final travels up while B is held');
});

// covers: req-hard-overlap req-target-rule
t.test('a member satisfied by another set: a later request of its set moves nothing, the new parent gets satisfied by this set', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'E', exec: 'e', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 3 }],
    deps: [
      { consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 2, producer: ['B', 'b'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 3, producer: ['E', 'e'], pseq: 1 },
    ],
  };
  const sim = new Simulator({ seed: 3 });
  build(sim, g);
  fail(sim);
  sim.run();
  const C = sim.nodes.get('C')!.core;
  t.match(C.member(S1, 'c'), { status: 'rolled_back', target: { seq: 1 } });
  const S2 = { initiator: 'B', id: 's2' };
  const cause2 = { agent: 'B', execution: 'b', class: 'eval_failure', at: 0 };
  const fx1 = C.handle(sim.envelope('B', 'C', 'request', { set: S2, cause: cause2, member: 'c', producer: { execution: 'b', checkpoint: 'b-k1', seq: 1 }, hops: 4, budget: 1000 }), sim.now);
  t.match(reportAcks(fx1), [[{ status: 'satisfied', by: S1, target: { seq: 2 } }]], 'covered by S1');
  const fx2 = C.handle(sim.envelope('E', 'C', 'request', { set: S2, cause: cause2, member: 'c', producer: { execution: 'e', checkpoint: 'e-k1', seq: 1 }, hops: 4, budget: 1000 }), sim.now);
  t.match(reportAcks(fx2), [[{ status: 'satisfied', by: S2, target: { seq: 2 }, parent: { agent: 'E' } }]], 'satisfied by S2, target unchanged');
  t.match(C.member(S2, 'c'), { target: { seq: 2 } }, 'the later request does not move the target');
  t.same(fx2.filter((e) => e.type === 'directive' || e.type === 'fence'), [], 'nothing runs again');
});

// covers: req-aggregation-entry req-idempotent
t.test('reordered reports at the initiator: a superseded held ack changes no entry, a repeated report changes nothing', async (t) => {
  const { A, ack, bAck, report } = rootWithChild();
  const cFinal = ack('C', 'c', { agent: 'B', execution: 'b' });
  const cHeld = ack('C', 'c', { agent: 'B', execution: 'b' }, { status: 'held', restored: undefined, policy: { mode: 'held' } });
  const own = bAck();
  const now = 100;
  t.ok(A.handle(report([own, cFinal], { total: 2 }), now).length > 0, 'the later report first');
  t.same(A.handle(report([own, cFinal], { total: 2 }), now), [], 'the same report again: no effect');
  t.match(A.rollbackSet(S1), { state: 'open' });
  A.handle(report([own, cHeld], { total: 1 }), now);
  t.match(A.rollbackSet(S1), { state: 'recorded' }, 'both descendant acks in: recorded');
  t.match(A.rollbackSet(S1)!.entries.find((e) => e.agent === 'C'), { status: 'rolled_back' }, 'C\'s final, not its superseded held ack');
  t.same(A.handle(report([own, cHeld], { total: 1 }), now), [], 'the held report again: no effect');
});

// covers: req-idempotent req-held-interim
t.test('a repeated interim held report while the initiator still waits for others changes nothing', async (t) => {
  const { A, bAck, report } = rootWithChild();
  const held = report([bAck({ status: 'held', restored: undefined, policy: { mode: 'held' } })]);
  t.ok(A.handle(held, 100).length > 0, 'the held ack answers for now');
  t.same(A.handle(report([bAck({ status: 'held', restored: undefined, policy: { mode: 'held' } })]), 100), [], 'the same held ack again: no effect');
  t.same(A.handle(held, 100), [], 'the same report again: no effect');
});

/**
 * A -> {B, E}, and X (with `xSeqs` checkpoints) that no dependency names: B, E and X are cut off,
 * A has sent its requests, and the tests hand A reports whose acks they sign themselves.
 */
function handFed(xSeqs: number) {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'E', exec: 'e', seqs: 1 }, { agent: 'X', exec: 'x', seqs: xSeqs }],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['E', 'e'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
    ],
  };
  const sim = new Simulator({ seed: 4 });
  build(sim, g);
  for (const x of ['B', 'E', 'X']) sim.partitioned.add(x);
  fail(sim);
  sim.run({ until: sim.now + 50 });
  const sign = (agent: string, exec: string, parent: { agent: string; execution: string }, seq: number, o: Record<string, unknown>) =>
    sim.nodes.get(agent)!.sign('rollback-ack+jwt', { v: 1, iss: agent, iat: 0, set: S1, member: exec, parent, target: { checkpoint: `${exec}-k${seq}`, seq }, ...o });
  const fin = (agent: string, exec: string, parent: { agent: string; execution: string }, seq = 1) => sign(agent, exec, parent, seq, {
    status: 'rolled_back', restored: { checkpoint: `${exec}-k${seq}`, seq, digest: sim.nodes.get(agent)!.core.execution(exec)!.get(`${exec}-k${seq}`)!.digest },
  });
  return { sim, A: sim.nodes.get('A')!.core, sign, fin, toA: { agent: 'A', execution: 'a' } };
}

// covers: req-followup req-record-pages
t.test('a follow-up goes to the child agents whose subtree holds its entries; a satisfied-by-this-set pointer is not such a subtree', async (t) => {
  const { sim, A, sign, fin, toA } = handFed(1);
  t.match(A.member(S1, 'a'), { children: [{ agent: 'B', asked: true }, { agent: 'E', asked: true }] });
  const eOwn = fin('E', 'e', toA);
  const now = sim.now;
  A.handle(sim.envelope('E', 'A', 'report', { set: S1, member: 'e', acks: [eOwn, sign('X', 'x', { agent: 'E', execution: 'e' }, 1, { status: 'held', policy: { mode: 'held' } })], total: 1 }), now);
  const fx = A.handle(sim.envelope('B', 'A', 'report', { set: S1, member: 'b', acks: [fin('B', 'b', toA), sign('X', 'x', { agent: 'B', execution: 'b' }, 1, { status: 'satisfied', by: S1 })], total: 1 }), now);
  t.equal(A.records().length, 1, 'recorded');
  t.same(sends(fx, 'outcome').map((e) => e.to).sort(), ['B', 'E'], 'the record goes to every child agent');
  t.match(A.rollbackSet(S1)!.entries.find((e) => e.agent === 'X'), { status: 'held' });
  // X's final reaches A through E, its primary parent: a follow-up about X alone.
  const late = A.handle(sim.envelope('E', 'A', 'report', { set: S1, member: 'e', acks: [eOwn, fin('X', 'x', { agent: 'E', execution: 'e' })], total: 2 }), now);
  t.equal(A.records().length, 2, 'a follow-up');
  t.same((decodeCompact(A.records()[1]!.compact).payload as any).members.map((e: any) => `${e.agent}:${e.status}`), ['X:rolled_back']);
  t.same(sends(late, 'outcome').map((e) => e.to), ['E'], 'only to E, whose subtree holds X; not to B, which only points at X');
});

// covers: req-cancel-effect req-cancel-authority
t.test('cancel at a member waiting before compensation, and at one rolling back; malformed authority statements', async (t) => {
  const mk = (behaviour: 'silent' | 'compensate') => {
    const g: Graph = {
      execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1, ...(behaviour === 'compensate' ? { rev: { 1: 'compensable' as const } } : {}) }, { agent: 'C', exec: 'c', seqs: 1 }],
      deps: [
        { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
        { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
      ],
    };
    const sim = new Simulator({ seed: 5, behaviour: (a) => (a === 'B' ? behaviour : 'ok') });
    build(sim, g);
    sim.partitioned.add('C');
    fail(sim);
    sim.run({ until: sim.now + 50 });
    return sim;
  };
  const waiting = mk('compensate');
  const B = waiting.nodes.get('B')!;
  t.match(B.core.member(S1, 'b'), { state: 'waiting' });
  const auth = waiting.nodes.get('A')!.sign('rollback-cancellation+jwt', { v: 1, iss: 'A', iat: 0, set: S1 });
  const other = waiting.nodes.get('A')!.sign('rollback-cancellation+jwt', { v: 1, iss: 'A', iat: 1, set: S1 });
  const env = waiting.envelope('A', 'B', 'cancel', { set: S1, member: 'b', authority: auth });
  refused(t, B.core, { ...env, statements: undefined } as unknown as Input, 'statement_invalid', waiting.now);
  refused(t, B.core, { ...env, statements: [{ compact: other, payload: decodeCompact(other).payload }] } as unknown as Input, 'statement_invalid', waiting.now);
  const fx = B.core.handle(env, waiting.now);
  t.match(B.core.member(S1, 'b'), { state: 'reported', status: 'cancelled' }, 'waiting: cancelled');
  t.match(fx.filter((e) => e.type === 'fence'), [{ execution: 'b', until: null }], 'fence released');
  t.match(sends(fx, 'cancel'), [{ to: 'C', body: { member: 'c', authority: auth } }], 'cancel forwarded to the child');
  t.match(reportAcks(fx), [[{ status: 'cancelled' }]]);

  const rolling = mk('silent');
  const B2 = rolling.nodes.get('B')!.core;
  t.match(B2.member(S1, 'b'), { state: 'rolling_back' });
  const auth2 = rolling.nodes.get('A')!.sign('rollback-cancellation+jwt', { v: 1, iss: 'A', iat: 0, set: S1 });
  const fx2 = B2.handle(rolling.envelope('A', 'B', 'cancel', { set: S1, member: 'b', authority: auth2 }), rolling.now);
  t.match(B2.member(S1, 'b'), { state: 'rolling_back' }, 'rolling back: unchanged');
  t.notOk(fx2.some((e) => e.type === 'fence'), 'the fence stays');
  t.match(sends(fx2, 'cancel'), [{ to: 'C' }], 'the cancel still goes to the child');
});

// covers: req-statement-verify
t.test('outcome envelopes: the record statement must be present and be the one the envelope names', async (t) => {
  const sim = new Simulator({ seed: 2 });
  build(sim, { execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }], deps: [{ consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 }] });
  fail(sim);
  sim.run({ until: sim.now + 5 });
  sim.partitioned.add('B');
  sim.run({ until: sim.now + 6000 });
  const A = sim.nodes.get('A')!;
  const rec = A.records[0]!.compact;
  const B = sim.nodes.get('B')!.core;
  t.match(B.member(S1, 'b'), { state: 'expired' }, 'B reported, its lease ended, no outcome reached it');
  const env = sim.envelope('A', 'B', 'outcome', { set: S1, record: rec });
  refused(t, B, { ...env, statements: undefined } as unknown as Input, 'statement_invalid', sim.now);
  const other = A.sign('rollback-record+jwt', { ...decodeCompact(rec).payload, iat: 1 });
  refused(t, B, { ...env, statements: [{ compact: other, payload: decodeCompact(other).payload }] } as unknown as Input, 'statement_invalid', sim.now);
  t.ok(B.handle(env, sim.now).length > 0, 'the record itself is applied');
});

// covers: req-hard-overlap
t.test('overlap: a member collecting under S1 covers S2 whatever its own result was', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 2 }, { agent: 'D', exec: 'd', seqs: 1 }],
    deps: [
      { consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 2, producer: ['B', 'b'], pseq: 1 },
      { consumer: ['D', 'd'], cseq: 1, producer: ['C', 'c'], pseq: 1 },
    ],
  };
  const sim = new Simulator({ seed: 9, behaviour: (a) => (a === 'C' ? 'fail' : 'ok') });
  build(sim, g);
  sim.partitioned.add('D');
  fail(sim);
  sim.run({ until: sim.now + 100 });
  const C = sim.nodes.get('C')!;
  t.match(C.core.member(S1, 'c'), { state: 'collecting', status: 'failed' });
  const directives = C.directives.length;
  const fx = C.core.handle(sim.envelope('B', 'C', 'request', {
    set: { initiator: 'B', id: 's2' }, cause: { agent: 'B', execution: 'b', class: 'eval_failure', at: 0 }, member: 'c',
    producer: { execution: 'b', checkpoint: 'b-k1', seq: 1 }, hops: 4, budget: 1000,
  }), sim.now);
  t.match(reportAcks(fx), [[{ status: 'satisfied', by: S1 }]], 'collecting under S1: satisfied by S1');
  t.equal(C.directives.length, directives, 'nothing runs again');
});

// covers: req-satisfied req-report-content
t.test('a late final travels up to the primary parent only, not to a parent answered with satisfied', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'A', exec: 'a2', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 1 }],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a2'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
    ],
  };
  const sim = new Simulator({ seed: 6, policy: (a) => (a === 'C' ? 'held' : 'automatic') });
  build(sim, g);
  fail(sim);
  sim.run({ until: sim.now + 100 });
  const B = sim.nodes.get('B')!;
  t.match(B.core.member(S1, 'b'), { state: /^(reported|closed)$/, status: 'rolled_back' }, 'B reported with C held');
  const fx = B.core.handle(sim.envelope('A', 'B', 'request', request({ execution: 'a2', checkpoint: 'a2-k1', seq: 1 }, 'b')), sim.now);
  t.match(reportAcks(fx), [[{ status: 'satisfied', parent: { execution: 'a2' } }]], 'A/a2 answered at once');
  const before = sends(B.effects, 'report').length;
  sim.input('C', { type: 'decision', set: S1, execution: 'c', decision: 'confirm', by: 'op' });
  sim.run({ until: sim.now + 100 });
  const late = reportAcks(sends(B.effects, 'report').slice(before));
  t.ok(late.length > 0, 'C\'s final travels up');
  t.same(late.map((r) => `${r[0].parent.execution}:${r.slice(1).map((a) => a.status).join(',')}`), ['a:rolled_back'], 'to A/a, the primary parent, only');
});

// covers: req-followup
t.test('a follow-up about a member reaches the child whose subtree holds its answer satisfied by another set', async (t) => {
  const { sim, A, sign, fin, toA } = handFed(2);
  const now = sim.now;
  A.handle(sim.envelope('B', 'A', 'report', { set: S1, member: 'b', acks: [fin('B', 'b', toA), sign('X', 'x', { agent: 'B', execution: 'b' }, 2, { status: 'satisfied', by: { initiator: 'Q', id: 'q' } })], total: 1 }), now);
  const eOwn = fin('E', 'e', toA);
  A.handle(sim.envelope('E', 'A', 'report', { set: S1, member: 'e', acks: [eOwn] }), now);
  t.equal(A.records().length, 1, 'recorded');
  t.match(A.rollbackSet(S1)!.entries.find((e) => e.agent === 'X'), { status: 'satisfied' });
  // X's final with an earlier target reaches A through E: X's entry changes in a follow-up.
  const late = A.handle(sim.envelope('E', 'A', 'report', { set: S1, member: 'e', acks: [eOwn, fin('X', 'x', { agent: 'E', execution: 'e' }, 1)], total: 1 }), now);
  t.equal(A.records().length, 2, 'a follow-up');
  t.same((decodeCompact(A.records()[1]!.compact).payload as any).members.map((e: any) => `${e.agent}:${e.status}`), ['X:rolled_back']);
  t.same(sends(late, 'outcome').map((e) => e.to).sort(), ['B', 'E'], 'to E and to B, whose subtree holds X\'s answer to it');
});
