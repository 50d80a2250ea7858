/**
 * Node configuration: one file (YAML or JSON), validated at start against a
 * schema; every error names the offending field. Paths in the file are
 * resolved against the file's directory.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import type { WsLimits } from './peer-face.js';

export interface PeerConfig {
  id: string;
  /** Base URL of the peer face, e.g. http://127.0.0.1:7001 */
  url?: string;
  transport: 'http' | 'ws';
  /** Path to the peer's public JWKS (may hold retired keys). */
  jwks: string;
}

export interface Limits {
  maxEnvelopeBytes: number;
  maxHops: number;
  fanoutLimit: number;
  replayWindowSeconds: number;
  skewSeconds: number;
  replayQuotaPerPeer: number;
  deadlineMs: number;
  hopMarginMs: number;
  leaseGraceMs: number;
  ratePerSource: number;
  ratePerPeer: number;
}

export interface NodeConfig {
  id: string;
  dataDir: string;
  /** ws: WebSocket resource bounds (draft req-ws-limits); unset members take the defaults of peer-face.ts. */
  peerFace: { host: string; port: number; tls?: { cert: string; key: string }; ws?: Partial<WsLimits> };
  /** PEM file of the CAs that sign peers' TLS certificates (default: the system's). */
  tlsCa?: string;
  agentFace: { host: string; port: number; tokenFile: string };
  operator: { tokenFile: string };
  keys: { private: string; retired: string[] };
  /** Revoked keys, own or peers' (kid, NumericDate seconds): draft req-key-validity. */
  revoked?: { kid: string; at: number }[];
  peers: PeerConfig[];
  policy: { default: 'automatic' | 'held'; executions: Record<string, 'automatic' | 'held'> };
  limits: Limits;
  logLevel: string;
}

export const defaultLimits: Limits = Object.freeze({
  maxEnvelopeBytes: 65536,
  // The draft's recommended defaults (Blast Radius, Deadlines): conservative on purpose.
  maxHops: 8,
  fanoutLimit: 64,
  replayWindowSeconds: 300,
  skewSeconds: 30,
  // A peer at its rate limit for a whole window plus skew: 1000 x 330 ids (~15 bytes each, ~5 MB).
  // When not configured, the quota follows the configured rate, window and skew the same way.
  replayQuotaPerPeer: 330_000,
  deadlineMs: 30_000,
  hopMarginMs: 2000,
  leaseGraceMs: 60_000,
  ratePerSource: 2000,
  ratePerPeer: 1000,
});

const id = { type: 'string', pattern: '^[A-Za-z0-9._~:/@+-]{1,255}$' };
const port = { type: 'integer', minimum: 0, maximum: 65535 };
const mode = { enum: ['automatic', 'held'] };
const posInt = { type: 'integer', minimum: 1 };

