/**
 * On-disk format of the log (see README.md in this directory).
 *
 *   file   = header *frame
 *   header = "MARPLOG" 0x00 | version u32 BE (= 1) | flags u32 BE (= 0)      16 bytes
 *   frame  = len u32 BE | check 4 bytes | payload (len bytes) | hash 32 bytes
 *     check = SHA-256(prev || len)[0..4]
 *     hash  = SHA-256(prev || payload)
 *     prev  = hash of the previous frame, 32 zero bytes for the first one
 */
// node:crypto's native SHA-256: @noble/hashes' pure-JS one was ~5% of a node's CPU in large
// rollbacks (every accepted input is hashed into the chain); same digest (design note C15).
import { createHash } from 'node:crypto';

export const MAGIC = new Uint8Array([0x4d, 0x41, 0x52, 0x50, 0x4c, 0x4f, 0x47, 0x00]); // "MARPLOG\0"
export const VERSION = 1;
export const HEADER_SIZE = 16;
export const FRAME_HEADER_SIZE = 8;
export const HASH_SIZE = 32;
/** Largest payload accepted by append and by the reader (16 MiB). */
export const MAX_PAYLOAD = 16 * 1024 * 1024;
export const GENESIS: Uint8Array = new Uint8Array(HASH_SIZE);

export function encodeHeader(): Uint8Array {
  const h = new Uint8Array(HEADER_SIZE);
  h.set(MAGIC, 0);
  const v = new DataView(h.buffer);
  v.setUint32(8, VERSION, false);
  v.setUint32(12, 0, false);
  return h;
}

export function lengthCheck(prev: Uint8Array, lenBytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(prev).update(lenBytes).digest().subarray(0, 4);
}

export function entryHash(prev: Uint8Array, payload: Uint8Array): Uint8Array {
  return createHash('sha256').update(prev).update(payload).digest();
}

/** Builds one frame chained after `prev`; returns the bytes and the frame's hash. */
export function encodeFrame(prev: Uint8Array, payload: Uint8Array): { bytes: Uint8Array; hash: Uint8Array } {
  const bytes = new Uint8Array(FRAME_HEADER_SIZE + payload.length + HASH_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, payload.length, false);
  bytes.set(lengthCheck(prev, bytes.subarray(0, 4)), 4);
  bytes.set(payload, FRAME_HEADER_SIZE);
  const hash = entryHash(prev, payload);
  bytes.set(hash, FRAME_HEADER_SIZE + payload.length);
  return { bytes, hash };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}
