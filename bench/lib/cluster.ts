/**
 * Multi-node launcher for benchmarks: N real `marp node` processes on
 * loopback, each with fresh keys, a config, an agent token, and one agent
 * (an AgentClient) that owns many executions and answers every directive at
 * once. Durability is the production default (every accepted input fsynced).
 *
 * Counting: messages from each node's /metrics (rollback_messages_total);
 * bytes through optional TCP relays in this process (the nodes' peer URLs are
 * switched to the relays by rewriting the configs and sending SIGHUP, so the
 * timed runs go direct and only a separate counting run pays the relay hop).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { AgentClient, type Directive, type RollbackResult } from '../../src/client/index.js';
import { keygen, loadSigner, type Signer } from '../../src/envelope/index.js';
import { freePort, waitReady as waitNodeReady } from '../../src/demo/run.js';

export const DIGEST = `sha-256:${'ab'.repeat(32)}`;

export { freePort };

/** Bench nodes may start slowly on a loaded machine: a longer default wait. */
export function waitReady(url: string, ms = 60_000, everyMs = 50): Promise<void> {
  return waitNodeReady(url, ms, everyMs);
}

export interface RecordLine { node: string; set: { initiator: string; id: string }; outcome: string; time: number; index: number }

/** A TCP relay that counts bytes in both directions. */
class Relay {
  up = 0; // client -> node (envelopes, HTTP request heads, WS frames)
  down = 0; // node -> client (receipts)
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: number) {
    this.#server = createServer((a) => {
      const b = connect(this.target, '127.0.0.1');
      this.#sockets.add(a).add(b);
      a.on('data', (d) => { this.up += d.length; });
      b.on('data', (d) => { this.down += d.length; });
      a.pipe(b).pipe(a);
      const end = (): void => { a.destroy(); b.destroy(); this.#sockets.delete(a); this.#sockets.delete(b); };
      a.on('error', end).on('close', end);
      b.on('error', end).on('close', end);
    });
  }
  async listen(): Promise<void> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.port = (this.#server.address() as { port: number }).port;
  }
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((r) => this.#server.close(() => r()));
  }
}

export interface NodeHandle {
  name: string;
  index: number;
  child: ChildProcess;
  peerPort: number;
  agentPort: number;
  peerUrl: string;
  agentUrl: string;
  token: string;
  config: string;
  client: AgentClient;
  signer: Signer;
  directives: number;
}

export interface ClusterOptions {
  nodes?: number;
  transport?: 'http' | 'ws';
  /** Limits section of every config (snake_case as in the file). */
  limits?: Record<string, number>;
  logLevel?: string;
  /** Answer directives through AgentClient.onDirective (one at a time, as the client does). */
  answer?: (d: Directive) => RollbackResult;
  dir?: string;
}

export class Cluster {
  readonly dir: string;
  readonly nodes: NodeHandle[] = [];
  readonly transport: 'http' | 'ws';
  readonly #opts: ClusterOptions;
  readonly #recordListeners = new Set<(r: RecordLine) => void>();
  /** First record line per set id (a record may be written before anyone waits for it). */
  readonly #records = new Map<string, RecordLine>();
  readonly #relays: Relay[] = [];
  #cli: string;

