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
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(`${url}/readyz`);
      if (r.ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > end) throw new Error(`${url} not ready after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface Mesh {
  dir: string;
  nodes: Record<Name, { child: ChildProcess; peerUrl: string; agentUrl: string; token: string; operatorToken: string; config: string }>;
  keys: KeySet;
  /** SIGKILL the node if it still runs, start it again from its log, wait until ready. */
  restart(n: Name, env?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

/** Start the four nodes as child processes running `marp node`. */
export async function startMesh(opts: {
  transport?: 'http' | 'ws';
  onLine?: (name: Name, line: Record<string, unknown>) => void;
  /** Extra environment per node (tests: MARP_TEST_CRASH_AT). */
  env?: Partial<Record<Name, Record<string, string>>>;
} = {}): Promise<Mesh> {
  const dir = mkdtempSync(join(tmpdir(), 'marp-demo-'));
  // Run from dist/ (main.js) or from source under a TypeScript loader (main.ts).
  const cli = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../cli/main.ts' : '../cli/main.js', import.meta.url));
  const ports = Object.fromEntries(await Promise.all(AGENTS.map(async (n) => [n, { peer: await freePort(), agent: await freePort() }]))) as Record<Name, { peer: number; agent: number }>;
  const keys: KeySet = Object.create(null);
  for (const n of AGENTS) {
    const { publicJwks } = await keygen({ privatePath: join(dir, `${n}.private.jwk`), publicPath: join(dir, `${n}.jwks.json`) });
    keys[n] = publicJwks as never;
    writeFileSync(join(dir, `${n}.token`), randomBytes(24).toString('base64url'), { mode: 0o600 });
    writeFileSync(join(dir, `${n}.operator.token`), randomBytes(24).toString('base64url'), { mode: 0o600 });
  }
  const nodes = {} as Mesh['nodes'];
  const launch = (n: Name, config: string, env: Record<string, string> = opts.env?.[n] ?? {}): ChildProcess => {
    const child = spawn(process.execPath, [...process.execArgv, cli, 'node', '--config', config], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env },
    });
    createInterface({ input: child.stdout! }).on('line', (l) => {
      try { opts.onLine?.(n, JSON.parse(l)); } catch { /* not a log line */ }
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
      limits: { deadline_ms: 10_000 },
    }));
    nodes[n] = {
      child: launch(n, config),
      config,
      peerUrl: `http://127.0.0.1:${ports[n].peer}`,
      agentUrl: `http://127.0.0.1:${ports[n].agent}`,
      token: (await import('node:fs')).readFileSync(join(dir, `${n}.token`), 'utf8'),
      operatorToken: (await import('node:fs')).readFileSync(join(dir, `${n}.operator.token`), 'utf8'),
    };
  }
  await Promise.all(AGENTS.map((n) => waitReady(nodes[n].peerUrl)));
  return {
    dir, nodes, keys,
    async restart(n, env = {}) {
      const old = nodes[n].child;
      if (old.exitCode === null && old.signalCode === null) {
        await new Promise<void>((resolve) => { old.once('exit', () => resolve()); old.kill('SIGKILL'); });
      }
      nodes[n].child = launch(n, nodes[n].config, env);
      await waitReady(nodes[n].peerUrl);
    },
    async stop() {
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

/** The scenario: returns the record's compact form once the set is recorded. */
export async function runScenario(mesh: Mesh, say: (s: string) => void = () => {}): Promise<{ record: string; agents: Record<Name, FileAgent> }> {
  const agents = {} as Record<Name, FileAgent>;
  for (const n of AGENTS) {
    const client = new AgentClient({ url: mesh.nodes[n].agentUrl, token: mesh.nodes[n].token });
    agents[n] = new FileAgent(n, join(mesh.dir, `${n}-agent`), client);
    client.onDirective((d) => agents[n].restore(d));
  }
  const { ingest, enrich, price, report } = agents;
  say('agents work: each checkpoints before it emits or consumes output');
  await ingest.start('ingest-1');
  const i1 = await ingest.checkpoint('ingest-1');
  ingest.write({ batch: 1, rows: 100 });
  const i2 = await ingest.checkpoint('ingest-1');
  ingest.write({ batch: 2, rows: 250, note: 'schema drift' });

  await enrich.start('enrich-1');
  const e1 = await enrich.checkpoint('enrich-1');
  await enrich.client.consumed('enrich-1', { agent: 'ingest', execution: 'ingest-1', ...i1 });
  enrich.write({ from: 'ingest batch 1' });
  const e2 = await enrich.checkpoint('enrich-1');
  await enrich.client.consumed('enrich-1', { agent: 'ingest', execution: 'ingest-1', ...i2 });
  enrich.write({ from: 'ingest batch 2' });

  await price.start('price-1');
  const p1 = await price.checkpoint('price-1', 'compensable', [{ compensate: 'withdraw published price list', ticket: 'OPS-1' }]);
  await price.client.consumed('price-1', { agent: 'ingest', execution: 'ingest-1', ...i2 });
  price.write({ priced: 'batch 2' });

  await report.start('report-1');
  const r1 = await report.checkpoint('report-1');
  await report.client.consumed('report-1', { agent: 'enrich', execution: 'enrich-1', ...e2 });
  await report.client.consumed('report-1', { agent: 'price', execution: 'price-1', ...p1 });
  report.write({ report: 'daily', inputs: ['enrich', 'price'] });
  say(`checkpoints: ingest ${i1.checkpoint},${i2.checkpoint}; enrich ${e1.checkpoint},${e2.checkpoint}; price ${p1.checkpoint}; report ${r1.checkpoint}`);

  say('ingest detects that its batch 2 is bad and reports the failure');
  const { set } = await ingest.client.failure('ingest-1', { ...i2, class: 'quality_regression', detail: 'batch 2 failed schema validation' });
  const end = Date.now() + 20_000;
  for (;;) {
    const records = await ingest.client.records().catch(() => [] as any[]); // the node may be restarting
    const mine = records.find((r) => r.payload?.set?.id === set.id && !('refers' in r.payload));
    if (mine) return { record: mine.compact as string, agents };
    if (Date.now() > end) throw new Error('no recovery record within 20 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const demoCommand: Command = {
  summary: 'run four nodes and agents through a coordinated rollback',
  usage: 'usage: marp demo [--transport http|ws] [--keep]\n  starts four nodes (real processes, fresh keys), runs the scenario, prints and verifies the record',
  async run(argv) {
    const { values } = options(argv, { transport: { type: 'string', default: 'http' }, keep: { type: 'boolean', default: false } });
    const transport = values['transport'] === 'ws' ? 'ws' : 'http';
    const out = (s: string): void => { process.stdout.write(`${s}\n`); };
    out(`starting four nodes (transport ${transport})`);
    const mesh = await startMesh({ transport, onLine: (n, l) => { const s = describe(n, l); if (s) out(s); } });
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
      if (!values['keep']) rmSync(mesh.dir, { recursive: true, force: true });
      else out(`kept ${mesh.dir}`);
    }
  },
};
