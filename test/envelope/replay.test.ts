import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProtocolError } from '../../src/errors.js';
import {
  ReplayCache, replayKey, RestartFloor, fileWatermark, memoryWatermark, RateLimiter, Intake, sealEnvelope,
} from '../../src/envelope/index.js';
import { NOW, depBody, world } from './helpers.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return (e as ProtocolError).code;
  }
};
const jti = (i: number): string => `jti-${String(i).padStart(16, '0')}`;

// covers: req-envelope-replay
t.test('check-and-insert, replay, expiry', async (t) => {
  const c = new ReplayCache({ windowSeconds: 300, skewSeconds: 30, bucketSeconds: 10 });
  t.equal(code(() => c.checkAndInsert('alice', 'alice', jti(1), NOW, NOW)), 'ok');
  t.equal(code(() => c.checkAndInsert('alice', 'alice', jti(1), NOW, NOW)), 'replayed');
  t.equal(code(() => c.checkAndInsert('alice', 'alice', jti(1), NOW + 20, NOW + 1)), 'replayed', 'same jti, other iat bucket');
  t.equal(code(() => c.checkAndInsert('carol', 'carol', jti(1), NOW, NOW)), 'ok', 'same jti, other issuer');
  t.equal(c.count('alice'), 1);
  t.same(c.stats(), { entries: 2, peers: 2, buckets: 1, tableBytes: 8192 });
  // Still remembered at the end of the window.
  t.equal(code(() => c.checkAndInsert('alice', 'alice', jti(1), NOW, NOW + 330)), 'replayed');
  // Bucket [NOW, NOW+10) expires once NOW+9 is older than window+skew.
  c.expire(NOW + 9 + 331);
  t.equal(c.stats().entries, 0);
  t.equal(c.count('alice'), 0);
  t.equal(c.count('carol'), 0);
});

t.test('per-peer quota fails closed for that peer only', async (t) => {
  const c = new ReplayCache({ quotaPerPeer: 3 });
  for (let i = 0; i < 3; i++) c.checkAndInsert('alice', 'alice', jti(i), NOW, NOW);
  t.equal(code(() => c.checkAndInsert('alice', 'alice', jti(9), NOW, NOW)), 'replay_quota');
  t.equal(code(() => c.checkAndInsert('alice', 'alice', jti(0), NOW, NOW)), 'replayed', 'a replay is still reported as such');
  t.equal(code(() => c.checkAndInsert('carol', 'carol', jti(9), NOW, NOW)), 'ok', 'other peers unaffected');
  c.expire(NOW + 400);
  t.equal(code(() => c.checkAndInsert('alice', 'alice', jti(9), NOW + 400, NOW + 400)), 'ok', 'quota frees as entries expire');
  const g = new ReplayCache({ maxEntries: 2 });
  g.checkAndInsert('a', 'a', jti(1), NOW, NOW);
  g.checkAndInsert('b', 'b', jti(1), NOW, NOW);
  t.equal(code(() => g.checkAndInsert('c', 'c', jti(1), NOW, NOW)), 'replay_quota', 'global bound');
});

t.test('partial expiry keeps counts per peer', async (t) => {
  const c = new ReplayCache({ bucketSeconds: 10 });
  c.checkAndInsert('alice', 'alice', jti(1), NOW, NOW);
  c.checkAndInsert('alice', 'alice', jti(2), NOW + 100, NOW + 100);
  c.checkAndInsert('carol', 'carol', jti(3), NOW + 100, NOW + 100);
  c.expire(NOW + 345);
  t.equal(c.count('alice'), 1);
  t.equal(c.count('carol'), 1);
  t.equal(c.stats().buckets, 1);
});

