/**
 * Exhaustive exploration: for small graphs (chains, diamonds, cycles, two
 * overlapping failures; up to 4 nodes), every order in which the in-flight
 * messages and agent results can be handled, and on each path at most one
 * fault: a duplicated delivery (a lost receipt, so the sender retransmits),
 * a message lost for good (a partition outlasting the sender's retries) or a
 * deadline that passes while messages are still in flight (they arrive
 * late). Depth-first; a state reached by two orders is explored once (the
 * visited set hashes every core's snapshot, the in-flight multiset, the
 * armed timers, the clock and the fault used). Drives the real Core class.
 *
 * MARP_EXHAUSTIVE_STATS=1 prints the state counts of each family.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { Core, ProtocolErrorGuard, decodeCompact } from './lab-imports.js';
import type { Effect, Input, SendEffect, StatementTyp } from '../../src/core/index.js';
import { dg, naiveSet, type Graph } from './helpers.js';

interface Item { id: string; kind: 'msg' | 'result'; to: string; from: string; send?: SendEffect; input?: Input }
type Fault = 'none' | 'duplicate' | 'loss' | 'late';
interface Failure { f: [string, string]; seq: number; set: string }

const b64 = (s: string): string => Buffer.from(s).toString('base64url');
const signer = (kid: string) => (typ: StatementTyp, p: object): string => `${b64(JSON.stringify({ alg: 'none', typ, kid }))}.${b64(JSON.stringify(p))}.AA`;
const config = { maxHops: 16, fanoutLimit: 16, hopMarginMs: 10, leaseGraceMs: 100, defaultBudgetMs: 10_000, policy: () => 'automatic' as const };

class World {
  cores = new Map<string, Core>();
  inflight: Item[] = [];
  timers = new Map<string, { node: string; id: string; at: number }>();
  directives: { node: string; execution: string; seq: number }[] = [];
  errors: string[] = [];
  now = 1000;
  fault: Fault = 'none';
  #jti = 0;

  constructor(g: Graph, failures: Failure[], readonly late: boolean) {
    for (const e of g.execs) this.apply(e.agent, { type: 'execution', execution: e.exec });
    const maxSeq = Math.max(...g.execs.map((e) => e.seqs));
    for (let s = 1; s <= maxSeq; s++) {
      for (const e of g.execs) if (s <= e.seqs) this.apply(e.agent, { type: 'checkpoint', execution: e.exec, checkpoint: `${e.exec}-k${s}`, seq: s, digest: dg(`${e.agent}/${e.exec}/${s}`), reversibility: 'reversible' });
      for (const d of g.deps) if (d.cseq === s) this.apply(d.consumer[0], { type: 'consumed', execution: d.consumer[1], producer: { agent: d.producer[0], execution: d.producer[1], checkpoint: `${d.producer[1]}-k${d.pseq}`, seq: d.pseq } });
    }
    // registrations are delivered in order (not explored)
    while (this.inflight.length) this.deliver(0);
    this.directives = [];
    for (const f of failures) this.apply(f.f[0], { type: 'failure', execution: f.f[1], checkpoint: { checkpoint: `${f.f[1]}-k${f.seq}`, seq: f.seq }, class: 'eval_failure', setId: f.set });
  }

  core(id: string): Core {
    let c = this.cores.get(id);
    if (!c) {
      c = new Core({ self: id, sign: signer(id), config });
      this.cores.set(id, c);
    }
    return c;
  }

  apply(node: string, input: Input): void {
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
          id: `result:${node}:${e.execution}:${e.target.seq}`, kind: 'result', from: node, to: node,
          input: { type: 'result', set: e.set, execution: e.execution, status: 'restored', restored: { checkpoint: e.target.checkpoint, digest: e.target.digest } },
        });
      } else if (e.type === 'timer') this.timers.set(`${node}|${e.id}`, { node, id: e.id, at: e.at });
    }
  }

  /** Handle item i at its node; a message's receipt reaches its sender at once unless `keep` (the receipt is lost). */
  deliver(i: number, keep = false): void {
    const item = this.inflight[i]!;
    if (!keep) this.inflight.splice(i, 1);
    if (item.kind === 'result') return this.apply(item.to, item.input!);
    const s = item.send!;
    // every transmission carries a fresh jti (a retransmission is re-signed)
    const payload = { v: 1, iss: item.from, aud: s.to, iat: 1, jti: `j${String(++this.#jti).padStart(15, '0')}`, ...s.body };
    const dec = (c: string) => ({ compact: c, payload: decodeCompact(c).payload });
    const input: any = { type: 'envelope', kind: s.kind, payload };
    if (s.kind === 'report') input.statements = (s.body.acks as string[]).map(dec);
    if (s.kind === 'cancel') input.statements = [dec(s.body.authority as string)];
    if (s.kind === 'outcome') input.statements = [dec(s.body.record as string)];
    const before = this.errors.length;
    this.apply(s.to, input);
    if (!keep && this.errors.length === before) this.apply(item.from, { type: 'delivered', key: s.key });
  }

  #earliest(): { node: string; id: string; at: number } {
    return [...this.timers.values()].sort((a, b) => a.at - b.at || (a.node + a.id < b.node + b.id ? -1 : 1))[0]!;
  }

  /**
   * Choices: handle any in-flight item (dN); while no fault was used on this path, also
   * deliver a message but lose its receipt (DN), lose a message for good (LN), or let the
   * earliest timer fire with items still in flight (T). When nothing is in flight, the earliest timer fires (t).
   */
  choices(): string[] {
    if (!this.inflight.length) return this.timers.size ? ['t'] : [];
    const c = this.inflight.map((_, i) => `d${i}`);
    if (this.fault === 'none') {
      this.inflight.forEach((it, i) => { if (it.kind === 'msg') c.push(`D${i}`, `L${i}`); });
      if (this.late && this.timers.size) c.push('T');
    }
    return c;
  }

  step(c: string): void {
    if (c === 't' || c === 'T') {
      if (c === 'T') this.fault = 'late';
      const next = this.#earliest();
      this.timers.delete(`${next.node}|${next.id}`);
      this.now = Math.max(this.now, next.at);
      this.apply(next.node, { type: 'timer', id: next.id });
      return;
    }
    const i = Number(c.slice(1));
    if (c[0] === 'L') {
      this.fault = 'loss';
      this.inflight.splice(i, 1);
    } else if (c[0] === 'D') {
      this.fault = 'duplicate';
      this.deliver(i, true);
    } else this.deliver(i);
  }

  hash(): string {
    const h = createHash('sha1');
    for (const [id, c] of [...this.cores].sort()) h.update(id).update(c.snapshot());
    h.update(JSON.stringify(this.inflight.map((i) => i.id).sort())).update(this.fault).update(String(this.now));
    h.update(JSON.stringify([...this.timers.values()].map((x) => `${x.node}|${x.id}@${x.at}`).sort()));
    return h.digest('hex');
  }
}

