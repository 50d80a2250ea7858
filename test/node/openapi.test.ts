/**
 * The agent face's OpenAPI document: public (no token), generated from the
 * route schemas that validate requests, naming the credential each route needs.
 */
import t from 'tap';
import { request } from 'undici';
import { agentSchemas, OPENAPI_PATH } from '../../src/node/agent-face.js';
import { startAgentFace } from './fixtures/agent-face.js';

const s = await startAgentFace();
t.teardown(() => s.app.close());

const res = await request(s.url + OPENAPI_PATH);
const doc = (await res.body.json()) as any;

t.test('served without a token, as OpenAPI 3.1', async (t) => {
  t.equal(res.statusCode, 200);
  t.equal(doc.openapi, '3.1.0');
  t.match(doc.info, { title: /agent face/ });
});

t.test('every agent and operator route appears, and nothing else', async (t) => {
  const expected: Record<string, string[]> = {
    '/agent/v1/executions': ['post'], '/agent/v1/checkpoints': ['post'], '/agent/v1/consumptions': ['post'],
    '/agent/v1/failures': ['post'], '/agent/v1/observations': ['post'], '/agent/v1/results': ['post'],
    '/operator/v1/decisions': ['post'], '/operator/v1/cancellations': ['post'], '/operator/v1/security': ['post'],
    '/agent/v1/sets': ['get'], '/agent/v1/sets/{initiator}/{id}': ['get'], '/agent/v1/records': ['get'],
    '/agent/v1/directives': ['get'],
  };
  t.same(Object.keys(doc.paths).sort(), Object.keys(expected).sort(), 'the documented paths');
  for (const [path, methods] of Object.entries(expected)) {
    t.same(Object.keys(doc.paths[path]).sort(), methods, `${path} methods`);
    t.ok(s.app.hasRoute({ method: methods[0]!.toUpperCase() as 'GET', url: path.replace(/\{(\w+)\}/g, ':$1') }), `${path} is a real route`);
    const op = doc.paths[path][methods[0]!];
    t.ok(op.summary, `${path} has a summary`);
    t.same(op.security, [path.startsWith('/operator/') ? { operatorToken: [] } : { agentToken: [] }], `${path} names its credential`);
  }
  t.notOk(doc.paths[OPENAPI_PATH], 'the document does not describe itself');
  t.same(Object.keys(doc.components.securitySchemes).sort(), ['agentToken', 'operatorToken']);
});

t.test('request bodies are the enforced schemas', async (t) => {
  const body = (path: string) => doc.paths[path].post.requestBody.content['application/json'].schema;
  t.match(body('/agent/v1/checkpoints'), { required: agentSchemas.checkpoint.required, additionalProperties: false });
  t.same(Object.keys(body('/agent/v1/checkpoints').properties).sort(), Object.keys(agentSchemas.checkpoint.properties).sort());
  t.same(body('/operator/v1/decisions').properties.decision, agentSchemas.decision.properties.decision);
  t.match(body('/agent/v1/results').properties.restored.properties.digest, { pattern: '^sha-256:[0-9a-f]{64}$' });
});

t.test('the other routes still need their token', async (t) => {
  const r = await request(`${s.url}/agent/v1/sets`);
  t.equal(r.statusCode, 401);
  await r.body.dump();
});
