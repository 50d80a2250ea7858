/**
 * Deterministic discrete-event simulator: many nodes, each driving the very
 * Core class a node uses, exchanging the protocol's envelopes over a seeded
 * network with loss, duplication, reordering and delay. It plays the node's
 * parts around the core: the outbox (retransmit until receipt or deadline),
 * a stand-in for the intake pipeline (decode embedded statements, drop
 * replayed jti), timers and simulated agents answering directives.
 */
import { generateKeyPairSync, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { ProtocolError, errors, type ErrorCode } from '../errors.js';
import { Core, type CoreConfig, type Effect, type Input, type SendEffect, type DirectiveEffect, type RecordEffect } from './core.js';
import type { EnvelopeKind, StatementTyp } from './types.js';

/** How a simulated agent answers directives. */
export type AgentBehaviour = 'ok' | 'compensate' | 'required' | 'fail' | 'silent' | 'lie';

export interface SimOptions {
  seed?: number;
  /** probability that one transmission (envelope or receipt) is lost */
  loss?: number;
  /** probability that a transmission is delivered twice */
  duplicate?: number;
  /** delay range per transmission (ms); reordering follows from the spread */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** outbox retransmission interval (ms) */
  retryMs?: number;
  /** agent answer delay (ms) */
  agentDelayMs?: number;
  config?: Partial<Omit<CoreConfig, 'policy'>>;
  policy?: (agent: string, execution: string) => 'automatic' | 'held';
  behaviour?: (agent: string, execution: string) => AgentBehaviour;
  /** 'ed25519' (default): real signatures via node:crypto; 'none': unsigned (benchmarks). */
  signer?: 'ed25519' | 'none';
}

/** A refused delivery or local input, kept for inspection. */
export interface SimError { at: number; node: string; kind: string; code: ErrorCode; detail: string }

const b64u = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url');

/** Sync statement signer over an Ed25519 key (what a node injects into its Core). */
export function ed25519Signer(kid: string, key: KeyObject): (typ: StatementTyp, payload: object) => string {
  return (typ, payload) => {
    const input = `${b64u(JSON.stringify({ alg: 'Ed25519', typ, kid }))}.${b64u(JSON.stringify(payload))}`;
    return `${input}.${b64u(edSign(null, Buffer.from(input), key))}`;
  };
}

/** Verify an Ed25519 compact JWS against a key; returns the payload or throws. */
export function ed25519Verify(compact: string, key: KeyObject): Record<string, unknown> {
  const parts = compact.split('.');
  if (parts.length !== 3) throw new Error('not a compact JWS');
  const ok = edVerify(null, Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2]!, 'base64url'));
  if (!ok) throw new Error('signature does not verify');
  return decodeCompact(compact).payload;
}

/** Decode a compact JWS without verifying (the simulator's cheap stand-in for the pipeline). */
export function decodeCompact(compact: string): { header: { typ?: string; kid?: string }; payload: Record<string, unknown> } {
  const [h, p] = compact.split('.');
  return { header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString()), payload: JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) };
}

/** mulberry32: small seeded PRNG, enough for simulation. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Ev =
  | { t: number; n: number; kind: 'deliver'; from: string; to: string; send: SendEffect; jti: string; gen: number }
  | { t: number; n: number; kind: 'receipt'; node: string; key: string; gen: number }
  | { t: number; n: number; kind: 'attempt'; node: string; key: string; gen: number }
  | { t: number; n: number; kind: 'timer'; node: string; id: string; at: number }
  | { t: number; n: number; kind: 'input'; node: string; input: Input };

type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

class Heap {
  readonly #a: Ev[] = [];
  get size(): number { return this.#a.length; }
  peek(): Ev | undefined { return this.#a[0]; }
  push(e: Ev): void {
    const a = this.#a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Ev | undefined {
    const a = this.#a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
const less = (x: Ev, y: Ev): boolean => x.t < y.t || (x.t === y.t && x.n < y.n);

export interface SimNode {
  readonly id: string;
  readonly core: Core;
  /** the node's statement signer and (ed25519) public key, for tests and offline verification */
  readonly sign: (typ: StatementTyp, payload: object) => string;
  readonly publicKey: KeyObject | undefined;
  readonly outbox: Map<string, { send: SendEffect; gen: number }>;
  readonly timers: Map<string, number>;
  readonly seen: Set<string>;
  readonly records: RecordEffect[];
  readonly directives: DirectiveEffect[];
  readonly effects: Effect[];
}

export class Simulator {
  readonly nodes = new Map<string, SimNode>();
  readonly errors: SimError[] = [];
  /** nodes cut off: every transmission from or to them is lost (their outboxes keep retrying). */
  readonly partitioned = new Set<string>();
  readonly opts: Required<Omit<SimOptions, 'config' | 'policy' | 'behaviour'>> & Pick<SimOptions, 'config' | 'policy' | 'behaviour'>;
  readonly rand: () => number;
  now = 0;
  delivered = 0;
  transmissions = 0;
  readonly #q = new Heap();
  #n = 0;
  #jti = 0;
  #sets = 0;

