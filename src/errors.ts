/**
 * The error registry (draft Section "Error Codes"). One table: the draft's
 * error table, the schemas' test vectors and this module must agree, and a
 * test fails if they differ. Codes are never reused or renumbered; a retired
 * code stays here with `retired: true`.
 */

export interface ErrorDefinition {
  /** HTTP status used by the HTTP binding. */
  readonly status: number;
  /** What the code means. */
  readonly meaning: string;
  /** What the sender does on receiving it. */
  readonly action: 'fix' | 'retry' | 'drop';
}

const table = {
  // Envelope intake, in pipeline order.
  too_large: { status: 413, meaning: 'message exceeds the size limit', action: 'drop' },
  malformed: { status: 400, meaning: 'not a JWS Compact Serialization with base64url parts', action: 'drop' },
  header_invalid: { status: 400, meaning: 'protected header is not a JSON object with exactly alg, typ and kid', action: 'drop' },
  alg_unsupported: { status: 400, meaning: 'alg is not ES256 or Ed25519', action: 'drop' },
  typ_mismatch: { status: 400, meaning: 'typ is not the expected message kind', action: 'drop' },
  kid_unknown: { status: 401, meaning: 'kid names no key in the trust store usable for this message', action: 'fix' },
  alg_mismatch: { status: 401, meaning: 'alg differs from the algorithm pinned for the key', action: 'drop' },
  signature_invalid: { status: 401, meaning: 'signature does not verify', action: 'drop' },
  payload_invalid: { status: 400, meaning: 'payload is not a JSON object without duplicate member names', action: 'drop' },
  version_unsupported: { status: 400, meaning: 'protocol version v is not supported', action: 'fix' },
  schema_invalid: { status: 400, meaning: 'payload does not match the schema of its kind', action: 'drop' },
  issuer_mismatch: { status: 401, meaning: 'iss is not the agent that owns the signing key', action: 'drop' },
  audience_mismatch: { status: 421, meaning: 'aud is not this node', action: 'drop' },
  iat_stale: { status: 400, meaning: 'iat is older than the freshness window', action: 'retry' },
  iat_future: { status: 400, meaning: 'iat is later than now plus the allowed skew', action: 'fix' },
  // A sender never sends one jti twice: a copy made by someone else came first, with an outcome it cannot know (draft "proc-retransmission").
  replayed: { status: 409, meaning: 'this (iss, jti) was already accepted', action: 'retry' },
  replay_quota: { status: 429, meaning: 'the peer has exhausted its replay-cache quota', action: 'retry' },
  rate_limited: { status: 429, meaning: 'the sender exceeded its rate limit', action: 'retry' },
  statement_invalid: { status: 400, meaning: 'an embedded statement does not verify or is inconsistent with its envelope', action: 'drop' },
  // Protocol state and authorisation.
  unknown_execution: { status: 404, meaning: 'no such execution at this node', action: 'fix' },
  unknown_checkpoint: { status: 404, meaning: 'no such checkpoint (id and seq) for the execution', action: 'fix' },
  checkpoint_conflict: { status: 409, meaning: 'checkpoint id already declared with other content', action: 'fix' },
  no_dependency: { status: 403, meaning: 'no recorded, tainted dependency authorises this message', action: 'drop' },
  not_initiator: { status: 403, meaning: 'cancellation not signed by the initiator of the rollback set', action: 'drop' },
  unknown_set: { status: 404, meaning: 'no such rollback set, or no request of it for this member', action: 'drop' },
  digest_mismatch: { status: 409, meaning: 'restored state digest differs from the checkpoint digest', action: 'fix' },
  illegal_transition: { status: 409, meaning: 'the event is not allowed in the current state', action: 'drop' },
  security_degraded: { status: 503, meaning: 'node refuses automatic action while its security state is degraded', action: 'retry' },
  // Agent face (local binding).
  unauthenticated: { status: 401, meaning: 'missing or wrong local credential', action: 'fix' },
  forbidden: { status: 403, meaning: 'credential does not allow this action', action: 'fix' },
  internal: { status: 500, meaning: 'internal error', action: 'retry' },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof table;

/** Prototype-free lookup so untrusted strings can never hit Object.prototype. */
export const errors: Readonly<Record<ErrorCode, ErrorDefinition>> = Object.freeze(
  Object.assign(Object.create(null) as Record<ErrorCode, ErrorDefinition>, table),
);

export const errorCodes = Object.freeze(Object.keys(table) as ErrorCode[]);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errors, value);
}

/** The one error base class. Callers switch on `code`. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /**
   * The jti of the refused envelope, set only once its signature verified:
   * an error frame never echoes a jti from an unverified payload (draft
   * "Transport Bindings", req-ws-error).
   */
  jti: string | null = null;
  /**
   * The sender, set only once signature, iss and aud verified: a refusal
   * from then on may be answered with a signed receipt (draft "req-receipt-sign").
   */
  peer: string | null = null;
  /** The receipt statement (status "refused") signed for this refusal, if any. */
  receipt: string | null = null;
  constructor(code: ErrorCode, message: string = errors[code].meaning, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
    this.code = code;
    this.status = errors[code].status;
  }
}

/** RFC 9457 problem details for the HTTP binding. */
export function problem(err: ProtocolError): { type: string; title: string; status: number; code: ErrorCode; detail: string } {
  return {
    type: `urn:ietf:params:rollback:error:${err.code}`,
    title: errors[err.code].meaning,
    status: err.status,
    code: err.code,
    detail: err.message,
  };
}