  private constructor(opts: ClusterOptions) {
    this.#opts = opts;
    this.transport = opts.transport ?? 'http';
    this.dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'marp-bench-'));
    this.#cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  }

  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const c = new Cluster(opts);
    await c.#start();
    return c;
  }

  #configText(n: NodeHandle, relay: boolean): string {
    const names = this.nodes.map((x) => x.name);
    return stringify({
      id: n.name,
      data_dir: `./${n.name}-data`,
      log_level: this.#opts.logLevel ?? 'info',
      // Every member's link to the initiator comes from 127.0.0.1 (draft req-ws-limits: 256 per source).
      peer_face: { host: '127.0.0.1', port: n.peerPort, ws: { connections_per_source: 8192, connections: 8192 } },
      agent_face: { host: '127.0.0.1', port: n.agentPort, token_file: `./${n.name}.token` },
      operator: { token_file: `./${n.name}.operator.token` },
      keys: { private: `./${n.name}.private.jwk` },
      peers: names.filter((p) => p !== n.name).map((p) => {
        const peer = this.nodes.find((x) => x.name === p)!;
        const port = relay ? this.#relays[peer.index]!.port : peer.peerPort;
        return { id: p, url: `http://127.0.0.1:${port}`, transport: this.transport, jwks: `./${p}.jwks.json` };
      }),
      // Deep chains and wide trees are the point here: lift the draft's conservative defaults
      // (8 hops, fan-out 64, 2 s hop margin) to what the shapes need.
      limits: { max_hops: 64, fanout_limit: 1024, hop_margin_ms: 200, ...this.#opts.limits },
    });
  }

  async #start(): Promise<void> {
    const count = this.#opts.nodes ?? 8;
    for (let i = 0; i < count; i++) {
      const name = `n${i}`;
      await keygen({ privatePath: join(this.dir, `${name}.private.jwk`), publicPath: join(this.dir, `${name}.jwks.json`) });
      const token = randomBytes(24).toString('base64url');
      writeFileSync(join(this.dir, `${name}.token`), token, { mode: 0o600 });
      writeFileSync(join(this.dir, `${name}.operator.token`), randomBytes(24).toString('base64url'), { mode: 0o600 });
      const peerPort = await freePort();
      const agentPort = await freePort();
      this.nodes.push({
        name, index: i, peerPort, agentPort, token,
        peerUrl: `http://127.0.0.1:${peerPort}`, agentUrl: `http://127.0.0.1:${agentPort}`,
        config: join(this.dir, `${name}.yaml`), child: undefined as never, client: undefined as never,
        signer: loadSigner(name, join(this.dir, `${name}.private.jwk`)), directives: 0,
      });
    }
    for (const n of this.nodes) writeFileSync(n.config, this.#configText(n, false));
    for (const n of this.nodes) n.child = this.launch(n);
    await Promise.all(this.nodes.map((n) => waitReady(n.peerUrl)));
    // The relays take ephemeral ports only once the nodes hold theirs: freePort() releases the port
    // it found, and a relay listening first could be given a node's port (EADDRINUSE at its start).
    for (const n of this.nodes) {
      const r = new Relay(n.peerPort);
      await r.listen();
      this.#relays.push(r);
    }
    for (const n of this.nodes) {
      n.client = new AgentClient({ url: n.agentUrl, token: n.token });
      const answer = this.#opts.answer ?? restoreAtOnce;
      n.client.onDirective(async (d) => { n.directives++; return answer(d); });
    }
  }

  /** Spawn (or re-spawn) a node process from its config. */
  launch(n: NodeHandle, env: Record<string, string> = {}): ChildProcess {
    const child = spawn(process.execPath, [...process.execArgv, this.#cli, 'node', '--config', n.config], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env },
    });
    createInterface({ input: child.stdout! }).on('line', (l) => {
      // Parse only the lines we need: at info level every state change is logged.
      if (!l.includes('recovery record written')) return;
      try {
        const j = JSON.parse(l) as RecordLine & { node: string };
        const r = { node: j.node, set: j.set, outcome: j.outcome, time: j.time, index: j.index };
        if (!this.#records.has(j.set.id)) this.#records.set(j.set.id, r);
        for (const f of this.#recordListeners) f({ node: j.node, set: j.set, outcome: j.outcome, time: j.time, index: j.index });
      } catch { /* not a log line */ }
    });
    return child;
  }

  /** Resolves with the log line of the first record written for this set. */
  waitRecord(setId: string, ms = 30_000): Promise<RecordLine> {
    const seen = this.#records.get(setId);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.#recordListeners.delete(f); reject(new Error(`no record for set ${setId} within ${ms} ms`)); }, ms);
      const f = (r: RecordLine): void => {
        if (r.set?.id !== setId) return;
        clearTimeout(timer);
        this.#recordListeners.delete(f);
        resolve(r);
      };
      this.#recordListeners.add(f);
    });
  }

  /** Route peer traffic through the counting relays (true) or directly (false). */
  async useRelays(on: boolean): Promise<void> {
    for (const n of this.nodes) writeFileSync(n.config, this.#configText(n, on));
    for (const n of this.nodes) n.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
  }

  relayBytes(): { up: number; down: number } {
    return this.#relays.reduce((a, r) => ({ up: a.up + r.up, down: a.down + r.down }), { up: 0, down: 0 });
  }

  /** rollback_messages_total and rollback_rejections_total summed over all nodes. */
  async counters(): Promise<{ accepted: Record<string, number>; rejected: number; rejections: Record<string, number> }> {
    const accepted: Record<string, number> = {};
    const rejections: Record<string, number> = {};
    let rejected = 0;
    await Promise.all(this.nodes.map(async (n) => {
      const text = await (await fetch(`${n.peerUrl}/metrics`)).text();
      for (const m of text.matchAll(/^rollback_messages_total\{([^}]*)\} (\S+)$/gm)) {
        const kind = /kind="([^"]*)"/.exec(m[1]!)?.[1] ?? '?';
        const result = /result="([^"]*)"/.exec(m[1]!)?.[1];
        if (result === 'accepted') accepted[kind] = (accepted[kind] ?? 0) + Number(m[2]);
        else rejected += Number(m[2]);
      }
      for (const m of text.matchAll(/^rollback_rejections_total\{code="([^"]*)"\} (\S+)$/gm)) {
        rejections[m[1]!] = (rejections[m[1]!] ?? 0) + Number(m[2]);
      }
    }));
    return { accepted, rejected, rejections };
  }

  /** Wait until the message counters stop moving (outcomes still travelling after the record). */
  async quiesce(stableMs = 400, maxMs = 15_000): Promise<void> {
    const end = Date.now() + maxMs;
    let last = '';
    let since = Date.now();
    while (Date.now() < end) {
      const c = JSON.stringify(await this.counters());
      if (c !== last) { last = c; since = Date.now(); } else if (Date.now() - since >= stableMs) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Resident set size of a node process, bytes (Linux /proc). */
  rss(n: NodeHandle): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${n.child.pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) n.client?.close();
    await Promise.all(this.nodes.map((n) => new Promise<void>((resolve) => {
      const c = n.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return resolve();
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      c.once('exit', () => { clearTimeout(t); resolve(); });
      c.kill('SIGTERM');
    })));
    await Promise.all(this.#relays.map((r) => r.close()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function restoreAtOnce(d: Directive): RollbackResult {
  return { status: d.action === 'compensate' ? 'compensated' : 'restored', restored: { checkpoint: d.target.checkpoint, digest: d.target.digest } };
}

/** Run `fn` over items with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  const worker = async (): Promise<void> => { while (i < items.length) await fn(items[i++]!); };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
