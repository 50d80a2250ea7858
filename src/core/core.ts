/**
 * The protocol core (architecture.md "Core contract"): pure and
 * deterministic, no clocks, timers, randomness or I/O. Every call gets `now`;
 * statements are signed with the injected sync `sign`. A refused input
 * throws ProtocolError and changes nothing: every handler validates fully
 * before its first mutation.
 */
import { ProtocolError, type ErrorCode } from '../errors.js';
import { Execution, type Checkpoint } from './checkpoint.js';
import { Dependencies } from './dependency.js';
import { memberTarget, taintedDependents } from './taint.js';
import { memberNext, memberTransition, type MemberState } from './member.js';
import { aggregateEntries, aggregateOutcome, prefer, sameSet, setTransition, type SetState } from './rollback-set.js';
import { hashPayload } from './record.js';
import type {
  AckPayload, CancellationPayload, Cause, CheckpointRef, EnvelopeClaims, EnvelopeKind, FailureClass, FinalStatus,
  FollowupPayload, MemberEntry, MemberStatus, MissingEntry, Policy, RecordPayload, RequestBody, RestoredRef,
  Reversibility, SetRef, SetOutcome, ExecutionRef, Statement, StatementTyp, DependencyBody, FailureBody, ReportBody, CancelBody, OutcomeBody,
} from './types.js';

export interface CoreConfig {
  /** hops given to the root's dependents (contract §4 "Blast radius"). */
  maxHops: number;
  /** more tainted dependents than this at one member: escalate all of them. */
  fanoutLimit: number;
  /** budget withheld per hop so a child reports before its parent's deadline. */
  hopMarginMs: number;
  /** fence lease = budget + grace. */
  leaseGraceMs: number;
  /** the root member's budget, and the retransmission horizon of reports/outcomes. */
  defaultBudgetMs: number;
  /** owner's policy per local execution. */
  policy(execution: string): 'automatic' | 'held';
  /** retransmission horizon of dependency registrations (default 24 h). */
  registrationTtlMs?: number;
  /**
   * Largest sealed envelope this core produces (reports and outcomes are split
   * to stay under it; draft "Report Splitting"). Default 61440: 4 KiB under
   * the receivers' default limit of 65536 octets.
   */
  envelopeBudget?: number;
}

export interface CoreDeps {
  self: string;
  sign(typ: StatementTyp, payload: object): string;
  config: CoreConfig;
}

type Env<K extends EnvelopeKind, B> = { type: 'envelope'; kind: K; payload: EnvelopeClaims & B };

export type Input =
  | { type: 'execution'; execution: string }
  | { type: 'checkpoint'; execution: string; checkpoint: string; seq: number; digest: string; reversibility: Reversibility; hints?: unknown[] }
  | { type: 'consumed'; execution: string; producer: { agent: string; execution: string; checkpoint: string; seq: number } }
  | { type: 'failure'; execution: string; checkpoint: CheckpointRef; class: FailureClass; detail?: string; setId: string }
  | { type: 'observed'; execution: string; producer: { agent: string; execution: string; checkpoint: string; seq: number }; class: FailureClass; detail?: string }
  | { type: 'result'; set: SetRef; execution: string; status: 'restored' | 'compensated' | 'compensation_required' | 'failed'; restored?: { checkpoint: string; digest: string }; detail?: string }
  | { type: 'decision'; set: SetRef; execution?: string; decision: 'confirm' | 'decline'; by: string }
  | { type: 'cancel'; set: SetRef; detail?: string }
  | { type: 'security'; degraded: boolean }
  | Env<'dependency', DependencyBody>
  | (Env<'failure', FailureBody> & { setId: string })
  | Env<'request', RequestBody>
  | (Env<'report', ReportBody> & { statements: Statement<AckPayload>[] })
  | (Env<'cancel', CancelBody> & { statements: [Statement<CancellationPayload>] })
  | (Env<'outcome', OutcomeBody> & { statements: [Statement<RecordPayload | FollowupPayload>] })
  | { type: 'timer'; id: string }
  | { type: 'delivered'; key: string };

export interface SendEffect { type: 'send'; to: string; kind: EnvelopeKind; body: Record<string, unknown>; key: string; until: number }
export interface DirectiveEffect {
  type: 'directive'; set: SetRef; execution: string; action: 'restore' | 'compensate';
  target: RestoredRef; hints: unknown[]; cause: Cause;
}
export interface TimerEffect { type: 'timer'; id: string; at: number }
export interface RecordEffect { type: 'record'; kind: 'record' | 'followup'; set: SetRef; index: number; hash: string; compact: string }
export interface StateEffect {
  type: 'state'; scope: 'member' | 'set'; set: SetRef; execution?: string;
  state: MemberState | SetState; status?: MemberStatus | undefined;
}
export interface FenceEffect { type: 'fence'; set: SetRef; execution: string; until: number | null }
/** Answer to the local caller (agent face): the set opened/absorbed, or an error code recorded as state. */
export interface ReplyEffect { type: 'reply'; set?: SetRef; absorbed?: boolean; code?: ErrorCode; detail?: string }
export type Effect = SendEffect | DirectiveEffect | TimerEffect | RecordEffect | StateEffect | FenceEffect | ReplyEffect;

// ---------------------------------------------------------------- internals

interface ParentRec {
  agent: string;
  execution: string;
  /** the first requester: the member's finals travel up this edge; others get `satisfied` at once. */
  primary: boolean;
  /** report counter: every report (chunk) is a distinct send, `report|set|[member, parent, rev]`. */
  rev: number;
  last?: SendEffect;
  /** position in the member's upward stream (`MemberRec.up`) up to which acks went into reports to this parent. */
  cursor: number;
  /** distinct descendant acks put into reports to this parent: the report's `total`. */
  sent: number;
  /** descendant acks in reports to this parent that were receipted (per chunk, by `delivered`). */
  delivered: Set<string>;
}

interface ChildRec {
  agent: string;
  execution: string;
  asked: boolean;
  final: boolean;
  held: boolean;
  /** acks received from this child's reports, keyed by (iss, member, parent). */
  acks: Map<string, Statement<AckPayload>>;
  /** distinct descendant acks (acks[1..]) received from this child, and the largest `total` it announced. */
  got: Set<string>;
  total: number;
  /** (iss, member) of every ack received from this child: where follow-ups are routed. */
  subtree: Set<string>;
}

interface MemberRec {
  set: SetRef;
  skey: string;
  execution: string;
  root: boolean;
  state: MemberState;
  cause: Cause;
  target: Checkpoint;
  worst: Reversibility;
  hints: unknown[];
  policy: Policy;
  parents: ParentRec[];
  hops: number;
  deadline: number;
  leaseEnd: number;
  children: Map<string, ChildRec>;
  escalated: MissingEntry[];
  status?: FinalStatus | 'held';
  restored?: RestoredRef;
  reason?: string;
  detail?: string;
  by?: SetRef;
  fenced: boolean;
  /** descendant acks in the order they became current here (the upward stream), deduplicated. */
  up: string[];
  upSeen: Set<string>;
  /** acks of `up` superseded by a preferred ack for the same (iss, member, parent): not sent upward. */
  stale: Set<string>;
}

