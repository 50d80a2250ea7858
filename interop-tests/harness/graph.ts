/**
 * Declaring a dependency graph of executions on a mesh, opening a rollback
 * set from a failure, and waiting for the initiator's recovery record.
 */
import type { Reversibility, SetRef } from '../../src/client/index.js';
import type { Behaviour, CheckpointInfo } from './agent.js';
import { decodeCompact } from './jws.js';
import { until, type Mesh } from './mesh.js';

export interface ExecSpec {
  node: string;
  id: string;
  /** Reversibility of the work after the execution's checkpoint c1 (default reversible). */
  reversibility?: Reversibility;
  hints?: unknown[];
  behaviour?: Behaviour;
}

export interface Graph {
  execs: Record<string, { node: string; cp: CheckpointInfo }>;
}

/**
 * Each execution: work "in", checkpoint c1, work "out". Each edge
 * [producer, consumer]: the consumer consumed the producer's output as of
 * c1 (a tainted dependency when the producer rolls back to c1).
 */
export async function build(mesh: Mesh, execs: ExecSpec[], edges: [string, string][]): Promise<Graph> {
  const g: Graph = { execs: {} };
  await Promise.all(execs.map(async (e) => {
    const a = mesh.agent(e.node);
    await a.execution(e.id, e.behaviour ?? 'ok');
    a.work(e.id, `${e.id}:in`);
    const cp = await a.checkpoint(e.id, e.reversibility ?? 'reversible', e.hints ?? []);
    a.work(e.id, `${e.id}:out`);
    g.execs[e.id] = { node: e.node, cp };
  }));
  for (const [p, c] of edges) {
    const P = g.execs[p]!;
    const C = g.execs[c]!;
    const r = await mesh.agent(C.node).consume(c, P.node, P.cp);
    if (!r.registered) throw new Error(`dependency ${c} on ${p} not registered`);
  }
  return g;
}

/** The root's agent reports a failure of its execution, last good checkpoint c1 (draft "proc-failure"). */
export async function fail(mesh: Mesh, g: Graph, root: string, cls = 'quality_regression'): Promise<SetRef> {
  const r = g.execs[root]!;
  const { set } = await mesh.agent(r.node).fail(root, r.cp, cls, `harness: ${root} failed`);
  return set;
}

export interface RecordView {
  compact: string;
  payload: Record<string, any>;
  /** agent/execution -> status */
  status: Record<string, string>;
  /** agent/execution -> decoded ack payload, when the entry embeds one */
  acks: Record<string, Record<string, any>>;
}

export function view(compact: string): RecordView {
  const payload = decodeCompact(compact).payload;
  const status: Record<string, string> = {};
  const acks: Record<string, Record<string, any>> = {};
  for (const m of payload['members'] as { agent: string; execution: string; status: string; ack?: string }[]) {
    status[`${m.agent}/${m.execution}`] = m.status;
    if (m.ack) acks[`${m.agent}/${m.execution}`] = decodeCompact(m.ack).payload;
  }
  return { compact, payload, status, acks };
}

const sameSet = (p: Record<string, any>, set: SetRef): boolean => p['set']?.initiator === set.initiator && p['set']?.id === set.id;

/** The recovery record of `set` at its initiator (GET /agent/v1/records), polled. */
export async function waitRecord(mesh: Mesh, set: SetRef, ms = 20_000): Promise<RecordView> {
  const a = mesh.agent(set.initiator);
  const compact = await until(async () => (await a.records()).find((c) => {
    const p = decodeCompact(c).payload;
    return sameSet(p, set) && !('refers' in p);
  }), ms, `record of set ${set.id}`);
  return view(compact);
}

/** All follow-up records of `set`, once at least `n` exist. */
export async function waitFollowups(mesh: Mesh, set: SetRef, n = 1, ms = 20_000): Promise<RecordView[]> {
  const a = mesh.agent(set.initiator);
  return until(async () => {
    const f = (await a.records()).filter((c) => { const p = decodeCompact(c).payload; return sameSet(p, set) && 'refers' in p; });
    return f.length >= n ? f.map(view) : undefined;
  }, ms, `${n} follow-up(s) of set ${set.id}`);
}

/** Every record and follow-up of `set` (for "written once" checks). */
export async function recordsOf(mesh: Mesh, set: SetRef): Promise<RecordView[]> {
  return (await mesh.agent(set.initiator).records()).filter((c) => sameSet(decodeCompact(c).payload, set)).map(view);
}

/** key agent/execution for a graph execution. */
export const key = (g: Graph, e: string): string => `${g.execs[e]!.node}/${e}`;
