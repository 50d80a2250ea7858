import t from 'tap';
import { Outbox, type OutboxHooks, type Outgoing } from '../../src/node/outbox.js';
import type { Delivery, PeerLink } from '../../src/node/peer-link.js';
import type { ErrorCode } from '../../src/errors.js';
import { newJti, sealReceipt, type ReceiptAnswer, type Signer } from '../../src/envelope/index.js';
import { makeKey, world } from '../envelope/helpers.js';

type Script = Delivery | ((compact: string, jti: string) => Delivery | Promise<Delivery>);

/** A fake peer link: each deliver() takes the next scripted result (the last one repeats). */
class FakeLink implements PeerLink {
  readonly calls: Array<{ compact: string; jti: string }> = [];
  constructor(private readonly script: Script[]) {}
  async deliver(compact: string, jti: string): Promise<Delivery> {
    this.calls.push({ compact, jti });
    const s = this.script.length > 1 ? this.script.shift()! : this.script[0]!;
    return typeof s === 'function' ? s(compact, jti) : s;
  }
  close(): void {}
}

interface Harness {
  outbox: Outbox;
  clock: { now: number };
  signed: Outgoing[];
  attempts: Array<{ o: Outgoing; d: Delivery }>;
  done: Promise<{ result: 'delivered' } | { result: 'abandoned'; code: string; detail: string; o: Outgoing }>;
  deliveredWith: Outgoing[];
}

function harness(links: Record<string, PeerLink | undefined>, over: Partial<OutboxHooks> = {}): Harness {
  const clock = { now: 1_000 };
  const signed: Outgoing[] = [];
  const attempts: Array<{ o: Outgoing; d: Delivery }> = [];
  const deliveredWith: Outgoing[] = [];
  let settle!: (v: any) => void;
  const done = new Promise<any>((r) => { settle = r; });
  let n = 0;
  const outbox = new Outbox({
    async sign(o) {
      signed.push(o);
      n++;
      return { compact: `jws.${o.kind}.${JSON.stringify(o.body)}.${n}`, jti: `jti-${n}` };
    },
    link: (peer) => links[peer],
    now: () => clock.now,
    // Scripted receipt statements: "good" confirms any attempt, "refused:<code>" refuses it.
    async confirm(_o, _jti, receipt) {
      if (receipt === 'good') return { status: 'accepted' };
      if (receipt.startsWith('refused:')) return { status: 'refused', code: receipt.slice(8) };
      throw new Error(`bad receipt ${receipt}`);
    },
    delivered(o) { deliveredWith.push(o); settle({ result: 'delivered' }); },
    abandoned(o, code, detail) { settle({ result: 'abandoned', code, detail, o }); },
    attempt(o, d) { attempts.push({ o, d }); },
    ...over,
  });
  return { outbox, clock, signed, attempts, done, deliveredWith };
}

const msg = (over: Partial<Outgoing> = {}): Outgoing => ({
  to: 'alice', kind: 'rollback-request', body: { n: 1 }, key: 'k1', until: 1_000_000, ...over,
});

const ok: Delivery = { ok: true, receipt: 'good' };
/** A refusal; one that would end retransmission carries its signed receipt unless `unsigned`. */
const fail = (code: ErrorCode | 'unreachable', unsigned = false): Delivery => ({
  ok: false, code, detail: `refused ${code}`, ...(code === 'unreachable' || unsigned ? {} : { receipt: `refused:${code}` }),
});

t.test('delivered on the first receipt', async (t) => {
  const link = new FakeLink([ok]);
  const h = harness({ alice: link });
  h.outbox.send(msg());
  t.equal(h.outbox.size, 1, 'in flight');
  t.same(await h.done, { result: 'delivered' });
  t.equal(link.calls.length, 1);
  t.same(link.calls[0], { compact: 'jws.rollback-request.{"n":1}.1', jti: 'jti-1' });
  t.equal(h.signed.length, 1);
  t.equal(h.attempts.length, 1);
  t.same(h.attempts[0]!.d, { ok: true }, 'the attempt hook sees the confirmed answer');
  t.equal(h.outbox.size, 0, 'entry removed once delivered');
});

t.test('works without an attempt hook', async (t) => {
  const link = new FakeLink([fail('unreachable'), ok]);
  const h = harness({ alice: link }, { attempt: undefined });
  h.outbox.send(msg());
  t.same(await h.done, { result: 'delivered' });
  t.equal(link.calls.length, 2);
});

