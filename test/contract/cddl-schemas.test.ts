// (a) The CDDL in the draft and the JSON Schemas in schemas/ describe the same
// messages: same rule names, members, optionality, types, ranges, regular
// expressions and string enumerations.
import t from 'tap';
import {
  KINDS, cddlBlocks, cddlDesc, cddlModel, cddlRegexps, loadSchemas, schemaDescByName, tableRows,
} from './draft-helpers.js';

const blocks = cddlBlocks();
const text = blocks.map((b) => b.text).join('\n');
const model = cddlModel(text);
const schemas = loadSchemas();

t.test('one CDDL block per message kind plus the shared rules, each parseable alone', async (t) => {
  const anchors = blocks.map((b) => b.attrs.anchor);
  t.same(anchors, ['cddl-common', ...KINDS.map((k) => `cddl-${k}`)], 'block anchors, in draft order');
  for (const k of KINDS) {
    const b = blocks.find((x) => x.attrs.anchor === `cddl-${k}`)!;
    const defined = [...b.text.matchAll(/^([a-z][a-z0-9-]*)\s*=/gm)].map((m) => m[1]);
    t.equal(defined[0], k, `block cddl-${k} starts with rule ${k}`);
  }
  for (const b of blocks) t.doesNotThrow(() => cddlModel(b.text), `${b.attrs.anchor} parses on its own`);
});

t.test('rule names: CDDL (minus included groups) == kind schemas + common $defs', async (t) => {
  const cddlNames = [...model.rules.keys()].filter((n) => !model.includes.has(n)).sort();
  const schemaNames = [...KINDS, ...Object.keys(schemas.common.$defs)].sort();
  t.same(cddlNames, schemaNames);
  t.same([...model.includes].sort(), ['envelope-claims', 'statement-claims'], 'only the claim groups are included by reference');
});

t.test('every rule has the same shape in CDDL and JSON Schema', async (t) => {
  for (const name of [...model.rules.keys()].filter((n) => !model.includes.has(n))) {
    t.same(schemaDescByName(schemas, name), cddlDesc(model, name), name);
  }
});

t.test('message kinds: members and required/optional', async (t) => {
  // Spelled out so that a failure names the member, not just a diff.
  for (const k of KINDS) {
    const c = cddlDesc(model, k);
    const s = schemaDescByName(schemas, k);
    if (c.kind !== 'object' || s.kind !== 'object') { t.fail(`${k} is not an object`); continue; }
    t.same(Object.keys(s.fields).sort(), Object.keys(c.fields).sort(), `${k}: member names`);
    for (const [m, f] of Object.entries(c.fields)) t.equal(s.fields[m]?.optional, f.optional, `${k}.${m}: optional=${f.optional}`);
    const envelope = ['dependency', 'failure', 'request', 'report', 'cancel', 'outcome'].includes(k);
    for (const m of envelope ? ['v', 'iss', 'aud', 'iat', 'jti'] : ['v', 'iss', 'iat']) t.equal(c.fields[m]?.optional, false, `${k}.${m} mandatory`);
    t.equal(c.fields.ext?.optional, true, `${k}.ext optional`);
    // A receipt names the sender and the envelope it answers (draft "msg-receipt").
    if (k === 'receipt') for (const m of ['aud', 'jti']) t.equal(c.fields[m]?.optional, false, `receipt.${m} mandatory`);
    else if (!envelope) t.notOk('aud' in c.fields || 'jti' in c.fields, `${k}: statements have no aud and no jti`);
  }
});

t.test('regular expressions, by string extraction from the CDDL text', async (t) => {
  const found = cddlRegexps(text);
  t.same([...found.keys()].sort(), ['agent-id', 'compact-jws', 'digest', 'error-code', 'ident', 'jti'], 'rules with .regexp');
  for (const [name, re] of found) {
    const pattern: string = schemas.common.$defs[name].pattern;
    t.equal(pattern, `^${re}$`, `${name}: schema pattern is the anchored CDDL regexp`);
    t.doesNotThrow(() => new RegExp(pattern, 'u'), `${name}: valid as a unicode-mode JS regexp`);
  }
});

t.test('schemas/index.json and the draft agree on typ per kind', async (t) => {
  const rows = tableRows('tab-kinds');
  t.same(rows.map((r) => r[0]), [...KINDS]);
  for (const [kind, typ, cls] of rows) {
    const e = schemas.index.kinds[kind!];
    t.equal(e.typ, typ, `${kind} typ`);
    t.equal(e.class, cls, `${kind} class`);
    t.equal(e.$id, `urn:marp:schema:${kind}`);
    t.equal(schemas.kinds[kind as (typeof KINDS)[number]].$id, e.$id);
  }
  const media = tableRows('tab-iana-media');
  t.same(media.map(([mt, kind]) => [mt, kind]), rows.map(([kind, typ]) => [`application/${typ}`, kind]), 'IANA media types = application/<typ>');
});

t.test('the comparison is not vacuous: a changed schema is detected', async (t) => {
  const clone = structuredClone(schemas);
  clone.kinds.request.required = clone.kinds.request.required.filter((r: string) => r !== 'hops');
  t.not(JSON.stringify(schemaDescByName(clone, 'request')), JSON.stringify(cddlDesc(model, 'request')), 'optionality change');
  const c2 = structuredClone(schemas);
  c2.common.$defs['set-outcome'].enum.push('unknown');
  t.not(JSON.stringify(schemaDescByName(c2, 'set-outcome')), JSON.stringify(cddlDesc(model, 'set-outcome')), 'enum change');
  const c3 = structuredClone(schemas);
  c3.common.$defs.jti.pattern = '^[A-Za-z0-9_-]{16,65}$';
  t.not(JSON.stringify(schemaDescByName(c3, 'jti')), JSON.stringify(cddlDesc(model, 'jti')), 'regexp change');
  const alt = cddlModel(text.replace('hops: uint .le 64', 'hops: uint .le 63'));
  t.not(JSON.stringify(schemaDescByName(schemas, 'request')), JSON.stringify(cddlDesc(alt, 'request')), 'range change');
});

t.test('string extraction and the parser agree on every regexp', async (t) => {
  for (const [name, re] of cddlRegexps(text)) {
    const d = cddlDesc(model, name);
    t.equal(d.kind === 'string' ? d.regexp : undefined, re, name);
  }
});
