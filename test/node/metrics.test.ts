import t from 'tap';
import { register as globalRegistry } from 'prom-client';
import { createMetrics } from '../../src/node/metrics.js';

t.test('the node metrics live in their own registry', async (t) => {
  const m = createMetrics();
  const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name).sort();
  t.same(names, ['rollback_messages_total', 'rollback_propagation_seconds', 'rollback_rejections_total', 'rollback_sets_total']);
  t.equal(globalRegistry.getSingleMetric('rollback_messages_total'), undefined, 'nothing in the global registry');
});

t.test('two nodes in one process do not clash', async (t) => {
  const a = createMetrics();
  const b = createMetrics();
  a.messages.inc({ kind: 'rollback-request', result: 'accepted' });
  a.messages.inc({ kind: 'rollback-request', result: 'accepted' });
  b.messages.inc({ kind: 'rollback-ack', result: 'refused' });
  a.rejections.inc({ code: 'replayed' });
  a.sets.inc({ outcome: 'completed' });
  a.propagation.observe({ kind: 'rollback-request' }, 0.02);
  const ta = await a.registry.metrics();
  const tb = await b.registry.metrics();
  t.match(ta, /rollback_messages_total\{kind="rollback-request",result="accepted"\} 2/);
  t.notMatch(ta, /rollback-ack/);
  t.match(tb, /rollback_messages_total\{kind="rollback-ack",result="refused"\} 1/);
  t.notMatch(tb, /rollback-request/);
  t.match(ta, /rollback_rejections_total\{code="replayed"\} 1/);
  t.match(ta, /rollback_sets_total\{outcome="completed"\} 1/);
  t.match(ta, /rollback_propagation_seconds_bucket\{le="0.025",kind="rollback-request"\} 1/);
  t.match(ta, /rollback_propagation_seconds_bucket\{le="0.01",kind="rollback-request"\} 0/);
  t.match(ta, /rollback_propagation_seconds_count\{kind="rollback-request"\} 1/);
});

t.test('default process metrics only when asked, per registry', async (t) => {
  const plain = createMetrics();
  const withDefaults = createMetrics(true);
  const again = createMetrics(true);
  t.notMatch(await plain.registry.metrics(), /process_cpu/);
  t.match(await withDefaults.registry.metrics(), /process_cpu_user_seconds_total/);
  t.match(await again.registry.metrics(), /process_cpu_user_seconds_total/, 'a second node with defaults does not throw');
});
