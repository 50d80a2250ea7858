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
 * Member entries for a record (draft "Aggregation"), one per (agent, member),
 * in first-received order of their acks, then those known only from gaps.
 * A parent that listed the member in "missing" and holds no final ack of it
 * names the entry (its request may have asked for an earlier target than any
 * ack shows). Otherwise the preferred ack, never one "satisfied" by this set:
 * that only points at the member's answer to its primary parent, and without
 * that answer the member is "unresponsive" as observed by the initiator; so
 * is a member whose pointer names an earlier target than its preferred ack
 * (the answer for that target was lost). `root`: the initiator's member and
 * the dependents it has no final ack from; its own entry appears only as a gap.
 */
export function aggregateEntries(
  set: SetRef,
  acks: readonly Statement<AckPayload>[],
  root: { agent: string; execution: string; missing: readonly MissingEntry[] },
): MemberEntry[] {
  const k = (a: string, e: string): string => JSON.stringify([a, e]);
  const order = new Map<string, { agent: string; execution: string }>();
  const chosen = new Map<string, Statement<AckPayload>>();
  const answered = new Set<string>();
  const pointed = new Map<string, number>();
  const gaps = new Map<string, { m: MissingEntry; parent: string; by: string }[]>();
  const gap = (m: MissingEntry, parent: string, by: string): void => {
    const key = k(m.agent, m.execution);
    gaps.set(key, [...(gaps.get(key) ?? []), { m, parent, by }]);
  };
  for (const s of acks) {
    const p = s.payload;
    const key = k(p.iss, p.member);
    if (!order.has(key)) order.set(key, { agent: p.iss, execution: p.member });
    if (isFinal(p.status)) answered.add(JSON.stringify([key, k(p.parent.agent, p.parent.execution)]));
    const old = chosen.get(key);
    if (p.status === 'satisfied' && sameSet(p.by, set)) pointed.set(key, Math.min(p.target.seq, pointed.get(key) ?? Infinity));
    else if (!old || prefer(set, old.payload, p)) chosen.set(key, s);
    for (const m of p.missing ?? []) gap(m, key, p.iss);
  }
  const self = k(root.agent, root.execution);
  for (const m of root.missing) gap(m, self, root.agent);
  // Members known only from "missing" lists come after those with acks.
  for (const [key, [g]] of gaps) if (!order.has(key)) order.set(key, g!.m);
  const out: MemberEntry[] = [];
  for (const [key, ref] of order) {
    const g = gaps.get(key)?.find((x) => !answered.has(JSON.stringify([key, x.parent])));
    const s = chosen.get(key);
    if (g) out.push({ agent: ref.agent, execution: ref.execution, status: g.m.reason, reported_by: g.by });
    else if (key === self) continue;
    else if (s && s.payload.target.seq <= (pointed.get(key) ?? Infinity)) out.push({ agent: ref.agent, execution: ref.execution, status: s.payload.status, ack: s.compact });
    else out.push({ agent: ref.agent, execution: ref.execution, status: 'unresponsive', reported_by: root.agent });
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
