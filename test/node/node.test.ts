/**
 * In-process RollbackNodes over real loopback sockets: held members and the
 * operator credential, restored-digest verification, directives across
 * disconnects and restarts, a lost replay watermark (degraded security
 * state), damaged logs refused at start, and a stop that does not wait for
 * retransmission backoff.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from 'undici';
import { pino } from 'pino';
import { AgentApiError, AgentClient, type Directive } from '../../src/client/index.js';
import { buildBundle, verifyBundle } from '../../src/cli/bundle.js';
import { decodePayload } from '../../src/cli/offline.js';
import { loadSigner, sealEnvelope } from '../../src/envelope/index.js';
import { parseConfig } from '../../src/node/config.js';
import { RollbackNode } from '../../src/node/node.js';
import { DIGEST, startNodes, until, type TestNode } from './fixtures/nodes.js';

const silent = pino({ level: 'silent' });

/** up (producer, initiator) -> down (consumer): down consumed up's output as of up's checkpoint c1. */
async function chain(up: TestNode, down: TestNode, r: string): Promise<{ u: string; d: string }> {
  const u = `u-${r}`;
  const d = `d-${r}`;
  await up.client.execution(u);
  await up.client.checkpoint(u, { checkpoint: `${u}-c1`, seq: 1, digest: DIGEST(`${u}-c1`), reversibility: 'reversible' });
  await down.client.execution(d);
  await down.client.checkpoint(d, { checkpoint: `${d}-c1`, seq: 1, digest: DIGEST(`${d}-c1`), reversibility: 'reversible' });
  const reg = await down.client.consumed(d, { agent: up.name, execution: u, checkpoint: `${u}-c1`, seq: 1 });
  if (!reg.registered) throw new Error('dependency not registered');
  return { u, d };
}

/** An agent that restores exactly what was declared. */
const honest = async (d: Directive) => ({ status: 'restored' as const, restored: { checkpoint: d.target.checkpoint, digest: d.target.digest } });

async function records(n: TestNode, setId: string, count = 1): Promise<Record<string, any>[]> {
  const rs = await until(async () => {
    const all = (await n.client.records()).filter((r: any) => r.payload.set.id === setId);
    return all.length >= count ? all : undefined;
  }, 8000, `${count} record(s) of ${setId}`);
  return rs.map((r: any) => r.payload);
}

function entry(p: Record<string, any>, agent: string): { status: string; ack?: Record<string, any> } {
  const e = p['members'].find((m: any) => m.agent === agent);
  return { status: e.status, ...(e.ack ? { ack: decodePayload(e.ack) } : {}) };
}

t.test('held member: interim held, recorded as held past its deadline; confirmed only with the operator credential', async (t) => {
  const mesh = await startNodes(['up', 'down'], { policy: { down: { default: 'held' } }, limits: { deadline_ms: 800 } });
  t.teardown(() => mesh.stop());
  const { up, down } = mesh.nodes as Record<'up' | 'down', TestNode>;
  let handled = 0;
  up.client.onDirective(honest);
  down.client.onDirective(async (d) => { handled++; return honest(d); });

  const { u, d } = await chain(up, down, 'confirm');
  const { set } = await up.client.failure(u, { checkpoint: `${u}-c1`, seq: 1, class: 'execution_error' });
  const [rec] = await records(up, set.id);
  t.equal(rec!['outcome'], 'partial', 'a held member makes the outcome partial');
  t.match(entry(rec!, 'down'), { status: 'held', ack: { status: 'held', policy: { mode: 'held' } } }, 'recorded as held, its policy named');
  t.notOk(entry(rec!, 'down').ack!['policy'].decided_by, 'nobody decided yet');

  // Past the member's deadline nobody has confirmed: still held, still fenced, no directive.
  await new Promise((r) => setTimeout(r, 1000));
  t.match(down.node.core.member(set, d), { state: 'held', status: 'held' });
  t.ok(down.node.core.fenced(d), 'a held member keeps its fence until its operator decides');
  t.equal(handled, 0, 'no directive without a decision');

  const agentTry = await down.client.call('POST', '/operator/v1/decisions', { set, execution: d, decision: 'confirm' }).catch((e) => e);
  t.match(agentTry, { status: 403, code: 'forbidden' }, 'the agent\'s token cannot confirm');
  t.same(await down.operator.call('POST', '/operator/v1/decisions', { set, execution: d, decision: 'confirm' }), { ok: true });

  const [first, follow] = await records(up, set.id, 2);
  t.equal(handled, 1, 'the directive reached the agent once');
  t.equal(follow!['refers'] !== undefined, true, 'the late final is a follow-up record');
  t.equal(follow!['outcome'], 'complete');
  t.match(entry(follow!, 'down'), {
    status: 'rolled_back',
    ack: { status: 'rolled_back', policy: { mode: 'held', decision: 'confirmed', decided_by: /^operator@/ } },
  }, 'the record names the policy and who confirmed');
  const compacts = (await up.client.records()).filter((r: any) => r.payload.set.id === set.id).map((r: any) => r.compact);
  t.ok(verifyBundle(buildBundle(compacts, set, mesh.keys)).ok, 'record and follow-up verify offline');
  t.ok(first);
  await until(() => !down.node.core.fenced(d), 5000, 'fence released');
  t.pass('fence released once the outcome arrived');
});

