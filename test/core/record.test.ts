import t from 'tap';
import canonicalize from 'canonicalize';
import { createHash } from 'node:crypto';
import { Simulator, decodeCompact, ed25519Verify, hashPayload, verifyRecordChain } from '../../src/core/index.js';
import type { ChainEntry } from '../../src/core/index.js';
import { build } from './helpers.js';

t.test('hash = sha-256 of RFC 8785 canonical JSON', async (t) => {
  const p = { b: 1, a: [true, null, 'é'], c: { y: 1e21, x: 0.5 } };
  const expected = 'sha-256:' + createHash('sha256').update(canonicalize(p)!).digest('hex');
  t.equal(hashPayload(p), expected);
  t.equal(hashPayload({ c: { x: 0.5, y: 1e21 }, a: [true, null, 'é'], b: 1 }), expected, 'member order does not matter');
  t.throws(() => hashPayload(undefined));
});

/** A log with a record, a follow-up (held member decided late) and a second record. */
function scenario(): { sim: Simulator; log: ChainEntry[]; verify: (c: string) => unknown } {
  const sim = new Simulator({ seed: 3, policy: (agent) => (agent === 'B' ? 'held' : 'automatic') });
  build(sim, {
    execs: [{ agent: 'A', exec: 'a', seqs: 3 }, { agent: 'B', exec: 'b', seqs: 3 }, { agent: 'C', exec: 'c', seqs: 3 }],
    deps: [
      { consumer: ['B', 'b'], cseq: 2, producer: ['A', 'a'], pseq: 2 },
      { consumer: ['C', 'c'], cseq: 2, producer: ['A', 'a'], pseq: 2 },
    ],
  });
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 's1' });
  sim.run({ until: 200 });
  sim.input('B', { type: 'decision', set: { initiator: 'A', id: 's1' }, execution: 'b', decision: 'confirm', by: 'operator@example' });
  sim.run();
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k2', seq: 2 }, class: 'user_report', detail: 'again', setId: 's2' });
  sim.run();
  const verify = (c: string): unknown => {
    const kid = decodeCompact(c).header.kid!;
    return ed25519Verify(c, sim.nodes.get(kid)!.publicKey!);
  };
  return { sim, log: sim.nodes.get('A')!.core.records().map((r) => ({ compact: r.compact, hash: r.hash })), verify };
}

// covers: req-record-chain req-member-entry
t.test('a real log verifies; records, follow-ups and embedded acks', async (t) => {
  const { log, verify, sim } = scenario();
  t.equal(log.length, 3);
  const ps = log.map((e) => decodeCompact((e as { compact: string }).compact).payload as any);
  t.equal(ps[0].outcome, 'partial', 'held member makes the record partial');
  t.same(ps[0].members.map((m: any) => m.status), ['rolled_back', 'held', 'rolled_back']);
  t.ok('refers' in ps[1], 'late final becomes a follow-up');
  t.equal(ps[1].refers, (log[0] as any).hash);
  t.same(ps[1].members.map((m: any) => [m.agent, m.status]), [['B', 'rolled_back']]);
  t.equal(ps[1].outcome, 'complete');
  t.equal(ps[2].prev, (log[1] as any).hash);
  t.same(verifyRecordChain(log, verify), { ok: true, count: 3, head: (log[2] as any).hash });
  t.same(verifyRecordChain(log.map((e) => (e as any).compact), verify), { ok: true, count: 3, head: (log[2] as any).hash });
  t.same(verifyRecordChain([], verify), { ok: true, count: 0, head: null });
  t.same(sim.errors, []);
  t.equal(sim.nodes.get('B')!.core.members()[0]!.state, 'closed', 'the follow-up closes the late member');
});

