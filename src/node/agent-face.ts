/**
 * The agent face (draft appendix "Agent Interface"): the local API of the
 * agent beside the node. Bound to loopback by default and authenticated
 * with a bearer token; operator actions (confirming or declining a held
 * rollback, cancelling, clearing a degraded security state) need a distinct
 * operator credential. Directives are pushed over a WebSocket and resume
 * from `?after=<seq>`, so a reconnecting agent misses nothing.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket';
import swagger from '@fastify/swagger';
import { Ajv } from 'ajv';
import { ProtocolError, problem } from '../errors.js';
import { asProtocolError } from './peer-face.js';
import { failureClasses } from '../core/types.js';

export interface DirectiveFeed {
  /** Directives with seq > after, in order. */
  since(after: number): unknown[];
  /** Called with each new directive; returns an unsubscribe function. */
  subscribe(listener: (d: { seq: number }) => void): () => void;
}

export interface AgentEngine {
  execution(b: { execution: string }): Promise<unknown>;
  checkpoint(b: { execution: string; checkpoint: string; seq: number; digest: string; reversibility: string; hints?: unknown[] }): Promise<unknown>;
  consumed(b: { execution: string; producer: { agent: string; execution: string; checkpoint: string; seq: number } }): Promise<{ registered: boolean }>;
  failure(b: { execution: string; checkpoint: string; seq: number; class: string; detail?: string }): Promise<{ set: { initiator: string; id: string }; absorbed: boolean }>;
  observed(b: { execution: string; producer: { agent: string; execution: string; checkpoint: string; seq: number }; class: string; detail?: string }): Promise<unknown>;
  result(b: { set: { initiator: string; id: string }; execution: string; status: string; restored?: { checkpoint: string; digest: string }; detail?: string }): Promise<{ status: string }>;
  decision(b: { set: { initiator: string; id: string }; execution: string; decision: 'confirm' | 'decline'; by: string }): Promise<unknown>;
  cancel(b: { set: { initiator: string; id: string }; detail?: string; by: string }): Promise<unknown>;
  clearDegraded(b: { by: string }): Promise<unknown>;
  sets(): unknown[];
  set(ref: { initiator: string; id: string }): unknown | undefined;
  records(): unknown[];
  directives: DirectiveFeed;
}

export interface Credentials { agent: string; operator: string }

const ident = { type: 'string', pattern: '^[A-Za-z0-9._~:@+-]{1,128}$' };
const agentId = { type: 'string', pattern: '^[A-Za-z0-9._~:/@+-]{1,255}$' };
const digest = { type: 'string', pattern: '^sha-256:[0-9a-f]{64}$' };
const seq = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const setRef = { type: 'object', additionalProperties: false, required: ['initiator', 'id'], properties: { initiator: agentId, id: ident } };
const detail = { type: 'string', maxLength: 1024 };
const failureClass = { enum: [...failureClasses] };
const obj = (required: string[], properties: Record<string, unknown>) => ({ type: 'object', additionalProperties: false, required, properties });

export const agentSchemas = {
  execution: obj(['execution'], { execution: ident }),
  checkpoint: obj(['execution', 'checkpoint', 'seq', 'digest', 'reversibility'], {
    execution: ident, checkpoint: ident, seq, digest,
    reversibility: { enum: ['reversible', 'compensable', 'irreversible'] },
    hints: { type: 'array', maxItems: 64 },
  }),
  consumed: obj(['execution', 'producer'], {
    execution: ident,
    producer: obj(['agent', 'execution', 'checkpoint', 'seq'], { agent: agentId, execution: ident, checkpoint: ident, seq }),
  }),
  failure: obj(['execution', 'checkpoint', 'seq', 'class'], { execution: ident, checkpoint: ident, seq, class: failureClass, detail }),
  observed: obj(['execution', 'producer', 'class'], {
    execution: ident,
    producer: obj(['agent', 'execution', 'checkpoint', 'seq'], { agent: agentId, execution: ident, checkpoint: ident, seq }),
    class: failureClass, detail,
  }),
  result: obj(['set', 'execution', 'status'], {
    set: setRef, execution: ident,
    status: { enum: ['restored', 'compensated', 'compensation_required', 'failed'] },
    restored: obj(['checkpoint', 'digest'], { checkpoint: ident, digest }),
    detail,
  }),
  decision: obj(['set', 'execution', 'decision'], { set: setRef, execution: ident, decision: { enum: ['confirm', 'decline'] } }),
  cancel: obj(['set'], { set: setRef, detail }),
  security: obj(['state'], { state: { const: 'normal' } }),
} as const;

