/**
 * Dependencies (contract §1): consumer execution C (latest checkpoint Kc)
 * consumed output of producer execution P as of P's checkpoint Jp. Recorded
 * at both nodes: the consumer keeps a Consumption, the producer a Dependent.
 */
import { ProtocolError } from '../errors.js';

/** Consumer side: what a local execution consumed. */
export interface Consumption {
  readonly consumer: string;
  readonly consumerCheckpoint: string;
  readonly consumerSeq: number;
  readonly producerAgent: string;
  readonly producerExecution: string;
  readonly producerCheckpoint: string;
  readonly producerSeq: number;
}

/** Producer side: a registered dependent of a local execution. */
export interface Dependent {
  readonly producerExecution: string;
  readonly producerCheckpoint: string;
  readonly producerSeq: number;
  readonly consumerAgent: string;
  readonly consumerExecution: string;
  readonly consumerCheckpoint: string;
  readonly consumerSeq: number;
  readonly consumerDigest: string;
}

// Identifiers never contain a newline (contract §3 regexps): a cheap unambiguous composite key.
const key = (...parts: (string | number)[]): string => parts.join('\n');

/** The node's local view of dependencies, both directions. */
export class Dependencies {
  readonly #consumptions = new Map<string, Consumption[]>();
  readonly #dependents = new Map<string, Dependent[]>();
  readonly #seen = new Set<string>();
  /** (consumer agent, consumer execution, checkpoint id) -> registered digest, for the parent-side check. */
  readonly #digests = new Map<string, string>();

  consumptionsOf(execution: string): readonly Consumption[] {
    return this.#consumptions.get(execution) ?? [];
  }

  dependentsOf(execution: string): readonly Dependent[] {
    return this.#dependents.get(execution) ?? [];
  }

  /** Registered digest of a dependent's checkpoint, if any. */
  digestOf(agent: string, execution: string, checkpoint: string): string | undefined {
    return this.#digests.get(key(agent, execution, checkpoint));
  }

  /** Returns false when already recorded (idempotent). */
  addConsumption(c: Consumption): boolean {
    const k = key('c', c.consumer, c.consumerCheckpoint, c.producerAgent, c.producerExecution, c.producerCheckpoint, c.producerSeq);
    if (this.#seen.has(k)) return false;
    this.#seen.add(k);
    push(this.#consumptions, c.consumer, { ...c });
    return true;
  }

  /** Validate a dependent registration (checkpoint immutability across nodes). */
  checkDependent(d: Dependent): void {
    const old = this.#digests.get(key(d.consumerAgent, d.consumerExecution, d.consumerCheckpoint));
    if (old !== undefined && old !== d.consumerDigest) {
      throw new ProtocolError('checkpoint_conflict', 'consumer checkpoint registered with another digest');
    }
  }

  /** Returns false when already recorded (idempotent). */
  addDependent(d: Dependent): boolean {
    const k = key('d', d.producerExecution, d.producerCheckpoint, d.producerSeq, d.consumerAgent, d.consumerExecution, d.consumerCheckpoint, d.consumerSeq);
    if (this.#seen.has(k)) return false;
    this.#seen.add(k);
    this.#digests.set(key(d.consumerAgent, d.consumerExecution, d.consumerCheckpoint), d.consumerDigest);
    push(this.#dependents, d.producerExecution, { ...d });
    return true;
  }

  snapshot(): unknown {
    return { consumptions: [...this.#consumptions], dependents: [...this.#dependents] };
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}
