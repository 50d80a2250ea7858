/**
 * Generates interop-tests/vectors/envelopes.json: valid envelopes of every
 * kind and invalid ones, each with the expected intake result. Keys are FIXED
 * test keys under interop-tests/vectors/keys/ (generated once if missing, then
 * committed); iat and jti are fixed, ES256 signatures are randomised (the
 * output is committed). Run: node --import tsx scripts/gen-vectors.ts
 */
import { createPrivateKey, createHmac, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calculateJwkThumbprint, CompactSign } from 'jose';
import type { PrivateJwk } from '../src/envelope/sync-signer.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'interop-tests', 'vectors');
const keyDir = join(outDir, 'keys');
mkdirSync(keyDir, { recursive: true });

const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z
const IAT = NOW - 10;
const SELF = 'bob';
const DIGEST = `sha-256:${'ab'.repeat(32)}`;

type Alg = 'ES256' | 'Ed25519';
interface Key { name: string; jwk: PrivateJwk; kid: string; alg: Alg }

async function key(name: string, alg: Alg): Promise<Key> {
  const path = join(keyDir, `${name}.private.jwk.json`);
  if (!existsSync(path)) {
    const { privateKey } = alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('ed25519');
    const jwk = privateKey.export({ format: 'jwk' }) as Record<string, string>;
    const kid = `${name}-${(await calculateJwkThumbprint(jwk as never, 'sha256')).slice(0, 16)}`;
    writeFileSync(path, `${JSON.stringify({ ...jwk, kid, alg, use: 'sig' }, null, 2)}\n`);
  }
  const jwk = JSON.parse(readFileSync(path, 'utf8')) as PrivateJwk;
  return { name, jwk, kid: jwk.kid, alg: jwk.alg as Alg };
}

const pub = (k: Key): Record<string, unknown> => {
  const { d: _d, ...rest } = k.jwk;
  return rest;
};

const alice = await key('alice', 'ES256');
const aliceOld = await key('alice-retired', 'ES256');
const carol = await key('carol', 'Ed25519');
const dave = await key('dave', 'ES256');
const bob = await key('bob', 'ES256');
const mallory = await key('mallory', 'ES256'); // not in the trust store

const trust = {
  self: SELF,
  peers: [
    { id: 'alice', jwks: { keys: [pub(alice), pub(aliceOld)] }, retired: [aliceOld.kid] },
    { id: 'bob', jwks: { keys: [pub(bob)] } },
    { id: 'carol', jwks: { keys: [pub(carol)] } },
    { id: 'dave', jwks: { keys: [pub(dave)] } },
  ],
};
writeFileSync(join(outDir, 'trust.json'), `${JSON.stringify(trust, null, 2)}\n`);
for (const k of [alice, aliceOld, carol, dave, bob, mallory]) {
  writeFileSync(join(keyDir, `${k.name}.public.jwks.json`), `${JSON.stringify({ keys: [pub(k)] }, null, 2)}\n`);
}

// ---- low-level signing of arbitrary header / payload text ----
const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64url');
const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

function signRaw(k: Key, header: unknown, payload: unknown): string {
  const input = `${b64(text(header))}.${b64(text(payload))}`;
  const alg = k.alg === 'ES256' ? 'sha256' : null;
  const sig = cryptoSign(alg, Buffer.from(input), { key: createPrivateKey({ key: k.jwk as never, format: 'jwk' }), dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}
const hdr = (k: Key, typ: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ alg: k.alg, typ, kid: k.kid, ...extra });
const typ = (kind: string): string => `rollback-${kind}+jwt`;
const sign = (k: Key, kind: string, payload: unknown): string => signRaw(k, hdr(k, typ(kind)), payload);

let counter = 0;
const jti = (): string => `vector-jti-${String(++counter).padStart(6, '0')}`;
const claims = (iss: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ v: 1, iss, aud: SELF, iat: IAT, jti: jti(), ...extra });
const stmt = (iss: string, extra: Record<string, unknown>): Record<string, unknown> => ({ v: 1, iss, iat: IAT - 100, ...extra });

