// Core tests for requirements no other test checks directly (traceability:
// scripts/requirements.ts). Each refusal also checks that nothing changed.
import t from 'tap';
import { Simulator, decodeCompact } from '../../src/core/index.js';
import type { Core, Effect, Input, SendEffect, SimOptions } from '../../src/core/index.js';
import { build, chain, dg, refused, type Graph } from './helpers.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Test = any;
const S1 = { initiator: 'A', id: 's1' };

function setup(g: Graph, o: SimOptions = {}): Simulator {
  const sim = new Simulator({ seed: 5, ...o });
  build(sim, g);
  return sim;
}

const fail = (sim: Simulator, agent: string, exec: string, seq: number, setId = 's1'): Effect[] =>
  sim.input(agent, { type: 'failure', execution: exec, checkpoint: { checkpoint: `${exec}-k${seq}`, seq }, class: 'eval_failure', setId });

const request = (sim: Simulator, from: string, to: string, member: string, producer: string, seq: number, extra: object = {}): Input =>
  sim.envelope(from, to, 'request', {
    set: S1, cause: { agent: 'A', execution: 'a', class: 'eval_failure', at: 0 }, member,
    producer: { execution: producer, checkpoint: `${producer}-k${seq}`, seq }, hops: 4, budget: 1000, ...extra,
  });

const sends = (fx: Effect[], kind?: string): SendEffect[] => fx.filter((e): e is SendEffect => e.type === 'send' && (kind === undefined || e.kind === kind));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const firstAck = (s: SendEffect): any => decodeCompact((s.body['acks'] as string[])[0]!).payload;

// covers: req-agent-id
t.test('agent identifiers are compared octet by octet, never normalised', async (t) => {
  const nfc = '\u00e9mile'; // é precomposed
  const nfd = 'e\u0301mile'; // e + combining acute
  const g: Graph = {
    execs: [{ agent: nfc, exec: 'a', seqs: 2 }, { agent: 'B', exec: 'b', seqs: 2 }],
    deps: [{ consumer: ['B', 'b'], cseq: 1, producer: [nfc, 'a'], pseq: 1 }],
  };
  const sim = setup(g);
  const B = sim.nodes.get('B')!.core;
  for (const other of [nfd, nfc.toUpperCase(), ` ${nfc}`, `${nfc}\u200b`]) {
    refused(t, B, request(sim, other, 'B', 'b', 'a', 1), 'no_dependency');
  }
  const fx = B.handle(request(sim, nfc, 'B', 'b', 'a', 1), 0);
  t.ok(fx.some((e) => e.type === 'fence'), 'the exact identifier is honoured');
  refused(t, B, { ...sim.envelope('A', 'b', 'dependency', {}) } as Input, 'audience_mismatch');
});

// covers: req-execution-id
t.test('an execution identifier cannot be reused for a different execution: its checkpoints never restart', async (t) => {
  const sim = setup(chain);
  const A = sim.nodes.get('A')!.core;
  t.same(A.handle({ type: 'execution', execution: 'a' }, 0), [], 'declaring it again is the same execution');
  refused(t, A, { type: 'checkpoint', execution: 'a', checkpoint: 'new-k1', seq: 1, digest: dg('new'), reversibility: 'reversible' }, 'checkpoint_conflict');
  refused(t, A, { type: 'checkpoint', execution: 'a', checkpoint: 'a-k1', seq: 1, digest: dg('new'), reversibility: 'reversible' }, 'checkpoint_conflict');
});

// covers: req-set-id
t.test('a set id is unique among the sets of its initiator', async (t) => {
  const g: Graph = { execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'A', exec: 'x', seqs: 2 }], deps: [] };
  const sim = setup(g);
  fail(sim, 'A', 'a', 1);
  const A = sim.nodes.get('A')!.core;
  refused(t, A, { type: 'failure', execution: 'x', checkpoint: { checkpoint: 'x-k1', seq: 1 }, class: 'eval_failure', setId: 's1' }, 'illegal_transition');
  t.match(fail(sim, 'A', 'x', 1, 's2'), [{ type: 'state', scope: 'set', state: 'open' }], 'a fresh id opens');
});

// covers: req-order-why
t.test('no final status before the member\'s own rollback result is known', async (t) => {
  const sim = setup(chain, { behaviour: (agent) => (agent === 'B' ? 'silent' : 'ok') });
  fail(sim, 'A', 'a', 1);
  sim.run({ until: sim.now + 2000 });
  const B = sim.nodes.get('B')!;
  t.equal(sim.nodes.get('C')!.core.member(S1, 'c')!.status, 'rolled_back', 'the dependent answered');
  const finals = sends(B.effects, 'report').map(firstAck).filter((a) => a.member === 'b' && a.status !== 'held');
  t.same(finals, [], 'B reported no final of its own while its agent is silent');
  t.equal(B.core.member(S1, 'b')!.status, undefined);
  sim.input('B', { type: 'result', set: S1, execution: 'b', status: 'restored', restored: { checkpoint: 'b-k2', digest: B.core.execution('b')!.get('b-k2')!.digest } });
  t.match(sends(B.effects, 'report').map(firstAck).filter((a) => a.member === 'b'), [{ status: 'rolled_back' }], 'the final follows the result');
});

