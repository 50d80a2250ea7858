// Replay cache, error frames and sealing: edges found by mutation testing
// (interop-tests/report/mutation.md). The key table is tested with chosen keys,
// since SHA-256 prefixes cannot be steered into collisions.
import t from 'tap';
import { KeySet, nonZero, ReplayCache, replayKey } from '../../src/envelope/replay-cache.js';
import { RestartFloor, fileWatermark } from '../../src/envelope/restart-floor.js';
import { errorFrame, problemOf } from '../../src/envelope/frames.js';
import { createSigner, keygen, RateLimiter, sealEnvelope, sealStatement, type PrivateJwk } from '../../src/envelope/index.js';
import { ProtocolError } from '../../src/errors.js';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SLOTS = 1024; // initial slots of a KeySet

// covers: req-envelope-replay
t.test('key set: halves are compared together, probing passes keys with a zero half, growth keeps every key', async (t) => {
  const s = new KeySet();
  // (0, 5) and (1, 4) start probing at the same slot (lo ^ hi = 5).
  s.add(0, 5);
  s.add(1, 4);
  s.add(7, 0);
  for (const [hi, lo] of [[0, 5], [1, 4], [7, 0]] as const) t.ok(s.has(hi, lo), `has (${hi}, ${lo})`);
  for (const [hi, lo] of [[0, 4], [1, 5], [7, 1], [0, 7], [2, 4], [5, 0]] as const) t.notOk(s.has(hi, lo), `not (${hi}, ${lo}): one half equal is not enough`);
  // Fill to the growth threshold (3/4): the table doubles on the insert that would pass it.
  let n = 3;
  for (let k = 100; n < (SLOTS * 3) / 4; k++, n++) s.add(k, k * 7 + 1);
  t.equal(s.slots.length, SLOTS * 2, `${n} keys: not grown`);
  s.add(0, 99_999);
  t.equal(s.slots.length, SLOTS * 4, `${n + 1} keys: grown to twice the slots`);
  for (const [hi, lo] of [[0, 5], [1, 4], [7, 0], [0, 99_999]] as const) t.ok(s.has(hi, lo), `(${hi}, ${lo}) kept through growth`);
  for (let k = 100; k < 100 + n - 3; k++) if (!s.has(k, k * 7 + 1)) t.fail(`key ${k} lost in growth`);
  t.notOk(s.has(101, 100 * 7 + 1), 'halves of neighbouring keys are not mixed up by growth');
});

t.test('replay key: (0, 0) is never a key; long and non-ASCII input is hashed whole', async (t) => {
  t.same(nonZero(0, 0), [0, 1]);
  t.same(nonZero(0, 5), [0, 5]);
  t.same(nonZero(5, 0), [5, 0]);
  t.same(nonZero(3, 4), [3, 4]);
  // Longer than the initial scratch buffer, differing only at the end.
  const long = 'j'.repeat(3000);
  t.notSame(replayKey('alice', `${long}a`), replayKey('alice', `${long}b`), 'the last character of a 3,001-character jti counts');
  t.notSame(replayKey(`${'ü'.repeat(700)}a`, 'x'), replayKey(`${'ü'.repeat(700)}b`, 'x'), 'multi-byte iss hashed whole');
  const k = replayKey('alice', 'jti-1');
  replayKey('bob', 'z'.repeat(500));
  t.same(replayKey('alice', 'jti-1'), k, 'no bytes of an earlier, longer input leak into the key');
});

// covers: req-envelope-replay
t.test('replay cache: expiry forgets peers whose entries all expired; errors and options say what is wrong', async (t) => {
  const c = new ReplayCache({ windowSeconds: 10, skewSeconds: 0, bucketSeconds: 1 });
  c.checkAndInsert('alice', 'alice', 'a1', 1000, 1000);
  c.checkAndInsert('bob', 'bob', 'b1', 1005, 1005);
  t.equal(c.stats().peers, 2);
  c.expire(1012);
  t.equal(c.count('alice'), 0);
  t.equal(c.stats().peers, 1, 'alice held no live entry and is forgotten');
  t.throws(() => c.checkAndInsert('bob', 'bob', 'b1', 1005, 1012), { code: 'replayed', message: /already accepted/ });
  const q = new ReplayCache({ quotaPerPeer: 1 });
  q.checkAndInsert('p', 'p', 'x', 1000, 1000);
  t.throws(() => q.checkAndInsert('p', 'p', 'y', 1000, 1000), { code: 'replay_quota', message: /quota/ });
  t.throws(() => new ReplayCache({ windowSeconds: 0 }), { name: 'RangeError', message: 'windowSeconds out of range' });
  t.throws(() => new ReplayCache({ skewSeconds: -1 }), { message: 'skewSeconds out of range' });
});

