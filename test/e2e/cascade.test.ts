/**
 * End to end, real node processes: the demo's chain-plus-diamond cascade
 * over HTTP and over WebSocket links, and an initiator killed right after it
 * wrote the recovery record (before distributing it), then restarted.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMesh, runScenario, AGENTS, type Mesh } from '../../src/demo/run.js';
import { buildBundle, verifyBundle } from '../../src/cli/bundle.js';
import { decodePayload } from '../../src/cli/offline.js';
import { digestOf } from '../../src/demo/file-agent.js';

async function cascade(t: Test, mesh: Mesh): Promise<void> {
  const { record, agents } = await runScenario(mesh);
  const p = decodePayload(record);
  t.equal(p['outcome'], 'complete', 'every member rolled back or compensated');
  t.same(
    p['members'].map((m: { agent: string; execution: string; status: string }) => `${m.agent}/${m.execution}:${m.status}`).sort(),
    ['enrich/enrich-1:rolled_back', 'ingest/ingest-1:rolled_back', 'price/price-1:compensated', 'report/report-1:rolled_back'],
    'exactly the tainted executions, each once (the diamond member too)',
  );
  t.equal(p['members'][0].agent, 'ingest', 'initiator entry first');
  t.ok(verifyBundle(buildBundle([record], p['set'], mesh.keys)).ok, 'record and embedded acks verify offline');
  // Each agent's state equals the checkpoint it was rolled back to.
  t.same(agents.ingest.records(), [{ execution: 'ingest-1', source: 'orders feed', cursor: 0 }, { batch: 1, rows: 100 }], 'ingest back at its last good checkpoint');
  t.same(agents.enrich.records(), [{ execution: 'enrich-1', lookup: 'regions v3' }, { from: 'ingest batch 1' }], 'the consumption before the failed checkpoint is not undone');
  t.same(agents.price.records(), [{ execution: 'price-1', price_list: 'v41', currency: 'EUR' }], 'price restored');
  t.same(agents.report.records(), [{ execution: 'report-1', template: 'daily v2' }], 'report restored');
  // No checkpoint is of empty state: each restored digest commits to something (draft "Checkpoints").
  const empty = digestOf(new Uint8Array(0));
  for (const m of p['members'] as { ack?: string }[]) {
    if (m.ack) t.not((decodePayload(m.ack)['restored'] as { digest: string }).digest, empty, 'restored digest is not of empty state');
  }
  for (const n of AGENTS) {
    const state = readFileSync(join(mesh.dir, `${n}-agent`, 'state.jsonl'));
    t.match(digestOf(state), /^sha-256:[0-9a-f]{64}$/);
    agents[n].client.close();
  }
  // Every member receives the record (outcome distributed down the tree).
  for (const n of AGENTS.filter((x) => x !== 'ingest')) {
    const states = await agents[n].client.rollbackSet(p['set']);
    await t.resolveMatch(Promise.resolve(states.members[0]), { state: /closed|expired|reported/ }, `${n} member settled`);
  }
}

for (const transport of ['http', 'ws'] as const) {
  // covers: req-bindings-http-mti req-conf-member req-conf-initiator
  t.test(`cascade over ${transport}`, async (t) => {
    const mesh = await startMesh({ transport });
    t.teardown(() => mesh.stop());
    await cascade(t, mesh);
  });
}

// covers: req-vanished req-record-chain req-record-when
t.test('initiator killed after writing the record, before distributing it', async (t) => {
  const mesh = await startMesh({ env: { ingest: { MARP_TEST_CRASH_AT: 'recorded' } } });
  t.teardown(() => mesh.stop());
  const run = runScenario(mesh);
  // Wait for the crash, then restart from the log.
  await new Promise<void>((resolve) => mesh.nodes.ingest.child.once('exit', () => resolve()));
  t.equal(mesh.nodes.ingest.child.signalCode, 'SIGKILL', 'killed at the crash point');
  await mesh.restart('ingest');
  const { record, agents } = await run;
  for (const n of AGENTS) agents[n].client.close();
  const p = decodePayload(record);
  t.equal(p['outcome'], 'complete');
  t.equal(p['index'], 1, 'one record, not written twice');
  t.ok(verifyBundle(buildBundle([record], p['set'], mesh.keys)).ok, 'record verifies after the restart');
});
