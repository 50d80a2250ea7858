// The core's transition tables against the draft's (State Machines), edge by
// edge; and aggregation edges found by mutation testing
// (interop-tests/report/mutation.md).
import t from 'tap';
import { readFileSync } from 'node:fs';
import {
  memberStates, memberEvents, memberNext, setStates, setEvents, setNext, memberTransition, setTransition,
} from '../../src/core/index.js';
import { memberTarget } from '../../src/core/taint.js';
import { aggregateEntries, prefer, sameSet } from '../../src/core/rollback-set.js';
import type { AckPayload, MissingEntry, Statement } from '../../src/core/types.js';

const xml = readFileSync(new URL('../../draft/draft-marp-agent-rollback-00.xml', import.meta.url), 'utf8');

function rows(anchor: string): [string[], string[], string[]][] {
  const i = xml.indexOf(`<table anchor="${anchor}"`);
  const body = xml.slice(i, xml.indexOf('</table>', i));
  const list = (s: string): string[] => s.split(/,\s*|\s+or\s+/).map((x) => x.trim()).filter(Boolean);
  return [...body.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].slice(1).map((r) => {
    const c = [...r[1]!.matchAll(/<td>([\s\S]*?)<\/td>/g)].map((x) => x[1]!.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim());
    return [list(c[0]!), list(c[1]!), list(c[2]!)];
  });
}

/** Draft events -> core events; "request, covered by set S1" is the core's `covered`. */
const MEMBER_EVENT: Record<string, string[]> = {
  request: ['request'], 'covered by set S1': ['covered'], 'request-earlier': ['earlier_target'], confirm: ['confirm'],
  decline: ['decline'], cancel: ['cancel'], 'dep-ack': ['child_final'], 'deps-final': ['child_final', 'dependents_final'],
  deadline: ['deadline'], 'agent-result': ['result'], 'lease-end': ['lease_end'], outcome: ['outcome'],
  // handled before the table: a repeated request re-sends the current answer, another parent gets "satisfied"
  'request-repeat': [], 'request-other': [],
};

// covers: req-illegal-transition
t.test('member transitions equal the draft\'s table (tab-member-transitions)', async (t) => {
  const want = new Map<string, Set<string>>();
  for (const [states, events, nexts] of rows('tab-member-transitions')) {
    let from = states;
    if (from[0] === '(none)') from = ['new'];
    if (from[0] === 'any but (none)') from = memberStates.filter((s) => s !== 'new');
    let evs = events;
    if (evs[0] === 'request' && evs[1] === 'covered by set S1') evs = ['covered by set S1'];
    for (const s of from) {
      for (const e of evs) {
        const core = MEMBER_EVENT[e];
        t.ok(core, `draft event ${e} is mapped`);
        for (const ce of core ?? []) {
          // dependents_final exists only where the core separates it from a single child's final.
          if (ce === 'dependents_final' && s !== 'waiting') continue;
          const k = `${s} x ${ce}`;
          const set = want.get(k) ?? new Set<string>();
          for (const n of nexts) set.add(n === 'unchanged' ? s : n);
          want.set(k, set);
        }
      }
    }
  }
  // req-held-earlier: a held member asked for an earlier target stays held (narrower than the generic row).
  t.same(memberNext('held', 'earlier_target'), ['held']);
  want.set('held x earlier_target', new Set(['held']));
  for (const s of memberStates) {
    for (const e of memberEvents) {
      const k = `${s} x ${e}`;
      t.same([...memberNext(s, e)].sort(), [...(want.get(k) ?? [])].sort(), k);
    }
  }
});

t.test('set transitions equal the draft\'s table (tab-set-transitions)', async (t) => {
  const EV: Record<string, string[]> = {
    'failure-automatic': ['failure'], 'failure-held': ['failure'], 'failure-absorbed': [], confirm: ['confirm'], decline: ['decline'],
    'member-final': ['member_final'], 'all-final': ['all_final'], deadline: ['deadline'], cancel: ['cancel'], 'late-final': ['late_final'],
  };
  const want = new Map<string, Set<string>>();
  for (const [states, events, nexts] of rows('tab-set-transitions')) {
    for (const s of states.map((x) => (x === '(none)' ? 'new' : x))) {
      for (const e of events) {
        t.ok(EV[e], `draft event ${e} is mapped`);
        for (const ce of EV[e] ?? []) {
          const set = want.get(`${s} x ${ce}`) ?? new Set<string>();
          for (const n of nexts) set.add(n === 'unchanged' ? s : n);
          want.set(`${s} x ${ce}`, set);
        }
      }
    }
  }
  for (const s of setStates) {
    for (const e of setEvents) {
      const k = `${s} x ${e}`;
      t.same([...setNext(s, e)].sort(), [...(want.get(k) ?? [])].sort(), k);
    }
  }
});

