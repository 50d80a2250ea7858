/**
 * The node's trust store: for each peer agent, its public keys (a JWKS, RFC
 * 7517 §5), each with a `kid` and a pinned `alg` (RFC 8725 §3.1). Keys are
 * imported once into node:crypto KeyObjects. `kid` values are unique across
 * the whole store, so a kid names exactly one key and one owner; nothing is
 * ever fetched (RFC 8725 §3.10). Retired keys verify statements (old
 * records, years later) but not new envelopes. A key may carry a validity
 * period (`nbf`, `exp`: NumericDate members of its JWK, published with the
 * key) and may be revoked by the operator (`revoked`: kid and time); a key
 * is usable only at times inside the period and before the revocation
 * (draft "Key Distribution and Rotation", req-key-validity). A kid is never
 * reused for another key: `reload` refuses it. `reload` swaps atomically.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { isAlg, type Alg } from './kinds.js';
import { isBase64url } from './compact.js';
import { MAX_KID_LENGTH } from './header.js';

export interface Jwk {
  kty?: unknown; crv?: unknown; x?: unknown; y?: unknown; d?: unknown;
  kid?: unknown; alg?: unknown; use?: unknown; key_ops?: unknown;
  /** Non-standard marker accepted in a peer's JWKS file: the key is retired. */
  retired?: unknown;
  /** Validity period, NumericDate seconds (RFC 7519 §4.1.4/§4.1.5 semantics): usable at nbf <= t < exp. */
  nbf?: unknown; exp?: unknown;
  [name: string]: unknown;
}

export interface PeerTrust {
  /** Agent id of the peer. */
  id: string;
  url?: string;
  jwks: { keys: Jwk[] };
  /** kids of this peer's retired keys (alternative to `"retired": true` on the JWK). */
  retired?: string[];
}

/** The operator's revocation of one key: refused at and after `at` (NumericDate seconds). */
export interface Revocation {
  kid: string;
  at: number;
}

export interface TrustConfig {
  peers: PeerTrust[];
  /** Revoked keys of any owner (a kid names one key in the whole store). */
  revoked?: Revocation[];
}

export interface TrustedKey {
  readonly kid: string;
  readonly alg: Alg;
  /** Agent id owning the key. */
  readonly peer: string;
  readonly retired: boolean;
  /** Validity period (seconds), if the JWK has one. */
  readonly nbf?: number;
  readonly exp?: number;
  /** Revocation time (seconds), if revoked. */
  readonly revokedAt?: number;
  readonly key: KeyObject;
  /** Public JWK as configured (copy, only the public members). */
  readonly jwk: Readonly<Record<string, string>>;
}

export interface PeerInfo {
  readonly id: string;
  readonly url?: string;
  readonly kids: readonly string[];
}

export class TrustConfigError extends Error {
  readonly code = 'trust_config_invalid';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'TrustConfigError';
    this.field = field;
  }
}

const AGENT_ID = /^[A-Za-z0-9._~:/@+-]{1,255}$/;

const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Why a key may not be used for a message received at `t` (seconds), or
 * undefined if it may: outside nbf..exp, revoked at or before t, or retired
 * (envelopes only). Statements are checked at their receipt time, envelopes
 * at now (draft req-key-validity, req-statement-receipt-time).
 */
export function keyProblem(
  k: { readonly nbf?: number; readonly exp?: number; readonly revokedAt?: number; readonly retired?: boolean },
  t: number, envelope: boolean,
): string | undefined {
  if (k.revokedAt !== undefined && t >= k.revokedAt) return `revoked (at ${k.revokedAt})`;
  if (k.nbf !== undefined && t < k.nbf) return `not yet valid (nbf ${k.nbf})`;
  if (k.exp !== undefined && t >= k.exp) return `expired (exp ${k.exp})`;
  if (envelope && k.retired === true) return 'retired (statements only)';
  return undefined;
}

function b64Bytes(v: unknown, n: number): boolean {
  return typeof v === 'string' && isBase64url(v) && Buffer.from(v, 'base64url').length === n;
}

