/**
 * `marp demo`: four nodes as real processes, each with fresh keys, and four
 * agents holding real state (a file of records) in a chain plus a diamond:
 *
 *        ingest --(c2)--> enrich --> report
 *           \                      /
 *            `--(c2)--> price ----'
 *
 * ingest's second batch is bad: its failure opens a rollback set; enrich and
 * price consumed the tainted batch, report consumed both (a diamond). An
 * earlier consumption by enrich (as of ingest's first checkpoint) is not
 * tainted. The demo prints each member's state changes as they happen, the
 * recovery record, and its verification; exit 0 when the set is complete and
 * every agent's state equals its checkpoint again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { AgentClient } from '../client/index.js';
import { keygen } from '../envelope/index.js';
import { verifyBundle, buildBundle } from '../cli/bundle.js';
import { decodePayload, type KeySet } from '../cli/offline.js';
import { options, type Command } from '../cli/main.js';
import { FileAgent } from './file-agent.js';

export const AGENTS = ['ingest', 'enrich', 'price', 'report'] as const;
export type Name = (typeof AGENTS)[number];

/**
 * A free port for a node that is configured before it starts. Chosen below
 * the kernel's ephemeral range (32768 and up on Linux), so no other process
 * that listens on port 0 can be handed it between this check and the node's
 * own listen.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/** Poll `url`/readyz until it answers 200; `cancelled()` true ends the wait early (the mesh is stopping). */
