/**
 * Replay protection across a restart. The in-memory replay cache is lost on
 * restart, so the node refuses (iat_stale) every envelope whose iat is not
 * later than any envelope it may have accepted before:
 *
 * - with a watermark store (recommended): the highest iat accepted so far is
 *   persisted (synchronously, before the accept returns) whenever it grows,
 *   at most once per distinct second; after a restart envelopes need
 *   iat > watermark. Senders re-sign retransmissions with a fresh iat, so
 *   nothing is lost and there is no blackout.
 * - without one, or if the stored watermark is missing (state lost): the
 *   floor is start time + skew, since an envelope accepted just before the
 *   restart may carry an iat up to `skew` seconds in the future. Peers'
 *   retries succeed once the skew has passed. `lost` tells the node so that it
 *   can enter the degraded security state if it expected a watermark.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { ProtocolError } from '../errors.js';

export interface WatermarkStore {
  /** The persisted watermark, or undefined if there is none. */
  load(): number | undefined;
  /** Persist durably before returning. */
  save(iat: number): void;
}

/** A watermark kept in one small file, written atomically (temp + fsync + rename). */
export function fileWatermark(path: string): WatermarkStore {
  return {
    load() {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
      const v = Number(text.trim());
      return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
    },
    save(iat) {
      const tmp = `${path}.tmp`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, `${iat}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    },
  };
}

/** An in-memory store (tests, simulations). */
export function memoryWatermark(initial?: number): WatermarkStore & { value: number | undefined } {
  return {
    value: initial,
    load() { return this.value; },
    save(iat) { this.value = iat; },
  };
}

export class RestartFloor {
  /** Envelopes need iat >= notBefore. */
  readonly notBefore: number;
  /** True when no watermark was available (store missing or empty). */
  readonly lost: boolean;
  #saved: number;
  readonly #store: WatermarkStore | undefined;

  constructor(opts: { startSeconds: number; skewSeconds: number; store?: WatermarkStore }) {
    this.#store = opts.store;
    const w = opts.store?.load();
    this.lost = w === undefined;
    this.notBefore = w === undefined ? opts.startSeconds + opts.skewSeconds : w + 1;
    this.#saved = w ?? -1;
  }

  /** Throws iat_stale if iat is below the floor. */
  check(iat: number): void {
    if (iat < this.notBefore) throw new ProtocolError('iat_stale', 'iat precedes the node restart');
  }

  /** Record an accepted iat; persists the watermark when it grows. */
  accepted(iat: number): void {
    if (iat > this.#saved) {
      this.#store?.save(iat);
      this.#saved = iat;
    }
  }
}
