/**
 * JWS Compact Serialization syntax (RFC 7515 §7.1): exactly three non-empty
 * base64url parts without padding (RFC 7515 §2, RFC 4648 §5). Decoding is
 * strict: Buffer's decoder is lenient (skips bad characters, ignores
 * non-zero trailing bits), so every part is checked before decoding.
 */
import { ProtocolError } from '../errors.js';

export interface CompactParts {
  /** ASCII bytes of `header.payload`, the JWS Signing Input (RFC 7515 §5.1). */
  readonly signingInput: Buffer;
  /** The header part as received (base64url). */
  readonly encodedHeader: string;
  readonly header: Buffer;
  readonly payload: Buffer;
  readonly signature: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** True iff `s` is canonical unpadded base64url (no stray trailing bits). */
export function isBase64url(s: string): boolean {
  if (!B64URL.test(s)) return false;
  const rem = s.length % 4;
  if (rem === 1) return false;
  if (rem === 0) return true;
  const last = ALPHABET.indexOf(s[s.length - 1]!);
  // 2 chars carry 8 bits (4 spare), 3 chars carry 16 bits (2 spare).
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0;
}

/** Strict base64url decode; throws `malformed`. */
export function decodeBase64url(s: string, what = 'part'): Buffer {
  if (!isBase64url(s)) throw new ProtocolError('malformed', `${what} is not canonical base64url`);
  return Buffer.from(s, 'base64url');
}

export function encodeBase64url(b: Uint8Array | string): string {
  return Buffer.from(b).toString('base64url');
}

/** Split and decode a compact JWS. `input` must already be size-checked. */
export function parseCompact(input: unknown): CompactParts {
  if (typeof input !== 'string') throw new ProtocolError('malformed', 'not a string');
  const a = input.indexOf('.');
  const b = a < 0 ? -1 : input.indexOf('.', a + 1);
  if (a < 0 || b < 0 || input.indexOf('.', b + 1) >= 0) {
    throw new ProtocolError('malformed', 'expected three dot-separated parts');
  }
  const h = input.slice(0, a);
  const p = input.slice(a + 1, b);
  const s = input.slice(b + 1);
  const header = decodeBase64url(h, 'header');
  const payload = decodeBase64url(p, 'payload');
  const signature = decodeBase64url(s, 'signature');
  return { signingInput: Buffer.from(input.slice(0, b), 'latin1'), encodedHeader: h, header, payload, signature };
}
