import t from 'tap';
import Fastify from 'fastify';
import { AgentApiError, AgentClient, type Directive, type RollbackResult } from '../../src/client/index.js';
import { ProtocolError } from '../../src/errors.js';
import { credentials, DIGEST, directive, startAgentFace, FakeEngine } from '../node/fixtures/agent-face.js';

const s = await startAgentFace();
t.teardown(() => s.app.close());
const { engine } = s;
const client = new AgentClient({ url: s.url + '/', token: credentials.agent });

t.beforeEach(() => { engine.calls.length = 0; });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
const dropSockets = () => { for (const c of s.app.websocketServer.clients) c.terminate(); };
const openSockets = () => s.app.websocketServer.clients.size;

t.test('each method hits its route with the bearer token and returns the reply', async (t) => {
  const set = { initiator: 'org/alice', id: 'set-1' };
  t.same(await client.execution('exec-1'), { execution: 'exec-1', state: 'active' });
  t.same(await client.checkpoint('exec-1', { checkpoint: 'ck-1', seq: 1, digest: DIGEST, reversibility: 'compensable', hints: ['h'] }), { checkpoint: 'ck-1', seq: 1 });
  t.same(await client.consumed('exec-1', { agent: 'org/bob', execution: 'e2', checkpoint: 'c2', seq: 2 }), { registered: true });
  t.same(await client.failure('exec-1', { checkpoint: 'ck-1', seq: 1, class: 'execution_error', detail: 'x' }), { set: { initiator: 'me', id: 'set-1' }, absorbed: false });
  t.same(await client.observed('exec-1', { agent: 'org/bob', execution: 'e2', checkpoint: 'c2', seq: 2 }, { class: 'user_report' }), { observed: true });
  t.same(await client.result(set, 'exec-1', { status: 'compensated', detail: 'undone' }), { status: 'recorded' });
  engine.known.set('org/alice set-1', { set, state: 'held' });
  t.same(await client.rollbackSet(set), { set, state: 'held' }, 'identifiers with "/" are encoded in the path');
  t.same(await client.records(), [{ kind: 'record', n: 1 }]);
  t.same(engine.calls.map((c) => c.method), ['execution', 'checkpoint', 'consumed', 'failure', 'observed', 'result', 'set', 'records']);
  t.same(engine.calls[0]!.body, { execution: 'exec-1' });
  t.same(engine.calls[1]!.body, { execution: 'exec-1', checkpoint: 'ck-1', seq: 1, digest: DIGEST, reversibility: 'compensable', hints: ['h'] });
  t.same(engine.calls[2]!.body, { execution: 'exec-1', producer: { agent: 'org/bob', execution: 'e2', checkpoint: 'c2', seq: 2 } });
  t.same(engine.calls[3]!.body, { execution: 'exec-1', checkpoint: 'ck-1', seq: 1, class: 'execution_error', detail: 'x' });
  t.same(engine.calls[4]!.body, { execution: 'exec-1', producer: { agent: 'org/bob', execution: 'e2', checkpoint: 'c2', seq: 2 }, class: 'user_report' });
  t.same(engine.calls[5]!.body, { set, execution: 'exec-1', status: 'compensated', detail: 'undone' });
  t.same(engine.calls[6]!.body, set);
});

t.test('call() with another credential reaches operator routes', async (t) => {
  const set = { initiator: 'org/alice', id: 'set-1' };
  t.same(await client.call('POST', '/operator/v1/decisions', { set, execution: 'e', decision: 'confirm' }, credentials.operator), { decided: 'confirm' });
  t.match(engine.calls.at(-1), { method: 'decision', body: { by: /^operator@/ } });
});

t.test('AgentApiError carries the status and the code', async (t) => {
  const err = await client.rollbackSet({ initiator: 'nobody', id: 'none' }).catch((e: unknown) => e);
  t.ok(err instanceof AgentApiError);
  t.match(err, { name: 'AgentApiError', status: 404, code: 'unknown_set', message: String });

  const bad = await client.checkpoint('exec-1', { checkpoint: 'ck', seq: -1, digest: DIGEST, reversibility: 'reversible' }).catch((e: unknown) => e);
  t.match(bad, { status: 400, code: 'schema_invalid', message: /seq/ });

  const wrong = new AgentClient({ url: s.url, token: 'wrong' });
  t.match(await wrong.records().catch((e: unknown) => e), { status: 401, code: 'unauthenticated' });
  const op = await client.call('POST', '/operator/v1/security', { state: 'normal' }).catch((e: unknown) => e);
  t.match(op, { status: 403, code: 'forbidden' }, 'agent token on an operator route');

  engine.fail['execution'] = new ProtocolError('security_degraded', 'degraded');
  t.match(await client.execution('e').catch((e: unknown) => e), { status: 503, code: 'security_degraded', message: 'degraded' });
  t.notOk(engine.calls.some((c) => c.method === 'checkpoint'), 'the invalid checkpoint never reached the engine');
});

