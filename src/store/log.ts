/**
 * The node's durable log: append-only, hash-chained, one file per node.
 * Every append resolves only after its bytes are written and fdatasync'ed;
 * appends issued while a write+fsync is in flight are group-committed into
 * the next one, in call order.
 */
import { fdatasync as fdatasyncCb, write as writeCb } from 'node:fs';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { StoreError } from './errors.js';
import { MAX_PAYLOAD, encodeFrame, encodeHeader, toHex } from './format.js';
import { acquireLock, releaseLock, type StoreLogger } from './lock.js';
import { scanLog, type LogEntry } from './scan.js';

export type { LogEntry } from './scan.js';
export type { StoreLogger } from './lock.js';

/** The I/O used on the append path; injectable for tests. */
export interface StoreIO {
  /** pwrite: returns the number of bytes written (may be short). */
  write(fd: number, buf: Uint8Array, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
}

export const defaultIO: StoreIO = {
  write: (fd, buf, position) =>
    new Promise((res, rej) => writeCb(fd, buf, 0, buf.length, position, (err, n) => (err ? rej(err) : res(n)))),
  fdatasync: (fd) => new Promise((res, rej) => fdatasyncCb(fd, (err) => (err ? rej(err) : res()))),
};

export interface OpenOptions {
  /** Receives the torn-tail and stale-lock warnings (pino-compatible). Default: process.emitWarning. */
  logger?: StoreLogger;
  /** When given, entries are passed to it during verification instead of being kept in `entries`. */
  onEntry?: (entry: LogEntry) => void;
  io?: StoreIO;
}

export interface AppendResult {
  readonly index: number;
  /** Chain hash of the new entry, lowercase hex. */
  readonly hash: string;
}

export interface Log {
  readonly path: string;
  /** The entries found at open, in order (empty when `onEntry` was given). */
  readonly entries: readonly LogEntry[];
  /** Number of entries, including appends not yet durable. */
  readonly length: number;
  /** Last entry (durable or not), or null for an empty log. */
  readonly head: AppendResult | null;
  /** appends: accepted appends; commits: write+fdatasync rounds. */
  readonly stats: { readonly appends: number; readonly commits: number };
  append(body: unknown): Promise<AppendResult>;
  /** Waits for pending appends, closes the file and releases the lock. */
  close(): Promise<void>;
}

const defaultLogger: StoreLogger = {
  warn: (details, message) => process.emitWarning(`${message} ${JSON.stringify(details)}`, { code: 'MARP_STORE' }),
};

const encoder = new TextEncoder();

interface Pending {
  readonly bytes: Uint8Array;
  readonly result: AppendResult;
  resolve(r: AppendResult): void;
  reject(e: unknown): void;
}

async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Creates the file with its header atomically (temp file, fsync, rename, fsync dir). */
async function createLogFile(path: string): Promise<void> {
  const tmp = `${path}.creating`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(encodeHeader());
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}

async function openOrCreate(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await createLogFile(path);
  return open(path, 'r+');
}

class FileLog implements Log {
  readonly stats = { appends: 0, commits: 0 };
  private pending: Pending[] = [];
  private state: 'open' | 'closing' | 'closed' | 'failed' = 'open';
  private flushing: Promise<void> | null = null;
  private failure: unknown = null;

  constructor(
    readonly path: string,
    private readonly lockPath: string,
    private readonly fh: FileHandle,
    private readonly io: StoreIO,
    readonly entries: LogEntry[],
    public length: number,
    private prev: Uint8Array,
    private position: number,
  ) {
    this.head = length === 0 ? null : { index: length - 1, hash: toHex(prev) };
  }

  head: AppendResult | null;