t.test('error details are cut at 1,024 characters, not before', async (t) => {
  const at = 'x'.repeat(1024);
  t.equal(errorFrame(new ProtocolError('malformed', at), null).detail, at);
  t.equal(errorFrame(new ProtocolError('malformed', `${at}y`), null).detail, at);
  t.equal(problemOf(new ProtocolError('malformed', `${at}yz`)).body.detail, at);
});

t.test('seal: default iat is now, in seconds; a reserved claim in the body is named', async (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = createSigner('alice', { ...(privateKey.export({ format: 'jwk' }) as Record<string, string>), kid: 'k', alg: 'ES256' } as PrivateJwk);
  const before = Math.floor(Date.now() / 1000);
  const { iat } = sealEnvelope(signer, 'dependency', 'bob', {});
  const statementIat = (JSON.parse(Buffer.from(sealStatement(signer, 'ack', {}).split('.')[1]!, 'base64url').toString()) as { iat: number }).iat;
  const after = Math.floor(Date.now() / 1000);
  t.ok(iat >= before && iat <= after, `envelope iat ${iat} is the current second`);
  t.ok(statementIat >= before && statementIat <= after, `statement iat ${statementIat} is the current second`);
  t.throws(() => sealEnvelope(signer, 'dependency', 'bob', { jti: 'x' }), { message: 'body must not set the claim jti' });
});

/** The watermark file as fileWatermark writes it: two 32-octet slots "<15 digits> <15 hex of SHA-256>\n". */
const slotText = (v: number): string => {
  const digits = String(v).padStart(15, '0');
  return `${digits} ${createHash('sha256').update(digits).digest('hex').slice(0, 15)}\n`;
};
const openFds = (): number => readdirSync('/proc/self/fd').length;

// covers: req-envelope-replay
t.test('watermark file: the highest slot with a valid checksum wins, wherever it is', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'marp-floor-'));
  const path = join(dir, 'w');
  writeFileSync(path, slotText(100) + slotText(200));
  t.equal(fileWatermark(path).load(), 200, 'highest in slot 1');
  writeFileSync(path, slotText(200) + slotText(100));
  t.equal(fileWatermark(path).load(), 200, 'highest in slot 0');
  // A digit changed to a higher value but the checksum left: the slot is not trusted.
  writeFileSync(path, slotText(100) + slotText(200).replace(/^0/, '9'));
  t.equal(fileWatermark(path).load(), 100, 'a slot whose checksum does not match is ignored, even if higher');
  // Both slots unreadable but the file there: the next save still lands and is read back.
  writeFileSync(path, 'x'.repeat(64));
  const w = fileWatermark(path);
  t.equal(w.load(), undefined);
  await w.save(300);
  t.equal(fileWatermark(path).load(), 300);
  await w.save(400);
  t.equal(fileWatermark(path).load(), 400);
});

t.test('watermark saves close every file they open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'marp-floor-'));
  const before = openFds();
  for (let i = 0; i < 10; i++) {
    const w = fileWatermark(join(dir, `w${i}`));
    await w.save(1000 + i); // creates the file (temp file, rename, directory fsync)
    await w.save(2000 + i); // updates a slot in place
  }
  t.equal(openFds(), before, 'no descriptor left open');
});

