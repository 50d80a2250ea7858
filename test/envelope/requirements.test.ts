// Envelope tests for requirements no other test checks directly (traceability:
// scripts/requirements.ts).
import t from 'tap';
import { Intake, ReplayCache, TrustStore, sealEnvelope, sealStatement } from '../../src/envelope/index.js';
import { NOW, ackBody, depBody, makeKey, schemas, set, world } from './helpers.js';

const code = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: { code?: string }) => e.code ?? 'thrown');

// covers: req-statements-flat
t.test('statements are flat: an acknowledgement cannot carry other acknowledgements', async (t) => {
  const w = world();
  const inner = sealStatement(w.dave.signer, 'ack', { ...ackBody('d1'), parent: { agent: 'carol', execution: 'c1' } }, { iat: NOW });
  const nested = sealStatement(w.carol.signer, 'ack', { ...ackBody('c1'), acks: [inner] } as object, { iat: NOW });
  const rep = sealEnvelope(w.carol.signer, 'report', 'bob', { set, member: 'c1', acks: [nested] }, { iat: NOW });
  const err = await w.intake.accept(rep.compact).catch((e: Error & { code: string }) => e);
  t.match(err, { code: 'statement_invalid', message: /acks\[0\]: schema_invalid/ });
  const asString = sealEnvelope(w.carol.signer, 'report', 'bob', { set, member: 'c1', acks: [[inner]] as never }, { iat: NOW });
  t.equal(await code(w.intake.accept(asString.compact)), 'schema_invalid', 'a statement is a string, not a nested list');
  const flat = sealEnvelope(w.carol.signer, 'report', 'bob', { set, member: 'c1', acks: [sealStatement(w.carol.signer, 'ack', ackBody('c1'), { iat: NOW }), inner] }, { iat: NOW });
  t.equal(await code(w.intake.accept(flat.compact)), 'ok', 'the same acks side by side are fine');
});

// covers: req-failure-class-unknown
t.test('a failure class not in the registry is schema_invalid', async (t) => {
  const w = world();
  const body = (cls: string) => ({ execution: 'p1', checkpoint: { checkpoint: 'j1', seq: 2 }, class: cls });
  t.equal(await code(w.intake.accept(sealEnvelope(w.alice.signer, 'failure', 'bob', body('eval_failure'), { iat: NOW }).compact)), 'ok');
  for (const cls of ['bogus', 'EVAL_FAILURE', 'eval_failure ', '']) {
    t.equal(await code(w.intake.accept(sealEnvelope(w.alice.signer, 'failure', 'bob', body(cls), { iat: NOW }).compact)), 'schema_invalid', JSON.stringify(cls));
  }
  const cause = { agent: 'alice', execution: 'p1', class: 'made_up', at: 1 };
  const req = { set, cause, member: 'c1', producer: { execution: 'p1', checkpoint: 'j1', seq: 2 }, hops: 1, budget: 1000 };
  t.equal(await code(w.intake.accept(sealEnvelope(w.alice.signer, 'request', 'bob', req, { iat: NOW }).compact)), 'schema_invalid', 'in a cause too');
});

// covers: req-hops-default
t.test('hops never exceed 64 on the wire', async (t) => {
  const w = world();
  const req = (hops: number) => sealEnvelope(w.alice.signer, 'request', 'bob', {
    set, cause: { agent: 'alice', execution: 'p1', class: 'eval_failure', at: 1 }, member: 'c1',
    producer: { execution: 'p1', checkpoint: 'j1', seq: 2 }, hops, budget: 1000,
  }, { iat: NOW }).compact;
  t.equal(await code(w.intake.accept(req(64))), 'ok');
  t.equal(await code(w.intake.accept(req(65))), 'schema_invalid');
  t.equal(await code(w.intake.accept(req(-1))), 'schema_invalid');
});

// covers: req-sec-key-rotation req-statement-retired-keys
t.test('retired keys verify old statements; revoked (removed) keys verify nothing', async (t) => {
  const alice = makeKey('alice');
  const old = makeKey('alice');
  const carol = makeKey('carol', 'Ed25519');
  const stmt = sealStatement(old.signer, 'cancellation', { set }, { iat: 1 });
  const store = (oldKey: 'retired' | 'revoked') => new TrustStore({ peers: [
    { id: 'alice', jwks: { keys: oldKey === 'retired' ? [alice.pub, old.pub] : [alice.pub] }, retired: oldKey === 'retired' ? [old.priv.kid] : [] },
    { id: 'carol', jwks: { keys: [carol.pub] } },
  ] });
  const intake = (s: TrustStore) => new Intake({ self: 'bob', trust: s, schemas, replay: new ReplayCache(), clock: () => NOW * 1000 });
  const retired = intake(store('retired'));
  const revoked = intake(store('revoked'));
  t.equal((await retired.verifyStatement(stmt, 'cancellation')).iss, 'alice', 'retired: the statement still verifies');
  t.equal(await code(revoked.verifyStatement(stmt, 'cancellation')), 'statement_invalid', 'revoked: it does not');
  const cancel = (i: Intake) => i.accept(sealEnvelope(carol.signer, 'cancel', 'bob', { set, member: 'm', authority: stmt }, { iat: NOW }).compact);
  t.equal(await code(cancel(retired)), 'ok', 'relayed cancel carrying an old statement');
  t.equal(await code(cancel(revoked)), 'statement_invalid');
  t.equal(await code(retired.accept(sealEnvelope(old.signer, 'dependency', 'bob', depBody, { iat: NOW }).compact)), 'kid_unknown', 'a retired key signs no new envelope');
});
