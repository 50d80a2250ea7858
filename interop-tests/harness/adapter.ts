/**
 * Adapters: how the harness starts a node of an implementation. An adapter
 * is a JSON file or an ES module (default export) selected with
 * IMPL=path/to/adapter.json|.js|.ts; without IMPL the harness runs this
 * repository's node. See interop-tests/README.md "Adapter contract".
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';

export interface Adapter {
  /** Implementation name for the conformance report. */
  name: string;
  /** argv; the element "{config}" is replaced by the config file's path. */
  command: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** Peer bindings the implementation offers (draft "bindings"); default ["http"]. */
  transports?: ('http' | 'ws')[];
  /** "yaml" (default) or "json": the same document either way. */
  configFormat?: 'yaml' | 'json';
  /** Readiness probe: "peer" = GET {peer}/readyz 200 (default), "agent" = GET {agent}/agent/v1/sets 200. */
  readiness?: 'peer' | 'agent';
  /** Module adapters only: write the config in the implementation's own format; returns the path to pass. */
  writeConfig?(config: NodeConfigDoc, file: string): string;
}

/** The config document (our YAML format, README "Config file"). */
export interface NodeConfigDoc {
  id: string;
  data_dir: string;
  log_level?: string;
  peer_face: { host: string; port: number };
  agent_face: { host: string; port: number; token_file: string };
  operator: { token_file: string };
  keys: { private: string; retired?: string[] };
  peers: { id: string; url: string; transport: 'http' | 'ws'; jwks: string }[];
  policy?: { default?: 'automatic' | 'held'; executions?: Record<string, 'automatic' | 'held'> };
  limits?: Record<string, number>;
  /** Revoked keys (kid, revocation time in NumericDate seconds). */
  revoked?: { kid: string; at: number }[];
}

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** This repository's node: dist/ when it is built and newer than src/, else the sources under tsx. */
export function defaultAdapter(): Adapter {
  const dist = join(ROOT, 'dist/src/cli/main.js');
  const fresh = existsSync(dist) && statSync(dist).mtimeMs >= newestMtime(join(ROOT, 'src'));
  return {
    name: `agent-rollback reference (${fresh ? 'dist' : 'src via tsx'})`,
    command: fresh ? [process.execPath, dist, 'node', '--config', '{config}']
      : [process.execPath, '--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'node', '--config', '{config}'],
    cwd: ROOT,
    transports: ['http', 'ws'],
    readiness: 'peer',
  };
}

let cached: Promise<Adapter> | undefined;

export function loadAdapter(spec = process.env['IMPL']): Promise<Adapter> {
  if (!spec) return (cached ??= Promise.resolve(defaultAdapter()));
  return (cached ??= (async () => {
    const file = isAbsolute(spec) ? spec : resolve(process.cwd(), spec);
    let a: Adapter;
    if (file.endsWith('.json')) {
      a = JSON.parse(readFileSync(file, 'utf8')) as Adapter;
      a.cwd = a.cwd ? resolve(dirname(file), a.cwd) : dirname(file);
    } else {
      a = ((await import(pathToFileURL(file).href)) as { default: Adapter }).default;
    }
    if (!a?.name || !Array.isArray(a.command) || !a.command.includes('{config}')) {
      throw new Error(`${spec}: an adapter needs "name" and a "command" containing "{config}"`);
    }
    return a;
  })());
}

/** Write the config for `adapter`; returns the path that replaces {config}. */
export function writeConfig(adapter: Adapter, doc: NodeConfigDoc, file: string, write: (f: string, s: string) => void): string {
  if (adapter.writeConfig) return adapter.writeConfig(doc, file);
  const json = adapter.configFormat === 'json';
  const path = json ? file.replace(/\.ya?ml$/, '.json') : file;
  write(path, json ? JSON.stringify(doc, null, 2) : stringify(doc));
  return path;
}