t.test('illegal transitions name the event, the state and the refused next state', async (t) => {
  t.throws(() => memberTransition('closed', 'cancel'), { code: 'illegal_transition', message: 'member: cancel in closed' });
  t.throws(() => memberTransition('held', 'confirm', 'closed'), { message: 'member: confirm in held -> closed' });
  t.throws(() => setTransition('recorded', 'cancel'), { code: 'illegal_transition', message: 'set: cancel in recorded' });
  t.throws(() => setTransition('open', 'cancel', 'recorded'), { message: 'set: cancel in open -> recorded' });
});

t.test('sameSet compares initiator and id, and nothing is the same as undefined', async (t) => {
  const a = { initiator: 'A', id: 's' };
  t.equal(sameSet(a, { ...a }), true);
  t.equal(sameSet(a, { initiator: 'B', id: 's' }), false);
  t.equal(sameSet(a, { initiator: 'A', id: 't' }), false);
  t.equal(sameSet(a, undefined), false);
  t.equal(sameSet(undefined, a), false);
  t.equal(sameSet(undefined, undefined), false);
});

t.test('target: the lowest consumer seq among tainted consumptions, first one on a tie', async (t) => {
  const c = (consumerSeq: number, producerSeq: number, consumerCheckpoint = `k${consumerSeq}`) => ({
    consumer: 'b', consumerCheckpoint, consumerSeq, producerAgent: 'A', producerExecution: 'a', producerCheckpoint: `p${producerSeq}`, producerSeq,
  });
  const first = c(2, 3, 'first');
  const second = c(2, 4, 'second');
  t.equal(memberTarget([first, second], 'A', 'a', 3), first, 'equal consumer seq: the first stays');
  t.equal(memberTarget([c(5, 3), c(2, 4)], 'A', 'a', 3)!.consumerSeq, 2);
  t.equal(memberTarget([c(5, 2)], 'A', 'a', 3), undefined);
});

// covers: req-aggregation-entry
t.test('aggregation: preference between two acknowledgements of one member (prefer(set, old, new))', async (t) => {
  const set = { initiator: 'A', id: 's1' };
  const ack = (status: string, seq = 1, o: object = {}) => ({
    v: 1, iss: 'B', iat: 0, set, member: 'b', parent: { agent: 'A', execution: 'a' }, status, target: { checkpoint: `k${seq}`, seq }, ...o,
  }) as never;
  const rolled = (seq = 1) => ack('rolled_back', seq, { restored: { checkpoint: `k${seq}`, seq, digest: 'sha-256:0' } });
  const satThis = ack('satisfied', 1, { by: set });
  const satOther = ack('satisfied', 1, { by: { initiator: 'C', id: 'x' } });
  t.equal(prefer(set, ack('held'), rolled()), true, 'a final over held');
  t.equal(prefer(set, rolled(), ack('held')), false);
  t.equal(prefer(set, ack('held', 2), ack('held', 1)), false, 'two interim acks: the first stays');
  t.equal(prefer(set, satThis, rolled()), true, 'another final over satisfied by this set');
  t.equal(prefer(set, rolled(), satThis), false);
  t.equal(prefer(set, satThis, satOther), true, 'satisfied by another set is a real answer');
  t.equal(prefer(set, satOther, satThis), false);
  t.equal(prefer(set, rolled(2), rolled(1)), true, 'the earliest target');
  t.equal(prefer(set, rolled(1), rolled(2)), false);
  t.equal(prefer(set, rolled(1), rolled(1)), false, 'a tie keeps the first');
});

