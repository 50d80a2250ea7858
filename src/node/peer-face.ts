/**
 * The peer face (draft Section "Transport Bindings"): envelopes from other
 * nodes over HTTP (POST, application/jose) and over persistent WebSocket
 * links. Every envelope goes through the one intake pipeline via `sink`.
 * Answers carry the sink's receipt statement when it signed one, as the
 * member "receipt" of the 202 body, the problem or the frame (draft
 * "req-receipt-sign"). On a link, a refused envelope gets an error frame
 * naming its code; the link closes only for framing violations or a
 * sustained run of refusals, never for one bad message, since many rollback
 * sets share it.
 *
 * WebSocket resource bounds (draft req-ws-limits): frames larger than the
 * envelope limit close the link (maxPayload, set where the plugin is
 * registered); a ping every interval, and a link that did not answer the
 * previous one is terminated; at most `inFlight` envelopes of one link in
 * the pipeline (reading pauses beyond, TCP pushes back; frames already read
 * wait in order); connection caps in
 * total and per source address before any envelope verified, and per peer
 * once a link carried an accepted envelope of that peer (the oldest closes).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type {} from '@fastify/websocket';
import { ProtocolError } from '../errors.js';
import { errorFrame, problemOf, receiptFrame } from '../envelope/frames.js';
import { ENVELOPE_PATH, LINK_PATH, SUBPROTOCOL } from './peer-link.js';

export interface EnvelopeSink {
  /**
   * Resolves once the envelope is durably accepted, with its verified sender
   * and its receipt statement; throws ProtocolError if refused (with
   * `receipt` set when the refusal is signed).
   */
  receive(compact: string, source: string): Promise<{ jti: string; peer?: string; receipt: string }>;
}

export interface WsLimits {
  /** Ping interval; a link without a pong to the previous ping is terminated. */
  pingIntervalMs: number;
  /** Envelopes of one link being processed at once. */
  inFlight: number;
  /** Open links in total. */
  connections: number;
  /** Open links per source address. */
  connectionsPerSource: number;
  /** Open links per verified peer. */
  connectionsPerPeer: number;
}

/** The draft's defaults (req-ws-limits). */
export const defaultWsLimits: Readonly<WsLimits> = Object.freeze({
  pingIntervalMs: 30_000, inFlight: 64, connections: 4096, connectionsPerSource: 256, connectionsPerPeer: 4,
});

/** Refusals in a row after which a link is closed (policy violation). */
export const MAX_CONSECUTIVE_REFUSALS = 64;

export function asProtocolError(err: unknown): ProtocolError {
  return err instanceof ProtocolError ? err : new ProtocolError('internal', 'internal error', { cause: err });
}

export async function peerFace(app: FastifyInstance, opts: { sink: EnvelopeSink; maxBytes: number; ws?: Partial<WsLimits> }): Promise<void> {
  const { sink, maxBytes } = opts;
  const lim: WsLimits = { ...defaultWsLimits, ...opts.ws };
  let links = 0;
  const bySource = new Map<string, number>();
  const byPeer = new Map<string, { close(code: number, reason: string): void }[]>();

  app.addContentTypeParser('application/jose', { parseAs: 'string', bodyLimit: maxBytes }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, _req, reply) => {
    const pe = err instanceof ProtocolError ? err
      : err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? new ProtocolError('too_large')
      : (err.statusCode ?? 500) < 500 ? new ProtocolError('malformed', err.message)
      : asProtocolError(err);
    if (pe.code === 'internal') app.log.error({ err }, 'peer face internal error');
    const { status, body } = problemOf(pe);
    void reply.code(status).type('application/problem+json').send(body);
  });

  // Checked before the body is read: fastify's own parsers (JSON, text/plain) must never feed the intake.
  const onRequest = async (req: FastifyRequest): Promise<void> => {
    const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/jose') throw new ProtocolError('malformed', 'body must be application/jose');
  };

  app.post(ENVELOPE_PATH, { onRequest }, async (req, reply) => {
    const { jti, receipt } = await sink.receive(req.body as string, `ip:${req.ip}`);
    return reply.code(202).send({ jti, receipt });
  });

  app.get(LINK_PATH, { websocket: true }, (socket, req) => {
    if (socket.protocol !== SUBPROTOCOL) {
      socket.close(1002, `subprotocol ${SUBPROTOCOL} required`);
      return;
    }
    // 1013 "try again later": the peer's link reconnects with backoff.
    if (links >= lim.connections || (bySource.get(req.ip) ?? 0) >= lim.connectionsPerSource) {
      socket.close(1013, 'too many links');
      return;
    }
    links++;
    bySource.set(req.ip, (bySource.get(req.ip) ?? 0) + 1);
    const source = `ws:${req.ip}:${req.socket.remotePort ?? 0}`;
    let refusals = 0;
    let inFlight = 0;
    let peer: string | undefined;
    let alive = true;
    socket.on('pong', () => { alive = true; });
    const ping = setInterval(() => {
      if (!alive) { socket.terminate(); return; }
      alive = false;
      socket.ping();
    }, lim.pingIntervalMs);
    ping.unref();
    socket.once('close', () => {
      clearInterval(ping);
      links--;
      const n = bySource.get(req.ip)! - 1;
      if (n === 0) bySource.delete(req.ip); else bySource.set(req.ip, n);
      if (peer !== undefined) {
        const list = byPeer.get(peer)!.filter((s) => s !== socket);
        if (list.length === 0) byPeer.delete(peer); else byPeer.set(peer, list);
      }
    });
    const bind = (p: string | undefined): void => {
      if (p === undefined || peer !== undefined) return;
      peer = p;
      const list = byPeer.get(p) ?? [];
      list.push(socket);
      byPeer.set(p, list);
      if (list.length > lim.connectionsPerPeer) list[0]!.close(1008, 'too many links from this peer');
    };
    // Frames read after the pause (already buffered) wait here; pausing bounds them.
    const waiting: string[] = [];
    const done = (): void => {
      inFlight--;
      while (inFlight < lim.inFlight && waiting.length > 0) handle(waiting.shift()!);
      if (inFlight < lim.inFlight && socket.isPaused) socket.resume();
    };
    socket.on('message', (data, isBinary) => {
      if (isBinary) {
        socket.close(1003, 'text frames only');
        return;
      }
      const text = String(data);
      if (inFlight >= lim.inFlight) {
        waiting.push(text);
        socket.pause();
        return;
      }
      handle(text);
    });
    function handle(text: string): void {
      if (++inFlight >= lim.inFlight) socket.pause();
      sink.receive(text, source).then(
        ({ jti, peer: p, receipt }) => {
          done();
          refusals = 0;
          bind(p);
          socket.send(JSON.stringify(receiptFrame(jti, receipt)));
        },
        (err: unknown) => {
          done();
          const pe = asProtocolError(err);
          socket.send(JSON.stringify(errorFrame(pe, pe.jti)));
          if (++refusals >= MAX_CONSECUTIVE_REFUSALS) socket.close(1008, 'too many refused envelopes');
        },
      );
    }
  });
}
