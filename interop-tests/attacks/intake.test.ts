/**
 * Attacks on the intake pipeline of a real node (B in a chain a -> b -> c,
 * plus X, a trusted peer with no dependency on anyone): each forged, confused,
 * misaddressed, stale, replayed, oversized or malformed envelope is refused
 * with its named code over HTTP and over WebSocket, nothing changes at any
 * node, and a valid envelope is still accepted once afterwards.
 */
import t from 'tap';
import { createHmac, createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { Mesh, build, type Graph } from '../harness/index.js';
import { attack, b64, envelope, jti, nowS, post, states, waitMember, wsLink, type Answer } from './helpers.js';

const NODES = ['A', 'B', 'C', 'X'];
let mesh: Mesh | undefined;
let g: Graph;
const m = (): Mesh => mesh!;

t.before(async () => {
  mesh = await Mesh.start({ name: 'attacks-intake', nodes: NODES, limits: { deadline_ms: 8000 } });
  g = await build(mesh, [{ node: 'A', id: 'a' }, { node: 'B', id: 'b' }, { node: 'C', id: 'c' }], [['a', 'b'], ['b', 'c']]);
});
t.teardown(() => mesh?.stop());

/** C's (idempotent) registration of its dependency on b: valid, changes nothing visible. */
const depBody = () => ({
  consumer: { execution: 'c', checkpoint: g.execs['c']!.cp.checkpoint, seq: g.execs['c']!.cp.seq, digest: g.execs['c']!.cp.digest },
  producer: { execution: 'b', checkpoint: g.execs['b']!.cp.checkpoint, seq: g.execs['b']!.cp.seq },
});
const payload = (over: object = {}) => ({ v: 1, iss: 'C', aud: 'B', iat: nowS(), jti: jti(), ...depBody(), ...over });

/** Sign any header and payload text with `who`'s real key (ES256), bypassing the library's guards. */
function raw(who: string, header: object | string, body: object | string): string {
  const input = `${b64(header)}.${b64(body)}`;
  const key = createPrivateKey({ key: m().keys[who]!.privateJwk, format: 'jwk' });
  return `${input}.${cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}
const kid = (who: string): string => m().keys[who]!.privateJwk.kid;
const hdr = (over: object = {}) => ({ alg: 'ES256', typ: 'rollback-dependency+jwt', kid: kid('C'), ...over });

/** The hostile inputs, each with the code the draft requires. */
function cases(): [string, string, string][] {
  const valid = envelope(m(), 'C', 'B', 'dependency', depBody());
  const [h, p] = valid.split('.');
  const forgedPayload = b64({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), consumer: { ...depBody().consumer, seq: 99 } });
  const fakeSig = Buffer.alloc(64, 1).toString('base64url');
  const hs256 = (() => {
    const input = `${b64(hdr({ alg: 'HS256' }))}.${b64(payload())}`;
    const secret = JSON.stringify(m().keys['C']!.publicJwks.keys[0]);
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
  })();
  return [
    ['forged signature (payload changed, signature kept)', `${h}.${forgedPayload}.${valid.split('.')[2]}`, 'signature_invalid'],
    ['signature from another peer under C\'s kid', raw('X', hdr(), payload()), 'signature_invalid'],
    ['X signs with its own key but claims to be C', raw('X', hdr({ kid: kid('X') }), payload()), 'issuer_mismatch'],
    ['alg none', `${b64(hdr({ alg: 'none' }))}.${b64(payload())}.${fakeSig}`, 'alg_unsupported'],
    ['algorithm confusion: HS256 keyed with C\'s public key', hs256, 'alg_unsupported'],
    ['algorithm confusion: Ed25519 on C\'s ES256 key', `${b64(hdr({ alg: 'Ed25519' }))}.${b64(payload())}.${fakeSig}`, 'alg_mismatch'],
    ['EdDSA (deprecated polymorphic alg)', raw('C', hdr({ alg: 'EdDSA' }), payload()), 'alg_unsupported'],
    ['typ JWT', raw('C', hdr({ typ: 'JWT' }), payload()), 'typ_mismatch'],
    ['typ of a statement on the envelope endpoint', raw('C', hdr({ typ: 'rollback-ack+jwt' }), payload()), 'typ_mismatch'],
    ['typ with application/ prefix', raw('C', hdr({ typ: 'application/rollback-dependency+jwt' }), payload()), 'typ_mismatch'],
    ['header with jwk (a key conveyed in the message)', raw('C', hdr({ jwk: m().keys['C']!.publicJwks.keys[0] }), payload()), 'header_invalid'],
    ['unknown kid', raw('C', hdr({ kid: 'no-such-key' }), payload()), 'kid_unknown'],
    ['an envelope for another node (aud A)', raw('C', hdr(), payload({ aud: 'A' })), 'audience_mismatch'],
    ['stale iat', raw('C', hdr(), payload({ iat: nowS() - 400 })), 'iat_stale'],
    ['future iat', raw('C', hdr(), payload({ iat: nowS() + 120 })), 'iat_future'],
    ['duplicate member in the payload', raw('C', hdr(), JSON.stringify(payload()).replace('{"v":1,', '{"v":1,"v":1,')), 'payload_invalid'],
    ['duplicate member in the header (escaped)', raw('C', `{"alg":"ES256","typ":"rollback-dependency+jwt","kid":"${kid('C')}","\\u0061lg":"none"}`, payload()), 'header_invalid'],
    ['unknown version', raw('C', hdr(), payload({ v: 2 })), 'version_unsupported'],
    ['unknown member (closed objects)', raw('C', hdr(), payload({ extra: true })), 'schema_invalid'],
    ['oversized body (70 000 bytes)', 'a'.repeat(70_000), 'too_large'],
    ['not a JWS', 'hello.world', 'malformed'],
    ['JWS JSON serialization', JSON.stringify({ payload: p, signatures: [] }), 'malformed'],
  ];
}

t.test('intake attacks', async (t) => {
  // covers: req-intake-order req-error-codes req-problem-details req-header-allow-list req-alg req-alg-pinned req-typ req-kid req-agent-key req-envelope-iss req-envelope-fresh req-version req-closed-objects
  await attack(t, import.meta.url, m, {
    id: 'intake-http', title: 'forged, confused, misaddressed, stale, duplicate-member, oversized and malformed envelopes over HTTP',
    sections: ['intake', 'req-intake-order', 'req-error-codes', 'req-problem-details', 'req-header-allow-list', 'req-alg', 'req-alg-pinned', 'req-typ', 'req-kid', 'req-envelope-iss', 'req-envelope-fresh'],
  }, async (t) => {
    const before = await states(m(), NODES);
    for (const [name, body, code] of cases()) {
      const a = await post(m(), 'B', body);
      t.equal(a.code, code, `${name}: ${code}`);
      t.not(a.status, 202, `${name}: not accepted`);
      t.match(a.body, { type: `urn:ietf:params:rollback:error:${code}` }, `${name}: problem type`);
    }
    t.equal((await post(m(), 'B', envelope(m(), 'C', 'B', 'dependency', depBody()), 'text/plain')).code, 'malformed', 'wrong media type');
    t.same(await states(m(), NODES), before, 'no node changed');
    const ok = envelope(m(), 'C', 'B', 'dependency', depBody());
    t.equal((await post(m(), 'B', ok)).status, 202, 'a valid envelope is still accepted');
    t.equal((await post(m(), 'B', ok)).code, 'replayed', '... once');
  });

  // covers: req-ws req-carrier-profile
  await attack(t, import.meta.url, m, {
    id: 'intake-ws', title: 'the same attacks over the WebSocket binding: same codes, the link stays open',
    sections: ['binding-ws', 'req-ws', 'req-carrier-profile', 'req-intake-order'],
  }, async (t) => {
    const before = await states(m(), NODES);
    // A node may close a link after sustained refusals (draft: WebSocket): a fresh link per attack.
    for (const [name, body, code] of cases().filter(([n]) => !n.startsWith('oversized'))) {
      const link = await wsLink(m(), 'B');
      try {
        t.equal((await link.send(body)).code, code, `${name}: ${code} (as over HTTP)`);
        const ok = envelope(m(), 'C', 'B', 'dependency', depBody());
        t.equal((await link.send(ok)).status, 202, `${name}: the link stays usable`);
      } finally { link.close(); }
    }
    const link = await wsLink(m(), 'B');
    try {
      const ok = envelope(m(), 'C', 'B', 'dependency', depBody());
      t.match(await link.send(ok), { status: 202, jti: JSON.parse(Buffer.from(ok.split('.')[1]!, 'base64url').toString()).jti }, 'receipt names the jti');
      t.equal((await link.send(ok)).code, 'replayed');
    } finally { link.close(); }
    t.same(await states(m(), NODES), before, 'no node changed');
  });

  // covers: req-ws-error
  await attack(t, import.meta.url, m, {
    id: 'intake-ws-jti', title: 'WebSocket error frames never echo the jti of an unverified payload',
    sections: ['req-ws-error'],
  }, async (t, bug) => {
    const link = await wsLink(m(), 'B');
    try {
      const chosen = 'attacker-chosen-jti-0001';
      const forged = raw('X', hdr(), payload({ jti: chosen }));
      const a: Answer = await link.send(forged);
      t.equal(a.code, 'signature_invalid');
      t.equal(a.jti, null, 'jti null: the payload was not verified', bug);
      const stale = raw('C', hdr(), payload({ jti: 'stale-but-signed-00001', iat: nowS() - 400 }));
      const b = await link.send(stale);
      t.equal(b.code, 'iat_stale');
      t.equal(b.jti, 'stale-but-signed-00001', 'verified payload: its jti is echoed');
    } finally { link.close(); }
  });

  // covers: req-envelope-replay req-dependency-durable
  await attack(t, import.meta.url, m, {
    id: 'replay-restart', title: 'a replay is refused, also right after the target restarts; the dependency survives the restart',
    sections: ['req-envelope-replay', 'restart', 'req-dependency-durable'],
  }, async (t) => {
    const ok = envelope(m(), 'C', 'B', 'dependency', depBody());
    t.equal((await post(m(), 'B', ok)).status, 202);
    t.equal((await post(m(), 'B', ok)).code, 'replayed');
    const before = await states(m(), NODES);
    await m().restart('B');
    const again = await post(m(), 'B', ok);
    t.ok(again.code === 'replayed' || again.code === 'iat_stale', `after the restart: ${again.code}`);
    t.not(again.status, 202);
    t.same(await states(m(), NODES), before, 'no node changed');
    await new Promise((r) => setTimeout(r, 1100)); // the restart floor: iat must pass the watermark
    const fresh = envelope(m(), 'C', 'B', 'dependency', depBody());
    t.equal((await post(m(), 'B', fresh)).status, 202, 'a fresh valid envelope is accepted after the restart');
    // The dependency C registered before the restart still authorises C's failure signal (durable at B).
    const signal = envelope(m(), 'C', 'B', 'failure', { execution: 'b', checkpoint: { checkpoint: g.execs['b']!.cp.checkpoint, seq: g.execs['b']!.cp.seq }, class: 'eval_failure' });
    t.equal((await post(m(), 'B', signal)).status, 202, 'C\'s failure signal on b is accepted after B restarted');
    await waitMember(m(), 'B', (x) => x.execution === 'b' && x.set.initiator === 'B', 10_000, 'a set opened for b');
  });
});
