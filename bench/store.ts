// Store benchmark (plain script): node --import tsx bench/store.ts [dir]
// - appends/s with fdatasync for 1 and 64 concurrent appenders
// - open+verify time of a log of 100,000 entries of ~500 bytes
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLog, verifyLog } from '../src/store/index.js';

const base = mkdtempSync(join(process.argv[2] ?? tmpdir(), 'marp-store-bench-'));
const body = (i: number) => ({ kind: 'envelope', i, pad: 'x'.repeat(440) }); // ~500 bytes of JSON

async function appendRate(concurrency: number, seconds: number): Promise<void> {
  const path = join(base, `rate-${concurrency}`);
  const log = await openLog(path);
  const deadline = performance.now() + seconds * 1000;
  let n = 0;
  async function worker(): Promise<void> {
    while (performance.now() < deadline) await log.append(body(n++));
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const dt = (performance.now() - t0) / 1000;
  const { appends, commits } = log.stats;
  await log.close();
  console.log(
    `appenders=${String(concurrency).padStart(2)}  ${Math.round(appends / dt).toString().padStart(7)} appends/s  ` +
      `${Math.round(commits / dt).toString().padStart(6)} fsyncs/s  ${(appends / commits).toFixed(1)} entries/commit`,
  );
}

async function openVerify(count: number): Promise<void> {
  const path = join(base, 'big');
  const log = await openLog(path);
  const batch = 1000;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(Array.from({ length: batch }, (_, j) => log.append(body(i + j))));
  }
  await log.close();
  const size = statSync(path).size;
  let t0 = performance.now();
  const again = await openLog(path);
  const openMs = performance.now() - t0;
  const n = again.entries.length;
  await again.close();
  t0 = performance.now();
  const v = await verifyLog(path);
  const verifyMs = performance.now() - t0;
  console.log(
    `${n} entries, ${(size / 1e6).toFixed(1)} MB (${Math.round(size / n)} B/entry on disk): ` +
      `openLog (read+verify+parse, entries kept) ${openMs.toFixed(0)} ms, verifyLog ${verifyMs.toFixed(0)} ms (ok=${v.ok})`,
  );
}

try {
  console.log(`store benchmark in ${base} (node ${process.version})`);
  await appendRate(1, 3);
  await appendRate(64, 3);
  await openVerify(100_000);
} finally {
  rmSync(base, { recursive: true, force: true });
}
