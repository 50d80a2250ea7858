/**
 * Turning intake results and errors into binding messages: WebSocket
 * receipt / error frames and RFC 9457 problem documents (HTTP), each with
 * the receipt statement when there is one (draft "msg-receipt").
 */
import { ProtocolError, problem, type ErrorCode } from '../errors.js';

export interface ErrorFrame { type: 'error'; jti: string | null; code: ErrorCode; detail: string; receipt?: string }
export interface ReceiptFrame { type: 'receipt'; jti: string; receipt?: string }

const MAX_DETAIL = 1024;

/** Any thrown value as a ProtocolError; unknown failures become `internal` (no detail leaks). */
export function toProtocolError(err: unknown): ProtocolError {
  return err instanceof ProtocolError ? err : new ProtocolError('internal');
}

function detailOf(e: ProtocolError): string {
  return e.message.length > MAX_DETAIL ? e.message.slice(0, MAX_DETAIL) : e.message;
}

export function errorFrame(err: unknown, jti: string | null): ErrorFrame {
  const e = toProtocolError(err);
  return { type: 'error', jti, code: e.code, detail: detailOf(e), ...(e.receipt === null ? {} : { receipt: e.receipt }) };
}

export function receiptFrame(jti: string, receipt?: string): ReceiptFrame {
  return { type: 'receipt', jti, ...(receipt === undefined ? {} : { receipt }) };
}

/** RFC 9457 problem JSON and its HTTP status for any thrown value. */
export function problemOf(err: unknown): { status: number; body: ReturnType<typeof problem> & { receipt?: string } } {
  const e = toProtocolError(err);
  const body: ReturnType<typeof problem> & { receipt?: string } = problem(e);
  body.detail = detailOf(e);
  if (e.receipt !== null) body.receipt = e.receipt;
  return { status: e.status, body };
}