t.test('memory bound: tables grow, stay compact', async (t) => {
  const c = new ReplayCache({ quotaPerPeer: 1_000_000 });
  const n = 100_000;
  for (let i = 0; i < n; i++) c.checkAndInsert('alice', 'alice', jti(i), NOW + (i % 300), NOW + 300);
  const s = c.stats();
  t.equal(s.entries, n);
  t.ok(s.tableBytes / n <= 32, `${(s.tableBytes / n).toFixed(1)} table bytes per id`);
  for (let i = 0; i < n; i += 997) t.equal(code(() => c.checkAndInsert('alice', 'alice', jti(i), NOW + 300, NOW + 300)), 'replayed');
});

t.test('replay key', async (t) => {
  const [hi, lo] = replayKey('alice', jti(1));
  t.ok(hi >= 0 && hi <= 0xffffffff && lo >= 0 && lo <= 0xffffffff);
  t.notSame(replayKey('alice', jti(1)), replayKey('alicf', jti(1)));
  t.notSame(replayKey('ab', 'cdefghijklmnopqrs'), replayKey('abc', 'defghijklmnopqrs'), 'length-prefixed: no ambiguity');
});

t.test('options are validated', async (t) => {
  t.throws(() => new ReplayCache({ windowSeconds: 0 }), RangeError);
  t.throws(() => new ReplayCache({ quotaPerPeer: 1.5 }), RangeError);
  t.throws(() => new ReplayCache({ skewSeconds: -1 }), RangeError);
  t.ok(new ReplayCache({ skewSeconds: 0 }));
});

t.test('restart floor', async (t) => {
  const lost = new RestartFloor({ startSeconds: NOW, skewSeconds: 30 });
  t.equal(lost.lost, true);
  t.equal(lost.notBefore, NOW + 30);
  t.equal(code(() => lost.check(NOW + 29)), 'iat_stale');
  t.equal(code(() => lost.check(NOW + 30)), 'ok');
  lost.accepted(NOW + 40); // no store: nothing to persist

  const store = memoryWatermark();
  const f = new RestartFloor({ startSeconds: NOW, skewSeconds: 30, store });
  t.equal(f.lost, true);
  await f.accepted(NOW + 31);
  t.equal(store.value, NOW + 31);
  t.equal(f.accepted(NOW + 31), undefined, 'nothing to wait for once durable');
  t.equal(f.accepted(NOW + 30), undefined);
  t.equal(store.value, NOW + 31, 'only grows');
  const g = new RestartFloor({ startSeconds: NOW + 100, skewSeconds: 30, store });
  t.equal(g.lost, false);
  t.equal(g.notBefore, NOW + 32, 'after restart: iat must exceed the watermark');

  // Accepts arriving while a save is in flight wait for a save that covers them; one save at a time.
  const saves: { iat: number; done: () => void }[] = [];
  const slow = { load: () => undefined, save: (iat: number) => new Promise<void>((done) => saves.push({ iat, done })) };
  const h = new RestartFloor({ startSeconds: NOW, skewSeconds: 30, store: slow });
  let first = false;
  let second = false;
  void h.accepted(NOW + 1)!.then(() => { first = true; });
  const p2 = h.accepted(NOW + 2)!.then(() => { second = true; });
  t.equal(h.accepted(NOW + 2), h.accepted(NOW + 1), 'the same pending save');
  await new Promise((r) => setImmediate(r));
  t.same(saves.map((x) => x.iat), [NOW + 2], 'one save, of the highest iat asked for');
  t.notOk(first || second, 'nobody proceeds before the watermark is durable');
  saves[0]!.done();
  await p2;
  t.ok(first && second);

  // A failed save refuses the envelopes waiting on it (internal), and the next accept saves again.
  let fail = true;
  const flaky = memoryWatermark();
  const k = new RestartFloor({ startSeconds: NOW, skewSeconds: 30, store: { load: () => undefined, save: async (iat) => { if (fail) throw new Error('disk'); flaky.value = iat; } } });
  await t.rejects(k.accepted(NOW + 5)!, { code: 'internal' });
  fail = false;
  await k.accepted(NOW + 5);
  t.equal(flaky.value, NOW + 5, 'saved on the next try');

  const dir = mkdtempSync(join(tmpdir(), 'marp-floor-'));
  const path = join(dir, 'replay-watermark');
  const fw = fileWatermark(path);
  t.equal(fw.load(), undefined);
  await fw.save(NOW);
  t.equal(readFileSync(path).length, 64, 'two 32-octet slots');
  t.equal(fileWatermark(path).load(), NOW);
  await fw.save(NOW + 7);
  await fw.save(NOW + 9);
  t.equal(fileWatermark(path).load(), NOW + 9, 'slots written alternately; the highest valid one counts');
  // A torn write damages one slot: the other still holds the previous value.
  const bytes = readFileSync(path);
  bytes.write('0000', 8, 'latin1'); // slot 0 holds NOW + 9
  writeFileSync(path, bytes);
  t.equal(fileWatermark(path).load(), NOW + 7, 'a damaged slot is ignored');
  // After a restart the first save goes to the slot that does not hold the highest value.
  const again = fileWatermark(path);
  await again.save(NOW + 11);
  const b2 = readFileSync(path);
  b2.write('0000', 8, 'latin1');
  writeFileSync(path, b2);
  t.equal(fileWatermark(path).load(), NOW + 7, 'the save after the restart went to the damaged slot, not over NOW + 7');
  writeFileSync(path, 'garbage');
  t.equal(fw.load(), undefined, 'unreadable watermark counts as lost');
  writeFileSync(path, '-5');
  t.equal(fw.load(), undefined);
  await t.rejects(fileWatermark(join(dir, 'missing', 'w')).save(NOW), 'a directory that does not exist: the save fails');
});