const set = { initiator: 'alice', id: 'set-0001' };
const cause = { agent: 'carol', execution: 'exec-a1', class: 'eval_failure', at: IAT - 200 };
const bodies = {
  dependency: { consumer: { execution: 'exec-c1', checkpoint: 'ck-c1', seq: 3, digest: DIGEST }, producer: { execution: 'exec-b1', checkpoint: 'ck-b1', seq: 7 } },
  failure: { execution: 'exec-b1', checkpoint: { checkpoint: 'ck-b1', seq: 7 }, class: 'quality_regression', detail: 'output failed evaluation' },
  request: { set, cause, member: 'exec-b1', producer: { execution: 'exec-a1', checkpoint: 'ck-a1', seq: 2 }, hops: 8, budget: 30000 },
};
const ackBody = (member: string, parent: { agent: string; execution: string }, s = set): Record<string, unknown> => ({
  set: s, member, parent, status: 'rolled_back', target: { checkpoint: `ck-${member}`, seq: 1 },
  restored: { checkpoint: `ck-${member}`, seq: 1, digest: DIGEST },
});
const carolAck = sign(carol, 'ack', stmt('carol', ackBody('exec-c1', { agent: SELF, execution: 'exec-b1' })));
const daveAck = sign(dave, 'ack', stmt('dave', ackBody('exec-d1', { agent: 'carol', execution: 'exec-c1' })));
const cancellation = sign(alice, 'cancellation', stmt('alice', { set, detail: 'operator cancelled' }));
const recordBody = {
  index: 1, prev: null, set, cause, outcome: 'complete',
  members: [{ agent: 'alice', execution: 'exec-a1', status: 'rolled_back' },
    { agent: SELF, execution: 'exec-b1', status: 'rolled_back', ack: carolAck }],
};
const record = sign(alice, 'record', stmt('alice', recordBody));
const followup = sign(alice, 'followup', stmt('alice', {
  index: 2, prev: DIGEST, set, refers: DIGEST, outcome: 'complete',
  members: [{ agent: 'carol', execution: 'exec-c1', status: 'rolled_back', ack: carolAck }],
}));

interface Vector {
  name: string;
  description: string;
  envelope: string;
  expected_kind: string;
  now: number;
  expected: string;
  prior?: string[];
  options?: Record<string, number>;
}
const vectors: Vector[] = [];
const add = (name: string, description: string, envelope: string, expected: string, more: Partial<Vector> = {}): void => {
  vectors.push({ name, description, envelope, expected_kind: 'envelope', now: NOW, expected, ...more });
};
const ok = (name: string, description: string, envelope: string, more: Partial<Vector> = {}): void => add(name, description, envelope, 'accepted', more);

// ---- valid envelopes of every kind ----
ok('valid-dependency', 'dependency from alice (ES256)', sign(alice, 'dependency', claims('alice', bodies.dependency)));
ok('valid-dependency-endpoint', 'dependency on the dependency endpoint', sign(alice, 'dependency', claims('alice', bodies.dependency)), { expected_kind: 'dependency' });
ok('valid-failure-ed25519', 'failure from carol (Ed25519, RFC 9864 alg)', sign(carol, 'failure', claims('carol', bodies.failure)));
ok('valid-request', 'request from alice', sign(alice, 'request', claims('alice', bodies.request)), { expected_kind: 'request' });
ok('valid-report', 'report from carol carrying her ack and dave\'s ack', sign(carol, 'report', claims('carol', { set, member: 'exec-c1', acks: [carolAck, daveAck] })));
ok('valid-cancel', 'cancel from alice carrying her cancellation', sign(alice, 'cancel', claims('alice', { set, member: 'exec-b1', authority: cancellation })));
ok('valid-cancel-relayed', 'cancel relayed by carol carrying the initiator\'s cancellation', sign(carol, 'cancel', claims('carol', { set, member: 'exec-b1', authority: cancellation })));
ok('valid-outcome-record', 'outcome carrying a record', sign(alice, 'outcome', claims('alice', { set, record })));
ok('valid-outcome-followup', 'outcome carrying a follow-up record', sign(dave, 'outcome', claims('dave', { set, record: followup })));
ok('valid-outcome-retired-record', 'record signed with alice\'s retired key: statements verify with retired keys',
  sign(alice, 'outcome', claims('alice', { set, record: sign(aliceOld, 'record', stmt('alice', recordBody)) })));
