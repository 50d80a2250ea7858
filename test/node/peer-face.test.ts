import t from 'tap';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import WebSocket from 'ws';
import { request } from 'undici';
import { peerFace, asProtocolError, MAX_CONSECUTIVE_REFUSALS, type EnvelopeSink } from '../../src/node/peer-face.js';
import { ENVELOPE_PATH, LINK_PATH, SUBPROTOCOL } from '../../src/node/peer-link.js';
import { ProtocolError, errors } from '../../src/errors.js';

/**
 * Fake intake: "ok.<jti>" is accepted (receipt statement "R.<jti>"); "refuse.<code>.<jti>" is
 * refused with <code>; "signed.<code>.<jti>" likewise, with receipt statement "R-<code>.<jti>";
 * "boom.<jti>" fails with a non-protocol error; "slow.<jti>" waits before accepting.
 * A refusal names the jti (the last dot-separated part) as a verified one would, except for
 * "nojti" (as if refused before the signature step).
 */
class FakeSink implements EnvelopeSink {
  readonly received: Array<{ compact: string; source: string }> = [];
  async receive(compact: string, source: string): Promise<{ jti: string; receipt: string }> {
    this.received.push({ compact, source });
    const parts = compact.split('.');
    const jti = parts.at(-1)!;
    switch (parts[0]) {
      case 'ok': return { jti, receipt: `R.${jti}` };
      case 'refuse': case 'signed': {
        const err = new ProtocolError(parts[1] as never, `refused: ${parts[1]}`);
        if (jti !== 'nojti') err.jti = jti;
        if (parts[0] === 'signed') err.receipt = `R-${parts[1]}.${jti}`;
        throw err;
      }
      case 'slow': await new Promise((r) => setTimeout(r, 30)); return { jti, receipt: `R.${jti}` };
      default: throw new Error(`exploded on ${compact}`);
    }
  }
}

const MAX = 2048;

