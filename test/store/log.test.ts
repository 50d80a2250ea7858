import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultIO, openLog, verifyLog, StoreError, MAX_PAYLOAD, type StoreIO } from '../../src/store/index.js';
import { HEADER_SIZE } from '../../src/store/format.js';
import { startTime } from '../../src/store/lock.js';
import { captureLogger, instrumentedIO, logPath, settle } from './helpers.js';

t.test('round trip: append, close, reopen, entries and hashes', async (t) => {
  const path = logPath(t.testdir());
  const log = await openLog(path);
  t.equal(log.length, 0);
  t.equal(log.head, null);
  t.same(log.entries, []);
  t.equal(readFileSync(path).length, HEADER_SIZE, 'new file holds just the header');
  const bodies = [{ kind: 'execution', id: 'e1' }, 'text', 42, null, [1, 2, { é: 'ü' }], true];
  const results = [];
  for (const b of bodies) results.push(await log.append(b));
  t.same(results.map((r) => r.index), [0, 1, 2, 3, 4, 5]);
  t.match(results[0]!.hash, /^[0-9a-f]{64}$/);
  t.equal(new Set(results.map((r) => r.hash)).size, bodies.length, 'hashes differ');
  t.same(log.head, results[5]);
  t.equal(log.length, 6);
  t.equal(log.stats.appends, 6);
  t.equal(log.stats.commits, 6);
  await log.close();
  await log.close(); // idempotent

  const again = await openLog(path);
  t.same(again.entries.map((e) => e.body), bodies);
  t.same(again.entries.map((e) => e.index), [0, 1, 2, 3, 4, 5]);
  t.same(again.entries.map((e) => e.hash), results.map((r) => r.hash));
  t.equal(again.entries[0]!.offset, HEADER_SIZE);
  t.same(again.head, results[5]);
  const next = await again.append({ after: 'reopen' });
  t.equal(next.index, 6);
  await again.close();

  const v = await verifyLog(path);
  t.same(v, { ok: true, entries: 7, head: next.hash });
});

t.test('onEntry streams entries instead of keeping them', async (t) => {
  const path = logPath(t.testdir());
  const log = await openLog(path);
  for (let i = 0; i < 5; i++) await log.append({ i });
  await log.close();
  const seen: unknown[] = [];
  const again = await openLog(path, { onEntry: (e) => seen.push(e.body) });
  t.same(again.entries, []);
  t.same(seen, [0, 1, 2, 3, 4].map((i) => ({ i })));
  t.equal(again.length, 5);
  await again.close();
});

t.test('creates missing parent directories; removes a leftover half-created file', async (t) => {
  const dir = t.testdir({ 'log.creating': 'garbage' });
  const path = join(dir, 'a', 'b', 'log');
  const log = await openLog(path);
  await log.append(1);
  await log.close();
  t.ok(existsSync(path));
  const log2 = await openLog(join(dir, 'log'));
  t.notOk(existsSync(join(dir, 'log.creating')));
  await log2.close();
});

