/**
 * Exhaustive exploration: for small graphs (chains, diamonds, cycles, two
 * overlapping failures; up to 4 nodes), every delivery order of the
 * in-flight messages and agent results (plus one duplicated delivery per
 * path), depth-first, visited states deduplicated by hashing every core's
 * snapshot and the in-flight set. Drives the real Core class.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Core, ProtocolErrorGuard, decodeCompact } from './lab-imports.js';
import type { Effect, Input, SendEffect, StatementTyp } from '../../src/core/index.js';
import { dg, naiveSet, type Graph } from './helpers.js';

interface Item { id: string; kind: 'msg' | 'result'; to: string; from: string; send?: SendEffect; input?: Input }

const b64 = (s: string): string => Buffer.from(s).toString('base64url');
const signer = (kid: string) => (typ: StatementTyp, p: object): string => `${b64(JSON.stringify({ alg: 'none', typ, kid }))}.${b64(JSON.stringify(p))}.AA`;

class World {
  cores = new Map<string, Core>();
  inflight: Item[] = [];
  timers = new Map<string, { node: string; id: string; at: number }>();
  directives: { node: string; execution: string; seq: number }[] = [];
  errors: string[] = [];
  now = 1000;
  dupUsed = false;
  #n = 0;

  constructor(g: Graph, failures: { f: [string, string]; seq: number; set: string }[]) {
    for (const e of g.execs) this.core(e.agent);
    const q: Item[] = [];
    for (const e of g.execs) this.apply(e.agent, { type: 'execution', execution: e.exec }, q);
    const maxSeq = Math.max(...g.execs.map((e) => e.seqs));
    for (let s = 1; s <= maxSeq; s++) {
      for (const e of g.execs) if (s <= e.seqs) this.apply(e.agent, { type: 'checkpoint', execution: e.exec, checkpoint: `${e.exec}-k${s}`, seq: s, digest: dg(`${e.agent}/${e.exec}/${s}`), reversibility: 'reversible' }, q);
      for (const d of g.deps) if (d.cseq === s) this.apply(d.consumer[0], { type: 'consumed', execution: d.consumer[1], producer: { agent: d.producer[0], execution: d.producer[1], checkpoint: `${d.producer[1]}-k${d.pseq}`, seq: d.pseq } }, q);
    }
    // registrations are delivered in order (not explored)
    while (this.inflight.length) this.deliver(0, false);
    this.directives = [];
    for (const f of failures) this.apply(f.f[0], { type: 'failure', execution: f.f[1], checkpoint: { checkpoint: `${f.f[1]}-k${f.seq}`, seq: f.seq }, class: 'eval_failure', setId: f.set }, q);
  }

  core(id: string): Core {
    let c = this.cores.get(id);
    if (!c) {
      c = new Core({ self: id, sign: signer(id), config: { maxHops: 16, fanoutLimit: 16, hopMarginMs: 10, leaseGraceMs: 100, defaultBudgetMs: 10_000, policy: () => 'automatic' } });
      this.cores.set(id, c);
    }
    return c;
  }

  apply(node: string, input: Input, _q?: Item[]): void {
    let fx: Effect[];
    try {
      fx = this.core(node).handle(input, this.now);
    } catch (err) {
      if (!ProtocolErrorGuard(err)) throw err;
      this.errors.push(`${node} ${input.type}${'kind' in input ? `/${input.kind}` : ''}: ${err.code} ${err.message}`);
      return;
    }
    for (const e of fx) {
      if (e.type === 'send') {
        // the outbox: a newer send with the same key replaces the undelivered older one
        this.inflight = this.inflight.filter((i) => !(i.kind === 'msg' && i.from === node && i.send!.key === e.key));
        this.inflight.push({ id: `${node}>${e.to}:${e.key}`, kind: 'msg', from: node, to: e.to, send: e });
      } else if (e.type === 'directive') {
        this.directives.push({ node, execution: e.execution, seq: e.target.seq });
        this.inflight.push({
          id: `result:${node}:${e.execution}:${e.target.seq}:${this.#n++}`, kind: 'result', from: node, to: node,
          input: { type: 'result', set: e.set, execution: e.execution, status: 'restored', restored: { checkpoint: e.target.checkpoint, digest: e.target.digest } },
        });
      } else if (e.type === 'timer') this.timers.set(`${node}|${e.id}`, { node, id: e.id, at: e.at });
    }
  }

  deliver(i: number, keep: boolean): void {
    const item = this.inflight[i]!;
    if (!keep) this.inflight.splice(i, 1);
    else this.dupUsed = true;
    if (item.kind === 'result') return this.apply(item.to, item.input!);
    const s = item.send!;
    const payload = { v: 1, iss: item.from, aud: s.to, iat: 1, jti: 'j'.repeat(16), ...s.body };
    const dec = (c: string) => ({ compact: c, payload: decodeCompact(c).payload });
    const input: any = { type: 'envelope', kind: s.kind, payload };
    if (s.kind === 'report') input.statements = (s.body.acks as string[]).map(dec);
    if (s.kind === 'cancel') input.statements = [dec(s.body.authority as string)];
    if (s.kind === 'outcome') input.statements = [dec(s.body.record as string)];
    if (s.kind === 'failure') input.setId = `f-${this.#n++}`;
    this.apply(s.to, input);
  }

  /** Choices from this state: deliver any in-flight item (or duplicate one msg once); when quiet, fire the earliest timer. */
  choices(): string[] {
    if (this.inflight.length) {
      const c = this.inflight.map((_, i) => `d${i}`);
      // one duplicated delivery per path, of a request or report (the idempotency-critical kinds)
      if (!this.dupUsed) this.inflight.forEach((it, i) => { if (it.kind === 'msg' && (it.send!.kind === 'request' || it.send!.kind === 'report')) c.push(`D${i}`); });
      return c;
    }
    return this.timers.size ? ['t'] : [];
  }

  step(c: string): void {
    if (c === 't') {
      const next = [...this.timers.values()].sort((a, b) => a.at - b.at)[0]!;
      this.timers.delete(`${next.node}|${next.id}`);
      this.now = Math.max(this.now, next.at);
      this.apply(next.node, { type: 'timer', id: next.id });
    } else this.deliver(Number(c.slice(1)), c[0] === 'D');
  }

  hash(): string {
    const h = createHash('sha1');
    for (const [id, c] of [...this.cores].sort()) h.update(id).update(c.snapshot());
    h.update(JSON.stringify(this.inflight.map((i) => i.id).sort())).update(String(this.dupUsed));
    h.update(JSON.stringify([...this.timers.keys()].sort()));
    return h.digest('hex');
  }
}