async function start(): Promise<{ app: FastifyInstance; url: string; ws: string; sink: FakeSink }> {
  const app = Fastify({ logger: false });
  await app.register(websocket, {
    options: { handleProtocols: (p: Set<string>) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) },
  });
  const sink = new FakeSink();
  await app.register(peerFace, { sink, maxBytes: MAX });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}${LINK_PATH}`, sink };
}

async function post(url: string, body: string | Buffer, type: string | null = 'application/jose') {
  const res = await request(url + ENVELOPE_PATH, {
    method: 'POST', body, headers: type === null ? {} : { 'content-type': type },
  });
  const text = await res.body.text();
  return { status: res.statusCode, type: String(res.headers['content-type']), body: text ? JSON.parse(text) : undefined };
}

t.test('asProtocolError', async (t) => {
  const pe = new ProtocolError('replayed');
  t.equal(asProtocolError(pe), pe, 'protocol errors pass through');
  const cause = new Error('x');
  const wrapped = asProtocolError(cause);
  t.equal(wrapped.code, 'internal');
  t.equal(wrapped.status, 500);
  t.equal(wrapped.cause, cause);
  t.equal(asProtocolError('string').code, 'internal');
});

t.test('HTTP binding', async (t) => {
  const s = await start();
  t.teardown(() => s.app.close());

  // covers: req-http req-receipt-sign
  t.test('202 with the jti of the accepted envelope and its receipt statement', async (t) => {
    const r = await post(s.url, 'ok.abc');
    t.equal(r.status, 202);
    t.same(r.body, { jti: 'abc', receipt: 'R.abc' });
    t.match(s.sink.received.at(-1), { compact: 'ok.abc', source: /^ip:/ });
  });

  t.test('application/jose with parameters is accepted', async (t) => {
    const r = await post(s.url, 'ok.p', 'application/jose; charset=utf-8');
    t.equal(r.status, 202);
  });

  const expectProblem = (t: any, r: Awaited<ReturnType<typeof post>>, code: keyof typeof errors, detail?: string) => {
    t.equal(r.status, errors[code].status, `HTTP ${errors[code].status}`);
    t.match(r.type, /^application\/problem\+json/);
    t.match(r.body, {
      type: `urn:ietf:params:rollback:error:${code}`,
      title: errors[code].meaning,
      status: errors[code].status,
      code,
      detail: detail ?? String,
    });
  };

  for (const code of ['signature_invalid', 'replayed', 'rate_limited', 'audience_mismatch', 'no_dependency', 'security_degraded'] as const) {
    // covers: req-problem-details
    t.test(`a refusal (${code}) maps to its HTTP status and an RFC 9457 body`, async (t) => {
      expectProblem(t, await post(s.url, `refuse.${code}.j`), code, `refused: ${code}`);
    });
  }

  // covers: req-problem-details req-receipt-sign
  t.test('a signed refusal carries its receipt statement as the problem member "receipt"; others have none', async (t) => {
    const r = await post(s.url, 'signed.no_dependency.j1');
    expectProblem(t, r, 'no_dependency', 'refused: no_dependency');
    t.equal((r.body as { receipt?: string }).receipt, 'R-no_dependency.j1');
    t.notOk('receipt' in (await post(s.url, 'refuse.no_dependency.j2')).body, 'unsigned refusal: no receipt member');
  });

  t.test('a body over maxBytes is 413 too_large, without reaching the sink', async (t) => {
    const n = s.sink.received.length;
    expectProblem(t, await post(s.url, 'ok.' + 'a'.repeat(MAX)), 'too_large');
    t.equal(s.sink.received.length, n);
  });

  t.test('a body of exactly maxBytes is accepted', async (t) => {
    const r = await post(s.url, 'ok.' + 'a'.repeat(MAX - 3));
    t.equal(r.status, 202);
  });

  for (const type of ['application/json', 'text/plain', 'application/octet-stream', 'application/jose+json', null]) {
    t.test(`content type ${type ?? '(none)'} is malformed, without reaching the sink`, async (t) => {
      const n = s.sink.received.length;
      const body = type === 'application/json' ? '"ok.j"' : 'ok.j';
      expectProblem(t, await post(s.url, body, type), 'malformed');
      t.equal(s.sink.received.length, n, 'sink not called');
    });
  }

  t.test('an internal error is 500 internal and does not leak the cause', async (t) => {
    const r = await post(s.url, 'boom.j');
    expectProblem(t, r, 'internal', 'internal error');
    t.notMatch(JSON.stringify(r.body), /exploded/);
  });

  t.test('a body shorter than its Content-Length is malformed', async (t) => {
    const n = s.sink.received.length;
    const r = await s.app.inject({
      method: 'POST', url: ENVELOPE_PATH, payload: 'ok.short',
      headers: { 'content-type': 'application/jose', 'content-length': '20' },
    });
    t.equal(r.statusCode, 400);
    t.match(r.json(), { code: 'malformed' });
    t.equal(s.sink.received.length, n);
  });

  t.test('other routes and methods are not envelopes', async (t) => {
    const res = await request(s.url + ENVELOPE_PATH, { method: 'GET' });
    await res.body.text();
    t.equal(res.statusCode, 404);
  });
});

interface Frame { type: string; jti: string | null; code?: string; detail?: string; receipt?: string }

/** Opens a link; collects frames and the close code. */
function connect(url: string, protocols: string | string[] = SUBPROTOCOL) {
  const ws = new WebSocket(url, protocols);
  const frames: Frame[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (d) => { frames.push(JSON.parse(String(d))); waiters.splice(0).forEach((w) => w()); });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) }));
  });
  ws.on('error', () => {});
  const opened = new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('close', () => reject(new Error('closed'))); });
  opened.catch(() => {});
  const frameCount = async (n: number): Promise<Frame[]> => {
    while (frames.length < n) await new Promise<void>((r) => waiters.push(r));
    return frames;
  };
  return { ws, frames, closed, opened, frameCount };
}

t.test('WebSocket binding', async (t) => {
  const s = await start();
  t.teardown(() => s.app.close());

  t.test('receipt frames, matched by jti', async (t) => {
    const c = connect(s.ws);
    await c.opened;
    t.equal(c.ws.protocol, SUBPROTOCOL);
    c.ws.send('ok.r1');
    c.ws.send('slow.r2');
    c.ws.send('ok.r3');
    const frames = await c.frameCount(3);
    t.same(frames.map((f) => f.jti).sort(), ['r1', 'r2', 'r3']);
    t.ok(frames.every((f) => f.type === 'receipt'));
    t.ok(frames.every((f) => f.receipt === `R.${f.jti}`), 'each with its receipt statement');
    t.match(s.sink.received.at(-1)!.source, /^ws:127\.0\.0\.1:\d+$/);
    c.ws.close();
    await c.closed;
  });

  // covers: req-ws
  t.test('error frames carry the code and the jti; the link stays open', async (t) => {
    const c = connect(s.ws);
    await c.opened;
    c.ws.send('refuse.signature_invalid.e1');
    await c.frameCount(1);
    t.same(c.frames[0], { type: 'error', jti: 'e1', code: 'signature_invalid', detail: 'refused: signature_invalid' });
    c.ws.send('refuse.malformed.nojti');
    await c.frameCount(2);
    t.same(c.frames[1], { type: 'error', jti: null, code: 'malformed', detail: 'refused: malformed' }, 'jti null when unreadable');
    c.ws.send('boom.e3');
    await c.frameCount(3);
    t.same(c.frames[2], { type: 'error', jti: null, code: 'internal', detail: 'internal error' }, 'no verified jti on a non-protocol error');
    c.ws.send('ok.e4');
    await c.frameCount(4);
    t.same(c.frames[3], { type: 'receipt', jti: 'e4', receipt: 'R.e4' }, 'link still usable after refusals');
    c.ws.send('signed.unknown_set.e5');
    await c.frameCount(5);
    t.same(c.frames[4], { type: 'error', jti: 'e5', code: 'unknown_set', detail: 'refused: unknown_set', receipt: 'R-unknown_set.e5' }, 'a signed refusal carries its receipt statement');
    t.equal(c.ws.readyState, WebSocket.OPEN);
    c.ws.close();
    await c.closed;
  });

  t.test(`closes with 1008 after ${MAX_CONSECUTIVE_REFUSALS} consecutive refusals`, async (t) => {
    const c = connect(s.ws);
    await c.opened;
    for (let i = 0; i < MAX_CONSECUTIVE_REFUSALS; i++) c.ws.send(`refuse.replayed.x${i}`);
    const closed = await c.closed;
    t.equal(closed.code, 1008);
    t.equal(c.frames.length, MAX_CONSECUTIVE_REFUSALS, 'every refusal got its error frame');
  });

  t.test('a receipt resets the refusal count', async (t) => {
    const c = connect(s.ws);
    await c.opened;
    let sent = 0;
    for (let i = 0; i < MAX_CONSECUTIVE_REFUSALS - 1; i++) { c.ws.send(`refuse.replayed.a${i}`); sent++; }
    await c.frameCount(sent);
    c.ws.send('ok.reset'); sent++;
    await c.frameCount(sent);
    for (let i = 0; i < MAX_CONSECUTIVE_REFUSALS - 1; i++) { c.ws.send(`refuse.replayed.b${i}`); sent++; }
    c.ws.send('ok.still-open'); sent++;
    await c.frameCount(sent);
    t.equal(c.ws.readyState, WebSocket.OPEN, `${2 * (MAX_CONSECUTIVE_REFUSALS - 1)} refusals, not in a row`);
    t.same(c.frames.at(-1), { type: 'receipt', jti: 'still-open', receipt: 'R.still-open' });
    c.ws.close();
    await c.closed;
  });

  t.test('a binary frame closes the link with 1003', async (t) => {
    const c = connect(s.ws);
    await c.opened;
    const n = s.sink.received.length;
    c.ws.send(Buffer.from('ok.bin'));
    t.equal((await c.closed).code, 1003);
    t.equal(s.sink.received.length, n, 'not passed to the intake');
  });

  t.test('a link without the rollback.v1 subprotocol is closed', async (t) => {
    for (const protocols of [[], 'other.v1', ['chat', 'rollback.v2']]) {
      const c = connect(s.ws, protocols);
      const closed = await c.closed;
      // Offering nothing: the face closes with 1002. Offering only others: the server selects none
      // and the client aborts the handshake (1006). Either way no envelope can be sent.
      if (Array.isArray(protocols) && protocols.length === 0) {
        t.equal(closed.code, 1002, 'closed by the face');
        t.match(closed.reason, /rollback\.v1/);
      } else {
        t.not(c.ws.protocol, SUBPROTOCOL, `protocols ${JSON.stringify(protocols)}`);
        t.ok(closed.code === 1002 || closed.code === 1006, `closed (${closed.code})`);
      }
    }
  });

  t.test('offering several subprotocols including rollback.v1 works', async (t) => {
    const c = connect(s.ws, ['chat', SUBPROTOCOL]);
    await c.opened;
    t.equal(c.ws.protocol, SUBPROTOCOL);
    c.ws.send('ok.multi');
    t.same((await c.frameCount(1))[0], { type: 'receipt', jti: 'multi', receipt: 'R.multi' });
    c.ws.close();
    await c.closed;
  });

  t.test('a frame answered after the peer left does not crash the face', async (t) => {
    const c = connect(s.ws);
    await c.opened;
    c.ws.send('slow.gone');
    c.ws.terminate();
    await c.closed;
    await new Promise((r) => setTimeout(r, 60));
    const r = await post(s.url, 'ok.alive');
    t.equal(r.status, 202, 'still serving');
  });
});
