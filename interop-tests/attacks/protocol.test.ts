/**
 * Attacks on protocol state with validly signed envelopes from trusted peers
 * (a -> b -> c automatic, ha -> hb with hb held at B; X depends on nothing):
 * out-of-cone requests, cancels from non-initiators, and a flood of false
 * failure signals at B's measured maximum intake while a legitimate rollback
 * through B completes within its deadline.
 */
import t from 'tap';
import { Mesh, build, fail, waitRecord, type Graph } from '../harness/index.js';
import { attack, envelope, members, nowS, post, state, states, statement, waitMember } from './helpers.js';

const NODES = ['A', 'B', 'C', 'X'];
const DEADLINE_MS = 8000;
let mesh: Mesh | undefined;
let g: Graph;
const m = (): Mesh => mesh!;

t.before(async () => {
  mesh = await Mesh.start({
    name: 'attacks-protocol', nodes: NODES, limits: { deadline_ms: DEADLINE_MS, hop_margin_ms: 300 },
    policy: { B: { executions: { hb: 'held' } } },
  });
  g = await build(mesh, [
    { node: 'A', id: 'a' }, { node: 'B', id: 'b' }, { node: 'C', id: 'c' }, { node: 'A', id: 'ha' }, { node: 'B', id: 'hb' }, { node: 'X', id: 'x' },
    // hc never answers, so the set of ha stays open at A long enough to be cancelled.
    { node: 'C', id: 'hc', behaviour: 'silent' },
  ], [['a', 'b'], ['b', 'c'], ['ha', 'hb'], ['ha', 'hc']]);
});
t.teardown(() => mesh?.stop());

const cp = (e: string) => ({ checkpoint: g.execs[e]!.cp.checkpoint, seq: g.execs[e]!.cp.seq });
const cause = () => ({ agent: 'A', execution: 'a', class: 'eval_failure', at: nowS() });

