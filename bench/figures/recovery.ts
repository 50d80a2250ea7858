/**
 * Crash recovery: time from (re)starting `marp node` to /readyz for a log of
 * 100,000 entries. The log is what a node writes ({t, input} per accepted
 * input), produced here by a Core in this process: executions, checkpoints,
 * consumptions of a peer's output and their deliveries. The node is started,
 * SIGKILLed, and restarted; baseline in the same run: the same node with an
 * empty log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { Core, type Input } from '../../src/core/core.js';
import { keygen } from '../../src/envelope/index.js';
import { openLog } from '../../src/store/index.js';
import { DIGEST, freePort, waitReady } from '../lib/cluster.js';
import { goal, median, round, table, type Ctx, type Figure } from '../lib/util.js';

async function writeLog(path: string, entries: number): Promise<number> {
  const core = new Core({
    self: 'r0', sign: () => { throw new Error('no statements here'); },
    config: { maxHops: 32, fanoutLimit: 1024, hopMarginMs: 200, leaseGraceMs: 60_000, defaultBudgetMs: 30_000, policy: () => 'automatic' },
  });
  const log = await openLog(path);
  let t = Date.now() - 3_600_000;
  let batch: Promise<unknown>[] = [];
  let n = 0;
  const put = async (input: Input): Promise<Input[]> => {
    const effects = core.handle(input, ++t);
    batch.push(log.append({ t, input }));
    n++;
    if (batch.length >= 1000) { await Promise.all(batch); batch = []; }
    return effects.filter((e) => e.type === 'send').map((e) => ({ type: 'delivered', key: (e as { key: string }).key }) as Input);
  };
  for (let e = 0; n < entries; e++) {
    const x = `x${e}`;
    await put({ type: 'execution', execution: x });
    for (let s = 1; s <= 30 && n < entries; s++) {
      await put({ type: 'checkpoint', execution: x, checkpoint: `${x}-k${s}`, seq: s, digest: DIGEST, reversibility: 'reversible' });
      if (s % 3 === 0 && n < entries) {
        for (const d of await put({ type: 'consumed', execution: x, producer: { agent: 'r1', execution: `y${e}`, checkpoint: `y${e}-k${s}`, seq: s } })) {
          if (n < entries) await put(d);
        }
      }
    }
  }
  await Promise.all(batch);
  await log.close();
  return n;
}

export async function run(ctx: Ctx): Promise<Figure> {
  const ENTRIES = 100_000;
  const REPS = ctx.full ? 5 : 2;
  const dir = mkdtempSync(join(tmpdir(), 'marp-bench-recovery-'));
  const cli = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  try {
    for (const n of ['r0', 'r1']) await keygen({ privatePath: join(dir, `${n}.private.jwk`), publicPath: join(dir, `${n}.jwks.json`) });
    writeFileSync(join(dir, 'token'), randomBytes(24).toString('base64url'));
    writeFileSync(join(dir, 'token.operator'), randomBytes(24).toString('base64url'));
    const config = async (name: string, data: string): Promise<{ file: string; url: string }> => {
      const peer = await freePort();
      const file = join(dir, `${name}.yaml`);
      writeFileSync(file, stringify({
        id: 'r0', data_dir: data, log_level: 'warn',
        peer_face: { host: '127.0.0.1', port: peer }, agent_face: { host: '127.0.0.1', port: await freePort(), token_file: './token' },
        keys: { private: './r0.private.jwk' }, peers: [{ id: 'r1', jwks: './r1.jwks.json' }],
      }));
      return { file, url: `http://127.0.0.1:${peer}` };
    };
    ctx.log(`recovery: writing a log of ${ENTRIES} entries`);
    const t0 = performance.now();
    mkdirSync(join(dir, 'big-data'));
    const n = await writeLog(join(dir, 'big-data', 'log'), ENTRIES);
    const writeMs = performance.now() - t0;
    const size = statSync(join(dir, 'big-data', 'log')).size;
    const big = await config('big', './big-data');
    const empty = await config('empty', './empty-data');
    const start = async (c: { file: string; url: string }): Promise<{ child: ChildProcess; ms: number }> => {
      const t = performance.now();
      const child = spawn(process.execPath, [...process.execArgv, cli, 'node', '--config', c.file], { stdio: ['ignore', 'ignore', 'inherit'] });
      const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`node exited (${code}) before ready`))));
      await Promise.race([waitReady(c.url, 120_000, 10), exited]);
      return { child, ms: performance.now() - t };
    };
    const kill = (child: ChildProcess): Promise<void> => new Promise((r) => { child.once('exit', () => r()); child.kill('SIGKILL'); });
    const bigMs: number[] = [];
    const emptyMs: number[] = [];
    // First start reads the log cold-ish (just written); then crash + restart REPS times.
    let s = await start(big);
    const firstMs = s.ms;
    for (let i = 0; i < REPS; i++) {
      await kill(s.child);
      s = await start(big);
      bigMs.push(s.ms);
      const e = await start(empty);
      emptyMs.push(e.ms);
      await kill(e.child);
    }
    await kill(s.child);
    const r = median(bigMs);
    const b = median(emptyMs);
    const results = { entries: n, logBytes: size, writeMs: round(writeMs, 0), firstStartMs: round(firstMs, 0), restartToReadyMs: bigMs.map((x) => round(x, 0)), emptyLogStartMs: emptyMs.map((x) => round(x, 0)), medianMs: round(r, 0), baselineMs: round(b, 0), replayMs: round(r - b, 0) };
    const markdown = [
      '### Crash recovery (restart to ready)',
      '',
      table(['log', 'restart to /readyz, median ms', 'of which beyond an empty-log start', 'runs'], [
        [`${n} entries, ${(size / 1e6).toFixed(1)} MB (SIGKILL, restart)`, round(r, 0), round(r - b, 0), bigMs.map((x) => round(x, 0)).join(', ')],
        ['baseline: empty log, same run', round(b, 0), 0, emptyMs.map((x) => round(x, 0)).join(', ')],
      ]),
      '',
      `No numeric goal in the issue; first start after writing the log: ${round(firstMs, 0)} ms. ${goal(undefined)}.`,
    ].join('\n');
    return { name: 'recovery', results, markdown, notes: ['node start includes loading TypeScript through tsx (same in the baseline)'] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