ok('valid-ext', 'ext member with unknown contents is ignored', sign(alice, 'dependency', claims('alice', { ...bodies.dependency, ext: { 'x-anything': [1, { a: 2 }] } })));
ok('valid-iat-window-edge', 'iat exactly window (300 s) + skew (30 s) old', sign(alice, 'dependency', claims('alice', { ...bodies.dependency, iat: NOW - 330 })));
ok('valid-iat-future-edge', 'iat exactly skew (30 s) in the future', sign(alice, 'dependency', claims('alice', { ...bodies.dependency, iat: NOW + 30 })));
ok('valid-jose-signed', 'signed by jose CompactSign', await new CompactSign(Buffer.from(JSON.stringify(claims('alice', bodies.dependency))))
  .setProtectedHeader({ alg: 'ES256', typ: typ('dependency'), kid: alice.kid })
  .sign(createPrivateKey({ key: alice.jwk as never, format: 'jwk' })));

// ---- size and syntax ----
const good = sign(alice, 'dependency', claims('alice', bodies.dependency));
const [gh, gp, gs] = good.split('.') as [string, string, string];
add('too-large', 'payload larger than 64 KiB', sign(alice, 'dependency', claims('alice', { ...bodies.dependency, ext: { pad: 'x'.repeat(70_000) } })), 'too_large');
add('malformed-two-parts', 'only two parts', `${gh}.${gp}`, 'malformed');
add('malformed-four-parts', 'four parts (JWE-like)', `${good}.${gs}`, 'malformed');
add('malformed-padding', 'base64url with padding', `${gh}.${gp}.${gs}==`, 'malformed');
add('malformed-alphabet', 'standard base64 alphabet (+ and /) in the signature', `${gh}.${gp}.${gs.slice(0, -2)}+/`, 'malformed');
add('malformed-empty-signature', 'alg none style: empty signature part', `${b64(JSON.stringify({ alg: 'none', typ: typ('dependency'), kid: alice.kid }))}.${gp}.`, 'malformed');
add('malformed-trailing-bits', 'non-canonical base64url (non-zero trailing bits)', `${gh}.${gp}.${gs.slice(0, -1)}B`, 'malformed');
add('malformed-json-serialization', 'JWS JSON serialization instead of compact', JSON.stringify({ protected: gh, payload: gp, signature: gs }), 'malformed');

// ---- header ----
const dep = (): Record<string, unknown> => claims('alice', bodies.dependency);
add('header-not-json', 'protected header is not JSON', signRaw(alice, 'not json', dep()), 'header_invalid');
add('header-array', 'protected header is a JSON array', signRaw(alice, [1, 2], dep()), 'header_invalid');
add('header-duplicate', 'duplicate alg member in the header', signRaw(alice, `{"alg":"ES256","alg":"ES256","typ":"${typ('dependency')}","kid":"${alice.kid}"}`, dep()), 'header_invalid');
add('header-duplicate-escaped', 'duplicate kid written as "\\u006bid"', signRaw(alice, `{"alg":"ES256","typ":"${typ('dependency')}","kid":"${alice.kid}","\\u006bid":"${alice.kid}"}`, dep()), 'header_invalid');
for (const [member, value] of [['crit', ['b64']], ['b64', false], ['jku', 'https://attacker.example/jwks'], ['x5u', 'https://attacker.example/cert'],
  ['jwk', pub(mallory)], ['x5c', ['MIIB']], ['cty', 'JWT'], ['foo', 'bar']] as const) {
  add(`header-${member}`, `disallowed header member ${member}`, signRaw(alice, hdr(alice, typ('dependency'), { [member]: value }), dep()), 'header_invalid');
}
add('header-missing-kid', 'header without kid', signRaw(alice, { alg: 'ES256', typ: typ('dependency') }, dep()), 'header_invalid');
add('header-kid-number', 'kid is a number', signRaw(alice, { alg: 'ES256', typ: typ('dependency'), kid: 7 }, dep()), 'header_invalid');