interface SetRec {
  ref: SetRef;
  skey: string;
  state: SetState;
  cause: Cause;
  execution: string;
  target: Checkpoint;
  cancelled: boolean;
  cancellation?: string;
  /** acks received at the root, in order (deduplicated by compact). */
  acks: Statement<AckPayload>[];
  ackSeen: Set<string>;
  recordHash?: string;
  published: Map<string, MemberEntry>;
  entries: Map<string, MemberEntry>;
}

interface TimerRec { id: string; at: number; kind: 'deadline' | 'wait' | 'lease'; skey: string; execution: string }

const k2 = (a: string, b: string): string => JSON.stringify([a, b]);
const setKey = (s: SetRef): string => k2(s.initiator, s.id);
const ackKey = (a: AckPayload): string => JSON.stringify([a.iss, a.member, a.parent.agent, a.parent.execution]);
const isFinal = (s: MemberStatus | undefined): boolean => s !== undefined && s !== 'held';
const iat = (now: number): number => Math.floor(now / 1000);
const MAX_BUDGET = 86_400_000;

// Size bounds of a sealed JWS (draft "Report Splitting"): a protected header of at most 256
// base64url characters ("alg", a "typ" of this document, a "kid" of at most 128 characters),
// a 64-octet signature (ES256 or Ed25519: 86 characters) and two dots.
const SEAL_OVERHEAD = 256 + 86 + 2;
const b64len = (octets: number): number => Math.ceil((octets * 4) / 3);
const octets = (x: unknown): number => Buffer.byteLength(JSON.stringify(x));
const sealed = (payloadOctets: number): number => SEAL_OVERHEAD + b64len(payloadOctets);
/** Envelope claims at their largest ("iat" of 16 digits, "jti" of 64 characters), plus the comma joining the body. */
const claimOctets = (iss: string, aud: string): number =>
  octets({ v: 1, iss, aud, iat: 9007199254740991, jti: 'x'.repeat(64) }) + 1;
const MAX_AGENT = 'x'.repeat(255);

function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object' && !Object.isFrozen(x)) {
    Object.freeze(x);
    for (const v of Object.values(x as object)) deepFreeze(v);
  }
  return x;
}

export class Core {
  readonly self: string;
  readonly #sign: CoreDeps['sign'];
  readonly #cfg: CoreConfig;
  readonly #executions = new Map<string, Execution>();
  readonly #deps = new Dependencies();
  readonly #members = new Map<string, Map<string, MemberRec>>();
  readonly #sets = new Map<string, SetRec>();
  readonly #seenRecords = new Map<string, Set<string>>();
  /** cache: record compact -> hash (a record page reaches a node once per parent that forwards it). */
  readonly #hashes = new Map<string, string>();
  readonly #pending = new Map<string, SendEffect>();
  /** report chunks with descendant acks not yet receipted: which member and parent sent them. */
  readonly #chunks = new Map<string, { skey: string; execution: string; agent: string; parent: string }>();
  readonly #timers = new Map<string, TimerRec>();
  readonly #log: { index: number; hash: string; compact: string; set: SetRef }[] = [];
  #degraded = false;
  #out: Effect[] = [];
  #now = 0;

  constructor(deps: CoreDeps) {
    this.self = deps.self;
    this.#sign = deps.sign;
    this.#cfg = deps.config;
  }

  // ------------------------------------------------------------ public API

  handle(raw: Input, now: number): Effect[] {
    // Copy untrusted input before checking it (it may be mutated by the caller meanwhile).
    const input = structuredClone(raw) as Input;
    this.#now = now;
    this.#out = [];
    switch (input.type) {
      case 'execution': this.#onExecution(input.execution); break;
      case 'checkpoint': this.#onCheckpoint(input); break;
      case 'consumed': this.#onConsumed(input); break;
      case 'failure': this.#onLocalFailure(input); break;
      case 'observed': this.#onObserved(input); break;
      case 'result': this.#onResult(input); break;
      case 'decision': this.#onDecision(input); break;
      case 'cancel': this.#onCancel(input); break;
      case 'security': this.#degraded = input.degraded; break;
      case 'timer': this.#onTimer(input.id); break;
      case 'delivered': this.#onDelivered(input.key); break;
      case 'envelope': this.#onEnvelope(input); break;
      default: throw new ProtocolError('internal', `unknown input ${(input as { type: string }).type}`);
    }
    const out = this.#out;
    this.#out = [];
    return out;
  }

  /** After replaying the log: every send not yet delivered, every armed timer, every outstanding directive. */
  resume(now: number): Effect[] {
    this.#now = now;
    const out: Effect[] = [...this.#pending.values()];
    for (const t of this.#timers.values()) out.push({ type: 'timer', id: t.id, at: t.at });
    for (const ms of this.#members.values()) {
      for (const m of ms.values()) {
        if (m.fenced) out.push({ type: 'fence', set: m.set, execution: m.execution, until: m.leaseEnd });
        if (m.state === 'rolling_back' && m.status === undefined) out.push(this.#directive(m));
      }
    }
    return out;
  }

  get degraded(): boolean {
    return this.#degraded;
  }

  /** Is the execution fenced (a member of an unfinished rollback whose lease runs)? */
  fenced(execution: string): boolean {
    for (const ms of this.#members.values()) if (ms.get(execution)?.fenced) return true;
    return false;
  }

  execution(id: string): Execution | undefined {
    return this.#executions.get(id);
  }

  /** Read-only view of a member (tests, demo, agent face). */
  member(set: SetRef, execution: string): {
    state: MemberState; status?: MemberStatus; target: CheckpointRef; root: boolean;
    restored?: RestoredRef; reason?: string; children: { agent: string; execution: string; asked: boolean; final: boolean }[];
    escalated: MissingEntry[];
    /** per parent: reports sent, distinct descendant acks sent (`total`) and receipted. */
    parents: { agent: string; execution: string; primary: boolean; reports: number; sent: number; delivered: number }[];
  } | undefined {
    const m = this.#members.get(setKey(set))?.get(execution);
    if (!m) return undefined;
    // Built from copies (no structuredClone: the node asks for it on every agent result).
    return deepFreeze({
      state: m.state, status: m.status, target: { checkpoint: m.target.id, seq: m.target.seq }, root: m.root,
      restored: m.restored && { ...m.restored }, reason: m.reason,
      children: [...m.children.values()].map((c) => ({ agent: c.agent, execution: c.execution, asked: c.asked, final: c.final })),
      escalated: m.escalated.map((e) => ({ ...e })),
      parents: m.parents.map((p) => ({
        agent: p.agent, execution: p.execution, primary: p.primary, reports: p.rev, sent: p.sent, delivered: p.delivered.size,
      })),
    });
  }

  /** Every member held at this node: [set, execution]. */
  members(): { set: SetRef; execution: string; state: MemberState; status?: MemberStatus; target: CheckpointRef }[] {
    const out = [];
    for (const ms of this.#members.values()) {
      for (const m of ms.values()) {
        out.push({ set: { ...m.set }, execution: m.execution, state: m.state, status: m.status, target: { checkpoint: m.target.id, seq: m.target.seq } });
      }
    }
    return out;
  }

  /** A set initiated here. */
  rollbackSet(set: SetRef): { state: SetState; outcome?: string; entries: MemberEntry[]; cancelled: boolean } | undefined {
    const s = this.#sets.get(setKey(set));
    if (!s) return undefined;
    const entries = [...s.entries.values()];
    return deepFreeze(structuredClone({
      state: s.state, cancelled: s.cancelled, entries,
      outcome: s.state === 'recorded' ? aggregateOutcome(entries, s.cancelled) : undefined,
    }));
  }

  /** This node's record log (records and follow-ups it signed as initiator). */
  records(): readonly { index: number; hash: string; compact: string; set: SetRef }[] {
    return deepFreeze(structuredClone(this.#log));
  }

  /** Deterministic serialisation of the whole state (tests: a refused input changes nothing). */
  snapshot(): string {
    const ser = (v: unknown): unknown => {
      if (v instanceof Map) return [...v].map(([k, x]) => [k, ser(x)]);
      if (v instanceof Set) return [...v];
      if (v instanceof Execution) return v.snapshot();
      if (v instanceof Dependencies) return v.snapshot();
      if (Array.isArray(v)) return v.map(ser);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, ser(x)]));
      return v;
    };
    return JSON.stringify(ser({
      e: this.#executions, d: this.#deps, m: this.#members, s: this.#sets, r: this.#seenRecords,
      p: this.#pending, c: this.#chunks, t: this.#timers, l: this.#log, g: this.#degraded,
    }));
  }

  // ------------------------------------------------------------ effects

  /** A receipt: the send is done; for a report chunk, its descendant acks count as delivered to that parent. */
  #onDelivered(key: string): void {
    const e = this.#pending.get(key);
    this.#pending.delete(key);
    const c = this.#chunks.get(key);
    if (!c || !e) return;
    this.#chunks.delete(key);
    const p = this.#members.get(c.skey)?.get(c.execution)?.parents.find((x) => x.agent === c.agent && x.execution === c.parent);
    for (const a of (e.body.acks as string[]).slice(1)) p?.delivered.add(a);
  }

  #send(to: string, kind: EnvelopeKind, body: Record<string, unknown>, key: string, until: number): SendEffect {
    const e: SendEffect = { type: 'send', to, kind, body, key, until };
    this.#pending.set(key, e);
    this.#out.push(e);
    return e;
  }

  #arm(kind: TimerRec['kind'], m: MemberRec, at: number): void {
    const id = `${kind}|${m.skey}|${m.execution}`;
    this.#timers.set(id, { id, at, kind, skey: m.skey, execution: m.execution });
    this.#out.push({ type: 'timer', id, at });
  }

