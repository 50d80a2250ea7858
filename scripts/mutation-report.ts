/**
 * Mutation scores per folder and per file from StrykerJS JSON reports
 * (reports/mutation/<part>.json, written by scripts/mutation.sh), into
 * interop-tests/report/mutation.md. Score = (killed + timeout) /
 * (killed + timeout + survived + no coverage), as Stryker computes it.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIR = join(ROOT, 'reports/mutation');
const OUT = join(ROOT, 'interop-tests/report/mutation.md');

interface Mutant { id: string; mutatorName: string; status: string; location: { start: { line: number; column: number } }; replacement?: string }
interface Counts { killed: number; survived: number; timeout: number; noCoverage: number; other: number }

const zero = (): Counts => ({ killed: 0, survived: 0, timeout: 0, noCoverage: 0, other: 0 });
const score = (c: Counts): number => {
  const d = c.killed + c.timeout + c.survived + c.noCoverage;
  return d === 0 ? NaN : (c.killed + c.timeout) / d;
};
const pct = (x: number): string => (Number.isNaN(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`);

const files = new Map<string, Mutant[]>();
const parts: string[] = [];
if (existsSync(DIR)) {
  for (const f of readdirSync(DIR).filter((x) => x.endsWith('.json') && x !== 'mutation.json').sort()) {
    parts.push(f.replace(/\.json$/, ''));
    const r = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { files: Record<string, { mutants: Mutant[] }> };
    for (const [path, v] of Object.entries(r.files)) files.set(relative(ROOT, join(ROOT, path)), v.mutants);
  }
}

const byFile = new Map<string, Counts>();
const byFolder = new Map<string, Counts>();
for (const [path, mutants] of [...files].sort()) {
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
const survivors = [...files].flatMap(([path, ms]) => ms.filter((m) => m.status === 'Survived' || m.status === 'NoCoverage')
  .map((m) => `- ${path}:${m.location.start.line} ${m.mutatorName}${m.replacement ? ` -> \`${m.replacement.replace(/\s+/g, ' ').slice(0, 60)}\`` : ''} (${m.status})`));

const md = [
  '# Mutation testing',
  '',
  'StrykerJS with the tap runner (`stryker.config.json`, `make mutation`; `scripts/mutation.sh` runs one part per',
  'Stryker run and `scripts/mutation-report.ts` writes this file). Tests: test/core and test/envelope (without',
  'test/core/exhaustive.test.ts, too slow per mutant). Score = (killed + timeout) / (killed + timeout + survived + no coverage).',
  '',
  `Parts in this report: ${parts.join(', ') || '(none)'} (scripts/mutation.sh: envelope = src/envelope/*.ts; core = src/core/*.ts`,
  'without simulator, index, types; pipeline = intake, header, compact, json; core-rules = taint, member, rollback-set;',
  'core-peer = the handlers of peer envelopes in src/core/core.ts, #onEnvelope up to #applyOutcome). A file that only',
  'core-peer mutated counts only those lines.',
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
  `## Surviving mutants (${survivors.length})`,
  '',
  ...survivors,
  '',
];
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, md.join('\n'));
console.log([...byFolder].map(([k, c]) => `${k}: ${pct(score(c))}`).join('\n'));
