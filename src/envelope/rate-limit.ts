/**
 * Token-bucket rate limits: one keyed by connection or source address,
 * applied before any verification (cheap), one keyed by the verified peer,
 * applied after the signature (never by an unverified kid or iss).
 */
import { ProtocolError } from '../errors.js';

export interface RateLimitOptions {
  /** Sustained rate, tokens per second. */
  ratePerSecond: number;
  /** Bucket size (default: one second of rate). */
  burst?: number;
  /** Keys tracked at most; idle (full) buckets are evicted first (default 10 000). */
  maxKeys?: number;
}

interface State { tokens: number; at: number }

export class RateLimiter {
  readonly rate: number;
  readonly burst: number;
  readonly maxKeys: number;
  readonly #buckets = new Map<string, State>();

  constructor(opts: RateLimitOptions) {
    this.rate = opts.ratePerSecond;
    this.burst = opts.burst ?? opts.ratePerSecond;
    this.maxKeys = opts.maxKeys ?? 10_000;
    if (!(this.rate > 0) || !(this.burst >= 1) || !(this.maxKeys >= 1)) throw new RangeError('rate limit out of range');
  }

  /** Take one token for `key` at time `nowMs`; false if none is left. */
  take(key: string, nowMs: number): boolean {
    let s = this.#buckets.get(key);
    if (s === undefined) {
      if (this.#buckets.size >= this.maxKeys) this.#evict(nowMs);
      s = { tokens: this.burst, at: nowMs };
      this.#buckets.set(key, s);
    } else {
      s.tokens = Math.min(this.burst, s.tokens + ((nowMs - s.at) / 1000) * this.rate);
      s.at = nowMs;
    }
    if (s.tokens < 1) return false;
    s.tokens -= 1;
    return true;
  }

  /** Throws rate_limited when `key` has no token left. */
  check(key: string, nowMs: number): void {
    if (!this.take(key, nowMs)) throw new ProtocolError('rate_limited', 'rate limit exceeded');
  }

  get size(): number {
    return this.#buckets.size;
  }

  #evict(nowMs: number): void {
    for (const [k, s] of this.#buckets) {
      if (s.tokens + ((nowMs - s.at) / 1000) * this.rate >= this.burst) this.#buckets.delete(k);
    }
    // All busy: drop the least recently created one.
    if (this.#buckets.size >= this.maxKeys) this.#buckets.delete(this.#buckets.keys().next().value!);
  }
}