t.test('restart floor: one pending save per watermark; refusals say why', async (t) => {
  const saves: (() => void)[] = [];
  const h = new RestartFloor({ startSeconds: 1000, skewSeconds: 30, store: { load: () => undefined, save: () => new Promise<void>((done) => saves.push(done)) } });
  const p = h.accepted(2000);
  t.equal(h.accepted(2000), p, 'the same iat again waits on the same save');
  await new Promise((r) => setImmediate(r));
  t.equal(saves.length, 1, 'one save');
  saves.shift()!();
  await p;
  t.throws(() => h.check(1029), { code: 'iat_stale', message: 'iat precedes the node restart' });
  const cause = new Error('disk full');
  const k = new RestartFloor({ startSeconds: 1000, skewSeconds: 30, store: { load: () => undefined, save: async () => { throw cause; } } });
  await t.rejects(k.accepted(2000)!, { code: 'internal', message: 'replay watermark not saved: disk full', cause });
});

t.test('rate limiter: eviction drops idle (refilled) buckets first, then the oldest; limits are checked', async (t) => {
  // rate 2/s, burst 4, two keys at most. b is created first, so "drop the oldest" would hit b.
  const T = 1_000_000; // not 0: elapsed time is a difference of two clock readings
  const r = new RateLimiter({ ratePerSecond: 2, burst: 4, maxKeys: 2 });
  for (let i = 0; i < 4; i++) r.take('b', T); // b: empty
  r.take('a', T); // a: 3 left, full again after 500 ms
  t.ok(r.take('c', T + 500), 'a third key');
  t.equal(r.size, 2);
  t.ok(r.take('b', T + 500), 'b kept its state: 1 token refilled');
  t.notOk(r.take('b', T + 500), 'and no more (a recreated b would hold 4)');
  // Below the bound nothing is evicted, idle or not.
  const q = new RateLimiter({ ratePerSecond: 1, maxKeys: 3 });
  q.take('x', 0);
  q.take('y', 10_000);
  t.equal(q.size, 2, 'an idle bucket stays while there is room');
  t.throws(() => new RateLimiter({ ratePerSecond: 0 }), { name: 'RangeError', message: 'rate limit out of range' });
  t.throws(() => new RateLimiter({ ratePerSecond: 0, burst: 5 }), RangeError, 'a zero rate even with a burst');
  t.throws(() => new RateLimiter({ ratePerSecond: 1, burst: 0.5 }), RangeError);
  t.throws(() => new RateLimiter({ ratePerSecond: 1, maxKeys: 0 }), RangeError);
  t.doesNotThrow(() => new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 1 }), 'burst 1 and one key are allowed');
  const one = new RateLimiter({ ratePerSecond: 1, burst: 1 });
  one.check('k', 0);
  t.throws(() => one.check('k', 0), { code: 'rate_limited', message: 'rate limit exceeded' });
});

t.test('signer and keygen: wrong keys are named, files are never overwritten unless forced', async (t) => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  const ed = generateKeyPairSync('ed25519').privateKey;
  t.throws(() => createSigner('a', ec, { kid: '', alg: 'ES256' }), { message: 'signer needs a kid' });
  t.throws(() => createSigner('a', ed, { kid: 'k', alg: 'ES256' }), { message: 'key type does not match alg ES256' });
  t.throws(() => createSigner('a', p384, { kid: 'k', alg: 'ES256' }), { message: 'key type does not match alg ES256' });
  t.throws(() => createSigner('a', ec, { kid: 'k', alg: 'Ed25519' }), { message: 'key type does not match alg Ed25519' });
  await t.rejects(keygen({ alg: 'RS256' as never }), { name: 'TypeError', message: 'alg must be ES256 or Ed25519' });
  const dir = mkdtempSync(join(tmpdir(), 'marp-keygen-'));
  const pub = join(dir, 'only.jwks.json');
  const k = await keygen({ publicPath: pub });
  t.same(JSON.parse(readFileSync(pub, 'utf8')), k.publicJwks, 'a public key file alone');
  await t.rejects(keygen({ publicPath: pub }), { code: 'EEXIST' }, 'an existing public key file is not overwritten');
  await keygen({ publicPath: pub, force: true });
  const priv = join(dir, 'only.private.jwk');
  await keygen({ privatePath: priv });
  t.ok(JSON.parse(readFileSync(priv, 'utf8')).d, 'a private key file alone');
});
