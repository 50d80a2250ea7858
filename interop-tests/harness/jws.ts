/**
 * JWS tools the harness needs without trusting the implementation under
 * test: ES256 key generation (RFC 7638 thumbprint as kid), compact
 * decoding, verification, and re-signing a payload with the sender's key
 * (the harness generated every key, so its relay can forge a legitimate
 * retransmission: same content, fresh jti and iat; draft "proc-retransmission").
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type JsonWebKey } from 'node:crypto';

export interface KeyPair { privateJwk: JsonWebKey & { kid: string; alg: 'ES256' }; publicJwks: { keys: (JsonWebKey & { kid: string })[] } }

export function es256Keygen(): KeyPair {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  // RFC 7638: members in lexicographic order, no whitespace.
  const kid = createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url');
  const privateJwk = { ...jwk, kid, alg: 'ES256' as const, use: 'sig' };
  const { d: _d, ...pub } = privateJwk;
  return { privateJwk, publicJwks: { keys: [pub] } };
}

export interface Decoded { header: Record<string, unknown>; payload: Record<string, any>; parts: [string, string, string] }

export function decodeCompact(compact: string): Decoded {
  const parts = compact.split('.') as [string, string, string];
  if (parts.length !== 3) throw new Error('not a compact JWS');
  return {
    header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    parts,
  };
}

export function verifyCompact(compact: string, jwks: { keys: JsonWebKey[] }): boolean {
  const { header, parts } = decodeCompact(compact);
  const jwk = jwks.keys.find((k) => (k as { kid?: string }).kid === header['kid']);
  if (!jwk || header['alg'] !== 'ES256') return false;
  return verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`, 'latin1'),
    { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
}

/** Same protected header, payload changed by `edit`, signed again with `privateJwk`. */
export function resign(compact: string, privateJwk: JsonWebKey, edit: (p: Record<string, any>) => void): string {
  const { parts, payload } = decodeCompact(compact);
  edit(payload);
  const input = `${parts[0]}.${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}`;
  const sig = sign('sha256', Buffer.from(input, 'latin1'), { key: createPrivateKey({ key: privateJwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

/** A retransmission as the sender would make it: fresh jti and iat (draft "req-retransmit"). */
export function freshCopy(compact: string, privateJwk: JsonWebKey): string {
  return resign(compact, privateJwk, (p) => { p['jti'] = randomBytes(16).toString('base64url'); p['iat'] = Math.floor(Date.now() / 1000); });
}

/** Payload changed, signature kept: must be refused ("signature_invalid", draft "intake"). */
export function tamper(compact: string, edit: (p: Record<string, any>) => void): string {
  const { parts, payload } = decodeCompact(compact);
  edit(payload);
  return `${parts[0]}.${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}.${parts[2]}`;
}
