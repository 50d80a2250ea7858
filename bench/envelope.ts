/**
 * Envelope intake benchmark (not part of the test suite):
 *   node --import tsx bench/envelope.ts [messages]
 * 1. Messages accepted per second through the whole intake pipeline with 64
 *    in flight, against bare node:crypto signature verification with the
 *    same key, algorithm and concurrency, for ES256 and Ed25519.
 * 2. Bytes of memory per cached unique id in the replay cache at 1 000 000 ids.
 */
import { generateKeyPairSync, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pathToFileURL } from 'node:url';
import {
  createSigner, Intake, ReplayCache, Schemas, TrustStore, sealEnvelope, parseCompact, type Alg, type PrivateJwk,
} from '../src/envelope/index.js';

const main = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
let N = Number((main && process.argv[2]) || 20_000);
const IN_FLIGHT = 64;
let ROUNDS = 3;
const CHUNK = 2000;

async function pump(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function bareVerify(alg: Alg, data: Buffer, key: KeyObject, sig: Buffer): Promise<boolean> {
  return new Promise((resolve, reject) => {
    cryptoVerify(alg === 'ES256' ? 'sha256' : null, data, { key, dsaEncoding: 'ieee-p1363' }, sig,
      (err, ok) => (err ? reject(err) : resolve(ok)));
  });
}

const schemas = new Schemas();
const body = {
  consumer: { execution: 'exec-c1', checkpoint: 'ck-c1', seq: 3, digest: `sha-256:${'ab'.repeat(32)}` },
  producer: { execution: 'exec-b1', checkpoint: 'ck-b1', seq: 7 },
};

export async function throughput(alg: Alg): Promise<{ bare: number; pipeline: number; bytes: number }> {
  const { privateKey, publicKey } = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const jwk = { ...(privateKey.export({ format: 'jwk' }) as Record<string, string>), kid: 'bench-key', alg } as PrivateJwk;
  const { d: _d, ...pub } = jwk;
  const signer = createSigner('alice', jwk);
  const trust = new TrustStore({ peers: [{ id: 'alice', jwks: { keys: [pub] } }] });
  const now = Math.floor(Date.now() / 1000);
  const envelopes = Array.from({ length: N }, () => sealEnvelope(signer, 'dependency', 'bob', body, { iat: now }).compact);
  const parts = envelopes.map((e) => parseCompact(e));
  // Alternate short chunks of both measurements so that load from other
  // processes affects both alike; rates are totals over all chunks.
  let bareTime = 0;
  let pipeTime = 0;
  let done = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (let start = 0; start < N; start += CHUNK) {
      const n = Math.min(CHUNK, N - start);
      bareTime += n / await pump(n, async (i) => {
        const p = parts[start + i]!;
        if (!(await bareVerify(alg, p.signingInput, publicKey, p.signature))) throw new Error('verify');
      });
      // A fresh cache per chunk so that the envelopes of earlier rounds are not replays.
      const intake = new Intake({ self: 'bob', trust, schemas, replay: new ReplayCache({ quotaPerPeer: 10_000_000 }) });
      pipeTime += n / await pump(n, (i) => intake.accept(envelopes[start + i]!));
      done += n;
    }
  }
  const bare = done / bareTime;
  const pipeline = done / pipeTime;
  return { bare, pipeline, bytes: envelopes[0]!.length };
}

setFlagsFromString('--expose-gc');
function gc(): void {
  (runInNewContext('gc') as () => void)();
}
function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export function replayMemory(ids: number): { bytesPerId: number; tableBytesPerId: number; insertsPerSecond: number } {
  gc();
  gc();
  const before = used();
  const cache = new ReplayCache({ windowSeconds: 300, skewSeconds: 30, quotaPerPeer: ids });
  const now = 2_000_000_000;
  const peers = Array.from({ length: 100 }, (_, i) => `agent-${i}`);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ids; i++) {
    const peer = peers[i % peers.length]!;
    // iat spread over the whole window: all entries stay live.
    cache.checkAndInsert(peer, peer, `jti-${i.toString(36).padStart(16, '0')}`, now - 330 + Math.floor((i / ids) * 360), now);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  gc();
  const after = used();
  const s = cache.stats();
  if (s.entries !== ids) throw new Error('entries lost');
  return { bytesPerId: (after - before) / ids, tableBytesPerId: s.tableBytes / ids, insertsPerSecond: ids / secs };
}

/** For bench/run.ts: envelopes per measurement and rounds. */
export function configure(n: number, rounds: number): { inFlight: number; chunk: number } {
  N = n;
  ROUNDS = rounds;
  return { inFlight: IN_FLIGHT, chunk: CHUNK };
}

if (main) await cli();

async function cli(): Promise<void> {
// Memory first, on a clean heap.
const m = replayMemory(1_000_000);
console.log(`node ${process.version}, ${N} envelopes per run, ${IN_FLIGHT} in flight, ${ROUNDS} rounds, alternating chunks of ${CHUNK}`);
console.log('| alg | bare verify /s | pipeline accepted /s | ratio | envelope bytes |');
console.log('|---|---|---|---|---|');
for (const alg of ['ES256', 'Ed25519'] as const) {
  const r = await throughput(alg);
  console.log(`| ${alg} | ${r.bare.toFixed(0)} | ${r.pipeline.toFixed(0)} | ${(r.pipeline / r.bare).toFixed(2)} | ${r.bytes} |`);
}
console.log('');
console.log('| replay cache at 1 000 000 ids | value |');
console.log('|---|---|');
console.log(`| bytes per id (heap + array buffers) | ${m.bytesPerId.toFixed(1)} |`);
console.log(`| bytes per id (key tables only) | ${m.tableBytesPerId.toFixed(1)} |`);
console.log(`| check-and-insert per second | ${m.insertsPerSecond.toFixed(0)} |`);
}
