import t from 'tap';
import Fastify, { type FastifyInstance } from 'fastify';
import websocket from '@fastify/websocket';
import type { WebSocket as ServerSocket } from 'ws';
import { httpLink, wsLink, retryable, ENVELOPE_PATH, LINK_PATH, SUBPROTOCOL } from '../../src/node/peer-link.js';
import { ProtocolError, problem } from '../../src/errors.js';
import { Outbox } from '../../src/node/outbox.js';
import { newJti, sealReceipt } from '../../src/envelope/index.js';
import { world } from '../envelope/helpers.js';

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address() as { port: number };
  return `http://127.0.0.1:${a.port}`;
}

/** A port nothing listens on: bind, note it, close. */
async function deadPort(): Promise<string> {
  const app = Fastify();
  const url = await listen(app);
  await app.close();
  return url;
}

t.test('constants of the binding', async (t) => {
  t.equal(ENVELOPE_PATH, '/rollback/v1/envelope');
  t.equal(LINK_PATH, '/rollback/v1/link');
  t.equal(SUBPROTOCOL, 'rollback.v1');
});

t.test('httpLink', async (t) => {
  const app = Fastify();
  const seen: Array<{ body: unknown; type: string | undefined }> = [];
  let releaseSlow: (v: unknown) => void = () => {};
  app.addContentTypeParser('application/jose', { parseAs: 'string' }, (_r, body, done) => done(null, body));
  app.post(ENVELOPE_PATH, async (req, reply) => {
    const body = req.body as string;
    seen.push({ body, type: req.headers['content-type'] });
    if (body === 'ok') return reply.code(202).send({ jti: 'x' });
    if (body === 'ok-signed') return reply.code(202).send({ jti: 'x', receipt: 'a.b.c' });
    if (body === 'ok-odd') return reply.code(202).send({ jti: 'x', receipt: 7 });
    if (body === 'ok-text') return reply.code(202).type('text/plain').send('accepted');
    if (body === 'refuse-signed') {
      return reply.code(403).type('application/problem+json').send({ ...problem(new ProtocolError('no_dependency', 'no')), receipt: 'd.e.f' });
    }
    if (body.startsWith('refuse:')) {
      const pe = new ProtocolError(body.slice(7) as never, 'nope, ' + body.slice(7));
      return reply.code(pe.status).type('application/problem+json').send(problem(pe));
    }
    if (body === 'no-detail') return reply.code(429).type('application/problem+json').send({ code: 'rate_limited' });
    if (body === 'unknown-code') return reply.code(400).send({ code: 'toString', detail: 'x' });
    if (body === 'html') return reply.code(502).type('text/html').send('<h1>bad gateway</h1>');
    if (body === 'null') return reply.code(500).type('application/json').send('null');
    if (body === 'slow') { await new Promise((r) => { releaseSlow = r; }); return reply.code(202).send({}); }
    if (body === '200') return reply.code(200).send({ jti: 'x' });
    return reply.code(500).send('?');
  });
  const url = await listen(app);
  t.teardown(() => app.close());

  t.test('202 is a receipt', async (t) => {
    t.same(await httpLink(url).deliver('ok', 'j1'), { ok: true });
    t.same(seen.at(-1), { body: 'ok', type: 'application/jose' }, 'POSTs the compact JWS as application/jose');
  });
  t.test('the receipt statement of a 202 or a problem is passed on, unverified; nothing else is', async (t) => {
    t.same(await httpLink(url).deliver('ok-signed', 'j1'), { ok: true, receipt: 'a.b.c' });
    t.same(await httpLink(url).deliver('refuse-signed', 'j1'), { ok: false, code: 'no_dependency', detail: 'no', receipt: 'd.e.f' });
    t.same(await httpLink(url).deliver('ok-odd', 'j1'), { ok: true }, 'a receipt member that is not a string is ignored');
    t.same(await httpLink(url).deliver('ok-text', 'j1'), { ok: true }, 'a 202 without a JSON body');
  });
  t.test('a base URL with a trailing path still posts to the envelope path', async (t) => {
    t.same(await httpLink(`${url}/ignored/`).deliver('ok', 'j1'), { ok: true });
  });
  for (const code of ['signature_invalid', 'rate_limited', 'no_dependency', 'audience_mismatch', 'security_degraded'] as const) {
    t.test(`problem document with code ${code}`, async (t) => {
      t.same(await httpLink(url).deliver(`refuse:${code}`, 'j'), { ok: false, code, detail: `nope, ${code}` });
    });
  }
  t.test('problem document without detail', async (t) => {
    t.same(await httpLink(url).deliver('no-detail', 'j'), { ok: false, code: 'rate_limited', detail: '' });
  });
  // covers: req-error-codes
  t.test('an unregistered code is a refusal to drop, never looked up in the registry', async (t) => {
    const d = await httpLink(url).deliver('unknown-code', 'j');
    t.same(d, { ok: false, code: 'unknown_code', detail: 'toString: x' });
    t.notOk(retryable(d), 'not retried');
  });
  t.test('a non-problem error response is unreachable', async (t) => {
    t.same(await httpLink(url).deliver('html', 'j'), { ok: false, code: 'unreachable', detail: 'HTTP 502' });
    t.same(await httpLink(url).deliver('null', 'j'), { ok: false, code: 'unreachable', detail: 'HTTP 500' });
  });
  t.test('a 200 is not a receipt', async (t) => {
    t.same(await httpLink(url).deliver('200', 'j'), { ok: false, code: 'unreachable', detail: 'HTTP 200' });
  });
  t.test('no answer within the timeout is unreachable', async (t) => {
    // undici's timers are coarse (about 1 s), so this takes about a second.
    const d = await httpLink(url, 100).deliver('slow', 'j');
    releaseSlow(null);
    t.match(d, { ok: false, code: 'unreachable', detail: /[Tt]imeout/ });
  });
  t.test('connection refused is unreachable', async (t) => {
    const link = httpLink(await deadPort());
    const d = await link.deliver('ok', 'j');
    t.match(d, { ok: false, code: 'unreachable', detail: String });
    link.close();
  });
});

