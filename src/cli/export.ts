import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../node/config.js';
import { readLog } from '../store/index.js';
import { buildBundle } from './bundle.js';
import { options, type Command } from './main.js';
import { keysOf } from './verify.js';

export const exportCommand: Command = {
  summary: 'write a recovery bundle',
  usage: [
    'usage: marp export --config FILE --set INITIATOR/ID [--out FILE]',
    '  reads the node\'s log (read-only: the node may keep running) and writes',
    '  the set\'s record, follow-ups, embedded acknowledgements and the public keys of every signer.',
  ].join('\n'),
  async run(argv) {
    const { values } = options(argv, { config: { type: 'string' }, set: { type: 'string' }, out: { type: 'string' } });
    if (!values['config']) throw new Error('--config FILE is required');
    const m = /^(.+)\/([^/]+)$/.exec(String(values['set'] ?? ''));
    if (!m) throw new Error('--set INITIATOR/ID is required');
    const config = loadConfig(values['config'] as string);
    // Read-only (no lock): works beside a running node; a damaged log is refused, naming the offset.
    const { result, entries } = await readLog(join(config.dataDir, 'log'));
    if (!result.ok) throw new Error(`log BROKEN at entry ${result.firstBad?.index} (byte offset ${result.firstBad?.offset}): ${result.firstBad?.reason}`);
    const records = entries.flatMap((e) => {
      const r = (e.body as { record?: string }).record;
      return r ? [r] : [];
    });
    const bundle = buildBundle(records, { initiator: m[1]!, id: m[2]! }, keysOf(config));
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    if (values['out']) writeFileSync(values['out'] as string, text);
    else process.stdout.write(text);
    return 0;
  },
};
