// Report splitting and record pages (draft "Report Splitting", design note C13): big subtrees
// report in several envelopes under the size limit, late finals forward only new acks, and
// large records are paged so that every outcome envelope fits too.
// covers: req-report-split req-report-content req-report-consistency req-record-pages
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { Simulator, decodeCompact } from '../../src/core/simulator.js';
import type { SendEffect } from '../../src/core/core.js';
import { createSigner } from '../../src/envelope/sync-signer.js';
import { sealEnvelope } from '../../src/envelope/seal.js';
import { build, dg, simOpts, type Graph } from './helpers.js';

const S = (id = 'set-1') => ({ initiator: 'A', id });
const LIMIT = 65536;

// Worst-case header: ES256 with a 128-character kid (the longest the draft allows).
const es = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const sealer = (iss: string) => createSigner(iss, es.privateKey, { kid: 'k'.repeat(128), alg: 'ES256' });

function sends(sim: Simulator, node?: string): SendEffect[] {
  const out: SendEffect[] = [];
  for (const n of sim.nodes.values()) if (!node || n.id === node) for (const e of n.effects) if (e.type === 'send') out.push(e);
  return out;
}

/** A -> H -> M0..M(mids-1), each with `leaves` leaf dependents: H's subtree has 1 + mids*(1+leaves) members. */
function tree(mids: number, leaves: number): Graph {
  const g: Graph = { execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'H', exec: 'h', seqs: 1 }], deps: [] };
  g.deps.push({ consumer: ['H', 'h'], cseq: 1, producer: ['A', 'a'], pseq: 1 });
  for (let i = 0; i < mids; i++) {
    g.execs.push({ agent: `M${i}`, exec: `m${i}`, seqs: 1 });
    g.deps.push({ consumer: [`M${i}`, `m${i}`], cseq: 1, producer: ['H', 'h'], pseq: 1 });
    for (let j = 0; j < leaves; j++) {
      g.execs.push({ agent: `L${i}.${j}`, exec: `l${i}.${j}`, seqs: 1 });
      g.deps.push({ consumer: [`L${i}.${j}`, `l${i}.${j}`], cseq: 1, producer: [`M${i}`, `m${i}`], pseq: 1 });
    }
  }
  return g;
}

t.test('a subtree of 1,000+ members reports completely, every envelope under the size limit', async (t) => {
  const t0 = Date.now();
  const sim = new Simulator(simOpts({ config: { fanoutLimit: 1000, defaultBudgetMs: 60_000, hopMarginMs: 100 } }));
  build(sim, tree(20, 50)); // H's subtree: 1 + 20 * 51 = 1021 members
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 'set-1' });
  sim.run();
  t.same(sim.errors, [], 'no refused delivery');

  // The record and its follow-up pages together name every member once, all rolled back.
  const pages = sim.nodes.get('A')!.records.map((r) => decodeCompact(r.compact).payload as any);
  t.ok(pages.length > 1, `record split into ${pages.length} pages`);
  t.equal(pages[0].members[0].agent, 'A', 'initiator entry first');
  for (const p of pages.slice(1)) t.equal(p.refers, sim.nodes.get('A')!.records[0]!.hash, 'pages refer to the record');
  const entries = pages.flatMap((p) => p.members);
  t.equal(entries.length, 1022, 'one entry per member (A + 1021)');
  t.equal(new Set(entries.map((e: any) => `${e.agent}/${e.execution}`)).size, 1022, 'no member twice');
  t.ok(entries.every((e: any) => e.status === 'rolled_back'), 'every member rolled back');
  t.ok(pages.every((p) => p.outcome === 'complete'), 'outcome complete on every page');
  for (const n of sim.nodes.values()) for (const m of n.core.members()) if (m.state !== 'closed') t.fail(`${n.id}/${m.execution} ${m.state}`);

  // H split its report; each chunk is a distinct send, all receipted.
  const fromH = sends(sim, 'H').filter((e) => e.kind === 'report');
  t.ok(fromH.length >= 10, `H sent ${fromH.length} reports`);
  t.equal(new Set(fromH.map((e) => e.key)).size, fromH.length, 'every chunk has its own key');
  const descendants = new Set(fromH.flatMap((e) => (e.body.acks as string[]).slice(1)));
  t.equal(descendants.size, 1020, 'H forwarded each descendant ack once');
  t.equal(fromH.reduce((n, e) => n + (e.body.acks as string[]).length - 1, 0), 1020, 'and no ack twice');
  t.ok(fromH.every((e) => e.body.total === 1020), 'every chunk announces the total');
  t.match(sim.nodes.get('H')!.core.member(S(), 'h')!.parents, [{ agent: 'A', primary: true, sent: 1020, delivered: 1020 }]);

  // Every report and outcome, sealed with a real ES256 key and the longest kid, fits.
  let largest = 0;
  let count = 0;
  for (const e of sends(sim)) {
    if (e.kind !== 'report' && e.kind !== 'outcome') continue;
    const from = [...sim.nodes.values()].find((n) => n.effects.includes(e))!.id;
    const { compact } = sealEnvelope(sealer(from), e.kind, e.to, e.body, { iat: 9_999_999_999, jti: 'j'.repeat(64) });
    largest = Math.max(largest, compact.length);
    count++;
  }
  t.ok(largest <= 61440, `largest of ${count} sealed reports/outcomes: ${largest} octets (budget 61440, limit ${LIMIT})`);

  // Outcome routing: a leaf receives the record and the page(s) holding its own entry, not all pages.
  const toLeaf = sends(sim).filter((e) => e.kind === 'outcome' && e.to === 'L7.7');
  t.ok(toLeaf.length <= 3, `leaf L7.7 received ${toLeaf.length} of ${pages.length} pages`);
  t.ok(Date.now() - t0 < 60_000, `took ${Date.now() - t0} ms`);
});

