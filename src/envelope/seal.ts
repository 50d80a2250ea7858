/**
 * Building envelopes and statements: adds the claims (v, iss, aud, iat, jti
 * for envelopes; v, iss, iat for statements; receipts add the aud and jti
 * of the envelope they answer) to a body and signs it.
 * jti: 128 random bits, base64url (22 characters; RFC 7519 §4.1.7).
 */
import { randomBytes } from 'node:crypto';
import { PROTOCOL_VERSION } from '../version.js';
import { typOf, type EnvelopeKind, type StatementKind } from './kinds.js';
import type { Signer } from './sync-signer.js';

export function newJti(): string {
  return randomBytes(16).toString('base64url');
}

const RESERVED = ['v', 'iss', 'aud', 'iat', 'jti'];

function checkBody(body: object): void {
  for (const name of RESERVED) {
    if (Object.hasOwn(body, name)) throw new TypeError(`body must not set the claim ${name}`);
  }
}

export interface SealOptions {
  /** Issued-at, integer seconds; default: now. */
  iat?: number;
  jti?: string;
}

export interface Sealed {
  readonly compact: string;
  readonly jti: string;
  readonly iat: number;
}

/** Sign an envelope of `kind` from signer.iss to `aud`. */
export function sealEnvelope(signer: Signer, kind: EnvelopeKind, aud: string, body: object, opts: SealOptions = {}): Sealed {
  checkBody(body);
  const iat = opts.iat ?? Math.floor(Date.now() / 1000);
  const jti = opts.jti ?? newJti();
  const payload = { v: PROTOCOL_VERSION, iss: signer.iss, aud, iat, jti, ...body };
  return { compact: signer.sign(typOf(kind), payload), jti, iat };
}

/** What a receipt says about the envelope it answers (draft "msg-receipt"). */
export type ReceiptAnswer = { status: 'accepted' } | { status: 'refused'; code: string };

/**
 * Sign a receipt for the envelope `jti` from `aud`: a statement for that
 * sender only, naming that envelope (draft "req-receipt-sign").
 */
export function sealReceipt(signer: Signer, aud: string, jti: string, answer: ReceiptAnswer, opts: { iat?: number } = {}): string {
  const iat = opts.iat ?? Math.floor(Date.now() / 1000);
  const body = answer.status === 'accepted' ? { status: 'accepted' } : { status: 'refused', code: answer.code };
  return signer.sign(typOf('receipt'), { v: PROTOCOL_VERSION, iss: signer.iss, aud, iat, jti, ...body });
}

/** Sign a statement of `kind` (no aud, no jti). */
export function sealStatement(signer: Signer, kind: StatementKind, body: object, opts: { iat?: number } = {}): string {
  checkBody(body);
  const iat = opts.iat ?? Math.floor(Date.now() / 1000);
  return signer.sign(typOf(kind), { v: PROTOCOL_VERSION, iss: signer.iss, iat, ...body });
}