t.test('an error response that is not a problem document still gives an AgentApiError', async (t) => {
  const app = Fastify();
  app.get('/agent/v1/records', async (_req, reply) => reply.code(502).type('text/html').send('<h1>Bad Gateway</h1>'));
  app.post('/agent/v1/executions', async (_req, reply) => reply.code(500).send({ message: 'no code' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const c = new AgentClient({ url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, token: 't' });
  t.match(await c.records().catch((e: unknown) => e), { name: 'AgentApiError', status: 502, code: 'unknown', message: /Bad Gateway/ });
  t.match(await c.execution('e').catch((e: unknown) => e), { name: 'AgentApiError', status: 500, code: 'unknown' });
});

t.test('success responses: empty body is undefined, a non-JSON body is an error', async (t) => {
  const app = Fastify();
  app.get('/agent/v1/records', async (_req, reply) => reply.code(204).send());
  app.get('/agent/v1/sets/a/b', async (_req, reply) => reply.code(200).type('text/plain').send('not json'));
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const c = new AgentClient({ url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, token: 't' });
  t.equal(await c.records(), undefined);
  await t.rejects(c.rollbackSet({ initiator: 'a', id: 'b' }), SyntaxError);
});

// ---- directives ----

function restoredFor(d: Directive): RollbackResult {
  return { status: 'restored', restored: { checkpoint: d.target.checkpoint, digest: d.target.digest } };
}
const results = () => engine.calls.filter((c) => c.method === 'result').map((c) => c.body);

t.test('onDirective: handles directives in order, reports each result, resumes after a drop', async (t) => {
  const q = engine.directives;
  for (let i = 1; i <= 3; i++) q.push(directive(i));
  const c = new AgentClient({ url: s.url, token: credentials.agent });
  const handled: number[] = [];
  c.onDirective(async (d) => { handled.push(d.seq); return restoredFor(d); }, { reconnectMs: 20 });
  t.teardown(() => c.close());
  await until(() => c.after === 3, 'three results');
  t.same(handled, [1, 2, 3]);
  t.equal(c.after, 3);
  t.same(results()[0], { set: directive(1).set, execution: 'exec-1', status: 'restored', restored: { checkpoint: 'ck-1', digest: DIGEST } });
  t.same(results().map((r) => r.set.id), ['set-1', 'set-2', 'set-3'], 'one result per directive, in order');

  // a live push
  q.push(directive(4));
  await until(() => c.after === 4, 'the pushed directive');

  // the node drops the link; directives published while it is down arrive after the reconnect
  dropSockets();
  q.push(directive(5));
  q.push(directive(6));
  await until(() => c.after === 6, 'resumed directives');
  t.same(handled, [1, 2, 3, 4, 5, 6], 'no repeats, no gaps');
  t.equal(c.after, 6);
  dropSockets();
  await until(() => openSockets() === 1, 'reconnected again');
  await sleep(30);
  t.same(handled, [1, 2, 3, 4, 5, 6], 'a reconnect alone redelivers nothing');
  t.equal(results().length, 6);
});

t.test('onDirective: a slow handler across a reconnect does not handle a directive twice', async (t) => {
  const q = engine.directives;
  const base = q.length;
  const c = new AgentClient({ url: s.url, token: credentials.agent });
  const handled: number[] = [];
  let releaseSlow!: () => void;
  const slow = new Promise<void>((r) => { releaseSlow = r; });
  c.onDirective(async (d) => {
    handled.push(d.seq);
    if (d.seq === base + 1) await slow;
    return restoredFor(d);
  }, { after: base, reconnectMs: 10 });
  t.teardown(() => c.close());
  await until(() => openSockets() >= 1, 'connected');
  q.push(directive(100));
  q.push(directive(101));
  await until(() => handled.length === 1, 'handler started');
  dropSockets();
  await until(() => openSockets() === 1, 'reconnected');
  await sleep(50); // the new link has re-sent base+1 and base+2 by now
  releaseSlow();
  await until(() => c.after === base + 2, 'both handled');
  await sleep(30);
  t.same(handled, [base + 1, base + 2], 'each directive handled exactly once, in order');
});

t.test('onDirective: a failing handler is retried after a reconnect, and later directives wait for it', async (t) => {
  const q = engine.directives;
  const base = q.length;
  const c = new AgentClient({ url: s.url, token: credentials.agent });
  const handled: number[] = [];
  let failures = 0;
  c.onDirective(async (d) => {
    handled.push(d.seq);
    if (d.seq === base + 1 && failures++ === 0) throw new Error('restore failed to start');
    return restoredFor(d);
  }, { after: base, reconnectMs: 10 });
  t.teardown(() => c.close());
  await until(() => openSockets() >= 1, 'connected');
  q.push(directive(200));
  q.push(directive(201));
  q.push(directive(202));
  await until(() => c.after === base + 3, 'all handled', 3000).catch(() => {});
  await sleep(30);
  t.equal(c.after, base + 3);
  t.same(handled, [base + 1, base + 1, base + 2, base + 3], 'the failed one retried first; nothing skipped, nothing repeated');
});

t.test('onDirective: a failed result report is retried too', async (t) => {
  const q = engine.directives;
  const base = q.length;
  const c = new AgentClient({ url: s.url, token: credentials.agent });
  const handled: number[] = [];
  engine.fail['result'] = new ProtocolError('internal');
  c.onDirective(async (d) => { handled.push(d.seq); return restoredFor(d); }, { after: base, reconnectMs: 10 });
  t.teardown(() => c.close());
  q.push(directive(300));
  await until(() => c.after === base + 1, 'reported');
  t.same(handled, [base + 1, base + 1]);
});

t.test('onDirective: a final refusal of a result does not block later directives', async (t) => {
  const q = engine.directives;
  const base = q.length;
  const c = new AgentClient({ url: s.url, token: credentials.agent });
  const handled: number[] = [];
  const refused: string[] = [];
  engine.fail['result'] = new ProtocolError('digest_mismatch');
  c.onDirective(async (d) => { handled.push(d.seq); return restoredFor(d); }, {
    after: base, reconnectMs: 10, onRefused: (_d, err) => refused.push(err.code),
  });
  t.teardown(() => c.close());
  q.push(directive(400));
  q.push(directive(401));
  await until(() => c.after === base + 2, 'both handled');
  t.same(handled, [base + 1, base + 2], 'each handled once: the refused one is not retried');
  t.same(refused, ['digest_mismatch']);
});

t.test('close() stops receiving and reconnecting', async (t) => {
  const q = engine.directives;
  const c = new AgentClient({ url: s.url, token: credentials.agent });
  const handled: number[] = [];
  c.onDirective(async (d) => { handled.push(d.seq); return restoredFor(d); }, { after: q.length, reconnectMs: 10 });
  await until(() => openSockets() === 1, 'connected');
  c.close();
  q.push(directive(400)); // published while the link is closing: not handled
  await until(() => openSockets() === 0, 'closed');
  q.push(directive(401));
  await sleep(80);
  t.equal(openSockets(), 0, 'no reconnect');
  t.same(handled, []);
});

t.test('onDirective reconnects after 200 ms by default', async (t) => {
  const q = engine.directives;
  const c = new AgentClient({ url: s.url, token: credentials.agent });
  const handled: number[] = [];
  c.onDirective(async (d) => { handled.push(d.seq); return restoredFor(d); }, { after: q.length });
  t.teardown(() => c.close());
  await until(() => openSockets() === 1, 'connected');
  dropSockets();
  await until(() => openSockets() === 0, 'dropped');
  const start = Date.now();
  q.push(directive(500));
  await until(() => handled.length === 1, 'handled after the reconnect');
  t.ok(Date.now() - start >= 150, 'waited before reconnecting');
  t.same(handled, [q.length]);
});

t.test('close() while the node is unreachable stops the retry loop', async (t) => {
  const dead = Fastify();
  await dead.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(dead.server.address() as { port: number }).port}`;
  await dead.close();
  const c = new AgentClient({ url, token: 't' });
  c.onDirective(async () => ({ status: 'failed' }), { reconnectMs: 5 });
  await sleep(40);
  c.close();
  t.pass('closed while retrying');
});

t.test('a client without directives can be closed', async (t) => {
  new AgentClient({ url: s.url, token: 't' }).close();
  t.equal(new AgentClient({ url: s.url, token: 't' }).after, 0);
});

t.test('a second engine instance is independent (helper sanity)', async (t) => {
  t.equal(new FakeEngine().directives.length, 0);
});