// covers: req-retransmit req-jti
t.test('retries after unreachable, signing every attempt afresh', async (t) => {
  const link = new FakeLink([fail('unreachable'), fail('unreachable'), fail('unreachable'), ok]);
  const h = harness({ alice: link });
  h.outbox.send(msg());
  t.same(await h.done, { result: 'delivered' });
  t.equal(link.calls.length, 4);
  t.equal(h.signed.length, 4, 'sign() called once per attempt');
  t.same(link.calls.map((c) => c.jti), ['jti-1', 'jti-2', 'jti-3', 'jti-4'], 'a fresh jti per attempt');
  t.equal(new Set(link.calls.map((c) => c.compact)).size, 4, 'a fresh compact JWS per attempt');
  t.same(h.attempts.map((a) => a.d.ok), [false, false, false, true]);
});

for (const code of ['rate_limited', 'replay_quota', 'iat_stale', 'internal', 'security_degraded', 'replayed'] as const) {
  t.test(`retries after retryable code ${code}`, async (t) => {
    const link = new FakeLink([fail(code), fail(code), ok]);
    const h = harness({ alice: link });
    h.outbox.send(msg());
    t.same(await h.done, { result: 'delivered' });
    t.equal(link.calls.length, 3);
    t.equal(h.signed.length, 3, 're-signed for each attempt');
    t.equal(new Set(link.calls.map((c) => c.jti)).size, 3);
  });
}

for (const code of ['no_dependency', 'statement_invalid', 'iat_future', 'unknown_execution', 'unknown_set', 'illegal_transition'] as const) {
  // covers: req-retransmit req-error-codes req-receipt-final
  t.test(`abandoned at once on a signed refusal with non-retryable code ${code}`, async (t) => {
    const link = new FakeLink([fail(code), ok]);
    const h = harness({ alice: link });
    const o = msg();
    h.outbox.send(o);
    const r = await h.done;
    t.match(r, { result: 'abandoned', code, detail: `refused ${code}` });
    t.equal((r as { o: Outgoing }).o, o, 'abandoned with the outgoing message');
    t.equal(link.calls.length, 1, 'no retry');
    t.equal(h.outbox.size, 0);
    await new Promise((r) => setTimeout(r, 120));
    t.equal(link.calls.length, 1, 'still no retry later');
  });
}

t.test('abandoned with expired once `until` has passed', async (t) => {
  const link = new FakeLink([(() => { h.clock.now = 2_001; return fail('unreachable'); })]);
  const h = harness({ alice: link });
  h.outbox.send(msg({ until: 2_000 }));
  const r = await h.done;
  t.match(r, { result: 'abandoned', code: 'expired', detail: 'deadline passed' });
  t.equal(link.calls.length, 1, 'no attempt after the deadline');
  t.equal(h.outbox.size, 0);
});

t.test('a message already past its deadline is never sent', async (t) => {
  const link = new FakeLink([ok]);
  const h = harness({ alice: link });
  h.outbox.send(msg({ until: 999 }));
  t.match(await h.done, { result: 'abandoned', code: 'expired' });
  t.equal(link.calls.length, 0);
  t.equal(h.signed.length, 0);
});

t.test('an attempt exactly at the deadline is still made', async (t) => {
  const link = new FakeLink([ok]);
  const h = harness({ alice: link });
  h.outbox.send(msg({ until: 1_000 }));
  t.same(await h.done, { result: 'delivered' });
});

t.test('the retry wait never overshoots the deadline by much', async (t) => {
  // After several failures the backoff grows; with the deadline close, the outbox wakes up near it and expires.
  let calls = 0;
  const link = new FakeLink([() => { calls++; return fail('unreachable'); }]);
  const h = harness({ alice: link }, { now: () => Date.now() });
  const start = Date.now();
  h.outbox.send(msg({ until: start + 150 }));
  t.match(await h.done, { result: 'abandoned', code: 'expired' });
  const took = Date.now() - start;
  t.ok(took >= 150 && took < 1000, `expired after ${took} ms`);
  t.ok(calls >= 2, `retried before expiring (${calls} attempts)`);
});

