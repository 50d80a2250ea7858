// The offline record-log verifier (verifyRecordChain), check by check: each case breaks exactly
// one rule of the draft's record format and must be named by its reason at its position, and
// each valid variant must pass. Found by mutation testing (interop-tests/report/mutation.md).
// Statements here are plain JSON (verify = JSON.parse): the verifier's signature check is the
// callback's job, tested in record.test.ts with real signatures.
import t from 'tap';
import { verifyRecordChain, hashPayload } from '../../src/core/index.js';

const S1 = { initiator: 'A', id: 's1' };
const S2 = { initiator: 'A', id: 's2' };
const json = (p: unknown): string => JSON.stringify(p);
const verify = (c: string): unknown => JSON.parse(c);
const ack = (iss: string, member: string, o: Record<string, unknown> = {}): string => json({
  v: 1, iss, iat: 0, set: S1, member, parent: { agent: 'A', execution: 'a' }, status: 'rolled_back',
  target: { checkpoint: `${member}-k1`, seq: 1 }, restored: { checkpoint: `${member}-k1`, seq: 1, digest: 'sha-256:' + '0'.repeat(64) }, ...o,
});
const own = { agent: 'A', execution: 'a', status: 'rolled_back' };
const bEntry = (o: Record<string, unknown> = {}) => ({ agent: 'B', execution: 'b', status: 'rolled_back', ack: ack('B', 'b'), ...o });
const record = (o: Record<string, unknown> = {}) => ({
  v: 1, iss: 'A', iat: 0, index: 1, prev: null, set: S1,
  cause: { agent: 'A', execution: 'a', class: 'eval_failure', at: 0 }, outcome: 'complete', members: [own, bEntry()], ...o,
});
const followup = (refers: string, o: Record<string, unknown> = {}) => ({
  v: 1, iss: 'A', iat: 0, index: 2, prev: refers, set: S1, refers, outcome: 'complete', members: [bEntry()], ...o,
});
/** A log of payloads, chained (index, prev) in order. */
const log = (...ps: Record<string, unknown>[]): string[] => {
  let prev: string | null = null;
  return ps.map((p, i) => {
    const q = { ...p, index: i + 1, prev };
    prev = hashPayload(q);
    return json(q);
  });
};
const broken = (t: { match: Function }, r: unknown, index: number, reason: string, name: string) => t.match(r, { ok: false, index, reason }, name);

// covers: req-record-chain
t.test('the verify callback throwing anything, or returning no object, is a broken link at that entry', async (t) => {
  broken(t, verifyRecordChain(log(record()), () => { throw undefined; }), 0, 'signature', 'a record statement that does not verify');
  broken(t, verifyRecordChain(log(record()), (c) => { const p = JSON.parse(c); if (p.index === undefined) throw undefined; return p; }), 0, 'ack_signature',
    'an embedded ack that does not verify');
  broken(t, verifyRecordChain(['null'], verify), 0, 'payload', 'null payload');
  broken(t, verifyRecordChain([json({ ...record(), index: '1' })], verify, { chain: false }), 0, 'payload', 'index not a number');
  t.match(verifyRecordChain(log(record()), verify), { ok: true, count: 1 }, 'the valid record');
});

// covers: req-record-chain
t.test('one log, one issuer: a record of another initiator in the log is an issuer break', async (t) => {
  const b = { ...record({ iss: 'B', set: { initiator: 'B', id: 's1' }, cause: { agent: 'B', execution: 'b', class: 'eval_failure', at: 0 } }),
    members: [{ agent: 'B', execution: 'b', status: 'rolled_back' }] };
  broken(t, verifyRecordChain(log(record(), b), verify), 1, 'issuer', 'B\'s record in A\'s log');
});

// covers: req-followup req-record-chain
t.test('a follow-up refers to an earlier record of its own set, not to another set\'s record nor to a follow-up', async (t) => {
  const s2members = [own, bEntry({ ack: ack('B', 'b', { set: S2 }) })];
  const r1 = log(record(), record({ set: S2, members: s2members }));
  const h1 = hashPayload(JSON.parse(r1[0]!));
  const other = log(record(), record({ set: S2, members: s2members }), followup(h1, { set: S2, members: s2members.slice(1) }));
  broken(t, verifyRecordChain(other, verify), 2, 'unknown_refers', 'an S2 follow-up referring to the S1 record');
  const ok = log(record(), followup(h1));
  t.match(verifyRecordChain(ok, verify), { ok: true, count: 2 }, 'an S1 follow-up referring to the S1 record');
  const hf = hashPayload(JSON.parse(ok[1]!));
  broken(t, verifyRecordChain(log(record(), followup(h1), followup(hf)), verify), 2, 'unknown_refers', 'a follow-up referring to a follow-up');
});

