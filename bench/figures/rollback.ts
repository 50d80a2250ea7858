/**
 * End-to-end coordinated rollback across real node processes on loopback:
 * latency from the failure report (agent API call) to the initiator's signed
 * recovery record (its "recovery record written" log line, written after the
 * fsync), for chains and fan-out trees, over HTTP and WebSocket; messages per
 * set against the minimum the draft's procedures imply; bytes on the wire
 * per member (counted by TCP relays in a separate, untimed run).
 */
import { Cluster, DIGEST, pool, type NodeHandle } from '../lib/cluster.js';
import { baselines, goal, median, percentile, round, table, type Ctx, type Figure } from '../lib/util.js';

export interface Member { id: string; node: number; parent: number | undefined }
export interface Shape { name: string; kind: 'chain' | 'tree'; size: number; members: Member[] }

/** Chain of `depth` hops: depth + 1 executions, consecutive ones on different nodes. */
export function chain(depth: number, nodes: number, prefix: string): Member[] {
  return Array.from({ length: depth + 1 }, (_, i) => ({ id: `${prefix}-m${i}`, node: i % nodes, parent: i === 0 ? undefined : i - 1 }));
}

/**
 * Fan-out tree of `n` executions, breadth first with `branching` children per
 * member, spread round robin over the nodes (never on the parent's node:
 * dependencies are between agents, and one agent per node).
 */
export function tree(n: number, branching: number, nodes: number, prefix: string): Member[] {
  const ms: Member[] = [{ id: `${prefix}-m0`, node: 0, parent: undefined }];
  let rr = 1;
  for (let p = 0; ms.length < n; p++) {
    for (let k = 0; k < branching && ms.length < n; k++) {
      let node = rr++ % nodes;
      if (node === ms[p]!.node) node = rr++ % nodes;
      ms.push({ id: `${prefix}-m${ms.length}`, node, parent: p });
    }
  }
  return ms;
}

/**
 * Minimum envelopes for a tree without faults (bench/README.md): requests + reports + outcomes.
 * `pages`: the executions each page of the record names, record first. The record travels
 * over every node pair of the tree; each further page only over the pairs on the paths to
 * the members it names (draft "Recovery Record and Follow-ups").
 */
export function minimumMessages(ms: Member[], pages: string[][] = []): { requests: number; reports: number; outcomes: number; pages: number; total: number } {
  const edges = ms.filter((m) => m.parent !== undefined);
  const pair = (m: Member): string => `${ms[m.parent!]!.node}>${m.node}`;
  const byId = new Map(ms.map((m) => [m.id, m]));
  let outcomes = new Set(edges.map(pair)).size;
  for (const page of pages.slice(1)) {
    const pairs = new Set<string>();
    for (const id of page) for (let m = byId.get(id); m?.parent !== undefined; m = ms[m.parent]) pairs.add(pair(m));
    outcomes += pairs.size;
  }
  return { requests: edges.length, reports: edges.length, outcomes, pages: Math.max(pages.length, 1), total: 2 * edges.length + outcomes };
}

/** Declare the shape's executions, checkpoints and dependencies on the cluster (set-up, not timed). */
export async function build(c: Cluster, ms: Member[]): Promise<void> {
  const node = (m: Member): NodeHandle => c.nodes[m.node]!;
  await pool(ms, 48, async (m) => {
    await node(m).client.execution(m.id);
    await node(m).client.checkpoint(m.id, { checkpoint: `${m.id}-k1`, seq: 1, digest: DIGEST, reversibility: 'reversible' });
  });
  await pool(ms.filter((m) => m.parent !== undefined), 48, async (m) => {
    const p = ms[m.parent!]!;
    const r = await node(m).client.consumed(m.id, { agent: node(p).name, execution: p.id, checkpoint: `${p.id}-k1`, seq: 1 });
    if (!r.registered) throw new Error(`dependency ${m.id} -> ${p.id} not delivered`);
  });
}

interface RunResult { ms: number; outcome: string; messages: number; byKind: Record<string, number>; rejected: number; pages: string[][] }

async function once(c: Cluster, ms: Member[], afterBuild?: () => void): Promise<RunResult> {
  await build(c, ms);
  await c.quiesce(200);
  afterBuild?.();
  const before = await c.counters();
  const root = c.nodes[ms[0]!.node]!;
  const t0 = Date.now();
  const { set } = await root.client.failure(ms[0]!.id, { checkpoint: `${ms[0]!.id}-k1`, seq: 1, class: 'eval_failure' });
  const rec = await c.waitRecord(set.id, 60_000);
  const ms_ = rec.time - t0;
  await c.quiesce();
  const after = await c.counters();
  const byKind: Record<string, number> = {};
  for (const k of Object.keys(after.accepted)) {
    const d = after.accepted[k]! - (before.accepted[k] ?? 0);
    if (d && k !== 'dependency') byKind[k] = d;
  }
  // The record's pages, as the initiator signed them (record first): the minimum depends on how it was paged.
  const pages = (await root.client.records()).filter((r) => r.payload.set.id === set.id).sort((a, b) => a.index - b.index)
    .map((r) => (r.payload.members as { execution: string }[]).map((m) => m.execution));
  return { ms: ms_, outcome: rec.outcome, messages: Object.values(byKind).reduce((a, b) => a + b, 0), byKind, rejected: after.rejected - before.rejected, pages };
}

