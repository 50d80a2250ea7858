/**
 * Replay protection across a restart. The in-memory replay cache is lost on
 * restart, so the node refuses (iat_stale) every envelope whose iat is not
 * later than any envelope it may have accepted before:
 *
 * - with a watermark store (recommended): the highest iat accepted so far is
 *   persisted (durably, before the accept returns) whenever it grows, at most
 *   once per distinct second; after a restart envelopes need
 *   iat > watermark. Senders re-sign retransmissions with a fresh iat, so
 *   nothing is lost and there is no blackout.
 * - without one, or if the stored watermark is missing (state lost): the
 *   floor is start time + skew, since an envelope accepted just before the
 *   restart may carry an iat up to `skew` seconds in the future. Peers'
 *   retries succeed once the skew has passed. `lost` tells the node so that it
 *   can enter the degraded security state if it expected a watermark.
 * - a watermark lower than the highest iat the log shows accepted belongs to
 *   an older state (a watermark restored from a backup): it counts as lost,
 *   since the envelopes accepted after it could be replayed (draft
 *   req-ops-restore). A log and watermark restored together cannot be told
 *   apart from a quiet node: the operator deletes the watermark on restore.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ProtocolError } from '../errors.js';

export interface WatermarkStore {
  /** The persisted watermark, or undefined if there is none. */
  load(): number | undefined;
  /** Persist durably before the returned promise resolves. */
  save(iat: number): Promise<void>;
}

/*
 * File format: two fixed 32-octet slots written alternately in place
 * (pwrite + fdatasync: no new inode, no rename, off the event loop), each
 * "<iat, 15 digits> <first 15 hex of SHA-256 of those digits>\n". A write torn by
 * a crash damages one slot; the other still holds the previous value.
 */
const SLOT = 32;
const slot = (iat: number): Buffer => {
  const digits = String(iat).padStart(15, '0');
  return Buffer.from(`${digits} ${createHash('sha256').update(digits).digest('hex').slice(0, 15)}\n`, 'latin1');
};
const SLOT_RE = /^(\d{15}) ([0-9a-f]{15})\n$/;

/** The highest valid slot: its value and index. */
function parseWatermark(text: string): { value: number; slot: number } | undefined {
  let best: { value: number; slot: number } | undefined;
  for (let i = 0; (i + 1) * SLOT <= text.length; i++) {
    const m = SLOT_RE.exec(text.slice(i * SLOT, (i + 1) * SLOT));
    if (!m || slot(Number(m[1])).toString('latin1') !== m[0]) continue;
    const v = Number(m[1]);
    if (best === undefined || v > best.value) best = { value: v, slot: i };
  }
  return best;
}

/** A watermark kept in one small file (created atomically, then updated in place). */
export function fileWatermark(path: string): WatermarkStore {
  // The slot to write next: never the one holding the highest value, so a torn write loses nothing.
  let next: number | undefined;
  const read = (): { value: number; slot: number } | undefined => {
    try {
      return parseWatermark(readFileSync(path, 'latin1'));
    } catch {
      return undefined;
    }
  };
  const create = (iat: number): void => {
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, Buffer.concat([slot(iat), slot(iat)]));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    const dir = openSync(dirname(path), 'r');
    try { fsyncSync(dir); } finally { closeSync(dir); }
  };
  return {
    load() {
      return read()?.value;
    },
    async save(iat) {
      let fh;
      try {
        fh = await open(path, 'r+');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        return create(iat);
      }
      try {
        next ??= 1 - (read()?.slot ?? 1);
        await fh.write(slot(iat), 0, SLOT, next * SLOT);
        next = 1 - next;
        await fh.datasync();
      } finally {
        await fh.close();
      }
    },
  };
}

/** An in-memory store (tests, simulations). */
export function memoryWatermark(initial?: number): WatermarkStore & { value: number | undefined } {
  return {
    value: initial,
    load() { return this.value; },
    async save(iat) { this.value = iat; },
  };
}

export class RestartFloor {
  /** Envelopes need iat >= notBefore. */
  readonly notBefore: number;
  /** True when no watermark was available (store missing or empty). */
  readonly lost: boolean;
  #saved: number;
  #wanted: number;
  #pending: Promise<void> = Promise.resolve();
  readonly #store: WatermarkStore | undefined;

  constructor(opts: { startSeconds: number; skewSeconds: number; store?: WatermarkStore; logIat?: number }) {
    this.#store = opts.store;
    const stored = opts.store?.load();
    // The watermark is durable before an envelope is logged, so it is never below the log's iats.
    const w = stored !== undefined && opts.logIat !== undefined && stored < opts.logIat ? undefined : stored;
    this.lost = w === undefined;
    this.notBefore = w === undefined ? opts.startSeconds + opts.skewSeconds : w + 1;
    this.#saved = w ?? -1;
    this.#wanted = this.#saved;
  }

  /** Throws iat_stale if iat is below the floor. */
  check(iat: number): void {
    if (iat < this.notBefore) throw new ProtocolError('iat_stale', 'iat precedes the node restart');
  }

  /**
   * Record an accepted iat. When it exceeds the watermark, the returned promise
   * resolves once a watermark at least that high is durable: the caller acts on
   * the envelope only then. Saves run one at a time; accepts that arrive while one
   * is in flight share the next.
   */
  accepted(iat: number): Promise<void> | undefined {
    if (this.#store === undefined || iat <= this.#saved) return undefined;
    if (iat <= this.#wanted) return this.#pending;
    this.#wanted = iat;
    const store = this.#store;
    this.#pending = this.#pending.catch(() => undefined).then(async () => {
      const v = this.#wanted;
      if (v <= this.#saved) return;
      try {
        await store.save(v);
      } catch (err) {
        // Not durable: the envelopes waiting on it are refused, and the next accept tries again.
        this.#wanted = this.#saved;
        throw new ProtocolError('internal', `replay watermark not saved: ${(err as Error).message}`, { cause: err });
      }
      this.#saved = Math.max(this.#saved, v);
    });
    return this.#pending;
  }
}
