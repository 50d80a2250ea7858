/**
 * The taint and target rules (contract §1, §4 "request").
 */
import type { Consumption, Dependent } from './dependency.js';

/**
 * Target of a member asked by producer (agent, execution) rolling back to
 * seq `t`: among the member's consumptions of that producer execution as of
 * a checkpoint with seq >= t (tainted), the one with the lowest consumer seq.
 * Dependencies taken before the producer's target are not tainted and do
 * not authorise a request (undefined -> no_dependency).
 */
export function memberTarget(
  consumptions: readonly Consumption[], producerAgent: string, producerExecution: string, t: number,
): Consumption | undefined {
  let best: Consumption | undefined;
  for (const c of consumptions) {
    if (c.producerAgent !== producerAgent || c.producerExecution !== producerExecution || c.producerSeq < t) continue;
    if (!best || c.consumerSeq < best.consumerSeq) best = c;
  }
  return best;
}

export interface TaintedDependent { agent: string; execution: string }

/**
 * Dependents with a tainted dependency on an execution rolling back to seq
 * `t`, one per dependent execution, in registration order (contract §4
 * "Ordering at a member" (2)).
 */
export function taintedDependents(dependents: readonly Dependent[], t: number): TaintedDependent[] {
  const out: TaintedDependent[] = [];
  const seen = new Set<string>();
  for (const d of dependents) {
    if (d.producerSeq < t) continue;
    // agent ids and execution ids never contain a newline (contract §3 regexps)
    const k = `${d.consumerAgent}\n${d.consumerExecution}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ agent: d.consumerAgent, execution: d.consumerExecution });
  }
  return out;
}
