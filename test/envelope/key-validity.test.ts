/**
 * Keys with a validity period or a revocation at intake (draft
 * req-key-validity, req-statement-receipt-time): envelopes need a key usable
 * now; statements a key usable when they are received, whatever their iat
 * claims, so a stolen key cannot backdate into the time before its revocation.
 */
import t from 'tap';
import { Intake, ReplayCache, TrustStore, sealEnvelope, sealStatement } from '../../src/envelope/index.js';
import { NOW, ackBody, depBody, makeKey, schemas, set } from './helpers.js';

const alice = makeKey('alice');
const expired = makeKey('alice');
const early = makeKey('alice');
const carol = makeKey('carol');
const stolen = makeKey('carol');
const REVOKED_AT = NOW - 60;

function world(revokedAt = REVOKED_AT) {
  const trust = new TrustStore({
    peers: [
      { id: 'alice', jwks: { keys: [alice.pub, { ...expired.pub, exp: NOW - 1 }, { ...early.pub, nbf: NOW + 1 }] } },
      { id: 'carol', jwks: { keys: [carol.pub, stolen.pub] } },
    ],
    revoked: [{ kid: stolen.priv.kid, at: revokedAt }],
  });
  let now = NOW * 1000;
  const replay = new ReplayCache();
  const intake = new Intake({ self: 'bob', trust, schemas, replay, clock: () => now });
  return { intake, replay, at: (s: number) => { now = s * 1000; } };
}

const refusal = async (p: Promise<unknown>): Promise<{ code?: string; message?: string }> => {
  try { await p; return {}; } catch (e) { return e as { code: string; message: string }; }
};

// covers: req-key-validity req-kid
t.test('an envelope needs a key inside its validity period and not revoked, judged at now', async (t) => {
  const w = world();
  const env = (k = alice, iat = NOW) => sealEnvelope(k.signer, 'dependency', 'bob', depBody, { iat }).compact;
  t.match(await refusal(w.intake.accept(env(expired))), { code: 'kid_unknown', message: `kid names a key that is expired (exp ${NOW - 1})` });
  t.match(await refusal(w.intake.accept(env(early))), { code: 'kid_unknown', message: `kid names a key that is not yet valid (nbf ${NOW + 1})` });
  const dep = (k: typeof carol, iat = NOW) => sealEnvelope(k.signer, 'dependency', 'bob', depBody, { iat }).compact;
  t.match(await refusal(w.intake.accept(dep(stolen))), { code: 'kid_unknown', message: /revoked \(at \d+\)/ });
  t.match(await refusal(w.intake.accept(dep(stolen, REVOKED_AT - 10))), { code: 'kid_unknown' }, 'an iat backdated before the revocation does not help');
  t.equal(w.replay.stats().entries, 0, 'nothing remembered');
  t.equal((await w.intake.accept(env())).peer, 'alice', 'the current key is accepted');
  w.at(NOW + 1);
  t.equal((await w.intake.accept(env(early, NOW + 1))).kid, early.priv.kid, 'from nbf on');
  // A revocation set in the future is not in force yet.
  const later = world(NOW + 100);
  t.equal((await later.intake.accept(dep(stolen))).kid, stolen.priv.kid, 'revocation not yet in force');
});

// covers: req-statement-receipt-time
t.test('a statement is judged at its receipt time, not at its iat', async (t) => {
  const w = world();
  const ack = sealStatement(stolen.signer, 'ack', ackBody('c1'), { iat: REVOKED_AT - 100 });
  const report = (iat: number) => sealEnvelope(carol.signer, 'report', 'bob', { set, member: 'c1', acks: [ack] }, { iat }).compact;
  const r = await refusal(w.intake.accept(report(NOW), { expected: 'report' }));
  t.match(r, { code: 'statement_invalid', message: /^acks\[0\]: kid_unknown: kid names a key that is revoked/ }, 'received after the revocation: refused, backdated iat or not');
  t.equal(w.replay.stats().entries, 1, 'the envelope itself passed its steps (refusal at step 16)');
  // Received before the revocation, the same ack was evidence and still is.
  w.at(REVOKED_AT - 1);
  t.equal((await w.intake.accept(report(REVOKED_AT - 1), { expected: 'report' })).statements[0]!.kid, stolen.priv.kid, 'received before the revocation');
  t.equal((await w.intake.verifyStatement(ack, 'ack', set, 'stored', REVOKED_AT - 1)).iss, 'carol', 'stored: verified at its receipt time');
  w.at(NOW);
  t.match(await refusal(w.intake.verifyStatement(ack, 'ack')), { code: 'statement_invalid', message: /^statement: kid_unknown: .*revoked/ }, 'default receipt time: now');
  const exp = sealStatement(expired.signer, 'cancellation', { set }, { iat: NOW - 100 });
  t.match(await refusal(w.intake.verifyStatement(exp, 'cancellation')), { message: /expired/ }, 'an expired key: no new statements either');
  t.equal((await w.intake.verifyStatement(exp, 'cancellation', undefined, 'stored', NOW - 2)).iss, 'alice', 'received while it was valid');
});
