/**
 * Interop harness for draft-marp-agent-rollback-00 (README.md in this
 * directory: adapter contract, config file, agent face calls).
 *
 * API (for scenarios and attacks; import from '../harness/index.js'):
 *
 *   const mesh = await Mesh.start({ name, nodes: ['A','B','C'], links?, transport?: 'http'|'ws',
 *                                   limits?: { deadline_ms, hop_margin_ms, ... }, policy?: { B: { executions: { x: 'held' } } } });
 *     Starts one node per id with the adapter selected by IMPL (default: this repo's node), fresh
 *     ES256 keys (mesh.keys[id].privateJwk/publicJwks), tokens, and a Relay per directed link.
 *     mesh.node(id) -> { proc: NodeProc, agent: HarnessAgent, peerUrl (real), agentUrl, config, configPath }
 *     mesh.agent(id) -> HarnessAgent;  mesh.relay(from, to) -> Relay (A's config points at it for B)
 *     mesh.kill(id) (SIGKILL), mesh.restart(id) (start again on the same data dir, wait ready),
 *     mesh.partition(groupA, groupB), mesh.healAll(), mesh.verifyRecord(compact), mesh.traffic(), mesh.stop()
 *
 *   HarnessAgent (agent face only): execution(e, behaviour?), work(e, item), checkpoint(e, reversibility?, hints?)
 *     -> {execution, checkpoint, seq, digest}; consume(e, producerAgent, cp); fail(e, cp, class?);
 *     decide(set, e, 'confirm'|'decline'), cancel(set) (operator token); behaviour(e, 'ok'|'compensation_required'|
 *     'fail'|'silent'|'lie', delayMs?); directives[], waitDirective(pred), records(); .client is src/client's AgentClient.
 *
 *   Relay (one directed link): inject({ type: 'drop'|'duplicate'|'delay'|'reorder'|'rewrite'|'forge', match?: { kind?, where? },
 *     count?, probability?, ... }), clear(), cut(), heal(), traffic[] ({kind, jti, payload, copy, status, code, dropped}),
 *     waitFor(pred), seen(kind). Raw POSTs to a node: fetch(mesh.node(id).peerUrl + '/rollback/v1/envelope').
 *
 *   jws: es256Keygen, decodeCompact, verifyCompact, resign(compact, privateJwk, edit), freshCopy, tamper.
 *   graph: build(mesh, execs, edges) -> Graph; fail(mesh, g, root) -> set; waitRecord(mesh, set) -> RecordView
 *     {payload, status['agent/exec'], acks['agent/exec']}; waitFollowups; recordsOf; key(g, exec).
 *   scenario(t, import.meta.url, () => mesh, { id, title, sections: [draft anchors], todo? }, async (t) => ...)
 *     runs a subtest and appends its result to the report (report.ts: record(entry) for custom reporters).
 */
export { Mesh, freePort, sleep, until, type MeshSpec, type MeshNode } from './mesh.js';
export { HarnessAgent, digestOf, type Behaviour, type CheckpointInfo } from './agent.js';
export { Relay, type Fault, type Match, type Traffic } from './relay.js';
export { NodeProc } from './node-proc.js';
export { loadAdapter, defaultAdapter, type Adapter, type NodeConfigDoc } from './adapter.js';
export { es256Keygen, decodeCompact, verifyCompact, resign, freshCopy, tamper } from './jws.js';
export { build, fail, waitRecord, waitFollowups, recordsOf, view, key, type Graph, type ExecSpec, type RecordView } from './graph.js';
export { scenario, type ScenarioMeta } from './scenario.js';
export { record, regenerate, REPORT_DIR, type Entry } from './report.js';
