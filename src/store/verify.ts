/** Offline verification of a log file (no lock taken, nothing modified). */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StoreError } from './errors.js';
import { toHex } from './format.js';
import { scanLog, type Damage, type LogEntry, type TornTail } from './scan.js';

export interface VerifyResult {
  /** True when every complete entry verifies (a torn tail alone is not damage). */
  readonly ok: boolean;
  /** Number of entries that verify. */
  readonly entries: number;
  /** Hash of the last verified entry (hex), null when there is none. */
  readonly head: string | null;
  /** First damage found; present iff !ok. */
  readonly firstBad?: Damage;
  /** An incomplete last entry that openLog would drop. */
  readonly tornTail?: TornTail;
}

export async function verifyLog(path: string): Promise<VerifyResult> {
  return (await readLog(path)).result;
}

/**
 * Read-only reader for offline tools (marp verify, marp export): the entries
 * that verify, in order, and the verification result. Unlike openLog it takes
 * no lock and never truncates a torn tail, so it is safe beside a running node.
 */
export async function readLog(path: string): Promise<{ result: VerifyResult; entries: LogEntry[] }> {
  const entries: LogEntry[] = [];
  const result = await scan(path, (e) => entries.push(e));
  return { result, entries };
}

async function scan(path: string, onEntry: (e: LogEntry) => void): Promise<VerifyResult> {
  const abs = resolve(path);
  let fh;
  try {
    fh = await open(abs, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StoreError('log_missing', `no log at ${abs}`, { cause: err });
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const r = await scanLog(fh, size, onEntry);
    const head = r.count === 0 ? null : toHex(r.head);
    if (r.bad) {
      const { code: _code, ...firstBad } = r.bad;
      return { ok: false, entries: r.count, head, firstBad };
    }
    return r.torn ? { ok: true, entries: r.count, head, tornTail: r.torn } : { ok: true, entries: r.count, head };
  } finally {
    await fh.close();
  }
}
