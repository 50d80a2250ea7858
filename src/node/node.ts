/**
 * The sidecar node: wraps the pure core in the envelope pipeline, the
 * durable log and the two faces.
 *
 * Durability (draft Section "Operational Considerations"): every input the
 * core accepts is appended to the hash-chained log and fsynced BEFORE the
 * node answers (receipt or agent response) and before any of its effects
 * run. On start, the log is replayed through a fresh core and `resume()`
 * re-emits what was pending, so a node killed at any moment finishes what it
 * had accepted.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { pino, type Logger } from 'pino';
import { ProtocolError, errors } from '../errors.js';
import { Core, type Effect, type Input } from '../core/core.js';
import { hashPayload } from '../core/record.js';
import {
  Intake, RateLimiter, ReplayCache, RestartFloor, TrustStore, defaultSchemas, fileWatermark,
  loadJwks, loadSigner, sealEnvelope, sealReceipt, type Accepted, type Signer, type PeerTrust,
} from '../envelope/index.js';
import { openLog, type Log } from '../store/index.js';
import type { NodeConfig } from './config.js';
import { agentFace, type AgentEngine } from './agent-face.js';
import { DirectiveQueue } from './directives.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Outbox, type Outgoing } from './outbox.js';
import { httpLink, wsLink, SUBPROTOCOL, type PeerLink } from './peer-link.js';
import { peerFace, type EnvelopeSink } from './peer-face.js';

export interface NodeOptions {
  logger?: Logger;
  clock?: () => number;
  /** Test-only hook: called at named durable steps; may kill the process. */
  crashPoint?: (name: string) => void;
}

interface LogBody { t: number; input?: Input; record?: string }

export class RollbackNode implements EnvelopeSink {
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly directives = new DirectiveQueue();
  peerApp!: FastifyInstance;
  agentApp!: FastifyInstance;
  #core!: Core;
  #store!: Log;
  #intake!: Intake;
  #trust!: TrustStore;
  #signer!: Signer;
  #outbox!: Outbox;
  #links = new Map<string, PeerLink>();
  #clock: () => number;
  #crash: (name: string) => void;
  #deliveryWaiters = new Map<string, (ok: boolean) => void>();
  #signed = new Map<string, string>();
  #sentAt = new Map<string, number>();
  #ready = false;

  private constructor(config: NodeConfig, opts: NodeOptions) {
    this.config = config;
    this.log = opts.logger ?? pino({ level: config.logLevel, base: { node: config.id } });
    this.metrics = createMetrics();
    this.#clock = opts.clock ?? Date.now;
    this.#crash = opts.crashPoint ?? (() => {});
  }

  static async start(config: NodeConfig, opts: NodeOptions = {}): Promise<RollbackNode> {
    const node = new RollbackNode(config, opts);
    await node.#start();
    return node;
  }

  // ---- start-up ----------------------------------------------------------

