/**
 * A small client for the agent face of a node (draft appendix "Agent
 * Interface"): an agent integrates with a few calls and one directive
 * handler. Directives arrive over a WebSocket and resume after a reconnect
 * from the last one handled, so none is missed.
 */
import { request } from 'undici';
import WebSocket from 'ws';

export type Reversibility = 'reversible' | 'compensable' | 'irreversible';
export interface SetRef { initiator: string; id: string }
export interface CheckpointRef { checkpoint: string; seq: number }

export interface Directive {
  seq: number;
  set: SetRef;
  execution: string;
  action: 'restore' | 'compensate';
  target: { checkpoint: string; seq: number; digest: string };
  hints: unknown[];
  cause: Record<string, unknown>;
}

export interface RollbackResult {
  status: 'restored' | 'compensated' | 'compensation_required' | 'failed';
  restored?: { checkpoint: string; digest: string };
  detail?: string;
}

export class AgentApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'AgentApiError';
  }
}

export class AgentClient {
  readonly #url: string;
  readonly #token: string;
  #socket: WebSocket | undefined;
  #stopped = false;
  #after = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: { url: string; token: string }) {
    this.#url = opts.url.replace(/\/$/, '');
    this.#token = opts.token;
  }

  async call<T = any>(method: 'GET' | 'POST', path: string, body?: unknown, token = this.#token): Promise<T> {
    const res = await request(this.#url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.body.text();
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch (err) {
      // Not JSON (e.g. a proxy's error page): still an AgentApiError if the status says it failed.
      if (res.statusCode < 400) throw err;
    }
    if (res.statusCode >= 400) {
      throw new AgentApiError(res.statusCode, parsed?.code ?? 'unknown', parsed?.detail ?? text);
    }
    return parsed as T;
  }

  execution(execution: string): Promise<unknown> {
    return this.call('POST', '/agent/v1/executions', { execution });
  }

  checkpoint(execution: string, c: { checkpoint: string; seq: number; digest: string; reversibility: Reversibility; hints?: unknown[] }): Promise<unknown> {
    return this.call('POST', '/agent/v1/checkpoints', { execution, ...c });
  }

  /** Declare that `execution` consumed output of another agent's execution as of its checkpoint. */
  consumed(execution: string, producer: { agent: string; execution: string } & CheckpointRef): Promise<{ registered: boolean }> {
    return this.call('POST', '/agent/v1/consumptions', { execution, producer });
  }

  /** Report a failure of one's own execution; `checkpoint`/`seq` name the last good checkpoint. */
  failure(execution: string, f: { checkpoint: string; seq: number; class: string; detail?: string }): Promise<{ set: SetRef; absorbed: boolean }> {
    return this.call('POST', '/agent/v1/failures', { execution, ...f });
  }

  /** Report that output consumed from another agent's execution (as of its checkpoint) is bad. */
  observed(execution: string, producer: { agent: string; execution: string } & CheckpointRef, f: { class: string; detail?: string }): Promise<unknown> {
    return this.call('POST', '/agent/v1/observations', { execution, producer, ...f });
  }

  result(set: SetRef, execution: string, r: RollbackResult): Promise<{ status: string }> {
    return this.call('POST', '/agent/v1/results', { set, execution, ...r });
  }

  rollbackSet(set: SetRef): Promise<any> {
    return this.call('GET', `/agent/v1/sets/${encodeURIComponent(set.initiator)}/${encodeURIComponent(set.id)}`);
  }

  records(): Promise<any[]> {
    return this.call('GET', '/agent/v1/records');
  }

  /**
   * Receive directives; the handler's result is reported to the node. Resumes
   * after reconnects from the last directive handled.
   */
  onDirective(
    handler: (d: Directive) => Promise<RollbackResult>,
    opts: { after?: number; reconnectMs?: number; onRefused?: (d: Directive, err: AgentApiError) => void } = {},
  ): void {
    this.#after = opts.after ?? this.#after;
    this.#stopped = false;
    const connect = (): void => {
      if (this.#stopped) return;
      const ws = new WebSocket(`${this.#url.replace(/^http/, 'ws')}/agent/v1/directives?after=${this.#after}`, {
        headers: { authorization: `Bearer ${this.#token}` },
      });
      this.#socket = ws;
      // One chain across reconnects: a directive still being handled when the link
      // drops is not handled again from the new link. After a failure, the rest of
      // this link's directives are skipped; the reconnect resumes from the failed one.
      let failed = false;
      ws.on('message', (data) => {
        const d = JSON.parse(String(data)) as Directive & { type: string };
        if (d.type !== 'directive' || d.seq <= this.#after || this.#stopped) return;
        this.#chain = this.#chain.then(async () => {
          if (failed || this.#stopped || d.seq <= this.#after) return;
          const r = await handler(d);
          try {
            await this.result(d.set, d.execution, r);
          } catch (err) {
            // A final refusal (digest_mismatch is recorded as the member's failure; illegal_transition
            // means a later directive superseded this one) will never succeed: do not block the
            // directives behind it. Anything else (429, 5xx, the node down) is retried.
            if (!(err instanceof AgentApiError) || err.status < 400 || err.status >= 500 || err.status === 429) throw err;
            opts.onRefused?.(d, err);
          }
          this.#after = d.seq;
        }).catch((err: unknown) => { failed = true; ws.emit('error', err); });
      });
      ws.on('error', () => ws.terminate());
      ws.on('close', () => { setTimeout(connect, opts.reconnectMs ?? 200); });
    };
    connect();
  }

  /** The sequence number of the last directive handled. */
  get after(): number {
    return this.#after;
  }

  close(): void {
    this.#stopped = true;
    this.#socket?.close();
  }
}