t.test('late finals forward only the new acks', async (t) => {
  // A -> B -> C -> D, and B has 40 other dependents; D is held, so its final comes late.
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 1 }, { agent: 'D', exec: 'd', seqs: 1 }],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
      { consumer: ['D', 'd'], cseq: 1, producer: ['C', 'c'], pseq: 1 },
    ],
  };
  for (let i = 0; i < 40; i++) {
    g.execs.push({ agent: `X${i}`, exec: `x${i}`, seqs: 1 });
    g.deps.push({ consumer: [`X${i}`, `x${i}`], cseq: 1, producer: ['B', 'b'], pseq: 1 });
  }
  const sim = new Simulator(simOpts({ policy: (agent) => (agent === 'D' ? 'held' : 'automatic') }));
  build(sim, g);
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 'set-1' });
  sim.run();
  const reports = (n: string) => sends(sim, n).filter((e) => e.kind === 'report');
  const before = new Map(['B', 'C', 'D'].map((n) => [n, reports(n).length]));
  const first = sends(sim, 'B').filter((e) => e.kind === 'report');
  t.equal(first.length, 1, 'B reported once');
  t.equal((first[0]!.body.acks as string[]).length, 43, 'B: own ack + C + D(held) + 40 others');
  t.equal(decodeCompact(sim.nodes.get('A')!.records[0]!.compact).payload.outcome, 'partial');

  sim.input('D', { type: 'decision', set: S(), execution: 'd', decision: 'confirm', by: 'ops' });
  sim.run();
  const byNode = (n: string) => reports(n).slice(before.get(n));
  t.same(byNode('C').map((e) => (e.body.acks as string[]).length), [2], 'C: own ack + D final');
  t.same(byNode('B').map((e) => (e.body.acks as string[]).length), [2], 'B: own ack + D final, not its 41 other acks');
  const dFinal = (byNode('D').at(-1)!.body.acks as string[])[0]!;
  t.equal((byNode('B')[0]!.body.acks as string[])[1], dFinal, 'B forwards D\'s final ack');
  t.equal(byNode('B')[0]!.body.total, 43, 'B\'s total counts the new ack');
  const fu = decodeCompact(sim.nodes.get('A')!.records.at(-1)!.compact).payload as any;
  t.match(fu, { refers: sim.nodes.get('A')!.records[0]!.hash, outcome: 'complete', members: [{ agent: 'D', status: 'rolled_back' }] });
  t.equal(fu.members.length, 1);
});

t.test('chunks stand alone: order-independent, complete only when the announced total is in', async (t) => {
  // A -> B -> C -> D; B's acks are handed to A by hand, in two reports, grandchild first.
  const g: Graph = {
    execs: [{ agent: 'A', exec: 'a', seqs: 1 }, { agent: 'B', exec: 'b', seqs: 1 }, { agent: 'C', exec: 'c', seqs: 1 }, { agent: 'D', exec: 'd', seqs: 1 }],
    deps: [
      { consumer: ['B', 'b'], cseq: 1, producer: ['A', 'a'], pseq: 1 },
      { consumer: ['C', 'c'], cseq: 1, producer: ['B', 'b'], pseq: 1 },
      { consumer: ['D', 'd'], cseq: 1, producer: ['C', 'c'], pseq: 1 },
    ],
  };
  const sim = new Simulator(simOpts());
  build(sim, g);
  sim.partitioned.add('B');
  sim.input('A', { type: 'failure', execution: 'a', checkpoint: { checkpoint: 'a-k1', seq: 1 }, class: 'eval_failure', setId: 'set-1' });
  sim.run({ until: sim.now + 20 });
  const A = sim.nodes.get('A')!.core;
  const ack = (agent: string, member: string, parent: [string, string]) => sim.node(agent).sign('rollback-ack+jwt', {
    v: 1, iss: agent, iat: 0, set: S(), member, parent: { agent: parent[0], execution: parent[1] }, status: 'rolled_back',
    target: { checkpoint: `${member}-k1`, seq: 1 }, restored: { checkpoint: `${member}-k1`, seq: 1, digest: dg(`${agent}/${member}/1`) },
  });
  const b = ack('B', 'b', ['A', 'a']);
  const c = ack('C', 'c', ['B', 'b']);
  const d = ack('D', 'd', ['C', 'c']);
  const report = (acks: string[], total: number) => sim.envelope('B', 'A', 'report', { set: S(), member: 'b', acks, total });
  // D's parent C is in neither this report nor anything A holds: accepted (relaxed rule).
  A.handle(report([b, d], 2), sim.now);
  t.equal(A.member(S(), 'a')!.state, 'collecting', 'A waits: 1 of 2 announced descendant acks');
  t.equal(A.rollbackSet(S())!.state, 'open');
  t.same(A.handle(report([b, d], 2), sim.now).filter((e) => e.type === 'record'), [], 'a retransmitted chunk changes nothing');
  const fx = A.handle(report([b, c], 2), sim.now);
  t.ok(fx.some((e) => e.type === 'record'), 'the second chunk completes B: A records');
  t.same(A.rollbackSet(S())!.entries.map((e) => e.agent), ['A', 'B', 'C', 'D'], 'entries in tree order');
});
