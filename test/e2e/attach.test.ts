/**
 * `marp demo --attach`: the demo's agents run against nodes started
 * elsewhere (as in docker-compose), named by a JSON file.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMesh, AGENTS, demoCommand } from '../../src/demo/run.js';

t.test('the scenario runs against attached nodes and the record verifies', async (t) => {
  const mesh = await startMesh();
  t.teardown(() => mesh.stop());
  const nodes: Record<string, unknown> = {};
  for (const n of AGENTS) {
    writeFileSync(join(mesh.dir, `${n}.jwks-copy.json`), JSON.stringify(mesh.keys[n]));
    nodes[n] = { agent_url: mesh.nodes[n].agentUrl, token_file: `./${n}.token`, jwks: `./${n}.jwks-copy.json` };
  }
  mkdirSync(join(mesh.dir, 'attached'));
  const file = join(mesh.dir, 'agents.json');
  writeFileSync(file, JSON.stringify({ state_dir: './attached', nodes }));
  const out: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
  let code: number;
  try {
    code = await demoCommand.run(['--attach', file]);
  } finally {
    process.stdout.write = write;
  }
  t.equal(code, 0, out.join(''));
  t.match(out.join(''), /record verified/);
  await t.rejects(demoCommand.run(['--attach', join(mesh.dir, 'missing.json')]), { code: 'ENOENT' });
});
