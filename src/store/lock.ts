/**
 * Single-writer lock: `<log>.lock` holds "<pid> <starttime>\n" of the owner.
 * The file is created atomically (written under a temporary name, then
 * hard-linked into place, which fails if the lock exists). A lock whose
 * owner is gone (no such pid, a different process start time, or this
 * process's pid without this process holding it, e.g. pid 1 after a
 * container restart) is stale and is taken over with a warning.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { StoreError } from './errors.js';

export interface StoreLogger {
  warn(details: object, message: string): void;
}

/** Locks held by this process (absolute lock paths). */
const held = new Set<string>();

/** Process start time from /proc (clock ticks since boot), or '' when unavailable. */
export function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces; fields after the closing paren are plain.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? '';
  } catch {
    return '';
  }
}

function alive(pid: number, start: string): boolean {
  if (pid === process.pid) return false; // a lock we hold is caught earlier via `held`
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTime(pid);
  return start === '' || now === '' || now === start;
}

function parse(text: string): { pid: number; start: string } | null {
  const m = /^(\d+)(?: (\d*))?\n?$/.exec(text);
  if (!m) return null;
  return { pid: Number(m[1]), start: m[2] ?? '' };
}

export async function acquireLock(lockPath: string, logger: StoreLogger): Promise<void> {
  if (held.has(lockPath)) {
    throw new StoreError('log_locked', `log is already open in this process (lock ${lockPath})`);
  }
  const content = `${process.pid} ${startTime(process.pid)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const tmp = `${lockPath}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, content, { flag: 'wx' });
    try {
      await link(tmp, lockPath);
      held.add(lockPath);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await unlink(tmp);
    }
    let text: string;
    try {
      text = await readFile(lockPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw err;
    }
    const owner = parse(text);
    if (owner && alive(owner.pid, owner.start)) {
      throw new StoreError('log_locked', `log is locked by live process ${owner.pid} (lock ${lockPath})`);
    }
    // Stale: move it aside atomically, and only delete it if it is still the
    // lock we judged stale (another opener may have replaced it meanwhile).
    const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
    try {
      await rename(lockPath, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const moved = await readFile(aside, 'utf8');
    if (moved === text) {
      logger.warn({ lock: lockPath, owner: text.trim() }, `removed stale log lock ${lockPath} (owner ${text.trim() || '?'} is gone)`);
    } else {
      await link(aside, lockPath).catch(() => undefined); // put a fresh lock back
    }
    await unlink(aside);
  }
  throw new StoreError('log_locked', `could not take the log lock ${lockPath}`);
}

export async function releaseLock(lockPath: string): Promise<void> {
  if (!held.delete(lockPath)) return;
  await unlink(lockPath).catch(() => undefined);
}
