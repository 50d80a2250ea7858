/**
 * The marp command line, run in-process through main(): --help of every
 * command, bad configs named by field, and `marp verify` / `marp export` on a
 * real node log (read-only: the file is not modified, no lock is taken) and
 * on bundles, intact and damaged.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { main, summaries } from '../../src/cli/main.js';
import { DIGEST, startNodes, until, type TestNode } from '../node/fixtures/nodes.js';
import { readLog } from '../../src/store/index.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => { out += s; return true; }) as never;
  process.stderr.write = ((s: string) => { err += s; return true; }) as never;
  try {
    return { code: await main(argv), out, err };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

t.test('--help on each command', async (t) => {
  const top = await run('--help');
  t.equal(top.code, 0);
  for (const name of Object.keys(summaries)) {
    t.match(top.out, name);
    const r = await run(name, '--help');
    t.equal(r.code, 0, `${name} --help exits 0`);
    t.match(r.out, new RegExp(`^usage: marp ${name}`), `${name} prints its usage`);
  }
  t.equal((await run()).code, 2, 'no command: usage, exit 2');
  t.match(await run('frobnicate'), { code: 2, err: /unknown command 'frobnicate'/ });
  t.match(await run('verify', '--nope'), { code: 2, err: /--nope/ }, 'unknown option named');
});

t.test('a bad config exits non-zero naming the field', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'marp-cli-'));
  const base = { id: 'n', data_dir: './d', peer_face: { port: 0 }, agent_face: { port: 0, token_file: './t' }, keys: { private: './k' } };
  const cases: [string, unknown, RegExp][] = [
    ['port', { ...base, peer_face: { port: 'x' } }, /bad config: peer_face\.port: must be integer/],
    ['unknown', { ...base, limits: { deadline: 5 } }, /bad config: limits: must NOT have additional properties 'deadline'/],
    ['missing', { ...base, keys: {} }, /bad config: keys: must have required property 'private'/],
    ['peer', { ...base, peers: [{ id: 'n', jwks: './j' }] }, /bad config: peers\.0\.id: a peer cannot have the node's own id/],
  ];
  for (const [name, raw, re] of cases) {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, stringify(raw));
    const r = await run('node', '--config', file);
    t.equal(r.code, 1, `${name}: exit 1`);
    t.match(r.err, re, `${name}: the field is named`);
  }
  t.match(await run('node', '--config', join(dir, 'absent.yaml')), { code: 1, err: /bad config: \(file\): cannot read/ });
  writeFileSync(join(dir, 'broken.yaml'), 'id: [');
  t.match(await run('node', '--config', join(dir, 'broken.yaml')), { code: 1, err: /not valid YAML or JSON/ });
  t.match(await run('node'), { code: 1, err: /--config FILE is required/ });
});

// covers: req-statement-receipt-time
t.test('verify and export on a real log and on bundles', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'marp-cli-'));
  const mesh = await startNodes(['up', 'down'], { dir });
  const { up, down } = mesh.nodes as Record<'up' | 'down', TestNode>;
  const honest = async (d: any) => ({ status: 'restored' as const, restored: { checkpoint: d.target.checkpoint, digest: d.target.digest } });
  up.client.onDirective(honest);
  down.client.onDirective(honest);
  await up.client.execution('u');
  await up.client.checkpoint('u', { checkpoint: 'u-c1', seq: 1, digest: DIGEST('u'), reversibility: 'reversible' });
  await down.client.execution('d');
  await down.client.checkpoint('d', { checkpoint: 'd-c1', seq: 1, digest: DIGEST('d'), reversibility: 'reversible' });
  await down.client.consumed('d', { agent: 'up', execution: 'u', checkpoint: 'u-c1', seq: 1 });
  const { set } = await up.client.failure('u', { checkpoint: 'u-c1', seq: 1, class: 'execution_error' });
  const config = join(dir, 'up.yaml');
  writeFileSync(config, stringify(up.raw));
  const log = join(up.config.dataDir, 'log');
  await until(async () => (await readLog(log)).entries.some((e) => (e.body as { record?: string }).record), 8000, 'record in the log');

  // While the node runs and holds the log's lock: read-only, no lock taken (openLog would fail with log_locked).
  const ok = await run('verify', '--log', log, '--config', config);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, /^log OK: \d+ entries, head [0-9a-f]{64}; [1-9]\d* statement\(s\) verify at their receipt time; 1 record\(s\) verify\n$/);
  t.ok(existsSync(`${log}.lock`), 'the node still holds its lock');

  const bundleFile = join(dir, 'bundle.json');
  const ex = await run('export', '--config', config, '--set', `up/${set.id}`, '--out', bundleFile);
  t.equal(ex.code, 0, ex.err);
  const bundle = JSON.parse(readFileSync(bundleFile, 'utf8'));
  t.same(Object.keys(bundle.keys).sort(), ['down', 'up'], 'keys of every signer');
  t.match(await run('verify', '--bundle', bundleFile), { code: 0, out: new RegExp(`^bundle OK: set up/${set.id}, 1 statement`) });
  t.match(await run('export', '--config', config, '--set', 'up/nope'), { code: 1, err: /no record of set up\/nope/ });
  t.match(await run('export', '--config', config), { code: 1, err: /--set INITIATOR\/ID is required/ });

  await mesh.stop();
  const before = readFileSync(log);
  t.match(await run('verify', '--log', log, '--config', config), { code: 0 });
  t.same(readFileSync(log), before, 'verify does not modify the log');

  // Keys are judged at each statement's receipt time (the log entry's): a revocation after every
  // receipt leaves the log verifying; one before them refuses down's acks, backdated or not.
  const downKid = JSON.parse(readFileSync(join(dir, 'down.jwks.json'), 'utf8')).keys[0].kid as string;
  const revoking = (at: number): string => {
    const f = join(dir, `up-revoked-${at}.yaml`);
    writeFileSync(f, stringify({ ...up.raw, revoked: [{ kid: downKid, at }] }));
    return f;
  };
  t.match(await run('verify', '--log', log, '--config', revoking(Math.floor(Date.now() / 1000) + 1)), { code: 0, out: /1 record\(s\) verify/ }, 'revoked after receipt: still evidence');
  const rv = await run('verify', '--log', log, '--config', revoking(1));
  t.equal(rv.code, 1, 'revoked before receipt: broken');
  t.match(rv.out, new RegExp(`statements BROKEN at entry \\d+ \\(statements\\[\\d+\\]\\): kid ${downKid} names a key that was revoked \\(at 1\\)`));

  // A torn tail is reported but left alone (the node drops it at start).
  const torn = join(dir, 'torn.log');
  writeFileSync(torn, before.subarray(0, before.length - 3));
  const tr = await run('verify', '--log', torn);
  t.match(tr, { code: 0, out: /torn last entry of \d+ bytes at byte offset \d+/ });
  t.equal(statSync(torn).size, before.length - 3, 'not truncated by verify');

  // Tampered: exit 1, naming the entry and the byte offset.
  const bad = Buffer.from(before);
  const at = bad.indexOf(Buffer.from('"u-c1"'));
  bad[at + 1] = 'v'.charCodeAt(0);
  const tampered = join(dir, 'tampered.log');
  writeFileSync(tampered, bad);
  const tv = await run('verify', '--log', tampered);
  t.equal(tv.code, 1);
  t.match(tv.out, /^log BROKEN at entry \d+ \(byte offset \d+\): hash mismatch/);
  const offset = Number(/byte offset (\d+)/.exec(tv.out)![1]);
  t.ok(offset < at && offset > 0, 'the offset is the damaged frame\'s');
  t.same(readFileSync(tampered), bad, 'left as it was');
  writeFileSync(log, bad);
  t.match(await run('export', '--config', config, '--set', `up/${set.id}`), { code: 1, err: /log BROKEN at entry \d+ \(byte offset \d+\)/ }, 'export refuses a damaged log');

  // A record whose signature is wrong: the chain verifies, the records do not.
  // (Altering a signed record inside a re-chained log is the store's business; the bundle shows it.)
  const forged = structuredClone(bundle);
  const [h, p, s] = forged.statements[0].split('.');
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  payload.outcome = 'failed';
  forged.statements[0] = [h, Buffer.from(JSON.stringify(payload)).toString('base64url'), s].join('.');
  writeFileSync(join(dir, 'forged.json'), JSON.stringify(forged));
  t.match(await run('verify', '--bundle', join(dir, 'forged.json')), { code: 1, out: /^bundle BROKEN at statement 0: signature/ });
  writeFileSync(join(dir, 'junk.json'), '{"bundle":2}');
  t.match(await run('verify', '--bundle', join(dir, 'junk.json')), { code: 1, out: /not a recovery bundle/ });
  t.match(await run('verify'), { code: 1, err: /--bundle FILE or --log FILE is required/ });
  t.match(await run('verify', '--log', join(dir, 'absent.log')), { code: 1, err: /no log at/ });
});
