import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, importJWK, type JWK } from 'jose';
import {
  createSigner, signJws, sealEnvelope, sealStatement, newJti, keygen, loadSigner, loadJwks, TrustStore, Intake, ReplayCache,
  parseCompact, parseHeader,
} from '../../src/envelope/index.js';
import { NOW, depBody, makeKey, schemas, set } from './helpers.js';

for (const alg of ['ES256', 'Ed25519'] as const) {
  t.test(`${alg}: sync signer <-> jose <-> intake`, async (t) => {
    const k = makeKey('alice', alg);
    const trust = new TrustStore({ peers: [{ id: 'alice', jwks: { keys: [k.pub] } }] });
    const intake = new Intake({ self: 'bob', trust, schemas, replay: new ReplayCache(), clock: () => NOW * 1000 });
    // sync signer -> jose
    const sealed = sealEnvelope(k.signer, 'dependency', 'bob', depBody, { iat: NOW });
    const pub = await importJWK(k.pub as JWK, alg);
    const v = await compactVerify(sealed.compact, pub, { algorithms: [alg] });
    t.same(v.protectedHeader, { alg, typ: 'rollback-dependency+jwt', kid: k.priv.kid });
    t.equal(JSON.parse(Buffer.from(v.payload).toString()).jti, sealed.jti);
    // sync signer -> intake
    t.equal((await intake.accept(sealed.compact)).peer, 'alice');
    // jose -> intake
    const payload = { v: 1, iss: 'alice', aud: 'bob', iat: NOW, jti: newJti(), ...depBody };
    const priv = (await importJWK(k.priv as unknown as JWK, alg)) as CryptoKey;
    const compact = await signJws({ kid: k.priv.kid, alg, key: priv }, 'rollback-dependency+jwt', payload);
    t.same(parseHeader(parseCompact(compact).header), { alg, typ: 'rollback-dependency+jwt', kid: k.priv.kid });
    const r = await intake.accept(compact, { expected: 'dependency' });
    t.same(r.payload, payload);
    t.not(r.payload, payload);
    // statements
    const s = sealStatement(k.signer, 'cancellation', { set }, { iat: NOW });
    t.ok(await compactVerify(s, pub, { algorithms: [alg] }));
    t.same((await intake.verifyStatement(s, 'cancellation', set)).payload, { v: 1, iss: 'alice', iat: NOW, set });
  });
}

// covers: req-jti
t.test('defaults and guards', async (t) => {
  const k = makeKey('alice');
  const before = Math.floor(Date.now() / 1000);
  const e = sealEnvelope(k.signer, 'dependency', 'bob', depBody);
  t.ok(e.iat >= before && e.iat <= before + 1);
  t.match(e.jti, /^[A-Za-z0-9_-]{22}$/);
  t.notOk(sealEnvelope(k.signer, 'dependency', 'bob', depBody, { jti: 'fixed-jti-000000001' }).compact === e.compact);
  const st = sealStatement(k.signer, 'cancellation', { set });
  t.ok(JSON.parse(parseCompact(st).payload.toString()).iat >= before);
  for (const c of ['v', 'iss', 'aud', 'iat', 'jti']) {
    t.throws(() => sealEnvelope(k.signer, 'dependency', 'bob', { ...depBody, [c]: 1 }), TypeError);
  }
  t.throws(() => sealStatement(k.signer, 'ack', { iss: 'x' }), TypeError);
  t.not(newJti(), newJti());
});

t.test('createSigner inputs', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const s = createSigner('carol', privateKey, { kid: 'c1', alg: 'Ed25519' });
  t.equal(s.kid, 'c1');
  t.equal(s.alg, 'Ed25519');
  t.equal(s.iss, 'carol');
  t.throws(() => createSigner('carol', publicKey, { kid: 'c1', alg: 'Ed25519' }), /private key/);
  t.throws(() => createSigner('carol', privateKey, { alg: 'Ed25519' }), /kid/);
  t.throws(() => createSigner('carol', privateKey, { kid: 'c1', alg: 'EdDSA' as never }), /alg/);
  t.throws(() => createSigner('carol', privateKey, { kid: 'c1', alg: 'ES256' }), /does not match/);
  const ec = makeKey('alice');
  t.throws(() => createSigner('alice', { ...ec.priv, alg: 'Ed25519' }), /does not match/);
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  t.throws(() => createSigner('alice', p384, { kid: 'x', alg: 'ES256' }), /does not match/);
  t.equal(createSigner('alice', ec.priv, { kid: 'override' }).kid, 'override');
});

t.test('keygen', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'marp-keygen-'));
  const privatePath = join(dir, 'node.jwk.json');
  const publicPath = join(dir, 'node.jwks.json');
  const k = await keygen({ privatePath, publicPath });
  t.equal(k.privateJwk.alg, 'ES256');
  t.equal(k.privateJwk.crv, 'P-256');
  t.match(k.privateJwk.kid, /^[A-Za-z0-9_-]{43}$/, 'RFC 7638 thumbprint');
  t.equal(statSync(privatePath).mode & 0o777, 0o600);
  t.notOk('d' in k.publicJwks.keys[0]!);
  t.same(loadJwks(publicPath), k.publicJwks);
  t.same(JSON.parse(readFileSync(privatePath, 'utf8')), k.privateJwk);
  await t.rejects(keygen({ privatePath }), { code: 'EEXIST' }, 'never overwrites a key by default');
  const ed = await keygen({ alg: 'Ed25519', kid: 'carol-2026', privatePath, publicPath, force: true });
  t.equal(ed.privateJwk.kid, 'carol-2026');
  t.equal(ed.privateJwk.crv, 'Ed25519');
  await t.rejects(keygen({ alg: 'EdDSA' as never }), TypeError);
  const signer = loadSigner('carol', privatePath);
  const trust = new TrustStore({ peers: [{ id: 'carol', jwks: loadJwks(publicPath) as never }] });
  const intake = new Intake({ self: 'bob', trust, schemas, replay: new ReplayCache(), clock: () => NOW * 1000 });
  t.ok(await intake.accept(sealEnvelope(signer, 'dependency', 'bob', depBody, { iat: NOW }).compact));
});
