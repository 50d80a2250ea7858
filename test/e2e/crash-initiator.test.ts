/**
 * Real node processes: the initiator (ingest) killed with SIGKILL after each
 * named durable step, and nodes killed at random moments; each restarted
 * from its log, each set ending with a record that verifies and nothing lost.
 */
import t from 'tap';
import { AGENTS } from '../../src/demo/run.js';
import { rig, round } from './rounds.js';

const r = await rig(t);
for (const at of ['handled:1', 'logged:1', 'logged:3', 'recorded:1']) {
  await t.test(`initiator killed at ${at}`, (t) => round(t, r, { arm: { node: 'ingest', at } }));
}

// Random moments: a seeded choice of nodes and delays, printed so a failure can be replayed.
let seed = Number(process.env['MARP_TEST_SEED'] ?? Date.now() % 1_000_000);
t.comment(`random kills: MARP_TEST_SEED=${seed}`);
const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
for (let i = 0; i < 2; i++) {
  const kills = [0, 1].map(() => ({ node: AGENTS[rand(AGENTS.length)]!, after: rand(250) }));
  await t.test(`random kills ${kills.map((k) => `${k.node}@${k.after}ms`).join(', ')}`, (t) => round(t, r, { kills }));
}
