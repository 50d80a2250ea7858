/**
 * Mutation scores per folder and per file from StrykerJS JSON reports
 * (reports/mutation/<part>.json, written by scripts/mutation.sh), into
 * interop-tests/report/mutation.md. Score = (killed + timeout) /
 * (killed + timeout + survived + no coverage), as Stryker computes it.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIR = join(ROOT, 'reports/mutation');
const OUT = join(ROOT, 'interop-tests/report/mutation.md');

interface Mutant { id: string; mutatorName: string; status: string; location: { start: { line: number; column: number }; end: { line: number; column: number } }; replacement?: string }
interface Counts { killed: number; survived: number; timeout: number; noCoverage: number; other: number }

const zero = (): Counts => ({ killed: 0, survived: 0, timeout: 0, noCoverage: 0, other: 0 });
const score = (c: Counts): number => {
  const d = c.killed + c.timeout + c.survived + c.noCoverage;
  return d === 0 ? NaN : (c.killed + c.timeout) / d;
};
const pct = (x: number): string => (Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`);

/** Old line (1-based) -> new line for lines a line diff (LCS) keeps unchanged; others are absent. */
function lineMap(before: string, after: string): Map<number, number> {
  const a = before.split('\n');
  const b = after.split('\n');
  let lo = 0;
  while (lo < a.length && lo < b.length && a[lo] === b[lo]) lo++;
  let ea = a.length;
  let eb = b.length;
  while (ea > lo && eb > lo && a[ea - 1] === b[eb - 1]) { ea--; eb--; }
  const n = ea - lo;
  const m = eb - lo;
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) L[i]![j] = a[lo + i] === b[lo + j] ? L[i + 1]![j + 1]! + 1 : Math.max(L[i + 1]![j]!, L[i]![j + 1]!);
  }
  const map = new Map<number, number>();
  for (let i = 0; i < lo; i++) map.set(i + 1, i + 1);
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[lo + i] === b[lo + j]) { map.set(lo + i + 1, lo + j + 1); i++; j++; }
    else if (L[i + 1]![j]! >= L[i]![j + 1]!) i++;
    else j++;
  }
  for (let k = 0; k < a.length - ea; k++) map.set(ea + k + 1, eb + k + 1);
  return map;
}

// Several parts may mutate one file (src/core/core.ts in line ranges): merge their mutants by
// position, mutator and replacement, the newest report winning. Where a file changed since a
// part ran, that part's mutants on unchanged lines are moved to their new lines (listed under
// "Moved"; a rerun refreshes them) and mutants on changed lines are dropped.
const files = new Map<string, Map<string, Mutant>>();
const parts: string[] = [];
const moved: string[] = [];
if (existsSync(DIR)) {
  const reports = readdirSync(DIR).filter((x) => x.endsWith('.json') && x !== 'mutation.json')
    .map((f) => ({ f, t: statSync(join(DIR, f)).mtimeMs })).sort((a, b) => a.t - b.t);
  for (const { f } of reports) {
    const part = f.replace(/\.json$/, '');
    parts.push(part);
    const r = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { files: Record<string, { source: string; mutants: Mutant[] }> };
    for (const [path, v] of Object.entries(r.files)) {
      const rel = relative(ROOT, join(ROOT, path));
      if (!existsSync(join(ROOT, rel))) continue;
      const now = readFileSync(join(ROOT, rel), 'utf8');
      const map = now === v.source ? undefined : lineMap(v.source, now);
      const ms = files.get(rel) ?? new Map<string, Mutant>();
      let kept = 0;
      let dropped = 0;
      for (const m0 of v.mutants) {
        let m = m0;
        if (map) {
          const s = map.get(m0.location.start.line);
          const e = map.get(m0.location.end.line);
          if (s === undefined || e === undefined || e - s !== m0.location.end.line - m0.location.start.line) { dropped++; continue; }
          m = { ...m0, location: { start: { ...m0.location.start, line: s }, end: { ...m0.location.end, line: e } } };
          kept++;
        }
        ms.set(`${m.location.start.line}:${m.location.start.column}-${m.location.end.line}:${m.location.end.column}|${m.mutatorName}|${m.replacement ?? ''}`, m);
      }
      if (map) moved.push(`${part}: ${rel} (${kept} moved to their new lines, ${dropped} on changed lines dropped)`);
      files.set(rel, ms);
    }
  }
}
// Surviving mutants judged equivalent, with reasons (kept by hand).
const NOTES = join(ROOT, 'interop-tests/report/mutation-notes.md');
const notes = existsSync(NOTES) ? readFileSync(NOTES, 'utf8').trim().split('\n') : [];

