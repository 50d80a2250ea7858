/**
 * Topologies on one five-node mesh (HTTP binding, every pair linked through
 * a relay): chain, fan-out, diamond, cycle, and two overlapping sets opened
 * at once. Each scenario uses fresh executions, so the nodes are shared.
 */
import t, { type Test } from 'tap';
import { Mesh, scenario, build, fail, waitRecord, key, decodeCompact, type Graph, type RecordView } from '../harness/index.js';

const NODES = ['A', 'B', 'C', 'D', 'E'];
let mesh: Mesh | undefined;
const m = (): Mesh => mesh!;

t.before(async () => {
  mesh = await Mesh.start({ name: 'topologies', nodes: NODES, limits: { deadline_ms: 6000, hop_margin_ms: 300 } });
});
t.teardown(() => mesh?.stop());

/** Common checks: outcome, exactly these members, initiator first, signatures, states restored, one directive each. */
function settled(t: Test, g: Graph, r: RecordView, root: string, members: string[], outcome = 'complete'): void {
  t.equal(r.payload['outcome'], outcome, `outcome ${outcome}`);
  t.same(Object.keys(r.status).sort(), members.map((e) => key(g, e)).sort(), 'every tainted execution exactly once');
  t.equal(r.payload['members'].length, members.length, 'no duplicate entries');
  t.equal(`${r.payload['members'][0].agent}/${r.payload['members'][0].execution}`, key(g, root), 'initiator entry first');
  t.same(m().verifyRecord(r.compact).problems, [], 'record and embedded acks verify with the members\' keys');
  for (const e of members) {
    const { node, cp } = g.execs[e]!;
    if (r.status[key(g, e)] !== 'rolled_back') continue;
    t.same(m().agent(node).state(e), [`${e}:in`], `${e} state equals its checkpoint again`);
    t.equal(m().agent(node).directivesFor(e).length, 1, `${e} directed once`);
    if (e !== root) t.match(r.acks[key(g, e)], { status: 'rolled_back', restored: { checkpoint: cp.checkpoint, digest: cp.digest } }, `${e} ack names the restored checkpoint`);
  }
}

const COMMON = ['proc-open', 'proc-member', 'req-order-report', 'proc-resolution', 'proc-aggregation', 'req-aggregation-outcome', 'proc-record', 'req-record-when', 'msg-record', 'req-member-entry', 'req-taint', 'binding-http'];