// covers: req-envelope-replay
t.test('intake across a restart', async (t) => {
  const store = memoryWatermark();
  const w = world();
  const { schemas } = await import('./helpers.js');
  const node = (start: number, s = store) => new Intake({
    self: 'bob', trust: w.trust, schemas, replay: new ReplayCache(),
    floor: new RestartFloor({ startSeconds: start, skewSeconds: 30, store: s }), clock: () => NOW * 1000,
  });
  const e1 = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW + 20 });
  const e2 = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW - 5 });
  const first = node(NOW - 1000);
  t.equal((await first.accept(e1.compact)).jti, e1.jti, 'accepted (future iat within skew)');
  await t.rejects(first.accept(e1.compact), { code: 'replayed' });
  t.equal(store.value, NOW + 20);
  // Restart: the cache is empty, the watermark refuses the old envelope.
  const second = node(NOW);
  await t.rejects(second.accept(e1.compact), { code: 'iat_stale' });
  await t.rejects(second.accept(e2.compact), { code: 'iat_stale' });
  const e3 = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW + 21 });
  t.ok(await second.accept(e3.compact), 'fresh iat accepted');
  // Without a watermark: floor = start + skew.
  const third = node(NOW - 5, memoryWatermark());
  await t.rejects(third.accept(e1.compact), { code: 'iat_stale' }, 'iat 20 s ahead < start + skew');
});

t.test('rate limiter', async (t) => {
  const r = new RateLimiter({ ratePerSecond: 2, burst: 2 });
  t.ok(r.take('a', 0));
  t.ok(r.take('a', 0));
  t.notOk(r.take('a', 0));
  t.equal(code(() => r.check('a', 100)), 'rate_limited');
  t.ok(r.take('a', 600), 'refilled at 2/s');
  t.ok(r.take('b', 0), 'keys independent');
  t.throws(() => new RateLimiter({ ratePerSecond: 0 }), RangeError);
  t.throws(() => new RateLimiter({ ratePerSecond: 1, burst: 0 }), RangeError);
  t.throws(() => new RateLimiter({ ratePerSecond: 1, maxKeys: 0 }), RangeError);
  t.equal(new RateLimiter({ ratePerSecond: 5 }).burst, 5);
  const m = new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 2 });
  m.take('x', 0);
  m.take('y', 0);
  m.take('z', 0); // both busy: oldest evicted
  t.equal(m.size, 2);
  m.take('w', 5000); // all idle: idle ones evicted
  t.equal(m.size, 1);
});