// ---- algorithms ----
add('alg-none', 'alg none with a dummy signature', `${b64(JSON.stringify({ alg: 'none', typ: typ('dependency'), kid: alice.kid }))}.${gp}.${gs}`, 'alg_unsupported');
{
  const h = b64(JSON.stringify({ alg: 'HS256', typ: typ('dependency'), kid: alice.kid }));
  const secret = JSON.stringify(pub(alice));
  const mac = createHmac('sha256', secret).update(`${h}.${gp}`).digest('base64url');
  add('alg-confusion-hs256', 'HS256 MAC keyed with alice\'s public JWK (algorithm confusion)', `${h}.${gp}.${mac}`, 'alg_unsupported');
}
add('alg-eddsa', 'polymorphic EdDSA identifier (deprecated by RFC 9864)', signRaw(carol, { alg: 'EdDSA', typ: typ('failure'), kid: carol.kid }, claims('carol', bodies.failure)), 'alg_unsupported');
add('alg-rs256', 'RS256', `${b64(JSON.stringify({ alg: 'RS256', typ: typ('dependency'), kid: alice.kid }))}.${gp}.${gs}`, 'alg_unsupported');
add('alg-lowercase', 'es256 in lower case', `${b64(JSON.stringify({ alg: 'es256', typ: typ('dependency'), kid: alice.kid }))}.${gp}.${gs}`, 'alg_unsupported');

// ---- typ ----
add('typ-jwt', 'typ JWT', signRaw(alice, hdr(alice, 'JWT'), dep()), 'typ_mismatch');
add('typ-statement-on-envelope-endpoint', 'an ack statement sent as an envelope', carolAck, 'typ_mismatch');
add('typ-wrong-endpoint', 'dependency sent to the request endpoint', good, 'typ_mismatch', { expected_kind: 'request' });
add('typ-case', 'typ in different case', signRaw(alice, hdr(alice, 'Rollback-Dependency+JWT'), dep()), 'typ_mismatch');
add('typ-application-prefix', 'typ with application/ prefix', signRaw(alice, hdr(alice, 'application/rollback-dependency+jwt'), dep()), 'typ_mismatch');

// ---- keys ----
add('kid-unknown', 'kid of a key not in the trust store', sign(mallory, 'dependency', claims('alice', bodies.dependency)), 'kid_unknown');
add('kid-too-long', 'kid of 129 characters', signRaw(alice, { alg: 'ES256', typ: typ('dependency'), kid: 'k'.repeat(129) }, dep()), 'kid_unknown');
add('kid-retired-envelope', 'envelope signed with a retired key', sign(aliceOld, 'dependency', claims('alice', bodies.dependency)), 'kid_unknown');
add('alg-mismatch-es256-on-ed25519', 'ES256 header naming carol\'s Ed25519 key', signRaw({ ...alice, kid: carol.kid }, { alg: 'ES256', typ: typ('failure'), kid: carol.kid }, claims('carol', bodies.failure)), 'alg_mismatch');
add('alg-mismatch-ed25519-on-es256', 'Ed25519 header naming alice\'s ES256 key', signRaw({ ...carol, kid: alice.kid }, { alg: 'Ed25519', typ: typ('dependency'), kid: alice.kid }, dep()), 'alg_mismatch');

// ---- signature ----
{
  const sig = Buffer.from(gs, 'base64url');
  sig[10]! ^= 0x01;
  add('signature-forged', 'one bit of the signature flipped', `${gh}.${gp}.${sig.toString('base64url')}`, 'signature_invalid');
  add('signature-truncated', 'signature of 63 bytes', `${gh}.${gp}.${sig.subarray(0, 63).toString('base64url')}`, 'signature_invalid');
}
add('signature-other-peer-key', 'alice\'s kid, signed by dave\'s key', signRaw({ ...dave, kid: alice.kid }, hdr(alice, typ('dependency')), dep()), 'signature_invalid');
{
  const p2 = b64(JSON.stringify(claims('alice', { ...bodies.dependency, producer: { execution: 'exec-b1', checkpoint: 'ck-b1', seq: 1 } })));
  add('signature-payload-swapped', 'valid signature over another payload', `${gh}.${p2}.${gs}`, 'signature_invalid');
}

