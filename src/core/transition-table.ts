/**
 * State machines as data (draft "State Machines"): state -> event -> allowed
 * next states, frozen and prototype-free, so untrusted strings can never
 * reach Object.prototype and tests can enumerate every state x event.
 */
import { ProtocolError } from '../errors.js';

export type Table<S extends string, E extends string> = Readonly<Record<S, Readonly<Partial<Record<E, readonly S[]>>>>>;

export function table<S extends string, E extends string>(rows: Record<S, Partial<Record<E, S[]>>>): Table<S, E> {
  const out = Object.create(null) as Record<S, Partial<Record<E, readonly S[]>>>;
  for (const s of Object.keys(rows) as S[]) {
    const row = Object.create(null) as Partial<Record<E, readonly S[]>>;
    for (const e of Object.keys(rows[s]) as E[]) row[e] = Object.freeze([...rows[s][e]!]);
    out[s] = Object.freeze(row);
  }
  return Object.freeze(out);
}

/** Allowed next states for (state, event); empty when illegal. */
export function next<S extends string, E extends string>(t: Table<S, E>, state: S, event: E): readonly S[] {
  return t[state]?.[event] ?? [];
}

/** Validate a transition; throws illegal_transition unless (state, event, to) is in the table. */
export function transition<S extends string, E extends string>(machine: string, t: Table<S, E>, state: S, event: E, to?: S): S {
  const allowed = next(t, state, event);
  const chosen = to ?? allowed[0];
  if (chosen === undefined || !allowed.includes(chosen)) {
    throw new ProtocolError('illegal_transition', `${machine}: ${event} in ${state}${to ? ` -> ${to}` : ''}`);
  }
  return chosen;
}
