/**
 * Replay cache (RFC 9449 §11.1 style): remembers the (iss, jti) of every
 * accepted envelope for as long as its iat is inside the freshness window.
 *
 * - Keys are the first 64 bits of SHA-256(len(iss) || iss || jti), stored in
 *   open-addressing tables of Uint32 pairs: about 16-22 bytes per id.
 * - Tables are time buckets by iat; a bucket is dropped whole once every iat
 *   it can hold is older than window + skew (those envelopes are refused as
 *   iat_stale anyway), so memory is bounded by the accept rate times the
 *   window, and by the per-peer quota.
 * - Per-peer quota: a peer whose live entries reach the quota is refused with
 *   replay_quota (fail closed) without affecting other peers.
 * - Insert is called last, after signature, schema, aud and iat checks, so
 *   unauthenticated traffic never fills the cache.
 * - Retention runs from iat, not from acceptance: an id accepted with
 *   iat = now + skew is kept until iat + window + skew (window + 2 x skew
 *   after acceptance), as long as it could pass the freshness check.
 * - Expiry follows the latest clock reading seen; if the clock steps back,
 *   an iat older than that reading minus window and skew is refused
 *   (iat_stale) since its entry may be gone (draft req-envelope-replay).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { ProtocolError } from '../errors.js';

export interface ReplayCacheOptions {
  /** Freshness window in seconds (default 300). */
  windowSeconds?: number;
  /** Allowed clock skew in seconds (default 30). */
  skewSeconds?: number;
  /** Width of a time bucket in seconds (default 10). */
  bucketSeconds?: number;
  /** Live entries allowed per peer (default 100 000). */
  quotaPerPeer?: number;
  /** Live entries allowed in total (default unbounded: peers x quota bounds it). */
  maxEntries?: number;
}

const EMPTY_CAP = 1024; // initial slots per bucket (power of two)

/**
 * One bucket: an open-addressing set of 64-bit keys (hi, lo), linear probing;
 * (0, 0) marks an empty slot, so it is never a key (see nonZero). Exported for tests.
 */
export class KeySet {
  slots: Uint32Array;
  mask: number;
  size = 0;
  readonly perPeer = new Map<string, number>();
  constructor() {
    this.slots = new Uint32Array(EMPTY_CAP * 2);
    this.mask = EMPTY_CAP - 1;
  }
  has(hi: number, lo: number): boolean {
    const s = this.slots;
    for (let i = (lo ^ hi) & this.mask; ; i = (i + 1) & this.mask) {
      const h = s[2 * i]!, l = s[2 * i + 1]!;
      if (h === hi && l === lo) return true;
      if (h === 0 && l === 0) return false;
    }
  }
  add(hi: number, lo: number): void {
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) this.grow();
    this.put(hi, lo);
    this.size++;
  }
  private put(hi: number, lo: number): void {
    const s = this.slots;
    let i = (lo ^ hi) & this.mask;
    while (s[2 * i] !== 0 || s[2 * i + 1] !== 0) i = (i + 1) & this.mask;
    s[2 * i] = hi;
    s[2 * i + 1] = lo;
  }
  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    this.mask = old.length - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== 0 || old[i + 1] !== 0) this.put(old[i]!, old[i + 1]!);
    }
  }
}

const enc = new TextEncoder();
let scratch = new Uint8Array(1024);

/** 64-bit replay key of (iss, jti) as two uint32, never (0, 0). */
export function replayKey(iss: string, jti: string): [number, number] {
  // Input: 2-byte length of iss (UTF-8), iss, jti: unambiguous.
  const max = 2 + 3 * (iss.length + jti.length);
  if (scratch.length < max) scratch = new Uint8Array(max);
  const a = enc.encodeInto(iss, scratch.subarray(2)).written;
  const b = enc.encodeInto(jti, scratch.subarray(2 + a)).written;
  scratch[0] = a >>> 8;
  scratch[1] = a & 0xff;
  const d = sha256(scratch.subarray(0, 2 + a + b));
  const hi = ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
  const lo = ((d[4]! << 24) | (d[5]! << 16) | (d[6]! << 8) | d[7]!) >>> 0;
  return nonZero(hi, lo);
}

