// (d) Every schema compiles under Ajv 2020 strict mode (with ajv-formats),
// and the conditional rules the draft lists are enforced.
import t from 'tap';
import { readdirSync } from 'node:fs';
import { KINDS, loadSchemas, schemaDir } from './draft-helpers.js';
import { strictAjv } from './ajv.js';

t.test('all schema files compile under strict mode', async (t) => {
  const ajv = strictAjv();
  const files = readdirSync(schemaDir).filter((n) => n.endsWith('.schema.json')).sort();
  t.same(files, ['common', ...KINDS].map((k) => `${k}.schema.json`).sort(), 'exactly one file per kind plus common');
  for (const k of KINDS) {
    const v = ajv.getSchema(`urn:marp:schema:${k}`);
    t.type(v, 'function', `${k} compiles`);
  }
  t.ok(ajv.getSchema('urn:marp:schema:common'), 'common compiles');
});

// covers: req-closed-objects req-ext
t.test('closed objects everywhere except ext', async (t) => {
  const { common, kinds } = loadSchemas();
  const walk = (s: unknown, path: string): void => {
    if (typeof s !== 'object' || s === null) return;
    const o = s as Record<string, unknown>;
    if (o.type === 'object' && 'properties' in o) t.equal(o.additionalProperties, false, `${path} is closed`);
    if (o.type === 'object' && !('properties' in o)) t.equal(path, 'common/$defs/extensions', `${path}: the only open object is extensions`);
    for (const [k, v] of Object.entries(o)) walk(v, `${path}/${k}`);
  };
  walk(common, 'common');
  for (const k of KINDS) walk(kinds[k], k);
});

// covers: req-ack-restored
t.test('conditional rules: ack restored/by, record/followup prev iff index 1', async (t) => {
  const ajv = strictAjv();
  const ack = ajv.getSchema('urn:marp:schema:ack');
  const set = { initiator: 'a.example', id: 's-1' };
  const base = { v: 1, iss: 'b.example', iat: 1, set, member: 'm', parent: { agent: 'a.example', execution: 'e' }, target: { checkpoint: 'c', seq: 1 } };
  const restored = { checkpoint: 'c', seq: 1, digest: `sha-256:${'0'.repeat(64)}` };
  t.notOk(ack({ ...base, status: 'rolled_back' }), 'rolled_back needs restored');
  t.notOk(ack({ ...base, status: 'compensated' }), 'compensated needs restored');
  t.ok(ack({ ...base, status: 'rolled_back', restored }), 'rolled_back with restored');
  t.notOk(ack({ ...base, status: 'satisfied' }), 'satisfied needs by');
  t.ok(ack({ ...base, status: 'satisfied', by: set }), 'satisfied with by');
  t.ok(ack({ ...base, status: 'failed', reason: 'digest_mismatch' }), 'failed needs neither');
  t.notOk(ack({ ...base, status: 'failed', extra: 1 }), 'unknown member refused');
  t.ok(ack({ ...base, status: 'failed', ext: { 'urn:x': { any: ['thing'] } } }), 'ext is open');
  for (const kind of ['record', 'followup']) {
    const v = ajv.getSchema(`urn:marp:schema:${kind}`);
    const common = { v: 1, iss: 'a.example', iat: 1, set, outcome: 'complete', members: [{ agent: 'a.example', execution: 'e', status: 'rolled_back' }] };
    const r = kind === 'record'
      ? { ...common, cause: { agent: 'a.example', execution: 'e', class: 'eval_failure', at: 1 } }
      : { ...common, refers: `sha-256:${'1'.repeat(64)}` };
    const digest = `sha-256:${'2'.repeat(64)}`;
    t.ok(v({ ...r, index: 1, prev: null }), `${kind}: index 1, prev null`);
    t.notOk(v({ ...r, index: 1, prev: digest }), `${kind}: index 1 with prev refused`);
    t.ok(v({ ...r, index: 2, prev: digest }), `${kind}: index 2 with prev`);
    t.notOk(v({ ...r, index: 2, prev: null }), `${kind}: index 2 without prev refused`);
    t.notOk(v({ ...r, index: 0, prev: null }), `${kind}: index 0 refused`);
  }
});

t.test('boundaries from the CDDL', async (t) => {
  const ajv = strictAjv();
  const common = (name: string) => ajv.getSchema(`urn:marp:schema:common#/$defs/${name}`);
  t.ok(common('jti')('a'.repeat(16)));
  t.notOk(common('jti')('a'.repeat(15)));
  t.ok(common('jti')('a'.repeat(64)));
  t.notOk(common('jti')('a'.repeat(65)));
  t.notOk(common('jti')('a'.repeat(16) + '='), 'no padding or other characters');
  t.ok(common('agent-id')('spiffe://example.org/agent-a'));
  t.notOk(common('agent-id')('a b'));
  t.notOk(common('ident')('a/b'), 'ident excludes /');
  t.ok(common('seq')(Number.MAX_SAFE_INTEGER));
  t.notOk(common('seq')(Number.MAX_SAFE_INTEGER + 1));
  t.notOk(common('seq')(1.5));
  t.notOk(common('digest')(`sha-256:${'A'.repeat(64)}`), 'lowercase hex only');
  t.ok(common('compact-jws')('a.b.c'));
  t.notOk(common('compact-jws')('a..c'));
  t.notOk(common('compact-jws')('a.b.c.d'));
  t.notOk(common('detail')('x'.repeat(1025)));
});
