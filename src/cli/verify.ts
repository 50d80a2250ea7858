import { readFileSync } from 'node:fs';
import { loadConfig, type NodeConfig } from '../node/config.js';
import { readLog, receivedStatements, verifyReceived } from '../store/index.js';
import { verifyRecordChain } from '../core/record.js';
import { verifyBundle, type Bundle } from './bundle.js';
import { statementVerifier, type KeySet } from './offline.js';
import { options, type Command } from './main.js';

/** Public keys a node knows: its own (current and retired) and its peers'. */
export function keysOf(config: NodeConfig): KeySet {
  const pub = (path: string): Record<string, unknown> => {
    const { d: _d, ...p } = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    return p;
  };
  const keys: KeySet = Object.create(null);
  keys[config.id] = { keys: [config.keys.private, ...config.keys.retired].map(pub) };
  for (const p of config.peers) keys[p.id] = JSON.parse(readFileSync(p.jwks, 'utf8'));
  return keys;
}

export const verifyCommand: Command = {
  summary: 'check a node log or a recovery bundle offline',
  usage: [
    'usage: marp verify --bundle FILE',
    '       marp verify --log FILE [--config FILE]',
    '  --bundle: signatures, embedded acknowledgements, follow-up references and outcomes',
    '  --log: the log\'s hash chain; with --config also every statement in it, each against the key',
    '         as it was when the statement was received (validity period, revocations of the config)',
    '  exit 0 when everything verifies, 1 with the first broken link otherwise',
  ].join('\n'),
  async run(argv) {
    const { values } = options(argv, { bundle: { type: 'string' }, log: { type: 'string' }, config: { type: 'string' } });
    if (values['bundle']) {
      const b = JSON.parse(readFileSync(values['bundle'] as string, 'utf8')) as Bundle;
      const r = verifyBundle(b);
      if (!r.ok) {
        process.stdout.write(`bundle BROKEN at statement ${r.index}: ${r.reason}: ${r.detail}\n`);
        return 1;
      }
      process.stdout.write(`bundle OK: set ${b.set.initiator}/${b.set.id}, ${r.count} statement(s)\n`);
      return 0;
    }
    if (!values['log']) throw new Error('--bundle FILE or --log FILE is required');
    const path = values['log'] as string;
    // Read-only: no lock, a torn tail is reported but left in place (the node drops it at start).
    const { result: v, entries } = await readLog(path);
    if (!v.ok) {
      process.stdout.write(`log BROKEN at entry ${v.firstBad?.index} (byte offset ${v.firstBad?.offset}): ${v.firstBad?.reason}\n`);
      return 1;
    }
    let line = `log OK: ${v.entries} entries, head ${v.head ?? '-'}`;
    if (v.tornTail) line += ` (torn last entry of ${v.tornTail.bytes} bytes at byte offset ${v.tornTail.offset}: never acknowledged)`;
    if (values['config']) {
      const config = loadConfig(values['config'] as string);
      const check = statementVerifier(keysOf(config), config.revoked ?? []);
      // Keys are judged at receipt, never at the signer's iat (draft req-statement-receipt-time).
      const s = verifyReceived(entries, check);
      if (!s.ok) {
        process.stdout.write(`${line}\nstatements BROKEN at entry ${s.entry} (${s.where}): ${s.detail}\n`);
        return 1;
      }
      // An ack inside a record was received in an earlier report; the record's own time bounds it.
      const received = new Map<string, number>();
      for (const x of receivedStatements(entries)) if (!received.has(x.compact)) received.set(x.compact, x.receivedAt);
      const records = receivedStatements(entries).filter((x) => x.where === 'record');
      const own = new Set(records.map((x) => x.compact));
      let current = 0;
      const r = verifyRecordChain(records.map((x) => x.compact), (compact) => {
        const at = received.get(compact);
        if (own.has(compact)) current = at!;
        return check(compact, at ?? current);
      });
      if (!r.ok) {
        process.stdout.write(`${line}\nrecords BROKEN at record ${r.index + 1}: ${r.reason}: ${r.detail}\n`);
        return 1;
      }
      line += `; ${s.count} statement(s) verify at their receipt time; ${r.count} record(s) verify`;
    }
    process.stdout.write(`${line}\n`);
    return 0;
  },
};
