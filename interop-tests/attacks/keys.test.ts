/**
 * Attacks with keys that are in B's trust store but not usable now (draft
 * "Protected Header", "Statements", "Key Compromise and Rotation"): C's
 * JWKS also holds a key past its "exp", one before its "nbf" and one that
 * B's operator revoked; A's JWKS holds a revoked key too. Envelopes signed
 * with them are refused with "kid_unknown", a statement signed with a
 * revoked key and backdated to before the revocation is refused with
 * "statement_invalid", over HTTP and WebSocket, and nothing changes.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSigner, sealEnvelope, sealStatement, type PrivateJwk } from '../../src/envelope/index.js';
import { Mesh, build, es256Keygen, sleep, type Graph } from '../harness/index.js';
import type { KeyPair } from '../harness/jws.js';
import { writeConfig } from '../harness/adapter.js';
import { attack, envelope, nowS, post, states, wsLink } from './helpers.js';

const NODES = ['A', 'B', 'C'];
let mesh: Mesh | undefined;
let g: Graph;
const m = (): Mesh => mesh!;
const extra: Record<'expired' | 'early' | 'revoked' | 'revokedA', KeyPair> = {
  expired: es256Keygen(), early: es256Keygen(), revoked: es256Keygen(), revokedA: es256Keygen(),
};
let revokedAt = 0;

t.before(async () => {
  mesh = await Mesh.start({ name: 'attacks-keys', nodes: NODES, limits: { deadline_ms: 8000 } });
  g = await build(mesh, [{ node: 'A', id: 'a' }, { node: 'B', id: 'b' }, { node: 'C', id: 'c' }], [['a', 'b'], ['b', 'c']]);
  const now = nowS();
  revokedAt = now - 30;
  const pub = (k: KeyPair, over: object = {}) => ({ ...k.publicJwks.keys[0]!, ...over });
  // nbf / exp are members of the JWK in the peer's JWKS (RFC 7517 §4 allows extra members).
  writeFileSync(join(mesh.dir, 'C.jwks.json'), JSON.stringify({ keys: [
    ...mesh.keys['C']!.publicJwks.keys, pub(extra.expired, { exp: now - 60 }), pub(extra.early, { nbf: now + 3600 }), pub(extra.revoked),
  ] }));
  writeFileSync(join(mesh.dir, 'A.jwks.json'), JSON.stringify({ keys: [...mesh.keys['A']!.publicJwks.keys, pub(extra.revokedA)] }));
  // Revocation is the operator's: B's config names the kid and the time.
  const b = mesh.node('B');
  b.config.revoked = [{ kid: extra.revoked.privateJwk.kid, at: revokedAt }, { kid: extra.revokedA.privateJwk.kid, at: revokedAt }];
  b.configPath = writeConfig(mesh.adapter, b.config, b.configPath, (f, s) => writeFileSync(f, s));
  await mesh.restart('B');
  await sleep(1100); // B's restart floor
});
t.teardown(() => mesh?.stop());

const signerOf = (k: KeyPair, iss: string) => createSigner(iss, k.privateJwk as unknown as PrivateJwk);
const depBody = () => ({
  consumer: { execution: 'c', checkpoint: g.execs['c']!.cp.checkpoint, seq: g.execs['c']!.cp.seq, digest: g.execs['c']!.cp.digest },
  producer: { execution: 'b', checkpoint: g.execs['b']!.cp.checkpoint, seq: g.execs['b']!.cp.seq },
});
const set = { initiator: 'A', id: 'no-such-set' };
const ackBody = { set, member: 'c', parent: { agent: 'B', execution: 'b' }, status: 'held', target: { checkpoint: 'c1', seq: 1 } };

/** The hostile envelopes, each with its code and what its detail names. */
function cases(): [string, string, string, RegExp][] {
  const backdated = revokedAt - 20;
  const revokedAck = sealStatement(signerOf(extra.revoked, 'C'), 'ack', ackBody, { iat: backdated });
  const cancellation = sealStatement(signerOf(extra.revokedA, 'A'), 'cancellation', { set, detail: 'stolen key' }, { iat: backdated });
  return [
    ['envelope signed with a key past its exp', sealEnvelope(signerOf(extra.expired, 'C'), 'dependency', 'B', depBody()).compact, 'kid_unknown', /expired/],
    ['envelope signed with a key before its nbf', sealEnvelope(signerOf(extra.early, 'C'), 'dependency', 'B', depBody()).compact, 'kid_unknown', /not yet valid/],
    ['envelope signed with a revoked key', sealEnvelope(signerOf(extra.revoked, 'C'), 'dependency', 'B', depBody()).compact, 'kid_unknown', /revoked/],
    ['envelope signed with a revoked key, iat backdated before the revocation',
      sealEnvelope(signerOf(extra.revoked, 'C'), 'dependency', 'B', depBody(), { iat: backdated }).compact, 'kid_unknown', /revoked/],
    ['report (current key) carrying an ack signed with the revoked key, iat backdated',
      envelope(m(), 'C', 'B', 'report', { set, member: 'c', acks: [revokedAck] }), 'statement_invalid', /acks\[0\]: kid_unknown: .*revoked/],
    ['cancel (current key) carrying a cancellation signed with A\'s revoked key, iat backdated',
      envelope(m(), 'A', 'B', 'cancel', { set, member: 'b', authority: cancellation }), 'statement_invalid', /authority: kid_unknown: .*revoked/],
  ];
}

t.test('key validity and revocation attacks', async (t) => {
  // covers: req-key-validity req-kid req-statement-receipt-time
  await attack(t, import.meta.url, m, {
    id: 'keys-http', title: 'envelopes and statements under expired, not yet valid and revoked keys over HTTP',
    sections: ['sec-keys', 'ops-keys', 'req-key-validity', 'req-kid', 'req-statement-receipt-time'],
  }, async (t) => {
    const before = await states(m(), NODES);
    for (const [name, body, code, detail] of cases()) {
      const a = await post(m(), 'B', body);
      t.equal(a.code, code, `${name}: ${code}`);
      t.not(a.status, 202, `${name}: not accepted`);
      t.match((a.body as { detail?: string })?.detail, detail, `${name}: detail`);
    }
    // The same report with an ack under C's current key passes intake (and is refused by the core).
    const control = await post(m(), 'B', envelope(m(), 'C', 'B', 'report', { set, member: 'c', acks: [sealStatement(signerOf(m().keys['C']!, 'C'), 'ack', ackBody)] }));
    t.not(control.code, 'statement_invalid', `control: the current key's ack verifies (${control.code})`);
    t.same(await states(m(), NODES), before, 'no node changed');
    t.equal((await post(m(), 'B', envelope(m(), 'C', 'B', 'dependency', depBody()))).status, 202, 'C\'s current key still works');
  });

  // covers: req-key-validity req-statement-receipt-time
  await attack(t, import.meta.url, m, {
    id: 'keys-ws', title: 'the same key attacks over the WebSocket binding: same codes, the link stays open',
    sections: ['binding-ws', 'req-key-validity', 'req-statement-receipt-time'],
  }, async (t) => {
    const before = await states(m(), NODES);
    const link = await wsLink(m(), 'B');
    try {
      for (const [name, body, code] of cases()) t.equal((await link.send(body)).code, code, `${name}: ${code}`);
      t.equal((await link.send(envelope(m(), 'C', 'B', 'dependency', depBody()))).status, 202, 'the link stays usable');
    } finally { link.close(); }
    t.same(await states(m(), NODES), before, 'no node changed');
  });
});