  constructor(opts: SimOptions = {}) {
    this.opts = {
      seed: 1, loss: 0, duplicate: 0, minDelayMs: 1, maxDelayMs: 5, retryMs: 50, agentDelayMs: 3, signer: 'ed25519',
      ...opts,
    };
    this.rand = prng(this.opts.seed);
  }

  node(id: string): SimNode {
    let n = this.nodes.get(id);
    if (n) return n;
    let sign: (typ: StatementTyp, payload: object) => string;
    let publicKey: KeyObject | undefined;
    if (this.opts.signer === 'none') {
      sign = (typ, payload) => `${b64u(JSON.stringify({ alg: 'none', typ, kid: id }))}.${b64u(JSON.stringify(payload))}.AA`;
    } else {
      const pair = generateKeyPairSync('ed25519');
      publicKey = pair.publicKey;
      sign = ed25519Signer(id, pair.privateKey);
    }
    const policy = this.opts.policy;
    const core = new Core({
      self: id,
      sign,
      config: {
        maxHops: 16, fanoutLimit: 64, hopMarginMs: 20, leaseGraceMs: 1000, defaultBudgetMs: 5000,
        ...this.opts.config,
        policy: (execution) => (policy ? policy(id, execution) : 'automatic'),
      },
    });
    n = { id, core, sign, publicKey, outbox: new Map(), timers: new Map(), seen: new Set(), records: [], directives: [], effects: [] };
    this.nodes.set(id, n);
    return n;
  }