// covers: req-aggregation-entry req-member-entry
t.test('aggregation: entries from acks and from missing lists', async (t) => {
  const set = { initiator: 'A', id: 's1' };
  const st = (iss: string, member: string, status: string, missing?: object[]) => ({
    compact: `${iss}.${member}.${status}`,
    payload: { v: 1, iss, iat: 0, set, member, parent: { agent: 'A', execution: 'a' }, status, target: { checkpoint: 'k', seq: 1 }, ...(missing ? { missing } : {}) },
  }) as never;
  const miss = (agent: string, execution: string, reason: string) => ({ agent, execution, reason });
  const entries = aggregateEntries(set, [
    st('A', 'a', 'rolled_back', [miss('D', 'd', 'unresponsive'), miss('C', 'c', 'unresponsive')]),
    st('B', 'b', 'rolled_back', [miss('D', 'd', 'escalated')]),
    st('C', 'c', 'rolled_back'),
  ], { agent: 'A', execution: 'a', missing: [] });
  t.same(entries, [
    { agent: 'B', execution: 'b', status: 'rolled_back', ack: 'B.b.rolled_back' },
    { agent: 'C', execution: 'c', status: 'rolled_back', ack: 'C.c.rolled_back' },
    { agent: 'D', execution: 'd', status: 'unresponsive', reported_by: 'A' },
  ], 'own ack over a missing entry; the first missing report wins; the excluded member is left out');
});

// covers: req-aggregation-entry
t.test('aggregation: an unanswered request outweighs an ack to another parent; satisfied by this set is only a pointer', async (t) => {
  const set = { initiator: 'A', id: 's1' };
  const st = (iss: string, member: string, status: string, parent: string, o: object = {}): Statement<AckPayload> => ({
    compact: `${iss}.${member}.${status}.${parent}`,
    payload: { v: 1, iss, iat: 0, set, member, parent: { agent: parent, execution: parent.toLowerCase() }, status, target: { checkpoint: 'k', seq: 3 }, ...o } as AckPayload,
  });
  const miss = (agent: string): MissingEntry => ({ agent, execution: agent.toLowerCase(), reason: 'unresponsive' });
  const root = { agent: 'A', execution: 'a', missing: [] as MissingEntry[] };
  // Diamond A -> B, C -> D: D answered B, but C's (possibly earlier-target) request to D went unanswered.
  const b = st('B', 'b', 'rolled_back', 'A');
  const c = st('C', 'c', 'rolled_back', 'A', { missing: [miss('D')] });
  const dB = st('D', 'd', 'rolled_back', 'B');
  t.same(aggregateEntries(set, [b, c, dB], root).map((e) => [e.agent, e.status, e.reported_by]), [
    ['B', 'rolled_back', undefined], ['C', 'rolled_back', undefined], ['D', 'unresponsive', 'C'],
  ], 'the parent whose request was not answered names the entry');
  const dC = st('D', 'd', 'rolled_back', 'C', { target: { checkpoint: 'k1', seq: 1 } });
  t.same(aggregateEntries(set, [b, c, dB, dC], root).find((e) => e.agent === 'D'), { agent: 'D', execution: 'd', status: 'rolled_back', ack: dC.compact },
    'once that parent holds a final ack, the earliest target wins');
  // D's real answer went to C, which never reported; B only holds D's pointer "satisfied by this set".
  const sat = st('D', 'd', 'satisfied', 'B', { by: set });
  t.same(aggregateEntries(set, [b, sat], { ...root, missing: [miss('C')] }).map((e) => [e.agent, e.status, e.reported_by]), [
    ['B', 'rolled_back', undefined], ['D', 'unresponsive', 'A'], ['C', 'unresponsive', 'A'],
  ], 'a member known only as satisfied by this set is unresponsive as the initiator observed it');
  // A cycle back to the initiator whose request was lost: the initiator's own entry is the gap.
  t.same(aggregateEntries(set, [b, st('B', 'b', 'rolled_back', 'A', { missing: [miss('A')] })], root).find((e) => e.agent === 'A'),
    { agent: 'A', execution: 'a', status: 'unresponsive', reported_by: 'B' }, 'the initiator is named only as a gap');
  t.notOk(aggregateEntries(set, [b, st('A', 'a', 'satisfied', 'B', { by: set })], root).some((e) => e.agent === 'A'), 'otherwise its entry is its own');
  // D rolled back to k3 for B, then C asked for k1: D answered C with a pointer naming k1, and its new final to B was lost.
  const ptr = st('D', 'd', 'satisfied', 'C', { by: set, target: { checkpoint: 'k1', seq: 1 } });
  t.same(aggregateEntries(set, [b, c, dB, ptr].map((x) => x === c ? st('C', 'c', 'rolled_back', 'A') : x), root).find((e) => e.agent === 'D'),
    { agent: 'D', execution: 'd', status: 'unresponsive', reported_by: 'A' }, 'a pointer naming an earlier target than the final ack: the answer for it is missing');
});

