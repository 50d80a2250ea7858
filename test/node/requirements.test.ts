// Node-level tests for requirements no other test checks directly
// (traceability: scripts/requirements.ts).
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/node/config.js';
import { FileAgent, digestOf } from '../../src/demo/file-agent.js';
import { Simulator } from '../../src/core/index.js';
import type { AgentClient } from '../../src/client/index.js';

const minimal = (over: object = {}) => ({
  id: 'bob', data_dir: 'data', peer_face: { port: 7001 }, agent_face: { port: 7101, token_file: 'agent.token' },
  keys: { private: 'keys/bob.jwk' }, ...over,
});
const refuses = (raw: object): boolean => { try { parseConfig(raw, '/base'); return false; } catch { return true; } };

// covers: req-hops-default
t.test('the maximum hop count cannot be configured above 64', async (t) => {
  t.notOk(refuses(minimal({ limits: { max_hops: 64 } })));
  t.ok(refuses(minimal({ limits: { max_hops: 65 } })));
  t.ok(parseConfig(minimal(), '/base').limits.maxHops <= 64, 'default within the bound');
});

// covers: req-tls
t.test('plain-text peer links are allowed on loopback only', async (t) => {
  t.notOk(refuses(minimal({ peers: [{ id: 'alice', url: 'http://127.0.0.1:7002', jwks: 'a' }] })), 'loopback http');
  t.notOk(refuses(minimal({ peers: [{ id: 'alice', url: 'https://alice.example', jwks: 'a' }] })), 'https');
  t.ok(refuses(minimal({ peers: [{ id: 'alice', url: 'http://192.0.2.10:7002', jwks: 'a' }] })), 'http to another host refused');
  t.ok(refuses(minimal({ peers: [{ id: 'alice', url: 'ws://alice.example', jwks: 'a' }] })), 'ws to another host refused');
  t.ok(refuses(minimal({ peer_face: { host: '0.0.0.0', port: 7001 } })), 'a non-loopback peer face without TLS refused');
});

// covers: req-digest-integrity req-sec-downgrade
t.test('a restore point altered in storage is detected: the member fails with digest_mismatch, never rolled_back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'marp-digest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const declared: { execution: string; cp: { checkpoint: string; seq: number; digest: string } }[] = [];
  const client = { checkpoint: async (execution: string, cp: never) => { declared.push({ execution, cp }); } } as unknown as AgentClient;
  const agent = new FileAgent('B', dir, client);
  agent.write({ row: 1 });
  await agent.checkpoint('b');
  agent.write({ row: 2 });
  const sim = new Simulator({ seed: 3, behaviour: () => 'silent' });
  sim.input('A', { type: 'execution', execution: 'a' });
  sim.input('A', { type: 'checkpoint', execution: 'a', checkpoint: 'a-k1', seq: 1, digest: digestOf(Buffer.from('a')), reversibility: 'reversible' });
  sim.input('B', { type: 'execution', execution: 'b' });
  const d = declared[0]!.cp;
  sim.input('B', { type: 'checkpoint', execution: 'b', checkpoint: d.checkpoint, seq: d.seq, digest: d.digest, reversibility: 'reversible' });
  sim.input('B', { type: 'consumed', execution: 'b', producer: { agent: 'A', execution: 'a', checkpoint: 'a-k1', seq: 1 } });
  sim.run();
  // The stored copy is tampered with: an attacker chooses what the agent runs after the rollback.
  const copy = join(dir, 'checkpoints', `${d.checkpoint}.jsonl`);
  writeFileSync(copy, readFileSync(copy, 'utf8') + '{"row":"evil"}\n');
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 's1' });
  sim.run({ until: sim.now + 50 });
  const directive = sim.nodes.get('B')!.directives[0]!;
  const result = await agent.restore({ ...directive, seq: 1 } as never);
  t.not(result.restored!.digest, d.digest, 'the restored state is not the checkpoint');
  const fx = sim.input('B', { type: 'result', set: { initiator: 'A', id: 's1' }, execution: 'b', status: 'restored', restored: result.restored! });
  t.match(fx.filter((e) => e.type === 'reply'), [{ code: 'digest_mismatch' }]);
  t.match(sim.nodes.get('B')!.core.member({ initiator: 'A', id: 's1' }, 'b'), { status: 'failed', reason: 'digest_mismatch' });
});

// covers: req-error-codes req-receipt-final
t.test('a sender treats an unknown error code as "drop" once signed: no retransmission; unsigned, it retries', async (t) => {
  const { createServer } = await import('node:http');
  const { httpLink } = await import('../../src/node/peer-link.js');
  const { Outbox } = await import('../../src/node/outbox.js');
  const { newJti, sealReceipt } = await import('../../src/envelope/index.js');
  const { world } = await import('../envelope/helpers.js');
  const w = world();
  let hits = 0;
  let signed = true;
  const server = createServer((req, res) => {
    let jti = '';
    req.on('data', (c: Buffer) => { jti += String(c); });
    req.on('end', () => {
      hits++;
      const receipt = signed ? { receipt: sealReceipt(w.alice.signer, 'bob', jti, { status: 'refused', code: 'from_the_future' }) } : {};
      res.writeHead(400, { 'content-type': 'application/problem+json' })
        .end(JSON.stringify({ type: 'urn:ietf:params:rollback:error:from_the_future', title: 't', status: 400, code: 'from_the_future', ...receipt }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const link = httpLink(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  const run = async (): Promise<string> => {
    hits = 0;
    let abandoned = '';
    const outbox = new Outbox({
      sign: async () => { const jti = newJti(); return { compact: jti, jti }; },
      link: () => link,
      now: Date.now,
      confirm: (o, jti, r) => w.intake.verifyReceipt(r, { from: o.to, jti }),
      delivered: () => {},
      abandoned: (_o, code) => { abandoned = code; },
    });
    outbox.send({ to: 'alice', kind: 'request', body: {}, key: 'k', until: Date.now() + 3000 });
    await new Promise((r) => setTimeout(r, 1500));
    outbox.close();
    return abandoned;
  };
  t.equal(await run(), 'unknown_code', 'signed: abandoned at once');
  t.equal(hits, 1, 'sent once, not retried');
  signed = false;
  t.equal(await run(), '', 'unsigned: not abandoned');
  t.ok(hits > 1, `unsigned: retried (${hits} attempts)`);
});

// covers: req-hops-default req-hop-margin req-envelope-fresh
t.test('defaults recommended by the draft', async (t) => {
  const { defaultLimits } = await import('../../src/node/config.js');
  t.equal(defaultLimits.replayWindowSeconds, 300, 'freshness window 300 s');
  t.equal(defaultLimits.skewSeconds, 30, 'skew 30 s');
  t.equal(defaultLimits.leaseGraceMs, 60_000, 'lease grace 60 s');
  t.equal(defaultLimits.maxEnvelopeBytes, 65_536, 'size limit 64 KiB');
  t.equal(defaultLimits.maxHops, 8, 'max hops 8');
  t.equal(defaultLimits.fanoutLimit, 64, 'fan-out limit 64');
  t.equal(defaultLimits.hopMarginMs, 2000, 'hop margin 2000 ms');
});