function importKey(jwk: Jwk, where: string): { kid: string; alg: Alg; key: KeyObject; pub: Record<string, string>; nbf?: number; exp?: number } {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) throw new TrustConfigError(where, 'not a JWK object');
  const { kid, alg } = jwk;
  if (typeof kid !== 'string' || kid.length < 1 || kid.length > MAX_KID_LENGTH) {
    throw new TrustConfigError(`${where}.kid`, `kid must be a string of 1..${MAX_KID_LENGTH} characters`);
  }
  if (!isAlg(alg)) throw new TrustConfigError(`${where}.alg`, 'alg must be ES256 or Ed25519');
  if (jwk.d !== undefined) throw new TrustConfigError(`${where}.d`, 'private key material in a trust store');
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new TrustConfigError(`${where}.use`, 'use must be "sig"');
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) {
    throw new TrustConfigError(`${where}.key_ops`, 'key_ops must include "verify"');
  }
  for (const m of ['nbf', 'exp'] as const) {
    if (jwk[m] !== undefined && !isTime(jwk[m])) throw new TrustConfigError(`${where}.${m}`, `${m} must be a NumericDate (integer seconds >= 0)`);
  }
  const nbf = jwk.nbf as number | undefined, exp = jwk.exp as number | undefined;
  if (nbf !== undefined && exp !== undefined && exp <= nbf) throw new TrustConfigError(`${where}.exp`, 'exp must be later than nbf');
  let pub: Record<string, string>;
  if (alg === 'ES256') {
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !b64Bytes(jwk.x, 32) || !b64Bytes(jwk.y, 32)) {
      throw new TrustConfigError(where, 'ES256 needs an EC P-256 key with 32-byte x and y');
    }
    pub = { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string };
  } else {
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || !b64Bytes(jwk.x, 32)) {
      throw new TrustConfigError(where, 'Ed25519 needs an OKP Ed25519 key with a 32-byte x');
    }
    pub = { kty: 'OKP', crv: 'Ed25519', x: jwk.x as string };
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pub, format: 'jwk' });
  } catch (e) {
    throw new TrustConfigError(where, `key does not import: ${(e as Error).message}`);
  }
  return { kid, alg, key, pub: { ...pub, kid, alg }, ...(nbf !== undefined ? { nbf } : {}), ...(exp !== undefined ? { exp } : {}) };
}

