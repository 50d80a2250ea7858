/**
 * The single intake pipeline for envelopes. Steps run in the contract's
 * order; the first failing step's code is thrown as a ProtocolError and
 * nothing is remembered (the replay cache is written only by the last
 * envelope step). Authorisation against protocol state is the core's job.
 *
 * Signatures are verified with node:crypto on KeyObjects prepared once per
 * key; the asynchronous form runs on the libuv threadpool.
 */
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { ProtocolError, type ErrorCode } from '../errors.js';
import { PROTOCOL_VERSION } from '../version.js';
import { parseCompact } from './compact.js';
import { checkAlg, checkTyp, parseHeader, type ProtectedHeader } from './header.js';
import { parseJsonObject } from './json.js';
import { EMBEDDED, type EnvelopeKind, type Kind, type StatementKind } from './kinds.js';
import type { ReceiptAnswer } from './seal.js';
import type { RateLimiter } from './rate-limit.js';
import type { ReplayCache } from './replay-cache.js';
import type { RestartFloor } from './restart-floor.js';
import type { Schemas } from './schemas.js';
import { keyProblem, type TrustStore, type TrustedKey } from './trust-store.js';

export interface IntakeOptions {
  /** This node's agent id (the expected aud). */
  self: string;
  trust: TrustStore;
  schemas: Schemas;
  replay: ReplayCache;
  /** Restart protection (iat floor + persisted watermark). */
  floor?: RestartFloor;
  /** Maximum size in bytes (default 65 536). */
  maxBytes?: number;
  /** Freshness window and skew in seconds (defaults 300 and 30). */
  windowSeconds?: number;
  skewSeconds?: number;
  /** Per source (connection/address), checked before anything else. */
  sourceLimiter?: RateLimiter;
  /** Per verified peer, checked right after the signature. */
  peerLimiter?: RateLimiter;
  /** Clock in ms (default Date.now). */
  clock?: () => number;
}

export interface IntakeContext {
  /** Kind expected at this endpoint, or 'envelope' for the generic endpoint (default). */
  expected?: EnvelopeKind | 'envelope';
  /** Connection or source address key for the pre-verification rate limit. */
  source?: string;
}

export interface VerifiedStatement {
  readonly kind: StatementKind;
  readonly typ: string;
  readonly iss: string;
  readonly kid: string;
  readonly payload: Record<string, unknown>;
  readonly compact: string;
}

export interface Accepted {
  readonly kind: EnvelopeKind;
  /** Verified agent id of the sender (owner of the key, equal to iss). */
  readonly peer: string;
  readonly kid: string;
  readonly jti: string;
  readonly iat: number;
  /** The decoded payload: a fresh object owned by the caller. */
  readonly payload: Record<string, unknown>;
  /** Embedded statements in payload order (report.acks, cancel.authority, outcome.record). */
  readonly statements: readonly VerifiedStatement[];
}

/** Verify a JWS signature on the threadpool; false on any failure. */
export function verifySignature(alg: string, data: Buffer, key: KeyObject, sig: Buffer): Promise<boolean> {
  if (sig.length !== 64) return Promise.resolve(false);
  return new Promise((resolve) => {
    cryptoVerify(alg === 'ES256' ? 'sha256' : null, data, { key, dsaEncoding: 'ieee-p1363' }, sig,
      (err, ok) => resolve(err === null && ok));
  });
}

interface Verified {
  key: TrustedKey;
  kind: Kind;
  payload: Record<string, unknown>;
}

/**
 * Parsed protected headers by their encoded form: a peer sends the same few
 * headers (one per kid and typ) over and over. Parsing is a pure function of
 * the bytes, so only headers that parsed are kept, frozen; the table is
 * bounded and starts over when full.
 */
const headers = new Map<string, ProtectedHeader>();
const MAX_CACHED_HEADERS = 1024;
function cachedHeader(encoded: string, bytes: Buffer): ProtectedHeader {
  let h = headers.get(encoded);
  if (h === undefined) {
    h = Object.freeze(parseHeader(bytes));
    if (headers.size >= MAX_CACHED_HEADERS) headers.clear();
    headers.set(encoded, h);
  }
  return h;
}