interface WsServer {
  url: string;
  app: FastifyInstance;
  protocols: string[];
  connections: ServerSocket[];
  received: string[];
}

/**
 * A scripted peer: message "ok:<jti>" -> receipt; "err:<jti>:<code>" -> error frame;
 * "silent" -> nothing; "close" -> server closes the link; "junk:<jti>" -> junk frames then a receipt.
 */
async function wsServer(offerCheck = true): Promise<WsServer> {
  const app = Fastify();
  await app.register(websocket, {
    options: offerCheck ? { handleProtocols: (p: Set<string>) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) } : {},
  });
  const s: WsServer = { url: '', app, protocols: [], connections: [], received: [] };
  app.get(LINK_PATH, { websocket: true }, (socket) => {
    s.protocols.push(socket.protocol);
    s.connections.push(socket);
    socket.on('message', (data) => {
      const text = String(data);
      s.received.push(text);
      const [cmd, jti, code] = text.split(':');
      if (cmd === 'ok') socket.send(JSON.stringify({ type: 'receipt', jti }));
      else if (cmd === 'okr') socket.send(JSON.stringify({ type: 'receipt', jti, receipt: `R.${jti}` }));
      else if (cmd === 'errr') socket.send(JSON.stringify({ type: 'error', jti, code, detail: 'd', receipt: `R.${jti}` }));
      else if (cmd === 'err') socket.send(JSON.stringify({ type: 'error', jti, code, detail: `refused ${code}` }));
      else if (cmd === 'errnodetail') socket.send(JSON.stringify({ type: 'error', jti, code }));
      else if (cmd === 'close') socket.close(1011, 'bye');
      else if (cmd === 'junk') {
        socket.send('not json');
        socket.send(JSON.stringify({ type: 'receipt' }));
        socket.send(JSON.stringify({ type: 'receipt', jti: 'somebody-else' }));
        socket.send(JSON.stringify({ type: 'error', jti, code: 'made_up' }));
      }
    });
  });
  s.url = await listen(app);
  return s;
}