// ---- payload ----
add('payload-duplicate', 'duplicate aud member', signRaw(alice, hdr(alice, typ('dependency')), JSON.stringify(dep()).replace('"aud":"bob"', '"aud":"carol","aud":"bob"')), 'payload_invalid');
add('payload-duplicate-escaped', 'duplicate aud written as "\\u0061ud"', signRaw(alice, hdr(alice, typ('dependency')), JSON.stringify(dep()).replace('"aud":"bob"', '"aud":"carol","\\u0061ud":"bob"')), 'payload_invalid');
add('payload-duplicate-nested', 'duplicate member inside producer', signRaw(alice, hdr(alice, typ('dependency')), JSON.stringify(dep()).replace('"seq":7', '"seq":1,"seq":7')), 'payload_invalid');
add('payload-array', 'payload is a JSON array', signRaw(alice, hdr(alice, typ('dependency')), [dep()]), 'payload_invalid');
add('payload-not-json', 'payload is not JSON', signRaw(alice, hdr(alice, typ('dependency')), 'hello'), 'payload_invalid');
{
  const input = `${b64(JSON.stringify(hdr(alice, typ('dependency'))))}.${b64(Buffer.concat([Buffer.from('{"v":1,"iss":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]))}`;
  const sig = cryptoSign('sha256', Buffer.from(input), { key: createPrivateKey({ key: alice.jwk as never, format: 'jwk' }), dsaEncoding: 'ieee-p1363' });
  add('payload-invalid-utf8', 'payload bytes are not UTF-8', `${input}.${sig.toString('base64url')}`, 'payload_invalid');
}
add('version-2', 'v = 2', sign(alice, 'dependency', { ...dep(), v: 2 }), 'version_unsupported');
add('version-string', 'v = "1"', sign(alice, 'dependency', { ...dep(), v: '1' }), 'version_unsupported');
add('version-missing', 'v absent', sign(alice, 'dependency', (({ v: _v, ...r }) => r)(dep())), 'version_unsupported');
add('schema-unknown-member', 'unknown top-level member', sign(alice, 'dependency', { ...dep(), extra: true }), 'schema_invalid');
add('schema-missing-member', 'producer absent', sign(alice, 'dependency', (({ producer: _p, ...r }) => r)(dep())), 'schema_invalid');
add('schema-short-jti', 'jti of 8 characters', sign(alice, 'dependency', { ...dep(), jti: 'short123' }), 'schema_invalid');
add('schema-bad-digest', 'digest in upper-case hex', sign(alice, 'dependency', claims('alice', { ...bodies.dependency, consumer: { ...bodies.dependency.consumer, digest: DIGEST.toUpperCase().replace('SHA-256', 'sha-256') } })), 'schema_invalid');
add('schema-iat-float', 'iat is not an integer', sign(alice, 'dependency', { ...dep(), iat: IAT + 0.5 }), 'schema_invalid');
add('schema-detail-octets', 'detail of 600 characters but 1200 octets', sign(carol, 'failure', claims('carol', { ...bodies.failure, detail: 'é'.repeat(600) })), 'schema_invalid');
add('schema-aud-array', 'aud is an array', sign(alice, 'dependency', { ...dep(), aud: [SELF] }), 'schema_invalid');

