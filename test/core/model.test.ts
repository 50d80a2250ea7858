import t from 'tap';
import { Execution, Dependencies, memberTarget, taintedDependents, worse, aggregateEntries, aggregateOutcome, prefer } from '../../src/core/index.js';
import type { AckPayload } from '../../src/core/index.js';
import { dg } from './helpers.js';

// covers: req-checkpoint-seq req-checkpoint-immutable req-hard-immutable
t.test('checkpoints: immutable, idempotent, seq strictly increasing', async (t) => {
  const e = new Execution('x');
  t.equal(e.latest, undefined);
  const k1 = { id: 'k1', seq: 1, digest: dg(1), reversibility: 'reversible' as const, hints: [] };
  t.equal(e.check(k1), 'new');
  e.add(k1);
  t.equal(e.check(k1), 'same');
  t.throws(() => e.check({ ...k1, digest: dg(2) }), { code: 'checkpoint_conflict' });
  t.throws(() => e.check({ ...k1, seq: 5 }), { code: 'checkpoint_conflict' });
  t.throws(() => e.check({ ...k1, reversibility: 'compensable' }), { code: 'checkpoint_conflict' });
  t.throws(() => e.check({ ...k1, hints: [1] }), { code: 'checkpoint_conflict' });
  t.throws(() => e.check({ ...k1, id: 'k0', seq: 1 }), { code: 'checkpoint_conflict' }, 'seq not increasing');
  e.add({ id: 'k2', seq: 2, digest: dg(2), reversibility: 'compensable', hints: [{ a: 1 }] });
  e.add({ id: 'k3', seq: 5, digest: dg(3), reversibility: 'irreversible', hints: ['x'] });
  t.equal(e.latest?.id, 'k3');
  t.equal(e.size, 3);
  t.same(e.from(2).map((c) => c.id), ['k2', 'k3']);
  t.same(e.from(3).map((c) => c.id), ['k3']);
  t.same(e.undo(e.get('k1')!), { worst: 'irreversible', hints: [{ a: 1 }, 'x'] });
  t.same(e.undo(e.get('k3')!), { worst: 'irreversible', hints: ['x'] });
  t.ok(Object.isFrozen(e.get('k2')!.hints));
  t.equal(worse('reversible', 'compensable'), 'compensable');
  t.equal(worse('irreversible', 'compensable'), 'irreversible');
});

t.test('dependencies: both sides, idempotent, digest registry', async (t) => {
  const d = new Dependencies();
  const c = { consumer: 'c', consumerCheckpoint: 'c1', consumerSeq: 1, producerAgent: 'P', producerExecution: 'p', producerCheckpoint: 'p2', producerSeq: 2 };
  t.equal(d.addConsumption(c), true);
  t.equal(d.addConsumption({ ...c }), false);
  t.equal(d.consumptionsOf('c').length, 1);
  t.same(d.consumptionsOf('none'), []);
  const dep = { producerExecution: 'p', producerCheckpoint: 'p2', producerSeq: 2, consumerAgent: 'C', consumerExecution: 'c', consumerCheckpoint: 'c1', consumerSeq: 1, consumerDigest: dg(1) };
  d.checkDependent(dep);
  t.equal(d.addDependent(dep), true);
  t.equal(d.addDependent({ ...dep }), false);
  t.equal(d.digestOf('C', 'c', 'c1'), dg(1));
  t.throws(() => d.checkDependent({ ...dep, consumerDigest: dg(9) }), { code: 'checkpoint_conflict' });
  t.same(d.dependentsOf('q'), []);
});

