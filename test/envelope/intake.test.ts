import t from 'tap';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { ProtocolError } from '../../src/errors.js';
import {
  Intake, ReplayCache, RateLimiter, sealEnvelope, sealStatement, verifySignature, peekJti, errorFrame, receiptFrame,
  problemOf, toProtocolError, Schemas,
} from '../../src/envelope/index.js';
import { NOW, ackBody, depBody, set, world, schemas } from './helpers.js';

// covers: req-statement-verify
t.test('accepted result of each embedding kind', async (t) => {
  const w = world();
  const a1 = sealStatement(w.carol.signer, 'ack', ackBody('c1'), { iat: NOW });
  const a2 = sealStatement(w.dave.signer, 'ack', { ...ackBody('d1'), parent: { agent: 'carol', execution: 'c1' } }, { iat: NOW });
  const rep = sealEnvelope(w.carol.signer, 'report', 'bob', { set, member: 'c1', acks: [a1, a2] }, { iat: NOW });
  const r = await w.intake.accept(rep.compact, { expected: 'report' });
  t.equal(r.kind, 'report');
  t.equal(r.peer, 'carol');
  t.equal(r.kid, w.carol.priv.kid);
  t.equal(r.iat, NOW);
  t.same(r.statements.map((s) => [s.kind, s.typ, s.iss, s.compact]), [['ack', 'rollback-ack+jwt', 'carol', a1], ['ack', 'rollback-ack+jwt', 'dave', a2]]);
  t.equal(r.statements[1]!.payload['member'], 'd1');
  const dep = await w.intake.accept(sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact);
  t.same(dep.statements, []);
  const bytes = Buffer.from(sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact);
  t.equal((await w.intake.accept(new Uint8Array(bytes))).kind, 'dependency', 'raw body accepted');
});

// covers: req-intake-order req-error-codes req-envelope-iss req-envelope-fresh req-cddl-conform
t.test('each envelope step, in order', async (t) => {
  const w = world({ maxBytes: 2048 });
  const e = (over: object = {}, signer = w.alice.signer, kind: 'dependency' | 'report' = 'dependency') =>
    sealEnvelope(signer, kind, 'bob', { ...depBody, ...over }, { iat: NOW }).compact;
  await t.rejects(w.intake.accept('x'.repeat(2049)), { code: 'too_large' });
  await t.rejects(w.intake.accept(Buffer.alloc(2049)), { code: 'too_large' });
  await t.rejects(w.intake.accept('a.b'), { code: 'malformed' });
  await t.rejects(w.intake.accept(`é${e()}`), { code: 'malformed' }, 'non-ASCII');
  await t.rejects(w.intake.accept(e(), { expected: 'request' }), { code: 'typ_mismatch' });
  await t.rejects(w.intake.accept(sealEnvelope({ ...w.alice.signer, iss: 'carol', sign: w.alice.signer.sign }, 'dependency', 'bob', depBody, { iat: NOW }).compact), { code: 'issuer_mismatch' });
  await t.rejects(w.intake.accept(sealEnvelope(w.alice.signer, 'dependency', 'carol', depBody, { iat: NOW }).compact), { code: 'audience_mismatch' });
  await t.rejects(w.intake.accept(sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW - 331 }).compact), { code: 'iat_stale' });
  await t.rejects(w.intake.accept(sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW + 31 }).compact), { code: 'iat_future' });
  await t.rejects(w.intake.accept(e({ producer: { execution: 'p1' } })), { code: 'schema_invalid' });
  // The failing step remembers nothing: a refused envelope does not enter the replay cache.
  const fut = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW + 40 });
  await t.rejects(w.intake.accept(fut.compact), { code: 'iat_future' });
  w.clock.set(NOW + 15);
  t.ok(await w.intake.accept(fut.compact), 'accepted later: the refusal left no trace');
});