export async function waitReady(url: string, ms = 45_000, everyMs = 50, cancelled = (): boolean => false): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (cancelled()) return;
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > end) throw new Error(`${url} not ready after ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Mesh {
  dir: string;
  nodes: Record<Name, { child: ChildProcess; peerUrl: string; agentUrl: string; token: string; operatorToken: string; config: string }>;
  keys: KeySet;
  /** SIGKILL the node if it still runs, start it again from its log, wait until ready. */
  restart(n: Name, env?: Record<string, string>): Promise<void>;
  /** Resolves when every node is running and ready (after supervised restarts). */
  ready(): Promise<void>;
  /** Times each node was started again by the supervisor (`supervise`). */
  restarts: Record<Name, number>;
  stop(): Promise<void>;
}

export interface MeshOptions {
  transport?: 'http' | 'ws';
  onLine?: (name: Name, line: Record<string, unknown>) => void;
  /** Extra environment per node (tests: MARP_TEST_CRASH_AT). */
  env?: Partial<Record<Name, Record<string, string>>>;
  /** The config's `limits` (snake_case), over the demo's { deadline_ms: 10000 }. */
  limits?: Record<string, number>;
  /** The config's `policy` per node (e.g. { default: 'held' }). */
  policy?: Partial<Record<Name, { default?: 'automatic' | 'held'; executions?: Record<string, 'automatic' | 'held'> }>>;
  /** Start a node again (without extra environment) when it dies of SIGKILL (tests: crash points). */
  supervise?: boolean;
}

/** Whether dist/ holds a build at least as new as every file under src/. */
export function distFresh(): boolean {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  let built: number;
  try { built = statSync(join(root, 'dist/src/cli/main.js')).mtimeMs; } catch { return false; }
  const newest = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
    const p = join(dir, e.name);
    return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }, 0);
  return newest(join(root, 'src')) <= built;
}

/** Start the four nodes as child processes running `marp node`. */
export async function startMesh(opts: MeshOptions = {}): Promise<Mesh> {
  const dir = mkdtempSync(join(tmpdir(), 'marp-demo-'));
  // Children run the compiled CLI when dist/ is at least as new as src/ (make test builds it
  // first), else the sources under tsx alone: never the parent's loaders (a test runner's hooks
  // make each start take seconds, and its coverage of the same sources under another loader
  // spoils the merged report).
  const fromSource = import.meta.url.endsWith('.ts') && !distFresh();
  const cli = import.meta.url.endsWith('.ts') && !fromSource
    ? fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url))
    : fileURLToPath(new URL(fromSource ? '../cli/main.ts' : '../cli/main.js', import.meta.url));
  const execArgv = fromSource ? ['--import', import.meta.resolve('tsx')] : [];
  const ports = Object.fromEntries(await Promise.all(AGENTS.map(async (n) => [n, { peer: await freePort(), agent: await freePort() }]))) as Record<Name, { peer: number; agent: number }>;
  const keys: KeySet = Object.create(null);
  for (const n of AGENTS) {
    const { publicJwks } = await keygen({ privatePath: join(dir, `${n}.private.jwk`), publicPath: join(dir, `${n}.jwks.json`) });
    keys[n] = publicJwks as never;
    writeFileSync(join(dir, `${n}.token`), randomBytes(24).toString('base64url'), { mode: 0o600 });
    writeFileSync(join(dir, `${n}.operator.token`), randomBytes(24).toString('base64url'), { mode: 0o600 });
  }
  const nodes = {} as Mesh['nodes'];
  const restarts = Object.fromEntries(AGENTS.map((n) => [n, 0])) as Record<Name, number>;
  const starting = new Map<Name, Promise<void>>();
  let stopping = false;
  const launch = (n: Name, config: string, env: Record<string, string> = opts.env?.[n] ?? {}): ChildProcess => {
    const child = spawn(process.execPath, [...execArgv, cli, 'node', '--config', config], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env },
    });
    createInterface({ input: child.stdout! }).on('line', (l) => {
      let line: Record<string, unknown>;
      try { line = JSON.parse(l); } catch { return; /* not a log line */ }
      opts.onLine?.(n, line);
    });
    child.once('exit', (_code, signal) => {
      if (!opts.supervise || stopping || signal !== 'SIGKILL' || nodes[n]?.child !== child) return;
      restarts[n]++;
      nodes[n].child = launch(n, config, {});
      // Awaited by ready(); if the mesh stops first, the restarted node is stopped too and nobody waits.
      starting.set(n, waitReady(nodes[n].peerUrl, undefined, undefined, () => stopping));
    });
    return child;
  };
  for (const n of AGENTS) {
    const config = join(dir, `${n}.yaml`);
    writeFileSync(config, stringify({
      id: n,
      data_dir: `./${n}-data`,
      log_level: 'info',
      peer_face: { host: '127.0.0.1', port: ports[n].peer },
      agent_face: { host: '127.0.0.1', port: ports[n].agent, token_file: `./${n}.token` },
      operator: { token_file: `./${n}.operator.token` },
      keys: { private: `./${n}.private.jwk` },
      peers: AGENTS.filter((p) => p !== n).map((p) => ({
        id: p, url: `http://127.0.0.1:${ports[p].peer}`, transport: opts.transport ?? 'http', jwks: `./${p}.jwks.json`,
      })),
      limits: { deadline_ms: 10_000, ...opts.limits },
      ...(opts.policy?.[n] ? { policy: opts.policy[n] } : {}),
    }));
    nodes[n] = {
      child: launch(n, config),
      config,
      peerUrl: `http://127.0.0.1:${ports[n].peer}`,
      agentUrl: `http://127.0.0.1:${ports[n].agent}`,
      token: readFileSync(join(dir, `${n}.token`), 'utf8'),
      operatorToken: readFileSync(join(dir, `${n}.operator.token`), 'utf8'),
    };
  }
  // Children must not outlive a mesh that failed to start, nor this process.
  const killAll = (): void => { for (const n of AGENTS) nodes[n]?.child?.kill('SIGKILL'); };
  process.once('exit', killAll);
  try {
    await Promise.all(AGENTS.map((n) => waitReady(nodes[n].peerUrl)));
  } catch (err) {
    stopping = true;
    killAll();
    throw err;
  }
  return {
    dir, nodes, keys, restarts,
    async restart(n, env = {}) {
      const old = nodes[n].child;
      nodes[n].child = undefined as never; // not the supervisor's to restart
      if (old.exitCode === null && old.signalCode === null) {
        await new Promise<void>((resolve) => { old.once('exit', () => resolve()); old.kill('SIGKILL'); });
      }
      nodes[n].child = launch(n, nodes[n].config, env);
      await waitReady(nodes[n].peerUrl);
    },
    async ready() {
      for (;;) {
        const pending = [...starting.values()];
        starting.clear();
        if (pending.length === 0) break;
        await Promise.all(pending);
      }
      await Promise.all(AGENTS.map((n) => waitReady(nodes[n].peerUrl)));
    },
    async stop() {
      stopping = true;
      process.removeListener('exit', killAll);
      await Promise.all(AGENTS.map((n) => new Promise<void>((resolve) => {
        const c = nodes[n].child;
        if (c.exitCode !== null || c.signalCode !== null) return resolve();
        c.once('exit', () => resolve());
        c.kill('SIGTERM');
      })));
    },
  };
}

