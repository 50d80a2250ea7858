/**
 * Real node processes and signals: SIGHUP reloads peers and keys without a
 * restart (a config error keeps the old trust); SIGTERM in the middle of a
 * rollback stops the node promptly (exit 0), and the node started again
 * finishes the set.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { request } from 'undici';
import { keygen, loadSigner, sealEnvelope } from '../../src/envelope/index.js';
import { startMesh, startAgents, prepareScenario, waitRecord, AGENTS, type Name } from '../../src/demo/run.js';
import { buildBundle, verifyBundle } from '../../src/cli/bundle.js';
import { decodePayload } from '../../src/cli/offline.js';

const lines: { n: Name; l: Record<string, unknown> }[] = [];
const mesh = await startMesh({ onLine: (n, l) => lines.push({ n, l }) });
const agents = startAgents(mesh);
t.teardown(async () => {
  for (const n of AGENTS) agents[n].client.close();
  await mesh.stop();
});
const logged = async (n: Name, msg: string, from: number): Promise<void> => {
  const end = Date.now() + 10_000;
  while (!lines.slice(from).some((x) => x.n === n && x.l['msg'] === msg)) {
    if (Date.now() > end) throw new Error(`${n} did not log '${msg}'`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

t.test('SIGHUP: a peer added to the config is accepted; a broken config keeps the old trust', async (t) => {
  const { report } = agents;
  await report.start('report-h');
  const c = await report.checkpoint('report-h');
  await keygen({ privatePath: join(mesh.dir, 'auditor.private.jwk'), publicPath: join(mesh.dir, 'auditor.jwks.json') });
  const signer = loadSigner('auditor', join(mesh.dir, 'auditor.private.jwk'));
  let k = 0;
  const send = async () => {
    const body = { consumer: { execution: `audit-${++k}`, checkpoint: 'a-c1', seq: 1, digest: `sha-256:${'0'.repeat(64)}` }, producer: { execution: 'report-h', ...c } };
    const res = await request(`${mesh.nodes.report.peerUrl}/rollback/v1/envelope`, {
      method: 'POST', headers: { 'content-type': 'application/jose' }, body: sealEnvelope(signer, 'dependency', 'report', body).compact,
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };
  t.match(await send(), { status: 401, body: { code: 'kid_unknown' } }, 'an unknown peer is refused');

  const file = mesh.nodes.report.config;
  const good = readFileSync(file, 'utf8');
  const cfg = parse(good);
  cfg.peers.push({ id: 'auditor', jwks: './auditor.jwks.json' });
  writeFileSync(file, stringify(cfg));
  let mark = lines.length;
  mesh.nodes.report.child.kill('SIGHUP');
  await logged('report', 'trust reloaded', mark);
  t.match(await send(), { status: 202 }, 'accepted after SIGHUP, without a restart');

  writeFileSync(file, stringify({ ...cfg, peers: [{ id: 'x', jwks: './x.jwks.json', transport: 'carrier-pigeon' }] }));
  mark = lines.length;
  mesh.nodes.report.child.kill('SIGHUP');
  await logged('report', 'reload refused; previous trust kept', mark);
  t.match(await send(), { status: 202 }, 'the old trust is kept after a bad reload');
  t.equal(mesh.nodes.report.child.exitCode, null, 'still running');
  writeFileSync(file, good);
});

t.test('SIGTERM in the middle of a rollback: prompt exit 0; started again, the node finishes the set', async (t) => {
  const i2 = await prepareScenario(agents, () => {}, 2);
  const mark = lines.length;
  const { set } = await agents.ingest.client.failure('ingest-2', { ...i2, class: 'quality_regression' });
  // As soon as enrich's member starts rolling back, stop enrich.
  const end = Date.now() + 10_000;
  while (!lines.slice(mark).some((x) => x.n === 'enrich' && x.l['msg'] === 'state' && x.l['state'] === 'rolling_back')) {
    if (Date.now() > end) throw new Error('enrich never rolled back');
    await new Promise((r) => setImmediate(r));
  }
  const child = mesh.nodes.enrich.child;
  const t0 = Date.now();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.equal(await exit, 0, 'exit code 0');
  t.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
  await mesh.restart('enrich');
  const [record] = await waitRecord(agents.ingest, set, 30_000);
  const p = decodePayload(record!);
  t.equal(p['outcome'], 'complete');
  t.same(p['members'].map((m: { execution: string; status: string }) => `${m.execution}:${m.status}`).sort(),
    ['enrich-2:rolled_back', 'ingest-2:rolled_back', 'price-2:compensated', 'report-2:rolled_back']);
  t.ok(verifyBundle(buildBundle([record!], p['set'], mesh.keys)).ok, 'the record verifies');
});