/**
 * Depth-first over choice paths. A state is explored once; its last choice continues
 * in the same world, the others in a world rebuilt by replaying the path.
 */
function explore(make: () => World, check: (w: World) => void): { states: number; terminals: number; faults: Record<Fault, number> } {
  const seen = new Set<string>();
  const faults: Record<Fault, number> = { none: 0, duplicate: 0, loss: 0, late: 0 };
  let terminals = 0;
  const replay = (path: string[]): World => {
    const w = make();
    for (const c of path) w.step(c);
    return w;
  };
  const visit = (w: World, path: string[]): void => {
    const h = w.hash();
    if (seen.has(h)) return;
    seen.add(h);
    const cs = w.choices();
    if (cs.length === 0) {
      terminals++;
      faults[w.fault]++;
      check(w);
    }
    cs.forEach((c, i) => {
      const next = i === cs.length - 1 ? w : replay(path);
      next.step(c);
      visit(next, [...path, c]);
    });
  };
  visit(make(), []);
  return { states: seen.size, terminals, faults };
}

const e = (agent: string, seqs = 3) => ({ agent, exec: agent.toLowerCase(), seqs });
const d = (c: string, cseq: number, p: string, pseq: number) => ({ consumer: [c, c.toLowerCase()] as [string, string], cseq, producer: [p, p.toLowerCase()] as [string, string], pseq });

// `late`: also explore a deadline passing with messages in flight. For the diamond that is
// 591,012 states (19 minutes on a shared core), so only with MARP_EXHAUSTIVE_FULL=1 (make exhaustive).
const full = process.env['MARP_EXHAUSTIVE_FULL'] === '1';
const families: { name: string; late: boolean; g: Graph; failures: Failure[] }[] = [
  { name: 'chain of 4', late: true, g: { execs: [e('A'), e('B'), e('C'), e('D')], deps: [d('B', 2, 'A', 2), d('C', 2, 'B', 2), d('D', 1, 'C', 2)] }, failures: [{ f: ['A', 'a'], seq: 1, set: 's1' }] },
  { name: 'diamond with an earlier target', late: full, g: { execs: [e('A'), e('B'), e('C'), e('D')], deps: [d('B', 1, 'A', 1), d('C', 1, 'A', 1), d('D', 3, 'B', 1), d('D', 1, 'C', 1)] }, failures: [{ f: ['A', 'a'], seq: 1, set: 's1' }] },
  { name: 'cycle of 3 back to the initiator, earlier', late: true, g: { execs: [e('A'), e('B'), e('C')], deps: [d('B', 2, 'A', 2), d('C', 1, 'B', 2), d('A', 1, 'C', 1)] }, failures: [{ f: ['A', 'a'], seq: 2, set: 's1' }] },
  { name: 'two overlapping failures', late: true, g: { execs: [e('A'), e('B'), e('C'), e('D')], deps: [d('C', 2, 'A', 1), d('C', 1, 'B', 1), d('D', 2, 'C', 1)] }, failures: [{ f: ['A', 'a'], seq: 1, set: 's1' }, { f: ['B', 'b'], seq: 1, set: 's2' }] },
];

