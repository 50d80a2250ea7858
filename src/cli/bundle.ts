/**
 * Recovery bundles (draft Section "Recovery Records"): one rollback set's
 * record, its follow-ups (the acknowledgements are embedded in them) and the
 * public keys of every signer, so that anyone can verify it offline.
 */
import { hashPayload, verifyRecordChain, type ChainResult } from '../core/record.js';
import { decodePayload, statementVerifier, type KeySet } from './offline.js';

export interface Bundle {
  bundle: 1;
  set: { initiator: string; id: string };
  /** The record first, then its follow-ups in log order. */
  statements: string[];
  keys: KeySet;
}

/** Pick one set's record and follow-ups out of a node's record log. */
export function buildBundle(records: readonly string[], set: { initiator: string; id: string }, keys: KeySet): Bundle {
  const payloads = records.map(decodePayload);
  const at = payloads.findIndex((p) => !('refers' in p) && p['set']?.initiator === set.initiator && p['set']?.id === set.id);
  if (at < 0) throw new Error(`no record of set ${set.initiator}/${set.id} in this log`);
  const hash = hashPayload(payloads[at]);
  const statements = [records[at]!, ...records.filter((_r, i) => payloads[i]!['refers'] === hash)];
  const signers = new Set<string>([set.initiator]);
  for (const s of statements) {
    for (const m of decodePayload(s)['members'] as { ack?: string }[]) if (m.ack) signers.add(String(decodePayload(m.ack)['iss']));
  }
  const subset: KeySet = Object.create(null);
  for (const a of signers) {
    if (!keys[a]) throw new Error(`no public key of ${a} to include`);
    subset[a] = keys[a];
  }
  return { bundle: 1, set, statements, keys: subset };
}

/** Verify a bundle: signatures, embedded acknowledgements, follow-up references, outcomes. */
export function verifyBundle(b: Bundle): ChainResult {
  if (b?.bundle !== 1 || !Array.isArray(b.statements) || b.statements.length === 0) {
    return { ok: false, index: 0, reason: 'payload', detail: 'not a recovery bundle' };
  }
  return verifyRecordChain(b.statements, statementVerifier(b.keys), { chain: false });
}