t.test('a second send() with the same key while in flight replaces the body, one loop only', async (t) => {
  let release!: (d: Delivery) => void;
  const link = new FakeLink([
    () => new Promise<Delivery>((r) => { release = r; }),
    ok,
  ]);
  const h = harness({ alice: link });
  h.outbox.send(msg({ body: { v: 1 } }));
  await new Promise((r) => setImmediate(r));
  t.equal(link.calls.length, 1, 'first attempt in flight');
  h.outbox.send(msg({ body: { v: 2 } }));
  t.equal(h.outbox.size, 1, 'still one entry');
  await new Promise((r) => setImmediate(r));
  t.equal(link.calls.length, 1, 'no second loop started');
  release(ok);
  t.same(await h.done, { result: 'delivered' });
  t.equal(link.calls.length, 2, 'the replaced body is sent in its own attempt');
  t.same(h.signed.map((o) => o.body), [{ v: 1 }, { v: 2 }]);
  t.match(link.calls[1]!.compact, /\{"v":2\}/);
  t.same(h.deliveredWith.map((o) => o.body), [{ v: 2 }], 'delivered reports the newest message');
  t.equal(h.outbox.size, 0);
});

t.test('a replacement during the backoff wait is used for the next attempt', async (t) => {
  const link = new FakeLink([fail('unreachable'), ok]);
  const h = harness({ alice: link });
  h.outbox.send(msg({ body: { v: 1 } }));
  while (h.attempts.length < 1) await new Promise((r) => setImmediate(r));
  h.outbox.send(msg({ body: { v: 2 } }));
  t.same(await h.done, { result: 'delivered' });
  t.same(h.signed.map((o) => o.body), [{ v: 1 }, { v: 2 }]);
  t.same(h.deliveredWith.map((o) => o.body), [{ v: 2 }]);
});

t.test('different keys run independently', async (t) => {
  const link = new FakeLink([ok]);
  const delivered: string[] = [];
  const h = harness({ alice: link, carol: link }, { delivered: (o) => { delivered.push(o.key); } });
  h.outbox.send(msg({ key: 'a' }));
  h.outbox.send(msg({ key: 'b', to: 'carol' }));
  t.equal(h.outbox.size, 2);
  while (delivered.length < 2) await new Promise((r) => setImmediate(r));
  t.same(delivered.sort(), ['a', 'b']);
  t.equal(h.outbox.size, 0);
});

t.test('close() stops retries and refuses new sends', async (t) => {
  const link = new FakeLink([fail('unreachable')]);
  let finished = false;
  const h = harness({ alice: link }, { delivered: () => { finished = true; }, abandoned: () => { finished = true; } });
  h.outbox.send(msg());
  while (link.calls.length < 1) await new Promise((r) => setImmediate(r));
  h.outbox.close();
  h.outbox.send(msg({ key: 'after-close' }));
  await new Promise((r) => setTimeout(r, 250));
  t.equal(link.calls.length, 1, 'no attempt after close');
  t.equal(h.signed.length, 1, 'nothing signed after close');
  t.notOk(finished, 'neither delivered nor abandoned');
});

t.test('missing link: retried, then expired', async (t) => {
  let links = 0;
  const start = Date.now();
  const h = harness({}, { now: () => Date.now(), link: () => { links++; return undefined; } });
  h.outbox.send(msg({ until: start + 120 }));
  const r = await h.done;
  t.match(r, { result: 'abandoned', code: 'expired' });
  t.ok(links >= 2, `link looked up on every attempt (${links})`);
  t.equal(h.signed.length, 0, 'nothing signed without a link');
  t.ok(h.attempts.length >= 2);
  t.match(h.attempts[0]!.d, { ok: false, code: 'unreachable', detail: 'no link to alice' });
});

t.test('a link that appears later is used', async (t) => {
  const link = new FakeLink([ok]);
  let lookups = 0;
  const h = harness({}, { link: () => (++lookups >= 3 ? link : undefined) });
  h.outbox.send(msg());
  t.same(await h.done, { result: 'delivered' });
  t.equal(lookups, 3);
  t.equal(h.signed.length, 1);
});

