// Receipt statements (draft "msg-receipt"): signing, the sender's
// verification, and which intake refusals name an authenticated sender.
import t from 'tap';
import {
  Intake, ReplayCache, TrustStore, newJti, sealEnvelope, sealReceipt, sealStatement, kindOfTyp,
} from '../../src/envelope/index.js';
import type { ProtocolError } from '../../src/errors.js';
import { NOW, depBody, makeKey, schemas, set, world } from './helpers.js';

const decode = (c: string, i: number): Record<string, unknown> => JSON.parse(Buffer.from(c.split('.')[i]!, 'base64url').toString('utf8'));

t.test('sealReceipt: a statement naming the envelope and its sender', async (t) => {
  const w = world();
  const jti = newJti();
  const ok = sealReceipt(w.alice.signer, 'bob', jti, { status: 'accepted' }, { iat: NOW });
  t.same(decode(ok, 0), { alg: 'ES256', typ: 'rollback-receipt+jwt', kid: w.alice.priv.kid });
  t.same(decode(ok, 1), { v: 1, iss: 'alice', aud: 'bob', iat: NOW, jti, status: 'accepted' });
  const no = sealReceipt(w.alice.signer, 'bob', jti, { status: 'refused', code: 'unknown_set' }, { iat: NOW });
  t.same(decode(no, 1), { v: 1, iss: 'alice', aud: 'bob', iat: NOW, jti, status: 'refused', code: 'unknown_set' });
  t.equal(kindOfTyp('rollback-receipt+jwt'), 'receipt');
});

// covers: req-receipt-code
t.test('schema: code if and only if refused; closed', async (t) => {
  const base = { v: 1, iss: 'alice', aud: 'bob', iat: NOW, jti: newJti() };
  t.doesNotThrow(() => schemas.validate('receipt', { ...base, status: 'accepted' }));
  t.doesNotThrow(() => schemas.validate('receipt', { ...base, status: 'refused', code: 'no_dependency' }));
  t.doesNotThrow(() => schemas.validate('receipt', { ...base, status: 'refused', code: 'from_the_future' }), 'a code this node does not know');
  for (const [what, p] of [
    ['refused without code', { ...base, status: 'refused' }],
    ['accepted with code', { ...base, status: 'accepted', code: 'no_dependency' }],
    ['unknown status', { ...base, status: 'delivered' }],
    ['code not in the registry syntax', { ...base, status: 'refused', code: 'No-Dependency' }],
    ['no jti', { v: 1, iss: 'alice', aud: 'bob', iat: NOW, status: 'accepted' }],
    ['no aud', { v: 1, iss: 'alice', iat: NOW, jti: base.jti, status: 'accepted' }],
    ['extra member', { ...base, status: 'accepted', detail: 'x' }],
  ] as const) {
    t.throws(() => schemas.validate('receipt', p), { code: 'schema_invalid' }, what);
  }
});

