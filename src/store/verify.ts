/** Offline verification of a log file (no lock taken, nothing modified). */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StoreError } from './errors.js';
import { toHex } from './format.js';
import { scanLog, type Damage, type TornTail } from './scan.js';

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
    const scan = await scanLog(fh, size);
    const head = scan.count === 0 ? null : toHex(scan.head);
    if (scan.bad) {
      const { code: _code, ...firstBad } = scan.bad;
      return { ok: false, entries: scan.count, head, firstBad };
    }
    return scan.torn ? { ok: true, entries: scan.count, head, tornTail: scan.torn } : { ok: true, entries: scan.count, head };
  } finally {
    await fh.close();
  }
}
