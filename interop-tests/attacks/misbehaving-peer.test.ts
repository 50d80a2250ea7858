/**
 * A real initiator A against a fake member M (misbehaving-peer.ts) holding a
 * real key: every misbehaviour is refused with its code and changes nothing
 * at A; M's honest report afterwards is accepted and completes the set.
 */
import t from 'tap';
import { Mesh, build, fail, waitRecord, decodeCompact, type Graph } from '../harness/index.js';
import { attack, state } from './helpers.js';
import { MisbehavingPeer } from './misbehaving-peer.js';

let mesh: Mesh | undefined;
let peer: MisbehavingPeer | undefined;
let g: Graph;
const m = (): Mesh => mesh!;
const M_CP = { checkpoint: 'm-c1', seq: 1, digest: `sha-256:${'5'.repeat(64)}` };

t.before(async () => {
  mesh = await Mesh.start({ name: 'attacks-peer', nodes: ['A', 'C', 'M'], limits: { deadline_ms: 15_000 } });
  g = await build(mesh, [{ node: 'A', id: 'a0' }, { node: 'C', id: 'c0' }, { node: 'A', id: 'a' }], [['a0', 'c0']]);
  peer = new MisbehavingPeer(mesh, 'M');
  await peer.start();
  peer.target(M_CP);
});
t.teardown(async () => { await peer?.stop(); await mesh?.stop(); });

t.test('misbehaving peer', async (t) => {
  // covers: req-report-consistency req-parent-digest req-statement-verify req-cancel-authority req-request-check req-hard-digest req-dep-check
  await attack(t, import.meta.url, m, {
    id: 'misbehaving-peer', title: 'a fake member with a real key: forged subtree acks, lifted acks, a lying digest, an out-of-cone request, a foreign cancel and unasked reports are all refused',
    sections: ['proc-reports', 'req-report-consistency', 'req-parent-digest', 'req-statement-verify', 'req-cancel-authority', 'req-request-check', 'req-hard-digest'],
  }, async (t) => {
    const p = peer!;
    const aCp = { ...g.execs['a']!.cp, execution: 'a' };
    // A genuine ack of C from another set (S0), for the lifting attack.
    const s0 = await fail(m(), g, 'a0');
    const r0 = await waitRecord(m(), s0);
    const genuineC = (r0.payload['members'] as { agent: string; ack?: string }[]).find((x) => x.agent === 'C')!.ack!;
    t.ok(genuineC, 'a genuine ack of C');

    t.equal((await p.registerDependency('A', aCp, 'm', M_CP)).status, 202, 'dependency registration of m on a accepted');
    t.equal((await p.send('A', 'dependency', { consumer: { execution: 'm', checkpoint: 'm-c1', seq: 1, digest: M_CP.digest }, producer: { execution: 'a', checkpoint: 'nope', seq: 1 } })).code, 'unknown_checkpoint', 'a registration on an unknown checkpoint');

    let before = await state(m(), 'A');
    t.equal((await p.outOfConeRequest('A', 'a', 'm')).code, 'no_dependency', 'out-of-cone request');
    t.equal((await p.reportUnasked('A', { initiator: 'A', id: 'never-opened' }, 'm', 'a')).code, 'unknown_set', 'report for a set that does not exist');
    const unasked = await p.reportUnasked('A', s0, 'm', 'a0');
    t.ok(unasked.code === 'no_dependency' || unasked.code === 'unknown_set', `report in a set it was never asked in: ${unasked.code}`);
    t.same(await state(m(), 'A'), before, 'A unchanged');

    // S1: A asks M (the registration authorises it).
    const s1 = await fail(m(), g, 'a');
    const req = (await p.waitFor('request', (x) => x['set'].id === s1.id)).payload;
    t.match(req, { member: 'm', producer: { execution: 'a' } }, 'A asked M for m');
    await new Promise((r) => setTimeout(r, 300));
    before = await state(m(), 'A');
    t.equal((await p.forgedSubtreeAck(req, 'C', 'c0')).code, 'statement_invalid', 'an ack made up for C, iss C, signed with M\'s key');
    t.equal((await p.liftedAck(req, genuineC)).code, 'statement_invalid', 'C\'s genuine ack from another set');
    t.equal((await p.lyingDigest(req)).code, 'digest_mismatch', 'rolled_back with a digest other than the registered one');
    t.equal((await p.cancelAsNonInitiator('A', s1, 'a')).code, 'not_initiator', 'cancel of A\'s set');
    t.same(await state(m(), 'A'), before, 'A unchanged by all of it');

    t.equal((await p.honestReport(req)).status, 202, 'the honest report is accepted');
    const r1 = await waitRecord(m(), s1);
    t.equal(r1.status['M/m'], 'rolled_back');
    t.equal(decodeCompact(r1.payload['members'].find((x: { agent: string }) => x.agent === 'M').ack).payload['restored'].digest, M_CP.digest, 'the record carries M\'s honest ack');
  });
});
