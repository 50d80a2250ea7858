/**
 * A fault-injecting relay for one directed link (node A -> node B). A's
 * config names the relay's URL as B's peer URL; the relay forwards
 * POST /rollback/v1/envelope (draft "binding-http") and the WebSocket link
 * /rollback/v1/link (draft "binding-ws") to B and can drop, duplicate,
 * delay, reorder or rewrite envelopes, answer in B's name without
 * forwarding (forge), and cut/heal the link. Every envelope and B's answer
 * are logged (payloads decoded, not verified).
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { JsonWebKey } from 'node:crypto';
import { request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { decodeCompact, freshCopy, tamper } from './jws.js';

const ENVELOPE_PATH = '/rollback/v1/envelope';
const LINK_PATH = '/rollback/v1/link';
const SUBPROTOCOL = 'rollback.v1';

/** Which envelopes a fault applies to. */
export interface Match {
  /** Envelope kind from the typ header (dependency, failure, request, report, cancel, outcome). */
  kind?: string;
  where?(payload: Record<string, any>): boolean;
}

export type Fault = (
  /** request: lost before B; response: B processes it, A never hears (A retransmits with a fresh jti). */
  | { type: 'drop'; which?: 'request' | 'response' }
  /** fresh: forward, then a re-signed copy with fresh jti/iat (a retransmission); bytes: the identical bytes again (a replay). */
  | { type: 'duplicate'; mode: 'fresh' | 'bytes'; afterMs?: number }
  | { type: 'delay'; ms: number }
  /** Hold the envelope until the next one on this link has been forwarded, or holdMs passed. */
  | { type: 'reorder'; holdMs: number }
  /** Change a payload member (dot path), keep the signature: B must refuse it. */
  | { type: 'rewrite'; path: string; value: unknown }
  /**
   * Answer A in B's name, not forwarding: an unsigned receipt, an unsigned
   * error `code` (HTTP `status`, default 409), or with `reuse` B's last
   * genuine receipt statement, which names an earlier jti (draft "sec-replay").
   */
  | { type: 'forge'; code?: string; status?: number; reuse?: boolean }
) & { match?: Match; count?: number; probability?: number };

export interface Traffic {
  at: number;
  link: string;
  kind: string | undefined;
  jti: string | undefined;
  payload: Record<string, any> | undefined;
  copy: 'original' | 'duplicate' | 'tampered' | 'replayed-bytes' | 'forged';
  fault?: string;
  /** B's answer: HTTP status (202 receipt) or, over WebSocket, 202 for a receipt frame / 400 for an error frame. */
  status?: number;
  code?: string;
  dropped?: boolean;
}

interface Rule { fault: Fault; left: number }

/** What A is answered: B's answer, or one the relay made up (`frame` for a WebSocket link). */
interface Answer { status: number; code?: string; body?: string; frame?: string; forged?: boolean }

function kindOf(compact: string): { kind?: string; jti?: string; payload?: Record<string, any> } {
  try {
    const d = decodeCompact(compact);
    const typ = String(d.header['typ'] ?? '');
    const m = /^rollback-([a-z]+)\+jwt$/.exec(typ);
    return { kind: m?.[1], jti: d.payload['jti'], payload: d.payload };
  } catch {
    return {};
  }
}

function setPath(o: Record<string, any>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur: any = o;
  for (const k of keys.slice(0, -1)) cur = cur[k] ??= {};
  cur[keys[keys.length - 1]!] = value;
}

export class Relay extends EventEmitter {
  readonly from: string;
  readonly to: string;
  readonly traffic: Traffic[] = [];
  url = '';
  #server: Server | undefined;
  #wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) });
  #target: string;
  #senderKey: () => JsonWebKey;
  #rules: Rule[] = [];
  #cut = false;
  #sockets = new Set<Duplex>();
  #links = new Set<WebSocket>();
  #forwarded = new EventEmitter();

  constructor(opts: { from: string; to: string; target: string; senderKey: () => JsonWebKey }) {
    super();
    this.from = opts.from;
    this.to = opts.to;
    this.#target = opts.target.replace(/\/$/, '');
    this.#senderKey = opts.senderKey;
    this.#forwarded.setMaxListeners(0);
    this.setMaxListeners(0);
  }

  get name(): string { return `${this.from}->${this.to}`; }