t.test('held member declined by the operator', async (t) => {
  const mesh = await startNodes(['up', 'down'], { policy: { down: { executions: { 'd-decline': 'held' } } } });
  t.teardown(() => mesh.stop());
  const { up, down } = mesh.nodes as Record<'up' | 'down', TestNode>;
  up.client.onDirective(honest);
  const { u, d } = await chain(up, down, 'decline');
  const { set } = await up.client.failure(u, { checkpoint: `${u}-c1`, seq: 1, class: 'execution_error' });
  await until(() => down.node.core.member(set, d)?.state === 'held', 5000, 'held');
  await down.operator.call('POST', '/operator/v1/decisions', { set, execution: d, decision: 'decline' });
  const ps = await records(up, set.id, 2);
  const last = ps.at(-1)!;
  t.match(entry(last, 'down'), { status: 'declined', ack: { policy: { mode: 'held', decision: 'declined', decided_by: /^operator@/ } } });
  t.equal(last['outcome'], 'partial');
  // The core releases a declined member's fence when the outcome arrives (or its lease ends),
  // not at the decision itself as draft Section "Held Members" reads.
  await until(() => !down.node.core.fenced(d), 5000, 'fence released');
  t.pass('a declined member releases its fence');
});

t.test('an agent restoring state whose digest differs from the checkpoint\'s: digest_mismatch, member failed', async (t) => {
  const mesh = await startNodes(['up', 'down']);
  t.teardown(() => mesh.stop());
  const { up, down } = mesh.nodes as Record<'up' | 'down', TestNode>;
  up.client.onDirective(honest);
  const { u, d } = await chain(up, down, 'digest');
  const { set } = await up.client.failure(u, { checkpoint: `${u}-c1`, seq: 1, class: 'execution_error' });
  const dir = await until(() => down.node.directives.since(0)[0] as unknown as Directive | undefined, 5000, 'directive');
  const wrong = DIGEST('something else');
  const err = await down.client.result(set, d, { status: 'restored', restored: { checkpoint: dir.target.checkpoint, digest: wrong } }).catch((e) => e);
  t.type(err, AgentApiError);
  t.match(err, { status: 409, code: 'digest_mismatch' }, 'the agent is told');
  const again = await down.client.result(set, d, { status: 'restored', restored: { checkpoint: dir.target.checkpoint, digest: wrong } }).catch((e) => e);
  t.match(again, { code: 'digest_mismatch' }, 'a repeated result gets the same answer');
  const [rec] = await records(up, set.id);
  t.equal(rec!['outcome'], 'failed');
  t.match(entry(rec!, 'down'), { status: 'failed', ack: { status: 'failed', reason: 'digest_mismatch' } }, 'recorded as failed with reason digest_mismatch');
  t.notOk(entry(rec!, 'down').ack!['restored'], 'a failed member claims no restored state');
});

