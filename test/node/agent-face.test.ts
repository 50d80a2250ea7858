import t from 'tap';
import WebSocket from 'ws';
import { request } from 'undici';
import { agentSchemas } from '../../src/node/agent-face.js';
import { errors } from '../../src/errors.js';
import { credentials, DIGEST, directive, startAgentFace } from './fixtures/agent-face.js';

const s = await startAgentFace();
t.teardown(() => s.app.close());
const { engine } = s;

async function call(method: 'GET' | 'POST', path: string, body?: unknown, token: string | null = credentials.agent, raw?: { type: string; text: string }) {
  const headers: Record<string, string> = {};
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  if (raw) headers['content-type'] = raw.type;
  else if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(s.url + path, { method, headers, body: raw ? raw.text : body === undefined ? null : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, type: String(res.headers['content-type']), body: text ? JSON.parse(text) : undefined };
}

function isProblem(t: any, r: Awaited<ReturnType<typeof call>>, code: keyof typeof errors): void {
  t.equal(r.status, errors[code].status, `status ${errors[code].status}`);
  t.match(r.type, /^application\/problem\+json/);
  t.match(r.body, { type: `urn:ietf:params:rollback:error:${code}`, code, status: errors[code].status, title: errors[code].meaning });
}

const set = { initiator: 'org/alice', id: 'set-1' };
const valid = {
  '/agent/v1/executions': { execution: 'exec-1' },
  '/agent/v1/checkpoints': { execution: 'exec-1', checkpoint: 'ck-1', seq: 3, digest: DIGEST, reversibility: 'reversible', hints: [{ a: 1 }] },
  '/agent/v1/consumptions': { execution: 'exec-1', producer: { agent: 'org/bob', execution: 'e2', checkpoint: 'c2', seq: 0 } },
  '/agent/v1/failures': { execution: 'exec-1', checkpoint: 'ck-1', seq: 3, class: 'execution_error', detail: 'it broke' },
  '/agent/v1/observations': { execution: 'exec-1', producer: { agent: 'org/bob', execution: 'e2', checkpoint: 'c2', seq: 4 }, class: 'eval_failure' },
  '/agent/v1/results': { set, execution: 'exec-1', status: 'restored', restored: { checkpoint: 'ck-1', digest: DIGEST } },
  '/operator/v1/decisions': { set, execution: 'exec-1', decision: 'confirm' },
  '/operator/v1/cancellations': { set, detail: 'changed my mind' },
  '/operator/v1/security': { state: 'normal' },
} as const;
type Path = keyof typeof valid;
const agentPaths = Object.keys(valid).filter((p) => p.startsWith('/agent/')) as Path[];
const operatorPaths = Object.keys(valid).filter((p) => p.startsWith('/operator/')) as Path[];

t.beforeEach(() => { engine.calls.length = 0; });

// covers: req-sec-operator-auth
t.test('authentication', async (t) => {
  for (const path of [...agentPaths, '/agent/v1/sets', '/agent/v1/records']) {
    const method = path.endsWith('sets') || path.endsWith('records') ? 'GET' : 'POST';
    const body = method === 'POST' ? valid[path as Path] : undefined;
    isProblem(t, await call(method, path, body, null), 'unauthenticated');
    isProblem(t, await call(method, path, body, 'wrong'), 'unauthenticated');
    isProblem(t, await call(method, path, body, credentials.agent + 'x'), 'unauthenticated');
    isProblem(t, await call(method, path, body, credentials.operator), 'unauthenticated');
  }
  for (const path of operatorPaths) {
    isProblem(t, await call('POST', path, valid[path], null), 'unauthenticated');
    isProblem(t, await call('POST', path, valid[path], 'wrong'), 'unauthenticated');
    isProblem(t, await call('POST', path, valid[path], credentials.agent), 'forbidden');
  }
  const basic = await request(s.url + '/agent/v1/records', { headers: { authorization: `Basic ${credentials.agent}` } });
  await basic.body.text();
  t.equal(basic.statusCode, 401, 'only the Bearer scheme');
  t.same(engine.calls, [], 'the engine is never reached without the right credential');
});

// covers: req-sec-operator-auth
t.test('operator routes cannot be reached with the agent token through an encoded path', async (t) => {
  for (const path of ['/%6Fperator/v1/decisions', '/%6fperator/v1/security', '/operator/v1/%73ecurity']) {
    const r = await call('POST', path, valid['/operator/v1/decisions'], credentials.agent);
    t.not(r.status, 200, `${path} refused (${r.status})`);
    t.ok(r.status === 403 || r.status === 404 || r.status === 400 || r.status === 401, `${path}: ${r.status}`);
  }
  t.same(engine.calls, []);
});

t.test('each agent route calls the engine with the validated body', async (t) => {
  const expected: Record<string, [string, number, unknown]> = {
    '/agent/v1/executions': ['execution', 201, { execution: 'exec-1', state: 'active' }],
    '/agent/v1/checkpoints': ['checkpoint', 201, { checkpoint: 'ck-1', seq: 3 }],
    '/agent/v1/consumptions': ['consumed', 200, { registered: true }],
    '/agent/v1/failures': ['failure', 202, { set: { initiator: 'me', id: 'set-1' }, absorbed: false }],
    '/agent/v1/observations': ['observed', 202, { observed: true }],
    '/agent/v1/results': ['result', 200, { status: 'recorded' }],
  };
  for (const path of agentPaths) {
    engine.calls.length = 0;
    const [method, status, reply] = expected[path]!;
    const r = await call('POST', path, valid[path]);
    t.equal(r.status, status, `${path} -> ${status}`);
    t.same(r.body, reply);
    t.same(engine.calls, [{ method, body: valid[path] }], `${path} -> engine.${method}`);
  }
});

t.test('operator routes pass the body and who decided', async (t) => {
  const expected: Record<string, [string, unknown]> = {
    '/operator/v1/decisions': ['decision', { ...valid['/operator/v1/decisions'], by: 'operator@127.0.0.1' }],
    '/operator/v1/cancellations': ['cancel', { ...valid['/operator/v1/cancellations'], by: 'operator@127.0.0.1' }],
    '/operator/v1/security': ['clearDegraded', { by: 'operator@127.0.0.1' }],
  };
  for (const path of operatorPaths) {
    engine.calls.length = 0;
    const r = await call('POST', path, valid[path], credentials.operator);
    t.equal(r.status, 200, path);
    const [method, body] = expected[path]!;
    t.same(engine.calls, [{ method, body }], `${path} -> engine.${method}`);
  }
  const decline = await call('POST', '/operator/v1/decisions', { set, execution: 'e', decision: 'decline' }, credentials.operator);
  t.same(decline.body, { decided: 'decline' });
});

t.test('a body cannot claim to be someone else (`by` is not accepted)', async (t) => {
  const r = await call('POST', '/operator/v1/cancellations', { set, by: 'mallory' }, credentials.operator);
  isProblem(t, r, 'schema_invalid');
  t.same(engine.calls, []);
});

t.test('schema violations are 400 schema_invalid and never reach the engine', async (t) => {
  const bad: Array<[Path, unknown, string]> = [
    ['/agent/v1/executions', {}, 'missing execution'],
    ['/agent/v1/executions', { execution: 'has space' }, 'bad identifier'],
    ['/agent/v1/executions', { execution: 'x'.repeat(129) }, 'identifier too long'],
    ['/agent/v1/executions', { execution: 5 }, 'number for a string'],
    ['/agent/v1/executions', { execution: 'e', extra: 1 }, 'unknown field'],
    ['/agent/v1/executions', [], 'array body'],
    ['/agent/v1/checkpoints', { ...valid['/agent/v1/checkpoints'], seq: -1 }, 'negative seq'],
    ['/agent/v1/checkpoints', { ...valid['/agent/v1/checkpoints'], seq: 1.5 }, 'fractional seq'],
    ['/agent/v1/checkpoints', { ...valid['/agent/v1/checkpoints'], seq: '3' }, 'string seq'],
    ['/agent/v1/checkpoints', { ...valid['/agent/v1/checkpoints'], digest: 'sha-256:AB' }, 'bad digest'],
    ['/agent/v1/checkpoints', { ...valid['/agent/v1/checkpoints'], reversibility: 'maybe' }, 'bad reversibility'],
    ['/agent/v1/checkpoints', { ...valid['/agent/v1/checkpoints'], hints: new Array(65).fill(0) }, 'too many hints'],
    ['/agent/v1/consumptions', { execution: 'e', producer: { agent: 'a', execution: 'e', checkpoint: 'c' } }, 'producer without seq'],
    ['/agent/v1/failures', { execution: 'e', checkpoint: 'c', seq: 1, class: 'tool_error' }, 'unregistered class'],
    ['/agent/v1/failures', { execution: 'e', checkpoint: 'c', class: 'execution_error' }, 'failure without seq'],
    ['/agent/v1/failures', { execution: 'e', checkpoint: 'c', seq: 1, class: 'execution_error', detail: 'd'.repeat(1025) }, 'detail too long'],
    ['/agent/v1/observations', { execution: 'e', producer: { agent: 'a b', execution: 'e', checkpoint: 'c', seq: 1 }, class: 'user_report' }, 'bad producer agent'],
    ['/agent/v1/observations', { ...valid['/agent/v1/observations'], seq: 1 }, 'observation with own seq'],
    ['/agent/v1/results', { ...valid['/agent/v1/results'], status: 'done' }, 'bad status'],
    ['/agent/v1/results', { ...valid['/agent/v1/results'], set: { initiator: 'a' } }, 'set without id'],
    ['/agent/v1/results', { ...valid['/agent/v1/results'], restored: { checkpoint: 'c' } }, 'restored without digest'],
    ['/operator/v1/decisions', { set, execution: 'e', decision: 'maybe' }, 'bad decision'],
    ['/operator/v1/security', { state: 'degraded' }, 'only normal can be set'],
  ];
  for (const [path, body, why] of bad) {
    const token = path.startsWith('/operator/') ? credentials.operator : credentials.agent;
    const r = await call('POST', path, body, token);
    isProblem(t, r, 'schema_invalid');
    t.comment(`${why}: ${r.body?.detail}`);
  }
  t.same(engine.calls, [], 'engine not called');
});

t.test('bodies that are not JSON objects are refused before the engine', async (t) => {
  isProblem(t, await call('POST', '/agent/v1/executions', undefined, credentials.agent, { type: 'application/json', text: '{"execution":' }), 'malformed');
  const empty = await call('POST', '/agent/v1/executions', undefined, credentials.agent, { type: 'application/json', text: '' });
  t.equal(empty.status, 400);
  const text = await call('POST', '/agent/v1/executions', undefined, credentials.agent, { type: 'text/plain', text: 'exec-1' });
  t.equal(text.status, 400);
  t.match(text.body, { code: /^(schema_invalid|malformed)$/ });
  const other = await call('POST', '/agent/v1/executions', undefined, credentials.agent, { type: 'application/xml', text: '<x/>' });
  t.equal(other.status, 400);
  t.match(other.body, { code: 'malformed' });
  t.same(engine.calls, []);
});

t.test('engine errors: protocol errors keep their code, others are 500 internal', async (t) => {
  const { ProtocolError } = await import('../../src/errors.js');
  engine.fail['execution'] = new ProtocolError('unknown_execution', 'no exec-1 here');
  const r1 = await call('POST', '/agent/v1/executions', valid['/agent/v1/executions']);
  isProblem(t, r1, 'unknown_execution');
  t.equal(r1.body.detail, 'no exec-1 here');
  engine.fail['failure'] = new Error('disk on fire');
  const r2 = await call('POST', '/agent/v1/failures', valid['/agent/v1/failures']);
  isProblem(t, r2, 'internal');
  t.notMatch(JSON.stringify(r2.body), /disk on fire/, 'the cause is not leaked');
});

t.test('reading sets and records', async (t) => {
  engine.known.clear();
  t.same((await call('GET', '/agent/v1/sets')).body, []);
  engine.known.set('org/alice set-1', { set, state: 'held' });
  const all = await call('GET', '/agent/v1/sets');
  t.equal(all.status, 200);
  t.same(all.body, [{ set, state: 'held' }]);
  const one = await call('GET', '/agent/v1/sets/org%2Falice/set-1');
  t.equal(one.status, 200);
  t.same(one.body, { set, state: 'held' });
  t.same(engine.calls.at(-1), { method: 'set', body: { initiator: 'org/alice', id: 'set-1' } }, 'path parameters decoded');
  isProblem(t, await call('GET', '/agent/v1/sets/org%2Falice/set-2'), 'unknown_set');
  isProblem(t, await call('GET', '/agent/v1/sets/nobody/set-1'), 'unknown_set');
  const rec = await call('GET', '/agent/v1/records');
  t.equal(rec.status, 200);
  t.same(rec.body, [{ kind: 'record', n: 1 }]);
});

t.test('the published schemas are the ones enforced', async (t) => {
  t.same(Object.keys(agentSchemas).sort(), ['cancel', 'checkpoint', 'consumed', 'decision', 'execution', 'failure', 'observed', 'result', 'security']);
});

// ---- directive feed ----

/** Opens the directive feed and collects directive frames. */
function feed(query = '', token: string | null = credentials.agent) {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/agent/v1/directives${query}`, {
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
  const got: any[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (d) => { got.push(JSON.parse(String(d))); waiters.splice(0).forEach((w) => w()); });
  ws.on('error', () => {});
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error('refused'), { status: res.statusCode }));
      ws.terminate();
    });
  });
  const closed = new Promise<void>((r) => ws.once('close', () => r()));
  const count = async (n: number) => { while (got.length < n) await new Promise<void>((r) => waiters.push(r)); return got; };
  return { ws, got, opened, closed, count };
}

const q = engine.directives;
for (let i = 1; i <= 3; i++) q.push(directive(i));

t.test('the feed pushes every directive after `after`, then new ones as they are published', async (t) => {
  const f = feed();
  await f.opened;
  await f.count(3);
  t.same(f.got.map((d) => d.seq), [1, 2, 3]);
  t.same(f.got[0], { type: 'directive', ...directive(1), seq: 1 });
  q.push(directive(4));
  await f.count(4);
  t.same(f.got.map((d) => d.seq), [1, 2, 3, 4]);
  q.push(directive(4)); // the same directive again is not queued twice
  q.push(directive(5));
  await f.count(5);
  t.same(f.got.map((d) => d.seq), [1, 2, 3, 4, 5]);
  f.ws.close();
  await f.closed;
});

t.test('resume with ?after=N sends only later directives', async (t) => {
  const f = feed('?after=3');
  await f.opened;
  await f.count(2);
  t.same(f.got.map((d) => d.seq), [4, 5]);
  q.push(directive(6));
  await f.count(3);
  t.same(f.got.map((d) => d.seq), [4, 5, 6]);
  f.ws.close();
  await f.closed;
});

t.test('resume at the end sends nothing until a new directive', async (t) => {
  const f = feed(`?after=${q.length}`);
  await f.opened;
  await new Promise((r) => setTimeout(r, 30));
  t.same(f.got, []);
  q.push(directive(7));
  await f.count(1);
  t.same(f.got.map((d) => d.seq), [7]);
  f.ws.close();
  await f.closed;
});

t.test('a bad ?after starts from the beginning', async (t) => {
  for (const after of ['-5', 'abc', '', '99999999999999999999']) {
    const f = feed(`?after=${after}`);
    await f.opened;
    await f.count(q.length);
    t.equal(f.got[0].seq, 1, `after=${after}`);
    f.ws.close();
    await f.closed;
  }
});

t.test('a closed feed unsubscribes', async (t) => {
  const f = feed(`?after=${q.length}`);
  await f.opened;
  f.ws.close();
  await f.closed;
  await new Promise((r) => setTimeout(r, 30));
  q.push(directive(8)); // must not throw or send on a closed socket
  t.equal(f.got.length, 0);
});

t.test('the directive feed refuses an unauthenticated upgrade', async (t) => {
  for (const token of [null, 'wrong', credentials.operator]) {
    const f = feed('', token);
    const status = await f.opened.then(() => 'opened', (e: { status: number }) => e.status);
    t.equal(status, 401, `token ${token}`);
    await f.closed;
    t.same(f.got, []);
  }
});

t.test('a feed that repeats old directives does not make the face repeat them', async (t) => {
  const { default: Fastify } = await import('fastify');
  const { default: websocket } = await import('@fastify/websocket');
  const { agentFace } = await import('../../src/node/agent-face.js');
  const { FakeEngine } = await import('./fixtures/agent-face.js');
  const e = new FakeEngine();
  for (let i = 1; i <= 3; i++) e.directives.push(directive(i));
  const inner = e.directives;
  // on subscribe, replay everything already published (as a rebuilt feed might)
  (e as { directives: unknown }).directives = {
    since: (after: number) => inner.since(after),
    subscribe: (l: (d: { seq: number }) => void) => { const off = inner.subscribe(l); inner.since(0).forEach(l); return off; },
  };
  const app = Fastify();
  await app.register(websocket);
  await app.register(agentFace, { engine: e, credentials });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const ws = new WebSocket(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/agent/v1/directives?after=1`, {
    headers: { authorization: `Bearer ${credentials.agent}` },
  });
  const got: number[] = [];
  ws.on('message', (d) => got.push(JSON.parse(String(d)).seq));
  await new Promise((r) => ws.once('open', r));
  inner.push(directive(4));
  while (got.length < 3) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20));
  t.same(got, [2, 3, 4]);
  ws.close();
  await new Promise((r) => ws.once('close', r));
});
