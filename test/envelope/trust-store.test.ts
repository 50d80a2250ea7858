import t from 'tap';
import { TrustStore, TrustConfigError, type PeerTrust } from '../../src/envelope/index.js';
import { keyProblem } from '../../src/envelope/trust-store.js';
import { makeKey } from './helpers.js';

const a = makeKey('alice');
const a2 = makeKey('alice');
const c = makeKey('carol', 'Ed25519');

/** The TrustConfigError a configuration is refused with, or undefined if it is accepted. */
const refusal = (cfg: unknown): TrustConfigError | undefined => {
  try {
    new TrustStore(cfg as never);
    return undefined;
  } catch (e) {
    if (!(e instanceof TrustConfigError)) throw e;
    t.equal(e.code, 'trust_config_invalid');
    return e;
  }
};
const field = (cfg: unknown): string => refusal(cfg)?.field ?? 'ok';
const message = (cfg: unknown): string => refusal(cfg)?.message ?? 'ok';
const peer = (over: Partial<PeerTrust> = {}, keys: unknown[] = [a.pub]): PeerTrust => ({ id: 'alice', jwks: { keys }, ...over } as PeerTrust);

t.test('valid store', async (t) => {
  const s = new TrustStore({ peers: [peer({ url: 'https://a.example', retired: [a2.pub.kid as string] }, [a.pub, a2.pub]), { id: 'carol', jwks: { keys: [{ ...c.pub, retired: true }] } }] });
  const k = s.key(a.pub.kid as string)!;
  t.equal(k.peer, 'alice');
  t.equal(k.alg, 'ES256');
  t.equal(k.retired, false);
  t.equal(k.key.type, 'public');
  t.equal(s.key(a2.pub.kid as string)!.retired, true, 'retired by list');
  t.equal(s.key(c.pub.kid as string)!.retired, true, 'retired by JWK member');
  t.equal(s.key('nope'), undefined);
  t.equal(s.key(''), undefined);
  t.equal(s.key('x'.repeat(129)), undefined);
  t.equal(s.key('__proto__'), undefined);
  t.same(s.peer('alice'), { id: 'alice', url: 'https://a.example', kids: [a.pub.kid, a2.pub.kid] });
  t.same(s.peer('carol'), { id: 'carol', kids: [c.pub.kid] });
  t.equal(s.peer('zed'), undefined);
  t.equal(s.peers().length, 2);
  t.same(s.jwks('alice')!.keys.map((k) => k['kid']), [a.pub.kid, a2.pub.kid]);
  t.notOk('d' in s.jwks('alice')!.keys[0]!);
  t.equal(s.jwks('zed'), undefined);
});

t.test('reload replaces atomically', async (t) => {
  const s = new TrustStore({ peers: [peer()] });
  t.throws(() => s.reload({ peers: [peer({}, [{ ...a.pub, alg: 'EdDSA' }])] }), TrustConfigError);
  t.ok(s.key(a.pub.kid as string), 'old config kept after a failed reload');
  s.reload({ peers: [{ id: 'carol', jwks: { keys: [c.pub] } }] });
  t.equal(s.key(a.pub.kid as string), undefined);
  t.ok(s.key(c.pub.kid as string));
});