export const configSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'data_dir', 'peer_face', 'agent_face', 'keys'],
  properties: {
    id,
    data_dir: { type: 'string', minLength: 1 },
    log_level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    peer_face: {
      type: 'object', additionalProperties: false, required: ['port'],
      properties: {
        host: { type: 'string', minLength: 1 }, port,
        tls: {
          type: 'object', additionalProperties: false, required: ['cert', 'key'],
          properties: { cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
        },
        ws: {
          type: 'object', additionalProperties: false,
          properties: {
            ping_interval_ms: { type: 'integer', minimum: 100, maximum: 600_000 },
            in_flight: posInt, connections: posInt, connections_per_source: posInt, connections_per_peer: posInt,
          },
        },
      },
    },
    tls_ca: { type: 'string', minLength: 1 },
    agent_face: {
      type: 'object', additionalProperties: false, required: ['port', 'token_file'],
      properties: { host: { type: 'string', minLength: 1 }, port, token_file: { type: 'string', minLength: 1 } },
    },
    operator: {
      type: 'object', additionalProperties: false, required: ['token_file'],
      properties: { token_file: { type: 'string', minLength: 1 } },
    },
    keys: {
      type: 'object', additionalProperties: false, required: ['private'],
      properties: {
        private: { type: 'string', minLength: 1 },
        retired: { type: 'array', items: { type: 'string', minLength: 1 } },
      },
    },
    revoked: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['kid', 'at'],
        properties: { kid: { type: 'string', minLength: 1, maxLength: 128 }, at: { type: 'integer', minimum: 0 } },
      },
    },
    peers: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['id', 'jwks'],
        properties: {
          id,
          url: { type: 'string', pattern: '^(http|https|ws|wss)://' },
          transport: { enum: ['http', 'ws'] },
          jwks: { type: 'string', minLength: 1 },
        },
      },
    },
    policy: {
      type: 'object', additionalProperties: false,
      properties: {
        default: mode,
        executions: { type: 'object', additionalProperties: mode, propertyNames: { pattern: '^[A-Za-z0-9._~:@+-]{1,128}$' } },
      },
    },
    limits: {
      type: 'object', additionalProperties: false,
      properties: {
        max_envelope_bytes: { type: 'integer', minimum: 1024, maximum: 16_777_216 },
        max_hops: { type: 'integer', minimum: 0, maximum: 64 },
        fanout_limit: posInt,
        replay_window_seconds: { type: 'integer', minimum: 1, maximum: 3600 },
        skew_seconds: { type: 'integer', minimum: 0, maximum: 600 },
        replay_quota_per_peer: posInt,
        deadline_ms: { type: 'integer', minimum: 1, maximum: 86_400_000 },
        hop_margin_ms: { type: 'integer', minimum: 0, maximum: 60_000 },
        lease_grace_ms: { type: 'integer', minimum: 0 },
        rate_per_source: posInt,
        rate_per_peer: posInt,
      },
    },
  },
} as const;

export class ConfigError extends Error {
  readonly code = 'config_invalid';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
    this.field = field;
  }
}

const validate = new Ajv2020({ strict: true, allErrors: false }).compile(configSchema);

type Raw = Record<string, any>;

