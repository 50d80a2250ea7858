// (b) Every example in the draft's Examples appendix validates against the
// schema of its kind, and every kind has at least one example.
import t from 'tap';
import { KINDS, examples, unfold8792 } from './draft-helpers.js';
import { strictAjv } from './ajv.js';

const all = examples();

t.test('at least one example per kind, and no example of an unknown kind', async (t) => {
  for (const k of KINDS) t.ok(all.some((e) => e.kind === k), `example of ${k}`);
  for (const e of all) t.ok((KINDS as readonly string[]).includes(e.kind), `${e.anchor} names a kind`);
});

t.test('examples validate against their schemas', async (t) => {
  const ajv = strictAjv();
  for (const e of all) {
    const v = ajv.getSchema(`urn:marp:schema:${e.kind}`);
    const ok = v(e.payload);
    t.ok(ok, e.anchor, { errors: v.errors });
  }
});

t.test('statement placeholders refer to statement examples', async (t) => {
  // "HDR.NAME.SIG" placeholders: every NAME used by envelopes/records is introduced in the appendix text.
  const json = JSON.stringify(all.map((e) => e.payload));
  const names = [...json.matchAll(/"HDR\.([A-Z0-9-]+)\.SIG"/g)].map((m) => m[1]);
  t.ok(names.length >= 4, 'placeholders are used');
});

t.test('RFC 8792 unfolding', async (t) => {
  const hdr = "=============== NOTE: '\\' line wrapping per RFC 8792 ================";
  t.equal(unfold8792(`\n${hdr}\n\n{"a": "12\\\n   34"}`), '{"a": "1234"}');
  t.equal(unfold8792('{"a": 1}'), '{"a": 1}', 'unfolded text passes through');
  t.throws(() => unfold8792(`${hdr}\nx`), /empty line/);
});
