/**
 * Network faults through the relays on one four-node mesh (HTTP binding):
 * a retransmitted request, loss/duplication/reordering, a rewritten
 * payload, and partitions that heal before the deadline or do not.
 */
import t from 'tap';
import { Mesh, scenario, build, fail, waitRecord, key, sleep, until, recordsOf, decodeCompact } from '../harness/index.js';

let mesh: Mesh | undefined;
const m = (): Mesh => mesh!;
const DEADLINE = 4000;

t.before(async () => {
  mesh = await Mesh.start({ name: 'faults', nodes: ['A', 'B', 'C', 'D'], limits: { deadline_ms: DEADLINE, hop_margin_ms: 300 } });
});
t.teardown(() => mesh?.stop());

const ofSet = (set: { id: string }) => (x: { payload?: Record<string, any> }): boolean => x.payload?.['set']?.id === set.id;

t.test('faults', async (t) => {
  await scenario(t, import.meta.url, m, {
    id: 'retransmitted-request', title: 'retransmitted request (same body, fresh jti) answered with the earlier result',
    sections: ['proc-retransmission', 'req-retransmit', 'req-idempotent', 'req-compensation-once', 'req-target-rule', 'tab-member-transitions'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'rt-a' }, { node: 'B', id: 'rt-b' }], [['rt-a', 'rt-b']]);
    m().relay('A', 'B').inject({ type: 'duplicate', mode: 'fresh', afterMs: 700, count: 1, match: { kind: 'request' } });
    const set = await fail(m(), g, 'rt-a');
    const r = await waitRecord(m(), set);
    t.equal(r.status[key(g, 'rt-b')], 'rolled_back');
    const dup = await m().relay('A', 'B').waitFor((x) => x.copy === 'duplicate' && ofSet(set)(x), 5000);
    t.equal(dup.status, 202, 'the retransmission (fresh jti) is accepted, not refused as a replay');
    // The member answers with its current ack in a fresh report.
    const again = await m().relay('B', 'A').waitFor((x) => x.kind === 'report' && ofSet(set)(x) && x.at >= dup.at - 50, 5000);
    const ack = decodeCompact(again.payload!['acks'][0]).payload;
    t.match(ack, { member: 'rt-b', status: 'rolled_back' }, 'the repeated request is answered with the earlier result');
    await sleep(500);
    t.equal(m().agent('B').directivesFor('rt-b').length, 1, 'no action ran twice');
    t.equal((await recordsOf(m(), set)).length, 1, 'the record is not rewritten, no follow-up');
  });

  await scenario(t, import.meta.url, m, {
    id: 'loss-dup-reorder', title: 'message loss, duplication and reordering on a chain A -> B -> C',
    sections: ['proc-retransmission', 'req-retransmit', 'req-idempotent', 'req-envelope-replay', 'binding-http', 'req-http', 'req-acks-async'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'ld-a' }, { node: 'B', id: 'ld-b' }, { node: 'C', id: 'ld-c' }], [['ld-a', 'ld-b'], ['ld-b', 'ld-c']]);
    m().relay('A', 'B').inject({ type: 'drop', count: 1, match: { kind: 'request' } });
    m().relay('A', 'B').inject({ type: 'delay', ms: 300, match: { kind: 'outcome' } });
    m().relay('B', 'C').inject({ type: 'duplicate', mode: 'bytes', count: 1, match: { kind: 'request' } });
    m().relay('C', 'B').inject({ type: 'reorder', holdMs: 400, count: 1, match: { kind: 'report' } });
    m().relay('B', 'A').inject({ type: 'drop', which: 'response', count: 1, match: { kind: 'report' } });
    const set = await fail(m(), g, 'ld-a');
    const r = await waitRecord(m(), set);
    t.equal(r.payload['outcome'], 'complete', 'complete despite the faults');
    for (const e of ['ld-a', 'ld-b', 'ld-c']) t.equal(r.status[key(g, e)], 'rolled_back');
    t.same(m().verifyRecord(r.compact).problems, []);
    const ab = m().relay('A', 'B').seen('request').filter(ofSet(set));
    t.ok(ab.some((x) => x.dropped) && ab.some((x) => x.status === 202), 'a lost request is re-sent until receipted');
    t.not(ab.find((x) => x.dropped)?.jti, ab.find((x) => x.status === 202)?.jti, 'the retransmission has a fresh jti');
    const bc = m().relay('B', 'C').seen('request').filter(ofSet(set));
    t.match(bc.find((x) => x.copy === 'replayed-bytes'), { status: 409, code: 'replayed' }, 'identical bytes again: refused as replayed');
    const reports = (): number => m().relay('B', 'A').seen('report').filter(ofSet(set)).filter((x) => x.status === 202).length;
    t.ok(await until(() => (reports() >= 2 ? true : undefined), 5000, 'the re-sent report').catch(() => false),
      'a report whose receipt was lost is re-sent (fresh jti) and accepted again');
    await sleep(300);
    for (const [n, e] of [['A', 'ld-a'], ['B', 'ld-b'], ['C', 'ld-c']]) t.equal(m().agent(n!).directivesFor(e!).length, 1, `${e} directed once`);
    t.equal((await recordsOf(m(), set)).length, 1, 'one record, no follow-up');
  });

  await scenario(t, import.meta.url, m, {
    id: 'rewrite', title: 'payload rewritten in transit (signature kept) is refused; the retransmission registers the dependency',
    sections: ['intake', 'req-intake-order', 'error-formats', 'req-problem-details', 'req-error-codes', 'req-receipt-unsigned', 'proc-dependency', 'req-dep-order'],
  }, async (t) => {
    const a = m().agent('A');
    const c = m().agent('C');
    await a.execution('rw-a'); a.work('rw-a', 'x');
    const cp = await a.checkpoint('rw-a');
    await c.execution('rw-c'); await c.checkpoint('rw-c');
    m().relay('C', 'A').inject({ type: 'rewrite', path: 'producer.seq', value: 0, count: 1, match: { kind: 'dependency' } });
    const reg = await c.consume('rw-c', 'A', cp);
    const hit = await m().relay('C', 'A').waitFor((x) => x.copy === 'tampered');
    t.equal(hit.status, 401, 'HTTP 401');
    t.equal(hit.code, 'signature_invalid', 'refused with signature_invalid');
    // An unsigned refusal ends nothing (draft "req-receipt-unsigned"): C re-signs and re-sends the untouched content.
    const deps = m().relay('C', 'A').seen('dependency');
    t.ok(deps.some((x) => x.copy === 'original' && x.status === 202 && x.jti !== hit.jti), 'the retransmission (fresh jti) is accepted');
    t.equal(reg.registered, true, 'the dependency is registered with the producer\'s values, not the rewritten ones');
    const set = (await a.fail('rw-a', cp)).set;
    const r = await waitRecord(m(), set);
    t.same(Object.keys(r.status).sort(), ['A/rw-a', 'C/rw-c'], 'C is a member through its own registration; the tampered copy authorised nothing');
  });

  await scenario(t, import.meta.url, m, {
    id: 'partition-heals', title: 'partition that heals before the deadline',
    sections: ['proc-retransmission', 'req-retransmit', 'proc-deadlines', 'req-record-when'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'ph-a' }, { node: 'B', id: 'ph-b' }, { node: 'C', id: 'ph-c' }], [['ph-a', 'ph-b'], ['ph-b', 'ph-c']]);
    m().partition(['A'], ['B', 'C', 'D']);
    const set = await fail(m(), g, 'ph-a');
    await sleep(1200);
    m().healAll();
    const r = await waitRecord(m(), set);
    t.equal(r.payload['outcome'], 'complete', 'complete after the partition healed');
    t.same(Object.values(r.status), ['rolled_back', 'rolled_back', 'rolled_back']);
  });

  await scenario(t, import.meta.url, m, {
    id: 'partition-persists', title: 'partition that does not heal before the deadline',
    sections: ['proc-deadlines', 'req-record-when', 'req-order-report', 'vocab-member-status', 'req-aggregation-outcome', 'req-lease'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'pp-a' }, { node: 'B', id: 'pp-b' }], [['pp-a', 'pp-b']]);
    m().partition(['A'], ['B']);
    const t0 = Date.now();
    const set = await fail(m(), g, 'pp-a');
    const r = await waitRecord(m(), set, DEADLINE + 6000);
    t.ok(Date.now() - t0 >= DEADLINE - 200, 'recorded at the deadline, not before');
    t.equal(r.status[key(g, 'pp-b')], 'unresponsive', 'B unresponsive');
    t.equal(r.payload['outcome'], 'partial');
    t.equal(m().agent('B').directivesFor('pp-b').length, 0, 'B never received the request');
    m().healAll();
  });
});
