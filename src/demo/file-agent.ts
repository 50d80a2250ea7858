/**
 * The demo's agent: real state in a small file of records. A checkpoint is a
 * copy of the file plus its SHA-256 digest; rollback restores the copy and
 * reports the digest of what it restored, which the node checks against the
 * digest declared at the checkpoint. Both digests are this agent's own claims
 * (draft "Limits of the Evidence"). An execution's state opens with a record
 * naming it and its inputs, so no checkpoint hashes an empty serialisation.
 */
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import type { AgentClient, Directive, Reversibility, RollbackResult } from '../client/index.js';

export function digestOf(bytes: Uint8Array): string {
  return `sha-256:${bytesToHex(sha256(bytes))}`;
}

export class FileAgent {
  readonly name: string;
  readonly client: AgentClient;
  readonly #dir: string;
  readonly #state: string;
  readonly #seq = new Map<string, number>();

  constructor(name: string, dir: string, client: AgentClient) {
    this.name = name;
    this.client = client;
    this.#dir = dir;
    this.#state = join(dir, 'state.jsonl');
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    if (!existsSync(this.#state)) writeFileSync(this.#state, '');
  }

  records(): unknown[] {
    return readFileSync(this.#state, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  }

  write(record: Record<string, unknown>): void {
    appendFileSync(this.#state, `${JSON.stringify(record)}\n`);
  }

  /** Open an execution: its first record names it and its inputs (`state`). */
  async start(execution: string, state: Record<string, unknown> = {}): Promise<void> {
    await this.client.execution(execution);
    this.write({ execution, ...state });
  }

  /** Declare a checkpoint of the current state; returns its reference. */
  async checkpoint(execution: string, reversibility: Reversibility = 'reversible', hints: unknown[] = []): Promise<{ checkpoint: string; seq: number }> {
    const seq = (this.#seq.get(execution) ?? 0) + 1;
    this.#seq.set(execution, seq);
    const checkpoint = `${execution}-c${seq}`;
    const file = join(this.#dir, 'checkpoints', `${checkpoint}.jsonl`);
    copyFileSync(this.#state, file);
    await this.client.checkpoint(execution, { checkpoint, seq, digest: digestOf(readFileSync(file)), reversibility, hints });
    return { checkpoint, seq };
  }

  /** Handle a rollback directive by restoring the checkpoint's copy. */
  async restore(d: Directive): Promise<RollbackResult> {
    const file = join(this.#dir, 'checkpoints', `${d.target.checkpoint}.jsonl`);
    if (!existsSync(file)) return { status: 'failed', detail: `no copy of ${d.target.checkpoint}` };
    copyFileSync(file, this.#state);
    const restored = { checkpoint: d.target.checkpoint, digest: digestOf(readFileSync(this.#state)) };
    return { status: d.action === 'compensate' ? 'compensated' : 'restored', restored };
  }
}
