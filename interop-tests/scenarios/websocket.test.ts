/**
 * The WebSocket binding (draft "binding-ws"): a chain over persistent links
 * through the relays, with a retransmitted request and a reordered report.
 * Runs only if the adapter lists "ws" among its transports.
 */
import t from 'tap';
import { Mesh, scenario, build, fail, waitRecord, key, sleep, loadAdapter } from '../harness/index.js';

let mesh: Mesh | undefined;
const m = (): Mesh => mesh!;
const offersWs = ((await loadAdapter()).transports ?? ['http']).includes('ws');

t.before(async () => {
  if (offersWs) mesh = await Mesh.start({ name: 'ws', nodes: ['A', 'B', 'C'], transport: 'ws', limits: { deadline_ms: 6000, hop_margin_ms: 300 } });
});
t.teardown(() => mesh?.stop());

t.test('websocket', { skip: offersWs ? false : 'the implementation offers no WebSocket binding' }, async (t) => {
  await scenario(t, import.meta.url, m, {
    id: 'ws-chain', title: 'chain over WebSocket links with a retransmitted request and a reordered report',
    sections: ['bindings', 'binding-ws', 'req-ws', 'req-ws-error', 'req-idempotent', 'proc-member', 'req-record-when'],
  }, async (t) => {
    const g = await build(m(), [{ node: 'A', id: 'ws-a' }, { node: 'B', id: 'ws-b' }, { node: 'C', id: 'ws-c' }], [['ws-a', 'ws-b'], ['ws-b', 'ws-c']]);
    m().relay('A', 'B').inject({ type: 'duplicate', mode: 'fresh', count: 1, afterMs: 300, match: { kind: 'request' } });
    m().relay('B', 'C').inject({ type: 'duplicate', mode: 'bytes', count: 1, match: { kind: 'request' } });
    m().relay('C', 'B').inject({ type: 'reorder', holdMs: 300, count: 1, match: { kind: 'report' } });
    const set = await fail(m(), g, 'ws-a');
    const r = await waitRecord(m(), set);
    t.equal(r.payload['outcome'], 'complete');
    for (const e of ['ws-a', 'ws-b', 'ws-c']) t.equal(r.status[key(g, e)], 'rolled_back');
    t.same(m().verifyRecord(r.compact).problems, []);
    const replay = await m().relay('B', 'C').waitFor((x) => x.copy === 'replayed-bytes');
    t.match(replay, { status: 400, code: 'replayed' }, 'identical frame again: an error frame "replayed", the link stays open');
    t.ok(m().relay('A', 'B').seen('request').some((x) => x.copy === 'duplicate' && x.status === 202), 'retransmission receipted');
    await sleep(300);
    t.equal(m().agent('B').directivesFor('ws-b').length, 1, 'B directed once');
  });
});
