/**
 * Traceability matrix: every BCP 14 requirement of the draft (anchored
 * paragraphs `req-*`) against the tests that declare they check it.
 *
 * Convention (static, parsed from test sources, so it holds even when a test
 * is skipped or crashes): a line comment
 *
 *     // covers: req-a req-b
 *
 * binds to the next `t.test(` / `tap.test(` call in the same file (its title
 * names the test); several comments may stack. Declare only what the test
 * would fail on if the requirement were broken.
 *
 * Usage: node --import tsx scripts/requirements.ts [--check]
 * Writes interop-tests/report/requirements.md and .json; --check exits 1 if a
 * MUST-level requirement is uncovered or a declaration names no requirement.
 */
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DRAFT = join(ROOT, 'draft/draft-marp-agent-rollback-00.xml');
export const TEST_ROOTS = ['test', 'interop-tests'];

export type Keyword = 'MUST' | 'MUST NOT' | 'REQUIRED' | 'SHALL' | 'SHALL NOT' | 'SHOULD' | 'SHOULD NOT' | 'RECOMMENDED' | 'MAY' | 'OPTIONAL';
export type Level = 'MUST' | 'SHOULD' | 'MAY';
const MUST_LEVEL: readonly string[] = ['MUST', 'MUST NOT', 'REQUIRED', 'SHALL', 'SHALL NOT'];
const SHOULD_LEVEL: readonly string[] = ['SHOULD', 'SHOULD NOT', 'RECOMMENDED'];
const KEYWORDS: readonly string[] = [...MUST_LEVEL, ...SHOULD_LEVEL, 'MAY', 'OPTIONAL'];

export interface Requirement {
  anchor: string;
  section: string;
  sectionAnchor: string;
  level: Level;
  keywords: Keyword[];
  /** The sentences carrying a keyword, tags stripped. */
  sentences: string[];
}

export interface Declaration { file: string; line: number; test: string; anchors: string[]; todo: boolean }

const levelOf = (kw: readonly string[]): Level =>
  kw.some((k) => MUST_LEVEL.includes(k)) ? 'MUST' : kw.some((k) => SHOULD_LEVEL.includes(k)) ? 'SHOULD' : 'MAY';

function text(xml: string): string {
  return xml
    .replace(/<xref[^>]*target="([^"]+)"[^>]*\/>/g, '[$1]')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Requirements in document order. Only uppercase keywords inside <bcp14> count. */