t.test('topologies', async (t) => {
  await scenario(t, import.meta.url, m, { id: 'chain', title: 'chain A -> B -> C', sections: COMMON }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'ch-a' }, { node: 'B', id: 'ch-b' }, { node: 'C', id: 'ch-c' }], [['ch-a', 'ch-b'], ['ch-b', 'ch-c']]);
    const set = await fail(m(), g, 'ch-a');
    const r = await waitRecord(m(), set);
    settled(t, g, r, 'ch-a', ['ch-a', 'ch-b', 'ch-c']);
    t.equal(r.acks[key(g, 'ch-c')]?.['parent'].execution, 'ch-b', 'C answered B, its parent');
  });

  await scenario(t, import.meta.url, m, { id: 'fan-out', title: 'fan-out A -> B, C, D', sections: [...COMMON, 'req-order-forward'] }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'fo-a' }, { node: 'B', id: 'fo-b' }, { node: 'C', id: 'fo-c' }, { node: 'D', id: 'fo-d' }],
      [['fo-a', 'fo-b'], ['fo-a', 'fo-c'], ['fo-a', 'fo-d']]);
    const set = await fail(m(), g, 'fo-a');
    settled(t, g, await waitRecord(m(), set), 'fo-a', ['fo-a', 'fo-b', 'fo-c', 'fo-d']);
  });

  await scenario(t, import.meta.url, m, { id: 'diamond', title: 'diamond A -> B, C -> D', sections: [...COMMON, 'req-satisfied', 'req-primary-parent', 'req-aggregation-entry'] }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'di-a' }, { node: 'B', id: 'di-b' }, { node: 'C', id: 'di-c' }, { node: 'D', id: 'di-d' }],
      [['di-a', 'di-b'], ['di-a', 'di-c'], ['di-b', 'di-d'], ['di-c', 'di-d']]);
    const set = await fail(m(), g, 'di-a');
    const r = await waitRecord(m(), set);
    settled(t, g, r, 'di-a', ['di-a', 'di-b', 'di-c', 'di-d']);
    // D answered its second parent at once with "satisfied" by this set.
    const satisfied = [...m().relay('D', 'B').seen('report'), ...m().relay('D', 'C').seen('report')]
      .map((x) => x.payload?.['acks']?.map((a: string) => decodeCompact(a).payload)).flat()
      .filter((a) => a?.member === 'di-d' && a.status === 'satisfied');
    t.ok(satisfied.length >= 1, 'the non-primary parent got "satisfied"');
    t.match(satisfied[0], { by: set }, '"by" names this set');
  });

  await scenario(t, import.meta.url, m, { id: 'cycle', title: 'cycle A -> B -> C -> A', sections: [...COMMON, 'hard-cycle', 'req-hard-cycle', 'req-satisfied'] }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'cy-a' }, { node: 'B', id: 'cy-b' }, { node: 'C', id: 'cy-c' }],
      [['cy-a', 'cy-b'], ['cy-b', 'cy-c'], ['cy-c', 'cy-a']]);
    const set = await fail(m(), g, 'cy-a');
    const r = await waitRecord(m(), set);
    settled(t, g, r, 'cy-a', ['cy-a', 'cy-b', 'cy-c']);
    const back = m().relay('A', 'C').seen('report').flatMap((x) => x.payload?.['acks'] ?? []).map((a: string) => decodeCompact(a).payload);
    t.match(back.find((a) => a.member === 'cy-a'), { status: 'satisfied', by: set }, 'the request back to the initiator is answered "satisfied"');
    t.equal(m().relay('A', 'B').seen('request').filter((x) => x.payload?.['set']?.id === set.id && x.status === 202).length, 1, 'the cycle ends: A forwards to B once');
  });

  await scenario(t, import.meta.url, m, { id: 'overlap', title: 'two overlapping sets at once (A and E both feed D)', sections: ['hard-overlap', 'req-hard-overlap', 'req-satisfied', 'req-aggregation-outcome', 'proc-failure'] }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'ov-a' }, { node: 'E', id: 'ov-e' }, { node: 'D', id: 'ov-d' }, { node: 'C', id: 'ov-c' }],
      [['ov-a', 'ov-d'], ['ov-e', 'ov-d'], ['ov-d', 'ov-c']]);
    const [s1, s2] = await Promise.all([fail(m(), g, 'ov-a'), fail(m(), g, 'ov-e')]);
    t.not(s1.id, s2.id, 'two sets');
    const [r1, r2] = await Promise.all([waitRecord(m(), s1), waitRecord(m(), s2)]);
    t.equal(r1.payload['outcome'], 'complete');
    t.equal(r2.payload['outcome'], 'complete');
    const d = [r1, r2].map((r) => r.status[key(g, 'ov-d')]);
    t.same(d.slice().sort(), ['rolled_back', 'satisfied'], 'D rolled back under one set and is "satisfied" in the other');
    const sat = [r1, r2].map((r) => r.acks[key(g, 'ov-d')]).find((a) => a?.['status'] === 'satisfied');
    const other = d[0] === 'satisfied' ? s2 : s1;
    t.match(sat, { by: other }, '"by" names the covering set');
    t.equal(m().agent('D').directivesFor('ov-d').length, 1, 'D rolled back once');
    t.equal(m().agent('C').directivesFor('ov-c').length, 1, 'C (below D) rolled back once');
    t.same(m().agent('D').state('ov-d'), ['ov-d:in']);
  });
});
