/**
 * A watermark older than the log it sits beside (restored from a backup, or
 * copied from another state) is treated as lost (draft req-ops-restore):
 * envelopes accepted after it could otherwise be replayed.
 */
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { RestartFloor, fileWatermark, memoryWatermark } from '../../src/envelope/index.js';
import { parseConfig } from '../../src/node/config.js';
import { RollbackNode } from '../../src/node/node.js';
import { DIGEST, captureLogger, startNodes, until, type TestNode } from '../node/fixtures/nodes.js';

const NOW = 1_767_225_600;

// covers: req-ops-restore
t.test('a watermark below the log\'s highest iat counts as lost', async (t) => {
  const old = new RestartFloor({ startSeconds: NOW, skewSeconds: 30, store: memoryWatermark(NOW - 500), logIat: NOW - 100 });
  t.equal(old.lost, true, 'older than the log: lost');
  t.equal(old.notBefore, NOW + 30, 'floor: start + skew');
  const same = new RestartFloor({ startSeconds: NOW, skewSeconds: 30, store: memoryWatermark(NOW - 100), logIat: NOW - 100 });
  t.equal(same.lost, false, 'equal to the log\'s highest iat: the normal case');
  t.equal(same.notBefore, NOW - 99);
  const ahead = new RestartFloor({ startSeconds: NOW, skewSeconds: 30, store: memoryWatermark(NOW - 50), logIat: NOW - 100 });
  t.equal(ahead.notBefore, NOW - 49, 'a watermark ahead of the log is kept (accepted, then refused by the core)');
});

// covers: req-ops-restore req-envelope-replay
t.test('a node started beside a restored (older) watermark enters the degraded state', async (t) => {
  const mesh = await startNodes(['up', 'down']);
  t.teardown(() => mesh.stop());
  const { up, down } = mesh.nodes as Record<'up' | 'down', TestNode>;
  await up.client.execution('u');
  await up.client.checkpoint('u', { checkpoint: 'u-c1', seq: 1, digest: DIGEST('u'), reversibility: 'reversible' });
  await down.client.execution('d');
  await down.client.checkpoint('d', { checkpoint: 'd-c1', seq: 1, digest: DIGEST('d'), reversibility: 'reversible' });
  t.same(await down.client.consumed('d', { agent: 'up', execution: 'u', checkpoint: 'u-c1', seq: 1 }), { registered: true });
  const file = join(up.config.dataDir, 'watermark');
  const current = fileWatermark(file).load()!;
  t.ok(current > 1, 'the watermark covers the dependency envelope');
  await up.node.stop();
  // The operator restores an old watermark (or a backup of it) beside the current log.
  rmSync(file);
  await fileWatermark(file).save(1);
  up.node = await RollbackNode.start(parseConfig(up.raw, mesh.dir), { logger: captureLogger(up.lines, 'up') });
  t.equal(up.node.core.degraded, true, 'replay state lost: degraded until an operator clears it');
  t.ok(fileWatermark(file).load()! >= current, 'the floor was saved: the loss is reported once');
  await until(() => up.lines.some((l) => /replay watermark lost/.test(String(l['msg']))), 2000, 'the warning');
});