// covers: req-taint req-hard-before
t.test('taint rule: target = lowest consumer seq among tainted; untainted do not authorise', async (t) => {
  const cs = [
    { consumer: 'c', consumerCheckpoint: 'c3', consumerSeq: 3, producerAgent: 'P', producerExecution: 'p', producerCheckpoint: 'p5', producerSeq: 5 },
    { consumer: 'c', consumerCheckpoint: 'c2', consumerSeq: 2, producerAgent: 'P', producerExecution: 'p', producerCheckpoint: 'p4', producerSeq: 4 },
    { consumer: 'c', consumerCheckpoint: 'c1', consumerSeq: 1, producerAgent: 'P', producerExecution: 'p', producerCheckpoint: 'p1', producerSeq: 1 },
    { consumer: 'c', consumerCheckpoint: 'c1', consumerSeq: 1, producerAgent: 'Q', producerExecution: 'p', producerCheckpoint: 'p9', producerSeq: 9 },
  ];
  t.equal(memberTarget(cs, 'P', 'p', 4)?.consumerSeq, 2);
  t.equal(memberTarget(cs, 'P', 'p', 5)?.consumerSeq, 3);
  t.equal(memberTarget(cs, 'P', 'p', 1)?.consumerSeq, 1);
  t.equal(memberTarget(cs, 'P', 'p', 6), undefined, 'taken before the target: not tainted');
  t.equal(memberTarget(cs, 'P', 'other', 1), undefined);
  const ds = [
    { producerExecution: 'p', producerCheckpoint: 'p1', producerSeq: 1, consumerAgent: 'A', consumerExecution: 'a', consumerCheckpoint: 'a1', consumerSeq: 1, consumerDigest: dg(1) },
    { producerExecution: 'p', producerCheckpoint: 'p3', producerSeq: 3, consumerAgent: 'B', consumerExecution: 'b', consumerCheckpoint: 'b1', consumerSeq: 1, consumerDigest: dg(1) },
    { producerExecution: 'p', producerCheckpoint: 'p4', producerSeq: 4, consumerAgent: 'B', consumerExecution: 'b', consumerCheckpoint: 'b2', consumerSeq: 2, consumerDigest: dg(2) },
  ];
  t.same(taintedDependents(ds, 2), [{ agent: 'B', execution: 'b' }], 'one per dependent execution');
  t.same(taintedDependents(ds, 1).length, 2);
  t.same(taintedDependents(ds, 5), []);
});

const ack = (o: Partial<AckPayload>): AckPayload => ({
  v: 1, iss: 'A', iat: 0, set: { initiator: 'R', id: 's' }, member: 'a', parent: { agent: 'R', execution: 'r' },
  status: 'rolled_back', target: { checkpoint: 'k2', seq: 2 }, ...o,
});

// covers: req-aggregation-entry req-aggregation-outcome
t.test('aggregation: preference and outcome', async (t) => {
  const set = { initiator: 'R', id: 's' };
  t.ok(prefer(set, ack({ status: 'held' }), ack({})), 'final over interim');
  t.notOk(prefer(set, ack({}), ack({ status: 'held' })));
  t.notOk(prefer(set, ack({ status: 'held' }), ack({ status: 'held' })));
  t.ok(prefer(set, ack({ status: 'satisfied', by: set }), ack({})), 'non-satisfied over satisfied by same set');
  t.notOk(prefer(set, ack({}), ack({ status: 'satisfied', by: set })));
  t.ok(prefer(set, ack({}), ack({ target: { checkpoint: 'k1', seq: 1 } })), 'earliest target');
  t.notOk(prefer(set, ack({}), ack({ status: 'failed' })), 'then first received');
  const entries = aggregateEntries(set, [
    { compact: 'x.1.s', payload: ack({ status: 'held', missing: [{ agent: 'C', execution: 'c', reason: 'unresponsive' }] }) },
    { compact: 'x.2.s', payload: ack({}) },
    { compact: 'x.3.s', payload: ack({ iss: 'R', member: 'r' }) },
  ], { agent: 'R', execution: 'r', missing: [] });
  t.same(entries, [
    { agent: 'A', execution: 'a', status: 'rolled_back', ack: 'x.2.s' },
    { agent: 'C', execution: 'c', status: 'unresponsive', reported_by: 'A' },
  ]);
  t.equal(aggregateOutcome([{ status: 'rolled_back' }], true), 'cancelled');
  t.equal(aggregateOutcome([{ status: 'rolled_back' }, { status: 'failed' }, { status: 'held' }], false), 'failed');
  for (const s of ['compensation_required', 'declined', 'held', 'unresponsive', 'escalated'] as const) {
    t.equal(aggregateOutcome([{ status: 'rolled_back' }, { status: s }], false), 'partial', s);
  }
  t.equal(aggregateOutcome([{ status: 'rolled_back' }, { status: 'compensated' }, { status: 'satisfied' }], false), 'complete');
});
