/** Core resolution at scale (bench/core-resolution.ts). */
import { coreResolution } from '../core-resolution.js';
import { goal, round, table, type Ctx, type Figure } from '../lib/util.js';

export async function run(ctx: Ctx): Promise<Figure> {
  const r = coreResolution(100_000, 300_000, ctx.full ? 1000 : 0, ctx.full ? 5 : 3);
  ctx.log(`  core: ${r.members} members, median ${round(r.medianMs, 0)} ms, ${round(r.bytesPerExecution, 0)} B/execution`);
  const rows: (string | number)[][] = [
    [`${r.executions} executions, ${r.dependencies} dependencies: set of ${r.members} members, ${r.requests} requests`, round(r.medianMs, 0), `${round(r.minMs, 0)} .. ${round(r.maxMs, 0)}`, `< 1000 ms: ${goal(r.medianMs < 1000)}`],
  ];
  if (r.simulator) rows.push([`simulator end to end: ${r.simulator.instances} Core instances, ${r.simulator.members} members recorded, ${r.simulator.events} events`, round(r.simulator.ms, 0), '', '']);
  const markdown = [
    '### Core resolution',
    '',
    table(['what', 'median ms', 'min .. max', 'goal'], rows),
    '',
    `Memory per execution held (3 checkpoints, both dependency sides): ${round(r.bytesPerExecution, 0)} bytes.`,
  ].join('\n');
  return { name: 'core', results: { ...r, goalMet: r.medianMs < 1000 }, markdown, notes: [] };
}