// covers: req-receipt-match
t.test('verifyReceipt: the receiver\'s current key, for this sender and this jti', async (t) => {
  const w = world();
  const jti = newJti();
  const expect = { from: 'alice', jti };
  t.same(await w.intake.verifyReceipt(sealReceipt(w.alice.signer, 'bob', jti, { status: 'accepted' }), expect), { status: 'accepted' });
  t.same(await w.intake.verifyReceipt(sealReceipt(w.alice.signer, 'bob', jti, { status: 'refused', code: 'unknown_set' }), expect),
    { status: 'refused', code: 'unknown_set' });
  t.same(await w.intake.verifyReceipt(sealReceipt(w.carol.signer, 'bob', jti, { status: 'accepted' }), { from: 'carol', jti }), { status: 'accepted' }, 'Ed25519');
  t.same(await w.intake.verifyReceipt(sealReceipt(w.alice.signer, 'bob', jti, { status: 'accepted' }, { iat: 1 }), expect), { status: 'accepted' }, 'no freshness check');

  const refused = async (what: string, compact: string, code: string, e = expect): Promise<void> => {
    await t.rejects(w.intake.verifyReceipt(compact, e), { code }, what);
  };
  await refused('a forger\'s key', sealReceipt(makeKey('alice').signer, 'bob', jti, { status: 'accepted' }), 'kid_unknown');
  await refused('another jti', sealReceipt(w.alice.signer, 'bob', newJti(), { status: 'accepted' }), 'statement_invalid');
  await refused('another sender', sealReceipt(w.alice.signer, 'dave', jti, { status: 'accepted' }), 'audience_mismatch');
  await refused('another trusted peer', sealReceipt(w.carol.signer, 'bob', jti, { status: 'accepted' }), 'issuer_mismatch');
  await refused('another peer\'s key claiming the receiver', sealReceipt({ ...w.carol.signer, iss: 'alice', sign: w.carol.signer.sign }, 'bob', jti, { status: 'accepted' }), 'issuer_mismatch');
  await refused('a statement of another kind', sealStatement(w.alice.signer, 'cancellation', { set }), 'typ_mismatch');
  await refused('an envelope', sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { jti }).compact, 'typ_mismatch');
  const tampered = sealReceipt(w.alice.signer, 'bob', jti, { status: 'refused', code: 'unknown_set' }).split('.');
  tampered[1] = Buffer.from(JSON.stringify({ ...decode(tampered.join('.'), 1), status: 'accepted', code: undefined })).toString('base64url');
  await refused('status changed after signing', tampered.join('.'), 'signature_invalid');
  await refused('not a JWS', 'receipt', 'malformed');

  const trust = new TrustStore({ peers: [{ id: 'alice', jwks: { keys: [w.alice.pub] }, retired: [w.alice.priv.kid] }] });
  const retired = new Intake({ self: 'bob', trust, schemas, replay: new ReplayCache(), clock: () => NOW * 1000 });
  await t.rejects(retired.verifyReceipt(sealReceipt(w.alice.signer, 'bob', jti, { status: 'accepted' }), expect), { code: 'kid_unknown' },
    'a retired key signs no receipt: receipts are fresh, like envelopes');
});

// covers: req-receipt-sign
t.test('intake: only refusals after signature, iss and aud name the sender (signable)', async (t) => {
  const w = world();
  const env = (over: Partial<{ aud: string; iat: number; jti: string }> = {}) =>
    sealEnvelope(w.alice.signer, 'dependency', over.aud ?? 'bob', depBody, { iat: over.iat ?? NOW, ...(over.jti ? { jti: over.jti } : {}) }).compact;
  const refusal = async (compact: string): Promise<ProtocolError> => {
    try { await w.intake.accept(compact); } catch (e) { return e as ProtocolError; }
    throw new Error('accepted');
  };
  const jti = newJti();
  const ok = await w.intake.accept(env({ jti }));
  t.equal(ok.peer, 'alice');
  let e = await refusal(env({ jti }));
  t.match(e, { code: 'replayed', jti, peer: 'alice' }, 'replayed: authenticated');
  e = await refusal(env({ iat: NOW + 3600 }));
  t.match(e, { code: 'iat_future', peer: 'alice' }, 'iat_future: authenticated');
  e = await refusal(env({ aud: 'dave' }));
  t.match(e, { code: 'audience_mismatch', peer: null }, 'audience_mismatch: not for this node, not signable');
  const forged = sealEnvelope(makeKey('alice', 'ES256', w.alice.priv.kid).signer, 'dependency', 'bob', depBody, { iat: NOW }).compact;
  e = await refusal(forged);
  t.match(e, { code: 'signature_invalid', jti: null, peer: null }, 'signature_invalid: unauthenticated');
  const wrongIss = sealEnvelope({ ...w.alice.signer, iss: 'carol', sign: w.alice.signer.sign }, 'dependency', 'bob', depBody, { iat: NOW }).compact;
  e = await refusal(wrongIss);
  t.match(e, { code: 'issuer_mismatch', peer: null }, 'issuer_mismatch: not signable');
  e = await refusal(sealEnvelope(w.alice.signer, 'dependency', 'bob', { ...depBody, extra: 1 }, { iat: NOW }).compact);
  t.match(e, { code: 'schema_invalid', peer: null }, 'schema_invalid (before iss): not signable');
});
