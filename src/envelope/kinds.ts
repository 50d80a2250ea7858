/**
 * Message kinds and their explicit `typ` values (RFC 8725 §3.11: explicit
 * typing; the `application/` prefix is omitted, RFC 7515 §4.1.9).
 */

export const ENVELOPE_KINDS = ['dependency', 'failure', 'request', 'report', 'cancel', 'outcome'] as const;
export const STATEMENT_KINDS = ['ack', 'cancellation', 'record', 'followup', 'receipt'] as const;

export type EnvelopeKind = (typeof ENVELOPE_KINDS)[number];
export type StatementKind = (typeof STATEMENT_KINDS)[number];
export type Kind = EnvelopeKind | StatementKind;

export type EnvelopeTyp = `rollback-${EnvelopeKind}+jwt`;
export type StatementTyp = `rollback-${StatementKind}+jwt`;
export type Typ = EnvelopeTyp | StatementTyp;

/** Algorithms accepted on the wire (RFC 9864 fully-specified identifiers). */
export const ALGORITHMS = ['ES256', 'Ed25519'] as const;
export type Alg = (typeof ALGORITHMS)[number];

export function typOf<K extends Kind>(kind: K): `rollback-${K}+jwt` {
  return `rollback-${kind}+jwt`;
}

/** Prototype-free typ -> kind table: untrusted strings never reach Object.prototype. */
const byTyp: Readonly<Record<string, Kind>> = Object.freeze(
  Object.assign(
    Object.create(null) as Record<string, Kind>,
    Object.fromEntries([...ENVELOPE_KINDS, ...STATEMENT_KINDS].map((k) => [typOf(k), k])),
  ),
);

/** The kind named by a typ, or undefined. Comparison is exact (case-sensitive). */
export function kindOfTyp(typ: string): Kind | undefined {
  return Object.hasOwn(byTyp, typ) ? byTyp[typ] : undefined;
}

const envelopeSet: ReadonlySet<string> = new Set(ENVELOPE_KINDS);
const statementSet: ReadonlySet<string> = new Set(STATEMENT_KINDS);
const algSet: ReadonlySet<string> = new Set(ALGORITHMS);

// Set.has is false for anything that is not one of the strings: no typeof check needed.
export function isEnvelopeKind(k: unknown): k is EnvelopeKind {
  return envelopeSet.has(k as string);
}
export function isStatementKind(k: unknown): k is StatementKind {
  return statementSet.has(k as string);
}
export function isAlg(a: unknown): a is Alg {
  return algSet.has(a as string);
}

/**
 * Embedded statements per envelope kind: the payload member that carries them
 * and the statement kinds allowed there.
 */
export const EMBEDDED: Readonly<Partial<Record<EnvelopeKind, { member: string; list: boolean; kinds: readonly StatementKind[] }>>> =
  Object.freeze(Object.assign(Object.create(null), {
    report: { member: 'acks', list: true, kinds: ['ack'] },
    cancel: { member: 'authority', list: false, kinds: ['cancellation'] },
    outcome: { member: 'record', list: false, kinds: ['record', 'followup'] },
  }));
