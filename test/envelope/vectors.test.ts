import t from 'tap';
import { readFileSync } from 'node:fs';
import { ProtocolError } from '../../src/errors.js';
import { Intake, ReplayCache, Schemas, TrustStore, type EnvelopeKind } from '../../src/envelope/index.js';

const dir = new URL('../../interop-tests/vectors/', import.meta.url);
const file = JSON.parse(readFileSync(new URL('envelopes.json', dir), 'utf8')) as {
  self: string; window_seconds: number; skew_seconds: number; max_bytes: number;
  vectors: { name: string; envelope: string; expected_kind: string; now: number; expected: string; prior?: string[]; options?: { replay_quota_per_peer?: number } }[];
};
const trust = new TrustStore(JSON.parse(readFileSync(new URL('trust.json', dir), 'utf8')));
const schemas = new Schemas();

t.ok(file.vectors.filter((v) => v.expected !== 'accepted').length >= 25, 'at least 25 invalid vectors');
for (const kind of ['dependency', 'failure', 'request', 'report', 'cancel', 'outcome']) {
  t.ok(file.vectors.some((v) => v.expected === 'accepted' && v.envelope.startsWith(
    Buffer.from(`{"alg":`).toString('base64url').slice(0, 4)) && JSON.parse(Buffer.from(v.envelope.split('.')[0]!, 'base64url').toString()).typ === `rollback-${kind}+jwt`),
  `a valid ${kind} vector`);
}

for (const v of file.vectors) {
  // covers: req-header-allow-list req-alg req-alg-pinned req-typ req-kid req-envelope-iss req-envelope-fresh req-envelope-replay req-statement-verify req-statement-retired-keys req-version req-closed-objects req-ext req-cddl-conform req-agent-key req-error-codes
  t.test(v.name, async (t) => {
    const intake = new Intake({
      self: file.self, trust, schemas,
      replay: new ReplayCache({ windowSeconds: file.window_seconds, skewSeconds: file.skew_seconds, quotaPerPeer: v.options?.replay_quota_per_peer ?? 100_000 }),
      windowSeconds: file.window_seconds, skewSeconds: file.skew_seconds, maxBytes: file.max_bytes,
      clock: () => v.now * 1000,
    });
    const expected = v.expected_kind === 'envelope' ? 'envelope' : (v.expected_kind as EnvelopeKind);
    for (const p of v.prior ?? []) await intake.accept(p);
    let got: string;
    try {
      const r = await intake.accept(v.envelope, { expected });
      got = 'accepted';
      t.equal(r.payload['jti'], r.jti);
    } catch (e) {
      t.type(e, ProtocolError);
      got = (e as ProtocolError).code;
      if (got !== v.expected) t.comment((e as Error).message);
    }
    t.equal(got, v.expected);
  });
}
