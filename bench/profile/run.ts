/**
 * One rollback shape, repeated on one 8-node cluster: per run, failure report
 * to recovery record (ms) and the CPU the node processes used (utime + stime
 * from /proc, all threads), total and per member. Writes nothing; used by
 * bench/profile/perf.sh to find where the nodes' CPU goes.
 *
 *   SHAPE=tree|chain N=1000 RUNS=12 TRANSPORT=http|ws node --import tsx bench/profile/run.ts
 */
import { readFileSync } from 'node:fs';
import { Cluster } from '../lib/cluster.js';
import { build, chain, tree, type Member } from '../figures/rollback.js';

const env = process.env;
const transport = (env['TRANSPORT'] ?? 'http') as 'http' | 'ws';
const size = Number(env['N'] ?? 1000);
const runs = Number(env['RUNS'] ?? 12);
const shape = (prefix: string): Member[] => (env['SHAPE'] === 'chain' ? chain(size, 8, prefix) : tree(size, 32, 8, prefix));

/** utime + stime of a process, in clock ticks (100 per second on Linux). */
const ticks = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
};

const c = await Cluster.start({ transport });
process.stdout.write(`node pids ${c.nodes.map((n) => n.child.pid).join(',')}\n`);
try {
  for (let r = 0; r < runs; r++) {
    const ms = shape(`p${r}`);
    await build(c, ms);
    await c.quiesce(200);
    const cpu0 = c.nodes.reduce((a, n) => a + ticks(n.child.pid!), 0);
    const t0 = Date.now();
    const { set } = await c.nodes[0]!.client.failure(ms[0]!.id, { checkpoint: `${ms[0]!.id}-k1`, seq: 1, class: 'eval_failure' });
    const rec = await c.waitRecord(set.id, 60_000);
    const cpuMs = (c.nodes.reduce((a, n) => a + ticks(n.child.pid!), 0) - cpu0) * 10;
    process.stdout.write(`run ${r}: ${rec.time - t0} ms, node CPU ${cpuMs} ms, ${(cpuMs / ms.length).toFixed(2)} ms per member\n`);
    await c.quiesce();
  }
} finally {
  await c.stop();
}
