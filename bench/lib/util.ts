/** Small helpers shared by the benchmark modules. */
import { cpus, totalmem } from 'node:os';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { generateKeyPairSync, verify as cryptoVerify } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSigner, parseCompact, sealEnvelope, type PrivateJwk } from '../../src/envelope/index.js';

export interface Ctx {
  full: boolean;
  log: (s: string) => void;
}

export function machine(): Record<string, unknown> {
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown', cores: c.length, memoryGiB: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    node: process.version, platform: `${process.platform} ${process.arch}`,
  };
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  // Nearest rank: with few samples p99 is the maximum.
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const median = (xs: number[]): number => percentile(xs, 50);

export function round(x: number, d = 2): number {
  return Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x;
}

/**
 * Same-run baselines: one ES256 sign + one verify of an envelope the size of a
 * request (sync node:crypto, as the node signs), and one small append + fdatasync.
 */
export function baselines(samples = 400): { signVerifyMs: number; signMs: number; verifyMs: number; fsyncMs: number } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as Record<string, string>), kid: 'b', alg: 'ES256' } as PrivateJwk;
  const signer = createSigner('a', jwk);
  const body = { set: { initiator: 'n0', id: '6f1c1f59-3b3e-4c36-a6a5-5b0d7c1e2a11' }, member: 'x1', producer: { execution: 'x0', checkpoint: 'x0-k1', seq: 1 }, hops: 31, budget: 29000 };
  const sign: number[] = [];
  const ver: number[] = [];
  for (let i = 0; i < samples; i++) {
    let t = performance.now();
    const c = sealEnvelope(signer, 'request', 'b', body).compact;
    sign.push(performance.now() - t);
    const p = parseCompact(c);
    t = performance.now();
    if (!cryptoVerify('sha256', p.signingInput, { key: publicKey, dsaEncoding: 'ieee-p1363' }, p.signature)) throw new Error('verify');
    ver.push(performance.now() - t);
  }
  const dir = mkdtempSync(join(tmpdir(), 'marp-fsync-'));
  const fd = openSync(join(dir, 'f'), 'a');
  const fs: number[] = [];
  const line = Buffer.alloc(300, 0x61);
  for (let i = 0; i < Math.min(samples, 200); i++) {
    const t = performance.now();
    writeSync(fd, line);
    fdatasyncSync(fd);
    fs.push(performance.now() - t);
  }
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return { signVerifyMs: median(sign) + median(ver), signMs: median(sign), verifyMs: median(ver), fsyncMs: median(fs) };
}

export function table(head: string[], rows: (string | number)[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function goal(ok: boolean | undefined): string {
  return ok === undefined ? 'n/a' : ok ? 'met' : '**NOT met**';
}

export interface Figure {
  name: string;
  results: Record<string, unknown>;
  markdown: string;
  notes: string[];
}