t.setTimeout(full ? 1_800_000 : 600_000);
for (const fam of families) {
  // covers: req-idempotent req-hard-diamond req-hard-cycle req-hard-overlap
  const faults: Fault[] = ['none', 'duplicate', 'loss', ...(fam.late ? ['late' as const] : [])];
  t.test(`every delivery order, with at most one fault (${faults.slice(1).join(', ')}): ${fam.name}`, async (t) => {
    const want = new Map<string, number>();
    for (const f of fam.failures) for (const [k, v] of naiveSet(fam.g, f.f, f.seq)) want.set(k, Math.min(v, want.get(k) ?? Infinity));
    const single = fam.failures.length === 1;
    const problems = new Set<string>();
    const r = explore(() => new World(fam.g, fam.failures, fam.late), (w) => {
      // Lost or late messages end a member as unresponsive (or failed: its agent's result came too late).
      const lossy = w.fault === 'loss' || w.fault === 'late';
      const errs = w.errors.filter((x) => !x.includes('superseded'));
      if (errs.length && !lossy) problems.add(`errors: ${errs.join('; ')}`);
      const last = new Map<string, number>();
      for (const x of w.directives) last.set(`${x.node}/${x.execution}`, x.seq);
      // nothing outside the failed executions' dependents is touched
      for (const k of last.keys()) if (!want.has(k)) problems.add(`${w.fault}: directive outside the set: ${k}`);
      for (const [id, c] of w.cores) for (const m of c.members()) if (!want.has(`${id}/${m.execution}`)) problems.add(`${w.fault}: member outside the set: ${id}/${m.execution}`);
      if (!lossy) for (const [k, v] of want) if (last.get(k) !== v) problems.add(`${w.fault}: ${k} ends at ${last.get(k)}, want ${v}`);
      for (const f of fam.failures) {
        const entries = new Map<string, { status: string; ack?: string }>();
        let outcome = '';
        for (const rec of w.core(f.f[0]).records()) {
          const p = decodeCompact(rec.compact).payload as any;
          if (p.kind !== 'followup' || !outcome) outcome = p.outcome;
          for (const m of p.members) entries.set(`${m.agent}/${m.execution}`, m);
        }
        if (entries.size === 0) problems.add(`${w.fault}: ${f.set}: no record`);
        const ok = ['rolled_back', ...(single ? [] : ['satisfied']), ...(lossy ? ['unresponsive', 'failed'] : [])];
        for (const [k, m] of entries) {
          if (!want.has(k)) problems.add(`${w.fault}: ${f.set}: entry outside the set: ${k}`);
          if (!ok.includes(m.status)) problems.add(`${w.fault}: ${f.set} ${k}: ${m.status}`);
          // an ack says what its member did: the target it names is where the member ended
          const said = m.ack ? (decodeCompact(m.ack).payload as any).target.seq : undefined;
          // (or earlier, when an overlapping set took it further)
          if (m.status === 'rolled_back' && said !== undefined && (single ? last.get(k) !== said : last.get(k)! > said)) problems.add(`${w.fault}: ${k} acked ${said}, ended at ${last.get(k)}`);
        }
        if (!entries.has(f.f.join('/'))) problems.add(`${w.fault}: ${f.set}: the initiator's own entry is missing`);
        // every member exactly once in the record; past a lost or late report, a subtree the initiator never heard of is missing
        const got = [...entries.keys()].sort();
        if (single && !lossy && got.join() !== [...want.keys()].sort().join()) problems.add(`${w.fault}: record members ${got} differ from the naive set`);
        // the safety property: a set is recorded complete only if every member really is at its target
        if (single && outcome === 'complete') {
          for (const [k, v] of want) if (entries.get(k)?.status !== 'rolled_back' || last.get(k) !== v) problems.add(`${w.fault}: recorded complete, but ${k} ends at ${last.get(k)}, want ${v}`);
        }
        if (single && !lossy && outcome !== 'complete') problems.add(`${w.fault}: ${f.set} recorded ${outcome}`);
      }
      // every member settles and closes unless a message was lost or late
      if (!lossy) for (const [id, c] of w.cores) for (const m of c.members()) if (m.state !== 'closed') problems.add(`${w.fault}: ${id}/${m.execution} ends ${m.state}`);
    });
    if (process.env['MARP_EXHAUSTIVE_STATS']) t.comment(JSON.stringify({ family: fam.name, ...r }));
    t.same([...problems], [], `${r.states} states, ${r.terminals} terminal states checked`);
    for (const f of faults) t.ok(r.faults[f] > 0, `paths ending with fault ${f} were explored`);
  });
}
