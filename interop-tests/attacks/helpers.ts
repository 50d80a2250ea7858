/**
 * Tools for attacks against real node processes: envelopes signed with the
 * mesh's own keys (the harness generated them), raw HTTP and WebSocket
 * delivery that returns the named error code, and a state snapshot through
 * the agent face, so an attack can show that a refusal changed nothing.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { createSigner, sealEnvelope, sealStatement, type EnvelopeKind, type PrivateJwk, type Signer, type StatementKind } from '../../src/envelope/index.js';
import { scenario, until, type Mesh } from '../harness/index.js';

export const ENVELOPE_PATH = '/rollback/v1/envelope';
export const LINK_PATH = '/rollback/v1/link';

export function signer(mesh: Mesh, id: string): Signer {
  return createSigner(id, mesh.keys[id]!.privateJwk as unknown as PrivateJwk);
}

/** An envelope from `from` to `to` signed with from's real key. */
export function envelope(mesh: Mesh, from: string, to: string, kind: EnvelopeKind, body: object, opts: { iat?: number; jti?: string } = {}): string {
  return sealEnvelope(signer(mesh, from), kind, to, body, opts).compact;
}

export function statement(mesh: Mesh, from: string, kind: StatementKind, body: object): string {
  return sealStatement(signer(mesh, from), kind, body);
}

export const b64 = (x: unknown): string => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x), 'utf8').toString('base64url');
export const jti = (): string => randomBytes(16).toString('base64url');
export const nowS = (): number => Math.floor(Date.now() / 1000);

export interface Answer { status: number; code: string | undefined; jti?: string | null; body: unknown }

/** POST one body to a node's peer face (real port, no relay). */
export async function post(mesh: Mesh, to: string, body: string | Buffer, contentType = 'application/jose'): Promise<Answer> {
  const r = await fetch(`${mesh.node(to).peerUrl}${ENVELOPE_PATH}`, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : new Uint8Array(body) });
  const text = await r.text();
  let parsed: any;
  try { parsed = JSON.parse(text); } catch { parsed = text; }
  return { status: r.status, code: parsed?.code, jti: parsed?.jti, body: parsed };
}

/** A WebSocket link to a node's peer face; send() answers the frame for that envelope. */
export async function wsLink(mesh: Mesh, to: string): Promise<{ send(text: string): Promise<Answer>; close(): void }> {
  const url = `${mesh.node(to).peerUrl.replace(/^http/, 'ws')}${LINK_PATH}`;
  const ws = new WebSocket(url, 'rollback.v1');
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const queue: ((a: Answer) => void)[] = [];
  ws.on('message', (data) => {
    const f = JSON.parse(String(data));
    queue.shift()?.({ status: f.type === 'receipt' ? 202 : 0, code: f.code, jti: f.jti, body: f });
  });
  return {
    send: (text) => new Promise((resolve) => { queue.push(resolve); ws.send(text); }),
    close: () => ws.close(),
  };
}

async function agentGet(mesh: Mesh, id: string, path: string): Promise<unknown> {
  const token = readFileSync(mesh.node(id).config.agent_face.token_file, 'utf8');
  const r = await fetch(`${mesh.node(id).agentUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`${id} ${path}: HTTP ${r.status}`);
  return r.json();
}

/** What the agent face shows of a node: its members (set, state, status, target) and its records. */
export async function state(mesh: Mesh, id: string): Promise<string> {
  const [sets, records] = await Promise.all([agentGet(mesh, id, '/agent/v1/sets'), agentGet(mesh, id, '/agent/v1/records')]);
  return JSON.stringify({ sets, records });
}

export async function states(mesh: Mesh, ids: string[]): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await state(mesh, id)])));
}

export async function members(mesh: Mesh, id: string): Promise<{ set: { initiator: string; id: string }; execution: string; state: string; status?: string }[]> {
  return agentGet(mesh, id, '/agent/v1/sets') as never;
}

export async function waitMember(mesh: Mesh, id: string, pred: (m: Awaited<ReturnType<typeof members>>[number]) => boolean, ms = 15_000, what = 'member'): Promise<Awaited<ReturnType<typeof members>>[number]> {
  return until(async () => (await members(mesh, id)).find(pred), ms, `${id}: ${what}`);
}

/** An attack is a scenario in the conformance report (sections = the draft anchors it checks). */
export const attack = scenario;
