/**
 * A chain of depth 16: seventeen nodes, each linked only to its
 * neighbours; every node trusts every key (records and acks are verified
 * end to end).
 */
import t from 'tap';
import { Mesh, scenario, build, fail, waitRecord, key } from '../harness/index.js';

const N = 17;
const ids = Array.from({ length: N }, (_, i) => `N${String(i).padStart(2, '0')}`);
let mesh: Mesh | undefined;
// Seventeen node processes start on shared cores: more than tap's default 120 s per file may be needed.
t.setTimeout(240_000);
const m = (): Mesh => mesh!;

t.before(async () => {
  mesh = await Mesh.start({
    name: 'depth', nodes: ids, links: ids.slice(1).map((id, i) => [ids[i]!, id] as [string, string]),
    limits: { deadline_ms: 20_000, hop_margin_ms: 300, max_hops: 20 },
  });
});
t.teardown(() => mesh?.stop());

t.test('depth', async (t) => {
  await scenario(t, import.meta.url, m, {
    id: 'depth-16', title: 'chain of depth 16 (17 nodes)',
    sections: ['proc-resolution', 'proc-blast-radius', 'req-blast-radius', 'proc-deadlines', 'req-hop-margin', 'req-report-content', 'proc-reports', 'req-report-consistency'],
  }, async (t) => {
    const execs = ids.map((n) => ({ node: n, id: `d-${n}` }));
    const g = await build(m(), execs, execs.slice(1).map((e, i) => [execs[i]!.id, e.id] as [string, string]));
    const r = await waitRecord(m(), await fail(m(), g, 'd-N00'), 30_000);
    t.equal(r.payload['outcome'], 'complete', 'complete');
    t.equal(r.payload['members'].length, N, 'all 17 members');
    t.ok(execs.every((e) => r.status[key(g, e.id)] === 'rolled_back'), 'every member rolled back');
    t.same(m().verifyRecord(r.compact).problems, [], 'all 16 acks verify');
    const hops = m().relay('N15', 'N16').seen('request')[0]?.payload?.['hops'];
    t.equal(hops, 20 - 16, 'hops decreased by one per level');
  });
});
