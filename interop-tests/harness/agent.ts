/**
 * The in-harness agent: one per node, speaking only the agent face (README
 * "Agent face"). Calls go through src/client's AgentClient; directives are
 * read from the directive WebSocket by the harness itself, so that an agent
 * told to never answer one directive still answers the others. Each
 * execution has a state (a list of work items); a checkpoint is a snapshot
 * of it and its digest is sha-256 over the snapshot's JSON.
 */
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { AgentClient, type Directive, type Reversibility, type SetRef } from '../../src/client/index.js';

/** How the agent answers a rollback directive for an execution. */
export type Behaviour =
  /** restore → "restored", compensate → "compensated"; the digest is that of the restored snapshot. */
  | 'ok'
  | 'compensation_required'
  /** The rollback fails: status "failed". */
  | 'fail'
  /** Never answers. */
  | 'silent'
  /** Claims "restored" with a digest that is not the checkpoint's. */
  | 'lie';

export interface CheckpointInfo { execution: string; checkpoint: string; seq: number; digest: string }

export function digestOf(state: unknown): string {
  return `sha-256:${createHash('sha256').update(JSON.stringify(state)).digest('hex')}`;
}

interface ExecState { state: string[]; snapshots: Map<string, { seq: number; state: string[] }>; seq: number; behaviour: Behaviour; delayMs: number }

export class HarnessAgent {
  readonly id: string;
  client: AgentClient;
  readonly directives: (Directive & { at: number })[] = [];
  /** Results the node refused (e.g. digest_mismatch), by execution. */
  readonly refusedResults: { execution: string; code: string }[] = [];
  #url: string;
  #token: string;
  #operatorToken: string;
  #execs = new Map<string, ExecState>();
  #ws: WebSocket | undefined;
  #after = 0;
  #stopped = true;
  #listeners = new Set<() => void>();

  constructor(id: string, url: string, token: string, operatorToken: string) {
    this.id = id;
    this.#url = url;
    this.#token = token;
    this.#operatorToken = operatorToken;
    this.client = new AgentClient({ url, token });
  }

