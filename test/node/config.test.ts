import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, defaultLimits, loadConfig, parseConfig } from '../../src/node/config.js';

const dir = mkdtempSync(join(tmpdir(), 'marp-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const minimal = () => ({
  id: 'bob',
  data_dir: 'data',
  peer_face: { port: 7001 },
  agent_face: { port: 7101, token_file: 'agent.token' },
  keys: { private: 'keys/bob.jwk' },
});

/** Runs fn, asserts it throws a ConfigError naming `field` (in `field` and in the message). */
function throwsConfig(t: Test, fn: () => unknown, field: string, mention?: string | RegExp): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  if (!t.ok(err instanceof ConfigError, `throws ConfigError (${field})`)) return;
  const ce = err as ConfigError;
  t.equal(ce.field, field, 'field names the offending field');
  t.equal(ce.code, 'config_invalid');
  t.equal(ce.name, 'ConfigError');
  t.ok(ce.message.startsWith(`${field}: `), `message starts with the field: ${ce.message}`);
  if (mention !== undefined) t.match(ce.message, mention);
}

t.test('valid YAML config: paths resolved against the file directory, defaults applied', async (t) => {
  const sub = join(dir, 'yaml');
  mkdirSync(sub);
  const file = join(sub, 'node.yaml');
  writeFileSync(file, [
    'id: bob',
    'data_dir: ./data',
    'peer_face:',
    '  port: 7001',
    'agent_face:',
    '  port: 0',
    '  token_file: tokens/agent',
    'keys:',
    '  private: keys/bob.jwk',
    '  retired: [keys/old.jwk, /abs/older.jwk]',
    'peers:',
    '  - id: alice',
    '    url: http://127.0.0.1:7000',
    '    jwks: peers/alice.jwks',
    '  - id: carol',
    '    url: wss://carol.example:7443',
    '    transport: ws',
    '    jwks: /etc/marp/carol.jwks',
    '  - id: dave',
    '    jwks: dave.jwks',
    '',
  ].join('\n'));
  const c = loadConfig(file);
  t.equal(c.id, 'bob');
  t.equal(c.dataDir, join(sub, 'data'));
  t.same(c.peerFace, { host: '127.0.0.1', port: 7001 });
  t.same(c.agentFace, { host: '127.0.0.1', port: 0, tokenFile: join(sub, 'tokens/agent') });
  t.same(c.operator, { tokenFile: join(sub, 'tokens/agent.operator') }, 'operator token defaults beside the agent token');
  t.same(c.keys, { private: join(sub, 'keys/bob.jwk'), retired: [join(sub, 'keys/old.jwk'), '/abs/older.jwk'] });
  t.same(c.peers, [
    { id: 'alice', url: 'http://127.0.0.1:7000', transport: 'http', jwks: join(sub, 'peers/alice.jwks') },
    { id: 'carol', url: 'wss://carol.example:7443', transport: 'ws', jwks: '/etc/marp/carol.jwks' },
    { id: 'dave', transport: 'http', jwks: join(sub, 'dave.jwks') },
  ]);
  t.notOk('url' in c.peers[2]!, 'a peer without url has no url key');
  t.equal(c.policy.default, 'automatic');
  t.same(c.policy.executions, {});
  t.same(c.limits, defaultLimits);
  t.equal(c.logLevel, 'info');
});

t.test('valid JSON config with every option set', async (t) => {
  const sub = join(dir, 'json');
  mkdirSync(sub);
  const file = join(sub, 'node.json');
  writeFileSync(file, JSON.stringify({
    id: 'org/bob@x',
    data_dir: '/var/lib/marp',
    log_level: 'debug',
    peer_face: { host: '0.0.0.0', port: 65535, tls: { cert: 'c.pem', key: 'k.pem' } },
    tls_ca: 'ca.pem',
    agent_face: { host: '::1', port: 1, token_file: 'a.tok' },
    operator: { token_file: 'op.tok' },
    keys: { private: 'k.jwk', retired: [] },
    peers: [],
    policy: { default: 'held', executions: { 'exec-1': 'automatic', 'e.2': 'held' } },
    limits: {
      max_envelope_bytes: 1024, max_hops: 0, fanout_limit: 3, replay_window_seconds: 3600, skew_seconds: 0,
      replay_quota_per_peer: 7, deadline_ms: 1000, hop_margin_ms: 0, lease_grace_ms: 0, rate_per_source: 5, rate_per_peer: 6,
    },
  }));
  const c = loadConfig(file);
  t.equal(c.id, 'org/bob@x');
  t.equal(c.dataDir, '/var/lib/marp');
  t.equal(c.logLevel, 'debug');
  t.same(c.peerFace, { host: '0.0.0.0', port: 65535, tls: { cert: join(sub, 'c.pem'), key: join(sub, 'k.pem') } });
  t.equal(c.tlsCa, join(sub, 'ca.pem'));
  t.same(c.agentFace, { host: '::1', port: 1, tokenFile: join(sub, 'a.tok') });
  t.same(c.operator, { tokenFile: join(sub, 'op.tok') });
  t.same(c.keys, { private: join(sub, 'k.jwk'), retired: [] });
  t.same(c.peers, []);
  t.equal(c.policy.default, 'held');
  t.same({ ...c.policy.executions }, { 'exec-1': 'automatic', 'e.2': 'held' });
  t.equal(Object.getPrototypeOf(c.policy.executions), null, 'executions map is prototype-free');
  t.same(c.limits, {
    maxEnvelopeBytes: 1024, maxHops: 0, fanoutLimit: 3, replayWindowSeconds: 3600, skewSeconds: 0,
    replayQuotaPerPeer: 7, deadlineMs: 1000, hopMarginMs: 0, leaseGraceMs: 0, ratePerSource: 5, ratePerPeer: 6,
  });
});

