// Race and error paths that need injected failures.
import t, { type Test } from 'tap';
import * as realFs from 'node:fs/promises';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultIO, verifyLog } from '../../src/store/index.js';
import { equalBytes } from '../../src/store/format.js';
import { scanLog } from '../../src/store/scan.js';
import { captureLogger, logPath } from './helpers.js';

type LockModule = typeof import('../../src/store/lock.js');

const enoent = () => Object.assign(new Error('ENOENT: gone'), { code: 'ENOENT' });
const eacces = () => Object.assign(new Error('EACCES: denied'), { code: 'EACCES' });

/** Imports lock.ts with some node:fs/promises functions replaced. */
async function lockWith(t: Test, overrides: Partial<typeof realFs>): Promise<LockModule> {
  return t.mockImport<LockModule>('../../src/store/lock.js', { 'node:fs/promises': { ...realFs, ...overrides } });
}

t.test('lock released between EEXIST and reading it: retry', async (t) => {
  const dir = t.testdir();
  const lock = `${logPath(dir)}.lock`;
  await writeFile(lock, '999999999\n');
  let calls = 0;
  const m = await lockWith(t, {
    readFile: (async (p: string, o: unknown) => (p === lock && calls++ === 0 ? Promise.reject(enoent()) : realFs.readFile(p, o as 'utf8'))) as typeof realFs.readFile,
  });
  const logger = captureLogger();
  await m.acquireLock(lock, logger);
  t.equal(calls, 2);
  t.equal(logger.warnings.length, 1);
  await m.releaseLock(lock);
  await m.releaseLock(lock); // not held any more: no-op
});

t.test('unreadable lock file: error propagates', async (t) => {
  const lock = `${logPath(t.testdir())}.lock`;
  await writeFile(lock, '999999999\n');
  const m = await lockWith(t, {
    readFile: (async (p: string, o: unknown) => (p === lock ? Promise.reject(eacces()) : realFs.readFile(p, o as 'utf8'))) as typeof realFs.readFile,
  });
  await t.rejects(m.acquireLock(lock, captureLogger()), { code: 'EACCES' });
});

t.test('stale lock removed by someone else before our rename: retry', async (t) => {
  const lock = `${logPath(t.testdir())}.lock`;
  await writeFile(lock, '999999999\n');
  let calls = 0;
  const m = await lockWith(t, {
    rename: (async (a: string, b: string) => (calls++ === 0 ? Promise.reject(enoent()) : realFs.rename(a, b))) as typeof realFs.rename,
  });
  await m.acquireLock(lock, captureLogger());
  t.equal(calls, 2);
  await m.releaseLock(lock);
});

t.test('rename failing otherwise: error propagates', async (t) => {
  const lock = `${logPath(t.testdir())}.lock`;
  await writeFile(lock, '999999999\n');
  const m = await lockWith(t, { rename: (async () => Promise.reject(eacces())) as typeof realFs.rename });
  await t.rejects(m.acquireLock(lock, captureLogger()), { code: 'EACCES' });
});

t.test('lock replaced between judging it stale and moving it aside: put back', async (t) => {
  const lock = `${logPath(t.testdir())}.lock`;
  await writeFile(lock, '999999999\n');
  let swapped = false;
  const m = await lockWith(t, {
    readFile: (async (p: string, o: unknown) => {
      if (p.includes('.stale.') && !swapped) {
        swapped = true;
        return '12345 fresh\n';
      }
      return realFs.readFile(p, o as 'utf8');
    }) as typeof realFs.readFile,
  });
  const logger = captureLogger();
  await m.acquireLock(lock, logger);
  t.ok(swapped);
  t.equal(logger.warnings.length, 1, 'one removal warned about, after the put-back');
  await m.releaseLock(lock);
});

t.test('lock never obtainable: gives up', async (t) => {
  const lock = `${logPath(t.testdir())}.lock`;
  const m = await lockWith(t, {
    link: (async () => Promise.reject(Object.assign(new Error('EEXIST'), { code: 'EEXIST' }))) as typeof realFs.link,
    readFile: (async () => Promise.reject(enoent())) as unknown as typeof realFs.readFile,
  });
  await t.rejects(m.acquireLock(lock, captureLogger()), { code: 'log_locked', message: /could not take/ });
});

t.test('link failing otherwise: error propagates and the temp file is removed', async (t) => {
  const dir = t.testdir();
  const lock = `${logPath(dir)}.lock`;
  const m = await lockWith(t, { link: (async () => Promise.reject(eacces())) as typeof realFs.link });
  await t.rejects(m.acquireLock(lock, captureLogger()), { code: 'EACCES' });
  t.same(await realFs.readdir(dir), []);
});

t.test('default I/O reports errors', async (t) => {
  await t.rejects(defaultIO.write(987654, new Uint8Array(1), 0), { code: 'EBADF' });
  await t.rejects(defaultIO.fdatasync(987654), { code: 'EBADF' });
});

t.test('verifyLog propagates errors other than a missing file', async (t) => {
  const dir = t.testdir({ file: 'x' });
  await t.rejects(verifyLog(join(dir, 'file', 'log')), { code: 'ENOTDIR' });
});

t.test('scan reports a file that shrinks while being read', async (t) => {
  const dir = t.testdir({ log: 'MARPLOG\0' });
  const fh = await open(join(dir, 'log'), 'r');
  await t.rejects(scanLog(fh, 100), /unexpected end of file at 8/);
  await fh.close();
});

t.test('equalBytes with different lengths', async (t) => {
  t.notOk(equalBytes(new Uint8Array(1), new Uint8Array(2)));
  t.ok(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
});
