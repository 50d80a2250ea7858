/**
 * Member state machine (contract §5), per (set, member) at the member's
 * node, as an explicit transition table: state -> event -> allowed next
 * states. Anything not listed is `illegal_transition`.
 *
 * `new` is the pseudo-state before the member exists. Where the contract
 * names one target but the guard decides between several (a result with
 * dependents still outstanding or not), the table lists every allowed
 * target and the core picks one; transition() rejects any other.
 */
import { next, table, transition, type Table } from './transition-table.js';

export const memberStates = ['new', 'held', 'waiting', 'rolling_back', 'collecting', 'reported', 'expired', 'closed'] as const;
export type MemberState = (typeof memberStates)[number];

export const memberEvents = [
  'request',         // first request of the set for this member
  'covered',         // request covered by another set's earlier-or-equal rollback (overlap)
  'confirm',         // operator confirms a held member
  'decline',         // operator declines a held member
  'cancel',          // cancellation by the initiator
  'dependents_final',// every dependent final (or its wait timer) before compensation
  'result',          // the agent's rollback result
  'child_final',     // a dependent's ack arrives (final or interim)
  'deadline',        // the member's budget ends
  'lease_end',       // the fence lease ends
  'outcome',         // the set's record or a follow-up arrives
  'earlier_target',  // a request with an earlier target (diamond, cycle, new rollback)
] as const;
export type MemberEvent = (typeof memberEvents)[number];

const restart: MemberState[] = ['held', 'waiting', 'rolling_back'];

export const memberTransitions: Table<MemberState, MemberEvent> = table<MemberState, MemberEvent>({
  new: {
    request: ['held', 'waiting', 'rolling_back'],
    covered: ['reported'],
  },
  held: {
    outcome: ['held'], // record before this member's final: kept, the final becomes a follow-up
    confirm: ['waiting', 'rolling_back'],
    decline: ['reported'],
    cancel: ['reported'],
    child_final: ['held'],
    earlier_target: ['held'],
  },
  waiting: {
    outcome: ['waiting'], // record before this member's final: kept, the final becomes a follow-up
    dependents_final: ['rolling_back'],
    deadline: ['rolling_back'],
    cancel: ['reported'],
    child_final: ['waiting', 'rolling_back'],
    earlier_target: restart,
  },
  rolling_back: {
    outcome: ['rolling_back'], // record before this member's final: kept, the final becomes a follow-up
    result: ['collecting', 'reported'],
    // Not in contract §5: the agent never answers; see contract-changes.md.
    deadline: ['reported'],
    cancel: ['rolling_back'],
    child_final: ['rolling_back'],
    earlier_target: restart,
  },
  collecting: {
    outcome: ['collecting'], // record before this member's final: kept, the final becomes a follow-up
    child_final: ['collecting', 'reported'],
    deadline: ['reported'],
    cancel: ['collecting'],
    earlier_target: restart,
  },
  reported: {
    lease_end: ['expired'],
    outcome: ['closed'],
    cancel: ['reported'],
    child_final: ['reported'],
    earlier_target: restart,
  },
  expired: {
    outcome: ['closed'],
    cancel: ['expired'],
    child_final: ['expired'],
    earlier_target: restart,
  },
  closed: {
    outcome: ['closed'],
    child_final: ['closed'],
    earlier_target: restart,
  },
});

/** Allowed next states for (state, event); empty when illegal. */
export function memberNext(state: MemberState, event: MemberEvent): readonly MemberState[] {
  return next(memberTransitions, state, event);
}

/** Validate a transition; throws illegal_transition unless (state, event, next) is in the table. */
export function memberTransition(state: MemberState, event: MemberEvent, to?: MemberState): MemberState {
  return transition('member', memberTransitions, state, event, to);
}
