/**
 * Retransmission (draft Section "Retransmission"): every envelope is re-sent
 * with backoff until the peer returns a receipt or the sender's deadline
 * passes. Each attempt is signed afresh (new jti and iat), so the receiver's
 * replay rule stays strict; idempotency is the protocol's, by its keys.
 * Only a receipt statement of the receiver ends it (draft
 * "req-receipt-final"): an answer without a valid one is no answer.
 */
import { isErrorCode } from '../errors.js';
import type { ReceiptAnswer } from '../envelope/seal.js';
import { retryable, type Delivery, type PeerLink } from './peer-link.js';

export interface Outgoing {
  to: string;
  kind: string;
  body: Record<string, unknown>;
  /** Stable identity given by the core; a newer send with the same key replaces the older. */
  key: string;
  /** Give up after this instant (ms, node clock). */
  until: number;
}

export interface OutboxHooks {
  sign(o: Outgoing): Promise<{ compact: string; jti: string }>;
  link(peer: string): PeerLink | undefined;
  now(): number;
  /**
   * Verify the receipt statement an answer to the attempt `jti` carried:
   * resolves with what it says, rejects if it is not the receiver's receipt
   * for this sender and this jti.
   */
  confirm(o: Outgoing, jti: string, receipt: string): Promise<ReceiptAnswer>;
  delivered(o: Outgoing): void;
  /** Refused for good (not retryable) or expired; `code` says which. */
  abandoned(o: Outgoing, code: Extract<Delivery, { ok: false }>['code'] | 'expired', detail: string): void;
  attempt?(o: Outgoing, d: Delivery): void;
}

const BASE_MS = 50;
const CAP_MS = 2000;

interface Entry { current: Outgoing; running: boolean; generation: number }

export class Outbox {
  readonly #hooks: OutboxHooks;
  readonly #entries = new Map<string, Entry>();
  /** Pending backoff sleeps: close() ends them so a stopping node does not wait for them. */
  readonly #sleeps = new Set<() => void>();
  #closed = false;

  constructor(hooks: OutboxHooks) {
    this.#hooks = hooks;
  }

  get size(): number {
    return this.#entries.size;
  }

  send(o: Outgoing): void {
    if (this.#closed) return;
    const e = this.#entries.get(o.key);
    if (e) {
      e.current = o;
      e.generation++;
      return;
    }
    const entry: Entry = { current: o, running: true, generation: 0 };
    this.#entries.set(o.key, entry);
    void this.#run(entry);
  }

  close(): void {
    this.#closed = true;
    for (const wake of this.#sleeps) wake();
    this.#sleeps.clear();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => { clearTimeout(timer); this.#sleeps.delete(wake); resolve(); };
      const timer = setTimeout(wake, ms);
      this.#sleeps.add(wake);
    });
  }

  async #run(entry: Entry): Promise<void> {
    let attempt = 0;
    for (;;) {
      const o = entry.current;
      const generation = entry.generation;
      if (this.#closed) return;
      if (this.#hooks.now() > o.until) return this.#finish(entry, () => this.#hooks.abandoned(o, 'expired', 'deadline passed'));
      const link = this.#hooks.link(o.to);
      let d: Delivery;
      if (!link) {
        d = { ok: false, code: 'unreachable', detail: `no link to ${o.to}` };
      } else {
        let signed: { compact: string; jti: string };
        try {
          signed = await this.#hooks.sign(o);
        } catch (err) {
          // Not retryable by waiting; and a rejection here would go unhandled and stop the node.
          return this.#finish(entry, () => this.#hooks.abandoned(o, 'internal', `cannot sign: ${err instanceof Error ? err.message : String(err)}`));
        }
        d = await this.#confirmed(o, signed.jti, await link.deliver(signed.compact, signed.jti));
      }
      this.#hooks.attempt?.(o, d);
      if (entry.generation !== generation) { attempt = 0; continue; } // replaced while in flight
      if (d.ok) return this.#finish(entry, () => this.#hooks.delivered(o));
      if (!retryable(d)) {
        return this.#finish(entry, () => this.#hooks.abandoned(o, d.code, d.detail));
      }
      const wait = Math.min(CAP_MS, BASE_MS * 2 ** attempt++) * (0.5 + Math.random() / 2);
      await this.#sleep(Math.max(1, Math.min(wait, o.until - this.#hooks.now() + 1)));
    }
  }

  /**
   * The answer as far as its receipt statement confirms it: an acceptance, or
   * a refusal that would end retransmission, counts only if signed by the
   * receiver for this jti (draft "req-receipt-final"); otherwise it is
   * `unconfirmed` and retried. A refusal retried anyway needs no check.
   */
  async #confirmed(o: Outgoing, jti: string, d: Delivery): Promise<Delivery> {
    if (!d.ok && retryable(d)) return d;
    const said = d.ok ? 'receipt' : d.code;
    if (d.receipt === undefined) return { ok: false, code: 'unconfirmed', detail: `${said} without a receipt statement` };
    let r: ReceiptAnswer;
    try {
      r = await this.#hooks.confirm(o, jti, d.receipt);
    } catch (err) {
      return { ok: false, code: 'unconfirmed', detail: `${said} with an invalid receipt statement: ${err instanceof Error ? err.message : String(err)}` };
    }
    // The signed statement decides, whatever the unsigned status or code around it said.
    if (r.status === 'accepted') return { ok: true };
    return { ok: false, code: isErrorCode(r.code) ? r.code : 'unknown_code', detail: d.ok ? `refused ${r.code}` : d.detail };
  }

  #finish(entry: Entry, then: () => void): void {
    this.#entries.delete(entry.current.key);
    then();
  }
}
