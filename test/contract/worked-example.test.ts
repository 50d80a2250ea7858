// The draft's worked example (appendix "Worked Example") is real output of the
// implementation: its files validate against the schemas, every statement
// verifies under the captured keys, and the appendix is exactly their rendering
// (regenerate with `node --import tsx scripts/gen-example.ts`).
import t from 'tap';
import { createHash } from 'node:crypto';
import { compactVerify, importJWK, type JWK } from 'jose';
import { decodeCompact, extract, fold, kindOfTyp, readCapture, render } from '../../scripts/gen-example.js';
import { draftXml, unfold8792 } from './draft-helpers.js';
import { strictAjv } from './ajv.js';

const c = readCapture();

t.test('every captured payload validates against the schema of its kind', async (t) => {
  const ajv = strictAjv();
  t.ok(c.envelopes.length >= 10, `${c.envelopes.length} envelopes`);
  const check = (kind: string, payload: unknown, what: string) => {
    const v = ajv.getSchema(`urn:marp:schema:${kind}`);
    t.ok(v, `schema for ${kind}`);
    t.ok(v(payload), what, { errors: v.errors });
  };
  for (const e of c.envelopes) check(e.kind, e.payload, `step ${e.step} (${e.kind})`);
  for (const s of c.statements) check(s.kind, s.payload, s.label);
  const kinds = new Set(c.envelopes.map((e) => e.kind));
  for (const k of ['dependency', 'request', 'report', 'outcome']) t.ok(kinds.has(k), `has a ${k} envelope`);
  t.ok(c.statements.some((s) => s.kind === 'record'), 'has a record');
});

t.test('every statement is signed by its issuer and matches its decoded payload', async (t) => {
  for (const s of c.statements) {
    const { header, payload } = decodeCompact(s.compact);
    t.equal(kindOfTyp(header['typ']), s.kind, `${s.label}: typ`);
    t.same(payload, s.payload, `${s.label}: payload`);
    const jwk = c.keys[s.signer]?.keys.find((k) => k['kid'] === header['kid']);
    t.ok(jwk, `${s.label}: key ${String(header['kid'])} of ${s.signer}`);
    const key = await importJWK(jwk as JWK, String(header['alg']));
    const v = await compactVerify(s.compact, key, { algorithms: ['ES256', 'Ed25519'] });
    t.ok(v, `${s.label}: signature verifies`);
  }
});

t.test('envelopes carry exactly the statements listed, and records embed the acks shown', async (t) => {
  const labels = new Map(c.statements.map((s) => [s.label, s]));
  for (const e of c.envelopes) {
    const embedded = [...((e.payload['acks'] as string[] | undefined) ?? []), ...['record', 'authority'].map((k) => e.payload[k]).filter((x): x is string => typeof x === 'string')];
    t.same(embedded, e.statements.map((l) => labels.get(l)?.compact), `step ${e.step}`);
  }
  for (const r of c.statements.filter((s) => s.kind === 'record')) {
    for (const m of r.payload['members'] as { ack?: string }[]) {
      if (m.ack) t.ok(c.statements.some((s) => s.compact === m.ack), `${r.label} embeds a known ack`);
    }
  }
});

t.test('the draft appendix is exactly the rendering of draft/example/*.json', async (t) => {
  t.equal(extract(draftXml), render(c), 'run `node --import tsx scripts/gen-example.ts --insert`');
});

t.test('figures fit in 72 columns and unfold to the captured JSON', async (t) => {
  const body = extract(draftXml);
  const blocks = [...body.matchAll(/<!\[CDATA\[\n([\s\S]*?)\n\]\]>/g)].map((m) => m[1]!);
  t.ok(blocks.length > c.envelopes.length, `${blocks.length} figures`);
  // 69 columns of content + 3 of indentation in the rendered text.
  t.same(blocks.flatMap((b) => b.split('\n')).filter((l) => l.length > 69), [], 'no line over 69 columns');
  const unfolded = blocks.map((b) => unfold8792(`\n${b}`));
  for (const u of unfolded.filter((x) => x.startsWith('{'))) t.doesNotThrow(() => JSON.parse(u), 'figure unfolds to JSON');
  const records = c.statements.filter((s) => s.kind === 'record').map((s) => s.compact);
  t.same(unfolded.filter((x) => !x.startsWith('{')), records, 'the other figures are the records in compact form');
  const record = c.statements.find((s) => s.kind === 'record')!;
  t.equal(unfold8792(`\n${fold(record.compact)}`), record.compact, 'compact record round-trips through RFC 8792 folding');
  const long = 'x'.repeat(60) + ' ' + 'y'.repeat(30);
  t.equal(unfold8792(`\n${fold(long)}`), long, 'folding never starts a continuation line with a space');
});

t.test('no checkpoint digest in the example or the draft is the SHA-256 of empty state', async (t) => {
  // The digest of an empty serialisation says nothing about an execution (draft "Checkpoints"); the demo's agents open each with state.
  const empty = createHash('sha256').update('').digest('hex');
  const digests: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) if (k === 'digest' && typeof x === 'string') digests.push(x); else walk(x);
    }
  };
  walk(c.envelopes.map((e) => e.payload));
  walk(c.statements.map((s) => s.payload));
  t.ok(digests.length >= 6, `${digests.length} digests in draft/example`);
  t.same(digests.filter((d) => d === `sha-256:${empty}`), [], 'none in draft/example');
  const unfolded = draftXml.replace(/\\\n[ \t]*/g, '');
  t.ok(unfolded.includes(digests[0]!), 'unfolding the draft restores its digests (the check below is not vacuous)');
  t.notOk(unfolded.includes(empty), 'none in the draft, with RFC 8792 folding undone');
});
