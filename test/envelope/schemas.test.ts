import t from 'tap';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProtocolError } from '../../src/errors.js';
import { Schemas, defaultSchemas, defaultSchemaDir, Intake, ReplayCache, sealEnvelope } from '../../src/envelope/index.js';
import { depBody, world, schemas } from './helpers.js';

const code = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return (e as ProtocolError).code;
  }
};

t.test('loader', async (t) => {
  t.equal(defaultSchemas(), defaultSchemas(), 'compiled once per process');
  t.match(defaultSchemaDir(), /schemas$/);
  const dir = mkdtempSync(join(tmpdir(), 'marp-schemas-'));
  copyFileSync(join(defaultSchemaDir(), 'common.schema.json'), join(dir, 'common.schema.json'));
  t.throws(() => new Schemas(dir), /ENOENT/, 'every kind needs its schema');
  writeFileSync(join(dir, 'dependency.schema.json'), '{"$id":"urn:marp:schema:dependency","type":"object","bogus":1}');
  t.throws(() => new Schemas(dir), 'strict mode refuses unknown keywords');
});

// covers: req-cddl-conform req-closed-objects
t.test('validation', async (t) => {
  const base = { v: 1, iss: 'alice', aud: 'bob', iat: 1, jti: 'abcdefghijklmnop' };
  t.equal(code(() => schemas.validate('dependency', { ...base, ...depBody })), 'ok');
  t.equal(code(() => schemas.validate('dependency', { ...base, ...depBody, x: 1 })), 'schema_invalid');
  const cause = { agent: 'a', execution: 'e', class: 'eval_failure', at: 1 };
  const req = { ...base, set: { initiator: 'a', id: 's' }, member: 'm', producer: { execution: 'p', checkpoint: 'k', seq: 1 }, hops: 1, budget: 1000 };
  t.equal(code(() => schemas.validate('request', { ...req, cause })), 'ok');
  t.equal(code(() => schemas.validate('request', { ...req, cause: { ...cause, detail: '€'.repeat(400) } })), 'schema_invalid', 'detail counted in octets');
  t.equal(code(() => schemas.validate('request', { ...req, cause: { ...cause, detail: 'x'.repeat(1024) } })), 'ok');
  const ack = { v: 1, iss: 'c', iat: 1, set: { initiator: 'a', id: 's' }, member: 'm', parent: { agent: 'b', execution: 'p' },
    status: 'failed', target: { checkpoint: 'k', seq: 1 } };
  t.equal(code(() => schemas.validate('ack', { ...ack, reason: 'digest_mismatch', policy: { mode: 'held', decided_by: 'op' } })), 'ok');
  t.equal(code(() => schemas.validate('ack', { ...ack, reason: 'é'.repeat(33) })), 'schema_invalid', 'reason: 64 octets');
  t.equal(code(() => schemas.validate('ack', { ...ack, policy: { mode: 'held', decided_by: 'é'.repeat(128) } })), 'schema_invalid', 'decided_by: 255 octets');
  t.equal(code(() => schemas.validate('ack', { ...ack, detail: '😀'.repeat(257) })), 'schema_invalid', 'ack detail');
});

t.test('intake defaults', async (t) => {
  const w = world();
  const intake = new Intake({ self: 'bob', trust: w.trust, schemas, replay: new ReplayCache() });
  t.equal(intake.maxBytes, 65536);
  t.equal(intake.windowSeconds, 300);
  t.equal(intake.skewSeconds, 30);
  t.ok(await intake.accept(sealEnvelope(w.alice.signer, 'dependency', 'bob', depBody).compact), 'real clock');
});

// The detail of schema_invalid tells a peer's operator which member broke which rule.
t.test('schema_invalid names the kind, the member and the rule', async (t) => {
  const message = (kind: Parameters<typeof schemas.validate>[0], p: unknown): string => {
    try {
      schemas.validate(kind, p);
      return 'ok';
    } catch (e) {
      return (e as ProtocolError).message;
    }
  };
  const base = { v: 1, iss: 'alice', aud: 'bob', iat: 1, jti: 'abcdefghijklmnop' };
  const cause = { agent: 'a', execution: 'e', class: 'eval_failure', at: 1 };
  const req = { ...base, set: { initiator: 'a', id: 's' }, member: 'm', producer: { execution: 'p', checkpoint: 'k', seq: 1 }, hops: 1, budget: 1000, cause };
  const ack = { v: 1, iss: 'c', iat: 1, set: { initiator: 'a', id: 's' }, member: 'm', parent: { agent: 'b', execution: 'p' },
    status: 'failed', target: { checkpoint: 'k', seq: 1 } };
  t.equal(message('dependency', { ...base, ...depBody, x: 1 }), 'dependency: must NOT have additional properties');
  t.equal(message('request', { ...req, cause: { ...cause, at: 'x' } }), 'request/cause/at: must be integer');
  t.equal(message('request', { ...req, cause: { ...cause, detail: '€'.repeat(400) } }), 'request: cause.detail longer than 1024 octets');
  t.equal(message('ack', { ...ack, detail: 'é'.repeat(513) }), 'ack: detail longer than 1024 octets');
  t.equal(message('ack', { ...ack, reason: 'é'.repeat(33) }), 'ack: reason longer than 64 octets');
  t.equal(message('ack', { ...ack, policy: { mode: 'held', decided_by: 'é'.repeat(128) } }), 'ack: policy.decided_by longer than 255 octets');
  t.equal(message('ack', { ...ack, detail: 'é'.repeat(512) }), 'ok', '1,024 octets exactly');
});