  /** The receiver's real peer URL (changes when it restarts on the same port: never). */
  set target(url: string) { this.#target = url.replace(/\/$/, ''); }

  async listen(port = 0): Promise<void> {
    this.#server = createServer((req, res) => { void this.#onHttp(req, res); });
    this.#server.on('connection', (s) => { this.#sockets.add(s); s.on('close', () => this.#sockets.delete(s)); });
    this.#server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    await new Promise<void>((r) => this.#server!.listen(port, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  /** Add a fault rule; rules are tried in order, the first matching one applies. */
  inject(fault: Fault): this {
    this.#rules.push({ fault, left: fault.count ?? Infinity });
    return this;
  }

  /** Remove all fault rules (the link stays cut if it is cut). */
  clear(): this { this.#rules = []; return this; }

  /** Cut the link: connections are reset, new ones refused (as by a partition). */
  cut(): this {
    this.#cut = true;
    for (const l of this.#links) l.terminate();
    for (const s of this.#sockets) s.destroy();
    return this;
  }

  heal(): this { this.#cut = false; return this; }
  get isCut(): boolean { return this.#cut; }

  /** The receipt statement of B's last acceptance on this link (reused by forge/reuse). */
  lastReceipt: string | undefined;

  /** Resolves with the first logged entry (past or future) satisfying `pred`. */
  waitFor(pred: (t: Traffic) => boolean, ms = 10_000): Promise<Traffic> {
    const hit = this.traffic.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.off('traffic', on); reject(new Error(`${this.name}: no matching envelope within ${ms} ms`)); }, ms);
      const on = (t: Traffic): void => { if (pred(t)) { clearTimeout(timer); this.off('traffic', on); resolve(t); } };
      this.on('traffic', on);
    });
  }

  seen(kind?: string): Traffic[] { return this.traffic.filter((t) => kind === undefined || t.kind === kind); }

  async close(): Promise<void> {
    for (const l of this.#links) l.terminate();
    for (const s of this.#sockets) s.destroy();
    this.#wss.close();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  #log(t: Omit<Traffic, 'at' | 'link'>): Traffic {
    const e = { at: Date.now(), link: this.name, ...t };
    this.traffic.push(e);
    this.emit('traffic', e);
    return e;
  }

  #rule(kind: string | undefined, payload: Record<string, any> | undefined): Fault | undefined {
    for (const r of this.#rules) {
      if (r.left <= 0) continue;
      const m = r.fault.match;
      if (m?.kind !== undefined && m.kind !== kind) continue;
      if (m?.where && !(payload && m.where(payload))) continue;
      if (r.fault.probability !== undefined && Math.random() >= r.fault.probability) continue;
      r.left--;
      return r.fault;
    }
    return undefined;
  }

  /**
   * Apply the faults to one envelope. `send` delivers one compact to B and
   * resolves with B's answer; returns the answer for A, or null when A must
   * get none (drop).
   */
  async #plan(compact: string, send: (c: string) => Promise<{ status: number; code?: string; body?: string }>): Promise<Answer | null> {
    const { kind, jti, payload } = kindOf(compact);
    const f = this.#rule(kind, payload);
    const base = { kind, jti, payload, fault: f?.type };
    const forward = async (c: string, copy: Traffic['copy']): Promise<{ status: number; code?: string; body?: string }> => {
      const info = c === compact ? { jti, payload } : kindOf(c);
      const r = await send(c);
      this.#log({ ...base, jti: info.jti, payload: info.payload, copy, status: r.status, ...(r.code ? { code: r.code } : {}) });
      this.#forwarded.emit('forwarded');
      return r;
    };
    if (!f) return forward(compact, 'original');
    switch (f.type) {
      case 'drop':
        if (f.which === 'response') { await forward(compact, 'original'); return null; }
        this.#log({ ...base, copy: 'original', dropped: true });
        return null;
      case 'delay':
        await new Promise((r) => setTimeout(r, f.ms));
        return forward(compact, 'original');
      case 'reorder':
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, f.holdMs);
          function done(): void { clearTimeout(timer); resolve(); }
          this.#forwarded.once('forwarded', done);
        });
        return forward(compact, 'original');
      case 'rewrite':
        return forward(tamper(compact, (p) => setPath(p, f.path, f.value)), 'tampered');
      case 'forge': {
        const receipt = f.reuse ? this.lastReceipt : undefined;
        const status = f.code === undefined ? 202 : f.status ?? 409;
        this.#log({ ...base, copy: 'forged', status, ...(f.code ? { code: f.code } : {}) });
        const extra = receipt ? { receipt } : {};
        return f.code === undefined
          ? { status, body: JSON.stringify({ jti, ...extra }), frame: JSON.stringify({ type: 'receipt', jti, ...extra }), forged: true }
          : {
            status, code: f.code, forged: true,
            body: JSON.stringify({ type: `urn:ietf:params:rollback:error:${f.code}`, title: f.code, status, code: f.code, ...extra }),
            frame: JSON.stringify({ type: 'error', jti, code: f.code, detail: 'forged', ...extra }),
          };
      }
      case 'duplicate': {
        const first = await forward(compact, 'original');
        const again = async (): Promise<void> => {
          if (f.afterMs) await new Promise((r) => setTimeout(r, f.afterMs));
          await forward(f.mode === 'fresh' ? freshCopy(compact, this.#senderKey()) : compact, f.mode === 'fresh' ? 'duplicate' : 'replayed-bytes').catch(() => {});
        };
        if (f.afterMs) void again(); else await again();
        return first;
      }
    }
  }

  async #onHttp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#cut) { req.socket.destroy(); return; }
    if (req.method !== 'POST' || req.url !== ENVELOPE_PATH) { res.writeHead(404).end(); return; }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const ctype = req.headers['content-type'] ?? 'application/jose';
    try {
      const answer = await this.#plan(body, async (c) => {
        if (this.#cut) throw new Error('cut');
        const r = await request(this.#target + ENVELOPE_PATH, { method: 'POST', headers: { 'content-type': ctype }, body: c });
        const text = await r.body.text();
        let code: string | undefined;
        try {
          const b = JSON.parse(text) as { code?: string; receipt?: unknown };
          code = b.code;
          if (r.statusCode === 202 && typeof b.receipt === 'string') this.lastReceipt = b.receipt;
        } catch { /* non-JSON */ }
        return { status: r.statusCode, ...(r.statusCode === 202 ? {} : { code }), body: text };
      });
      if (answer === null || this.#cut) { req.socket.destroy(); return; }
      res.writeHead(answer.status, { 'content-type': answer.status === 202 ? 'application/json' : 'application/problem+json' }).end(answer.body);
    } catch {
      // B unreachable (not started, restarting): A sees a reset, as without a relay.
      req.socket.destroy();
    }
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#cut || req.url?.split('?')[0] !== LINK_PATH) { socket.destroy(); return; }
    this.#sockets.add(socket);
    this.#wss.handleUpgrade(req, socket, head, (client) => {
      const upstream = new WebSocket(this.#target.replace(/^http/, 'ws') + LINK_PATH, SUBPROTOCOL);
      this.#links.add(client);
      this.#links.add(upstream);
      const pending = new Map<string, (a: { status: number; code?: string }) => void>();
      const queue: string[] = [];
      const closeBoth = (): void => { client.terminate(); upstream.terminate(); this.#links.delete(client); this.#links.delete(upstream); };
      upstream.on('open', () => { for (const q of queue.splice(0)) upstream.send(q); });
      upstream.on('error', closeBoth);
      upstream.on('close', closeBoth);
      client.on('close', closeBoth);
      client.on('error', closeBoth);
      upstream.on('message', (data) => {
        const text = String(data);
        let frame: { type?: string; jti?: string | null; code?: string; receipt?: unknown } = {};
        try { frame = JSON.parse(text); } catch { /* pass through */ }
        if (frame.type === 'receipt' && typeof frame.receipt === 'string') this.lastReceipt = frame.receipt;
        const waiter = typeof frame.jti === 'string' ? pending.get(frame.jti) : undefined;
        if (waiter) {
          pending.delete(frame.jti!);
          waiter({ status: frame.type === 'receipt' ? 202 : 400, ...(frame.code ? { code: frame.code } : {}) });
        }
        // Answers to copies the relay made (duplicates) are not A's business.
        if (frame.jti === null || (typeof frame.jti === 'string' && this.#ours.has(frame.jti))) client.send(text);
      });
      client.on('message', (data) => {
        const compact = String(data);
        const { jti } = kindOf(compact);
        if (jti) this.#ours.add(jti);
        void this.#plan(compact, (c) => new Promise((resolve) => {
          const cj = kindOf(c).jti;
          if (cj) pending.set(cj, resolve);
          else resolve({ status: 0 });
          if (upstream.readyState === WebSocket.OPEN) upstream.send(c); else queue.push(c);
          setTimeout(() => { if (cj && pending.delete(cj)) resolve({ status: 0, code: 'no answer' }); }, 5000);
        })).then((a) => { if (a?.forged && a.frame) client.send(a.frame); }).catch(() => {});
      });
    });
  }

  /** jtis A sent itself (answers to relay-made copies are swallowed). */
  #ours = new Set<string>();
}
