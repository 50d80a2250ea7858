import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultIO, type StoreIO, type StoreLogger } from '../../src/store/index.js';

export interface Warning {
  details: Record<string, unknown>;
  message: string;
}

export function captureLogger(): StoreLogger & { warnings: Warning[] } {
  const warnings: Warning[] = [];
  return {
    warnings,
    warn(details, message) {
      warnings.push({ details: details as Record<string, unknown>, message });
    },
  };
}

export function logPath(dir: string): string {
  return join(dir, 'log');
}

export function bytes(path: string): Buffer {
  return readFileSync(path);
}

export function put(path: string, data: Uint8Array): void {
  writeFileSync(path, data);
}

/** An fs wrapper counting fsyncs, optionally holding each one until released. */
export function instrumentedIO(opts: { hold?: boolean } = {}) {
  const held: Array<() => void> = [];
  const io = {
    writes: 0,
    fsyncs: 0,
    held,
    write(fd: number, buf: Uint8Array, pos: number) {
      io.writes++;
      return defaultIO.write(fd, buf, pos);
    },
    async fdatasync(fd: number) {
      if (opts.hold) await new Promise<void>((r) => held.push(r));
      io.fsyncs++;
      return defaultIO.fdatasync(fd);
    },
    releaseAll() {
      for (const r of held.splice(0)) r();
    },
  } satisfies StoreIO & Record<string, unknown>;
  return io;
}

/** Lets pending promise callbacks and I/O callbacks run. */
export function settle(ms = 20): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
