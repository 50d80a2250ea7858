import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openLog, verifyLog } from '../../src/store/index.js';
import { captureLogger, logPath } from './helpers.js';

const child = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url));

/** Runs the child until it has acknowledged a random number of appends, then SIGKILLs it. */
function runAndKill(path: string, tag: string, killAfterMs: number): Promise<Map<number, number>> {
  return new Promise((resolve, reject) => {
    const acked = new Map<number, number>();
    const p = spawn(process.execPath, ['--import', 'tsx', child, path, tag], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    p.stdout.setEncoding('utf8');
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => (err += d));
    p.stdout.on('data', (d: string) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        if (line === 'ready') {
          timer ??= setTimeout(() => p.kill('SIGKILL'), killAfterMs);
          continue;
        }
        const [index, seq] = line.split(' ').map(Number);
        acked.set(index!, seq!);
      }
    });
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} ${signal}: ${err}`));
      else resolve(acked);
    });
  });
}

t.test('SIGKILL at random moments: every acknowledged append survives', async (t) => {
  const path = logPath(t.testdir());
  let total = 0;
  const iterations = 5;
  for (let i = 0; i < iterations; i++) {
    const tag = `run${i}`;
    const acked = await runAndKill(path, tag, 30 + Math.floor(Math.random() * 300));
    const logger = captureLogger();
    const log = await openLog(path, { logger });
    const entries = log.entries;
    let ok = true;
    for (const [index, seq] of acked) {
      const body = entries[index]?.body as { tag: string; seq: number } | undefined;
      if (body?.tag !== tag || body.seq !== seq) {
        ok = false;
        t.fail(`acknowledged entry ${index} (${tag} seq ${seq}) missing or different: ${JSON.stringify(body)}`);
      }
    }
    t.ok(ok, `run ${i}: all ${acked.size} acknowledged appends present (log has ${entries.length})`);
    t.ok(entries.length >= total + acked.size, 'no entry lost');
    total = entries.length;
    t.ok(logger.warnings.some((w) => /stale log lock/.test(w.message)), 'the dead child’s lock was taken over');
    await log.close();
    const v = await verifyLog(path);
    t.ok(v.ok, 'verifies');
    t.equal(v.entries, total);
  }
  t.ok(total > 0, `${total} entries written across ${iterations} crashes`);
});
