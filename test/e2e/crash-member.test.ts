/**
 * Real node processes: a member (enrich, in the middle of the chain) killed
 * with SIGKILL after each named durable step (MARP_TEST_CRASH_AT: handled =
 * the core changed its state but nothing is logged; logged = logged, effects
 * not run), restarted from its log; each set ends with a record that
 * verifies and nothing lost.
 */
import t from 'tap';
import { rig, round } from './rounds.js';

const r = await rig(t);
for (const at of ['handled:1', 'logged:1', 'logged:4']) {
  await t.test(`member killed at ${at}`, (t) => round(t, r, { arm: { node: 'enrich', at } }));
}
