/**
 * An on-path liar on the link A -> B (the relay) answers A's envelopes in
 * B's name without forwarding them: an unsigned receipt, an unsigned
 * refusal whose action is "drop", or B's genuine receipt statement for an
 * earlier envelope. None of them may end A's retransmission: A re-sends
 * (fresh jti) until the liar stops, the envelope reaches B and the rollback
 * completes with B in it (draft "proc-retransmission", "sec-replay").
 * Over both bindings.
 */
import t, { type Test } from 'tap';
import { Mesh, build, fail, waitRecord, key, sleep, loadAdapter, type Traffic } from '../harness/index.js';
import { attack, waitMember } from './helpers.js';

const offersWs = ((await loadAdapter()).transports ?? ['http']).includes('ws');
const LIES = 4;

for (const transport of ['http', 'ws'] as const) {
  t.test(`receipts over ${transport}`, { skip: transport === 'ws' && !offersWs ? 'the implementation offers no WebSocket binding' : false }, async (t) => {
    const mesh = await Mesh.start({ name: `attacks-receipts-${transport}`, nodes: ['A', 'B'], transport, limits: { deadline_ms: 10_000, hop_margin_ms: 300 } });
    t.teardown(() => mesh.stop());
    const m = (): Mesh => mesh;
    const ofSet = (set: { id: string }) => (x: Traffic): boolean => x.payload?.['set']?.id === set.id;
    const p = transport === 'ws' ? 'ws-' : '';

    /** A's envelopes of `kind` for `set` on A -> B: the forged answers, then the one B received. */
    const attempts = (kind: string, set: { id: string }) => {
      const seen = m().relay('A', 'B').seen(kind).filter(ofSet(set));
      return { forged: seen.filter((x) => x.copy === 'forged'), reached: seen.filter((x) => x.copy === 'original' && x.status === 202) };
    };

    const lied = async (tt: Test, kind: string, set: { id: string }): Promise<void> => {
      const a = attempts(kind, set);
      tt.equal(a.forged.length, LIES, `A retransmitted the ${kind} after each of the ${LIES} lies`);
      tt.equal(new Set(a.forged.map((x) => x.jti)).size, a.forged.length, 'each retransmission signed anew (fresh jti)');
      tt.ok(a.reached.length >= 1, `the ${kind} reached B once the liar stopped`);
    };

    // covers: req-receipt-final req-receipt-unsigned req-receipt-sign req-retransmit
    await attack(t, import.meta.url, m, {
      id: `${p}unsigned-receipt`, title: `${transport}: an unsigned receipt from an on-path party does not end retransmission`,
      sections: ['proc-retransmission', 'req-retransmit', 'req-receipt-final', 'req-receipt-unsigned', 'req-receipt-sign', 'sec-replay', transport === 'ws' ? 'binding-ws' : 'binding-http'],
    }, async (t) => {
      const g = await build(m(), [{ node: 'A', id: `${p}ur-a` }, { node: 'B', id: `${p}ur-b` }], [[`${p}ur-a`, `${p}ur-b`]]);
      m().relay('A', 'B').inject({ type: 'forge', count: LIES, match: { kind: 'request' } });
      const set = await fail(m(), g, `${p}ur-a`);
      const r = await waitRecord(m(), set);
      t.equal(r.status[key(g, `${p}ur-b`)], 'rolled_back', 'B is in the record, rolled back: no member silently lost');
      t.equal(r.payload['outcome'], 'complete');
      await lied(t, 'request', set);
      await sleep(200);
      t.equal(m().agent('B').directivesFor(`${p}ur-b`).length, 1, 'B directed once');
    });

    // covers: req-receipt-final req-receipt-unsigned req-error-codes
    await attack(t, import.meta.url, m, {
      id: `${p}unsigned-drop`, title: `${transport}: an unsigned refusal whose action is "drop" does not end retransmission`,
      sections: ['proc-retransmission', 'req-receipt-final', 'req-receipt-unsigned', 'req-error-codes', 'sec-replay'],
    }, async (t) => {
      const g = await build(m(), [{ node: 'A', id: `${p}ud-a` }, { node: 'B', id: `${p}ud-b` }], [[`${p}ud-a`, `${p}ud-b`]]);
      m().relay('A', 'B').inject({ type: 'forge', code: 'no_dependency', status: 403, count: LIES, match: { kind: 'request' } });
      const set = await fail(m(), g, `${p}ud-a`);
      const r = await waitRecord(m(), set);
      t.equal(r.status[key(g, `${p}ud-b`)], 'rolled_back', 'B is in the record, rolled back');
      await lied(t, 'request', set);
    });

    // covers: req-receipt-final req-receipt-match
    await attack(t, import.meta.url, m, {
      id: `${p}reused-receipt`, title: `${transport}: B's genuine receipt for an earlier envelope does not confirm a later one`,
      sections: ['proc-retransmission', 'req-receipt-final', 'req-receipt-match', 'msg-receipt', 'sec-replay'],
    }, async (t) => {
      const g = await build(m(), [{ node: 'A', id: `${p}rr-a` }, { node: 'B', id: `${p}rr-b` }], [[`${p}rr-a`, `${p}rr-b`]]);
      // The request passes (its receipt is captured); the outcome is answered with that receipt.
      m().relay('A', 'B').inject({ type: 'forge', reuse: true, count: LIES, match: { kind: 'outcome' } });
      const set = await fail(m(), g, `${p}rr-a`);
      const r = await waitRecord(m(), set);
      t.equal(r.status[key(g, `${p}rr-b`)], 'rolled_back');
      await waitMember(m(), 'B', (x) => x.execution === `${p}rr-b` && x.set.id === set.id && x.state === 'closed', 15_000, 'B closed by the outcome');
      await lied(t, 'outcome', set);
      t.ok(attempts('outcome', set).forged.every((x) => x.status === 202), 'every lie was a receipt');
    });
  });
}
