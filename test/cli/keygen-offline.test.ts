/** `marp keygen` in process, and the offline statement verifier's refusals. */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keygenCommand } from '../../src/cli/keygen.js';
import { statementVerifier, decodePayload } from '../../src/cli/offline.js';
import { createSigner, sealStatement, type PrivateJwk } from '../../src/envelope/index.js';

function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  return fn().finally(() => { process.stdout.write = write; });
}

t.test('keygen writes a private JWK and a public JWKS, ES256 or Ed25519; bad options name the option', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'marp-keygen-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal(await quiet(() => keygenCommand.run(['--id', 'alice', '--out', dir])), 0);
  const priv = JSON.parse(readFileSync(join(dir, 'alice.private.jwk'), 'utf8')) as PrivateJwk;
  t.equal(priv.alg, 'ES256');
  t.notOk('d' in JSON.parse(readFileSync(join(dir, 'alice.jwks.json'), 'utf8')).keys[0], 'no private part in the JWKS');
  t.equal(await quiet(() => keygenCommand.run(['--id', 'bob', '--out', dir, '--alg', 'Ed25519', '--kid', 'bob-1'])), 0);
  t.equal(JSON.parse(readFileSync(join(dir, 'bob.private.jwk'), 'utf8')).kid, 'bob-1');
  await t.rejects(keygenCommand.run(['--out', dir]), /--id/);
  await t.rejects(keygenCommand.run(['--id', 'x', '--alg', 'EdDSA', '--out', dir]), /--alg/);
  await t.rejects(quiet(() => keygenCommand.run(['--id', 'alice', '--out', dir])), /EEXIST/, 'never overwrites without --force');
  t.equal(await quiet(() => keygenCommand.run(['--id', 'alice', '--out', dir, '--force'])), 0);
});

t.test('offline verification refuses unknown keys, alg mismatch, bad signatures and a foreign iss', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'marp-offline-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await quiet(() => keygenCommand.run(['--id', 'alice', '--out', dir]));
  await quiet(() => keygenCommand.run(['--id', 'bob', '--out', dir, '--alg', 'Ed25519']));
  const jwks = (n: string) => JSON.parse(readFileSync(join(dir, `${n}.jwks.json`), 'utf8'));
  const alice = createSigner('alice', JSON.parse(readFileSync(join(dir, 'alice.private.jwk'), 'utf8')));
  const bob = createSigner('bob', JSON.parse(readFileSync(join(dir, 'bob.private.jwk'), 'utf8')));
  const verify = statementVerifier({ alice: jwks('alice'), bob: jwks('bob') });
  const set = { initiator: 'alice', id: 's1' };
  const good = sealStatement(alice, 'cancellation', { set }, { iat: 1 });
  t.match(verify(good), { iss: 'alice', set });
  t.same(decodePayload(good)['set'], set);
  t.throws(() => verify('a.b'), /not a compact JWS/);
  const [h, p, sig] = good.split('.');
  const header = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  t.throws(() => verify(`${header({ alg: 'ES256', typ: 'rollback-cancellation+jwt', kid: 'nope' })}.${p}.${sig}`), /unknown kid/);
  t.throws(() => verify(`${header({ alg: 'Ed25519', typ: 'rollback-cancellation+jwt', kid: alice.kid })}.${p}.${sig}`), /alg Ed25519 differs/);
  t.throws(() => verify(`${h}.${p}.${Buffer.alloc(64).toString('base64url')}`), /does not verify/);
  const lying = sealStatement({ ...bob, iss: 'alice', sign: bob.sign }, 'cancellation', { set }, { iat: 1 });
  t.throws(() => verify(lying), /not the key owner/);
});