  #push(e: DistOmit<Ev, 'n'>): void {
    this.#q.push({ ...e, n: this.#n++ } as Ev);
  }

  #delay(): number {
    const { minDelayMs, maxDelayMs } = this.opts;
    return minDelayMs + Math.floor(this.rand() * (maxDelayMs - minDelayMs + 1));
  }

  /** Apply a local input now and process its effects; returns the effects (throws what the core throws). */
  input(agent: string, input: Input): Effect[] {
    const n = this.node(agent);
    const fx = n.core.handle(input, this.now);
    this.#effects(n, fx);
    return fx;
  }

  /** Schedule a local input at an absolute time. */
  at(t: number, agent: string, input: Input): void {
    this.#push({ t, kind: 'input', node: agent, input });
  }

  /** A fresh set id (the node chooses it; the core stays deterministic). */
  setId(): string {
    return `set-${++this.#sets}`;
  }

  #effects(n: SimNode, fx: Effect[]): void {
    for (const e of fx) {
      n.effects.push(e);
      switch (e.type) {
        case 'send': {
          const old = n.outbox.get(e.key);
          const gen = (old?.gen ?? 0) + 1;
          n.outbox.set(e.key, { send: e, gen });
          this.#push({ t: this.now, kind: 'attempt', node: n.id, key: e.key, gen });
          break;
        }
        case 'timer':
          n.timers.set(e.id, e.at);
          this.#push({ t: e.at, kind: 'timer', node: n.id, id: e.id, at: e.at });
          break;
        case 'record':
          n.records.push(e);
          break;
        case 'directive':
          n.directives.push(e);
          this.#agent(n, e);
          break;
        default:
          break;
      }
    }
  }

  #agent(n: SimNode, d: DirectiveEffect): void {
    const b = this.opts.behaviour?.(n.id, d.execution) ?? 'ok';
    if (b === 'silent') return;
    const input: Input = b === 'fail'
      ? { type: 'result', set: d.set, execution: d.execution, status: 'failed', detail: 'simulated failure' }
      : {
          type: 'result', set: d.set, execution: d.execution,
          status: b === 'compensate' ? 'compensated' : b === 'required' ? 'compensation_required' : 'restored',
          restored: { checkpoint: d.target.checkpoint, digest: b === 'lie' ? `sha-256:${'0'.repeat(64)}` : d.target.digest },
        };
    this.#push({ t: this.now + this.opts.agentDelayMs, kind: 'input', node: n.id, input });
  }

  #safe(n: SimNode, kind: string, f: () => Effect[]): boolean {
    try {
      this.#effects(n, f());
      return true;
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.errors.push({ at: this.now, node: n.id, kind, code: err.code, detail: err.message });
      return false;
    }
  }

  #transmit(e: DistOmit<Ev, 'n' | 't'>): void {
    this.transmissions++;
    const ends = e.kind === 'deliver' ? [e.from, e.to] : [e.node];
    if (ends.some((x) => this.partitioned.has(x))) return;
    if (this.rand() < this.opts.loss) return;
    this.#push({ ...e, t: this.now + this.#delay() } as DistOmit<Ev, 'n'>);
    if (this.rand() < this.opts.duplicate) this.#push({ ...e, t: this.now + this.#delay() } as DistOmit<Ev, 'n'>);
  }

  /** Number of scheduled events. */
  get queued(): number {
    return this.#q.size;
  }

  /** Process one event; false when the queue is empty. */
  step(): boolean {
    const e = this.#q.pop();
    if (!e) return false;
    this.now = Math.max(this.now, e.t);
    const n = this.nodes.get(e.kind === 'deliver' ? e.to : e.node) ?? this.node(e.kind === 'deliver' ? e.to : e.node);
    switch (e.kind) {
      case 'input':
        this.#safe(n, 'input', () => n.core.handle(e.input, this.now));
        break;
      case 'timer':
        if (n.timers.get(e.id) === e.at) {
          n.timers.delete(e.id);
          this.#safe(n, 'timer', () => n.core.handle({ type: 'timer', id: e.id }, this.now));
        }
        break;
      case 'attempt': {
        const o = n.outbox.get(e.key);
        if (!o || o.gen !== e.gen) break;
        if (this.now > o.send.until) { n.outbox.delete(e.key); break; }
        const jti = `j${(++this.#jti).toString().padStart(16, '0')}`;
        this.#transmit({ kind: 'deliver', from: n.id, to: o.send.to, send: o.send, jti, gen: o.gen });
        this.#push({ t: this.now + this.opts.retryMs, kind: 'attempt', node: n.id, key: e.key, gen: e.gen });
        break;
      }
      case 'deliver': {
        // The pipeline's replay check: a duplicated transmission carries the same jti.
        if (n.seen.has(e.jti)) break;
        n.seen.add(e.jti);
        const input = this.envelope(e.from, e.to, e.send.kind, e.send.body, e.jti);
        let ok = false;
        try {
          this.#effects(n, n.core.handle(input, this.now));
          ok = true;
          this.delivered++;
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
          this.errors.push({ at: this.now, node: n.id, kind: e.send.kind, code: err.code, detail: err.message });
          // 4xx other than 429: the sender gives up on this content; 429/503: keeps retrying.
          if (errors[err.code].action === 'retry') break;
          const sender = this.nodes.get(e.from)!;
          const o = sender.outbox.get(e.send.key);
          if (o && o.gen === e.gen) sender.outbox.delete(e.send.key);
        }
        if (ok) this.#transmit({ kind: 'receipt', node: e.from, key: e.send.key, gen: e.gen });
        break;
      }
      case 'receipt': {
        const o = n.outbox.get(e.key);
        if (!o || o.gen !== e.gen) break;
        n.outbox.delete(e.key);
        this.#safe(n, 'delivered', () => n.core.handle({ type: 'delivered', key: e.key }, this.now));
        break;
      }
    }
    return true;
  }

  /** The envelope input the pipeline would hand to `to`'s core for a send body (statements decoded). */
  envelope(from: string, to: string, kind: EnvelopeKind, body: Record<string, unknown>, jti = `j${(++this.#jti).toString().padStart(16, '0')}`): Input {
    const payload = { v: 1, iss: from, aud: to, iat: Math.floor(this.now / 1000), jti, ...body };
    const s = { body };
    const decode = (c: string): { compact: string; payload: any } => ({ compact: c, payload: decodeCompact(c).payload });
    switch (kind) {
      case 'report': return { type: 'envelope', kind, payload: payload as any, statements: (s.body.acks as string[]).map(decode) };
      case 'cancel': return { type: 'envelope', kind, payload: payload as any, statements: [decode(s.body.authority as string)] };
      case 'outcome': return { type: 'envelope', kind, payload: payload as any, statements: [decode(s.body.record as string)] };
      case 'failure': return { type: 'envelope', kind, payload: payload as any, setId: this.setId() };
      default: return { type: 'envelope', kind, payload: payload as any } as Input;
    }
  }

  /** Run until no event remains or `limit` events/time are exceeded. */
  run(opts: { maxEvents?: number; until?: number } = {}): number {
    let count = 0;
    const max = opts.maxEvents ?? 5_000_000;
    while (count < max) {
      const next = this.#q.peek();
      if (!next) break;
      if (opts.until !== undefined && next.t > opts.until) {
        this.now = Math.max(this.now, opts.until);
        break;
      }
      this.step();
      count++;
    }
    return count;
  }

  /** Every record/follow-up written by any node, in order of writing per node. */
  allRecords(): { node: string; record: RecordEffect; payload: any }[] {
    const out = [];
    for (const n of this.nodes.values()) for (const r of n.records) out.push({ node: n.id, record: r, payload: decodeCompact(r.compact).payload });
    return out;
  }
}