t.test('partial limits fall back to the defaults per field', async (t) => {
  const c = parseConfig({ ...minimal(), limits: { max_hops: 4 } }, '/base');
  t.same(c.limits, { ...defaultLimits, maxHops: 4 });
  t.equal(c.dataDir, '/base/data');
  t.equal(c.keys.private, '/base/keys/bob.jwk');
  t.same(c.keys.retired, []);
});

t.test('the replay quota follows the peer rate limit over window and skew unless configured', async (t) => {
  t.equal(defaultLimits.replayQuotaPerPeer, defaultLimits.ratePerPeer * (defaultLimits.replayWindowSeconds + defaultLimits.skewSeconds),
    'the default quota holds a peer at the default rate for a whole window');
  const q = (limits: Record<string, number>): number => parseConfig({ ...minimal(), limits }, '/base').limits.replayQuotaPerPeer;
  t.equal(q({ rate_per_peer: 50 }), 50 * 330);
  t.equal(q({ replay_window_seconds: 60, skew_seconds: 10 }), 1000 * 70);
  t.equal(q({ rate_per_peer: 50, replay_quota_per_peer: 7 }), 7, 'an explicit quota wins');
});

t.test('defaultLimits is frozen', async (t) => {
  t.ok(Object.isFrozen(defaultLimits));
});