t.test('a sign() failure abandons the message instead of crashing the node', async (t) => {
  const link = new FakeLink([ok]);
  let calls = 0;
  const h = harness({ alice: link }, {
    sign: async () => { calls++; throw calls === 1 ? new Error('bad body') : 'odd'; },
  });
  h.outbox.send(msg());
  t.match(await h.done, { result: 'abandoned', code: 'internal', detail: 'cannot sign: bad body' });
  t.equal(link.calls.length, 0);
  t.equal(h.outbox.size, 0);
  const h2 = harness({ alice: link }, { sign: async () => { throw 'odd'; } });
  h2.outbox.send(msg());
  t.match(await h2.done, { result: 'abandoned', code: 'internal', detail: 'cannot sign: odd' });
});

// ---- what ends retransmission: only the receiver's receipt statement (draft "req-receipt-final")

for (const code of ['signature_invalid', 'kid_unknown', 'no_dependency', 'unknown_set', 'illegal_transition'] as const) {
  // covers: req-receipt-unsigned
  t.test(`an unsigned refusal ${code} is retried like no answer`, async (t) => {
    const link = new FakeLink([fail(code, true), fail(code, true), ok]);
    const h = harness({ alice: link });
    h.outbox.send(msg());
    t.same(await h.done, { result: 'delivered' });
    t.equal(link.calls.length, 3, 'retried until a receipt statement came');
    t.equal(new Set(link.calls.map((c) => c.jti)).size, 3, 'signed afresh');
    t.match(h.attempts[0]!.d, { ok: false, code: 'unconfirmed', detail: `${code} without a receipt statement` });
  });
}

// covers: req-receipt-unsigned
t.test('an unsigned receipt (202 or receipt frame without a statement) is retried like no answer', async (t) => {
  const link = new FakeLink([{ ok: true }, ok]);
  const h = harness({ alice: link });
  h.outbox.send(msg());
  t.same(await h.done, { result: 'delivered' });
  t.equal(link.calls.length, 2);
  t.same(h.attempts.map((a) => a.d), [{ ok: false, code: 'unconfirmed', detail: 'receipt without a receipt statement' }, { ok: true }]);
});

// covers: req-receipt-unsigned
t.test('a receipt statement that does not verify is retried like no answer', async (t) => {
  const link = new FakeLink([{ ok: true, receipt: 'forged' }, { ok: false, code: 'no_dependency', detail: 'x', receipt: 'forged' }, ok]);
  const h = harness({ alice: link });
  h.outbox.send(msg());
  t.same(await h.done, { result: 'delivered' });
  t.equal(link.calls.length, 3);
  t.match(h.attempts[0]!.d, { code: 'unconfirmed', detail: 'receipt with an invalid receipt statement: bad receipt forged' });
  t.match(h.attempts[1]!.d, { code: 'unconfirmed', detail: /^no_dependency with an invalid receipt statement/ });
});

// covers: req-receipt-unsigned
t.test('unsigned refusals until the deadline: expired, never abandoned for their code', async (t) => {
  const link = new FakeLink([fail('no_dependency', true)]);
  const h = harness({ alice: link }, { now: () => Date.now() });
  h.outbox.send(msg({ until: Date.now() + 200 }));
  t.match(await h.done, { result: 'abandoned', code: 'expired' });
  t.ok(link.calls.length >= 3, `kept retransmitting (${link.calls.length} attempts)`);
});

t.test('the signed statement decides, not the unsigned answer around it', async (t) => {
  const refusedIn202 = harness({ alice: new FakeLink([{ ok: true, receipt: 'refused:unknown_set' }]) });
  refusedIn202.outbox.send(msg());
  t.match(await refusedIn202.done, { result: 'abandoned', code: 'unknown_set', detail: 'refused unknown_set' }, 'a 202 whose statement says refused');
  const acceptedInError = harness({ alice: new FakeLink([{ ok: false, code: 'no_dependency', detail: 'x', receipt: 'good' }]) });
  acceptedInError.outbox.send(msg());
  t.same(await acceptedInError.done, { result: 'delivered' }, 'a refusal whose statement says accepted');
  const retryCode = new FakeLink([{ ok: false, code: 'no_dependency', detail: 'x', receipt: 'refused:internal' }, ok]);
  const h = harness({ alice: retryCode });
  h.outbox.send(msg());
  t.same(await h.done, { result: 'delivered' }, 'a signed code whose action is retry is retried');
  t.equal(retryCode.calls.length, 2);
});

