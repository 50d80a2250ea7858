/**
 * docker-compose.yml parses (`docker-compose config`; no engine needed) and
 * every node config it mounts is valid for `marp node`.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/node/config.js';

t.test('docker-compose config accepts the file', async (t) => {
  const out = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { encoding: 'utf8' });
  const doc = parse(out) as { services: Record<string, unknown> };
  t.same(Object.keys(doc.services).sort(), ['agents', 'certs', 'enrich', 'ingest', 'keys', 'price', 'report']);
});

t.test('every mounted node config is valid and names the other three as peers', async (t) => {
  const files = readdirSync('deploy/compose').filter((f) => f.endsWith('.yaml'));
  t.equal(files.length, 4);
  for (const f of files) {
    const c = loadConfig(join('deploy/compose', f));
    t.equal(`${c.id}.yaml`, f);
    t.equal(c.peers.length, 3, `${f}: three peers`);
  }
});
