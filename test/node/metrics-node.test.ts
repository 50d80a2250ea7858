/** A node exports its propagation latency and message counts at /metrics. */
import t from 'tap';
import { startNodes } from './fixtures/nodes.js';

t.test('propagation latency and accepted messages are exported', async (t) => {
  const mesh = await startNodes(['a', 'b']);
  t.teardown(() => mesh.stop());
  const { a, b } = mesh.nodes as Record<string, (typeof mesh.nodes)[string]>;
  await a!.client.execution('x');
  await a!.client.checkpoint('x', { checkpoint: 'x1', seq: 1, digest: `sha-256:${'1'.repeat(64)}`, reversibility: 'reversible' });
  await b!.client.execution('y');
  await b!.client.checkpoint('y', { checkpoint: 'y1', seq: 1, digest: `sha-256:${'2'.repeat(64)}`, reversibility: 'reversible' });
  t.same(await b!.client.consumed('y', { agent: 'a', execution: 'x', checkpoint: 'x1', seq: 1 }), { registered: true });
  const sent = await (await fetch(`${b!.node.peerUrl}/metrics`)).text();
  t.match(sent, /rollback_propagation_seconds_count\{kind="dependency"\} 1/, 'the sender observed one receipt');
  const got = await (await fetch(`${a!.node.peerUrl}/metrics`)).text();
  t.match(got, /rollback_messages_total\{kind="dependency",result="accepted"\} 1/, 'the receiver counted it');
});