const byFile = new Map<string, Counts>();
const byFolder = new Map<string, Counts>();
for (const [path, byKey] of [...files].sort()) {
  const mutants = [...byKey.values()];
  const c = zero();
  for (const m of mutants) {
    if (m.status === 'Killed') c.killed++;
    else if (m.status === 'Survived') c.survived++;
    else if (m.status === 'Timeout') c.timeout++;
    else if (m.status === 'NoCoverage') c.noCoverage++;
    else c.other++;
  }
  byFile.set(path, c);
  const folder = dirname(path);
  const f = byFolder.get(folder) ?? zero();
  for (const k of Object.keys(c) as (keyof Counts)[]) f[k] += c[k];
  byFolder.set(folder, f);
}

const row = (name: string, c: Counts): string =>
  `| ${name} | ${c.killed} | ${c.timeout} | ${c.survived} | ${c.noCoverage} | ${c.other} | ${pct(score(c))} |`;
const survivors = [...files].sort().flatMap(([path, ms]) => [...ms.values()].sort((a, b) => a.location.start.line - b.location.start.line).filter((m) => m.status === 'Survived' || m.status === 'NoCoverage')
  .map((m) => `- ${path}:${m.location.start.line} ${m.mutatorName}${m.replacement ? ` -> \`${m.replacement.replace(/\s+/g, ' ').slice(0, 60)}\`` : ''} (${m.status})`));

const md = [
  '# Mutation testing',
  '',
  'StrykerJS with the tap runner (`stryker.config.json`, `make mutation`; `scripts/mutation.sh` runs one part per',
  'Stryker run and `scripts/mutation-report.ts` writes this file). Tests: test/core and test/envelope (without',
  'test/core/exhaustive.test.ts, too slow per mutant). Score = (killed + timeout) / (killed + timeout + survived + no coverage).',
  '',
  `Parts in this report: ${parts.join(', ') || '(none)'} (scripts/mutation.sh: envelope = src/envelope/*.ts; core = src/core/*.ts`,
  'without simulator, index, types; pipeline = intake, header, compact, json; envelope-rest = the other files of',
  'src/envelope; core-rules = taint, member, rollback-set; core-small = checkpoint, dependency, record, transition-table;',
  'src/core/core.ts in line ranges: core-local = up to #onResult, core-answers = #onResult up to #onEnvelope,',
  'core-peer = #onEnvelope up to #applyOutcome, core-publish = #applyOutcome to the end; core-lines = any range, a rerun',
  'after new tests). Parts that mutate the same file',
  'are merged mutant by mutant; a file that only some ranges mutated counts only those lines.',
  '',
  '## Per folder',
  '',
  '| Folder | Killed | Timeout | Survived | No coverage | Errors (not scored) | Score |',
  '|---|---|---|---|---|---|---|',
  ...[...byFolder].map(([k, c]) => row(k, c)),
  '',
  '## Per file',
  '',
  '| File | Killed | Timeout | Survived | No coverage | Errors (not scored) | Score |',
  '|---|---|---|---|---|---|---|',
  ...[...byFile].map(([k, c]) => row(k, c)),
  '',
  ...(moved.length ? ['## Moved (the file changed since that part ran)', '', ...moved.map((x) => `- ${x}`), ''] : []),
  ...(notes.length ? ['## Notes', '', ...notes, ''] : []),
  `## Surviving mutants (${survivors.length})`,
  '',
  ...survivors,
  '',
];
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, md.join('\n'));
console.log([...byFolder].map(([k, c]) => `${k}: ${pct(score(c))}`).join('\n'));
