/**
 * Asynchronous signing with jose (RFC 7515 §5.1, compact serialization).
 * The protected header is exactly {alg, typ, kid}.
 */
import { CompactSign, type JWK } from 'jose';
import type { KeyObject } from 'node:crypto';
import type { Alg, Typ } from './kinds.js';

export interface SigningKey {
  readonly kid: string;
  readonly alg: Alg;
  /** Private key: a KeyObject, a CryptoKey or a private JWK. */
  readonly key: KeyObject | CryptoKey | JWK;
}

const enc = new TextEncoder();

/** Sign `payload` (serialised with JSON.stringify) as a compact JWS. */
export async function signJws(signer: SigningKey, typ: Typ, payload: object): Promise<string> {
  return new CompactSign(enc.encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: signer.alg, typ, kid: signer.kid })
    .sign(signer.key);
}