function build(config: TrustConfig): { keys: Map<string, TrustedKey>; peers: Map<string, PeerInfo> } {
  if (config === null || typeof config !== 'object' || !Array.isArray(config.peers)) {
    throw new TrustConfigError('peers', 'must be an array');
  }
  const keys = new Map<string, TrustedKey>();
  const peers = new Map<string, PeerInfo>();
  const revokedAt = new Map<string, number>();
  if (config.revoked !== undefined) {
    if (!Array.isArray(config.revoked)) throw new TrustConfigError('revoked', 'must be an array of {kid, at}');
    config.revoked.forEach((r, i) => {
      if (r === null || typeof r !== 'object' || typeof r.kid !== 'string') throw new TrustConfigError(`revoked.${i}.kid`, 'must be a string');
      if (!isTime(r.at)) throw new TrustConfigError(`revoked.${i}.at`, 'must be a NumericDate (integer seconds >= 0)');
      if (revokedAt.has(r.kid)) throw new TrustConfigError(`revoked.${i}.kid`, `kid ${r.kid} is revoked twice`);
      revokedAt.set(r.kid, r.at);
    });
  }
  config.peers.forEach((p, i) => {
    const where = `peers.${i}`;
    if (p === null || typeof p !== 'object' || typeof p.id !== 'string' || !AGENT_ID.test(p.id)) {
      throw new TrustConfigError(`${where}.id`, 'not a valid agent id');
    }
    if (peers.has(p.id)) throw new TrustConfigError(`${where}.id`, `duplicate peer ${p.id}`);
    if (p.url !== undefined && typeof p.url !== 'string') throw new TrustConfigError(`${where}.url`, 'must be a string');
    if (p.jwks === null || typeof p.jwks !== 'object' || !Array.isArray(p.jwks.keys) || p.jwks.keys.length === 0) {
      throw new TrustConfigError(`${where}.jwks`, 'must be a JWKS with at least one key');
    }
    const retiredKids = new Set<string>();
    if (p.retired !== undefined) {
      if (!Array.isArray(p.retired)) throw new TrustConfigError(`${where}.retired`, 'must be an array of kids');
      for (const r of p.retired) retiredKids.add(r);
    }
    const kids: string[] = [];
    p.jwks.keys.forEach((jwk, j) => {
      const k = importKey(jwk, `${where}.jwks.keys.${j}`);
      if (keys.has(k.kid)) throw new TrustConfigError(`${where}.jwks.keys.${j}.kid`, `kid ${k.kid} is not unique in the trust store`);
      const retired = retiredKids.delete(k.kid) || jwk.retired === true;
      const at = revokedAt.get(k.kid);
      keys.set(k.kid, Object.freeze({
        kid: k.kid, alg: k.alg, peer: p.id, retired,
        ...(k.nbf !== undefined ? { nbf: k.nbf } : {}), ...(k.exp !== undefined ? { exp: k.exp } : {}), ...(at !== undefined ? { revokedAt: at } : {}),
        key: k.key, jwk: Object.freeze(k.pub),
      }));
      kids.push(k.kid);
    });
    if (retiredKids.size > 0) {
      throw new TrustConfigError(`${where}.retired`, `names no key of this peer: ${[...retiredKids].join(', ')}`);
    }
    const info: PeerInfo = p.url === undefined ? { id: p.id, kids } : { id: p.id, url: p.url, kids };
    peers.set(p.id, Object.freeze(info));
  });
  config.revoked?.forEach((r, i) => {
    if (!keys.has(r.kid)) throw new TrustConfigError(`revoked.${i}.kid`, `names no key in the trust store: ${r.kid}`);
  });
  return { keys, peers };
}

export class TrustStore {
  #keys: Map<string, TrustedKey>;
  #peers: Map<string, PeerInfo>;

  constructor(config: TrustConfig) {
    const { keys, peers } = build(config);
    this.#keys = keys;
    this.#peers = peers;
  }

  /**
   * Replace the whole configuration. On error nothing changes. A kid that
   * named another key, or a key of another owner, is refused: evidence
   * signed under the old key would verify under the new one (draft req-kid-unique).
   */
  reload(config: TrustConfig): void {
    const { keys, peers } = build(config);
    for (const [kid, k] of keys) {
      const old = this.#keys.get(kid);
      if (old !== undefined && (old.peer !== k.peer || !sameKey(old.jwk, k.jwk))) {
        throw new TrustConfigError(`kid ${kid}`, `kid already names another key${old.peer !== k.peer ? ` (of ${old.peer})` : ''}; a kid is never reused`);
      }
    }
    this.#keys = keys;
    this.#peers = peers;
  }

  /** The key with this kid, or undefined. Bounded: long kids are never looked up. */
  key(kid: string): TrustedKey | undefined {
    if (kid.length < 1 || kid.length > MAX_KID_LENGTH) return undefined;
    return this.#keys.get(kid);
  }

  peer(id: string): PeerInfo | undefined {
    return this.#peers.get(id);
  }

  peers(): PeerInfo[] {
    return [...this.#peers.values()];
  }

  /** Public JWKS of a peer (for export/offline verification), with each key's validity period. */
  jwks(id: string): { keys: Record<string, string | number>[] } | undefined {
    const p = this.#peers.get(id);
    return p && { keys: p.kids.map((kid) => {
      const k = this.#keys.get(kid)!;
      return { ...k.jwk, ...(k.nbf !== undefined ? { nbf: k.nbf } : {}), ...(k.exp !== undefined ? { exp: k.exp } : {}) };
    }) };
  }
}

function sameKey(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  return a['kty'] === b['kty'] && a['crv'] === b['crv'] && a['x'] === b['x'] && a['y'] === b['y'] && a['alg'] === b['alg'];
}
