import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../node/config.js';
import { openLog } from '../store/index.js';
import { buildBundle } from './bundle.js';
import { options, type Command } from './main.js';
import { keysOf } from './verify.js';

export const exportCommand: Command = {
  summary: 'write a recovery bundle',
  usage: [
    'usage: marp export --config FILE --set INITIATOR/ID [--out FILE]',
    '  reads the node\'s log (stop the node first: the log is locked while it runs) and writes',
    '  the set\'s record, follow-ups, embedded acknowledgements and the public keys of every signer.',
  ].join('\n'),
  async run(argv) {
    const { values } = options(argv, { config: { type: 'string' }, set: { type: 'string' }, out: { type: 'string' } });
    if (!values['config']) throw new Error('--config FILE is required');
    const m = /^(.+)\/([^/]+)$/.exec(String(values['set'] ?? ''));
    if (!m) throw new Error('--set INITIATOR/ID is required');
    const config = loadConfig(values['config'] as string);
    const log = await openLog(join(config.dataDir, 'log'));
    const records = log.entries.flatMap((e) => {
      const r = (e.body as { record?: string }).record;
      return r ? [r] : [];
    });
    await log.close();
    const bundle = buildBundle(records, { initiator: m[1]!, id: m[2]! }, keysOf(config));
    const text = `${JSON.stringify(bundle, null, 2)}\n`;
    if (values['out']) writeFileSync(values['out'] as string, text);
    else process.stdout.write(text);
    return 0;
  },
};