function describe(name: string, l: Record<string, unknown>): string | undefined {
  if (l['msg'] !== 'state') return undefined;
  const what = l['scope'] === 'set' ? `set ${String(l['set'] && (l['set'] as { id: string }).id).slice(0, 8)}` : `member ${String(l['execution'] ?? '')}`;
  const detail = [l['status'], l['outcome'], l['target'] && `target ${(l['target'] as { checkpoint: string }).checkpoint}`].filter(Boolean).join(', ');
  return `  ${name.padEnd(7)} ${what.padEnd(20)} ${String(l['from'] ?? '')} -> ${String(l['to'] ?? l['state'] ?? '')}${detail ? `  (${detail})` : ''}`;
}

/** One agent per node, each handling its directives by restoring its file. */
export function startAgents(mesh: Mesh): Record<Name, FileAgent> {
  const agents = {} as Record<Name, FileAgent>;
  for (const n of AGENTS) {
    const client = new AgentClient({ url: mesh.nodes[n].agentUrl, token: mesh.nodes[n].token });
    agents[n] = new FileAgent(n, join(mesh.dir, `${n}-agent`), client);
    client.onDirective((d) => agents[n].restore(d));
  }
  return agents;
}

/**
 * The agents' work before the failure (executions named with `round`, so a
 * mesh can run the scenario more than once); returns ingest's bad checkpoint.
 */
export async function prepareScenario(agents: Record<Name, FileAgent>, say: (s: string) => void = () => {}, round = 1): Promise<{ checkpoint: string; seq: number }> {
  const { ingest, enrich, price, report } = agents;
  const [I, E, P, R] = AGENTS.map((n) => `${n}-${round}`) as [string, string, string, string];
  say('agents work: each checkpoints before it emits or consumes output');
  await ingest.start(I, { source: 'orders feed', cursor: 0 });
  const i1 = await ingest.checkpoint(I);
  ingest.write({ batch: 1, rows: 100 });
  const i2 = await ingest.checkpoint(I);
  ingest.write({ batch: 2, rows: 250, note: 'schema drift' });

  await enrich.start(E, { lookup: 'regions v3' });
  const e1 = await enrich.checkpoint(E);
  await enrich.client.consumed(E, { agent: 'ingest', execution: I, ...i1 });
  enrich.write({ from: 'ingest batch 1' });
  const e2 = await enrich.checkpoint(E);
  await enrich.client.consumed(E, { agent: 'ingest', execution: I, ...i2 });
  enrich.write({ from: 'ingest batch 2' });

  await price.start(P, { price_list: 'v41', currency: 'EUR' });
  const p1 = await price.checkpoint(P, 'compensable', [{ compensate: 'withdraw published price list', ticket: 'OPS-1' }]);
  await price.client.consumed(P, { agent: 'ingest', execution: I, ...i2 });
  price.write({ priced: 'batch 2' });

  await report.start(R, { template: 'daily v2' });
  const r1 = await report.checkpoint(R);
  await report.client.consumed(R, { agent: 'enrich', execution: E, ...e2 });
  await report.client.consumed(R, { agent: 'price', execution: P, ...p1 });
  report.write({ report: 'daily', inputs: ['enrich', 'price'] });
  say(`checkpoints: ingest ${i1.checkpoint},${i2.checkpoint}; enrich ${e1.checkpoint},${e2.checkpoint}; price ${p1.checkpoint}; report ${r1.checkpoint}`);
  return i2;
}

