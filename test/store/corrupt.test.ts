import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLog, verifyLog, StoreError, type LogEntry } from '../../src/store/index.js';
import { GENESIS, HEADER_SIZE, encodeFrame, encodeHeader } from '../../src/store/format.js';
import { captureLogger, logPath } from './helpers.js';

const BODIES = [{ n: 0, kind: 'execution' }, { n: 1, pad: 'x'.repeat(40) }, { n: 2, s: 'middle' }, { n: 3 }, { n: 4, last: true }];

/** Writes a fresh 5-entry log; returns its bytes and entries (offsets). */
async function build(dir: string): Promise<{ path: string; file: Buffer; entries: LogEntry[] }> {
  const path = logPath(dir);
  const log = await openLog(path);
  for (const b of BODIES) await log.append(b);
  await log.close();
  const again = await openLog(path);
  const entries = [...again.entries];
  await again.close();
  return { path, file: readFileSync(path), entries };
}

function end(file: Buffer, entries: LogEntry[], i: number): number {
  return i + 1 < entries.length ? entries[i + 1]!.offset : file.length;
}

/** Asserts the open is refused naming offset and index, the file is untouched, and verifyLog agrees. */
async function refused(t: Test, path: string, offset: number, index: number, reason: RegExp, code = 'log_corrupt') {
  const before = readFileSync(path);
  const err = await openLog(path).then(
    async (l) => { await l.close(); return null; },
    (e: unknown) => e,
  );
  t.ok(err instanceof StoreError, 'refused with a StoreError');
  const e = err as StoreError;
  t.equal(e.code, code);
  t.equal(e.offset, offset, 'offset');
  t.equal(e.index, index, 'index');
  t.match(e.message, `byte offset ${offset}`);
  t.match(e.message, `entry index ${index}`);
  t.match(e.message, reason);
  t.same(readFileSync(path), before, 'file not modified');
  t.notOk(existsSync(`${path}.lock`), 'lock released');
  const v = await verifyLog(path);
  t.equal(v.ok, false);
  t.equal(v.entries, index);
  t.same(v.firstBad && { index: v.firstBad.index, offset: v.firstBad.offset }, { index, offset });
  t.match(v.firstBad?.reason, reason);
}

t.test('torn last entry at every byte position is dropped with a warning', async (t) => {
  const dir = t.testdir();
  const { path, file, entries } = await build(dir);
  const last = entries[4]!;
  t.ok(file.length - last.offset > 40);
  let cases = 0;
  for (let cut = last.offset + 1; cut < file.length; cut++) {
    writeFileSync(path, file.subarray(0, cut));
    const v = await verifyLog(path);
    t.equal(v.ok, true);
    t.equal(v.entries, 4);
    t.same(v.tornTail && { offset: v.tornTail.offset, bytes: v.tornTail.bytes }, { offset: last.offset, bytes: cut - last.offset });

    const logger = captureLogger();
    const log = await openLog(path, { logger });
    t.equal(logger.warnings.length, 1);
    const w = logger.warnings[0]!;
    t.equal(w.details.offset, last.offset);
    t.equal(w.details.droppedBytes, cut - last.offset);
    t.match(w.message, `byte offset ${last.offset}`);
    t.match(w.message, `${cut - last.offset} bytes`);
    t.same(log.entries.map((e) => e.body), BODIES.slice(0, 4), 'earlier entries intact');
    t.same(log.head, { index: 3, hash: entries[3]!.hash });
    t.equal(readFileSync(path).length, last.offset, 'truncated to the last complete entry');
    const r = await log.append({ after: cut });
    t.equal(r.index, 4);
    await log.close();
    t.same(await verifyLog(path), { ok: true, entries: 5, head: r.hash });
    cases++;
  }
  t.equal(cases, file.length - last.offset - 1);
});

t.test('a torn batch of several unacknowledged entries is dropped from its first partial frame', async (t) => {
  const { path, file, entries } = await build(t.testdir());
  // Cut inside entry 3: entries 3 and 4 were one unacknowledged write.
  writeFileSync(path, file.subarray(0, entries[3]!.offset + 5));
  const logger = captureLogger();
  const log = await openLog(path, { logger });
  t.equal(log.length, 3);
  t.equal(logger.warnings[0]!.details.offset, entries[3]!.offset);
  t.match(logger.warnings[0]!.message, /partial frame header/);
  await log.close();
});

