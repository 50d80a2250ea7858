/**
 * The peer face (draft Section "Transport Bindings"): envelopes from other
 * nodes over HTTP (POST, application/jose) and over persistent WebSocket
 * links. Every envelope goes through the one intake pipeline via `sink`.
 * On a link, a refused envelope gets an error frame naming its code; the
 * link closes only for framing violations or a sustained run of refusals,
 * never for one bad message, since many rollback sets share it.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket';
import { ProtocolError, problem } from '../errors.js';
import { ENVELOPE_PATH, LINK_PATH, SUBPROTOCOL } from './peer-link.js';

export interface EnvelopeSink {
  /** Resolves once the envelope is durably accepted; throws ProtocolError if refused. */
  receive(compact: string, source: string): Promise<{ jti: string }>;
}

/** Refusals in a row after which a link is closed (policy violation). */
export const MAX_CONSECUTIVE_REFUSALS = 64;

export function asProtocolError(err: unknown): ProtocolError {
  return err instanceof ProtocolError ? err : new ProtocolError('internal', 'internal error', { cause: err });
}

export async function peerFace(app: FastifyInstance, opts: { sink: EnvelopeSink; maxBytes: number }): Promise<void> {
  const { sink, maxBytes } = opts;

  app.addContentTypeParser('application/jose', { parseAs: 'string', bodyLimit: maxBytes }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, _req, reply) => {
    const pe = err instanceof ProtocolError ? err
      : err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? new ProtocolError('too_large')
      : (err.statusCode ?? 500) < 500 ? new ProtocolError('malformed', err.message)
      : asProtocolError(err);
    if (pe.code === 'internal') app.log.error({ err }, 'peer face internal error');
    void reply.code(pe.status).type('application/problem+json').send(problem(pe));
  });

  // Checked before the body is read: fastify's own parsers (JSON, text/plain) must never feed the intake.
  const onRequest = async (req: FastifyRequest): Promise<void> => {
    const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/jose') throw new ProtocolError('malformed', 'body must be application/jose');
  };

  app.post(ENVELOPE_PATH, { onRequest }, async (req, reply) => {
    const { jti } = await sink.receive(req.body as string, `ip:${req.ip}`);
    return reply.code(202).send({ jti });
  });

  app.get(LINK_PATH, { websocket: true }, (socket, req) => {
    if (socket.protocol !== SUBPROTOCOL) {
      socket.close(1002, `subprotocol ${SUBPROTOCOL} required`);
      return;
    }
    const source = `ws:${req.ip}:${req.socket.remotePort ?? 0}`;
    let refusals = 0;
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        socket.close(1003, 'text frames only');
        return;
      }
      const text = String(data);
      sink.receive(text, source).then(
        ({ jti }) => {
          refusals = 0;
          socket.send(JSON.stringify({ type: 'receipt', jti }));
        },
        (err: unknown) => {
          const pe = asProtocolError(err);
          socket.send(JSON.stringify({ type: 'error', jti: pe.jti, code: pe.code, detail: pe.message }));
          if (++refusals >= MAX_CONSECUTIVE_REFUSALS) socket.close(1008, 'too many refused envelopes');
        },
      );
    });
  });
}
