/**
 * Client side of the peer binding (draft Section "Transport Bindings"):
 * deliver one compact JWS to a peer and learn what it answered: accepted (a
 * receipt) or refused (an error code), with the receipt statement the answer
 * carries, unverified: whether the answer ends retransmission is the
 * outbox's decision (draft "req-receipt-final"). HTTP: POST
 * /rollback/v1/envelope, 202 = receipt. WebSocket: one persistent link per
 * peer, subprotocol rollback.v1; receipts and error frames are matched to
 * envelopes by jti.
 */
import { Agent, request, type Dispatcher } from 'undici';
import WebSocket from 'ws';
import { errors, isErrorCode, type ErrorCode } from '../errors.js';

/**
 * `unreachable`: no answer (retried); `unconfirmed`: an answer without a
 * valid receipt statement, as good as none (retried, draft
 * "req-receipt-unsigned"); `unknown_code`: refused with a code this node does
 * not know, which a sender treats as "drop" (draft "Error Codes").
 * `receipt`: the receipt statement the answer carried, not yet verified.
 */
export type Delivery =
  | { ok: true; receipt?: string }
  | { ok: false; code: ErrorCode | 'unreachable' | 'unconfirmed' | 'unknown_code'; detail: string; receipt?: string };

/** Whether a failed delivery is worth another attempt. */
export function retryable(d: Delivery): boolean {
  return !d.ok && (d.code === 'unreachable' || d.code === 'unconfirmed' || (d.code !== 'unknown_code' && errors[d.code].action === 'retry'));
}

export interface PeerLink {
  deliver(compact: string, jti: string): Promise<Delivery>;
  close(): void;
}

export const ENVELOPE_PATH = '/rollback/v1/envelope';
export const LINK_PATH = '/rollback/v1/link';
export const SUBPROTOCOL = 'rollback.v1';

function unreachable(err: unknown): Delivery {
  return { ok: false, code: 'unreachable', detail: err instanceof Error ? err.message : String(err) };
}

/** The "receipt" member of an answer, if it is a string (verified by the outbox). */
function receiptOf(body: unknown): { receipt?: string } {
  const r = (body as { receipt?: unknown } | null)?.receipt;
  return typeof r === 'string' ? { receipt: r } : {};
}

function accepted(body: unknown): Delivery {
  return { ok: true, ...receiptOf(body) };
}

function refused(body: unknown, fallback: string): Delivery {
  const code = (body as { code?: unknown } | null)?.code;
  const detail = (body as { detail?: unknown } | null)?.detail;
  const text = typeof detail === 'string' ? detail : '';
  if (isErrorCode(code)) return { ok: false, code, detail: text, ...receiptOf(body) };
  if (typeof code === 'string') return { ok: false, code: 'unknown_code', detail: `${code.slice(0, 64)}: ${text}`, ...receiptOf(body) };
  return { ok: false, code: 'unreachable', detail: fallback };
}

function json(text: string): unknown {
  try { return JSON.parse(text); } catch { return null; }
}

/** TLS for links to peers: TLS 1.3 only (draft "Transport Security"), optionally with our own CAs. */
export interface LinkTls { ca?: string | Buffer }

const TLS_MIN = 'TLSv1.3' as const;

export function httpLink(baseUrl: string, timeoutMs = 5000, tls: LinkTls = {}): PeerLink {
  const dispatcher: Dispatcher | undefined = baseUrl.startsWith('https:')
    ? new Agent({ connect: { minVersion: TLS_MIN, ...(tls.ca ? { ca: tls.ca } : {}) } })
    : undefined;
  const url = new URL(ENVELOPE_PATH, baseUrl).toString();
  return {
    async deliver(compact) {
      try {
        const res = await request(url, {
          ...(dispatcher ? { dispatcher } : {}),
          method: 'POST',
          headers: { 'content-type': 'application/jose' },
          body: compact,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        const body = json(await res.body.text());
        return res.statusCode === 202 ? accepted(body) : refused(body, `HTTP ${res.statusCode}`);
      } catch (err) {
        return unreachable(err);
      }
    },
    close() { void dispatcher?.close(); },
  };
}

interface Waiter { resolve(d: Delivery): void; timer: NodeJS.Timeout }

export function wsLink(baseUrl: string, timeoutMs = 5000, tls: LinkTls = {}): PeerLink {
  const url = new URL(LINK_PATH, baseUrl.replace(/^http/, 'ws')).toString();
  const waiting = new Map<string, Waiter>();
  let socket: WebSocket | undefined;
  let opening: Promise<WebSocket> | undefined;
  let closed = false;

  const settle = (jti: string, d: Delivery): void => {
    const w = waiting.get(jti);
    if (!w) return;
    waiting.delete(jti);
    clearTimeout(w.timer);
    w.resolve(d);
  };

  const open = (): Promise<WebSocket> => {
    if (socket?.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    opening ??= new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, SUBPROTOCOL, {
        handshakeTimeout: timeoutMs, maxPayload: 1 << 20,
        ...(url.startsWith('wss:') ? { minVersion: TLS_MIN, ...(tls.ca ? { ca: tls.ca } : {}) } : {}),
      });
      ws.once('open', () => { socket = ws; opening = undefined; resolve(ws); });
      ws.once('error', (err) => { opening = undefined; reject(err); });
      ws.on('message', (data) => {
        let frame: { type?: unknown; jti?: unknown; code?: unknown; detail?: unknown };
        try { frame = JSON.parse(String(data)); } catch { return; }
        if (typeof frame.jti !== 'string') return;
        settle(frame.jti, frame.type === 'receipt' ? accepted(frame) : refused(frame, 'bad frame'));
      });
      ws.on('close', () => {
        if (socket === ws) socket = undefined;
        for (const jti of [...waiting.keys()]) settle(jti, unreachable(new Error('link closed')));
      });
    });
    return opening;
  };

  return {
    async deliver(compact, jti) {
      if (closed) return unreachable(new Error('link closed'));
      let ws: WebSocket;
      try { ws = await open(); } catch (err) { return unreachable(err); }
      return new Promise<Delivery>((resolve) => {
        const timer = setTimeout(() => settle(jti, unreachable(new Error('no receipt'))), timeoutMs);
        waiting.set(jti, { resolve, timer });
        ws.send(compact, (err) => { if (err) settle(jti, unreachable(err)); });
      });
    },
    close() {
      closed = true;
      socket?.close(1001);
    },
  };
}
