/** Prometheus metrics of one node (a registry per node, so nodes can share a process). */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  messages: Counter<'kind' | 'result'>;
  rejections: Counter<'code'>;
  sets: Counter<'outcome'>;
  propagation: Histogram<'kind'>;
}

export function createMetrics(defaults = false): Metrics {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry });
  return {
    registry,
    messages: new Counter({
      name: 'rollback_messages_total', help: 'Envelopes received, by kind and result',
      labelNames: ['kind', 'result'], registers: [registry],
    }),
    rejections: new Counter({
      name: 'rollback_rejections_total', help: 'Envelopes and agent calls refused, by error code',
      labelNames: ['code'], registers: [registry],
    }),
    sets: new Counter({
      name: 'rollback_sets_total', help: 'Rollback sets recorded by this node as initiator, by outcome',
      labelNames: ['outcome'], registers: [registry],
    }),
    propagation: new Histogram({
      name: 'rollback_propagation_seconds', help: 'Time from sending an envelope to its receipt',
      labelNames: ['kind'], registers: [registry],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
  };
}