t.test('invalid configurations', async (t) => {
  t.equal(field(null), 'peers');
  t.equal(field({}), 'peers');
  t.equal(field({ peers: [null] }), 'peers.0.id');
  t.equal(field({ peers: [peer({ id: 'bad id' })] }), 'peers.0.id');
  t.equal(field({ peers: [peer(), peer()] }), 'peers.1.id');
  t.equal(field({ peers: [peer({ url: 7 as never })] }), 'peers.0.url');
  t.equal(field({ peers: [{ id: 'alice' }] }), 'peers.0.jwks');
  t.equal(field({ peers: [peer({}, [])] }), 'peers.0.jwks');
  t.equal(field({ peers: [peer({ retired: 'x' as never })] }), 'peers.0.retired');
  t.equal(field({ peers: [peer({ retired: ['nope'] })] }), 'peers.0.retired');
  t.equal(field({ peers: [peer({}, [null])] }), 'peers.0.jwks.keys.0');
  t.equal(field({ peers: [peer({}, [[]])] }), 'peers.0.jwks.keys.0');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, kid: undefined }])] }), 'peers.0.jwks.keys.0.kid');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, kid: '' }])] }), 'peers.0.jwks.keys.0.kid');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, kid: 'k'.repeat(129) }])] }), 'peers.0.jwks.keys.0.kid');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, alg: undefined }])] }), 'peers.0.jwks.keys.0.alg');
  t.equal(field({ peers: [peer({}, [{ ...c.pub, alg: 'EdDSA' }])] }), 'peers.0.jwks.keys.0.alg');
  t.equal(field({ peers: [peer({}, [a.priv])] }), 'peers.0.jwks.keys.0.d');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, use: 'enc' }])] }), 'peers.0.jwks.keys.0.use');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, key_ops: ['sign'] }])] }), 'peers.0.jwks.keys.0.key_ops');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, key_ops: 'verify' }])] }), 'peers.0.jwks.keys.0.key_ops');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, use: 'sig', key_ops: ['verify'] }])] }), 'ok');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, alg: 'Ed25519' }])] }), 'peers.0.jwks.keys.0', 'EC key pinned to Ed25519');
  t.equal(field({ peers: [peer({}, [{ ...c.pub, alg: 'ES256' }])] }), 'peers.0.jwks.keys.0', 'OKP key pinned to ES256');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, crv: 'P-384' }])] }), 'peers.0.jwks.keys.0');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, x: 'AAAA' }])] }), 'peers.0.jwks.keys.0');
  t.equal(field({ peers: [peer({}, [{ ...c.pub, x: 'A' }])] }), 'peers.0.jwks.keys.0');
  t.equal(field({ peers: [peer({}, [{ ...a.pub, y: a.pub.x === 'A'.repeat(43) ? 'B'.repeat(43) : 'A'.repeat(43) }])] }), 'peers.0.jwks.keys.0', 'point not on the curve');
  t.equal(field({ peers: [peer({}, [a.pub, { ...a2.pub, kid: a.pub.kid }])] }), 'peers.0.jwks.keys.1.kid', 'kid repeats within a peer');
  t.equal(field({ peers: [peer(), { id: 'carol', jwks: { keys: [{ ...c.pub, kid: a.pub.kid }] } }] }), 'peers.1.jwks.keys.0.kid', 'kid repeats across peers');
});

