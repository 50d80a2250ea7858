import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import { agentFace, type AgentEngine, type Credentials } from '../../src/node/agent-face.js';
import { DirectiveQueue } from '../../src/node/directives.js';

export const DIGEST = `sha-256:${'ab'.repeat(32)}`;
export const credentials: Credentials = { agent: 'agent-secret-token', operator: 'operator-secret-token' };

/** A fake engine recording every call; `fail` makes the next call of a method throw. */
export class FakeEngine implements AgentEngine {
  readonly calls: Array<{ method: string; body: any }> = [];
  readonly directives = new DirectiveQueue();
  readonly known = new Map<string, unknown>();
  fail: Partial<Record<string, Error>> = {};
  /** Optional hook on result() (e.g. to make it slow). */
  onResult: ((b: any) => Promise<void>) | undefined;

  #rec<T>(method: string, body: unknown, value: T): Promise<T> {
    this.calls.push({ method, body });
    const err = this.fail[method];
    if (err) { delete this.fail[method]; return Promise.reject(err); }
    return Promise.resolve(value);
  }
  execution(b: { execution: string }) { return this.#rec('execution', b, { execution: b.execution, state: 'active' }); }
  checkpoint(b: any) { return this.#rec('checkpoint', b, { checkpoint: b.checkpoint, seq: b.seq }); }
  consumed(b: any) { return this.#rec('consumed', b, { registered: true }); }
  failure(b: any) { return this.#rec('failure', b, { set: { initiator: 'me', id: 'set-1' }, absorbed: false }); }
  observed(b: any) { return this.#rec('observed', b, { observed: true }); }
  async result(b: any) {
    await this.onResult?.(b);
    return this.#rec('result', b, { status: 'recorded' });
  }
  decision(b: any) { return this.#rec('decision', b, { decided: b.decision }); }
  cancel(b: any) { return this.#rec('cancel', b, { cancelled: true }); }
  clearDegraded(b: any) { return this.#rec('clearDegraded', b, { state: 'normal' }); }
  sets() { this.calls.push({ method: 'sets', body: undefined }); return [...this.known.values()]; }
  set(ref: { initiator: string; id: string }) {
    this.calls.push({ method: 'set', body: ref });
    return this.known.get(`${ref.initiator} ${ref.id}`);
  }
  records() { this.calls.push({ method: 'records', body: undefined }); return [{ kind: 'record', n: 1 }]; }
}

export async function startAgentFace(engine = new FakeEngine()): Promise<{ app: FastifyInstance; url: string; engine: FakeEngine }> {
  const app = Fastify({ logger: false });
  await app.register(websocket);
  await app.register(agentFace, { engine, credentials });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, engine };
}

/** A directive as the core would emit it (without seq). */
export function directive(n: number, execution = 'exec-1') {
  return {
    set: { initiator: 'alice', id: `set-${n}` },
    execution,
    action: 'restore' as const,
    target: { checkpoint: `ck-${n}`, seq: n, digest: DIGEST },
    hints: [],
    cause: { n },
  };
}
