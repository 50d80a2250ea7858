/**
 * Recovery and follow-up records (contract §2, §3): hash over the RFC 8785
 * canonical JSON of the decoded payload, chained by index/prev in the
 * initiator's log, and an offline verifier that names the first broken link.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { aggregateOutcome, sameSet } from './rollback-set.js';
import type { AckPayload, FollowupPayload, MemberEntry, RecordPayload } from './types.js';

/** "sha-256:" + lowercase hex SHA-256 of the canonical JSON of a payload. */
export function hashPayload(payload: unknown): string {
  const text = canonicalize(payload);
  if (text === undefined) throw new TypeError('payload cannot be canonicalised');
  // node:crypto: the pure-JS hash dominated large runs (records of thousands of entries).
  return 'sha-256:' + createHash('sha256').update(text, 'utf8').digest('hex');
}

export type ChainBreak =
  | 'signature'          // verify() refused the record/followup
  | 'payload'            // not a record or followup payload
  | 'hash_mismatch'      // stored hash differs from the recomputed one
  | 'index_gap'          // index is not previous + 1 (or 1 first)
  | 'prev_mismatch'      // prev is not the hash of the previous entry
  | 'issuer'             // iss differs from the log owner / set initiator
  | 'unknown_refers'     // followup refers to no earlier record of this set
  | 'ack_signature'      // an embedded ack does not verify
  | 'ack_inconsistent'   // embedded ack disagrees with its entry (signer, member, set, status)
  | 'entry_invalid'      // initiator entry missing/with an ack, missing entry without reported_by
  | 'outcome_mismatch';  // outcome is not the aggregation of the entries

export type ChainResult =
  | { ok: true; count: number; head: string | null }
  | { ok: false; index: number; reason: ChainBreak; detail: string };

export type ChainEntry = string | { compact: string; hash?: string };

/**
 * Verify a record log in order. `verify(compact)` returns the payload of a
 * statement whose signature (under its iss's key) and typ it checked, or
 * throws. `index` in a failure is the position in `entries` (0-based).
 */
export function verifyRecordChain(
  entries: readonly ChainEntry[],
  verify: (compact: string) => unknown,
  /** chain: false for a recovery bundle (one set's record and follow-ups, not a whole log): index/prev links are not checked. */
  opts: { chain?: boolean } = {},
): ChainResult {
  const chain = opts.chain ?? true;
  let prevHash: string | null = null;
  let owner: string | undefined;
  const records = new Map<string, { set: string; root: string; members: Map<string, MemberEntry> }>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const compact = typeof e === 'string' ? e : e.compact;
    const fail = (reason: ChainBreak, detail: string): ChainResult => ({ ok: false, index: i, reason, detail });
    let p: RecordPayload | FollowupPayload;
    try {
      p = verify(compact) as RecordPayload | FollowupPayload;
    } catch (err) {
      return fail('signature', String((err as Error)?.message ?? err));
    }
    if (!p || typeof p !== 'object' || !Array.isArray(p.members) || typeof p.index !== 'number' || !p.set) {
      return fail('payload', 'not a record or followup');
    }
    const h = hashPayload(p);
    if (typeof e !== 'string' && e.hash !== undefined && e.hash !== h) return fail('hash_mismatch', `stored ${e.hash}, computed ${h}`);
    if (chain && p.index !== i + 1) return fail('index_gap', `index ${p.index} at position ${i + 1}`);
    if (chain && p.prev !== prevHash) return fail('prev_mismatch', `prev ${String(p.prev)}, expected ${String(prevHash)}`);
    owner ??= p.iss;
    if (p.iss !== owner || p.set.initiator !== p.iss) return fail('issuer', `iss ${p.iss} in the log of ${owner}`);
    const setKey = JSON.stringify([p.set.initiator, p.set.id]);
    let merged: Map<string, MemberEntry>;
    let root: string;
    const isFollowup = 'refers' in p;
    if ('refers' in p) {
      const base = records.get(p.refers);
      if (!base || base.set !== setKey) return fail('unknown_refers', `refers ${p.refers}`);
      merged = base.members;
      root = base.root;
    } else {
      root = (p as RecordPayload).cause?.execution;
      merged = new Map();
      const first = p.members[0];
      if (!first || first.agent !== p.iss || first.execution !== root || first.ack !== undefined) {
        return fail('entry_invalid', 'the initiator entry must come first, for the failed execution, without ack');
      }
    }
    for (let j = 0; j < p.members.length; j++) {
      const m = p.members[j]!;
      const isInitiator = m.agent === p.iss && m.execution === root && (isFollowup || j === 0);
      if (m.status === 'unresponsive' || m.status === 'escalated') {
        if (m.ack !== undefined || m.reported_by === undefined) return fail('entry_invalid', `entry ${j}: missing entry needs reported_by and no ack`);
      } else if (m.ack !== undefined) {
        let a: AckPayload;
        try {
          a = verify(m.ack) as AckPayload;
        } catch (err) {
          return fail('ack_signature', `entry ${j}: ${String((err as Error)?.message ?? err)}`);
        }
        if (!a || a.iss !== m.agent || a.member !== m.execution || !sameSet(a.set, p.set) || a.status !== m.status) {
          return fail('ack_inconsistent', `entry ${j}: ack does not match ${m.agent}/${m.execution} ${m.status}`);
        }
      } else if (!isInitiator) {
        return fail('entry_invalid', `entry ${j}: member entry without its ack`);
      }
      merged.set(JSON.stringify([m.agent, m.execution]), m);
    }
    if (p.outcome !== 'cancelled' && p.outcome !== aggregateOutcome([...merged.values()], false)) {
      return fail('outcome_mismatch', `outcome ${p.outcome}`);
    }
    if (!isFollowup) records.set(h, { set: setKey, root, members: merged });
    prevHash = h;
  }
  return { ok: true, count: entries.length, head: prevHash };
}