/** (0, 0) marks an empty slot of a KeySet: the one digest prefix that maps to it is moved to (0, 1). */
export function nonZero(hi: number, lo: number): [number, number] {
  return hi === 0 && lo === 0 ? [0, 1] : [hi, lo];
}

export interface ReplayStats {
  readonly entries: number;
  /** Peers with live entries. */
  readonly peers: number;
  readonly buckets: number;
  /** Bytes held by the key tables. */
  readonly tableBytes: number;
}

export class ReplayCache {
  readonly windowSeconds: number;
  readonly skewSeconds: number;
  readonly bucketSeconds: number;
  readonly quotaPerPeer: number;
  readonly maxEntries: number;
  readonly #buckets = new Map<number, KeySet>();
  readonly #perPeer = new Map<string, number>();
  #entries = 0;
  #expiredAt = Number.NEGATIVE_INFINITY;

  constructor(opts: ReplayCacheOptions = {}) {
    this.windowSeconds = opts.windowSeconds ?? 300;
    this.skewSeconds = opts.skewSeconds ?? 30;
    this.bucketSeconds = opts.bucketSeconds ?? 10;
    this.quotaPerPeer = opts.quotaPerPeer ?? 100_000;
    this.maxEntries = opts.maxEntries ?? Number.POSITIVE_INFINITY;
    for (const [name, v] of [['windowSeconds', this.windowSeconds], ['skewSeconds', this.skewSeconds],
      ['bucketSeconds', this.bucketSeconds], ['quotaPerPeer', this.quotaPerPeer]] as const) {
      if (!Number.isSafeInteger(v) || v < (name === 'skewSeconds' ? 0 : 1)) throw new RangeError(`${name} out of range`);
    }
  }

  /** Drop buckets whose every iat is older than now - window - skew (now: the latest reading seen). */
  expire(nowSeconds: number): void {
    if (nowSeconds <= this.#expiredAt) return;
    this.#expiredAt = nowSeconds;
    const oldest = nowSeconds - this.windowSeconds - this.skewSeconds;
    for (const [index, bucket] of this.#buckets) {
      if ((index + 1) * this.bucketSeconds <= oldest) {
        this.#buckets.delete(index);
        this.#entries -= bucket.size;
        for (const [peer, n] of bucket.perPeer) {
          const left = this.#perPeer.get(peer)! - n;
          if (left === 0) this.#perPeer.delete(peer);
          else this.#perPeer.set(peer, left);
        }
      }
    }
  }

  /**
   * Check-and-insert (iss, jti) for an envelope from `peer` (the verified key
   * owner, equal to iss) with the given iat. Throws replayed / replay_quota.
   */
  checkAndInsert(peer: string, iss: string, jti: string, iat: number, nowSeconds: number): void {
    this.expire(nowSeconds);
    // A clock stepped back: entries up to the latest reading's horizon may be gone.
    if (iat < this.#expiredAt - this.windowSeconds - this.skewSeconds) {
      throw new ProtocolError('iat_stale', 'iat older than the replay cache remembers (the clock stepped back)');
    }
    const [hi, lo] = replayKey(iss, jti);
    for (const bucket of this.#buckets.values()) {
      if (bucket.has(hi, lo)) throw new ProtocolError('replayed', 'jti already accepted from this issuer');
    }
    const count = this.#perPeer.get(peer) ?? 0;
    if (count >= this.quotaPerPeer || this.#entries >= this.maxEntries) {
      throw new ProtocolError('replay_quota', 'replay cache quota for this peer is full');
    }
    const index = Math.floor(iat / this.bucketSeconds);
    let bucket = this.#buckets.get(index);
    if (!bucket) {
      bucket = new KeySet();
      this.#buckets.set(index, bucket);
    }
    bucket.add(hi, lo);
    bucket.perPeer.set(peer, (bucket.perPeer.get(peer) ?? 0) + 1);
    this.#perPeer.set(peer, count + 1);
    this.#entries++;
  }

  /** Live entries of one peer. */
  count(peer: string): number {
    return this.#perPeer.get(peer) ?? 0;
  }

  stats(): ReplayStats {
    let tableBytes = 0;
    for (const b of this.#buckets.values()) tableBytes += b.slots.byteLength;
    return { entries: this.#entries, peers: this.#perPeer.size, buckets: this.#buckets.size, tableBytes };
  }
}
