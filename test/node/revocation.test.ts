/**
 * A revocation takes effect on a running node without losing state (draft
 * req-ops-revocation): reloadTrust (what SIGHUP runs) with a revocation makes
 * the key unusable for envelopes from then on; the log and the core are kept.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSigner, sealEnvelope, type PrivateJwk } from '../../src/envelope/index.js';
import { ProtocolError } from '../../src/errors.js';
import { startNodes, type TestNode } from './fixtures/nodes.js';

const code = async (p: Promise<unknown>): Promise<string> => {
  try { await p; return 'ok'; } catch (e) { return e instanceof ProtocolError ? e.code : String(e); }
};

// covers: req-ops-revocation req-key-validity
t.test('a revocation configured on a running node refuses the key from then on', async (t) => {
  const mesh = await startNodes(['up', 'down']);
  t.teardown(() => mesh.stop());
  const { up } = mesh.nodes as Record<'up' | 'down', TestNode>;
  const priv = JSON.parse(readFileSync(join(mesh.dir, 'down.private.jwk'), 'utf8')) as PrivateJwk;
  const signer = createSigner('down', priv);
  const env = () => sealEnvelope(signer, 'failure', 'up', { execution: 'nope', checkpoint: { checkpoint: 'c', seq: 1 }, class: 'eval_failure' }).compact;
  t.equal(await code(up.node.receive(env(), 'test')), 'unknown_execution', 'before: the key verifies (the core refuses the content)');
  const records = up.node.core.records().length;
  up.node.reloadTrust(up.config.peers, [{ kid: priv.kid, at: Math.floor(Date.now() / 1000) - 5 }]);
  const e = await up.node.receive(env(), 'test').catch((err: unknown) => err as ProtocolError);
  t.match(e, { code: 'kid_unknown', message: /revoked/ }, 'after the reload: refused');
  t.equal(up.config.revoked?.[0]?.kid, priv.kid, 'kept in the config for the next reload');
  t.equal(up.node.core.records().length, records, 'state kept');
  up.node.reloadTrust(up.config.peers, []);
  t.equal(await code(up.node.receive(env(), 'test')), 'unknown_execution', 'lifting it restores the key');
});
