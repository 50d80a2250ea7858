/**
 * `npm run bench [-- --full] [-- --only=intake,core,rollback,sustained,recovery]`
 * Runs every benchmark module, prints figures and ratios, and writes
 * bench/results/latest.json and bench/results/latest.md with the machine
 * they came from. Benchmarks, not tests: nothing here passes or fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine, type Ctx, type Figure } from './lib/util.js';

const { values } = parseArgs({ options: { full: { type: 'boolean', default: false }, only: { type: 'string' } }, strict: true });
const ctx: Ctx = { full: values.full ?? false, log: (s) => process.stdout.write(`${s}\n`) };
const only = values.only?.split(',');
const want = (n: string): boolean => !only || only.includes(n);

const started = new Date();
const m = machine();
ctx.log(`bench ${ctx.full ? '--full' : '(default sizes)'} on ${m['cpu']} x${m['cores']}, node ${m['node']}`);
const figures: Figure[] = [];
const failed: Record<string, string> = {};
let replayBytesPerId = 24;
const modules: [string, () => Promise<Figure>][] = [
  ['intake', async () => {
    const f = await (await import('./figures/intake.js')).run(ctx);
    replayBytesPerId = (f.results['replay'] as { bytesPerId: number }).bytesPerId;
    return f;
  }],
  ['core', async () => (await import('./figures/core.js')).run(ctx)],
  ['rollback', async () => (await import('./figures/rollback.js')).run(ctx)],
  ['sustained', async () => (await import('./figures/sustained.js')).run(ctx, replayBytesPerId)],
  ['recovery', async () => (await import('./figures/recovery.js')).run(ctx)],
];
for (const [name, fn] of modules) {
  if (!want(name)) continue;
  const t0 = performance.now();
  ctx.log(`== ${name}`);
  try {
    const f = await fn();
    f.results['seconds'] = Math.round((performance.now() - t0) / 100) / 10;
    figures.push(f);
    ctx.log(`${f.markdown}\n`);
  } catch (err) {
    failed[name] = err instanceof Error ? err.stack ?? err.message : String(err);
    ctx.log(`${name} FAILED: ${failed[name]}`);
  }
}
const seconds = Math.round((Date.now() - started.getTime()) / 1000);
const dir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const json = { started: started.toISOString(), seconds, mode: ctx.full ? 'full' : 'default', machine: m, figures: Object.fromEntries(figures.map((f) => [f.name, { ...f.results, notes: f.notes }])), failed };
writeFileSync(`${dir}latest.json`, `${JSON.stringify(json, null, 2)}\n`);
const md = [
  `## Benchmark results (${json.mode} sizes, ${started.toISOString()}, ${seconds} s)`,
  '',
  `Machine: ${m['cpu']}, ${m['cores']} cores, ${m['memoryGiB']} GiB, ${m['platform']}, Node ${m['node']}. Durability on (fsync) everywhere.`,
  '',
  ...figures.flatMap((f) => [f.markdown, '', ...(f.notes.length ? [...f.notes.map((n) => `- ${n}`), ''] : [])]),
  ...Object.entries(failed).map(([n, e]) => `**${n} failed**: ${e.split('\n')[0]}\n`),
].join('\n');
writeFileSync(`${dir}latest.md`, md);
ctx.log(`wrote bench/results/latest.json and bench/results/latest.md (${seconds} s)`);
// Leftover sockets (undici keep-alive, ws) must not keep the process alive.
process.exit(0);