// covers: req-record-when
t.test('the agent face shows a record only once it is in the log', async (t) => {
  const mesh = await startNodes(['up', 'down']);
  t.teardown(() => mesh.stop());
  const { up, down } = mesh.nodes as Record<'up' | 'down', TestNode>;
  // Probe the agent face at every durable input step, when a new record may exist in the core but not yet on disk.
  const probes: Promise<{ core: string[]; shown: string[] }>[] = [];
  await up.node.stop();
  up.node = await RollbackNode.start(parseConfig(up.raw, mesh.dir), {
    logger: silent,
    crashPoint: (name) => {
      if (name !== 'logged') return;
      const core = up.node.core.records().map((r) => r.compact);
      probes.push(up.node.agentApp.inject({ method: 'GET', url: '/agent/v1/records', headers: { authorization: `Bearer ${up.token}` } })
        .then((res) => ({ core, shown: (res.json() as { compact: string }[]).map((r) => r.compact) })));
    },
  });
  up.client.onDirective(honest);
  down.client.onDirective(honest);
  const { u } = await chain(up, down, 'durable');
  const { set } = await up.client.failure(u, { checkpoint: `${u}-c1`, seq: 1, class: 'execution_error' });
  const [rec] = await records(up, set.id);
  const seen = await Promise.all(probes);
  // The input that completes the set is logged before the record made from it is: that probe sees it in the core only.
  t.ok(seen.some((p) => p.core.length > 0 && p.shown.length === 0), 'the record, made but not yet logged, was not shown');
  for (const p of seen) for (const c of p.shown) t.ok(p.core.includes(c), 'nothing shown that the core does not hold');
  t.equal(rec!['outcome'], 'complete');
});

t.test('an agent that disconnects and reconnects misses no directive and handles none twice', async (t) => {
  const mesh = await startNodes(['solo']);
  t.teardown(() => mesh.stop());
  const solo = mesh.nodes['solo']!;
  const seen: string[] = [];
  const handler = async (d: Directive) => { seen.push(`${d.seq}:${d.execution}`); return honest(d); };
  const setup = async (x: string) => {
    await solo.client.execution(x);
    await solo.client.checkpoint(x, { checkpoint: `${x}-c1`, seq: 1, digest: DIGEST(x), reversibility: 'reversible' });
    return (await solo.client.failure(x, { checkpoint: `${x}-c1`, seq: 1, class: 'execution_error' })).set;
  };
  const a = new AgentClient({ url: solo.node.agentUrl, token: solo.token });
  a.onDirective(handler);
  const s1 = await setup('x1');
  await records(solo, s1.id);
  a.close(); // the agent goes away
  const s2 = await setup('x2'); // a directive while nobody listens
  await new Promise((r) => setTimeout(r, 100));
  t.same(seen, ['1:x1'], 'only the first so far');

  const b = new AgentClient({ url: solo.node.agentUrl, token: solo.token });
  t.teardown(() => b.close());
  b.onDirective(handler, { after: a.after, reconnectMs: 50 });
  await records(solo, s2.id);
  t.same(seen, ['1:x1', '2:x2'], 'the missed directive, once');

  // The node restarts under the connected agent: the link drops, the agent reconnects.
  await solo.restart();
  const s3 = await setup('x3');
  await records(solo, s3.id);
  t.same(seen, ['1:x1', '2:x2', '3:x3'], 'sequence numbers survive the restart; nothing repeated, nothing missed');
});