/**
 * Steps shared by envelopes and statements: syntax, header, alg, typ, kid
 * (a key usable at `at`, the receipt time in seconds: within its validity
 * period, not revoked, not retired for an envelope), pinned alg, signature
 * (with `afterSignature` hook), payload, v, schema, iss.
 */
async function verifyJws(
  input: string,
  expected: Kind | readonly Kind[] | 'envelope',
  trust: TrustStore,
  schemas: Schemas,
  envelope: boolean,
  at: number,
  afterSignature?: (key: TrustedKey) => void,
): Promise<Verified> {
  const parts = parseCompact(input);
  const header = cachedHeader(parts.encodedHeader, parts.header);
  const alg = checkAlg(header.alg);
  const kind = checkTyp(header.typ, expected);
  const key = trust.key(header.kid);
  if (key === undefined) throw new ProtocolError('kid_unknown', 'kid names no usable key');
  // Judged at receipt, never at the signer's iat: a stolen key cannot backdate (req-key-validity).
  const unusable = keyProblem(key, at, envelope);
  if (unusable !== undefined) throw new ProtocolError('kid_unknown', `kid names a key that is ${unusable}`);
  if (key.alg !== alg) throw new ProtocolError('alg_mismatch', `key is pinned to ${key.alg}`);
  if (!(await verifySignature(alg, parts.signingInput, key.key, parts.signature))) {
    throw new ProtocolError('signature_invalid');
  }
  afterSignature?.(key);
  let payload: Record<string, unknown>;
  try {
    payload = parseJsonObject(parts.payload);
  } catch (e) {
    throw new ProtocolError('payload_invalid', `payload: ${(e as Error).message}`);
  }
  if (payload['v'] !== PROTOCOL_VERSION) throw new ProtocolError('version_unsupported', `v must be ${PROTOCOL_VERSION}`);
  schemas.validate(kind, payload);
  if (payload['iss'] !== key.peer) throw new ProtocolError('issuer_mismatch', 'iss is not the owner of the signing key');
  return { key, kind, payload };
}

const JTI = /^[A-Za-z0-9_-]{16,64}$/;

export class Intake {
  readonly self: string;
  readonly maxBytes: number;
  readonly windowSeconds: number;
  readonly skewSeconds: number;
  readonly #o: IntakeOptions;
  readonly #clock: () => number;

  constructor(opts: IntakeOptions) {
    this.#o = opts;
    this.self = opts.self;
    this.maxBytes = opts.maxBytes ?? 65_536;
    this.windowSeconds = opts.windowSeconds ?? 300;
    this.skewSeconds = opts.skewSeconds ?? 30;
    this.#clock = opts.clock ?? Date.now;
  }

  /** Run the pipeline on one message (a string or the raw request body). */
  async accept(input: string | Uint8Array, ctx: IntakeContext = {}): Promise<Accepted> {
    const o = this.#o;
    const nowMs = this.#clock();
    if (ctx.source !== undefined) o.sourceLimiter?.check(ctx.source, nowMs);
    if (input.length > this.maxBytes) throw new ProtocolError('too_large', `larger than ${this.maxBytes} bytes`);
    // Copy untrusted bytes before checking them; non-ASCII fails the syntax step.
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('latin1');
    let signed = false;
    let peer: string | null = null;
    const now = Math.floor(nowMs / 1000);
    try {
      const { key, kind, payload } = await verifyJws(text, ctx.expected ?? 'envelope', o.trust, o.schemas, true, now,
        (k) => { signed = true; o.peerLimiter?.check(k.peer, nowMs); });
      if (payload['aud'] !== this.self) throw new ProtocolError('audience_mismatch', 'aud is not this node');
      peer = key.peer; // authenticated: a refusal from here on may be signed (draft "req-receipt-sign")
      const iat = payload['iat'] as number;
      if (iat < now - this.windowSeconds - this.skewSeconds) throw new ProtocolError('iat_stale', 'iat outside the freshness window');
      if (iat > now + this.skewSeconds) throw new ProtocolError('iat_future', 'iat later than now plus skew');
      o.floor?.check(iat);
      const jti = payload['jti'] as string;
      o.replay.checkAndInsert(key.peer, key.peer, jti, iat, now);
      await o.floor?.accepted(iat);
      const statements = EMBEDDED[kind as EnvelopeKind] === undefined ? [] : await this.#statements(kind as EnvelopeKind, payload, now);
      return { kind: kind as EnvelopeKind, peer: key.peer, kid: key.kid, jti, iat, payload, statements };
    } catch (e) {
      // Past the signature the jti is authentic and may be named in an error frame.
      if (signed && e instanceof ProtocolError) {
        e.jti = peekJti(text, this.maxBytes);
        e.peer = peer;
      }
      throw e;
    }
  }

