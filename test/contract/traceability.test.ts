// Traceability (scripts/requirements.ts): every MUST-level requirement of the
// draft is declared by at least one test (`// covers: req-…` before it), and
// every declared anchor is a requirement of the draft.
import t from 'tap';
import { buildReport, extractRequirements, parseDeclarations } from '../../scripts/requirements.js';
import { draftXml } from './draft-helpers.js';

t.test('every MUST-level requirement is covered; every declaration names a requirement', async (t) => {
  const r = buildReport(draftXml);
  t.ok(r.summary.MUST.total >= 90, `MUST-level requirements: ${r.summary.MUST.total}`);
  t.same(r.unknownAnchors, [], 'no declaration names an anchor that is not a requirement');
  t.same(r.uncoveredMust, [], 'no MUST-level requirement without a test');
  t.comment(`MUST-level covered: ${r.summary.MUST.covered}/${r.summary.MUST.total}; known bugs (todo tests only): ${r.knownBugs.join(', ') || 'none'}`);
});

t.test('extraction: uppercase keywords in <bcp14> only, level, section, sentences', async (t) => {
  const xml = `<section anchor="s1"><name>One</name>
    <t anchor="req-x">A node <bcp14>MUST NOT</bcp14> do x. It may do y. Nodes <bcp14>SHOULD</bcp14> log.</t>
    <section anchor="s2"><name>Two</name><t anchor="req-y">It <bcp14>MAY</bcp14> retry; it must not loop.</t></section>
    <t anchor="req-z">Nothing normative here.</t>
    <ol><li anchor="req-w">Step. The node <bcp14>SHALL</bcp14> fence.</li></ol></section>`;
  const reqs = extractRequirements(xml);
  t.same(reqs.map((q) => [q.anchor, q.level, q.section, q.keywords]), [
    ['req-x', 'MUST', 'One', ['MUST NOT', 'SHOULD']],
    ['req-y', 'MAY', 'Two', ['MAY']],
    ['req-w', 'MUST', 'One', ['SHALL']],
  ]);
  t.same(reqs[0]!.sentences, ['A node MUST NOT do x.', 'Nodes SHOULD log.']);
});

t.test('declarations bind to the next test, scenario or attack; todo is recorded', async (t) => {
  const src = [
    "// covers: req-a req-b",
    "t.test('first', async (t) => {",
    "  // covers: req-c",
    "  t.test(`inner ${x}`, async () => {});",
    "});",
    "// covers: req-d",
    "t.test('known bug', async (t) => { // todo: bug",
    "// covers: req-e",
    "await attack(t, import.meta.url, m, {",
    "  id: 'x', title: 'an attack',",
    "  todo: 'reason',",
    "}, async (t) => {});",
    "// covers: req-f",
  ].join('\n');
  t.same(parseDeclarations(src, 'f.ts').map((d) => [d.test, d.anchors, d.todo]), [
    ['first', ['req-a', 'req-b'], false],
    ['inner ${x}', ['req-c'], false],
    ['known bug', ['req-d'], true],
    ['an attack', ['req-e'], true],
    ['(file)', ['req-f'], false],
  ]);
});
