/** Intake pipeline throughput against bare node:crypto verification (bench/envelope.ts). */
import { configure, replayMemory, throughput } from '../envelope.js';
import { goal, round, table, type Ctx, type Figure } from '../lib/util.js';

export async function run(ctx: Ctx): Promise<Figure> {
  const n = ctx.full ? 20_000 : 4_000;
  const rounds = ctx.full ? 3 : 2;
  const { inFlight, chunk } = configure(n, rounds);
  const mem = replayMemory(ctx.full ? 1_000_000 : 200_000);
  const rows: (string | number)[][] = [];
  const results: Record<string, unknown> = { envelopes: n, rounds, inFlight, chunk, replay: mem };
  for (const alg of ['ES256', 'Ed25519'] as const) {
    const r = await throughput(alg);
    const ratio = r.pipeline / r.bare;
    results[alg] = { ...r, ratio, goalMet: ratio >= 0.8 };
    rows.push([alg, round(r.bare, 0), round(r.pipeline, 0), round(ratio, 2), `>= 0.8: ${goal(ratio >= 0.8)}`, r.bytes]);
    ctx.log(`  intake ${alg}: bare ${round(r.bare, 0)}/s pipeline ${round(r.pipeline, 0)}/s ratio ${round(ratio, 2)}`);
  }
  const markdown = [
    `### Intake pipeline vs bare signature verification (${inFlight} in flight, same key and algorithm, alternating chunks of ${chunk})`,
    '',
    table(['alg', 'bare verify /s', 'pipeline accepted /s', 'ratio', 'goal', 'envelope bytes'], rows),
    '',
    table(['replay cache', 'value'], [
      ['ids held', ctx.full ? 1_000_000 : 200_000],
      ['bytes per id (heap + array buffers)', round(mem.bytesPerId, 1)],
      ['check-and-insert per second', round(mem.insertsPerSecond, 0)],
    ]),
  ].join('\n');
  return { name: 'intake', results, markdown, notes: [] };
}