t.test('wsLink', async (t) => {
  const s = await wsServer();
  t.teardown(() => s.app.close());

  t.test('offers the rollback.v1 subprotocol and matches receipts by jti', async (t) => {
    const link = wsLink(s.url);
    t.teardown(() => link.close());
    t.same(await link.deliver('ok:j1', 'j1'), { ok: true });
    t.equal(s.protocols.at(-1), SUBPROTOCOL, 'subprotocol negotiated');
    t.equal(s.received.at(-1), 'ok:j1', 'the compact JWS is sent as a text frame');
  });

  t.test('one persistent link per peer carries concurrent deliveries', async (t) => {
    const link = wsLink(s.url);
    t.teardown(() => link.close());
    const before = s.connections.length;
    const ds = await Promise.all([
      link.deliver('ok:a', 'a'), link.deliver('err:b:replayed', 'b'), link.deliver('ok:c', 'c'),
    ]);
    t.same(ds, [{ ok: true }, { ok: false, code: 'replayed', detail: 'refused replayed' }, { ok: true }]);
    t.same(await link.deliver('ok:d', 'd'), { ok: true });
    t.equal(s.connections.length - before, 1, 'a single connection');
  });

  t.test('the receipt statement of a frame is passed on, unverified', async (t) => {
    const link = wsLink(s.url);
    t.teardown(() => link.close());
    t.same(await link.deliver('okr:r1', 'r1'), { ok: true, receipt: 'R.r1' });
    t.same(await link.deliver('errr:r2:unknown_set', 'r2'), { ok: false, code: 'unknown_set', detail: 'd', receipt: 'R.r2' });
  });

  t.test('error frames carry the code', async (t) => {
    const link = wsLink(s.url);
    t.teardown(() => link.close());
    t.same(await link.deliver('err:e1:signature_invalid', 'e1'), { ok: false, code: 'signature_invalid', detail: 'refused signature_invalid' });
    t.same(await link.deliver('errnodetail:e2:rate_limited', 'e2'), { ok: false, code: 'rate_limited', detail: '' });
    t.same(await link.deliver('err:e3:bogus', 'e3'), { ok: false, code: 'unknown_code', detail: 'bogus: refused bogus' }, 'unregistered code');
  });

  t.test('frames that are not JSON, lack a jti or name another jti are ignored', async (t) => {
    const link = wsLink(s.url, 300);
    t.teardown(() => link.close());
    const d = await link.deliver('junk:j9', 'j9');
    t.same(d, { ok: false, code: 'unknown_code', detail: 'made_up: ' }, 'only the frame for this jti settles it');
    const other = link.deliver('silent', 'somebody-else');
    t.match(await other, { ok: false, code: 'unreachable', detail: 'no receipt' });
  });

  t.test('no receipt within the timeout is unreachable', async (t) => {
    const link = wsLink(s.url, 100);
    t.teardown(() => link.close());
    const start = Date.now();
    t.same(await link.deliver('silent', 'x'), { ok: false, code: 'unreachable', detail: 'no receipt' });
    t.ok(Date.now() - start >= 90);
    t.same(await link.deliver('ok:y', 'y'), { ok: true }, 'the link stays usable');
  });

  t.test('the peer closing the link settles pending deliveries as unreachable, then reconnects', async (t) => {
    const link = wsLink(s.url, 5000);
    t.teardown(() => link.close());
    t.same(await link.deliver('ok:p0', 'p0'), { ok: true });
    const before = s.connections.length;
    const pending = link.deliver('silent', 'p1');
    const closing = link.deliver('close', 'p2');
    t.same(await pending, { ok: false, code: 'unreachable', detail: 'link closed' });
    t.same(await closing, { ok: false, code: 'unreachable', detail: 'link closed' });
    t.same(await link.deliver('ok:p3', 'p3'), { ok: true }, 'a new link is opened');
    t.equal(s.connections.length - before, 1);
  });

  t.test('deliver after close() is unreachable without connecting', async (t) => {
    const link = wsLink(s.url);
    t.same(await link.deliver('ok:c1', 'c1'), { ok: true });
    const before = s.connections.length;
    link.close();
    t.same(await link.deliver('ok:c2', 'c2'), { ok: false, code: 'unreachable', detail: 'link closed' });
    t.equal(s.connections.length, before);
    link.close(); // idempotent
  });

  t.test('close() on a link that never connected', async (t) => {
    const link = wsLink(s.url);
    link.close();
    t.same(await link.deliver('ok:n', 'n'), { ok: false, code: 'unreachable', detail: 'link closed' });
  });

  t.test('a ws:// base URL works as well as http://', async (t) => {
    const link = wsLink(s.url.replace('http:', 'ws:'));
    t.teardown(() => link.close());
    t.same(await link.deliver('ok:w', 'w'), { ok: true }, 'a ws:// base URL is used as is');
  });
});

t.test('wsLink: connection refused is unreachable, and a later attempt retries the connection', async (t) => {
  const url = await deadPort();
  const link = wsLink(url, 500);
  t.teardown(() => link.close());
  const d = await link.deliver('ok:x', 'x');
  t.match(d, { ok: false, code: 'unreachable', detail: /ECONNREFUSED/ });
  t.match(await link.deliver('ok:x', 'x'), { ok: false, code: 'unreachable' });
});

