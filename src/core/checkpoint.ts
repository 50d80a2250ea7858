/**
 * Checkpoints (contract §1): immutable restore points, seq strictly
 * increasing per execution, reversibility describing the work AFTER the
 * checkpoint, hints kept verbatim.
 */
import canonicalize from 'canonicalize';
import { ProtocolError } from '../errors.js';
import type { Reversibility } from './types.js';

export interface Checkpoint {
  readonly id: string;
  readonly execution: string;
  readonly seq: number;
  readonly digest: string;
  readonly reversibility: Reversibility;
  readonly hints: readonly unknown[];
}

const rank: Readonly<Record<Reversibility, number>> = { reversible: 0, compensable: 1, irreversible: 2 };

/** The worst of two reversibility classes (irreversible > compensable > reversible). */
export function worse(a: Reversibility, b: Reversibility): Reversibility {
  return rank[a] >= rank[b] ? a : b;
}

/** One execution with its checkpoints, ordered by seq. */
export class Execution {
  readonly id: string;
  readonly #byId = new Map<string, Checkpoint>();
  readonly #ordered: Checkpoint[] = [];

  constructor(id: string) {
    this.id = id;
  }

  get latest(): Checkpoint | undefined {
    return this.#ordered[this.#ordered.length - 1];
  }

  get(id: string): Checkpoint | undefined {
    return this.#byId.get(id);
  }

  get size(): number {
    return this.#ordered.length;
  }

  /**
   * Validate a declaration without changing anything: 'same' for an identical
   * redeclaration (idempotent), 'new' when it may be added; throws
   * checkpoint_conflict otherwise (other content, or seq not increasing).
   */
  check(cp: Omit<Checkpoint, 'execution'>): 'same' | 'new' {
    const old = this.#byId.get(cp.id);
    if (old) {
      if (old.seq === cp.seq && old.digest === cp.digest && old.reversibility === cp.reversibility &&
          canonicalize(old.hints) === canonicalize(cp.hints)) return 'same';
      throw new ProtocolError('checkpoint_conflict', `checkpoint ${cp.id} already declared with other content`);
    }
    const latest = this.latest;
    if (latest && cp.seq <= latest.seq) {
      throw new ProtocolError('checkpoint_conflict', `seq ${cp.seq} does not increase (latest ${latest.seq})`);
    }
    return 'new';
  }

  /** Add a checkpoint already validated by check(). */
  add(cp: Omit<Checkpoint, 'execution'>): Checkpoint {
    const frozen: Checkpoint = Object.freeze({ ...cp, execution: this.id, hints: Object.freeze([...cp.hints]) });
    this.#byId.set(frozen.id, frozen);
    this.#ordered.push(frozen);
    return frozen;
  }

  /** Checkpoints with seq >= `seq`, in seq order (the work undone by a rollback to seq). */
  from(seq: number): Checkpoint[] {
    let lo = 0;
    let hi = this.#ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#ordered[mid]!.seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return this.#ordered.slice(lo);
  }

  /**
   * What a rollback to `target` undoes (contract §1, §4 "Irreversible work"):
   * the worst reversibility of the target and every later checkpoint, and the
   * hints of the non-reversible ones, verbatim, in seq order.
   */
  undo(target: Checkpoint): { worst: Reversibility; hints: unknown[] } {
    let worst: Reversibility = 'reversible';
    const hints: unknown[] = [];
    for (const cp of this.from(target.seq)) {
      worst = worse(worst, cp.reversibility);
      if (cp.reversibility !== 'reversible') hints.push(...cp.hints);
    }
    return { worst, hints };
  }

  snapshot(): unknown {
    return { id: this.id, checkpoints: this.#ordered };
  }
}
