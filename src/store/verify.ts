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

/** A statement held in a node's log, with the time its entry was written: its receipt time. */
export interface ReceivedStatement {
  /** Position of the entry in the log, 0-based. */
  readonly entry: number;
  /** Receipt time, NumericDate seconds (the entry's `t` is in milliseconds). */
  readonly receivedAt: number;
  readonly compact: string;
  /** Where in the entry: `statements[i]` of a received envelope, or `record` the node signed. */
  readonly where: string;
}

/**
 * The statements of a node log in log order (entry bodies `{t, input}` with
 * `input.statements[].compact` for a received envelope, `{t, record}` for a
 * record the node signed). An entry is written when its input is accepted,
 * so `t` is the receipt time that statement verification needs (draft
 * req-statement-receipt-time); a statement seen twice keeps its first time.
 */
export function receivedStatements(entries: readonly LogEntry[]): ReceivedStatement[] {
  const out: ReceivedStatement[] = [];
  for (const e of entries) {
    const b = e.body as { t?: unknown; input?: { statements?: unknown }; record?: unknown } | null;
    if (b === null || typeof b !== 'object' || typeof b.t !== 'number') continue;
    const receivedAt = Math.floor(b.t / 1000);
    const list = b.input?.statements;
    if (Array.isArray(list)) {
      list.forEach((s: { compact?: unknown }, i) => {
        if (typeof s?.compact === 'string') out.push({ entry: e.index, receivedAt, compact: s.compact, where: `statements[${i}]` });
      });
    }
    if (typeof b.record === 'string') out.push({ entry: e.index, receivedAt, compact: b.record, where: 'record' });
  }
  return out;
}

export type ReceivedResult =
  | { ok: true; count: number }
  | { ok: false; entry: number; where: string; detail: string };

/**
 * Check every statement of a log with `check(compact, receivedAt)` (which
 * throws if the signature fails or the key was not usable at that time);
 * the first failure names its entry.
 */
export function verifyReceived(entries: readonly LogEntry[], check: (compact: string, receivedAt: number) => unknown): ReceivedResult {
  const list = receivedStatements(entries);
  for (const s of list) {
    try {
      check(s.compact, s.receivedAt);
    } catch (err) {
      return { ok: false, entry: s.entry, where: s.where, detail: String((err as Error)?.message ?? err) };
    }
  }
  return { ok: true, count: list.length };
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
