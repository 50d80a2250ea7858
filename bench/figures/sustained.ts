/**
 * Sustained load on one node (n0 of a 4-node cluster): mixed traffic of
 * signed `dependency` envelopes from three peers (half over HTTP, half over
 * WebSocket links) and agent-face `consumed` calls (which make n0 send
 * dependency envelopes itself). Tuples repeat over a fixed pool, so the
 * protocol state stays constant and only the replay cache (bounded by the
 * replay window) should grow. First a short ramp finds the highest offered
 * rate with no refusal and no backlog; then that rate is held.
 */
import { request } from 'undici';
import { sealEnvelope } from '../../src/envelope/index.js';
import { wsLink, ENVELOPE_PATH, type PeerLink } from '../../src/node/peer-link.js';
import { Cluster, DIGEST, pool, type NodeHandle } from '../lib/cluster.js';
import { goal, percentile, round, table, type Ctx, type Figure } from '../lib/util.js';

const PRODUCERS = 100;
const TUPLES = 1000;

export async function run(ctx: Ctx, replayBytesPerId = 24): Promise<Figure> {
  const STEP_S = ctx.full ? 4 : 2;
  const HOLD_S = ctx.full ? 60 : 15;
  ctx.log('sustained: starting 4 nodes');
  const c = await Cluster.start({ nodes: 4, transport: 'http' });
  const links: PeerLink[] = [];
  try {
    const n0 = c.nodes[0]!;
    const peers = c.nodes.slice(1);
    await pool(Array.from({ length: PRODUCERS }, (_, i) => i), 16, async (i) => {
      await n0.client.execution(`p${i}`);
      await n0.client.checkpoint(`p${i}`, { checkpoint: `p${i}-k1`, seq: 1, digest: DIGEST, reversibility: 'reversible' });
    });
    // Producers on n1 for n0's own consumptions.
    const n1 = c.nodes[1]!;
    await pool(Array.from({ length: 20 }, (_, i) => i), 8, async (i) => {
      await n1.client.execution(`q${i}`);
      await n1.client.checkpoint(`q${i}`, { checkpoint: `q${i}-k1`, seq: 1, digest: DIGEST, reversibility: 'reversible' });
      await n0.client.execution(`d${i}`);
      await n0.client.checkpoint(`d${i}`, { checkpoint: `d${i}-k1`, seq: 1, digest: DIGEST, reversibility: 'reversible' });
    });
    for (const p of peers) links.push(wsLink(n0.peerUrl));
    const url = new URL(ENVELOPE_PATH, n0.peerUrl).toString();
    let k = 0;
    const send = async (): Promise<boolean> => {
      const i = k++;
      const mod = i % 10;
      if (mod === 9) { // agent face
        const j = (i / 10) % 20 | 0;
        const r = await n0.client.consumed(`d${j}`, { agent: n1.name, execution: `q${j}`, checkpoint: `q${j}-k1`, seq: 1 });
        return r.registered;
      }
      const peer: NodeHandle = peers[i % peers.length]!;
      const t = i % TUPLES;
      const body = {
        consumer: { execution: `c${t}`, checkpoint: `c${t}-k1`, seq: 1, digest: DIGEST },
        producer: { execution: `p${t % PRODUCERS}`, checkpoint: `p${t % PRODUCERS}-k1`, seq: 1 },
      };
      const s = sealEnvelope(peer.signer, 'dependency', n0.name, body);
      if (mod % 2 === 0) {
        const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/jose' }, body: s.compact });
        await res.body.text();
        return res.statusCode === 202;
      }
      return (await links[peer.index - 1]!.deliver(s.compact, s.jti)).ok;
    };
    /** Offer `rate`/s for `seconds`, open loop; returns what happened. */
    const offer = async (rate: number, seconds: number, sample?: () => void): Promise<{ sent: number; ok: number; failed: number; late: number; p99: number; rejected: number }> => {
      const before = await c.counters();
      const lat: number[] = [];
      let sent = 0; let ok = 0; let failed = 0;
      const inflight = new Set<Promise<void>>();
      const t0 = performance.now();
      let lastSample = t0;
      while (performance.now() - t0 < seconds * 1000) {
        const due = Math.floor(((performance.now() - t0) / 1000) * rate);
        while (sent < due) {
          sent++;
          const ts = performance.now();
          const p = send().then((good) => { if (good) ok++; else failed++; lat.push(performance.now() - ts); }, () => { failed++; })
            .finally(() => inflight.delete(p));
          inflight.add(p);
        }
        if (sample && performance.now() - lastSample > 5000) { sample(); lastSample = performance.now(); }
        await new Promise((r) => setTimeout(r, 5));
      }
      const late = inflight.size;
      await Promise.allSettled([...inflight]);
      const after = await c.counters();
      return { sent, ok, failed, late, p99: percentile(lat, 99), rejected: after.rejected - before.rejected };
    };
    const holds = (r: Awaited<ReturnType<typeof offer>>, rate: number): boolean =>
      r.failed === 0 && r.rejected === 0 && r.late <= Math.max(5, rate * 0.05) && r.p99 < 500;
    // Ramp: double until it fails, then bisect twice.
    const ramp: (string | number)[][] = [];
    let good = 0; let bad = 0;
    for (let rate = 200; rate <= 12_800; rate *= 2) {
      const r = await offer(rate, STEP_S);
      ramp.push([rate, r.ok, r.failed, r.rejected, r.late, round(r.p99, 1), holds(r, rate) ? 'holds' : 'no']);
      ctx.log(`  offered ${rate}/s: ok ${r.ok} failed ${r.failed} rejected ${r.rejected} backlog ${r.late} p99 ${round(r.p99, 1)} ms`);
      if (holds(r, rate)) good = rate; else { bad = rate; break; }
      await new Promise((res) => setTimeout(res, 1000)); // let buckets refill
    }
    for (let i = 0; i < 2 && bad; i++) {
      const rate = Math.round((good + bad) / 2);
      await new Promise((res) => setTimeout(res, 1000));
      const r = await offer(rate, STEP_S);
      ramp.push([rate, r.ok, r.failed, r.rejected, r.late, round(r.p99, 1), holds(r, rate) ? 'holds' : 'no']);
      ctx.log(`  offered ${rate}/s: ok ${r.ok} failed ${r.failed} rejected ${r.rejected} backlog ${r.late} p99 ${round(r.p99, 1)} ms`);
      if (holds(r, rate)) good = rate; else bad = rate;
    }
    // Hold: a short ramp step lives on the rate limiters' bursts, so a held rate that refuses
    // anything is lowered by a quarter and held again (up to three times).
    let rate = Math.max(good, 100);
    let rss: number[] = [];
    let held!: Awaited<ReturnType<typeof offer>>;
    const holdsTried: (string | number)[][] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      await new Promise((res) => setTimeout(res, 2000));
      rss = [c.rss(n0)];
      ctx.log(`  holding ${rate}/s for ${HOLD_S} s`);
      held = await offer(rate, HOLD_S, () => rss.push(c.rss(n0)));
      rss.push(c.rss(n0));
      holdsTried.push([rate, held.ok, held.failed, held.rejected, round(held.p99, 1)]);
      if (held.failed === 0 && held.rejected === 0) break;
      rate = Math.round(rate * 0.75);
    }
    if (held.failed !== 0 || held.rejected !== 0) rate = holdsTried.at(-1)![0] as number;
    const counters = await c.counters();
    const growth = rss.at(-1)! - rss[0]!;
    // Replay window bound: every id of the window (window + skew = 330 s by default) cached.
    // Plus a fixed 2 MB allowance for RSS noise (heap pages, GC timing): stated in the README.
    const bound = rate * Math.min(HOLD_S + 2 * STEP_S, 330) * replayBytesPerId + 2e6;
    const results = {
      ramp: ramp.map(([r, ok, f, rej, late, p99, h]) => ({ rate: r, ok, failed: f, rejected: rej, backlog: late, p99Ms: p99, holds: h === 'holds' })),
      rate, holdSeconds: HOLD_S, held, holdsTried, rssBytes: rss, rssGrowthBytes: growth, replayBoundBytes: bound, rejections: counters.rejections,
      mix: '45% dependency envelopes over HTTP, 45% over WebSocket (3 peers, 1000 repeating tuples), 10% agent consumed calls',
    };
    const markdown = [
      '### Sustained load (one node, mixed traffic, fsync on)',
      '',
      table(['offered /s', 'accepted', 'failed', 'rejected (node metrics)', 'backlog at end', 'p99 ms', ''], ramp),
      '',
      table(['held rate /s', 'seconds', 'accepted', 'failed', 'rejected', 'p99 ms', 'RSS start MB', 'RSS end MB', 'growth MB', 'replay-window bound MB', 'goal'], [[
        rate, HOLD_S, held.ok, held.failed, held.rejected, round(held.p99, 1), round(rss[0]! / 1e6, 1), round(rss.at(-1)! / 1e6, 1), round(growth / 1e6, 1), round(bound / 1e6, 1),
        `growth within bound: ${goal(growth <= bound)}; no refusal: ${goal(held.failed === 0 && held.rejected === 0)}`,
      ]]),
      '',
      table(['hold attempts: rate /s', 'accepted', 'failed', 'rejected', 'p99 ms'], holdsTried),
    ].join('\n');
    return { name: 'sustained', results, markdown, notes: [results.mix, `RSS samples (MB): ${rss.map((x) => round(x / 1e6, 1)).join(', ')}`] };
  } finally {
    for (const l of links) l.close();
    await c.stop();
  }
}
