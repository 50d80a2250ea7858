/**
 * Protocol data types (contract §3 CDDL). Wire objects are plain JSON; these
 * interfaces describe them after the envelope pipeline validated the schema.
 */

export type Reversibility = 'reversible' | 'compensable' | 'irreversible';

export interface SetRef { initiator: string; id: string }
export interface CheckpointRef { checkpoint: string; seq: number }
/** `attestation`: optional RATS attestation result about the restored state, opaque (draft "Attested Restores"). */
export interface RestoredRef { checkpoint: string; seq: number; digest: string; attestation?: string }
export interface ExecutionRef { agent: string; execution: string }

export const failureClasses = [
  'execution_error', 'eval_failure', 'policy_violation', 'safety_incident',
  'privacy_incident', 'security_incident', 'cost_overrun', 'latency_regression',
  'quality_regression', 'unauthorized_tool_use', 'canary_stop_condition',
  'monitoring_alert', 'user_report', 'manual_escalation',
] as const;
export type FailureClass = (typeof failureClasses)[number];

export interface Cause {
  agent: string;
  execution: string;
  class: FailureClass;
  at: number;
  detail?: string;
}

export type InterimStatus = 'held';
export type FinalStatus =
  | 'rolled_back' | 'compensated' | 'compensation_required'
  | 'failed' | 'declined' | 'cancelled' | 'satisfied';
export type MemberStatus = InterimStatus | FinalStatus;
export type EntryStatus = MemberStatus | 'unresponsive' | 'escalated';
export type SetOutcome = 'complete' | 'partial' | 'failed' | 'cancelled';

export const finalStatuses: readonly FinalStatus[] = [
  'rolled_back', 'compensated', 'compensation_required', 'failed', 'declined', 'cancelled', 'satisfied',
];

export interface Policy {
  mode: 'automatic' | 'held';
  decided_by?: string;
  decision?: 'confirmed' | 'declined';
}

export interface MissingEntry { agent: string; execution: string; reason: 'unresponsive' | 'escalated' }

export interface StatementClaims { v: 1; iss: string; iat: number; ext?: Record<string, unknown> }

export interface AckPayload extends StatementClaims {
  set: SetRef;
  member: string;
  parent: ExecutionRef;
  status: MemberStatus;
  target: CheckpointRef;
  restored?: RestoredRef;
  hints?: unknown[];
  policy?: Policy;
  missing?: MissingEntry[];
  by?: SetRef;
  reason?: string;
  detail?: string;
}

export interface CancellationPayload extends StatementClaims { set: SetRef; detail?: string }

export interface MemberEntry {
  agent: string;
  execution: string;
  status: EntryStatus;
  ack?: string;
  reported_by?: string;
  /** Only in the initiator's own entry, when its execution was held. */
  policy?: Policy;
}

export interface RecordPayload extends StatementClaims {
  index: number;
  prev: string | null;
  set: SetRef;
  cause: Cause;
  outcome: SetOutcome;
  members: MemberEntry[];
}

export interface FollowupPayload extends StatementClaims {
  index: number;
  prev: string | null;
  set: SetRef;
  refers: string;
  outcome: SetOutcome;
  members: MemberEntry[];
}

export type StatementTyp =
  | 'rollback-ack+jwt' | 'rollback-cancellation+jwt' | 'rollback-record+jwt' | 'rollback-followup+jwt';

export type EnvelopeKind = 'dependency' | 'failure' | 'request' | 'report' | 'cancel' | 'outcome';

export const envelopeTyp: Readonly<Record<EnvelopeKind, string>> = Object.freeze({
  dependency: 'rollback-dependency+jwt',
  failure: 'rollback-failure+jwt',
  request: 'rollback-request+jwt',
  report: 'rollback-report+jwt',
  cancel: 'rollback-cancel+jwt',
  outcome: 'rollback-outcome+jwt',
});

/** A statement decoded and verified by the envelope pipeline, with its compact form. */
export interface Statement<P = Record<string, unknown>> { compact: string; payload: P }

// ---- envelope bodies (payload minus v/iss/aud/iat/jti, contract §3) ----
export interface DependencyBody {
  consumer: { execution: string; checkpoint: string; seq: number; digest: string };
  producer: { execution: string; checkpoint: string; seq: number };
}
export interface FailureBody { execution: string; checkpoint: CheckpointRef; class: FailureClass; detail?: string }
export interface RequestBody {
  set: SetRef; cause: Cause; member: string;
  producer: { execution: string; checkpoint: string; seq: number };
  hops: number; budget: number;
}
/** `total`: distinct descendant acks the sender has sent to this parent for (set, member) so far (draft "Report Splitting"). */
export interface ReportBody { set: SetRef; member: string; acks: string[]; total?: number }
export interface CancelBody { set: SetRef; member: string; authority: string }
/** A Transparency Service's receipt for a registered record or follow-up (draft "Witnessed Records"). */
export interface WitnessEntry { entry: string; service: string; receipt: string }
export interface OutcomeBody { set: SetRef; record: string; witness?: WitnessEntry[] }

/** Envelope payload as verified by the pipeline (claims + body). */
export interface EnvelopeClaims { v: 1; iss: string; aud: string; iat: number; jti: string; ext?: Record<string, unknown> }