/** Parse and validate a configuration object; `base` resolves relative paths. */
export function parseConfig(raw: unknown, base: string): NodeConfig {
  if (!validate(raw)) {
    const e = validate.errors![0]!;
    const where = e.instancePath === '' ? '(top level)' : e.instancePath.slice(1).replaceAll('/', '.');
    const extra = e.keyword === 'additionalProperties' ? ` '${String(e.params['additionalProperty'])}'`
      : e.keyword === 'required' ? ` '${String(e.params['missingProperty'])}'` : '';
    throw new ConfigError(where, `${e.message ?? 'invalid'}${extra}`);
  }
  const c = raw as Raw;
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(base, p));
  const l: Raw = c['limits'] ?? {};
  const given = {
    maxEnvelopeBytes: l['max_envelope_bytes'] ?? defaultLimits.maxEnvelopeBytes,
    maxHops: l['max_hops'] ?? defaultLimits.maxHops,
    fanoutLimit: l['fanout_limit'] ?? defaultLimits.fanoutLimit,
    replayWindowSeconds: l['replay_window_seconds'] ?? defaultLimits.replayWindowSeconds,
    skewSeconds: l['skew_seconds'] ?? defaultLimits.skewSeconds,
    deadlineMs: l['deadline_ms'] ?? defaultLimits.deadlineMs,
    hopMarginMs: l['hop_margin_ms'] ?? defaultLimits.hopMarginMs,
    leaseGraceMs: l['lease_grace_ms'] ?? defaultLimits.leaseGraceMs,
    ratePerSource: l['rate_per_source'] ?? defaultLimits.ratePerSource,
    ratePerPeer: l['rate_per_peer'] ?? defaultLimits.ratePerPeer,
  };
  // A smaller quota refuses a peer that keeps to its rate limit (replay_quota) once the window fills.
  const limits: Limits = {
    ...given,
    replayQuotaPerPeer: l['replay_quota_per_peer'] ?? given.ratePerPeer * (given.replayWindowSeconds + given.skewSeconds),
  };
  const peers: PeerConfig[] = (c['peers'] ?? []).map((p: Raw, i: number) => {
    if (p['id'] === c['id']) throw new ConfigError(`peers.${i}.id`, 'a peer cannot have the node\'s own id');
    const peer: PeerConfig = { id: p['id'], transport: p['transport'] ?? 'http', jwks: path(p['jwks']) };
    if (p['url'] !== undefined) {
      // The schema only checks the scheme; the links build URLs from this at start.
      if (!URL.canParse(p['url'])) throw new ConfigError(`peers.${i}.url`, `not a valid URL '${p['url']}'`);
      const u = new URL(p['url']);
      if ((u.protocol === 'http:' || u.protocol === 'ws:') && !isLoopback(u.hostname)) {
        throw new ConfigError(`peers.${i}.url`, 'must be https:// or wss:// for a host that is not a loopback address');
      }
      peer.url = p['url'];
    }
    return peer;
  });
  const seen = new Set<string>();
  peers.forEach((p, i) => {
    if (seen.has(p.id)) throw new ConfigError(`peers.${i}.id`, `duplicate peer id '${p.id}'`);
    seen.add(p.id);
  });
  // TLS 1.3 is required except over loopback (draft "Transport Security", req-tls).
  const peerHost: string = c['peer_face']['host'] ?? '127.0.0.1';
  if (!isLoopback(peerHost) && !c['peer_face']['tls']) {
    throw new ConfigError('peer_face.tls', `required: the peer face listens on ${peerHost}, which is not a loopback address`);
  }
  const pol: Raw = c['policy'] ?? {};
  return {
    id: c['id'],
    dataDir: path(c['data_dir']),
    peerFace: {
      host: peerHost, port: c['peer_face']['port'],
      ...(c['peer_face']['tls'] ? { tls: { cert: path(c['peer_face']['tls']['cert']), key: path(c['peer_face']['tls']['key']) } } : {}),
      ...(c['peer_face']['ws'] ? { ws: wsLimits(c['peer_face']['ws']) } : {}),
    },
    ...(c['tls_ca'] ? { tlsCa: path(c['tls_ca']) } : {}),
    agentFace: { host: c['agent_face']['host'] ?? '127.0.0.1', port: c['agent_face']['port'], tokenFile: path(c['agent_face']['token_file']) },
    operator: { tokenFile: path(c['operator']?.['token_file'] ?? c['agent_face']['token_file'] + '.operator') },
    keys: { private: path(c['keys']['private']), retired: (c['keys']['retired'] ?? []).map(path) },
    revoked: (c['revoked'] ?? []).map((r: Raw) => ({ kid: r['kid'], at: r['at'] })),
    peers,
    policy: {
      default: pol['default'] ?? 'automatic',
      executions: Object.assign(Object.create(null), pol['executions'] ?? {}),
    },
    limits,
    logLevel: c['log_level'] ?? 'info',
  };
}

function wsLimits(w: Raw): Partial<WsLimits> {
  const names = { ping_interval_ms: 'pingIntervalMs', in_flight: 'inFlight', connections: 'connections',
    connections_per_source: 'connectionsPerSource', connections_per_peer: 'connectionsPerPeer' } as const;
  const out: Partial<WsLimits> = {};
  for (const [k, v] of Object.entries(names)) if (w[k] !== undefined) out[v] = w[k];
  return out;
}

/** Loopback hosts, where plain-text links are allowed. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Read a YAML or JSON file (YAML is a superset of JSON). */
export function loadConfig(file: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('(file)', `cannot read ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigError('(file)', `not valid YAML or JSON: ${(err as Error).message}`);
  }
  return parseConfig(raw, dirname(resolve(file)));
}