t.test('concurrent appends keep call order and are group-committed', async (t) => {
  const path = logPath(t.testdir());
  const io = instrumentedIO();
  const log = await openLog(path, { io });
  const N = 500;
  const acks: number[] = [];
  const ps: Promise<unknown>[] = [];
  // Issue appends over several ticks so that many arrive while an fsync is in flight.
  for (let i = 0; i < N; i++) {
    ps.push(log.append({ i }).then((r) => { t.equal(r.index, i); acks.push(r.index); }));
    if (i % 50 === 49) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(ps);
  t.same(acks, [...Array(N).keys()], 'promises resolve in append order');
  t.ok(io.fsyncs < N / 10, `fsyncs ${io.fsyncs} << ${N}`);
  t.equal(io.fsyncs, log.stats.commits);
  await log.close();
  const again = await openLog(path);
  t.same(again.entries.map((e) => (e.body as { i: number }).i), [...Array(N).keys()]);
  await again.close();
});

t.test('appends issued in one tick share one commit', async (t) => {
  const path = logPath(t.testdir());
  const io = instrumentedIO();
  const log = await openLog(path, { io });
  await Promise.all([...Array(64).keys()].map((i) => log.append(i)));
  t.equal(io.fsyncs, 1);
  t.equal(io.writes, 1);
  await log.close();
});

t.test('append resolves only after fdatasync; later appends batch behind it', async (t) => {
  const path = logPath(t.testdir());
  const io = instrumentedIO({ hold: true });
  const log = await openLog(path, { io });
  let done1 = false;
  const p1 = log.append('first').then((r) => { done1 = true; return r; });
  await settle();
  t.equal(io.writes, 1, 'bytes written');
  t.equal(io.held.length, 1, 'fsync in flight');
  t.notOk(done1, 'still pending while fsync is in flight');
  const rest = [log.append('second'), log.append('third'), log.append('fourth')];
  let restDone = 0;
  for (const p of rest) void p.then(() => restDone++);
  await settle();
  t.equal(io.writes, 1, 'no second write while the first fsync is in flight');
  io.releaseAll();
  t.same(await p1, { index: 0, hash: (await p1).hash });
  await settle();
  t.equal(io.writes, 2, 'the three waiting appends went out in one write');
  t.equal(io.held.length, 1);
  t.equal(restDone, 0, 'not acknowledged before their fsync');
  io.releaseAll();
  const r = await Promise.all(rest);
  t.same(r.map((x) => x.index), [1, 2, 3]);
  t.equal(io.fsyncs, 2);
  await log.close();
});

t.test('close waits for pending appends', async (t) => {
  const path = logPath(t.testdir());
  const io = instrumentedIO({ hold: true });
  const log = await openLog(path, { io });
  const p = log.append('x');
  await settle();
  let closed = false;
  const c = log.close().then(() => { closed = true; });
  await t.rejects(log.append('y'), { code: 'log_closed' });
  await settle();
  t.notOk(closed);
  io.releaseAll();
  await c;
  t.same((await p).index, 0);
  await t.rejects(log.append('z'), { code: 'log_closed' });
  t.same((await verifyLog(path)).entries, 1);
});

t.test('short writes are continued', async (t) => {
  const path = logPath(t.testdir());
  const io: StoreIO = {
    write: (fd, buf, pos) => defaultIO.write(fd, buf.subarray(0, Math.min(7, buf.length)), pos),
    fdatasync: defaultIO.fdatasync,
  };
  const log = await openLog(path, { io });
  await Promise.all([log.append({ long: 'a'.repeat(100) }), log.append('b')]);
  await log.close();
  const again = await openLog(path);
  t.same(again.entries.map((e) => e.body), [{ long: 'a'.repeat(100) }, 'b']);
  await again.close();
});

t.test('a failed fsync rejects the batch and poisons the handle', async (t) => {
  const path = logPath(t.testdir());
  let fail = false;
  let release: (() => void) | undefined;
  const io: StoreIO = {
    write: defaultIO.write,
    async fdatasync(fd) {
      if (!fail) return defaultIO.fdatasync(fd);
      await new Promise<void>((r) => (release = r));
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    },
  };
  const log = await openLog(path, { io });
  await log.append('ok');
  fail = true;
  const a = log.append('lost-1');
  await settle();
  const b = log.append('lost-2'); // queued behind the failing commit
  release!();
  await t.rejects(a, { code: 'log_io', name: 'StoreError' });
  await t.rejects(b, { code: 'log_io' });
  const err = await log.append('later').catch((e: unknown) => e);
  t.ok(err instanceof StoreError);
  t.equal((err as StoreError).code, 'log_failed');
  t.equal(((err as StoreError).cause as Error).message, 'EIO: i/o error');
  await log.close();
  const v = await verifyLog(path);
  t.ok(v.ok);
  t.ok(v.entries >= 1);
});

t.test('a failed write rejects too', async (t) => {
  const path = logPath(t.testdir());
  const io: StoreIO = {
    write: () => Promise.reject(new Error('ENOSPC')),
    fdatasync: defaultIO.fdatasync,
  };
  const log = await openLog(path, { io });
  await t.rejects(log.append('x'), { code: 'log_io', message: /ENOSPC/ });
  await log.close();
  t.same((await verifyLog(path)).entries, 0);
});

t.test('invalid entries are refused without touching the chain', async (t) => {
  const path = logPath(t.testdir());
  const log = await openLog(path);
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await t.rejects(log.append(cyclic), { code: 'entry_invalid' });
  await t.rejects(log.append(10n), { code: 'entry_invalid' });
  await t.rejects(log.append(undefined), { code: 'entry_invalid' });
  await t.rejects(log.append(() => 1), { code: 'entry_invalid' });
  await t.rejects(log.append('x'.repeat(MAX_PAYLOAD)), { code: 'entry_invalid' });
  t.equal(log.length, 0);
  t.same(await log.append('fine'), { index: 0, hash: log.head!.hash });
  await log.close();
  t.same(await verifyLog(path), { ok: true, entries: 1, head: (await verifyLog(path)).head });
});

t.test('lock: a second open is refused while the first is open', async (t) => {
  const path = logPath(t.testdir());
  const log = await openLog(path);
  await t.rejects(openLog(path), { code: 'log_locked', name: 'StoreError' });
  await t.rejects(openLog(join(path, '..', 'log')), { code: 'log_locked' }, 'same file by another spelling');
  await log.close();
  t.notOk(existsSync(`${path}.lock`), 'lock released');
  const again = await openLog(path);
  await again.close();
});

t.test('lock: a live process holding the lock refuses the open', async (t) => {
  const path = logPath(t.testdir());
  writeFileSync(`${path}.lock`, `${process.ppid} ${startTime(process.ppid)}\n`);
  await t.rejects(openLog(path), { code: 'log_locked', message: new RegExp(`process ${process.ppid}`) });
  writeFileSync(`${path}.lock`, `${process.ppid}\n`);
  await t.rejects(openLog(path), { code: 'log_locked' }, 'no start time recorded: trust the pid');
  t.ok(existsSync(`${path}.lock`), 'foreign lock left alone');
});

t.test('lock: stale locks are taken over with a warning', async (t) => {
  const path = logPath(t.testdir());
  const cases = {
    'dead pid': '999999999 123\n',
    'same pid, previous incarnation (container restart)': `${process.pid} 1\n`,
    'pid reused by another process': `${process.ppid} 1\n`,
    'unreadable content': '',
  };
  for (const [name, content] of Object.entries(cases)) {
    writeFileSync(`${path}.lock`, content);
    const logger = captureLogger();
    const log = await openLog(path, { logger });
    t.equal(logger.warnings.length, 1, name);
    t.match(logger.warnings[0]!.message, /stale log lock/, name);
    t.equal(readFileSync(`${path}.lock`, 'utf8').split(' ')[0], String(process.pid), `${name}: now ours`);
    await log.close();
  }
});

t.test('startTime of a process that does not exist is empty', async (t) => {
  t.equal(startTime(999999999), '');
  t.match(startTime(process.pid), /^\d*$/);
});

t.test('default logger emits a process warning', async (t) => {
  const path = logPath(t.testdir());
  writeFileSync(`${path}.lock`, '999999999\n');
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const log = await openLog(path);
  await log.close();
  await settle();
  process.off('warning', onWarning);
  t.ok(warnings.some((w) => /stale log lock/.test(w.message)));
});
