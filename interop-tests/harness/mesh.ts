/**
 * Mesh builder: N nodes of the implementation under test, each with one
 * in-harness agent, and a relay on every directed link between peers that
 * talk (README "Topologies"). Every node trusts every other node's key (a
 * member verifies the initiator's record and its descendants' acks) but
 * knows URLs only of the peers it is linked with.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAdapter, writeConfig, type Adapter, type NodeConfigDoc } from './adapter.js';
import { HarnessAgent } from './agent.js';
import { decodeCompact, es256Keygen, verifyCompact, type KeyPair } from './jws.js';
import { NodeProc } from './node-proc.js';
import { Relay } from './relay.js';

export interface MeshSpec {
  /** Used in the temp dir name and the report. */
  name: string;
  nodes: string[];
  /** Undirected pairs that exchange envelopes; default: every pair. */
  links?: [string, string][];
  transport?: 'http' | 'ws';
  /** Config "limits" for every node (snake_case as in the config file). */
  limits?: Record<string, number>;
  /** Config "policy" per node. */
  policy?: Record<string, NodeConfigDoc['policy']>;
  /** Extra environment per node. */
  env?: Record<string, Record<string, string>>;
  /** Keep the temp dir (debugging). */
  keep?: boolean;
  /** Readiness timeout at first start (default max(30 s, 4 s per node): many nodes share two cores). */
  readyMs?: number;
}

export interface MeshNode {
  id: string;
  proc: NodeProc;
  agent: HarnessAgent;
  peerUrl: string;
  agentUrl: string;
  config: NodeConfigDoc;
  configPath: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns a value other than undefined. */
export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, ms: number, what: string, every = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch { /* node restarting */ }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(every);
  }
}

export class Mesh {
  readonly spec: MeshSpec;
  readonly adapter: Adapter;
  readonly dir: string;
  readonly transport: 'http' | 'ws';
  readonly keys: Record<string, KeyPair> = {};
  readonly nodes: Record<string, MeshNode> = {};
  readonly relays = new Map<string, Relay>();
  readonly startedMs: number;

  private constructor(spec: MeshSpec, adapter: Adapter, dir: string, startedMs: number) {
    this.spec = spec;
    this.adapter = adapter;
    this.dir = dir;
    this.transport = spec.transport ?? 'http';
    this.startedMs = startedMs;
  }