  append(body: unknown): Promise<AppendResult> {
    if (this.state === 'failed') {
      return Promise.reject(new StoreError('log_failed', `log ${this.path} is unusable after an I/O failure`, { cause: this.failure }));
    }
    if (this.state !== 'open') return Promise.reject(new StoreError('log_closed', `log ${this.path} is closed`));
    let text: string | undefined;
    try {
      text = JSON.stringify(body);
    } catch (err) {
      return Promise.reject(new StoreError('entry_invalid', `entry is not serialisable as JSON: ${(err as Error).message}`, { cause: err }));
    }
    if (typeof text !== 'string') return Promise.reject(new StoreError('entry_invalid', 'entry is not serialisable as JSON'));
    const payload = encoder.encode(text);
    if (payload.length > MAX_PAYLOAD) {
      return Promise.reject(new StoreError('entry_invalid', `entry of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`));
    }
    const { bytes, hash } = encodeFrame(this.prev, payload);
    const result: AppendResult = { index: this.length, hash: toHex(hash) };
    this.prev = hash;
    this.length++;
    this.head = result;
    this.stats.appends++;
    return new Promise<AppendResult>((resolve, reject) => {
      this.pending.push({ bytes, result, resolve, reject });
      // Start on a microtask so appends issued in the same tick share a commit.
      if (!this.flushing) this.flushing = Promise.resolve().then(() => this.flush());
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      const buf = batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((p) => p.bytes));
      try {
        let done = 0;
        while (done < buf.length) done += await this.io.write(this.fh.fd, buf.subarray(done), this.position + done);
        await this.io.fdatasync(this.fh.fd);
      } catch (err) {
        // After a failed write or fsync the file content is unknown (and a
        // retried fsync may falsely succeed): refuse everything from here on.
        this.state = 'failed';
        this.failure = err;
        const rest = this.pending;
        this.pending = [];
        const e = new StoreError('log_io', `append to ${this.path} failed: ${(err as Error).message}`, { cause: err });
        for (const p of [...batch, ...rest]) p.reject(e);
        break;
      }
      this.position += buf.length;
      this.stats.commits++;
      for (const p of batch) p.resolve(p.result);
    }
    this.flushing = null;
  }

  async close(): Promise<void> {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'open') this.state = 'closing';
    await this.flushing;
    this.state = 'closed';
    try {
      await this.fh.close();
    } finally {
      await releaseLock(this.lockPath);
    }
  }
}

/**
 * Opens (creating if absent) the log at `path`, takes its lock, reads and
 * verifies every entry. A torn last entry is truncated away with a warning;
 * any other damage throws StoreError('log_corrupt' | 'log_version').
 */
export async function openLog(path: string, options: OpenOptions = {}): Promise<Log> {
  const abs = resolve(path);
  const logger = options.logger ?? defaultLogger;
  const lockPath = `${abs}.lock`;
  await mkdir(dirname(abs), { recursive: true });
  await acquireLock(lockPath, logger);
  let fh: FileHandle | undefined;
  try {
    // A leftover from a crash during creation holds no entries.
    await unlink(`${abs}.creating`).catch(() => undefined);
    fh = await openOrCreate(abs);
    const { size } = await fh.stat();
    const entries: LogEntry[] = [];
    const scan = await scanLog(fh, size, options.onEntry ?? ((e) => entries.push(e)));
    if (scan.bad) {
      throw new StoreError(
        scan.bad.code,
        `log ${abs} is damaged at byte offset ${scan.bad.offset}, entry index ${scan.bad.index}: ${scan.bad.reason}; refusing to open`,
        { offset: scan.bad.offset, index: scan.bad.index },
      );
    }
    if (scan.torn) {
      await fh.truncate(scan.end);
      await fh.datasync();
      logger.warn(
        { path: abs, offset: scan.torn.offset, droppedBytes: scan.torn.bytes, index: scan.count, reason: scan.torn.reason },
        `dropped torn last entry of ${abs}: ${scan.torn.bytes} bytes at byte offset ${scan.torn.offset} (entry index ${scan.count}, ${scan.torn.reason}); it was never acknowledged`,
      );
    }
    return new FileLog(abs, lockPath, fh, options.io ?? defaultIO, entries, scan.count, scan.head, scan.end);
  } catch (err) {
    await fh?.close();
    await releaseLock(lockPath);
    throw err;
  }
}