t.test('a zero-filled tail (file extended, data never written) is a torn tail', async (t) => {
  const { path, file } = await build(t.testdir());
  for (const n of [3, 8, 100, 5000]) {
    writeFileSync(path, Buffer.concat([file, Buffer.alloc(n)]));
    const logger = captureLogger();
    const log = await openLog(path, { logger });
    t.equal(log.length, 5);
    t.equal(logger.warnings[0]!.details.droppedBytes, n);
    t.equal(logger.warnings[0]!.details.offset, file.length);
    await log.close();
    t.same(readFileSync(path), file);
  }
});

t.test('an empty log with a torn first entry', async (t) => {
  const path = logPath(t.testdir());
  const frame = encodeFrame(GENESIS, Buffer.from('{"a":1}')).bytes;
  writeFileSync(path, Buffer.concat([encodeHeader(), frame.subarray(0, 10)]));
  const logger = captureLogger();
  const log = await openLog(path, { logger });
  t.equal(log.length, 0);
  t.equal(log.head, null);
  t.equal(logger.warnings[0]!.details.offset, HEADER_SIZE);
  await log.close();
  t.same(await verifyLog(path), { ok: true, entries: 0, head: null });
});

t.test('corruption is refused with offset and index', async (t) => {
  const { path, file, entries } = await build(t.testdir());
  const e = (i: number) => entries[i]!;
  const mutate = (f: (b: Buffer) => Buffer | void) => {
    const b = Buffer.from(file);
    writeFileSync(path, f(b) ?? b);
  };

  t.test('payload byte altered in a middle entry', async (t) => {
    mutate((b) => { b[e(2).offset + 8 + 3]! ^= 0x01; });
    await refused(t, path, e(2).offset, 2, /hash mismatch/);
  });
  t.test('hash byte altered in a middle entry', async (t) => {
    mutate((b) => { b[e(2).offset - 1]! ^= 0x80; }); // last hash byte of entry 1
    await refused(t, path, e(1).offset, 1, /hash mismatch/);
  });
  t.test('hash of the complete last entry altered (not a torn write)', async (t) => {
    mutate((b) => { b[b.length - 1]! ^= 0xff; });
    await refused(t, path, e(4).offset, 4, /hash mismatch/);
  });
  t.test('payload of the complete last entry altered', async (t) => {
    mutate((b) => { b[e(4).offset + 9]! ^= 0x20; });
    await refused(t, path, e(4).offset, 4, /hash mismatch/);
  });
  t.test('length of the last entry altered to point beyond EOF (not a torn write)', async (t) => {
    mutate((b) => { b.writeUInt32BE(b.readUInt32BE(e(4).offset) + 1000, e(4).offset); });
    await refused(t, path, e(4).offset, 4, /frame header check failed/);
  });
  t.test('length of a middle entry altered', async (t) => {
    mutate((b) => { b[e(1).offset + 3]! ^= 0x04; });
    await refused(t, path, e(1).offset, 1, /frame header check failed/);
  });
  t.test('length zero', async (t) => {
    mutate((b) => { b.writeUInt32BE(0, e(3).offset); });
    await refused(t, path, e(3).offset, 3, /invalid frame length 0/);
  });
  t.test('length beyond the maximum', async (t) => {
    mutate((b) => { b.writeUInt32BE(0xffffffff, e(3).offset); });
    await refused(t, path, e(3).offset, 3, /invalid frame length 4294967295/);
  });
  t.test('length check bytes altered', async (t) => {
    mutate((b) => { b[e(0).offset + 5]! ^= 0x10; });
    await refused(t, path, e(0).offset, 0, /frame header check failed/);
  });
  t.test('two entries swapped', async (t) => {
    mutate((b) => Buffer.concat([
      b.subarray(0, e(1).offset), b.subarray(e(2).offset, e(3).offset), b.subarray(e(1).offset, e(2).offset), b.subarray(e(3).offset),
    ]));
    await refused(t, path, e(1).offset, 1, /frame header check failed/);
  });
  t.test('a whole middle entry deleted', async (t) => {
    mutate((b) => Buffer.concat([b.subarray(0, e(2).offset), b.subarray(e(3).offset)]));
    await refused(t, path, e(2).offset, 2, /frame header check failed/);
  });
  for (const n of [1, 7, 33, 60]) {
    t.test(`${n} bytes deleted inside a non-last entry`, async (t) => {
      const at = e(1).offset + 12;
      t.ok(at + n < end(file, entries, 1) + 40);
      mutate((b) => Buffer.concat([b.subarray(0, at), b.subarray(at + n)]));
      await refused(t, path, e(1).offset, 1, /hash mismatch|frame header/);
    });
  }
  t.test('bytes deleted inside the header of a non-last entry', async (t) => {
    mutate((b) => Buffer.concat([b.subarray(0, e(3).offset + 2), b.subarray(e(3).offset + 5)]));
    await refused(t, path, e(3).offset, 3, /frame header check failed|invalid frame length/);
  });
  t.test('garbage appended after the last entry', async (t) => {
    mutate((b) => Buffer.concat([b, Buffer.from('this is not a frame at all')]));
    await refused(t, path, file.length, 5, /frame header check failed|invalid frame length/);
  });
  t.test('non-zero garbage in a zero tail', async (t) => {
    mutate((b) => { const z = Buffer.alloc(64); z[40] = 1; return Buffer.concat([b, z]); });
    await refused(t, path, file.length, 5, /invalid frame length 0/);
  });
  t.test('bad magic', async (t) => {
    mutate((b) => { b[0] = 0x58; });
    await refused(t, path, 0, 0, /bad magic/);
  });
  t.test('file shorter than the header', async (t) => {
    mutate((b) => b.subarray(0, 10));
    await refused(t, path, 0, 0, /too short/);
  });
  t.test('empty file', async (t) => {
    mutate(() => Buffer.alloc(0));
    await refused(t, path, 0, 0, /too short/);
  });
  t.test('unknown version', async (t) => {
    mutate((b) => { b.writeUInt32BE(2, 8); });
    await refused(t, path, 8, 0, /unsupported format version 2/, 'log_version');
  });
  t.test('unknown flags', async (t) => {
    mutate((b) => { b.writeUInt32BE(1, 12); });
    await refused(t, path, 8, 0, /flags 1/, 'log_version');
  });
  t.end();
});

