import { generateKeyPairSync } from 'node:crypto';
import {
  createSigner, Intake, ReplayCache, Schemas, TrustStore, type Alg, type IntakeOptions, type PrivateJwk, type Signer,
} from '../../src/envelope/index.js';

export interface TestKey { priv: PrivateJwk; pub: Record<string, unknown>; signer: Signer }

let n = 0;
export function makeKey(iss: string, alg: Alg = 'ES256', kid = `${iss}-k${++n}`): TestKey {
  const { privateKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const priv = { ...(privateKey.export({ format: 'jwk' }) as Record<string, string>), kid, alg } as PrivateJwk;
  const { d: _d, ...pub } = priv;
  return { priv, pub, signer: createSigner(iss, priv) };
}

export const schemas = new Schemas();
export const NOW = 1_767_225_600;
export const set = { initiator: 'alice', id: 'set-1' };
export const DIGEST = `sha-256:${'0'.repeat(64)}`;
export const depBody = {
  consumer: { execution: 'c1', checkpoint: 'k1', seq: 1, digest: DIGEST },
  producer: { execution: 'p1', checkpoint: 'j1', seq: 2 },
};
export const ackBody = (member = 'c1') => ({
  set, member, parent: { agent: 'bob', execution: 'p1' }, status: 'held', target: { checkpoint: 'k1', seq: 1 },
});

/** alice (ES256), carol (Ed25519), dave (ES256), bob = self. */
export function world(over: Partial<IntakeOptions> = {}) {
  const alice = makeKey('alice');
  const carol = makeKey('carol', 'Ed25519');
  const dave = makeKey('dave');
  const bob = makeKey('bob');
  const trust = new TrustStore({ peers: [
    { id: 'alice', jwks: { keys: [alice.pub] } },
    { id: 'carol', jwks: { keys: [carol.pub] } },
    { id: 'dave', jwks: { keys: [dave.pub] } },
    { id: 'bob', jwks: { keys: [bob.pub] } },
  ] });
  let now = NOW * 1000;
  const clock = { get: () => now, set: (s: number) => { now = s * 1000; } };
  const intake = new Intake({ self: 'bob', trust, schemas, replay: new ReplayCache(), clock: () => now, ...over });
  return { alice, carol, dave, bob, trust, intake, clock };
}