  #exec(e: string): ExecState {
    const x = this.#execs.get(e);
    if (!x) throw new Error(`${this.id}: no execution ${e}`);
    return x;
  }

  async execution(e: string, behaviour: Behaviour = 'ok'): Promise<void> {
    if (!this.#execs.has(e)) this.#execs.set(e, { state: [], snapshots: new Map(), seq: 0, behaviour, delayMs: 0 });
    await this.client.execution(e);
  }

  behaviour(e: string, b: Behaviour, delayMs = 0): void {
    const x = this.#exec(e);
    x.behaviour = b;
    x.delayMs = delayMs;
  }

  work(e: string, item: string): void { this.#exec(e).state.push(item); }
  state(e: string): string[] { return [...this.#exec(e).state]; }

  async checkpoint(e: string, reversibility: Reversibility = 'reversible', hints: unknown[] = []): Promise<CheckpointInfo> {
    const x = this.#exec(e);
    const seq = ++x.seq;
    const checkpoint = `${e}.c${seq}`;
    const snap = [...x.state];
    x.snapshots.set(checkpoint, { seq, state: snap });
    const digest = digestOf(snap);
    await this.client.checkpoint(e, { checkpoint, seq, digest, reversibility, ...(hints.length ? { hints } : {}) });
    return { execution: e, checkpoint, seq, digest };
  }

  /** Declare that execution `e` consumed `producer`'s output as of its checkpoint (draft "proc-dependency"). */
  consume(e: string, producerAgent: string, p: CheckpointInfo): Promise<{ registered: boolean }> {
    return this.client.consumed(e, { agent: producerAgent, execution: p.execution, checkpoint: p.checkpoint, seq: p.seq });
  }

  fail(e: string, at: CheckpointInfo, cls = 'quality_regression', detail?: string): Promise<{ set: SetRef; absorbed: boolean }> {
    return this.client.failure(e, { checkpoint: at.checkpoint, seq: at.seq, class: cls, ...(detail ? { detail } : {}) });
  }

  /** An operator decision on a held member or proposed set (operator credential). */
  decide(set: SetRef, execution: string, decision: 'confirm' | 'decline'): Promise<unknown> {
    return this.client.call('POST', '/operator/v1/decisions', { set, execution, decision }, this.#operatorToken);
  }

  cancel(set: SetRef, detail?: string): Promise<unknown> {
    return this.client.call('POST', '/operator/v1/cancellations', { set, ...(detail ? { detail } : {}) }, this.#operatorToken);
  }

  // ---- directives ---------------------------------------------------------

  /** Connect the directive WebSocket (resumes after the last directive seen). */
  listen(): void {
    this.#stopped = false;
    const ws = new WebSocket(`${this.#url.replace(/^http/, 'ws')}/agent/v1/directives?after=${this.#after}`, {
      headers: { authorization: `Bearer ${this.#token}` },
    });
    this.#ws = ws;
    ws.on('message', (data) => {
      let d: Directive & { type?: string };
      try { d = JSON.parse(String(data)); } catch { return; }
      if (d.type !== 'directive' || d.seq <= this.#after) return;
      this.#after = d.seq;
      this.directives.push({ ...d, at: Date.now() });
      for (const l of this.#listeners) l();
      void this.#answer(d);
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => { if (!this.#stopped && this.#ws === ws) setTimeout(() => { if (!this.#stopped && this.#ws === ws) this.listen(); }, 150); });
  }

  async #answer(d: Directive): Promise<void> {
    const x = this.#execs.get(d.execution);
    if (!x || x.behaviour === 'silent') return;
    if (x.delayMs) await new Promise((r) => setTimeout(r, x.delayMs));
    const snap = x.snapshots.get(d.target.checkpoint);
    let r: { status: 'restored' | 'compensated' | 'compensation_required' | 'failed'; restored?: { checkpoint: string; digest: string }; detail?: string };
    if (!snap || x.behaviour === 'fail') {
      r = { status: 'failed', detail: snap ? 'harness agent told to fail' : `no snapshot ${d.target.checkpoint}` };
    } else {
      x.state = [...snap.state];
      const digest = x.behaviour === 'lie' ? digestOf(['not', 'the', 'checkpoint']) : digestOf(x.state);
      const status = x.behaviour === 'compensation_required' ? 'compensation_required' : d.action === 'compensate' ? 'compensated' : 'restored';
      r = { status, restored: { checkpoint: d.target.checkpoint, digest } };
    }
    // Retry while the node restarts; a refusal (4xx) is an answer.
    for (let i = 0; i < 100 && !this.#stopped; i++) {
      try {
        await this.client.result(d.set, d.execution, r);
        return;
      } catch (err) {
        const e = err as { status?: number; code?: string };
        if (e.status !== undefined && e.status < 500) { this.refusedResults.push({ execution: d.execution, code: e.code ?? String(e.status) }); return; }
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  }

  /** Resolves with the first directive (past or future) satisfying `pred`. */
  waitDirective(pred: (d: Directive) => boolean, ms = 15_000): Promise<Directive> {
    const hit = this.directives.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        const h = this.directives.find(pred);
        if (h) { clearTimeout(timer); this.#listeners.delete(done); resolve(h); }
      };
      const timer = setTimeout(() => { this.#listeners.delete(done); reject(new Error(`${this.id}: no matching directive within ${ms} ms`)); }, ms);
      this.#listeners.add(done);
    });
  }

  directivesFor(execution: string): Directive[] { return this.directives.filter((d) => d.execution === execution); }

  // ---- records ------------------------------------------------------------

  /** Compact records and follow-ups this node signed as initiator (GET /agent/v1/records). */
  async records(): Promise<string[]> {
    const rs = await this.client.records();
    return rs.map((r: { compact: string }) => r.compact);
  }

  close(): void {
    this.#stopped = true;
    const ws = this.#ws;
    this.#ws = undefined;
    ws?.terminate();
  }
}