t.test('a lost replay watermark degrades the security state until an operator clears it', async (t) => {
  // No skew allowance, so that the restarted node's floor (start + skew) admits envelopes at once.
  const mesh = await startNodes(['up', 'down'], { limits: { skew_seconds: 0 } });
  t.teardown(() => mesh.stop());
  const { up, down } = mesh.nodes as Record<'up' | 'down', TestNode>;
  const { u } = await chain(up, down, 'degraded');
  rmSync(join(up.config.dataDir, 'watermark'));
  await up.restart();
  t.equal(up.node.core.degraded, true, 'degraded after restart without the watermark');
  t.ok(up.lines.some((l) => String(l['msg']).includes('watermark lost')), 'logged');
  t.ok(existsSync(join(up.config.dataDir, 'watermark')), 'the floor is saved again');

  // Failure signals from peers are refused with security_degraded.
  const signer = loadSigner('down', down.config.keys.private);
  const env = sealEnvelope(signer, 'failure', 'up', { execution: u, checkpoint: { checkpoint: `${u}-c1`, seq: 1 }, class: 'eval_failure' });
  const res = await request(`${up.node.peerUrl}/rollback/v1/envelope`, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: env.compact });
  t.match(await res.body.json(), { code: 'security_degraded' });
  t.equal(res.statusCode, 503);

  // A local failure does not roll back automatically: the set waits for an operator.
  const { set } = await up.client.failure(u, { checkpoint: `${u}-c1`, seq: 1, class: 'execution_error' });
  t.match(up.node.core.rollbackSet(set), { state: 'proposed' });

  // Still degraded after another restart (the state is in the log), until the operator clears it.
  await up.restart();
  t.equal(up.node.core.degraded, true);
  t.match(await up.client.call('POST', '/operator/v1/security', { state: 'normal' }).catch((e) => e), { status: 403 }, 'not with the agent token');
  await up.operator.call('POST', '/operator/v1/security', { state: 'normal' });
  t.equal(up.node.core.degraded, false);
  await up.restart();
  t.equal(up.node.core.degraded, false, 'cleared for good: the watermark was saved');
});

t.test('a tampered or truncated log is refused at start; a torn last entry is dropped', async (t) => {
  const mesh = await startNodes(['solo'], { dir: mkdtempSync(join(tmpdir(), 'marp-node-')) });
  const solo = mesh.nodes['solo']!;
  for (let i = 1; i <= 3; i++) {
    await solo.client.execution(`e${i}`);
    await solo.client.checkpoint(`e${i}`, { checkpoint: `e${i}-c1`, seq: 1, digest: DIGEST(`e${i}`), reversibility: 'reversible' });
  }
  await mesh.stop();
  const file = join(solo.config.dataDir, 'log');
  const good = readFileSync(file);
  const start = () => RollbackNode.start(parseConfig(solo.raw, mesh.dir), { logger: silent });
  t.teardown(() => rmSync(mesh.dir, { recursive: true, force: true }));

  // Tampered: one byte of an entry's JSON changed.
  const at = good.indexOf(Buffer.from('"e2-c1"'));
  const bad = Buffer.from(good);
  bad[at + 2] = 'X'.charCodeAt(0);
  writeFileSync(file, bad);
  await t.rejects(start(), { name: 'StoreError', code: 'log_corrupt', message: /hash mismatch/ }, 'tampered log refused');

  // Truncated inside the header.
  writeFileSync(file, good.subarray(0, 10));
  await t.rejects(start(), { name: 'StoreError', code: 'log_corrupt', message: /too short/ }, 'truncated log refused');

  // Torn last entry (an append that never completed, so never acknowledged): dropped, the rest kept.
  writeFileSync(file, good.subarray(0, good.length - 5));
  const n = await start();
  t.ok(n.core.execution('e2'), 'entries before the torn one are kept');
  t.ok(statSync(file).size < good.length);
  await n.stop();
});

t.test('stop() does not wait for retransmission backoff to an unreachable peer', async (t) => {
  const mesh = await startNodes(['a', 'b']);
  t.teardown(() => mesh.stop());
  const { a, b } = mesh.nodes as Record<'a' | 'b', TestNode>;
  await b.node.stop(); // the peer is gone
  await a.client.execution('x');
  await a.client.checkpoint('x', { checkpoint: 'x-c1', seq: 1, digest: DIGEST('x'), reversibility: 'reversible' });
  await b.client.execution('y').catch(() => undefined);
  const pending = a.client.consumed('x', { agent: 'b', execution: 'y', checkpoint: 'y-c1', seq: 1 });
  await new Promise((r) => setTimeout(r, 700)); // a few retransmissions in backoff
  const t0 = Date.now();
  await a.node.stop();
  t.ok(Date.now() - t0 < 1000, `stopped in ${Date.now() - t0} ms`);
  t.same(await pending.catch(() => ({ registered: false })), { registered: false }, 'the waiting agent is answered');
  b.node = await RollbackNode.start(b.config, { logger: silent }); // for teardown
  a.node = await RollbackNode.start(a.config, { logger: silent });
  t.equal(a.node.core.execution('x')?.id, 'x', 'the consumption was durable before the stop');
});