// covers: req-statement-retired-keys
t.test('retired keys: statements yes, envelopes no', async (t) => {
  const w = world();
  const { TrustStore } = await import('../../src/envelope/index.js');
  const trust = new TrustStore({ peers: [{ id: 'alice', jwks: { keys: [w.alice.pub] }, retired: [w.alice.priv.kid] }] });
  const intake = new Intake({ self: 'bob', trust, schemas, replay: new ReplayCache(), clock: () => NOW * 1000 });
  await t.rejects(intake.accept(sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact), { code: 'kid_unknown' });
  const rec = sealStatement(w.alice.signer, 'cancellation', { set }, { iat: 1 });
  t.equal((await intake.verifyStatement(rec, ['cancellation'])).iss, 'alice', 'offline verification, any age, no set given');
});

// covers: req-statement-verify
t.test('statements are checked against the envelope', async (t) => {
  const w = world();
  const canc = sealStatement(w.alice.signer, 'cancellation', { set }, { iat: NOW });
  const other = sealStatement(w.alice.signer, 'cancellation', { set: { ...set, id: 'set-2' } }, { iat: NOW });
  const cancel = (authority: string) => sealEnvelope(w.carol.signer, 'cancel', 'bob', { set, member: 'm', authority }, { iat: NOW }).compact;
  t.equal((await w.intake.accept(cancel(canc))).statements[0]!.iss, 'alice');
  const err = await w.intake.accept(cancel(other)).catch((e: ProtocolError) => e);
  t.match(err, { code: 'statement_invalid', message: /authority: set differs/ });
  const bad = await w.intake.accept(cancel(canc.slice(0, -3) + 'AAA')).catch((e: ProtocolError) => e);
  t.match(bad, { code: 'statement_invalid', message: /authority: (signature_invalid|malformed)/ });
  t.type((bad as ProtocolError).cause, ProtocolError);
  const ack = sealStatement(w.carol.signer, 'ack', ackBody(), { iat: NOW });
  const rep = sealEnvelope(w.carol.signer, 'report', 'bob', { set, member: 'c1', acks: [ack, canc] }, { iat: NOW }).compact;
  await t.rejects(w.intake.accept(rep), { code: 'statement_invalid', message: /acks\[1\]: typ_mismatch/ });
  // A non-protocol failure inside is reported as statement_invalid (internal), never leaked.
  const boom = { validate(kind: string, p: unknown) { if (kind === 'cancellation') throw new Error('boom'); schemas.validate(kind as never, p); } } as unknown as Schemas;
  const i2 = new Intake({ self: 'bob', trust: w.trust, schemas: boom, replay: new ReplayCache(), clock: () => NOW * 1000 });
  await t.rejects(i2.accept(cancel(canc)), { code: 'statement_invalid', message: /internal/ });
});

