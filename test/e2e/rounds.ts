/**
 * Rounds of the demo scenario on one long-lived mesh of real node processes,
 * each with its own executions, for the crash tests: arm a crash point on a
 * node (MARP_TEST_CRASH_AT, by restarting it), run the failure, let the
 * supervisor restart whatever dies of SIGKILL, and check that the set ends
 * with a record that verifies and every agent's state equals the checkpoint
 * it was rolled back to.
 */
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMesh, startAgents, prepareScenario, waitRecord, AGENTS, type Mesh, type Name } from '../../src/demo/run.js';
import { digestOf, type FileAgent } from '../../src/demo/file-agent.js';
import { buildBundle, verifyBundle } from '../../src/cli/bundle.js';
import { decodePayload } from '../../src/cli/offline.js';

export interface Rig { mesh: Mesh; agents: Record<Name, FileAgent>; round: number }

export async function rig(t: Test): Promise<Rig> {
  const mesh = await startMesh({ supervise: true });
  const agents = startAgents(mesh);
  t.teardown(async () => {
    for (const n of AGENTS) agents[n].client.close();
    await mesh.stop();
  });
  return { mesh, agents, round: 0 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One round. `arm`: a crash point to arm on a node before the failure;
 * `kills`: SIGKILL these nodes at the given delays (ms) after the failure.
 */
export async function round(t: Test, r: Rig, opts: { arm?: { node: Name; at: string }; kills?: { node: Name; after: number }[] }): Promise<void> {
  const { mesh, agents } = r;
  const n = ++r.round;
  await mesh.ready();
  const i2 = await prepareScenario(agents, () => {}, n);
  const before = { ...mesh.restarts };
  if (opts.arm) await mesh.restart(opts.arm.node, { MARP_TEST_CRASH_AT: opts.arm.at });

  // The initiator may die on the failure itself: an unanswered call is retried (absorbed if it was logged).
  let set: { initiator: string; id: string } | undefined;
  for (let i = 0; !set; i++) {
    try {
      set = (await agents.ingest.client.failure(`ingest-${n}`, { ...i2, class: 'quality_regression', detail: `round ${n}` })).set;
    } catch (err) {
      if (i > 100) throw err;
      await sleep(100);
    }
  }
  // A retry that arrives after the logged set was already recorded opens a new set (its members
  // satisfied by the first): the set to check is the first one of this execution.
  const first = (await agents.ingest.client.call<{ set: { initiator: string; id: string }; execution: string }[]>('GET', '/agent/v1/sets'))
    .find((m) => m.execution === `ingest-${n}`);
  if (first) set = first.set;
  const kills = (opts.kills ?? []).map((k) => sleep(k.after).then(() => { mesh.nodes[k.node].child?.kill('SIGKILL'); }));
  let all = await waitRecord(agents.ingest, set, 30_000);
  if (kills.length > 0) {
    // Killed before or after the record: either way, once restarted the same single record stands.
    await Promise.all(kills);
    await sleep(50);
    await mesh.ready();
    const again = await waitRecord(agents.ingest, set, 30_000);
    t.same(again.slice(0, 1), all.slice(0, 1), 'the same record after the restarts');
    all = again;
    for (const k of opts.kills!) t.ok(mesh.restarts[k.node] > before[k.node], `${k.node} was killed and restarted`);
  }
  if (opts.arm) {
    t.equal(mesh.restarts[opts.arm.node], before[opts.arm.node] + 1, `${opts.arm.node} killed at ${opts.arm.at} and restarted`);
  }
  // A crash point never reached must not fire in the next round's set-up.
  if (opts.arm && mesh.restarts[opts.arm.node] === before[opts.arm.node]) await mesh.restart(opts.arm.node);

  const p = decodePayload(all[0]!);
  t.equal(p['outcome'], 'complete', 'every member rolled back or compensated');
  t.same(
    p['members'].map((m: { agent: string; execution: string; status: string }) => `${m.execution}:${m.status}`).sort(),
    [`enrich-${n}:rolled_back`, `ingest-${n}:rolled_back`, `price-${n}:compensated`, `report-${n}:rolled_back`],
    'exactly the tainted executions, each once',
  );
  t.equal(all.length, 1, 'one record, no follow-up needed');
  const keys = mesh.keys;
  t.ok(verifyBundle(buildBundle(all, p['set'], keys)).ok, 'the record verifies offline');

  // Nothing lost: each agent's state is its target checkpoint, as its ack says.
  for (const m of p['members'] as { agent: Name; ack?: string }[]) {
    const state = readFileSync(join(mesh.dir, `${m.agent}-agent`, 'state.jsonl'));
    const target = m.ack ? (decodePayload(m.ack)['target'] as { checkpoint: string }).checkpoint : `ingest-${n}-c2`;
    const copy = readFileSync(join(mesh.dir, `${m.agent}-agent`, 'checkpoints', `${target}.jsonl`));
    t.equal(digestOf(state), digestOf(copy), `${m.agent} holds ${target}`);
    if (m.ack) t.equal((decodePayload(m.ack)['restored'] as { digest: string }).digest, digestOf(copy), `${m.agent}'s ack names the restored digest`);
  }
}
