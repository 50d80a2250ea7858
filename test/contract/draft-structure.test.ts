// Structure the later traceability script relies on: every paragraph or
// list item with a BCP 14 keyword has its own anchor; every section has one;
// anchors are unique; required sections and references exist.
import t from 'tap';
import { draftXml } from './draft-helpers.js';

t.test('BCP 14 keywords live in anchored paragraphs', async (t) => {
  const missing: string[] = [];
  let count = 0;
  for (const m of draftXml.matchAll(/<(t|li|dd)(\s[^>]*)?>([\s\S]*?)<\/\1>/g)) {
    const [, tag, attrs = '', body = ''] = m;
    if (!body.includes('<bcp14>')) continue;
    count++;
    if (/anchor="/.test(attrs)) continue;
    if ((tag === 'li' || tag === 'dd') && /<t anchor="/.test(body)) continue;
    missing.push(body.slice(0, 60).replace(/\s+/g, ' '));
  }
  t.ok(count > 50, `requirements found: ${count}`);
  t.same(missing, [], 'no unanchored requirement');
  const reqAnchors = [...draftXml.matchAll(/<t anchor="(req-[^"]+)"/g)].map((m) => m[1]);
  t.ok(reqAnchors.length > 50, `req-* anchors: ${reqAnchors.length}`);
});

t.test('every section is anchored; anchors are unique', async (t) => {
  t.equal([...draftXml.matchAll(/<section(?![^>]*anchor=)[^>]*>/g)].length, 0, 'no section without anchor');
  const all = [...draftXml.matchAll(/\sanchor="([^"]+)"/g)].map((m) => m[1]);
  t.equal(new Set(all).size, all.length, 'unique anchors');
  const targets = [...draftXml.matchAll(/<xref target="([^"]+)"/g)].map((m) => m[1]!);
  t.same(targets.filter((x) => !all.includes(x)), [], 'every xref resolves');
});

t.test('front matter and required sections', async (t) => {
  t.match(draftXml, /docName="draft-marp-agent-rollback-00"/);
  t.match(draftXml, /category="exp"/);
  t.match(draftXml, /ipr="trust200902"/);
  t.match(draftXml, /<author>\s*<organization>Multi-Agent Recovery Project<\/organization>\s*<\/author>/);
  t.notMatch(draftXml, /xi:include/);
  for (const name of ['Introduction', 'Conventions and Terminology', 'Security Considerations', 'Privacy Considerations', 'IANA Considerations', 'Implementation Status', 'Hard Cases', 'State Machines', 'Error Codes', 'Intake Processing Order', 'JSON Schema', 'Examples']) {
    t.match(draftXml, new RegExp(`<name>${name}</name>`), name);
  }
  t.match(draftXml, /<name>Normative References<\/name>/);
  t.match(draftXml, /<name>Informative References<\/name>/);
  t.match(draftXml, /The key words "<bcp14>MUST<\/bcp14>", "<bcp14>MUST NOT<\/bcp14>",/);
});