// covers: req-member-entry
t.test('the initiator\'s entry: first in a record, for the failed execution, without ack; in a follow-up anywhere', async (t) => {
  const cases: [string, Record<string, unknown>][] = [
    ['no entries', record({ members: [], outcome: 'complete' })],
    ['no initiator entry', record({ members: [bEntry()] })],
    ['first entry for another execution of the initiator', record({ members: [{ agent: 'A', execution: 'a2', status: 'rolled_back', ack: ack('A', 'a2') }, bEntry()] })],
    ['initiator entry with an ack', record({ members: [{ ...own, ack: ack('A', 'a') }, bEntry()] })],
    ['no cause', { ...record(), cause: undefined }],
    ['the initiator entry again, later, without ack', record({ members: [own, bEntry(), own] })],
  ];
  for (const [name, p] of cases) broken(t, verifyRecordChain(log(p), verify), 0, 'entry_invalid', name);
  const h = hashPayload(JSON.parse(log(record())[0]!));
  t.match(verifyRecordChain(log(record(), followup(h, { members: [bEntry(), own] })), verify), { ok: true, count: 2 },
    'a follow-up may carry the initiator\'s changed entry after others');
  for (const [name, e] of [
    ['another agent\'s entry named like the failed execution', { agent: 'B', execution: 'a', status: 'rolled_back' }],
    ['another execution of the initiator', { agent: 'A', execution: 'a2', status: 'rolled_back' }],
  ] as const) {
    broken(t, verifyRecordChain(log(record(), followup(h, { members: [bEntry(), e] })), verify), 1, 'entry_invalid', `follow-up: ${name} without ack`);
  }
});

// covers: req-member-entry req-aggregation-outcome
t.test('missing entries (unresponsive, escalated) carry reported_by and no ack', async (t) => {
  for (const status of ['unresponsive', 'escalated']) {
    const e = { agent: 'C', execution: 'c', status, reported_by: 'B' };
    t.match(verifyRecordChain(log(record({ members: [own, bEntry(), e], outcome: 'partial' })), verify), { ok: true }, `${status} with reported_by`);
    broken(t, verifyRecordChain(log(record({ members: [own, bEntry(), { ...e, ack: ack('C', 'c') }], outcome: 'partial' })), verify), 0, 'entry_invalid', `${status} with an ack`);
    broken(t, verifyRecordChain(log(record({ members: [own, bEntry(), { ...e, reported_by: undefined }], outcome: 'partial' })), verify), 0, 'entry_invalid', `${status} without reported_by`);
  }
});

// covers: req-member-entry
t.test('an entry\'s ack must be that member\'s own ack of this set with the entry\'s status', async (t) => {
  const cases: [string, Record<string, unknown>][] = [
    ['ack signed by another agent', bEntry({ ack: ack('C', 'b') })],
    ['ack of another execution', bEntry({ ack: ack('B', 'x') })],
    ['ack of another set', bEntry({ ack: ack('B', 'b', { set: S2 }) })],
    ['ack with another status', bEntry({ ack: ack('B', 'b', { status: 'compensated' }) })],
    ['an ack that is no object', bEntry({ ack: 'null' })],
  ];
  for (const [name, e] of cases) broken(t, verifyRecordChain(log(record({ members: [own, e] })), verify), 0, 'ack_inconsistent', name);
});

// covers: req-aggregation-outcome
t.test('outcome: the aggregation of the entries, or cancelled whatever the entries say', async (t) => {
  t.match(verifyRecordChain(log(record({ outcome: 'cancelled' })), verify), { ok: true }, 'cancelled');
  broken(t, verifyRecordChain(log(record({ outcome: 'partial' })), verify), 0, 'outcome_mismatch', 'partial for complete entries');
});