export async function run(ctx: Ctx): Promise<Figure> {
  const NODES = 8;
  const BRANCHING = Number(process.env['BENCH_BRANCHING'] ?? 32);
  const depths = [1, 4, 16, 32];
  const trees = ctx.full ? [10, 100, 1000] : [10, 100, 1000];
  const reps = (size: number): number => (ctx.full ? (size >= 1000 ? 10 : 20) : size >= 1000 ? 3 : size >= 100 ? 2 : 3);
  const shapes = (prefix: string): Shape[] => [
    ...depths.map((d) => ({ name: `chain ${d}`, kind: 'chain' as const, size: d, members: chain(d, NODES, `${prefix}c${d}`) })),
    ...trees.map((n) => ({ name: `fan-out ${n}`, kind: 'tree' as const, size: n, members: tree(n, BRANCHING, NODES, `${prefix}t${n}`) })),
  ];
  const notes: string[] = [];
  const results: Record<string, unknown> = { nodes: NODES, branching: BRANCHING };
  const rows: (string | number)[][] = [];
  const msgRows: (string | number)[][] = [];
  const base = baselines();
  results['baseline'] = base;
  const perTransport: Record<string, unknown> = {};
  const only = process.env['BENCH_SHAPES']?.split(',');
  const transports = (process.env['BENCH_TRANSPORTS']?.split(',') ?? ['http', 'ws']) as ('http' | 'ws')[];
  for (const transport of transports) {
    ctx.log(`rollback: starting ${NODES} nodes (${transport})`);
    const c = await Cluster.start({ nodes: NODES, transport });
    const out: Record<string, unknown> = {};
    try {
      // Warm-up, not timed: a sidecar runs for long, so the figures are of warm nodes. Each node
      // must have run every path of a set (request, directive, report with statements, record
      // pages, outcome) often enough for V8 to optimise it; a lone short chain left the first timed
      // shapes running interpreted code (chain 32 over HTTP: ~370 ms cold, ~200 ms warm).
      for (const w of [chain(16, NODES, `w${transport}c`), tree(100, BRANCHING, NODES, `w${transport}t`), tree(300, BRANCHING, NODES, `w${transport}u`)]) {
        await once(c, w).catch(() => undefined);
      }
      const p50s: Record<number, number> = {};
      // Default sizes: the 1,000-member fan-out over HTTP only, and bytes counted up to 100 members (time).
      const inDefault = (x: Shape): boolean => ctx.full || !(x.kind === 'tree' && x.size >= 1000 && transport === 'ws');
      for (const s0 of shapes(`${transport}r0`).filter((x) => (!only || only.includes(x.name)) && inDefault(x))) {
        const lat: number[] = [];
        const msgs: number[] = [];
        let byKind: Record<string, number> = {};
        let last: Member[] = s0.members;
        let pages: string[][] = [];
        const mins: number[] = [];
        const outcomes = new Set<string>();
        let rejected = 0;
        let error: string | undefined;
        const n = reps(s0.kind === 'chain' ? 1 : s0.size);
        for (let r = 0; r < n; r++) {
          const ms = s0.kind === 'chain' ? chain(s0.size, NODES, `${transport}${r}c${s0.size}`) : tree(s0.size, BRANCHING, NODES, `${transport}${r}t${s0.size}`);
          try {
            const x = await once(c, ms);
            lat.push(x.ms); msgs.push(x.messages); byKind = x.byKind; outcomes.add(x.outcome); rejected += x.rejected;
            pages = x.pages;
            last = ms;
            mins.push(minimumMessages(ms, x.pages).total);
          } catch (err) {
            error = (err as Error).message;
            ctx.log(`  ${s0.name} ${transport}: ${error}`);
            break;
          }
        }
        // Bytes: one more run through the counting relays (not timed).
        let bytesPerMember: number | undefined;
        let bytesDownPerMember: number | undefined;
        if (!error && (ctx.full || s0.members.length <= 100)) {
          await c.useRelays(true);
          let b0 = c.relayBytes();
          try {
            // Counted from after the setup (dependency envelopes) to the last outcome.
            await once(c, s0.kind === 'chain' ? chain(s0.size, NODES, `${transport}bc${s0.size}`) : tree(s0.size, BRANCHING, NODES, `${transport}bt${s0.size}`), () => { b0 = c.relayBytes(); });
            const b1 = c.relayBytes();
            const members = s0.members.length;
            bytesPerMember = (b1.up - b0.up) / members;
            bytesDownPerMember = (b1.down - b0.down) / members;
          } catch (err) {
            notes.push(`bytes run ${s0.name} ${transport}: ${(err as Error).message}`);
          }
          await c.useRelays(false);
        }
        const min = minimumMessages(last, pages);
        const p50 = median(lat);
        const p99 = percentile(lat, 99);
        if (s0.kind === 'chain' && lat.length) p50s[s0.size] = p50;
        const g = s0.name === 'chain 32' ? 250 : s0.name === 'fan-out 1000' ? 1000 : undefined;
        out[s0.name] = {
          members: s0.members.length, runs: lat.length, p50Ms: p50, p99Ms: p99, latenciesMs: lat,
          messages: msgs, minimumPerRun: mins, messagesByKind: byKind, minimumMessages: min, outcomes: [...outcomes], rejected,
          wireBytesPerMember: bytesPerMember === undefined ? undefined : round(bytesPerMember, 0),
          wireBytesBackPerMember: bytesDownPerMember === undefined ? undefined : round(bytesDownPerMember, 0),
          ...(error ? { error } : {}), goalMs: g, goalMet: g === undefined || lat.length === 0 ? undefined : p99 < g && p50 < g,
        };
        rows.push([s0.name, transport, s0.members.length, lat.length ? `${lat.length}` : `0 (${error})`, lat.length ? round(p50, 0) : '-', lat.length ? round(p99, 0) : '-',
          g ? `< ${g} ms: ${goal(lat.length ? p99 < g : false)}` : '', [...outcomes].join(',') || '-']);
        msgRows.push([s0.name, transport, s0.members.length, msgs.length ? `${Math.min(...msgs)}..${Math.max(...msgs)}` : '-', min.total,
          `2·${min.requests} + ${min.outcomes} (${min.pages} page${min.pages > 1 ? 's' : ''})`, Object.entries(byKind).map(([k, v]) => `${k} ${v}`).join(', ') || '-',
          msgs.length ? goal(msgs.every((m, i) => m === mins[i])) : '-', bytesPerMember === undefined ? '-' : round(bytesPerMember, 0), bytesDownPerMember === undefined ? '-' : round(bytesDownPerMember, 0)]);
        ctx.log(`  ${s0.name.padEnd(13)} ${transport} p50 ${round(p50, 0)} ms p99 ${round(p99, 0)} ms (${lat.length} runs) messages ${msgs.join(',')} (min ${mins.join(',')}) ${bytesPerMember === undefined ? '' : `${round(bytesPerMember, 0)} B/member`}${error ? ` ERROR ${error}` : ''}`);
      }
      // Per-hop cost: least-squares slope of chain p50 over depth.
      const xs = Object.keys(p50s).map(Number);
      if (xs.length >= 2) {
        const ys = xs.map((x) => p50s[x]!);
        const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
        const my = ys.reduce((a, b) => a + b, 0) / ys.length;
        const slope = xs.reduce((a, x, i) => a + (x - mx) * (ys[i]! - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
        out['perHopMs'] = round(slope, 2);
      }
    } finally {
      await c.stop();
    }
    perTransport[transport] = out;
  }
  results['transports'] = perTransport;
  const hop = (t: string): number => (perTransport[t] as { perHopMs?: number } | undefined)?.perHopMs ?? NaN;
  const markdown = [
    '### Coordinated rollback, end to end (8 node processes, loopback, fsync on)',
    '',
    table(['shape', 'transport', 'members', 'runs', 'p50 ms', 'p99 ms', 'goal', 'outcome'], rows),
    '',
    table(['per-hop cost (slope of chain p50 over depth)', 'ms', 'ratio to one sign + one verify'], [
      ['HTTP', round(hop('http'), 2), round(hop('http') / base.signVerifyMs, 1)],
      ['WebSocket', round(hop('ws'), 2), round(hop('ws') / base.signVerifyMs, 1)],
      ['baseline: one ES256 sign + one verify (same run)', round(base.signVerifyMs, 3), 1],
      ['baseline: one append + fdatasync (same run)', round(base.fsyncMs, 3), round(base.fsyncMs / base.signVerifyMs, 1)],
    ]),
    '',
    '### Messages and bytes per rollback set',
    '',
    table(['shape', 'transport', 'members', 'envelopes received (runs)', 'minimum', 'formula 2(N-1)+O (record pages)', 'by kind (last run)', 'equal to minimum', 'bytes/member to nodes', 'bytes/member back'], msgRows),
  ].join('\n');
  notes.push(`fan-out trees are breadth-first with ${BRANCHING} children per member (a report carries all descendant acks and is capped by the 64 KiB envelope limit; see README)`);
  return { name: 'rollback', results, markdown, notes };
}
