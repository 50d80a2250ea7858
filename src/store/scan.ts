/**
 * Sequential reader/verifier shared by openLog and verifyLog. Reads the file
 * in chunks (memory stays bounded by the chunk size and the largest frame)
 * and classifies what follows the last good frame as either nothing, a torn
 * tail (an append that never completed) or corruption.
 */
import type { FileHandle } from 'node:fs/promises';
import {
  FRAME_HEADER_SIZE,
  GENESIS,
  HASH_SIZE,
  HEADER_SIZE,
  MAGIC,
  MAX_PAYLOAD,
  VERSION,
  entryHash,
  equalBytes,
  lengthCheck,
  toHex,
} from './format.js';

export interface LogEntry {
  /** Position in the log, 0-based. */
  readonly index: number;
  /** Byte offset of the frame in the file. */
  readonly offset: number;
  /** Chain hash of the entry, lowercase hex. */
  readonly hash: string;
  /** The JSON value that was appended. */
  readonly body: unknown;
}

export interface Damage {
  /** Index of the first entry that cannot be read. */
  readonly index: number;
  /** Byte offset of the damage (frame start, or 0 for the header). */
  readonly offset: number;
  readonly reason: string;
}

export interface TornTail {
  readonly offset: number;
  readonly bytes: number;
  readonly reason: string;
}

export interface ScanResult {
  readonly count: number;
  /** Offset just past the last good frame. */
  readonly end: number;
  /** Hash of the last good frame (GENESIS when there is none). */
  readonly head: Uint8Array;
  readonly torn?: TornTail;
  readonly bad?: Damage & { readonly code: 'log_corrupt' | 'log_version' };
}

const CHUNK = 1 << 20;
const decoder = new TextDecoder('utf-8', { fatal: true });

async function readFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += bytesRead;
  }
}

/** Forward-only buffered reader over [0, size). */
class Reader {
  private buf = new Uint8Array(0);
  private start = 0;
  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
  ) {}

  /** Bytes [off, off+n); the caller guarantees off+n <= size and off >= previous offsets. */
  async get(off: number, n: number): Promise<Uint8Array> {
    const have = this.start + this.buf.length;
    if (off >= this.start && off + n <= have) return this.buf.subarray(off - this.start, off - this.start + n);
    const keep = off < have ? this.buf.subarray(off - this.start) : new Uint8Array(0);
    const len = Math.min(Math.max(n, CHUNK), this.size - off);
    const next = new Uint8Array(len);
    next.set(keep, 0);
    await readFully(this.fh, next.subarray(keep.length), off + keep.length);
    this.buf = next;
    this.start = off;
    return next.subarray(0, n);
  }
}

async function allZero(reader: Reader, from: number, size: number): Promise<boolean> {
  for (let off = from; off < size; off += CHUNK) {
    const chunk = await reader.get(off, Math.min(CHUNK, size - off));
    for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) return false;
  }
  return true;
}

export async function scanLog(
  fh: FileHandle,
  size: number,
  onEntry?: (entry: LogEntry) => void,
): Promise<ScanResult> {
  const reader = new Reader(fh, size);
  if (size < HEADER_SIZE) {
    return { count: 0, end: 0, head: GENESIS, bad: { code: 'log_corrupt', index: 0, offset: 0, reason: `file too short for the ${HEADER_SIZE}-byte header (${size} bytes)` } };
  }
  const header = await reader.get(0, HEADER_SIZE);
  if (!equalBytes(header.subarray(0, 8), MAGIC)) {
    return { count: 0, end: 0, head: GENESIS, bad: { code: 'log_corrupt', index: 0, offset: 0, reason: 'bad magic (not a MARP log file)' } };
  }
  const hv = new DataView(header.buffer, header.byteOffset, HEADER_SIZE);
  const version = hv.getUint32(8, false);
  const flags = hv.getUint32(12, false);
  if (version !== VERSION || flags !== 0) {
    return { count: 0, end: 0, head: GENESIS, bad: { code: 'log_version', index: 0, offset: 8, reason: `unsupported format version ${version} flags ${flags}` } };
  }

  let prev = GENESIS;
  let off = HEADER_SIZE;
  let index = 0;
  const torn = (reason: string): ScanResult => ({ count: index, end: off, head: prev, torn: { offset: off, bytes: size - off, reason } });
  const bad = (reason: string): ScanResult => ({ count: index, end: off, head: prev, bad: { code: 'log_corrupt', index, offset: off, reason } });

  while (off < size) {
    const remaining = size - off;
    if (remaining < FRAME_HEADER_SIZE) return torn('partial frame header');
    const fhdr = await reader.get(off, FRAME_HEADER_SIZE);
    const len = new DataView(fhdr.buffer, fhdr.byteOffset, 4).getUint32(0, false);
    const headerOk = len > 0 && len <= MAX_PAYLOAD && equalBytes(fhdr.subarray(4, 8), lengthCheck(prev, fhdr.subarray(0, 4)));
    if (!headerOk) {
      // A file extended by an append whose data never reached the disk can
      // read back as zeros: that is a torn tail too.
      if (await allZero(reader, off, size)) return torn('zero-filled tail');
      return bad(len === 0 || len > MAX_PAYLOAD ? `invalid frame length ${len}` : 'frame header check failed (length or chain position altered)');
    }
    const frameSize = FRAME_HEADER_SIZE + len + HASH_SIZE;
    if (frameSize > remaining) {
      return torn(remaining < FRAME_HEADER_SIZE + len ? 'partial payload' : 'partial hash');
    }
    const frame = await reader.get(off, frameSize);
    const payload = frame.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + len);
    const stored = frame.subarray(FRAME_HEADER_SIZE + len);
    const hash = entryHash(prev, payload);
    if (!equalBytes(hash, stored)) return bad('hash mismatch (payload or hash altered, or chain broken)');
    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(payload));
    } catch {
      return bad('payload is not UTF-8 JSON');
    }
    onEntry?.({ index, offset: off, hash: toHex(hash), body });
    prev = hash;
    off += frameSize;
    index++;
  }
  return { count: index, end: off, head: prev };
}