// An operator reads these messages to fix a trust configuration: each names the field and the rule.
t.test('invalid configurations: the message names the field and the rule', async (t) => {
  const k0 = 'peers.0.jwks.keys.0';
  const cases: [unknown, string][] = [
    [null, 'peers: must be an array'],
    [{ peers: {} }, 'peers: must be an array'],
    [{ peers: [null] }, 'peers.0.id: not a valid agent id'],
    [{ peers: [{ jwks: { keys: [a.pub] } }] }, 'peers.0.id: not a valid agent id'],
    [{ peers: [peer(), peer()] }, 'peers.1.id: duplicate peer alice'],
    [{ peers: [peer({ url: 7 as never })] }, 'peers.0.url: must be a string'],
    [{ peers: [peer({ jwks: null as never })] }, 'peers.0.jwks: must be a JWKS with at least one key'],
    [{ peers: [peer({ jwks: { keys: {} } as never })] }, 'peers.0.jwks: must be a JWKS with at least one key'],
    [{ peers: [peer({ retired: 'x' as never })] }, 'peers.0.retired: must be an array of kids'],
    [{ peers: [peer({ retired: ['nope', 'nada'] })] }, 'peers.0.retired: names no key of this peer: nope, nada'],
    [{ peers: [peer({}, [null])] }, `${k0}: not a JWK object`],
    [{ peers: [peer({}, ['jwk'])] }, `${k0}: not a JWK object`],
    [{ peers: [peer({}, [[]])] }, `${k0}: not a JWK object`],
    [{ peers: [peer({}, [{ ...a.pub, kid: 7 }])] }, `${k0}.kid: kid must be a string of 1..128 characters`],
    [{ peers: [peer({}, [{ ...a.pub, kid: 'k'.repeat(128) }])] }, 'ok'],
    [{ peers: [peer({}, [{ ...a.pub, kid: 'k' }])] }, 'ok'],
    [{ peers: [peer({}, [{ ...a.pub, alg: 'RS256' }])] }, `${k0}.alg: alg must be ES256 or Ed25519`],
    [{ peers: [peer({}, [a.priv])] }, `${k0}.d: private key material in a trust store`],
    [{ peers: [peer({}, [{ ...a.pub, use: 'enc' }])] }, `${k0}.use: use must be "sig"`],
    [{ peers: [peer({}, [{ ...a.pub, key_ops: ['sign'] }])] }, `${k0}.key_ops: key_ops must include "verify"`],
    [{ peers: [peer({}, [{ ...a.pub, kty: 'OKP' }])] }, `${k0}: ES256 needs an EC P-256 key with 32-byte x and y`],
    [{ peers: [peer({}, [{ ...a.pub, x: 7 }])] }, `${k0}: ES256 needs an EC P-256 key with 32-byte x and y`],
    [{ peers: [peer({}, [{ ...a.pub, x: '!'.repeat(43) }])] }, `${k0}: ES256 needs an EC P-256 key with 32-byte x and y`],
    [{ peers: [peer({}, [{ ...a.pub, y: 'AAAA' }])] }, `${k0}: ES256 needs an EC P-256 key with 32-byte x and y`],
    [{ peers: [peer({}, [{ ...c.pub, kty: 'EC' }])] }, `${k0}: Ed25519 needs an OKP Ed25519 key with a 32-byte x`],
    [{ peers: [peer({}, [{ ...c.pub, crv: 'X25519' }])] }, `${k0}: Ed25519 needs an OKP Ed25519 key with a 32-byte x`],
    [{ peers: [peer({}, [{ ...c.pub, x: 'A' }])] }, `${k0}: Ed25519 needs an OKP Ed25519 key with a 32-byte x`],
    [{ peers: [peer({}, [a.pub, { ...a2.pub, kid: a.pub.kid }])] }, `peers.0.jwks.keys.1.kid: kid ${a.pub.kid} is not unique in the trust store`],
  ];
  for (const [cfg, want] of cases) t.equal(message(cfg), want, want);
  t.match(message({ peers: [peer({}, [{ ...a.pub, y: a.pub.x === 'A'.repeat(43) ? 'B'.repeat(43) : 'A'.repeat(43) }])] }), /^peers\.0\.jwks\.keys\.0: key does not import: ./);
});

t.test('a peer without url has none; lookups of kids outside 1..128 characters find nothing', async (t) => {
  const s = new TrustStore({ peers: [peer({}, [{ ...a.pub, kid: 'a' }]), { id: 'carol', url: 'http://carol', jwks: { keys: [{ ...c.pub, kid: 'k'.repeat(128) }] } }] });
  t.notOk('url' in s.peer('alice')!, 'no url member');
  t.equal(s.peer('carol')!.url, 'http://carol');
  t.ok(s.key('k'.repeat(128)), 'a 128-character kid is found');
  t.ok(s.key('a'), 'a one-character kid is found');
  t.equal(s.key(''), undefined);
  t.equal(s.key('k'.repeat(129)), undefined);
});