t.test('protocol attacks', async (t) => {
  // covers: req-request-check req-dependency-authorises req-taint
  await attack(t, import.meta.url, m, {
    id: 'out-of-cone-request', title: 'rollback requests from a node with no dependency on the target are refused',
    sections: ['req-request-check', 'req-dependency-authorises', 'req-taint'],
  }, async (t) => {
    const before = await states(m(), NODES);
    const req = (from: string, member: string, producer: string, seq: number) => envelope(m(), from, 'B', 'request', {
      set: { initiator: from, id: `evil-${member}-${producer}` }, cause: cause(), member, producer: { execution: producer, checkpoint: 'c1', seq }, hops: 4, budget: 5000,
    });
    t.equal((await post(m(), 'B', req('X', 'b', 'x', 1))).code, 'no_dependency', 'X never fed b');
    t.equal((await post(m(), 'B', req('C', 'b', 'c', 1))).code, 'no_dependency', 'C is b\'s consumer, not its producer');
    t.equal((await post(m(), 'B', req('A', 'b', 'ha', 1))).code, 'no_dependency', 'b never consumed ha');
    t.equal((await post(m(), 'B', req('A', 'b', 'a', g.execs['a']!.cp.seq + 1))).code, 'no_dependency', 'a dependency before the target is not tainted');
    t.equal((await post(m(), 'B', req('X', 'nope', 'x', 1))).code, 'unknown_execution');
    t.same(await states(m(), NODES), before, 'no node changed');
  });

  // covers: req-cancel-authority req-cancellation-iss req-cancel-effect
  await attack(t, import.meta.url, m, {
    id: 'cancel-non-initiator', title: 'a cancel not authorised by the initiator changes nothing; the initiator\'s own cancel still works',
    sections: ['proc-cancel', 'req-cancel-authority', 'req-cancellation-iss', 'req-cancel-effect'],
  }, async (t) => {
    const set = await fail(m(), g, 'ha');
    await waitMember(m(), 'B', (x) => x.execution === 'hb' && x.set.id === set.id && x.state === 'held', 15_000, 'hb held');
    const before = await state(m(), 'B');
    const cancel = (from: string, signer: string) => envelope(m(), from, 'B', 'cancel', { set, member: 'hb', authority: statement(m(), signer, 'cancellation', { set }) });
    t.equal((await post(m(), 'B', cancel('X', 'X'))).code, 'not_initiator', 'X cancels with its own authority');
    t.equal((await post(m(), 'B', cancel('C', 'C'))).code, 'not_initiator', 'C (a member elsewhere) cancels');
    t.equal((await post(m(), 'B', cancel('A', 'X'))).code, 'not_initiator', 'the initiator relays an authority X signed');
    const forged = statement(m(), 'X', 'cancellation', { set });
    const parts = forged.split('.');
    const claimsA = `${parts[0]}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()), iss: 'A' })).toString('base64url')}.${parts[2]}`;
    t.equal((await post(m(), 'B', envelope(m(), 'X', 'B', 'cancel', { set, member: 'hb', authority: claimsA }))).code, 'statement_invalid', 'an authority re-labelled as A');
    t.same(await state(m(), 'B'), before, 'B unchanged: hb still held');
    await m().agent('A').cancel(set, 'operator at the initiator');
    const hb = await waitMember(m(), 'B', (x) => x.execution === 'hb' && x.set.id === set.id && x.status === 'cancelled', 15_000, 'hb cancelled');
    t.equal(hb.status, 'cancelled', 'the initiator\'s cancel is honoured');
  });

  // covers: req-sec-rate-limit-key req-failure-dependency req-sec-no-credential-restore
  await attack(t, import.meta.url, m, {
    id: 'flood-false-failures', title: 'a flood of false failure signals at B\'s measured maximum intake; a legitimate rollback through B completes within its deadline',
    sections: ['sec-dos', 'req-failure-dependency', 'req-sec-rate-limit-key', 'proc-deadlines', 'req-sec-no-credential-restore'],
  }, async (t) => {
    const cpB = cp('b');
    // X holds no dependency on b: each signal is validly signed and false.
    const falseSignal = () => envelope(m(), 'X', 'B', 'failure', { execution: 'b', checkpoint: cpB, class: 'eval_failure' });
    const codes = new Map<string, number>();
    const count = (c: string | undefined) => codes.set(c ?? 'accepted', (codes.get(c ?? 'accepted') ?? 0) + 1);
    // Measure: 600 signals, 24 in flight.
    const measure = async (n: number, inflight: number): Promise<number> => {
      const t0 = Date.now();
      let sent = 0;
      await Promise.all(Array.from({ length: inflight }, async () => {
        while (sent < n) { sent++; count((await post(m(), 'B', falseSignal())).code); }
      }));
      return (n * 1000) / (Date.now() - t0);
    };
    const rate = await measure(600, 24);
    t.comment(`B's measured intake of refused signals: ${rate.toFixed(0)}/s`);
    const before = (await members(m(), 'B')).filter((x) => x.set.initiator === 'B').length;
    // Flood at that rate (unbounded, 24 in flight) while A's agent reports a real failure of a.
    let flooding = true;
    const flood = Promise.all(Array.from({ length: 24 }, async () => {
      while (flooding) count((await post(m(), 'B', falseSignal())).code);
    }));
    // Accepted before the rollback: its (iss, jti) must stay remembered after it (replay state is never rolled back).
    const accepted = envelope(m(), 'C', 'B', 'dependency', {
      consumer: { execution: 'c', checkpoint: g.execs['c']!.cp.checkpoint, seq: g.execs['c']!.cp.seq, digest: g.execs['c']!.cp.digest },
      producer: { execution: 'b', ...cpB },
    });
    t.equal((await post(m(), 'B', accepted)).status, 202);
    const t0 = Date.now();
    try {
      const set = await fail(m(), g, 'a');
      const r = await waitRecord(m(), set, DEADLINE_MS + 5000);
      const took = Date.now() - t0;
      t.comment(`legitimate rollback recorded after ${took} ms under the flood`);
      t.equal(r.payload['outcome'], 'complete', 'every member rolled back');
      t.ok(took < DEADLINE_MS, `recorded within the deadline (${took} < ${DEADLINE_MS} ms)`);
    } finally {
      flooding = false;
      await flood;
    }
    t.comment(`flood answers: ${JSON.stringify(Object.fromEntries(codes))}`);
    t.notOk(codes.has('accepted'), 'no false signal accepted');
    t.same([...codes.keys()].filter((c) => c !== 'no_dependency' && c !== 'rate_limited'), [], 'each refused with no_dependency or rate_limited');
    t.equal((await members(m(), 'B')).filter((x) => x.set.initiator === 'B').length, before, 'the flood opened no set at B');
    t.equal((await post(m(), 'B', accepted)).code, 'replayed', 'after rolling back b, B still refuses a replay of what it accepted before');
    t.equal((await post(m(), 'B', falseSignal())).code, 'no_dependency', '... and its trust and dependency state still refuse X');
  });

  // covers: req-degraded req-hard-degraded req-sec-operator-auth
  await attack(t, import.meta.url, m, {
    id: 'lost-replay-state', title: 'a node restarted without its replay watermark is degraded: it refuses failure signals until an operator clears it',
    sections: ['proc-degraded', 'req-degraded', 'req-hard-degraded', 'hard-degraded', 'req-sec-operator-auth'],
  }, async (t) => {
    const { rmSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const B = m().node('B');
    await m().kill('B');
    rmSync(join(B.config.data_dir, 'watermark'), { force: true });
    await m().restart('B');
    // Without its watermark B refuses iat before its start + skew (iat_stale); a sender within the skew passes that floor.
    await new Promise((r) => setTimeout(r, 2100));
    t.equal((await post(m(), 'B', envelope(m(), 'C', 'B', 'dependency', {
      consumer: { execution: 'c', checkpoint: g.execs['c']!.cp.checkpoint, seq: g.execs['c']!.cp.seq, digest: g.execs['c']!.cp.digest },
      producer: { execution: 'b', ...cp('b') },
    }))).code, 'iat_stale', 'everything issued before the restart (plus skew) is refused: replays are impossible');
    // C holds a registered dependency on b: a genuine signal, refused while degraded.
    const signal = () => envelope(m(), 'C', 'B', 'failure', { execution: 'b', checkpoint: cp('b'), class: 'eval_failure' }, { iat: nowS() + 29 });
    const before = await state(m(), 'B');
    t.equal((await post(m(), 'B', signal())).code, 'security_degraded', 'fail closed');
    t.same(await state(m(), 'B'), before, 'nothing opened');
    const clear = async (token: string) => (await fetch(`${B.agentUrl}/operator/v1/security`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ state: 'normal' }),
    })).json() as Promise<{ code?: string }>;
    t.equal((await clear(readFileSync(B.config.agent_face.token_file, 'utf8'))).code, 'forbidden', 'an agent credential cannot clear it');
    t.equal((await post(m(), 'B', signal())).code, 'security_degraded', 'still degraded');
    await clear(readFileSync(B.config.operator!.token_file, 'utf8'));
    t.equal((await post(m(), 'B', signal())).status, 202, 'after the operator cleared it, the genuine signal is accepted');
  });
});
