/**
 * Statements of a node log judged at their receipt time (draft
 * req-statement-receipt-time): the log entry's time is the receipt time; a
 * statement received before its key's revocation stays valid, one received
 * after is refused even with a backdated iat; without a receipt time a
 * statement under a revoked key is refused.
 */
import t from 'tap';
import { receivedStatements, verifyReceived, type LogEntry } from '../../src/store/index.js';
import { statementVerifier } from '../../src/cli/offline.js';
import { sealStatement } from '../../src/envelope/index.js';
import { makeKey } from '../envelope/helpers.js';

const carol = makeKey('carol');
const alice = makeKey('alice');
const set = { initiator: 'alice', id: 's1' };
const REVOKED = 1_000_000;
const ack = (iat: number) => sealStatement(carol.signer, 'ack', { set, member: 'c', parent: { agent: 'alice', execution: 'a' }, status: 'held', target: { checkpoint: 'k', seq: 1 } }, { iat });
const entry = (index: number, body: unknown): LogEntry => ({ index, offset: 16 + index * 100, hash: '00'.repeat(32), body });
const input = (tSeconds: number, ...compacts: string[]) => ({ t: tSeconds * 1000 + 999, input: { type: 'envelope', kind: 'report', statements: compacts.map((compact) => ({ compact, payload: {} })) } });
const keys = { carol: { keys: [carol.pub] }, alice: { keys: [{ ...alice.pub, exp: REVOKED + 50 }] } };

t.test('receipt times come from the entries', async (t) => {
  const a = ack(5), b = ack(6);
  const rec = sealStatement(alice.signer, 'cancellation', { set }, { iat: 7 });
  const list = receivedStatements([entry(0, input(10, a, b)), entry(1, { t: 20_500, input: { type: 'timer', id: 'x' } }), entry(2, { t: 30_000, record: rec }), entry(3, null), entry(4, { record: rec })]);
  t.same(list, [
    { entry: 0, receivedAt: 10, compact: a, where: 'statements[0]' },
    { entry: 0, receivedAt: 10, compact: b, where: 'statements[1]' },
    { entry: 2, receivedAt: 30, compact: rec, where: 'record' },
  ], 'seconds, floor of the entry time; entries without t or statements give none');
});

// covers: req-statement-receipt-time
t.test('verified at receipt: before the revocation valid, after it refused whatever the iat', async (t) => {
  const check = statementVerifier(keys, [{ kid: carol.priv.kid, at: REVOKED }]);
  const early = ack(REVOKED - 500);
  const backdated = ack(REVOKED - 400);
  const log = [entry(0, input(REVOKED - 10, early)), entry(1, input(REVOKED + 10, backdated))];
  t.same(verifyReceived(log.slice(0, 1), check), { ok: true, count: 1 }, 'received before the revocation: still evidence');
  const r = verifyReceived(log, check);
  t.match(r, { ok: false, entry: 1, where: 'statements[0]', detail: new RegExp(`names a key that was revoked \\(at ${REVOKED}\\) when the statement was received \\(${REVOKED + 10}\\)`) },
    'received after it: refused although its iat is earlier');
  t.throws(() => check(early), /revoked key and the statement's receipt time is unknown/, 'no receipt time, revoked key: refused');
  t.equal(statementVerifier(keys)(early)['iss'], 'carol', 'without the revocation the signature alone verifies');
  // exp of a JWK bounds receipt too: received before exp valid, after not.
  const c = sealStatement(alice.signer, 'cancellation', { set }, { iat: 1 });
  t.same(verifyReceived([entry(0, input(REVOKED + 49, c))], check), { ok: true, count: 1 });
  t.match(verifyReceived([entry(0, input(REVOKED + 50, c))], check), { ok: false, detail: /expired \(exp \d+\)/ });
  const forged = `${early.split('.')[0]}.${ack(1).split('.')[1]}.${early.split('.')[2]}`;
  t.match(verifyReceived([entry(0, input(1, forged))], check), { ok: false, detail: /signature does not verify/ }, 'signatures still checked');
});
