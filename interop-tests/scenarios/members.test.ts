/**
 * Member behaviours on one four-node mesh: irreversible work, a rollback
 * that fails, an agent that never answers, a node that never answers, held
 * members confirmed and declined, and an agent that lies about the
 * restored digest.
 */
import t from 'tap';
import { Mesh, scenario, build, fail, waitRecord, waitFollowups, key, sleep, recordsOf } from '../harness/index.js';

let mesh: Mesh | undefined;
const m = (): Mesh => mesh!;
const DEADLINE = 3000;

t.before(async () => {
  mesh = await Mesh.start({
    name: 'members', nodes: ['A', 'B', 'C', 'D'],
    limits: { deadline_ms: DEADLINE, hop_margin_ms: 300 },
    policy: { B: { default: 'automatic', executions: { 'hc-b': 'held', 'hd-b': 'held' } } },
  });
});
t.teardown(() => mesh?.stop());

t.test('members', async (t) => {
  await scenario(t, import.meta.url, m, {
    id: 'irreversible', title: 'member with irreversible work: compensation_required, hints verbatim',
    sections: ['req-irreversible', 'req-hints-verbatim', 'msg-ack', 'req-member-entry', 'req-aggregation-outcome', 'vocab-member-status'],
  }, async (t) => {
    const hints = [{ action: 'email sent', to: 'ops@example.com', ticket: 'OPS-7', nested: { n: 1, list: [true, null, 'x'] } }, 'call the bank'];
    const g = await build(m(), [{ node: 'A', id: 'ir-a' }, { node: 'B', id: 'ir-b', reversibility: 'irreversible', hints }], [['ir-a', 'ir-b']]);
    const r = await waitRecord(m(), await fail(m(), g, 'ir-a'));
    t.equal(r.status[key(g, 'ir-b')], 'compensation_required', 'not better than compensation_required');
    t.same(r.acks[key(g, 'ir-b')]?.['hints'], hints, 'the ack in the record carries the hints verbatim');
    t.equal(r.payload['outcome'], 'partial', 'outcome partial');
    t.same(m().verifyRecord(r.compact).problems, []);
  });

  await scenario(t, import.meta.url, m, {
    id: 'rollback-fails', title: 'member whose rollback fails',
    sections: ['req-order-forward', 'req-order-report', 'req-aggregation-outcome', 'vocab-member-status', 'vocab-set-outcomes'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'rf-a' }, { node: 'B', id: 'rf-b', behaviour: 'fail' }, { node: 'C', id: 'rf-c' }], [['rf-a', 'rf-b'], ['rf-b', 'rf-c']]);
    const r = await waitRecord(m(), await fail(m(), g, 'rf-a'));
    t.equal(r.status[key(g, 'rf-b')], 'failed', 'B failed');
    t.equal(r.status[key(g, 'rf-c')], 'rolled_back', 'B forwarded before rolling back: C still rolled back');
    t.equal(r.payload['outcome'], 'failed', 'outcome failed');
  });

  await scenario(t, import.meta.url, m, {
    id: 'agent-silent', title: 'member whose agent never answers: failed at its deadline',
    sections: ['req-order-report', 'proc-deadlines', 'req-deadline-relative', 'req-record-when'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'as-a' }, { node: 'B', id: 'as-b', behaviour: 'silent' }], [['as-a', 'as-b']]);
    const t0 = Date.now();
    const r = await waitRecord(m(), await fail(m(), g, 'as-a'), DEADLINE + 5000);
    t.equal(r.status[key(g, 'as-b')], 'failed', 'no result by the deadline: failed');
    t.equal(r.payload['outcome'], 'failed');
    t.ok(Date.now() - t0 < DEADLINE + 3000, 'recorded by the initiator\'s deadline (plus slack)');
  });

  await scenario(t, import.meta.url, m, {
    id: 'node-silent', title: 'member node that never answers: unresponsive at the deadline',
    sections: ['req-order-report', 'req-record-when', 'req-member-entry', 'vocab-member-status', 'req-aggregation-outcome', 'req-retransmit'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'ns-a' }, { node: 'C', id: 'ns-c' }], [['ns-a', 'ns-c']]);
    m().relay('A', 'C').inject({ type: 'drop', match: { kind: 'request' } });
    const r = await waitRecord(m(), await fail(m(), g, 'ns-a'), DEADLINE + 5000);
    t.equal(r.status[key(g, 'ns-c')], 'unresponsive', 'C listed as unresponsive');
    const entry = r.payload['members'].find((x: { execution: string }) => x.execution === 'ns-c');
    t.notOk(entry?.ack, 'no ack for an unresponsive member');
    t.equal(entry?.reported_by, 'A', 'reported_by names the initiator, which observed the absence');
    t.equal(r.payload['outcome'], 'partial');
    t.ok(m().relay('A', 'C').seen('request').filter((x) => x.dropped).length >= 2, 'the initiator kept re-sending the request');
    t.equal(m().agent('C').directivesFor('ns-c').length, 0, 'C never acted');
  });

  await scenario(t, import.meta.url, m, {
    id: 'held-confirmed', title: 'held member, confirmed by its operator: follow-up record',
    sections: ['proc-held', 'req-held-interim', 'hard-held', 'req-hard-held', 'req-held-late', 'req-followup', 'proc-record', 'req-aggregation-entry'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'hc-a' }, { node: 'B', id: 'hc-b' }], [['hc-a', 'hc-b']]);
    const set = await fail(m(), g, 'hc-a');
    const r = await waitRecord(m(), set);
    t.equal(r.status[key(g, 'hc-b')], 'held', 'recorded as held');
    t.match(r.acks[key(g, 'hc-b')], { status: 'held', policy: { mode: 'held' } }, 'interim held ack');
    t.equal(r.payload['outcome'], 'partial');
    t.equal(m().agent('B').directivesFor('hc-b').length, 0, 'no rollback before the operator decides');
    await m().agent('B').decide(set, 'hc-b', 'confirm');
    const [f] = await waitFollowups(m(), set);
    t.equal(f!.payload['refers'] !== undefined, true);
    t.equal(f!.status[key(g, 'hc-b')], 'rolled_back', 'follow-up: B rolled back');
    t.match(f!.acks[key(g, 'hc-b')]?.['policy'], { mode: 'held', decision: 'confirmed' }, 'policy records the decision');
    t.equal(f!.payload['outcome'], 'complete', 'aggregate outcome now complete');
    t.same(m().verifyRecord(f!.compact).problems, []);
    t.same(m().agent('B').state('hc-b'), ['hc-b:in']);
  });

  await scenario(t, import.meta.url, m, {
    id: 'held-declined', title: 'held member, declined by its operator',
    sections: ['proc-held', 'req-held-interim', 'req-held-late', 'req-followup', 'vocab-member-status'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'hd-a' }, { node: 'B', id: 'hd-b' }], [['hd-a', 'hd-b']]);
    const set = await fail(m(), g, 'hd-a');
    const r = await waitRecord(m(), set);
    t.equal(r.status[key(g, 'hd-b')], 'held');
    await m().agent('B').decide(set, 'hd-b', 'decline');
    const [f] = await waitFollowups(m(), set);
    t.equal(f!.status[key(g, 'hd-b')], 'declined', 'follow-up: B declined');
    t.match(f!.acks[key(g, 'hd-b')]?.['policy'], { mode: 'held', decision: 'declined' });
    t.equal(f!.payload['outcome'], 'partial');
    t.equal(m().agent('B').directivesFor('hd-b').length, 0, 'never directed');
    t.same(m().agent('B').state('hd-b'), ['hd-b:in', 'hd-b:out'], 'state untouched');
    await sleep(300);
    t.equal((await recordsOf(m(), set)).length, 2, 'one record, one follow-up');
  });

  await scenario(t, import.meta.url, m, {
    id: 'digest-lie', title: 'agent lies about the restored digest: failed, digest_mismatch',
    sections: ['proc-restored-digest', 'req-restored-digest', 'hard-digest', 'req-hard-digest'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'dl-a' }, { node: 'D', id: 'dl-d', behaviour: 'lie' }], [['dl-a', 'dl-d']]);
    const r = await waitRecord(m(), await fail(m(), g, 'dl-a'));
    t.equal(r.status[key(g, 'dl-d')], 'failed', 'never rolled_back');
    t.equal(r.acks[key(g, 'dl-d')]?.['reason'], 'digest_mismatch', 'reason digest_mismatch');
    t.equal(r.payload['outcome'], 'failed');
  });
});
