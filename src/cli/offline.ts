/**
 * Offline verification of statements (records, follow-ups, acks) years after
 * they were signed: keys come from JWKS files (retired keys included), never
 * from the statement itself, and no freshness applies. A statement is checked
 * against the key as it was when the statement was received (`receivedAt`,
 * from the log that holds it): inside the key's nbf..exp and before its
 * revocation, whatever its iat claims (draft req-statement-receipt-time).
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { keyProblem, type Revocation } from '../envelope/trust-store.js';

export interface KeySet { [agent: string]: { keys: Record<string, unknown>[] } }

/** Verifies one statement; `receivedAt` (seconds) is its receipt time when known. */
export type StatementCheck = (compact: string, receivedAt?: number) => Record<string, unknown>;

const time = (v: unknown): number | undefined => (Number.isSafeInteger(v) ? (v as number) : undefined);

export function statementVerifier(keysByAgent: KeySet, revoked: readonly Revocation[] = []): StatementCheck {
  const byKid = new Map<string, { agent: string; alg: string; key: KeyObject; nbf?: number; exp?: number; revokedAt?: number }>();
  const revokedAt = new Map(revoked.map((r) => [r.kid, r.at]));
  for (const [agent, jwks] of Object.entries(keysByAgent)) {
    for (const jwk of jwks.keys) {
      const { retired: _r, d: _d, nbf, exp, ...pub } = jwk;
      const kid = String(jwk['kid']);
      const k: { agent: string; alg: string; key: KeyObject; nbf?: number; exp?: number; revokedAt?: number } =
        { agent, alg: String(jwk['alg']), key: createPublicKey({ key: pub as never, format: 'jwk' }) };
      if (time(nbf) !== undefined) k.nbf = time(nbf)!;
      if (time(exp) !== undefined) k.exp = time(exp)!;
      if (revokedAt.has(kid)) k.revokedAt = revokedAt.get(kid)!;
      byKid.set(kid, k);
    }
  }
  return (compact, receivedAt) => {
    const parts = compact.split('.');
    if (parts.length !== 3) throw new Error('not a compact JWS');
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: string; kid?: string; typ?: string };
    const k = byKid.get(String(header.kid));
    if (!k) throw new Error(`unknown kid ${String(header.kid)}`);
    if (receivedAt !== undefined) {
      const unusable = keyProblem(k, receivedAt, false);
      if (unusable !== undefined) throw new Error(`kid ${String(header.kid)} names a key that was ${unusable} when the statement was received (${receivedAt})`);
    } else if (k.revokedAt !== undefined) {
      // Without a receipt time nothing shows the statement predates the compromise.
      throw new Error(`kid ${String(header.kid)} names a revoked key and the statement's receipt time is unknown`);
    }
    if (header.alg !== k.alg) throw new Error(`alg ${String(header.alg)} differs from the key's ${k.alg}`);
    const ok = cryptoVerify(k.alg === 'ES256' ? 'sha256' : null, Buffer.from(`${parts[0]}.${parts[1]}`),
      { key: k.key, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2]!, 'base64url'));
    if (!ok) throw new Error('signature does not verify');
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (payload['iss'] !== k.agent) throw new Error(`iss ${String(payload['iss'])} is not the key owner ${k.agent}`);
    return payload;
  };
}

export function decodePayload(compact: string): Record<string, any> {
  return JSON.parse(Buffer.from(compact.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, any>;
}
