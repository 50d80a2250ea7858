// Edges of the intake pipeline found by mutation testing (interop-tests/report/mutation.md):
// boundaries, the parts of a condition no other test isolates, and the diagnostics
// carried in problem details.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import {
  Intake, ReplayCache, checkAlg, checkTyp, decodeBase64url, isBase64url, parseCompact, parseHeader, peekJti,
  sealEnvelope, sealStatement, verifySignature,
} from '../../src/envelope/index.js';
import { NOW, depBody, schemas, set, world } from './helpers.js';

const err = (fn: () => unknown): { code?: string; message: string } => {
  try { fn(); } catch (e) { return e as { code?: string; message: string }; }
  return { message: '(no error)' };
};
const rejection = async (p: Promise<unknown>): Promise<{ code?: string; message: string }> =>
  p.then(() => ({ message: '(accepted)' }), (e: { code?: string; message: string }) => e);
const b64 = (x: unknown): string => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url');

t.test('base64url: spare bits of a two-character tail', async (t) => {
  t.equal(isBase64url('QQ'), true, 'A: spare bits zero');
  t.equal(isBase64url('QE'), false, 'E sets a spare bit that the three-character mask would not see');
  t.equal(isBase64url('QUE'), true);
  t.equal(isBase64url('QUF'), false);
  t.match(err(() => decodeBase64url('a')).message, /^part is not canonical base64url$/);
});

t.test('compact: diagnostics name the failing part', async (t) => {
  t.match(err(() => parseCompact(7)).message, /^not a string$/);
  for (const s of ['aGk.aGk.aGk.aGk', 'aGk.aGk', 'aGk', '.aGk.aGk.']) {
    t.match(err(() => parseCompact(s)), { code: 'malformed', message: /^expected three dot-separated parts$/ }, s);
  }
  t.match(err(() => parseCompact('a.aGk.aGk')).message, /^header is not canonical base64url$/);
  t.match(err(() => parseCompact('aGk.a.aGk')).message, /^payload is not canonical base64url$/);
  t.match(err(() => parseCompact('aGk.aGk.a')).message, /^signature is not canonical base64url$/);
});

t.test('header: diagnostics, truncated untrusted names', async (t) => {
  const h = (o: unknown): Uint8Array => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o));
  t.match(err(() => parseHeader(h('['))).message, /^protected header: not JSON$/);
  const long = 'x'.repeat(40);
  t.equal(err(() => parseHeader(h({ alg: 'ES256', typ: 't', kid: 'k', [long]: 1 }))).message, `header member "${'x'.repeat(32)}" not allowed`);
  t.equal(err(() => parseHeader(h({ alg: 'ES256', typ: 't', crit: 'k' }))).message, 'header member "crit" not allowed', 'an unknown member is named even when kid is missing');
  t.equal(err(() => parseHeader(h({ alg: 'ES256', typ: 't' }))).message, 'header needs exactly alg, typ and kid as strings');
  t.equal(err(() => checkAlg(long)).message, `alg "${'x'.repeat(32)}" not supported`);
  t.equal(err(() => checkTyp('y'.repeat(70), 'envelope')).message, `typ "${'y'.repeat(64)}" not expected here`);
  t.equal(err(() => checkTyp('rollback-cancel+jwt', 'cancellation')).code, 'typ_mismatch', 'cancel is not cancellation (no substring match)');
  t.equal(err(() => checkTyp('rollback-record+jwt', 'followup')).code, 'typ_mismatch');
});

t.test('verifySignature: a key that cannot verify that alg is false, not an exception or undefined', async (t) => {
  const ed = generateKeyPairSync('ed25519');
  t.equal(await verifySignature('ES256', Buffer.from('x'), ed.publicKey, Buffer.alloc(64)), false);
});

t.test('intake: boundaries and diagnostics', async (t) => {
  const w = world();
  const env = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact;
  const exact = new Intake({ self: 'bob', trust: w.trust, schemas, replay: new ReplayCache(), clock: () => NOW * 1000, maxBytes: env.length });
  t.ok(await exact.accept(env, { source: 'no-limiter-configured' }), 'exactly maxBytes is accepted; a source without a source limiter is fine');
  t.match(await rejection(exact.accept(`${env}x`)), { code: 'too_large', message: `larger than ${env.length} bytes` });
  const stale = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW - 400 }).compact;
  t.match(await rejection(w.intake.accept(stale)), { code: 'iat_stale', message: 'iat outside the freshness window' });
  const future = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW + 400 }).compact;
  t.match(await rejection(w.intake.accept(future)), { code: 'iat_future', message: 'iat later than now plus skew' });
  const forged = sealEnvelope({ ...w.alice.signer, iss: 'carol' }, 'dependency', 'bob', depBody, { iat: NOW }).compact;
  t.match(await rejection(w.intake.accept(forged)), { code: 'issuer_mismatch', message: 'iss is not the owner of the signing key' });
  const v2 = w.alice.signer.sign('rollback-dependency+jwt', { v: 2, iss: 'alice', aud: 'bob', iat: NOW, jti: 'abcdefghijklmnopq', ...depBody });
  t.match(await rejection(w.intake.accept(v2)), { code: 'version_unsupported', message: 'v must be 1' });
  const [h, , s] = env.split('.');
  t.match(await rejection(w.intake.accept(`${h}.${b64('[1]')}.${s}`)), { code: 'signature_invalid' });
  const unknownKid = `${b64({ alg: 'ES256', typ: 'rollback-dependency+jwt', kid: 'nobody' })}.${env.split('.')[1]}.${s}`;
  t.match(await rejection(w.intake.accept(unknownKid)), { code: 'kid_unknown', message: 'kid names no usable key' });
  const pinned = `${b64({ alg: 'Ed25519', typ: 'rollback-dependency+jwt', kid: w.alice.priv.kid })}.${env.split('.')[1]}.${s}`;
  t.match(await rejection(w.intake.accept(pinned)), { code: 'alg_mismatch', message: 'key is pinned to ES256' });
});

t.test('statements: the set is compared by initiator and id', async (t) => {
  const w = world();
  const other = sealStatement(w.alice.signer, 'cancellation', { set: { initiator: 'carol', id: set.id } }, { iat: NOW });
  const cancel = sealEnvelope(w.carol.signer, 'cancel', 'bob', { set, member: 'm', authority: other }, { iat: NOW }).compact;
  t.match(await rejection(w.intake.accept(cancel)), { code: 'statement_invalid', message: /authority: set differs/ });
  t.match(await rejection(w.intake.verifyStatement('x', 'ack')), { code: 'statement_invalid', message: /^statement: malformed/ });
});

t.test('peekJti: only a well-formed jti, within the size limit', async (t) => {
  const mk = (payload: unknown): string => `${b64({ alg: 'ES256' })}.${b64(payload)}.${b64('sig')}`;
  const j = 'abcdefghijklmnop';
  t.equal(peekJti(mk({ jti: j })), j);
  t.equal(peekJti(mk({ jti: `!${j}` })), null, 'anchored at the start');
  t.equal(peekJti(mk({ jti: `${j}!` })), null, 'anchored at the end');
  t.equal(peekJti(mk({ jti: 12345678901234567 })), null, 'a number is not a jti');
  const exact = mk({ jti: j });
  t.equal(peekJti(exact, exact.length), j, 'exactly maxBytes');
  t.equal(peekJti(exact, exact.length - 1), null);
  t.equal(peekJti('abc.def'), null);
  t.equal(peekJti('abc'), null);
});