/** Poll the initiator's records until the set's record (not a follow-up) is there. */
export async function waitRecord(agent: FileAgent, set: { id: string }, ms = 20_000, followups = 0): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const records = await agent.client.records().catch(() => [] as any[]); // the node may be restarting
    const mine = records.filter((r) => r.payload?.set?.id === set.id);
    if (mine.length > followups) return mine.map((r) => r.compact as string);
    if (Date.now() > end) throw new Error(`no recovery record within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The scenario: returns the record's compact form once the set is recorded. */
export async function runScenario(mesh: Mesh, say: (s: string) => void = () => {}): Promise<{ record: string; agents: Record<Name, FileAgent> }> {
  const agents = startAgents(mesh);
  const i2 = await prepareScenario(agents, say);
  say('ingest detects that its batch 2 is bad and reports the failure');
  const { set } = await agents.ingest.client.failure('ingest-1', { ...i2, class: 'quality_regression', detail: 'batch 2 failed schema validation' });
  const [record] = await waitRecord(agents.ingest, set);
  return { record: record!, agents };
}

/**
 * Nodes started elsewhere (docker-compose): a JSON file naming each agent's
 * node ({agent_url, token_file, jwks}) and a directory for the agents' state.
 */
export function attachMesh(file: string): Mesh {
  const spec = JSON.parse(readFileSync(file, 'utf8')) as {
    state_dir: string; nodes: Record<Name, { agent_url: string; token_file: string; jwks: string }>;
  };
  const base = dirname(resolve(file));
  const at = (p: string): string => resolve(base, p);
  const nodes = {} as Mesh['nodes'];
  const keys: KeySet = Object.create(null);
  for (const n of AGENTS) {
    const s = spec.nodes[n];
    if (!s) throw new Error(`${file}: nodes.${n} missing`);
    nodes[n] = { child: undefined as never, peerUrl: '', agentUrl: s.agent_url, token: readFileSync(at(s.token_file), 'utf8').trim(), operatorToken: '', config: '' };
    keys[n] = JSON.parse(readFileSync(at(s.jwks), 'utf8'));
  }
  const none = async (): Promise<void> => {};
  return { dir: at(spec.state_dir), nodes, keys, restart: none, ready: none, restarts: {} as Mesh['restarts'], stop: none };
}

export const demoCommand: Command = {
  summary: 'run four nodes and agents through a coordinated rollback',
  usage: [
    'usage: marp demo [--transport http|ws] [--keep]',
    '       marp demo --attach FILE',
    '  starts four nodes (real processes, fresh keys), runs the scenario, prints and verifies the record;',
    '  --attach runs the agents against nodes started elsewhere (FILE: {state_dir, nodes: {NAME: {agent_url, token_file, jwks}}})',
  ].join('\n'),
  async run(argv) {
    const { values } = options(argv, { transport: { type: 'string', default: 'http' }, keep: { type: 'boolean', default: false }, attach: { type: 'string' } });
    const attach = values['attach'] as string | undefined;
    const transport = values['transport'] === 'ws' ? 'ws' : 'http';
    const out = (s: string): void => { process.stdout.write(`${s}\n`); };
    out(attach ? `attaching to the nodes of ${attach}` : `starting four nodes (transport ${transport})`);
    const mesh = attach ? attachMesh(attach) : await startMesh({ transport, onLine: (n, l) => { const s = describe(n, l); if (s) out(s); } });
    try {
      const { record, agents } = await runScenario(mesh, out);
      const payload = decodePayload(record);
      out('\nrecovery record (payload; each member entry embeds its own signed acknowledgement):');
      out(JSON.stringify({ ...payload, members: payload['members'].map((m: Record<string, unknown>) => ({ ...m, ack: m['ack'] ? `${String(m['ack']).slice(0, 24)}...` : undefined })) }, null, 2));
      const v = verifyBundle(buildBundle([record], payload['set'], mesh.keys));
      out(v.ok ? `\nrecord verified: signatures of the initiator and of every member, outcome ${payload['outcome']}` : `\nrecord FAILED verification: ${v.reason}: ${v.detail}`);
      for (const n of AGENTS) out(`  ${n.padEnd(7)} state now ${JSON.stringify(agents[n].records())}`);
      for (const n of AGENTS) agents[n].client.close();
      return v.ok && payload['outcome'] === 'complete' ? 0 : 1;
    } finally {
      await mesh.stop();
      if (attach) { /* the nodes and their state belong to whoever started them */ } else if (!values['keep']) rmSync(mesh.dir, { recursive: true, force: true });
      else out(`kept ${mesh.dir}`);
    }
  },
};