  /**
   * Verify a receipt statement answering one of this node's envelopes (draft
   * "req-receipt-match"): typ, a key of `expect.from` usable now and not
   * retired (as for an envelope: a receipt answers one now), schema, iss,
   * aud this node, jti the envelope's. No freshness or replay check: the jti
   * it names was fresh, and it confirms no other envelope.
   */
  async verifyReceipt(compact: string, expect: ReceiptExpectation): Promise<ReceiptAnswer> {
    const { key, payload } = await verifyJws(compact, 'receipt', this.#o.trust, this.#o.schemas, true, Math.floor(this.#clock() / 1000));
    if (key.peer !== expect.from) throw new ProtocolError('issuer_mismatch', 'receipt not signed by the receiver of the envelope');
    if (payload['aud'] !== this.self) throw new ProtocolError('audience_mismatch', 'receipt for another sender');
    if (payload['jti'] !== expect.jti) throw new ProtocolError('statement_invalid', 'receipt for another envelope');
    return payload['status'] === 'accepted' ? { status: 'accepted' } : { status: 'refused', code: payload['code'] as string };
  }

  /** Verify the statements an envelope carries; any failure is statement_invalid. */
  async #statements(kind: EnvelopeKind, payload: Record<string, unknown>, receivedAt: number): Promise<VerifiedStatement[]> {
    const spec = EMBEDDED[kind]!;
    const raw = payload[spec.member];
    const list = (spec.list ? raw : [raw]) as string[];
    const set = payload['set'] as { initiator: string; id: string };
    return Promise.all(list.map((compact, i) => this.verifyStatement(compact, spec.kinds, set, `${spec.member}${spec.list ? `[${i}]` : ''}`, receivedAt)));
  }

  /**
   * Verify one statement: key of its own iss (retired keys allowed) usable at
   * `receivedAt` (seconds, default now: the statement's receipt time, not its
   * iat), typ among `kinds`, schema, and, if given, its set equal to `set`.
   */
  async verifyStatement(compact: string, kinds: StatementKind | readonly StatementKind[],
    set?: { initiator: string; id: string }, where = 'statement',
    receivedAt = Math.floor(this.#clock() / 1000)): Promise<VerifiedStatement> {
    try {
      const { key, kind, payload } = await verifyJws(compact, kinds, this.#o.trust, this.#o.schemas, false, receivedAt);
      const s = payload['set'] as { initiator: string; id: string };
      if (set !== undefined && (s.initiator !== set.initiator || s.id !== set.id)) {
        throw new ProtocolError('statement_invalid', 'set differs from the envelope\'s');
      }
      return { kind: kind as StatementKind, typ: `rollback-${kind}+jwt`, iss: key.peer, kid: key.kid, payload, compact };
    } catch (e) {
      const inner = e instanceof ProtocolError ? e : new ProtocolError('internal');
      const code: ErrorCode = inner.code;
      throw new ProtocolError('statement_invalid', `${where}: ${code === 'statement_invalid' ? inner.message : `${code}: ${inner.message}`}`, { cause: inner });
    }
  }
}

export interface ReceiptExpectation {
  /** The agent the envelope was sent to (its aud): the receipt's signer. */
  from: string;
  /** The jti of the envelope sent. */
  jti: string;
}

/** Best-effort jti of an unverified envelope, for correlating error frames; null if absent. */
export function peekJti(input: string, maxBytes = 65_536): string | null {
  if (typeof input !== 'string' || input.length > maxBytes) return null;
  const a = input.indexOf('.');
  const b = input.indexOf('.', a + 1);
  if (a < 0 || b < 0) return null;
  try {
    const jti: unknown = (JSON.parse(Buffer.from(input.slice(a + 1, b), 'base64url').toString('utf8')) as { jti?: unknown }).jti;
    return typeof jti === 'string' && JTI.test(jti) ? jti : null;
  } catch {
    return null;
  }
}
