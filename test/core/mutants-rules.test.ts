// Aggregation rules (prefer, aggregateEntries) edge by edge; found by mutation testing
// (interop-tests/report/mutation.md).
import t from 'tap';
import { aggregateEntries, prefer } from '../../src/core/index.js';
import type { AckPayload, MissingEntry, Statement } from '../../src/core/index.js';

const set = { initiator: 'A', id: 's1' };
const other = { initiator: 'C', id: 'x' };
const ack = (status: string, seq: number, o: Record<string, unknown> = {}): AckPayload => ({
  v: 1, iss: 'D', iat: 0, set, member: 'd', parent: { agent: 'B', execution: 'b' }, status, target: { checkpoint: `d-k${seq}`, seq },
  ...(status === 'rolled_back' ? { restored: { checkpoint: `d-k${seq}`, seq, digest: 'sha-256:' + '0'.repeat(64) } } : {}), ...o,
}) as AckPayload;

// covers: req-aggregation-entry
t.test('prefer: satisfied by another set is a final like any other; satisfied by this set never replaces an answer', async (t) => {
  t.equal(prefer(set, ack('satisfied', 1, { by: other }), ack('rolled_back', 2)), false, 'earliest target among finals: satisfied by another set at 1 stays');
  t.equal(prefer(set, ack('rolled_back', 2), ack('satisfied', 1, { by: other })), true, 'and replaces a later final');
  t.equal(prefer(set, ack('rolled_back', 2), ack('satisfied', 1, { by: set })), false, 'a pointer of this set, even to an earlier target, does not replace an answer');
});

const st = (iss: string, member: string, status: string, parent: string, seq: number, o: Record<string, unknown> = {}): Statement<AckPayload> => ({
  compact: `${iss}.${member}.${status}.${parent}.${seq}`,
  payload: { ...ack(status, seq, o), iss, member, parent: { agent: parent, execution: parent.toLowerCase() } } as AckPayload,
});
const root = { agent: 'A', execution: 'a', missing: [] as MissingEntry[] };

// covers: req-aggregation-entry
t.test('aggregateEntries: the earliest target among finals whatever the order they arrived in; a held ack answers no parent', async (t) => {
  const b = st('B', 'b', 'rolled_back', 'A', 1);
  const c = st('C', 'c', 'rolled_back', 'A', 1);
  const d1 = st('D', 'd', 'rolled_back', 'C', 1);
  const d3 = st('D', 'd', 'rolled_back', 'B', 3);
  t.same(aggregateEntries(set, [b, c, d1, d3], root).find((e) => e.agent === 'D'), { agent: 'D', execution: 'd', status: 'rolled_back', ack: d1.compact },
    'the earlier target arrived first and stays');
  const d3b = st('D', 'd', 'rolled_back', 'C', 3);
  t.same(aggregateEntries(set, [b, c, d3, d3b], root).find((e) => e.agent === 'D'), { agent: 'D', execution: 'd', status: 'rolled_back', ack: d3.compact },
    'a tie: the first received');
  // C listed D as missing; D's only answer to C is an interim held ack: not an answer for C.
  const cm = st('C', 'c', 'rolled_back', 'A', 1, { missing: [{ agent: 'D', execution: 'd', reason: 'unresponsive' }] });
  const dHeld = st('D', 'd', 'held', 'C', 1, { policy: { mode: 'held' } });
  t.same(aggregateEntries(set, [b, cm, dHeld], root).find((e) => e.agent === 'D'), { agent: 'D', execution: 'd', status: 'unresponsive', reported_by: 'C' });
  const dFinal = st('D', 'd', 'rolled_back', 'C', 1);
  t.same(aggregateEntries(set, [b, cm, dHeld, dFinal], root).find((e) => e.agent === 'D'), { agent: 'D', execution: 'd', status: 'rolled_back', ack: dFinal.compact },
    'a final ack to C answers it');
});