// ---- claims ----
add('issuer-mismatch', 'alice\'s key, iss carol', sign(alice, 'dependency', claims('carol', bodies.dependency)), 'issuer_mismatch');
add('audience-mismatch', 'aud carol', sign(alice, 'dependency', { ...dep(), aud: 'carol' }), 'audience_mismatch');
add('iat-stale', 'iat 331 s old (window 300 + skew 30)', sign(alice, 'dependency', { ...dep(), iat: NOW - 331 }), 'iat_stale');
add('iat-future', 'iat 31 s in the future (skew 30)', sign(alice, 'dependency', { ...dep(), iat: NOW + 31 }), 'iat_future');
{
  const once = sign(alice, 'dependency', dep());
  add('replayed', 'the same envelope twice', once, 'replayed', { prior: [once] });
  const again = dep();
  const first = sign(alice, 'dependency', again);
  add('replayed-resigned', 'same (iss, jti) re-signed with a later iat', sign(alice, 'dependency', { ...again, iat: IAT + 5 }), 'replayed', { prior: [first] });
  add('replay-quota', 'second envelope from a peer whose quota is 1', sign(alice, 'dependency', dep()), 'replay_quota',
    { prior: [sign(alice, 'dependency', dep())], options: { replay_quota_per_peer: 1 } });
  add('replay-other-peer-same-jti', 'same jti from another peer is not a replay', sign(dave, 'dependency', { ...again, iss: 'dave' }), 'accepted', { prior: [first] });
}

// ---- embedded statements ----
{
  const forged = carolAck.slice(0, -4) + (carolAck.endsWith('AAAA') ? 'BAAA' : 'AAAA');
  add('statement-forged-ack', 'ack with a forged signature', sign(carol, 'report', claims('carol', { set, member: 'exec-c1', acks: [carolAck, forged] })), 'statement_invalid');
  add('statement-ack-wrong-signer', 'ack claiming iss dave, signed by carol', sign(carol, 'report', claims('carol', { set, member: 'exec-c1',
    acks: [carolAck, sign(carol, 'ack', stmt('dave', ackBody('exec-d1', { agent: 'carol', execution: 'exec-c1' })))] })), 'statement_invalid');
  add('statement-ack-other-set', 'ack for another set', sign(carol, 'report', claims('carol', { set, member: 'exec-c1',
    acks: [sign(carol, 'ack', stmt('carol', ackBody('exec-c1', { agent: SELF, execution: 'exec-b1' }, { initiator: 'alice', id: 'set-9999' })))] })), 'statement_invalid');
  add('statement-ack-unknown-kid', 'ack signed by a key outside the trust store', sign(carol, 'report', claims('carol', { set, member: 'exec-c1',
    acks: [sign(mallory, 'ack', stmt('carol', ackBody('exec-c1', { agent: SELF, execution: 'exec-b1' })))] })), 'statement_invalid');
  add('statement-ack-schema', 'ack carrying aud and jti (statements have neither)', sign(carol, 'report', claims('carol', { set, member: 'exec-c1',
    acks: [sign(carol, 'ack', { ...stmt('carol', ackBody('exec-c1', { agent: SELF, execution: 'exec-b1' })), aud: SELF, jti: jti() })] })), 'statement_invalid');
  add('statement-wrong-typ-authority', 'cancel whose authority is a record', sign(alice, 'cancel', claims('alice', { set, member: 'exec-b1', authority: record })), 'statement_invalid');
  add('statement-wrong-typ-record', 'outcome whose record is an ack', sign(alice, 'outcome', claims('alice', { set, record: carolAck })), 'statement_invalid');
  add('statement-envelope-as-ack', 'an envelope placed in acks', sign(carol, 'report', claims('carol', { set, member: 'exec-c1', acks: [good] })), 'statement_invalid');
}

const expectedCodes = new Set(vectors.map((v) => v.expected));
const invalid = vectors.filter((v) => v.expected !== 'accepted').length;
writeFileSync(join(outDir, 'envelopes.json'), `${JSON.stringify({
  description: 'Intake vectors for draft-marp-agent-rollback-00. Run each envelope through a fresh intake of node `self` with the trust store in trust.json, window 300 s, skew 30 s, max 65536 bytes, clock = now (seconds); submit `prior` envelopes first (each accepted); options: replay_quota_per_peer. expected_kind "envelope" = generic endpoint.',
  self: SELF,
  window_seconds: 300,
  skew_seconds: 30,
  max_bytes: 65536,
  vectors,
}, null, 2)}\n`);
console.log(`${vectors.length} vectors (${invalid} invalid), codes: ${[...expectedCodes].sort().join(' ')}`);