function explore(make: () => World, check: (w: World) => void, maxStates: number): { states: number; terminals: number; complete: boolean } {
  const seen = new Set<string>();
  const stack: string[][] = [[]];
  let terminals = 0;
  while (stack.length && seen.size < maxStates) {
    const path = stack.pop()!;
    const w = make();
    for (const c of path) w.step(c);
    const cs = w.choices();
    if (cs.length === 0) {
      terminals++;
      check(w);
      continue;
    }
    for (const c of cs) {
      const w2 = make();
      for (const x of path) w2.step(x);
      w2.step(c);
      const h = w2.hash();
      if (seen.has(h)) continue;
      seen.add(h);
      stack.push([...path, c]);
    }
  }
  return { states: seen.size, terminals, complete: stack.length === 0 };
}

const e = (agent: string, seqs = 3) => ({ agent, exec: agent.toLowerCase(), seqs });
const d = (c: string, cseq: number, p: string, pseq: number) => ({ consumer: [c, c.toLowerCase()] as [string, string], cseq, producer: [p, p.toLowerCase()] as [string, string], pseq });

const families: { name: string; max: number; g: Graph; failures: { f: [string, string]; seq: number; set: string }[] }[] = [
  { name: 'chain of 4', max: 3000, g: { execs: [e('A'), e('B'), e('C'), e('D')], deps: [d('B', 2, 'A', 2), d('C', 2, 'B', 2), d('D', 1, 'C', 2)] }, failures: [{ f: ['A', 'a'], seq: 1, set: 's1' }] },
  { name: 'diamond with an earlier target', max: 1500, g: { execs: [e('A'), e('B'), e('C'), e('D')], deps: [d('B', 1, 'A', 1), d('C', 1, 'A', 1), d('D', 3, 'B', 1), d('D', 1, 'C', 1)] }, failures: [{ f: ['A', 'a'], seq: 1, set: 's1' }] },
  { name: 'cycle of 3 back to the initiator, earlier', max: 3000, g: { execs: [e('A'), e('B'), e('C')], deps: [d('B', 2, 'A', 2), d('C', 1, 'B', 2), d('A', 1, 'C', 1)] }, failures: [{ f: ['A', 'a'], seq: 2, set: 's1' }] },
  { name: 'two overlapping failures', max: 1500, g: { execs: [e('A'), e('B'), e('C'), e('D')], deps: [d('C', 2, 'A', 1), d('C', 1, 'B', 1), d('D', 2, 'C', 1)] }, failures: [{ f: ['A', 'a'], seq: 1, set: 's1' }, { f: ['B', 'b'], seq: 1, set: 's2' }] },
];

for (const fam of families) {
  // covers: req-idempotent req-hard-diamond req-hard-cycle req-hard-overlap
  t.test(`every delivery order: ${fam.name}`, async (t) => {
    const want = new Map<string, number>();
    for (const f of fam.failures) for (const [k, v] of naiveSet(fam.g, f.f, f.seq)) want.set(k, Math.min(v, want.get(k) ?? Infinity));
    const single = fam.failures.length === 1;
    const problems = new Set<string>();
    const r = explore(() => new World(fam.g, fam.failures), (w) => {
      const errs = w.errors.filter((x) => !x.includes('superseded'));
      if (errs.length) problems.add(`errors: ${errs.join('; ')}`);
      const last = new Map<string, number>();
      for (const x of w.directives) last.set(`${x.node}/${x.execution}`, x.seq);
      if ([...last.keys()].sort().join() !== [...want.keys()].sort().join()) problems.add(`rolled back ${[...last.keys()].sort()} vs ${[...want.keys()].sort()}`);
      for (const [k, v] of want) if (last.get(k) !== v) problems.add(`${k} ends at ${last.get(k)}, want ${v}`);
      for (const f of fam.failures) {
        const entries = new Map<string, string>();
        for (const rec of w.core(f.f[0]).records()) {
          for (const m of (decodeCompact(rec.compact).payload as any).members) entries.set(`${m.agent}/${m.execution}`, m.status);
        }
        if (entries.size === 0) problems.add(`${f.set}: no record`);
        for (const [k, s] of entries) {
          if (single ? s !== 'rolled_back' : !['rolled_back', 'satisfied'].includes(s)) problems.add(`${f.set} ${k}: ${s}`);
        }
        if (single && [...entries.keys()].sort().join() !== [...want.keys()].sort().join()) problems.add('record members differ from the naive set');
      }
      for (const [id, c] of w.cores) {
        for (const m of c.members()) if (m.state !== 'closed') problems.add(`${id}/${m.execution} ends ${m.state}`);
      }
    }, fam.max);
    t.same([...problems], [], `${r.states} states${r.complete ? ' (complete)' : ' (bounded)'}, ${r.terminals} terminal states checked`);
    t.ok(r.terminals > 0);
  });
}