function tokenMatches(header: string | undefined, expected: string): boolean {
  const m = /^Bearer (.+)$/.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export const OPENAPI_PATH = '/agent/v1/openapi.json';

export async function agentFace(app: FastifyInstance, opts: { engine: AgentEngine; credentials: Credentials }): Promise<void> {
  const { engine, credentials } = opts;

  // The OpenAPI document is generated from the route schemas below (the ones that validate).
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'MARP agent face', version: '1', description: 'Local API between an agent and its rollback node (draft appendix "Agent Interface").' },
      components: {
        securitySchemes: {
          agentToken: { type: 'http', scheme: 'bearer', description: 'the agent\'s token (agent_face.token_file)' },
          operatorToken: { type: 'http', scheme: 'bearer', description: 'the operator credential (operator.token_file), distinct from the agent\'s' },
        },
      },
    },
    transform: ({ schema, url }) => ({
      schema: {
        ...(schema ?? {}),
        // @fastify/websocket hides its routes; the directive feed is part of the API.
        hide: url === OPENAPI_PATH,
        security: [url.startsWith('/operator/') ? { operatorToken: [] } : { agentToken: [] }],
      } as never,
      url,
    }),
  });

  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number }, _req, reply) => {
    const pe = err instanceof ProtocolError ? err
      : err.validation ? new ProtocolError('schema_invalid', err.message)
      : (err.statusCode ?? 500) < 500 ? new ProtocolError('malformed', err.message)
      : asProtocolError(err);
    if (pe.code === 'internal') app.log.error({ err }, 'agent face internal error');
    void reply.code(pe.status).type('application/problem+json').send(problem(pe));
  });

  // Operator routes accept only the operator credential; all others only the agent's.
  app.addHook('onRequest', async (req: FastifyRequest) => {
    // The matched route, not the raw URL: '/%6Fperator/...' routes to an operator route too.
    const route = req.routeOptions.url ?? req.url;
    if (route === OPENAPI_PATH) return; // the API description is public
    const operator = route.startsWith('/operator/');
    if (tokenMatches(req.headers.authorization, operator ? credentials.operator : credentials.agent)) return;
    if (operator && tokenMatches(req.headers.authorization, credentials.agent)) throw new ProtocolError('forbidden', 'operator credential required');
    throw new ProtocolError('unauthenticated');
  });

  // The schemas as written: fastify's default Ajv coerces types and strips unknown members.
  const ajv = new Ajv({ strict: true, allErrors: false });
  app.setValidatorCompiler(({ schema }) => ajv.compile(schema));

  const post = <B>(path: string, summary: string, schema: object, fn: (b: B, req: FastifyRequest) => Promise<unknown>, code = 200): void => {
    app.post(path, { schema: { summary, body: schema } }, async (req, reply) => reply.code(code).send(await fn(req.body as B, req)));
  };
  const operatorName = (req: FastifyRequest): string => `operator@${req.ip}`;

  post('/agent/v1/executions', 'declare an execution', agentSchemas.execution, (b: any) => engine.execution(b), 201);
  post('/agent/v1/checkpoints', 'declare a checkpoint (digest of the state, reversibility, hints)', agentSchemas.checkpoint, (b: any) => engine.checkpoint(b), 201);
  post('/agent/v1/consumptions', 'declare a consumption of another agent\'s output; answers once the producer has it', agentSchemas.consumed, (b: any) => engine.consumed(b));
  post('/agent/v1/failures', 'report a failure of one\'s own execution (opens or joins a rollback set)', agentSchemas.failure, (b: any) => engine.failure(b), 202);
  post('/agent/v1/observations', 'report that consumed output is bad (a failure signal to its producer)', agentSchemas.observed, (b: any) => engine.observed(b), 202);
  post('/agent/v1/results', 'report the result of a rollback directive (with the digest of the restored state)', agentSchemas.result, (b: any) => engine.result(b));
  post('/operator/v1/decisions', 'confirm or decline a held rollback (operator credential)', agentSchemas.decision, (b: any, req) => engine.decision({ ...b, by: operatorName(req) }));
  post('/operator/v1/cancellations', 'cancel a rollback set initiated here (operator credential)', agentSchemas.cancel, (b: any, req) => engine.cancel({ ...b, by: operatorName(req) }));
  post('/operator/v1/security', 'clear a degraded security state (operator credential)', agentSchemas.security, (_b, req) => engine.clearDegraded({ by: operatorName(req) }));

  app.get('/agent/v1/sets', { schema: { summary: 'the rollback sets this node takes part in' } }, async () => engine.sets());
  app.get<{ Params: { initiator: string; id: string } }>('/agent/v1/sets/:initiator/:id', { schema: { summary: 'one rollback set: state, entries, members here' } }, async (req) => {
    const s = engine.set({ initiator: req.params.initiator, id: req.params.id });
    if (s === undefined) throw new ProtocolError('unknown_set');
    return s;
  });
  app.get('/agent/v1/records', { schema: { summary: 'recovery records and follow-ups this node signed' } }, async () => engine.records());
  app.get(OPENAPI_PATH, async () => app.swagger());

  app.get<{ Querystring: { after?: string } }>('/agent/v1/directives', {
    websocket: true,
    schema: { summary: 'WebSocket: rollback directives in order; ?after=SEQ resumes after the last one handled' },
  }, (socket, req) => {
    let after = Number.parseInt(req.query.after ?? '0', 10);
    if (!Number.isSafeInteger(after) || after < 0) after = 0;
    const push = (d: { seq: number }): void => {
      if (d.seq <= after) return;
      after = d.seq;
      socket.send(JSON.stringify({ type: 'directive', ...d }));
    };
    const unsubscribe = engine.directives.subscribe(push);
    for (const d of engine.directives.since(after)) push(d as { seq: number });
    socket.on('close', unsubscribe);
  });
}