  #disarm(kind: TimerRec['kind'], m: MemberRec): void {
    this.#timers.delete(`${kind}|${m.skey}|${m.execution}`);
  }

  #move(m: MemberRec, event: Parameters<typeof memberTransition>[1], next?: MemberState): void {
    m.state = memberTransition(m.state, event, next);
    this.#out.push({ type: 'state', scope: 'member', set: m.set, execution: m.execution, state: m.state, status: m.status });
  }

  #moveSet(s: SetRec, event: Parameters<typeof setTransition>[1], next?: SetState): void {
    const before = s.state;
    s.state = setTransition(s.state, event, next);
    if (before !== s.state) this.#out.push({ type: 'state', scope: 'set', set: s.ref, state: s.state });
  }

  #fence(m: MemberRec): void {
    m.fenced = true;
    this.#out.push({ type: 'fence', set: m.set, execution: m.execution, until: m.leaseEnd });
  }

  #release(m: MemberRec): void {
    if (!m.fenced) return;
    m.fenced = false;
    this.#out.push({ type: 'fence', set: m.set, execution: m.execution, until: null });
  }

  #directive(m: MemberRec): DirectiveEffect {
    return {
      type: 'directive', set: m.set, execution: m.execution,
      action: m.worst === 'compensable' ? 'compensate' : 'restore',
      target: { checkpoint: m.target.id, seq: m.target.seq, digest: m.target.digest },
      hints: [...m.hints], cause: m.cause,
    };
  }

  // ------------------------------------------------------------ local model inputs

  #exec(id: string): Execution {
    const e = this.#executions.get(id);
    if (!e) throw new ProtocolError('unknown_execution', `no execution ${id}`);
    return e;
  }

  #checkpoint(e: Execution, ref: CheckpointRef): Checkpoint {
    const cp = e.get(ref.checkpoint);
    if (!cp || cp.seq !== ref.seq) throw new ProtocolError('unknown_checkpoint', `no checkpoint ${ref.checkpoint}/${ref.seq} in ${e.id}`);
    return cp;
  }

  #onExecution(id: string): void {
    if (!this.#executions.has(id)) this.#executions.set(id, new Execution(id));
  }

  #onCheckpoint(i: Extract<Input, { type: 'checkpoint' }>): void {
    const e = this.#exec(i.execution);
    const cp = { id: i.checkpoint, seq: i.seq, digest: i.digest, reversibility: i.reversibility, hints: i.hints ?? [] };
    if (e.check(cp) === 'new') e.add(cp);
  }

  #onConsumed(i: Extract<Input, { type: 'consumed' }>): void {
    const e = this.#exec(i.execution);
    const kc = e.latest;
    // "If I cannot undo it, I do not do it": a checkpoint precedes any consumption (contract §1).
    if (!kc) throw new ProtocolError('unknown_checkpoint', `execution ${e.id} has no checkpoint`);
    const p = i.producer;
    const added = this.#deps.addConsumption({
      consumer: e.id, consumerCheckpoint: kc.id, consumerSeq: kc.seq,
      producerAgent: p.agent, producerExecution: p.execution, producerCheckpoint: p.checkpoint, producerSeq: p.seq,
    });
    if (!added) return;
    this.#send(p.agent, 'dependency', {
      consumer: { execution: e.id, checkpoint: kc.id, seq: kc.seq, digest: kc.digest },
      producer: { execution: p.execution, checkpoint: p.checkpoint, seq: p.seq },
    }, `dependency|${JSON.stringify([e.id, kc.id, p.agent, p.execution, p.checkpoint, p.seq])}`,
    this.#now + (this.#cfg.registrationTtlMs ?? 86_400_000));
  }

  #onObserved(i: Extract<Input, { type: 'observed' }>): void {
    this.#exec(i.execution);
    const p = i.producer;
    const ok = this.#deps.consumptionsOf(i.execution).some((c) => c.producerAgent === p.agent &&
      c.producerExecution === p.execution && c.producerCheckpoint === p.checkpoint && c.producerSeq === p.seq);
    if (!ok) throw new ProtocolError('no_dependency', 'no consumption of that output');
    const body: Record<string, unknown> = { execution: p.execution, checkpoint: { checkpoint: p.checkpoint, seq: p.seq }, class: i.class };
    if (i.detail !== undefined) body.detail = i.detail;
    this.#send(p.agent, 'failure', body, `failure|${JSON.stringify([p.agent, p.execution, p.checkpoint, p.seq])}`,
      this.#now + this.#cfg.defaultBudgetMs);
  }

  // ------------------------------------------------------------ failures and sets

  #onLocalFailure(i: Extract<Input, { type: 'failure' }>): void {
    const e = this.#exec(i.execution);
    const target = this.#checkpoint(e, i.checkpoint);
    const cause: Cause = { agent: this.self, execution: e.id, class: i.class, at: iat(this.#now) };
    if (i.detail !== undefined) cause.detail = i.detail;
    this.#openSet(i.setId, e, target, cause);
  }

  #onFailureEnvelope(i: Extract<Input, { kind: 'failure' }>): void {
    if (this.#degraded) throw new ProtocolError('security_degraded');
    const p = i.payload;
    const e = this.#exec(p.execution);
    const ok = this.#deps.dependentsOf(e.id).some((d) => d.consumerAgent === p.iss &&
      d.producerCheckpoint === p.checkpoint.checkpoint && d.producerSeq === p.checkpoint.seq);
    if (!ok) throw new ProtocolError('no_dependency', `${p.iss} holds no dependency on ${e.id} as of ${p.checkpoint.checkpoint}`);
    const target = this.#checkpoint(e, p.checkpoint);
    const cause: Cause = { agent: p.iss, execution: e.id, class: p.class, at: p.iat };
    if (p.detail !== undefined) cause.detail = p.detail;
    if (typeof i.setId !== 'string' || i.setId.length === 0) throw new ProtocolError('internal', 'failure envelope input without setId');
    this.#openSet(i.setId, e, target, cause);
  }

  #openSet(id: string, e: Execution, target: Checkpoint, cause: Cause): void {
    // Absorb: an open set of this execution already rolls back to an equal or earlier target (contract §4 "failure").
    for (const s of this.#sets.values()) {
      if (s.execution === e.id && (s.state === 'proposed' || s.state === 'open' || s.state === 'cancelling') && s.target.seq <= target.seq) {
        this.#out.push({ type: 'reply', set: { ...s.ref }, absorbed: true });
        return;
      }
    }
    const ref: SetRef = { initiator: this.self, id };
    const skey = setKey(ref);
    if (this.#sets.has(skey) || this.#members.has(skey)) throw new ProtocolError('illegal_transition', `set ${id} exists`);
    const held = this.#degraded || this.#cfg.policy(e.id) === 'held';
    const s: SetRec = {
      ref, skey, state: 'new', cause, execution: e.id, target, cancelled: false,
      acks: [], ackSeen: new Set(), published: new Map(), entries: new Map(),
    };
    this.#sets.set(skey, s);
    this.#moveSet(s, 'failure', held ? 'proposed' : 'open');
    this.#out.push({ type: 'reply', set: { ...ref } });
    if (!held) this.#startRoot(s, { mode: 'automatic' });
  }

  #startRoot(s: SetRec, policy: Policy): void {
    const deadline = this.#now + this.#cfg.defaultBudgetMs;
    const m = this.#newMember(s.ref, s.execution, true, s.cause, s.target, policy, this.#cfg.maxHops, deadline);
    this.#start(m, false);
  }

  #newMember(set: SetRef, execution: string, root: boolean, cause: Cause, target: Checkpoint, policy: Policy, hops: number, deadline: number): MemberRec {
    const skey = setKey(set);
    const { worst, hints } = this.#executions.get(execution)!.undo(target);
    const m: MemberRec = {
      set, skey, execution, root, state: 'new', cause, target, worst, hints, policy, parents: [], hops,
      deadline, leaseEnd: deadline + this.#cfg.leaseGraceMs, children: new Map(), escalated: [], fenced: false,
      up: [], upSeen: new Set(), stale: new Set(),
    };
    let ms = this.#members.get(skey);
    if (!ms) this.#members.set(skey, (ms = new Map()));
    ms.set(execution, m);
    return m;
  }

  /**
   * Ordering at a member (contract §4): fence, forward, then hold / wait for
   * dependents (compensable work) / issue the directive.
   */
  #start(m: MemberRec, restart: boolean): void {
    this.#fence(m);
    this.#forward(m);
    this.#arm('deadline', m, m.deadline);
    const held = m.policy.mode === 'held' && (m.policy.decision === undefined || restart) && !m.root;
    if (held || (m.root && this.#degraded && restart)) {
      m.status = 'held';
      m.policy = { mode: 'held' };
      this.#move(m, restart ? 'earlier_target' : 'request', 'held');
      this.#reportUp(m);
      return;
    }
    this.#proceed(m, restart ? 'earlier_target' : 'request');
  }

  /** Wait for dependents before compensating, or roll back now. */
  #proceed(m: MemberRec, event: 'request' | 'earlier_target' | 'confirm'): void {
    if (m.worst === 'compensable' && this.#outstanding(m)) {
      this.#move(m, event, 'waiting');
      this.#arm('wait', m, Math.max(this.#now, m.deadline - this.#cfg.hopMarginMs));
      return;
    }
    this.#move(m, event, 'rolling_back');
    this.#out.push(this.#directive(m));
  }

  /** Dependents still owing an answer. A `held` ack answers for now (contract §4 "Held policy": the parent is not stalled). */
  #outstanding(m: MemberRec): boolean {
    for (const c of m.children.values()) if (c.asked && !this.#answered(c)) return true;
    return false;
  }

  /** The child's own ack is in (final or held) and so is every descendant ack it announced (`total`). */
  #answered(c: ChildRec): boolean {
    return (c.final || c.held) && c.got.size >= c.total;
  }

  /** Forward requests to tainted dependents, or escalate (contract §4 "Blast radius"). */
  #forward(m: MemberRec): void {
    const tainted = taintedDependents(this.#deps.dependentsOf(m.execution), m.target.seq);
    const fresh = tainted.filter((t) => !m.children.has(k2(t.agent, t.execution)));
    const escalate = fresh.length > 0 && (m.hops <= 0 || tainted.length > this.#cfg.fanoutLimit);
    for (const t of fresh) {
      m.children.set(k2(t.agent, t.execution), {
        agent: t.agent, execution: t.execution, asked: !escalate, final: false, held: false, acks: new Map(),
        got: new Set(), total: 0, subtree: new Set(),
      });
      if (escalate) m.escalated.push({ agent: t.agent, execution: t.execution, reason: 'escalated' });
    }
    const budget = Math.min(MAX_BUDGET, Math.max(1, m.deadline - this.#now - this.#cfg.hopMarginMs));
    for (const c of m.children.values()) {
      if (!c.asked) continue;
      c.final = false;
      c.held = false;
      const body: RequestBody = {
        set: m.set, cause: m.cause, member: c.execution,
        producer: { execution: m.execution, checkpoint: m.target.id, seq: m.target.seq },
        hops: Math.max(0, m.hops - 1), budget,
      };
      this.#send(c.agent, 'request', body as unknown as Record<string, unknown>,
        `request|${m.skey}|${JSON.stringify([m.execution, c.agent, c.execution])}`, m.deadline);
    }
  }

  // ------------------------------------------------------------ acks and reports

  #ack(m: MemberRec, p: ParentRec, final: boolean, satisfied?: SetRef): string {
    const a: AckPayload = {
      v: 1, iss: this.self, iat: iat(this.#now), set: m.set, member: m.execution,
      parent: { agent: p.agent, execution: p.execution },
      status: satisfied ? 'satisfied' : (m.status ?? 'held'),
      target: { checkpoint: m.target.id, seq: m.target.seq },
    };
    if (satisfied) a.by = { ...satisfied };
    else {
      if (m.restored && (a.status === 'rolled_back' || a.status === 'compensated' || a.status === 'compensation_required')) a.restored = { ...m.restored };
      if (m.hints.length > 0) a.hints = structuredClone(m.hints);
      if (m.policy.mode === 'held') a.policy = { ...m.policy };
      const missing: MissingEntry[] = [...m.escalated];
      if (final) {
        for (const c of m.children.values()) {
          if (c.asked && !c.final && !c.held) missing.push({ agent: c.agent, execution: c.execution, reason: 'unresponsive' });
        }
      }
      if (missing.length > 0) a.missing = missing;
      if (m.by) a.by = { ...m.by };
      if (m.reason !== undefined) a.reason = m.reason;
      if (m.detail !== undefined) a.detail = m.detail;
    }
    return this.#sign('rollback-ack+jwt', a);
  }

  #parent(ref: { agent: string; execution: string }, primary: boolean): ParentRec {
    return { ...ref, primary, rev: 0, cursor: 0, sent: 0, delivered: new Set() };
  }

  get #budget(): number {
    return this.#cfg.envelopeBudget ?? 61_440;
  }

  #report(m: MemberRec, p: ParentRec, acks: string[], total?: number): void {
    const body: ReportBody = { set: m.set, member: m.execution, acks };
    if (total !== undefined && total > 0) body.total = total;
    p.last = this.#send(p.agent, 'report', body as unknown as Record<string, unknown>,
      `report|${m.skey}|${JSON.stringify([m.execution, p.agent, p.execution, p.rev++])}`,
      Math.max(m.leaseEnd, this.#now + this.#cfg.defaultBudgetMs));
    if (acks.length > 1) this.#chunks.set(p.last.key, { skey: m.skey, execution: m.execution, agent: p.agent, parent: p.execution });
  }

  /**
   * Own ack (held or final) and the descendant acks not yet sent to this parent, split into as
   * many reports as the envelope budget needs (draft "Report Splitting"). Every report carries
   * the own ack first and `total`, the number of distinct descendant acks sent to this parent so
   * far, so the parent knows when it holds them all whatever order the reports arrive in.
   */
  #flush(m: MemberRec, p: ParentRec, own: string): void {
    const fresh: string[] = [];
    for (let i = p.cursor; i < m.up.length; i++) if (!m.stale.has(m.up[i]!)) fresh.push(m.up[i]!);
    p.cursor = m.up.length;
    p.sent += fresh.length;
    const total = p.sent;
    const limit = this.#budget;
    const base = claimOctets(this.self, p.agent) +
      octets({ set: m.set, member: m.execution, acks: [own], total: 9007199254740991 });
    let chunk: string[] = [];
    let size = base;
    for (const a of fresh) {
      const add = a.length + 3; // quotes and comma: compacts are ASCII
      if (chunk.length > 0 && sealed(size + add) > limit) {
        this.#report(m, p, [own, ...chunk], total);
        chunk = [];
        size = base;
      }
      chunk.push(a);
      size += add;
    }
    this.#report(m, p, [own, ...chunk], total);
  }

  /** Own ack (held or final) and every descendant ack not yet sent, to the primary parent. */
  #reportUp(m: MemberRec): void {
    const final = isFinal(m.status);
    for (const p of m.parents) if (p.primary) this.#flush(m, p, this.#ack(m, p, final));
  }

  /** The member has its final status: report it (or, at the root, record the set). */
  #toReported(m: MemberRec, event: 'result' | 'child_final' | 'deadline' | 'decline' | 'cancel' | 'covered'): void {
    this.#disarm('deadline', m);
    this.#disarm('wait', m);
    this.#move(m, event, 'reported');
    this.#arm('lease', m, Math.max(this.#now, m.leaseEnd));
    if (m.root) this.#rootReported(m, event === 'deadline');
    else this.#reportUp(m);
  }

  #maybeComplete(m: MemberRec): void {
    if (this.#outstanding(m)) return;
    if (m.state === 'collecting') this.#toReported(m, 'child_final');
    else if (m.state === 'waiting') {
      this.#disarm('wait', m);
      this.#move(m, 'dependents_final', 'rolling_back');
      this.#out.push(this.#directive(m));
    }
  }

  // ------------------------------------------------------------ agent result, decisions, cancel

  #member(set: SetRef, execution: string): MemberRec {
    const m = this.#members.get(setKey(set))?.get(execution);
    if (!m) throw new ProtocolError('unknown_set', `no member ${execution} of set ${set.initiator}/${set.id}`);
    return m;
  }

  #onResult(i: Extract<Input, { type: 'result' }>): void {
    const m = this.#member(i.set, i.execution);
    // A result for an earlier directive (the target moved since): not this rollback's result.
    if (i.restored && i.restored.checkpoint !== m.target.id) throw new ProtocolError('illegal_transition', 'result for a superseded target');
    const next: MemberState = this.#outstanding(m) ? 'collecting' : 'reported';
    memberTransition(m.state, 'result', next);
    const needsRestored = i.status === 'restored' || i.status === 'compensated';
    if (needsRestored && !i.restored) throw new ProtocolError('schema_invalid', 'restored required');
    // Decision (contract-changes.md): a digest mismatch is recorded as the member's final `failed`
    // state and returned to the caller as a reply effect; the input itself is accepted.
    let status: FinalStatus;
    if (i.restored && i.restored.digest !== m.target.digest) {
      status = 'failed';
      m.reason = 'digest_mismatch';
      this.#out.push({ type: 'reply', set: { ...m.set }, code: 'digest_mismatch', detail: `restored ${i.restored.digest}, declared ${m.target.digest}` });
    } else if (i.status === 'failed') status = 'failed';
    else if (i.status === 'compensation_required' || m.worst === 'irreversible') status = 'compensation_required';
    else if (i.status === 'restored') status = m.worst === 'reversible' ? 'rolled_back' : 'compensation_required';
    else status = 'compensated';
    m.status = status;
    if (i.restored) m.restored = { checkpoint: m.target.id, seq: m.target.seq, digest: i.restored.digest };
    if (i.detail !== undefined) m.detail = i.detail;
    if (next === 'reported') this.#toReported(m, 'result');
    else this.#move(m, 'result', 'collecting');
  }

  #onDecision(i: Extract<Input, { type: 'decision' }>): void {
    const s = this.#sets.get(setKey(i.set));
    if (s && s.state === 'proposed' && (i.execution === undefined || i.execution === s.execution)) {
      if (i.decision === 'confirm') {
        this.#moveSet(s, 'confirm');
        this.#startRoot(s, { mode: 'held', decided_by: i.by, decision: 'confirmed' });
      } else this.#moveSet(s, 'decline');
      return;
    }
    if (i.execution === undefined) throw new ProtocolError('unknown_set', 'no proposed set');
    const m = this.#member(i.set, i.execution);
    if (i.decision === 'confirm') {
      memberTransition(m.state, 'confirm', m.worst === 'compensable' && this.#outstanding(m) ? 'waiting' : 'rolling_back');
      m.policy = { mode: 'held', decided_by: i.by, decision: 'confirmed' };
      m.status = undefined;
      this.#proceed(m, 'confirm');
    } else {
      memberTransition(m.state, 'decline');
      m.policy = { mode: 'held', decided_by: i.by, decision: 'declined' };
      m.status = 'declined';
      this.#toReported(m, 'decline');
      // The operator judged the output acceptable: the fence goes with the decision (draft "Held Members").
      this.#release(m);
    }
  }

  #onCancel(i: Extract<Input, { type: 'cancel' }>): void {
    if (i.set.initiator !== this.self) throw new ProtocolError('not_initiator');
    const s = this.#sets.get(setKey(i.set));
    if (!s) throw new ProtocolError('unknown_set');
    setTransition(s.state, 'cancel');
    if (s.cancelled) return; // already cancelling: the first cancellation stands
    const root = this.#members.get(s.skey)?.get(s.execution);
    const c: CancellationPayload = { v: 1, iss: this.self, iat: iat(this.#now), set: s.ref };
    if (i.detail !== undefined) c.detail = i.detail;
    const compact = this.#sign('rollback-cancellation+jwt', c);
    s.cancelled = true;
    s.cancellation = compact;
    this.#moveSet(s, 'cancel');
    if (root) this.#applyCancel(root, compact);
  }

  #applyCancel(m: MemberRec, authority: string): void {
    // Cancel wins only before the member's own rollback started (contract §4 "Cancel").
    if (m.state === 'held' || m.state === 'waiting') {
      m.status = 'cancelled';
      this.#release(m);
      this.#toReported(m, 'cancel');
    } else {
      this.#move(m, 'cancel', m.state);
      for (const p of m.parents) if (p.last) this.#resend(p.last);
    }
    for (const c of m.children.values()) {
      if (!c.asked) continue;
      const body: CancelBody = { set: m.set, member: c.execution, authority };
      this.#send(c.agent, 'cancel', body as unknown as Record<string, unknown>,
        `cancel|${m.skey}|${JSON.stringify([c.agent, c.execution])}`, this.#now + this.#cfg.defaultBudgetMs);
    }
  }

  #resend(e: SendEffect): void {
    this.#pending.set(e.key, e);
    this.#out.push(e);
  }

  // ------------------------------------------------------------ timers

  #onTimer(id: string): void {
    const t = this.#timers.get(id);
    // Disarmed, already fired, or fired before its (re-armed) instant: stale timers are expected.
    if (!t || this.#now < t.at) return;
    const m = this.#members.get(t.skey)?.get(t.execution);
    this.#timers.delete(id);
    if (!m) return;
    if (t.kind === 'wait') {
      if (m.state === 'waiting') {
        this.#move(m, 'deadline', 'rolling_back');
        this.#out.push(this.#directive(m));
      }
    } else if (t.kind === 'deadline') {
      if (m.state === 'waiting') {
        this.#move(m, 'deadline', 'rolling_back');
        this.#out.push(this.#directive(m));
      } else if (m.state === 'rolling_back') {
        m.status = 'failed';
        m.detail = 'no rollback result from the agent before the deadline';
        this.#toReported(m, 'deadline');
      } else if (m.state === 'collecting') this.#toReported(m, 'deadline');
    } else if (m.state === 'reported') {
      this.#move(m, 'lease_end', 'expired');
      this.#release(m);
    }
  }

  // ------------------------------------------------------------ envelopes

  #onEnvelope(i: Extract<Input, { type: 'envelope' }>): void {
    if (i.payload.aud !== this.self) throw new ProtocolError('audience_mismatch');
    switch (i.kind) {
      case 'dependency': return this.#onDependency(i.payload);
      case 'failure': return this.#onFailureEnvelope(i);
      case 'request': return this.#onRequest(i.payload);
      case 'report': return this.#onReport(i.payload, i.statements);
      case 'cancel': return this.#onCancelEnvelope(i.payload, i.statements);
      case 'outcome': return this.#onOutcome(i.payload, i.statements);
      default: throw new ProtocolError('typ_mismatch');
    }
  }

  #onDependency(p: EnvelopeClaims & DependencyBody): void {
    const e = this.#exec(p.producer.execution);
    this.#checkpoint(e, p.producer);
    const d = {
      producerExecution: e.id, producerCheckpoint: p.producer.checkpoint, producerSeq: p.producer.seq,
      consumerAgent: p.iss, consumerExecution: p.consumer.execution, consumerCheckpoint: p.consumer.checkpoint,
      consumerSeq: p.consumer.seq, consumerDigest: p.consumer.digest,
    };
    this.#deps.checkDependent(d);
    this.#deps.addDependent(d);
  }

  #onRequest(p: EnvelopeClaims & RequestBody): void {
    const e = this.#exec(p.member);
    const c = memberTarget(this.#deps.consumptionsOf(e.id), p.iss, p.producer.execution, p.producer.seq);
    if (!c) throw new ProtocolError('no_dependency', `${e.id} consumed no tainted output of ${p.iss}/${p.producer.execution}`);
    const target = e.get(c.consumerCheckpoint)!;
    const skey = setKey(p.set);
    const existing = this.#members.get(skey)?.get(e.id);
    const parentRef = { agent: p.iss, execution: p.producer.execution };
    const deadline = this.#now + p.budget;

    if (existing) {
      const m = existing;
      let earlier = target.seq < m.target.seq;
      // Covered by another set, and still covered at the earlier target: stay satisfied by it (earliest wins).
      const stillCovered = earlier && m.by !== undefined && m.status === 'satisfied' ? this.#covering(e.id, target.seq, skey) : undefined;
      if (stillCovered) {
        m.target = target;
        m.by = { ...stillCovered.set };
        earlier = false;
      }
      if (earlier && memberNext(m.state, 'earlier_target').length === 0) throw new ProtocolError('illegal_transition');
      let parent = m.parents.find((x) => x.agent === parentRef.agent && x.execution === parentRef.execution);
      if (!parent) {
        // A member already in the set answers a new parent at once (cycles, diamonds): `satisfied` by this set.
        parent = this.#parent(parentRef, false);
        m.parents.push(parent);
        if (earlier) this.#retarget(m, target, p, deadline);
        this.#report(m, parent, [this.#ack(m, parent, true, m.set)]);
        return;
      }
      if (earlier) {
        this.#retarget(m, target, p, deadline);
        return;
      }
      // Duplicate (retransmission, or re-forward whose boundary does not move this member): re-send the current answer.
      if (parent.last) this.#resend(parent.last);
      return;
    }

    // Overlap: another set already rolls this execution back to an earlier or equal target.
    const cover = this.#covering(e.id, target.seq, skey);
    const policy: Policy = { mode: this.#degraded || this.#cfg.policy(e.id) === 'held' ? 'held' : 'automatic' };
    const m = this.#newMember(p.set, e.id, false, p.cause, target, policy, p.hops, deadline);
    const parent = this.#parent(parentRef, true);
    m.parents.push(parent);
    if (cover) {
      m.status = 'satisfied';
      m.by = { ...cover.set };
      this.#move(m, 'covered', 'reported');
      this.#report(m, parent, [this.#ack(m, parent, true, cover.set)]);
      return;
    }
    this.#start(m, false);
  }

  #covering(execution: string, seq: number, except: string): MemberRec | undefined {
    for (const [skey, ms] of this.#members) {
      if (skey === except) continue;
      const m = ms.get(execution);
      if (!m || m.target.seq > seq) continue;
      if (m.state === 'waiting' || m.state === 'rolling_back' || m.state === 'collecting') return m;
      if (m.status === 'rolled_back' || m.status === 'compensated' || m.status === 'compensation_required') return m;
    }
    return undefined;
  }

  /** An earlier target: roll back further and re-forward with the new boundary (contract §4 "request"). */
  #retarget(m: MemberRec, target: Checkpoint, p: RequestBody, deadline: number): void {
    const terminal = m.state === 'reported' || m.state === 'expired' || m.state === 'closed';
    m.target = target;
    const u = this.#executions.get(m.execution)!.undo(target);
    m.worst = u.worst;
    m.hints = u.hints;
    m.status = undefined;
    m.restored = undefined;
    m.reason = undefined;
    m.detail = undefined;
    m.by = undefined;
    if (terminal) {
      m.deadline = deadline;
      m.leaseEnd = deadline + this.#cfg.leaseGraceMs;
      m.hops = p.hops;
    } else m.hops = Math.max(m.hops, p.hops);
    this.#disarm('lease', m);
    this.#disarm('wait', m);
    if (m.state === 'held') {
      this.#fence(m);
      this.#forward(m);
      m.status = 'held';
      this.#move(m, 'earlier_target', 'held');
      this.#reportUp(m);
      return;
    }
    this.#start(m, true);
  }

  #onReport(p: EnvelopeClaims & ReportBody, statements: Statement<AckPayload>[]): void {
    // Consistency (draft "Report Consistency") -> statement_invalid. The parent of a descendant ack
    // is not checked against the report: a subtree's acks are spread over several reports that may
    // arrive in any order (draft "Report Splitting", Security Considerations "Lying Members").
    const bad = (why: string): never => { throw new ProtocolError('statement_invalid', why); };
    if (!Array.isArray(statements) || statements.length === 0 || statements.length !== p.acks.length) bad('acks and statements differ');
    const acks = statements.map((s, i) => (s.compact === p.acks[i] ? s.payload : bad(`statement ${i} is not acks[${i}]`)));
    const a0 = acks[0]!;
    if (a0.iss !== p.iss || a0.member !== p.member || a0.parent.agent !== this.self) bad('acks[0] is not the reporter\'s ack to this node');
    if (p.total !== undefined && !(Number.isSafeInteger(p.total) && p.total >= 0)) throw new ProtocolError('schema_invalid', 'total');
    for (const [i, a] of acks.entries()) {
      if (!sameSet(a.set, p.set)) bad(`ack ${i} is for another set`);
      if ((a.status === 'rolled_back' || a.status === 'compensated') && !a.restored) bad(`ack ${i}: ${a.status} without restored`);
      if (a.status === 'satisfied' && !a.by) bad(`ack ${i}: satisfied without by`);
    }
    const skey = setKey(p.set);
    const ms = this.#members.get(skey);
    if (!ms) throw new ProtocolError('unknown_set');
    const m = ms.get(a0.parent.execution);
    const child = m?.children.get(k2(p.iss, p.member));
    if (!m || !child || !child.asked) throw new ProtocolError('no_dependency', 'this node never asked that member');
    // Parent-side digest check against the digests registered by dependency messages.
    for (const a of acks) {
      if (a.restored) {
        const d = this.#deps.digestOf(a.iss, a.member, a.restored.checkpoint);
        if (d !== undefined && d !== a.restored.digest) throw new ProtocolError('digest_mismatch', `${a.iss}/${a.member} restored ${a.restored.digest}, registered ${d}`);
      }
    }
    // Apply: merge by (iss, member, parent), idempotently.
    let changed = false;
    const accepted: Statement<AckPayload>[] = [];
    for (const [i, s] of statements.entries()) {
      if (i > 0 && !child.got.has(s.compact)) { child.got.add(s.compact); changed = true; }
      const key = ackKey(s.payload);
      const old = child.acks.get(key);
      if (!old || (old.compact !== s.compact && prefer(m.set, old.payload, s.payload))) {
        child.acks.set(key, s);
        // A member that answered `satisfied` by this set is under another primary parent: not routed here.
        if (s.payload.status !== 'satisfied' || !sameSet(s.payload.by, m.set)) child.subtree.add(k2(s.payload.iss, s.payload.member));
        if (old) m.stale.add(old.compact);
        if (!m.upSeen.has(s.compact)) { m.upSeen.add(s.compact); m.up.push(s.compact); }
        accepted.push(s);
        changed = true;
      }
    }
    if ((p.total ?? 0) > child.total) { child.total = p.total!; changed = true; }
    if (isFinal(a0.status) && !child.final) {
      child.final = true;
      changed = true;
    } else if (a0.status === 'held' && !child.held && !child.final) {
      child.held = true;
      changed = true;
    }
    if (!changed) return;
    const rootSet = m.root ? this.#sets.get(skey) : undefined;
    if (rootSet) {
      for (const s of accepted) {
        if (!rootSet.ackSeen.has(s.compact)) { rootSet.ackSeen.add(s.compact); rootSet.acks.push(s); }
      }
      if (rootSet.state === 'open' || rootSet.state === 'cancelling') this.#moveSet(rootSet, 'member_final');
    }
    switch (m.state) {
      case 'collecting':
      case 'waiting':
        this.#move(m, 'child_final', m.state);
        this.#maybeComplete(m);
        break;
      case 'held': // the held ack answered for now: dependents' finals travel up like late finals
      case 'reported':
      case 'expired':
      case 'closed':
        this.#move(m, 'child_final', m.state);
        if (rootSet) {
          // One follow-up once the child's reports are all in, not one per report.
          if (this.#answered(child)) this.#followup(rootSet);
        } else {
          // A final after this member reported travels up in a new report, with only the acks
          // this parent has not been sent yet (draft "Acknowledgements").
          for (const par of m.parents) {
            if (par.primary && par.cursor < m.up.length) this.#flush(m, par, this.#ack(m, par, m.state !== 'held'));
          }
        }
        break;
      default:
        this.#move(m, 'child_final', m.state);
    }
  }

  #onCancelEnvelope(p: EnvelopeClaims & CancelBody, statements: [Statement<CancellationPayload>]): void {
    const s = statements?.[0];
    if (!s || s.compact !== p.authority) throw new ProtocolError('statement_invalid', 'authority statement missing');
    if (s.payload.iss !== p.set.initiator || !sameSet(s.payload.set, p.set)) throw new ProtocolError('not_initiator');
    const m = this.#member(p.set, p.member);
    memberTransition(m.state, 'cancel', m.state === 'held' || m.state === 'waiting' ? 'reported' : m.state);
    this.#applyCancel(m, p.authority);
  }

  #onOutcome(p: EnvelopeClaims & OutcomeBody, statements: [Statement<RecordPayload | FollowupPayload>]): void {
    const s = statements?.[0];
    if (!s || s.compact !== p.record) throw new ProtocolError('statement_invalid', 'record statement missing');
    if (s.payload.iss !== p.set.initiator) throw new ProtocolError('not_initiator');
    if (!sameSet(s.payload.set, p.set)) throw new ProtocolError('statement_invalid', 'record for another set');
    const skey = setKey(p.set);
    const ms = this.#members.get(skey);
    if (!ms) throw new ProtocolError('unknown_set');
    let hash = this.#hashes.get(p.record);
    if (hash === undefined) this.#hashes.set(p.record, (hash = hashPayload(s.payload)));
    if (this.#seenRecords.get(skey)?.has(hash)) return; // the same record via another parent (diamond)
    this.#applyOutcome(skey, hash, p.record, s.payload);
  }

  /**
   * Apply a record or follow-up to every member of the set here (C8) and pass it down once per
   * child agent: a record to every child agent, a follow-up only to child agents whose subtree
   * holds one of its entries (draft "Recovery Record and Follow-ups": a large record is split
   * into follow-up pages, and no member needs the pages about other subtrees).
   */
  #applyOutcome(skey: string, hash: string, compact: string, payload: RecordPayload | FollowupPayload): void {
    let seen = this.#seenRecords.get(skey);
    if (!seen) this.#seenRecords.set(skey, (seen = new Set()));
    seen.add(hash);
    const ms = this.#members.get(skey);
    if (!ms) return;
    const about = 'refers' in payload ? payload.members.map((e) => k2(e.agent, e.execution)) : undefined;
    const agents = new Map<string, SetRef>();
    for (const m of ms.values()) {
      if (m.state === 'reported' || m.state === 'expired' || m.state === 'closed') {
        this.#disarm('lease', m);
        this.#release(m);
        this.#move(m, 'outcome', 'closed');
      } else this.#move(m, 'outcome', m.state);
      for (const c of m.children.values()) {
        if (!c.asked || c.agent === this.self || agents.has(c.agent)) continue;
        const self = k2(c.agent, c.execution);
        if (!about || about.some((k) => k === self || c.subtree.has(k))) agents.set(c.agent, m.set);
      }
    }
    for (const [agent, set] of agents) {
      const body: OutcomeBody = { set, record: compact };
      this.#send(agent, 'outcome', body as unknown as Record<string, unknown>, `outcome|${skey}|${JSON.stringify([agent, hash])}`,
        this.#now + this.#cfg.defaultBudgetMs);
    }
  }

  // ------------------------------------------------------------ records (initiator)

  #rootReported(m: MemberRec, deadline: boolean): void {
    const s = this.#sets.get(m.skey)!;
    if (s.state === 'recorded') return this.#followup(s);
    this.#moveSet(s, deadline ? 'deadline' : 'all_final', 'recorded');
    const entries = this.#entries(s, m);
    this.#publish(s, entries, aggregateOutcome(entries, s.cancelled), true);
  }

  /** Entries: the initiator's first, then depth-first along the acks' parents, so a page covers few subtrees. */
  #entries(s: SetRec, root: MemberRec): MemberEntry[] {
    // The root's own escalations and unanswered dependents (it has no ack of its own).
    const missing: MissingEntry[] = [];
    for (const c of root.children.values()) {
      if (!c.asked) missing.push({ agent: c.agent, execution: c.execution, reason: 'escalated' });
      else if (!c.final && !c.held) missing.push({ agent: c.agent, execution: c.execution, reason: 'unresponsive' });
    }
    const rest = aggregateEntries(s.ref, s.acks, { agent: this.self, execution: s.execution, missing });
    // The initiator's entry: its own status, unless a request back to it (a cycle) went unanswered.
    const i = rest.findIndex((e) => e.agent === this.self && e.execution === s.execution);
    const own: MemberEntry = i >= 0 ? rest.splice(i, 1)[0]! : { agent: this.self, execution: s.execution, status: root.status ?? 'held' };
    // The initiator has no ack of its own: its entry names a held policy itself (draft req-member-entry).
    if (root.policy.mode === 'held') own.policy = { ...root.policy };
    const parentOf = new Map<string, ExecutionRef>();
    for (const a of s.acks) parentOf.set(a.compact, a.payload.parent);
    const kids = new Map<string, MemberEntry[]>();
    for (const e of rest) {
      const par = e.ack !== undefined ? parentOf.get(e.ack) : undefined;
      if (!par) continue;
      const pk = k2(par.agent, par.execution);
      let l = kids.get(pk);
      if (!l) kids.set(pk, (l = []));
      l.push(e);
    }
    const all = [own];
    const done = new Set<string>([k2(own.agent, own.execution)]);
    const stack = [...(kids.get(k2(own.agent, own.execution)) ?? [])].reverse();
    while (stack.length > 0) {
      const e = stack.pop()!;
      const key = k2(e.agent, e.execution);
      if (done.has(key)) continue;
      done.add(key);
      all.push(e);
      const ks = kids.get(key);
      if (ks) for (let i = ks.length - 1; i >= 0; i--) stack.push(ks[i]!);
    }
    for (const e of rest) if (!done.has(k2(e.agent, e.execution))) all.push(e);
    s.entries = new Map(all.map((e) => [k2(e.agent, e.execution), e]));
    return all;
  }

  #followup(s: SetRec): void {
    const root = this.#members.get(s.skey)!.get(s.execution)!;
    if (root.state !== 'reported' && root.state !== 'expired' && root.state !== 'closed') return;
    const entries = this.#entries(s, root);
    const same = (a: MemberEntry | undefined, b: MemberEntry): boolean =>
      a !== undefined && a.status === b.status && a.ack === b.ack && a.reported_by === b.reported_by
      && JSON.stringify(a.policy) === JSON.stringify(b.policy);
    const changed = entries.filter((e) => !same(s.published.get(k2(e.agent, e.execution)), e));
    if (changed.length === 0) return;
    this.#moveSet(s, 'late_final', 'recorded');
    this.#publish(s, changed, aggregateOutcome(entries, s.cancelled), false);
  }

  /**
   * Sign entries as the record (first page) or follow-ups, in pages that each fit one outcome
   * envelope within the budget (draft "Recovery Record and Follow-ups"). Pages after the first
   * page of a record are follow-ups that refer to it, written at once.
   */
  #publish(s: SetRec, entries: MemberEntry[], outcome: SetOutcome, record: boolean): void {
    const limit = this.#budget;
    const wrap = claimOctets(this.self, MAX_AGENT) + octets({ set: s.ref, record: '' });
    const fits = (payloadOctets: number): boolean => sealed(wrap + sealed(payloadOctets)) <= limit;
    const maxHead = { v: 1, iss: this.self, iat: 9007199254740991, index: 9007199254740991, prev: `sha-256:${'0'.repeat(64)}`, set: s.ref };
    // A record that needs several pages keeps its first page small: it goes to every member,
    // the follow-up pages only where their entries are.
    const all = octets(entries) + octets({ ...maxHead, cause: s.cause, outcome, members: [] });
    const firstFits = record && fits(all) ? fits : (n: number): boolean => n <= 8192;
    let first = record;
    let i = 0;
    while (i < entries.length) {
      const ok = first ? firstFits : fits;
      const base = octets(first ? { ...maxHead, cause: s.cause, outcome, members: [] } : { ...maxHead, refers: s.recordHash ?? maxHead.prev, outcome, members: [] });
      let size = base;
      let j = i;
      while (j < entries.length) {
        const add = octets(entries[j]) + 1;
        if (j > i && !ok(size + add)) break;
        size += add;
        j++;
      }
      const members = entries.slice(i, j);
      const head = { v: 1 as const, iss: this.self, iat: iat(this.#now), index: this.#log.length + 1, prev: this.#log.at(-1)?.hash ?? null, set: s.ref };
      if (first) s.recordHash = this.#append('record', 'rollback-record+jwt', { ...head, cause: s.cause, outcome, members }, s);
      else this.#append('followup', 'rollback-followup+jwt', { ...head, refers: s.recordHash!, outcome, members }, s);
      for (const e of members) s.published.set(k2(e.agent, e.execution), e);
      first = false;
      i = j;
    }
  }

  #append(kind: 'record' | 'followup', typ: StatementTyp, payload: RecordPayload | FollowupPayload, s: SetRec): string {
    const compact = this.#sign(typ, payload);
    const hash = hashPayload(payload);
    this.#log.push({ index: payload.index, hash, compact, set: s.ref });
    this.#out.push({ type: 'record', kind, set: s.ref, index: payload.index, hash, compact });
    this.#applyOutcome(s.skey, hash, compact, payload);
    return hash;
  }
}
