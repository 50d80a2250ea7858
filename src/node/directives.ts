/**
 * Directives for the local agent, numbered in the order the core emitted
 * them. Rebuilding from the log re-derives the same directives in the same
 * order, so sequence numbers survive a restart; a directive the core emits
 * again (resume) is recognised by its identity and not queued twice.
 */
import type { DirectiveFeed } from './agent-face.js';

export interface QueuedDirective { seq: number; [name: string]: unknown }

export class DirectiveQueue implements DirectiveFeed {
  readonly #items: QueuedDirective[] = [];
  readonly #keys = new Set<string>();
  readonly #listeners = new Set<(d: QueuedDirective) => void>();

  push(directive: object): QueuedDirective | undefined {
    const key = JSON.stringify(directive);
    if (this.#keys.has(key)) return undefined;
    this.#keys.add(key);
    const d = { ...directive, seq: this.#items.length + 1 };
    this.#items.push(d);
    for (const l of this.#listeners) l(d);
    return d;
  }

  since(after: number): QueuedDirective[] {
    return this.#items.slice(Math.max(0, after));
  }

  subscribe(listener: (d: QueuedDirective) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get length(): number {
    return this.#items.length;
  }
}
