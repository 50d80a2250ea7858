// The optional members of the evidence profiles (draft appendix "Optional
// Evidence Profiles"): "restored.attestation" in acks and "witness" in
// outcomes are accepted on intake within their CDDL bounds, octets included.
import t from 'tap';
import { defaultSchemas } from '../../src/envelope/index.js';
import { ProtocolError } from '../../src/errors.js';
import { cddlBlocks, cddlDesc, cddlModel } from './draft-helpers.js';
import { strictAjv } from './ajv.js';

const digest = `sha-256:${'cd'.repeat(32)}`;
const set = { initiator: 'a', id: 's1' };
const ack = {
  v: 1, iss: 'b', iat: 1, set, member: 'b-1', parent: { agent: 'a', execution: 'a-1' },
  status: 'rolled_back', target: { checkpoint: 'b-1-c1', seq: 1 }, restored: { checkpoint: 'b-1-c1', seq: 1, digest },
};
const outcome = { v: 1, iss: 'a', aud: 'b', iat: 1, jti: 'abcdefghijklmnop', set, record: 'aaa.bbb.ccc' };
const record = {
  v: 1, iss: 'a', iat: 1, index: 1, prev: null, set, cause: { agent: 'a', execution: 'a-1', class: 'eval_failure', at: 1 },
  outcome: 'complete', members: [{ agent: 'a', execution: 'a-1', status: 'rolled_back' }],
};
const ear = 'eyJhbGciOiJFUzI1NiJ9.eyJlYXIuc3RhdHVzIjoiYWZmaXJtaW5nIn0.c2ln'; // shape of an EAR in JWT form
const witness = { entry: digest, service: 'https://ts.example/', receipt: 'hEOhASagWCBzaGEtMjU2' };
const withAttestation = (a: unknown) => ({ ...ack, restored: { ...ack.restored, attestation: a } });

const code = (kind: 'ack' | 'outcome', p: unknown): string => {
  try {
    defaultSchemas().validate(kind, p);
    return 'ok';
  } catch (e) {
    return (e as ProtocolError).code;
  }
};

// covers: req-cddl-conform req-closed-objects
t.test('intake accepts the optional members and refuses them out of bounds', async (t) => {
  t.equal(code('ack', ack), 'ok', 'without attestation');
  t.equal(code('ack', withAttestation(ear)), 'ok', 'restored.attestation');
  t.equal(code('ack', withAttestation('x'.repeat(8192))), 'ok', '8192 octets');
  t.equal(code('ack', withAttestation('x'.repeat(8193))), 'schema_invalid', 'over 8192 characters');
  t.equal(code('ack', withAttestation('€'.repeat(2731))), 'schema_invalid', 'over 8192 octets');
  t.equal(code('ack', withAttestation('')), 'schema_invalid', 'empty');
  t.equal(code('ack', withAttestation({ token: ear })), 'schema_invalid', 'a string, not an object');
  t.equal(code('ack', { ...ack, attestation: ear }), 'schema_invalid', 'only inside restored');

  t.equal(code('outcome', outcome), 'ok', 'without witness');
  t.equal(code('outcome', { ...outcome, witness: [witness] }), 'ok', 'one witness');
  t.equal(code('outcome', { ...outcome, witness: [witness, { ...witness, service: 'urn:example:ts2' }] }), 'ok', 'two services');
  t.equal(code('outcome', { ...outcome, witness: [] }), 'schema_invalid', 'empty list');
  const { receipt: _r, ...noReceipt } = witness;
  t.equal(code('outcome', { ...outcome, witness: [noReceipt] }), 'schema_invalid', 'receipt required');
  t.equal(code('outcome', { ...outcome, witness: [{ ...witness, entry: 'sha-256:00' }] }), 'schema_invalid', 'entry is a statement hash');
  t.equal(code('outcome', { ...outcome, witness: [{ ...witness, index: 1 }] }), 'schema_invalid', 'closed');
  t.equal(code('outcome', { ...outcome, witness: [{ ...witness, service: 'x'.repeat(255) }] }), 'ok', 'service: 255 octets');
  t.equal(code('outcome', { ...outcome, witness: [{ ...witness, service: 'é'.repeat(128) }] }), 'schema_invalid', 'service over 255 octets');
  t.equal(code('outcome', { ...outcome, witness: [{ ...witness, receipt: 'x'.repeat(16384) }] }), 'ok', 'receipt: 16384 octets');
  t.equal(code('outcome', { ...outcome, witness: [{ ...witness, receipt: 'x'.repeat(16385) }] }), 'schema_invalid', 'receipt over 16384 characters');
  t.equal(code('outcome', { ...outcome, witness: [witness, { ...witness, receipt: '€'.repeat(5462) }] }), 'schema_invalid', 'receipt over 16384 octets, any entry');
});

t.test('a record carries no receipt of its own; the schemas agree with intake', async (t) => {
  const ajv = strictAjv();
  const v = (kind: string, p: unknown) => ajv.getSchema(`urn:marp:schema:${kind}`)(p);
  t.ok(v('record', record), 'a record');
  t.notOk(v('record', { ...record, witness: [witness] }), 'no witness inside a record');
  const { cause: _c, ...rest } = record;
  const followup = { ...rest, index: 2, prev: digest, refers: digest };
  t.ok(v('followup', followup), 'a follow-up');
  t.notOk(v('followup', { ...followup, witness: [witness] }), 'no witness inside a follow-up');
  t.ok(v('ack', withAttestation(ear)), 'ack with attestation (strict Ajv)');
  t.ok(v('outcome', { ...outcome, witness: [witness] }), 'outcome with witness (strict Ajv)');
});

t.test('the draft CDDL defines the members as optional', async (t) => {
  const model = cddlModel(cddlBlocks().map((b) => b.text).join('\n'));
  const fields = (name: string) => {
    const d = cddlDesc(model, name);
    return d.kind === 'object' ? Object.fromEntries(Object.entries(d.fields).map(([k, f]) => [k, f.optional])) : {};
  };
  t.same(fields('restored-ref'), { checkpoint: false, seq: false, digest: false, attestation: true });
  t.equal(fields('outcome')['witness'], true);
  t.same(fields('witness-entry'), { entry: false, service: false, receipt: false });
});