  async #start(): Promise<void> {
    const c = this.config;
    mkdirSync(c.dataDir, { recursive: true });
    this.#signer = loadSigner(c.id, c.keys.private);
    this.#trust = new TrustStore(this.#trustConfig());
    const now = this.#clock();
    this.#store = await openLog(join(c.dataDir, 'log'), { logger: this.log });
    const watermark = fileWatermark(join(c.dataDir, 'watermark'));
    // A brand-new node (empty log) has accepted nothing that could be replayed to it; any other
    // node without its watermark refuses what was issued before its restart (plus skew).
    if (this.#store.length === 0 && watermark.load() === undefined) await watermark.save(0);
    // A watermark below an iat the log accepted was restored from an older state: lost (draft req-ops-restore).
    let logIat: number | undefined;
    for (const e of this.#store.entries) {
      const i = (e.body as LogBody).input as { type?: string; payload?: { iat?: unknown } } | undefined;
      if (i?.type === 'envelope' && typeof i.payload?.iat === 'number') logIat = Math.max(logIat ?? 0, i.payload.iat);
    }
    const floor = new RestartFloor({
      startSeconds: Math.floor(now / 1000), skewSeconds: c.limits.skewSeconds, store: watermark, ...(logIat === undefined ? {} : { logIat }),
    });
    this.#intake = new Intake({
      self: c.id,
      trust: this.#trust,
      schemas: defaultSchemas(),
      replay: new ReplayCache({ windowSeconds: c.limits.replayWindowSeconds, skewSeconds: c.limits.skewSeconds, quotaPerPeer: c.limits.replayQuotaPerPeer }),
      floor,
      maxBytes: c.limits.maxEnvelopeBytes,
      windowSeconds: c.limits.replayWindowSeconds,
      skewSeconds: c.limits.skewSeconds,
      sourceLimiter: new RateLimiter({ ratePerSecond: c.limits.ratePerSource }),
      peerLimiter: new RateLimiter({ ratePerSecond: c.limits.ratePerPeer }),
      clock: this.#clock,
    });
    this.#core = new Core({
      self: c.id,
      sign: (typ, payload) => this.#sign(typ, payload),
      config: {
        maxHops: c.limits.maxHops,
        fanoutLimit: c.limits.fanoutLimit,
        hopMarginMs: c.limits.hopMarginMs,
        leaseGraceMs: c.limits.leaseGraceMs,
        defaultBudgetMs: c.limits.deadlineMs,
        policy: (execution: string) => c.policy.executions[execution] ?? c.policy.default,
      },
    });
    this.#outbox = new Outbox({
      sign: async (o) => {
        const s = sealEnvelope(this.#signer, o.kind as never, o.to, o.body, { iat: Math.floor(this.#clock() / 1000) });
        this.#sentAt.set(o.key, performance.now());
        return { compact: s.compact, jti: s.jti };
      },
      // Propagation latency: from signing an attempt to the peer's receipt.
      attempt: (o, d) => {
        const t0 = this.#sentAt.get(o.key);
        this.#sentAt.delete(o.key);
        if (d.ok && t0 !== undefined) this.metrics.propagation.observe({ kind: o.kind }, (performance.now() - t0) / 1000);
        if (!d.ok && d.code === 'unconfirmed') this.log.warn({ to: o.to, kind: o.kind, key: o.key, detail: d.detail }, 'answer without a valid receipt statement: retransmitting');
      },
      // Only the receiver's signed receipt ends retransmission (draft "req-receipt-final").
      confirm: (o, jti, receipt) => this.#intake.verifyReceipt(receipt, { from: o.to, jti }),
      link: (peer) => this.#link(peer),
      now: this.#clock,
      delivered: (o) => this.#delivered(o),
      abandoned: (o, code, detail) => {
        this.log.warn({ to: o.to, kind: o.kind, key: o.key, code, detail }, 'envelope abandoned');
        this.#deliveryWaiters.get(o.key)?.(false);
      },
    });

    // Replay the durable log through a fresh core (effects are re-derived).
    for (const e of this.#store.entries) {
      const b = e.body as LogBody;
      if (b.record !== undefined) this.#rememberRecord(b.record);
    }
    for (const e of this.#store.entries) {
      const b = e.body as LogBody;
      if (b.input === undefined) continue;
      const effects = this.#core.handle(b.input, b.t);
      for (const ef of effects) if (ef.type === 'directive') this.directives.push(directiveOf(ef));
    }
    if (this.#store.length > 0) this.log.info({ entries: this.#store.length, records: this.#core.records().length }, 'state rebuilt from the log');

    // Lost replay state (a non-empty log without its watermark) is a degraded security state
    // (draft Section "Degraded Security State"): logged as an input, so it survives restarts
    // until an operator clears it. The floor is saved at once so the loss is reported once.
    if (floor.lost && this.#store.length > 0 && !this.#core.degraded) {
      await this.#apply({ type: 'security', degraded: true });
      await watermark.save(floor.notBefore - 1);
      this.log.warn({ watermark: join(c.dataDir, 'watermark'), notBefore: floor.notBefore }, 'replay watermark lost: security state degraded until an operator clears it');
    }
    if (this.#core.degraded) this.log.warn('security state degraded: members are held, failure signals from peers are refused');

    await this.#listen();
    await this.#execute(this.#core.resume(this.#clock()));
    this.#ready = true;
  }

  #trustConfig(): { peers: PeerTrust[]; revoked: NodeConfig['revoked'] } {
    const c = this.config;
    const own = { keys: [...[c.keys.private].map((p) => publicOf(p)), ...c.keys.retired.map((p) => ({ ...publicOf(p), retired: true }))] };
    return {
      peers: [
        { id: c.id, jwks: own },
        ...c.peers.map((p) => ({ id: p.id, ...(p.url ? { url: p.url } : {}), jwks: loadJwks(p.jwks) as PeerTrust['jwks'] })),
      ],
      revoked: c.revoked ?? [],
    };
  }

  /** Keys, peers and revocations reload without a restart (retired and revoked keys stay for old records). */
  reloadTrust(peers: NodeConfig['peers'], revoked: NodeConfig['revoked'] = this.config.revoked): void {
    this.config.peers = peers;
    this.config.revoked = revoked;
    this.#trust.reload(this.#trustConfig());
    for (const l of this.#links.values()) l.close();
    this.#links.clear();
  }

  async #listen(): Promise<void> {
    const c = this.config;
    // stop() closes every connection, in flight or not: whatever was answered is durable and
    // whatever was not is retried by its sender, and a client reconnecting while the node
    // closes (an agent's directive feed, a peer link) must not hold the close open.
    const tls = c.peerFace.tls;
    this.peerApp = Fastify({
      loggerInstance: this.log.child({ face: 'peer' }, { level: 'warn' }),
      bodyLimit: c.limits.maxEnvelopeBytes,
      forceCloseConnections: true,
      // TLS 1.3 only (draft "Transport Security"); plain text is allowed on loopback (config enforces it).
      ...(tls ? { https: { cert: readFileSync(tls.cert), key: readFileSync(tls.key), minVersion: 'TLSv1.3' as const } } : {}),
    }) as unknown as FastifyInstance;
    await this.peerApp.register(websocket, {
      options: {
        maxPayload: c.limits.maxEnvelopeBytes,
        handleProtocols: (protocols: Set<string>) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
      },
    });
    await this.peerApp.register(peerFace, { sink: this, maxBytes: c.limits.maxEnvelopeBytes, ...(c.peerFace.ws ? { ws: c.peerFace.ws } : {}) });
    this.peerApp.get('/healthz', async () => ({ ok: true }));
    this.peerApp.get('/readyz', async (_req, reply) => reply.code(this.#ready ? 200 : 503).send({ ready: this.#ready }));
    this.peerApp.get('/metrics', async (_req, reply) => reply.type(this.metrics.registry.contentType).send(await this.metrics.registry.metrics()));

    this.agentApp = Fastify({ loggerInstance: this.log.child({ face: 'agent' }, { level: 'warn' }), forceCloseConnections: true }) as unknown as FastifyInstance;
    await this.agentApp.register(websocket);
    const credentials = { agent: readToken(c.agentFace.tokenFile), operator: readToken(c.operator.tokenFile) };
    await this.agentApp.register(agentFace, { engine: this.#engine(), credentials });

    await this.peerApp.listen({ host: c.peerFace.host, port: c.peerFace.port });
    await this.agentApp.listen({ host: c.agentFace.host, port: c.agentFace.port });
  }

  get peerUrl(): string {
    const a = this.peerApp.server.address() as { port: number };
    return `${this.config.peerFace.tls ? 'https' : 'http'}://${this.config.peerFace.host}:${a.port}`;
  }

  get agentUrl(): string {
    const a = this.agentApp.server.address() as { port: number };
    return `http://${this.config.agentFace.host}:${a.port}`;
  }

  // ---- inputs ------------------------------------------------------------

  /** Peer face: run the intake pipeline, then the core; durable before the receipt. */
  async receive(compact: string, source: string): Promise<{ jti: string; peer: string; receipt: string }> {
    let accepted: Accepted;
    try {
      accepted = await this.#intake.accept(compact, { source });
    } catch (err) {
      this.#count('unknown', err);
      throw this.#signRefusal(err);
    }
    try {
      await this.#apply({
        type: 'envelope',
        kind: accepted.kind,
        payload: accepted.payload,
        statements: accepted.statements.map((s) => ({ compact: s.compact, payload: s.payload })),
        // A failure signal may open a set: its id is chosen here so the core stays deterministic.
        ...(accepted.kind === 'failure' ? { setId: randomUUID() } : {}),
      } as unknown as Input);
    } catch (err) {
      if (err instanceof ProtocolError) {
        err.jti = accepted.jti;
        err.peer = accepted.peer;
      }
      this.#count(accepted.kind, err);
      throw this.#signRefusal(err);
    }
    this.metrics.messages.inc({ kind: accepted.kind, result: 'accepted' });
    return { jti: accepted.jti, peer: accepted.peer, receipt: sealReceipt(this.#signer, accepted.peer, accepted.jti, { status: 'accepted' }, { iat: Math.floor(this.#clock() / 1000) }) };
  }

  /**
   * Sign a refusal that ends the sender's retransmission, once the sender is
   * authenticated (draft "req-receipt-sign"). Earlier refusals stay unsigned:
   * signing them would sign for unauthenticated traffic. Retried codes need
   * no signature, so replayed bytes never cost a signature.
   */
  #signRefusal(err: unknown): unknown {
    if (err instanceof ProtocolError && err.peer !== null && err.jti !== null && errors[err.code].action !== 'retry') {
      err.receipt = sealReceipt(this.#signer, err.peer, err.jti, { status: 'refused', code: err.code }, { iat: Math.floor(this.#clock() / 1000) });
    }
    return err;
  }


  #count(kind: string, err: unknown): void {
    const code = err instanceof ProtocolError ? err.code : 'internal';
    this.metrics.messages.inc({ kind, result: 'rejected' });
    this.metrics.rejections.inc({ code });
  }

  /**
   * Hand one input to the core; refused inputs change nothing. Accepted ones
   * are logged (fsync) before this resolves and before their effects run.
   */
  async #apply(input: Input): Promise<Effect[]> {
    const t = this.#clock();
    const effects = this.#core.handle(input, t);
    this.#crash('handled');
    await this.#store.append({ t, input } satisfies LogBody);
    this.#crash('logged');
    await this.#execute(effects);
    return effects;
  }

  async #execute(effects: Effect[]): Promise<void> {
    for (const ef of effects) {
      switch (ef.type) {
        case 'send':
          this.#outbox.send({ to: ef.to, kind: ef.kind, body: ef.body as Record<string, unknown>, key: ef.key, until: ef.until });
          break;
        case 'directive':
          this.directives.push(directiveOf(ef));
          break;
        case 'timer':
          this.#arm(ef.id, ef.at);
          break;
        case 'record':
          if (!this.#signed.has(ef.hash)) {
            await this.#store.append({ t: this.#clock(), record: ef.compact } satisfies LogBody);
            this.#rememberRecord(ef.compact, ef.hash);
            this.#crash('recorded');
            const outcome = (JSON.parse(Buffer.from(ef.compact.split('.')[1]!, 'base64url').toString('utf8')) as { outcome: string }).outcome;
            this.metrics.sets.inc({ outcome });
            this.log.info({ set: ef.set, kind: ef.kind, index: ef.index, outcome }, 'recovery record written');
          }
          break;
        case 'state':
          this.log.info({ scope: ef.scope, set: ef.set, execution: ef.execution, state: ef.state, status: ef.status }, 'state');
          break;
        case 'fence':
          this.log.info({ set: ef.set, execution: ef.execution, until: ef.until }, ef.until === null ? 'fence released' : 'fence');
          break;
        default:
          break;
      }
    }
  }

  #timers = new Map<string, NodeJS.Timeout>();
  #arm(id: string, at: number): void {
    clearTimeout(this.#timers.get(id));
    const t = setTimeout(() => {
      this.#timers.delete(id);
      this.#apply({ type: 'timer', id } as Input).catch((err) => this.log.error({ err, id }, 'timer input refused'));
    }, Math.max(0, at - this.#clock()));
    t.unref();
    this.#timers.set(id, t);
  }

  #delivered(o: Outgoing): void {
    this.#deliveryWaiters.get(o.key)?.(true);
    // A receipt is not logged: after a restart the core re-sends what it has not seen delivered,
    // and receivers handle repeats idempotently (draft "Retransmission and Idempotency"). This
    // saves one fsync per message; nothing anyone was told depends on it.
    let effects: Effect[];
    try {
      effects = this.#core.handle({ type: 'delivered', key: o.key }, this.#clock());
    } catch (err) {
      this.log.debug({ err, key: o.key }, 'delivered input refused');
      return;
    }
    this.#execute(effects).catch((err) => this.log.error({ err, key: o.key }, 'effects after a receipt failed'));
  }

  #link(peer: string): PeerLink | undefined {
    let l = this.#links.get(peer);
    if (l) return l;
    const p = this.config.peers.find((x) => x.id === peer);
    if (!p?.url) return undefined;
    const tls = this.config.tlsCa ? { ca: readFileSync(this.config.tlsCa) } : {};
    l = p.transport === 'ws' ? wsLink(p.url, undefined, tls) : httpLink(p.url, undefined, tls);
    this.#links.set(peer, l);
    return l;
  }

  /** Statements are signed by the core; a record already in the log keeps its logged signature. */
  #sign(typ: string, payload: object): string {
    if (typ === 'rollback-record+jwt' || typ === 'rollback-followup+jwt') {
      const known = this.#signed.get(hashPayload(payload));
      if (known) return known;
    }
    return this.#signer.sign(typ as never, payload);
  }

  #rememberRecord(compact: string, hash?: string): void {
    this.#signed.set(hash ?? hashPayload(decode(compact)), compact);
  }

  // ---- agent face ----------------------------------------------------------

  #engine(): AgentEngine {
    const run = (input: Record<string, unknown>) => this.#apply(input as unknown as Input);
    /** A `reply` effect carries the answer to the local caller; an error code in it was recorded as state. */
    const reply = (effects: Effect[]): Extract<Effect, { type: 'reply' }> | undefined => {
      const r = effects.find((e) => e.type === 'reply') as Extract<Effect, { type: 'reply' }> | undefined;
      if (r?.code) throw new ProtocolError(r.code, r.detail);
      return r;
    };
    return {
      execution: async (b) => { await run({ type: 'execution', ...b }); return { execution: b.execution }; },
      checkpoint: async (b) => { await run({ type: 'checkpoint', ...b }); return { checkpoint: b.checkpoint }; },
      consumed: async (b) => {
        const effects = await run({ type: 'consumed', ...b });
        const send = effects.find((e) => e.type === 'send' && e.kind === 'dependency') as { key: string } | undefined;
        if (!send) return { registered: true };
        const ok = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 10_000);
          this.#deliveryWaiters.set(send.key, (v) => { clearTimeout(timer); this.#deliveryWaiters.delete(send.key); resolve(v); });
        });
        return { registered: ok };
      },
      failure: async (b) => {
        const setId = randomUUID();
        const { execution, checkpoint, seq, detail } = b;
        const r = reply(await run({ type: 'failure', execution, checkpoint: { checkpoint, seq }, class: b.class, ...(detail ? { detail } : {}), setId }));
        return { set: r?.set ?? { initiator: this.config.id, id: setId }, absorbed: r?.absorbed ?? false };
      },
      observed: async (b) => { reply(await run({ type: 'observed', ...b })); return { reported: true }; },
      result: async (b) => {
        // The same result again (the agent lost the answer, e.g. the node was killed after logging
        // it, and the directive was delivered again): answer as before, log nothing. Without this
        // the agent's client would retry the directive forever and never reach later ones.
        const m = this.#core.member(b.set, b.execution);
        if (m && AFTER_RESULT.has(m.state) && RESULT_STATUS.has(m.status ?? '') && (b.restored?.checkpoint ?? m.target.checkpoint) === m.target.checkpoint) {
          if (m.reason === 'digest_mismatch') throw new ProtocolError('digest_mismatch', 'result already recorded as failed');
          return { status: m.status! };
        }
        reply(await run({ type: 'result', ...b }));
        return { status: this.#core.member(b.set, b.execution)?.status ?? 'pending' };
      },
      decision: async (b) => { reply(await run({ type: 'decision', ...b })); return { ok: true }; },
      cancel: async (b) => { reply(await run({ type: 'cancel', set: b.set, ...(b.detail ? { detail: b.detail } : {}) })); return { ok: true }; },
      clearDegraded: async () => { await run({ type: 'security', degraded: false }); return { ok: true }; },
      sets: () => this.#core.members(),
      set: (ref) => {
        const set = this.#core.rollbackSet(ref);
        const members = this.#core.members().filter((m) => m.set.initiator === ref.initiator && m.set.id === ref.id);
        return set === undefined && members.length === 0 ? undefined : { set: ref, ...(set ?? {}), members };
      },
      // Only records already in the log: one shown before its fsync could be lost to a crash and re-signed differently.
      records: () => this.#core.records().filter((r) => this.#signed.get(r.hash) === r.compact).map((r) => ({ ...r, payload: decode(r.compact) })),
      directives: this.directives,
    };
  }


  get core(): Core {
    return this.#core;
  }

  /** Graceful stop: stop accepting, persist nothing new (everything accepted is already durable). */
  async stop(): Promise<void> {
    this.#ready = false;
    this.#outbox.close();
    // Agents waiting for a registration to be delivered get `registered: false` now, not in 10 s.
    for (const w of [...this.#deliveryWaiters.values()]) w(false);
    for (const t of this.#timers.values()) clearTimeout(t);
    for (const l of this.#links.values()) l.close();
    await Promise.allSettled([this.agentApp?.close(), this.peerApp?.close()]);
    await this.#store.close();
  }
}

const AFTER_RESULT: ReadonlySet<string> = new Set(['collecting', 'reported', 'expired', 'closed']);
const RESULT_STATUS: ReadonlySet<string> = new Set(['rolled_back', 'compensated', 'compensation_required', 'failed']);

function readToken(path: string): string {
  const t = readFileSync(path, 'utf8').trim();
  if (t.length < 16) throw new Error(`${path}: token must be at least 16 characters`);
  return t;
}

function publicOf(privatePath: string): Record<string, unknown> {
  const { d: _d, ...pub } = JSON.parse(readFileSync(privatePath, 'utf8')) as Record<string, unknown>;
  return pub;
}

function decode(compact: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(compact.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}

function directiveOf(ef: Extract<Effect, { type: 'directive' }>): object {
  const { type: _t, ...d } = ef;
  return d;
}