t.test('every kind of bad configuration names the offending field', async (t) => {
  const base = '/base';
  const cases: Array<[string, unknown, string, (string | RegExp)?]> = [
    ['not an object', 'hello', '(top level)', /must be object/],
    ['null', null, '(top level)'],
    ['missing id', (() => { const c: any = minimal(); delete c.id; return c; })(), '(top level)', /'id'/],
    ['missing token_file', { ...minimal(), agent_face: { port: 1 } }, 'agent_face', /'token_file'/],
    ['missing peer jwks', { ...minimal(), peers: [{ id: 'alice' }] }, 'peers.0', /'jwks'/],
    ['unknown top-level field', { ...minimal(), colour: 'blue' }, '(top level)', /'colour'/],
    ['unknown nested field', { ...minimal(), peer_face: { port: 1, tls: { cert: 'c', key: 'k', ca: 'x' } } }, 'peer_face.tls', /'ca'/],
    ['unknown peer field', { ...minimal(), peers: [{ id: 'a', jwks: 'a', key: 'x' }] }, 'peers.0', /'key'/],
    ['unknown limit', { ...minimal(), limits: { max_hop: 3 } }, 'limits', /'max_hop'/],
    ['wrong type id', { ...minimal(), id: 42 }, 'id', /string/],
    ['wrong type data_dir', { ...minimal(), data_dir: ['x'] }, 'data_dir', /string/],
    ['wrong type peers', { ...minimal(), peers: { id: 'a' } }, 'peers', /array/],
    ['wrong type retired', { ...minimal(), keys: { private: 'k', retired: 'old' } }, 'keys.retired', /array/],
    ['wrong type limit', { ...minimal(), limits: { deadline_ms: '30s' } }, 'limits.deadline_ms', /integer/],
    ['limit out of range', { ...minimal(), limits: { max_envelope_bytes: 10 } }, 'limits.max_envelope_bytes', />= 1024/],
    ['bad id', { ...minimal(), id: 'has space' }, 'id', /pattern/],
    ['empty data_dir', { ...minimal(), data_dir: '' }, 'data_dir'],
    ['bad log level', { ...minimal(), log_level: 'verbose' }, 'log_level', /allowed values/],
    ['bad policy mode', { ...minimal(), policy: { default: 'maybe' } }, 'policy.default'],
    ['bad execution mode', { ...minimal(), policy: { executions: { e1: 'never' } } }, 'policy.executions.e1'],
    ['bad execution name', { ...minimal(), policy: { executions: { 'a b': 'held' } } }, 'policy.executions', /pattern/],
    ['port too large', { ...minimal(), peer_face: { port: 65536 } }, 'peer_face.port', /<= 65535/],
    ['negative port', { ...minimal(), agent_face: { port: -1, token_file: 't' } }, 'agent_face.port', />= 0/],
    ['fractional port', { ...minimal(), peer_face: { port: 80.5 } }, 'peer_face.port', /integer/],
    ['string port', { ...minimal(), peer_face: { port: '80' } }, 'peer_face.port', /integer/],
    ['bad peer url scheme', { ...minimal(), peers: [{ id: 'alice', url: 'ftp://alice', jwks: 'a' }] }, 'peers.0.url', /pattern/],
    ['peer url not a url', { ...minimal(), peers: [{ id: 'alice', url: 'http://', jwks: 'a' }] }, 'peers.0.url', /not a valid URL/],
    ['peer url bad port', { ...minimal(), peers: [{ id: 'alice', url: 'http://alice:99999', jwks: 'a' }] }, 'peers.0.url', /not a valid URL/],
    ['second peer url bad', { ...minimal(), peers: [{ id: 'alice', jwks: 'a' }, { id: 'carol', url: 'ws://[::1', jwks: 'c' }] }, 'peers.1.url'],
    ['bad transport', { ...minimal(), peers: [{ id: 'alice', transport: 'grpc', jwks: 'a' }] }, 'peers.0.transport'],
    ['duplicate peer id', { ...minimal(), peers: [{ id: 'alice', jwks: 'a' }, { id: 'carol', jwks: 'c' }, { id: 'alice', jwks: 'b' }] },
      'peers.2.id', /duplicate peer id 'alice'/],
    ['peer with own id', { ...minimal(), peers: [{ id: 'alice', jwks: 'a' }, { id: 'bob', jwks: 'b' }] }, 'peers.1.id', /own id/],
  ];
  for (const [name, raw, field, mention] of cases) {
    t.test(name, async (t) => throwsConfig(t, () => parseConfig(raw, base), field, mention));
  }
});

t.test('file errors', async (t) => {
  t.test('unreadable file', async (t) => {
    throwsConfig(t, () => loadConfig(join(dir, 'missing.yaml')), '(file)', /cannot read .*missing\.yaml/);
  });
  t.test('a directory is not readable as a file', async (t) => {
    throwsConfig(t, () => loadConfig(dir), '(file)', /cannot read/);
  });
  t.test('invalid YAML', async (t) => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'id: bob\npeer_face: {port: 1\n');
    throwsConfig(t, () => loadConfig(f), '(file)', /not valid YAML or JSON/);
  });
  t.test('invalid JSON', async (t) => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, '{"id": "bob",, }');
    throwsConfig(t, () => loadConfig(f), '(file)', /not valid YAML or JSON/);
  });
  t.test('duplicate YAML keys', async (t) => {
    const f = join(dir, 'dup.yaml');
    writeFileSync(f, 'id: bob\nid: eve\ndata_dir: d\npeer_face: {port: 1}\nagent_face: {port: 2, token_file: t}\nkeys: {private: k}\n');
    throwsConfig(t, () => loadConfig(f), '(file)', /not valid YAML or JSON.*[Uu]nique|[Dd]uplicate/s);
  });
  t.test('duplicate JSON keys', async (t) => {
    const f = join(dir, 'dup.json');
    writeFileSync(f, '{"id":"bob","data_dir":"d","peer_face":{"port":1,"port":2},"agent_face":{"port":2,"token_file":"t"},"keys":{"private":"k"}}');
    throwsConfig(t, () => loadConfig(f), '(file)', /not valid YAML or JSON/);
  });
  t.test('empty file', async (t) => {
    const f = join(dir, 'empty.yaml');
    writeFileSync(f, '');
    throwsConfig(t, () => loadConfig(f), '(top level)');
  });
  t.test('schema errors from a file name the field', async (t) => {
    const f = join(dir, 'port.yaml');
    writeFileSync(f, 'id: bob\ndata_dir: d\npeer_face: {port: 70000}\nagent_face: {port: 2, token_file: t}\nkeys: {private: k}\n');
    throwsConfig(t, () => loadConfig(f), 'peer_face.port');
  });
});