// covers: req-error-codes req-receipt-final
t.test('a signed refusal with an unknown code is final ("drop"); an unsigned one is retried', async (t) => {
  const h = harness({ alice: new FakeLink([{ ok: false, code: 'unknown_code', detail: 'x', receipt: 'refused:from_the_future' }]) });
  h.outbox.send(msg());
  t.match(await h.done, { result: 'abandoned', code: 'unknown_code' });
  const link = new FakeLink([{ ok: false, code: 'unknown_code', detail: 'x' }, ok]);
  const h2 = harness({ alice: link });
  h2.outbox.send(msg());
  t.same(await h2.done, { result: 'delivered' });
  t.equal(link.calls.length, 2);
});

t.test('a retried refusal needs no receipt check', async (t) => {
  let checks = 0;
  const h = harness({ alice: new FakeLink([fail('rate_limited'), ok]) }, {
    confirm: async () => { checks++; return { status: 'accepted' }; },
  });
  h.outbox.send(msg());
  t.same(await h.done, { result: 'delivered' });
  t.equal(checks, 1, 'only the receipt was checked');
});

// ---- the same rule with real receipt statements, verified as the node does (Intake.verifyReceipt)

type World = ReturnType<typeof world>;

/** bob sends to alice, whose answers are scripted with the world's keys. */
function signedHarness(script: Array<(w: World, jti: string) => Delivery>) {
  const w = world();
  const link = new FakeLink(script.map((f) => (_c: string, jti: string) => f(w, jti)));
  const h = harness({ alice: link }, {
    sign: async (o) => ({ compact: `jws.${o.kind}`, jti: newJti() }),
    confirm: (o, jti, r) => w.intake.verifyReceipt(r, { from: o.to, jti }),
  });
  return { w, link, h };
}
const receipt = (s: Signer, aud: string, jti: string, a: ReceiptAnswer = { status: 'accepted' }): string => sealReceipt(s, aud, jti, a);

const forgeries: Array<[string, (w: World, jti: string) => Delivery]> = [
  ['a receipt signed with a key not in the trust store', (_w, jti) => ({ ok: true, receipt: receipt(makeKey('alice').signer, 'bob', jti) })],
  ['alice\'s receipt for another jti', (w, _jti) => ({ ok: true, receipt: receipt(w.alice.signer, 'bob', newJti()) })],
  ['alice\'s receipt for another sender', (w, jti) => ({ ok: true, receipt: receipt(w.alice.signer, 'dave', jti) })],
  ['a receipt by another trusted peer (carol)', (w, jti) => ({ ok: true, receipt: receipt(w.carol.signer, 'bob', jti) })],
  ['carol\'s key claiming to be alice', (w, jti) => ({ ok: true, receipt: receipt({ ...w.carol.signer, iss: 'alice', sign: w.carol.signer.sign }, 'bob', jti) })],
  ['an envelope instead of a receipt', (_w, jti) => ({ ok: true, receipt: `${Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'rollback-report+jwt', kid: 'x' })).toString('base64url')}.e30.${jti}` })],
  ['an unsigned "drop" refusal', () => ({ ok: false, code: 'no_dependency', detail: 'no' })],
  ['a "drop" refusal with carol\'s signed refusal', (w, jti) => ({ ok: false, code: 'no_dependency', detail: 'no', receipt: receipt(w.carol.signer, 'bob', jti, { status: 'refused', code: 'no_dependency' }) })],
];

for (const [what, forge] of forgeries) {
  // covers: req-receipt-match req-receipt-final
  t.test(`not ended by ${what}`, async (t) => {
    const s = signedHarness([forge, (w, jti) => ({ ok: true, receipt: receipt(w.alice.signer, 'bob', jti) })]);
    s.h.outbox.send(msg());
    t.same(await s.h.done, { result: 'delivered' }, 'delivered by the genuine receipt that followed');
    t.equal(s.link.calls.length, 2, 'the forgery did not end retransmission');
    t.match(s.h.attempts[0]!.d, { ok: false, code: 'unconfirmed' });
  });
}

// covers: req-receipt-final req-error-codes
t.test('ended by alice\'s signed refusal whose action is "drop"', async (t) => {
  const s = signedHarness([(w, jti) => ({ ok: false, code: 'no_dependency', detail: 'no', receipt: receipt(w.alice.signer, 'bob', jti, { status: 'refused', code: 'no_dependency' }) })]);
  s.h.outbox.send(msg());
  t.match(await s.h.done, { result: 'abandoned', code: 'no_dependency', detail: 'no' });
  t.equal(s.link.calls.length, 1);
});