// covers: req-parent-digest
t.test('reports: an escalated (never asked) child is refused; a compensated ack with a wrong digest too', async (t) => {
  const { Simulator } = await import('../../src/core/index.js');
  const { build, dg } = await import('./helpers.js');
  const S1 = { initiator: 'A', id: 's1' };
  const g = {
    execs: [{ agent: 'A', exec: 'a', seqs: 2 }, { agent: 'B', exec: 'b', seqs: 2 }, { agent: 'C', exec: 'c', seqs: 2 }, { agent: 'D', exec: 'd', seqs: 2 }],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
      { consumer: ['D', 'd'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
    ],
  } as Parameters<typeof build>[1];
  const sim = new Simulator({ seed: 3, config: { maxHops: 1 }, behaviour: (a) => (a === 'B' ? 'silent' : 'ok') });
  build(sim, g);
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 's1' });
  sim.run({ until: sim.now + 30 });
  const B = sim.nodes.get('B')!.core;
  t.same(B.member(S1, 'b')!.escalated.map((x: { agent: string }) => x.agent).sort(), ['C', 'D'], 'C and D escalated, never asked');
  const cAck = sim.nodes.get('C')!.sign('rollback-ack+jwt', {
    v: 1, iss: 'C', iat: 0, set: S1, member: 'c', parent: { agent: 'B', execution: 'b' }, status: 'rolled_back',
    target: { checkpoint: 'c-k1', seq: 1 }, restored: { checkpoint: 'c-k1', seq: 1, digest: sim.nodes.get('C')!.core.execution('c')!.get('c-k1')!.digest },
  });
  const before = B.snapshot();
  t.throws(() => B.handle(sim.envelope('C', 'B', 'report', { set: S1, member: 'c', acks: [cAck] }), sim.now), { code: 'no_dependency' });
  t.equal(B.snapshot(), before, 'unchanged');
  // A (the parent of b) checks the digest of a compensated ack as well.
  const A = sim.nodes.get('A')!.core;
  const bAck = (digest: string, status = 'compensated') => sim.nodes.get('B')!.sign('rollback-ack+jwt', {
    v: 1, iss: 'B', iat: 0, set: S1, member: 'b', parent: { agent: 'A', execution: 'a' }, status,
    target: { checkpoint: 'b-k1', seq: 1 }, restored: { checkpoint: 'b-k1', seq: 1, digest },
  });
  const beforeA = A.snapshot();
  t.throws(() => A.handle(sim.envelope('B', 'A', 'report', { set: S1, member: 'b', acks: [bAck(dg('lie'))] }), sim.now), { code: 'digest_mismatch' });
  // So is any ack that names a restored state, compensation_required included.
  t.throws(() => A.handle(sim.envelope('B', 'A', 'report', { set: S1, member: 'b', acks: [bAck(dg('lie'), 'compensation_required')] }), sim.now), { code: 'digest_mismatch' });
  t.equal(A.snapshot(), beforeA, 'unchanged');
  t.ok(A.handle(sim.envelope('B', 'A', 'report', { set: S1, member: 'b', acks: [bAck(B.execution('b')!.get('b-k1')!.digest)] }), sim.now).length > 0, 'the true digest is accepted');
});

