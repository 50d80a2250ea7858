/**
 * Offline verification of statements (records, follow-ups, acks) years after
 * they were signed: keys come from JWKS files (retired keys included), never
 * from the statement itself, and no freshness applies.
 */
import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';

export interface KeySet { [agent: string]: { keys: Record<string, unknown>[] } }

export function statementVerifier(keysByAgent: KeySet): (compact: string) => Record<string, unknown> {
  const byKid = new Map<string, { agent: string; alg: string; key: KeyObject }>();
  for (const [agent, jwks] of Object.entries(keysByAgent)) {
    for (const jwk of jwks.keys) {
      const { retired: _r, d: _d, ...pub } = jwk;
      byKid.set(String(jwk['kid']), { agent, alg: String(jwk['alg']), key: createPublicKey({ key: pub as never, format: 'jwk' }) });
    }
  }
  return (compact) => {
    const parts = compact.split('.');
    if (parts.length !== 3) throw new Error('not a compact JWS');
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { alg?: string; kid?: string; typ?: string };
    const k = byKid.get(String(header.kid));
    if (!k) throw new Error(`unknown kid ${String(header.kid)}`);
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