  static async start(spec: MeshSpec): Promise<Mesh> {
    const t0 = Date.now();
    const adapter = await loadAdapter();
    const transport = spec.transport ?? 'http';
    if (!(adapter.transports ?? ['http']).includes(transport)) throw new Error(`${adapter.name} does not offer the ${transport} binding`);
    const dir = mkdtempSync(join(tmpdir(), `marp-interop-${spec.name}-`));
    const mesh = new Mesh(spec, adapter, dir, t0);
    const links = spec.links ?? spec.nodes.flatMap((a, i) => spec.nodes.slice(i + 1).map((b) => [a, b] as [string, string]));
    const ports: Record<string, { peer: number; agent: number }> = {};
    for (const n of spec.nodes) {
      ports[n] = { peer: await freePort(), agent: await freePort() };
      const kp = es256Keygen();
      mesh.keys[n] = kp;
      writeFileSync(join(dir, `${n}.private.jwk`), JSON.stringify(kp.privateJwk), { mode: 0o600 });
      writeFileSync(join(dir, `${n}.jwks.json`), JSON.stringify(kp.publicJwks));
      writeFileSync(join(dir, `${n}.token`), randomBytes(24).toString('base64url'), { mode: 0o600 });
      writeFileSync(join(dir, `${n}.operator.token`), randomBytes(24).toString('base64url'), { mode: 0o600 });
    }
    // One relay per directed link: A's config names relay(A->B) as B's URL.
    for (const [a, b] of links) {
      for (const [from, to] of [[a, b], [b, a]] as const) {
        const r = new Relay({ from, to, target: `http://127.0.0.1:${ports[to]!.peer}`, senderKey: () => mesh.keys[from]!.privateJwk });
        await r.listen();
        mesh.relays.set(`${from}->${to}`, r);
      }
    }
    for (const n of spec.nodes) {
      const config: NodeConfigDoc = {
        id: n,
        data_dir: join(dir, `${n}-data`),
        log_level: 'info',
        peer_face: { host: '127.0.0.1', port: ports[n]!.peer },
        agent_face: { host: '127.0.0.1', port: ports[n]!.agent, token_file: join(dir, `${n}.token`) },
        operator: { token_file: join(dir, `${n}.operator.token`) },
        keys: { private: join(dir, `${n}.private.jwk`) },
        peers: spec.nodes.filter((p) => p !== n).map((p) => {
          const r = mesh.relays.get(`${n}->${p}`);
          return { id: p, ...(r ? { url: r.url } : {}), transport, jwks: join(dir, `${p}.jwks.json`) } as NodeConfigDoc['peers'][number];
        }),
        ...(spec.policy?.[n] ? { policy: spec.policy[n] } : {}),
        ...(spec.limits ? { limits: spec.limits } : {}),
      };
      const configPath = writeConfig(adapter, config, join(dir, `${n}.yaml`), (f, s) => writeFileSync(f, s));
      const proc = new NodeProc(n, adapter, configPath, spec.env?.[n] ?? {});
      const agentUrl = `http://127.0.0.1:${ports[n]!.agent}`;
      const agent = new HarnessAgent(n, agentUrl, readFileSync(join(dir, `${n}.token`), 'utf8'), readFileSync(join(dir, `${n}.operator.token`), 'utf8'));
      mesh.nodes[n] = { id: n, proc, agent, peerUrl: `http://127.0.0.1:${ports[n]!.peer}`, agentUrl, config, configPath };
    }
    try {
      for (const n of spec.nodes) mesh.nodes[n]!.proc.start();
      await Promise.all(spec.nodes.map((n) => mesh.#startRetrying(n)));
    } catch (err) {
      await mesh.stop();
      throw err;
    }
    for (const n of spec.nodes) mesh.nodes[n]!.agent.listen();
    return mesh;
  }

  node(id: string): MeshNode {
    const n = this.nodes[id];
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  agent(id: string): HarnessAgent { return this.node(id).agent; }

  relay(from: string, to: string): Relay {
    const r = this.relays.get(`${from}->${to}`);
    if (!r) throw new Error(`no link ${from}->${to}`);
    return r;
  }

  /** Wait until a node answers its readiness probe (adapter "readiness"). */
  async ready(id: string, ms = 30_000): Promise<void> {
    const n = this.node(id);
    const agentProbe = this.adapter.readiness === 'agent';
    const token = agentProbe ? readFileSync(n.config.agent_face.token_file, 'utf8') : '';
    const end = Date.now() + ms;
    for (;;) {
      if (!n.proc.running) throw new Error(`node ${id} exited before it was ready:\n${n.proc.tail.slice(-10).join('\n')}`);
      try {
        const r = agentProbe
          ? await fetch(`${n.agentUrl}/agent/v1/sets`, { headers: { authorization: `Bearer ${token}` } })
          : await fetch(`${n.peerUrl}/readyz`);
        if (r.ok) return;
      } catch { /* not listening yet */ }
      if (Date.now() > end) throw new Error(`node ${id} not ready after ${ms} ms:\n${n.proc.tail.slice(-10).join('\n')}`);
      await sleep(50);
    }
  }

  /**
   * Ports are picked free but released before the node binds them; on a
   * collision with another process (EADDRINUSE), move the node to new ports.
   * Peers reach it through relays, so only the relays' targets change.
   */
  async #startRetrying(id: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.ready(id, this.spec.readyMs ?? Math.max(30_000, 4000 * this.spec.nodes.length));
      } catch (err) {
        const n = this.node(id);
        if (attempt >= 3 || !/EADDRINUSE/.test(n.proc.tail.join('\n'))) throw err;
        await n.proc.kill();
        n.config.peer_face.port = await freePort();
        n.config.agent_face.port = await freePort();
        n.peerUrl = `http://127.0.0.1:${n.config.peer_face.port}`;
        n.agentUrl = `http://127.0.0.1:${n.config.agent_face.port}`;
        n.configPath = writeConfig(this.adapter, n.config, n.configPath, (f, s) => writeFileSync(f, s));
        for (const r of this.relays.values()) if (r.to === id) r.target = n.peerUrl;
        n.agent = new HarnessAgent(id, n.agentUrl, readFileSync(n.config.agent_face.token_file, 'utf8'), readFileSync(n.config.operator.token_file, 'utf8'));
        n.proc.tail.length = 0;
        n.proc.start();
      }
    }
  }

  /** SIGKILL a node (a crash). */
  kill(id: string): Promise<void> { return this.node(id).proc.kill(); }

  /** Start a node again from its data dir and wait until it is ready. */
  async restart(id: string, env: Record<string, string> = {}): Promise<void> {
    const n = this.node(id);
    if (n.proc.running) await n.proc.kill();
    n.proc.start(env);
    await this.ready(id);
  }

  /** Cut every link between the two groups, both directions. */
  partition(a: string[], b: string[]): void {
    for (const r of this.relays.values()) if ((a.includes(r.from) && b.includes(r.to)) || (b.includes(r.from) && a.includes(r.to))) r.cut();
  }

  /** Heal every link and drop every fault rule. */
  healAll(): void {
    for (const r of this.relays.values()) r.heal().clear();
  }

  /** Verify a record's (or follow-up's) signature and every embedded ack's with the keys the harness generated. */
  verifyRecord(compact: string): { ok: boolean; problems: string[] } {
    const problems: string[] = [];
    const { payload } = decodeCompact(compact);
    const iss = payload['iss'] as string;
    if (!this.keys[iss] || !verifyCompact(compact, this.keys[iss]!.publicJwks)) problems.push(`record not signed by ${iss}`);
    for (const m of (payload['members'] ?? []) as { agent: string; ack?: string }[]) {
      if (m.ack === undefined) continue;
      const k = this.keys[m.agent];
      if (!k || !verifyCompact(m.ack, k.publicJwks)) problems.push(`ack of ${m.agent} does not verify`);
      else if (decodeCompact(m.ack).payload['iss'] !== m.agent) problems.push(`ack of ${m.agent} issued by someone else`);
    }
    return { ok: problems.length === 0, problems };
  }

  /** Every node's traffic through the relays, in time order. */
  traffic(): import('./relay.js').Traffic[] {
    return [...this.relays.values()].flatMap((r) => r.traffic).sort((a, b) => a.at - b.at);
  }

  async stop(): Promise<void> {
    for (const n of Object.values(this.nodes)) n.agent.close();
    await Promise.all(Object.values(this.nodes).map((n) => n.proc.stop()));
    await Promise.all([...this.relays.values()].map((r) => r.close()));
    if (!this.spec.keep) rmSync(this.dir, { recursive: true, force: true });
  }
}
