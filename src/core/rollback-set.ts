/**
 * Rollback set at the initiator (contract §5) as an explicit transition
 * table, and aggregation of acks into member entries and the set outcome
 * (contract §4 "Aggregation").
 */
import { next, table, transition, type Table } from './transition-table.js';
import type { AckPayload, EntryStatus, MemberEntry, MissingEntry, SetOutcome, SetRef, Statement } from './types.js';

export const setStates = ['new', 'proposed', 'open', 'cancelling', 'recorded', 'declined'] as const;
export type SetState = (typeof setStates)[number];

export const setEvents = [
  'failure',      // failure signal (local or from a consumer)
  'confirm',      // operator confirms a held failure signal
  'decline',      // operator declines it
  'member_final', // an ack arrives at the initiator
  'cancel',       // the initiator cancels the set
  'all_final',    // every member final (the root member reported)
  'deadline',     // the set's budget ends
  'late_final',   // a final after the record: follow-up appended
] as const;
export type SetEvent = (typeof setEvents)[number];

const rows: Record<SetState, Partial<Record<SetEvent, SetState[]>>> = {
  new: { failure: ['proposed', 'open'] },
  proposed: { confirm: ['open'], decline: ['declined'] },
  open: { member_final: ['open'], cancel: ['cancelling'], all_final: ['recorded'], deadline: ['recorded'] },
  // A repeated cancel while cancelling changes nothing (draft set transitions).
  cancelling: { member_final: ['cancelling'], cancel: ['cancelling'], all_final: ['recorded'], deadline: ['recorded'] },
  recorded: { late_final: ['recorded'] },
  declined: {},
};

export const setTransitions: Table<SetState, SetEvent> = table(rows);

export function setNext(state: SetState, event: SetEvent): readonly SetState[] {
  return next(setTransitions, state, event);
}

export function setTransition(state: SetState, event: SetEvent, to?: SetState): SetState {
  return transition('set', setTransitions, state, event, to);
}

export const sameSet = (a: SetRef | undefined, b: SetRef | undefined): boolean =>
  a !== undefined && b !== undefined && a.initiator === b.initiator && a.id === b.id;

const isFinal = (s: EntryStatus): boolean => s !== 'held' && s !== 'unresponsive' && s !== 'escalated';

/**
 * Preference between two acks for the same (agent, member), contract §4:
 * a final over an interim; a non-satisfied final over satisfied-by-this-set;
 * among finals the earliest target; then the first received (`a`).
 * Returns true when `b` should replace `a`.
 */
export function prefer(set: SetRef, a: AckPayload, b: AckPayload): boolean {
  const fa = isFinal(a.status);
  const fb = isFinal(b.status);
  if (fa !== fb) return fb;
  if (!fa) return false;
  const sa = a.status === 'satisfied' && sameSet(a.by, set);
  const sb = b.status === 'satisfied' && sameSet(b.by, set);
  if (sa !== sb) return sa;
  return b.target.seq < a.target.seq;
}

/**
 * Member entries for a record: one per (agent, member), in first-received
 * order; a member only known from `missing` lists gets that entry with
 * reported_by. The entry carries the member's own compact ack as evidence.
 */
export function aggregateEntries(
  set: SetRef,
  acks: readonly Statement<AckPayload>[],
  exclude?: { agent: string; execution: string },
): MemberEntry[] {
  const chosen = new Map<string, Statement<AckPayload>>();
  const missing = new Map<string, { m: MissingEntry; by: string }>();
  const k = (a: string, e: string): string => JSON.stringify([a, e]);
  for (const s of acks) {
    const key = k(s.payload.iss, s.payload.member);
    const old = chosen.get(key);
    if (!old || prefer(set, old.payload, s.payload)) chosen.set(key, s);
    for (const m of s.payload.missing ?? []) {
      const mk = k(m.agent, m.execution);
      if (!missing.has(mk)) missing.set(mk, { m, by: s.payload.iss });
    }
  }
  const skip = exclude ? k(exclude.agent, exclude.execution) : undefined;
  const out: MemberEntry[] = [];
  for (const [key, s] of chosen) {
    if (key === skip) continue;
    out.push({ agent: s.payload.iss, execution: s.payload.member, status: s.payload.status, ack: s.compact });
  }
  for (const [key, { m, by }] of missing) {
    if (key === skip || chosen.has(key)) continue;
    out.push({ agent: m.agent, execution: m.execution, status: m.reason, reported_by: by });
  }
  return out;
}

/** Set outcome from member entries (contract §4 "Aggregation"). */
export function aggregateOutcome(entries: readonly { status: EntryStatus }[], cancelled: boolean): SetOutcome {
  if (cancelled) return 'cancelled';
  if (entries.some((e) => e.status === 'failed')) return 'failed';
  const partial: ReadonlySet<EntryStatus> = new Set<EntryStatus>(['compensation_required', 'declined', 'held', 'unresponsive', 'escalated']);
  if (entries.some((e) => partial.has(e.status))) return 'partial';
  return 'complete';
}