// covers: req-hard-overlap
t.test('overlap: which states and final statuses under S1 cover a request of S2', async (t) => {
  const { Simulator, decodeCompact } = await import('../../src/core/index.js');
  const { build } = await import('./helpers.js');
  type B = 'ok' | 'compensate' | 'required' | 'fail' | 'silent';
  const cases: { name: string; behaviour: B; rev?: 'compensable'; dependent?: boolean; covered: boolean }[] = [
    { name: 'rolling back', behaviour: 'silent', covered: true },
    { name: 'collecting', behaviour: 'ok', dependent: true, covered: true },
    { name: 'waiting (compensable work, dependents outstanding)', behaviour: 'compensate', rev: 'compensable', dependent: true, covered: true },
    { name: 'final rolled_back', behaviour: 'ok', covered: true },
    { name: 'final compensated', behaviour: 'compensate', rev: 'compensable', covered: true },
    { name: 'final compensation_required', behaviour: 'required', covered: true },
    { name: 'final failed', behaviour: 'fail', covered: false },
  ];
  for (const c of cases) {
    const g = {
      execs: [
        { agent: 'A', exec: 'a', seqs: 2 }, { agent: 'B', exec: 'b', seqs: 2 },
        { agent: 'C', exec: 'c', seqs: 3, ...(c.rev ? { rev: { 1: c.rev, 2: c.rev } } : {}) }, { agent: 'D', exec: 'd', seqs: 2 },
      ],
      deps: [
        { consumer: ['C', 'c'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
        { consumer: ['C', 'c'], cseq: 2, producer: ['B', 'b'], pseq: 1 },
        ...(c.dependent ? [{ consumer: ['D', 'd'], cseq: 1, producer: ['C', 'c'], pseq: 1 }] : []),
      ],
    } as Parameters<typeof build>[1];
    const sim = new Simulator({ seed: 9, behaviour: (agent) => (agent === 'C' ? c.behaviour : 'ok') });
    build(sim, g);
    if (c.dependent) sim.partitioned.add('D');
    sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 's1' });
    sim.run({ until: sim.now + 100 });
    const C = sim.nodes.get('C')!.core;
    const s1 = C.member({ initiator: 'A', id: 's1' }, 'c')!;
    const directives = sim.nodes.get('C')!.directives.length;
    const fx = C.handle(sim.envelope('B', 'C', 'request', {
      set: { initiator: 'B', id: 's2' }, cause: { agent: 'B', execution: 'b', class: 'eval_failure', at: 0 }, member: 'c',
      producer: { execution: 'b', checkpoint: 'b-k1', seq: 1 }, hops: 4, budget: 1000,
    }), sim.now);
    const acks = fx.filter((e) => e.type === 'send' && e.kind === 'report')
      .map((e) => decodeCompact(((e as unknown as { body: { acks: string[] } }).body.acks)[0]!).payload as { status: string; by?: object });
    if (c.covered) {
      t.match(acks, [{ status: 'satisfied', by: { initiator: 'A', id: 's1' } }], `${c.name} (${s1.state}/${s1.status ?? '-'}): satisfied by S1`);
      t.equal(sim.nodes.get('C')!.directives.length, directives, `${c.name}: nothing runs again`);
    } else {
      t.notOk(acks.some((a) => a.status === 'satisfied'), `${c.name}: not covered, S2 rolls back again`);
    }
  }
});

// covers: req-target-rule req-deadline-relative
t.test('an earlier target after the member reported: a new deadline, lease and hop count from the new request', async (t) => {
  const { Simulator } = await import('../../src/core/index.js');
  const { build } = await import('./helpers.js');
  const g = {
    execs: [{ agent: 'A', exec: 'a', seqs: 3 }, { agent: 'B', exec: 'b', seqs: 3 }, { agent: 'C', exec: 'c', seqs: 2 }],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['B', 'b'], cseq: 3, producer: ['A', 'a'], pseq: 3 },
      { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
    ],
  } as Parameters<typeof build>[1];
  const sim = new Simulator({ seed: 4, config: { hopMarginMs: 10, leaseGraceMs: 1000 } });
  build(sim, g);
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k3', seq: 3 }, class: 'eval_failure', setId: 's1' });
  sim.run();
  const S1 = { initiator: 'A', id: 's1' };
  const B = sim.nodes.get('B')!.core;
  t.match(B.member(S1, 'b'), { state: 'closed', target: { seq: 3 } });
  const now = sim.now + 5000;
  const fx = B.handle(sim.envelope('A', 'B', 'request', {
    set: S1, cause: { agent: 'A', execution: 'a', class: 'eval_failure', at: 0 }, member: 'b',
    producer: { execution: 'a', checkpoint: 'a-k1', seq: 1 }, hops: 2, budget: 777,
  }), now);
  t.match(B.member(S1, 'b'), { target: { seq: 1 } });
  t.match(fx.filter((e) => e.type === 'fence'), [{ execution: 'b', until: now + 777 + 1000 }], 'lease from the new budget');
  t.match(fx.filter((e) => e.type === 'timer' && e.id.startsWith('deadline|')), [{ at: now + 777 }], 'deadline from the new budget');
  t.match(fx.filter((e) => e.type === 'send' && e.kind === 'request'), [{ to: 'C', body: { hops: 1, budget: 777 - 10 } }], 'hops from the new request');
});