// covers: req-key-validity
t.test('validity periods and revocations: parsed, checked and named by field', async (t) => {
  const s = new TrustStore({
    peers: [peer({}, [{ ...a.pub, nbf: 100, exp: 200 }, a2.pub]), { id: 'carol', jwks: { keys: [{ ...c.pub, exp: 300 }] } }],
    revoked: [{ kid: a2.pub.kid as string, at: 150 }],
  });
  const k = s.key(a.pub.kid as string)!;
  t.match(k, { nbf: 100, exp: 200 });
  t.notOk('revokedAt' in k, 'not revoked');
  t.equal(s.key(a2.pub.kid as string)!.revokedAt, 150);
  t.notOk('nbf' in s.key(a2.pub.kid as string)!, 'no period: no members');
  t.same(s.jwks('alice')!.keys.map((j) => [j['nbf'], j['exp']]), [[100, 200], [undefined, undefined]], 'exported with the key');
  t.equal(keyProblem(k, 99, true), 'not yet valid (nbf 100)');
  t.equal(keyProblem(k, 100, true), undefined, 'nbf is the first valid second');
  t.equal(keyProblem(k, 199, true), undefined);
  t.equal(keyProblem(k, 200, true), 'expired (exp 200)', 'exp is the first invalid second (RFC 7519 §4.1.4)');
  const r = s.key(a2.pub.kid as string)!;
  t.equal(keyProblem(r, 149, true), undefined, 'before the revocation');
  t.equal(keyProblem(r, 150, false), 'revoked (at 150)', 'from the revocation on, statements too');
  t.equal(keyProblem({ retired: true }, 0, true), 'retired (statements only)');
  t.equal(keyProblem({ retired: true }, 0, false), undefined);
  t.equal(keyProblem({ retired: true, revokedAt: 5 }, 9, false), 'revoked (at 5)', 'revocation outranks retirement');

  const k0 = 'peers.0.jwks.keys.0';
  const cases: [unknown, string][] = [
    [{ peers: [peer({}, [{ ...a.pub, nbf: -1 }])] }, `${k0}.nbf: nbf must be a NumericDate (integer seconds >= 0)`],
    [{ peers: [peer({}, [{ ...a.pub, exp: 1.5 }])] }, `${k0}.exp: exp must be a NumericDate (integer seconds >= 0)`],
    [{ peers: [peer({}, [{ ...a.pub, exp: '2030' }])] }, `${k0}.exp: exp must be a NumericDate (integer seconds >= 0)`],
    [{ peers: [peer({}, [{ ...a.pub, nbf: 5, exp: 5 }])] }, `${k0}.exp: exp must be later than nbf`],
    [{ peers: [peer()], revoked: {} }, 'revoked: must be an array of {kid, at}'],
    [{ peers: [peer()], revoked: [null] }, 'revoked.0.kid: must be a string'],
    [{ peers: [peer()], revoked: [{ kid: a.pub.kid, at: -3 }] }, 'revoked.0.at: must be a NumericDate (integer seconds >= 0)'],
    [{ peers: [peer()], revoked: [{ kid: a.pub.kid, at: 1 }, { kid: a.pub.kid, at: 2 }] }, `revoked.1.kid: kid ${a.pub.kid} is revoked twice`],
    [{ peers: [peer()], revoked: [{ kid: 'gone', at: 1 }] }, 'revoked.0.kid: names no key in the trust store: gone'],
    [{ peers: [peer({}, [{ ...a.pub, nbf: 0, exp: 1 }])], revoked: [{ kid: a.pub.kid, at: 0 }] }, 'ok'],
  ];
  for (const [cfg, want] of cases) t.equal(message(cfg), want, want);
});

// covers: req-kid-unique
t.test('reload refuses a kid that would name another key or another owner', async (t) => {
  const s = new TrustStore({ peers: [peer(), { id: 'carol', jwks: { keys: [c.pub] } }] });
  const reuse = { ...a2.pub, kid: a.pub.kid };
  t.throws(() => s.reload({ peers: [peer({}, [reuse])] }), { field: `kid ${a.pub.kid}`, message: /kid already names another key; a kid is never reused/ });
  t.throws(() => s.reload({ peers: [{ id: 'carol', jwks: { keys: [c.pub, a.pub] } }] }), { message: /\(of alice\)/ }, 'moved to another owner');
  t.equal(s.key(a.pub.kid as string)!.peer, 'alice', 'nothing changed');
  s.reload({ peers: [peer({}, [{ ...a.pub, exp: 10 }, a2.pub])], revoked: [{ kid: a.pub.kid as string, at: 5 }] });
  t.match(s.key(a.pub.kid as string), { exp: 10, revokedAt: 5 }, 'the same key may gain a period and a revocation');
  t.ok(s.key(a2.pub.kid as string), 'a new kid is fine');
});
