/**
 * Synchronous signer on node:crypto for the pure core, which signs
 * statements inside `handle()` and cannot await. ES256 signatures use the
 * JWS encoding R || S (RFC 7518 §3.4, dsaEncoding 'ieee-p1363'); Ed25519 per
 * RFC 8037 §3.1 under the fully-specified alg `Ed25519` (RFC 9864 §2.2).
 */
import { createPrivateKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { isAlg, type Alg, type Typ } from './kinds.js';

export interface Signer {
  /** Agent id the signer speaks for (the `iss` it puts in payloads). */
  readonly iss: string;
  readonly kid: string;
  readonly alg: Alg;
  /** Compact JWS of JSON.stringify(payload) with header {alg, typ, kid}. */
  sign(typ: Typ, payload: object): string;
}

export interface PrivateJwk {
  kty: string; crv: string; d: string; x: string; y?: string;
  kid: string; alg: string;
  [name: string]: unknown;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

/** Build a signer from a private JWK (carrying kid and alg) or a KeyObject plus kid and alg. */
export function createSigner(iss: string, key: PrivateJwk | KeyObject, opts: { kid?: string; alg?: Alg } = {}): Signer {
  let keyObject: KeyObject;
  let kid: unknown = opts.kid;
  let alg: unknown = opts.alg;
  if ('type' in key && typeof (key as KeyObject).export === 'function') {
    keyObject = key as KeyObject;
  } else {
    const jwk = key as PrivateJwk;
    kid ??= jwk.kid;
    alg ??= jwk.alg;
    keyObject = createPrivateKey({ key: jwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
  }
  if (keyObject.type !== 'private') throw new TypeError('signer needs a private key');
  if (typeof kid !== 'string' || kid.length === 0) throw new TypeError('signer needs a kid');
  if (!isAlg(alg)) throw new TypeError('signer alg must be ES256 or Ed25519');
  const akt = keyObject.asymmetricKeyType;
  const crv = keyObject.asymmetricKeyDetails?.namedCurve;
  if (alg === 'ES256' ? akt !== 'ec' || crv !== 'prime256v1' : akt !== 'ed25519') {
    throw new TypeError(`key type does not match alg ${alg}`);
  }
  const digest = alg === 'ES256' ? 'sha256' : null;
  const k = { key: keyObject, dsaEncoding: 'ieee-p1363' as const };
  const frozenKid = kid;
  const frozenAlg = alg;
  return Object.freeze({
    iss,
    kid: frozenKid,
    alg: frozenAlg,
    sign(typ: Typ, payload: object): string {
      const input = `${b64(JSON.stringify({ alg: frozenAlg, typ, kid: frozenKid }))}.${b64(JSON.stringify(payload))}`;
      return `${input}.${cryptoSign(digest, Buffer.from(input, 'latin1'), k).toString('base64url')}`;
    },
  });
}