// covers: req-compensation-once
t.test('at most one compensation per (set, member) and target, whatever is repeated', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'B', exec: 'b', seqs: 3, rev: { 2: 'compensable' } }],
    deps: [{ consumer: ['B', 'b'], cseq: 2, producer: ['A', 'a'], pseq: 1 }],
  };
  const sim = setup(g, { behaviour: (agent) => (agent === 'B' ? 'compensate' : 'ok') });
  fail(sim, 'A', 'a', 1);
  sim.run();
  const B = sim.nodes.get('B')!;
  t.same(B.directives.map((d) => d.action), ['compensate']);
  const req = request(sim, 'A', 'B', 'b', 'a', 1);
  for (let i = 0; i < 3; i++) B.core.handle({ ...req, payload: { ...(req as { payload: object }).payload, jti: `retransmit-${i}-000000000` } } as Input, sim.now);
  const auth = sim.nodes.get('A')!.sign('rollback-cancellation+jwt', { v: 1, iss: 'A', iat: 0, set: S1 });
  try { B.core.handle(sim.envelope('A', 'B', 'cancel', { set: S1, member: 'b', authority: auth }), sim.now); } catch { /* closed: refused */ }
  B.core.resume(sim.now).filter((e) => e.type === 'directive').forEach(() => t.fail('a closed member re-directs'));
  t.same(B.directives.map((d) => d.action), ['compensate'], 'one compensation');
});

// covers: req-deadline-relative req-hard-deadlines
t.test('deadlines are budgets from receipt, never derived from the sender\'s timestamps', async (t) => {
  const g: Graph = { execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'B', exec: 'b', seqs: 2 }], deps: [{ consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 }] };
  for (const [at, iat] of [[0, 0], [1e12, 9e9], [-5, 1]] as const) {
    const sim = setup(g, { behaviour: () => 'silent' });
    const B = sim.nodes.get('B')!.core;
    const now = 50_000;
    const req = request(sim, 'A', 'B', 'b', 'a', 1, { cause: { agent: 'A', execution: 'a', class: 'eval_failure', at: Math.max(0, at) }, budget: 1234 });
    const fx = B.handle({ ...req, payload: { ...(req as { payload: object }).payload, iat } } as Input, now);
    t.match(fx.filter((e) => e.type === 'timer' && e.id.startsWith('deadline|')), [{ at: now + 1234 }], `deadline = receipt + budget (iat ${iat})`);
    t.match(fx.filter((e) => e.type === 'fence'), [{ until: now + 1234 + 1000 }], 'lease = budget + grace');
  }
});

// covers: req-hop-margin
t.test('a forwarded request gets the remaining budget minus the hop margin', async (t) => {
  const sim = setup(chain, { config: { hopMarginMs: 300 } });
  const B = sim.nodes.get('B')!.core;
  const fx = B.handle(request(sim, 'A', 'B', 'b', 'a', 2, { budget: 4000 }), 10_000);
  const fwd = sends(fx, 'request');
  t.equal(fwd.length, 1);
  t.equal(fwd[0]!.body['budget'], 4000 - 300);
  t.equal(fwd[0]!.body['hops'], 3, 'hops decreased by one');
  t.ok((fwd[0]!.body['budget'] as number) < 4000, 'strictly smaller than the member\'s own');
});

// covers: req-held-earlier
t.test('a held member asked for an earlier target re-fences, re-forwards, answers held again and stays held', async (t) => {
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 3 }, { agent: 'B', exec: 'b', seqs: 3 }, { agent: 'C', exec: 'c', seqs: 3 }],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['B', 'b'], cseq: 3, producer: ['A', 'a'], pseq: 3 },
      { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
    ],
  };
  const sim = setup(g, { policy: (agent) => (agent === 'B' ? 'held' : 'automatic') });
  const B = sim.nodes.get('B')!.core;
  const first = B.handle(request(sim, 'A', 'B', 'b', 'a', 3), 0);
  t.match(B.member(S1, 'b'), { state: 'held', target: { seq: 3 } });
  t.match(sends(first, 'report').map(firstAck), [{ status: 'held', target: { seq: 3 } }]);
  t.same(sends(first, 'request'), [], 'c@1 is not tainted by b@3');
  const fx = B.handle(request(sim, 'A', 'B', 'b', 'a', 1), 10);
  t.ok(fx.some((e) => e.type === 'fence' && e.execution === 'b'), 're-fenced');
  t.match(sends(fx, 'request'), [{ to: 'C', body: { member: 'c' } }], 're-forwarded to the newly tainted dependent');
  t.match(sends(fx, 'report').map(firstAck), [{ status: 'held', target: { seq: 1 } }], 'a new interim held ack');
  t.match(B.member(S1, 'b'), { state: 'held', target: { seq: 1 } }, 'still held: the operator is not bypassed');
  t.same(fx.filter((e) => e.type === 'directive'), [], 'no rollback directive');
});

// covers: req-acks-async
t.test('a request is answered by a later report, not by holding the exchange', async (t) => {
  const sim = setup(chain, { behaviour: () => 'silent' });
  const B = sim.nodes.get('B')!.core;
  const fx = B.handle(request(sim, 'A', 'B', 'b', 'a', 2), 0);
  t.ok(fx.length > 0, 'handle returns at once with its effects');
  t.same(sends(fx, 'report'), [], 'no acknowledgement yet: it travels later in its own report envelope');
  t.match(B.member(S1, 'b'), { state: /rolling_back|collecting/ }, 'the member works on; the exchange is over');
});