// covers: req-record-chain
t.test('tampering: the verifier pinpoints the first broken link', async (t) => {
  const { log, verify, sim } = scenario();
  const signA = sim.nodes.get('A')!.sign;
  const entries = log as { compact: string; hash: string }[];
  const payloads = entries.map((e) => decodeCompact(e.compact).payload as any);
  const resign = (i: number, f: (p: any) => void, typ = i === 1 ? 'rollback-followup+jwt' : 'rollback-record+jwt'): { compact: string; hash?: string }[] => {
    const p = structuredClone(payloads[i]);
    f(p);
    const copy: { compact: string; hash?: string }[] = entries.map((e) => ({ compact: e.compact }));
    copy[i] = { compact: signA(typ as any, p) };
    return copy;
  };
  const check = (name: string, list: ChainEntry[], index: number, reason: string): void => {
    const r = verifyRecordChain(list, verify);
    t.match(r, { ok: false, index, reason }, name);
  };
  // Payload edited without the key: signature breaks at that entry.
  for (let i = 0; i < 3; i++) {
    const [h, , s] = entries[i]!.compact.split('.');
    const p = { ...payloads[i], iat: payloads[i].iat + 1 };
    const forged = `${h}.${Buffer.from(JSON.stringify(p)).toString('base64url')}.${s}`;
    check(`unsigned edit at ${i}`, entries.map((e, j) => (j === i ? forged : e)), i, 'signature');
  }
  check('stored hash differs', entries.map((e, j) => (j === 1 ? { ...e, hash: entries[0]!.hash } : e)), 1, 'hash_mismatch');
  // Re-signed edits (a buggy or compromised writer): each field.
  check('index gap', resign(1, (p) => { p.index = 3; }), 1, 'index_gap');
  check('prev mismatch', resign(2, (p) => { p.prev = entries[0]!.hash; }), 2, 'prev_mismatch');
  check('first prev not null', resign(0, (p) => { p.prev = entries[0]!.hash; }), 0, 'prev_mismatch');
  check('iat edit breaks the next prev', resign(0, (p) => { p.iat += 1; }), 1, 'prev_mismatch');
  check('cause edit breaks the next prev', resign(0, (p) => { p.cause.detail = 'x'; }), 1, 'prev_mismatch');
  check('last entry edit shows in a stored hash', resign(2, (p) => { p.iat += 1; }).map((e, j) => (j === 2 ? { ...e, hash: entries[2]!.hash } : e)), 2, 'hash_mismatch');
  check('issuer', resign(0, (p) => { p.set = { ...p.set, initiator: 'B' }; }), 0, 'issuer');
  check('refers unknown', resign(1, (p) => { p.refers = 'sha-256:' + '1'.repeat(64); }), 1, 'unknown_refers');
  check('ack of another member', resign(0, (p) => { p.members[1].ack = p.members[2].ack; }), 0, 'ack_inconsistent');
  check('ack status differs from entry', resign(0, (p) => { p.members[1].status = 'rolled_back'; }), 0, 'ack_inconsistent');
  check('ack signature broken', resign(0, (p) => { p.members[1].ack = p.members[1].ack.slice(0, -4) + 'AAAA'; }), 0, 'ack_signature');
  check('member entry without ack', resign(0, (p) => { delete p.members[1].ack; }), 0, 'entry_invalid');
  check('initiator entry not first', resign(0, (p) => { p.members.reverse(); }), 0, 'entry_invalid');
  check('missing entry without reported_by', resign(0, (p) => { p.members[1] = { agent: 'B', execution: 'b', status: 'unresponsive' }; }), 0, 'entry_invalid');
  check('outcome not the aggregation', resign(0, (p) => { p.outcome = 'complete'; }), 0, 'outcome_mismatch');
  check('follow-up outcome re-aggregated', resign(1, (p) => { p.outcome = 'partial'; }), 1, 'outcome_mismatch');
  check('not a record', resign(0, (p) => { delete p.members; }), 0, 'payload');
  t.match(verifyRecordChain(entries, () => { throw 'nope'; }), { ok: false, index: 0, reason: 'signature', detail: 'nope' });
});