t.test('wsLink: a server that refuses the subprotocol is unreachable', async (t) => {
  const app = Fastify();
  await app.register(websocket, { options: { handleProtocols: () => false } });
  app.get(LINK_PATH, { websocket: true }, (socket) => { socket.close(1002); });
  const url = await listen(app);
  t.teardown(() => app.close());
  const link = wsLink(url, 500);
  t.teardown(() => link.close());
  t.match(await link.deliver('ok:x', 'x'), { ok: false, code: 'unreachable' });
});

t.test('wsLink: an HTTP-only peer (no upgrade) is unreachable', async (t) => {
  const app = Fastify();
  app.get(LINK_PATH, async (_req, reply) => reply.code(404).send({}));
  const url = await listen(app);
  t.teardown(() => app.close());
  const link = wsLink(url, 500);
  t.teardown(() => link.close());
  t.match(await link.deliver('ok:x', 'x'), { ok: false, code: 'unreachable', detail: /404/ });
});

/**
 * A WebSocket receiver "alice" whose answers are scripted per attempt (the frame text is the
 * attempt's jti), driving a real Outbox that verifies as the node does: bob -> alice.
 */
async function scriptedAlice(script: Array<(jti: string, w: ReturnType<typeof world>) => object>) {
  const w = world();
  const app = Fastify();
  await app.register(websocket, { options: { handleProtocols: (p: Set<string>) => (p.has(SUBPROTOCOL) ? SUBPROTOCOL : false) } });
  const seen: string[] = [];
  app.get(LINK_PATH, { websocket: true }, (socket) => {
    socket.on('message', (data) => {
      const jti = String(data);
      seen.push(jti);
      const next = script.length > 1 ? script.shift()! : script[0]!;
      socket.send(JSON.stringify(next(jti, w)));
    });
  });
  const link = wsLink(await listen(app), 2000);
  const result = new Promise<{ delivered: boolean; code?: string }>((resolve) => {
    const outbox = new Outbox({
      sign: async () => { const jti = newJti(); return { compact: jti, jti }; },
      link: () => link,
      now: Date.now,
      confirm: (o, jti, r) => w.intake.verifyReceipt(r, { from: o.to, jti }),
      delivered: () => { outbox.close(); resolve({ delivered: true }); },
      abandoned: (_o, code) => { outbox.close(); resolve({ delivered: false, code }); },
    });
    outbox.send({ to: 'alice', kind: 'request', body: {}, key: 'k', until: Date.now() + 10_000 });
  });
  return { seen, result, close: async () => { link.close(); await app.close(); } };
}

const genuine = (jti: string, w: ReturnType<typeof world>) => ({ type: 'receipt', jti, receipt: sealReceipt(w.alice.signer, 'bob', jti, { status: 'accepted' }) });

// covers: req-receipt-final req-receipt-unsigned req-receipt-match req-ws
t.test('wsLink: only alice\'s receipt statement for the jti ends retransmission', async (t) => {
  const a = await scriptedAlice([
    (jti) => ({ type: 'receipt', jti }),
    (jti) => ({ type: 'error', jti, code: 'no_dependency', detail: 'unsigned' }),
    (jti, w) => ({ type: 'receipt', jti, receipt: sealReceipt(w.alice.signer, 'bob', newJti(), { status: 'accepted' }) }),
    (jti, w) => ({ type: 'receipt', jti, receipt: sealReceipt(w.carol.signer, 'bob', jti, { status: 'accepted' }) }),
    (jti, w) => ({ type: 'error', jti, code: 'unknown_set', detail: 'x', receipt: sealReceipt(w.alice.signer, 'dave', jti, { status: 'refused', code: 'unknown_set' }) }),
    genuine,
  ]);
  t.teardown(a.close);
  t.same(await a.result, { delivered: true });
  t.equal(a.seen.length, 6, 'an unsigned receipt, an unsigned drop, a receipt for another jti, one by carol and one for dave did not end it');
  t.equal(new Set(a.seen).size, 6, 'every attempt with a fresh jti');
});

// covers: req-receipt-final req-ws
t.test('wsLink: alice\'s signed refusal with action "drop" ends retransmission', async (t) => {
  const a = await scriptedAlice([
    (jti, w) => ({ type: 'error', jti, code: 'no_dependency', detail: 'no', receipt: sealReceipt(w.alice.signer, 'bob', jti, { status: 'refused', code: 'no_dependency' }) }),
    genuine,
  ]);
  t.teardown(a.close);
  t.same(await a.result, { delivered: false, code: 'no_dependency' });
  t.equal(a.seen.length, 1, 'sent once');
});