t.test('a frame with a valid chain but a payload that is not JSON is refused', async (t) => {
  const path = logPath(t.testdir());
  for (const payload of [Buffer.from('not json'), Buffer.from([0xff, 0xfe, 0x31])]) {
    const good = encodeFrame(GENESIS, Buffer.from('"ok"'));
    const bad = encodeFrame(good.hash, payload);
    writeFileSync(path, Buffer.concat([encodeHeader(), good.bytes, bad.bytes]));
    await refused(t, path, HEADER_SIZE + good.bytes.length, 1, /not UTF-8 JSON/);
  }
});

t.test('verifyLog on a missing file / openLog on a directory', async (t) => {
  const dir = t.testdir();
  await t.rejects(verifyLog(join(dir, 'nope')), { code: 'log_missing' });
  mkdirSync(join(dir, 'isdir'));
  await t.rejects(openLog(join(dir, 'isdir')), { code: 'EISDIR' });
  t.notOk(existsSync(join(dir, 'isdir.lock')), 'lock released after a failed open');
  await t.rejects(verifyLog(join(dir, 'isdir')));
});

t.test('large entries spanning read chunks verify', async (t) => {
  const path = logPath(t.testdir());
  const log = await openLog(path);
  const big = 'y'.repeat(1_500_000);
  await log.append({ big });
  await log.append({ small: 1 });
  await log.append({ big });
  await log.close();
  const v = await verifyLog(path);
  t.equal(v.entries, 3);
  const again = await openLog(path);
  t.equal((again.entries[2]!.body as { big: string }).big.length, big.length);
  await again.close();
});
