/** Signed envelopes and statements: signing, the intake pipeline, trust, replay and rate limits. */
export {
  ENVELOPE_KINDS, STATEMENT_KINDS, ALGORITHMS, EMBEDDED, typOf, kindOfTyp, isEnvelopeKind, isStatementKind, isAlg,
  type EnvelopeKind, type StatementKind, type Kind, type EnvelopeTyp, type StatementTyp, type Typ, type Alg,
} from './kinds.js';
export { parseCompact, isBase64url, decodeBase64url, encodeBase64url, type CompactParts } from './compact.js';
export { parseHeader, checkAlg, checkTyp, MAX_KID_LENGTH, type ProtectedHeader } from './header.js';
export { parseJsonObject, findDuplicateName, JsonError } from './json.js';
export { Schemas, defaultSchemas, defaultSchemaDir } from './schemas.js';
export {
  TrustStore, TrustConfigError, keyProblem, type TrustConfig, type PeerTrust, type TrustedKey, type PeerInfo, type Jwk, type Revocation,
} from './trust-store.js';
export { ReplayCache, replayKey, type ReplayCacheOptions, type ReplayStats } from './replay-cache.js';
export { RestartFloor, fileWatermark, memoryWatermark, type WatermarkStore } from './restart-floor.js';
export { RateLimiter, type RateLimitOptions } from './rate-limit.js';
export { signJws, type SigningKey } from './sign.js';
export { createSigner, type Signer, type PrivateJwk } from './sync-signer.js';
export { sealEnvelope, sealStatement, sealReceipt, newJti, type SealOptions, type Sealed, type ReceiptAnswer } from './seal.js';
export {
  Intake, verifySignature, peekJti, type IntakeOptions, type IntakeContext, type Accepted, type VerifiedStatement, type ReceiptExpectation,
} from './intake.js';
export { errorFrame, receiptFrame, problemOf, toProtocolError, type ErrorFrame, type ReceiptFrame } from './frames.js';
export { keygen, loadSigner, loadJwks, type KeygenOptions, type KeyPairFiles } from './keygen.js';
