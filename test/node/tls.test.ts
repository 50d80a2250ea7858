/**
 * Transport security (draft "Transport Security", req-tls): peers talk TLS
 * 1.3 (HTTP and WebSocket links), verified against the configured CA; a
 * TLS 1.2 client is refused; plain text is configurable on loopback only.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { keygen } from '../../src/envelope/index.js';
import { parseConfig } from '../../src/node/config.js';
import { RollbackNode } from '../../src/node/node.js';
import { AgentClient } from '../../src/client/index.js';
import { freePort } from '../../src/demo/run.js';

function pki(dir: string): void {
  const ssl = (...args: string[]): void => { execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' }); };
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=test CA');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'node.key', '-out', 'node.csr', '-subj', '/CN=127.0.0.1');
  writeFileSync(join(dir, 'san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'node.pem', '-extfile', 'san.cnf');
}

for (const transport of ['http', 'ws'] as const) {
  // covers: req-tls
  t.test(`a dependency registers over TLS 1.3 (${transport})`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'marp-tls-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    pki(dir);
    const names = ['a', 'b'];
    const ports = { a: await freePort(), b: await freePort() } as Record<string, number>;
    const nodes: Record<string, RollbackNode> = {};
    for (const n of names) {
      await keygen({ privatePath: join(dir, `${n}.private.jwk`), publicPath: join(dir, `${n}.jwks.json`) });
      writeFileSync(join(dir, `${n}.token`), randomBytes(24).toString('base64url'));
    }
    for (const n of names) {
      const config = parseConfig({
        id: n, data_dir: `./${n}-data`, tls_ca: './ca.pem',
        peer_face: { host: '127.0.0.1', port: ports[n], tls: { cert: './node.pem', key: './node.key' } },
        agent_face: { host: '127.0.0.1', port: await freePort(), token_file: `./${n}.token` },
        keys: { private: `./${n}.private.jwk` },
        peers: names.filter((p) => p !== n).map((p) => ({ id: p, url: `https://127.0.0.1:${ports[p]}`, transport, jwks: `./${p}.jwks.json` })),
      }, dir);
      writeFileSync(config.operator.tokenFile, randomBytes(24).toString('base64url'));
      nodes[n] = await RollbackNode.start(config, { logger: pino({ level: 'silent' }) });
    }
    t.teardown(async () => { for (const n of names) await nodes[n]!.stop(); });
    t.match(nodes['a']!.peerUrl, /^https:/);
    const token = (n: string): string => String(execFileSync('cat', [join(dir, `${n}.token`)]));
    const a = new AgentClient({ url: nodes['a']!.agentUrl, token: token('a') });
    const b = new AgentClient({ url: nodes['b']!.agentUrl, token: token('b') });
    await a.execution('x');
    await a.checkpoint('x', { checkpoint: 'x1', seq: 1, digest: `sha-256:${'1'.repeat(64)}`, reversibility: 'reversible' });
    await b.execution('y');
    await b.checkpoint('y', { checkpoint: 'y1', seq: 1, digest: `sha-256:${'2'.repeat(64)}`, reversibility: 'reversible' });
    t.same(await b.consumed('y', { agent: 'a', execution: 'x', checkpoint: 'x1', seq: 1 }), { registered: true }, 'durable at the producer, over TLS');

    // A client offering at most TLS 1.2 gets no connection.
    const err = await new Promise<Error | undefined>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: ports['a']!, maxVersion: 'TLSv1.2', rejectUnauthorized: false });
      s.once('secureConnect', () => { s.destroy(); resolve(undefined); });
      s.once('error', resolve);
    });
    t.ok(err, 'TLS 1.2 refused');
  });
}

// covers: req-tls
t.test('plain text only on loopback', async (t) => {
  const base = { id: 'n', data_dir: 'd', agent_face: { port: 1, token_file: 't' }, keys: { private: 'k' } };
  t.throws(() => parseConfig({ ...base, peer_face: { host: '0.0.0.0', port: 1 } }, '/'), { field: 'peer_face.tls' } as object as Error);
  t.throws(() => parseConfig({ ...base, peer_face: { port: 1 }, peers: [{ id: 'p', url: 'ws://peer.example:7001', jwks: 'j' }] }, '/'), { field: 'peers.0.url' } as object as Error);
  t.ok(parseConfig({ ...base, peer_face: { host: '::1', port: 1 }, peers: [{ id: 'p', url: 'http://localhost:7001', jwks: 'j' }] }, '/'));
  t.ok(parseConfig({ ...base, peer_face: { host: '0.0.0.0', port: 1, tls: { cert: 'c', key: 'k' } }, peers: [{ id: 'p', url: 'https://peer.example', jwks: 'j' }] }, '/'));
});
