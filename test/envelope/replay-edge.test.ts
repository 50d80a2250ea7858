/**
 * Replay retention at the edges of the window (draft req-envelope-replay):
 * an envelope accepted with iat = now + skew stays refused as replayed for
 * window + 2 x skew after acceptance, and a clock that steps back after
 * entries expired never makes a forgotten envelope acceptable again.
 */
import t from 'tap';
import { sealEnvelope } from '../../src/envelope/index.js';
import { NOW, depBody, world } from './helpers.js';

const code = async (p: Promise<unknown>): Promise<string> => {
  try { await p; return 'ok'; } catch (e) { return (e as { code: string }).code; }
};

// covers: req-envelope-replay req-envelope-fresh
t.test('future edge: remembered until iat + window + skew, not window + skew after acceptance', async (t) => {
  const w = world();
  const env = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW + 30 }).compact;
  t.equal(await code(w.intake.accept(env)), 'ok', 'accepted at the future edge');
  w.clock.set(NOW + 300 + 30);
  t.equal(await code(w.intake.accept(env)), 'replayed', 'window + skew after acceptance: still fresh, still refused');
  w.clock.set(NOW + 300 + 60);
  t.equal(await code(w.intake.accept(env)), 'replayed', 'window + 2 x skew after acceptance: the last second it is fresh');
  w.clock.set(NOW + 300 + 61);
  t.equal(await code(w.intake.accept(env)), 'iat_stale', 'then stale');
});

// covers: req-envelope-replay
t.test('a clock stepping back after expiry does not revive forgotten envelopes', async (t) => {
  const w = world();
  const env = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact;
  t.equal(await code(w.intake.accept(env)), 'ok');
  // Much later another envelope makes the cache drop the first one's bucket.
  w.clock.set(NOW + 400);
  t.equal(await code(w.intake.accept(sealEnvelope(w.dave.signer, 'dependency', 'bob', depBody, { iat: NOW + 400 }).compact)), 'ok');
  // The clock steps back 100 s (NTP correction): NOW is inside the window again.
  w.clock.set(NOW + 300);
  t.equal(await code(w.intake.accept(env)), 'iat_stale', 'refused: its entry is gone, so it counts as stale');
  const fresh = sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody, { iat: NOW + 300 }).compact;
  t.equal(await code(w.intake.accept(fresh)), 'ok', 'envelopes inside the remembered horizon are still accepted');
  t.equal(await code(w.intake.accept(fresh)), 'replayed');
});