// covers: req-sec-rate-limit-key
t.test('rate limits: per source before verification, per verified peer after', async (t) => {
  const w = world({
    sourceLimiter: new RateLimiter({ ratePerSecond: 1, burst: 2 }),
    peerLimiter: new RateLimiter({ ratePerSecond: 1, burst: 2 }),
  });
  await t.rejects(w.intake.accept('junk', { source: '10.0.0.1' }), { code: 'malformed' });
  await t.rejects(w.intake.accept('junk', { source: '10.0.0.1' }), { code: 'malformed' });
  await t.rejects(w.intake.accept('junk', { source: '10.0.0.1' }), { code: 'rate_limited' }, 'garbage exhausts its source');
  const env = () => sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact;
  t.ok(await w.intake.accept(env(), { source: '10.0.0.2' }));
  t.ok(await w.intake.accept(env(), { source: '10.0.0.3' }));
  await t.rejects(w.intake.accept(env(), { source: '10.0.0.4' }), { code: 'rate_limited' }, 'peer alice limited across sources');
  t.ok(await w.intake.accept(sealEnvelope(w.carol.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact), 'carol unaffected');
  // An unverified claim to be carol does not consume carol's tokens.
  const real = sealEnvelope(w.carol.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact;
  const forged = real.slice(0, real.lastIndexOf('.') + 1) + Buffer.alloc(64, 7).toString('base64url');
  for (let i = 0; i < 3; i++) await t.rejects(w.intake.accept(forged), { code: 'signature_invalid' });
  t.ok(await w.intake.accept(sealEnvelope(w.carol.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact), 'carol still has a token');
});

t.test('verifySignature', async (t) => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.from('x');
  t.equal(await verifySignature('ES256', data, ec.publicKey, Buffer.alloc(63)), false);
  t.equal(await verifySignature('ES256', data, ec.publicKey, Buffer.alloc(64)), false);
  t.equal(await verifySignature('Ed25519', data, createPublicKey(ec.privateKey), Buffer.alloc(64)), false, 'key/alg mismatch is an error, reported as false');
});

t.test('frames and problems', async (t) => {
  const w = world();
  const env = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW });
  t.equal(peekJti(env.compact), env.jti);
  t.equal(peekJti('a.b'), null);
  t.equal(peekJti('abc'), null);
  t.equal(peekJti(`a.${Buffer.from('{"jti":"short"}').toString('base64url')}.c`), null);
  t.equal(peekJti(`a.${Buffer.from('{"jti":5}').toString('base64url')}.c`), null);
  t.equal(peekJti(`a.${Buffer.from('[').toString('base64url')}.c`), null);
  t.equal(peekJti(`a.${Buffer.from('null').toString('base64url')}.c`), null);
  t.equal(peekJti(env.compact, 10), null);
  t.equal(peekJti(5 as never), null);
  const err = await w.intake.accept(sealEnvelope(w.alice.signer, 'dependency', 'carol', depBody, { iat: NOW }).compact).catch((e) => e);
  t.same(errorFrame(err, 'j'), { type: 'error', jti: 'j', code: 'audience_mismatch', detail: 'aud is not this node' });
  t.same(errorFrame(new Error('secret'), null), { type: 'error', jti: null, code: 'internal', detail: 'internal error' });
  t.same(receiptFrame('j'), { type: 'receipt', jti: 'j' });
  const p = problemOf(err);
  t.equal(p.status, 421);
  t.same(p.body, { type: 'urn:ietf:params:rollback:error:audience_mismatch', title: 'aud is not this node', status: 421, code: 'audience_mismatch', detail: 'aud is not this node' });
  t.equal(problemOf('x').status, 500);
  t.equal(errorFrame(new ProtocolError('malformed', 'm'.repeat(5000)), null).detail.length, 1024);
  t.equal(toProtocolError(err), err);
});

// covers: req-ws-error
t.test('a refusal names the jti only once the signature verified', async (t) => {
  const w = world();
  const good = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW - 400 });
  await t.rejects(w.intake.accept(good.compact), { code: 'iat_stale', jti: good.jti }, 'signed: jti authentic');
  const [h, p] = good.compact.split('.');
  const forged = `${h}.${p}.${Buffer.alloc(64).toString('base64url')}`;
  await t.rejects(w.intake.accept(forged), { code: 'signature_invalid', jti: null }, 'unverified: no jti');
  await t.rejects(w.intake.accept('a.b.c'), { code: 'malformed', jti: null });
});

// covers: req-intake-order
t.test('parsed headers are reused by their encoded form, in a bounded table; refusals are not cached', async (t) => {
  const w = world();
  const e = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact;
  const [, payload, sig] = e.split('.');
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  // More distinct headers than the table holds: each still parsed and judged on its own.
  for (let i = 0; i < 1100; i++) {
    await t.rejects(w.intake.accept(`${b64({ alg: 'ES256', typ: 'rollback-dependency+jwt', kid: `k${i}` })}.${payload}.${sig}`), { code: 'kid_unknown' });
  }
  const bad = `${b64({ alg: 'ES256', typ: 'rollback-dependency+jwt', kid: 'k', crit: ['x'] })}.${payload}.${sig}`;
  for (let i = 0; i < 2; i++) await t.rejects(w.intake.accept(bad), { code: 'header_invalid' }, 'a refused header is refused every time');
  t.equal((await w.intake.accept(e)).peer, 'alice', 'a good header after the table started over');
  const again = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW });
  t.equal((await w.intake.accept(again.compact)).jti, again.jti, 'and again from the table');
});
