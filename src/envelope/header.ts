/**
 * JOSE protected header checks. The header is allow-listed to exactly
 * {alg, typ, kid} (RFC 7515 §4.1; RFC 8725 §3.1, §3.11): no `crit` (§4.1.11),
 * no `b64` (RFC 7797), no key-carrying or key-fetching members (`jku`, `x5u`,
 * `jwk`, `x5c`: never trust a key from the message, RFC 8725 §3.10), no `cty`.
 */
import { ProtocolError } from '../errors.js';
import { parseJsonObject, JsonError } from './json.js';
import { isAlg, kindOfTyp, isEnvelopeKind, type Alg, type Kind } from './kinds.js';

export interface ProtectedHeader {
  readonly alg: string;
  readonly typ: string;
  readonly kid: string;
}

export const MAX_KID_LENGTH = 128;

/** Decode the header bytes: a JSON object with exactly alg, typ, kid, all strings. */
export function parseHeader(bytes: Uint8Array): ProtectedHeader {
  let h: Record<string, unknown>;
  try {
    h = parseJsonObject(bytes);
  } catch (e) {
    throw new ProtocolError('header_invalid', `protected header: ${(e as JsonError).message}`);
  }
  const names = Object.keys(h);
  for (const name of names) {
    if (name !== 'alg' && name !== 'typ' && name !== 'kid') {
      throw new ProtocolError('header_invalid', `header member ${JSON.stringify(name.slice(0, 32))} not allowed`);
    }
  }
  const { alg, typ, kid } = h;
  if (names.length !== 3 || typeof alg !== 'string' || typeof typ !== 'string' || typeof kid !== 'string') {
    throw new ProtocolError('header_invalid', 'header needs exactly alg, typ and kid as strings');
  }
  return { alg, typ, kid };
}

/** RFC 8725 §3.1: only the two algorithms of the profile; `EdDSA` is refused (RFC 9864 §2). */
export function checkAlg(alg: string): Alg {
  if (!isAlg(alg)) throw new ProtocolError('alg_unsupported', `alg ${JSON.stringify(alg.slice(0, 32))} not supported`);
  return alg;
}

/**
 * RFC 8725 §3.11: the typ must be the one expected at this endpoint.
 * `expected` is a kind, a list of kinds, or 'envelope' (any envelope kind).
 */
export function checkTyp(typ: string, expected: Kind | readonly Kind[] | 'envelope'): Kind {
  const kind = kindOfTyp(typ);
  const ok = kind !== undefined && (expected === 'envelope' ? isEnvelopeKind(kind)
    : typeof expected === 'string' ? kind === expected : expected.includes(kind));
  if (!ok) throw new ProtocolError('typ_mismatch', `typ ${JSON.stringify(typ.slice(0, 64))} not expected here`);
  return kind;
}