export function extractRequirements(xml: string): Requirement[] {
  const out: Requirement[] = [];
  // Walk tags in order, keeping a stack of section names.
  const sections: { anchor: string; name: string }[] = [];
  const tag = /<section\b([^>]*)>|<\/section>|<name>([\s\S]*?)<\/name>|<(t|li|dd)\s+anchor="(req-[^"]+)"[^>]*>/g;
  let m: RegExpExecArray | null;
  let pendingName = false;
  while ((m = tag.exec(xml)) !== null) {
    if (m[0].startsWith('<section')) {
      sections.push({ anchor: /anchor="([^"]+)"/.exec(m[1] ?? '')?.[1] ?? '', name: '' });
      pendingName = true;
    } else if (m[0] === '</section>') {
      sections.pop();
      pendingName = false;
    } else if (m[2] !== undefined) {
      if (pendingName && sections.length > 0) sections[sections.length - 1]!.name = text(m[2]);
      pendingName = false;
    } else {
      const el = m[3]!;
      const anchor = m[4]!;
      const close = xml.indexOf(`</${el}>`, tag.lastIndex);
      const body = xml.slice(tag.lastIndex, close);
      const kws = [...body.matchAll(/<bcp14>([^<]+)<\/bcp14>/g)].map((k) => k[1]!.replace(/\s+/g, ' ').trim());
      const keywords = kws.filter((k) => KEYWORDS.includes(k)) as Keyword[];
      if (keywords.length === 0) continue;
      // Sentences: split the plain text, keep those with an uppercase keyword.
      const marked = body.replace(/<bcp14>([^<]+)<\/bcp14>/g, '\u0001$1\u0002');
      const sentences = text(marked).split(/(?<=[.;:])\s+(?=[A-Z"(])/)
        .filter((s) => s.includes('\u0001'))
        .map((s) => s.replace(/[\u0001\u0002]/g, ''));
      const sec = sections[sections.length - 1] ?? { anchor: '', name: '' };
      out.push({
        anchor, section: sec.name, sectionAnchor: sec.anchor, level: levelOf(keywords),
        keywords: [...new Set(keywords)], sentences,
      });
    }
  }
  return out;
}

function walk(dir: string, acc: string[] = []): string[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return acc; }
  for (const n of names) {
    if (n === 'node_modules' || n.startsWith('.')) continue;
    const p = join(dir, n);
    if (statSync(p).isDirectory()) walk(p, acc);
    else if (/\.test\.(ts|mts|js|mjs)$/.test(n)) acc.push(p);
  }
  return acc;
}

const COVERS = /^\s*\/\/\s*covers:\s*(.*)$/;
const TEST_CALL = /\b(?:t|tap|tt)\.test\(\s*(['"`])((?:\\.|(?!\1).)*)\1/;
/** Harness scenarios and attacks: `scenario(t, url, mesh, { id, title: '...', todo?: '...' }, fn)`. */
const SCENARIO_CALL = /\b(?:scenario|attack)\(/;
const TITLE = /\btitle:\s*(['"`])((?:\\.|(?!\1).)*)\1/;

/**
 * Declarations in one source text. A `covers:` comment with no test after it
 * binds to the file. A test marked `todo` (a known bug) is recorded as such:
 * it documents the requirement but does not count as covering it.
 */
export function parseDeclarations(source: string, file: string): Declaration[] {
  const lines = source.split('\n');
  const out: Declaration[] = [];
  let pending: { line: number; anchors: string[] } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const c = COVERS.exec(line);
    if (c) {
      const anchors = c[1]!.split(/[\s,]+/).filter(Boolean);
      pending = pending ? { line: pending.line, anchors: [...pending.anchors, ...anchors] } : { line: i + 1, anchors };
      continue;
    }
    if (!pending) continue;
    const tc = TEST_CALL.exec(line);
    if (tc) {
      out.push({ file, line: pending.line, test: tc[2]!, anchors: pending.anchors, todo: /\btodo:/.test(line) || /^\s*todo:/.test(lines[i + 1] ?? '') });
      pending = null;
    } else if (SCENARIO_CALL.test(line)) {
      // The options object follows over a few lines, up to the callback.
      const end = lines.findIndex((l, j) => j >= i && /async\s*\(/.test(l));
      const opts = lines.slice(i, end < 0 ? i + 8 : end + 1).join('\n');
      out.push({ file, line: pending.line, test: TITLE.exec(opts)?.[2] ?? '(scenario)', anchors: pending.anchors, todo: /\btodo:/.test(opts) });
      pending = null;
    }
  }
  if (pending) out.push({ file, line: pending.line, test: '(file)', anchors: pending.anchors, todo: false });
  return out;
}

export function collectDeclarations(root = ROOT, roots = TEST_ROOTS): Declaration[] {
  return roots.flatMap((r) => walk(join(root, r)))
    .sort()
    .flatMap((f) => parseDeclarations(readFileSync(f, 'utf8'), relative(root, f)));
}

export interface Report {
  requirements: (Requirement & { tests: { file: string; test: string; todo?: true }[] })[];
  summary: Record<Level, { total: number; covered: number; share: number }>;
  uncoveredMust: string[];
  /** MUST-level requirements whose only tests are todo: known bugs, reported, not covered. */
  knownBugs: string[];
  unknownAnchors: { file: string; line: number; anchor: string }[];
}

const isCovered = (r: { tests: { todo?: true }[] }): boolean => r.tests.some((t) => !t.todo);

export function buildReport(xml = readFileSync(DRAFT, 'utf8'), decls = collectDeclarations()): Report {
  const reqs = extractRequirements(xml);
  const byAnchor = new Map(reqs.map((r) => [r.anchor, { ...r, tests: [] as { file: string; test: string; todo?: true }[] }]));
  const unknownAnchors: Report['unknownAnchors'] = [];
  for (const d of decls) {
    for (const a of d.anchors) {
      const r = byAnchor.get(a);
      if (!r) { unknownAnchors.push({ file: d.file, line: d.line, anchor: a }); continue; }
      if (!r.tests.some((t) => t.file === d.file && t.test === d.test)) r.tests.push({ file: d.file, test: d.test, ...(d.todo ? { todo: true as const } : {}) });
    }
  }
  const requirements = [...byAnchor.values()];
  const summary = Object.fromEntries((['MUST', 'SHOULD', 'MAY'] as Level[]).map((l) => {
    const of = requirements.filter((r) => r.level === l);
    const covered = of.filter(isCovered).length;
    return [l, { total: of.length, covered, share: of.length === 0 ? 1 : covered / of.length }];
  })) as Report['summary'];
  return {
    requirements, summary,
    uncoveredMust: requirements.filter((r) => r.level === 'MUST' && r.tests.length === 0).map((r) => r.anchor),
    knownBugs: requirements.filter((r) => r.level === 'MUST' && r.tests.length > 0 && !isCovered(r)).map((r) => r.anchor),
    unknownAnchors,
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

export function renderMarkdown(r: Report): string {
  const lines = [
    '# Requirements traceability',
    '',
    'Generated by `node --import tsx scripts/requirements.ts` from draft/draft-marp-agent-rollback-00.xml and the',
    '`// covers: req-…` declarations in test/ and interop-tests/ (each binds to the next `t.test`).',
    '',
    '| Level | Requirements | Covered | Share |',
    '|---|---|---|---|',
    ...(['MUST', 'SHOULD', 'MAY'] as Level[]).map((l) => `| ${l} | ${r.summary[l].total} | ${r.summary[l].covered} | ${pct(r.summary[l].share)} |`),
    '',
    `MUST-level (MUST, MUST NOT, REQUIRED, SHALL, SHALL NOT) covered: **${pct(r.summary.MUST.share)}**.`,
    '',
  ];
  if (r.uncoveredMust.length) lines.push(`Uncovered MUST-level: ${r.uncoveredMust.join(', ')}`, '');
  if (r.knownBugs.length) lines.push(`MUST-level requirements the implementation does not meet yet (only a todo test, a reported bug): ${r.knownBugs.join(', ')}`, '');
  if (r.unknownAnchors.length) lines.push(`Unknown anchors: ${r.unknownAnchors.map((u) => `${u.anchor} (${u.file}:${u.line})`).join(', ')}`, '');
  let section = '';
  for (const q of r.requirements) {
    if (q.section !== section) { section = q.section; lines.push(`## ${section || '(no section)'}`, ''); }
    lines.push(`### ${q.anchor} (${q.level}: ${q.keywords.join(', ')})`, '');
    for (const s of q.sentences) lines.push(`> ${s}`, '>');
    if (q.sentences.length) lines.pop();
    lines.push('');
    if (q.tests.length === 0) lines.push('- **no test**');
    for (const t of q.tests) lines.push(`- ${t.file}: ${t.test.replace(/\|/g, '\\|')}${t.todo ? ' **(todo: known bug)**' : ''}`);
    lines.push('');
  }
  return lines.join('\n');
}

export function writeReport(r: Report, dir = join(ROOT, 'interop-tests/report')): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'requirements.json'), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, 'requirements.md'), renderMarkdown(r));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = buildReport();
  writeReport(r);
  const s = r.summary;
  console.log(`MUST ${s.MUST.covered}/${s.MUST.total} (${pct(s.MUST.share)}), SHOULD ${s.SHOULD.covered}/${s.SHOULD.total}, MAY ${s.MAY.covered}/${s.MAY.total}`);
  if (r.uncoveredMust.length) console.log(`uncovered MUST-level: ${r.uncoveredMust.join(' ')}`);
  if (r.knownBugs.length) console.log(`known bugs (todo tests only): ${r.knownBugs.join(' ')}`);
  if (r.unknownAnchors.length) console.log(`unknown anchors: ${r.unknownAnchors.map((u) => `${u.anchor}@${u.file}:${u.line}`).join(' ')}`);
  if (process.argv.includes('--check') && (r.uncoveredMust.length || r.unknownAnchors.length)) process.exit(1);
}
