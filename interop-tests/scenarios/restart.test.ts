/**
 * Crashes: the initiator and a member are SIGKILLed while the member's
 * rollback is in progress, then restarted from their stable storage.
 */
import t from 'tap';
import { Mesh, scenario, build, fail, waitRecord, key, sleep, recordsOf } from '../harness/index.js';

let mesh: Mesh | undefined;
const m = (): Mesh => mesh!;

t.before(async () => {
  mesh = await Mesh.start({ name: 'restart', nodes: ['A', 'B', 'C'], limits: { deadline_ms: 10_000, hop_margin_ms: 300 } });
});
t.teardown(() => mesh?.stop());

t.test('restart', async (t) => {
  await scenario(t, import.meta.url, m, {
    id: 'kill-initiator-and-member', title: 'initiator and a member killed and restarted mid-rollback',
    sections: ['proc-leases', 'req-vanished', 'hard-vanished', 'req-hard-vanished', 'operational', 'req-retransmit', 'req-idempotent', 'req-record-when'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'kr-a' }, { node: 'B', id: 'kr-b' }, { node: 'C', id: 'kr-c' }], [['kr-a', 'kr-b'], ['kr-b', 'kr-c']]);
    m().agent('B').behaviour('kr-b', 'ok', 1500); // B's agent takes its time: the rollback is in flight
    const set = await fail(m(), g, 'kr-a');
    await m().agent('B').waitDirective((d) => d.execution === 'kr-b');
    await Promise.all([m().kill('A'), m().kill('B')]);
    t.notOk(m().node('A').proc.running || m().node('B').proc.running, 'both SIGKILLed');
    await sleep(300);
    await Promise.all([m().restart('A'), m().restart('B')]);
    const r = await waitRecord(m(), set, 20_000);
    t.equal(r.payload['outcome'], 'complete', 'the set completes after the restarts');
    for (const e of ['kr-a', 'kr-b', 'kr-c']) t.equal(r.status[key(g, e)], 'rolled_back', `${e} rolled back`);
    t.same(m().verifyRecord(r.compact).problems, []);
    t.same(m().agent('B').state('kr-b'), ['kr-b:in'], 'B restored');
    t.equal(m().agent('C').directivesFor('kr-c').length, 1, 'C (not restarted) rolled back once');
    await sleep(500);
    t.equal((await recordsOf(m(), set)).length, 1, 'one record, written once');
  });
});
